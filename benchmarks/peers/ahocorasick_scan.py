"""The paper's baseline: one multi-pattern (Aho–Corasick) pass over the already-segmented lines.

Lines are given as their word units (`words` mode), space-joined and padded with a space at each
end; an entity is the pattern " unit unit … ", so a match is exactly a contiguous unit sequence.
Every line's matched entities are collected, and each fact whose subject and object both matched
in the line gets one more co-occurrence line. What is timed: building the automaton and the scan
(the lines are already in memory; no tokenization, no reading).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScanResult:
    cooccur_lines: np.ndarray  # per fact; -1 where untraceable
    seconds: float


def entity_pattern(units: Sequence[str]) -> str:
    return " " + " ".join(units) + " "


def scan_facts(
    lines: Sequence[str], facts: Sequence[tuple[tuple[str, ...], tuple[str, ...]]]
) -> ScanResult:
    """Co-occurrence line counts of (subject units, object units) facts over `lines` (each a
    space-joined unit string); a fact with an empty side is untraceable (-1)."""
    import ahocorasick

    started = time.perf_counter()
    automaton = ahocorasick.Automaton()
    keys: dict[tuple[str, ...], int] = {}
    objects_of: dict[int, list[tuple[int, int]]] = defaultdict(list)
    counts = np.full(len(facts), -1, dtype=np.int64)
    for k, (subject, object) in enumerate(facts):
        if not subject or not object:
            continue
        ids = [keys.setdefault(e, len(keys)) for e in (subject, object)]
        objects_of[ids[0]].append((k, ids[1]))
        counts[k] = 0
    for entity, key in keys.items():
        automaton.add_word(entity_pattern(entity), key)
    automaton.make_automaton()
    for line in lines:
        found = {key for _, key in automaton.iter(" " + line + " ")}
        for key in found:
            for fact, object in objects_of.get(key, ()):
                if object in found:
                    counts[fact] += 1
    return ScanResult(counts, time.perf_counter() - started)
