"""Batch phrase matching over the postings sidecar (factroots/indexer/postings.py).

Every entity of a batch is resolved in one numba call, in parallel: its terms are looked up in
the mode's sorted keys; the lines all its terms share are intersected from the terms' line lists
(rarest first); for an entity of several terms, each such line is kept if the terms occur there
in a row (positions, anchored on the term with the fewest). Nothing is done per posting in
Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from factroots.indexer.postings import POSTINGS_DIR, PostingsLayout, read_meta

GALLOP_RATIO = 16
CHUNK = 4096  # entities per numba call: bounds the scratch space of the rarest terms' positions


@dataclass(frozen=True)
class EntityLines:
    """Sorted line ids of many entities: entity e's are flat[start[e]:start[e] + count[e]]."""

    flat: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def lines(self, e: int) -> np.ndarray:
        return self.flat[self.start[e]:self.start[e] + self.count[e]]


@numba.njit(cache=True, nogil=True)
def _first_at_least(values: np.ndarray, lo: int, x: int) -> int:
    """Smallest i >= lo with values[i] >= x (len(values) if none): gallop, then bisect."""
    n = values.shape[0]
    step = 1
    hi = lo
    while hi < n and np.int64(values[hi]) < x:
        lo = hi + 1
        hi += step
        step *= 2
    if hi > n:
        hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if np.int64(values[mid]) < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _term_index(keys: np.ndarray, key: np.uint64) -> int:
    """Index of `key` in the sorted `keys`, or -1."""
    i = np.searchsorted(keys, key)
    if i < keys.shape[0] and keys[i] == key:
        return i
    return -1


@numba.njit(cache=True, nogil=True)
def _keep_common(buf: np.ndarray, m: int, lines: np.ndarray) -> int:
    """Keep, in place, the ascending lines of buf[:m] that are also in `lines`."""
    p = 0
    kept = 0
    for k in range(m):
        p = _first_at_least(lines, p, buf[k])
        if p == lines.shape[0]:
            break
        if np.int64(lines[p]) == buf[k]:
            buf[kept] = buf[k]
            kept += 1
    return kept


@numba.njit(cache=True, nogil=True)
def _phrase_in_line(terms: np.ndarray, anchor: int, offsets: np.ndarray,
                    positions: np.ndarray, cursor: np.ndarray, lo: int, hi: int) -> bool:
    """Whether the terms occur in a row in positions [lo, hi) (one line); `cursor` holds each
    term's search start in its positions and only moves forward."""
    a_lo, a_hi = offsets[terms[anchor]], offsets[terms[anchor] + 1]
    cursor[anchor] = a_lo + _first_at_least(positions[a_lo:a_hi], cursor[anchor] - a_lo,
                                            lo + anchor)
    while cursor[anchor] < a_hi and np.int64(positions[cursor[anchor]]) < hi:
        start = np.int64(positions[cursor[anchor]]) - anchor
        matched = True
        for i in range(terms.shape[0]):
            if i == anchor:
                continue
            t_lo, t_hi = offsets[terms[i]], offsets[terms[i] + 1]
            cursor[i] = t_lo + _first_at_least(positions[t_lo:t_hi], cursor[i] - t_lo, start + i)
            if cursor[i] == t_hi or np.int64(positions[cursor[i]]) != start + i:
                matched = False
                break
        if matched:
            return True
        cursor[anchor] += 1
    return False


