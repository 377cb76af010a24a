"""Reliability of multi-item scales: Cronbach's alpha, item analysis and McDonald's omega.

Every statistic here starts from the items' covariance matrix ``C`` (``k`` items). Missing
answers follow the library's one vocabulary (:data:`collab_stats._params.NanPolicy`):

``"pairwise"``
    each covariance uses every respondent who answered both items (each variance, every
    respondent who answered the item), with the ``N - 1`` denominator, as ``psych::alpha``
    (``use = "pairwise"``) and ``pingouin.cronbach_alpha`` do. The correlations behind
    standardised alpha, ``average_r``, standardised alpha-if-dropped and omega are R's
    ``cor(x, use = "pairwise")`` (each pair's own means and standard deviations), as
    ``psych::alpha`` computes them since psych 2.4 (``R <- cor(x, use = use)``; older
    versions used ``cov2cor`` of the covariance matrix, which differs when answers are
    missing). ``n_used`` counts respondents who answered at least one item.
``"listwise"``
    only respondents who answered every item are used; ``n_used`` counts them.

``n_total`` is always the number of rows given. Nothing is imputed and no row is dropped
without being counted.

A figure that cannot be computed is NaN and its result says why in ``reason``; the functions
never raise for too little data, so the shape of a result never depends on the data or the
options. The rules (the same on the single-set and the grouped paths):

* at least 2 items (3 for omega: a one-factor model of 2 items is not identified);
* at least 3 respondents in ``n_used``;
* under ``"pairwise"``, every item answered by at least 2 respondents and every pair of items
  answered together by at least 2 (otherwise a covariance is undefined);
* a positive variance of the total score (``sum(C) > 1e-12 * trace(C)``);
* for standardised alpha, ``average_r``, ``r_drop`` and omega, no item with zero variance
  (``var <= 1e-14 * mean**2``).

The grouped functions (:func:`grouped_reliability`, :func:`grouped_item_analysis`) compute the
same numbers for many groups (e.g. every collaboration x wave) in one pass over the grouped
array: the per-group pair sums are batched matrix products over groups padded to a common
size (in size buckets), and the one-factor fits are batched over stacked ``(G, k, k)``
correlation matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._params import NAN_POLICIES, NanPolicy, check_number, check_option
from .errors import ParameterError

__all__ = [
    "AlphaResult",
    "ItemAnalysis",
    "OmegaResult",
    "cronbach_alpha",
    "grouped_item_analysis",
    "grouped_reliability",
    "item_analysis",
    "mcdonald_omega",
    "omega_bootstrap_ci",
    "reliability_flag_table",
    "reliability_flags",
]

MIN_RESPONDENTS = 3
_ZERO_ITEM_VAR = 1e-14  # an item's variance is zero when var <= this * mean**2
_ZERO_TOTAL_VAR = 1e-12  # the total's variance is zero when sum(C) <= this * trace(C)
_IPA_TOL = 1e-3  # principal-axis iterations give starting values to this change in h2 ...
_IPA_MAX_ITER = 100  # ... or stop after this many
_NEWTON_MAX_ITER = 100
_NEWTON_TOL = 1e-10
_HEYWOOD_MARGIN = 1e-8  # a communality above 1 + this is a Heywood case (1 itself is not)
_CHUNK_CELLS = 2**22  # padded array cells per batch in the grouped sums


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha of one set of items.

    Attributes
    ----------
    alpha : float
        Raw alpha from the covariance matrix.
    std_alpha : float
        Standardised alpha from the correlation matrix (pairwise correlations under
        ``"pairwise"``, as psych >= 2.4; see the module docstring).
    average_r : float
        Mean inter-item correlation (off-diagonal).
    ci_low, ci_high : float
        Confidence interval of ``alpha``.
    ci_method : {"feldt", "bootstrap"}
    ci_level : float
    n_boot : int
        Bootstrap replicates with a finite alpha (0 for the Feldt interval).
    n_items, n_used, n_total : int
        Items; respondents used (see the module notes); rows given.
    nan_policy : {"pairwise", "listwise"}
    reason : str
        ``""`` when every figure is computed, otherwise why some are NaN.
    """

    alpha: float
    std_alpha: float
    average_r: float
    ci_low: float
    ci_high: float
    ci_method: Literal["feldt", "bootstrap"]
    ci_level: float
    n_boot: int
    n_items: int
    n_used: int
    n_total: int
    nan_policy: NanPolicy
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One tidy row with every field."""
        return pd.DataFrame([asdict(self)])


@dataclass(frozen=True, eq=False)
class ItemAnalysis:
    """Item statistics of one set of items (one row per item in ``table``).

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``item, n, mean, sd, r_drop, alpha_if_dropped, pct_missing``, then
        ``p_<point>`` for each scale point when asked for, then ``reason``.
    n_used, n_total : int
        Respondents used and rows given (see the module notes).
    nan_policy : {"pairwise", "listwise"}
    """

    table: pd.DataFrame
    n_used: int
    n_total: int
    nan_policy: NanPolicy

    def to_frame(self) -> pd.DataFrame:
        """The item table (a copy)."""
        return self.table.copy()


@dataclass(frozen=True, eq=False)
class OmegaResult:
    """McDonald's omega total from a one-factor model of one set of items.

    Attributes
    ----------
    omega : float
    loadings : pandas.Series
        Standardised loadings, one per item (signed so that they sum to >= 0); NaN when no
        model was fitted.
    n_items, n_used, n_total : int
    converged : bool
        Whether the fit reached a local minimum of the least-squares criterion.
    n_iter : int
        Iterations used (principal-axis plus Newton).
    nan_policy : {"pairwise", "listwise"}
    reason : str
        ``""`` when omega is computed, otherwise why it is NaN.
    """

    omega: float
    loadings: pd.Series
    n_items: int
    n_used: int
    n_total: int
    converged: bool
    n_iter: int
    nan_policy: NanPolicy
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One tidy row (the loadings are in :attr:`loadings`)."""
        row = {k: v for k, v in asdict(self).items() if k != "loadings"}
        return pd.DataFrame([row])


# --- input checks ------------------------------------------------------------------------------


def _item_matrix(items: Any, name: str = "items") -> tuple[np.ndarray, list[Any]]:
    if isinstance(items, pd.DataFrame):
        bad = [c for c, dt in items.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)]
        if bad:
            raise ParameterError(f"{name} must hold numbers only; non-numeric columns: {bad!r}")
        x = items.to_numpy(dtype=float, na_value=np.nan)
        names = list(items.columns)
    elif isinstance(items, np.ndarray) and name == "values":
        if items.ndim != 2 or items.dtype.kind not in "biuf":
            raise ParameterError(f"{name} must be a 2-D numeric array (rows x items); got "
                                 f"a {items.ndim}-D array of dtype {items.dtype}")
        x = items.astype(float)
        names = list(range(x.shape[1]))
    else:
        kinds = "a pandas DataFrame or a 2-D numpy array" if name == "values" else \
            "a pandas DataFrame"
        raise ParameterError(f"{name} must be {kinds} with one column per item; got "
                             f"{type(items).__name__}")
    inf_cols = [names[j] for j in np.flatnonzero(np.isinf(x).any(axis=0))]
    if inf_cols:
        raise ParameterError(f"{name} must be finite or NaN; infinite values in columns "
                             f"{inf_cols!r}")
    return x, names


def _check_policy(nan_policy: Any) -> NanPolicy:
    return check_option("nan_policy", nan_policy, NAN_POLICIES)


def _check_ci(ci: Any) -> float:
    return float(check_number("ci", ci, low=0, high=1, low_open=True, high_open=True))


def _check_scale_points(scale_points: Any) -> list[int] | None:
    if scale_points is None:
        return None
    if isinstance(scale_points, str | bytes) or not isinstance(scale_points, Sequence | np.ndarray):
        raise ParameterError(f"scale_points must be a sequence of whole numbers or None; got "
                             f"{scale_points!r}")
    points = list(scale_points)
    if any(isinstance(p, bool) or not isinstance(p, int | np.integer) for p in points):
        raise ParameterError(f"scale_points must be whole numbers; got {points!r}")
    if not points or len(set(points)) != len(points):
        raise ParameterError(f"scale_points must be distinct and non-empty; got {points!r}")
    return [int(p) for p in points]


