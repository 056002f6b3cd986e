"""Batch tracing: every mLAMA fact of a language traced against its index in one call.

All facts go to `FactIndex.cooccur_many` in one call: each distinct entity is resolved once to
sorted line ids (on the postings sidecar, in numba), and a fact's co-occurrence count is the size
of the intersection of its subject's and object's lines. The answers equal `FactIndex.cooccur`
fact by fact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from factroots.defaults import DEFAULT_ENGINE, DEFAULT_MODE, DEFAULT_TOKENIZER, ENGINES
from factroots.errors import FactrootsError
from factroots.mlama import Fact, SkippedRecord, load_language, select_languages
from factroots.search.index import OK, UNTRACEABLE, FactIndex
from factroots.tables import TRACE
from factroots.tokenizer import ModelTokenizer, TokenizerSpec, as_tokenizer

TRACE_COLUMNS = TRACE.columns
SUMMARY_COLUMNS = ["lang", "facts", "traceable", "present", "absent", "absence_rate"]


def trace_language(
    index: FactIndex,
    facts: Sequence[Fact],
    mode: str = DEFAULT_MODE,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """One row per fact (TRACE_COLUMNS): line counts and presence, as `cooccur` answers them.

    `on_progress(done, total)` is called as distinct entities are resolved."""
    distinct = len({f.subject for f in facts} | {f.object for f in facts})
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if on_progress:
            on_progress(done[0], distinct)

    counts = index.cooccur_many([(f.subject, f.object) for f in facts], mode, on_done=advance)
    ok = counts.traceable
    present = pd.array(counts.present, dtype="boolean")
    present[~ok] = pd.NA
    if on_progress:
        on_progress(distinct, distinct)
    return pd.DataFrame(
        {
            "lang": [f.lang for f in facts],
            "relation": [f.relation for f in facts],
            "uuid": [f.uuid for f in facts],
            "subject": [f.subject for f in facts],
            "object": [f.object for f in facts],
            "mode": mode,
            "tokenizer": index.tokenizer.name,
            "subject_lines": counts.subject_lines,
            "object_lines": counts.object_lines,
            "cooccur_lines": counts.cooccur_lines,
            "present": present,
            "status": np.where(ok, OK, UNTRACEABLE),
        },
        columns=TRACE_COLUMNS,
    )


def language_summary(trace: pd.DataFrame, lang: str) -> dict:
    """facts, traceable, present, absent and absence rate (absent / traceable) of one language."""
    traceable = int((trace["status"] == OK).sum())
    present = int(trace["present"].fillna(False).sum())
    absent = traceable - present
    return {
        "lang": lang,
        "facts": len(trace),
        "traceable": traceable,
        "present": present,
        "absent": absent,
        "absence_rate": absent / traceable if traceable else float("nan"),
    }


@dataclass
class TraceRun:
    """What `trace_languages` traced and wrote, and what it skipped."""

    facts: pd.DataFrame
    summary: pd.DataFrame
    skipped_languages: dict[str, str] = field(default_factory=dict)
    skipped_records: list[SkippedRecord] = field(default_factory=list)
    parquet: Path | None = None
    summary_csv: Path | None = None


def summary_path(out: str | Path) -> Path:
    """`<stem>.summary.csv` beside the parquet file."""
    out = Path(out)
    return out.with_name(f"{out.stem}.summary.csv")


def trace_languages(
    mlama_dir: str | Path,
    root: str | Path,
    langs: str | Sequence[str],
    mode: str = DEFAULT_MODE,
    tokenizer: TokenizerSpec = DEFAULT_TOKENIZER,
    out: str | Path | None = None,
    on_language: Callable[[str, int], Callable[[int, int], None] | None] | None = None,
    engine: str = DEFAULT_ENGINE,
    address: str | None = None,
) -> TraceRun:
    """Trace every mLAMA fact of each language against `ROOT/<tokenizer>/<lang>/`.

    A language without an index is skipped with the reason. With `out`, the facts go to that
    parquet file and the summary to `<stem>.summary.csv` beside it. `on_language(lang, facts)`
    may return a progress callback for that language. With `engine="ray"` each shard is a Ray
    actor (at `address`; factroots.cluster.ray_engine), and the answers are the same."""
    if out is not None and Path(out).suffix.lower() != ".parquet":
        raise FactrootsError(f"--out {out}: the trace is written as parquet: name it *.parquet")
    tok = as_tokenizer(tokenizer)
    if engine not in ENGINES:
        raise FactrootsError(f"unknown engine {engine!r} (use {' or '.join(ENGINES)})")
    if address and engine != "ray":
        raise FactrootsError("--address is the Ray cluster's: use it with --engine ray")
    chosen = select_languages(mlama_dir, langs)
    with contextlib.ExitStack() as stack:
        opener: Callable[..., FactIndex] = FactIndex.open
        if engine == "ray":
            from factroots.cluster.ray_engine import open_ray_index, ray_session

            stack.enter_context(ray_session(address))
            opener = open_ray_index
        traces, summaries, run = _trace_each(
            mlama_dir, root, chosen, mode, tok, on_language, opener
        )
    if traces:
        run.facts = pd.concat(traces, ignore_index=True)
        run.summary = pd.DataFrame(summaries, columns=SUMMARY_COLUMNS)
    if out is not None and traces:  # nothing traced: an existing `out` is left as it was
        from factroots.atomic import atomic_outputs

        with atomic_outputs(out, summary_path(out)) as (parquet, csv):
            run.facts.to_parquet(parquet, index=False)
            run.summary.to_csv(csv, index=False)
        run.parquet, run.summary_csv = Path(out), summary_path(out)
    return run


def _trace_each(
    mlama_dir, root, langs: list[str], mode: str, tok: ModelTokenizer, on_language, opener
) -> tuple[list, list, TraceRun]:
    """Each language traced in turn, the next one's index opening meanwhile (a Ray index
    starts its shards' actors then, so that their start-up hides behind this trace)."""
    run = TraceRun(pd.DataFrame(columns=TRACE_COLUMNS), pd.DataFrame(columns=SUMMARY_COLUMNS))
    traces, summaries = [], []
    with ThreadPoolExecutor(max_workers=1) as pool:
        opening = [pool.submit(_opened, opener, root, lang, tok) for lang in langs[:1]]
        try:
            for i, lang in enumerate(langs):
                language = load_language(mlama_dir, lang)
                run.skipped_records.extend(language.skipped)
                index, reason = opening.pop().result()
                if i + 1 < len(langs):
                    opening.append(pool.submit(_opened, opener, root, langs[i + 1], tok))
                if index is None:
                    run.skipped_languages[lang] = reason
                    continue
                try:
                    progress = on_language(lang, len(language.facts)) if on_language else None
                    trace = trace_language(index, language.facts, mode, progress)
                finally:
                    _close(index)
                traces.append(trace)
                summaries.append(language_summary(trace, lang))
        finally:
            for left in opening:  # opened for a language that an error left untraced
                with contextlib.suppress(Exception):  # one that failed to open holds nothing
                    _close(left.result()[0])
    return traces, summaries, run


def _opened(opener, root, lang: str, tok: ModelTokenizer) -> tuple[FactIndex | None, str]:
    """The language's index, or None and why it cannot be opened."""
    try:
        return opener(root, lang, tok), ""
    except FactrootsError as exc:
        return None, str(exc)


def _close(index: FactIndex | None) -> None:
    if index is not None:
        index.close()


def summary_table(summary: pd.DataFrame) -> str:
    """The per-language summary as aligned text, with a total row."""
    header = f"{'lang':6} {'facts':>8} {'traceable':>9} {'present':>8} {'absent':>8} {'absence':>8}"
    rows = [header]
    for r in summary.itertuples(index=False):
        rows.append(
            f"{r.lang:6} {r.facts:8,} {r.traceable:9,} {r.present:8,} {r.absent:8,} "
            f"{r.absence_rate:8.1%}"
        )
    if len(summary) > 1:
        traceable, absent = int(summary.traceable.sum()), int(summary.absent.sum())
        rate = absent / traceable if traceable else float("nan")
        rows.append(
            f"{'all':6} {int(summary.facts.sum()):8,} {traceable:9,} "
            f"{int(summary.present.sum()):8,} {absent:8,} {rate:8.1%}"
        )
    return "\n".join(rows)
