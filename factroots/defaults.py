"""Every default and choice that the library and the command line share, defined once.

The library's functions take their defaults from here and `factroots.cli` imports the same
names, so a command's default is its function's. The module imports nothing, so `factroots
--help` stays fast.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DEVICE",
    "DEFAULT_DTYPE",
    "DEFAULT_ENGINE",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODE",
    "DEFAULT_NAMING_RELATIONS",
    "DEFAULT_TOKENIZER",
    "DEFAULT_TOP_K",
    "DEVICES",
    "DTYPES",
    "ENGINES",
    "MODES",
    "PIECE_CHARS",
]

#: How an entity is matched: `words` (word units) or `tokens` (the model's token ids).
MODES = ("words", "tokens")
DEFAULT_MODE = "words"
#: The bundled tokenizer an index is built and opened with unless another is named.
DEFAULT_TOKENIZER = "mbert"
#: Longest line of an index, in model tokens (mBERT's input length).
DEFAULT_MAX_TOKENS = 512
#: Characters the tokenizer is given at once, at most: longer documents go in pieces.
PIECE_CHARS = 1 << 20
#: Where shards are built and traced: local processes, or Ray (extra `cluster`).
ENGINES = ("local", "ray")
DEFAULT_ENGINE = "local"
#: Probing: where the model runs and in which float type (bfloat16/float16 are for GPUs).
DEVICES = ("auto", "cuda", "cpu")
DEFAULT_DEVICE = "auto"
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_DTYPE = "float32"
#: Prompts per forward pass.
DEFAULT_BATCH_SIZE = 128
#: PROBELESS neurons kept per fact (DESIGN: default 50).
DEFAULT_TOP_K = 50
#: Relations whose names carry their answer (DESIGN, Absent yet predicted, rule 2).
DEFAULT_NAMING_RELATIONS: tuple[str, ...] = ("P17", "P27", "P103", "P140", "P1412")
