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
from scipy import optimize

from collab_stats import cfa as cfa_module
from collab_stats.cfa import CFAResult, cfa
from collab_stats.errors import ParameterError
from collab_stats.invariance import InvarianceResult, measurement_invariance

RESULTS = Path(__file__).parent / "results" / "lavaan_holzinger_swineford.yaml"
HS_MODEL = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
            "speed": ["x7", "x8", "x9"]}


def reference(case: str) -> dict:
    return yaml.safe_load(RESULTS.read_text(encoding="utf-8"))[case]


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return read_reference("HolzingerSwineford1939.csv")


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
def test_analytic_gradient_matches_finite_differences(hs, std_lv):
    """The objective of a two-group, second-order model with means (every matrix in play)."""
    spec = cfa_module._parse_model(list(hs.columns), HS_MODEL,
                                   {"g": ["visual", "textual", "speed"]})
    x = cfa_module._numeric(hs, spec.indicators)
    school = hs["school"].to_numpy()
    sample, reason = cfa_module._sample(x, school, ["Pasteur", "Grant-White"], spec.indicators)
    assert reason is None
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
    with pytest.raises(ParameterError, match="nan_policy must be 'listwise'"):
        cfa(hs, HS_MODEL, nan_policy="pairwise")
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
