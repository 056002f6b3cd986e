"""Benchmarks of building, single co-occurrence queries, batch tracing and the Aho–Corasick
baseline, as reusable functions (timing helpers, one function per figure)."""

from __future__ import annotations

import json
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
from factroots.indexer.reader import CorpusReader
from factroots.indexer.segmenter import Segmenter
from factroots.probing.mlama import Fact
from factroots.search.entity import EntityTerms, entity_terms
from factroots.search.index import FactIndex, _term_query
from factroots.search.trace import pair_counts, trace_language
from factroots.tokenizer import load_tokenizer


def directory_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


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
    """Runs in a child process: build, then print figures with this process's peak RSS."""
    seconds, manifest = timed(build_index, corpus, lang, root, "mbert")
    c = manifest.counts
    figures = BuildFigures(seconds, sum(s["size"] for s in manifest.sources), c.text_bytes,
                           c.documents, c.lines, c.tokens,
                           directory_bytes(index_path(root, manifest.tokenizer_name, lang)),
                           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps(asdict(figures)))


def measure_build(corpus: str | Path, root: str | Path, lang: str = "en") -> BuildFigures:
    """Build in a fresh child process (end to end: reading, tokenizing, segmenting, indexing)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_trace", "build", str(corpus),
                           str(root), lang], check=True, capture_output=True, text=True)
    return BuildFigures(**json.loads(done.stdout.strip().splitlines()[-1]))


def tokenizer_ceiling(corpus: str | Path, documents: int = 20_000) -> float:
    """Tokens/s of the tokenizer alone (encode_batch on both cores) on the first documents."""
    texts = [doc.text for doc, _ in zip(CorpusReader(corpus), range(documents),
                                            strict=False)]
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


def query_pairs(facts: Sequence[Fact], n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(facts), size=min(n, len(facts)), replace=False)
    return [(facts[i].subject, facts[i].object) for i in picked]


def traceable_pairs(index: FactIndex, pairs, mode: str) -> list[tuple[EntityTerms, EntityTerms]]:
    analysed = [(entity_terms(s, mode, index.tokenizer), entity_terms(o, mode, index.tokenizer))
                for s, o in pairs]
    return [(s, o) for s, o in analysed if s.traceable and o.traceable]


def raw_count_calls(index: FactIndex, pairs: list[tuple[EntityTerms, EntityTerms]]
                    ) -> list[Callable[[], tuple]]:
    """Raw tantivy: the three counts `cooccur` answers (both, subject, object) from terms
    analysed beforehand, queries built and run directly on the searcher."""
    searcher, schema = index._searcher, index._schema
    calls = []
    for s, o in pairs:
        def call(s=s, o=o):
            qs, qo = _term_query(schema, s), _term_query(schema, o)
            both = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, qs), (tantivy.Occur.Must, qo)])
            return (searcher.search(both, 1).count, searcher.search(qs, 1).count,
                    searcher.search(qo, 1).count)
        calls.append(call)
    return calls


def cooccur_calls(index: FactIndex, pairs: list[tuple[EntityTerms, EntityTerms]],
                  mode: str) -> list[Callable[[], object]]:
    return [lambda s=s.label, o=o.label: index.cooccur(s, o, mode) for s, o in pairs]


def measure_queries(index: FactIndex, facts: Sequence[Fact], n: int = 2000,
                    mode: str = "words") -> QueryFigures:
    """factroots' `cooccur` against raw tantivy counts, on the same traceable fact pairs. The
    index's entity cache is emptied before each factroots run (repeats within a run hit it)."""
    pairs = traceable_pairs(index, query_pairs(facts, n), mode)
    raw, ours = raw_count_calls(index, pairs), cooccur_calls(index, pairs, mode)
    latencies(raw)  # warm tantivy's caches for both
    raw_lat = latencies(raw)
    index._entities.clear()
    ours_lat = latencies(ours)
    raw_qps = throughput(raw, 1), throughput(raw, 2)
    index._entities.clear()
    ours_qps_1 = throughput(ours, 1)
    index._entities.clear()
    ours_qps_2 = throughput(ours, 2)
    return QueryFigures(len(ours), percentile_ms(ours_lat, 50), percentile_ms(ours_lat, 99),
                        ours_qps_1, ours_qps_2, percentile_ms(raw_lat, 50),
                        percentile_ms(raw_lat, 99), *raw_qps)


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

    @property
    def facts_per_s(self) -> float:
        return self.facts / self.cold_s


