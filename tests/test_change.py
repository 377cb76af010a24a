"""Tests of change over waves (:mod:`collab_stats.change`).

Five kinds of test:

* reference - the partially overlapping samples t-test (Derrick, Toher & White 2017) on the
  example of R's ``Partiallyoverlapping::Partover.test`` documentation, computed by hand
  beside the test; its exact reductions to Welch's and the paired t-test (scipy); lme4's
  ``sleepstudy`` models from the lme4 vignette (Bates et al. 2015), with an independent ANOVA
  computation where the published figure is a rounded one;
* second code paths - a plain per-collaboration loop straight from the formulas for the
  vectorised :func:`wave_change`; statsmodels' formula interface with its default start values
  and ordinary least squares for :func:`trend_model`;
* recovery - programmes simulated with known trends: false-positive rate of flat
  collaborations, power for improving ones, slopes against the true slopes;
* version awareness - changes between a 1.0 and a 2.0 wave use comparable items only;
* parameters - bad options raise a ParameterError naming the parameter.

Simulations use fixed seeds, so every test is deterministic.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from reference_data import read_reference
from scipy import stats

from collab_stats import simulate_programme
from collab_stats.change import (
    CHANGE_LABELS,
    INVARIANCE_CAVEAT,
    TrendResult,
    collaboration_trends,
    trend_model,
    wave_change,
)
from collab_stats.errors import ParameterError
from collab_stats.scoring import comparable_item_sets, item_matrix, score_responses

NUMERIC = ["mean_1", "mean_2", "sd_1", "sd_2", "change", "se", "ci_low", "ci_high", "t", "df",
           "p_value", "r_paired", "mdc"]
COUNTS = ["n_paired", "n_independent_1", "n_independent_2", "n_1", "n_2", "n_missing_1",
          "n_missing_2"]


def two_waves(wave1: dict, wave2: dict, *, collaboration="c1", characteristic="PS",
              waves=("w1", "w2")) -> pd.DataFrame:
    """A scores frame from {respondent_id: score} for each of two waves."""
    rows = [(waves[0], collaboration, r, characteristic, s) for r, s in wave1.items()]
    rows += [(waves[1], collaboration, r, characteristic, s) for r, s in wave2.items()]
    return pd.DataFrame(rows, columns=["wave_id", "collaboration_id", "respondent_id",
                                       "characteristic", "score"])


# --- plain reference implementation ------------------------------------------------------------


def reference_partover(x_a, x_b, x_pa, x_pb, *, ci=0.95):
    """T_new2 for sample a (unpaired x_a, paired x_pa) minus sample b, as R's
    Partiallyoverlapping::Partover.test(x_a, x_b, x_pa, x_pb, var.equal = FALSE) computes it."""
    a = np.concatenate([x_a, x_pa])
    b = np.concatenate([x_b, x_pb])
    n1, n2, n12 = len(a), len(b), len(x_pa)
    if n12 >= 2 and np.std(x_pa) > 0 and np.std(x_pb) > 0:
        r = np.corrcoef(x_pa, x_pb)[0, 1]
    else:
        r = 0.0
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    se = math.sqrt(va / n1 + vb / n2 - 2 * r * n12 * math.sqrt(va) * math.sqrt(vb) / (n1 * n2))
    estimate = a.mean() - b.mean()
    t = estimate / se
    welch = (va / n1 + vb / n2) ** 2 / ((va / n1) ** 2 / (n1 - 1) + (vb / n2) ** 2 / (n2 - 1))
    na, nb = len(x_a), len(x_b)
    df = (n12 - 1) + ((welch - n12 + 1) / (na + nb + 2 * n12)) * (na + nb)
    half = stats.t.ppf(0.5 + ci / 2, df) * se
    return {"change": estimate, "se": se, "t": t, "df": df,
            "p_value": 2 * stats.t.sf(abs(t), df), "ci_low": estimate - half,
            "ci_high": estimate + half, "r": r}


def reference_wave_change(scores: pd.DataFrame, pairs) -> pd.DataFrame:
    """wave_change one collaboration and characteristic at a time, from the formulas."""
    rows = []
    s = scores[scores["score"].notna()].astype({"wave_id": str, "collaboration_id": str,
                                                "characteristic": str, "respondent_id": str})
    for (collaboration, characteristic), cell in s.groupby(["collaboration_id", "characteristic"]):
        for w1, w2 in pairs:
            one = cell[cell["wave_id"] == w1].set_index("respondent_id")["score"]
            two = cell[cell["wave_id"] == w2].set_index("respondent_id")["score"]
            both = one.index.intersection(two.index)
            row = {"collaboration_id": collaboration, "characteristic": characteristic,
                   "wave_id": w2, "n_paired": len(both), "n_1": len(one), "n_2": len(two)}
            if len(one) >= 2 and len(two) >= 2:
                row |= reference_partover(two.drop(both).to_numpy(), one.drop(both).to_numpy(),
                                          two[both].to_numpy(), one[both].to_numpy())
            rows.append(row)
    return pd.DataFrame(rows)


# --- the partially overlapping samples t-test: reference values ---------------------------------


def test_partially_overlapping_hand_example():
    """The example of R's Partover.test documentation (Partiallyoverlapping 2.0, taken from
    Derrick, Toher & White 2017, TQMP 13(2)): 8 unpaired + 8 paired observations per sample.

    By hand (sample a = the later wave, b = the reference wave; S^2 with N - 1):
      mean_a = 258/16 = 16.125, mean_b = 226/16 = 14.125, change = 2
      S_a^2 = 107/12 = 8.916667, S_b^2 = 463/60 = 7.716667
      paired: Sxy = 41.5, Sxx = 63.5, Syy = 57.5 -> r = 41.5 / sqrt(63.5 * 57.5) = 0.6867953
      SE^2 = 8.916667/16 + 7.716667/16 - 2 * 0.6867953 * 8 * sqrt(8.916667 * 7.716667) / 256
           = 1.0395833 - 0.3560661 = 0.6835172,  SE = 0.8267546
      T = 2 / 0.8267546 = 2.4190976
      gamma (Welch df) = 1.0395833^2 / ((0.5572917^2 + 0.4822917^2) / 15) = 29.844665
      df = (8 - 1) + (29.844665 - 8 + 1) / (8 + 8 + 16) * (8 + 8) = 18.422332
      p = 2 P(t_18.42 > 2.4190976) = 0.026104
    """
    a_unpaired = [20, 21, 16, 18, 14, 12, 14, 17]
    a_paired = [14, 15, 18, 20, 11, 19, 14, 15]
    b_unpaired = [10, 16, 18, 16, 15, 14, 13, 10]
    b_paired = [15, 10, 15, 17, 13, 19, 12, 13]
    wave1 = {f"b{i}": v for i, v in enumerate(b_unpaired)} | {
        f"p{i}": v for i, v in enumerate(b_paired)}
    wave2 = {f"a{i}": v for i, v in enumerate(a_unpaired)} | {
        f"p{i}": v for i, v in enumerate(a_paired)}
    row = wave_change(two_waves(wave1, wave2)).iloc[0]

    assert row["test"] == "partially_overlapping"
    assert (row["n_paired"], row["n_independent_1"], row["n_independent_2"]) == (8, 8, 8)
    assert row["mean_2"] == pytest.approx(16.125, abs=1e-12)
    assert row["mean_1"] == pytest.approx(14.125, abs=1e-12)
    assert row["sd_2"] ** 2 == pytest.approx(107 / 12, rel=1e-12)
    assert row["sd_1"] ** 2 == pytest.approx(463 / 60, rel=1e-12)
    assert row["r_paired"] == pytest.approx(41.5 / math.sqrt(63.5 * 57.5), rel=1e-12)
    assert row["change"] == pytest.approx(2.0, abs=1e-12)
    assert row["se"] == pytest.approx(0.8267546, abs=1e-7)
    assert row["t"] == pytest.approx(2.4190976, abs=1e-7)
    assert row["df"] == pytest.approx(18.422332, abs=1e-6)
    assert row["p_value"] == pytest.approx(0.026104, abs=1e-6)
    assert row["label"] == "significantly improved"

    # Published figure: the documentation gives p = 0.026 for this example with
    # var.equal = TRUE (T_new1). From the same means, SDs and r:
    n1 = n2 = 16
    nc = 8
    sp = math.sqrt((15 * row["sd_1"] ** 2 + 15 * row["sd_2"] ** 2) / 30)
    t1 = row["change"] / (sp * math.sqrt(1 / n1 + 1 / n2 - 2 * row["r_paired"] * nc / (n1 * n2)))
    df1 = (nc - 1) + (8 + 8 + nc - 1) / (8 + 8 + 2 * nc) * (8 + 8)
    assert 2 * stats.t.sf(t1, df1) == pytest.approx(0.026, abs=5e-4)


@pytest.mark.parametrize("n1, n2, seed", [(5, 7, 1), (12, 30, 2), (40, 9, 3)])
def test_no_overlap_is_welch(n1, n2, seed):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(3.2, 0.7, n1)
    x2 = rng.normal(3.5, 1.1, n2)
    scores = two_waves({f"a{i}": v for i, v in enumerate(x1)},
                       {f"b{i}": v for i, v in enumerate(x2)})
    row = wave_change(scores).iloc[0]
    expected = stats.ttest_ind(x2, x1, equal_var=False)
    interval = expected.confidence_interval(0.95)
    assert row["test"] == "welch" and row["n_paired"] == 0
    assert row["t"] == pytest.approx(expected.statistic, rel=1e-10, abs=1e-10)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-10)
    assert row["df"] == pytest.approx(expected.df, rel=1e-10)
    assert row["ci_low"] == pytest.approx(interval.low, rel=1e-10, abs=1e-10)
    assert row["ci_high"] == pytest.approx(interval.high, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("n, seed", [(3, 4), (15, 5), (60, 6)])
def test_all_paired_is_paired_t_test(n, seed):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(3.0, 0.8, n)
    x2 = 0.6 * x1 + rng.normal(1.4, 0.5, n)
    ids = [f"r{i}" for i in range(n)]
    row = wave_change(two_waves(dict(zip(ids, x1, strict=True)),
                                dict(zip(ids, x2, strict=True)))).iloc[0]
    expected = stats.ttest_rel(x2, x1)
    interval = expected.confidence_interval(0.95)
    assert row["test"] == "paired" and row["n_independent_1"] == row["n_independent_2"] == 0
    assert row["t"] == pytest.approx(expected.statistic, rel=1e-10, abs=1e-10)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-10)
    assert row["df"] == pytest.approx(n - 1, abs=1e-10)
    assert row["ci_low"] == pytest.approx(interval.low, rel=1e-10, abs=1e-10)
    assert row["ci_high"] == pytest.approx(interval.high, rel=1e-10, abs=1e-10)


def test_paired_with_constant_wave_takes_r_zero():
    """r = 0 when one wave's paired scores do not vary (their covariance is 0): still the
    paired t-test."""
    x1 = np.full(6, 3.0)
    x2 = np.array([3.0, 4.0, 3.5, 5.0, 2.5, 4.0])
    ids = [f"r{i}" for i in range(6)]
    row = wave_change(two_waves(dict(zip(ids, x1, strict=True)),
                                dict(zip(ids, x2, strict=True)))).iloc[0]
    expected = stats.ttest_rel(x2, x1)
    assert row["r_paired"] == 0.0
    assert row["t"] == pytest.approx(expected.statistic, rel=1e-10)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-10)


def test_minimum_detectable_change():
    rng = np.random.default_rng(7)
    scores = two_waves({f"a{i}": v for i, v in enumerate(rng.normal(3, 1, 20))},
                       {f"b{i}": v for i, v in enumerate(rng.normal(3, 1, 25))})
    row = wave_change(scores).iloc[0]
    # (z_0.975 + z_0.8) = 1.959964 + 0.841621 = 2.801585
    assert row["mdc"] == pytest.approx(2.801585 * row["se"], rel=1e-6)
    stricter = wave_change(scores, alpha=0.01, power=0.9).iloc[0]
    assert stricter["mdc"] == pytest.approx((2.575829 + 1.281552) * row["se"], rel=1e-6)


# --- the vectorised path against the plain loop --------------------------------------------------


@pytest.fixture(scope="module")
def small_programme():
    sim = simulate_programme(seed=11, n_collaborations=12, n_waves=3)
    items = comparable_item_sets(sim.instrument, sim.instrument.version_ids)
    return sim, score_responses(sim.data, sim.instrument, version_items=items)


@pytest.mark.parametrize("compare", ["previous", "baseline"])
def test_vectorised_matches_plain_loop(small_programme, compare):
    _, scores = small_programme
    waves = list(scores["wave_id"].cat.categories)
    pairs = ([(waves[i - 1], waves[i]) for i in range(1, len(waves))] if compare == "previous"
             else [(waves[0], w) for w in waves[1:]])
    fast = wave_change(scores, compare=compare)
    slow = reference_wave_change(scores, pairs)
    fast = fast.astype({"collaboration_id": str, "characteristic": str})
    merged = fast.merge(slow, on=["collaboration_id", "characteristic", "wave_id"],
                        suffixes=("", "_ref"), validate="one_to_one")
    assert len(merged) == len(fast) == 12 * 8 * (len(waves) - 1)
    for column in ["n_paired", "n_1", "n_2"]:
        np.testing.assert_array_equal(merged[column], merged[f"{column}_ref"])
    for column in ["change", "se", "t", "df", "p_value", "ci_low", "ci_high"]:
        np.testing.assert_allclose(merged[column], merged[f"{column}_ref"], rtol=1e-10,
                                   atol=1e-12, err_msg=column)
    assert (merged["test"] == "partially_overlapping").mean() > 0.9


def test_result_shape_and_labels(small_programme):
    _, scores = small_programme
    out = wave_change(scores)
    assert list(out.columns[:5]) == ["collaboration_id", "characteristic", "wave_id",
                                     "reference_wave_id", "comparison"]
    assert set(out["label"]) <= set(CHANGE_LABELS)
    tested = out["p_value"].notna()
    significant = out["p_value"] < 0.05
    assert (out.loc[significant & (out["change"] > 0), "label"] == "significantly improved").all()
    assert (out.loc[significant & (out["change"] < 0), "label"] == "significantly declined").all()
    assert (out.loc[tested & ~significant, "label"] == "no significant change").all()
    # The interval excludes 0 exactly when p < 1 - ci.
    excludes = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    np.testing.assert_array_equal(excludes[tested], significant[tested])
    assert (out["n_1"] == out["n_paired"] + out["n_independent_1"]).all()
    assert (out["n_2"] == out["n_paired"] + out["n_independent_2"]).all()
    # Every row of the scores is either used or counted missing.
    per_wave = scores.groupby(["wave_id", "collaboration_id", "characteristic"],
                              observed=True).size()
    first = out[out["reference_wave_id"] == out["reference_wave_id"].iloc[0]]
    for row in first.head(10).itertuples():
        total = per_wave[(row.reference_wave_id, row.collaboration_id, row.characteristic)]
        assert row.n_1 + row.n_missing_1 == total


def test_design_counts_and_missing_scores():
    """A panel member with a score in one wave only is an independent observation there;
    NaN scores are counted, not used."""
    scores = pd.concat([
        two_waves({"a": 3.0, "b": 4.0, "c": 2.0}, {"d": 3.5, "e": 4.5}, collaboration="welch"),
        two_waves({"a": 3.0, "b": 4.0, "c": 2.0}, {"a": 3.5, "b": 4.5, "c": 2.0},
                  collaboration="paired"),
        two_waves({"a": 3.0, "b": 4.0, "c": 2.0, "x": np.nan},
                  {"a": 3.5, "b": np.nan, "d": 4.0, "e": 5.0}, collaboration="partial"),
    ], ignore_index=True)
    out = wave_change(scores).set_index("collaboration_id")
    assert out.loc["welch", "test"] == "welch"
    assert out.loc["paired", "test"] == "paired"
    partial = out.loc["partial"]
    assert partial["test"] == "partially_overlapping"
    assert (partial["n_paired"], partial["n_independent_1"], partial["n_independent_2"]) == (1, 2, 2)
    assert (partial["n_missing_1"], partial["n_missing_2"]) == (1, 1)
    # One pair: r cannot be estimated (NaN) and is taken as 0.
    assert math.isnan(partial["r_paired"])
    expected = reference_partover(np.array([4.0, 5.0]), np.array([4.0, 2.0]), np.array([3.5]),
                                  np.array([3.0]))
    assert partial["t"] == pytest.approx(expected["t"], rel=1e-12)
    assert partial["df"] == pytest.approx(expected["df"], rel=1e-12)


def test_too_little_data_gives_nan_with_reason():
    scores = pd.concat([
        two_waves({"a": 3.0}, {"a": 3.5, "b": 4.0}, collaboration="one-score"),
        two_waves({"a": 3.0, "b": 3.0}, {"c": 3.0, "d": 3.0}, collaboration="constant"),
        two_waves({"a": 3.0, "b": 4.0}, {}, collaboration="absent"),
    ], ignore_index=True)
    out = wave_change(scores).set_index("collaboration_id")
    one = out.loc["one-score"]
    assert one["change"] == pytest.approx(0.75)  # a mean is still a mean
    assert math.isnan(one["se"]) and math.isnan(one["p_value"])
    assert one["label"] == "not tested"
    assert one["reason"] == "fewer than 2 scores in the reference wave"
    constant = out.loc["constant"]
    assert constant["change"] == 0 and math.isnan(constant["t"])
    assert "do not vary" in constant["reason"]
    absent = out.loc["absent"]
    assert math.isnan(absent["change"]) and absent["n_2"] == 0
    assert math.isnan(absent["sd_2"]) and math.isnan(one["sd_1"])
    assert absent["reason"] == "fewer than 2 scores in the wave compared"


def test_compare_previous_or_baseline():
    rng = np.random.default_rng(3)
    frames = [two_waves({f"r{i}": v for i, v in enumerate(rng.normal(3, 1, 8))}, {},
                        waves=(w, "unused")) for w in ["2024-03", "2024-09", "2025-03", "2025-09"]]
    scores = pd.concat(frames, ignore_index=True)
    previous = wave_change(scores)
    assert list(previous["reference_wave_id"]) == ["2024-03", "2024-09", "2025-03"]
    assert list(previous["wave_id"]) == ["2024-09", "2025-03", "2025-09"]
    assert (previous["test"] == "paired").all()
    baseline = wave_change(scores, compare="baseline", baseline="2024-09")
    assert list(baseline["reference_wave_id"]) == ["2024-09", "2024-09"]
    assert list(baseline["wave_id"]) == ["2025-03", "2025-09"]
    # The change to the last wave from the baseline is the sum of the changes in between.
    assert baseline["change"].iloc[-1] == pytest.approx(previous["change"].iloc[1:].sum())
    # An explicit wave order overrides the sorted order.
    reordered = wave_change(scores, waves=["2025-09", "2025-03", "2024-09", "2024-03"])
    assert reordered["wave_id"].iloc[0] == "2025-03"


def test_invariance_caveat(small_programme):
    _, scores = small_programme
    assert (wave_change(scores)["caveat"] == "").all()
    assert (wave_change(scores, invariance_supported=True)["caveat"] == "").all()
    flagged = wave_change(scores, invariance_supported=False)
    assert (flagged["caveat"] == INVARIANCE_CAVEAT).all()
    assert INVARIANCE_CAVEAT == ("measurement invariance across these waves was not "
                                 "supported: change may reflect the questionnaire, not the "
                                 "collaboration")


# --- version awareness ------------------------------------------------------------------------


def test_change_across_versions_uses_comparable_items_only():
    sim = simulate_programme(seed=5, n_collaborations=6, n_waves=4)
    family = sim.instrument
    waves = {w.id: w.instrument_version for w in sim.programme.waves}
    w_old, w_new = list(waves)[1], list(waves)[2]
    assert (waves[w_old], waves[w_new]) == ("1.0", "2.0")
    items = comparable_item_sets(family, ["1.0", "2.0"])
    assert {"MI03", "CC02"}.isdisjoint(items["1.0"])
    assert {"MI03A", "MI03B", "TG06"}.isdisjoint(items["2.0"])
    comparable = score_responses(sim.data, family, version_items=items)
    everything = score_responses(sim.data, family)

    # The scores behind the change use 4 CC, 3 MI and 5 TG items in both versions.
    for wave in (w_old, w_new):
        n_items = comparable[comparable["wave_id"] == wave].groupby(
            "characteristic", observed=True)["n_items"].unique()
        assert {k: list(v) for k, v in n_items[["CC", "MI", "TG"]].items()} == {
            "CC": [4], "MI": [3], "TG": [5]}

    change = wave_change(comparable, baseline=w_old).query("wave_id == @w_new")
    assert (change["caveat"] == "").all()
    # Independent path: the mean of each respondent's answered comparable items
    # (reverse-keyed items reversed, at least half answered), averaged per collaboration.
    for characteristic in ("CC", "MI", "TG"):
        ids = sorted(i.id for i in family.version("1.0").items_for(characteristic)
                     if i.id in items["1.0"])
        matrix = item_matrix(sim.data, family, items=ids)
        answered = matrix[ids].notna().sum(axis=1)
        matrix["score"] = matrix[ids].mean(axis=1).where(answered >= 0.5 * len(ids))
        for wave, column in ((w_old, "mean_1"), (w_new, "mean_2")):
            means = matrix[matrix["wave_id"] == wave].groupby(
                "collaboration_id", observed=True)["score"].mean()
            got = change[change["characteristic"] == characteristic].set_index(
                "collaboration_id")[column]
            np.testing.assert_allclose(got.astype(float).to_numpy(),
                                       means.reindex(got.index.astype(str)).to_numpy(),
                                       rtol=1e-12)

    # Scoring every item changes CC, MI and TG only, and is flagged.
    naive = wave_change(everything, baseline=w_old).query("wave_id == @w_new")
    merged = naive.merge(change, on=["collaboration_id", "characteristic"], suffixes=("", "_c"))
    moved = merged.groupby("characteristic", observed=True).apply(
        lambda g: bool(np.any(np.abs(g["change"] - g["change_c"]) > 1e-12)),
        include_groups=False)
    assert set(moved[moved].index) == {"CC", "MI", "TG"}
    flagged = set(naive.loc[naive["caveat"] != "", "characteristic"].astype(str))
    assert flagged == {"CC", "MI", "TG"}
    assert "comparable_item_sets" in naive.loc[naive["characteristic"] == "TG", "caveat"].iloc[0]


# --- simulation recovery ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def programme60():
    sim = simulate_programme(seed=0, n_collaborations=60, n_waves=4)
    items = comparable_item_sets(sim.instrument, sim.instrument.version_ids)
    scores = score_responses(sim.data, sim.instrument, version_items=items)
    truth = sim.truth.trends.drop(columns="slope").astype(
        {"collaboration_id": str, "characteristic": str})
    return sim, scores, truth


def _with_truth(out, truth):
    return out.astype({"collaboration_id": str, "characteristic": str}).merge(truth)


def test_flat_collaborations_false_positive_rate(programme60):
    """Flat collaborations (true slope 0) should be labelled as changed between consecutive
    waves in about 5% of tests.

    Each collaboration x characteristic x consecutive pair of waves is one test (seed 0: 672
    tests, 28 flat collaborations). The tests are not independent: the 8 characteristics of a
    collaboration share respondents (correlated person effects and acquiescence), and the
    comparisons w1-w2 and w2-w3 share wave 2. Over 8 seeds the share varied with SD 0.011
    against a binomial SD of 0.008, a design effect of about 2, so the tolerance is 3 binomial
    SDs inflated by sqrt(2.5).
    """
    _, scores, truth = programme60
    out = _with_truth(wave_change(scores), truth)
    flat = out[(out["trend"] == "flat") & out["p_value"].notna()]
    n = len(flat)
    share = flat["label"].ne("no significant change").mean()
    tolerance = 3 * math.sqrt(0.05 * 0.95 / n) * math.sqrt(2.5)
    assert n > 500
    assert abs(share - 0.05) < tolerance, (share, n, tolerance)


def test_improving_collaborations_are_detected(programme60):
    """Improving collaborations, baseline to last wave (3 waves of latent slope 0.1-0.3 SD):
    the expected change of the characteristic score is about 0.35 points against a standard
    error of about 0.22-0.29, so the expected power is roughly 0.35-0.5 (computed below per
    test from the true change and the observed SE) - far above 5%."""
    sim, scores, truth = programme60
    out = _with_truth(wave_change(scores, compare="baseline"), truth)
    last = out["wave_id"].astype(str) == out["wave_id"].astype(str).max()
    improving = out[(out["trend"] == "improving") & last & out["p_value"].notna()]
    assert len(improving) >= 80
    detected = (improving["label"] == "significantly improved").mean()
    levels = sim.truth.collaboration_levels.astype(
        {"collaboration_id": str, "characteristic": str, "wave_id": str}).set_index(
        ["wave_id", "collaboration_id", "characteristic"])["expected_score"]
    waves = sorted(levels.index.get_level_values(0).unique())
    key = list(zip(improving["collaboration_id"], improving["characteristic"], strict=True))
    delta = (levels.loc[waves[-1]].reindex(key).to_numpy()
             - levels.loc[waves[0]].reindex(key).to_numpy())
    expected_power = stats.norm.cdf(delta / improving["se"].to_numpy() - 1.959964).mean()
    assert 0.3 < expected_power < 0.6
    assert detected > 0.25
    # Rough agreement only: the true change is of all the version's items, and 8
    # characteristics of a collaboration are detected or missed together.
    assert abs(detected - expected_power) < 0.15
    assert (improving["label"] == "significantly declined").mean() < 0.01


# --- trend model: lme4's sleepstudy ----------------------------------------------------------


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    """lme4 1.1-37's sleepstudy: 18 subjects x 10 days."""
    data = read_reference("sleepstudy.csv")
    assert data.shape == (180, 3) and data["Subject"].nunique() == 18
    return data


