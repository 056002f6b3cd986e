"""Faults and bad input: nothing lost, readers never see a gap, one-line errors (issue 12).

Each test states the exact outcome: the exit code and the one line on stderr of
`factroots.cli.main`, and the index or file that was there before, intact. The fault-injection
tests kill builds (SIGKILL, at seeded random moments and at every step of the swap) and check
that the index always opens and answers as one complete version."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factroots.atomic import atomic_output
from factroots.cli import FIRST_TRACE_NOTE, main
from factroots.demo.corpus import write_corpus
from factroots.demo.mlama import write_mlama
from factroots.errors import FactrootsError
from factroots.indexer import layout
from factroots.indexer.builder import build_index
from factroots.indexer.layout import BuildLock, index_path
from factroots.search import FactIndex
from factroots.tokenizer import load_tokenizer
from tests.conftest import cannot_set_up
from tests.fault_build import BuildProcess

SEED = 12


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("mbert")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "en", "en", n_docs=12)


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("big") / "en", "en", n_docs=400)


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, list[str]]:
    """Exit code and stderr lines of the `factroots` entry point run in this process, less the
    note of numba's first compile (shown only where its cache is cold, as in a fresh clone)."""
    monkeypatch.setattr(sys, "argv", ["factroots", *map(str, args)])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    lines = capsys.readouterr().err.strip().splitlines()
    return code, [line for line in lines if line != FIRST_TRACE_NOTE]


def fingerprint(root: Path, tok, lang: str = "en") -> tuple:
    """What a reader sees: which build, how many lines, and a few answers."""
    index = FactIndex.open(root, lang, tok)
    answers = [index.cooccur(s, o) for s, o in [("Paris", "France"), ("Berlin", "Germany")]]
    return (
        index.manifest.max_tokens,
        index.num_lines,
        [(a.present, a.lines, a.subject_lines, a.object_lines) for a in answers],
    )


def tree(path: Path) -> dict[str, int]:
    """Every file under `path` (links not followed) with its size: to show nothing changed."""
    return {
        str(p.relative_to(path)): (p.lstat().st_size if not p.is_dir() else -1)
        for p in sorted(path.rglob("*"))
    }


def leftovers(root: Path) -> list[str]:
    """Entries of ROOT/mbert besides the published links and the versions they point to."""
    parent = root / "mbert"
    published = {p.name for p in parent.iterdir() if p.is_symlink()}
    published |= {os.readlink(parent / name) for name in published}
    return sorted(p.name for p in parent.iterdir() if p.name not in published)


def make_legacy(root: Path) -> Path:
    """Turn ROOT/mbert/en into a real directory, as builds before versioned directories left."""
    link = root / "mbert" / "en"
    version = link.parent / os.readlink(link)
    link.unlink()
    os.rename(version, link)
    return link


