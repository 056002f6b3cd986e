"""Batch phrase matching over the postings sidecar (factroots/indexer/postings.py).

A batch of entities is resolved on one shard's sidecar in a few numba calls, in parallel, with
nothing done per posting in Python: each entity's terms are looked up in the mode's sorted keys;
an entity of one term is its term's line list, referenced where the sidecar maps it, not copied;
an entity of several terms starts from its rarest term's lines, keeps those its other terms
share (one branch-free pass of bit tests for the terms on many lines, then galloping through
the others' line lists) and then those where the terms occur in a row: each term's posting for
the line is found by its rank in the term's bitset (or by galloping), and its few positions in
that line are read from the sidecar, so no term's positions are searched across the corpus.
A fact's co-occurrence count in a shard is the size of the intersection of its subject's and
object's lines there (a bit test against the larger where it is frequent); counts of a sharded
index are sums over shards, so no line list is ever merged across shards. A single query's
three counts (subject, object, both) are one numba call per shard.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from factroots.indexer.postings import POSTINGS_DIR, PostingsLayout, read_meta

GALLOP_RATIO = 16
CHUNK = 16384  # entities per progress report (and per numba call, at most)
SCRATCH_LINES = 1 << 24  # candidate lines (4 bytes each) per numba call, at most
BITSET_SHARE = 64  # a term or entity on at least 1/64 of a shard's lines is tested by bitset
BITSET_BYTES = 256 << 20  # bitsets (with their ranks) per call, at most
AND_DENSITY = 4  # an entity whose rarest term has 4 lines per 64-bit word of its shard's
# bitsets is intersected by ANDing bitsets, not by testing its rarest term's lines


@dataclass(frozen=True)
class EntityLines:
    """Sorted line ids of many entities: entity e's are flat[start[e]:start[e] + count[e]]."""

    flat: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def lines(self, e: int) -> np.ndarray:
        return self.flat[self.start[e] : self.start[e] + self.count[e]]


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
    i = int(np.searchsorted(keys, key))
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
def _keep_all_set(
    values: np.ndarray, bitsets: np.ndarray, tested: np.ndarray, buf: np.ndarray
) -> int:
    """Write to buf the lines of `values` whose bit is set in every bitset `tested` names;
    how many (branch-free: whether a line is kept is not predictable)."""
    kept = 0
    for k in range(values.shape[0]):
        line = np.int64(values[k])
        word = line >> 6
        bit = np.uint64(line & 63)
        every = np.uint64(1)
        for j in range(tested.shape[0]):
            every &= bitsets[tested[j], word] >> bit
        buf[kept] = values[k]
        kept += int(every & np.uint64(1))
    return kept


@numba.njit(cache=True, nogil=True)
def _popcount(x: np.uint64) -> np.int64:
    """Set bits of x (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(cache=True, parallel=True)
def _ranks(bitsets: np.ndarray) -> np.ndarray:
    """For each bitset and word, the bits set in the words before it (a shard's lines are
    numbered in uint32)."""
    out = np.empty(bitsets.shape, dtype=np.uint32)
    for s in numba.prange(bitsets.shape[0]):
        total = 0
        for w in range(bitsets.shape[1]):
            out[s, w] = total
            total += _popcount(bitsets[s, w])
    return out


@numba.njit(cache=True, nogil=True)
def _count_set(values: np.ndarray, bits: np.ndarray) -> int:
    """How many of `values` have their bit set in `bits`."""
    count = 0
    for k in range(values.shape[0]):
        line = np.int64(values[k])
        count += (bits[line >> 6] >> np.uint64(line & 63)) & np.uint64(1)
    return count


_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _DEBRUIJN_INDEX[((1 << _bit) * 0x03F79D71B4CB0A89 & (2**64 - 1)) >> 58] = _bit


@numba.njit(cache=True, nogil=True)
def _common_bits(slots: np.ndarray, bitsets: np.ndarray, buf: np.ndarray) -> int:
    """Write to buf the lines set in every bitset that `slots` gives (-1: none); how many."""
    chosen = slots[slots >= 0]
    m = 0
    for w in range(bitsets.shape[1]):
        x = bitsets[chosen[0], w]
        for i in range(1, chosen.shape[0]):
            if x == 0:
                break
            x &= bitsets[chosen[i], w]
        while x:
            low = x & (~x + np.uint64(1))
            buf[m] = (w << 6) + _DEBRUIJN_INDEX[(low * _DEBRUIJN) >> np.uint64(58)]
            m += 1
            x ^= low
    return m


@numba.njit(cache=True, nogil=True)
def _ascending(values: np.ndarray) -> np.ndarray:
    """Indices that sort the few `values` of an entity's terms, ties in order (an insertion
    sort: numba's argsort takes seconds to compile)."""
    order = np.arange(values.shape[0])
    for i in range(1, values.shape[0]):
        k = order[i]
        j = i
        while j > 0 and values[order[j - 1]] > values[k]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = k
    return order


