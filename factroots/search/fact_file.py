"""Many facts from a file, answered in batches: `factroots query --facts FILE`.

A facts file is TSV or CSV with a header naming `subject`, `object` and, optionally, `lang`
(other columns are ignored), or JSON lines with those keys (`.jsonl`, `.ndjson`, `.json`). A row
without a language is asked in `default_lang`, or else in every language built under the root.
Rows are read in chunks of CHUNK_FACTS and each chunk is answered language by language with one
`FactIndex.cooccur_many` call, so memory stays bounded whatever the file's size; answers come out
in the file's order. Malformed rows are skipped and counted; a file that cannot be read, or
whose header lacks a column, is a one-line error before any index is opened.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TextIO

from factroots.errors import FactrootsError
from factroots.indexer.catalog import built_languages, missing_index
from factroots.indexer.layout import check_lang
from factroots.search.index import OK, FactIndex
from factroots.tokenizer import ModelTokenizer

CHUNK_FACTS = 50_000
REQUIRED = ("subject", "object")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
NO_INDEX = "no-index"


@dataclass(frozen=True)
class FactQuery:
    """One row of a facts file: `row` is its line in a JSON-lines file, its record after the
    header in a TSV or CSV file (both from 1)."""

    row: int
    subject: str
    object: str
    lang: str | None


@dataclass(frozen=True)
class FactAnswer:
    """One fact in one language, as `FactIndex.cooccur` answers it (status `no-index` when the
    language has no index under the root)."""

    row: int
    lang: str
    subject: str
    object: str
    mode: str
    status: str
    present: bool | None
    cooccur_lines: int
    subject_lines: int
    object_lines: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FactFileRun:
    """What a run over a facts file answered and skipped."""

    answers: int = 0
    by_status: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    languages: set[str] = field(default_factory=set)


class FactFile:
    """The rows of a facts file, read lazily; `skipped` counts malformed rows by reason."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.skipped: Counter = Counter()
        if not self.path.is_file():
            raise FactrootsError(f"facts file not found: {self.path}")
        self.json = self.path.suffix.lower() in JSON_SUFFIXES
        if not self.json:
            self._check_header()

    def _open(self):
        try:
            return open(self.path, encoding="utf-8", newline="")
        except OSError as exc:
            raise FactrootsError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def _delimiter(self) -> str:
        return "," if self.path.suffix.lower() == ".csv" else "\t"

    def _reader(self, fh: TextIO) -> Iterator[list[str]]:
        """CSV as the csv module reads it; TSV with no quoting, so labels keep their quotes."""
        if self._delimiter() == ",":
            return csv.reader(fh)
        return csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)

    def _check_header(self) -> None:
        with self._open() as fh:
            try:
                header = next(self._reader(fh), [])
            except (UnicodeDecodeError, csv.Error) as exc:
                raise FactrootsError(f"cannot read {self.path}: {exc}") from None
        missing = [c for c in REQUIRED if c not in [h.strip().lower() for h in header]]
        if missing:
            kind = "CSV" if self._delimiter() == "," else "TSV"
            raise FactrootsError(
                f"{self.path}: the {kind} header must name "
                f"{', '.join(REQUIRED)} (and optionally lang); it lacks "
                f"{', '.join(missing)}"
            )

    def __iter__(self) -> Iterator[FactQuery]:
        with self._open() as fh:
            rows = self._json_rows(fh) if self.json else self._table_rows(fh)
            try:
                for number, row in rows:
                    query = self._query(number, row)
                    if query is not None:
                        yield query
            except UnicodeDecodeError:
                self.skipped["invalid UTF-8 (rest of the file)"] += 1

    def _table_rows(self, fh) -> Iterator[tuple[int, dict]]:
        """(data row number, row); the header is row 0."""
        reader = self._reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        for number, values in enumerate(reader, 1):
            if not any(v.strip() for v in values):
                continue
            if len(values) < len(header):
                self.skipped["too few columns"] += 1
                continue
            yield number, dict(zip(header, values, strict=False))

    def _json_rows(self, fh) -> Iterator[tuple[int, dict]]:
        """(line number, row)."""
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                self.skipped["not JSON"] += 1
                continue
            if not isinstance(row, dict):
                self.skipped["not a JSON object"] += 1
                continue
            yield number, row

    def _query(self, number: int, row: dict) -> FactQuery | None:
        subject, obj, lang = row.get("subject"), row.get("object"), row.get("lang")
        if (
            not isinstance(subject, str)
            or not isinstance(obj, str)
            or not subject.strip()
            or not obj.strip()
        ):
            self.skipped["no subject or object"] += 1
            return None
        if lang is not None and not isinstance(lang, str):
            self.skipped["lang is not text"] += 1
            return None
        return FactQuery(number, subject.strip(), obj.strip(), (lang or "").strip() or None)


