"""Figure 4's data: one fact's FFN activation per layer in equal bins of neurons, per language,
read from the activations `factroots probe --save-activations` wrote."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from factroots.errors import FactrootsError

DEFAULT_BINS = 16


@dataclass
class FactActivity:
    """One fact's (layers × bins) activity per language, for one model."""

    model: str
    uuid: str
    bins: dict[str, np.ndarray]


def chosen_fact(store, predictions: pd.DataFrame | None = None) -> str:
    """The fact saved in the most languages, counting only languages that predicted it correctly
    when predictions of the store's model are given; ties go to the smallest uuid."""
    saved = {lang: set(store.load(lang)[1]) for lang in store.languages()}
    counts: Counter[str] = Counter()
    correct = None
    if predictions is not None and store.model in set(predictions["model"]):
        rows = predictions[
            (predictions["model"] == store.model) & predictions["correct"].astype(bool)
        ]
        correct = set(zip(rows["lang"], rows["uuid"], strict=True))
    for lang, uuids in saved.items():
        counts.update(u for u in uuids if correct is None or (lang, u) in correct)
    if not counts:
        raise FactrootsError(f"no saved activation to show in {store.root}")
    best = max(counts.values())
    return min(u for u, n in counts.items() if n == best)


def fact_activity(
    activations: str | Path,
    fact: str | None = None,
    predictions: pd.DataFrame | None = None,
    bins: int = DEFAULT_BINS,
) -> FactActivity:
    """Per language holding the fact's saved activation: its (layers × bins) mean activity."""
    from factroots.attribution.activations import open_store
    from factroots.attribution.similarity import layer_activity_bins

    store = open_store(activations)
    uuid = fact or chosen_fact(store, predictions)
    per_lang = {}
    for lang in store.languages():
        array, uuids, _ = store.load(lang)
        if uuid in uuids:
            row = np.asarray(array[uuids.index(uuid)], dtype=np.float32)
            per_lang[lang] = layer_activity_bins(row, store.layers, store.intermediate, bins)
    if not per_lang:
        raise FactrootsError(f"fact {uuid!r} has no saved activation in {activations}")
    return FactActivity(store.model, uuid, per_lang)
