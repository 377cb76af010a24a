"""Tests of the reliability statistics (:mod:`collab_stats.reliability`).

Kinds of test:

* published references - psych's ``alpha`` output for the bfi agreeableness items and
  pingouin's documented ``cronbach_alpha`` examples, each beside its source and a tolerance
  that says how many digits the source gives;
* second code paths - pingouin (alpha, alpha without an item), pandas (n, mean, sd, the
  item-rest correlation on complete rows), scipy (Feldt quantiles; a direct least-squares
  one-factor fit for omega), a plain loop for the bootstrap;
* simulation recovery - omega and loadings of data drawn from a known one-factor model;
* the grouped path against the single-set functions applied group by group (a plain loop);
* properties (hypothesis) - item order, group order and labels, the counts of rows used;
* errors - bad options raise ParameterError naming the parameter; too little data gives NaN
  and a reason, never an exception.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose
from reference_data import read_reference
from scipy import optimize
from scipy.stats import f as f_dist

from collab_stats import reliability as rel
from collab_stats.errors import ParameterError
from collab_stats.reliability import (
    AlphaResult,
    cronbach_alpha,
    grouped_item_analysis,
    grouped_reliability,
    item_analysis,
    mcdonald_omega,
    reliability_flags,
)

ITEM_NUMBERS = ["n", "mean", "sd", "r_drop", "alpha_if_dropped", "std_alpha_if_dropped",
                "pct_missing"]
ALPHA_NUMBERS = ["alpha", "std_alpha", "average_r", "ci_low", "ci_high"]


# --- data ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agreeableness() -> pd.DataFrame:
    """psych's bfi, items A1-A5 (1-6 agreement) with A1 reverse-keyed as 7 - A1 (psych's
    ``keys = c(-1, 1, 1, 1, 1)`` uses max + min - x with the observed range 1..6).
    2800 rows; 16-27 missing answers per item, no row entirely empty."""
    bfi = read_reference("bfi.csv")
    items = bfi[["A1", "A2", "A3", "A4", "A5"]].astype(float)
    items["A1"] = 7 - items["A1"]
    return items


@pytest.fixture(scope="module")
def conscientiousness() -> pd.DataFrame:
    """bfi C1-C5 with C4 and C5 reverse-keyed."""
    items = read_reference("bfi.csv")[["C1", "C2", "C3", "C4", "C5"]].astype(float)
    items[["C4", "C5"]] = 7 - items[["C4", "C5"]]
    return items


def one_factor_sample(loadings, n, seed, *, discrete=False):
    """Data from x = lambda * f + e with var(x) = 1; optionally cut into 5 categories."""
    rng = np.random.default_rng(seed)
    lam = np.asarray(loadings, dtype=float)
    x = rng.normal(size=(n, 1)) * lam + rng.normal(size=(n, lam.size)) * np.sqrt(1 - lam**2)
    if discrete:
        x = 1.0 + np.searchsorted([-1.5, -0.5, 0.5, 1.5], x)
    return pd.DataFrame(x, columns=[f"q{i + 1}" for i in range(lam.size)])


def feldt(alpha, n, k, ci=0.95):
    """Feldt (1965) interval written out again with F quantiles (ppf, not isf)."""
    q = 1 - ci
    df1, df2 = n - 1, (n - 1) * (k - 1)
    return (1 - (1 - alpha) * f_dist.ppf(1 - q / 2, df1, df2),
            1 - (1 - alpha) * f_dist.ppf(q / 2, df1, df2))


def cov2cor(cov: pd.DataFrame) -> np.ndarray:
    sd = np.sqrt(np.diag(cov.to_numpy()))
    return cov.to_numpy() / np.outer(sd, sd)


def pairwise_corr(items: pd.DataFrame) -> np.ndarray:
    """R's ``cor(x, use = "pairwise")`` written out pair by pair with numpy: each pair's own
    complete rows, means and standard deviations (independent of pandas' ``corr``)."""
    x = items.to_numpy(dtype=float)
    k = x.shape[1]
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            out[i, j] = out[j, i] = np.corrcoef(x[both, i], x[both, j])[0, 1]
    return out


def uls_one_factor(corr: np.ndarray) -> tuple[float, np.ndarray]:
    """Omega from a one-factor fit by direct minimisation of sum_{i<j} (r_ij - l_i l_j)^2
    (scipy least_squares, Levenberg-Marquardt), independent of the library's iterations."""
    k = corr.shape[0]
    iu, ju = np.triu_indices(k, 1)

    def resid(lam):
        return corr[iu, ju] - lam[iu] * lam[ju]

    fit = optimize.least_squares(resid, np.full(k, 0.6), method="lm", xtol=1e-15,
                                 ftol=1e-15, gtol=1e-15)
    lam = fit.x * np.sign(fit.x.sum())
    s = lam.sum() ** 2
    return s / (s + (1 - lam**2).sum()), lam


# --- published references --------------------------------------------------------------------

# psych::alpha on bfi A1-A5, A1 reversed: "raw_alpha 0.7, std.alpha 0.71, average_r 0.33"
# (psych 2.x documentation / vignettes, as quoted in the task brief; printed to 2 decimals,
# so the tolerance is half a unit in the second decimal).
PSYCH_BFI_AGREEABLENESS = {"alpha": 0.70, "std_alpha": 0.71, "average_r": 0.33}

# psych >= 2.4 ``alpha(bfi[1:5], keys = c(-1, 1, 1, 1, 1))``, "Reliability if an item is
# dropped", column std.alpha for A1- .. A5 (as quoted in issue 15 from psych's published run:
# .725 / .625 / .613 / .693 / .655). Three decimals printed, so the tolerance is 5e-4. psych
# computes them from ``cor(x, use = "pairwise")``; ``cov2cor`` of the pairwise covariances
# (psych < 2.4) gives .726 / .626 / .613 / .694 / .656 and fails this test.
PSYCH_BFI_STD_ALPHA_IF_DROPPED = [0.725, 0.625, 0.613, 0.693, 0.655]


def test_bfi_agreeableness_matches_psych(agreeableness):
    res = cronbach_alpha(agreeableness)
    for field, published in PSYCH_BFI_AGREEABLENESS.items():
        assert abs(getattr(res, field) - published) <= 0.005, field
    assert (res.n_items, res.n_used, res.n_total, res.reason) == (5, 2800, 2800, "")


@pytest.mark.parametrize("nan_policy", ["pairwise", "listwise"])
def test_bfi_agreeableness_matches_pingouin(agreeableness, nan_policy):
    """pingouin 0.7.0 ``cronbach_alpha`` as a second code path. Alpha to 1e-10. pingouin
    rounds its interval to 3 decimals (so 5e-4), and its Feldt n is the number of rows before
    any deletion: our unrounded interval is checked against the formula written out again
    with n = n_used (2800 pairwise: no empty rows; 2709 complete rows listwise)."""
    res = cronbach_alpha(agreeableness, nan_policy=nan_policy)
    alpha, ci = pg.cronbach_alpha(agreeableness, nan_policy=nan_policy)
    assert abs(res.alpha - alpha) < 1e-10
    assert_allclose([res.ci_low, res.ci_high], ci, rtol=0, atol=5e-4 + 1e-12)
    n_used = 2800 if nan_policy == "pairwise" else len(agreeableness.dropna())
    assert res.n_used == n_used
    assert_allclose([res.ci_low, res.ci_high], feldt(res.alpha, n_used, 5), rtol=0, atol=1e-10)
    # pingouin's interval is Feldt's with n = all 2800 rows, also under listwise
    assert_allclose(ci, np.round(feldt(alpha, 2800, 5), 3), rtol=0, atol=1e-12)


# pingouin documentation, ``pingouin.cronbach_alpha`` Examples (pingouin 0.5-0.7):
#   pg.cronbach_alpha(data=pg.read_dataset("cronbach_wide_missing"))
#   -> (0.732660835214447, array([0.435, 0.909]))            # In R: psych::alpha(use="pairwise")
#   pg.cronbach_alpha(data=..., nan_policy="listwise")
#   -> (0.8016949152542373, array([0.581, 0.933]))           # In R: use="complete.obs"
PINGOUIN_DOCS = {
    "pairwise": {"alpha": 0.732660835214447, "ci": (0.435, 0.909), "n_used": 12},
    "listwise": {"alpha": 0.8016949152542373, "ci": (0.581, 0.933), "n_used": 9},
}


@pytest.fixture(scope="module")
def wide_missing() -> pd.DataFrame:
    return pg.read_dataset("cronbach_wide_missing")  # 12 rows x 11 binary items, 3 with NaN


@pytest.mark.parametrize("nan_policy", ["pairwise", "listwise"])
def test_installed_pingouin_reproduces_its_documentation(wide_missing, nan_policy):
    ref = PINGOUIN_DOCS[nan_policy]
    alpha, ci = pg.cronbach_alpha(data=wide_missing, nan_policy=nan_policy)
    assert abs(alpha - ref["alpha"]) < 1e-12
    assert tuple(ci) == ref["ci"]


def test_pingouin_documented_example_pairwise(wide_missing):
    ref = PINGOUIN_DOCS["pairwise"]
    res = cronbach_alpha(wide_missing)
    assert abs(res.alpha - ref["alpha"]) < 1e-6
    assert_allclose([res.ci_low, res.ci_high], ref["ci"], rtol=0, atol=1e-3)
    assert (res.n_used, res.n_total) == (12, 12)


def test_pingouin_documented_example_listwise(wide_missing):
    """Alpha as documented (1e-6). The interval differs on purpose: pingouin computes n
    before deleting the 3 incomplete rows, so its documented [0.581, 0.933] is Feldt with
    n = 12; ours uses the 9 rows the estimate comes from, [0.533, 0.947]."""
    ref = PINGOUIN_DOCS["listwise"]
    res = cronbach_alpha(wide_missing, nan_policy="listwise")
    assert abs(res.alpha - ref["alpha"]) < 1e-6
    assert (res.n_used, res.n_total) == (9, 12)
    assert_allclose(np.round(feldt(res.alpha, 12, 11), 3), ref["ci"], rtol=0, atol=1e-12)
    assert_allclose([res.ci_low, res.ci_high], feldt(res.alpha, 9, 11), rtol=0, atol=1e-10)
    assert_allclose([res.ci_low, res.ci_high], [0.533, 0.947], rtol=0, atol=1e-3)


def test_standardised_alpha_from_pairwise_correlations(agreeableness):
    """std_alpha = k r / (1 + (k - 1) r) with r the mean off-diagonal of the pairwise
    correlation matrix (psych >= 2.4), written out pair by pair; listwise, cov2cor of the
    complete rows' covariances."""
    corr = pairwise_corr(agreeableness)
    r = (corr.sum() - 5) / 20
    res = cronbach_alpha(agreeableness)
    assert abs(res.average_r - r) < 1e-12
    assert abs(res.std_alpha - 5 * r / (1 + 4 * r)) < 1e-12
    old = cov2cor(agreeableness.cov())  # psych < 2.4: a different number on these data
    assert abs(res.average_r - (old.sum() - 5) / 20) > 1e-4
    complete = agreeableness.dropna()
    r_lw = (cov2cor(complete.cov()).sum() - 5) / 20
    assert abs(cronbach_alpha(agreeableness, nan_policy="listwise").average_r - r_lw) < 1e-12


def test_std_alpha_if_dropped_matches_psych(agreeableness):
    table = item_analysis(agreeableness).table
    assert_allclose(table["std_alpha_if_dropped"], PSYCH_BFI_STD_ALPHA_IF_DROPPED, rtol=0,
                    atol=5e-4)
    # second path: standardised alpha of the pairwise correlations without each item
    corr = pairwise_corr(agreeableness)
    for i in range(5):
        keep = [j for j in range(5) if j != i]
        r = (corr[np.ix_(keep, keep)].sum() - 4) / 12
        assert abs(table.loc[i, "std_alpha_if_dropped"] - 4 * r / (1 + 3 * r)) < 1e-12


# --- item analysis -------------------------------------------------------------------------------


def test_item_analysis_pairwise_second_paths(agreeableness):
    """n, mean, sd from pandas; r_drop from the pairwise covariance matrix written out
    (cov(item, rest) = sum of the item's covariances with the others, var(rest) = sum of the
    others' covariance block); alpha_if_dropped from pingouin on the other four items (its
    pairwise covariances are the same submatrix). Tolerance 1e-10."""
    table = item_analysis(agreeableness).table.set_index("item")
    cov = agreeableness.cov().to_numpy()
    for i, col in enumerate(agreeableness.columns):
        others = [j for j in range(5) if j != i]
        r_drop = cov[i, others].sum() / np.sqrt(cov[i, i] * cov[np.ix_(others, others)].sum())
        alpha_drop, _ = pg.cronbach_alpha(agreeableness.drop(columns=col))
        row = table.loc[col]
        assert row["n"] == agreeableness[col].notna().sum()
        assert abs(row["mean"] - agreeableness[col].mean()) < 1e-10
        assert abs(row["sd"] - agreeableness[col].std()) < 1e-10
        assert abs(row["r_drop"] - r_drop) < 1e-10
        assert abs(row["alpha_if_dropped"] - alpha_drop) < 1e-10
        assert abs(row["pct_missing"] - agreeableness[col].isna().mean()) < 1e-15
    # A1 (reversed) is the weakest item: alpha rises without it
    assert table["r_drop"].idxmin() == "A1"
    assert table.loc["A1", "alpha_if_dropped"] > cronbach_alpha(agreeableness).alpha


def test_item_analysis_listwise_is_item_rest_correlation(conscientiousness):
    """Listwise: r_drop is the plain correlation of the item with the row sum of the other
    items on the complete rows; alpha_if_dropped is pingouin on those rows without the item."""
    complete = conscientiousness.dropna()
    table = item_analysis(conscientiousness, nan_policy="listwise").table.set_index("item")
    for col in conscientiousness.columns:
        rest = complete.drop(columns=col).sum(axis=1)
        assert abs(table.loc[col, "r_drop"] - np.corrcoef(complete[col], rest)[0, 1]) < 1e-10
        alpha_drop, _ = pg.cronbach_alpha(complete.drop(columns=col))
        assert abs(table.loc[col, "alpha_if_dropped"] - alpha_drop) < 1e-10
        assert table.loc[col, "n"] == len(complete)
        assert abs(table.loc[col, "sd"] - complete[col].std()) < 1e-10
        # pct_missing describes the data, whatever the policy
        assert abs(table.loc[col, "pct_missing"] - conscientiousness[col].isna().mean()) < 1e-15


def test_item_analysis_response_distribution(agreeableness):
    table = item_analysis(agreeableness, scale_points=range(1, 7)).table.set_index("item")
    for col in agreeableness.columns:
        shares = agreeableness[col].value_counts(normalize=True)
        for point in range(1, 7):
            assert abs(table.loc[col, f"p_{point}"] - shares.get(float(point), 0.0)) < 1e-15
    assert_allclose(table[[f"p_{p}" for p in range(1, 7)]].sum(axis=1), 1.0, atol=1e-12)
    with pytest.raises(ParameterError, match="scale_points"):
        item_analysis(agreeableness, scale_points=range(1, 6))  # answers of 6 are off-scale


# --- omega -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["agreeableness", "conscientiousness"])
def test_omega_matches_direct_least_squares(which, request):
    """Second code path: scipy least_squares on the off-diagonal ULS criterion for the
    pairwise correlation matrix (R's cor(use = "pairwise"), which psych::omega uses on raw
    data). Omega and loadings to 1e-6."""
    items = request.getfixturevalue(which)
    res = mcdonald_omega(items)
    omega, lam = uls_one_factor(pairwise_corr(items))
    assert res.converged and res.reason == ""
    assert abs(res.omega - omega) < 1e-6
    assert_allclose(res.loadings.to_numpy(), lam, rtol=0, atol=1e-6)
    listwise = mcdonald_omega(items, nan_policy="listwise")
    omega_lw, _ = uls_one_factor(items.dropna().corr().to_numpy())
    assert abs(listwise.omega - omega_lw) < 1e-6
    assert listwise.n_used == len(items.dropna())


def test_omega_three_items_is_exact():
    """With 3 items the one-factor model fits exactly: l1 = sqrt(r12 r13 / r23) etc."""
    items = one_factor_sample([0.8, 0.6, 0.5], 500, seed=3)
    corr = items.corr().to_numpy()
    l1 = np.sqrt(corr[0, 1] * corr[0, 2] / corr[1, 2])
    res = mcdonald_omega(items)
    assert abs(res.loadings.iloc[0] - l1) < 1e-9


def test_omega_recovers_simulated_one_factor_model():
    """Data from a one-factor model with loadings 0.8, 0.7, 0.6, 0.5, 0.4 (n = 2000):
    population omega = 3^2 / (3^2 + 3.1) = 0.7438. Across 200 seeds the estimate's SD is
    0.009, so 0.03 allows 3 SD; each loading's SE is about 0.02, so 0.06."""
    lam = np.array([0.8, 0.7, 0.6, 0.5, 0.4])
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())
    res = mcdonald_omega(one_factor_sample(lam, 2000, seed=20250601))
    assert abs(res.omega - truth) < 0.03
    assert_allclose(res.loadings.to_numpy(), lam, atol=0.06)
    # alpha <= omega when loadings differ (tau-equivalence fails)
    assert cronbach_alpha(one_factor_sample(lam, 2000, seed=20250601)).alpha < res.omega


