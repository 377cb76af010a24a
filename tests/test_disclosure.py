"""Tests of :mod:`collab_stats.disclosure`.

* hand-worked examples of primary and secondary suppression;
* property tests (hypothesis) over random breakdown tables: after suppression no cell below
  the threshold is shown, none can be worked out by subtracting the shown cells from the
  published total, suppressed figures are NaN (never 0) with a reason, and no row is dropped
  or changed apart from hiding. The safety check is made twice: with
  :func:`disclosure_risks`, and with a plain attacker written here from the original counts;
* :func:`disclosure_risks` finds the risks a plain attacker finds in unsafe tables;
* :func:`breakdown` on a simulated programme: shown cells equal summaries computed directly
  from the subgroup's scores, and the published table passes the check.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats import simulate_programme
from collab_stats.disclosure import (
    SECONDARY_REASON,
    breakdown,
    complementary_suppression,
    disclosure_risks,
    secondary_suppression,
    suppress,
)
from collab_stats.errors import ParameterError
from collab_stats.schema import respondent_rows
from collab_stats.scoring import score_responses
from collab_stats.summaries import characteristic_summaries

KEYS = ["wave_id", "collaboration_id", "characteristic"]


# --- primary suppression ---------------------------------------------------------------------


def test_suppress_hides_figures_and_count_below_the_threshold():
    t = pd.DataFrame({"sector": ["a", "b", "c", "d"], "n": [10, 9, 0, 25],
                      "mean": [3.0, 2.0, np.nan, 4.0], "n_total": [12, 9, 3, 25],
                      "band": pd.Categorical(["x", "y", None, "x"])})
    out = suppress(t, threshold=10, values=["mean", "n_total", "band"])
    assert len(out) == len(t) and out["sector"].tolist() == t["sector"].tolist()
    assert out["suppressed"].tolist() == [False, True, True, False]
    hidden = out["suppressed"]
    for column in ("n", "mean", "n_total", "band"):
        assert out.loc[hidden, column].isna().all()  # NaN, never 0
    assert out.loc[~hidden, "n"].tolist() == [10, 25]  # a count equal to the threshold is shown
    assert out.loc[~hidden, "mean"].tolist() == [3.0, 4.0]
    assert out["suppressed_reason"].tolist() == ["", "fewer than 10 responses",
                                                 "fewer than 10 responses", ""]
    assert out.loc[hidden, "count_band"].tolist() == ["<10", "<10"]
    assert out.loc[~hidden, "count_band"].isna().all()
    # the input is not modified, and a second pass changes nothing
    assert t["n"].tolist() == [10, 9, 0, 25]
    pd.testing.assert_frame_equal(suppress(out, threshold=10, values=["mean", "n_total", "band"]), out)


def test_suppress_treats_an_unknown_count_as_hidden():
    out = suppress(pd.DataFrame({"n": [np.nan, 12.0], "mean": [3.0, 4.0]}), values=["mean"])
    assert out["suppressed"].tolist() == [True, False]
    assert out["suppressed_reason"].iloc[0] == "number of responses not known"
    assert math.isnan(out["mean"].iloc[0])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threshold": 0}, "threshold must be in"),
    ({"threshold": 2.5}, "threshold must be a whole number"),
    ({"count": "size"}, "count must be one of"),
    ({"values": ["nope"]}, "values must be one of"),
    ({"values": "mean"}, "values must be a sequence"),
    ({"reason_column": "n"}, "reason_column must be a new column"),
])
def test_suppress_parameters(kwargs, match):
    t = pd.DataFrame({"n": [3], "mean": [1.0]})
    with pytest.raises(ParameterError, match=match):
        suppress(t, **{"values": ["mean"], **kwargs})


# --- secondary suppression: hand-worked ------------------------------------------------------


def _table(counts: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(g, f"{g}{i}", n) for g, ns in counts.items() for i, n in enumerate(ns)]
    t = pd.DataFrame(rows, columns=["g", "cell", "n"])
    t["mean"] = np.linspace(1, 5, len(t))
    return t


def test_one_hidden_cell_takes_the_next_smallest_with_it():
    out = secondary_suppression(_table({"a": [30, 4, 12, 15], "b": [30, 15, 12]}),
                                groups=["g"], values=["mean"])
    assert out["suppressed"].tolist() == [False, True, True, False, False, False, False]
    assert out["suppressed_reason"].tolist()[1:3] == ["fewer than 10 responses", SECONDARY_REASON]
    assert out["count_band"].tolist()[1:3] == ["<10", "suppressed"]


def test_hidden_cells_covering_too_few_respondents_take_another():
    # 3 + 4 = 7 < 10: the pair could be worked out together, so the smallest shown cell goes too
    out = secondary_suppression(_table({"a": [3, 4, 11, 40]}), groups=["g"], values=["mean"])
    assert out["suppressed"].tolist() == [True, True, True, False]
    assert out["suppressed_reason"].iloc[2] == SECONDARY_REASON


def test_ties_are_broken_by_table_order_and_nothing_hidden_needlessly():
    out = secondary_suppression(_table({"a": [5, 12, 12], "b": [12, 13]}), groups=["g"],
                                values=["mean"])
    assert out["suppressed"].tolist() == [True, True, False, False, False]


def test_respondents_outside_the_cells_count_in_the_remainder():
    t = _table({"a": [20, 15]})
    totals = pd.DataFrame({"g": ["a"], "n": [41]})  # 6 respondents in no cell
    out = secondary_suppression(t, groups=["g"], values=["mean"], totals=totals)
    # 6 < 10 could be worked out: hide the smaller cell, leaving 21 hidden; then exactly one
    # cell is hidden, so (conservatively) the other goes too
    assert out["suppressed"].tolist() == [True, True]
    with pytest.raises(ParameterError, match="totals are smaller than the sum"):
        secondary_suppression(t, groups=["g"], values=["mean"],
                              totals=pd.DataFrame({"g": ["a"], "n": [30]}))


def test_secondary_needs_the_table_before_suppression():
    t = suppress(_table({"a": [3, 20]}), values=["mean"])
    with pytest.raises(ParameterError, match="before suppression"):
        secondary_suppression(t, groups=["g"], values=["mean"])


# --- complementary suppression: collaborations within a published wave total -----------------


def _wave(counts: dict[str, list[int]]) -> pd.DataFrame:
    rows = [(w, f"c{i}", n) for w, ns in counts.items() for i, n in enumerate(ns)]
    return pd.DataFrame(rows, columns=["wave_id", "collaboration_id", "n"])


def test_complementary_suppression_hides_the_next_smallest_collaboration():
    t = _wave({"w1": [5, 30, 12, 40], "w2": [3, 4, 50, 20], "w3": [2, 9, 15], "w4": [20, 30]})
    out = complementary_suppression(t, by=["wave_id"], threshold=10)
    assert out.name == "secondary" and out.index.equals(t.index)
    # w1: 5 alone -> 12 goes too (17 hidden); w2: 3 + 4 = 7 < 10 -> 20 goes too (27);
    # w3: 2 + 9 = 11, two hidden: safe; w4: nothing hidden
    assert out.tolist() == [False, False, True, False,
                            False, False, False, True,
                            False, False, False,
                            False, False]
    t["mean"] = 3.0
    published = suppress(t, threshold=10, values=["mean"], secondary=out)
    assert published.loc[out, "suppressed_reason"].eq(SECONDARY_REASON).all()
    assert published.loc[out, "count_band"].eq("suppressed").all()
    assert published.loc[out, ["n", "mean"]].isna().all().all()
    totals = t.groupby("wave_id")["n"].sum().rename("n").reset_index()
    assert disclosure_risks(published, totals, groups=["wave_id"], threshold=10).empty


def test_complementary_suppression_respects_rows_hidden_elsewhere():
    t = _wave({"w1": [30, 12, 40, 25]})
    # a collaboration hidden in a linked table (30 respondents) stands alone: one more goes
    out = complementary_suppression(t, by=["wave_id"], threshold=10,
                                    hidden=np.array([True, False, False, False]))
    assert out.tolist() == [False, True, False, False]
    assert not complementary_suppression(t, by=["wave_id"], threshold=10).any()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threshold": 0}, "threshold must be in"),
    ({"count": "size"}, "count must be one of"),
    ({"by": ["region"]}, "by must be one of"),
    ({"by": []}, "by must name at least one column"),
    ({"hidden": [True]}, "hidden must be one bool per row"),
])
def test_complementary_suppression_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        complementary_suppression(_wave({"w1": [3, 20]}), **{"by": ["wave_id"], **kwargs})


def test_suppress_secondary_flags_keep_the_primary_reason_below_the_threshold():
    t = pd.DataFrame({"n": [4, 30, 25], "mean": [1.0, 2.0, 3.0]})
    out = suppress(t, values=["mean"], secondary=np.array([True, True, False]))
    assert out["suppressed"].tolist() == [True, True, False]
    assert out["suppressed_reason"].tolist() == ["fewer than 10 responses", SECONDARY_REASON, ""]
    # on an already suppressed table: more rows hidden, earlier reasons kept
    again = suppress(out, values=["mean"], secondary=np.array([False, False, True]))
    assert again["suppressed"].all() and again["suppressed_reason"].tolist()[:2] == (
        out["suppressed_reason"].tolist()[:2])
    assert again.loc[2, ["n", "mean"]].isna().all()
    with pytest.raises(ParameterError, match="secondary must be one bool per row"):
        suppress(t, values=["mean"], secondary=[1, 0, 1])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_complementary_suppression_leaves_no_hidden_collaboration_derivable(data):
    n_waves = data.draw(st.integers(1, 4))
    count = st.one_of(st.integers(0, 12), st.integers(0, 60))
    counts = {f"w{w}": data.draw(st.lists(count, min_size=1, max_size=8)) for w in range(n_waves)}
    t = _wave(counts)
    threshold = data.draw(st.integers(1, 15))
    elsewhere = np.array(data.draw(st.lists(st.booleans(), min_size=len(t), max_size=len(t))))
    elsewhere &= data.draw(st.booleans())  # often nothing hidden elsewhere
    out = complementary_suppression(t, by=["wave_id"], threshold=threshold,
                                    hidden=elsewhere).to_numpy()
    n = t["n"].to_numpy(dtype=float)
    before = elsewhere | (n < threshold)
    assert not (out & before).any()  # only rows shown so far are added
    hidden = before | out
    for wave, rows in t.groupby("wave_id").indices.items():
        k, m = hidden[rows].sum(), (~hidden[rows]).sum()
        pooled = n[rows][hidden[rows]].sum()
        if m:  # something shown: the total minus the shown gives nothing about one or few
            assert k != 1
            assert pooled == 0 or pooled >= threshold
        k0, pooled0 = before[rows].sum(), n[rows][before[rows]].sum()
        if k0 != 1 and (pooled0 == 0 or pooled0 >= threshold):
            assert not out[rows].any(), wave  # a safe wave loses nothing
        if out[rows].any():  # each added row was no larger than any row left shown
            assert n[rows][out[rows]].max() <= n[rows][~hidden[rows]].min(initial=np.inf)


# --- property tests --------------------------------------------------------------------------


@st.composite
def breakdown_tables(draw):
    """A random breakdown: 1-6 groups of 1-8 cells with counts 0-40 (small counts common)."""
    n_groups = draw(st.integers(1, 6))
    count = st.one_of(st.integers(0, 12), st.integers(0, 40))
    groups = [draw(st.lists(count, min_size=1, max_size=8)) for _ in range(n_groups)]
    threshold = draw(st.integers(1, 15))
    rows = [(f"g{g}", f"c{i}", n) for g, ns in enumerate(groups) for i, n in enumerate(ns)]
    table = pd.DataFrame(rows, columns=["group", "cell", "n"])
    table["mean"] = draw(st.lists(st.floats(1, 5), min_size=len(table), max_size=len(table)))
    table["n_total"] = table["n"] + draw(st.lists(st.integers(0, 3), min_size=len(table),
                                                  max_size=len(table)))
    extra = draw(st.lists(st.integers(0, 12), min_size=n_groups, max_size=n_groups))
    return table, threshold, extra


def _attacker(original: pd.DataFrame, published: pd.DataFrame, totals: pd.DataFrame,
              threshold: int) -> list[str]:
    """What a reader can learn, worked out plainly, group by group, with the true counts."""
    problems = []
    shown_total = dict(zip(totals["group"], totals["n"], strict=True))
    for group, cells in original.groupby("group"):
        pub = published.loc[cells.index]
        shown = pub["n"].notna()
        for i in cells.index[shown.to_numpy()]:
            if original.at[i, "n"] < threshold:
                problems.append(f"{group}: cell {i} shown with {original.at[i, 'n']}")
        total = shown_total.get(group, np.nan)
        if not np.isnan(total):
            remainder = total - pub.loc[shown, "n"].sum()
            if 0 < remainder < threshold:
                problems.append(f"{group}: {remainder} hidden respondents can be worked out")
    return problems


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(breakdown_tables(), st.booleans())
def test_nothing_below_the_threshold_is_shown_or_derivable(case, outside):
    table, threshold, extra = case
    cell_sums = table.groupby("group")["n"].sum()
    total_n = cell_sums + (np.array(extra) if outside else 0)
    raw_totals = total_n.rename("n").reset_index()
    # the totals are published figures too: they go through primary suppression
    totals = suppress(raw_totals, threshold=threshold, values=[])[["group", "n"]]
    out = secondary_suppression(table, threshold=threshold, groups=["group"],
                                values=["mean", "n_total"],
                                totals=raw_totals if outside else None)

    # nothing dropped, reordered or changed apart from hiding
    assert len(out) == len(table)
    pd.testing.assert_frame_equal(out[["group", "cell"]], table[["group", "cell"]])
    shown = ~out["suppressed"].to_numpy()
    np.testing.assert_array_equal(out.loc[shown, "n"], table.loc[shown, "n"])
    np.testing.assert_array_equal(out.loc[shown, "mean"], table.loc[shown, "mean"])
    # hidden figures are NaN (never 0), with a reason
    hidden = ~shown
    assert out.loc[hidden, ["n", "mean", "n_total"]].isna().all().all()
    assert out.loc[shown, ["n", "mean", "n_total"]].notna().all().all()
    assert (out.loc[hidden, "suppressed_reason"] != "").all()
    assert (out.loc[shown, "suppressed_reason"] == "").all()
    below = table["n"].to_numpy() < threshold
    assert hidden[below].all()  # primary
    assert (out.loc[below, "suppressed_reason"] == f"fewer than {threshold} responses").all()
    assert (out.loc[hidden & ~below, "suppressed_reason"] == SECONDARY_REASON).all()

    # safe, by the library's check and by a plain attacker
    risks = disclosure_risks(out, totals, groups=["group"], threshold=threshold,
                             values=["mean", "n_total"])
    assert risks.empty, risks
    assert _attacker(table, out, totals, threshold) == []
    # in every group where something is shown: never exactly one hidden cell, and the hidden
    # respondents (hidden cells plus any outside the cells) are none or at least `threshold`
    for group, cells in out.groupby("group"):
        k = int(cells["suppressed"].sum())
        hidden_n = table.loc[cells.index[cells["suppressed"].to_numpy()], "n"].sum()
        remainder = hidden_n + (extra[int(group[1:])] if outside else 0)
        if k < len(cells):
            assert k != 1
            assert remainder == 0 or remainder >= threshold


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(breakdown_tables())
def test_disclosure_risks_finds_what_a_plain_attacker_finds(case):
    """On tables with primary suppression only (often unsafe), the check flags a group exactly
    when the plain attacker learns something there."""
    table, threshold, _ = case
    published = suppress(table, threshold=threshold, values=["mean"])
    totals = table.groupby("group")["n"].sum().rename("n").reset_index()
    risks = disclosure_risks(published, totals, groups=["group"], threshold=threshold)
    attacked = {p.split(":")[0] for p in _attacker(table, published, totals, threshold)}
    flagged = set(risks.loc[risks["risk"] != "total_below_threshold", "group"])
    assert flagged == attacked
    assert set(risks.loc[risks["risk"] == "total_below_threshold", "group"]) == set(
        totals.loc[totals["n"] < threshold, "group"])


def test_disclosure_risks_names_each_kind_of_risk():
    t = pd.DataFrame({"g": ["a", "a", "b", "b", "b", "c", "c", "d"],
                      "n": [30, np.nan, 5, 20, 20, np.nan, np.nan, np.nan],
                      "mean": [3.0, 2.0, 1.0, 2.0, 3.0, np.nan, np.nan, np.nan]})
    totals = pd.DataFrame({"g": ["a", "b", "c", "d"], "n": [34, 45, 6, np.nan]})
    risks = disclosure_risks(t, totals, groups=["g"], threshold=10, values=["mean"])
    got = {(r.g, r.row, r.risk) for r in risks.itertuples()}
    assert got == {
        ("a", 1, "hidden_cell_derivable"),           # 34 - 30 = 4
        ("a", 1, "value_shown_with_hidden_count"),
        ("b", 2, "shown_below_threshold"),
        ("c", -1, "total_below_threshold"),
        ("c", -1, "hidden_cells_pooled_derivable"),  # 6 respondents in two hidden cells
    }
    assert risks.loc[risks["risk"] == "hidden_cell_derivable", "count"].item() == 4
    remainder = pd.DataFrame({"g": ["a", "a"], "n": [30.0, 20.0]})
    risks = disclosure_risks(remainder, pd.DataFrame({"g": ["a"], "n": [55]}), groups=["g"])
    assert risks["risk"].tolist() == ["remainder_derivable"]
    assert disclosure_risks(remainder, None, groups=["g"]).empty


# --- breakdown on a simulated programme ------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=42, n_collaborations=10, n_waves=2)


@pytest.fixture(scope="module")
def scores(sim):
    return score_responses(sim.data, sim.instrument)


@pytest.mark.parametrize("by", ["sector", "role"])
def test_breakdown_is_safe_and_shown_cells_are_the_subgroup_summaries(sim, scores, by):
    resp = sim.data.respondents
    table = breakdown(scores, resp, by=by, threshold=sim.programme.disclosure_threshold)
    # one row per wave x collaboration x characteristic x subgroup present, nothing dropped
    sub = resp[by].astype(object).fillna("not_given").to_numpy()[respondent_rows(scores, resp)]
    frame = scores.astype(dict.fromkeys(KEYS, str)).assign(**{by: sub})
    sizes = frame.groupby([*KEYS, by]).size()
    assert len(table) == len(sizes)
    assert table["suppressed"].any() and (~table["suppressed"]).any()

    # shown cells: the same as summarising the subgroup's scores directly
    shown = table[~table["suppressed"]].astype(dict.fromkeys(KEYS, str))
    direct = characteristic_summaries(frame, by=[*KEYS, by])
    merged = shown.merge(direct.astype(dict.fromkeys(KEYS, str)), on=[*KEYS, by],
                         suffixes=("", "_direct"))
    assert len(merged) == len(shown)
    for column in ("n", "n_total", "mean", "sd", "ci_low", "ci_high"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_direct"], rtol=1e-12)

    # safe against the collaboration-level table, itself suppressed as published
    published = suppress(characteristic_summaries(scores), threshold=10,
                         values=["mean", "sd", "se", "ci_low", "ci_high"])
    value_columns = [c for c in table.columns if c not in (*KEYS, by, "n", "suppressed",
                                                           "suppressed_reason", "count_band")]
    risks = disclosure_risks(table, published[[*KEYS, "n"]], groups=KEYS, threshold=10,
                             values=value_columns)
    assert risks.empty, risks
    # every figure of a hidden cell is missing, including n_total, n_eff and the row reason
    assert table.loc[table["suppressed"], value_columns].isna().all().all()


def test_breakdown_cells_add_up_to_the_collaboration_counts(sim, scores):
    """Respondents with no sector form a "not_given" cell, so the cells of a group add up to
    the collaboration's counts. With threshold 1 only cells with no score at all (n = 0) and
    their secondary partners are hidden; every group without a hidden cell adds up exactly."""
    resp = sim.data.respondents.copy()
    resp.loc[resp.index[::7], "sector"] = None
    table = breakdown(scores, resp, by="sector", threshold=1)
    assert (table["sector"] == "not_given").any()
    assert table.loc[table["suppressed_reason"] == "fewer than 1 responses", "n"].isna().all()
    whole = table.astype(dict.fromkeys(KEYS, str)).groupby(KEYS)["suppressed"].sum() == 0
    assert whole.mean() > 0.9
    sums = table.astype(dict.fromkeys(KEYS, str)).groupby(KEYS)[["n", "n_total"]].sum()[whole]
    total = characteristic_summaries(scores).astype(dict.fromkeys(KEYS, str)).set_index(KEYS)
    assert (sums["n"] == total.loc[sums.index, "n"]).all()
    assert (sums["n_total"] == total.loc[sums.index, "n_total"]).all()


def test_breakdown_with_partner_balanced_weights(sim, scores):
    table = breakdown(scores, sim.data.respondents, by="sector", threshold=10,
                      weights="partner_balanced")
    shown = table[~table["suppressed"]]
    assert (shown["deff"] >= 1 - 1e-12).all() and (shown["n_eff"] <= shown["n"] + 1e-9).all()


def test_breakdown_parameters(sim, scores):
    with pytest.raises(ParameterError, match="by must be one of 'sector', 'role'"):
        breakdown(scores, sim.data.respondents, by="partner_id", threshold=10)
    with pytest.raises(ParameterError, match="weights must be one of"):
        breakdown(scores, sim.data.respondents, by="sector", threshold=10, weights="equal")
