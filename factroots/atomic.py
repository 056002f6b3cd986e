"""Outputs that appear whole or not at all: written beside their final name, then renamed.

    with atomic_output(out) as tmp:
        frame.to_parquet(tmp)

writes `tmp` (a hidden file in the same folder, with the same suffix so that writers which
pick a format by suffix still do), flushes it to disk and renames it over `out` only when the
block ends without an error; otherwise `tmp` is removed and `out`, if it existed, is intact.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from factroots.errors import FactrootsError


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder; the rename still is atomic
        if not directory:
            raise
    finally:
        os.close(fd)


def _temporary(path: Path) -> Path:
    """A new, empty hidden file beside `path`, created with the usual (umask) permissions."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise FactrootsError(f"cannot write {path}: {exc.strerror or exc}") from None
    raise FactrootsError(f"cannot write {path}: no free temporary name beside it")


@contextmanager
def atomic_output(path: str | Path, make_parents: bool = True) -> Iterator[Path]:
    """A temporary path to write; renamed onto `path` when the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise FactrootsError(f"cannot write {path}: it is a folder")
    if make_parents:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FactrootsError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    tmp = _temporary(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent, directory=True)


@contextmanager
def atomic_outputs(*paths: str | Path) -> Iterator[list[Path]]:
    """Temporary paths for several outputs, renamed into place only once all are written."""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p)) for p in paths]


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def check_writable(path: str | Path, folder: bool = False) -> Path:
    """An error now, before any work, unless `path` (an output file, or with `folder` an output
    folder) can be written later: missing folders on the way are fine (they are made when the
    output is written) if the nearest existing one is a folder that takes new files."""
    path = Path(path)
    try:  # parquet, tantivy and the manifest take UTF-8 paths only
        str(path.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", errors="backslashreplace")
        raise FactrootsError(f"output path is not UTF-8: {shown}: use a UTF-8 name") from None
    if folder and path.exists() and not path.is_dir():
        raise FactrootsError(f"cannot write in {path}: it is not a folder")
    if not folder and path.is_dir():
        raise FactrootsError(f"cannot write {path}: it is a folder")
    target = path if folder else path.parent
    existing = target.absolute()
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise FactrootsError(f"cannot create {target}: {existing} is not a folder")
    try:  # the one sure test: file systems mounted read-only, ACLs, root, quotas
        fd, probe = tempfile.mkstemp(prefix=".factroots-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise FactrootsError(f"cannot write in {existing}: {exc.strerror or exc}") from None
    return path
