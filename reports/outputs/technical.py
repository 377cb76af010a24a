"""Figures and tables of the technical report (researchers): reliability, item analysis,
factor structure, measurement invariance, aggregation, data quality and instrument versions.

Every function takes the :class:`~reports.data.ReportData` and plain keyword literals and
returns a :class:`~reports.notebook.FigureOutput` or :class:`~reports.notebook.TableOutput`,
so a notebook cell such as ``technical.reliability_table(data, wave='2026-09')`` reproduces
its output. Numbers come unrounded from the psychometrics tables; rounding happens here, for
display only (the ``data`` frames offered as downloads keep full precision).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..data import ReportData
from ..notebook import FigureOutput, TableOutput
from ..style import COLOURS, SEQUENTIAL, figure, figure_output
from ..tables import Column, table_output
from ..text import fmt_ci, fmt_int, fmt_number, fmt_percent

__all__ = [
    "ALPHA_MIN",
    "aggregation_chart",
    "aggregation_table",
    "collaboration_alpha_table",
    "composite_reliability_table",
    "cross_wave_chains",
    "fit_table",
    "flags_table",
    "ingest_table",
    "invariance_table",
    "item_chart",
    "item_table",
    "loadings_chart",
    "mapping_table",
    "omega_hierarchical_table",
    "programme_reliability",
    "psychometric_waves",
    "quarantine_reasons",
    "quarantine_table",
    "reliability_chart",
    "reliability_table",
    "used_versions",
    "verdict_headline",
    "versions_table",
    "wave_label",
]

#: The conventional minimum for alpha, ICC(2) and rwg(J) drawn as reference lines.
ALPHA_MIN = 0.70
#: Standardised loadings below this are marked in the loadings chart.
LOADING_MIN = 0.50
#: Wave styles: colour and marker differ together, so waves stay apart in greyscale.
WAVE_COLOURS = (COLOURS["focus"], COLOURS["peer"], COLOURS["good"], COLOURS["bad"],
                COLOURS["purple"], COLOURS["sky"], COLOURS["neutral"])
WAVE_MARKERS = ("o", "s", "D", "^", "v", "P", "X")
MODEL_NAMES = {"eight_factor": "Eight factors", "second_order": "Second order"}
FLAG_NAMES = {
    "alpha_not_computed": "Alpha not computed",
    "low_alpha": "Low alpha",
    "negative_item_total": "Negative item-rest correlation",
    "low_item_total": "Low item-rest correlation",
    "alpha_rises_if_dropped": "Alpha rises if dropped",
}
RELATION_NAMES = {"identical": "Same wording", "reworded": "Reworded", "split": "Split",
                  "dropped": "Dropped", "added": "Added"}
QUARANTINE_NAMES = {
    "truncated": "Cut off: the file ended inside this response",
    "preview": "Preview, test or spam response",
    "unknown_collaboration": "Collaboration not in the programme",
    "unknown_partner": "Partner not in that collaboration",
    "out_of_range": "Answer code outside the scale",
    "unparseable": "Answer text not recognised",
    "incomplete": "Unfinished, too few items answered",
    "speeder": "Completed implausibly fast",
    "duplicate": "Duplicate response",
    "duplicate_across_files": "Duplicate of a response kept from another export",
}
FORMAT_NAMES = {"qualtrics": "Qualtrics", "surveymonkey": "SurveyMonkey", "redcap": "REDCap",
                "google_forms": "Google Forms", "microsoft_forms": "Microsoft Forms",
                "spss": "SPSS", "simulated": "Simulated", "csv": "CSV"}


# --- small helpers -------------------------------------------------------------------------


def _p(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return "< 0.001" if value < 0.001 else fmt_number(value, 3)


def _n_of(used: float, total: float) -> str:
    return f"{fmt_int(used)} of {fmt_int(total)}"


def _yes(value: object) -> str:
    return "–" if value is None or value is pd.NA else ("Yes" if bool(value) else "No")


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _f(digits: int):
    return lambda v: fmt_number(v, digits)


def wave_label(data: ReportData, wave: str) -> str:
    """``2026-09 (version 2.0)``: a wave with the instrument version it used."""
    return f"{wave} (version {data.instrument_version(wave)})"


def programme_reliability(data: ReportData) -> pd.DataFrame:
    """The pooled (programme-level) rows of the reliability table, in wave order."""
    table = data.psychometrics.get("reliability", pd.DataFrame())
    if not len(table):
        return table
    rows = table[table["level"] == "programme"].copy()
    return _in_wave_order(data, rows)


def psychometric_waves(data: ReportData) -> list[str]:
    """Waves that have programme-level reliability results, in programme order."""
    rows = programme_reliability(data)
    present = set(rows["wave_id"].astype(str)) if len(rows) else set()
    return [w for w in data.waves if w in present]


def _in_wave_order(data: ReportData, frame: pd.DataFrame) -> pd.DataFrame:
    order = {w: k for k, w in enumerate(data.waves)}
    chars = {c: k for k, c in enumerate(data.characteristic_names())}
    keys = frame.assign(_w=frame["wave_id"].astype(str).map(order).fillna(len(order)))
    sort = ["_w"]
    if "characteristic" in frame.columns:
        keys["_c"] = frame["characteristic"].astype(str).map(chars).fillna(len(chars))
        sort.append("_c")
    return (keys.sort_values(sort, kind="stable").drop(columns=sort).reset_index(drop=True))


def _style(k: int) -> tuple[str, str]:
    return WAVE_COLOURS[k % len(WAVE_COLOURS)], WAVE_MARKERS[k % len(WAVE_MARKERS)]


def _item_flags(data: ReportData) -> pd.DataFrame:
    flags = data.psychometrics.get("flags", pd.DataFrame())
    if not len(flags):
        return pd.DataFrame(columns=["wave_id", "item", "flag"])
    return flags[flags["level"] == "item"][["wave_id", "item", "flag"]].astype(str)


# --- reliability ---------------------------------------------------------------------------


def reliability_chart(data: ReportData) -> FigureOutput:
    """Alpha with its Feldt interval and omega, per characteristic and wave (programme level),
    with the 0.70 reference line."""
    rows = programme_reliability(data)
    names = data.characteristic_names()
    waves = psychometric_waves(data)
    chars = [c for c in names if c in set(rows["characteristic"].astype(str))]
    step = 0.7 / max(len(waves), 1)
    height = 1.6 + 0.5 * len(chars) * max(1.0, len(waves) / 4)
    with figure(9.0, height, ncols=2, sharey=True, width_ratios=[3, 2]) as (fig, axes):
        ax_a, ax_o = axes
        for k, wave in enumerate(waves):
            colour, marker = _style(k)
            sub = rows[rows["wave_id"].astype(str) == wave].set_index("characteristic")
            present = [c for c in chars if c in sub.index]
            y = np.array([chars.index(c) for c in present]) + (k - (len(waves) - 1) / 2) * step
            s = sub.loc[present]
            ax_a.hlines(y, s["ci_low"], s["ci_high"], color=colour, linewidth=1.6)
            ax_a.plot(s["alpha"], y, linestyle="none", marker=marker, color=colour,
                      markeredgecolor=COLOURS["ink"], markeredgewidth=0.5, markersize=6,
                      label=f"{wave} (v{data.instrument_version(wave)})")
            if "omega_ci_low" in s:
                ax_o.hlines(y, s["omega_ci_low"], s["omega_ci_high"], color=colour,
                            linewidth=1.6)
            ax_o.plot(s["omega"], y, linestyle="none", marker=marker, color=colour,
                      markeredgecolor=COLOURS["ink"], markeredgewidth=0.5, markersize=6)
        values = pd.concat([rows["ci_low"], rows["omega"], rows["alpha"]]).dropna()
        low = min(ALPHA_MIN - 0.05, float(values.min()) - 0.02) if len(values) else 0.6
        # Two-line titles: the omega panel is narrow (no text may run off the figure).
        for ax, title in ((ax_a, "Cronbach's alpha\n(95% Feldt interval)"),
                          (ax_o, "McDonald's omega\n(95% bootstrap interval)"
                           if "omega_ci_low" in rows else "McDonald's omega (total)")):
            _reference(ax, ALPHA_MIN, "0.70")
            ax.set_xlim(low, 1.0)
            ax.set_title(title, loc="left")
            ax.grid(axis="y", visible=False)
        ax_a.set_yticks(range(len(chars)), [_wrap(names[c]) for c in chars])
        ax_a.set_ylim(len(chars) - 0.5, -1.0)
        _wave_legend(fig, ax_a, len(waves))
        alt = _reliability_alt(rows, names, len(chars), len(waves))
        frame = rows[["wave_id", "characteristic", "alpha", "ci_low", "ci_high", "omega",
                      *(c for c in ("omega_ci_low", "omega_ci_high") if c in rows),
                      "n_used", "n_total"]]
        return figure_output(fig, alt=alt, data=frame)


def _reliability_alt(rows: pd.DataFrame, names: dict[str, str], n_chars: int,
                     n_waves: int) -> str:
    if not rows["alpha"].notna().any():
        return "Chart of Cronbach's alpha and McDonald's omega: no value could be computed."
    low, high = rows.loc[rows["alpha"].idxmin()], rows.loc[rows["alpha"].idxmax()]
    below = int((rows["alpha"] < ALPHA_MIN).sum())
    gap = float((rows["omega"] - rows["alpha"]).abs().max())
    return (f"Dot and interval chart of Cronbach's alpha with 95% intervals, and dot chart of "
            f"McDonald's omega, for {n_chars} characteristics in {n_waves} waves. Alpha ranges "
            f"from {fmt_number(low['alpha'])} ({names.get(str(low['characteristic']), '')}, "
            f"{low['wave_id']}) to {fmt_number(high['alpha'])} "
            f"({names.get(str(high['characteristic']), '')}, {high['wave_id']}); "
            + ("every value is above the 0.70 reference line" if below == 0 else
               f"{below} scale-wave values fall below the 0.70 reference line")
            + (f"; omega is within {fmt_number(gap, 2 if gap >= 0.01 else 3)} of alpha."
               if np.isfinite(gap) else "."))


def _reference(ax, x: float, text: str) -> None:
    """A dashed reference line at ``x`` labelled at the top of the axes."""
    ax.axvline(x, color=COLOURS["ink"], linestyle="--", linewidth=1)
    ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -2),
                textcoords="offset points", va="top", fontsize=8, color=COLOURS["ink"])


def _wave_legend(fig, ax, n_waves: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, [f"Wave {t}" for t in labels], loc="outside lower center",
               ncols=min(n_waves, 4), fontsize=9)


def _wrap(text: str, width: int = 28) -> str:
    return textwrap.fill(str(text), width)


def reliability_table(data: ReportData, *, wave: str) -> TableOutput:
    """One wave's programme-level reliability: alpha with its interval, standardised alpha,
    average inter-item correlation, omega, respondents used, and why a figure is missing."""
    rows = programme_reliability(data)
    rows = rows[rows["wave_id"].astype(str) == wave].copy()
    names = data.characteristic_names()
    rows["name"] = [names.get(str(c), str(c)) for c in rows["characteristic"]]
    rows["n_text"] = [_n_of(u, t) for u, t in zip(rows["n_used"], rows["n_total"], strict=True)]
    rows["ci_text"] = [fmt_ci(lo, hi, 3) for lo, hi in
                       zip(rows["ci_low"], rows["ci_high"], strict=True)]
    rows["note"] = ["; ".join(dict.fromkeys(t for t in (_text(r), _text(o)) if t))
                    for r, o in zip(rows["reason"], rows["omega_reason"], strict=True)]
    level = rows["ci_level"].dropna()
    ci = f"{fmt_percent(level.iloc[0])} CI" if len(level) else "CI"
    has_omega_ci = "omega_ci_low" in rows
    if has_omega_ci:
        rows["omega_ci_text"] = [fmt_ci(lo, hi, 3) for lo, hi in
                                 zip(rows["omega_ci_low"], rows["omega_ci_high"], strict=True)]
    omega_ci = [Column("omega_ci_text", f"{ci} (bootstrap)", numeric=True)] if has_omega_ci else []
    return table_output(rows, [
        Column("name", "Characteristic"),
        Column("n_items", "Items", fmt_int, numeric=True),
        Column("n_text", "n used", numeric=True),
        Column("alpha", "Alpha", _f(3)),
        Column("ci_text", f"{ci} (Feldt)", numeric=True),
        Column("std_alpha", "Std. alpha", _f(3)),
        Column("average_r", "Mean r", _f(3)),
        Column("omega", "Omega", _f(3)),
        *omega_ci,
        Column("note", "Note"),
    ], data=rows[["wave_id", "characteristic", "n_items", "n_used", "n_total", "alpha",
                  "ci_low", "ci_high", "ci_level", "std_alpha", "average_r", "omega",
                  *(["omega_ci_low", "omega_ci_high"] if has_omega_ci else []),
                  "omega_converged", "reason", "omega_reason"]].reset_index(drop=True))


def collaboration_alpha_table(data: ReportData) -> TableOutput:
    """Per wave and characteristic, the distribution of alpha across collaborations: how many
    had it computed, median, quartiles, lowest value and how many fell below 0.70."""
    table = data.psychometrics.get("reliability", pd.DataFrame())
    rows = table[table["level"] == "collaboration"] if len(table) else table
    names = data.characteristic_names()
    out = []
    for (wave, char), group in rows.groupby(["wave_id", "characteristic"], sort=False,
                                            observed=True):
        alpha = group["alpha"].dropna()
        q = alpha.quantile([0.25, 0.5, 0.75]) if len(alpha) else pd.Series([np.nan] * 3)
        out.append({"wave_id": str(wave), "characteristic": str(char),
                    "name": names.get(str(char), str(char)), "n_collaborations": len(group),
                    "n_computed": len(alpha), "median": q.iloc[1], "q1": q.iloc[0],
                    "q3": q.iloc[2], "min": alpha.min() if len(alpha) else np.nan,
                    "n_below": int((alpha < ALPHA_MIN).sum())})
    frame = _in_wave_order(data, pd.DataFrame(out, columns=[
        "wave_id", "characteristic", "name", "n_collaborations", "n_computed", "median", "q1",
        "q3", "min", "n_below"]))
    frame["computed"] = [_n_of(c, n) for c, n in
                         zip(frame["n_computed"], frame["n_collaborations"], strict=True)]
    frame["iqr"] = [fmt_ci(a, b, 2) for a, b in zip(frame["q1"], frame["q3"], strict=True)]
    return table_output(frame, [
        Column("wave_id", "Wave"),
        Column("name", "Characteristic"),
        Column("computed", "Computed", numeric=True),
        Column("median", "Median alpha", _f(2)),
        Column("iqr", "Interquartile range", numeric=True),
        Column("min", "Lowest", _f(2)),
        Column("n_below", "Below 0.70", fmt_int, numeric=True),
    ], data=frame.drop(columns=["name", "computed", "iqr"]))


# --- reliability from the factor models ------------------------------------------------------


def omega_hierarchical_table(data: ReportData) -> TableOutput:
    """Per wave, over all rated items: omega total, omega hierarchical, omega H asymptotic and
    the explained common variance of the general factor (Schmid-Leiman, one group factor per
    characteristic), beside alpha of the whole item set."""
    table = data.psychometrics.get("omega_hierarchical", pd.DataFrame())
    columns = ["wave_id", "instrument_version", "n_factors", "n_items", "omega_total",
               "omega_hierarchical", "omega_h_asymptotic", "ecv", "alpha", "n_used",
               "n_total", "converged", "reason"]
    rows = (_in_wave_order(data, table) if len(table) else pd.DataFrame(columns=columns))
    rows["n_text"] = [_n_of(u, t) for u, t in zip(rows["n_used"], rows["n_total"], strict=True)]
    rows["note"] = [_text(r) for r in rows["reason"]]
    return table_output(rows, [
        Column("wave_id", "Wave"),
        Column("n_items", "Items", fmt_int, numeric=True),
        Column("n_text", "n used", numeric=True),
        Column("omega_total", "Omega total", _f(3)),
        Column("omega_hierarchical", "Omega hierarchical", _f(3)),
        Column("omega_h_asymptotic", "Omega H asymptotic", _f(3)),
        Column("ecv", "General share of common variance", _f(2)),
        Column("alpha", "Alpha", _f(3)),
        Column("note", "Note"),
    ], data=rows[columns].reset_index(drop=True))


def composite_reliability_table(data: ReportData) -> TableOutput:
    """Composite reliability (omega from the eight-factor CFA) per characteristic, one column
    per wave, beside the range of that characteristic's alpha over the waves."""
    table = data.psychometrics.get("composite_reliability", pd.DataFrame())
    names = data.characteristic_names()
    if not len(table):
        frame = pd.DataFrame(columns=["characteristic", "name"])
        return table_output(frame, [Column("name", "Characteristic")], data=frame)
    table = _in_wave_order(data, table)
    waves = list(dict.fromkeys(table["wave_id"].astype(str)))
    wide = table.pivot(index="characteristic", columns="wave_id", values="omega")
    order = [c for c in names if c in wide.index]
    wide = wide.loc[order].reset_index()
    wide.columns = ["characteristic", *[f"omega_{w}" for w in wide.columns[1:]]]
    wide.insert(1, "name", [names.get(str(c), str(c)) for c in wide["characteristic"]])
    return table_output(wide, [
        Column("name", "Characteristic"),
        *[Column(f"omega_{w}", str(w), _f(3)) for w in waves],
    ], data=table[["wave_id", "characteristic", "n_indicators", "omega", "common_variance",
                   "total_variance", "variance", "n_used", "n_total", "reason"]]
        .reset_index(drop=True))


