"""Figures and tables of the programme's trends across all waves: is the programme improving,
and do collaborations differ in how fast?

They read the benchmark tables ``programme_slopes`` (one random-slope model per
characteristic, :func:`collab_stats.slopes.collaboration_slopes`) and ``collaboration_slopes``
(each collaboration's own slope, suppressed below the disclosure threshold). The verdicts
(``trend_label``, ``slopes_label``, ``verdict``) are the library's; nothing here re-tests them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.data import ReportData
from reports.notebook import FigureOutput, TableOutput
from reports.style import COLOURS, figure, figure_output
from reports.tables import Column, table_output
from reports.text import fmt_ci, fmt_number, suppressed_text

__all__ = ["slopes_chart", "slopes_frame", "slopes_table", "shown_slopes"]

#: The library's trend labels in plain words for a table cell.
TREND_WORDS = {"significantly improving": "Improving", "significantly declining": "Declining",
               "no significant trend": "No clear change", "not tested": "Not estimated"}


def slopes_frame(data: ReportData) -> pd.DataFrame:
    """``programme_slopes`` in framework order with the characteristic's name (empty when the
    programme has fewer than three waves)."""
    table = data.benchmark.get("programme_slopes", pd.DataFrame())
    if table is None or table.empty:
        return pd.DataFrame()
    names = data.characteristic_names()
    order = {c: k for k, c in enumerate(names)}
    frame = table.assign(name=[names.get(str(c), str(c)) for c in table["characteristic"]])
    frame = frame.assign(_o=frame["characteristic"].astype(str).map(order))
    return frame.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def shown_slopes(data: ReportData) -> pd.DataFrame:
    """Collaborations' own slopes that are shown (not suppressed), with names."""
    table = data.benchmark.get("collaboration_slopes", pd.DataFrame())
    if table is None or table.empty:
        return pd.DataFrame()
    shown = table[~table["suppressed"].astype(bool)].copy()
    names = {c.id: c.name for c in data.programme.collaborations}
    shown["collaboration"] = [names.get(str(c), str(c)) for c in shown["collaboration_id"]]
    return shown.reset_index(drop=True)


def slopes_table(data: ReportData) -> TableOutput:
    """Per characteristic: the programme's average change per wave with its interval, the
    verdict, the spread (SD) of the collaborations' own slopes and the test of that spread."""
    frame = slopes_frame(data)
    if frame.empty:
        frame = pd.DataFrame(columns=["name", "slope", "slope_ci_low", "slope_ci_high",
                                      "trend_label", "sd_slope", "lrt_p_value",
                                      "slopes_label"])
    frame = frame.assign(
        ci_text=[fmt_ci(lo, hi, 3) for lo, hi in
                 zip(frame["slope_ci_low"], frame["slope_ci_high"], strict=True)],
        trend=[TREND_WORDS.get(str(t), str(t)) for t in frame["trend_label"]],
        differ=[str(s).capitalize() for s in frame["slopes_label"]],
    )
    return table_output(frame, [
        Column("name", "Characteristic"),
        Column("slope", "Average change per wave", lambda v: fmt_number(v, 3, sign=True)),
        Column("ci_text", "95% CI", numeric=True),
        Column("trend", "Programme"),
        Column("sd_slope", "Spread of collaborations' slopes (SD)", lambda v: fmt_number(v, 3)),
        Column("lrt_p_value", "p (spread)", _p, numeric=True),
        Column("differ", "Collaborations"),
    ], data=frame.drop(columns=["ci_text", "trend", "differ"]))


def _p(value: float) -> str:
    if value != value:
        return "–"
    return "< 0.001" if value < 0.001 else fmt_number(value, 3)


def slopes_chart(data: ReportData) -> FigureOutput:
    """Caterpillar plot, one panel per characteristic: every shown collaboration's own change
    per wave with its 95% interval, sorted, beside zero and the programme's average."""
    frame = slopes_frame(data)
    shown = shown_slopes(data)
    n_panels = max(len(frame), 1)
    n_cols = 2
    n_rows = int(np.ceil(n_panels / n_cols))
    with figure(7.5, 2.1 * n_rows + 0.8, nrows=n_rows, ncols=n_cols, sharex=True,
                squeeze=False) as (fig, axes):
        flat = axes.ravel()
        finite = shown[["slope_ci_low", "slope_ci_high"]].to_numpy(dtype=float) \
            if len(shown) else np.zeros((0, 2))
        reach = float(np.nanmax(np.abs(finite), initial=0.1)) if finite.size else 0.1
        for ax, row in zip(flat, frame.itertuples(index=False), strict=False):
            rows = shown[shown["characteristic"].astype(str) == str(row.characteristic)]
            rows = rows.sort_values("slope", kind="stable")
            y = np.arange(len(rows))
            ax.hlines(y, rows["slope_ci_low"], rows["slope_ci_high"], color=COLOURS["peer"],
                      linewidth=0.8)
            ax.plot(rows["slope"], y, "o", color=COLOURS["focus"], markersize=2.5)
            ax.axvline(0, color=COLOURS["ink"], linewidth=0.8)
            ax.axvline(row.slope, color=COLOURS["muted"], linewidth=1, linestyle="--")
            ax.set_title(str(row.name), fontsize=8.5, loc="left", wrap=True)
            ax.set_yticks([])
            ax.set_ylim(-1, max(len(rows), 1))
            ax.set_xlim(-reach * 1.05, reach * 1.05)
            ax.grid(axis="y", visible=False)
        for ax in flat[len(frame):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("change in score per wave", fontsize=8)
        n_hidden = _n_hidden(data)
        alt = (f"Caterpillar plots, one panel per characteristic, of the change in score per "
               f"wave of each of {shown['collaboration_id'].nunique() if len(shown) else 0} "
               f"collaborations, sorted from the largest decline to the largest improvement, "
               f"each with its 95% interval; a solid line marks no change and a dashed line "
               f"the programme's average change. "
               + (f"{n_hidden} collaborations with {suppressed_text(data.threshold)} in a wave "
                  "are not shown." if n_hidden else ""))
        columns = ["collaboration", "characteristic", "slope", "slope_ci_low", "slope_ci_high",
                   "slope_se", "n_obs"]
        table = shown[columns] if len(shown) else pd.DataFrame(columns=columns)
        return figure_output(fig, alt=alt, data=table)


def _n_hidden(data: ReportData) -> int:
    table = data.benchmark.get("collaboration_slopes", pd.DataFrame())
    if table is None or table.empty:
        return 0
    hidden = table[table["suppressed"].astype(bool)]
    return int(hidden["collaboration_id"].nunique())
