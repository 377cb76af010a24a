"""Figures and tables of the collaboration benchmark report.

Every public output function takes the report data first and keyword arguments with plain
literal values (the notebook's code cell shows the call, e.g.
``collaboration.peers_figure(data, collaboration='x', wave='2026-09')``) and returns a
:class:`~reports.notebook.FigureOutput` or :class:`~reports.notebook.TableOutput`.

Suppression: the benchmark tables arrive with figures based on fewer than the disclosure
threshold of respondents already set to NaN and ``suppressed == True``. Here such figures are
never drawn and never written as numbers: tables say "fewer than N responses", figures leave
them out and say so in the picture and in their alternative text. Response counts below the
threshold are hidden the same way.

The ``*_frame`` helpers gather one collaboration's rows in framework order; the report builder
(:mod:`reports.collaboration_report`) uses them for its sentences so that text, figures and
tables always agree.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from functools import lru_cache, wraps
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..data import ReportData
from ..notebook import FigureOutput, TableOutput
from ..style import COLOURS, LIKERT, MARKERS, figure, figure_output
from ..tables import Column, table_output
from ..text import fmt_ci, fmt_int, fmt_number, fmt_percent, html_escape, suppressed_text

__all__ = [
    "CHANGE_WORDS",
    "COMPARISON_WORDS",
    "SECONDARY",
    "TREND_WORDS",
    "breakdown_frame",
    "breakdown_table",
    "hidden_groups",
    "change_frame",
    "change_table",
    "characteristic_frame",
    "items_figure",
    "items_frame",
    "items_table",
    "network_figure",
    "network_frame",
    "network_table",
    "option_labels",
    "parse_ids",
    "peers_figure",
    "peers_table",
    "profile_figure",
    "response_frame",
    "response_status",
    "response_table",
    "rows_for",
    "shown_groups",
    "trend_figure",
    "trend_frame",
    "trend_table",
    "trend_table_frame",
    "value_modes_figure",
    "value_modes_frame",
    "value_modes_table",
]

SCALE = "mean score from 1 (strongly disagree) to 5 (strongly agree)"
CHANGE_WORDS = {"significantly improved": "Improved", "significantly declined": "Declined",
                "no significant change": "No clear change", "not tested": "Not tested"}
TREND_WORDS = {"significantly improving": "Improving", "significantly declining": "Declining",
               "no significant trend": "No clear trend", "not tested": "Not tested"}
COMPARISON_WORDS = {"above": "Higher than peers", "in line": "In line with peers",
                    "below": "Lower than peers"}
SECONDARY = "not shown, to protect a smaller group"
_PEER_COLUMNS = ("peer_n", "peer_worst", "peer_lower_quartile", "peer_median",
                 "peer_upper_quartile", "peer_best", "comparison")


# -- selecting rows ------------------------------------------------------------------------------

def rows_for(data: ReportData, table: str, collaboration: str, wave: str | None = None, *,
             group: str = "benchmark") -> pd.DataFrame:
    """One collaboration's rows of a benchmark (or, with ``group="psychometrics"``,
    psychometric) table, optionally of one wave, as a copy with ``collaboration_id``,
    ``wave_id`` and ``characteristic`` as plain text; empty when the table is absent."""
    positions = _positions(data, group, table).get(collaboration)
    if positions is None:
        return pd.DataFrame()
    rows = getattr(data, group)[table].iloc[positions]
    if wave is not None and "wave_id" in rows.columns:
        rows = rows[np.asarray(rows["wave_id"].astype(str) == wave, dtype=bool)]
    rows = rows.copy()
    for key in ("collaboration_id", "wave_id", "characteristic"):
        if key in rows.columns:
            rows[key] = rows[key].astype(str)
    return rows.reset_index(drop=True)


@lru_cache(maxsize=64)
def _positions(data: ReportData, group: str, table: str) -> dict[str, np.ndarray]:
    """Row positions of each collaboration in a table (computed once per table, so that
    building a report for each of many collaborations does not rescan the tables)."""
    frame = getattr(data, group).get(table)
    if frame is None or not len(frame) or "collaboration_id" not in frame.columns:
        return {}
    keys = frame["collaboration_id"].astype(str).to_numpy()
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    bounds = np.r_[starts, len(ordered)]
    return {str(ordered[a]): order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)}


def _memo(function: Any) -> Any:
    """Remember a frame helper's recent results and hand out copies.

    A report asks for the same frame for a figure, its table and the sentences around them;
    computing it once saves most of the pandas work. Keys are the arguments as given
    (:class:`ReportData` hashes by identity); callers may change the copies they get.
    """
    cached = lru_cache(maxsize=32)(function)

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = cached(*args, **kwargs)
        if isinstance(result, pd.DataFrame):
            return result.copy()
        return {k: (v.copy() if isinstance(v, (pd.DataFrame, dict)) else v)
                for k, v in result.items()}

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper


def _hidden(rows: pd.DataFrame) -> np.ndarray:
    if "suppressed" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    return rows["suppressed"].fillna(False).astype(bool).to_numpy()


def _secondary(rows: pd.DataFrame) -> np.ndarray:
    """Rows hidden by secondary suppression (to stop a hidden figure being worked out)."""
    if "count_band" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    return (rows["count_band"].astype("string").fillna("") == "suppressed").to_numpy()


def parse_ids(value: Any) -> list[str]:
    """Ids from a tuple column (in memory) or its text form in Parquet (``"a; b"``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        return [p.strip().strip("'\"") for p in text.replace(",", ";").split(";")
                if p.strip().strip("'\"")]
    return [str(v) for v in value]


def _plain(text: Any) -> str:
    """Text for a matplotlib label: ``$`` would start mathtext."""
    return str(text).replace("$", r"\$")


def _wrap(text: str, width: int) -> str:
    return _plain(textwrap.fill(str(text), width))


def _wave_labels(data: ReportData) -> dict[str, str]:
    return {w.id: w.label for w in data.programme.waves}


def option_labels(data: ReportData, wave: str, question: str) -> dict[str, str]:
    instrument = data.family.version(data.instrument_version(wave))
    return {o.id: o.label for o in instrument.profile[question].options}


def _mode_names(data: ReportData) -> dict[str, str]:
    return {m.id: m.name for m in data.family.framework.value_modes}


# -- responses -----------------------------------------------------------------------------------

def response_status(data: ReportData, collaboration: str, wave: str) -> str:
    """``"shown"`` (figures shown for at least one characteristic), ``"suppressed"`` (fewer
    respondents than the threshold) or ``"none"`` (no respondents in the wave)."""
    rows = rows_for(data, "summaries", collaboration, wave)
    if not len(rows):
        return "none"
    return "suppressed" if _hidden(rows).all() else "shown"


@_memo
def response_frame(data: ReportData, collaboration: str, wave: str | None = None) -> pd.DataFrame:
    """Invited, responded and response rate per wave (programme order, up to ``wave``);
    ``suppressed`` where fewer than the threshold responded (their count and rate are then
    NaN). A wave with results for the programme but none for this collaboration shows 0
    responses."""
    rows = rows_for(data, "response_rates", collaboration)
    invited = data.collaboration(collaboration).invited
    present = _present_waves(data)
    waves = data.programme.waves
    if wave is not None:
        waves = waves[: data.waves.index(wave) + 1]
    records = []
    for w in waves:
        match = rows[rows["wave_id"] == w.id] if len(rows) else rows
        if not len(match) and w.id not in present:
            continue
        n = float(match["n"].iloc[0]) if len(match) else 0.0
        inv = float(match["invited"].iloc[0]) if len(match) else float(invited.get(w.id, np.nan))
        rate = float(match["response_rate"].iloc[0]) if len(match) else (
            0.0 if inv > 0 else np.nan)
        flagged = bool(match["suppressed"].iloc[0]) if len(match) and "suppressed" in match else False
        hide = flagged or 0 < n < data.threshold
        records.append({"wave_id": w.id, "wave": w.label, "invited": inv,
                        "responded": np.nan if hide else n,
                        "response_rate": np.nan if hide else rate,
                        "suppressed": hide,
                        "suppressed_reason": suppressed_text(data.threshold) if hide else ""})
    return pd.DataFrame(records, columns=["wave_id", "wave", "invited", "responded",
                                          "response_rate", "suppressed", "suppressed_reason"])


@lru_cache(maxsize=8)
def _present_waves(data: ReportData) -> frozenset[str]:
    """Waves with results in the summaries table."""
    return frozenset(data.benchmark["summaries"]["wave_id"].astype(str))


def response_table(data: ReportData, *, collaboration: str,
                   wave: str | None = None) -> TableOutput:
    """People invited and responding in each wave (up to ``wave``), and the response rate."""
    frame = response_frame(data, collaboration, wave)
    return table_output(frame, [
        Column("wave", "Wave", keep_when_suppressed=True),
        Column("invited", "Invited", lambda v: fmt_int(v, missing="not known"), numeric=True,
               keep_when_suppressed=True),
        Column("responded", "Responded", fmt_int, numeric=True),
        Column("response_rate", "Response rate", fmt_percent, numeric=True),
    ], threshold=data.threshold)


# -- the eight characteristics against peers -----------------------------------------------------

@_memo
def characteristic_frame(data: ReportData, collaboration: str, wave: str,
                         peer_set: str = "all") -> pd.DataFrame:
    """One row per characteristic (framework order): the collaboration's summary (n, mean,
    CI, band, suppressed), its peer distribution and comparison for ``peer_set``, and its
    profile against the peer median (``deviation``, ``d``, ``label``)."""
    names = data.characteristic_names()
    frame = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    summary = rows_for(data, "summaries", collaboration, wave)
    keep = ["characteristic", "n", "mean", "sd", "ci_low", "ci_high", "band", "suppressed",
            "suppressed_reason"]
    if len(summary):
        frame = frame.merge(summary[[c for c in keep if c in summary.columns]],
                            on="characteristic", how="left")
    else:
        frame = frame.assign(n=np.nan, mean=np.nan, sd=np.nan, ci_low=np.nan, ci_high=np.nan,
                             band=None, suppressed=True, suppressed_reason="no responses")
    frame["suppressed"] = frame["suppressed"].fillna(True).astype(bool)
    peers = rows_for(data, "peers", collaboration, wave)
    if len(peers):
        peers = peers[peers["peer_set"] == peer_set]
        peers = peers[["characteristic", "peer_key", *_PEER_COLUMNS]].assign(
            comparison=lambda p: p["comparison"].astype("string").astype(object))
    else:
        peers = pd.DataFrame(columns=["characteristic", "peer_key", *_PEER_COLUMNS])
    frame = frame.merge(peers, on="characteristic", how="left")
    prof = rows_for(data, "profile", collaboration, wave)
    if len(prof):
        prof = prof[(prof["reference"] == "peer_median") & (prof["peer_set"] == peer_set)]
        prof = prof[["characteristic", "deviation", "d", "label"]]
    else:
        prof = pd.DataFrame(columns=["characteristic", "deviation", "d", "label"])
    frame = frame.merge(prof, on="characteristic", how="left")
    frame["label"] = frame["label"].fillna("").astype(str)
    for column in ("n", "mean", "sd", "ci_low", "ci_high", "peer_n", "peer_worst",
                   "peer_lower_quartile", "peer_median", "peer_upper_quartile", "peer_best",
                   "deviation", "d"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    # Belt and braces: nothing of a suppressed characteristic survives.
    hidden = frame["suppressed"].to_numpy()
    frame.loc[hidden, ["n", "mean", "sd", "ci_low", "ci_high", "deviation", "d"]] = np.nan
    frame.loc[hidden, "label"] = ""
    return frame


def peers_figure(data: ReportData, *, collaboration: str, wave: str,
                 peer_set: str = "all") -> FigureOutput:
    """Dot plot: the collaboration's mean and 95% CI per characteristic against the peers'
    median, interquartile range and lowest and highest means."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    n_rows = len(frame)
    y = np.arange(n_rows)[::-1].astype(float)
    shown = ~frame["suppressed"].to_numpy() & frame["mean"].notna().to_numpy()
    has_peers = frame["peer_median"].notna().to_numpy()
    with figure(7.4, 0.52 * n_rows + 1.5) as (fig, ax):
        ax.set_axisbelow(True)
        p = frame[has_peers]
        yp = y[has_peers] + 0.1
        ax.hlines(yp, p["peer_worst"], p["peer_best"], color=COLOURS["neutral"], lw=1, zorder=1)
        ax.scatter(np.r_[p["peer_worst"], p["peer_best"]], np.r_[yp, yp], marker="|", s=80,
                   color=COLOURS["muted"], lw=1.2, zorder=2)
        ax.barh(yp, p["peer_upper_quartile"] - p["peer_lower_quartile"],
                left=p["peer_lower_quartile"], height=0.34, color=COLOURS["band"],
                edgecolor=COLOURS["muted"], lw=0.6, zorder=2)
        ax.scatter(p["peer_median"], yp, marker=MARKERS["peer"], s=42, color=COLOURS["peer"],
                   edgecolors=COLOURS["ink"], linewidths=0.6, zorder=3)
        s = frame[shown]
        ys = y[shown] - 0.2
        ax.hlines(ys, s["ci_low"], s["ci_high"], color=COLOURS["focus"], lw=2.2, zorder=4)
        ax.scatter(s["mean"], ys, marker=MARKERS["focus"], s=48, color=COLOURS["focus"],
                   edgecolors="white", linewidths=0.6, zorder=5)
        values = np.r_[s["ci_low"], s["ci_high"], p["peer_worst"], p["peer_best"]]
        low, high = _range(values, 1.0, 5.0)
        ax.set_xlim(low, high)
        trans = ax.get_yaxis_transform()
        for yi, row in zip(y, frame.itertuples(), strict=True):
            if row.suppressed or np.isnan(row.mean):
                ax.text((low + high) / 2, yi, suppressed_text(data.threshold), ha="center",
                        va="center", color=COLOURS["muted"], fontsize=9, style="italic")
                continue
            words = COMPARISON_WORDS.get(row.comparison, "") if isinstance(row.comparison,
                                                                            str) else ""
            ax.text(1.02, yi, f"{fmt_number(row.mean)}\n{words.lower()}", transform=trans,
                    va="center", ha="left", fontsize=8.5, color=COLOURS["ink"], clip_on=False)
        ax.set_yticks(y, [_wrap(n, 30) for n in frame["name"]], fontsize=9)
        ax.set_ylim(-0.7, n_rows - 0.4)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(SCALE[0].upper() + SCALE[1:])
        ax.tick_params(axis="y", length=0)
        _legend(fig, _peer_legend(), 2)
        _fixed_layout(fig, left=2.45, right=1.3, top=0.1, bottom=1.05)
        alt = _peers_alt(frame, data.threshold)
        data_frame = frame[["characteristic", "name", "n", "mean", "ci_low", "ci_high",
                            "peer_n", "peer_worst", "peer_lower_quartile", "peer_median",
                            "peer_upper_quartile", "peer_best", "comparison", "suppressed"]]
        return figure_output(fig, alt=alt, data=data_frame)


def _range(values: np.ndarray, floor: float, ceiling: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return floor, ceiling
    low, high = float(values.min()), float(values.max())
    pad = max(0.15, 0.08 * (high - low))
    return max(floor, np.floor((low - pad) * 4) / 4), min(ceiling, np.ceil((high + pad) * 4) / 4)


def _fixed_layout(fig: Any, *, left: float, right: float, top: float, bottom: float) -> None:
    """Fixed margins in inches instead of constrained layout, which measures every text once
    more and about doubles the time to draw a figure; the label widths are known here (names
    are wrapped to a fixed number of characters)."""
    width, height = fig.get_size_inches()
    fig.set_layout_engine(None)  # no engine: one draw instead of two
    for ax in fig.axes:
        ax.set_position([left / width, bottom / height, 1 - (left + right) / width,
                         1 - (top + bottom) / height])


def _legend(fig: Any, handles: list[Any], ncols: int, fontsize: float = 8.5) -> None:
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=ncols,
               fontsize=fontsize)


def _peer_legend() -> list[Any]:
    return [
        Line2D([], [], color=COLOURS["focus"], marker=MARKERS["focus"], lw=2.2, markersize=7,
               markeredgecolor="white", label="This collaboration: mean and 95% CI"),
        Line2D([], [], color="none", marker=MARKERS["peer"], markersize=7,
               markerfacecolor=COLOURS["peer"], markeredgecolor=COLOURS["ink"],
               label="Peer median"),
        Patch(facecolor=COLOURS["band"], edgecolor=COLOURS["muted"],
              label="Middle half of peers (interquartile range)"),
        Line2D([], [], color=COLOURS["neutral"], marker="|", markersize=9,
               markeredgecolor=COLOURS["muted"], label="Lowest and highest peer"),
    ]


def _peers_alt(frame: pd.DataFrame, threshold: int) -> str:
    base = ("Dot plot of the eight characteristics, one row each: this collaboration's mean "
            "score (1 to 5) with its 95% confidence interval, beside the peer median, the middle "
            "half of peers and the lowest and highest peer.")
    shown = frame[~frame["suppressed"] & frame["mean"].notna()]
    if not len(shown):
        return base + f" This collaboration's scores are not shown: {suppressed_text(threshold)}."
    top = shown.loc[shown["mean"].idxmax()]
    bottom = shown.loc[shown["mean"].idxmin()]
    text = (f" Highest score: {top['name']} ({fmt_number(top['mean'])}); lowest: "
            f"{bottom['name']} ({fmt_number(bottom['mean'])}).")
    for key, words in (("above", "Higher than peers on"), ("below", "Lower than peers on")):
        names = shown.loc[shown["comparison"] == key, "name"].tolist()
        if names:
            text += f" {words}: {'; '.join(names)}."
    if not (shown["comparison"].isin(["above", "below"])).any():
        text += " In line with peers on every characteristic shown."
    if len(shown) < len(frame):
        text += f" Not shown ({suppressed_text(threshold)}): " + "; ".join(
            frame.loc[frame["suppressed"], "name"]) + "."
    return base + text


def peers_table(data: ReportData, *, collaboration: str, wave: str,
                peer_set: str = "all") -> TableOutput:
    """The numbers of the dot plot: mean, CI and responses per characteristic, and the peer
    median, middle half and range."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    frame["ci"] = [fmt_ci(a, b) for a, b in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    frame["iqr"] = [fmt_ci(a, b) for a, b in zip(frame["peer_lower_quartile"],
                                                 frame["peer_upper_quartile"], strict=True)]
    frame["range"] = [fmt_ci(a, b) for a, b in zip(frame["peer_worst"], frame["peer_best"],
                                                   strict=True)]
    frame["compared"] = [COMPARISON_WORDS.get(c, "–") if isinstance(c, str) else "–"
                         for c in frame["comparison"]]
    download = frame[["characteristic", "name", "n", "mean", "ci_low", "ci_high", "peer_n",
                      "peer_median", "peer_lower_quartile", "peer_upper_quartile", "peer_worst",
                      "peer_best", "comparison", "suppressed", "suppressed_reason"]]
    return table_output(frame, [
        Column("name", "Characteristic", keep_when_suppressed=True),
        Column("n", "Responses", fmt_int, numeric=True),
        Column("mean", "Mean", fmt_number, numeric=True),
        Column("ci", "95% CI", numeric=True),
        Column("peer_median", "Peer median", fmt_number, numeric=True,
               keep_when_suppressed=True),
        Column("iqr", "Middle half of peers", numeric=True, keep_when_suppressed=True),
        Column("range", "Lowest to highest peer", numeric=True, keep_when_suppressed=True),
        Column("compared", "Compared with peers"),
    ], threshold=data.threshold, data=download)