# -- 1. language codes ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["", ".", "..", "/abs", "../../x", "en/../de", "a b", "é"])
def test_invalid_language_code_is_one_line_error_and_touches_nothing(
    lang, corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "a" / "b" / "idx"
    build_index(corpus, "de", root, tok)
    before, outside = tree(root), tree(tmp_path)
    code, err = run_cli(
        ["index", "build", corpus, "--lang", lang, "--root", root], capsys, monkeypatch
    )
    assert code == 2
    assert err == [
        f"error: invalid language code {lang!r}: use 1 to 64 letters, digits, '-' or '_'"
    ]
    assert tree(root) == before and tree(tmp_path) == outside
    assert not Path("/abs").exists()
    assert fingerprint(root, tok, "de")[1] > 0


@pytest.mark.parametrize("lang", ["", ".", "..", "/etc", "../x"])
def test_readers_and_index_path_refuse_invalid_language_codes(lang, tmp_path):
    with pytest.raises(FactrootsError, match="invalid language code"):
        index_path(tmp_path, "mbert", lang)
    with pytest.raises(FactrootsError, match="invalid language code"):
        FactIndex.open(tmp_path, lang)


@pytest.mark.parametrize("lang", ["en", "zh-min-nan", "be_x_old", "A1"])
def test_valid_language_codes_stay_inside_the_root_in_lower_case(lang, tmp_path):
    path = index_path(tmp_path, "mbert", lang)
    assert path.parent == tmp_path / "mbert" and path.name == lang.lower()


# -- 2. atomic swap, readers, old versions, legacy directories ------------------------------


READER = r"""
import json, os, sys, time
from pathlib import Path
from factroots.search import FactIndex
from tests.conftest import cannot_set_up
from factroots.tokenizer import load_tokenizer
root, ready, stop = sys.argv[1:4]
tok = load_tokenizer("mbert")
opens, fails, errors, seen = 0, 0, [], set()
while not os.path.exists(stop):
    try:
        index = FactIndex.open(root, "en", tok)
        assert index.cooccur("Paris", "France").present
        assert index.num_lines == index.manifest.counts.lines
        seen.add(index.manifest.max_tokens)
        opens += 1
    except Exception as exc:
        fails += 1
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
    if opens == 1:
        Path(ready).touch()
print(json.dumps({"opens": opens, "fails": fails, "errors": errors[:5], "seen": sorted(seen)}))
"""


def rebuild_while_reading(corpus: Path, root: Path, tok, rebuilds: int, tmp_path: Path) -> dict:
    """Rebuild `rebuilds` times (alternating max_tokens) while a process opens in a loop."""
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(root), str(ready), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert reader.poll() is None and time.monotonic() < deadline, "reader did not start"
            time.sleep(0.02)
        for i in range(rebuilds):
            build_index(corpus, "en", root, tok, max_tokens=(16, 512)[i % 2], workers=1)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    return json.loads(out)


def test_rebuilds_while_another_process_opens_in_a_loop_never_fail_an_open(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    seen = rebuild_while_reading(corpus, root, tok, 60, tmp_path)
    assert seen["fails"] == 0, seen["errors"]
    assert seen["opens"] >= 60 and seen["seen"] == [16, 512]
    assert leftovers(root) == []


def test_a_reader_that_opened_the_old_version_keeps_answering(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    old = FactIndex.open(root, "en", tok)
    before = (old.num_lines, old.cooccur("Paris", "France", show=2), list(old.stored_texts()))
    build_index(corpus, "en", root, tok, max_tokens=16)
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert not old.path.exists()  # its version directory is gone, its files still mapped
    assert (
        old.num_lines,
        old.cooccur("Paris", "France", show=2),
        list(old.stored_texts()),
    ) == before
    assert FactIndex.open(root, "en", tok).manifest.max_tokens == 8


def test_the_index_path_is_a_link_to_one_version_and_a_rebuild_leaves_one(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    first = os.readlink(root / "mbert" / "en")
    build_index(corpus, "en", root, tok)
    second = os.readlink(root / "mbert" / "en")
    assert first != second and first.startswith(".en.v") and "/" not in second
    assert sorted(p.name for p in (root / "mbert").iterdir()) == [second, "en"]


def test_an_index_moved_with_its_root_still_opens(corpus, tok, tmp_path):
    build_index(corpus, "en", tmp_path / "a", tok)
    before = fingerprint(tmp_path / "a", tok)
    os.rename(tmp_path / "a", tmp_path / "b")
    assert fingerprint(tmp_path / "b", tok) == before


def test_an_index_from_before_versioned_directories_opens_and_converts_with_readers_on(
    corpus, tok, tmp_path
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    legacy = make_legacy(root)
    assert legacy.is_dir() and not legacy.is_symlink()
    assert fingerprint(root, tok)[0] == 16
    seen = rebuild_while_reading(corpus, root, tok, 3, tmp_path)
    assert seen["fails"] == 0, seen["errors"]
    assert legacy.is_symlink() and leftovers(root) == []


def test_converting_an_old_directory_without_an_atomic_exchange_still_works(
    corpus, tok, tmp_path, monkeypatch
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    make_legacy(root)
    monkeypatch.setattr(layout, "_exchange", lambda a, b: False)
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert fingerprint(root, tok)[0] == 8 and leftovers(root) == []


def test_other_languages_with_a_common_prefix_are_left_alone(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    build_index(corpus, "en-us", root, tok)
    other = fingerprint(root, tok, "en-us")
    running = root / "mbert" / ".building-en-us.999999"  # another build's work in progress
    running.mkdir()
    build_index(corpus, "en", root, tok)
    build_index(corpus, "en", root, tok)
    assert running.is_dir() and fingerprint(root, tok, "en-us") == other


def test_a_failed_build_never_removes_the_old_index_left_by_a_killed_swap(corpus, tok, tmp_path):
    """The swap of factroots before versioned directories, killed between its two renames,
    left the old index only in `.building-en-old-<pid>`; the next build used to delete it
    first, even when that build then failed."""
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    old = fingerprint(root, tok)
    os.rename(make_legacy(root), root / "mbert" / ".building-en-old-4242")
    (root / "mbert" / ".building-en-4343").mkdir()  # a half-built one of that time, too
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "wiki_00").write_bytes(b"")
    with pytest.raises(FactrootsError, match="no documents"):
        build_index(empty, "en", root, tok)
    assert fingerprint(root, tok) == old
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert fingerprint(root, tok)[0] == 8 and leftovers(root) == []


def test_a_stale_half_build_is_never_mistaken_for_the_index_and_goes_with_the_next_build(
    corpus, tok, tmp_path
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    old = fingerprint(root, tok)
    parent = root / "mbert"
    for name in (".building-en.1", ".en.v1-1", ".en.link-1"):
        (parent / name).mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "wiki_00").write_bytes(b"")
    with pytest.raises(FactrootsError, match="no documents"):
        build_index(empty, "en", root, tok)
    assert fingerprint(root, tok) == old
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert leftovers(root) == []


# -- 2b. locks -------------------------------------------------------------------------------


def start_build(
    corpus: Path,
    root: Path,
    tmp_path: Path,
    max_tokens: int = 16,
    pause: float = 0.0,
    kill_at: int = 0,
) -> tuple[BuildProcess, Path]:
    started = tmp_path / f"started-{time.monotonic_ns()}"
    return BuildProcess(corpus, root, max_tokens, pause, started, kill_at), started


def wait_for(path: Path, proc: BuildProcess) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, f"the build ended (rc {proc.returncode}) before it started"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_second_build_of_the_same_index_is_a_one_line_error_and_the_first_succeeds(
    corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    first, started = start_build(corpus, root, tmp_path, max_tokens=16, pause=0.4)
    try:
        wait_for(started, first)
        code, err = run_cli(
            ["index", "build", corpus, "--lang", "en", "--root", root, "--max-tokens", "8"],
            capsys,
            monkeypatch,
        )
        assert code == 2
        assert err == [
            f"error: another build of {root / 'mbert' / 'en'} is running (pid {first.pid})"
        ]
    finally:
        assert first.wait(timeout=60) == 0
    assert fingerprint(root, tok)[0] == 16 and leftovers(root) == []
    assert not (root / "mbert" / ".en.lock").exists()


def test_a_lock_held_in_this_process_is_also_refused(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    (root / "mbert").mkdir(parents=True)
    with (
        BuildLock(root / "mbert" / "en"),
        pytest.raises(
            FactrootsError, match=(rf"another build of .*en is running \(pid {os.getpid()}\)")
        ),
    ):
        build_index(corpus, "en", root, tok)
    assert list((root / "mbert").iterdir()) == []


def test_a_stale_lock_of_a_killed_build_is_detected_and_the_next_build_runs(corpus, tok, tmp_path):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    old = fingerprint(root, tok)
    proc, started = start_build(corpus, root, tmp_path, pause=5)
    wait_for(started, proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    lock = root / "mbert" / ".en.lock"
    assert lock.read_text().strip() == str(proc.pid)  # the file stays, the flock went with it
    assert fingerprint(root, tok) == old
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert fingerprint(root, tok)[0] == 8 and leftovers(root) == [] and not lock.exists()


def test_a_build_into_a_read_only_root_is_a_one_line_error(corpus, tmp_path, capsys, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root ignores file modes")
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        code, err = run_cli(
            ["index", "build", corpus, "--lang", "en", "--root", root], capsys, monkeypatch
        )
    finally:
        root.chmod(0o755)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: cannot create {root}")


# -- 2c. SIGKILL at random moments and at every step of the swap -----------------------------


def test_sigkill_at_seeded_random_moments_of_a_rebuild_keeps_the_old_index(
    big_corpus, tok, tmp_path
):
    root = tmp_path / "idx"
    build_index(big_corpus, "en", root, tok)
    old = fingerprint(root, tok)
    rng = random.Random(SEED)
    killed = 0
    for _ in range(5):  # a build runs ~1.8 s after its first batch: most kills land inside
        proc, started = start_build(big_corpus, root, tmp_path, pause=0.02)
        wait_for(started, proc)
        time.sleep(rng.uniform(0.0, 1.9))
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait()
        killed += rc == -signal.SIGKILL
        now = fingerprint(root, tok)
        assert now == old or (rc == 0 and now[0] == 16)
        old = now
    assert killed >= 2
    build_index(big_corpus, "en", root, tok, max_tokens=8)
    assert fingerprint(root, tok)[0] == 8 and leftovers(root) == []


@pytest.mark.parametrize("legacy", [False, True], ids=["versioned", "legacy"])
def test_sigkill_at_each_step_of_the_swap_leaves_one_complete_index(legacy, corpus, tok, tmp_path):
    """The swap's steps: (1) rename the build to a version, (2) make the new link, (3) switch
    it over `en` (or exchange it with an old real directory), (4) remove the old version.
    Killed before 1-3 readers get the old index, before 4 the new one; never neither."""
    build_index(corpus, "en", tmp_path / "new", tok, max_tokens=16)
    new = fingerprint(tmp_path / "new", tok)
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=512)
    old = fingerprint(root, tok)
    if legacy:
        make_legacy(root)
    for kill_at in range(1, 5):
        proc, _ = start_build(corpus, root, tmp_path, max_tokens=16, kill_at=kill_at)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert fingerprint(root, tok) == (old if kill_at < 4 else new), kill_at
        assert (root / "mbert" / "en").is_symlink() == (not legacy or kill_at == 4)
    build_index(corpus, "en", root, tok, max_tokens=8)
    assert fingerprint(root, tok)[0] == 8 and leftovers(root) == []
    assert (root / "mbert" / "en").is_symlink()


# -- 3. outputs written whole or not at all ---------------------------------------------------


def test_trace_with_no_index_for_the_language_keeps_an_existing_out_file(
    corpus, tok, tmp_path, capsys, monkeypatch
):
    mlama = write_mlama(tmp_path / "mlama")
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    keep = tmp_path / "keep.parquet"
    keep.write_bytes(b"precious")
    code, err = run_cli(
        ["trace", "--mlama", mlama, "--root", root, "--langs", "de", "--out", keep],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert err[-1] == "error: no language traced: no index found for any of them"
    assert err[0].startswith("skipped de: ") and len(err) == 2
    assert keep.read_bytes() == b"precious"
    assert not list(tmp_path.glob(".keep*")) and not (tmp_path / "keep.summary.csv").exists()


def test_trace_replaces_its_outputs_only_when_done(corpus, tok, tmp_path, capsys, monkeypatch):
    mlama = write_mlama(tmp_path / "mlama")
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    out = tmp_path / "out" / "trace.parquet"
    code, _ = run_cli(
        ["trace", "--mlama", mlama, "--root", root, "--langs", "en,de", "--out", out],
        capsys,
        monkeypatch,
    )
    assert code == 0 and out.is_file() and (out.parent / "trace.summary.csv").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["trace.parquet", "trace.summary.csv"]


def test_atomic_output_keeps_the_old_file_when_the_writer_fails(tmp_path):
    out = tmp_path / "predictions.parquet"
    out.write_bytes(b"old")
    with pytest.raises(OSError, match="No space"), atomic_output(out) as tmp:
        tmp.write_bytes(b"half of the new")
        raise OSError(28, "No space left on device")
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [out.name]
    with atomic_output(out) as tmp:
        assert tmp.parent == out.parent and tmp.suffix == ".parquet"
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_atomic_output_into_a_folder_path_is_a_one_line_error(tmp_path):
    with pytest.raises(FactrootsError, match="it is a folder"), atomic_output(tmp_path):
        pass


def test_similarity_that_fails_while_writing_keeps_the_old_matrix(tmp_path, capsys, monkeypatch):
    import pandas as pd

    from factroots.tables import NEURONS

    neurons = tmp_path / "neurons.parquet"
    rows = [
        {
            "model": "m",
            "lang": lang,
            "relation": "P1",
            "uuid": uuid,
            "group_size": 2,
            "status": "ok",
            "top_neurons": [1, 2, 3],
            "top_scores": [1.0, 0.5, 0.2],
        }
        for lang in ("en", "de")
        for uuid in ("a", "b")
    ]
    pd.DataFrame(rows, columns=NEURONS.columns).to_parquet(neurons)
    out = tmp_path / "matrix.csv"
    out.write_text("old\n")

    def disk_full(self, path, *args, **kwargs):
        Path(path).write_text("lang,en\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    code, err = run_cli(["similarity", "--neurons", neurons, "--out", out], capsys, monkeypatch)
    assert code == 2 and err == ["error: No space left on device"]
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix.csv", "neurons.parquet"]


# -- one-line errors: manifests, mLAMA files, option ranges -----------------------------------


def rewrite_manifest(root: Path, change) -> Path:
    path = root / "mbert" / "en" / "manifest.json"
    data = json.loads(path.read_text())
    path.write_text(change(data))
    return path.resolve()


def test_a_manifest_whose_format_version_is_a_string_is_a_one_line_error(
    corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    path = rewrite_manifest(root, lambda d: json.dumps({**d, "format_version": "1"}))
    code, err = run_cli(
        ["query", "Paris", "France", "--root", root, "--lang", "en"], capsys, monkeypatch
    )
    assert code == 2
    assert err == [f"error: corrupt manifest {path}: format_version is '1', not an integer"]


def test_a_deeply_nested_manifest_is_a_one_line_error(corpus, tok, tmp_path, capsys, monkeypatch):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    path = rewrite_manifest(root, lambda d: "[" * 200_000 + "]" * 200_000)
    code, err = run_cli(["query", "Paris", "--root", root, "--lang", "en"], capsys, monkeypatch)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: corrupt manifest {path}: maximum recursion depth")


def test_an_index_moved_to_another_language_is_a_one_line_error(
    corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    os.rename(root / "mbert" / "en", root / "mbert" / "de")
    code, err = run_cli(["query", "Paris", "--root", root, "--lang", "de"], capsys, monkeypatch)
    assert code == 2
    assert err == [
        f"error: index {root / 'mbert' / 'de'} holds language 'en', not 'de' "
        "(moved or renamed?): rebuild it with --lang de"
    ]


@pytest.fixture()
def traced(corpus, tok, tmp_path) -> tuple[Path, Path]:
    """A demo mLAMA folder and an index root with the English index."""
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok)
    return write_mlama(tmp_path / "mlama"), root


def test_an_mlama_record_with_lineid_infinity_is_skipped_and_counted(
    traced, tmp_path, capsys, monkeypatch
):
    mlama, root = traced
    relation = mlama / "en" / "P1376.jsonl"
    with relation.open("a") as fh:
        fh.write('{"uuid": "x", "lineid": Infinity, "sub_label": "a", "obj_label": "b"}\n')
        fh.write('{"uuid": "y", "lineid": 1e999, "sub_label": "a", "obj_label": "b"}\n')
    lines = len(relation.read_text().splitlines())
    code, err = run_cli(
        [
            "trace",
            "--mlama",
            mlama,
            "--root",
            root,
            "--langs",
            "en",
            "--out",
            tmp_path / "t.parquet",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0
    assert err == [
        f"skipped 2 malformed mLAMA record(s), first: SkippedRecord("
        f"path='{relation}', line={lines - 1}, "
        "reason='bad JSON: Infinity is not JSON')"
    ]


def test_an_mlama_relation_path_that_is_a_folder_is_a_one_line_error(
    traced, tmp_path, capsys, monkeypatch
):
    mlama, root = traced
    (mlama / "en" / "P999.jsonl").mkdir()
    out = tmp_path / "t.parquet"
    code, err = run_cli(
        ["trace", "--mlama", mlama, "--root", root, "--langs", "en", "--out", out],
        capsys,
        monkeypatch,
    )
    assert code == 2 and not out.exists()
    assert err == [f"error: mLAMA file {mlama / 'en' / 'P999.jsonl'} is a folder"]


def test_an_unreadable_mlama_relation_file_is_a_one_line_error(
    traced, tmp_path, capsys, monkeypatch
):
    mlama, root = traced
    broken = mlama / "en" / "P998.jsonl"
    broken.symlink_to(tmp_path / "gone.jsonl")  # unreadable even for root
    out = tmp_path / "t.parquet"
    code, err = run_cli(
        ["trace", "--mlama", mlama, "--root", root, "--langs", "en", "--out", out],
        capsys,
        monkeypatch,
    )
    assert code == 2 and not out.exists()
    assert err == [f"error: cannot read mLAMA file {broken}: No such file or directory"]
    if os.geteuid() != 0:
        broken.unlink()
        broken.write_text("{}\n")
        broken.chmod(0)
        code, err = run_cli(
            ["trace", "--mlama", mlama, "--root", root, "--langs", "en", "--out", out],
            capsys,
            monkeypatch,
        )
        assert code == 2 and err == [f"error: cannot read mLAMA file {broken}: Permission denied"]


def test_max_tokens_beyond_its_range_is_a_usage_error_not_an_overflow(
    corpus, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    code, err = run_cli(
        [
            "index",
            "build",
            corpus,
            "--lang",
            "en",
            "--root",
            root,
            "--max-tokens",
            "99999999999999999999",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 2 and not root.exists()
    assert err[-1] == (
        "Error: Invalid value for '--max-tokens': 99999999999999999999 is not "
        "in the range 1<=x<=1000000."
    )


def test_a_file_where_the_index_goes_is_an_error_before_the_build_and_is_kept(
    corpus, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    (root / "mbert").mkdir(parents=True)
    (root / "mbert" / "en").write_text("mine")
    (root / "mbert" / ".dangling").symlink_to(tmp_path / "nowhere")
    code, err = run_cli(
        ["index", "build", corpus, "--lang", "en", "--root", root], capsys, monkeypatch
    )
    assert code == 2
    assert err == [
        f"error: {root / 'mbert' / 'en'} is neither an index nor a link to one: move it away"
    ]
    assert (root / "mbert" / "en").read_text() == "mine"
    assert sorted(p.name for p in (root / "mbert").iterdir()) == [".dangling", "en"]


# -- input the build cannot read: an error before the work, never skipped silently -----------


def copied_input(corpus: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(corpus, tmp_path / "input"))


def make_unreadable(path: Path, monkeypatch) -> None:
    """`path` unreadable: by its mode bits, and for root (whom they do not stop) by the calls
    the reader makes failing as they would (os.scandir for a folder, os.open for a file)."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    denied = OSError(13, "Permission denied", str(path))
    real_scandir, real_open = os.scandir, os.open

    def scandir(p=".", *args):
        if os.fspath(p) == str(path):
            raise denied
        return real_scandir(p, *args)

    def open_(p, *args, **kwargs):
        if os.fspath(p) == str(path):
            raise denied
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_an_unreadable_input_folder_or_file_is_a_one_line_error_before_the_build(
    kind, corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    old, before = fingerprint(root, tok), tree(root)
    source = copied_input(corpus, tmp_path)
    (source / "AB").mkdir()
    (source / "AB" / "wiki_00").write_bytes((source / "AA" / "wiki_00").read_bytes())
    bad = source / "AB" if kind == "folder" else source / "AB" / "wiki_00"
    make_unreadable(bad, monkeypatch)
    try:
        code, err = run_cli(
            ["index", "build", source, "--lang", "en", "--root", root], capsys, monkeypatch
        )
    finally:
        bad.chmod(0o755)
    assert code == 2
    assert err == [f"error: cannot read input {kind} {bad}: Permission denied"]
    assert tree(root) == before and fingerprint(root, tok) == old


def test_a_file_name_that_is_not_utf8_is_a_one_line_error_before_the_build(
    corpus, tok, tmp_path, capsys, monkeypatch
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    old, before = fingerprint(root, tok), tree(root)
    source = copied_input(corpus, tmp_path)
    bad = os.path.join(os.fsencode(source / "AA"), b"wiki_\xff")
    with open(bad, "wb") as fh:
        fh.write((source / "AA" / "wiki_00").read_bytes())
    monkeypatch.setattr(
        "factroots.indexer.builder.CorpusReader.__iter__",
        lambda self: pytest.fail("the build started"),
    )
    code, err = run_cli(
        ["index", "build", source, "--lang", "en", "--root", root], capsys, monkeypatch
    )
    assert code == 2
    assert err == [
        f"error: input file name is not UTF-8: {source}/AA/wiki_\\xff: rename it "
        "(nothing was built)"
    ]
    assert tree(root) == before and fingerprint(root, tok) == old


# -- a word unit longer than tantivy's limit ---------------------------------------------------


def test_a_word_of_70000_bytes_matches_as_the_brute_force_scan_says_and_is_counted(tok, tmp_path):
    from click.testing import CliRunner

    from factroots.cli import cli
    from factroots.indexer.manifest import read_manifest
    from factroots.indexer.segmenter import Segmenter
    from tests.brute_force import BruteForceMatcher, reference_units

    long, other = "x" * 70_000, "x" * 69_999 + "y"  # the same first bytes; only `long` is in
    source = tmp_path / "input"
    (source / "AA").mkdir(parents=True)
    docs = [
        ("Alpha", f"Alpha {long} Beta gamma."),
        ("Delta", "Alpha Beta gamma delta."),
        ("Eta", "Beta x gamma."),
    ]
    (source / "AA" / "wiki_00").write_text(
        "".join(
            f'<doc id="{i}" url="" title="{t}">\n{t}\n\n{text}\n</doc>\n'
            for i, (t, text) in enumerate(docs)
        ),
        encoding="utf-8",
    )
    root = tmp_path / "idx"
    done = CliRunner().invoke(
        cli, ["index", "build", str(source), "--lang", "en", "--root", str(root)]
    )
    assert done.exit_code == 0, done.output
    assert (
        "  1 word unit(s) over 65,530 bytes, indexed and matched as a stand-in (their first "
        "bytes and a hash)"
    ) in done.output.splitlines()
    index = FactIndex.open(root, "en", tok)
    assert index.manifest.counts.long_units == 1
    assert read_manifest(index.path).counts.long_units == 1

    segmenter = Segmenter(tok, index.manifest.max_tokens)
    from factroots.indexer.reader import CorpusReader

    lines = [
        (line.text, line.ids.tolist())
        for doc_lines in segmenter.lines(list(CorpusReader(source)))
        for line in doc_lines
    ]
    brute = BruteForceMatcher(lines)
    labels = [
        long,
        other,
        "Alpha",
        "Beta",
        "gamma",
        "x",
        f"Alpha {long}",
        f"{long} Beta",
        f"Alpha {long} Beta gamma",
        f"Alpha {other}",
        f"{long}x",
        "delta",
    ]
    refs = {label: tuple(reference_units(label)) for label in labels}
    expected = brute.lines_with_all(refs.values(), "words")
    got = [index.count(label).lines for label in labels]
    assert got == [len(expected[refs[label]]) for label in labels]
    assert got[:2] == [1, 0] and got[6:10] == [1, 1, 1, 0]
    assert index.count_many(labels).lines.tolist() == got
    pairs = [
        (long, "Alpha"),
        (long, "gamma"),
        ("Alpha", "Beta"),
        (other, "Beta"),
        (f"{long} Beta", "Alpha"),
        (long, "delta"),
    ]
    both = [len(expected[refs[s]] & expected[refs[o]]) for s, o in pairs]
    assert [index.cooccur(s, o).lines for s, o in pairs] == both == [1, 1, 2, 0, 1, 0]
    assert index.cooccur_many(pairs).cooccur_lines.tolist() == both
    evidence = index.cooccur(long, "Alpha", show=1).evidence[0]
    assert [evidence.text[s:e] for s, e in sorted(evidence.spans)] == ["Alpha", "Alpha", long]


# -- outputs that cannot be written: an error before the work ----------------------------------


@pytest.fixture()
def read_only(tmp_path):
    """A folder that takes no new files, and the reason the system gives: a read-only tmpfs
    where root may mount one, else mode 0o555 (which does not stop root)."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path, "Permission denied"
        path.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        cannot_set_up("root cannot mount a read-only tmpfs here")
    try:
        yield path, "Read-only file system"
    finally:
        subprocess.run(["umount", str(path)], check=True)


OUTPUT_COMMANDS = {  # the command with its output at OUT, and the function that does its work
    "index build": (
        ["index", "build", "in", "--lang", "en", "--root", "OUT"],
        "factroots.indexer.builder.build_index",
    ),
    "trace": (
        ["trace", "--mlama", "m", "--root", "r", "--langs", "en", "--out", "OUT"],
        "factroots.search.trace.trace_languages",
    ),
    "probe": (
        ["probe", "--mlama", "m", "--model", "x", "--langs", "en", "--out", "OUT"],
        "factroots.probing.model.load_masked_lm",
    ),
    "probe --save-activations": (
        [
            "probe",
            "--mlama",
            "m",
            "--model",
            "x",
            "--langs",
            "en",
            "--out",
            "p.parquet",
            "--save-activations",
            "OUT",
        ],
        "factroots.probing.model.load_masked_lm",
    ),
    "attribute": (
        ["attribute", "--activations", "a", "--predictions", "p", "--out", "OUT"],
        "factroots.attribution.attribute.correct_facts",
    ),
    "similarity": (
        ["similarity", "--neurons", "n", "--out", "OUT"],
        "factroots.attribution.similarity.language_similarity",
    ),
    "report": (
        ["report", "--trace", "t", "--predictions", "p", "--out", "OUT"],
        "factroots.report.build.build_report",
    ),
    "export lucene": (
        ["export", "lucene", "--root", "r", "--lang", "en", "--out", "OUT"],
        "factroots.export.lucene.export_lucene",
    ),
    "demo": (["demo", "--no-model", "--workdir", "OUT"], "factroots.demo.run.run_demo"),
}


@pytest.mark.parametrize("where", ["read-only", "blocked", "not UTF-8"])
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_an_output_location_that_cannot_be_written_is_an_error_before_the_work(
    command, where, request, tmp_path, capsys, monkeypatch
):
    args, work = OUTPUT_COMMANDS[command]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(work, lambda *a, **k: pytest.fail("the work started"))
    if where == "read-only":
        folder, reason = request.getfixturevalue("read_only")
        out = folder / "sub" / "out"
        expected = f"error: cannot write in {folder}: {reason}"
    elif where == "not UTF-8":
        out = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"o\xff", b"out")))
        expected = f"error: output path is not UTF-8: {tmp_path}/o\\xff/out: use a UTF-8 name"
    else:  # a file where a folder of the output's path must go
        blocker = tmp_path / "a-file"
        blocker.write_text("mine")
        out = blocker / "sub" / "out"
        is_folder = command in (
            "index build",
            "probe --save-activations",
            "report",
            "export lucene",
            "demo",
        )
        expected = (
            f"error: cannot create {out if is_folder else out.parent}: {blocker} is not a folder"
        )
    code, err = run_cli([str(out) if a == "OUT" else a for a in args], capsys, monkeypatch)
    assert code == 2 and err == [expected]
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == {"read-only": ["ro"], "blocked": ["a-file"], "not UTF-8": []}[where]
    )


# -- optional extras that are not installed ---------------------------------------------------


NO_MODULE = (
    "import sys; sys.modules[sys.argv.pop(1)] = None; sys.argv[0] = 'factroots'; "
    "from factroots.cli import main; main()"
)


@pytest.mark.parametrize(
    "command,missing,expected",
    [
        (
            ["probe", "--mlama", "m", "--model", "x", "--langs", "en", "--out", "p.parquet"],
            "torch",
            "error: factroots probe needs torch, which is not installed: pip install "
            "'factroots[probe]'",
        ),
        (
            ["demo", "--workdir", "demo-out"],
            "torch",
            "error: factroots demo needs torch, which is not installed: "
            "pip install 'factroots[probe]' (or run factroots demo --no-model)",
        ),
        (
            ["demo", "--workdir", "demo-out"],
            "transformers",
            "error: factroots demo needs transformers, which is not installed: pip install "
            "'factroots[probe]' (or run factroots demo --no-model)",
        ),
        (
            ["report", "--trace", "t", "--predictions", "p", "--out", "report"],
            "matplotlib",
            "error: factroots report needs matplotlib, which is not installed: pip install "
            "'factroots[report]'",
        ),
    ],
    ids=["probe-torch", "demo-torch", "demo-transformers", "report-matplotlib"],
)
def test_a_command_whose_extra_is_not_installed_says_which_to_install(
    command, missing, expected, tmp_path
):
    done = subprocess.run(
        [sys.executable, "-c", NO_MODULE, missing, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.splitlines() == [expected]
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


# -- damaged index segments ---------------------------------------------------------------------


def damage(version: Path, suffix: str, positions) -> None:
    """Flip the bytes at `positions` of the body (not the footer) of each `suffix` file."""
    for path in version.glob(f"*{suffix}"):
        data = bytearray(path.read_bytes())
        body = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
        for i in positions(body):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))


def damaged_message(root: Path, corpus: Path) -> str:
    return (
        rf"error: index {re.escape(str(root / 'mbert' / 'en'))} is damaged \(tantivy: .+\): "
        rf"rebuild it: factroots index build {re.escape(str(corpus.resolve()))} --lang en "
        rf"--root {re.escape(str(root))}"
    )


@pytest.mark.parametrize("found", ["on open (a panic)", "in a search (an I/O error)"])
def test_a_damaged_segment_is_a_one_line_error_that_names_the_index_and_its_rebuild(
    found, corpus, tok, tmp_path
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, workers=1)
    version = root / "mbert" / os.readlink(root / "mbert" / "en")
    if found.startswith("on open"):
        damage(version, ".term", lambda body: range(0, body, 3))
    else:  # the stored lines: opening and counting work, showing evidence does not
        damage(version, ".store", lambda body: range(8))
    before = tree(root)
    query = [
        sys.executable,
        "-m",
        "factroots",
        "query",
        "Paris",
        "France",
        "--show",
        "3",
        "--root",
        str(root),
        "--lang",
        "en",
    ]
    done = subprocess.run(
        query,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUST_BACKTRACE": "1"},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1  # no Rust panic report, no traceback
    assert re.fullmatch(damaged_message(root, corpus), done.stderr.strip())
    assert tree(root) == before


def test_a_panic_in_a_search_of_a_damaged_segment_is_caught_and_names_the_index(
    corpus, tok, tmp_path
):
    """Some damage to the term dictionary passes the open and panics in a search: the first
    such spot is searched for, 8 bytes at a time."""
    import shutil

    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, workers=1)
    pristine = root / "mbert" / os.readlink(root / "mbert" / "en")
    term = next(pristine.glob("*.term")).read_bytes()
    body = len(term) - 8 - int.from_bytes(term[-8:-4], "little")
    for start in range(0, body, 8):
        # a folder per try: an index left open on a removed folder may still touch it
        copy_root = tmp_path / f"copy-{start}"
        copy = copy_root / "mbert" / "en"
        shutil.copytree(pristine, copy)
        damage(copy, ".term", lambda _, at=start: range(at, min(body, at + 8)))
        try:
            index = FactIndex.open_path(copy, tok)
        except FactrootsError:
            continue
        try:
            with index:
                for label in ("Paris", "France", "Berlin", "Germany", "the"):
                    index.cooccur(label, "France", show=3)
        except FactrootsError as exc:
            if type(exc.__context__).__name__ == "PanicException":
                assert re.fullmatch(damaged_message(copy_root, corpus), f"error: {exc}")
                return
        shutil.rmtree(copy_root, ignore_errors=True)
    pytest.fail("no damage of the term dictionary panicked in a search")


# -- a full disk during a build -------------------------------------------------------------------


def full_disk_error(root: Path) -> str:
    return (
        rf"error: build of {re.escape(str(root / 'mbert' / 'en'))} failed: No space left on "
        r"device( \(tantivy: .+\))?; the index there is unchanged"
    )


@pytest.mark.parametrize("free_kib", [32, 160, 320])
def test_a_disk_that_fills_up_during_a_build_is_a_one_line_error_and_the_old_index_stays(
    free_kib, corpus, big_corpus, tok, tmp_path, capsys, monkeypatch
):
    """A real full disk (a small tmpfs, root only): with this little room left the build
    fails in tantivy's writer threads, its commit, or the postings sidecar."""
    import shutil

    disk = tmp_path / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
        ).returncode
        != 0
    ):
        cannot_set_up("needs root allowed to mount a tmpfs")
    try:
        root = disk / "idx"
        build_index(corpus, "en", root, tok, max_tokens=16)
        old, before = fingerprint(root, tok), tree(root)
        (disk / "filler").write_bytes(bytes(shutil.disk_usage(disk).free - free_kib * 1024))
        code, err = run_cli(
            ["index", "build", big_corpus, "--lang", "en", "--root", root, "--workers", "1"],
            capsys,
            monkeypatch,
        )
        assert code == 2 and len(err) == 1 and re.fullmatch(full_disk_error(root), err[0])
        assert tree(root) == before and fingerprint(root, tok) == old
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)  # readers may map files


DISK_FULL = r"""
import errno, sys
from factroots.indexer import postings
def full(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "postings/words.run-0.npz")
postings.PostingsWriter.add_lines = full
sys.argv[0] = "factroots"
from factroots.cli import FIRST_TRACE_NOTE, main
main()
"""


def test_an_oserror_enospc_while_writing_a_build_is_a_one_line_error_and_the_old_index_stays(
    corpus, tok, tmp_path
):
    root = tmp_path / "idx"
    build_index(corpus, "en", root, tok, max_tokens=16)
    old, before = fingerprint(root, tok), tree(root)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DISK_FULL,
            "index",
            "build",
            str(corpus),
            "--lang",
            "en",
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: build of {root / 'mbert' / 'en'} failed: No "
        "space left on device; the index there is unchanged"
    ]
    assert tree(root) == before and fingerprint(root, tok) == old


def processes_with(marker: str) -> list[int]:
    """Pids of the processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_killed_sharded_build_leaves_no_worker_behind(tmp_path, wiki_dir):
    """Workers are forked by a forkserver (their parent, which outlives the build): when the
    build is SIGKILLed, its workers and the forkserver end all the same."""
    corpus = tmp_path / "corpus"
    for k in range(4):
        (corpus / f"part-{k}").mkdir(parents=True)
        for n, source in enumerate(sorted((wiki_dir / "en").rglob("wiki_*"))):
            (corpus / f"part-{k}" / f"wiki_{n:02d}").write_bytes(source.read_bytes())
    marker = str(tmp_path / "marker-on-the-forkserver-command-line")
    script = tmp_path / "build.py"
    script.write_text(
        "import sys\n"
        f"sys.path.append({marker!r})\n"
        "from factroots.indexer.builder import build_index\n"
        "if __name__ == '__main__':\n"
        f"    build_index({str(corpus)!r}, 'en', {str(tmp_path / 'idx')!r}, 'mbert',"
        " workers=2, shards=2)\n"
    )
    build = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).parents[1])
    deadline = time.monotonic() + 60
    while len(processes_with(marker)) < 2 and build.poll() is None:
        assert time.monotonic() < deadline, "the build started no worker"
        time.sleep(0.05)
    assert build.poll() is None, "the build ended before its workers could be seen"
    build.send_signal(signal.SIGKILL)
    build.wait()
    deadline = time.monotonic() + 15
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []
