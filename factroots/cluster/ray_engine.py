"""Shard builds as Ray tasks and shard lookups as Ray actors; the driver merges.

Builds: each shard (factroots/indexer/shards.py) is one task with one CPU, retried
`TASK_RETRIES` times on any failure (a retried task empties its shard folder first); a shard that
still fails fails the build with its input files named, and the driver cancels the rest, so no
root manifest is written and nothing is published.

Traces: one actor per shard opens the shard once and keeps it open; every batch of labels is
tokenized once on the driver and sent to all actors at once; each counts its shard's lines of
every entity and pair (`counts`) and the driver adds them up, as the local engine does. Line
ids (`entity_lines`) come back per shard and are merged as the local engine merges them.

On a cluster, every node must see the input files, the index root and the tokenizer at the same
paths as the driver (a shared file system), and have factroots installed with this extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from factroots.errors import FactrootsError
from factroots.indexer.manifest import Manifest, read_manifest
from factroots.indexer.shards import (
    WORKER_ENV,
    ProgressSum,
    ShardTask,
    build_shard,
    shard_failure,
)
from factroots.search.entity import EntityTerms
from factroots.search.index import Evidence, FactIndex
from factroots.search.postings import CHUNK, EntityLines, _joined
from factroots.search.sharded import ShardedIndex, summed_counts
from factroots.tokenizer import ModelTokenizer

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
except ImportError:  # pragma: no cover - the message says how to get it
    raise FactrootsError("--engine ray needs Ray: pip install 'factroots[cluster]'") from None

TASK_RETRIES = 2


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Ray connected for the block: an already initialized Ray is used as it is; otherwise
    `ray.init(address)` (None: a local Ray on this machine, or RAY_ADDRESS), shut down after."""
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise FactrootsError(f"cannot start or reach Ray at {address or 'local'}: {exc}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _cause(error: BaseException) -> BaseException:
    """The exception a Ray task raised, where Ray wraps it."""
    if isinstance(error, RayTaskError):
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException):
            return cause
    return error


def build_shards_ray(
    tasks: Sequence[ShardTask], address: str | None, on_progress: Callable | None = None
) -> list:
    """Each shard as a Ray task; the shard manifests in task order."""
    with ray_session(address):
        remote = ray.remote(build_shard).options(
            num_cpus=1,
            max_retries=TASK_RETRIES,
            retry_exceptions=True,
            runtime_env={"env_vars": dict(WORKER_ENV)},
        )
        refs = {remote.remote(task): task for task in tasks}
        summed, results = ProgressSum(tasks, on_progress), {}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                task = refs[done[0]]
                try:
                    results[task.number] = ray.get(done[0])
                except RayError as exc:
                    raise shard_failure(task, _cause(exc)) from None
                summed.finished(task, results[task.number])
                summed.report()
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [results[task.number] for task in tasks]