# -- profile -------------------------------------------------------------------------------------

def profile_figure(data: ReportData, *, collaboration: str, wave: str,
                   peer_set: str = "all") -> FigureOutput:
    """Bars of the standardised difference ``d`` from the peer median per characteristic,
    strengths and areas to develop marked by colour, hatching and words."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    n_rows = len(frame)
    y = np.arange(n_rows)[::-1].astype(float)
    d = frame["d"].to_numpy(dtype=float)
    style = {"strength": (COLOURS["good"], "///", MARKERS["good"]),
             "area to develop": (COLOURS["bad"], "\\\\\\", MARKERS["bad"]),
             "": (COLOURS["grid"], "", MARKERS["neutral"])}
    with figure(7.4, 0.48 * n_rows + 1.3) as (fig, ax):
        ax.set_axisbelow(True)
        limit = max(0.45, float(np.nanmax(np.abs(d))) + 0.1) if np.isfinite(d).any() else 0.45
        ax.axvspan(-0.2, 0.2, color=COLOURS["band"], zorder=0, lw=0)
        ax.axvline(0, color=COLOURS["ink"], lw=0.8, zorder=1)
        for yi, row in zip(y, frame.itertuples(), strict=True):
            if row.suppressed or np.isnan(row.d):
                ax.text(0, yi, suppressed_text(data.threshold) if row.suppressed
                        else "no peer comparison", ha="center", va="center", fontsize=9,
                        color=COLOURS["muted"], style="italic")
                continue
            colour, hatch, _ = style.get(row.label, style[""])
            ax.barh(yi, row.d, height=0.6, color=colour, hatch=hatch,
                    edgecolor=COLOURS["ink"] if row.label else COLOURS["muted"], lw=0.6,
                    zorder=2)
            words = f"{fmt_number(row.d, sign=True)}" + (f"  {row.label}" if row.label else "")
            pad = 0.03 * limit
            ax.text(row.d + (pad if row.d >= 0 else -pad), yi, words,
                    ha="left" if row.d >= 0 else "right", va="center", fontsize=8.5,
                    color=COLOURS["ink"], zorder=3)
        limit += 0.75  # room for the value and label at the end of the longest bar
        ax.set_xlim(-limit, limit)
        ax.set_yticks(y, [_wrap(n, 30) for n in frame["name"]], fontsize=9)
        ax.set_ylim(-0.7, n_rows - 0.3)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("Difference from the peer median, in standard deviations\n"
                      "(shaded: less than 0.2 either way, smaller than a small difference)",
                      fontsize=9)
        ax.text(-limit + 0.05, n_rows - 0.45, "\u2190 lower than peers", ha="left",
                va="bottom", fontsize=8, color=COLOURS["muted"])
        ax.text(limit - 0.05, n_rows - 0.45, "higher than peers \u2192", ha="right",
                va="bottom", fontsize=8, color=COLOURS["muted"])
        _legend(fig, [
            Patch(facecolor=COLOURS["good"], hatch="///", edgecolor=COLOURS["ink"],
                  label="Strength relative to peers"),
            Patch(facecolor=COLOURS["bad"], hatch="\\\\\\", edgecolor=COLOURS["ink"],
                  label="Area to develop relative to peers"),
            Patch(facecolor=COLOURS["grid"], edgecolor=COLOURS["muted"], label="Not labelled"),
        ], 3)
        _fixed_layout(fig, left=2.45, right=0.15, top=0.1, bottom=0.95)
        alt = _profile_alt(frame, data.threshold)
        return figure_output(fig, alt=alt, data=frame[["characteristic", "name", "mean",
                                                       "peer_median", "deviation", "d",
                                                       "label", "suppressed"]])


def _profile_alt(frame: pd.DataFrame, threshold: int) -> str:
    base = ("Bar chart of how far each characteristic's mean lies above or below the peer "
            "median, in standard deviations.")
    if frame["d"].isna().all():
        return base + f" Not shown for this collaboration: {suppressed_text(threshold)}."
    parts = []
    for label, words in (("strength", "Strengths relative to peers"),
                         ("area to develop", "Areas to develop relative to peers")):
        rows = frame[frame["label"] == label]
        if len(rows):
            parts.append(f"{words}: " + "; ".join(
                f"{r.name} ({fmt_number(r.d, sign=True)})" for r in rows.itertuples()) + ".")
    if not parts:
        parts.append("No characteristic differs from the peer median by 0.2 standard "
                     "deviations or more among the two highest and two lowest.")
    return base + " " + " ".join(parts)


# -- change over time ----------------------------------------------------------------------------

@_memo
def change_frame(data: ReportData, collaboration: str, wave: str,
                 comparison: str = "previous") -> pd.DataFrame:
    """Change per characteristic (framework order) between the reference wave and ``wave``:
    ``mean_1`` (reference wave), ``mean_2`` (this wave), ``change`` and CI, ``words``."""
    names = data.characteristic_names()
    frame = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    rows = rows_for(data, "change", collaboration, wave)
    columns = ["characteristic", "reference_wave_id", "mean_1", "mean_2", "change", "ci_low",
               "ci_high", "p_value", "label", "caveat", "n_smaller", "suppressed",
               "suppressed_reason"]
    if len(rows):
        rows = rows[rows["comparison"] == comparison]
    if not len(rows):
        return frame.iloc[0:0].assign(**{c: [] for c in columns[1:]})
    frame = frame.merge(rows[[c for c in columns if c in rows.columns]], on="characteristic",
                        how="left")
    frame["suppressed"] = frame["suppressed"].fillna(True).astype(bool)
    frame["label"] = frame["label"].fillna("").astype(str)
    frame.loc[frame["suppressed"], "label"] = ""
    frame["words"] = [CHANGE_WORDS.get(x, x) for x in frame["label"]]
    frame["caveat"] = frame.get("caveat", pd.Series("", index=frame.index)).fillna("").astype(str)
    return frame


def change_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    """Change since the previous wave per characteristic, with its 95% CI and a plain label."""
    frame = change_frame(data, collaboration, wave)
    labels = _wave_labels(data)
    previous = data.previous_wave(wave)
    frame["ci"] = [fmt_ci(a, b) for a, b in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    columns = [
        Column("name", "Characteristic", keep_when_suppressed=True),
        Column("mean_1", f"Mean, {labels.get(previous, 'previous wave')}", fmt_number,
               numeric=True),
        Column("mean_2", f"Mean, {labels.get(wave, wave)}", fmt_number, numeric=True),
        Column("change", "Change", lambda v: fmt_number(v, sign=True), numeric=True),
        Column("ci", "95% CI of the change", numeric=True),
        Column("words", "What this means"),
    ]
    if (frame["caveat"] != "").any():
        columns.append(Column("caveat", "Note"))
    download = frame[["characteristic", "name", "reference_wave_id", "mean_1", "mean_2",
                      "change", "ci_low", "ci_high", "p_value", "label", "caveat",
                      "suppressed", "suppressed_reason"]]
    return table_output(frame, columns, threshold=data.threshold, data=download)


@_memo
def trend_frame(data: ReportData, collaboration: str, wave: str,
                peer_set: str = "all") -> pd.DataFrame:
    """Long frame: characteristic x wave (up to ``wave``) with the collaboration's mean and CI
    (NaN where suppressed) and the peer median."""
    waves = data.waves[: data.waves.index(wave) + 1]
    present = _present_waves(data)
    waves = [w for w in waves if w in present]
    names = data.characteristic_names()
    grid = pd.MultiIndex.from_product([list(names), waves],
                                      names=["characteristic", "wave_id"]).to_frame(index=False)
    grid["name"] = grid["characteristic"].map(names)
    rows = rows_for(data, "summaries", collaboration)
    if len(rows):
        rows = rows[["characteristic", "wave_id", "n", "mean", "ci_low", "ci_high",
                     "suppressed"]]
        grid = grid.merge(rows, on=["characteristic", "wave_id"], how="left")
    else:
        grid = grid.assign(n=np.nan, mean=np.nan, ci_low=np.nan, ci_high=np.nan)
    grid["suppressed"] = grid.get("suppressed", pd.Series(True, index=grid.index)).fillna(
        True).astype(bool)
    grid.loc[grid["suppressed"], ["n", "mean", "ci_low", "ci_high"]] = np.nan
    peers = rows_for(data, "peers", collaboration)
    if len(peers):
        peers = peers[peers["peer_set"] == peer_set][["characteristic", "wave_id",
                                                      "peer_median"]]
        grid = grid.merge(peers, on=["characteristic", "wave_id"], how="left")
    else:
        grid["peer_median"] = np.nan
    for column in ("n", "mean", "ci_low", "ci_high", "peer_median"):
        grid[column] = pd.to_numeric(grid[column], errors="coerce").astype(float)
    return grid


_EARLIER = (("#8c8c8c", "o"), ("#6e6e6e", "s"), ("#4d4d4d", "^"), ("#8c8c8c", "v"),
            ("#6e6e6e", "P"), ("#4d4d4d", "X"))


def trend_figure(data: ReportData, *, collaboration: str, wave: str,
                 peer_set: str = "all") -> FigureOutput:
    """Dot plot over time: for each characteristic, the mean and 95% CI in each wave (earlier
    waves above, in greys with their own marker shapes; the report's wave in blue), with the
    plain trend label beside each row."""
    frame = trend_frame(data, collaboration, wave, peer_set)
    trends = trend_table_frame(data, collaboration, wave)
    names = data.characteristic_names()
    waves = list(dict.fromkeys(frame["wave_id"]))
    labels = _wave_labels(data)
    k = len(waves)
    offsets = np.linspace(0.3, -0.3, k) if k > 1 else np.zeros(1)
    row_y = np.arange(len(names))[::-1].astype(float)
    index = {c: i for i, c in enumerate(names)}
    values = np.r_[frame["ci_low"], frame["ci_high"]]
    low, high = _range(values, 1.0, 5.0)
    with figure(7.4, 0.16 * len(names) * max(k, 2) + 1.7) as (fig, ax):
        ax.set_axisbelow(True)
        handles = []
        for j, w in enumerate(waves):
            part = frame[frame["wave_id"] == w]
            yy = row_y[part["characteristic"].map(index).to_numpy()] + offsets[j]
            latest = w == wave
            colour, marker = ((COLOURS["focus"], MARKERS["focus"]) if latest
                              else _EARLIER[j % len(_EARLIER)])
            ok = part["mean"].notna().to_numpy()
            ax.hlines(yy[ok], part["ci_low"][ok], part["ci_high"][ok], color=colour,
                      lw=2.0 if latest else 1.2, zorder=2)
            ax.scatter(part["mean"][ok], yy[ok], marker=marker, s=34 if latest else 22,
                       color=colour, edgecolors="white", linewidths=0.4, zorder=3)
            handles.append(Line2D([], [], color=colour, marker=marker, lw=2.0 if latest else 1.2,
                                  markersize=6 if latest else 5, markeredgecolor="white",
                                  label=_plain(labels.get(w, w))))
        for yi in row_y[:-1] - 0.5:
            ax.axhline(yi, color=COLOURS["grid"], lw=0.6)
        trans = ax.get_yaxis_transform()
        for yi, words, hidden in zip(row_y, trends["words"], trends["suppressed"],
                                     strict=True):
            if words or hidden:
                ax.text(1.02, yi, words.lower() if words else "trend not shown",
                        transform=trans, va="center", ha="left", fontsize=8.5,
                        color=COLOURS["ink"] if words else COLOURS["muted"], clip_on=False)
        ax.set_xlim(low, high)
        ax.set_ylim(-0.5, len(names) - 0.5)
        ax.set_yticks(row_y, [_wrap(n, 30) for n in names.values()], fontsize=9)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(SCALE[0].upper() + SCALE[1:] + ", with 95% CI\n(a wave with "
                      f"{suppressed_text(data.threshold)} is left out)", fontsize=9)
        _legend(fig, handles, 2)
        _fixed_layout(fig, left=2.45, right=1.1, top=0.1, bottom=0.75 + 0.2 * ((k + 1) // 2))
        alt = _trend_alt(data, frame, collaboration)
        return figure_output(fig, alt=alt, data=frame)


def _trend_alt(data: ReportData, frame: pd.DataFrame, collaboration: str) -> str:
    waves = list(dict.fromkeys(frame["wave_id"]))
    labels = _wave_labels(data)
    base = (f"Dot plot with one row per characteristic and, within each row, this "
            f"collaboration's mean score in each wave from {labels.get(waves[0], waves[0])} "
            f"(top) to {labels.get(waves[-1], waves[-1])} (bottom), with 95% confidence "
            "intervals; the trend is written beside each row.")
    trends = trend_table_frame(data, collaboration, waves[-1])
    moving = [f"{r.name} ({r.words.lower()})" for r in trends.itertuples()
              if r.words in ("Improving", "Declining")]
    if trends["words"].eq("").all():
        base += " The trend across waves is not estimated for this collaboration."
    elif moving:
        base += " Clear trends: " + "; ".join(moving) + "."
    else:
        base += " No characteristic shows a clear trend up or down."
    hidden = frame[frame["suppressed"]]["wave_id"].unique().tolist()
    if hidden:
        base += (" Waves not shown (fewer than "
                 f"{data.threshold} responses): {', '.join(labels.get(w, w) for w in hidden)}.")
    return base


@_memo
def trend_table_frame(data: ReportData, collaboration: str, wave: str) -> pd.DataFrame:
    """Per characteristic: the slope per wave across every wave, its CI and plain words
    (empty words when there is no trend estimate or it is suppressed)."""
    names = data.characteristic_names()
    frame = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    rows = rows_for(data, "trends", collaboration)
    if len(rows) and wave == data.latest_wave:
        frame = frame.merge(rows[["characteristic", "slope", "ci_low", "ci_high", "label",
                                  "n_waves", "suppressed"]], on="characteristic", how="left")
    else:
        frame = frame.assign(slope=np.nan, ci_low=np.nan, ci_high=np.nan, label="",
                             n_waves=np.nan, suppressed=False)
    frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
    frame["label"] = frame["label"].fillna("").astype(str)
    frame.loc[frame["suppressed"], ["slope", "ci_low", "ci_high"]] = np.nan
    frame.loc[frame["suppressed"], "label"] = ""
    frame["words"] = [TREND_WORDS.get(x, x) for x in frame["label"]]
    return frame


def trend_table(data: ReportData, *, collaboration: str, wave: str,
                peer_set: str = "all") -> TableOutput:
    """The mean of each characteristic in each wave, and the trend per wave with its CI."""
    long = trend_frame(data, collaboration, wave, peer_set)
    trends = trend_table_frame(data, collaboration, wave)
    waves = list(dict.fromkeys(long["wave_id"]))
    hidden = suppressed_text(data.threshold)
    wide = trends[["characteristic", "name"]].copy()
    download = trends[["characteristic", "name"]].copy()
    for w in waves:
        part = long[long["wave_id"] == w].set_index("characteristic")
        means = part["mean"].reindex(wide["characteristic"]).to_numpy()
        gone = part["suppressed"].reindex(wide["characteristic"]).fillna(True).to_numpy()
        wide[w] = [hidden if g else fmt_number(m) for m, g in zip(means, gone, strict=True)]
        download[f"mean_{w}"] = means
    wide["trend"] = [hidden if s else (f"{fmt_number(v, sign=True)} ({fmt_ci(a, b)})"
                                       if not np.isnan(v) else "–")
                     for s, v, a, b in zip(trends["suppressed"], trends["slope"],
                                           trends["ci_low"], trends["ci_high"], strict=True)]
    wide["words"] = [hidden if s else (w or "–")
                     for s, w in zip(trends["suppressed"], trends["words"], strict=True)]
    download = download.assign(trend_per_wave=trends["slope"], trend_ci_low=trends["ci_low"],
                               trend_ci_high=trends["ci_high"], trend_label=trends["label"],
                               trend_suppressed=trends["suppressed"])
    labels = _wave_labels(data)
    columns = [Column("name", "Characteristic")]
    columns += [Column(w, labels.get(w, w), str, numeric=True) for w in waves]
    columns += [Column("trend", "Trend per wave (95% CI)", str, numeric=True),
                Column("words", "What this means", str)]
    return table_output(wide, columns, threshold=data.threshold, data=download)


# -- questions -----------------------------------------------------------------------------------

@_memo
def items_frame(data: ReportData, collaboration: str, wave: str,
                group: str | None = None) -> pd.DataFrame:
    """One row per item of the wave's instrument version (instrument order within framework
    order), optionally only the characteristics of one framework group, with its text and
    answer shares (NaN where suppressed)."""
    instrument = data.family.version(data.instrument_version(wave))
    chars = [c for c in data.family.framework.characteristics
             if group is None or c.group == group]
    items = [(c, i) for c in chars for i in instrument.items_for(c.id)]
    frame = pd.DataFrame({"item_id": [i.id for _, i in items],
                          "characteristic": [c.id for c, _ in items],
                          "name": [c.name for c, _ in items],
                          "text": [i.text for _, i in items],
                          "reverse": [i.reverse for _, i in items]})
    rows = rows_for(data, "items", collaboration, wave)
    values = ["n_answered", "p_1", "p_2", "p_3", "p_4", "p_5", "favourable_share",
              "dont_know_share", "suppressed", "suppressed_reason"]
    if len(rows):
        rows = rows.assign(item_id=rows["item_id"].astype(str))
        frame = frame.merge(rows[["item_id", *values]], on="item_id", how="left")
    else:
        frame = frame.assign(**{v: np.nan for v in values})
    frame["suppressed"] = frame["suppressed"].fillna(True).astype(bool)
    numbers = values[:-2]
    for column in numbers:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame.loc[frame["suppressed"], numbers] = np.nan
    return frame


def items_figure(data: ReportData, *, collaboration: str, wave: str,
                 group: str | None = None) -> FigureOutput:
    """Diverging stacked bars of the answers to each question (share of those answering),
    centred on "neither agree nor disagree".

    Drawn as SVG directly rather than with matplotlib: the chart is rectangles and text in
    the house colours and font, and laying out forty long question texts with matplotlib
    costs a few hundred milliseconds per report, which adds up over a thousand reports.
    """
    frame = items_frame(data, collaboration, wave, group)
    scale = data.family.version(data.instrument_version(wave)).scale
    svg = _items_svg(frame, [o.label for o in scale.options], data.threshold)
    return FigureOutput(svg=svg, alt=_items_alt(frame, data.threshold),
                        data=frame.drop(columns=["reverse"]).reset_index(drop=True))


def _items_svg(frame: pd.DataFrame, labels: Sequence[str], threshold: int) -> str:
    """The diverging bar chart as SVG (user units are points, as in matplotlib's SVG)."""
    width, label_right, centre, half = 547.0, 300.0, 428.0, 98.0
    line, font, head_font = 10.5, 8.5, 9.5
    parts: list[str] = []
    y = 6.0

    def text(x: float, y: float, words: str, *, anchor: str = "start", size: float = font,
             colour: str = COLOURS["ink"], extra: str = "") -> None:
        parts.append(f'<text x="{x:.1f}" y="{y:.1f}" style="font-size: {size}px; font-family: '
                     f"'DejaVu Sans'; text-anchor: {anchor}; fill: {colour}{extra}\">"
                     f"{html_escape(words)}</text>")

    top = y
    previous = None
    for row in frame.itertuples():
        if row.name != previous:
            previous = row.name
            y += 6 if y > top else 0
            for k, chunk in enumerate(textwrap.wrap(row.name, 60)):
                text(label_right, y + head_font + k * (line + 1), chunk, anchor="end",
                     size=head_font, extra="; font-weight: bold")
            y += (line + 1) * len(textwrap.wrap(row.name, 60)) + 4
        words = row.text + (" (reverse-worded: disagreeing is favourable)" if row.reverse
                            else "")
        chunks = textwrap.wrap(words, 56)
        height = max(len(chunks) * line, 13.0) + 5
        mid = y + height / 2
        for k, chunk in enumerate(chunks):
            text(label_right, mid - (len(chunks) - 1) * line / 2 + k * line + font * 0.35,
                 chunk, anchor="end")
        p = np.array([row.p_1, row.p_2, row.p_3, row.p_4, row.p_5], dtype=float)
        if row.suppressed or np.isnan(p).any():
            text(centre, mid + font * 0.35, suppressed_text(threshold), anchor="middle",
                 colour=COLOURS["muted"], extra="; font-style: italic")
        else:
            x = centre - (p[0] + p[1] + p[2] / 2) * half
            left = x
            for share, colour in zip(p, LIKERT, strict=True):
                parts.append(f'<rect x="{x:.2f}" y="{mid - 6.5:.2f}" width="{share * half:.2f}" '
                             f'height="13" style="fill: {colour}; stroke: #ffffff; '
                             'stroke-width: 0.4"/>')
                x += share * half
            text(left - 3, mid + font * 0.35, fmt_percent(p[0] + p[1]), anchor="end",
                 size=7.5)
            text(x + 3, mid + font * 0.35, fmt_percent(p[3] + p[4]), size=7.5)
        y += height
    bottom = y + 2
    grid = "".join(
        f'<path d="M {centre + t * half:.1f} {top:.1f} L {centre + t * half:.1f} '
        f'{bottom:.1f}" style="fill: none; stroke: {COLOURS["ink"] if t == 0 else COLOURS["grid"]};'
        f' stroke-width: {0.7 if t == 0 else 0.6}"/>' for t in (-1, -0.5, 0, 0.5, 1))
    for t, tick in ((-1, "100%"), (-0.5, "50%"), (0, "0"), (0.5, "50%"), (1, "100%")):
        text(centre + t * half, bottom + 11, tick, anchor="middle", size=8.5)
    text(width / 2, bottom + 24, "Share of those answering: disagreeing to the left, agreeing "
         "to the right (numbers: all disagreeing, all agreeing)", anchor="middle", size=8.5)
    x, ly = 40.0, bottom + 42
    for colour, label in zip(LIKERT, labels, strict=True):
        parts.append(f'<rect x="{x:.1f}" y="{ly - 7:.1f}" width="14" height="8" style="fill: '
                     f'{colour}; stroke: {COLOURS["muted"]}; stroke-width: 0.5"/>')
        text(x + 18, ly, label, size=font)
        x += 26 + len(label) * 4.4
    height = ly + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" '
            f'height="{height:.1f}pt" viewBox="0 0 {width:.0f} {height:.1f}" version="1.1">'
            f'<rect x="0" y="0" width="{width:.0f}" height="{height:.1f}" style="fill: #ffffff"/>'
            + grid + "".join(parts) + "</svg>")