# --- item analysis -------------------------------------------------------------------------


def _items(data: ReportData, wave: str) -> pd.DataFrame:
    items = data.psychometrics.get("item_analysis", pd.DataFrame())
    items = items[items["wave_id"].astype(str) == wave].reset_index(drop=True)
    alpha = programme_reliability(data)
    alpha = alpha[alpha["wave_id"].astype(str) == wave].set_index("characteristic")["alpha"]
    items["scale_alpha"] = items["characteristic"].map(alpha).astype(float)
    version = data.family.version(data.instrument_version(wave))
    reverse = {i.id: i.reverse for i in version.items}
    items["reverse"] = items["item"].map(reverse).fillna(False).astype(bool)
    flags = _item_flags(data)
    flags = flags[flags["wave_id"] == wave]
    items["flags"] = [
        "; ".join(FLAG_NAMES.get(f, f) for f in flags.loc[flags["item"] == str(i), "flag"])
        for i in items["item"]]
    return items


def item_chart(data: ReportData, *, wave: str) -> FigureOutput:
    """One wave's items: corrected item-total correlation (r.drop) and alpha if the item is
    dropped against the scale's alpha; flagged items drawn with a triangle and labelled."""
    items = _items(data, wave)
    names = data.characteristic_names()
    # y positions with a gap between characteristics
    y, pos, bounds = [], 0.0, []
    previous = None
    for char in items["characteristic"]:
        if previous is not None and char != previous:
            pos += 0.8
        if char != previous:
            bounds.append((char, pos))
        y.append(pos)
        pos += 1.0
        previous = char
    y = np.array(y)
    rises = items["flags"].str.contains(FLAG_NAMES["alpha_rises_if_dropped"], regex=False)
    low = items["flags"].str.contains("item-rest", regex=False)
    with figure(9.0, 1.2 + 0.2 * max(pos, 4), ncols=2, sharey=True) as (fig, (ax_r, ax_d)):
        ok = ~low
        ax_r.plot(items.loc[ok, "r_drop"], y[ok], "o", color=COLOURS["focus"], markersize=5,
                  label="Item")
        if low.any():
            ax_r.plot(items.loc[low, "r_drop"], y[low], "v", color=COLOURS["bad"], markersize=8,
                      markeredgecolor=COLOURS["ink"], markeredgewidth=0.6,
                      label="Flagged: low item-rest r")
            for yy, value in zip(y[low], items.loc[low, "r_drop"], strict=True):
                ax_r.annotate("low", (value, yy), xytext=(7, 0), textcoords="offset points",
                              ha="left", va="center", fontsize=8, fontweight="bold",
                              color=COLOURS["ink"])
        ax_r.axvline(0.30, color=COLOURS["ink"], linestyle="--", linewidth=1)
        ax_r.text(0.30, -1.0, " 0.30", fontsize=9, va="bottom")
        ax_r.set_xlim(min(0.0, float(items["r_drop"].min()) - 0.05), 1.0)
        ax_r.set_title("Item-rest correlation (r.drop)", loc="left")
        ax_d.plot(items["scale_alpha"], y, "|", color=COLOURS["ink"], markersize=10,
                  markeredgewidth=1.6, label="Scale alpha (all items)")
        ax_d.hlines(y, items["scale_alpha"], items["alpha_if_dropped"],
                    color=COLOURS["muted"], linewidth=0.8)
        ax_d.plot(items.loc[~rises, "alpha_if_dropped"], y[~rises], "o",
                  color=COLOURS["focus"], markersize=5, label="Alpha without the item")
        if rises.any():
            ax_d.plot(items.loc[rises, "alpha_if_dropped"], y[rises], "^",
                      color=COLOURS["bad"], markersize=8, markeredgecolor=COLOURS["ink"],
                      markeredgewidth=0.6, label="Flagged: alpha rises without the item")
        for yy, value in zip(y[rises], items.loc[rises, "alpha_if_dropped"], strict=True):
            ax_d.annotate("rises", (value, yy), xytext=(6, 0), textcoords="offset points",
                          va="center", fontsize=8, fontweight="bold", color=COLOURS["ink"])
        values = pd.concat([items["alpha_if_dropped"], items["scale_alpha"]]).dropna()
        lo = float(values.min()) if len(values) else 0.6
        ax_d.set_xlim(lo - 0.04, min(1.0, float(values.max()) + 0.04) if len(values) else 1)
        ax_d.set_title("Alpha if the item is dropped", loc="left")
        labels = [f"{i} (R)" if r else str(i) for i, r in
                  zip(items["item"], items["reverse"], strict=True)]
        ax_r.set_yticks(y, labels, fontsize=8)
        ax_r.set_ylim(pos - 0.5, -1.5)
        for ax in (ax_r, ax_d):
            ax.grid(axis="y", visible=False)
            for _, start in bounds[1:]:
                ax.axhline(start - 0.9, color=COLOURS["grid"], linewidth=0.8)
        for char, start in bounds:
            ax_d.text(1.03, start - 0.3, _wrap(names.get(str(char), str(char)), 22), fontsize=8,
                      va="top", color=COLOURS["muted"], transform=ax_d.get_yaxis_transform())
        handles = [h for ax in (ax_r, ax_d) for h in ax.get_legend_handles_labels()[0]]
        labels_ = [t for ax in (ax_r, ax_d) for t in ax.get_legend_handles_labels()[1]]
        keep = [k for k, t in enumerate(labels_) if t != "Item"]
        fig.legend([handles[k] for k in keep], [labels_[k] for k in keep],
                   loc="outside lower center", ncols=len(keep), fontsize=8)
        flagged = items.loc[items["flags"] != "", "item"].astype(str).tolist()
        alt = (f"Two dot charts for the {len(items)} items of wave {wave}: item-rest "
               f"correlations range from {fmt_number(items['r_drop'].min())} to "
               f"{fmt_number(items['r_drop'].max())}"
               + (f"; {len(flagged)} flagged item{'s' if len(flagged) != 1 else ''} "
                  f"({', '.join(flagged)}) marked with a triangle" if flagged else
                  "; no item is flagged") + ".")
        frame = items[["wave_id", "characteristic", "item", "reverse", "n", "mean", "sd",
                       "pct_missing", "r_drop", "alpha_if_dropped", "scale_alpha", "flags"]]
        return figure_output(fig, alt=alt, data=frame)


