"""Trends that may differ between collaborations: a mixed model with random intercepts and slopes.

:func:`random_slope_model` fits ``response ~ time + (time | group)`` - every group has its own
intercept and its own slope, drawn from a bivariate normal distribution - by restricted maximum
likelihood (REML, the criterion lme4's ``lmer`` optimises), optionally with a random intercept
for respondents nested in groups, ``+ (1 | respondent:group)`` (the panel). It answers two
questions at once: is the *average* slope different from zero, and do the groups differ in how
fast they change (the likelihood-ratio test of the random slope)? :func:`collaboration_slopes`
fits it per characteristic to the scores table :func:`collab_stats.change.trend_model` takes.

The computation
---------------
As in lme4 (Bates et al. 2015, section 3), the random effects are ``b_g = Lambda u_g`` with
``u_g ~ N(0, sigma^2 I)`` and ``Lambda`` the lower-triangular relative covariance factor
``[[theta_1, 0], [theta_2, theta_3]]``; a respondent intercept has relative standard deviation
``theta_r``. The fixed effects and ``sigma`` are profiled out and the profiled REML deviance

    d(theta) = log|V_theta| + log|X' V_theta^-1 X| + (N - p) (1 + log(2 pi r^2 / (N - p)))

(``V_theta = I + Z Lambda Lambda' Z'`` + the respondent part, ``r^2`` the penalised residual
sum of squares, ``p = 2``) is minimised over ``theta`` from lme4's start ``(1, 0, 1)``, by
L-BFGS with its analytic gradient; signs are then normalised to lme4's ``theta_1, theta_3,
theta_r >= 0``. ``V_theta`` is block-diagonal by group, so every term is a sum over groups of
2 x 2 algebra (Woodbury, and the matrix determinant lemma) on grouped sums of ``1, time,
response``; respondents within a group are absorbed the same way (Sherman-Morrison), one
level down. Each evaluation is one vectorised pass over groups and respondents.

Missing data
------------
One vocabulary across the library: rows with a missing response, time or group are not used
(available case; nothing is imputed) and ``n_total - n_used`` says how many. A model that
cannot be fitted gives NaN figures and ``reason`` says why.

References
----------
Bates, D., Maechler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
using lme4. Journal of Statistical Software, 67(1), 1-48. doi:10.18637/jss.v067.i01

Stram, D. O., & Lee, J. W. (1994). Variance components testing in the longitudinal mixed
effects model. Biometrics, 50(4), 1171-1177. doi:10.2307/2533455
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._params import check_option
from .change import (
    TREND_LABELS,
    _check_level,
    _check_scores,
    _labels,
    _model_frame,
    _wave_numbers,
    _wave_order,
)
from .errors import ParameterError

__all__ = [
    "SLOPES_LABELS",
    "CollaborationSlopes",
    "RandomSlopeResult",
    "collaboration_slopes",
    "random_slope_model",
]

#: Plain labels of the random-slope test; ``"not tested"`` when the model cannot be fitted.
SLOPES_LABELS: tuple[str, ...] = (
    "collaborations differ in how fast they change",
    "no significant difference in how fast collaborations change", "not tested")
#: lme4's ``isSingular`` tolerance: a diagonal theta below it is a boundary (singular) fit.
_SINGULAR = 1e-4
#: lme4's ``check.conv.grad`` tolerance on the deviance's scaled gradient.
_GRADIENT_TOL = 2e-3
_P = 2  # fixed effects: intercept and slope
#: Columns of :attr:`RandomSlopeResult.groups` after the group label.
_GROUP_COLUMNS = ("n_obs", "intercept_deviation", "intercept_deviation_sd", "slope_deviation",
                  "slope_deviation_sd", "intercept", "intercept_se", "slope", "slope_se",
                  "slope_ci_low", "slope_ci_high")


# --- the engine: sufficient statistics and the profiled REML deviance -------------------------


@dataclass(frozen=True)
class _Stats:
    """Grouped sums: ``raw[g] = [1 t y]'[1 t y]`` over group g's rows; for the respondent
    level, each respondent's ``s = (count, sum t, sum y)``, sorted by group."""

    n: int
    raw: np.ndarray  # (G, 3, 3)
    resp: np.ndarray | None = None  # (R, 3) s per respondent
    outer: np.ndarray | None = None  # (R, 3, 3) s s'
    resp_group: np.ndarray | None = None  # (R,) group of each respondent (sorted)
    starts: np.ndarray | None = None  # first respondent of each group


