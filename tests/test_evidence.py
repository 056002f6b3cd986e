"""Evidence lines mark every mention of both entities, and nothing else, in the stored text."""

from __future__ import annotations

import unicodedata

import pytest

from factroots.mlama import load_language
from tests.brute_force import reference_units

MODES = ("words", "tokens")


def occurrences(needle: list, haystack: list) -> int:
    n = len(needle)
    return sum(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def line_terms(text: str, mode: str, tokenizer) -> list:
    if mode == "words":
        return reference_units(unicodedata.normalize("NFC", text))
    return tokenizer.tokenizer.encode(text, add_special_tokens=False).ids


def label_terms(label: str, mode: str, tokenizer) -> list:
    if mode == "words":
        return reference_units(unicodedata.normalize("NFC", label))
    return tokenizer.encode_entity(label)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("mode", MODES)
def test_evidence_spans_are_the_mentions_of_subject_and_object(
    lang, mode, sample_indexes, mlama_dir, mbert
):
    index = sample_indexes.open(lang)
    facts = load_language(mlama_dir, lang).facts
    shown = 0
    for fact in facts:
        found = index.cooccur(fact.subject, fact.object, mode, show=2)
        if not found.present:
            continue
        for evidence in found.evidence:
            line = line_terms(evidence.text, mode, mbert)
            expected = sum(
                occurrences(label_terms(label, mode, mbert), line)
                for label in (fact.subject, fact.object)
            )
            assert len(evidence.spans) == expected, (fact, evidence.line)
            if mode == "words":
                labels = {tuple(label_terms(x, mode, mbert)) for x in (fact.subject, fact.object)}
                for start, end in evidence.spans:
                    assert tuple(line_terms(evidence.text[start:end], mode, mbert)) in labels
            shown += 1
        if shown >= 60:
            break
    assert shown >= 20
