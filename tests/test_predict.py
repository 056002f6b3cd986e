"""Prediction with tiny random and rigged BERT / XLM-R models built from configs (no downloads)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from factroots.errors import FactrootsError
from factroots.mlama import load_language
from factroots.probing import checkpoints as checkpoints_module
from factroots.probing import predict as predict_module
from factroots.probing.model import load_masked_lm
from factroots.probing.predict import (
    SCHEMA,
    length_batches,
    make_batch,
    mask_logits,
    parts_dir,
    predict_prompts,
    probe,
    summary_path,
)
from factroots.probing.prompts import build_prompts, mask_token
from factroots.tokenizer import load_tokenizer
from tests.test_probing_support import (
    rig_by_position,
    save_model,
    small_mlama,
    tiny_config,
    tiny_model,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

LANGS = ["en", "ja", "th"]
PER_RELATION = 2
RIGGED_POSITIONS = 62


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run faster on one thread than on a busy shared pair of cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mlama(tmp_path_factory, mlama_dir):
    target = tmp_path_factory.mktemp("mlama")
    return small_mlama(mlama_dir, target, LANGS, PER_RELATION, relations=15)


def tokenizer_dir(kind, mbert_tokenizer_dir, xlmr_tokenizer_dir):
    return mbert_tokenizer_dir if kind == "bert" else xlmr_tokenizer_dir


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def random_lm(request, tmp_path_factory, mbert_tokenizer_dir, xlmr_tokenizer_dir):
    kind = request.param
    target = tmp_path_factory.mktemp(f"random-{kind}")
    save_model(
        tiny_model(tiny_config(kind)),
        tokenizer_dir(kind, mbert_tokenizer_dir, xlmr_tokenizer_dir),
        target,
    )
    return load_masked_lm(target, "cpu")


@pytest.fixture(scope="module")
def random_run(random_lm, mlama, tmp_path_factory):
    """One uninterrupted probe of LANGS with the random model."""
    return probe(random_lm, mlama, LANGS, tmp_path_factory.mktemp("run") / "p.parquet", 16)


def all_prompts(tokenizer, mlama, max_length):
    prompts = []
    for lang in LANGS:
        language = load_language(mlama, lang)
        prompts += build_prompts(language.facts, language.templates, tokenizer, max_length).prompts
    return prompts


def matching(prompts, targets):
    """Prompts whose every mask position has a target equal to the object's id there."""
    return [
        p
        for p in prompts
        if all(
            targets.get(pos) == token
            for pos, token in zip(p.mask_positions, p.prompt.object_ids, strict=True)
        )
    ]


def chosen_targets(prompts):
    """Mask position → object id for three facts (one multi-token) that no other fact matches."""
    targets, chosen = {}, []
    by_k = sorted(prompts, key=lambda p: (-p.prompt.k, p.prompt.fact.uuid))
    for p in [by_k[0]] + by_k[len(by_k) // 2 :]:
        if len(chosen) == 3:
            break
        if any(pos in targets for pos in p.mask_positions) or max(p.mask_positions) >= 60:
            continue
        trial = {**targets, **dict(zip(p.mask_positions, p.prompt.object_ids, strict=True))}
        if matching(prompts, trial) == sorted(chosen + [p], key=prompts.index):
            targets, chosen = trial, chosen + [p]
    return targets, chosen


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def rigged(request, tmp_path_factory, mlama, mbert_tokenizer_dir, xlmr_tokenizer_dir):
    """A rigged model directory, its targets by mask position and the facts chosen for them."""
    kind = request.param
    tok_dir = tokenizer_dir(kind, mbert_tokenizer_dir, xlmr_tokenizer_dir)
    prompts = all_prompts(load_tokenizer(tok_dir), mlama, RIGGED_POSITIONS)
    targets, chosen = chosen_targets(prompts)
    model = tiny_model(tiny_config(kind, hidden=64, positions=RIGGED_POSITIONS, tied=False))
    rig_by_position(model, targets)
    target = tmp_path_factory.mktemp(f"rigged-{kind}")
    save_model(model, tok_dir, target)
    return target, targets, chosen


def key(fact) -> tuple[str, str]:
    return fact.lang, fact.uuid


def test_output_has_the_promised_columns_and_one_row_per_fact(random_run, mlama):
    table = pd.read_parquet(random_run.out)
    assert list(table.columns) == SCHEMA.names
    assert len(table) == sum(len(load_language(mlama, lang).facts) for lang in LANGS)
    pd.testing.assert_frame_equal(random_run.predictions, table)


def test_each_fact_gets_k_predictions_with_top5_and_correct_iff_all_ids_match(random_run):
    for row in random_run.predictions.itertuples():
        assert len(row.object_ids) == len(row.predicted_ids) == len(row.top5_ids) == row.k
        assert all(
            len(top) == 5 and top[0] == pred
            for top, pred in zip(row.top5_ids, row.predicted_ids, strict=True)
        )
        assert row.correct == (list(row.object_ids) == list(row.predicted_ids))


def test_prediction_text_decodes_the_predicted_ids(random_run, random_lm):
    for row in random_run.predictions.head(20).itertuples():
        decoded = random_lm.tokenizer.tokenizer.decode(
            list(row.predicted_ids), skip_special_tokens=False
        )
        assert row.prediction == decoded.strip()


def lm_prompts(lm, mlama):
    return all_prompts(lm.tokenizer, mlama, lm.max_length)


def test_lm_head_at_masks_equals_full_model_logits_there(random_lm, mlama):
    prompts = lm_prompts(random_lm, mlama)[:12]
    batch = make_batch(prompts, random_lm.model.config.pad_token_id, "cpu")
    with torch.inference_mode():
        fast = mask_logits(random_lm.model, batch)
        full = random_lm.model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask
        ).logits
    torch.testing.assert_close(fast, full[batch.mask_rows, batch.mask_cols])


