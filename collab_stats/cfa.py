"""Confirmatory factor analysis by maximum likelihood, following lavaan's defaults.

One public function, :func:`cfa`, fits a first-order model (each factor measured by its
indicators, factors free to covary) or a second-order model (first-order factors measured in
turn by higher factors, e.g. the instrument's three groups over its eight characteristics). The
fitting engine here is shared with :mod:`collab_stats.invariance`, which fits the same models in
several groups at once.

Conventions (all lavaan 0.6 defaults, so that figures can be checked against lavaan output):

* ML on the covariance matrix with divisor N (``likelihood = "normal"``); the test statistic
  is N * F_ML, not (N - 1) * F_ML;
* the first loading of each factor is fixed to 1 (``std.lv = FALSE``) unless ``std_lv``;
* standard errors from the expected information matrix (the observed one under FIML, as
  lavaan's default with ``missing = "ml"``); standardised estimates are lavaan's ``std.all``;
* RMSEA and its interval use N; SRMR is lavaan's default ``srmr`` (Bentler's: residual
  covariances divided by the observed standard deviations, diagonal included);
* the baseline is the independence model (free variances, and free means where there is a
  mean structure, in every group);
* missing values: ``nan_policy="listwise"`` (lavaan's default ``missing = "listwise"``) or
  ``"fiml"``, full-information ML as lavaan's ``missing = "ml"`` (see :func:`cfa`, Notes, and
  :mod:`collab_stats.fiml`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from . import fiml
from ._params import check_option
from .errors import ParameterError

__all__ = ["CFAResult", "CfaNanPolicy", "cfa"]

#: How :func:`cfa` and :func:`~collab_stats.invariance.measurement_invariance` treat missing
#: answers: ``listwise`` - only rows complete on every indicator; ``fiml`` - every observed
#: value (full-information ML, lavaan's ``missing = "ml"``).
CfaNanPolicy = Literal["listwise", "fiml"]
CFA_NAN_POLICIES: tuple[str, ...] = ("listwise", "fiml")

_MATRICES = ("lambda", "gamma", "phi", "psi", "theta", "nu", "kappa")
_BAD = 1e10  # objective value returned where the implied covariance matrix is not positive definite
_GRAD_TOL = 1e-3  # largest |gradient| of F_ML / 2 accepted as converged (lavaan's optim.dx.tol)
_Z975 = float(stats.norm.ppf(0.975))
_FIT_COLUMNS = (
    "n_used", "n_total", "nan_policy", "converged", "iterations", "n_parameters", "chi_square",
    "df", "p_value", "baseline_chi_square", "baseline_df", "cfi", "tli", "rmsea",
    "rmsea_ci_low", "rmsea_ci_high", "rmsea_p_close", "srmr", "loglik", "aic", "bic", "reason",
)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """A validated model: indicators, first-order factors and (optional) higher factors."""

    indicators: tuple[str, ...]
    factors: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]
    higher: tuple[str, ...]
    higher_members: tuple[tuple[str, ...], ...]

    @property
    def passthrough(self) -> tuple[str, ...]:
        """First-order factors under no higher factor: they covary with the higher factors."""
        under = {f for members in self.higher_members for f in members}
        return tuple(f for f in self.factors if f not in under)

    @property
    def pair_equal(self) -> tuple[bool, ...]:
        """Which higher factors get equal loadings: those with two first-order factors that
        have no other latent variable to covary with (the structure is otherwise not
        identified)."""
        alone = len(self.higher) == 1 and not self.passthrough
        return tuple(alone and len(m) == 2 for m in self.higher_members)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ParameterError(f"{where} must be a list of names; got {value!r}")
    names = tuple(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise ParameterError(f"{where} must contain names (strings); got {bad[0]!r}")
    twice = sorted({v for v in names if names.count(v) > 1})
    if twice:
        raise ParameterError(f"{where} names {', '.join(map(repr, twice))} more than once")
    return names


def _mapping(value: Any, name: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping) or not value:
        raise ParameterError(
            f"{name} must be a non-empty mapping {{factor: [indicators]}}; got {value!r}"
        )
    out = {}
    for key, members in value.items():
        if not isinstance(key, str):
            raise ParameterError(f"{name} keys must be factor names (strings); got {key!r}")
        out[key] = _names(members, f"{name}[{key!r}]")
    return out


def _parse_model(columns: Sequence[Any], model: Any, second_order: Any = None) -> _Spec:
    """Check a model against the data's columns; every problem raises :class:`ParameterError`.

    Columns of ``data`` that are not indicators are ignored, even if they share a factor's name
    (e.g. a column of characteristic scores named like the characteristic).
    """
    first = _mapping(model, "model")
    indicators = tuple(dict.fromkeys(i for members in first.values() for i in members))
    clash = [f for f in first if f in indicators]
    if clash:
        raise ParameterError(f"{clash[0]!r} is both a factor and an indicator in model")
    available = set(columns)
    unknown = [i for i in indicators if i not in available]
    if unknown:
        raise ParameterError(
            f"model names indicator column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} not found in data"
        )
    short = [f for f, members in first.items() if len(members) < 2]
    if short:
        raise ParameterError(
            f"model[{short[0]!r}] has {len(first[short[0]])} indicator(s); a factor needs at "
            "least 2 (at least 3 if it is the only factor)"
        )
    higher: dict[str, tuple[str, ...]] = {}
    if second_order is not None:
        higher = _mapping(second_order, "second_order")
        for h, members in higher.items():
            if h in first or h in indicators:
                raise ParameterError(
                    f"second_order factor {h!r} has the name of a first-order factor or an "
                    "indicator"
                )
            missing = [f for f in members if f not in first]
            if missing:
                raise ParameterError(
                    f"second_order[{h!r}] names {', '.join(map(repr, missing))}, not a factor "
                    f"of model (factors: {', '.join(map(repr, first))})"
                )
            if len(members) < 2:
                raise ParameterError(
                    f"second_order[{h!r}] has {len(members)} first-order factor(s); it needs "
                    "at least 2"
                )
        placed = [f for members in higher.values() for f in members]
        twice = sorted({f for f in placed if placed.count(f) > 1})
        if twice:
            raise ParameterError(
                f"first-order factor {twice[0]!r} is under more than one second_order factor"
            )
    return _Spec(
        indicators=indicators,
        factors=tuple(first),
        members=tuple(first.values()),
        higher=tuple(higher),
        higher_members=tuple(higher.values()),
    )


class _Model:
    """Parameter layout of a (multi-group) model.

    Sigma = Lambda (Gamma Phi Gamma' + Psi) Lambda' + Theta and mu = nu + Lambda Gamma kappa,
    where Lambda holds the first-order loadings, Gamma the second-order loadings (a fixed 1 for
    a first-order factor under no higher factor, which then acts as its own "higher" factor),
    Phi the covariances of the higher factors, Psi the disturbances of the first-order factors.
    Each matrix entry is fixed or points at a free parameter; equality constraints point two
    entries at the same parameter.
    """

    def __init__(self, spec: _Spec, n_groups: int = 1, *, std_lv: bool = False,
                 meanstructure: bool = False, equal: frozenset[str] = frozenset()):
        self.spec, self.n_groups, self.meanstructure = spec, n_groups, meanstructure
        ind, fac = spec.indicators, spec.factors
        self.xi = spec.higher + spec.passthrough
        p, m1, m2 = len(ind), len(fac), len(self.xi)
        shapes = {"lambda": (p, m1), "gamma": (m1, m2), "phi": (m2, m2), "psi": (m1, m1),
                  "theta": (p, p), "nu": (p,), "kappa": (m2,)}
        self.values = [{k: np.zeros(s) for k, s in shapes.items()} for _ in range(n_groups)]
        index = [{k: np.full(s, -1) for k, s in shapes.items()} for _ in range(n_groups)]
        self.rows: list[tuple[int, str, tuple[int, ...], str, str, str]] = []
        keys: dict[tuple, int] = {}

        def add(g, name, pos, lhs, op, rhs, *, key=None, value=0.0, show=True):
            idx = -1
            if key is not None:
                idx = keys.setdefault(key, len(keys))
            for at in {pos, pos[::-1]} if name in ("phi", "psi", "theta") else (pos,):
                index[g][name][at] = idx
                self.values[g][name][at] = value
            if show:
                self.rows.append((g, name, pos, lhs, op, rhs))

        def tag(kind: str, g: int) -> tuple[int, ...]:
            return () if kind in equal else (g,)

        for g in range(n_groups):
            for j, members in enumerate(spec.members):
                for t, i in enumerate(members):
                    pos = (ind.index(i), j)
                    free = std_lv or t > 0
                    add(g, "lambda", pos, fac[j], "=~", i, value=1.0,
                        key=("lambda", pos, *tag("loadings", g)) if free else None)
            for h, members in enumerate(spec.higher_members):
                for t, f in enumerate(members):
                    pos = (fac.index(f), h)
                    if spec.pair_equal[h]:
                        key = ("pair", h, *tag("loadings", g)) if std_lv else None
                    else:
                        free = std_lv or t > 0
                        key = ("gamma", pos, *tag("loadings", g)) if free else None
                    add(g, "gamma", pos, spec.higher[h], "=~", f, value=1.0, key=key)
            for k, f in enumerate(spec.passthrough, start=len(spec.higher)):
                add(g, "gamma", (fac.index(f), k), f, "=~", f, value=1.0, show=False)
            for a in range(m2):
                for b in range(a):
                    add(g, "phi", (a, b), self.xi[b], "~~", self.xi[a], key=("phi", a, b, g))
            if meanstructure:
                for i, name in enumerate(ind):
                    add(g, "nu", (i,), name, "~1", "", key=("nu", i, *tag("intercepts", g)))
                for k, name in enumerate(self.xi):
                    free = "intercepts" in equal and g > 0
                    add(g, "kappa", (k,), name, "~1", "", key=("kappa", k, g) if free else None)
            for i, name in enumerate(ind):
                add(g, "theta", (i, i), name, "~~", name, key=("theta", i, g))
            for k, name in enumerate(self.xi):
                add(g, "phi", (k, k), name, "~~", name, value=1.0,
                    key=None if std_lv else ("phi", k, k, g))
            for f in fac:
                if f not in spec.passthrough:
                    j = fac.index(f)
                    add(g, "psi", (j, j), f, "~~", f, value=1.0,
                        key=None if std_lv else ("psi", j, g))
        self.n_free = len(keys)
        self.free = [
            {k: (np.flatnonzero(m >= 0), m.ravel()[m.ravel() >= 0]) for k, m in grp.items()}
            for grp in index
        ]
        self.index = index

    @property
    def n_moments(self) -> int:
        p = len(self.spec.indicators)
        return self.n_groups * (p * (p + 1) // 2 + (p if self.meanstructure else 0))

    def matrices(self, theta: np.ndarray, g: int) -> dict[str, np.ndarray]:
        out = {}
        for name in _MATRICES:
            m = self.values[g][name].astype(theta.dtype)
            pos, ids = self.free[g][name]
            m.reshape(-1)[pos] = theta[ids]
            out[name] = m
        return out

    def implied(self, theta: np.ndarray, g: int):
        m = self.matrices(theta, g)
        lam, gam = m["lambda"], m["gamma"]
        eta_cov = gam @ m["phi"] @ gam.T + m["psi"]
        sigma = lam @ eta_cov @ lam.T + m["theta"]
        mu = m["nu"] + lam @ (gam @ m["kappa"])
        return m, eta_cov, sigma, mu


# --- the data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    """Per group: rows, the unrestricted (H1) moments (the sample moments, or their EM
    estimates under FIML), the log-likelihoods of H1 and of the independence model, and under
    FIML the rows arranged by missing-data pattern with -2 log L_H1 (no 2 pi terms)."""

    n: np.ndarray
    cov: list[np.ndarray]
    mean: list[np.ndarray]
    logdet: list[float]
    loglik_h1: list[float]
    loglik_baseline: list[float]
    patterns: tuple[fiml.Patterns, ...] | None = None
    f_h1: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def weights(self) -> np.ndarray:
        return self.n / self.n.sum()


def _numeric(data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise ParameterError(
            f"indicator column{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} of data "
            "must be numeric"
        )
    return data[list(columns)].to_numpy(dtype=float, na_value=np.nan)


def _sample(x: np.ndarray, groups: np.ndarray, labels: Sequence[Any],
            columns: Sequence[str]) -> tuple[_Sample | None, str | None]:
    """Sample moments per group (covariances with divisor N), or a reason they are unusable."""
    p = x.shape[1]
    n, covs, means, logdets = [], [], [], []
    for label in labels:
        xg = x[groups == label]
        where = f" in group {label!r}" if len(labels) > 1 else ""
        if len(xg) <= p:
            return None, (
                f"only {len(xg)} complete rows{where} for {p} indicators: the sample covariance "
                f"matrix is singular (at least {p + 1} rows are needed)"
            )
        mean = xg.mean(axis=0)
        cov = (xg - mean).T @ (xg - mean) / len(xg)
        constant = [c for c, v in zip(columns, np.diag(cov), strict=True) if v <= 0]
        if constant:
            return None, f"indicator {constant[0]!r} has no variance{where}"
        sign, logdet = np.linalg.slogdet(cov)
        sd = np.sqrt(np.diag(cov))
        if sign <= 0 or np.linalg.cond(cov / np.outer(sd, sd)) > 1e12:
            return None, f"the sample covariance matrix{where} is singular (collinear indicators)"
        n.append(len(xg))
        covs.append(cov)
        means.append(mean)
        logdets.append(logdet)
    half = [-nk / 2 * p * (math.log(2 * math.pi) + 1) for nk in n]
    loglik_h1 = [h - nk / 2 * ld for h, nk, ld in zip(half, n, logdets, strict=True)]
    loglik_0 = [h - nk / 2 * np.log(np.diag(c)).sum()
                for h, nk, c in zip(half, n, covs, strict=True)]
    return _Sample(np.asarray(n, dtype=float), covs, means, logdets, loglik_h1, loglik_0), None


def _fiml_sample(x: np.ndarray, groups: np.ndarray, labels: Sequence[Any],
                 columns: Sequence[str]) -> tuple[_Sample | None, str | None]:
    """Rows by missing-data pattern and the EM estimates of the H1 moments, per group (rows
    with no indicator observed are already excluded), or a reason they are unusable."""
    fits = []
    for label in labels:
        where = f" in group {label!r}" if len(labels) > 1 else ""
        h1, reason = fiml.unrestricted(x[groups == label], columns, where)
        if h1 is None:
            return None, reason
        fits.append(h1)
    n = sum(h.patterns.n for h in fits)
    n_patterns = sum(h.patterns.n_patterns for h in fits)
    iterations = max(h.em.iterations for h in fits)
    note = (
        f"full-information ML: {n} rows, {sum(h.patterns.n_complete for h in fits)} of them "
        f"complete, {n_patterns} missing-data pattern{'s' if n_patterns > 1 else ''}; the "
        f"unrestricted model was estimated by EM ({iterations} iteration"
        f"{'s' if iterations > 1 else ''})"
    )
    return _Sample(
        np.array([h.patterns.n for h in fits], dtype=float), [h.em.cov for h in fits],
        [h.em.mean for h in fits], [h.logdet for h in fits], [h.loglik for h in fits],
        [h.loglik_baseline for h in fits], tuple(h.patterns for h in fits),
        tuple(h.em.f for h in fits), (note,),
    ), None


# --- estimation -----------------------------------------------------------------------------


def _group_terms(sample: _Sample, g: int, sigma: np.ndarray,
                 mu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """F_g and its derivatives with respect to Sigma (entry by entry) and mu.

    Complete data: F_g = log|Sigma| + tr(S Sigma^-1) - log|S| - p (+ the mean term). FIML:
    F_g = (-2 log L_g - (-2 log L_H1,g)) / N_g, which is the same on complete data.
    Raises :class:`numpy.linalg.LinAlgError` if Sigma is not positive definite.
    """
    if sample.patterns is not None:
        f, w_mat, g_mu = fiml.pattern_terms(sigma, mu, sample.patterns[g])
        n = sample.n[g]
        return (f - sample.f_h1[g]) / n, w_mat / n, g_mu / n
    chol = linalg.cho_factor(sigma, lower=True, check_finite=False)
    inv = linalg.cho_solve(chol, np.eye(len(sigma)), check_finite=False)
    inv_s = inv @ sample.cov[g]
    fg = 2 * np.log(np.diag(chol[0])).sum() + np.trace(inv_s) - sample.logdet[g] - len(sigma)
    v = inv @ (sample.mean[g] - mu)
    fg += (sample.mean[g] - mu) @ v
    return fg, inv - inv_s @ inv - np.outer(v, v), -2 * v


def _objective(theta: np.ndarray, model: _Model, sample: _Sample,
               groups: Sequence[int] | None = None) -> tuple[float, np.ndarray]:
    """F = sum_g (N_g / N) F_g and its gradient (see :func:`cfa`, Notes); with ``groups``,
    the terms of those groups only."""
    f, grad = 0.0, np.zeros(model.n_free)
    for g in range(model.n_groups) if groups is None else groups:
        w = sample.weights[g]
        m, eta_cov, sigma, mu = model.implied(theta, g)
        if not np.all(np.isfinite(sigma)):
            return _BAD, grad
        if not model.meanstructure:
            mu = sample.mean[g]  # saturated means: the mean term vanishes
        try:
            fg, w_mat, g_mu = _group_terms(sample, g, sigma, mu)
        except linalg.LinAlgError:
            return _BAD, grad
        lam, gam, phi = m["lambda"], m["gamma"], m["phi"]
        parts = {}
        if model.meanstructure:
            parts["nu"] = g_mu
            parts["kappa"] = gam.T @ (lam.T @ g_mu)
        g_eta = lam.T @ w_mat @ lam
        parts["lambda"] = 2 * w_mat @ lam @ eta_cov
        parts["gamma"] = 2 * g_eta @ gam @ phi
        parts["phi"] = gam.T @ g_eta @ gam
        parts["psi"] = g_eta
        parts["theta"] = w_mat
        if model.meanstructure:
            parts["lambda"] += np.outer(g_mu, gam @ m["kappa"])
            parts["gamma"] += np.outer(lam.T @ g_mu, m["kappa"])
        for name, value in parts.items():
            pos, ids = model.free[g][name]
            if len(ids):
                grad += w * np.bincount(ids, weights=value.reshape(-1)[pos],
                                        minlength=model.n_free)
        f += w * fg
    return f, grad


def _information(theta: np.ndarray, model: _Model, sample: _Sample) -> np.ndarray:
    """Expected information per observation, sum_g (N_g / N) Delta_g' W_g Delta_g.

    The Jacobian Delta of the implied moments is taken by complex-step differentiation, which
    is exact here (the moments are polynomials in the parameters).
    """
    q, h = model.n_free, 1e-30
    info = np.zeros((q, q))
    for g, w in enumerate(sample.weights):
        _, _, sigma, _ = model.implied(theta, g)
        inv = np.linalg.inv(sigma)
        d_sigma = np.empty((q, *sigma.shape))
        d_mu = np.empty((q, len(sigma)))
        for k in range(q):
            step = theta.astype(complex)
            step[k] += 1j * h
            _, _, s_k, mu_k = model.implied(step, g)
            d_sigma[k], d_mu[k] = s_k.imag / h, mu_k.imag / h
        a = (inv @ d_sigma @ inv).reshape(q, -1)
        block = 0.5 * a @ d_sigma.reshape(q, -1).T  # tr(inv dS_k inv dS_l); dS_l symmetric
        if model.meanstructure:
            block += d_mu @ inv @ d_mu.T
        info += w * block
    return info


def _observed_information(theta: np.ndarray, model: _Model,
                          sample: _Sample) -> np.ndarray | None:
    """Observed information per observation, half the Hessian of F, by forward differences of
    the analytic gradient (step 1e-6 max(1, |theta_k|); relative error about 1e-6),
    symmetrised: lavaan's ``information = "observed"`` (its default with ``missing = "ml"``,
    which differentiates its analytic gradient numerically too). Group by group, moving only
    the parameters of the group. ``None`` if F cannot be evaluated near ``theta``."""
    q = model.n_free
    hessian = np.zeros((q, q))
    for g in range(model.n_groups):
        _, at = _objective(theta, model, sample, [g])
        for k in np.unique(np.concatenate([ids for _, ids in model.free[g].values()])):
            h = 1e-6 * max(1.0, abs(theta[k]))
            step = np.zeros(q)
            step[k] = h
            f_up, g_up = _objective(theta + step, model, sample, [g])
            if f_up >= _BAD:
                return None
            hessian[:, k] += (g_up - at) / h
    return (hessian + hessian.T) / 4


def _one_factor_start(c: np.ndarray, equal: bool) -> tuple[np.ndarray, float]:
    """Marker-scale loadings and factor variance from the covariances of one factor's
    indicators: loading j = sum_k c_jk / sum_k c_1k over the other non-marker indicators k."""
    k = len(c)
    load = np.ones(k)
    if k >= 3:
        for j in range(1, k):
            others = [t for t in range(1, k) if t != j]
            den = c[0, others].sum()
            if abs(den) > 1e-8 * c[0, 0]:
                load[j] = c[j, others].sum() / den
    elif not equal:
        load[1] = math.copysign(math.sqrt(c[1, 1] / c[0, 0]), c[0, 1])
    load = np.clip(load, -5.0, 5.0)
    load[np.abs(load) < 0.1] = 0.1
    var = float(np.mean(c[0, 1:] / load[1:]))
    if not math.isfinite(var) or var < 0.05 * c[0, 0]:
        var = 0.5 * c[0, 0]
    return load, min(var, 0.95 * c[0, 0])


def _near_correlation(cov: np.ndarray) -> np.ndarray:
    """The covariance matrix with its correlations shrunk to a positive definite matrix."""
    sd = np.sqrt(np.diag(cov))
    r = np.clip(cov / np.outer(sd, sd), -0.9, 0.9)
    np.fill_diagonal(r, 1.0)
    values, vectors = np.linalg.eigh(r)
    r = (vectors * np.maximum(values, 0.05)) @ vectors.T
    d = np.sqrt(np.diag(r))
    return r / np.outer(d, d) * np.outer(sd, sd)


def _start(model: _Model, sample: _Sample, std_lv: bool) -> np.ndarray:
    """Starting values: heuristic loadings, residual variances half the observed variances
    (as lavaan), factor covariances from unit-weighted composites, intercepts the means."""
    spec = model.spec
    total, count = np.zeros(model.n_free), np.zeros(model.n_free)
    fac, ind = spec.factors, spec.indicators
    m1, m2, n_high = len(fac), len(model.xi), len(spec.higher)
    for g in range(model.n_groups):
        s = sample.cov[g]
        lam, weights, eta_var = np.zeros((len(ind), m1)), np.zeros((len(ind), m1)), np.zeros(m1)
        for j, members in enumerate(spec.members):
            ii = [ind.index(i) for i in members]
            load, eta_var[j] = _one_factor_start(s[np.ix_(ii, ii)], equal=False)
            lam[ii, j] = load
            weights[ii, j] = 1 / (len(ii) * load)
        eta = weights.T @ s @ weights
        np.fill_diagonal(eta, eta_var)
        eta = _near_correlation(eta)
        gam, psi, xi_var = np.zeros((m1, m2)), np.zeros((m1, m1)), np.zeros(m2)
        vw = np.zeros((m1, m2))
        for h, members in enumerate(spec.higher_members):
            jj = [fac.index(f) for f in members]
            load, xi_var[h] = _one_factor_start(eta[np.ix_(jj, jj)], spec.pair_equal[h])
            gam[jj, h] = load
            vw[jj, h] = 1 / (len(jj) * load)
            for j, lo in zip(jj, load, strict=True):
                psi[j, j] = max(eta[j, j] - lo * lo * xi_var[h], 0.1 * eta[j, j])
        for k, f in enumerate(spec.passthrough, start=n_high):
            j = fac.index(f)
            gam[j, k], vw[j, k], xi_var[k] = 1.0, 1.0, eta[j, j]
        phi = vw.T @ eta @ vw
        np.fill_diagonal(phi, xi_var)
        phi = _near_correlation(phi)
        if std_lv:
            c = np.sqrt(np.where(np.diag(psi) > 0, np.diag(psi), np.diag(gam @ phi @ gam.T)))
            d = np.sqrt(np.diag(phi))
            lam, gam = lam * c, gam * d / c[:, None]
            phi, psi = phi / np.outer(d, d), psi / np.outer(c, c)
        mats = {"lambda": lam, "gamma": gam, "phi": phi, "psi": psi,
                "theta": np.diag(0.5 * np.diag(s)), "nu": sample.mean[g], "kappa": np.zeros(m2)}
        for name, value in mats.items():
            pos, ids = model.free[g][name]
            np.add.at(total, ids, value.reshape(-1)[pos])
            np.add.at(count, ids, 1)
    return total / np.maximum(count, 1)


@dataclass(frozen=True)
class _Estimate:
    theta: np.ndarray
    f: float
    grad_max: float
    iterations: int
    message: str
    info: np.ndarray | None


def _estimate(model: _Model, sample: _Sample, std_lv: bool,
              standard_errors: bool = True) -> _Estimate:
    """L-BFGS-B on F with the analytic gradient, preconditioned by the expected information at
    the starting values, then Fisher-scoring steps to polish the optimum; then, with
    ``standard_errors``, the information matrix at the optimum (``info``; else ``None``)."""
    theta0 = _start(model, sample, std_lv)
    try:
        chol = np.linalg.cholesky(2 * _information(theta0, model, sample))
        transform = linalg.solve_triangular(chol, np.eye(model.n_free), lower=True).T
    except np.linalg.LinAlgError:
        transform = np.diag(np.maximum(np.abs(theta0), 0.1))

    def scaled(z):
        f, grad = _objective(theta0 + transform @ z, model, sample)
        return f, transform.T @ grad

    res = optimize.minimize(scaled, np.zeros(model.n_free), jac=True, method="L-BFGS-B",
                            options={"maxiter": 10_000, "maxcor": 20, "ftol": 1e-15,
                                     "gtol": 1e-10})
    theta, iterations, message = theta0 + transform @ res.x, int(res.nit), str(res.message)
    f, grad = _objective(theta, model, sample)
    info = None
    for _ in range(25):
        if f >= _BAD:
            break
        info = _information(theta, model, sample)
        values = np.linalg.eigvalsh(info)
        if not values.min() > 1e-10 * values.max():
            break  # singular: the model is not (empirically) identified
        step = np.linalg.solve(2 * info, grad)
        t = 1.0
        while t > 1e-3:
            f_new, grad_new = _objective(theta - t * step, model, sample)
            if f_new <= f + 1e-14:
                break
            t /= 2
        else:
            break
        theta, f, grad = theta - t * step, f_new, grad_new
        iterations += 1
        if np.max(np.abs(t * step)) < 1e-11:
            break
    info = None
    if f < _BAD and standard_errors:
        if sample.patterns is None:
            info = _information(theta, model, sample)
        else:
            info = _observed_information(theta, model, sample)
    return _Estimate(theta, f, float(np.max(np.abs(grad / 2), initial=0.0)), iterations,
                     message, info)


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CFAResult:
    """A fitted confirmatory factor model (one group, or several fitted together).

    Attributes
    ----------
    model, second_order : tuple of (factor, indicators)
        The model as fitted; ``second_order`` is empty for a first-order model.
    std_lv : bool
        Whether factors were scaled by fixing their (residual) variances to 1.
    group : str or None
        The grouping column of a multi-group fit (``None`` for one group), with ``groups``
        its levels (first = reference) and ``n_by_group`` the rows used in each.
    n_used, n_total : int
        Rows used and rows given. Listwise: rows complete on every indicator; FIML: rows with
        at least one indicator observed (and, in a multi-group fit, the group).
    nan_policy : {"listwise", "fiml"}
        How missing values were treated.
    converged : bool
        Whether the optimiser ended at a point where the gradient vanishes, by lavaan's check
        (every element of the gradient of F_ML / 2 at most 1e-3 in absolute value), with a
        positive definite implied covariance matrix.
    iterations : int
        L-BFGS-B iterations plus Fisher-scoring polishing steps.
    n_parameters : int
        Free parameters (equality-constrained parameters counted once).
    chi_square, df, p_value : float, int, float
        The likelihood-ratio test against the unrestricted model (lavaan's "Model Test User
        Model"); ``p_value`` is NaN when ``df`` is 0.
    baseline_chi_square, baseline_df : float, int
        The same test for the independence model.
    cfi, tli, rmsea, rmsea_ci_low, rmsea_ci_high, rmsea_p_close, srmr : float
        Fit indices; ``rmsea_p_close`` tests H0: RMSEA <= 0.05.
    loglik, aic, bic : float
        Log-likelihood of the model and the information criteria (lavaan's ``logl``, ``aic``,
        ``bic``).
    parameters : pandas.DataFrame
        One row per parameter, like lavaan's ``parameterEstimates(fit, standardized = TRUE)``:
        ``lhs, op, rhs, group, free`` (0 = fixed; parameters sharing a number are constrained
        equal), ``estimate, se, z, p_value, ci_low, ci_high`` (95 % Wald) and ``std_all``.
        With a mean structure (FIML, or a multi-group fit) the intercepts are ``x ~1`` rows
        and the latent means ``f ~1`` rows.
    reason : str or None
        Why the model could not be fitted or did not converge (then every figure, estimates
        included, is NaN), or ``None``.
    notes : tuple of str
        Things a reader should know: improper solutions, identification constraints added,
        standard errors that could not be computed.
    """

    model: tuple[tuple[str, tuple[str, ...]], ...]
    second_order: tuple[tuple[str, tuple[str, ...]], ...]
    std_lv: bool
    group: str | None
    groups: tuple[str, ...]
    n_by_group: tuple[int, ...]
    n_used: int
    n_total: int
    nan_policy: str
    converged: bool
    iterations: int
    n_parameters: int
    chi_square: float
    df: int
    p_value: float
    baseline_chi_square: float
    baseline_df: int
    cfi: float
    tli: float
    rmsea: float
    rmsea_ci_low: float
    rmsea_ci_high: float
    rmsea_p_close: float
    srmr: float
    loglik: float
    aic: float
    bic: float
    parameters: pd.DataFrame
    reason: str | None
    notes: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """The fit in one row: sample sizes, convergence, test statistics and fit indices."""
        return pd.DataFrame([{c: getattr(self, c) for c in _FIT_COLUMNS}])

    def _rows(self, op: str, left: Sequence[str], right: Sequence[str] | None = None):
        p = self.parameters
        mask = (p["op"] == op) & p["lhs"].isin(left)
        if right is not None:
            mask &= p["rhs"].isin(right)
        return p[mask].reset_index(drop=True)

    @property
    def loadings(self) -> pd.DataFrame:
        """First-order loadings (``factor =~ indicator`` rows of :attr:`parameters`)."""
        return self._rows("=~", [f for f, _ in self.model])

    @property
    def factor_covariances(self) -> pd.DataFrame:
        """Variances and covariances of the latent variables (``std_all`` = correlations)."""
        latent = [f for f, _ in self.model] + [h for h, _ in self.second_order]
        return self._rows("~~", latent, latent)

    @property
    def residual_variances(self) -> pd.DataFrame:
        """Residual variances of the indicators (``std_all`` = share not explained)."""
        indicators = list(dict.fromkeys(i for _, members in self.model for i in members))
        return self._rows("~~", indicators)


def _ncx2_cdf(x: float, df: float, nc: float) -> float:
    return float(stats.chi2.cdf(x, df) if nc <= 0 else stats.ncx2.cdf(x, df, nc))


def _fit_indices(chi2: float, df: int, chi2_b: float, df_b: int, n: float,
                 n_groups: int) -> dict[str, float]:
    """CFI, TLI, RMSEA (with its 90 % interval and close-fit test) as lavaan computes them."""
    out = {"p_value": float(stats.chi2.sf(chi2, df)) if df > 0 else math.nan}
    t1, t2 = max(chi2 - df, 0.0), max(chi2 - df, chi2_b - df_b, 0.0)
    out["cfi"] = 1.0 if math.isclose(t2, 0.0, abs_tol=1e-12) else 1 - t1 / t2
    t2_tli = (chi2_b - df_b) * df
    out["tli"] = 1 - (chi2 - df) * df_b / t2_tli if df > 0 and t2_tli != 0 else 1.0
    root_g = math.sqrt(n_groups)
    if df > 0:
        out["rmsea"] = math.sqrt(max(chi2 / n / df - 1 / n, 0.0)) * root_g
        out["rmsea_p_close"] = 1 - _ncx2_cdf(chi2, df, n * df * 0.05**2 / n_groups)
    else:
        out["rmsea"], out["rmsea_p_close"] = 0.0, math.nan
    low = high = 0.0
    if df >= 1 and _ncx2_cdf(chi2, df, 0) >= 0.95:
        lam = optimize.brentq(lambda nc: _ncx2_cdf(chi2, df, nc) - 0.95, 0, chi2)
        low = math.sqrt(lam / (n * df)) * root_g
    top = max(n, 4 * chi2)
    if df >= 1 and _ncx2_cdf(chi2, df, top) <= 0.05 and _ncx2_cdf(chi2, df, 0) >= 0.05:
        lam = optimize.brentq(lambda nc: _ncx2_cdf(chi2, df, nc) - 0.05, 0, top)
        high = math.sqrt(lam / (n * df)) * root_g
    out["rmsea_ci_low"], out["rmsea_ci_high"] = low, high
    return out


def _standardised(model: _Model, g: int, m: dict, eta_cov: np.ndarray,
                  sigma: np.ndarray, name: str, pos: tuple[int, ...]) -> float:
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_ov, sd_eta = np.sqrt(np.diag(sigma)), np.sqrt(np.diag(eta_cov))
        sd_xi = np.sqrt(np.diag(m["phi"]))
        value = m[name][pos]
        if name == "lambda":
            return float(value * sd_eta[pos[1]] / sd_ov[pos[0]])
        if name == "gamma":
            return float(value * sd_xi[pos[1]] / sd_eta[pos[0]])
        if name == "phi":
            return float(value / (sd_xi[pos[0]] * sd_xi[pos[1]]))
        if name == "psi":
            return float(value / sd_eta[pos[0]] ** 2)
        if name == "theta":
            return float(value / sd_ov[pos[0]] ** 2)
        if name == "nu":
            return float(value / sd_ov[pos[0]])
        return float(value / sd_xi[pos[0]])


def _parameter_table(model: _Model, theta: np.ndarray, vcov: np.ndarray | None,
                     labels: Sequence[str] | None) -> pd.DataFrame:
    se_all = np.sqrt(np.diag(vcov)) if vcov is not None else np.full(model.n_free, np.nan)
    implied = [model.implied(theta, g) for g in range(model.n_groups)]
    rows = []
    for g, name, pos, lhs, op, rhs in model.rows:
        m, eta_cov, sigma, _ = implied[g]
        idx = model.index[g][name][pos]
        se = se_all[idx] if idx >= 0 else math.nan
        est = float(m[name][pos])
        z = est / se if idx >= 0 and se > 0 else math.nan
        rows.append({
            "lhs": lhs, "op": op, "rhs": rhs, "group": labels[g] if labels else None,
            "free": int(idx + 1), "estimate": est, "se": se, "z": z,
            "p_value": 2 * stats.norm.sf(abs(z)) if z == z else math.nan,
            "ci_low": est - _Z975 * se if idx >= 0 else est,
            "ci_high": est + _Z975 * se if idx >= 0 else est,
            "std_all": _standardised(model, g, m, eta_cov, sigma, name, pos),
        })
    return pd.DataFrame(rows)


def _notes(model: _Model, table: pd.DataFrame, vcov_ok: bool) -> list[str]:
    spec, notes = model.spec, []
    for h, members in enumerate(spec.higher_members):
        if len(members) == 2:
            if spec.pair_equal[h]:
                notes.append(
                    f"second-order factor {spec.higher[h]!r} has two first-order factors and "
                    "nothing else to covary with: its two loadings are constrained equal to "
                    "identify it (both fixed at 1, or one free value with std_lv)"
                )
            else:
                notes.append(
                    f"second-order factor {spec.higher[h]!r} has two first-order factors: its "
                    "loadings are identified only through its covariances with the other "
                    "latent variables"
                )
    variances = table[(table["op"] == "~~") & (table["lhs"] == table["rhs"])]
    negative = variances[variances["estimate"] < 0]
    if len(negative):
        names = ", ".join(dict.fromkeys(negative["lhs"]))
        notes.append(f"improper solution (Heywood case): negative variance for {names}")
    if not vcov_ok:
        notes.append(
            "standard errors could not be computed: the information matrix is singular, "
            "which suggests the model is not identified"
        )
    return notes


def _fit_model(model: _Model, sample: _Sample | None, *, reason: str | None, n_used: int,
               n_total: int, std_lv: bool, nan_policy: str = "listwise",
               group: str | None = None, labels: Sequence[str] = (),
               n_by_group: tuple[int, ...] = (), standard_errors: bool = True) -> CFAResult:
    """Estimate ``model`` on ``sample`` and assemble the result (all NaN with ``reason``;
    without ``standard_errors``, NaN standard errors, intervals, z and p)."""
    spec = model.spec
    p, n_groups = len(spec.indicators), model.n_groups
    df = model.n_moments - model.n_free
    nan = math.nan
    measures: dict[str, Any] = {k: nan for k in _FIT_COLUMNS}
    measures.update(df=df, baseline_df=n_groups * p * (p - 1) // 2, n_parameters=model.n_free,
                    converged=False, iterations=0)
    theta, vcov, notes = np.full(model.n_free, nan), None, []
    if sample is not None:
        n = float(sample.n.sum())
        with fiml.single_threaded_blas() if sample.patterns else contextlib.nullcontext():
            est = _estimate(model, sample, std_lv, standard_errors)
        theta = est.theta
        converged = est.f < _BAD and est.grad_max < _GRAD_TOL
        measures.update(converged=converged, iterations=est.iterations)
        if not converged:
            theta = np.full(model.n_free, nan)
            reason = (
                "the optimiser did not converge (largest gradient "
                f"{est.grad_max:.2g}; {est.message})" if est.f < _BAD else
                "the optimiser did not find a positive definite implied covariance matrix"
            )
        else:
            chi2 = max(n * est.f, 0.0)
            loglik_h1 = float(sum(sample.loglik_h1))
            chi2_b = max(2 * (loglik_h1 - float(sum(sample.loglik_baseline))), 0.0)
            measures.update(chi_square=chi2, baseline_chi_square=chi2_b)
            measures.update(_fit_indices(chi2, df, chi2_b, measures["baseline_df"], n, n_groups))
            loglik = loglik_h1 - chi2 / 2
            measures.update(loglik=loglik, aic=-2 * loglik + 2 * model.n_free,
                            bic=-2 * loglik + math.log(n) * model.n_free)
            measures["srmr"] = _srmr(model, theta, sample)
            if est.info is not None:
                try:
                    values = np.linalg.eigvalsh(est.info)
                    if values.min() > 1e-10 * max(values.max(), 1e-300):
                        vcov = np.linalg.inv(n * est.info)
                except np.linalg.LinAlgError:
                    vcov = None
    measures["reason"] = reason
    table = _parameter_table(model, theta, vcov, list(labels) if group else None)
    if measures["converged"]:
        notes = _notes(model, table, vcov is not None or not standard_errors)
    if df == 0 and measures["converged"]:
        notes.append("the model is just-identified (df = 0): it fits exactly by construction")
    if nan_policy == "fiml" and n_used < n_total:
        notes.append(
            f"{n_total - n_used} row{'s' if n_total - n_used > 1 else ''} with no indicator "
            "observed (or no group) left out"
        )
    if sample is not None:
        notes.extend(sample.notes)
    measures["nan_policy"] = nan_policy
    return CFAResult(
        model=tuple(zip(spec.factors, spec.members, strict=True)),
        second_order=tuple(zip(spec.higher, spec.higher_members, strict=True)),
        std_lv=std_lv, group=group, groups=tuple(labels) if group else (),
        n_by_group=n_by_group, n_used=n_used, n_total=n_total,
        parameters=table, notes=tuple(notes),
        **{k: measures[k] for k in _FIT_COLUMNS if k not in ("n_used", "n_total")},
    )


def _srmr(model: _Model, theta: np.ndarray, sample: _Sample) -> float:
    """Bentler's SRMR, averaged over groups with weights N_g / N (lavaan's ``srmr``)."""
    total = 0.0
    for g, w in enumerate(sample.weights):
        _, _, sigma, mu = model.implied(theta, g)
        sd = np.sqrt(np.diag(sample.cov[g]))
        r = (sample.cov[g] - sigma) / np.outer(sd, sd)
        resid = list(r[np.tril_indices(len(r))])
        if model.meanstructure:
            resid += list((sample.mean[g] - mu) / sd)
        total += w * math.sqrt(np.mean(np.square(resid)))
    return total


# --- the public function --------------------------------------------------------------------


def cfa(
    data: pd.DataFrame,
    model: Mapping[str, Sequence[str]],
    *,
    second_order: Mapping[str, Sequence[str]] | None = None,
    nan_policy: CfaNanPolicy = "listwise",
    std_lv: bool = False,
    standard_errors: bool = True,
) -> CFAResult:
    """Confirmatory factor analysis by maximum likelihood, as lavaan's ``cfa()`` fits it.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, one numeric column per indicator (other columns are ignored).
    model : mapping of str to list of str
        ``{factor: [indicators]}``; every factor needs at least 2 indicators (3 if it is the
        only factor). An indicator may load on several factors. Factors covary freely.
    second_order : mapping of str to list of str, optional
        ``{higher_factor: [first-order factors]}``: the first-order factors' covariances are
        explained by the higher factors' loadings and covariances plus a disturbance per
        first-order factor. First-order factors under no higher factor covary freely with the
        higher factors. A higher factor with two first-order factors is identified through its
        covariances with the other latent variables; if it is the only higher factor and
        every first-order factor is under it, its two loadings are constrained equal (both
        fixed at 1; with ``std_lv`` one free value), the usual way to identify it.
    nan_policy : {"listwise", "fiml"}
        ``"listwise"`` (default, lavaan's default): rows missing any indicator are left out
        (counted in ``n_total - n_used``). ``"fiml"``: full-information ML, lavaan's
        ``missing = "ml"``: every observed value is used, under the assumption that values are
        missing at random; only rows with no indicator observed are left out. The model then
        has a mean structure (free intercepts, latent means 0), and standard errors come from
        the observed information. Pairwise deletion is not offered: pairwise covariances have
        no proper likelihood.
    std_lv : bool
        ``False`` (lavaan's default): each factor is scaled by fixing its first loading to 1.
        ``True``: by fixing the factor's variance (a first-order factor's disturbance variance
        in a second-order model) to 1, with every loading free. The fit is the same.
    standard_errors : bool
        ``True`` (default): standard errors, z, p and intervals of every parameter. ``False``
        skips the information matrix they need - under FIML the costliest step of a fit (a
        forward difference of the gradient per free parameter) - and leaves those columns
        NaN; estimates, ``std_all`` and every fit index are the same.

    Returns
    -------
    CFAResult
        Fit statistics, parameter estimates with standard errors and ``std_all`` estimates.
        When the model cannot be fitted (too few complete rows, a singular covariance matrix,
        no convergence), the figures are NaN and ``reason`` says why; no exception is raised.

    Raises
    ------
    ParameterError
        The model is malformed: an unknown column, a non-numeric indicator, a factor with
        fewer than 2 indicators, a name used twice, more free parameters than moments.

    Notes
    -----
    With S the sample covariance matrix (divisor N) and Sigma the model-implied one,

    .. math:: F_{ML} = \\log|\\Sigma| + \\operatorname{tr}(S\\Sigma^{-1}) - \\log|S| - p,
              \\qquad \\chi^2 = N F_{ML},

    with ``df = p(p + 1)/2 - q`` (q free parameters). The baseline (independence) model has
    ``chi2_0 = N (sum log s_ii - log|S|)`` on ``p(p - 1)/2`` df. Then

    * CFI = 1 - max(chi2 - df, 0) / max(chi2 - df, chi2_0 - df_0, 0);
    * TLI = 1 - (chi2 - df) df_0 / ((chi2_0 - df_0) df);
    * RMSEA = sqrt(max(chi2 - df, 0) / (df N)); its 90 % interval inverts the noncentral
      chi-square distribution function at 0.95 and 0.05 for the noncentrality lambda, and
      RMSEA_low/high = sqrt(lambda / (df N)) (Browne & Cudeck 1993);
    * SRMR = sqrt(mean over i >= j of ((s_ij - sigma_ij) / sqrt(s_ii s_jj))^2);
    * loglik = -N/2 (p log 2 pi + log|Sigma| + tr(S Sigma^-1)), AIC = -2 loglik + 2q,
      BIC = -2 loglik + q log N.

    Standard errors come from the expected information matrix; ``std_all`` divides each
    estimate by the model-implied standard deviations of the variables it links. The
    optimiser is L-BFGS-B with the analytic gradient, polished by Fisher scoring.

    **Full-information ML** (``nan_policy="fiml"``) follows lavaan's ``missing = "ml"``. For
    the rows with missing-data pattern p (N_p rows, observed indicators o_p, k_p of them;
    m_p, S_p the pattern's means and covariance matrix, divisor N_p),

    .. math:: -2\\log L = \\sum_p N_p \\big(k_p \\log 2\\pi + \\log|\\Sigma_p|
              + \\operatorname{tr}(\\Sigma_p^{-1} S_p) + (m_p - \\mu_p)'\\Sigma_p^{-1}
              (m_p - \\mu_p)\\big),

    with Sigma_p, mu_p the o_p rows and columns of the implied Sigma and mu = nu + Lambda
    kappa (intercepts nu free, latent means kappa = 0). The unrestricted model H1 has a free
    mean vector and covariance matrix, estimated by EM (lavaan's
    ``lav_mvnorm_missing_h1_estimate_moments``); F = 2 (log L_H1 - log L) / N, chi2 = N F =
    2 (log L_H1 - log L), and the gradient is the complete-data one with S + (m - mu)(m - mu)'
    replaced pattern by pattern. The baseline is the independence model fitted by FIML, whose
    estimates are each indicator's available-case mean and variance:
    chi2_0 = 2 (log L_H1 - log L_0). df and the fit indices are computed from these as above
    (RMSEA with N, the rows used). SRMR compares the model-implied moments with the EM
    estimates of H1 and, as lavaan's with a mean structure, includes the standardised mean
    residuals: SRMR = sqrt((sum over i >= j of r_ij^2 + sum_i ((m_i - mu_i)/sqrt(s_ii))^2) /
    (p(p + 1)/2 + p)). On complete data everything equals the listwise fit except that SRMR is
    smaller by the factor sqrt(p(p + 1)/2 / (p(p + 1)/2 + p)) (the mean residuals are zero but
    counted), AIC and BIC count the p intercepts, and the standard errors come from the
    observed information (half the Hessian of F, by forward differences of the analytic
    gradient), lavaan's default with ``missing = "ml"``. EM starts, as lavaan's, from the
    available-case means and variances but runs until no moment moves by more than 1e-10
    (relative to the standard deviations); lavaan stops once the largest absolute change is
    below 1e-5 (or after 500 iterations), so its chi-square can be smaller in the later
    decimals.

    References
    ----------
    Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. Journal of
    Statistical Software 48(2), 1-36. doi:10.18637/jss.v048.i02

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from collab_stats.cfa import cfa
    >>> rng = np.random.default_rng(1)
    >>> factors = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=500)
    >>> items = np.repeat(factors, 3, axis=1) * 0.8 + rng.normal(scale=0.6, size=(500, 6))
    >>> data = pd.DataFrame(items, columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    >>> fit = cfa(data, {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]})
    >>> fit.converged, fit.df, fit.n_used
    (True, 8, 500)
    >>> correlation = fit.factor_covariances.query("lhs != rhs")["std_all"].item()
    >>> round(correlation, 2)
    0.46

    With 20 % of the answers missing, listwise deletion keeps about a quarter of the rows;
    full-information ML uses every answer:

    >>> holes = data.mask(rng.random(data.shape) < 0.2)
    >>> listwise = cfa(holes, {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]})
    >>> full = cfa(holes, {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]},
    ...            nan_policy="fiml")
    >>> listwise.n_used, full.n_used, full.df, full.converged
    (141, 500, 8, True)

    The same model in lavaan::

        cfa("A =~ a1 + a2 + a3
             B =~ b1 + b2 + b3", data = data)

    ``nan_policy="fiml"`` is lavaan's ``missing = "ml"``::

        cfa("A =~ a1 + a2 + a3
             B =~ b1 + b2 + b3", data = data, missing = "ml")

    ``std_lv=True`` is lavaan's ``std.lv = TRUE``; ``second_order={"G": ["A", "B", "C"]}`` adds
    the line ``G =~ A + B + C`` to the model syntax (and a higher factor over exactly two
    first-order factors, alone in the model, is written ``G =~ 1*A + 1*B``, or
    ``G =~ a*A + a*B`` with ``std.lv = TRUE``).
    """
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    _check_nan_policy(nan_policy)
    if not isinstance(std_lv, bool):
        raise ParameterError(f"std_lv must be True or False; got {std_lv!r}")
    if not isinstance(standard_errors, bool):
        raise ParameterError(f"standard_errors must be True or False; got {standard_errors!r}")
    spec = _parse_model(list(data.columns), model, second_order)
    x = _numeric(data, spec.indicators)
    fitted = _Model(spec, std_lv=std_lv, meanstructure=nan_policy == "fiml")
    if fitted.n_free > fitted.n_moments:
        raise ParameterError(
            f"model has {fitted.n_free} free parameters but the {len(spec.indicators)} "
            f"indicators give only {fitted.n_moments} variances and covariances: it is not "
            "identified (add indicators)"
        )
    if nan_policy == "fiml":
        x = x[~np.isnan(x).all(axis=1)]
        sample, reason = _fiml_sample(x, np.zeros(len(x)), [0], spec.indicators)
    else:
        x = x[~np.isnan(x).any(axis=1)]
        sample, reason = _sample(x, np.zeros(len(x)), [0], spec.indicators)
    return _fit_model(fitted, sample, reason=reason, n_used=len(x), n_total=len(data),
                      std_lv=std_lv, nan_policy=nan_policy, standard_errors=standard_errors)


def _check_nan_policy(nan_policy: Any) -> None:
    if nan_policy == "pairwise":
        raise ParameterError(
            "nan_policy must be 'listwise' or 'fiml' for factor models (pairwise covariances "
            "have no proper likelihood; 'fiml' uses every observed value); got 'pairwise'"
        )
    check_option("nan_policy", nan_policy, CFA_NAN_POLICIES)