@numba.njit(cache=True, nogil=True)
def _posting_of(
    term: int,
    slot: int,
    line: int,
    bitsets: np.ndarray,
    ranks: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    cursor: int,
) -> int:
    """Index of the posting of `term` (which is on `line`) for that line: its rank in the
    term's bitset where `slot` gives one, else found galloping forward from `cursor`."""
    lo = line_offsets[term]
    if slot >= 0:
        word = line >> 6
        below = bitsets[slot, word] & ((np.uint64(1) << np.uint64(line & 63)) - np.uint64(1))
        return lo + np.int64(ranks[slot, word]) + _popcount(below)
    return lo + _first_at_least(lines[lo : line_offsets[term + 1]], cursor - lo, line)


@numba.njit(cache=True, nogil=True)
def _in_a_row(at: np.ndarray, end: np.ndarray, in_line: np.ndarray) -> bool:
    """Whether terms 0..n-1 occur in a row in one line, term i's positions in it being
    in_line[at[i]:end[i]] (ascending; `at` is advanced in place); anchored on the term with
    the fewest positions there."""
    n = at.shape[0]
    anchor = 0
    for i in range(1, n):
        if end[i] - at[i] < end[anchor] - at[anchor]:
            anchor = i
    for q in range(at[anchor], end[anchor]):
        first = np.int64(in_line[q]) - anchor
        if first < 0:
            continue
        matched = True
        for i in range(n):
            if i == anchor:
                continue
            while at[i] < end[i] and np.int64(in_line[at[i]]) < first + i:
                at[i] += 1
            if at[i] == end[i]:
                return False
            if np.int64(in_line[at[i]]) != first + i:
                matched = False
                break
        if matched:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _shared_lines(
    terms: np.ndarray,
    slots: np.ndarray,
    bitsets: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    buf: np.ndarray,
) -> int:
    """The lines all the terms share, written to buf: the rarest term's, tested against the
    others' bitsets where `slots` gives one (all of them ANDed, a word at a time, where every
    term is on many lines), then galloped through the others' line lists."""
    n = terms.shape[0]
    line_counts = np.empty(n, dtype=np.int64)
    for i in range(n):
        line_counts[i] = line_offsets[terms[i] + 1] - line_offsets[terms[i]]
    order = _ascending(line_counts)
    if slots[order[0]] >= 0 and line_counts[order[0]] >= AND_DENSITY * bitsets.shape[1]:
        m = _common_bits(slots, bitsets, buf)
    else:
        tested = np.empty(n, dtype=np.int64)
        nb = 0
        for i in order[1:]:
            if slots[i] >= 0:
                tested[nb] = slots[i]
                nb += 1
        first = terms[order[0]]
        m = _keep_all_set(
            lines[line_offsets[first] : line_offsets[first + 1]], bitsets, tested[:nb], buf
        )
    for i in order[1:]:
        if m == 0:
            break
        if slots[i] < 0:
            t = terms[i]
            m = _keep_common(buf, m, lines[line_offsets[t] : line_offsets[t + 1]])
    return m


