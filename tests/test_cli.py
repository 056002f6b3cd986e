"""The command line: build, info, query, demo, and one-line errors with non-zero exits.

The commands run in this process (`main()` itself, through the `factroots_cli` fixture, or
click's CliRunner); one test runs `python -m factroots` as a separate process, for the entry
point, its exit code and its stderr as a shell sees them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from factroots.cli import cli
from factroots.demo.corpus import write_corpus


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(tmp / "corpus", "zh", n_docs=10)
    result = CliRunner().invoke(cli, ["index", "build", str(corpus), "--lang", "zh", "--root",
                                      str(tmp / "idx")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp, result


def test_index_build_ends_with_a_summary(built):
    _, result = built
    assert "built" in result.output and "10 documents" in result.output


def test_index_info_prints_the_manifest(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("index", "info", tmp / "idx" / "mbert" / "zh")
    assert json.loads(result.stdout)["language"] == "zh"


def test_query_shows_marked_evidence(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "北京", "中国",
                           "--show", "1")
    assert result.code == 0 and "PRESENT" in result.stdout
    assert "«北京»" in result.stdout and "«中国»" in result.stdout


def test_query_reports_an_absent_fact(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "巴黎", "法国")
    assert result.code == 0 and "absent" in result.stdout


def test_query_counts_one_entity_in_tokens_mode(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "北京", "--mode",
                           "tokens")
    assert result.code == 0 and "ok," in result.stdout


def test_query_reports_an_untraceable_entity(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "北京", " ")
    assert "untraceable" in result.stdout


def test_missing_input_is_one_line_and_exit_2_from_the_installed_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "factroots", "index", "build",
                             str(tmp_path / "nope"), "--lang", "en", "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'nope'}"]


def test_missing_index_is_one_line_and_exit_2(tmp_path, factroots_cli):
    result = factroots_cli("query", "--root", tmp_path, "--lang", "xx", "a", "b")
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_demo_runs_the_whole_flow_and_traces_every_planted_fact(tmp_path, factroots_cli):
    result = factroots_cli("demo", "--workdir", tmp_path)
    assert result.code == 0, result.stderr
    assert "10/10 planted facts traced as planted" in result.stdout
    assert "means nothing" in result.stdout
    assert (tmp_path / "report" / "report.html").stat().st_size > 0


def test_snippet_keeps_context_around_mentions_only():
    from factroots.search.evidence import snippet

    text = "x" * 100 + "Berlin" + "y" * 100 + "Germany" + "z" * 100
    spans = [(100, 106), (206, 213)]
    assert snippet(text, spans, context=3) == "…xxx«Berlin»yyy … yyy«Germany»zzz…"
