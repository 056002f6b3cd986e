"""Read mLAMA 1.1: one folder per language, one JSON-lines file per relation, templates.jsonl.

Malformed records are skipped and counted with their file and line; hidden entries are ignored.
mLAMA is a data set that tracing and probing both read, so it lives here, beside neither
(`factroots.probing.mlama` is the old path, kept one release with a DeprecationWarning).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from factroots.errors import FactrootsError

__all__ = [
    "Fact",
    "MlamaLanguage",
    "SkippedRecord",
    "available_languages",
    "load_language",
    "read_templates",
    "select_languages",
]

TEMPLATES_FILE = "templates.jsonl"
FACT_KEYS = ("uuid", "sub_label", "obj_label")


@dataclass(frozen=True)
class Fact:
    lang: str
    relation: str
    uuid: str
    lineid: int
    subject: str
    object: str
    sub_uri: str
    obj_uri: str


@dataclass(frozen=True)
class SkippedRecord:
    path: str
    line: int
    reason: str


@dataclass
class MlamaLanguage:
    """One language's facts and templates, with what was skipped reading them."""

    lang: str
    facts: list[Fact]
    templates: dict[str, str]
    skipped: list[SkippedRecord] = field(default_factory=list)


def available_languages(mlama_dir: str | Path) -> list[str]:
    """Language folders under `mlama_dir`, sorted."""
    root = Path(mlama_dir)
    if not root.is_dir():
        raise FactrootsError(f"mLAMA folder not found: {root}")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def select_languages(mlama_dir: str | Path, langs: str | Sequence[str]) -> list[str]:
    """The languages `langs` names ('all', comma-separated codes, or a list of codes), in
    order, each once; a code with no mLAMA folder is an error before any work."""
    if isinstance(langs, str):
        if langs.strip().lower() == "all":
            return available_languages(mlama_dir)
        langs = langs.split(",")
    chosen = list(dict.fromkeys(code.strip() for code in langs if code.strip()))
    if not chosen:
        raise FactrootsError("no languages given")
    known = set(available_languages(mlama_dir))
    unknown = [code for code in chosen if code not in known]
    if unknown:
        raise FactrootsError(
            f"unknown mLAMA language(s) {', '.join(unknown)} in {mlama_dir} "
            f"(found: {', '.join(sorted(known)) or 'none'})"
        )
    return chosen


def _language_dir(mlama_dir: str | Path, lang: str) -> Path:
    path = Path(mlama_dir) / lang
    if not path.is_dir():
        known = ", ".join(available_languages(mlama_dir)) or "none"
        raise FactrootsError(f"unknown mLAMA language {lang!r} in {mlama_dir} (found: {known})")
    return path


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _json_lines(path: Path, skipped: list[SkippedRecord]) -> list[tuple[int, dict]]:
    """(line number, record) for every parseable JSON object in a JSON-lines file; a file
    that cannot be read (a folder, no permission) is an error, not an empty relation. A file
    of well-formed lines is parsed as one JSON array (5× faster than line by line); any
    other is parsed line by line, each bad line skipped with its number."""
    if path.is_dir():
        raise FactrootsError(f"mLAMA file {path} is a folder")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FactrootsError(f"cannot read mLAMA file {path}: {exc.strerror or exc}") from None
    numbered = [(n, line) for n, line in enumerate(raw.split(b"\n"), 1) if line.strip()]
    try:
        text = "[" + ",".join(line.decode("utf-8") for _, line in numbered) + "]"
        records = json.loads(text, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError):
        records = None
    if records is not None and len(records) == len(numbered):
        if all(type(record) is dict for record in records):
            return [(n, record) for (n, _), record in zip(numbered, records, strict=True)]
    return list(_each_json_line(path, numbered, skipped))


def _each_json_line(path: Path, numbered: list[tuple[int, bytes]], skipped: list[SkippedRecord]):
    for number, line in numbered:
        try:
            record = json.loads(line.decode("utf-8"), parse_constant=_not_json)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            skipped.append(SkippedRecord(str(path), number, f"bad JSON: {exc}"))
            continue
        yield number, record


def read_templates(lang_dir: Path, skipped: list[SkippedRecord]) -> dict[str, str]:
    templates = {}
    path = lang_dir / TEMPLATES_FILE
    if not path.is_file():
        raise FactrootsError(f"no {TEMPLATES_FILE} in {lang_dir}")
    for number, record in _json_lines(path, skipped):
        relation, template = record.get("relation"), record.get("template")
        if not isinstance(relation, str) or not isinstance(template, str):
            skipped.append(SkippedRecord(str(path), number, "missing relation or template"))
            continue
        templates[relation] = template
    return templates


def _fact(lang: str, relation: str, record: dict) -> Fact | None:
    uuid, subject, obj = (record.get(key) for key in FACT_KEYS)
    if not (_text(uuid) and _text(subject) and _text(obj)):
        return None
    return Fact(
        lang,
        relation,
        uuid,
        int(record.get("lineid", -1)),
        subject,
        obj,
        str(record.get("sub_uri", "")),
        str(record.get("obj_uri", "")),
    )


def _text(value: object) -> TypeGuard[str]:
    """Whether `value` is a non-empty string."""
    return isinstance(value, str) and value != ""


def read_facts(lang_dir: Path, lang: str, skipped: list[SkippedRecord]) -> list[Fact]:
    facts = []
    for path in sorted(lang_dir.glob("*.jsonl")):
        if path.name.startswith(".") or path.name == TEMPLATES_FILE:
            continue
        relation = path.stem
        for number, record in _json_lines(path, skipped):
            try:
                fact = _fact(lang, relation, record)
            except (TypeError, ValueError, OverflowError):
                fact = None
            if fact is None:
                skipped.append(SkippedRecord(str(path), number, "missing uuid/sub_label/obj_label"))
                continue
            facts.append(fact)
    return facts


def load_language(mlama_dir: str | Path, lang: str) -> MlamaLanguage:
    """All facts and templates of one mLAMA language."""
    lang_dir = _language_dir(mlama_dir, lang)
    skipped: list[SkippedRecord] = []
    templates = read_templates(lang_dir, skipped)
    facts = read_facts(lang_dir, lang, skipped)
    return MlamaLanguage(lang, facts, templates, skipped)
