"""Tests of peer benchmarking (:mod:`collab_stats.peers`).

Kinds of test:

* hand-worked examples - small peer sets whose quartiles, percentile ranks, pooled sd, funnel
  limits and d are worked out beside the test (R ``quantile(type = 7)`` gives the same
  quartiles);
* independent second code paths - a plain loop over rows and peers that uses
  ``numpy.percentile(method="linear")``, ``scipy.stats.percentileofscore(kind="mean")`` and
  ``scipy.stats.norm.ppf``, against the vectorised path on a simulated programme;
* simulation - collaborations classed "above" their peers have truly higher expected scores
  than those classed "below";
* properties (hypothesis) - percentile ranks lie in [0, 100]; the funnel classification
  flips exactly at the limits; relabelling collaborations changes nothing but the labels;
* too little data - NaN and a reason, never an exception; bad parameters raise
  ParameterError naming the parameter.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from collab_stats import simulate_programme
from collab_stats.errors import ParameterError
from collab_stats.peers import (
    FUNNEL_Z_95,
    FUNNEL_Z_998,
    PEER_SETS,
    funnel_limits,
    peer_benchmarks,
    peer_groups,
    profile,
)
from collab_stats.scoring import score_responses

KEYS = ["wave_id", "collaboration_id", "characteristic"]


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Collaboration summaries (n, mean, sd, se) straight from pandas."""
    out = (
        scores.groupby(KEYS, observed=True)["score"]
        .agg(n="count", mean="mean", sd="std")
        .reset_index()
    )
    out["se"] = out["sd"] / np.sqrt(out["n"])
    return out


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=11, n_collaborations=30, n_waves=2)


@pytest.fixture(scope="module")
def summaries(sim) -> pd.DataFrame:
    out = summarise(score_responses(sim.data, sim.instrument))
    # A few collaborations without a mean (e.g. withheld) and one with a single respondent.
    rng = np.random.default_rng(5)
    holes = rng.choice(len(out), size=12, replace=False)
    out.loc[holes, ["mean", "sd", "se"]] = np.nan
    out.loc[holes, "n"] = 0
    out.loc[holes[0] + 1, ["n", "sd", "se"]] = [1, np.nan, np.nan]
    return out


def small_programme(sim, n: int, **changes):
    """The first n collaborations of a simulated programme, optionally with changes."""
    cols = [replace(c, **changes) for c in sim.programme.collaborations[:n]]
    return replace(sim.programme, collaborations=tuple(cols))


def frame(collaborations, means, ns, sds, wave="w1", characteristic="PS") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "wave_id": wave,
            "collaboration_id": collaborations,
            "characteristic": characteristic,
            "n": ns,
            "mean": means,
            "sd": sds,
        }
    )


# --- peer sets ----------------------------------------------------------------------------------


def test_peer_groups_follow_the_programme(sim):
    table = peer_groups(sim.programme)
    assert len(table) == 5 * len(sim.programme.collaborations)
    assert list(table["peer_set"].iloc[:5]) == list(PEER_SETS)
    for col in sim.programme.collaborations[:6]:
        rows = table[table["collaboration_id"] == col.id].set_index("peer_set")["peer_key"]
        assert rows["all"] == "all"
        assert rows["peer_group"] == col.peer_group
        assert rows["type"] == col.type
        assert rows["region"] == col.region
        assert rows["main_value_mode"] == col.main_value_mode
    # set_size counts the collaborations sharing the key, the collaboration included.
    regions = pd.Series([c.region for c in sim.programme.collaborations]).value_counts()
    region_rows = table[table["peer_set"] == "region"]
    assert (region_rows["set_size"].to_numpy() == regions[region_rows["peer_key"]].to_numpy()).all()
    assert (table.loc[table["peer_set"] == "all", "set_size"] == 30).all()


