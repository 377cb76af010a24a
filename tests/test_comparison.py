"""Tests of the programme-level comparisons (:mod:`collab_stats.comparison`).

Kinds of test:

* independent references, cell by cell (a plain loop): pingouin 0.7's ``welch_anova`` and
  ``pairwise_gameshowell``, scipy's ``f_oneway(equal_var=False)`` and ``kruskal``,
  statsmodels' ``anova_lm`` (sums of squares for omega squared) and
  ``multipletests(method="fdr_bh")``;
* hand-worked examples with the arithmetic beside them;
* properties (hypothesis) - relabelling collaborations and reordering rows change nothing at
  programme level; BH-adjusted p-values are monotone in p and never below p;
* too little data - NaN and a reason; bad parameters raise ParameterError naming the
  parameter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests

from collab_stats import simulate_programme
from collab_stats.comparison import benjamini_hochberg, games_howell, kruskal, welch_anova
from collab_stats.errors import ParameterError
from collab_stats.scoring import score_responses

CELL = ["wave_id", "characteristic"]


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    """Respondent scores of 12 simulated collaborations in 2 waves (categorical ids, some NaN
    scores), with two awkward collaborations added to one cell: one with a single score and
    one whose scores are all equal (both have undefined Welch weights)."""
    sim = simulate_programme(seed=21, n_collaborations=12, n_waves=2)
    out = score_responses(sim.data, sim.instrument)
    out = out[["wave_id", "collaboration_id", "respondent_id", "characteristic", "score"]]
    wave, char = str(out["wave_id"].iloc[0]), str(out["characteristic"].iloc[0])
    extra = pd.DataFrame(
        {
            "wave_id": wave,
            "collaboration_id": ["solo", "flat", "flat", "flat"],
            "respondent_id": ["x1", "x2", "x3", "x4"],
            "characteristic": char,
            "score": [3.0, 3.4, 3.4, 3.4],
        }
    )
    out = out.astype(
        {c: object for c in ["wave_id", "collaboration_id", "respondent_id", "characteristic"]}
    )
    return pd.concat([out, extra], ignore_index=True)


def usable_groups(cell: pd.DataFrame) -> pd.DataFrame:
    """The rows Welch's test can use: scores present, collaborations with n >= 2 and var > 0
    (pingouin raises otherwise; welch_anova documents that it leaves them out)."""
    cell = cell.dropna(subset=["score"])
    g = cell.groupby("collaboration_id")["score"]
    ok = (g.transform("count") >= 2) & (g.transform("var") > 0)
    return cell[ok]


# --- Welch's ANOVA -----------------------------------------------------------------------------


def test_welch_matches_pingouin_and_scipy_in_every_cell(scores):
    """pingouin.welch_anova (F, ddof2, p_unc, np2) and scipy.stats.f_oneway(equal_var=False)
    (F, p), to 1e-10 relative: the same formula, so agreement to rounding is claimed."""
    out = welch_anova(scores).set_index(CELL)
    assert len(out) == scores.groupby(CELL).ngroups
    for (wave, char), cell in scores.groupby(CELL):
        use = usable_groups(cell)
        ref = pg.welch_anova(data=use, dv="score", between="collaboration_id").iloc[0]
        row = out.loc[(wave, char)]
        assert row["n_groups_used"] == use["collaboration_id"].nunique() == ref["ddof1"] + 1
        assert row["n_used"] == len(use)
        assert row["f"] == pytest.approx(ref["F"], rel=1e-10)
        assert row["df2"] == pytest.approx(ref["ddof2"], rel=1e-10)
        assert row["p_value"] == pytest.approx(ref["p_unc"], rel=1e-10, abs=1e-300)
        assert row["np2"] == pytest.approx(ref["np2"], rel=1e-10)
        sp = stats.f_oneway(
            *[g.to_numpy() for _, g in use.groupby("collaboration_id")["score"]], equal_var=False
        )
        assert row["f"] == pytest.approx(sp.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(sp.pvalue, rel=1e-10, abs=1e-300)


def test_welch_leaves_out_undefined_weights_and_says_so(scores):
    wave, char = scores["wave_id"].iloc[0], scores["characteristic"].iloc[0]
    cell = scores[(scores["wave_id"] == wave) & (scores["characteristic"] == char)]
    row = welch_anova(scores).set_index(CELL).loc[(wave, char)]
    assert row["n_groups"] == cell.dropna(subset=["score"])["collaboration_id"].nunique() == 14
    assert row["n_groups_used"] == 12  # "solo" (one score) and "flat" (no spread) left out
    assert row["n_total"] == len(cell)
    assert row["n_used"] == len(usable_groups(cell))
    assert row["reason"] == ""


def test_omega_squared_matches_statsmodels_sums_of_squares(scores):
    """Hays' omega squared from statsmodels' one-way ANOVA table of the same collaborations:
    (SS_between - df_between MS_within) / (SS_total + MS_within); to 1e-10 relative."""
    out = welch_anova(scores).set_index(CELL)
    for (wave, char), cell in list(scores.groupby(CELL))[:6]:
        table = anova_lm(smf.ols("score ~ C(collaboration_id)", data=usable_groups(cell)).fit())
        ssb, ssw = table["sum_sq"].iloc[0], table["sum_sq"].iloc[1]
        msw, dfb = table["mean_sq"].iloc[1], table["df"].iloc[0]
        expected = (ssb - dfb * msw) / (ssb + ssw + msw)
        assert out.loc[(wave, char), "omega2"] == pytest.approx(expected, rel=1e-10)
        assert out.loc[(wave, char), "np2"] == pytest.approx(ssb / (ssb + ssw), rel=1e-10)


def hand_cell() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "wave_id": "w1",
            "characteristic": "PS",
            "collaboration_id": list("aaabbbccc"),
            "score": [3.0, 4.0, 5.0, 2.0, 2.5, 3.0, 4.0, 4.5, 5.0],
        }
    )


def test_welch_hand_worked():
    """a = (3, 4, 5), b = (2, 2.5, 3), c = (4, 4.5, 5): means 4, 2.5, 4.5; variances 1, .25,
    .25; weights w = n / s^2 = 3, 12, 12, W = 27, m_w = (12 + 30 + 54) / 27 = 3.555556.
    A = (3 * .444444^2 + 12 * 1.055556^2 + 12 * .944444^2) / 2 = 12.333333.
    Lambda = 3 * ((1 - 3/27)^2 / 2 + 2 * (1 - 12/27)^2 / 2) / 8 = 0.263889 -> df2 = 3.789474.
    F = 12.333333 / (1 + 2 * 0.263889 / 3) = 10.488189.
    Ordinary sums: grand mean 3.666667, SSB = 6.5, SSW = 2 + .5 + .5 = 3, MSW = 0.5:
    omega2 = (6.5 - 2 * 0.5) / (9.5 + 0.5) = 0.55; np2 = 6.5 / 9.5 = 0.684211."""
    row = welch_anova(hand_cell()).iloc[0]
    assert row["df1"] == 2
    assert row["df2"] == pytest.approx(3.789474, abs=5e-7)
    assert row["f"] == pytest.approx(10.488189, abs=5e-7)
    assert row["omega2"] == pytest.approx(0.55, rel=1e-14)
    assert row["np2"] == pytest.approx(6.5 / 9.5, rel=1e-14)
    assert row["p_value"] == pytest.approx(stats.f.sf(10.488189, 2, 3.789474), rel=1e-5)


def test_welch_too_few_groups_gives_nan_and_a_reason():
    d = hand_cell()
    one = welch_anova(d[d["collaboration_id"] == "a"]).iloc[0]
    assert one["reason"] == "fewer_than_two_groups" and np.isnan(one["f"])
    assert np.isnan(one["p_value"]) and np.isnan(one["p_adjusted"]) and one["n_groups"] == 1
    flat = welch_anova(d.assign(score=np.where(d["collaboration_id"] == "a", d["score"], 3.0)))
    assert flat["reason"].iloc[0] == "fewer_than_two_groups"
    assert flat["n_groups"].iloc[0] == 3 and flat["n_groups_used"].iloc[0] == 1


# --- Kruskal-Wallis -----------------------------------------------------------------------------


def test_kruskal_matches_scipy_in_every_cell(scores):
    """scipy.stats.kruskal (tie-corrected H and p), to 1e-10 relative."""
    out = kruskal(scores).set_index(CELL)
    for (wave, char), cell in scores.groupby(CELL):
        cell = cell.dropna(subset=["score"])
        groups = [g.to_numpy() for _, g in cell.groupby("collaboration_id")["score"]]
        ref = stats.kruskal(*groups)
        row = out.loc[(wave, char)]
        assert row["h"] == pytest.approx(ref.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-300)
        assert row["df"] == len(groups) - 1 and row["n_used"] == len(cell)
        assert row["epsilon2"] == pytest.approx(ref.statistic / (len(cell) - 1), rel=1e-10)


def test_kruskal_hand_worked():
    """Ranks of (3, 4, 5 | 2, 2.5, 3 | 4, 4.5, 5): 2 -> 1, 2.5 -> 2, 3 -> 3.5 (x2),
    4 -> 5.5 (x2), 4.5 -> 7, 5 -> 8.5 (x2). Rank sums a = 17.5, b = 6.5, c = 21.
    H = 12 / (9 * 10) * (17.5^2 + 6.5^2 + 21^2) / 3 - 30 = 5.088889; three ties of two:
    C = 1 - 3 * (8 - 2) / (729 - 9) = 0.975; Hc = 5.219373; epsilon2 = 5.219373 / 8 =
    0.652422 (rcompanion::epsilonSquared: H / ((n^2 - 1) / (n + 1)))."""
    row = kruskal(hand_cell()).iloc[0]
    assert row["tie_correction"] == pytest.approx(0.975, rel=1e-14)
    assert row["h"] == pytest.approx((12 / 90 * 789.5 / 3 - 30) / 0.975, rel=1e-13)
    assert row["h"] == pytest.approx(5.219373, abs=5e-7)
    assert row["epsilon2"] == pytest.approx(0.652422, abs=5e-7)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(row["h"], 2), rel=1e-12)


def test_kruskal_too_little_data():
    d = hand_cell()
    tied = kruskal(d.assign(score=3.0)).iloc[0]
    assert tied["reason"] == "all_values_tied" and np.isnan(tied["h"])
    assert tied["n_groups"] == 3 and tied["tie_correction"] == 0
    one = kruskal(d[d["collaboration_id"] == "b"]).iloc[0]
    assert one["reason"] == "fewer_than_two_groups" and np.isnan(one["p_value"])


# --- Games-Howell ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gh_cell(scores) -> tuple[str, str, pd.DataFrame]:
    wave, char = sorted(scores["wave_id"].unique())[1], "TG"
    cell = scores[(scores["wave_id"] == wave) & (scores["characteristic"] == char)]
    keep = sorted(cell["collaboration_id"].unique())[:8]
    return wave, char, scores[scores["collaboration_id"].isin(keep)]


def test_games_howell_matches_pingouin(gh_cell):
    """pingouin.pairwise_gameshowell: diff, se, T, df and hedges to 1e-12 relative (same
    closed forms), the studentized-range p-value to 1e-6 absolute as claimed."""
    wave, char, data = gh_cell
    out = games_howell(data, wave=wave, characteristic=char)
    cell = data[(data["wave_id"] == wave) & (data["characteristic"] == char)].dropna(
        subset=["score"]
    )
    ref = pg.pairwise_gameshowell(data=cell, dv="score", between="collaboration_id")
    assert len(out) == len(ref) == 8 * 7 // 2
    assert (out["A"].to_numpy() == ref["A"].to_numpy()).all()
    assert (out["B"].to_numpy() == ref["B"].to_numpy()).all()
    for mine, theirs in [
        ("mean_A", "mean_A"),
        ("mean_B", "mean_B"),
        ("diff", "diff"),
        ("se", "se"),
        ("t", "T"),
        ("df", "df"),
        ("hedges", "hedges"),
    ]:
        np.testing.assert_allclose(out[mine], ref[theirs], rtol=1e-12, err_msg=mine)
    np.testing.assert_allclose(out["p_adjusted"], ref["pval"], rtol=0, atol=1e-6)
    assert (out["n_groups"] == 8).all() and (out["reason"] == "").all()


def test_games_howell_hand_worked():
    """a vs b: v = 1/3 and 0.25/3, se = sqrt(0.416667) = 0.645497, t = 1.5 / 0.645497 =
    2.323790, df = 0.416667^2 / ((1/3)^2 / 2 + (1/12)^2 / 2) = 2.941176; p = P(Q_{3, df} >
    sqrt(2) t). Hedges: pooled sd sqrt((2 + 0.5) / 4) = 0.790569, d = 1.897367,
    g = d (1 - 3 / (4 * 6 - 9)) = 1.517893."""
    out = games_howell(hand_cell(), wave="w1", characteristic="PS").iloc[0]
    assert out["se"] == pytest.approx(0.645497, abs=5e-7)
    assert out["t"] == pytest.approx(2.323790, abs=5e-7)
    assert out["df"] == pytest.approx(2.941176, abs=5e-7)
    assert out["hedges"] == pytest.approx(1.517893, abs=5e-7)
    expected = stats.studentized_range.sf(np.sqrt(2) * 1.5 / np.sqrt(5 / 12), 3, 50 / 17)
    assert out["p_adjusted"] == pytest.approx(expected, rel=1e-9)


def test_games_howell_small_groups_are_nan_with_a_reason(scores):
    wave, char = scores["wave_id"].iloc[0], scores["characteristic"].iloc[0]
    out = games_howell(scores, wave=wave, characteristic=char)
    solo = out[(out["A"] == "solo") | (out["B"] == "solo")]
    assert len(solo) == 13 and (solo["reason"] == "too_few_respondents").all()
    assert solo[["se", "t", "df", "p_adjusted", "hedges"]].isna().all().all()
    others = out[(out["A"] != "solo") & (out["B"] != "solo")]
    assert others["p_adjusted"].notna().all()
    assert (out["n_groups"] == 14).all()  # k counts every collaboration with a score


# --- Benjamini-Hochberg -----------------------------------------------------------------------


def test_benjamini_hochberg_hand_worked():
    """p.adjust(c(0.01, 0.04, 0.03, 0.2), "BH"): sorted .01, .03, .04, .2 -> 4p/i = .04,
    .06, .053333, .2 -> running min from the top: .04, .053333, .053333, .2."""
    np.testing.assert_allclose(
        benjamini_hochberg([0.01, 0.04, 0.03, 0.2]), [0.04, 0.16 / 3, 0.16 / 3, 0.2], rtol=1e-15
    )


@settings(max_examples=60, deadline=None)
@given(
    p=st.lists(
        st.one_of(st.floats(0, 1, allow_subnormal=False), st.sampled_from([0.0, 0.01, 0.05, 1.0])), min_size=1, max_size=40
    )
)
def test_benjamini_hochberg_matches_statsmodels(p):
    """statsmodels multipletests(method="fdr_bh"), to 1e-12 relative."""
    mine = benjamini_hochberg(p)
    theirs = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=0)
    order = np.argsort(p, kind="stable")
    assert (np.diff(mine[order]) >= -1e-15).all() and (mine >= np.asarray(p) - 1e-15).all()


def test_benjamini_hochberg_families_and_missing():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.2, 30)
    families = np.repeat(["w1", "w2", "w3"], 10)
    p[[4, 17]] = np.nan
    out = benjamini_hochberg(p, families=families)
    for f in ("w1", "w2", "w3"):
        mask = (families == f) & ~np.isnan(p)
        np.testing.assert_allclose(
            out[mask], multipletests(p[mask], method="fdr_bh")[1], rtol=1e-12
        )
    assert np.isnan(out[[4, 17]]).all()


def test_p_adjusted_is_bh_across_characteristics_within_a_wave(scores):
    for table in (welch_anova(scores), kruskal(scores)):
        for _, wave in table.groupby("wave_id"):
            assert len(wave) == 8
            np.testing.assert_allclose(
                wave["p_adjusted"], multipletests(wave["p_value"], method="fdr_bh")[1], rtol=1e-12
            )
    everything = welch_anova(scores, adjust_within=[])
    np.testing.assert_allclose(
        everything["p_adjusted"],
        multipletests(everything["p_value"], method="fdr_bh")[1],
        rtol=1e-12,
    )


# --- properties ------------------------------------------------------------------------------


@st.composite
def programme_scores(draw):
    """A wave with two characteristics, up to 6 collaborations, 1-5 scores in quarter steps."""
    n = draw(st.integers(8, 60))
    groups = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    values = draw(st.lists(st.integers(4, 20), min_size=n, max_size=n))
    chars = draw(st.lists(st.sampled_from(["PS", "TG"]), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "wave_id": "w1",
            "characteristic": chars,
            "collaboration_id": [f"c{g}" for g in groups],
            "score": np.array(values, float) / 4,
        }
    )


NUMBERS = ["n_groups", "n_used", "n_total", "p_value", "p_adjusted"]


@settings(max_examples=25, deadline=None)
@given(programme_scores(), st.permutations(range(6)), st.randoms(use_true_random=False))
def test_relabelling_and_reordering_change_nothing(data, perm, random):
    relabelled = data.assign(
        collaboration_id=data["collaboration_id"].map(
            {f"c{i}": f"renamed-{perm[i]}" for i in range(6)}
        )
    )
    order = list(range(len(data)))
    random.shuffle(order)
    shuffled = relabelled.iloc[order]
    for fn, extra in (
        (welch_anova, ["f", "df2", "omega2", "np2", "n_groups_used"]),
        (kruskal, ["h", "df", "epsilon2", "tie_correction"]),
    ):
        before = fn(data)
        after = fn(shuffled)
        pd.testing.assert_frame_equal(after[CELL + ["reason"]], before[CELL + ["reason"]])
        np.testing.assert_allclose(
            after[NUMBERS + extra].to_numpy(float),
            before[NUMBERS + extra].to_numpy(float),
            rtol=1e-9,
            atol=1e-12,
        )


@settings(max_examples=10, deadline=None)
@given(programme_scores(), st.permutations(range(6)))
def test_games_howell_relabelling_only_renames_pairs(data, perm):
    if "PS" not in set(data["characteristic"]):
        return
    mapping = {f"c{i}": f"renamed-{perm[i]}" for i in range(6)}
    before = games_howell(data, wave="w1", characteristic="PS")
    after = games_howell(
        data.assign(collaboration_id=data["collaboration_id"].map(mapping)),
        wave="w1",
        characteristic="PS",
    )
    before_keyed = {
        frozenset((mapping[a], mapping[b])): (abs(d), p)
        for a, b, d, p in before[["A", "B", "diff", "p_adjusted"]].itertuples(index=False)
    }
    assert len(after) == len(before)
    for a, b, d, p in after[["A", "B", "diff", "p_adjusted"]].itertuples(index=False):
        d0, p0 = before_keyed[frozenset((a, b))]
        assert abs(d) == pytest.approx(d0, rel=1e-12, abs=1e-12)
        assert p == pytest.approx(p0, rel=1e-9, abs=1e-12, nan_ok=True)


# --- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (lambda d: welch_anova(d, value="answer"), ["value", "'answer'"]),
        (lambda d: welch_anova(d, group="partner"), ["group", "'partner'"]),
        (lambda d: welch_anova(d, by="wave_id"), ["by", "sequence"]),
        (lambda d: welch_anova(d, by=["region"]), ["by", "'region'"]),
        (lambda d: welch_anova(d, by=["score"]), ["different columns"]),
        (
            lambda d: welch_anova(d, adjust_within=["collaboration_id"]),
            ["adjust_within", "subset of by"],
        ),
        (lambda d: kruskal(d.assign(score="x")), ["'score'", "numeric"]),
        (lambda d: kruskal(d.rename(columns={"wave_id": "h"}), by=["h"]), ["output column"]),
        (lambda d: welch_anova(d, adjust_within="wave_id"), ["adjust_within", "sequence"]),
        (lambda d: kruskal(list(d)), ["scores", "DataFrame"]),
        (lambda d: games_howell(d, wave="w9", characteristic="PS"), ["wave", "'w1'"]),
        (lambda d: games_howell(d, wave="w1", characteristic="XX"), ["characteristic", "'PS'"]),
        (lambda d: benjamini_hochberg([0.2, 1.5]), ["p_values", "[0, 1]"]),
        (lambda d: benjamini_hochberg([[0.2]]), ["p_values", "one-dimensional"]),
        (lambda d: benjamini_hochberg([0.2, 0.3], families=["a"]), ["families"]),
    ],
)
def test_bad_parameters_name_the_parameter(call, fragments):
    with pytest.raises(ParameterError) as info:
        call(hand_cell())
    for fragment in fragments:
        assert fragment in str(info.value)
