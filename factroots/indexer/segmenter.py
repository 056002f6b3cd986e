"""Cut documents into lines of at most `max_tokens` model tokens, packed greedily from whole words.

DESIGN.md, Corpus and lines: a word is the run of tokens sharing a word id in the tokenizer's own
encoding of the document; a word longer than `max_tokens` is cut into `max_tokens`-sized pieces,
each a line of its own, and the next word starts a new line.

So that memory stays bounded whatever the input, the tokenizer never sees more than PIECE_CHARS
characters at once: a longer document is encoded piece by piece, cut before whitespace (where the
encodings of both sides are those of the whole, words never spanning whitespace), and the
pieces' tokens are numbered on as one encoding. A run of more than PIECE_CHARS characters with no
whitespace at all is cut where the limit falls; each such cut is counted (`Segmenter.hard_cuts`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import regex

from factroots.defaults import DEFAULT_MAX_TOKENS, PIECE_CHARS
from factroots.indexer.encoding import Encoded, encoder_for
from factroots.indexer.reader import Document
from factroots.tokenizer import ModelTokenizer

ENCODE_CHARS = 4 << 20  # characters of pieces per encode_batch call, at most
_LAST_SPACE = regex.compile(r"\s+", regex.REVERSE)
_LEADING_SPACE = regex.compile(r"\s*")


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


def text_pieces(text: str, limit: int) -> tuple[list[tuple[int, int]], int]:
    """Consecutive (start, end) spans covering `text`, each of at most `limit` characters, cut
    before a whitespace run (which starts the next piece: a tokenizer that gives a word its
    preceding space, like XLM-R's, then sees what it sees in the whole text), and how many had
    to be cut where no whitespace run was left."""
    spans, start, cuts = [], 0, 0
    while len(text) - start > limit:
        lead = _LEADING_SPACE.match(text, start).end()  # the piece's own leading whitespace
        space = _LAST_SPACE.search(text, lead, start + limit + 1) if lead < start + limit else None
        end = space.start() if space is not None else start + limit
        cuts += space is None
        spans.append((start, end))
        start = end
    if start < len(text):
        spans.append((start, len(text)))
    return spans, cuts


def _moved(encoded: Encoded, start: int, first_word: int) -> Encoded:
    """A piece's encoding with its offsets and word ids moved on by its place in the document."""
    words = np.where(encoded.word_ids < 0, -1, encoded.word_ids + first_word)
    return Encoded(encoded.ids, encoded.offsets + start, words)


def _joined(parts: list[Encoded]) -> Encoded:
    if len(parts) == 1:
        return parts[0]
    return Encoded(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.offsets for p in parts]).reshape(-1, 2),
        np.concatenate([p.word_ids for p in parts]),
    )


def document_lines(doc: Document, encoded: Encoded, max_tokens: int) -> list[Line]:
    """The lines of one document from its encoding."""
    ids, offsets = encoded.ids, encoded.offsets
    if ids.size == 0:
        return []
    starts = line_starts(encoded.word_ids, max_tokens)
    first = np.minimum.reduceat(offsets[:, 0], starts)
    last = np.maximum.reduceat(offsets[:, 1], starts)
    bounds = np.append(starts, ids.size)
    return [
        Line(doc.doc_id, doc.title, doc.text[first[k] : last[k]], ids[bounds[k] : bounds[k + 1]])
        for k in range(starts.size)
    ]


class Segmenter:
    """Batched segmentation with a Rust tokenizer (parallel across documents). With `memo`,
    each distinct whitespace chunk is tokenized once (factroots.indexer.encoding: the same
    tokens); without it, every text is tokenized whole."""

    def __init__(
        self, tokenizer: ModelTokenizer, max_tokens: int = DEFAULT_MAX_TOKENS, memo: bool = True
    ):
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self._encoder = encoder_for(tokenizer.tokenizer, memo)
        self.hard_cuts = 0  # runs of over PIECE_CHARS characters without whitespace, cut

    def lines(self, docs: Sequence[Document]) -> list[list[Line]]:
        """For each document, its lines."""
        pieces: list[tuple[int, int, int]] = []  # (document, start, end)
        for d, doc in enumerate(docs):
            spans, cuts = text_pieces(doc.text, PIECE_CHARS)
            self.hard_cuts += cuts
            pieces.extend((d, start, end) for start, end in spans)
        parts: list[list[Encoded]] = [[] for _ in docs]
        words = [0] * len(docs)
        for group in self._groups(pieces):
            encoded = self._encoder.encode([docs[d].text[start:end] for d, start, end in group])
            for (d, start, _), piece in zip(group, encoded, strict=True):
                part = _moved(piece, start, words[d])
                words[d] = int(part.word_ids.max(initial=words[d] - 1)) + 1
                parts[d].append(part)
        empty = Encoded(np.empty(0, np.int32), np.empty((0, 2), np.int64), np.empty(0, np.int64))
        return [
            document_lines(doc, _joined(p) if p else empty, self.max_tokens)
            for doc, p in zip(docs, parts, strict=True)
        ]

    @staticmethod
    def _groups(pieces: list[tuple[int, int, int]]) -> Iterator[list[tuple[int, int, int]]]:
        """The pieces in runs of about ENCODE_CHARS characters, one encode_batch each."""
        group, chars = [], 0
        for piece in pieces:
            group.append(piece)
            chars += piece[2] - piece[1]
            if chars >= ENCODE_CHARS:
                yield group
                group, chars = [], 0
        if group:
            yield group
