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
    result = CliRunner().invoke(
        cli,
        ["index", "build", str(corpus), "--lang", "zh", "--root", str(tmp / "idx")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return tmp, result


def test_index_build_ends_with_a_summary(built):
    _, result = built
    assert "built" in result.output and "10 documents" in result.output


def test_index_info_json_prints_the_manifest(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("index", "info", tmp / "idx" / "mbert" / "zh", "--json")
    assert json.loads(result.stdout)["language"] == "zh"


def test_index_info_is_readable_by_a_person(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("index", "info", tmp / "idx" / "mbert" / "zh")
    assert "language zh, tokenizer mbert" in result.stdout
    assert "10 documents" in result.stdout and "on disk:" in result.stdout


def test_index_list_shows_each_built_index(built, factroots_cli):
    tmp, _ = built
    table = factroots_cli("index", "list", tmp / "idx").stdout.splitlines()
    assert table[0].split()[:3] == ["tokenizer", "lang", "lines"]
    assert table[1].split()[:2] == ["mbert", "zh"]
    rows = [
        json.loads(line)
        for line in factroots_cli("index", "list", tmp / "idx", "--json").stdout.splitlines()
    ]
    assert [(r["tokenizer"], r["lang"], r["shards"]) for r in rows] == [("mbert", "zh", 1)]
    assert rows[0]["disk_bytes"] > 0


def test_a_missing_language_names_the_built_ones(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "vi", "a", "b")
    assert result.code != 0
    assert "built languages there: zh" in result.stderr


def test_a_missing_root_is_named(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "nowhere", "--lang", "zh", "a", "b")
    assert result.code != 0 and "does not exist" in result.stderr


def test_language_codes_are_matched_in_lower_case(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "ZH", "北京", "中国")
    assert result.code == 0 and "present in" in result.stdout


def test_query_json_gives_the_counts_and_evidence(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli(
        "query", "--root", tmp / "idx", "--lang", "zh", "北京", "中国", "--json", "--show", "1"
    )
    answer = json.loads(result.stdout)
    assert answer["present"] is True and answer["lines"] > 0
    assert len(answer["evidence"]) == 1 and "北京" in answer["evidence"][0]["snippet"]


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
def test_facts_file_answers_equal_one_at_a_time_queries(built, factroots_cli, suffix):
    tmp, _ = built
    pairs = [("北京", "中国"), ("巴黎", "法国"), ("中国", "北京"), ("北京", "\u200b")]
    path = tmp / f"facts{suffix}"
    if suffix == ".jsonl":
        path.write_text(
            "".join(json.dumps({"subject": s, "object": o}) + "\n" for s, o in pairs),
            encoding="utf-8",
        )
    else:
        sep = "," if suffix == ".csv" else "\t"
        path.write_text(
            "subject" + sep + "object\n" + "".join(f"{s}{sep}{o}\n" for s, o in pairs),
            encoding="utf-8",
        )
    result = factroots_cli("query", "--root", tmp / "idx", "--facts", path, "--json")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["row"] for a in answers] == [1, 2, 3, 4]
    for (subject, obj), answer in zip(pairs, answers, strict=True):
        one = json.loads(
            factroots_cli(
                "query", "--root", tmp / "idx", "--lang", "zh", subject, obj, "--json"
            ).stdout
        )
        assert (answer["lang"], answer["present"], answer["cooccur_lines"]) == (
            "zh",
            one["present"],
            one["lines"],
        )
    assert "answered 4 fact-language pair(s)" in result.stderr


def test_facts_file_skips_and_counts_malformed_rows(built, factroots_cli):
    tmp, _ = built
    path = tmp / "bad.jsonl"
    path.write_text(
        '{"subject": "北京", "object": "中国", "lang": "zh"}\nnot json\n'
        '{"subject": "北京"}\n{"subject": "北京", "object": "中国", "lang": "vi"}\n',
        encoding="utf-8",
    )
    result = factroots_cli("query", "--root", tmp / "idx", "--facts", path, "--json")
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["row"], a["status"]) for a in answers] == [(1, "ok"), (4, "no-index")]
    assert "skipped 1 row(s): not JSON" in result.stderr
    assert "skipped 1 row(s): no subject or object" in result.stderr


def test_a_facts_file_without_the_columns_is_a_one_line_error(built, factroots_cli):
    tmp, _ = built
    path = tmp / "header.tsv"
    path.write_text("subj\tobj\nA\tB\n", encoding="utf-8")
    result = factroots_cli("query", "--root", tmp / "idx", "--facts", path)
    assert result.code != 0 and "lacks subject, object" in result.stderr
    assert "Traceback" not in result.stderr


def test_query_shows_marked_evidence(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli(
        "query", "--root", tmp / "idx", "--lang", "zh", "北京", "中国", "--show", "1"
    )
    assert result.code == 0 and "present in" in result.stdout
    assert "«北京»" in result.stdout and "«中国»" in result.stdout


def test_query_reports_an_absent_fact(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "巴黎", "法国")
    assert result.code == 0 and "absent" in result.stdout


def test_query_counts_one_entity_in_tokens_mode(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli(
        "query", "--root", tmp / "idx", "--lang", "zh", "北京", "--mode", "tokens"
    )
    assert result.code == 0 and "ok," in result.stdout


def test_query_reports_an_untraceable_entity(built, factroots_cli):
    tmp, _ = built
    result = factroots_cli("query", "--root", tmp / "idx", "--lang", "zh", "北京", " ")
    assert "untraceable" in result.stdout


def test_missing_input_is_one_line_and_exit_2_from_the_installed_entry_point(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "factroots",
            "index",
            "build",
            str(tmp_path / "nope"),
            "--lang",
            "en",
            "--root",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: input not found: {tmp_path / 'nope'}"]


def test_missing_index_is_one_line_and_exit_2(tmp_path, factroots_cli):
    result = factroots_cli("query", "--root", tmp_path, "--lang", "xx", "a", "b")
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_demo_runs_the_whole_flow_and_traces_every_planted_fact(tmp_path, factroots_cli):
    result = factroots_cli("demo", "--workdir", tmp_path)
    assert result.code == 0, result.stderr
    assert "10/10 planted facts traced as planted" in result.stdout
    assert "RIGGED to know the demo's facts" in result.stdout
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    figures = {p.name for p in (tmp_path / "report").glob("figure*.png")}
    assert {
        "figure4_layer_activity_rigged-model.png",
        "figure5_neuron_similarity_rigged-model.png",
    } <= figures


def test_the_rigged_demo_model_predicts_every_demo_fact(tmp_path):
    pytest.importorskip("torch")
    from factroots.demo.mlama import write_mlama
    from factroots.demo.model import write_rigged_model
    from factroots.demo.run import demo_prompts
    from factroots.probing.model import load_masked_lm
    from factroots.probing.predict import predict_prompts

    prompts = demo_prompts(write_mlama(tmp_path / "mlama"))
    lm = load_masked_lm(write_rigged_model(tmp_path / "model", prompts), "cpu")
    predictions = predict_prompts(lm, prompts, batch_size=3)
    assert [p.predicted_ids for p in predictions] == [p.prompt.object_ids for p in prompts]


def test_snippet_keeps_context_around_mentions_only():
    from factroots.search.evidence import snippet

    text = "x" * 100 + "Berlin" + "y" * 100 + "Germany" + "z" * 100
    spans = [(100, 106), (206, 213)]
    assert snippet(text, spans, context=3) == "…xxx«Berlin»yyy … yyy«Germany»zzz…"


def test_a_snippet_of_many_mentions_stays_short_and_counts_the_rest():
    from factroots.search.evidence import SNIPPET_CHARS, snippet

    text = " filler ".join(["Berlin"] * 400)
    spans = [(i * 14, i * 14 + 6) for i in range(400)]
    shown = snippet(text, spans, context=60)
    assert len(shown) < SNIPPET_CHARS + 200
    assert shown.endswith("more)") and "«Berlin»" in shown


def trace_zh(factroots_cli, mlama_dir, tmp, out: str, *options: str):
    """`factroots trace` of zh on the module's index."""
    return factroots_cli(
        "trace",
        "--mlama",
        mlama_dir,
        "--root",
        tmp / "idx",
        "--langs",
        "zh",
        "--out",
        tmp / out,
        *options,
    )


def test_trace_reports_progress_as_plain_lines_off_a_terminal(
    built, factroots_cli, mlama_dir, monkeypatch
):
    """(With no wait before the first line: by default it comes after 10 s.)"""
    monkeypatch.setattr("factroots.progress.PROGRESS_SECONDS", 0.0)
    tmp, _ = built
    result = trace_zh(factroots_cli, mlama_dir, tmp, "progress.parquet")
    assert result.code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("trace zh")]
    assert lines and "\r" not in result.stderr
    assert "100%" in lines[-1]


def test_a_short_trace_off_a_terminal_prints_no_progress(built, factroots_cli, mlama_dir):
    tmp, _ = built
    result = trace_zh(factroots_cli, mlama_dir, tmp, "quiet.parquet")
    assert result.code == 0 and "trace zh" not in result.stderr


@pytest.mark.parametrize("cached", [False, True])
def test_trace_says_so_when_it_must_compile_numba_functions_first(
    built, factroots_cli, mlama_dir, monkeypatch, cached
):
    monkeypatch.setattr("factroots.search.postings.compiled", lambda: cached)
    tmp, _ = built
    result = trace_zh(factroots_cli, mlama_dir, tmp, f"compiled-{cached}.parquet")
    assert result.code == 0
    assert ("numba compiles" in result.stderr) is not cached


def test_trace_json_prints_the_summary_as_json_lines(built, factroots_cli, mlama_dir):
    tmp, _ = built
    result = trace_zh(factroots_cli, mlama_dir, tmp, "json.parquet", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["lang"] for r in rows] == ["zh"] and rows[0]["facts"] > 0


def test_readme_command_reference_is_the_clis_own_help():
    """Regenerate it with factroots.cli.command_reference() when a command or option changes."""
    from pathlib import Path

    from factroots.cli import command_reference

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- commands: generated -->\n")[1].split("\n<!-- /commands -->")[0]
    assert section == command_reference()


def test_a_tsv_facts_file_keeps_quotes_in_labels(tmp_path):
    from factroots.search.fact_file import FactFile

    path = tmp_path / "quotes.tsv"
    path.write_text('subject\tobject\tlang\n"Heroes" (album)\tDavid Bowie\tEN\n', encoding="utf-8")
    [fact] = list(FactFile(path))
    assert (fact.row, fact.subject, fact.object, fact.lang) == (
        1,
        '"Heroes" (album)',
        "David Bowie",
        "EN",
    )


def test_demo_table_columns_line_up_with_wide_cjk_characters():
    from factroots.cli import aligned, display_width

    lines = aligned([["subject", "x"], ["東京", "y"], ["New York", "z"]])
    assert {display_width(line[:-1]) for line in lines} == {9}
