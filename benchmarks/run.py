"""`make bench`: every figure in one run on one realistic corpus, written to benchmarks/RESULTS.md.

    python -m benchmarks.run [--lines N] [--work DIR] [--out FILE] [--no-peers]

The corpus is real English Wikipedia text at real density (benchmarks/corpus.py,
`RealisticSpec`); `FACTROOTS_BENCH_LINES` sets its size as well (default 1M lines, ≈ 490M
tokens: about an hour and a half on 2 cores, most of it building and segmenting for the
baseline; the segmented lines are kept for later runs).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_trace import (
    BuildFigures,
    QueryFigures,
    ScanFigures,
    TraceFigures,
    aho_corasick_trace,
    machine,
    measure_build,
    measure_queries,
    measure_traces,
    segmented_lines,
    tokenizer_ceiling,
)
from benchmarks.corpus import (
    Density,
    RealisticSpec,
    corpus_density,
    ensure_realistic_corpus,
)
from factroots.mlama import load_language
from factroots.search.entity import MODES
from factroots.search.index import FactIndex

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared"
SHARED_MLAMA = SHARED / "data" / "mlama1.1"
SHARED_WIKI = SHARED / "data" / "wikiextractor"
DEFAULT_LINES = 1_000_000
LINES_PER_DOCUMENT = 11.8  # realistic English copies: 3,540 lines from 300 documents
FIXED_COST_LINES = 1_000
COMPARISON_LINES = 50_000
BEFORE_SIDECAR = "f7dbfd5"  # the last commit whose index had no postings sidecar
DENSITY_LANGS = ("en", "ja", "zh")
PEER_SECTIONS = (
    ("benchmarks.bench_probe", ("probe_section",)),
    ("benchmarks.bench_attribution", ("attribution_section", "run")),
    ("benchmarks.peers.run", ("peers_section",)),
)
SEPARATE_RESULTS = """## Sections measured in their own runs