def test_missing_main_value_mode_has_no_peer_key(sim):
    programme = small_programme(sim, 6, main_value_mode=None)
    table = peer_groups(programme, peer_sets=["main_value_mode", "all"])
    modes = table[table["peer_set"] == "main_value_mode"]
    assert modes["peer_key"].isna().all() and (modes["set_size"] == 0).all()
    s = frame(list(programme.collaboration_ids), [3.0, 3.2, 3.4, 3.6, 3.8, 4.0], 10, 0.8)
    out = peer_benchmarks(s, programme, peer_sets=["main_value_mode", "all"])
    no_key = out[out["peer_set"] == "main_value_mode"]
    assert (no_key["reason"] == "no_peer_key").all() and (no_key["peer_n"] == 0).all()
    assert no_key["peer_median"].isna().all() and no_key["comparison"].isna().all()
    assert (out.loc[out["peer_set"] == "all", "reason"] == "").all()


# --- hand-worked examples -------------------------------------------------------------------


def test_hand_worked_peer_distribution(sim):
    """Five collaborations, means 3.0, 3.5, 3.5, 4.0, 4.5; sd 0.8 everywhere.

    R: quantile(c(3, 3.5, 3.5, 4, 4.5), type = 7) -> 3.0 3.5 3.5 4.0 4.5
    (h = 4p: Q1 at h = 1 -> 3.5, median h = 2 -> 3.5, Q3 h = 3 -> 4.0).
    Peer average (3 + 3.5 + 3.5 + 4 + 4.5) / 5 = 3.7; pooled sd 0.8.
    Percentile ranks 100 (B + E/2) / 5: 3.0 -> 10, 3.5 -> 40 (B=1, E=2), 4.0 -> 70, 4.5 -> 90.
    Collaboration e (4.5, n = 50): se = 0.8 / sqrt(50) = 0.11313708; upper 95% limit
    3.7 + 1.959964 * 0.11313708 = 3.921745; 99.8%: 3.7 + 3.090232 * 0.11313708 = 4.049620
    -> "above", beyond_998; z = 0.8 / 0.11313708 = 7.0710678; d = 0.8 / 0.8 = 1.
    Collaboration a (3.0, n = 10): se = 0.25298221, lower 95% 3.7 - 0.495836 = 3.204164 ->
    "below"; 99.8% lower 3.7 - 0.781774 = 2.918226 -> not beyond.
    Collaboration d (4.0, n = 40): upper 95% 3.7 + 1.959964 * 0.12649111 = 3.947918 ->
    "above". b and c (3.5, n = 20 and 30): lower 95% 3.349391 and 3.413729 -> "in line".
    """
    programme = small_programme(sim, 5)
    ids = list(programme.collaboration_ids)
    s = frame(ids, [3.0, 3.5, 3.5, 4.0, 4.5], [10, 20, 30, 40, 50], 0.8)
    out = peer_benchmarks(s, programme, peer_sets=["all"])
    tol = {"rtol": 0, "atol": 1e-12}
    np.testing.assert_allclose(out["peer_worst"], 3.0, **tol)
    np.testing.assert_allclose(out["peer_lower_quartile"], 3.5, **tol)
    np.testing.assert_allclose(out["peer_median"], 3.5, **tol)
    np.testing.assert_allclose(out["peer_upper_quartile"], 4.0, **tol)
    np.testing.assert_allclose(out["peer_best"], 4.5, **tol)
    np.testing.assert_allclose(out["peer_average"], 3.7, **tol)
    np.testing.assert_allclose(out["sd_within"], 0.8, **tol)
    np.testing.assert_allclose(out["percentile_rank"], [10, 40, 40, 70, 90], **tol)
    assert (out["peer_n"] == 5).all()
    e, a = out.iloc[4], out.iloc[0]
    np.testing.assert_allclose(e["funnel_se"], 0.11313708498984762, rtol=1e-12)
    np.testing.assert_allclose(e["upper_95"], 3.921745, atol=5e-7)
    np.testing.assert_allclose(e["upper_998"], 4.049620, atol=5e-7)
    np.testing.assert_allclose(e["z"], 7.0710678118654755, rtol=1e-12)
    np.testing.assert_allclose(e["d"], 1.0, rtol=1e-12)
    assert e["comparison"] == "above" and e["beyond_998"]
    np.testing.assert_allclose(a["lower_95"], 3.204164, atol=5e-7)
    np.testing.assert_allclose(a["lower_998"], 2.918226, atol=5e-7)
    assert a["comparison"] == "below" and not a["beyond_998"]
    assert list(out["comparison"].astype(str)) == ["below", "in line", "in line", "above", "above"]
    np.testing.assert_allclose(out["upper_95"].iloc[3], 3.947918, atol=5e-7)
    np.testing.assert_allclose(out["lower_95"].iloc[1:3], [3.349391, 3.413729], atol=5e-7)


