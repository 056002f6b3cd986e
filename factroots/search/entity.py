"""An entity label as the terms it is matched by, in `words` or `tokens` mode."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from factroots.indexer.schema import TOKENS, WORDS
from factroots.tokenizer import ModelTokenizer
from factroots.units import word_units

MODES = ("words", "tokens")


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
        units = tuple(word_units(unicodedata.normalize("NFC", label)))
        return EntityTerms(label, mode, WORDS, units, "" if units else "no word units")
    if mode == "tokens":
        ids = tokenizer.encode_entity(label)
        if not ids:
            return EntityTerms(label, mode, TOKENS, (), "no tokens")
        if tokenizer.has_unknown(ids):
            return EntityTerms(label, mode, TOKENS, (), "unknown token")
        return EntityTerms(label, mode, TOKENS, tuple(map(str, ids)))
    raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
