"""Sharded indexes answer exactly as unsharded ones, built from the same files, on every fact."""

from __future__ import annotations

import bz2
import gzip
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.corpus import CorpusSpec, generate_corpus
from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.indexer import builder
from factroots.indexer.builder import build_index, partition_by_size
from factroots.indexer.manifest import MANIFEST_NAME, read_manifest
from factroots.mlama import load_language
from factroots.search import FactIndex
from factroots.search.sharded import ShardedIndex
from factroots.search.trace import trace_language
from tests.brute_force import BruteForceMatcher
from tests.test_index_differential import (
    VOCAB,
    assert_index_matches_brute_force,
    segmented_lines,
)

MODES = ("words", "tokens")
DIFFERENTIAL_LANGS = ["en", "zh", "ru", "th"]  # one per script: Latin, Han, Cyrillic, Thai


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"BZh"):
        return bz2.decompress(data)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    return data


def _records(data: bytes) -> list[bytes]:
    """The `<doc>` blocks (or JSON lines) of a WikiExtractor file, byte for byte."""
    records, current = [], []
    for line in data.splitlines(keepends=True):
        current.append(line)
        if line.strip() == b"</doc>" or line.lstrip().startswith(b"{"):
            records.append(b"".join(current))
            current = []
    if current:
        records.append(b"".join(current))
    return records