def measure_trace(root: str | Path, lang: str, facts: Sequence[Fact],
                  mode: str) -> tuple[TraceFigures, object]:
    """Cold: a freshly opened index; warm: the same index traced again (frequent entities
    cached). Numba functions are compiled beforehand, outside the timing."""
    trace_language(FactIndex.open(root, lang), facts[:10], mode)
    index = FactIndex.open(root, lang)
    cold, trace = timed(trace_language, index, facts, mode)
    warm, _ = timed(trace_language, index, facts, mode)
    present = int((trace.present == True).sum())  # noqa: E712 - nullable booleans
    untraceable = int(trace.present.isna().sum())
    return TraceFigures(mode, len(facts), cold, warm, present,
                        len(facts) - present - untraceable, untraceable), trace


# -- the Aho–Corasick baseline -------------------------------------------------------------------

@dataclass
class ScanFigures:
    lines: int
    patterns: int
    automaton_s: float
    scan_s: float
    total_s: float
    present: int


def write_tokenized_lines(corpus: str | Path, out: str | Path, batch_docs: int = 2000) -> int:
    """The corpus segmented exactly as the index is, one line per row: ` id id … ` (not timed)."""
    segmenter = Segmenter(load_tokenizer("mbert"))
    lines = 0
    batch = []
    with open(out, "w", encoding="ascii") as fh:
        for doc in CorpusReader(corpus):
            batch.append(doc)
            if len(batch) == batch_docs:
                lines += _write_segments(segmenter, batch, fh)
                batch = []
        lines += _write_segments(segmenter, batch, fh)
    return lines


def _write_segments(segmenter: Segmenter, docs, fh) -> int:
    rows = [" " + " ".join(map(str, line.ids.tolist())) + " \n"
            for lines in segmenter.lines(docs) for line in lines]
    fh.writelines(rows)
    return len(rows)


def aho_corasick_trace(tokenized: str | Path, facts: Sequence[Fact],
                       chunk_lines: int = 200_000) -> tuple[ScanFigures, np.ndarray]:
    """The paper's baseline: one multi-pattern pass (pyahocorasick) over the tokenized lines,
    collecting each entity's lines, then the same per-fact intersection as the tracer. Reading
    the file is not timed; the automaton, the scan and the intersection are."""
    import ahocorasick

    tok = load_tokenizer("mbert")
    labels = sorted({f.subject for f in facts} | {f.object for f in facts})
    started = time.perf_counter()
    automaton = ahocorasick.Automaton()
    patterns: dict[str, int] = {}
    entity_pattern = {}
    for label in labels:
        ids = tok.encode_entity(label)
        if ids and not tok.has_unknown(ids):
            key = " " + " ".join(map(str, ids)) + " "
            entity_pattern[label] = patterns.setdefault(key, len(patterns))
    for key, value in patterns.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    automaton_s = time.perf_counter() - started
    hits: list[list[int]] = [[] for _ in patterns]
    scan_s, line_no = 0.0, 0
    with open(tokenized, encoding="ascii") as fh:
        while True:
            chunk = fh.readlines(chunk_lines * 64)
            if not chunk:
                break
            started = time.perf_counter()
            for line in chunk:
                for found in {value for _, value in automaton.iter(line)}:
                    hits[found].append(line_no)
                line_no += 1
            scan_s += time.perf_counter() - started
    started = time.perf_counter()
    arrays = [np.asarray(h, dtype=np.int64) for h in hits] + [np.empty(0, np.int64)]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([a.size for a in arrays])
    missing = len(arrays) - 1
    subj = np.array([entity_pattern.get(f.subject, missing) for f in facts], dtype=np.int64)
    obj = np.array([entity_pattern.get(f.object, missing) for f in facts], dtype=np.int64)
    counts = pair_counts(np.concatenate(arrays), offsets, subj, obj)
    pair_s = time.perf_counter() - started
    return (ScanFigures(line_no, len(patterns), automaton_s, scan_s,
                        automaton_s + scan_s + pair_s, int((counts > 0).sum())), counts)


# -- machine -------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem / 2**30, 1),
            "python": platform.python_version(), "tantivy": _version("tantivy"),
            "tokenizers": _version("tokenizers"), "pyahocorasick": _version("pyahocorasick"),
            "commit": commit or "unknown", "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"



if __name__ == "__main__" and sys.argv[1:2] == ["build"]:
    _build_child(*sys.argv[2:5])
