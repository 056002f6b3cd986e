"""How cost grows with corpus size: factroots vs Lucene (pyserini) vs the Aho–Corasick scan.

For each size (lines ≈ documents of the benchmark generator, English facts planted) and for each
system: build time, index bytes, batch-trace time for all English mLAMA facts (`words` mode),
and the p50/p99 latency of single co-occurrence queries. What each figure times:

- factroots build: `build_index` end to end (read, tokenize, segment, index) — its manifest time.
- Lucene build: `pyserini.index.lucene` over the exported JsonCollection (2 threads), plus the
  export (`factroots export lucene`: re-tokenizes the sources and checks every line against the
  factroots index) shown apart; the export is the Lucene path's tokenization.
- factroots trace: `trace_language` on a freshly opened index (no warm entity cache; numba's
  compilation done beforehand on another index object).
- Lucene trace: for every fact, a Boolean query `phrase(s) AND phrase(o)` built through pyjnius
  (each distinct entity's sub-query built once) and `IndexSearcher.count`, after 2,000 untimed
  queries that let the JVM compile its hot paths.
- Aho–Corasick trace: automaton build + one pass over the lines' word units, already in memory.
- single query: `FactIndex.cooccur` vs Lucene building both phrase queries and the Boolean query
  through pyjnius and counting it; Lucene's count of a prebuilt query is shown too (the pyjnius
  overhead is Python↔Java, not Lucene's).

`python -m benchmarks.bench_scaling [--sizes default|full|0.25,0.5,1,2,4]` (millions of lines)
prints the table and writes `benchmarks/scaling.png`.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / "work" / "scaling"
MLAMA = BENCH_DIR.parent.parent / "shared" / "data" / "mlama1.1"
# The default stays within make bench's budget on a shared 2-core machine; "full" is the issue's
# sweep (about an hour there).
DEFAULT_SIZES = (0.0625, 0.125, 0.25)
FULL_SIZES = (0.25, 0.5, 1.0, 2.0, 4.0)
LATENCY_SAMPLE = 1_000
MODE = "words"


@dataclass
class SizePoint:
    """Every figure at one corpus size."""

    lines: int
    tokens: int
    factroots_build_s: float
    factroots_bytes: int
    export_s: float
    lucene_build_s: float
    lucene_bytes: int
    factroots_trace_s: float
    lucene_trace_s: float
    scan_trace_s: float
    factroots_p50_ms: float
    factroots_p99_ms: float
    lucene_p50_ms: float
    lucene_p99_ms: float
    lucene_count_p50_ms: float
    lucene_count_p99_ms: float
    facts: int
    traced: int
    lucene_disagreements: int
    scan_disagreements: int


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _percentiles_ms(seconds: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(np.asarray(seconds) * 1e3, [50, 99])
    return float(p50), float(p99)


def _lucene_trace(lucene, index, facts, trace) -> tuple[np.ndarray, float]:
    from benchmarks.peers.differential import LuceneFacts

    warm = LuceneFacts(lucene, index, MODE)  # the JVM's JIT compiles these paths, not timed
    for fact in facts[:2000]:
        warm.boolean_count(fact.subject, fact.object)
    peer = LuceneFacts(lucene, index, MODE)
    counts = np.full(len(facts), -1, dtype=np.int64)
    started = time.perf_counter()
    for k, (fact, ok) in enumerate(zip(facts, trace["status"] == "ok", strict=True)):
        if ok:
            counts[k] = peer.boolean_count(fact.subject, fact.object)
    return counts, time.perf_counter() - started


def _scan_trace(collection: Path, index, facts) -> tuple[np.ndarray, float]:
    from benchmarks.peers.ahocorasick_scan import scan_facts

    lines = [json.loads(raw)["words"] for path in sorted(collection.glob("docs*.jsonl"))
             for raw in path.open(encoding="utf-8")]
    terms = {}
    for label in {f.subject for f in facts} | {f.object for f in facts}:
        terms[label] = index.entity(label, MODE).terms
    result = scan_facts(lines, [(terms[f.subject], terms[f.object]) for f in facts])
    return result.cooccur_lines, result.seconds


def _latencies(index, lucene, facts) -> dict[str, tuple[float, float]]:
    from benchmarks.peers.lucene import fact_query

    sample = random.Random(0).sample(list(facts), min(LATENCY_SAMPLE, len(facts)))
    ours, theirs, count_only = [], [], []
    for fact in sample:
        started = time.perf_counter()
        answer = index.cooccur(fact.subject, fact.object, MODE)
        ours.append(time.perf_counter() - started)
        if answer.present is None:
            continue
        started = time.perf_counter()
        query = fact_query(index.entity(fact.subject, MODE), index.entity(fact.object, MODE))
        lucene.count(query)
        theirs.append(time.perf_counter() - started)
        started = time.perf_counter()
        lucene.count(query)
        count_only.append(time.perf_counter() - started)
    return {"factroots": _percentiles_ms(ours), "lucene": _percentiles_ms(theirs),
            "lucene_count": _percentiles_ms(count_only)}


def measure_size(million_lines: float, work: Path = WORK, mlama: Path = MLAMA) -> SizePoint:
    """Generate (or reuse) the corpus of this size and measure the three systems on it."""
    from benchmarks.corpus import CorpusSpec, ensure_corpus
    from benchmarks.peers.lucene import LuceneLines, build_lucene_index
    from factroots.export.lucene import export_lucene
    from factroots.indexer.builder import build_index
    from factroots.probing.mlama import load_language
    from factroots.search import FactIndex
    from factroots.search.trace import trace_language

    documents = int(million_lines * 1_000_000)
    here = work / f"{documents}"
    corpus = here / "corpus"
    ensure_corpus(corpus, mlama, CorpusSpec(documents=documents))
    manifest = build_index(corpus, "en", here / "factroots", "mbert")
    root = here / "factroots"
    collection = here / "collection"
    for stale in collection.glob("docs*.jsonl"):
        stale.unlink()
    started = time.perf_counter()
    export_lucene(root, "en", collection)
    export_s = time.perf_counter() - started
    built = build_lucene_index(collection, here / "lucene")
    facts = load_language(mlama, "en").facts

    trace_language(FactIndex.open(root, "en"), facts[:50], MODE)  # numba compiles, not timed
    index = FactIndex.open(root, "en")
    started = time.perf_counter()
    trace = trace_language(index, facts, MODE)
    factroots_trace_s = time.perf_counter() - started
    ours = np.where(trace["status"] == "ok", trace["cooccur_lines"], -1).astype(np.int64)

    lucene = LuceneLines(built.index_dir)
    lucene_counts, lucene_trace_s = _lucene_trace(lucene, index, facts, trace)
    scan_counts, scan_trace_s = _scan_trace(collection, index, facts)
    gc.collect()
    latency = _latencies(FactIndex.open(root, "en"), lucene, facts)
    lucene.close()
    return SizePoint(
        lines=manifest.counts.lines, tokens=manifest.counts.tokens,
        factroots_build_s=manifest.build_seconds, factroots_bytes=_bytes(root),
        export_s=export_s, lucene_build_s=built.seconds, lucene_bytes=built.bytes,
        factroots_trace_s=factroots_trace_s, lucene_trace_s=lucene_trace_s,
        scan_trace_s=scan_trace_s,
        factroots_p50_ms=latency["factroots"][0], factroots_p99_ms=latency["factroots"][1],
        lucene_p50_ms=latency["lucene"][0], lucene_p99_ms=latency["lucene"][1],
        lucene_count_p50_ms=latency["lucene_count"][0],
        lucene_count_p99_ms=latency["lucene_count"][1],
        facts=len(facts), traced=int((ours >= 0).sum()),
        lucene_disagreements=int((lucene_counts != ours).sum()),
        scan_disagreements=int((scan_counts != ours).sum()))


def growth_exponent(lines: list[int], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(lines): 1.0 is linear growth."""
    if len(lines) < 2:
        return float("nan")
    return float(np.polyfit(np.log(lines), np.log(seconds), 1)[0])


