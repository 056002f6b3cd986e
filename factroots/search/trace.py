"""Batch tracing: every mLAMA fact of a language traced against its index in one call.

Each distinct entity is resolved once to a sorted array of line ids; a fact's co-occurrence
count is the size of the intersection of its subject's and object's arrays, computed in numba
across both cores. The answers equal `FactIndex.cooccur` fact by fact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from factroots.errors import FactrootsError
from factroots.probing.mlama import Fact, SkippedRecord, available_languages, load_language
from factroots.search.index import OK, UNTRACEABLE, FactIndex
from factroots.tokenizer import ModelTokenizer, load_tokenizer

TRACE_COLUMNS = ["lang", "relation", "uuid", "subject", "object", "mode", "tokenizer",
                 "subject_lines", "object_lines", "cooccur_lines", "present", "status"]
SUMMARY_COLUMNS = ["lang", "facts", "traceable", "present", "absent", "absence_rate"]
GALLOP_RATIO = 16  # gallop through the longer array when it is this many times the shorter


@numba.njit(cache=True, nogil=True)
def _first_at_least(b: np.ndarray, lo: int, x: int) -> int:
    """Smallest index i >= lo with b[i] >= x (len(b) if none), by galloping then bisection."""
    n = b.shape[0]
    step = 1
    hi = lo
    while hi < n and b[hi] < x:
        lo = hi + 1
        hi += step
        step *= 2
    if hi > n:
        hi = n
    while lo < hi:
        mid = (lo + hi) // 2
        if b[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def common_count(a: np.ndarray, b: np.ndarray) -> int:
    """Number of values in both sorted, duplicate-free arrays."""
    if a.shape[0] > b.shape[0]:
        a, b = b, a
    na, nb = a.shape[0], b.shape[0]
    count = 0
    if na * GALLOP_RATIO < nb:
        j = 0
        for i in range(na):
            j = _first_at_least(b, j, a[i])
            if j == nb:
                break
            if b[j] == a[i]:
                count += 1
                j += 1
        return count
    i = j = 0
    while i < na and j < nb:
        if a[i] < b[j]:
            i += 1
        elif a[i] > b[j]:
            j += 1
        else:
            count += 1
            i += 1
            j += 1
    return count


@numba.njit(cache=True, parallel=True)
def pair_counts(flat: np.ndarray, offsets: np.ndarray, left: np.ndarray,
                right: np.ndarray) -> np.ndarray:
    """For each pair k, the common count of arrays left[k] and right[k] of a flattened list."""
    out = np.zeros(left.shape[0], dtype=np.int64)
    for k in numba.prange(left.shape[0]):
        a = flat[offsets[left[k]]:offsets[left[k] + 1]]
        b = flat[offsets[right[k]]:offsets[right[k] + 1]]
        out[k] = common_count(a, b)
    return out


def _flattened(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([a.size for a in arrays])
    flat = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    return flat.astype(np.int64, copy=False), offsets


def _entity_ids(facts: Sequence[Fact]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Distinct labels, and each fact's subject and object as indices into them."""
    ids: dict[str, int] = {}
    subj = np.fromiter((ids.setdefault(f.subject, len(ids)) for f in facts), np.int64, len(facts))
    obj = np.fromiter((ids.setdefault(f.object, len(ids)) for f in facts), np.int64, len(facts))
    return list(ids), subj, obj


def trace_language(index: FactIndex, facts: Sequence[Fact], mode: str = "words",
                   on_progress: Callable[[int, int], None] | None = None,
                   threads: int = 2) -> pd.DataFrame:
    """One row per fact (TRACE_COLUMNS): line counts and presence, as `cooccur` answers them.

    `on_progress(done, total)` is called as distinct entities are resolved."""
    labels, subj, obj = _entity_ids(facts)
    entities = [index.entity(label, mode) for label in labels]
    traceable = np.array([e.traceable for e in entities], dtype=bool)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if on_progress:
            on_progress(done[0], len(labels))

    arrays = index.lines_of(entities, threads=threads, on_done=advance)
    sizes = np.array([a.size for a in arrays], dtype=np.int64)
    flat, offsets = _flattened(arrays)
    both = pair_counts(flat, offsets, subj, obj)
    ok = traceable[subj] & traceable[obj]
    present = pd.array(both > 0, dtype="boolean")
    present[~ok] = pd.NA
    if on_progress:
        on_progress(len(labels), len(labels))
    return pd.DataFrame({
        "lang": [f.lang for f in facts],
        "relation": [f.relation for f in facts],
        "uuid": [f.uuid for f in facts],
        "subject": [f.subject for f in facts],
        "object": [f.object for f in facts],
        "mode": mode,
        "tokenizer": index.tokenizer.name,
        "subject_lines": np.where(ok, sizes[subj], 0),
        "object_lines": np.where(ok, sizes[obj], 0),
        "cooccur_lines": np.where(ok, both, 0),
        "present": present,
        "status": np.where(ok, OK, UNTRACEABLE),
    }, columns=TRACE_COLUMNS)


