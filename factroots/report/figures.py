"""The paper's figures, drawn with matplotlib's Agg canvas (no display, no pyplot).

Every function takes tidy DataFrames and a path, writes one PNG (and the same figure as SVG and
PDF beside it, for papers) and returns the PNG's path. Sizes and fonts scale with the number of
languages so 53 labelled languages stay readable.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from mpl_toolkits.axes_grid1 import make_axes_locatable

from factroots.atomic import atomic_output
from factroots.report.classify import TYPES
from factroots.report.statistics import pearson

DPI = 150
FORMATS = (".png", ".svg", ".pdf")  # every figure is written in each
TYPE_COLORS = dict(zip(TYPES, ("#4c72b0", "#dd8452", "#8c8c8c"), strict=True))
MODEL_MARKERS = "osD^vP*X"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    """Write the figure to `path` and beside it in every other of FORMATS."""
    for suffix in FORMATS:
        with atomic_output(path.with_suffix(suffix)) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=suffix[1:])
    return path


def _label_size(n: int) -> float:
    return 9.0 if n <= 20 else 7.0 if n <= 40 else 6.0


def cluster_tree(matrix: pd.DataFrame) -> np.ndarray | None:
    """Average-linkage tree (optimally leaf-ordered) of a similarity matrix on 1 − similarity;
    None for fewer than 3 rows. Missing similarities count as 0."""
    if len(matrix) < 3:
        return None
    from scipy.cluster.hierarchy import linkage, optimal_leaf_ordering
    from scipy.spatial.distance import squareform

    distance = 1.0 - np.nan_to_num(matrix.to_numpy(dtype=float), nan=0.0)
    distance = np.clip((distance + distance.T) / 2, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    condensed = squareform(distance, checks=False)
    return optimal_leaf_ordering(linkage(condensed, method="average"), condensed)


def clustered_order(matrix: pd.DataFrame) -> list[int]:
    """Row order of a symmetric similarity matrix by its cluster tree's leaves."""
    tree = cluster_tree(matrix)
    if tree is None:
        return list(range(len(matrix)))
    from scipy.cluster.hierarchy import leaves_list

    return [int(i) for i in leaves_list(tree)]