def test_repeated_runs_give_identical_predictions(random_lm, mlama):
    prompts = lm_prompts(random_lm, mlama)[:40]
    assert predict_prompts(random_lm, prompts, 16) == predict_prompts(random_lm, prompts, 16)


def test_rigged_model_marks_exactly_the_chosen_facts_correct(rigged, mlama, tmp_path):
    model_dir, targets, chosen = rigged
    lm = load_masked_lm(model_dir, "cpu")
    table = probe(lm, mlama, LANGS, tmp_path / "p.parquet", batch_size=8).predictions
    correct = set(zip(table.lang[table.correct], table.uuid[table.correct], strict=True))
    assert correct == {key(p.prompt.fact) for p in chosen}
    assert any(p.prompt.k > 1 for p in chosen)


def test_rigged_predictions_do_not_depend_on_batch_size(rigged, mlama):
    lm = load_masked_lm(rigged[0], "cpu")
    prompts = lm_prompts(lm, mlama)[::4]
    assert predict_prompts(lm, prompts, 2) == predict_prompts(lm, prompts, 7)


def test_on_batch_sees_the_same_forward_pass_and_its_masks(random_lm, mlama):
    prompts = lm_prompts(random_lm, mlama)
    mask_id = mask_token(random_lm.tokenizer).id
    captured, seen = {}, []
    layer = random_lm.model.base_model.encoder.layer[-1].intermediate
    handle = layer.register_forward_hook(lambda m, i, out: captured.update(out=out))

    def on_batch(batch, predictions):
        assert captured["out"].shape[:2] == batch.input_ids.shape
        assert bool((batch.input_ids[batch.mask_rows, batch.mask_cols] == mask_id).all())
        assert len(predictions) == len(batch.facts) == len(batch.mask_positions)
        seen.extend(batch.facts)
        captured.clear()

    try:
        predict_prompts(random_lm, prompts, 16, on_batch=on_batch)
    finally:
        handle.remove()
    assert sorted(seen, key=str) == sorted((p.prompt.fact for p in prompts), key=str)


class Interrupt(Exception):
    pass


def test_resumed_run_computes_only_unfinished_languages_and_equals_a_full_run(
    random_lm, mlama, random_run, tmp_path
):

    def stop_in_second_language(batch, predictions):
        if batch.facts[0].lang == LANGS[1]:
            raise Interrupt

    out = tmp_path / "resumed.parquet"
    with pytest.raises(Interrupt):
        probe(random_lm, mlama, LANGS, out, 16, on_batch=stop_in_second_language)
    assert not out.exists()
    started = []
    result = probe(random_lm, mlama, LANGS, out, 16, on_start=lambda lang, n: started.append(lang))
    assert started == result.computed == LANGS[1:] and result.resumed == LANGS[:1]
    pd.testing.assert_frame_equal(result.predictions, random_run.predictions)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(random_run.out))


