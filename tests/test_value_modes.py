"""Tests of ways of creating value and purpose clarity (:mod:`collab_stats.value_modes`).

Five kinds of test:

* reference - Fleiss' kappa for Fleiss' (1971) psychiatric diagnoses (30 patients x 6
  raters x 5 categories; kappa = 0.430 in the paper, 0.4302445 from R's
  ``irr::kappam.fleiss(diagnoses)``) and for Wikipedia's worked example; statsmodels'
  ``fleiss_kappa`` for tables with equal numbers of raters, to 1e-12; and small tables with
  unequal numbers of raters worked out by hand beside the test from Fleiss, Levin & Paik
  (2003, ch. 18);
* hand-built surveys - every figure of the per-collaboration tables worked out beside them;
* fast path vs plain loops - the grouped computations give the numbers of a plain per-
  collaboration loop written here (``collections.Counter``);
* simulation - the share of partners naming the declared main mode follows the simulator's
  ``truth.main_mode_agreement``;
* properties (hypothesis) - reordering subjects or relabelling categories changes no kappa;
  the programme kappa is the (n - 1)-weighted mean of the per-collaboration terms;
* errors - bad parameters raise ParameterError naming the parameter; modes outside the
  vocabulary raise DataSchemaError / ProgrammeError.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from collab_stats import simulate_programme
from collab_stats.errors import DataSchemaError, ParameterError, ProgrammeError
from collab_stats.programme import Collaboration, PartnerOrganisation, Programme, Wave
from collab_stats.schema import RESPONSE_COLUMNS, make_survey_data
from collab_stats.value_modes import (
    VALUE_MODES,
    KappaResult,
    declared_match,
    fleiss_kappa,
    main_mode_agreement,
    main_mode_kappa,
    value_mode_distribution,
)

# --- builders ---------------------------------------------------------------------------------


def make_programme(declared: dict[str, tuple[tuple[str, ...], str | None]],
                   waves: tuple[str, ...] = ("w1",)) -> Programme:
    """A programme from {collaboration id: (declared modes, declared main mode)}."""
    day = dt.date(2025, 3, 1)
    return Programme(
        id="test", name="Test programme", instrument="collaboration-indicators",
        disclosure_threshold=10, peer_groups=(),
        collaborations=tuple(
            Collaboration(id=cid, name=cid, type="care_alliance", region="Nowhere",
                          peer_group="g", value_modes=modes, main_value_mode=main,
                          partners=(PartnerOrganisation(f"{cid}-a", "A", "housing"),
                                    PartnerOrganisation(f"{cid}-b", "B", "nhs_acute")))
            for cid, (modes, main) in declared.items()),
        waves=tuple(Wave(w, w, day, day, "1.0") for w in waves),
    )


def make_data(respondents: list[tuple], chosen: list[tuple] = ()):
    """SurveyData from respondents (wave, collaboration, respondent, main mode or None) and
    value-mode selections (wave, collaboration, respondent, mode)."""
    resp = pd.DataFrame(respondents, columns=["wave_id", "collaboration_id", "respondent_id",
                                              "main_value_mode"])
    resp = resp.assign(instrument_version="1.0", partner_id=None, sector=None, role="staff",
                       months_involved=12, completed=True,
                       submitted_at=pd.Timestamp("2025-03-10", tz="UTC"))
    sel = pd.DataFrame(list(chosen), columns=["wave_id", "collaboration_id", "respondent_id",
                                              "option_id"])
    sel.insert(3, "question_id", "value_modes")
    return make_survey_data(resp, pd.DataFrame({c: [] for c in RESPONSE_COLUMNS}), sel)


def row_of(table: pd.DataFrame, collaboration: str, wave: str = "w1") -> pd.Series:
    hit = table[(table["wave_id"] == wave) & (table["collaboration_id"] == collaboration)]
    assert len(hit) == 1
    return hit.iloc[0]


# --- Fleiss' kappa: reference values ----------------------------------------------------------

# Fleiss (1971), Table 1 in its raw form: 30 patients (rows) x 6 psychiatrists, diagnoses
# 1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other. This is R's
# irr::diagnoses (irr 0.84.1), as also typed into statsmodels' test_inter_rater.py.
DIAGNOSES = np.array([
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
])

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 14 raters x 5 categories;
# P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210 (all given to 3 decimals).
WIKIPEDIA = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def test_fleiss_1971_diagnoses():
    counts, _ = aggregate_raters(DIAGNOSES)
    res = fleiss_kappa(counts)
    # R: irr::kappam.fleiss(diagnoses)$value = 0.4302445 (printed to 7 digits)
    assert res.estimate == pytest.approx(0.4302445, abs=5e-8)
    # Fleiss (1971), p. 381: kappa = .430
    assert round(res.estimate, 3) == 0.430
    assert res.n_subjects == res.n_subjects_used == 30 and res.n_ratings == 180
    assert res.equal_raters and res.reason == ""


def test_wikipedia_example():
    res = fleiss_kappa(WIKIPEDIA)
    assert res.observed_agreement == pytest.approx(0.378, abs=5e-4)
    assert res.chance_agreement == pytest.approx(0.213, abs=5e-4)
    assert res.estimate == pytest.approx(0.210, abs=5e-4)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 12), st.integers(2, 8), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_equal_raters_match_statsmodels(n_subjects, n_raters, n_categories, seed):
    rng = np.random.default_rng(seed)
    ratings = rng.integers(0, n_categories, size=(n_subjects, n_raters))
    counts = np.stack([(ratings == j).sum(axis=1) for j in range(n_categories)], axis=1)
    res = fleiss_kappa(counts)
    if res.chance_agreement < 1:
        assert res.estimate == pytest.approx(sm_fleiss_kappa(counts), abs=1e-12)
    else:
        assert math.isnan(res.estimate) and "chance agreement is 1" in res.reason


def test_unequal_raters_by_hand():
    # m = 2, 2, 3; pooled counts 3, 4 of 7 -> P_e = (9 + 16) / 49 = 25/49.
    # P_i = 1, 0, 1 with weights m - 1 = 1, 1, 2 -> P = 3/4.
    # kappa = (3/4 - 25/49) / (24/49) = 47/96. Fleiss, Levin & Paik (2003, ch. 18):
    # 1 - sum_i (m_i^2 - sum_j x_ij^2) / m_i / (sum_i (m_i - 1) sum_j p_j q_j)
    #   = 1 - (0 + 1 + 0) / (4 * 24/49) = 47/96.
    res = fleiss_kappa([[2, 0], [1, 1], [0, 3]])
    assert res.estimate == pytest.approx(47 / 96, abs=1e-15)
    assert res.observed_agreement == pytest.approx(0.75, abs=1e-15)
    assert res.chance_agreement == pytest.approx(25 / 49, abs=1e-15)
    assert not res.equal_raters and res.n_ratings == 7
    # A subject with one rating adds to the category shares only: pooled 4, 4 -> P_e = 1/2,
    # kappa = (3/4 - 1/2) / (1/2) = 1/2.
    res = fleiss_kappa([[2, 0], [1, 1], [0, 3], [1, 0]])
    assert res.estimate == pytest.approx(0.5, abs=1e-15)
    assert res.n_subjects == 4 and res.n_subjects_used == 3


def test_single_subject_fleiss_kappa_is_uninformative():
    """Why main_mode_agreement does not report Fleiss' kappa per collaboration: for one subject
    it is -1 / (m - 1) whatever the ratings."""
    for row in ([5, 1, 0, 0], [3, 3, 0, 0], [1, 1, 2, 2]):
        assert fleiss_kappa([row]).estimate == pytest.approx(-1 / (sum(row) - 1), abs=1e-12)


def test_too_little_data_is_nan_with_a_reason():
    res = fleiss_kappa([[1, 0], [0, 1]])
    assert math.isnan(res.estimate) and "two or more ratings" in res.reason
    res = fleiss_kappa([[3, 0], [2, 0]])
    assert math.isnan(res.estimate) and "one category" in res.reason
    assert isinstance(res, KappaResult)
    assert list(res.to_frame().columns) == ["estimate", "observed_agreement",
                                            "chance_agreement", "n_subjects", "n_subjects_used",
                                            "n_ratings", "equal_raters", "reason"]


def reference_kappa(counts: np.ndarray) -> float:
    """Fleiss, Levin & Paik (2003, ch. 18) written out with loops."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    p = counts.sum(axis=0) / total
    numerator = sum((row.sum() ** 2 - (row ** 2).sum()) / row.sum()
                    for row in counts if row.sum() > 0)
    weight = sum(row.sum() - 1 for row in counts if row.sum() > 0)
    return 1 - numerator / (weight * (p * (1 - p)).sum())


