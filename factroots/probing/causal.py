"""Probing causal (decoder) LMs by ranking candidates (DESIGN.md, Probing causal LMs).

A decoder cannot fill a mask, so each fact's candidates are ranked: the distinct object labels
of its relation in its language (one label per obj_uri, the gold's among them), each put in the
fact's template and scored by the sentence's log-likelihood after the model's BOS token (EOS
where it has none). The fact is correct iff the gold scores strictly highest. The candidates of
a fact share every token before the object: that prefix is run once and its key-value cache
reused by all of them, which are batched by length (`candidate_scores`); `sentence_scores` scores
whole sentences plainly, the reference the prefix path is tested against.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from factroots.defaults import DEFAULT_BATCH_SIZE, DEFAULT_DEVICE, DEFAULT_DTYPE
from factroots.errors import FactrootsError
from factroots.mlama import Fact, load_language
from factroots.probing.checkpoints import Checkpoints, Codec, flushed
from factroots.probing.model import (
    check_model_files,
    loaded_model,
    model_directory,
    model_name,
    model_tokenizer,
    resolve_device,
)
from factroots.probing.prompts import fill_template, template_error
from factroots.tables import PREDICTIONS
from factroots.tokenizer import ModelTokenizer

#: Decoder architectures probed by ranking (config.json's `architectures`).
CAUSAL_ARCHITECTURES = (
    "LlamaForCausalLM",
    "Qwen2ForCausalLM",
    "GemmaForCausalLM",
    "BloomForCausalLM",
    "XGLMForCausalLM",
    "GPT2LMHeadModel",
    "CohereForCausalLM",
)
OBJECTIVES = ("masked", "causal")
TOP = 5


def model_objective(spec: str | Path) -> str:
    """'masked' or 'causal', from the model directory's config.json; anything else is a
    one-line error naming what is supported."""
    path = model_directory(spec)
    check_model_files(path)
    try:
        architectures = json.loads((path / "config.json").read_text()).get("architectures") or []
    except ValueError:
        raise FactrootsError(f"{path / 'config.json'} is not JSON") from None
    if any(str(a).endswith("ForMaskedLM") for a in architectures):
        return "masked"
    if any(a in CAUSAL_ARCHITECTURES for a in architectures):
        return "causal"
    raise FactrootsError(
        f"{path}: architecture {', '.join(map(str, architectures)) or 'not stated'} is not "
        f"supported (masked LMs: any *ForMaskedLM; causal LMs: {', '.join(CAUSAL_ARCHITECTURES)})"
    )


@dataclass
class CausalLM:
    """A causal LM ready for inference, with its tokenizer, BOS id and where it runs."""

    name: str
    path: Path
    model: Any  # transformers.PreTrainedModel
    tokenizer: ModelTokenizer
    device: str
    dtype: str
    bos_id: int

    @property
    def max_length(self) -> int:
        config = self.model.config
        for key in ("max_position_embeddings", "n_positions", "seq_length"):
            if getattr(config, key, None):
                return int(getattr(config, key))
        return 2048


def load_causal_lm(
    spec: str | Path, device: str = DEFAULT_DEVICE, dtype: str = DEFAULT_DTYPE
) -> CausalLM:
    """Load a causal LM of CAUSAL_ARCHITECTURES by directory or cached hub name, offline."""
    path = model_directory(spec)
    if model_objective(path) != "causal":
        raise FactrootsError(f"{path} is a masked LM: probe it with --objective masked")
    device = resolve_device(device)
    from transformers import AutoModelForCausalLM

    config, model = loaded_model(path, AutoModelForCausalLM, dtype, "causal LM")
    bos = config.bos_token_id if config.bos_token_id is not None else config.eos_token_id
    if bos is None:
        raise FactrootsError(f"{path}: config.json names neither a BOS nor an EOS token id")
    model.to(device).eval()
    return CausalLM(
        model_name(spec), path, model, model_tokenizer(path, config.model_type), device, dtype, bos
    )


# -- candidates and sentences --------------------------------------------------------------------


def relation_candidates(facts: Sequence[Fact]) -> dict[str, list[str]]:
    """Each relation's candidate labels: one label per obj_uri (its first), distinct labels,
    in first-seen order."""
    found: dict[str, dict[str, str]] = {}
    for fact in facts:
        found.setdefault(fact.relation, {}).setdefault(fact.obj_uri, fact.object)
    return {r: list(dict.fromkeys(by_uri.values())) for r, by_uri in found.items()}


def sentence_ids(lm: CausalLM, template: str, subject: str, label: str) -> list[int]:
    """BOS, then the template with [X] → subject and [Y] → label, no special tokens."""
    text, _ = fill_template(template, subject, unicodedata.normalize("NFC", label))
    return [lm.bos_id, *lm.tokenizer.tokenizer.encode(text, add_special_tokens=False).ids]


# -- scoring -------------------------------------------------------------------------------------


def _padded(rows: Sequence[Sequence[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in rows])
    ids = np.full((len(rows), int(lengths.max())), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, (np.arange(ids.shape[1])[None, :] < lengths[:, None])


def _token_log_probs(logits, targets, mask):
    """Per row, the sum of log p(target) where mask is set (float32 throughout)."""
    import torch

    log_probs = torch.log_softmax(logits.float(), dim=-1)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def _all_but_last(model, length: int, device) -> dict:
    """Forward arguments that keep the logits of the positions that predict a next token of
    the same row (the LM head, vocabulary-wide, is most of a small model's work: none for the
    last position), where the model takes `logits_to_keep` (Bloom and XGLM do not before
    transformers 5); the caller slices `[:, :length - 1]` either way."""
    import torch

    if not _forward_takes(model, "logits_to_keep"):
        return {}
    return {"logits_to_keep": torch.arange(length - 1, device=device)}


def sentence_scores(
    lm: CausalLM, sentences: Sequence[Sequence[int]], batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """Each sentence's log-likelihood after its first token, whole sentences batched plainly."""
    import torch

    scores = np.zeros(len(sentences))
    order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            chosen = order[lo : lo + batch_size]
            ids, keep = _padded([sentences[i] for i in chosen], lm.bos_id)
            ids_t = torch.from_numpy(ids).to(lm.device)
            keep_t = torch.from_numpy(keep).to(lm.device)
            logits = lm.model(
                input_ids=ids_t,
                attention_mask=keep_t.long(),
                **_all_but_last(lm.model, ids.shape[1], lm.device),
            ).logits
            found = _token_log_probs(logits[:, : ids.shape[1] - 1], ids_t[:, 1:], keep_t[:, 1:])
            scores[chosen] = found.cpu().numpy()
    return scores


