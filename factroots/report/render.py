"""Render report sections as Markdown (figures linked) and as one standalone HTML file (figures
embedded as base64)."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

MAX_SHOWN_ROWS = 60
MAX_SHOWN_COLUMNS = 25


@dataclass
class Table:
    """A table written to `csv` (a file name in the report folder) and shown under `caption`."""

    caption: str
    csv: str
    frame: pd.DataFrame
    view: pd.DataFrame | None = None

    @property
    def shown_frame(self) -> pd.DataFrame:
        """What the report shows: the view (e.g. a wide pivot) if any, else the CSV's rows."""
        return self.frame if self.view is None else self.view


@dataclass
class Figure:
    caption: str
    png: str


@dataclass
class Section:
    """One heading: how its numbers were computed, its figures and tables, and notes (e.g. what is
    missing and why)."""

    title: str
    sentence: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def format_cell(value: object) -> str:
    """A table cell as text: floats to 3 decimals, missing values as an en dash."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def shown(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The part of a table small enough to show inline, and a note when rows or columns are cut."""
    if frame.shape[1] > MAX_SHOWN_COLUMNS:
        return frame.iloc[:0, :0], f"{frame.shape[0]} × {frame.shape[1]} table: see the CSV"
    if len(frame) > MAX_SHOWN_ROWS:
        return frame.head(MAX_SHOWN_ROWS), f"first {MAX_SHOWN_ROWS} of {len(frame)} rows"
    return frame, None


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""

    def cell(value: object) -> str:
        return format_cell(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(cell(v) for v in row) + " |"
        for row in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *body])


def markdown(title: str, intro: list[str], sections: list[Section]) -> str:
    """The whole report as Markdown; figures and CSVs referenced by relative file name."""
    lines = [f"# {title}", "", *intro, ""]
    for section in sections:
        lines += [f"## {section.title}", "", section.sentence, ""]
        lines += [f"> {note}\n" for note in section.notes]
        for fig in section.figures:
            lines += [f"![{fig.caption}]({fig.png})", "", f"*{fig.caption}* ({fig.png})", ""]
        for table in section.tables:
            part, cut = shown(table.shown_frame)
            lines += [f"**{table.caption}** — [{table.csv}]({table.csv})", ""]
            if len(part.columns):
                lines += [markdown_table(part), ""]
            if cut:
                lines += [f"*{cut}.*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; }
blockquote { color: #8a4b00; border-left: 3px solid #e0a040; margin-left: 0; padding-left: 1em; }
figcaption { font-style: italic; margin-bottom: 1.5em; }
"""


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def standalone_html(title: str, intro: list[str], sections: list[Section], folder: Path) -> str:
    """The whole report as one HTML file: figures embedded, CSVs linked by relative name."""
    esc = html.escape
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"
    ]
    parts += [f"<p>{esc(p)}</p>" for p in intro]
    for section in sections:
        parts.append(f"<h2>{esc(section.title)}</h2><p>{esc(section.sentence)}</p>")
        parts += [f"<blockquote>{esc(note)}</blockquote>" for note in section.notes]
        for fig in section.figures:
            parts.append(
                f"<figure><img alt='{esc(fig.caption)}' "
                f"src='{_data_uri(folder / fig.png)}'>"
                f"<figcaption>{esc(fig.caption)} ({esc(fig.png)})</figcaption></figure>"
            )
        for table in section.tables:
            part, cut = shown(table.shown_frame)
            parts.append(
                f"<p><b>{esc(table.caption)}</b> — "
                f"<a href='{esc(table.csv)}'>{esc(table.csv)}</a></p>"
            )
            if len(part.columns):
                parts.append(_html_table(part))
            if cut:
                parts.append(f"<p><i>{esc(cut)}.</i></p>")
    parts.append("</body></html>")
    return "\n".join(parts)
