"""Scale-out on one machine: build and trace throughput with 1 and 2 workers, locally and
through Ray, on the realistic corpus (benchmarks/corpus.py `RealisticSpec`: real English
Wikipedia articles at real density).

What each figure times:
- tokenizer alone: `encode_batch` of every document's text, all cores (the issue's yardstick);
- build: `build_index` end to end (its manifest's build_seconds: read, tokenize, segment,
  index, postings, publish), for 1 worker (one shard, one thread), 2 threads in one process
  (one shard), the same with every text tokenized whole (no chunk memo: the build before it,
  factroots.indexer.encoding), 2 worker processes (2 shards) and 2 Ray tasks (2 shards; Ray
  started before, untimed); peak RSS sampled every 50 ms over the build's process tree
  (largest single process, and the sum);
- real text: the tokenizer alone and the 2-thread build, memo on and off, on the shared
  samples of every language as they are (real Wikipedia, no article repeated: the realistic
  corpus repeats its articles, so its chunks recur more than a real dump's);
- trace: `trace_language` of all English mLAMA facts per mode, on an index opened and warmed
  up once (numba compiled), for the unsharded and the 2-shard index locally, and the 2-shard
  index through one Ray actor per shard.

`python -m benchmarks.bench_shards [--documents 2000]` prints the table and writes
benchmarks/results_scaleout.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / "work" / "scaleout"
SHARED = BENCH_DIR.parent.parent / "shared" / "data"
MLAMA = SHARED / "mlama1.1"
MODES = ("words", "tokens")


class PeakRss:
    """Largest RSS of one process and of the whole tree of this process, and the CPU time of
    its descendants, sampled. Build workers are forked by a forkserver (a child of this
    process that outlives the build), so they are grandchildren whose CPU time
    `getrusage(RUSAGE_CHILDREN)` never sees: each descendant's last sampled user + system time
    is counted instead (less what it had used when first seen, if it was there before the
    build), which misses at most a sampling interval of each."""

    def __init__(self, every: float = 0.05):
        import psutil

        self.me, self.every = psutil.Process(), every
        self.single = self.total = 0
        self._cpu: dict[tuple[int, float], list[float]] = {}  # (pid, start) -> [first, last]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample(started=True)

    @property
    def descendants_cpu(self) -> float:
        return sum(last - first for first, last in self._cpu.values())

    def _sample(self, started: bool = False) -> None:
        import psutil

        sizes = []
        for p in [self.me, *self.me.children(recursive=True)]:
            try:
                sizes.append(p.memory_info().rss)
                if p.pid != self.me.pid:
                    times = p.cpu_times()
                    used = times.user + times.system  # a reaped worker is counted itself
                    seen = self._cpu.setdefault((p.pid, p.create_time()), [0.0, 0.0])
                    seen[0] = used if started else seen[0]
                    seen[1] = used
            except psutil.Error:
                pass
        self.single = max(self.single, max(sizes, default=0))
        self.total = max(self.total, sum(sizes))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def cpu_seconds() -> float:
    """CPU time of this process (its descendants' is sampled by PeakRss); Ray's workers are
    not descendants and are not counted."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def tokenizer_alone(corpus: Path) -> tuple[int, float]:
    from factroots.indexer.reader import CorpusReader
    from factroots.tokenizer import load_tokenizer

    tok = load_tokenizer("mbert").tokenizer
    texts = [d.text for d in CorpusReader(corpus)]
    started = time.perf_counter()
    tokens = 0
    for lo in range(0, len(texts), 256):
        tokens += sum(
            len(e.ids) for e in tok.encode_batch(texts[lo : lo + 256], add_special_tokens=False)
        )
    return tokens, time.perf_counter() - started


def build(corpus: Path, root: Path, memo: bool = True, **options) -> dict:
    import factroots.indexer.encoding as encoding
    from factroots.indexer.builder import build_index

    shutil.rmtree(root, ignore_errors=True)
    memoizable = encoding.memoizable
    if not memo:  # every text tokenized whole; in this process only (one shard, threads)
        encoding.memoizable = lambda tokenizer: False
    before = cpu_seconds()
    try:
        with PeakRss() as rss:
            manifest = build_index(corpus, "en", root, "mbert", **options)
    finally:
        encoding.memoizable = memoizable
    cpu = cpu_seconds() - before + rss.descendants_cpu
    return {
        "seconds": manifest.build_seconds,
        "tokens": manifest.counts.tokens,
        "cpu_seconds": None if options.get("engine") == "ray" else cpu,
        "load_after": os.getloadavg()[0],
        "lines": manifest.counts.lines,
        "shards": max(1, len(manifest.shards)),
        "rss_single": rss.single,
        "rss_total": rss.total,
        "bytes": sum(f.stat().st_size for f in (root / "mbert").rglob("*") if f.is_file()),
    }


def real_text(samples: Path) -> dict:
    """The tokenizer alone and the 2-thread build, memo on and off, on every shared sample."""
    tokens, seconds = tokenizer_alone(samples)
    builds = {
        "memo": build(samples, WORK / "real", workers=2, shards=1),
        "whole": build(samples, WORK / "real", memo=False, workers=2, shards=1),
    }
    size = sum(f.stat().st_size for f in samples.rglob("*") if f.is_file())
    languages = sum(1 for p in samples.iterdir() if p.is_dir())
    return {
        "tokens": tokens,
        "tokenizer_seconds": seconds,
        "builds": builds,
        "bytes": size,
        "languages": languages,
    }


def trace_seconds(index, facts) -> dict[str, float]:
    from factroots.search.trace import trace_language

    trace_language(index, facts[:200], "words")  # compile and warm up
    out = {}
    for mode in MODES:
        started = time.perf_counter()
        trace_language(index, facts, mode)
        out[mode] = time.perf_counter() - started
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument(
        "--render",
        action="store_true",
        help="only write the markdown again from results_scaleout.json",
    )
    args = parser.parse_args()
    if args.render:
        text = render(json.loads((BENCH_DIR / "results_scaleout.json").read_text()))
        print(text)
        (BENCH_DIR / "results_scaleout.md").write_text(text)
        return
    from benchmarks.corpus import RealisticSpec, ensure_realistic_corpus
    from factroots.mlama import load_language
    from factroots.search import FactIndex

    spec = RealisticSpec(documents=args.documents)
    corpus = WORK / f"corpus-{args.documents}"
    stats = ensure_realistic_corpus(corpus, SHARED / "wikiextractor" / "en", spec)
    tokens, tok_s = tokenizer_alone(corpus)
    rows = {}
    rows["1 worker (1 shard, 1 thread)"] = build(corpus, WORK / "w1", workers=1)
    rows["2 threads, 1 process (1 shard)"] = build(corpus, WORK / "t2", workers=2, shards=1)
    rows["2 threads, 1 process, texts tokenized whole"] = build(
        corpus, WORK / "t2", memo=False, workers=2, shards=1
    )
    rows["2 workers (2 shards, 2 processes)"] = build(corpus, WORK / "w2", workers=2, shards=2)
    real = real_text(SHARED / "wikiextractor")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rows["Ray, 2 tasks (2 shards)"] = build(corpus, WORK / "ray", shards=2, engine="ray")
        facts = load_language(MLAMA, "en").facts
        traces = {
            "unsharded, local": trace_seconds(FactIndex.open(WORK / "w1", "en"), facts),
            "2 shards, local": trace_seconds(FactIndex.open(WORK / "w2", "en"), facts),
        }
        from factroots.cluster.ray_engine import open_ray_index
        from factroots.tokenizer import load_tokenizer

        remote = open_ray_index(WORK / "w2", "en", load_tokenizer("mbert"))
        try:
            traces["2 shards, Ray (one actor per shard)"] = trace_seconds(remote, facts)
        finally:
            remote.close()
    finally:
        ray.shutdown()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH_DIR
    ).stdout.strip()
    measured = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "commit": commit,
        "date": time.strftime("%Y-%m-%d"),
        "documents": args.documents,
        "corpus": {"documents": stats.documents, "bytes": stats.bytes, "files": stats.files},
        "tokens": tokens,
        "tokenizer_seconds": tok_s,
        "builds": rows,
        "real": real,
        "traces": traces,
        "facts": len(facts),
    }
    (BENCH_DIR / "results_scaleout.json").write_text(json.dumps(measured, indent=2) + "\n")
    text = render(measured)
    print(text)
    (BENCH_DIR / "results_scaleout.md").write_text(text)


