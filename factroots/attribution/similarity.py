"""Language similarity by shared top-K neurons (the paper's Figure 5) and Figure 4's layer bins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factroots.attribution.jaccard import language_pair_sums, shared_fact_values
from factroots.attribution.probeless import STATUS_OK
from factroots.errors import FactrootsError


@dataclass
class NeuronTable:
    """Top-K sets of every (language, fact) as one dense table for the numba kernels.

    `neurons[r, :sizes[r]]` holds row r's ids sorted ascending; `row_of[l, f]` is the row of
    fact `uuids[f]` in language `langs[l]`, or -1 when that language has no scored top-K for it.
    """

    langs: list[str]
    uuids: np.ndarray
    neurons: np.ndarray
    sizes: np.ndarray
    row_of: np.ndarray


def neuron_table(frame: pd.DataFrame) -> NeuronTable:
    """NeuronTable of the scored rows (status 'ok') of a neurons frame for one model."""
    if "model" in frame and frame["model"].nunique() > 1:
        models = ", ".join(sorted(frame["model"].unique()))
        raise FactrootsError(f"neurons of several models ({models}); choose one with --model")
    ok = frame[frame["status"] == STATUS_OK]
    duplicated = ok.duplicated(["lang", "uuid"])
    if duplicated.any():
        first = ok[duplicated].iloc[0]
        raise FactrootsError(f"fact {first['uuid']} appears twice for language {first['lang']}")
    langs = sorted(ok["lang"].unique())
    uuids = np.array(sorted(ok["uuid"].unique()), dtype=object)
    lists = ok["top_neurons"].tolist()
    sizes = np.fromiter((len(x) for x in lists), np.int32, len(lists))
    width = int(sizes.max()) if len(sizes) else 0
    neurons = np.full((len(lists), width), np.iinfo(np.int32).max, np.int32)
    for r, ids in enumerate(lists):
        neurons[r, : sizes[r]] = np.sort(np.asarray(ids, np.int32))
    lang_codes = pd.Categorical(ok["lang"], categories=langs).codes
    fact_codes = pd.Categorical(ok["uuid"], categories=uuids).codes
    row_of = np.full((len(langs), len(uuids)), -1, np.int32)
    row_of[lang_codes, fact_codes] = np.arange(len(ok), dtype=np.int32)
    return NeuronTable(langs, uuids, neurons, sizes, row_of)


@dataclass
class Similarity:
    """Languages x languages mean Jaccard (NaN where no fact is shared) and shared-fact counts."""

    langs: list[str]
    matrix: np.ndarray
    counts: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.matrix, index=self.langs, columns=self.langs)


def similarity_matrix(table: NeuronTable) -> Similarity:
    """Mean over facts scored in both languages of the Jaccard of their top-K sets."""
    sums, counts = language_pair_sums(table.neurons, table.sizes, table.row_of)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Similarity(list(table.langs), matrix, counts)


def per_fact_similarity(table: NeuronTable, counts: np.ndarray | None = None) -> pd.DataFrame:
    """One row per language pair a < b and fact scored in both: lang_a, lang_b, uuid, jaccard."""
    n = len(table.langs)
    pair_a, pair_b = np.triu_indices(n, k=1)
    if counts is None:
        counts = similarity_matrix(table).counts
    offsets = np.zeros(len(pair_a) + 1, np.int64)
    np.cumsum(counts[pair_a, pair_b], out=offsets[1:])
    facts, values = shared_fact_values(
        table.neurons,
        table.sizes,
        table.row_of,
        pair_a.astype(np.int64),
        pair_b.astype(np.int64),
        offsets,
    )
    per_pair = np.diff(offsets)
    langs = pd.Categorical.from_codes(np.arange(n), table.langs)
    return pd.DataFrame(
        {
            "lang_a": langs.take(np.repeat(pair_a, per_pair)),
            "lang_b": langs.take(np.repeat(pair_b, per_pair)),
            "uuid": table.uuids[facts],
            "jaccard": values,
        }
    )


@dataclass
class SimilarityRun:
    """What `language_similarity` computed and wrote."""

    similarity: Similarity
    facts: int  # distinct facts scored in at least one language
    out: Path
    per_fact: Path | None = None

    @property
    def mean_off_diagonal(self) -> float | None:
        """Mean Jaccard over the language pairs (a ≠ b) that share a fact; None if none does."""
        n = len(self.similarity.langs)
        off = self.similarity.matrix[~np.eye(n, dtype=bool)]
        return float(np.nanmean(off)) if off.size and not np.isnan(off).all() else None

    @property
    def empty_pairs(self) -> int:
        """Cells (a ≠ b, both orders) of two languages with no shared scored fact."""
        n = len(self.similarity.langs)
        return int(np.sum(self.similarity.counts[~np.eye(n, dtype=bool)] == 0))

    @property
    def per_fact_rows(self) -> int:
        """(pair a < b, fact) rows of the per-fact file."""
        return int(np.triu(self.similarity.counts, 1).sum())


def language_similarity(
    neurons: str | Path,
    out: str | Path,
    model: str | None = None,
    per_fact: str | Path | None = None,
    on_step: Callable[[int], None] | None = None,
) -> SimilarityRun:
    """The languages × languages matrix of mean top-K Jaccard (Figure 5) from a neurons parquet,
    written to `out` (CSV, index column `lang`); with `per_fact`, every shared fact's Jaccard
    too (parquet: lang_a, lang_b, uuid, jaccard). `model` picks one model from a file holding
    several. `on_step(n)` after each step (read and table, 2; matrix; per-fact)."""
    from factroots.atomic import atomic_output
    from factroots.attribution.attribute import read_neurons

    table = neuron_table(read_neurons(neurons, model))
    if on_step:
        on_step(2)
    if not table.langs:
        raise FactrootsError(f"no scored facts in {neurons}")
    result = similarity_matrix(table)
    frame = result.to_frame()
    frame.index.name = "lang"
    with atomic_output(out) as tmp:
        frame.to_csv(tmp)
    if on_step:
        on_step(1)
    if per_fact is not None:
        facts = per_fact_similarity(table, result.counts)
        with atomic_output(per_fact) as tmp:
            facts.to_parquet(tmp, index=False)
        if on_step:
            on_step(1)
    return SimilarityRun(
        result, len(table.uuids), Path(out), None if per_fact is None else Path(per_fact)
    )


def layer_activity_bins(
    activation_vector: np.ndarray, layers: int, intermediate: int, bins: int = 16
) -> np.ndarray:
    """(layers, bins) mean activation over equal consecutive bins of each layer's neurons."""
    vector = np.asarray(activation_vector, dtype=np.float64)
    if vector.shape != (layers * intermediate,):
        raise ValueError(f"expected {layers * intermediate} values, got shape {vector.shape}")
    if not 1 <= bins <= intermediate:
        raise ValueError(f"bins must be in 1..{intermediate}, got {bins}")
    per_layer = vector.reshape(layers, intermediate)
    return np.stack([[part.mean() for part in np.array_split(row, bins)] for row in per_layer])
