"""Reading mLAMA JSON-lines files: a whole file parsed at once, or line by line where any line
is malformed, with the same records and the same skipped lines either way."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from factroots.mlama import SkippedRecord, _each_json_line, _json_lines

GOOD = '{"uuid": "u%d", "sub_label": "S", "obj_label": "O"}'


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "P1.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_records_come_with_their_line_numbers_blank_lines_skipped(tmp_path):
    path = _write(tmp_path, [GOOD % 1, "", GOOD % 2])
    assert [(n, r["uuid"]) for n, r in _json_lines(path, [])] == [(1, "u1"), (3, "u2")]


def test_a_bad_line_is_skipped_with_its_number_and_the_others_kept(tmp_path):
    skipped: list[SkippedRecord] = []
    path = _write(tmp_path, [GOOD % 1, "{oops", GOOD % 3])
    assert [n for n, _ in _json_lines(path, skipped)] == [1, 3]
    assert [s.line for s in skipped] == [2]


def test_a_line_of_two_objects_is_skipped_not_split(tmp_path):
    skipped: list[SkippedRecord] = []
    path = _write(tmp_path, [GOOD % 1, f"{GOOD % 2}, {GOOD % 3}"])
    assert [n for n, _ in _json_lines(path, skipped)] == [1]
    assert [s.line for s in skipped] == [2]


def test_a_line_that_is_not_an_object_is_skipped(tmp_path):
    skipped: list[SkippedRecord] = []
    path = _write(tmp_path, ["[1, 2]", GOOD % 2])
    assert [n for n, _ in _json_lines(path, skipped)] == [2]
    assert skipped[0].reason == "bad JSON: not an object"


_LINE = st.one_of(
    st.integers(0, 99).map(lambda i: GOOD % i),
    st.sampled_from(["", "  ", "{", "[]", "1", "null", "Infinity", '{"a": NaN}', "{},{}", '"x"']),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2).map(json.dumps),
)


@given(lines=st.lists(_LINE, max_size=12))
@settings(max_examples=150, deadline=None)
def test_the_whole_file_path_equals_line_by_line(tmp_path_factory, lines):
    path = _write(tmp_path_factory.mktemp("m"), lines)
    whole: list[SkippedRecord] = []
    each: list[SkippedRecord] = []
    numbered = [(n, b) for n, b in enumerate(path.read_bytes().split(b"\n"), 1) if b.strip()]
    assert _json_lines(path, whole) == list(_each_json_line(path, numbered, each))
    assert whole == each