def test_sleepstudy_random_slopes_statsmodels_matches_lme4(sleepstudy):
    """lmer(Reaction ~ Days + (Days | Subject), sleepstudy), REML - Bates, Maechler, Bolker &
    Walker (2015), JSS 67(1), section 1 / the lme4 vignette: fixed effects (Intercept)
    251.405 (SE 6.825), Days 10.467 (SE 1.546); random-effect SDs Subject 24.741, Days 5.922,
    correlation 0.07 (0.066 to 3 dp); residual SD 25.592. Published to 3 decimals: fixed
    effects and SEs checked to 0.01, variance components to 0.05."""
    fit = smf.mixedlm("Reaction ~ Days", sleepstudy, groups=sleepstudy["Subject"],
                      re_formula="~Days").fit(reml=True)
    assert fit.converged
    assert fit.fe_params["Intercept"] == pytest.approx(251.405, abs=0.01)
    assert fit.fe_params["Days"] == pytest.approx(10.467, abs=0.01)
    assert fit.bse_fe["Intercept"] == pytest.approx(6.825, abs=0.01)
    assert fit.bse_fe["Days"] == pytest.approx(1.546, abs=0.01)
    cov = np.asarray(fit.cov_re)
    assert math.sqrt(cov[0, 0]) == pytest.approx(24.741, abs=0.05)
    assert math.sqrt(cov[1, 1]) == pytest.approx(5.922, abs=0.05)
    assert cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(0.07, abs=0.05)
    assert math.sqrt(fit.scale) == pytest.approx(25.592, abs=0.05)


