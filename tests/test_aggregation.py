"""Tests of the aggregation statistics (:mod:`collab_stats.aggregation`).

Four kinds of test:

* reference - published figures for R's ``multilevel`` data sets (``bh1996``, ``lq2002``), each
  beside its source and a tolerance that says what precision is claimed, and independent
  second code paths where no published figure is known for certain: the one-way ANOVA from
  statsmodels (``ols`` + ``anova_lm``), the REML random-intercept model (statsmodels
  ``MixedLM``), and plain per-group loops written here;
* recovery - data simulated with a known ICC, perfect agreement or random answering;
* properties (hypothesis) - relabelling groups and reordering rows change nothing; missing
  values reduce ``n_used`` by exactly their number;
* parameters - every bad option raises a ParameterError that names the parameter and what
  is allowed.

The reference CSVs live in the shared reference-data folder (see its SOURCES.md: converted
without change from multilevel 2.8's ``.rda`` files); set ``COLLAB_STATS_REFERENCE_DATA`` to
use another copy. Simulations use fixed seeds, so every test is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_data import read_reference

from collab_stats.aggregation import (
    AgreementResult,
    ICCResult,
    aggregation_verdict,
    grouped_icc,
    icc1,
    icc2,
    rwg,
    rwg_j,
)
from collab_stats.errors import AnalysisError, CollabStatsError, ParameterError

BH_VARIABLES = ["HRS", "WBEING", "COHES", "LEAD"]
LEAD_ITEMS = [f"LEAD{i:02d}" for i in range(1, 12)]


def _read_reference(name: str) -> pd.DataFrame:
    return read_reference(name)


@pytest.fixture(scope="module")
def bh1996() -> pd.DataFrame:
    """multilevel's bh1996: 7,382 soldiers in 99 companies (GRP), no missing values."""
    data = _read_reference("bh1996.csv")
    assert data.shape[0] == 7382 and data["GRP"].nunique() == 99
    return data


@pytest.fixture(scope="module")
def lq2002() -> pd.DataFrame:
    """multilevel's lq2002: 2,042 soldiers in 49 companies (COMPID), 5-point items."""
    data = _read_reference("lq2002.csv")
    assert data.shape[0] == 2042 and data["COMPID"].nunique() == 49
    return data


# --- plain reference implementations (one group at a time, straight from the formulas) ------


def reference_anova(values, groups) -> dict[str, float]:
    """One-way ANOVA by its definition, group by group."""
    d = pd.DataFrame({"y": values, "g": groups}).dropna()
    grand = d["y"].mean()
    ssb = ssw = 0.0
    for _, y in d.groupby("g")["y"]:
        ssb += len(y) * (y.mean() - grand) ** 2
        ssw += ((y - y.mean()) ** 2).sum()
    n_groups, n = d["g"].nunique(), len(d)
    msb, msw = ssb / (n_groups - 1), ssw / (n - n_groups)
    k = n / n_groups
    return {
        "icc1": (msb - msw) / (msb + (k - 1) * msw),
        "icc2": (msb - msw) / msb,
        "msb": msb,
        "msw": msw,
        "n_groups": n_groups,
        "n": n,
    }


def reference_rwg_j(items: pd.DataFrame, groups, null_variance: float = 2.0) -> pd.Series:
    """rwg(J) as multilevel::rwg.j computes it: listwise deletion, a loop over groups,
    mean item variance truncated at the null variance. J = 1 gives rwg."""
    d = items.assign(_g=np.asarray(groups)).dropna()
    out = {}
    for g, block in d.groupby("_g"):
        q = block.drop(columns="_g")
        if len(q) < 2:
            out[g] = np.nan
            continue
        j = q.shape[1]
        s = min(q.var(ddof=1).mean(), null_variance) / null_variance
        out[g] = j * (1 - s) / (j * (1 - s) + s)
    return pd.Series(out, dtype=float)


# --- bh1996: ICC(1), ICC(2) against published figures and statsmodels ------------------------