def split_corpus(sources: list[Path], dst: Path, pieces: int) -> Path:
    """The files under `sources` (in order), each cut by whole documents into `pieces`
    consecutive files (some empty where a file holds fewer documents): the same documents in
    the same order, over more files."""
    for n, source in enumerate(sources):
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            records = _records(_raw(path))
            rel = (
                path.relative_to(source).as_posix().replace("/", "_")
                if source.is_dir()
                else path.name
            )
            folder = dst / f"{n:02d}-{rel}"
            folder.mkdir(parents=True)
            per = -(-len(records) // pieces) if records else 1
            for k in range(pieces):
                (folder / f"part-{k:02d}").write_bytes(b"".join(records[k * per : (k + 1) * per]))
    return dst


def labels_of(facts) -> list[str]:
    return sorted({f.subject for f in facts} | {f.object for f in facts})


def assert_same_answers(
    plain: FactIndex, sharded: FactIndex, facts, mode: str, sample: int = 50
) -> None:
    """Every batch answer on every fact (the trace: `cooccur_many` laid out) and label, and
    single answers (with evidence) on the present facts and a sample of the rest, equal
    between the two indexes."""
    trace = trace_language(plain, facts, mode)
    pd.testing.assert_frame_equal(trace, trace_language(sharded, facts, mode))
    labels = labels_of(facts)
    la, lb = plain.entity_lines(labels, mode), sharded.entity_lines(labels, mode)
    assert np.array_equal(la.count, lb.count)
    for e in range(len(labels)):
        assert np.array_equal(la.lines(e), lb.lines(e)), (labels[e], mode)
    ca, cb = plain.count_many(labels, mode), sharded.count_many(labels, mode)
    assert np.array_equal(ca.lines, cb.lines) and np.array_equal(ca.traceable, cb.traceable)
    rng = random.Random(mode)
    present = [f for f, p in zip(facts, trace["present"].fillna(False), strict=True) if p]
    for fact in present[:100] + rng.sample(facts, min(sample, len(facts))):
        assert plain.cooccur(fact.subject, fact.object, mode, show=3) == sharded.cooccur(
            fact.subject, fact.object, mode, show=3
        ), (fact, mode)
    for label in rng.sample(labels, min(sample, len(labels))):
        assert plain.count(label, mode) == sharded.count(label, mode), (label, mode)
        entity = plain.entity(label, mode)
        assert np.array_equal(plain.line_ids(entity), sharded.line_ids(entity)), (label, mode)


def assert_same_index(plain: FactIndex, sharded: FactIndex, same_files: bool = True) -> None:
    """The same lines and counts (and, built from the same files, the same sources and count
    of empty files)."""
    assert isinstance(sharded, ShardedIndex) and not isinstance(plain, ShardedIndex)
    assert sharded.num_lines == plain.num_lines
    assert list(sharded.stored_texts(page=97)) == list(plain.stored_texts(page=97))
    if same_files:
        assert sharded.manifest.counts == plain.manifest.counts
        assert sharded.manifest.sources == plain.manifest.sources
    else:
        files = {"empty_files": 0}
        assert replace(sharded.manifest.counts, **files) == replace(plain.manifest.counts, **files)
    assert sharded.has_postings


@pytest.mark.parametrize("lang", DIFFERENTIAL_LANGS)
def test_sharded_index_answers_like_the_unsharded_one_on_shared_samples(
    lang, mlama_dir, wiki_dir, sample_indexes, mbert, tmp_path
):
    """The sample's files each cut into five (empty files become empty shards), built into 5
    shards by 2 workers, against the run's unsharded index of the sample as it is."""
    corpus = split_corpus([wiki_dir / lang], tmp_path / "corpus", 5)
    manifest = build_index(corpus, lang, tmp_path / "sharded", mbert, workers=2, shards=5)
    assert len(manifest.shards) == 5
    assert manifest.shards[-1].line_base > 0
    plain = sample_indexes.open(lang)
    sharded = FactIndex.open(tmp_path / "sharded", lang, mbert)
    assert_same_index(plain, sharded, same_files=False)
    facts = load_language(mlama_dir, lang).facts
    for mode in MODES:
        assert_same_answers(plain, sharded, facts, mode)


def test_sharded_generated_corpus_answers_like_the_unsharded_one(mlama_dir, mbert, tmp_path):
    spec = CorpusSpec(
        documents=400, top_share=0.05, base_mentions=3000, docs_per_file=100, vocab_size=30_000
    )
    generate_corpus(tmp_path / "corpus", mlama_dir, spec)
    build_index(tmp_path / "corpus", "en", tmp_path / "plain", mbert, workers=1, shards=1)
    manifest = build_index(
        tmp_path / "corpus", "en", tmp_path / "sharded", mbert, workers=2, shards=4
    )
    assert len(manifest.shards) == 4
    plain = FactIndex.open(tmp_path / "plain", "en", mbert)
    sharded = FactIndex.open(tmp_path / "sharded", "en", mbert)
    assert_same_index(plain, sharded)
    facts = load_language(mlama_dir, "en").facts
    for mode in MODES:
        assert_same_answers(plain, sharded, facts, mode, sample=30)


def write_files(path: Path, files: list[list[list[str]]]) -> None:
    """One `<doc>` file per entry; each document a list of words."""
    path.mkdir(parents=True, exist_ok=True)
    n = 0
    for k, docs in enumerate(files):
        blocks = []
        for words in docs:
            blocks.append(
                f'<doc id="{n}" url="" title="T{n}">\nT{n}\n\n{" ".join(words)}\n</doc>\n'
            )
            n += 1
        (path / f"wiki_{k:02d}").write_text("".join(blocks), encoding="utf-8")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    files=st.lists(
        st.lists(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=25), max_size=4),
        min_size=2,
        max_size=6,
    ),
    shards=st.integers(2, 6),
    max_tokens=st.integers(2, 8),
)
def test_generated_sharded_corpora_match_brute_force(
    files, shards, max_tokens, mbert, tmp_path_factory
):
    root = tmp_path_factory.mktemp("gen")
    write_files(root / "corpus", files)
    if not any(files):
        with pytest.raises(FactrootsError, match="no documents with text"):
            build_index(
                root / "corpus",
                "xx",
                root / "idx",
                mbert,
                max_tokens=max_tokens,
                workers=1,
                shards=shards,
            )
        return
    build_index(
        root / "corpus", "xx", root / "idx", mbert, max_tokens=max_tokens, workers=1, shards=shards
    )
    index = FactIndex.open(root / "idx", "xx", mbert)
    assert isinstance(index, ShardedIndex) and len(index.shards) == min(shards, len(files))
    brute = BruteForceMatcher(segmented_lines(root / "corpus", mbert, max_tokens))
    assert index.num_lines == len(brute.tokens)
    labels = set(VOCAB) | {"New York", "北京市", "a a a", "York ,", "T0", "T1", "T3", "市 中国", ""}
    pairs = [
        ("New", "York"),
        ("北京", "中国"),
        ("a", "a"),
        ("Paris", "T1"),
        ("a a a", "a"),
        ("T0", "T0"),
    ]
    for mode in MODES:
        refs, lines = assert_index_matches_brute_force(index, brute, labels, mode)
        batch = index.cooccur_many(pairs, mode)
        for k, (subject, obj) in enumerate(pairs):
            expected = sorted(lines[refs[subject]] & lines[refs[obj]])
            got = index.cooccur(subject, obj, mode, show=3)
            assert got.lines == batch.cooccur_lines[k] == len(expected)
            assert [ev.line for ev in got.evidence] == expected[:3]


