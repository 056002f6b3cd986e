"""Stream documents out of WikiExtractor output trees, skipping and counting malformed records.

Both formats are read: `<doc id="…" url="…" title="…">` blocks and `--json` lines, plain, bz2 or
gzip (recognised by their magic bytes), files walked in sorted path order, hidden entries ignored.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import html
import json
import os
import stat
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import regex

from factroots.errors import FactrootsError

_DOC_OPEN = regex.compile(rb"^\s*<doc(\s[^>]*)?>\s*$")
_DOC_CLOSE = regex.compile(rb"^\s*</doc>\s*$")
_ATTR = regex.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    first_paragraph: str


@dataclass
class SourceFile:
    """One input file: what it is, and what reading it gave."""

    path: str
    size: int
    sha256: str
    documents: int = 0
    empty: bool = False
    skipped: Counter = field(default_factory=Counter)

    @property
    def skipped_records(self) -> int:
        return sum(self.skipped.values())


def shown_path(path: str | Path) -> str:
    """`path` printable: bytes of a name that is not UTF-8 shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _utf8_name(path: Path) -> Path:
    """`path` itself if its name is UTF-8 (the manifest records it); else an error."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise FactrootsError(
            f"input file name is not UTF-8: {shown_path(path)}: rename it (nothing was built)"
        ) from None
    return path


def _readable_file(path: Path) -> Path:
    """`path` if it is a regular file (through links) that opens for reading; else an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise FactrootsError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FactrootsError(f"input {path} is not a regular file: move it away")
    finally:
        os.close(fd)
    return path


def _unreadable_folder(exc: OSError) -> None:
    raise FactrootsError(
        f"cannot read input folder {exc.filename}: {exc.strerror or exc}"
    ) from None


def input_files(root: str | Path) -> list[Path]:
    """The regular files under `root` in sorted path order, hidden entries ignored.

    Nothing under `root` is skipped silently: a folder or file that cannot be read, a name that
    is not UTF-8, a link to a folder (not followed) or anything but a regular file is an error
    here, before any work."""
    root = Path(root)
    if not root.exists():
        raise FactrootsError(f"input not found: {root}")
    _utf8_name(root.resolve())
    if root.is_file():
        return [_readable_file(root)]
    if not root.is_dir():
        raise FactrootsError(f"input {root} is neither a folder nor a regular file")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_unreadable_folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if os.path.islink(os.path.join(dirpath, name)):
                raise FactrootsError(
                    f"input folder {Path(dirpath) / name} is a link, which is "
                    "not followed: give its target as an input of its own"
                )
        files.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    files = [_readable_file(_utf8_name(p)) for p in sorted(files)]
    if not files:
        raise FactrootsError(f"no input files under {root}")
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_stream(path: Path) -> IO[bytes]:
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if magic.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def make_document(doc_id: str, title: str, lines: list[str]) -> Document | None:
    """A document from its raw lines: unescaped once, non-empty, title first, NFC; None if empty."""
    title = html.unescape(title).strip()
    body = [s for s in (html.unescape(line).strip() for line in lines) if s]
    if title and (not body or body[0] != title):
        body.insert(0, title)
    if not body:
        return None
    text = unicodedata.normalize("NFC", " ".join(body))
    first = unicodedata.normalize("NFC", body[1]) if len(body) > 1 else ""
    return Document(
        doc_id=doc_id,
        title=unicodedata.normalize("NFC", title or body[0]),
        text=text,
        first_paragraph=first,
    )


