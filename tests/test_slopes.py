"""Tests of trends that differ between collaborations (:mod:`collab_stats.slopes`).

Five kinds of test:

* reference - lme4's ``lmer(Reaction ~ Days + (Days | Subject), sleepstudy)``: the digits its
  ``summary()`` prints (the model of the lme4 vignette, Bates et al. 2015), its ``VarCorr``,
  ``coef`` and lmerTest's ``ranova`` test of the random slope, each beside its source;
* second code paths - a plain dense implementation (the REML criterion from the full
  ``V``, and Henderson's mixed-model equations for the conditional modes and their errors)
  for the grouped fast path; statsmodels' ``MixedLM`` (another optimiser) on sleepstudy, on
  200 simulated groups and, with ``vc_formula``, for the respondent intercept;
* recovery - data simulated with a known spread of slopes;
* properties - row order, group labels and the scale of time;
* edge cases and parameters - NaN with a reason, errors that name the parameter and column.

Simulations use fixed seeds, so every test is deterministic.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from reference_data import read_reference
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

from collab_stats.change import TREND_LABELS
from collab_stats.errors import ParameterError
from collab_stats.slopes import (
    SLOPES_LABELS,
    CollaborationSlopes,
    RandomSlopeResult,
    collaboration_slopes,
    random_slope_model,
)

# lme4 (>= 1.1-7), REML: fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy).
# summary(fm1) prints (the output shown in the lme4 vignette, Bates, Maechler, Bolker & Walker
# 2015, JSS 67(1), section 1, and reproduced verbatim by every rendering of that call found,
# e.g. benwhalley/just-enough-r multilevel-models.md):
#   REML criterion at convergence: 1743.6
#   Subject  (Intercept) 612.10   24.741
#            Days         35.07    5.922   0.07
#   Residual             654.94   25.592
#   (Intercept)  251.405      6.825  36.838
#   Days          10.467      1.546   6.771
#   Correlation of Fixed Effects: Days -0.138
SUMMARY = {"reml_criterion": (1743.6, 0.05),
           "intercept": (251.405, 5e-4), "intercept_se": (6.825, 5e-4),
           "intercept_z": (36.838, 5e-4), "slope": (10.467, 5e-4), "slope_se": (1.546, 5e-4),
           "slope_z": (6.771, 5e-4), "sd_slope": (5.922, 5e-4),
           "corr_intercept_slope": (0.07, 5e-3), "sd_residual": (25.592, 5e-4)}
# The variances, printed to 2 decimals, are 612.10, 35.07 and 654.94.
VARIANCES = {"sd_slope": (35.07, 5e-3), "sd_residual": (654.94, 5e-3)}
# as.data.frame(VarCorr(fm1)) to full precision (lme4's own estimate):
#   Subject (Intercept) 612.100158 24.7406580; Days 35.071714 5.9221377;
#   cov 9.604409 (corr 0.0655512); Residual 654.940008 25.5917957
LME4_VARCORR = {"var_intercept": 612.100158, "var_slope": 35.071714, "cov": 9.604409,
                "var_residual": 654.940008}
# coef(fm1)$Subject as printed by lme4 (intercept to 4 decimals, slope to 7):
LME4_COEF = {
    308: (253.6637, 19.6662617), 309: (211.0064, 1.8476053), 310: (212.4447, 5.0184295),
    330: (275.0957, 5.6529356), 331: (273.6654, 7.3973743), 332: (260.4447, 10.1951090),
    333: (268.2456, 10.2436499), 334: (244.1725, 11.5418676), 335: (251.0714, -0.2848792),
    337: (286.2956, 19.0955511), 349: (226.1949, 11.6407181), 350: (238.3351, 17.0815038),
    351: (255.9830, 7.4520239), 352: (272.2688, 14.0032871), 369: (254.6806, 11.3395008),
    370: (225.7921, 15.2897709), 371: (252.2122, 9.4791297), 372: (263.7197, 11.7513080)}
# lmerTest::ranova(fm1) - benwhalley/just-enough-r, multilevel-models.md - reduces
# (Days | Subject) to (1 | Subject), a REML likelihood ratio (= anova(fm1, fm0, refit = FALSE)):
#   <none>                      npar 6  logLik -871.81
#   Days in (Days | Subject)    npar 4  logLik -893.23   LRT 42.837  Df 2  Pr(>Chisq) 4.99e-10
RANOVA = {"loglik": -871.81, "loglik_null": -893.23, "lrt": 42.837, "df": 2, "p": 4.99e-10}


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    """lme4 1.1-37's sleepstudy: 18 subjects x 10 days."""
    data = read_reference("sleepstudy.csv")
    assert data.shape == (180, 3) and data["Subject"].nunique() == 18
    return data


