"""Sharded builds: the input files cut into contiguous runs, each run built as a shard of its own
in a separate process (or Ray task), published together as one index version.

Layout of a sharded index (the folder `ROOT/<tokenizer>/<lang>` links to):

    manifest.json        root manifest (format 2): sources and counts of the whole, and
                         `shards`: [{path, line_base, sources, counts}], written last
    shard-00000/         a complete format-1 index (tantivy, postings/, manifest.json) of the
    shard-00001/         first, second, … run of the sorted input files
    …

Line ids: shard k's lines are numbered from 0 inside the shard; in the index a line's id is
`line_base` of its shard plus that local id, where `line_base` is the number of lines of the
shards before it. Since the runs follow the sorted input files, every line has the very id an
unsharded build gives it.

A worker builds with one tantivy thread and one tokenizer thread (RAYON_NUM_THREADS=1,
TOKENIZERS_PARALLELISM=false), so N workers keep about N cores busy; its memory is that of an
unsharded build with one thread (one tokenizer batch, one tantivy heap, one postings run).
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path

from factroots import __version__
from factroots.errors import FactrootsError
from factroots.indexer.manifest import SHARDED_FORMAT_VERSION, Counts, Manifest, ShardEntry

SHARD_PREFIX = "shard-"
WORKER_ENV = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
POLL_SECONDS = 0.2


def shard_name(k: int) -> str:
    return f"{SHARD_PREFIX}{k:05d}"


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to build one shard; plain data, so it pickles anywhere."""

    number: int
    files: tuple[str, ...]
    input_root: str
    directory: str
    lang: str
    tokenizer_path: str
    tokenizer_name: str
    tokenizer_sha256: str
    max_tokens: int
    bytes: int = 0
    threads: int = 1

    def describe(self) -> str:
        """The shard and its input files, relative to the input root, for error messages."""
        names = [
            os.path.relpath(f, self.input_root) if f != self.input_root else os.path.basename(f)
            for f in self.files
        ]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"shard {self.number} ({shown})"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the worker reading it will say what is wrong
        return 0


def shard_tasks(
    building: Path,
    parts: Sequence[Sequence[Path]],
    input_root: str | Path,
    lang: str,
    tok,
    max_tokens: int,
) -> list[ShardTask]:
    single = len(parts) == 1  # one shard is the unsharded layout: built in place
    return [
        ShardTask(
            k,
            tuple(str(Path(f).resolve()) for f in files),
            str(Path(input_root).resolve()),
            str(building if single else building / shard_name(k)),
            lang,
            str(tok.path),
            tok.name,
            tok.sha256,
            max_tokens,
            sum(_size(Path(f)) for f in files),
        )
        for k, files in enumerate(parts)
    ]


