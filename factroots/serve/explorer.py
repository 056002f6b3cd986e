"""What the explorer answers, without the web: indexes opened lazily and kept open, and one
fact across every language from the configured trace, predictions and neurons tables.

Nothing a request sends is used as a path: languages are looked up among the indexes found
under the root at start, and files are only those given when the explorer was made.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from factroots.attribution.jaccard import jaccard_sets
from factroots.defaults import DEFAULT_TOKENIZER, MODES
from factroots.errors import FactrootsError
from factroots.indexer.catalog import built_languages
from factroots.indexer.manifest import read_manifest
from factroots.search.index import FactIndex
from factroots.tables import NEURONS, PREDICTIONS, TRACE, read_tables

MAX_ENTITY_CHARS = 1000  # longer entities are refused (no label comes near)
MAX_SHOW = 20  # evidence lines per request, at most
PAGE_SIZE = 50  # facts per page of the fact list


class RequestError(FactrootsError):
    """A request the explorer cannot answer: its HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Language:
    lang: str
    tokenizer: str
    lines: int
    tokens: int
    documents: int


class Explorer:
    """Indexes under `root` (one tokenizer) and, optionally, trace, predictions and neurons."""

    def __init__(
        self,
        root: str | Path,
        tokenizer: str = DEFAULT_TOKENIZER,
        trace: Sequence[str | Path] = (),
        predictions: Sequence[str | Path] = (),
        neurons: Sequence[str | Path] = (),
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FactrootsError(f"index root {root} does not exist")
        self.tokenizer = tokenizer
        self.languages = {
            lang: self._language(lang) for lang in built_languages(self.root, tokenizer)
        }
        self.trace = read_tables(list(trace), TRACE) if trace else None
        self.predictions = read_tables(list(predictions), PREDICTIONS) if predictions else None
        self.neurons = read_tables(list(neurons), NEURONS) if neurons else None
        self._by_uuid = {
            name: _rows_by_uuid(frame)
            for name, frame in (
                ("trace", self.trace),
                ("predictions", self.predictions),
                ("neurons", self.neurons),
            )
        }
        self._open: dict[str, FactIndex] = {}
        self._lock = threading.Lock()

    def _language(self, lang: str) -> Language:
        counts = read_manifest(self.root / self.tokenizer / lang).counts
        return Language(lang, self.tokenizer, counts.lines, counts.tokens, counts.documents)

    def index(self, lang: str) -> FactIndex:
        """The language's index, opened on first use and kept open."""
        if lang not in self.languages:
            known = ", ".join(self.languages) or "none"
            raise RequestError(404, f"no index for language {lang!r} (built: {known})")
        with self._lock:
            if lang not in self._open:
                self._open[lang] = FactIndex.open(self.root, lang, self.tokenizer)
            return self._open[lang]

    @staticmethod
    def check(entity: str, mode: str, show: int = 0) -> None:
        if not entity.strip():
            raise RequestError(422, "empty entity")
        if len(entity) > MAX_ENTITY_CHARS:
            raise RequestError(422, f"entity longer than {MAX_ENTITY_CHARS} characters")
        if mode not in MODES:
            raise RequestError(422, f"unknown mode {mode!r} (use {' or '.join(MODES)})")
        if not 0 <= show <= MAX_SHOW:
            raise RequestError(422, f"show must be between 0 and {MAX_SHOW}")

    def count(self, lang: str, entity: str, mode: str) -> dict:
        self.check(entity, mode)
        found = self.index(lang).count(entity, mode)
        return {"lang": lang, **vars(found)}

    def cooccur(self, lang: str, subject: str, obj: str, mode: str, show: int) -> dict:
        for entity in (subject, obj):
            self.check(entity, mode, show)
        return {"lang": lang, **self.index(lang).cooccur(subject, obj, mode, show).to_dict()}

    def fact(self, uuid: str, show: int = 3) -> dict:
        """One fact in every language the tables hold it: presence with evidence, each
        model's prediction, and its top neurons' overlap between languages."""
        rows = self._fact_rows(uuid)
        if not rows:
            raise RequestError(404, f"no fact with uuid {uuid!r}")
        languages = []
        for lang in sorted(rows):
            entry = dict(rows[lang])
            if lang in self.languages and entry.get("subject") and entry.get("object"):
                co = self.index(lang).cooccur(entry["subject"], entry["object"], "words", show)
                entry["words"] = co.to_dict()
            languages.append(entry)
        return {"uuid": uuid, "languages": languages, "neuron_overlap": self._overlap(uuid)}

    def _fact_rows(self, uuid: str) -> dict[str, dict]:
        """Per language: the fact's labels, presence per mode, each model's prediction."""
        found: dict[str, dict] = {}
        labels = ["relation", "subject", "object"]

        def entry(row: dict) -> dict:
            known = found.setdefault(row["lang"], {"lang": row["lang"], "present": {}})
            known.update({k: row[k] for k in labels if k not in known})
            known.setdefault("predictions", [])
            return known

        if self.trace is not None:
            for row in self._rows("trace", uuid).to_dict("records"):
                entry(row)["present"][row["mode"]] = _plain(row["present"])
        if self.predictions is not None:
            for row in self._rows("predictions", uuid).to_dict("records"):
                entry(row)["predictions"].append(
                    {
                        "model": row["model"],
                        "prediction": row["prediction"],
                        "correct": bool(row["correct"]),
                        "gold_rank": _plain(row.get("gold_rank")),
                    }
                )
        for known in found.values():
            absent = any(v is False for v in known["present"].values())
            correct = any(p["correct"] for p in known["predictions"])
            known["absent_yet_predicted"] = absent and correct
        return found

    def _rows(self, table: str, uuid: str) -> pd.DataFrame:
        """A table's rows of one fact, found through the uuid index made at start."""
        frame = getattr(self, table)
        return frame.iloc[self._by_uuid[table].get(uuid, [])]

    def _overlap(self, uuid: str) -> list[dict]:
        """Jaccard of the fact's top neurons between each two languages, per model."""
        if self.neurons is None:
            return []
        rows = self._rows("neurons", uuid)
        out = []
        for model, group in rows.groupby("model", sort=True):
            sets = {r.lang: set(r.top_neurons.tolist()) for r in group.itertuples()}
            langs = sorted(sets)
            for i, a in enumerate(langs):
                for b in langs[i + 1 :]:
                    jaccard = jaccard_sets(sets[a], sets[b])
                    out.append({"model": model, "a": a, "b": b, "jaccard": jaccard})
        return out

    def facts(
        self,
        lang: str | None = None,
        relation: str | None = None,
        present: bool | None = None,
        correct: bool | None = None,
        query: str | None = None,
        page: int = 1,
    ) -> dict:
        """A page of facts (one row per fact and language), filtered."""
        if page < 1:
            raise RequestError(422, "page must be 1 or more")
        frame = self._fact_list
        for column, value in (("lang", lang), ("relation", relation)):
            if value is not None:
                frame = frame[frame[column] == value]
        for column, flag in (("present", present), ("correct", correct)):
            if flag is not None:
                frame = frame[frame[column].fillna(not flag).astype(bool) == flag]
        if query:
            if len(query) > MAX_ENTITY_CHARS:
                raise RequestError(422, f"query longer than {MAX_ENTITY_CHARS} characters")
            hit = (
                frame["subject"].str.contains(query, regex=False)
                | frame["object"].str.contains(query, regex=False)
                | (frame["uuid"] == query)
            )
            frame = frame[hit]
        start = (page - 1) * PAGE_SIZE
        rows = frame.iloc[start : start + PAGE_SIZE]
        return {
            "total": len(frame),
            "page": page,
            "page_size": PAGE_SIZE,
            "facts": [{k: _plain(v) for k, v in r.items()} for r in rows.to_dict("records")],
        }

    @functools.cached_property
    def _fact_list(self) -> pd.DataFrame:
        """One row per fact and language: labels, presence (the first trace mode given) and
        whether any model predicts it correctly."""
        base = ["lang", "relation", "uuid", "subject", "object"]
        parts = []
        if self.trace is not None:
            first_mode = self.trace[self.trace["mode"] == self.trace["mode"].iloc[0]]
            parts.append(first_mode[[*base, "present"]])
        if self.predictions is not None:
            parts.append(self.predictions.groupby(base, as_index=False)["correct"].any())
        frame = pd.DataFrame(columns=base)
        for part in parts:
            frame = part if frame.empty else frame.merge(part, on=base, how="outer")
        frame = frame.assign(**{c: None for c in ("present", "correct") if c not in frame})
        return frame.sort_values(["lang", "relation", "uuid"]).reset_index(drop=True)


def _rows_by_uuid(frame: pd.DataFrame | None) -> dict:
    """Row positions of each uuid (none for an absent table)."""
    if frame is None:
        return {}
    return dict(frame.groupby("uuid", sort=False).indices)


def _plain(value):
    """A JSON-ready scalar (numpy and pandas missing values become None)."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