def test_hand_worked_pooled_sd_uses_n_minus_one_weights(sim):
    """n = 10, 20 with sd 1.0, 0.5 (and three peers with n = 1, no sd):
    sqrt((9 * 1 + 19 * 0.25) / 28) = sqrt(13.75 / 28) = 0.70076489."""
    programme = small_programme(sim, 5)
    s = frame(
        list(programme.collaboration_ids),
        [3.0, 3.5, 4.0, 4.0, 2.0],
        [10, 20, 1, 1, 1],
        [1.0, 0.5, np.nan, np.nan, np.nan],
    )
    out = peer_benchmarks(s, programme, peer_sets=["all"])
    np.testing.assert_allclose(out["sd_within"], np.sqrt(13.75 / 28), rtol=1e-14)
    np.testing.assert_allclose(out["sd_within"], 0.70076489, atol=5e-9)


def test_funnel_limits_match_the_normal_formula():
    """Spiegelhalter (2005): target +/- z sd / sqrt(n), z = qnorm(0.975), qnorm(0.999)."""
    assert FUNNEL_Z_95 == pytest.approx(1.959963984540054, abs=1e-15)
    assert FUNNEL_Z_998 == pytest.approx(3.090232306167813, abs=1e-14)
    n = np.array([1, 4, 25, 100, 12.5])
    out = funnel_limits(3.5, 0.8, n)
    se = 0.8 / np.sqrt(n)
    np.testing.assert_allclose(out["se"], se, rtol=1e-15)
    for level, z in (("95", stats.norm.ppf(0.975)), ("998", stats.norm.ppf(0.999))):
        np.testing.assert_allclose(out[f"upper_{level}"], 3.5 + z * se, rtol=1e-14)
        np.testing.assert_allclose(out[f"lower_{level}"], 3.5 - z * se, rtol=1e-14)
    # n = 4: 3.5 -/+ 1.959964 * 0.4 = 2.716014, 4.283986 (R: 3.5 + c(-1, 1) * qnorm(.975) * .4)
    np.testing.assert_allclose(
        out.loc[1, ["lower_95", "upper_95"]].to_numpy(float), [2.716014, 4.283986], atol=5e-7
    )


def test_benchmark_limits_are_the_funnel_at_the_collaboration_n(sim, summaries):
    out = peer_benchmarks(summaries, sim.programme, peer_sets=["peer_group"])
    row = out[out["reason"] == ""].iloc[7]
    curve = funnel_limits(row["peer_average"], row["sd_within"], [row["n"]]).iloc[0]
    for column in ("lower_998", "lower_95", "upper_95", "upper_998"):
        assert row[column] == pytest.approx(curve[column], rel=1e-14)


# --- second code path: a plain loop -----------------------------------------------------------


