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

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from ..data import ReportData
from ..notebook import FigureOutput, TableOutput
from ..style import (
    COLOURS,
    LIKERT,
    MARKERS,
    SEQUENTIAL,
    LegendEntry,
    SvgFigure,
    legend,
    plot_area,
    rc,
    spines,
    x_axis,
    y_labels,
)
from ..tables import Column, table_output
from ..text import fmt_ci, fmt_int, fmt_number, fmt_percent, html_escape, plural, suppressed_text

__all__ = [
    "COMPARISON_WORDS",
    "MAP_MAX_SECTORS",
    "SECONDARY",
    "VERDICT_WORDS",
    "band_words",
    "breakdown_frame",
    "comparator_words",
    "panel_frame",
    "panel_table",
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
    "sector_summary",
    "sector_ties_frame",
    "sector_ties_table",
    "shown_groups",
    "strongest_links",
    "trend_figure",
    "trend_frame",
    "trend_table",
    "trend_table_frame",
    "value_modes_figure",
    "value_modes_frame",
    "value_modes_table",
    "verdict_rows",
]

SCALE = "mean score from 1 (strongly disagree) to 5 (strongly agree)"
COMPARISON_WORDS = {"higher": "Higher than peers", "in line": "In line with peers",
                    "lower": "Lower than peers"}
#: Words for a change verdict and a trend verdict of the verdict table.
VERDICT_WORDS = {"improved": "Improved", "declined": "Declined",
                 "no clear change": "No clear change", "improving": "Improving",
                 "declining": "Declining", "no clear trend": "No clear trend"}
SECONDARY = "not shown, to protect a smaller group"
_TEXT_PATH = TextToPath()
_PEER_COLUMNS = ("peer_n", "peer_worst", "peer_lower_quartile", "peer_median",
                 "peer_upper_quartile", "peer_best")


# -- selecting rows ------------------------------------------------------------------------------

def rows_for(data: ReportData, table: str, collaboration: str, wave: str | None = None, *,
             group: str = "benchmark") -> pd.DataFrame:
    """One collaboration's rows of a benchmark (or, with ``group="psychometrics"``,
    psychometric) table, optionally of one wave, as a copy with ``collaboration_id``,
    ``wave_id`` and ``characteristic`` as plain text; empty when the table is absent."""
    rows = _collaboration_rows(data, group, table, collaboration, wave)
    if rows is None:
        return pd.DataFrame()
    # copy-on-write: a shallow copy behaves as a copy, and copies only what a caller changes
    return rows.copy(deep=False)


@lru_cache(maxsize=256)
def _collaboration_rows(data: ReportData, group: str, table: str, collaboration: str,
                        wave: str | None = None) -> pd.DataFrame | None:
    """A collaboration's rows of one table (of one wave, when given and the table has waves),
    keys as plain text; ``None`` when the table or the collaboration is not there (cached:
    a report asks for the same rows many times)."""
    index = _row_index(data, group, table)
    if index is None or collaboration not in index[1]:
        return None
    keyed, positions = index
    rows = positions[collaboration]
    if wave is not None and "wave_id" in keyed.columns:
        rows = positions.get((collaboration, wave), rows[:0])
    return keyed.iloc[rows].reset_index(drop=True)


_KEYS = ("collaboration_id", "wave_id", "characteristic")


@lru_cache(maxsize=64)
def _row_index(data: ReportData, group: str, table: str,
               ) -> tuple[pd.DataFrame, dict[Any, np.ndarray]] | None:
    """A table with its keys (:data:`_KEYS`) as plain text, and the row positions (in table
    order) of each collaboration and each (collaboration, wave) pair; ``None`` without the
    table or its ``collaboration_id``. Made once per table, so that building a report for
    each of many collaborations neither rescans nor converts the tables."""
    frame = getattr(data, group).get(table)
    if frame is None or not len(frame) or "collaboration_id" not in frame.columns:
        return None
    keyed = frame.assign(**{k: frame[k].astype(str) for k in _KEYS if k in frame.columns})
    positions: dict[Any, np.ndarray] = dict(keyed.groupby("collaboration_id").indices)
    if "wave_id" in keyed.columns:
        positions |= keyed.groupby(["collaboration_id", "wave_id"]).indices
    return keyed, positions


def _memo(function: Any) -> Any:
    """Remember a frame helper's recent results and hand out copies.

    A report asks for the same frame for a figure, its table and the sentences around them;
    computing it once saves most of the pandas work. Keys are the arguments as given
    (:class:`ReportData` hashes by identity); callers may change the copies they get. The
    copies are shallow: with pandas' copy-on-write, changing one copies only what changes.
    """
    cached = lru_cache(maxsize=32)(function)

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = cached(*args, **kwargs)
        if isinstance(result, pd.DataFrame):
            return result.copy(deep=False)
        return {k: (v.copy(deep=False) if isinstance(v, pd.DataFrame) else
                    v.copy() if isinstance(v, dict) else v) for k, v in result.items()}

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
    first: dict[str, int] = {}  # each wave's first row
    for i, w in enumerate(rows["wave_id"].tolist() if len(rows) else []):
        first.setdefault(w, i)
    values = {c: rows[c].tolist() for c in ("n", "invited", "response_rate", "suppressed")
              if c in rows.columns}
    records = []
    for w in waves:
        i = first.get(w.id)
        if i is None and w.id not in present:
            continue
        n = float(values["n"][i]) if i is not None else 0.0
        inv = float(values["invited"][i]) if i is not None else float(invited.get(w.id, np.nan))
        rate = float(values["response_rate"][i]) if i is not None else (
            0.0 if inv > 0 else np.nan)
        flagged = i is not None and "suppressed" in values and bool(values["suppressed"][i])
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
    return frozenset(data.benchmark["summaries"]["wave_id"].drop_duplicates().astype(str).tolist())


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

_VERDICT_TEXT = ("verdict", "highlight", "reason", "items", "items_left_out")
_VERDICT_NUMBERS = ("reference_value", "difference", "d", "estimate", "ci_low", "ci_high")


@_memo
def verdict_rows(data: ReportData, collaboration: str, wave: str, comparator: str) -> pd.DataFrame:
    """The collaboration's rows of the library's verdict table for one wave and comparator
    (a peer set, ``"previous"``, ``"baseline"`` or ``"trend"``), one per characteristic in
    framework order; ``verdict`` and ``highlight`` are ``""`` where there is none."""
    keys = list(data.characteristic_names())
    rows = rows_for(data, "verdicts", collaboration, wave)
    wanted = ["verdict", "highlight", *_VERDICT_NUMBERS, "reason", "items", "items_left_out",
              "reference_wave_id", "suppressed"]
    if len(rows) and (rows["comparator"].astype(str) == comparator).any():
        columns = _aligned(rows, [(comparator, k) for k in keys], wanted,
                           on=("comparator", "characteristic"))
    else:
        columns = {c: np.full(len(keys), np.nan) for c in wanted}
    for column in _VERDICT_TEXT:
        columns[column] = _texts(columns[column])
    hidden = _flags(columns["suppressed"], missing=True)
    columns["suppressed"] = hidden
    for column in ("verdict", "highlight"):
        columns[column] = np.where(hidden, "", columns[column])
    for column in _VERDICT_NUMBERS:
        columns[column] = _floats(columns[column])
    return pd.DataFrame({"characteristic": keys, **columns})


def _aligned(rows: pd.DataFrame, keys: Sequence[Any], columns: Sequence[str], *,
             on: str | tuple[str, ...] = "characteristic") -> dict[str, Any]:
    """``columns`` of ``rows`` (at most one row per key) in the order of ``keys``, matched on
    column ``on`` (or on several columns, the keys then tuples), as a left merge gives them:
    missing where a key has no row (integers then as floats, booleans as objects; other
    dtypes kept). One pass instead of a merge: for a few rows a merge costs a millisecond or
    more."""
    found = (rows[on].astype(str).tolist() if isinstance(on, str) else
             list(zip(*(rows[c].astype(str).tolist() for c in on), strict=True)))
    where = {k: i for i, k in enumerate(found)}
    take = np.array([where.get(k, -1) for k in keys], dtype=np.intp)
    fill = bool((take < 0).any())
    out = {}
    for column in columns:
        values = rows[column].array
        values = (pd.api.extensions.take(values, take, allow_fill=True) if fill
                  else values.take(take))
        # text in an object column stays object (a frame made of it would read it as str)
        out[column] = (pd.Series(values, dtype=object)
                       if pd.api.types.is_object_dtype(values.dtype) else values)
    return out


def _texts(values: Any) -> np.ndarray:
    """Values as text, ``""`` where missing (``astype(object).where(notna, "")``)."""
    return np.array(["" if pd.isna(v) else str(v) for v in values], dtype=object)


