"""`make bench`: every figure in one run on one generated corpus, written to benchmarks/RESULTS.md.

    python -m benchmarks.run [--documents N] [--work DIR] [--out FILE]

`FACTROOTS_BENCH_DOCUMENTS` sets the corpus size as well (documents; most are one line each).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_trace import (
    BuildFigures,
    QueryFigures,
    ScanFigures,
    TraceFigures,
    aho_corasick_trace,
    machine,
    measure_build,
    measure_queries,
    measure_trace,
    tokenizer_ceiling,
    write_tokenized_lines,
)
from benchmarks.corpus import CorpusSpec, ensure_corpus
from factroots.probing.mlama import load_language
from factroots.search.index import FactIndex

HERE = Path(__file__).parent
SHARED_MLAMA = HERE.parent.parent / "shared" / "data" / "mlama1.1"
DEFAULT_DOCUMENTS = 500_000  # 2M documents do not build within 10 minutes yet: RESULTS.md
PEER_SECTIONS = (("benchmarks.bench_probe", ("probe_section",)),
                 ("benchmarks.bench_attribution", ("attribution_section", "run")),
                 ("benchmarks.peers.run", ("peers_section",)))
SEPARATE_RESULTS = """## Sections measured in their own runs

With `--no-peers` this file holds the tracing figures only. The probing, attribution and peers
(Lucene, infini-gram, scaling sweep) figures of their own latest runs, each with its machine,
commit and date: [results_probe.md](results_probe.md),
[results_attribution.md](results_attribution.md), [results_peers.md](results_peers.md).
"""


PROFILE_NOTES = """- **Where build time goes** (cProfile of a 100k-document build, 2026-11-24, on
  this shared machine): `encode_batch` 30 %, word units (`regex.findall` per line) 18 %,
  converting encodings to numpy (ids, offsets, word ids) 10 %, building tantivy documents and
  term strings 8 %, commit 4 %.
- **Index size.** The stored line text (zstd) plus two positional fields (`w` word units and `t`
  token ids); positions are needed for phrase queries. Meeting 3 bytes/token needs dropping the
  stored text (evidence then re-read from the corpus) or one positional field.
- **Batch trace** (profiled by hand): per distinct entity, entity analysis (word units ≈ 10–28 µs,
  a tokens-mode tokenizer call ≈ 40–75 µs), a term-presence check (`doc_freq`, ≈ 1.5 µs a term),
  and, when all terms exist, one tantivy search ordered by `line` (≈ 10–12 µs fixed, then ≈ 1–2 µs
  per matching line, as Python tuples: tantivy-py exposes no posting-list API). The numba
  intersections are negligible. Two resolver threads gain ~15 % only (the GIL is held while hits
  become Python objects). The Aho–Corasick pass grows linearly with the corpus, the trace mostly
  with the number of distinct entities, so their ratio improves with corpus size.
"""


def bounds_section(build: BuildFigures, ceiling: float, documents: int) -> str:
    """What bounds the missed targets: this run's figures, then the profile notes."""
    scale = ("" if documents >= 2_000_000 else
             f"- **Scale.** This run used {documents:,} documents, not the issue's 2M: set "
             "`FACTROOTS_BENCH_DOCUMENTS=2000000` for that scale (it does not fit the 10-minute "
             "budget at this machine's build rate).\n")
    tokenizer = (f"- **Build.** The tokenizer alone (`encode_batch`, both cores) reached "
                 f"{ceiling / 1e6:.2f} M tokens/s in this run, "
                 f"{1.5e6 / ceiling:.1f}× below the 1.5 M target: the build cannot meet it on "
                 f"this machine whatever the indexer does (build = "
                 f"{build.tokens_per_s / ceiling:.2f}× the tokenizer alone).\n")
    return "## What bounds the missed targets\n\n" + scale + tokenizer + PROFILE_NOTES


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def build_section(b: BuildFigures, ceiling: float) -> str:
    rate, size = b.tokens_per_s / 1.5e6, b.bytes_per_token / 3
    rows = [
        ["input", f"{b.input_bytes / 1e6:,.0f} MB, {b.documents:,} documents, {b.lines:,} lines, "
                  f"{b.tokens:,} tokens", "", ""],
        ["time", f"{b.seconds:,.1f} s", "", ""],
        ["throughput", f"{b.mb_per_s:.2f} MB/s, {b.tokens_per_s / 1e6:.3f} M tokens/s",
         "≥ 1.5 M tokens/s", f"{verdict(rate >= 1)} ({rate:.2f}× target)"],
        ["index size", f"{b.index_bytes / 1e6:,.0f} MB = {b.bytes_per_token:.2f} bytes/token",
         "≤ 3 bytes/token", f"{verdict(size <= 1)} ({size:.2f}× target)"],
        ["peak RSS", f"{b.peak_rss_bytes / 2**20:,.0f} MiB", "≤ 2 GiB",
         verdict(b.peak_rss_bytes <= 2 * 2**30)],
        ["tokenizer alone (encode_batch, both cores, first 20k documents)",
         f"{ceiling / 1e6:.3f} M tokens/s", "",
         f"build = {b.tokens_per_s / ceiling:.2f}× tokenizer alone"],
    ]
    return ("## Build (end to end: read, tokenize, segment, index; in a child process)\n\n"
            + table(["figure", "value", "target", ""], rows) + "\n")


