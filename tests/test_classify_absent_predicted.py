"""Absent-yet-predicted classification: each rule, and the rule order, on crafted facts."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from factroots.report.classify import (
    DEFAULT_NAMING_RELATIONS,
    NAMING_CUES,
    OTHERS,
    SHARED_TOKENS,
    Classifier,
    absent_yet_predicted,
    classify_facts,
    normalize_label,
    type_counts,
)
from factroots.tokenizer import ModelTokenizer, load_tokenizer
from tests.conftest import require_shared

NEUTRAL = "P279"  # not a naming-cue relation


def _model_tokenizer(tokenizer: Tokenizer) -> ModelTokenizer:
    return ModelTokenizer.of(tokenizer, name="crafted", unk_id=0, boundary_id=None)


@pytest.fixture(scope="module")
def wordpiece() -> Classifier:
    vocab = {"[UNK]": 0, "foo": 1, "##bar": 2, "bar": 3, "##foo": 4, "qux": 5, "--": 6}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return Classifier(_model_tokenizer(tokenizer))


@pytest.fixture(scope="module")
def sentencepiece() -> Classifier:
    pieces = [
        ("<unk>", 0.0),
        ("▁foo", -1.0),
        ("bar", -1.0),
        ("▁bar", -1.0),
        ("qux", -1.0),
        ("▁a", -1.0),
        ("xx", -1.0),
        ("yy", -1.0),
    ]
    pieces += [(ch, -10.0) for ch in "▁abfoqrxyu"]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=0))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    return Classifier(_model_tokenizer(tokenizer))


@pytest.fixture(scope="module")
def mbert() -> Classifier:
    return Classifier(load_tokenizer("mbert"))


def test_object_inside_subject_is_shared_entity_tokens(mbert):
    assert mbert.classify("Paris Saint-Germain", "Paris", NEUTRAL, "en") == SHARED_TOKENS


def test_width_and_case_are_normalized_before_the_substring_test(wordpiece):
    assert wordpiece.classify("ＰＡＲＩＳ Club", "paris", NEUTRAL, "fr") == SHARED_TOKENS


def test_traditional_chinese_subject_contains_simplified_object(wordpiece):
    assert wordpiece.classify("國立臺灣大學", "台湾", NEUTRAL, "zh") == SHARED_TOKENS


def test_traditional_to_simplified_applies_to_chinese_only(wordpiece):
    assert normalize_label("臺灣", "zh") == "台湾"
    assert normalize_label("臺灣", "ja") == "臺灣"
    assert wordpiece.classify("國立臺灣大學", "台湾", NEUTRAL, "ja") == OTHERS


def test_shared_wordpiece_counts_with_continuation_mark_stripped(wordpiece):
    # foobar → foo ##bar; barfoo → bar ##foo: they share "bar" and "foo" only once ## is gone.
    assert wordpiece.classify("foobar", "barfoo", NEUTRAL, "en") == SHARED_TOKENS


def test_shared_sentencepiece_counts_with_boundary_mark_stripped(sentencepiece):
    # foobar → ▁foo bar; barqux → ▁bar qux: they share "bar" only once ▁ is gone.
    assert sentencepiece.classify("foobar", "barqux", NEUTRAL, "en") == SHARED_TOKENS


def test_one_character_subword_after_stripping_does_not_count(sentencepiece):
    # axx → ▁a xx; ayy → ▁a yy: "▁a" is one character once ▁ is stripped.
    assert sentencepiece.classify("axx", "ayy", NEUTRAL, "en") == OTHERS


def test_digits_only_shared_subword_does_not_count(mbert):
    assert mbert.classify("Windows 1999", "1999 Linux", NEUTRAL, "en") == OTHERS


def test_punctuation_only_shared_subword_does_not_count(wordpiece):
    assert wordpiece.classify("foo --", "-- qux", NEUTRAL, "en") == OTHERS


def test_unknown_tokens_are_never_shared(wordpiece):
    assert wordpiece.classify("zzz foo", "yyy qux", NEUTRAL, "en") == OTHERS


def test_naming_cue_relation_without_shared_tokens_is_naming_cues(mbert):
    assert mbert.classify("Toyota Motor", "Japan", "P17", "en") == NAMING_CUES


def test_shared_entity_tokens_win_over_naming_cues(mbert):
    assert mbert.classify("University of Tokyo", "Tokyo", "P17", "en") == SHARED_TOKENS


def test_other_relation_without_shared_tokens_is_others(mbert):
    assert mbert.classify("Toyota Corolla", "Japan", NEUTRAL, "en") == OTHERS


def test_religion_p140_without_shared_tokens_is_naming_cues(mbert):
    assert mbert.classify("Pope Gregory XIII", "Catholicism", "P140", "en") == NAMING_CUES


def test_religion_p140_with_shared_tokens_is_shared_entity_tokens(mbert):
    assert mbert.classify("Buddhist Temple of Nara", "Buddhist", "P140", "en") == SHARED_TOKENS


def test_languages_spoken_p1412_without_shared_tokens_is_naming_cues(mbert):
    assert mbert.classify("Jean-Paul Sartre", "French", "P1412", "en") == NAMING_CUES


def test_languages_spoken_p1412_with_shared_tokens_is_shared_entity_tokens(mbert):
    assert mbert.classify("Abdullah Ahmed Al-Arabi", "Arabic", "P1412", "en") == SHARED_TOKENS


def test_place_of_birth_p19_is_others_by_default(mbert):
    assert mbert.classify("Jean-Paul Sartre", "Paris", "P19", "en") == OTHERS


def test_official_language_p37_is_others_by_default(mbert):
    assert mbert.classify("Brazil", "Portuguese", "P37", "en") == OTHERS


def test_default_naming_relations_are_designs_list():
    assert DEFAULT_NAMING_RELATIONS == ("P17", "P27", "P103", "P140", "P1412")


def test_default_naming_relations_match_design_md():
    text = require_shared("DESIGN.md").read_text(encoding="utf-8")
    cues = text[text.index("**naming cues**") : text.index("**others**")]
    listed = cues[: cues.index("names of people")]
    assert tuple(re.findall(r"\bP\d+\b", listed)) == DEFAULT_NAMING_RELATIONS


def test_naming_relations_are_overridable():
    classifier = Classifier(load_tokenizer("mbert"), naming_relations=["P279"])
    assert classifier.classify("Toyota Corolla", "Japan", "P279", "en") == NAMING_CUES
    assert classifier.classify("Toyota Motor", "Japan", "P17", "en") == OTHERS


def test_overriding_can_restore_a_former_default_relation():
    classifier = Classifier(load_tokenizer("mbert"), naming_relations=["P19", "P37"])
    assert classifier.classify("Jean-Paul Sartre", "Paris", "P19", "en") == NAMING_CUES
    assert classifier.classify("Pope Gregory XIII", "Catholicism", "P140", "en") == OTHERS


def _joined() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "m",
            "mode": "words",
            "tokenizer": "mbert",
            "lang": ["en", "en", "en", "fr"],
            "relation": ["P17", "P279", "P279", "P279"],
            "uuid": ["a", "b", "c", "d"],
            "subject": ["Toyota Corolla", "Paris FC", "x", "Lyon"],
            "object": ["Japan", "Paris", "y", "Lyon"],
            "correct": [True, True, False, True],
            "present": [False, False, False, True],
        }
    )


def test_absent_yet_predicted_keeps_correct_absent_facts_only():
    assert list(absent_yet_predicted(_joined())["uuid"]) == ["a", "b"]


def test_type_counts_has_every_type_column_and_total(mbert):
    classified = classify_facts(absent_yet_predicted(_joined()), mbert)
    counts = type_counts(classified, ["model", "lang"])
    assert counts.to_dict("records") == [
        {"model": "m", "lang": "en", SHARED_TOKENS: 1, NAMING_CUES: 1, OTHERS: 0, "total": 2}
    ]
