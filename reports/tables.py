"""Accessible tables: HTML with header cells and a caption-free body (the caption is the
cell's ``tbl-cap``), Markdown for Quarto and Jupyter, and the frame behind them.

Suppressed rows (a ``suppressed`` column that is True) show "fewer than N responses" in every
value column, never a number or zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .notebook import TableOutput
from .text import fmt_int, fmt_number, html_escape, md_escape, suppressed_text

__all__ = ["Column", "data_table_html", "table_output"]

Formatter = Callable[[Any], str]


class Column:
    """One displayed column: source column, header label, formatter and alignment."""

    def __init__(self, source: str, label: str, fmt: Formatter | None = None, *,
                 numeric: bool | None = None, keep_when_suppressed: bool = False):
        self.source = source
        self.label = label
        self.fmt = fmt or _default
        self.numeric = numeric
        self.keep_when_suppressed = keep_when_suppressed


def _default(value: Any) -> str:
    if isinstance(value, float):
        return fmt_number(value)
    return "–" if value is None or (isinstance(value, float) and value != value) else str(value)


def table_output(frame: pd.DataFrame, columns: Sequence[Column], *, threshold: int | None = None,
                 row_header: bool = True, css_class: str = "cs-table",
                 data: pd.DataFrame | None = None) -> TableOutput:
    """Format ``frame`` as a :class:`TableOutput`.

    The first column is the row header (``<th scope="row">``) when ``row_header``. Rows whose
    ``suppressed`` column is True show :func:`~reports.text.suppressed_text` in every column
    not marked ``keep_when_suppressed``. ``data`` (default: the selected source columns plus
    ``suppressed``/``suppressed_reason`` where present) is what downloads offer.
    """
    suppressed = (frame["suppressed"].fillna(False).astype(bool).to_numpy()
                  if "suppressed" in frame.columns else [False] * len(frame))
    hidden = suppressed_text(threshold) if threshold is not None else "suppressed"
    numeric = [c.numeric if c.numeric is not None
               else pd.api.types.is_numeric_dtype(frame[c.source]) for c in columns]
    # column by column over plain lists (iterrows builds a Series per row: slow)
    formatted = []
    for column in columns:
        values = frame[column.source].tolist()
        formatted.append([hidden if suppressed[i] and not column.keep_when_suppressed
                          else column.fmt(v) for i, v in enumerate(values)])
    rows: list[list[str]] = [list(cells) for cells in zip(*formatted, strict=True)] \
        if formatted else [[] for _ in range(len(frame))]
    html = _html(columns, rows, numeric, suppressed, row_header, css_class)
    markdown = _markdown(columns, rows, numeric)
    if data is None:
        keep = [c.source for c in columns]
        keep += [c for c in ("suppressed", "suppressed_reason") if c in frame.columns
                 and c not in keep]
        data = frame[keep].reset_index(drop=True)
    return TableOutput(html=html, markdown=markdown, data=data)


def _html(columns: Sequence[Column], rows: list[list[str]], numeric: list[bool],
          suppressed: Sequence[bool], row_header: bool, css_class: str) -> str:
    head = "".join(f'<th scope="col"{_align(n)}>{html_escape(c.label)}</th>'
                   for c, n in zip(columns, numeric, strict=True))
    body = []
    for cells, hidden in zip(rows, suppressed, strict=True):
        tds = []
        for j, (text, n) in enumerate(zip(cells, numeric, strict=True)):
            tag = "th" if row_header and j == 0 else "td"
            scope = ' scope="row"' if tag == "th" else ""
            tds.append(f"<{tag}{scope}{_align(n)}>{html_escape(text)}</{tag}>")
        cls = ' class="cs-suppressed"' if hidden else ""
        body.append(f"<tr{cls}>{''.join(tds)}</tr>")
    return (f'<table class="{css_class}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _align(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def _markdown(columns: Sequence[Column], rows: list[list[str]], numeric: list[bool]) -> str:
    def cell(text: str) -> str:
        return md_escape(text) or " "

    head = "| " + " | ".join(cell(c.label) for c in columns) + " |"
    rule = "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"
    body = ["| " + " | ".join(cell(t) for t in r) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def data_table_html(frame: pd.DataFrame) -> str:
    """A figure's numbers as a plain accessible table (column names as headers, whole
    numbers as such, other numbers to three decimals, NaN as a dash; the ``suppressed`` flag
    column is left out, its reason kept): the text alternative beside each figure."""
    frame = frame.drop(columns=[c for c in frame.columns if str(c) == "suppressed"])
    columns = []
    for c in frame.columns:
        values = frame[c]
        fmt = None
        if pd.api.types.is_float_dtype(values):
            finite = values.to_numpy(dtype=float, na_value=np.nan)
            finite = finite[~np.isnan(finite)]
            whole = len(finite) > 0 and bool((finite == np.round(finite)).all())
            fmt = fmt_int if whole else (lambda v: fmt_number(v, 3))
        columns.append(Column(str(c), str(c).replace("_", " "), fmt))
    return table_output(frame.rename(columns=str), columns, row_header=False,
                        css_class="cs-table cs-data").html