def test_omega_reasons():
    two = one_factor_sample([0.7, 0.6], 50, seed=1)
    assert np.isnan(mcdonald_omega(two).omega)
    assert "fewer than 3 items" in mcdonald_omega(two).reason
    items = one_factor_sample([0.7, 0.6, 0.5], 50, seed=1)
    items["q3"] = 2.0
    res = mcdonald_omega(items)
    assert np.isnan(res.omega) and "'q3' has zero variance" in res.reason
    assert not res.converged and res.loadings.isna().all()


# --- bootstrap -------------------------------------------------------------------------------


@pytest.mark.parametrize("nan_policy", ["pairwise", "listwise"])
@pytest.mark.parametrize("chunk_cells", [None, 1000])
def test_bootstrap_matches_plain_loop(agreeableness, nan_policy, chunk_cells, monkeypatch):
    """The documented scheme done the slow way: replicate b resamples rows
    rng.integers(0, n, size=n) in turn, alpha by pingouin (listwise: on the complete rows of
    the resample), percentile interval by numpy.quantile. Also with tiny chunks (5
    replicates each), which must not change the draws. Tolerance 1e-10."""
    if chunk_cells is not None:
        monkeypatch.setattr(rel, "_CHUNK_CELLS", chunk_cells)
    items = agreeableness.iloc[:200]
    rng = np.random.default_rng(7)
    alphas = []
    for _ in range(120):
        sample = items.iloc[rng.integers(0, 200, size=200)]
        if nan_policy == "listwise":
            sample = sample.dropna()
        alphas.append(pg.cronbach_alpha(sample)[0])
    low, high = np.quantile(alphas, [0.05, 0.95])
    res = cronbach_alpha(items, nan_policy=nan_policy, n_boot=120, seed=7, ci=0.90)
    assert res.ci_method == "bootstrap" and res.n_boot == 120
    assert abs(res.ci_low - low) < 1e-10 and abs(res.ci_high - high) < 1e-10
    assert res.alpha == cronbach_alpha(items, nan_policy=nan_policy).alpha


