"""Build one tantivy index per (tokenizer, language), atomically, in bounded memory."""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from factroots import __version__
from factroots.defaults import DEFAULT_ENGINE, DEFAULT_TOKENIZER, ENGINES
from factroots.errors import FactrootsError
from factroots.indexer.layout import (
    BUILDING_PREFIX,
    BuildLock,
    building_path,
    check_lang,
    check_replaceable,
    index_path,
    publish,
    recover_legacy,
)
from factroots.indexer.manifest import Counts, Manifest
from factroots.indexer.postings import PostingsWriter
from factroots.indexer.reader import CorpusReader, Document
from factroots.indexer.schema import (
    DOC_ID,
    LINE,
    TEXT,
    TITLE,
    TOKENS,
    WORDS,
    build_schema,
    register_analyzers,
    token_term_lines,
)
from factroots.indexer.segmenter import DEFAULT_MAX_TOKENS, Line, Segmenter
from factroots.tokenizer import ModelTokenizer, TokenizerSpec, as_tokenizer
from factroots.units import index_unit_lines

BATCH_CHARS = 4_000_000  # text per tokenizer batch: bounds memory, keeps both cores busy
HEAP_PER_THREAD = 128 * 1024 * 1024
MIN_SHARD_BYTES = 16 * 1024 * 1024  # input per shard at least, unless shards are asked for
__all__ = [
    "BUILDING_PREFIX",
    "BuildProgress",
    "build_index",
    "document_batches",
    "index_path",
    "partition_by_size",
    "write_index",
]


@dataclass
class BuildProgress:
    """What the progress callback sees after each batch."""

    bytes_done: int
    total_bytes: int
    documents: int
    lines: int
    tokens: int


def document_batches(docs: Iterable[Document], max_chars: int) -> Iterator[list[Document]]:
    """Consecutive documents in batches of about `max_chars` characters of text."""
    batch, chars = [], 0
    for doc in docs:
        batch.append(doc)
        chars += len(doc.text)
        if chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def _line_document(line_id: int, line: Line, words: str, tokens: str) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_unsigned(LINE, line_id)
    doc.add_text(WORDS, words)
    doc.add_text(TOKENS, tokens)
    doc.add_bytes(TEXT, line.text.encode("utf-8"))
    doc.add_bytes(DOC_ID, line.doc_id.encode("utf-8"))
    doc.add_bytes(TITLE, line.title.encode("utf-8"))
    return doc