def item_table(data: ReportData, *, wave: str) -> TableOutput:
    """One wave's item statistics with the flags in words."""
    items = _items(data, wave)
    items["label"] = [f"{i} (R)" if r else str(i) for i, r in
                      zip(items["item"], items["reverse"], strict=True)]
    items["flag_text"] = ["▲ " + f if f else "" for f in items["flags"]]
    return table_output(items, [
        Column("label", "Item"),
        Column("characteristic", "Characteristic"),
        Column("n", "n", fmt_int),
        Column("pct_missing", "Missing", lambda v: fmt_percent(v, 1)),
        Column("mean", "Mean", _f(2)),
        Column("sd", "SD", _f(2)),
        Column("r_drop", "r.drop", _f(2)),
        Column("alpha_if_dropped", "Alpha if dropped", _f(3)),
        Column("scale_alpha", "Scale alpha", _f(3)),
        Column("flag_text", "Flag"),
    ], data=items.drop(columns=["label", "flag_text"]))


def flags_table(data: ReportData) -> TableOutput:
    """Every reliability flag, with a plain sentence on what it means."""
    flags = data.psychometrics.get("flags", pd.DataFrame())
    flags = _in_wave_order(data, flags) if len(flags) else pd.DataFrame(columns=[
        "wave_id", "characteristic", "level", "item", "flag", "value", "threshold", "message"])
    names = data.characteristic_names()
    flags["name"] = [names.get(str(c), str(c)) for c in flags["characteristic"]]
    flags["what"] = [FLAG_NAMES.get(str(f), str(f)) for f in flags["flag"]]
    flags["where"] = [str(i) if _text(i) else "whole scale" for i in flags["item"]]
    flags["meaning"] = [_flag_sentence(r) for r in flags.itertuples(index=False)]
    return table_output(flags, [
        Column("wave_id", "Wave"),
        Column("name", "Characteristic"),
        Column("where", "Item"),
        Column("what", "Flag"),
        Column("meaning", "What it means"),
    ], data=flags[["wave_id", "characteristic", "level", "item", "flag", "value", "threshold",
                   "message"]])


