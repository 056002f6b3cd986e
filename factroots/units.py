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

import regex

NO_SPACE_SCRIPTS = ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan")
_NO_SPACE = "".join(rf"\p{{Script={s}}}" for s in NO_SPACE_SCRIPTS)
_WORD = rf"[\p{{L}}\p{{M}}\p{{N}}\p{{Pc}}--[{_NO_SPACE}]]"
_CF = regex.compile(r"\p{Cf}+")
# With Cf removed first: a run of word characters (tried first where it starts in ASCII, the
# common case, 20 % faster) | one no-space character | any other mark.
_UNIT = regex.compile(
    rf"[A-Za-z0-9_]++(?:{_WORD}++)?|{_WORD}++|[{_NO_SPACE}]|[^\p{{White_Space}}]", regex.V1
)
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
    return [(_CF.sub("", m.group()), m.start(), m.end()) for m in _UNIT_SPAN.finditer(text)]


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


_APART = "\x00"  # a unit of its own between texts analysed together


def index_unit_lines(texts: list[str]) -> list[str]:
    """`index_units` of each text, joined by single spaces: the texts are analysed in one
    regex pass, whitespace-separated with a marker unit between them (units never span
    whitespace); a text holding the marker, or too long to be safe, is analysed alone."""
    together = [t for t in texts if len(t) <= _SAFE_CHARS and _APART not in t]
    units = word_units(f"\n{_APART}\n".join(together)) if together else []
    found = iter([piece.strip(" ") for piece in " ".join(units).split(_APART)])
    return [
        next(found) if len(t) <= _SAFE_CHARS and _APART not in t else " ".join(index_units(t)[0])
        for t in texts
    ]