def _flags(values: Any, *, missing: bool) -> np.ndarray:
    """Values as booleans, ``missing`` where missing."""
    return np.array([missing if pd.isna(v) else bool(v) for v in values], dtype=bool)


def _blanked(values: Any, hidden: np.ndarray) -> Any:
    """Values with NaN where ``hidden``, as ``frame.loc[hidden, column] = np.nan`` leaves
    them: numpy floats directly, other columns through pandas."""
    if isinstance(values, np.ndarray | pd.arrays.NumpyExtensionArray) and values.dtype.kind == "f":
        return np.where(hidden, np.nan, values)
    column = pd.Series(values)
    column[hidden] = np.nan
    return column.array


def _floats(values: Any) -> np.ndarray:
    """Values as floats, NaN where missing or not a number (``pd.to_numeric(errors=
    "coerce")``)."""
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        return values.astype(float)
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


@_memo
def characteristic_frame(data: ReportData, collaboration: str, wave: str,
                         peer_set: str = "all") -> pd.DataFrame:
    """One row per characteristic (framework order): the collaboration's summary (n, mean,
    CI, band, suppressed), its peer distribution for ``peer_set``, and from the library's
    verdict table its ``verdict`` against those peers (``"higher"``, ``"in line"``,
    ``"lower"`` or ``""``), ``highlight`` (``"strength"``, ``"area to develop"`` or ``""``)
    and ``d`` (the difference from the peer median in standard deviations); ``favourable``
    is the share of favourable answers."""
    names = data.characteristic_names()
    keys = list(names)
    columns: dict[str, Any] = {"characteristic": keys, "name": list(names.values())}
    columns |= _summary_columns(rows_for(data, "summaries", collaboration, wave), keys)
    columns["suppressed"] = _flags(columns["suppressed"], missing=True)
    peers = rows_for(data, "peers", collaboration, wave)
    if len(peers):
        columns |= _aligned(peers, [(peer_set, k) for k in keys], ["peer_key", *_PEER_COLUMNS],
                            on=("peer_set", "characteristic"))
    else:  # as a merge with an empty frame leaves them
        columns |= {c: np.full(len(keys), np.nan, dtype=object)
                    for c in ("peer_key", *_PEER_COLUMNS)}
    verdicts = verdict_rows(data, collaboration, wave, peer_set)
    for column, source in (("verdict", "verdict"), ("highlight", "highlight"), ("d", "d"),
                           ("deviation", "difference"), ("verdict_reason", "reason")):
        columns[column] = verdicts[source].to_numpy()
    columns["favourable"] = _favourable(rows_for(data, "favourable", collaboration, wave), keys)
    for column in ("n", "mean", "sd", "ci_low", "ci_high", "peer_n", "peer_worst",
                   "peer_lower_quartile", "peer_median", "peer_upper_quartile", "peer_best",
                   "deviation", "d", "favourable"):
        columns[column] = _floats(columns[column])
    # Belt and braces: nothing of a suppressed characteristic survives.
    hidden = columns["suppressed"]
    for column in ("n", "mean", "sd", "ci_low", "ci_high", "deviation", "d", "favourable"):
        columns[column] = np.where(hidden, np.nan, columns[column])
    for column in ("verdict", "highlight"):
        columns[column] = np.where(hidden, "", columns[column])
    band = np.array(["" if h or pd.isna(b) else b for b, h in zip(columns["band"], hidden,
                                                                   strict=True)], dtype=object)
    columns["band"] = pd.Series(band, dtype=object)  # object, as the merged frame had it
    return pd.DataFrame(columns)


def _summary_columns(summary: pd.DataFrame, keys: Sequence[str]) -> dict[str, Any]:
    """A characteristic's summary columns in the order of ``keys``; without a summary, no
    responses (and so suppressed)."""
    if not len(summary):
        n = len(keys)
        return {**{c: np.full(n, np.nan) for c in ("n", "mean", "sd", "ci_low", "ci_high")},
                "band": np.full(n, None, dtype=object), "suppressed": np.ones(n, dtype=bool),
                "suppressed_reason": np.full(n, "no responses", dtype=object)}
    keep = ["n", "mean", "sd", "ci_low", "ci_high", "band", "suppressed", "suppressed_reason"]
    return _aligned(summary, keys, [c for c in keep if c in summary.columns])


def _favourable(favourable: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """The share of favourable answers per characteristic in the order of ``keys``, NaN
    where hidden or missing."""
    if not len(favourable) or "favourable_share" not in favourable:
        return np.full(len(keys), np.nan)
    columns = _aligned(favourable, keys, ["favourable_share", "suppressed"])
    hidden = _flags(columns["suppressed"], missing=True)
    return np.where(hidden, np.nan, _floats(columns["favourable_share"]))


#: The verdicts against peers in the panel's few words.
PANEL_WORDS = {"higher": "Higher", "in line": "In line", "lower": "Lower"}


def band_words(data: ReportData) -> dict[str, str]:
    """The instrument's bands (``band`` of the summaries) with their labels and limits, e.g.
    ``{"strength": "Strength (4.0 or more)", ...}``."""
    bands = sorted(data.family.latest.scoring.bands, key=lambda b: -b.min)
    words, upper = {}, None
    for band in bands:
        words[band.id] = (f"{band.label} ({band.min:.1f} or more)" if upper is None else
                          f"{band.label} ({band.min:.1f} to {upper - 0.01:.2f})")
        upper = band.min
    return words


def comparator_words(data: ReportData, collaboration: str, peer_set: str) -> str:
    """Who a collaboration is compared with, for a sentence: "the programme's
    collaborations" or e.g. "its peer group (Place-based partnerships)"."""
    if peer_set == "all":
        return "the programme's collaborations"
    collab = data.collaboration(collaboration)
    if peer_set == "peer_group":
        name = next((g.name for g in data.programme.peer_groups if g.id == collab.peer_group),
                    collab.peer_group)
        return f"its peer group ({name})"
    value = getattr(collab, peer_set, None)
    return f"collaborations with the same {peer_set.replace('_', ' ')} ({value})"


@_memo
def panel_frame(data: ReportData, collaboration: str, wave: str,
                peer_set: str = "all") -> pd.DataFrame:
    """The first-screen panel: per characteristic the score and CI, band, favourable share,
    the verdict against ``peer_set`` and the change since the previous wave (verdicts from
    the library's verdict table)."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    change = change_frame(data, collaboration, wave) if data.previous_wave(wave) else None
    if change is not None and len(change):
        frame["change"] = change["change"].to_numpy(dtype=float)
        frame["change_verdict"] = np.where(change["suppressed"].to_numpy(), "",
                                           change["verdict"].to_numpy())
        frame["change_hidden"] = change["suppressed"].to_numpy()
    else:
        frame["change"] = np.nan
        frame["change_verdict"] = ""
        frame["change_hidden"] = change is not None
    return frame


def panel_table(data: ReportData, *, collaboration: str, wave: str,
                peer_set: str = "all") -> TableOutput:
    """At a glance: the eight characteristics with score, band, favourable share, the
    verdict against peers and the change since the previous wave."""
    frame = panel_frame(data, collaboration, wave, peer_set).copy()
    hidden = "not shown"
    shown = ~frame["suppressed"].to_numpy()
    frame["score"] = [f"{fmt_number(m)} ({fmt_ci(a, b)})" if ok else hidden
                      for m, a, b, ok in zip(frame["mean"], frame["ci_low"], frame["ci_high"],
                                             shown, strict=True)]
    bands = {b.id: b.label for b in data.family.latest.scoring.bands}
    frame["band_words"] = [bands.get(b, "–") if ok else hidden
                           for b, ok in zip(frame["band"], shown, strict=True)]
    frame["favourable_words"] = [fmt_percent(f) if ok else hidden
                                 for f, ok in zip(frame["favourable"], shown, strict=True)]
    frame["against"] = [
        hidden if not ok else (PANEL_WORDS.get(v, "Not compared") + (f": {h}" if h else ""))
        for v, h, ok in zip(frame["verdict"], frame["highlight"], shown, strict=True)]
    columns = [
        Column("name", "Characteristic"),
        Column("score", "Score (95% CI)", str, numeric=True),
        Column("band_words", "Band", str),
        Column("favourable_words", "Favour\u00adable", str, numeric=True),
        Column("against", "Against peers", str),
    ]
    previous = data.previous_wave(wave)
    if previous is not None:
        frame["since"] = [
            hidden if h else (f"{fmt_number(c, sign=True)} {VERDICT_WORDS.get(v, '').lower()}"
                              if v else "not tested")
            for c, v, h in zip(frame["change"], frame["change_verdict"], frame["change_hidden"],
                               strict=True)]
        label = _wave_labels(data).get(previous, previous)
        columns.append(Column("since", f"Change since {label}", str))
    download = frame[["characteristic", "name", "n", "mean", "ci_low", "ci_high", "band",
                      "favourable", "verdict", "highlight", "change", "change_verdict",
                      "suppressed"]]
    # "not shown" is written in place, so no row is blanked as a whole
    return table_output(frame.drop(columns="suppressed"), columns, threshold=data.threshold,
                        data=download, css_class="cs-table cs-panel")


def peers_figure(data: ReportData, *, collaboration: str, wave: str,
                 peer_set: str = "all") -> FigureOutput:
    """Dot plot: the collaboration's mean and 95% CI per characteristic against the peers'
    median, interquartile range and lowest and highest means."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    n_rows = len(frame)
    y = np.arange(n_rows)[::-1].astype(float)
    shown = ~frame["suppressed"].to_numpy() & frame["mean"].notna().to_numpy()
    has_peers = frame["peer_median"].notna().to_numpy()
    p, s = frame[has_peers], frame[shown]
    values = np.r_[s["ci_low"], s["ci_high"], p["peer_worst"], p["peer_best"]]
    fig = SvgFigure(7.4, 0.52 * n_rows + 1.5)
    area = plot_area(fig, left=2.45, right=1.3, top=0.1, bottom=1.05,
                     xlim=_range(values, 1.0, 5.0), ylim=(-0.7, n_rows - 0.4))
    x_axis(fig, area, label=SCALE[0].upper() + SCALE[1:])
    box = area.height(0.34)
    for yi, row in zip(y[has_peers] + 0.1, p.itertuples(), strict=True):
        worst, best, at = area.x(row.peer_worst), area.x(row.peer_best), area.y(yi)
        fig.line(worst, at, best, at, colour=COLOURS["neutral"])
        for end in (worst, best):
            fig.marker("|", end, at, np.sqrt(80), fill=COLOURS["muted"], edge=COLOURS["muted"],
                       edge_width=1.2)
        low = area.x(row.peer_lower_quartile)
        fig.rect(low, at - box / 2, area.x(row.peer_upper_quartile) - low, box,
                 fill=COLOURS["band"], stroke=COLOURS["muted"], stroke_width=0.6)
        fig.marker(MARKERS["peer"], area.x(row.peer_median), at, np.sqrt(42),
                   fill=COLOURS["peer"], edge=COLOURS["ink"], edge_width=0.6)
    for yi, row in zip(y[shown] - 0.2, s.itertuples(), strict=True):
        at = area.y(yi)
        fig.line(area.x(row.ci_low), at, area.x(row.ci_high), at, colour=COLOURS["focus"],
                 width=2.2)
        fig.marker(MARKERS["focus"], area.x(row.mean), at, np.sqrt(48), fill=COLOURS["focus"],
                   edge="white", edge_width=0.6)
    label_x = area.right + 0.02 * (area.right - area.left)
    for yi, row, ok in zip(y, frame.itertuples(), shown, strict=True):
        if not ok:
            fig.text((area.left + area.right) / 2, area.y(yi), suppressed_text(data.threshold),
                     anchor="middle", size=9, colour=COLOURS["muted"], italic=True)
            continue
        words = COMPARISON_WORDS.get(row.verdict, "")
        fig.text(label_x, area.y(yi), f"{fmt_number(row.mean)}\n{words.lower()}", size=8.5)
    y_labels(fig, area, y, [textwrap.fill(str(n), 30) for n in frame["name"]])
    spines(fig, area)
    legend(fig, _PEER_LEGEND, 2, measure=_text_width)
    alt = _peers_alt(frame, data.threshold)
    data_frame = frame[["characteristic", "name", "n", "mean", "ci_low", "ci_high", "peer_n",
                        "peer_worst", "peer_lower_quartile", "peer_median",
                        "peer_upper_quartile", "peer_best", "verdict", "suppressed"]]
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt, data=data_frame.reset_index(drop=True))


