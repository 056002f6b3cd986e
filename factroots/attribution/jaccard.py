"""Jaccard similarity of top-K neuron sets, numba kernels over a dense sorted table.

A table is an (n_rows, K) int32 array whose row r holds `sizes[r]` distinct non-negative ids
sorted ascending (the rest is padding).

One rule for two empty sets, here and in the report's shared-facts matrix (`jaccard_sets`):
their Jaccard is 1.0. DESIGN defines both language matrices (Figure 3, correctly predicted
uuids; Figure 5, top-K neurons) as the Jaccard *similarity* of two sets, and two empty sets are
the same set: with 1.0, J(A, A) = 1 for every A, so every diagonal cell is 1 (a language that
got no fact right included) and J(A, B) = 1 exactly when A = B. (This is also scipy's
convention: its Jaccard distance of two all-zero vectors is 0.) Two different sets, one of them
empty, have Jaccard 0.

Bulk kernels mark one set's ids in a per-thread bitmap of the id universe (36,864 bits = 4.6 KB
for mBERT, in L1) and count the other set's hits: independent loads instead of a merge's
dependent chain. In the language matrix a fact's row in language a is marked once and tested
against every later language. A sorted merge is kept for single pairs and huge id universes.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np
from numba import njit, prange

#: The Jaccard of two empty sets (see the module's docstring).
EMPTY_SETS_JACCARD = 1.0
#: Above this many ids the bitmap kernels fall back to the sorted merge.
MAX_BITMAP_IDS = 1 << 26
_CHUNKS = 64


@njit(inline="always")
def _jaccard_sorted(a, na, b, nb):
    """|a ∩ b| / |a ∪ b| of two ascending id runs (branch-free merge)."""
    if na == 0 and nb == 0:
        return EMPTY_SETS_JACCARD
    i = 0
    j = 0
    inter = 0
    while i < na and j < nb:
        x = a[i]
        y = b[j]
        inter += x == y
        i += x <= y
        j += y <= x
    return inter / (na + nb - inter)


def jaccard_sets(a: AbstractSet, b: AbstractSet) -> float:
    """|a ∩ b| / |a ∪ b| of two Python sets; EMPTY_SETS_JACCARD when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else EMPTY_SETS_JACCARD


