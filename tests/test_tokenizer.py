"""Tokenizers are read and checksummed when loaded and parsed on first use: an index's folder
and checksum need only the file, so a words-mode trace never pays for the parse, and a build
parses it before any work."""

from __future__ import annotations

import pytest

from factroots.errors import FactrootsError
from factroots.indexer.builder import build_index
from factroots.mlama import load_language
from factroots.search import FactIndex
from factroots.search.trace import trace_language
from factroots.tokenizer import load_tokenizer


@pytest.fixture
def bad_tokenizer(tmp_path):
    path = tmp_path / "broken" / "tokenizer.json"
    path.parent.mkdir()
    path.write_text('{"model": ', encoding="utf-8")
    return path


def test_loading_a_tokenizer_reads_and_checksums_it_without_parsing(bad_tokenizer):
    tok = load_tokenizer(bad_tokenizer)
    assert tok.name == "broken" and len(tok.sha256) == 64
    with pytest.raises(FactrootsError, match="not a HF tokenizer.json"):
        tok.encode_entity("Paris")


def test_a_build_with_a_broken_tokenizer_fails_before_any_work(bad_tokenizer, wiki_dir, tmp_path):
    with pytest.raises(FactrootsError, match="not a HF tokenizer.json"):
        build_index(wiki_dir / "en", "en", tmp_path / "root", bad_tokenizer)
    assert not (tmp_path / "root" / "broken").exists()


def test_a_parsed_tokenizer_encodes_as_before(mbert_tokenizer_dir):
    tok = load_tokenizer(mbert_tokenizer_dir)
    assert tok.encode_entity("Paris") == tok.tokenizer.encode("Paris", add_special_tokens=False).ids
    assert tok.unk_id == tok.tokenizer.token_to_id("[UNK]")


def test_a_words_mode_trace_never_parses_the_tokenizer(sample_indexes, mlama_dir):
    tok = load_tokenizer("mbert")
    index = FactIndex.open(sample_indexes.root_with("en"), "en", tok)
    trace = trace_language(index, load_language(mlama_dir, "en").facts[:500], "words")
    assert trace["present"].fillna(False).any()
    assert "tokenizer" not in vars(tok)  # the cached property was never computed


def test_a_tokenizer_file_is_parsed_once_per_process(xlmr_tokenizer_dir):
    first, again = load_tokenizer("mbert"), load_tokenizer("mbert")
    assert first is not again and first.tokenizer is again.tokenizer
    assert load_tokenizer(xlmr_tokenizer_dir).tokenizer is not first.tokenizer


def test_the_unknown_id_is_read_once_per_tokenizer_file(xlmr_tokenizer_dir, monkeypatch):
    first = load_tokenizer(xlmr_tokenizer_dir).unk_id
    monkeypatch.setattr("factroots.tokenizer._unknown_id", lambda *_: pytest.fail("read again"))
    assert load_tokenizer(xlmr_tokenizer_dir).unk_id == first == 3  # XLM-R's <unk>


def test_a_broken_tokenizer_is_not_remembered_as_parsed(bad_tokenizer):
    for _ in range(2):
        with pytest.raises(FactrootsError, match="not a HF tokenizer.json"):
            load_tokenizer(bad_tokenizer).parsed()