def reference_benchmarks(summaries, programme, peer_sets, min_peers):
    """One row at a time, peers found by filtering, statistics from numpy and scipy."""
    key = {
        (c.id, s): ("all" if s == "all" else getattr(c, s))
        for c in programme.collaborations
        for s in peer_sets
    }
    s = summaries.assign(**{k: summaries[k].astype(str) for k in KEYS})
    cells = {
        cell: {
            "id": b["collaboration_id"].to_numpy(),
            "mean": b["mean"].to_numpy(),
            "n": b["n"].to_numpy(float),
            "sd": b["sd"].to_numpy(),
        }
        for cell, b in s.groupby(["wave_id", "characteristic"])
    }
    z95, z998 = stats.norm.ppf(0.975), stats.norm.ppf(0.999)
    rows = []
    for r in s.to_dict("records"):
        cell = cells[(r["wave_id"], r["characteristic"])]
        for peer_set in peer_sets:
            k = key[(r["collaboration_id"], peer_set)]
            same = np.array([key[(c, peer_set)] == k for c in cell["id"]])
            member = same & ~np.isnan(cell["mean"])
            m = cell["mean"][member]
            out = {"peer_n": len(m) if k is not None else 0}
            if k is None or len(m) < min_peers:
                rows.append(out)
                continue
            out.update(
                zip(
                    [
                        "peer_worst",
                        "peer_lower_quartile",
                        "peer_median",
                        "peer_upper_quartile",
                        "peer_best",
                    ],
                    np.percentile(m, [0, 25, 50, 75, 100], method="linear"),
                    strict=True,
                )
            )
            out["peer_average"] = target = m.mean()
            pool = member & (cell["n"] >= 2) & ~np.isnan(cell["sd"])
            sw = np.sqrt(
                ((cell["n"][pool] - 1) * cell["sd"][pool] ** 2).sum() / (cell["n"][pool] - 1).sum()
            )
            out["sd_within"] = sw
            if not np.isnan(r["mean"]):
                out["percentile_rank"] = stats.percentileofscore(m, r["mean"], kind="mean")
                se = sw / np.sqrt(r["n"])
                out["funnel_se"] = se
                out["upper_95"] = target + z95 * se
                out["lower_998"] = target - z998 * se
                out["d"] = (r["mean"] - target) / sw
                out["comparison"] = (
                    "above"
                    if r["mean"] > target + z95 * se
                    else "below"
                    if r["mean"] < target - z95 * se
                    else "in line"
                )
            rows.append(out)
    return pd.DataFrame(rows)


def test_vectorised_benchmarks_match_a_plain_loop(sim, summaries):
    sets = ["all", "peer_group", "region", "main_value_mode"]
    fast = peer_benchmarks(summaries, sim.programme, peer_sets=sets, min_peers=3)
    slow = reference_benchmarks(summaries, sim.programme, sets, 3)
    assert len(fast) == len(slow) == 4 * len(summaries)
    np.testing.assert_array_equal(fast["peer_n"], slow["peer_n"])
    for column in [
        "peer_worst",
        "peer_lower_quartile",
        "peer_median",
        "peer_upper_quartile",
        "peer_best",
        "peer_average",
        "sd_within",
        "percentile_rank",
        "funnel_se",
        "upper_95",
        "lower_998",
        "d",
    ]:
        np.testing.assert_allclose(
            fast[column], slow[column].astype(float), rtol=1e-12, atol=1e-12, err_msg=column
        )
    assert (fast["comparison"].astype(object).fillna("-") == slow["comparison"].fillna("-")).all()
    # The fixture has every kind of gap.
    assert {"", "too_few_peers", "no_mean"} <= set(fast["reason"])


def test_percentile_rank_matches_scipy_with_ties(sim):
    programme = small_programme(sim, 7)
    means = [3.0, 3.0, 3.0, 3.25, 4.0, 4.0, 2.5]
    out = peer_benchmarks(
        frame(list(programme.collaboration_ids), means, 10, 0.7), programme, peer_sets=["all"]
    )
    expected = [stats.percentileofscore(means, m, kind="mean") for m in means]
    np.testing.assert_allclose(out["percentile_rank"], expected, rtol=1e-14)


# --- too little data --------------------------------------------------------------------------


def test_too_few_peers_gives_nan_and_a_reason(sim):
    programme = small_programme(sim, 4)
    s = frame(list(programme.collaboration_ids), [3.0, 3.2, 3.4, 3.6], 10, 0.8)
    out = peer_benchmarks(s, programme, peer_sets=["all"])  # min_peers = 5
    assert (out["reason"] == "too_few_peers").all() and (out["peer_n"] == 4).all()
    numbers = ["peer_median", "peer_average", "percentile_rank", "sd_within", "upper_95", "d"]
    assert out[numbers].isna().all().all() and out["comparison"].isna().all()
    assert out["beyond_998"].isna().all()
    assert (peer_benchmarks(s, programme, peer_sets=["all"], min_peers=4)["reason"] == "").all()


