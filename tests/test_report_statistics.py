"""Report statistics on small inputs whose answers are computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from factroots.indexer.manifest import Counts, Manifest
from factroots.report import statistics


def _predictions(rows: list[tuple]) -> pd.DataFrame:
    """rows: (lang, relation, uuid, obj_uri, k, correct), model 'm'."""
    frame = pd.DataFrame(rows, columns=["lang", "relation", "uuid", "obj_uri", "k", "correct"])
    return frame.assign(model="m", subject="s", object="o")


def _trace(rows: list[tuple]) -> pd.DataFrame:
    """rows: (lang, uuid, present or None)."""
    frame = pd.DataFrame(rows, columns=["lang", "uuid", "present"])
    frame["present"] = frame["present"].astype("boolean")
    frame["status"] = np.where(frame["present"].isna(), "untraceable", "ok")
    return frame.assign(
        mode="words", tokenizer="mbert", subject_lines=1, object_lines=1, cooccur_lines=0
    )


def test_pearson_of_a_hand_computed_example():
    # x = 1,2,3; y = 1,3,2: Σdxdy = 1, Σdx² = 2, Σdy² = 2 → r = 0.5
    assert statistics.pearson([1, 2, 3], [1, 3, 2]).r == pytest.approx(0.5)


def test_pearson_p_value_matches_scipy_stats():
    from scipy import stats

    x, y = [1.0, 2.0, 3.0, 4.0, 6.0], [2.0, 1.0, 4.0, 3.0, 7.0]
    assert statistics.pearson(x, y).p_value == pytest.approx(stats.pearsonr(x, y).pvalue)


def test_pearson_is_nan_without_spread_or_points():
    assert math.isnan(statistics.pearson([1, 2, 3], [4, 4, 4]).r)
    assert math.isnan(statistics.pearson([1], [2]).r)


def test_p_at_1_is_micro_and_one_token_p_at_1_is_a_mean_over_objects():
    predictions = _predictions(
        [
            ("en", "P1", "u1", "A", 1, True),
            ("en", "P1", "u2", "A", 1, False),
            ("en", "P2", "u3", "B", 1, True),
            ("en", "P2", "u4", "C", 2, False),
        ]
    )
    row = statistics.probing_table(predictions).iloc[0]
    assert row["p_at_1"] == pytest.approx(2 / 4)
    assert row["p_at_1_macro"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert row["one_token_p_at_1"] == pytest.approx((1 / 2 + 1) / 2)
    assert row["one_token_objects"] == 2


def test_p_at_1_by_masks_is_the_per_object_mean_for_each_k():
    predictions = _predictions(
        [
            ("en", "P1", "u1", "A", 2, True),
            ("en", "P1", "u2", "A", 2, True),
            ("en", "P1", "u3", "A", 2, False),
            ("en", "P1", "u4", "B", 2, False),
            ("en", "P1", "u5", "C", 3, True),
        ]
    )
    by_masks = statistics.p_at_1_by_masks(predictions).set_index("k")
    assert by_masks.loc[2, "p_at_1"] == pytest.approx((2 / 3 + 0) / 2)
    assert by_masks.loc[2, "objects"] == 2
    assert by_masks.loc[3, "p_at_1"] == pytest.approx(1.0)


def _by_masks(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["lang", "k", "p_at_1"]).assign(model="m")


def test_masks_correlation_normalizes_per_language_then_sums():
    # en: .5 .25 .25 (sum 1); fr: 1.0 0 (sum 1) → summed 1.5 .25 .25 over k = 1 2 3
    # dx = -1 0 1; dy = 5/6 -5/12 -5/12 → r = -1.25 / sqrt(2 · 25/24) = -√3/2
    summed = statistics.summed_mask_rates(
        _by_masks(
            [("en", 1, 0.5), ("en", 2, 0.25), ("en", 3, 0.25), ("fr", 1, 1.0), ("fr", 2, 0.0)]
        )
    )
    assert list(summed["summed_rate"]) == pytest.approx([1.5, 0.25, 0.25])
    r = statistics.masks_correlation(summed)["m"].r
    assert r == pytest.approx(-math.sqrt(3) / 2)


def test_masks_correlation_skips_k_whose_summed_rate_is_zero():
    # en: .5 0 .5; fr: 0 1; de sums to 0 and adds nothing → summed .5, 0, 1.5 over k = 1 2 3;
    # k = 2 is dropped → points (1, .5) and (3, 1.5) → r = 1
    summed = statistics.summed_mask_rates(
        _by_masks(
            [
                ("en", 1, 0.4),
                ("en", 2, 0.0),
                ("en", 3, 0.4),
                ("fr", 1, 0.0),
                ("fr", 3, 0.2),
                ("de", 1, 0.0),
                ("de", 3, 0.0),
            ]
        )
    )
    assert list(summed["summed_rate"]) == pytest.approx([0.5, 0.0, 1.5])
    correlation = statistics.masks_correlation(summed)["m"]
    assert correlation.points == 2
    assert correlation.r == pytest.approx(1.0)


def test_shared_facts_matrix_is_jaccard_of_correct_uuids():
    predictions = _predictions(
        [
            ("en", "P1", "u1", "A", 1, True),
            ("en", "P1", "u2", "A", 1, True),
            ("fr", "P1", "u2", "A", 1, True),
            ("fr", "P1", "u3", "A", 1, True),
            ("fr", "P1", "u1", "A", 1, False),
            ("de", "P1", "u1", "A", 1, False),
        ]
    )
    matrix = statistics.shared_facts_matrix(predictions)
    assert matrix.loc["en", "fr"] == pytest.approx(1 / 3)
    assert matrix.loc["fr", "en"] == pytest.approx(1 / 3)
    assert matrix.loc["en", "en"] == 1.0
    assert matrix.loc["en", "de"] == 0.0
    assert matrix.loc["de", "de"] == 1.0  # no correct fact: the same (empty) set, one rule


def test_absence_rates_among_all_and_correct_traceable_facts():
    predictions = _predictions(
        [
            ("en", "P1", "u1", "A", 1, True),
            ("en", "P1", "u2", "A", 1, True),
            ("en", "P1", "u3", "A", 1, False),
            ("en", "P1", "u4", "A", 1, False),
            ("en", "P1", "u5", "A", 1, True),
        ]
    )
    trace = _trace(
        [
            ("en", "u1", False),
            ("en", "u2", True),
            ("en", "u3", False),
            ("en", "u4", True),
            ("en", "u5", None),
        ]
    )
    row = statistics.absence_rates(statistics.traced_predictions(trace, predictions)).iloc[0]
    assert (row["traceable"], row["absent"], row["traceable_correct"]) == (4, 2, 2)
    assert row["absence_rate"] == pytest.approx(2 / 4)
    assert row["absence_rate_correct"] == pytest.approx(1 / 2)


def test_absence_rate_of_correct_facts_is_nan_when_none_is_correct():
    predictions = _predictions([("en", "P1", "u1", "A", 1, False)])
    absence = statistics.absence_rates(
        statistics.traced_predictions(_trace([("en", "u1", False)]), predictions)
    )
    assert absence.iloc[0]["absence_rate"] == 1.0
    assert math.isnan(absence.iloc[0]["absence_rate_correct"])


def test_size_factors_correlate_p_at_1_with_manifest_bytes(tmp_path):
    for lang, size in (("en", 100), ("fr", 300), ("de", 200)):
        directory = tmp_path / "mbert" / lang
        directory.mkdir(parents=True)
        Manifest(
            language=lang,
            tokenizer_name="mbert",
            tokenizer_sha256="",
            max_tokens=512,
            input_root="",
            sources=[],
            counts=Counts(text_bytes=size, first_paragraph_bytes=size // 10),
            build_seconds=0.0,
            factroots_version="test",
        ).write(directory)
    sizes = statistics.manifest_sizes(tmp_path, ["en", "fr", "de", "xx"], ["mbert"])
    assert list(sizes["lang"]) == ["de", "en", "fr"]
    table = pd.DataFrame({"model": "m", "lang": ["en", "fr", "de"], "p_at_1": [0.1, 0.2, 0.3]})
    factors = statistics.factors_table(table, sizes, {}).set_index("factor")
    # bytes 100, 300, 200 vs P@1 .1, .2, .3 → r = 0.5 (as in the hand-computed Pearson example)
    assert factors.loc["text_bytes", "pearson_r"] == pytest.approx(0.5)
    assert factors.loc["first_paragraph_bytes", "points"] == 3


def test_neuron_similarity_is_mean_top_jaccard_over_shared_facts():
    neurons = pd.DataFrame(
        {
            "model": "m",
            "lang": ["en", "en", "fr", "fr", "de"],
            "uuid": ["u1", "u2", "u1", "u2", "u9"],
            "status": "ok",
            "top_neurons": [[1, 2], [3, 4], [2, 3], [3, 4], [1, 2]],
        }
    )
    matrix = statistics.neuron_similarity_matrix(neurons)
    # u1: {1,2} vs {2,3} → 1/3; u2: identical → 1; mean 2/3
    assert matrix.loc["en", "fr"] == pytest.approx(2 / 3)
    assert math.isnan(matrix.loc["en", "de"])
