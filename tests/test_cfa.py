"""Tests of confirmatory factor analysis (:mod:`collab_stats.cfa`) and measurement invariance
(:mod:`collab_stats.invariance`).

Four kinds of test:

* reference - lavaan's own published output for the Holzinger & Swineford (1939) models,
  loaded from ``tests/results/lavaan_holzinger_swineford.yaml`` (each value with its source
  and a tolerance matching the printed precision); the test classes share the assertions and
  differ only in which reference and which options they use;
* plain reference implementations - the fit statistics recomputed from the parameter table with
  textbook formulas, and the analytic gradient against finite differences;
* simulation recovery - data drawn from known models (fixed seeds, so deterministic): the
  estimates lie within sampling error of the truth, the standard errors match the spread of
  estimates over replications, the chi-square of a correct model behaves like a chi-square and
  a misspecified model fits worse; invariant groups pass the invariance steps and shifted
  intercepts fail the scalar step;
* properties and errors - rescaling an indicator, reordering rows, factors or groups change
  nothing they should not; malformed models raise ParameterError naming the problem, data that
  cannot be fitted give NaN with a reason.

Full-information ML (``nan_policy="fiml"``, lavaan's ``missing = "ml"``) has no published
lavaan output among the reference data, so it is tied to the published complete-data values
(on complete data it must reproduce the listwise fit) and checked against plain reference
implementations: the log-likelihood summed row by row, EM one row at a time, the saturated
likelihood maximised directly by BFGS, the Hessian from second differences of the objective;
then MCAR injected into HolzingerSwineford1939 and simulation recovery.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_data import read_reference
from scipy import optimize, stats

from collab_stats import cfa as cfa_module
from collab_stats import fiml, simulate_programme
from collab_stats.cfa import CFAResult, cfa
from collab_stats.errors import ParameterError
from collab_stats.invariance import InvarianceResult, measurement_invariance
from collab_stats.scoring import item_matrix

RESULTS = Path(__file__).parent / "results" / "lavaan_holzinger_swineford.yaml"
HS_MODEL = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
            "speed": ["x7", "x8", "x9"]}


def reference(case: str) -> dict:
    return yaml.safe_load(RESULTS.read_text(encoding="utf-8"))[case]


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return read_reference("HolzingerSwineford1939.csv")


HS_INDICATORS = [i for members in HS_MODEL.values() for i in members]


def with_holes(data: pd.DataFrame, columns: list[str], share: float, seed: int) -> pd.DataFrame:
    """``data`` with each cell of ``columns`` missing with probability ``share`` (MCAR)."""
    holes = data.copy()
    mask = np.random.default_rng(seed).random((len(data), len(columns))) < share
    holes[columns] = holes[columns].mask(mask)
    return holes


@pytest.fixture(scope="module")
def hs_holes(hs) -> pd.DataFrame:
    """HolzingerSwineford1939 with 15 % of the indicator values missing completely at random
    (seed 0): 60 of the 301 pupils are complete on all nine tests."""
    return with_holes(hs, HS_INDICATORS, 0.15, seed=0)


def param(result: CFAResult, lhs: str, op: str, rhs: str, group: str | None = None) -> pd.Series:
    p = result.parameters
    mask = (p["lhs"] == lhs) & (p["op"] == op) & (p["rhs"] == rhs)
    if group is not None:
        mask &= p["group"] == group
    rows = p[mask]
    assert len(rows) == 1, f"{lhs} {op} {rhs}: {len(rows)} rows"
    return rows.iloc[0]


# --- reference: lavaan's published output ----------------------------------------------------


@pytest.fixture(scope="class")
def fitted(request, hs) -> CFAResult:
    """The Holzinger & Swineford model fitted with the options of the requesting class."""
    return cfa(hs, HS_MODEL, **request.cls.options)


class CheckLavaanCFA:
    """Shared assertions: a fit against one lavaan reference case (fit measures and the
    published std.all loadings, which do not depend on how the factors are scaled)."""

    case = "three_factor"
    options: dict = {}

    def test_fit_measures(self, fitted):
        ref = reference(self.case)
        assert fitted.converged and fitted.reason is None
        assert fitted.n_total == 301
        for name, expected in ref["fit"].items():
            assert getattr(fitted, name) == pytest.approx(expected, abs=ref["tolerance"]), name

    def test_standardised_loadings(self, fitted):
        ref = reference(self.case)
        published = {r[2]: r[5] for r in ref["parameters"] if r[1] == "=~"}
        got = fitted.loadings.set_index("rhs")["std_all"]
        for indicator, value in published.items():
            assert got[indicator] == pytest.approx(value, abs=ref["tolerance"]), indicator


class TestThreeFactor(CheckLavaanCFA):
    """cfa(HS.model, data = HolzingerSwineford1939): also every published estimate and SE."""

    def test_parameters(self, fitted):
        ref = reference(self.case)
        tol = ref["tolerance"]
        for lhs, op, rhs, estimate, se, std_all in ref["parameters"]:
            row = param(fitted, lhs, op, rhs)
            assert row["estimate"] == pytest.approx(estimate, abs=tol), (lhs, op, rhs)
            if se is None:
                assert row["free"] == 0 and math.isnan(row["se"])
            else:
                assert row["se"] == pytest.approx(se, abs=tol), (lhs, op, rhs, "se")
            if std_all is not None:
                assert row["std_all"] == pytest.approx(std_all, abs=tol), (lhs, op, rhs)


class TestThreeFactorStdLv(CheckLavaanCFA):
    """std.lv = TRUE: the same fit and the same std.all solution (other parameters rescaled)."""

    options = {"std_lv": True}

    def test_rescaled_parameters(self, fitted, hs):
        marker = cfa(hs, HS_MODEL)
        for factor, indicators in HS_MODEL.items():
            sd = math.sqrt(param(marker, factor, "~~", factor)["estimate"])
            assert param(fitted, factor, "~~", factor)["free"] == 0
            for i in indicators:
                assert param(fitted, factor, "=~", i)["estimate"] == pytest.approx(
                    param(marker, factor, "=~", i)["estimate"] * sd, abs=1e-6)


class TestSecondOrder(CheckLavaanCFA):
    """visual, textual, speed under one second-order factor: the structural part is
    just-identified (6 moments, 6 parameters), so the fit equals the first-order model's."""

    options = {"second_order": {"g": ["visual", "textual", "speed"]}}

    def test_same_first_order_solution(self, fitted, hs):
        first = cfa(hs, HS_MODEL)
        pd.testing.assert_series_equal(fitted.loadings["std_all"], first.loadings["std_all"],
                                       atol=1e-6)
        assert [r["rhs"] for _, r in fitted.parameters.query("lhs == 'g'").iterrows()] == [
            "visual", "textual", "speed", "g"]
        assert fitted.second_order == (("g", ("visual", "textual", "speed")),)


