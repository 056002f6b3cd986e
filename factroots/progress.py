"""Progress of long commands, on stderr: a tqdm bar on a terminal; elsewhere (nohup, SLURM, a
pipe) the same bar written as plain lines, the first once the work has run PROGRESS_SECONDS,
then at most every PROGRESS_SECONDS while it advances, and a last one at the end. Work shorter
than that (and an error before the work starts) prints no progress at all: the command's
summary or its one-line error stands alone."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

PROGRESS_SECONDS = 10.0


class _PlainLines:
    """A file for tqdm off a terminal: each refresh of the bar becomes one line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\x1b[A", "").replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(**options: Any) -> tqdm:
    """A tqdm bar (tqdm's options: total, unit, desc, ...) on stderr, as the module says."""
    stream = sys.stderr
    if stream.isatty():
        return tqdm(file=stream, **options)
    return tqdm(
        file=_PlainLines(stream),
        delay=PROGRESS_SECONDS,
        mininterval=PROGRESS_SECONDS,
        ncols=100,
        dynamic_ncols=False,
        **options,
    )
