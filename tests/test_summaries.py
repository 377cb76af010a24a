"""Tests of :mod:`collab_stats.summaries`.

Four kinds of test:

* reference - every figure of ``characteristic_summaries`` is recomputed by a second,
  independent path: pandas ``groupby`` (mean, ``std(ddof=1)``, counts), ``scipy.stats.t.interval``
  for the interval, and ``statsmodels`` ``DescrStatsW`` for the weighted mean and standard
  deviation (``DescrStatsW(x, weights=w * n / sum(w), ddof=1).std`` is the documented weighted
  ``N - 1`` convention); the design effect is recomputed in a plain loop;
* weights - partner-balanced weights add up to the cell size and give every organisation the
  same total; equal weights give a design effect of exactly 1 and the unweighted figures;
* simulation - 95% intervals cover the true expected scores of the simulator about 95% of
  the time;
* the item-level functions against a count made directly from the raw responses, and the
  response rates against the programme.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

from collab_stats import simulate_programme
from collab_stats.errors import ParameterError
from collab_stats.schema import respondent_rows
from collab_stats.scoring import item_distribution, score_responses
from collab_stats.summaries import (
    characteristic_summaries,
    favourable_by_characteristic,
    item_summaries,
    partner_weights,
    response_rates,
)

KEYS = ["wave_id", "collaboration_id", "characteristic"]


@pytest.fixture(scope="module")
def sim():
    """12 collaborations x 2 waves (one per instrument version), 6-80 respondents each."""
    return simulate_programme(seed=20250610, n_collaborations=12, n_waves=2)


@pytest.fixture(scope="module")
def scores(sim):
    return score_responses(sim.data, sim.instrument)


@pytest.fixture(scope="module")
def balanced(sim, scores):
    """Partner-balanced weights, one per row of ``scores``."""
    w = partner_weights(sim.data.respondents, scheme="partner_balanced")
    return w[respondent_rows(scores, sim.data.respondents)]


def _str_keys(frame, keys=KEYS):
    return frame.astype(dict.fromkeys(keys, str))


# --- unweighted: pandas and scipy ------------------------------------------------------------


def test_unweighted_figures_match_pandas_groupby_and_scipy_t_interval(scores):
    out = characteristic_summaries(scores, ci=0.9)
    grouped = _str_keys(scores).groupby(KEYS)["score"]
    ref = pd.DataFrame({"n_total": grouped.size(), "n": grouped.count(), "mean": grouped.mean(),
                        "sd": grouped.std(ddof=1)}).reset_index()
    got = _str_keys(out).merge(ref, on=KEYS, suffixes=("", "_ref"), validate="one_to_one")
    assert len(got) == len(out) == len(ref)
    assert (got["n_total"] == got["n_total_ref"]).all() and (got["n"] == got["n_ref"]).all()
    np.testing.assert_allclose(got["mean"], got["mean_ref"], rtol=1e-12)
    np.testing.assert_allclose(got["sd"], got["sd_ref"], rtol=1e-10)
    np.testing.assert_allclose(got["se"], got["sd_ref"] / np.sqrt(got["n_ref"]), rtol=1e-10)
    np.testing.assert_array_equal(got["df"], got["n_ref"] - 1)
    low, high = stats.t.interval(0.9, got["n_ref"] - 1, loc=got["mean_ref"],
                                 scale=got["sd_ref"] / np.sqrt(got["n_ref"]))
    np.testing.assert_allclose(got["ci_low"], low, rtol=1e-10)
    np.testing.assert_allclose(got["ci_high"], high, rtol=1e-10)
    assert (got["deff"] == 1).all() and (got["n_eff"] == got["n"]).all()
    assert (got["sum_weights"] == got["n"]).all()


def test_hand_worked_t_interval_matches_r_t_test():
    """The equivalent R call ``t.test(c(2, 3, 4, 5))$conf.int`` (printed 1.44574 5.55426);
    by hand: 3.5 -/+ qt(0.975, 3) * sqrt(5/3) / 2 = 3.5 -/+ 3.182446 * 0.6454972 (R was not
    available here to run the call; the hand value is checked to 6 decimals)."""
    s = pd.DataFrame({"g": ["a"] * 4, "score": [2.0, 3.0, 4.0, 5.0]})
    row = characteristic_summaries(s, by=["g"]).iloc[0]
    assert row["mean"] == 3.5
    assert row["sd"] == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert row["ci_low"] == pytest.approx(1.445740, abs=5e-7)
    assert row["ci_high"] == pytest.approx(5.554260, abs=5e-7)


def test_nothing_is_dropped_and_reasons_say_why():
    s = pd.DataFrame({"g": ["a", "a", "b", "b", "c", "c", "c", np.nan],
                      "score": [np.nan, np.nan, 4.0, np.nan, 1.0, 2.0, 2.0, 3.0]})
    out = characteristic_summaries(s, by=["g"])
    assert out["n_total"].sum() == len(s)  # the row with a missing group key is its own group
    by_g = out.set_index(out["g"].astype(object).fillna("<missing>"))
    assert by_g.loc["a", "reason"] == "no_scores" and math.isnan(by_g.loc["a", "mean"])
    assert by_g.loc["a", "n"] == 0 and by_g.loc["a", "n_total"] == 2
    assert by_g.loc["b", "reason"] == "one_score" and by_g.loc["b", "mean"] == 4.0
    assert math.isnan(by_g.loc["b", "sd"]) and math.isnan(by_g.loc["b", "ci_low"])
    assert by_g.loc["c", "reason"] == "" and by_g.loc["c", "n"] == 3
    assert by_g.loc["<missing>", "n"] == 1


def test_columns_do_not_depend_on_options(scores, balanced, sim):
    plain = characteristic_summaries(scores)
    full = characteristic_summaries(scores, weights=balanced, favourable_min=4.0,
                                    bands=sim.instrument.latest.scoring, ci=0.8)
    assert list(plain.columns) == list(full.columns)
    assert plain["favourable_respondent_share"].isna().all() and plain["band"].isna().all()


def test_row_order_does_not_matter(scores, balanced):
    rng = np.random.default_rng(3)
    order = rng.permutation(len(scores))
    a = characteristic_summaries(scores, weights=balanced)
    b = characteristic_summaries(scores.iloc[order], weights=balanced[order])
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_bands_and_favourable_share(scores, sim):
    rules = sim.instrument.latest.scoring
    out = characteristic_summaries(scores, favourable_min=4.0, bands=rules)
    expected = [None if math.isnan(m) else rules.band(m).id for m in out["mean"]]
    assert out["band"].astype(object).where(out["band"].notna(), None).tolist() == expected
    ref = (_str_keys(scores).assign(fav=lambda d: (d["score"] >= 4.0).astype(float)
                                    .where(d["score"].notna()))
           .groupby(KEYS)["fav"].mean().rename("ref").reset_index())
    got = _str_keys(out).merge(ref, on=KEYS)
    np.testing.assert_allclose(got["favourable_respondent_share"], got["ref"], rtol=1e-12)


# --- weighted: statsmodels DescrStatsW -------------------------------------------------------


def test_weighted_figures_match_statsmodels_descrstatsw(scores):
    rng = np.random.default_rng(11)
    w = rng.lognormal(0.0, 0.7, size=len(scores))
    out = _str_keys(characteristic_summaries(scores, weights=w, ci=0.95)).set_index(KEYS)
    frame = _str_keys(scores).assign(w=w)
    checked = 0
    for key, g in frame.groupby(KEYS):
        g = g[g["score"].notna()]
        if len(g) < 2:
            continue
        x, wg = g["score"].to_numpy(), g["w"].to_numpy()
        n = len(x)
        d = DescrStatsW(x, weights=wg * n / wg.sum(), ddof=1)
        deff = n * np.sum(wg**2) / np.sum(wg) ** 2  # Kish
        n_eff = n / deff
        se = d.std / math.sqrt(n_eff)
        low, high = stats.t.interval(0.95, n_eff - 1, loc=d.mean, scale=se)
        row = out.loc[key]
        assert row["mean"] == pytest.approx(d.mean, rel=1e-12)
        assert row["sd"] == pytest.approx(d.std, rel=1e-10)
        assert row["deff"] == pytest.approx(deff, rel=1e-12)
        assert row["n_eff"] == pytest.approx(n_eff, rel=1e-12)
        assert row["se"] == pytest.approx(se, rel=1e-10)
        assert row["df"] == pytest.approx(n_eff - 1, rel=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-10)
        checked += 1
    assert checked > 150


def test_equal_weights_give_deff_1_and_the_unweighted_figures(scores):
    plain = characteristic_summaries(scores)
    equal = characteristic_summaries(scores, weights=np.full(len(scores), 2.5))
    ok = plain["n"] > 0
    np.testing.assert_allclose(equal.loc[ok, "deff"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(equal.loc[ok, "n_eff"], plain.loc[ok, "n"], rtol=1e-12)
    for column in ("mean", "sd", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(equal[column], plain[column], rtol=1e-10, equal_nan=True)


def test_weights_only_matter_relative_to_each_other(scores, balanced):
    a = characteristic_summaries(scores, weights=balanced)
    b = characteristic_summaries(scores.assign(wt=balanced * 37.0), weights="wt")
    for column in ("mean", "sd", "se", "deff", "n_eff", "ci_low", "ci_high"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-10, equal_nan=True)


# --- partner-balanced weights ----------------------------------------------------------------


def test_partner_balanced_weights_sum_to_cell_size_and_equalise_organisations(sim):
    resp = sim.data.respondents
    w = partner_weights(resp, scheme="partner_balanced")
    frame = resp[["wave_id", "collaboration_id", "partner_id"]].astype(str).assign(w=w)
    cells = frame.groupby(["wave_id", "collaboration_id"])
    np.testing.assert_allclose(cells["w"].sum(), cells.size(), rtol=1e-12)
    org_totals = frame.groupby(["wave_id", "collaboration_id", "partner_id"])["w"].sum()
    spread = org_totals.groupby(level=[0, 1]).agg(lambda s: s.max() - s.min())
    assert spread.max() < 1e-12
    expected = cells.size() / frame.groupby(["wave_id", "collaboration_id"])["partner_id"].nunique()
    np.testing.assert_allclose(org_totals.groupby(level=[0, 1]).first(), expected, rtol=1e-12)
    assert (partner_weights(resp) == 1).all()


def test_respondents_without_a_partner_form_one_unknown_organisation():
    r = pd.DataFrame({"wave_id": ["w1"] * 6 + ["w2"] * 2, "collaboration_id": ["a"] * 8,
                      "partner_id": ["p", "p", "q", None, None, None, "p", None]})
    w = partner_weights(r, scheme="partner_balanced")
    # w1: 6 respondents, organisations p (2), q (1), unknown (3): 6 / (3 * n_org)
    np.testing.assert_allclose(w, [1, 1, 2, 2 / 3, 2 / 3, 2 / 3, 1, 1])


# --- simulation: coverage of the truth -------------------------------------------------------


def test_intervals_cover_the_true_expected_scores_about_95_percent():
    """Two programmes of 60 collaborations x 2 waves: 1,920 wave x collaboration x
    characteristic cells, each with a 95% interval for the true expected score
    (``truth.collaboration_levels``). Independent cells would give a binomial standard error
    of 0.005; the eight characteristics of a cell share respondents, but over seeds 1-4 the
    coverage of 960 cells varied with SD 0.009 (binomial: 0.007), so about 0.0065 here. Scores
    are discrete and skewed and some cells have only 4 scores, where a t interval is only
    approximate, and partial responses drop later items. Accept 0.925-0.975, 3.8 standard
    errors either side of 0.95. This checks calibration against the truth and catches gross
    errors (the score ``sd`` in place of ``se`` covers 0.999 here); it cannot tell a t from a
    z interval (z with the N denominator covers 0.926 here) - the reference tests above check
    the exact formulas. Seeds are fixed, so the test is deterministic (observed: 0.949)."""
    covered, weighted_covered, total = 0, 0, 0
    for seed in (1, 2):
        sim = simulate_programme(seed=seed, n_collaborations=60, n_waves=2)
        scores = score_responses(sim.data, sim.instrument)
        truth = _str_keys(sim.truth.collaboration_levels)
        w = partner_weights(sim.data.respondents, scheme="partner_balanced")[
            respondent_rows(scores, sim.data.respondents)]
        for weights in (None, w):
            out = _str_keys(characteristic_summaries(scores, weights=weights))
            m = out.merge(truth, on=KEYS, validate="one_to_one")
            assert len(m) == len(truth) == 960
            hit = int(((m["ci_low"] <= m["expected_score"]) & (m["expected_score"] <= m["ci_high"])).sum())
            if weights is None:
                covered += hit
                total += len(m)
            else:
                weighted_covered += hit
    assert 0.925 <= covered / total <= 0.975
    # Partner-balanced weights are unrelated to the scores here, so the weighted mean is
    # unbiased too; Kish's approximation is looser (observed 0.959), so only a wider check.
    assert 0.92 <= weighted_covered / total <= 0.985


# --- item-level summaries --------------------------------------------------------------------


def _raw_favourable(sim):
    """Favourable and answered item responses per wave x collaboration x characteristic,
    counted directly from the raw responses and the instrument definition."""
    family = sim.instrument
    scale = family.latest.scale
    info = {i.id: i for v in family.versions for i in v.items}
    ans = sim.data.responses.astype({"wave_id": str, "collaboration_id": str, "item_id": str})
    ans = ans[ans["value"].notna()].copy()
    value = ans["value"].astype(int)
    reverse = ans["item_id"].map(lambda i: info[i].reverse)
    keyed = value.where(~reverse, scale.max + scale.min - value)
    ans["favourable"] = keyed.isin(scale.favourable)
    ans["characteristic"] = ans["item_id"].map(lambda i: info[i].characteristic)
    return ans.groupby(KEYS).agg(answered=("favourable", "size"),
                                 favourable=("favourable", "sum")).reset_index()


def test_favourable_by_characteristic_matches_a_count_of_the_raw_responses(sim):
    dist = item_distribution(sim.data, sim.instrument)
    out = _str_keys(favourable_by_characteristic(dist))
    ref = _raw_favourable(sim)
    got = out.merge(ref, on=KEYS, validate="one_to_one")
    assert len(got) == len(out) == len(ref)
    assert (got["n_answered"] == got["answered"]).all()
    assert (got["n_favourable"] == got["favourable"]).all()
    np.testing.assert_allclose(got["favourable_share"], got["favourable"] / got["answered"],
                               rtol=1e-12)
    n_resp = _str_keys(sim.data.respondents, ["wave_id", "collaboration_id"]).groupby(
        ["wave_id", "collaboration_id"]).size().rename("resp").reset_index()
    got = got.merge(n_resp, on=["wave_id", "collaboration_id"])
    assert (got["n_respondents"] == got["resp"]).all()  # one version per wave


def test_item_summaries_shares(sim):
    dist = item_distribution(sim.data, sim.instrument)
    out = item_summaries(dist)
    assert len(out) == len(dist)
    p = out[[f"p_{k}" for k in range(1, 6)]]
    answered = out["n_answered"] > 0
    np.testing.assert_allclose(p[answered].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out["p_3"], dist["n_3"] / dist["n_answered"], rtol=1e-12)
    np.testing.assert_allclose(out["dont_know_share"], dist["n_dont_know"] / dist["n_rows"],
                               rtol=1e-12)
    np.testing.assert_allclose(out["favourable_share"], dist["favourable_share"], rtol=1e-12)
    # a reverse-keyed item's favourable share is its share of the two disagree codes
    rev = out["reverse"].to_numpy()
    np.testing.assert_allclose(out.loc[rev, "favourable_share"],
                               (out["p_1"] + out["p_2"])[rev], rtol=1e-12)


def test_item_summaries_with_no_answers():
    d = pd.DataFrame({"wave_id": ["w1"], "item_id": ["A1"], "characteristic": ["A"],
                      "reverse": [False], "n_rows": [3], "n_answered": [0],
                      **{f"n_{k}": [0] for k in range(1, 6)}, "n_dont_know": [3],
                      "favourable_share": [np.nan]})
    row = item_summaries(d).iloc[0]
    assert row["reason"] == "no_answers" and math.isnan(row["p_1"])
    assert row["dont_know_share"] == 1.0


# --- response rates --------------------------------------------------------------------------


def test_response_rates_against_the_programme(sim):
    resp = sim.data.respondents
    rates = response_rates(resp, sim.programme)
    assert len(rates) == len(sim.programme.wave_ids) * len(sim.programme.collaboration_ids)
    counts = resp.astype({"wave_id": str, "collaboration_id": str}).groupby(
        ["wave_id", "collaboration_id"]).size()
    got = rates.set_index(["wave_id", "collaboration_id"])
    assert (got.loc[counts.index, "n"] == counts).all()
    for col in sim.programme.collaborations:
        for wave, invited in col.invited.items():
            assert got.loc[(wave, col.id), "invited"] == invited
            assert got.loc[(wave, col.id), "response_rate"] == pytest.approx(
                counts[(wave, col.id)] / invited, rel=1e-12)
    # the simulator draws response rates in 0.35-0.85 (invited rounded up)
    assert rates["response_rate"].between(0.3, 0.86).all()


def test_response_rates_unknown_invited_and_unknown_collaboration(sim):
    first = sim.programme.collaborations[0]
    programme = dataclasses.replace(
        sim.programme,
        collaborations=(dataclasses.replace(first, invited={}), *sim.programme.collaborations[2:]))
    rates = response_rates(sim.data.respondents, programme)
    dropped = sim.programme.collaborations[1].id
    rows = rates[rates["collaboration_id"] == first.id]
    assert rows["invited"].isna().all() and (rows["reason"] == "invited_not_known").all()
    assert rows["response_rate"].isna().all()
    extra = rates[rates["collaboration_id"] == dropped]  # answered, but not in the programme
    assert len(extra) == 2 and extra.index.min() >= len(programme.wave_ids) * (
        len(programme.collaborations))
    assert (extra["n"] > 0).all()
    assert rates["n"].sum() == len(sim.data.respondents)


# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "match"), [
    (lambda s: characteristic_summaries(s, ci=1.0), "ci must be in"),
    (lambda s: characteristic_summaries(s, by=["sector"]), "by must be one of"),
    (lambda s: characteristic_summaries(s, weights=np.ones(3)), "weights must be"),
    (lambda s: characteristic_summaries(s, weights=-np.ones(len(s))), "finite and positive"),
    (lambda s: characteristic_summaries(s, weights="nope"), "weights must be one of"),
    (lambda s: characteristic_summaries(s, favourable_min="4"), "favourable_min must be"),
    (lambda s: characteristic_summaries(s, bands=[1, 2]), "bands must be"),
    (lambda s: characteristic_summaries(s.drop(columns="score")), "scores must have"),
])
def test_bad_parameters_raise_parameter_error_naming_the_parameter(scores, call, match):
    with pytest.raises(ParameterError, match=match):
        call(scores)


def test_bad_weight_scheme(sim):
    with pytest.raises(ParameterError, match="scheme must be one of 'none', 'partner_balanced'"):
        partner_weights(sim.data.respondents, scheme="balanced")
