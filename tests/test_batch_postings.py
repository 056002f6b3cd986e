"""The batch path: the postings sidecar, batch label analysis, and indexes built without it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factroots.search.postings as postings_module
from factroots.indexer.builder import build_index
from factroots.indexer.postings import POSTINGS_DIR, read_meta, unit_keys
from factroots.mlama import load_language
from factroots.search import FactIndex
from factroots.search.entity import entity_terms, label_keys
from factroots.tokenizer import load_tokenizer
from tests.test_index_differential import write_generated_corpus

MODES = ("words", "tokens")
DOCS = [
    ["New", "York", "a", "a", "a", "New", "York"],
    ["York", "New"],
    ["北京", "市", "a", "a"],
    ["Paris", "New", "York", "Paris"],
]
PAIRS = [
    ("New York", "a a"),
    ("北京市", "a"),
    ("Paris", "New York"),
    ("York New", "a a a"),
    ("Paris", "\u200b"),
]


@pytest.fixture(scope="module")
def mbert():
    return load_tokenizer("mbert")


@pytest.fixture(scope="module")
def small_root(tmp_path_factory, mbert):
    """A tiny corpus cut into 3-token lines, so that phrases meet line boundaries."""
    base = tmp_path_factory.mktemp("small")
    write_generated_corpus(base / "corpus", DOCS)
    build_index(base / "corpus", "xx", base / "root", mbert, max_tokens=3, workers=1)
    return base / "root"


def without_sidecar(root, tmp_path):
    """A copy of the index as built before the sidecar existed."""
    copy = tmp_path / "old"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "mbert" / "xx" / POSTINGS_DIR)
    return copy


def test_build_writes_a_sidecar_with_every_line_in_both_modes(small_root, mbert):
    index = FactIndex.open(small_root, "xx", mbert)
    meta = read_meta(index.path)
    assert index.has_postings
    assert {m: c.lines for m, c in meta.modes.items()} == {m: index.num_lines for m in MODES}
    assert meta.modes["tokens"].postings == index.manifest.counts.tokens


@pytest.mark.parametrize("mode", MODES)
def test_batch_cooccur_equals_one_at_a_time_cooccur(small_root, mbert, mode):
    index = FactIndex.open(small_root, "xx", mbert)
    batch = index.cooccur_many(PAIRS, mode)
    for k, (subject, obj) in enumerate(PAIRS):
        one = index.cooccur(subject, obj, mode)
        assert bool(batch.traceable[k]) == (one.status == "ok")
        assert (batch.subject_lines[k], batch.object_lines[k], batch.cooccur_lines[k]) == (
            one.subject_lines,
            one.object_lines,
            one.lines,
        )


@pytest.mark.parametrize("mode", MODES)
def test_index_without_sidecar_answers_the_same_through_tantivy(small_root, mbert, mode, tmp_path):
    new = FactIndex.open(small_root, "xx", mbert)
    old = FactIndex.open(without_sidecar(small_root, tmp_path), "xx", mbert)
    assert not old.has_postings
    a, b = new.cooccur_many(PAIRS, mode), old.cooccur_many(PAIRS, mode)
    assert a.cooccur_lines.tolist() == b.cooccur_lines.tolist()
    assert a.subject_lines.tolist() == b.subject_lines.tolist()
    assert a.traceable.tolist() == b.traceable.tolist()


@pytest.mark.parametrize("mode", MODES)
def test_single_queries_count_the_same_on_the_sidecar_and_through_tantivy(
    small_root, mbert, mode, tmp_path
):
    new = FactIndex.open(small_root, "xx", mbert)
    old = FactIndex.open(without_sidecar(small_root, tmp_path), "xx", mbert)
    for subject, obj in PAIRS:
        a, b = new.cooccur(subject, obj, mode, show=3), old.cooccur(subject, obj, mode, show=3)
        assert a == b, (subject, obj)
        assert new.count(subject, mode) == old.count(subject, mode)


def test_entities_split_across_numba_chunks_give_the_same_lines(small_root, mbert, monkeypatch):
    index = FactIndex.open(small_root, "xx", mbert)
    labels = [s for pair in PAIRS for s in pair] * 3
    whole = index.entity_lines(labels, "words")
    monkeypatch.setattr(postings_module, "CHUNK", 4)
    chunked = index.entity_lines(labels, "words")
    assert [whole.lines(i).tolist() for i in range(len(labels))] == [
        chunked.lines(i).tolist() for i in range(len(labels))
    ]


def test_progress_reports_every_label_once(small_root, mbert, monkeypatch):
    index = FactIndex.open(small_root, "xx", mbert)
    monkeypatch.setattr(postings_module, "CHUNK", 2)
    seen = []
    labels = ["New York", "Paris", "York New", "a", "New York Paris", "Lyon"]
    index.entity_lines(labels, "tokens", on_done=seen.append)
    assert seen == [3, 2, 1]  # the labels of one term or an absent one, then CHUNKs of 2


@pytest.fixture(scope="module")
def mlama_labels(mlama_dir):
    """Every subject and object label of four scripts' mLAMA facts, and a few odd ones."""
    labels = sorted(
        {
            label
            for lang in ("en", "zh", "th", "ja")
            for f in load_language(mlama_dir, lang).facts
            for label in (f.subject, f.object)
        }
    )
    return labels + ["", " ", "\u2581", "\u200b", "a\u200bb", "[UNK]"]