def _flag_sentence(row) -> str:
    item, value, limit = _text(row.item), row.value, row.threshold
    if row.flag == "alpha_rises_if_dropped":
        return (f"Without {item}, alpha would be {fmt_number(value, 3)} instead of "
                f"{fmt_number(limit, 3)} (a rise of {fmt_number(value - limit, 3)}).")
    if row.flag == "low_item_total":
        return (f"{item} correlates {fmt_number(value)} with the rest of its scale, below "
                f"{fmt_number(limit)}: it may measure something else.")
    if row.flag == "negative_item_total":
        return (f"{item} correlates negatively ({fmt_number(value)}) with the rest of its "
                "scale: check its keying.")
    if row.flag == "low_alpha":
        return (f"Alpha is {fmt_number(value, 3)}, below {fmt_number(limit)}: the items may not "
                "be summed into one score with confidence.")
    return _text(row.message)


# --- factor structure and invariance ---------------------------------------------------------


def fit_table(data: ReportData) -> TableOutput:
    """CFA fit per wave and model: chi-square, CFI, TLI, RMSEA with its 90% interval, SRMR,
    respondents used and convergence."""
    fits = data.psychometrics.get("factor_structure", pd.DataFrame())
    fits = _in_wave_order(data, fits) if len(fits) else pd.DataFrame(columns=[
        "wave_id", "model", "n_used", "n_total", "converged", "chi_square", "df", "p_value",
        "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr", "reason"])
    fits["model_name"] = [MODEL_NAMES.get(str(m), str(m)) for m in fits["model"]]
    fits["n_text"] = [_n_of(u, t) for u, t in zip(fits["n_used"], fits["n_total"], strict=True)]
    fits["chi_text"] = [f"{fmt_number(c, 2)} ({fmt_int(d)})" for c, d in
                        zip(fits["chi_square"], fits["df"], strict=True)]
    fits["rmsea_ci"] = [fmt_ci(lo, hi, 3) for lo, hi in
                        zip(fits["rmsea_ci_low"], fits["rmsea_ci_high"], strict=True)]
    fits["status"] = [_text(r) or ("Converged" if c else "Did not converge")
                      for c, r in zip(fits["converged"], fits["reason"], strict=True)]
    return table_output(fits, [
        Column("wave_id", "Wave"),
        Column("model_name", "Model"),
        Column("n_text", "n used", numeric=True),
        Column("chi_text", "χ² (df)", numeric=True),
        Column("p_value", "p", _p, numeric=True),
        Column("cfi", "CFI", _f(3)),
        Column("tli", "TLI", _f(3)),
        Column("rmsea", "RMSEA", _f(3)),
        Column("rmsea_ci", "RMSEA 90% CI", numeric=True),
        Column("srmr", "SRMR", _f(3)),
        Column("status", "Estimation"),
    ], data=fits.drop(columns=["model_name", "n_text", "chi_text", "rmsea_ci", "status"]))