def _sleep_scores(sleepstudy):
    return pd.DataFrame({
        "wave_id": sleepstudy["Days"].astype(int).astype(str),
        "collaboration_id": "sleepstudy",
        "respondent_id": sleepstudy["Subject"].astype(str),
        "characteristic": "reaction",
        "score": sleepstudy["Reaction"],
    })


def test_sleepstudy_random_intercept_trend_model(sleepstudy):
    """lmer(Reaction ~ Days + (1 | Subject), sleepstudy), REML (lme4 documentation and
    vignette; figures as printed): Days 10.467 (SE 0.804), Subject SD 37.12, residual SD
    30.99.

    Second code path, not relying on any printed figure: the design is balanced (every
    subject has days 0-9) and Days varies only within subjects, so the REML estimates equal
    the ANOVA ones (the ANOVA estimate is positive): sigma_e^2 = the residual mean square of
    lm(Reaction ~ factor(Subject) + Days) on 161 df, sigma_u^2 = (MS_subject - sigma_e^2) / 10
    with MS_subject = 10 var(subject means), the slope is the within-subject slope and its SE
    sqrt(sigma_e^2 / (18 * sum((0:9 - 4.5)^2))). These agree with the printed figures, which
    are then checked at their printed precision."""
    numbers = {str(d): float(d) for d in range(10)}
    fit = trend_model(_sleep_scores(sleepstudy), characteristic="reaction",
                      collaboration="sleepstudy", wave_numbers=numbers)
    assert isinstance(fit, TrendResult)
    assert fit.converged and fit.method == "REML" and fit.random == "respondent"
    assert (fit.n_obs, fit.n_groups, fit.n_waves) == (180, 18, 10)

    within = smf.ols("Reaction ~ C(Subject) + Days", sleepstudy).fit()
    sigma2_e = within.mse_resid
    subject_means = sleepstudy.groupby("Subject")["Reaction"].mean()
    ms_subject = 10 * subject_means.var(ddof=1)
    sigma2_u = (ms_subject - sigma2_e) / 10
    slope_se = math.sqrt(sigma2_e / (18 * ((np.arange(10) - 4.5) ** 2).sum()))
    assert within.df_resid == 161
    # REML is solved to machine precision (observed: 1e-13 in the slope, 2e-14 relative in
    # the SDs); with MixedLM's optimiser it agreed to 1e-6 only.
    assert fit.slope == pytest.approx(within.params["Days"], rel=1e-10)
    assert fit.se == pytest.approx(slope_se, rel=1e-10)
    assert fit.sd_residual == pytest.approx(math.sqrt(sigma2_e), rel=1e-10)
    assert fit.sd_respondent == pytest.approx(math.sqrt(sigma2_u), rel=1e-10)

    assert fit.slope == pytest.approx(10.467, abs=0.001)
    assert fit.se == pytest.approx(0.804, abs=0.001)
    assert fit.sd_respondent == pytest.approx(37.12, abs=0.01)
    assert fit.sd_residual == pytest.approx(30.99, abs=0.01)
    assert fit.label == "significantly improving"  # a rising score is "improving"
    assert fit.ci_low == pytest.approx(fit.slope - 1.959964 * fit.se, rel=1e-6)


