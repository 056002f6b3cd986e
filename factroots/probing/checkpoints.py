"""Checkpoints of an unfinished language: finished records (a masked batch's predictions, a
causal fact's ranking) saved every CHECKPOINT_PROMPTS records or CHECKPOINT_SECONDS as numbered
parquet files, each written atomically, and read back when the language is resumed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from factroots.atomic import atomic_output

CHECKPOINT_PROMPTS = 4096
CHECKPOINT_SECONDS = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How one record is a parquet row: its columns (besides `index`) and both directions."""

    schema: pa.Schema
    to_row: Callable[[T], dict]
    from_row: Callable[[dict], T]


class Checkpoints(Generic[T]):
    """Records by index (a prompt's or a fact's position in its language), saved in `folder`."""

    def __init__(self, folder: Path, codec: Codec[T]):
        self.folder, self.codec = folder, codec
        self._schema = pa.schema([("index", pa.int64()), *codec.schema])
        self._pending: dict[int, T] = {}
        self._since = time.monotonic()

    def saved(self) -> dict[int, T]:
        """Index → record, from every checkpoint written so far."""
        found: dict[int, T] = {}
        for path in sorted(self.folder.glob("*.parquet")):
            for row in pq.read_table(path, schema=self._schema).to_pylist():
                index = row.pop("index")
                found[index] = self.codec.from_row(row)
        return found

    def add(self, indices: Sequence[int], records: Sequence[T]) -> None:
        """Keep finished records; save what is kept once it is due."""
        self._pending.update(zip(indices, records, strict=True))
        if (
            len(self._pending) >= CHECKPOINT_PROMPTS
            or time.monotonic() - self._since >= CHECKPOINT_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.folder.mkdir(parents=True, exist_ok=True)
            rows = [{"index": i, **self.codec.to_row(r)} for i, r in self._pending.items()]
            path = self.folder / f"{len(list(self.folder.glob('*.parquet'))):06d}.parquet"
            with atomic_output(path) as tmp:
                pq.write_table(pa.Table.from_pylist(rows, schema=self._schema), tmp)
            self._pending.clear()
        self._since = time.monotonic()


@contextmanager
def flushed(checkpoints: Checkpoints | None) -> Iterator[None]:
    """Save what `checkpoints` keeps when the block ends, interrupted or not."""
    try:
        yield
    finally:
        if checkpoints is not None:
            checkpoints.flush()
