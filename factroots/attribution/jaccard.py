"""Jaccard similarity of top-K neuron sets, numba kernels over a dense sorted table.

A table is an (n_rows, K) int32 array whose row r holds `sizes[r]` distinct ids sorted
ascending (the rest is padding). Two empty sets are identical: their Jaccard is 1.0.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(inline="always")
def _jaccard_sorted(a, na, b, nb):
    """|a ∩ b| / |a ∪ b| of two ascending id runs (branch-free merge)."""
    if na == 0 and nb == 0:
        return 1.0
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


@njit(cache=True)
def jaccard_pair(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two ascending arrays of distinct ids."""
    return _jaccard_sorted(a, a.shape[0], b, b.shape[0])


@njit(parallel=True, cache=True)
def jaccard_rows(table, sizes, rows_a, rows_b):
    """Jaccard of table rows rows_a[p] and rows_b[p], for every p (parallel)."""
    out = np.empty(rows_a.shape[0], np.float64)
    for p in prange(rows_a.shape[0]):
        ra = rows_a[p]
        rb = rows_b[p]
        out[p] = _jaccard_sorted(table[ra], sizes[ra], table[rb], sizes[rb])
    return out


@njit(cache=True)
def jaccard_rows_serial(table, sizes, rows_a, rows_b):
    """`jaccard_rows` on one thread."""
    out = np.empty(rows_a.shape[0], np.float64)
    for p in range(rows_a.shape[0]):
        ra = rows_a[p]
        rb = rows_b[p]
        out[p] = _jaccard_sorted(table[ra], sizes[ra], table[rb], sizes[rb])
    return out


@njit(parallel=True, cache=True)
def language_pair_sums(table, sizes, row_of):
    """(sum of Jaccard, shared facts) for every language pair a <= b, in one parallel call.

    `row_of[lang, fact]` is the table row of that fact in that language, or -1.
    """
    n_langs, n_facts = row_of.shape
    n_pairs = n_langs * (n_langs + 1) // 2
    pair_a = np.empty(n_pairs, np.int64)
    pair_b = np.empty(n_pairs, np.int64)
    p = 0
    for a in range(n_langs):
        for b in range(a, n_langs):
            pair_a[p] = a
            pair_b[p] = b
            p += 1
    sums = np.zeros((n_langs, n_langs), np.float64)
    counts = np.zeros((n_langs, n_langs), np.int64)
    for q in prange(n_pairs):
        a = pair_a[q]
        b = pair_b[q]
        total = 0.0
        count = 0
        for f in range(n_facts):
            ra = row_of[a, f]
            rb = row_of[b, f]
            if ra >= 0 and rb >= 0:
                total += _jaccard_sorted(table[ra], sizes[ra], table[rb], sizes[rb])
                count += 1
        sums[a, b] = total
        sums[b, a] = total
        counts[a, b] = count
        counts[b, a] = count
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