# --- trend model: second code paths and recovery -----------------------------------------------


def test_trend_model_matches_statsmodels_formula_fit(small_programme):
    """The profiled-REML start values do not change the optimum: statsmodels' formula
    interface from its own start values gives the same fit (to optimiser tolerance: observed
    differences up to 9e-6 in the slope and 2e-5 relative in its SE). Where the REML
    estimate of the respondent variance is 0, statsmodels stops near (not at) the boundary
    and its Hessian-based SE is off by up to 20%; there the fit must equal OLS."""
    sim, scores = small_programme
    waves = list(scores["wave_id"].cat.categories)
    compared = {"interior": 0, "boundary": 0}
    for collaboration, characteristic in [(c, k) for c in sim.programme.collaboration_ids[:4]
                                          for k in ("PS", "MI")]:
        fit = trend_model(scores, characteristic=characteristic, collaboration=collaboration)
        cell = scores[(scores["collaboration_id"] == collaboration)
                      & (scores["characteristic"] == characteristic)
                      & scores["score"].notna()].copy()
        cell["wave_number"] = cell["wave_id"].astype(str).map(
            {w: float(i) for i, w in enumerate(waves)})
        cell["respondent_id"] = cell["respondent_id"].astype(str)
        direct = smf.mixedlm("score ~ wave_number", cell, groups=cell["respondent_id"]).fit(
            reml=True)
        if fit.warnings.startswith("random-intercept variance estimated as 0"):
            ols = sm.OLS(cell["score"], sm.add_constant(cell["wave_number"])).fit()
            assert fit.slope == pytest.approx(ols.params["wave_number"], abs=1e-10)
            assert fit.se == pytest.approx(ols.bse["wave_number"], rel=1e-10)
            compared["boundary"] += 1
            continue
        assert fit.slope == pytest.approx(direct.fe_params["wave_number"], abs=1e-4)
        assert fit.se == pytest.approx(direct.bse_fe["wave_number"], rel=1e-3)
        assert fit.sd_residual == pytest.approx(math.sqrt(direct.scale), rel=1e-4)
        assert fit.sd_respondent == pytest.approx(math.sqrt(direct.cov_re.iloc[0, 0]), abs=1e-3)
        assert fit.n_obs == len(cell)
        compared["interior"] += 1
    assert compared["interior"] >= 4, compared


