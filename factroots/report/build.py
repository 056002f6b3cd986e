"""build_report: traces, predictions and (optionally) neurons → CSV tables, PNG figures,
report.md and a standalone report.html in one folder."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from factroots.atomic import atomic_output, write_text
from factroots.errors import FactrootsError
from factroots.report import classify, figures, render, statistics
from factroots.report.activity import FactActivity, fact_activity
from factroots.report.render import Figure, Section, Table
from factroots.tables import NEURONS, PREDICTIONS, TRACE, Source, read_tables

TITLE = "factroots report"


@dataclass
class Report:
    """Where everything was written: file names (relative to out_dir) by kind."""

    out_dir: Path
    markdown: Path
    html: Path
    tables: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out, and why


def slug(text: str) -> str:
    """A file-name-safe form of a model, mode or type name."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", str(text)).strip("-") or "x"


class _Writer:
    """Writes tables and figures into the report folder and remembers their names."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.tables: list[str] = []
        self.figures: list[str] = []

    def table(
        self,
        caption: str,
        name: str,
        frame: pd.DataFrame,
        index: bool = False,
        view: pd.DataFrame | None = None,
    ) -> Table:
        with atomic_output(self.out_dir / name) as tmp:
            frame.to_csv(tmp, index=index)
        self.tables.append(name)
        return Table(caption, name, frame.reset_index() if index else frame, view)

    def figure(self, caption: str, name: str, draw) -> Figure:
        draw(self.out_dir / name)
        self.figures.append(name)
        return Figure(caption, name)


def probing_section(
    w: _Writer,
    predictions: pd.DataFrame,
    table: pd.DataFrame,
    by_masks: pd.DataFrame,
    summed: pd.DataFrame,
) -> Section:
    section = Section(
        "Probing (Tables 1 and 2)",
        "P@1 is correct facts / facts per language (a fact is correct iff every mask's argmax "
        "equals the object's token); one-token P@1 is the mean over objects with k = 1 of each "
        "object's P@1, and P@1 by number of masks the same per-object mean for each k.",
    )
    one_token = ["p_at_1", "one_token_p_at_1", "one_token_objects"]
    section.tables += [
        w.table(
            "Table 2: P@1 per language and model",
            "table2_p_at_1.csv",
            statistics.p_at_1_wide(table),
        ),
        w.table(
            "Table 1: P@1, one-token P@1 and one-token objects, mean over languages",
            "table1_summary.csv",
            statistics.mean_over_languages(table),
        ),
        w.table(
            "Table 1 per language (CSV also has facts and macro P@1 over relations)",
            "table1_probing.csv",
            table,
            view=statistics.wide(table, one_token),
        ),
        w.table(
            "P@1 per language and relation",
            "p_at_1_by_relation.csv",
            statistics.p_at_1_by_relation(predictions),
        ),
        w.table(
            "P@1 by number of masks k (mean over objects), columns model: k",
            "p_at_1_by_masks.csv",
            by_masks,
            view=statistics.wide(by_masks, ["p_at_1"], by="k"),
        ),
        w.table(
            "Number-of-masks rates: per-language P@1 at k over its sum over k, summed over "
            "languages",
            "mask_rates.csv",
            summed,
        ),
    ]
    return section


def factors_section(
    w: _Writer,
    table: pd.DataFrame,
    sizes: pd.DataFrame | None,
    factors: pd.DataFrame,
    root: Path | None,
) -> Section:
    section = Section(
        "Factors (Figure 2)",
        "Pearson r between per-language P@1 and the Wikipedia text bytes and first-paragraph "
        "bytes of that language's index manifest (one point per language), and between k and "
        "the summed number-of-masks rate over the k whose sum is > 0; r is undefined (–) with "
        "fewer than two points or when either side does not vary.",
    )
    if root is None:
        section.notes.append(
            "No index root given (--root): corpus-size factors and Figure 2 are not computed."
        )
    elif sizes is None or sizes.empty:
        section.notes.append(
            f"No index manifests found under {root} for the probed languages: "
            "corpus-size factors and Figure 2 are not computed."
        )
    else:
        missing = sorted(set(table["lang"]) - set(sizes["lang"]))
        if missing:
            section.notes.append(
                f"No index for {len(missing)} probed language(s), left out of "
                f"the size factors: {', '.join(missing)}."
            )
        section.figures.append(
            w.figure(
                "Figure 2: corpus size (log scale) vs P@1, one labelled point per language",
                "figure2_size_vs_p_at_1.png",
                lambda p: figures.size_vs_p_at_1(table, sizes, p),
            )
        )
        section.tables.append(
            w.table("Corpus sizes from the index manifests", "corpus_sizes.csv", sizes)
        )
    section.tables.append(w.table("Factors: Pearson r with P@1", "factors.csv", factors))
    return section


def shared_facts_section(w: _Writer, predictions: pd.DataFrame) -> Section:
    section = Section(
        "Shared facts (Figure 3)",
        "Jaccard similarity |A ∩ B| / |A ∪ B| of the sets of correctly predicted fact uuids of "
        "every two languages (1 when both are empty: the same set), ordered by average-linkage "
        "clustering on 1 − similarity.",
    )
    add_matrices_per_model(
        w,
        section,
        predictions,
        statistics.shared_facts_matrix,
        "Figure 3",
        "shared correctly predicted facts between languages",
        "shared_facts",
        "Shared facts",
        "Jaccard of correct uuids",
        "Shared-facts Jaccard matrix",
    )
    return section


def add_matrices_per_model(
    w: _Writer,
    section: Section,
    frame: pd.DataFrame,
    matrix_of,
    figure: str,
    caption: str,
    stem: str,
    title: str,
    colour_label: str,
    table_caption: str,
) -> None:
    """A languages × languages heat map and its CSV for each model in `frame`."""
    for model, group in frame.groupby("model", sort=True):
        matrix = matrix_of(group)
        name = slug(model)
        figure_file = f"{figure.lower().replace(' ', '')}_{stem}_{name}.png"
        section.figures.append(
            w.figure(
                f"{figure} ({model}): {caption}",
                figure_file,
                lambda p, m=matrix, t=model: figures.similarity_heatmap(
                    m, f"{title} ({t})", colour_label, p
                ),
            )
        )
        section.tables.append(
            w.table(f"{table_caption} ({model})", f"{stem}_{name}.csv", matrix, index=True)
        )


def _variants(joined: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = joined[["mode", "tokenizer"]].drop_duplicates().itertuples(index=False, name=None)
    return sorted(pairs)


def absence_section(w: _Writer, joined: pd.DataFrame, absence: pd.DataFrame) -> Section:
    section = Section(
        "Absence (Figure 6)",
        "Per language, the share of traceable facts (subject and object both traceable) whose "
        "subject and object never co-occur in one line of the index, among all probed facts and "
        "among correctly predicted facts (trace and predictions joined on language and uuid).",
    )
    if joined.empty:
        section.notes.append("No traceable fact of the trace was probed: nothing to show.")
    for mode, tokenizer in _variants(joined):
        rows = absence[(absence["mode"] == mode) & (absence["tokenizer"] == tokenizer)]
        section.figures.append(
            w.figure(
                f"Figure 6: absence rates, {mode} mode, {tokenizer} index",
                f"figure6_absence_{slug(mode)}_{slug(tokenizer)}.png",
                lambda p, r=rows, m=mode, t=tokenizer: figures.absence_bars(
                    r, f"Absence rate ({m} mode, {t} index)", p
                ),
            )
        )
    single = len(_variants(joined)) == 1
    section.tables.append(
        w.table(
            "Absence rates per model, match mode, index and language",
            "absence.csv",
            absence,
            view=statistics.wide(absence, ["absence_rate", "absence_rate_correct"])
            if single
            else None,
        )
    )
    return section


def _classifier(spec, tokenizer_name: str, naming_relations: Collection[str]):
    from factroots.tokenizer import as_tokenizer

    return classify.Classifier(as_tokenizer(spec or tokenizer_name), naming_relations)


def absent_predicted_section(
    w: _Writer, joined: pd.DataFrame, tokenizer, naming_relations: Collection[str]
) -> Section:
    section = Section(
        "Absent yet predicted (Figure 7)",
        "Each correctly predicted but absent fact gets the first matching type: shared entity "
        "tokens (after NFKC, lowercasing and, for Chinese, traditional → simplified, the object "
        "is in the subject or both share a model subword of ≥ 2 characters that is not only "
        "digits or punctuation), naming cues (relation in "
        f"{', '.join(sorted(naming_relations, key=_relation_order))}), or others.",
    )
    facts = classify.absent_yet_predicted(joined)
    classified = []
    for mode, tok in _variants(joined):
        subset = facts[(facts["mode"] == mode) & (facts["tokenizer"] == tok)]
        try:
            classifier = _classifier(tokenizer, tok, naming_relations)
        except FactrootsError as exc:
            section.notes.append(
                f"{mode} mode, {tok} index: not classified, its tokenizer could "
                f"not be loaded ({exc}); pass --tokenizer."
            )
            continue
        section.notes.append(
            f"{mode} mode, {tok} index: subwords from tokenizer {classifier.tokenizer.name!r}."
        )
        classified.append(classify.classify_facts(subset, classifier))
    columns = [
        "model",
        "mode",
        "tokenizer",
        "lang",
        "relation",
        "uuid",
        "subject",
        "object",
        "prediction",
        "type",
    ]
    every = (
        pd.concat(classified, ignore_index=True) if classified else pd.DataFrame(columns=columns)
    )
    every = every.reindex(columns=[c for c in columns if c in every.columns])
    keys = ["model", "mode", "tokenizer", "lang"]
    counts = (
        classify.type_counts(every, keys)
        if len(every)
        else pd.DataFrame(columns=[*keys, *classify.TYPES, "total"])
    )
    for mode, tok in _variants(joined):
        rows = counts[(counts["mode"] == mode) & (counts["tokenizer"] == tok)]
        if rows.empty:
            continue
        section.figures.append(
            w.figure(
                f"Figure 7: absent yet predicted facts by type, {mode} mode, {tok} index",
                f"figure7_absent_predicted_{slug(mode)}_{slug(tok)}.png",
                lambda p, r=rows, m=mode, t=tok: figures.absent_predicted_bars(
                    r, f"Absent yet predicted facts ({m} mode, {t} index)", p
                ),
            )
        )
    if every.empty:
        section.notes.append("No absent yet correctly predicted fact.")
    single = len(_variants(joined)) == 1 and len(counts)
    section.tables.append(
        w.table(
            "Absent yet predicted facts per type",
            "absent_predicted.csv",
            counts,
            view=statistics.wide(counts, [*classify.TYPES, "total"]) if single else None,
        )
    )
    for kind in classify.TYPES:
        section.tables.append(
            w.table(
                f"Absent yet predicted facts: {kind}",
                f"absent_predicted_{slug(kind)}.csv",
                every[every["type"] == kind].drop(columns="type"),
            )
        )
    return section


def _relation_order(relation: str) -> tuple[int, str]:
    digits = relation.lstrip("Pp")
    return (int(digits) if digits.isdigit() else 1 << 30, relation)


def neurons_section(
    w: _Writer,
    neurons: pd.DataFrame | None,
    activities: list[FactActivity],
    activity_notes: list[str],
) -> Section:
    section = Section(
        "Neurons (Figures 5 and 4)",
        "For two languages, the mean over facts correctly predicted (and scored) in both of the "
        "Jaccard similarity of their top-K PROBELESS neurons; Figure 4 shows one fact's FFN "
        "activation per layer in equal bins of neurons, per language.",
    )
    if neurons is None:
        section.notes.append("No neurons given (--neurons): Figure 5 is not drawn.")
    else:
        add_matrices_per_model(
            w,
            section,
            neurons,
            statistics.neuron_similarity_matrix,
            "Figure 5",
            "language similarity by shared top neurons",
            "neuron_similarity",
            "Shared top neurons",
            "mean top-K Jaccard",
            "Neuron similarity matrix",
        )
    section.notes += activity_notes
    for activity in activities:
        section.figures.append(
            w.figure(
                f"Figure 4 ({activity.model}): per-layer activity of fact {activity.uuid} across "
                f"languages",
                f"figure4_layer_activity_{slug(activity.model)}.png",
                lambda p, a=activity: figures.layer_activity(
                    a.bins, f"FFN activity of fact {a.uuid} ({a.model})", p
                ),
            )
        )
    return section


def fact_activities(
    activations, fact: str | None, predictions: pd.DataFrame
) -> tuple[list[FactActivity], list[str]]:
    """Figure 4's data from each activation folder, and notes on what could not be shown."""
    if activations is None:
        return [], ["No saved activations given (--activations): Figure 4 is not drawn."]
    folders = [activations] if isinstance(activations, str | Path) else list(activations)
    found, notes = [], []
    for folder in folders:
        try:
            found.append(fact_activity(folder, fact, predictions))
        except FactrootsError as exc:
            notes.append(f"Figure 4 not drawn for {folder}: {exc}")
    return found, notes