With `--no-peers` this file holds the tracing figures only. The probing, attribution and peers
(Lucene, infini-gram, scaling sweep) figures of their own latest runs, each with its machine,
commit and date: [results_probe.md](results_probe.md),
[results_attribution.md](results_attribution.md), [results_causal.md](results_causal.md)
(causal probing: shared prefix + KV cache against whole sentences),
[results_serve.md](results_serve.md) (the explorer under load),
[results_peers.md](results_peers.md) (its scaling sweep is of the earlier, sparse benchmark
corpus), and
[results_scaling.md](results_scaling.md): the sweep on the realistic corpus at 115k, 231k, 464k
and 931,750 lines, factroots against Lucene's two batch paths and the scan (`python -m
benchmarks.bench_scaling --sizes 0.125,0.25,0.5 --out benchmarks/results_scaling.md`, 58 minutes,
at e1e298d; the 931,750-line point in its own run at 4d4fed7, postings format 3 and entities
resolved in the order of their densest term, `--sizes 1 --reuse-build --with-points`, 34 minutes,
reusing the index above upgraded in place by `index upgrade`: each point's figures come from one
run).
There, at 931,750 lines, the whole scan is measured (no projection): words 73.9 s against the
trace's 0.74 s (100×, met), tokens 76.6 s against 1.56 s (49.2×, missed by 1.6 %); the scan ÷
trace ratio grows with the corpus (words 31× → 100×, tokens 11.6× → 49×; fitted slopes: scan
≈ 1.0, trace 0.3–0.5) as the trace's fixed part fades. Lucene's fastest batch path (a query per
fact) costs about the same at every size, bound by its pyjnius round trips: 14–25× slower than
the trace at every size (target ≥ 10×: met). The two runs of that point before this one gave
102× / 49.3× and 10.2× (1ad6e8d) and 80× / 39× and 8.4× (ce02105, postings format 2), with
scans of 77.7 / 84.2 s and 62.8 / 73.3 s: the trace got faster in each run (tokens 1.88 → 1.71
→ 1.56 s), the scan's own rate varied by a fifth. A single query's counts of analysed entities
take 6–9 µs at p50 against Lucene's count of a prebuilt query, 12–31 µs (met at every size), and
`cooccur` with its label analysis 41–102 µs against Lucene's 130–275 µs through pyjnius; the
931,750-line point's p99 of 28 ms was disk reads (the scan before it had pushed the index out of
the page cache; 2.2–2.8 ms with the index in memory, measured apart), and the sweep now reads
both indexes through before its single queries. The scan's per-line rate differs between runs
by up to a third (run-to-run variance of the pass itself), which is why each ratio is taken
within one run.
"""

BOUNDS = """## What bounds these figures

- **Trace.** Entities are analysed in one batch (word units of all labels in one numba pass over
  their code points; tokens by one `encode_batch` of the labels joined 512 to a string and
  handed back by character offset, ≈ 0.15–0.2 s for 34,299 English labels: the tokenizer costs
  about as much per string as per token, so one string per label cost twice that), then resolved
  per shard in a few parallel numba calls on the postings sidecar: a one-term entity is its
  term's line list, referenced in the mapped file; a longer one starts from its rarest term's
  lines, keeps those its other terms share (one branch-free pass of bit tests where terms lie on
  ≥ 1/64 of the lines, a bitset AND where all do, else galloping) and verifies the phrase in
  each line left by reading each term's few positions in that line (postings format 3: a
  posting's positions are stored within its line, and the posting is found by its rank in the
  term's bitset, else by galloping through its line list). A fact's count is the intersection of
  its two entities' lines in each shard (a bit test against a frequent object), summed over
  shards: no line list is merged or copied across shards. What remains, measured on one 460 k-line
  tokens shard: ≈ 40 M candidate lines (the rarest term's) for 21 k multi-token labels, cut to
  ≈ 3 M by the other terms' bitsets and line lists (≈ 55 % of the time, most of it in the
  16 k labels whose rarest token is on under ≈ 1,000 lines, where each test is a cache miss),
  then ≈ 1.2 M phrases verified (≈ 30 %; format 2 galloped through whole-corpus positions arrays
  there, a few cache misses per line: the phrase pass fell from 0.74 to 0.58 s in tokens mode
  and 0.38 to 0.24 s in words mode on that shard, one A/B run), and the term bitsets built for
  the call (≈ 15 %). Tried and not kept: a skip list over format 2's positions (8 %); storing the
  frequent terms' bitsets in the sidecar instead of their line lists (a sidecar an eighth smaller,
  but its memory-mapped bitsets and coarser ranks made the trace ≈ 30 % slower); hardware
  popcount; linear merges in place of galloping; more bitsets (1/256, 1/1024 of the lines);
  each bitset's ranks computed in the pass that sets its bits (0.20 against 0.13 s a shard);
  numba's dynamic scheduling of the parallel loop (chunks of 16–1,024 entities: slower).
  Kept: entities resolved in the order of their densest term, so that its bitset and
  postings stay in cache from one entity to the next (3–7 % off a tokens shard's resolution in
  three A/B runs of four, 3 % slower in the fourth).
  The trace grows linearly with the corpus at a fixed density, like the scan, with a constant
  50–100× smaller; on small indexes
  the fixed cost dominates (label analysis, ≈ 0.03 s in words mode and ≈ 0.2 s in tokens mode;
  the first call of each numba function in a process, ≈ 0.4 s for the first and ≈ 0.01 s for
  each other, is paid by the warm-up; the cold trace still pays the first touch of the index's
  mapped pages), which is why the side-by-side ratio on 119 k lines is lower than at 931 k;
  "warm" is the same index traced again.
- **Trace memory.** The trace's anonymous memory peaks at 0.3–0.45 GiB (one shard's entity
  lines of several terms, bitsets, scratch of at most 2^24 candidate lines); its whole RSS
  also counts the pages of the memory-mapped sidecar it touched (positions of frequent terms),
  page cache the kernel may drop at any time. A sharded trace releases each shard's mapped
  pages once the shard is counted (madvise DONTNEED), so its RSS holds one shard's at a time
  (it held every shard's: 2.5 GiB in tokens mode at this size); a warm trace maps them again
  from the page cache. Both stay under the 2 GiB target.
- **Aho–Corasick.** pyahocorasick's automaton runs in C, but every match becomes a Python tuple
  and every line a Python set of entities: at real density (13–15 entity-lines per line) this is
  most of its time.
- **Index size.** The sidecar stores 2 bytes per term occurrence (its position within its line)
  and 8 per distinct (term, line) (the line, and where its positions start),
  uncompressed in both modes, so that galloping needs no decoding; tantivy keeps its own
  compressed postings for evidence (and for every query of an index built without a sidecar).
  Block compression (delta + bit packing) would shrink the sidecar ≈ 3×, at a decoding cost in
  the trace; not done.
- **Build.** The 931,750-line index above is reused from an earlier commit (its manifest's time,
  on a loaded machine; its sidecar upgraded in place to format 3 by `index upgrade`, 70 s), and
  the build table above is of 3e8b401. Since then the build tokenizes each distinct whitespace
  chunk once (factroots.indexer.encoding: the very ids, offsets and word ids the tokenizer gives
  the whole text, checked on every shared sample and on generated texts) and writes the token-id
  terms from a table of each id's digits. On the realistic corpus (results_scaleout.md, 48.8 MB)
  it runs at 1.24× the tokenizer alone with 2 workers (1.03× with 2 threads in one process;
  0.52× with every text tokenized whole, in the same run; the workers are forked from a
  forkserver that has imported the build once). That corpus repeats its articles, so its chunks
  recur more often than a real dump's: on the shared samples of all 18 languages as they are
  (5.1 MB, nothing repeated; three fifths of its tokens Japanese and Chinese, which have few
  spaces and are tokenized whole) the build runs at 0.46× (0.48× without the memo, within the
  noise), bound there by a cold memo and by what a 5 MB build cannot amortize (in one profile:
  numba's cached code 0.7 s, parsing the tokenizer 0.2 s, tantivy's commit 0.2 s, the sidecar's
  merge 0.6 s, of 3.5 s). Beyond the tokenizer, every line is a tantivy Document, tantivy
  indexes two positional fields and stores the text, and the sidecar adds a counting sort per
  run of 8M postings and one merge at the end.
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def documents_for(lines: int) -> int:
    """Documents of the realistic English corpus that give about `lines` lines."""
    return max(1, round(lines / LINES_PER_DOCUMENT))


def realistic_corpus(work: Path, lines: int) -> Path:
    spec = RealisticSpec(documents=documents_for(lines))
    corpus = work / f"realistic-en-{spec.documents}"
    ensure_realistic_corpus(corpus, SHARED_WIKI / "en", spec)
    return corpus


# -- density -------------------------------------------------------------------------------------


def sample_densities(work: Path) -> dict[str, Density]:
    """The density of the real shared samples, built once in `work`."""
    from factroots.indexer.builder import build_index

    found = {}
    for lang in DENSITY_LANGS:
        root = work / "samples"
        try:
            index = FactIndex.open(root, lang)
        except Exception:  # noqa: BLE001 - not built yet (or from an older format)
            build_index(SHARED_WIKI / lang, lang, root, workers=1)
            index = FactIndex.open(root, lang)
        found[lang] = corpus_density(index, load_language(SHARED_MLAMA, lang).facts)
    return found


def density_section(real: dict[str, Density], generated: Density) -> str:
    rows = [
        [
            f"real sample `{lang}`",
            f"{d.lines:,}",
            f"{d.tokens_per_line:.0f}",
            f"{d.entity_lines_per_line['words']:.1f}",
            f"{d.entity_lines_per_line['tokens']:.1f}",
        ]
        for lang, d in real.items()
    ]
    rows.append(
        [
            "generated (this run's corpus, `en`)",
            f"{generated.lines:,}",
            f"{generated.tokens_per_line:.0f}",
            f"{generated.entity_lines_per_line['words']:.1f}",
            f"{generated.entity_lines_per_line['tokens']:.1f}",
        ]
    )
    en = real["en"]
    ratios = [generated.tokens_per_line / en.tokens_per_line] + [
        generated.entity_lines_per_line[m] / en.entity_lines_per_line[m] for m in MODES
    ]
    return f"""## Corpus density

Tokens per line (mBERT) and entity-lines per line (Σ over the distinct mLAMA labels of the
language of the lines containing the label, ÷ lines), per mode. The generated corpus copies real
English articles, each copy keeping a random 80 % of its paragraphs
(`benchmarks/corpus.py`, `RealisticSpec`); `tests/test_bench_corpus.py` checks en, ja and zh
copies against their samples within ±25 %.

{
        table(
            [
                "corpus",
                "lines",
                "tokens/line",
                "entity-lines/line, words",
                "entity-lines/line, tokens",
            ],
            rows,
        )
    }

Generated ÷ real `en`: {", ".join(f"{r:.2f}" for r in ratios)} (tokens/line, words, tokens;
target within 0.75–1.25: {verdict(all(0.75 <= r <= 1.25 for r in ratios))}).
"""


# -- build ---------------------------------------------------------------------------------------


def before_sidecar_build(corpus: Path, root: Path) -> BuildFigures:
    """The same build with the code of BEFORE_SIDECAR (its own benchmark child), for the
    comparison; the old tree is exported by `git archive` into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="factroots-before-") as tree:
        archive = subprocess.run(
            ["git", "archive", BEFORE_SIDECAR], cwd=HERE.parent, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        _measure_peak_as_now(Path(tree) / "benchmarks" / "bench_trace.py")
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_trace", "build", str(corpus), str(root), "en"],
            cwd=tree,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": tree},
        )
    import json

    return BuildFigures(**json.loads(done.stdout.strip().splitlines()[-1]))


OLD_PEAK = "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024"
NEW_PEAK = (
    "max(int(next(line.split()[1] for line in open('/proc/self/status') "
    "if line.startswith('VmHWM:'))) * 1024, "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
)


def _measure_peak_as_now(bench_trace: Path) -> None:
    """The old build child measures its peak RSS as this one does (VmHWM, or its largest
    worker's), not by ru_maxrss, which counts the process it was forked from."""
    text = bench_trace.read_text(encoding="utf-8")
    if OLD_PEAK not in text:
        raise SystemExit(f"{BEFORE_SIDECAR}'s bench child no longer measures RSS as expected")
    bench_trace.write_text(text.replace(OLD_PEAK, NEW_PEAK), encoding="utf-8")


def build_section(b: BuildFigures, ceiling: float, ours: BuildFigures, before: BuildFigures) -> str:
    speed = ours.tokens_per_s / before.tokens_per_s
    size = ours.bytes_per_token / before.bytes_per_token
    rows = [
        [
            "input",
            f"{b.input_bytes / 1e6:,.0f} MB, {b.documents:,} documents, {b.lines:,} lines, "
            f"{b.tokens:,} tokens",
            "",
        ],
        ["time", f"{b.seconds:,.1f} s", ""],
        [
            "throughput",
            f"{b.mb_per_s:.2f} MB/s, {b.tokens_per_s / 1e6:.3f} M tokens/s",
            f"{b.tokens_per_s / ceiling:.2f}× the tokenizer alone ({ceiling / 1e6:.2f} M tokens/s, "
            "encode_batch on both cores, first 40M characters)",
        ],
        ["index size", f"{b.index_bytes / 1e6:,.0f} MB = {b.bytes_per_token:.2f} bytes/token", ""],
        [
            "peak RSS",
            f"{b.peak_rss_bytes / 2**20:,.0f} MiB"
            if b.peak_rss_bytes
            else "not measured (index reused from an earlier run: its manifest's figures)",
            "",
        ],
    ]
    compare = [
        [
            name,
            f"{f.seconds:.1f} s",
            f"{f.tokens_per_s / 1e6:.3f} M",
            f"{f.bytes_per_token:.2f}",
            f"{f.peak_rss_bytes / 2**20:,.0f} MiB",
        ]
        for name, f in (
            ("this commit (tantivy + postings sidecar)", ours),
            (f"{BEFORE_SIDECAR} (tantivy only)", before),
        )
    ]
    return f"""## Build (end to end: read, tokenize, segment, index; in a child process)

{table(["figure", "value", ""], rows)}

Against the build before the sidecar, on the same {ours.lines:,}-line realistic corpus, one after
the other in this run:

{table(["build", "time", "tokens/s", "bytes/token", "peak RSS"], compare)}

Throughput {speed:.2f}× the old build (target ≥ 0.85×: {verdict(speed >= 0.85)}); bytes per
token {size:.2f}× (target ≤ 1.15×: {verdict(size <= 1.15)}).
"""


# -- queries, trace, baseline ------------------------------------------------------------------


def query_section(q: QueryFigures) -> str:
    rows = [
        [name, f"{p50:.3f} ms", f"{p99:.2f} ms", f"{qps1:,.0f}", f"{qps2:,.0f}"]
        for name, p50, p99, qps1, qps2 in (
            ("factroots `cooccur`", q.p50_ms, q.p99_ms, q.qps_1, q.qps_2),
            (
                "factroots, analysed entities",
                q.counts_p50_ms,
                q.counts_p99_ms,
                q.counts_qps_1,
                q.counts_qps_2,
            ),
            ("raw tantivy", q.raw_p50_ms, q.raw_p99_ms, q.raw_qps_1, q.raw_qps_2),
        )
    ]
    return f"""## Single co-occurrence query ({q.queries:,} English fact pairs, words mode)

factroots `cooccur` = `FactIndex.cooccur(subject, object)`: entity analysis and the counts of
lines with the subject, with the object, with both, in one numba call per shard on the postings
sidecar (tantivy, the index of record, is asked only for evidence lines). Analysed entities =
the same three counts of entities analysed beforehand (`FactIndex.pair_lines`), like Lucene's
count of a prebuilt query. Raw tantivy = the same 3 counts from the same, pre-analysed terms,
queries built and run directly on each shard's searcher (what `cooccur` did before). Lucene's
figures are in the scaling sweep (results_scaling.md).

{table(["", "p50", "p99", "queries/s, 1 thread", "queries/s, 2 threads"], rows)}

Raw tantivy ÷ factroots at p50: {q.raw_p50_ms / q.p50_ms:.1f}× (`cooccur`),
{q.raw_p50_ms / q.counts_p50_ms:.1f}× (analysed entities).
"""


def scan_seconds(scan: ScanFigures, lines: int) -> float:
    """The pass over `lines` lines: measured when the scan saw them all, else the automaton plus
    the measured scan and intersection scaled linearly (a pass costs the same per line)."""
    return scan.automaton_s + (scan.total_s - scan.automaton_s) * lines / scan.lines


def trace_section(
    traces: list[TraceFigures],
    scans: dict[str, ScanFigures],
    agree: dict[str, bool | None],
    fixed: list[TraceFigures],
    lines: int,
) -> str:
    rows = []
    for t in traces:
        scan = scans[t.mode]
        seconds = scan_seconds(scan, lines)
        ratio = seconds / t.cold_s
        measured = scan.lines >= lines
        rows.append(
            [
                t.mode,
                f"{t.facts:,}",
                f"{t.cold_s:.2f} s",
                f"{t.warm_s:.2f} s",
                f"{t.peak_rss_bytes / 2**20:,.0f} MiB (anonymous "
                f"{t.peak_anon_bytes / 2**20:,.0f} MiB)",
                f"{scan.total_s:.1f} s over "
                f"{scan.lines:,} lines (automaton {scan.automaton_s:.1f}, scan "
                f"{scan.scan_s:.1f})"
                + ("" if measured else f"; **projected** to all: {seconds:.0f} s"),
                f"**{ratio:.1f}×**{'' if measured else ' (projected)'} ({verdict(ratio >= 50)})",
                f"{t.present:,} / {t.absent:,} / {t.untraceable:,}",
                {True: "equal", False: "**differ**", None: "not compared (subset)"}[agree[t.mode]],
            ]
        )
    fixed_rows = [[t.mode, f"{t.cold_s:.2f} s", verdict(t.cold_s <= 0.5)] for t in fixed]
    subset = (
        ""
        if all(s.lines >= lines for s in scans.values())
        else f"""
The segmented lines of the whole corpus did not fit this session (segmenting is not timed but
took ≈ 45 min on the loaded machine): the pass ran over the first
{scans[traces[0].mode].lines:,} lines, and its per-line cost is scaled to all {lines:,} lines
(the automaton counted once). A pass costs the same per line and the copies are uniform, so
this is a projection of the measured rate, not a measurement; `--scan-lines 0` measures it all.
"""
    )
    return f"""## Batch trace of all English mLAMA facts against the paper's scan ({lines:,} lines)

factroots = `trace_language` on a freshly opened index (cold; numba compiled and loaded, and the
tokenizer parsed, beforehand: once per process, by a trace of 200 facts on another index
object; the index's files read once beforehand, untimed, as the scan's lines are), then again
on the same object (warm), in a child process whose peak RSS
is shown: all of it (which counts the pages of the memory-mapped index the trace touched, page
cache shared with the system) and its anonymous part alone (sampled every 5 ms from
`/proc/<pid>/status`; both modes run in the one child, so the second row's figures are peaks
over both). The baseline is the paper's method: one Aho–Corasick pass (pyahocorasick) over the
lines, segmented exactly as the index was and written one per row (` t t … `, words or token
ids); segmenting and reading the file are **not** timed; building the automaton (with each
label's analysis), the scan and the same per-fact intersection are.

{
        table(
            [
                "mode",
                "facts",
                "factroots cold",
                "warm",
                "trace peak RSS",
                "Aho–Corasick",
                "scan ÷ factroots (≥ 50×)",
                "present / absent / untraceable",
                "per-fact counts vs scan",
            ],
            rows,
        )
    }
{subset}
Fixed cost: all facts against a {FIXED_COST_LINES:,}-line realistic index, cold (target ≤ 0.5 s):

{table(["mode", "trace", ""], fixed_rows)}
"""


def subset_index(corpus: Path, work: Path, files: int) -> Path:
    """An index of the corpus's first `files` files, the lines a partial scan covers (built
    once, in a child process, and kept)."""
    from factroots.indexer.reader import input_files

    subset = work / f"scan-corpus-{corpus.name}-{files}"
    root = work / f"scan-root-{corpus.name}-{files}"
    if not FactIndex.exists(root, "en"):
        shutil.rmtree(subset, ignore_errors=True)
        for path in input_files(corpus)[:files]:
            link = subset / path.relative_to(corpus)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, link)  # a hard link: the reader takes regular files only
        fresh_build(subset, root)
    return root


def side_by_side_section(
    traces: list[TraceFigures], scans: dict[str, ScanFigures], agree: dict[str, bool]
) -> str:
    """The trace and the scan over the very same lines, fact by fact."""
    rows = [
        [
            t.mode,
            f"{scans[t.mode].lines:,}",
            f"{t.cold_s:.2f} s",
            f"{t.warm_s:.2f} s",
            f"{scans[t.mode].total_s:.1f} s",
            f"**{scans[t.mode].total_s / t.cold_s:.1f}×** / "
            f"{scans[t.mode].total_s / t.warm_s:.1f}×",
            "equal on every fact" if agree[t.mode] else "**differ**",
        ]
        for t in traces
    ]
    return f"""### Side by side on the scanned lines

An index of exactly the lines the Aho–Corasick pass ran over (the corpus's first files), traced
as above; both sides measured, no projection, and every fact's co-occurrence count compared.

{
        table(
            [
                "mode",
                "lines",
                "factroots cold",
                "warm",
                "Aho–Corasick",
                "scan ÷ factroots, cold / warm",
                "per-fact counts vs scan",
            ],
            rows,
        )
    }
"""


def peer_sections() -> list[str]:
    """The probing, attribution and peers benchmarks' markdown sections, where they exist."""
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


def results_markdown(info: dict, lines: int, sections: list[str], seconds: float) -> str:
    return f"""# factroots benchmark results

Written by `make bench` (`python -m benchmarks.run`) in {seconds / 60:.1f} minutes.

- machine: {info["cpu"]}, {info["cores"]} cores, {info["memory_gb"]} GiB; Python
  {info["python"]}, tantivy {info["tantivy"]}, tokenizers {info["tokenizers"]}, pyahocorasick
  {info["pyahocorasick"]}
- commit {info["commit"]}, {info["date"]}; load average at start
  {", ".join(f"{x:.1f}" for x in info["load_average"])}
- corpus: `benchmarks/corpus.py` `RealisticSpec`, real English Wikipedia articles copied to
  about {lines:,} lines; mBERT tokenizer; all 37,498 English mLAMA facts.

{chr(10).join(sections)}"""


def reused_build(corpus: Path, root: Path) -> BuildFigures:
    """The figures of the index already in `root`, from its manifest."""
    from benchmarks.bench_trace import directory_bytes

    index = FactIndex.open(root, "en")
    m, c = index.manifest, index.manifest.counts
    if Path(m.input_root) != corpus.resolve():
        raise SystemExit(f"{root} was built from {m.input_root}, not {corpus}")
    return BuildFigures(
        m.build_seconds,
        sum(s["size"] for s in m.sources),
        c.text_bytes,
        c.documents,
        c.lines,
        c.tokens,
        directory_bytes(index.path),
        0,
    )


def fresh_build(corpus: Path, root: Path) -> BuildFigures:
    shutil.rmtree(root, ignore_errors=True)
    return measure_build(corpus, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--lines", type=int, default=int(os.environ.get("FACTROOTS_BENCH_LINES", DEFAULT_LINES))
    )
    parser.add_argument(
        "--compare-lines",
        type=int,
        default=COMPARISON_LINES,
        help="Size of the corpus on which the build before the sidecar is run.",
    )
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--scan-lines",
        type=int,
        default=0,
        help="Run the Aho–Corasick pass over about this many first lines only "
        "and project it to all (0: all lines).",
    )
    parser.add_argument(
        "--reuse-build",
        action="store_true",
        help="Keep WORK/root if it holds this corpus's index: its build figures "
        "come from its manifest (peak RSS not measured).",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="Skip the probing, attribution and peers sections."
    )
    args = parser.parse_args()
    started = time.perf_counter()
    info = machine()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    corpus = realistic_corpus(work, args.lines)
    log(f"corpus {corpus}; build (child process)")
    root = work / "root"
    build = (
        reused_build(corpus, root)
        if args.reuse_build and FactIndex.exists(root, "en")
        else fresh_build(corpus, root)
    )
    log(f"built {build.lines:,} lines, {build.tokens:,} tokens in {build.seconds:.1f} s")
    ceiling = tokenizer_ceiling(corpus)
    log("build comparison with the code before the sidecar")
    small = realistic_corpus(work, args.compare_lines)
    ours = fresh_build(small, work / "compare-ours")
    shutil.rmtree(work / "compare-before", ignore_errors=True)
    before = before_sidecar_build(small, work / "compare-before")
    log("density")
    facts = load_language(SHARED_MLAMA, "en").facts
    density = density_section(
        sample_densities(work), corpus_density(FactIndex.open(root, "en"), facts)
    )
    log("single queries")
    queries = measure_queries(FactIndex.open(root, "en"), facts)
    log("traces (child process)")
    traces, counts = measure_traces(root, "en", SHARED_MLAMA, work)
    fixed_root = work / "fixed-root"
    fresh_build(realistic_corpus(work, FIXED_COST_LINES), fixed_root)
    fixed, _ = measure_traces(fixed_root, "en", SHARED_MLAMA, work)
    log("segmented lines for the Aho–Corasick baseline (not timed; kept for later runs)")
    files = (
        math.ceil(args.scan_lines / (RealisticSpec.docs_per_file * LINES_PER_DOCUMENT))
        if args.scan_lines
        else None
    )
    segmented = segmented_lines(corpus, work / f"segmented-{corpus.name}", files)
    scans, agree, side_scan = {}, {}, {}
    for mode in MODES:
        log(f"Aho–Corasick pass, {mode}")
        scans[mode], side_scan[mode] = aho_corasick_trace(segmented[mode], facts, mode)
        scan_counts = side_scan[mode]
        ok = counts[mode] >= 0
        agree[mode] = (
            bool((scan_counts[ok] == counts[mode][ok]).all())
            if scans[mode].lines == build.lines
            else None
        )
    sections = [
        density,
        build_section(build, ceiling, ours, before),
        query_section(queries),
        trace_section(traces, scans, agree, fixed, build.lines),
    ]
    if files:
        log("trace of the scanned lines alone, side by side")
        side, side_counts = measure_traces(
            subset_index(corpus, work, files), "en", SHARED_MLAMA, work
        )
        sections.append(
            side_by_side_section(
                side,
                scans,
                {
                    mode: bool(
                        (
                            side_scan[mode][side_counts[mode] >= 0]
                            == side_counts[mode][side_counts[mode] >= 0]
                        ).all()
                    )
                    for mode in MODES
                },
            )
        )
    sections.append(BOUNDS)
    args.out.write_text(results_markdown(info, args.lines, sections, time.perf_counter() - started))
    sections += [SEPARATE_RESULTS] if args.no_peers else peer_sections()
    args.out.write_text(results_markdown(info, args.lines, sections, time.perf_counter() - started))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