def _cells(scores, sim, n):
    """(y, x, respondent codes) of the first ``n`` collaborations' PS and MI scores."""
    waves = {w: float(i) for i, w in enumerate(scores["wave_id"].cat.categories)}
    for collaboration in sim.programme.collaboration_ids[:n]:
        for characteristic in ("PS", "MI"):
            cell = scores[(scores["collaboration_id"] == collaboration)
                          & (scores["characteristic"] == characteristic)
                          & scores["score"].notna()]
            yield (cell["score"].to_numpy(dtype=float),
                   cell["wave_id"].astype(str).map(waves).to_numpy(dtype=float),
                   pd.factorize(cell["respondent_id"].astype(str))[0])


def test_direct_reml_is_statsmodels_mixedlm_at_the_optimum(small_programme):
    """Second code path: statsmodels' MixedLM evaluated at the direct fit's lambda gives the
    same fixed effects, residual variance and Hessian (hence SEs) to rounding, and the direct
    fit's REML log-likelihood is at least that of MixedLM's own optimum (observed: higher by
    up to ~1e-10: MixedLM stops at its optimiser's tolerance)."""
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

    from collab_stats.change import _Profile, _reml_intercept

    sim, scores = small_programme
    checked = 0
    for y, x, groups in _cells(scores, sim, 4):
        fit = _reml_intercept(y, x, groups)
        if fit.re_var == 0:
            continue
        lam = fit.re_var / fit.scale
        profile = _Profile(y, x, groups)
        assert abs(profile.slope(lam)) < 1e-8 * len(y)  # a stationary point of the deviance
        model = MixedLM(y, np.column_stack([np.ones_like(x), x]), groups)
        model.reml = True
        fe, _ = model.get_fe_params(np.array([[lam]]), np.array([]))
        assert fit.fe == pytest.approx(fe, rel=1e-10, abs=1e-12)
        assert fit.scale == pytest.approx(model.get_scale(fe, np.array([[lam]]), np.array([])),
                                          rel=1e-10)
        params = MixedLMParams.from_components(fe_params=fe, cov_re=np.array([[lam]]))
        hessian, _ = model.hessian(params)
        ours, _, _ = profile.hessian(lam)
        assert ours == pytest.approx(hessian, rel=1e-9, abs=1e-12)
        bse = np.sqrt(np.diag(np.linalg.inv(-hessian))[:2])
        assert fit.bse == pytest.approx(bse, rel=1e-9)
        theirs = model.fit(reml=True)
        assert model.loglike(params, profile_fe=False) >= (
            model.loglike(theirs.params_object, profile_fe=False) - 1e-12)
        checked += 1
    assert checked >= 4


