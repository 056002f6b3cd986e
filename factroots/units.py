"""Word units, the vocabulary of the `words` matching mode (DESIGN.md, Matching).

A character of a script written without spaces is a unit of its own; a maximal run of word
characters (L, M, N, Pc) is a unit; any other non-whitespace character is a unit; whitespace only
separates; format characters (Cf) are ignored everywhere and never break a run.

tantivy drops a term longer than MAX_UNIT_BYTES from its index without a word, so a unit that
long is indexed, and matched, as its *stand-in* (`index_units`, `index_term`): its first
STAND_IN_HEAD_BYTES bytes (cut at a character boundary), "…", and a 128-bit BLAKE2b hash of the
whole unit. Two long units share a stand-in only by a hash collision, and no text's unit is ever
one (a unit holding "…" and other characters cannot be cut), so matching is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numba
import numpy as np
import regex

NO_SPACE_SCRIPTS = ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan")
_NO_SPACE = "".join(rf"\p{{Script={s}}}" for s in NO_SPACE_SCRIPTS)
_WORD = rf"[\p{{L}}\p{{M}}\p{{N}}\p{{Pc}}--[{_NO_SPACE}]]"
_CF = regex.compile(r"\p{Cf}+")
# With Cf removed first: one no-space character | a run of word characters | any other mark.
_UNIT = regex.compile(rf"[{_NO_SPACE}]|{_WORD}+|[^\p{{White_Space}}]", regex.V1)
# The same on raw text, Cf allowed inside and after a run, for spans into the original text.
_UNIT_SPAN = regex.compile(
    rf"[{_NO_SPACE}]|{_WORD}(?:{_WORD}|\p{{Cf}})*|[^\p{{White_Space}}\p{{Cf}}]", regex.V1
)


def word_units(text: str) -> list[str]:
    """The word units of `text`, in order."""
    if _CF.search(text):
        text = _CF.sub("", text)
    return _UNIT.findall(text)


def word_unit_spans(text: str) -> list[tuple[str, int, int]]:
    """The word units of `text` with their (start, end) character offsets in `text`."""
    spans = [(m.group(), *m.span()) for m in _UNIT_SPAN.finditer(text)]
    if _CF.search(text):  # format characters stay inside a unit's span, out of its text
        return [(_CF.sub("", unit), start, end) for unit, start, end in spans]
    return spans


MAX_UNIT_BYTES = 65_530  # tantivy's MAX_TOKEN_LEN (u16::MAX - 5): longer terms are dropped
STAND_IN_HEAD_BYTES = 64
_SAFE_CHARS = MAX_UNIT_BYTES // 4  # no text this long (in characters) has a unit over the limit


def stand_in(unit: str) -> str:
    """The term that stands for a unit longer than MAX_UNIT_BYTES in an index."""
    data = unit.encode("utf-8")
    head = data[:STAND_IN_HEAD_BYTES].decode("utf-8", errors="ignore")
    return f"{head}\u2026{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def index_term(unit: str) -> str:
    """`unit` as an index holds it: itself, or its stand-in when it is too long."""
    if len(unit) > _SAFE_CHARS and len(unit.encode("utf-8")) > MAX_UNIT_BYTES:
        return stand_in(unit)
    return unit


def index_units(text: str) -> tuple[list[str], int]:
    """The word units of `text` as an index holds them (`index_term`), and how many of them
    were too long and replaced by a stand-in."""
    units = word_units(text)
    if len(text) <= _SAFE_CHARS:
        return units, 0
    terms = [index_term(u) for u in units]
    return terms, sum(t is not u for t, u in zip(terms, units, strict=True))


# Character classes of the batch analyser, by precedence: format characters are dropped
# (never breaking a run), whitespace only separates, a no-space character is a unit of its own,
# word characters run together, any other character is a unit of its own.
_FORMAT, _SPACE, _NO_SPACE_CHAR, _WORD_CHAR, _OTHER = 0, 1, 2, 3, 4
_SEPARATOR, _END = ord(" "), ord("\n")
_UNKNOWN = 255
_CLASS_PATTERNS = (  # by precedence: the first that matches gives a character's class
    (_FORMAT, regex.compile(r"\p{Cf}")),
    (_SPACE, regex.compile(r"\p{White_Space}")),
    (_NO_SPACE_CHAR, regex.compile(f"[{_NO_SPACE}]", regex.V1)),
    (_WORD_CHAR, regex.compile(_WORD, regex.V1)),
)
_classes = np.full(0x110000, _UNKNOWN, dtype=np.uint8)  # filled in as characters are seen


def _class_table(points: np.ndarray) -> np.ndarray:
    """Each code point's class, known at least for `points`: a character is classified the
    first time it is seen, by the very patterns `word_units` uses."""
    for point in np.unique(points[_classes[points] == _UNKNOWN]).tolist():
        char = chr(point)
        _classes[point] = next(
            (cls for cls, pattern in _CLASS_PATTERNS if pattern.match(char)), _OTHER
        )
    return _classes


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@numba.njit(cache=True)
def _unit_text(points: np.ndarray, ends: np.ndarray, table: np.ndarray, safe: int):
    """The code points of each text's units, joined by spaces, each text ended by a newline,
    and whether each text has a unit longer than `safe` characters."""
    out = np.empty(2 * points.shape[0] + ends.shape[0], dtype=np.uint32)
    risky = np.zeros(ends.shape[0], dtype=np.bool_)
    o = 0
    start = 0
    for k in range(ends.shape[0]):
        first = True
        run = 0  # characters of the word run being written, 0 outside one
        for i in range(start, ends[k]):
            cls = table[points[i]]
            if cls == _FORMAT:  # dropped, never breaking a run
                continue
            if cls == _WORD_CHAR and run > 0:  # the run goes on
                out[o] = points[i]
                o += 1
                run += 1
                risky[k] |= run > safe
                continue
            run = 0
            if cls == _SPACE:
                continue
            if not first:
                out[o] = _SEPARATOR
                o += 1
            first = False
            out[o] = points[i]
            o += 1
            run = 1 if cls == _WORD_CHAR else 0
        out[o] = _END
        o += 1
        start = ends[k]
    return out[:o], risky


def index_unit_lines(texts: Sequence[str]) -> tuple[list[str], int]:
    """`index_units` of each text, joined by single spaces, and how many units were replaced by
    a stand-in: the texts are analysed in one numba pass over their code points (the classes
    taken from `word_units`'s own patterns); a text with a unit long enough to need a stand-in
    is analysed again by `index_units`."""
    if not texts:
        return [], 0
    points = _code_points("".join(texts))
    ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)))
    out, risky = _unit_text(points, ends, _class_table(points), _SAFE_CHARS)
    lines = out.tobytes().decode("utf-32-le", "surrogatepass").split("\n")[:-1]
    replaced = 0
    for k in np.flatnonzero(risky).tolist():
        units, stand_ins = index_units(texts[k])
        lines[k] = " ".join(units)
        replaced += stand_ins
    return lines, replaced