def _grouped_stats(y, t, g, n_groups, r=None) -> _Stats:
    cols = np.stack([np.ones_like(y), t, y], axis=1)
    prods = (cols[:, :, None] * cols[:, None, :]).reshape(len(y), 9)
    raw = np.stack([np.bincount(g, weights=prods[:, k], minlength=n_groups)
                    for k in range(9)], axis=1).reshape(n_groups, 3, 3)
    if r is None:
        return _Stats(len(y), raw)
    n_resp = int(r.max()) + 1
    s = np.stack([np.bincount(r, weights=cols[:, k], minlength=n_resp) for k in range(3)], 1)
    resp_group = np.zeros(n_resp, dtype=np.intp)
    resp_group[r] = g
    order = np.argsort(resp_group, kind="stable")
    s, resp_group = s[order], resp_group[order]
    return _Stats(len(y), raw, s, s[:, :, None] * s[:, None, :], resp_group,
                  np.searchsorted(resp_group, np.arange(n_groups)))


def _inv2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and determinants of a stack of 2 x 2 matrices."""
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    inv = np.empty_like(a)
    inv[:, 0, 0], inv[:, 1, 1] = a[:, 1, 1] / det, a[:, 0, 0] / det
    inv[:, 0, 1], inv[:, 1, 0] = -a[:, 0, 1] / det, -a[:, 1, 0] / det
    return inv, det


def _profile(st: _Stats, theta: np.ndarray, *, gradient: bool = False) -> dict:
    """The profiled REML deviance at ``theta = (theta_1, theta_2, theta_3, theta_r)`` and the
    pieces of the estimates (relative to sigma^2); with its gradient if asked.

    Per group, with ``H`` the respondent part (``I`` without respondents) and ``X = Z =
    [1 t]``: ``V^-1 = H^-1 - H^-1 Z Lambda A^-1 Lambda' Z' H^-1``, ``A = I + Lambda' Z' H^-1 Z
    Lambda``, ``log|V| = log|A| + log|H|``. The gradient is ``tr(P dV) - (N - p) y'P dV P y /
    r^2`` with ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``."""
    lam = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    rel = theta[3] ** 2 if st.resp is not None else 0.0
    gram, logdet_h = st.raw, 0.0
    if rel > 0:  # H = I + rel 1 1' per respondent: H^-1 = I - w 1 1' (Sherman-Morrison)
        w = rel / (1.0 + rel * st.resp[:, 0])
        gram = st.raw - np.add.reduceat(w[:, None, None] * st.outer, st.starts, axis=0)
        logdet_h = float(np.log1p(rel * st.resp[:, 0]).sum())
    zz, zy, yy = gram[:, :2, :2], gram[:, :2, 2], gram[:, 2, 2]
    m = zz @ lam  # Z' H^-1 Z Lambda
    a_inv, det_a = _inv2(np.eye(2) + lam.T @ m)
    m_ainv = m @ a_inv
    q = zz - m_ainv @ m.transpose(0, 2, 1)  # Z' V^-1 Z = X' V^-1 X per group
    xvx = q.sum(axis=0)
    ly = zy @ lam
    xvy = zy.sum(axis=0) - np.einsum("gij,gj->i", m_ainv, ly)
    yvy = yy.sum() - np.einsum("gi,gij,gj->", ly, a_inv, ly)
    out = dict(lam=lam, zz=zz, zy=zy, m=m, a_inv=a_inv, xvx=xvx, deviance=np.inf)
    sign, logdet_x = np.linalg.slogdet(xvx)
    if sign <= 0:
        return out
    w_inv = np.linalg.inv(xvx)
    beta = w_inv @ xvy
    r2 = yvy - xvy @ beta
    df = st.n - _P
    if not r2 > 0:
        return out
    out.update(beta=beta, w_inv=w_inv, sigma2=r2 / df, deviance=float(
        np.log(det_a).sum() + logdet_h + logdet_x + df * (1.0 + math.log(2.0 * math.pi * r2 / df))))
    if not gradient:
        return out
    e = zy - zz @ beta  # Z' H^-1 (y - X beta)
    le = np.einsum("gij,gj->gi", a_inv, e @ lam)  # A^-1 Lambda' Z' H^-1 (y - X beta)
    zvr = e - np.einsum("gij,gj->gi", m, le)  # Z' V^-1 (y - X beta)
    b = (q - q @ w_inv @ q).sum(axis=0)  # sum over groups of Z' P Z (diagonal blocks)
    c = zvr.T @ zvr
    gq = b - df / r2 * c  # d deviance / d (Lambda Lambda') = gq (symmetric)
    d = 2.0 * gq @ lam
    grad = np.array([d[0, 0], d[1, 0], d[1, 1], 0.0])
    if rel > 0:  # dV/d theta_r = 2 theta_r Z_r Z_r'; per respondent j, in components
        k, (cnt, st_t, st_y) = st.resp_group, st.resp.T
        delta = 1.0 / (1.0 + rel * cnt)
        e0, e1 = delta * cnt, delta * st_t  # Z' H^-1 1_j
        la = (lam @ a_inv @ lam.T)[k]
        one_v_one = cnt * delta - (e0 * e0 * la[:, 0, 0] + 2.0 * e0 * e1 * la[:, 0, 1]
                                   + e1 * e1 * la[:, 1, 1])
        n = (m_ainv @ lam.T)[k]
        f0 = e0 - n[:, 0, 0] * e0 - n[:, 0, 1] * e1  # X' V^-1 1_j
        f1 = e1 - n[:, 1, 0] * e0 - n[:, 1, 1] * e1
        one_p_one = one_v_one - (w_inv[0, 0] * f0 * f0 + 2.0 * w_inv[0, 1] * f0 * f1
                                 + w_inv[1, 1] * f1 * f1)
        lek = le[k]
        one_p_y = (delta * (st_y - cnt * beta[0] - st_t * beta[1])
                   - (e0 * lam[0, 0] + e1 * lam[1, 0]) * lek[:, 0] - e1 * lam[1, 1] * lek[:, 1])
        grad[3] = 2.0 * theta[3] * (one_p_one.sum() - df / r2 * (one_p_y @ one_p_y))
    out["gradient"] = grad
    return out


def _optimise(st: _Stats, free: list[int]) -> tuple[np.ndarray, float, bool, str]:
    """Minimise the profiled REML deviance over the free thetas (the others stay 0), from
    lme4's start (1 for a standard deviation, 0 for a covariance).

    The deviance depends on theta only through ``Lambda Lambda'`` and ``theta_r^2``, which
    do not change when the sign of a column of ``Lambda`` or of ``theta_r`` does; so the
    search is unconstrained and the signs are normalised afterwards to lme4's
    ``theta_1, theta_3, theta_r >= 0``. (With those bounds, a gradient method that reaches a
    bound can stay there although the optimum is inside: the derivative of the deviance
    with respect to theta_3 or theta_r is 0 at 0 by that symmetry.)"""
    def objective(x):
        theta = np.zeros(4)
        theta[free] = x
        fit = _profile(st, theta, gradient=True)
        if not np.isfinite(fit["deviance"]):
            return np.inf, np.zeros(len(free))
        return fit["deviance"], fit["gradient"][free]

    start = np.array([1.0, 0.0, 1.0, 1.0])[free]
    best = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                             options={"ftol": 1e-14, "gtol": 1e-7, "maxiter": 1000})
    # Converged: the optimiser says so, or it stopped (a line search that can no longer
    # improve in floating point) where lme4's convergence check would pass: the gradient
    # scaled by the Cholesky factor of the Hessian (from differences of the gradient) below
    # 0.002 (lme4's check.conv.grad).
    grad = objective(best.x)[1]
    step = 1e-5 * np.maximum(1.0, np.abs(best.x))
    hess = np.array([(objective(best.x + h)[1] - objective(best.x - h)[1]) / (2.0 * h[i])
                     for i, h in enumerate(np.diag(step))])
    try:
        scaled = np.linalg.solve(np.linalg.cholesky((hess + hess.T) / 2.0), grad)
    except np.linalg.LinAlgError:  # Hessian not positive definite (e.g. a singular fit)
        scaled = grad
    gradient = float(np.abs(scaled).max(initial=0.0))
    converged = bool(best.success) or gradient < _GRADIENT_TOL
    message = "" if converged else f"{best.message} (max |scaled gradient| {gradient:.2g})"
    theta = np.zeros(4)
    theta[free] = best.x
    if theta[0] < 0:
        theta[:2] = -theta[:2]
    theta[2:] = np.abs(theta[2:])
    return theta, float(best.fun), converged, message


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RandomSlopeResult:
    """A random intercept and slope model, as :func:`random_slope_model` returns it.

    Attributes
    ----------
    response, time, group, respondent : str
        The columns modelled (``respondent`` is ``""`` without a respondent intercept).
    model : str
        The model in lme4's notation.
    intercept, intercept_se, intercept_ci_low, intercept_ci_high, intercept_z, intercept_p_value
        The fixed intercept (expected response at time 0) with lme4's standard error
        (``vcov``), Wald interval, ``z`` (lme4's "t value") and two-sided normal p-value.
    slope, slope_se, slope_ci_low, slope_ci_high, slope_z, slope_p_value
        The same for the fixed (average) slope: change in the response per unit of time.
    sd_intercept, sd_slope, corr_intercept_slope : float
        Standard deviations of the groups' intercepts and slopes and their correlation
        (NaN when a standard deviation is 0), as lme4's ``VarCorr``.
    sd_respondent : float
        Standard deviation of the respondent intercepts (NaN without them).
    sd_residual : float
        Residual standard deviation (lme4's ``sigma``).
    reml_criterion : float
        -2 x the restricted log-likelihood at the estimates (lme4's ``REMLcrit``).
    reml_criterion_null : float
        The same for the model without the random slope (random intercepts only).
    lrt_statistic, lrt_df : float
        Likelihood-ratio statistic of the random slope, ``reml_criterion_null -
        reml_criterion`` (lme4's ``anova(m1, m0, refit = FALSE)``), on 2 df.
    lrt_p_value : float
        Its p-value from the 50:50 mixture of chi2(1) and chi2(2) (Stram & Lee 1994), the
        variance being tested on the boundary of its range; the verdicts use this one.
    lrt_p_value_naive : float
        The chi2(2) p-value lme4's ``anova`` prints (conservative: about twice too large).
    n_used, n_total : int
        Rows used, and rows given (``n_total - n_used`` had a missing value).
    n_groups, n_respondents, n_times : int
        Groups, respondents (0 without them) and distinct times among the rows used.
    converged : bool
        Whether both optimisations (with and without the random slope) converged.
    singular : bool
        A boundary fit (lme4's ``isSingular``): a standard deviation estimated as (nearly) 0
        or a correlation of +-1.
    ci : float
        Confidence level of the intervals.
    warnings : str
        Notes on the fit (singular fit, optimiser messages), joined by ``"; "``.
    reason : str
        ``""`` or why the figures are NaN.
    groups : DataFrame
        One row per group (the caterpillar plot): the group label (column named after
        ``group``), ``n_obs``, the conditional modes of the intercept and slope deviations
        ``intercept_deviation``, ``slope_deviation`` with their conditional standard deviations
        ``intercept_deviation_sd``, ``slope_deviation_sd`` (lme4's ``ranef(m, condVar =
        TRUE)``), and the group's own ``intercept``, ``slope`` (lme4's ``coef``) with standard
        errors ``intercept_se``, ``slope_se`` and the interval ``slope_ci_low``,
        ``slope_ci_high``. These standard errors are prediction errors that include the
        uncertainty of the fixed effects (the inverse of Henderson's mixed-model equations),
        so they are a little wider than the conditional standard deviations of the deviations.
    """

    response: str
    time: str
    group: str
    respondent: str
    model: str
    intercept: float
    intercept_se: float
    intercept_ci_low: float
    intercept_ci_high: float
    intercept_z: float
    intercept_p_value: float
    slope: float
    slope_se: float
    slope_ci_low: float
    slope_ci_high: float
    slope_z: float
    slope_p_value: float
    sd_intercept: float
    sd_slope: float
    corr_intercept_slope: float
    sd_respondent: float
    sd_residual: float
    reml_criterion: float
    reml_criterion_null: float
    lrt_statistic: float
    lrt_df: float
    lrt_p_value: float
    lrt_p_value_naive: float
    n_used: int
    n_total: int
    n_groups: int
    n_respondents: int
    n_times: int
    converged: bool
    singular: bool
    ci: float
    warnings: str
    reason: str
    groups: pd.DataFrame = field(repr=False, compare=False)

    def as_dict(self) -> dict:
        """Every field but ``groups``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "groups"}

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per estimate: fixed effects, variance components and the tests."""
        nan, rows = float("nan"), []
        for name in ("intercept", "slope"):
            get = lambda s, n=name: getattr(self, f"{n}{s}")  # noqa: E731
            rows.append((name, get(""), get("_se"), get("_ci_low"), get("_ci_high"), get("_z"),
                         nan, get("_p_value"), "Wald z"))
        for name in ("sd_intercept", "sd_slope", "corr_intercept_slope", "sd_respondent",
                     "sd_residual"):
            rows.append((name, getattr(self, name), nan, nan, nan, nan, nan, nan, "REML"))
        rows.append(("random_slope_lrt", nan, nan, nan, nan, self.lrt_statistic, self.lrt_df,
                     self.lrt_p_value, "REML LRT, 50:50 mixture of chi2(1) and chi2(2)"))
        rows.append(("random_slope_lrt_naive", nan, nan, nan, nan, self.lrt_statistic,
                     self.lrt_df, self.lrt_p_value_naive, "REML LRT, chi2(2)"))
        frame = pd.DataFrame(rows, columns=["term", "estimate", "se", "ci_low", "ci_high",
                                            "statistic", "df", "p_value", "method"])
        for name in ("n_used", "n_total", "n_groups", "converged", "reason"):
            frame[name] = getattr(self, name)
        return frame


def _column(data: pd.DataFrame, parameter: str, name, *, numeric: bool) -> pd.Series:
    if not isinstance(name, str) or name not in data.columns:
        present = ", ".join(map(repr, data.columns))
        raise ParameterError(f"{parameter} must name a column of data ({present}); got {name!r}")
    column = data[name]
    if numeric:
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise ParameterError(f"{parameter} column {name!r} must be numeric; got dtype "
                                 f"{column.dtype}")
        if np.isinf(column.to_numpy(dtype=float, na_value=np.nan)).any():
            raise ParameterError(f"{parameter} column {name!r} must be finite or missing "
                                 f"(NaN); it holds an infinite value")
    return column


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    values = column.astype(object).to_numpy()
    try:
        return pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types: order of appearance
        return pd.factorize(values)


def random_slope_model(
    data: pd.DataFrame,
    *,
    response: str,
    time: str,
    group: str,
    respondent: str | None = None,
    ci: float = 0.95,
) -> RandomSlopeResult:
    """Linear mixed model with a correlated random intercept and slope per group, by REML.

    Fits ``response ~ time + (time | group)`` - or, given ``respondent``, ``response ~ time +
    (time | group) + (1 | respondent:group)`` - as lme4's ``lmer`` does, and tests the random
    slope against the random-intercept model fitted to the same rows.

    Parameters
    ----------
    data : DataFrame
        One row per observation.
    response, time : str
        Numeric columns: the outcome and the time of each observation (e.g. wave number).
    group : str
        Column of the groups with their own intercept and slope (e.g. collaborations).
    respondent : str, optional
        Column of respondent ids for a random intercept per respondent within group (the
        panel: a respondent answering in several waves). The same id in two groups is two
        respondents (``respondent:group``).
    ci : float
        Confidence level of the intervals (0 < ci < 1).

    Returns
    -------
    RandomSlopeResult
        Fixed effects, variance components, REML criterion, the random-slope test and one
        row per group in ``groups``. NaN figures carry a ``reason``: fewer than 3 groups, a
        single time, a response that does not vary, no group observed at two times, or a
        respondent id that never repeats.

    Raises
    ------
    ParameterError
        ``data`` not a DataFrame, a column that is absent or not numeric, a bad ``ci``.

    Notes
    -----
    For observation *i* of group *g* (respondent *j*) at time :math:`t`,

    .. math::

        y = \\beta_0 + \\beta_1 t + a_g + b_g t + v_{gj} + e, \\quad
        (a_g, b_g) \\sim N(0, \\Sigma), \\; v_{gj} \\sim N(0, \\sigma_r^2), \\;
        e \\sim N(0, \\sigma^2)

    with :math:`\\Sigma = \\sigma^2 \\Lambda \\Lambda'`. The profiled REML deviance
    (module docstring) is minimised over :math:`\\theta`; then :math:`\\hat\\sigma^2 =
    r^2 / (N - 2)`, ``vcov`` :math:`= \\hat\\sigma^2 (X' V^{-1} X)^{-1}`, the conditional
    modes are :math:`\\Lambda (I + \\Lambda' Z_g' H_g^{-1} Z_g \\Lambda)^{-1} \\Lambda' Z_g'
    H_g^{-1} (y_g - X_g \\hat\\beta)` and their conditional covariance is
    :math:`\\hat\\sigma^2 \\Lambda (I + \\Lambda' Z_g' H_g^{-1} Z_g \\Lambda)^{-1} \\Lambda'`
    (``H_g`` the respondent part, ``I`` without respondents). The fixed-effect test is the
    Wald z test (lme4 prints the same ratio as "t value" without a p-value).

    The random slope is tested by the REML likelihood ratio against ``(1 | group)`` (the
    fixed effects are the same, so the REML likelihoods are comparable, as lme4's
    ``anova(m1, m0, refit = FALSE)`` and lmerTest's ``ranova``). Under the null the slope
    variance is on the boundary of its range, so the statistic follows a 50:50 mixture of
    chi2(1) and chi2(2) (Stram & Lee 1994); ``lrt_p_value`` uses that mixture and is the one
    the verdicts of :func:`collaboration_slopes` use; the naive chi2(2) p-value is given too.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(30), 5); t = np.tile(np.arange(5.0), 30)
    >>> y = 1 + 0.3 * t + rng.normal(0, 0.5, 30)[g] + rng.normal(0, 0.2, 30)[g] * t
    >>> y = y + rng.normal(0, 0.3, 150)
    >>> fit = random_slope_model(pd.DataFrame({"y": y, "t": t, "g": g}),
    ...                          response="y", time="t", group="g")
    >>> fit.n_groups, fit.converged, len(fit.groups), fit.lrt_p_value < 0.05
    (30, True, 30, True)

    In R::

        m1 <- lmer(y ~ t + (t | g), data)              # REML
        m0 <- lmer(y ~ t + (1 | g), data)
        anova(m1, m0, refit = FALSE)                   # the naive chi2(2) p-value
        ranef(m1, condVar = TRUE); coef(m1)
    """
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be a DataFrame; got {type(data).__name__}")
    _check_level("ci", ci)
    y_col = _column(data, "response", response, numeric=True)
    t_col = _column(data, "time", time, numeric=True)
    g_col = _column(data, "group", group, numeric=False)
    r_col = None if respondent is None else _column(data, "respondent", respondent,
                                                     numeric=False)
    y = y_col.to_numpy(dtype=float, na_value=np.nan)
    t = t_col.to_numpy(dtype=float, na_value=np.nan)
    g, labels = _codes(g_col)
    keep = ~np.isnan(y) & ~np.isnan(t) & (g >= 0)
    r = None
    if r_col is not None:
        keep &= r_col.notna().to_numpy()
        pairs = pd.DataFrame({"r": r_col.to_numpy()[keep], "g": g[keep]})
        r = pairs.groupby(["r", "g"], sort=False).ngroup().to_numpy()
    y, t, g = y[keep], t[keep], g[keep]
    used_groups, g = np.unique(g, return_inverse=True)
    return _fit(y, t, g, r, labels=labels[used_groups], n_total=len(data), ci=ci,
                names=(response, time, group, respondent or ""))


def _spans_two_times(t, g, n_groups) -> bool:
    low, high = np.full(n_groups, np.inf), np.full(n_groups, -np.inf)
    np.minimum.at(low, g, t)
    np.maximum.at(high, g, t)
    return bool((high > low).any())


def _not_fitted(base: dict, columns: list, reason: str, notes: str = "") -> RandomSlopeResult:
    empty = {f.name: float("nan") for f in fields(RandomSlopeResult)
             if f.name not in base and f.name not in ("groups", "warnings", "reason")}
    empty.update(lrt_df=2.0, converged=False, singular=False)
    return RandomSlopeResult(**base, **empty, warnings=notes, reason=reason,
                             groups=pd.DataFrame(columns=columns))


def _fit(y, t, g, r, *, labels, n_total, ci, names) -> RandomSlopeResult:
    nan = float("nan")
    response, time, group, respondent = names
    n_groups = len(labels)
    model = f"{response} ~ {time} + ({time} | {group})"
    if respondent:
        model += f" + (1 | {respondent}:{group})"
    counts = dict(n_used=len(y), n_total=n_total, n_groups=n_groups,
                  n_respondents=0 if r is None else int(r.max(initial=-1)) + 1,
                  n_times=len(np.unique(t)))
    base = dict(response=response, time=time, group=group, respondent=respondent, model=model,
                ci=ci, **counts)
    columns = [group, *_GROUP_COLUMNS]
    reason = ""
    if n_groups < 3:
        reason = "fewer than 3 groups: the spread of slopes between groups cannot be estimated"
    elif counts["n_times"] < 2:
        reason = "observations at a single time: no slope can be estimated"
    elif np.ptp(y) == 0:
        reason = "the response does not vary: the model cannot be fitted"
    elif not _spans_two_times(t, g, n_groups):
        reason = "no group is observed at two different times: the random slope cannot be estimated"
    elif r is not None and np.bincount(r).max() < 2:
        reason = (f"no {respondent} has more than one observation in a {group}: the respondent "
                  f"variance cannot be told apart from the residual; fit without respondent")
    if reason:
        return _not_fitted(base, columns, reason)
    shift = float(y.mean())  # fit y - mean(y) (fewer rounding errors); only beta_0 changes
    st = _grouped_stats(y - shift, t, g, n_groups, r)
    resp = [3] if r is not None else []
    theta, crit, ok, message = _optimise(st, [0, 1, 2, *resp])
    _, crit0, ok0, message0 = _optimise(st, [0, *resp])
    notes = [] if ok else [f"optimiser (random slope model): {message}"]
    notes += [] if ok0 else [f"optimiser (random intercept model): {message0}"]
    p = _profile(st, theta)
    if "sigma2" not in p or not p["sigma2"] > 1e-10 * np.var(y):
        return _not_fitted(base, columns, "the response lies (almost) exactly on a line in "
                           "every group: the residual variance is 0 and the model cannot be "
                           "fitted", "; ".join(notes))
    xvx_inv, beta, sigma2 = p["w_inv"], p["beta"], p["sigma2"]
    se = np.sqrt(sigma2 * np.diag(xvx_inv))
    zq = float(stats.norm.ppf(0.5 + ci / 2.0))
    lam, a_inv = p["lam"], p["a_inv"]
    cov = sigma2 * lam @ lam.T
    sd_int, sd_slope = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    corr = cov[0, 1] / (sd_int * sd_slope) if sd_int > 0 and sd_slope > 0 else nan
    singular = bool(theta[0] < _SINGULAR or theta[2] < _SINGULAR
                    or (r is not None and theta[3] < _SINGULAR))
    if singular:
        notes.append("boundary (singular) fit: a standard deviation is estimated as (nearly) 0 "
                      "or the correlation as +-1")
    # Conditional modes b_g = Lambda A_g^-1 Lambda' Z_g' H^-1 (y_g - X_g beta) and their
    # conditional covariance; prediction errors of beta + b_g from Henderson's equations.
    u = np.einsum("gij,gj->gi", a_inv, (p["zy"] - p["zz"] @ beta) @ lam)
    dev = u @ lam.T
    post = sigma2 * lam @ a_inv @ lam.T
    d = lam @ a_inv @ p["m"].transpose(0, 2, 1)
    i_d = np.eye(2) - d
    pev = post + sigma2 * i_d @ xvx_inv @ i_d.transpose(0, 2, 1)
    beta = beta + np.array([shift, 0.0])
    coef = beta + dev
    coef_se = np.sqrt(np.diagonal(pev, axis1=1, axis2=2))
    groups = pd.DataFrame({
        group: labels, "n_obs": np.bincount(g, minlength=n_groups),
        "intercept_deviation": dev[:, 0], "intercept_deviation_sd": np.sqrt(post[:, 0, 0]),
        "slope_deviation": dev[:, 1], "slope_deviation_sd": np.sqrt(post[:, 1, 1]),
        "intercept": coef[:, 0], "intercept_se": coef_se[:, 0], "slope": coef[:, 1],
        "slope_se": coef_se[:, 1], "slope_ci_low": coef[:, 1] - zq * coef_se[:, 1],
        "slope_ci_high": coef[:, 1] + zq * coef_se[:, 1]}, columns=columns)
    lrt = max(crit0 - crit, 0.0)
    fixed = {}
    for k, name in enumerate(("intercept", "slope")):
        z = beta[k] / se[k] if se[k] > 0 else nan
        fixed.update({name: float(beta[k]), f"{name}_se": float(se[k]),
                      f"{name}_ci_low": float(beta[k] - zq * se[k]),
                      f"{name}_ci_high": float(beta[k] + zq * se[k]), f"{name}_z": float(z),
                      f"{name}_p_value": float(2.0 * stats.norm.sf(abs(z)))})
    return RandomSlopeResult(
        **base, **fixed, sd_intercept=sd_int, sd_slope=sd_slope, corr_intercept_slope=corr,
        sd_respondent=math.sqrt(sigma2) * theta[3] if r is not None else nan,
        sd_residual=math.sqrt(sigma2), reml_criterion=crit, reml_criterion_null=crit0,
        lrt_statistic=lrt, lrt_df=2.0,
        lrt_p_value=float(0.5 * stats.chi2.sf(lrt, 1) + 0.5 * stats.chi2.sf(lrt, 2)),
        lrt_p_value_naive=float(stats.chi2.sf(lrt, 2)), converged=ok and ok0,
        singular=singular, warnings="; ".join(notes), reason="", groups=groups)


# --- the scores table --------------------------------------------------------------------------


@dataclass(frozen=True)
class CollaborationSlopes:
    """:func:`collaboration_slopes`: one random-slope model per characteristic.

    Attributes
    ----------
    summary : DataFrame
        One row per characteristic: ``characteristic``, every field of
        :class:`RandomSlopeResult` but ``groups``, and ``trend_label`` (one of
        :data:`collab_stats.change.TREND_LABELS`, from the fixed slope's interval),
        ``slopes_label`` (one of :data:`SLOPES_LABELS`, from ``lrt_p_value`` at level
        ``1 - ci``) and ``verdict`` (the two in one plain sentence).
    collaborations : DataFrame
        One row per characteristic and collaboration: ``characteristic`` and the columns of
        :attr:`RandomSlopeResult.groups` (the collaboration's own slope with its interval).
    results : dict of str -> RandomSlopeResult
        The fits, by characteristic.
    """

    summary: pd.DataFrame
    collaborations: pd.DataFrame
    results: dict = field(repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        """Every characteristic's :meth:`RandomSlopeResult.to_frame` rows, one after another."""
        parts = [r.to_frame().assign(characteristic=k) for k, r in self.results.items()]
        if not parts:
            return pd.DataFrame(columns=["characteristic"])
        frame = pd.concat(parts, ignore_index=True)
        return frame[["characteristic", *[c for c in frame.columns if c != "characteristic"]]]


_TREND_WORDS = {
    "significantly improving": "The programme is improving on average",
    "significantly declining": "The programme is declining on average",
    "no significant trend": "There is no clear change on average",
    "not tested": "The trend could not be estimated"}
_SLOPES_WORDS = {
    SLOPES_LABELS[0]: "collaborations differ in how fast they change",
    SLOPES_LABELS[1]: "no difference between collaborations in how fast they change was found",
    SLOPES_LABELS[2]: "whether collaborations differ could not be tested"}


def _labels_of(fit: RandomSlopeResult) -> tuple[str, str, str]:
    if math.isnan(fit.slope_ci_low):
        trend = TREND_LABELS[3]
    elif fit.slope_ci_low > 0:
        trend = TREND_LABELS[0]
    elif fit.slope_ci_high < 0:
        trend = TREND_LABELS[2]
    else:
        trend = TREND_LABELS[1]
    if math.isnan(fit.lrt_p_value):
        slopes = SLOPES_LABELS[2]
    else:
        slopes = SLOPES_LABELS[0] if fit.lrt_p_value < 1.0 - fit.ci else SLOPES_LABELS[1]
    verdict = f"{_TREND_WORDS[trend]}; {_SLOPES_WORDS[slopes]}."
    return trend, slopes, verdict


def collaboration_slopes(
    scores: pd.DataFrame,
    *,
    characteristic: str | Sequence[str] | None = None,
    waves: Sequence[str] | None = None,
    wave_numbers: Mapping[str, float] | None = None,
    respondent_intercept: bool | None = None,
    ci: float = 0.95,
) -> CollaborationSlopes:
    """Is the programme improving, and do collaborations differ in how fast?

    For each characteristic, fits ``score ~ wave_number + (wave_number | collaboration)``
    (:func:`random_slope_model`), with ``+ (1 | respondent:collaboration)`` when respondents
    answered in several waves, and states the answer in plain words.

    Parameters
    ----------
    scores : DataFrame
        Respondents' scores as :func:`collab_stats.scoring.score_responses` returns them (the
        table :func:`collab_stats.change.trend_model` takes: ``wave_id``,
        ``collaboration_id``, ``respondent_id``, ``characteristic``, ``score``). Score only
        comparable items when waves used different instrument versions.
    characteristic : str or sequence of str, optional
        The characteristic(s) to model; default every characteristic in ``scores``.
    waves : sequence of str, optional
        The waves in time order (default: the category order of ``wave_id``, else sorted).
    wave_numbers : mapping of wave id -> float, optional
        The time of each wave; default 0, 1, 2, ... in wave order (slopes per wave).
    respondent_intercept : bool, optional
        Add a random intercept per respondent within collaboration. Default (``None``): when
        some respondent has more than one score of the characteristic in a collaboration (a
        panel); ``True`` without a panel gives NaN with a reason.
    ci : float
        Confidence level of the intervals; ``1 - ci`` is the level of the random-slope test.

    Returns
    -------
    CollaborationSlopes
        ``summary`` (one row per characteristic, with ``trend_label``, ``slopes_label`` and
        ``verdict``), ``collaborations`` (each collaboration's own slope, for a caterpillar
        plot) and the fits in ``results``.

    Notes
    -----
    The trend label is "significantly improving" when the interval of the average slope lies
    above 0, "significantly declining" below 0, else "no significant trend". Collaborations
    "differ in how fast they change" when the random-slope test's mixture p-value (see
    :func:`random_slope_model`) is below ``1 - ci``. Rows with a missing score, wave or
    collaboration are not used (``n_total - n_used``); rows without a ``respondent_id`` are
    respondents of their own. Each characteristic is its own test: no multiplicity correction.

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import score_responses
    >>> sim = simulate_programme(seed=1, n_collaborations=6, n_waves=3)
    >>> out = collaboration_slopes(score_responses(sim.data, sim.instrument),
    ...                            characteristic="PS")
    >>> len(out.summary), len(out.collaborations)
    (1, 6)

    In R, per characteristic::

        m1 <- lmer(score ~ wave_number + (wave_number | collaboration_id) +
                   (1 | respondent_id:collaboration_id), data = one_characteristic)
    """
    _check_scores(scores)
    _check_level("ci", ci)
    if respondent_intercept is not None and not isinstance(respondent_intercept, bool):
        raise ParameterError(f"respondent_intercept must be True, False or None; got "
                             f"{respondent_intercept!r}")
    every = _labels(scores["characteristic"])
    if characteristic is None:
        wanted = every
    else:
        if not isinstance(characteristic, str | Sequence):
            raise ParameterError(f"characteristic must be a characteristic id or a sequence of "
                                 f"them; got {characteristic!r}")
        wanted = [characteristic] if isinstance(characteristic, str) else list(characteristic)
        for k in wanted:
            check_option("characteristic", k, every)
    numbers = _wave_numbers(_wave_order(scores, waves), wave_numbers)
    frame = _model_frame(scores, numbers)
    frame["collaboration_id"] = scores["collaboration_id"].to_numpy()
    kind = scores["characteristic"].astype(object).to_numpy()
    results, rows, groups = {}, [], []
    for k in wanted:
        part = frame[kind == k]
        usable = (part["score"].notna() & part["wave_number"].notna()
                  & part["collaboration"].ge(0)).to_numpy()
        panel = bool(part.loc[usable, ["respondent", "collaboration"]].duplicated().any())
        use = panel if respondent_intercept is None else respondent_intercept
        fit = random_slope_model(part, response="score", time="wave_number",
                                 group="collaboration_id",
                                 respondent="respondent" if use else None, ci=ci)
        results[k] = fit
        trend, slopes, verdict = _labels_of(fit)
        rows.append({"characteristic": k, **fit.as_dict(), "trend_label": trend,
                     "slopes_label": slopes, "verdict": verdict})
        if len(fit.groups):
            groups.append(fit.groups.assign(characteristic=k))
    columns = ["characteristic", "collaboration_id", *_GROUP_COLUMNS]
    summary = pd.DataFrame(rows)
    collaborations = (pd.concat(groups, ignore_index=True)[columns] if groups
                      else pd.DataFrame(columns=columns))
    return CollaborationSlopes(summary=summary, collaborations=collaborations, results=results)

