"""Batch tracing gives exactly what one-at-a-time `FactIndex.cooccur` gives, fact by fact."""

from __future__ import annotations

import random
import threading

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.corpus import CorpusSpec, generate_corpus
from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.indexer.builder import build_index
from factroots.mlama import Fact, load_language
from factroots.search import FactIndex
from factroots.search.postings import common_count
from factroots.search.trace import (
    SUMMARY_COLUMNS,
    TRACE_COLUMNS,
    summary_path,
    trace_language,
    trace_languages,
)
from tests.brute_force import BruteForceMatcher
from tests.conftest import SAMPLE_LANGS
from tests.test_index_differential import reference_entities, segmented_lines

MODES = ("words", "tokens")


@pytest.fixture(scope="module")
def generated(tmp_path_factory, mlama_dir, mbert):
    """A small generated corpus with English mLAMA entities planted, and its index root."""
    base = tmp_path_factory.mktemp("generated")
    spec = CorpusSpec(
        documents=800, top_share=0.05, base_mentions=4000, docs_per_file=400, vocab_size=30_000
    )
    generate_corpus(base / "corpus", mlama_dir, spec)
    build_index(base / "corpus", "en", base / "root", mbert)
    return base


@pytest.fixture(scope="module")
def generated_brute(generated, mbert):
    """The brute-force matcher over the generated corpus's lines, segmented once for both modes."""
    return BruteForceMatcher(segmented_lines(generated / "corpus", mbert, 512))


@pytest.fixture(scope="module")
def shared_root(sample_indexes):
    return sample_indexes.root_with(*SAMPLE_LANGS)


def cooccur_row(index: FactIndex, fact: Fact, mode: str) -> tuple:
    c = index.cooccur(fact.subject, fact.object, mode)
    return c.status, c.present, c.lines, c.subject_lines, c.object_lines


def trace_row(row) -> tuple:
    present = None if pd.isna(row.present) else bool(row.present)
    return row.status, present, row.cooccur_lines, row.subject_lines, row.object_lines


@pytest.mark.parametrize("mode", MODES)
def test_trace_equals_cooccur_on_every_fact_of_a_generated_corpus(
    generated, mlama_dir, mbert, mode
):
    index = FactIndex.open(generated / "root", "en", mbert)
    facts = load_language(mlama_dir, "en").facts
    trace = trace_language(index, facts, mode)
    assert (trace.present == True).sum() > 100 and (trace.present == False).sum() > 100  # noqa: E712
    sample = random.Random(mode).sample(range(len(facts)), 1500)
    for i in sample:
        assert trace_row(trace.iloc[i]) == cooccur_row(index, facts[i], mode), facts[i]


@pytest.mark.parametrize("mode", MODES)
def test_trace_equals_brute_force_scan_on_a_generated_corpus(
    generated, generated_brute, mlama_dir, mbert, mode
):
    index = FactIndex.open(generated / "root", "en", mbert)
    facts = load_language(mlama_dir, "en").facts[::25]
    trace = trace_language(index, facts, mode)
    brute = generated_brute
    refs = reference_entities(
        {label for f in facts for label in (f.subject, f.object)}, mode, mbert
    )
    lines = brute.lines_with_all(refs.values(), mode)
    for fact, row in zip(facts, trace.itertuples(), strict=True):
        subj, obj = refs[fact.subject], refs[fact.object]
        if not (subj and obj):
            assert row.status == "untraceable" and pd.isna(row.present)
            continue
        assert row.cooccur_lines == len(lines[subj] & lines[obj]), fact
        assert (row.subject_lines, row.object_lines) == (len(lines[subj]), len(lines[obj]))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_trace_equals_cooccur_on_every_fact_of_the_shared_samples(
    shared_root, mlama_dir, mbert, mode
):
    for lang in SAMPLE_LANGS:
        index = FactIndex.open(shared_root, lang, mbert)
        facts = load_language(mlama_dir, lang).facts
        trace = trace_language(index, facts, mode)
        for fact, row in zip(facts, trace.itertuples(), strict=True):
            assert trace_row(row) == cooccur_row(index, fact, mode), fact


def test_trace_has_the_documented_columns_and_types(generated, mlama_dir, mbert):
    index = FactIndex.open(generated / "root", "en", mbert)
    trace = trace_language(index, load_language(mlama_dir, "en").facts[:50], "tokens")
    assert list(trace.columns) == TRACE_COLUMNS
    assert str(trace.present.dtype) == "boolean"
    assert set(trace["mode"]) == {"tokens"} and set(trace["tokenizer"]) == {"mbert"}


