"""The manifest.json beside every index: what was built, from what, with which tokenizer.

An unsharded index (format 1) is one tantivy index with its manifest. A sharded index (format 2)
is a folder of shards, `shard-00000/` …, each a complete format-1 index of a contiguous run of the
sorted input files, and a root manifest that lists them (`shards`: path, line_base, sources,
counts) with the sources and counts of the whole; it is written after every shard is complete.
A line's id in the whole index is its shard's `line_base` plus its id within the shard, so line
ids run in the order of the sorted input files, exactly as in an unsharded build.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factroots.errors import FactrootsError

FORMAT_VERSION = 1
SHARDED_FORMAT_VERSION = 2
READABLE_FORMATS = (FORMAT_VERSION, SHARDED_FORMAT_VERSION)
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
    cut_runs: int = 0  # runs without whitespace cut for the tokenizer (indexer.segmenter)

    def add(self, other: Counts) -> None:
        """Add another part's counts (a shard's) to these."""
        for name in (
            "documents",
            "lines",
            "tokens",
            "text_bytes",
            "first_paragraph_bytes",
            "skipped_records",
            "empty_files",
            "long_units",
            "cut_runs",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.skipped_by_reason.items():
            self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + n


@dataclass
class ShardEntry:
    """One shard as the root manifest lists it."""

    path: str
    line_base: int
    sources: list[str]
    counts: Counts


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
    shards: list[ShardEntry] = field(default_factory=list)

    @property
    def sharded(self) -> bool:
        return bool(self.shards)

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.shards:  # an unsharded manifest is exactly format 1's
            del data["shards"]
        return data

    def write(self, directory: Path) -> None:
        """Write manifest.json whole or not at all (beside it, then renamed)."""
        from factroots.atomic import atomic_output

        with atomic_output(Path(directory) / MANIFEST_NAME, make_parents=False) as tmp:
            tmp.write_text(
                json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )


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
        if "shards" in data:
            data["shards"] = [
                ShardEntry(**{**entry, "counts": Counts(**entry["counts"])})
                for entry in data["shards"]
            ]
        manifest = Manifest(**data)
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: a deeply nested document; its message is one line too
        raise FactrootsError(f"corrupt manifest {path}: {exc}") from None
    version = manifest.format_version
    if not isinstance(version, int) or isinstance(version, bool):
        raise FactrootsError(
            f"corrupt manifest {path}: format_version is {version!r}, not an integer"
        )
    if not isinstance(manifest.language, str):
        raise FactrootsError(f"corrupt manifest {path}: language is {manifest.language!r}")
    if manifest.format_version not in READABLE_FORMATS:
        raise FactrootsError(
            f"index format {manifest.format_version} at {directory}; this factroots reads "
            f"formats {', '.join(map(str, READABLE_FORMATS))}: rebuild the index"
        )
    if (manifest.format_version == SHARDED_FORMAT_VERSION) != manifest.sharded:
        raise FactrootsError(
            f"corrupt manifest {path}: format {manifest.format_version} "
            f"with {len(manifest.shards)} shard(s)"
        )
    _check_shards(manifest, path)
    return manifest


def _check_shards(manifest: Manifest, path: Path) -> None:
    """Shard folders are plain names inside the index, and line bases follow the line counts."""
    base = 0
    for entry in manifest.shards:
        name = entry.path
        if (
            not isinstance(name, str)
            or not name
            or "/" in name
            or "\\" in name
            or name in (".", "..")
            or "\0" in name
        ):
            raise FactrootsError(f"corrupt manifest {path}: shard path {name!r}")
        lines = entry.counts.lines
        if not isinstance(lines, int) or isinstance(lines, bool) or lines < 0:
            raise FactrootsError(f"corrupt manifest {path}: shard {name} has {lines!r} lines")
        if entry.line_base != base:
            raise FactrootsError(
                f"corrupt manifest {path}: shard {name} starts at line "
                f"{entry.line_base!r}, not {base}"
            )
        base += lines
    if manifest.shards and base != manifest.counts.lines:
        raise FactrootsError(
            f"corrupt manifest {path}: shards hold {base} lines, the index {manifest.counts.lines}"
        )
