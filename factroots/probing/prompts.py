"""mLAMA prompts: `[X]` → subject, `[Y]` → k mask tokens, k = the object's own token count.

A fact that cannot become a well-formed prompt (template missing `[X]` or `[Y]`, no template for
its relation, an object with no tokens, a prompt whose tokenization does not hold exactly k
contiguous masks where `[Y]` was, a prompt longer than the model accepts) is skipped and counted
with its reason, never a crash.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from factroots.errors import FactrootsError
from factroots.mlama import Fact
from factroots.tokenizer import ModelTokenizer

SLOT = re.compile(r"\[X\]|\[Y\]")


@dataclass(frozen=True)
class Prompt:
    """One fact as a masked prompt; `mask_span` is the [Y] replacement's (start, end) in `text`."""

    fact: Fact
    text: str
    object_ids: tuple[int, ...]
    mask_span: tuple[int, int]

    @property
    def k(self) -> int:
        return len(self.object_ids)


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt tokenized with special tokens, and where its k masks sit among the ids."""

    prompt: Prompt
    input_ids: tuple[int, ...]
    mask_positions: tuple[int, ...]


@dataclass(frozen=True)
class SkippedFact:
    fact: Fact
    reason: str


@dataclass
class PromptSet:
    """Encoded prompts of some facts, plus the facts skipped and why."""

    prompts: list[EncodedPrompt]
    skipped: list[SkippedFact] = field(default_factory=list)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(s.reason.split(":")[0] for s in self.skipped))


@dataclass(frozen=True)
class MaskToken:
    """The model's mask token, its id, and the separator placed between k copies of it."""

    token: str
    id: int
    separator: str


def _configured_mask_token(tokenizer: ModelTokenizer) -> str | None:
    config_path = tokenizer.path.parent / "tokenizer_config.json"
    if not config_path.is_file():
        return None
    try:
        token = json.loads(config_path.read_text(encoding="utf-8")).get("mask_token")
    except ValueError:
        return None
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else None


def _special_mask_token(tokenizer: ModelTokenizer) -> str | None:
    added = tokenizer.tokenizer.get_added_tokens_decoder().values()
    found = [t.content for t in added if t.special and "mask" in t.content.lower()]
    return found[0] if len(found) == 1 else None


def _separator(tokenizer: ModelTokenizer, token: str, token_id: int) -> str:
    """' ' if two masks joined by a space tokenize to exactly two mask ids, else ''."""
    for sep in (" ", ""):
        ids = tokenizer.tokenizer.encode(f"{token}{sep}{token}", add_special_tokens=False).ids
        if ids == [token_id, token_id]:
            return sep
    raise FactrootsError(f"tokenizer {tokenizer.path} does not keep {token!r} as one token")


def mask_token(tokenizer: ModelTokenizer) -> MaskToken:
    """The tokenizer's mask token: tokenizer_config.json's `mask_token`, else its special *mask*."""
    token = _configured_mask_token(tokenizer) or _special_mask_token(tokenizer)
    token_id = tokenizer.tokenizer.token_to_id(token) if token else None
    if token is None or token_id is None:
        raise FactrootsError(f"tokenizer {tokenizer.path} has no mask token")
    return MaskToken(token, token_id, _separator(tokenizer, token, token_id))


def template_error(template: str) -> str | None:
    """Why a template cannot make prompts, or None if it has at least one [X] and one [Y]."""
    n_x, n_y = template.count("[X]"), template.count("[Y]")
    if n_x == 0 or n_y == 0:
        missing = " and ".join(s for s, n in (("[X]", n_x), ("[Y]", n_y)) if n == 0)
        return f"template without {missing}: {template!r}"
    if n_y > 1:
        return f"template with {n_y} [Y]: {template!r}"
    return None


