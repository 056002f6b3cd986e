"""Probing causal LMs by ranking candidates, with tiny random decoders of every supported
architecture built from configs with the real mBERT tokenizer (no downloads)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from factroots.errors import FactrootsError
from factroots.mlama import Fact, load_language
from factroots.probing.causal import (
    CAUSAL_ARCHITECTURES,
    candidate_scores,
    load_causal_lm,
    model_objective,
    ranked,
    relation_candidates,
    sentence_ids,
    sentence_scores,
)
from factroots.probing.predict import probe
from tests.test_probing_support import MBERT_VOCAB, save_model, small_mlama

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LANGS = ["en", "ja"]


def tiny_causal_config(architecture: str):
    """A 2-layer, 32-wide config of `architecture` with the mBERT vocabulary ([CLS] as BOS)."""
    special = {"bos_token_id": 101, "eos_token_id": 102, "pad_token_id": 0}
    llama_like = {
        "vocab_size": MBERT_VOCAB,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
        **special,
    }
    configs = {
        "LlamaForCausalLM": lambda: transformers.LlamaConfig(**llama_like),
        "Qwen2ForCausalLM": lambda: transformers.Qwen2Config(**llama_like),
        "GemmaForCausalLM": lambda: transformers.GemmaConfig(head_dim=16, **llama_like),
        "CohereForCausalLM": lambda: transformers.CohereConfig(**llama_like),
        "BloomForCausalLM": lambda: transformers.BloomConfig(
            vocab_size=MBERT_VOCAB, hidden_size=32, n_layer=2, n_head=2, **special
        ),
        "XGLMForCausalLM": lambda: transformers.XGLMConfig(
            vocab_size=MBERT_VOCAB,
            d_model=32,
            ffn_dim=64,
            num_layers=2,
            attention_heads=2,
            max_position_embeddings=128,
            **special,
        ),
        "GPT2LMHeadModel": lambda: transformers.GPT2Config(
            vocab_size=MBERT_VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=128
        ),
    }
    return configs[architecture]()


def write_causal_model(architecture: str, target, mbert_tokenizer_dir, seed: int = 0):
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(tiny_causal_config(architecture))
    return save_model(model.eval(), mbert_tokenizer_dir, target)


@pytest.fixture(scope="module")
def mlama(tmp_path_factory, mlama_dir):
    return small_mlama(mlama_dir, tmp_path_factory.mktemp("mlama"), LANGS, 3, relations=12)


@pytest.fixture(scope="module", params=CAUSAL_ARCHITECTURES)
def causal_lm(request, tmp_path_factory, mbert_tokenizer_dir):
    target = tmp_path_factory.mktemp(request.param)
    return load_causal_lm(write_causal_model(request.param, target, mbert_tokenizer_dir), "cpu")


def candidate_sentences(lm, mlama, lang="en"):
    """Every candidate sentence of the language's first fact."""
    language = load_language(mlama, lang)
    fact = language.facts[0]
    labels = relation_candidates(language.facts)[fact.relation]
    template = language.templates[fact.relation]
    return [sentence_ids(lm, template, fact.subject, label) for label in labels]


def test_every_supported_architecture_is_recognised_as_causal(causal_lm):
    assert model_objective(causal_lm.path) == "causal"


def test_shared_prefix_scores_equal_whole_sentences_scored_one_at_a_time(causal_lm, mlama):
    sentences = candidate_sentences(causal_lm, mlama)
    alone = sentence_scores(causal_lm, sentences, batch_size=1)
    np.testing.assert_allclose(candidate_scores(causal_lm, sentences, 3), alone, rtol=1e-4)
    np.testing.assert_allclose(sentence_scores(causal_lm, sentences, 4), alone, rtol=1e-4)


def test_a_sentence_score_is_the_sum_of_its_token_log_probabilities(causal_lm, mlama):
    sentence = candidate_sentences(causal_lm, mlama)[0]
    with torch.inference_mode():
        logits = causal_lm.model(input_ids=torch.tensor([sentence])).logits[0].double()
    log_probs = torch.log_softmax(logits, -1)
    expected = sum(float(log_probs[i, sentence[i + 1]]) for i in range(len(sentence) - 1))
    assert sentence_scores(causal_lm, [sentence])[0] == pytest.approx(expected, rel=1e-4)


