"""Numba Jaccard of top-K sets and the language similarity matrix against Python sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from factroots.attribution import jaccard
from factroots.attribution.jaccard import (
    jaccard_pair,
    jaccard_rows,
    jaccard_rows_serial,
    jaccard_sets,
)
from factroots.attribution.similarity import (
    layer_activity_bins,
    neuron_table,
    per_fact_similarity,
    similarity_matrix,
)


def set_jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def sorted_ids(ids) -> np.ndarray:
    return np.array(sorted(ids), np.int32)


id_sets = st.sets(st.integers(0, 200), max_size=50)


@settings(max_examples=200, deadline=None)
@given(a=id_sets, b=id_sets)
def test_jaccard_pair_equals_python_sets(a, b):
    assert jaccard_pair(sorted_ids(a), sorted_ids(b)) == set_jaccard(a, b) == jaccard_sets(a, b)


def test_jaccard_of_empty_sets_is_one_and_of_empty_and_nonempty_is_zero():
    empty = sorted_ids([])
    assert jaccard_pair(empty, empty) == 1.0
    assert jaccard_pair(empty, sorted_ids([1, 2])) == 0.0


def test_jaccard_of_identical_sets_is_one():
    ids = sorted_ids(range(0, 100, 2))
    assert jaccard_pair(ids, ids.copy()) == 1.0


def test_jaccard_of_disjoint_sets_is_zero():
    assert jaccard_pair(sorted_ids(range(0, 100, 2)), sorted_ids(range(1, 100, 2))) == 0.0


def random_sets(rng, rows: int, k: int = 50, universe: int = 400) -> list[set]:
    return [
        set(rng.choice(universe, size=rng.integers(0, k + 1), replace=False).tolist())
        for _ in range(rows)
    ]


def table_of(sets: list[set], k: int = 50) -> tuple[np.ndarray, np.ndarray]:
    table = np.full((len(sets), k), np.iinfo(np.int32).max, np.int32)
    for r, s in enumerate(sets):
        table[r, : len(s)] = sorted(s)
    return table, np.array([len(s) for s in sets], np.int32)


def test_jaccard_rows_parallel_and_serial_equal_python_sets():
    rng = np.random.default_rng(0)
    sets = random_sets(rng, 300)
    table, sizes = table_of(sets)
    rows_a, rows_b = rng.integers(0, 300, 2000), rng.integers(0, 300, 2000)
    expected = [set_jaccard(sets[a], sets[b]) for a, b in zip(rows_a, rows_b, strict=True)]
    np.testing.assert_array_equal(jaccard_rows(table, sizes, rows_a, rows_b), expected)
    np.testing.assert_array_equal(jaccard_rows_serial(table, sizes, rows_a, rows_b), expected)
    merged = jaccard_rows_serial(table, sizes, rows_a, rows_b, bitmap=False)
    np.testing.assert_array_equal(merged, expected)


def random_neurons_frame(rng, langs=("de", "en", "fr", "ja"), facts=40) -> pd.DataFrame:
    rows = []
    for lang in langs:
        for f in range(facts):
            if rng.random() < 0.3:
                continue
            status = "single-fact group" if rng.random() < 0.1 else "ok"
            top = rng.choice(120, size=8, replace=False) if status == "ok" else []
            rows.append(
                {
                    "model": "m",
                    "lang": lang,
                    "relation": f"P{f % 3}",
                    "uuid": f"u{f:03}",
                    "group_size": 2,
                    "status": status,
                    "top_neurons": np.asarray(top, np.int32),
                }
            )
    return pd.DataFrame(rows)


def reference_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    ok = frame[frame["status"] == "ok"]
    sets = {(r.lang, r.uuid): set(r.top_neurons.tolist()) for r in ok.itertuples()}
    langs = sorted(ok["lang"].unique())
    out = pd.DataFrame(np.nan, index=langs, columns=langs)
    for a in langs:
        for b in langs:
            shared = [u for (lang, u) in sets if lang == a and (b, u) in sets]
            if shared:
                out.loc[a, b] = np.mean([set_jaccard(sets[a, u], sets[b, u]) for u in shared])
    return out


def test_similarity_matrix_equals_python_reference():
    frame = random_neurons_frame(np.random.default_rng(1))
    result = similarity_matrix(neuron_table(frame)).to_frame()
    pd.testing.assert_frame_equal(result, reference_matrix(frame), check_exact=False)


def test_similarity_matrix_without_bitmap_equals_python_reference(monkeypatch):
    monkeypatch.setattr(jaccard, "MAX_BITMAP_IDS", 10)
    frame = random_neurons_frame(np.random.default_rng(3))
    result = similarity_matrix(neuron_table(frame)).to_frame()
    pd.testing.assert_frame_equal(result, reference_matrix(frame), check_exact=False)


def test_similarity_matrix_is_nan_where_no_fact_is_shared():
    frame = pd.DataFrame(
        [
            {
                "model": "m",
                "lang": "a",
                "relation": "P",
                "uuid": "u1",
                "group_size": 2,
                "status": "ok",
                "top_neurons": np.array([1, 2], np.int32),
            },
            {
                "model": "m",
                "lang": "b",
                "relation": "P",
                "uuid": "u2",
                "group_size": 2,
                "status": "ok",
                "top_neurons": np.array([1, 2], np.int32),
            },
        ]
    )
    sim = similarity_matrix(neuron_table(frame))
    assert np.isnan(sim.matrix[0, 1]) and sim.matrix[0, 0] == 1.0
    assert sim.counts.tolist() == [[1, 0], [0, 1]]


def test_per_fact_similarity_lists_every_shared_fact_with_its_jaccard():
    frame = random_neurons_frame(np.random.default_rng(2))
    ok = frame[frame["status"] == "ok"]
    sets = {(r.lang, r.uuid): set(r.top_neurons.tolist()) for r in ok.itertuples()}
    expected = sorted(
        (a, b, u, set_jaccard(sets[a, u], sets[b, u]))
        for (a, u) in sets
        for (b, v) in sets
        if u == v and a < b
    )
    got = per_fact_similarity(neuron_table(frame))
    rows = sorted(
        zip(
            got["lang_a"].astype(str),
            got["lang_b"].astype(str),
            got["uuid"],
            got["jaccard"],
            strict=True,
        )
    )
    assert rows == expected


def test_layer_activity_bins_are_means_of_equal_consecutive_bins():
    vector = np.arange(2 * 32, dtype=np.float32)
    bins = layer_activity_bins(vector, layers=2, intermediate=32, bins=16)
    assert bins.shape == (2, 16)
    np.testing.assert_allclose(bins[0, :2], [0.5, 2.5])
    np.testing.assert_allclose(bins[1, -1], 62.5)


def test_language_similarity_writes_the_matrix_and_per_fact_rows(tmp_path):
    from factroots.attribution.similarity import language_similarity
    from factroots.tables import NEURONS

    rows = [
        {
            "model": "m",
            "lang": lang,
            "relation": "P1",
            "uuid": uuid,
            "group_size": 2,
            "status": "ok",
            "top_neurons": ids,
            "top_scores": [1.0] * len(ids),
        }
        for lang, uuid, ids in [
            ("en", "a", [1, 2]),
            ("de", "a", [2, 3]),
            ("en", "b", [5]),
            ("fr", "c", [7]),
        ]
    ]
    neurons = tmp_path / "neurons.parquet"
    pd.DataFrame(rows, columns=NEURONS.columns).to_parquet(neurons)
    steps = []
    run = language_similarity(
        neurons, tmp_path / "m.csv", per_fact=tmp_path / "f.parquet", on_step=steps.append
    )
    assert sum(steps) == 4 and run.facts == 3 and run.similarity.langs == ["de", "en", "fr"]
    matrix = pd.read_csv(tmp_path / "m.csv", index_col="lang")
    assert matrix.loc["de", "en"] == matrix.loc["en", "de"] == 1 / 3
    assert np.isnan(matrix.loc["de", "fr"]) and run.empty_pairs == 4
    assert run.mean_off_diagonal == 1 / 3 and run.per_fact_rows == 1
    facts = pd.read_parquet(tmp_path / "f.parquet")
    assert facts[["lang_a", "lang_b", "uuid"]].astype(str).values.tolist() == [["de", "en", "a"]]
