"""PROBELESS per fact: score_i[n] = mean over j != i of |a_i[n] - a_j[n]|, exact in O(n log n).

Per neuron the group's values are radix-sorted once; with prefix sums of the sorted values every
fact's sum of absolute differences is `x*r - P[r] + (T - P[r+1]) - x*(n-1-r)` for its sorted
position r. Neurons are processed in blocks (numba, parallel over blocks); the top K neurons of
each fact are then selected with a bounded heap (parallel over facts), ties broken by lower id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from factroots.defaults import DEFAULT_TOP_K  # noqa: F401 (re-exported)

STATUS_OK = "ok"
STATUS_SINGLE = "single-fact group"
_BLOCK = 64
_RADIX_BITS = 11
_RADIX = 1 << _RADIX_BITS
_PASSES = 3


@njit(inline="always")
def _order_key(v):
    """uint32 whose unsigned order is the float32 order of `v`."""
    u = np.float32(v).view(np.uint32)
    if u & np.uint32(0x80000000):
        return ~u
    return u | np.uint32(0x80000000)


@njit(cache=True)
def _radix_order(col, keys, keys2, order, order2, hist):
    """Indices of `col` in ascending order (LSD radix sort, 3 passes of 11 bits)."""
    n = col.shape[0]
    hist[:] = 0
    for i in range(n):
        k = _order_key(col[i])
        keys[i] = k
        order[i] = i
        hist[0, k & 2047] += 1
        hist[1, (k >> 11) & 2047] += 1
        hist[2, k >> 22] += 1
    for p in range(_PASSES):
        shift = _RADIX_BITS * p
        if hist[p, (keys[0] >> shift) & 2047] == n:
            continue
        total = 0
        for d in range(_RADIX):
            count = hist[p, d]
            hist[p, d] = total
            total += count
        for i in range(n):
            k = keys[i]
            d = (k >> shift) & 2047
            pos = hist[p, d]
            hist[p, d] = pos + 1
            keys2[pos] = k
            order2[pos] = order[i]
        keys, keys2 = keys2, keys
        order, order2 = order2, order
    return order


@njit(parallel=True, cache=True)
def _scores_kernel(acts, block):
    n, m = acts.shape
    out = np.empty((n, m), np.float32)
    n_blocks = (m + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        w = min(m, lo + block) - lo
        vals = np.empty((w, n), np.float32)
        for i in range(n):
            for c in range(w):
                vals[c, i] = acts[i, lo + c]
        res = np.empty((w, n), np.float32)
        prefix = np.empty(n + 1, np.float64)
        keys = np.empty(n, np.uint32)
        keys2 = np.empty(n, np.uint32)
        order = np.empty(n, np.int32)
        order2 = np.empty(n, np.int32)
        hist = np.empty((_PASSES, _RADIX), np.int32)
        for c in range(w):
            col = vals[c]
            ranked = _radix_order(col, keys, keys2, order, order2, hist)
            prefix[0] = 0.0
            for r in range(n):
                prefix[r + 1] = prefix[r] + col[ranked[r]]
            total = prefix[n]
            for r in range(n):
                i = ranked[r]
                x = np.float64(col[i])
                below = x * r - prefix[r]
                above = (total - prefix[r + 1]) - x * (n - 1 - r)
                res[c, i] = (below + above) / (n - 1)
        for i in range(n):
            for c in range(w):
                out[i, lo + c] = res[c, i]
    return out


def probeless_scores(acts: np.ndarray) -> np.ndarray:
    """(n facts, neurons) float32 PROBELESS scores of a group of n >= 2 facts' activations."""
    acts = np.ascontiguousarray(acts, dtype=np.float32)
    if acts.ndim != 2 or acts.shape[0] < 2:
        raise ValueError(f"need a (n >= 2, neurons) array, got shape {acts.shape}")
    return _scores_kernel(acts, _BLOCK)


@njit(inline="always")
def _worse(s_a, id_a, s_b, id_b):
    return s_a < s_b or (s_a == s_b and id_a > id_b)


@njit(cache=True)
def _sift_down(hs, hi, pos, size):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(hs[right], hi[right], hs[left], hi[left]):
            child = right
        if not _worse(hs[child], hi[child], hs[pos], hi[pos]):
            return
        hs[pos], hs[child] = hs[child], hs[pos]
        hi[pos], hi[child] = hi[child], hi[pos]
        pos = child


@njit(parallel=True, cache=True)
def _top_k_kernel(scores, k):
    n, m = scores.shape
    ids = np.empty((n, k), np.int32)
    vals = np.empty((n, k), np.float32)
    for i in prange(n):
        hs = np.empty(k, np.float32)
        hi = np.empty(k, np.int32)
        row = scores[i]
        for j in range(k):
            hs[j] = row[j]
            hi[j] = j
        for pos in range(k // 2 - 1, -1, -1):
            _sift_down(hs, hi, pos, k)
        for j in range(k, m):
            if row[j] > hs[0]:
                hs[0] = row[j]
                hi[0] = j
                _sift_down(hs, hi, 0, k)
        for size in range(k, 0, -1):
            ids[i, size - 1] = hi[0]
            vals[i, size - 1] = hs[0]
            hs[0] = hs[size - 1]
            hi[0] = hi[size - 1]
            _sift_down(hs, hi, 0, size - 1)
    return ids, vals


def top_k_neurons(scores: np.ndarray, k: int = DEFAULT_TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k highest-scoring neuron ids (int32) and scores, desc, ties to lower id."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _top_k_kernel(scores, min(k, scores.shape[1]))


@dataclass
class GroupNeurons:
    """Top-K neurons of each fact of one (language, relation) group; empty when n < 2."""

    status: str
    ids: np.ndarray
    scores: np.ndarray


def probeless_top_k_torch(acts, k: int = DEFAULT_TOP_K) -> tuple[np.ndarray, np.ndarray]:
    """PROBELESS top-k with torch on the tensor's device (e.g. CUDA); same ranking rule."""
    import torch

    a = acts.to(torch.float64)
    n = a.shape[0]
    values, order = torch.sort(a, dim=0)
    prefix = torch.cumsum(values, dim=0) - values
    total = values.sum(dim=0, keepdim=True)
    rank = torch.arange(n, device=a.device, dtype=torch.float64)[:, None]
    sorted_scores = (
        values * rank - prefix + (total - prefix - values) - values * (n - 1 - rank)
    ) / (n - 1)
    scores = torch.empty_like(a).scatter_(0, order, sorted_scores).to(torch.float32)
    top, ids = torch.sort(scores, dim=1, descending=True, stable=True)
    k = min(k, a.shape[1])
    return (ids[:, :k].to(torch.int32).cpu().numpy(), top[:, :k].cpu().numpy())


def group_top_neurons(
    acts: np.ndarray, k: int = DEFAULT_TOP_K, device: str = "cpu"
) -> GroupNeurons:
    """PROBELESS top-k of every fact in a group; a one-fact group is reported, not scored.

    `device` other than 'cpu' (e.g. 'cuda') runs the torch version there.
    """
    n = acts.shape[0]
    if n < 2:
        empty = np.empty((n, 0), np.int32)
        return GroupNeurons(STATUS_SINGLE, empty, empty.astype(np.float32))
    if device != "cpu":
        import torch

        ids, vals = probeless_top_k_torch(
            torch.as_tensor(np.asarray(acts, np.float32), device=device), k
        )
    else:
        ids, vals = top_k_neurons(probeless_scores(acts), k)
    return GroupNeurons(STATUS_OK, ids, vals)
