"""Model tokenizers: the bundled mBERT one by name, or any HF tokenizer.json by path."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from tokenizers import Tokenizer

from factroots.defaults import DEFAULT_TOKENIZER
from factroots.errors import FactrootsError

__all__ = [
    "BUNDLED",
    "ModelTokenizer",
    "TokenizerSpec",
    "as_tokenizer",
    "load_tokenizer",
    "tokenizer_name",
]

BUNDLED_DIR = Path(__file__).parent / "data" / "tokenizers"
BUNDLED = {"mbert": BUNDLED_DIR / "mbert" / "tokenizer.json"}
WORD_BOUNDARY_PIECE = "\u2581"  # SentencePiece's "▁"


_PARSED: dict[str, Tokenizer] = {}  # parsed tokenizers of this process, by file sha256
_UNKNOWN: dict[str, int | None] = {}  # their unknown-token ids, by file sha256


_T = TypeVar("_T")


def _once_per_file(found: dict[str, _T], sha256: str, make: Callable[[], _T]) -> _T:
    """`found[sha256]`, made now where missing (and remembered, unless there is no file
    content behind it, or making it failed)."""
    if sha256 in found:
        return found[sha256]
    made = make()
    if sha256:
        found[sha256] = made
    return made


@dataclass(frozen=True)
class ModelTokenizer:
    """A fast (Rust) tokenizer with the facts factroots needs about it. The tokenizer.json is
    parsed on first use: an index's folder and checksum need only the file's name and bytes
    (0.4 s saved where a words-mode trace never tokenizes)."""

    name: str
    path: Path
    sha256: str
    config: str = field(default="", repr=False, compare=False)  # the tokenizer.json text

    @classmethod
    def of(
        cls, tokenizer: Tokenizer, name: str, unk_id: int | None, boundary_id: int | None
    ) -> ModelTokenizer:
        """One made from a tokenizer already in memory (no file behind it)."""
        made = cls(name=name, path=Path(name), sha256="")
        made.__dict__.update(tokenizer=tokenizer, unk_id=unk_id, boundary_id=boundary_id)
        return made

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The parsed tokenizer: one per file content and process (every index opened with the
        same tokenizer.json shares it; nothing in factroots changes it after parsing)."""
        return _once_per_file(_PARSED, self.sha256, self._parsed_now)

    def _parsed_now(self) -> Tokenizer:
        try:
            tokenizer = Tokenizer.from_str(self.config)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the same user error
            raise FactrootsError(f"not a HF tokenizer.json: {self.path} ({exc})") from None
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def unk_id(self) -> int | None:
        """The unknown token's id, read from the tokenizer.json once per file content and
        process (a JSON parse of the whole file: 0.06 s for mBERT's)."""
        return _once_per_file(
            _UNKNOWN, self.sha256, lambda: _unknown_id(json.loads(self.config), self.tokenizer)
        )

    @cached_property
    def boundary_id(self) -> int | None:
        """The id of a lone ▁ (SentencePiece's word boundary), if the vocabulary has one."""
        return self.tokenizer.token_to_id(WORD_BOUNDARY_PIECE)

    def parsed(self) -> ModelTokenizer:
        """This tokenizer, its file parsed now (a bad tokenizer.json fails here, not later)."""
        self.tokenizer  # noqa: B018 - the cached property's first use parses the file
        return self

    def encode_entity(self, text: str) -> list[int]:
        """Ids of an entity tokenized alone: NFC, no special tokens, a lone leading ▁ dropped."""
        text = unicodedata.normalize("NFC", text)
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if ids and self.boundary_id is not None and ids[0] == self.boundary_id:
            ids = ids[1:]
        return ids

    def has_unknown(self, ids: list[int]) -> bool:
        return self.unk_id is not None and self.unk_id in ids

    @property
    def model_dir(self) -> Path:
        return self.path.parent


def _tokenizer_json_path(spec: str | Path) -> tuple[str, Path]:
    if str(spec) in BUNDLED:
        return str(spec), BUNDLED[str(spec)]
    path = Path(spec)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise FactrootsError(
            f"tokenizer not found: {spec!s} (use 'mbert' or a tokenizer.json file or its directory)"
        )
    return path.parent.name, path


def _unknown_id(config: dict, tokenizer: Tokenizer) -> int | None:
    model = config.get("model", {})
    if model.get("unk_id") is not None:
        return int(model["unk_id"])
    if model.get("unk_token"):
        return tokenizer.token_to_id(model["unk_token"])
    return None


def load_tokenizer(spec: str | Path = DEFAULT_TOKENIZER) -> ModelTokenizer:
    """A tokenizer by bundled name ('mbert') or by tokenizer.json path or model directory; the
    file is read and checksummed now, parsed on first use."""
    name, path = _tokenizer_json_path(spec)
    raw = path.read_bytes()
    try:
        config = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FactrootsError(f"not a HF tokenizer.json: {path} ({exc})") from None
    return ModelTokenizer(name, path.resolve(), hashlib.sha256(raw).hexdigest(), config)


#: What the library accepts wherever a tokenizer is asked for: a bundled name ('mbert'), a
#: tokenizer.json path or its directory, or one already loaded.
TokenizerSpec = str | Path | ModelTokenizer


def as_tokenizer(tokenizer: TokenizerSpec = DEFAULT_TOKENIZER) -> ModelTokenizer:
    """`tokenizer` itself when already loaded, else `load_tokenizer(tokenizer)`."""
    return tokenizer if isinstance(tokenizer, ModelTokenizer) else load_tokenizer(tokenizer)


def tokenizer_name(tokenizer: TokenizerSpec = DEFAULT_TOKENIZER) -> str:
    """The name an index folder is filed under (`ROOT/<name>/<lang>`), without loading it."""
    if isinstance(tokenizer, ModelTokenizer):
        return tokenizer.name
    return _tokenizer_json_path(tokenizer)[0]