def test_bootstrap_brackets_feldt_on_large_sample(agreeableness):
    """On 2800 respondents the bootstrap and Feldt intervals nearly agree (within 0.01)."""
    boot = cronbach_alpha(agreeableness, n_boot=400, seed=1)
    feldt_res = cronbach_alpha(agreeableness)
    assert boot.ci_low < boot.alpha < boot.ci_high
    assert abs(boot.ci_low - feldt_res.ci_low) < 0.01
    assert abs(boot.ci_high - feldt_res.ci_high) < 0.01


# --- grouped path against the single-set functions -------------------------------------------


@pytest.fixture(scope="module")
def mixed_groups(agreeableness):
    """bfi agreeableness rows cut into groups of very different sizes (several size
    buckets), shuffled, plus groups built to hit every rule: one row, two rows, a constant
    item, every item constant, an item nobody answered, two items never answered together,
    empty rows."""
    rng = np.random.default_rng(11)
    sizes = [1, 2, 3, 4, 7, 12, 30, 31, 64, 65, 150, 400]
    base = agreeableness.iloc[: sum(sizes)].copy()
    labels = np.repeat([f"g{i:02d}" for i in range(len(sizes))], sizes).astype(object)
    crafted = []

    def add(name, frame):
        crafted.append((name, frame))

    src = agreeableness.iloc[1000:1100].reset_index(drop=True)
    const = src.iloc[:10].copy()
    const["A3"] = 4.0
    add("const_item", const)
    add("all_const", pd.DataFrame(3.0, index=range(6), columns=src.columns))
    empty_item = src.iloc[10:20].copy()
    empty_item["A2"] = np.nan
    add("empty_item", empty_item)
    sparse = src.iloc[20:32].copy()
    sparse.loc[sparse.index[:6], "A1"] = np.nan
    sparse.loc[sparse.index[6:11], "A2"] = np.nan
    add("sparse_pair", sparse)
    empty_rows = src.iloc[32:45].copy()
    empty_rows.iloc[[0, 4, 7]] = np.nan
    add("empty_rows", empty_rows)
    holes = src.iloc[45:100].copy()
    holes = holes.mask(rng.random(holes.shape) < 0.15)
    add("holes", holes)
    frames = [base] + [f for _, f in crafted]
    labels = np.concatenate([labels] + [np.full(len(f), n, dtype=object) for n, f in crafted])
    data = pd.concat(frames, ignore_index=True)
    order = rng.permutation(len(data))
    return data.iloc[order].reset_index(drop=True), labels[order]