def _items_alt(frame: pd.DataFrame, threshold: int) -> str:
    chars = "; ".join(dict.fromkeys(frame["name"]))
    base = (f"Diverging bar chart of the answers to each question about {chars}: the share "
            "disagreeing to the left and agreeing to the right of a central line.")
    shown = frame[~frame["suppressed"]]
    if not len(shown):
        return base + f" Not shown for this collaboration: {suppressed_text(threshold)}."
    agree = shown["p_4"] + shown["p_5"]
    top, bottom = shown.loc[agree.idxmax()], shown.loc[agree.idxmin()]
    text = (f" Most agreement: \"{top['text']}\" ({fmt_percent(top['p_4'] + top['p_5'])} "
            f"agree). Least: \"{bottom['text']}\" ({fmt_percent(bottom['p_4'] + bottom['p_5'])}"
            " agree).")
    if len(shown) < len(frame):
        text += f" {len(frame) - len(shown)} question(s) not shown: {suppressed_text(threshold)}."
    return base + text


def items_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    """Every question: answers, share disagreeing, neither, agreeing, favourable and
    "don't know"."""
    frame = items_frame(data, collaboration, wave)
    frame["disagree"] = frame["p_1"] + frame["p_2"]
    frame["agree"] = frame["p_4"] + frame["p_5"]
    frame["question"] = frame["text"] + np.where(frame["reverse"], " (reverse-worded)", "")
    return table_output(frame, [
        Column("question", "Question", keep_when_suppressed=True),
        Column("name", "Characteristic", keep_when_suppressed=True),
        Column("n_answered", "Answers", fmt_int, numeric=True),
        Column("disagree", "Disagree", fmt_percent, numeric=True),
        Column("p_3", "Neither", fmt_percent, numeric=True),
        Column("agree", "Agree", fmt_percent, numeric=True),
        Column("favourable_share", "Favourable", fmt_percent, numeric=True),
        Column("dont_know_share", "Don't know", fmt_percent, numeric=True),
    ], threshold=data.threshold, data=frame[[
        "item_id", "characteristic", "text", "reverse", "n_answered", "p_1", "p_2", "p_3",
        "p_4", "p_5", "favourable_share", "dont_know_share", "suppressed",
        "suppressed_reason"]])


