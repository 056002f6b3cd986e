"""Per-fact top-K neurons of every (language, relation) group, written as the neurons parquet."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from factroots.atomic import atomic_output
from factroots.attribution.activations import open_store
from factroots.attribution.probeless import DEFAULT_TOP_K, group_top_neurons
from factroots.errors import FactrootsError
from factroots.tables import NEURONS, PREDICTIONS, read_table

FACT_KEYS = ["model", "lang", "relation", "uuid"]


@dataclass
class NeuronRows:
    """Column buffers of the neurons table, filled one group at a time."""

    model: list[str] = field(default_factory=list)
    lang: list[str] = field(default_factory=list)
    relation: list[str] = field(default_factory=list)
    uuid: list[str] = field(default_factory=list)
    group_size: list[int] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    ids: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)

    def add_group(
        self,
        model: str,
        lang: str,
        relation: str,
        uuids: Sequence[str],
        acts: np.ndarray,
        top_k: int = DEFAULT_TOP_K,
        device: str = "cpu",
    ) -> str:
        """Score one group's activations (facts x neurons); returns its status."""
        result = group_top_neurons(acts, top_k, device)
        n = len(uuids)
        self.model += [model] * n
        self.lang += [lang] * n
        self.relation += [relation] * n
        self.uuid += list(uuids)
        self.group_size += [n] * n
        self.status += [result.status] * n
        self.ids += list(result.ids)
        self.scores += list(result.scores)
        return result.status

    def summary(self) -> dict[str, int]:
        """Facts per status."""
        return pd.Series(self.status, dtype=object).value_counts().to_dict()

    def to_arrow(self):
        import pyarrow as pa

        def lists(parts: list[np.ndarray], dtype, pa_type):
            sizes = np.fromiter((len(p) for p in parts), np.int64, len(parts))
            offsets = np.zeros(len(parts) + 1, np.int32)
            np.cumsum(sizes, out=offsets[1:])
            flat = np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)
            return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa_type))

        return pa.table(
            {
                "model": pa.array(self.model, pa.string()),
                "lang": pa.array(self.lang, pa.string()),
                "relation": pa.array(self.relation, pa.string()),
                "uuid": pa.array(self.uuid, pa.string()),
                "group_size": pa.array(self.group_size, pa.int32()),
                "status": pa.array(self.status, pa.string()),
                "top_neurons": lists(self.ids, np.int32, pa.int32()),
                "top_scores": lists(self.scores, np.float32, pa.float32()),
            },
            schema=NEURONS.schema,
        )

    def write(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        with atomic_output(path) as tmp:
            pq.write_table(self.to_arrow(), tmp)


def read_neurons(path: str | Path, model: str | None = None) -> pd.DataFrame:
    """The neurons parquet as a frame, optionally restricted to one model."""
    frame = read_table(path, NEURONS)
    if model is not None:
        frame = frame[frame["model"] == model]
        if frame.empty:
            raise FactrootsError(f"no neurons for model {model!r} in {path}")
    return frame


def correct_facts(predictions: str | Path) -> pd.DataFrame:
    """model, lang, relation, uuid of the correctly predicted facts."""
    frame = read_table(predictions, PREDICTIONS)
    return frame.loc[frame["correct"].astype(bool), FACT_KEYS]


@dataclass(frozen=True)
class Group:
    lang: str
    relation: str
    uuids: list[str]


def groups_of(correct: pd.DataFrame) -> list[Group]:
    """(language, relation) groups of correct facts, sorted, uuids in table order."""
    return [
        Group(lang, relation, part["uuid"].tolist())
        for (lang, relation), part in correct.groupby(["lang", "relation"], sort=True)
    ]


def attribute_saved(
    activations: str | Path,
    predictions: str | Path,
    top_k: int = DEFAULT_TOP_K,
    on_group: Callable[[Group, str], None] | None = None,
) -> NeuronRows:
    """PROBELESS top-K of every correct fact, from activations saved by `probe`."""
    store = open_store(activations)
    correct = correct_facts(predictions)
    correct = correct[correct["model"] == store.model]
    if correct.empty:
        raise FactrootsError(f"no correct predictions of model {store.model!r} in {predictions}")
    rows = NeuronRows()
    saved = set(store.languages())
    for lang, lang_facts in correct.groupby("lang", sort=True):
        if lang not in saved:
            raise FactrootsError(f"no saved activations for language {lang!r} in {activations}")
        array, uuids, _ = store.load(lang)
        row_of = {u: r for r, u in enumerate(uuids)}
        for group in groups_of(lang_facts):
            absent = [u for u in group.uuids if u not in row_of]
            if absent:
                raise FactrootsError(f"fact {absent[0]} ({lang}) has no saved activations")
            index = np.fromiter((row_of[u] for u in group.uuids), np.int64, len(group.uuids))
            acts = np.asarray(array[index], dtype=np.float32)
            status = rows.add_group(store.model, lang, group.relation, group.uuids, acts, top_k)
            if on_group:
                on_group(group, status)
    return rows


class NeuronCollector:
    """Collects correct facts' activations during probing, then scores every group.

    Rows are kept as fp32 per (language, relation) until `finish()` or `flush_language()`.
    """

    def __init__(self, model: str, top_k: int = DEFAULT_TOP_K, device: str = "cpu"):
        self.model = model
        self.top_k = top_k
        self.device = device
        self.rows = NeuronRows()
        self._acts: dict[tuple[str, str], list[np.ndarray]] = {}
        self._uuids: dict[tuple[str, str], list[str]] = {}

    def add(
        self,
        lang: str,
        relations: Iterable[str],
        uuids: Iterable[str],
        correct: Iterable[bool],
        acts: np.ndarray,
    ) -> None:
        """One batch: activation rows aligned with relations, uuids and correctness."""
        for row, (relation, uuid, ok) in enumerate(zip(relations, uuids, correct, strict=True)):
            if ok:
                key = (lang, relation)
                self._acts.setdefault(key, []).append(np.asarray(acts[row], np.float32))
                self._uuids.setdefault(key, []).append(uuid)

    def flush_language(self, lang: str) -> None:
        for key in sorted(k for k in self._acts if k[0] == lang):
            acts = np.stack(self._acts.pop(key))
            self.rows.add_group(
                self.model, key[0], key[1], self._uuids.pop(key), acts, self.top_k, self.device
            )

    def finish(self) -> NeuronRows:
        for lang in sorted({k[0] for k in self._acts}):
            self.flush_language(lang)
        return self.rows