def _off_diagonal_max(values: np.ndarray) -> float:
    mask = ~np.eye(len(values), dtype=bool)
    finite = values[mask & np.isfinite(values)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def size_vs_p_at_1(table: pd.DataFrame, sizes: pd.DataFrame, path: Path) -> Path:
    """Figure 2: per-language P@1 against text bytes and first-paragraph bytes (log x), one
    labelled point per language and model."""
    joined = table.merge(sizes, on="lang")
    factors = (
        ("text_bytes", "Wikipedia text (bytes)"),
        ("first_paragraph_bytes", "first paragraphs (bytes)"),
    )
    fig = _figure(15, 6.5)
    axes = fig.subplots(1, 2, sharey=True)
    font = _label_size(joined["lang"].nunique())
    axes[0].set_ylim(0, max(0.05, 1.08 * float(joined["p_at_1"].max())))
    for ax, (column, label) in zip(axes, factors, strict=True):
        labelled: list[tuple[float, float, str]] = []
        for i, (model, group) in enumerate(joined.groupby("model", sort=True)):
            points = group[group[column] > 0]
            r = pearson(points[column], points["p_at_1"]).r
            legend = f"{model} (r = {r:.2f})" if r == r else f"{model} (r undefined)"
            ax.scatter(
                points[column],
                points["p_at_1"],
                label=legend,
                alpha=0.75,
                s=22,
                marker=MODEL_MARKERS[i % len(MODEL_MARKERS)],
            )
            labelled += zip(points[column], points["p_at_1"], points["lang"], strict=True)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(title="model (Pearson r with bytes)", fontsize=8)
        ax.autoscale_view()
        _place_labels(ax, labelled, font)
    axes[0].set_ylabel("P@1")
    fig.suptitle("Corpus size vs P@1 (one point per language)")
    return _save(fig, path)


_LABEL_OFFSETS = ((3, 2), (3, -9), (-3, 2), (-3, -9), (0, 6), (0, -12), (6, 8), (6, -14))


def _place_labels(ax, points: list[tuple[float, float, str]], font: float) -> None:
    """Label each point beside it where the label overlaps no label placed before (tried
    right, left, above, below), else where it overlaps least."""
    scale = ax.figure.dpi / 72  # points to pixels
    placed: list[tuple[float, float, float, float]] = []

    def overlap(box: tuple[float, float, float, float]) -> float:
        x0, y0, x1, y1 = box
        return sum(
            max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
            for b in placed
        )

    for x, y, text in sorted(points, key=lambda p: (p[1], p[0])):
        px, py = ax.transData.transform((x, y))
        width, height = 0.62 * font * len(text) * scale, 1.1 * font * scale
        boxes = []
        for dx, dy in _LABEL_OFFSETS:
            left = px + dx * scale - (width if dx < 0 else 0)
            boxes.append(((left, py + dy * scale, left + width, py + dy * scale + height), dx, dy))
        box, dx, dy = min(boxes, key=lambda b: overlap(b[0]))
        placed.append(box)
        ax.annotate(
            text,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="right" if dx < 0 else "left",
            fontsize=font,
        )


def similarity_heatmap(matrix: pd.DataFrame, title: str, colorbar_label: str, path: Path) -> Path:
    """Figures 3 and 5: a language × language similarity matrix in clustered order, with the
    dendrogram beside it."""
    n = len(matrix)
    tree = cluster_tree(matrix)
    order = clustered_order(matrix)
    ordered = matrix.iloc[order, order]
    values = ordered.to_numpy(dtype=float)
    side = min(max(6.0, 0.24 * n + 2.0), 18.0)
    fig = _figure(side + 2.5, side)
    ax = fig.add_subplot()
    divider = make_axes_locatable(ax)
    if tree is not None:
        from scipy.cluster.hierarchy import dendrogram

        dendro_ax = divider.append_axes("left", size="12%", pad=0.05)
        dendrogram(
            tree,
            orientation="left",
            no_labels=True,
            ax=dendro_ax,
            color_threshold=0,
            above_threshold_color="#555555",
        )
        dendro_ax.set_ylim(10 * n, 0)
        dendro_ax.set_yticks([])
        dendro_ax.set_xlabel("1 − similarity", fontsize=8)
        dendro_ax.tick_params(axis="x", labelsize=7)
        for spine in ("left", "right", "top"):
            dendro_ax.spines[spine].set_visible(False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    top = _off_diagonal_max(values)
    image = ax.imshow(
        values,
        cmap=cmap,
        vmin=0.0,
        vmax=top,
        aspect="equal",
        interpolation="nearest",
    )
    font = _label_size(n)
    ax.set_xticks(range(n), list(ordered.columns), rotation=90, fontsize=font)
    ax.set_yticks(range(n), list(ordered.index), fontsize=font)
    ax.yaxis.tick_right()
    ax.set_title(title + ("\n(grey: no shared facts)" if np.isnan(values).any() else ""))
    bar = fig.colorbar(image, cax=divider.append_axes("right", size="3%", pad=0.45))
    diagonal = np.diag(values)
    saturated = bool((diagonal[np.isfinite(diagonal)] > top).any())
    bar.set_label(
        colorbar_label + (" (scale: off-diagonal; diagonal saturated)" if saturated else "")
    )
    return _save(fig, path)


def _language_bars_figure(n_langs: int, n_panels: int) -> tuple[Figure, list]:
    width = min(max(8.0, 0.3 * n_langs + 2.0), 24.0)
    fig = _figure(width, 3.6 * n_panels + 0.8)
    axes = fig.subplots(n_panels, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def absence_bars(absence: pd.DataFrame, title: str, path: Path) -> Path:
    """Figure 6: per language, the absence rate of all traceable facts and of correctly
    predicted ones, one panel per model."""
    models = sorted(absence["model"].unique())
    fig, axes = _language_bars_figure(absence["lang"].nunique(), len(models))
    for ax, model in zip(axes, models, strict=True):
        rows = absence[absence["model"] == model].sort_values("absence_rate", ascending=False)
        x = np.arange(len(rows))
        ax.bar(x - 0.2, rows["absence_rate"], width=0.4, label="all facts", color="#4c72b0")
        ax.bar(
            x + 0.2,
            rows["absence_rate_correct"].astype(float),
            width=0.4,
            label="correctly predicted facts\n(no bar: none correct)",
            color="#dd8452",
        )
        ax.set_ylim(_rate_floor(rows), 1)
        _label_language_axis(ax, list(rows["lang"]), model, "absence rate")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _rate_floor(rows: pd.DataFrame) -> float:
    """Where a rate axis starts: 0, or a tenth below the smallest rate when every rate is
    above one half (so that rates between 0.85 and 1 do not all look equal)."""
    rates = pd.concat([rows["absence_rate"], rows["absence_rate_correct"]]).astype(float)
    smallest = float(rates.min()) if rates.notna().any() else 0.0
    return 0.0 if smallest <= 0.5 else math.floor(smallest * 10) / 10 - 0.05


def _label_language_axis(ax, langs: list[str], model: str, ylabel: str) -> None:
    """One language per bar position: rotated language ticks, grid, legend beside the panel."""
    ax.set_xticks(np.arange(len(langs)), langs, rotation=90, fontsize=_label_size(len(langs)))
    ax.set_xlim(-0.6, max(len(langs), 1) - 0.4)
    ax.set_ylabel(ylabel)
    ax.set_title(model)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))


def absent_predicted_bars(counts: pd.DataFrame, title: str, path: Path) -> Path:
    """Figure 7: per language, absent-yet-predicted facts stacked by type, one panel per model."""
    models = sorted(counts["model"].unique())
    fig, axes = _language_bars_figure(counts["lang"].nunique(), len(models))
    for ax, model in zip(axes, models, strict=True):
        rows = counts[counts["model"] == model].sort_values("total", ascending=False)
        x = np.arange(len(rows))
        bottom = np.zeros(len(rows))
        for kind in TYPES:
            values = rows[kind].to_numpy(dtype=float)
            ax.bar(x, values, bottom=bottom, label=kind, color=TYPE_COLORS[kind], width=0.8)
            bottom += values
        _label_language_axis(ax, list(rows["lang"]), model, "absent yet predicted facts")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def layer_activity(bins: dict[str, np.ndarray], title: str, path: Path) -> Path:
    """Figure 4: one fact's FFN activity per layer (rows) in equal bins of neurons (columns), a
    small heat map per language on one shared colour scale."""
    langs = sorted(bins)
    n = len(langs)
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig = _figure(2.0 * cols + 1.4, 1.9 * rows + 1.4)
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(top=1 - 0.9 / (1.9 * rows + 1.4), hspace=0.55, wspace=0.35)
    vmin = min(0.0, min(float(np.nanmin(b)) for b in bins.values()))
    vmax = max(float(np.nanmax(b)) for b in bins.values())
    vmax = vmax if vmax > vmin else vmin + 1.0
    image = None
    for ax, lang in zip(axes.flat, langs, strict=False):
        grid = np.asarray(bins[lang], dtype=float)
        image = ax.imshow(
            grid,
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
            origin="lower",
        )
        layers, columns = grid.shape
        ax.set_title(lang, fontsize=9, pad=3)
        ax.set_xticks([0, columns - 1], ["1", str(columns)], fontsize=7)
        step = 1 if layers <= 12 else math.ceil(layers / 6)
        ticks = list(range(0, layers, step))
        ax.set_yticks(ticks, [str(t + 1) for t in ticks], fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
        bar.set_label("mean activation in bin")
    fig.suptitle(title, y=1 - 0.15 / (1.9 * rows + 1.4))
    fig.supylabel("layer (1 = bottom)", fontsize=9)
    fig.supxlabel("equal bins of FFN neurons", fontsize=9)
    return _save(fig, path)
