"""Benchmarks of building, single co-occurrence queries, batch tracing and the Aho–Corasick
baseline, as reusable functions (timing helpers, one function per figure)."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tantivy

from factroots.indexer.builder import build_index, index_path
from factroots.indexer.reader import CorpusReader, input_files
from factroots.indexer.segmenter import Segmenter
from factroots.mlama import Fact
from factroots.search.entity import MODES, EntityTerms, entity_terms
from factroots.search.index import FactIndex, _term_query
from factroots.search.postings import flattened, pair_counts
from factroots.search.trace import trace_language
from factroots.tokenizer import load_tokenizer
from factroots.units import word_units


def directory_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def read_through(path: str | Path, chunk: int = 16 << 20) -> None:
    """Read every file under `path` once (untimed), so that a timed trace finds the index in the
    page cache as the scan finds its lines in memory (neither system's disk reads are timed)."""
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        with open(file, "rb", buffering=0) as fh:
            while fh.read(chunk):
                pass


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds), q) * 1e3)


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def latencies(calls: Sequence[Callable[[], object]]) -> list[float]:
    """Seconds of each call, one after the other."""
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def throughput(calls: Sequence[Callable[[], object]], threads: int) -> float:
    """Calls per second, the calls shared among `threads` threads."""
    chunks = [calls[i::threads] for i in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda chunk: [call() for call in chunk], chunks))
    return len(calls) / (time.perf_counter() - started)


# -- build -------------------------------------------------------------------------------------


@dataclass
class BuildFigures:
    seconds: float
    input_bytes: int
    text_bytes: int
    documents: int
    lines: int
    tokens: int
    index_bytes: int
    peak_rss_bytes: int

    @property
    def mb_per_s(self) -> float:
        return self.input_bytes / 1e6 / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    @property
    def bytes_per_token(self) -> float:
        return self.index_bytes / self.tokens


def _build_child(corpus: str, root: str, lang: str) -> None:
    """Runs in a child process: build, then print figures with the peak RSS of the largest
    process of the build (this one, or a worker building a shard)."""
    seconds, manifest = timed(build_index, corpus, lang, root, "mbert")
    c = manifest.counts
    figures = BuildFigures(
        seconds,
        sum(s["size"] for s in manifest.sources),
        c.text_bytes,
        c.documents,
        c.lines,
        c.tokens,
        directory_bytes(index_path(root, manifest.tokenizer_name, lang)),
        max(peak_rss_bytes(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024),
    )
    print(json.dumps(asdict(figures)))


def measure_build(corpus: str | Path, root: str | Path, lang: str = "en") -> BuildFigures:
    """Build in a fresh child process (end to end: reading, tokenizing, segmenting, indexing)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_trace", "build", str(corpus), str(root), lang],
        check=True,
        capture_output=True,
        text=True,
    )
    return BuildFigures(**json.loads(done.stdout.strip().splitlines()[-1]))


def tokenizer_ceiling(corpus: str | Path, max_chars: int = 40_000_000) -> float:
    """Tokens/s of the tokenizer alone (encode_batch on both cores) on the first documents,
    about `max_chars` characters of them."""
    texts, chars = [], 0
    for doc in CorpusReader(corpus):
        texts.append(doc.text)
        chars += len(doc.text)
        if chars >= max_chars:
            break
    tok = load_tokenizer("mbert").tokenizer
    seconds, encodings = timed(tok.encode_batch, texts, add_special_tokens=False)
    return sum(len(e.ids) for e in encodings) / seconds


# -- single queries ------------------------------------------------------------------------------


@dataclass
class QueryFigures:
    queries: int
    p50_ms: float
    p99_ms: float
    qps_1: float
    qps_2: float
    raw_p50_ms: float
    raw_p99_ms: float
    raw_qps_1: float
    raw_qps_2: float
    counts_p50_ms: float
    counts_p99_ms: float
    counts_qps_1: float
    counts_qps_2: float


def query_pairs(facts: Sequence[Fact], n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(facts), size=min(n, len(facts)), replace=False)
    return [(facts[i].subject, facts[i].object) for i in picked]


def traceable_pairs(index: FactIndex, pairs, mode: str) -> list[tuple[EntityTerms, EntityTerms]]:
    analysed = [
        (entity_terms(s, mode, index.tokenizer), entity_terms(o, mode, index.tokenizer))
        for s, o in pairs
    ]
    return [(s, o) for s, o in analysed if s.traceable and o.traceable]


def raw_count_calls(
    index: FactIndex, pairs: list[tuple[EntityTerms, EntityTerms]]
) -> list[Callable[[], tuple]]:
    """Raw tantivy: the three counts `cooccur` answers (both, subject, object) from terms
    analysed beforehand, queries built and run directly on each shard's searcher."""
    shards = [(shard._searcher, shard._schema) for shard in getattr(index, "shards", [index])]
    calls = []
    for s, o in pairs:

        def call(s=s, o=o):
            found = [0, 0, 0]
            for searcher, schema in shards:
                qs, qo = _term_query(schema, s), _term_query(schema, o)
                both = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, qs), (tantivy.Occur.Must, qo)]
                )
                found[0] += searcher.search(both, 1).count
                found[1] += searcher.search(qs, 1).count
                found[2] += searcher.search(qo, 1).count
            return tuple(found)

        calls.append(call)
    return calls