def _item_order(data: ReportData) -> list[str]:
    """Item ids of every version: the first version's order, each later item inserted after
    the item it replaces (a split's parts after the original) or else after the item that
    precedes it in its own version."""
    replaces = {t: e.source for m in data.family.mappings for e in m.entries if e.source
                for t in e.targets if t != e.source}
    char_of = _char_of(data)
    order: list[str] = []
    for version in data.family.versions:
        previous: str | None = None
        for item in version.items:
            if item.id not in order:
                anchor = previous
                if replaces.get(item.id) in order and replaces.get(previous) != replaces[item.id]:
                    anchor = replaces[item.id]
                if anchor in order:
                    at = order.index(anchor) + 1
                else:
                    same = [k for k, i in enumerate(order) if char_of.get(i) == item.characteristic]
                    at = same[0] if same else len(order)
                order.insert(at, item.id)
            previous = item.id
    return order


def _char_of(data: ReportData) -> dict[str, str]:
    return {i.id: i.characteristic for v in data.family.versions for i in v.items}


def _text_colour(rgba: Sequence[float]) -> str:
    """Ink or white, whichever contrasts more with a background colour (WCAG luminance)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgba[:3])
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    ink = 0.0116  # relative luminance of COLOURS["ink"] (#1b1b1b)
    return "white" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / (ink + 0.05)) else COLOURS["ink"]


def loadings_chart(data: ReportData, *, model: str = "eight_factor") -> FigureOutput:
    """Standardised loadings (item x wave) as an annotated heatmap; loadings below 0.50
    carry an asterisk, items not asked in a wave's version show a dash."""
    loads = data.psychometrics.get("loadings", pd.DataFrame())
    loads = loads[loads["model"].astype(str) == model] if len(loads) else loads
    waves = [w for w in data.waves if len(loads) and w in set(loads["wave_id"].astype(str))]
    present = set(loads["item_id"].astype(str)) if len(loads) else set()
    items = [i for i in _item_order(data) if i in present]
    grid = np.full((len(items), len(waves)), np.nan)
    for r in loads.itertuples(index=False):
        if str(r.item_id) in items and str(r.wave_id) in waves:
            grid[items.index(str(r.item_id)), waves.index(str(r.wave_id))] = r.std_loading
    char_of = _char_of(data)
    height = 1.3 + 0.2 * len(items)
    with figure(2.6 + 1.05 * len(waves), height) as (fig, ax):
        shown = np.ma.masked_invalid(grid)
        image = ax.imshow(shown, cmap=SEQUENTIAL, vmin=0.0, vmax=1.0, aspect="auto",
                          interpolation="none")
        ax.set_facecolor(COLOURS["band"])
        for (i, j), value in np.ndenumerate(grid):
            if np.isnan(value):
                text, colour = "–", COLOURS["muted"]
            else:
                text = fmt_number(value, 2) + ("*" if value < LOADING_MIN else "")
                colour = _text_colour(image.cmap(image.norm(value)))
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
        ax.set_xticks(range(len(waves)), [f"{w}\nv{data.instrument_version(w)}" for w in waves],
                      fontsize=8)
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(items)), [f"{i} ({char_of.get(i, '')})" for i in items],
                      fontsize=8)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        previous = None
        for k, item in enumerate(items):
            if previous is not None and char_of.get(item) != previous:
                ax.axhline(k - 0.5, color="white", linewidth=2.5)
            previous = char_of.get(item)
        bar = fig.colorbar(image, ax=ax, shrink=0.4, aspect=25, pad=0.04)
        bar.set_label("Standardised loading", fontsize=8)
        bar.ax.tick_params(labelsize=8)
        values = grid[~np.isnan(grid)]
        weak = sorted({items[i] for i, j in zip(*np.where(grid < LOADING_MIN), strict=True)})
        alt = (f"Heatmap of standardised loadings of {len(items)} items in {len(waves)} "
               f"waves (model: {MODEL_NAMES.get(model, model).lower()})"
               + (f": loadings range from {fmt_number(values.min())} to "
                  f"{fmt_number(values.max())}" if len(values) else ": no loadings")
               + (f"; below {fmt_number(LOADING_MIN)} in at least one wave: {', '.join(weak)}"
                  if weak else "") + ".")
        frame = (loads[["wave_id", "characteristic", "item_id", "std_loading"]]
                 if len(loads) else pd.DataFrame(columns=["wave_id", "characteristic",
                                                          "item_id", "std_loading"]))
        return figure_output(fig, alt=alt, data=frame)


