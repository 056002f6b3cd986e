"""The explorer's JSON API and page, in process (FastAPI's TestClient), on indexes of the shared
samples: answers equal `query`'s, bad requests are one-line JSON errors with a 4xx status."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from factroots.search.trace import trace_languages

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

LANGS = ["en", "zh"]


@pytest.fixture(scope="module")
def files(sample_indexes, mlama_dir, tmp_path_factory):
    """A words trace of en and zh, and predictions (every other traced fact correct) and
    neurons of one made-up model, as parquet files."""
    root = sample_indexes.root_with(*LANGS)
    folder = tmp_path_factory.mktemp("serve")
    trace = trace_languages(mlama_dir, root, LANGS, "words", sample_indexes.tokenizer).facts
    trace.to_parquet(folder / "trace.parquet")
    predictions = trace[["lang", "relation", "uuid", "subject", "object"]].assign(
        model="m",
        obj_uri="Q",
        k=1,
        object_ids=[[1]] * len(trace),
        predicted_ids=[[1]] * len(trace),
        top5_ids=[[[1]]] * len(trace),
        prediction=trace["object"],
        correct=[i % 2 == 0 for i in range(len(trace))],
    )
    predictions.to_parquet(folder / "predictions.parquet")
    correct = predictions[predictions["correct"]]
    neurons = correct[["model", "lang", "relation", "uuid"]].assign(
        group_size=1,
        status="ok",
        top_neurons=[[1, 2, 3] if lang == "en" else [2, 3, 4] for lang in correct["lang"]],
        top_scores=[[0.3, 0.2, 0.1]] * len(correct),
    )
    neurons.to_parquet(folder / "neurons.parquet")
    return root, folder, trace


@pytest.fixture(scope="module")
def client(files, mbert):
    from fastapi.testclient import TestClient

    from factroots.serve.app import create_app
    from factroots.serve.explorer import Explorer

    root, folder, _ = files
    explorer = Explorer(
        root,
        "mbert",
        [folder / "trace.parquet"],
        [folder / "predictions.parquet"],
        [folder / "neurons.parquet"],
    )
    return TestClient(create_app(explorer))


def test_languages_lists_every_index_with_its_counts(client, sample_indexes):
    found = {row["lang"]: row for row in client.get("/api/languages").json()}
    assert set(LANGS) <= set(found)
    assert found["en"]["lines"] == sample_indexes.open("en").num_lines


def test_cooccur_answers_what_query_json_answers(client, sample_indexes):
    index = sample_indexes.open("en")
    for subject, obj in [("Paris", "France"), ("Berlin", "Germany"), ("xyzzy", "France")]:
        for mode in ("words", "tokens"):
            got = client.get(
                "/api/cooccur",
                params={"lang": "en", "subject": subject, "object": obj, "mode": mode, "show": 2},
            )
            assert got.status_code == 200
            assert got.json() == {"lang": "en", **index.cooccur(subject, obj, mode, 2).to_dict()}


def test_count_answers_what_query_answers(client, sample_indexes):
    got = client.get("/api/count", params={"lang": "zh", "entity": "中国"}).json()
    assert got["lines"] == sample_indexes.open("zh").count("中国").lines


def test_a_fact_shows_every_language_with_presence_predictions_and_neuron_overlap(client, files):
    _, _, trace = files
    both = trace.groupby("uuid")["lang"].nunique()
    uuid = next(u for u in both[both == 2].index if (trace["uuid"] == u).any())
    fact = client.get(f"/api/facts/{uuid}").json()
    assert [entry["lang"] for entry in fact["languages"]] == LANGS
    for entry in fact["languages"]:
        row = trace[(trace["uuid"] == uuid) & (trace["lang"] == entry["lang"])].iloc[0]
        assert entry["present"]["words"] == (
            None if pd.isna(row["present"]) else bool(row["present"])
        )
        assert entry["predictions"][0]["model"] == "m"
    pairs = fact["neuron_overlap"]
    assert all(p["jaccard"] == 0.5 for p in pairs)  # {1,2,3} vs {2,3,4}


def test_fact_list_filters_and_pages(client, files):
    _, _, trace = files
    page = client.get("/api/facts", params={"lang": "en", "present": "true"}).json()
    en = trace[trace["lang"] == "en"]
    assert page["total"] == int(en["present"].fillna(False).sum())
    assert all(f["lang"] == "en" and f["present"] for f in page["facts"])
    assert len(page["facts"]) <= page["page_size"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/cooccur", {"lang": "xx", "subject": "a", "object": "b"}, 404),
        ("/api/cooccur", {"lang": "en", "subject": "a" * 1001, "object": "b"}, 422),
        ("/api/cooccur", {"lang": "en", "subject": "a", "object": "b", "show": 99}, 422),
        ("/api/cooccur", {"lang": "en", "subject": "a", "object": "b", "mode": "x"}, 422),
        ("/api/cooccur", {"lang": "en", "subject": "a"}, 422),
        ("/api/count", {"lang": "../../etc", "entity": "a"}, 404),
        ("/api/facts/not-a-uuid", {}, 404),
        ("/api/facts", {"page": 0}, 422),
    ],
)
def test_bad_requests_get_a_one_line_json_error_and_a_4xx(client, path, params, status):
    got = client.get(path, params=params)
    assert got.status_code == status
    assert set(got.json()) == {"error"} and "\n" not in got.json()["error"]


def test_the_page_and_the_api_reference_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "/api/facts" in page.text and "http" not in page.text
    assert client.get("/docs").status_code == 200


def test_the_api_reference_loads_swagger_ui_from_the_app_itself(client):
    docs = client.get("/docs").text
    assert "http" not in docs  # no CDN: every script and style is the app's own
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs-static/{asset}" in docs
        served = client.get(f"/docs-static/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000
    assert client.get("/openapi.json").json()["info"]["title"] == "factroots explorer"


def test_concurrent_clients_get_the_same_answers(client):
    params = {"lang": "en", "subject": "Paris", "object": "France", "show": 1}

    def ask(_):
        return client.get("/api/cooccur", params=params).json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(40)))
    assert all(a == answers[0] for a in answers)


def test_serve_without_an_index_root_is_a_one_line_error(tmp_path, factroots_cli):
    result = factroots_cli("serve", "--root", tmp_path / "nowhere")
    assert result.code != 0 and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