def test_missing_mean_and_missing_within_sd(sim):
    programme = small_programme(sim, 6)
    ids = list(programme.collaboration_ids)
    s = frame(ids, [3.0, np.nan, 3.4, 3.6, 3.8, 4.0], [10, 0, 10, 10, 10, 10], 0.8)
    out = peer_benchmarks(s, programme, peer_sets=["all"])
    assert out.loc[1, "reason"] == "no_mean" and np.isnan(out.loc[1, "percentile_rank"])
    assert (out["peer_n"] == 5).all()  # the collaboration without a mean is not a peer
    np.testing.assert_allclose(out["peer_median"], 3.6, rtol=1e-15)
    single = frame(ids, [3.0, 3.2, 3.4, 3.6, 3.8, 4.0], 1, np.nan)
    out = peer_benchmarks(single, programme, peer_sets=["all"])
    assert (out["reason"] == "no_within_sd").all()
    assert out["d"].isna().all() and out["comparison"].isna().all()
    assert out["percentile_rank"].notna().all()  # the distribution is still there


# --- simulation -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 8])
def test_above_collaborations_are_truly_better_than_below(seed):
    sim = simulate_programme(seed=seed, n_collaborations=60, n_waves=1)
    out = peer_benchmarks(
        summarise(score_responses(sim.data, sim.instrument)), sim.programme, peer_sets=["all"]
    )
    truth = sim.truth.collaboration_levels.assign(
        **{k: lambda t, k=k: t[k].astype(str) for k in KEYS}
    )
    out = out.assign(**{k: out[k].astype(str) for k in KEYS}).merge(truth, on=KEYS)
    by_class = (
        out.groupby(["characteristic", out["comparison"].astype(str)])["expected_score"]
        .mean()
        .unstack()
    )
    assert (by_class["above"] > by_class["below"]).all(), by_class
    assert (by_class["above"] > by_class["in line"]).all()
    assert (by_class["in line"] > by_class["below"]).all()
    # Percentile ranks track the truth too (Spearman correlation within characteristic).
    rho = out.groupby("characteristic")[["percentile_rank", "expected_score"]].apply(
        lambda g: stats.spearmanr(g["percentile_rank"], g["expected_score"])[0]
    )
    assert (rho > 0.5).all(), rho


# --- properties --------------------------------------------------------------------------------