def _reference_scales(data, labels, nan_policy):
    """The plain loop: one call of each single-set function per group."""
    rows = []
    for group in sorted(set(labels)):
        part = data[labels == group]
        a = cronbach_alpha(part, nan_policy=nan_policy).to_frame().iloc[0].to_dict()
        o = mcdonald_omega(part, nan_policy=nan_policy)
        rows.append({"group": group, **a, "omega": o.omega, "omega_converged": o.converged,
                     "omega_reason": o.reason})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("nan_policy", ["pairwise", "listwise"])
def test_grouped_reliability_equals_group_by_group(mixed_groups, nan_policy):
    data, labels = mixed_groups
    fast = grouped_reliability(data, labels, nan_policy=nan_policy)
    slow = _reference_scales(data, labels, nan_policy)
    assert list(fast["group"]) == list(slow["group"])
    numbers = [*ALPHA_NUMBERS, "ci_level", "n_items", "n_used", "n_total", "omega"]
    assert_allclose(fast[numbers].to_numpy(float), slow[numbers].to_numpy(float), rtol=0,
                    atol=1e-10, equal_nan=True)
    for col in ["reason", "omega_reason", "omega_converged", "ci_method", "nan_policy"]:
        assert list(fast[col]) == list(slow[col]), col
    # the crafted groups really hit the rules
    reasons = dict(zip(fast["group"], fast["reason"], strict=True))
    assert reasons["g00"].startswith("fewer than 3 respondents")
    assert reasons["all_const"].startswith("zero variance")
    assert "zero variance" in reasons["const_item"]
    if nan_policy == "pairwise":
        assert "'A2' has fewer than 2 answers" in reasons["empty_item"]
        assert "answered together by fewer than 2" in reasons["sparse_pair"]
    assert fast.set_index("group").loc["empty_rows", "n_total"] == 13
    if nan_policy == "pairwise":
        assert fast.set_index("group").loc["empty_rows", "n_used"] == 10


