"""PROBELESS: the fast sort + prefix-sum scores equal a direct O(n^2) reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factroots.attribution.probeless import (
    STATUS_OK,
    STATUS_SINGLE,
    group_top_neurons,
    probeless_scores,
    top_k_neurons,
)


def direct_scores(acts: np.ndarray) -> np.ndarray:
    """score_i[n] = mean over j != i of |a_i[n] - a_j[n]|, literally."""
    a = acts.astype(np.float64)
    n = len(a)
    out = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            if j != i:
                out[i] += np.abs(a[i] - a[j])
    return out / (n - 1)


def direct_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Ids by score desc, ties to the lower id."""
    ids = np.arange(scores.shape[1])
    return np.array([np.lexsort((ids, -row))[:k] for row in scores])


def test_scores_equal_direct_reference_on_random_data():
    acts = np.random.default_rng(1).standard_normal((40, 300)).astype(np.float32)
    np.testing.assert_allclose(probeless_scores(acts), direct_scores(acts), rtol=1e-5, atol=1e-6)


def test_scores_equal_direct_reference_with_ties_and_constant_neurons():
    rng = np.random.default_rng(2)
    acts = rng.integers(-3, 4, size=(25, 90)).astype(np.float32) / 2
    acts[:, :7] = 0.75
    acts[::2, 10] = -0.0
    acts[1::2, 10] = 0.0
    scores = probeless_scores(acts)
    np.testing.assert_allclose(scores, direct_scores(acts), rtol=1e-6, atol=1e-7)
    assert np.all(scores[:, :7] == 0)


def test_scores_equal_direct_reference_across_neuron_blocks():
    acts = np.random.default_rng(3).gamma(1.0, size=(7, 1000)).astype(np.float32)
    np.testing.assert_allclose(probeless_scores(acts), direct_scores(acts), rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 12),
    neurons=st.integers(1, 80),
    seed=st.integers(0, 2**32 - 1),
    levels=st.sampled_from([0, 3, 1000]),
)
def test_scores_equal_direct_reference_on_generated_groups(n, neurons, seed, levels):
    rng = np.random.default_rng(seed)
    acts = rng.standard_normal((n, neurons)).astype(np.float32)
    if levels:
        acts = np.round(acts * levels) / levels
    np.testing.assert_allclose(probeless_scores(acts), direct_scores(acts), rtol=1e-5, atol=1e-6)


def test_two_fact_group_scores_are_the_absolute_difference():
    acts = np.array([[0.0, 1.0, -2.0], [3.0, 1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(probeless_scores(acts), [[3, 0, 4], [3, 0, 4]])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 6),
    neurons=st.integers(1, 120),
    k=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    levels=st.sampled_from([2, 5, 0]),
)
def test_top_k_ranks_by_score_then_lower_id(rows, neurons, k, seed, levels):
    rng = np.random.default_rng(seed)
    scores = rng.random((rows, neurons)).astype(np.float32)
    if levels:
        scores = np.round(scores * levels).astype(np.float32)
    ids, values = top_k_neurons(scores, k)
    expected = direct_top_k(scores, k)
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


def test_fast_top_k_equals_reference_top_k_up_to_ties():
    acts = np.random.default_rng(4).standard_normal((30, 2000)).astype(np.float32)
    result = group_top_neurons(acts, 50)
    ids, values = result.ids, result.scores
    reference = direct_scores(acts)
    for row, ref in zip(range(len(acts)), reference, strict=True):
        kth = np.sort(ref)[::-1][49]
        assert np.all(ref[ids[row]] >= kth - 1e-5)
        np.testing.assert_allclose(values[row], ref[ids[row]], rtol=1e-5)
        assert len(set(ids[row].tolist())) == 50


def test_top_k_larger_than_neuron_count_keeps_every_neuron():
    ids, _ = top_k_neurons(np.array([[0.1, 0.3, 0.2]], np.float32), 50)
    np.testing.assert_array_equal(ids, [[1, 2, 0]])


def test_single_fact_group_is_reported_not_scored():
    result = group_top_neurons(np.ones((1, 10), np.float32), 5)
    assert result.status == STATUS_SINGLE
    assert result.ids.shape == (1, 0)


def test_group_of_several_facts_is_scored():
    result = group_top_neurons(np.random.default_rng(5).random((3, 10)).astype(np.float32), 4)
    assert result.status == STATUS_OK
    assert result.ids.shape == (3, 4) and result.ids.dtype == np.int32


def test_scores_reject_a_single_fact():
    with pytest.raises(ValueError):
        probeless_scores(np.zeros((1, 4), np.float32))


def test_torch_top_k_equals_numba_top_k():
    torch = pytest.importorskip("torch")
    from factroots.attribution.probeless import probeless_top_k_torch

    acts = np.random.default_rng(6).integers(0, 5, (20, 300)).astype(np.float32) / 4
    ids, values = probeless_top_k_torch(torch.from_numpy(acts), 30)
    expected = group_top_neurons(acts, 30)
    np.testing.assert_array_equal(ids, expected.ids)
    np.testing.assert_allclose(values, expected.scores, rtol=1e-6)
