"""The report's numbers: P@1 tables, factor correlations, shared facts, absence rates.

Semantics follow DESIGN.md ("Probing", "Analyses"). Inputs are the column schemas of
trace.parquet and predictions.parquet; every function takes and returns pandas DataFrames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factroots.probing import metrics

SIZE_FACTORS = ("text_bytes", "first_paragraph_bytes")


@dataclass(frozen=True)
class Correlation:
    """Pearson r over `points` (x, y) pairs; r is NaN when fewer than two points or no spread."""

    r: float
    p_value: float
    points: int


def pearson(x: Iterable[float], y: Iterable[float]) -> Correlation:
    """Pearson correlation of x and y, with the two-sided p-value when there are > 2 points."""
    xs = np.asarray(list(x), dtype=float)
    ys = np.asarray(list(y), dtype=float)
    n = len(xs)
    if n < 2 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return Correlation(math.nan, math.nan, n)
    dx, dy = xs - xs.mean(), ys - ys.mean()
    r = float(np.clip((dx @ dy) / math.sqrt((dx @ dx) * (dy @ dy)), -1.0, 1.0))
    p_value = math.nan
    if n > 2:
        from scipy.special import betainc

        # two-sided test of r = 0 (as scipy.stats.pearsonr): t with n − 2 degrees of freedom
        p_value = float(betainc((n - 2) / 2, 0.5, 1.0 - r * r))
    return Correlation(r, p_value, n)


def per_model(
    statistic: Callable[[pd.DataFrame], pd.DataFrame], predictions: pd.DataFrame
) -> pd.DataFrame:
    """A per-language statistic of factroots.probing.metrics, for each model, `model` first."""
    frames = [
        statistic(group).assign(model=model)
        for model, group in predictions.groupby("model", sort=True)
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[["model", *(c for c in out.columns if c != "model")]]


def probing_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model and language: facts, P@1 (micro), one-token P@1, one-token objects and P@1
    macro over relations (the paper's Tables 1 and 2)."""
    return per_model(metrics.summary, predictions)


