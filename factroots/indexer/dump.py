"""Documents straight from a MediaWiki XML dump (`…-pages-articles.xml.bz2`), streaming.

The `wikiextractor` package (extra `dump`) does the text extraction, page by page, as its
command line does with `--no-templates` and no `--sections`, `--lists` or `--html`: text
passages only (no lists, tables or section headers), articles only (namespace 0, no redirects),
HTML entities escaped as WikiExtractor writes them. Each page's `<doc>` block is then read exactly
as a WikiExtractor output file is (factroots.indexer.reader: unescaped once, title first, NFC),
so a dump gives the index that WikiExtractor's own output of it would give. Nothing is written
between the dump and the index.

The dump is read once: its sha256 and size are taken from the same stream and recorded in the
manifest as its only source. A page WikiExtractor fails on is skipped and counted; a truncated
or corrupt compressed stream ends the reading there, counted (`unreadable stream (…)`), and the
pages before it are indexed.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import regex

from factroots.errors import FactrootsError
from factroots.indexer.reader import Document, SourceFile, SourceTotals, make_document

HEAD_BYTES = 64 * 1024
_ATTR = regex.compile(r'(\w+)="([^"]*)"')  # as factroots.indexer.reader reads `<doc …>`
MARKER = b"<mediawiki"


def _open_text_stream(raw) -> io.BufferedIOBase:
    head = raw.peek(3)[:3] if hasattr(raw, "peek") else b""
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw)
    return raw


def is_mediawiki_dump(path: str | Path) -> bool:
    """Whether `path` is a file holding a MediaWiki XML export (plain, bz2 or gzip)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh, _open_text_stream(io.BufferedReader(fh)) as stream:
            head = stream.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return False
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2 :].lstrip()
    return head.startswith(MARKER)


class _Hashing(io.RawIOBase):
    """A raw file that hashes and counts what is read through it."""

    def __init__(self, fh):
        self.fh = fh
        self.digest = hashlib.sha256()
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.fh.readinto(buffer)
        if n:
            self.digest.update(memoryview(buffer)[:n])
            self.done += n
        return n

    def drain(self) -> None:
        """Read (and hash) the rest of the file."""
        for block in iter(lambda: self.fh.read(1 << 20), b""):
            self.digest.update(block)
            self.done += len(block)


@functools.cache
def _wikiextractor():
    try:
        from wikiextractor import WikiExtractor
        from wikiextractor.extract import _DEFAULT_IGNORED_TAG_PATTERNS, Extractor, ignoreTag
    except ImportError:
        raise FactrootsError(
            "reading a Wikipedia dump needs wikiextractor: pip install 'factroots[dump]'"
        ) from None
    import logging

    logging.getLogger("wikiextractor").setLevel(logging.ERROR)
    return WikiExtractor, Extractor, list(_DEFAULT_IGNORED_TAG_PATTERNS) + [ignoreTag("a")]


class _Site:
    """What WikiExtractor's process_dump takes from `<siteinfo>`: the base URL, the known
    namespaces and the template namespace."""

    def __init__(self, wikiextractor):
        self.wikiextractor = wikiextractor
        self.urlbase = ""
        self.namespaces = {"Template"}
        self.template_prefix = ""
        self._settings: dict | None = None

    def lines(self, lines: Iterator[str]) -> Iterator[str]:
        """The lines, unchanged, the siteinfo noted on the way (as process_dump reads it)."""
        tag_re = self.wikiextractor.tagRE
        in_siteinfo = True
        for line in lines:
            if in_siteinfo:
                m = tag_re.search(line)
                tag = m.group(2) if m else None
                if tag == "base":
                    base = m.group(3)
                    self.urlbase = base[: base.rfind("/")]
                elif tag == "namespace":
                    self.namespaces.add(m.group(3))
                    if 'key="10"' in line:
                        self.template_prefix = m.group(3) + ":"
                elif tag in ("/siteinfo", "page"):
                    in_siteinfo = False
                    # collect_pages leaves out titles starting with the template namespace, a
                    # module global process_dump sets; unset (no <namespaces>), it is "" and
                    # would leave out every page
                    self.wikiextractor.templateNamespace = self.template_prefix[:-1] or "Template"
            yield line

    def settings(self) -> dict:
        """What an Extractor needs of the site, as plain data (for worker processes)."""
        if self._settings is None:
            self._settings = {
                "urlbase": self.urlbase,
                "template_prefix": self.template_prefix,
                "namespaces": sorted(self.namespaces),
            }
        return self._settings


def _lines(stream) -> Iterator[str]:
    """The dump's lines as text (invalid UTF-8 replaced: the XML is UTF-8 by definition)."""
    yield from io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)


