"""Word units, the vocabulary of the `words` matching mode (DESIGN.md, Matching).

A character of a script written without spaces is a unit of its own; a maximal run of word
characters (L, M, N, Pc) is a unit; any other non-whitespace character is a unit; whitespace only
separates; format characters (Cf) are ignored everywhere and never break a run.
"""

from __future__ import annotations

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
    return [(_CF.sub("", m.group()), m.start(), m.end()) for m in _UNIT_SPAN.finditer(text)]