def cooccur_calls(
    index: FactIndex, pairs: list[tuple[EntityTerms, EntityTerms]], mode: str
) -> list[Callable[[], object]]:
    return [lambda s=s.label, o=o.label: index.cooccur(s, o, mode) for s, o in pairs]


def count_calls(
    index: FactIndex, pairs: list[tuple[EntityTerms, EntityTerms]]
) -> list[Callable[[], object]]:
    """factroots' three counts of entities analysed beforehand (`FactIndex.pair_lines`)."""
    return [lambda s=s, o=o: index.pair_lines(s, o) for s, o in pairs]


def measure_queries(
    index: FactIndex, facts: Sequence[Fact], n: int = 2000, mode: str = "words"
) -> QueryFigures:
    """factroots' `cooccur`, and its counts of entities analysed beforehand, against raw
    tantivy counts, on the same traceable fact pairs. The index's entity cache is emptied
    before each `cooccur` run (repeats within a run hit it)."""
    pairs = traceable_pairs(index, query_pairs(facts, n), mode)
    raw, ours = raw_count_calls(index, pairs), cooccur_calls(index, pairs, mode)
    counts = count_calls(index, pairs)
    latencies(raw)  # warm tantivy's caches for both
    raw_lat = latencies(raw)
    latencies(counts)  # the sidecar's pages, as for tantivy
    counts_lat = latencies(counts)
    counts_qps = throughput(counts, 1), throughput(counts, 2)

    def forget() -> None:
        for cache in [index, *getattr(index, "shards", [])]:
            cache._entities.clear()

    forget()
    ours_lat = latencies(ours)
    raw_qps = throughput(raw, 1), throughput(raw, 2)
    forget()
    ours_qps_1 = throughput(ours, 1)
    forget()
    ours_qps_2 = throughput(ours, 2)
    return QueryFigures(
        len(ours),
        percentile_ms(ours_lat, 50),
        percentile_ms(ours_lat, 99),
        ours_qps_1,
        ours_qps_2,
        percentile_ms(raw_lat, 50),
        percentile_ms(raw_lat, 99),
        *raw_qps,
        percentile_ms(counts_lat, 50),
        percentile_ms(counts_lat, 99),
        *counts_qps,
    )


# -- batch trace ---------------------------------------------------------------------------------


@dataclass
class TraceFigures:
    mode: str
    facts: int
    cold_s: float
    warm_s: float
    present: int
    absent: int
    untraceable: int
    peak_rss_bytes: int = 0
    peak_anon_bytes: int = 0

    @property
    def facts_per_s(self) -> float:
        return self.facts / self.cold_s


WARM_UP_FACTS = 200  # enough for every numba function of the trace to be called once


def measure_trace(
    root: str | Path, lang: str, facts: Sequence[Fact], mode: str
) -> tuple[TraceFigures, object]:
    """Cold: a freshly opened index; warm: the same index traced again (frequent entities
    cached). Numba functions are compiled, and the tokenizer loaded and parsed, beforehand,
    outside the timing (both once per process)."""
    tok = load_tokenizer("mbert").parsed()
    trace_language(FactIndex.open(root, lang, tok), facts[:WARM_UP_FACTS], mode)
    index = FactIndex.open(root, lang, tok)
    cold, trace = timed(trace_language, index, facts, mode)
    warm, _ = timed(trace_language, index, facts, mode)
    present = int((trace.present == True).sum())  # noqa: E712 - nullable booleans
    untraceable = int(trace.present.isna().sum())
    return TraceFigures(
        mode, len(facts), cold, warm, present, len(facts) - present - untraceable, untraceable
    ), trace


