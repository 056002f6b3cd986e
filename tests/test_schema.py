"""The tantivy fields' text, written in batch, equals the one-line rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factroots.indexer.schema import token_term_lines, token_terms

IDS = st.lists(st.integers(min_value=0, max_value=2**31 - 1), max_size=12)
VOCABULARY_IDS = st.lists(st.integers(min_value=0, max_value=300_000), max_size=12)


@settings(deadline=None)
@given(st.lists(IDS, max_size=8))
def test_token_terms_of_many_lines_equal_each_lines_terms(lines):
    arrays = [np.array(ids, dtype=np.int32) for ids in lines]
    assert token_term_lines(arrays) == [token_terms(ids) for ids in lines]


@settings(deadline=None)
@given(st.lists(VOCABULARY_IDS, max_size=8))
def test_token_terms_of_vocabulary_ids_equal_each_lines_terms(lines):
    arrays = [np.array(ids, dtype=np.int32) for ids in lines]
    assert token_term_lines(arrays) == [token_terms(ids) for ids in lines]
