"""Figures and tables of the programme overview report (commissioners and evaluators).

Every output function takes the report data and keyword arguments with plain literal values,
and returns a :class:`~reports.notebook.FigureOutput` or :class:`~reports.notebook.TableOutput`,
so that a notebook cell such as ``programme.score_heatmap(data, wave='2026-09')`` reproduces
its output. The ``*_frame`` functions give the numbers behind them (one row per collaboration
or characteristic, suppression applied) for the report text and for tests.

Suppression: a collaboration's figure is hidden ("fewer than N responses") when the benchmark
tables mark it suppressed; response numbers below the threshold are hidden too. Hidden values
are NaN in every frame, never drawn and never written as numbers.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, Normalize, to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from reports.data import ReportData
from reports.notebook import FigureOutput, TableOutput
from reports.style import COLOURS, LIKERT, MARKERS, SEQUENTIAL, figure, figure_output
from reports.tables import Column, table_output
from reports.text import (
    fmt_ci,
    fmt_int,
    fmt_number,
    fmt_percent,
    html_escape,
    md_escape,
    plural,
    suppressed_text,
)

__all__ = [
    "CHANGE_GROUPS", "change_chart", "change_frame", "change_table", "check_links",
    "differences_frame", "differences_table", "effect_words", "verdict_frame", "verdict_plots",
    "verdict_table", "heatmap_frame", "league_chart", "league_table", "md_name", "n_tested",
    "overall_frame", "overlap_share", "response_frame", "response_rate_chart",
    "response_rate_table", "score_heatmap",
]

#: Beyond this many collaborations, per-collaboration figures leave the names out (the
#: tables beside them give every name) and the heatmap leaves out the numbers in its cells.
MAX_NAMED = 80
#: Plain groups of the change labels, in display order.
#: The change verdicts of the verdict table, as the overview counts them.
CHANGE_GROUPS = {"declined": "declined", "no clear change": "no clear change",
                 "improved": "improved", "": "not tested"}
_SAFE_LINK = re.compile(r"^[A-Za-z0-9._/-]+$")


# --- frames ---------------------------------------------------------------------------------

def _wave(data: ReportData, wave: str | None) -> str:
    return data.latest_wave if wave is None else str(wave)


def _names(data: ReportData) -> dict[str, str]:
    return {c.id: c.name for c in data.programme.collaborations}


def _rows(table: pd.DataFrame, wave: str) -> pd.DataFrame:
    if table is None or table.empty or "wave_id" not in table.columns:
        return pd.DataFrame()
    out = table[table["wave_id"].astype(str) == wave].copy()
    for column in ("collaboration_id", "characteristic"):
        if column in out.columns:
            out[column] = out[column].astype(str)
    return out.reset_index(drop=True)


def response_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Respondents, invited and response rate per collaboration; ``n`` and ``response_rate``
    are NaN (``suppressed``) when fewer than the threshold responded."""
    rates = _rows(data.benchmark["response_rates"], _wave(data, wave))
    names = _names(data)
    hidden = rates["n"] < data.threshold
    if "suppressed" in rates:  # the library suppresses counts below the threshold
        hidden = hidden | rates["suppressed"].fillna(False).astype(bool)
    return pd.DataFrame({
        "collaboration_id": rates["collaboration_id"],
        "collaboration": [names.get(c, c) for c in rates["collaboration_id"]],
        "n": rates["n"].astype(float).mask(hidden),
        "invited": rates["invited"].astype(float),
        "response_rate": rates["response_rate"].astype(float).mask(hidden),
        "suppressed": hidden.to_numpy(),
    })


