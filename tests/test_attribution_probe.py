"""probe with attribution hooks on a tiny mBERT-vocabulary model, then attribute and similarity."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from factroots.attribution.activations import open_store  # noqa: E402
from factroots.attribution.capture import attribution_during_probe  # noqa: E402
from factroots.attribution.probeless import group_top_neurons  # noqa: E402
from factroots.cli import cli  # noqa: E402

LANGS = ["de", "en", "fr"]
LAYERS, INTERMEDIATE = 2, 32
SUBJECTS = ["Anna Berg", "Otto Lind", "Maria Holm", "Karl Sten", "Eva Dahl", "Jan Kos"]


def write_mlama(root, langs=LANGS):
    """P19: five facts with object 'Paris' and one with 'Berlin'; P20: one 'Paris' fact."""
    for lang in langs:
        folder = root / lang
        folder.mkdir(parents=True)
        templates = [
            {"relation": "P19", "template": "[X] was born in [Y] ."},
            {"relation": "P20", "template": "[X] died in [Y] ."},
        ]
        (folder / "templates.jsonl").write_text("".join(json.dumps(t) + "\n" for t in templates))
        p19 = [
            {
                "uuid": f"u{i}",
                "sub_label": s,
                "obj_label": "Berlin" if i == 5 else "Paris",
                "lineid": i,
            }
            for i, s in enumerate(SUBJECTS)
        ]
        p20 = [{"uuid": "d0", "sub_label": "Ole Brun", "obj_label": "Paris", "lineid": 0}]
        for name, rows in (("P19", p19), ("P20", p20)):
            (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """A tiny BERT that always predicts 'Paris', probed with --neurons and --save-activations."""
    from factroots.probing.model import load_masked_lm
    from factroots.probing.predict import probe
    from factroots.tokenizer import load_tokenizer

    base = tmp_path_factory.mktemp("attr")
    paris = load_tokenizer("mbert").tokenizer.token_to_id("Paris")
    config = transformers.BertConfig(
        vocab_size=119547,
        hidden_size=16,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertForMaskedLM(config).eval()
    with torch.no_grad():
        model.get_output_embeddings().bias[paris] = 1e4
    model.save_pretrained(base / "tiny")
    lm = load_masked_lm(base / "tiny", device="cpu")
    neurons, saved = base / "neurons.parquet", base / "acts"
    with attribution_during_probe(lm.model, lm.name, neurons, saved, top_k=10) as on_batch:
        result = probe(
            lm,
            write_mlama(base / "mlama"),
            LANGS,
            base / "predictions.parquet",
            batch_size=4,
            on_batch=on_batch,
        )
    return base, result, neurons, saved


def test_probe_neurons_cover_every_correct_fact(probed):
    _, result, neurons, _ = probed
    frame = pd.read_parquet(neurons)
    correct = result.predictions[result.predictions["correct"]]
    assert len(correct) == 3 * 6
    assert set(zip(frame["lang"], frame["uuid"], strict=True)) == set(
        zip(correct["lang"], correct["uuid"], strict=True)
    )


def test_probe_neurons_report_single_fact_groups(probed):
    frame = pd.read_parquet(probed[2])
    single = frame[frame["relation"] == "P20"]
    assert (single["status"] == "single-fact group").all() and (single["group_size"] == 1).all()
    assert single["top_neurons"].map(len).eq(0).all()
    ok = frame[frame["relation"] == "P19"]
    assert (ok["status"] == "ok").all() and (ok["group_size"] == 5).all()
    assert ok["top_neurons"].map(len).eq(10).all()


def test_saved_activations_hold_every_probed_fact(probed):
    store = open_store(probed[3])
    assert store.languages() == LANGS and (store.layers, store.intermediate) == (2, 32)
    array, uuids, relations = store.load("en")
    assert array.shape == (7, LAYERS * INTERMEDIATE) and sorted(uuids) == sorted(
        ["d0"] + [f"u{i}" for i in range(6)]
    )


def test_attribute_from_saved_activations_scores_each_group(probed, tmp_path):
    base, _, _, saved = probed
    out = tmp_path / "neurons.parquet"
    run = CliRunner().invoke(
        cli,
        [
            "attribute",
            "--activations",
            str(saved),
            "--predictions",
            str(base / "predictions.parquet"),
            "--out",
            str(out),
            "--top-k",
            "10",
        ],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    frame = pd.read_parquet(out)
    store = open_store(saved)
    array, uuids, _ = store.load("fr")
    rows = [uuids.index(f"u{i}") for i in range(5)]
    expected = group_top_neurons(np.asarray(array[rows], np.float32), 10)
    got = frame[(frame["lang"] == "fr") & (frame["relation"] == "P19")].set_index("uuid")
    for i in range(5):
        np.testing.assert_array_equal(got.loc[f"u{i}", "top_neurons"], expected.ids[i])


def test_similarity_after_probe_gives_a_complete_matrix(probed, tmp_path):
    out, facts = tmp_path / "matrix.csv", tmp_path / "facts.parquet"
    run = CliRunner().invoke(
        cli,
        ["similarity", "--neurons", str(probed[2]), "--out", str(out), "--per-fact", str(facts)],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    matrix = pd.read_csv(out, index_col="lang")
    assert list(matrix.index) == LANGS and list(matrix.columns) == LANGS
    assert not matrix.isna().any().any() and np.allclose(np.diag(matrix), 1.0)
    assert len(pd.read_parquet(facts)) == 3 * 5


def test_probe_command_with_neurons_then_similarity_gives_a_complete_matrix(probed, tmp_path):
    base = probed[0]
    neurons, matrix = tmp_path / "neurons.parquet", tmp_path / "matrix.csv"
    run = CliRunner().invoke(
        cli,
        [
            "probe",
            "--mlama",
            str(base / "mlama"),
            "--model",
            str(base / "tiny"),
            "--langs",
            "all",
            "--out",
            str(tmp_path / "predictions.parquet"),
            "--device",
            "cpu",
            "--neurons",
            str(neurons),
            "--top-k",
            "10",
        ],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    pd.testing.assert_frame_equal(pd.read_parquet(neurons), pd.read_parquet(probed[2]))
    run = CliRunner().invoke(
        cli, ["similarity", "--neurons", str(neurons), "--out", str(matrix)], catch_exceptions=False
    )
    assert run.exit_code == 0, run.output
    assert not pd.read_csv(matrix, index_col="lang").isna().any().any()


def test_similarity_of_a_missing_file_is_a_one_line_error(tmp_path, factroots_cli):
    run = factroots_cli(
        "similarity", "--neurons", tmp_path / "no.parquet", "--out", tmp_path / "m.csv"
    )
    assert run.code == 2
    message = f"error: neurons file not found: {tmp_path / 'no.parquet'}"
    assert run.stderr.strip().splitlines() == [message]
