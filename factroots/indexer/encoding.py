"""A text's token encoding as arrays: from the tokenizer, or memoized by whitespace chunk.

The lines of DESIGN.md (Corpus and lines) are cut from the tokenizer's own encoding of a whole
document. `ChunkEncoder` gives that very encoding, tokenizing each distinct chunk of a build once.

A *safe space* is a single U+0020 between two *safe characters*: a letter, number, punctuation
or symbol that is a grapheme cluster boundary on its space's side (not Prepend before it, not
Extend, ZWJ or SpacingMark after it) and that the tokenizer's normalizer maps, alone, to a
non-empty string with no whitespace or ▁ in it. For the pipelines `memoizable` accepts, the
normalizers map graphemes one at a time (their rule collapsing runs of spaces never reaches
across a safe space) and the pre-tokenizers split at every space, so a text's encoding is the
concatenation of the encodings of its *chunks*, the runs between safe spaces (each with the space
before it). A chunk between two safe spaces is tokenized once per build, in a joined text of new
chunks, and its ids, offsets and word ids are reused wherever it recurs; a text's first and last
chunk (at the text's edge) are tokenized as they are. A text holding an added token's content,
or whose chunks are long (scripts written without spaces), is tokenized whole, as is every text
of a tokenizer `memoizable` does not accept. tests/test_encoding.py checks, on the shared samples
and on generated texts, that both encoders give the same arrays.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numba
import numpy as np
import regex
from tokenizers import Tokenizer

__all__ = ["ChunkEncoder", "Encoded", "TokenizerEncoder", "encoder_for", "memoizable"]

# The memo starts afresh once it holds more than MEMO_CHUNKS chunks or MEMO_TOKENS tokens:
# about 110 MB of keys and 64 MB of tokens at most, beside a build's 1.2-1.4 GB.
MEMO_CHUNKS = 1 << 20
MEMO_TOKENS = 1 << 22
JOIN_CHARS = 1 << 16  # characters per joined text of new chunks (encode_batch spreads them)
WHOLE_CHARS_PER_CHUNK = 32  # a text whose chunks are longer on average is tokenized whole
SPACE = " "
_ALONE = "\x00"  # key prefix of a chunk tokenized as it is (no text's middle chunk starts so)

_NORMALIZERS = {"BertNormalizer", "Precompiled", "NFC", "NFD", "NFKC", "NFKD", "Lowercase"}
_SPACE_RUNS = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
_PRE_TOKENIZERS = {"BertPreTokenizer", "WhitespaceSplit"}
_MODELS = {"WordPiece", "Unigram", "BPE"}
_NOT_AT_SPACE = regex.compile(r"[\p{GCB=Prepend}\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]")
_UNSEEN, _SAFE, _UNSAFE = 255, 1, 0


@dataclass(frozen=True)
class Encoded:
    """A text's tokens: ids, character offsets into the text, word ids (-1: none)."""

    ids: np.ndarray
    offsets: np.ndarray
    word_ids: np.ndarray

    @staticmethod
    def of(encoding) -> Encoded:
        """The arrays of a HF `Encoding`."""
        words = np.array(encoding.word_ids, dtype=np.float64).reshape(-1)  # None: NaN
        word_ids = np.where(np.isnan(words), -1, words).astype(np.int64)
        pairs = encoding.offsets
        offsets = np.fromiter(chain.from_iterable(pairs), np.int64, 2 * len(pairs))
        return Encoded(np.asarray(encoding.ids, dtype=np.int32), offsets.reshape(-1, 2), word_ids)


def _state(component) -> dict:
    return json.loads(component.__getstate__()) if component is not None else {}


def _normalizer_ok(state: dict) -> bool:
    if not state:
        return True
    if state.get("type") == "Sequence":
        return all(_normalizer_ok(s) for s in state.get("normalizers", []))
    return state.get("type") in _NORMALIZERS or state == _SPACE_RUNS


def _pre_tokenizer_ok(state: dict) -> bool:
    if state.get("type") == "Metaspace":
        prepends = state.get("prepend_scheme", "always" if state.get("add_prefix_space") else "")
        return prepends == "always" and state.get("split", True) is True
    return state.get("type") in _PRE_TOKENIZERS


def memoizable(tokenizer: Tokenizer) -> bool:
    """Whether a text's encoding by `tokenizer` is the concatenation of its chunks' (see the
    module docstring): the pipeline's parts are all among those known to be."""
    model = type(tokenizer.model).__name__
    return (
        model in _MODELS
        and getattr(tokenizer.model, "dropout", None) is None
        and _normalizer_ok(_state(tokenizer.normalizer))
        and _pre_tokenizer_ok(_state(tokenizer.pre_tokenizer))
        and all(not t.normalized for t in tokenizer.get_added_tokens_decoder().values())
    )