@pytest.mark.parametrize("nan_policy", ["pairwise", "listwise"])
def test_grouped_item_analysis_equals_group_by_group(mixed_groups, nan_policy):
    data, labels = mixed_groups
    fast = grouped_item_analysis(data, labels, nan_policy=nan_policy, scale_points=range(1, 7))
    slow = pd.concat([item_analysis(data[labels == g], nan_policy=nan_policy,
                                    scale_points=range(1, 7)).table.assign(group=g)
                      for g in sorted(set(labels))], ignore_index=True)
    assert list(fast["group"]) == list(slow["group"])
    assert list(fast["item"]) == list(slow["item"])
    numbers = ITEM_NUMBERS + [f"p_{p}" for p in range(1, 7)]
    assert_allclose(fast[numbers].to_numpy(float), slow[numbers].to_numpy(float), rtol=0,
                    atol=1e-10, equal_nan=True)
    assert list(fast["reason"]) == list(slow["reason"])


def test_grouped_accepts_arrays_and_key_frames(agreeableness):
    data = agreeableness.iloc[:300]
    keys = pd.DataFrame({"collaboration_id": np.repeat(["b", "a"], 150),
                         "wave": np.tile([2, 1], 150)})
    by_frame = grouped_reliability(data, keys)
    assert list(by_frame.columns[:2]) == ["collaboration_id", "wave"]
    assert list(zip(by_frame["collaboration_id"], by_frame["wave"], strict=True)) == [
        ("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    part = data[(keys["collaboration_id"] == "a").to_numpy() & (keys["wave"] == 2).to_numpy()]
    assert abs(by_frame.loc[1, "alpha"] - cronbach_alpha(part).alpha) < 1e-12
    by_array = grouped_reliability(data.to_numpy(), pd.Series(keys["wave"], name="wave"))
    assert list(by_array["wave"]) == [1, 2]
    items = grouped_item_analysis(data.to_numpy(), keys["wave"].to_numpy())
    assert list(items["item"][:5]) == [0, 1, 2, 3, 4]


def test_grouped_result_shape_does_not_depend_on_data():
    tiny = pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, np.nan]})
    ok = grouped_reliability(one_factor_sample([0.7] * 2, 40, seed=1).set_axis(
        ["a", "b"], axis=1), np.zeros(40))
    bad = grouped_reliability(tiny, [0, 0])
    assert list(ok.columns) == list(bad.columns)
    assert bad.loc[0, "reason"] == "fewer than 3 respondents with answers"
    empty = grouped_reliability(tiny.iloc[:0], [])
    assert list(empty.columns) == list(ok.columns) and len(empty) == 0


