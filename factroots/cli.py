"""The `factroots` command line: thin wrappers that parse, call one library function, print."""

from __future__ import annotations

import json
import sys
import unicodedata
from dataclasses import asdict
from pathlib import Path

import click

from factroots import __version__
from factroots.atomic import check_writable
from factroots.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DEVICE,
    DEFAULT_DTYPE,
    DEFAULT_ENGINE,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODE,
    DEFAULT_NAMING_RELATIONS,
    DEFAULT_TOKENIZER,
    DEFAULT_TOP_K,
    DEVICES,
    DTYPES,
    ENGINES,
    MODES,
    PIECE_CHARS,
)
from factroots.errors import FactrootsError
from factroots.extras import missing_message, require
from factroots.progress import progress_bar

MODE = click.Choice(MODES)


def paths_option(flag: str, help: str, *names: str, required: bool = False):
    """A repeatable path option (several tables or folders of one kind)."""
    return click.option(
        flag, *names, multiple=True, required=required, type=click.Path(path_type=Path), help=help
    )


MODE_HELP = "words (word units) or tokens (the model's own token ids)."
TOKENIZER_HELP = "'mbert' or a tokenizer.json path or model directory."
ENGINE = click.Choice(ENGINES)
FIRST_TRACE_NOTE = (
    "first trace on this machine: numba compiles the trace's functions (about 20 s, once; "
    "later runs load them from its cache)"
)


@click.group()
@click.version_option(__version__, prog_name="factroots")
def cli() -> None:
    """Trace the roots of facts in multilingual language models."""


@cli.group()
def index() -> None:
    """Build and inspect per-language indexes."""


@index.command("build")
@click.argument("input_dir", type=click.Path(path_type=Path))
@click.option("--lang", required=True, help="Language code, e.g. en, ja.")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Index root.")
@click.option(
    "--tokenizer",
    default=DEFAULT_TOKENIZER,
    show_default=True,
    help=TOKENIZER_HELP,
)
@click.option(
    "--max-tokens",
    default=DEFAULT_MAX_TOKENS,
    show_default=True,
    type=click.IntRange(min=1, max=1_000_000),  # beyond it, numba's int64 overflows
    help="Longest line, in model tokens.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Processes building shards at once (threads, for one shard) [default: all cores].",
)
@click.option(
    "--shards",
    default=None,
    type=click.IntRange(min=1),
    help="Shards to cut the input files into, by size [default: one per worker, "
    "none under 16 MiB of input, at most one per file].",
)
@click.option(
    "--engine",
    type=ENGINE,
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Build shards in local processes or as Ray tasks (extra 'cluster').",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster address (e.g. ray://head:10001 or auto) [default: a local "
    "Ray started for the build].",
)
def index_build(
    input_dir: Path,
    lang: str,
    root: Path,
    tokenizer: str,
    max_tokens: int,
    workers: int | None,
    shards: int | None,
    engine: str,
    address: str | None,
) -> None:
    """Build ROOT/<tokenizer>/<lang>/ from a WikiExtractor output tree, or from a Wikipedia
    dump (PATH.xml.bz2: text passages extracted on the fly; extra 'dump')."""
    check_writable(root, folder=True)
    from factroots.indexer.builder import build_index

    with progress_bar(unit="B", unit_scale=True, desc=f"index {lang}") as bar:

        def on_progress(p):
            bar.total = p.total_bytes
            bar.update(p.bytes_done - bar.n)
            bar.set_postfix(docs=p.documents, lines=p.lines, refresh=False)

        manifest = build_index(
            input_dir,
            lang,
            root,
            tokenizer,
            max_tokens,
            workers,
            on_progress,
            shards,
            engine,
            address,
        )
    c = manifest.counts
    parts = f" in {len(manifest.shards)} shards" if manifest.sharded else ""
    click.echo(
        f"built {root}/{manifest.tokenizer_name}/{lang}{parts}: {c.documents:,} documents, "
        f"{c.lines:,} lines, {c.tokens:,} tokens, {c.text_bytes / 1e6:.1f} MB text "
        f"in {manifest.build_seconds:.1f} s"
    )
    for reason, n in sorted(c.skipped_by_reason.items()):
        click.echo(f"  skipped {n:,} × {reason}")
    if c.empty_files:
        click.echo(f"  {c.empty_files} empty file(s)")
    if c.long_units:
        click.echo(
            f"  {c.long_units:,} word unit(s) over 65,530 bytes, indexed and matched as "
            "a stand-in (their first bytes and a hash)"
        )
    if c.cut_runs:
        click.echo(
            f"  {c.cut_runs:,} cut(s) in runs of over {PIECE_CHARS:,} characters without "
            "whitespace, tokenized in pieces"
        )