def test_collaboration_trends_match_mixedlm_fits():
    """The whole table against one statsmodels MixedLM REML fit per collaboration x
    characteristic (its own start values and optimisers), as the trends were computed
    before the direct fit: the same labels and warnings, figures within MixedLM's optimiser tolerance
    (observed on this programme, MixedLM from its own start: slopes 3e-6, SEs 1e-5 relative,
    p-values 4e-5, residual SD 2e-5 relative, respondent SD 7e-5; from the profiled start, as
    the pipeline used it, 1e-7 / 2e-7 / 4e-7 / 3e-7 / 3e-7 on 800 fits)."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    sim = simulate_programme(seed=4, n_collaborations=6, n_waves=4)
    scores = score_responses(sim.data, sim.instrument, version_items=comparable_item_sets(
        sim.instrument, sim.instrument.version_ids))
    trends = collaboration_trends(scores)
    waves = {w: float(i) for i, w in enumerate(scores["wave_id"].cat.categories)}
    compared = 0
    gaps = []
    for row in trends.itertuples():
        cell = scores[(scores["collaboration_id"] == row.collaboration_id)
                      & (scores["characteristic"] == row.characteristic)
                      & scores["score"].notna()]
        if row.warnings.startswith("random-intercept variance estimated as 0"):
            continue
        y = cell["score"].to_numpy(dtype=float)
        x = cell["wave_id"].astype(str).map(waves).to_numpy(dtype=float)
        groups = pd.factorize(cell["respondent_id"].astype(str))[0]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ref = MixedLM(y, np.column_stack([np.ones_like(x), x]), groups).fit(reml=True)
        assert ref.converged
        slope, se = ref.fe_params[1], ref.bse_fe[1]
        p = 2 * stats.norm.sf(abs(slope / se))
        gaps.append((abs(row.slope - slope), abs(row.se / se - 1), abs(row.p_value - p),
                     abs(row.sd_residual / math.sqrt(ref.scale) - 1),
                     abs(row.sd_respondent - math.sqrt(ref.cov_re[0, 0]))))
        assert row.label == ("no significant trend" if p >= 0.05 else
                             "significantly improving" if slope > 0 else
                             "significantly declining")
        boundary = any("on the boundary" in str(w.message) for w in caught)
        assert ("on the boundary" in row.warnings) == boundary
        compared += 1
    worst = np.max(gaps, axis=0)
    assert worst[0] < 1e-5 and worst[1] < 1e-4 and worst[2] < 1e-4, worst
    assert worst[3] < 1e-4 and worst[4] < 1e-3, worst
    assert compared >= 30, compared


def _one_cell(y, x, respondents):
    return pd.DataFrame({"wave_id": [f"w{int(v)}" for v in x], "collaboration_id": "c",
                         "respondent_id": [f"r{r}" for r in respondents],
                         "characteristic": "PS", "score": y})


def test_trend_model_finds_a_large_variance_ratio():
    """Respondents differ far more than their answers move (sigma_u / sigma = 40, lambda
    about 1,600): the optimum lies beyond where a search of lambda in [0, 100] would stop.
    Reference: statsmodels MixedLM from its own start reaches the same slope, and its REML
    log-likelihood is no higher than at the direct fit's optimum."""
    from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

    rng = np.random.default_rng(3)
    people = np.repeat(np.arange(30), 3)
    x = np.tile([0.0, 1.0, 2.0], 30)
    y = 3 + 0.2 * x + rng.normal(0, 2.0, 30)[people] + rng.normal(0, 0.05, 90)
    fit = trend_model(_one_cell(y, x, people), characteristic="PS", collaboration="c",
                      wave_numbers={"w0": 0.0, "w1": 1.0, "w2": 2.0})
    lam = fit.sd_respondent ** 2 / fit.sd_residual ** 2
    assert fit.converged and 500 < lam < 5000, lam
    model = MixedLM(y, np.column_stack([np.ones_like(x), x]), people)
    theirs = model.fit(reml=True)
    assert fit.slope == pytest.approx(theirs.fe_params[1], abs=1e-4)
    ours = MixedLMParams.from_components(fe_params=np.array([fit.intercept, fit.slope]),
                                         cov_re=np.array([[lam]]))
    assert model.loglike(ours, profile_fe=False) >= model.loglike(
        theirs.params_object, profile_fe=False) - 1e-9