# --- properties ------------------------------------------------------------------------------

LIKERT = st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])


@st.composite
def item_frames(draw, min_rows=0, max_rows=40):
    k = draw(st.integers(2, 5))
    n = draw(st.integers(min_rows, max_rows))
    values = draw(arrays(float, (n, k), elements=LIKERT))
    return pd.DataFrame(values, columns=[f"i{j}" for j in range(k)])


@settings(max_examples=60, deadline=None)
@given(frame=item_frames(), data=st.data(), nan_policy=st.sampled_from(["pairwise",
                                                                        "listwise"]))
def test_alpha_invariant_to_item_order(frame, data, nan_policy):
    perm = data.draw(st.permutations(list(frame.columns)))
    a = cronbach_alpha(frame, nan_policy=nan_policy)
    b = cronbach_alpha(frame[perm], nan_policy=nan_policy)
    assert_allclose([getattr(a, f) for f in ALPHA_NUMBERS],
                    [getattr(b, f) for f in ALPHA_NUMBERS], rtol=0, atol=1e-12, equal_nan=True)
    assert bool(a.reason) == bool(b.reason)
    ia = item_analysis(frame, nan_policy=nan_policy).table.set_index("item").loc[perm]
    ib = item_analysis(frame[perm], nan_policy=nan_policy).table.set_index("item")
    assert_allclose(ia[ITEM_NUMBERS].to_numpy(float), ib[ITEM_NUMBERS].to_numpy(float),
                    rtol=0, atol=1e-12, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(frame=item_frames(min_rows=1, max_rows=60), data=st.data(),
       nan_policy=st.sampled_from(["pairwise", "listwise"]))
def test_grouped_invariant_to_group_order_and_labels(frame, data, nan_policy):
    n = len(frame)
    labels = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)))
    rename = dict(zip(range(5), data.draw(st.permutations(["e", "b", "x", "a", "m"])),
                      strict=True))
    order = np.array(data.draw(st.permutations(list(range(n)))))
    first = grouped_reliability(frame, labels, nan_policy=nan_policy)
    second = grouped_reliability(frame.iloc[order], [rename[v] for v in labels[order]],
                                 nan_policy=nan_policy)
    second["group"] = second["group"].map({v: k for k, v in rename.items()})
    second = second.sort_values("group").reset_index(drop=True)
    numbers = [*ALPHA_NUMBERS, "n_used", "n_total"]
    assert_allclose(first[numbers].to_numpy(float), second[numbers].to_numpy(float), rtol=0,
                    atol=1e-10, equal_nan=True)
    assert list(first["reason"]) == list(second["reason"])
    # Omega where the one-factor problem is well posed (a positive definite correlation
    # matrix). With a singular one - perfectly correlated items, common in groups of a few
    # rows - the least-squares solution can be non-unique (tied eigenvalues at the start),
    # and which minimum is found may depend on rounding, i.e. on the order of the rows.
    for pos, group in enumerate(first["group"]):
        part = frame[labels == group]
        part = part.dropna() if nan_policy == "listwise" else part.dropna(how="all")
        if len(part) < 3:
            continue  # NaN by rule in both, compared through the reasons above
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov2cor(part.cov())
        if np.isfinite(corr).all() and np.linalg.eigvalsh(corr)[0] > 1e-6:
            assert_allclose(first.loc[pos, "omega"], second.loc[pos, "omega"], rtol=0,
                            atol=1e-10, equal_nan=True)
            assert first.loc[pos, "omega_reason"] == second.loc[pos, "omega_reason"]