# Projection inputs (assumptions, stated in the output): English Wikipedia's size in mBERT
# tokens, as the issue gives it, and CC-100's 2.5 TB of text at this corpus' bytes per token.
ENWIKI_TOKENS = 3.5e9
CC100_BYTES = 2.5e12
NODE_CORES = (16, 64)
NODES = (1, 8, 32)


def real_text_lines(m: dict) -> list[str]:
    real = m.get("real")
    if not real:
        return []
    yardstick = real["tokens"] / real["tokenizer_seconds"]
    rows = []
    for name, key in (("chunk memo (this build)", "memo"), ("texts tokenized whole", "whole")):
        r = real["builds"][key]
        rate = r["tokens"] / r["seconds"]
        rows.append(
            f"| {name} | {r['seconds']:.2f} | {rate / 1e6:.3f} | {rate / yardstick:.2f} | "
            f"{r['cpu_seconds']:.1f} |"
        )
    return [
        "",
        f"Real text: the shared samples of all {real['languages']} languages as they are (real "
        f"Wikipedia, {real['bytes'] / 1e6:.1f} MB, no article repeated), {real['tokens']:,} "
        f"tokens; tokenizer alone {yardstick / 1e6:.2f} M tokens/s. 2 threads, 1 process:",
        "",
        "| build | seconds | M tokens/s | ÷ tokenizer alone | CPU s |",
        "|---|---|---|---|---|",
        *rows,
    ]