@numba.njit(cache=True, nogil=True)
def _entity_lines(terms: np.ndarray, offsets: np.ndarray, positions: np.ndarray,
                  line_offsets: np.ndarray, lines: np.ndarray, line_starts: np.ndarray,
                  buf: np.ndarray) -> int:
    """Lines of one entity (its term indices), written to buf: the lines all its terms share
    (from the rarest term's), then, for several terms, those where they occur in a row."""
    n = terms.shape[0]
    line_counts = np.empty(n, dtype=np.int64)
    for i in range(n):
        line_counts[i] = line_offsets[terms[i] + 1] - line_offsets[terms[i]]
    order = np.argsort(line_counts, kind="mergesort")
    first = terms[order[0]]
    m = line_offsets[first + 1] - line_offsets[first]
    for k in range(m):
        buf[k] = lines[line_offsets[first] + k]
    for i in order[1:]:
        if m == 0:
            return 0
        t = terms[i]
        m = _keep_common(buf, m, lines[line_offsets[t]:line_offsets[t + 1]])
    if n == 1:
        return m
    anchor = 0
    for i in range(n):
        if offsets[terms[i] + 1] - offsets[terms[i]] < offsets[terms[anchor] + 1] - offsets[
                terms[anchor]]:
            anchor = i
    cursor = np.empty(n, dtype=np.int64)
    for i in range(n):
        cursor[i] = offsets[terms[i]]
    end = np.int64(line_starts[-1]) + (1 << 40)
    kept = 0
    for k in range(m):
        line = buf[k]
        lo = np.int64(line_starts[line])
        hi = np.int64(line_starts[line + 1]) if line + 1 < line_starts.shape[0] else end
        if _phrase_in_line(terms, anchor, offsets, positions, cursor, lo, hi):
            buf[kept] = line
            kept += 1
    return kept


