"""A build in a process of its own, for test_faults: paused after each progress report (so that
a SIGKILL lands inside it), or SIGKILLed by itself at one step of its swap. The process is forked
from the build's preloaded forkserver (`worker_context`): a fresh interpreter would spend a second
or two importing the build before every kill."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from factroots.indexer import builder, layout
from factroots.indexer.shards import worker_context


class BuildProcess:
    """The forked build, answering the few calls of `subprocess.Popen` the tests make."""

    def __init__(self, *args) -> None:
        self._process = worker_context().Process(target=_build, args=args, daemon=True)
        self._process.start()

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return None if self._process.is_alive() else self._process.exitcode

    def send_signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode


def _build(corpus: Path, root: Path, max_tokens: int, pause: float, started: Path, kill_at: int):
    builder.BATCH_CHARS = 4_000
    if kill_at:  # SIGKILL before the kill_at-th file-system change of the swap
        _kill_during_the_swap(kill_at)

    def progress(_) -> None:
        started.touch()
        time.sleep(pause)

    builder.build_index(corpus, "en", root, max_tokens=max_tokens, workers=1, on_progress=progress)


def _kill_during_the_swap(kill_at: int) -> None:
    state = {"calls": 0, "publishing": False}

    def faulty(fn):
        def call(*args, **kwargs):
            if state["publishing"]:
                state["calls"] += 1
                if state["calls"] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return call

    for name in ("rename", "replace", "symlink", "unlink"):
        setattr(os, name, faulty(getattr(os, name)))
    shutil.rmtree = faulty(shutil.rmtree)
    layout._exchange = faulty(layout._exchange)
    publish = builder.publish

    def publishing(*args):
        state["publishing"] = True
        return publish(*args)

    builder.publish = publishing