def render(m: dict) -> str:
    tokens, tok_s = m["tokens"], m["tokenizer_seconds"]
    c = m["corpus"]
    lines = [
        "# Scale-out on one machine",
        "",
        f"Machine: {m['machine']}; commit {m['commit']}; {m['date']}. Written by "
        f"`python -m benchmarks.bench_shards --documents {m['documents']}`. A shared machine: "
        "other work ran at the same time (the 1-minute load average after each build is "
        "shown; 2 means both cores busy), so wall-clock ratios say little here; CPU seconds "
        "(this process and its worker processes) say what sharding costs in work.",
        "",
        f"Corpus: realistic, {c['documents']:,} documents of real English Wikipedia text "
        f"({c['bytes'] / 1e6:.1f} MB in {c['files']} files), {tokens:,} mBERT tokens. "
        f"Tokenizer alone (`encode_batch`, all cores): {tokens / tok_s / 1e6:.2f} M tokens/s.",
        "",
        "| build | shards | seconds | M tokens/s | × 1 worker | ÷ tokenizer alone | "
        "CPU s | M tokens per CPU s | load after | "
        "peak RSS, largest process | peak RSS, all | index MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    builds = m["builds"]
    base = builds["1 worker (1 shard, 1 thread)"]
    for name, r in builds.items():
        rate = r["tokens"] / r["seconds"]
        cpu = r.get("cpu_seconds")
        cpu_cells = f"{cpu:.0f} | {r['tokens'] / cpu / 1e6:.3f}" if cpu else "n/a | n/a"
        lines.append(
            f"| {name} | {r['shards']} | {r['seconds']:.1f} | {rate / 1e6:.3f} | "
            f"{base['seconds'] / r['seconds']:.2f} | {rate * tok_s / tokens:.2f} | "
            f"{cpu_cells} | {r.get('load_after', float('nan')):.1f} | "
            f"{r['rss_single'] / 2**20:.0f} MiB | {r['rss_total'] / 2**20:.0f} MiB | "
            f"{r['bytes'] / 1e6:.0f} |"
        )
    lines += real_text_lines(m)
    lines += [
        "",
        f"Trace of all {m['facts']:,} English mLAMA facts (seconds):",
        "",
        "| index | words | tokens |",
        "|---|---|---|",
    ]
    for name, t in m["traces"].items():
        lines.append(f"| {name} | {t['words']:.2f} | {t['tokens']:.2f} |")
    sharded = builds.get("2 workers (2 shards, 2 processes)", {})
    if sharded.get("cpu_seconds"):  # work per token, whatever else ran on the machine
        per_worker = sharded["tokens"] / sharded["cpu_seconds"]
        rate_source = "the 2-worker sharded build's tokens per CPU second"
    else:
        per_worker = base["tokens"] / base["seconds"]
        rate_source = "the 1-worker build's wall-clock rate"
    whole = builds.get("2 threads, 1 process, texts tokenized whole") or base
    whole_rate = whole["tokens"] / (whole.get("cpu_seconds") or whole["seconds"])
    bytes_per_token = c["bytes"] / tokens
    index_per_token = base["bytes"] / base["tokens"]
    cc100_tokens = CC100_BYTES / bytes_per_token
    lines += [
        "",
        "## Projection (not measured)",
        "",
        f"Assumptions: every core of every node builds shards at this machine's rate per "
        f"core ({per_worker / 1e6:.3f} M tokens/s: {rate_source}), shards "
        "are many more than cores (so no core idles at the end), input and index live on a "
        "shared file system fast enough not to be the bound, and the index takes this "
        f"corpus' {index_per_token:.1f} bytes per token. English Wikipedia: "
        f"{ENWIKI_TOKENS / 1e9:.1f} B mBERT tokens (issue 13); CC-100: 2.5 TB of text at this "
        f"corpus' {bytes_per_token:.2f} bytes per token = {cc100_tokens / 1e9:.0f} B tokens "
        "(non-Latin scripts take more tokens per byte, so this is low). This corpus repeats "
        "its articles, so the chunk memo finds more of its chunks than it would in a real dump: "
        f"with every text tokenized whole the rate is {whole_rate / 1e6:.3f} M tokens per CPU "
        "second, and every time below would be "
        f"{per_worker / whole_rate:.1f}× as long. The trace is not "
        "projected: it stays one batch per shard, seconds per language. Minutes-long cells "
        "are below the fixed costs of a cluster job (starting Ray, the workers' imports, "
        "publishing), which this does not count.",
        "",
        "| corpus | index size | "
        + " | ".join(
            f"{k} node{'s' if k > 1 else ''} × {cores} cores" for k in NODES for cores in NODE_CORES
        )
        + " |",
        "|---|---|" + "---|" * (len(NODES) * len(NODE_CORES)),
    ]
    for name, n_tokens in (("English Wikipedia", ENWIKI_TOKENS), ("CC-100", cc100_tokens)):
        cells = []
        for k in NODES:
            for cores in NODE_CORES:
                hours = n_tokens / (per_worker * cores * k) / 3600
                cells.append(
                    f"{hours:.1f} h"
                    if hours >= 1
                    else f"{hours * 60:.0f} min"
                    if hours * 60 >= 1
                    else "< 1 min"
                )
        lines.append(
            f"| {name} | {n_tokens * index_per_token / 1e12:.2f} TB | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