def test_measurement_invariance_reference(hs):
    ref = reference("invariance_school")
    result = measurement_invariance(hs, HS_MODEL, group="school")
    table = result.to_frame().set_index("level")
    assert result.groups == ("Pasteur", "Grant-White") and result.n_by_group == (156, 145)
    assert table["converged"].all()
    for level, values in ref["levels"].items():
        for name, expected in values.items():
            assert table.at[level, name] == pytest.approx(expected, abs=ref["tolerance"]), (
                level, name)
    for level, values in ref["information_criteria"].items():
        for name, expected in values.items():
            assert table.at[level, name] == pytest.approx(
                expected, abs=ref["information_criteria_tolerance"]), (level, name)
    for level, values in ref["small_p_values"].items():
        for name, expected in values.items():
            assert table.at[level, name] == pytest.approx(expected, rel=ref["rel_tolerance"])


def test_invariance_verdicts_holzinger_swineford(hs):
    """Metric invariance holds, scalar does not (delta CFI -0.038); but the configural model's
    RMSEA (0.097) is above 0.08, so no comparison is declared safe overall."""
    result = measurement_invariance(hs, HS_MODEL, group="school")
    table = result.to_frame().set_index("level")
    assert table["supported"].tolist() == [False, True, False]
    assert table.at["metric", "verdict"].startswith("metric invariance supported (delta CFI")
    assert table.at["scalar", "verdict"].startswith("scalar invariance not supported")
    assert table.at["scalar", "delta_cfi"] == pytest.approx(-0.038, abs=0.001)
    assert result.supported is None and result.verdict.startswith("none:")
    scalar = result.fits[2]
    assert param(scalar, "visual", "~1", "", group="Pasteur")["free"] == 0
    assert param(scalar, "textual", "~1", "", group="Grant-White")["estimate"] == pytest.approx(
        0.576, abs=0.001)  # lavaan tutorial: latent means in the second group
    assert (param(scalar, "x1", "~1", "", "Pasteur")["free"]
            == param(scalar, "x1", "~1", "", "Grant-White")["free"])


def test_configural_is_the_sum_of_separate_fits(hs):
    """With everything free, the multi-group chi-square is the sum of the one-group ones."""
    result = measurement_invariance(hs, HS_MODEL, group="school", levels=("configural",))
    separate = [cfa(hs[hs["school"] == s], HS_MODEL) for s in ("Pasteur", "Grant-White")]
    assert result.fits[0].chi_square == pytest.approx(sum(f.chi_square for f in separate),
                                                      rel=1e-7)
    assert result.fits[0].df == sum(f.df for f in separate)


# --- plain reference implementations ---------------------------------------------------------


def implied_from_table(result: CFAResult) -> np.ndarray:
    """Sigma = Lambda Phi Lambda' + Theta assembled by hand from a first-order fit's table."""
    indicators = [i for _, members in result.model for i in members]
    factors = [f for f, _ in result.model]
    lam = np.zeros((len(indicators), len(factors)))
    phi = np.zeros((len(factors), len(factors)))
    theta = np.zeros((len(indicators), len(indicators)))
    for _, r in result.parameters.iterrows():
        if r["op"] == "~1":
            continue  # means: see implied_means
        if r["op"] == "=~":
            lam[indicators.index(r["rhs"]), factors.index(r["lhs"])] = r["estimate"]
        elif r["lhs"] in factors:
            a, b = factors.index(r["lhs"]), factors.index(r["rhs"])
            phi[a, b] = phi[b, a] = r["estimate"]
        else:
            theta[indicators.index(r["lhs"]), indicators.index(r["rhs"])] = r["estimate"]
    return lam @ phi @ lam.T + theta


def test_fit_statistics_from_textbook_formulas(hs):
    result = cfa(hs, HS_MODEL)
    x = hs[[i for m in HS_MODEL.values() for i in m]].to_numpy()
    n, p = x.shape
    s = np.cov(x, rowvar=False, bias=True)
    sigma = implied_from_table(result)
    f_ml = (np.linalg.slogdet(sigma)[1] + np.trace(s @ np.linalg.inv(sigma))
            - np.linalg.slogdet(s)[1] - p)
    chi2 = n * f_ml
    chi2_0 = n * (np.log(np.diag(s)).sum() - np.linalg.slogdet(s)[1])
    df, df_0 = p * (p + 1) // 2 - 21, p * (p - 1) // 2
    assert result.chi_square == pytest.approx(chi2, rel=1e-9)
    assert result.baseline_chi_square == pytest.approx(chi2_0, rel=1e-12)
    assert result.cfi == pytest.approx(1 - (chi2 - df) / (chi2_0 - df_0), rel=1e-9)
    assert result.tli == pytest.approx((chi2_0 / df_0 - chi2 / df) / (chi2_0 / df_0 - 1),
                                       rel=1e-9)
    assert result.rmsea == pytest.approx(math.sqrt((chi2 - df) / (df * n)), rel=1e-9)
    squares = [((s[i, j] - sigma[i, j]) / math.sqrt(s[i, i] * s[j, j])) ** 2
               for i in range(p) for j in range(i + 1)]
    assert result.srmr == pytest.approx(math.sqrt(sum(squares) / len(squares)), rel=1e-9)
    std = result.loadings.iloc[1]
    assert std["std_all"] == pytest.approx(
        std["estimate"] * math.sqrt(param(result, "visual", "~~", "visual")["estimate"])
        / math.sqrt(sigma[1, 1]), rel=1e-9)


