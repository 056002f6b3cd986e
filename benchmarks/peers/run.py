"""The peers' part of the benchmark: `run(scale) -> str` (a markdown section for RESULTS.md;
`peers_section()` is the same with the scale from FACTROOTS_BENCH_PEERS_SCALE, for
`benchmarks/run.py`), and `python -m benchmarks.peers.run [--scale default|full|0.25,0.5,…]`,
which also writes `benchmarks/results_peers.md` (machine, commit, date).

Sections: the Lucene differential (every shared Wikipedia sample and a generated corpus, every
mLAMA fact of the language, both modes), infini-gram single-entity counts against factroots on
the largest corpus of the sweep, and the scaling sweep (benchmarks/bench_scaling.py).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import bench_scaling

BENCH_DIR = Path(__file__).resolve().parents[1]
SHARED = BENCH_DIR.parent.parent / "shared"
WIKI = SHARED / "data" / "wikiextractor"
MLAMA = SHARED / "data" / "mlama1.1"
WORK = BENCH_DIR / "work" / "peers"
DIFFERENTIAL_DOCUMENTS = 50_000


def differential_section(work: Path = WORK) -> str:
    """Lucene vs factroots on every shared sample language and a generated corpus."""
    from benchmarks.corpus import CorpusSpec, ensure_corpus
    from benchmarks.peers.differential import (
        Differential,
        differential_corpus,
        differential_line,
    )

    started = time.perf_counter()
    total, corpora, rows = Differential("all"), [], []
    work.mkdir(parents=True, exist_ok=True)
    generated = work / "differential-corpus"
    ensure_corpus(generated, MLAMA, CorpusSpec(documents=DIFFERENTIAL_DOCUMENTS))
    sources = [(lang, WIKI / lang) for lang in sorted(p.name for p in WIKI.glob("[a-z]*"))]
    sources.append(("en", generated))
    for lang, corpus in sources:
        name = lang if corpus.parent == WIKI else f"generated-{lang}"
        result = differential_corpus(corpus, lang, MLAMA, work)
        total.add(result)
        corpora.append(name)
        rows.append(
            f"| {name} | {result.facts:,} | {result.compared:,} | {result.present:,} | "
            f"{len(result.disagreements)} |"
        )
    examples = "".join(f"\n- {d}" for d in total.disagreements[:10])
    return "\n".join(
        [
            differential_line(total, corpora),
            "",
            "Per corpus, over both modes (`words`, `tokens`): every mLAMA fact of the language; "
            "subject, object and co-occurrence line counts compared.",
            "",
            "| corpus | fact×mode | compared | present | disagreements |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"Differential time: {time.perf_counter() - started:.0f} s.{examples}",
        ]
    )


def infinigram_section(scaling_dir: Path) -> str:
    """infini-gram vs factroots single-entity counts on one corpus of the sweep."""
    from benchmarks.peers.infinigram import build_infinigram_index, compare_entities, open_engine
    from factroots.mlama import load_language
    from factroots.search import FactIndex

    collection = scaling_dir / "collection"
    index = FactIndex.open(scaling_dir / "factroots", "en")
    built = build_infinigram_index(collection, scaling_dir / "infinigram")
    engine = open_engine(built)
    facts = load_language(MLAMA, "en").facts
    labels = [f.subject for f in facts] + [f.object for f in facts]
    c = compare_entities(index, built, engine, collection, labels)
    ours = np.percentile(c.factroots_us, [50, 99])
    theirs = np.percentile(c.infinigram_us, [50, 99])
    examples = "".join(f"\n- {m}" for m in c.mismatches[:10])
    return "\n".join(
        [
            f"On the {index.num_lines:,}-line corpus ({built.tokens:,} tokens): an infini-gram "
            f"index over the same token ids ({built.token_dtype}, ids renumbered densely in order: "
            "infini-gram 2.6.0 accepts u32 but its suffix-array builder then allocates 32 GiB; "
            "built in "
            f"{built.seconds:.1f} s, {built.bytes / 1e6:.0f} MB) and every distinct subject and "
            f"object of the English set, `tokens` mode ({c.entities:,} traceable entities).",
            "",
            "| | p50 µs | p99 µs |",
            "|---|---:|---:|",
            f"| factroots `count` (lines; entity tokenization included) | {ours[0]:.0f} | "
            f"{ours[1]:.0f} |",
            f"| infini-gram `count` (occurrences; ids given) | {theirs[0]:.0f} | {theirs[1]:.0f} |",
            "",
            "Agreement (infini-gram counts occurrences, factroots lines): occurrence count = "
            "brute-force Aho–Corasick occurrence count for "
            f"{c.occurrences_equal:,}/{c.entities:,}; "
            f"occurs-at-all (>0) agrees with factroots for {c.presence_equal:,}/{c.entities:,}; "
            f"occurrences ≥ lines for {c.occurrences_at_least_lines:,}/{c.entities:,}.{examples}",
        ]
    )


def run(scale: str = "default") -> str:
    """The peers' markdown section: differential, infini-gram, scaling."""
    scaling = bench_scaling.run(scale)
    sizes = sorted(bench_scaling.WORK.glob("[0-9]*"), key=lambda p: int(p.name))
    largest = [p for p in sizes if (p / "collection").is_dir()][-1]
    return "\n\n".join(
        [
            "## Peers: Lucene (pyserini) and infini-gram",
            "### Lucene differential",
            differential_section(),
            "### infini-gram: single-entity counts",
            infinigram_section(largest),
            "### Scaling: factroots vs Lucene vs Aho–Corasick",
            scaling,
        ]
    )


def peers_section() -> str:
    """`run` at the scale named by FACTROOTS_BENCH_PEERS_SCALE (default: 'default')."""
    return run(os.environ.get("FACTROOTS_BENCH_PEERS_SCALE", "default"))


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=BENCH_DIR
        ).stdout.strip()
    except OSError:
        return "?"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description="factroots beside Lucene and infini-gram")
    parser.add_argument("--scale", default="default")
    args = parser.parse_args()
    started = time.perf_counter()
    body = run(args.scale)
    header = (
        f"# factroots beside its peers\n\nMachine: {machine()}. Commit "
        f"{_git('rev-parse', '--short', 'HEAD')}, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, scale "
        f"`{args.scale}`, {time.perf_counter() - started:.0f} s in all. The machine is "
        "shared (other jobs ran on its 2 cores): timings are noisy.\n"
    )
    with tempfile.NamedTemporaryFile("w", dir=BENCH_DIR, delete=False) as fh:
        fh.write(header + "\n" + body + "\n")
    Path(fh.name).replace(BENCH_DIR / "results_peers.md")
    print(header + "\n" + body)


if __name__ == "__main__":
    main()
