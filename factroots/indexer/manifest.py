"""The manifest.json beside every index: what was built, from what, with which tokenizer."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factroots.errors import FactrootsError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass
class Counts:
    documents: int = 0
    lines: int = 0
    tokens: int = 0
    text_bytes: int = 0
    first_paragraph_bytes: int = 0
    skipped_records: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    empty_files: int = 0
    long_units: int = 0  # word units over 65,530 bytes, indexed as stand-ins (factroots.units)


@dataclass
class Manifest:
    language: str
    tokenizer_name: str
    tokenizer_sha256: str
    max_tokens: int
    input_root: str
    sources: list[dict]
    counts: Counts
    build_seconds: float
    factroots_version: str
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, directory: Path) -> None:
        path = directory / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_manifest(directory: str | Path) -> Manifest:
    """The manifest of the index in `directory`; a clear error if missing, corrupt or too new."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise FactrootsError(f"not a factroots index (no {MANIFEST_NAME}): {directory}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FactrootsError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        data["counts"] = Counts(**data["counts"])
        manifest = Manifest(**data)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: a deeply nested document; its message is one line too
        raise FactrootsError(f"corrupt manifest {path}: {exc}") from None
    version = manifest.format_version
    if not isinstance(version, int) or isinstance(version, bool):
        raise FactrootsError(f"corrupt manifest {path}: format_version is {version!r}, not an "
                             "integer")
    if not isinstance(manifest.language, str):
        raise FactrootsError(f"corrupt manifest {path}: language is {manifest.language!r}")
    if manifest.format_version != FORMAT_VERSION:
        raise FactrootsError(
            f"index format {manifest.format_version} at {directory}; this factroots reads "
            f"format {FORMAT_VERSION}: rebuild the index"
        )
    return manifest
