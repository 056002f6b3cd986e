"""The public API: the facade (`from factroots import ...`), `__all__` in every package, imports
that need no torch, FactIndex's small nouns (exists, close, `with`, repr), shared defaults."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import factroots
from factroots.errors import FactrootsError
from factroots.indexer.builder import build_index
from factroots.search import FactIndex
from factroots.tokenizer import as_tokenizer, load_tokenizer, tokenizer_name
from tests.test_shards import split_corpus

PACKAGES = sorted(
    m.name for m in pkgutil.walk_packages(factroots.__path__, "factroots.") if m.ispkg
) + ["factroots"]


def test_the_facade_has_the_pipeline_and_its_result_types():
    from factroots import (  # noqa: F401
        FactIndex,
        ProbeResult,
        Report,
        SimilarityRun,
        TraceRun,
        attribute_saved,
        build_index,
        build_report,
        language_similarity,
        probe,
        probe_and_attribute,
        trace_languages,
    )

    assert FactIndex is importlib.import_module("factroots.search.index").FactIndex
    for name in factroots.__all__:
        assert getattr(factroots, name) is not None, name
    assert set(factroots.__all__) <= set(dir(factroots))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        factroots.nope  # noqa: B018


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_exports_and_has_it(package):
    if package == "factroots.cluster":
        pytest.importorskip("ray")
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert getattr(module, name) is not None, (package, name)


def test_importing_factroots_and_its_core_imports_no_torch():
    code = (
        "import sys, factroots, factroots.search, factroots.indexer, factroots.probing, "
        "factroots.attribution, factroots.report, factroots.cli; "
        "from factroots import FactIndex, trace_languages, build_index, TRACE; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', "
        "'matplotlib', 'ray'}); print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_package_is_typed():
    assert (Path(factroots.__file__).parent / "py.typed").is_file()


@pytest.fixture(scope="module")
def sample_root(sample_indexes):
    return sample_indexes.root_with("cy")


def test_exists_says_whether_an_index_is_there_without_opening_it(sample_root, tmp_path):
    assert FactIndex.exists(sample_root, "cy")
    assert FactIndex.exists(sample_root, "cy", load_tokenizer("mbert"))
    assert not FactIndex.exists(sample_root, "xx")
    assert not FactIndex.exists(tmp_path, "cy")
    with pytest.raises(FactrootsError, match="invalid language code"):
        FactIndex.exists(sample_root, "../cy")


def test_index_is_a_context_manager_that_closes_it(sample_root):
    with FactIndex.open(sample_root, "cy") as index:
        assert index.count("Cymru").status == "ok"
    assert index._searcher is None and index._postings is None
    index.close()  # twice is harmless


def test_repr_shows_language_tokenizer_lines_and_shards(sample_root):
    with FactIndex.open(sample_root, "cy") as index:
        text = repr(index)
        lines = index.num_lines
    assert text.startswith(
        f"FactIndex(language='cy', tokenizer='mbert', lines={lines}, shards=1, path="
    )


def test_sharded_index_repr_counts_its_shards_and_close_closes_each(tmp_path, wiki_dir):
    corpus = split_corpus([wiki_dir / "cy"], tmp_path / "corpus", 2)
    build_index(corpus, "cy", tmp_path / "root", "mbert", workers=1, shards=2)
    with FactIndex.open(tmp_path / "root", "cy") as index:
        shards = list(index.shards)
        assert "shards=2" in repr(index) and f"lines={index.num_lines}" in repr(index)
    assert all(shard._searcher is None for shard in shards)


def test_as_tokenizer_passes_a_loaded_one_through_and_loads_a_name():
    mbert = load_tokenizer("mbert")
    assert as_tokenizer(mbert) is mbert
    assert as_tokenizer("mbert").sha256 == mbert.sha256
    assert tokenizer_name("mbert") == tokenizer_name(mbert) == "mbert"


def test_old_mlama_path_warns_and_gives_the_same_objects():
    import importlib
    import sys

    import factroots.mlama

    sys.modules.pop("factroots.probing.mlama", None)
    with pytest.warns(DeprecationWarning, match="factroots.mlama"):
        old = importlib.import_module("factroots.probing.mlama")
    assert old.load_language is factroots.mlama.load_language and old.Fact is factroots.mlama.Fact


def _cli_defaults(*path: str) -> dict:
    from factroots.cli import cli

    command = cli
    for name in path:
        command = command.commands[name]
    return {p.name: p.default for p in command.params}


def _defaults(function) -> dict:
    import inspect

    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(
    "command, function, names",
    [
        (
            ("index", "build"),
            "factroots.indexer.builder:build_index",
            ["tokenizer", "max_tokens", "engine"],
        ),
        (("trace",), "factroots.search.trace:trace_languages", ["mode", "tokenizer", "engine"]),
        (("query",), "factroots.search.index:FactIndex.open", ["tokenizer"]),
        (("query",), "factroots.search.index:FactIndex.count", ["mode"]),
        (("export", "lucene"), "factroots.export.lucene:export_lucene", ["tokenizer"]),
        (("attribute",), "factroots.attribution.attribute:attribute_saved", ["top_k"]),
        (("probe",), "factroots.attribution.capture:probe_and_attribute", ["batch_size", "top_k"]),
        (("probe",), "factroots.probing.predict:probe", ["batch_size"]),
        (("probe",), "factroots.probing.model:load_masked_lm", ["device", "dtype"]),
    ],
)
def test_cli_defaults_are_the_library_functions_defaults(command, function, names):
    import importlib

    module, _, attribute = function.partition(":")
    target = importlib.import_module(module)
    for part in attribute.split("."):
        target = getattr(target, part)
    cli_defaults, library = _cli_defaults(*command), _defaults(target)
    for name in names:
        assert cli_defaults[name] == library[name], (command, name)


def test_attribute_and_similarity_are_the_functions_behind_their_commands():
    from factroots import attribute, attribute_saved, language_similarity, similarity

    assert attribute is attribute_saved
    assert similarity is language_similarity
