"""Tiny BERT masked LMs with the real mBERT tokenizer, saved locally: a random one, and one
rigged to know the demo's facts (so that the demo has correct facts, neurons and Figures 4–5)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from factroots.tokenizer import BUNDLED

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")
RIGGED_HIDDEN = 64


def _tiny_bert(hidden: int, seed: int, tied: bool = True):
    import torch
    from transformers import BertConfig, BertForMaskedLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    config = BertConfig(
        vocab_size=119547,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(seed)
    return BertForMaskedLM(config).eval()


def _saved(model, target: str | Path) -> Path:
    target = Path(target)
    model.save_pretrained(target)
    source = BUNDLED["mbert"].parent
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, target / name)
    return target


def write_tiny_model(target: str | Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide random BertForMaskedLM (mBERT vocabulary) into `target`."""
    return _saved(_tiny_bert(32, seed), target)


def write_rigged_model(target: str | Path, prompts: Sequence, seed: int = 0) -> Path:
    """Save a 2-layer BertForMaskedLM that predicts the object of each of `prompts` (the
    EncodedPrompts the prober builds), whatever their number of masks, into `target`.

    How: every layer's attention is uniform (query and key zero) and passes values unchanged,
    so each position holds its own embedding plus the mean of the prompt's; the FFN's output
    is zero (its input, the activations attribution reads, stays random and fact-dependent).
    Three kinds of one-hot codes make the embeddings: the subject's first token, a token of the
    template no other template has (the cue), and each mask's position. The decoder row of the
    object's j-th token is the sum of its fact's subject, cue and j-th mask position codes, so
    at that mask it outscores every other fact's tokens."""
    import torch

    model = _tiny_bert(RIGGED_HIDDEN, seed, tied=False)  # its own decoder rows
    codes: dict[tuple[str, int], int] = {}

    def code(kind: str, value: int) -> int:
        if (kind, value) not in codes:
            codes[(kind, value)] = len(codes)
        if len(codes) > RIGGED_HIDDEN:
            raise ValueError(f"more than {RIGGED_HIDDEN} codes: too many facts to rig")
        return codes[(kind, value)]

    cues = _template_cues(prompts)
    rows: list[tuple[int, list[int]]] = []
    for p in prompts:
        subject = p.input_ids[1]  # after [CLS]: every demo template starts with [X]
        fact_codes = [code("token", subject)]
        cue = cues.get((p.prompt.fact.lang, p.prompt.fact.relation))
        if cue is not None:
            fact_codes.append(code("token", cue))
        for position, token in zip(p.mask_positions, p.prompt.object_ids, strict=True):
            rows.append((token, [*fact_codes, code("position", position)]))
    base = model.bert
    with torch.no_grad():
        emb = base.embeddings
        for table in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
            table.weight.zero_()
        for (kind, value), c in codes.items():
            table = emb.word_embeddings if kind == "token" else emb.position_embeddings
            table.weight[value, c] = 1.0
        eye = torch.eye(RIGGED_HIDDEN)
        for layer in base.encoder.layer:
            attention = layer.attention.self
            for dense in (attention.query, attention.key):
                dense.weight.zero_()
                dense.bias.zero_()
            for dense in (attention.value, layer.attention.output.dense):
                dense.weight.copy_(eye)
                dense.bias.zero_()
            layer.output.dense.weight.zero_()
            layer.output.dense.bias.zero_()
        head = model.cls.predictions
        head.transform.dense.weight.copy_(eye)
        head.transform.dense.bias.zero_()
        head.decoder.weight.zero_()
        head.bias.zero_()
        for token, row_codes in rows:
            for c in row_codes:
                head.decoder.weight[token, c] = 1.0  # a token shared by facts: each code once
    return _saved(model, target)


def _template_cues(prompts: Sequence) -> dict[tuple[str, str], int]:
    """For each (language, relation), a token of its prompts' template that no other
    template's prompts have (none where every token is shared)."""
    tokens: dict[tuple[str, str], set[int]] = {}
    for p in prompts:
        key = (p.prompt.fact.lang, p.prompt.fact.relation)
        masks = set(p.mask_positions)
        around = {t for i, t in enumerate(p.input_ids) if i not in masks}
        tokens[key] = tokens.get(key, around) & around
    cues = {}
    for key, own in tokens.items():
        others = set().union(*(t for k, t in tokens.items() if k != key))
        unique = sorted(own - others)
        if unique:
            cues[key] = unique[0]
    return cues