TRACE_ONLY = "(no predictions)"


def _written(w: _Writer, intro: list[str], sections: list[Section]) -> Report:
    """report.md and report.html of the sections, and what was written."""
    md = w.out_dir / "report.md"
    write_text(md, render.markdown(TITLE, intro, sections))
    page = w.out_dir / "report.html"
    write_text(page, render.standalone_html(TITLE, intro, sections, w.out_dir))
    notes = [note for section in sections for note in section.notes]
    return Report(w.out_dir, md, page, w.tables, w.figures, notes)


def _trace_report(trace: pd.DataFrame, out: Path) -> Report:
    """The report of a trace alone: absence among all traceable facts (Figure 6's first bars);
    every section that needs predictions is named as left out."""
    w = _Writer(out)
    facts = trace[["lang", "uuid"]].drop_duplicates().assign(model=TRACE_ONLY, correct=False)
    joined = statistics.traced_predictions(trace, facts)
    section = absence_section(w, joined, statistics.absence_rates(joined))
    left_out = Section(
        "Left out",
        "No predictions given (--predictions): probing (Tables 1 and 2), factors (Figure 2), "
        "shared facts (Figure 3), absent yet predicted (Figure 7) and neurons (Figures 4 and 5) "
        "need them.",
    )
    left_out.notes.append("No predictions given: only the trace's absence rates are reported.")
    sections = [section, left_out]
    intro = [
        f"{trace['lang'].nunique()} language(s), {len(trace):,} trace rows "
        f"({', '.join(f'{m} mode / {t} index' for m, t in _variants(trace))}); no predictions."
    ]
    return _written(w, intro, sections)