@pytest.fixture(scope="module")
def statsmodels_anova(bh1996):
    """Second code path: statsmodels' one-way ANOVA, then Bliese's formulas with the mean
    group size, k = (df_within + df_between + 1) / (df_between + 1), as multilevel::ICC1."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    out = {}
    for v in BH_VARIABLES:
        table = anova_lm(smf.ols(f"{v} ~ C(GRP)", data=bh1996).fit())
        msb, msw = table["mean_sq"].iloc[:2]
        dfb, dfw = table["df"].iloc[:2]
        k = (dfw + dfb + 1) / (dfb + 1)
        out[v] = {
            "icc1": (msb - msw) / (msb + (k - 1) * msw),
            "icc2": (msb - msw) / msb,
            "f": table["F"].iloc[0],
            "p": table["PR(>F)"].iloc[0],
            "msb": msb,
            "msw": msw,
            "dfb": dfb,
            "dfw": dfw,
        }
    return out


@pytest.mark.parametrize("variable", BH_VARIABLES)
def test_bh1996_icc_matches_statsmodels_anova(bh1996, statsmodels_anova, variable):
    """Both paths are exact computations, so they agree to rounding error (rel 1e-10)."""
    ref = statsmodels_anova[variable]
    r1 = icc1(bh1996[variable], bh1996["GRP"])
    r2 = icc2(bh1996[variable], bh1996["GRP"])
    assert r1.estimate == pytest.approx(ref["icc1"], rel=1e-10)
    assert r2.estimate == pytest.approx(ref["icc2"], rel=1e-10)
    assert r1.f == pytest.approx(ref["f"], rel=1e-10)
    assert r1.p_value == pytest.approx(ref["p"], rel=1e-6, abs=1e-300)
    assert (r1.msb, r1.msw) == pytest.approx((ref["msb"], ref["msw"]), rel=1e-10)
    assert (r1.df_between, r1.df_within) == (ref["dfb"], ref["dfw"]) == (98, 7283)
    assert (r1.n_groups, r1.n_used, r1.n_total) == (99, 7382, 7382)
    assert r1.mean_group_size == pytest.approx(7382 / 99)
    assert r1.reason == r2.reason == ""


def test_bh1996_wbeing_icc1_published():
    """Published: ICC1(aov(WBEING ~ as.factor(GRP), data = bh1996)) = 0.04336905.

    Source: R output knitted in "Multilevel Modeling - Bliese's Steps" (J. D. Marshall, an
    R Markdown companion to Bliese's 2016 multilevel tutorial),
    https://jasondmarshall.com/multilevel-steps, "Option 2". Printed to 8 decimals, so the
    tolerance is half a unit in the last place (5e-9). statsmodels agrees (test above).
    """
    data = _read_reference("bh1996.csv")
    assert icc1(data["WBEING"], data["GRP"]).estimate == pytest.approx(0.04336905, abs=5e-9)


# Not asserted: ICC(1) = 0.1220 and ICC(2) = 0.9180 for HRS, quoted for
# `hrs.mod <- aov(HRS ~ as.factor(GRP), data = bh1996)` (multilevel help / Bliese's guide) from
# memory and not verifiable here. Both code paths give ICC(1) = 0.13311 and ICC(2) = 0.91967
# for HRS in this bh1996.csv (F = 12.449 on 98 and 7283 df), and the file reproduces the
# published WBEING figure above to 8 decimals, so the quoted HRS figures do not belong to this
# data (they agree with each other only for a mean group size of about 80; this file has
# 74.6). Reported to the lead instead of asserted.


# --- bh1996: ICC(1) against the REML random-intercept variance share ------------------------


def _reml_share(y, groups) -> float:
    import statsmodels.api as sm
    fit = sm.MixedLM(np.asarray(y, float), np.ones((len(y), 1)), groups=np.asarray(groups)).fit(
        reml=True, method="powell"
    )
    assert fit.converged
    tau = float(np.asarray(fit.cov_re)[0, 0])
    return tau / (tau + fit.scale)


@pytest.fixture(scope="module")
def bh1996_reml(bh1996):
    return {v: _reml_share(bh1996[v], bh1996["GRP"]) for v in BH_VARIABLES}


def test_statsmodels_reml_reproduces_published_lme(bh1996_reml):
    """Checks the comparison path itself. Published (same page as above, "Option 1"):
    lme(WBEING ~ 1, random = ~1 | GRP, data = bh1996): intercept variance 0.03580079,
    residual 0.78949727, share 0.04337922. statsmodels' optimiser stops about 1e-5 short of
    nlme's optimum, hence the tolerance 2e-5."""
    assert bh1996_reml["WBEING"] == pytest.approx(0.04337922, abs=2e-5)


@pytest.mark.parametrize("variable", BH_VARIABLES)
def test_bh1996_icc1_close_to_reml_share(bh1996, bh1996_reml, variable):
    """ANOVA ICC(1) and the REML share estimate the same tau^2 / (tau^2 + sigma^2) but weight
    groups differently when their sizes differ (bh1996: 15 to 226 soldiers per company):
    observed differences are 0.00001 (WBEING), 0.004 (HRS, COHES) and 0.020 (LEAD). The
    tolerance 0.025 says "close, not equal"; the exact identity for equal group sizes is
    tested on simulated data below."""
    assert icc1(bh1996[variable], bh1996["GRP"]).estimate == pytest.approx(
        bh1996_reml[variable], abs=0.025
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_icc1_equals_reml_share_for_equal_group_sizes(seed):
    """For balanced one-way data the REML estimates are the ANOVA estimates whenever the
    latter are positive, so the two agree up to the optimiser's tolerance (1e-4)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(50), 10)
    y = rng.normal(0, math.sqrt(0.2), 50)[g] + rng.normal(0, math.sqrt(0.8), g.size)
    result = icc1(y, g)
    assert result.estimate > 0
    assert result.estimate == pytest.approx(_reml_share(y, g), abs=1e-4)


def test_grouped_icc_on_bh1996_matches_statsmodels(bh1996, statsmodels_anova):
    out = grouped_icc(bh1996, value_columns=BH_VARIABLES, group="GRP")
    assert list(out["variable"]) == BH_VARIABLES
    for row in out.itertuples():
        ref = statsmodels_anova[row.variable]
        assert (row.icc1, row.icc2, row.f) == pytest.approx(
            (ref["icc1"], ref["icc2"], ref["f"]), rel=1e-10
        )
        assert (row.n_used, row.n_total, row.n_groups) == (7382, 7382, 99)


# --- lq2002: rwg and rwg(J) -------------------------------------------------------------------
# No published summary of rwg.j(lq2002[, LEAD01..LEAD11], lq2002$COMPID, ranvar = 2) is known
# here for certain, so the vectorised result is checked against the plain loop above, which
# follows multilevel's rwg.j source line by line (listwise na.exclude, split by group, mean of
# item variances, truncation at ranvar). This gives median 0.870, mean 0.868, 49 groups of
# 10 to 99 soldiers.


def test_lq2002_rwg_j_matches_reference_loop(lq2002):
    result = rwg_j(lq2002[LEAD_ITEMS], lq2002["COMPID"], n_options=5)
    ref = reference_rwg_j(lq2002[LEAD_ITEMS], lq2002["COMPID"])
    table = result.to_frame().set_index("group")
    np.testing.assert_allclose(
        table["rwg_j"].to_numpy(), ref.loc[table.index].to_numpy(), rtol=0, atol=1e-12
    )
    sizes = lq2002.groupby("COMPID").size()
    assert (table["n"] == sizes.loc[table.index]).all()
    assert (table["n_items"] == 11).all()
    assert result.median == pytest.approx(ref.median(), abs=1e-12)
    assert result.mean == pytest.approx(ref.mean(), abs=1e-12)
    assert (result.n_groups, result.n_groups_estimated) == (49, 49)
    assert (result.n_used, result.n_total, result.n_items) == (2042, 2042, 11)
    assert result.null_variance == 2.0


@pytest.mark.parametrize("item", ["LEAD01", "LEAD07"])
def test_lq2002_rwg_matches_reference_loop(lq2002, item):
    result = rwg(lq2002[item], lq2002["COMPID"])
    ref = reference_rwg_j(lq2002[[item]], lq2002["COMPID"])
    table = result.to_frame().set_index("group")
    np.testing.assert_allclose(
        table["rwg"].to_numpy(), ref.loc[table.index].to_numpy(), rtol=0, atol=1e-12
    )
    variances = lq2002.groupby("COMPID")[item].var(ddof=1)
    np.testing.assert_allclose(table["variance"], variances.loc[table.index], atol=1e-12)


def test_rwg_j_listwise_drops_incomplete_rows_like_multilevel(lq2002):
    data = lq2002[LEAD_ITEMS].astype(float).copy()
    rng = np.random.default_rng(3)
    data = data.mask(rng.random(data.shape) < 0.03)
    incomplete = int(data.isna().any(axis=1).sum())
    result = rwg_j(data, lq2002["COMPID"])
    ref = reference_rwg_j(data, lq2002["COMPID"])
    table = result.to_frame().set_index("group")
    np.testing.assert_allclose(table["rwg_j"], ref.loc[table.index], atol=1e-12)
    assert result.n_used == 2042 - incomplete
    assert result.nan_policy == "listwise"


def test_rwg_j_pairwise_uses_every_answer():
    items = pd.DataFrame({"q1": [4, 4, 5, np.nan, 3, 4], "q2": [4, 5, np.nan, 5, 4, 5]})
    groups = ["a", "a", "a", "a", "b", "b"]
    table = rwg_j(items, groups, nan_policy="pairwise").to_frame().set_index("group")
    # group a: q1 from rows 0-2 (var 1/3), q2 from rows 0, 1, 3 (var 1/3): mean 1/3
    assert table.loc["a", "variance"] == pytest.approx(1 / 3)
    assert table.loc["a", "n"] == 4
    r = (1 / 3) / 2
    assert table.loc["a", "rwg_j"] == pytest.approx(2 * (1 - r) / (2 * (1 - r) + r))
    listwise = rwg_j(items, groups).to_frame().set_index("group")
    assert listwise.loc["a", "n"] == 2


# --- recovery from simulated data ------------------------------------------------------------


def _simulate(icc: float, n_groups: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    y = rng.normal(0, math.sqrt(icc), n_groups)[g] + rng.normal(0, math.sqrt(1 - icc), g.size)
    return y, g


def _icc_se(icc: float, n_groups: int, size: int) -> float:
    """Large-sample standard error of the ANOVA ICC for equal group sizes k
    (Fisher; Donner 1986, Int. Stat. Rev. 54, 67-82):
    var = 2 (1 - rho)^2 (1 + (k - 1) rho)^2 / (k (k - 1) (G - 1))."""
    k = size
    return math.sqrt(2 * (1 - icc) ** 2 * (1 + (k - 1) * icc) ** 2 / (k * (k - 1) * (n_groups - 1)))


@pytest.mark.parametrize("true_icc", [0.0, 0.05, 0.2])
def test_icc_recovers_the_generating_value(true_icc):
    """200 groups of 20, between variance true_icc, within 1 - true_icc: ICC(1) within 3
    standard errors (0.015 at 0, 0.059 at 0.2) and ICC(2) within 3 delta-method errors of
    k rho / (1 + (k - 1) rho)."""
    y, g = _simulate(true_icc, 200, 20, seed=int(true_icc * 100) + 7)
    se = _icc_se(true_icc, 200, 20)
    r1, r2 = icc1(y, g), icc2(y, g)
    assert abs(r1.estimate - true_icc) < 3 * se
    k = 20
    expected_icc2 = k * true_icc / (1 + (k - 1) * true_icc)
    slope = k / (1 + (k - 1) * true_icc) ** 2
    assert abs(r2.estimate - expected_icc2) < 3 * slope * se
    if true_icc >= 0.05:
        assert r1.p_value < 1e-6


def test_identical_answers_within_groups():
    """Every member of a group gives the group's answer: rwg = rwg(J) = 1, ICC(1) = ICC(2)
    = 1 and F is infinite (all variance lies between groups)."""
    g = np.repeat(np.arange(30), 8)
    answer = np.random.default_rng(5).integers(1, 6, 30)[g]
    agreement = rwg(answer, g)
    assert (agreement.to_frame()["rwg"] == 1).all() and agreement.median == 1
    items = pd.DataFrame({"a": answer, "b": answer, "c": np.clip(answer + 0, 1, 5)})
    assert (rwg_j(items, g).to_frame()["rwg_j"] == 1).all()
    if np.unique(answer).size > 1:
        r = icc1(answer, g)
        assert (r.estimate, icc2(answer, g).estimate, r.f, r.p_value) == (1, 1, math.inf, 0)


def test_random_answers_give_rwg_near_zero():
    """Uniform random answers on 1-5 have expected variance (25 - 1) / 12 = 2, so the
    untruncated rwg, 1 - s^2 / 2, averages 0 over groups: within 3 standard errors (sd of s^2
    in groups of 20 is about 0.40, so the SE of the mean over 1,000 groups is 0.0064). About
    half the groups exceed the null variance and are truncated to 0, so the median is 0 or
    just above."""
    g = np.repeat(np.arange(1000), 20)
    answers = np.random.default_rng(11).integers(1, 6, g.size)
    result = rwg(answers, g)
    table = result.to_frame()
    untruncated = 1 - table["variance"] / 2
    assert abs(untruncated.mean()) < 3 * untruncated.std() / math.sqrt(1000)
    assert 0.4 < table["truncated"].mean() < 0.6
    assert result.median < 0.05
    items = pd.DataFrame(np.random.default_rng(12).integers(1, 6, (g.size, 6)))
    multi = rwg_j(items, g)
    assert abs(multi.to_frame()["variance"].mean() - 2) < 0.02
    assert multi.median < 0.1


# --- grouped_icc against a plain loop ---------------------------------------------------------


def test_grouped_icc_matches_reference_loop_for_every_cell_and_variable():
    rng = np.random.default_rng(21)
    rows = []
    for wave in ["2025-q1", "2025-q3", "2026-q1"]:
        for c in range(25):
            n = int(rng.integers(1, 30))  # includes single-member collaborations
            level = rng.normal(0, 0.5, 8)
            rows.append(
                pd.DataFrame(
                    3 + level + rng.normal(0, 1, (n, 8)),
                    columns=[f"char{i}" for i in range(8)],
                ).assign(wave_id=wave, collaboration_id=f"c{c:02d}")
            )
    frame = pd.concat(rows, ignore_index=True)
    value_columns = [f"char{i}" for i in range(8)]
    frame[value_columns] = frame[value_columns].mask(rng.random((len(frame), 8)) < 0.1)
    frame.loc[rng.random(len(frame)) < 0.02, "collaboration_id"] = None
    frame["wave_id"] = frame["wave_id"].astype("category")

    out = grouped_icc(frame, value_columns=value_columns, group="collaboration_id", by=("wave_id",))
    assert len(out) == 3 * 8
    for row in out.itertuples():
        cell = frame[frame["wave_id"] == row.wave_id]
        ref = reference_anova(cell[row.variable], cell["collaboration_id"])
        assert (row.icc1, row.icc2, row.msb, row.msw) == pytest.approx(
            (ref["icc1"], ref["icc2"], ref["msb"], ref["msw"]), rel=1e-10
        )
        assert (row.n_groups, row.n_used) == (ref["n_groups"], ref["n"])
        assert row.n_total == len(cell)
        assert row.df_between == ref["n_groups"] - 1


def test_single_member_groups_count_in_the_anova_as_in_r():
    """R's aov counts a one-member group in the between-group degrees of freedom."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    d = pd.DataFrame({"y": [1.0, 2, 2, 3, 4, 4, 5, 3], "g": list("aabbbccd")})
    table = anova_lm(smf.ols("y ~ C(g)", data=d).fit())
    result = icc1(d["y"], d["g"])
    assert (result.df_between, result.df_within) == tuple(table["df"].iloc[:2]) == (3, 4)
    assert result.msb == pytest.approx(table["mean_sq"].iloc[0])


def test_group_size_n0():
    """n0 = (N - sum n_j^2 / N) / (G - 1) (Bartko 1976): equals N / G for equal sizes."""
    y, g = _simulate(0.2, 40, 10, seed=2)
    assert icc1(y, g, group_size="n0").estimate == pytest.approx(icc1(y, g).estimate)
    keep = np.ones(y.size, bool)
    keep[:35] = False  # unequal sizes: group 0 empty, group 1..3 smaller
    r_mean, r_n0 = icc1(y[keep], g[keep]), icc1(y[keep], g[keep], group_size="n0")
    sizes = pd.Series(g[keep]).value_counts()
    n = sizes.sum()
    n0 = (n - (sizes**2).sum() / n) / (len(sizes) - 1)
    assert r_n0.n0 == pytest.approx(n0)
    assert r_n0.estimate == pytest.approx((r_n0.msb - r_n0.msw) / (r_n0.msb + (n0 - 1) * r_n0.msw))
    assert r_n0.estimate > r_mean.estimate and r_n0.group_size_rule == "n0"


def test_icc2_is_spearman_brown_of_icc1():
    y, g = _simulate(0.1, 30, 12, seed=4)
    r1, r2 = icc1(y, g), icc2(y, g)
    k = r1.mean_group_size
    assert r2.estimate == pytest.approx(k * r1.estimate / (1 + (k - 1) * r1.estimate))


# --- missing figures carry a reason ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "groups", "fragment"),
    [
        ([1.0, 2.0, 3.0], ["a", "a", "a"], "at least two groups"),
        ([1.0, 2.0, 3.0], ["a", "b", "c"], "single member"),
        ([3.0, 3.0, 3.0, 3.0], ["a", "a", "b", "b"], "identical"),
        ([np.nan, np.nan], ["a", "b"], "no rows"),
    ],
)
def test_undefined_icc_is_nan_with_reason(values, groups, fragment):
    for result in (icc1(values, groups), icc2(values, groups)):
        assert math.isnan(result.estimate)
        assert fragment in result.reason
        frame = result.to_frame()
        assert list(frame.columns) == [
            "statistic",
            "estimate",
            "f",
            "p_value",
            "msb",
            "msw",
            "df_between",
            "df_within",
            "n_groups",
            "mean_group_size",
            "n0",
            "group_size_rule",
            "n_used",
            "n_total",
            "reason",
        ]


def test_equal_group_means_leave_icc1_but_not_icc2():
    r1, r2 = icc1([1.0, 3.0, 1.0, 3.0], ["a", "a", "b", "b"]), icc2([1.0, 3, 1, 3], list("aabb"))
    assert r1.estimate == pytest.approx(-1.0) and r1.reason == ""  # -1 / (k - 1), k = 2
    assert math.isnan(r2.estimate) and "MSB = 0" in r2.reason


def test_rwg_for_one_member_group_is_nan_with_reason():
    result = rwg([4, 5, 3, 2], ["a", "a", "b", "c"])
    table = result.to_frame().set_index("group")
    assert math.isnan(table.loc["b", "rwg"]) and "fewer than two" in table.loc["b", "reason"]
    assert table.loc["a", "rwg"] == pytest.approx(1 - 0.5 / 2)
    assert (result.n_groups, result.n_groups_estimated) == (3, 1)


def test_missing_group_ids_are_counted_not_used():
    result = icc1([1.0, 2, 3, 4, 5, 6, 7], ["a", "a", "b", "b", "c", "c", None])
    assert (result.n_used, result.n_total) == (6, 7)
    agreement = rwg([1, 2, 3, 4, 5, 5, 5], ["a", "a", "b", "b", "c", "c", None])
    assert (agreement.n_used, agreement.n_total) == (6, 7)
    assert list(agreement.to_frame()["group"]) == ["a", "b", "c"]


def test_pandas_nullable_answers_are_read_as_missing():
    values = pd.array([1, 2, None, 4, 5, 6], dtype="Int8")
    result = icc1(values, ["a", "a", "b", "b", "c", "c"])
    assert (result.n_used, result.n_total) == (5, 6)


# --- properties --------------------------------------------------------------------------------


@st.composite
def grouped_answers(draw, min_size: int = 2, max_size: int = 40):
    n = draw(st.integers(min_size, max_size))
    groups = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    values = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    return np.array(values, float), np.array(groups)


def _icc_numbers(values, groups) -> np.ndarray:
    r1, r2 = icc1(values, groups), icc2(values, groups)
    return np.array(
        [
            r1.estimate,
            r2.estimate,
            r1.f,
            r1.p_value,
            r1.msb,
            r1.msw,
            r1.df_between,
            r1.df_within,
            r1.n_used,
        ]
    )


@settings(max_examples=60, deadline=None)
@given(grouped_answers(), st.data())
def test_relabelling_groups_changes_nothing(data, draw):
    values, groups = data
    labels = draw.draw(st.permutations([f"collab-{i}" for i in range(7)]))
    relabelled = np.array([labels[g] for g in groups])
    np.testing.assert_allclose(
        _icc_numbers(values, relabelled), _icc_numbers(values, groups), rtol=1e-10, atol=1e-12
    )
    before = rwg(values, groups).to_frame()
    after = rwg(values, relabelled).to_frame()
    after["group"] = after["group"].map({labels[i]: i for i in range(7)})
    after = after.sort_values("group").reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before, check_dtype=False)