@index.command("info")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The manifest itself, as JSON.")
def index_info(path: Path, as_json: bool) -> None:
    """What the index at PATH holds: language, tokenizer, counts, size, sources, shards."""
    from factroots.indexer.catalog import index_summary
    from factroots.indexer.manifest import read_manifest

    if as_json:
        click.echo(json.dumps(read_manifest(path).to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(index_summary(path))


@index.command("upgrade")
@click.argument("root", type=click.Path(path_type=Path))
def index_upgrade(root: Path) -> None:
    """Rewrite, in place, every index under ROOT whose postings sidecar is of an older format
    (seconds per GB; no line is read or tokenized again)."""
    from factroots.indexer.upgrade import upgrade_indexes

    if not root.is_dir():
        raise FactrootsError(f"index root {root} does not exist")

    def shown(folder: Path, upgraded: bool) -> None:
        if upgraded:
            click.echo(f"upgraded {folder}")

    click.echo(upgrade_indexes(root, shown).summary())


@index.command("list")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per index.")
def index_list(root: Path, as_json: bool) -> None:
    """The indexes built under ROOT: tokenizer, language, lines, tokens, shards, size, date."""
    from factroots.indexer.catalog import index_table, list_indexes

    if not root.is_dir():
        raise FactrootsError(f"index root {root} does not exist")
    entries = list_indexes(root)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.to_dict(), ensure_ascii=False))
    elif entries:
        click.echo(index_table(entries))
    else:
        click.echo(f"no index under {root}")


