"""FactIndex: count entities and find subject–object co-occurrences in one language's lines."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import tantivy

from factroots.defaults import DEFAULT_TOKENIZER
from factroots.errors import FactrootsError
from factroots.indexer.layout import check_lang, index_path, open_current
from factroots.indexer.manifest import MANIFEST_NAME, Manifest, read_manifest
from factroots.indexer.postings import upgradable
from factroots.indexer.schema import DOC_ID, LINE, TEXT, TITLE, register_analyzers
from factroots.search.entity import EntityTerms, entity_terms, label_keys
from factroots.search.evidence import line_terms, marked_text, snippet, spans_in
from factroots.search.postings import (
    EntityLines,
    ModePostings,
    flattened,
    open_postings,
    pair_counts,
)
from factroots.tokenizer import (
    BUNDLED,
    ModelTokenizer,
    TokenizerSpec,
    as_tokenizer,
    tokenizer_name,
)

OK, UNTRACEABLE = "ok", "untraceable"
FIRST_FETCH = 256  # hits asked for first; most entities occur on fewer lines, so one search
RESOLVE_CHUNK = 256  # entities per resolver task (and per progress report)
CACHE_MIN_LINES = 2048  # entities on this many lines keep their line ids for later calls
ENTITY_CACHE = 200_000  # analysed entities remembered per index


@dataclass(frozen=True)
class EntityCount:
    """How many lines contain an entity (lines, not occurrences)."""

    label: str
    mode: str
    status: str
    lines: int
    reason: str = ""


@dataclass(frozen=True)
class EntityCounts:
    """Lines containing each of many labels; 0 where a label is untraceable."""

    mode: str
    lines: np.ndarray
    traceable: np.ndarray


@dataclass(frozen=True)
class CooccurCounts:
    """For each of many (subject, object) pairs, as `cooccur` answers them one at a time."""

    mode: str
    subject_lines: np.ndarray
    object_lines: np.ndarray
    cooccur_lines: np.ndarray
    traceable: np.ndarray

    @cached_property
    def present(self) -> np.ndarray:
        """Whether the pair shares a line (False where untraceable: see `traceable`); worked
        out once, so that indexing it pair by pair stays linear."""
        return self.traceable & (self.cooccur_lines > 0)


@dataclass(frozen=True)
class Evidence:
    """One line where subject and object co-occur, with the mentions' character spans."""

    line: int
    doc_id: str
    title: str
    text: str
    spans: list[tuple[int, int]]

    def marked(self, open_mark: str = "«", close_mark: str = "»") -> str:
        return marked_text(self.text, self.spans, open_mark, close_mark)

    def snippet(self, context: int = 60) -> str:
        """The mentions with `context` characters around each."""
        return snippet(self.text, self.spans, context)