def invariance_table(data: ReportData) -> TableOutput:
    """Configural, metric and scalar models across waves: fit, differences from the less
    constrained model (chi-square, CFI, RMSEA) and whether each level is supported."""
    table = data.psychometrics.get("invariance", pd.DataFrame()).copy()
    if not len(table):
        table = pd.DataFrame(columns=[
            "level", "chi_square", "df", "cfi", "tli", "rmsea", "rmsea_ci_low",
            "rmsea_ci_high", "srmr", "delta_chi_square", "delta_df", "delta_p_value",
            "delta_cfi", "delta_rmsea", "supported", "verdict", "converged", "reason"])
    table["level_name"] = table["level"].astype(str).str.capitalize()
    table["chi_text"] = [f"{fmt_number(c, 2)} ({fmt_int(d)})" for c, d in
                         zip(table["chi_square"], table["df"], strict=True)]
    table["rmsea_text"] = [f"{fmt_number(r, 3)} ({fmt_ci(lo, hi, 3)})" for r, lo, hi in
                           zip(table["rmsea"], table["rmsea_ci_low"], table["rmsea_ci_high"],
                               strict=True)]
    table["delta_text"] = ["–" if not np.isfinite(c) else f"{fmt_number(c, 2)} ({fmt_int(d)})"
                           for c, d in zip(table["delta_chi_square"].astype(float),
                                           table["delta_df"], strict=True)]
    table["supported_text"] = [_yes(s) for s in table["supported"]]
    return table_output(table, [
        Column("level_name", "Model"),
        Column("chi_text", "χ² (df)", numeric=True),
        Column("cfi", "CFI", _f(3)),
        Column("tli", "TLI", _f(3)),
        Column("rmsea_text", "RMSEA (90% CI)", numeric=True),
        Column("srmr", "SRMR", _f(3)),
        Column("delta_text", "Δχ² (Δdf)", numeric=True),
        Column("delta_p_value", "p (Δ)", _p, numeric=True),
        Column("delta_cfi", "ΔCFI", lambda v: fmt_number(v, 3, sign=True)),
        Column("delta_rmsea", "ΔRMSEA", lambda v: fmt_number(v, 3, sign=True)),
        Column("supported_text", "Supported"),
    ], data=table.drop(columns=["level_name", "chi_text", "rmsea_text", "delta_text",
                                "supported_text"]))


