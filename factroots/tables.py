"""The three tables factroots writes and reads back, defined once: trace, predictions, neurons.

Each is a parquet file with one row per fact (and language, model, ...):

- **trace** (`factroots trace`, factroots.search.trace): whether a fact's subject and object
  share a line of that language's index;
- **predictions** (`factroots probe`, factroots.probing.predict): a masked LM's prediction of
  every fact, and whether it is correct (`is_correct`);
- **neurons** (`factroots probe --neurons`, `factroots attribute`): the PROBELESS top-K FFN
  neurons of every correctly predicted fact.

Writers take their columns and types from here; readers go through `read_table`, which checks
the columns and says in one line what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import pandas as pd
import pyarrow as pa

from factroots.errors import FactrootsError

__all__ = [
    "NEURONS",
    "PREDICTIONS",
    "TRACE",
    "TableSchema",
    "is_correct",
    "read_table",
    "read_tables",
]


@dataclass(frozen=True)
class TableSchema:
    """One table: its name (as errors call it), the command that writes it, its columns."""

    name: str
    written_by: str
    schema: pa.Schema
    key: tuple[str, ...]  # the columns that name a row: no two rows share them
    optional: tuple[str, ...] = ()  # columns added later: a table without them reads as nulls

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    @property
    def required(self) -> list[str]:
        return [c for c in self.columns if c not in self.optional]


TRACE = TableSchema(
    "trace",
    "factroots trace",
    pa.schema(
        [
            ("lang", pa.string()),
            ("relation", pa.string()),
            ("uuid", pa.string()),
            ("subject", pa.string()),
            ("object", pa.string()),
            ("mode", pa.string()),  # words | tokens
            ("tokenizer", pa.string()),  # the index's tokenizer name
            ("subject_lines", pa.int64()),
            ("object_lines", pa.int64()),
            ("cooccur_lines", pa.int64()),
            ("present", pa.bool_()),  # null where the fact is untraceable
            ("status", pa.string()),  # ok | untraceable
        ]
    ),
    ("lang", "uuid", "mode", "tokenizer"),
)

PREDICTIONS = TableSchema(
    "predictions",
    "factroots probe",
    pa.schema(
        [
            ("model", pa.string()),
            ("lang", pa.string()),
            ("relation", pa.string()),
            ("uuid", pa.string()),
            ("subject", pa.string()),
            ("object", pa.string()),
            ("obj_uri", pa.string()),
            ("k", pa.int32()),  # masks: the object's token count
            ("object_ids", pa.list_(pa.int32())),
            ("predicted_ids", pa.list_(pa.int32())),
            ("top5_ids", pa.list_(pa.list_(pa.int32()))),
            ("prediction", pa.string()),
            ("correct", pa.bool_()),  # masked: is_correct; causal: the gold ranks first alone
            ("objective", pa.string()),  # masked | causal
            # causal LMs only (null for masked rows), DESIGN.md "Probing causal LMs":
            ("gold_rank", pa.int32()),  # 1 + candidates scoring at least the gold's
            ("gold_score", pa.float64()),  # the gold sentence's log-likelihood
            ("gold_score_per_token", pa.float64()),  # the same per scored token
            ("candidates", pa.int32()),  # how many candidates were ranked
            ("top5_candidates", pa.list_(pa.string())),  # best first
        ]
    ),
    ("model", "lang", "uuid"),
    (
        "objective",
        "gold_rank",
        "gold_score",
        "gold_score_per_token",
        "candidates",
        "top5_candidates",
    ),
)

NEURONS = TableSchema(
    "neurons",
    "factroots probe --neurons / factroots attribute",
    pa.schema(
        [
            ("model", pa.string()),
            ("lang", pa.string()),
            ("relation", pa.string()),
            ("uuid", pa.string()),
            ("group_size", pa.int32()),
            ("status", pa.string()),  # factroots.attribution.probeless statuses
            ("top_neurons", pa.list_(pa.int32())),
            ("top_scores", pa.list_(pa.float32())),
        ]
    ),
    ("model", "lang", "uuid"),
)


def is_correct(predicted_ids: Sequence[int], object_ids: Sequence[int]) -> bool:
    """A fact is correct iff the prediction at every mask is the object's token there: all k
    predicted ids equal the object's k ids, in order (DESIGN, Probing)."""
    return tuple(predicted_ids) == tuple(object_ids)


def read_table(source: pd.DataFrame | str | Path, table: TableSchema) -> pd.DataFrame:
    """`source` as a frame (itself, or read from its parquet file), checked to have every
    column of `table`; a missing file or column is one FactrootsError line."""
    if isinstance(source, pd.DataFrame):
        frame, where = source, f"the {table.name} frame"
    else:
        path = Path(source)
        if not path.is_file():
            raise FactrootsError(f"{table.name} file not found: {path}")
        try:
            frame = pd.read_parquet(path)
        except pa.ArrowInvalid as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FactrootsError(
                f"{path} is not a {table.name} table (not parquet: {reason})"
            ) from None
        where = str(path)
    missing = [c for c in table.required if c not in frame.columns]
    if missing:
        raise FactrootsError(
            f"{where} is not a {table.name} table (missing "
            f"{', '.join(missing)}; written by {table.written_by})"
        )
    absent = [c for c in table.optional if c not in frame.columns]
    return frame.assign(**dict.fromkeys(absent)) if absent else frame


Source: TypeAlias = pd.DataFrame | str | Path  # a table, or the parquet file holding it


def read_tables(sources: Source | Sequence[Source], table: TableSchema) -> pd.DataFrame:
    """One frame from one source or several (e.g. a trace per mode, predictions per model),
    each read by `read_table`; rows that repeat the table's key across sources are one
    FactrootsError line (the same mode or model given twice)."""
    many = [sources] if isinstance(sources, pd.DataFrame | str | Path) else list(sources)
    if not many:
        raise FactrootsError(f"no {table.name} table given")
    frames = [read_table(source, table) for source in many]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if len(frames) > 1 and frame.duplicated(list(table.key)).any():
        raise FactrootsError(
            f"the {table.name} tables given repeat rows with the same "
            f"{', '.join(table.key)}: give each once"
        )
    return frame