def _range(values: np.ndarray, floor: float, ceiling: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return floor, ceiling
    low, high = float(values.min()), float(values.max())
    pad = max(0.15, 0.08 * (high - low))
    return max(floor, np.floor((low - pad) * 4) / 4), min(ceiling, np.ceil((high + pad) * 4) / 4)


_PEER_LEGEND = (
    LegendEntry("This collaboration: mean and 95% CI", line=COLOURS["focus"], width=2.2,
                marker=MARKERS["focus"], marker_size=7, marker_edge="white"),
    LegendEntry("Peer median", marker=MARKERS["peer"], marker_size=7,
                marker_fill=COLOURS["peer"], marker_edge=COLOURS["ink"]),
    LegendEntry("Middle half of peers (interquartile range)", fill=COLOURS["band"],
                edge=COLOURS["muted"]),
    LegendEntry("Lowest and highest peer", line=COLOURS["neutral"], marker="|",
                marker_size=9, marker_edge=COLOURS["muted"]),
)


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
    for key, words in (("higher", "Higher than peers on"), ("lower", "Lower than peers on")):
        names = shown.loc[shown["verdict"] == key, "name"].tolist()
        if names:
            text += f" {words}: {'; '.join(names)}."
    level = shown.loc[shown["verdict"] == "in line", "name"].tolist()
    if level:
        text += f" In line with peers on: {'; '.join(level)}."
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
                         for c in frame["verdict"]]
    download = frame[["characteristic", "name", "n", "mean", "ci_low", "ci_high", "peer_n",
                      "peer_median", "peer_lower_quartile", "peer_upper_quartile", "peer_worst",
                      "peer_best", "verdict", "highlight", "band", "favourable", "suppressed",
                      "suppressed_reason"]]
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


def _word_for(row: Any) -> str:
    return row.highlight or (row.verdict if row.verdict in ("higher", "lower") else "")


# -- profile -------------------------------------------------------------------------------------

def profile_figure(data: ReportData, *, collaboration: str, wave: str,
                   peer_set: str = "all") -> FigureOutput:
    """Bars of the standardised difference ``d`` from the peer median per characteristic,
    strengths and areas to develop marked by colour, hatching and words."""
    frame = characteristic_frame(data, collaboration, wave, peer_set)
    n_rows = len(frame)
    y = np.arange(n_rows)[::-1].astype(float)
    d = frame["d"].to_numpy(dtype=float)
    style = {"strength": (COLOURS["good"], "///"), "area to develop": (COLOURS["bad"], "\\\\\\"),
             "": (COLOURS["grid"], "")}
    words = [fmt_number(row.d, sign=True) + (f"  {_word_for(row)}" if _word_for(row) else "")
             for row in frame.itertuples()]
    shown = np.isfinite(d) & ~frame["suppressed"].to_numpy()
    rows = np.flatnonzero(shown)
    limit, inside = _profile_limits(np.abs(d[rows]), [_text_width(words[i], 8.5) for i in rows])
    inside_rows = dict(zip(rows, inside, strict=True))
    fig = SvgFigure(7.4, 0.48 * n_rows + 1.3)
    area = plot_area(fig, left=2.45, right=0.15, top=0.1, bottom=0.95, xlim=(-limit, limit),
                     ylim=(-0.7, n_rows - 0.3))
    x_axis(fig, area, label_size=9, label=(
        "Difference from the peer median, in standard deviations\n(\"higher\" and \"lower\": "
        "the 95% confidence interval excludes the peer median)"))
    zero, bar, pad = area.x(0), area.height(0.6), _PROFILE_PAD * 72
    fig.line(zero, area.top, zero, area.bottom, colour=COLOURS["ink"], width=0.8)
    for i, (yi, row) in enumerate(zip(y, frame.itertuples(), strict=True)):
        at = area.y(yi)
        if not shown[i]:
            fig.text(zero, at, suppressed_text(data.threshold) if row.suppressed
                     else "no peer comparison", anchor="middle", size=9,
                     colour=COLOURS["muted"], italic=True)
            continue
        colour, hatch = style.get(row.highlight, style[""])
        end = area.x(row.d)
        fig.rect(zero, at - bar / 2, end - zero, bar, fill=colour, hatch=hatch or None,
                 stroke=COLOURS["ink"] if row.highlight else COLOURS["muted"], stroke_width=0.6)
        # Beyond the bar's end when there is room before the axis edge; otherwise inside it,
        # on a white box (ink on white whatever the bar's colour and hatching).
        side = 1.0 if row.d >= 0 else -1.0
        if inside_rows[i]:
            width = _text_width(words[i], 8.5) * 72
            x = end - side * pad
            margin = 0.15 * 8.5
            fig.rect(x - width - margin if side > 0 else x - margin, at - 0.59 * 8.5 - margin,
                     width + 2 * margin, 1.18 * 8.5 + 2 * margin, fill="white")
            fig.text(x, at, words[i], anchor="end" if side > 0 else "start", size=8.5)
        else:
            fig.text(end + side * pad, at, words[i], anchor="start" if side > 0 else "end",
                     size=8.5)
    y_labels(fig, area, y, [textwrap.fill(str(n), 30) for n in frame["name"]])
    top = area.y(n_rows - 0.45)
    fig.text(area.x(-limit + 0.05), top, "\u2190 lower than peers", size=8,
             colour=COLOURS["muted"], valign="bottom")
    fig.text(area.x(limit - 0.05), top, "higher than peers \u2192", anchor="end", size=8,
             colour=COLOURS["muted"], valign="bottom")
    spines(fig, area)
    legend(fig, _PROFILE_LEGEND, 3, measure=_text_width)
    alt = _profile_alt(frame, data.threshold)
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt, data=frame[[
        "characteristic", "name", "mean", "peer_median", "deviation", "d", "verdict",
        "highlight", "suppressed"]].reset_index(drop=True))