def _observed(x: np.ndarray, nan_policy: str) -> np.ndarray:
    """Which cells are used: answered, and (listwise) in a row answered on every item."""
    obs = ~np.isnan(x)
    if nan_policy == "listwise":
        obs &= obs.all(axis=1, keepdims=True)
    return obs


def _scale_point_index(x: np.ndarray, obs: np.ndarray, points: list[int]) -> np.ndarray:
    """Position of each used answer in ``points`` (-1 where unused); off-scale answers raise."""
    pts = np.asarray(points, dtype=float)
    order = np.argsort(pts)
    pos = np.searchsorted(pts[order], np.where(obs, x, pts[0]))
    pos = np.clip(pos, 0, len(pts) - 1)
    hit = pts[order][pos] == x
    off = obs & ~hit
    if off.any():
        values = sorted(set(x[off].tolist()))[:10]
        raise ParameterError(f"scale_points {points!r} do not cover every answer; also found "
                             f"{values!r}")
    return np.where(obs, order[pos], -1)


# --- covariance matrices -----------------------------------------------------------------------


def _single_cov(x: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Covariances and correlations (pandas, pairwise-complete, N - 1), pair counts, item
    means, n_used.

    The correlations are R's ``cor(x, use = "pairwise")``: each pair's own means and standard
    deviations, not ``cov2cor`` of the covariances (the two differ when answers are missing).
    """
    used = np.where(obs, x, np.nan)
    k = x.shape[1]
    if obs.any(axis=1).sum() >= 2:
        cov = pd.DataFrame(used).cov().to_numpy()
    else:  # no covariance from fewer than 2 rows (and np.cov would warn)
        cov = np.full((k, k), np.nan)
    counts = obs.T.astype(float) @ obs.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.nansum(used, axis=0) / obs.sum(axis=0)
    cov = np.where(counts >= 2, cov, np.nan)
    # the correlations from the same sums as the grouped path, so both apply one rule
    one = np.zeros(x.shape[0], dtype=np.intp)
    counts_1, a, q, sq, shift = _grouped_sums(x, obs, one, 1)
    corr = _corr_from_sums(_cov_from_sums(counts_1, a, q, shift)[0], counts_1, a, sq, shift)
    n_used = int(obs.any(axis=1).sum())
    return cov[None], corr, counts[None], means[None], np.array([n_used])


def _grouped_sums(x: np.ndarray, obs: np.ndarray, codes: np.ndarray, n_groups: int):
    """Per group: pair counts N, shifted sums A, cross-products Q, pair sums of squares S
    and the item shifts.

    Rows are sorted by group and laid out as (groups, rows, items) arrays padded with zeros,
    one batch per size bucket (sizes in (2**(b-1), 2**b]), so the sums are batched matrix
    products. Values are shifted by their group-item mean before multiplying (no
    cancellation); ``A[g, i, j]`` is the sum of shifted item-i values over rows answering
    both i and j, and ``S[g, i, j]`` the sum of its squares over those rows (for the
    pair-specific variances of pairwise correlations).
    """
    n, k = x.shape
    counts = np.zeros((n_groups, k, k))
    a = np.zeros((n_groups, k, k))
    q = np.zeros((n_groups, k, k))
    sq = np.zeros((n_groups, k, k))
    shift = np.zeros((n_groups, k))
    if n == 0 or n_groups == 0:
        return counts, a, q, sq, shift
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    bucket = np.ceil(np.log2(np.maximum(sizes, 1))).astype(int)
    for b in np.unique(bucket):
        members = np.flatnonzero(bucket == b)
        width = int(sizes[members].max())
        step = max(1, _CHUNK_CELLS // max(1, width * k))
        for lo in range(0, len(members), step):
            gb = members[lo:lo + step]
            pos = np.arange(width)
            valid = pos < sizes[gb][:, None]
            rows = order[np.minimum(starts[gb][:, None] + pos, n - 1)]
            ob = obs[rows] & valid[:, :, None]
            xb = np.where(ob, x[rows], 0.0)
            m = ob.astype(float)
            cnt = m.sum(axis=1)
            c = np.divide(xb.sum(axis=1), cnt, out=np.zeros((len(gb), k)), where=cnt > 0)
            d = (xb - c[:, None, :]) * m
            mt = m.transpose(0, 2, 1)
            dt = d.transpose(0, 2, 1)
            counts[gb] = mt @ m
            a[gb] = dt @ m
            q[gb] = dt @ d
            sq[gb] = (dt * dt) @ m
            shift[gb] = c
    return counts, a, q, sq, shift


def _cov_from_sums(counts, a, q, shift):
    """Pairwise covariances (N - 1) and item means from the shifted sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (q - a * a.transpose(0, 2, 1) / counts) / (counts - 1)
        cov = np.where(counts >= 2, cov, np.nan)
        cov = 0.5 * (cov + cov.transpose(0, 2, 1))
        n_item = np.diagonal(counts, axis1=1, axis2=2)
        means = shift + np.diagonal(a, axis1=1, axis2=2) / n_item
    return cov, np.where(n_item > 0, means, np.nan)


def _corr_from_sums(cov, counts, a, sq, shift):
    """Pairwise correlations (R's ``cor(use = "pairwise")``) from the shifted sums.

    ``var[g, i, j]`` is item i's variance over the rows answering both i and j, so
    ``r_ij = cov_ij / sqrt(var[i, j] var[j, i])`` uses each pair's own standard deviations.
    A pair in which either item does not vary (``var <= 1e-14 * mean**2``, the zero-variance
    rule of the module) has no correlation: NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (sq - a * a / counts) / (counts - 1)
        mean = shift[:, :, None] + a / counts
        flat = var <= _ZERO_ITEM_VAR * mean**2
        corr = cov / np.sqrt(var * var.transpose(0, 2, 1))
    bad = (counts < 2) | flat | flat.transpose(0, 2, 1)
    corr = np.where(bad, np.nan, corr)
    k = corr.shape[1]
    corr[:, np.arange(k), np.arange(k)] = np.where(
        np.diagonal(bad, axis1=1, axis2=2), np.nan, 1.0)
    return corr


# --- statistics from covariance matrices (shared by every path) ---------------------------------


def _pair_messages(names: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(len(names), 1)
    msgs = [f"items {names[i]!r} and {names[j]!r} were answered together by fewer than 2 "
            f"respondents" for i, j in zip(iu, ju, strict=True)]
    return iu, ju, np.array(msgs, dtype=object)


def _first(mask: np.ndarray) -> np.ndarray:
    return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def _scale_stats(cov, corr, counts, means, n_used, names, nan_policy):
    """Alpha, standardised alpha, average r and the reasons, for stacked (G, k, k) input.

    ``corr`` holds the pairwise correlations (see :func:`_single_cov`); ``None`` where only
    raw alpha is wanted (the bootstrap), and standardised alpha and average r are then NaN.
    """
    g, k = cov.shape[0], len(names)
    out = {key: np.full(g, np.nan) for key in ("alpha", "std_alpha", "average_r")}
    reason = np.full(g, "", dtype=object)
    usable = np.zeros(g, dtype=bool)
    zero_item = np.zeros((g, k), dtype=bool)
    if k < 2:
        reason[:] = "fewer than 2 items"
        return out, reason, usable, zero_item
    iu, ju, pair_msgs = _pair_messages(names)
    sparse = counts[:, iu, ju] < 2
    sparse_item = np.diagonal(counts, axis1=1, axis2=2) < 2
    few = n_used < MIN_RESPONDENTS
    diag = np.diagonal(cov, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        trace = diag.sum(axis=1)
        total = cov.sum(axis=(1, 2))
        bad_total = ~(total > _ZERO_TOTAL_VAR * trace)
        zero_item = diag <= _ZERO_ITEM_VAR * means**2
        alpha = k / (k - 1) * (1 - trace / total)
        avg_r = (_off_diagonal_mean(corr, k) if corr is not None else np.full(g, np.nan))
        std_alpha = k * avg_r / (1 + (k - 1) * avg_r)
    has_zero = zero_item.any(axis=1)
    no_corr = (~np.isfinite(corr[:, iu, ju]) if corr is not None
               else np.zeros((g, len(iu)), dtype=bool))
    has_no_corr = no_corr.any(axis=1)
    no_corr_msgs = np.array([f"items {names[i]!r} and {names[j]!r} have no correlation (one "
                             f"does not vary among the respondents who answered both), so "
                             f"standardised alpha and average_r are undefined"
                             for i, j in zip(iu, ju, strict=True)], dtype=object)
    std_total_bad = ~(1 + (k - 1) * avg_r > _ZERO_TOTAL_VAR)  # sum(R) / k
    zero_msgs = np.array([f"item {nm!r} has zero variance, so standardised alpha and "
                          f"average_r are undefined" for nm in names], dtype=object)
    few_msg = ("fewer than 3 respondents with answers" if nan_policy == "pairwise" else
               "fewer than 3 respondents answered every item")
    # lowest precedence first: later assignments overwrite
    reason[std_total_bad] = ("the standardised total score has zero or negative variance, so "
                             "standardised alpha is undefined")
    reason[has_no_corr] = no_corr_msgs[_first(no_corr)[has_no_corr]]
    reason[has_zero] = zero_msgs[_first(zero_item)[has_zero]]
    all_const = bad_total & ~(trace > 0)
    reason[bad_total] = "the total score has zero or negative variance"
    reason[all_const] = "zero variance: every item has a single value"
    pair_bad = sparse.any(axis=1)
    reason[pair_bad] = pair_msgs[_first(sparse)[pair_bad]]
    item_bad = sparse_item.any(axis=1)
    item_msgs = np.array([f"item {nm!r} has fewer than 2 answers" for nm in names], dtype=object)
    reason[item_bad] = item_msgs[_first(sparse_item)[item_bad]]
    pair_bad |= item_bad
    reason[few] = few_msg
    usable = ~(few | pair_bad)
    ok_alpha = usable & ~bad_total
    ok_std = ok_alpha & ~has_zero & ~has_no_corr & (corr is not None)
    out["alpha"] = np.where(ok_alpha, alpha, np.nan)
    out["std_alpha"] = np.where(ok_std & ~std_total_bad, std_alpha, np.nan)
    out["average_r"] = np.where(ok_std, avg_r, np.nan)
    zero_item = np.where(usable[:, None], zero_item, False)
    return out, reason, usable, zero_item


def _off_diagonal_mean(corr, k):
    """Mean off-diagonal element of stacked (G, k, k) matrices (NaN where one is NaN)."""
    off = ~np.eye(k, dtype=bool)
    return corr[:, off].sum(axis=1) / (k * (k - 1))


def _feldt(alpha, n, k, ci):
    """Feldt (1965) interval: 1 - (1 - alpha) * F quantiles on (n - 1, (n - 1)(k - 1)) df."""
    q = 1.0 - ci
    with np.errstate(invalid="ignore", divide="ignore"):
        df1 = np.asarray(n, dtype=float) - 1.0
        df2 = df1 * (k - 1)
        ok = np.isfinite(alpha) & (df1 > 0) & (df2 > 0)
        df1, df2 = np.where(ok, df1, 1.0), np.where(ok, df2, 1.0)
        upper_q, lower_q = stats.f.isf(np.array([q / 2, 1 - q / 2])[:, None], df1, df2)
        low = 1 - (1 - alpha) * upper_q
        high = 1 - (1 - alpha) * lower_q
    return np.where(ok, low, np.nan), np.where(ok, high, np.nan)


def _item_stats(cov, corr, counts, means, usable, zero_item, scale_reason, k):
    """Per item: n, mean, sd, r_drop, alpha_if_dropped, std_alpha_if_dropped and reasons,
    shape (G, k)."""
    g = cov.shape[0]
    n = np.diagonal(counts, axis1=1, axis2=2).copy()
    diag = np.diagonal(cov, axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(n >= 2, np.sqrt(diag), np.nan)
        col = cov.sum(axis=2)
        total = cov.sum(axis=(1, 2))[:, None]
        trace = diag.sum(axis=1)[:, None]
        rest = total - 2 * col + diag  # variance of the sum of the other items
        rest_zero = ~(rest > _ZERO_TOTAL_VAR * (trace - diag))
        r_drop = (col - diag) / np.sqrt(diag * rest)
        alpha_drop = ((k - 1) / (k - 2) * (1 - (trace - diag) / rest) if k >= 3
                      else np.full((g, k), np.nan))
        # standardised alpha of the other k - 1 items: their mean off-diagonal correlation
        off = np.where(np.eye(k, dtype=bool), 0.0, corr)
        r_rest = ((off.sum(axis=(1, 2))[:, None] - 2 * off.sum(axis=2)) / ((k - 1) * (k - 2))
                  if k >= 3 else np.full((g, k), np.nan))
        std_drop = (k - 1) * r_rest / (1 + (k - 2) * r_rest)
    ok = usable[:, None] & np.ones((g, k), dtype=bool)
    r_ok = ok & ~zero_item & ~rest_zero
    a_ok = ok & ~rest_zero & (k >= 3)
    parts = [
        (~usable[:, None] & np.ones((g, k), dtype=bool),
         np.broadcast_to(scale_reason[:, None], (g, k)).astype(object)),
        (ok & zero_item, "zero variance, so r_drop is undefined"),
        (ok & rest_zero, "the other items' total has zero variance"),
        (ok & np.full((g, k), k < 3), "alpha without the item needs at least 3 items"),
    ]
    reason = np.full((g, k), "", dtype=object)
    for mask, msg in parts:
        sep = np.where(reason == "", "", "; ")
        reason = np.where(mask, reason + sep + msg, reason)
    return {
        "n": n.astype(int),
        "mean": np.where(n >= 1, means, np.nan),
        "sd": sd,
        "r_drop": np.where(r_ok, r_drop, np.nan),
        "alpha_if_dropped": np.where(a_ok, alpha_drop, np.nan),
        "std_alpha_if_dropped": np.where(a_ok & ~zero_item.any(axis=1, keepdims=True),
                                         std_drop, np.nan),
    }, reason


# --- one-factor model ------------------------------------------------------------------------


def _uls_parts(load, r0, off):
    """Off-diagonal residuals r_ij - l_i l_j and f = sum_{i<j} residual**2."""
    resid = r0 - load[:, :, None] * load[:, None, :] * off
    flat = resid.reshape(len(resid), -1)
    return resid, 0.5 * np.einsum("gi,gi->g", flat, flat)


def _fit_one_factor(corr: np.ndarray):
    """Least-squares (minres) one-factor fits of stacked correlation matrices (G, k, k).

    Starting values: communalities = squared multiple correlations, then up to
    ``_IPA_MAX_ITER`` iterated principal-axis steps (one power iteration each) until the
    communalities change by less than ``_IPA_TOL``. Then Levenberg-Marquardt-damped Newton
    steps on ``f(l) = sum_{i<j} (r_ij - l_i l_j)**2`` until the gradient is below
    ``_NEWTON_TOL``, and one undamped Newton step. A fit counts as converged only at a local
    minimum (positive definite Hessian).
    Returns loadings (G, k), converged (G,), iterations (G,).
    """
    g, k, _ = corr.shape
    eye = np.eye(k)
    off = 1.0 - eye
    r0 = corr * off
    h2 = np.abs(r0).max(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            smc = 1 - 1 / np.diagonal(np.linalg.inv(corr), axis1=1, axis2=2)
            good = np.ones(g, dtype=bool)
        except np.linalg.LinAlgError:
            good = np.abs(np.linalg.det(corr)) > 1e-12
            smc = np.zeros((g, k))
            smc[good] = 1 - 1 / np.diagonal(np.linalg.inv(corr[good]), axis1=1, axis2=2)
    good = good[:, None] & np.isfinite(smc)
    h2 = np.where(good, np.clip(smc, 0.0, 1.0), h2)
    evals, evecs = np.linalg.eigh(r0 + h2[:, :, None] * eye)
    vec = evecs[:, :, -1]
    load = vec * np.sqrt(np.clip(evals[:, -1], 0, None))[:, None]
    h2 = load**2
    n_iter = np.ones(g, dtype=int)
    active = np.ones(g, dtype=bool)
    for _ in range(_IPA_MAX_ITER):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        v = vec[idx]
        y = (r0[idx] @ v[:, :, None])[:, :, 0] + h2[idx] * v
        lam = (v * y).sum(axis=1)
        norm = np.linalg.norm(y, axis=1)
        v_new = np.where(norm[:, None] > 0, y / np.where(norm > 0, norm, 1)[:, None], v)
        l_new = v_new * np.sqrt(np.clip(lam, 0, None))[:, None]
        done = np.abs(l_new**2 - h2[idx]).max(axis=1) < _IPA_TOL
        vec[idx], load[idx], h2[idx] = v_new, l_new, l_new**2
        n_iter[idx] += 1
        active[idx[done]] = False

    resid, fval = _uls_parts(load, r0, off)
    mu = np.full(g, 1e-4)
    active = np.ones(g, dtype=bool)
    small_grad = np.zeros(g, dtype=bool)
    for _ in range(_NEWTON_MAX_ITER):
        idx = np.flatnonzero(active)
        if not idx.size:
            break
        li, ri = load[idx], resid[idx]
        grad = -2 * (ri @ li[:, :, None])[:, :, 0]
        done = np.abs(grad).max(axis=1) <= _NEWTON_TOL * np.maximum(1, np.abs(li).max(axis=1))
        small_grad[idx[done]] = True
        active[idx[done]] = False
        idx, li, ri, grad = idx[~done], li[~done], ri[~done], grad[~done]
        if not idx.size:
            break
        damped = _uls_hessian(li, ri, eye, off) + mu[idx, None, None] * eye
        step = _solve(damped, -grad)
        l_new = li + step
        r_new, f_new = _uls_parts(l_new, r0[idx], off)
        accept = f_new <= fval[idx] * (1 + 1e-14)  # near the minimum f changes below rounding
        acc = idx[accept]
        load[acc], resid[acc], fval[acc] = l_new[accept], r_new[accept], f_new[accept]
        mu[acc] = mu[acc] / 10
        mu[idx[~accept]] *= 10
        n_iter[idx] += 1
        active[idx[~np.isfinite(step).all(axis=1) | (mu[idx] > 1e12)]] = False
    # at a small gradient: a local minimum if the Hessian is positive definite; then one
    # undamped Newton step polishes the loadings (error ~ squared), so where exactly the loop
    # stopped does not matter
    converged = np.zeros(g, dtype=bool)
    if small_grad.any():
        ci = np.flatnonzero(small_grad)
        li, ri = load[ci], resid[ci]
        hess = _uls_hessian(li, ri, eye, off)
        ev = np.linalg.eigvalsh(hess)
        pd_ok = ev[:, 0] > 1e-10 * np.maximum(1, np.abs(ev[:, -1]))
        grad = -2 * (ri @ li[:, :, None])[:, :, 0]
        polished = li + _solve(hess, -grad)
        load[ci] = np.where(pd_ok[:, None], polished, li)
        converged[ci] = pd_ok
        n_iter[ci] += 1
    sign = np.where(load.sum(axis=1) < 0, -1.0, 1.0)
    return load * sign[:, None], converged, n_iter


def _solve(mat, rhs):
    """Batched solve of mat @ x = rhs; pseudo-inverse if a matrix is singular."""
    try:
        return np.linalg.solve(mat, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return (np.linalg.pinv(mat) @ rhs[:, :, None])[:, :, 0]


def _uls_hessian(load, resid, eye, off):
    """Hessian of f: 2 (2 l_a l_b - r_ab) off the diagonal, 2 sum_{j != a} l_j^2 on it."""
    sq = load**2
    hess = 2 * (load[:, :, None] * load[:, None, :] - resid)  # resid is 0 on the diagonal
    diag = np.arange(load.shape[1])
    hess[:, diag, diag] = 2 * (sq.sum(axis=1)[:, None] - sq)
    return hess


def _omega_stats(corr, usable, zero_item, scale_reason, names):
    """Omega, loadings, converged, iterations and reasons for stacked pairwise correlations."""
    g, k = corr.shape[0], len(names)
    omega = np.full(g, np.nan)
    loadings = np.full((g, k), np.nan)
    converged = np.zeros(g, dtype=bool)
    n_iter = np.zeros(g, dtype=int)
    reason = np.full(g, "", dtype=object)
    if k < 3:
        reason[:] = "fewer than 3 items: a one-factor model needs at least 3"
        return omega, loadings, converged, n_iter, reason
    has_zero = zero_item.any(axis=1)
    zero_msgs = np.array([f"item {nm!r} has zero variance, so its correlations are undefined"
                          for nm in names], dtype=object)
    iu, ju = np.triu_indices(k, 1)
    no_corr = ~np.isfinite(corr[:, iu, ju])
    has_no_corr = no_corr.any(axis=1)
    no_corr_msgs = np.array([f"items {names[i]!r} and {names[j]!r} have no correlation (one "
                             f"does not vary among the respondents who answered both)"
                             for i, j in zip(iu, ju, strict=True)], dtype=object)
    reason[has_no_corr] = no_corr_msgs[_first(no_corr)[has_no_corr]]
    reason[has_zero] = zero_msgs[_first(zero_item)[has_zero]]
    reason[~usable] = scale_reason[~usable]
    fit = np.flatnonzero(usable & ~has_zero & ~has_no_corr)
    if fit.size:
        load, conv, its = _fit_one_factor(corr[fit])
        loadings[fit], converged[fit], n_iter[fit] = load, conv, its
        s = load.sum(axis=1) ** 2
        om = s / (s + (1 - load**2).sum(axis=1))
        above = load**2 > 1 + _HEYWOOD_MARGIN
        heywood = above.any(axis=1)
        hey_msgs = np.array([f"Heywood case: item {nm!r} has a communality above 1"
                             for nm in names], dtype=object)
        r = np.full(fit.size, "", dtype=object)
        r[heywood] = hey_msgs[_first(above)[heywood]]
        r[~conv] = ("the one-factor fit did not reach a least-squares minimum (the items may "
                    "not measure one factor)")
        omega[fit] = np.where(conv & ~heywood, om, np.nan)
        reason[fit] = r
    return omega, loadings, converged, n_iter, reason


# --- single item set ---------------------------------------------------------------------------


def cronbach_alpha(
    items: pd.DataFrame,
    *,
    nan_policy: NanPolicy = "pairwise",
    ci: float = 0.95,
    n_boot: int = 0,
    seed: int | None = None,
) -> AlphaResult:
    """Cronbach's alpha (raw and standardised) with a Feldt or bootstrap confidence interval.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per respondent, one numeric column per item (already reverse-keyed where
        needed); NaN is a missing answer.
    nan_policy : {"pairwise", "listwise"}, default "pairwise"
        ``"pairwise"``: each covariance from the respondents who answered both items (N - 1),
        as ``psych::alpha(use = "pairwise")``; ``"listwise"``: respondents who answered every
        item only.
    ci : float, default 0.95
        Confidence level, in (0, 1).
    n_boot : int, default 0
        0 for Feldt's interval; otherwise the number of percentile-bootstrap replicates.
    seed : int or None
        Seed of the bootstrap (``numpy.random.default_rng(seed)``).

    Returns
    -------
    AlphaResult
        Figures that cannot be computed are NaN with ``reason`` saying why (fewer than 2
        items, fewer than 3 respondents, zero variance...); nothing is raised for too little
        data.

    Notes
    -----
    With ``C`` the k x k covariance matrix and ``R`` the correlation matrix (under
    ``"pairwise"`` each ``R_ij`` from the respondents who answered both items, with their own
    standard deviations: R's ``cor(x, use = "pairwise")``, as psych >= 2.4; under
    ``"listwise"`` ``R_ij = C_ij / sqrt(C_ii C_jj)``),

    .. math::

        \\alpha = \\frac{k}{k-1}\\left(1 - \\frac{\\operatorname{tr} C}{\\sum_{ij} C_{ij}}
        \\right), \\qquad
        \\alpha_{std} = \\frac{k \\bar r}{1 + (k-1)\\bar r}

    with :math:`\\bar r` the mean off-diagonal element of ``R`` (``average_r``). An item with
    zero variance still counts in ``k`` for raw alpha (as in pingouin); standardised alpha
    and ``average_r`` are then NaN.

    Feldt's interval is
    :math:`1 - (1-\\alpha) F_{1-q/2}(n-1, (n-1)(k-1))` to
    :math:`1 - (1-\\alpha) F_{q/2}(n-1, (n-1)(k-1))`, where :math:`F_p` is the p-quantile of
    the F distribution, ``q = 1 - ci`` and ``n = n_used``:
    under ``"listwise"`` the respondents who answered every item, under ``"pairwise"`` those
    who answered at least one item. ``pingouin.cronbach_alpha`` uses the number of rows
    (before any listwise deletion), which is the same under ``"pairwise"`` whenever no row is
    entirely empty; under ``"listwise"`` with incomplete rows pingouin's interval is
    narrower than the data support, and ours differs from it.

    The bootstrap resamples rows (respondents) with replacement: replicate ``b`` uses rows
    ``rng.integers(0, n_total, size=n_total)`` drawn in turn from
    ``rng = numpy.random.default_rng(seed)``, applies the same ``nan_policy`` and the same
    rules, and the interval is the ``(1 -/+ ci) / 2`` quantiles (``numpy.quantile``'s default,
    R's type 7) of the finite replicate alphas; ``n_boot`` in the result counts those.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    Psychometrika 16, 297-334. doi:10.1007/BF02310555

    Feldt, L. S. (1965). The approximate sampling distribution of Kuder-Richardson
    reliability coefficient twenty. Psychometrika 30, 357-370. doi:10.1007/BF02289499

    Examples
    --------
    In R: ``psych::alpha(items, use = "pairwise")``.

    >>> import pandas as pd
    >>> from collab_stats.reliability import cronbach_alpha
    >>> items = pd.DataFrame({"q1": [4, 5, 3, 4, 2, 5, 3],
    ...                       "q2": [4, 4, 3, 5, 2, 4, None],
    ...                       "q3": [5, 5, 2, 4, 3, 4, 3]})
    >>> res = cronbach_alpha(items)
    >>> round(res.alpha, 4), res.n_used, res.n_total
    (0.8882, 7, 7)
    >>> cronbach_alpha(items[["q1"]]).reason
    'fewer than 2 items'
    """
    nan_policy = _check_policy(nan_policy)
    ci = _check_ci(ci)
    n_boot = check_number("n_boot", n_boot, low=0, integer=True)
    if seed is not None:
        check_number("seed", seed, low=0, integer=True)
    x, names = _item_matrix(items)
    n_total, k = x.shape
    obs = _observed(x, nan_policy)
    cov, corr, counts, means, n_used = _single_cov(x, obs)
    figures, reason, _, _ = _scale_stats(cov, corr, counts, means, n_used, names, nan_policy)
    alpha = float(figures["alpha"][0])
    reason_text = str(reason[0])
    n_valid = 0
    if n_boot == 0:
        low, high = (float(v[0]) for v in _feldt(figures["alpha"], n_used, k, ci))
    else:
        low = high = float("nan")
        if np.isfinite(alpha):
            boot = _bootstrap_alphas(x, obs, names, nan_policy, n_boot, seed)
            boot = boot[np.isfinite(boot)]
            n_valid = int(boot.size)
            if n_valid >= 2:
                low, high = (float(v) for v in np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2]))
            elif not reason_text:
                reason_text = "fewer than 2 bootstrap replicates gave a finite alpha"
    return AlphaResult(
        alpha=alpha, std_alpha=float(figures["std_alpha"][0]),
        average_r=float(figures["average_r"][0]), ci_low=low, ci_high=high,
        ci_method="feldt" if n_boot == 0 else "bootstrap", ci_level=ci, n_boot=n_valid,
        n_items=k, n_used=int(n_used[0]), n_total=n_total, nan_policy=nan_policy,
        reason=reason_text,
    )


def _bootstrap_alphas(x, obs, names, nan_policy, n_boot, seed) -> np.ndarray:
    """Alpha of each bootstrap replicate: replicate sums are count-weighted row sums."""
    n, k = x.shape
    rng = np.random.default_rng(seed)
    with np.errstate(invalid="ignore"):
        col_n = obs.sum(axis=0)
        shift = np.where(col_n > 0, np.where(obs, x, 0).sum(axis=0) / np.maximum(col_n, 1), 0)
    m = obs.astype(float)
    d = np.where(obs, x - shift, 0.0)
    features = np.concatenate([
        (m[:, :, None] * m[:, None, :]).reshape(n, -1),
        (d[:, :, None] * m[:, None, :]).reshape(n, -1),
        (d[:, :, None] * d[:, None, :]).reshape(n, -1),
        obs.any(axis=1, keepdims=True).astype(float),
    ], axis=1)
    out = np.empty(n_boot)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for lo in range(0, n_boot, chunk):
        b = min(chunk, n_boot - lo)
        idx = rng.integers(0, n, size=(b, n))
        weights = np.bincount((idx + n * np.arange(b)[:, None]).ravel(),
                              minlength=b * n).reshape(b, n).astype(float)
        sums = weights @ features
        kk = k * k
        counts, a, q = (sums[:, i * kk:(i + 1) * kk].reshape(b, k, k) for i in range(3))
        cov, means = _cov_from_sums(counts, a, q, np.broadcast_to(shift, (b, k)))
        figures, *_ = _scale_stats(cov, None, counts, means, sums[:, -1], names, nan_policy)
        out[lo:lo + b] = figures["alpha"]
    return out


def item_analysis(
    items: pd.DataFrame,
    *,
    nan_policy: NanPolicy = "pairwise",
    scale_points: Sequence[int] | None = None,
) -> ItemAnalysis:
    """Item statistics: n, mean, sd, corrected item-total correlation, alpha if dropped.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per respondent, one numeric column per item; NaN is a missing answer.
    nan_policy : {"pairwise", "listwise"}, default "pairwise"
        ``"pairwise"``: each item's n, mean and sd use all its answers and the covariances
        are pairwise-complete (N - 1); ``"listwise"``: respondents who answered every item.
    scale_points : sequence of int, optional
        The response scale (e.g. ``range(1, 6)``); adds ``p_<point>``, the share of the
        item's used answers at each point. An answer off the scale raises ParameterError.

    Returns
    -------
    ItemAnalysis
        ``table`` has one row per item: ``item, n, mean, sd, r_drop, alpha_if_dropped,
        std_alpha_if_dropped, pct_missing`` (share of all rows with no answer to the item, 0-1, whatever the
        policy), ``p_*``, and ``reason`` (why a figure is NaN, ``""`` otherwise).

    Notes
    -----
    From the covariance matrix ``C`` (as in :func:`cronbach_alpha`), with
    :math:`c_i = \\sum_j C_{ij}` and :math:`V = \\sum_{ij} C_{ij}`:

    .. math::

        r_{drop,i} = \\frac{c_i - C_{ii}}{\\sqrt{C_{ii}\\,(V - 2 c_i + C_{ii})}}

    the correlation of item i with the sum of the other items (psych's ``r.drop``); under
    ``"listwise"`` it equals that correlation computed on the complete rows. ``alpha_if_dropped``
    is raw alpha of ``C`` without row and column i (psych's ``alpha.drop$raw_alpha``) and
    ``std_alpha_if_dropped`` standardised alpha of the correlation matrix without it
    (``alpha.drop$std.alpha``; pairwise correlations as in :func:`cronbach_alpha`).
    ``sd`` uses N - 1.

    Examples
    --------
    In R: ``psych::alpha(items, use = "pairwise")$item.stats`` and ``$alpha.drop``.

    >>> import pandas as pd
    >>> from collab_stats.reliability import item_analysis
    >>> items = pd.DataFrame({"q1": [4, 5, 3, 4, 2, 5, 3],
    ...                       "q2": [4, 4, 3, 5, 2, 4, None],
    ...                       "q3": [5, 5, 2, 4, 3, 4, 3]})
    >>> table = item_analysis(items, scale_points=range(1, 6)).table
    >>> table[["item", "n", "r_drop", "alpha_if_dropped", "p_4"]].round(3)
      item  n  r_drop  alpha_if_dropped    p_4
    0   q1  7   0.851             0.778  0.286
    1   q2  6   0.780             0.844  0.500
    2   q3  7   0.721             0.895  0.286
    """
    nan_policy = _check_policy(nan_policy)
    points = _check_scale_points(scale_points)
    x, names = _item_matrix(items)
    n_total, k = x.shape
    obs = _observed(x, nan_policy)
    cov, corr, counts, means, n_used = _single_cov(x, obs)
    _, reason, usable, zero_item = _scale_stats(cov, corr, counts, means, n_used, names,
                                                nan_policy)
    figures, item_reason = _item_stats(cov, corr, counts, means, usable, zero_item, reason, k)
    table = pd.DataFrame({"item": names, **{key: v[0] for key, v in figures.items()}})
    with np.errstate(invalid="ignore", divide="ignore"):
        table["pct_missing"] = np.isnan(x).sum(axis=0) / n_total if n_total else np.nan
    if points is not None:
        pos = _scale_point_index(x, obs, points)
        for j, p in enumerate(points):
            with np.errstate(invalid="ignore", divide="ignore"):
                table[f"p_{p}"] = (pos == j).sum(axis=0) / figures["n"][0]
    table["reason"] = item_reason[0]
    return ItemAnalysis(table=table, n_used=int(n_used[0]), n_total=n_total,
                        nan_policy=nan_policy)


def mcdonald_omega(items: pd.DataFrame, *, nan_policy: NanPolicy = "pairwise") -> OmegaResult:
    """McDonald's omega total from a one-factor least-squares (minres) model.

    Parameters
    ----------
    items : pandas.DataFrame
        One row per respondent, one numeric column per item; NaN is a missing answer.
    nan_policy : {"pairwise", "listwise"}, default "pairwise"
        How the correlation matrix treats missing answers (as in :func:`cronbach_alpha`).

    Returns
    -------
    OmegaResult
        NaN with ``reason`` when omega cannot be computed: fewer than 3 items, too few
        respondents, an item with zero variance, a fit that does not reach a minimum, or a
        Heywood case (a communality above 1).

    Notes
    -----
    The model is fitted to the correlation matrix ``R`` (from the covariances of
    :func:`cronbach_alpha`) by unweighted least squares on the off-diagonal elements, which
    is ``psych::fa``'s default ``fm = "minres"``:

    .. math::

        \\hat\\lambda = \\arg\\min_\\lambda \\sum_{i<j} (r_{ij} - \\lambda_i\\lambda_j)^2,
        \\qquad
        \\omega = \\frac{(\\sum_i \\lambda_i)^2}
                       {(\\sum_i \\lambda_i)^2 + \\sum_i (1 - \\lambda_i^2)}

    ``R`` is the matrix standardised alpha uses: under ``"pairwise"`` R's
    ``cor(x, use = "pairwise")`` (pair-specific means and standard deviations), which is what
    ``psych::omega`` and ``psych::fa`` correlate raw data with.

    Computation: squared multiple correlations as starting communalities, iterated principal
    axis (whose fixed points are the stationary points of this criterion) to a change below
    1e-3 or 100 iterations, then damped Newton steps to convergence; the fit counts as
    converged only at a local minimum. Loadings are signed to sum to >= 0; an item that
    loads negatively (e.g. not reverse-keyed) lowers omega, it is not flipped.

    References
    ----------
    McDonald, R. P. (1999). Test theory: A unified treatment. Mahwah, NJ: Erlbaum.

    Examples
    --------
    In R: ``f <- psych::fa(items, nfactors = 1, fm = "minres", use = "pairwise")``, then
    ``sum(f$loadings)^2 / (sum(f$loadings)^2 + sum(f$uniquenesses))``.

    >>> import pandas as pd
    >>> from collab_stats.reliability import mcdonald_omega
    >>> items = pd.DataFrame({"q1": [4, 5, 3, 4, 2, 5, 3, 1],
    ...                       "q2": [4, 4, 3, 5, 2, 4, None, 2],
    ...                       "q3": [5, 5, 2, 4, 3, 4, 3, 2],
    ...                       "q4": [3, 5, 3, 4, 1, 4, 4, 2]})
    >>> res = mcdonald_omega(items)
    >>> round(res.omega, 4), res.converged
    (0.9306, True)
    """
    nan_policy = _check_policy(nan_policy)
    x, names = _item_matrix(items)
    n_total, k = x.shape
    obs = _observed(x, nan_policy)
    cov, corr, counts, means, n_used = _single_cov(x, obs)
    _, reason, usable, zero_item = _scale_stats(cov, corr, counts, means, n_used, names,
                                                nan_policy)
    omega, loadings, converged, n_iter, om_reason = _omega_stats(corr, usable, zero_item,
                                                                 reason, names)
    return OmegaResult(
        omega=float(omega[0]), loadings=pd.Series(loadings[0], index=pd.Index(names),
                                                  name="loading"),
        n_items=k, n_used=int(n_used[0]), n_total=n_total, converged=bool(converged[0]),
        n_iter=int(n_iter[0]), nan_policy=nan_policy, reason=str(om_reason[0]),
    )


_FLAG_COLUMNS = ["level", "item", "flag", "value", "threshold", "message"]


def reliability_flags(
    alpha_result: AlphaResult,
    item_analysis: ItemAnalysis,
    *,
    alpha_min: float = 0.70,
    item_total_min: float = 0.30,
) -> pd.DataFrame:
    """Plain-language warnings about a scale and its items, one row per warning.

    Parameters
    ----------
    alpha_result : AlphaResult
        From :func:`cronbach_alpha`.
    item_analysis : ItemAnalysis
        From :func:`item_analysis` on the same items.
    alpha_min : float, default 0.70
        Alpha below this is flagged ``low_alpha``.
    item_total_min : float, default 0.30
        A corrected item-total correlation (``r_drop``) below this is flagged.

    Returns
    -------
    pandas.DataFrame
        Columns ``level`` ("scale" or "item"), ``item`` (None for the scale), ``flag``,
        ``value``, ``threshold`` and ``message``; no rows when nothing is flagged. Flags:

        * ``alpha_not_computed`` (scale): alpha is NaN; the message gives the reason;
        * ``low_alpha`` (scale): alpha < ``alpha_min``;
        * ``negative_item_total`` (item): ``r_drop < 0``, the item runs against the others
          (probably a reverse-keyed item scored the wrong way round);
        * ``low_item_total`` (item): ``0 <= r_drop < item_total_min``;
        * ``alpha_rises_if_dropped`` (item): ``alpha_if_dropped > alpha``.

    Examples
    --------
    >>> import pandas as pd
    >>> from collab_stats.reliability import cronbach_alpha, item_analysis, reliability_flags
    >>> items = pd.DataFrame({"q1": [4, 5, 3, 4, 2, 5, 3, 1],
    ...                       "q2": [4, 4, 3, 5, 2, 4, 3, 2],
    ...                       "q3": [5, 4, 2, 4, 3, 5, 3, 2],
    ...                       "q4": [2, 3, 3, 1, 4, 2, 2, 4]})  # q4 not reverse-keyed
    >>> flags = reliability_flags(cronbach_alpha(items), item_analysis(items))
    >>> flags[["level", "item", "flag", "value"]].round(2)
       level  item                    flag  value
    0  scale  None               low_alpha   0.29
    1   item    q4     negative_item_total  -0.76
    2   item    q4  alpha_rises_if_dropped   0.92
    """
    if not isinstance(alpha_result, AlphaResult):
        raise ParameterError(f"alpha_result must be an AlphaResult (from cronbach_alpha); got "
                             f"{type(alpha_result).__name__}")
    if not isinstance(item_analysis, ItemAnalysis):
        raise ParameterError(f"item_analysis must be an ItemAnalysis (from item_analysis); got "
                             f"{type(item_analysis).__name__}")
    scale = pd.DataFrame([{"alpha": alpha_result.alpha, "reason": alpha_result.reason}])
    items = item_analysis.table.assign(_scale=0)
    flags = reliability_flag_table(scale, items, alpha_min=alpha_min,
                                   item_total_min=item_total_min)
    return flags.reset_index(drop=True)


def reliability_flag_table(
    scales: pd.DataFrame,
    items: pd.DataFrame,
    *,
    keys: Sequence[str] = (),
    alpha_min: float = 0.70,
    item_total_min: float = 0.30,
) -> pd.DataFrame:
    """The flags of :func:`reliability_flags` for many scales at once, from result tables.

    Parameters
    ----------
    scales : DataFrame
        One row per scale with ``alpha`` and ``reason`` (e.g. :func:`grouped_reliability`)
        and the ``keys`` columns that identify the scale.
    items : DataFrame
        One row per scale and item with ``item``, ``r_drop``, ``alpha_if_dropped`` and the
        ``keys`` columns (e.g. :func:`grouped_item_analysis`).
    keys : sequence of str
        Columns identifying a scale (e.g. ``("wave_id", "characteristic")``).

    Returns
    -------
    DataFrame
        The ``keys`` columns, then ``level``, ``item``, ``flag``, ``value``, ``threshold``,
        ``message`` (as :func:`reliability_flags`), scale flags before item flags.
    """
    alpha_min = float(check_number("alpha_min", alpha_min, high=1))
    item_total_min = float(check_number("item_total_min", item_total_min, low=-1, high=1))
    keys = list(keys)
    rows: list[dict[str, Any]] = []
    alpha_of = {}
    for rec in scales.to_dict("records"):
        key = tuple(rec[k] for k in keys)
        alpha = rec["alpha"]
        alpha_of[key] = alpha
        base = dict(zip(keys, key, strict=True))
        if not np.isfinite(alpha):
            rows.append({**base, "level": "scale", "item": None, "flag": "alpha_not_computed",
                         "value": alpha, "threshold": alpha_min,
                         "message": f"Cronbach's alpha could not be computed: "
                                    f"{rec['reason'] or 'no reason recorded'}."})
        elif alpha < alpha_min:
            rows.append({**base, "level": "scale", "item": None, "flag": "low_alpha",
                         "value": alpha, "threshold": alpha_min,
                         "message": f"Cronbach's alpha is {alpha:.2f}, below {alpha_min:.2f}: "
                                    f"the items do not hang together well enough to be summed "
                                    f"into one score with confidence."})
    for rec in items.to_dict("records"):
        key = tuple(rec[k] for k in keys)
        base = dict(zip(keys, key, strict=True))
        alpha = alpha_of.get(key, np.nan)
        item, r_drop, drop = rec["item"], rec["r_drop"], rec["alpha_if_dropped"]
        if np.isfinite(r_drop) and r_drop < 0:
            rows.append({**base, "level": "item", "item": item, "flag": "negative_item_total",
                         "value": r_drop, "threshold": 0.0,
                         "message": f"Item {item} correlates negatively ({r_drop:.2f}) with "
                                    f"the rest of the scale: check whether it should be "
                                    f"reverse-keyed."})
        elif np.isfinite(r_drop) and r_drop < item_total_min:
            rows.append({**base, "level": "item", "item": item, "flag": "low_item_total",
                         "value": r_drop, "threshold": item_total_min,
                         "message": f"Item {item} correlates only {r_drop:.2f} with the rest "
                                    f"of the scale (below {item_total_min:.2f}): it may "
                                    f"measure something else."})
        if np.isfinite(drop) and np.isfinite(alpha) and drop > alpha:
            rows.append({**base, "level": "item", "item": item, "flag": "alpha_rises_if_dropped",
                         "value": drop, "threshold": alpha,
                         "message": f"Alpha would rise from {alpha:.2f} to {drop:.2f} "
                                    f"without item {item}."})
    flags = pd.DataFrame(rows, columns=[*keys, *_FLAG_COLUMNS])
    flags["item"] = pd.Series([r["item"] for r in rows], dtype=object)  # keeps None
    return flags


# --- many groups at once -----------------------------------------------------------------------


def _group_codes(groups: Any, n_rows: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer codes 0..G-1 in sorted key order, and the keys (one row per group)."""
    if isinstance(groups, pd.DataFrame):
        keys = groups.reset_index(drop=True)
        if keys.shape[1] == 0:
            raise ParameterError("groups must have at least one key column")
    else:
        if isinstance(groups, pd.Series):
            name = groups.name if groups.name is not None else "group"
            arr = groups.to_numpy()
        else:
            name, arr = "group", np.asarray(groups)
        if arr.ndim != 1:
            raise ParameterError(f"groups must be 1-D (one label per row) or a DataFrame of "
                                 f"key columns; got an array of shape {arr.shape}")
        keys = pd.DataFrame({name: arr})
    if len(keys) != n_rows:
        raise ParameterError(f"groups must have one label per row of values ({n_rows}); got "
                             f"{len(keys)}")
    missing = np.flatnonzero(keys.isna().any(axis=1).to_numpy())
    if missing.size:
        raise ParameterError(f"groups must not be missing; missing at rows "
                             f"{missing[:10].tolist()}{' ...' if missing.size > 10 else ''}")
    if keys.shape[1] == 1:
        col = keys.columns[0]
        codes, uniques = pd.factorize(keys[col], sort=True)
        return codes.astype(np.intp), pd.DataFrame({col: uniques})
    grouped = keys.groupby(list(keys.columns), sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.intp)
    return codes, grouped.size().index.to_frame(index=False)


def _grouped_setup(values, groups, nan_policy):
    nan_policy = _check_policy(nan_policy)
    x, names = _item_matrix(values, "values")
    codes, keys = _group_codes(groups, x.shape[0])
    obs = _observed(x, nan_policy)
    n_groups = len(keys)
    counts, a, q, sq, shift = _grouped_sums(x, obs, codes, n_groups)
    cov, means = _cov_from_sums(counts, a, q, shift)
    corr = _corr_from_sums(cov, counts, a, sq, shift)
    n_total = np.bincount(codes, minlength=n_groups)
    n_used = np.bincount(codes, weights=obs.any(axis=1), minlength=n_groups).astype(int)
    return nan_policy, x, names, codes, keys, obs, cov, corr, counts, means, n_total, n_used


def grouped_reliability(
    values: np.ndarray | pd.DataFrame,
    groups: Any,
    *,
    nan_policy: NanPolicy = "pairwise",
    ci: float = 0.95,
) -> pd.DataFrame:
    """Alpha, standardised alpha, Feldt interval and omega for every group at once.

    Parameters
    ----------
    values : pandas.DataFrame or 2-D numpy array
        One row per respondent, one numeric column per item; NaN is a missing answer.
    groups : array-like or pandas.DataFrame
        One label per row (e.g. collaboration x wave codes), or a DataFrame of key columns
        (e.g. ``collaboration_id`` and ``wave_id``). Missing labels raise ParameterError.
    nan_policy : {"pairwise", "listwise"}, default "pairwise"
        As in :func:`cronbach_alpha`, within each group.
    ci : float, default 0.95
        Level of the Feldt interval.

    Returns
    -------
    pandas.DataFrame
        One row per group in sorted key order: the key column(s), then ``alpha, std_alpha,
        average_r, ci_low, ci_high, ci_method, ci_level, n_items, n_used, n_total,
        nan_policy, reason`` (as :meth:`AlphaResult.to_frame`, without ``n_boot``), then
        ``omega, omega_converged, omega_reason`` (as :func:`mcdonald_omega`).

    Notes
    -----
    The figures equal :func:`cronbach_alpha` and :func:`mcdonald_omega` applied to each
    group's rows (tested to 1e-10), with the same rules for NaN and the same reasons. The
    per-group pair counts, sums and cross-products are batched matrix products over groups
    padded to a common size (one batch per power-of-two size bucket); the one-factor fits
    run on the stacked (G, k, k) correlation matrices. No Python loop runs over groups.

    Examples
    --------
    >>> import numpy as np
    >>> from collab_stats.reliability import grouped_reliability
    >>> rng = np.random.default_rng(1)
    >>> latent = rng.normal(size=(60, 1))
    >>> values = np.clip(np.round(3 + latent + rng.normal(scale=0.8, size=(60, 4))), 1, 5)
    >>> out = grouped_reliability(values, np.repeat(["a", "b", "c"], 20))
    >>> out[["group", "n_used", "alpha", "omega"]].round(3)
      group  n_used  alpha  omega
    0     a      20  0.547  0.571
    1     b      20  0.867  0.868
    2     c      20  0.629  0.657
    """
    ci = _check_ci(ci)
    (nan_policy, x, names, codes, keys, obs, cov, corr, counts, means, n_total,
     n_used) = _grouped_setup(values, groups, nan_policy)
    k = len(names)
    figures, reason, usable, zero_item = _scale_stats(cov, corr, counts, means, n_used, names,
                                                      nan_policy)
    low, high = _feldt(figures["alpha"], n_used, k, ci)
    omega, _, converged, _, om_reason = _omega_stats(corr, usable, zero_item, reason, names)
    out = keys.copy()
    out["alpha"] = figures["alpha"]
    out["std_alpha"] = figures["std_alpha"]
    out["average_r"] = figures["average_r"]
    out["ci_low"], out["ci_high"] = low, high
    out["ci_method"] = "feldt"
    out["ci_level"] = ci
    out["n_items"] = k
    out["n_used"] = n_used
    out["n_total"] = n_total
    out["nan_policy"] = nan_policy
    out["reason"] = reason
    out["omega"] = omega
    out["omega_converged"] = converged
    out["omega_reason"] = om_reason
    return out


def grouped_item_analysis(
    values: np.ndarray | pd.DataFrame,
    groups: Any,
    *,
    nan_policy: NanPolicy = "pairwise",
    scale_points: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Item statistics for every group at once, one row per group and item.

    Parameters
    ----------
    values, groups, nan_policy
        As in :func:`grouped_reliability`.
    scale_points : sequence of int, optional
        As in :func:`item_analysis`.

    Returns
    -------
    pandas.DataFrame
        The key column(s), then the columns of :attr:`ItemAnalysis.table` (``item, n, mean,
        sd, r_drop, alpha_if_dropped, std_alpha_if_dropped, pct_missing``, ``p_*``,
        ``reason``), groups in sorted
        key order and items in column order.

    Notes
    -----
    The figures equal :func:`item_analysis` applied to each group's rows (tested to 1e-10);
    the formulas are in its Notes.

    Examples
    --------
    >>> import numpy as np
    >>> from collab_stats.reliability import grouped_item_analysis
    >>> rng = np.random.default_rng(1)
    >>> latent = rng.normal(size=(40, 1))
    >>> values = np.clip(np.round(3 + latent + rng.normal(scale=0.8, size=(40, 3))), 1, 5)
    >>> out = grouped_item_analysis(values, np.repeat([1, 2], 20))
    >>> out[["group", "item", "n", "r_drop"]].round(3)
       group item   n  r_drop
    0      1    0  20   0.467
    1      1    1  20   0.661
    2      1    2  20   0.621
    3      2    0  20   0.695
    4      2    1  20   0.711
    5      2    2  20   0.710
    """
    points = _check_scale_points(scale_points)
    (nan_policy, x, names, codes, keys, obs, cov, corr, counts, means, n_total,
     n_used) = _grouped_setup(values, groups, nan_policy)
    k, n_groups = len(names), len(keys)
    _, reason, usable, zero_item = _scale_stats(cov, corr, counts, means, n_used, names,
                                                nan_policy)
    figures, item_reason = _item_stats(cov, corr, counts, means, usable, zero_item, reason, k)
    out = keys.loc[np.repeat(np.arange(n_groups), k)].reset_index(drop=True)
    out["item"] = np.tile(np.asarray(names, dtype=object), n_groups)
    for key, v in figures.items():
        out[key] = v.ravel()
    answered = np.stack([np.bincount(codes, weights=~np.isnan(x[:, j]), minlength=n_groups)
                         for j in range(k)], axis=1) if k else np.zeros((n_groups, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct_missing"] = (1 - answered / n_total[:, None]).ravel()
    if points is not None:
        pos = _scale_point_index(x, obs, points)
        n_points = len(points)
        cell = (codes[:, None] * k + np.arange(k)) * n_points + pos
        tally = np.bincount(cell[pos >= 0], minlength=n_groups * k * n_points)
        tally = tally.reshape(n_groups * k, n_points)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = tally / figures["n"].ravel()[:, None]
        for j, p in enumerate(points):
            out[f"p_{p}"] = shares[:, j]
    out["reason"] = item_reason.ravel()
    return out


#: Resamples per pass of :func:`omega_bootstrap_ci` (bounds its memory).
_BOOT_CHUNK = 25


def omega_bootstrap_ci(
    values: np.ndarray | pd.DataFrame,
    groups: Any,
    *,
    n_boot: int = 200,
    ci: float = 0.95,
    seed: int = 0,
    nan_policy: NanPolicy = "pairwise",
) -> pd.DataFrame:
    """Percentile bootstrap interval of McDonald's omega for every group.

    Respondents are resampled with replacement within each group ``n_boot`` times; omega is
    computed for every resample as :func:`mcdonald_omega` does (one batched pass of
    :func:`grouped_reliability` over all resamples); the interval is the ``(1 - ci) / 2`` and
    ``(1 + ci) / 2`` quantiles of the resamples where omega could be computed.

    Parameters
    ----------
    values, groups, nan_policy :
        As in :func:`grouped_reliability`.
    n_boot : int, default 200
        Resamples per group.
    ci : float, default 0.95
        Interval level.
    seed : int, default 0
        Seed of the resampling (the same seed gives the same interval).

    Returns
    -------
    pandas.DataFrame
        One row per group in sorted key order: the key column(s), then ``omega_ci_low``,
        ``omega_ci_high``, ``omega_ci_level``, ``omega_n_boot`` (resamples with an omega; the
        interval is NaN when fewer than half of them have one).

    Notes
    -----
    The percentile interval is what ``MBESS::ci.reliability(type = "omega",
    interval.type = "perc")`` reports; Kelley & Pornprasertmanit (2016) recommend bootstrap
    intervals for omega. Resampling is of whole respondents, so missing answers travel with
    them.

    References
    ----------
    Kelley, K., & Pornprasertmanit, S. (2016). Confidence intervals for population
    reliability coefficients. Psychological Methods 21(1), 69-92. doi:10.1037/a0040086

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> latent = rng.normal(size=(200, 1))
    >>> values = np.clip(np.round(3 + latent + rng.normal(scale=0.8, size=(200, 4))), 1, 5)
    >>> out = omega_bootstrap_ci(values, np.repeat(["a", "b"], 100), n_boot=100)
    >>> bool((out["omega_ci_low"] < out["omega_ci_high"]).all())
    True
    """
    ci = _check_ci(ci)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 10:
        raise ParameterError(f"n_boot must be a whole number of at least 10; got {n_boot!r}")
    frame = values if isinstance(values, pd.DataFrame) else pd.DataFrame(np.asarray(values))
    key_frame = (groups.reset_index(drop=True) if isinstance(groups, pd.DataFrame)
                 else pd.DataFrame({"group": np.asarray(groups)}))
    keys = grouped_reliability(frame, groups, nan_policy=nan_policy)[list(key_frame.columns)]
    codes = key_frame.groupby(list(key_frame.columns), sort=True, observed=True).ngroup()
    codes = codes.to_numpy()
    x = frame.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    draws = []
    for g in range(len(keys)):
        members = np.flatnonzero(codes == g)
        draws.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    # The resamples are computed _BOOT_CHUNK at a time, every group's in each pass (so the
    # passes batch the same group sizes together: the same sums as one pass, in a fraction
    # of the memory: a national wave's 200 resamples of 30,000 respondents are 6 million rows)
    omega = np.empty((len(keys), n_boot))
    for lo in range(0, n_boot, _BOOT_CHUNK):
        hi = min(lo + _BOOT_CHUNK, n_boot)
        rows = np.concatenate([d[lo:hi].ravel() for d in draws])
        labels = np.concatenate([np.repeat(g * (hi - lo) + np.arange(hi - lo), d.shape[1])
                                 for g, d in enumerate(draws)])
        boot = grouped_reliability(x[rows], labels, nan_policy=nan_policy)
        omega[:, lo:hi] = boot["omega"].to_numpy().reshape(len(keys), hi - lo)
    finite = np.isfinite(omega)
    enough = finite.sum(axis=1) >= n_boot / 2
    with np.errstate(all="ignore"):
        low = np.where(enough, np.nanquantile(np.where(finite, omega, np.nan),
                                              (1 - ci) / 2, axis=1), np.nan)
        high = np.where(enough, np.nanquantile(np.where(finite, omega, np.nan),
                                               (1 + ci) / 2, axis=1), np.nan)
    out = keys.reset_index(drop=True).copy()
    out["omega_ci_low"], out["omega_ci_high"] = low, high
    out["omega_ci_level"] = ci
    out["omega_n_boot"] = finite.sum(axis=1)
    return out
