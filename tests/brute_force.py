"""An independent reference for matching: a plain scan over segmented lines, no index involved.

Written apart from factroots' index and units code: word units are cut by a character loop over
Unicode categories (the index uses one compiled regular expression), and mentions are found at
every position of an entity's rarest item, in the lines laid end to end.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd
import regex

SCRIPTS_WITHOUT_SPACES = (
    "Han",
    "Hiragana",
    "Katakana",
    "Thai",
    "Lao",
    "Khmer",
    "Myanmar",
    "Tibetan",
)
_SCRIPT = {s: regex.compile(rf"\p{{Script={s}}}") for s in SCRIPTS_WITHOUT_SPACES}
_WHITE_SPACE = regex.compile(r"\p{White_Space}")


SKIP, ALONE, WORD, SPACE, OTHER = range(5)


@functools.cache  # a character's class never changes: look each one up once
def _char_class(ch: str) -> int:
    """What a character does to word units (DESIGN.md, Matching)."""
    category = unicodedata.category(ch)
    if category == "Cf":
        return SKIP
    if any(p.fullmatch(ch) for p in _SCRIPT.values()):
        return ALONE
    if category[0] in "LMN" or category == "Pc":
        return WORD
    return SPACE if _WHITE_SPACE.fullmatch(ch) else OTHER


def reference_units(text: str) -> list[str]:
    """Word units by a character loop (DESIGN.md, Matching)."""
    units: list[str] = []
    run: list[str] = []
    for ch in text:
        kind = _char_class(ch)
        if kind == WORD:
            run.append(ch)
        elif kind != SKIP:
            if run:
                units.append("".join(run))
                run = []
            if kind != SPACE:
                units.append(ch)
    if run:
        units.append("".join(run))
    return units


class BruteForceMatcher:
    """Line sets of entities by scanning every line, for words and tokens mode."""

    def __init__(self, lines: Iterable[tuple[str, list[int]]]):
        lines = list(lines)
        self.texts = [text for text, _ in lines]
        self.tokens = [list(ids) for _, ids in lines]

    @functools.cached_property
    def words(self) -> list[list[str]]:
        """Each line's word units (cut on first use: a tokens-mode check never needs them)."""
        return [reference_units(text) for text in self.texts]

    def lines_with_all(self, entities: Iterable[tuple], mode: str) -> dict[tuple, set[int]]:
        """For each entity (a tuple of units or ids), the set of lines containing it."""
        corpus = self.words if mode == "words" else self.tokens
        flat = _FlatCorpus(corpus)
        return {entity: flat.lines_with(entity) for entity in set(entities)}


class _FlatCorpus:
    """The lines' items as codes laid end to end, each line followed by a separator (-1) that
    no entity holds, so that no match runs from one line into the next."""

    def __init__(self, corpus: list[list]):
        lengths = np.array([len(seq) + 1 for seq in corpus], dtype=np.int64)
        items = [item for seq in corpus for item in [*seq, None]]
        codes, uniques = pd.factorize(pd.Series(items, dtype=object), use_na_sentinel=True)
        self.code = {item: i for i, item in enumerate(uniques)}
        self.codes = codes.astype(np.int64)
        self.line_of = np.repeat(np.arange(len(corpus), dtype=np.int64), lengths)
        self.order = np.argsort(self.codes, kind="stable")  # positions grouped by code
        self.first = np.cumsum(np.bincount(self.codes + 1), dtype=np.int64).tolist()

    def positions(self, code: int) -> np.ndarray:
        """Where `code` sits (the separator, -1, sorts first)."""
        return self.order[self.first[code] : self.first[code + 1]]

    def lines_with(self, entity: tuple) -> set[int]:
        """The lines holding `entity`: the positions of its rarest item, moved back to where
        the entity would start, kept where every other item sits at its offset."""
        if not entity or any(item not in self.code for item in entity):
            return set()
        wanted = [self.code[item] for item in entity]
        counts = [self.first[code + 1] - self.first[code] for code in wanted]
        anchor = counts.index(min(counts))
        starts = self.positions(wanted[anchor]) - anchor
        starts = starts[(starts >= 0) & (starts + len(wanted) <= len(self.codes))]
        for k, code in enumerate(wanted):
            if k != anchor:
                starts = starts[self.codes[starts + k] == code]
        return set(self.line_of[starts].tolist())