class ShardActor:
    """One shard, opened once, answering for as long as the trace runs."""

    def __init__(self, path: str, tokenizer_path: str, tokenizer_name: str):
        from factroots.tokenizer import load_tokenizer

        tok = replace(load_tokenizer(tokenizer_path), name=tokenizer_name)
        self.index = FactIndex.open_path(path, tok)

    def has_postings(self) -> bool:
        return self.index.has_postings

    def lines(
        self, keys: np.ndarray, offsets: np.ndarray, mode: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self.index.postings(mode).resolve(keys, offsets).entity_lines()
        return found.flat, found.start, found.count

    def counts(
        self, keys: np.ndarray, offsets: np.ndarray, mode: str, left: np.ndarray, right: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.index.sidecar_counts(keys, offsets, mode, left, right)

    def call(self, method: str, *args):
        """Any other FactIndex call on the shard (entity and pair counts, evidence, line_ids,
        lines_of)."""
        return getattr(self.index, method)(*args)


class _ActorShard:
    """A shard behind an actor, with the FactIndex calls ShardedIndex fans out."""

    def __init__(self, actor, lines: int):
        self.actor, self.num_lines = actor, lines

    @property
    def has_postings(self) -> bool:
        return ray.get(self.actor.has_postings.remote())

    def _entity_count(self, entity: EntityTerms) -> int:
        return ray.get(self.actor.call.remote("_entity_count", entity))

    def pair_lines(self, subj: EntityTerms, obj: EntityTerms) -> tuple[int, int, int]:
        return ray.get(self.actor.call.remote("pair_lines", subj, obj))

    def _evidence(self, subj: EntityTerms, obj: EntityTerms, show: int) -> list[Evidence]:
        return ray.get(self.actor.call.remote("_evidence", subj, obj, show))

    def line_ids(self, entity):
        return ray.get(self.actor.call.remote("line_ids", entity))

    def lines_of(self, entities, threads: int = 2, on_done=None):
        found = ray.get(self.actor.call.remote("lines_of", entities, threads))
        if on_done:
            on_done(len(entities))
        return found

    def stored_texts(self, page: int = 4096):
        raise FactrootsError("stored lines are read with the local engine")


class RayShardedIndex(ShardedIndex):
    """An index (sharded or not) whose shards are Ray actors; answers as the local one."""

    def __init__(self, path: Path, manifest: Manifest, tokenizer: ModelTokenizer):
        entries = [(path / e.path, e.line_base, e.counts.lines) for e in manifest.shards] or [
            (path, 0, manifest.counts.lines)
        ]
        # no CPU reserved (an actor waits between batches, and numba uses the node's cores
        # while it answers), spread over the nodes so that shards do not pile up on one
        actor = ray.remote(ShardActor).options(num_cpus=0, scheduling_strategy="SPREAD")
        self.actors: list[Any] = [
            actor.remote(str(p), str(tokenizer.path), tokenizer.name) for p, _, _ in entries
        ]
        shards: list[Any] = [
            _ActorShard(a, n)  # FactIndex's calls, answered by an actor
            for a, (_, _, n) in zip(self.actors, entries, strict=True)
        ]
        super().__init__(path, manifest, tokenizer, shards)
        self.bases = [base for _, base, _ in entries]
        self._postings_ready = all(ray.get([a.has_postings.remote() for a in self.actors]))

    @property
    def has_postings(self) -> bool:
        return self._postings_ready

    def shard_entity_lines(
        self,
        keys: np.ndarray,
        offsets: np.ndarray,
        mode: str,
        on_done: Callable[[int], None] | None = None,
    ) -> list[EntityLines]:
        """Every chunk of entities sent to every actor at once; merged per shard in order."""
        chunks = [
            (lo, min(lo + CHUNK, offsets.size - 1)) for lo in range(0, offsets.size - 1, CHUNK)
        ]
        calls = []
        for lo, hi in chunks:
            part = offsets[lo : hi + 1]
            chunk_keys = ray.put(keys[part[0] : part[-1]])
            chunk_offsets = ray.put(part - part[0])
            calls.append([a.lines.remote(chunk_keys, chunk_offsets, mode) for a in self.actors])
        per_shard: list[list[EntityLines]] = [[] for _ in self.actors]
        for (lo, hi), refs in zip(chunks, calls, strict=True):
            for k, (flat, start, count) in enumerate(ray.get(refs)):
                per_shard[k].append(EntityLines(flat, start, count))
            if on_done:
                on_done(hi - lo)
        return [_joined(parts) for parts in per_shard]

    def sidecar_counts(
        self,
        keys: np.ndarray,
        offsets: np.ndarray,
        mode: str,
        left: np.ndarray,
        right: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every actor counts its shard at once; the counts are added up."""
        refs = [ray.put(a) for a in (keys, offsets, left, right)]
        calls = [a.counts.remote(refs[0], refs[1], mode, refs[2], refs[3]) for a in self.actors]
        lines, both = summed_counts(ray.get(calls))
        if on_done:
            on_done(offsets.size - 1)
        return lines, both

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


def open_ray_index(root: str | Path, lang: str, tokenizer: ModelTokenizer) -> RayShardedIndex:
    """`ROOT/<tokenizer>/<lang>` with one actor per shard (Ray connected: `ray_session`)."""
    from factroots.indexer.layout import index_path, open_current

    def opener(path: Path) -> RayShardedIndex:
        FactIndex.open_path(path, tokenizer)  # the same checks as the local engine, here
        return RayShardedIndex(path, read_manifest(path), tokenizer)

    return open_current(index_path(root, tokenizer.name, lang), opener)
