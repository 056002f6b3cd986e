"""An independent reference for matching: a plain scan over segmented lines, no index involved.

Written apart from factroots' index and units code: word units are cut by a character loop over
Unicode categories (the index uses one compiled regular expression), and mentions are found by
scanning every position of every line.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

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


def occurs_in(needle: list, haystack: list) -> bool:
    """Whether `needle` occurs contiguously in `haystack` (position by position)."""
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


class BruteForceMatcher:
    """Line sets of entities by scanning every line, for words and tokens mode."""

    def __init__(self, lines: Iterable[tuple[str, list[int]]]):
        lines = list(lines)
        self.words = [reference_units(text) for text, _ in lines]
        self.tokens = [list(ids) for _, ids in lines]

    def lines_with_all(self, entities: Iterable[tuple], mode: str) -> dict[tuple, set[int]]:
        """For each entity (a tuple of units or ids), the set of lines containing it."""
        lengths_by_first: dict = defaultdict(set)
        wanted: set[tuple] = set()
        found: dict[tuple, set[int]] = {}
        for entity in set(entities):
            found[entity] = set()
            if entity:
                lengths_by_first[entity[0]].add(len(entity))
                wanted.add(entity)
        corpus = self.words if mode == "words" else self.tokens
        for line_id, seq in enumerate(corpus):
            for i, item in enumerate(seq):
                for length in lengths_by_first.get(item, ()):
                    window = tuple(seq[i : i + length])
                    if window in wanted:
                        found[window].add(line_id)
        return found
