"""Helpers for the probing tests (no tests here): small mLAMA copies and tiny masked LMs."""

from __future__ import annotations

import shutil
from pathlib import Path

MBERT_VOCAB = 119547
XLMR_VOCAB = 250002


def small_mlama(
    source: Path, target: Path, langs: list[str], per_relation: int, relations: int | None = None
) -> Path:
    """A copy of mLAMA with only the first `per_relation` lines of each relation file (of the
    first `relations` files by name, when given)."""
    for lang in langs:
        (target / lang).mkdir(parents=True)
        shutil.copy(source / lang / "templates.jsonl", target / lang / "templates.jsonl")
        files = sorted(p for p in (source / lang).glob("*.jsonl") if p.name != "templates.jsonl")
        for path in files[:relations]:
            with open(path, encoding="utf-8") as fh:
                lines = [line for _, line in zip(range(per_relation), fh, strict=False)]
            (target / lang / path.name).write_text("".join(lines), encoding="utf-8")
    return target


def tiny_config(kind: str, hidden: int = 16, positions: int = 128, tied: bool = True):
    """A 2-layer config with the real tokenizer's vocabulary size."""
    from transformers import BertConfig, XLMRobertaConfig

    common = {
        "hidden_size": hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden,
        "tie_word_embeddings": tied,
    }
    if kind == "bert":
        return BertConfig(vocab_size=MBERT_VOCAB, max_position_embeddings=positions, **common)
    return XLMRobertaConfig(
        vocab_size=XLMR_VOCAB,
        max_position_embeddings=positions + 2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **common,
    )


def tiny_model(config, seed: int = 0):
    import torch
    from transformers import AutoModelForMaskedLM

    torch.manual_seed(seed)
    return AutoModelForMaskedLM.from_config(config).eval()


def save_model(model, tokenizer_dir: Path, target: Path) -> Path:
    """Save `model` with the tokenizer files of `tokenizer_dir` into `target`."""
    model.save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, target / name)
    return target


def rig_by_position(model, targets: dict[int, int]) -> None:
    """Make the model predict `targets[p]` at any mask at token position p, whatever the text.

    Word and token-type embeddings are zeroed, attention and FFN outputs zeroed (each layer is
    then the identity up to LayerNorm), position p's embedding is the one-hot e_p, the head's
    transform is the identity and the decoder row of `targets[p]` points at e_p. Positions
    without a target predict id 0 (a special token, never an object).
    """
    import torch

    base, config = model.base_model, model.config
    offset = config.pad_token_id + 1 if config.model_type == "xlm-roberta" else 0
    hidden = config.hidden_size
    codes = min(hidden, config.max_position_embeddings)
    if max(targets) + offset >= codes:
        raise ValueError(f"positions must be below {codes - offset}")
    with torch.no_grad():
        emb = base.embeddings
        emb.word_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        emb.position_embeddings.weight.zero_()
        for code in range(offset, codes):
            emb.position_embeddings.weight[code, code] = 1.0
        for layer in base.encoder.layer:
            for dense in (layer.attention.output.dense, layer.output.dense):
                dense.weight.zero_()
                dense.bias.zero_()
        head = model.cls.predictions if config.model_type == "bert" else model.lm_head
        transform = head.transform.dense if config.model_type == "bert" else head.dense
        transform.weight.copy_(torch.eye(hidden))
        transform.bias.zero_()
        head.decoder.weight.zero_()
        head.bias.zero_()
        for p, token in targets.items():
            head.decoder.weight[token, p + offset] += 10.0
