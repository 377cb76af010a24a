"""SurveyMonkey reader and writer.

No real SurveyMonkey export is available (/work/shared/exports/SOURCES.md), so the reader is
tested on the vendor's documented layout as the writer produces it: round trips through CSV
and XLSX, the facts of that layout (question text over the first column of its span only,
sub-labels in the second header row, one column per multi-select option), and malformed
files, which must raise IngestError and nothing else.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats.errors import IngestError, ParameterError
from collab_stats.ingest.raw import RawExport
from collab_stats.ingest.surveymonkey import (
    METADATA_HEADERS,
    read_surveymonkey,
    write_surveymonkey,
)

LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree",
          5: "Strongly agree"}
MATRIX = "To what extent do you agree?\nThink of the last 12 months."
QUESTIONS = {"trust": MATRIX, "aims": MATRIX, "sectors": "Which sectors take part?",
             "lead": "Who leads?", "comment": "Anything else?"}
STATEMENTS = {"trust": "Partners trust each other", "aims": "We share aims"}
OPTIONS = {"sectors": ["Health", "Social care", "Police", "Education"]}
FRAME = pd.DataFrame({
    "trust": [1, 5, np.nan, 4.0],
    "aims": [2, 3, 4, 5],
    "sectors": [["Health"], [], ("Health", "Police"), "Education"],
    "lead": [3, np.nan, 1, 2],
    "comment": ["ok", None, "two\nlines, and a comma", "Zoë’s view"],
})
ANSWER_KEYS = [
    "To what extent do you agree? Think of the last 12 months. | Partners trust each other",
    "To what extent do you agree? Think of the last 12 months. | We share aims",
    "Which sectors take part? | Health", "Which sectors take part? | Social care",
    "Which sectors take part? | Police", "Which sectors take part? | Education",
    "Who leads?", "Anything else?",
]


def _write(tmp_path, excel, frame=FRAME, **kwargs):
    path = tmp_path / ("sm.xlsx" if excel else "sm.csv")
    options = {"questions": QUESTIONS, "options": OPTIONS, "labels": LABELS,
               "statements": STATEMENTS, "excel": excel} | kwargs
    return write_surveymonkey(frame, path, **options)


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "xlsx"])
def test_round_trip(tmp_path, excel):
    raw = read_surveymonkey(_write(tmp_path, excel))
    assert isinstance(raw, RawExport)
    assert (raw.format, raw.variant) == ("surveymonkey", "surveymonkey-xlsx" if excel
                                         else "surveymonkey-csv")
    assert raw.encoding == ("" if excel else "utf-8-sig")
    assert raw.notes == ()
    assert [c.key for c in raw.columns] == list(raw.frame.columns)
    assert [c.key for c in raw.columns] == [*METADATA_HEADERS, *ANSWER_KEYS]
    # CSV: the question text's line break makes the header rows lines 1-3; a row's number is
    # the line it starts on (the third response has a two-line comment)
    assert raw.row_numbers == ((3, 4, 5, 6) if excel else (4, 5, 6, 8))
    roles = {c.key: c.role for c in raw.columns}
    assert roles["Respondent ID"] == "respondent_id"
    assert [k for k, r in roles.items() if r == "metadata"] == ["Collector ID", "Start Date",
                                                                 "End Date"]
    assert [k for k, r in roles.items() if r == "personal"] == ["IP Address", "Email Address",
                                                                 "First Name", "Last Name",
                                                                 "Custom Data 1"]
    answers = raw.columns[len(METADATA_HEADERS):]
    assert all(c.role == "answer" for c in answers)
    # the question text is written over the first column of the span only, and forward-filled
    assert [c.header for c in answers] == [MATRIX, "", "Which sectors take part?", "", "", "",
                                           "Who leads?", "Anything else?"]
    assert {c.question for c in answers[:2]} == {
        "To what extent do you agree? Think of the last 12 months."}
    assert [c.sub_label for c in answers] == ["Partners trust each other", "We share aims",
                                              *OPTIONS["sectors"], "Response", "Response"]
    assert [c.choice_id for c in answers] == ["", "", *OPTIONS["sectors"], "", ""]
    got = raw.frame[ANSWER_KEYS].to_numpy().tolist()
    assert got[0] == ["Strongly disagree", "Disagree", "Health", None, None, None,
                      "Neither agree nor disagree", "ok"]
    assert got[2] == [None, "Agree", "Health", None, "Police", None, "Strongly disagree",
                      "two\nlines, and a comma"]
    assert got[3][:6] == ["Agree", "Strongly agree", None, None, None, "Education"]
    assert got[3][7] == "Zoë’s view"
    # every cell is text or blank; metadata look like SurveyMonkey's
    assert all(v is None or isinstance(v, str) for v in raw.frame.to_numpy().ravel())
    ids = raw.frame["Respondent ID"]
    assert ids.str.fullmatch(r"\d{11}").all() and ids.is_unique
    # CSV: SurveyMonkey's text; XLSX: date-time cells, which the reader gives as ISO text
    when = (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" if excel
            else r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M")
    assert raw.frame["Start Date"].str.fullmatch(when).all()
    assert raw.frame["Email Address"].str.endswith("@example.org").all()


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "xlsx"])
def test_personal_false_leaves_personal_columns_blank_but_flagged(tmp_path, excel):
    raw = read_surveymonkey(_write(tmp_path, excel, personal=False))
    personal = [c.key for c in raw.columns if c.role == "personal"]
    assert personal == ["IP Address", "Email Address", "First Name", "Last Name",
                        "Custom Data 1"]
    assert raw.frame[personal].isna().all().all()


def test_csv_layout_as_documented(tmp_path):
    with _write(tmp_path, False).open(encoding="utf-8-sig", newline="") as handle:
        first, second, *_ = list(csv.reader(handle))
    assert first[:9] == list(METADATA_HEADERS)
    assert first[9:] == [MATRIX, "", "Which sectors take part?", "", "", "", "Who leads?",
                         "Anything else?"]
    assert second[:9] == [""] * 9
    assert second[9:] == ["Partners trust each other", "We share aims", *OPTIONS["sectors"],
                          "Response", "Response"]


def test_unanswered_multiselect_is_read_as_matrix_with_note(tmp_path):
    frame = FRAME.assign(sectors=[[], [], None, []])
    raw = read_surveymonkey(_write(tmp_path, False, frame=frame))
    assert all(c.choice_id == "" for c in raw.columns)
    assert any("cannot tell a multi-select from a matrix" in n for n in raw.notes)


def test_other_please_specify_and_open_ended(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text(
        ",".join(METADATA_HEADERS) + ",Role?,,Sectors?,,\n"
        + ",,,,,,,,,Response,Other (please specify),Health,Other (please specify),"
          "Open-Ended Response\n"
        + "1,2,,,,,,,,Manager,,Health,Fire service,\n"
        + "3,2,,,,,,,,,Nurse,,,\n", encoding="utf-8")
    raw = read_surveymonkey(path)
    cols = raw.columns[9:]
    assert [c.key for c in cols[:4]] == ["Role? | Response", "Role? | Other (please specify)",
                                         "Sectors? | Health",
                                         "Sectors? | Other (please specify)"]
    assert [c.choice_id for c in cols[:4]] == ["", "", "Health", ""]
    assert raw.frame.iloc[1, 10] == "Nurse"


def test_metadata_block_custom_variable_is_personal(tmp_path):
    path = tmp_path / "custom.csv"
    path.write_text("Respondent ID,Collector ID,ref,Q\n,,,Response\n11,22,abc,Yes\n",
                    encoding="utf-8")
    raw = read_surveymonkey(path)
    assert raw.column("ref").role == "personal"
    assert raw.column("Q").question == "Q" and raw.frame["Q"].tolist() == ["Yes"]
    assert any("'ref'" in n and "personal" in n for n in raw.notes)


# ---- malformed input: IngestError only ---------------------------------------------------


def _one_header_row(tmp_path):
    path = _write(tmp_path, False)
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    bad = tmp_path / "one-header.csv"
    bad.write_text("\r\n".join([lines[0], *lines[2:]]), encoding="utf-8")
    return bad


@pytest.mark.parametrize("case, message", [
    ("empty", "empty"),
    ("blank_lines", "empty"),
    ("header_only", "one row only"),
    ("two_headers_only", "no responses"),
    ("one_header_row", "second header row is missing"),
    ("not_surveymonkey", "no 'Respondent ID'"),
    ("binary", "binary content"),
    ("bad_xlsx", "not a readable .xlsx"),
    ("no_question_text", "has no question text"),
    ("missing", "cannot read"),
])
def test_malformed_files_raise_ingest_error(tmp_path, case, message):
    path = tmp_path / f"{case}.csv"
    header = ",".join(METADATA_HEADERS)
    contents = {
        "empty": b"",
        "blank_lines": b"\r\n  \r\n",
        "header_only": (header + ",Q1\r\n").encode(),
        "two_headers_only": (header + ",Q1\r\n,,,,,,,,,Response\r\n").encode(),
        "not_surveymonkey": b"Timestamp,Q1\r\n9/27/2022 10:15:32,Yes\r\n",
        "binary": bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)),
        "bad_xlsx": b"PK\x03\x04" + b"not a zip" * 20,
        "no_question_text": (header + ",,Q2\r\n" + "," * 9 + "Response,Response\r\n"
                             + "1,2,,,,,,,,Yes,No\r\n").encode(),
    }
    if case == "one_header_row":
        path = _one_header_row(tmp_path)
    elif case != "missing":
        path.write_bytes(contents[case])
    with pytest.raises(IngestError, match=message) as info:
        read_surveymonkey(path)
    assert str(path) in str(info.value)


def test_one_header_row_error_names_row_and_column(tmp_path):
    with pytest.raises(IngestError) as info:
        read_surveymonkey(_one_header_row(tmp_path))
    # the first header row takes lines 1-2 (a line break in the matrix question's text)
    assert (info.value.row, info.value.column) == (3, "Respondent ID")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(alphabet=",;\t\r\n\"aQ1 ", max_size=200).map(str.encode)))
def test_arbitrary_bytes_give_raw_export_or_ingest_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        raw = read_surveymonkey(path)
    except IngestError:
        return
    assert len(raw.columns) == raw.frame.shape[1]


# ---- writer parameters ---------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"questions": {"nope": "Q"}}, "does not have"),
    ({"questions": {}}, "at least one column"),
    ({"questions": {"sectors": "S"}, "options": {"sectors": ["Health"]}}, "not in options"),
    ({"questions": {"lead": "L"}, "options": {"sectors": ["Health"]}}, "not in questions"),
    ({"questions": {"lead": "L"}, "options": {"lead": "abc"}}, "distinct option texts"),
])
def test_writer_rejects_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        write_surveymonkey(FRAME, tmp_path / "x.csv", **kwargs)