# --- aggregation ---------------------------------------------------------------------------


def verdict_headline(verdict: object) -> str:
    """The first sentence of an aggregation verdict ("Justified", "Use with caution", ...)."""
    text = _text(verdict).strip()
    return text.split(".", 1)[0] if text else "–"


def aggregation_chart(data: ReportData) -> FigureOutput:
    """ICC(1), ICC(2) and median rwg(J) per characteristic and wave, with the 0.70
    conventions for ICC(2) and rwg(J)."""
    table = data.psychometrics.get("aggregation", pd.DataFrame())
    table = _in_wave_order(data, table)
    names = data.characteristic_names()
    waves = [w for w in data.waves if w in set(table["wave_id"].astype(str))]
    chars = [c for c in names if c in set(table["characteristic"].astype(str))]
    step = 0.7 / max(len(waves), 1)
    panels = (("icc1", "ICC(1)", None), ("icc2", "ICC(2)", ALPHA_MIN),
              ("median_rwg_j", "Median rwg(J)", ALPHA_MIN))
    with figure(9.5, 1.6 + 0.5 * len(chars), ncols=3, sharey=True) as (fig, axes):
        for k, wave in enumerate(waves):
            colour, marker = _style(k)
            sub = table[table["wave_id"].astype(str) == wave].set_index("characteristic")
            present = [c for c in chars if c in sub.index]
            y = np.array([chars.index(c) for c in present]) + (k - (len(waves) - 1) / 2) * step
            for ax, (column, _, _) in zip(axes, panels, strict=True):
                ax.plot(sub.loc[present, column], y, linestyle="none", marker=marker,
                        color=colour, markeredgecolor=COLOURS["ink"], markeredgewidth=0.5,
                        markersize=6, label=f"{wave} (v{data.instrument_version(wave)})")
        for ax, (column, title, line) in zip(axes, panels, strict=True):
            ax.set_title(title, loc="left")
            ax.grid(axis="y", visible=False)
            values = table[column].dropna()
            if line is not None:
                _reference(ax, line, fmt_number(line))
                low = min(line - 0.1, float(values.min()) - 0.03) if len(values) else 0.0
                ax.set_xlim(low, 1.0)
            else:
                ax.axvline(0, color=COLOURS["ink"], linewidth=0.8)
                top = max(float(values.max()) + 0.03, 0.1) if len(values) else 0.3
                ax.set_xlim(min(0.0, float(values.min()) - 0.02) if len(values) else 0, top)
        axes[0].set_yticks(range(len(chars)), [_wrap(names[c]) for c in chars])
        axes[0].set_ylim(len(chars) - 0.5, -1.0)
        _wave_legend(fig, axes[0], len(waves))
        heads = [verdict_headline(v) for v in table["verdict"]]
        justified = sum(h == "Justified" for h in heads)
        alt = (f"Dot charts of ICC(1), ICC(2) and median rwg(J) for {len(chars)} "
               f"characteristics in {len(waves)} waves. ICC(1) ranges from "
               f"{fmt_number(table['icc1'].min(), 3)} to {fmt_number(table['icc1'].max(), 3)}, "
               f"ICC(2) from {fmt_number(table['icc2'].min())} to "
               f"{fmt_number(table['icc2'].max())}, median rwg(J) from "
               f"{fmt_number(table['median_rwg_j'].min())} to "
               f"{fmt_number(table['median_rwg_j'].max())}; aggregation is justified in "
               f"{justified} of {len(table)} wave and characteristic cells.")
        frame = table[["wave_id", "characteristic", "icc1", "icc2", "f", "p_value",
                       "median_rwg_j", "mean_rwg_j", "n_groups", "n_used", "verdict"]]
        return figure_output(fig, alt=alt, data=frame)


def aggregation_table(data: ReportData) -> TableOutput:
    """ICC(1) with its F test, ICC(2), median rwg(J) and the verdict per wave and
    characteristic."""
    table = _in_wave_order(data, data.psychometrics.get("aggregation", pd.DataFrame()))
    names = data.characteristic_names()
    table["name"] = [names.get(str(c), str(c)) for c in table["characteristic"]]
    table["f_text"] = [f"{fmt_number(f, 2)} ({fmt_int(a)}, {fmt_int(b)})" for f, a, b in
                       zip(table["f"], table["df_between"], table["df_within"], strict=True)]
    table["headline"] = [verdict_headline(v) for v in table["verdict"]]
    return table_output(table, [
        Column("wave_id", "Wave"),
        Column("name", "Characteristic"),
        Column("icc1", "ICC(1)", _f(3)),
        Column("f_text", "F (df)", numeric=True),
        Column("p_value", "p", _p, numeric=True),
        Column("icc2", "ICC(2)", _f(3)),
        Column("median_rwg_j", "Median rwg(J)", _f(3)),
        Column("n_groups", "Groups", fmt_int),
        Column("n_used", "n used", fmt_int),
        Column("headline", "Verdict"),
    ], data=table.drop(columns=["name", "f_text", "headline"]))


# --- data quality and instrument versions ----------------------------------------------------


