"""The index agrees with the brute-force scan on every entity and fact, in both modes."""

from __future__ import annotations

import random
import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factroots.search.postings as postings_module
from factroots.indexer.builder import build_index
from factroots.indexer.reader import CorpusReader
from factroots.indexer.segmenter import Segmenter
from factroots.mlama import load_language
from factroots.search import FactIndex
from factroots.search.trace import trace_language
from tests.brute_force import BruteForceMatcher, reference_units
from tests.conftest import SAMPLE_LANGS

MODES = ("words", "tokens")


def segmented_lines(corpus, tokenizer, max_tokens):
    segmenter = Segmenter(tokenizer, max_tokens, memo=False)  # the tokenizer itself, whole
    docs = list(CorpusReader(corpus))
    return [(line.text, line.ids.tolist()) for lines in segmenter.lines(docs) for line in lines]


def reference_entities(labels, mode: str, tokenizer) -> dict[str, tuple]:
    """Each label as the brute force sees it (DESIGN.md, Matching: NFC; in tokens mode the
    tokenizer's ids without special tokens and without a lone leading ▁), () when untraceable
    (no unit or token, or the unknown token): written apart from factroots' entity analysis."""
    labels = list(labels)
    normal = [unicodedata.normalize("NFC", label) for label in labels]
    if mode == "words":
        return {label: tuple(reference_units(n)) for label, n in zip(labels, normal, strict=True)}
    hf = tokenizer.tokenizer
    boundary = tokenizer.boundary_id
    refs = {}
    for label, encoding in zip(
        labels, hf.encode_batch(normal, add_special_tokens=False), strict=True
    ):
        ids = encoding.ids
        if ids and boundary is not None and ids[0] == boundary:
            ids = ids[1:]
        refs[label] = () if tokenizer.unk_id in ids else tuple(ids)
    return refs


def assert_index_matches_brute_force(
    index: FactIndex, brute: BruteForceMatcher, labels, mode, absent_singles: int | None = None
):
    """Every label in batch, and one at a time: every label, or (given `absent_singles`) every
    label found in the corpus and that many of the others, drawn at random."""
    refs = reference_entities(labels, mode, index.tokenizer)
    expected = brute.lines_with_all(refs.values(), mode)
    singles = list(refs)
    if absent_singles is not None:
        absent = sorted(label for label in refs if not expected[refs[label]])
        drawn = random.Random(mode).sample(absent, min(absent_singles, len(absent)))
        singles = [label for label in refs if expected[refs[label]]] + drawn
    for label in singles:
        ref = refs[label]
        entity = index.entity(label, mode)
        assert entity.traceable == bool(ref), (label, mode)
        got = set(index.line_ids(entity).tolist())
        assert got == expected[ref], (label, mode, sorted(got ^ expected[ref])[:5])
        assert index.count(label, mode).lines == len(expected[ref]), (label, mode)
    assert_batch_matches_brute_force(index, refs, expected, mode)
    return refs, expected


def assert_batch_matches_brute_force(index: FactIndex, refs: dict, expected: dict, mode: str):
    """The batch path (postings sidecar) gives every label's lines as the brute force does."""
    labels = list(refs)
    found = index.entity_lines(labels, mode)
    counts = index.count_many(labels, mode)
    for i, label in enumerate(labels):
        assert set(found.lines(i).tolist()) == expected[refs[label]], (label, mode)
        assert bool(counts.traceable[i]) == bool(refs[label]), (label, mode)
    assert counts.lines.tolist() == [len(expected[refs[label]]) for label in labels]


def assert_trace_matches_brute_force(index: FactIndex, facts, refs: dict, lines: dict, mode: str):
    """The trace (`cooccur_many` laid out as a table) row by row equals the brute force."""
    trace = trace_language(index, facts, mode)
    names = ("uuid", "status", "present", "cooccur_lines", "subject_lines", "object_lines")
    uuid, status, present, both, subject, object_ = (trace[n].tolist() for n in names)
    assert uuid == [f.uuid for f in facts]
    for k, fact in enumerate(facts):
        subj, obj = refs[fact.subject], refs[fact.object]
        if not (subj and obj):
            assert status[k] == "untraceable" and pd.isna(present[k]), (fact, mode)
            assert both[k] == 0, (fact, mode)
            continue
        expected = len(lines[subj] & lines[obj])
        assert (status[k], present[k], both[k]) == ("ok", expected > 0, expected), (fact, mode)
        assert (subject[k], object_[k]) == (len(lines[subj]), len(lines[obj])), (fact, mode)