def query_section(q: QueryFigures) -> str:
    over = q.p50_ms / q.raw_p50_ms
    rows = [[name, f"{p50:.3f} ms", f"{p99:.2f} ms", f"{qps1:,.0f}", f"{qps2:,.0f}"]
            for name, p50, p99, qps1, qps2 in (
                ("factroots", q.p50_ms, q.p99_ms, q.qps_1, q.qps_2),
                ("raw tantivy", q.raw_p50_ms, q.raw_p99_ms, q.raw_qps_1, q.raw_qps_2))]
    return f"""## Single co-occurrence query ({q.queries:,} English fact pairs, words mode)

factroots = `FactIndex.cooccur(subject, object)`: entity analysis and the counts of lines with
both, with the subject, with the object. Raw tantivy = the same 3 counts from the same,
pre-analysed terms, queries built and run directly on the searcher.

{table(["", "p50", "p99", "queries/s, 1 thread", "queries/s, 2 threads"], rows)}

p50 target ≤ 0.1 ms: {verdict(q.p50_ms <= 0.1)} ({q.p50_ms / 0.1:.2f}× target). Overhead over raw
tantivy at p50: {over:.2f}× (target ≤ 1.3×: {verdict(over <= 1.3)}).
"""


def trace_section(traces: list[TraceFigures], scan: ScanFigures, agree: bool) -> str:
    rows = [[t.mode, f"{t.facts:,}", f"{t.cold_s:.2f} s", f"{t.facts / t.cold_s:,.0f}",
             f"{t.warm_s:.2f} s", f"{t.present:,} / {t.absent:,} / {t.untraceable:,}"]
            for t in traces]
    tokens = next(t for t in traces if t.mode == "tokens")
    slowest = max(t.cold_s for t in traces)
    ratio = scan.total_s / tokens.cold_s
    scan_rows = [
        ["Aho–Corasick pass, scan only", f"{scan.scan_s:.1f}", ""],
        ["Aho–Corasick, all (automaton, scan, intersection)", f"{scan.total_s:.1f}", ""],
        ["factroots trace, tokens mode, cold", f"{tokens.cold_s:.2f}",
         f"{ratio:.1f}× faster (scan only: {scan.scan_s / tokens.cold_s:.1f}×)"],
        ["factroots trace, tokens mode, warm", f"{tokens.warm_s:.2f}",
         f"{scan.total_s / tokens.warm_s:.1f}× faster"],
    ]
    headers = ["mode", "facts", "cold (fresh index)", "facts/s (cold)",
               "warm (same index again)", "present / absent / untraceable"]
    return f"""## Batch trace of all English mLAMA facts

{table(headers, rows)}

Target ≤ 2 s (≥ 20,000 facts/s), cold: {verdict(slowest <= 2)} (slowest mode
{slowest / 2:.2f}× target).

## The paper's baseline: one Aho–Corasick pass (pyahocorasick) over the tokenized lines

Same facts, tokens mode (ids as space-delimited strings, each line ` id id … `). The corpus was
tokenized and segmented beforehand, exactly as the index was; that tokenization is **excluded**,
and so is reading the file. Timed: building the automaton ({scan.patterns:,} patterns,
{scan.automaton_s:.2f} s), the scan of {scan.lines:,} lines, and the same per-fact intersection
as the tracer.

{table(["", "seconds", "ratio"], scan_rows)}

Target ≥ 20× (cold, tokens mode): {verdict(ratio >= 20)}. The baseline's per-fact counts
{"equal" if agree else "**differ from**"} the tracer's ({scan.present:,} facts present).
"""


