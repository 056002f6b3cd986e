"""`factroots probe` and model loading: clear one-line errors, a tiny end-to-end run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.mlama import select_languages
from factroots.probing.model import load_masked_lm
from tests.test_probing_support import save_model, small_mlama, tiny_config, tiny_model

pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def mlama(tmp_path_factory, mlama_dir):
    return small_mlama(mlama_dir, tmp_path_factory.mktemp("mlama"), ["en", "hi"], 1)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, mbert_tokenizer_dir):
    return save_model(
        tiny_model(tiny_config("bert")), mbert_tokenizer_dir, tmp_path_factory.mktemp("bert")
    )


def test_model_dir_without_weights_is_a_one_line_error_exit_2(tmp_path, mlama, factroots_cli):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    done = factroots_cli(
        "probe",
        "--mlama",
        mlama,
        "--model",
        tmp_path,
        "--langs",
        "en",
        "--out",
        tmp_path / "p.parquet",
    )
    assert done.code == 2
    assert done.stderr.strip().count("\n") == 0 and "no model weights" in done.stderr


def test_uncached_hub_name_fails_at_once_without_downloading(tmp_path):
    with pytest.raises(FactrootsError, match="nor in the local Hugging Face cache"):
        load_masked_lm("factroots-test/no-such-model", "cpu")


def test_missing_model_directory_is_an_error(tmp_path):
    with pytest.raises(FactrootsError, match="model directory not found"):
        load_masked_lm(tmp_path / "absent", "cpu")


def test_bert_dir_without_tokenizer_json_uses_the_bundled_mbert(tmp_path):
    model_dir = tmp_path / "bert"
    tiny_model(tiny_config("bert")).save_pretrained(model_dir)
    lm = load_masked_lm(model_dir, "cpu")
    assert lm.tokenizer.path.parent.name == "mbert"


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(tmp_path, xlmr_tokenizer_dir):
    save_model(tiny_model(tiny_config("bert")), xlmr_tokenizer_dir, tmp_path)
    with pytest.raises(FactrootsError, match="250,002 ids but the model only 119,547"):
        load_masked_lm(tmp_path, "cpu")


def test_unknown_language_is_an_error_naming_it(mlama):
    with pytest.raises(FactrootsError, match="unknown mLAMA language.*xx"):
        select_languages(mlama, "en,xx")


def test_langs_all_and_duplicates(mlama):
    assert select_languages(mlama, "all") == ["en", "hi"]
    assert select_languages(mlama, "hi, en,hi") == ["hi", "en"]


def test_probe_command_writes_predictions_and_summary(bert_dir, mlama, tmp_path):
    out = tmp_path / "out" / "predictions.parquet"
    done = CliRunner().invoke(
        cli,
        [
            "probe",
            "--mlama",
            str(mlama),
            "--model",
            str(bert_dir),
            "--langs",
            "all",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--batch-size",
            "8",
        ],
    )
    assert done.exit_code == 0, done.output
    table = pd.read_parquet(out)
    summary = pd.read_csv(out.with_name("predictions.summary.csv"))
    assert sorted(table["lang"].unique()) == list(summary["lang"]) == ["en", "hi"]
    assert list(summary["facts"]) == [int((table["lang"] == lang).sum()) for lang in ["en", "hi"]]
    assert "P@1" in done.output and "wrote" in done.output
