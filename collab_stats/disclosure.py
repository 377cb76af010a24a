"""Disclosure control: no published figure may describe fewer than ``threshold`` respondents.

Partners are promised that nobody can work out how a small group of colleagues answered. Every
figure a report can show goes through these functions (the threshold is the programme's
``disclosure_threshold``, 10 by default):

* :func:`suppress` - *primary* suppression: a row based on fewer than ``threshold``
  responses has its figures *and its count* replaced by NaN (never 0), ``suppressed`` set and a
  reason a reader understands ("fewer than 10 responses");
* :func:`secondary_suppression` - for breakdowns whose group total is published elsewhere
  (sectors within a collaboration): more cells are hidden so that a hidden cell cannot be
  worked out by subtracting the shown cells from the total;
* :func:`complementary_suppression` - the same protection one level up: collaborations
  within a wave (x characteristic), whose totals the technical report publishes, so that the
  hidden collaborations of a wave always pool at least ``threshold`` respondents;
* :func:`breakdown` - characteristic summaries per subgroup (sector, role) with both applied;
* :func:`disclosure_risks` - an independent final check, from the published figures only,
  listing any cell below the threshold that is shown or can be derived; empty for a safe table.

Rows are never dropped: a suppressed row stays, with NaN figures and its reason, so a report
can say *why* a figure is missing.

What this does not cover
------------------------
The secondary rule protects each group (one linear relation: cells add up to the total)
on its own. Tables linked in more than one direction (e.g. sector x collaboration with both
margins published) need a joint method (cell suppression by linear programming, as in
tau-ARGUS or R ``sdcTable``); publish such tables only with one margin, or check them with
:func:`disclosure_risks` for each direction. Free-text comments are a separate problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._params import check_number, check_option
from .errors import ParameterError
from .instrument.model import Band, ScoringRules
from .schema import respondent_rows
from .summaries import (
    WEIGHT_SCHEMES,
    WeightScheme,
    _by_list,
    _group_codes,
    _require_columns,
    characteristic_summaries,
    partner_weights,
)

__all__ = [
    "BREAKDOWNS",
    "NOT_GIVEN",
    "SECONDARY_BAND",
    "SECONDARY_REASON",
    "UNKNOWN_COUNT_REASON",
    "breakdown",
    "complementary_suppression",
    "disclosure_risks",
    "primary_reason",
    "secondary_suppression",
    "suppress",
]

#: Subgroups a characteristic summary can be broken down by.
BREAKDOWNS: tuple[str, ...] = ("sector", "role")
#: Label of the subgroup of respondents who did not say (their sector or role is missing).
NOT_GIVEN = "not_given"
#: Reason given for a cell hidden by secondary suppression.
SECONDARY_REASON = "suppressed so that a hidden figure cannot be worked out from the total"
#: ``count_band`` of a cell hidden by secondary suppression (its count is not below the
#: threshold, so ``"<10"`` would be untrue).
SECONDARY_BAND = "suppressed"
UNKNOWN_COUNT_REASON = "number of responses not known"

_RISK_COLUMNS = ["row", "count", "risk"]


def primary_reason(threshold: int) -> str:
    """The reason given for a cell below the threshold, e.g. ``"fewer than 10 responses"``."""
    return f"fewer than {threshold} responses"


def _check_common(table: pd.DataFrame, count: str, threshold: Any, values: Any) -> list[str]:
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(f"table must be a DataFrame; got {type(table).__name__}")
    check_option("count", count, list(table.columns))
    check_number("threshold", threshold, low=1, integer=True)
    if values is None or isinstance(values, str):
        raise ParameterError(f"values must be a sequence of column names; got {values!r}")
    values = list(values)
    for column in values:
        check_option("values", column, [c for c in table.columns if c != count])
    return values


def _counts(table: pd.DataFrame, count: str) -> np.ndarray:
    return pd.to_numeric(table[count], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _apply(
    table: pd.DataFrame,
    *,
    count: str,
    values: list[str],
    reason_column: str,
    primary: np.ndarray,
    secondary: np.ndarray,
    unknown: np.ndarray,
    threshold: int,
) -> pd.DataFrame:
    """Hide the figures of ``primary | secondary | unknown`` rows and record why."""
    hide = primary | secondary | unknown
    out = table.copy()
    out[count] = np.where(hide, np.nan, _counts(table, count))
    for column in values:
        out[column] = out[column].mask(hide)
    reason = np.full(len(out), "", dtype=object)
    reason[secondary] = SECONDARY_REASON
    reason[unknown] = UNKNOWN_COUNT_REASON
    reason[primary] = primary_reason(threshold)
    band = np.full(len(out), None, dtype=object)
    band[secondary] = SECONDARY_BAND
    band[unknown] = SECONDARY_BAND
    band[primary] = f"<{threshold}"
    out["suppressed"] = hide
    out[reason_column] = reason
    out["count_band"] = pd.array(band, dtype="string")
    return out


def suppress(
    table: pd.DataFrame,
    *,
    count: str = "n",
    threshold: int = 10,
    values: Sequence[str],
    reason_column: str = "suppressed_reason",
    secondary: Sequence[bool] | np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Primary suppression: hide every figure of a row based on fewer than ``threshold``
    responses.

    Parameters
    ----------
    table : DataFrame
        One row per published cell, with a count of responses.
    count : str
        The column counting the responses a row's figures are based on.
    threshold : int
        Smallest count that may be shown (the programme's ``disclosure_threshold``).
    values : sequence of str
        Columns holding the row's figures (means, intervals, shares, other counts, per-row
        ``reason`` codes: anything that could reveal the count or the answers).
    reason_column : str
        Name of the column that says why a row is suppressed.
    secondary : sequence of bool, optional
        One flag per row: rows to hide as well although their count reaches the threshold
        (decided elsewhere, e.g. by :func:`complementary_suppression` or because the same
        collaboration is hidden in a linked table); they get the reason
        ``"suppressed so that a hidden figure cannot be worked out from the total"`` and
        ``count_band`` ``"suppressed"``. A row below the threshold keeps the primary reason.

    Returns
    -------
    DataFrame
        ``table`` with the same rows in the same order and three more columns:
        ``suppressed`` (bool), ``reason_column`` (``""`` for shown rows) and ``count_band``
        (``"<10"`` for a row below the threshold, NA for a shown row). In a suppressed row the
        ``count`` and every ``values`` column are NaN (NA for text and categories), never 0.

    Notes
    -----
    A row is suppressed when ``count < threshold`` (including 0) or when its count is
    missing (reason ``"number of responses not known"``, ``count_band`` ``"suppressed"``).
    The count is float afterwards (NaN is not an integer). Rows a previous call already
    suppressed keep their reason and band, so applying the function twice changes nothing.

    Examples
    --------
    >>> t = pd.DataFrame({"sector": ["nhs", "council"], "n": [25, 4], "mean": [3.9, 2.1]})
    >>> out = suppress(t, threshold=10, values=["mean"])
    >>> out[["sector", "n", "mean", "suppressed", "count_band"]]
        sector     n  mean  suppressed count_band
    0      nhs  25.0   3.9       False       <NA>
    1  council   NaN   NaN        True        <10
    >>> out["suppressed_reason"].tolist()
    ['', 'fewer than 10 responses']
    """
    values = _check_common(table, count, threshold, values)
    if not isinstance(reason_column, str) or reason_column in (count, "suppressed", "count_band"):
        raise ParameterError(f"reason_column must be a new column name; got {reason_column!r}")
    n = _counts(table, count)
    extra = _row_flags(secondary, len(table), "secondary")
    fresh = dict(count=count, values=values, reason_column=reason_column, threshold=threshold)
    if "suppressed" in table.columns and reason_column in table.columns:
        # Already suppressed once: those rows (their count is NaN by now) keep their reason.
        before = table["suppressed"].to_numpy(dtype=bool)
        primary, unknown = ~before & (n < threshold), ~before & np.isnan(n)
        out = _apply(table, primary=primary, unknown=unknown,
                     secondary=extra & ~before & ~primary & ~unknown, **fresh)
        out["suppressed"] = out["suppressed"].to_numpy() | before
        out.loc[before, reason_column] = table.loc[before, reason_column]
        out.loc[before, "count_band"] = table.loc[before, "count_band"] if (
            "count_band" in table.columns) else SECONDARY_BAND
        return out
    primary, unknown = n < threshold, np.isnan(n)
    return _apply(table, primary=primary, unknown=unknown,
                  secondary=extra & ~primary & ~unknown, **fresh)


