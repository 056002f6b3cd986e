"""An entity label as the terms it is matched by, in `words` or `tokens` mode."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from factroots.defaults import MODES
from factroots.indexer.postings import unit_keys
from factroots.indexer.schema import TOKENS, WORDS
from factroots.tokenizer import ModelTokenizer
from factroots.units import index_unit_lines, index_units


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

    @cached_property
    def keys(self) -> np.ndarray:
        """The terms' keys in the postings sidecar (factroots/indexer/postings.py)."""
        if self.field == WORDS:
            return unit_keys([" ".join(self.terms)])[0]
        return np.array([int(t) for t in self.terms], dtype=np.uint64)


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

    @cached_property
    def traceable(self) -> np.ndarray:
        """Whether each label has terms (worked out once: it is indexed label by label)."""
        return np.diff(self.offsets) > 0


JOIN_LABELS = 512  # labels per string in one encode_batch call


def _joinable(texts: list[str]) -> np.ndarray:
    """Whether each label tokenizes alone exactly as it does between single spaces: nothing
    but printable characters and inner spaces (the tokenizers split at whitespace and
    treat every other character the same wherever it stands)."""
    return np.array([t.isprintable() and t == t.strip() and t != "" for t in texts], dtype=bool)


def _encoded(texts: list[str], tokenizer: ModelTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Each text's ids tokenized alone (no special tokens), flattened, and how many each has.

    Encoding costs the tokenizer about as much per text as per token, so joinable texts go
    JOIN_LABELS to a string, joined by single spaces, and each token is given back to the
    text its characters start in (a token starting at a joining space, a ▁ piece, to the text
    after it); the others are encoded one per string."""
    joinable = _joinable(texts)
    together, apart = np.flatnonzero(joinable), np.flatnonzero(~joinable)
    order = np.concatenate([together, apart])
    groups = [
        [texts[i] for i in together[lo : lo + JOIN_LABELS]]
        for lo in range(0, together.size, JOIN_LABELS)
    ]
    alone = [[texts[i]] for i in apart]
    encodings = tokenizer.tokenizer.encode_batch(
        [" ".join(group) for group in groups + alone], add_special_tokens=False
    )
    ids, owner, first = [], [], 0
    for group, encoding in zip(groups + alone, encodings, strict=True):
        lengths = np.fromiter(map(len, group), np.int64, len(group))
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lengths[:-1] + 1, out=starts[1:])
        at = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)[:, 0]
        at += np.isin(at, starts - 1)  # a ▁ piece standing for a joining space
        owner.append(order[first + np.searchsorted(starts, at, side="right") - 1])
        ids.append(np.array(encoding.ids, dtype=np.int64))
        first += len(group)
    flat_owner = np.concatenate(owner) if owner else np.empty(0, np.int64)
    by_text = np.argsort(flat_owner, kind="stable")
    flat_ids = np.concatenate(ids)[by_text] if ids else np.empty(0, np.int64)
    return flat_ids, np.bincount(flat_owner, minlength=len(texts)).astype(np.int64)


def _token_keys(labels: Sequence[str], tokenizer: ModelTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Each label's ids as `ModelTokenizer.encode_entity` gives them (none where one is
    unknown), flattened, and how many each label has."""
    ids, sizes = _encoded([unicodedata.normalize("NFC", label) for label in labels], tokenizer)
    first = np.zeros(len(labels), dtype=np.int64)
    np.cumsum(sizes[:-1], out=first[1:])
    keep = np.ones(ids.size, dtype=bool)
    if tokenizer.boundary_id is not None:
        lone = np.zeros(len(labels), dtype=bool)
        lone[sizes > 0] = ids[first[sizes > 0]] == tokenizer.boundary_id
        keep[first[lone]] = False
        sizes = sizes - lone
    label_of = np.repeat(np.arange(len(labels)), np.diff(np.append(first, ids.size)))
    if tokenizer.unk_id is not None:
        unknown = np.zeros(len(labels), dtype=bool)
        unknown[label_of[ids == tokenizer.unk_id]] = True
        keep &= ~unknown[label_of]
        sizes[unknown] = 0
    return ids[keep].astype(np.uint64), sizes


def label_keys(labels: Sequence[str], mode: str, tokenizer: ModelTokenizer) -> LabelKeys:
    """The sidecar keys of many labels, analysed in one batch."""
    if mode == "words":
        keys, per_label = unit_keys(
            index_unit_lines([unicodedata.normalize("NFC", label) for label in labels])[0]
        )
    elif mode == "tokens":
        keys, per_label = _token_keys(labels, tokenizer)
    else:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    offsets = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(per_label, out=offsets[1:])
    return LabelKeys(keys, offsets)
