"""Is a collaboration-level mean justified? ICC(1), ICC(2) and within-group agreement rwg.

Partners (respondents) are nested in collaborations. Before a collaboration's mean score is
reported as a property *of the collaboration*, three questions are usually asked (Bliese
2000; LeBreton & Senter 2008):

* does membership matter - ICC(1) above 0, with a significant one-way ANOVA F test;
* are the collaboration means reliable - ICC(2), the reliability of a group mean;
* do partners of the same collaboration agree - rwg for one item, rwg(J) for a scale.

The functions follow R's ``multilevel`` package (Bliese), whose ``ICC1``, ``ICC2``, ``rwg``
and ``rwg.j`` are the reference implementation in this field; every docstring says where a
convention could differ and which one is used.

Missing data
------------
One vocabulary across the library (:data:`collab_stats._params.NanPolicy`). The ICCs and
single-item rwg use every row with a value and a group id (*available case*: the library's
``pairwise`` policy; a row missing one variable still counts for the others). ``rwg_j``
defaults to ``listwise`` (only respondents who answered every item of the scale), as
``multilevel::rwg.j`` does. Rows with a missing group id are never used. Every result says how
many rows it used (``n_used``) and how many there were (``n_total``); nothing is imputed.

Everything is computed for all groups (and, in :func:`grouped_icc`, for all cells and
variables) at once from grouped sums (``np.bincount``), never group by group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._params import NAN_POLICIES, NanPolicy, check_number, check_option
from .errors import AnalysisError, ParameterError

__all__ = [
    "GROUP_SIZE_RULES",
    "AgreementResult",
    "GroupSizeRule",
    "ICCResult",
    "aggregation_verdict",
    "grouped_icc",
    "icc1",
    "icc2",
    "rwg",
    "rwg_j",
]

#: How the group size ``k`` in ICC(1) is taken when groups differ in size: ``mean`` - the mean
#: group size N / G, as ``multilevel::ICC1`` does; ``n0`` - the ANOVA "effective" size
#: (N - sum(n_j^2) / N) / (G - 1) of the variance-components estimator for unbalanced data.
GroupSizeRule = Literal["mean", "n0"]
GROUP_SIZE_RULES: tuple[str, ...] = ("mean", "n0")

_ICC_COLUMNS = [
    "icc1",
    "icc2",
    "f",
    "p_value",
    "msb",
    "msw",
    "df_between",
    "df_within",
    "n_groups",
    "mean_group_size",
    "n0",
    "n_used",
    "n_total",
    "reason",
]


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ICCResult:
    """One intraclass correlation from a one-way ANOVA of a variable on group membership.

    Attributes
    ----------
    statistic : str
        ``"ICC(1)"`` or ``"ICC(2)"``.
    estimate : float
        The ICC; NaN when it cannot be computed (see ``reason``). ICC(1) can be negative
        (less variation between groups than chance would give); it is not truncated.
    f, p_value : float
        F test of between-group differences: F = MSB / MSW on (``df_between``,
        ``df_within``) degrees of freedom, and its upper-tail p-value.
    msb, msw : float
        Between- and within-group mean squares.
    df_between, df_within : int
        G - 1 and N - G.
    n_groups : int
        Groups with at least one value (G); groups with one member count, as in R's ``aov``.
    mean_group_size : float
        N / G.
    n0 : float
        (N - sum(n_j^2) / N) / (G - 1), the ANOVA effective group size (equals N / G when the
        groups are of equal size).
    group_size_rule : str
        Which size ICC(1) used: ``"mean"`` or ``"n0"``; ``"none"`` for ICC(2), which needs
        no group size.
    n_used, n_total : int
        Rows with a value and a group id, and all rows.
    reason : str
        Empty when every figure is available; otherwise why a figure is NaN.
    """

    statistic: str
    estimate: float
    f: float
    p_value: float
    msb: float
    msw: float
    df_between: int
    df_within: int
    n_groups: int
    mean_group_size: float
    n0: float
    group_size_rule: str
    n_used: int
    n_total: int
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One row: the statistic, its estimate, the ANOVA behind it and the counts."""
        return pd.DataFrame([dict(self.__dict__)])


