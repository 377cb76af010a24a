"""Full-information maximum likelihood for multivariate normal data with missing values.

The pieces :mod:`collab_stats.cfa` needs to fit a model to incomplete data as lavaan's
``missing = "ml"`` does: the rows of a group arranged by missing-data pattern
(:func:`arrange`), the observed-data log-likelihood of a mean vector and covariance matrix with
its derivatives (:func:`pattern_terms`), the unrestricted (saturated, "H1") moments by the EM
algorithm (:func:`em_moments`, lavaan's ``lav_mvnorm_missing_h1_estimate_moments``) and the
independence (baseline) model, whose FIML estimates are each variable's available-case mean
and variance (:func:`independence_loglik`).

For a pattern p with N_p rows, observed variables o_p, pattern means m_p and covariance matrix
S_p (divisor N_p) of the observed values, the observed-data log-likelihood is

.. math:: \\log L = -\\tfrac12 \\sum_p N_p \\big( k_p \\log 2\\pi + \\log|\\Sigma_p|
          + \\operatorname{tr}(\\Sigma_p^{-1} S_p) + (m_p - \\mu_p)'\\Sigma_p^{-1}(m_p - \\mu_p)
          \\big),

with Sigma_p, mu_p the rows and columns o_p of Sigma and mu and k_p = |o_p|. Each pattern
costs a few small matrix operations whatever its number of rows: the data enter only through
m_p and a square root of N_p S_p (at most k_p rows). Sigma_p^-1 is computed from the
inverse K of the full Sigma by the block-inverse identity
Sigma_p^-1 = K_oo - K_om K_mm^-1 K_mo when fewer variables are missing than observed (so only
a matrix of the size of the missing block is inverted), and directly otherwise. Patterns whose
inverted blocks are of similar size are padded to a common size and processed together, in
one batched operation per size.

Nothing here is public: :func:`collab_stats.cfa.cfa` and
:func:`collab_stats.invariance.measurement_invariance` take ``nan_policy="fiml"``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_limits

__all__: list[str] = []

_LOG_2PI = math.log(2 * math.pi)


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread while FIML runs: its many small matrix products cost more
    to share between threads than they save (three to four times slower on two cores)."""
    return threadpool_limits(limits=1, user_api="blas")


#: Sizes of the blocks patterns are padded to: a pattern whose inverted block has k variables
#: joins the block of the smallest size >= k, so that few batched operations cover them all.
_SIZES = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


@dataclass(frozen=True)
class _Block:
    """Patterns processed together: ``index`` holds, per pattern, the observed variables
    (``direct``: Sigma_oo is inverted) or the missing ones (otherwise: K_mm is inverted),
    padded to a common size with distinct dummy variables (indices >= p) whose rows and
    columns are those of an identity matrix, so that they change neither inverse nor
    determinant."""

    direct: bool
    patterns: slice
    rows: slice  # of Patterns.rows
    owner: np.ndarray  # (R_b,) pattern (within the block) of each row
    index: np.ndarray  # (B, k)
    flat: np.ndarray  # (B * k * k,) positions of the k x k blocks in a flattened width^2 array


@dataclass(frozen=True)
class Patterns:
    """The rows of one group arranged by missing-data pattern (rows with no value excluded).

    ``means`` are the pattern means of the observed values and ``roots`` rows whose
    cross-product is N_p S_p for their pattern (both 0 where missing). ``rows`` stacks, block
    by block, each pattern's mean followed by its roots, with ``width - p`` zero columns for
    the dummy variables; ``seen`` is the pattern of each row's pattern, ``is_mean`` marks the
    mean rows (from which mu is subtracted) and ``weight`` is N_p for a mean row and 1 for a
    root, so that for the rows r of pattern p, sum weight r r' = N_p (S_p + d_p d_p') with
    d_p = m_p - mu.
    """

    n: int
    p: int
    width: int
    observed: np.ndarray  # (P, p) float 0/1
    counts: np.ndarray  # (P,) rows per pattern
    means: np.ndarray  # (P, p)
    roots: np.ndarray  # (R, p)
    rows: np.ndarray  # (P + R, width)
    seen: np.ndarray  # (P + R, p) float 0/1
    is_mean: np.ndarray  # (P + R,) bool
    weight: np.ndarray  # (P + R,)
    blocks: tuple[_Block, ...]
    log_2pi: float  # sum_p N_p k_p log(2 pi)
    n_complete: int  # rows observed on every variable

    @property
    def n_patterns(self) -> int:
        return len(self.counts)