def _row_flags(flags: Any, size: int, name: str) -> np.ndarray:
    """One bool per row from a mask (all False when None)."""
    if flags is None:
        return np.zeros(size, dtype=bool)
    if isinstance(flags, pd.Series):
        flags = flags.to_numpy()
    mask = np.asarray(flags)
    if mask.shape != (size,) or mask.dtype != bool:
        raise ParameterError(f"{name} must be one bool per row of table ({size}); got "
                             f"{mask.dtype} of shape {mask.shape}")
    return mask


def _protect(codes: np.ndarray, n0: np.ndarray, hidden: np.ndarray, total: np.ndarray,
             threshold: int) -> np.ndarray:
    """The rows to hide besides ``hidden`` so that no group is unsafe (see
    :func:`secondary_suppression`, Notes): the smallest shown cell of each unsafe group, again
    and again, until every group is safe."""
    hidden = hidden.copy()
    size = len(total)
    secondary = np.zeros(len(n0), dtype=bool)
    row_index = np.arange(len(n0))
    while True:
        shown = ~hidden
        k = np.bincount(codes, weights=hidden, minlength=size)
        m = np.bincount(codes, weights=shown, minlength=size)
        remainder = total - np.bincount(codes, weights=np.where(shown, n0, 0.0), minlength=size)
        with np.errstate(invalid="ignore"):
            unsafe = (m > 0) & ((k == 1) | ((remainder > 0) & (remainder < threshold)))
        if not unsafe.any():
            return secondary
        candidates = row_index[shown & unsafe[codes]]
        order = np.lexsort((candidates, n0[candidates], codes[candidates]))
        ranked = candidates[order]
        first = np.r_[True, codes[ranked][1:] != codes[ranked][:-1]]
        pick = ranked[first]
        secondary[pick] = True
        hidden[pick] = True