def overall_frame(data: ReportData, *, wave: str | None = None,
                  characteristic: str | None = None) -> pd.DataFrame:
    """One row per collaboration: its score with a 95% interval, best first.

    With ``characteristic`` None the score is the average of the collaboration's
    characteristic means, and its interval the average of their intervals' ends (wider than
    an exact interval, which would need the correlations between the scores; exact when the
    scores move together). A collaboration with any characteristic suppressed is suppressed.
    ``n_above``/``n_below``: characteristics on which the verdict table puts it higher/lower
    than the programme's collaborations (its 95% interval wholly above/below their median).
    ``partly_suppressed``: suppressed on some characteristics only.
    Sorted by score (highest first), then the partly suppressed, then the rest, by name.
    """
    wave = _wave(data, wave)
    scores = _rows(data.benchmark["summaries"], wave)
    if characteristic is not None:
        scores = scores[scores["characteristic"] == characteristic]
    grouped = scores.groupby("collaboration_id", sort=False)
    frame = grouped.agg(mean=("mean", "mean"), ci_low=("ci_low", "mean"),
                        ci_high=("ci_high", "mean"), n_hidden=("suppressed", "sum"),
                        n_characteristics=("suppressed", "size"))
    rates = response_frame(data, wave=wave).set_index("collaboration_id")
    frame["n"] = rates["n"].reindex(frame.index)
    peers = verdict_frame(data, wave=wave)
    if characteristic is not None:
        peers = peers[peers["characteristic"] == characteristic]
    for label, column in (("higher", "n_above"), ("lower", "n_below")):
        counts = peers[peers["verdict"] == label].groupby("collaboration_id").size()
        frame[column] = counts.reindex(frame.index).fillna(0).astype(float)
    frame["n_hidden"] = frame["n_hidden"].astype(int)
    frame["suppressed"] = (frame["n_hidden"] > 0) | frame["mean"].isna()
    frame["partly_suppressed"] = frame["suppressed"] & (
        frame["n_hidden"] < frame["n_characteristics"])
    frame.loc[frame["suppressed"], ["mean", "ci_low", "ci_high", "n_above", "n_below"]] = np.nan
    names = _names(data)
    frame = frame.reset_index()
    frame.insert(1, "collaboration", [names.get(c, c) for c in frame["collaboration_id"]])
    frame["sort"] = np.where(frame["suppressed"], np.inf, -frame["mean"].fillna(0))
    frame = frame.sort_values(["sort", "partly_suppressed", "collaboration"],
                              ascending=[True, False, True]).drop(columns="sort")
    return frame[["collaboration_id", "collaboration", "n", "mean", "ci_low", "ci_high",
                  "n_above", "n_below", "suppressed", "partly_suppressed"]].reset_index(
                      drop=True)


def heatmap_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Collaborations (rows, in :func:`overall_frame` order) x characteristic means
    (columns by characteristic id; NaN where suppressed)."""
    wave = _wave(data, wave)
    scores = _rows(data.benchmark["summaries"], wave)
    shown = scores["mean"].where(~scores["suppressed"].astype(bool))
    wide = (scores.assign(mean=shown)
            .pivot(index="collaboration_id", columns="characteristic", values="mean"))
    order = overall_frame(data, wave=wave)["collaboration_id"]
    ids = [c for c in data.characteristic_names() if c in wide.columns]
    return wide.reindex(index=order, columns=ids)


def verdict_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Every shown collaboration and characteristic against the programme's collaborations,
    from the library's verdict table (``comparator == "all"``): ``n``, ``mean`` with its 95%
    interval, ``peer_median`` (what the interval is tested against) and ``verdict``
    (``"higher"``, ``"in line"``, ``"lower"`` or ``""`` when not compared)."""
    columns = ["collaboration_id", "characteristic", "n", "mean", "ci_low", "ci_high",
               "peer_median", "verdict"]
    rows = _rows(data.benchmark.get("verdicts", pd.DataFrame()), _wave(data, wave))
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows[(rows["comparator"].astype(str) == "all") & ~rows["suppressed"].astype(bool)
                & rows["estimate"].notna()]
    out = rows.rename(columns={"estimate": "mean", "reference_value": "peer_median"})
    out["verdict"] = out["verdict"].astype(object).where(out["verdict"].notna(), "").astype(str)
    return out[columns].reset_index(drop=True)