def candidate_scores(
    lm: CausalLM, sentences: Sequence[Sequence[int]], batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """The same as `sentence_scores` for the sentences of one fact's candidates: the prefix
    they all share is run once, and each batch of continuations reuses its key-value cache.
    A batch holds continuations of one length, so that no padded position goes through the
    LM head; a batch of one-token continuations needs no pass of its own (the prefix's last
    position predicts them all)."""
    import torch

    prefix = _common_prefix(sentences)
    if prefix < 2:
        return sentence_scores(lm, sentences, batch_size)
    scores = np.zeros(len(sentences))
    head = torch.tensor([list(sentences[0][:prefix])], device=lm.device)
    with torch.inference_mode():
        out = lm.model(input_ids=head, use_cache=True)
        shared = float(_token_log_probs(out.logits[:, :-1], head[:, 1:], 1.0)[0])
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # each own first token
        for chosen in _same_length_batches(sentences, batch_size):
            rest, keep = _padded([sentences[i][prefix:] for i in chosen], lm.bos_id)
            rest_t = torch.from_numpy(rest).to(lm.device)
            keep_t = torch.from_numpy(keep).to(lm.device)
            found = first[rest_t[:, 0]]
            if rest.shape[1] > 1:
                logits = _continued(lm, out, rest_t, keep_t, prefix)
                found = found + _token_log_probs(logits, rest_t[:, 1:], keep_t[:, 1:])
            scores[chosen] = shared + found.cpu().numpy()
    return scores


def _same_length_batches(sentences: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Indices of the sentences in batches of at most `batch_size`, each of one length."""
    by_length: dict[int, list[int]] = {}
    for i, sentence in enumerate(sentences):
        by_length.setdefault(len(sentence), []).append(i)
    return [
        same[lo : lo + batch_size]
        for _, same in sorted(by_length.items(), reverse=True)
        for lo in range(0, len(same), batch_size)
    ]


def _continued(lm: CausalLM, out, rest, keep, prefix: int):
    """Logits of a batch of continuations after a shared prefix (`out`, its forward pass),
    at every position but their last."""
    import torch

    n, length = rest.shape
    attention = torch.cat([torch.ones(n, prefix, device=lm.device), keep], 1)
    positions = torch.arange(prefix, prefix + length, device=lm.device)
    return lm.model(
        input_ids=rest,
        attention_mask=attention.long(),
        position_ids=positions.expand(n, -1),
        use_cache=True,
        **_all_but_last(lm.model, length, lm.device),
        **{_cache_argument(lm.model): _repeated_cache(_output_cache(out), n)},
    ).logits[:, : length - 1]


def _common_prefix(sentences: Sequence[Sequence[int]]) -> int:
    """Tokens every sentence starts with, leaving each at least one of its own."""
    shortest = min(len(s) for s in sentences) - 1
    n = 0
    while n < shortest and all(s[n] == sentences[0][n] for s in sentences):
        n += 1
    return n


def _cache_argument(model) -> str:
    """The forward argument that takes a key-value cache: `cache` in recent transformers,
    `past_key_values` before."""
    return "cache" if _forward_takes(model, "cache") else "past_key_values"


_FORWARD_PARAMETERS: dict[type, frozenset[str]] = {}


def _forward_takes(model, argument: str) -> bool:
    """Whether the model's forward takes `argument` (its signature read once per model class:
    scoring asks per batch)."""
    kind = type(model)
    if kind not in _FORWARD_PARAMETERS:
        import inspect

        _FORWARD_PARAMETERS[kind] = frozenset(inspect.signature(model.forward).parameters)
    return argument in _FORWARD_PARAMETERS[kind]


def _output_cache(output):
    """A forward pass's key-value cache (`cache` in recent transformers, `past_key_values`
    before)."""
    cache = output.get("cache")  # a ModelOutput holds the fields that are set, as keys
    return cache if cache is not None else output.get("past_key_values")


def _repeated_cache(cache, n: int):
    """A copy of a batch-of-one key-value cache for n rows."""
    import copy

    repeated = copy.deepcopy(cache)
    repeated.batch_repeat_interleave(n)
    return repeated


# -- one language --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    """One fact's candidates ranked: gold rank and score, the best labels, and correctness."""

    correct: bool
    rank: int
    score: float
    per_token: float
    top: list[str]
    candidates: int


