"""An independent reference for matching: a plain scan over segmented lines, no index involved.

Written apart from factroots' index and units code: word units are cut by a character loop over
Unicode categories (the index uses one compiled regular expression), and mentions are found at
every position of an entity's rarest pair of neighbouring items (its one item, for an entity of
one), in the lines laid end to end (numpy, all entities at once).
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
        return _FlatCorpus(corpus).lines_with_all(set(entities))


class _FlatCorpus:
    """The lines' items as codes laid end to end, each line followed by a separator (-1) that
    no entity holds, so that no match runs from one line into the next; and the same positions
    grouped by the item, and by the pair of items, starting there (one sorted key array)."""

    def __init__(self, corpus: list[list]):
        lengths = np.array([len(seq) + 1 for seq in corpus], dtype=np.int64)
        items = [item for seq in corpus for item in [*seq, None]]
        codes, uniques = pd.factorize(pd.Series(items, dtype=object), use_na_sentinel=True)
        self.code = {item: i for i, item in enumerate(uniques)}
        self.codes = codes.astype(np.int64)
        self.line_of = np.repeat(np.arange(len(corpus), dtype=np.int64), lengths)
        self.width = len(uniques) + 1  # an item's key, its code + 1 (the separator's 0), is below
        pairs = self._pair_keys(self.codes[:-1], self.codes[1:])
        keys = np.concatenate([self.codes + 1, pairs])  # a pair's key is not: one key space
        self.order = np.argsort(keys)
        self.sorted = keys[self.order]
        self.order %= len(self.codes)  # the position an item or pair starts at

    def _pair_keys(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return (first + 1) * self.width + (second + 1)

    def _span(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first, count) of each key's positions in `order`."""
        first = np.searchsorted(self.sorted, keys, side="left")
        return first, np.searchsorted(self.sorted, keys, side="right") - first

    def lines_with_all(self, entities: set[tuple]) -> dict[tuple, set[int]]:
        """The lines holding each entity (none for one with an item no line holds)."""
        found: dict[tuple, set[int]] = {entity: set() for entity in entities}
        known = [e for e in found if e and all(item in self.code for item in e)]
        if not known:
            return found
        entity, start = self._matches(known)
        stride = int(self.line_of.max()) + 1  # (entity, line) pairs as one sortable number
        pairs = np.unique(entity * stride + self.line_of[start])
        bounds = np.searchsorted(pairs // stride, np.arange(len(known) + 1))
        lines = (pairs % stride).tolist()
        for e in np.flatnonzero(np.diff(bounds)).tolist():
            found[known[e]] = set(lines[bounds[e] : bounds[e + 1]])
        return found

    def _matches(self, entities: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
        """(entity number, start position) of every mention, all entities at once: the
        positions of each entity's rarest pair of neighbouring items (of its one item, for an
        entity of one), moved back to where the entity would start, kept where every item
        sits at its offset."""
        sizes = np.array([len(e) for e in entities], dtype=np.int64)
        base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        wanted = np.array([self.code[item] for e in entities for item in e], dtype=np.int64)
        owner = np.repeat(np.arange(len(entities)), sizes)
        has_next = np.ones(wanted.size, dtype=bool)
        has_next[base + sizes - 1] = False  # an entity's last item starts no pair of its own
        single = sizes[owner] == 1
        keys = np.where(single, wanted + 1, 0)
        keys[has_next] = self._pair_keys(wanted[has_next], wanted[np.flatnonzero(has_next) + 1])
        first, seen = self._span(keys)
        seen[~(single | has_next)] = np.iinfo(np.int64).max  # never an anchor
        rarest = np.flatnonzero(seen == np.minimum.reduceat(seen, base)[owner])
        at = rarest[np.unique(owner[rarest], return_index=True)[1]]  # each entity's first
        anchor = at - base
        n = seen[at]
        entity = np.repeat(np.arange(len(entities)), n)
        within = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        start = self.order[np.repeat(first[at], n) + within] - anchor[entity]
        fits = (start >= 0) & (start + sizes[entity] <= len(self.codes))
        entity, start = entity[fits], start[fits]
        for k in range(int(sizes.max())):
            ask = np.flatnonzero(sizes[entity] > k)
            wrong = self.codes[start[ask] + k] != wanted[base[entity[ask]] + k]
            keep = np.ones(entity.size, dtype=bool)
            keep[ask[wrong]] = False
            entity, start = entity[keep], start[keep]
        return entity, start
