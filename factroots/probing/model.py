"""Load a Hugging Face masked LM offline, from a local directory or the local HF cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factroots.defaults import DEFAULT_DEVICE, DEFAULT_DTYPE, DTYPES
from factroots.errors import FactrootsError
from factroots.tokenizer import BUNDLED, ModelTokenizer, load_tokenizer

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
BUNDLED_BY_MODEL_TYPE = {"bert": "mbert"}


@dataclass
class MaskedLM:
    """A masked LM ready for inference, with its tokenizer and where it runs."""

    name: str
    path: Path
    model: Any  # transformers.PreTrainedModel (torch is not imported to type it)
    tokenizer: ModelTokenizer
    device: str
    dtype: str

    @property
    def max_length(self) -> int:
        """The longest input (special tokens included) the model's position embeddings allow."""
        config = self.model.config
        positions = int(getattr(config, "max_position_embeddings", 512))
        if config.model_type in ("roberta", "xlm-roberta", "camembert"):
            positions -= int(config.pad_token_id) + 1
        return positions


def model_directory(spec: str | Path) -> Path:
    """A local model directory, or the cached snapshot of a hub name (never downloads)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists() or str(spec).startswith((".", "/", "~")):
        raise FactrootsError(f"model directory not found: {spec}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(spec), local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss is the same user error
        raise FactrootsError(
            f"model {spec!r} is neither a local directory nor in the local Hugging Face cache "
            "(factroots never downloads: pass a directory with config.json and weights)"
        ) from None


def check_model_files(path: Path) -> None:
    """Raise at once if `path` lacks config.json or weights."""
    if not (path / "config.json").is_file():
        raise FactrootsError(f"no config.json in model directory {path}")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise FactrootsError(
            f"no model weights in {path} (expected one of: {', '.join(WEIGHT_FILES)})"
        )


def model_tokenizer(path: Path, model_type: str) -> ModelTokenizer:
    """The directory's tokenizer.json, else the bundled tokenizer for the model type."""
    if (path / "tokenizer.json").is_file():
        return load_tokenizer(path)
    bundled = BUNDLED_BY_MODEL_TYPE.get(model_type)
    if bundled is None or bundled not in BUNDLED:
        raise FactrootsError(f"no tokenizer.json in {path} and no bundled one for {model_type!r}")
    return load_tokenizer(bundled)


def resolve_device(device: str = DEFAULT_DEVICE) -> str:
    """'cuda' or 'cpu' for 'auto'; an unavailable CUDA is an error, not a silent fallback."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FactrootsError("--device cuda requested but no CUDA GPU is available")
    return device


def torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise FactrootsError(f"unknown dtype {name!r} (use one of: {', '.join(DTYPES)})")
    return getattr(torch, name)


def model_name(spec: str | Path) -> str:
    """A short name for the model column: a directory's name, or the hub name as given."""
    path = Path(spec).expanduser()
    return path.resolve().name if path.is_dir() else str(spec)


def loaded_model(path: Path, auto_class, dtype: str, kind: str):
    """(config, model) of a local model directory through a transformers Auto class, offline;
    a load that fails is one FactrootsError line naming the `kind` of model."""
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        model = auto_class.from_pretrained(path, local_files_only=True, dtype=torch_dtype(dtype))
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FactrootsError(f"cannot load {kind} from {path}: {first_line}") from None
    return config, model


def load_masked_lm(
    spec: str | Path, device: str = DEFAULT_DEVICE, dtype: str = DEFAULT_DTYPE
) -> MaskedLM:
    """Load a masked LM by directory or cached hub name, in eval mode on `device` in `dtype`."""
    path = model_directory(spec)
    check_model_files(path)
    device = resolve_device(device)
    from transformers import AutoModelForMaskedLM

    config, model = loaded_model(path, AutoModelForMaskedLM, dtype, "masked LM")
    tokenizer = model_tokenizer(path, config.model_type)
    if tokenizer.tokenizer.get_vocab_size() > config.vocab_size:
        raise FactrootsError(
            f"tokenizer {tokenizer.path} has {tokenizer.tokenizer.get_vocab_size():,} ids but the "
            f"model only {config.vocab_size:,}"
        )
    model.to(device).eval()
    return MaskedLM(model_name(spec), path, model, tokenizer, device, dtype)
