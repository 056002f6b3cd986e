"""Lucene as an independent check of factroots: every mLAMA fact of a language, both modes.

For each fact, factroots' answer (the batch tracer, which must equal `FactIndex.cooccur`) and
Lucene's (one phrase-AND-phrase Boolean query, counted) must give the same co-occurrence line
count, hence the same present/absent verdict, and the same subject and object line counts.
Untraceable facts (no terms, or an unknown token) have no answer in either engine and are
counted apart. Both engines get factroots' own entity terms: what is checked is the index and
the query engine, not the label → terms mapping (the brute-force tests check that).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.peers.lucene import LuceneLines, build_lucene_index, entity_query
from factroots.export.lucene import export_lucene
from factroots.indexer.builder import build_index
from factroots.mlama import Fact, load_language
from factroots.search import FactIndex
from factroots.search.entity import MODES
from factroots.search.trace import trace_language

_BOOLEAN_BUILDER = "org.apache.lucene.search.BooleanQuery$Builder"


@dataclass(frozen=True)
class Disagreement:
    lang: str
    mode: str
    subject: str
    object: str
    factroots_lines: tuple[int, int, int]  # subject, object, both
    lucene_lines: tuple[int, int, int]


@dataclass
class Differential:
    """Facts compared in one language, and every disagreement found."""

    lang: str
    facts: int = 0
    compared: int = 0
    untraceable: int = 0
    present: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)

    def add(self, other: Differential) -> None:
        self.facts += other.facts
        self.compared += other.compared
        self.untraceable += other.untraceable
        self.present += other.present
        self.disagreements.extend(other.disagreements)


class LuceneFacts:
    """Lucene's answers per fact. Each distinct entity's Java sub-query is built once (building
    Java objects through pyjnius costs more than Lucene's own work on small indexes)."""

    def __init__(self, lucene: LuceneLines, index: FactIndex, mode: str):
        from benchmarks.peers import jvm

        self.lucene, self.index, self.mode = lucene, index, mode
        self._builder = jvm.autoclass(_BOOLEAN_BUILDER)
        self._must = jvm.autoclass("org.apache.lucene.search.BooleanClause$Occur").MUST
        self._queries: dict[str, object] = {}
        self._lines: dict[str, int] = {}

    def _query(self, label: str):
        query = self._queries.get(label)
        if query is None:
            query = self._queries[label] = entity_query(self.index.entity(label, self.mode))
        return query

    def entity_lines(self, label: str) -> int:
        """Lines holding the entity, counted by Lucene once per distinct label."""
        if label not in self._lines:
            self._lines[label] = self.lucene.count(self._query(label))
        return self._lines[label]

    def boolean_count(self, subject: str, object: str) -> int:
        """One Boolean query `phrase(subject) AND phrase(object)`, counted: always issued."""
        builder = self._builder()
        builder.add(self._query(subject), self._must)
        builder.add(self._query(object), self._must)
        return self.lucene.count(builder.build())

    def cooccur_lines(self, subject: str, object: str) -> int:
        """As `boolean_count`, but Lucene's own entity count of 0 answers without the query."""
        if self.entity_lines(subject) == 0 or self.entity_lines(object) == 0:
            return 0
        return self.boolean_count(subject, object)


def compare_language(
    index: FactIndex, lucene: LuceneLines, facts: Sequence[Fact], modes: Sequence[str] = MODES
) -> Differential:
    """factroots vs Lucene on every fact, in every mode."""
    result = Differential(index.manifest.language)
    for mode in modes:
        trace = trace_language(index, facts, mode)
        peer = LuceneFacts(lucene, index, mode)
        result.facts += len(trace)
        for row in trace.itertuples(index=False):
            if row.status != "ok":
                result.untraceable += 1
                continue
            ours = (row.subject_lines, row.object_lines, row.cooccur_lines)
            theirs = (
                peer.entity_lines(row.subject),
                peer.entity_lines(row.object),
                peer.cooccur_lines(row.subject, row.object),
            )
            result.compared += 1
            result.present += row.cooccur_lines > 0
            if theirs != ours:
                result.disagreements.append(
                    Disagreement(result.lang, mode, row.subject, row.object, ours, theirs)
                )
    return result


def lucene_beside(root: Path, lang: str, work: Path, tokenizer: str = "mbert") -> LuceneLines:
    """Export the factroots index `root/<tokenizer>/<lang>` and index it with Lucene."""
    collection, index_dir = work / f"collection-{lang}", work / f"lucene-{lang}"
    export_lucene(root, lang, collection, tokenizer)
    build_lucene_index(collection, index_dir)
    return LuceneLines(index_dir)


def differential_corpus(
    corpus_dir: str | Path,
    lang: str,
    mlama_dir: str | Path,
    work: str | Path | None = None,
    tokenizer: str = "mbert",
    modes: Sequence[str] = MODES,
) -> Differential:
    """Build both indexes over one corpus and compare them on all of `lang`'s mLAMA facts."""
    with tempfile.TemporaryDirectory(prefix="factroots-lucene-", dir=work) as tmp:
        root = Path(tmp) / "factroots"
        build_index(corpus_dir, lang, root, tokenizer)
        index = FactIndex.open(root, lang, tokenizer)
        lucene = lucene_beside(root, lang, Path(tmp), tokenizer)
        try:
            return compare_language(index, lucene, load_language(mlama_dir, lang).facts, modes)
        finally:
            lucene.close()


def differential_line(total: Differential, languages: Sequence[str]) -> str:
    """The RESULTS.md line."""
    return (
        f"Lucene differential: {total.compared:,} fact×mode answers over {len(languages)} "
        f"corpora ({', '.join(languages)}), {total.present:,} present, "
        f"{total.untraceable:,} untraceable skipped, "
        f"{len(total.disagreements)} disagreements"
    )