def ingest_table(data: ReportData) -> TableOutput:
    """Rows read, accepted and quarantined per ingested export."""
    frame = data.sources
    if not len(frame):
        frame = pd.DataFrame({c: [] for c in (
            "wave_id", "source_name", "format", "instrument_version", "rows_read",
            "rows_accepted", "rows_quarantined")})
    frame = _in_wave_order(data, frame)
    frame["format_name"] = [FORMAT_NAMES.get(str(f), str(f)) for f in frame["format"]]
    read = frame["rows_read"].astype(float)
    frame["share"] = np.where(read > 0, frame["rows_quarantined"].astype(float) / read.where(
        read > 0, 1.0), np.nan)
    return table_output(frame, [
        Column("source_name", "File"),
        Column("wave_id", "Wave"),
        Column("format_name", "Format"),
        Column("instrument_version", "Version"),
        Column("rows_read", "Rows read", fmt_int, numeric=True),
        Column("rows_accepted", "Accepted", fmt_int, numeric=True),
        Column("rows_quarantined", "Quarantined", fmt_int, numeric=True),
        Column("share", "Share quarantined", lambda v: fmt_percent(v, 1), numeric=True),
    ], data=frame[["wave_id", "source_name", "format", "instrument_version", "rows_read",
                   "rows_accepted", "rows_quarantined", "share"]])


def quarantine_reasons(data: ReportData) -> pd.DataFrame:
    """Quarantined rows summed by reason (largest first), with the files affected."""
    q = data.quarantine
    if not len(q):
        return pd.DataFrame(columns=["reason", "rows", "n_sources", "sources"])
    grouped = q.groupby("reason", sort=False, observed=True)
    out = pd.DataFrame({
        "rows": grouped["rows"].sum(),
        "n_sources": grouped["source_name"].nunique(),
        "sources": grouped["source_name"].agg(lambda s: "; ".join(dict.fromkeys(map(str, s)))),
    }).reset_index()
    out["reason"] = out["reason"].astype(str)
    return out.sort_values(["rows", "reason"], ascending=[False, True]).reset_index(drop=True)


def quarantine_table(data: ReportData) -> TableOutput:
    """Quarantined rows by reason, over all exports, with the files they came from."""
    frame = quarantine_reasons(data)
    read = float(data.sources["rows_read"].sum()) if len(data.sources) else np.nan
    frame["share"] = frame["rows"].astype(float) / read if read and read > 0 else np.nan
    frame["reason_name"] = [QUARANTINE_NAMES.get(r, r) for r in frame["reason"]]
    return table_output(frame, [
        Column("reason_name", "Reason"),
        Column("reason", "Code"),
        Column("rows", "Rows quarantined", fmt_int, numeric=True),
        Column("share", "Share of rows read", lambda v: fmt_percent(v, 1), numeric=True),
        Column("sources", "Files"),
    ], data=frame.drop(columns=["reason_name"]))


def versions_table(data: ReportData) -> TableOutput:
    """Each wave with its instrument version, release date, rated items and respondents."""
    rel = programme_reliability(data)
    respondents = (rel.groupby("wave_id", observed=True)["n_total"].max()
                   if len(rel) else pd.Series(dtype=float))
    rows = []
    for wave in data.programme.waves:
        version = data.family.version(wave.instrument_version)
        rows.append({"wave_id": wave.id, "instrument_version": version.version,
                     "title": version.title, "released": str(version.released),
                     "n_items": len(version.items),
                     "respondents": respondents.get(wave.id, np.nan)})
    frame = pd.DataFrame(rows)
    return table_output(frame, [
        Column("wave_id", "Wave"),
        Column("instrument_version", "Instrument version"),
        Column("title", "Title"),
        Column("released", "Released"),
        Column("n_items", "Rated items", fmt_int, numeric=True),
        Column("respondents", "Respondents", fmt_int, numeric=True),
    ])


def used_versions(data: ReportData) -> list[str]:
    """The instrument versions the programme's waves used, in release order."""
    used = {w.instrument_version for w in data.programme.waves}
    return [v for v in data.family.version_ids if v in used]


def cross_wave_chains(data: ReportData) -> dict[str, dict[str, str]]:
    """``{anchor item: {version: item id}}`` for the items comparable across every version
    from the first to the last the programme used (every version between them included)."""
    used = used_versions(data)
    ids = list(data.family.version_ids)
    span = ids[ids.index(used[0]): ids.index(used[-1]) + 1] if used else []
    return data.family.comparable_items(*span) if span else {}


def mapping_table(data: ReportData, *, from_version: str, to_version: str) -> TableOutput:
    """The item mapping between two consecutive versions: relation, comparability, note,
    and whether the item enters comparisons across the programme's waves."""
    mapping = next(m for m in data.family.mappings
                   if m.from_version == from_version and m.to_version == to_version)
    chains = cross_wave_chains(data)
    used = {chain.get(from_version) for chain in chains.values()}
    old, new = data.family.version(from_version), data.family.version(to_version)
    char_of = {i.id: i.characteristic for i in (*old.items, *new.items)}
    rows = []
    for e in mapping.entries:
        any_id = e.source or (e.targets[0] if e.targets else "")
        rows.append({
            "characteristic": char_of.get(any_id, ""),
            "from_item": e.source or "–",
            "to_items": ", ".join(e.targets) if e.targets else "–",
            "relation": e.relation,
            "relation_name": RELATION_NAMES.get(e.relation, e.relation),
            "comparable": e.comparable,
            "cross_wave": bool(e.source and e.comparable and e.source in used),
            "note": e.note,
        })
    frame = pd.DataFrame(rows)
    return table_output(frame, [
        Column("from_item", f"Item in {from_version}"),
        Column("to_items", f"Item(s) in {to_version}"),
        Column("characteristic", "Characteristic"),
        Column("relation_name", "Relation"),
        Column("comparable", "Comparable", _yes, numeric=False),
        Column("cross_wave", "Used across waves", _yes, numeric=False),
        Column("note", "Note"),
    ], data=frame.drop(columns=["relation_name"]))
