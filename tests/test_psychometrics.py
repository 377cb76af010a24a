"""The programme-wide psychometrics: composition of the single-topic modules.

Each table is checked against a second code path (the single-set functions applied to the
same rows), and the simulator's known truth is recovered where the model says it should be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collab_stats import simulate_programme
from collab_stats.aggregation import icc1
from collab_stats.cfa import cfa
from collab_stats.errors import ParameterError
from collab_stats.omega import composite_reliability, omega_hierarchical
from collab_stats.psychometrics import programme_psychometrics, wave_versions
from collab_stats.reliability import cronbach_alpha, mcdonald_omega
from collab_stats.scoring import item_matrix, score_responses
from collab_stats.simulate import SimulationSettings


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=31, n_collaborations=30, n_waves=2)


@pytest.fixture(scope="module")
def psy(sim):
    return programme_psychometrics(sim.data, sim.instrument, min_respondents=15,
                                   factor_models=False, invariance=False)


def test_wave_versions_follow_the_programme(sim):
    assert wave_versions(sim.data) == {"2025-03": "1.0", "2025-09": "2.0"}


def test_programme_level_reliability_equals_the_single_set_functions(sim, psy):
    # Second code path: cronbach_alpha / mcdonald_omega on wave 2's TG items (version 2.0).
    items = list(sim.instrument.version("2.0").items_by_characteristic()["TG"])
    matrix = item_matrix(sim.data.wave("2025-09"), sim.instrument, items=items)
    row = psy.reliability.query(
        "level == 'programme' and wave_id == '2025-09' and characteristic == 'TG'").iloc[0]
    expected = cronbach_alpha(matrix[items])
    assert row["alpha"] == pytest.approx(expected.alpha, abs=1e-10)
    assert row["ci_low"] == pytest.approx(expected.ci_low, abs=1e-10)
    assert row["n_used"] == expected.n_used and row["n_items"] == 6
    assert row["omega"] == pytest.approx(mcdonald_omega(matrix[items]).omega, abs=1e-8)


def test_collaboration_reliability_is_suppressed_below_min_respondents(sim, psy):
    collab = psy.reliability[psy.reliability["level"] == "collaboration"]
    # second path: each wave x collaboration's respondents, counted from the data
    size = sim.data.respondents.groupby(["wave_id", "collaboration_id"], observed=True).size()
    n = [size[(w, c)] for w, c in zip(collab["wave_id"], collab["collaboration_id"], strict=True)]
    n = np.array(n)
    small, large = collab[n < 15], collab[n >= 15]
    assert len(small) and len(large)
    assert small["alpha"].isna().all() and small["omega"].isna().all()
    assert (small["reason"] == "fewer than 15 respondents").all()
    # the exact size of a small collaboration is not shown either (issue 13)
    assert small["n_total"].isna().all() and small["n_used"].isna().all()
    assert large["alpha"].notna().all()
    assert (large["n_total"].to_numpy() == n[n >= 15]).all()
    # One row per wave x collaboration x characteristic: nothing dropped silently.
    n_cells = sim.data.respondents.groupby(["wave_id", "collaboration_id"], observed=True).ngroups
    assert len(collab) == n_cells * 8


def test_aggregation_matches_icc1_on_characteristic_scores(sim, psy):
    scores = score_responses(sim.data, sim.instrument)
    cell = scores[(scores["wave_id"] == "2025-03") & (scores["characteristic"] == "EG")]
    expected = icc1(cell["score"].to_numpy(), cell["collaboration_id"].astype(str).to_numpy())
    row = psy.aggregation.query("wave_id == '2025-03' and characteristic == 'EG'").iloc[0]
    assert row["icc1"] == pytest.approx(expected.estimate, abs=1e-12)
    assert row["verdict"].split(".")[0] in {"Justified", "Use with caution", "Not justified",
                                           "Cannot judge"}
    assert len(psy.agreement) == 2 * 30 * 8
    # n_total counts the wave's respondents (not every wave x collaboration x respondent)
    assert row["n_total"] == len(sim.data.wave("2025-03").respondents)
    assert row["n_used"] == cell["score"].notna().sum()


def test_item_analysis_and_flags_cover_every_item_of_each_version(sim, psy):
    per_wave = psy.item_analysis.groupby("wave_id").size().to_dict()
    assert per_wave == {"2025-03": 36, "2025-09": 37}
    assert set(psy.flags["flag"]) <= {"low_alpha", "low_item_total", "alpha_rises_if_dropped",
                                      "negative_item_total", "alpha_not_computed"}
    # Reverse keying is applied before the analysis: no item runs against its scale.
    assert (psy.item_analysis["r_drop"] > 0).all()


def test_icc_recovers_the_simulated_between_collaboration_variance():
    # With many respondents per collaboration, the ANOVA estimate of the between-collaboration
    # variance of scores, ICC(1) * (between + within), approaches the variance of the true
    # expected scores across collaborations (truth.collaboration_levels). Relative sampling
    # error of a variance over 60 collaborations is about sqrt(2 / 59) = 0.18: allow 2.5 of it.
    sim = simulate_programme(seed=5, n_collaborations=60, n_waves=1,
                             settings=SimulationSettings(respondents=(60, 80)))
    psy = programme_psychometrics(sim.data, sim.instrument, factor_models=False)
    truth = sim.truth.collaboration_levels
    for characteristic in ("PS", "TG", "SC"):
        row = psy.aggregation.query(f"characteristic == '{characteristic}'").iloc[0]
        between_hat = (row["msb"] - row["msw"]) / row["mean_group_size"]
        true_var = truth.loc[truth["characteristic"] == characteristic, "expected_score"].var(ddof=1)
        assert between_hat == pytest.approx(true_var, rel=0.45)


def test_bad_parameters_are_named():
    sim = simulate_programme(seed=1, n_collaborations=2, n_waves=1)
    with pytest.raises(ParameterError, match="cfa_nan_policy must be one of 'fiml', 'listwise'"):
        programme_psychometrics(sim.data, sim.instrument, cfa_nan_policy="pairwise")
    with pytest.raises(ParameterError, match="min_respondents"):
        programme_psychometrics(sim.data, sim.instrument, min_respondents=1)


def test_no_collaboration_is_lost_when_relabelled(sim, psy):
    # Relabelling collaborations changes no programme-level statistic.
    data = sim.data
    mapping = {c: f"x-{c[::-1]}" for c in data.respondents["collaboration_id"].cat.categories}
    relabelled = type(data)(*(t.assign(collaboration_id=t["collaboration_id"].astype(str)
                                       .map(mapping).astype("category"))
                              for t in data._tables()))
    again = programme_psychometrics(relabelled, sim.instrument, min_respondents=15,
                                    factor_models=False, invariance=False)
    cols = ["alpha", "omega", "n_used"]
    a = psy.reliability[psy.reliability["level"] == "programme"][cols].to_numpy(dtype=float)
    b = again.reliability[again.reliability["level"] == "programme"][cols].to_numpy(dtype=float)
    np.testing.assert_allclose(a, b, atol=1e-12)
    pd.testing.assert_series_equal(psy.aggregation["icc1"], again.aggregation["icc1"],
                                   atol=1e-12)


def test_factor_models_and_invariance_use_fiml_and_only_comparable_items():
    sim = simulate_programme(seed=12, n_collaborations=20, n_waves=2)
    psy = programme_psychometrics(sim.data, sim.instrument)
    # Version-aware: the split (MI03), dropped (CC02) and added (TG06) items stay out of the
    # cross-wave analysis; the reworded but comparable PS01 stays in.
    assert "PS01" in psy.comparable_items
    assert not {"MI03", "CC02", "TG06", "MI03A", "MI03B"} & set(psy.comparable_items)
    assert len(psy.comparable_items) == 34
    assert list(psy.invariance["level"]) == ["configural", "metric", "scalar"]
    assert psy.invariance_verdict
    fits = psy.factor_structure
    assert sorted(zip(fits["wave_id"], fits["model"], strict=True)) == [
        ("2025-03", "eight_factor"), ("2025-03", "second_order"),
        ("2025-09", "eight_factor"), ("2025-09", "second_order")]
    assert fits["converged"].all()
    # FIML keeps every respondent with an answer (listwise would keep a small minority).
    n_wave1 = (sim.data.respondents["wave_id"] == "2025-03").sum()
    assert fits.query("wave_id == '2025-03'")["n_used"].iloc[0] >= 0.95 * n_wave1
    # Standardised loadings recover the simulated ones (a factor model of the truth).
    loads = psy.loadings.query("wave_id == '2025-03' and model == 'eight_factor'")
    truth = sim.truth.items.set_index("item_id")["loading"]
    assert np.corrcoef(loads["std_loading"], truth[loads["item_id"]].to_numpy())[0, 1] > 0.7
    # Composite reliability and omega hierarchical: the programme tables equal the
    # single-topic functions applied to the same wave (second path, same rows).
    version = sim.instrument.version("1.0")
    by_char = {c: list(ids) for c, ids in version.items_by_characteristic().items() if ids}
    matrix = item_matrix(sim.data.wave("2025-03"), sim.instrument, items=version.item_ids)
    direct = composite_reliability(cfa(matrix, by_char, nan_policy="fiml"), matrix)
    table = psy.composite_reliability.query("wave_id == '2025-03'")
    assert list(table["characteristic"]) == list(direct["factor"]) == list(by_char)
    np.testing.assert_allclose(table["omega"], direct["omega"], rtol=0, atol=1e-10)
    assert table["omega"].between(0.5, 1).all()
    ids = [i for group in by_char.values() for i in group]
    expected = omega_hierarchical(matrix[ids], n_factors=8)
    row = psy.omega_hierarchical.set_index("wave_id").loc["2025-03"]
    assert row["omega_hierarchical"] == pytest.approx(expected.omega_hierarchical, abs=1e-12)
    assert row["omega_total"] == pytest.approx(expected.omega_total, abs=1e-12)
    assert row["n_factors"] == 8 and row["n_items"] == len(ids)
    # the general factor cannot explain more than all common variance
    assert (psy.omega_hierarchical["omega_hierarchical"]
            <= psy.omega_hierarchical["omega_total"]).all()