def test_root_manifest_lists_the_shards_and_one_shard_is_the_unsharded_layout(mbert, tmp_path):
    write_files(
        tmp_path / "corpus",
        [[["Paris", "France"]] * 3, [], [["New", "York"]] * 2, [["Paris"], ["France", "Paris"]]],
    )
    manifest = build_index(tmp_path / "corpus", "en", tmp_path / "one", mbert, workers=2, shards=1)
    one = json.loads((tmp_path / "one" / "mbert" / "en" / MANIFEST_NAME).read_text())
    assert one["format_version"] == 1 and "shards" not in one
    assert not manifest.sharded and (tmp_path / "one" / "mbert" / "en" / "meta.json").is_file()

    built = build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, workers=2, shards=3)
    final = tmp_path / "idx" / "mbert" / "en"
    root = json.loads((final / MANIFEST_NAME).read_text())
    assert root["format_version"] == 2
    assert [(s["path"], s["line_base"], s["sources"]) for s in root["shards"]] == [
        ("shard-00000", 0, ["wiki_00"]),
        ("shard-00001", 3, ["wiki_01", "wiki_02"]),
        ("shard-00002", 5, ["wiki_03"]),
    ]
    assert [s["counts"]["lines"] for s in root["shards"]] == [3, 2, 2]
    assert root["counts"]["lines"] == 7 and root["counts"]["documents"] == 7
    assert root["counts"]["empty_files"] == 1
    assert [s["path"] for s in root["sources"]] == ["wiki_00", "wiki_01", "wiki_02", "wiki_03"]
    for entry in root["shards"]:
        shard = read_manifest(final / entry["path"])
        assert not shard.sharded and [s["path"] for s in shard.sources] == entry["sources"]
    assert read_manifest(final) == built

    index = FactIndex.open(tmp_path / "idx", "en", mbert)
    found = index.cooccur("Paris", "France", show=10)
    assert (found.lines, [ev.line for ev in found.evidence]) == (4, [0, 1, 2, 6])
    assert [ev.doc_id for ev in found.evidence] == ["0", "1", "2", "6"]
    assert index.count("York").lines == 2

    shown = CliRunner().invoke(cli, ["index", "info", str(final), "--json"])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output)
    assert [s["path"] for s in info["shards"]] == ["shard-00000", "shard-00001", "shard-00002"]


def test_partition_by_size_keeps_order_and_balances(tmp_path):
    sizes = [50, 10, 10, 10, 10, 10, 0, 0, 40, 5]
    files = []
    for k, size in enumerate(sizes):
        files.append(tmp_path / f"f{k}")
        files[-1].write_bytes(b"x" * size)
    for parts in range(1, 13):
        runs = partition_by_size(files, parts)
        assert [f for run in runs for f in run] == files
        assert len(runs) == min(parts, len(files)) and all(runs)
    assert [len(run) for run in partition_by_size(files, 3)] == [1, 5, 4]