class TokenizerEncoder:
    """Each text tokenized whole by `encode_batch`."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [Encoded.of(e) for e in encodings]


def encoder_for(tokenizer: Tokenizer, memo: bool = True) -> TokenizerEncoder | ChunkEncoder:
    """The memoizing encoder where `memo` and `memoizable(tokenizer)`, else the plain one."""
    return (
        ChunkEncoder(tokenizer) if memo and memoizable(tokenizer) else TokenizerEncoder(tokenizer)
    )


@numba.njit(cache=True)
def _safe_spaces(points: np.ndarray, table: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each piece of a text split at every space, whether the space before it is safe."""
    safe = np.zeros(lengths.shape[0], dtype=np.bool_)
    at = lengths[0]  # the space before piece k
    for k in range(1, lengths.shape[0]):
        if 0 < at < points.shape[0] - 1:
            safe[k] = table[points[at - 1]] == _SAFE and table[points[at + 1]] == _SAFE
        at += lengths[k] + 1
    return safe


@numba.njit(cache=True)
def _gathered(slots, starts, first, last, ids, offsets, words):
    """One text's arrays from its chunks' memoized tokens (chunk k at character `starts[k]`),
    word ids numbered on from chunk to chunk."""
    total = 0
    for k in range(slots.shape[0]):
        total += last[slots[k]] - first[slots[k]]
    out_ids = np.empty(total, dtype=np.int32)
    out_offsets = np.empty((total, 2), dtype=np.int64)
    out_words = np.empty(total, dtype=np.int64)
    o = 0
    word = 0
    for k in range(slots.shape[0]):
        top = -1
        for t in range(first[slots[k]], last[slots[k]]):
            out_ids[o] = ids[t]
            out_offsets[o, 0] = offsets[t, 0] + starts[k]
            out_offsets[o, 1] = offsets[t, 1] + starts[k]
            out_words[o] = words[t] + word
            top = max(top, words[t])
            o += 1
        word += top + 1
    return out_ids, out_offsets, out_words


@dataclass
class _Chunked:
    """A text cut into chunks: their memo keys and where each starts in the text."""

    keys: list[str]
    starts: np.ndarray