@settings(max_examples=60, deadline=None)
@given(frame=item_frames(), nan_policy=st.sampled_from(["pairwise", "listwise"]))
def test_counts_report_the_rows_used(frame, nan_policy):
    """n_used is exactly the rows the figures use; nothing is dropped without being counted;
    listwise equals pairwise on the complete rows."""
    answered = frame.notna()
    used = answered.any(axis=1) if nan_policy == "pairwise" else answered.all(axis=1)
    res = cronbach_alpha(frame, nan_policy=nan_policy)
    assert (res.n_used, res.n_total) == (int(used.sum()), len(frame))
    table = item_analysis(frame, nan_policy=nan_policy).table
    expected_n = answered.sum() if nan_policy == "pairwise" else pd.Series(
        int(used.sum()), index=frame.columns)
    assert list(table["n"]) == list(expected_n)
    grouped = grouped_reliability(frame, np.zeros(len(frame)), nan_policy=nan_policy)
    if len(frame):
        assert grouped.loc[0, "n_used"] == res.n_used
    if nan_policy == "listwise":
        complete = cronbach_alpha(frame.dropna())
        assert_allclose([res.alpha, res.ci_low], [complete.alpha, complete.ci_low], rtol=0,
                        atol=1e-12, equal_nan=True)


# --- too little data: NaN and a reason ----------------------------------------------------------


def test_single_item_gives_nan_with_reason(agreeableness):
    res = cronbach_alpha(agreeableness[["A2"]])
    assert np.isnan(res.alpha) and np.isnan(res.ci_low) and res.reason == "fewer than 2 items"
    table = item_analysis(agreeableness[["A2"]]).table
    assert np.isnan(table.loc[0, "r_drop"]) and table.loc[0, "reason"] == "fewer than 2 items"
    assert table.loc[0, "n"] == agreeableness["A2"].notna().sum()
    assert mcdonald_omega(agreeableness[["A2"]]).reason.startswith("fewer than 3 items")


def test_too_few_respondents_and_zero_variance():
    two_rows = pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 3.0]})
    assert cronbach_alpha(two_rows).reason == "fewer than 3 respondents with answers"
    res = cronbach_alpha(pd.DataFrame({"a": [3.0] * 5, "b": [3.0] * 5}))
    assert np.isnan(res.alpha) and res.reason.startswith("zero variance")
    const = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 2, 4, 4], "c": [5.0] * 4})
    res = cronbach_alpha(const)
    assert np.isfinite(res.alpha) and np.isnan(res.std_alpha)  # as pingouin: c counts in k
    assert abs(res.alpha - pg.cronbach_alpha(const)[0]) < 1e-12
    assert "'c' has zero variance" in res.reason
    opposite = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [4.0, 3, 2, 1]})
    assert "total score has zero" in cronbach_alpha(opposite).reason


def test_result_shape_does_not_change_with_options(agreeableness):
    frames = [cronbach_alpha(agreeableness).to_frame(),
              cronbach_alpha(agreeableness, n_boot=50, seed=1).to_frame(),
              cronbach_alpha(agreeableness[["A1"]], nan_policy="listwise").to_frame(),
              cronbach_alpha(agreeableness.iloc[:0]).to_frame()]
    assert all(list(f.columns) == list(frames[0].columns) for f in frames)
    assert all(len(f) == 1 for f in frames)
    assert list(frames[0].columns) == list(AlphaResult.__dataclass_fields__)
    om = mcdonald_omega(agreeableness).to_frame()
    assert list(om.columns) == list(mcdonald_omega(agreeableness[["A1"]]).to_frame().columns)


# --- flags -----------------------------------------------------------------------------------


def test_flags_find_a_wrongly_keyed_item(agreeableness):
    raw = agreeableness.copy()
    raw["A1"] = 7 - raw["A1"]  # undo the reverse-keying
    flags = reliability_flags(cronbach_alpha(raw), item_analysis(raw))
    found = set(zip(flags["level"], flags["item"], flags["flag"], strict=True))
    assert ("item", "A1", "negative_item_total") in found
    assert ("item", "A1", "alpha_rises_if_dropped") in found
    assert ("scale", None, "low_alpha") in found
    assert flags["message"].str.len().gt(20).all()


def test_flags_thresholds_and_empty(agreeableness):
    res, items = cronbach_alpha(agreeableness), item_analysis(agreeableness)
    flags = reliability_flags(res, items, alpha_min=0.6, item_total_min=0.35)
    # A1: r_drop 0.31 and alpha without it 0.72 > 0.70
    assert set(zip(flags["item"], flags["flag"], strict=True)) == {
        ("A1", "low_item_total"), ("A1", "alpha_rises_if_dropped")}
    clean = one_factor_sample([0.8] * 4, 2000, seed=5)
    flags = reliability_flags(cronbach_alpha(clean), item_analysis(clean))
    assert flags.empty and list(flags.columns) == ["level", "item", "flag", "value",
                                                   "threshold", "message"]
    nan_res = cronbach_alpha(agreeableness[["A1"]])
    flags = reliability_flags(nan_res, item_analysis(agreeableness[["A1"]]))
    assert list(flags["flag"]) == ["alpha_not_computed"]
    assert "fewer than 2 items" in flags.loc[0, "message"]


# --- bad input -------------------------------------------------------------------------------

SINGLE = [cronbach_alpha, item_analysis, mcdonald_omega]
GROUPED = [grouped_reliability, grouped_item_analysis]


