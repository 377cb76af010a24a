"""benchmark_programme: the composed tables, and disclosure control across all of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collab_stats import simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.disclosure import disclosure_risks
from collab_stats.scoring import comparable_item_sets, score_responses
from collab_stats.summaries import characteristic_summaries

THRESHOLD = 10
#: The count each table's suppression rests on.
COUNTS = {"summaries": "n", "favourable": "n_respondents", "items": "n_answered",
          "response_rates": "n",
          "change": "n_smaller", "trends": "n_smallest_wave", "value_modes": "n_answered",
          "main_mode": "n_answered", "declared_match": "n_answered",
          "network": "n_respondents", "breakdowns": "n",
          "collaboration_slopes": "n_smallest_wave"}
#: A figure of each table that must never be shown when suppressed.
FIGURES = {"summaries": "mean", "favourable": "favourable_share", "items": "favourable_share",
           "response_rates": "response_rate",
           "change": "change", "trends": "slope", "value_modes": "share",
           "main_mode": "declared_share", "declared_match": "jaccard", "network": "density",
           "breakdowns": "mean", "collaboration_slopes": "slope"}


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=77, n_collaborations=24, n_waves=3)


@pytest.fixture(scope="module")
def bench(sim):
    return benchmark_programme(sim.data, sim.instrument, sim.programme, min_peers=3)


@pytest.fixture(scope="module")
def raw(sim):
    """Unsuppressed summaries, computed directly (the second path)."""
    return characteristic_summaries(score_responses(sim.data, sim.instrument))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_no_table_shows_a_figure_from_fewer_than_the_threshold(bench, name):
    table = bench.tables()[name]
    assert len(table), f"{name} is empty"
    shown = table[~table["suppressed"].astype(bool)]
    hidden = table[table["suppressed"].astype(bool)]
    assert (shown[COUNTS[name]] >= THRESHOLD).all()
    assert hidden[FIGURES[name]].isna().all()
    assert hidden[COUNTS[name]].isna().all()  # the small count itself is not shown either
    assert hidden["suppressed_reason"].str.len().gt(0).all()


def test_small_cells_exist_so_the_check_above_bites(bench):
    assert bench.summaries["suppressed"].any() and (~bench.summaries["suppressed"]).any()


def _keys(frame):
    return set(zip(frame["wave_id"].astype(str), frame["collaboration_id"].astype(str),
                   frame["characteristic"].astype(str), strict=True))


def test_suppressed_collaborations_are_left_out_of_peer_distributions(bench, raw):
    hidden = bench.summaries[bench.summaries["suppressed"]]
    assert _keys(raw[raw["n"] < THRESHOLD]) <= _keys(hidden)  # primary, and maybe more
    peers = bench.peers
    assert not _keys(hidden) & _keys(peers)
    # Peer set "all": the distribution counts exactly the collaborations shown in that cell.
    summaries = bench.summaries
    shown = summaries[~summaries["suppressed"]].groupby(["wave_id", "characteristic"],
                                                        observed=True).size()
    everyone = peers[peers["peer_set"] == "all"]
    for (wave, characteristic), n in shown.items():
        cell = everyone[(everyone["wave_id"] == wave) & (everyone["characteristic"] == characteristic)]
        assert set(cell["peer_n"]) == {n}


def test_breakdowns_cannot_be_worked_back_from_the_collaboration_totals(bench):
    totals = bench.summaries
    for by in ("sector", "role"):
        table = bench.breakdowns[bench.breakdowns["breakdown"] == by]
        risks = disclosure_risks(table, totals, groups=("wave_id", "collaboration_id",
                                                        "characteristic"),
                                 count="n", threshold=THRESHOLD)
        assert risks.empty, risks.head()


def test_change_uses_only_items_comparable_across_versions(sim, bench):
    # Wave 2 (1.0) -> wave 3 (2.0): MI scored on MI01, MI02, MI04 only (MI03 was split).
    sets = comparable_item_sets(sim.instrument, ["1.0", "2.0"])
    scores = score_responses(sim.data, sim.instrument, version_items=sets)
    row = bench.change.query("wave_id == '2026-03' and reference_wave_id == '2025-09' "
                             "and characteristic == 'MI' and not suppressed").iloc[0]
    cell = scores[(scores["wave_id"] == "2026-03") & (scores["characteristic"] == "MI")
                  & (scores["collaboration_id"] == row["collaboration_id"])]
    assert row["mean_2"] == pytest.approx(cell["score"].mean(), abs=1e-12)
    assert (cell["n_items"] == 3).all()
    assert bench.comparable_items["1.0"] == sorted(sets["1.0"])


def test_change_against_baseline_and_previous_are_both_reported(bench):
    pairs = set(zip(bench.change["wave_id"], bench.change["reference_wave_id"], strict=True))
    assert pairs == {("2025-09", "2025-03"), ("2026-03", "2025-09"), ("2026-03", "2025-03")}


def test_an_invariance_caveat_reaches_every_change(sim):
    out = benchmark_programme(sim.data, sim.instrument, sim.programme, min_peers=3,
                              invariance_supported=False, trends=False)
    shown = out.change[~out.change["suppressed"]]
    assert len(shown) and shown["caveat"].str.contains("invariance").all()
    assert out.change.loc[out.change["suppressed"], "caveat"].isna().all()  # hidden: keys only
    assert out.trends.empty


def test_partner_balanced_weighting_reports_design_effects(sim, bench):
    weighted = benchmark_programme(sim.data, sim.instrument, sim.programme, min_peers=3,
                                   weighting="partner_balanced", trends=False)
    shown = weighted.summaries[~weighted.summaries["suppressed"]]
    assert (shown["deff"] >= 1 - 1e-12).all() and (shown["n_eff"] <= shown["n"] + 1e-9).all()
    assert (shown["deff"] > 1.05).any()  # unequal organisation sizes make weights unequal
    unweighted = bench.summaries[~bench.summaries["suppressed"]]
    merged = shown.merge(unweighted, on=["wave_id", "collaboration_id", "characteristic"])
    assert not np.allclose(merged["mean_x"], merged["mean_y"])
    assert (merged["ci_high_x"] - merged["ci_low_x"] >= merged["ci_high_y"] - merged["ci_low_y"]
            - 1e-9).mean() > 0.9  # weighting costs precision


def test_programme_comparison_has_one_row_per_wave_and_characteristic(bench):
    assert len(bench.comparison) == 3 * 8
    assert bench.comparison["p_adjusted_welch"].between(0, 1).all()


def test_threshold_and_weighting_are_validated(sim):
    from collab_stats.errors import ParameterError

    with pytest.raises(ParameterError, match="weighting must be one of"):
        benchmark_programme(sim.data, sim.instrument, sim.programme, weighting="size")
    with pytest.raises(ParameterError, match="threshold"):
        benchmark_programme(sim.data, sim.instrument, sim.programme, threshold=0)


def test_flat_collaborations_rarely_show_significant_trends():
    sim = simulate_programme(seed=4, n_collaborations=30, n_waves=4)
    out = benchmark_programme(sim.data, sim.instrument, sim.programme, threshold=5)
    truth = sim.truth.trends.rename(columns={"slope": "true_slope"})
    trends = out.trends.merge(truth, on=["collaboration_id", "characteristic"])
    shown = trends[~trends["suppressed"]]
    flat = shown[shown["trend"] == "flat"]
    improving = shown[shown["trend"] == "improving"]
    # Nominal 5% per test; cells share respondents, so allow for clustering (about 2x).
    assert (flat["label"] != "no significant trend").mean() < 0.12
    assert (improving["label"] == "significantly improving").mean() > 0.3
    assert pd.notna(shown["slope"]).all()


def test_programme_slopes_are_the_random_slope_model_on_comparable_items(sim, bench):
    """Second path: collaboration_slopes called directly on the comparable-item scores of the
    collaboration cells shown in the summaries (hidden cells are left out of the model)."""
    from collab_stats.slopes import collaboration_slopes

    versions = list(dict.fromkeys(sim.data.respondents["instrument_version"].astype(str)))
    scores = score_responses(sim.data, sim.instrument,
                             version_items=comparable_item_sets(sim.instrument, versions))
    hidden = _keys(bench.summaries[bench.summaries["suppressed"]])
    assert hidden
    keep = [k not in hidden for k in zip(scores["wave_id"].astype(str),
                                         scores["collaboration_id"].astype(str),
                                         scores["characteristic"].astype(str), strict=True)]
    direct = collaboration_slopes(scores[np.array(keep)])
    assert list(bench.programme_slopes["characteristic"]) == list(direct.summary["characteristic"])
    np.testing.assert_allclose(bench.programme_slopes["slope"], direct.summary["slope"],
                               rtol=0, atol=1e-12)
    shown = bench.collaboration_slopes[~bench.collaboration_slopes["suppressed"]]
    merged = shown.merge(direct.collaborations, on=["characteristic", "collaboration_id"],
                         suffixes=("", "_direct"))
    assert len(merged) == len(shown) > 0
    np.testing.assert_allclose(merged["slope"], merged["slope_direct"], rtol=0, atol=1e-12)
    # one row per characteristic x collaboration (also those with no shown cell): nothing
    # dropped
    every = scores[["characteristic", "collaboration_id"]].astype(str).drop_duplicates()
    assert len(bench.collaboration_slopes) == len(every)
    # a collaboration with any hidden wave has no slope shown
    any_hidden = {(c, k) for _, c, k in hidden}
    shown_pairs = set(zip(shown["collaboration_id"], shown["characteristic"], strict=True))
    assert not any_hidden & shown_pairs


def test_a_programme_where_everything_is_hidden_gives_hidden_tables_not_an_error():
    """A threshold above every collaboration's size: every figure is hidden, nothing is
    compared, and no profile is drawn (profile used to fail on an empty reference)."""
    small = simulate_programme(seed=5, n_collaborations=4, n_waves=1)
    out = benchmark_programme(small.data, small.instrument, small.programme, threshold=1000)
    assert len(out.summaries) and out.summaries["suppressed"].all()
    assert out.summaries["mean"].isna().all() and out.summaries["n"].isna().all()
    assert out.profile.empty and out.comparison.empty
