"""Mark where an entity's terms occur in a line's text, for showing evidence."""

from __future__ import annotations

from factroots.search.entity import EntityTerms
from factroots.tokenizer import ModelTokenizer
from factroots.units import index_term, word_unit_spans

SNIPPET_CHARS = 500  # an evidence snippet's length, about (whole windows are kept)


def _find_runs(haystack: list[str], needle: tuple[str, ...]) -> list[int]:
    """Where `needle` starts in `haystack`, each position whose term is its first checked."""
    n, first = len(needle), needle[0]
    return [
        i
        for i, term in enumerate(haystack)
        if term == first and tuple(haystack[i : i + n]) == needle
    ]


def line_terms(
    text: str, mode: str, tokenizer: ModelTokenizer
) -> tuple[list[str], list[tuple[int, int]]]:
    """A line's terms as the index holds them in `mode`, with each one's character span."""
    if mode == "words":
        units = word_unit_spans(text)
        return [index_term(u) for u, _, _ in units], [(s, e) for _, s, e in units]
    encoding = tokenizer.tokenizer.encode(text, add_special_tokens=False)
    return [str(i) for i in encoding.ids], encoding.offsets


def spans_in(
    terms: list[str], bounds: list[tuple[int, int]], entity: EntityTerms
) -> list[tuple[int, int]]:
    """Character spans of every mention of `entity` in a line given as `line_terms`."""
    if not entity.traceable:
        return []
    n = len(entity.terms)
    return [(bounds[i][0], bounds[i + n - 1][1]) for i in _find_runs(terms, entity.terms)]


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def marked_text(
    text: str, spans: list[tuple[int, int]], open_mark: str = "«", close_mark: str = "»"
) -> str:
    """`text` with each merged span wrapped in marks."""
    out, pos = [], 0
    for start, end in merge_spans(spans):
        out += [text[pos:start], open_mark, text[start:end], close_mark]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def snippet(
    text: str,
    spans: list[tuple[int, int]],
    context: int = 60,
    open_mark: str = "«",
    close_mark: str = "»",
    limit: int = SNIPPET_CHARS,
) -> str:
    """The marked mentions with `context` characters around each, gaps shown as '…'; windows
    past about `limit` characters are left out and counted."""
    windows = _within(
        merge_spans(
            [(max(0, s - context), min(len(text), e + context)) for s, e in merge_spans(spans)]
        ),
        spans,
        limit,
    )
    if not windows:
        return text[: 2 * context] + ("…" if len(text) > 2 * context else "")
    parts = []
    for start, end in windows:
        inside = [
            (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
        ]
        parts.append(marked_text(text[start:end], inside, open_mark, close_mark))
    head = "…" if windows[0][0] > 0 else ""
    left = sum(1 for s, _ in spans if s >= windows[-1][1])
    if left:
        return head + " … ".join(parts) + f" … (+{left} more)"
    tail = "…" if windows[-1][1] < len(text) else ""
    return head + " … ".join(parts) + tail


def _within(
    windows: list[tuple[int, int]], spans: list[tuple[int, int]], limit: int
) -> list[tuple[int, int]]:
    """The first windows whose lengths add up to about `limit` characters, the last one cut
    after `limit` (but never inside a mention)."""
    kept, length = [], 0
    for start, end in windows:
        if length + end - start <= limit:
            kept.append((start, end))
            length += end - start
            continue
        cut = start + max(limit - length, 0)
        cut = max([cut] + [e for s, e in spans if s < cut < e])
        if cut > start:
            kept.append((start, min(cut, end)))
        break
    return kept
