"""The WikiExtractor reader: both formats, compression, and malformed input skipped and counted."""

import bz2
import gzip
import json

import pytest

from factroots.errors import FactrootsError
from factroots.indexer.reader import CorpusReader

GOOD = '<doc id="1" url="u" title="Berlin">\nBerlin\n\nBerlin is the capital of Germany.\n</doc>\n'


def read(tmp_path, files: dict[str, bytes]):
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    reader = CorpusReader(tmp_path)
    return list(reader), reader


def test_doc_format_gives_title_first_text_joined_by_spaces(tmp_path):
    docs, _ = read(tmp_path, {"AA/wiki_00": GOOD.encode()})
    assert docs[0].text == "Berlin Berlin is the capital of Germany."
    assert docs[0].first_paragraph == "Berlin is the capital of Germany."


def test_json_lines_format_is_read(tmp_path):
    record = {"id": "7", "url": "", "title": "Paris", "text": "Paris is in France.\n\nMore."}
    docs, _ = read(tmp_path, {"AA/wiki_00": (json.dumps(record) + "\n").encode()})
    assert (docs[0].doc_id, docs[0].text) == ("7", "Paris Paris is in France. More.")


def test_html_entities_are_unescaped_once(tmp_path):
    doc = '<doc id="1" url="u" title="A &amp; B">\nA &amp; B\n\nx &amp;lt; y\n</doc>\n'
    docs, _ = read(tmp_path, {"wiki_00": doc.encode()})
    assert docs[0].text == "A & B x &lt; y"


def test_text_is_normalized_to_nfc(tmp_path):
    doc = '<doc id="1" url="u" title="e">\ne\n\nCafe\u0301\n</doc>\n'
    docs, _ = read(tmp_path, {"wiki_00": doc.encode()})
    assert docs[0].text == "e Caf\u00e9"


def test_bz2_and_gzip_files_are_read(tmp_path):
    docs, _ = read(
        tmp_path,
        {
            "AA/wiki_00.bz2": bz2.compress(GOOD.encode()),
            "AA/wiki_01.gz": gzip.compress(GOOD.encode()),
        },
    )
    assert len(docs) == 2


def test_files_are_walked_in_sorted_order_and_hidden_entries_ignored(tmp_path):
    make = lambda i: GOOD.replace('id="1"', f'id="{i}"').encode()  # noqa: E731
    docs, _ = read(
        tmp_path,
        {
            "AB/wiki_00": make(3),
            "AA/wiki_01": make(2),
            "AA/wiki_00": make(1),
            ".hidden/wiki_00": make(9),
            "AA/.wiki_02": make(8),
        },
    )
    assert [d.doc_id for d in docs] == ["1", "2", "3"]


def test_unterminated_doc_is_skipped_and_counted(tmp_path):
    data = '<doc id="1" url="u" title="X">\nX\n\ntext\n' + GOOD
    docs, reader = read(tmp_path, {"wiki_00": data.encode()})
    assert [d.doc_id for d in docs] == ["1"] and docs[0].title == "Berlin"
    assert reader.skipped["unterminated <doc>"] == 1


def test_doc_unterminated_at_end_of_file_is_skipped_and_counted(tmp_path):
    docs, reader = read(tmp_path, {"wiki_00": (GOOD + '<doc id="2" title="Y">\nY\n').encode()})
    assert len(docs) == 1 and reader.skipped["unterminated <doc>"] == 1


def test_stray_closing_tag_is_skipped_and_counted(tmp_path):
    docs, reader = read(tmp_path, {"wiki_00": ("</doc>\n" + GOOD).encode()})
    assert len(docs) == 1 and reader.skipped["stray </doc>"] == 1


def test_invalid_utf8_document_is_skipped_and_counted(tmp_path):
    bad = GOOD.encode().replace(b"capital", b"capi\xff\xfetal")
    docs, reader = read(tmp_path, {"wiki_00": bad + GOOD.encode()})
    assert len(docs) == 1 and reader.skipped["invalid UTF-8 or binary"] == 1


def test_binary_junk_between_documents_is_skipped_and_counted(tmp_path):
    junk = bytes(range(256)) + b"\n\x00\x01\x02\n"
    docs, reader = read(tmp_path, {"wiki_00": GOOD.encode() + junk + GOOD.encode()})
    assert len(docs) == 2 and reader.skipped["text outside <doc>"] >= 1


def test_bad_json_lines_are_skipped_and_counted(tmp_path):
    lines = ['{"id": "1", "title": "A", "text": "a"}', "{not json", '{"id": "2"}', "[1, 2]"]
    docs, reader = read(tmp_path, {"wiki_00": "\n".join(lines).encode()})
    assert len(docs) == 1 and reader.skipped["bad JSON line"] == 3


def test_empty_file_is_noted_not_an_error(tmp_path):
    docs, reader = read(tmp_path, {"AA/wiki_00": b"", "AA/wiki_01": GOOD.encode()})
    assert len(docs) == 1 and [s.empty for s in reader.sources] == [True, False]


def test_corrupt_compressed_stream_is_counted_and_keeps_earlier_files(tmp_path):
    packed = bz2.compress((GOOD * 50).encode())
    broken = packed[: len(packed) // 2]
    docs, reader = read(tmp_path, {"a_wiki": GOOD.encode(), "b_wiki.bz2": broken})
    assert len(docs) >= 1
    assert any(reason.startswith("unreadable stream") for reason in reader.skipped)


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(FactrootsError, match="input not found"):
        CorpusReader(tmp_path / "nope")


def test_directory_without_files_is_a_clear_error(tmp_path):
    (tmp_path / ".hidden").write_text(GOOD)
    with pytest.raises(FactrootsError, match="no input files"):
        CorpusReader(tmp_path)


def test_sources_record_size_and_checksum(tmp_path):
    import hashlib

    _, reader = read(tmp_path, {"wiki_00": GOOD.encode()})
    assert reader.sources[0].size == len(GOOD.encode())
    assert reader.sources[0].sha256 == hashlib.sha256(GOOD.encode()).hexdigest()
