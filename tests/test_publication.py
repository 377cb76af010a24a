"""Tests of :mod:`collab_stats.publication` and of the disclosure rule in
:func:`~collab_stats.benchmarking.benchmark_programme` (issue 13).

* the between-collaboration tests use the shown collaborations only: the published Welch
  ANOVA and Kruskal-Wallis equal pingouin's and scipy's on the shown collaborations' raw
  scores (a second path), for a programme with collaborations of 1, 6 and 9 respondents;
* complementary suppression: one hidden collaboration in a wave takes the next smallest with
  it (pooled hidden count then at least the threshold), the same set in every table; two
  hidden collaborations of one peer group pooling fewer than the threshold take a third;
* no hidden row of any table carries a count, a figure or a reason code;
* :func:`publish_tables` refuses (``DisclosureError`` naming table, row and column) a shown
  row below the threshold, a row about a hidden cell, and a comparison total from which a
  hidden collaboration's count can be worked out - the attack of issue 13, replayed on tables
  built the old way;
* :func:`neutralise_formulas` (OWASP CSV injection): each dangerous first character, numbers
  unchanged, lists joined, column names.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pingouin
import pytest
from scipy import stats

from collab_stats import simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.comparison import kruskal, welch_anova
from collab_stats.disclosure import SECONDARY_REASON, primary_reason, suppress
from collab_stats.errors import CollabStatsError, DisclosureError, ParameterError
from collab_stats.publication import (
    FORMULA_PREFIXES,
    KEY_COLUMNS,
    check_publication,
    neutralise_cell,
    neutralise_formulas,
    publish_tables,
)
from collab_stats.schema import SurveyData
from collab_stats.scoring import score_responses
from collab_stats.summaries import characteristic_summaries

THRESHOLD = 10
CELL = ["wave_id", "collaboration_id", "characteristic"]
PLAIN = {primary_reason(THRESHOLD), SECONDARY_REASON}


def keep_respondents(data: SurveyData, sizes: dict[tuple[str, str], int]) -> SurveyData:
    """``data`` with only the first ``k`` respondents of each (wave, collaboration) named."""
    resp = data.respondents
    keep = np.ones(len(resp), dtype=bool)
    wave, collab = resp["wave_id"].astype(str).to_numpy(), resp["collaboration_id"].astype(str)
    for (w, c), k in sizes.items():
        rows = np.flatnonzero((wave == w) & (collab.to_numpy() == c))
        assert len(rows) >= k, f"{c} has only {len(rows)} respondents in {w}"
        keep[rows[k:]] = False
    kept = pd.MultiIndex.from_arrays([resp["wave_id"].astype(str)[keep],
                                      resp["respondent_id"].astype(str)[keep]])

    def rows_of(table: pd.DataFrame) -> pd.DataFrame:
        key = pd.MultiIndex.from_arrays([table["wave_id"].astype(str),
                                         table["respondent_id"].astype(str)])
        return table[key.isin(kept)].reset_index(drop=True)

    return SurveyData(resp[keep].reset_index(drop=True), rows_of(data.responses),
                      rows_of(data.selections), rows_of(data.comments))


def sizes_of(data: SurveyData) -> pd.Series:
    r = data.respondents
    return r.groupby([r["wave_id"].astype(str), r["collaboration_id"].astype(str)]).size()


def keys(frame: pd.DataFrame, columns=CELL) -> set:
    return set(zip(*(frame[c].astype(str) for c in columns), strict=True))


def hidden_keys(frame: pd.DataFrame, columns=CELL) -> set:
    return keys(frame[frame["suppressed"].astype(bool)], columns)


# --- programmes with small collaborations ----------------------------------------------------


@pytest.fixture(scope="module")
def base():
    # seed 3: eight collaborations of 12 to 79 respondents in one wave
    return simulate_programme(seed=3, n_collaborations=8, n_waves=1)


@pytest.fixture(scope="module")
def tiny(base):
    """Three collaborations cut to 1, 6 and 9 respondents."""
    order = sizes_of(base.data).sort_values(ascending=False).index
    small = dict(zip(order[:3], (1, 6, 9), strict=True))
    data = keep_respondents(base.data, small)
    bench = benchmark_programme(data, base.instrument, base.programme, min_peers=3,
                                trends=False)
    return data, bench, {c for _, c in small}


@pytest.fixture(scope="module")
def one_hidden():
    """Two waves; in the first, the largest collaboration cut to 5 respondents: the only one
    below the threshold."""
    sim = simulate_programme(seed=6, n_collaborations=8, n_waves=2)
    sizes = sizes_of(sim.data)
    assert sizes.min() >= 12
    first = sizes.loc["2025-03"].idxmax()
    data = keep_respondents(sim.data, {("2025-03", first): 5})
    bench = benchmark_programme(data, sim.instrument, sim.programme, min_peers=3, trends=False)
    return sim, data, bench, first


def _raw(data, sim) -> pd.DataFrame:
    return characteristic_summaries(score_responses(data, sim.instrument)).astype(
        dict.fromkeys(CELL, str))


def test_between_collaboration_tests_use_the_shown_collaborations_only(base, tiny):
    data, bench, small = tiny
    summaries = bench.summaries
    hidden = hidden_keys(summaries)
    assert {c for _, c, _ in hidden} == small  # the 1, 6 and 9 are hidden, nobody else
    scores = score_responses(data, base.instrument).astype(dict.fromkeys(CELL, str))
    scores = scores[scores["score"].notna()]
    comparison = bench.comparison.astype({"wave_id": str, "characteristic": str})
    assert len(comparison) == 8
    for row in comparison.itertuples(index=False):
        cell = scores[(scores["wave_id"] == row.wave_id)
                      & (scores["characteristic"] == row.characteristic)]
        shown = cell[[(row.wave_id, c, row.characteristic) not in hidden
                      for c in cell["collaboration_id"]]]
        # second path: pingouin (Welch) and scipy (Kruskal-Wallis) on the raw scores
        welch = pingouin.welch_anova(data=shown, dv="score", between="collaboration_id")
        assert row.f == pytest.approx(welch["F"].iloc[0], rel=1e-10)
        assert row.df2 == pytest.approx(welch["ddof2"].iloc[0], rel=1e-10)
        assert row.p_value_welch == pytest.approx(welch["p_unc"].iloc[0], rel=1e-8)
        assert row.np2 == pytest.approx(welch["np2"].iloc[0], rel=1e-10)
        groups = [g["score"].to_numpy() for _, g in shown.groupby("collaboration_id")]
        h, p = stats.kruskal(*groups)
        assert row.h == pytest.approx(h, rel=1e-10)
        assert row.p_value_kruskal == pytest.approx(p, rel=1e-8)
        assert row.n_used_kruskal == len(shown) and row.n_groups_kruskal == 5
        # ... and the hidden collaborations would have changed them
        everyone = [g["score"].to_numpy() for _, g in cell.groupby("collaboration_id")]
        assert len(everyone) == 8 and stats.kruskal(*everyone)[0] != pytest.approx(h, rel=1e-6)
    # the totals add up to the shown collaborations: nothing is left to subtract
    shown_n = summaries[~summaries["suppressed"]].groupby(
        ["wave_id", "characteristic"], observed=True)["n"].sum()
    merged = comparison.merge(shown_n.rename("shown").reset_index().astype(
        {"wave_id": str, "characteristic": str}), on=["wave_id", "characteristic"])
    assert (merged["n_used_kruskal"] == merged["shown"]).all()


def test_one_hidden_collaboration_takes_the_next_smallest_with_it(one_hidden):
    sim, data, bench, first = one_hidden
    raw = _raw(data, sim).set_index(CELL)
    summaries = bench.summaries.astype(dict.fromkeys(CELL, str))
    checked = 0
    for (wave, characteristic), cell in summaries.groupby(["wave_id", "characteristic"]):
        n = raw.loc[[(wave, c, characteristic) for c in cell["collaboration_id"]], "n"]
        n = n.to_numpy()
        hidden = cell["suppressed"].to_numpy()
        below = n < THRESHOLD
        if wave == "2025-03":
            assert below.sum() == 1 and cell["collaboration_id"].to_numpy()[below][0] == first
        if below.sum() == 1:
            checked += 1
            assert hidden.sum() == 2
            second = hidden & ~below
            assert n[second][0] == n[~below].min()  # the smallest shown one goes too
            reasons = cell["suppressed_reason"].to_numpy()
            assert reasons[second][0] == SECONDARY_REASON
            assert cell["count_band"].to_numpy()[second][0] == "suppressed"
        if hidden.any() and hidden.sum() < len(hidden):
            assert hidden.sum() >= 2 and n[hidden].sum() >= THRESHOLD
    assert checked == 8
    # wave 2 is untouched
    assert not summaries.loc[summaries["wave_id"] == "2025-09", "suppressed"].any()

    # The same hidden set in every table about those cells.
    hidden = hidden_keys(summaries)
    fav = bench.favourable
    assert hidden_keys(fav) == hidden
    assert not hidden & keys(bench.peers) and not hidden & keys(bench.profile)
    breakdowns = bench.breakdowns
    of_hidden = np.array([k in hidden for k in zip(*(breakdowns[c].astype(str) for c in CELL),
                                                   strict=True)])
    assert breakdowns.loc[of_hidden, "suppressed"].all()
    items = bench.items
    item_hidden = np.array([k in hidden for k in zip(*(items[c].astype(str) for c in CELL),
                                                     strict=True)])
    assert items.loc[item_hidden, "suppressed"].all()
    change = bench.change.astype({"collaboration_id": str, "characteristic": str})
    for row in change.itertuples(index=False):
        if (row.reference_wave_id, row.collaboration_id, row.characteristic) in hidden:
            assert row.suppressed
    # Response rates: the wave's total is published too; 5 respondents alone would be
    # derivable, so the smallest other collaboration goes with them - and its figures in
    # every wave-level table and every characteristic.
    rates = bench.response_rates
    wave1 = rates[rates["wave_id"] == "2025-03"]
    gone = set(wave1.loc[wave1["suppressed"], "collaboration_id"])
    sizes = sizes_of(data).loc["2025-03"]
    assert gone == {first, sizes.drop(first).idxmin()}
    assert sizes[list(gone)].sum() >= THRESHOLD
    for name in ("network", "value_modes", "main_mode", "declared_match"):
        assert hidden_keys(bench.tables()[name], ["wave_id", "collaboration_id"]) == {
            ("2025-03", c) for c in gone}, name
    assert {c for w, c, _ in hidden if w == "2025-03"} == gone


def test_two_hidden_collaborations_of_one_peer_group_pool_at_least_the_threshold(base):
    programme = base.programme
    place = [c.id for c in programme.collaborations if c.peer_group == "place-partnerships"]
    data = keep_respondents(base.data, {("2025-03", place[0]): 3, ("2025-03", place[1]): 4})
    bench = benchmark_programme(data, base.instrument, programme, min_peers=3, trends=False)
    raw = _raw(data, base).set_index(CELL)
    summaries = bench.summaries.astype(dict.fromkeys(CELL, str))
    for (_, characteristic), cell in summaries.groupby(["wave_id", "characteristic"]):
        hidden = cell[cell["suppressed"]]
        assert {place[0], place[1]} <= set(hidden["collaboration_id"])
        n = raw.loc[[("2025-03", c, characteristic) for c in hidden["collaboration_id"]], "n"]
        assert len(hidden) >= 3 and n.sum() >= THRESHOLD  # 3 + 4 < 10: a third one goes
    # the peer group's distribution counts exactly its shown collaborations
    peers = bench.peers[bench.peers["peer_set"] == "peer_group"].astype(
        dict.fromkeys(CELL, str))
    shown = summaries[~summaries["suppressed"]]
    group_of = {c.id: c.peer_group for c in programme.collaborations}
    for (_, characteristic), cell in peers[peers["peer_key"] == "place-partnerships"].groupby(
            ["wave_id", "characteristic"]):
        members = shown[(shown["characteristic"] == characteristic)
                        & (shown["collaboration_id"].map(group_of) == "place-partnerships")]
        assert set(cell["peer_n"]) == {len(members)}
        assert set(cell["collaboration_id"]) == set(members["collaboration_id"])
        # the median is the shown members' median (a second path)
        assert cell["peer_median"].iloc[0] == pytest.approx(members["mean"].median(), abs=1e-12)
    assert check_publication(bench.tables(), threshold=THRESHOLD).empty


@pytest.mark.parametrize("which", ["tiny", "one_hidden"])
def test_no_hidden_row_of_any_table_carries_a_count_a_figure_or_a_reason_code(
        request, which):
    bench = request.getfixturevalue(which)[-2 if which == "tiny" else 2]
    tables = bench.tables()
    assert check_publication(tables, threshold=THRESHOLD).empty
    n_hidden = 0
    for name, table in tables.items():
        if "suppressed" not in table.columns:
            continue
        hidden = table[table["suppressed"]]
        n_hidden += len(hidden)
        others = [c for c in table.columns if c not in KEY_COLUMNS]
        assert others, name
        filled = hidden[others].notna()
        assert not filled.any().any(), (name, list(filled.columns[filled.any()]))
        assert set(hidden["suppressed_reason"]) <= PLAIN, name
        assert set(hidden["count_band"]) <= {"<10", "suppressed"}, name
        shown = table[~table["suppressed"]]
        assert (shown["suppressed_reason"] == "").all() and shown["count_band"].isna().all()
    assert n_hidden > 50


# --- publish_tables / check_publication ------------------------------------------------------


def _summaries(n, hidden):
    t = pd.DataFrame({"wave_id": "w1", "collaboration_id": list("abcd")[:len(n)],
                      "characteristic": "PS", "n": n, "n_total": n,
                      "mean": np.linspace(3, 4, len(n))})
    out = suppress(t, threshold=THRESHOLD, values=["mean", "n_total"],
                   secondary=np.array(hidden))
    return out


def test_publish_refuses_a_shown_row_below_the_threshold():
    t = _summaries([25.0, 30.0, 40.0], [False, False, False])
    t.loc[1, "n"] = 7.0  # shown by mistake
    with pytest.raises(DisclosureError) as caught:
        publish_tables({"summaries": t}, threshold=THRESHOLD)
    e = caught.value
    assert (e.table, e.row, e.column, e.risk) == ("summaries", 1, "n", "shown_below_threshold")
    assert str(e).startswith("publication refused: table 'summaries', row 1 (wave w1, b, PS), "
                             "column n: shown with n = 7")
    assert isinstance(e, CollabStatsError)


def test_a_hidden_row_keeps_its_keys_only_and_a_row_about_a_hidden_cell_is_refused():
    t = _summaries([25.0, 30.0, 4.0, 6.0], [False, False, False, False])
    t["n_respondents"] = [25, 30, 4, 6]  # a second count, not blanked by suppress
    t["reason"] = ["", "", "one_score", ""]
    t.loc[3, "suppressed_reason"] = "fewer than 2 scores in the wave compared"
    risks = check_publication({"summaries": t}, threshold=THRESHOLD)
    leaks = risks[risks["risk"] == "value_on_hidden_row"]
    assert set(zip(leaks["row"], leaks["column"], strict=True)) == {
        (2, "n_respondents"), (3, "n_respondents"), (2, "reason"), (3, "reason")}
    assert set(risks.loc[risks["risk"] == "reason_not_plain", "row"]) == {3}
    before = t.copy()
    out = publish_tables({"summaries": t}, threshold=THRESHOLD)["summaries"]
    pd.testing.assert_frame_equal(t, before)  # the input is not changed
    assert out.loc[2:, ["n", "n_total", "mean", "n_respondents", "reason"]].isna().all().all()
    assert out["n_respondents"].tolist()[:2] == [25, 30]
    assert out["suppressed_reason"].tolist()[2:] == [primary_reason(10)] * 2
    assert out["count_band"].tolist()[2:] == ["<10", "<10"]

    # A derived table cannot be mended: a peer row for a hidden collaboration is refused.
    peers = pd.DataFrame({"wave_id": "w1", "collaboration_id": ["a", "c"],
                          "characteristic": "PS", "peer_set": "all", "peer_key": "all",
                          "n": [25, 4], "mean": [3.0, 3.5], "peer_n": 2})
    with pytest.raises(DisclosureError) as caught:
        publish_tables({"summaries": t, "peers": peers}, threshold=THRESHOLD)
    e = caught.value
    assert (e.table, e.row, e.column, e.risk) == ("peers", 1, "n", "row_of_hidden_cell")
    assert "row 1 (wave w1, c, PS, all, all), column n" in str(e)
    assert "other risk" in str(e)  # n = 4 is shown, too


def test_the_issue_13_attack_on_tables_built_the_old_way_is_refused(one_hidden):
    """Before: primary suppression only and the tests over every collaboration. The wave's
    n_used_kruskal minus the shown collaborations gave the hidden one's n exactly."""
    sim, data, bench, first = one_hidden
    scores = score_responses(data, sim.instrument)
    raw = characteristic_summaries(scores)
    old_summaries = suppress(raw, threshold=THRESHOLD, values=["mean", "sd", "n_total"])
    old_comparison = welch_anova(scores).merge(kruskal(scores), on=["wave_id", "characteristic"],
                                               suffixes=("_welch", "_kruskal"))
    tables = {"summaries": old_summaries, "comparison": old_comparison}
    risks = check_publication(tables, threshold=THRESHOLD)
    derived = risks[(risks["table"] == "comparison") & (risks["column"] == "n_used_kruskal")]
    assert len(derived) == 8 and set(derived["risk"]) == {"hidden_cell_derivable"}
    with pytest.raises(DisclosureError) as caught:
        publish_tables(tables, threshold=THRESHOLD)
    e = caught.value
    assert (e.table, e.column, e.risk) == ("comparison", "n_used_kruskal",
                                           "hidden_cell_derivable")
    row = old_comparison.iloc[e.row]
    true_n = raw[(raw["wave_id"] == row["wave_id"]) & (raw["characteristic"] == row[
        "characteristic"]) & (raw["collaboration_id"] == first)]["n"].item()
    assert f"gives {true_n:g} respondents" in str(e)
    assert f"table 'comparison', row {e.row} (wave {row['wave_id']}, {row['characteristic']})" \
        in str(e)
    # The library's own tables pass.
    assert check_publication(bench.tables(), threshold=THRESHOLD).empty


