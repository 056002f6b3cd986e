"""P@1 statistics on a hand-made predictions frame with hand-computed answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from factroots.probing.metrics import (
    SUMMARY_COLUMNS,
    p_at_1,
    p_at_1_by_masks,
    p_at_1_by_relation,
    p_at_1_macro,
    summary,
)

ROWS = [  # lang, relation, obj_uri, k, correct
    ("en", "r1", "A", 1, True),
    ("en", "r1", "A", 1, True),
    ("en", "r1", "A", 1, False),
    ("en", "r1", "B", 1, False),
    ("en", "r2", "C", 2, True),
    ("en", "r2", "D", 2, True),
    ("en", "r2", "A", 1, False),
    ("ja", "r1", "E", 3, True),
]


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["lang", "relation", "obj_uri", "k", "correct"])


def by_lang(frame: pd.DataFrame) -> dict:
    return frame.set_index("lang").to_dict("index")


def test_micro_p_at_1_is_correct_facts_over_facts(df):
    got = by_lang(p_at_1(df))
    assert got["en"] == {"facts": 7, "p_at_1": pytest.approx(4 / 7)}
    assert got["ja"] == {"facts": 1, "p_at_1": 1.0}


def test_p_at_1_per_relation(df):
    got = p_at_1_by_relation(df).set_index(["lang", "relation"])["p_at_1"].to_dict()
    assert got == {("en", "r1"): 0.5, ("en", "r2"): pytest.approx(2 / 3), ("ja", "r1"): 1.0}


def test_macro_p_at_1_averages_relations(df):
    got = p_at_1_macro(df).set_index("lang")["p_at_1_macro"].to_dict()
    assert got == {"en": pytest.approx(7 / 12), "ja": 1.0}


def test_p_at_1_by_masks_weights_objects_equally(df):
    got = p_at_1_by_masks(df).set_index(["lang", "k"]).to_dict("index")
    assert got == {
        ("en", 1): {"objects": 2, "p_at_1": 0.25},
        ("en", 2): {"objects": 2, "p_at_1": 1.0},
        ("ja", 3): {"objects": 1, "p_at_1": 1.0},
    }


def test_summary_has_one_token_rates_and_nan_without_one_token_objects(df):
    got = summary(df)
    assert list(got.columns) == SUMMARY_COLUMNS
    rows = by_lang(got)
    assert rows["en"] == {
        "facts": 7,
        "p_at_1": pytest.approx(4 / 7),
        "one_token_p_at_1": 0.25,
        "one_token_objects": 2,
        "p_at_1_macro": pytest.approx(7 / 12),
    }
    assert rows["ja"]["one_token_objects"] == 0 and math.isnan(rows["ja"]["one_token_p_at_1"])


def test_summary_of_no_predictions_is_empty_with_its_columns(df):
    assert list(summary(df.iloc[:0]).columns) == SUMMARY_COLUMNS
