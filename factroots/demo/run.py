"""The demo: generate a corpus, build its indexes, and answer the planted facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from factroots.demo.corpus import PLANTED, demo_languages, write_corpus
from factroots.indexer.builder import build_index
from factroots.search import FactIndex


@dataclass(frozen=True)
class DemoRow:
    lang: str
    subject: str
    object: str
    planted: bool
    present_words: bool | None
    present_tokens: bool | None
    lines: int
    evidence: str


def run_demo(workdir: str | Path, n_docs: int = 40) -> list[DemoRow]:
    """Build the demo indexes under `workdir` and trace every planted fact in both modes."""
    workdir = Path(workdir)
    corpus, root = workdir / "corpus", workdir / "index"
    rows = []
    for lang in demo_languages():
        write_corpus(corpus, lang, n_docs=n_docs)
        build_index(corpus / lang, lang, root)
        index = FactIndex.open(root, lang)
        for fact in (f for f in PLANTED if f.lang == lang):
            words = index.cooccur(fact.subject, fact.object, "words", show=1)
            tokens = index.cooccur(fact.subject, fact.object, "tokens")
            shown = words.evidence[0].marked() if words.evidence else ""
            rows.append(DemoRow(lang, fact.subject, fact.object, fact.present, words.present,
                                tokens.present, words.lines, shown))
    return rows
