"""Google Forms and Microsoft Forms readers and writers.

Every file in /work/shared/exports/google_forms/ (real Google Forms downloads from
UVADS/DS-4002, MIT; see SOURCES.md there) is read with the right reader and checked against
facts read off the file by hand: row counts, headers, answers, encodings, personal columns.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats.errors import IngestError
from collab_stats.ingest.forms import (
    read_google_forms,
    read_microsoft_forms,
    write_google_forms,
    write_microsoft_forms,
)
from collab_stats.ingest.surveymonkey import write_surveymonkey

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"
FORMS = EXPORTS / "google_forms"
SANDWICH = "Do you believe that a hotdog falls under the category of a sandwich?"


def _read(name):
    path = FORMS / f"DS-4002__{name}"
    reader = read_microsoft_forms if name == "Hot-Dog-Form-Fa24.csv" else read_google_forms
    return reader(path)


def _check(raw):
    assert [c.key for c in raw.columns] == list(raw.frame.columns)
    assert len(raw.row_numbers) == raw.n_rows
    assert all(v is None or isinstance(v, str) for v in raw.frame.to_numpy().ravel())


def test_every_file_in_the_folder_has_a_test():
    tested = {"DS-4002-fa22-survey-results.xlsx", "DS-4002-fa23-survey-results.csv",
              "DS-4002-sp24-survey-results.csv", "DS-4002-sp24-survey-results.xlsx",
              "Hot-Dog-Form-Fa24.csv", "Is_hotdog_a_sandwich___Responses_.xlsx",
              "fa25_Is_hotdog_a_sandwich___Responses_.csv",
              "hot_dog_survey_spring25.xlsx_-_Form_Responses_1.csv"}
    assert {p.name.removeprefix("DS-4002__") for p in FORMS.iterdir()} == tested


def test_fa22_xlsx_timestamps_are_datetime_cells():
    raw = _read("DS-4002-fa22-survey-results.xlsx")
    _check(raw)
    assert (raw.variant, raw.encoding, raw.n_rows) == ("google-forms-xlsx", "", 194)
    assert raw.frame.columns.tolist() == ["Timestamp", "Are you a UVA Undergraduate student?",
                                          "Is a hot dog a sandwich?"]
    assert raw.column("Timestamp").role == "metadata"
    assert raw.frame["Timestamp"].iloc[0] == "2022-08-24T19:08:52.376000"
    assert raw.frame["Is a hot dog a sandwich?"].value_counts().to_dict() == {"No": 127,
                                                                             "Yes": 67}
    assert raw.row_numbers[:2] == (2, 3) and raw.notes == ()


def test_fa23_csv_without_timestamp_and_multiline_answers():
    raw = _read("DS-4002-fa23-survey-results.csv")
    _check(raw)
    assert (raw.variant, raw.encoding, raw.n_rows) == ("google-forms-csv", "utf-8", 158)
    assert raw.columns[0].key == "Do you like hot dogs?"
    assert all(c.role == "answer" for c in raw.columns)
    assert raw.notes == ("no Timestamp column (the first column is 'Do you like hot dogs?')",)
    # three answers span several lines: each row keeps the line it starts on
    assert raw.row_numbers[-1] == 168
    elaborate = raw.frame["Feel free to elaborate on your opinion below"]
    assert elaborate.str.contains("\n").sum() == 3
    assert raw.row_numbers[67:69] == (69, 71)
    assert elaborate.iloc[67].startswith("1) I have never tried a hot dog")
    assert "It’s a taco" in " ".join(elaborate.dropna())  # UTF-8 apostrophe


def test_sp24_csv_was_resaved_by_excel_and_matches_the_xlsx():
    csv_raw = _read("DS-4002-sp24-survey-results.csv")
    xlsx_raw = _read("DS-4002-sp24-survey-results.xlsx")
    for raw in (csv_raw, xlsx_raw):
        _check(raw)
        assert raw.n_rows == 91
        assert raw.columns[1].key == SANDWICH
        assert raw.frame[SANDWICH].value_counts().to_dict() == {"No": 61, "Yes": 30}
    assert csv_raw.frame["Timestamp"].iloc[0] == "1/18/2024 14:18"
    assert xlsx_raw.frame["Timestamp"].iloc[0] == "2024-01-18T14:18:57.066000"
    assert any("to the minute" in n for n in csv_raw.notes)
    # xlsx rows are ragged (trailing blank cells not stored); padded, both files agree
    pd.testing.assert_frame_equal(csv_raw.frame.drop(columns="Timestamp"),
                                  xlsx_raw.frame.drop(columns="Timestamp"))
    year = "If you are an undergraduate, what is your current academic year?"
    assert xlsx_raw.frame[year].isna().sum() == 7


def test_hot_dog_fa24_is_microsoft_forms_in_cp1252():
    raw = _read("Hot-Dog-Form-Fa24.csv")
    _check(raw)
    assert (raw.format, raw.variant) == ("microsoft_forms", "microsoft-forms-csv")
    assert (raw.encoding, raw.n_rows) == ("cp1252", 187)
    roles = {c.key: c.role for c in raw.columns}
    assert roles == {"Id": "respondent_id", "Start time": "metadata",
                     "Completion time": "metadata", "Email": "personal", "Name": "personal",
                     "Is a hotdog a sandwich": "answer",
                     "Are you a UVA undergraduate student": "answer",
                     "What is your major?": "answer"}
    assert raw.frame["Id"].tolist() == [str(i) for i in range(1, 188)]
    assert set(raw.frame["Email"]) == {"anonymous"} and raw.frame["Name"].isna().all()
    assert raw.frame["Start time"].iloc[0] == "9/1/2024 11:27"
    # byte 0x92 at offset 4024 is cp1252's right single quotation mark
    majors = raw.frame["What is your major?"]
    assert "Computer Science’s " in majors.tolist()
    assert any("cp1252" in n for n in raw.notes) and any("minute" in n for n in raw.notes)


def test_hot_dog_fa24_is_refused_by_the_google_reader():
    with pytest.raises(IngestError, match="read_microsoft_forms"):
        read_google_forms(FORMS / "DS-4002__Hot-Dog-Form-Fa24.csv")


def test_fa25_csv_bom_and_xlsx_floats():
    csv_raw = _read("fa25_Is_hotdog_a_sandwich___Responses_.csv")
    xlsx_raw = _read("Is_hotdog_a_sandwich___Responses_.xlsx")
    assert csv_raw.encoding == "utf-8-sig"
    assert csv_raw.columns[0].key == "Timestamp"  # BOM not part of the header
    for raw in (csv_raw, xlsx_raw):
        _check(raw)
        assert raw.n_rows == 207
        # xlsx stores 4.0: read as "4"
        assert raw.frame["What year are you in?"].value_counts().to_dict() == {
            "4": 114, "3": 45, "2": 40, "1": 8}
    assert xlsx_raw.frame.iloc[0].tolist() == ["2025-08-29T17:17:56.622000", "4", "Yes"]
    # the CSV was re-sorted in Excel (by year): same answers, different order
    assert csv_raw.frame.iloc[0].tolist() == ["8/29/2025 18:33:41", "1", "No"]
    answers = [Counter(map(tuple, r.frame.iloc[:, 1:].to_numpy().tolist()))
               for r in (csv_raw, xlsx_raw)]
    assert answers[0] == answers[1]


def test_spring25_csv_crlf_and_multiline_answer():
    raw = _read("hot_dog_survey_spring25.xlsx_-_Form_Responses_1.csv")
    _check(raw)
    assert (raw.encoding, raw.n_rows, len(raw.columns)) == ("utf-8", 64, 9)
    assert raw.columns[7].key == "Gender: How do you identify?"
    rationale = raw.frame["What is the rationale behind your opinion?"]
    assert rationale.iloc[9] == "Idk, seems right\nalso, 2 bread w/ stuff in it"
    assert raw.row_numbers[9:11] == (11, 13)
    assert raw.frame.iloc[0, 0] == "1/15/2025 21:53:05"
    assert all(c.role != "personal" for c in raw.columns)


# ---- writers through readers ---------------------------------------------------------------

LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree",
          5: "Strongly agree"}
QUESTIONS = {"trust": "Partners trust each other\n(think of the last year)",
             "sectors": "Which sectors take part?", "comment": "Anything else?"}
OPTIONS = {"sectors": ["Health", "Social care", "Police"]}
FRAME = pd.DataFrame({"trust": [1, 4.0, np.nan],
                      "sectors": [["Police", "Health"], None, "Social care"],
                      "comment": ["Zoë’s, view", None, "two\nlines"]})
TRUST = "Partners trust each other (think of the last year)"


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "xlsx"])
@pytest.mark.parametrize("personal", [False, True])
def test_google_forms_round_trip(tmp_path, excel, personal):
    path = write_google_forms(FRAME, tmp_path / ("g.xlsx" if excel else "g.csv"),
                              questions=QUESTIONS, options=OPTIONS, labels=LABELS,
                              personal=personal, excel=excel)
    raw = read_google_forms(path)
    _check(raw)
    keys = ["Timestamp", *(["Email Address"] if personal else []), TRUST,
            "Which sectors take part?", "Anything else?"]
    assert [c.key for c in raw.columns] == keys
    assert raw.column(TRUST).header == QUESTIONS["trust"]  # as written, line break kept
    assert raw.column(TRUST).question == TRUST
    assert any("line break" in n for n in raw.notes)
    assert [c.role for c in raw.columns][:2] == ["metadata",
                                                 "personal" if personal else "answer"]
    assert raw.frame[TRUST].tolist() == ["Strongly disagree", "Agree", None]
    # checkbox options in one cell, option order, ", "-joined
    assert raw.frame["Which sectors take part?"].tolist() == ["Health, Police", None,
                                                              "Social care"]
    assert raw.frame["Anything else?"].tolist() == ["Zoë’s, view", None, "two\nlines"]
    pattern = r"2024-09-\d\dT\d\d:\d\d:\d\d" if excel else r"9/\d\d?/2024 \d\d?:\d\d:\d\d"
    assert raw.frame["Timestamp"].str.fullmatch(pattern).all()


@pytest.mark.parametrize("excel", [True, False], ids=["xlsx", "csv"])
@pytest.mark.parametrize("personal", [False, True])
def test_microsoft_forms_round_trip(tmp_path, excel, personal):
    path = write_microsoft_forms(FRAME, tmp_path / ("m.xlsx" if excel else "m.csv"),
                                 questions=QUESTIONS, options=OPTIONS, labels=LABELS,
                                 personal=personal, excel=excel)
    raw = read_microsoft_forms(path)
    _check(raw)
    assert raw.variant == ("microsoft-forms-xlsx" if excel else "microsoft-forms-csv")
    roles = [c.role for c in raw.columns]
    assert roles == ["respondent_id", "metadata", "metadata", "personal", "personal",
                     "metadata", "answer", "answer", "answer"]
    assert raw.frame["ID"].tolist() == ["1", "2", "3"]
    assert raw.frame["Which sectors take part?"].tolist() == ["Health;Police;", None,
                                                              "Social care;"]
    assert "column 'Which sectors take part?' is a multi-select (every answer ends with ';')" \
        in raw.notes
    assert raw.frame[TRUST].tolist() == ["Strongly disagree", "Agree", None]
    if personal:
        assert raw.frame["Email"].str.endswith("@example.org").all()
        assert raw.frame["Name"].notna().all()
    else:
        assert set(raw.frame["Email"]) == {"anonymous"} and raw.frame["Name"].isna().all()


# ---- malformed input and wrong readers ----------------------------------------------------


@pytest.mark.parametrize("reader", [read_google_forms, read_microsoft_forms])
@pytest.mark.parametrize("case, content, message", [
    ("empty", b"", "empty"),
    ("delimiters", b",,,\r\n,,\r\n", "no non-blank rows"),
    ("header_only", b"ID,Start time,Completion time,Email,Name,Q1\r\n", "no responses"),
    ("binary", bytes(np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8)),
     "binary content"),
    ("undefined_cp1252", b"Timestamp,Q\r\n1/2/2024 10:00,\x81\x8d\r\n", "cannot decode"),
])
def test_malformed_files_raise_ingest_error(tmp_path, reader, case, content, message):
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        reader(path)


def test_microsoft_reader_names_the_missing_columns(tmp_path):
    with pytest.raises(IngestError, match="ID, Start time, Completion time"):
        read_microsoft_forms(FORMS / "DS-4002__DS-4002-fa22-survey-results.xlsx")


def test_google_reader_refuses_surveymonkey(tmp_path):
    path = write_surveymonkey(FRAME[["trust"]], tmp_path / "sm.csv", questions={"trust": "T"})
    with pytest.raises(IngestError, match="read_surveymonkey"):
        read_google_forms(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.text(alphabet=",;\t\r\n\"aID ", max_size=200).map(str.encode)))
def test_arbitrary_bytes_give_raw_export_or_ingest_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    outcomes = []
    for reader in (read_google_forms, read_microsoft_forms):
        try:
            raw = reader(path)
        except IngestError as error:
            outcomes.append(str(error).startswith(str(path)))  # the message names the file
            continue
        _check(raw)  # asserts the RawExport contract
        outcomes.append(True)
    assert outcomes == [True, True]


@pytest.mark.parametrize("name", ["DS-4002-fa22-survey-results.xlsx",
                                  "Is_hotdog_a_sandwich___Responses_.xlsx"])
def test_a_workbook_is_recognised_from_its_first_rows_without_reading_it_twice(
        name, monkeypatch):
    """Detection reads only the workbook's first HEAD_ROWS rows (a national export was parsed
    twice, once to recognise it); what it finds and the rows read are as before."""
    from collab_stats.ingest import detect, textio

    path = FORMS / f"DS-4002__{name}"
    full = textio.read_excel_rows(path)
    head = textio.read_excel_rows(path, head=3)
    assert head == full[:3] and head.line_numbers == full.line_numbers[:3]
    seen = []
    real = textio.read_excel_rows
    monkeypatch.setattr(detect, "read_excel_rows",
                        lambda p, **kw: seen.append(real(p, **kw)) or seen[-1])
    assert detect.detect_format(path) == "google_forms"
    assert [len(rows) for rows in seen] == [min(detect.HEAD_ROWS, len(full))]
    assert detect._format_from_rows(full) == "google_forms"