_PROFILE_LEGEND = (
    LegendEntry("Strength", fill=COLOURS["good"], hatch="///", edge=COLOURS["ink"]),
    LegendEntry("Area to develop", fill=COLOURS["bad"], hatch="\\\\\\", edge=COLOURS["ink"]),
    LegendEntry("Neither (in line, or a smaller significant difference)",
                fill=COLOURS["grid"], edge=COLOURS["muted"]),
)


#: Width of the profile's plotting area, the gap between a bar and its label and the margin
#: kept free at the plot's edges, in inches (the layout is fixed: see ``profile_figure``).
_PROFILE_WIDTH = 7.4 - 2.45 - 0.15
_PROFILE_PAD = 0.05
_PROFILE_EDGE = 0.08


@lru_cache(maxsize=512)
def _text_width(text: str, size: float) -> float:
    """Width in inches of one line of text in the house font (measured, not drawn)."""
    width, _, _ = _TEXT_PATH.get_text_width_height_descent(
        _plain(text), FontProperties(family=rc["font.family"], size=size), ismath=False)
    return width / 72


def _profile_limits(lengths: np.ndarray, widths: Sequence[float]) -> tuple[float, list[bool]]:
    """The x-limit (the axis runs from -limit to +limit) and, per bar, whether its value label
    goes inside the bar's end rather than beyond it, so that no label runs off the plot into
    the axis labels.

    ``lengths`` are the bars' absolute lengths, ``widths`` their labels' widths in inches. A
    label goes beyond its bar's end when it fits between the end and the plot's edge, else
    inside the bar when the bar is long enough to hold it. The limit is the smallest of the
    default (a little beyond the longest bar) and the limits that let each label fit beyond
    its bar for which every label fits one way or the other; the largest of them always works.
    """
    half = _PROFILE_WIDTH / 2
    base = max(0.45, float(lengths.max()) + 0.1) if len(lengths) else 0.45

    def placement(limit: float) -> list[bool] | None:
        scale = half / limit  # inches per unit
        sides = []
        for length, width in zip(lengths, widths, strict=True):
            bar = length * scale
            if bar + _PROFILE_PAD + width <= half - _PROFILE_EDGE:
                sides.append(False)
            elif width + 2 * _PROFILE_PAD <= bar:
                sides.append(True)
            else:
                return None
        return sides

    room = [half - _PROFILE_EDGE - _PROFILE_PAD - w for w in widths]
    candidates = sorted({base, *(length * half / r for length, r in zip(lengths, room,
                                                                        strict=True)
                                 if r > 0 and length * half / r > base)})
    for limit in candidates:
        sides = placement(limit)
        if sides is not None:
            return limit, sides
    return candidates[-1], [True] * len(lengths)  # only when a label is wider than half


def _profile_alt(frame: pd.DataFrame, threshold: int) -> str:
    base = ("Bar chart of how far each characteristic's mean lies above or below the peer "
            "median, in standard deviations.")
    if frame["d"].isna().all():
        return base + f" Not shown for this collaboration: {suppressed_text(threshold)}."
    parts = []
    for label, words in (("strength", "Strengths relative to peers"),
                         ("area to develop", "Areas to develop relative to peers")):
        rows = frame[frame["highlight"] == label]
        if len(rows):
            parts.append(f"{words}: " + "; ".join(
                f"{r.name} ({fmt_number(r.d, sign=True)})" for r in rows.itertuples()) + ".")
    if not parts:
        parts.append("No characteristic is significantly higher or lower than the peer "
                     "median, so none is called a strength or an area to develop.")
    return base + " " + " ".join(parts)


# -- change over time ----------------------------------------------------------------------------

@_memo
def change_frame(data: ReportData, collaboration: str, wave: str,
                 comparison: str = "previous") -> pd.DataFrame:
    """Change per characteristic (framework order) between the reference wave and ``wave``:
    ``mean_1`` (reference wave), ``mean_2`` (this wave), ``change`` and CI, and from the
    verdict table ``verdict`` and ``words``; ``items`` (``"all"`` or ``"comparable"``) and
    ``items_left_out`` say which questions the change rests on."""
    names = data.characteristic_names()
    keys = list(names)
    rows = rows_for(data, "change", collaboration, wave)
    if not (len(rows) and (rows["comparison"] == comparison).any()):
        frame = pd.DataFrame({"characteristic": keys, "name": list(names.values())})
        return frame.iloc[0:0].assign(**{c: [] for c in [*_CHANGE_COLUMNS, "verdict", "words"]})
    columns = {"characteristic": keys, "name": list(names.values())}
    columns |= _aligned(rows, [(comparison, k) for k in keys],
                        [c for c in _CHANGE_COLUMNS if c in rows.columns],
                        on=("comparison", "characteristic"))
    hidden = _flags(columns["suppressed"], missing=True)
    columns["suppressed"] = hidden
    verdicts = verdict_rows(data, collaboration, wave, comparison)
    columns["verdict"] = np.where(hidden, "", verdicts["verdict"].to_numpy())
    columns["words"] = [VERDICT_WORDS.get(x, "Not tested" if x == "" else x)
                        for x in columns["verdict"]]
    for column in ("caveat", "items", "items_left_out"):
        # all text: the frame reads the column as str, as ``.astype(str)`` made it
        columns[column] = _texts(columns.get(column, np.full(len(keys), "")))
    return pd.DataFrame(columns)


_CHANGE_COLUMNS = ("reference_wave_id", "mean_1", "mean_2", "change", "ci_low", "ci_high",
                   "p_value", "caveat", "n_smaller", "items", "items_left_out", "suppressed",
                   "suppressed_reason")


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
                      "change", "ci_low", "ci_high", "p_value", "verdict", "items",
                      "items_left_out", "caveat", "suppressed", "suppressed_reason"]]
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
    keys = [(c, w) for c in names for w in waves]
    columns: dict[str, Any] = {"characteristic": [c for c, _ in keys],
                               "wave_id": [w for _, w in keys],
                               "name": [names[c] for c, _ in keys]}
    numbers = ("n", "mean", "ci_low", "ci_high")
    rows = rows_for(data, "summaries", collaboration)
    if len(rows):
        columns |= _aligned(rows, keys, [*numbers, "suppressed"], on=_BY_WAVE)
    hidden = (_flags(columns["suppressed"], missing=True) if "suppressed" in columns else
              np.ones(len(keys), dtype=bool))
    for column in numbers:
        columns[column] = _blanked(_floats(columns.get(column, np.full(len(keys), np.nan))),
                                   hidden)
    columns["suppressed"] = hidden
    peers = rows_for(data, "peers", collaboration)
    columns["peer_median"] = (
        _floats(_aligned(peers, [(peer_set, *k) for k in keys], ["peer_median"],
                         on=("peer_set", *_BY_WAVE))["peer_median"])
        if len(peers) else np.full(len(keys), np.nan))
    return pd.DataFrame(columns)