def _remove_stale_builds(final: Path) -> tuple[BuildLock, Path]:
    """Lock `final` against other builds and make this build's own directory beside it.

    Nothing of an earlier build is deleted here: a killed build's leftovers go only once this
    one has published (`publish`), and an old index a killed swap of an earlier factroots left
    in `.building-<lang>-old-<pid>` is put back first."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FactrootsError(f"cannot create {final.parent}: {exc.strerror or exc}") from None
    lock = BuildLock(final).acquire()
    try:
        check_replaceable(final)
        recover_legacy(final)
        building = building_path(final.parent, final.name)
        shutil.rmtree(building, ignore_errors=True)  # a dead build's, whose pid we now have
        building.mkdir()
    except OSError as exc:
        lock.release()
        raise FactrootsError(f"cannot write in {final.parent}: {exc.strerror or exc}") from None
    except BaseException:
        lock.release()
        raise
    return lock, building


def _swap_into_place(built: Path, final: Path) -> None:
    """Replace `final` by `built` so that `final` always opens as either the old or the new
    index (see factroots.indexer.layout)."""
    publish(built, final)


def _write_lines(
    writer,
    postings: PostingsWriter,
    segmenter: Segmenter,
    reader: CorpusReader,
    counts: Counts,
    on_progress: Callable[[BuildProgress], None] | None,
) -> None:
    for batch in document_batches(reader, BATCH_CHARS):
        lines = [line for doc_lines in segmenter.lines(batch) for line in doc_lines]
        batch_words, long_units = index_unit_lines([line.text for line in lines])
        counts.long_units += long_units  # too long for tantivy: stand-ins
        for doc in batch:
            counts.documents += 1
            counts.text_bytes += len(doc.text.encode("utf-8"))
            counts.first_paragraph_bytes += len(doc.first_paragraph.encode("utf-8"))
        batch_ids = [line.ids for line in lines]
        batch_tokens = token_term_lines(batch_ids)
        for line, words, tokens in zip(lines, batch_words, batch_tokens, strict=True):
            writer.add_document(_line_document(counts.lines, line, words, tokens))
            counts.lines += 1
            counts.tokens += int(line.ids.size)
        postings.add_lines(batch_words, batch_ids)
        if on_progress:
            on_progress(
                BuildProgress(
                    reader.bytes_done,
                    reader.total_bytes,
                    counts.documents,
                    counts.lines,
                    counts.tokens,
                )
            )


def write_index(
    directory: Path,
    reader: CorpusReader,
    input_root: str | Path,
    lang: str,
    tok: ModelTokenizer,
    max_tokens: int,
    threads: int,
    on_progress: Callable[[BuildProgress], None] | None = None,
) -> Manifest:
    """Write one complete (unsharded) index of `reader`'s documents into the empty folder
    `directory`: tantivy index, postings sidecar, then manifest.json. Lines are numbered from 0.
    A reader with no text gives an index of no lines (the caller decides if that is an error)."""
    started = time.perf_counter()
    index = tantivy.Index(build_schema(), path=str(directory), reuse=False)
    register_analyzers(index)
    writer = index.writer(heap_size=HEAP_PER_THREAD * threads, num_threads=threads)
    counts = Counts()
    postings = PostingsWriter(directory)
    segmenter = Segmenter(tok, max_tokens)
    _write_lines(writer, postings, segmenter, reader, counts, on_progress)
    counts.cut_runs = segmenter.hard_cuts
    writer.commit()
    writer.wait_merging_threads()
    postings.finish()
    counts.skipped_by_reason = dict(reader.skipped)
    counts.skipped_records = sum(counts.skipped_by_reason.values())
    counts.empty_files = sum(s.empty for s in reader.sources)
    manifest = Manifest(
        language=lang,
        tokenizer_name=tok.name,
        tokenizer_sha256=tok.sha256,
        max_tokens=max_tokens,
        input_root=str(Path(input_root).resolve()),
        sources=[
            {
                "path": s.path,
                "size": s.size,
                "sha256": s.sha256,
                "documents": s.documents,
                "skipped": dict(s.skipped),
                "empty": s.empty,
            }
            for s in reader.sources
        ],
        counts=counts,
        build_seconds=round(time.perf_counter() - started, 3),
        factroots_version=__version__,
    )
    manifest.write(directory)
    return manifest


_TANTIVY_IO = ("os error", "io::error", "ioerror", "io error", "writer was killed")
LOW_SPACE_BYTES = 1 << 20


def _write_failure(final: Path, building: Path, exc: BaseException) -> FactrootsError | None:
    """A build that failed writing its files (a full disk, an I/O error: an OSError from
    Python, or from tantivy a ValueError or a panic) as one line; None for any other error.
    Until `publish` has renamed `building`, nothing of the build is visible at `final`."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    elif type(exc).__name__ == "PanicException" or (
        isinstance(exc, ValueError) and any(h in str(exc).lower() for h in _TANTIVY_IO)
    ):
        reason = f"tantivy: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"
        try:
            if shutil.disk_usage(building.parent).free < LOW_SPACE_BYTES:
                reason = f"No space left on device ({reason})"
        except OSError:
            pass
    else:
        return None
    if building.exists():
        return FactrootsError(f"build of {final} failed: {reason}; the index there is unchanged")
    return FactrootsError(f"build of {final} failed while publishing it: {reason}")


