"""Scoring: characteristic scores, item matrices and item distributions.

Expected values are worked out by hand beside each test (the instrument's rules: reverse
keying as max + min - x, mean of answered items, at least half of a characteristic's items
answered), and the vectorised scorer is compared with a plain per-respondent loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collab_stats import from_wide, load_instrument_family, simulate_programme
from collab_stats.scoring import (
    comparable_item_sets,
    item_distribution,
    item_matrix,
    score_responses,
)


@pytest.fixture(scope="module")
def family():
    return load_instrument_family()


def one_respondent(family, answers: dict[str, float], *, version="1.0", completed=True):
    """Canonical data for one respondent of collaboration 'c1' who gave ``answers`` (codes as
    exported: 1-5, -1 don't know, -2 not applicable; unlisted items are left blank)."""
    items = family.version(version).item_ids
    row = {
        "wave_id": "w1", "collaboration_id": "c1", "respondent_id": "r1",
        "instrument_version": version, "partner_id": "p1", "sector": "housing",
        "role": "staff", "months_involved": 12, "main_value_mode": None,
        "completed": completed, "submitted_at": pd.Timestamp("2025-03-04", tz="UTC"),
    }
    row.update({i: answers.get(i, np.nan) for i in items})
    wide = pd.DataFrame([row]).astype({"wave_id": "category", "collaboration_id": "category",
                                       "respondent_id": "category"})
    return from_wide(wide, family)


def score_of(scores: pd.DataFrame, characteristic: str) -> pd.Series:
    return scores[scores["characteristic"] == characteristic].iloc[0]


def test_reverse_keyed_items_are_scored_max_plus_min_minus_x(family):
    # PC: PC01 4, PC02 5, PC03 (reverse-keyed) 2 -> 6 - 2 = 4, PC04 3, PC05 don't know.
    # Mean of the four answered, keyed values: (4 + 5 + 4 + 3) / 4 = 4.0 -> band "strength".
    data = one_respondent(family, {"PC01": 4, "PC02": 5, "PC03": 2, "PC04": 3, "PC05": -1})
    pc = score_of(score_responses(data, family), "PC")
    assert pc["score"] == pytest.approx(4.0, abs=1e-12)
    assert pc["score_0_100"] == pytest.approx(75.0, abs=1e-12)  # 100 (4 - 1) / (5 - 1)
    assert (pc["n_items"], pc["n_answered"], pc["band"], pc["reason"]) == (5, 4, "strength", "")


def test_a_score_needs_at_least_half_of_the_items_answered(family):
    # TG has 5 items in version 1.0: 3 answered is enough (>= 2.5), 2 is not.
    enough = one_respondent(family, {"TG01": 2, "TG02": 3, "TG04": 3, "TG03": -2})
    too_few = one_respondent(family, {"TG01": 2, "TG02": 3, "TG03": -1, "TG04": -2})
    tg = score_of(score_responses(enough, family), "TG")
    assert tg["score"] == pytest.approx(8 / 3, abs=1e-12)
    assert tg["band"] == "concern"  # 2.67 < 3.0
    missing = score_of(score_responses(too_few, family), "TG")
    assert np.isnan(missing["score"]) and missing["reason"] == "too_few_items"
    assert pd.isna(missing["band"])


def test_version_items_restricts_scoring_to_comparable_items(family):
    sets = comparable_item_sets(family, ["1.0", "2.0"])
    assert "MI03" not in sets["1.0"] and "CC02" not in sets["1.0"] and "PS01" in sets["1.0"]
    assert not {"MI03A", "MI03B", "TG06"} & sets["2.0"]
    # MI in 1.0: MI01 5, MI02 4, MI03 1, MI04 4. All items: 14/4 = 3.5; comparable only
    # (MI03 split in 2.0, so left out): 13/3.
    data = one_respondent(family, {"MI01": 5, "MI02": 4, "MI03": 1, "MI04": 4})
    assert score_of(score_responses(data, family), "MI")["score"] == pytest.approx(3.5)
    restricted = score_of(score_responses(data, family, version_items=sets), "MI")
    assert restricted["score"] == pytest.approx(13 / 3) and restricted["n_items"] == 3


def test_vectorised_scores_equal_a_plain_loop_over_respondents(family):
    sim = simulate_programme(seed=8, n_collaborations=4, n_waves=4)
    scores = score_responses(sim.data, family)
    wide = item_matrix(sim.data, family, items=sorted({i.id for v in family.versions for i in v.items}))
    expected = []
    for _, person in wide.iterrows():
        version = family.version(person["instrument_version"])
        for c in family.framework.characteristics:
            values = [person[i.id] for i in version.items_for(c.id)]  # already reverse-keyed
            answered = [x for x in values if not np.isnan(x)]
            ok = len(answered) >= version.scoring.min_answered_share * len(values)
            expected.append(np.mean(answered) if ok and answered else np.nan)
    np.testing.assert_allclose(scores["score"].to_numpy(), np.array(expected), atol=1e-12)


def test_item_matrix_reverse_keys_only_when_asked(family):
    data = one_respondent(family, {"TG03": 2, "TG01": 2})
    keyed = item_matrix(data, family, items=["TG01", "TG03", "MI03A"])
    raw = item_matrix(data, family, items=["TG01", "TG03", "MI03A"], reverse=False)
    assert (keyed.loc[0, "TG03"], raw.loc[0, "TG03"], keyed.loc[0, "TG01"]) == (4.0, 2.0, 2.0)
    assert np.isnan(keyed.loc[0, "MI03A"])  # a 2.0 item, not asked in 1.0


def test_item_distribution_counts_add_up_and_favourable_respects_keying(family):
    sim = simulate_programme(seed=9, n_collaborations=3, n_waves=1)
    dist = item_distribution(sim.data, family, by=("wave_id", "collaboration_id"))
    parts = dist[["n_answered", "n_dont_know", "n_not_applicable", "n_skipped", "n_not_reached"]]
    assert (parts.sum(axis=1) == dist["n_rows"]).all()
    assert dist["n_rows"].sum() == len(sim.data.responses)
    # TG03 is reverse-keyed: favourable means disagreeing (codes 1 and 2).
    tg03 = dist[dist["item_id"] == "TG03"].iloc[0]
    assert tg03["favourable_share"] == pytest.approx((tg03["n_1"] + tg03["n_2"]) / tg03["n_answered"])
    tg01 = dist[dist["item_id"] == "TG01"].iloc[0]
    assert tg01["favourable_share"] == pytest.approx((tg01["n_4"] + tg01["n_5"]) / tg01["n_answered"])