@njit(cache=True)
def jaccard_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two ascending arrays of distinct ids."""
    return _jaccard_sorted(a, a.shape[0], b, b.shape[0])


@njit(inline="always")
def _set_bits(bits, table, row, n):
    for i in range(n):
        x = table[row, i]
        bits[x >> 6] |= np.uint64(1) << np.uint64(x & 63)


@njit(inline="always")
def _clear_bits(bits, table, row, n):
    for i in range(n):
        bits[table[row, i] >> 6] = 0


@njit(inline="always")
def _hits(bits, table, row, n):
    count = 0
    for j in range(n):
        y = table[row, j]
        count += (bits[y >> 6] >> np.uint64(y & 63)) & np.uint64(1)
    return count


@njit(inline="always")
def _jaccard_counts(inter, na, nb):
    if na == 0 and nb == 0:
        return EMPTY_SETS_JACCARD
    return inter / (na + nb - inter)


@njit(cache=True)
def id_universe(table, sizes):
    """1 + the largest id in use (0 for an empty table)."""
    top = -1
    for r in range(table.shape[0]):
        if sizes[r] > 0 and table[r, sizes[r] - 1] > top:
            top = table[r, sizes[r] - 1]
    return top + 1


@njit(cache=True)
def _rows_range(table, sizes, rows_a, rows_b, lo, hi, bits, use_bits, out):
    for p in range(lo, hi):
        ra = rows_a[p]
        rb = rows_b[p]
        na = sizes[ra]
        nb = sizes[rb]
        if use_bits:
            _set_bits(bits, table, ra, na)
            inter = _hits(bits, table, rb, nb)
            _clear_bits(bits, table, ra, na)
            out[p] = _jaccard_counts(inter, na, nb)
        else:
            out[p] = _jaccard_sorted(table[ra], na, table[rb], nb)


@njit(parallel=True, cache=True)
def _rows_parallel(table, sizes, rows_a, rows_b, universe, use_bits):
    n = rows_a.shape[0]
    out = np.empty(n, np.float64)
    step = (n + _CHUNKS - 1) // _CHUNKS
    for c in prange(_CHUNKS):
        bits = np.zeros((universe + 63) // 64 if use_bits else 1, np.uint64)
        _rows_range(
            table, sizes, rows_a, rows_b, c * step, min(n, (c + 1) * step), bits, use_bits, out
        )
    return out


def _use_bits(universe: int) -> bool:
    return universe <= MAX_BITMAP_IDS


def jaccard_rows(
    table: np.ndarray, sizes: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray
) -> np.ndarray:
    """Jaccard of table rows rows_a[p] and rows_b[p], for every p (numba, parallel)."""
    universe = id_universe(table, sizes)
    return _rows_parallel(table, sizes, rows_a, rows_b, universe, _use_bits(universe))


def jaccard_rows_serial(
    table: np.ndarray,
    sizes: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    bitmap: bool = True,
) -> np.ndarray:
    """`jaccard_rows` on one thread; `bitmap=False` uses the sorted merge."""
    universe = id_universe(table, sizes)
    use_bits = bitmap and _use_bits(universe)
    out = np.empty(len(rows_a), np.float64)
    bits = np.zeros((universe + 63) // 64 if use_bits else 1, np.uint64)
    _rows_range(table, sizes, rows_a, rows_b, 0, len(rows_a), bits, use_bits, out)
    return out


@njit(cache=True)
def _pair_sums_range(table, sizes, row_of, lo, hi, bits, use_bits, sums, counts):
    n_langs = row_of.shape[0]
    for f in range(lo, hi):
        for a in range(n_langs):
            ra = row_of[a, f]
            if ra < 0:
                continue
            na = sizes[ra]
            if use_bits:
                _set_bits(bits, table, ra, na)
            for b in range(a, n_langs):
                rb = row_of[b, f]
                if rb < 0:
                    continue
                nb = sizes[rb]
                if use_bits:
                    value = _jaccard_counts(_hits(bits, table, rb, nb), na, nb)
                else:
                    value = _jaccard_sorted(table[ra], na, table[rb], nb)
                sums[a, b] += value
                counts[a, b] += 1
            if use_bits:
                _clear_bits(bits, table, ra, na)


@njit(parallel=True, cache=True)
def _pair_sums_parallel(table, sizes, row_of, universe, use_bits):
    n_langs, n_facts = row_of.shape
    sums = np.zeros((_CHUNKS, n_langs, n_langs), np.float64)
    counts = np.zeros((_CHUNKS, n_langs, n_langs), np.int64)
    step = (n_facts + _CHUNKS - 1) // _CHUNKS
    for c in prange(_CHUNKS):
        bits = np.zeros((universe + 63) // 64 if use_bits else 1, np.uint64)
        _pair_sums_range(
            table,
            sizes,
            row_of,
            c * step,
            min(n_facts, (c + 1) * step),
            bits,
            use_bits,
            sums[c],
            counts[c],
        )
    return sums, counts


def language_pair_sums(
    table: np.ndarray, sizes: np.ndarray, row_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sum of Jaccard, shared facts), languages x languages, symmetric, in one parallel call.

    `row_of[lang, fact]` is the table row of that fact in that language, or -1. Facts are split
    into chunks across threads; each chunk accumulates its own upper triangle.
    """
    universe = id_universe(table, sizes)
    sums, counts = _pair_sums_parallel(table, sizes, row_of, universe, _use_bits(universe))
    sums, counts = sums.sum(axis=0), counts.sum(axis=0)
    sums = np.triu(sums) + np.triu(sums, 1).T
    counts = np.triu(counts) + np.triu(counts, 1).T
    return sums, counts


@njit(parallel=True, cache=True)
def shared_fact_values(table, sizes, row_of, pair_a, pair_b, offsets):
    """Per shared fact of each pair q: (fact index, Jaccard), written at offsets[q]."""
    n_facts = row_of.shape[1]
    facts = np.empty(offsets[-1], np.int64)
    values = np.empty(offsets[-1], np.float64)
    for q in prange(pair_a.shape[0]):
        a = pair_a[q]
        b = pair_b[q]
        out = offsets[q]
        for f in range(n_facts):
            ra = row_of[a, f]
            rb = row_of[b, f]
            if ra >= 0 and rb >= 0:
                facts[out] = f
                values[out] = _jaccard_sorted(table[ra], sizes[ra], table[rb], sizes[rb])
                out += 1
    return facts, values
