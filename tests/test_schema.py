"""Tests of the canonical survey data schema (:mod:`collab_stats.schema`): the wide form and
back, validation that reports every problem at once, and construction errors.

Expected values here are worked out by hand from the instrument (scale 1-5, missing codes -1
"don't know" and -2 "not applicable") or are the input itself (round trips); the property test
checks that the two code paths, wide -> tidy and tidy -> wide, are inverse to each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from collab_stats import (
    DataSchemaError,
    from_wide,
    load_instrument_family,
    make_survey_data,
    simulate_programme,
    to_wide,
    validate_survey_data,
)
from collab_stats.schema import RESPONDENT_COLUMNS, SurveyData

FAMILY = load_instrument_family()
ALL_ITEMS = list(dict.fromkeys(i for v in FAMILY.versions for i in v.item_ids))
ID_COLUMNS = ["wave_id", "collaboration_id", "respondent_id", "item_id", "instrument_version",
              "partner_id", "sector", "role", "main_value_mode", "question_id", "option_id"]


@pytest.fixture(scope="module")
def sim():
    """Six collaborations, two waves: the first on version 1.0, the second on 2.0 (about
    200 respondents; the seed gives partial responses with blanks before the last answer)."""
    return simulate_programme(seed=43, n_collaborations=6, n_waves=2)


def _canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Categorical id columns as strings, rows sorted by their key (for exact comparison)."""
    ids = {c: str for c in ID_COLUMNS if c in frame.columns}
    return frame.astype(ids).sort_values(keys).reset_index(drop=True)


# --- wide form -------------------------------------------------------------------------------


def test_round_trip_through_the_wide_form_is_exact(sim):
    wide = to_wide(sim.data, encode_missing=sim.instrument.latest)
    back = from_wide(wide, sim.instrument, selections=sim.data.selections,
                     comments=sim.data.comments)
    respondent_key = ["wave_id", "respondent_id"]
    assert_frame_equal(_canonical(back.respondents, respondent_key),
                       _canonical(sim.data.respondents, respondent_key))
    response_key = ["wave_id", "respondent_id", "item_id"]
    assert_frame_equal(_canonical(back.responses, response_key),
                       _canonical(sim.data.responses, response_key))
    # The data exercise every path: all four missing reasons, both versions, and blanks
    # before the last answer of a partial response (skipped, not "not reached").
    reasons = sim.data.responses["missing_reason"]
    assert set(reasons.dropna().astype(str)) == {
        "dont_know", "not_applicable", "skipped", "not_reached"}
    partial = sim.data.responses.merge(sim.data.respondents, on=["wave_id", "respondent_id"])
    partial = partial[~partial["completed"]]["missing_reason"]
    assert (partial == "skipped").any() and (partial == "not_reached").any()
    assert set(back.respondents["instrument_version"].astype(str)) == {"1.0", "2.0"}
    for name in ("selections", "comments"):
        assert_frame_equal(getattr(back, name), getattr(sim.data, name).reset_index(drop=True))
    validate_survey_data(back, sim.instrument, programme=sim.programme)


def _wide_against_tidy(sim, wide: pd.DataFrame) -> pd.DataFrame:
    """Each tidy response next to its cell in the wide table (``code``)."""
    long = wide.melt(id_vars=["wave_id", "respondent_id"],
                     value_vars=[c for c in ALL_ITEMS if c in wide.columns],
                     var_name="item_id", value_name="code")
    long = long.astype({"wave_id": str, "respondent_id": str})
    answers = sim.data.responses.astype({"wave_id": str, "respondent_id": str, "item_id": str})
    return answers.merge(long, on=["wave_id", "respondent_id", "item_id"], how="left",
                         validate="one_to_one")


