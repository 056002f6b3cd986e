"""`factroots export lucene`: the index's very lines as a pyserini JsonCollection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.export.lucene import export_lucene
from factroots.indexer.builder import build_index
from factroots.search import FactIndex
from factroots.units import word_units

DOCS = [
    ("1", "Paris", "Paris is the capital of France. It lies on the Seine."),
    ("2", "Berlin", "Berlin is the capital of Germany, on the Spree.\n\nNew York is not."),
    ("3", "東京", "東京は日本の首都である。Tokyo is in Japan."),
]


def _write_corpus(root: Path) -> Path:
    corpus = root / "corpus" / "AA"
    corpus.mkdir(parents=True)
    blocks = [
        f'<doc id="{i}" url="u{i}" title="{t}">\n{t}\n\n{body}\n</doc>\n' for i, t, body in DOCS
    ]
    (corpus / "wiki_00").write_text("".join(blocks), encoding="utf-8")
    return corpus.parent


def _records(out: Path) -> list[dict]:
    return [
        json.loads(raw)
        for path in sorted(out.glob("docs*.jsonl"))
        for raw in path.read_text(encoding="utf-8").splitlines()
    ]


def _contains(seq: list[str], part: tuple[str, ...]) -> bool:
    return any(tuple(seq[i : i + len(part)]) == part for i in range(len(seq) - len(part) + 1))


def _build(tmp: Path) -> tuple[Path, Path]:
    corpus = _write_corpus(tmp)
    build_index(corpus, "xx", tmp / "root", max_tokens=8)
    return corpus, tmp / "root"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("export"))


def test_export_writes_every_line_with_its_ids_and_word_units(built, tmp_path):
    corpus, root = built
    summary = export_lucene(root, "xx", tmp_path / "out", lines_per_file=3)
    records = _records(tmp_path / "out")
    index = FactIndex.open(root, "xx")
    assert summary.lines == index.num_lines == len(records)
    assert summary.files == -(-len(records) // 3)
    assert [r["id"] for r in records] == [str(i) for i in range(len(records))]
    for label in ("Paris", "capital", "New York", "東京", "Japan", "Seine ."):
        for mode, field in (("words", "words"), ("tokens", "contents")):
            entity = index.entity(label, mode)
            lines = sum(_contains(r[field].split(), entity.terms) for r in records)
            assert lines == index.count(label, mode).lines, (label, mode)


def test_words_are_the_stored_lines_units(built, tmp_path):
    _, root = built
    export_lucene(root, "xx", tmp_path / "out")
    texts = dict(FactIndex.open(root, "xx").stored_texts(page=2))
    records = _records(tmp_path / "out")
    assert len(records) == len(texts)
    for record in records:
        assert record["words"] == " ".join(word_units(texts[int(record["id"])]))


def test_changed_sources_are_refused(tmp_path):
    corpus, root = _build(tmp_path / "changed")
    path = corpus / "AA" / "wiki_00"
    path.write_text(path.read_text(encoding="utf-8").replace("Paris", "Lyon!"), encoding="utf-8")
    with pytest.raises(FactrootsError, match="changed|differ"):
        export_lucene(root, "xx", tmp_path / "out")


def test_cli_export_lucene(built, tmp_path):
    _, root = built
    result = CliRunner().invoke(
        cli,
        ["export", "lucene", "--root", str(root), "--lang", "xx", "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.output
    assert "lines" in result.output and _records(tmp_path / "out")