@dataclass(frozen=True)
class AgreementResult:
    """Within-group agreement (rwg or rwg(J)) of every group, and its summary.

    Attributes
    ----------
    statistic : str
        ``"rwg"`` or ``"rwg(j)"``.
    per_group : DataFrame
        One row per group (sorted by group id), see :meth:`to_frame`.
    median, mean : float
        Median and mean over the groups that have a value (NaN if none has; see ``reason``).
    n_groups : int
        Groups with a group id in the data (including groups with no usable row).
    n_groups_estimated : int
        Groups with a value (at least two usable members).
    n_items : int
        Items of the scale (1 for rwg).
    null_variance : float
        Expected variance under the null of no agreement (``sigma_EU^2``).
    n_options : int or None
        Response options the uniform null was computed from (None if ``null_variance`` was
        given directly).
    nan_policy : str
        How missing answers were handled (``"pairwise"`` = available case).
    n_used, n_total : int
        Rows used in at least one group's figure, and all rows.
    reason : str
        Empty when the summary is available; otherwise why it is NaN.
    """

    statistic: str
    per_group: pd.DataFrame = field(repr=False, compare=False)
    median: float
    mean: float
    n_groups: int
    n_groups_estimated: int
    n_items: int
    null_variance: float
    n_options: int | None
    nan_policy: str
    n_used: int
    n_total: int
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """The per-group table: one row per group.

        Columns: ``group``; the statistic (``rwg`` or ``rwg_j``); ``n`` (members used);
        ``n_items`` (items with a variance); ``variance`` (observed variance, N - 1 divisor;
        for rwg(J) the mean of the item variances); ``truncated`` (the observed variance
        exceeded the null variance, so the value was set to 0); ``reason`` (why the value
        is NaN, else empty).
        """
        return self.per_group.copy()


# --- input handling --------------------------------------------------------------------------


def _as_float(values: Any, name: str) -> np.ndarray:
    """A 1-D float array with NaN for missing (pandas NA included)."""
    if np.ndim(values) != 1:
        raise ParameterError(f"{name} must be one-dimensional; got shape {np.shape(values)}")
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        series = pd.Series(values, copy=False)
    else:
        series = pd.Series(np.asarray(values))
    try:
        return series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be numeric (missing values as NaN or NA); got dtype {series.dtype}"
        ) from None


def _group_codes(groups: Any, n: int, name: str = "groups") -> tuple[np.ndarray, pd.Index]:
    """Codes 0..G-1 (sorted by group id; -1 for a missing id) and the group ids."""
    if np.ndim(groups) != 1:
        raise ParameterError(f"{name} must be one-dimensional; got shape {np.shape(groups)}")
    if len(groups) != n:
        raise ParameterError(f"{name} must have one entry per value ({n}); got {len(groups)}")
    codes, uniques = pd.factorize(pd.Series(groups), sort=True, use_na_sentinel=True)
    return codes.astype(np.intp), pd.Index(uniques)


def _null_variance(n_options: Any, null_variance: Any) -> tuple[float, int | None]:
    if null_variance is not None:
        check_number("null_variance", null_variance, low=0, low_open=True)
        return float(null_variance), None
    if isinstance(n_options, np.integer):
        n_options = int(n_options)
    check_number("n_options", n_options, low=2, integer=True)
    return (n_options**2 - 1) / 12.0, n_options


def _check_scale(x: np.ndarray, n_options: int | None, name: str) -> None:
    """The uniform null assumes answers on an n_options-point scale: reject wider data."""
    if n_options is None or not np.isfinite(x).any():
        return
    low, high = np.nanmin(x), np.nanmax(x)
    if high - low > n_options - 1:
        raise AnalysisError(
            f"{name} span {high - low + 1:g} scale points ({low:g} to {high:g}) but "
            f"n_options={n_options}; give the number of response options of the scale, or "
            "null_variance for another null distribution"
        )


# --- the one-way ANOVA, for many cells and variables at once --------------------------------


