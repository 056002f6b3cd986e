"""A tiny randomly initialised BERT masked LM with the real mBERT tokenizer, saved locally."""

from __future__ import annotations

import shutil
from pathlib import Path

from factroots.tokenizer import BUNDLED

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


def write_tiny_model(target: str | Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide random BertForMaskedLM (mBERT vocabulary) into `target`."""
    import torch
    from transformers import BertConfig, BertForMaskedLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    source = BUNDLED["mbert"].parent
    config = BertConfig(
        vocab_size=119547,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    target = Path(target)
    BertForMaskedLM(config).eval().save_pretrained(target)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, target / name)
    return target