def test_to_wide_writes_missing_answers_as_na_or_as_codes(sim):
    plain = _wide_against_tidy(sim, to_wide(sim.data))
    coded = _wide_against_tidy(sim, to_wide(sim.data, encode_missing=sim.instrument.latest))
    reason = plain["missing_reason"].astype(object)
    answered = reason.isna()
    assert (plain.loc[answered, "code"] == plain.loc[answered, "value"]).all()
    assert (coded.loc[answered, "code"] == coded.loc[answered, "value"]).all()
    for name, code in (("dont_know", -1), ("not_applicable", -2)):
        rows = reason == name
        assert rows.sum() > 0
        assert plain.loc[rows, "code"].isna().all(), name
        assert (coded.loc[rows, "code"] == code).all(), name
    for name in ("skipped", "not_reached"):  # no code on the platform: blank either way
        rows = reason == name
        assert rows.sum() > 0
        assert plain.loc[rows, "code"].isna().all() and coded.loc[rows, "code"].isna().all()


def test_to_wide_leaves_items_of_the_other_version_na(sim):
    wide = to_wide(sim.data, encode_missing=sim.instrument.latest)
    assert list(wide.columns[: len(RESPONDENT_COLUMNS)]) == list(RESPONDENT_COLUMNS)
    assert set(wide.columns[len(RESPONDENT_COLUMNS):]) == set(ALL_ITEMS)
    assert all(str(wide[i].dtype) == "Int8" for i in ALL_ITEMS)
    v1, v2 = (set(v.item_ids) for v in sim.instrument.versions)
    version = wide["instrument_version"].astype(str)
    for mine, other in (("1.0", v2 - v1), ("2.0", v1 - v2)):
        assert other  # TG06, MI03A, MI03B only in 2.0; CC02, MI03 only in 1.0
        rows = version == mine
        assert rows.sum() > 0
        assert wide.loc[rows, sorted(other)].isna().all().all(), mine
    # Restricting the items keeps their order.
    assert list(to_wide(sim.data, items=["SC01", "PS01"]).columns[-2:]) == ["SC01", "PS01"]


def _wide(codes: list[list[float | None]], completed: list[bool],
          versions: list[str] | None = None) -> pd.DataFrame:
    """A hand-made wide table: one row per respondent (version 1.0 unless ``versions`` says
    otherwise), codes for that version's items in order (a short row is padded with NA), the
    other version's items NA."""
    n = len(codes)
    versions = versions or ["1.0"] * n
    table = pd.DataFrame({
        "wave_id": ["2025-03"] * n, "collaboration_id": ["c1"] * n,
        "respondent_id": [f"r{k}" for k in range(n)], "instrument_version": versions,
        "partner_id": None, "sector": None, "role": None, "months_involved": None,
        "main_value_mode": None, "completed": completed,
        "submitted_at": pd.Timestamp("2025-03-10", tz="UTC"),
    })
    grid = pd.DataFrame(np.nan, index=range(n), columns=ALL_ITEMS)
    for k, row in enumerate(codes):
        items = FAMILY.version(versions[k]).item_ids
        grid.loc[k, list(items[: len(row)])] = [np.nan if c is None else c for c in row]
    return pd.concat([table, grid.astype("Float64")], axis=1)


def _reasons(data: SurveyData, respondent: str) -> list[str | None]:
    rows = data.responses[data.responses["respondent_id"] == respondent]
    return [None if pd.isna(r) else str(r) for r in rows["missing_reason"]]


def test_from_wide_tells_skipped_from_not_reached():
    # Last answer: "don't know" (a chosen answer) in position 4.
    codes = [4, None, 3, -1]
    data = from_wide(_wide([codes, codes, []], completed=[False, True, False]), FAMILY)
    n = len(FAMILY.version("1.0").items)
    incomplete = _reasons(data, "r0")
    assert incomplete[:4] == [None, "skipped", None, "dont_know"]
    assert incomplete[4:] == ["not_reached"] * (n - 4)
    complete = _reasons(data, "r1")
    assert complete[:4] == incomplete[:4] and complete[4:] == ["skipped"] * (n - 4)
    assert _reasons(data, "r2") == ["not_reached"] * n  # stopped before the first item
    values = data.responses.loc[data.responses["respondent_id"] == "r0", "value"]
    assert values.iloc[:4].tolist() == [4, pd.NA, 3, pd.NA]
    validate_survey_data(data, FAMILY)


