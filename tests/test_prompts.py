"""Prompts: k model mask tokens at [Y], for real mLAMA facts and both real tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factroots.mlama import Fact, available_languages, load_language, read_templates
from factroots.probing.prompts import build_prompts, fill_template, mask_token
from factroots.tokenizer import load_tokenizer

SCRIPT_LANGS = ["ja", "th", "ar", "ru", "hi", "en", "zh"]
FACTS_PER_RELATION = 3


@pytest.fixture(scope="module", params=["mbert", "xlmr"])
def tokenizer(request, mbert_tokenizer_dir, xlmr_tokenizer_dir):
    return load_tokenizer(mbert_tokenizer_dir if request.param == "mbert" else xlmr_tokenizer_dir)


@pytest.fixture(scope="module")
def mbert():
    return load_tokenizer("mbert")


def first_facts(lang_dir: Path, n: int) -> list[Fact]:
    """The first n facts of every relation file of one mLAMA language folder."""
    facts = []
    for path in sorted(lang_dir.glob("*.jsonl")):
        if path.name == "templates.jsonl":
            continue
        with open(path, encoding="utf-8") as fh:
            for _, line in zip(range(n), fh, strict=False):
                r = json.loads(line)
                facts.append(
                    Fact(
                        lang_dir.name,
                        path.stem,
                        r["uuid"],
                        r.get("lineid", -1),
                        r["sub_label"],
                        r["obj_label"],
                        r["sub_uri"],
                        r["obj_uri"],
                    )
                )
    return facts


def fact(subject: str = "Alan Turing", obj: str = "London", relation: str = "P19") -> Fact:
    return Fact("en", relation, "u1", 0, subject, obj, "Q1", "Q2")


def test_mask_tokens_are_the_models_own_and_joined_by_a_space(tokenizer):
    mask = mask_token(tokenizer)
    expected = "[MASK]" if tokenizer.tokenizer.get_vocab_size() == 119547 else "<mask>"
    assert (mask.token, mask.separator) == (expected, " ")
    assert mask.id == tokenizer.tokenizer.token_to_id(expected)


@pytest.mark.parametrize("lang", SCRIPT_LANGS)
def test_real_prompts_hold_k_masks_where_y_was(tokenizer, mlama_dir, lang):
    facts = first_facts(mlama_dir / lang, 10)
    templates = read_templates(mlama_dir / lang, [])
    result = build_prompts(facts, templates, tokenizer)
    mask_id = mask_token(tokenizer).id
    assert not result.skipped and len(result.prompts) == len(facts)
    for encoded in result.prompts:
        p = encoded.prompt
        ids = tokenizer.tokenizer.encode(p.text).ids
        k = len(tokenizer.encode_entity(p.fact.object))
        first = ids.index(mask_id)
        assert ids.count(mask_id) == k == p.k >= 1
        assert ids[first : first + k] == [mask_id] * k
        prefix = tokenizer.tokenizer.encode(p.text[: p.mask_span[0]].rstrip()).ids[:-1]
        assert ids[:first] == prefix, p.text
        assert list(encoded.input_ids) == ids
        assert encoded.mask_positions == tuple(range(first, first + k))


def test_every_template_of_every_language_yields_well_formed_prompts(tokenizer, mlama_dir):
    mask_id = mask_token(tokenizer).id
    langs = available_languages(mlama_dir)
    assert len(langs) == 53
    for lang in langs:
        facts = first_facts(mlama_dir / lang, FACTS_PER_RELATION)
        result = build_prompts(facts, read_templates(mlama_dir / lang, []), tokenizer)
        assert result.skipped == [], (lang, result.skipped[:3])
        assert {p.prompt.fact.relation for p in result.prompts} == {f.relation for f in facts}
        for encoded in result.prompts:
            assert list(encoded.input_ids).count(mask_id) == encoded.prompt.k >= 1


def test_lone_leading_boundary_piece_is_not_a_mask(xlmr_tokenizer_dir):
    xlmr = load_tokenizer(xlmr_tokenizer_dir)
    raw = xlmr.tokenizer.encode("アメリカ", add_special_tokens=False).tokens
    result = build_prompts([fact(obj="アメリカ")], {"P19": "[X]は[Y]で生まれた。"}, xlmr)
    assert raw[0] == "\u2581" and result.prompts[0].prompt.k == len(raw) - 1


def test_mbert_prompt_spaces_its_masks(mbert):
    result = build_prompts([fact(obj="Kuala Lumpur")], {"P19": "[X] was born in [Y] ."}, mbert)
    k = len(mbert.encode_entity("Kuala Lumpur"))
    assert k >= 2
    masks = " ".join(["[MASK]"] * k)
    assert result.prompts[0].prompt.text == f"Alan Turing was born in {masks} ."


@pytest.mark.parametrize(
    "template,reason",
    [
        ("[X] was born .", "template without [Y]"),
        ("born in [Y] .", "template without [X]"),
        ("born .", "template without [X] and [Y]"),
        ("[X] in [Y] or [Y] .", "template with 2 [Y]"),
    ],
)
def test_malformed_template_is_a_counted_skip(mbert, template, reason):
    result = build_prompts([fact(), fact(obj="Paris")], {"P19": template}, mbert)
    assert result.prompts == []
    assert result.skipped_by_reason() == {reason: 2}


def test_fact_without_template_is_a_counted_skip(mbert):
    result = build_prompts([fact(relation="P999")], {"P19": "[X] was born in [Y] ."}, mbert)
    assert result.skipped_by_reason() == {"no template for relation P999": 1}


def test_subject_holding_a_mask_token_is_skipped_not_mispredicted(mbert):
    result = build_prompts([fact(subject="[MASK] Turing")], {"P19": "[X] was born in [Y] ."}, mbert)
    assert result.prompts == []
    assert result.skipped_by_reason() == {"prompt with 2 masks for k=1": 1}


def test_prompt_longer_than_the_model_allows_is_skipped(mbert):
    result = build_prompts(
        [fact(subject="word " * 40)], {"P19": "[X] was born in [Y] ."}, mbert, max_length=32
    )
    assert result.skipped_by_reason() == {"prompt longer than 32 tokens": 1}


def test_y_before_x_gets_its_own_span():
    text, span = fill_template("[Y] is the capital of [X] .", "France", "[MASK] [MASK]")
    assert text == "[MASK] [MASK] is the capital of France ."
    assert text[span[0] : span[1]] == "[MASK] [MASK]"


def test_every_x_is_filled_and_the_subject_is_nfc():
    text, span = fill_template("[X] ([X]) in [Y]", "Bogota\u0301", "<mask>")
    assert text == "Bogotá (Bogotá) in <mask>" and text[span[0] :] == "<mask>"


def test_whole_language_reader_output_makes_prompts(mlama_dir, mbert):
    language = load_language(mlama_dir, "af")
    result = build_prompts(language.facts, language.templates, mbert)
    assert len(result.prompts) + len(result.skipped) == len(language.facts) == 7353
    assert result.skipped == []
