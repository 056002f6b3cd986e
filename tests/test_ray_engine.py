"""Ray as the engine: shard builds as tasks and traces with one actor per shard give the very
answers of the local engine. Skipped where the `cluster` extra is absent, except under CI=true
(`make test` installs it)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.indexer import builder
from factroots.indexer.builder import build_index
from factroots.search import FactIndex
from factroots.search.sharded import ShardedIndex
from factroots.search.trace import trace_languages
from tests.conftest import IN_CI
from tests.test_shards import split_corpus, write_files

try:
    import ray
except ImportError:
    ray = None

if ray is None:
    if IN_CI:
        pytest.fail("ray is not installed (CI=true requires the 'cluster' extra)", pytrace=False)
    pytestmark = pytest.mark.skip(reason="ray is not installed: pip install '.[cluster]'")

MODES = ("words", "tokens")
RAY_LANGS = ("de",)  # the engine code is the same for every language
RAY_LANG = RAY_LANGS[0]


@pytest.fixture(scope="module")
def ray_local():
    """Ray on this machine, two CPUs, for the whole module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def roots(tmp_path_factory, wiki_dir, mbert, sample_indexes, ray_local):
    """The sample of RAY_LANGS, cut over several files, built locally in shards and through Ray
    in shards, beside the run's unsharded index of the sample as it is ("plain"; every
    language builds alike: test_shards checks the local engine's shards on en, zh, ru, th)."""
    base = tmp_path_factory.mktemp("ray")
    (base / "plain").symlink_to(sample_indexes.root_with(*RAY_LANGS))
    for lang in RAY_LANGS:
        corpus = split_corpus([wiki_dir / lang], base / f"corpus-{lang}", 3)
        build_index(corpus, lang, base / "local", mbert, workers=2, shards=3)
        build_index(corpus, lang, base / "ray", mbert, shards=3, engine="ray")
    return base


@pytest.mark.parametrize("lang", RAY_LANGS)
def test_ray_build_equals_the_local_build(roots, lang, mbert):
    local = FactIndex.open(roots / "local", lang, mbert)
    remote = FactIndex.open(roots / "ray", lang, mbert)
    assert isinstance(remote, ShardedIndex) and len(remote.shards) == 3
    for a, b in (
        (local.manifest, remote.manifest),
        *zip([s.manifest for s in local.shards], [s.manifest for s in remote.shards], strict=True),
    ):
        assert (a.counts, a.sources, a.shards) == (b.counts, b.sources, b.shards)
    assert list(local.stored_texts()) == list(remote.stored_texts())


def test_ray_trace_of_an_unsharded_index_equals_the_local_trace_on_every_fact(
    roots, mlama_dir, mbert
):
    """One actor for the unsharded index, in tokens mode (the CLI test below traces the shards
    built through Ray in words mode; labels are analysed by the driver in either mode)."""
    expected = trace_languages(mlama_dir, roots / "plain", RAY_LANG, "tokens", mbert).facts
    got = trace_languages(mlama_dir, roots / "plain", RAY_LANG, "tokens", mbert, engine="ray")
    pd.testing.assert_frame_equal(got.facts, expected)
    assert got.facts["present"].fillna(False).sum() > 0


def test_ray_index_answers_single_queries_like_the_local_one(roots, mbert):
    from factroots.cluster.ray_engine import open_ray_index

    local = FactIndex.open(roots / "local", RAY_LANG, mbert)
    remote = open_ray_index(roots / "local", RAY_LANG, mbert)
    pairs = [("Abgeordnetenhaus von Berlin", "Berlin"), ("Paris", "Frankreich"), ("", "x")]
    assert local.cooccur(*pairs[0]).present
    try:
        for subject, obj in pairs:
            for mode in MODES:
                assert remote.cooccur(subject, obj, mode, show=3) == local.cooccur(
                    subject, obj, mode, show=3
                )
                assert remote.count(subject, mode) == local.count(subject, mode)
        labels = ["Berlin", "Deutschland", "Bundestag", "東京"]
        found, expected = remote.entity_lines(labels), local.entity_lines(labels)
        assert all((found.lines(e) == expected.lines(e)).all() for e in range(len(labels)))
    finally:
        remote.close()


def test_trace_cli_with_the_ray_engine(roots, mlama_dir, tmp_path):
    out = tmp_path / "trace.parquet"
    result = CliRunner().invoke(
        cli,
        [
            "trace",
            "--mlama",
            str(mlama_dir),
            "--root",
            str(roots / "ray"),
            "--langs",
            RAY_LANG,
            "--engine",
            "ray",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = trace_languages(mlama_dir, roots / "plain", RAY_LANG).facts
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


def test_a_failing_ray_shard_is_retried_then_fails_the_build_cleanly(
    mbert, tmp_path, monkeypatch, ray_local
):
    write_files(tmp_path / "corpus", [[["Paris", "France"]], [["Berlin"]], [["York"]]])
    build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, workers=1, shards=1)
    before = sorted(p.name for p in (tmp_path / "idx" / "mbert").iterdir())
    real = builder.partition_by_size

    def with_a_missing_file(files, parts):
        runs = real(files, parts)
        runs[1] = runs[1] + [tmp_path / "corpus" / "gone"]
        return runs

    monkeypatch.setattr(builder, "partition_by_size", with_a_missing_file)
    with pytest.raises(FactrootsError, match=r"shard 1 \(wiki_01, gone\) failed: .*gone"):
        build_index(tmp_path / "corpus", "en", tmp_path / "idx", mbert, shards=3, engine="ray")
    assert sorted(p.name for p in (tmp_path / "idx" / "mbert").iterdir()) == before
    index = FactIndex.open(tmp_path / "idx", "en", mbert)
    assert not isinstance(index, ShardedIndex) and index.cooccur("Paris", "France").present


def test_build_cli_with_the_ray_engine(mbert, tmp_path, ray_local):
    write_files(tmp_path / "corpus", [[["Paris", "France"]] * 2, [["Paris"]], [["France"]]])
    result = CliRunner().invoke(
        cli,
        [
            "index",
            "build",
            str(tmp_path / "corpus"),
            "--lang",
            "en",
            "--root",
            str(tmp_path / "idx"),
            "--shards",
            "2",
            "--engine",
            "ray",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "in 2 shards" in result.output
    assert FactIndex.open(tmp_path / "idx", "en", mbert).cooccur("Paris", "France").lines == 2
    one = build_index(tmp_path / "corpus", "en", tmp_path / "one", mbert, shards=1, engine="ray")
    assert not one.sharded and (tmp_path / "one" / "mbert" / "en" / "meta.json").is_file()
    index = FactIndex.open(tmp_path / "one", "en", mbert)
    assert not isinstance(index, ShardedIndex) and index.cooccur("Paris", "France").lines == 2