@pytest.mark.parametrize("std_lv", [False, True])
@pytest.mark.parametrize("nan_policy", ["listwise", "fiml"])
def test_analytic_gradient_matches_finite_differences(hs, hs_holes, std_lv, nan_policy):
    """The objective of a two-group, second-order model with means (every matrix in play);
    under FIML on the data with 15 % of the values missing."""
    spec = cfa_module._parse_model(list(hs.columns), HS_MODEL,
                                   {"g": ["visual", "textual", "speed"]})
    data = hs if nan_policy == "listwise" else hs_holes
    x = cfa_module._numeric(data, spec.indicators)
    school = data["school"].to_numpy()
    make = cfa_module._sample if nan_policy == "listwise" else cfa_module._fiml_sample
    sample, reason = make(x, school, ["Pasteur", "Grant-White"], spec.indicators)
    assert reason is None and (sample.patterns is None) == (nan_policy == "listwise")
    model = cfa_module._Model(spec, 2, std_lv=std_lv, meanstructure=True,
                              equal=frozenset({"loadings", "intercepts"}))
    rng = np.random.default_rng(0)
    theta = cfa_module._start(model, sample, std_lv) + rng.normal(0, 0.05, model.n_free)
    _, grad = cfa_module._objective(theta, model, sample)
    numeric = optimize.approx_fprime(
        theta, lambda t: cfa_module._objective(t, model, sample)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, atol=2e-6)


# --- simulation recovery ---------------------------------------------------------------------

TRUE_LOADINGS = np.array([[0.8, 0.7, 0.6, 0, 0, 0, 0, 0, 0],
                          [0, 0, 0, 0.9, 0.7, 0.5, 0, 0, 0],
                          [0, 0, 0, 0, 0, 0, 0.6, 0.7, 0.8]]).T
TRUE_CORRELATIONS = np.array([[1.0, 0.3, 0.5], [0.3, 1.0, 0.4], [0.5, 0.4, 1.0]])
SIM_MODEL = {"f1": ["y1", "y2", "y3"], "f2": ["y4", "y5", "y6"], "f3": ["y7", "y8", "y9"]}


def simulate(n: int, seed: int) -> pd.DataFrame:
    """Standardised indicators from the 3-factor truth above (residual variance 1 - l^2)."""
    sigma = TRUE_LOADINGS @ TRUE_CORRELATIONS @ TRUE_LOADINGS.T
    sigma += np.diag(1 - np.diag(sigma))
    x = np.random.default_rng(seed).multivariate_normal(np.zeros(9), sigma, size=n)
    return pd.DataFrame(x, columns=[f"y{i}" for i in range(1, 10)])


def test_recovers_known_loadings_and_correlations():
    result = cfa(simulate(2000, seed=1), SIM_MODEL, std_lv=True)
    assert result.converged and result.df == 24
    for j, (factor, indicators) in enumerate(SIM_MODEL.items()):
        for i in indicators:
            row = param(result, factor, "=~", i)
            truth = TRUE_LOADINGS[int(i[1:]) - 1, j]
            assert abs(row["estimate"] - truth) < 3.5 * row["se"], (factor, i)
    for a, b, truth in [("f1", "f2", 0.3), ("f1", "f3", 0.5), ("f2", "f3", 0.4)]:
        row = param(result, a, "~~", b)
        assert abs(row["estimate"] - truth) < 3.5 * row["se"], (a, b)


def test_chi_square_and_standard_errors_over_replications():
    """40 samples of 500 from the true model: the chi-square has mean df (24) within sampling
    error and rejects at about the nominal rate; the standard errors match the spread of the
    estimates; CFI is near 1 and RMSEA near 0."""
    fits = [cfa(simulate(500, seed=100 + r), SIM_MODEL, std_lv=True) for r in range(40)]
    assert all(f.converged for f in fits)
    chi2 = np.array([f.chi_square for f in fits])
    assert abs(chi2.mean() - 24) < 4 * math.sqrt(2 * 24 / len(fits))
    assert np.mean([f.p_value < 0.05 for f in fits]) <= 0.15
    assert np.mean([f.cfi for f in fits]) > 0.99 and np.mean([f.rmsea for f in fits]) < 0.02
    loadings = np.array([f.loadings["estimate"].to_numpy() for f in fits])
    ses = np.array([f.loadings["se"].to_numpy() for f in fits])
    ratio = ses.mean(axis=0) / loadings.std(axis=0, ddof=1)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_misspecified_model_fits_worse():
    data = simulate(2000, seed=2)
    right = cfa(data, SIM_MODEL)
    merged = cfa(data, {"f12": ["y1", "y2", "y3", "y4", "y5", "y6"],
                        "f3": ["y7", "y8", "y9"]})
    assert right.p_value > 0.01
    assert merged.p_value < 1e-6 and merged.df == 26
    assert merged.chi_square > right.chi_square + 100
    assert merged.cfi < right.cfi - 0.05 and merged.rmsea > right.rmsea + 0.05
    assert merged.srmr > right.srmr


def test_second_order_model_of_the_instrument_shape():
    """8 characteristics (4-6 items each, 37 items) under 3 groups, two of which hold only two
    characteristics: identified through the covariances between the groups."""
    items = {"PS": 5, "PC": 5, "TG": 6, "BL": 4, "CC": 4, "MI": 5, "EG": 4, "SC": 4}
    groups = {"purpose": ["PS", "PC"], "culture": ["TG", "BL"],
              "resources": ["CC", "MI", "EG", "SC"]}
    gamma = {"PS": 0.8, "PC": 0.7, "TG": 0.9, "BL": 0.6, "CC": 0.8, "MI": 0.7, "EG": 0.6,
             "SC": 0.8}
    rng = np.random.default_rng(5)
    n = 1000
    higher = rng.multivariate_normal(np.zeros(3), [[1, 0.6, 0.5], [0.6, 1, 0.55],
                                                   [0.5, 0.55, 1]], size=n)
    columns, model = {}, {}
    for k, characteristics in enumerate(groups.values()):
        for c in characteristics:
            eta = gamma[c] * higher[:, k] + rng.normal(size=n)  # disturbance variance 1
            model[c] = [f"{c}{i:02d}" for i in range(1, items[c] + 1)]
            for name in model[c]:
                columns[name] = 0.6 * eta + rng.normal(scale=0.8, size=n)
    data = pd.DataFrame(columns)
    result = cfa(data, model, second_order=groups, std_lv=True)
    first = cfa(data, model)
    assert result.converged and first.converged and len(data.columns) == 37
    assert result.df == first.df + 17  # 36 factor (co)variances replaced by 19 parameters
    assert result.chi_square >= first.chi_square
    assert result.p_value > 0.01
    for group, characteristics in groups.items():
        for c in characteristics:
            row = param(result, group, "=~", c)
            assert abs(row["estimate"] - gamma[c]) < 3.5 * row["se"], (group, c)
    assert any("identified only through its covariances" in note for note in result.notes)