@pytest.fixture(scope="module")
def sleep_fit(sleepstudy) -> RandomSlopeResult:
    return random_slope_model(sleepstudy, response="Reaction", time="Days", group="Subject")


def simulate(seed, *, n_groups, n_waves, per_wave, sd_intercept=0.5, sd_slope=0.15, corr=0.3,
             sd_respondent=0.0, panel=0, sd_residual=0.6, slope=0.2) -> pd.DataFrame:
    """Groups x waves x respondents; the first ``panel`` respondents of a group answer in
    every wave (same id), the others once."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_waves * per_wave)
    w = np.tile(np.repeat(np.arange(n_waves), per_wave), n_groups)
    j = np.tile(np.arange(per_wave), n_groups * n_waves)
    rid = np.where(j < panel, j, 1000 * (w + 1) + j)  # ids reused across groups on purpose
    cov = np.array([[sd_intercept**2, corr * sd_intercept * sd_slope],
                    [corr * sd_intercept * sd_slope, sd_slope**2]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    person = pd.factorize(pd.Series(list(zip(g, rid, strict=True))))[0]
    v = rng.normal(0.0, sd_respondent, person.max() + 1)
    y = 3.0 + slope * w + b[g, 0] + b[g, 1] * w + v[person] + rng.normal(0, sd_residual, len(g))
    return pd.DataFrame({"y": y, "t": w.astype(float), "g": g, "r": rid})


# --- a plain dense reference implementation ----------------------------------------------------


def dense_reference(data, theta, *, respondent=None):
    """Everything from the full matrices, straight from Bates et al. (2015), section 3, and
    Henderson's mixed-model equations: REML criterion, beta, sigma^2, the conditional modes
    b_g, their conditional covariance and the prediction-error covariance of beta + b_g."""
    y = data["y"].to_numpy(float)
    t = data["t"].to_numpy(float)
    g = pd.factorize(data["g"], sort=True)[0]
    n, n_groups = len(y), g.max() + 1
    X = np.column_stack([np.ones(n), t])
    lam = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    Z = np.zeros((n, 2 * n_groups))
    Z[np.arange(n), 2 * g] = 1.0
    Z[np.arange(n), 2 * g + 1] = t
    blocks = [np.kron(np.eye(n_groups), lam)]
    Zs = [Z]
    if respondent is not None:
        r = data.groupby([respondent, "g"], sort=False).ngroup().to_numpy()
        Zr = np.zeros((n, r.max() + 1))
        Zr[np.arange(n), r] = 1.0
        Zs.append(Zr)
        blocks.append(theta[3] * np.eye(r.max() + 1))
    Zl = np.hstack([z @ b for z, b in zip(Zs, blocks, strict=True)])  # Z Lambda
    V = np.eye(n) + Zl @ Zl.T
    Vi = np.linalg.inv(V)
    xvx = X.T @ Vi @ X
    beta = np.linalg.solve(xvx, X.T @ Vi @ y)
    resid = y - X @ beta
    r2 = resid @ Vi @ resid
    df = n - 2
    crit = (np.linalg.slogdet(V)[1] + np.linalg.slogdet(xvx)[1]
            + df * (1 + math.log(2 * math.pi * r2 / df)))
    sigma2 = r2 / df
    q = Zl.shape[1]
    C = np.block([[X.T @ X, X.T @ Zl], [Zl.T @ X, Zl.T @ Zl + np.eye(q)]])
    sol = np.linalg.solve(C, np.concatenate([X.T @ y, Zl.T @ y]))
    Ci = np.linalg.inv(C)
    # lme4's condVar is conditional on beta: sigma^2 Lambda (Lambda'Z'Z Lambda + I)^-1 Lambda'
    # (the lme4 vignette's condVarExample); the prediction errors use all of C^-1.
    Ui = np.linalg.inv(Zl.T @ Zl + np.eye(q))
    u = sol[2:2 + 2 * n_groups].reshape(n_groups, 2)
    ranef = u @ lam.T
    cond, pev = [], []
    for k in range(n_groups):
        idx = 2 + 2 * k + np.arange(2)
        cond.append(sigma2 * lam @ Ui[np.ix_(idx - 2, idx - 2)] @ lam.T)
        L = np.zeros((2, 2 + q))
        L[:, :2] = np.eye(2)
        L[:, idx] = lam
        pev.append(sigma2 * L @ Ci @ L.T)
    return dict(crit=crit, beta=beta, sigma2=sigma2, ranef=ranef, cond=np.array(cond),
                pev=np.array(pev), beta_mme=sol[:2], vcov=sigma2 * np.linalg.inv(xvx))


def theta_of(fit: RandomSlopeResult) -> np.ndarray:
    """The relative covariance factor of a fit (lme4's getME(m, "theta"))."""
    s = fit.sd_residual
    cov = fit.corr_intercept_slope * fit.sd_intercept * fit.sd_slope
    chol = np.linalg.cholesky(np.array([[fit.sd_intercept**2, cov],
                                        [cov, fit.sd_slope**2]]) / s**2)
    tr = fit.sd_respondent / s if not math.isnan(fit.sd_respondent) else 0.0
    return np.array([chol[0, 0], chol[1, 0], chol[1, 1], tr])


# --- reference: lme4 on sleepstudy --------------------------------------------------------------


def test_sleepstudy_matches_lme4_summary(sleep_fit, sleepstudy):
    """summary(fm1)'s printed digits, to half a unit of the last printed digit - except the
    intercept's SD and variance, which lme4 itself has not converged to that precision: its
    own estimate 612.100158 has a larger REML criterion than ours (see the next test; the
    criterion is flat in that direction), and the optimum is 612.0900 (24.74045), so those two
    are checked to 0.001 and 0.02 (two units of their last printed digit)."""
    fit = sleep_fit
    assert fit.converged and not fit.singular and fit.reason == "" and fit.warnings == ""
    assert (fit.n_used, fit.n_total, fit.n_groups, fit.n_times) == (180, 180, 18, 10)
    assert fit.model == "Reaction ~ Days + (Days | Subject)"
    for name, (value, tol) in SUMMARY.items():
        assert getattr(fit, name) == pytest.approx(value, abs=tol), name
    for name, (value, tol) in VARIANCES.items():
        assert getattr(fit, name) ** 2 == pytest.approx(value, abs=tol), name
    assert fit.sd_intercept == pytest.approx(24.741, abs=1e-3)
    assert fit.sd_intercept**2 == pytest.approx(612.10, abs=0.02)
    # Correlation of fixed effects -0.138 (printed to 3 decimals), from vcov at our theta.
    data = sleepstudy.rename(columns={"Reaction": "y", "Days": "t", "Subject": "g"})
    vcov = dense_reference(data, theta_of(fit))["vcov"]
    np.testing.assert_allclose(np.sqrt(np.diag(vcov)), [fit.intercept_se, fit.slope_se],
                               rtol=1e-8)
    assert vcov[0, 1] / (fit.intercept_se * fit.slope_se) == pytest.approx(-0.138, abs=5e-4)
    # Wald intervals (lme4's confint(fm1, method = "Wald")): estimate +- 1.959964 SE.
    assert fit.slope_ci_low == pytest.approx(fit.slope - stats.norm.ppf(0.975) * fit.slope_se)


def test_sleepstudy_reml_criterion_dense_reference_and_lme4_estimate(sleep_fit, sleepstudy):
    """The fast path's REML criterion equals the dense computation at the same theta (1e-8),
    and is not larger than the criterion at lme4's own full-precision estimates
    (as.data.frame(VarCorr(fm1))): our optimum is at least as good as lme4's, and the two
    criteria agree to 1e-6 (lme4 prints 1743.6; REMLcrit(fm1) = 1743.628)."""
    data = sleepstudy.rename(columns={"Reaction": "y", "Days": "t", "Subject": "g"})
    ours = dense_reference(data, theta_of(sleep_fit))
    assert sleep_fit.reml_criterion == pytest.approx(ours["crit"], abs=1e-8)
    ref = LME4_VARCORR
    chol = np.linalg.cholesky(np.array([[ref["var_intercept"], ref["cov"]],
                                        [ref["cov"], ref["var_slope"]]]) / ref["var_residual"])
    lme4 = dense_reference(data, [chol[0, 0], chol[1, 0], chol[1, 1], 0.0])
    assert sleep_fit.reml_criterion <= lme4["crit"] + 1e-10
    assert sleep_fit.reml_criterion == pytest.approx(lme4["crit"], abs=1e-6)
    assert sleep_fit.reml_criterion == pytest.approx(1743.628, abs=5e-4)
    # The estimates lme4 reports agree with ours to lme4's optimiser precision (1e-4 relative).
    assert sleep_fit.sd_intercept**2 == pytest.approx(ref["var_intercept"], rel=1e-4)
    assert sleep_fit.sd_slope**2 == pytest.approx(ref["var_slope"], rel=1e-4)
    assert sleep_fit.sd_residual**2 == pytest.approx(ref["var_residual"], rel=1e-4)


def test_sleepstudy_random_slope_lrt_matches_ranova(sleep_fit):
    """lmerTest::ranova(fm1): LRT 42.837 on 2 df, p 4.99e-10, logLik -871.81 and -893.23
    (REML; REMLcrit = -2 logLik). Tolerances: half the last printed digit (p: 3 significant
    digits). The mixture p-value is 0.5 P(chi2_1 > LRT) + 0.5 P(chi2_2 > LRT)."""
    fit = sleep_fit
    assert fit.lrt_statistic == pytest.approx(RANOVA["lrt"], abs=5e-4)
    assert fit.lrt_df == RANOVA["df"]
    assert fit.lrt_p_value_naive == pytest.approx(RANOVA["p"], rel=1e-3)
    assert -fit.reml_criterion / 2 == pytest.approx(RANOVA["loglik"], abs=5e-3)
    assert -fit.reml_criterion_null / 2 == pytest.approx(RANOVA["loglik_null"], abs=5e-3)
    # lmer(Reaction ~ Days + (1 | Subject)) prints "REML criterion at convergence: 1786.5".
    assert fit.reml_criterion_null == pytest.approx(1786.5, abs=0.05)
    mixture = 0.5 * stats.chi2.sf(fit.lrt_statistic, 1) + 0.5 * stats.chi2.sf(fit.lrt_statistic, 2)
    assert fit.lrt_p_value == pytest.approx(mixture, rel=1e-12)
    assert fit.lrt_p_value < fit.lrt_p_value_naive


def test_sleepstudy_coef_matches_lme4(sleep_fit):
    """coef(fm1)$Subject as printed by lme4. lme4's optimiser stops about 1e-5 (relative)
    from the optimum (previous tests), which moves the intercepts by up to 2e-4 and the slopes
    by up to 3e-5: checked to 5e-4 and 5e-5."""
    groups = sleep_fit.groups.set_index("Subject")
    assert list(groups.index) == sorted(LME4_COEF)
    for subject, (intercept, slope) in LME4_COEF.items():
        assert groups.loc[subject, "intercept"] == pytest.approx(intercept, abs=5e-4)
        assert groups.loc[subject, "slope"] == pytest.approx(slope, abs=5e-5)
    assert (groups["n_obs"] == 10).all()
    np.testing.assert_allclose(groups["slope"], sleep_fit.slope + groups["slope_deviation"])


def test_sleepstudy_conditional_modes_dense_reference(sleep_fit, sleepstudy):
    """ranef(fm1, condVar = TRUE) and the prediction errors of coef from Henderson's mixed
    model equations, dense, at the same theta: the same numbers to 1e-8 (relative)."""
    data = sleepstudy.rename(columns={"Reaction": "y", "Days": "t", "Subject": "g"})
    ref = dense_reference(data, theta_of(sleep_fit))
    groups = sleep_fit.groups
    np.testing.assert_allclose(ref["beta_mme"], [sleep_fit.intercept, sleep_fit.slope],
                               rtol=1e-8)
    np.testing.assert_allclose(groups[["intercept_deviation", "slope_deviation"]], ref["ranef"],
                               rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(groups["intercept_deviation_sd"] ** 2, ref["cond"][:, 0, 0],
                               rtol=1e-8)
    np.testing.assert_allclose(groups["slope_deviation_sd"] ** 2, ref["cond"][:, 1, 1],
                               rtol=1e-8)
    np.testing.assert_allclose(groups["slope_se"] ** 2, ref["pev"][:, 1, 1], rtol=1e-8)
    np.testing.assert_allclose(groups["intercept_se"] ** 2, ref["pev"][:, 0, 0], rtol=1e-8)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(groups["slope_ci_high"], groups["slope"] + z * groups["slope_se"])
    assert (groups["slope_se"] > groups["slope_deviation_sd"]).all()


# --- second code path: statsmodels ---------------------------------------------------------------


def _statsmodels(data, *, group, time="t", response="y", vc=None):
    model = MixedLM.from_formula(f"{response} ~ {time}", data, groups=data[group],
                                 re_formula=f"~{time}", vc_formula=vc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter; checked below
        return model.fit(reml=True)


def _compare_statsmodels(fit, sm, *, rel=1e-4, rel_se=1e-4):
    """Fixed effects, SEs, variance components, REML log-likelihood (statsmodels' REML
    llf is lme4's -REMLcrit/2): different optimisers stop at different points of a flat
    criterion, so 1e-4 relative; ours is never the worse optimum."""
    assert sm.converged
    np.testing.assert_allclose([fit.intercept, fit.slope], sm.fe_params, rtol=rel)
    np.testing.assert_allclose([fit.intercept_se, fit.slope_se], sm.bse_fe, rtol=rel_se)
    cov = np.asarray(sm.cov_re)
    assert fit.sd_intercept**2 == pytest.approx(cov[0, 0], rel=rel)
    assert fit.sd_slope**2 == pytest.approx(cov[1, 1], rel=rel)
    assert fit.corr_intercept_slope == pytest.approx(
        cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), rel=rel, abs=rel)
    assert fit.sd_residual**2 == pytest.approx(sm.scale, rel=rel)
    assert -fit.reml_criterion / 2 >= sm.llf - 1e-7
    assert -fit.reml_criterion / 2 == pytest.approx(sm.llf, abs=1e-5)


def test_sleepstudy_statsmodels(sleep_fit, sleepstudy):
    sm = _statsmodels(sleepstudy, group="Subject", time="Days", response="Reaction")
    _compare_statsmodels(sleep_fit, sm)
    re = pd.DataFrame(sm.random_effects).T.sort_index()
    np.testing.assert_allclose(sleep_fit.groups["intercept_deviation"], re["Group"], rtol=1e-4,
                               atol=1e-3)
    np.testing.assert_allclose(sleep_fit.groups["slope_deviation"], re["Days"], rtol=1e-4,
                               atol=1e-4)


def test_two_hundred_groups_statsmodels():
    data = simulate(7, n_groups=200, n_waves=6, per_wave=1)
    fit = random_slope_model(data, response="y", time="t", group="g")
    assert fit.converged and not fit.singular
    _compare_statsmodels(fit, _statsmodels(data, group="g"))


def test_respondent_intercept_statsmodels_and_dense_reference():
    """score ~ t + (t | g) + (1 | r:g): statsmodels with vc_formula (a respondent variance
    component within each group) and the dense reference give the same fit."""
    data = simulate(5, n_groups=40, n_waves=3, per_wave=8, panel=5, sd_respondent=0.6,
                    sd_slope=0.15)
    data = data[np.random.default_rng(1).random(len(data)) > 0.1].reset_index(drop=True)
    fit = random_slope_model(data, response="y", time="t", group="g", respondent="r")
    assert fit.converged and fit.reason == ""
    assert fit.model == "y ~ t + (t | g) + (1 | r:g)"
    assert fit.n_respondents == data.groupby(["g", "r"]).ngroups
    sm = _statsmodels(data, group="g", vc={"r": "0 + C(r)"})
    # With a variance component statsmodels' bse_fe come from its Hessian of the whole
    # likelihood, not lme4's vcov = sigma^2 (X'V^-1 X)^-1 (which the dense reference checks
    # below): at statsmodels' own estimates that formula gives a slope SE 0.0348007 where it
    # reports 0.0348122 here. So its SEs are compared to 5e-4 only.
    _compare_statsmodels(fit, sm, rel_se=5e-4)
    assert fit.sd_respondent**2 == pytest.approx(sm.vcomp[0], rel=1e-4)
    ref = dense_reference(data, theta_of(fit), respondent="r")
    assert fit.reml_criterion == pytest.approx(ref["crit"], abs=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(ref["vcov"])), [fit.intercept_se, fit.slope_se],
                               rtol=1e-8)
    groups = fit.groups
    np.testing.assert_allclose(groups[["intercept_deviation", "slope_deviation"]], ref["ranef"],
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(groups["slope_deviation_sd"] ** 2, ref["cond"][:, 1, 1], rtol=1e-8)
    np.testing.assert_allclose(groups["slope_se"] ** 2, ref["pev"][:, 1, 1], rtol=1e-8)
    # The null model keeps the respondent intercept: (1 | g) + (1 | r:g).
    null = _statsmodels_null(data)
    assert -fit.reml_criterion_null / 2 == pytest.approx(null.llf, abs=1e-5)


def _statsmodels_null(data):
    model = MixedLM.from_formula("y ~ t", data, groups=data["g"], re_formula="1",
                                 vc_formula={"r": "0 + C(r)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True)


# --- recovery -------------------------------------------------------------------------------------


def test_recovers_known_spread_of_slopes():
    """600 groups x 4 waves x 6 respondents (3 in every wave), true SDs: intercept 0.5,
    slope 0.15, respondent 0.4, residual 0.6, correlation 0.3, average slope 0.2. Over 30
    replicates of this design (seeds 100-129) the estimates averaged 0.500, 0.150, 0.401,
    0.599, 0.31 and 0.203, with sampling SDs 0.016, 0.007, 0.010, 0.006, 0.06 and 0.008;
    each is checked to about 4 sampling SDs."""
    data = simulate(11, n_groups=600, n_waves=4, per_wave=6, panel=3, sd_respondent=0.4)
    fit = random_slope_model(data, response="y", time="t", group="g", respondent="r")
    assert fit.converged and not fit.singular
    assert fit.sd_intercept == pytest.approx(0.5, abs=0.065)
    assert fit.sd_slope == pytest.approx(0.15, abs=0.028)
    assert fit.sd_respondent == pytest.approx(0.4, abs=0.04)
    assert fit.sd_residual == pytest.approx(0.6, abs=0.025)
    assert fit.corr_intercept_slope == pytest.approx(0.3, abs=0.24)
    assert fit.slope == pytest.approx(0.2, abs=0.032)
    assert fit.slope_ci_low < 0.2 < fit.slope_ci_high
    assert fit.lrt_p_value < 1e-6
    # Each group's slope is shrunk towards the mean: its spread is below the true 0.15.
    assert fit.groups["slope"].std() < 0.15


def test_no_spread_of_slopes_is_not_detected_and_is_a_boundary_fit():
    data = simulate(3, n_groups=60, n_waves=4, per_wave=3, sd_slope=0.0, corr=0.0)
    fit = random_slope_model(data, response="y", time="t", group="g")
    assert fit.lrt_p_value > 0.05
    assert fit.lrt_p_value <= fit.lrt_p_value_naive
    if fit.singular:
        assert "singular" in fit.warnings


# --- properties -------------------------------------------------------------------------------


def test_row_order_and_group_labels_change_nothing():
    data = simulate(2, n_groups=30, n_waves=4, per_wave=2)
    fit = random_slope_model(data, response="y", time="t", group="g")
    shuffled = data.sample(frac=1.0, random_state=4).assign(g=lambda d: "G" + d["g"].astype(str))
    other = random_slope_model(shuffled, response="y", time="t", group="g")
    for name in ("intercept", "slope", "slope_se", "sd_intercept", "sd_slope", "sd_residual",
                 "reml_criterion", "lrt_statistic"):
        assert getattr(other, name) == pytest.approx(getattr(fit, name), rel=1e-6), name
    mine = fit.groups.assign(g="G" + fit.groups["g"].astype(str)).set_index("g")
    theirs = other.groups.set_index("g").loc[mine.index]
    np.testing.assert_allclose(theirs["slope"], mine["slope"], rtol=1e-5)


def test_time_in_other_units_rescales_the_slopes():
    """Time in months (x 6) instead of waves: the same model, slopes / 6."""
    data = simulate(9, n_groups=40, n_waves=4, per_wave=2)
    fit = random_slope_model(data, response="y", time="t", group="g")
    months = random_slope_model(data.assign(t=data["t"] * 6), response="y", time="t", group="g")
    assert months.slope == pytest.approx(fit.slope / 6, rel=1e-6)
    assert months.sd_slope == pytest.approx(fit.sd_slope / 6, rel=1e-4)
    assert months.sd_intercept == pytest.approx(fit.sd_intercept, rel=1e-4)
    assert months.lrt_statistic == pytest.approx(fit.lrt_statistic, abs=1e-5)


# --- collaboration_slopes -----------------------------------------------------------------------


def _scores(data: pd.DataFrame, characteristic="PS") -> pd.DataFrame:
    waves = [f"W{int(t)}" for t in data["t"]]
    return pd.DataFrame({
        "wave_id": pd.Categorical(waves, categories=sorted(set(waves))),
        "collaboration_id": "C" + data["g"].astype(str).str.zfill(3),
        "respondent_id": "R" + data["g"].astype(str) + "-" + data["r"].astype(str),
        "characteristic": characteristic, "score": data["y"].to_numpy()})


def test_collaboration_slopes_sleepstudy_verdict(sleep_fit, sleepstudy):
    """Subjects as collaborations, days as waves, one score each: the same model as
    random_slope_model; improving on average, and the subjects differ in how fast."""
    scores = pd.DataFrame({
        "wave_id": sleepstudy["Days"].astype(int).astype(str),
        "collaboration_id": sleepstudy["Subject"].astype(str),
        "respondent_id": [f"p{i}" for i in range(len(sleepstudy))],
        "characteristic": "reaction", "score": sleepstudy["Reaction"]})
    out = collaboration_slopes(scores, wave_numbers={str(d): float(d) for d in range(10)})
    assert isinstance(out, CollaborationSlopes)
    row = out.summary.iloc[0]
    assert row["respondent"] == ""  # nobody answered twice: no respondent intercept
    assert row["reml_criterion"] == pytest.approx(sleep_fit.reml_criterion, abs=1e-6)
    assert row["slope"] == pytest.approx(sleep_fit.slope, rel=1e-9)
    assert row["trend_label"] == TREND_LABELS[0]
    assert row["slopes_label"] == SLOPES_LABELS[0]
    assert row["verdict"] == ("The programme is improving on average; collaborations differ "
                              "in how fast they change.")
    assert len(out.collaborations) == 18
    assert list(out.collaborations.columns[:2]) == ["characteristic", "collaboration_id"]
    tidy = out.to_frame()
    assert set(tidy["term"]) >= {"slope", "sd_slope", "random_slope_lrt"}
    assert (tidy["characteristic"] == "reaction").all()


def test_collaboration_slopes_panel_gets_a_respondent_intercept():
    data = simulate(4, n_groups=25, n_waves=3, per_wave=4, panel=2, sd_respondent=0.5)
    scores = pd.concat([_scores(data, "PS"), _scores(data.assign(y=-data["y"]), "TG")],
                       ignore_index=True)
    scores.loc[scores.index[:5], "score"] = np.nan
    out = collaboration_slopes(scores)
    assert list(out.summary["characteristic"]) == ["PS", "TG"]
    assert (out.summary["respondent"] == "respondent").all()
    assert out.summary["model"].str.endswith("+ (1 | respondent:collaboration_id)").all()
    ps = out.results["PS"]
    assert (ps.n_total, ps.n_used) == (300, 295)
    assert out.summary.set_index("characteristic").loc["TG", "trend_label"] == TREND_LABELS[2]
    plain = collaboration_slopes(scores, characteristic="PS", respondent_intercept=False)
    assert plain.summary.loc[0, "respondent"] == ""
    assert math.isnan(plain.summary.loc[0, "sd_respondent"])
    direct = random_slope_model(data.iloc[5:].assign(r=data["r"].astype(str) + "-"
                                                     + data["g"].astype(str)),
                                response="y", time="t", group="g", respondent="r")
    assert ps.reml_criterion == pytest.approx(direct.reml_criterion, abs=1e-6)


def test_collaboration_slopes_one_wave_is_not_tested():
    data = simulate(4, n_groups=10, n_waves=1, per_wave=3)
    out = collaboration_slopes(_scores(data))
    row = out.summary.iloc[0]
    assert row["trend_label"] == TREND_LABELS[3] and row["slopes_label"] == SLOPES_LABELS[2]
    assert "single time" in row["reason"] and math.isnan(row["slope"])
    assert row["verdict"] == ("The trend could not be estimated; whether collaborations differ "
                              "could not be tested.")
    assert out.collaborations.empty
    assert list(out.collaborations.columns[:3]) == ["characteristic", "collaboration_id", "n_obs"]


# --- edge cases: NaN with a reason ------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    (lambda d: d[d["g"] < 2], "fewer than 3 groups"),
    (lambda d: d[d["t"] == 0], "single time"),
    (lambda d: d.assign(y=1.0), "does not vary"),
    (lambda d: d[d["t"] == d["g"] % 2], "no group is observed at two different times"),
])
def test_cannot_fit_gives_nan_with_reason(change, reason):
    data = change(simulate(1, n_groups=8, n_waves=3, per_wave=2))
    fit = random_slope_model(data, response="y", time="t", group="g")
    assert reason in fit.reason
    assert math.isnan(fit.slope) and math.isnan(fit.sd_slope) and math.isnan(fit.lrt_p_value)
    assert not fit.converged and fit.n_used == len(data) and fit.groups.empty
    frame = fit.to_frame()
    assert (frame["reason"] == fit.reason).all() and frame["estimate"].isna().all()


def test_exact_lines_give_nan_with_reason():
    """Every group's responses exactly on its own line: the residual variance is 0 and the
    REML criterion has no minimum (it falls without bound as sigma -> 0)."""
    data = simulate(1, n_groups=6, n_waves=4, per_wave=1, sd_residual=0.0)
    fit = random_slope_model(data, response="y", time="t", group="g")
    assert "residual variance is 0" in fit.reason and math.isnan(fit.slope)


def test_respondent_that_never_repeats_gives_nan_with_reason():
    data = simulate(1, n_groups=8, n_waves=3, per_wave=2, panel=0)
    fit = random_slope_model(data, response="y", time="t", group="g", respondent="r")
    assert "more than one observation" in fit.reason and math.isnan(fit.slope)


def test_missing_values_are_counted_not_silently_dropped():
    data = simulate(6, n_groups=12, n_waves=3, per_wave=2)
    data.loc[[0, 5], "y"] = np.nan
    data.loc[7, "t"] = np.nan
    data["g"] = data["g"].astype(object)
    data.loc[9, "g"] = None
    fit = random_slope_model(data, response="y", time="t", group="g")
    assert (fit.n_total, fit.n_used) == (72, 68)
    assert fit.groups["n_obs"].sum() == 68
    tidy = fit.to_frame()
    assert (tidy["n_used"] == 68).all() and (tidy["n_total"] == 72).all()


def test_result_shape_is_the_same_fitted_or_not():
    good = random_slope_model(simulate(1, n_groups=8, n_waves=3, per_wave=2), response="y",
                              time="t", group="g")
    bad = random_slope_model(simulate(1, n_groups=2, n_waves=3, per_wave=2), response="y",
                             time="t", group="g")
    assert list(good.to_frame().columns) == list(bad.to_frame().columns)
    assert list(good.to_frame()["term"]) == list(bad.to_frame()["term"])
    assert list(good.groups.columns) == list(bad.groups.columns)
    assert good.as_dict().keys() == bad.as_dict().keys()


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"response": "score"}, "response must name a column of data"),
    ({"time": "wave"}, "time must name a column of data"),
    ({"group": 3}, "group must name a column of data"),
    ({"respondent": "who"}, "respondent must name a column of data"),
    ({"response": "label"}, "response column 'label' must be numeric"),
    ({"time": "label"}, "time column 'label' must be numeric"),
    ({"ci": 1.5}, "ci must be in (0, 1)"),
])
def test_bad_input_names_the_parameter_and_column(kwargs, message):
    data = simulate(1, n_groups=5, n_waves=2, per_wave=2).assign(label="x")
    options = {"response": "y", "time": "t", "group": "g", **kwargs}
    with pytest.raises(ParameterError) as error:
        random_slope_model(data, **options)
    assert message in str(error.value)


def test_bad_input_other():
    data = simulate(1, n_groups=5, n_waves=2, per_wave=2)
    with pytest.raises(ParameterError, match="data must be a DataFrame"):
        random_slope_model(data.to_numpy(), response="y", time="t", group="g")
    with pytest.raises(ParameterError, match="time column 't' must be finite"):
        random_slope_model(data.assign(t=np.inf), response="y", time="t", group="g")
    scores = _scores(data)
    with pytest.raises(ParameterError, match="characteristic must be one of 'PS'"):
        collaboration_slopes(scores, characteristic="XX")
    with pytest.raises(ParameterError, match="characteristic must be a characteristic id"):
        collaboration_slopes(scores, characteristic=5)
    with pytest.raises(ParameterError, match="respondent_intercept must be True, False or None"):
        collaboration_slopes(scores, respondent_intercept="yes")
    with pytest.raises(ParameterError, match="missing: score"):
        collaboration_slopes(scores.drop(columns="score"))
    with pytest.raises(ParameterError, match="wave_numbers must give a number for every wave"):
        collaboration_slopes(scores, wave_numbers={"W0": 0.0})