def plot(points: list[SizePoint], path: Path = BENCH_DIR / "scaling.png") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [p.lines for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, attr, marker in (("factroots", "factroots_trace_s", "o"),
                                ("Lucene, 1 query/fact", "lucene_trace_s", "s"),
                                ("Aho–Corasick scan", "scan_trace_s", "^")):
        seconds = [getattr(p, attr) for p in points]
        left.loglog(lines, seconds, marker=marker,
                    label=f"{label} (slope {growth_exponent(lines, seconds):.2f})")
    left.set(xlabel="corpus lines", ylabel="seconds", title="batch trace, all English facts")
    for label, attr, marker in (("factroots p50", "factroots_p50_ms", "o"),
                                ("Lucene p50 (via pyjnius)", "lucene_p50_ms", "s"),
                                ("Lucene p50 (count only)", "lucene_count_p50_ms", "x"),
                                ("factroots p99", "factroots_p99_ms", "o"),
                                ("Lucene p99 (via pyjnius)", "lucene_p99_ms", "s")):
        style = "--" if "p99" in label else "-"
        right.loglog(lines, [getattr(p, attr) for p in points], style, marker=marker,
                     label=label)
    right.set(xlabel="corpus lines", ylabel="ms", title="single co-occurrence query")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _ratio(a: float, b: float) -> str:
    return f"{a / b:,.1f}×" if b > 0 else "—"


def markdown(points: list[SizePoint]) -> str:
    """The scaling table, ratios and growth exponents."""
    rows = ["| lines | tokens | build s: factroots / Lucene (+export) | index MB: factroots / "
            "Lucene | trace s: factroots / Lucene / scan | Lucene÷factroots | scan÷factroots | "
            "p50 ms: factroots / Lucene (count only) | p99 ms: factroots / Lucene | "
            "disagreements Lucene / scan |",
            "|---:|---:|---|---|---|---:|---:|---|---|---|"]
    for p in points:
        rows.append(
            f"| {p.lines:,} | {p.tokens / 1e6:.1f}M | {p.factroots_build_s:.1f} / "
            f"{p.lucene_build_s:.1f} (+{p.export_s:.1f}) | {p.factroots_bytes / 1e6:.0f} / "
            f"{p.lucene_bytes / 1e6:.0f} | {p.factroots_trace_s:.2f} / {p.lucene_trace_s:.1f} / "
            f"{p.scan_trace_s:.1f} | {_ratio(p.lucene_trace_s, p.factroots_trace_s)} | "
            f"{_ratio(p.scan_trace_s, p.factroots_trace_s)} | {p.factroots_p50_ms:.3f} / "
            f"{p.lucene_p50_ms:.3f} ({p.lucene_count_p50_ms:.3f}) | {p.factroots_p99_ms:.2f} / "
            f"{p.lucene_p99_ms:.2f} | {p.lucene_disagreements} / {p.scan_disagreements} |")
    lines = [p.lines for p in points]
    exponents = ", ".join(
        f"{name} {growth_exponent(lines, [getattr(p, attr) for p in points]):.2f}"
        for name, attr in (("factroots", "factroots_trace_s"), ("Lucene", "lucene_trace_s"),
                           ("Aho–Corasick", "scan_trace_s")))
    facts = points[-1].facts if points else 0
    traced = points[-1].traced if points else 0
    return "\n".join([
        f"Batch trace of all {facts:,} English mLAMA facts ({traced:,} traceable, `{MODE}` "
        "mode) per corpus size; single-query latencies over a fixed sample of "
        f"{LATENCY_SAMPLE:,} facts.", "", *rows, "",
        f"Fitted growth exponent of trace time in corpus lines (log-log slope): {exponents}.",
        "", "Index bytes are not like for like: factroots stores each line's text, document id "
        "and title (its evidence); the Lucene index stores only the line id. Lucene's build "
        "starts from the exported collection; the export (in brackets) is its tokenization.",
        "", "![scaling](scaling.png)"])


WHY = """Why the targets are missed (cost structure; see the profile where shown). factroots'
batch trace resolves every distinct entity once (34,299 labels for 37,498 English facts: each
analysed in Python, then one tantivy search whose line ids are materialized), then intersects
the line-id arrays in numba, which takes a fraction of a second. The per-entity searches are
nearly all of the time, and one costs about what one Lucene Boolean query costs; with only ~1.1
facts per distinct entity, resolving entities once instead of querying per fact can only buy a
small factor. The Aho–Corasick scan over lines already tokenized and in memory takes seconds at
these sizes and grows with the corpus faster than factroots' trace (fitted slopes above), so that
ratio grows with size, slowly. Meeting 50× and 20× needs the per-entity cost itself cut by an
order of magnitude (postings read directly instead of one search per entity with hits turned
into Python objects), the tracer's work (issue 3). A single query is engine-bound: a tantivy and
a Lucene Boolean count cost about the same, and `FactIndex.cooccur` runs three counts (both,
subject, object) plus label analysis, so it beats Lucene reached through pyjnius (whose Java
object building costs 0.1–0.3 ms per query) but not Lucene's bare count of a prebuilt query."""


def targets(points: list[SizePoint]) -> str:
    """The issue's targets, judged at every size (the issue names 2M lines)."""
    rows = ["| lines | Lucene÷factroots trace (≥ 50×) | scan÷factroots trace (≥ 20×) | "
            "Lucene p50 ÷ factroots p50 (≥ 5×): via pyjnius / count only |",
            "|---:|---|---|---|"]
    for p in points:
        lucene, scan = p.lucene_trace_s / p.factroots_trace_s, p.scan_trace_s / p.factroots_trace_s
        p50, p50_count = p.lucene_p50_ms / p.factroots_p50_ms, (
            p.lucene_count_p50_ms / p.factroots_p50_ms)
        rows.append(f"| {p.lines:,} | {lucene:.1f}× {_met(lucene >= 50)} | "
                    f"{scan:.1f}× {_met(scan >= 20)} | {p50:.2f}× {_met(p50 >= 5)} / "
                    f"{p50_count:.2f}× {_met(p50_count >= 5)} |")
    return "\n".join(rows)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def points_from(path: Path) -> list[SizePoint]:
    return [SizePoint(**p) for p in json.loads(Path(path).read_text())]


def run(scale: str = "default", work: Path = WORK) -> str:
    """The scaling section for RESULTS.md: `scale` is 'default' (0.25M–1M lines), 'full'
    (0.25M–4M) or comma-separated millions of lines."""
    sizes = {"default": DEFAULT_SIZES, "full": FULL_SIZES}.get(scale)
    if sizes is None:
        sizes = tuple(float(s) for s in scale.split(","))
    points = [measure_size(size, work) for size in sizes]
    (work / "points.json").write_text(json.dumps([asdict(p) for p in points], indent=2))
    return render(points)


def render(points: list[SizePoint]) -> str:
    """Plot, table, targets and reading of a set of size points (sorted by lines)."""
    points = sorted(points, key=lambda p: p.lines)
    plot(points)
    return "\n\n".join([markdown(points), targets(points), WHY])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="default",
                        help="'default', 'full' or millions of lines, e.g. 0.25,0.5,1,2,4")
    args = parser.parse_args()
    print(run(args.sizes))


if __name__ == "__main__":
    main()
