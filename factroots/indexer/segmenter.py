"""Cut documents into lines of at most `max_tokens` model tokens, packed greedily from whole words.

DESIGN.md, Corpus and lines: a word is the run of tokens sharing a word id in the tokenizer's own
encoding of the document; a word longer than `max_tokens` is cut into `max_tokens`-sized pieces,
each a line of its own, and the next word starts a new line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from factroots.defaults import DEFAULT_MAX_TOKENS
from factroots.indexer.reader import Document
from factroots.tokenizer import ModelTokenizer


@dataclass(frozen=True)
class Line:
    """One line of a document: its text (a slice of the document text) and its token ids."""

    doc_id: str
    title: str
    text: str
    ids: np.ndarray


@numba.njit(cache=True)
def line_starts(word_ids: np.ndarray, max_tokens: int) -> np.ndarray:
    """Token indices where each line starts, given every token's word id (greedy packing)."""
    n = word_ids.shape[0]
    starts = np.empty(n + 1, dtype=np.int64)
    count = 0
    length = 0  # tokens in the current line
    i = 0
    while i < n:
        j = i + 1
        while j < n and word_ids[j] == word_ids[i]:
            j += 1
        size = j - i
        if size > max_tokens:
            for piece in range(i, j, max_tokens):
                starts[count] = piece
                count += 1
            length = max_tokens + 1  # the next word must start a new line
        elif length == 0 or length + size > max_tokens:
            starts[count] = i
            count += 1
            length = size
        else:
            length += size
        i = j
    return starts[:count]


def _word_id_array(word_ids: Sequence[int | None]) -> np.ndarray:
    return np.fromiter((-1 if w is None else w for w in word_ids), dtype=np.int64,
                       count=len(word_ids))


def document_lines(doc: Document, encoding, max_tokens: int) -> list[Line]:
    """The lines of one document from its encoding."""
    ids = np.asarray(encoding.ids, dtype=np.int32)
    if ids.size == 0:
        return []
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    starts = line_starts(_word_id_array(encoding.word_ids), max_tokens)
    first = np.minimum.reduceat(offsets[:, 0], starts)
    last = np.maximum.reduceat(offsets[:, 1], starts)
    bounds = np.append(starts, ids.size)
    return [
        Line(doc.doc_id, doc.title, doc.text[first[k]:last[k]], ids[bounds[k]:bounds[k + 1]])
        for k in range(starts.size)
    ]


class Segmenter:
    """Batched segmentation with a Rust tokenizer (parallel across documents)."""

    def __init__(self, tokenizer: ModelTokenizer, max_tokens: int = DEFAULT_MAX_TOKENS):
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def lines(self, docs: Sequence[Document]) -> list[list[Line]]:
        """For each document, its lines."""
        encodings = self.tokenizer.tokenizer.encode_batch(
            [d.text for d in docs], add_special_tokens=False
        )
        return [document_lines(d, e, self.max_tokens) for d, e in zip(docs, encodings, strict=True)]