def change_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Per characteristic: how many collaborations improved, showed no clear change, declined
    or were not tested since the previous wave, and how many are hidden (fewer than the
    threshold in either wave). Empty when there is no previous wave."""
    changes = _rows(data.benchmark.get("change", pd.DataFrame()), _wave(data, wave))
    columns = ["characteristic", "name", *CHANGE_GROUPS.values(), "hidden", "caveat"]
    if changes.empty:
        return pd.DataFrame(columns=columns)
    changes = changes[changes["comparison"] == "previous"]
    hidden = changes["suppressed"].astype(bool)
    verdicts = _rows(data.benchmark.get("verdicts", pd.DataFrame()), _wave(data, wave))
    verdicts = verdicts[verdicts["comparator"].astype(str) == "previous"] if len(
        verdicts) else verdicts
    keys = ["collaboration_id", "characteristic"]
    said = (changes[keys].astype(str).merge(verdicts[[*keys, "verdict"]], on=keys, how="left")
            ["verdict"] if len(verdicts) else pd.Series(None, index=range(len(changes))))
    said = said.astype(object).where(said.notna(), "").to_numpy()
    group = pd.Series(said, index=changes.index).map(CHANGE_GROUPS).where(~hidden, "hidden")
    counts = pd.crosstab(changes["characteristic"], group)
    names = data.characteristic_names()
    ids = [c for c in names if c in counts.index]
    out = counts.reindex(index=ids, columns=[*CHANGE_GROUPS.values(), "hidden"], fill_value=0)
    caveats = changes.groupby("characteristic")["caveat"].agg(
        lambda s: "; ".join(sorted({str(v) for v in s.dropna() if str(v)})))
    out = out.reset_index().rename(columns={"index": "characteristic"})
    out.insert(1, "name", [names[c] for c in out["characteristic"]])
    out["caveat"] = out["characteristic"].map(caveats).fillna("")
    return out[columns]


def differences_frame(data: ReportData, *, wave: str | None = None) -> pd.DataFrame:
    """Welch ANOVA and Kruskal-Wallis across collaborations per characteristic (the
    ``comparison`` table), with the previous wave's omega squared for comparison.

    The number of respondents used is left out: with the shown collaborations' numbers it
    would reveal how many responded in the suppressed ones."""
    wave = _wave(data, wave)
    table = data.benchmark["comparison"]
    now = _rows(table, wave)
    previous = data.previous_wave(wave)
    before = _rows(table, previous) if previous else pd.DataFrame()
    names = data.characteristic_names()
    now = now.set_index("characteristic").reindex([c for c in names if c in set(now["characteristic"])])
    out = now[["f", "df1", "df2", "p_adjusted_welch", "omega2", "h", "df",
               "p_adjusted_kruskal", "epsilon2", "n_groups_used"]].copy()
    out["omega2_previous"] = (before.set_index("characteristic")["omega2"].reindex(out.index)
                              if not before.empty else np.nan)
    out.insert(0, "name", [names[c] for c in out.index])
    return out.rename_axis("characteristic").reset_index()


# --- helpers for drawing ----------------------------------------------------------------------

def _plain(text: str, width: int = 42) -> str:
    """A name for a figure: shortened, and with ``$`` made literal (no mathtext)."""
    text = " ".join(str(text).split())
    if len(text) > width:
        text = text[: width - 1].rstrip() + "\u2026"
    return text.replace("$", r"\$")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _rows_height(n: int, per_row: float = 0.19, extra: float = 1.1) -> float:
    return float(min(max(n, 4), MAX_NAMED) * per_row + extra)


def _luminance(rgb: tuple[float, ...]) -> float:
    """WCAG relative luminance of an RGB colour (0-1 channels)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast_text(rgba: tuple[float, ...]) -> str:
    """Ink or white, whichever contrasts more with a cell colour."""
    cell = _luminance(rgba)
    ink = _luminance(to_rgb(COLOURS["ink"]))
    return "white" if 1.05 / (cell + 0.05) > (cell + 0.05) / (ink + 0.05) else COLOURS["ink"]


def _hidden_note(data: ReportData) -> str:
    return suppressed_text(data.threshold)


def check_links(links: Mapping[str, str] | None) -> dict[str, str]:
    """Collaboration id -> relative link, each checked to be a plain relative path (letters,
    digits, ``. _ - /``): no scheme, no spaces, nothing that could escape an attribute."""
    out = {}
    for key, link in (links or {}).items():
        if not isinstance(link, str) or not _SAFE_LINK.match(link) or "//" in link:
            raise ValueError(f"collaboration_links[{key!r}] must be a relative path of letters, "
                             f"digits and . _ - /; got {link!r}")
        out[str(key)] = link
    return out


def md_name(name: str, link: str | None = None) -> str:
    """A collaboration name for markdown text, escaped, as a link when one is given."""
    return f"[{md_escape(name)}](<{link}>)" if link else md_escape(name)


# --- response rates ---------------------------------------------------------------------------

def response_rate_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """Respondents, invited and response rate of each collaboration, highest rate first."""
    frame = response_frame(data, wave=wave)
    frame = frame.assign(sort=frame["response_rate"].fillna(-1)).sort_values(
        ["suppressed", "sort", "collaboration"], ascending=[True, False, True])
    return table_output(frame.drop(columns="sort"), [
        Column("collaboration", "Collaboration", keep_when_suppressed=True),
        Column("n", "Respondents", fmt_int, numeric=True),
        Column("invited", "Invited", fmt_int, numeric=True, keep_when_suppressed=True),
        Column("response_rate", "Response rate", fmt_percent, numeric=True),
    ], threshold=data.threshold)


