"""The XLM-R index agrees with the brute-force scan on every fact of every shared sample, in
tokens mode (where the tokenizer decides what matches).

A file of its own so that `make test` (pytest-xdist, one file per worker at a time) runs it
beside the mBERT differential (tests/test_index_differential.py)."""

from __future__ import annotations

import pytest

from factroots.indexer.builder import build_index
from factroots.mlama import load_language
from factroots.search import FactIndex
from factroots.tokenizer import load_tokenizer
from tests.brute_force import BruteForceMatcher
from tests.conftest import SAMPLE_LANGS
from tests.test_index_differential import assert_every_fact_matches_brute_force, segmented_lines


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_xlmr_index_matches_brute_force_on_all_mlama_facts(
    lang, wiki_dir, mlama_dir, xlmr_tokenizer_dir, tmp_path
):
    """As the mBERT test, in tokens mode (words mode cuts the same units from the text with
    either tokenizer, and is checked on every sample by the mBERT test): every label and fact
    in batch and in the trace; one label at a time, every label found and 200 others."""
    xlmr = load_tokenizer(xlmr_tokenizer_dir)
    build_index(wiki_dir / lang, lang, tmp_path, xlmr)
    index = FactIndex.open(tmp_path, lang, xlmr)
    brute = BruteForceMatcher(segmented_lines(wiki_dir / lang, xlmr, 512))
    facts = load_language(mlama_dir, lang).facts
    assert_every_fact_matches_brute_force(
        index, brute, facts, lang, absent_singles=200, modes=("tokens",)
    )