def test_a_masked_model_is_recognised_and_anything_else_named_unsupported(tmp_path):
    for name, architectures in (("m", ["BertForMaskedLM"]), ("t", ["T5ForConditionalGeneration"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"architectures": architectures}))
        (tmp_path / name / "model.safetensors").write_bytes(b"")
    assert model_objective(tmp_path / "m") == "masked"
    with pytest.raises(FactrootsError, match="not supported .*GPT2LMHeadModel"):
        model_objective(tmp_path / "t")


def test_the_gold_is_correct_only_when_it_scores_strictly_highest():
    labels, lengths = ["a", "b", "c"], [3, 3, 3]
    assert ranked(labels, np.array([-1.0, -2.0, -3.0]), "a", lengths).correct
    tie = ranked(labels, np.array([-1.0, -1.0, -3.0]), "a", lengths)
    assert not tie.correct and tie.rank == 2
    third = ranked(labels, np.array([-3.0, -2.0, -1.0]), "a", lengths)
    assert third.rank == 3 and third.top[:3] == ["c", "b", "a"]


def test_candidates_are_one_label_per_object_uri_and_distinct_labels():
    def fact(uri, label):
        return Fact("en", "P1", uri + label, 0, "s", label, "S", uri)

    facts = [fact("Q1", "A"), fact("Q1", "A2"), fact("Q2", "B"), fact("Q3", "A")]
    assert relation_candidates(facts) == {"P1": ["A", "B"]}


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, mbert_tokenizer_dir):
    target = tmp_path_factory.mktemp("gpt2")
    return write_causal_model("GPT2LMHeadModel", target, mbert_tokenizer_dir)


def test_causal_probe_writes_ranks_scores_and_top_candidates(gpt2_dir, mlama, tmp_path):
    lm = load_causal_lm(gpt2_dir, "cpu")
    result = probe(lm, mlama, LANGS, tmp_path / "p.parquet", 8)
    rows = pd.read_parquet(tmp_path / "p.parquet")
    assert set(rows["objective"]) == {"causal"} and set(rows["lang"]) == set(LANGS)
    assert (
        rows["correct"] == (rows["gold_rank"] == 1) & (rows["prediction"] == rows["object"])
    ).all()
    assert (rows["top5_candidates"].map(len) == rows["candidates"].clip(upper=5)).all()
    assert (rows["gold_score_per_token"] >= rows["gold_score"]).all()
    assert list(result.summary["lang"]) == LANGS


def test_cli_probes_a_causal_model_by_its_config_with_neurons(
    gpt2_dir, mlama, tmp_path, factroots_cli
):
    """Capturing neurons, the probe predicts what it predicts without them."""
    args = ["probe", "--mlama", mlama, "--model", gpt2_dir, "--langs", "en,ja"]
    done = factroots_cli(*args, "--out", tmp_path / "p.parquet", "--neurons", tmp_path / "n.pq")
    assert done.code == 0, done.stderr
    assert (tmp_path / "n.pq").is_file()
    probe(load_causal_lm(gpt2_dir, "cpu"), mlama, LANGS, tmp_path / "q.parquet", 8)
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert got["objective"].eq("causal").all()
    pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / "q.parquet"))


def test_gold_positions_are_the_tokens_before_each_object_token(causal_lm, mlama):
    from factroots.probing.causal import gold_sentence

    language = load_language(mlama, "en")
    for fact in language.facts[:6]:
        ids, positions = gold_sentence(causal_lm, language.templates[fact.relation], fact)
        object_ids = causal_lm.tokenizer.encode_entity(fact.object)
        assert [ids[p + 1] for p in positions] == object_ids


def test_ffn_hooks_fire_once_per_layer_with_the_down_projection_width_and_keep_scores(
    causal_lm, mlama
):
    from factroots.attribution.activations import capture_ffn_activations

    sentences = candidate_sentences(causal_lm, mlama)[:3]
    before = sentence_scores(causal_lm, sentences)
    with capture_ffn_activations(causal_lm.model) as capture:
        with torch.inference_mode():
            causal_lm.model(input_ids=torch.tensor([sentences[0]]))
        outputs = capture.layer_outputs()
        assert [len(parts) for parts in capture.outputs] == [1] * capture.layers
        assert capture.layers == 2
        assert all(o.shape == (1, len(sentences[0]), capture.intermediate) for o in outputs)
        capture.clear()
        during = sentence_scores(causal_lm, sentences)
    np.testing.assert_allclose(during, before, rtol=1e-6)