# -- the Aho–Corasick baseline -------------------------------------------------------------------


@dataclass
class ScanFigures:
    mode: str
    lines: int
    patterns: int
    automaton_s: float
    scan_s: float
    total_s: float
    present: int


def segmented_lines(
    corpus: str | Path, out_dir: str | Path, files: int | None = None
) -> dict[str, Path]:
    """`write_segmented_lines` of the corpus (of its first `files` files when given), reused
    while its `.done` stamp names the corpus's stamp and the file count (the generated corpus
    does not change under a stamp)."""
    out_dir = Path(out_dir)
    stamp = out_dir / ".done"
    source = (Path(corpus) / ".corpus.json").read_text() + f"\nfiles: {files}"
    if not (stamp.is_file() and stamp.read_text() == source):
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        write_segmented_lines(corpus, out_dir, files=files)
        stamp.write_text(source)
    return {mode: out_dir / f"{mode}.txt" for mode in MODES}


def write_segmented_lines(
    corpus: str | Path, out_dir: str | Path, processes: int = 2, files: int | None = None
) -> dict[str, Path]:
    """The corpus segmented exactly as the index is, one line per row, once per mode:
    `words.txt` (` unit unit … `) and `tokens.txt` (` id id … `), in corpus order, files
    segmented in `processes` processes. Not timed."""
    paths = {mode: Path(out_dir) / f"{mode}.txt" for mode in MODES}
    tasks = [(str(corpus), str(path)) for path in input_files(corpus)[:files]]
    context = multiprocessing.get_context("spawn")
    with (
        paths["words"].open("w", encoding="utf-8") as words,
        paths["tokens"].open("w", encoding="ascii") as tokens,
        context.Pool(processes) as pool,
    ):
        for file_words, file_tokens in pool.imap(_segmented_file, tasks):
            words.write(file_words)
            tokens.write(file_tokens)
    return paths


def _segmented_file(task: tuple[str, str]) -> tuple[str, str]:
    """One corpus file's lines as (words rows, tokens rows)."""
    root, path = task
    segmenter = Segmenter(load_tokenizer("mbert"))
    docs = list(CorpusReader(root, [Path(path)]))
    lines = [line for doc_lines in segmenter.lines(docs) for line in doc_lines]
    return (
        "".join(" " + " ".join(word_units(line.text)) + " \n" for line in lines),
        "".join(" " + " ".join(map(str, line.ids.tolist())) + " \n" for line in lines),
    )


def entity_patterns(labels: Sequence[str], mode: str) -> dict[str, str]:
    """Each traceable label's pattern, its terms as one padded string (` t t `), from factroots'
    own one-label analysis (`entity_terms`)."""
    tok = load_tokenizer("mbert")
    patterns = {}
    for label in labels:
        entity = entity_terms(label, mode, tok)
        if entity.traceable:
            patterns[label] = " " + " ".join(entity.terms) + " "
    return patterns


def aho_corasick_trace(
    segmented: str | Path, facts: Sequence[Fact], mode: str, chunk_bytes: int = 64 << 20
) -> tuple[ScanFigures, np.ndarray]:
    """The paper's baseline: one multi-pattern pass (pyahocorasick) over the segmented lines of
    `mode`, collecting each entity's lines, then the same per-fact intersection as the tracer.
    Reading the file is not timed (chunks of `chunk_bytes`); the automaton (with the entities'
    analysis), the scan and the intersection are."""
    import ahocorasick

    labels = sorted({f.subject for f in facts} | {f.object for f in facts})
    none = np.zeros(1, dtype=np.int64)
    pair_counts(none, none, none, none, none)  # compiled (or loaded) before the timing
    started = time.perf_counter()
    automaton = ahocorasick.Automaton()
    keys: dict[str, int] = {}
    entity_key = {
        label: keys.setdefault(pattern, len(keys))
        for label, pattern in entity_patterns(labels, mode).items()
    }
    for pattern, key in keys.items():
        automaton.add_word(pattern, key)
    automaton.make_automaton()
    automaton_s = time.perf_counter() - started
    hits: list[list[int]] = [[] for _ in keys]
    scan_s, line_no = 0.0, 0
    with open(segmented, encoding="utf-8") as fh:
        while chunk := fh.readlines(chunk_bytes):
            started = time.perf_counter()
            for line in chunk:
                for found in {key for _, key in automaton.iter(line)}:
                    hits[found].append(line_no)
                line_no += 1
            scan_s += time.perf_counter() - started
    started = time.perf_counter()
    found = flattened([np.asarray(h, dtype=np.int64) for h in hits] + [np.empty(0, np.int64)])
    missing = len(hits)
    subj = np.array([entity_key.get(f.subject, missing) for f in facts], dtype=np.int64)
    obj = np.array([entity_key.get(f.object, missing) for f in facts], dtype=np.int64)
    counts = pair_counts(found.flat, found.start, found.count, subj, obj)
    pair_s = time.perf_counter() - started
    return (
        ScanFigures(
            mode,
            line_no,
            len(keys),
            automaton_s,
            scan_s,
            automaton_s + scan_s + pair_s,
            int((counts > 0).sum()),
        ),
        counts,
    )


