"""Positional postings for batch work, written beside the tantivy index from the very same lines.

tantivy stays the index of record (evidence, stored lines), but tantivy-py cannot hand over
posting lists, so a batch trace would cost one Python search per entity and one Python object per
line, and a single query three Python searches. This sidecar holds, per matching mode, every
term's positions as one sorted, memory-mapped numpy array, so that phrase matching for thousands
of entities runs in one numba call, and a single query's counts in one more
(factroots/search/postings.py).

Layout of `<index>/postings/` (PostingsLayout):
- `<mode>.keys.npy`        uint64, sorted: each distinct term's key;
- `<mode>.line_offsets.npy` int64, len(keys) + 1: term k's postings (one per line it is on)
                           are postings line_offsets[k]:line_offsets[k + 1] of the arrays below;
- `<mode>.lines.npy`       uint32, each posting's line, ascending within a term: a one-term
                           entity is read off here, and a phrase is verified only in the lines
                           all its terms share;
- `<mode>.occurrence_offsets.npy` uint32 (uint64 past 2³² occurrences), one per posting and one
                           more: posting j's occurrences are in_line[occ[j]:occ[j + 1]];
- `<mode>.in_line.npy`     uint16 (uint32 past 65,536 terms in a line): each occurrence's
                           position within its line, ascending within a posting;
- `<mode>.line_starts.npy` int64, one per line: the position of the line's first term (lines
                           are numbered 0.. in build order);
- `meta.json`              format, key scheme and counts, written last.

A phrase is verified in one line by reading each term's few positions in that line, found in
O(1) (the posting's rank in a bitset) or by galloping through the term's line list: never by
searching a term's positions over the whole corpus. Format 2 kept every term's global positions
instead (`upgrade_postings` rewrites such a sidecar in place, as a build would now write it).

While building, positions number a mode's terms across all lines, with one unused position
between lines; a posting's positions are stored relative to its line's start. A term's key is
its token id (tokens mode) or a 64-bit hash of its UTF-8 bytes (words mode, `unit_keys`): two
word units share a key only by a hash collision (odds about n²/2⁶⁵ for n distinct units: ~10⁻⁵
for 20 M).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np

from factroots.atomic import write_text
from factroots.defaults import MODES
from factroots.errors import FactrootsError

POSTINGS_DIR = "postings"
META_NAME = "meta.json"
FORMAT_VERSION = 3
UPGRADABLE_VERSION = 2  # format 2 held global positions (`upgrade_postings`)
KEY_SCHEME = "tokens: token id; words: fnv1a64+splitmix64 of the unit's UTF-8 bytes"
RUN_POSTINGS = 8_000_000  # postings buffered per mode before a sorted run goes to disk
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_SPACE, _NEWLINE = 0x20, 0x0A


@numba.njit(cache=True)
def _mix(h: np.uint64) -> np.uint64:
    """splitmix64's finalizer: spreads FNV's weak high bits."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


