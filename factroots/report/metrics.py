"""The probing statistics the report needs, as DESIGN.md "Probing" defines them.

A thin interface so the report does not depend on how predictions are produced.
"""

from __future__ import annotations

import pandas as pd

KEYS = ["model", "lang"]


def per_object(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, language and object (obj_uri, k): facts and P@1 over that object's facts."""
    frame = predictions.assign(correct=predictions["correct"].astype(float))
    return frame.groupby(KEYS + ["obj_uri", "k"], sort=True).agg(
        facts=("correct", "size"), p_at_1=("correct", "mean")).reset_index()


def by_masks(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, language and k: distinct objects, facts and the mean over objects of P@1."""
    objects = per_object(predictions)
    out = objects.groupby(KEYS + ["k"], sort=True).agg(
        objects=("obj_uri", "size"), facts=("facts", "sum"), p_at_1=("p_at_1", "mean"))
    return out.reset_index()


def language_summary(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model and language: facts, correct, P@1 (micro), P@1 macro over relations, one-token
    P@1 (mean over one-token objects) and the number of one-token objects."""
    frame = predictions.assign(correct=predictions["correct"].astype(float))
    micro = frame.groupby(KEYS, sort=True).agg(
        facts=("correct", "size"), correct=("correct", "sum"), p_at_1=("correct", "mean"))
    macro = (frame.groupby(KEYS + ["relation"])["correct"].mean()
             .groupby(level=KEYS).mean().rename("p_at_1_macro"))
    masks = by_masks(predictions)
    one = masks[masks["k"] == 1].set_index(KEYS)
    out = micro.join(macro).join(one[["p_at_1", "objects"]].rename(
        columns={"p_at_1": "one_token_p_at_1", "objects": "one_token_objects"}))
    out["correct"] = out["correct"].astype(int)
    out["one_token_objects"] = out["one_token_objects"].fillna(0).astype(int)
    return out.reset_index()