@pytest.mark.parametrize("bad", [7, 0, -3, 2.5])
def test_from_wide_rejects_codes_off_the_scale_naming_row_and_column(bad):
    wide = _wide([[4, 4, 4], [4, 4, bad]], completed=[True, True])
    with pytest.raises(DataSchemaError) as err:
        from_wide(wide, FAMILY)
    (problem,) = err.value.problems
    assert "row 1" in problem.where and "PS03" in problem.where
    assert f"{bad:g}" in problem.message and "1-5" in problem.message


@pytest.mark.parametrize(("table", "column"), [("respondents", "completed"),
                                               ("responses", "value"),
                                               ("responses", "missing_reason")])
def test_make_survey_data_names_a_missing_column(sim, table, column):
    tables = {"respondents": sim.data.respondents, "responses": sim.data.responses}
    tables[table] = tables[table].drop(columns=column)
    with pytest.raises(DataSchemaError) as err:
        make_survey_data(**tables)
    assert [p.where for p in err.value.problems] == [column]
    assert table in str(err.value) and column in str(err.value)


def test_make_survey_data_casts_to_the_schema_types(sim):
    plain = {name: getattr(sim.data, name).astype(object)
             for name in ("respondents", "responses", "selections", "comments")}
    plain["respondents"]["submitted_at"] = sim.data.respondents["submitted_at"]
    plain["respondents"]["extra"] = "dropped"
    data = make_survey_data(**plain)
    for name in plain:
        built, original = getattr(data, name), getattr(sim.data, name)
        assert list(built.dtypes) == list(original.dtypes), name
        assert_frame_equal(built.astype(str), original.reset_index(drop=True).astype(str))


# --- validation ------------------------------------------------------------------------------


def _corrupt(sim, which: set[str]) -> tuple[SurveyData, list[tuple[str, str]]]:
    """Copies of the simulated tables with the named faults, and the (where, message part)
    of the problem each fault must produce. Faults touch different respondents."""
    resp = sim.data.respondents.copy()
    ans = sim.data.responses.copy()
    done = resp.loc[resp["completed"], ["wave_id", "respondent_id"]].astype(str)
    people = list(done.itertuples(index=False, name=None))

    def answered_row(k: int) -> int:
        """A row with a value, of the k-th completed respondent."""
        w, r = people[k]
        rows = ans.index[(ans["wave_id"] == w) & (ans["respondent_id"] == r) & ans["value"].notna()]
        return rows[0]

    expected = []
    if "out_of_range" in which:
        ans.loc[answered_row(0), "value"] = 7
        expected.append(("responses.value", "outside 1-5, e.g. 7"))
    if "value_and_reason" in which:
        ans.loc[answered_row(1), "missing_reason"] = "dont_know"
        expected.append(("responses", "1 rows have both a value and a missing reason"))
    if "duplicate_respondent" in which:
        resp = pd.concat([resp, resp.iloc[[5]]], ignore_index=True)
        expected.append(("respondents", "1 duplicate (wave_id, respondent_id) rows"))
    if "missing_item_row" in which:
        ans = ans.drop(index=answered_row(2))
        expected.append(("responses", "do not have exactly one row per item"))
    if "unknown_item" in which:
        ans["item_id"] = ans["item_id"].cat.add_categories(["XX99"])
        ans.loc[answered_row(3), "item_id"] = "XX99"
        expected.append(("responses.item_id", "unknown items ['XX99']"))
    if "wrong_dtype" in which:
        resp["months_involved"] = resp["months_involved"].astype("float64")
        expected.append(("respondents.months_involved", "has dtype float64, expected Int16"))
    if "not_reached_on_completed" in which:
        row = answered_row(4)
        ans.loc[row, "value"] = pd.NA
        ans.loc[row, "missing_reason"] = "not_reached"
        expected.append(("responses.missing_reason", "1 rows mark 'not_reached'"))
    if "unknown_collaboration" in which:
        resp["collaboration_id"] = resp["collaboration_id"].cat.add_categories(["nowhere"])
        resp.loc[resp.index[6], "collaboration_id"] = "nowhere"
        expected.append(("respondents.collaboration_id", "not in the programme: ['nowhere']"))
    data = SurveyData(resp, ans.reset_index(drop=True), sim.data.selections, sim.data.comments)
    return data, expected


