"""Measurement invariance: does the instrument measure the same thing in every group?

:func:`measurement_invariance` fits one confirmatory factor model in several groups at once (the
groups of a column: waves, sectors, peer groups) with increasingly strict equality constraints,
as lavaan's ``cfa(..., group = , group.equal = )`` does, and says how far comparisons between
the groups are supported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._params import check_option
from .cfa import (
    CfaNanPolicy,
    CFAResult,
    _check_nan_policy,
    _fiml_sample,
    _fit_model,
    _Model,
    _numeric,
    _parse_model,
    _sample,
)
from .errors import ParameterError

__all__ = [
    "CONFIGURAL_CFI_MIN",
    "CONFIGURAL_RMSEA_MAX",
    "DELTA_CFI_MIN",
    "DELTA_RMSEA_MAX",
    "InvarianceResult",
    "measurement_invariance",
]

Level = Literal["configural", "metric", "scalar"]
LEVELS: tuple[str, ...] = ("configural", "metric", "scalar")

#: Chen (2007): a drop in CFI of more than 0.010 or a rise in RMSEA of more than 0.015 from
#: the less constrained model indicates non-invariance.
DELTA_CFI_MIN = -0.010
DELTA_RMSEA_MAX = 0.015
#: Conventional "acceptable fit" for the configural model: CFI >= 0.90 (Bentler 1990) and
#: RMSEA <= 0.08 (Browne & Cudeck 1993).
CONFIGURAL_CFI_MIN = 0.90
CONFIGURAL_RMSEA_MAX = 0.08

_EQUAL = {
    "configural": frozenset(),
    "metric": frozenset({"loadings"}),
    "scalar": frozenset({"loadings", "intercepts"}),
}
_OVERALL = {
    None: "none: the configural model does not fit acceptably, so the groups may not even "
    "share the factor structure",
    "configural": "configural only: compare structure, not scores",
    "metric": "metric: compare relationships (loadings are equal; means are not comparable)",
    "scalar": "scalar: compare means over time and across groups (loadings and intercepts "
    "are equal)",
}
_TABLE_COLUMNS = (
    "level", "n_parameters", "chi_square", "df", "p_value", "cfi", "tli", "rmsea",
    "rmsea_ci_low", "rmsea_ci_high", "srmr", "aic", "bic", "delta_chi_square", "delta_df",
    "delta_p_value", "delta_cfi", "delta_rmsea", "supported", "verdict", "converged", "reason",
)


@dataclass(frozen=True, eq=False)
class InvarianceResult:
    """Configural, metric and scalar models across the levels of a grouping column.

    Attributes
    ----------
    group : str
        The grouping column.
    groups : tuple of str
        Its levels in order of first appearance; the first is the reference group whose
        latent means are fixed at 0.
    n_by_group : tuple of int
        Rows used in each group.
    n_used, n_total : int
        Rows used and rows given. Listwise: rows complete on every indicator and the group;
        FIML: rows with the group and at least one indicator observed.
    nan_policy : {"listwise", "fiml"}
        How missing values were treated.
    levels : tuple of str
        The models fitted, least constrained first.
    fits : tuple of CFAResult
        The multi-group fit at each level (``parameters`` has a ``group`` column).
    table : pandas.DataFrame
        One row per level: fit (``chi_square, df, p_value, cfi, tli, rmsea, ...``), the
        comparison with the previous level (``delta_chi_square, delta_df, delta_p_value,
        delta_cfi, delta_rmsea``), ``supported`` (True/False, or None if not assessed) and a
        plain ``verdict``.
    supported : str or None
        The strictest level supported together with every level before it, or ``None``.
    verdict : str
        What that allows: ``"configural only: compare structure, not scores"``, ``"metric:
        compare relationships ..."``, ``"scalar: compare means over time ..."``.
    """

    group: str
    groups: tuple[str, ...]
    n_by_group: tuple[int, ...]
    n_used: int
    n_total: int
    nan_policy: str
    levels: tuple[str, ...]
    fits: tuple[CFAResult, ...]
    table: pd.DataFrame
    supported: str | None
    verdict: str

    def to_frame(self) -> pd.DataFrame:
        """The comparison table, one row per level."""
        return self.table.copy()


def _check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(levels, str) or not isinstance(levels, Sequence) or not levels:
        raise ParameterError(
            f"levels must be a non-empty sequence of {', '.join(map(repr, LEVELS))}; "
            f"got {levels!r}"
        )
    for value in levels:
        check_option("levels", value, LEVELS)
    order = [LEVELS.index(v) for v in levels]
    if levels[0] != "configural" or order != sorted(set(order)):
        raise ParameterError(
            "levels must start with 'configural' and list each level once, least constrained "
            f"first (e.g. ('configural', 'metric', 'scalar')); got {tuple(levels)!r}"
        )
    return tuple(levels)


def _judge(level: str, row: dict, previous: dict | None) -> tuple[bool | None, str]:
    """Whether a level is supported, and why, in words."""
    if row["reason"] is not None:
        return None, f"not assessed: {row['reason']}"
    if previous is None:
        ok_cfi = row["cfi"] >= CONFIGURAL_CFI_MIN
        ok_rmsea = row["rmsea"] <= CONFIGURAL_RMSEA_MAX
        detail = (
            f"CFI {row['cfi']:.3f} {'>=' if ok_cfi else '<'} {CONFIGURAL_CFI_MIN:.3f}, "
            f"RMSEA {row['rmsea']:.3f} {'<=' if ok_rmsea else '>'} {CONFIGURAL_RMSEA_MAX:.3f}"
        )
        if ok_cfi and ok_rmsea:
            return True, f"configural model fits acceptably ({detail})"
        return False, (
            f"configural model fits poorly ({detail}): the groups may not share the factor "
            "structure"
        )
    if previous["reason"] is not None:
        return None, "not assessed: the previous level could not be fitted"
    ok_cfi = row["delta_cfi"] >= DELTA_CFI_MIN
    ok_rmsea = row["delta_rmsea"] <= DELTA_RMSEA_MAX
    ok = ok_cfi and ok_rmsea
    p = row["delta_p_value"]
    return ok, (
        f"{level} invariance {'supported' if ok else 'not supported'} "
        f"(delta CFI {row['delta_cfi']:.3f} {'>=' if ok_cfi else '<'} {DELTA_CFI_MIN:.3f}, "
        f"delta RMSEA {row['delta_rmsea']:.3f} {'<=' if ok_rmsea else '>'} "
        f"{DELTA_RMSEA_MAX:.3f}; chi-square difference {row['delta_chi_square']:.3f} on "
        f"{row['delta_df']} df, p {'< .001' if p < 0.001 else f'= {p:.3f}'})"
    )


def measurement_invariance(
    data: pd.DataFrame,
    model: Mapping[str, Sequence[str]],
    *,
    group: str,
    levels: Sequence[Level] = LEVELS,
    nan_policy: CfaNanPolicy = "listwise",
    standard_errors: bool = True,
) -> InvarianceResult:
    """Configural, metric and scalar invariance of a factor model across groups.

    Each level is a multi-group ML fit with a mean structure (lavaan's ``group =``):

    * configural - the same factors and indicators in every group, all parameters free
      (intercepts free, latent means 0);
    * metric - loadings equal across groups (``group.equal = "loadings"``);
    * scalar - loadings and intercepts equal, latent means free except in the first group
      (``group.equal = c("loadings", "intercepts")``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent: numeric indicator columns and the ``group`` column.
    model : mapping of str to list of str
        ``{factor: [indicators]}``, as for :func:`collab_stats.cfa.cfa`; each factor is scaled
        by its first loading, fixed to 1 in every group.
    group : str
        The column whose levels are the groups (in order of first appearance; the first is
        the reference group).
    levels : sequence of {"configural", "metric", "scalar"}
        The models to fit, starting with "configural", least constrained first.
    nan_policy : {"listwise", "fiml"}
        ``"listwise"`` (default, lavaan's default): rows missing any indicator are left out.
        ``"fiml"``: full-information ML in every group, lavaan's ``missing = "ml"`` (see
        :func:`collab_stats.cfa.cfa`): every observed value is used; rows with no indicator
        observed are left out. Either way rows without a group are left out.
    standard_errors : bool
        ``False`` leaves the fits' standard errors out (see :func:`collab_stats.cfa.cfa`):
        the table and the verdict, which use the fit indices only, are the same.

    Returns
    -------
    InvarianceResult
        One row per level in ``table``/``to_frame()``, the fits, and the overall verdict.
        A level that cannot be fitted has NaN figures and a ``reason``; no exception is
        raised.

    Raises
    ------
    ParameterError
        Unknown columns, a malformed model, or ``levels`` not in order.

    Notes
    -----
    For group g with N_g rows, covariance matrix S_g (divisor N_g) and means m_g,

    .. math:: F_g = \\log|\\Sigma_g| + \\operatorname{tr}(S_g\\Sigma_g^{-1}) - \\log|S_g| - p
              + (m_g - \\mu_g)'\\Sigma_g^{-1}(m_g - \\mu_g),
              \\qquad \\chi^2 = \\sum_g N_g F_g,

    which is what lavaan reports. Under FIML, N_g F_g = 2 (log L_H1,g - log L_g) with the
    observed-data log-likelihoods of :func:`collab_stats.cfa.cfa` (Notes), H1 estimated by EM
    in each group. df = G (p(p + 1)/2 + p) - q. The baseline model has free variances and
    means in every group (G p(p - 1)/2 df). RMSEA is multiplied by sqrt(G) and SRMR
    (including the mean residuals; under FIML against the EM moments) is averaged with
    weights N_g / N, as in lavaan.
    Each level is compared with the previous one: delta chi-square = chi2_k - chi2_(k-1) on
    df_k - df_(k-1) df (lavaan's ``lavTestLRT``), delta CFI and delta RMSEA.

    A level is *supported* when delta CFI >= -0.010 and delta RMSEA <= 0.015 (Chen 2007's
    cut-offs, both required); the chi-square difference is reported beside them but not used,
    since with hundreds of respondents it rejects trivial differences. The configural model is
    supported when it fits acceptably: CFI >= 0.90 and RMSEA <= 0.08. RMSEA is unstable when a
    model has few degrees of freedom (Kenny, Kaniskan & McCoach 2015), so for a small model
    (one factor of four items) a trivial misfit can cross the RMSEA cut-off: read the verdict
    with delta CFI and the chi-square difference beside it.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement
    invariance. Structural Equation Modeling 14(3), 464-504. doi:10.1080/10705510701301834

    Kenny, D. A., Kaniskan, B., & McCoach, D. B. (2015). The performance of RMSEA in models
    with small degrees of freedom. Sociological Methods & Research 44(3), 486-507.
    doi:10.1177/0049124114543236

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from collab_stats.invariance import measurement_invariance
    >>> rng = np.random.default_rng(0)
    >>> factor = rng.normal(size=(800, 1))
    >>> items = 3 + factor @ [[1.0, 0.9, 0.8, 0.8, 0.7, 0.6]] + rng.normal(0, 0.6, (800, 6))
    >>> data = pd.DataFrame(items, columns=["i1", "i2", "i3", "i4", "i5", "i6"])
    >>> data["wave"] = np.repeat(["2024", "2025"], 400)
    >>> items = {"F": ["i1", "i2", "i3", "i4", "i5", "i6"]}
    >>> result = measurement_invariance(data, items, group="wave")
    >>> result.to_frame()[["level", "df"]].to_dict("list")
    {'level': ['configural', 'metric', 'scalar'], 'df': [18, 23, 28]}
    >>> result.verdict
    'scalar: compare means over time and across groups (loadings and intercepts are equal)'

    The same models in lavaan::

        fit1 <- cfa("F =~ i1 + i2 + i3 + i4 + i5 + i6", data = data, group = "wave")
        fit2 <- update(fit1, group.equal = "loadings")
        fit3 <- update(fit1, group.equal = c("loadings", "intercepts"))
        lavTestLRT(fit1, fit2, fit3)

    ``nan_policy="fiml"`` adds ``missing = "ml"`` to each call.
    """
    if not isinstance(data, pd.DataFrame):
        raise ParameterError(f"data must be a pandas DataFrame; got {type(data).__name__}")
    levels = _check_levels(levels)
    _check_nan_policy(nan_policy)
    if not isinstance(group, str) or group not in data.columns:
        raise ParameterError(f"group must name a column of data; got {group!r}")
    spec = _parse_model(list(data.columns), model)
    if group in spec.indicators:
        raise ParameterError(f"group column {group!r} is also an indicator of the model")
    x = _numeric(data, spec.indicators)
    answered = ~np.isnan(x).all(axis=1) if nan_policy == "fiml" else ~np.isnan(x).any(axis=1)
    keep = answered & data[group].notna().to_numpy()
    x, values = x[keep], data[group].to_numpy()[keep]
    labels = list(pd.unique(values))
    names = tuple(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                  for v in labels)
    sample, reason = None, None
    if len(labels) < 2:
        reason = f"group column {group!r} has {len(labels)} level(s) among the rows used"
    elif nan_policy == "fiml":
        sample, reason = _fiml_sample(x, values, labels, spec.indicators)
    else:
        sample, reason = _sample(x, values, labels, spec.indicators)
    n_by_group = tuple(int((values == v).sum()) for v in labels)
    fits, rows = [], []
    for level in levels:
        fitted = _Model(spec, max(len(labels), 1), meanstructure=True, equal=_EQUAL[level])
        if fitted.n_free > fitted.n_moments:
            raise ParameterError(
                f"the {level} model has {fitted.n_free} free parameters but only "
                f"{fitted.n_moments} moments: it is not identified (add indicators)"
            )
        fit = _fit_model(fitted, sample, reason=reason, n_used=len(x), n_total=len(data),
                         std_lv=False, nan_policy=nan_policy, group=group, labels=names,
                         n_by_group=n_by_group, standard_errors=standard_errors)
        row = {c: getattr(fit, c) for c in _TABLE_COLUMNS if hasattr(fit, c)}
        row["level"] = level
        previous = rows[-1] if rows else None
        if previous is not None:
            d_chi2 = row["chi_square"] - previous["chi_square"]
            d_df = row["df"] - previous["df"]
            row.update(
                delta_chi_square=d_chi2, delta_df=d_df,
                delta_p_value=float(stats.chi2.sf(d_chi2, d_df)) if d_df > 0 else math.nan,
                delta_cfi=row["cfi"] - previous["cfi"],
                delta_rmsea=row["rmsea"] - previous["rmsea"],
            )
        else:
            row.update(delta_chi_square=math.nan, delta_df=0, delta_p_value=math.nan,
                       delta_cfi=math.nan, delta_rmsea=math.nan)
        row["supported"], row["verdict"] = _judge(level, row, previous)
        fits.append(fit)
        rows.append(row)
    supported = None
    for row in rows:
        if row["supported"] is not True:
            break
        supported = row["level"]
    table = pd.DataFrame(rows, columns=list(_TABLE_COLUMNS))
    verdict = _OVERALL[supported] if reason is None else f"not assessed: {reason}"
    return InvarianceResult(
        group=group, groups=names, n_by_group=n_by_group, n_used=len(x), n_total=len(data),
        nan_policy=nan_policy, levels=levels, fits=tuple(fits), table=table,
        supported=supported, verdict=verdict,
    )