def p_at_1_by_relation(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, language and relation: facts and P@1."""
    return per_model(metrics.p_at_1_by_relation, predictions)


def p_at_1_wide(table: pd.DataFrame) -> pd.DataFrame:
    """P@1 per language (rows) for each model (columns): the paper's Table 2."""
    wide = table.pivot(index="lang", columns="model", values="p_at_1")
    wide.columns.name = None
    return wide.reset_index()


def wide(table: pd.DataFrame, values: list[str], by: str | None = None) -> pd.DataFrame:
    """One row per language and, per model, a column per value ("model: value") or, with `by`,
    a column per `by` value of the first value ("model: k=2") — long tables shown compactly."""
    parts = []
    for model, group in table.groupby("model", sort=True):
        if by is None:
            part = group.set_index("lang")[values]
            part.columns = [f"{model}: {v}" for v in values]
        else:
            part = group.pivot(index="lang", columns=by, values=values[0])
            part.columns = [f"{model}: {by}={c}" for c in part.columns]
        counts = [c for c in part.columns if pd.api.types.is_integer_dtype(part[c])]
        parts.append(part.astype({c: "Int64" for c in counts}))
    out = pd.concat(parts, axis=1)
    out.index.name = "lang"
    return out.reset_index()


def mean_over_languages(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: languages, and the mean over languages of P@1, one-token P@1 and one-token
    objects."""
    out = table.groupby("model", sort=True).agg(
        languages=("lang", "size"),
        p_at_1=("p_at_1", "mean"),
        one_token_p_at_1=("one_token_p_at_1", "mean"),
        one_token_objects=("one_token_objects", "mean"),
    )
    return out.reset_index()


def p_at_1_by_masks(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model, language and k: objects with k tokens and their mean per-object P@1."""
    return per_model(metrics.p_at_1_by_masks, predictions)


def summed_mask_rates(by_masks: pd.DataFrame) -> pd.DataFrame:
    """Per model and k: the per-language P@1 at k divided by that language's sum over k, summed
    over languages (languages whose sum is 0 add nothing)."""
    rows = []
    for model, group in by_masks.groupby("model", sort=True):
        per_lang = group.pivot_table(index="lang", columns="k", values="p_at_1", aggfunc="sum")
        per_lang = per_lang.fillna(0.0)
        totals = per_lang.sum(axis=1)
        normalized = per_lang[totals > 0].div(totals[totals > 0], axis=0)
        summed = normalized.sum(axis=0).reindex(per_lang.columns, fill_value=0.0)
        rows += [{"model": model, "k": int(k), "summed_rate": float(v)} for k, v in summed.items()]
    return pd.DataFrame(rows, columns=["model", "k", "summed_rate"])


def masks_correlation(summed: pd.DataFrame) -> dict[str, Correlation]:
    """Per model: Pearson r between k and the summed rate, over the k whose summed rate is > 0."""
    out = {}
    for model, group in summed.groupby("model", sort=True):
        kept = group[group["summed_rate"] > 0]
        out[model] = pearson(kept["k"], kept["summed_rate"])
    return out


def manifest_sizes(
    root: str | Path, langs: Iterable[str], tokenizers: Iterable[str]
) -> pd.DataFrame:
    """Per language: text bytes and first-paragraph bytes from the manifest of
    ROOT/<tokenizer>/<lang>, trying the given tokenizer names first, then any other tokenizer
    folder under root. Languages without an index are left out."""
    from factroots.indexer.manifest import MANIFEST_NAME, read_manifest

    root = Path(root)
    preferred = list(dict.fromkeys(tokenizers))
    others = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in preferred)
    rows = []
    for lang in sorted(set(langs)):
        for name in preferred + others:
            directory = root / name / lang
            if (directory / MANIFEST_NAME).is_file():
                counts = read_manifest(directory).counts
                rows.append(
                    {
                        "lang": lang,
                        "tokenizer": name,
                        "text_bytes": counts.text_bytes,
                        "first_paragraph_bytes": counts.first_paragraph_bytes,
                    }
                )
                break
    return pd.DataFrame(rows, columns=["lang", "tokenizer", *SIZE_FACTORS])


def factors_table(
    table: pd.DataFrame, sizes: pd.DataFrame | None, mask_correlations: Mapping[str, Correlation]
) -> pd.DataFrame:
    """Per model and factor: Pearson r (and p-value, points) of per-language P@1 against text
    bytes and first-paragraph bytes, and of k against the summed number-of-masks rate."""
    rows = []
    for model, group in table.groupby("model", sort=True):
        if sizes is not None and len(sizes):
            joined = group.merge(sizes, on="lang")
            for factor in SIZE_FACTORS:
                c = pearson(joined[factor], joined["p_at_1"])
                rows.append(
                    {
                        "model": model,
                        "factor": factor,
                        "pearson_r": c.r,
                        "p_value": c.p_value,
                        "points": c.points,
                    }
                )
        if model in mask_correlations:
            c = mask_correlations[model]
            rows.append(
                {
                    "model": model,
                    "factor": "number_of_masks",
                    "pearson_r": c.r,
                    "p_value": c.p_value,
                    "points": c.points,
                }
            )
    return pd.DataFrame(rows, columns=["model", "factor", "pearson_r", "p_value", "points"])


def correct_uuids(predictions: pd.DataFrame) -> dict[str, set[str]]:
    """Per language: the set of uuids predicted correctly (one model's predictions)."""
    sets: dict[str, set[str]] = {lang: set() for lang in sorted(predictions["lang"].unique())}
    for lang, group in predictions[predictions["correct"].astype(bool)].groupby("lang"):
        sets[lang] = set(group["uuid"])
    return sets


def shared_facts_matrix(predictions: pd.DataFrame) -> pd.DataFrame:
    """Language × language Jaccard similarity of correctly predicted uuid sets (one model); 1
    on the diagonal, also for a language with no correct fact (factroots.attribution.jaccard)."""
    from factroots.attribution.jaccard import jaccard_sets

    sets = correct_uuids(predictions)
    langs = list(sets)
    values = [[jaccard_sets(sets[a], sets[b]) for b in langs] for a in langs]
    return pd.DataFrame(values, index=pd.Index(langs, name="lang"), columns=langs)


def traced_predictions(trace: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Traceable trace rows joined with predictions on (lang, uuid): one row per model, match mode,
    tokenizer and fact, with `present` (bool) and `correct`."""
    traceable = trace[(trace["status"] == "ok") & trace["present"].notna()]
    traceable = traceable[
        [
            "lang",
            "uuid",
            "mode",
            "tokenizer",
            "present",
            "subject_lines",
            "object_lines",
            "cooccur_lines",
        ]
    ]
    joined = predictions.merge(traceable, on=["lang", "uuid"], how="inner")
    joined["present"] = joined["present"].astype(bool)
    joined["correct"] = joined["correct"].astype(bool)
    return joined


def absence_rates(joined: pd.DataFrame) -> pd.DataFrame:
    """Per model, match mode, tokenizer and language: traceable facts, how many are absent and the
    absence rate, among all facts and among correctly predicted facts (rate NaN when none)."""
    keys = ["model", "mode", "tokenizer", "lang"]
    frame = joined.assign(
        absent=~joined["present"], absent_correct=~joined["present"] & joined["correct"]
    )
    out = (
        frame.groupby(keys, sort=True)
        .agg(
            traceable=("uuid", "size"),
            absent=("absent", "sum"),
            traceable_correct=("correct", "sum"),
            absent_correct=("absent_correct", "sum"),
        )
        .reset_index()
    )
    out["absence_rate"] = out["absent"] / out["traceable"]
    out["absence_rate_correct"] = (out["absent_correct"] / out["traceable_correct"]).where(
        out["traceable_correct"] > 0
    )
    columns = keys + [
        "traceable",
        "absent",
        "absence_rate",
        "traceable_correct",
        "absent_correct",
        "absence_rate_correct",
    ]
    return out[columns]


def neuron_similarity_matrix(neurons: pd.DataFrame) -> pd.DataFrame:
    """Language × language mean top-K Jaccard over facts scored in both languages (same uuid),
    for one model; NaN where two languages share no scored fact (factroots.attribution)."""
    from factroots.attribution.similarity import neuron_table, similarity_matrix

    matrix = similarity_matrix(neuron_table(neurons)).to_frame()
    matrix.index.name = "lang"
    return matrix