@settings(max_examples=60, deadline=None)
@given(grouped_answers(), st.randoms(use_true_random=False))
def test_row_order_changes_nothing(data, random):
    values, groups = data
    order = list(range(len(values)))
    random.shuffle(order)
    np.testing.assert_allclose(
        _icc_numbers(values[order], groups[order]),
        _icc_numbers(values, groups),
        rtol=1e-10,
        atol=1e-12,
    )
    pd.testing.assert_frame_equal(
        rwg(values[order], groups[order]).to_frame(), rwg(values, groups).to_frame(), rtol=1e-12
    )
    items = pd.DataFrame({"a": values, "b": values[::-1]})
    pd.testing.assert_frame_equal(
        rwg_j(items.iloc[order], groups[order]).to_frame(),
        rwg_j(items, groups).to_frame(),
        rtol=1e-12,
    )


@settings(max_examples=60, deadline=None)
@given(grouped_answers(), st.data())
def test_missing_values_reduce_n_used_by_their_number(data, draw):
    values, groups = data
    missing = draw.draw(st.sets(st.integers(0, len(values) - 1)))
    holed = values.copy()
    holed[list(missing)] = np.nan
    assert icc1(holed, groups).n_used == len(values) - len(missing)
    assert icc2(holed, groups).n_total == len(values)
    assert rwg(holed, groups).n_used == len(values) - len(missing)
    frame = pd.DataFrame({"v": holed, "w": values, "g": groups})
    out = grouped_icc(frame, value_columns=["v", "w"], group="g").set_index("variable")
    assert out.loc["v", "n_used"] == len(values) - len(missing)
    assert out.loc["w", "n_used"] == len(values)  # available case: w keeps every row


