"""Building and opening indexes: manifest, atomicity, errors, read-only directories."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from factroots.demo.corpus import write_corpus
from factroots.errors import FactrootsError
from factroots.indexer.builder import build_index
from factroots.search import FactIndex
from tests.conftest import cannot_set_up

GOOD = '<doc id="1" url="u" title="Berlin">\nBerlin\n\nBerlin is the capital of Germany.\n</doc>\n'


@pytest.fixture()
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus", "en", n_docs=12)


def test_manifest_records_tokenizer_sources_and_counts(corpus, tmp_path):
    manifest = build_index(corpus, "en", tmp_path / "idx")
    written = json.loads((tmp_path / "idx" / "mbert" / "en" / "manifest.json").read_text())
    assert written["tokenizer_name"] == "mbert" and len(written["tokenizer_sha256"]) == 64
    assert [s["path"] for s in written["sources"]] == ["AA/wiki_00", "AA/wiki_01.bz2", "AA/wiki_02"]
    assert written["counts"]["documents"] == 12 == manifest.counts.documents
    assert written["counts"]["lines"] == FactIndex.open(tmp_path / "idx", "en").num_lines


def test_skipped_records_are_counted_in_the_manifest(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "wiki_00").write_text("</doc>\n" + GOOD + '<doc id="2">\nx\n')
    manifest = build_index(tmp_path / "c", "en", tmp_path / "idx")
    assert manifest.counts.skipped_records == 2
    assert manifest.counts.skipped_by_reason == {"stray </doc>": 1, "unterminated <doc>": 1}


def test_input_without_documents_is_an_error_and_leaves_no_index(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "wiki_00").write_bytes(b"")
    with pytest.raises(FactrootsError, match="no documents"):
        build_index(tmp_path / "c", "en", tmp_path / "idx")
    assert list((tmp_path / "idx" / "mbert").iterdir()) == []


def test_rebuild_replaces_the_index(corpus, tmp_path):
    build_index(corpus, "en", tmp_path / "idx", max_tokens=512)
    build_index(corpus, "en", tmp_path / "idx", max_tokens=8)
    index = FactIndex.open(tmp_path / "idx", "en")
    assert index.manifest.max_tokens == 8 and index.num_lines == index.manifest.counts.lines


def test_missing_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "mbert" / "en").mkdir(parents=True)
    with pytest.raises(FactrootsError, match="not a factroots index"):
        FactIndex.open(tmp_path, "en")


def test_corrupt_manifest_is_a_clear_error(corpus, tmp_path):
    build_index(corpus, "en", tmp_path)
    (tmp_path / "mbert" / "en" / "manifest.json").write_text("{not json")
    with pytest.raises(FactrootsError, match="corrupt manifest"):
        FactIndex.open(tmp_path, "en")


def test_opening_with_another_tokenizer_is_a_clear_error(corpus, tmp_path, xlmr_tokenizer_dir):
    build_index(corpus, "en", tmp_path)
    os.rename(tmp_path / "mbert", tmp_path / "xlmr")
    with pytest.raises(FactrootsError, match="was built with tokenizer 'mbert'"):
        FactIndex.open(tmp_path, "en", xlmr_tokenizer_dir)


def test_index_on_a_read_only_directory_opens_and_answers(corpus, tmp_path):
    build_index(corpus, "en", tmp_path)
    path = tmp_path / "mbert" / "en"
    before = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}
    for p in [path, *path.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        with read_only_view(path) as view:
            index = FactIndex.open_path(view)
            present = index.cooccur("Paris", "France").present
            del index
            gc.collect()
    finally:
        path.chmod(0o755)
    assert present is True
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == before


@contextmanager
def read_only_view(path: Path):
    """A read-only bind mount of `path` where the machine allows it (root ignores file modes)."""
    mount = path.parent / "ro"
    mount.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "--bind", "-o", "ro", str(path), str(mount)], capture_output=True
        ).returncode
        == 0
    )
    if not mounted and os.geteuid() == 0:  # root ignores the modes: nothing would be read-only
        cannot_set_up("root cannot bind-mount a read-only view here")
    if mounted:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True)
    try:
        yield mount if mounted else path
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


BUILD_SCRIPT = """
import sys
from factroots.indexer import builder
builder.BATCH_CHARS = 20_000
build = builder.build_index
build(sys.argv[1], "en", sys.argv[2], max_tokens=16, workers=1)
"""


def _start_build(corpus: Path, root: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BUILD_SCRIPT, str(corpus), str(root)])


def _kill_when_building(proc: subprocess.Popen, parent: Path) -> None:
    """SIGKILL the build once its temporary directory exists; it must not have finished."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if parent.exists() and any(p.name.startswith(".building-") for p in parent.iterdir()):
            time.sleep(0.3)
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the build finished before it could be killed"


def test_a_killed_build_leaves_nothing_that_opens_and_a_rerun_succeeds(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", "en", n_docs=600)
    root = tmp_path / "idx"
    _kill_when_building(_start_build(corpus, root), root / "mbert")
    with pytest.raises(FactrootsError):
        FactIndex.open(root, "en")
    build_index(corpus, "en", root)
    assert FactIndex.open(root, "en").cooccur("Paris", "France").present
    left = sorted(p.name for p in (root / "mbert").iterdir())
    assert left[1:] == ["en"] and left[0] == os.readlink(root / "mbert" / "en")


def test_a_killed_rebuild_keeps_the_previous_index(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", "en", n_docs=600)
    root = tmp_path / "idx"
    build_index(corpus, "en", root)
    _kill_when_building(_start_build(corpus, root), root / "mbert")
    index = FactIndex.open(root, "en")
    assert index.manifest.max_tokens == 512 and index.cooccur("Paris", "France").present