@cli.command()
@click.argument("subject", required=False)
@click.argument("object", required=False)
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Index root.")
@click.option(
    "--lang",
    default=None,
    help="Language code [required for one fact; with "
    "--facts, for rows without one: default every "
    "language of the root].",
)
@click.option(
    "--facts",
    "facts_file",
    default=None,
    type=click.Path(path_type=Path),
    help="TSV/CSV (header: subject, object[, lang]) or JSON lines of facts.",
)
@click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help=TOKENIZER_HELP)
@click.option("--mode", type=MODE, default=DEFAULT_MODE, show_default=True, help=MODE_HELP)
@click.option(
    "--show",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Evidence lines to print.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON (one object per line) on stdout.")
def query(
    subject: str | None,
    object: str | None,
    root: Path,
    lang: str | None,
    facts_file: Path | None,
    tokenizer: str,
    mode: str,
    show: int,
    as_json: bool,
) -> None:
    """Count SUBJECT's lines, whether SUBJECT and OBJECT co-occur in one line, or every fact
    of a file (--facts)."""
    if facts_file is not None:
        if subject is not None:
            raise FactrootsError("give SUBJECT [OBJECT] or --facts FILE, not both")
        _query_file(facts_file, root, lang, tokenizer, mode, as_json)
        return
    if subject is None or lang is None:
        raise FactrootsError("give SUBJECT [OBJECT] and --lang, or --facts FILE")
    from factroots.search import FactIndex

    idx = FactIndex.open(root, lang, tokenizer)
    if object is None:
        found = idx.count(subject, mode)
        if as_json:
            click.echo(json.dumps(asdict(found), ensure_ascii=False))
            return
        detail = f" ({found.reason})" if found.reason else ""
        click.echo(f"{subject!r} [{lang}, {mode}]: {found.status}, {found.lines:,} lines{detail}")
        return
    co = idx.cooccur(subject, object, mode, show=show)
    if as_json:
        click.echo(json.dumps(co.to_dict(), ensure_ascii=False))
        return
    if co.present is None:
        click.echo(f"({subject!r}, {object!r}) [{lang}, {mode}]: untraceable ({co.reason})")
        return
    verdict = "present" if co.present else "absent"
    click.echo(
        f"({subject!r}, {object!r}) [{lang}, {mode}]: {verdict} in {co.lines:,} of "
        f"{idx.num_lines:,} lines (subject {co.subject_lines:,}, "
        f"object {co.object_lines:,})"
    )
    for ev in co.evidence:
        click.echo(f"  line {ev.line} · doc {ev.doc_id} · {ev.title}")
        click.echo(f"    {ev.snippet()}")


def _query_file(
    facts_file: Path, root: Path, lang: str | None, tokenizer: str, mode: str, as_json: bool
) -> None:
    from factroots.search.fact_file import FactFile, FactFileRun, answer_facts
    from factroots.tokenizer import as_tokenizer

    facts = FactFile(facts_file)
    if not root.is_dir():
        raise FactrootsError(f"index root {root} does not exist")
    run = FactFileRun()
    for answer in answer_facts(facts, root, as_tokenizer(tokenizer), mode, lang, run):
        if as_json:
            click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            verdict = (
                ("present" if answer.present else "absent")
                if answer.status == "ok"
                else answer.status
            )
            click.echo(
                f"{answer.row}\t{answer.lang}\t{verdict}\t{answer.cooccur_lines}\t"
                f"{answer.subject}\t{answer.object}"
            )
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(run.by_status.items()))
    click.echo(
        f"answered {run.answers:,} fact-language pair(s) in {len(run.languages)} "
        f"language(s): {counts or 'none'}",
        err=True,
    )
    for reason, n in sorted(run.skipped.items()):
        click.echo(f"skipped {n:,} row(s): {reason}", err=True)


@cli.command()
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where the corpus, indexes, model and report go.",
)
@click.option("--no-model", is_flag=True, help="Stop after tracing (no torch needed).")
def demo(workdir: Path, no_model: bool) -> None:
    """The whole flow on a generated corpus: index, trace, probe, attribute, report."""
    if not no_model:
        require("factroots demo", "probe", "report", hint=" (or run factroots demo --no-model)")
    check_writable(workdir, folder=True)
    from factroots.demo.run import run_demo

    result = run_demo(workdir, with_model=not no_model)
    rows = result.rows
    cells = [["lang", "subject", "object", "planted", "words", "tokens", "lines"]] + [
        [r.lang, r.subject, r.object, r.planted, r.present_words, r.present_tokens, r.lines]
        for r in rows
    ]
    for line in aligned(cells):
        click.echo(line)
    shown = next((r for r in rows if r.evidence), None)
    if shown:
        click.echo(f"\nevidence for ({shown.subject}, {shown.object}): {shown.evidence}")
    agree = sum(r.planted == r.present_words for r in rows)
    click.echo(f"\n{agree}/{len(rows)} planted facts traced as planted (words mode)")
    click.echo("\ntrace (factroots trace):\n" + result.trace_summary.to_string(index=False))
    if result.probe_summary is not None:
        click.echo(
            "\nprobe of a tiny model RIGGED to know the demo's facts (factroots probe "
            "--neurons; factroots.demo.model.write_rigged_model): its P@1 shows the pipeline "
            "running, not what a model learned\n" + result.probe_summary.to_string(index=False)
        )
        if result.report_dir is not None:
            click.echo(f"\nreport: {result.report_dir / 'report.md'} and report.html")
    click.echo(f"all outputs under {workdir}")


