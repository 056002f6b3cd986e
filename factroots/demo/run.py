"""The demo: the whole flow on a generated corpus — index, trace, probe, attribute, report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from factroots.demo.corpus import PLANTED, demo_languages, write_corpus
from factroots.demo.mlama import write_mlama
from factroots.indexer.builder import build_index
from factroots.search import FactIndex
from factroots.search.trace import trace_languages


@dataclass(frozen=True)
class DemoRow:
    lang: str
    subject: str
    object: str
    planted: bool
    present_words: bool | None
    present_tokens: bool | None
    lines: int
    evidence: str


@dataclass
class DemoResult:
    rows: list[DemoRow]
    trace_summary: pd.DataFrame
    probe_summary: pd.DataFrame | None = None
    report_dir: Path | None = None


def index_and_query(corpus: Path, root: Path) -> list[DemoRow]:
    """Build each demo language's index and answer its planted facts one at a time."""
    rows = []
    for lang in demo_languages():
        write_corpus(corpus, lang)
        build_index(corpus / lang, lang, root)
        index = FactIndex.open(root, lang)
        for fact in (f for f in PLANTED if f.lang == lang):
            words = index.cooccur(fact.subject, fact.object, "words", show=1)
            tokens = index.cooccur(fact.subject, fact.object, "tokens")
            shown = words.evidence[0].snippet(40) if words.evidence else ""
            rows.append(
                DemoRow(
                    lang,
                    fact.subject,
                    fact.object,
                    fact.present,
                    words.present,
                    tokens.present,
                    words.lines,
                    shown,
                )
            )
    return rows


def probe_attribute_report(
    workdir: Path, mlama: Path, trace: Path, root: Path
) -> tuple[pd.DataFrame, Path]:
    """Probe a tiny model rigged to know the demo's facts, with neurons captured, then build
    the report."""
    from factroots.attribution.capture import probe_and_attribute
    from factroots.demo.model import write_rigged_model
    from factroots.probing.model import load_masked_lm
    from factroots.report.build import build_report

    lm = load_masked_lm(write_rigged_model(workdir / "rigged-model", demo_prompts(mlama)), "cpu")
    predictions, neurons = workdir / "predictions.parquet", workdir / "neurons.parquet"
    activations = workdir / "activations"
    run = probe_and_attribute(
        lm, mlama, demo_languages(), predictions, neurons=neurons, save_activations=activations
    )
    report = build_report(
        trace, predictions, workdir / "report", neurons=neurons, root=root, activations=activations
    )
    return run.result.summary, report.out_dir


def demo_prompts(mlama: Path) -> list:
    """The prompts the prober builds for every demo fact (what the rigged model learns)."""
    from factroots.mlama import load_language
    from factroots.probing.prompts import build_prompts
    from factroots.tokenizer import load_tokenizer

    tokenizer, prompts = load_tokenizer("mbert"), []
    for lang in demo_languages():
        language = load_language(mlama, lang)
        prompts += build_prompts(language.facts, language.templates, tokenizer).prompts
    return prompts


def run_demo(workdir: str | Path, with_model: bool = True) -> DemoResult:
    """Run the demo under `workdir`; without torch (or `with_model=False`) stop after tracing."""
    workdir = Path(workdir)
    root, mlama, trace = workdir / "index", workdir / "mlama", workdir / "trace.parquet"
    rows = index_and_query(workdir / "corpus", root)
    write_mlama(mlama)
    traced = trace_languages(mlama, root, demo_languages(), "words", out=trace)
    result = DemoResult(rows, traced.summary)
    if with_model:
        result.probe_summary, result.report_dir = probe_attribute_report(
            workdir, mlama, trace, root
        )
    return result
