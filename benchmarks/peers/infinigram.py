"""infini-gram as a peer for single-entity counts, over the very token ids of a factroots index.

The index is built from `factroots export lucene`'s JsonCollection (its `contents` field holds
each line's token ids): one infini-gram document per factroots line. `infini_gram.indexing` skips
its own tokenization when `tokenized.0` (each document = the separator, all bits set, then its
ids) and `offset.0` (u64 byte offsets) exist.

Token width: mBERT's 119,547 ids do not fit u16, and infini-gram 2.6.0 accepts `--token_dtype
u32`, but its suffix-array builder (`rust_indexing make-part`) then allocates 2^32 × 8 bytes =
32 GiB whatever the corpus size, which fails on a 23 GiB machine. So the ids that occur in the
corpus are renumbered densely, in order (an order-preserving bijection: every id sequence has
exactly the same occurrences), into u16 when at most 65,534 distinct ids occur; an entity id that
never occurs maps to 65,534, an id no line holds, so infini-gram itself answers 0. Past 65,534
distinct ids it falls back to u32 (machines with > 32 GiB of memory).

Semantics: infini-gram counts *occurrences* of an id sequence; factroots counts *lines*. What is
compared: (a) infini-gram's occurrence count against a brute-force occurrence count (Aho–Corasick
over the same lines, overlapping matches counted), which must be equal; (b) "occurs in at least
one line": infini-gram count > 0 iff factroots' line count > 0; (c) occurrences ≥ lines.
Only `tokens` mode applies: infini-gram indexes ids, not word units.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factroots.search import FactIndex

U16_ABSENT = 0xFFFE  # 0xFFFF is infini-gram's u16 document separator


@dataclass(frozen=True)
class InfinigramBuild:
    index_dir: Path
    seconds: float
    bytes: int
    tokens: int
    token_dtype: str
    id_map: np.ndarray  # model id -> indexed id

    def query_ids(self, ids: Sequence[int]) -> list[int]:
        return [int(self.id_map[i]) if i < self.id_map.size else U16_ABSENT for i in ids]


@dataclass(frozen=True)
class EntityComparison:
    """One run over every distinct entity: latencies (µs) and agreement counts."""

    entities: int
    factroots_us: np.ndarray
    infinigram_us: np.ndarray
    occurrences_equal: int
    presence_equal: int
    occurrences_at_least_lines: int
    mismatches: list[tuple[str, int, int, int]]  # label, infini-gram, brute force, lines


def collection_ids(collection_dir: str | Path) -> Iterator[np.ndarray]:
    """Each line's token ids, in line order, from a JsonCollection written by the exporter."""
    for path in sorted(Path(collection_dir).glob("docs*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for raw in fh:
                yield np.array(json.loads(raw)["contents"].split(), dtype=np.uint32)


def dense_id_map(collection_dir: str | Path) -> tuple[np.ndarray, str]:
    """Model id -> indexed id: dense and order-preserving (u16) when the corpus allows it."""
    seen = np.zeros(1, dtype=bool)
    for ids in collection_ids(collection_dir):
        if ids.size and ids.max() >= seen.size:
            seen = np.concatenate([seen, np.zeros(int(ids.max()) + 1 - seen.size, dtype=bool)])
        seen[ids] = True
    if seen.sum() <= U16_ABSENT:
        return np.where(seen, np.cumsum(seen) - 1, U16_ABSENT).astype(np.int64), "u16"
    return np.arange(seen.size, dtype=np.int64), "u32"


def write_tokenized(
    collection_dir: str | Path, index_dir: Path, id_map: np.ndarray, token_dtype: str
) -> int:
    """`tokenized.0` and `offset.0` for infini-gram; returns the number of tokens."""
    dtype = np.dtype("<u2" if token_dtype == "u16" else "<u4")
    separator = b"\xff" * dtype.itemsize
    offsets, position, tokens = [], 0, 0
    with open(index_dir / "tokenized.0", "wb") as data:
        for ids in collection_ids(collection_dir):
            offsets.append(position)
            data.write(separator + id_map[ids].astype(dtype).tobytes())
            position += len(separator) + dtype.itemsize * ids.size
            tokens += ids.size
    np.asarray(offsets, dtype="<u8").tofile(index_dir / "offset.0")
    return tokens


def build_infinigram_index(
    collection_dir: str | Path, index_dir: str | Path, cpus: int = 2, mem_gib: int = 4
) -> InfinigramBuild:
    """Build the suffix array with `python -m infini_gram.indexing` (tokenization skipped);
    `seconds` covers renumbering, writing the token file and building the suffix array."""
    index_dir = Path(index_dir)
    shutil.rmtree(index_dir, ignore_errors=True)
    (index_dir / "empty-data").mkdir(parents=True)
    started = time.perf_counter()
    id_map, token_dtype = dense_id_map(collection_dir)
    tokens = write_tokenized(collection_dir, index_dir, id_map, token_dtype)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "infini_gram.indexing",
            "--data_dir",
            str((index_dir / "empty-data").resolve()),
            "--save_dir",
            str(index_dir.resolve()),
            "--token_dtype",
            token_dtype,
            "--cpus",
            str(cpus),
            "--mem",
            str(mem_gib),
            "--ulimit",
            "20000",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in index_dir.glob("*.0"))
    return InfinigramBuild(index_dir, seconds, size, tokens, token_dtype, id_map)


def open_engine(build: InfinigramBuild):
    from infini_gram.engine import InfiniGramEngine

    vocab = 0xFFFF if build.token_dtype == "u16" else int(build.id_map.size)
    return InfiniGramEngine(
        index_dir=str(build.index_dir),
        eos_token_id=0,
        vocab_size=vocab,
        token_dtype=build.token_dtype,
    )


def _id_chars(ids: Sequence[int]) -> str:
    """Token ids as one character each (offset past the BMP: no surrogates, no collisions)."""
    return "".join(chr(0x10000 + int(i)) for i in ids)


def brute_force_occurrences(
    collection_dir: str | Path, entities: dict[str, tuple[int, ...]]
) -> dict[str, int]:
    """Occurrences of each id sequence in the lines, overlapping ones included, by one
    Aho–Corasick pass (independent of both indexes)."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for key, ids in entities.items():
        automaton.add_word(_id_chars(ids), key)
    automaton.make_automaton()
    counts = dict.fromkeys(entities, 0)
    for ids in collection_ids(collection_dir):
        for _, key in automaton.iter(_id_chars(ids.tolist())):
            counts[key] += 1
    return counts


def _timed(call, *args) -> tuple[object, float]:
    started = time.perf_counter()
    value = call(*args)
    return value, (time.perf_counter() - started) * 1e6


def compare_entities(
    index: FactIndex,
    build: InfinigramBuild,
    engine,
    collection_dir: str | Path,
    labels: Sequence[str],
) -> EntityComparison:
    """Each traceable label (tokens mode): factroots' line count vs infini-gram's occurrences."""
    entities = {}
    for label in dict.fromkeys(labels):
        terms = index.entity(label, "tokens")
        if terms.traceable:
            entities[label] = tuple(int(t) for t in terms.terms)
    truth = brute_force_occurrences(collection_dir, entities)
    ours_us, theirs_us = np.empty(len(entities)), np.empty(len(entities))
    equal = presence = at_least = 0
    mismatches = []
    for k, (label, ids) in enumerate(entities.items()):
        counted, ours_us[k] = _timed(index.count, label, "tokens")
        answer, theirs_us[k] = _timed(engine.count, build.query_ids(ids))
        lines, found = counted.lines, answer["count"]
        equal += found == truth[label]
        presence += (found > 0) == (lines > 0)
        at_least += found >= lines
        if found != truth[label] or (found > 0) != (lines > 0) or found < lines:
            mismatches.append((label, found, truth[label], lines))
    return EntityComparison(
        len(entities), ours_us, theirs_us, equal, presence, at_least, mismatches
    )
