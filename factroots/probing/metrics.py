"""P@1 statistics over a predictions frame (columns lang, relation, obj_uri, k, correct).

Definitions follow DESIGN.md (Probing): micro P@1 = correct facts / facts; macro = mean over
relations of per-relation P@1; per-object rates group a language's facts by (obj_uri, k) and
average each object's accuracy, objects weighted equally (the paper's Table 1 and mask analysis).
"""

from __future__ import annotations

import pandas as pd

SUMMARY_COLUMNS = [
    "lang",
    "facts",
    "p_at_1",
    "one_token_p_at_1",
    "one_token_objects",
    "p_at_1_macro",
]


def p_at_1(df: pd.DataFrame) -> pd.DataFrame:
    """Per language: facts and micro P@1."""
    grouped = df.groupby("lang", sort=True)["correct"]
    return pd.DataFrame({"facts": grouped.size(), "p_at_1": grouped.mean()}).reset_index()


def p_at_1_by_relation(df: pd.DataFrame) -> pd.DataFrame:
    """Per language and relation: facts and P@1."""
    grouped = df.groupby(["lang", "relation"], sort=True)["correct"]
    return pd.DataFrame({"facts": grouped.size(), "p_at_1": grouped.mean()}).reset_index()


def p_at_1_macro(df: pd.DataFrame) -> pd.DataFrame:
    """Per language: the mean over relations of per-relation P@1."""
    by_relation = p_at_1_by_relation(df)
    return (
        by_relation.groupby("lang", sort=True)["p_at_1"].mean().rename("p_at_1_macro").reset_index()
    )


def object_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """Per language, object (obj_uri) and k: facts and the object's accuracy."""
    grouped = df.groupby(["lang", "k", "obj_uri"], sort=True)["correct"]
    return pd.DataFrame({"facts": grouped.size(), "accuracy": grouped.mean()}).reset_index()


def p_at_1_by_masks(df: pd.DataFrame) -> pd.DataFrame:
    """Per language and k: distinct objects with k tokens and their mean per-object accuracy."""
    per_object = object_accuracy(df)
    grouped = per_object.groupby(["lang", "k"], sort=True)["accuracy"]
    return pd.DataFrame({"objects": grouped.size(), "p_at_1": grouped.mean()}).reset_index()


def one_token(df: pd.DataFrame) -> pd.DataFrame:
    """Per language: one-token P@1 (mean over k=1 objects) and the number of k=1 objects."""
    langs = pd.DataFrame({"lang": sorted(df["lang"].unique())})
    ones = p_at_1_by_masks(df)
    ones = ones[ones["k"] == 1].rename(
        columns={"p_at_1": "one_token_p_at_1", "objects": "one_token_objects"}
    )
    merged = langs.merge(
        ones[["lang", "one_token_p_at_1", "one_token_objects"]], on="lang", how="left"
    )
    merged["one_token_objects"] = merged["one_token_objects"].fillna(0).astype(int)
    return merged


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per language: facts, P@1 (micro), one-token P@1, one-token objects, P@1 (macro)."""
    if df.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    merged = p_at_1(df).merge(one_token(df), on="lang").merge(p_at_1_macro(df), on="lang")
    return merged[SUMMARY_COLUMNS]


def format_summary(table: pd.DataFrame) -> str:
    """The summary as an aligned text table, rates in percent."""
    lines = [
        f"{'lang':6} {'facts':>8} {'P@1':>7} {'1-tok P@1':>10} {'1-tok objs':>10} {'macro P@1':>10}"
    ]
    for r in table.itertuples(index=False):
        one = "-" if pd.isna(r.one_token_p_at_1) else f"{100 * r.one_token_p_at_1:.2f}"
        lines.append(
            f"{r.lang:6} {r.facts:>8,} {100 * r.p_at_1:>7.2f} {one:>10} "
            f"{r.one_token_objects:>10,} {100 * r.p_at_1_macro:>10.2f}"
        )
    return "\n".join(lines)