# --- the verdict ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "headline", "fragment"),
    [
        ((0.12, 0.92, 0.87), {"p_value": 1e-10}, "Justified.", "significant"),
        ((0.05, 0.55, 0.80), {"p_value": 0.001}, "Use with caution.", "not reliable"),
        ((-0.01, 0.0, 0.85), {"p_value": 0.7}, "Not justified.", "does not matter"),
        ((0.02, 0.75, 0.85), {"p_value": 0.2}, "Not justified.", "not significant"),
        ((0.12, 0.92, 0.40), {}, "Not justified.", "do not agree"),
        ((0.12, float("nan"), 0.9), {}, "Cannot judge.", "ICC(2)"),
        ((0.12, 0.92, 0.9), {"p_value": float("nan")}, "Cannot judge.", "the F test"),
    ],
)
def test_aggregation_verdict(args, kwargs, headline, fragment):
    text = aggregation_verdict(*args, **kwargs)
    assert text.startswith(headline) and fragment in text


def test_verdict_thresholds_are_inclusive():
    assert aggregation_verdict(0.1, 0.70, 0.70, p_value=0.01).startswith("Justified.")


def test_programme_psychometrics_with_a_wave_of_one_shown_collaboration():
    """A small programme where disclosure control leaves one collaboration in a wave: its
    ICCs and F test cannot be computed, and the aggregation verdict says "Cannot judge."
    (it raised a ParameterError on the NaN p-value before)."""
    from collab_stats import simulate_programme
    from collab_stats.psychometrics import programme_psychometrics

    sim = simulate_programme(seed=11, n_collaborations=3, n_waves=3)
    result = programme_psychometrics(sim.data, sim.instrument, programme=sim.programme,
                                     factor_models=False, invariance=False, n_boot=20)
    untested = result.aggregation[result.aggregation["p_value"].isna()]
    assert len(untested) > 0
    assert untested["verdict"].str.startswith("Cannot judge.").all()