_BY_WAVE = ("characteristic", "wave_id")


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
    versions = [data.instrument_version(w) for w in waves]
    breaks = [j for j in range(1, k) if versions[j] != versions[j - 1]]
    handles = []
    for j, w in enumerate(waves):
        latest = w == wave
        colour, marker = ((COLOURS["focus"], MARKERS["focus"]) if latest
                          else _EARLIER[j % len(_EARLIER)])
        # The questionnaire's version changes are marked where the wave is named.
        name = labels.get(w, w) + (f" \u2013 new questionnaire (version {versions[j]})"
                                   if j in breaks else "")
        handles.append(LegendEntry(name, line=colour, width=2.0 if latest else 1.2,
                                   marker=marker, marker_size=6 if latest else 5,
                                   marker_edge="white"))
    if breaks:
        handles.append(LegendEntry("Questionnaire changed", line=COLOURS["muted"], width=0.8,
                                   dash="3.2 2.4"))
    fig = SvgFigure(7.4, 0.16 * len(names) * max(k, 2) + 1.7)
    area = plot_area(fig, left=2.45, right=1.1, top=0.1,
                     bottom=0.8 + 0.2 * ((len(handles) + 1) // 2),
                     xlim=_range(np.r_[frame["ci_low"], frame["ci_high"]], 1.0, 5.0),
                     ylim=(-0.5, len(names) - 0.5))
    x_axis(fig, area, label_size=9, label=SCALE[0].upper() + SCALE[1:] + ", with 95% CI\n"
           f"(a wave with {suppressed_text(data.threshold)} is left out)")
    for yi in row_y[:-1] - 0.5:
        fig.line(area.left, area.y(yi), area.right, area.y(yi), colour=COLOURS["grid"],
                 width=0.6)
    for j in breaks:  # the questionnaire changed between these two waves
        for yi in row_y + (offsets[j - 1] + offsets[j]) / 2:
            fig.line(area.left, area.y(yi), area.right, area.y(yi), colour=COLOURS["muted"],
                     width=0.8, dash="3.2 2.4")
    for j, (w, handle) in enumerate(zip(waves, handles, strict=False)):
        part = frame[frame["wave_id"] == w]
        yy = row_y[part["characteristic"].map(index).to_numpy()] + offsets[j]
        ok = part["mean"].notna().to_numpy()
        size = np.sqrt(34 if w == wave else 22)
        for yi, low, high, mean in zip(yy[ok], part["ci_low"][ok], part["ci_high"][ok],
                                       part["mean"][ok], strict=True):
            fig.line(area.x(low), area.y(yi), area.x(high), area.y(yi), colour=handle.line,
                     width=handle.width)
            fig.marker(handle.marker, area.x(mean), area.y(yi), size, fill=handle.line,
                       edge="white", edge_width=0.4)
    label_x = area.right + 0.02 * (area.right - area.left)
    for yi, words, hidden in zip(row_y, trends["words"], trends["suppressed"], strict=True):
        if words or hidden:
            fig.text(label_x, area.y(yi), words.lower() if words else "trend not shown",
                     size=8.5, colour=COLOURS["ink"] if words else COLOURS["muted"])
    y_labels(fig, area, row_y, [textwrap.fill(str(n), 30) for n in names.values()])
    spines(fig, area)
    legend(fig, handles, 2, measure=_text_width)
    alt = _trend_alt(data, frame, collaboration)
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt, data=frame.reset_index(drop=True))


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
    """Per characteristic: the slope per wave across every wave, its CI and the verdict
    table's words (empty words when there is no trend estimate or it is suppressed; trends
    are estimated for the latest wave only)."""
    names = data.characteristic_names()
    keys = list(names)
    columns: dict[str, Any] = {"characteristic": keys, "name": list(names.values())}
    rows = rows_for(data, "trends", collaboration)
    if len(rows) and wave == data.latest_wave:
        columns |= _aligned(rows, keys, ["slope", "ci_low", "ci_high", "n_waves",
                                         "suppressed"])
        columns["verdict"] = verdict_rows(data, collaboration, wave, "trend")["verdict"].to_numpy()
        hidden = _flags(columns["suppressed"], missing=False)
    else:
        empty = np.full(len(keys), np.nan)
        hidden = np.zeros(len(keys), dtype=bool)
        columns |= {"slope": empty, "ci_low": empty, "ci_high": empty,
                    "verdict": np.full(len(keys), "", dtype=object), "n_waves": empty}
    columns["suppressed"] = hidden
    for column in ("slope", "ci_low", "ci_high"):
        columns[column] = _blanked(columns[column], hidden)
    columns["verdict"] = np.where(hidden, "", columns["verdict"])
    columns["words"] = [VERDICT_WORDS.get(x, "") for x in columns["verdict"]]
    return pd.DataFrame(columns)


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
                               trend_ci_high=trends["ci_high"], trend_verdict=trends["verdict"],
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
    keys = [i.id for _, i in items]
    columns: dict[str, Any] = {"item_id": keys, "characteristic": [c.id for c, _ in items],
                               "name": [c.name for c, _ in items],
                               "text": [i.text for _, i in items],
                               "reverse": [i.reverse for _, i in items]}
    rows = rows_for(data, "items", collaboration, wave)
    values = ["n_answered", "p_1", "p_2", "p_3", "p_4", "p_5", "favourable_share",
              "dont_know_share", "suppressed", "suppressed_reason"]
    columns |= (_aligned(rows, keys, values, on="item_id") if len(rows) else
                {v: np.full(len(keys), np.nan) for v in values})
    hidden = _flags(columns["suppressed"], missing=True)
    columns["suppressed"] = hidden
    for column in values[:-2]:
        columns[column] = np.where(hidden, np.nan, _floats(columns[column]))
    peers = _item_peers(data, wave)
    peer_columns = ["peer_n", "peer_worst", "peer_median", "peer_best"]
    columns |= (_aligned(peers, keys, peer_columns, on="item_id") if len(peers) else
                {c: np.full(len(keys), np.nan) for c in peer_columns})
    for column in peer_columns:
        columns[column] = _floats(columns[column])
    return pd.DataFrame(columns)


@lru_cache(maxsize=8)
def _item_peers(data: ReportData, wave: str) -> pd.DataFrame:
    """The programme's peer distribution of each item in one wave (the same for every
    report: selected once)."""
    peers = data.benchmark.get("item_peers", pd.DataFrame())
    if not len(peers):
        return peers
    return peers[(peers["wave_id"].astype(str) == wave).to_numpy()]


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
            # Colour by how favourable an answer is: for a reverse-worded question,
            # disagreeing is favourable and takes the favourable colour.
            colours = LIKERT[::-1] if row.reverse else LIKERT
            for share, colour in zip(p, colours, strict=True):
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
    if frame["reverse"].any():
        text(width / 2, bottom + 36, "Colours show how favourable an answer is: for "
             "reverse-worded questions the colours are swapped, as disagreeing is favourable.",
             anchor="middle", size=8.5)
        bottom += 12
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
    """Every question: answers, share disagreeing, neither, agreeing, favourable (with the
    peers' worst, median and best favourable share, as the NHS Staff Survey's question
    results) and "don't know"."""
    frame = items_frame(data, collaboration, wave)
    frame["disagree"] = frame["p_1"] + frame["p_2"]
    frame["agree"] = frame["p_4"] + frame["p_5"]
    frame["question"] = frame["text"] + np.where(frame["reverse"], " (reverse-worded)", "")
    frame["peers"] = [f"{fmt_percent(w)} / {fmt_percent(m)} / {fmt_percent(b)}"
                      if m == m else "–" for w, m, b in zip(
                          frame["peer_worst"], frame["peer_median"], frame["peer_best"],
                          strict=True)]
    return table_output(frame, [
        Column("question", "Question", keep_when_suppressed=True),
        Column("name", "Characteristic", keep_when_suppressed=True),
        Column("n_answered", "Answers", fmt_int, numeric=True),
        Column("disagree", "Disagree", fmt_percent, numeric=True),
        Column("p_3", "Neither", fmt_percent, numeric=True),
        Column("agree", "Agree", fmt_percent, numeric=True),
        Column("favourable_share", "Favourable", fmt_percent, numeric=True),
        Column("peers", "Favourable, peers: worst / median / best", numeric=True,
               keep_when_suppressed=True),
        Column("dont_know_share", "Don't know", fmt_percent, numeric=True),
    ], threshold=data.threshold, data=frame[[
        "item_id", "characteristic", "text", "reverse", "n_answered", "p_1", "p_2", "p_3",
        "p_4", "p_5", "favourable_share", "peer_n", "peer_worst", "peer_median", "peer_best",
        "dont_know_share", "suppressed", "suppressed_reason"]])


# -- ways of creating value ----------------------------------------------------------------------

@_memo
def value_modes_frame(data: ReportData, collaboration: str, wave: str) -> pd.DataFrame:
    """One row per way of creating value (framework order): declared, declared main, the
    share of respondents choosing it (NaN where suppressed or nobody answered)."""
    collab = data.collaboration(collaboration)
    names = _mode_names(data)
    keys = list(names)
    n = len(keys)
    declared = np.array([k in collab.value_modes for k in keys], dtype=bool)
    main = np.array([k == (collab.main_value_mode or "") for k in keys], dtype=bool)
    columns: dict[str, Any] = {"value_mode": keys, "name": list(names.values()),
                               "declared": declared, "declared_main": main}
    numbers = ("n_answered", "n_chosen", "share")
    rows = rows_for(data, "value_modes", collaboration, wave)
    if len(rows):
        columns |= _aligned(rows, keys, [*numbers, "reason", "suppressed", "suppressed_reason"],
                            on="value_mode")
    else:
        columns |= {**{c: np.full(n, np.nan) for c in numbers},
                    "reason": np.full(n, "no respondents", dtype=object),
                    "suppressed": np.ones(n, dtype=bool),
                    "suppressed_reason": np.full(n, "no respondents", dtype=object)}
    hidden = _flags(columns["suppressed"], missing=True)
    columns["suppressed"] = hidden
    for column in numbers:
        columns[column] = _blanked(_floats(columns[column]), hidden)
    columns["declared_text"] = np.where(main, "Yes, the main way",
                                        np.where(declared, "Yes", "No"))
    return pd.DataFrame(columns)