# -- machine -------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "tantivy": _version("tantivy"),
        "tokenizers": _version("tokenizers"),
        "pyahocorasick": _version("pyahocorasick"),
        "commit": commit or "unknown",
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _trace_child(root: str, lang: str, mlama: str, out_dir: str) -> None:
    """Runs in a child process: both modes' trace figures (with this process's peak RSS) as
    JSON, and each mode's per-fact co-occurrence counts (-1 untraceable) to `<mode>.npy`."""
    from factroots.mlama import load_language

    facts = load_language(mlama, lang).facts
    figures = []
    anon = Path(out_dir) / "peak-anon"
    poller = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_trace", "poll", str(os.getpid()), str(anon)]
    )
    try:
        for mode in MODES:
            found, trace = measure_trace(root, lang, facts, mode)
            counts = np.where(trace.status == "ok", trace.cooccur_lines, -1).astype(np.int64)
            np.save(Path(out_dir) / f"{mode}.npy", counts)
            found.peak_rss_bytes = peak_rss_bytes()
            time.sleep(POLL_S * 4)
            found.peak_anon_bytes = int(anon.read_text() or 0) if anon.is_file() else 0
            figures.append(asdict(found))
    finally:
        poller.kill()
    print(json.dumps(figures))


POLL_S = 0.005


def peak_rss_bytes() -> int:
    """This process's peak RSS since it started its program (VmHWM; ru_maxrss would also
    count the process it was forked from)."""
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        * 1024
    )


def _poll_anonymous(pid: str, out: str) -> None:
    """Runs beside a trace child: the peak of its anonymous resident memory (RssAnon, bytes),
    sampled every POLL_S seconds and rewritten to `out`, until the child is gone. (Its peak RSS
    also counts the index's memory-mapped pages it touched, which are page cache.)"""
    status, path, peak = Path(f"/proc/{pid}/status"), Path(out), 0
    while True:
        try:
            text = status.read_text()
        except OSError:
            return
        kib = next(
            int(line.split()[1]) for line in text.splitlines() if line.startswith("RssAnon:")
        )
        if kib * 1024 > peak:
            peak = kib * 1024
            tmp = path.with_suffix(".tmp")
            tmp.write_text(str(peak))
            tmp.replace(path)
        time.sleep(POLL_S)


def measure_traces(
    root: str | Path, lang: str, mlama: str | Path, out_dir: str | Path
) -> tuple[list[TraceFigures], dict[str, np.ndarray]]:
    """Both modes' trace figures, measured in a fresh child process (its peak RSS is the
    trace's), and each mode's per-fact counts; the index is read through first (untimed)."""
    read_through(root)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_trace",
            "trace",
            str(root),
            lang,
            str(mlama),
            str(out_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = [TraceFigures(**f) for f in json.loads(done.stdout.strip().splitlines()[-1])]
    return figures, {mode: np.load(Path(out_dir) / f"{mode}.npy") for mode in MODES}


if __name__ == "__main__" and sys.argv[1:2] == ["build"]:
    _build_child(*sys.argv[2:5])
if __name__ == "__main__" and sys.argv[1:2] == ["trace"]:
    _trace_child(*sys.argv[2:6])
if __name__ == "__main__" and sys.argv[1:2] == ["poll"]:
    _poll_anonymous(*sys.argv[2:4])