def answer_facts(
    facts: FactFile,
    root: str | Path,
    tokenizer: ModelTokenizer,
    mode: str,
    default_lang: str | None = None,
    run: FactFileRun | None = None,
) -> Iterator[FactAnswer]:
    """Every fact of the file answered, in the file's order (a fact without a language once per
    language built under the root); `run` is filled in as answers go out."""
    run = run if run is not None else FactFileRun()
    everywhere = built_languages(root, tokenizer.name)
    indexes: dict[str, FactIndex | None] = {}
    rows = iter(facts)
    try:
        while chunk := list(islice(rows, CHUNK_FACTS)):
            for answer in _answered(
                chunk, root, tokenizer, mode, default_lang, everywhere, indexes
            ):
                run.answers += 1
                run.by_status[
                    answer.status
                    if answer.status != OK
                    else ("present" if answer.present else "absent")
                ] += 1
                run.languages.add(answer.lang)
                yield answer
    finally:
        for index in indexes.values():
            if index is not None:
                index.close()
        run.skipped.update(facts.skipped)


def _answered(
    chunk: list[FactQuery],
    root,
    tokenizer: ModelTokenizer,
    mode: str,
    default_lang: str | None,
    everywhere: list[str],
    indexes: dict[str, FactIndex | None],
) -> list[FactAnswer]:
    asked: dict[str, list[FactQuery]] = {}
    for query in chunk:
        langs = [query.lang] if query.lang else [default_lang] if default_lang else everywhere
        if not langs:
            raise FactrootsError(missing_index(root, tokenizer.name, "any language"))
        for lang in langs:
            asked.setdefault(lang, []).append(query)
    answers = []
    for lang, queries in asked.items():
        index = _index(indexes, root, lang, tokenizer)
        if index is None:
            answers += [
                FactAnswer(q.row, lang, q.subject, q.object, mode, NO_INDEX, None, 0, 0, 0)
                for q in queries
            ]
            continue
        found = index.cooccur_many([(q.subject, q.object) for q in queries], mode)
        answers += [
            FactAnswer(
                q.row,
                index.manifest.language,
                q.subject,
                q.object,
                mode,
                OK if found.traceable[k] else "untraceable",
                bool(found.present[k]) if found.traceable[k] else None,
                int(found.cooccur_lines[k]),
                int(found.subject_lines[k]),
                int(found.object_lines[k]),
            )
            for k, q in enumerate(queries)
        ]
    return sorted(answers, key=lambda a: a.row)


def _index(
    indexes: dict[str, FactIndex | None], root, lang: str, tokenizer: ModelTokenizer
) -> FactIndex | None:
    """The open index of `lang` (opened once), or None where there is none (or the code is not
    a valid one)."""
    if lang not in indexes:
        try:
            code = check_lang(lang)
        except FactrootsError:
            code = None
        indexes[lang] = (
            FactIndex.open(root, code, tokenizer)
            if code and FactIndex.exists(root, code, tokenizer)
            else None
        )
    return indexes[lang]