PAGES_PER_TASK = 64  # pages per extraction task in a worker process
TASKS_AHEAD = 4  # extraction tasks in flight per worker: bounds the pages held in memory


class DumpReader(SourceTotals):
    """The articles of a MediaWiki dump as Documents; the interface of CorpusReader (files,
    total_bytes, bytes_done, sources, skipped) so that a build takes either. With `workers`
    above 0, pages are extracted by that many processes (in order, a bounded number ahead)
    while this one indexes; with 0, here."""

    def __init__(self, path: str | Path, workers: int = 0):
        self.root = Path(path)
        self.files = [self.root]
        self.total_bytes = self.root.stat().st_size
        self.bytes_done = 0
        self.workers = workers
        self.sources: list[SourceFile] = []

    def __iter__(self) -> Iterator[Document]:
        wikiextractor, _, _ = _wikiextractor()
        site = _Site(wikiextractor)
        source = SourceFile(path=self.root.name, size=self.total_bytes, sha256="")
        self.sources = [source]
        source.empty = self.total_bytes == 0
        with open(self.root, "rb", buffering=0) as fh:
            hashing = _Hashing(fh)
            buffered = io.BufferedReader(hashing, 1 << 20)
            try:
                with _open_text_stream(buffered) as stream:
                    pages = wikiextractor.collect_pages(site.lines(_lines(stream)))
                    jobs = (
                        (site.settings(), page_id, revid, title, page)
                        for page_id, revid, title, page in pages
                    )
                    extracted = (
                        _extracted_here(jobs)
                        if self.workers <= 0
                        else _extracted_in(jobs, self.workers)
                    )
                    for doc, reason in extracted:
                        self.bytes_done = hashing.done
                        if doc is None:
                            source.skipped[reason] += 1
                        else:
                            source.documents += 1
                            yield doc
            except (OSError, EOFError, zlib.error) as exc:
                source.skipped[f"unreadable stream ({type(exc).__name__})"] += 1
            hashing.drain()
        source.sha256 = hashing.digest.hexdigest()
        self.bytes_done = self.total_bytes


Extracted = tuple[Document | None, str | None]


def _extracted_here(jobs) -> Iterator[Extracted]:
    for job in jobs:
        yield _document(*job)


def _extract_batch(batch: list[tuple]) -> list[Extracted]:
    return [_document(*job) for job in batch]


def _extracted_in(jobs, workers: int) -> Iterator[Extracted]:
    """The jobs' documents, in order, extracted by `workers` worker processes."""
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from itertools import islice

    from factroots.indexer.shards import exit_with_parent, parent_pipe, worker_context

    context = worker_context()
    alive, keep_alive = parent_pipe(context)
    with (
        keep_alive,
        ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=exit_with_parent, initargs=(alive,)
        ) as pool,
    ):
        ahead: deque = deque()
        jobs = iter(jobs)
        while True:
            while len(ahead) < TASKS_AHEAD * workers:
                batch = list(islice(jobs, PAGES_PER_TASK))
                if not batch:
                    break
                ahead.append(pool.submit(_extract_batch, batch))
            if not ahead:
                return
            try:
                yield from ahead.popleft().result()
            except BrokenProcessPool:
                raise FactrootsError("a page extraction process died (out of memory?)") from None


def _document(settings: dict, page_id: str, revid: str, title: str, page: list[str]) -> Extracted:
    """One page through WikiExtractor, then read as its `<doc>` block would be; or None and
    why it was skipped."""
    _, extractor, ignored = _wikiextractor()
    out = io.StringIO()
    try:
        extractor(
            page_id,
            revid,
            settings["urlbase"],
            title,
            page,
            ignored_tag_patterns=ignored,
            keepLinks=False,
            keepSections=False,
            HtmlFormatting=False,
            templatePrefix=settings["template_prefix"],
            knownNamespaces=set(settings["namespaces"]),
        ).extract(out, html_safe=True)
    except Exception:  # noqa: BLE001 - a page WikiExtractor cannot take is skipped, counted
        return None, "page extraction failed"
    lines = out.getvalue().split("\n")
    # `<doc …>`, the title, an empty line, the text, `</doc>`; attributes read as the reader
    # reads them from a file (make_document unescapes the title once)
    body = lines[1:-2] if len(lines) >= 3 and lines[-2] == "</doc>" else lines[1:]
    attrs = dict(_ATTR.findall(lines[0]))
    doc = make_document(attrs.get("id", page_id), attrs.get("title", title), body)
    return (doc, None) if doc is not None else (None, "empty document")
