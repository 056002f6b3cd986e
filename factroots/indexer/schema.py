"""The tantivy schema shared by the builder and the searcher."""

from __future__ import annotations

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
def _decimal_lines(ids: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """ASCII of each line's ids (lines end at `ends`) as decimal terms, each line ended by a
    newline."""
    out = np.empty(ids.shape[0] * 21 + ends.shape[0], dtype=np.uint8)
    digits = np.empty(20, dtype=np.uint8)
    o = 0
    start = 0
    for k in range(ends.shape[0]):
        for i in range(start, ends[k]):
            if i > start:
                out[o] = 32
                o += 1
            value = np.uint64(ids[i])
            n = 0
            while n == 0 or value > 0:
                digits[n] = 48 + value % 10
                value //= 10
                n += 1
            for d in range(n - 1, -1, -1):
                out[o] = digits[d]
                o += 1
        out[o] = 10
        o += 1
        start = ends[k]
    return out[:o]


def token_term_lines(lines: Sequence[np.ndarray]) -> list[str]:
    """`token_terms` of many lines' (non-negative) ids, written in one numba pass."""
    if not lines:
        return []
    ends = np.cumsum(np.fromiter(map(len, lines), np.int64, len(lines)))
    text = _decimal_lines(np.concatenate(lines).astype(np.uint64), ends)
    return text.tobytes().decode("ascii").split("\n")[:-1]