means_strategy = st.lists(
    st.one_of(st.floats(1, 5), st.sampled_from([2.0, 3.0, 3.5]), st.just(np.nan)),
    min_size=6,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(
    means=means_strategy,
    ns=st.lists(st.integers(0, 40), min_size=6, max_size=6),
    min_peers=st.integers(1, 6),
)
def test_percentile_ranks_lie_in_0_100(sim_small, means, ns, min_peers):
    programme = sim_small
    ns = [max(n, 1) if not np.isnan(m) else 0 for m, n in zip(means, ns, strict=True)]
    out = peer_benchmarks(
        frame(list(programme.collaboration_ids), means, ns, 0.9), programme, min_peers=min_peers
    )
    ranks = out["percentile_rank"].dropna()
    assert ((ranks > 0) & (ranks <= 100)).all()
    # Every peer set the collaboration is alone in puts it at 50.
    alone = out[(out["peer_n"] == 1) & out["percentile_rank"].notna()]
    assert (alone["percentile_rank"] == 50).all()


@pytest.fixture(scope="module")
def sim_small(sim):
    return small_programme(sim, 6)


@settings(max_examples=40, deadline=None)
@given(
    others=st.lists(st.floats(2, 4.5), min_size=5, max_size=5),
    n=st.integers(2, 200),
    sd=st.floats(0.3, 1.5),
    level=st.sampled_from([FUNNEL_Z_95, FUNNEL_Z_998]),
    sign=st.sampled_from([-1, 1]),
)
def test_funnel_classification_flips_at_the_limits(sim_small, others, n, sd, level, sign):
    """Put the collaboration's mean just inside and just outside a limit.

    The target includes the collaboration: T = (S + m) / P. For m - T = k we need
    m = (k + S / P) P / (P - 1).
    """
    programme = sim_small
    ids = list(programme.collaboration_ids)
    big_p, total = 6, sum(others)
    se = sd / np.sqrt(n)
    results = {}
    for side, factor in (("inside", 1 - 1e-6), ("outside", 1 + 1e-6)):
        k = sign * level * se * factor
        m = (k + total / big_p) * big_p / (big_p - 1)
        out = peer_benchmarks(
            frame(ids, [m, *others], [n] * 6, sd), programme, peer_sets=["all"], min_peers=1
        ).iloc[0]
        assert out["z"] == pytest.approx(sign * level * factor, rel=1e-9)
        results[side] = out
    word = "above" if sign > 0 else "below"
    if level == FUNNEL_Z_95:
        assert results["inside"]["comparison"] == "in line"
        assert results["outside"]["comparison"] == word
        assert not results["outside"]["beyond_998"]
    else:
        assert results["inside"]["comparison"] == word and not results["inside"]["beyond_998"]
        assert results["outside"]["beyond_998"]


@settings(max_examples=20, deadline=None)
@given(perm=st.permutations(list(range(6))))
def test_relabelling_collaborations_changes_only_labels(sim_small, perm):
    programme = sim_small
    ids = list(programme.collaboration_ids)
    s = frame(
        ids, [3.1, 3.9, 2.7, 3.3, 4.2, 3.3], [5, 12, 30, 8, 20, 16], [0.7, 0.9, 0.6, 0.8, 1.0, 0.5]
    )
    before = peer_benchmarks(s, programme, peer_sets=["all"], min_peers=1)
    new_ids = [f"renamed-{i}" for i in perm]
    renamed = replace(
        programme,
        collaborations=tuple(
            replace(c, id=new_ids[j]) for j, c in enumerate(programme.collaborations)
        ),
    )
    after = peer_benchmarks(
        s.assign(collaboration_id=new_ids), renamed, peer_sets=["all"], min_peers=1
    )
    pd.testing.assert_frame_equal(
        after.drop(columns="collaboration_id"), before.drop(columns="collaboration_id")
    )


# --- profile ---------------------------------------------------------------------------------


def test_profile_own_mean_hand_worked():
    """Means 4.0, 3.75, 3.5, 2.75 (own mean 3.5), sd 0.5: deviations 0.5, 0.25, 0, -0.75;
    d = 1, 0.5, 0, -1.5; the top two are strengths, only MI is an area to develop (BL's
    d = 0 is not meaningful though it is second from the bottom)."""
    s = pd.DataFrame(
        {
            "wave_id": "w1",
            "collaboration_id": "c1",
            "characteristic": ["PS", "TG", "BL", "MI"],
            "n": 20,
            "mean": [4.0, 3.75, 3.5, 2.75],
            "sd": 0.5,
        }
    )
    out = profile(s)
    np.testing.assert_allclose(out["reference_value"], 3.5, rtol=1e-15)
    np.testing.assert_allclose(out["deviation"], [0.5, 0.25, 0, -0.75], atol=1e-15)
    np.testing.assert_allclose(out["d"], [1, 0.5, 0, -1.5], atol=1e-15)
    assert out["rank"].tolist() == [1, 2, 3, 4] and (out["n_ranked"] == 4).all()
    assert out["label"].tolist() == ["strength", "strength", "", "area to develop"]


def test_profile_flat_profile_has_no_labels_and_ties_share_a_rank():
    s = pd.DataFrame(
        {
            "wave_id": "w1",
            "collaboration_id": "c1",
            "characteristic": list("ABCDE"),
            "n": 20,
            "mean": [3.5, 3.55, 3.5, 3.45, np.nan],
            "sd": 0.8,
        }
    )
    out = profile(s)
    assert (out["label"] == "").all()  # |d| <= 0.05 / 0.8 < 0.2
    assert out["rank"].tolist()[:4] == [2, 1, 2, 4] and np.isnan(out["rank"].iloc[4])
    assert (out["n_ranked"] == 4).all() and out["reason"].tolist()[4] == "no_mean"


def test_profile_relative_to_peers(sim, summaries):
    peers = peer_benchmarks(summaries, sim.programme, peer_sets=["all", "region"])
    out = profile(summaries, peers)
    assert set(out["reference"]) == {"own_mean", "peer_median"}
    assert len(out) == len(summaries) + len(peers)
    rel = out[out["reference"] == "peer_median"].reset_index(drop=True)
    np.testing.assert_allclose(rel["deviation"], peers["mean"] - peers["peer_median"], rtol=1e-15)
    np.testing.assert_allclose(
        rel["d"], (peers["mean"] - peers["peer_median"]) / peers["sd_within"], rtol=1e-15
    )
    # Ranks within each wave x collaboration x peer set, 1 = largest deviation.
    one = rel[
        (rel["peer_set"] == "all")
        & (rel["collaboration_id"] == rel["collaboration_id"].iloc[0])
        & (rel["wave_id"] == rel["wave_id"].iloc[0])
    ]
    expected = one["deviation"].rank(ascending=False, method="min")
    np.testing.assert_array_equal(one["rank"], expected)
    labelled = rel[rel["label"] != ""]
    assert (labelled["d"].abs() >= 0.2).all()
    assert ((labelled["label"] == "strength") == (labelled["d"] > 0)).all()
    region = rel[rel["peer_set"] == "region"]
    missing = region["reference_value"].isna()
    assert missing.any()  # some regions have fewer than 5 collaborations
    assert region.loc[missing, "reason"].isin(["no_reference:too_few_peers", "no_mean"]).all()
    assert (region.loc[missing, "label"] == "").all()


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (lambda s, p: peer_benchmarks(s, p, peer_sets=["everyone"]), ["peer_sets", "'all'"]),
        (lambda s, p: peer_benchmarks(s, p, peer_sets="all"), ["peer_sets", "sequence"]),
        (lambda s, p: peer_benchmarks(s, p, peer_sets=[]), ["peer_sets", "at least one"]),
        (lambda s, p: peer_benchmarks(s, p, peer_sets=["all", "all"]), ["more than once"]),
        (lambda s, p: peer_benchmarks(s, p, min_peers=0), ["min_peers", "[1, inf]"]),
        (lambda s, p: peer_benchmarks(s, p, min_peers=2.5), ["min_peers", "whole number"]),
        (lambda s, p: peer_benchmarks(s.drop(columns="sd"), p), ["summaries", "'sd'"]),
        (lambda s, p: peer_benchmarks(pd.concat([s, s.iloc[:1]]), p), ["one row per"]),
        (
            lambda s, p: peer_benchmarks(s.assign(collaboration_id="nowhere"), p),
            ["collaboration_id", "'nowhere'"],
        ),
        (lambda s, p: peer_benchmarks(s.assign(mean="high"), p), ["'mean'", "numeric"]),
        (lambda s, p: peer_benchmarks(s.assign(n=0), p), ["'n'", "1 or more"]),
        (lambda s, p: peer_benchmarks(s, "programme"), ["programme", "Programme"]),
        (lambda s, p: funnel_limits(3.5, 0.0, [10]), ["sd", "(0, inf]"]),
        (lambda s, p: funnel_limits(3.5, 0.8, [0.5, 10]), ["n_grid", "at least 1"]),
        (lambda s, p: funnel_limits(3.5, 0.8, 10), ["n_grid", "one-dimensional"]),
        (lambda s, p: profile(s, min_effect=-1), ["min_effect"]),
        (lambda s, p: profile(s, n_labelled=0), ["n_labelled"]),
        (lambda s, p: profile(s, s), ["peer_table", "'peer_median'"]),
    ],
)
def test_bad_parameters_name_the_parameter(sim_small, call, fragments):
    s = frame(list(sim_small.collaboration_ids), [3.0, 3.2, 3.4, 3.6, 3.8, 4.0], 10, 0.8)
    with pytest.raises(ParameterError) as info:
        call(s, sim_small)
    for fragment in fragments:
        assert fragment in str(info.value)
