"""Batch phrase matching over the postings sidecar (factroots/indexer/postings.py).

Every entity of a batch is resolved in one numba call, in parallel: its terms are looked up in
the mode's sorted keys, the rarest term's positions give the candidate starts, each other term
(rarer first) keeps the candidates it continues, and the survivors become line ids. Nothing is
done per posting in Python.
"""

from __future__ import annotations

from collections.abc import Callable
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
def _continue_phrase(buf: np.ndarray, m: int, positions: np.ndarray, shift: int) -> int:
    """Keep, in place, the candidate starts g (ascending) with g + shift among `positions`."""
    p = 0
    kept = 0
    for k in range(m):
        target = buf[k] + shift
        p = _first_at_least(positions, p, target)
        if p == positions.shape[0]:
            break
        if np.int64(positions[p]) == target:
            buf[kept] = buf[k]
            kept += 1
    return kept


@numba.njit(cache=True, nogil=True)
def _starts_to_lines(buf: np.ndarray, m: int, line_starts: np.ndarray) -> int:
    """Replace, in place, ascending phrase starts by the distinct lines holding them."""
    line = 0
    kept = 0
    for k in range(m):
        line = _first_at_least(line_starts, line, buf[k] + 1) - 1
        if kept == 0 or buf[kept - 1] != line:
            buf[kept] = line
            kept += 1
    return kept


@numba.njit(cache=True, nogil=True)
def _entity_lines(terms: np.ndarray, offsets: np.ndarray, positions: np.ndarray,
                  line_starts: np.ndarray, anchor: int, buf: np.ndarray) -> int:
    """Lines of one entity (its term indices), anchored on its rarest term; written to buf."""
    lo, hi = offsets[terms[anchor]], offsets[terms[anchor] + 1]
    m = hi - lo
    for k in range(m):
        buf[k] = np.int64(positions[lo + k]) - anchor
    sizes = np.empty(terms.shape[0], dtype=np.int64)
    for i in range(terms.shape[0]):
        sizes[i] = offsets[terms[i] + 1] - offsets[terms[i]]
    for i in np.argsort(sizes, kind="mergesort"):
        if i == anchor or m == 0:
            continue
        t = terms[i]
        m = _continue_phrase(buf, m, positions[offsets[t]:offsets[t + 1]], i)
    return _starts_to_lines(buf, m, line_starts)


@numba.njit(cache=True, parallel=True)
def phrase_lines(keys: np.ndarray, offsets: np.ndarray, positions: np.ndarray,
                 line_starts: np.ndarray, query_keys: np.ndarray,
                 query_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of each entity e, given as keys query_keys[query_offsets[e]:query_offsets[e+1]]:
    (flat, start, count), entity e's sorted line ids at flat[start[e]:start[e] + count[e]]."""
    n = query_offsets.shape[0] - 1
    terms = np.empty(query_keys.shape[0], dtype=np.int64)
    anchor = np.full(n, -1, dtype=np.int64)
    bound = np.zeros(n, dtype=np.int64)
    for e in numba.prange(n):
        best, best_size = -1, np.int64(-1)
        for i in range(query_offsets[e + 1] - query_offsets[e]):
            t = _term_index(keys, query_keys[query_offsets[e] + i])
            terms[query_offsets[e] + i] = t
            if t < 0:
                best = -1
                break
            size = offsets[t + 1] - offsets[t]
            if best < 0 or size < best_size:
                best, best_size = i, size
        if best >= 0:
            anchor[e], bound[e] = best, best_size
    start = np.zeros(n, dtype=np.int64)
    total = 0
    for e in range(n):
        start[e] = total
        total += bound[e]
    flat = np.empty(total, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for e in numba.prange(n):
        if anchor[e] >= 0:
            count[e] = _entity_lines(terms[query_offsets[e]:query_offsets[e + 1]], offsets,
                                     positions, line_starts, anchor[e],
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
