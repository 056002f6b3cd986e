"""build_report end to end on synthetic traces, predictions, neurons and index manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from factroots.errors import FactrootsError
from factroots.indexer.manifest import Counts, Manifest

LANGS_53 = (
    "af ar az be bg bn ca ceb cs cy da de el en es et eu fa fi fr ga gl he hi hr hu "
    "hy id it ja ka ko la lt lv ms nl pl pt ro ru sk sl sq sr sv ta th tr uk ur vi "
    "zh"
).split()
RELATIONS = ["P17", "P19", "P36", "P103", "P138", "P176", "P279", "P1412"]


def synthetic_inputs(
    langs: list[str],
    facts_per_lang: int = 60,
    seed: int = 0,
    models: tuple[str, ...] = ("mbert", "xlmr"),
) -> tuple[pd.DataFrame, ...]:
    """Trace, predictions and neurons with plausible structure: bigger languages know more."""
    rng = np.random.default_rng(seed)
    uuids = [f"u{i:04d}" for i in range(facts_per_lang)]
    strength = {lang: rng.uniform(0.05, 0.6) for lang in langs}
    trace_rows, pred_rows, neuron_rows = [], [], []
    for lang in langs:
        for i, uuid in enumerate(uuids):
            relation = RELATIONS[i % len(RELATIONS)]
            subject, obj = f"Subj{i} {lang}", ("Subj" if i % 7 == 0 else f"Obj{i % 13}")
            k = 1 + i % 4
            untraceable = i % 17 == 0
            trace_rows.append(
                {
                    "lang": lang,
                    "relation": relation,
                    "uuid": uuid,
                    "subject": subject,
                    "object": obj,
                    "mode": "words",
                    "tokenizer": "mbert",
                    "subject_lines": 3,
                    "object_lines": 5,
                    "cooccur_lines": 1,
                    "present": None if untraceable else bool(rng.random() < strength[lang] + 0.2),
                    "status": "untraceable" if untraceable else "ok",
                }
            )
            for model in models:
                correct = bool(rng.random() < strength[lang] / k)
                pred_rows.append(
                    {
                        "model": model,
                        "lang": lang,
                        "relation": relation,
                        "uuid": uuid,
                        "subject": subject,
                        "object": obj,
                        "obj_uri": f"Q{i % 13}",
                        "k": k,
                        "object_ids": [1] * k,
                        "predicted_ids": [1 if correct else 2] * k,
                        "top5_ids": [[1, 2, 3, 4, 5]] * k,
                        "prediction": obj if correct else "x",
                        "correct": correct,
                    }
                )
                if correct:
                    base = (hash(lang[0]) % 5) * 100
                    top = rng.choice(np.arange(base, base + 400), size=50, replace=False)
                    neuron_rows.append(
                        {
                            "model": model,
                            "lang": lang,
                            "relation": relation,
                            "uuid": uuid,
                            "group_size": 5,
                            "status": "ok",
                            "top_neurons": top.astype(np.int32),
                            "top_scores": np.sort(rng.random(50))[::-1],
                        }
                    )
    trace = pd.DataFrame(trace_rows)
    trace["present"] = trace["present"].astype("boolean")
    return trace, pd.DataFrame(pred_rows), pd.DataFrame(neuron_rows)


def write_manifests(root: Path, langs: list[str], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for lang in langs:
        directory = root / "mbert" / lang
        directory.mkdir(parents=True)
        size = int(10 ** rng.uniform(6, 10))
        Manifest(
            language=lang,
            tokenizer_name="mbert",
            tokenizer_sha256="0" * 64,
            max_tokens=512,
            input_root="/synthetic",
            sources=[],
            counts=Counts(text_bytes=size, first_paragraph_bytes=size // 20),
            build_seconds=0.0,
            factroots_version="test",
        ).write(directory)
    return root


def write_activations(folder: Path, langs: list[str], facts: int = 6, seed: int = 0) -> Path:
    """A small saved-activation store (3 layers × 32 neurons) for model 'mbert'."""
    from factroots.attribution.activations import ActivationWriter

    rng = np.random.default_rng(seed)
    writer = ActivationWriter(folder, "mbert", layers=3, intermediate=32)
    for lang in langs:
        uuids = [f"u{i:04d}" for i in range(facts)]
        writer.add(lang, uuids, ["P17"] * facts, rng.gamma(1.0, 0.3, (facts, 3 * 32)) - 0.1)
    writer.close()
    return folder


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    from factroots.report.build import build_report

    langs = LANGS_53[:12]
    base = tmp_path_factory.mktemp("report")
    trace, predictions, neurons = synthetic_inputs(langs)
    root = write_manifests(base / "indexes", langs)
    activations = write_activations(base / "activations", langs)
    return build_report(
        trace, predictions, base / "out", neurons=neurons, root=root, activations=activations
    )


@pytest.fixture(scope="module")
def bare_report(tmp_path_factory):
    from factroots.report.build import build_report

    trace, predictions, _ = synthetic_inputs(LANGS_53[:5], models=("mbert",))
    with pytest.MonkeyPatch.context() as patch:
        only_png(patch)
        return build_report(trace, predictions, tmp_path_factory.mktemp("bare"))


def only_png(patch: pytest.MonkeyPatch) -> None:
    """Figures drawn in PNG alone, for the reports that test something else than the figures'
    formats (drawing is most of a report's time; every format is checked on the full report)."""
    from factroots.report import figures

    patch.setattr(figures, "FORMATS", (".png",))


@pytest.fixture
def png_only(monkeypatch):
    only_png(monkeypatch)


EXPECTED_FIGURES = [
    "figure2_size_vs_p_at_1.png",
    "figure3_shared_facts_mbert.png",
    "figure3_shared_facts_xlmr.png",
    "figure4_layer_activity_mbert.png",
    "figure5_neuron_similarity_mbert.png",
    "figure5_neuron_similarity_xlmr.png",
    "figure6_absence_words_mbert.png",
    "figure7_absent_predicted_words_mbert.png",
]
EXPECTED_TABLES = [
    "table1_probing.csv",
    "table1_summary.csv",
    "p_at_1_by_relation.csv",
    "table2_p_at_1.csv",
    "p_at_1_by_masks.csv",
    "mask_rates.csv",
    "factors.csv",
    "corpus_sizes.csv",
    "shared_facts_mbert.csv",
    "absence.csv",
    "absent_predicted.csv",
    "absent_predicted_shared-entity-tokens.csv",
    "absent_predicted_naming-cues.csv",
    "absent_predicted_others.csv",
    "neuron_similarity_mbert.csv",
]


@pytest.mark.parametrize("name", EXPECTED_FIGURES)
def test_every_figure_is_written_as_a_non_empty_png(full_report, name):
    path = full_report.out_dir / name
    assert name in full_report.figures
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000


@pytest.mark.parametrize("name", EXPECTED_FIGURES)
def test_every_figure_is_also_written_as_svg_and_pdf(full_report, name):
    path = full_report.out_dir / name
    assert b"<svg" in path.with_suffix(".svg").read_bytes()[:1000]
    assert path.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("name", EXPECTED_TABLES)
def test_every_table_is_written_as_a_csv(full_report, name):
    assert name in full_report.tables
    assert (full_report.out_dir / name).read_text().strip()


def test_report_md_references_every_figure_and_table(full_report):
    text = full_report.markdown.read_text()
    for name in full_report.figures:
        assert f"]({name})" in text
    for name in full_report.tables:
        assert f"]({name})" in text


def test_report_html_embeds_every_figure(full_report):
    text = full_report.html.read_text()
    assert text.count("src='data:image/png;base64,") == len(full_report.figures)
    assert all(name in text for name in full_report.tables)


def test_factors_table_has_size_and_masks_factors_per_model(full_report):
    factors = pd.read_csv(full_report.out_dir / "factors.csv")
    assert set(zip(factors["model"], factors["factor"], strict=True)) == {
        (m, f)
        for m in ("mbert", "xlmr")
        for f in ("text_bytes", "first_paragraph_bytes", "number_of_masks")
    }


def test_missing_root_and_neurons_are_noted_instead_of_failing(bare_report):
    text = bare_report.markdown.read_text()
    assert "No index root given" in text
    assert "No neurons given" in text
    assert "No saved activations given" in text
    assert "Figure 4 (" not in text
    assert not any(
        name.startswith(("figure2", "figure4", "figure5")) for name in bare_report.figures
    )


def test_figure4_fact_is_the_one_correct_in_the_most_languages(tmp_path):
    from factroots.attribution.activations import open_store
    from factroots.report.activity import chosen_fact

    store = open_store(write_activations(tmp_path / "acts", ["de", "en", "fr"]))
    predictions = pd.DataFrame(
        {
            "model": "mbert",
            "lang": ["en", "fr", "en", "de"],
            "uuid": ["u0002", "u0002", "u0001", "u0003"],
            "correct": [True, True, True, False],
        }
    )
    assert chosen_fact(store, predictions) == "u0002"
    assert chosen_fact(store) == "u0000"


def test_figure4_bins_are_layers_by_bins_per_language(tmp_path):
    from factroots.report.activity import fact_activity

    activity = fact_activity(write_activations(tmp_path / "acts", ["en", "fr"]), "u0003", bins=4)
    assert activity.uuid == "u0003"
    assert sorted(activity.bins) == ["en", "fr"]
    assert activity.bins["en"].shape == (3, 4)


def test_missing_prediction_column_is_a_clear_error(tmp_path):
    from factroots.errors import FactrootsError
    from factroots.report.build import build_report

    trace, predictions, _ = synthetic_inputs(LANGS_53[:2], facts_per_lang=5, models=("m",))
    with pytest.raises(FactrootsError, match="obj_uri"):
        build_report(trace, predictions.drop(columns="obj_uri"), tmp_path)


def test_cli_report_writes_the_report(tmp_path, png_only):
    from click.testing import CliRunner

    from factroots.cli import cli

    trace, predictions, _ = synthetic_inputs(LANGS_53[:3], facts_per_lang=20, models=("m",))
    for name, frame in (("t", trace), ("p", predictions)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--trace",
            str(tmp_path / "t.parquet"),
            "--predictions",
            str(tmp_path / "p.parquet"),
            "--naming-relations",
            "P36",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").is_file()
    assert "naming cues (relation in P36)" in (tmp_path / "out" / "report.md").read_text()


def test_a_root_that_does_not_exist_is_an_error_not_a_missing_figure(tmp_path):
    from factroots.report.build import build_report

    trace, predictions, neurons = synthetic_inputs(LANGS_53[:3])
    with pytest.raises(FactrootsError, match="index root .* does not exist"):
        build_report(trace, predictions, tmp_path / "out", root=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()


def write_inputs(folder: Path, langs: list[str]) -> dict[str, Path]:
    """Traces of both modes and predictions of two models, each in a file of its own."""
    trace, predictions, _ = synthetic_inputs(langs, facts_per_lang=20, models=("m1", "m2"))
    files = {"words": trace, "tokens": trace.assign(mode="tokens")}
    files |= {model: predictions[predictions["model"] == model] for model in ("m1", "m2")}
    paths = {}
    for name, frame in files.items():
        paths[name] = folder / f"{name}.parquet"
        frame.to_parquet(paths[name])
    return paths


def test_report_compares_traces_and_models_given_one_file_each(tmp_path, png_only):
    from factroots.report.build import build_report

    files = write_inputs(tmp_path, LANGS_53[:3])
    done = build_report(
        [files["words"], files["tokens"]], [files["m1"], files["m2"]], tmp_path / "out"
    )
    assert {"figure6_absence_words_mbert.png", "figure6_absence_tokens_mbert.png"} <= set(
        done.figures
    )
    assert {"figure3_shared_facts_m1.png", "figure3_shared_facts_m2.png"} <= set(done.figures)


def test_the_same_trace_given_twice_is_a_clear_error(tmp_path):
    from factroots.report.build import build_report

    files = write_inputs(tmp_path, LANGS_53[:2])
    with pytest.raises(FactrootsError, match="repeat rows with the same lang, uuid, mode"):
        build_report([files["words"], files["words"]], files["m1"], tmp_path / "out")


def test_cli_report_says_on_the_terminal_which_sections_were_left_out(tmp_path, png_only):
    from click.testing import CliRunner

    from factroots.cli import cli

    files = write_inputs(tmp_path, LANGS_53[:2])
    args = ["report", "--trace", str(files["words"]), "--trace", str(files["tokens"])]
    args += ["--predictions", str(files["m1"]), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "note: No index root given (--root)" in result.output
    assert "note: No neurons given" in result.output


def test_a_trace_alone_gives_the_absence_rates_and_names_what_needs_predictions(tmp_path, png_only):
    from factroots.report.build import build_report

    trace, _, _ = synthetic_inputs(LANGS_53[:3], facts_per_lang=20, models=("m",))
    done = build_report(trace, None, tmp_path / "out")
    assert done.figures == ["figure6_absence_words_mbert.png"]
    absence = pd.read_csv(tmp_path / "out" / "absence.csv")
    traceable = trace[trace["status"] == "ok"]
    expected = (~traceable["present"].astype(bool)).groupby(traceable["lang"]).mean()
    assert dict(zip(absence["lang"], absence["absence_rate"], strict=True)) == pytest.approx(
        expected.to_dict()
    )
    assert any("No predictions given" in note for note in done.notes)
