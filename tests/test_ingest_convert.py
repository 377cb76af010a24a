"""Converting exports to canonical data (:mod:`collab_stats.ingest.convert`) and keyed
pseudonyms (:mod:`collab_stats.ingest.pseudonym`).

Exports are built by hand as :class:`RawExport` objects (the readers' output). Expected codes
come from the version 1.0 scale (1 strongly disagree ... 5 strongly agree; -1 don't know, -2 not
applicable) and the example programme in ``tests/data``; every result is also checked with
:func:`validate_survey_data`, and the invariant rows read = accepted + quarantined is asserted
in every test, including on hypothesis-generated garbage.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats import load_instrument_family, load_programme, validate_survey_data
from collab_stats.errors import CollabStatsError, ParameterError
from collab_stats.ingest.convert import QUARANTINE_REASONS, ConvertResult, convert_export
from collab_stats.ingest.mapping import MappingError, parse_mapping
from collab_stats.ingest.pseudonym import (
    SecretError,
    create_secret,
    load_secret,
    pseudonymise,
)
from collab_stats.ingest.raw import RawColumn, RawExport
from collab_stats.schema import RESPONDENT_COLUMNS

FAMILY = load_instrument_family()
V1 = FAMILY.version("1.0")
ITEMS = V1.item_ids
PROGRAMME = load_programme(Path(__file__).parent / "data" / "programme-example.yaml",
                           instrument=FAMILY)
WAVE = "2025-spring"
SECRET = bytes(range(32))
COLLAB = "North Devon Care Alliance"
PARTNER = "Devon County Council"

META = [
    RawColumn("ResponseId", "ResponseId", role="respondent_id"),
    RawColumn("Status", "Status", role="metadata"),
    RawColumn("Finished", "Finished", role="metadata"),
    RawColumn("Duration", "Duration (in seconds)", role="metadata"),
    RawColumn("RecordedDate", "RecordedDate", role="metadata"),
    RawColumn("Email", "RecipientEmail", role="personal"),
    RawColumn("Name", "RecipientLastName", role="personal"),
    RawColumn("Collab", "Q1"),
    RawColumn("Partner", "Q2"),
    RawColumn("Sector", "Q3"),
    RawColumn("Role", "Q4"),
    RawColumn("Months", "Q5"),
    RawColumn("VM", "Q6"),
    RawColumn("Net", "Q7"),
    RawColumn("Comment", "Q8"),
]
ITEM_COLUMNS = [RawColumn(f"I_{i}", f"Q10_{k + 1}") for k, i in enumerate(ITEMS)]
COLUMNS = tuple(META + ITEM_COLUMNS)

MAPPING = parse_mapping({
    "instrument": "collaboration-indicators",
    "labels": {"Strongly disagree": 1, "Disagree": 2, "Neither agree nor disagree": 3,
               "Agree": 4, "Strongly agree": 5, "Don't know": "dont_know",
               "Not applicable": "not_applicable"},
    "synonyms": {"Agree strongly": 5, "SA": 5, "Neutral": 3, "Prefer not to say": "skipped"},
    "columns": {
        "ResponseId": "respondent_id", "Status": "status", "Finished": "finished",
        "Duration": "duration", "RecordedDate": "submitted_at", "Email": "drop",
        "Collab": {"profile": "collaboration"},
        "Partner": {"profile": "partner_organisation", "options": {"DCC": "devon-county-council"}},
        "Sector": {"profile": "sector"}, "Role": {"profile": "role"},
        "Months": {"profile": "months_involved"},
        "VM": {"select": "value_modes"}, "Net": {"select": "network", "delimiter": ";"},
        "Comment": {"text": "comment"},
        **{f"I_{i}": i for i in ITEMS},
    },
}, family=FAMILY)


def response(rid: str = "R_1", answer: object = "Agree", **cells) -> dict:
    """One complete, valid response; ``cells`` override columns (``I_PS01=...`` for items)."""
    row = {"ResponseId": rid, "Status": "IP Address", "Finished": "True", "Duration": "600",
           "RecordedDate": "2025-03-10 09:00:00", "Email": f"{rid.lower()}@example.org",
           "Name": f"Surname{rid}", "Collab": COLLAB, "Partner": PARTNER,
           "Sector": "Local authority or social care", "Role": "staff", "Months": "12",
           "VM": None, "Net": None, "Comment": None}
    row.update({f"I_{i}": answer for i in ITEMS})
    row.update(cells)
    return row


def export(rows: list[dict], columns: tuple[RawColumn, ...] = COLUMNS,
           source: str = "wave1.csv") -> RawExport:
    frame = pd.DataFrame([{c.key: r.get(c.key) for c in columns} for r in rows],
                         columns=[c.key for c in columns], dtype=object)
    return RawExport(source, "qualtrics", "test", frame, columns,
                     tuple(range(4, 4 + len(rows))))


def convert(raw: RawExport, mapping=MAPPING, **kw) -> ConvertResult:
    result = convert_export(raw, mapping, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET, **kw)
    rep = result.report
    assert rep.rows_read == raw.n_rows == rep.rows_accepted + rep.n_quarantined
    assert set(rep.rows_quarantined) == set(QUARANTINE_REASONS)
    assert result.quarantine["primary"].sum() == rep.n_quarantined
    assert len(result.data.respondents) == rep.rows_accepted
    validate_survey_data(result.data, FAMILY, programme=PROGRAMME)
    return result


def answers(result: ConvertResult, rid: str = "R_1") -> pd.DataFrame:
    pid = pseudonymise([rid], secret=SECRET, programme_id=PROGRAMME.id)[0]
    ans = result.data.responses
    out = ans[ans["respondent_id"] == pid].set_index(ans.loc[ans["respondent_id"] == pid,
                                                             "item_id"].astype(str))
    return out[["value", "missing_reason"]]


def reasons(result: ConvertResult) -> dict[int, str]:
    q = result.quarantine
    return dict(zip(q.loc[q["primary"], "row"], q.loc[q["primary"], "reason"], strict=True))


# --- a valid export ----------------------------------------------------------------------------


def test_valid_rows_become_canonical_data():
    rows = [response("R_1", VM="Shared voice; Shared delivery",
                     Net="Royal Devon University Healthcare NHS Foundation Trust;barnstaple-pcn",
                     Comment="  Going well.  "),
            response("R_2", "Strongly agree", Partner="DCC", Months="3")]
    result = convert(export(rows))
    resp = result.data.respondents
    assert list(resp["collaboration_id"].astype(str)) == ["north-devon-care-alliance"] * 2
    assert list(resp["partner_id"].astype(str)) == ["devon-county-council"] * 2
    assert list(resp["sector"].astype(str)) == ["local_authority"] * 2
    assert list(resp["instrument_version"].astype(str)) == ["1.0", "1.0"]
    assert list(resp["months_involved"]) == [12, 3]
    assert resp["completed"].all()
    assert resp["submitted_at"].iloc[0] == pd.Timestamp("2025-03-10 09:00", tz="UTC")
    assert (answers(result, "R_1")["value"] == 4).all()
    assert (answers(result, "R_2")["value"] == 5).all()
    sel = result.data.selections
    assert sorted(zip(sel["question_id"].astype(str), sel["option_id"].astype(str),
                      strict=True)) == [
        ("network", "barnstaple-pcn"), ("network", "royal-devon"),
        ("value_modes", "shared_delivery"), ("value_modes", "shared_voice")]
    assert list(result.data.comments["text"]) == ["Going well."]
    assert result.report.unmatched_columns == ("Name",)
    assert result.quarantine.empty


# --- labels and codes --------------------------------------------------------------------------


@pytest.mark.parametrize("cell, value, reason", [
    ("  strongly   AGREE ", 5, None),
    ("Agree strongly", 5, None),
    ("SA", 5, None),
    ("sa", 5, None),
    ("Neutral", 3, None),
    ("neither agree NOR disagree", 3, None),
    ("5", 5, None),
    ("2.0", 2, None),
    (1, 1, None),
    (4.0, 4, None),
    ("Don\u2019t know", None, "dont_know"),
    ("DK", None, "dont_know"),
    ("No basis for evaluation", None, "dont_know"),
    ("-1", None, "dont_know"),
    (-1.0, None, "dont_know"),
    ("N/A", None, "not_applicable"),
    ("n/a", None, "not_applicable"),
    ("Not applicable", None, "not_applicable"),
    ("-2", None, "not_applicable"),
    ("-99", None, "skipped"),
    ("Prefer not to say", None, "skipped"),
    ("", None, "skipped"),
    (None, None, "skipped"),
])
def test_answer_labels_and_codes(cell, value, reason):
    result = convert(export([response(I_PS02=cell)]))
    row = answers(result).loc["PS02"]
    assert (pd.isna(row["value"]) if value is None else row["value"] == value)
    assert (pd.isna(row["missing_reason"]) if reason is None else row["missing_reason"] == reason)


def test_dont_know_labels_never_become_numbers():
    with pytest.raises(MappingError, match="means dont_know"):
        parse_mapping({"instrument": "collaboration-indicators",
                       "synonyms": {"Don't know": 3}, "columns": {"a": "PS01"}})


def test_reverse_coded_column_reverses_codes_but_not_labels():
    doc = {"instrument": "collaboration-indicators",
           "columns": {**{c: r for c, r in _doc_columns().items()},
                       "I_PS01": {"item": "PS01", "reverse": True}}}
    mapping = parse_mapping(doc)
    rows = [response("R_1", I_PS01="5"), response("R_2", I_PS01="2"),
            response("R_3", I_PS01="Strongly agree"), response("R_4", I_PS01="-1")]
    result = convert(export(rows), mapping)
    assert answers(result, "R_1").loc["PS01", "value"] == 1
    assert answers(result, "R_2").loc["PS01", "value"] == 4
    assert answers(result, "R_3").loc["PS01", "value"] == 5
    assert answers(result, "R_4").loc["PS01", "missing_reason"] == "dont_know"


def _doc_columns() -> dict:
    from collab_stats.ingest.mapping import mapping_to_dict
    return mapping_to_dict(MAPPING)["columns"]


def test_platform_value_labels_are_matched_by_meaning():
    # A REDCap-style column coded 0-4 with labels: the label decides, not the code.
    columns = tuple(c if c.key != "I_PS03" else RawColumn(
        "I_PS03", "ps03", value_labels={0: "Strongly disagree", 4: "Strongly agree",
                                        9: "Don't know"}) for c in COLUMNS)
    rows = [response("R_1", I_PS03="4"), response("R_2", I_PS03="0"),
            response("R_3", I_PS03="9")]
    result = convert(export(rows, columns))
    assert answers(result, "R_1").loc["PS03", "value"] == 5
    assert answers(result, "R_2").loc["PS03", "value"] == 1
    assert answers(result, "R_3").loc["PS03", "missing_reason"] == "dont_know"


# --- quarantine rules --------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Survey Preview", "1", "Spam", "Survey Test", 1.0])
def test_previews_are_quarantined(status):
    result = convert(export([response("R_1"), response("R_2", Status=status)]))
    assert reasons(result) == {5: "preview"}
    assert result.report.rows_quarantined["preview"] == 1


def test_previews_kept_when_asked():
    result = convert(export([response("R_2", Status="Survey Preview")]), drop_previews=False)
    assert result.report.rows_accepted == 1


def test_unknown_collaboration_and_partner_are_quarantined():
    rows = [response("R_1", Collab="Atlantis Health Alliance"),
            response("R_2", Partner="Mind in Somerset"),  # partner of another collaboration
            response("R_3", Partner=None),  # blank partner: kept, NA
            response("R_4", Collab=None)]
    result = convert(export(rows))
    assert reasons(result) == {4: "unknown_collaboration", 5: "unknown_partner",
                               7: "unknown_collaboration"}
    assert result.data.respondents["partner_id"].isna().all()
    assert result.report.unknown_values["Collab"] == {"Atlantis Health Alliance": 1}


def test_collaboration_from_the_argument_when_there_is_no_column():
    doc = {"instrument": "collaboration-indicators",
           "columns": {c: r for c, r in _doc_columns().items() if c != "Collab"}}
    result = convert(export([response("R_1")]), parse_mapping(doc),
                     collaboration="north-devon-care-alliance")
    assert result.report.rows_accepted == 1
    with pytest.raises(ParameterError, match="collaboration must be given"):
        convert(export([response("R_1")]), parse_mapping(doc))


def test_out_of_range_code_quarantines_the_row_and_names_the_column():
    rows = [response("R_1", I_PS04="7", I_PC01="0"), response("R_2", I_PS04="3.5"),
            response("R_3")]
    result = convert(export(rows))
    q = result.quarantine
    assert reasons(result) == {4: "out_of_range", 5: "out_of_range"}
    assert set(q.loc[q["row"] == 4, "column"]) == {"I_PS04", "I_PC01"}  # every problem listed
    assert result.report.rows_accepted == 1


def test_unknown_label_is_read_as_blank_with_an_issue_or_quarantined():
    rows = [response("R_1", I_PS05="Kinda agree")]
    result = convert(export(rows))
    assert answers(result).loc["PS05", "missing_reason"] == "skipped"
    issues = result.cell_issues
    assert list(issues[["row", "column", "issue"]].itertuples(index=False, name=None)) == [
        (4, "I_PS05", "unknown_label")]
    assert result.report.unknown_labels == {"Kinda agree": 1}
    strict = convert(export(rows), on_unknown_label="quarantine")
    assert reasons(strict) == {4: "unparseable"}


def test_incomplete_responses_below_min_completion_are_quarantined():
    half = len(ITEMS) // 2
    few = {f"I_{i}": None for i in ITEMS[3:]}  # 3 answers, then stopped
    most = {f"I_{i}": None for i in ITEMS[half + 2:]}
    rows = [response("R_1", Finished="False", **few),
            response("R_2", Finished="False", I_PS02=None, **most)]
    result = convert(export(rows), min_completion=0.5)
    assert reasons(result) == {4: "incomplete"}
    kept = answers(result, "R_2")
    assert kept.loc["PS02", "missing_reason"] == "skipped"  # blank before the last answer
    assert kept.loc[ITEMS[half + 1], "value"] == 4
    assert (kept.loc[list(ITEMS[half + 2:]), "missing_reason"] == "not_reached").all()
    assert not result.data.respondents["completed"].iloc[0]
    assert convert(export(rows), min_completion=0.0).report.rows_accepted == 2


def test_finished_blank_items_are_skipped_not_unreached():
    rows = [response("R_1", **{f"I_{i}": None for i in ITEMS[-5:]})]
    kept = answers(convert(export(rows)))
    assert (kept.loc[list(ITEMS[-5:]), "missing_reason"] == "skipped").all()


def test_duplicates_keep_the_latest_complete_submission():
    rows = [response("R_1", RecordedDate="2025-03-10 09:00:00", answer="Disagree"),
            response("R_1", RecordedDate="2025-03-12 09:00:00", answer="Agree"),
            response("R_1", "Strongly agree", RecordedDate="2025-03-14 09:00:00",
                     Finished="False", **{f"I_{i}": None for i in ITEMS[-3:]}),
            response("R_2")]
    result = convert(export(rows))
    assert reasons(result) == {4: "duplicate", 6: "duplicate"}
    assert (answers(result, "R_1")["value"] == 4).all()
    assert result.report.rows_quarantined["duplicate"] == 2


def test_speeders_are_quarantined_only_when_asked():
    rows = [response("R_1", Duration="45"), response("R_2", Duration="900")]
    assert convert(export(rows)).report.rows_accepted == 2
    result = convert(export(rows), speeder_seconds=120)
    assert reasons(result) == {4: "speeder"}


def test_a_row_with_several_problems_is_counted_once_and_listed_fully():
    rows = [response("R_1", Status="Survey Preview", Collab="Nowhere", I_PS01="9")]
    result = convert(export(rows))
    assert result.report.rows_quarantined["preview"] == 1
    assert result.report.n_quarantined == 1
    assert set(result.quarantine["reason"]) == {"preview", "unknown_collaboration",
                                                "out_of_range"}


def test_bad_profile_values_become_na_with_issues():
    rows = [response("R_1", Sector="Space industry", Months="9000", Role="Wizard",
                     RecordedDate="yesterday")]
    result = convert(export(rows))
    resp = result.data.respondents
    assert resp[["sector", "role", "months_involved", "submitted_at"]].isna().all(axis=None)
    assert set(result.cell_issues["issue"]) == {"unknown_sector", "invalid_months",
                                                "unknown_role", "unreadable_time"}


# --- mapping problems --------------------------------------------------------------------------


def test_mapping_that_does_not_fit_raises_with_every_problem():
    doc = {"instrument": "collaboration-indicators",
           "columns": {**{c: r for c, r in _doc_columns().items() if c not in ("Comment", "Role")},
                       "Name": {"text": "comment"},
                       "Email": {"profile": "role"}, "extra": "CC06"}}
    with pytest.raises(MappingError) as info:
        convert(export([response()]), parse_mapping(doc))
    text = str(info.value)
    assert "personal data" in text and "'RecipientLastName'" in text
    assert "'RecipientEmail'" in text
    assert "item 'CC06' is not in instrument version 1.0" in text


def test_missing_items_and_columns_are_reported():
    doc = {"instrument": "collaboration-indicators",
           "columns": {**{c: r for c, r in _doc_columns().items() if c != "I_SC04"},
                       "Gone": "drop"}}
    result = convert(export([response()]), parse_mapping(doc))
    assert result.report.items_without_column == ("SC04",)
    assert result.report.missing_columns == ("Gone",)
    assert answers(result).loc["SC04", "missing_reason"] == "skipped"


# --- privacy -----------------------------------------------------------------------------------


def _every_cell(result: ConvertResult) -> list[str]:
    tables = [*result.data._tables(), result.quarantine, result.cell_issues,
              result.report.to_frame()]
    cells = [str(v) for t in tables for v in t.astype(object).to_numpy().ravel()]
    cells += [str(c) for t in tables for c in t.columns]
    return cells + [repr(result.report)]


def test_raw_ids_and_personal_values_never_appear_in_the_output():
    rows = [response("R_abc1"), response("R_abc2", Status="Survey Preview"),
            response("R_abc3", Collab="Nowhere"), response("R_abc1", RecordedDate="2025-03-01")]
    result = convert(export(rows))
    secret_bits = ["R_abc", "example.org", "Surname"]
    for text in _every_cell(result):
        for bit in secret_bits:
            assert bit not in text, (bit, text)
    assert set(result.quarantine["respondent"]) <= set(
        pseudonymise(["R_abc1", "R_abc2", "R_abc3"], secret=SECRET, programme_id=PROGRAMME.id))


def test_without_an_id_column_pseudonyms_are_of_file_and_row():
    doc = {"instrument": "collaboration-indicators",
           "columns": {c: r for c, r in _doc_columns().items() if c != "ResponseId"}}
    raw = export([response("R_1"), response("R_1")])
    result = convert(raw, parse_mapping(doc))
    assert result.report.rows_accepted == 2  # no id: no duplicates
    expected = pseudonymise(["wave1.csv#row4", "wave1.csv#row5"], secret=SECRET,
                            programme_id=PROGRAMME.id)
    assert list(result.data.respondents["respondent_id"].astype(str)) == list(expected)
    assert any("panel" in note for note in result.report.notes)


def test_same_respondent_has_the_same_pseudonym_in_another_file():
    a = convert(export([response("R_7")], source="wave1.csv"))
    b = convert(export([response("R_7")], source="wave2.csv"))
    assert list(a.data.respondents["respondent_id"]) == list(b.data.respondents["respondent_id"])


# --- pseudonyms and the secret -----------------------------------------------------------------


def test_pseudonyms_are_deterministic_and_keyed():
    ids = ["R_1", "R_2", "alice@example.org"]
    one = pseudonymise(ids, secret=SECRET, programme_id="prog")
    assert list(one) == list(pseudonymise(ids, secret=SECRET, programme_id="prog"))
    assert len(set(one)) == 3
    assert all(p.startswith("p") and len(p) == 21 for p in one)
    other_key = pseudonymise(ids, secret=bytes(32), programme_id="prog")
    other_programme = pseudonymise(ids, secret=SECRET, programme_id="prog2")
    assert not set(one) & set(other_key)
    assert not set(one) & set(other_programme)
    with pytest.raises(ParameterError):
        pseudonymise(["x"], secret=b"short", programme_id="prog")
    with pytest.raises(ParameterError):
        pseudonymise([None], secret=SECRET, programme_id="prog")


def test_pseudonym_matches_a_plain_hmac():
    import hashlib
    import hmac
    digest = hmac.new(SECRET, b"prog\x1fR_1", hashlib.sha256).hexdigest()
    assert pseudonymise(["R_1"], secret=SECRET, programme_id="prog")[0] == "p" + digest[:20]


def test_secret_file_is_private_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "secret.key"
    path.parent.mkdir()
    secret = create_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == secret
    with pytest.raises(SecretError, match="already exists"):
        create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        load_secret(path)


def test_secret_must_live_outside_the_store(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    with pytest.raises(SecretError, match="outside the data store"):
        create_secret(store / "secret.key", store=store)
    create_secret(tmp_path / "secret.key", store=store)


# --- garbage in: never a crash, always the invariant -------------------------------------------

_cells = st.one_of(
    st.none(), st.text(max_size=12),
    st.sampled_from(["Agree", "SA", "-1", "-99", "7", "N/A", "True", "False", "Survey Preview",
                     COLLAB, "Nowhere", PARTNER, "DCC", "1", "0", "2025-03-10 09:00:00", "nan",
                     "Shared voice;x", "3.5", "1e9", " "]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-200, 200),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(0, 6))
def test_garbage_cells_keep_the_invariant(data, n):
    keys = [c.key for c in COLUMNS]
    rows = [{k: data.draw(_cells) for k in keys} for _ in range(n)]
    for k, row in enumerate(rows):
        if data.draw(st.booleans()):
            row["Collab"] = COLLAB  # let some rows through
        if data.draw(st.booleans()):  # identifiable values to look for in the output
            row["ResponseId"] = f"ZQid{k % 3}"
            row["Email"], row["Name"] = f"ZQmail{k}@x.org", f"ZQname{k}"
    raw = export(rows)
    kw = data.draw(st.fixed_dictionaries({
        "min_completion": st.floats(0, 1), "drop_previews": st.booleans(),
        "speeder_seconds": st.none() | st.floats(0, 1000),
        "on_unknown_label": st.sampled_from(["skip", "quarantine"])}))
    try:
        result = convert(raw, **kw)
    except CollabStatsError as exc:  # pragma: no cover - would be a bug in the rules
        pytest.fail(f"garbage cells raised {exc!r}")
    assert len(result.quarantine) >= result.report.n_quarantined
    assert result.quarantine["row"].isin(raw.row_numbers).all()
    tokens = [r[k] for r in rows for k in ("ResponseId", "Email", "Name")
              if isinstance(r[k], str) and r[k].startswith("ZQ")]
    for text in _every_cell(result):
        assert not any(token in text for token in tokens)


def test_empty_export_gives_empty_valid_data():
    result = convert(export([]))
    assert result.report.rows_read == 0
    assert result.data.responses.empty
    assert list(result.data.respondents.columns) == list(RESPONDENT_COLUMNS)
    assert result.quarantine.empty and result.cell_issues.empty


def test_spss_missing_ranges_are_read_as_no_answer():
    # SPSS "97 THRU 99" user-missing range: 98 is declared missing, not an out-of-range code.
    from collab_stats import load_instrument
    from collab_stats.ingest.convert import _Answers
    from collab_stats.ingest.mapping import ColumnMapping, ColumnRule
    from collab_stats.ingest.raw import RawColumn

    version = load_instrument(version="1.0")
    mapping = ColumnMapping(instrument="collaboration-indicators", columns={})
    column = RawColumn(key="PS01", header="PS01", missing_codes=((97.0, 99.0), -9.0))
    reader = _Answers(version, mapping).for_column(ColumnRule(kind="item", target="PS01"), column)
    outcome, value, note = reader.read(98.0)
    assert (value, "missing range" in note) == (None, True)
    assert reader.read(4.0)[1] == 4
    assert "outside the scale" in reader.read(96.0)[2]
