"""`index build PATH.xml.bz2`: a MediaWiki dump read through wikiextractor's extraction,
streaming, as WikiExtractor's own output of it would be read. The dumps are written here."""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from factroots.cli import cli
from factroots.errors import FactrootsError
from factroots.indexer.builder import build_index
from factroots.indexer.dump import DumpReader, is_mediawiki_dump
from factroots.indexer.reader import CorpusReader, Document
from factroots.search import FactIndex
from tests.conftest import IN_CI

try:
    import wikiextractor  # noqa: F401
except ImportError:
    if IN_CI:
        pytest.fail(
            "wikiextractor is not installed (CI=true requires the 'dump' extra)", pytrace=False
        )
    pytestmark = pytest.mark.skip(reason="wikiextractor is not installed: pip install '.[dump]'")

SITEINFO = """  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>enwiki</dbname>
    <base>https://en.wikipedia.org/wiki/Main_Page</base>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="10" case="first-letter">Template</namespace>
    </namespaces>
  </siteinfo>
"""
PARIS = (
    "'''Paris''' is the capital of [[France]]. It has 2 million people &amp;amp; more."
    "\n\n== History ==\nParis was founded by the [[Parisii]].\n\n* a list item about "
    'Berlin\n* another\n\n{| class="wikitable"\n| cell Tokyo\n|}\n\n'
    "{{Infobox city|name=Paris}}\nThe city is on the [[Seine|river Seine]]."
)
PAGES = [
    ("1", "0", "Paris", PARIS, False),
    ("2", "0", "AT&amp;T", "'''AT&amp;amp;T''' is a company in the [[United States]].", False),
    ("3", "0", "Paname", "#REDIRECT [[Paris]]", True),
    ("4", "10", "Template:Infobox city", "{{{name}}}", False),
    ("5", "0", "東京", "'''東京'''は[[日本]]の首都である。", False),
]


def page_xml(page_id: str, ns: str, title: str, text: str, redirect: bool) -> str:
    moved = '    <redirect title="Paris" />\n' if redirect else ""
    return (
        f"  <page>\n    <title>{title}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
        f"{moved}    <revision>\n      <id>{int(page_id) + 100}</id>\n"
        f'      <text bytes="{len(text)}" xml:space="preserve">{text}</text>\n'
        "    </revision>\n  </page>\n"
    )


def dump_xml(pages) -> str:
    return (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" '
        'xml:lang="en">\n' + SITEINFO + "".join(page_xml(*p) for p in pages) + "</mediawiki>\n"
    )


def write_dump(path: Path, pages, level: int = 9) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(dump_xml(pages).encode("utf-8"), compresslevel=level))
    return path


def many_pages(n: int):
    return [
        (
            str(k + 10),
            "0",
            f"Town {k}",
            f"'''Town {k}''' is a town in [[Country {k % 7}]]. " + "It is small. " * 40,
            False,
        )
        for k in range(n)
    ]


def test_a_dump_gives_text_passages_only(tmp_path):
    dump = write_dump(tmp_path / "enwiki-pages-articles.xml.bz2", PAGES)
    assert is_mediawiki_dump(dump) and not is_mediawiki_dump(Path(__file__))
    reader = DumpReader(dump)
    assert list(reader) == [
        Document(
            "1",
            "Paris",
            "Paris Paris is the capital of France. It has 2 million people "
            "& more. Paris was founded by the Parisii. The city is on the river Seine.",
            "Paris is the capital of France. It has 2 million people & more.",
        ),
        Document(
            "2",
            "AT&T",
            "AT&T AT&T is a company in the United States.",
            "AT&T is a company in the United States.",
        ),
        Document("5", "東京", "東京 東京は日本の首都である。", "東京は日本の首都である。"),
    ]
    [source] = reader.sources
    assert (source.path, source.size, source.documents) == (dump.name, dump.stat().st_size, 3)
    assert source.sha256 == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert reader.bytes_done == reader.total_bytes


def test_a_dump_reads_as_wikiextractors_own_output_of_it(tmp_path):
    pages = [p for p in PAGES if p[0] != "1"] + many_pages(30)  # no section headers
    dump = write_dump(tmp_path / "dump" / "wiki.xml.bz2", pages)
    out = tmp_path / "extracted"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wikiextractor.WikiExtractor",
            str(dump),
            "--no-templates",
            "-q",
            "--processes",
            "1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    expected = list(CorpusReader(out))
    assert len(expected) == 32 and list(DumpReader(dump)) == expected


def test_index_build_from_a_dump_records_it(tmp_path):
    dump = write_dump(tmp_path / "enwiki-latest-pages-articles.xml.bz2", PAGES)
    result = CliRunner().invoke(
        cli, ["index", "build", str(dump), "--lang", "en", "--root", str(tmp_path / "idx")]
    )
    assert result.exit_code == 0, result.output
    assert "3 documents" in result.output
    index = FactIndex.open(tmp_path / "idx", "en")
    manifest = json.loads((tmp_path / "idx" / "mbert" / "en" / "manifest.json").read_text())
    [source] = manifest["sources"]
    assert source["path"] == dump.name
    assert source["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert index.cooccur("Paris", "France").present
    assert index.cooccur("東京", "日本").present
    assert not index.cooccur("Berlin", "Paris").present  # the list is left out
    assert index.count("Tokyo").lines == 0  # and the table
    assert index.count("History").lines == 0  # and the header


def test_a_truncated_dump_indexes_the_whole_pages_before_the_cut(tmp_path):
    whole = write_dump(tmp_path / "whole.xml.bz2", many_pages(3000), level=1)
    cut = tmp_path / "cut" / "cut.xml.bz2"
    cut.parent.mkdir()
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    manifest = build_index(cut, "en", tmp_path / "idx", workers=1)
    assert 0 < manifest.counts.documents < 3000
    assert manifest.counts.skipped_by_reason == {"unreadable stream (EOFError)": 1}
    index = FactIndex.open(tmp_path / "idx", "en")
    texts = [text for _, text in index.stored_texts()]
    assert all(text.endswith("It is small.") for text in texts)  # no page cut in half
    assert manifest.sources[0]["sha256"] == hashlib.sha256(cut.read_bytes()).hexdigest()


def test_a_dump_cut_before_its_first_page_is_a_one_line_error(tmp_path):
    whole = write_dump(tmp_path / "whole.xml.bz2", PAGES)
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(whole.read_bytes()[:200])
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(FactrootsError, match="no documents with text"):
        build_index(cut, "en", tmp_path / "idx", workers=1)
    assert not (tmp_path / "idx" / "mbert" / "en").exists()
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["idx"])


def test_pages_extracted_by_worker_processes_come_in_order(tmp_path):
    dump = write_dump(tmp_path / "wiki.xml.bz2", PAGES + many_pages(300))
    here = list(DumpReader(dump))
    reader = DumpReader(dump, workers=2)
    assert list(reader) == here and len(here) == 303
    assert reader.sources[0].sha256 == hashlib.sha256(dump.read_bytes()).hexdigest()
    manifest = build_index(dump, "en", tmp_path / "idx", workers=2)
    assert manifest.counts.documents == 303 and not manifest.sharded