def value_modes_figure(data: ReportData, *, collaboration: str, wave: str) -> FigureOutput:
    """Bars of the share of respondents choosing each way of creating value, the ways the
    collaboration declared marked in words and by hatching."""
    frame = value_modes_frame(data, collaboration, wave)
    n_rows = len(frame)
    y = np.arange(n_rows)[::-1].astype(float)
    words = [f"{fmt_percent(r.share)} ({fmt_int(r.n_chosen)} of {fmt_int(r.n_answered)})"
             for r in frame.itertuples()]
    fig = SvgFigure(7.0, 0.55 * n_rows + 1.2)
    width = 7.0 - 1.5 - 0.15  # inches
    # A little beyond 100%, and further when a bar's label would not fit before the edge.
    limit = max([1.15, *((r.share + 0.01) * width / (width + 0.1 - _text_width(w, 8.5))
                         for r, w in zip(frame.itertuples(), words, strict=True)
                         if not np.isnan(r.share))])
    span = n_rows - 1 + 0.6  # the bars' extent, with matplotlib's 5% margins
    area = plot_area(fig, left=1.5, right=0.15, top=0.1, bottom=0.8, xlim=(0, limit),
                     ylim=(-0.3 - 0.05 * span, n_rows - 0.7 + 0.05 * span))
    x_axis(fig, area, ticks=[0, 0.25, 0.5, 0.75, 1], labels=["0%", "25%", "50%", "75%", "100%"],
           label="Share of respondents choosing this way (dotted line: half)")
    bar = area.height(0.6)
    for yi, row, label in zip(y, frame.itertuples(), words, strict=True):
        at = area.y(yi)
        if np.isnan(row.share):
            fig.text(area.x(0.5), at, suppressed_text(data.threshold), anchor="middle", size=9,
                     colour=COLOURS["muted"], italic=True)
            continue
        fig.rect(area.left, at - bar / 2, area.x(row.share) - area.left, bar,
                 fill=COLOURS["focus"] if row.declared else COLOURS["sky"],
                 hatch=None if row.declared else "//", stroke=COLOURS["ink"], stroke_width=0.6)
        fig.text(area.x(row.share + 0.01), at, label, size=8.5)
    half = area.x(0.5)
    fig.line(half, area.top, half, area.bottom, colour=COLOURS["muted"], dash="1 1.65")
    y_labels(fig, area, y, [n + ("\n(declared main way)" if m else "\n(declared)" if d else
                                 "\n(not declared)")
                            for n, d, m in zip(frame["name"], frame["declared"],
                                               frame["declared_main"], strict=True)])
    spines(fig, area)
    legend(fig, _VALUE_MODES_LEGEND, 2, measure=_text_width)
    shown = frame[frame["share"].notna()]
    alt = ("Bar chart of the share of respondents who said the collaboration creates value "
           "in each of the four ways, with the ways the collaboration declared marked.")
    if len(shown):
        top = shown.loc[shown["share"].idxmax()]
        alt += (f" Chosen most often: {top['name']} ({fmt_percent(top['share'])}, "
                f"{'declared' if top['declared'] else 'not declared'}).")
    else:
        alt += " No shares are shown for this wave."
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt,
                        data=frame.drop(columns=["declared_text"]).reset_index(drop=True))


_VALUE_MODES_LEGEND = (
    LegendEntry("Declared by the collaboration", fill=COLOURS["focus"], edge=COLOURS["ink"]),
    LegendEntry("Not declared", fill=COLOURS["sky"], hatch="//", edge=COLOURS["ink"]),
)


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


_SECTOR_TIES = ("wave_id", "collaboration_id", "sector_a", "sector_a_label", "sector_b",
                "sector_b_label", "n_organisations_a", "n_organisations_b", "n_ties",
                "n_possible_ties", "density")
#: The connection map's ellipse (half-width, half-height) and the key's height, in inches.
_MAP_RADII = (1.65, 1.1)
_MAP_KEY = 0.62
#: More sectors than this are drawn as a grid: a map's lines would cross into a tangle.
MAP_MAX_SECTORS = 5
_MAP_WIDTH = 7.4
_MAP_FONT = 8.5


@_memo
def sector_ties_frame(data: ReportData, collaboration: str, wave: str) -> pd.DataFrame:
    """Connections between and within the sectors of the collaboration's partners: the rows of
    the benchmark table ``sector_ties`` for one collaboration and wave (one per ordered pair of
    sectors; the diagonal counts connections within a sector), with the sectors' labels, in
    the order of the instrument's sector options.

    Empty when the table is absent (a workspace analysed before it existed), when the network
    is not shown (fewer respondents than the threshold, or no answers) or when its connections
    are not known.
    """
    rows = rows_for(data, "sector_ties", collaboration, wave)
    if not len(rows) or not network_frame(data, collaboration, wave)["known"]:
        return pd.DataFrame(columns=list(_SECTOR_TIES))
    labels = option_labels(data, wave, "sector")
    sectors = {side: rows[f"sector_{side}"].astype(str) for side in ("a", "b")}
    names = {side: column.tolist() for side, column in sectors.items()}
    order = _in_order(list(zip(names["a"], names["b"], strict=True)), labels)
    frame: dict[str, Any] = {"wave_id": rows["wave_id"].array.take(order),
                             "collaboration_id": rows["collaboration_id"].array.take(order)}
    for side in ("a", "b"):
        frame[f"sector_{side}"] = sectors[side].array.take(order)
        frame[f"sector_{side}_label"] = [labels.get(names[side][i], names[side][i])
                                         for i in order]
    for column in ("n_organisations_a", "n_organisations_b", "n_ties", "n_possible_ties"):
        frame[column] = _ints(rows[column].array.take(order))
    frame["density"] = _floats(rows["density"].array.take(order))
    return pd.DataFrame(frame)