class _DocBlocks:
    """State machine over the lines of a `<doc>`-format file."""

    def __init__(self, source: SourceFile):
        self.source = source
        self.attrs: dict[str, str] | None = None
        self.lines: list[str] = []
        self.broken = False

    def feed(self, raw: bytes) -> Document | None:
        if _DOC_OPEN.match(raw):
            if self.attrs is not None:
                self.source.skipped["unterminated <doc>"] += 1
            self._open(raw)
            return None
        if _DOC_CLOSE.match(raw):
            if self.attrs is None:
                self.source.skipped["stray </doc>"] += 1
                return None
            return self._close()
        line = _decode(raw)
        if self.attrs is None:
            if line is None or line.strip():
                self.source.skipped["text outside <doc>"] += 1
        elif line is None:
            self.broken = True
        else:
            self.lines.append(line)
        return None

    def finish(self) -> None:
        if self.attrs is not None:
            self.source.skipped["unterminated <doc>"] += 1
            self.attrs = None

    def _open(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        self.attrs = dict(_ATTR.findall(text))
        self.lines = []
        self.broken = False

    def _close(self) -> Document | None:
        attrs, lines, broken = self.attrs, self.lines, self.broken
        self.attrs, self.lines = None, []
        if broken:
            self.source.skipped["invalid UTF-8 or binary"] += 1
            return None
        attrs = attrs or {}
        doc = make_document(attrs.get("id", ""), attrs.get("title", ""), lines)
        if doc is None:
            self.source.skipped["empty document"] += 1
        return doc


def _decode(raw: bytes) -> str | None:
    """The line as text, or None for invalid UTF-8 or binary junk (NUL bytes)."""
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_document(raw: bytes, source: SourceFile) -> Document | None:
    line = _decode(raw)
    if line is None:
        source.skipped["invalid UTF-8 or binary"] += 1
        return None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
        title, text = record["title"], record["text"]
        if not isinstance(title, str) or not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        source.skipped["bad JSON line"] += 1
        return None
    doc = make_document(str(record.get("id", "")), title, text.split("\n"))
    if doc is None:
        source.skipped["empty document"] += 1
    return doc


def _is_json_lines(first_line: bytes) -> bool:
    return first_line.lstrip().startswith(b"{")


def read_file(path: Path, source: SourceFile) -> Iterator[Document]:
    """The documents of one file; malformed records are counted in `source.skipped`."""
    try:
        with _open_stream(path) as stream:
            blocks: _DocBlocks | None = None
            json_mode: bool | None = None
            for raw in stream:
                if json_mode is None:
                    if not raw.strip():
                        continue
                    json_mode = _is_json_lines(raw)
                    blocks = None if json_mode else _DocBlocks(source)
                doc = (
                    _json_document(raw, source) if json_mode or blocks is None else blocks.feed(raw)
                )
                if doc is not None:
                    source.documents += 1
                    yield doc
            if blocks is not None:
                blocks.finish()
    except (OSError, EOFError, zlib.error) as exc:
        source.skipped[f"unreadable stream ({type(exc).__name__})"] += 1


class SourceTotals:
    """Documents read and records skipped over a reader's `sources`, as they fill."""

    sources: list[SourceFile]

    @property
    def documents(self) -> int:
        return sum(s.documents for s in self.sources)

    @property
    def skipped(self) -> Counter:
        total: Counter = Counter()
        for source in self.sources:
            total.update(source.skipped)
        return total


class CorpusReader(SourceTotals):
    """The documents of a WikiExtractor tree; per-file sources and counts fill as it goes.

    `files`, when given, are the ones read (a shard's part of the tree, in that order); source
    paths stay relative to `root` either way."""

    def __init__(self, root: str | Path, files: Sequence[Path] | None = None):
        self.root = Path(root)
        self.files = input_files(self.root) if files is None else [Path(p) for p in files]
        self.total_bytes = sum(p.stat().st_size for p in self.files)
        self.sources: list[SourceFile] = []
        self.bytes_done = 0

    def __iter__(self) -> Iterator[Document]:
        for path in self.files:
            try:  # checked readable before the work: this is a file gone or changed since
                size = path.stat().st_size
                sha256 = file_sha256(path)
            except OSError as exc:
                raise FactrootsError(
                    f"cannot read input file {path}: {exc.strerror or exc}"
                ) from None
            rel = path.relative_to(self.root).as_posix() if path != self.root else path.name
            source = SourceFile(path=rel, size=size, sha256=sha256)
            self.sources.append(source)
            source.empty = size == 0
            if not source.empty:
                yield from read_file(path, source)
            self.bytes_done += size