def test_causal_neurons_come_from_the_same_facts_as_its_correct_predictions(
    causal_lm, mlama, tmp_path
):
    """One language per architecture (every language is probed by the GPT-2 tests; capturing
    leaves every architecture's scores as they are: the hook test above)."""
    from factroots.attribution.capture import probe_and_attribute

    run = probe_and_attribute(
        causal_lm, mlama, LANGS[:1], tmp_path / "p.parquet", 4, neurons=tmp_path / "n.parquet"
    )
    neurons = pd.read_parquet(tmp_path / "n.parquet")
    correct = run.result.predictions.query("correct")
    assert len(correct) > 0  # a relation with one candidate makes its facts correct
    got = set(zip(neurons["lang"], neurons["uuid"], strict=True))
    assert got == set(zip(correct["lang"], correct["uuid"], strict=True))


class Interrupt(Exception):
    pass


def test_causal_probe_interrupted_inside_a_language_resumes_from_its_checkpoints(
    gpt2_dir, mlama, tmp_path, monkeypatch
):
    from factroots.probing import causal as causal_module
    from factroots.probing import checkpoints as checkpoints_module

    lm = load_causal_lm(gpt2_dir, "cpu")
    full = probe(lm, mlama, LANGS, tmp_path / "full.parquet", 2)
    monkeypatch.setattr(checkpoints_module, "CHECKPOINT_PROMPTS", 1)
    score, ranked_here = causal_module.candidate_scores, []

    def interrupted(model, sentences, batch_size):
        ranked_here.append(1)
        if stop["after"] is not None and len(ranked_here) > stop["after"]:
            raise Interrupt
        return score(model, sentences, batch_size)

    facts = [len(load_language(mlama, lang).facts) for lang in LANGS]
    stop = {"after": facts[0] + 3}  # the first language and 3 facts of the second
    monkeypatch.setattr(causal_module, "candidate_scores", interrupted)
    with pytest.raises(Interrupt):
        probe(lm, mlama, LANGS, tmp_path / "p.parquet", 2)
    ranked_here.clear()
    stop["after"] = None
    result = probe(lm, mlama, LANGS, tmp_path / "p.parquet", 2)
    assert result.resumed == LANGS[:1]
    assert len(ranked_here) == facts[1] - 2  # checkpoints hold the facts of whole batches of 2
    pd.testing.assert_frame_equal(result.predictions, full.predictions)


def test_continuation_batches_hold_one_length_each_and_every_sentence_once():
    from factroots.probing.causal import _same_length_batches

    sentences = [[1] * n for n in (3, 5, 3, 4, 5, 5, 3, 2)]
    batches = _same_length_batches(sentences, 2)
    assert sorted(i for b in batches for i in b) == list(range(len(sentences)))
    assert all(len({len(sentences[i]) for i in b}) == 1 and len(b) <= 2 for b in batches)


# -- a rigged decoder: the same next-token distribution at every position, favouring one id ------

RIG_LOGIT = 10.0


def rig_gpt2(model, favourite: int) -> None:
    """GPT-2 (head tied to the embeddings): the final LayerNorm outputs the constant e_0, and
    only the favourite's embedding has a 0th component, so its logit is RIG_LOGIT and every
    other is 0, whatever the text."""
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.zero_()
        model.transformer.ln_f.bias[0] = RIG_LOGIT
        model.transformer.wte.weight[:, 0] = 0.0
        model.transformer.wte.weight[favourite, 0] = 1.0


def rig_llama(model, favourite: int) -> None:
    """Llama (untied head): every token embeds alike, so every position's final hidden state
    h is the same whatever the text; the head's only non-zero row is the favourite's, h
    scaled so that its logit is RIG_LOGIT."""
    with torch.no_grad():
        embed = model.model.embed_tokens.weight
        embed[:] = embed[101].clone()  # row 0 is the padding row: zeros
        hidden = model.model(input_ids=torch.tensor([[101, 102, 103]])).last_hidden_state[0, 0]
        model.lm_head.weight.zero_()
        model.lm_head.weight[favourite] = hidden * (RIG_LOGIT / float(hidden @ hidden))


@dataclass
class RiggedOutcome:
    """What the rigged decoder must do with one fact: its gold sentence's log-likelihood, and
    whether the gold is favoured over every other candidate, tied with the best other, or beaten."""

    gold_score: float
    verdict: str