def build_index(
    input_dir: str | Path,
    lang: str,
    root: str | Path,
    tokenizer: TokenizerSpec = DEFAULT_TOKENIZER,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    workers: int | None = None,
    on_progress: Callable[[BuildProgress], None] | None = None,
    shards: int | None = None,
    engine: str = DEFAULT_ENGINE,
    address: str | None = None,
) -> Manifest:
    """Build `ROOT/<tokenizer>/<lang>/` from a WikiExtractor tree, or from a MediaWiki XML
    dump (`…-pages-articles.xml.bz2`, extracted on the fly), and return its manifest.

    The input files (sorted) are cut by size into `shards` contiguous runs (default: one per
    worker, at most one per file and one per MIN_SHARD_BYTES), each built as a shard of its
    own; one shard is today's unsharded layout, built in this process with `workers` threads
    (with engine "local"). Several are built by
    `workers` processes (`engine="local"`) or as Ray tasks (`engine="ray"`, at `address`), and
    published together as one version, with the root manifest written last (see
    factroots.indexer.shards)."""
    started = time.perf_counter()
    lang = check_lang(lang)
    tok = as_tokenizer(tokenizer).parsed()
    workers = max(1, workers or os.cpu_count() or 1)
    if engine not in ENGINES:
        raise FactrootsError(f"unknown engine {engine!r} (use {' or '.join(ENGINES)})")
    if address and engine != "ray":
        raise FactrootsError("--address is the Ray cluster's: use it with --engine ray")
    reader = open_reader(input_dir, workers=workers)
    parts = partition_by_size(reader.files, shards or default_shards(reader.total_bytes, workers))
    final = index_path(root, tok.name, lang)
    lock, building = _remove_stale_builds(final)
    try:
        if len(parts) == 1 and engine == "local":
            manifest = write_index(
                building, reader, input_dir, lang, tok, max_tokens, workers, on_progress
            )
            if manifest.counts.lines == 0:
                raise FactrootsError(f"no documents with text found in {input_dir}")
            manifest.build_seconds = round(time.perf_counter() - started, 3)
            manifest.write(building)
        else:
            from factroots.indexer.shards import build_shards

            manifest = build_shards(
                building,
                parts,
                input_dir,
                lang,
                tok,
                max_tokens,
                workers,
                on_progress,
                engine,
                address,
            )
            manifest.build_seconds = round(time.perf_counter() - started, 3)
            manifest.write(building)  # the root manifest, last
        _swap_into_place(building, final)
        return manifest
    except BaseException as exc:  # a full disk in tantivy may come as a panic
        failure = _write_failure(final, building, exc)
        if failure is None:
            raise
        traceback.clear_frames(exc.__traceback__)  # tantivy's writer goes, its threads stop
        raise failure from None
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
        lock.release()


def open_reader(input_root: str | Path, files: Sequence[Path] | None = None, workers: int = 1):
    """The documents of a WikiExtractor tree (or of `files` in it), or of a MediaWiki XML dump
    when `input_root` is one (factroots.indexer.dump: pages extracted by `workers` - 1 more
    processes while this one indexes)."""
    from factroots.indexer.dump import DumpReader, is_mediawiki_dump

    if Path(input_root).is_file() and is_mediawiki_dump(input_root):
        return DumpReader(input_root, workers - 1)
    return CorpusReader(input_root, files)


def default_shards(total_bytes: int, workers: int) -> int:
    """One shard per worker, but none under MIN_SHARD_BYTES of input: a small corpus is built
    unsharded, by threads, with no process to start."""
    return max(1, min(workers, total_bytes // MIN_SHARD_BYTES))


def partition_by_size(files: Sequence[Path], parts: int) -> list[list[Path]]:
    """`files` cut, in order, into at most `parts` non-empty contiguous runs of about equal
    size (each file weighs its bytes plus one, so empty files count too)."""
    files = list(files)
    parts = max(1, min(parts, len(files)))
    weights = [p.stat().st_size + 1 for p in files]
    total = sum(weights)
    runs: list[list[Path]] = []
    done, at = 0, 0
    for k in range(parts):
        left = parts - k - 1  # runs still to come after this one, one file each at least
        target = total * (k + 1) / parts
        run = [files[at]]
        done += weights[at]
        at += 1
        while at < len(files) - left and (done + weights[at] / 2 <= target or left == 0):
            run.append(files[at])
            done += weights[at]
            at += 1
        runs.append(run)
    return runs
