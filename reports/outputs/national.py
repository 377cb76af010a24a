"""The programme overview's figures at national size: distributions and groups, not rows.

Above :data:`NATIONAL_SIZE` collaborations a figure with a row, bar or point per
collaboration stops being readable (and its PDF runs to hundreds of pages). The overview then
shows, instead:

* the *distribution* of response rates and of collaborations' average scores (histograms,
  with the median marked);
* the *groups*: each region, peer group and type of collaboration with the median, quartiles
  and number of its collaborations on each characteristic, from the library's ``peers`` table
  (:mod:`collab_stats.peers`; nothing is recomputed here);
* the *verdicts*, counted: how many collaborations are higher than, in line with or lower than
  the programme's median on each characteristic, from the library's verdict table; and which
  collaborations differ, in a table.

Every collaboration's row stays in the HTML page's tables (searchable, left out of print) and
in the downloads. Like :mod:`reports.outputs.programme`, every function takes the report data
and literal keyword arguments and returns a figure or table output; hidden figures are never
drawn or written.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from reports.data import ReportData
from reports.notebook import FigureOutput, TableOutput
from reports.outputs.programme import (
    _names,
    _rows,
    _wave,
    _wrap,
    overall_frame,
    response_frame,
    verdict_frame,
)
from reports.style import COLOURS, figure, figure_output
from reports.tables import Column, table_output
from reports.text import fmt_int, fmt_number, fmt_percent, plural, suppressed_text

__all__ = ["GROUPINGS", "NATIONAL_SIZE", "differing_frame", "differing_table", "group_frame",
           "group_heatmap", "group_table", "is_national", "league_histogram",
           "response_rate_histogram", "verdict_counts_chart", "verdict_counts_frame"]

#: Above this many collaborations the overview shows distributions and groups.
NATIONAL_SIZE = 60
#: The groupings shown, as the ``peers`` table names them, with their label.
GROUPINGS = {"region": "Region", "peer_group": "Peer group", "type": "Type"}
_VERDICTS = (("higher", COLOURS["good"]), ("in line", COLOURS["neutral"]),
             ("lower", COLOURS["bad"]))


def is_national(data: ReportData) -> bool:
    """Whether the programme is too large for a row per collaboration in the figures."""
    return len(data.programme.collaborations) > NATIONAL_SIZE


def _histogram(ax, values: np.ndarray, *, bins: np.ndarray, colour: str) -> None:
    ax.hist(values, bins=bins, color=colour, edgecolor="white", linewidth=0.6, zorder=2)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("Collaborations")


def _hidden_title(ax, data: ReportData, hidden: int) -> None:
    """Say above the plot how many collaborations it leaves out, and why."""
    if hidden:
        ax.set_title(_wrap(f"Not shown: {plural(hidden, 'collaboration')} with "
                           f"{suppressed_text(data.threshold)}", 90), fontsize=8, loc="left",
                     color=COLOURS["muted"])


def _median_line(ax, value: float, text: str) -> None:
    ax.axvline(value, color=COLOURS["ink"], linestyle="--", linewidth=1, zorder=3)
    ax.text(value, 1.0, f" {text}", transform=ax.get_xaxis_transform(), fontsize=8,
            va="top", color=COLOURS["ink"])


def response_rate_histogram(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """How many collaborations had each response rate (5-point bins), with the median."""
    frame = response_frame(data, wave=wave)
    shown = frame[~frame["suppressed"] & frame["response_rate"].notna()]
    rates = shown["response_rate"].to_numpy(dtype=float) * 100
    hidden = int(frame["suppressed"].sum())
    top = max(100.0, float(np.ceil(rates.max() / 5) * 5)) if len(rates) else 100.0
    with figure(7.0, 3.2) as (fig, ax):
        _histogram(ax, rates, bins=np.arange(0, top + 5, 5), colour=COLOURS["focus"])
        median = float(np.median(rates)) if len(rates) else float("nan")
        if len(rates):
            _median_line(ax, median, f"median {fmt_percent(median / 100)}")
        ax.set_xlabel("Response rate (%)")
        _hidden_title(ax, data, hidden)
        alt = (f"Histogram of the response rates of {plural(len(rates), 'collaboration')} in "
               f"bands of 5 percentage points; the median is {fmt_percent(median / 100)}"
               + (f", and rates run from {fmt_percent(rates.min() / 100)} to "
                  f"{fmt_percent(rates.max() / 100)}." if len(rates) else ".")
               + (f" {plural(hidden, 'collaboration')} with "
                  f"{suppressed_text(data.threshold)} are not shown." if hidden else ""))
        return figure_output(fig, alt=alt, data=frame[["collaboration", "n", "invited",
                                                       "response_rate", "suppressed"]])


def league_histogram(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """How many collaborations had each average score across the characteristics (bins of
    0.1), with the median."""
    frame = overall_frame(data, wave=wave)
    shown = frame[~frame["suppressed"]]
    means = shown["mean"].to_numpy(dtype=float)
    hidden = int(frame["suppressed"].sum())
    with figure(7.0, 3.2) as (fig, ax):
        low = np.floor(means.min() * 10) / 10 if len(means) else 1.0
        high = np.ceil(means.max() * 10) / 10 if len(means) else 5.0
        _histogram(ax, means, bins=np.arange(low, high + 0.1001, 0.1), colour=COLOURS["focus"])
        median = float(np.median(means)) if len(means) else float("nan")
        if len(means):
            _median_line(ax, median, f"median {fmt_number(median)}")
        ax.set_xlabel("Average score across the eight characteristics (1 to 5)")
        _hidden_title(ax, data, hidden)
        alt = (f"Histogram of the average score across characteristics of "
               f"{plural(len(means), 'collaboration')} in bands of 0.1; the median is "
               f"{fmt_number(median)}"
               + (f", and averages run from {fmt_number(means.min())} to "
                  f"{fmt_number(means.max())}." if len(means) else ".")
               + (f" {plural(hidden, 'collaboration')} with "
                  f"{suppressed_text(data.threshold)} are not shown." if hidden else ""))
        return figure_output(fig, alt=alt, data=frame.drop(columns="collaboration_id"))


def _group_name(data: ReportData, grouping: str, key: str) -> str:
    if grouping == "peer_group":
        names = {g.id: g.name for g in data.programme.peer_groups}
        return names.get(key, key)
    if grouping == "type":
        return key.replace("_", " ").capitalize()
    return key


def group_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """One row per group (each region, peer group and type) and characteristic: the
    number of its collaborations shown, and the median and quartiles of their scores, as the
    library's ``peers`` table gives them (``peer_n``, ``peer_median``, ...)."""
    columns = ["grouping", "group", "characteristic", "collaborations", "lower_quartile",
               "median", "upper_quartile"]
    peers = data.benchmark.get("peers", pd.DataFrame())
    rows = _rows(peers, _wave(data, wave)) if len(peers) else pd.DataFrame()
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows[rows["peer_set"].astype(str).isin(GROUPINGS) & rows["peer_n"].notna()
                & rows["peer_median"].notna()]
    rows = rows.drop_duplicates(["peer_set", "peer_key", "characteristic"])
    out = pd.DataFrame({
        "grouping": rows["peer_set"].astype(str).map(GROUPINGS).to_numpy(),
        "group": [_group_name(data, s, k) for s, k in
                  zip(rows["peer_set"].astype(str), rows["peer_key"].astype(str), strict=True)],
        "characteristic": rows["characteristic"].astype(str).to_numpy(),
        "collaborations": rows["peer_n"].astype("int64").to_numpy(),
        "lower_quartile": rows["peer_lower_quartile"].to_numpy(dtype=float),
        "median": rows["peer_median"].to_numpy(dtype=float),
        "upper_quartile": rows["peer_upper_quartile"].to_numpy(dtype=float)})
    order = {g: i for i, g in enumerate(GROUPINGS.values())}
    chars = {c: i for i, c in enumerate(data.characteristic_names())}
    return (out.assign(_g=out["grouping"].map(order), _c=out["characteristic"].map(chars))
            .sort_values(["_g", "group", "_c"]).drop(columns=["_g", "_c"])
            .reset_index(drop=True))