def test_trend_model_without_a_reml_maximum_is_not_tested():
    """Two respondents with two scores each: the REML likelihood keeps rising as the residual
    variance shrinks (its deviance falls through lambda = 1e2, 1e4, 1e6), so there is no
    estimate to give (MixedLM stops wherever its optimiser gives up)."""
    from collab_stats.change import _GRID, _Profile

    y, x, people = [3.8, 4.6, 4.2, 4.2], [2.0, 1.0, 0.0, 0.0], [0, 0, 1, 1]
    deviance, _ = _Profile(np.array(y), np.array(x), np.array(people)).curve(_GRID)
    assert np.all(np.diff(deviance[49:]) < 0)  # from lambda = 1 on, falling
    fit = trend_model(_one_cell(y, x, people), characteristic="PS", collaboration="c",
                      wave_numbers={"w0": 0.0, "w1": 1.0, "w2": 2.0})
    assert math.isnan(fit.slope) and fit.label == "not tested" and not fit.converged
    assert fit.reason.startswith("the REML likelihood has no maximum")


def test_boundary_and_unlinked_respondents_reduce_to_ols():
    rng = np.random.default_rng(8)
    # Nobody answers twice: the respondent variance is not identifiable.
    rows = [(w, "c", f"{w}-{i}", "PS", rng.normal(3 + 0.2 * k, 0.7))
            for k, w in enumerate(["w1", "w2", "w3"]) for i in range(15)]
    scores = pd.DataFrame(rows, columns=["wave_id", "collaboration_id", "respondent_id",
                                         "characteristic", "score"])
    fit = trend_model(scores, characteristic="PS", collaboration="c")
    x = scores["wave_id"].map({"w1": 0.0, "w2": 1.0, "w3": 2.0})
    ols = sm.OLS(scores["score"], sm.add_constant(x)).fit()
    assert fit.slope == pytest.approx(ols.params.iloc[1], rel=1e-10)
    assert fit.se == pytest.approx(ols.bse.iloc[1], rel=1e-10)
    assert math.isnan(fit.sd_respondent) and "cannot be told apart" in fit.warnings