def response_rate_chart(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """Response rate of each collaboration (bars, highest first) with the median."""
    frame = response_frame(data, wave=wave)
    shown = frame[~frame["suppressed"] & frame["response_rate"].notna()]
    shown = shown.sort_values("response_rate", ascending=True)
    hidden = int(frame["suppressed"].sum())
    named = len(shown) <= MAX_NAMED
    median = float(shown["response_rate"].median()) if len(shown) else float("nan")
    with figure(7.0, _rows_height(len(shown), 0.17, 1.0)) as (fig, ax):
        y = np.arange(len(shown))
        ax.barh(y, shown["response_rate"] * 100, color=COLOURS["focus"], height=0.7, zorder=2)
        if named:
            ax.set_yticks(y, [_plain(n) for n in shown["collaboration"]], fontsize=7.5)
            for yi, rate in zip(y, shown["response_rate"], strict=True):
                ax.text(rate * 100 + 1, yi, fmt_percent(rate), va="center", fontsize=7,
                        color=COLOURS["ink"], in_layout=False, zorder=3,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3})
        else:
            ax.set_yticks([])
        if len(shown):
            ax.axvline(median * 100, color=COLOURS["ink"], linestyle="--", linewidth=1,
                       zorder=1)
            ax.text(median * 100, len(shown) - 0.3, f" median {fmt_percent(median)}",
                    fontsize=8, va="bottom", color=COLOURS["ink"])
        ax.set_xlim(0, max(100, float(shown["response_rate"].max() * 100 + 8)) if len(shown)
                    else 100)
        ax.set_ylim(-0.7, max(len(shown), 1) - 0.3 + 0.9)
        ax.set_xlabel("Response rate (%)")
        ax.grid(axis="y", visible=False)
        if hidden:
            ax.set_title(_wrap(f"Not shown: {plural(hidden, 'collaboration')} with "
                               f"{_hidden_note(data)}", 80), fontsize=8, loc="left",
                         color=COLOURS["muted"])
        alt = (f"Bar chart of the response rate of {plural(len(shown), 'collaboration')}, "
               f"highest first; the median is {fmt_percent(median)}, and rates run from "
               f"{fmt_percent(shown['response_rate'].min())} to "
               f"{fmt_percent(shown['response_rate'].max())}."
               + (f" {plural(hidden, 'collaboration')} with {_hidden_note(data)} "
                  "are not shown." if hidden else ""))
        return figure_output(fig, alt=alt, data=frame[["collaboration", "n", "invited",
                                                       "response_rate", "suppressed"]])


# --- heatmap ------------------------------------------------------------------------------------

def score_heatmap(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """Collaborations x characteristics, cells shaded by mean score with the score written in
    them; suppressed cells hatched and marked, not shaded."""
    wide = heatmap_frame(data, wave=wave)
    names = _names(data)
    chars = data.characteristic_names()
    values = wide.to_numpy(dtype=float)
    rows, cols = values.shape
    named = rows <= MAX_NAMED
    finite = values[np.isfinite(values)]
    low = np.floor(finite.min() * 4) / 4 if finite.size else 1.0
    high = np.ceil(finite.max() * 4) / 4 if finite.size else 5.0
    norm = Normalize(vmin=low, vmax=max(high, low + 0.25))
    # The lighter 60% of the palette: dark text on every cell stays above 4.5:1 contrast
    # (WCAG AA), which no single text colour achieves on the palette's middle shades.
    cmap = ListedColormap(colormaps[SEQUENTIAL](np.linspace(0.02, 0.62, 256)))
    height = _rows_height(rows, 0.22, 1.9) if named else 7.0
    with figure(8.5, height) as (fig, ax):
        masked = np.ma.masked_invalid(values)
        image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto",
                          interpolation="nearest")
        for i, j in zip(*np.nonzero(~np.isfinite(values)), strict=True):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white",
                                   edgecolor="#b3b3b3", hatch="////", linewidth=0))
            if named:
                ax.text(j, i, f"<{data.threshold}", ha="center", va="center", fontsize=7,
                        color=COLOURS["ink"], in_layout=False)
        if named:
            for i, j in zip(*np.nonzero(np.isfinite(values)), strict=True):
                ax.text(j, i, fmt_number(values[i, j]), ha="center", va="center", fontsize=7,
                        color=_contrast_text(cmap(norm(values[i, j]))), in_layout=False)
            ax.set_yticks(range(rows), [_plain(names.get(c, c), 38) for c in wide.index],
                          fontsize=7.5)
        else:
            ax.set_yticks([])
        ax.set_xticks(range(cols), [_wrap(chars[c], 13) for c in wide.columns], fontsize=6.8)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(image, ax=ax, location="bottom", shrink=0.5, pad=0.01, aspect=30)
        bar.set_label(f"Average score (1 to 5); hatched: {_hidden_note(data)}", fontsize=8)
        bar.ax.tick_params(labelsize=7)
        means = wide.mean(axis=0)
        shown_rows = int(np.isfinite(values).any(axis=1).sum())
        alt = (f"Heatmap of the average scores of {plural(shown_rows, 'collaboration')} on "
               f"{plural(cols, 'characteristic')}, collaborations ordered by their average "
               f"across characteristics, highest first, each score written in its cell. "
               + (f"The programme scores highest on {chars[means.idxmax()]} "
                  f"and lowest on {chars[means.idxmin()]}. " if means.notna().any() else "")
               + f"{plural(rows - shown_rows, 'collaboration')} with {_hidden_note(data)} "
               "are shown as hatched cells without a score.")
        table = wide.rename(columns=chars).reset_index()
        table.insert(0, "collaboration", [names.get(c, c) for c in table.pop("collaboration_id")])
        table["note"] = np.where(wide.isna().any(axis=1).to_numpy(),
                                 f"some or all figures: {_hidden_note(data)}", "")
        return figure_output(fig, alt=alt, data=table)