def test_a_pooled_or_included_hidden_remainder_in_a_comparison_is_a_risk():
    s = _summaries([25.0, 30.0, 4.0, 3.0], [False, False, False, False])
    for extra, risk in ((7, "hidden_cells_pooled_derivable"), (20, "hidden_cells_in_total")):
        c = pd.DataFrame({"wave_id": ["w1"], "characteristic": ["PS"],
                          "n_used_kruskal": [55 + extra]})
        risks = check_publication({"summaries": s, "comparison": c}, threshold=THRESHOLD)
        assert risks.loc[risks["table"] == "comparison", "risk"].tolist() == [risk]
    c = pd.DataFrame({"wave_id": ["w1"], "characteristic": ["PS"], "n_used_kruskal": [55]})
    assert check_publication({"summaries": s, "comparison": c}, threshold=THRESHOLD).empty


def test_check_publication_parameters():
    with pytest.raises(ParameterError, match="threshold"):
        check_publication({}, threshold=0)
    with pytest.raises(ParameterError, match="mapping"):
        publish_tables([pd.DataFrame()], threshold=10)
    assert list(check_publication({}, threshold=10).columns) == [
        "table", "row", "column", "risk", "message"]


# --- spreadsheet safety ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_every_dangerous_first_character_is_quoted(prefix):
    value = f"{prefix}HYPERLINK(\"http://evil.example\",\"x\")"
    assert neutralise_cell(value) == "'" + value
    frame = pd.DataFrame({"text": [value, "fine"]})
    assert neutralise_formulas(frame)["text"].tolist() == ["'" + value, "fine"]
    assert neutralise_cell("'" + value) == "'" + value  # applying twice changes nothing


