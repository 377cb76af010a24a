"""Do raters agree? The six Shrout & Fleiss (1979) intraclass correlations of a rating design.

Here n *targets* are each rated by the same k *raters* - e.g. the partner organisations of a
collaboration (raters) rating its eight characteristics (targets). The ICCs come from the
two-way ANOVA of the complete targets x raters table (one-way for ICC1), with the names, order,
F tests and confidence intervals of ``psych::ICC`` (and McGraw & Wong's 1996 names in
``description``):

========  ==========================================================
ICC1      single rater, one-way random, absolute agreement - ICC(1,1)
ICC2      single rater, two-way random, absolute agreement - ICC(A,1)
ICC3      single rater, two-way mixed, consistency - ICC(C,1)
ICC1k     mean of the k raters, as ICC1 - ICC(1,k)
ICC2k     mean of the k raters, as ICC2 - ICC(A,k)
ICC3k     mean of the k raters, as ICC3 - ICC(C,k)
========  ==========================================================

These differ from :mod:`collab_stats.aggregation`'s ICC(1)/ICC(2), which ask whether
respondents *nested* in collaborations resemble each other (one-way, unbalanced groups).

Missing data
------------
The two-way model needs a complete targets x raters table, so only ``nan_policy="listwise"``
is offered: a rater with no rating at all is not part of the table, then every target missing
a rating from any remaining rater is dropped, as pingouin's ``nan_policy="omit"`` does. Rows
without a target or rater id are not used. ``n_used`` (ratings used) and ``n_total`` (rows)
show what was left out; nothing is imputed. ``psych::ICC`` differs: with ``lmer = FALSE`` it
stops on missing data (``missing = TRUE``), and with its default ``lmer = TRUE`` it fits
``lme4::lmer`` to every available rating and rebuilds mean squares from the variance components
(which lmer truncates at 0, so even complete data can give different ICC2/ICC3 figures when
MSJ < MSE or MSB < MSE). The figures here are psych's ``lmer = FALSE`` (ANOVA) figures.

Everything is computed for all groups at once from grouped sums (``np.bincount``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._params import check_number
from .errors import AnalysisError, ParameterError

__all__ = [
    "ICC_FORMS",
    "grouped_intraclass_corr",
    "intraclass_corr",
    "intraclass_corr_wide",
]

#: The six forms, in ``psych::ICC``'s order, with a description of each.
ICC_FORMS: dict[str, str] = {
    "ICC1": "single rater, one-way random, absolute agreement: ICC(1,1)",
    "ICC2": "single rater, two-way random, absolute agreement: ICC(A,1)",
    "ICC3": "single rater, two-way mixed, consistency: ICC(C,1)",
    "ICC1k": "mean of k raters, one-way random, absolute agreement: ICC(1,k)",
    "ICC2k": "mean of k raters, two-way random, absolute agreement: ICC(A,k)",
    "ICC3k": "mean of k raters, two-way mixed, consistency: ICC(C,k)",
}
_COLUMNS = (
    "form description icc f df1 df2 p_value ci_low ci_high n_targets n_raters n_used n_total reason"
).split()


# --- the two-way ANOVA, for many groups at once -----------------------------------------------


def _anova_sums(
    x: np.ndarray, group: np.ndarray, target: np.ndarray, rater: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    """Listwise deletion and the two-way ANOVA sums of squares of every group.

    ``target`` and ``rater`` number (group, target) and (group, rater) pairs; ``x`` has NaN for
    a missing rating. Returns arrays of length ``n_groups``.
    """
    n_tp, n_rp = target.max(initial=-1) + 1, rater.max(initial=-1) + 1
    group_of_t = np.zeros(n_tp, np.intp)
    group_of_t[target] = group
    group_of_r = np.zeros(n_rp, np.intp)
    group_of_r[rater] = group
    ok = ~np.isnan(x)
    rater_in = np.bincount(rater[ok], minlength=n_rp) > 0
    k = np.bincount(group_of_r, weights=rater_in, minlength=n_groups)
    complete = (np.bincount(target[ok], minlength=n_tp) == k[group_of_t]) & (k[group_of_t] > 0)
    n = np.bincount(group_of_t, weights=complete, minlength=n_groups)
    use = ok & complete[target]
    g, t, r, xv = group[use], target[use], rater[use], x[use]

    def by(codes: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=size)

    with np.errstate(invalid="ignore", divide="ignore"):
        grand = by(g, xv, n_groups) / (n * k)
        t_mean = by(t, xv, n_tp) / k[group_of_t]
        r_mean = by(r, xv, n_rp) / n[group_of_r]
    t_dev = np.where(complete, t_mean - grand[group_of_t], 0.0)
    r_dev = np.where(rater_in, r_mean - grand[group_of_r], 0.0)
    return {
        "n": n,
        "k": k,
        "n_used": by(g, np.ones_like(xv), n_groups),
        "ssb": k * by(group_of_t, t_dev**2, n_groups),
        "ssj": n * by(group_of_r, r_dev**2, n_groups),
        "ssw": by(g, (xv - t_mean[t]) ** 2, n_groups),
        "sse": by(g, (xv - t_mean[t] - r_dev[r]) ** 2, n_groups),
        "sum_x2": by(g, xv * xv, n_groups),
    }


def _icc_table(s: dict[str, np.ndarray], ci: float) -> dict[str, np.ndarray]:
    """The six forms (columns, in ICC_FORMS order) for every group (rows), as psych::ICC."""
    n, k = s["n"], s["k"]
    valid = (n >= 2) & (k >= 2)
    nn, kk = np.where(valid, n, 2.0), np.where(valid, k, 2.0)  # placeholders keep numpy quiet
    # Sums of squares that are zero up to rounding are set to 0, relative to the data's size.
    tol = 64 * np.finfo(float).eps ** 2 * s["sum_x2"] + np.finfo(float).tiny
    ssb, ssj, ssw, sse = (np.where(s[c] <= tol, 0.0, s[c]) for c in ("ssb", "ssj", "ssw", "sse"))
    df_b, df_w, df_e = nn - 1, nn * (kk - 1), (nn - 1) * (kk - 1)
    msb, msj, msw, mse = ssb / df_b, ssj / (kk - 1), ssw / df_w, sse / df_e
    q = 1 - (1 - ci) / 2

    def single(f: np.ndarray) -> np.ndarray:  # (F - 1) / (F + k - 1), = 1 when F is infinite
        return 1 - kk / (f + kk - 1)

    def step_up(r: np.ndarray) -> np.ndarray:  # Spearman-Brown, one rater to k
        return r * kk / (1 + r * (kk - 1))

    with np.errstate(invalid="ignore", divide="ignore"):
        icc2 = (msb - mse) / (msb + (kk - 1) * mse + kk * (msj - mse) / nn)
        icc = np.column_stack([(msb - msw) / (msb + (kk - 1) * msw), icc2,
                               (msb - mse) / (msb + (kk - 1) * mse), (msb - msw) / msb,
                               (msb - mse) / (msb + (msj - mse) / nn), (msb - mse) / msb])  # fmt: skip
        f1, f3 = msb / msw, msb / mse
        # ICC1 and ICC3: exact F limits (Shrout & Fleiss).
        f1_lo, f1_hi = f1 / stats.f.ppf(q, df_b, df_w), f1 * stats.f.ppf(q, df_w, df_b)
        f3_lo, f3_hi = f3 / stats.f.ppf(q, df_b, df_e), f3 * stats.f.ppf(q, df_e, df_b)
        # ICC2: F limits on an approximate (Satterthwaite-type) df v from ICC2 and
        # Fj = MSJ / MSE, as Shrout & Fleiss and psych's ICC.R.
        fj, a = msj / mse, nn * (1 + (kk - 1) * icc2) - kk * icc2
        v = (
            (kk - 1)
            * (nn - 1)
            * (kk * icc2 * fj + a) ** 2
            / ((nn - 1) * kk**2 * icc2**2 * fj**2 + a**2)
        )
        v = np.where(v > 0, v, np.nan)
        f2_u, f2_l = stats.f.ppf(q, df_b, v), stats.f.ppf(q, v, df_b)
        c = kk * msj + (kk * nn - kk - nn) * mse
        l2 = nn * (msb - f2_u * mse) / (f2_u * c + nn * msb)
        u2 = nn * (f2_l * msb - mse) / (c + nn * f2_l * msb)
        # An ICC2 limit at or below -1/(k - 1) is outside the range of the ICC and its step-up
        # meaningless (psych and pingouin can print an ICC2k lower limit above the estimate).
        outside = np.column_stack([l2, u2]) * (kk[:, None] - 1) <= -1
        l2k = np.where(outside[:, 0], np.nan, step_up(l2))
        u2k = np.where(outside[:, 1], np.nan, step_up(u2))
        low = np.column_stack([single(f1_lo), l2, single(f3_lo), 1 - 1 / f1_lo, l2k, 1 - 1 / f3_lo])
        high = np.column_stack(
            [single(f1_hi), u2, single(f3_hi), 1 - 1 / f1_hi, u2k, 1 - 1 / f3_hi]
        )
    f = np.column_stack([f1, f3, f3, f1, f3, f3])
    p = stats.f.sf(f, df_b[:, None], np.column_stack([df_w, df_e, df_e, df_w, df_e, df_e]))
    df1 = np.repeat(np.maximum(n - 1, 0)[:, None], 6, axis=1)
    df2 = np.column_stack([n * np.maximum(k - 1, 0), np.maximum((n - 1) * (k - 1), 0)])
    df2 = df2[:, [0, 1, 1, 0, 1, 1]]

    reason = np.full(icc.shape, "", dtype=object)
    reason[outside.any(axis=1), 4] = (
        "the ICC2 interval reaches below -1/(k - 1): its step-up to k raters is not defined"
    )
    bad = ~np.isfinite(icc) | ~np.isfinite(low) | ~np.isfinite(high)
    bad[:, 4] &= ~outside.any(axis=1)
    reason[bad] = "the interval is not defined for these data"
    reason[bad & (mse == 0)[:, None]] = (
        "no residual variance (MSE = 0): the raters agree up to a shift; interval not defined"
    )
    reason[bad & (msb == 0)[:, None]] = "all target means are equal (MSB = 0): not finite"
    constant = valid & (ssb == 0) & (ssw == 0)
    reason[constant] = "all ratings are identical: no variance to split"
    reason[(n < 2) & (k >= 2)] = "fewer than two targets rated by every rater (listwise)"
    reason[k < 2] = "fewer than two raters with a rating"
    no_model = (~valid | constant)[:, None]
    icc, low, high, f, p = (np.where(no_model, np.nan, a) for a in (icc, low, high, f, p))
    icc, low, high = (np.where(np.isfinite(a), a, np.nan) for a in (icc, low, high))
    df1, df2 = df1.astype(np.int64), df2.astype(np.int64)
    return {"icc": icc, "f": f, "df1": df1, "df2": df2, "p_value": p, "ci_low": low,
            "ci_high": high, "reason": reason}  # fmt: skip


# --- input handling ----------------------------------------------------------------------------


def _check_inputs(data: Any, columns: dict[str, Any], ci: Any, nan_policy: Any) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(
            f"data must be a pandas DataFrame in long format (one row per "
            f"rating); got {type(data).__name__}"
        )
    for name, column in columns.items():
        if not isinstance(column, str) or column not in data.columns:
            raise ParameterError(
                f"{name} must name a column of data; got {column!r}; data has "
                f"{', '.join(map(repr, data.columns))}"
            )
    used = list(columns.values())
    if len(set(used)) != len(used):
        raise ParameterError(f"{', '.join(columns)} must be different columns; got {used!r}")
    check_number("ci", ci, low=0, high=1, low_open=True, high_open=True)
    if nan_policy != "listwise":
        raise ParameterError(
            f"nan_policy must be 'listwise' (the two-way ANOVA needs a complete targets x "
            f"raters table, so 'pairwise' is not available); got {nan_policy!r}"
        )


def _run(
    data: pd.DataFrame, keys: list[str], targets: str, raters: str, ratings: str, ci: float
) -> pd.DataFrame:
    """Check the ids, then the long result table (the ``keys`` columns first)."""
    try:
        x = data[ratings].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ParameterError(
            f"ratings column {ratings!r} must be numeric (missing as NaN or "
            f"NA); got dtype {data[ratings].dtype}"
        ) from None
    if keys:
        cells = data.groupby(keys, sort=True, dropna=False, observed=True)
        group = cells.ngroup().to_numpy(np.intp)
        index, n_total = cells.size().index.to_frame(index=False), cells.size().to_numpy()
    else:
        group, index = np.zeros(len(data), np.intp), pd.DataFrame(index=range(1))
        n_total = np.array([len(data)])
    ided = (data[targets].notna() & data[raters].notna()).to_numpy()
    ids = pd.DataFrame({"group": group[ided], "target": data[targets].to_numpy()[ided],
                        "rater": data[raters].to_numpy()[ided]})  # fmt: skip
    repeats = ids.duplicated(keep=False).to_numpy()
    if repeats.any():
        group_id, target, rater = (v.item() if isinstance(v, np.generic) else v
                                   for v in ids[repeats].iloc[0])  # fmt: skip
        where = f" in group {index.iloc[group_id].to_dict()}" if keys else ""
        raise AnalysisError(
            f"{int(repeats.sum())} rows repeat a target x rater pair: target {target!r} (column "
            f"{targets!r}) was rated more than once by rater {rater!r} (column {raters!r}){where};"
            " each rater may rate each target once - average or remove the repeats first"
        )

    def pair(column: str) -> np.ndarray:
        return ids.groupby(["group", column], sort=False).ngroup().to_numpy(np.intp)

    sums = _anova_sums(x[ided], group[ided], pair("target"), pair("rater"), len(index))
    table = _icc_table(sums, ci)
    n_groups = len(index)
    out = index.loc[np.repeat(np.arange(n_groups), 6)].reset_index(drop=True)
    out["form"] = np.tile(list(ICC_FORMS), n_groups)
    out["description"] = np.tile(list(ICC_FORMS.values()), n_groups)
    for key in ("icc", "f", "df1", "df2", "p_value", "ci_low", "ci_high"):
        out[key] = table[key].ravel()
    counts = {"n_targets": sums["n"], "n_raters": sums["k"], "n_used": sums["n_used"]}
    for key, values in {**counts, "n_total": n_total}.items():
        out[key] = np.repeat(values.astype(np.int64), 6)
    out["reason"] = table["reason"].ravel()
    return out


# --- public functions --------------------------------------------------------------------------


def intraclass_corr(
    data: pd.DataFrame,
    *,
    targets: str,
    raters: str,
    ratings: str,
    ci: float = 0.95,
    nan_policy: Literal["listwise"] = "listwise",
) -> pd.DataFrame:
    """The six Shrout & Fleiss intraclass correlations of one rating design, as ``psych::ICC``.

    Parameters
    ----------
    data : DataFrame
        Long format: one row per rating (as pingouin's ``intraclass_corr``).
    targets, raters, ratings : str, keyword-only
        Columns with the target rated (e.g. the characteristic), the rater (e.g. the partner
        organisation) and the numeric rating.
    ci : float, keyword-only
        Two-sided confidence level of the intervals (default 0.95); each bound uses the
        F quantile 1 - (1 - ci) / 2.
    nan_policy : {"listwise"}, keyword-only
        Targets missing a rating from any rater (who rated anything) are dropped; see the
        module notes. Rows without a target or rater id are not used.

    Returns
    -------
    DataFrame
        Six rows (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k) with ``form``, ``description``,
        ``icc``, ``f``, ``df1``, ``df2``, ``p_value`` (F test of ICC = 0), ``ci_low``,
        ``ci_high``, ``n_targets`` and ``n_raters`` (of the complete table), ``n_used``
        (ratings used), ``n_total`` (rows of ``data``) and ``reason`` (why a figure is NaN).

    Raises
    ------
    AnalysisError
        If a rater rated a target twice, or fewer than two raters or two complete targets
        are left.

    Notes
    -----
    With n targets, k raters and the two-way ANOVA mean squares MSB (targets, n - 1 df), MSJ
    (raters, k - 1), MSE (residual, (n - 1)(k - 1)) and the one-way MSW (within targets,
    n(k - 1)):

        ICC1 = (MSB - MSW) / (MSB + (k - 1) MSW),       ICC1k = (MSB - MSW) / MSB,
        ICC2 = (MSB - MSE) / (MSB + (k - 1) MSE + k (MSJ - MSE) / n),
        ICC2k = (MSB - MSE) / (MSB + (MSJ - MSE) / n),
        ICC3 = (MSB - MSE) / (MSB + (k - 1) MSE),       ICC3k = (MSB - MSE) / MSB.

    F = MSB / MSW for the ICC1 forms and MSB / MSE for the others, as psych and pingouin
    (McGraw & Wong's test of ICC(A,1) = 0 uses the same F). ICCs are not truncated at 0.

    Intervals, exactly as psych's ``ICC.R``: exact F limits for ICC1 and ICC3 (and their k
    forms); for ICC2, F limits on an approximate (Satterthwaite-type) df v computed from ICC2
    and MSJ / MSE, and ICC2k's limits are their Spearman-Brown step-ups (psych's help notes
    that these follow Shrout & Fleiss; SPSS agreed only once it used McGraw & Wong's
    erratum). pingouin uses the same formulas. One deviation: an ICC2 limit at or below
    -1/(k - 1) is outside the range of the ICC and its step-up meaningless (psych and
    pingouin then print an ICC2k lower limit above the estimate), so that ICC2k limit is NaN
    with a reason.

    The level: ``ci`` is two-sided, each bound using the F quantile 1 - (1 - ci) / 2, as
    pingouin (fixed at 95%) and as psych's ``ICC(x, alpha = .05)`` in the versions that use
    ``qf(1 - alpha/2)``. The psych source whose comment reads "fixed again? on 5/21/19" uses
    ``qf(1 - alpha)`` instead - a 90% interval at its default alpha; ``ci=0.90`` reproduces
    it. Check which your psych version prints before comparing limits.

    Missing data: listwise, see ``nan_policy``. psych's default (``lmer = TRUE``) gives
    different figures with missing ratings and whenever a variance component is estimated
    below 0; these are its ``lmer = FALSE`` (ANOVA) figures.

    References
    ----------
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing rater
    reliability. Psychological Bulletin, 86, 420-428. doi:10.1037/0033-2909.86.2.420

    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation
    coefficients. Psychological Methods, 1, 30-46 (erratum p. 390). doi:10.1037/1082-989X.1.1.30

    Examples
    --------
    The equivalent calls: R ``psych::ICC(wide, lmer = FALSE)``; Python
    ``pingouin.intraclass_corr(data, targets=..., raters=..., ratings=...)``.

    >>> d = pd.DataFrame({"characteristic": list("aabbcc"), "partner": ["p", "q"] * 3,
    ...                   "rating": [1, 2, 3, 3, 5, 4]})
    >>> out = intraclass_corr(d, targets="characteristic", raters="partner", ratings="rating")
    >>> out[["form", "icc", "f", "df1", "df2", "n_used"]].round(4)
        form     icc     f  df1  df2  n_used
    0   ICC1  0.8621  13.5    2    3       6
    1   ICC2  0.8571   9.0    2    2       6
    2   ICC3  0.8000   9.0    2    2       6
    3  ICC1k  0.9259  13.5    2    3       6
    4  ICC2k  0.9231   9.0    2    2       6
    5  ICC3k  0.8889   9.0    2    2       6
    """
    _check_inputs(data, {"targets": targets, "raters": raters, "ratings": ratings}, ci, nan_policy)
    out = _run(data, [], targets, raters, ratings, ci)
    k, n = int(out["n_raters"].iloc[0]), int(out["n_targets"].iloc[0])
    if k < 2:
        raise AnalysisError(
            f"column {raters!r} has {k} rater(s) with a rating; the ICCs need at least two raters"
        )
    if n < 2:
        raise AnalysisError(
            f"column {targets!r} has {n} target(s) rated by all {k} raters (targets missing a "
            "rating are dropped, listwise); the ICCs need at least two complete targets"
        )
    return out


def intraclass_corr_wide(
    table: pd.DataFrame, *, ci: float = 0.95, nan_policy: Literal["listwise"] = "listwise"
) -> pd.DataFrame:
    """:func:`intraclass_corr` of a wide table: targets as rows, raters as columns.

    The layout ``psych::ICC`` takes. Missing ratings as NaN, handled as in
    :func:`intraclass_corr`; ``n_total`` counts the cells of the table.

    >>> sf = pd.DataFrame([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6],
    ...                    [10, 5, 6, 9], [6, 2, 4, 7]], columns=["J1", "J2", "J3", "J4"])
    >>> intraclass_corr_wide(sf)[["form", "icc", "ci_low", "ci_high"]].round(3)
        form    icc  ci_low  ci_high
    0   ICC1  0.166  -0.133    0.723
    1   ICC2  0.290   0.019    0.761
    2   ICC3  0.715   0.342    0.946
    3  ICC1k  0.443  -0.884    0.912
    4  ICC2k  0.620   0.071    0.927
    5  ICC3k  0.909   0.676    0.986
    """
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(
            f"table must be a pandas DataFrame (targets as rows, raters as "
            f"columns); got {type(table).__name__}"
        )
    try:
        values = table.to_numpy(dtype="float64", na_value=np.nan).ravel()
    except (TypeError, ValueError):
        raise ParameterError("table must hold numeric ratings (missing as NaN or NA)") from None
    n_rows, n_cols = table.shape
    long = pd.DataFrame(
        {
            "target": np.repeat(np.arange(n_rows), n_cols),
            "rater": np.tile(table.columns.to_numpy(), n_rows),
            "rating": values,
        }
    )
    return intraclass_corr(
        long, targets="target", raters="rater", ratings="rating", ci=ci, nan_policy=nan_policy
    )


def grouped_intraclass_corr(
    data: pd.DataFrame,
    *,
    by: str | Sequence[str],
    targets: str,
    raters: str,
    ratings: str,
    ci: float = 0.95,
    nan_policy: Literal["listwise"] = "listwise",
) -> pd.DataFrame:
    """The six ICCs of :func:`intraclass_corr` for every group, in one pass.

    E.g. how well the partner organisations of each collaboration agree when they rate its
    characteristics: ``by="collaboration_id"``, ``targets="characteristic"``,
    ``raters="partner_id"``.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per rating.
    by : str or sequence of str, keyword-only
        Column(s) whose combinations are analysed separately; a missing value forms its own
        group.
    targets, raters, ratings, ci, nan_policy
        As :func:`intraclass_corr` (listwise deletion within each group).

    Returns
    -------
    DataFrame
        The ``by`` columns and the columns of :func:`intraclass_corr`, six rows per group
        (groups sorted). A group with fewer than two raters or complete targets gets NaN
        figures and a ``reason`` rather than an error.

    Raises
    ------
    AnalysisError
        If a rater rated a target twice within a group (the message names the group).

    Examples
    --------
    >>> d = pd.DataFrame({"collaboration_id": ["c1"] * 6 + ["c2"] * 4,
    ...                   "characteristic": list("aabbcc") + list("aabb"),
    ...                   "partner": ["p", "q"] * 5, "rating": [1, 2, 3, 3, 5, 4, 2, 2, 4, 5]})
    >>> out = grouped_intraclass_corr(d, by="collaboration_id", targets="characteristic",
    ...                               raters="partner", ratings="rating")
    >>> out.loc[out["form"] == "ICC2", ["collaboration_id", "icc", "n_targets"]].round(4)
      collaboration_id     icc  n_targets
    1               c1  0.8571          3
    7               c2  0.9231          2
    """
    keys = [by] if isinstance(by, str) else by
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(c, str) for c in keys):
        raise ParameterError(
            f"by must be a column name or a non-empty sequence of column names; got {by!r}"
        )
    _check_inputs(data, {"targets": targets, "raters": raters, "ratings": ratings}, ci, nan_policy)
    keys = list(keys)
    missing = [c for c in keys if c not in data.columns]
    if missing:
        raise ParameterError(f"by names columns that are not in data: {missing!r}")
    clash = [c for c in keys if c in (targets, raters, ratings) or c in _COLUMNS]
    if clash or len(set(keys)) != len(keys):
        raise ParameterError(
            f"by columns must differ from each other, from targets, raters "
            f"and ratings, and from the output columns; got {keys!r}"
        )
    return _run(data, keys, targets, raters, ratings, ci)
