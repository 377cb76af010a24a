"""Omega for a multi-factor instrument: hierarchical omega and composite reliability.

Two routes to the reliability of an instrument whose items measure several related factors
(e.g. the instrument's characteristics under one overall judgement of a collaboration):

* :func:`omega_hierarchical` - exploratory, following ``psych::omega``'s default path: a minres
  factor analysis, an oblimin rotation and a Schmid-Leiman transformation give each item a
  loading on a general factor ``g`` and on one of several group factors, hence omega total,
  omega hierarchical (the share of the total score's variance due to ``g``), the asymptotic
  omega hierarchical, the explained common variance and the same figures per group factor;
* :func:`composite_reliability` - confirmatory, following ``semTools::compRelSEM``: omega of
  each factor of a first-order model fitted by :func:`collab_stats.cfa.cfa`.

Missing answers follow the library's vocabulary (:data:`collab_stats._params.NanPolicy`) for
the correlations of :func:`omega_hierarchical`; the CFA route inherits the fit's own policy.
A figure that cannot be computed is NaN with a ``reason``; only malformed input raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from . import fiml
from ._params import NAN_POLICIES, NanPolicy, check_number, check_option
from .cfa import CFAResult
from .errors import ParameterError

__all__ = ["HierarchicalOmegaResult", "composite_reliability", "omega_hierarchical"]

_PSI_BOUNDS = (0.005, 1.0)  # psych's bounds on the uniquenesses in fa(fm = "minres")
_MINRES_GTOL = 1e-6  # largest projected gradient of the least-squares criterion accepted
_ROT_EPS = 1e-8  # oblimin stops when the projected gradient's norm is below this ...
_ROT_ACCEPT = 1e-5  # ... and counts as converged below GPArotation's own tolerance
_ROT_MAX_ITER = 5000
_ROT_STARTS = 10  # random orthogonal starts besides psych's (seeded, so deterministic)
_ZERO_ITEM_VAR = 1e-14  # an item's variance is zero when var <= this * mean**2


# --- the result --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HierarchicalOmegaResult:
    """Omega total, omega hierarchical and their relatives from a Schmid-Leiman solution.

    Attributes
    ----------
    omega_total, omega_hierarchical, omega_h_asymptotic : float
        psych's ``omega.tot``, ``omega_h`` and ``omega.lim`` ("Omega H asymptotic").
    omega_group : float
        Share of the total score's variance due to the group factors (psych's
        ``omega.group["g", "group"]``).
    alpha, g6 : float
        Standardised alpha and Guttman's lambda 6 of the (flipped) correlation matrix, as
        ``psych::omega`` prints them ("Alpha", "G.6").
    ecv : float
        Explained common variance of the general factor.
    loadings : pandas.DataFrame
        One row per item: ``g``, ``F1*`` ... ``Fk*`` (Schmid-Leiman loadings, after flipping),
        ``h2``, ``u2``, ``p2`` (``g**2 / h2``) and ``flipped`` (whether the item was reversed
        because its ``g`` loading was negative).
    groups : pandas.DataFrame
        psych's ``omega.group``: one row for the whole scale (``"g"``) and one per group factor
        (its items are those loading most on it), columns ``n_items, omega_total,
        omega_hierarchical, omega_group``.
    factor_correlations : pandas.DataFrame
        Correlations of the oblimin factors (psych's ``schmid$phi``).
    n_factors, n_items : int
    n_used, n_total : int or None
        Respondents used (see :func:`omega_hierarchical`) and rows given; for a correlation
        matrix, ``n_obs`` (``None`` if not given).
    nan_policy : {"pairwise", "listwise"}
    converged : bool
        Whether the minres fits and the rotation converged.
    reason : str
        ``""`` when the figures are computed, otherwise why they are NaN.
    notes : tuple of str
        Things a reader should know (Heywood cases, the two-factor identification, flips).
    """

    omega_total: float
    omega_hierarchical: float
    omega_h_asymptotic: float
    omega_group: float
    alpha: float
    g6: float
    ecv: float
    loadings: pd.DataFrame
    groups: pd.DataFrame
    factor_correlations: pd.DataFrame
    n_factors: int
    n_items: int
    n_used: int | None
    n_total: int | None
    nan_policy: NanPolicy
    converged: bool
    reason: str
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """One tidy row per estimate: ``estimate, subscale, value, n_items, n_used, n_total,
        converged, reason``; ``subscale`` is ``"all"`` for the whole scale, else a group
        factor (``"F1*"``...) and the figures of :attr:`groups` for its items."""
        common = {"n_used": self.n_used, "n_total": self.n_total,
                  "converged": self.converged, "reason": self.reason}
        rows = [{"estimate": name, "subscale": "all", "value": getattr(self, name),
                 "n_items": self.n_items, **common}
                for name in ("omega_total", "omega_hierarchical", "omega_h_asymptotic",
                             "omega_group", "alpha", "g6", "ecv")]
        for factor, row in self.groups.iloc[1:].iterrows():
            rows += [{"estimate": name, "subscale": factor, "value": row[name],
                      "n_items": int(row["n_items"]), **common}
                     for name in ("omega_total", "omega_hierarchical", "omega_group")]
        return pd.DataFrame(rows)


# --- factor analysis pieces --------------------------------------------------------------------


def _smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations, as psych's ``smc`` (1 where R is singular, at most 1)."""
    try:
        inv = np.linalg.inv(r)
    except np.linalg.LinAlgError:
        return np.ones(len(r))
    return np.minimum(1 - 1 / np.diag(inv), 1.0)


def _minres(r: np.ndarray, n_factors: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Minres (unweighted least squares) factor analysis of a correlation matrix, as psych's
    ``fa(r, n_factors, fm = "minres", rotate = "none")``.

    Minimises ``F(psi) = ||R - diag(psi) - L L'||^2 / 2`` over the uniquenesses ``psi`` in
    psych's bounds [0.005, 1], where L holds the ``n_factors`` leading eigenvectors of
    ``R - diag(psi)`` scaled by the square roots of their eigenvalues; the gradient is
    ``-diag(R - diag(psi) - L L')`` (psych's ``FAgr.minres``). Columns are signed so that
    their sums are positive. Returns loadings, uniquenesses and whether it converged.
    """
    k = len(r)

    def criterion(psi):
        reduced = r - np.diag(psi)
        values, vectors = np.linalg.eigh(reduced)
        load = vectors[:, -n_factors:] * np.sqrt(np.maximum(values[-n_factors:], 0))
        resid = reduced - load @ load.T
        return 0.5 * np.sum(resid**2), -np.diag(resid).copy()

    start = np.clip(1 - _smc(r), *_PSI_BOUNDS)
    fit = optimize.minimize(criterion, start, jac=True, method="L-BFGS-B",
                            bounds=[_PSI_BOUNDS] * k,
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    psi = fit.x
    _, grad = criterion(psi)
    at_low, at_high = psi <= _PSI_BOUNDS[0] + 1e-12, psi >= _PSI_BOUNDS[1] - 1e-12
    projected = np.where((at_low & (grad > 0)) | (at_high & (grad < 0)), 0.0, grad)
    values, vectors = np.linalg.eigh(r - np.diag(psi))
    load = vectors[:, ::-1][:, :n_factors] * np.sqrt(np.maximum(values[::-1][:n_factors], 0))
    load = load * np.where(load.sum(axis=0) < 0, -1.0, 1.0)
    converged = bool(np.isfinite(psi).all() and np.abs(projected).max() < _MINRES_GTOL)
    return load, psi, converged


def _varimax(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Kaiser-normalised varimax, as R's ``stats::varimax`` (psych's first rotation)."""
    if x.shape[1] < 2:
        return x
    scale = np.sqrt((x**2).sum(axis=1))
    z0 = x / scale[:, None]
    rot, d = np.eye(x.shape[1]), 0.0
    for _ in range(1000):
        z = z0 @ rot
        u, s, vt = np.linalg.svd(z0.T @ (z**3 - z * (z**2).sum(axis=0) / len(z)))
        rot, d_past, d = u @ vt, d, s.sum()
        if d < d_past * (1 + eps):
            break
    return z0 @ rot * scale[:, None]


def _quartimin(load: np.ndarray) -> tuple[float, np.ndarray]:
    """Oblimin criterion with gamma = 0 and its gradient (GPArotation's ``vgQ.oblimin``)."""
    sq = load**2
    others = sq.sum(axis=1, keepdims=True) - sq
    return float((sq * others).sum() / 4), load * others


def _oblimin(a: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Gradient-projection oblique rotation (Bernaards & Jennrich 2005, GPArotation's
    ``GPFoblq``) of loadings ``a`` from the start ``t`` (unit-length columns).

    Iterates until the projected gradient's norm is below 1e-8 or the criterion no longer
    decreases in floating point. Returns the pattern loadings ``a (T')^-1``, the factor
    correlations ``T'T``, the criterion and whether the projected gradient's norm fell below
    GPArotation's tolerance 1e-5.
    """
    t_inv = np.linalg.inv(t)
    load = a @ t_inv.T
    f, gq = _quartimin(load)
    grad = -(load.T @ gq @ t_inv).T
    step, s = 1.0, np.inf
    for _ in range(_ROT_MAX_ITER):
        projected = grad - t * (t * grad).sum(axis=0)
        s = float(np.linalg.norm(projected))
        if s < _ROT_EPS:
            break
        step *= 2
        for _ in range(11):
            x = t - step * projected
            t_new = x / np.sqrt((x**2).sum(axis=0))
            t_new_inv = np.linalg.inv(t_new)
            load_new = a @ t_new_inv.T
            f_new, gq = _quartimin(load_new)
            if f - f_new > 0.5 * s * s * step:
                break
            step /= 2
        if not f_new < f:  # no decrease left at machine precision: as close as it gets
            break
        t, t_inv, load, f = t_new, t_new_inv, load_new, f_new
        grad = -(load.T @ gq @ t_inv).T
    return load, t.T @ t, f, s < _ROT_ACCEPT


def _rotate(orth: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """psych's path (varimax, its columns signed to positive sums and sorted by their sums of
    squares as psych's ``fa`` leaves them, then oblimin from the identity) and seeded random
    starts; the lowest criterion wins, psych's start on ties. Returns loadings, Phi, converged
    and whether a random start beat psych's."""
    start = _varimax(orth)
    start = start * np.where(start.sum(axis=0) < 0, -1.0, 1.0)
    start = start[:, np.argsort(-(start**2).sum(axis=0), kind="stable")]
    best = _oblimin(start, np.eye(orth.shape[1]))
    psych_f, rng = best[2], np.random.default_rng(20050101)
    for _ in range(_ROT_STARTS):
        q, _ = np.linalg.qr(rng.normal(size=(orth.shape[1],) * 2))
        trial = _oblimin(start, q)
        if trial[3] and trial[2] < best[2] - 1e-10 * max(1.0, abs(best[2])):
            best = trial
    return best[0], best[1], best[3], best[2] < psych_f - 1e-10 * max(1.0, abs(psych_f))


# --- input -------------------------------------------------------------------------------------


def _is_matrix(frame: pd.DataFrame) -> bool:
    return frame.shape[0] == frame.shape[1] and list(frame.index) == list(frame.columns)


def _matrix_input(frame: pd.DataFrame) -> np.ndarray:
    m = frame.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(m).all():
        raise ParameterError("data looks like a correlation matrix (square, index = columns) "
                             "but has missing or infinite entries; a matrix must be complete")
    if not np.allclose(m, m.T, rtol=0, atol=1e-8):
        raise ParameterError("data looks like a correlation matrix (square, index = columns) "
                             "but is not symmetric")
    if (np.diag(m) <= 0).any():
        bad = [frame.columns[i] for i in np.flatnonzero(np.diag(m) <= 0)]
        raise ParameterError(f"data has a non-positive diagonal for {bad!r}; a correlation or "
                             "covariance matrix needs positive variances")
    sd = np.sqrt(np.diag(m))
    return m / np.outer(sd, sd)


def _data_correlations(frame: pd.DataFrame, nan_policy: str):
    """Pearson correlations (pairwise-complete or listwise), n_used and a reason if unusable."""
    x = frame.to_numpy(dtype=float, na_value=np.nan)
    names = list(frame.columns)
    inf_cols = [names[j] for j in np.flatnonzero(np.isinf(x).any(axis=0))]
    if inf_cols:
        raise ParameterError(f"data must be finite or NaN; infinite values in columns "
                             f"{inf_cols!r}")
    obs = ~np.isnan(x)
    if nan_policy == "listwise":
        obs &= obs.all(axis=1, keepdims=True)
    n_used = int(obs.any(axis=1).sum())
    used = pd.DataFrame(np.where(obs, x, np.nan), columns=names)
    if n_used < 3:
        return None, n_used, ("fewer than 3 respondents with answers" if nan_policy ==
                              "pairwise" else "fewer than 3 respondents answered every item")
    counts = obs.sum(axis=0)
    for j, name in enumerate(names):
        if counts[j] < 2:
            return None, n_used, f"item {name!r} has fewer than 2 answers"
        values = x[obs[:, j], j]
        if values.var(ddof=1) <= _ZERO_ITEM_VAR * values.mean() ** 2:
            return None, n_used, f"item {name!r} has zero variance, so its correlations " \
                                 "are undefined"
    r = used.corr(method="pearson").to_numpy()
    if np.isnan(r).any():
        i, j = np.argwhere(np.isnan(r))[0]
        return None, n_used, (f"the correlation of items {names[i]!r} and {names[j]!r} is "
                              "undefined (fewer than 2 respondents answered both, or one is "
                              "constant among them)")
    return r, n_used, ""


# --- omega hierarchical ------------------------------------------------------------------------


def omega_hierarchical(
    data: pd.DataFrame,
    *,
    n_factors: int = 3,
    n_obs: int | None = None,
    nan_policy: NanPolicy = "pairwise",
    flip: bool = True,
) -> HierarchicalOmegaResult:
    """Omega hierarchical and omega total from a Schmid-Leiman solution, as ``psych::omega``.

    Parameters
    ----------
    data : pandas.DataFrame
        Either one row per respondent and one numeric column per item (NaN = missing), or a
        correlation (or covariance) matrix: a square frame whose index equals its columns.
    n_factors : int, default 3
        Group factors to extract (psych's ``nfactors``). With 2 the general factor is
        identified only by assuming equal loadings of the two group factors on it; with 1 the
        result is a one-factor omega (omega hierarchical is then not meaningful).
    n_obs : int, optional
        Respondents behind a correlation matrix, reported as ``n_used`` and ``n_total``; it
        changes no figure. Not accepted with raw data, which are counted.
    nan_policy : {"pairwise", "listwise"}, default "pairwise"
        Raw data only. ``"pairwise"``: each correlation from the respondents who answered
        both items, as ``cor(x, use = "pairwise")`` in psych (``n_used`` counts respondents
        with any answer); ``"listwise"``: respondents who answered every item only.
    flip : bool, default True
        psych's ``flip``: reverse items whose general-factor loading is negative before the
        figures are computed (listed in ``loadings["flipped"]`` and ``notes``).

    Returns
    -------
    HierarchicalOmegaResult
        NaN figures with a ``reason`` when the correlations cannot be computed (fewer than 3
        items or respondents, an item with zero variance, a pair never answered together),
        when ``n_factors`` is too many for the items, or when a fit does not converge.

    Raises
    ------
    ParameterError
        ``data`` is not a numeric DataFrame, a matrix is incomplete or asymmetric, or an
        option is not one of the allowed values.

    Notes
    -----
    The steps of ``psych::omega(x, nfactors)`` with its defaults (``fm = "minres"``,
    ``rotate = "oblimin"``, ``option = "equal"``, ``flip = TRUE``):

    1. minres factor analysis of the correlation matrix R with ``n_factors`` factors
       (uniquenesses bounded to [0.005, 1] as in psych; the unrotated loadings A);
    2. varimax, then oblimin (gamma = 0) by gradient projection (Bernaards & Jennrich 2005)
       from the varimax solution, as GPArotation does for psych; ten seeded random starts
       guard against a local minimum (the best criterion is kept and a note says so if it
       was not psych's start): pattern loadings F and factor correlations Phi;
    3. loadings of the factors on g: for 3+ factors a one-factor minres fit of Phi; for 2,
       ``sqrt(|phi_12|)`` for both (the second signed as ``phi_12``); for 1, ``g = 1``;
    4. Schmid-Leiman: ``g_i = sum_j F_ij gamma_j`` and group loadings
       ``s_ij = sign(F_ij) sqrt(max(F_ij^2 (1 - gamma_j^2), 0))``; ``h2 = rowsums(A^2)``,
       ``u2 = 1 - h2``, ``p2 = g^2 / h2``;
    5. items with ``g_i < 0`` are reversed (rows and columns of R, rows of the loadings).

    With ``V = sum(R)`` (of the flipped R), k items:

    .. math::

        \\omega_t = \\frac{V - \\sum u^2}{V}, \\quad
        \\omega_h = \\frac{(\\sum g)^2}{V}, \\quad
        \\omega_{lim} = \\frac{(\\sum g)^2}{V - \\sum u^2}, \\quad
        \\alpha = \\frac{k}{k-1}\\frac{V - k}{V}, \\quad
        \\lambda_6 = \\frac{V - k + \\sum smc}{V}

    and ``ecv = sum(g^2) / (sum(g^2) + sum(s^2))``. Note that omega total uses the
    communalities of the unrotated minres solution, not the squared Schmid-Leiman loadings
    (they differ when the one-factor model of Phi does not fit exactly). For the subscales
    (psych's ``omega.group``) each item belongs to the group factor with its largest absolute
    loading; for the items G of factor j, with ``V_G`` the sum of their block of R,
    total = ``((sum_G s_j)^2 + (sum_G g)^2) / V_G``, hierarchical = ``(sum_G g)^2 / V_G``,
    group = ``(sum_G s_j)^2 / V_G``; the whole-scale group figure is
    ``sum_j (sum_{G_j} s_j)^2 / V``.

    psych stops its optimisers at looser tolerances (optim's defaults, GPArotation's 1e-5),
    so its figures can differ from these in the fourth decimal.

    References
    ----------
    McDonald, R. P. (1999). Test theory: A unified treatment. Erlbaum.

    Zinbarg, R. E., Revelle, W., Yovel, I., & Li, W. (2005). Cronbach's alpha, Revelle's
    beta, and McDonald's omega_h. Psychometrika 70, 123-133. doi:10.1007/s11336-003-0974-7

    Schmid, J., & Leiman, J. M. (1957). The development of hierarchical factor solutions.
    Psychometrika 22, 53-61. doi:10.1007/BF02289209

    Bernaards, C. A., & Jennrich, R. I. (2005). Gradient projection algorithms and software
    for arbitrary rotation criteria in factor analysis. Educational and Psychological
    Measurement 65, 676-696. doi:10.1177/0013164404272507

    Examples
    --------
    In R: ``psych::omega(x, nfactors = 3)``. Jensen & Weng's population structure (psych's
    ``sim.hierarchical()``: three group factors with loadings on g of .9, .8, .7):

    >>> import numpy as np, pandas as pd
    >>> from collab_stats.omega import omega_hierarchical
    >>> loading = np.array([.8, .7, .6, .7, .6, .5, .6, .5, .4])
    >>> pattern = np.kron(np.eye(3), np.ones((3, 1))) * loading[:, None]
    >>> gamma = np.array([.9, .8, .7])
    >>> phi = np.outer(gamma, gamma) + np.diag(1 - gamma**2)
    >>> r = pattern @ phi @ pattern.T
    >>> np.fill_diagonal(r, 1)
    >>> names = [f"V{i}" for i in range(1, 10)]
    >>> res = omega_hierarchical(pd.DataFrame(r, index=names, columns=names), n_obs=500)
    >>> round(res.omega_hierarchical, 2), round(res.omega_total, 2), res.n_used
    (0.69, 0.8, 500)
    >>> res.groups.round(2)
         n_items  omega_total  omega_hierarchical  omega_group
    g          9         0.80                0.69         0.11
    F1*        3         0.74                0.60         0.14
    F2*        3         0.63                0.40         0.23
    F3*        3         0.50                0.25         0.26
    """
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be a pandas DataFrame (one column per item, or a "
                             f"correlation matrix); got {type(data).__name__}")
    nan_policy = check_option("nan_policy", nan_policy, NAN_POLICIES)
    n_factors = check_number("n_factors", n_factors, low=1, integer=True)
    if not isinstance(flip, bool):
        raise ParameterError(f"flip must be True or False; got {flip!r}")
    bad = [c for c, dt in data.dtypes.items() if not pd.api.types.is_numeric_dtype(dt)]
    if bad:
        raise ParameterError(f"data must hold numbers only; non-numeric columns: {bad!r}")
    names = list(data.columns)
    if _is_matrix(data):
        if n_obs is not None:
            check_number("n_obs", n_obs, low=1, integer=True)
        r, n_used, n_total, reason = _matrix_input(data), n_obs, n_obs, ""
    else:
        if n_obs is not None:
            raise ParameterError("n_obs is only for a correlation matrix; raw data are "
                                 f"counted (got n_obs={n_obs!r} with {len(data)} rows of data)")
        r, n_used, reason = _data_correlations(data, nan_policy)
        n_total = len(data)
    k = len(names)
    dof = k * (k - 1) // 2 - k * n_factors + n_factors * (n_factors - 1) // 2
    if not reason and k < 3:
        reason = "fewer than 3 items"
    elif not reason and dof < 0:
        reason = (f"n_factors={n_factors} is too many for {k} items (the factor model has "
                  f"{dof} degrees of freedom)")
    context = {"names": names, "n_factors": n_factors, "n_used": n_used, "n_total": n_total,
               "nan_policy": nan_policy}
    if reason:
        return _empty(reason=reason, converged=False, **context)
    return _schmid_leiman(r, flip=flip, **context)


def _factor_names(n_factors: int) -> list[str]:
    return [f"F{j}*" for j in range(1, n_factors + 1)]


def _empty(*, names, n_factors, n_used, n_total, nan_policy, reason, converged,
           notes=()) -> HierarchicalOmegaResult:
    nan = float("nan")
    groups = _factor_names(n_factors)
    loadings = pd.DataFrame(nan, index=pd.Index(names, name="item"),
                            columns=["g", *groups, "h2", "u2", "p2"])
    loadings["flipped"] = False
    table = pd.DataFrame(nan, index=["g", *groups],
                         columns=["n_items", "omega_total", "omega_hierarchical", "omega_group"])
    table["n_items"] = [len(names), *[0] * n_factors]
    phi = pd.DataFrame(nan, index=groups, columns=groups)
    return HierarchicalOmegaResult(
        omega_total=nan, omega_hierarchical=nan, omega_h_asymptotic=nan, omega_group=nan,
        alpha=nan, g6=nan, ecv=nan, loadings=loadings, groups=table.astype({"n_items": int}),
        factor_correlations=phi, n_factors=n_factors, n_items=len(names), n_used=n_used,
        n_total=n_total, nan_policy=nan_policy, converged=converged, reason=reason,
        notes=tuple(notes))


def _schmid_leiman(r, *, names, n_factors, n_used, n_total, nan_policy, flip):
    context = {"names": names, "n_factors": n_factors, "n_used": n_used, "n_total": n_total,
               "nan_policy": nan_policy}
    notes = []
    orth, psi, converged = _minres(r, n_factors)
    orth[orth == 0] = 1e-15  # psych does this before rotating (varimax divides by row norms)
    if n_factors == 1:
        pattern, phi, gamma = orth, np.ones((1, 1)), np.ones(1)
    else:
        pattern, phi, rot_ok, improved = _rotate(orth)
        converged &= rot_ok
        if improved:
            notes.append("oblimin from psych's start (the varimax solution) reached a local "
                         "minimum; the best of several starts is reported")
        if n_factors == 2:
            root = np.sqrt(abs(phi[0, 1]))
            gamma = np.array([root, np.sign(phi[0, 1]) * root])
            notes.append("with 2 group factors the general factor is identified only by "
                         "giving both equal loadings on it (psych's option = 'equal')")
        else:
            g_load, g_psi, g_ok = _minres(phi, 1)
            gamma, converged = g_load[:, 0], converged and g_ok
            if (g_psi <= _PSI_BOUNDS[0] + 1e-12).any():
                notes.append("a group factor's loading on g reached the bound sqrt(0.995) "
                             "(a Heywood case in the factoring of the factor correlations)")
    if not converged:
        return _empty(reason="the minres factor analysis or the oblimin rotation did not "
                      "converge", converged=False, notes=notes, **context)
    heywood = [names[i] for i in np.flatnonzero(psi <= _PSI_BOUNDS[0] + 1e-12)]
    if heywood:
        notes.append(f"communality at psych's bound 0.995 (a Heywood case) for {heywood!r}")
    g = pattern @ gamma
    group = np.sign(pattern) * np.sqrt(np.maximum(pattern**2 * (1 - gamma**2), 0))
    h2 = (orth**2).sum(axis=1)
    u2 = 1 - h2
    key = np.where(g < 0, -1.0, 1.0) if flip else np.ones(len(g))
    if (key < 0).any():
        notes.append(f"reversed because of a negative g loading: "
                     f"{[n for n, s in zip(names, key, strict=True) if s < 0]!r}")
    r, g, group = r * np.outer(key, key), g * key, group * key[:, None]
    k, total = len(r), r.sum()
    g_sq = g.sum() ** 2
    best = np.abs(group).argmax(axis=1)
    rows, group_total = [], 0.0
    for j in range(n_factors):
        members = best == j
        if not members.any():
            rows.append([0, np.nan, np.nan, np.nan])
            continue
        v = r[np.ix_(members, members)].sum()
        s_sq, gj_sq = group[members, j].sum() ** 2, g[members].sum() ** 2
        group_total += s_sq
        rows.append([int(members.sum()), (s_sq + gj_sq) / v, gj_sq / v, s_sq / v])
    omega_t = (total - u2.sum()) / total
    table = pd.DataFrame([[k, omega_t, g_sq / total, group_total / total], *rows],
                         index=["g", *_factor_names(n_factors)],
                         columns=["n_items", "omega_total", "omega_hierarchical", "omega_group"])
    loadings = pd.DataFrame(np.column_stack([g, group, h2, u2, g**2 / h2]),
                            index=pd.Index(names, name="item"),
                            columns=["g", *_factor_names(n_factors), "h2", "u2", "p2"])
    loadings["flipped"] = key < 0
    return HierarchicalOmegaResult(
        omega_total=float(omega_t), omega_hierarchical=float(g_sq / total),
        omega_h_asymptotic=float(g_sq / (total - u2.sum())),
        omega_group=float(group_total / total),
        alpha=float(k / (k - 1) * (total - k) / total),
        g6=float((total - k + _smc(r).sum()) / total),
        ecv=float((g**2).sum() / ((g**2).sum() + (group**2).sum())),
        loadings=loadings, groups=table.astype({"n_items": int}),
        factor_correlations=pd.DataFrame(phi, index=_factor_names(n_factors),
                                         columns=_factor_names(n_factors)),
        n_factors=n_factors, n_items=k, n_used=n_used, n_total=n_total, nan_policy=nan_policy,
        converged=True, reason="", notes=tuple(notes))


# --- composite reliability from a CFA ----------------------------------------------------------


def _cfa_matrices(fit: CFAResult) -> tuple[list[str], list[str], np.ndarray, np.ndarray,
                                          np.ndarray]:
    """Indicators, factors, Lambda, Phi and Theta (symmetric, off-diagonals included) from the
    parameter estimates of a first-order fit."""
    factors = [f for f, _ in fit.model]
    indicators = list(dict.fromkeys(i for _, members in fit.model for i in members))
    p = fit.parameters
    lam = np.zeros((len(indicators), len(factors)))
    for row in p[p["op"] == "=~"].itertuples():
        lam[indicators.index(row.rhs), factors.index(row.lhs)] = row.estimate
    phi = np.zeros((len(factors),) * 2)
    theta = np.zeros((len(indicators),) * 2)
    for row in p[p["op"] == "~~"].itertuples():
        for names, target in ((factors, phi), (indicators, theta)):
            if row.lhs in names and row.rhs in names:
                a, b = names.index(row.lhs), names.index(row.rhs)
                target[a, b] = target[b, a] = row.estimate
    return indicators, factors, lam, phi, theta


def _observed_cov(fit: CFAResult, data: Any, indicators: list[str]):
    """The saturated-model covariances lavaan uses as ``sampstat``: the sample covariances
    (divisor N) of the complete rows, or the EM estimates under FIML; or a reason."""
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be the pandas DataFrame the model was fitted to; got "
                             f"{type(data).__name__}")
    missing = [c for c in indicators if c not in data.columns]
    if missing:
        raise ParameterError(f"data lacks the indicator columns {missing!r} of the fitted model")
    x = data[indicators].to_numpy(dtype=float, na_value=np.nan)
    keep = ~np.isnan(x).all(axis=1) if fit.nan_policy == "fiml" else ~np.isnan(x).any(axis=1)
    x = x[keep]
    if len(x) != fit.n_used:
        raise ParameterError(f"data gives {len(x)} usable rows but the fit used {fit.n_used}; "
                             "pass the data the model was fitted to")
    if fit.nan_policy == "fiml":
        h1, reason = fiml.unrestricted(x, indicators)
        return (h1.em.cov, None) if h1 is not None else (None, reason)
    centred = x - x.mean(axis=0)
    return centred.T @ centred / len(x), None


def composite_reliability(
    fit: CFAResult,
    data: pd.DataFrame | None = None,
    *,
    obs_var: bool = True,
    return_total: bool = False,
) -> pd.DataFrame:
    """Omega of each factor of a fitted first-order CFA, as ``semTools::compRelSEM``.

    Parameters
    ----------
    fit : CFAResult
        A single-group, first-order fit from :func:`collab_stats.cfa.cfa`.
    data : pandas.DataFrame, optional
        The data the model was fitted to; needed for ``obs_var=True``.
    obs_var : bool, default True
        semTools' default ``obs.var = TRUE``: the denominator is the observed variance of the
        indicators' sum (lavaan's ``sampstat``: sample covariances with divisor N of the rows
        used, or their EM estimates under FIML). ``False``: the model-implied variance.
    return_total : bool, default False
        Add a row ``"total"`` for the sum of all indicators (semTools' ``return.total``).

    Returns
    -------
    pandas.DataFrame
        One row per factor (then ``"total"``): ``factor, n_indicators, omega,
        common_variance, total_variance, variance`` (``"observed"`` or ``"model-implied"``),
        ``n_used, n_total, reason``. NaN with a reason when the fit did not converge.

    Raises
    ------
    ParameterError
        ``fit`` is not a single-group first-order :class:`CFAResult`, or ``data`` is missing
        or is not the data of the fit.

    Notes
    -----
    With the estimates Lambda (loadings), Phi (factor covariances) and Theta (residual
    covariances, correlated residuals included), and I_f the indicators loading on factor f,

    .. math::

        \\omega_f = \\frac{(\\sum_{i \\in I_f} \\lambda_{if})^2 \\phi_{ff}}
                         {\\sum_{i, j \\in I_f} \\Sigma_{ij}}, \\qquad
        \\omega_{total} = \\frac{1' \\Lambda \\Phi \\Lambda' 1}{1' \\Sigma 1},

    where Sigma is the observed covariance matrix (``obs_var=True``) or the model-implied
    ``Lambda Phi Lambda' + Theta``. An indicator loading on several factors counts in each
    (its other loadings enter the denominator only). Unstandardised and standardised
    estimates give the same omega.

    References
    ----------
    Bentler, P. M. (2009). Alpha, dimension-free, and model-based internal consistency
    reliability. Psychometrika 74, 137-143. doi:10.1007/s11336-008-9100-1

    Examples
    --------
    In R: ``semTools::compRelSEM(cfa(model, data))``.

    >>> import numpy as np, pandas as pd
    >>> from collab_stats.cfa import cfa
    >>> from collab_stats.omega import composite_reliability
    >>> rng = np.random.default_rng(1)
    >>> factors = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=500)
    >>> items = np.repeat(factors, 3, axis=1) * 0.8 + rng.normal(scale=0.6, size=(500, 6))
    >>> data = pd.DataFrame(items, columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    >>> fit = cfa(data, {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]})
    >>> composite_reliability(fit, data)[["factor", "omega"]].round(3)
      factor  omega
    0      A  0.806
    1      B  0.848
    """
    if not isinstance(fit, CFAResult):
        raise ParameterError(f"fit must be a CFAResult from collab_stats.cfa.cfa; got "
                             f"{type(fit).__name__}")
    if fit.group is not None or fit.second_order:
        raise ParameterError("fit must be a single-group first-order model; composite "
                             "reliability of multi-group or second-order fits is not supported")
    for name, value in (("obs_var", obs_var), ("return_total", return_total)):
        if not isinstance(value, bool):
            raise ParameterError(f"{name} must be True or False; got {value!r}")
    if obs_var and data is None:
        raise ParameterError("data is required when obs_var=True (semTools' default: the "
                             "observed variance of the sum is the denominator); pass the data "
                             "the model was fitted to, or obs_var=False")
    indicators, factors, lam, phi, theta = _cfa_matrices(fit)
    reason = fit.reason or ("" if fit.converged else "the CFA did not converge")
    sigma = lam @ phi @ lam.T + theta
    if obs_var and not reason:
        sigma, why = _observed_cov(fit, data, indicators)
        reason = why or ""
    sets = [(f, lam[:, j] != 0, np.outer(lam[:, j], lam[:, j]) * phi[j, j])
            for j, f in enumerate(factors)]
    if return_total:
        sets.append(("total", np.ones(len(indicators), dtype=bool), lam @ phi @ lam.T))
    rows = []
    for name, members, common in sets:
        block = np.ix_(members, members)
        num = float(common[block].sum()) if not reason else np.nan
        den = float(sigma[block].sum()) if not reason else np.nan
        rows.append({"factor": name, "n_indicators": int(members.sum()),
                     "omega": num / den if not reason else np.nan,
                     "common_variance": num, "total_variance": den,
                     "variance": "observed" if obs_var else "model-implied",
                     "n_used": fit.n_used, "n_total": fit.n_total, "reason": reason})
    return pd.DataFrame(rows)
