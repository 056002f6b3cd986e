"""The benchmark corpus generator: deterministic, WikiExtractor-readable, planted entities."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from benchmarks.corpus import (
    STAMP,
    CorpusSpec,
    CorpusStats,
    RealisticSpec,
    corpus_density,
    ensure_corpus,
    generate_corpus,
    generate_realistic_corpus,
    planting_plan,
)
from factroots.indexer.builder import build_index
from factroots.indexer.reader import CorpusReader
from factroots.mlama import load_language
from factroots.search import FactIndex

SMALL = CorpusSpec(documents=700, docs_per_file=300, base_mentions=3000, vocab_size=30_000)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != STAMP):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory, mlama_dir) -> tuple[Path, CorpusStats]:
    """The SMALL corpus, generated once for the tests that only read it."""
    path = tmp_path_factory.mktemp("small") / "c"
    return path, generate_corpus(path, mlama_dir, SMALL)


def test_the_same_spec_writes_the_same_bytes(small, tmp_path, mlama_dir):
    generate_corpus(tmp_path / "b", mlama_dir, SMALL)
    assert tree_digest(small[0]) == tree_digest(tmp_path / "b")


def test_another_seed_writes_other_bytes(small, tmp_path, mlama_dir):
    generate_corpus(tmp_path / "b", mlama_dir, CorpusSpec(**{**SMALL.__dict__, "seed": 1}))
    assert tree_digest(small[0]) != tree_digest(tmp_path / "b")


def test_corpus_reads_as_wikiextractor_output_with_every_document(small):
    path, stats = small
    docs = list(CorpusReader(path))
    assert len(docs) == stats.documents == SMALL.documents
    assert stats.files == 3 and (path / "AA" / "wiki_02").is_file()
    assert all(doc.text for doc in docs)


def test_corpus_mixes_several_scripts(small):
    text = "".join(doc.text for doc in CorpusReader(small[0]))
    scripts = {"latin": "a", "cyrillic": "\u0430", "han": "\u4e00", "arabic": "\u0627"}
    ranges = {
        "latin": ("A", "z"),
        "cyrillic": ("\u0400", "\u04ff"),
        "han": ("\u4e00", "\u9fff"),
        "arabic": ("\u0600", "\u06ff"),
    }
    found = {name for name, (lo, hi) in ranges.items() if any(lo <= ch <= hi for ch in text)}
    assert found == set(scripts)


def test_entities_named_by_more_facts_are_planted_more_often(mlama_dir):
    facts = load_language(mlama_dir, "en").facts
    plan = planting_plan(facts, CorpusSpec())
    rate = dict(zip(plan.labels.tolist(), plan.rate.tolist(), strict=True))
    assert rate["French"] > 100 * rate[facts[0].subject]
    assert 0 < (plan.fact_rate > 0).mean() < 1


def test_ensure_corpus_reuses_a_corpus_of_the_same_spec(tmp_path, mlama_dir):
    first = ensure_corpus(tmp_path / "c", mlama_dir, SMALL)
    marker = tmp_path / "c" / "AA" / "wiki_00"
    before = marker.stat().st_mtime_ns
    again = ensure_corpus(tmp_path / "c", mlama_dir, SMALL)
    assert again == first and marker.stat().st_mtime_ns == before


def test_generation_refuses_a_folder_it_did_not_write(tmp_path, mlama_dir):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_corpus(tmp_path / "c", mlama_dir, SMALL)


@pytest.mark.parametrize("lang, documents", [("en", 250), ("ja", 250), ("zh", 200)])
def test_realistic_corpus_matches_the_real_sample_density_within_a_quarter(
    lang, documents, tmp_path, wiki_dir, mlama_dir, sample_indexes
):
    generate_realistic_corpus(
        tmp_path / "corpus",
        wiki_dir / lang,
        RealisticSpec(documents=documents, lang=lang, docs_per_file=100),
    )
    build_index(tmp_path / "corpus", lang, tmp_path / "generated")
    facts = load_language(mlama_dir, lang).facts
    got = corpus_density(FactIndex.open(tmp_path / "generated", lang), facts)
    real = corpus_density(sample_indexes.open(lang), facts)
    assert got.lines > 2 * real.lines or got.lines > 2000
    assert got.tokens_per_line == pytest.approx(real.tokens_per_line, rel=0.25)
    for mode in ("words", "tokens"):
        assert got.entity_lines_per_line[mode] == pytest.approx(
            real.entity_lines_per_line[mode], rel=0.25
        ), mode


def test_realistic_corpus_is_deterministic(tmp_path, wiki_dir):
    spec = RealisticSpec(documents=60, docs_per_file=25)
    generate_realistic_corpus(tmp_path / "a", wiki_dir / "en", spec)
    generate_realistic_corpus(tmp_path / "b", wiki_dir / "en", spec)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