# --- parameters ----------------------------------------------------------------------------------

_SMALL = pd.DataFrame({"w": ["x"] * 4, "g": list("aabb"), "v": [1.0, 2, 3, 4]})


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (
            lambda: icc1([1, 2], ["a", "b"], group_size="median"),
            ["group_size", "'mean', 'n0'", "'median'"],
        ),
        (lambda: icc1([1, 2, 3], ["a", "b"]), ["groups", "one entry per value (3)", "got 2"]),
        (lambda: icc1(["x", "y"], ["a", "b"]), ["values", "numeric"]),
        (lambda: icc2([[1, 2], [3, 4]], ["a", "b"]), ["values", "one-dimensional"]),
        (
            lambda: grouped_icc(_SMALL, value_columns=["v"], group="g", group_size="max"),
            ["group_size", "'mean', 'n0'"],
        ),
        (lambda: grouped_icc(_SMALL, value_columns="v", group="g"), ["value_columns", "sequence"]),
        (
            lambda: grouped_icc(_SMALL, value_columns=[], group="g"),
            ["value_columns", "at least one"],
        ),
        (
            lambda: grouped_icc(_SMALL, value_columns=["nope"], group="g"),
            ["value_columns", "'nope'", "frame has"],
        ),
        (lambda: grouped_icc(_SMALL, value_columns=["v"], group="nope"), ["group", "'nope'"]),
        (
            lambda: grouped_icc(_SMALL, value_columns=["v"], group="g", by=["g"]),
            ["value_columns, group and by", "'g'"],
        ),
        (
            lambda: grouped_icc(_SMALL.values, value_columns=["v"], group="g"),
            ["frame", "DataFrame"],
        ),
        (lambda: grouped_icc(_SMALL, value_columns=["g"], group="w"), ["column 'g'", "numeric"]),
        (lambda: rwg([1, 2], ["a", "a"], n_options=1), ["n_options", "[2, inf]", "1"]),
        (lambda: rwg([1, 2], ["a", "a"], n_options=4.5), ["n_options", "whole number"]),
        (lambda: rwg([1, 2], ["a", "a"], n_options=True), ["n_options", "whole number"]),
        (lambda: rwg([1, 2], ["a", "a"], null_variance=0), ["null_variance", "(0, inf]"]),
        (
            lambda: rwg_j(_SMALL[["v"]], list("aabb"), nan_policy="complete"),
            ["nan_policy", "'pairwise', 'listwise'", "'complete'"],
        ),
        (lambda: rwg_j(np.ones((4, 2)), list("aabb")), ["items", "DataFrame"]),
        (lambda: rwg_j(_SMALL[[]], list("aabb")), ["items", "at least one"]),
        (lambda: aggregation_verdict(0.1, 0.8, 0.8, alpha=1.5), ["alpha", "(0, 1)"]),
        (lambda: aggregation_verdict(0.1, 0.8, 0.8, p_value=-0.1), ["p_value", "[0, 1]"]),
        (lambda: aggregation_verdict("high", 0.8, 0.8), ["icc1", "number"]),
    ],
)
def test_bad_parameters_name_the_parameter_and_what_is_allowed(call, fragments):
    with pytest.raises(ParameterError) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(info.value, CollabStatsError) and isinstance(info.value, ValueError)


def test_answers_outside_the_scale_are_an_analysis_error():
    with pytest.raises(AnalysisError, match=r"span 7 scale points .* n_options=5"):
        rwg([1, 7, 4], ["a", "a", "a"], n_options=5)
    with pytest.raises(AnalysisError, match="n_options=5"):
        rwg_j(pd.DataFrame({"a": [0, 5], "b": [1, 1]}), ["x", "x"])
    # another null distribution (ranvar in multilevel) makes any range acceptable
    assert rwg([1, 7, 4], ["a", "a", "a"], null_variance=4.0).median == 0


def test_results_are_frozen_dataclasses():
    r = icc1([1, 2, 3, 4], list("aabb"))
    a = rwg([1, 2, 3, 4], list("aabb"))
    assert isinstance(r, ICCResult) and isinstance(a, AgreementResult)
    with pytest.raises(AttributeError):
        r.estimate = 0.5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.median = 0.5  # type: ignore[misc]
    assert a.to_frame() is not a.per_group
