"""Tests of the simulator (:mod:`collab_stats.simulate`).

Three kinds of test:

* structure - the output follows the canonical schema and the settings (sizes, versions,
  panel, missing answers, selections, comments);
* recovery - respondents scored here with a plain, independent implementation of the
  instrument's scoring rule reproduce the expected characteristic scores the simulator reports
  in ``truth.collaboration_levels`` (the check that the documented generating model and the
  truth agree), and the trends and value-mode agreement in ``truth`` show up in the answers;
* determinism - a seed fixes everything.

Tolerances are statistical: each assertion says what sampling variation it allows for. All
simulations use fixed seeds, so every test is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from collab_stats import SimulationSettings, simulate_programme, validate_survey_data
from collab_stats.schema import (
    COMMENT_COLUMNS,
    RESPONDENT_COLUMNS,
    RESPONSE_COLUMNS,
    SELECTION_COLUMNS,
    make_survey_data,
)

# --- shared simulations ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    """A small programme with the default settings: 12 collaborations, 4 waves (2 per version),
    about 1,400 respondents."""
    return simulate_programme(seed=20250303, n_collaborations=12, n_waves=4)


@pytest.fixture(scope="module")
def big():
    """A programme big enough for recovery: 60 collaborations x 2 waves (one per instrument
    version) x 40-80 respondents, so 960 (wave, collaboration, characteristic) cells."""
    return simulate_programme(seed=7, n_collaborations=60, n_waves=2,
                              settings=SimulationSettings(respondents=(40, 80)))


@pytest.fixture(scope="module")
def trend_sim():
    """60 collaborations over 4 waves, for change from the first to the last wave."""
    return simulate_programme(seed=11, n_collaborations=60, n_waves=4,
                              settings=SimulationSettings(respondents=(20, 60)))


# --- a plain reference implementation of the scoring rule --------------------------------------


def score_respondents(sim, *, items=None) -> pd.DataFrame:
    """Characteristic scores of every respondent, the slow and obvious way.

    Reverse-keyed items are scored max + min - x; the score is the mean of the answered items
    of the characteristic in the respondent's instrument version (restricted to ``items`` when
    given), and NaN when fewer than ``scoring.min_answered_share`` of those items are answered.
    One row per (wave, collaboration, respondent, characteristic) with ``score``, ``answered``
    and ``n_items``.
    """
    rows = []
    for version in sim.instrument.versions:
        for item in version.items:
            if items is None or item.id in items:
                rows.append({"instrument_version": version.version, "item_id": item.id,
                             "characteristic": item.characteristic, "reverse": item.reverse,
                             "flip": version.scale.max + version.scale.min,
                             "min_share": version.scoring.min_answered_share})
    item_table = pd.DataFrame(rows)
    ids = ["wave_id", "collaboration_id", "respondent_id", "item_id"]
    answers = sim.data.responses.astype(dict.fromkeys(ids, str))
    versions = sim.data.respondents[["wave_id", "respondent_id", "instrument_version"]].astype(str)
    answers = answers.merge(versions, on=["wave_id", "respondent_id"], validate="many_to_one")
    answers = answers.merge(item_table, on=["instrument_version", "item_id"])
    value = answers["value"].astype("float64")
    answers["keyed"] = value.where(~answers["reverse"], answers["flip"] - value)
    scores = (answers.groupby(["wave_id", "collaboration_id", "respondent_id", "characteristic"])
              .agg(mean=("keyed", "mean"), answered=("keyed", "count"), n_items=("keyed", "size"),
                   min_share=("min_share", "first"))
              .reset_index())
    enough = scores["answered"] >= scores["min_share"] * scores["n_items"]
    scores["score"] = scores["mean"].where(enough)
    return scores.drop(columns=["mean", "min_share"])


def test_reference_scorer_on_a_hand_worked_respondent(sim):
    """The reference scorer itself, on answers worked out by hand (version 1.0, PC has five
    items, PC03 reverse-keyed; TG has five items, TG03 and TG05 reverse-keyed)."""
    one = sim.data.respondents.iloc[[0]].copy()
    one["instrument_version"] = "1.0"
    v1 = sim.instrument.version("1.0")
    given = {  # item: (value, missing reason)
        "PC01": (4, None), "PC02": (5, None), "PC03": (2, None),  # PC03 reversed: 6 - 2 = 4
        "PC04": (None, "dont_know"), "PC05": (None, "skipped"),
        "TG01": (5, None), "TG02": (None, "not_applicable"), "TG03": (None, "dont_know"),
        "TG04": (None, "skipped"), "TG05": (1, None),  # 2 of 5 answered < 50%: no score
    }
    answers = pd.DataFrame({
        "wave_id": one["wave_id"].iloc[0], "collaboration_id": one["collaboration_id"].iloc[0],
        "respondent_id": one["respondent_id"].iloc[0], "item_id": list(v1.item_ids),
        "value": [given.get(i, (3, None))[0] for i in v1.item_ids],
        "missing_reason": [given.get(i, (3, None))[1] for i in v1.item_ids],
    })
    toy = type(sim)(programme=sim.programme, instrument=sim.instrument,
                    data=make_survey_data(one, answers), truth=sim.truth)
    scores = score_respondents(toy).set_index("characteristic")
    assert scores.loc["PC", "score"] == pytest.approx((4 + 5 + 4) / 3)
    assert scores.loc["PC", "answered"] == 3 and scores.loc["PC", "n_items"] == 5
    assert math.isnan(scores.loc["TG", "score"])
    assert scores.loc["PS", "score"] == 3  # all 3s, no reverse-keyed items


# --- determinism -----------------------------------------------------------------------------


def _tables(s):
    return {"respondents": s.data.respondents, "responses": s.data.responses,
            "selections": s.data.selections, "comments": s.data.comments,
            "levels": s.truth.collaboration_levels, "trends": s.truth.trends,
            "items": s.truth.items}


def test_same_seed_gives_identical_output():
    a = simulate_programme(seed=5, n_collaborations=4, n_waves=3)
    b = simulate_programme(seed=5, n_collaborations=4, n_waves=3)
    for name, table in _tables(a).items():
        assert_frame_equal(table, _tables(b)[name], obj=name)
    assert a.programme == b.programme
    assert_series_equal(a.truth.main_mode_agreement, b.truth.main_mode_agreement)


def test_different_seed_gives_different_output():
    a = simulate_programme(seed=5, n_collaborations=4, n_waves=3)
    b = simulate_programme(seed=6, n_collaborations=4, n_waves=3)
    assert a.programme != b.programme
    assert not set(a.data.respondents["respondent_id"]) & set(b.data.respondents["respondent_id"])
    assert not np.allclose(a.truth.collaboration_levels["latent_mean"],
                           b.truth.collaboration_levels["latent_mean"])


# --- structure -------------------------------------------------------------------------------


def test_output_validates_against_instrument_and_programme(sim, big):
    for s in (sim, big):
        # Raises DataSchemaError listing every problem; returns None for valid data.
        assert validate_survey_data(s.data, s.instrument, programme=s.programme) is None


@pytest.mark.parametrize(("table", "columns"), [
    ("respondents", RESPONDENT_COLUMNS), ("responses", RESPONSE_COLUMNS),
    ("selections", SELECTION_COLUMNS), ("comments", COMMENT_COLUMNS),
])
def test_tables_have_the_schema_columns_and_dtypes(sim, table, columns):
    frame = getattr(sim.data, table)
    assert list(frame.columns) == list(columns)
    assert {c: str(t) for c, t in frame.dtypes.items()} == columns
    assert len(frame) > 0


@pytest.mark.parametrize(("n_waves", "n_first"), [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3)])
def test_first_half_of_waves_use_version_1_and_the_rest_version_2(n_waves, n_first):
    s = simulate_programme(seed=1, n_collaborations=2, n_waves=n_waves)
    expected = ["1.0"] * n_first + ["2.0"] * (n_waves - n_first)
    assert [w.instrument_version for w in s.programme.waves] == expected
    by_wave = s.data.respondents.groupby("wave_id", observed=True)["instrument_version"].unique()
    assert [list(by_wave[w]) for w in s.programme.wave_ids] == [[v] for v in expected]
    assert len(set(s.programme.wave_ids)) == n_waves


@pytest.mark.parametrize("settings", [SimulationSettings(),
                                      SimulationSettings(respondents=(3, 5), partners=(2, 3))])
def test_sizes_stay_within_the_settings(settings):
    s = simulate_programme(seed=3, n_collaborations=15, n_waves=3, settings=settings)
    counts = s.data.respondents.groupby(["wave_id", "collaboration_id"], observed=False).size()
    assert len(counts) == 15 * 3  # every collaboration answers in every wave
    lo, hi = settings.respondents
    assert counts.between(lo, hi).all(), counts[~counts.between(lo, hi)]
    n_partners = [len(c.partners) for c in s.programme.collaborations]
    assert min(n_partners) >= settings.partners[0] and max(n_partners) <= settings.partners[1]
    truth = s.truth.collaboration_levels
    assert len(truth) == 3 * 15 * len(s.instrument.framework.characteristics)


def _panel(sim) -> pd.DataFrame:
    """Respondents of waves after the first, with their row in the previous wave (if any)."""
    resp = sim.data.respondents.astype({"wave_id": str, "respondent_id": str,
                                        "collaboration_id": str})
    order = {w: k for k, w in enumerate(sim.programme.wave_ids)}
    resp["w"] = resp["wave_id"].map(order)
    prev = resp.assign(w=resp["w"] + 1)
    return resp[resp["w"] > 0].merge(prev, on=["w", "respondent_id"], how="left",
                                      suffixes=("", "_prev"), indicator=True)


def test_panel_respondents_keep_their_pseudonym_and_profile(sim):
    panel = _panel(sim)
    returning = panel[panel["_merge"] == "both"]
    assert len(returning) > 0
    for column in ("collaboration_id", "partner_id", "sector", "role"):
        same = returning[column].astype(str) == returning[f"{column}_prev"].astype(str)
        assert same.all(), column
    step = sim.settings.months_between_waves
    assert (returning["months_involved"] == returning["months_involved_prev"] + step).all()
    # Returning respondents answered the wave just before: a pseudonym seen in an earlier wave
    # but not in the previous one never reappears.
    resp = sim.data.respondents
    seen_before: set[str] = set()
    previous: set[str] = set()
    for wave in sim.programme.wave_ids:
        ids = set(resp.loc[resp["wave_id"] == wave, "respondent_id"].astype(str))
        assert ids & seen_before <= previous, wave
        seen_before |= ids
        previous = ids


@pytest.mark.parametrize("panel_share", [0.0, 0.5, 0.8])
def test_panel_share_follows_the_setting(panel_share):
    s = simulate_programme(seed=4, n_collaborations=12, n_waves=3,
                           settings=SimulationSettings(panel_share=panel_share))
    panel = _panel(s)
    returning = (panel["_merge"] == "both").groupby(
        [panel["wave_id"], panel["collaboration_id"]]).agg(["sum", "size"])
    # Per collaboration and wave at most panel_share of the respondents return ...
    assert (returning["sum"] <= panel_share * returning["size"]).all()
    # ... and overall about that share: rounding down per collaboration (about half a person
    # in cells of ~30) and previous waves smaller than the current one lower it, by less than
    # 0.1 with these sizes.
    share = returning["sum"].sum() / returning["size"].sum()
    assert panel_share - 0.1 <= share <= panel_share


def _binomial_tolerance(p: float, n: int) -> float:
    """Four binomial standard deviations: a rate drawn as n independent Bernoulli(p) trials
    lies this far from p with probability about 6e-5."""
    return 4 * math.sqrt(p * (1 - p) / n)


def test_missing_answers_occur_at_their_configured_rates(sim):
    settings = sim.settings
    resp = sim.data.respondents
    answers = sim.data.responses.merge(
        resp[["wave_id", "respondent_id", "completed", "role"]], on=["wave_id", "respondent_id"])
    reasons = set(answers["missing_reason"].dropna().astype(str))
    assert reasons == {"dont_know", "not_applicable", "skipped", "not_reached"}

    # Dropping out: respondents are independent Bernoulli(partial_rate) draws.
    n = len(resp)
    partial = 1 - resp["completed"].mean()
    assert abs(partial - settings.partial_rate) < _binomial_tolerance(settings.partial_rate, n)
    # Every partial response has "not reached" items, and only partial responses do.
    reached = answers["missing_reason"] == "not_reached"
    per_person = reached.groupby([answers["wave_id"], answers["respondent_id"]],
                                 observed=True).any()
    completed = resp.set_index(["wave_id", "respondent_id"])["completed"]
    assert (per_person.reindex(completed.index) == ~completed).all()

    # Among completed respondents (no drop-out), each answer is an independent draw: "not
    # applicable" and "skipped" have constant probabilities, so a binomial tolerance applies.
    done = answers[answers["completed"]]
    reason = done["missing_reason"].astype(object)
    for name, p in (("not_applicable", settings.not_applicable_rate),
                    ("skipped", settings.skip_rate)):
        rate = (reason == name).mean()
        assert abs(rate - p) < _binomial_tolerance(p, len(done)), (name, rate, p)

    # "Don't know" is the base rate scaled up or down by role and characteristic (documented:
    # more common among staff and public members and on measurement and governance items),
    # so only a loose band around the base rate, then the documented directions.
    dont_know = reason == "dont_know"
    assert settings.dont_know_rate * 0.8 < dont_know.mean() < settings.dont_know_rate * 2
    by_role = dont_know.groupby(done["role"].astype(str)).mean()
    assert by_role["staff"] > 1.5 * by_role["leader"]
    characteristic_of = {i.id: i.characteristic for v in sim.instrument.versions for i in v.items}
    by_characteristic = dont_know.groupby(done["item_id"].astype(str).map(characteristic_of)).mean()
    assert by_characteristic["MI"] > 1.2 * by_characteristic["PS"]


def test_missing_answers_follow_the_configured_rates_when_changed():
    settings = SimulationSettings(skip_rate=0.1, not_applicable_rate=0.0, partial_rate=0.0)
    s = simulate_programme(seed=2, n_collaborations=6, n_waves=2, settings=settings)
    reason = s.data.responses["missing_reason"].astype(object)
    assert s.data.respondents["completed"].all()
    assert not (reason == "not_applicable").any() and not (reason == "not_reached").any()
    assert abs((reason == "skipped").mean() - 0.1) < _binomial_tolerance(0.1, len(reason))


def test_network_ties_are_to_other_partners_of_the_same_collaboration(sim):
    partners = {c.id: {p.id: p.sector for p in c.partners} for c in sim.programme.collaborations}
    resp = sim.data.respondents.astype({"wave_id": str, "respondent_id": str,
                                        "collaboration_id": str, "partner_id": str, "sector": str})
    sel = sim.data.selections
    ties = sel[sel["question_id"] == "network"].astype(str).merge(
        resp, on=["wave_id", "respondent_id"], suffixes=("", "_resp"), validate="many_to_one")
    assert len(ties) > 0
    assert (ties["collaboration_id"] == ties["collaboration_id_resp"]).all()
    pairs = zip(ties["collaboration_id"], ties["option_id"], strict=True)
    assert all(option in partners[c] for c, option in pairs)
    assert (ties["option_id"] != ties["partner_id"]).all()
    assert ties.duplicated(["wave_id", "respondent_id", "option_id"]).sum() == 0

    # Tie rate among all possible ties (completed respondent x other partner organisation):
    # same-sector partners are chosen more often than partners from other sectors.
    done = resp[resp["completed"]]
    possible = pd.DataFrame(
        [(r.wave_id, r.respondent_id, pid, sector == r.sector)
         for r in done.itertuples() for pid, sector in partners[r.collaboration_id].items()
         if pid != r.partner_id],
        columns=["wave_id", "respondent_id", "option_id", "same_sector"])
    tied = possible.merge(ties[["wave_id", "respondent_id", "option_id"]], how="left",
                          indicator=True)["_merge"] == "both"
    assert tied.sum() == len(ties)  # every tie is one of the possible ones
    rate = tied.groupby(possible["same_sector"]).mean()
    # Thousands of possible ties of each kind, so a 1.3-fold difference is far outside noise.
    assert rate[True] > 1.3 * rate[False], rate


def test_value_modes_come_from_the_framework(sim):
    modes = {m.id for m in sim.instrument.framework.value_modes}
    assert len(modes) == 4
    sel = sim.data.selections
    chosen = sel[sel["question_id"] == "value_modes"]
    assert set(chosen["option_id"].astype(str)) <= modes
    assert set(sim.data.respondents["main_value_mode"].dropna().astype(str)) <= modes
    assert set(sel["question_id"].astype(str)) == {"value_modes", "network"}
    for c in sim.programme.collaborations:
        assert c.main_value_mode in c.value_modes and set(c.value_modes) <= modes
    # The main way named is one of the ways the respondent chose.
    resp = sim.data.respondents.dropna(subset=["main_value_mode"]).astype(
        {"wave_id": str, "respondent_id": str, "main_value_mode": str})
    picks = set(zip(chosen["wave_id"].astype(str), chosen["respondent_id"].astype(str),
                    chosen["option_id"].astype(str), strict=True))
    assert all(k in picks for k in zip(resp["wave_id"], resp["respondent_id"],
                                       resp["main_value_mode"], strict=True))


def test_selections_and_comments_come_from_completed_respondents_only(sim):
    resp = sim.data.respondents.astype({"wave_id": str, "respondent_id": str,
                                        "collaboration_id": str})
    completed = set(zip(resp.loc[resp["completed"], "wave_id"],
                        resp.loc[resp["completed"], "respondent_id"], strict=True))
    owner = resp.set_index(["wave_id", "respondent_id"])["collaboration_id"].to_dict()
    for name in ("selections", "comments"):
        table = getattr(sim.data, name).astype(
            {"wave_id": str, "respondent_id": str, "collaboration_id": str})
        keys = list(zip(table["wave_id"], table["respondent_id"], strict=True))
        assert len(keys) > 0
        assert all(k in completed for k in keys), name
        assert [owner[k] for k in keys] == list(table["collaboration_id"]), name
    assert not resp.loc[~resp["completed"], "main_value_mode"].notna().any()
    comments = sim.data.comments
    assert not comments.duplicated(["wave_id", "respondent_id", "question_id"]).any()
    assert (comments["text"].str.len() > 0).all()
    # About comment_rate of completed respondents comment (binomial, see _binomial_tolerance).
    rate = len(comments) / len(completed)
    assert abs(rate - sim.settings.comment_rate) < _binomial_tolerance(
        sim.settings.comment_rate, len(completed))


# --- recovery --------------------------------------------------------------------------------


def test_scores_recover_the_expected_characteristic_scores(big):
    """The key check of the simulator: observed collaboration means agree with the expected
    scores in ``truth`` within sampling error.

    In each (wave, collaboration, characteristic) cell the respondents are independent draws
    (panel members appear in both waves, but each cell is one wave), so the cell mean has
    standard error sd / sqrt(n), and z = (mean - expected) / se is close to a t variable with
    n - 1 >= 30 degrees of freedom: mean 0, sd about 1.02, P(|z| < 1.96) about 0.94-0.95.
    """
    key = ["wave_id", "collaboration_id", "characteristic"]
    scores = score_respondents(big).dropna(subset=["score"])
    cells = scores.groupby(key)["score"].agg(["mean", "std", "count"])
    truth = big.truth.collaboration_levels.set_index(key)["expected_score"]
    assert set(cells.index) == set(truth.index)
    assert cells["count"].min() >= 30  # 40-80 respondents, a few without a score
    se = cells["std"] / np.sqrt(cells["count"])  # std uses N - 1
    z = (cells["mean"] - truth.reindex(cells.index)) / se
    n_cells = len(z)
    assert n_cells == 2 * 60 * 8

    # The 960 z values are not independent: the 8 characteristics of a cell are scored from
    # the same respondents (correlated latent views, shared acquiescence) and panel members
    # link the two waves, so the mean of z varies like a mean over the 60 collaborations:
    # sd 0.05-0.07 (two runs of 40 seeds), not 1/sqrt(960) = 0.03. |mean| < 0.15 allows
    # 2-3 such sd (so about 2% of seeds would fail; this one gives -0.08). A bias of 0.03
    # points on the 1-5 scale (se of a cell mean is about 0.11) moves the mean of z by about
    # 0.28 and fails it.
    assert abs(z.mean()) < 0.15, z.mean()
    # sd of z: about 1.02 for t with 40-80 df; over 40 seeds it was 1.03 +- 0.04, so 0.8-1.25
    # leaves room for chance and still catches a misstated spread by a wide margin.
    assert 0.8 < z.std() < 1.25, z.std()
    # Coverage of the nominal 95% interval: about 0.94 for t with 40-80 df; over 40 seeds
    # 0.943 +- 0.009 (binomial sd with 960 cells alone: 0.007), so 0.90-0.98 is 4 sd either side.
    coverage = (z.abs() < 1.96).mean()
    assert 0.90 < coverage < 0.98, coverage
    # The observed means track the truth across collaborations: expected scores spread with
    # sd about 0.35, sampling error about 0.11 (0.95 +- 0.007 over 40 seeds).
    assert np.corrcoef(cells["mean"], truth.reindex(cells.index))[0, 1] > 0.9

    # No characteristic is biased (e.g. by a reverse-keyed item scored the wrong way round):
    # the mean error per characteristic, over the 120 cells, within 4 of its standard errors
    # (collaborations are independent; se from their averages over the two waves).
    error = (cells["mean"] - truth.reindex(cells.index)).rename("error").reset_index()
    per_collaboration = error.groupby(["characteristic", "collaboration_id"])["error"].mean()
    summary = per_collaboration.groupby(level="characteristic").agg(["mean", "std", "count"])
    summary["se"] = summary["std"] / np.sqrt(summary["count"])
    assert (summary["mean"].abs() < 4 * summary["se"]).all(), summary


def test_trends_show_in_the_change_from_first_to_last_wave(trend_sim):
    """Collaborations that improve (decline) in truth score higher (lower) in the last wave
    than the first; flat ones do not change on average.

    Scores use only the items both instrument versions share (the first two waves use 1.0,
    the last two 2.0), so item changes between versions do not look like change.
    """
    fam = trend_sim.instrument
    shared = set(fam.versions[0].item_ids) & set(fam.versions[-1].item_ids)
    scores = score_respondents(trend_sim, items=shared).dropna(subset=["score"])
    first, last = trend_sim.programme.wave_ids[0], trend_sim.programme.wave_ids[-1]
    means = scores.groupby(["collaboration_id", "characteristic", "wave_id"])["score"].mean()
    means = means.unstack("wave_id")
    change = (means[last] - means[first]).rename("change").reset_index().merge(
        trend_sim.truth.trends, on=["collaboration_id", "characteristic"], validate="one_to_one")
    # Collaborations are independent, but their characteristics are not: average per
    # collaboration first, then over collaborations with se = sd / sqrt(n collaborations).
    per_collaboration = change.groupby(["trend", "collaboration_id"])["change"].mean()
    summary = per_collaboration.groupby(level="trend").agg(["mean", "std", "count"])
    summary["se"] = summary["std"] / np.sqrt(summary["count"])
    assert (summary["count"] >= 5).all(), summary  # the seed gives enough of each kind
    # Three waves of about 0.2 latent sd each move a score by about 0.3-0.5 points, many se.
    assert summary.loc["improving", "mean"] > 3 * summary.loc["improving", "se"], summary
    assert summary.loc["declining", "mean"] < -3 * summary.loc["declining", "se"], summary
    # No change in truth: within 3 se of zero (fails by chance 0.3% of the time).
    assert abs(summary.loc["flat", "mean"]) < 3 * summary.loc["flat", "se"], summary
    # And truth says what the trend label says.
    slope = trend_sim.truth.trends.groupby("trend")["slope"]
    assert (slope.min()["improving"] > 0) and (slope.max()["declining"] < 0)
    assert (slope.min()["flat"] == 0) and (slope.max()["flat"] == 0)


def test_agreement_on_the_main_value_mode_follows_truth(big):
    """The share of respondents naming their collaboration's declared main way of creating
    value rises with ``truth.main_mode_agreement``.

    Each share rests on about 100 respondents (binomial se about 0.04) while the agreement
    probabilities spread with sd about 0.17, so the correlation over 60 collaborations is
    high (0.76-0.90 over five seeds); above 0.5 is a clear positive relation.
    """
    resp = big.data.respondents.dropna(subset=["main_value_mode"]).astype(
        {"collaboration_id": str, "main_value_mode": str})
    declared = {c.id: c.main_value_mode for c in big.programme.collaborations}
    names_main = resp["main_value_mode"] == resp["collaboration_id"].map(declared)
    share = names_main.groupby(resp["collaboration_id"]).mean()
    agreement = big.truth.main_mode_agreement.reindex(share.index)
    assert agreement.notna().all() and len(share) == 60
    assert np.corrcoef(share, agreement)[0, 1] > 0.5
    # A respondent who does not agree still picks the main mode sometimes, so the share is at
    # least the agreement probability on average.
    assert (share - agreement).mean() > 0

