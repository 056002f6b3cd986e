"""Shared fixtures: the ../shared data beside the checkout (skipped, failed under CI, if absent),
the shared samples' indexes built once per test run, and the CLI run in this process."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one torch thread each, and OpenMP
    # threads that sleep when idle instead of spinning (numba's parallel loops run on OpenMP
    # and keep their two threads: they are what is tested), so that neither worker starves
    # the other
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: The shared sample's languages (one WikiExtractor folder each).
SAMPLE_LANGS = sorted(
    p.name for p in (SHARED / "data" / "wikiextractor").glob("*") if p.is_dir()
) or ["en"]


def cannot_set_up(reason: str) -> None:
    """A test that cannot set up what it tests: skipped here, failed under CI=true (where the
    machine allows it), so that it never passes without testing anything."""
    if IN_CI:
        pytest.fail(f"cannot set up the test: {reason} (CI=true requires it)")
    pytest.skip(reason)


def require_shared(*parts: str) -> Path:
    """Path under ../shared; skip the test with a reason if absent, fail under CI=true."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"shared data not found: {path}"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    return path


#: The modules that take longest, slowest first: `make test` hands whole files to its two
#: pytest-xdist workers in collection order (`--dist loadfile --no-loadscope-reorder`), so that
#: the long ones start first and no worker is left alone with one at the end.
SLOWEST_FIRST = (
    "test_index_differential_xlmr",
    "test_index_differential",
    "test_shards",
    "test_ray_engine",
    "test_causal",
    "test_bench_corpus",
    "test_faults",
    "test_encoding",
    "test_report_build",
    "test_predict",
    "test_trace",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules of SLOWEST_FIRST first, in that order; the others after them, as collected."""
    rank = {name: k for k, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


@pytest.fixture(scope="session")
def mlama_dir() -> Path:
    return require_shared("data", "mlama1.1")


@pytest.fixture(scope="session")
def wiki_dir() -> Path:
    return require_shared("data", "wikiextractor")


@pytest.fixture(scope="session")
def xlmr_tokenizer_dir() -> Path:
    return require_shared("tokenizers", "xlmr")


@pytest.fixture(scope="session")
def mbert_tokenizer_dir() -> Path:
    return require_shared("tokenizers", "mbert")


@pytest.fixture(scope="session")
def mbert():
    """The bundled mBERT tokenizer, loaded once."""
    from factroots.tokenizer import load_tokenizer

    return load_tokenizer("mbert")


class SampleIndexes:
    """The shared sample's languages indexed with mBERT under one root, each built the first
    time a test asks for it and then shared by every test of the run (tests only read them):
    pytest-xdist's workers share the root, and a lock per language lets one of them build it
    while the others wait (a build appears in the root only when complete)."""

    def __init__(self, root: Path, wiki_dir: Path, tokenizer):
        self.root, self.wiki_dir, self.tokenizer = root, wiki_dir, tokenizer
        self._built: set[str] = set()
        self._lock = threading.Lock()

    def root_with(self, *langs: str) -> Path:
        """The root, with `ROOT/mbert/<lang>` built for each of `langs` (all when none given)."""
        from filelock import FileLock

        from factroots.indexer.builder import build_index
        from factroots.search import FactIndex

        with self._lock:
            for lang in langs or SAMPLE_LANGS:
                if lang in self._built:
                    continue
                with FileLock(self.root / f".{lang}.lock"):
                    if not FactIndex.exists(self.root, lang, "mbert"):
                        build_index(self.wiki_dir / lang, lang, self.root, self.tokenizer)
                self._built.add(lang)
        return self.root

    def open(self, lang: str):
        from factroots.search import FactIndex

        return FactIndex.open(self.root_with(lang), lang, self.tokenizer)


@pytest.fixture(scope="session")
def sample_indexes(tmp_path_factory, wiki_dir, mbert) -> SampleIndexes:
    """One root for the whole run: under pytest-xdist, in the base folder all workers share."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.getbasetemp().parent / "sample-indexes"
        root.mkdir(exist_ok=True)
    else:
        root = tmp_path_factory.mktemp("sample-indexes")
    return SampleIndexes(root, wiki_dir, mbert)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def factroots_cli(capsys, monkeypatch):
    """Run the `factroots` entry point (`main()`, with its one-line errors and exit codes) in
    this process: `factroots_cli(*args)` gives the exit code, stdout and stderr."""
    from factroots.cli import main

    def run(*args) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["factroots", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run
