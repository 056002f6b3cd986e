"""Word units: DESIGN.md's `words` vocabulary, against an independent character loop."""

from hypothesis import given, settings
from hypothesis import strategies as st

from factroots.units import (
    index_unit_lines,
    index_units,
    stand_in,
    word_unit_spans,
    word_units,
)
from tests.brute_force import reference_units

ALPHABET = list(
    "aZé9_ \t\n\u00a0\u3000.,-'\"()「」。、"  # Latin, digits, connector, spaces, punctuation
    "北京市東日本語中国"  # Han
    "ひらがなカタカナー"  # Hiragana, Katakana and the prolonged sound mark (Common)
    "ภาษาไทย"  # Thai, vowel signs included
    "Москваالقاهرة한국어हिन्दी"  # Cyrillic, Arabic, Hangul, Devanagari (spaced scripts)
    "\u200b\u200d\u200e\u00ad\ufeff\u0301"  # format characters and a combining accent
)


def test_words_are_maximal_runs_of_word_characters():
    assert word_units("New York, Parisian") == ["New", "York", ",", "Parisian"]


def test_each_no_space_character_is_a_unit():
    assert word_units("在北京市") == ["在", "北", "京", "市"]


def test_thai_characters_are_units_of_their_own():
    assert word_units("ไทย") == ["ไ", "ท", "ย"]


def test_whitespace_only_separates():
    assert word_units("New\nYork\u00a0City") == ["New", "York", "City"]


def test_format_characters_neither_form_nor_break_units():
    assert word_units("ab\u200dcd \u200b") == ["abcd"]


def test_punctuation_characters_are_single_units():
    assert word_units("l'été...") == ["l", "'", "été", ".", ".", "."]


def test_connector_punctuation_joins_a_run():
    assert word_units("x_y") == ["x_y"]


def test_spans_point_at_the_units_in_the_original_text():
    text = "a\u200db 北京"
    assert [(u, text[s:e].replace("\u200d", "")) for u, s, e in word_unit_spans(text)] == [
        ("ab", "ab"),
        ("北", "北"),
        ("京", "京"),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_units_equal_the_reference_character_loop(text):
    assert word_units(text) == reference_units(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_span_units_equal_units(text):
    assert [u for u, _, _ in word_unit_spans(text)] == word_units(text)


@settings(deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET + ["\x00"], max_size=12), max_size=12))
def test_texts_analysed_together_get_the_units_each_gets_alone(texts):
    assert index_unit_lines(texts)[0] == [" ".join(index_units(t)[0]) for t in texts]


def test_a_unit_too_long_for_tantivy_is_its_stand_in_when_analysed_together():
    long_unit = "é" * 40_000  # 80,000 bytes
    lines, replaced = index_unit_lines(["a b", f"x {long_unit} y"])
    assert lines == ["a b", f"x {stand_in(long_unit)} y"]
    assert replaced == 1