def build_report(
    trace: Source | Sequence[Source],
    predictions: Source | Sequence[Source] | None,
    out_dir: str | Path,
    *,
    neurons: Source | Sequence[Source] | None = None,
    root: str | Path | None = None,
    activations: str | Path | Sequence[str | Path] | None = None,
    fact: str | None = None,
    tokenizer: str | Path | None = None,
    naming_relations: Collection[str] = classify.DEFAULT_NAMING_RELATIONS,
) -> Report:
    """Write every table (CSV), figure (PNG), report.md and report.html into `out_dir`.

    `trace`, `predictions` and `neurons` are each a DataFrame or parquet path, or several
    (traces of several modes or tokenizers, predictions and neurons of several models), read
    together; `root` is the index
    root whose manifests give corpus sizes; `activations` is one or more folders of saved
    activations (one model each) for Figure 4, showing `fact` (a uuid; by default the fact
    predicted correctly in the most languages); `tokenizer` (name or path) gives the subwords of
    the absent-yet-predicted rule 1, by default the tokenizer each trace row names.
    """
    if root is not None and not Path(root).is_dir():
        raise FactrootsError(f"index root {root} does not exist (it gives Figure 2's corpus sizes)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trace = read_tables(trace, TRACE)
    if predictions is None or (isinstance(predictions, list | tuple) and not predictions):
        return _trace_report(trace, out)
    probed = read_tables(predictions, PREDICTIONS)
    if probed.empty:
        raise FactrootsError("predictions are empty: nothing to report")
    neurons = None if neurons is None else read_tables(neurons, NEURONS)
    w = _Writer(out)

    table = statistics.probing_table(probed)
    by_masks = statistics.p_at_1_by_masks(probed)
    summed = statistics.summed_mask_rates(by_masks)
    sizes = None
    if root is not None:
        sizes = statistics.manifest_sizes(root, table["lang"], sorted(trace["tokenizer"].unique()))
    factors = statistics.factors_table(table, sizes, statistics.masks_correlation(summed))
    joined = statistics.traced_predictions(trace, probed)
    absence = statistics.absence_rates(joined)

    sections = [
        probing_section(w, probed, table, by_masks, summed),
        factors_section(w, table, sizes, factors, None if root is None else Path(root)),
        shared_facts_section(w, probed),
        absence_section(w, joined, absence),
        absent_predicted_section(w, joined, tokenizer, naming_relations),
        neurons_section(w, neurons, *fact_activities(activations, fact, probed)),
    ]
    intro = [
        f"{probed['model'].nunique()} model(s), {probed['lang'].nunique()} "
        f"language(s), {len(probed):,} probed facts; {len(trace):,} trace rows "
        f"({', '.join(f'{m} mode / {t} index' for m, t in _variants(trace))})."
    ]
    return _written(w, intro, sections)