@cli.command()
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Index root.")
@click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help=TOKENIZER_HELP)
@paths_option("--trace", "trace.parquet, repeatable.")
@paths_option("--predictions", "predictions.parquet, repeatable (one per model).")
@paths_option("--neurons", "neurons.parquet, repeatable (one per model).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
def serve(
    root: Path,
    tokenizer: str,
    trace: tuple[Path, ...],
    predictions: tuple[Path, ...],
    neurons: tuple[Path, ...],
    host: str,
    port: int,
) -> None:
    """A read-only fact explorer (page at /, JSON API at /api, its reference at /docs)."""
    require("factroots serve", "serve")
    from factroots.serve.app import serve as run_server
    from factroots.serve.explorer import Explorer

    explorer = Explorer(root, tokenizer, list(trace), list(predictions), list(neurons))
    click.echo(
        f"serving {len(explorer.languages)} index(es) of {root} on http://{host}:{port}/ "
        "(Ctrl-C stops)",
        err=True,
    )
    run_server(explorer, host, port)


def display_width(text: str) -> int:
    """Terminal columns of `text`: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def aligned(rows: list[list]) -> list[str]:
    """Rows of cells as lines whose columns line up on a terminal, CJK included."""
    texts = [[str(cell) for cell in row] for row in rows]
    widths = [max(display_width(row[i]) for row in texts) for i in range(len(texts[0]))]
    return [
        " ".join(
            cell + " " * (width - display_width(cell))
            for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in texts
    ]


@cli.group()
def export() -> None:
    """Write an index's lines in other engines' formats."""


@export.command("lucene")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Index root.")
@click.option("--lang", required=True, help="Language code, e.g. en, ja.")
@click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help=TOKENIZER_HELP)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the JsonCollection's docs*.jsonl files.",
)
@click.option(
    "--input",
    "input_dir",
    default=None,
    type=click.Path(path_type=Path),
    help="The index's sources, if moved [default: the manifest's input_root].",
)
def export_lucene_cmd(
    root: Path, lang: str, tokenizer: str, out_dir: Path, input_dir: Path | None
) -> None:
    """Write the index's lines as a pyserini JsonCollection (fields contents = token ids,
    words = word units; index it with pyserini.index.lucene --pretokenized)."""
    check_writable(out_dir, folder=True)
    from factroots.export.lucene import export_lucene

    done = export_lucene(root, lang, out_dir, tokenizer, input_dir)
    click.echo(f"wrote {done.lines:,} lines in {done.files} file(s) to {done.out_dir}")


@cli.command()
@click.option(
    "--mlama",
    "mlama_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="mLAMA 1.1 folder (one sub-folder per language).",
)
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Index root.")
@click.option("--langs", required=True, help="Comma-separated codes, or 'all'.")
@click.option("--mode", type=MODE, default=DEFAULT_MODE, show_default=True, help=MODE_HELP)
@click.option("--tokenizer", default=DEFAULT_TOKENIZER, show_default=True, help=TOKENIZER_HELP)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Per-fact parquet; the summary goes to <stem>.summary.csv beside it.",
)
@click.option(
    "--engine",
    type=ENGINE,
    default=DEFAULT_ENGINE,
    show_default=True,
    help="Resolve shards here, or with one Ray actor per shard (extra 'cluster').",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster address [default: a local Ray started for the trace].",
)
@click.option(
    "--json", "as_json", is_flag=True, help="The per-language summary as JSON lines on stdout."
)
def trace(
    mlama_dir: Path,
    root: Path,
    langs: str,
    mode: str,
    tokenizer: str,
    out: Path,
    engine: str,
    address: str | None,
    as_json: bool,
) -> None:
    """Trace every mLAMA fact of LANGS: present or absent in that language's index."""
    check_writable(out)
    from factroots.search.postings import compiled
    from factroots.search.trace import summary_table, trace_languages

    if not compiled():
        click.echo(FIRST_TRACE_NOTE, err=True)
    bars = []

    def on_language(lang: str, facts: int):
        bar = progress_bar(total=None, unit="entity", desc=f"trace {lang} ({facts:,} facts)")
        bars.append(bar)

        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
            if done == total:
                bar.close()

        return on_progress

    try:
        run = trace_languages(
            mlama_dir, root, langs, mode, tokenizer, out, on_language, engine, address
        )
    finally:
        for bar in bars:
            bar.close()
    for lang, reason in run.skipped_languages.items():
        click.echo(f"skipped {lang}: {reason}", err=True)
    if run.skipped_records:
        click.echo(
            f"skipped {len(run.skipped_records):,} malformed mLAMA record(s), "
            f"first: {run.skipped_records[0]}",
            err=True,
        )
    if run.summary.empty:
        raise FactrootsError("no language traced: no index found for any of them")
    if as_json:
        for row in run.summary.to_dict(orient="records"):
            click.echo(json.dumps(row, ensure_ascii=False))
    else:
        click.echo(summary_table(run.summary))
    click.echo(f"wrote {run.parquet} and {run.summary_csv}", err=as_json)