@numba.njit(cache=True)
def _hash_units(data: np.ndarray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys of the space-separated units of newline-separated lines, and units per line."""
    keys = np.empty(data.shape[0] // 2 + 1, dtype=np.uint64)
    per_line = np.zeros(n_lines, dtype=np.int64)
    n = 0
    line = 0
    h = _FNV_OFFSET
    in_unit = False
    for i in range(data.shape[0] + 1):
        byte = data[i] if i < data.shape[0] else _NEWLINE
        if byte == _SPACE or byte == _NEWLINE:
            if in_unit:
                keys[n] = _mix(h)
                n += 1
                per_line[line] += 1
                h = _FNV_OFFSET
                in_unit = False
            if byte == _NEWLINE:
                line += 1
        else:
            h = (h ^ np.uint64(byte)) * _FNV_PRIME
            in_unit = True
    return keys[:n], per_line


def unit_keys(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Words-mode keys of lines given as space-joined word units, and the units per line."""
    if not lines:
        return np.empty(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    data = np.frombuffer("\n".join(lines).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return _hash_units(data, len(lines))


@dataclass
class ModeCounts:
    """What one mode's arrays hold: distinct terms, term occurrences (`postings`, as format 2
    counted them), lines, and the dtypes of occurrence_offsets and in_line."""

    terms: int = 0
    postings: int = 0
    lines: int = 0
    dtype: str = "uint32"
    in_line_dtype: str = "uint16"


@dataclass
class PostingsMeta:
    format_version: int = FORMAT_VERSION
    key_scheme: str = KEY_SCHEME
    modes: dict[str, ModeCounts] = field(default_factory=dict)


@dataclass(frozen=True)
class PostingsLayout:
    """Where a mode's arrays live in a postings directory."""

    directory: Path

    def array(self, mode: str, name: str) -> Path:
        return self.directory / f"{mode}.{name}.npy"

    @property
    def meta(self) -> Path:
        return self.directory / META_NAME

    @property
    def runs(self) -> Path:
        return self.directory / "runs"


@numba.njit(cache=True)
def _counting_order(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable order grouping dense keys 0..n_keys-1, and how many of each key."""
    counts = np.zeros(n_keys, dtype=np.int64)
    for k in keys:
        counts[k] += 1
    cursor = np.empty(n_keys, dtype=np.int64)
    total = 0
    for k in range(n_keys):
        cursor[k] = total
        total += counts[k]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        order[cursor[keys[i]]] = i
        cursor[keys[i]] += 1
    return order, counts


@numba.njit(cache=True)
def _insert(table: np.ndarray, ids: np.ndarray, key: np.uint64, new_id: int) -> int:
    """The id of `key` in an open-addressing table (mask = size - 1), inserted as new_id if
    absent (ids of empty slots are -1)."""
    mask = table.shape[0] - 1
    slot = np.int64(key & np.uint64(mask))
    while ids[slot] >= 0:
        if table[slot] == key:
            return ids[slot]
        slot = (slot + 1) & mask
    table[slot] = key
    ids[slot] = new_id
    return new_id


@numba.njit(cache=True)
def _dense_ids(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key as a dense id 0..d-1 (first-seen order), and the d distinct keys."""
    size = 1 << 16
    table = np.zeros(size, dtype=np.uint64)
    ids = np.full(size, -1, dtype=np.int64)
    distinct = np.empty(keys.shape[0], dtype=np.uint64)
    dense = np.empty(keys.shape[0], dtype=np.int64)
    n = 0
    for i in range(keys.shape[0]):
        if 2 * (n + 1) > size:
            size *= 2
            table = np.zeros(size, dtype=np.uint64)
            ids = np.full(size, -1, dtype=np.int64)
            for j in range(n):
                _insert(table, ids, distinct[j], j)
        found = _insert(table, ids, keys[i], n)
        if found == n:
            distinct[n] = keys[i]
            n += 1
        dense[i] = found
    return dense, distinct[:n]


def _sorted_run(
    keys: np.ndarray, positions: np.ndarray, dense_keys: bool
) -> tuple[np.ndarray, ...]:
    """(distinct keys, count of each, positions grouped by key in that order, each ascending).
    With `dense_keys` (token ids) the keys are their own ids; else they are hashed to ids."""
    if dense_keys:
        order, counts = _counting_order(keys.astype(np.int64), int(keys.max()) + 1)
        distinct = np.flatnonzero(counts).astype(np.uint64)
        return distinct, counts[counts > 0], positions[order]
    dense, distinct = _dense_ids(keys)
    order, counts = _counting_order(dense, distinct.size)
    return distinct, counts, positions[order]


@numba.njit(cache=True)
def _line_of(line_starts: np.ndarray, lo: int, p: int) -> int:
    """The line holding position p: the largest i >= lo with line_starts[i] <= p, given
    line_starts[lo] <= p (gallop, then bisect)."""
    n = line_starts.shape[0]
    hi = lo + 1
    step = 1
    while hi < n and line_starts[hi] <= p:
        lo = hi
        hi += step
        step *= 2
    hi = min(hi, n)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if line_starts[mid] <= p:
            lo = mid
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _term_lines(
    positions: np.ndarray,
    offsets: np.ndarray,
    line_starts: np.ndarray,
    lines: np.ndarray,
    occurrence_offsets: np.ndarray,
    in_line: np.ndarray,
) -> np.ndarray:
    """From each term's global positions: its postings' lines, where each posting's
    occurrences start, and each occurrence's position within its line, written to the
    arrays given unless `lines` is empty (then postings are only counted); returns the
    per-term offsets of the postings."""
    line_offsets = np.zeros(offsets.shape[0], dtype=np.int64)
    write = lines.shape[0] > 0
    at = 0
    for t in range(offsets.shape[0] - 1):
        line = 0
        last = -1
        for k in range(offsets[t], offsets[t + 1]):
            line = _line_of(line_starts, line, np.int64(positions[k]))
            if line != last:
                if write:
                    lines[at] = line
                    occurrence_offsets[at] = k
                at += 1
                last = line
            if write:
                in_line[k] = np.int64(positions[k]) - line_starts[line]
        line_offsets[t + 1] = at
    if write:
        occurrence_offsets[at] = offsets[-1]
    return line_offsets


def _in_line_dtype(line_starts: np.ndarray, end: int) -> type:
    """uint16 unless a line holds more than 65,536 terms (`end`: one past the last line's
    last position, plus the gap)."""
    if not line_starts.size:
        return np.uint16
    longest = int(np.diff(line_starts, append=end).max()) - 1
    return np.uint16 if longest <= 1 << 16 else np.uint32


def write_line_postings(
    layout: PostingsLayout, mode: str, line_starts: np.ndarray, end: int
) -> ModeCounts:
    """Write a mode's per-line arrays (lines, line_offsets, occurrence_offsets, in_line) from
    its global positions (`positions`, `offsets`), then delete those two; `end` as in
    `_in_line_dtype`."""
    positions = np.load(layout.array(mode, "positions"), mmap_mode="r")
    offsets = np.load(layout.array(mode, "offsets"))
    none = np.empty(0, np.uint32)
    line_offsets = _term_lines(positions, offsets, line_starts, none, none, none)
    postings = int(line_offsets[-1])
    occurrences = int(offsets[-1])
    occ_dtype = np.uint32 if occurrences < 2**32 else np.uint64
    in_line_dtype = _in_line_dtype(line_starts, end)
    outputs = {
        "lines": (np.uint32, postings),
        "occurrence_offsets": (occ_dtype, postings + 1),
        "in_line": (in_line_dtype, occurrences),
    }
    arrays = {
        name: np.lib.format.open_memmap(
            layout.array(mode, name), mode="w+", dtype=dtype, shape=(size,)
        )
        for name, (dtype, size) in outputs.items()
    }
    _term_lines(positions, offsets, line_starts, *arrays.values())
    for values in arrays.values():
        values.flush()
    del arrays, positions
    np.save(layout.array(mode, "line_offsets"), line_offsets)
    layout.array(mode, "positions").unlink()
    layout.array(mode, "offsets").unlink()
    return ModeCounts(
        int(line_offsets.size - 1),
        occurrences,
        int(line_starts.size),
        np.dtype(occ_dtype).name,
        np.dtype(in_line_dtype).name,
    )


@numba.njit(cache=True)
def _scatter(
    out: np.ndarray, cursor: np.ndarray, term: np.ndarray, counts: np.ndarray, positions: np.ndarray
) -> None:
    """Append each run term's positions at its term's cursor in `out`."""
    src = 0
    for j in range(term.shape[0]):
        dst = cursor[term[j]]
        for i in range(counts[j]):
            out[dst + i] = positions[src + i]
        cursor[term[j]] = dst + counts[j]
        src += counts[j]


class _ModeWriter:
    """Buffers one mode's (key, position) pairs, spills sorted runs, merges them at the end."""

    def __init__(self, layout: PostingsLayout, mode: str):
        self.layout, self.mode = layout, mode
        self.next_position = 0
        self.line_starts: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.buffered = 0
        self.runs: list[Path] = []

    def add(self, keys: np.ndarray, per_line: np.ndarray) -> None:
        """The keys of consecutive lines, `per_line[i]` of them for line i."""
        starts = self.next_position + np.concatenate(([0], np.cumsum(per_line + 1)[:-1]))
        self.next_position += int(per_line.sum() + per_line.size)
        self.line_starts.append(starts.astype(np.int64))
        first_of_term = np.repeat(
            starts - np.concatenate(([0], np.cumsum(per_line)[:-1])), per_line
        )
        self.keys.append(keys.astype(np.uint64, copy=False))
        self.positions.append(np.arange(keys.size, dtype=np.int64) + first_of_term)
        self.buffered += keys.size
        if self.buffered >= RUN_POSTINGS:
            self._spill()

    def _spill(self) -> None:
        if not self.buffered:
            return
        distinct, counts, positions = _sorted_run(
            np.concatenate(self.keys), np.concatenate(self.positions), self.mode == "tokens"
        )
        path = self.layout.runs / f"{self.mode}-{len(self.runs):05d}.npz"
        np.savez(path, keys=distinct, counts=counts, positions=positions)
        self.runs.append(path)
        self.keys, self.positions, self.buffered = [], [], 0

    def finish(self) -> ModeCounts:
        """Merge the runs into the mode's final arrays; returns what was written."""
        self._spill()
        vocab = np.unique(
            np.concatenate([np.load(r)["keys"] for r in self.runs] or [np.empty(0, np.uint64)])
        )
        totals = np.zeros(vocab.size, dtype=np.int64)
        for r in self.runs:
            with np.load(r) as run:
                np.add.at(totals, np.searchsorted(vocab, run["keys"]), run["counts"])
        offsets = np.zeros(vocab.size + 1, dtype=np.int64)
        np.cumsum(totals, out=offsets[1:])
        dtype = np.uint32 if self.next_position < 2**32 else np.uint64
        out = np.lib.format.open_memmap(
            self.layout.array(self.mode, "positions"),
            mode="w+",
            dtype=dtype,
            shape=(int(offsets[-1]),),
        )
        cursor = offsets[:-1].copy()
        for r in self.runs:
            with np.load(r) as run:
                _scatter(
                    out,
                    cursor,
                    np.searchsorted(vocab, run["keys"]),
                    run["counts"],
                    run["positions"],
                )
            r.unlink()
        out.flush()
        del out
        np.save(self.layout.array(self.mode, "keys"), vocab)
        np.save(self.layout.array(self.mode, "offsets"), offsets)
        line_starts = (
            np.concatenate(self.line_starts) if self.line_starts else np.empty(0, np.int64)
        )
        np.save(self.layout.array(self.mode, "line_starts"), line_starts)
        return write_line_postings(self.layout, self.mode, line_starts, self.next_position)


class PostingsWriter:
    """Writes the postings sidecar of an index being built, batch of lines by batch of lines."""

    def __init__(self, index_dir: Path):
        self.layout = PostingsLayout(index_dir / POSTINGS_DIR)
        self.layout.runs.mkdir(parents=True)
        self._modes = {mode: _ModeWriter(self.layout, mode) for mode in MODES}

    def add_lines(self, words: Sequence[str], token_ids: Sequence[np.ndarray]) -> None:
        """Consecutive lines: each as its space-joined word units and as its token ids."""
        keys, per_line = unit_keys(words)
        self._modes["words"].add(keys, per_line)
        lengths = np.fromiter((ids.size for ids in token_ids), np.int64, len(token_ids))
        ids = np.concatenate(token_ids) if token_ids else np.empty(0, np.int64)
        self._modes["tokens"].add(ids.astype(np.uint64), lengths)

    def finish(self) -> PostingsMeta:
        """Merge every mode's runs and write meta.json last."""
        meta = PostingsMeta(modes={m: w.finish() for m, w in self._modes.items()})
        shutil.rmtree(self.layout.runs, ignore_errors=True)
        self.layout.meta.write_text(json.dumps(asdict(meta), indent=2) + "\n")
        return meta


def _meta_data(directory: Path) -> dict | None:
    path = PostingsLayout(directory / POSTINGS_DIR).meta
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_meta(directory: Path) -> PostingsMeta | None:
    """The sidecar's meta, or None where the index has no (or an unfinished, or an older
    format's) sidecar."""
    data = _meta_data(directory)
    if data is None or data.get("format_version") != FORMAT_VERSION:
        return None
    return PostingsMeta(
        FORMAT_VERSION, data["key_scheme"], {m: ModeCounts(**c) for m, c in data["modes"].items()}
    )


def _format_version(directory: Path) -> int | None:
    data = _meta_data(directory)
    return None if data is None else data.get("format_version")


def upgradable(directory: Path) -> bool:
    """Whether the index at `directory` has a format-2 sidecar (`upgrade_postings`)."""
    return _format_version(directory) == UPGRADABLE_VERSION


def _end_of_positions(positions: np.ndarray, offsets: np.ndarray) -> int:
    """One past the last position of the last line, plus the gap (as `_in_line_dtype` takes
    it): read off each term's last position, positions being ascending within a term."""
    ends = offsets[1:][np.diff(offsets) > 0] - 1
    return int(positions[ends].max()) + 2 if ends.size else 0


def upgrade_postings(directory: Path) -> bool:
    """Rewrite a format-2 sidecar as the current format, in place, from its own arrays: the
    arrays a build writes now, with no line read or tokenized again. Readers see the old
    format (and take the tantivy path) until the new meta.json replaces the old one; the old
    arrays are deleted only after that (what an upgrade stopped in between left behind is
    deleted by the next). Returns whether there was anything to upgrade."""
    data = _meta_data(directory) or {}
    version = data.get("format_version")
    layout = PostingsLayout(directory / POSTINGS_DIR)
    staged = PostingsLayout(layout.directory / "upgrade")
    if version == FORMAT_VERSION:
        _remove_leftovers(layout, staged, data["modes"])
    if version != UPGRADABLE_VERSION:
        return False
    try:
        modes = _staged_upgrade(layout, staged, data["modes"])
    except (OSError, ValueError, KeyError) as exc:
        shutil.rmtree(staged.directory, ignore_errors=True)
        raise FactrootsError(
            f"cannot upgrade {layout.directory} ({exc}): rebuild the index"
        ) from None
    for mode in modes:  # lines and line_offsets come out as format 2 had them
        for name in ("occurrence_offsets", "in_line"):
            os.replace(staged.array(mode, name), layout.array(mode, name))
    meta = PostingsMeta(key_scheme=data["key_scheme"], modes=modes)
    write_text(layout.meta, json.dumps(asdict(meta), indent=2) + "\n")
    _remove_leftovers(layout, staged, modes)
    return True


def _staged_upgrade(
    layout: PostingsLayout, staged: PostingsLayout, modes: Iterable[str]
) -> dict[str, ModeCounts]:
    """Every mode's current arrays written in `staged` from the format-2 ones in `layout`."""
    shutil.rmtree(staged.directory, ignore_errors=True)
    staged.directory.mkdir()
    counts = {}
    for mode in modes:
        for name in ("positions", "offsets"):
            os.link(layout.array(mode, name), staged.array(mode, name))
        end = _end_of_positions(
            np.load(layout.array(mode, "positions"), mmap_mode="r"),
            np.load(layout.array(mode, "offsets")),
        )
        line_starts = np.load(layout.array(mode, "line_starts"))
        counts[mode] = write_line_postings(staged, mode, line_starts, end)
    return counts


def _remove_leftovers(layout: PostingsLayout, staged: PostingsLayout, modes: Iterable[str]) -> None:
    """Format 2's global positions, and an upgrade's staging folder, once the sidecar is
    current."""
    for mode in modes:
        for name in ("positions", "offsets"):
            layout.array(mode, name).unlink(missing_ok=True)
    shutil.rmtree(staged.directory, ignore_errors=True)