@numba.njit(cache=True, parallel=True)
def phrase_lines(keys: np.ndarray, offsets: np.ndarray, positions: np.ndarray,
                 line_offsets: np.ndarray, lines: np.ndarray, line_starts: np.ndarray,
                 query_keys: np.ndarray,
                 query_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of each entity e, given as keys query_keys[query_offsets[e]:query_offsets[e+1]]:
    (flat, start, count), entity e's sorted line ids at flat[start[e]:start[e] + count[e]]."""
    n = query_offsets.shape[0] - 1
    terms = np.empty(query_keys.shape[0], dtype=np.int64)
    bound = np.zeros(n, dtype=np.int64)
    for e in numba.prange(n):
        fewest = np.int64(-1)
        for i in range(query_offsets[e + 1] - query_offsets[e]):
            t = _term_index(keys, query_keys[query_offsets[e] + i])
            terms[query_offsets[e] + i] = t
            if t < 0:
                fewest = 0
                break
            size = line_offsets[t + 1] - line_offsets[t]
            if fewest < 0 or size < fewest:
                fewest = size
        bound[e] = max(fewest, 0)
    start = np.zeros(n, dtype=np.int64)
    total = 0
    for e in range(n):
        start[e] = total
        total += bound[e]
    flat = np.empty(total, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for e in numba.prange(n):
        if bound[e] > 0:
            count[e] = _entity_lines(terms[query_offsets[e]:query_offsets[e + 1]], offsets,
                                     positions, line_offsets, lines, line_starts,
                                     flat[start[e]:start[e] + bound[e]])
    return flat, start, count


@numba.njit(cache=True, nogil=True)
def common_count(a: np.ndarray, b: np.ndarray) -> int:
    """Number of values in both sorted, duplicate-free arrays (galloping through the longer
    one when it is GALLOP_RATIO times the shorter)."""
    if a.shape[0] > b.shape[0]:
        a, b = b, a
    na, nb = a.shape[0], b.shape[0]
    count = 0
    if na * GALLOP_RATIO < nb:
        j = 0
        for i in range(na):
            j = _first_at_least(b, j, a[i])
            if j == nb:
                break
            if b[j] == a[i]:
                count += 1
                j += 1
        return count
    i = j = 0
    while i < na and j < nb:
        if a[i] < b[j]:
            i += 1
        elif a[i] > b[j]:
            j += 1
        else:
            count += 1
            i += 1
            j += 1
    return count


@numba.njit(cache=True, parallel=True)
def pair_counts(flat: np.ndarray, start: np.ndarray, count: np.ndarray, left: np.ndarray,
                right: np.ndarray) -> np.ndarray:
    """For each pair k, how many lines entities left[k] and right[k] share."""
    out = np.zeros(left.shape[0], dtype=np.int64)
    for k in numba.prange(left.shape[0]):
        a = flat[start[left[k]]:start[left[k]] + count[left[k]]]
        b = flat[start[right[k]]:start[right[k]] + count[right[k]]]
        out[k] = common_count(a, b)
    return out


@numba.njit(cache=True)
def _compacted(flat: np.ndarray, start: np.ndarray,
               count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same lines with no scratch space between entities."""
    out = np.empty(count.sum(), dtype=np.int64)
    new_start = np.empty_like(start)
    at = 0
    for e in range(start.shape[0]):
        new_start[e] = at
        out[at:at + count[e]] = flat[start[e]:start[e] + count[e]]
        at += count[e]
    return out, new_start, count


def _joined(parts: list[EntityLines]) -> EntityLines:
    if not parts:
        return EntityLines(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    sizes = np.cumsum([0] + [p.flat.size for p in parts[:-1]])
    return EntityLines(np.concatenate([p.flat for p in parts]),
                       np.concatenate([p.start + s for p, s in zip(parts, sizes, strict=True)]),
                       np.concatenate([p.count for p in parts]))


def merged_shards(parts: Sequence[EntityLines], bases: Sequence[int]) -> EntityLines:
    """One EntityLines from every shard's, for the same entities: entity e's lines are each
    shard's lines of e shifted by that shard's line base, shard after shard. Shards hold
    ascending runs of lines, so each entity's merged lines stay sorted (and `pair_counts`
    works on them)."""
    if len(parts) == 1 and bases[0] == 0:
        return parts[0]
    n = parts[0].count.size
    count = np.zeros(n, dtype=np.int64)
    for part in parts:
        count += part.count
    start = np.zeros(n, dtype=np.int64)
    np.cumsum(count[:-1], out=start[1:])
    flat = np.empty(int(count.sum()), dtype=np.int64)
    before = start.copy()  # where each entity's lines from the next shard go
    for part, base in zip(parts, bases, strict=True):
        size = int(part.count.sum())
        if size:
            within = np.arange(size, dtype=np.int64) - np.repeat(
                np.cumsum(part.count) - part.count, part.count)
            source = np.repeat(part.start, part.count) + within
            flat[np.repeat(before, part.count) + within] = part.flat[source] + base
        before += part.count
    return EntityLines(flat, start, count)


def flattened(arrays: list[np.ndarray]) -> EntityLines:
    """Separate sorted line-id arrays as one EntityLines."""
    count = np.fromiter((a.size for a in arrays), np.int64, len(arrays))
    start = np.zeros(len(arrays), dtype=np.int64)
    np.cumsum(count[:-1], out=start[1:])
    flat = np.concatenate(arrays).astype(np.int64) if arrays else np.empty(0, np.int64)
    return EntityLines(flat, start, count)


class ModePostings:
    """One mode's memory-mapped postings."""

    def __init__(self, layout: PostingsLayout, mode: str):
        def load(name: str) -> np.ndarray:
            return np.load(layout.array(mode, name), mmap_mode="r").view(np.ndarray)

        self.keys = load("keys")
        self.offsets = load("offsets")
        self.positions = load("positions")
        self.line_offsets = load("line_offsets")
        self.lines_of_terms = load("lines")
        self.line_starts = load("line_starts")

    def lines(self, query_keys: np.ndarray, query_offsets: np.ndarray,
              on_done: Callable[[int], None] | None = None) -> EntityLines:
        """Sorted line ids of each entity given by its term keys (see `phrase_lines`), in
        chunks of CHUNK entities so that scratch memory stays bounded; `on_done(n)` after each."""
        parts = []
        for lo in range(0, query_offsets.size - 1, CHUNK):
            hi = min(lo + CHUNK, query_offsets.size - 1)
            offsets = query_offsets[lo:hi + 1]
            flat, start, count = phrase_lines(self.keys, self.offsets, self.positions,
                                              self.line_offsets, self.lines_of_terms,
                                              self.line_starts,
                                              query_keys[offsets[0]:offsets[-1]],
                                              offsets - offsets[0])
            parts.append(EntityLines(*_compacted(flat, start, count)))
            if on_done:
                on_done(hi - lo)
        return _joined(parts)


def open_postings(index_dir: Path) -> dict[str, ModePostings] | None:
    """The sidecar's modes, or None for an index built without one (before format 1)."""
    meta = read_meta(index_dir)
    if meta is None:
        return None
    layout = PostingsLayout(index_dir / POSTINGS_DIR)
    return {mode: ModePostings(layout, mode) for mode in meta.modes}