@cli.command()
@paths_option(
    "--trace",
    "trace.parquet from `factroots trace`; repeatable (e.g. one per mode).",
    "trace_path",
    required=True,
)
@paths_option(
    "--predictions",
    "predictions.parquet from `factroots probe`; repeatable (one per model); without it, "
    "a report of the trace alone.",
)
@paths_option(
    "--neurons", "neurons.parquet from attribution, repeatable (one per model) [Figure 5]."
)
@paths_option("--activations", "Saved activations folder, repeatable, one model each [Figure 4].")
@click.option(
    "--fact",
    default=None,
    help="uuid of Figure 4's fact [default: the one correct in the most languages].",
)
@click.option(
    "--root",
    default=None,
    type=click.Path(path_type=Path),
    help="Index root whose manifests give corpus sizes [Figure 2].",
)
@click.option(
    "--tokenizer",
    default=None,
    help="Tokenizer for shared subwords (name or path) [default: the one each trace row names].",
)
@click.option(
    "--naming-relations",
    default=None,
    help=f"Comma-separated naming-cue relations [default: {','.join(DEFAULT_NAMING_RELATIONS)}].",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Report folder.")
def report(
    trace_path: tuple[Path, ...],
    predictions: tuple[Path, ...],
    neurons: tuple[Path, ...],
    activations: tuple[Path, ...],
    fact: str | None,
    root: Path | None,
    tokenizer: str | None,
    naming_relations: str | None,
    out: Path,
) -> None:
    """Tables (CSV), figures (PNG, SVG, PDF), report.md and report.html from traces, predictions."""
    require("factroots report", "report")
    check_writable(out, folder=True)
    from factroots.report.build import build_report

    relations = (
        DEFAULT_NAMING_RELATIONS
        if naming_relations is None
        else [r.strip() for r in naming_relations.split(",") if r.strip()]
    )
    done = build_report(
        list(trace_path),
        list(predictions),
        out,
        neurons=list(neurons) or None,
        root=root,
        activations=list(activations) or None,
        fact=fact,
        tokenizer=tokenizer,
        naming_relations=relations,
    )
    for note in done.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"wrote {len(done.tables)} tables and {len(done.figures)} figures to "
        f"{done.out_dir}; open {done.html}"
    )