# --- league table -------------------------------------------------------------------------------

def _score_label(data: ReportData, characteristic: str | None) -> str:
    if characteristic is None:
        return "Average across characteristics"
    return data.characteristic_names()[characteristic]


def league_chart(data: ReportData, *, wave: str | None = None,
                 characteristic: str | None = None) -> FigureOutput:
    """Each collaboration's score with its 95% interval (a caterpillar plot), highest first,
    with the average of all collaborations."""
    frame = overall_frame(data, wave=wave, characteristic=characteristic)
    shown = frame[~frame["suppressed"]].iloc[::-1]
    hidden = _not_shown(data, frame)
    named = len(shown) <= MAX_NAMED
    average = float(shown["mean"].mean()) if len(shown) else float("nan")
    with figure(7.0, _rows_height(len(shown), 0.19, 1.1)) as (fig, ax):
        y = np.arange(len(shown))
        ax.hlines(y, shown["ci_low"], shown["ci_high"], color=COLOURS["focus"], linewidth=1.6)
        ax.plot(shown["mean"], y, MARKERS["focus"], color=COLOURS["focus"], markersize=4.5,
                markeredgecolor="white", markeredgewidth=0.5)
        if len(shown):
            ax.axvline(average, color=COLOURS["ink"], linestyle="--", linewidth=1)
            ax.text(average, len(shown) - 0.3, f" average {fmt_number(average)}", fontsize=8,
                    va="bottom", color=COLOURS["ink"])
        if named:
            ax.set_yticks(y, [_plain(n) for n in shown["collaboration"]], fontsize=7.5)
        else:
            ax.set_yticks([])
        ax.set_ylim(-0.7, max(len(shown), 1) - 0.3 + 0.9)
        ax.set_xlabel(f"{_score_label(data, characteristic)} (1 to 5), with 95% interval")
        ax.grid(axis="y", visible=False)
        if hidden:
            ax.set_title(_wrap(f"Not shown: {hidden}", 90), fontsize=8, loc="left",
                         color=COLOURS["muted"])
        overlap = overlap_share(shown)
        what = ("average across characteristics" if characteristic is None else
                f"average score on {_score_label(data, characteristic)}")
        alt = (f"Dot plot of the {what} of "
               f"{plural(len(shown), 'collaboration')}, highest first, each with a horizontal "
               f"line for its 95% interval, and a dashed line at the average of "
               f"{fmt_number(average)}. Scores run from {fmt_number(shown['mean'].min())} to "
               f"{fmt_number(shown['mean'].max())}; {fmt_percent(overlap)} of pairs of "
               "collaborations have overlapping intervals, so most of the order is uncertain."
               + (f" Not shown: {hidden}." if hidden else ""))
        return figure_output(fig, alt=alt, data=frame.drop(columns="collaboration_id"))


def _not_shown(data: ReportData, frame: pd.DataFrame) -> str:
    """Which collaborations a league chart leaves out, in words ("" when none)."""
    partly = int(frame["partly_suppressed"].sum())
    fully = int(frame["suppressed"].sum()) - partly
    parts = []
    if fully:
        parts.append(f"{plural(fully, 'collaboration')} with {_hidden_note(data)}")
    if partly:
        parts.append(f"{plural(partly, 'collaboration')} with {_hidden_note(data)} on some "
                     "characteristics")
    return " and ".join(parts)