def peer_sections() -> list[str]:
    """The probing and attribution benchmarks' markdown sections, where their modules exist."""
    sections = []
    for module_name, names in PEER_SECTIONS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        function = next((getattr(module, n) for n in names if hasattr(module, n)), None)
        if function is not None:
            log(f"running {module_name}.{function.__name__}")
            sections.append(function())
    return sections


def results_markdown(info: dict, spec: CorpusSpec, sections: list[str], seconds: float) -> str:
    return f"""# factroots benchmark results

Written by `make bench` (`python -m benchmarks.run`) in {seconds / 60:.1f} minutes.

- machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GiB; Python
  {info['python']}, tantivy {info['tantivy']}, tokenizers {info['tokenizers']}, pyahocorasick
  {info['pyahocorasick']}
- commit {info['commit']}, {info['date']}; load average at start
  {', '.join(f'{x:.1f}' for x in info['load_average'])}
- corpus: `benchmarks/corpus.py`, {spec.documents:,} documents (seed {spec.seed}), English
  mLAMA entities planted; mBERT tokenizer.

The cores are shared with other work on this machine: every figure is noisy, and throughput
figures are lower bounds of what an idle machine gives.

{chr(10).join(sections)}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=int(
        os.environ.get("FACTROOTS_BENCH_DOCUMENTS", DEFAULT_DOCUMENTS)))
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--mlama", type=Path, default=SHARED_MLAMA)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-peers", action="store_true",
                        help="Skip the probing and attribution sections.")
    args = parser.parse_args()
    started = time.perf_counter()
    info = machine()
    spec = CorpusSpec(documents=args.documents)
    corpus, root = args.work / f"corpus-{spec.documents}", args.work / "root"
    log(f"corpus: {spec.documents:,} documents in {corpus}")
    ensure_corpus(corpus, args.mlama, spec)
    shutil.rmtree(root, ignore_errors=True)
    log("build (child process)")
    build = measure_build(corpus, root)
    log(f"built {build.lines:,} lines, {build.tokens:,} tokens in {build.seconds:.1f} s")
    ceiling = tokenizer_ceiling(corpus)
    facts = load_language(args.mlama, "en").facts
    log("single queries")
    queries = measure_queries(FactIndex.open(root, "en"), facts)
    traces, tables = [], {}
    for mode in ("words", "tokens"):
        log(f"trace {mode}")
        figures, tables[mode] = measure_trace(root, "en", facts, mode)
        traces.append(figures)
    log("tokenize lines for the Aho–Corasick baseline (not timed)")
    tokenized = args.work / f"tokenized-{spec.documents}.txt"
    write_tokenized_lines(corpus, tokenized)
    log("Aho–Corasick pass")
    scan, counts = aho_corasick_trace(tokenized, facts)
    tokens_trace = tables["tokens"]
    agree = bool(np.array_equal(counts[tokens_trace.status.to_numpy() == "ok"],
                                tokens_trace.cooccur_lines[tokens_trace.status == "ok"]))
    tokenized.unlink()
    sections = [build_section(build, ceiling), query_section(queries),
                trace_section(traces, scan, agree),
                bounds_section(build, ceiling, spec.documents)]
    args.out.write_text(results_markdown(info, spec, sections, time.perf_counter() - started))
    sections += [SEPARATE_RESULTS] if args.no_peers else peer_sections()
    args.out.write_text(results_markdown(info, spec, sections, time.perf_counter() - started))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