@cli.command()
@click.option(
    "--activations",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder written by `probe --save-activations`.",
)
@click.option(
    "--predictions",
    required=True,
    type=click.Path(path_type=Path),
    help="predictions.parquet of the same model.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="neurons.parquet")
@click.option(
    "--top-k",
    default=DEFAULT_TOP_K,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neurons kept per fact (PROBELESS top-K).",
)
def attribute(activations: Path, predictions: Path, out: Path, top_k: int) -> None:
    """PROBELESS top-K FFN neurons of every correctly predicted fact, per (language, relation)."""
    check_writable(out)
    import time

    from factroots.attribution.attribute import attribute_saved, correct_facts

    start = time.perf_counter()
    groups = correct_facts(predictions).groupby(["model", "lang", "relation"]).ngroups
    with progress_bar(total=groups, unit="group", desc="PROBELESS") as bar:
        rows = attribute_saved(
            activations, predictions, top_k, on_group=lambda group, status: bar.update(1)
        )
    rows.write(out)
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(rows.summary().items()))
    click.echo(
        f"wrote {out}: {len(rows.uuid):,} facts in {len(set(rows.lang))} languages "
        f"({counts or 'none'}), top {top_k}, in {time.perf_counter() - start:.1f} s"
    )


@cli.command()
@click.option("--neurons", required=True, type=click.Path(path_type=Path), help="neurons.parquet")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="matrix.csv")
@click.option("--model", default=None, help="Model to compare when the file holds several.")
@click.option(
    "--per-fact",
    default=None,
    type=click.Path(path_type=Path),
    help="Also write every shared fact's Jaccard (parquet).",
)
def similarity(neurons: Path, out: Path, model: str | None, per_fact: Path | None) -> None:
    """Languages x languages mean Jaccard of top-K neuron sets over facts correct in both."""
    for path in (out, per_fact):
        if path is not None:
            check_writable(path)
    import time

    from factroots.attribution.similarity import language_similarity

    start = time.perf_counter()
    with progress_bar(total=3 + bool(per_fact), unit="step", desc="similarity") as bar:
        run = language_similarity(neurons, out, model, per_fact, on_step=bar.update)
    n = len(run.similarity.langs)
    mean = "n/a" if run.mean_off_diagonal is None else f"{run.mean_off_diagonal:.3f}"
    click.echo(
        f"wrote {out}: {n} × {n} languages, {run.facts:,} facts, mean off-diagonal "
        f"Jaccard {mean}, {run.empty_pairs} pair cells with no shared fact, "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if per_fact:
        click.echo(f"wrote {per_fact}: {run.per_fact_rows:,} (pair, fact) rows")


@cli.command("probe")
@click.option(
    "--mlama",
    "mlama_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="mLAMA 1.1 folder (one sub-folder per language).",
)
@click.option(
    "--model",
    "model_spec",
    required=True,
    help="Local model directory, or a hub name already in the local HF cache.",
)
@click.option("--langs", required=True, help="Comma-separated codes, or 'all'.")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Per-fact parquet; the summary goes to <stem>.summary.csv beside it.",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default=DEFAULT_DEVICE,
    show_default=True,
    help="Where the model runs (auto: a GPU if there is one).",
)
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Prompts per forward pass.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default=DEFAULT_DTYPE,
    show_default=True,
    help="bfloat16/float16 are for GPUs.",
)
@click.option(
    "--neurons",
    default=None,
    type=click.Path(path_type=Path),
    help="Also write PROBELESS top-K neurons of correct facts (same forward pass).",
)
@click.option(
    "--save-activations",
    default=None,
    type=click.Path(path_type=Path),
    help="Also save every fact's mask-averaged FFN activations (fp16) in this folder.",
)
@click.option(
    "--top-k",
    default=DEFAULT_TOP_K,
    show_default=True,
    type=click.IntRange(min=1),
    help="Neurons kept per fact (PROBELESS top-K).",
)
@click.option(
    "--objective",
    type=click.Choice(["auto", "masked", "causal"]),
    default="auto",
    show_default=True,
    help="masked: fill k masks; causal: rank candidates by log-likelihood; auto: by config.",
)
def probe_cmd(
    mlama_dir: Path,
    model_spec: str,
    langs: str,
    out: Path,
    device: str,
    batch_size: int,
    dtype: str,
    neurons: Path | None,
    save_activations: Path | None,
    top_k: int,
    objective: str,
) -> None:
    """Probe a masked LM (k masks per fact) or a causal LM (candidates ranked) with mLAMA:
    P@1 per language (resumable)."""
    require("factroots probe", "probe")
    for path, folder in ((out, False), (neurons, False), (save_activations, True)):
        if path is not None:
            check_writable(path, folder)
    from factroots.attribution.capture import probe_and_attribute
    from factroots.mlama import select_languages
    from factroots.probing.causal import load_causal_lm, model_objective
    from factroots.probing.metrics import format_summary
    from factroots.probing.model import load_masked_lm

    selected = select_languages(mlama_dir, langs)
    objective = model_objective(model_spec) if objective == "auto" else objective
    load = load_causal_lm if objective == "causal" else load_masked_lm
    lm = load(model_spec, device, dtype)
    click.echo(
        f"probing {lm.name} on {lm.device} ({lm.dtype}), {len(selected)} language(s)", err=True
    )
    with progress_bar(total=0, unit="prompt", desc="probe") as bar:

        def on_start(lang: str, prompts: int) -> None:
            bar.total += prompts
            bar.set_postfix(lang=lang, refresh=False)

        run = probe_and_attribute(
            lm,
            mlama_dir,
            selected,
            out,
            batch_size,
            neurons,
            save_activations,
            top_k,
            bar.update,
            on_start,
        )
    result = run.result
    if result.resumed:
        click.echo(
            f"resumed {len(result.resumed)} finished language(s): {', '.join(result.resumed)}",
            err=True,
        )
        if neurons is not None or save_activations is not None:
            click.echo(
                "resumed languages were not re-run: they have no neurons/activations", err=True
            )
    if run.neurons is not None:
        statuses = sorted(run.neurons.summary().items())
        counts = ", ".join(f"{n:,} {status}" for status, n in statuses)
        click.echo(f"wrote {neurons}: {counts or 'no correct fact'}", err=True)
    for lang, reasons in result.skipped.items():
        for reason, n in sorted(reasons.items()):
            click.echo(f"skipped {lang}: {n:,} × {reason}", err=True)
    click.echo(format_summary(result.summary))
    total = len(result.predictions)
    micro = result.predictions["correct"].mean() if total else 0.0
    click.echo(
        f"{total:,} facts, P@1 {100 * micro:.2f} over all; "
        f"wrote {result.out} and {result.summary_path}"
    )


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli(standalone_mode=False)
    except FactrootsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:  # an optional extra, imported further down than expected
        message = missing_message(exc.name or "", "factroots")
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except OSError as exc:  # the machine's fault (a full disk, an I/O error), not the input's
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BaseException as exc:  # a Rust panic not met where factroots expects one
        if type(exc).__name__ != "PanicException":
            raise
        reason = (str(exc).strip().splitlines() or ["panic"])[0]
        click.echo(f"error: tantivy failed ({reason})", err=True)
        sys.exit(2)


def command_reference() -> str:
    """Every command with its arguments and options, from the CLI's own help (the README's
    command reference is this text; a test keeps them equal)."""
    rows = []
    for path, command in _commands(cli, "factroots"):
        arguments = [p.human_readable_name for p in command.params if isinstance(p, click.Argument)]
        rows.append(f"- `{' '.join([path, *arguments])}`: {' '.join((command.help or '').split())}")
        for option in command.params:
            if isinstance(option, click.Option):
                default = (
                    f" [default: {option.default}]"
                    if option.show_default and option.default is not None and not option.is_flag
                    else ""
                )
                names = ", ".join(f"`{name}`" for name in option.opts)
                rows.append(f"  - {names}: {' '.join((option.help or '').split())}{default}")
    return "\n".join(rows)


def _commands(group: click.Group, prefix: str):
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}", command