def expected_outcomes(mlama, lang: str, tokenizer_json, favourite: int) -> dict[str, RiggedOutcome]:
    """Each fact's outcome under the rig, by uuid.

    Under a context-free distribution a sentence's log-likelihood is count(favourite) ·
    RIG_LOGIT less one log-sum-exp per token, so it is fixed by (favourite count, length). A gold
    whose pair is also the best other's is tied: equal in exact arithmetic, so float rounding
    decides the model's verdict. Sentences tokenized here, by the tokenizer itself, from the
    template with [X] and [Y] replaced."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    language = load_language(mlama, lang)
    candidates = relation_candidates(language.facts)
    log_z = float(np.log(np.exp(RIG_LOGIT) + MBERT_VOCAB - 1))

    def pair(template: str, subject: str, label: str) -> tuple[int, int]:
        text = template.replace("[X]", subject).replace("[Y]", label)
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        return ids.count(favourite), len(ids)

    def score(count_and_length: tuple[int, int]) -> float:
        count, length = count_and_length
        return count * RIG_LOGIT - length * log_z

    outcomes = {}
    for fact in language.facts:
        template = language.templates[fact.relation]
        gold = pair(template, fact.subject, fact.object)
        others = [
            pair(template, fact.subject, c) for c in candidates[fact.relation] if c != fact.object
        ]
        best = max(map(score, others), default=-np.inf)
        if gold in others and score(gold) == best:
            verdict = "tied"
        else:
            verdict = "favoured" if score(gold) > best else "beaten"
        outcomes[fact.uuid] = RiggedOutcome(score(gold), verdict)
    return outcomes


@pytest.mark.parametrize(
    "architecture, rig", [("GPT2LMHeadModel", rig_gpt2), ("LlamaForCausalLM", rig_llama)]
)
def test_a_rigged_decoder_marks_correct_exactly_the_facts_whose_gold_it_favours(
    architecture, rig, mlama, mbert_tokenizer_dir, tmp_path, factroots_cli
):
    tokenizer_json = mbert_tokenizer_dir / "tokenizer.json"
    english = load_language(mlama, "en")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    single = [
        f for f in english.facts if len(tokenizer.encode(f.object, add_special_tokens=False)) == 1
    ]
    favourite = tokenizer.encode(single[0].object, add_special_tokens=False).ids[0]
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_causal_config(architecture))
    rig(model.eval(), favourite)
    model_dir = save_model(model, mbert_tokenizer_dir, tmp_path / "rigged")
    out = tmp_path / "p.parquet"
    done = factroots_cli(
        "probe", "--mlama", mlama, "--model", model_dir, "--langs", "en", "--out", out
    )
    assert done.code == 0, done.stderr
    rows = pd.read_parquet(out).set_index("uuid")
    outcomes = expected_outcomes(mlama, "en", tokenizer_json, favourite)
    verdicts = {uuid: o.verdict for uuid, o in outcomes.items()}
    assert verdicts[single[0].uuid] == "favoured" and "beaten" in verdicts.values()
    assert rows["gold_score"].to_dict() == pytest.approx(
        {uuid: o.gold_score for uuid, o in outcomes.items()}, abs=1e-3
    )
    for uuid, verdict in verdicts.items():
        if verdict != "tied":  # a tie is decided by rounding, either way
            assert rows.at[uuid, "correct"] == (verdict == "favoured"), uuid


def test_a_decoder_with_the_xlmr_vocabulary_probes_like_one_at_a_time(
    xlmr_tokenizer_dir, mlama, tmp_path
):
    xlmr = json.loads((xlmr_tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config = transformers.Qwen2Config(
        vocab_size=len(xlmr["model"]["vocab"]),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=0,  # <s>
        eos_token_id=2,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    lm = load_causal_lm(save_model(model, xlmr_tokenizer_dir, tmp_path / "qwen2-xlmr"), "cpu")
    for lang in LANGS:
        sentences = candidate_sentences(lm, mlama, lang)
        assert all(s[0] == 0 and len(s) > 2 for s in sentences)
        alone = sentence_scores(lm, sentences, batch_size=1)
        np.testing.assert_allclose(candidate_scores(lm, sentences, 3), alone, rtol=1e-4)
    result = probe(lm, mlama, LANGS, tmp_path / "p.parquet", 8)
    assert list(result.summary["lang"]) == LANGS


def test_models_without_logits_to_keep_score_the_same(gpt2_dir, mlama, monkeypatch):
    from factroots.probing import causal as causal_module

    lm = load_causal_lm(gpt2_dir, "cpu")
    sentences = candidate_sentences(lm, mlama)
    kept = candidate_scores(lm, sentences, 3), sentence_scores(lm, sentences, 4)
    monkeypatch.setattr(causal_module, "_all_but_last", lambda *_: {})  # Bloom, XGLM before 5.0
    full = candidate_scores(lm, sentences, 3), sentence_scores(lm, sentences, 4)
    for a, b in zip(kept, full, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