def _group_wide(data: ReportData, wave: str | None) -> pd.DataFrame:
    frame = group_frame(data, wave=wave)
    chars = list(data.characteristic_names())
    if frame.empty:
        return pd.DataFrame(columns=["grouping", "group", "collaborations", *chars])
    wide = frame.pivot_table(index=["grouping", "group"], columns="characteristic",
                             values="median", sort=False)
    sizes = frame.groupby(["grouping", "group"], sort=False)["collaborations"].max()
    wide = wide.reindex(columns=chars)
    wide.insert(0, "collaborations", sizes.reindex(wide.index).to_numpy())
    return wide.reset_index()


def group_heatmap(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """Groups (rows: each region, peer group and type) x characteristics: the median score
    of the group's collaborations, written in each cell and shaded."""
    wide = _group_wide(data, wave)
    chars = data.characteristic_names()
    ids = [c for c in chars if c in wide.columns]
    values = wide[ids].to_numpy(dtype=float) if len(wide) else np.zeros((0, len(ids)))
    labels = [f"{g}: {n} ({fmt_int(k)})" for g, n, k in
              zip(wide.get("grouping", []), wide.get("group", []),
                  wide.get("collaborations", []), strict=True)]
    with figure(8.0, 0.32 * max(len(labels), 3) + 2.8) as (fig, ax):
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (1.0, 5.0)
        image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="Blues",
                          vmin=lo - 0.15 * (hi - lo + 1e-9), vmax=hi)
        ax.set_xticks(range(len(ids)), [chars[c] for c in ids], fontsize=7.5,
                      rotation=40, ha="left", rotation_mode="anchor")
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(labels)), labels, fontsize=7.5)
        ax.grid(False)
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                shade = image.cmap(image.norm(value))
                ink = "white" if (0.2126 * shade[0] + 0.7152 * shade[1]
                                  + 0.0722 * shade[2]) < 0.45 else COLOURS["ink"]
                ax.text(j, i, fmt_number(value), ha="center", va="center", fontsize=7,
                        color=ink)
        alt = (f"Table-like chart of the median score of each group's collaborations on each "
               f"of {len(ids)} characteristics, for {plural(len(labels), 'group')} "
               "(regions, peer groups and types, with the number of collaborations shown in "
               "brackets); darker cells are higher medians"
               + (f", from {fmt_number(lo)} to {fmt_number(hi)}." if finite.size else "."))
        return figure_output(fig, alt=alt, data=group_frame(data, wave=wave))


