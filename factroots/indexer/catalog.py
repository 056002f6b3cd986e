"""What has been built under an index root: `index list` and a human `index info`."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from factroots.indexer.manifest import MANIFEST_NAME, Manifest, read_manifest


@dataclass(frozen=True)
class IndexEntry:
    """One built (tokenizer, language) index under a root."""

    tokenizer: str
    lang: str
    path: Path
    manifest: Manifest
    disk_bytes: int
    built: str  # when its manifest was written, UTC

    def to_dict(self) -> dict:
        c = self.manifest.counts
        return {
            "tokenizer": self.tokenizer,
            "lang": self.lang,
            "path": str(self.path),
            "documents": c.documents,
            "lines": c.lines,
            "tokens": c.tokens,
            "shards": max(1, len(self.manifest.shards)),
            "disk_bytes": self.disk_bytes,
            "built": self.built,
        }


def disk_bytes(path: Path) -> int:
    """Bytes of every file under `path` (links followed once, at the top)."""
    total = 0
    for folder, _, files in os.walk(path.resolve()):
        total += sum((Path(folder) / f).stat().st_size for f in files)
    return total


def built_at(path: Path) -> str:
    stamp = (path / MANIFEST_NAME).stat().st_mtime
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def built_languages(root: str | Path, tokenizer_name: str) -> list[str]:
    """Language codes with an index under `ROOT/<tokenizer>/`, sorted."""
    folder = Path(root) / tokenizer_name
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(".") and (p / MANIFEST_NAME).is_file()
    )


def list_indexes(root: str | Path) -> list[IndexEntry]:
    """Every index under `ROOT/<tokenizer>/<lang>/`, by tokenizer then language."""
    root = Path(root)
    entries = []
    tokenizers = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if root.is_dir()
        else []
    )
    for tokenizer in tokenizers:
        for lang in built_languages(root, tokenizer):
            path = root / tokenizer / lang
            entries.append(
                IndexEntry(
                    tokenizer, lang, path, read_manifest(path), disk_bytes(path), built_at(path)
                )
            )
    return entries


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


def index_table(entries: list[IndexEntry]) -> str:
    """`index list` as aligned text."""
    rows = [
        f"{'tokenizer':12} {'lang':6} {'lines':>12} {'tokens':>15} {'shards':>6} "
        f"{'on disk':>10}  built"
    ]
    for e in entries:
        c = e.manifest.counts
        rows.append(
            f"{e.tokenizer:12} {e.lang:6} {c.lines:12,} {c.tokens:15,} "
            f"{max(1, len(e.manifest.shards)):6} {human_bytes(e.disk_bytes):>10}  "
            f"{e.built}"
        )
    return "\n".join(rows)


def index_summary(path: Path) -> str:
    """`index info` for a person: what was built from what, its counts and size."""
    m = read_manifest(path)
    c = m.counts
    sources = sum(s.get("size", 0) for s in m.sources)
    lines = [
        f"index {path}",
        f"  language {m.language}, tokenizer {m.tokenizer_name} "
        f"(sha256 {m.tokenizer_sha256[:12]}…), lines of at most {m.max_tokens} tokens",
        f"  built {built_at(path)} by factroots {m.factroots_version} in "
        f"{m.build_seconds:,.1f} s from {m.input_root}",
        f"  input: {len(m.sources):,} file(s), {human_bytes(sources)}",
        f"  {c.documents:,} documents, {c.lines:,} lines, {c.tokens:,} tokens, "
        f"{human_bytes(c.text_bytes)} of text",
        f"  on disk: {human_bytes(disk_bytes(path))}",
    ]
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(c.skipped_by_reason.items()))
    if skipped:
        lines.append(f"  skipped: {skipped}")
    for name, label in (
        ("empty_files", "empty input file(s)"),
        ("long_units", "word unit(s) over 65,530 bytes (stand-ins)"),
        ("cut_runs", "cut(s) in runs without whitespace"),
    ):
        if getattr(c, name):
            lines.append(f"  {getattr(c, name):,} {label}")
    for shard in m.shards:
        lines.append(
            f"  shard {shard.path}: lines {shard.line_base:,}–"
            f"{shard.line_base + shard.counts.lines - 1:,}, {len(shard.sources)} "
            f"file(s), {shard.counts.tokens:,} tokens"
        )
    return "\n".join(lines)


def missing_index(root: str | Path, tokenizer_name: str, lang: str) -> str:
    """Why `ROOT/<tokenizer>/<lang>` cannot be opened, saying what does exist."""
    root = Path(root)
    if not root.is_dir():
        return f"index root {root} does not exist"
    built = built_languages(root, tokenizer_name)
    if built:
        return (
            f"no {lang!r} index under {root / tokenizer_name}; built languages there: "
            f"{', '.join(built)}"
        )
    others = sorted({e.tokenizer for e in list_indexes(root)})
    if others:
        return (
            f"no index built with tokenizer {tokenizer_name!r} under {root}; built with: "
            f"{', '.join(others)}"
        )
    return f"no index under {root} (build one with: factroots index build)"
