"""A sharded index behind FactIndex's API: every call fans out over the shards and merges.

Each shard is opened as a FactIndex of its own (factroots/indexer/shards.py has the layout).
Counts add up (a line lies in exactly one shard); a line id is the shard's `line_base` plus the
shard's own id, so ids, evidence order and stored-text order are those of an unsharded build.
Batch calls tokenize every label once and resolve it on each shard's postings sidecar;
`count_many` and `cooccur_many` add up the shards' counts, and only `entity_lines` merges the
per-shard line ids (`merged_shards`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from factroots.errors import FactrootsError
from factroots.indexer.manifest import Manifest, read_manifest
from factroots.search.entity import EntityTerms, label_keys
from factroots.search.index import (
    Evidence,
    FactIndex,
)
from factroots.search.postings import EntityLines, flattened, merged_shards
from factroots.tokenizer import ModelTokenizer


class ShardProgress:
    """Turns per-shard `on_done(n)` reports into reports over the whole index: a label counts
    as done once every shard has resolved it."""

    def __init__(self, shards: int, on_done: Callable[[int], None] | None):
        self.shards, self.on_done = shards, on_done
        self.done = self.reported = 0

    def __call__(self, n: int) -> None:
        self.done += n
        whole = self.done // self.shards
        if self.on_done and whole > self.reported:
            self.on_done(whole - self.reported)
        self.reported = max(self.reported, whole)


def open_shard(path: Path, root: Manifest, entry, tokenizer: ModelTokenizer) -> FactIndex:
    """One shard, checked against what the root manifest says of it."""
    manifest = read_manifest(path)
    if manifest.sharded:
        raise FactrootsError(f"corrupt index: shard {path} is itself sharded")
    if (
        manifest.language,
        manifest.tokenizer_name,
        manifest.tokenizer_sha256,
        manifest.max_tokens,
    ) != (root.language, root.tokenizer_name, root.tokenizer_sha256, root.max_tokens):
        raise FactrootsError(
            f"corrupt index: shard {path} was built for another language, "
            "tokenizer or max_tokens than its index"
        )
    shard = FactIndex(path, manifest, tokenizer)
    if not shard.num_lines == manifest.counts.lines == entry.counts.lines:
        raise FactrootsError(
            f"corrupt index: shard {path} holds {shard.num_lines} lines, its "
            f"manifests say {manifest.counts.lines} and "
            f"{entry.counts.lines}"
        )
    return shard


def summed_counts(
    parts: Iterable[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The shards' (entity lines, pair lines) counts added up: a line lies in exactly one
    shard."""
    each = iter(parts)
    lines, both = (counts.astype(np.int64) for counts in next(each))
    for shard_lines, shard_both in each:
        lines += shard_lines
        both += shard_both
    return lines, both


class ShardedIndex(FactIndex):
    """A read-only view of one (tokenizer, language) index made of several shards."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        tokenizer: ModelTokenizer,
        shards: Sequence[FactIndex] | None = None,
    ):
        self.path = path
        self.manifest = manifest
        self.tokenizer = tokenizer
        self._entities: dict[tuple[str, str], EntityTerms] = {}
        self.bases = [entry.line_base for entry in manifest.shards]
        if shards is None:
            shards = [
                open_shard(path / entry.path, manifest, entry, tokenizer)
                for entry in manifest.shards
            ]
        self.shards = list(shards)

    @property
    def num_lines(self) -> int:
        return self.manifest.counts.lines

    @property
    def has_postings(self) -> bool:
        return all(shard.has_postings for shard in self.shards)

    def stored_texts(self, page: int = 4096) -> Iterator[tuple[int, str]]:
        for shard, base in zip(self.shards, self.bases, strict=True):
            for line_id, text in shard.stored_texts(page):
                yield base + line_id, text

    def _entity_count(self, entity: EntityTerms) -> int:
        return sum(shard._entity_count(entity) for shard in self.shards)

    def line_ids(self, entity: EntityTerms) -> np.ndarray:
        parts = [
            shard.line_ids(entity) + base
            for shard, base in zip(self.shards, self.bases, strict=True)
        ]
        return np.concatenate(parts).astype(np.int64)

    def lines_of(
        self,
        entities: Sequence[EntityTerms],
        threads: int = 2,
        on_done: Callable[[int], None] | None = None,
    ) -> list[np.ndarray]:
        progress = ShardProgress(len(self.shards), on_done)
        parts = [flattened(shard.lines_of(entities, threads, progress)) for shard in self.shards]
        merged = merged_shards(parts, self.bases)
        return [merged.lines(e) for e in range(len(entities))]

    def shard_entity_lines(
        self,
        keys: np.ndarray,
        offsets: np.ndarray,
        mode: str,
        on_done: Callable[[int], None] | None = None,
    ) -> list[EntityLines]:
        """Each shard's lines (its own ids) of the entities given by their term keys; another
        engine (Ray actors) replaces this one method."""
        progress = ShardProgress(len(self.shards), on_done)
        return [
            shard.postings(mode).resolve(keys, offsets, progress).entity_lines()
            for shard in self.shards
        ]

    def sidecar_counts(
        self,
        keys: np.ndarray,
        offsets: np.ndarray,
        mode: str,
        left: np.ndarray,
        right: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every shard's counts, added up (a line lies in exactly one shard); each shard's
        mapped pages are released once it is counted, so that resident memory holds one
        shard's at a time."""
        progress = ShardProgress(len(self.shards), on_done)

        def counted(shard: FactIndex) -> tuple[np.ndarray, np.ndarray]:
            counts = shard.sidecar_counts(keys, offsets, mode, left, right, progress)
            shard.postings(mode).release()
            return counts

        return summed_counts(counted(shard) for shard in self.shards)

    def _resolved(
        self, labels: Sequence[str], mode: str, on_done: Callable[[int], None] | None = None
    ) -> tuple[EntityLines, np.ndarray]:
        if not self.has_postings:
            entities = [self.entity(label, mode) for label in labels]
            traceable = np.array([e.traceable for e in entities], dtype=bool)
            return flattened(self.lines_of(entities, on_done=on_done)), traceable
        keys = label_keys(labels, mode, self.tokenizer)
        parts = self.shard_entity_lines(keys.keys, keys.offsets, mode, on_done)
        return merged_shards(parts, self.bases), keys.traceable

    def pair_lines(self, subj: EntityTerms, obj: EntityTerms) -> tuple[int, int, int]:
        subject_lines = object_lines = both = 0
        for shard in self.shards:
            s, o, b = shard.pair_lines(subj, obj)
            subject_lines, object_lines, both = subject_lines + s, object_lines + o, both + b
        return subject_lines, object_lines, both

    def _evidence(self, subj: EntityTerms, obj: EntityTerms, show: int) -> list[Evidence]:
        """The first `show` lines holding both, shard after shard (line order)."""
        evidence: list[Evidence] = []
        for shard, base in zip(self.shards, self.bases, strict=True):
            if len(evidence) >= show:
                break
            found = shard._evidence(subj, obj, show - len(evidence))
            evidence += [replace(ev, line=ev.line + base) for ev in found]
        return evidence