def test_trend_too_little_data():
    scores = two_waves({"a": 3.0, "b": 4.0}, {})
    fit = trend_model(scores, characteristic="PS", collaboration="c1")
    assert math.isnan(fit.slope) and fit.label == "not tested"
    assert fit.reason == "scores in fewer than 2 waves: no trend can be estimated"
    frame = fit.to_frame()
    assert list(frame.columns) == list(TrendResult.__dataclass_fields__) and len(frame) == 1


def test_programme_level_trend_models(small_programme):
    _, scores = small_programme
    nested = trend_model(scores, characteristic="PS")
    assert nested.random == "respondent+collaboration" and nested.collaboration_id == ""
    assert nested.n_groups == 12 and nested.n_collaborations == 12
    assert nested.sd_collaboration > 0 and nested.sd_respondent > 0
    by_collaboration = trend_model(scores, characteristic="PS", random=("collaboration",))
    assert math.isnan(by_collaboration.sd_respondent) and by_collaboration.n_groups == 12
    # The three models estimate the same slope to within about a standard error.
    by_respondent = trend_model(scores, characteristic="PS", random=["respondent"])
    assert abs(nested.slope - by_respondent.slope) < nested.se
    assert abs(nested.slope - by_collaboration.slope) < 2 * nested.se


@pytest.mark.slow
def test_collaboration_trends_recover_true_slopes():
    """40 collaborations x 8 characteristics x 4 waves (320 MixedLM fits, about 5-7 s).

    The true slope of each collaboration x characteristic is the least-squares slope of its
    expected score (truth.collaboration_levels) over the waves. If the standard errors are
    right, (estimate - truth) / se is roughly standard normal: over seeds 0-2 its SD was
    0.94-1.11 and its mean within +/-0.15 (the truth uses all of each version's items, the
    scores only the comparable ones)."""
    sim = simulate_programme(seed=0, n_collaborations=40, n_waves=4)
    items = comparable_item_sets(sim.instrument, sim.instrument.version_ids)
    scores = score_responses(sim.data, sim.instrument, version_items=items)
    trends = collaboration_trends(scores)
    assert len(trends) == 320 and trends["converged"].all() and (trends["reason"] == "").all()
    one = trends.iloc[5]
    single = trend_model(scores, characteristic=one["characteristic"],
                         collaboration=one["collaboration_id"])
    assert single.slope == one["slope"] and single.se == one["se"]

    levels = sim.truth.collaboration_levels.astype(
        {"collaboration_id": str, "characteristic": str, "wave_id": str})
    order = {w: float(i) for i, w in enumerate(sorted(levels["wave_id"].unique()))}
    levels["x"] = levels["wave_id"].map(order)
    true_slope = levels.groupby(["collaboration_id", "characteristic"]).apply(
        lambda g: np.polyfit(g["x"], g["expected_score"], 1)[0], include_groups=False)
    merged = trends.merge(true_slope.rename("true_slope").reset_index())
    z = (merged["slope"] - merged["true_slope"]) / merged["se"]
    assert 0.8 < z.std() < 1.25
    assert abs(z.mean()) < 0.3
    assert np.corrcoef(merged["slope"], merged["true_slope"])[0, 1] > 0.5


# --- parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, words", [
    ({"compare": "last"}, "compare must be one of 'previous', 'baseline'"),
    ({"ci": 1.2}, "ci must be in (0, 1)"),
    ({"alpha": 0}, "alpha must be in (0, 1)"),
    ({"power": "high"}, "power must be a number"),
    ({"baseline": "2030-01"}, "baseline must be one of"),
    ({"invariance_supported": "no"}, "invariance_supported must be True, False or None"),
    ({"waves": ["w1"]}, "waves must list every wave"),
    ({"waves": "w1"}, "waves must be a sequence"),
])
def test_wave_change_parameter_errors(kwargs, words):
    scores = two_waves({"a": 3.0, "b": 4.0}, {"a": 3.0, "c": 2.0})
    with pytest.raises(ParameterError) as err:
        wave_change(scores, **kwargs)
    assert words in str(err.value)


def test_wave_change_data_errors():
    with pytest.raises(ParameterError, match="missing: score"):
        wave_change(pd.DataFrame({"wave_id": [], "collaboration_id": [], "respondent_id": [],
                                  "characteristic": []}))
    scores = two_waves({"a": 3.0, "b": 4.0}, {"a": 3.0})
    doubled = pd.concat([scores, scores.iloc[[0]]], ignore_index=True)
    with pytest.raises(ParameterError, match="one row per wave, collaboration, respondent"):
        wave_change(doubled)


@pytest.mark.parametrize("kwargs, words", [
    ({"characteristic": "XX"}, "characteristic must be one of"),
    ({"characteristic": "PS", "collaboration": "nope"}, "collaboration must be one of"),
    ({"characteristic": "PS", "random": ("person",)}, "random must be one of"),
    ({"characteristic": "PS", "collaboration": "c1", "random": ("collaboration",)},
     "random must be ('respondent',) for a single collaboration"),
    ({"characteristic": "PS", "wave_numbers": {"w1": 0}}, "missing: ['w2']"),
    ({"characteristic": "PS", "wave_numbers": {"w1": 0, "w2": "one"}},
     "wave_numbers['w2'] must be a number"),
    ({"characteristic": "PS", "ci": 0.0}, "ci must be in (0, 1)"),
])
def test_trend_model_parameter_errors(kwargs, words):
    scores = two_waves({"a": 3.0, "b": 4.0}, {"a": 3.0, "c": 2.0})
    with pytest.raises(ParameterError) as err:
        trend_model(scores, **kwargs)
    assert words in str(err.value)


def test_collaboration_trends_parameter_errors():
    scores = two_waves({"a": 3.0, "b": 4.0}, {"a": 3.0, "c": 2.0})
    with pytest.raises(ParameterError, match="characteristics must be a sequence"):
        collaboration_trends(scores, characteristics="PS")
    with pytest.raises(ParameterError, match="characteristics must be one of"):
        collaboration_trends(scores, characteristics=["XX"])