def group_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """Each group with its number of collaborations shown and the median score of its
    collaborations on each characteristic."""
    wide = _group_wide(data, wave)
    chars = data.characteristic_names()
    wide = wide.assign(label=[f"{g}: {n}" for g, n in
                              zip(wide["grouping"], wide["group"], strict=True)])
    return table_output(wide, [Column("label", "Group"),
                               Column("collaborations", "Collaborations", fmt_int)]
                        + [Column(c, chars[c], fmt_number) for c in chars
                           if c in wide.columns],
                        data=group_frame(data, wave=wave))


def verdict_counts_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Per characteristic: how many collaborations the verdict table finds higher than, in
    line with and lower than the programme's median (collaborations shown only)."""
    frame = verdict_frame(data, wave=wave)
    chars = data.characteristic_names()
    counts = (frame[frame["verdict"] != ""].groupby(["characteristic", "verdict"]).size()
              .unstack(fill_value=0).reindex(index=list(chars), fill_value=0))
    out = pd.DataFrame({"characteristic": list(chars),
                        "name": [chars[c] for c in chars]})
    for verdict, _ in _VERDICTS:
        out[verdict] = (counts[verdict].to_numpy() if verdict in counts.columns
                        else np.zeros(len(out), dtype=int)).astype("int64")
    return out