count_tables = arrays(np.int64, st.tuples(st.integers(1, 10), st.integers(2, 5)),
                      elements=st.integers(0, 6))


@settings(max_examples=80, deadline=None)
@given(count_tables, st.randoms(use_true_random=False))
def test_kappa_properties(counts, rnd):
    res = fleiss_kappa(counts)
    if math.isnan(res.estimate):
        return
    assert res.estimate == pytest.approx(reference_kappa(counts), abs=1e-12)
    assert res.estimate <= 1 + 1e-12
    # reordering subjects and relabelling categories change nothing
    rows, cols = list(range(counts.shape[0])), list(range(counts.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    assert fleiss_kappa(counts[rows][:, cols]).estimate == pytest.approx(res.estimate, abs=1e-12)
    # the (m_i - 1)-weighted mean of the per-subject chance-corrected agreements
    m = counts.sum(axis=1)
    used = m >= 2
    p_i = ((counts * (counts - 1)).sum(axis=1)[used]) / (m[used] * (m[used] - 1))
    k_i = (p_i - res.chance_agreement) / (1 - res.chance_agreement)
    assert np.average(k_i, weights=m[used] - 1) == pytest.approx(res.estimate, abs=1e-12)


# --- hand-built survey ------------------------------------------------------------------------

# One wave, four collaborations; declared main modes: A aligned_plans, B shared_delivery,
# C aligned_plans, D shared_voice.
PROG = make_programme({
    "A": (("shared_delivery", "aligned_plans"), "aligned_plans"),
    "B": (("shared_delivery", "shared_learning"), "shared_delivery"),
    "C": (("aligned_plans",), "aligned_plans"),
    "D": (("shared_voice",), "shared_voice"),
})
MAIN = (
    # A: aligned_plans x 3, shared_delivery x 1
    [("w1", "A", f"a{i}", m) for i, m in enumerate(["aligned_plans"] * 3 + ["shared_delivery"])]
    # B: shared_delivery x 2, shared_learning x 2 (a tie)
    + [("w1", "B", f"b{i}", m) for i, m in enumerate(["shared_delivery"] * 2
                                                      + ["shared_learning"] * 2)]
    # C: one answer (shared_voice); D: one respondent, no answer
    + [("w1", "C", "c0", "shared_voice"), ("w1", "D", "d0", None)]
)
# Pooled over A, B, C: aligned 3, delivery 3, learning 2, voice 1 of 9
#   -> P_e = (9 + 9 + 4 + 1) / 81 = 23/81.
PE = 23 / 81


def test_main_mode_agreement_by_hand():
    table = main_mode_agreement(make_data(MAIN), PROG)
    assert table["collaboration_id"].tolist() == ["A", "B", "C", "D"]
    a = row_of(table, "A")
    # P_o = 3 * 2 / (4 * 3) = 1/2; kappa = (1/2 - 23/81) / (58/81) = 35/116
    assert a["n_answered"] == 4 and a["modal_mode"] == "aligned_plans"
    assert a["modal_share"] == 0.75 and a["declared_share"] == 0.75 and a["declared_is_modal"]
    assert a["observed_agreement"] == pytest.approx(0.5, abs=1e-15)
    assert a["chance_agreement"] == pytest.approx(PE, abs=1e-15)
    assert a["kappa"] == pytest.approx(35 / 116, abs=1e-15)
    b = row_of(table, "B")
    # P_o = (2 + 2) / 12 = 1/3; kappa = (1/3 - 23/81) / (58/81) = 2/29; a tie for modal
    assert pd.isna(b["modal_mode"]) and b["n_modal_modes"] == 2 and b["modal_share"] == 0.5
    assert b["declared_share"] == 0.5 and b["declared_is_modal"]  # ties for first place
    assert b["kappa"] == pytest.approx(2 / 29, abs=1e-15)
    assert "2 modes tie (shared_delivery, shared_learning)" in b["reason"]
    c = row_of(table, "C")
    assert c["modal_mode"] == "shared_voice" and c["declared_share"] == 0.0
    assert not c["declared_is_modal"]
    assert math.isnan(c["observed_agreement"]) and math.isnan(c["kappa"])
    assert "only 1 respondent" in c["reason"]
    d = row_of(table, "D")
    assert d["n_respondents"] == 1 and d["n_answered"] == 0
    assert pd.isna(d["modal_mode"]) and pd.isna(d["declared_is_modal"])
    assert math.isnan(d["declared_share"]) and "no respondent named" in d["reason"]


def test_main_mode_kappa_by_hand():
    k = main_mode_kappa(make_data(MAIN), PROG).iloc[0]
    # weights m - 1: A 3, B 3 (C and D none): P = (3/2 + 1) / 6 = 5/12;
    # kappa = (5/12 - 23/81) / (58/81) = 43/232 = mean of 35/116 and 2/29
    assert k["kappa"] == pytest.approx(43 / 232, abs=1e-15)
    assert k["observed_agreement"] == pytest.approx(5 / 12, abs=1e-15)
    assert k["n_collaborations"] == 4 and k["n_collaborations_used"] == 2
    assert k["n_respondents"] == 10 and k["n_answered"] == 9 and not k["equal_raters"]


def test_main_mode_kappa_with_equal_raters_matches_statsmodels():
    """A programme where every collaboration has 5 answers: the data path gives statsmodels'
    fleiss_kappa of the collaborations x modes table."""
    rng = np.random.default_rng(4)
    ids = [f"c{k}" for k in range(12)]
    prog = make_programme({c: (VALUE_MODES, "shared_delivery") for c in ids})
    favourite = rng.integers(0, 4, size=12)
    rows = []
    for k, c in enumerate(ids):
        for r in range(5):
            mode = favourite[k] if rng.random() < 0.6 else rng.integers(0, 4)
            rows.append(("w1", c, f"{c}-{r}", VALUE_MODES[mode]))
    data = make_data(rows)
    k = main_mode_kappa(data, prog).iloc[0]
    table = pd.crosstab(data.respondents["collaboration_id"].astype(str),
                        data.respondents["main_value_mode"].astype(str)).to_numpy()
    assert k["equal_raters"]
    assert k["kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-12)
    per = main_mode_agreement(data, prog)
    assert per["kappa"].mean() == pytest.approx(k["kappa"], abs=1e-12)


def test_value_mode_distribution_by_hand():
    prog = make_programme({"A": (("shared_delivery", "aligned_plans"), "aligned_plans")})
    data = make_data(
        [("w1", "A", f"r{i}", None) for i in range(5)],
        [("w1", "A", "r0", "shared_delivery"), ("w1", "A", "r0", "shared_learning"),
         ("w1", "A", "r1", "shared_delivery"), ("w1", "A", "r1", "shared_delivery"),  # twice
         ("w1", "A", "r2", "aligned_plans"), ("w1", "A", "r2", "shared_learning"),
         ("w1", "A", "r3", "shared_learning")])  # r4 chose nothing
    table = value_mode_distribution(data, prog).set_index("value_mode")
    assert list(table.index) == list(VALUE_MODES)
    assert (table["n_respondents"] == 5).all() and (table["n_answered"] == 4).all()
    assert table["n_chosen"].to_dict() == {"shared_voice": 0, "shared_delivery": 2,
                                           "aligned_plans": 1, "shared_learning": 3}
    assert table.loc["shared_learning", "share"] == 0.75
    assert table["declared"].to_dict() == {"shared_voice": False, "shared_delivery": True,
                                           "aligned_plans": True, "shared_learning": False}
    assert table.loc["aligned_plans", "declared_main"] and table["declared_main"].sum() == 1

    match = declared_match(data, prog).iloc[0]
    # perceived (share >= 1/2): shared_delivery 2/4, shared_learning 3/4; declared: delivery,
    # aligned. Jaccard = |{delivery}| / |{delivery, aligned, learning}| = 1/3
    assert match["perceived_modes"] == ("shared_delivery", "shared_learning")
    assert match["declared_modes"] == ("shared_delivery", "aligned_plans")
    assert match["missing_modes"] == ("aligned_plans",)
    assert match["extra_modes"] == ("shared_learning",)
    assert match["jaccard"] == pytest.approx(1 / 3, abs=1e-15) and not match["match"]
    assert (match["n_declared"], match["n_perceived"], match["n_missing"], match["n_extra"]) == (
        2, 2, 1, 1)
    # a stricter threshold: only shared_learning (3/4) -> Jaccard 0 of 3
    strict = declared_match(data, prog, threshold=0.75).iloc[0]
    assert strict["perceived_modes"] == ("shared_learning",) and strict["jaccard"] == 0.0


def test_nobody_answering_gives_nan_with_reason():
    prog = make_programme({"A": (("shared_delivery",), "shared_delivery")})
    data = make_data([("w1", "A", "r0", None)])
    dist = value_mode_distribution(data, prog)
    assert dist["share"].isna().all() and (dist["reason"] != "").all()
    match = declared_match(data, prog).iloc[0]
    assert math.isnan(match["jaccard"]) and pd.isna(match["match"]) and match["reason"]
    k = main_mode_kappa(data, prog).iloc[0]
    assert math.isnan(k["kappa"]) and "two or more answers" in k["reason"]


# --- fast path vs a plain loop, and simulation -------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=3, n_collaborations=60, n_waves=2)


def test_grouped_tables_match_a_plain_loop(sim):
    data, prog = sim.data, sim.programme
    resp = data.respondents.astype(object)
    table = main_mode_agreement(data, prog)
    dist = value_mode_distribution(data, prog)
    for wave, in_wave in resp.groupby("wave_id"):
        pooled = Counter(in_wave["main_value_mode"].dropna())
        total = sum(pooled.values())
        pe = sum((v / total) ** 2 for v in pooled.values())
        for cid, group in in_wave.groupby("collaboration_id"):
            answers = Counter(group["main_value_mode"].dropna())
            n = sum(answers.values())
            row = row_of(table, cid, wave)
            assert row["n_answered"] == n and row["chance_agreement"] == pytest.approx(pe)
            declared = prog.collaboration(cid).main_value_mode
            assert row["declared_share"] == pytest.approx(answers[declared] / n)
            po = sum(v * (v - 1) for v in answers.values()) / (n * (n - 1))
            assert row["kappa"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
            sel = data.selections.astype(object)
            sel = sel[(sel["wave_id"] == wave) & (sel["collaboration_id"] == cid)
                      & (sel["question_id"] == "value_modes")]
            answered = sel["respondent_id"].nunique()
            d = dist[(dist["wave_id"] == wave) & (dist["collaboration_id"] == cid)]
            for mode, share in zip(d["value_mode"], d["share"], strict=True):
                assert share == pytest.approx(
                    sel.loc[sel["option_id"] == mode, "respondent_id"].nunique() / answered)


def test_declared_main_share_follows_true_agreement(sim):
    """In the simulator a partner names the declared main mode with probability
    truth.main_mode_agreement (else a random mode they chose). With 60 collaborations of
    6-80 respondents, the rank correlation of the observed share (mean of 2 waves) with the
    truth is about 0.8; 0.6 leaves room for sampling variation."""
    table = main_mode_agreement(sim.data, sim.programme)
    observed = table.groupby("collaboration_id")["declared_share"].mean()
    truth = sim.truth.main_mode_agreement.reindex(observed.index)
    assert stats.spearmanr(observed, truth).statistic > 0.6
    # the observed share is never much below the truth: agreeing partners name it, the others
    # sometimes do too
    assert (observed - truth).mean() > 0
    kappa = table.groupby("collaboration_id")["kappa"].mean()
    assert stats.spearmanr(kappa, truth).statistic > 0.6


def test_declared_modes_are_perceived_in_the_simulation(sim):
    """Declared modes are chosen with probability 0.75 and others with 0.12, so with at least
    half as the threshold most collaborations' perceived modes equal the declared ones."""
    match = declared_match(sim.data, sim.programme)
    assert match["match"].mean() > 0.8 and match["jaccard"].mean() > 0.9


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call, name", [
    (lambda d, p: declared_match(d, p, threshold=0), "threshold"),
    (lambda d, p: declared_match(d, p, threshold=1.5), "threshold"),
    (lambda d, p: declared_match(d, p, threshold="half"), "threshold"),
    (lambda d, p: value_mode_distribution(d, p, modes="shared_voice"), "modes"),
    (lambda d, p: value_mode_distribution(d, p, modes=[]), "modes"),
    (lambda d, p: main_mode_agreement(d, p, modes=["a", "a"]), "modes"),
    (lambda d, p: main_mode_kappa(d.respondents, p), "data"),
    (lambda d, p: main_mode_agreement(d, None), "programme"),
    (lambda d, p: fleiss_kappa([[1, -1]]), "counts"),
    (lambda d, p: fleiss_kappa([1, 2, 3]), "counts"),
    (lambda d, p: fleiss_kappa([[1.5, 2]]), "counts"),
])
def test_bad_parameters_raise_parameter_error_naming_the_parameter(call, name):
    with pytest.raises(ParameterError, match=rf"^{name} must"):
        call(make_data(MAIN), PROG)


def test_modes_outside_the_vocabulary():
    data = make_data([("w1", "A", "r0", "world_peace")])
    with pytest.raises(DataSchemaError, match="world_peace"):
        main_mode_agreement(data, PROG)
    data = make_data([("w1", "A", "r0", None)], [("w1", "A", "r0", "world_peace")])
    with pytest.raises(DataSchemaError, match="world_peace"):
        value_mode_distribution(data, PROG)
    with pytest.raises(ProgrammeError, match="not in modes"):
        value_mode_distribution(make_data(MAIN), PROG, modes=["shared_voice"])
    unknown = make_data([("w1", "Z", "r0", None)])
    with pytest.raises(DataSchemaError, match="not in the programme"):
        declared_match(unknown, PROG)
