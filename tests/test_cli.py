"""The command line: build, info, query, demo, and one-line errors with non-zero exits."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from factroots.demo.corpus import write_corpus


def factroots(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factroots", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(tmp / "corpus", "zh", n_docs=10)
    result = factroots("index", "build", corpus, "--lang", "zh", "--root", tmp / "idx")
    assert result.returncode == 0, result.stderr
    return tmp, result


def test_index_build_ends_with_a_summary(built):
    _, result = built
    assert "built" in result.stdout and "10 documents" in result.stdout


def test_index_info_prints_the_manifest(built):
    tmp, _ = built
    result = factroots("index", "info", tmp / "idx" / "mbert" / "zh")
    assert json.loads(result.stdout)["language"] == "zh"


def test_query_shows_marked_evidence(built):
    tmp, _ = built
    result = factroots("query", "--root", tmp / "idx", "--lang", "zh", "北京", "中国",
                       "--show", "1")
    assert result.returncode == 0 and "PRESENT" in result.stdout
    assert "«北京»" in result.stdout and "«中国»" in result.stdout


def test_query_reports_an_absent_fact(built):
    tmp, _ = built
    result = factroots("query", "--root", tmp / "idx", "--lang", "zh", "巴黎", "法国")
    assert result.returncode == 0 and "absent" in result.stdout


def test_query_counts_one_entity_in_tokens_mode(built):
    tmp, _ = built
    result = factroots("query", "--root", tmp / "idx", "--lang", "zh", "北京", "--mode", "tokens")
    assert result.returncode == 0 and "ok," in result.stdout


def test_query_reports_an_untraceable_entity(built):
    tmp, _ = built
    result = factroots("query", "--root", tmp / "idx", "--lang", "zh", "北京", " ")
    assert "untraceable" in result.stdout


def test_missing_input_is_one_line_and_exit_2(tmp_path):
    result = factroots("index", "build", tmp_path / "nope", "--lang", "en", "--root", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'nope'}"]


def test_missing_index_is_one_line_and_exit_2(tmp_path):
    result = factroots("query", "--root", tmp_path, "--lang", "xx", "a", "b")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_demo_runs_the_whole_flow_and_traces_every_planted_fact(tmp_path):
    result = factroots("demo", "--workdir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "10/10 planted facts traced as planted" in result.stdout
    assert "means nothing" in result.stdout
    assert (tmp_path / "report" / "report.html").stat().st_size > 0


def test_snippet_keeps_context_around_mentions_only():
    from factroots.search.evidence import snippet

    text = "x" * 100 + "Berlin" + "y" * 100 + "Germany" + "z" * 100
    spans = [(100, 106), (206, 213)]
    assert snippet(text, spans, context=3) == "…xxx«Berlin»yyy … yyy«Germany»zzz…"