class ChunkEncoder:
    """Encodings by memoized chunk (see the module docstring)."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._whole = TokenizerEncoder(tokenizer)
        self._added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        self._table = np.full(0x110000, _UNSEEN, dtype=np.uint8)
        self._memo: dict[str, int] = {}  # chunk key -> slot
        self._first = np.empty(0, dtype=np.int64)  # slot -> its first token in the store
        self._last = np.empty(0, dtype=np.int64)
        self._ids = np.empty(0, dtype=np.int32)
        self._offsets = np.empty((0, 2), dtype=np.int32)  # from the chunk's start
        self._words = np.empty(0, dtype=np.int32)  # from the chunk's first word
        self._stored = 0  # tokens in the store

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        if self._stored > MEMO_TOKENS or len(self._memo) > MEMO_CHUNKS:
            self._forget()
        chunked = [self._chunked(text) for text in texts]
        whole = iter(self._whole.encode([t for t, c in zip(texts, chunked, strict=True) if not c]))
        slots = iter(self._slots([key for c in chunked if c for key in c.keys]))
        return [self._assembled(c, slots) if c else next(whole) for c in chunked]

    def _assembled(self, chunked: _Chunked, slots) -> Encoded:
        mine = np.fromiter(slots, np.int64, len(chunked.keys))
        store = (self._first, self._last, self._ids, self._offsets, self._words)
        return Encoded(*_gathered(mine, chunked.starts, *store))

    def _chunked(self, text: str) -> _Chunked | None:
        """`text`'s chunks, or None when it is to be tokenized whole."""
        pieces = text.split(SPACE)
        if len(pieces) < 3 or len(text) > WHOLE_CHARS_PER_CHUNK * len(pieces):
            return None
        if any(added in text for added in self._added) or self._vanishes(text[0]):
            return None
        lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        spaces = np.cumsum(lengths + 1) - lengths - 2  # the space before each piece (-1: none)
        around = np.concatenate((spaces[1:] - 1, spaces[1:] + 1)).clip(0, points.size - 1)
        cuts = np.flatnonzero(_safe_spaces(points, self._safe_table(points[around]), lengths))
        if cuts.size < 2:
            return None
        if cuts.size == len(pieces) - 1:
            keys = pieces
        else:
            bounds = [0, *cuts.tolist(), len(pieces)]
            keys = [SPACE.join(pieces[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
        keys[0] = _ALONE + keys[0]
        keys[-1] = _ALONE + SPACE + keys[-1]
        return _Chunked(keys, np.concatenate(([0], spaces[cuts])))

    def _safe_table(self, points: np.ndarray) -> np.ndarray:
        """Each code point's safety, known at least for `points` (the characters beside spaces)."""
        for point in np.unique(points[self._table[points] == _UNSEEN]).tolist():
            self._table[point] = _SAFE if self._is_safe(chr(point)) else _UNSAFE
        return self._table

    def _vanishes(self, char: str) -> bool:
        """Whether the normalizer removes `char`: at a text's start, such a character moves the
        offsets of every token after it (tokenizers 0.23, XLM-R), so that text goes whole."""
        normalizer = self.tokenizer.normalizer
        return normalizer is not None and not normalizer.normalize_str(char)

    def _is_safe(self, char: str) -> bool:
        if unicodedata.category(char)[0] not in "LNPS" or _NOT_AT_SPACE.match(char):
            return False
        normalizer = self.tokenizer.normalizer
        normal = normalizer.normalize_str(char) if normalizer is not None else char
        return bool(normal) and not any(c.isspace() or c == "\u2581" for c in normal)

    def _slots(self, keys: list[str]) -> np.ndarray:
        """Each key's slot in the store, the new ones tokenized and stored now."""
        memo, before = self._memo, len(self._memo)
        slots = np.fromiter(map(memo.get, keys, repeat(-1)), np.int64, len(keys))
        missing = np.flatnonzero(slots < 0).tolist()
        if missing:
            new = list(dict.fromkeys([keys[k] for k in missing]))
            memo.update(zip(new, range(before, before + len(new)), strict=True))
            self._store(new, before)
            slots[missing] = [memo[keys[k]] for k in missing]
        return slots

    def _store(self, new: list[str], first_slot: int) -> None:
        """Tokenize the chunks `new` (slots from `first_slot` on, in order) and store them."""
        alone = [key[len(_ALONE) :] for key in new if key.startswith(_ALONE)]
        middle = [key for key in new if not key.startswith(_ALONE)]
        groups = _joined_groups(middle)
        encodings = self.tokenizer.encode_batch(
            [SPACE + SPACE.join(g) for g in groups] + alone, add_special_tokens=False
        )
        parts = [_split_joined(g, Encoded.of(e)) for g, e in zip(groups, encodings, strict=False)]
        parts += [(Encoded.of(e), np.array([len(e.ids)])) for e in encodings[len(groups) :]]
        slots = np.array([self._memo[k] for k in chain(middle, (_ALONE + a for a in alone))])
        sizes = np.concatenate([counts for _, counts in parts])
        end = self._stored + int(sizes.sum())
        self._reserve(first_slot + len(new), end)
        self._last[slots] = self._stored + np.cumsum(sizes)
        self._first[slots] = self._last[slots] - sizes
        self._ids[self._stored : end] = np.concatenate([e.ids for e, _ in parts])
        self._offsets[self._stored : end] = np.concatenate([e.offsets for e, _ in parts])
        self._words[self._stored : end] = np.concatenate([e.word_ids for e, _ in parts])
        self._stored = end

    def _reserve(self, slots: int, tokens: int) -> None:
        if slots > self._first.size:
            size = max(slots, 2 * self._first.size)
            self._first = np.resize(self._first, size)
            self._last = np.resize(self._last, size)
        if tokens > self._ids.size:
            size = max(tokens, 2 * self._ids.size)
            self._ids = np.resize(self._ids, size)
            self._offsets = np.resize(self._offsets, (size, 2))
            self._words = np.resize(self._words, size)

    def _forget(self) -> None:
        self._memo.clear()
        self._stored = 0


def _joined_groups(chunks: list[str]) -> list[list[str]]:
    """`chunks` in runs of about JOIN_CHARS characters, each tokenized as one joined text."""
    groups, group, chars = [], [], 0
    for chunk in chunks:
        group.append(chunk)
        chars += len(chunk) + 1
        if chars >= JOIN_CHARS:
            groups.append(group)
            group, chars = [], 0
    if group:
        groups.append(group)
    return groups


def _split_joined(chunks: list[str], joined: Encoded) -> tuple[Encoded, np.ndarray]:
    """The tokens of " " + " ".join(chunks), each given to the chunk its first character is
    in (offsets from the chunk's space, word ids from the chunk's first), and each chunk's
    count of them."""
    starts = np.cumsum([0] + [len(c) + 1 for c in chunks[:-1]])
    owner = np.searchsorted(starts, joined.offsets[:, 0], side="right") - 1
    counts = np.bincount(owner, minlength=len(chunks))
    first_token = np.cumsum(counts) - counts
    offsets = joined.offsets - starts[owner][:, None]
    words = joined.word_ids - joined.word_ids[first_token[owner]]
    return Encoded(joined.ids, offsets, words), counts