def test_two_factor_second_order_alone_gets_equal_loadings(hs):
    model = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"]}
    first = cfa(hs, model)
    for std_lv in (False, True):
        result = cfa(hs, model, second_order={"g": ["visual", "textual"]}, std_lv=std_lv)
        assert result.chi_square == pytest.approx(first.chi_square, rel=1e-7)
        assert result.df == first.df
        a, b = param(result, "g", "=~", "visual"), param(result, "g", "=~", "textual")
        assert a["free"] == b["free"] and a["estimate"] == b["estimate"]
        assert any("constrained equal" in note for note in result.notes)


def shifted_groups(seed: int, shift: float) -> pd.DataFrame:
    """Two waves of 400 with the same loadings; the second wave's latent mean is 0.3 higher
    and item i2's intercept is higher by ``shift``."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(800, 1))
    factor[400:] += 0.3
    x = 3 + factor @ [[1.0, 0.9, 0.8, 0.8, 0.7, 0.6]] + rng.normal(0, 0.6, (800, 6))
    x[400:, 1] += shift
    data = pd.DataFrame(x, columns=[f"i{k}" for k in range(1, 7)])
    data["wave"] = np.repeat(["w1", "w2"], 400)
    return data


ONE_FACTOR = {"F": ["i1", "i2", "i3", "i4", "i5", "i6"]}


def test_invariance_recovered_and_violation_detected():
    invariant = measurement_invariance(shifted_groups(0, 0.0), ONE_FACTOR, group="wave")
    assert invariant.supported == "scalar"
    assert invariant.verdict.startswith("scalar: compare means over time")
    scalar = invariant.fits[2]
    assert param(scalar, "F", "~1", "", group="w2")["estimate"] == pytest.approx(0.3, abs=0.15)
    biased = measurement_invariance(shifted_groups(0, 0.5), ONE_FACTOR, group="wave")
    table = biased.to_frame().set_index("level")
    assert biased.supported == "metric"
    assert biased.verdict.startswith("metric: compare relationships")
    assert table.at["scalar", "delta_p_value"] < 1e-6
    assert table.at["scalar", "delta_cfi"] < -0.01


# --- full-information ML ---------------------------------------------------------------------


def row_loglik(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """Plain reference: the observed-data normal log-likelihood, one row at a time."""
    total = 0.0
    for row in x:
        seen = ~np.isnan(row)
        if seen.any():
            total += stats.multivariate_normal.logpdf(row[seen], mu[seen],
                                                      sigma[np.ix_(seen, seen)])
    return total


def plain_em(x: np.ndarray, tol: float = 1e-11) -> tuple[np.ndarray, np.ndarray]:
    """Plain reference: EM for the mean and covariance matrix, one row at a time (E step: the
    regression of the missing values on the observed ones and its residual covariance)."""
    n, p = x.shape
    mu = np.nanmean(x, axis=0)
    sigma = np.diag(np.nanvar(x, axis=0))
    for _ in range(2000):
        t1, t2 = np.zeros(p), np.zeros((p, p))
        for row in x:
            o, m = ~np.isnan(row), np.isnan(row)
            filled, extra = row.copy(), np.zeros((p, p))
            if m.any():
                b = sigma[np.ix_(m, o)] @ np.linalg.inv(sigma[np.ix_(o, o)])
                filled[m] = mu[m] + b @ (row[o] - mu[o])
                extra[np.ix_(m, m)] = sigma[np.ix_(m, m)] - b @ sigma[np.ix_(o, m)]
            t1 += filled
            t2 += np.outer(filled, filled) + extra
        new_mu = t1 / n
        new_sigma = t2 / n - np.outer(new_mu, new_mu)
        done = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max()) < tol
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return mu, sigma


def implied_means(result: CFAResult) -> np.ndarray:
    """mu = nu (latent means are 0 in a one-group fit)."""
    p = result.parameters.set_index(["lhs", "op"])["estimate"]
    return np.array([p[(i, "~1")] for _, members in result.model for i in members])


@pytest.fixture(scope="module")
def fiml_hs(hs) -> CFAResult:
    return cfa(hs, HS_MODEL, nan_policy="fiml")


def test_fiml_on_complete_data_is_the_listwise_fit(hs, fiml_hs):
    """With no missing value FIML is ML with a saturated mean structure: the same chi-square,
    df, estimates and fit indices as the listwise fit (which reproduces lavaan's published
    values, see TestThreeFactor), to 1e-6. What differs, as in lavaan with missing = "ml":
    9 intercepts are added (AIC and BIC count them), SRMR counts the 9 mean residuals (all 0)
    among p(p + 1)/2 + p = 54 residuals instead of 45, and the standard errors come from the
    observed information (checked in the next test)."""
    listwise, fiml = cfa(hs, HS_MODEL), fiml_hs
    assert fiml.converged and fiml.nan_policy == "fiml" and listwise.nan_policy == "listwise"
    assert (fiml.n_used, fiml.n_total, fiml.df, fiml.baseline_df) == (301, 301, 24, 36)
    for name in ("chi_square", "p_value", "baseline_chi_square", "cfi", "tli", "rmsea",
                 "rmsea_ci_low", "rmsea_ci_high", "rmsea_p_close", "loglik"):
        assert getattr(fiml, name) == pytest.approx(getattr(listwise, name), rel=1e-6,
                                                    abs=1e-6), name
    ref = reference("three_factor")
    for name in ("chi_square", "baseline_chi_square", "cfi", "tli", "rmsea", "loglik"):
        assert getattr(fiml, name) == pytest.approx(ref["fit"][name], abs=ref["tolerance"])
    assert fiml.srmr == pytest.approx(listwise.srmr * math.sqrt(45 / 54), rel=1e-6)
    assert fiml.n_parameters == listwise.n_parameters + 9
    assert fiml.aic == pytest.approx(listwise.aic + 2 * 9, rel=1e-9)
    shared = listwise.parameters.merge(fiml.parameters, on=["lhs", "op", "rhs"],
                                       suffixes=("", "_fiml"))
    assert len(shared) == len(listwise.parameters) == 24
    np.testing.assert_allclose(shared["estimate_fiml"], shared["estimate"], atol=1e-6)
    np.testing.assert_allclose(shared["std_all_fiml"], shared["std_all"], atol=1e-6)
    x = hs[HS_INDICATORS].to_numpy()
    np.testing.assert_allclose(implied_means(fiml), x.mean(axis=0), atol=1e-6)


def test_fiml_standard_errors_are_the_observed_information(hs, fiml_hs):
    """lavaan's default with missing = "ml" is information = "observed": the SEs are
    sqrt(diag((N/2 H)^-1)) with H the Hessian of F. Second code path: H by central second
    differences of the values (not the gradient) of the complete-data objective with means."""
    spec = cfa_module._parse_model(list(hs.columns), HS_MODEL)
    x = cfa_module._numeric(hs, spec.indicators)
    sample, _ = cfa_module._sample(x, np.zeros(len(x)), [0], spec.indicators)
    model = cfa_module._Model(spec, meanstructure=True)
    table = fiml_hs.parameters
    theta = np.zeros(model.n_free)
    theta[table.loc[table["free"] > 0, "free"] - 1] = table.loc[table["free"] > 0, "estimate"]
    q, h = model.n_free, 1e-4
    hessian = np.empty((q, q))

    def f(t):
        return cfa_module._objective(t, model, sample)[0]

    for a in range(q):
        for b in range(a, q):
            ea, eb = np.eye(q)[a] * h, np.eye(q)[b] * h
            hessian[a, b] = hessian[b, a] = (
                f(theta + ea + eb) - f(theta + ea - eb) - f(theta - ea + eb)
                + f(theta - ea - eb)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(301 / 2 * hessian)))
    free = table[table["free"] > 0]
    np.testing.assert_allclose(free["se"], se[free["free"] - 1], rtol=1e-4)
    # the observed and expected information differ by terms in the residuals: close here
    listwise = cfa(hs, HS_MODEL).parameters.set_index(["lhs", "op", "rhs"])["se"]
    ratio = free.set_index(["lhs", "op", "rhs"])["se"] / listwise
    assert ratio.dropna().between(0.85, 1.35).all()


def test_fiml_fit_statistics_from_plain_formulas(hs_holes):
    """With 15 % of the values missing: the log-likelihood at the estimates summed row by row,
    H1 by a row-by-row EM, the baseline from each indicator's available-case mean and variance,
    then chi-square, CFI, TLI, RMSEA and SRMR (with mean residuals) by their formulas."""
    result = cfa(hs_holes, HS_MODEL, nan_policy="fiml")
    x = hs_holes[HS_INDICATORS].to_numpy()
    n, p = x.shape
    assert result.converged and (result.n_used, result.df) == (301, 24)
    sigma, mu = implied_from_table(result), implied_means(result)
    loglik = row_loglik(x, mu, sigma)
    assert result.loglik == pytest.approx(loglik, rel=1e-9)
    em_mu, em_sigma = plain_em(x)
    loglik_h1 = row_loglik(x, em_mu, em_sigma)
    chi2 = 2 * (loglik_h1 - loglik)
    assert result.chi_square == pytest.approx(chi2, rel=1e-7)
    frame = pd.DataFrame(x)
    n_j, var_j = frame.count().to_numpy(), frame.var(ddof=0).to_numpy()
    loglik_0 = -0.5 * np.sum(n_j * (np.log(2 * np.pi) + np.log(var_j) + 1))
    chi2_0 = 2 * (loglik_h1 - loglik_0)
    assert result.baseline_chi_square == pytest.approx(chi2_0, rel=1e-9)
    df, df_0 = 24, 36
    assert result.cfi == pytest.approx(1 - (chi2 - df) / (chi2_0 - df_0), rel=1e-7)
    assert result.tli == pytest.approx((chi2_0 / df_0 - chi2 / df) / (chi2_0 / df_0 - 1),
                                       rel=1e-7)
    assert result.rmsea == pytest.approx(math.sqrt((chi2 - df) / (df * n)), rel=1e-7)
    sd = np.sqrt(np.diag(em_sigma))
    residuals = [(em_sigma[i, j] - sigma[i, j]) / (sd[i] * sd[j])
                 for i in range(p) for j in range(i + 1)]
    residuals += list((em_mu - mu) / sd)
    assert result.srmr == pytest.approx(math.sqrt(np.mean(np.square(residuals))), rel=1e-6)
    assert result.notes[-1].startswith(
        "full-information ML: 301 rows, 60 of them complete, 79 missing-data patterns; the "
        "unrestricted model was estimated by EM")


def test_em_moments_on_complete_data_are_the_sample_moments(hs):
    x = hs[HS_INDICATORS].to_numpy()
    h1, reason = fiml.unrestricted(x, HS_INDICATORS)
    assert reason is None and h1.em.converged
    np.testing.assert_allclose(h1.em.mean, x.mean(axis=0), rtol=0, atol=1e-8)
    np.testing.assert_allclose(h1.em.cov, np.cov(x, rowvar=False, bias=True), rtol=0,
                               atol=1e-8)


def test_em_moments_maximise_the_observed_data_likelihood():
    """Second code path: the saturated observed-data log-likelihood of 4 variables (200 rows,
    25 % missing, some rows with one value) maximised directly by BFGS over the mean and the
    Cholesky factor of the covariance matrix; the EM moments agree to 1e-5, and so do the
    log-likelihoods (which EM's should not fall below)."""
    rng = np.random.default_rng(11)
    cov = np.array([[1.0, 0.5, 0.3, 0.2], [0.5, 1.5, 0.4, 0.1],
                    [0.3, 0.4, 0.8, 0.3], [0.2, 0.1, 0.3, 1.2]])
    x = rng.multivariate_normal([1, 2, 3, 4], cov, size=200)
    x[rng.random(x.shape) < 0.25] = np.nan
    x = x[~np.isnan(x).all(axis=1)]
    h1, reason = fiml.unrestricted(x, ["a", "b", "c", "d"])
    assert reason is None and h1.patterns.n_patterns > 10
    rows = ~np.isnan(x)
    patterns = {tuple(r) for r in rows}
    groups = [(np.array(k), x[(rows == np.array(k)).all(axis=1)]) for k in patterns]

    def minus_loglik(par):
        mu, chol = par[:4], np.zeros((4, 4))
        chol[np.tril_indices(4)] = par[4:]
        sigma = chol @ chol.T
        return -sum(stats.multivariate_normal.logpdf(g[:, k], mu[k], sigma[np.ix_(k, k)])
                    .sum() for k, g in groups)

    start = np.concatenate([np.nanmean(x, axis=0),
                            np.diag(np.nanstd(x, axis=0))[np.tril_indices(4)]])
    res = optimize.minimize(minus_loglik, start, method="BFGS", options={"gtol": 1e-8})
    mu, chol = res.x[:4], np.zeros((4, 4))
    chol[np.tril_indices(4)] = res.x[4:]
    np.testing.assert_allclose(h1.em.mean, mu, atol=1e-5)
    np.testing.assert_allclose(h1.em.cov, chol @ chol.T, atol=1e-5)
    assert h1.loglik == pytest.approx(-res.fun, abs=1e-6)
    assert h1.loglik >= -res.fun - 1e-9
    assert h1.loglik == pytest.approx(row_loglik(x, h1.em.mean, h1.em.cov), rel=1e-12)


def test_fiml_under_mcar_is_close_to_the_complete_data_fit(hs, hs_holes, fiml_hs):
    """15 % of the values missing completely at random: only 60 complete rows remain for
    listwise deletion, FIML uses all 301. Every FIML estimate lies within 3 complete-data
    standard errors of the complete-data estimate (the extra sampling error of FIML is about
    sqrt(SE_FIML^2 - SE^2), at most about one SE here; over seeds 0-7 the largest deviation
    is 2.8 SE, the mean 0.4-0.8 SE), within 0.5 SE on average, and on average less than half
    as far as the listwise estimates. df is unchanged."""
    fiml_fit, listwise = cfa(hs_holes, HS_MODEL, nan_policy="fiml"), cfa(hs_holes, HS_MODEL)
    assert (listwise.n_used, fiml_fit.n_used) == (60, 301)
    assert fiml_fit.df == listwise.df == fiml_hs.df == 24
    key = ["lhs", "op", "rhs"]
    full = fiml_hs.parameters[fiml_hs.parameters["free"] > 0]
    both = full.merge(fiml_fit.parameters, on=key, suffixes=("", "_fiml")).merge(
        listwise.parameters, on=key, how="left", suffixes=("", "_listwise"))
    fiml_gap = (both["estimate_fiml"] - both["estimate"]).abs() / both["se"]
    listwise_gap = (both["estimate_listwise"] - both["estimate"]).abs() / both["se"]
    assert fiml_gap.max() < 3 and fiml_gap.mean() < 0.5
    shared = listwise_gap.notna()  # listwise has no intercepts
    assert fiml_gap[shared].mean() < 0.5 * listwise_gap[shared].mean()
    std_gap = (both["std_all_fiml"] - both["std_all"]).abs()[shared]
    assert std_gap.mean() < 0.5 * (both["std_all_listwise"] - both["std_all"]).abs()[shared].mean()
    shuffled = cfa(hs_holes.sample(frac=1, random_state=3), HS_MODEL, nan_policy="fiml")
    assert shuffled.chi_square == pytest.approx(fiml_fit.chi_square, rel=1e-8)


def test_fiml_recovers_known_loadings_with_missing_values():
    """The 3-factor truth above, 2000 rows, 10 % MCAR: loadings and factor correlations
    within 3.5 standard errors of the truth."""
    data = with_holes(simulate(2000, seed=1), [f"y{i}" for i in range(1, 10)], 0.10, seed=2)
    result = cfa(data, SIM_MODEL, std_lv=True, nan_policy="fiml")
    assert result.converged and result.df == 24 and result.n_used == 2000
    for j, (factor, indicators) in enumerate(SIM_MODEL.items()):
        for i in indicators:
            row = param(result, factor, "=~", i)
            truth = TRUE_LOADINGS[int(i[1:]) - 1, j]
            assert abs(row["estimate"] - truth) < 3.5 * row["se"], (factor, i)
    for a, b, truth in [("f1", "f2", 0.3), ("f1", "f3", 0.5), ("f2", "f3", 0.4)]:
        row = param(result, a, "~~", b)
        assert abs(row["estimate"] - truth) < 3.5 * row["se"], (a, b)


def test_fiml_chi_square_and_standard_errors_over_replications():
    """30 samples of 400 from the true model with 15 % MCAR: the FIML chi-square has mean df
    within sampling error, and the (observed-information) SEs match the spread of the
    estimates."""
    columns = [f"y{i}" for i in range(1, 10)]
    fits = [cfa(with_holes(simulate(400, seed=200 + r), columns, 0.15, seed=r), SIM_MODEL,
                std_lv=True, nan_policy="fiml") for r in range(30)]
    assert all(f.converged for f in fits)
    chi2 = np.array([f.chi_square for f in fits])
    assert abs(chi2.mean() - 24) < 4 * math.sqrt(2 * 24 / len(fits))
    loadings = np.array([f.loadings["estimate"].to_numpy() for f in fits])
    ses = np.array([f.loadings["se"].to_numpy() for f in fits])
    ratio = ses.mean(axis=0) / loadings.std(axis=0, ddof=1)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_fiml_measurement_invariance_with_missing_values(hs_holes):
    """Three levels by school with 15 % MCAR: the usual df, every row used, and the
    configural model is the two schools' separate FIML fits side by side (chi-squares add up;
    estimates and observed-information SEs are the same)."""
    result = measurement_invariance(hs_holes, HS_MODEL, group="school", nan_policy="fiml")
    table = result.to_frame().set_index("level")
    assert table["df"].tolist() == [48, 54, 60] and table["converged"].all()
    assert (result.n_used, result.n_by_group, result.nan_policy) == (301, (156, 145), "fiml")
    assert all(fit.nan_policy == "fiml" for fit in result.fits)
    assert table["chi_square"].is_monotonic_increasing
    separate = [cfa(hs_holes[hs_holes["school"] == s], HS_MODEL, nan_policy="fiml")
                for s in ("Pasteur", "Grant-White")]
    assert table.at["configural", "chi_square"] == pytest.approx(
        sum(f.chi_square for f in separate), rel=1e-6)
    configural = result.fits[0].parameters
    for school, alone in zip(("Pasteur", "Grant-White"), separate, strict=True):
        mine = configural[configural["group"] == school].reset_index(drop=True)
        np.testing.assert_allclose(mine["estimate"], alone.parameters["estimate"], atol=1e-5)
        np.testing.assert_allclose(mine["se"], alone.parameters["se"], rtol=1e-4)
    listwise = measurement_invariance(hs_holes, HS_MODEL, group="school")
    assert listwise.n_used == 60 and listwise.nan_policy == "listwise"


def test_fiml_eight_factor_model_on_the_simulated_programme():
    """The instrument's 8 characteristics (36 items) on one simulated wave of 40
    collaborations: about 10 % of the answers are missing ("don't know", skipped), so only 127
    of 1422 respondents are complete, in 965 distinct patterns. FIML converges (in about a
    second) and its standardised loadings follow the simulated ones."""
    sim = simulate_programme(seed=1, n_collaborations=40, n_waves=1)
    model = {c: list(ids) for c, ids in
             sim.instrument.version("1.0").items_by_characteristic().items()}
    items = [i for members in model.values() for i in members]
    data = item_matrix(sim.data, sim.instrument, items=items, reverse=True)
    result = cfa(data, model, nan_policy="fiml")
    assert result.converged and result.reason is None  # speed is measured in bench/, not here
    assert (result.n_used, len(items), result.df) == (1422, 36, 566)
    assert "127 of them complete, 965 missing-data patterns" in result.notes[-1]
    truth = sim.truth.items.set_index("item_id")["loading"]
    loadings = result.loadings.set_index("rhs")["std_all"]
    assert np.corrcoef(loadings[items], truth[items])[0, 1] > 0.6
    assert cfa(data, model).n_used == 127


def test_fiml_rows_without_answers_and_unusable_data(hs):
    holes = hs.copy()
    holes.loc[[0, 5], HS_INDICATORS] = np.nan
    holes.loc[[7], ["x1", "x2"]] = np.nan
    result = cfa(holes, HS_MODEL, nan_policy="fiml")
    assert (result.n_used, result.n_total) == (299, 301)
    assert "2 rows with no indicator observed (or no group) left out" in result.notes
    apart = hs.copy()
    apart.loc[:150, "x1"] = np.nan
    apart.loc[150:, "x9"] = np.nan
    apart.loc[150, "x1"] = np.nan
    never = cfa(apart, HS_MODEL, nan_policy="fiml")
    assert not never.converged and math.isnan(never.chi_square)
    assert never.reason == ("indicators 'x1' and 'x9' are never observed together: their "
                            "covariance cannot be estimated")
    few = cfa(hs.head(9), HS_MODEL, nan_policy="fiml")
    assert few.reason.startswith("only 9 rows with any answer for 9 indicators")
    constant = cfa(hs.assign(x5=2.0), HS_MODEL, nan_policy="fiml")
    assert constant.reason == "indicator 'x5' has no variance"
    assert list(constant.to_frame().columns) == list(result.to_frame().columns)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(scale=st.floats(0.05, 50.0), shift=st.floats(-10.0, 10.0))
def test_rescaling_an_indicator_changes_no_fit_or_standardised_figure(scale, shift):
    data = simulate(300, seed=3)
    base = cfa(data, SIM_MODEL)
    moved = cfa(data.assign(y2=data["y2"] * scale + shift, y4=data["y4"] * scale), SIM_MODEL)
    for name in ("chi_square", "cfi", "tli", "rmsea", "srmr"):
        assert getattr(moved, name) == pytest.approx(getattr(base, name), rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(moved.parameters["std_all"], base.parameters["std_all"],
                               atol=1e-6)


def test_row_order_factor_order_and_group_order_change_nothing(hs):
    base = cfa(hs, HS_MODEL)
    shuffled = cfa(hs.sample(frac=1, random_state=4), dict(reversed(list(HS_MODEL.items()))))
    assert shuffled.chi_square == pytest.approx(base.chi_square, rel=1e-9)
    assert param(shuffled, "visual", "=~", "x3")["estimate"] == pytest.approx(
        param(base, "visual", "=~", "x3")["estimate"], rel=1e-7)
    first = measurement_invariance(hs, HS_MODEL, group="school").to_frame()
    flipped = measurement_invariance(hs.iloc[::-1], HS_MODEL, group="school")
    assert flipped.groups == ("Grant-White", "Pasteur")
    np.testing.assert_allclose(flipped.to_frame()["chi_square"], first["chi_square"], rtol=1e-8)


# --- missing data, failures and errors -------------------------------------------------------


def test_listwise_deletion_is_counted_and_equals_dropping_rows(hs):
    holes = hs.copy()
    holes.loc[[3, 10, 11], "x2"] = np.nan
    holes.loc[[10, 50], "x9"] = np.nan
    holes.loc[[5], "ageyr"] = np.nan  # not an indicator: ignored
    result = cfa(holes, HS_MODEL)
    assert (result.n_used, result.n_total) == (297, 301)
    dropped = cfa(holes.dropna(subset=["x2", "x9"]), HS_MODEL)
    assert result.chi_square == pytest.approx(dropped.chi_square, rel=1e-9)
    frame = result.to_frame()
    assert frame.loc[0, "n_used"] == 297 and frame.loc[0, "n_total"] == 301


def test_too_few_rows_gives_nan_with_a_reason(hs):
    result = cfa(hs.head(8), HS_MODEL)
    assert not result.converged and result.n_used == 8
    assert "only 8 complete rows for 9 indicators" in result.reason
    assert math.isnan(result.chi_square) and math.isnan(result.cfi) and result.df == 24
    assert result.parameters["estimate"].isna().sum() == 21  # free ones; fixed loadings stay 1
    assert list(result.to_frame().columns) == list(cfa(hs, HS_MODEL).to_frame().columns)


def test_constant_indicator_gives_a_reason(hs):
    result = cfa(hs.assign(x5=2.0), HS_MODEL)
    assert result.reason == "indicator 'x5' has no variance"


def test_non_convergence_is_a_result_not_an_exception(hs, monkeypatch):
    monkeypatch.setattr(cfa_module, "_GRAD_TOL", -1.0)
    result = cfa(hs, HS_MODEL)
    assert not result.converged and result.reason.startswith("the optimiser did not converge")
    assert math.isnan(result.rmsea) and result.iterations > 0
    assert result.parameters.loc[result.parameters["free"] > 0, "estimate"].isna().all()


def test_invariance_with_a_group_too_small(hs):
    small = pd.concat([hs[hs["school"] == "Pasteur"], hs[hs["school"] == "Grant-White"].head(5)])
    result = measurement_invariance(small, HS_MODEL, group="school")
    assert isinstance(result, InvarianceResult)
    table = result.to_frame()
    assert table["chi_square"].isna().all() and table["supported"].isna().all()
    assert "only 5 complete rows in group 'Grant-White'" in table.loc[0, "reason"]
    assert result.verdict.startswith("not assessed") and result.supported is None


@pytest.mark.parametrize("model, second_order, message", [
    ({"visual": ["x1", "x2", "zz"]}, None, "'zz' not found in data"),
    ({"visual": ["x1"], "textual": ["x4", "x5"]}, None, "model['visual'] has 1 indicator"),
    ({"visual": ["x1", "x2"]}, None, "not identified"),
    ({"visual": ["x1", "x1", "x2"]}, None, "names 'x1' more than once"),
    ({"visual": "x1 + x2 + x3"}, None, "must be a list of names"),
    ({}, None, "non-empty mapping"),
    ({"f": ["x2", "x3", "g"], "g": ["x4", "x5"]}, None, "'g' is both a factor and an indicator"),
    (HS_MODEL, {"g": ["visual"]}, "second_order['g'] has 1 first-order factor"),
    (HS_MODEL, {"g": ["visual", "verbal"]}, "'verbal', not a factor of model"),
    (HS_MODEL, {"g": ["visual", "speed"], "h": ["speed", "textual"]}, "more than one"),
])
def test_malformed_models_raise_parameter_errors(hs, model, second_order, message):
    with pytest.raises(ParameterError) as error:
        cfa(hs, model, second_order=second_order)
    assert message in str(error.value)


def test_bad_options_raise_parameter_errors(hs):
    with pytest.raises(ParameterError, match="nan_policy must be 'listwise' or 'fiml'"):
        cfa(hs, HS_MODEL, nan_policy="pairwise")
    with pytest.raises(ParameterError, match="nan_policy must be one of 'listwise', 'fiml'; "
                                             "got 'ml'"):
        cfa(hs, HS_MODEL, nan_policy="ml")
    with pytest.raises(ParameterError, match="nan_policy must be 'listwise' or 'fiml'"):
        measurement_invariance(hs, HS_MODEL, group="school", nan_policy="pairwise")
    with pytest.raises(ParameterError, match="std_lv must be True or False"):
        cfa(hs, HS_MODEL, std_lv="yes")
    with pytest.raises(ParameterError, match="data must be a pandas DataFrame"):
        cfa(hs.to_numpy(), HS_MODEL)
    with pytest.raises(ParameterError, match="indicator column 'x1' of data must be numeric"):
        cfa(hs.assign(x1=hs["x1"].astype(str)), HS_MODEL)
    with pytest.raises(ParameterError, match="group must name a column"):
        measurement_invariance(hs, HS_MODEL, group="district")
    with pytest.raises(ParameterError, match="levels must start with 'configural'"):
        measurement_invariance(hs, HS_MODEL, group="school", levels=("metric", "scalar"))
    with pytest.raises(ParameterError, match="levels must be one of"):
        measurement_invariance(hs, HS_MODEL, group="school", levels=("configural", "strict"))


@pytest.mark.parametrize("nan_policy", ["listwise", "fiml"])
def test_without_standard_errors_everything_else_is_the_same(hs_holes, nan_policy):
    """standard_errors=False skips the information matrix only: the estimates, std_all and
    every fit index equal the full fit's exactly (the same optimisation), the standard
    errors, z, p and intervals are NaN, and no note claims they could not be computed."""
    second = {"g": ["visual", "textual", "speed"]}
    full = cfa(hs_holes, HS_MODEL, second_order=second, nan_policy=nan_policy)
    quick = cfa(hs_holes, HS_MODEL, second_order=second, nan_policy=nan_policy,
                standard_errors=False)
    assert full.converged and quick.converged
    pd.testing.assert_frame_equal(quick.to_frame(), full.to_frame())
    same = ["lhs", "op", "rhs", "estimate", "std_all"]
    pd.testing.assert_frame_equal(quick.parameters[same], full.parameters[same])
    free = full.parameters["se"].notna()
    assert free.sum() > 20
    assert quick.parameters[["se", "z", "p_value"]].isna().all().all()
    assert quick.notes == full.notes
    invariance = measurement_invariance(hs_holes.dropna(subset=["school"]), HS_MODEL,
                                        group="school", nan_policy=nan_policy)
    quick_inv = measurement_invariance(hs_holes.dropna(subset=["school"]), HS_MODEL,
                                       group="school", nan_policy=nan_policy,
                                       standard_errors=False)
    pd.testing.assert_frame_equal(quick_inv.to_frame(), invariance.to_frame())
    assert quick_inv.verdict == invariance.verdict
    with pytest.raises(ParameterError, match="standard_errors"):
        cfa(hs_holes, HS_MODEL, standard_errors="no")