def overlap_share(frame: pd.DataFrame) -> float:
    """Share of pairs of collaborations whose intervals (``ci_low``, ``ci_high``) overlap."""
    low, high = frame["ci_low"].to_numpy(), frame["ci_high"].to_numpy()
    if len(low) < 2:
        return float("nan")
    overlap = (low[:, None] <= high[None, :]) & (low[None, :] <= high[:, None])
    upper = np.triu_indices(len(low), 1)
    return float(overlap[upper].mean())


def league_table(data: ReportData, *, wave: str | None = None,
                 characteristic: str | None = None,
                 collaboration_links: Mapping[str, str] | None = None) -> TableOutput:
    """Each collaboration's score with its 95% interval and how many characteristics the
    verdict table puts higher or lower than the programme's collaborations; names linked when
    links given."""
    links = check_links(collaboration_links)
    frame = overall_frame(data, wave=wave, characteristic=characteristic)
    hidden = suppressed_text(data.threshold)
    partly = f"{hidden} on some characteristics"
    display = frame.assign(
        suppressed=frame["suppressed"] & ~frame["partly_suppressed"],
        interval=[fmt_ci(lo, hi) for lo, hi in zip(frame["ci_low"], frame["ci_high"],
                                                     strict=True)],
        name=[f"\x00{i}\x00" if c in links else n for i, (c, n) in
              enumerate(zip(frame["collaboration_id"], frame["collaboration"], strict=True))])
    columns = [
        Column("name", "Collaboration", keep_when_suppressed=True),
        Column("n", "Respondents", lambda v: fmt_int(v, missing=hidden), numeric=True,
               keep_when_suppressed=True),
        Column("mean", _score_label(data, characteristic),
               lambda v: fmt_number(v, missing=partly), numeric=True),
        Column("interval", "95% interval", numeric=True),
    ]
    if characteristic is None:
        of = len(data.characteristic_names())
        columns += [Column("n_above", f"Higher than the median (of {of})", fmt_int,
                           numeric=True),
                    Column("n_below", f"Lower than the median (of {of})", fmt_int,
                           numeric=True)]
    else:
        verdicts = verdict_frame(data, wave=wave)
        verdicts = verdicts[verdicts["characteristic"] == characteristic].set_index(
            "collaboration_id")["verdict"]
        display["compared"] = [verdicts.get(c, "") or "–" for c in frame["collaboration_id"]]
        columns.append(Column("compared", "Compared with the programme's median"))
    table = table_output(display, columns, threshold=data.threshold,
                         data=frame.drop(columns="collaboration_id"))
    html, markdown = table.html, table.markdown
    for i, (cid, name) in enumerate(zip(frame["collaboration_id"], frame["collaboration"],
                                        strict=True)):
        if cid in links:
            token = f"\x00{i}\x00"
            html = html.replace(token, f'<a href="{html_escape(links[cid])}">'
                                       f"{html_escape(name)}</a>")
            markdown = markdown.replace(token, md_name(name, links[cid]))
    return TableOutput(html=html, markdown=markdown, data=table.data)


# --- against the programme: what the verdict table decided, drawn as tested -------------------

_VERDICT_STYLE = {"higher": (MARKERS["good"], COLOURS["good"]),
                  "in line": (MARKERS["peer"], COLOURS["neutral"]),
                  "lower": (MARKERS["bad"], COLOURS["bad"])}


