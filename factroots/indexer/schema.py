"""The tantivy schema shared by the builder and the searcher."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numba
import numpy as np
import tantivy

WS_ANALYZER = "ws"
LINE, WORDS, TOKENS, TEXT, DOC_ID, TITLE = "line", "w", "t", "text", "doc", "title"


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field(LINE, stored=True, indexed=True, fast=True)
    builder.add_text_field(WORDS, stored=False, tokenizer_name=WS_ANALYZER, index_option="position")
    builder.add_text_field(
        TOKENS, stored=False, tokenizer_name=WS_ANALYZER, index_option="position"
    )
    builder.add_bytes_field(TEXT, stored=True, indexed=False, fast=False)
    builder.add_bytes_field(DOC_ID, stored=True, indexed=False, fast=False)
    builder.add_bytes_field(TITLE, stored=True, indexed=False, fast=False)
    return builder.build()


def register_analyzers(index: tantivy.Index) -> None:
    """Pre-tokenized fields: terms are separated by whitespace, kept exactly (case included)."""
    index.register_tokenizer(
        WS_ANALYZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
    )


def token_terms(ids) -> str:
    """The `t` field's text: token ids as whitespace-separated decimal terms."""
    return " ".join(map(str, ids))


@numba.njit(cache=True)
def _decimal_lines(
    ids: np.ndarray, ends: np.ndarray, digits: np.ndarray, widths: np.ndarray
) -> np.ndarray:
    """ASCII of each line's ids (lines end at `ends`) as decimal terms, each line ended by a
    newline; id v is written as digits[v, :widths[v]]."""
    out = np.empty(ids.shape[0] * (digits.shape[1] + 1) + ends.shape[0], dtype=np.uint8)
    o = 0
    start = 0
    for k in range(ends.shape[0]):
        for i in range(start, ends[k]):
            if i > start:
                out[o] = 32
                o += 1
            value = ids[i]
            for d in range(widths[value]):
                out[o] = digits[value, d]
                o += 1
        out[o] = 10
        o += 1
        start = ends[k]
    return out[:o]


MAX_TABLE_ID = 1 << 22  # ids below this are written from a table of their digits


@functools.cache
def _digit_table(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The decimal ASCII digits of 0 … size - 1 (left-aligned rows) and their counts."""
    values = np.arange(size, dtype=np.int64)
    widths = np.ones(size, dtype=np.int64)
    power = 10
    while power < size:
        widths += values >= power
        power *= 10
    width = int(widths.max(initial=1))
    digits = np.zeros((size, width), dtype=np.uint8)
    for d in range(width):
        place = np.maximum(widths - 1 - d, 0)
        digits[:, d] = np.where(d < widths, 48 + values // 10**place % 10, 0)
    return digits, widths


def token_term_lines(lines: Sequence[np.ndarray]) -> list[str]:
    """`token_terms` of many lines' (non-negative) ids, written in one numba pass."""
    if not lines:
        return []
    ends = np.cumsum(np.fromiter(map(len, lines), np.int64, len(lines)))
    ids = np.concatenate(lines).astype(np.int64)
    top = int(ids.max(initial=0))
    if top >= MAX_TABLE_ID:  # no model vocabulary is this large
        return [token_terms(line.tolist()) for line in lines]
    digits, widths = _digit_table(1 << max(16, top.bit_length()))
    text = _decimal_lines(ids, ends, digits, widths)
    return text.tobytes().decode("ascii").split("\n")[:-1]