@pytest.mark.parametrize("tokenizer", ["mbert", "xlmr"])
@pytest.mark.parametrize("mode", MODES)
def test_batch_label_analysis_equals_one_label_at_a_time(
    tokenizer, mode, mlama_labels, xlmr_tokenizer_dir
):
    tok = load_tokenizer("mbert" if tokenizer == "mbert" else xlmr_tokenizer_dir)
    labels = mlama_labels
    keys = label_keys(labels, mode, tok)
    for i, label in enumerate(labels):
        entity = entity_terms(label, mode, tok)
        assert bool(keys.traceable[i]) == entity.traceable, label
        got = keys.keys[keys.offsets[i] : keys.offsets[i + 1]]
        if mode == "tokens":
            assert got.tolist() == [int(t) for t in entity.terms], label
        else:
            assert got.tolist() == unit_keys([" ".join(entity.terms)])[0].tolist(), label


LABEL_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)) | st.sampled_from(" \u3000\u2581()'-.,·北a"),
    max_size=8,
)


@pytest.fixture(scope="module")
def tokenizers(xlmr_tokenizer_dir):
    return {"mbert": load_tokenizer("mbert"), "xlmr": load_tokenizer(xlmr_tokenizer_dir)}


@pytest.mark.parametrize("tokenizer", ["mbert", "xlmr"])
@settings(max_examples=150, deadline=None)
@given(labels=st.lists(LABEL_TEXT, min_size=1, max_size=40))
def test_labels_encoded_together_get_the_tokens_each_gets_alone(tokenizer, labels, tokenizers):
    tok = tokenizers[tokenizer]
    keys = label_keys(labels, "tokens", tok)
    for i, label in enumerate(labels):
        got = keys.keys[keys.offsets[i] : keys.offsets[i + 1]].tolist()
        assert got == [int(t) for t in entity_terms(label, "tokens", tok).terms], label


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.text(
                st.characters(blacklist_characters=" \n", blacklist_categories=("Cs",)),
                min_size=1,
                max_size=4,
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_unit_keys_split_units_and_lines_exactly(lines):
    keys, per_line = unit_keys([" ".join(units) for units in lines])
    assert per_line.tolist() == [len(units) for units in lines]
    flat = [u for units in lines for u in units]
    same = {(a, b) for a in flat for b in flat if a == b}
    for i, a in enumerate(flat):
        for j, b in enumerate(flat):
            assert (keys[i] == keys[j]) == ((a, b) in same)
    assert keys.dtype == np.uint64


def test_a_label_with_a_lone_surrogate_is_counted_not_crashed_on(small_root, mbert):
    index = FactIndex.open(small_root, "xx", mbert)
    assert index.count_many(["\ud800", "New"], "words").lines.tolist()[0] == 0


def test_a_batch_call_leaves_the_trace_functions_compiled_in_numbas_cache(small_root, mbert):
    FactIndex.open(small_root, "xx", mbert).cooccur_many(PAIRS, "tokens")
    assert postings_module.compiled()


def file_pages_resident_kib() -> int:
    """This process's resident memory that maps files (RssFile), in KiB."""
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


def test_a_released_sidecar_leaves_resident_memory_and_still_answers(tmp_path):
    from factroots.indexer.postings import PostingsLayout
    from factroots.search.postings import ModePostings

    layout = PostingsLayout(tmp_path)
    arrays = {
        "keys": np.arange(4, dtype=np.uint64),
        "line_offsets": np.arange(5, dtype=np.int64),
        "lines": np.arange(4, dtype=np.uint32),
        "occurrence_offsets": np.arange(5, dtype=np.uint32),
        "in_line": np.arange(32 << 20, dtype=np.uint16),  # 64 MiB
        "line_starts": np.arange(4, dtype=np.int64),
    }
    for name, values in arrays.items():
        np.save(layout.array("tokens", name), values)
    postings = ModePostings(layout, "tokens")
    total = int(postings.in_line.sum(dtype=np.int64))  # every page read
    before = file_pages_resident_kib()
    postings.release()
    assert before - file_pages_resident_kib() >= 48 << 10
    assert int(postings.in_line.sum(dtype=np.int64)) == total