def _oneway_sums(
    x: np.ndarray, pair: np.ndarray, cell_of_pair: np.ndarray, n_cells: int
) -> dict[str, np.ndarray]:
    """Grouped sums of a one-way ANOVA for every (cell, variable).

    ``x`` is (rows, variables) with NaN for missing; ``pair`` numbers each row's (cell, group)
    (-1 = no group id); ``cell_of_pair`` maps a pair to its cell. Returns arrays of shape
    (cells, variables): N, G, SSB, SSW, sum of n_j^2, and the sum of x^2 (for a scale-aware
    zero test).
    """
    n_vars = x.shape[1]
    n_pairs = len(cell_of_pair)
    used = ~np.isnan(x) & (pair >= 0)[:, None]
    rows, cols = np.nonzero(used)
    xv = x[rows, cols]
    flat = pair[rows] * n_vars + cols
    size = n_pairs * n_vars
    n_pv = np.bincount(flat, minlength=size).astype(float)
    s_pv = np.bincount(flat, weights=xv, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pv = s_pv / n_pv
    ssw_pv = np.bincount(flat, weights=(xv - mean_pv[flat]) ** 2, minlength=size)

    to_cell = np.repeat(cell_of_pair, n_vars) * n_vars + np.tile(np.arange(n_vars), n_pairs)
    cell_size = n_cells * n_vars

    def by_cell(weights: np.ndarray) -> np.ndarray:
        return np.bincount(to_cell, weights=weights, minlength=cell_size).reshape(n_cells, n_vars)

    big_n = by_cell(n_pv)
    total = by_cell(s_pv)
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = total / big_n
    present = n_pv > 0
    dev = np.where(present, mean_pv - grand.ravel()[to_cell], 0.0)
    return {
        "N": big_n,
        "G": by_cell(present.astype(float)),
        "SSB": by_cell(n_pv * dev**2),
        "SSW": by_cell(ssw_pv),
        "sum_n2": by_cell(n_pv**2),
        "sum_x2": by_cell(np.bincount(flat, weights=xv * xv, minlength=size)),
    }


def _icc_table(sums: dict[str, np.ndarray], group_size: str) -> dict[str, np.ndarray]:
    """ICC(1), ICC(2) and the F test from the grouped sums (element-wise over the arrays)."""
    big_n, g = sums["N"], sums["G"]
    dfb, dfw = g - 1, big_n - g
    # Sums of squares that are zero up to rounding are set to 0 (e.g. identical answers whose
    # group mean is not exactly representable), relative to the size of the data.
    tiny = 64 * np.finfo(float).eps ** 2 * sums["sum_x2"] + np.finfo(float).tiny
    ssb = np.where(sums["SSB"] <= tiny * big_n, 0.0, sums["SSB"])
    ssw = np.where(sums["SSW"] <= tiny * big_n, 0.0, sums["SSW"])
    ok = (dfb >= 1) & (dfw >= 1) & ((ssb > 0) | (ssw > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        msb = np.where(dfb >= 1, ssb / dfb, np.nan)
        msw = np.where(dfw >= 1, ssw / dfw, np.nan)
        mean_k = np.where(g > 0, big_n / g, np.nan)
        n0 = np.where(dfb >= 1, (big_n - sums["sum_n2"] / big_n) / dfb, np.nan)
        k = mean_k if group_size == "mean" else n0
        icc1 = np.where(ok, (msb - msw) / (msb + (k - 1) * msw), np.nan)
        icc2 = np.where(ok & (msb > 0), (msb - msw) / msb, np.nan)
        f = np.where(ok, msb / msw, np.nan)
    p = np.where(
        ok, stats.f.sf(np.where(ok, f, 1.0), np.maximum(dfb, 1), np.maximum(dfw, 1)), np.nan
    )
    reason = np.full(big_n.shape, "", dtype=object)
    reason[ok & (msb == 0)] = "all group means are equal (MSB = 0): ICC(2) is not finite"
    reason[(dfb >= 1) & (dfw >= 1) & ~ok] = "all values are identical: no variance to split"
    reason[(g >= 2) & (dfw < 1)] = (
        "every group has a single member with a value: no within-group variance"
    )
    reason[(g == 1)] = "only one group has values: ICCs need at least two groups"
    reason[(g == 0)] = "no rows with both a value and a group id"
    return {
        "icc1": icc1,
        "icc2": icc2,
        "f": f,
        "p_value": p,
        "msb": msb,
        "msw": msw,
        "df_between": np.maximum(dfb, 0).astype(np.int64),
        "df_within": np.maximum(dfw, 0).astype(np.int64),
        "n_groups": g.astype(np.int64),
        "mean_group_size": mean_k,
        "n0": n0,
        "n_used": big_n.astype(np.int64),
        "reason": reason,
    }


def _single_icc(values: Any, groups: Any, group_size: str) -> dict[str, Any]:
    x = _as_float(values, "values")
    codes, uniques = _group_codes(groups, len(x))
    table = _icc_table(
        _oneway_sums(x[:, None], codes, np.zeros(len(uniques), dtype=np.intp), 1), group_size
    )
    out = {key: value[0, 0] for key, value in table.items()}
    out["n_total"] = len(x)
    return out


def _icc_result(statistic: str, t: dict[str, Any], rule: str) -> ICCResult:
    reason = t["reason"]
    if statistic == "ICC(1)" and reason.startswith("all group means"):
        reason = ""  # ICC(1) is finite when MSB = 0; only ICC(2) is not
    return ICCResult(
        statistic=statistic,
        estimate=float(t["icc1" if statistic == "ICC(1)" else "icc2"]),
        f=float(t["f"]),
        p_value=float(t["p_value"]),
        msb=float(t["msb"]),
        msw=float(t["msw"]),
        df_between=int(t["df_between"]),
        df_within=int(t["df_within"]),
        n_groups=int(t["n_groups"]),
        mean_group_size=float(t["mean_group_size"]),
        n0=float(t["n0"]),
        group_size_rule=rule,
        n_used=int(t["n_used"]),
        n_total=int(t["n_total"]),
        reason=reason,
    )


def icc1(values: Any, groups: Any, *, group_size: GroupSizeRule = "mean") -> ICCResult:
    """ICC(1): the share of a variable's variance that lies between groups (Bliese 2000).

    Computed from a one-way ANOVA of ``values`` on group membership, as
    ``multilevel::ICC1(aov(y ~ as.factor(grp)))``.

    Parameters
    ----------
    values : array-like of float
        One value per respondent (an item answer or a characteristic score).
    groups : array-like
        The group (collaboration) of each respondent, same length as ``values``.
    group_size : {"mean", "n0"}, keyword-only
        The group size k when groups differ in size. ``"mean"`` (default): k = N / G, what
        ``multilevel::ICC1`` uses. ``"n0"``: k = (N - sum n_j^2 / N) / (G - 1), the effective
        group size of the ANOVA variance-components estimator for unbalanced groups (e.g.
        Searle, Casella & McCulloch 1992; Bartko 1976 discusses the choice of k). The two
        agree for equal group sizes; n0 <= N / G, so ``"n0"`` gives a slightly larger ICC(1)
        when sizes vary.

    Returns
    -------
    ICCResult
        ``estimate`` with the ANOVA behind it, the F test, ``n_used`` and ``n_total``.

    Notes
    -----
    With G groups, N respondents, MSB and MSW the between- and within-group mean squares on
    G - 1 and N - G degrees of freedom,

        ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW),

    the ANOVA estimator of tau^2 / (tau^2 + sigma^2) in the random-intercept model
    y_ij = mu + u_j + e_ij. F = MSB / MSW tests whether the group means differ. ICC(1) is
    negative when MSB < MSW and is reported as it is (multilevel does not truncate it).

    Missing data: available case. Rows without a value or without a group id are not used;
    every other row is, and groups with a single member count in the ANOVA (they add to the
    between-group degrees of freedom, not to the within), as in R's ``aov``.

    The REML random-intercept share tau^2 / (tau^2 + sigma^2) (e.g. ``nlme::lme``) equals
    this estimate for equal group sizes whenever it is positive; with unequal sizes the two
    estimators weight the groups differently and differ somewhat.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability:
    Implications for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski
    (Eds.), Multilevel theory, research, and methods in organizations (pp. 349-381).
    Jossey-Bass.

    Bartko, J. J. (1976). On various intraclass correlation reliability coefficients.
    Psychological Bulletin, 83, 762-765. doi:10.1037/0033-2909.83.5.762

    Searle, S. R., Casella, G., & McCulloch, C. E. (1992). Variance components. Wiley.

    Examples
    --------
    The equivalent R call (package ``multilevel``)::

        mod <- aov(y ~ as.factor(grp))
        ICC1(mod)

    >>> res = icc1([1, 2, 3, 4, 5, 6], ["a", "a", "b", "b", "c", "c"])
    >>> round(res.estimate, 6), res.f, res.n_groups
    (0.882353, 16.0, 3)
    """
    check_option("group_size", group_size, GROUP_SIZE_RULES)
    return _icc_result("ICC(1)", _single_icc(values, groups, group_size), group_size)


def icc2(values: Any, groups: Any) -> ICCResult:
    """ICC(2): the reliability of the group means (Bliese 2000).

    Computed from a one-way ANOVA of ``values`` on group membership, as
    ``multilevel::ICC2(aov(y ~ as.factor(grp)))``.

    Parameters
    ----------
    values : array-like of float
        One value per respondent.
    groups : array-like
        The group (collaboration) of each respondent, same length as ``values``.

    Returns
    -------
    ICCResult
        ``estimate`` with the ANOVA behind it, the F test, ``n_used`` and ``n_total``.

    Notes
    -----
    ICC(2) = (MSB - MSW) / MSB = 1 - 1 / F.

    It equals the Spearman-Brown step-up of ICC(1) to the group size,
    k ICC(1) / (1 + (k - 1) ICC(1)), with ICC(1) computed from the same k; no choice of k
    is needed. Reliability of a group mean grows with group size, so a low ICC(1) can still
    give a high ICC(2) in large groups. NaN (with a reason) when MSB = 0.

    Missing data: available case, as :func:`icc1`.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability:
    Implications for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski
    (Eds.), Multilevel theory, research, and methods in organizations (pp. 349-381).
    Jossey-Bass.

    Examples
    --------
    The equivalent R call (package ``multilevel``)::

        mod <- aov(y ~ as.factor(grp))
        ICC2(mod)

    >>> res = icc2([1, 2, 3, 4, 5, 6], ["a", "a", "b", "b", "c", "c"])
    >>> res.estimate, res.msb, res.msw
    (0.9375, 8.0, 0.5)
    """
    return _icc_result("ICC(2)", _single_icc(values, groups, "mean"), "none")


def _column_list(value: Any, name: str, frame: pd.DataFrame, *, allow_empty: bool) -> list:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ParameterError(
            f"{name} must be a sequence (list or tuple) of column names; got {value!r}"
        )
    columns = list(value)
    if not columns and not allow_empty:
        raise ParameterError(f"{name} must name at least one column; got an empty sequence")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"{name} names columns that are not in frame: {', '.join(map(repr, missing))}; "
            f"frame has {', '.join(map(repr, frame.columns))}"
        )
    if len(set(columns)) != len(columns):
        raise ParameterError(f"{name} names a column more than once: {columns!r}")
    return columns


def grouped_icc(
    frame: pd.DataFrame,
    *,
    value_columns: Sequence[str],
    group: str,
    by: Sequence[str] = (),
    group_size: GroupSizeRule = "mean",
) -> pd.DataFrame:
    """ICC(1), ICC(2) and the F test for many variables and cells in one pass.

    For every cell of ``by`` (e.g. each wave) and every column of ``value_columns`` (e.g. the
    eight characteristic scores), the one-way ANOVA of the column on ``group`` and the
    statistics of :func:`icc1` and :func:`icc2` - from one set of grouped sums.

    Parameters
    ----------
    frame : DataFrame
        One row per respondent (per wave).
    value_columns : sequence of str, keyword-only
        Numeric columns to analyse.
    group : str, keyword-only
        Column with the group (collaboration) id.
    by : sequence of str, keyword-only
        Columns whose combinations are analysed separately (default: none, one cell). A
        missing value in a ``by`` column forms its own cell (nothing is dropped).
    group_size : {"mean", "n0"}, keyword-only
        The group size in ICC(1); see :func:`icc1`.

    Returns
    -------
    DataFrame
        One row per cell and variable, sorted by cell, variables in the order given:
        the ``by`` columns, ``variable``, ``icc1``, ``icc2``, ``f``, ``p_value``, ``msb``,
        ``msw``, ``df_between``, ``df_within``, ``n_groups``, ``mean_group_size``, ``n0``,
        ``n_used`` (rows of the cell with a value and a group id), ``n_total`` (rows of the
        cell) and ``reason`` (why a figure is NaN, else empty).

    Notes
    -----
    Formulas as :func:`icc1` and :func:`icc2`. Missing data: available case per variable -
    a respondent missing one characteristic still counts for the others.

    Examples
    --------
    The equivalent R calls (package ``multilevel``), for each wave and variable::

        by(d, d$wave_id, function(w) sapply(c("leadership", "trust"), function(v) {
            mod <- aov(w[[v]] ~ as.factor(w$collaboration_id)); c(ICC1(mod), ICC2(mod))
        }))

    >>> d = pd.DataFrame({"wave_id": ["w1"] * 6, "collaboration_id": list("aabbcc"),
    ...                   "trust": [1, 2, 3, 4, 5, 6], "leadership": [2, 2, 3, 3, 5, 4]})
    >>> out = grouped_icc(d, value_columns=["trust", "leadership"],
    ...                   group="collaboration_id", by=["wave_id"])
    >>> out[["wave_id", "variable", "icc2", "n_used"]]
      wave_id    variable      icc2  n_used
    0      w1       trust  0.937500       6
    1      w1  leadership  0.947368       6
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    columns = _column_list(value_columns, "value_columns", frame, allow_empty=False)
    keys = _column_list(by, "by", frame, allow_empty=True)
    if not isinstance(group, str) or group not in frame.columns:
        raise ParameterError(f"group must name a column of frame; got {group!r}")
    clash = [c for c in columns if c == group or c in keys] + [k for k in keys if k == group]
    if clash:
        raise ParameterError(
            f"value_columns, group and by must be different columns; {clash!r} is used twice"
        )
    reserved = [k for k in keys if k in ("variable", *_ICC_COLUMNS)]
    if reserved:
        raise ParameterError(
            f"by columns must not be named like an output column; rename {reserved!r}"
        )
    check_option("group_size", group_size, GROUP_SIZE_RULES)

    x = np.column_stack([_as_float(frame[c], f"column {c!r}") for c in columns])
    if keys:
        cells = frame.groupby(keys, sort=True, dropna=False, observed=True)
        cell = cells.ngroup().to_numpy(np.intp)
        sizes = cells.size()
        cell_index = sizes.index.to_frame(index=False)
        n_total = sizes.to_numpy(np.int64)
    else:
        cell = np.zeros(len(frame), dtype=np.intp)
        cell_index = pd.DataFrame(index=range(1))
        n_total = np.array([len(frame)], dtype=np.int64)
    pair = frame.groupby([*keys, group], sort=True, dropna=False, observed=True).ngroup()
    pair = pair.to_numpy(np.intp)
    cell_of_pair = np.zeros(pair.max() + 1 if len(pair) else 0, dtype=np.intp)
    cell_of_pair[pair] = cell
    pair = np.where(frame[group].isna().to_numpy(), -1, pair)

    table = _icc_table(_oneway_sums(x, pair, cell_of_pair, len(n_total)), group_size)
    n_cells, n_vars = len(n_total), len(columns)
    out = cell_index.loc[np.repeat(np.arange(n_cells), n_vars)].reset_index(drop=True)
    out["variable"] = np.tile(np.array(columns, dtype=object), n_cells)
    for name in _ICC_COLUMNS:
        if name == "n_total":
            out[name] = np.repeat(n_total, n_vars)
        else:
            out[name] = table[name].ravel()
    return out


# --- within-group agreement ------------------------------------------------------------------


def _rwg_from_variance(variance: np.ndarray, sigma2: float, n_items: np.ndarray) -> tuple:
    """rwg(J) with the multilevel truncation; J = 1 gives rwg. Returns (value, truncated)."""
    # A variance equal to the null variance up to rounding (which depends on the order the
    # rows were summed in) counts as equal: rwg 0, not truncated.
    at_null = np.isclose(variance, sigma2, rtol=1e-12, atol=0.0)
    truncated = (variance > sigma2) & ~at_null
    ratio = np.where(at_null, 1.0, np.minimum(variance, sigma2) / sigma2)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = n_items * (1 - ratio) / (n_items * (1 - ratio) + ratio)
    return value, truncated


def _agreement(
    x: np.ndarray,
    codes: np.ndarray,
    uniques: pd.Index,
    sigma2: float,
    n_options: int | None,
    nan_policy: str,
    statistic: str,
) -> AgreementResult:
    n_total, n_cols = x.shape
    n_groups = len(uniques)
    has_group = codes >= 0
    if nan_policy == "listwise":
        x = np.where((np.isnan(x).any(axis=1) & has_group)[:, None], np.nan, x)
    used = ~np.isnan(x) & has_group[:, None]
    rows, cols = np.nonzero(used)
    flat = codes[rows] * n_cols + cols
    size = n_groups * n_cols
    xv = x[rows, cols]
    n_gj = np.bincount(flat, minlength=size).astype(float)
    s_gj = np.bincount(flat, weights=xv, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_gj = s_gj / n_gj
        ss_gj = np.bincount(flat, weights=(xv - mean_gj[flat]) ** 2, minlength=size)
        var_gj = np.where(n_gj >= 2, ss_gj / (n_gj - 1), np.nan).reshape(n_groups, n_cols)
    items = (~np.isnan(var_gj)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_var = np.where(items > 0, np.nansum(var_gj, axis=1) / items, np.nan)
    value, truncated = _rwg_from_variance(mean_var, sigma2, items)
    value = np.where(items > 0, value, np.nan)

    row_used = used.any(axis=1)
    n = np.bincount(codes[row_used], minlength=n_groups).astype(np.int64)
    reason = np.full(n_groups, "", dtype=object)
    reason[items == 0] = (
        "fewer than two members answered"
        if n_cols == 1
        else "fewer than two members answered every item"
        if nan_policy == "listwise"
        else "no item was answered by two or more members"
    )
    column = "rwg" if statistic == "rwg" else "rwg_j"
    per_group = pd.DataFrame(
        {
            "group": uniques,
            column: value,
            "n": n,
            "n_items": items.astype(np.int64),
            "variance": mean_var,
            "truncated": truncated & (items > 0),
            "reason": reason,
        }
    )
    estimated = value[~np.isnan(value)]
    summary_reason = "" if len(estimated) else "no group has two or more members with answers"
    return AgreementResult(
        statistic=statistic,
        per_group=per_group,
        median=float(np.median(estimated)) if len(estimated) else float("nan"),
        mean=float(np.mean(estimated)) if len(estimated) else float("nan"),
        n_groups=n_groups,
        n_groups_estimated=len(estimated),
        n_items=n_cols,
        null_variance=sigma2,
        n_options=n_options,
        nan_policy=nan_policy,
        n_used=int(row_used.sum()),
        n_total=n_total,
        reason=summary_reason,
    )


def rwg(
    values: Any, groups: Any, *, n_options: int = 5, null_variance: float | None = None
) -> AgreementResult:
    """Within-group agreement on a single item, rwg (James, Demaree & Wolf 1984).

    As ``multilevel::rwg(x, grpid, ranvar)``.

    Parameters
    ----------
    values : array-like of float
        One answer per respondent, on an ``n_options``-point scale.
    groups : array-like
        The group (collaboration) of each respondent, same length as ``values``.
    n_options : int, keyword-only
        Response options of the item (A, default 5); gives the uniform null variance.
    null_variance : float, optional, keyword-only
        Another null variance (``ranvar`` in multilevel), e.g. of a skewed "response bias"
        distribution (LeBreton & Senter 2008); overrides ``n_options``.

    Returns
    -------
    AgreementResult
        ``to_frame()`` gives one row per group (``group``, ``rwg``, ``n``, ``variance``,
        ``truncated``, ``reason``); ``median`` and ``mean`` summarise the groups.

    Raises
    ------
    AnalysisError
        If the answers span more points than ``n_options`` allows.

    Notes
    -----
    For a group with observed variance s_x^2 (N - 1 divisor),

        rwg = 1 - s_x^2 / sigma_EU^2,   sigma_EU^2 = (A^2 - 1) / 12,

    the variance of a discrete uniform distribution on A options (2 for 5 options). As in
    multilevel (and as James et al. recommend), s_x^2 is truncated at sigma_EU^2, so a group
    that disagrees more than random answering gets rwg = 0 (``truncated`` is True) rather
    than a negative value. A group with fewer than two members has no rwg (NaN).

    Missing data: available case - rows without a value or a group id are not used.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater
    reliability with and without response bias. Journal of Applied Psychology, 69, 85-98.
    doi:10.1037/0021-9010.69.1.85

    LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater
    reliability and interrater agreement. Organizational Research Methods, 11, 815-852.
    doi:10.1177/1094428106296642

    Examples
    --------
    The equivalent R call (package ``multilevel``)::

        rwg(x, grpid, ranvar = 2)

    >>> res = rwg([4, 4, 5, 1, 5, 3], ["a", "a", "a", "b", "b", "b"])
    >>> res.to_frame()[["group", "rwg", "n", "variance", "truncated"]]
      group       rwg  n  variance  truncated
    0     a  0.833333  3  0.333333      False
    1     b  0.000000  3  4.000000       True
    """
    sigma2, options = _null_variance(n_options, null_variance)
    x = _as_float(values, "values")
    codes, uniques = _group_codes(groups, len(x))
    _check_scale(x[codes >= 0], options, "values")
    return _agreement(x[:, None], codes, uniques, sigma2, options, "pairwise", "rwg")


def rwg_j(
    items: pd.DataFrame,
    groups: Any,
    *,
    n_options: int = 5,
    null_variance: float | None = None,
    nan_policy: NanPolicy = "listwise",
) -> AgreementResult:
    """Within-group agreement on a scale of J parallel items, rwg(J) (James et al. 1984).

    As ``multilevel::rwg.j(x, grpid, ranvar)``.

    Parameters
    ----------
    items : DataFrame
        One column per item of the scale, one row per respondent, answers on an
        ``n_options``-point scale.
    groups : array-like
        The group (collaboration) of each respondent, one per row of ``items``.
    n_options : int, keyword-only
        Response options of the items (A, default 5); gives the uniform null variance.
    null_variance : float, optional, keyword-only
        Another null variance (``ranvar`` in multilevel); overrides ``n_options``.
    nan_policy : {"listwise", "pairwise"}, keyword-only
        ``"listwise"`` (default, as multilevel): only respondents who answered every item.
        ``"pairwise"``: each item's variance uses the members who answered it; items answered
        by fewer than two members of a group are left out of that group's mean, and J is the
        number of items left (``n_items`` in the table).

    Returns
    -------
    AgreementResult
        ``to_frame()`` gives one row per group (``group``, ``rwg_j``, ``n``, ``n_items``,
        ``variance`` - the mean item variance -, ``truncated``, ``reason``).

    Raises
    ------
    AnalysisError
        If the answers span more points than ``n_options`` allows.

    Notes
    -----
    With mean item variance s-bar^2 in the group (N - 1 divisor) and
    sigma_EU^2 = (A^2 - 1) / 12,

        rwg(J) = J (1 - s-bar^2 / sigma_EU^2)
                 / (J (1 - s-bar^2 / sigma_EU^2) + s-bar^2 / sigma_EU^2).

    As in multilevel, s-bar^2 is truncated at sigma_EU^2 (then rwg(J) = 0, ``truncated`` is
    True), which keeps rwg(J) in [0, 1]. rwg(J) rises with J for the same item variances, so
    moderate item agreement on a long scale can look strong (LeBreton & Senter 2008).

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater
    reliability with and without response bias. Journal of Applied Psychology, 69, 85-98.
    doi:10.1037/0021-9010.69.1.85

    LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater
    reliability and interrater agreement. Organizational Research Methods, 11, 815-852.
    doi:10.1177/1094428106296642

    Examples
    --------
    The equivalent R call (package ``multilevel``)::

        rwg.j(items, grpid, ranvar = 2)

    >>> items = pd.DataFrame({"q1": [4, 4, 5, 3, 4], "q2": [4, 5, 5, 4, 5]})
    >>> res = rwg_j(items, ["a", "a", "a", "b", "b"])
    >>> res.to_frame()[["group", "rwg_j", "n", "variance"]]
      group     rwg_j  n  variance
    0     a  0.909091  3  0.333333
    1     b  0.857143  2  0.500000
    """
    sigma2, options = _null_variance(n_options, null_variance)
    check_option("nan_policy", nan_policy, NAN_POLICIES)
    if not isinstance(items, pd.DataFrame):
        raise ParameterError(
            f"items must be a pandas DataFrame with one column per item; got {type(items).__name__}"
        )
    if items.shape[1] == 0:
        raise ParameterError("items must have at least one item column; got none")
    x = np.column_stack([_as_float(items[c], f"item {c!r}") for c in items.columns])
    codes, uniques = _group_codes(groups, len(x))
    _check_scale(x[codes >= 0], options, "answers")
    return _agreement(x, codes, uniques, sigma2, options, nan_policy, "rwg(j)")


# --- plain-language verdict ------------------------------------------------------------------


def aggregation_verdict(
    icc1: float,
    icc2: float,
    median_rwg: float,
    *,
    p_value: float | None = None,
    alpha: float = 0.05,
    icc2_threshold: float = 0.70,
    rwg_threshold: float = 0.70,
) -> str:
    """Say in plain words whether collaboration-level means are justified.

    Parameters
    ----------
    icc1, icc2 : float
        ICC(1) and ICC(2) of the variable (:func:`icc1`, :func:`icc2`, :func:`grouped_icc`).
    median_rwg : float
        Median rwg or rwg(J) over the groups (``AgreementResult.median``).
    p_value : float, optional, keyword-only
        p-value of the ANOVA F test; without it the group effect is judged on ICC(1) alone.
        NaN (the test could not be computed, as :func:`grouped_icc` gives it with only one
        group) is a missing figure: "Cannot judge".
    alpha : float, keyword-only
        Significance level of the F test (default 0.05).
    icc2_threshold, rwg_threshold : float, keyword-only
        Conventional cut-offs, 0.70 each.

    Returns
    -------
    str
        A headline - "Justified.", "Use with caution." or "Not justified." (or "Cannot
        judge." when a figure is missing) - followed by one sentence per criterion.

    Notes
    -----
    Conventions (Bliese 2000; LeBreton & Senter 2008):

    * group effect: ICC(1) > 0 with a significant F test - membership explains some variance;
    * reliable means: ICC(2) >= 0.70 - the collaboration means can be told apart reliably;
    * agreement: median rwg(J) >= 0.70 - partners of a collaboration largely agree
      (LeBreton & Senter call 0.71-0.90 strong and above 0.90 very strong agreement).

    Justified when all three hold; use with caution when there is a group effect and
    agreement but ICC(2) is low (usually too few respondents per collaboration); not
    justified without a group effect or without agreement. The thresholds are conventions,
    not tests. No number is rounded or printed: the text gives the thresholds only.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability:
    Implications for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski
    (Eds.), Multilevel theory, research, and methods in organizations (pp. 349-381).
    Jossey-Bass.

    LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater
    reliability and interrater agreement. Organizational Research Methods, 11, 815-852.
    doi:10.1177/1094428106296642

    Examples
    --------
    There is no single R call; with multilevel the figures come from ``ICC1``, ``ICC2`` and
    ``summary(rwg.j(...))``.

    >>> print(aggregation_verdict(0.12, 0.92, 0.87, p_value=1e-10))  # doctest: +NORMALIZE_WHITESPACE
    Justified. Membership matters: ICC(1) is above 0 and the F test is significant at
    alpha = 0.05. Collaboration means are reliable: ICC(2) is at least 0.7. Partners agree:
    the median rwg is at least 0.7.
    """
    for name, value in (("icc1", icc1), ("icc2", icc2), ("median_rwg", median_rwg)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
            raise ParameterError(f"{name} must be a number (NaN if unknown); got {value!r}")
    untested = isinstance(p_value, float | np.floating) and np.isnan(p_value)
    if p_value is not None and not untested:
        check_number("p_value", p_value, low=0, high=1)
    check_number("alpha", alpha, low=0, high=1, low_open=True, high_open=True)
    check_number("icc2_threshold", icc2_threshold, low=0, high=1)
    check_number("rwg_threshold", rwg_threshold, low=0, high=1)

    missing = [
        name
        for name, value in (("ICC(1)", icc1), ("ICC(2)", icc2), ("the median rwg", median_rwg))
        if np.isnan(value)
    ] + (["the F test"] if untested else [])
    if missing:
        return (
            f"Cannot judge. {', '.join(missing)} could not be computed; see the reason "
            "given with each figure."
        )
    significant = p_value is None or p_value < alpha
    group_effect = icc1 > 0 and significant
    reliable = icc2 >= icc2_threshold
    agree = median_rwg >= rwg_threshold

    if group_effect:
        effect = (
            "Membership matters: ICC(1) is above 0 and the F test is significant at "
            f"alpha = {alpha:g}."
            if p_value is not None
            else "Membership matters: ICC(1) is above 0 (no F test given)."
        )
    elif icc1 <= 0:
        effect = (
            "Membership does not matter: ICC(1) is not above 0, so collaborations "
            "differ no more than chance would make them."
        )
    else:
        effect = (
            "Membership may not matter: ICC(1) is above 0 but the F test is not "
            f"significant at alpha = {alpha:g}."
        )
    reliability = (
        f"Collaboration means are reliable: ICC(2) is at least {icc2_threshold:g}."
        if reliable
        else f"Collaboration means are not reliable: ICC(2) is below {icc2_threshold:g}, usually "
        "because there are too few respondents per collaboration."
    )
    agreement = (
        f"Partners agree: the median rwg is at least {rwg_threshold:g}."
        if agree
        else f"Partners do not agree enough: the median rwg is below {rwg_threshold:g}, so a "
        "mean would hide different views."
    )
    if group_effect and reliable and agree:
        headline = "Justified."
    elif group_effect and agree:
        headline = "Use with caution."
    else:
        headline = "Not justified."
    return " ".join([headline, effect, reliability, agreement])
