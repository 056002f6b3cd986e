"""Where an index lives on disk, and how a new build replaces it without a gap for readers.

`ROOT/<tokenizer>/<lang>` is a relative symbolic link to an immutable version directory
`ROOT/<tokenizer>/.<lang>.v<ns>-<pid>`. A build writes `.building-<lang>.<pid>`, renames it to
a fresh version, and switches the link with one `rename(2)` of a new link over the old one, so
a reader resolving `<lang>` finds the old version or the new one, never nothing. Old versions
are deleted only after the switch: readers that already opened one keep their memory maps;
a reader caught between resolving the link and opening its files retries (`open_current`).

An index built before versioned directories (a real directory at `<lang>`) still opens; its
next build exchanges it with the new link in one `renameat2(RENAME_EXCHANGE)`. Only where the
file system lacks that call is there a moment (between two renames, once per index) with no
`<lang>`: a reader opening it just then gets "not a factroots index".

`.<lang>.lock` holds the pid of the build of that index; `flock(2)` on it keeps a second
build out, and the kernel releases it when the holder dies, so a stale file is harmless.
A language code (and so every name built from it) contains no `.` or `/`: the names above can
neither leave `ROOT/<tokenizer>` nor be mistaken for another language's.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from factroots.errors import FactrootsError

LANG_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
BUILDING_PREFIX = ".building-"
OPEN_ATTEMPTS = 50

T = TypeVar("T")


def check_lang(lang: str) -> str:
    """`lang` in lower case, as mLAMA writes its codes, if it is a valid language code (ASCII
    letters, digits, '-', '_'); else an error."""
    if not isinstance(lang, str) or not LANG_CODE.fullmatch(lang):
        raise FactrootsError(
            f"invalid language code {lang!r}: use 1 to 64 letters, digits, '-' or '_'"
        )
    return lang.lower()


def check_tokenizer_name(name: str) -> str:
    """`name` if it is one plain path component, as a tokenizer folder under the root."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise FactrootsError(f"invalid tokenizer name {name!r} for an index folder")
    return name


def index_path(root: str | Path, tokenizer_name: str, lang: str) -> Path:
    """`ROOT/<tokenizer>/<lang>`: the link (or, from older builds, directory) readers open."""
    return Path(root) / check_tokenizer_name(tokenizer_name) / check_lang(lang)


def building_path(parent: Path, lang: str) -> Path:
    return parent / f"{BUILDING_PREFIX}{lang}.{os.getpid()}"


def _version_name(lang: str) -> str:
    return f".{lang}.v{time.time_ns()}-{os.getpid()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root` to disk, so a power cut after the switch
    cannot leave the published version with empty files."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


class BuildLock:
    """An exclusive, non-blocking `flock` on `ROOT/<tok>/.<lang>.lock`, which holds the pid."""

    def __init__(self, final: Path):
        self.final = final
        self.path = final.parent / f".{final.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> BuildLock:
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise FactrootsError(
                    f"cannot write in {self.path.parent}: {exc.strerror or exc}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise FactrootsError(
                    f"another build of {self.final} is running (pid {holder})"
                ) from None
            # The holder before us may have unlinked the file after we opened it: then our
            # lock is on a file nobody else sees, so take the one now at the path.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
                self._fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)  # still locked: a newcomer re-checks the inode
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BuildLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def publish(built: Path, final: Path) -> None:
    """Make the complete index in `built` the one readers open at `final`, then drop the old.

    Call with the `BuildLock` of `final` held."""
    parent, lang = final.parent, final.name
    _fsync_tree(built)
    version = parent / _version_name(lang)
    os.rename(built, version)
    link = parent / f".{lang}.link-{os.getpid()}"
    _remove(link)
    os.symlink(version.name, link)
    _fsync_dir(parent)
    if final.is_symlink() or not os.path.lexists(final):
        os.replace(link, final)
    elif final.is_dir():  # an index from before versioned directories
        if not _exchange(link, final):  # no atomic exchange: a short gap, readers retry
            os.rename(final, parent / _version_name(lang))
            os.replace(link, final)
    else:
        _remove(link)
        raise FactrootsError(f"{final} is neither an index nor a link to one: move it away")
    _fsync_dir(parent)
    remove_unpublished(final)


def _leftovers(parent: Path, lang: str) -> list[Path]:
    """Everything of `lang` under `parent` but the link, the lock and the published version."""
    own = re.compile(rf"\.{re.escape(lang)}\.(v\d+-\d+|link-\d+)")
    # ours (`.building-<lang>.<pid>`) and those of builds before versioned directories
    building = re.compile(rf"{re.escape(BUILDING_PREFIX)}{re.escape(lang)}(\.|-|-old-)\d+")
    return [p for p in parent.iterdir() if own.fullmatch(p.name) or building.fullmatch(p.name)]


def remove_unpublished(final: Path) -> None:
    """Delete every version, half-built directory and spare link of `final` that readers do
    not reach through it (lock held). A killed build leaves such leftovers; they are removed
    only once a later build has published, so the index readers open is never among them."""
    current = os.path.realpath(final) if final.is_symlink() else None
    for path in _leftovers(final.parent, final.name):
        if path.is_symlink() or os.path.realpath(path) != current:
            _remove(path)


def check_replaceable(final: Path) -> None:
    """An error, before any work, if something other than an index or its link is at `final`."""
    if os.path.lexists(final) and not final.is_symlink() and not final.is_dir():
        raise FactrootsError(f"{final} is neither an index nor a link to one: move it away")


def recover_legacy(final: Path) -> None:
    """A build before versioned directories, killed between the two renames of its swap, left
    the old index in `.building-<lang>-old-<pid>` and nothing at `<lang>`: put it back."""
    if os.path.lexists(final):
        return
    from factroots.indexer.manifest import read_manifest

    pattern = re.compile(rf"{re.escape(BUILDING_PREFIX)}{re.escape(final.name)}-old-\d+")
    found = [
        p
        for p in final.parent.iterdir()
        if pattern.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    ]
    for old in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            if read_manifest(old).language != final.name:
                continue
        except FactrootsError:
            continue
        version = final.parent / _version_name(final.name)
        os.rename(old, version)
        os.symlink(version.name, final)
        _fsync_dir(final.parent)
        return


def open_current(final: Path, opener: Callable[[Path], T]) -> T:
    """`opener` applied to the version `final` points to now, again if a build switched the
    link (and perhaps deleted that version) while it was opening. What it opens must have been
    built for the language `final` names (its `manifest.language`)."""
    for _ in range(OPEN_ATTEMPTS):
        target = os.path.realpath(final)
        try:
            opened = opener(Path(target))
        except BaseException as exc:  # a panic from tantivy reading a vanishing file, too
            if (
                isinstance(exc, (KeyboardInterrupt, SystemExit))
                or os.path.realpath(final) == target
            ):
                raise
            continue
        if os.path.realpath(final) == target:
            language = getattr(getattr(opened, "manifest", None), "language", final.name)
            if language != final.name:
                raise FactrootsError(
                    f"index {final} holds language {language!r}, not "
                    f"{final.name!r} (moved or renamed?): rebuild it with "
                    f"--lang {final.name}"
                )
            return opened
    raise FactrootsError(f"{final} kept changing while it was opened: try again")