def _group_totals(
    keys: pd.DataFrame, totals: pd.DataFrame | None, groups: list[str], count: str,
    cell_sums: np.ndarray,
) -> np.ndarray:
    """The published total of each group (NaN when not published)."""
    if totals is None:
        return cell_sums
    _require_columns(totals, [*groups, count], "totals")
    right = totals[[*groups, count]].astype(dict.fromkeys(groups, object))
    if right.duplicated(groups).any():
        raise ParameterError(f"totals must have one row per group of {groups}; some groups repeat")
    left = keys.astype(dict.fromkeys(groups, object))
    merged = left.merge(right, on=groups, how="left", sort=False)
    return pd.to_numeric(merged[count], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def secondary_suppression(
    table: pd.DataFrame,
    *,
    count: str = "n",
    threshold: int = 10,
    groups: Sequence[str],
    values: Sequence[str],
    totals: pd.DataFrame | None = None,
    reason_column: str = "suppressed_reason",
) -> pd.DataFrame:
    """Primary and secondary suppression of a breakdown whose group totals are published.

    Parameters
    ----------
    table : DataFrame
        The breakdown *before* suppression (counts intact), e.g. one row per wave x
        collaboration x characteristic x sector.
    count, threshold, values, reason_column
        As in :func:`suppress`.
    groups : sequence of str
        Columns identifying a group whose total is published elsewhere (e.g. ``wave_id``,
        ``collaboration_id``, ``characteristic``): the cells of a group add up to that total.
    totals : DataFrame, optional
        The published group totals (``groups`` columns and ``count``; NaN where the total is
        itself suppressed). By default the sum of the group's cells, i.e. the cells partition
        the total - which they do when respondents with no subgroup have a cell of their own.

    Returns
    -------
    DataFrame
        As :func:`suppress`: the same rows; cells hidden to protect another cell have reason
        ``"suppressed so that a hidden figure cannot be worked out from the total"`` and
        ``count_band`` ``"suppressed"``.

    Notes
    -----
    First every cell with ``count < threshold`` is suppressed (primary). Then, in each group
    with total :math:`T`, shown cells summing to :math:`S` and :math:`k` hidden cells, the
    *hidden remainder* :math:`C = T - S` is what a reader can work out by subtraction. A
    group is unsafe while a cell is still shown and

    * exactly one cell is hidden (:math:`k = 1`): its figures could be worked out from the
      total and the shown cells, or
    * :math:`0 < C < threshold`: the hidden cells (or respondents outside the cells, when
      ``totals`` include them) together describe fewer than ``threshold`` respondents, so
      their pooled figure could be worked out.

    In every unsafe group the smallest shown cell (by count; the first in table order on a
    tie) is hidden as well, and the check is repeated until no group is unsafe. The result:
    in every group either nothing is hidden (:math:`C = 0`), or at least two cells are hidden
    and together they cover at least ``threshold`` respondents, or every cell is hidden.
    Hiding the smallest cells loses the least information; a cell with count 0 counts as
    hidden like any other. The rule is one-dimensional (see the module notes).

    Examples
    --------
    >>> t = pd.DataFrame({"collaboration_id": ["a"] * 3, "sector": ["nhs", "council", "vcs"],
    ...                   "n": [30, 4, 12], "mean": [3.9, 2.1, 3.3]})
    >>> out = secondary_suppression(t, groups=["collaboration_id"], values=["mean"])
    >>> out[["sector", "n", "mean", "count_band"]]
        sector     n  mean  count_band
    0      nhs  30.0   3.9        <NA>
    1  council   NaN   NaN         <10
    2      vcs   NaN   NaN  suppressed
    """
    values = _check_common(table, count, threshold, values)
    groups = _by_list(groups, table, "groups")
    if not groups:
        raise ParameterError("groups must name at least one column")
    if "suppressed" in table.columns:
        raise ParameterError("table already has a 'suppressed' column: pass the table before "
                             "suppression (secondary suppression needs the counts)")
    n = _counts(table, count)
    unknown = np.isnan(n)
    primary = ~unknown & (n < threshold)
    hidden = primary | unknown
    codes, keys = _group_codes(table, groups)
    size = len(keys)
    n0 = np.nan_to_num(n)
    total = _group_totals(keys, totals, groups, count, np.bincount(codes, weights=n0, minlength=size))
    over = total < np.bincount(codes, weights=n0, minlength=size)
    if over.any():
        raise ParameterError(f"totals are smaller than the sum of the cells for {int(over.sum())} "
                             f"groups, e.g. {keys.iloc[int(np.flatnonzero(over)[0])].to_dict()}")
    secondary = _protect(codes, n0, hidden, total, threshold)
    return _apply(table, count=count, values=values, reason_column=reason_column,
                  primary=primary, secondary=secondary, unknown=unknown, threshold=threshold)


def complementary_suppression(
    table: pd.DataFrame,
    *,
    by: Sequence[str],
    count: str = "n",
    threshold: int = 10,
    hidden: Sequence[bool] | np.ndarray | pd.Series | None = None,
) -> pd.Series:
    """The collaborations to hide as well, so that the hidden ones of a published total
    always pool at least ``threshold`` respondents.

    Parameters
    ----------
    table : DataFrame
        One row per collaboration cell *before* suppression (counts intact), e.g. the
        characteristic summaries (wave x collaboration x characteristic) or the response
        rates (wave x collaboration).
    by : sequence of str
        Columns identifying the groups whose total is published elsewhere: ``("wave_id",
        "characteristic")`` for characteristic summaries (the technical report gives each
        wave's respondents per characteristic, e.g. the reliability ``n_used``),
        ``("wave_id",)`` for response rates (the ingest totals).
    count : str
        The column counting the respondents of a row (default ``"n"``).
    threshold : int
        The programme's ``disclosure_threshold``.
    hidden : sequence of bool, optional
        One flag per row: rows already hidden for another reason (e.g. the same
        collaboration is hidden in a linked table). Rows below the threshold or with an
        unknown count are hidden in any case.

    Returns
    -------
    Series of bool
        Indexed like ``table``, named ``"secondary"``: True for each row that must be hidden
        *as well* (its count reaches the threshold and it is not in ``hidden``). The table is
        not changed: pass the flags (with ``hidden``) to :func:`suppress` as ``secondary``,
        and apply the same hidden set to every table about those collaboration cells.

    Notes
    -----
    A wave's total :math:`T` is published (the technical report and the ingest summary),
    so with the shown collaborations' counts :math:`S` a reader can work out the *hidden
    remainder* :math:`C = T - S`: the respondents of the hidden collaborations together. With
    one hidden collaboration, :math:`C` is its count (and any published programme-level
    figure over all respondents gives its figure by subtraction); with several,
    :math:`0 < C < threshold` describes fewer than ``threshold`` respondents. So while a
    group has a shown collaboration and

    * exactly one hidden collaboration, or
    * :math:`0 < C < threshold`,

    its smallest shown collaboration (by count; the first in table order on a tie) is hidden
    as well, and the check repeats. In the result every group has nothing hidden, or at
    least two hidden collaborations that together have no respondents or at least
    ``threshold``, or everything hidden. The total is the sum of the group's rows (the
    collaborations partition the wave). This is the rule of :func:`secondary_suppression`
    applied one level up (collaborations within a wave instead of sub-groups within a
    collaboration); hiding the smallest cells loses the least information.

    Examples
    --------
    One collaboration of the wave is below the threshold: the next smallest goes too, so the
    wave total minus the shown collaborations gives 8 + 11 = 19 respondents of two.

    >>> t = pd.DataFrame({"wave_id": "w1", "collaboration_id": list("abcd"),
    ...                   "n": [8, 11, 30, 45]})
    >>> complementary_suppression(t, by=["wave_id"], threshold=10).tolist()
    [False, True, False, False]
    """
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(f"table must be a DataFrame; got {type(table).__name__}")
    check_option("count", count, list(table.columns))
    check_number("threshold", threshold, low=1, integer=True)
    groups = _by_list(by, table, "by")
    if not groups:
        raise ParameterError("by must name at least one column")
    n = _counts(table, count)
    before = _row_flags(hidden, len(table), "hidden") | np.isnan(n) | (n < threshold)
    codes, keys = _group_codes(table, groups)
    n0 = np.nan_to_num(n)
    total = np.bincount(codes, weights=n0, minlength=len(keys))
    secondary = _protect(codes, n0, before, total, threshold)
    return pd.Series(secondary, index=table.index, name="secondary")


def disclosure_risks(
    table: pd.DataFrame,
    totals: pd.DataFrame | None,
    *,
    groups: Sequence[str],
    count: str = "n",
    threshold: int = 10,
    values: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every way a published table reveals a figure about fewer than ``threshold`` respondents.

    Works from the published figures only, as a reader would: a cell is *shown* when its
    count is not missing.

    Parameters
    ----------
    table : DataFrame
        The table as published (after suppression).
    totals : DataFrame or None
        The group totals as published (``groups`` columns and ``count``, NaN where suppressed);
        ``None`` when no totals are published (then nothing can be derived by subtraction).
    groups : sequence of str
        Columns identifying the groups whose cells add up to the totals.
    count, threshold
        As in :func:`suppress`.
    values : sequence of str, optional
        Figure columns that must be missing wherever the count is hidden.

    Returns
    -------
    DataFrame
        One row per risk found - empty for a safe table - with the ``groups`` columns,
        ``row`` (position of the cell in ``table``, -1 for a risk of the group as a whole),
        ``count`` (the count shown or derived) and ``risk``:

        ``shown_below_threshold``
            a cell with ``count < threshold`` is shown;
        ``value_shown_with_hidden_count``
            a ``values`` figure is shown in a row whose count is hidden;
        ``total_below_threshold``
            a group total below the threshold is shown;
        ``hidden_cell_derivable``
            exactly one cell is hidden and ``total - shown`` gives its count, below the
            threshold;
        ``hidden_cells_pooled_derivable``
            two or more cells are hidden but together they cover fewer than ``threshold``
            respondents (``0 < total - shown < threshold``), so their pooled figure can be
            worked out;
        ``remainder_derivable``
            nothing is hidden but the total includes fewer than ``threshold`` respondents
            outside the cells;
        ``inconsistent_total``
            the shown cells add up to more than the total.

    Notes
    -----
    With :math:`T` the published total, :math:`S` the sum of the shown counts and :math:`k`
    the hidden cells of a group, the derivable remainder is :math:`C = T - S`; a risk is
    :math:`0 < C < threshold` (a remainder of 0 says only that the hidden cells are empty).

    Examples
    --------
    >>> t = pd.DataFrame({"collaboration_id": ["a", "a"], "n": [30.0, np.nan]})
    >>> totals = pd.DataFrame({"collaboration_id": ["a"], "n": [34]})
    >>> disclosure_risks(t, totals, groups=["collaboration_id"])
      collaboration_id  row  count                   risk
    0                a    1    4.0  hidden_cell_derivable
    """
    check_option("count", count, list(table.columns))
    check_number("threshold", threshold, low=1, integer=True)
    groups = _by_list(groups, table, "groups")
    values = [] if values is None else list(values)
    for column in values:
        check_option("values", column, list(table.columns))
    n = _counts(table, count)
    shown = ~np.isnan(n)
    codes, keys = _group_codes(table, groups)
    size = len(keys)
    found: list[pd.DataFrame] = []

    def add(group_codes: np.ndarray, rows: np.ndarray, counts: np.ndarray, risk: str) -> None:
        if len(group_codes):
            part = keys.iloc[group_codes].reset_index(drop=True)
            part["row"] = rows
            part["count"] = counts
            part["risk"] = risk
            found.append(part)

    low = np.flatnonzero(shown & (n < threshold))
    add(codes[low], low, n[low], "shown_below_threshold")
    if values:
        any_value = table[values].notna().any(axis=1).to_numpy()
        leak = np.flatnonzero(~shown & any_value)
        add(codes[leak], leak, np.full(leak.size, np.nan), "value_shown_with_hidden_count")
    if totals is not None:
        total = _group_totals(keys, totals, groups, count, np.zeros(size))
        known = ~np.isnan(total)
        shown_sum = np.bincount(codes, weights=np.where(shown, n, 0.0), minlength=size)
        k = np.bincount(codes, weights=~shown, minlength=size)
        remainder = total - shown_sum
        g = np.flatnonzero(known & (total < threshold))
        add(g, np.full(g.size, -1), total[g], "total_below_threshold")
        g = np.flatnonzero(known & (remainder < 0))
        add(g, np.full(g.size, -1), remainder[g], "inconsistent_total")
        small = known & (remainder > 0) & (remainder < threshold)
        g = np.flatnonzero(small & (k == 1))
        hidden_row = np.full(size, -1)
        hidden_idx = np.flatnonzero(~shown)
        hidden_row[codes[hidden_idx]] = hidden_idx  # the one hidden row, where k == 1
        add(g, hidden_row[g], remainder[g], "hidden_cell_derivable")
        g = np.flatnonzero(small & (k >= 2))
        add(g, np.full(g.size, -1), remainder[g], "hidden_cells_pooled_derivable")
        g = np.flatnonzero(small & (k == 0))
        add(g, np.full(g.size, -1), remainder[g], "remainder_derivable")
    if not found:
        empty = keys.iloc[[]].reset_index(drop=True)
        for column, dtype in zip(_RISK_COLUMNS, ("int64", "float64", "object"), strict=True):
            empty[column] = pd.Series(dtype=dtype)
        return empty
    out = pd.concat(found, ignore_index=True)
    out["row"] = out["row"].astype(np.int64)
    out["count"] = out["count"].astype("float64")
    return out


def breakdown(
    scores: pd.DataFrame,
    respondents: pd.DataFrame,
    *,
    by: Literal["sector", "role"],
    threshold: int,
    weights: WeightScheme | np.ndarray | None = None,
    ci: float = 0.95,
    favourable_min: float | None = None,
    bands: ScoringRules | Sequence[Band] | None = None,
) -> pd.DataFrame:
    """Characteristic summaries per wave x collaboration x characteristic x subgroup, with
    primary and secondary suppression applied.

    Parameters
    ----------
    scores : DataFrame
        Respondents' characteristic scores (:func:`collab_stats.scoring.score_responses`).
    respondents : DataFrame
        The ``respondents`` table the scores came from (for each respondent's subgroup).
    by : {"sector", "role"}
        The subgroup. Respondents who did not give it form the subgroup ``"not_given"`` (kept
        as a cell, so that the cells add up to the collaboration's figures).
    threshold : int
        The programme's ``disclosure_threshold``.
    weights : {"none", "partner_balanced"} or array of float, optional
        A scheme of :func:`collab_stats.summaries.partner_weights` (computed from
        ``respondents``, per wave x collaboration), or one weight per row of ``scores``.
    ci, favourable_min, bands
        As in :func:`collab_stats.summaries.characteristic_summaries`.

    Returns
    -------
    DataFrame
        The columns of :func:`~collab_stats.summaries.characteristic_summaries` (``wave_id``,
        ``collaboration_id``, ``characteristic``, ``by``, ``n_total``, ``n``, ``mean``, ...),
        then ``suppressed``, ``suppressed_reason`` and ``count_band``. Every row is kept.

    Notes
    -----
    The count that decides suppression is ``n``, the respondents with a score. Cells of a
    group (wave x collaboration x characteristic) add up to that characteristic's ``n`` in the
    collaboration summary, which is published; :func:`secondary_suppression` is applied with
    those groups. Every other column of a suppressed row (including ``n_total``,
    ``sum_weights``, ``n_eff`` and the per-row ``reason``, which could reveal the count) is
    hidden. Summaries are computed as in
    :func:`~collab_stats.summaries.characteristic_summaries` (``N - 1`` standard deviation,
    t interval; with weights, Kish effective sample size).

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import score_responses
    >>> sim = simulate_programme(seed=1, n_collaborations=2, n_waves=1)
    >>> scores = score_responses(sim.data, sim.instrument)
    >>> table = breakdown(scores, sim.data.respondents, by="sector", threshold=10)
    >>> bool(table.loc[table["suppressed"], "mean"].isna().all())
    True
    >>> bool((table.loc[~table["suppressed"], "n"] >= 10).all())
    True
    """
    check_option("by", by, BREAKDOWNS)
    check_number("threshold", threshold, low=1, integer=True)
    _require_columns(scores, ["wave_id", "collaboration_id", "characteristic", "respondent_id",
                              "score"], "scores")
    _require_columns(respondents, ["wave_id", "collaboration_id", "respondent_id", by],
                     "respondents")
    rows = respondent_rows(scores, respondents)
    if (rows < 0).any():
        raise ParameterError(f"scores has {int((rows < 0).sum())} rows whose (wave_id, "
                             "respondent_id) is not in respondents")
    if weights is None or isinstance(weights, str):
        scheme = "none" if weights is None else weights
        check_option("weights", scheme, WEIGHT_SCHEMES)
        w = None if scheme == "none" else partner_weights(respondents, scheme=scheme)[rows]
    else:
        w = np.asarray(weights, dtype="float64")
    subgroup = respondents[by].astype(object)
    subgroup = subgroup.where(subgroup.notna(), NOT_GIVEN).to_numpy()[rows]
    frame = scores[["wave_id", "collaboration_id", "characteristic", "score"]].copy()
    frame[by] = subgroup
    keys = ["wave_id", "collaboration_id", "characteristic"]
    summary = characteristic_summaries(frame, by=[*keys, by], weights=w, ci=ci,
                                       favourable_min=favourable_min, bands=bands)
    values = [c for c in summary.columns if c not in (*keys, by, "n")]
    return secondary_suppression(summary, count="n", threshold=threshold, groups=keys,
                                 values=values)