def fill_template(template: str, subject: str, masks: str) -> tuple[str, tuple[int, int]]:
    """The template with [X] → subject and [Y] → masks (NFC), and the masks' character span."""
    pieces, span, end = [], (0, 0), 0
    subject = unicodedata.normalize("NFC", subject)
    for match in SLOT.finditer(template):
        pieces.append(unicodedata.normalize("NFC", template[end : match.start()]))
        if match.group() == "[X]":
            pieces.append(subject)
        else:
            start = sum(len(p) for p in pieces)
            pieces.append(masks)
            span = (start, start + len(masks))
        end = match.end()
    pieces.append(unicodedata.normalize("NFC", template[end:]))
    return "".join(pieces), span


def make_prompt(
    fact: Fact, template: str, object_ids: tuple[int, ...], mask: MaskToken
) -> Prompt | SkippedFact:
    """One fact's prompt given its object's ids, or why it has none."""
    error = template_error(template)
    if error:
        return SkippedFact(fact, error)
    if not object_ids:
        return SkippedFact(fact, f"object without tokens: {fact.object!r}")
    masks = mask.separator.join([mask.token] * len(object_ids))
    text, span = fill_template(template, fact.subject, masks)
    return Prompt(fact, text, object_ids, span)


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    """A token's character span without the whitespace a left-stripping token absorbs."""
    while start < end and text[start].isspace():
        start += 1
    return start, end


def _mask_error(
    prompt: Prompt, ids: list[int], offsets: list[tuple[int, int]], mask_id: int
) -> tuple[tuple[int, ...], str | None]:
    positions = tuple(i for i, t in enumerate(ids) if t == mask_id)
    if len(positions) != prompt.k:
        return positions, f"prompt with {len(positions)} masks for k={prompt.k}"
    if positions[-1] - positions[0] != prompt.k - 1:
        return positions, "masks not contiguous"
    start, end = prompt.mask_span
    inside = [_stripped(prompt.text, *offsets[p]) for p in positions]
    if min(s for s, _ in inside) < start or max(e for _, e in inside) > end:
        return positions, "masks outside the [Y] slot"
    return positions, None


def encode_prompts(
    prompts: list[Prompt], tokenizer: ModelTokenizer, mask: MaskToken, max_length: int | None = None
) -> PromptSet:
    """Tokenize prompts (special tokens included) and check each has its k masks at [Y]."""
    result = PromptSet([])
    encodings = tokenizer.tokenizer.encode_batch([p.text for p in prompts], add_special_tokens=True)
    for prompt, enc in zip(prompts, encodings, strict=True):
        positions, error = _mask_error(prompt, enc.ids, enc.offsets, mask.id)
        if error is None and max_length is not None and len(enc.ids) > max_length:
            error = f"prompt longer than {max_length} tokens"
        if error:
            result.skipped.append(SkippedFact(prompt.fact, f"{error}: {prompt.text!r}"))
        else:
            result.prompts.append(EncodedPrompt(prompt, tuple(enc.ids), positions))
    return result


def build_prompts(
    facts: Iterable[Fact],
    templates: dict[str, str],
    tokenizer: ModelTokenizer,
    max_length: int | None = None,
) -> PromptSet:
    """Encoded prompts for facts under their relation's template; unusable facts counted."""
    mask = mask_token(tokenizer)
    made: list[Prompt] = []
    skipped: list[SkippedFact] = []
    object_ids: dict[str, tuple[int, ...]] = {}
    for fact in facts:
        template = templates.get(fact.relation)
        if template is None:
            skipped.append(SkippedFact(fact, f"no template for relation {fact.relation}"))
            continue
        if fact.object not in object_ids:
            object_ids[fact.object] = tuple(tokenizer.encode_entity(fact.object))
        prompt = make_prompt(fact, template, object_ids[fact.object], mask)
        if isinstance(prompt, Prompt):
            made.append(prompt)
        else:
            skipped.append(prompt)
    result = encode_prompts(made, tokenizer, mask, max_length)
    result.skipped[:0] = skipped
    return result