def test_untraceable_fact_has_null_presence_and_zero_counts(generated, mbert):
    index = FactIndex.open(generated / "root", "en", mbert)
    facts = [
        Fact("en", "P1", "u1", 0, "\u200b", "English", "", ""),
        Fact("en", "P1", "u2", 1, "English", "English", "", ""),
    ]
    trace = trace_language(index, facts, "words")
    assert trace.status.tolist() == ["untraceable", "ok"]
    assert pd.isna(trace.present[0]) and bool(trace.present[1])
    assert trace.loc[0, ["subject_lines", "object_lines", "cooccur_lines"]].tolist() == [0, 0, 0]


def test_language_without_index_is_reported_and_the_rest_traced(generated, mlama_dir, mbert):
    run = trace_languages(mlama_dir, generated / "root", "af,en", "words", mbert)
    assert list(run.skipped_languages) == ["af"]
    assert run.summary.lang.tolist() == ["en"]
    assert set(run.facts.lang) == {"en"}


def test_unknown_language_is_an_error_before_tracing(generated, mlama_dir, mbert):
    from factroots.errors import FactrootsError

    with pytest.raises(FactrootsError, match="unknown mLAMA language"):
        trace_languages(mlama_dir, generated / "root", "en,xx", "words", mbert)


def test_summary_counts_traceable_present_absent_and_rate(generated, mlama_dir, mbert, tmp_path):
    run = trace_languages(
        mlama_dir, generated / "root", ["en"], "tokens", mbert, out=tmp_path / "t.parquet"
    )
    row = run.summary.iloc[0]
    assert list(run.summary.columns) == SUMMARY_COLUMNS
    assert row.facts == len(run.facts)
    assert row.traceable == (run.facts.status == "ok").sum()
    assert row.present + row.absent == row.traceable
    assert row.absence_rate == pytest.approx(row.absent / row.traceable)


def test_trace_writes_parquet_and_summary_csv_beside_it(generated, mlama_dir, mbert, tmp_path):
    out = tmp_path / "deep" / "trace.parquet"
    run = trace_languages(mlama_dir, generated / "root", "en", "words", mbert, out=out)
    assert summary_path(out) == tmp_path / "deep" / "trace.summary.csv"
    back = pd.read_parquet(out)
    assert list(back.columns) == TRACE_COLUMNS and len(back) == len(run.facts)
    assert back.present.isna().sum() == run.facts.present.isna().sum()
    assert pd.read_csv(summary_path(out)).lang.tolist() == ["en"]


def test_cli_trace_prints_the_summary_and_reports_skipped_languages(generated, mlama_dir, tmp_path):
    out = tmp_path / "trace.parquet"
    result = CliRunner().invoke(
        cli,
        [
            "trace",
            "--mlama",
            str(mlama_dir),
            "--root",
            str(generated / "root"),
            "--langs",
            "en,af",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "skipped af" in result.output and "absence" in result.output
    assert out.exists() and summary_path(out).exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=300), st.lists(st.integers(0, 5000), max_size=40))
def test_common_count_equals_set_intersection_even_when_sizes_are_skewed(a, b):
    x, y = np.unique(np.array(a, np.int64)), np.unique(np.array(b, np.int64))
    assert common_count(x, y) == len(set(a) & set(b))
    assert common_count(y, x) == len(set(a) & set(b))


def test_a_trace_out_that_is_not_parquet_is_an_error_before_tracing(
    generated, mlama_dir, mbert, tmp_path
):
    with pytest.raises(FactrootsError, match=r"name it \*\.parquet"):
        trace_languages(mlama_dir, generated / "root", "en", "words", mbert, out=tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()


def test_the_next_languages_index_opens_while_one_is_traced(
    sample_indexes, mlama_dir, mbert, monkeypatch
):
    root = sample_indexes.root_with("en", "zh")
    zh_opening = threading.Event()
    real_open = FactIndex.open.__func__

    def recording_open(cls, root, lang, tokenizer="mbert"):
        if lang == "zh":
            zh_opening.set()
        return real_open(cls, root, lang, tokenizer)

    monkeypatch.setattr(FactIndex, "open", classmethod(recording_open))
    waited = []

    def on_language(lang, facts):
        if lang == "en":  # en's trace starts only once zh's index is opening, or 10 s passed
            waited.append(zh_opening.wait(timeout=10))

    run = trace_languages(mlama_dir, root, "en,zh", "words", mbert, on_language=on_language)
    assert waited == [True]
    assert run.summary["lang"].tolist() == ["en", "zh"]
    assert not run.skipped_languages