def build_shard(task: ShardTask, on_progress: Callable | None = None) -> Manifest:
    """Build one shard into `task.directory` (emptied first: a retried task starts afresh)."""
    from factroots.indexer.builder import open_reader, write_index
    from factroots.tokenizer import load_tokenizer

    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    tok = replace(load_tokenizer(task.tokenizer_path), name=task.tokenizer_name)
    if tok.sha256 != task.tokenizer_sha256:
        raise FactrootsError(
            f"{task.describe()}: tokenizer {task.tokenizer_path} changed during the build"
        )
    directory = Path(task.directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    reader = open_reader(task.input_root, [Path(f) for f in task.files])
    return write_index(
        directory,
        reader,
        task.input_root,
        task.lang,
        tok,
        task.max_tokens,
        task.threads,
        on_progress,
    )


def root_manifest(
    tasks: Sequence[ShardTask], manifests: Sequence[Manifest], tok, input_root: str | Path
) -> Manifest:
    """The root manifest of shards built from `tasks`: sources and counts added up in order."""
    counts, entries, sources, base = Counts(), [], [], 0
    for task, shard in zip(tasks, manifests, strict=True):
        counts.add(shard.counts)
        sources.extend(shard.sources)
        entries.append(
            ShardEntry(
                Path(task.directory).name, base, [s["path"] for s in shard.sources], shard.counts
            )
        )
        base += shard.counts.lines
    first = manifests[0]
    return Manifest(
        language=first.language,
        tokenizer_name=tok.name,
        tokenizer_sha256=tok.sha256,
        max_tokens=first.max_tokens,
        input_root=str(Path(input_root).resolve()),
        sources=sources,
        counts=counts,
        build_seconds=0.0,
        factroots_version=__version__,
        format_version=SHARDED_FORMAT_VERSION,
        shards=entries,
    )


def build_shards(
    building: Path,
    parts: Sequence[Sequence[Path]],
    input_root: str | Path,
    lang: str,
    tok,
    max_tokens: int,
    workers: int,
    on_progress: Callable | None = None,
    engine: str = "local",
    address: str | None = None,
) -> Manifest:
    """Build every shard under `building` and return the root manifest (not yet written); one
    shard is built into `building` itself, and its own manifest returned. A shard that fails
    fails the build with an error naming its input files."""
    tasks = shard_tasks(building, parts, input_root, lang, tok, max_tokens)
    if engine == "ray":
        from factroots.cluster.ray_engine import build_shards_ray

        manifests = build_shards_ray(tasks, address, on_progress)
    else:
        manifests = build_shards_local(tasks, workers, on_progress)
    manifest = manifests[0] if len(tasks) == 1 else root_manifest(tasks, manifests, tok, input_root)
    if manifest.counts.lines == 0:
        raise FactrootsError(f"no documents with text found in {input_root}")
    return manifest


class ProgressSum:
    """Adds up the latest progress of every shard into one BuildProgress for the caller."""

    def __init__(self, tasks: Sequence[ShardTask], on_progress: Callable | None):
        self.on_progress = on_progress
        self.total = sum(t.bytes for t in tasks)
        self.latest: dict[int, tuple[int, int, int, int]] = {}

    def update(self, shard: int, bytes_done: int, documents: int, lines: int, tokens: int) -> None:
        self.latest[shard] = (bytes_done, documents, lines, tokens)

    def finished(self, task: ShardTask, manifest: Manifest) -> None:
        c = manifest.counts
        self.update(task.number, task.bytes, c.documents, c.lines, c.tokens)

    def report(self) -> None:
        if self.on_progress is None or not self.latest:
            return
        from factroots.indexer.builder import BuildProgress

        sums = [sum(v[i] for v in self.latest.values()) for i in range(4)]
        self.on_progress(BuildProgress(sums[0], self.total, sums[1], sums[2], sums[3]))


def shard_failure(task: ShardTask, exc: BaseException) -> FactrootsError:
    """One line naming the shard, its input files and what went wrong."""
    if isinstance(exc, BrokenProcessPool):
        why = "its worker process died (out of memory?)"
    elif isinstance(exc, FactrootsError):
        why = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        why = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    else:
        why = f"{type(exc).__name__}: {exc}"
    return FactrootsError(f"{task.describe()} failed: {why}")


def _build_here(tasks: Sequence[ShardTask], on_progress: Callable | None) -> list[Manifest]:
    summed, manifests = ProgressSum(tasks, on_progress), []
    for task in tasks:

        def report(p, number=task.number) -> None:
            summed.update(number, p.bytes_done, p.documents, p.lines, p.tokens)
            summed.report()

        try:
            manifests.append(build_shard(task, report))
        except Exception as exc:  # noqa: BLE001 - any failure fails the whole build
            raise shard_failure(task, exc) from (None if isinstance(exc, FactrootsError) else exc)
        summed.finished(task, manifests[-1])
        summed.report()
    return manifests


_QUEUE = None


def _init_worker(progress_queue, alive) -> None:
    """In each worker process, before any work: one thread each for tantivy and tokenizers,
    and an end to the worker if the build that started it dies (killed, it cannot stop us)."""
    global _QUEUE
    os.environ.update(WORKER_ENV)
    _QUEUE = progress_queue
    exit_with_parent(alive)


def parent_pipe(context: multiprocessing.context.BaseContext):
    """(the end a pool's workers watch with `exit_with_parent`, the end this process keeps
    open until its pool is done): no other process ever holds the second."""
    return context.Pipe(duplex=False)


def exit_with_parent(alive) -> None:
    """End this worker process as soon as the process that started its pool is gone, killed
    included: `alive` is the read end of a pipe whose only write end that process holds, so a
    read ends (EOF) exactly then. (A worker's parent is the forkserver of `worker_context`,
    whose worker children keep it alive: a changed parent pid would never come.)"""

    def watch() -> None:
        try:
            alive.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run_task(task: ShardTask) -> Manifest:
    def report(p) -> None:
        if _QUEUE is not None:
            _QUEUE.put((task.number, p.bytes_done, p.documents, p.lines, p.tokens))

    return build_shard(task, report)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers still building (before the building
    folder is removed under them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # None after shutdown
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(10)


def worker_context() -> multiprocessing.context.BaseContext:
    """Processes forked from a server that has imported what a worker needs once
    (factroots.indexer._worker_preload; a spawned worker imported it itself, about 2 s of CPU
    each). The server runs no threads, unlike this process: forking this one would copy
    tantivy's and the tokenizer's locks."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["factroots.indexer._worker_preload"])
    return context


def build_shards_local(
    tasks: Sequence[ShardTask], workers: int, on_progress: Callable | None = None
) -> list[Manifest]:
    """Each task in one of `workers` worker processes (one after the other in this process
    when `workers` is 1); results in task order."""
    if workers <= 1:
        return _build_here(tasks, on_progress)
    context = worker_context()
    progress = context.Queue()
    alive, keep_alive = parent_pipe(context)
    summed = ProgressSum(tasks, on_progress)
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(tasks))),
        mp_context=context,
        initializer=_init_worker,
        initargs=(progress, alive),
    )
    futures: dict[Future, ShardTask] = {}
    try:
        futures = {pool.submit(_run_task, task): task for task in tasks}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            _drain(progress, summed)
            for future in done:
                task = futures[future]
                try:
                    summed.finished(task, future.result())
                except Exception as exc:  # noqa: BLE001 - any failure fails the whole build
                    raise shard_failure(task, exc) from (
                        None if isinstance(exc, (FactrootsError, BrokenProcessPool)) else exc
                    )
            summed.report()
        pool.shutdown(wait=True)
    except BaseException:
        _stop(pool)
        raise
    finally:
        keep_alive.close()
        progress.close()
        progress.join_thread()
    by_number = {task.number: future.result() for future, task in futures.items()}
    return [by_number[task.number] for task in tasks]


def _drain(progress, summed: ProgressSum) -> None:
    while True:
        try:
            summed.update(*progress.get_nowait())
        except queue_module.Empty:
            return
