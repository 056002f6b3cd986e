"""Encodings memoized by whitespace chunk are the tokenizer's own encodings of the whole text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

import factroots.indexer.encoding as encoding_module
from factroots.indexer.encoding import (
    ChunkEncoder,
    Encoded,
    TokenizerEncoder,
    encoder_for,
    memoizable,
)
from factroots.indexer.reader import CorpusReader
from factroots.tokenizer import load_tokenizer
from tests.conftest import SAMPLE_LANGS

# Characters that test every rule of a safe space: spaces and other whitespace, combining marks
# (Extend), a spacing mark, an Arabic prepended mark, ZWJ, an emoji modifier, characters that
# normalize to a space, to several characters or to nothing, CJK, ▁, the tokenizers' added tokens,
# control characters (at a text's start, too).
NASTY = [
    "a", "b", "é", "Z", "7", ",", ".", "(", "-", "'", " ", " ", " ", " ", "  ", "\n", "\t",
    "\u3000", "\u00a0", "\u0301", "\u0903", "\u0600", "\u200d", "\u200b", "\U0001f3fb", "\u00a8",
    "\u2581", "北", "京", "ｱ", "ﬁ", "\x00", "\ufffd", "\x1c", "\x7f", "[MASK]", "<mask>", "[UNK]",
    "Ⅻ", "\u200e", "\ufeff", "\u00ad", "\u0e31", "\u094d", "क", "ǅ", "\u2028", "\u0085", "\r\n",
]  # fmt: skip


@pytest.fixture(params=["mbert", "xlmr"])
def tok(request):
    if request.param == "mbert":
        return load_tokenizer("mbert").tokenizer
    return load_tokenizer(request.getfixturevalue("xlmr_tokenizer_dir")).tokenizer


def assert_same(got: list[Encoded], expected: list[Encoded]) -> None:
    assert len(got) == len(expected)
    for k, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert np.array_equal(a.ids, b.ids), k
        assert np.array_equal(a.offsets, b.offsets), k
        assert np.array_equal(a.word_ids, b.word_ids), k


def whole(tok: Tokenizer, texts: list[str]) -> list[Encoded]:
    """The tokenizer's own encoding of each text, whole."""
    return TokenizerEncoder(tok).encode(texts)


def test_mbert_and_xlmr_are_memoized(tok):
    assert memoizable(tok)
    assert isinstance(encoder_for(tok), ChunkEncoder)


def test_a_byte_level_tokenizer_is_tokenized_whole():
    bpe = Tokenizer(models.BPE(vocab={"a": 0, "Ġ": 1}, merges=[]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    assert not memoizable(bpe)
    assert not isinstance(encoder_for(bpe), ChunkEncoder)


@pytest.fixture(scope="module")
def sample_texts(wiki_dir) -> list[str]:
    """Every document of every shared sample."""
    return [d.text for lang in SAMPLE_LANGS for d in CorpusReader(wiki_dir / lang)]


def test_memoized_encodings_equal_the_tokenizers_on_every_shared_sample(tok, sample_texts):
    """Every document the encoder cuts into chunks equals the tokenizer's encoding of it whole;
    every other comes back as the very encoding the tokenizer gave for that very text (checked
    by identity, so that the many Chinese and Japanese documents are not tokenized twice)."""
    encoder = ChunkEncoder(tok)
    given_whole, tokenize_whole = {}, encoder._whole.encode

    def spied(texts):
        encodings = tokenize_whole(texts)
        given_whole.update({id(e): t for t, e in zip(texts, encodings, strict=True)})
        return encodings

    encoder._whole.encode = spied
    got = encoder.encode(sample_texts)
    chunked = [k for k, e in enumerate(got) if id(e) not in given_whole]
    assert all(
        given_whole[id(e)] is sample_texts[k] for k, e in enumerate(got) if id(e) in given_whole
    )
    assert_same([got[k] for k in chunked], whole(tok, [sample_texts[k] for k in chunked]))
    assert len(chunked) > len(got) / 3 and len(encoder._memo) > 10_000  # the memo was used


def test_recurring_chunks_are_tokenized_once(tok, wiki_dir):
    texts = [d.text for d in CorpusReader(wiki_dir / "en")][:20]
    encoder = ChunkEncoder(tok)
    encoder.encode(texts)
    remembered = len(encoder._memo)
    assert_same(encoder.encode(texts), whole(tok, texts))
    assert len(encoder._memo) == remembered


def test_the_memo_starts_afresh_past_its_bound(tok, wiki_dir, monkeypatch):
    monkeypatch.setattr(encoding_module, "MEMO_TOKENS", 2_000)
    monkeypatch.setattr(encoding_module, "MEMO_CHUNKS", 500)
    texts = [d.text for d in CorpusReader(wiki_dir / "en")][:12]
    encoder = ChunkEncoder(tok)
    for text in texts:
        assert_same(encoder.encode([text]), whole(tok, [text]))
        assert encoder._stored <= 2_000 + len(whole(tok, [text])[0].ids)
        assert len(encoder._memo) <= 500 + len(text.split())


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(st.sampled_from(NASTY), max_size=120).map("".join), max_size=4))
def test_memoized_encodings_equal_the_tokenizers_on_generated_texts(tok, texts):
    assert_same(ChunkEncoder(tok).encode(texts), whole(tok, texts))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.sampled_from(["ab", "cd", "e,", "(f", *NASTY]), min_size=8, max_size=60).map(
            " ".join
        ),
        min_size=1,
        max_size=6,
    )
)
def test_memoized_encodings_equal_the_tokenizers_on_texts_of_many_spaces(tok, texts):
    encoder = ChunkEncoder(tok)
    encoder.encode(texts)  # the second time, chunks come from the memo
    assert_same(encoder.encode(texts), whole(tok, texts))