def verdict_plots(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """One panel per characteristic: each collaboration's mean with its 95% interval against
    its number of respondents, and the programme's median as a line. A collaboration is
    *higher* (or *lower*) exactly when its interval lies wholly above (below) the line: the
    marker is the verdict table's."""
    frame = verdict_frame(data, wave=wave)
    chars = data.characteristic_names()
    ids = [c for c in chars if c in set(frame["characteristic"])] or list(chars)
    ncols = 4
    nrows = int(np.ceil(len(ids) / ncols))
    counts = frame["verdict"].value_counts()
    with figure(9.0, 2.5 * nrows + 0.7, nrows=nrows, ncols=ncols, sharex=True,
                sharey=True, squeeze=False) as (fig, axes):
        for ax, cid in zip(axes.flat, ids, strict=False):
            part = frame[frame["characteristic"] == cid]
            ax.set_title(_wrap(chars[cid], 30), fontsize=8.5, loc="left")
            if part.empty:
                continue
            median = part["peer_median"].dropna()
            if len(median):
                ax.axhline(float(median.iloc[0]), color=COLOURS["ink"], linewidth=0.9)
            for label, (marker, colour) in _VERDICT_STYLE.items():
                points = part[part["verdict"] == label]
                ax.vlines(points["n"], points["ci_low"], points["ci_high"], color=colour,
                          linewidth=0.8, alpha=0.8)
                ax.plot(points["n"], points["mean"], marker, color=colour, markersize=4.5,
                        linestyle="none", markeredgecolor=COLOURS["ink"],
                        markeredgewidth=0.4)
        for ax in axes.flat[len(ids):]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("Respondents", fontsize=8)
        for ax in axes[:, 0]:
            ax.set_ylabel("Average score", fontsize=8)
        for ax in axes.flat:
            ax.tick_params(labelsize=7)
        handles = [Line2D([], [], color=COLOURS["ink"], linewidth=0.9,
                          label="Median of the programme's collaborations")]
        handles += [Line2D([], [], marker=m, color=c, linestyle="none", markeredgewidth=0.4,
                           markeredgecolor=COLOURS["ink"], label=f"{label.capitalize()} "
                           f"({int(counts.get(label, 0))})")
                    for label, (m, c) in _VERDICT_STYLE.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8)
        total = len(frame)
        higher, lower = int(counts.get("higher", 0)), int(counts.get("lower", 0))
        alt = (f"Eight panels, one per characteristic, of each collaboration's average score "
               f"with its 95% interval against its number of respondents, and a line at the "
               f"median of the programme's collaborations. Of {total} collaboration scores "
               f"shown, {higher} are higher than the median (the whole interval above the "
               f"line), {lower} lower, and {int(counts.get('in line', 0))} in line.")
        names = _names(data)
        table = frame.assign(collaboration=[names.get(c, c) for c in frame["collaboration_id"]],
                             characteristic=[chars.get(c, c) for c in frame["characteristic"]])
        return figure_output(fig, alt=alt, data=table[[
            "collaboration", "characteristic", "n", "mean", "ci_low", "ci_high", "peer_median",
            "verdict"]])


def verdict_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """Collaborations x characteristics: higher than, in line with or lower than the
    programme's collaborations, from the verdict table (collaborations in
    :func:`overall_frame` order)."""
    frame = verdict_frame(data, wave=wave)
    chars = data.characteristic_names()
    order = overall_frame(data, wave=wave)
    wide = frame.pivot(index="collaboration_id", columns="characteristic", values="verdict")
    wide = wide.reindex(index=order["collaboration_id"], columns=list(chars))
    wide.columns = list(chars)
    wide.insert(0, "collaboration", order["collaboration"].to_numpy())
    wide["suppressed"] = wide[list(chars)].isna().all(axis=1).to_numpy()
    wide = wide.reset_index(drop=True)
    hidden = suppressed_text(data.threshold)
    return table_output(wide, [Column("collaboration", "Collaboration", keep_when_suppressed=True)] + [
        Column(c, chars[c], lambda v: hidden if v is None or v != v else (str(v) or "–"))
        for c in chars], threshold=data.threshold)


# --- change since the last wave -----------------------------------------------------------------

def change_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """Per characteristic: collaborations that improved, showed no clear change or declined
    since the previous wave, and those not shown."""
    frame = change_frame(data, wave=wave)
    return table_output(frame, [
        Column("name", "Characteristic"),
        Column("improved", "Improved", fmt_int, numeric=True),
        Column("no clear change", "No clear change", fmt_int, numeric=True),
        Column("declined", "Declined", fmt_int, numeric=True),
        Column("not tested", "Not tested", fmt_int, numeric=True),
        Column("hidden", f"Not shown ({suppressed_text(data.threshold)})", fmt_int,
               numeric=True),
    ])


def change_chart(data: ReportData, *, wave: str | None = None) -> FigureOutput:
    """Diverging bars per characteristic: collaborations that declined (left) and improved
    (right) since the previous wave, with the counts written at the bar ends and, beside each
    bar, how many showed no clear change or were not shown."""
    frame = change_frame(data, wave=wave)
    hidden = suppressed_text(data.threshold)
    with figure(7.5, 0.42 * max(len(frame), 3) + 1.2) as (fig, ax):
        y = np.arange(len(frame))[::-1]
        declined = frame["declined"].to_numpy(dtype=float)
        improved = frame["improved"].to_numpy(dtype=float)
        reach = max(float(np.max(declined, initial=0)), float(np.max(improved, initial=0)), 2)
        ax.barh(y, -declined, color=LIKERT[0], hatch="\\\\\\", edgecolor="white",
                linewidth=0, height=0.6, label="Declined")
        ax.barh(y, improved, color=LIKERT[4], height=0.6, label="Improved")
        pad = reach * 0.04
        for yi, d, i in zip(y, declined, improved, strict=True):
            ax.text(-d - pad, yi, f"{int(d)}", ha="right", va="center", fontsize=8,
                    color=COLOURS["ink"], in_layout=False)
            ax.text(i + pad, yi, f"{int(i)}", ha="left", va="center", fontsize=8,
                    color=COLOURS["ink"], in_layout=False)
        ax.axvline(0, color=COLOURS["ink"], linewidth=0.8)
        ax.set_xlim(-reach * 1.25, reach * 1.25)
        ticks = ax.get_xticks()
        ticks = ticks[(ticks == np.round(ticks)) & (np.abs(ticks) <= reach * 1.25)]
        ax.set_xticks(ticks, [str(abs(int(t))) for t in ticks])
        ax.set_xlabel("\u2190 collaborations that declined      collaborations that improved "
                      "\u2192")
        ax.set_yticks(y, [_wrap(n, 34) for n in frame["name"]], fontsize=8)
        ax.set_ylim(-0.6, len(frame) - 0.4)
        ax.grid(axis="y", visible=False)
        side = ax.twinx()
        side.set_ylim(ax.get_ylim())
        side.set_yticks(y, [f"no clear change {int(n)}; not shown {int(h)}"
                            if h else f"no clear change {int(n)}"
                            for n, h in zip(frame["no clear change"], frame["hidden"],
                                            strict=True)], fontsize=7.5,
                        color=COLOURS["muted"])
        side.tick_params(length=0)
        side.grid(False)
        side.spines[["right", "top"]].set_visible(False)
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
        total_improved, total_declined = int(improved.sum()), int(declined.sum())
        tested = n_tested(frame)
        alt = (f"Diverging bar chart, one row per characteristic, of how many collaborations "
               f"declined (bars to the left) or improved (bars to the right) since the "
               f"previous wave. Across all characteristics, {total_improved} of {tested} "
               f"comparisons improved and {total_declined} declined; the rest showed no clear "
               f"change. Collaborations with {hidden} in either wave are not shown.")
        return figure_output(fig, alt=alt, data=frame.drop(columns="caveat"))


def n_tested(frame: pd.DataFrame) -> int:
    """Comparisons tested in a :func:`change_frame` (improved, no clear change, declined)."""
    return int(frame[["improved", "no clear change", "declined"]].to_numpy().sum())


# --- differences between collaborations ----------------------------------------------------------

def _p(value: float) -> str:
    if value != value:
        return "–"
    return "< 0.001" if value < 0.001 else fmt_number(value, 3)


def effect_words(omega2: float) -> str:
    """Plain size of omega squared: below 0.01 negligible, 0.06 small, 0.14 medium, else large
    (Cohen 1988, as used for eta and omega squared, e.g. Field 2013)."""
    if omega2 != omega2:
        return "not computed"
    return ("negligible" if omega2 < 0.01 else "small" if omega2 < 0.06
            else "medium" if omega2 < 0.14 else "large")


def differences_table(data: ReportData, *, wave: str | None = None) -> TableOutput:
    """Per characteristic: Welch's ANOVA and the Kruskal-Wallis test across collaborations,
    p-values adjusted across characteristics (Benjamini-Hochberg), with effect sizes."""
    frame = differences_frame(data, wave=wave)
    frame["welch"] = [f"F({fmt_number(a, 0)}, {fmt_number(b, 1)}) = {fmt_number(f)}"
                      for f, a, b in zip(frame["f"], frame["df1"], frame["df2"], strict=True)]
    frame["kruskal"] = [f"H({fmt_number(d, 0)}) = {fmt_number(h, 1)}"
                        for h, d in zip(frame["h"], frame["df"], strict=True)]
    frame["size"] = frame["omega2"].map(effect_words)
    previous = frame["omega2_previous"].notna().any()
    columns = [
        Column("name", "Characteristic"),
        Column("welch", "Welch's ANOVA", numeric=True),
        Column("p_adjusted_welch", "Adjusted p", _p, numeric=True),
        Column("omega2", "Omega squared", lambda v: fmt_number(v, 3), numeric=True),
        Column("size", "Size of differences"),
        Column("kruskal", "Kruskal-Wallis", numeric=True),
        Column("p_adjusted_kruskal", "Adjusted p (ranks)", _p, numeric=True),
        Column("epsilon2", "Epsilon squared", lambda v: fmt_number(v, 3), numeric=True),
    ]
    if previous:
        columns.append(Column("omega2_previous", "Omega squared, previous wave",
                              lambda v: fmt_number(v, 3), numeric=True))
    return table_output(frame, columns, data=differences_frame(data, wave=wave))