RANKED_CODEC: Codec[Ranked] = Codec(
    pa.schema(
        [
            ("correct", pa.bool_()),
            ("rank", pa.int64()),
            ("score", pa.float64()),
            ("per_token", pa.float64()),
            ("top", pa.list_(pa.string())),
            ("candidates", pa.int64()),
        ]
    ),
    lambda r: vars(r),
    lambda row: Ranked(**row),
)


def ranked(labels: Sequence[str], scores: np.ndarray, gold: str, lengths: Sequence[int]) -> Ranked:
    """DESIGN.md's rule: correct iff the gold scores strictly higher than every other
    candidate; rank = 1 + the others scoring at least as high."""
    g = labels.index(gold)
    others = np.delete(scores, g)
    order = np.argsort(-scores, kind="stable")
    return Ranked(
        bool((others < scores[g]).all()),
        1 + int((others >= scores[g]).sum()),
        float(scores[g]),
        float(scores[g]) / max(lengths[g] - 1, 1),
        [labels[i] for i in order[:TOP]],
        len(labels),
    )


@dataclass
class GoldBatch:
    """Gold sentences run together for attribution, as `on_batch` sees them: `positions[i]`
    are the tokens of fact i's gold sentence whose next token is one of its object's."""

    facts: list[Fact]
    mask_positions: list[list[int]]
    correct_flags: list[bool]

    def correct(self, _predictions=None) -> list[bool]:
        return self.correct_flags


def gold_sentence(lm: CausalLM, template: str, fact: Fact) -> tuple[list[int], list[int]]:
    """The gold sentence's ids (BOS first) and the positions that predict its object's tokens
    (the token before each: the object's k-th token is at position p + 1)."""
    text, (start, end) = fill_template(
        template, fact.subject, unicodedata.normalize("NFC", fact.object)
    )
    encoding = lm.tokenizer.tokenizer.encode(text, add_special_tokens=False)
    inside = [i for i, (a, b) in enumerate(encoding.offsets) if a < end and b > start]
    return [lm.bos_id, *encoding.ids], inside  # token i sits at i + 1 after BOS


