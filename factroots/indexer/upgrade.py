"""Indexes upgraded in place: a postings sidecar of an older format rewritten from its own
arrays as a build writes it now (no line read or tokenized again)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from factroots.indexer.catalog import list_indexes
from factroots.indexer.layout import BuildLock
from factroots.indexer.postings import read_meta, upgrade_postings


@dataclass
class UpgradeRun:
    """What `upgrade_indexes` did, counted in index folders (an unsharded index, or a shard)."""

    upgraded: list[Path] = field(default_factory=list)
    current: int = 0
    without_sidecar: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        line = f"{len(self.upgraded)} upgraded, {self.current} already current"
        if self.without_sidecar:
            line += (
                f", {len(self.without_sidecar)} built before the postings sidecar "
                "(rebuild them for the batch trace)"
            )
        return line


def upgrade_indexes(
    root: str | Path, on_folder: Callable[[Path, bool], None] | None = None
) -> UpgradeRun:
    """Upgrade every index under ROOT whose sidecar is of an older format, each under its
    build lock; `on_folder(folder, upgraded)` after each index folder."""
    run = UpgradeRun()
    for entry in list_indexes(root):
        with BuildLock(entry.path):
            target = Path(os.path.realpath(entry.path))
            folders = [target / s.path for s in entry.manifest.shards] or [target]
            for folder in folders:
                upgraded = upgrade_postings(folder)
                if upgraded:
                    run.upgraded.append(folder)
                elif read_meta(folder) is not None:
                    run.current += 1
                else:
                    run.without_sidecar.append(folder)
                if on_folder:
                    on_folder(folder, upgraded)
    return run