def test_numbers_stay_numbers():
    frame = pd.DataFrame({"x": [-1.5, 2.0], "k": [-3, 4], "nullable": pd.array([-1, None],
                                                                                 dtype="Int64"),
                          "flag": [True, False], "text": ["-0.25", "+3"]})
    out = neutralise_formulas(frame)
    pd.testing.assert_frame_equal(out, frame)  # same dtypes, same values
    # a plain number written as text is data, not a formula (the documented choice)
    assert [neutralise_cell(v) for v in ("-0.25", "+3", "-1e-05", ".5")] == [
        "-0.25", "+3", "-1e-05", ".5"]
    assert [neutralise_cell(v) for v in ("-", "-inf", "-2+3", "+1 ")] == [
        "'-", "'-inf", "'-2+3", "'+1 "]
    assert neutralise_cell(-2) == -2 and neutralise_cell(None) is None


def test_lists_are_joined_and_column_names_neutralised():
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["a", None], "modes": [["@x", "y"], ("z",)],
                          "cat": pd.Categorical(["=a", "b"]), 3: [1, 2]})
    out = neutralise_formulas(frame)
    assert list(out.columns) == ["'=cmd|' /C calc'!A0", "modes", "cat", 3]
    assert out["modes"].tolist() == ["'@x; y", "z"]
    assert out.iloc[:, 0].tolist()[0] == "a" and pd.isna(out.iloc[1, 0])
    assert isinstance(out["cat"].dtype, pd.CategoricalDtype)
    assert out["cat"].tolist() == ["'=a", "b"]
    assert neutralise_cell({"b", "=a"}) == "'=a; b"
    assert list(frame.columns)[0].startswith("=")  # the input is not changed
    # what a spreadsheet would read from the CSV: no cell starts a formula
    text = neutralise_formulas(frame).to_csv(index=False)
    cells = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    for value in [*cells.columns, *cells.to_numpy().ravel()]:
        assert not str(value).startswith(("=", "+", "@", "\t", "\r")) and str(value) != "-"
    with pytest.raises(ParameterError, match="frame must be a DataFrame"):
        neutralise_formulas([1, 2])