@dataclass(frozen=True)
class Cooccurrence:
    """Whether subject and object share a line: present is None when either is untraceable."""

    subject: str
    object: str
    mode: str
    status: str
    present: bool | None
    lines: int
    subject_lines: int
    object_lines: int
    reason: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready data (`query --json`, the explorer's API): evidence as line, doc, title,
        a snippet and the mentions' character spans in the line's text."""
        data = {k: v for k, v in vars(self).items() if k != "evidence"}
        data["evidence"] = [
            {
                "line": ev.line,
                "doc_id": ev.doc_id,
                "title": ev.title,
                "snippet": ev.snippet(),
                "spans": [list(span) for span in ev.spans],
            }
            for ev in self.evidence
        ]
        return data


def _stored(doc: tantivy.Document, field: str) -> str:
    """A stored bytes field of a line, as text."""
    return bytes(doc[field][0]).decode("utf-8")


def _is_panic(exc: BaseException) -> bool:
    """Whether `exc` is a Rust panic inside tantivy (pyo3's PanicException, a BaseException)."""
    return type(exc).__name__ == "PanicException"


_STDERR_LOCK = threading.Lock()


@contextmanager
def _panic_report_held() -> Iterator[None]:
    """File descriptor 2 held in a temporary file while tantivy opens an index: a panic's own
    report (Rust prints it before Python sees the exception) is dropped, anything else written
    meanwhile is passed on."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as held:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable stderr: nothing to hold
            yield
            return
        os.dup2(held.fileno(), 2)
        panicked = False
        try:
            yield
        except BaseException as exc:
            panicked = _is_panic(exc)
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not panicked:
                held.seek(0)
                os.write(2, held.read())


def _term_query(schema: tantivy.Schema, entity: EntityTerms) -> tantivy.Query:
    if len(entity.terms) == 1:  # tantivy panics on a one-term phrase
        return tantivy.Query.term_query(schema, entity.field, entity.terms[0])
    return tantivy.Query.phrase_query(schema, entity.field, list(entity.terms))


def _both_query(schema: tantivy.Schema, subj: EntityTerms, obj: EntityTerms) -> tantivy.Query:
    return tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Must, _term_query(schema, subj)),
            (tantivy.Occur.Must, _term_query(schema, obj)),
        ]
    )


class FactIndex:
    """A read-only view of one (tokenizer, language) index."""

    def __init__(self, path: Path, manifest: Manifest, tokenizer: ModelTokenizer):
        self.path = path
        self.manifest = manifest
        self.tokenizer = tokenizer
        self._shadow: tempfile.TemporaryDirectory | None = None
        self._index = self._open_tantivy(path)
        register_analyzers(self._index)
        self._schema = self._index.schema
        self._searcher = self._index.searcher()
        self._line_cache: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}
        self._entities: dict[tuple[str, str], EntityTerms] = {}
        self._postings = open_postings(path)
        if self._postings is None and upgradable(path):
            warnings.warn(  # worded per index, not per shard: shown once for all its shards
                f"the {manifest.tokenizer_name} {manifest.language!r} index's postings sidecar "
                "is of an older format, so batch calls take tantivy's slower path: "
                "`factroots index upgrade ROOT` rewrites it in place",
                stacklevel=2,
            )

    def _damaged(self, exc: BaseException) -> FactrootsError:
        """The one-line error for tantivy failing on this index's files: which index, why, and
        the command that rebuilds it."""
        m, path = self.manifest, self.path
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        layout = path.parent.name == m.tokenizer_name  # ROOT/<tokenizer>/<version or lang>
        shown = path.parent / m.language if layout else path
        root = path.parent.parent if layout else "ROOT"
        tok = "" if m.tokenizer_name == "mbert" else f" --tokenizer {m.tokenizer_name}"
        return FactrootsError(
            f"index {shown} is damaged (tantivy: {reason}): rebuild it: "
            f"factroots index build {m.input_root} --lang {m.language} "
            f"--root {root}{tok}"
        )

    def _tantivy(self, call: Callable, *args, **kwargs):
        """`call(*args, **kwargs)` on tantivy, whose failures reading damaged files (a panic,
        or a ValueError/OSError) become one FactrootsError naming the index."""
        try:
            return call(*args, **kwargs)
        except BaseException as exc:
            if _is_panic(exc) or isinstance(exc, (ValueError, OSError)):
                raise self._damaged(exc) from None
            raise

    def _search(self, query: tantivy.Query, limit: int, **kwargs):
        return self._tantivy(self._searcher.search, query, limit, **kwargs)

    def _doc(self, address) -> tantivy.Document:
        return self._tantivy(self._searcher.doc, address)

    def _open_tantivy(self, path: Path) -> tantivy.Index:
        try:
            with _panic_report_held():
                return tantivy.Index.open(str(path))
        except BaseException as exc:  # tantivy raises plain ValueError/OSError, or panics
            if not (_is_panic(exc) or isinstance(exc, Exception)):
                raise
            if "Lockfile" not in str(exc):
                raise self._damaged(exc) from None
        # A read-only directory: tantivy insists on a lock file, so read through a shadow
        # directory of symbolic links where it may write one.
        self._shadow = tempfile.TemporaryDirectory(prefix="factroots-ro-")
        for entry in path.iterdir():
            if not entry.name.endswith(".lock"):
                os.symlink(entry.resolve(), Path(self._shadow.name) / entry.name)
        try:
            with _panic_report_held():
                return tantivy.Index.open(self._shadow.name)
        except BaseException as exc:
            if not (_is_panic(exc) or isinstance(exc, Exception)):
                raise
            raise self._damaged(exc) from None

    @classmethod
    def open(
        cls, root: str | Path, lang: str, tokenizer: TokenizerSpec = DEFAULT_TOKENIZER
    ) -> FactIndex:
        """Open `ROOT/<tokenizer>/<lang>/`, checking it was built with that very tokenizer."""
        tok = as_tokenizer(tokenizer)
        path = index_path(root, tok.name, lang)
        if not path.exists():
            from factroots.indexer.catalog import missing_index

            raise FactrootsError(missing_index(root, tok.name, check_lang(lang)))
        return open_current(path, lambda p: cls.open_path(p, tok))

    @staticmethod
    def exists(root: str | Path, lang: str, tokenizer: TokenizerSpec = DEFAULT_TOKENIZER) -> bool:
        """Whether `ROOT/<tokenizer>/<lang>/` holds an index (its manifest), without opening it
        or loading the tokenizer; an invalid language code is an error, as for `open`."""
        return (index_path(root, tokenizer_name(tokenizer), lang) / MANIFEST_NAME).is_file()

    def close(self) -> None:
        """Let go of the index's files (tantivy's searcher, the postings' memory maps, the
        shadow folder of a read-only index; every shard's for a sharded index). The index
        answers nothing after it; closing twice is harmless. `with FactIndex.open(...) as
        index:` closes it at the end of the block."""
        for shard in getattr(self, "shards", ()):
            close = getattr(shard, "close", None)
            if close is not None:
                close()
        for name in ("_searcher", "_index", "_postings"):
            if hasattr(self, name):
                setattr(self, name, None)
        self._line_cache = {}
        self._entities = {}
        shadow = getattr(self, "_shadow", None)
        if shadow is not None:
            shadow.cleanup()
            self._shadow = None

    def __enter__(self) -> FactIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.manifest
        shards = len(m.shards) if m.sharded else 1
        return (
            f"{type(self).__name__}(language={m.language!r}, tokenizer={m.tokenizer_name!r}, "
            f"lines={m.counts.lines}, shards={shards}, path={str(self.path)!r})"
        )

    @classmethod
    def open_path(cls, path: str | Path, tokenizer: TokenizerSpec | None = None) -> FactIndex:
        """Open the index at `path`; without a tokenizer, the manifest's bundled one is used."""
        path = Path(path)
        manifest = read_manifest(path)
        if tokenizer is None:
            if manifest.tokenizer_name not in BUNDLED:
                raise FactrootsError(
                    f"index {path} was built with tokenizer {manifest.tokenizer_name!r}: "
                    "pass the same tokenizer path"
                )
            tokenizer = manifest.tokenizer_name
        tok = as_tokenizer(tokenizer)
        if (tok.name, tok.sha256) != (manifest.tokenizer_name, manifest.tokenizer_sha256):
            raise FactrootsError(
                f"index {path} was built with tokenizer {manifest.tokenizer_name!r} "
                f"(sha256 {manifest.tokenizer_sha256[:12]}…), not {tok.name!r} "
                f"(sha256 {tok.sha256[:12]}…)"
            )
        if manifest.sharded:  # shards behind the same API (factroots/search/sharded.py)
            from factroots.search.sharded import ShardedIndex

            return ShardedIndex(path, manifest, tok)
        return cls(path, manifest, tok)

    @property
    def num_lines(self) -> int:
        return self._searcher.num_docs

    def entity(self, label: str, mode: str = "words") -> EntityTerms:
        """The entity's terms, remembered for later calls (up to ENTITY_CACHE of them)."""
        found = self._entities.get((label, mode))
        if found is None:
            if len(self._entities) >= ENTITY_CACHE:
                self._entities.clear()
            found = self._entities[(label, mode)] = entity_terms(label, mode, self.tokenizer)
        return found

    def stored_texts(self, page: int = 4096) -> Iterator[tuple[int, str]]:
        """(line id, stored text) of every line, in line-id order, one page at a time."""
        for lo in range(0, self.num_lines, page):
            query = tantivy.Query.range_query(
                self._schema, LINE, tantivy.FieldType.Unsigned, lo, lo + page - 1, True, True
            )
            hits = self._search(
                query, page, count=False, order_by_field=LINE, order=tantivy.Order.Asc
            ).hits
            for line_id, address in hits:
                yield int(line_id), _stored(self._doc(address), TEXT)

    def _count(self, query: tantivy.Query) -> int:
        return self._search(query, 1, count=True).count

    def _entity_count(self, entity: EntityTerms) -> int:
        """Lines holding a traceable entity: on the postings sidecar where there is one, else
        a one-term entity's document frequency (a term lookup) or a counted phrase search."""
        postings = self._sidecar(entity.mode)
        if postings is not None:
            return postings.entity_count(entity.keys)
        if len(entity.terms) == 1:
            return self._tantivy(self._searcher.doc_freq, entity.field, entity.terms[0])
        return self._count(_term_query(self._schema, entity))

    def count(self, label: str, mode: str = "words") -> EntityCount:
        """Number of lines containing `label`."""
        entity = self.entity(label, mode)
        if not entity.traceable:
            return EntityCount(label, mode, UNTRACEABLE, 0, entity.reason)
        return EntityCount(label, mode, OK, self._entity_count(entity))

    def line_ids(self, entity: EntityTerms) -> np.ndarray:
        """Sorted ids of every line containing `entity` (empty when untraceable)."""
        if not entity.traceable:
            return np.empty(0, dtype=np.int64)
        return self._matching_lines(_term_query(self._schema, entity))

    def _matching_lines(self, query: tantivy.Query) -> np.ndarray:
        """All matching line ids, ascending: one search when they fit the first guess."""
        found = self._search(
            query, FIRST_FETCH, count=True, order_by_field=LINE, order=tantivy.Order.Asc
        )
        hits = found.hits
        if found.count > len(hits):
            hits = self._search(
                query, found.count, count=False, order_by_field=LINE, order=tantivy.Order.Asc
            ).hits
        return np.fromiter((h[0] for h in hits), dtype=np.int64, count=len(hits))

    def _has_every_term(self, entity: EntityTerms) -> bool:
        """Whether each term occurs somewhere (a term lookup, far cheaper than a search)."""
        freq = self._searcher.doc_freq
        return all(self._tantivy(freq, entity.field, t) for t in set(entity.terms))

    def lines_of(
        self,
        entities: Sequence[EntityTerms],
        threads: int = 2,
        on_done: Callable[[int], None] | None = None,
    ) -> list[np.ndarray]:
        """Sorted line ids of each entity; each distinct term sequence is resolved once, and
        entities on at least CACHE_MIN_LINES lines are kept for later calls."""
        keys = [(e.field, e.terms) for e in entities]
        todo = [
            e
            for e in {
                k: e
                for k, e in zip(keys, entities, strict=True)
                if e.traceable and k not in self._line_cache
            }.values()
        ]
        resolved = dict(self._line_cache)

        def resolve(chunk: list[EntityTerms]) -> None:
            for e in chunk:
                if self._has_every_term(e):
                    resolved[(e.field, e.terms)] = self._matching_lines(
                        _term_query(self._schema, e)
                    )
            if on_done:
                on_done(len(chunk))

        chunks = [todo[i : i + RESOLVE_CHUNK] for i in range(0, len(todo), RESOLVE_CHUNK)]
        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(pool.map(resolve, chunks))
        self._line_cache.update({k: v for k, v in resolved.items() if v.size >= CACHE_MIN_LINES})
        empty = np.empty(0, dtype=np.int64)
        return [resolved.get(k, empty) for k in keys]

    @property
    def has_postings(self) -> bool:
        """Whether batch calls run on the postings sidecar (indexes built since format 1)."""
        return self._postings is not None

    def entity_lines(
        self,
        labels: Sequence[str],
        mode: str = "words",
        on_done: Callable[[int], None] | None = None,
    ) -> EntityLines:
        """Sorted line ids of each label, all resolved in one batch (none when untraceable).
        `on_done(n)` is called as each further n labels are resolved."""
        return self._resolved(labels, mode, on_done)[0]

    def count_many(self, labels: Sequence[str], mode: str = "words") -> EntityCounts:
        """`count` of many labels at once, as numpy arrays."""
        none = np.empty(0, dtype=np.int64)
        traceable, lines, _ = self._batch_counts(labels, mode, none, none)
        return EntityCounts(mode, lines, traceable)

    def cooccur_many(
        self,
        pairs: Sequence[tuple[str, str]],
        mode: str = "words",
        on_done: Callable[[int], None] | None = None,
    ) -> CooccurCounts:
        """`cooccur` of many (subject, object) pairs at once, as numpy arrays; each distinct
        label is resolved once (`on_done` as in `entity_lines`)."""
        flat = [label for pair in pairs for label in pair]
        labels = list(dict.fromkeys(flat))
        code = {label: i for i, label in enumerate(labels)}
        codes = np.fromiter(map(code.__getitem__, flat), np.int64, len(flat))
        subj, obj = codes[0::2], codes[1::2]
        traceable, lines, both = self._batch_counts(labels, mode, subj, obj, on_done)
        ok = traceable[subj] & traceable[obj]
        return CooccurCounts(
            mode,
            np.where(ok, lines[subj], 0),
            np.where(ok, lines[obj], 0),
            np.where(ok, both, 0),
            ok,
        )

    def _batch_counts(
        self,
        labels: Sequence[str],
        mode: str,
        left: np.ndarray,
        right: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whether each label is traceable, the lines it is on, and the lines labels left[k]
        and right[k] share, for each k."""
        if self.has_postings:
            keys = label_keys(labels, mode, self.tokenizer)
            lines, both = self.sidecar_counts(keys.keys, keys.offsets, mode, left, right, on_done)
            return keys.traceable, lines, both
        found, traceable = self._resolved(labels, mode, on_done)
        return (
            traceable,
            found.count,
            pair_counts(found.flat, found.start, found.count, left, right),
        )

    def sidecar_counts(
        self,
        keys: np.ndarray,
        offsets: np.ndarray,
        mode: str,
        left: np.ndarray,
        right: np.ndarray,
        on_done: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """On the postings sidecar, for entities given by their term keys (as `label_keys`
        gives them): the lines of each, and the lines entities left[k] and right[k] share.
        A sharded index sums its shards'; another engine (Ray actors) replaces this one
        method."""
        found = self.postings(mode).resolve(keys, offsets, on_done)
        return found.count, found.pair_counts(left, right)

    def _sidecar(self, mode: str) -> ModePostings | None:
        """The sidecar's arrays of one mode, or None for an index built without one."""
        return None if self._postings is None else self._postings.get(mode)

    def postings(self, mode: str) -> ModePostings:
        """The postings sidecar's arrays of one mode (see `has_postings`)."""
        if self._postings is None:
            raise FactrootsError(
                f"{self.path} has no postings sidecar: rebuild it for batch calls on the sidecar"
            )
        return self._postings[mode]

    def _resolved(
        self, labels: Sequence[str], mode: str, on_done: Callable[[int], None] | None = None
    ) -> tuple[EntityLines, np.ndarray]:
        """Each label's lines and whether it is traceable: on the sidecar where there is one,
        else one tantivy search per distinct entity (indexes built before the sidecar)."""
        if self._postings is not None:
            keys = label_keys(labels, mode, self.tokenizer)
            found = self.postings(mode).resolve(keys.keys, keys.offsets, on_done)
            return found.entity_lines(), keys.traceable
        entities = [self.entity(label, mode) for label in labels]
        traceable = np.array([e.traceable for e in entities], dtype=bool)
        return flattened(self.lines_of(entities, on_done=on_done)), traceable

    def cooccur(
        self, subject: str, object: str, mode: str = "words", show: int = 0
    ) -> Cooccurrence:
        """Whether `subject` and `object` occur in one line, with up to `show` evidence lines."""
        subj, obj = self.entity(subject, mode), self.entity(object, mode)
        untraceable = [e for e in (subj, obj) if not e.traceable]
        if untraceable:
            reason = "; ".join(f"{e.label!r}: {e.reason}" for e in untraceable)
            return Cooccurrence(subject, object, mode, UNTRACEABLE, None, 0, 0, 0, reason)
        subject_lines, object_lines, lines = self.pair_lines(subj, obj)
        evidence = self._evidence(subj, obj, show) if show > 0 and lines else []
        return Cooccurrence(
            subject,
            object,
            mode,
            OK,
            lines > 0,
            lines,
            subject_lines,
            object_lines,
            evidence=evidence,
        )

    def pair_lines(self, subj: EntityTerms, obj: EntityTerms) -> tuple[int, int, int]:
        """Lines holding the subject, the object, and both: one numba call on the postings
        sidecar where there is one (built from the very same lines), else tantivy's counts."""
        postings = self._sidecar(subj.mode)
        if postings is not None:
            return postings.pair_lines(subj.keys, obj.keys)
        subject_lines, object_lines = self._entity_count(subj), self._entity_count(obj)
        if not (subject_lines and object_lines):
            return subject_lines, object_lines, 0
        return subject_lines, object_lines, self._count(_both_query(self._schema, subj, obj))

    def _evidence(self, subj: EntityTerms, obj: EntityTerms, show: int) -> list[Evidence]:
        """The first `show` lines holding both, in line order, from tantivy's stored lines."""
        found: list[Evidence] = []
        hits = self._search(
            _both_query(self._schema, subj, obj),
            show,
            count=False,
            order_by_field=LINE,
            order=tantivy.Order.Asc,
        ).hits
        for line_id, address in hits:
            doc = self._doc(address)
            text = _stored(doc, TEXT)
            terms, bounds = line_terms(text, subj.mode, self.tokenizer)  # once for both
            spans = spans_in(terms, bounds, subj) + spans_in(terms, bounds, obj)
            found.append(
                Evidence(int(line_id), _stored(doc, DOC_ID), _stored(doc, TITLE), text, spans)
            )
        return found