FAULTS = ["out_of_range", "value_and_reason", "duplicate_respondent", "missing_item_row",
          "unknown_item", "wrong_dtype", "not_reached_on_completed", "unknown_collaboration"]


def _assert_reported(error: DataSchemaError, expected: list[tuple[str, str]]) -> None:
    for where, part in expected:
        assert any(p.where == where and part in p.message for p in error.problems), (
            f"no problem at {where!r} mentioning {part!r} in:\n{error}")


def test_clean_data_validates(sim):
    # validate_survey_data raises DataSchemaError listing every problem; it returns None.
    assert validate_survey_data(sim.data, sim.instrument, programme=sim.programme) is None


@pytest.mark.parametrize("fault", FAULTS)
def test_validation_catches_each_fault(sim, fault):
    data, expected = _corrupt(sim, {fault})
    with pytest.raises(DataSchemaError) as err:
        validate_survey_data(data, sim.instrument, programme=sim.programme)
    _assert_reported(err.value, expected)


def test_validation_reports_every_fault_together(sim):
    data, expected = _corrupt(sim, set(FAULTS))
    with pytest.raises(DataSchemaError) as err:
        validate_survey_data(data, sim.instrument, programme=sim.programme)
    assert len(expected) == len(FAULTS)
    _assert_reported(err.value, expected)
    assert str(err.value).startswith("survey data: ")


def test_validation_stops_early_when_a_checked_column_has_the_wrong_type(sim):
    """A mistyped column that later checks read is reported on its own (those checks cannot
    run), not as a crash."""
    ans = sim.data.responses.copy()
    ans["value"] = ans["value"].astype("float64")
    data = SurveyData(sim.data.respondents, ans, sim.data.selections, sim.data.comments)
    with pytest.raises(DataSchemaError) as err:
        validate_survey_data(data, sim.instrument)
    assert [p.where for p in err.value.problems] == ["responses.value"]


# --- property: the two code paths are inverse --------------------------------------------------

CODES = st.sampled_from([1, 2, 3, 4, 5, -1, -2, None])


@st.composite
def wide_tables(draw):
    """Small wide tables: respondents on either version, random completion and codes."""
    n = draw(st.integers(min_value=0, max_value=6))
    versions = draw(st.lists(st.sampled_from(FAMILY.version_ids), min_size=n, max_size=n))
    codes = [draw(st.lists(CODES, min_size=k, max_size=k))
             for k in (len(FAMILY.version(v).items) for v in versions)]
    completed = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return _wide(codes, completed, versions)


# No deadline and no too-slow health check: the suite makes no timing assertions.
@hypothesis_settings(deadline=None, max_examples=75, suppress_health_check=[HealthCheck.too_slow])
@given(wide=wide_tables())
def test_from_wide_then_to_wide_returns_the_same_codes(wide):
    tidy = from_wide(wide, FAMILY)
    # from_wide's "not reached" agrees with validate_survey_data's own reckoning of it.
    validate_survey_data(tidy, FAMILY)
    back = to_wide(tidy, items=ALL_ITEMS, encode_missing=FAMILY.latest)
    assert len(back) == len(wide)
    assert_frame_equal(back[ALL_ITEMS], wide[ALL_ITEMS].astype("Int8"))
    assert list(back["respondent_id"].astype(str)) == list(wide["respondent_id"])