def test_a_failed_shard_fails_the_build_and_leaves_the_old_index(mbert, tmp_path, monkeypatch):
    write_files(tmp_path / "corpus", [[["Paris", "France"]], [["Berlin"]], [["York"]]])
    build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, workers=1, shards=1)
    before = sorted(p.name for p in (tmp_path / "idx" / "mbert").iterdir())
    real = builder.partition_by_size

    def with_a_missing_file(files, parts):
        runs = real(files, parts)
        runs[1] = runs[1] + [tmp_path / "corpus" / "gone"]
        return runs

    monkeypatch.setattr(builder, "partition_by_size", with_a_missing_file)
    for workers in (1, 2):
        with pytest.raises(FactrootsError, match=r"shard 1 \(wiki_01, gone\) failed"):
            build_index(
                tmp_path / "corpus", "en", tmp_path / "idx", mbert, workers=workers, shards=3
            )
        after = sorted(p.name for p in (tmp_path / "idx" / "mbert").iterdir())
        assert after == before, (workers, after)
        index = FactIndex.open(tmp_path / "idx", "en", mbert)
        assert not isinstance(index, ShardedIndex) and index.cooccur("Paris", "France").present


def test_sharded_build_reports_progress_to_the_end(mbert, tmp_path):
    write_files(tmp_path / "corpus", [[["Paris", "France"]] * 20] * 4)
    seen = []
    build_index(
        tmp_path / "corpus",
        "en",
        tmp_path / "idx",
        mbert,
        workers=2,
        shards=4,
        on_progress=seen.append,
    )
    total = sum(p.stat().st_size for p in (tmp_path / "corpus").iterdir())
    assert seen and seen[-1].bytes_done == seen[-1].total_bytes == total
    assert (seen[-1].documents, seen[-1].lines) == (80, 80)
    assert all(a.bytes_done <= b.bytes_done for a, b in zip(seen, seen[1:], strict=False))


def test_a_corrupt_root_manifest_is_a_one_line_error(mbert, tmp_path):
    write_files(tmp_path / "corpus", [[["Paris"]], [["France"]]])
    build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, workers=1, shards=2)
    path = tmp_path / "idx" / "mbert" / "en" / MANIFEST_NAME
    data = json.loads(path.read_text())
    for broken, message in [
        (
            {**data, "shards": [{**data["shards"][0], "path": "../x"}, data["shards"][1]]},
            "shard path",
        ),
        ({**data, "shards": [data["shards"][1], data["shards"][0]]}, "starts at line"),
        ({**data, "shards": []}, "format 2 with 0 shard"),
    ]:
        path.write_text(json.dumps(broken))
        with pytest.raises(FactrootsError, match=message):
            FactIndex.open(tmp_path / "idx", "en", mbert)


def test_a_sharded_index_exports_the_lines_of_the_unsharded_one(mbert, tmp_path):
    from factroots.export.lucene import export_lucene

    write_files(
        tmp_path / "corpus", [[["Paris", "France"]] * 3, [["New", "York"]] * 2, [["北京", "中国"]]]
    )
    for name, shards in (("plain", 1), ("sharded", 3)):
        build_index(tmp_path / "corpus", "en", tmp_path / name, mbert, workers=1, shards=shards)
        export_lucene(tmp_path / name, "en", tmp_path / f"out-{name}", "mbert", lines_per_file=4)
    for path in sorted((tmp_path / "out-plain").iterdir()):
        assert (tmp_path / "out-sharded" / path.name).read_text() == path.read_text()


def test_address_without_the_ray_engine_is_an_error(mbert, tmp_path, mlama_dir):
    from factroots.search.trace import trace_languages

    write_files(tmp_path / "corpus", [[["Paris"]]])
    with pytest.raises(FactrootsError, match="--address .* --engine ray"):
        build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, address="auto")
    with pytest.raises(FactrootsError, match="--address .* --engine ray"):
        trace_languages(mlama_dir, tmp_path / "idx", "en", address="auto")
    assert not (tmp_path / "idx").exists()