# -- ways of creating value ----------------------------------------------------------------------

@_memo
def value_modes_frame(data: ReportData, collaboration: str, wave: str) -> pd.DataFrame:
    """One row per way of creating value (framework order): declared, declared main, the
    share of respondents choosing it (NaN where suppressed or nobody answered)."""
    collab = data.collaboration(collaboration)
    names = _mode_names(data)
    frame = pd.DataFrame({"value_mode": list(names), "name": list(names.values())})
    frame["declared"] = frame["value_mode"].isin(collab.value_modes)
    frame["declared_main"] = frame["value_mode"] == (collab.main_value_mode or "")
    rows = rows_for(data, "value_modes", collaboration, wave)
    if len(rows):
        frame = frame.merge(rows[["value_mode", "n_answered", "n_chosen", "share", "reason",
                                  "suppressed", "suppressed_reason"]],
                            on="value_mode", how="left")
    else:
        frame = frame.assign(n_answered=np.nan, n_chosen=np.nan, share=np.nan,
                             reason="no respondents", suppressed=True,
                             suppressed_reason="no respondents")
    frame["suppressed"] = frame["suppressed"].fillna(True).astype(bool)
    for column in ("n_answered", "n_chosen", "share"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame.loc[frame["suppressed"], ["n_answered", "n_chosen", "share"]] = np.nan
    frame["declared_text"] = np.where(frame["declared_main"], "Yes, the main way",
                                      np.where(frame["declared"], "Yes", "No"))
    return frame


def value_modes_figure(data: ReportData, *, collaboration: str, wave: str) -> FigureOutput:
    """Bars of the share of respondents choosing each way of creating value, the ways the
    collaboration declared marked in words and by hatching."""
    frame = value_modes_frame(data, collaboration, wave)
    y = np.arange(len(frame))[::-1].astype(float)
    with figure(7.0, 0.55 * len(frame) + 1.2) as (fig, ax):
        ax.set_axisbelow(True)
        for yi, row in zip(y, frame.itertuples(), strict=True):
            if np.isnan(row.share):
                ax.text(0.5, yi, suppressed_text(data.threshold), ha="center", va="center",
                        fontsize=9, color=COLOURS["muted"], style="italic")
                continue
            ax.barh(yi, row.share, height=0.6,
                    color=COLOURS["focus"] if row.declared else COLOURS["sky"],
                    hatch="" if row.declared else "//", edgecolor=COLOURS["ink"], lw=0.6)
            ax.text(row.share + 0.01, yi, f"{fmt_percent(row.share)} "
                    f"({fmt_int(row.n_chosen)} of {fmt_int(row.n_answered)})", va="center",
                    fontsize=8.5, color=COLOURS["ink"])
        ticks = [_plain(n) + ("\n(declared main way)" if m else "\n(declared)" if d else
                              "\n(not declared)")
                 for n, d, m in zip(frame["name"], frame["declared"], frame["declared_main"],
                                    strict=True)]
        ax.set_yticks(y, ticks, fontsize=9)
        ax.set_xlim(0, 1.15)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
        ax.axvline(0.5, color=COLOURS["muted"], ls=":", lw=1)
        ax.set_xlabel("Share of respondents choosing this way (dotted line: half)")
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        _legend(fig, [
            Patch(facecolor=COLOURS["focus"], edgecolor=COLOURS["ink"],
                  label="Declared by the collaboration"),
            Patch(facecolor=COLOURS["sky"], hatch="//", edgecolor=COLOURS["ink"],
                  label="Not declared"),
        ], 2)
        _fixed_layout(fig, left=1.5, right=0.15, top=0.1, bottom=0.8)
        shown = frame[frame["share"].notna()]
        alt = ("Bar chart of the share of respondents who said the collaboration creates value "
               "in each of the four ways, with the ways the collaboration declared marked.")
        if len(shown):
            top = shown.loc[shown["share"].idxmax()]
            alt += (f" Chosen most often: {top['name']} ({fmt_percent(top['share'])}, "
                    f"{'declared' if top['declared'] else 'not declared'}).")
        else:
            alt += " No shares are shown for this wave."
        return figure_output(fig, alt=alt, data=frame.drop(columns=["declared_text"]))


def value_modes_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    """The ways of creating value: declared or not, and the share of respondents choosing
    each."""
    frame = value_modes_frame(data, collaboration, wave)
    return table_output(frame, [
        Column("name", "Way of creating value", keep_when_suppressed=True),
        Column("declared_text", "Declared by the collaboration", keep_when_suppressed=True),
        Column("n_chosen", "Respondents choosing it", fmt_int, numeric=True),
        Column("share", "Share of those answering", fmt_percent, numeric=True),
    ], threshold=data.threshold, data=frame.drop(columns=["declared_text"]))


# -- connections across sectors ------------------------------------------------------------------

_NETWORK_MEASURES = ("n_organisations", "n_organisations_with_respondents",
                     "n_respondents_naming", "n_ties", "n_possible_ties", "density",
                     "cross_sector_share", "cross_sector_share_expected", "ei_index",
                     "ei_index_expected", "centralisation", "n_isolates")


@_memo
def network_frame(data: ReportData, collaboration: str, wave: str) -> dict[str, Any]:
    """This collaboration's network measures for the wave (``None`` values when suppressed or
    absent), the peer medians of density, cross-sector share and E-I index over the
    collaborations shown, and the partners by sector with whether each has a tie."""
    rows = rows_for(data, "network", collaboration, wave)
    row = rows.iloc[0] if len(rows) else None
    suppressed = row is None or bool(row.get("suppressed", False))
    measures = {m: (np.nan if row is None or m not in row.index or pd.isna(row[m])
                    else float(row[m])) for m in _NETWORK_MEASURES}
    if suppressed:
        keep = ("n_organisations", "n_possible_ties", "cross_sector_share_expected",
                "ei_index_expected")
        measures = {m: (v if m in keep else np.nan) for m, v in measures.items()}
    peer = _network_peers(data, wave)
    isolates = set() if suppressed or row is None else set(parse_ids(row.get("isolates")))
    collab = data.collaboration(collaboration)
    partners = pd.DataFrame({"partner_id": [p.id for p in collab.partners],
                             "partner": [p.name for p in collab.partners],
                             "sector": [p.sector for p in collab.partners]})
    known = not suppressed and not np.isnan(measures["n_ties"])
    partners["connected"] = [(p not in isolates) if known else None
                             for p in partners["partner_id"]]
    reason = "" if row is None else str(row.get("reason") or "")
    return {"measures": measures, "peer": peer, "partners": partners,
            "suppressed": suppressed, "known": known, "reason": reason,
            "present": row is not None}


@lru_cache(maxsize=8)
def _network_peers(data: ReportData, wave: str) -> dict[str, float]:
    """Medians of density, cross-sector share and E-I index over the collaborations shown in
    a wave (the collaboration itself included, as in the peer benchmarks), and their counts."""
    table = data.benchmark.get("network", pd.DataFrame())
    peer: dict[str, float] = {}
    if not len(table):
        return peer
    same = table[np.asarray(table["wave_id"].astype(str) == wave, dtype=bool)]
    same = same[~same["suppressed"].fillna(False).astype(bool).to_numpy()]
    for m in ("density", "cross_sector_share", "ei_index"):
        values = pd.to_numeric(same[m], errors="coerce").dropna()
        peer[m] = float(values.median()) if len(values) else np.nan
        peer[f"{m}_n"] = float(len(values))
    return peer


def network_figure(data: ReportData, *, collaboration: str, wave: str) -> FigureOutput:
    """The connection map: partner organisations by sector (with and without a connection
    named), and the share of connections that cross sectors against what it would be if
    connections ignored sector, and against peers."""
    net = network_frame(data, collaboration, wave)
    partners = net["partners"]
    m, peer = net["measures"], net["peer"]
    sectors = option_labels(data, wave, "sector")
    order = [s for s in sectors if s in set(partners["sector"])]
    order += sorted(set(partners["sector"]) - set(order))
    counts = pd.DataFrame({
        "sector": order, "sector_label": [sectors.get(s, s) for s in order],
        "organisations": [int((partners["sector"] == s).sum()) for s in order],
        "connected": [int(((partners["sector"] == s) & (partners["connected"] == True)).sum())  # noqa: E712
                      if net["known"] else np.nan for s in order]})
    counts["not_connected"] = counts["organisations"] - counts["connected"]
    with figure(7.6, max(2.6, 0.42 * len(order) + 1.6), ncols=2,
                width_ratios=[1.25, 1]) as (fig, (left, right)):
        y = np.arange(len(order))[::-1].astype(float)
        if net["known"]:
            left.barh(y, counts["connected"], height=0.6, color=COLOURS["focus"],
                      edgecolor=COLOURS["ink"], lw=0.6, label="Connected to another partner")
            left.barh(y, counts["not_connected"], left=counts["connected"], height=0.6,
                      color="white", hatch="///", edgecolor=COLOURS["muted"], lw=0.6,
                      label="No connection named")
        else:
            left.barh(y, counts["organisations"], height=0.6, color=COLOURS["grid"],
                      edgecolor=COLOURS["muted"], lw=0.6, label="Partner organisations")
        left.set_yticks(y, [_wrap(s, 22) for s in counts["sector_label"]], fontsize=8.5)
        left.set_xlabel("Partner organisations", fontsize=8.5)
        left.xaxis.get_major_locator().set_params(integer=True)
        left.grid(axis="y", visible=False)
        left.tick_params(axis="y", length=0)
        left.set_title("Partners by sector", fontsize=9.5, loc="left")
        rows = [("Density", "density", None), ("Cross-sector\nshare", "cross_sector_share",
                                               "cross_sector_share_expected")]
        ry = np.array([1.0, 0.0])
        for yi, (_, key, expected) in zip(ry, rows, strict=True):
            if not np.isnan(m[key]):
                right.scatter(m[key], yi - 0.12, marker=MARKERS["focus"], s=55,
                              color=COLOURS["focus"], edgecolors="white", zorder=3)
                right.text(m[key], yi - 0.32, fmt_percent(m[key]), ha="center", va="top",
                           fontsize=8, color=COLOURS["focus"])
            if not np.isnan(peer.get(key, np.nan)):
                right.scatter(peer[key], yi + 0.12, marker=MARKERS["peer"], s=40,
                              color=COLOURS["peer"], edgecolors=COLOURS["ink"],
                              linewidths=0.6, zorder=3)
            if expected and not np.isnan(m[expected]):
                right.scatter(m[expected], yi, marker="|", s=260, color=COLOURS["ink"],
                              linewidths=1.6, zorder=2)
        right.set_yticks(ry, [r[0] for r in rows], fontsize=8.5)
        right.set_xlim(-0.02, 1.05)
        right.set_ylim(-0.7, 1.6)
        right.set_xticks([0, 0.5, 1], ["0%", "50%", "100%"])
        right.grid(axis="y", visible=False)
        right.tick_params(axis="y", length=0)
        right.set_title("How connected", fontsize=9.5, loc="left")
        if not net["known"]:
            right.text(0.5, 0.5, "not available" if not net["suppressed"]
                       else suppressed_text(data.threshold), ha="center", va="center",
                       fontsize=8.5, color=COLOURS["muted"], style="italic",
                       transform=right.transAxes)
        bars = left.get_legend_handles_labels()[0]
        fig.legend(handles=[
            *bars,
            Line2D([], [], color="none", marker=MARKERS["focus"], markersize=7,
                   markerfacecolor=COLOURS["focus"], markeredgecolor="white",
                   label="This collaboration"),
            Line2D([], [], color="none", marker=MARKERS["peer"], markersize=6,
                   markerfacecolor=COLOURS["peer"], markeredgecolor=COLOURS["ink"],
                   label="Peer median"),
            Line2D([], [], color="none", marker="|", markersize=11, markeredgewidth=1.6,
                   markeredgecolor=COLOURS["ink"], label="If connections ignored sector"),
        ], loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=3, fontsize=8)
        width, height = fig.get_size_inches()
        fig.set_layout_engine(None)  # no engine: one draw instead of two
        bottom, top = 1.05 / height, 1 - 0.3 / height
        left.set_position([1.6 / width, bottom, 2.9 / width, top - bottom])
        right.set_position([5.5 / width, bottom, 1.9 / width, top - bottom])
        for ax in (left, right):
            ax.set_axisbelow(True)
        alt = _network_alt(net, counts)
        frame = counts.assign(**{f"collaboration_{k}": v for k, v in m.items()},
                              **{f"peer_median_{k}": v for k, v in peer.items()})
        return figure_output(fig, alt=alt, data=frame)


def _network_alt(net: dict[str, Any], counts: pd.DataFrame) -> str:
    m = net["measures"]
    base = (f"Two charts. Left: the collaboration's {fmt_int(m['n_organisations'])} partner "
            f"organisations by sector ({'; '.join(f'{r.sector_label} {r.organisations}' for r in counts.itertuples())})")
    if not net["known"]:
        return base + ". Connections between partners are not shown for this wave."
    base += ", split into those named as working with another partner and those not."
    base += (f" Right: {fmt_percent(m['density'])} of possible connections between partners "
             f"were named (peer median {fmt_percent(net['peer'].get('density'))}); "
             f"{fmt_percent(m['cross_sector_share'])} of connections cross sectors, against "
             f"{fmt_percent(m['cross_sector_share_expected'])} if connections ignored sector "
             f"(peer median {fmt_percent(net['peer'].get('cross_sector_share'))}).")
    return base


def network_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    """The network measures in plain words, beside the peer median and (for the cross-sector
    measures) the value if connections ignored sector."""
    net = network_frame(data, collaboration, wave)
    m, peer = net["measures"], net["peer"]
    hidden = net["suppressed"]
    text = suppressed_text(data.threshold)

    def value(key: str, fmt: Any) -> str:
        if hidden and key not in ("n_organisations",):
            return text
        return fmt(m[key])

    records = [
        ("Partner organisations listed", value("n_organisations", fmt_int), "–", "–",
         "n_organisations"),
        ("Organisations with respondents", value("n_organisations_with_respondents", fmt_int),
         "–", "–", "n_organisations_with_respondents"),
        ("Connections named (of those possible)",
         text if hidden else f"{fmt_int(m['n_ties'])} of {fmt_int(m['n_possible_ties'])}",
         "–", "–", "n_ties"),
        ("Density: share of possible connections named", value("density", fmt_percent),
         fmt_percent(peer.get("density")), "–", "density"),
        ("Share of connections that cross sectors", value("cross_sector_share", fmt_percent),
         fmt_percent(peer.get("cross_sector_share")),
         fmt_percent(m["cross_sector_share_expected"]), "cross_sector_share"),
        ("E-I index (−1 all within sectors, +1 all across)",
         value("ei_index", lambda v: fmt_number(v, sign=True)),
         fmt_number(peer.get("ei_index"), sign=True),
         fmt_number(m["ei_index_expected"], sign=True), "ei_index"),
        ("Partners with no connection named", value("n_isolates", fmt_int), "–", "–",
         "n_isolates"),
    ]
    frame = pd.DataFrame(records, columns=["measure", "value", "peer", "expected", "key"])
    download = pd.DataFrame({
        "measure": frame["key"],
        "collaboration": [np.nan if hidden and k != "n_organisations" else m.get(k, np.nan)
                          for k in frame["key"]],
        "peer_median": [peer.get(k, np.nan) for k in frame["key"]],
        "if_connections_ignored_sector": [m.get(f"{k}_expected", np.nan)
                                          for k in frame["key"]],
        "suppressed": hidden})
    return table_output(frame, [
        Column("measure", "Measure"),
        Column("value", "This collaboration", str, numeric=True),
        Column("peer", "Peer median", str, numeric=True),
        Column("expected", "If connections ignored sector", str, numeric=True),
    ], data=download)


# -- breakdowns ----------------------------------------------------------------------------------

@_memo
def breakdown_frame(data: ReportData, collaboration: str, wave: str, by: str) -> pd.DataFrame:
    """Sub-group rows (``by`` = ``"sector"`` or ``"role"``) of one collaboration and wave:
    characteristic, subgroup, its label, n, mean, CI, ``hidden`` (primary), ``protected``
    (secondary suppression)."""
    rows = rows_for(data, "breakdowns", collaboration, wave)
    columns = ["characteristic", "subgroup", "subgroup_label", "n", "mean", "ci_low", "ci_high",
               "hidden", "protected"]
    if not len(rows):
        return pd.DataFrame(columns=columns)
    rows = rows[rows["breakdown"] == by].copy()
    labels = option_labels(data, wave, by)
    rows["subgroup"] = rows["subgroup"].astype(str)
    rows["subgroup_label"] = rows["subgroup"].map(lambda s: labels.get(s, s))
    hidden = _hidden(rows)
    rows["protected"] = hidden & _secondary(rows)
    rows["hidden"] = hidden & ~rows["protected"].to_numpy()
    for column in ("n", "mean", "ci_low", "ci_high"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype(float)
    rows.loc[hidden, ["n", "mean", "ci_low", "ci_high"]] = np.nan
    order = {s: k for k, s in enumerate(labels)}
    rows["_order"] = rows["subgroup"].map(lambda s: order.get(s, len(order)))
    return rows.sort_values(["_order", "subgroup"], kind="stable")[columns].reset_index(drop=True)


def breakdown_table(data: ReportData, *, collaboration: str, wave: str,
                    by: str = "sector") -> TableOutput:
    """Mean per characteristic for each sector (or role) with enough responses; a cell of a
    smaller group says "fewer than N responses"."""
    frame = breakdown_frame(data, collaboration, wave, by)
    names = data.characteristic_names()
    groups = shown_groups(frame)
    wide = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    for g in groups:
        part = frame[frame["subgroup"] == g].set_index("characteristic")
        cells = []
        for cid in wide["characteristic"]:
            if cid not in part.index:
                cells.append("–")
                continue
            r = part.loc[cid]
            if r["protected"]:
                cells.append(SECONDARY)
            elif r["hidden"] or np.isnan(r["mean"]):
                cells.append(suppressed_text(data.threshold))
            else:
                cells.append(f"{fmt_number(r['mean'])} ({fmt_int(r['n'])})")
        wide[g] = cells
    labels = dict(zip(frame["subgroup"], frame["subgroup_label"], strict=False))
    columns = [Column("name", "Characteristic")]
    columns += [Column(g, f"{labels.get(g, g)}: mean (responses)", str, numeric=True)
                for g in groups]
    return table_output(wide, columns, data=frame)


def shown_groups(frame: pd.DataFrame) -> list[str]:
    if not len(frame):
        return []
    shown = frame[~frame["hidden"] & ~frame["protected"] & frame["mean"].notna()]
    return list(dict.fromkeys(g for g in frame["subgroup"] if g in set(shown["subgroup"])))


def hidden_groups(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Labels of sub-groups with nothing shown: (fewer than the threshold, protected)."""
    shown = set(shown_groups(frame))
    rest = frame[~frame["subgroup"].isin(shown)]
    small = list(dict.fromkeys(rest.loc[rest["hidden"], "subgroup_label"]))
    protected = [g for g in dict.fromkeys(rest.loc[rest["protected"], "subgroup_label"])
                 if g not in small]
    return small, protected