def verdict_counts_chart(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """Per characteristic, a bar split into the collaborations higher than, in line with and
    lower than the programme's median (the verdict table's words and counts)."""
    frame = verdict_counts_frame(data, wave=wave)
    with figure(7.5, 0.45 * len(frame) + 1.4) as (fig, ax):
        y = np.arange(len(frame))[::-1]
        left = np.zeros(len(frame))
        for verdict, colour in _VERDICTS:
            counts = frame[verdict].to_numpy(dtype=float)
            ax.barh(y, counts, left=left, color=colour, edgecolor="white", height=0.7)
            for yi, x0, count in zip(y, left, counts, strict=True):
                if count >= max(1.0, 0.04 * frame[["higher", "in line", "lower"]]
                                .sum(axis=1).max()):
                    ax.text(x0 + count / 2, yi, fmt_int(count), ha="center", va="center",
                            fontsize=7, color="white" if verdict != "in line"
                            else COLOURS["ink"])
            left += counts
        ax.set_yticks(y, [_wrap(n, 34) for n in frame["name"]], fontsize=7.5)
        ax.set_xlabel("Collaborations")
        ax.grid(axis="y", visible=False)
        fig.legend(handles=[Patch(color=c, label=v.capitalize()) for v, c in _VERDICTS],
                   loc="outside lower center", ncols=3, fontsize=8, frameon=False)
        totals = frame[["higher", "in line", "lower"]].sum()
        alt = (f"Stacked bar chart, one bar per characteristic, of how many collaborations are "
               f"higher than, in line with and lower than the median of the programme's "
               f"collaborations: {fmt_int(totals['higher'])} higher, "
               f"{fmt_int(totals['in line'])} in line and {fmt_int(totals['lower'])} lower "
               "in all.")
        return figure_output(fig, alt=alt, data=frame.drop(columns="characteristic"))


def differing_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """The collaborations higher or lower than the programme's median on at least one
    characteristic (the verdict table's), with the characteristics named, in the overview's
    order of collaborations."""
    frame = verdict_frame(data, wave=wave)
    chars = data.characteristic_names()
    names = _names(data)
    order = overall_frame(data, wave=wave)["collaboration_id"].tolist()
    rows = []
    for cid, part in frame.groupby("collaboration_id", sort=False):
        higher = [chars[c] for c in chars if c in set(part.loc[part["verdict"] == "higher",
                                                                "characteristic"])]
        lower = [chars[c] for c in chars if c in set(part.loc[part["verdict"] == "lower",
                                                               "characteristic"])]
        if higher or lower:
            rows.append({"collaboration_id": cid, "collaboration": names.get(cid, cid),
                         "higher": "; ".join(higher), "lower": "; ".join(lower),
                         "n_higher": len(higher), "n_lower": len(lower)})
    out = pd.DataFrame(rows, columns=["collaboration_id", "collaboration", "higher", "lower",
                                      "n_higher", "n_lower"])
    rank = {c: i for i, c in enumerate(order)}
    return (out.assign(_r=out["collaboration_id"].map(rank)).sort_values("_r", kind="stable")
            .drop(columns="_r").reset_index(drop=True))


def differing_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """The collaborations that differ from the programme's median, and on what."""
    frame = differing_frame(data, wave=wave)
    return table_output(frame, [Column("collaboration", "Collaboration"),
                                Column("higher", "Higher on", lambda v: v or "–"),
                                Column("lower", "Lower on", lambda v: v or "–")],
                        data=frame.drop(columns=["collaboration_id"]))
