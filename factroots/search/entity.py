"""An entity label as the terms it is matched by, in `words` or `tokens` mode."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from factroots.defaults import MODES
from factroots.indexer.postings import unit_keys
from factroots.indexer.schema import TOKENS, WORDS
from factroots.tokenizer import ModelTokenizer
from factroots.units import index_units


@dataclass(frozen=True)
class EntityTerms:
    """The term sequence an entity must match contiguously; empty when untraceable."""

    label: str
    mode: str
    field: str
    terms: tuple[str, ...]
    reason: str = ""

    @property
    def traceable(self) -> bool:
        return bool(self.terms)


def entity_terms(label: str, mode: str, tokenizer: ModelTokenizer) -> EntityTerms:
    """The terms of `label` in `mode`, or an untraceable entity with the reason."""
    if mode == "words":
        units = tuple(index_units(unicodedata.normalize("NFC", label))[0])
        return EntityTerms(label, mode, WORDS, units, "" if units else "no word units")
    if mode == "tokens":
        ids = tokenizer.encode_entity(label)
        if not ids:
            return EntityTerms(label, mode, TOKENS, (), "no tokens")
        if tokenizer.has_unknown(ids):
            return EntityTerms(label, mode, TOKENS, (), "unknown token")
        return EntityTerms(label, mode, TOKENS, tuple(map(str, ids)))
    raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")


@dataclass(frozen=True)
class LabelKeys:
    """Many labels' term keys in one mode: label i's are keys[offsets[i]:offsets[i + 1]],
    none when the label is untraceable (same rules as `entity_terms`)."""

    keys: np.ndarray
    offsets: np.ndarray

    @property
    def traceable(self) -> np.ndarray:
        return np.diff(self.offsets) > 0


def _token_keys(labels: Sequence[str], tokenizer: ModelTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Each label's ids as `ModelTokenizer.encode_entity` gives them (none where one is
    unknown), flattened, and how many each label has."""
    texts = [unicodedata.normalize("NFC", label) for label in labels]
    encoded = [e.ids for e in tokenizer.tokenizer.encode_batch(texts, add_special_tokens=False)]
    sizes = np.fromiter(map(len, encoded), np.int64, len(encoded))
    ids = np.fromiter(chain.from_iterable(encoded), np.int64, int(sizes.sum()))
    first = np.zeros(len(encoded), dtype=np.int64)
    np.cumsum(sizes[:-1], out=first[1:])
    keep = np.ones(ids.size, dtype=bool)
    if tokenizer.boundary_id is not None:
        lone = np.zeros(len(encoded), dtype=bool)
        lone[sizes > 0] = ids[first[sizes > 0]] == tokenizer.boundary_id
        keep[first[lone]] = False
        sizes = sizes - lone
    label_of = np.repeat(np.arange(len(encoded)), np.diff(np.append(first, ids.size)))
    if tokenizer.unk_id is not None:
        unknown = np.zeros(len(encoded), dtype=bool)
        unknown[label_of[ids == tokenizer.unk_id]] = True
        keep &= ~unknown[label_of]
        sizes[unknown] = 0
    return ids[keep].astype(np.uint64), sizes


def label_keys(labels: Sequence[str], mode: str, tokenizer: ModelTokenizer) -> LabelKeys:
    """The sidecar keys of many labels, analysed in one batch."""
    if mode == "words":
        keys, per_label = unit_keys(
            [" ".join(index_units(unicodedata.normalize("NFC", label))[0]) for label in labels]
        )
    elif mode == "tokens":
        keys, per_label = _token_keys(labels, tokenizer)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(per_label, out=offsets[1:])
    return LabelKeys(keys, offsets)
