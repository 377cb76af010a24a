"""Publication: the one gate every table passes before it leaves the library.

:func:`publish_tables` applies the disclosure rule (written down once, in its docstring) to a
set of tables and refuses - :class:`~collab_stats.errors.DisclosureError` - when a reader could
still see or work out a figure about fewer respondents than the threshold;
:func:`check_publication` is the check on its own, listing every risk it finds (empty when the
tables are safe); :func:`neutralise_formulas` makes a table safe to open in a spreadsheet
(no cell is run as a formula), for the writers of CSV and Excel downloads.

:func:`collab_stats.benchmarking.benchmark_programme` returns tables that have passed
:func:`publish_tables`; anything else published (psychometrics, custom tables) should pass it
too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._params import check_number
from .disclosure import SECONDARY_BAND, SECONDARY_REASON, disclosure_risks, primary_reason
from .errors import DisclosureError, ParameterError

__all__ = [
    "COUNT_COLUMNS",
    "FORMULA_PREFIXES",
    "KEY_COLUMNS",
    "PUBLICATION_RISKS",
    "check_publication",
    "neutralise_cell",
    "neutralise_formulas",
    "publish_tables",
]

#: The columns a hidden row keeps: those saying *which* cell it is (wave, collaboration,
#: characteristic, item, sub-group, peer set, compared waves, sector pair, value mode), facts
#: from the programme or instrument definition that say nothing about respondents (whether an
#: item is reverse-keyed, the ways of creating value a collaboration declared, the number of
#: staff invited) and *why* it is hidden (``suppressed``, ``suppressed_reason``,
#: ``count_band``). Every other column of a hidden row is missing. (``comparison`` is a key of
#: ``change``, "previous" or "baseline"; the ``comparison`` verdict of ``peers`` is a figure,
#: but ``peers`` has rows for shown collaborations only and no hidden rows.)
KEY_COLUMNS: frozenset[str] = frozenset({
    # which cell
    "wave_id", "reference_wave_id", "collaboration_id", "characteristic", "item_id",
    "comparison", "subgroup", "breakdown", "peer_set", "peer_key", "reference", "value_mode",
    "sector_a", "sector_b", "level", "instrument_version", "comparator", "comparator_kind",
    # the programme / instrument definition
    "reverse", "declared", "declared_main", "declared_main_mode", "declared_modes", "invited",
    # why it is hidden
    "suppressed", "suppressed_reason", "count_band",
})

#: The count each table's suppression rests on (the respondents behind a row's figures).
#: A table with a ``suppressed`` column not named here uses ``n`` when it has one.
COUNT_COLUMNS: Mapping[str, str] = {
    "summaries": "n", "favourable": "n_respondents", "items": "n_answered",
    "response_rates": "n", "peers": "n", "profile": "n", "change": "n_smaller",
    "trends": "n_smallest_wave", "collaboration_slopes": "n_smallest_wave",
    "value_modes": "n_answered", "main_mode": "n_answered", "declared_match": "n_answered",
    "network": "n_respondents", "breakdowns": "n", "verdicts": "n",
}

#: Groups whose total is published elsewhere (the technical report: respondents per wave and
#: characteristic, item answers per wave; the ingest summary: respondents per wave), so that
#: a single hidden row of a group can be worked out by subtraction.
_TOTAL_GROUPS: Mapping[str, tuple[str, ...]] = {
    "summaries": ("wave_id", "characteristic"),
    "favourable": ("wave_id", "characteristic"),
    "items": ("wave_id", "item_id"),
    "response_rates": ("wave_id",),
}

#: Between-collaboration totals of the ``comparison`` table and the ``summaries`` count they
#: add up (over the shown collaborations of a wave x characteristic).
_COMPARISON_TOTALS: tuple[tuple[str, str], ...] = (
    ("n_used_kruskal", "n"), ("n_used_welch", "n"), ("n_used", "n"),
    ("n_total_kruskal", "n_total"), ("n_total_welch", "n_total"), ("n_total", "n_total"),
)

#: What :func:`check_publication` reports, by ``risk``.
PUBLICATION_RISKS: Mapping[str, str] = {
    "shown_below_threshold": "a shown row rests on fewer respondents than the threshold (or "
                             "on an unknown number)",
    "value_on_hidden_row": "a hidden row still shows a figure, a count or a reason code",
    "reason_not_plain": "a hidden row's reason or count band is not one of the plain texts",
    "hidden_cell_derivable": "a published total minus the shown rows gives the count of the "
                             "one hidden row",
    "hidden_cells_pooled_derivable": "a published total minus the shown rows gives fewer "
                                     "respondents than the threshold, spread over hidden rows",
    "remainder_derivable": "a published total includes fewer respondents than the threshold "
                           "outside the published rows",
    "total_below_threshold": "a published total rests on fewer respondents than the threshold",
    "hidden_cells_in_total": "a between-collaboration statistic includes hidden "
                             "collaborations (their figures can be solved for)",
    "row_of_hidden_cell": "a row of a derived table (peers, profile, sector ties) describes a "
                          "hidden collaboration cell",
}

_RISK_COLUMNS = ["table", "row", "column", "risk", "message"]
_IDENTIFYING = ("wave_id", "reference_wave_id", "collaboration_id", "characteristic",
                "item_id", "value_mode", "subgroup", "breakdown", "peer_set", "peer_key",
                "reference", "sector_a", "sector_b")

#: The first characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV
#: Injection"): equals, plus, minus, at, tab and carriage return.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


# --- the gate ---------------------------------------------------------------------------------


def publish_tables(tables: Mapping[str, pd.DataFrame], *, threshold: int) -> dict[str, pd.DataFrame]:
    """The publication gate: hide what must be hidden, then refuse if anything can still be
    seen or worked out.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        The tables to publish, by name (e.g. ``ProgrammeBenchmark.tables()``). Tables named
        as in :class:`~collab_stats.benchmarking.ProgrammeBenchmark` get the cross-table
        checks (comparison and peer totals against the summaries, breakdowns against the
        collaboration counts).
    threshold : int
        The programme's ``disclosure_threshold``.

    Returns
    -------
    dict of str to DataFrame
        New frames, same names, rows and columns; the inputs are not changed. In every table
        with a ``suppressed`` column, each hidden row keeps only its :data:`KEY_COLUMNS`:
        every other column is missing (NaN, or NA in integer and boolean columns, which
        become the nullable ``Int64`` and ``boolean``), ``suppressed_reason`` is
        ``"fewer than 10 responses"`` (below the threshold) or
        ``"suppressed so that a hidden figure cannot be worked out from the total"``, and
        ``count_band`` is ``"<10"`` or ``"suppressed"``; shown rows have ``""`` and NA.

    Raises
    ------
    DisclosureError
        When :func:`check_publication` finds a risk in the tables so hidden: the message
        names the first risk's table, row and column, and how many others were found.

    Notes
    -----
    **The rule.** No published figure may describe fewer than ``threshold`` respondents,
    nor let a reader work one out from other published figures. In full:

    1. *Primary suppression.* A row (a collaboration, a sub-group, an item, a change
       between two waves, a network...) based on fewer than ``threshold`` respondents is
       hidden, its count included: a small count says who did not answer and, with a
       share, how many chose what.
    2. *A hidden row keeps its keys and a plain reason, nothing else.* Every column that is
       not a :data:`KEY_COLUMNS` is missing: not only the figures but other counts
       (``n_total``, ``n_respondents``, ``n_organisations_with_respondents``, nominations),
       and per-row reason codes (``one_score``, "fewer than 2 scores in the wave
       compared"), each of which gives the count away or bounds it. The reason is one of two
       plain texts that imply no count.
    3. *Totals are published, so hidden cells pool.* The technical report and the ingest
       summary publish each wave's respondents (per characteristic, per item). A reader
       subtracts the shown collaborations: so within a wave x characteristic (and within a
       wave for the response rates and the other wave-level tables; within a wave x item for
       items) the hidden collaborations must be none, or at least two that together have no
       respondents or at least ``threshold`` (complementary suppression,
       :func:`~collab_stats.disclosure.complementary_suppression`: the smallest shown
       collaborations are hidden as well). The same hidden set applies to every table about
       those cells (summaries, favourable shares, items, breakdowns, change and trends where
       the wave is involved, response rates, ways of creating value, networks), so that no
       table shows what another hides. Sub-groups within a collaboration follow the same rule
       against the collaboration's count (secondary suppression).
    4. *Anything computed across collaborations uses the shown cells only.* Welch's ANOVA,
       Kruskal-Wallis, the peer distributions and funnel limits, the profiles and the
       programme's random-slope model are totals of another kind: from Welch's F, df2 and
       eta squared and the shown collaborations' n, mean and sd, one hidden collaboration's
       n, mean and sd can be solved for exactly (and two hidden ones nearly so). So these
       statistics never include a hidden cell.
    5. *Checked, not trusted.* :func:`check_publication` looks at the tables as a reader
       would - shown counts, hidden rows, published totals against the shown rows - and this
       function refuses to return tables with any risk rather than warn.

    What the rule does not cover: counts of the same collaboration in *other* tables
    (another characteristic, its response rate) bound a hidden count but do not give it;
    tables linked in two directions at once need a joint method (tau-ARGUS, R ``sdcTable``);
    free-text answers are not tables.

    Examples
    --------
    >>> t = pd.DataFrame({"wave_id": "w1", "collaboration_id": ["a", "b", "c"],
    ...                   "n": [25.0, np.nan, np.nan], "n_total": [27, 4, 12],
    ...                   "mean": [3.9, np.nan, np.nan], "suppressed": [False, True, True],
    ...                   "suppressed_reason": ["", "fewer than 10 responses", "one_score"]})
    >>> out = publish_tables({"summaries": t}, threshold=10)["summaries"]
    >>> out["n_total"].tolist(), out["count_band"].tolist()
    ([27, <NA>, <NA>], [<NA>, '<10', 'suppressed'])
    >>> out["suppressed_reason"].tolist()[1:]
    ['fewer than 10 responses', 'suppressed so that a hidden figure cannot be worked out from the total']
    """
    threshold = check_number("threshold", threshold, low=1, integer=True)
    _check_tables(tables)
    published = {name: _hide_rows(frame, threshold) for name, frame in tables.items()}
    risks = check_publication(published, threshold=threshold)
    if len(risks):
        first = risks.iloc[0]
        frame = published[first["table"]]
        row = int(first["row"])
        raise DisclosureError(str(first["table"]), row, str(first["column"]), str(first["risk"]),
                              str(first["message"]), keys=_describe(frame, row),
                              others=len(risks) - 1)
    return published


def check_publication(tables: Mapping[str, pd.DataFrame], *, threshold: int) -> pd.DataFrame:
    """Every way the tables, as published, show or give away a figure about fewer than
    ``threshold`` respondents.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        The tables as they would be published, by name (see :func:`publish_tables`).
    threshold : int
        The programme's ``disclosure_threshold``.

    Returns
    -------
    DataFrame
        One row per risk - empty when the tables are safe - with ``table``, ``row`` (its
        position in the table, 0-based), ``column``, ``risk`` (:data:`PUBLICATION_RISKS`)
        and ``message`` (what can be seen or worked out). First what can be worked out
        from published totals (across tables, then within each table), then each table's
        rows in the order given.

    Notes
    -----
    A row is hidden when its ``suppressed`` flag is set (a missing flag counts as hidden).
    The checks, from the tables alone, as a reader would make them:

    * every shown row's count (:data:`COUNT_COLUMNS`) reaches the threshold
      (``shown_below_threshold``);
    * a hidden row has no value outside :data:`KEY_COLUMNS` (``value_on_hidden_row``) and a
      plain reason and band (``reason_not_plain``);
    * groups whose total is published elsewhere (wave x characteristic for summaries and
      favourable shares, wave x item for items, wave for response rates) never have exactly
      one hidden row beside shown ones (``hidden_cell_derivable``);
    * the ``comparison`` table's totals (``n_used_*``, ``n_total_*``) against the shown
      collaborations of ``summaries`` in the same wave x characteristic: any remainder is a
      risk - from one hidden collaboration ``hidden_cell_derivable``, below the threshold
      ``hidden_cells_pooled_derivable`` / ``remainder_derivable`` (as
      :func:`~collab_stats.disclosure.disclosure_risks`), otherwise
      ``hidden_cells_in_total`` - and a total below the threshold (other than 0) is
      ``total_below_threshold``; likewise the collaborations counted by
      ``programme_slopes`` (``n_groups``) against those shown for the characteristic;
    * ``breakdowns`` against the collaboration counts of ``summaries``
      (:func:`~collab_stats.disclosure.disclosure_risks` per breakdown);
    * ``peers`` and ``profile`` rows only for shown summaries, ``sector_ties`` only for shown
      networks (``row_of_hidden_cell``), and each peer distribution's ``peer_n`` no larger
      than the collaborations it shows (``hidden_cells_in_total``).

    The pooled count of several hidden rows cannot be checked from the published tables
    (their counts are hidden); :func:`~collab_stats.disclosure.complementary_suppression`
    guarantees it when the tables are built.

    Examples
    --------
    >>> s = pd.DataFrame({"wave_id": "w1", "characteristic": "PS",
    ...                   "collaboration_id": ["a", "b", "c"], "n": [25.0, 30.0, np.nan],
    ...                   "n_total": [25.0, 30.0, np.nan], "suppressed": [False, False, True],
    ...                   "suppressed_reason": ["", "", "fewer than 10 responses"],
    ...                   "count_band": ["", "", "<10"]})
    >>> c = pd.DataFrame({"wave_id": ["w1"], "characteristic": ["PS"], "n_used_kruskal": [59]})
    >>> risks = check_publication({"summaries": s, "comparison": c}, threshold=10)
    >>> risks[["table", "row", "column", "risk"]]
            table  row          column                   risk
    0  comparison    0  n_used_kruskal  hidden_cell_derivable
    1   summaries    2               n  hidden_cell_derivable
    """
    threshold = check_number("threshold", threshold, low=1, integer=True)
    _check_tables(tables)
    # What a reader can work out across tables first (the most direct disclosures), then
    # what each table shows row by row.
    found: list[pd.DataFrame] = []
    found += _comparison_risks(tables, threshold)
    found += _slopes_risks(tables)
    found += _peer_total_risks(tables)
    found += _derived_row_risks(tables)
    found += _breakdown_risks(tables, threshold)
    for name, frame in tables.items():
        if name in _TOTAL_GROUPS and _hidden(frame) is not None:
            found += _single_hidden(name, frame, _TOTAL_GROUPS[name])
    for name, frame in tables.items():
        found += _row_risks(name, frame, threshold)
    found = [f for f in found if len(f)]
    if not found:
        return pd.DataFrame({"table": pd.Series(dtype=object), "row": pd.Series(dtype=np.int64),
                             "column": pd.Series(dtype=object), "risk": pd.Series(dtype=object),
                             "message": pd.Series(dtype=object)})
    out = pd.concat(found, ignore_index=True)[_RISK_COLUMNS]
    out["row"] = out["row"].astype(np.int64)
    return out


# --- hiding -----------------------------------------------------------------------------------


def _check_tables(tables: Any) -> None:
    if not isinstance(tables, Mapping):
        raise ParameterError(f"tables must be a mapping of name to DataFrame; got "
                             f"{type(tables).__name__}")
    for name, frame in tables.items():
        if not isinstance(name, str) or not isinstance(frame, pd.DataFrame):
            raise ParameterError(f"tables must map names (str) to DataFrames; got {name!r}: "
                                 f"{type(frame).__name__}")


def _hidden(frame: pd.DataFrame) -> np.ndarray | None:
    """The hidden rows (a missing ``suppressed`` flag counts as hidden); None without the
    column."""
    if "suppressed" not in frame.columns:
        return None
    flag = frame["suppressed"]
    return ~(flag.notna().to_numpy() & (flag.fillna(True).to_numpy() == False))  # noqa: E712


def _blank(column: pd.Series, hidden: np.ndarray) -> pd.Series:
    """``column`` with the hidden rows missing, in a dtype that can hold a missing value."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        column = column.astype("boolean")
    elif pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        column = column.astype("Int64" if dtype.kind == "i" else "UInt64")
    if not hidden.any():
        return column
    if pd.api.types.is_object_dtype(dtype):
        values = column.to_numpy(dtype=object, copy=True)
        values[hidden] = None
        return pd.Series(values, index=column.index, name=column.name, dtype=object)
    return column.mask(pd.Series(hidden, index=column.index))


def _hide_rows(frame: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """A copy of ``frame`` in which each hidden row keeps only its keys and a plain reason."""
    out = frame.copy()
    hidden = _hidden(frame)
    if hidden is None:
        return out
    for j, column in enumerate(frame.columns):
        if column not in KEY_COLUMNS:
            out.isetitem(j, _blank(frame.iloc[:, j], hidden))
    primary_text = primary_reason(threshold)
    if "suppressed_reason" in frame.columns:
        reason = _texts(frame["suppressed_reason"])
    else:
        reason = np.full(len(frame), None, dtype=object)
    if "count_band" in frame.columns:
        band = _texts(frame["count_band"])
    else:
        band = np.full(len(frame), None, dtype=object)
    below = np.array([r == primary_text or (isinstance(b, str) and b.startswith("<"))
                      for r, b in zip(reason, band, strict=True)], dtype=bool)
    primary = hidden & below
    out["suppressed"] = hidden
    out["suppressed_reason"] = pd.array(
        np.where(hidden, np.where(primary, primary_text, SECONDARY_REASON), ""), dtype="str")
    out["count_band"] = pd.array(
        np.where(hidden, np.where(primary, f"<{threshold}", SECONDARY_BAND), None).astype(object),
        dtype="string")
    return out


# --- checks within a table ----------------------------------------------------------------------


def _risks(table: str, rows: np.ndarray, column: str, risk: str, messages: Any) -> pd.DataFrame:
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(messages, str):
        messages = [messages] * rows.size
    return pd.DataFrame({"table": [table] * rows.size, "row": rows,
                         "column": [column] * rows.size, "risk": [risk] * rows.size,
                         "message": list(messages)})


def _count_column(name: str, frame: pd.DataFrame) -> str | None:
    column = COUNT_COLUMNS.get(name)
    if column is None and "suppressed" in frame.columns:
        column = "n"
    return column if column in frame.columns else None


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _row_risks(name: str, frame: pd.DataFrame, threshold: int) -> list[pd.DataFrame]:
    found = []
    hidden = _hidden(frame)
    shown = np.ones(len(frame), dtype=bool) if hidden is None else ~hidden
    count = _count_column(name, frame)
    if count is not None:
        n = _numbers(frame[count])
        low = np.flatnonzero(shown & ~(n >= threshold))
        found.append(_risks(name, low, count, "shown_below_threshold", [
            f"shown with {count} = {n[i]:g}, below the threshold of {threshold}"
            if not np.isnan(n[i]) else f"shown although {count} is not known"
            for i in low]))
    if hidden is None:
        return found
    for column in frame.columns:
        if column in KEY_COLUMNS:
            continue
        rows = np.flatnonzero(hidden & frame[column].notna().to_numpy())
        found.append(_risks(name, rows, column, "value_on_hidden_row",
                            f"a hidden row shows its {column}"))
    primary_text = primary_reason(threshold)
    if "suppressed_reason" in frame.columns:
        reason = _texts(frame["suppressed_reason"])
        bad = np.flatnonzero(hidden & ~np.isin(reason, [primary_text, SECONDARY_REASON]))
        found.append(_risks(name, bad, "suppressed_reason", "reason_not_plain",
                            [f"a hidden row's reason is {reason[i]!r}, not one of the plain "
                             "texts" for i in bad]))
    if "count_band" in frame.columns:
        band = _texts(frame["count_band"])
        bad = np.flatnonzero(hidden & ~np.isin(band, [f"<{threshold}", SECONDARY_BAND]))
        found.append(_risks(name, bad, "count_band", "reason_not_plain",
                            [f"a hidden row's count band is {band[i]!r}" for i in bad]))
    return found


def _texts(column: pd.Series) -> np.ndarray:
    """Text values as an object array, missing values as None."""
    return np.array([v if isinstance(v, str) else None for v in column.astype(object)],
                    dtype=object)


def _single_hidden(name: str, frame: pd.DataFrame, groups: tuple[str, ...]) -> list[pd.DataFrame]:
    """A group whose total is published elsewhere with exactly one hidden row beside shown
    ones: the total minus the shown counts is that row's count."""
    if not set(groups) <= set(frame.columns) or not len(frame):
        return []
    hidden = _hidden(frame)
    codes = _codes(frame, list(groups))
    k = np.bincount(codes, weights=hidden)
    m = np.bincount(codes, weights=~hidden)
    rows = np.flatnonzero(hidden & (k[codes] == 1) & (m[codes] > 0))
    count = _count_column(name, frame) or "n"
    return [_risks(name, rows, count, "hidden_cell_derivable",
                   f"the only hidden row of its {' x '.join(groups)}: the published total "
                   "minus the shown rows gives its count")]


def _codes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    keys = frame[columns].astype(object).astype(str)
    return keys.groupby(columns, sort=False, dropna=False).ngroup().to_numpy(np.int64)


def _string_keys(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype(object).astype(str).to_numpy() for c in columns})


# --- checks across tables -------------------------------------------------------------------------


def _shown_cells(summaries: pd.DataFrame, count: str, groups: list[str]) -> pd.DataFrame:
    """The summaries as a reader sees them: the keys and ``count``, NaN where hidden."""
    cells = _string_keys(summaries, groups)
    n = _numbers(summaries[count])
    hidden = _hidden(summaries)
    if hidden is not None:
        n = np.where(hidden, np.nan, n)
    cells[count] = n
    return cells


def _remainders(cells: pd.DataFrame, totals: pd.DataFrame, groups: list[str],
                count: str) -> pd.DataFrame:
    """Per group of ``totals`` (in its row order): total, shown sum, hidden rows, remainder."""
    shown = cells[count].notna()
    by = cells.assign(_shown=np.where(shown, cells[count], 0.0), _hidden=~shown)
    agg = by.groupby(groups, sort=False)[["_shown", "_hidden"]].sum().reset_index()
    out = totals.merge(agg, on=groups, how="left")
    out["_shown"] = out["_shown"].fillna(0.0)
    out["_hidden"] = out["_hidden"].fillna(0).astype(np.int64)
    out["_remainder"] = out[count] - out["_shown"]
    return out


def _comparison_risks(tables: Mapping[str, pd.DataFrame], threshold: int) -> list[pd.DataFrame]:
    comparison, summaries = tables.get("comparison"), tables.get("summaries")
    groups = ["wave_id", "characteristic"]
    if comparison is None or summaries is None or not len(comparison):
        return []
    if not set(groups) <= set(comparison.columns) or not set(groups) <= set(summaries.columns):
        return []
    found = []
    for total_column, count in _COMPARISON_TOTALS:
        if total_column not in comparison.columns or count not in summaries.columns:
            continue
        cells = _shown_cells(summaries, count, groups)
        totals = _string_keys(comparison, groups)
        totals[count] = _numbers(comparison[total_column])
        # disclosure_risks names the classic risks (one hidden cell or a pooled remainder
        # below the threshold, a small total) ...
        risks = disclosure_risks(cells, totals, groups=groups, count=count, threshold=threshold)
        risks = risks[~risks["risk"].isin(["shown_below_threshold", "inconsistent_total"])]
        risks = risks[(risks["risk"] != "total_below_threshold") | (risks["count"] > 0)]
        position = {tuple(k): i for i, k in enumerate(totals[groups].itertuples(index=False))}
        rows = [position[tuple(r)] for r in risks[groups].itertuples(index=False)]
        found.append(_risks("comparison", rows, total_column, "", "").assign(
            risk=risks["risk"].to_numpy(),
            message=[_total_message(total_column, r.risk, r.count, threshold)
                     for r in risks.itertuples(index=False)]))
        # ... and a between-collaboration test must not include hidden cells at all.
        flagged = set(rows)
        rem = _remainders(cells, totals, groups, count)
        r = rem["_remainder"].to_numpy(dtype="float64")
        k = rem["_hidden"].to_numpy()
        extra = np.flatnonzero((r > 0) & ~np.isin(np.arange(len(rem)), list(flagged)))
        found.append(_risks("comparison", extra, total_column, "", "").assign(
            risk=np.where(k[extra] == 1, "hidden_cell_derivable", "hidden_cells_in_total"),
            message=[f"{total_column} includes {r[i]:g} respondents beyond the shown "
                     f"collaborations ({k[i]} hidden): a between-collaboration statistic over "
                     "hidden collaborations can be solved for their figures" for i in extra]))
    return found


def _total_message(column: str, risk: str, count: float, threshold: int) -> str:
    if risk == "total_below_threshold":
        return f"{column} = {count:g} is below the threshold of {threshold}"
    if risk == "hidden_cell_derivable":
        return (f"{column} minus the shown collaborations gives {count:g} respondents: the "
                "count of the one hidden collaboration")
    return (f"{column} minus the shown collaborations gives {count:g} respondents, fewer "
            f"than {threshold}")


def _slopes_risks(tables: Mapping[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """The programme model counts no more collaborations than are shown for its
    characteristic."""
    slopes, summaries = tables.get("programme_slopes"), tables.get("summaries")
    if slopes is None or summaries is None or not len(slopes):
        return []
    needed = {"characteristic", "n_groups"}
    if not needed <= set(slopes.columns) or not {"characteristic", "collaboration_id"} <= set(
            summaries.columns):
        return []
    hidden = _hidden(summaries)
    keys = _string_keys(summaries, ["characteristic", "collaboration_id"])
    if hidden is not None:
        keys = keys[~hidden]
    shown = keys.drop_duplicates().groupby("characteristic").size()
    characteristic = slopes["characteristic"].astype(object).astype(str)
    limit = characteristic.map(shown).fillna(0).to_numpy()
    n_groups = _numbers(slopes["n_groups"])
    rows = np.flatnonzero(n_groups > limit)
    return [_risks("programme_slopes", rows, "n_groups", "hidden_cells_in_total",
                   [f"the model counts {n_groups[i]:g} collaborations, {limit[i]:g} are shown: "
                    "it includes hidden collaborations" for i in rows])]


def _breakdown_risks(tables: Mapping[str, pd.DataFrame], threshold: int) -> list[pd.DataFrame]:
    breakdowns, summaries = tables.get("breakdowns"), tables.get("summaries")
    groups = ["wave_id", "collaboration_id", "characteristic"]
    if breakdowns is None or summaries is None or not len(breakdowns):
        return []
    if not {*groups, "n"} <= set(breakdowns.columns) or not {*groups, "n"} <= set(
            summaries.columns):
        return []
    totals = _shown_cells(summaries, "n", groups)
    kinds = (breakdowns["breakdown"].astype(object).to_numpy() if "breakdown" in
             breakdowns.columns else np.zeros(len(breakdowns), dtype=object))
    found = []
    for kind in pd.unique(kinds):
        where = np.flatnonzero(kinds == kind)
        part = breakdowns.iloc[where]
        cells = _shown_cells(part, "n", groups)
        risks = disclosure_risks(cells, totals, groups=groups, count="n", threshold=threshold)
        risks = risks[~risks["risk"].isin(["shown_below_threshold", "inconsistent_total"])]
        if not len(risks):
            continue
        first = pd.Series(np.arange(len(cells))).groupby(
            _codes(cells, groups)).transform("first").to_numpy()
        group_row = {tuple(k): first[i] for i, k in enumerate(cells[groups].itertuples(index=False))}
        rows = [where[r.row] if r.row >= 0 else where[group_row[(r.wave_id, r.collaboration_id,
                                                                 r.characteristic)]]
                for r in risks.itertuples(index=False)]
        found.append(_risks("breakdowns", rows, "n", "", "").assign(
            risk=risks["risk"].to_numpy(),
            message=[f"the collaboration's published n minus its shown {kind} cells: {r.count:g} "
                     "respondents" for r in risks.itertuples(index=False)]))
    return found


def _derived_row_risks(tables: Mapping[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """Rows of tables derived from shown cells only must not describe a hidden cell."""
    found = []
    for name, parent_name, keys in (
            ("peers", "summaries", ["wave_id", "collaboration_id", "characteristic"]),
            ("profile", "summaries", ["wave_id", "collaboration_id", "characteristic"]),
            ("sector_ties", "network", ["wave_id", "collaboration_id"])):
        child, parent = tables.get(name), tables.get(parent_name)
        if child is None or parent is None or not len(child) or _hidden(parent) is None:
            continue
        if not set(keys) <= set(child.columns) or not set(keys) <= set(parent.columns):
            continue
        shown = pd.MultiIndex.from_frame(_string_keys(parent, keys)[~_hidden(parent)])
        rows = np.flatnonzero(~pd.MultiIndex.from_frame(_string_keys(child, keys)).isin(shown))
        column = "n" if "n" in child.columns else keys[-1]
        found.append(_risks(name, rows, column, "row_of_hidden_cell",
                            f"describes a cell that {parent_name} hides (or does not show)"))
    return found


def _peer_total_risks(tables: Mapping[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """``peer_n`` of a peer distribution against the collaborations it shows."""
    peers = tables.get("peers")
    keys = ["wave_id", "characteristic", "peer_set", "peer_key"]
    if peers is None or not len(peers) or not {*keys, "peer_n", "mean"} <= set(peers.columns):
        return []
    codes = _codes(peers, keys)
    members = np.bincount(codes, weights=peers["mean"].notna().to_numpy())
    peer_n = _numbers(peers["peer_n"])
    rows = np.flatnonzero(peer_n > members[codes])
    return [_risks("peers", rows, "peer_n", "hidden_cells_in_total",
                   [f"the peer distribution counts {peer_n[i]:g} collaborations but shows "
                    f"{members[codes[i]]:g}: it includes hidden collaborations" for i in rows])]


def _describe(frame: pd.DataFrame, row: int) -> str:
    """The keys of a row in words, e.g. ``"wave 2026-09, PS"``."""
    if not 0 <= row < len(frame):
        return ""
    parts = []
    for column in _IDENTIFYING:
        if column in frame.columns:
            value = frame[column].iloc[row]
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            prefix = {"wave_id": "wave ", "reference_wave_id": "since wave "}.get(column, "")
            parts.append(f"{prefix}{value}")
    return ", ".join(parts)


# --- spreadsheet safety -------------------------------------------------------------------------


def neutralise_cell(value: Any) -> Any:
    """A cell that a spreadsheet shows as text and never runs as a formula.

    Parameters
    ----------
    value : any
        A cell value.

    Returns
    -------
    any
        Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
        (:data:`FORMULA_PREFIXES`) gets a leading single quote ``'``; a list, tuple, set or
        array is first joined into text with ``"; "`` (sets sorted). Anything else - numbers,
        booleans, dates, missing values, other text - is returned unchanged.

    Notes
    -----
    OWASP's "CSV Injection" guidance: a cell whose first character is one of these is read
    by Excel, LibreOffice and Google Sheets as a formula, which can fetch data from the web or
    run commands (DDE) when a user opens a download; the quote makes it text, and the
    spreadsheet does not display it.

    *Our choice for numbers written as text:* a string that is a plain decimal number
    (``"-0.25"``, ``"+3"``, ``"-1e-05"``) is left alone. OWASP prefixes every such cell; but a
    spreadsheet reads a plain number as that number - nothing is run - while a prefixed one
    becomes text that no longer sorts or sums, and a reader loading the CSV back would get
    ``"'-0.25"``. Anything more than a plain number (``"-2+3"``, ``"-1+cmd|' /C calc'!A0"``,
    ``"-"``, ``"-inf"``) is prefixed. Leading spaces are not treated (spreadsheets do not run
    ``" =1+1"``).

    Examples
    --------
    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("-0.25"), neutralise_cell(-0.25), neutralise_cell("-1+1")
    ('-0.25', -0.25, "'-1+1")
    >>> neutralise_cell(["@SUM(A1)", "b"])
    "'@SUM(A1); b"
    """
    if isinstance(value, (set, frozenset)):
        value = "; ".join(sorted(str(v) for v in value))
    elif isinstance(value, (list, tuple, np.ndarray)):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not (
            _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to write as CSV or Excel: no text cell, and no column name,
    can be run as a formula.

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    DataFrame
        The same rows and columns; every text cell (in object, string and categorical
        columns) and every text column name passed through :func:`neutralise_cell`. Numeric,
        boolean and date columns are untouched (same dtype, same values); categorical
        columns stay categorical when the neutralised categories stay distinct. The index is
        not changed: write with ``index=False`` (or ``reset_index()`` first).

    Examples
    --------
    >>> t = pd.DataFrame({"=name": ["=1+1", "plain", "-0.5"], "x": [-1.0, 2.0, 3.0],
    ...                   "modes": [["@a", "b"], [], ("c",)]})
    >>> out = neutralise_formulas(t)
    >>> list(out.columns), out.iloc[:, 0].tolist(), out["modes"].tolist(), str(out["x"].dtype)
    (["'=name", 'x', 'modes'], ["'=1+1", 'plain', '-0.5'], ["'@a; b", '', 'c'], 'float64')
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a DataFrame; got {type(frame).__name__}")
    out = frame.copy()
    out.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in frame.columns]
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = list(dtype.categories)
            new = [neutralise_cell(c) for c in categories]
            if new == categories:
                continue
            if len(set(new)) == len(new):
                out.isetitem(j, column.cat.rename_categories(new))
            else:
                out.isetitem(j, column.astype(object).map(neutralise_cell, na_action="ignore"))
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out.isetitem(j, column.map(neutralise_cell, na_action="ignore"))
    return out