def language_summary(trace: pd.DataFrame, lang: str) -> dict:
    """facts, traceable, present, absent and absence rate (absent / traceable) of one language."""
    traceable = int((trace["status"] == OK).sum())
    present = int(trace["present"].fillna(False).sum())
    absent = traceable - present
    return {"lang": lang, "facts": len(trace), "traceable": traceable, "present": present,
            "absent": absent, "absence_rate": absent / traceable if traceable else float("nan")}


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


def requested_languages(mlama_dir: str | Path, langs: str | Sequence[str]) -> list[str]:
    """`all`, a comma-separated string or a list of codes, as a list without duplicates;
    a code with no mLAMA folder is an error before anything is traced."""
    if isinstance(langs, str):
        if langs.strip() == "all":
            return available_languages(mlama_dir)
        langs = langs.split(",")
    chosen = list(dict.fromkeys(code.strip() for code in langs if code.strip()))
    if not chosen:
        raise FactrootsError("no languages given")
    known = set(available_languages(mlama_dir))
    unknown = [code for code in chosen if code not in known]
    if unknown:
        raise FactrootsError(f"unknown mLAMA language(s) {', '.join(unknown)} in {mlama_dir} "
                             f"(found: {', '.join(sorted(known)) or 'none'})")
    return chosen


def trace_languages(mlama_dir: str | Path, root: str | Path, langs: str | Sequence[str],
                    mode: str = "words", tokenizer: str | Path | ModelTokenizer = "mbert",
                    out: str | Path | None = None,
                    on_language: Callable[[str, int], Callable[[int, int], None] | None]
                    | None = None) -> TraceRun:
    """Trace every mLAMA fact of each language against `ROOT/<tokenizer>/<lang>/`.

    A language without an index is skipped with the reason. With `out`, the facts go to that
    parquet file and the summary to `<stem>.summary.csv` beside it. `on_language(lang, facts)`
    may return a progress callback for that language."""
    tok = tokenizer if isinstance(tokenizer, ModelTokenizer) else load_tokenizer(tokenizer)
    run = TraceRun(pd.DataFrame(columns=TRACE_COLUMNS), pd.DataFrame(columns=SUMMARY_COLUMNS))
    traces, summaries = [], []
    for lang in requested_languages(mlama_dir, langs):
        language = load_language(mlama_dir, lang)
        run.skipped_records.extend(language.skipped)
        try:
            index = FactIndex.open(root, lang, tok)
        except FactrootsError as exc:
            run.skipped_languages[lang] = str(exc)
            continue
        progress = on_language(lang, len(language.facts)) if on_language else None
        trace = trace_language(index, language.facts, mode, progress)
        traces.append(trace)
        summaries.append(language_summary(trace, lang))
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


def summary_table(summary: pd.DataFrame) -> str:
    """The per-language summary as aligned text, with a total row."""
    header = f"{'lang':6} {'facts':>8} {'traceable':>9} {'present':>8} {'absent':>8} {'absence':>8}"
    rows = [header]
    for r in summary.itertuples(index=False):
        rows.append(f"{r.lang:6} {r.facts:8,} {r.traceable:9,} {r.present:8,} {r.absent:8,} "
                    f"{r.absence_rate:8.1%}")
    if len(summary) > 1:
        traceable, absent = int(summary.traceable.sum()), int(summary.absent.sum())
        rate = absent / traceable if traceable else float("nan")
        rows.append(f"{'all':6} {int(summary.facts.sum()):8,} {traceable:9,} "
                    f"{int(summary.present.sum()):8,} {absent:8,} {rate:8.1%}")
    return "\n".join(rows)