@pytest.mark.parametrize("fn", SINGLE + GROUPED)
@pytest.mark.parametrize("bad", ["complete", None, "Pairwise"])
def test_bad_nan_policy_names_parameter_and_choices(fn, bad, agreeableness):
    args = (agreeableness,) if fn in SINGLE else (agreeableness, np.zeros(len(agreeableness)))
    with pytest.raises(ParameterError) as info:
        fn(*args, nan_policy=bad)
    assert str(info.value) == f"nan_policy must be one of 'pairwise', 'listwise'; got {bad!r}"


@pytest.mark.parametrize("fn", [cronbach_alpha, grouped_reliability])
@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "0.95", float("nan"), True])
def test_bad_ci_names_parameter(fn, bad, agreeableness):
    args = (agreeableness,) if fn is cronbach_alpha else (agreeableness, np.zeros(2800))
    with pytest.raises(ParameterError, match=r"^ci must be"):
        fn(*args, ci=bad)


def test_other_bad_input(agreeableness):
    with pytest.raises(ParameterError, match=r"n_boot must be in \[0, inf\]; got -1"):
        cronbach_alpha(agreeableness, n_boot=-1)
    with pytest.raises(ParameterError, match="n_boot must be a whole number"):
        cronbach_alpha(agreeableness, n_boot=10.0)
    with pytest.raises(ParameterError, match="items must be a pandas DataFrame"):
        cronbach_alpha(agreeableness.to_numpy())
    with pytest.raises(ParameterError, match=r"non-numeric columns: \['who'\]"):
        cronbach_alpha(agreeableness.assign(who="x"))
    with pytest.raises(ParameterError, match="infinite values in columns"):
        cronbach_alpha(agreeableness.assign(A2=np.inf))
    with pytest.raises(ParameterError, match="scale_points must be whole numbers"):
        item_analysis(agreeableness, scale_points=[1, 2.5])
    with pytest.raises(ParameterError, match="one label per row"):
        grouped_reliability(agreeableness, np.zeros(10))
    with pytest.raises(ParameterError, match=r"missing at rows \[3\]"):
        grouped_reliability(agreeableness.iloc[:5], [1, 1, 1, None, 1])
    with pytest.raises(ParameterError, match="alpha_min"):
        reliability_flags(cronbach_alpha(agreeableness), item_analysis(agreeableness),
                          alpha_min=1.5)


def test_omega_bootstrap_ci_equals_a_loop_of_mcdonald_omega_on_the_same_resamples():
    """Second code path: the batched bootstrap equals resampling by hand (same generator
    draws, group by group) and calling mcdonald_omega on each resample, to 1e-10."""
    from collab_stats.reliability import mcdonald_omega, omega_bootstrap_ci

    rng = np.random.default_rng(4)
    latent = rng.normal(size=(90, 1))
    values = np.clip(np.round(3 + latent + rng.normal(scale=0.9, size=(90, 4))), 1, 5)
    values[rng.random(values.shape) < 0.05] = np.nan
    groups = np.repeat(["b", "a", "c"], 30)  # not sorted: output is in sorted key order
    out = omega_bootstrap_ci(values, groups, n_boot=40, seed=9)
    assert list(out["group"]) == ["a", "b", "c"]
    draws = np.random.default_rng(9)
    for g, label in enumerate(["a", "b", "c"]):
        members = np.flatnonzero(groups == label)
        picks = members[draws.integers(0, len(members), size=(40, len(members)))]
        omegas = np.array([mcdonald_omega(pd.DataFrame(values[p])).omega for p in picks])
        omegas = omegas[np.isfinite(omegas)]
        row = out.iloc[g]
        assert row["omega_n_boot"] == len(omegas)
        assert row["omega_ci_low"] == pytest.approx(np.quantile(omegas, 0.025), abs=1e-10)
        assert row["omega_ci_high"] == pytest.approx(np.quantile(omegas, 0.975), abs=1e-10)
        point = mcdonald_omega(pd.DataFrame(values[members])).omega
        assert row["omega_ci_low"] < point < row["omega_ci_high"]


def test_omega_bootstrap_ci_in_passes_equals_one_pass(monkeypatch):
    """The resamples are computed _BOOT_CHUNK at a time (memory); the interval is the same to
    the last digit as in one pass over all of them (groups of different sizes, a last pass
    shorter than the others)."""
    from collab_stats import reliability

    rng = np.random.default_rng(12)
    latent = rng.normal(size=(130, 1))
    values = np.clip(np.round(3 + latent + rng.normal(scale=0.9, size=(130, 5))), 1, 5)
    values[rng.random(values.shape) < 0.08] = np.nan
    groups = np.repeat(["a", "b", "c"], [40, 57, 33])
    monkeypatch.setattr(reliability, "_BOOT_CHUNK", 60)
    one_pass = reliability.omega_bootstrap_ci(values, groups, n_boot=60, seed=3)
    monkeypatch.setattr(reliability, "_BOOT_CHUNK", 7)
    passes = reliability.omega_bootstrap_ci(values, groups, n_boot=60, seed=3)
    pd.testing.assert_frame_equal(passes, one_pass, check_exact=True)
