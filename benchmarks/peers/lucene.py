"""Lucene (through pyserini/Anserini) as a peer: the same lines, the same facts, one Boolean query
per fact.

The collection is `factroots export lucene`'s JsonCollection (`contents` = token ids, `words` =
word units, one Lucene document per factroots line), indexed by Anserini's IndexCollection with
`--pretokenized` (whitespace analyzer: one term per id / unit) and `--storePositions` (phrases).
A fact is the query `phrase(subject) AND phrase(object)` (a TermQuery for a one-term entity),
counted with `IndexSearcher.count`; the matching line ids come from the stored `id` field.
The entity → terms mapping is factroots' own (`FactIndex.entity`), so the differential check
compares the two engines on identical term sequences.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.peers import jvm
from factroots.search.entity import EntityTerms

FIELDS = {"words": "words", "tokens": "contents"}  # factroots mode -> Lucene field

_FSDirectory = jvm.autoclass("org.apache.lucene.store.FSDirectory")
_DirectoryReader = jvm.autoclass("org.apache.lucene.index.DirectoryReader")
_IndexSearcher = jvm.autoclass("org.apache.lucene.search.IndexSearcher")
_Paths = jvm.autoclass("java.nio.file.Paths")
_Term = jvm.autoclass("org.apache.lucene.index.Term")
_TermQuery = jvm.autoclass("org.apache.lucene.search.TermQuery")
_PhraseQuery = jvm.autoclass("org.apache.lucene.search.PhraseQuery")
_BooleanQueryBuilder = jvm.autoclass("org.apache.lucene.search.BooleanQuery$Builder")
_MUST = jvm.autoclass("org.apache.lucene.search.BooleanClause$Occur").MUST


@dataclass(frozen=True)
class LuceneBuild:
    """An Anserini index built from a JsonCollection."""

    index_dir: Path
    seconds: float
    bytes: int


def directory_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def build_lucene_index(
    collection_dir: str | Path, index_dir: str | Path, threads: int = 2
) -> LuceneBuild:
    """Index a JsonCollection exactly as `python -m pyserini.index.lucene` would (in-process,
    so that one JVM serves many builds); `seconds` is the indexing call alone."""
    index_dir = Path(index_dir)
    shutil.rmtree(index_dir, ignore_errors=True)
    args = [
        "--collection",
        "JsonCollection",
        "--input",
        str(collection_dir),
        "--index",
        str(index_dir),
        "--generator",
        "DefaultLuceneDocumentGenerator",
        "--threads",
        str(threads),
        "--storePositions",
        "--pretokenized",
        "--fields",
        FIELDS["words"],
    ]
    started = time.perf_counter()
    jvm.run_module("pyserini.index.lucene", args)
    return LuceneBuild(index_dir, time.perf_counter() - started, directory_bytes(index_dir))


def entity_query(entity: EntityTerms):
    """A TermQuery for one term, else a PhraseQuery, on the mode's field."""
    field = FIELDS[entity.mode]
    if len(entity.terms) == 1:
        return _TermQuery(_Term(field, entity.terms[0]))
    return _PhraseQuery(field, *entity.terms)  # Java varargs: one argument per term


def fact_query(subject: EntityTerms, object: EntityTerms):
    """phrase(subject) AND phrase(object)."""
    builder = _BooleanQueryBuilder()
    builder.add(entity_query(subject), _MUST)
    builder.add(entity_query(object), _MUST)
    return builder.build()


class LuceneLines:
    """A read-only Lucene index of factroots lines."""

    def __init__(self, index_dir: str | Path):
        self.reader = _DirectoryReader.open(_FSDirectory.open(_Paths.get(str(index_dir))))
        # jnius would pick the IndexReaderContext constructor without the cast
        self.searcher = _IndexSearcher(jvm.cast("org.apache.lucene.index.IndexReader", self.reader))

    @property
    def num_lines(self) -> int:
        return self.reader.numDocs()

    def count(self, query) -> int:
        return self.searcher.count(query)

    def cooccur_lines(self, subject: EntityTerms, object: EntityTerms) -> int:
        """Lines containing both entities: one Boolean query, counted."""
        return self.searcher.count(fact_query(subject, object))

    def line_ids(self, query, limit: int | None = None) -> np.ndarray:
        """Sorted factroots line ids of the documents matching `query` (the evidence)."""
        n = self.searcher.count(query) if limit is None else limit
        if n == 0:
            return np.empty(0, dtype=np.int64)
        stored = self.searcher.storedFields()
        hits = self.searcher.search(query, n).scoreDocs
        return np.sort(
            np.fromiter(
                (int(stored.document(h.doc).get("id")) for h in hits),
                dtype=np.int64,
                count=len(hits),
            )
        )

    def doc_ids(self, query) -> np.ndarray:
        """Sorted Lucene doc ids of every document matching `query` (one search, each hit's
        id read through pyjnius)."""
        n = self.searcher.count(query)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        hits = self.searcher.search(query, n).scoreDocs
        return np.sort(np.fromiter((h.doc for h in hits), dtype=np.int64, count=len(hits)))

    def close(self) -> None:
        self.reader.close()