def language_batches(lm, mlama, lang, batch_size):
    language = load_language(mlama, lang)
    prompts = build_prompts(language.facts, language.templates, lm.tokenizer, lm.max_length)
    return length_batches(prompts.prompts, batch_size)


def test_language_interrupted_midway_resumes_from_its_checkpoints_and_equals_a_full_run(
    random_lm, mlama, tmp_path, monkeypatch
):
    full = probe(random_lm, mlama, LANGS, tmp_path / "full.parquet", 4)
    monkeypatch.setattr(checkpoints_module, "CHECKPOINT_PROMPTS", 1)  # each batch saved at once
    forward, passes, stop = predict_module.mask_logits, [], {"after": 2}

    def interrupted(model, batch):
        lang = batch.facts[0].lang
        if lang == LANGS[1] and passes.count(lang) == stop["after"]:
            raise Interrupt
        passes.append(lang)
        return forward(model, batch)

    monkeypatch.setattr(predict_module, "mask_logits", interrupted)
    out = tmp_path / "resumed.parquet"
    with pytest.raises(Interrupt):
        probe(random_lm, mlama, LANGS, out, 4)
    passes.clear()
    stop["after"] = -1
    result = probe(random_lm, mlama, LANGS, out, 4)
    assert result.resumed == LANGS[:1] and result.computed == LANGS[1:]
    assert passes.count(LANGS[1]) == len(language_batches(random_lm, mlama, LANGS[1], 4)) - 2
    pd.testing.assert_frame_equal(result.predictions, full.predictions)
    assert not parts_dir(out).exists()


def test_finished_run_writes_summary_csv_and_removes_its_parts(random_run):
    written = pd.read_csv(summary_path(random_run.out))
    assert list(written["lang"]) == LANGS
    assert list(written["facts"]) == list(random_run.summary.facts)
    assert not parts_dir(random_run.out).exists()


def test_parts_of_another_run_are_refused(random_lm, mlama, tmp_path):
    out = tmp_path / "p.parquet"
    parts_dir(out).mkdir()
    (parts_dir(out) / "run.json").write_text(json.dumps({"model": "/elsewhere"}))
    with pytest.raises(FactrootsError, match="different run"):
        probe(random_lm, mlama, LANGS, out, 16)


KILLED_PROBE = """
import sys, time
from pathlib import Path
from factroots.probing import checkpoints, predict
from factroots.probing.model import load_masked_lm

model, mlama, out, marker = sys.argv[1:5]
checkpoints.CHECKPOINT_PROMPTS = 1  # every batch is saved as soon as it is done
seen = {"second": 0}

def on_progress(n):
    if seen.get("lang") == sys.argv[5]:
        seen["second"] += 1
        if seen["second"] == 2:
            Path(marker).write_text("2 batches of the second language done")
            time.sleep(120)  # killed here

def on_start(lang, n):
    seen["lang"] = lang

predict.probe(load_masked_lm(model, "cpu"), mlama, sys.argv[6].split(","), out, 4,
              on_progress=on_progress, on_start=on_start)
"""


@pytest.mark.parametrize("random_lm", ["bert"], indirect=True)
def test_probe_killed_inside_a_language_resumes_from_its_checkpoints(random_lm, mlama, tmp_path):
    """A probe SIGKILLed in its second language (one model kind: the checkpoints know nothing of
    the model, and both kinds resume from an interruption in the test above)."""
    import signal
    import subprocess
    import sys
    import time

    full = probe(random_lm, mlama, LANGS, tmp_path / "full.parquet", 4)
    out, marker = tmp_path / "killed.parquet", tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_PROBE, str(random_lm.path), str(mlama), str(out)]
        + [str(marker), LANGS[1], ",".join(LANGS)]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the probe never reached its second language"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    saved = list((parts_dir(out) / f"{LANGS[1]}.batch-4").glob("*.parquet"))
    assert len(saved) >= 2
    forward, passes = predict_module.mask_logits, []

    def counted(model, batch):
        passes.append(batch.facts[0].lang)
        return forward(model, batch)

    predict_module.mask_logits = counted
    try:
        result = probe(random_lm, mlama, LANGS, out, 4)
    finally:
        predict_module.mask_logits = forward
    assert result.resumed == LANGS[:1]
    whole = len(language_batches(random_lm, mlama, LANGS[1], 4))
    assert passes.count(LANGS[1]) == whole - len(saved)
    pd.testing.assert_frame_equal(result.predictions, full.predictions)
