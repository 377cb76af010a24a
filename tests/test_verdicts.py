"""Tests of the verdict table (:mod:`collab_stats.verdicts`).

Kinds of test:

* independent reference - for an unweighted mean, "higher" / "lower" against the peer median
  must be exactly the two-sided one-sample t-test (``scipy.stats.ttest_1samp``) of the
  respondents' scores against that median at the 5% level, with the sign of the difference;
* a second code path - a plain loop over collaborations that picks strengths and areas to
  develop by the documented rule;
* properties - highlights are a subset of the significant results, at most ``n_highlight``
  per side; hidden cells have no verdict; a change verdict is the sign of its interval;
* consistency (issue 11) - a change between two waves of the same instrument version uses
  the same scores as the summaries (so Table 3 and Table 4 of a report agree); across a
  version change it uses the comparable items and names those left out;
* the benchmark's gated table - hidden rows keep only keys and a plain reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from collab_stats import simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.errors import ParameterError
from collab_stats.peers import peer_benchmarks
from collab_stats.scoring import score_responses
from collab_stats.summaries import characteristic_summaries
from collab_stats.verdicts import (
    VERDICT_COLUMNS,
    characteristic_verdicts,
    item_peer_distribution,
)


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=11, n_collaborations=16, n_waves=3)


@pytest.fixture(scope="module")
def benchmark(sim):
    return benchmark_programme(sim.data, sim.instrument, sim.programme, trends=False)


@pytest.fixture(scope="module")
def unweighted(sim):
    scores = score_responses(sim.data, sim.instrument)
    summaries = characteristic_summaries(scores)
    peers = peer_benchmarks(summaries, sim.programme, peer_sets=["all", "peer_group"])
    return scores, summaries, peers


def test_peer_verdict_is_the_one_sample_t_test_against_the_median(unweighted):
    """Reference: scipy.stats.ttest_1samp(scores, peer_median), two-sided, alpha 0.05. The CI
    of characteristic_summaries is mean +/- t(0.975, n-1) sd/sqrt(n), so "the interval
    excludes the median" is p < 0.05 (ties at exactly 0.05 do not occur in floating point
    data)."""
    scores, summaries, peers = unweighted
    table = characteristic_verdicts(summaries, peers)
    table = table[table["comparator"] == "all"]
    groups = {k: g["score"].dropna().to_numpy() for k, g in scores.groupby(
        ["wave_id", "collaboration_id", "characteristic"], observed=True)}
    checked = 0
    for row in table.itertuples():
        if row.verdict is None or (isinstance(row.verdict, float) and np.isnan(row.verdict)):
            continue
        x = groups[(row.wave_id, row.collaboration_id, row.characteristic)]
        result = stats.ttest_1samp(x, row.reference_value)
        expected = ("in line" if result.pvalue >= 0.05 else
                    "higher" if x.mean() > row.reference_value else "lower")
        assert row.verdict == expected, (row, result)
        checked += 1
    assert checked > 300
    assert set(table["verdict"].dropna()) == {"higher", "in line", "lower"}


def _loop_highlights(table: pd.DataFrame, n: int) -> dict:
    """The documented rule, written as a plain loop (second code path)."""
    out = {}
    peers = table[table["comparator_kind"] == "peers"]
    for (_w, _c, _p), g in peers.groupby(["wave_id", "collaboration_id", "comparator"],
                                         sort=False):
        for verdict, name, sign in (("higher", "strength", 1), ("lower", "area to develop", -1)):
            rows = [r for r in g.itertuples() if r.verdict == verdict]
            rows.sort(key=lambda r: (-sign * (r.d if not np.isnan(r.d) else r.difference),
                                     -sign * r.difference))
            for r in rows[:n]:
                out[r.Index] = name
    return out


@pytest.mark.parametrize("n_highlight", [1, 2, 3])
def test_highlights_follow_the_rule_and_are_significant(unweighted, n_highlight):
    _, summaries, peers = unweighted
    table = characteristic_verdicts(summaries, peers, n_highlight=n_highlight)
    expected = _loop_highlights(table, n_highlight)
    got = {i: h for i, h in table["highlight"].items() if h in ("strength", "area to develop")}
    assert got == expected
    strengths = table[table["highlight"] == "strength"]
    areas = table[table["highlight"] == "area to develop"]
    assert (strengths["verdict"] == "higher").all() and (areas["verdict"] == "lower").all()
    per = table[table["highlight"].isin(["strength", "area to develop"])].groupby(
        ["wave_id", "collaboration_id", "comparator", "highlight"]).size()
    assert per.max() <= n_highlight
    assert len(strengths) and len(areas)


def test_hand_worked_example():
    s = pd.DataFrame({"wave_id": "w", "collaboration_id": "c",
                      "characteristic": ["PS", "TG", "BL", "MI", "GV"], "n": 20,
                      "mean": [4.1, 3.9, 3.5, 2.9, np.nan],
                      "ci_low": [3.9, 3.6, 3.2, 2.6, np.nan],
                      "ci_high": [4.3, 4.2, 3.8, 3.2, np.nan], "band": None,
                      "suppressed": [False, False, False, False, True],
                      "suppressed_reason": ["", "", "", "", "fewer than 10 responses"]})
    p = s[["wave_id", "collaboration_id", "characteristic"]].iloc[:4].assign(
        peer_set="all", peer_key="all", peer_n=12, peer_median=[3.6, 3.6, 3.6, 3.2],
        sd_within=0.5, reason="")
    t = characteristic_verdicts(s, p, n_highlight=1)
    assert t["verdict"].tolist()[:4] == ["higher", "in line", "in line", "in line"]
    # 3.6 is inside [3.6, 4.2]: on the interval's end is "in line"
    assert t["highlight"].tolist()[:4] == ["strength", "", "", ""]
    hidden = t.iloc[4]
    assert hidden["suppressed"] and pd.isna(hidden["verdict"]) and pd.isna(hidden["estimate"])
    assert list(t.columns) == list(VERDICT_COLUMNS)


def test_shown_rows_without_peers_say_why(unweighted):
    _, summaries, peers = unweighted
    table = characteristic_verdicts(summaries, peers)
    group = table[(table["comparator"] == "peer_group") & ~table["suppressed"]]
    no_verdict = group[group["verdict"].isna()]
    assert len(no_verdict)
    assert no_verdict["reason"].isin(["too_few_peers", "no_peer_key", "no_interval"]).all()
    assert (group.loc[group["verdict"].notna(), "reason"] == "").all()


def test_bad_input_names_the_problem(unweighted):
    _, summaries, peers = unweighted
    with pytest.raises(ParameterError, match="peer_median"):
        characteristic_verdicts(summaries, peers.drop(columns="peer_median"))
    with pytest.raises(ParameterError, match="n_highlight"):
        characteristic_verdicts(summaries, peers, n_highlight=-1)
    with pytest.raises(ParameterError, match="more than one row"):
        characteristic_verdicts(summaries, pd.concat([peers, peers]))


def test_benchmark_verdicts_are_gated_and_read_the_published_tables(benchmark):
    v = benchmark.verdicts
    hidden = v[v["suppressed"]]
    assert len(hidden)  # the simulation has small collaborations
    for column in ("estimate", "ci_low", "ci_high", "verdict", "n", "band"):
        assert hidden[column].isna().all(), column
    assert hidden["suppressed_reason"].str.len().gt(0).all()
    peers = v[(v["comparator_kind"] == "peers") & (v["comparator"] == "all") & ~v["suppressed"]]
    merged = peers.merge(benchmark.summaries.astype({"wave_id": str, "collaboration_id": str,
                                                     "characteristic": str}),
                         on=["wave_id", "collaboration_id", "characteristic"])
    np.testing.assert_allclose(merged["estimate"], merged["mean"], rtol=0, atol=0)
    np.testing.assert_allclose(merged["ci_low_x"], merged["ci_low_y"], rtol=0, atol=0)


def test_change_verdict_is_the_sign_of_its_interval(benchmark):
    v = benchmark.verdicts
    change = v[(v["comparator_kind"] == "change") & v["verdict"].notna()]
    assert len(change) > 100
    expected = np.where(change["ci_low"] > 0, "improved",
                        np.where(change["ci_high"] < 0, "declined", "no clear change"))
    assert (change["verdict"].to_numpy() == expected).all()


def test_same_version_change_uses_the_summaries_scores(sim, benchmark):
    """Issue 11: between waves 1 and 2 (both version 1.0) the change's means are the
    summaries' means; across the version change (wave 3 is 2.0) the comparable items are
    used and the items left out are named."""
    versions = {w.id: w.instrument_version for w in sim.programme.waves}
    change = benchmark.change[~benchmark.change["suppressed"].astype(bool)]
    same = change[[versions[w] == versions[r] for w, r in
                   zip(change["wave_id"], change["reference_wave_id"], strict=True)]]
    across = change.drop(same.index)
    assert len(same) and len(across)
    assert (same["items"] == "all").all() and (across["items"] == "comparable").all()
    summaries = benchmark.summaries.astype({"wave_id": str, "collaboration_id": str,
                                            "characteristic": str})
    merged = same.astype({"wave_id": str, "collaboration_id": str,
                          "characteristic": str}).merge(
        summaries, on=["wave_id", "collaboration_id", "characteristic"])
    np.testing.assert_allclose(merged["mean_2"], merged["mean"], rtol=1e-12)
    assert (same["items_left_out"] == "").all()
    assert across["items_left_out"].str.len().gt(0).any()
    named = set("; ".join(across["items_left_out"]).replace(";", " ").split())
    v1 = {i.id for i in sim.instrument.version("1.0").items}
    v2 = {i.id for i in sim.instrument.version("2.0").items}
    assert {x for x in named if not x.startswith("(") and not x.endswith(")")} <= v1 | v2


def test_item_peer_distribution_uses_shown_rows_only():
    items = pd.DataFrame({"wave_id": "w", "collaboration_id": list("abcdefg"),
                          "item_id": "PS01",
                          "favourable_share": [0.2, 0.4, 0.5, 0.6, 0.9, 0.99, np.nan],
                          "suppressed": [False] * 5 + [True, True]})
    out = item_peer_distribution(items)
    row = out.iloc[0]
    assert row["peer_n"] == 5
    assert row["peer_median"] == pytest.approx(np.median([0.2, 0.4, 0.5, 0.6, 0.9]))
    assert (row["peer_worst"], row["peer_best"]) == (0.2, 0.9)
    few = item_peer_distribution(items.iloc[:4])
    assert few["reason"].iloc[0] == "too_few_peers" and np.isnan(few["peer_median"].iloc[0])