def _ints(values: Any) -> np.ndarray:
    """Values as integers (``pd.to_numeric(errors="coerce").astype(int)``: an error where
    one is missing)."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return values.astype(int)
    return pd.to_numeric(pd.Series(values), errors="coerce").astype(int).to_numpy()


@_memo
def sector_summary(data: ReportData, collaboration: str, wave: str) -> dict[str, Any]:
    """The connections between sectors of :func:`sector_ties_frame` summed up: ``ties`` (that
    frame), ``sectors`` (one row per sector, in order: ``sector``, ``label``,
    ``organisations``, ``within``, ``within_possible``, ``within_density``), ``pairs`` (each
    pair of different sectors once, in order), the numbers of connections ``cross`` (across
    sectors), ``within`` and ``total``, and the ``strongest`` pair(s) across sectors."""
    ties = sector_ties_frame(data, collaboration, wave)
    a, b = ties["sector_a"].to_numpy(), ties["sector_b"].to_numpy()
    diagonal = a == b
    sectors = pd.DataFrame({
        name: ties[column].to_numpy()[diagonal]
        for name, column in (("sector", "sector_a"), ("label", "sector_a_label"),
                             ("organisations", "n_organisations_a"), ("within", "n_ties"),
                             ("within_possible", "n_possible_ties"),
                             ("within_density", "density"))})
    position = {s: k for k, s in enumerate(sectors["sector"])}
    upper = np.array([position[x] < position[y] for x, y in zip(a, b, strict=True)], dtype=bool)
    pairs = ties.iloc[np.flatnonzero(upper)].reset_index(drop=True)
    cross, inside = int(pairs["n_ties"].sum()), int(sectors["within"].sum())
    strongest = pairs[pairs["n_ties"] == pairs["n_ties"].max()] if cross else pairs.iloc[0:0]
    return {"ties": ties, "sectors": sectors, "pairs": pairs, "cross": cross,
            "within": inside, "total": cross + inside, "strongest": strongest}


def network_figure(data: ReportData, *, collaboration: str, wave: str) -> FigureOutput:
    """The connection map between the sectors of the partner organisations.

    Up to :data:`MAP_MAX_SECTORS` sectors: the sectors on an ellipse, each a circle sized and
    numbered by its organisations and labelled with the connections within it, and a line
    between two sectors as wide as, and labelled with, the number of connections between their
    organisations. More sectors (where lines would cross into a tangle): a sector x sector grid
    with the connections and density written in each cell, darker for a higher density.
    """
    summary = sector_summary(data, collaboration, wave)
    n = len(summary["sectors"])
    if n == 0:
        fig = SvgFigure(_MAP_WIDTH, 0.6)
        fig.text(fig.width / 2, fig.height / 2, "No connections between sectors to show for "
                 "this wave.", anchor="middle", size=9, colour=COLOURS["muted"], italic=True)
        alt = "No connections between sectors are shown for this wave."
        return FigureOutput(svg=fig.svg(alt=alt), alt=alt,
                            data=summary["ties"].reset_index(drop=True))
    draw = _sector_map if n <= MAP_MAX_SECTORS else _sector_grid
    return draw(summary)


def _sector_map(summary: dict[str, Any]) -> FigureOutput:
    sectors, pairs = summary["sectors"], summary["pairs"]
    n = len(sectors)
    start = 90.0 if n % 2 else 90.0 - 180.0 / n  # even: no node at the top or the bottom
    angles = np.deg2rad(start - 360.0 * np.arange(n) / n)
    rx, ry = _MAP_RADII if n > 1 else (0.0, 0.0)
    x, y = rx * np.cos(angles), ry * np.sin(angles)
    size = sectors["organisations"].to_numpy(dtype=float)
    radius = 0.11 + 0.14 * np.sqrt(size / size.max())
    labels, boxes = [], []
    for k, s in enumerate(sectors.itertuples()):
        lines = [*textwrap.fill(str(s.label), 22).split("\n"),
                 plural(int(s.organisations), "organisation")]
        if s.organisations > 1:
            lines.append(plural(int(s.within), "connection") + " within")
        width = max(_text_width(line, _MAP_FONT) for line in lines)
        height = len(lines) * _MAP_FONT * 1.2 / 72
        dx, dy = np.cos(angles[k]), np.sin(angles[k])
        lx, ly = x[k] + dx * (radius[k] + 0.08), y[k] + dy * (radius[k] + 0.08)
        ha = "left" if dx > 0.3 else "right" if dx < -0.3 else "center"
        va = "bottom" if dy > 0.3 else "top" if dy < -0.3 else "center"
        left = {"left": lx, "right": lx - width, "center": lx - width / 2}[ha]
        bottom = {"bottom": ly, "top": ly - height, "center": ly - height / 2}[va]
        labels.append((lx, ly, "\n".join(lines), ha, va))
        boxes.append((left, bottom, left + width, bottom + height))
    low = min(min(b[1] for b in boxes), float((y - radius).min())) - 0.1
    high = max(max(b[3] for b in boxes), float((y + radius).max())) + 0.1
    fig = SvgFigure(_MAP_WIDTH, high - low + _MAP_KEY)

    def at(px: float, py: float) -> tuple[float, float]:  # inches about the centre -> points
        return (px + _MAP_WIDTH / 2) * 72, (high - py) * 72

    position = {s: k for k, s in enumerate(sectors["sector"])}
    placed: list[tuple[float, float, float, float]] = []
    obstacles = [(x[k] - radius[k], y[k] - radius[k], x[k] + radius[k], y[k] + radius[k])
                 for k in range(n)]
    linked = pairs[pairs["n_ties"] > 0].sort_values("n_ties", ascending=False, kind="stable")
    ends = [(position[a], position[b]) for a, b in zip(linked["sector_a"], linked["sector_b"],
                                                       strict=True)]
    segments = [((x[a], y[a]), (x[b], y[b])) for a, b in ends]
    edge_labels = []
    for k, ties in enumerate(linked["n_ties"]):
        (xa, ya), (xb, yb) = segments[k]
        # Widths on one scale in every report (more than 8 connections: as wide as 8).
        fig.line(*at(xa, ya), *at(xb, yb), colour=COLOURS["muted"], opacity=0.6,
                 width=1.0 + 0.8 * min(ties, 8))
        text = fmt_int(ties)
        box = _edge_label_box(segments[k], (_text_width(text, _MAP_FONT) + 0.07) / 2, 0.1,
                              [*placed, *obstacles], segments[:k] + segments[k + 1:])
        placed.append(box)
        edge_labels.append((text, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    for k, s in enumerate(sectors.itertuples()):
        fig.circle(*at(x[k], y[k]), radius[k] * 72, fill=COLOURS["focus"], stroke="white",
                   stroke_width=1.5)
        fig.text(*at(x[k], y[k]), fmt_int(s.organisations), anchor="middle", size=9,
                 bold=True, colour="white")
        lx, ly, text, ha, va = labels[k]
        fig.text(*at(lx, ly), text, size=_MAP_FONT, anchor=_ANCHORS[ha], valign=va)
    pad = 0.25 * _MAP_FONT
    for text, cx, cy in edge_labels:  # on top of lines and circles
        px, py = at(cx, cy)
        width = _text_width(text, _MAP_FONT) * 72 + 2 * pad
        height = 1.18 * _MAP_FONT + 2 * pad
        fig.rect(px - width / 2, py - height / 2, width, height, fill="white",
                 stroke=COLOURS["muted"], stroke_width=0.6, rounded=pad)
        fig.text(px, py, text, anchor="middle", size=_MAP_FONT)
    fig.text(0.5 * 72, fig.height - 0.08 * 72,
             "Circle: a sector, sized and numbered by its partner organisations.\n"
             "Line: connections named between the organisations of two sectors, wider for more\n"
             "(the number is written on it); no line: none named.",
             size=8, colour=COLOURS["muted"], valign="bottom", spacing=1.3)
    alt = _network_alt(summary, "map")
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt,
                        data=summary["ties"].reset_index(drop=True))


_ANCHORS = {"left": "start", "center": "middle", "right": "end"}


def _edge_label_box(segment: tuple[tuple[float, float], ...], half_w: float, half_h: float,
                    taken: list[tuple[float, ...]],
                    others: list[tuple[tuple[float, float], ...]]) -> tuple[float, ...]:
    """Where on a line its label goes: the first of a few points along it (the middle first)
    whose box crosses no other line and overlaps none of the boxes ``taken`` (labels placed,
    circles), else the point where it overlaps least, so that each number sits on its own
    line only."""
    (xa, ya), (xb, yb) = segment
    best, cost = None, np.inf
    for t in (0.5, 0.4, 0.6, 0.32, 0.68, 0.45, 0.55, 0.26, 0.74, 0.2, 0.8):
        cx, cy = xa + t * (xb - xa), ya + t * (yb - ya)
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        overlap = (sum(_overlap(box, o) for o in taken)
                   + 0.05 * sum(_crosses(box, *o) for o in others))
        if overlap < cost:
            best, cost = box, overlap
        if overlap == 0:
            break
    return best


def _crosses(box: tuple[float, ...], p: tuple[float, float], q: tuple[float, float]) -> bool:
    """Whether the segment from ``p`` to ``q`` passes through a box (Liang-Barsky clipping)."""
    low, high = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for step, room in ((-dx, p[0] - box[0]), (dx, box[2] - p[0]), (-dy, p[1] - box[1]),
                       (dy, box[3] - p[1])):
        if step == 0:
            if room < 0:
                return False
            continue
        t = room / step
        if step < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


def _sector_grid(summary: dict[str, Any]) -> FigureOutput:
    sectors = summary["sectors"]
    n = len(sectors)
    names = [str(s) for s in sectors["label"]]
    longest = max(_text_width(s, _MAP_FONT) for s in names)
    left, bottom = 0.2 + longest, 0.2 + 0.65 * longest  # column labels at 40 degrees
    cell = min(0.52, (_MAP_WIDTH - left - 0.3) / n)
    fig = SvgFigure(max(left + n * cell + 0.3, 5.0), bottom + n * cell + 0.2)
    side = cell * 72
    x0, y0 = left * 72, 0.2 * 72  # the grid's top left, in points

    def centre(i: float, j: float) -> tuple[float, float]:  # row i, column j
        return x0 + (j + 0.5) * side, y0 + (i + 0.5) * side

    position = {s: k for k, s in enumerate(sectors["sector"])}
    cmap = matplotlib.colormaps[SEQUENTIAL]
    texts = []
    for r in summary["ties"].itertuples():
        i, j = position[r.sector_a], position[r.sector_b]
        if j > i:  # symmetric: the lower triangle and the diagonal say it all
            continue
        cx, cy = centre(i, j)
        if r.n_possible_ties == 0 or np.isnan(r.density):
            fig.rect(cx - side / 2, cy - side / 2, side, side, fill="white",
                     stroke=COLOURS["grid"], stroke_width=0.6, hatch="///")
            texts.append((cx, cy, "none\npossible", 7, COLOURS["muted"], 1.2))
            continue
        colour = cmap(0.08 + 0.8 * float(r.density))
        fig.rect(cx - side / 2, cy - side / 2, side, side, fill=to_hex(colour), stroke="white",
                 stroke_width=1.2)
        texts.append((cx, cy, f"{fmt_int(r.n_ties)}\n{fmt_percent(r.density)}",
                      _MAP_FONT - 0.5, _ink_on(colour), 1.15))
    for k in range(n):  # the diagonal (within a sector) outlined
        cx, cy = centre(k, k)
        fig.rect(cx - 0.46 * side, cy - 0.46 * side, 0.92 * side, 0.92 * side, fill="none",
                 stroke=COLOURS["ink"])
    for cx, cy, text, size, colour, spacing in texts:
        fig.text(cx, cy, text, anchor="middle", size=size, colour=colour, spacing=spacing)
    for k, name in enumerate(names):
        fig.text(x0 - 0.12 * side, centre(k, 0)[1], name, anchor="end", size=_MAP_FONT)
        fig.text(x0 + (k + 0.6) * side, y0 + (n + 0.12) * side, name, anchor="end",
                 size=_MAP_FONT, valign="top", rotate=40)
    fig.text(x0 + n * side, y0, "Each cell: connections named\nbetween the two sectors, and\n"
             "the share of those possible\n(density; darker is higher).\nOutlined, on the "
             "diagonal:\nwithin the sector.", anchor="end", valign="top", size=8,
             colour=COLOURS["muted"], spacing=1.3)
    alt = _network_alt(summary, "grid")
    return FigureOutput(svg=fig.svg(alt=alt), alt=alt,
                        data=summary["ties"].reset_index(drop=True))


def _ink_on(colour: tuple[float, ...]) -> str:
    """Ink or white, whichever contrasts more with a background colour (WCAG luminance)."""
    channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour[:3]]
    luminance = 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    # Against white (1.0) and against ink (luminance about 0.011).
    return "white" if (1.05 / (luminance + 0.05)) > ((luminance + 0.05) / 0.061) else \
        COLOURS["ink"]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area shared by two boxes (left, bottom, right, top)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def _network_alt(summary: dict[str, Any], kind: str) -> str:
    sectors, pairs = summary["sectors"], summary["pairs"]
    each = ("each a circle sized by its organisations" if kind == "map"
            else "as a grid of sector pairs, each cell giving the connections named and their "
            "density")
    text = (f"Connection map of the {plural(len(sectors), 'sector')} of the partner "
            f"organisations, {each}: " + "; ".join(
                f"{s.label}, {plural(int(s.organisations), 'organisation')}"
                + (f" and {plural(int(s.within), 'connection')} within"
                   if s.organisations > 1 else "") for s in sectors.itertuples()) + ".")
    if not summary["cross"]:
        return text + (" No connection crosses sectors." if len(sectors) > 1 else "")
    linked = pairs[pairs["n_ties"] > 0].sort_values("n_ties", ascending=False, kind="stable")
    text += (" Connections between sectors, most first: " if kind == "grid" else
             " Lines join sectors whose organisations named each other, wider for more "
             "connections: ") + "; ".join(
        f"{p.sector_a_label} – {p.sector_b_label}: {fmt_int(p.n_ties)}"
        for p in linked.head(6).itertuples())
    text += (f"; and {plural(len(linked) - 6, 'more pair')} (see the table)." if len(linked) > 6
             else ".")
    text += f" {strongest_links(summary)[0].upper()}{strongest_links(summary)[1:]}."
    return text + (f" {fmt_int(summary['cross'])} of the {fmt_int(summary['total'])} "
                   f"connections ({fmt_percent(summary['cross'] / summary['total'])}) cross "
                   "sectors.")


def strongest_links(summary: dict[str, Any], escape: Any = str) -> str:
    """Words for the strongest link(s) across sectors of a :func:`sector_summary` (sector
    labels passed through ``escape``), e.g. "the strongest link across sectors is between
    Housing and Education (7 of 8 possible connections)"; empty when no connection crosses
    sectors."""
    strongest = summary["strongest"]
    if not len(strongest):
        return ""
    n = int(strongest["n_ties"].iloc[0])
    pairs = [f"{escape(a)} and {escape(b)}" for a, b in zip(
        strongest["sector_a_label"], strongest["sector_b_label"], strict=True)]
    if len(pairs) == 1:
        return (f"the strongest link across sectors is between {pairs[0]} ({fmt_int(n)} of "
                f"{fmt_int(strongest['n_possible_ties'].iloc[0])} possible connections)")
    if len(pairs) <= 3:
        return (f"the strongest links across sectors, {plural(n, 'connection')} each, are "
                f"between {'; '.join(pairs)}")
    return (f"{len(pairs)} pairs of sectors share the most connections across sectors, "
            f"{plural(n, 'connection')} each")


def sector_ties_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    """Connections named between each pair of sectors and within each sector, of those
    possible, and their density."""
    summary = sector_summary(data, collaboration, wave)
    sectors, pairs = summary["sectors"], summary["pairs"]
    records = [{"sectors": f"{s.label} (within the sector)", "organisations":
                fmt_int(s.organisations), "n_ties": s.within,
                "n_possible_ties": s.within_possible, "density": s.within_density}
               for s in sectors.itertuples()]
    records += [{"sectors": f"{p.sector_a_label} – {p.sector_b_label}",
                 "organisations": f"{fmt_int(p.n_organisations_a)} and "
                                  f"{fmt_int(p.n_organisations_b)}",
                 "n_ties": p.n_ties, "n_possible_ties": p.n_possible_ties, "density": p.density}
                for p in pairs.itertuples()]
    frame = pd.DataFrame(records, columns=["sectors", "organisations", "n_ties",
                                           "n_possible_ties", "density"])
    return table_output(frame, [
        Column("sectors", "Sectors"),
        Column("organisations", "Partner organisations", str, numeric=True),
        Column("n_ties", "Connections named", fmt_int, numeric=True),
        Column("n_possible_ties", "Possible connections", fmt_int, numeric=True),
        Column("density", "Density", lambda v: fmt_percent(v, missing="none possible"),
               numeric=True),
    ], data=summary["ties"])


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
    rows = rows[(rows["breakdown"] == by).to_numpy()]
    labels = option_labels(data, wave, by)
    subgroups = rows["subgroup"].astype(str)
    order = _in_order(subgroups.tolist(), labels)
    names = pd.array([labels.get(s, s) for s in subgroups.to_numpy()[order]],
                     dtype=subgroups.dtype)  # text even when empty
    hidden = _hidden(rows)[order]
    protected = hidden & _secondary(rows)[order]
    frame = {"characteristic": rows["characteristic"].array.take(order),
             "subgroup": subgroups.array.take(order), "subgroup_label": names}
    for column in ("n", "mean", "ci_low", "ci_high"):
        frame[column] = _blanked(_floats(rows[column].array.take(order)), hidden)
    return pd.DataFrame(frame | {"hidden": hidden & ~protected, "protected": protected})


def _in_order(options: Sequence[Any], labels: dict[str, str]) -> np.ndarray:
    """Positions that sort ``options`` (or pairs of them) in the order of the instrument's
    ``labels``, unknown options after them in alphabetical order (a stable sort)."""
    rank = {s: k for k, s in enumerate(labels)}
    def key(option: Any) -> Any:
        if isinstance(option, tuple):
            return tuple(key(o) for o in option)
        return rank.get(option, len(rank)), option
    return np.array(sorted(range(len(options)), key=lambda i: key(options[i])), dtype=np.intp)


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
    """Sub-groups (in the frame's order) with at least one figure shown."""
    if not len(frame):
        return []
    subgroups = frame["subgroup"].tolist()
    shown = (~frame["hidden"].to_numpy(dtype=bool) & ~frame["protected"].to_numpy(dtype=bool)
             & frame["mean"].notna().to_numpy())
    some = {g for g, ok in zip(subgroups, shown, strict=True) if ok}
    return list(dict.fromkeys(g for g in subgroups if g in some))


def hidden_groups(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Labels of sub-groups with nothing shown: (fewer than the threshold, protected)."""
    shown = set(shown_groups(frame))
    rest = [(label, hidden, protected) for g, label, hidden, protected in zip(
        frame["subgroup"].tolist(), frame["subgroup_label"].tolist(), frame["hidden"].tolist(),
        frame["protected"].tolist(), strict=True) if g not in shown]
    small = list(dict.fromkeys(label for label, hidden, _ in rest if hidden))
    protected = [g for g in dict.fromkeys(label for label, _, protected in rest if protected)
                 if g not in small]
    return small, protected