def arrange(x: np.ndarray) -> Patterns:
    """Group the rows of ``x`` (n x p, NaN = missing, no all-NaN row) by missing-data pattern."""
    n, p = x.shape
    seen = ~np.isnan(x)
    keys, row_pattern, counts = np.unique(seen, axis=0, return_inverse=True,
                                          return_counts=True)
    row_pattern = row_pattern.ravel()
    k_obs = keys.sum(axis=1)
    direct = p - k_obs > k_obs
    size = np.where(direct, k_obs, p - k_obs)
    grid = np.array([*_SIZES, np.iinfo(int).max])
    padded = np.where(size > _SIZES[-1], size, grid[np.searchsorted(grid, size)])
    order = np.lexsort((size, padded, direct))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keys, counts, direct, size, padded = (
        keys[order], counts[order], direct[order], size[order], padded[order])
    row_pattern = rank[row_pattern]
    width = p + int(np.max(padded - size))

    filled = np.where(seen, x, 0.0)
    sums = np.zeros((len(keys), p))
    np.add.at(sums, row_pattern, filled)
    means = sums / counts[:, None]
    by_pattern = np.argsort(row_pattern, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    roots: list[np.ndarray] = []
    for k in range(len(keys)):
        obs = keys[k]
        y = filled[by_pattern[starts[k]:starts[k + 1]]][:, obs] - means[k, obs]
        if counts[k] == 1:
            y = y[:0]  # one row: S_p = 0
        elif len(y) > obs.sum():
            y = linalg.qr(y, mode="r", check_finite=False)[0][: obs.sum()]
        root = np.zeros((len(y), p))
        root[:, obs] = y
        roots.append(root)

    rows, seen_rows, is_mean, weight, blocks = [], [], [], [], []
    at, start = 0, 0
    for stop in [*np.flatnonzero(np.diff(padded) | np.diff(direct)) + 1, len(keys)]:
        owner = []
        for k in range(start, stop):
            rows += [means[k], *roots[k]]
            seen_rows += [keys[k]] * (1 + len(roots[k]))
            is_mean += [True] + [False] * len(roots[k])
            weight += [counts[k]] + [1.0] * len(roots[k])
            owner += [k - start] * (1 + len(roots[k]))
        k_pad = int(padded[start])
        index = np.empty((stop - start, k_pad), int)
        for k in range(start, stop):
            chosen = np.flatnonzero(keys[k] if direct[k] else ~keys[k])
            index[k - start] = np.concatenate([chosen, p + np.arange(k_pad - len(chosen))])
        flat = (index[:, :, None] * width + index[:, None, :]).ravel()
        blocks.append(_Block(bool(direct[start]), slice(start, stop),
                             slice(at, at + len(owner)), np.array(owner, int), index, flat))
        at += len(owner)
        start = stop
    pad = np.zeros((len(rows), width - p))
    return Patterns(
        n=n, p=p, width=width, observed=keys.astype(float), counts=counts.astype(float),
        means=means, roots=np.concatenate(roots), rows=np.hstack([np.array(rows), pad]),
        seen=np.array(seen_rows, float), is_mean=np.array(is_mean, bool),
        weight=np.array(weight, float),
        blocks=tuple(blocks), log_2pi=float(counts @ k_obs[order]) * _LOG_2PI,
        n_complete=int(counts[keys.all(axis=1)].sum()),
    )


def pattern_terms(sigma: np.ndarray, mu: np.ndarray, pat: Patterns, *, gradient: bool = True):
    """-2 log L (without the 2 pi terms) at (mu, Sigma) and, with ``gradient``, its derivatives.

    Returns ``f`` or ``(f, w, g_mu)`` with ``w = sum_p N_p [Sigma_p^-1 - Sigma_p^-1 (S_p +
    d_p d_p') Sigma_p^-1]`` embedded in p x p (d_p = m_p - mu_p), the derivative of f with
    respect to Sigma taken entry by entry as if its entries were free, and
    ``g_mu = -2 sum_p N_p Sigma_p^-1 d_p``, the derivative with respect to mu. Raises
    :class:`numpy.linalg.LinAlgError` if Sigma is not positive definite.
    """
    p, width = pat.p, pat.width
    chol = linalg.cholesky(sigma, lower=True, check_finite=False)
    logdet_full = 2 * np.log(np.diag(chol)).sum()
    big = np.eye(width)
    big[:p, :p] = sigma
    k_inv = np.eye(width)
    k_inv[:p, :p] = linalg.cho_solve((chol, True), np.eye(p), check_finite=False)
    x = pat.rows.copy()
    x[pat.is_mean, :p] -= pat.seen[pat.is_mean] * mu
    z = np.empty_like(x)
    f = 0.0
    sum_e = np.zeros(width * width)  # sum_p N_p Sigma_p^-1 over the patterns inverted directly
    omega = np.zeros(width * width)  # sum_p N_p K_mm^-1 over the others
    n_down = 0.0
    for b in pat.blocks:
        counts, x_b, index = pat.counts[b.patterns], x[b.rows], b.index
        owner = b.owner
        if b.direct:
            inv = np.linalg.inv(big[index[:, :, None], index[:, None, :]])
            logdet = -np.linalg.slogdet(inv)[1]
            picked = np.take_along_axis(x_b, index[owner], axis=1)
            z_b = np.zeros_like(x_b)
            np.put_along_axis(z_b, index[owner],
                              np.matmul(inv[owner], picked[:, :, None])[:, :, 0], axis=1)
            z[b.rows] = z_b
            if gradient:
                sum_e += np.bincount(b.flat, (counts[:, None, None] * inv).ravel(),
                                     minlength=width * width)
        else:
            n_down += counts.sum()
            t = x_b @ k_inv
            if index.shape[1] == 0:
                logdet = np.full(len(counts), logdet_full)
                z[b.rows] = t
            else:
                block = k_inv[index[:, :, None], index[:, None, :]]
                inv = np.linalg.inv(block)
                logdet = logdet_full - np.linalg.slogdet(inv)[1]
                c = np.matmul(inv[owner], np.take_along_axis(t, index[owner], axis=1)[:, :, None])
                z[b.rows] = t - np.matmul(c[:, :, 0][:, None, :], k_inv[index[owner]])[:, 0]
                if gradient:
                    omega += np.bincount(b.flat, (counts[:, None, None] * inv).ravel(),
                                         minlength=width * width)
        f += counts @ logdet
    z = z[:, :p] * pat.seen  # exact zeros where missing
    f += float(np.sum(pat.weight[:, None] * x[:, :p] * z))
    if not gradient:
        return f
    k_p = k_inv[:p, :p]
    omega_m = omega.reshape(width, width)[:p, :p]
    w = sum_e.reshape(width, width)[:p, :p] + n_down * k_p - k_p @ omega_m @ k_p
    w -= (z.T * pat.weight) @ z
    g_mu = -2 * (pat.weight * pat.is_mean) @ z
    return f, (w + w.T) / 2, g_mu


@dataclass(frozen=True)
class EMResult:
    mean: np.ndarray
    cov: np.ndarray
    f: float  # -2 log L without the 2 pi terms
    iterations: int
    converged: bool


def em_moments(pat: Patterns, *, tol: float = 1e-10, max_iter: int = 10_000) -> EMResult:
    """ML estimates of the mean vector and covariance matrix from incomplete data, by EM.

    Starts from the available-case means and variances (covariances 0). Each iteration takes
    the expected complete-data sufficient statistics given the observed values (E step) and
    their moments (M step); with the quantities of :func:`pattern_terms` this is
    ``mu' = mu + Sigma g / N`` and ``Sigma' = Sigma - Sigma (w / N) Sigma - delta delta'``
    (g = -g_mu / 2, delta = mu' - mu). Stops when no mean moves by more than ``tol`` standard
    deviations and no covariance by more than ``tol`` times the product of the standard
    deviations.
    """
    n = pat.n
    mean, var = available_moments(pat)[1:]
    cov = np.diag(var)
    converged, iterations = False, 0
    for iterations in range(1, max_iter + 1):  # noqa: B007
        _, w, g_mu = pattern_terms(cov, mean, pat)
        delta = cov @ (-g_mu / (2 * n))
        new_cov = cov - cov @ (w / n) @ cov - np.outer(delta, delta)
        new_cov = (new_cov + new_cov.T) / 2
        sd = np.sqrt(np.diag(new_cov))
        step = max(np.max(np.abs(delta) / sd),
                   np.max(np.abs(new_cov - cov) / np.outer(sd, sd)))
        mean, cov = mean + delta, new_cov
        if step < tol:
            converged = True
            break
    f = pattern_terms(cov, mean, pat, gradient=False)
    return EMResult(mean, cov, float(f), iterations, converged)


def available_moments(pat: Patterns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each variable's number of observed values n_j, available-case mean and variance
    (divisor n_j)."""
    seen = pat.counts @ pat.observed
    mean = (pat.counts @ pat.means) / np.maximum(seen, 1)
    centred = (pat.means - mean) * pat.observed
    var = (pat.counts @ centred**2 + (pat.roots**2).sum(axis=0)) / np.maximum(seen, 1)
    return seen, mean, var


def independence_loglik(pat: Patterns) -> float:
    """Log-likelihood of the independence model (free means and variances, no covariances).

    Its likelihood factors over variables, so the FIML estimates are each variable's
    available-case mean and variance v_j (divisor: its number of observed values n_j), and
    log L = -1/2 sum_j n_j (log 2 pi + log v_j + 1).
    """
    seen, _, var = available_moments(pat)
    return float(-0.5 * np.sum(seen * (_LOG_2PI + np.log(var) + 1)))


def coverage(pat: Patterns) -> np.ndarray:
    """Rows observed on both variables of each pair (lavaan's ``coverage`` times N)."""
    return (pat.observed.T * pat.counts) @ pat.observed


@dataclass(frozen=True)
class Unrestricted:
    """One group's rows by pattern, the EM estimates of its unrestricted (H1) moments, and
    the log-likelihoods of H1 and of the independence model."""

    patterns: Patterns
    em: EMResult
    logdet: float
    loglik: float
    loglik_baseline: float


def unrestricted(x: np.ndarray, columns: Sequence[str],
                 where: str = "") -> tuple[Unrestricted | None, str | None]:
    """Arrange one group's rows (no all-missing row) and fit H1 by EM, or say why not."""
    n, p = x.shape
    if n <= p:
        return None, (
            f"only {n} rows with any answer{where} for {p} indicators: the unrestricted "
            f"covariance matrix is singular (at least {p + 1} rows are needed)"
        )
    pat = arrange(x)
    seen, _, var = available_moments(pat)
    few = [c for c, k in zip(columns, seen, strict=True) if k < 2]
    if few:
        return None, f"indicator {few[0]!r} has fewer than 2 observed values{where}"
    constant = [c for c, v in zip(columns, var, strict=True) if v <= 0]
    if constant:
        return None, f"indicator {constant[0]!r} has no variance{where}"
    together = coverage(pat)
    if together.min() < 1:
        i, j = np.unravel_index(np.argmin(together), together.shape)
        return None, (
            f"indicators {columns[i]!r} and {columns[j]!r} are never observed together"
            f"{where}: their covariance cannot be estimated"
        )
    try:
        with single_threaded_blas():
            em = em_moments(pat)
    except np.linalg.LinAlgError:
        return None, (
            f"the EM algorithm for the unrestricted model{where} reached a singular covariance "
            "matrix (collinear indicators, or too few rows observed on some pairs)"
        )
    if not em.converged:
        return None, (
            f"the EM algorithm for the unrestricted model{where} did not converge in "
            f"{em.iterations} iterations"
        )
    sign, logdet = np.linalg.slogdet(em.cov)
    sd = np.sqrt(np.diag(em.cov))
    if sign <= 0 or np.linalg.cond(em.cov / np.outer(sd, sd)) > 1e12:
        return None, (
            f"the unrestricted (EM) covariance matrix{where} is singular (collinear "
            "indicators, or too few rows observed on some pairs)"
        )
    return Unrestricted(pat, em, float(logdet), -0.5 * (em.f + pat.log_2pi),
                        independence_loglik(pat)), None