def _gold_pass(lm: CausalLM, chunk, found: Sequence[Ranked], on_batch) -> None:
    """One forward pass of the chunk's gold sentences with `on_batch`'s hooks catching it."""
    import torch

    golds = [gold_sentence(lm, template, fact) for fact, template in chunk]
    ids, keep = _padded([ids for ids, _ in golds], lm.bos_id)
    start = getattr(on_batch, "start_pass", None)
    if start is not None:
        start()
    with torch.inference_mode():
        lm.model(
            input_ids=torch.from_numpy(ids).to(lm.device),
            attention_mask=torch.from_numpy(keep).to(lm.device).long(),
        )
        on_batch(
            GoldBatch([f for f, _ in chunk], [p for _, p in golds], [r.correct for r in found]),
            None,
        )


def probe_causal_language(
    lm: CausalLM,
    mlama_dir: Path,
    lang: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
    checkpoints: Checkpoints[Ranked] | None = None,
) -> tuple[pa.Table, dict[str, int]]:
    """One language's prediction table (PREDICTIONS, causal columns filled) and its skipped
    facts by reason. With `on_batch` (attribution hooks on the model), the gold sentences of
    each `batch_size` facts are run once more, together, and handed over as a GoldBatch. With
    `checkpoints`, facts ranked by an earlier, interrupted run are not ranked again."""
    language = load_language(mlama_dir, lang)
    candidates = relation_candidates(language.facts)
    skipped: dict[str, int] = {}
    if language.skipped:
        skipped["malformed mLAMA record"] = len(language.skipped)
    usable: list[tuple[Fact, str]] = []
    for fact in language.facts:
        template = language.templates.get(fact.relation, "")
        reason = template_error(template) if template else "no template"
        if reason:
            kind = reason.split(":")[0]
            skipped[kind] = skipped.get(kind, 0) + 1
        else:
            usable.append((fact, template))
    if on_start is not None:
        on_start(lang, len(usable))
    saved = checkpoints.saved() if checkpoints is not None else {}
    rows: list[tuple[Fact, Ranked]] = []
    with flushed(checkpoints):
        for lo in range(0, len(usable), batch_size):
            chunk = usable[lo : lo + batch_size]
            found = [
                saved[lo + i]
                if lo + i in saved
                else _ranked_fact(lm, fact, template, candidates, batch_size)
                for i, (fact, template) in enumerate(chunk)
            ]
            if checkpoints is not None:
                fresh = [lo + i for i in range(len(chunk)) if lo + i not in saved]
                checkpoints.add(fresh, [found[i - lo] for i in fresh])
            if on_batch is not None:
                _gold_pass(lm, chunk, found, on_batch)
            rows += [(fact, r) for (fact, _), r in zip(chunk, found, strict=True)]
            if on_progress is not None:
                on_progress(len(chunk))
    return prediction_table(lm, rows), skipped


def _ranked_fact(
    lm: CausalLM, fact: Fact, template: str, candidates: dict[str, list[str]], batch_size: int
) -> Ranked:
    labels = candidates[fact.relation]
    sentences = [sentence_ids(lm, template, fact.subject, label) for label in labels]
    scores = candidate_scores(lm, sentences, batch_size)
    return ranked(labels, scores, fact.object, [len(s) for s in sentences])


def prediction_table(lm: CausalLM, rows: Sequence[tuple[Fact, Ranked]]) -> pa.Table:
    """PREDICTIONS rows of ranked facts: the predicted and top ids are the best candidates'
    label tokens (as `encode_entity` gives them), k the gold label's."""

    def ids(label: str) -> list[int]:
        return lm.tokenizer.encode_entity(label)

    columns: dict[str, list] = {
        "model": [lm.name] * len(rows),
        "lang": [f.lang for f, _ in rows],
        "relation": [f.relation for f, _ in rows],
        "uuid": [f.uuid for f, _ in rows],
        "subject": [f.subject for f, _ in rows],
        "object": [f.object for f, _ in rows],
        "obj_uri": [f.obj_uri for f, _ in rows],
        "k": [len(ids(f.object)) for f, _ in rows],
        "object_ids": [ids(f.object) for f, _ in rows],
        "predicted_ids": [ids(r.top[0]) for _, r in rows],
        "top5_ids": [[ids(label) for label in r.top] for _, r in rows],
        "prediction": [r.top[0] for _, r in rows],
        "correct": [r.correct for _, r in rows],
        "objective": ["causal"] * len(rows),
        "gold_rank": [r.rank for _, r in rows],
        "gold_score": [r.score for _, r in rows],
        "gold_score_per_token": [r.per_token for _, r in rows],
        "candidates": [r.candidates for _, r in rows],
        "top5_candidates": [r.top for _, r in rows],
    }
    return pa.table(columns, schema=PREDICTIONS.schema)
