"""Format-2 postings sidecars (global positions): they still open, and `index upgrade`
rewrites them in place into exactly what a build writes now."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from factroots.indexer.builder import build_index
from factroots.indexer.postings import (
    POSTINGS_DIR,
    PostingsLayout,
    _in_line_dtype,
    read_meta,
    upgrade_postings,
)
from factroots.search import FactIndex

MODES = ("words", "tokens")
NEW_ARRAYS = ("occurrence_offsets", "in_line")
PAIRS = [("New York", "Paris"), ("York", "a a"), ("北京市", "a"), ("Paris New", "York")]


@pytest.fixture(scope="module")
def built(tmp_path_factory, mbert):
    """An index of two shards over two files, lines of at most 5 tokens."""
    base = tmp_path_factory.mktemp("upgrade")
    corpus = base / "corpus"
    corpus.mkdir()
    words = ["New York", "Paris", "a", "北京 市", "York New", "a a", "Paris New York"]
    for k in range(2):
        docs = [
            f'<doc id="{k}{i}" url="" title="T{i}">\nT{i}\n\n'
            + " ".join(words[(i * j + k) % len(words)] for j in range(9))
            + "\n</doc>\n"
            for i in range(6)
        ]
        (corpus / f"wiki_0{k}").write_text("".join(docs), encoding="utf-8")
    build_index(corpus, "xx", base / "root", mbert, max_tokens=5, workers=1, shards=2)
    return base / "root"


def shard_folders(root):
    index = FactIndex.open(root, "xx", "mbert")
    return [shard.path for shard in index.shards]


def as_format_2(folder) -> None:
    """Rewrite a sidecar as format 2 wrote it: every term's global positions, no per-line
    arrays (written here from the format's definition, not by factroots)."""
    layout = PostingsLayout(folder / POSTINGS_DIR)
    meta = json.loads(layout.meta.read_text())
    for mode in MODES:
        line_offsets, lines, line_starts, occurrence_offsets, in_line = (
            np.load(layout.array(mode, name))
            for name in ("line_offsets", "lines", "line_starts", *NEW_ARRAYS)
        )
        per_posting = np.diff(occurrence_offsets.astype(np.int64))
        positions = np.repeat(line_starts[lines], per_posting) + in_line
        np.save(layout.array(mode, "positions"), positions.astype(np.uint32))
        np.save(layout.array(mode, "offsets"), occurrence_offsets[line_offsets].astype(np.int64))
        for name in NEW_ARRAYS:
            layout.array(mode, name).unlink()
        del meta["modes"][mode]["in_line_dtype"]
    meta["format_version"] = 2
    layout.meta.write_text(json.dumps(meta))


@pytest.fixture
def old_root(built, tmp_path):
    copy = tmp_path / "root"
    shutil.copytree(built, copy, symlinks=True)
    for folder in shard_folders(copy):
        as_format_2(folder)
    return copy


def sidecar_bytes(folder) -> dict[str, bytes]:
    directory = folder / POSTINGS_DIR
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_format_2_index_opens_with_a_warning_and_answers_through_tantivy(built, old_root):
    with pytest.warns(UserWarning, match="index upgrade"):
        old = FactIndex.open(old_root, "xx", "mbert")
    new = FactIndex.open(built, "xx", "mbert")
    assert not old.has_postings
    for mode in MODES:
        a, b = old.cooccur_many(PAIRS, mode), new.cooccur_many(PAIRS, mode)
        assert a.cooccur_lines.tolist() == b.cooccur_lines.tolist()
        assert a.subject_lines.tolist() == b.subject_lines.tolist()


def test_upgrade_rewrites_a_format_2_sidecar_into_what_a_build_writes(built, old_root):
    for old, new in zip(shard_folders(old_root), shard_folders(built), strict=True):
        assert upgrade_postings(old)
        assert sidecar_bytes(old) == sidecar_bytes(new)


def test_an_upgrade_stopped_after_its_meta_leaves_nothing_behind_the_next(built, tmp_path):
    copy = tmp_path / "root"
    shutil.copytree(built, copy, symlinks=True)
    folder = shard_folders(copy)[0]
    before = sidecar_bytes(folder)
    layout = PostingsLayout(folder / POSTINGS_DIR)
    for mode in MODES:  # as an upgrade stopped after writing meta.json leaves them
        np.save(layout.array(mode, "positions"), np.arange(3, dtype=np.uint32))
        np.save(layout.array(mode, "offsets"), np.arange(2, dtype=np.int64))
    (layout.directory / "upgrade").mkdir()
    assert not upgrade_postings(folder)
    assert sidecar_bytes(folder) == before


def test_upgrade_leaves_a_current_sidecar_alone(built):
    folder = shard_folders(built)[0]
    before = sidecar_bytes(folder)
    assert not upgrade_postings(folder)
    assert sidecar_bytes(folder) == before


def test_index_upgrade_command_upgrades_every_shard_once(old_root, factroots_cli):
    first = factroots_cli("index", "upgrade", old_root)
    assert first.code == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "2 upgraded, 0 already current"
    assert all(read_meta(folder) is not None for folder in shard_folders(old_root))
    again = factroots_cli("index", "upgrade", old_root)
    assert again.stdout.splitlines()[-1] == "0 upgraded, 2 already current"


def test_a_format_2_sidecar_missing_an_array_is_a_one_line_error_and_stays_as_it_was(
    old_root, factroots_cli
):
    folder = shard_folders(old_root)[1]
    layout = PostingsLayout(folder / POSTINGS_DIR)
    layout.array("tokens", "positions").unlink()
    before = sidecar_bytes(folder)
    result = factroots_cli("index", "upgrade", old_root)
    assert result.code != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot upgrade {layout.directory} (") and "rebuild" in line
    assert sidecar_bytes(folder) == before


def test_index_upgrade_of_a_missing_root_is_a_one_line_error(tmp_path, factroots_cli):
    result = factroots_cli("index", "upgrade", tmp_path / "none")
    assert result.code != 0
    assert result.stderr.strip().splitlines() == [
        f"error: index root {tmp_path / 'none'} does not exist"
    ]


def test_positions_within_a_line_take_16_bits_up_to_65536_terms_a_line():
    starts = np.array([0, 65537], dtype=np.int64)  # a line of 65,536 terms, then the gap
    assert _in_line_dtype(starts, 65537 + 3) is np.uint16
    assert _in_line_dtype(starts, 65537 + 65538) is np.uint32