@numba.njit(cache=True, nogil=True)
def _entity_lines(
    terms: np.ndarray,
    slots: np.ndarray,
    bitsets: np.ndarray,
    ranks: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    occurrence_offsets: np.ndarray,
    in_line: np.ndarray,
    buf: np.ndarray,
) -> int:
    """Lines of one entity of several terms (their term indices), written to buf: the lines
    all its terms share (`_shared_lines`), then those where they occur in a row."""
    m = _shared_lines(terms, slots, bitsets, line_offsets, lines, buf)
    n = terms.shape[0]
    cursor = np.empty(n, dtype=np.int64)
    for i in range(n):
        cursor[i] = line_offsets[terms[i]]
    at = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    kept = 0
    for k in range(m):
        line = np.int64(buf[k])
        for i in range(n):
            cursor[i] = _posting_of(
                terms[i], slots[i], line, bitsets, ranks, line_offsets, lines, cursor[i]
            )
            at[i] = np.int64(occurrence_offsets[cursor[i]])
            end[i] = np.int64(occurrence_offsets[cursor[i] + 1])
        if _in_a_row(at, end, in_line):
            buf[kept] = buf[k]
            kept += 1
    return kept


@numba.njit(cache=True, nogil=True)
def _lines_of_one(
    keys: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    occurrence_offsets: np.ndarray,
    in_line: np.ndarray,
    entity_keys: np.ndarray,
) -> np.ndarray:
    """Sorted lines of one entity given by its term keys: a one-term entity's line list as
    the sidecar maps it, else the lines `_entity_lines` keeps (no bitsets: one entity alone)."""
    n = entity_keys.shape[0]
    terms = np.empty(n, dtype=np.int64)
    fewest = np.int64(-1)
    for i in range(n):
        t = _term_index(keys, entity_keys[i])
        if t < 0:
            return lines[:0]
        terms[i] = t
        size = line_offsets[t + 1] - line_offsets[t]
        if fewest < 0 or size < fewest:
            fewest = size
    if n <= 1:
        return lines[line_offsets[terms[0]] : line_offsets[terms[0] + 1]] if n else lines[:0]
    buf = np.empty(int(fewest), dtype=lines.dtype)
    slots = np.full(n, -1, dtype=np.int64)
    no_bitsets = np.zeros((0, 1), dtype=np.uint64)
    no_ranks = np.zeros((0, 1), dtype=np.uint32)
    m = _entity_lines(
        terms,
        slots,
        no_bitsets,
        no_ranks,
        line_offsets,
        lines,
        occurrence_offsets,
        in_line,
        buf,
    )
    return buf[:m]


@numba.njit(cache=True, nogil=True)
def _pair_lines(
    keys: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    occurrence_offsets: np.ndarray,
    in_line: np.ndarray,
    subject_keys: np.ndarray,
    object_keys: np.ndarray,
) -> tuple[int, int, int]:
    """Lines holding the subject, the object, and both (entities given by their term keys)."""
    arrays = (keys, line_offsets, lines, occurrence_offsets, in_line)
    a = _lines_of_one(*arrays, subject_keys)
    b = _lines_of_one(*arrays, object_keys)
    both = common_count(a, b) if a.shape[0] > 0 and b.shape[0] > 0 else 0
    return a.shape[0], b.shape[0], both


@numba.njit(cache=True, parallel=True)
def _query_terms(
    keys: np.ndarray, line_offsets: np.ndarray, query_keys: np.ndarray, query_offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each query key's term index (-1 where absent, or after an absent one) and each entity's
    fewest lines of one of its terms (0 where a term is absent)."""
    n = query_offsets.shape[0] - 1
    terms = np.full(query_keys.shape[0], -1, dtype=np.int64)
    fewest = np.zeros(n, dtype=np.int64)
    for e in numba.prange(n):
        least = np.int64(-1)
        for j in range(query_offsets[e], query_offsets[e + 1]):
            t = _term_index(keys, query_keys[j])
            if t < 0:
                least = np.int64(0)
                break
            terms[j] = t
            size = line_offsets[t + 1] - line_offsets[t]
            if least < 0 or size < least:
                least = size
        fewest[e] = max(least, 0)
    return terms, fewest


@numba.njit(cache=True)
def _densest_terms(
    terms: np.ndarray, query_offsets: np.ndarray, line_offsets: np.ndarray, entities: np.ndarray
) -> np.ndarray:
    """Each given entity's term (all present) that lies on the most lines."""
    out = np.empty(entities.shape[0], dtype=np.int64)
    for i in range(entities.shape[0]):
        e = entities[i]
        most = np.int64(-1)
        for j in range(query_offsets[e], query_offsets[e + 1]):
            size = line_offsets[terms[j] + 1] - line_offsets[terms[j]]
            if size > most:
                out[i], most = terms[j], size
    return out


@numba.njit(cache=True, parallel=True)
def _phrases(
    terms: np.ndarray,
    slots: np.ndarray,
    bitsets: np.ndarray,
    ranks: np.ndarray,
    query_offsets: np.ndarray,
    entities: np.ndarray,
    fewest: np.ndarray,
    line_offsets: np.ndarray,
    lines: np.ndarray,
    occurrence_offsets: np.ndarray,
    in_line: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Lines of the given entities (each of several terms, all present), packed one entity
    after the other, and how many each has."""
    n = entities.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        start[i + 1] = start[i] + fewest[entities[i]]
    scratch = np.empty(start[n], dtype=np.uint32)
    count = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        e = entities[i]
        lo, hi = query_offsets[e], query_offsets[e + 1]
        count[i] = _entity_lines(
            terms[lo:hi],
            slots[lo:hi],
            bitsets,
            ranks,
            line_offsets,
            lines,
            occurrence_offsets,
            in_line,
            scratch[start[i] : start[i + 1]],
        )
    packed = np.empty(count.sum(), dtype=np.uint32)
    at = 0
    for i in range(n):  # element by element: numba's slice assignment costs µs per call
        for k in range(count[i]):
            packed[at + k] = scratch[start[i] + k]
        at += count[i]
    return packed, count


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
def pair_counts(
    flat: np.ndarray, start: np.ndarray, count: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """For each pair k, how many lines entities left[k] and right[k] share."""
    out = np.zeros(left.shape[0], dtype=np.int64)
    for k in numba.prange(left.shape[0]):
        a = flat[start[left[k]] : start[left[k]] + count[left[k]]]
        b = flat[start[right[k]] : start[right[k]] + count[right[k]]]
        out[k] = common_count(a, b)
    return out


def _joined(parts: list[EntityLines]) -> EntityLines:
    if not parts:
        return EntityLines(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64))
    sizes = np.cumsum([0] + [p.flat.size for p in parts[:-1]])
    return EntityLines(
        np.concatenate([p.flat for p in parts]),
        np.concatenate([p.start + s for p, s in zip(parts, sizes, strict=True)]),
        np.concatenate([p.count for p in parts]),
    )


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
                np.cumsum(part.count) - part.count, part.count
            )
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


@numba.njit(cache=True, nogil=True)
def _view(
    term_lines: np.ndarray,
    found: np.ndarray,
    shared: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    e: int,
) -> np.ndarray:
    """Entity e's lines in a ShardLines."""
    if shared[e]:
        return term_lines[start[e] : start[e] + count[e]]
    return found[start[e] : start[e] + count[e]]


@numba.njit(cache=True, parallel=True)
def _list_bitsets(
    term_lines: np.ndarray,
    found: np.ndarray,
    shared: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    chosen: np.ndarray,
    words: int,
) -> np.ndarray:
    """A bitset of `words` 64-bit words for each chosen entity of a ShardLines."""
    out = np.zeros((chosen.shape[0], words), dtype=np.uint64)
    for i in numba.prange(chosen.shape[0]):
        values = _view(term_lines, found, shared, start, count, chosen[i])
        for k in range(values.shape[0]):
            line = np.int64(values[k])
            out[i, line >> 6] |= np.uint64(1) << np.uint64(line & 63)
    return out


@numba.njit(cache=True, parallel=True)
def _shard_pair_counts(
    term_lines: np.ndarray,
    found: np.ndarray,
    shared: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    bitsets: np.ndarray,
    slots: np.ndarray,
) -> np.ndarray:
    """For each pair k, how many lines entities left[k] and right[k] share: the smaller's
    lines tested against the larger's bitset where it has one, else intersected."""
    out = np.zeros(left.shape[0], dtype=np.int64)
    for k in numba.prange(left.shape[0]):
        a, b = left[k], right[k]
        if count[a] > count[b]:
            a, b = b, a
        if count[a] == 0:
            continue
        small = _view(term_lines, found, shared, start, count, a)
        if slots[b] >= 0:
            out[k] = _count_set(small, bitsets[slots[b]])
        else:
            out[k] = common_count(small, _view(term_lines, found, shared, start, count, b))
    return out


@numba.njit(cache=True)
def _gathered(
    term_lines: np.ndarray,
    found: np.ndarray,
    shared: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    base: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every entity's lines + base, packed one entity after the other, and where each
    entity's start."""
    flat = np.empty(count.sum(), dtype=np.int64)
    first = np.empty(count.shape[0], dtype=np.int64)
    at = 0
    for e in range(count.shape[0]):
        first[e] = at
        values = _view(term_lines, found, shared, start, count, e)
        for k in range(values.shape[0]):
            flat[at + k] = np.int64(values[k]) + base
        at += count[e]
    return flat, first


def _readonly(values: np.ndarray) -> np.ndarray:
    """`values` marked read-only (numba compiles one variant for the sidecar's mapped arrays
    and what is computed from them)."""
    values.setflags(write=False)
    return values


def _budgeted(candidates: np.ndarray, sizes: np.ndarray, bytes_each: int) -> np.ndarray:
    """The candidates given a bitset, largest first, as many as BITSET_BYTES allows when each
    takes `bytes_each`."""
    most = BITSET_BYTES // max(bytes_each, 1)
    return candidates[np.argsort(-sizes[candidates], kind="stable")][:most]


@dataclass(frozen=True)
class ShardLines:
    """Sorted line ids (the shard's own) of many entities, without copying what the sidecar
    holds: entity e's lines are term_lines[start[e]:start[e] + count[e]] where shared[e] (an
    entity of one term: that term's line list), else found[start[e]:start[e] + count[e]]."""

    num_lines: int
    term_lines: np.ndarray
    found: np.ndarray
    shared: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.term_lines, self.found, self.shared, self.start, self.count

    def pair_counts(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """For each pair k, how many lines entities left[k] and right[k] share; an entity on
        at least 1/BITSET_SHARE of the lines that is the larger of several pairs gets a
        bitset first."""
        words = (self.num_lines + 63) // 64
        larger = np.where(self.count[left] > self.count[right], left, right)
        uses = np.bincount(larger, minlength=self.count.size)
        frequent = np.flatnonzero(
            (self.count * BITSET_SHARE >= max(self.num_lines, 1)) & (uses > 1)
        )
        chosen = _budgeted(frequent, self.count, 8 * words)
        slots = np.full(self.count.size, -1, dtype=np.int64)
        slots[chosen] = np.arange(chosen.size)
        bitsets = _list_bitsets(*self._arrays(), chosen, words)
        return _shard_pair_counts(
            *self._arrays(), left.astype(np.int64), right.astype(np.int64), bitsets, slots
        )

    def entity_lines(self, base: int = 0) -> EntityLines:
        """The same lines as an EntityLines of int64 ids, shifted by `base`."""
        flat, first = _gathered(*self._arrays(), base)
        return EntityLines(flat, first, self.count.copy())


class ModePostings:
    """One mode's memory-mapped postings."""

    def __init__(self, layout: PostingsLayout, mode: str):
        def load(name: str) -> np.ndarray:
            return _readonly(np.load(layout.array(mode, name), mmap_mode="r").view(np.ndarray))

        self.keys = load("keys")
        self.line_offsets = load("line_offsets")
        self.lines_of_terms = load("lines")
        self.occurrence_offsets = load("occurrence_offsets")
        self.in_line = load("in_line")
        self.line_starts = load("line_starts")
        self._single = (  # what a single query's numba call takes, in its order
            self.keys,
            self.line_offsets,
            self.lines_of_terms,
            self.occurrence_offsets,
            self.in_line,
        )

    @property
    def num_lines(self) -> int:
        return int(self.line_starts.size)

    def release(self) -> None:
        """Drop the pages of the mapped arrays from this process's resident memory (they stay
        in the kernel's page cache, and the next read maps them again): a sharded trace
        releases each shard once counted, so its resident memory is one shard's, not all."""
        for values in (*self._single, self.line_starts):
            _release(values)

    def resolve(
        self,
        query_keys: np.ndarray,
        query_offsets: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> ShardLines:
        """Sorted line ids of each entity given by its term keys (entity e's are
        query_keys[query_offsets[e]:query_offsets[e + 1]]; none: untraceable). Entities of
        several terms are resolved in the order of their densest terms, in numba calls of at
        most CHUNK entities and SCRATCH_LINES candidate lines, so that scratch memory stays
        bounded; `on_done(n)` once for the others, then after each CHUNK."""
        n = query_offsets.size - 1
        terms, fewest = _query_terms(self.keys, self.line_offsets, query_keys, query_offsets)
        sizes = np.diff(query_offsets)
        shared = sizes == 1
        start = np.zeros(n, dtype=np.int64)
        count = fewest.copy()  # 0 for a label with no terms
        single = np.flatnonzero(shared & (fewest > 0))
        start[single] = self.line_offsets[terms[query_offsets[single]]]
        several = np.flatnonzero((sizes > 1) & (fewest > 0))
        slots, bitsets = self._term_bitsets(terms, query_offsets, several)
        ranks = _ranks(bitsets)
        densest = np.zeros(n, dtype=np.int64)
        densest[several] = _densest_terms(terms, query_offsets, self.line_offsets, several)
        several = several[np.argsort(densest[several], kind="stable")]
        if on_done and n > several.size:
            on_done(n - several.size)
        found, at = [], 0
        for lo in range(0, several.size, CHUNK):
            chunk = several[lo : lo + CHUNK]
            for batch in _scratch_batches(chunk, fewest, densest):
                packed, lines = _phrases(
                    terms,
                    slots,
                    bitsets,
                    ranks,
                    query_offsets,
                    batch,
                    fewest,
                    self.line_offsets,
                    self.lines_of_terms,
                    self.occurrence_offsets,
                    self.in_line,
                )
                count[batch] = lines
                start[batch] = at + np.cumsum(lines) - lines
                at += packed.size
                found.append(packed)
            if on_done:
                on_done(chunk.size)
        flat = np.concatenate(found) if found else np.empty(0, dtype=np.uint32)
        return ShardLines(
            self.num_lines, self.lines_of_terms, _readonly(flat), shared, start, count
        )

    def entity_count(self, entity_keys: np.ndarray) -> int:
        """Lines holding one entity given by its term keys."""
        return _lines_of_one(*self._single, entity_keys).shape[0]

    def pair_lines(self, subject_keys: np.ndarray, object_keys: np.ndarray) -> tuple[int, int, int]:
        """Lines holding one entity, the other, and both (each given by its term keys), in
        one numba call."""
        return _pair_lines(*self._single, subject_keys, object_keys)

    def _term_bitsets(
        self, terms: np.ndarray, query_offsets: np.ndarray, several: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bitsets of the terms of entities of several terms that lie on at least
        1/BITSET_SHARE of the lines, and each query term's bitset (-1: none)."""
        words = (self.num_lines + 63) // 64
        sizes = np.diff(query_offsets)
        of_several = np.zeros(sizes.size, dtype=bool)
        of_several[several] = True
        used = np.repeat(of_several, sizes) & (terms >= 0)
        distinct = np.unique(terms[used])
        lines = self.line_offsets[distinct + 1] - self.line_offsets[distinct]
        frequent = np.flatnonzero(lines * BITSET_SHARE >= max(self.num_lines, 1))
        chosen = distinct[_budgeted(frequent, lines, 12 * words)]  # with its ranks
        chosen.sort()
        slots = np.full(terms.size, -1, dtype=np.int64)
        if chosen.size:
            at = np.searchsorted(chosen, terms[used])
            hit = (at < chosen.size) & (chosen[np.minimum(at, chosen.size - 1)] == terms[used])
            slots[np.flatnonzero(used)[hit]] = at[hit]
        starts = self.line_offsets[chosen]
        bitsets = _list_bitsets(
            self.lines_of_terms,
            _EMPTY_LINES,
            np.ones(chosen.size, dtype=np.bool_),
            starts,
            self.line_offsets[chosen + 1] - starts,
            np.arange(chosen.size),
            words,
        )
        return slots, bitsets


_EMPTY_LINES = _readonly(np.empty(0, dtype=np.uint32))


def _release(values: np.ndarray) -> None:
    """madvise(MADV_DONTNEED) on the memory map behind `values`, where there is one."""
    mapped = getattr(values.base, "_mmap", None)
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def _scratch_batches(
    entities: np.ndarray, fewest: np.ndarray, densest: np.ndarray
) -> list[np.ndarray]:
    """`entities` in runs whose candidate lines (fewest) add up to at most SCRATCH_LINES (or
    one entity alone), each reordered so that the costliest alternate between the two halves
    of the run (numba's threads take equal slices of a parallel loop), and each half in the
    order of its entities' densest terms (so that the bitset and postings of a frequent term
    stay in cache from one entity to the next: 3–7 % off a tokens shard in three A/B runs of
    four, 3 % slower in the fourth)."""
    batches = []
    ends = np.cumsum(fewest[entities])
    lo = 0
    while lo < entities.size:
        before = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, before + SCRATCH_LINES, side="right")), lo + 1)
        run = entities[lo:hi][np.argsort(-fewest[entities[lo:hi]], kind="stable")]
        halves = (run[0::2], run[1::2])
        batches.append(
            np.concatenate([half[np.argsort(densest[half], kind="stable")] for half in halves])
        )
        lo = hi
    return batches


def compiled() -> bool:
    """Whether numba's on-disk cache holds the batch trace's compiled functions (else the first
    trace on this machine compiles them, ≈ 20 s, and caches them for every later process)."""
    functions = (_query_terms, _densest_terms, _ranks, _phrases, _list_bitsets, _shard_pair_counts)
    try:
        return all(f._cache._cache_file._load_index() for f in functions)
    except Exception:  # numba's cache layout is not public API: assume compiled
        return True


def open_postings(index_dir: Path) -> dict[str, ModePostings] | None:
    """The sidecar's modes, or None for an index built without one (before format 1)."""
    meta = read_meta(index_dir)
    if meta is None:
        return None
    layout = PostingsLayout(index_dir / POSTINGS_DIR)
    return {mode: ModePostings(layout, mode) for mode in meta.modes}