def assert_every_fact_matches_brute_force(
    index: FactIndex,
    brute,
    facts,
    seed: str,
    absent_singles: int | None = None,
    modes: tuple[str, ...] = MODES,
) -> None:
    """Every label (in batch, and one at a time: see `assert_index_matches_brute_force`), the
    trace of every fact, and single `cooccur` on up to 400 facts (the present first), in each
    of `modes`, against the brute force."""
    labels = {f.subject for f in facts} | {f.object for f in facts}
    rng = random.Random(seed)
    for mode in modes:
        refs, lines = assert_index_matches_brute_force(index, brute, labels, mode, absent_singles)
        assert_trace_matches_brute_force(index, facts, refs, lines, mode)
        present = [f for f in facts if lines[refs[f.subject]] & lines[refs[f.object]]]
        sample = present[:200] + rng.sample(facts, min(200, len(facts)))
        for fact in sample:
            got = index.cooccur(fact.subject, fact.object, mode)
            subj, obj = refs[fact.subject], refs[fact.object]
            if not (subj and obj):
                assert got.status == "untraceable" and got.present is None
                continue
            assert got.lines == len(lines[subj] & lines[obj]), (fact, mode)
            assert got.present == bool(lines[subj] & lines[obj])


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_shared_sample_matches_brute_force_on_all_mlama_facts(
    lang, wiki_dir, mlama_dir, mbert, sample_indexes
):
    """Every label and fact in batch and in the trace; one label at a time, every label found in
    the sample and 200 others drawn at random (the absent ones all take the same path)."""
    index = sample_indexes.open(lang)
    brute = BruteForceMatcher(segmented_lines(wiki_dir / lang, mbert, 512))
    facts = load_language(mlama_dir, lang).facts
    assert_every_fact_matches_brute_force(index, brute, facts, lang, absent_singles=200)


VOCAB = [
    "New",
    "York",
    "Yorker",
    "Paris",
    "北京",
    "北",
    "京",
    "市",
    "中国",
    "ไทย",
    "a",
    "a a",
    "the",
    ",",
    "東京都",
    "Helsinki",
    "Helsingissä",
    "##",
    "x_y",
    "Berlin-Mitte",
]


def write_generated_corpus(path, docs: list[list[str]]) -> None:
    blocks = [
        f'<doc id="{i}" url="" title="T{i}">\nT{i}\n\n{" ".join(words)}\n</doc>\n'
        for i, words in enumerate(docs)
    ]
    path.mkdir(parents=True, exist_ok=True)
    (path / "wiki_00").write_text("".join(blocks), encoding="utf-8")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    docs=st.lists(
        st.lists(st.sampled_from(VOCAB), min_size=1, max_size=30), min_size=1, max_size=6
    ),
    max_tokens=st.integers(2, 8),
    bitsets=st.booleans(),
)
def test_generated_corpora_match_brute_force(docs, max_tokens, bitsets, mbert, tmp_path_factory):
    """With and without bitsets (without: every intersection gallops through line lists)."""
    with pytest.MonkeyPatch.context() as patch:
        if not bitsets:
            patch.setattr(postings_module, "BITSET_BYTES", 0)
        check_generated_corpus(docs, max_tokens, mbert, tmp_path_factory)


def check_generated_corpus(docs, max_tokens, mbert, tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    write_generated_corpus(root / "corpus", docs)
    build_index(root / "corpus", "xx", root / "idx", mbert, max_tokens=max_tokens, workers=1)
    index = FactIndex.open(root / "idx", "xx", mbert)
    brute = BruteForceMatcher(segmented_lines(root / "corpus", mbert, max_tokens))
    labels = set(VOCAB) | {"New York", "北京市", "a a a", "York ,", "T0", "T1", "市 中国", "", " "}
    for mode in MODES:
        refs, lines = assert_index_matches_brute_force(index, brute, labels, mode)
        pairs = [("New", "York"), ("北京", "中国"), ("a", "a"), ("Paris", "T1"), ("a a a", "a")]
        batch = index.cooccur_many(pairs, mode)
        for k, (subject, obj) in enumerate(pairs):
            got = index.cooccur(subject, obj, mode)
            assert got.lines == len(lines[refs[subject]] & lines[refs[obj]])
            assert (got.subject_lines, got.object_lines) == (
                len(lines[refs[subject]]),
                len(lines[refs[obj]]),
            )
            assert batch.cooccur_lines[k] == got.lines
