"""Qualtrics reader against real exports (see /work/shared/exports/SOURCES.md) and the writer.

Each expected fact below was read off the file itself (``head``/``csv`` on the raw bytes);
the files come from ropensci/qualtRics (tests/testthat/files, MIT) and ctesta01/QualtricsTools
(data/Sample Surveys, BSD), unchanged.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats.errors import IngestError, ParameterError
from collab_stats.ingest.qualtrics import read_qualtrics, write_qualtrics
from collab_stats.ingest.raw import RawExport

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"
QUALTRICS = EXPORTS / "qualtrics"

INSIGHTS_PERSONAL = {
    "IPAddress",
    "RecipientLastName",
    "RecipientFirstName",
    "RecipientEmail",
    "ExternalDataReference",
    "LocationLatitude",
    "LocationLongitude",
    "LocationAccuracy",
}
LEGACY_PERSONAL = {
    "V3",
    "V4",
    "V5",
    "V6",
    "LocationLatitude",
    "LocationLongitude",
    "LocationAccuracy",
}


@dataclass(frozen=True)
class Expected:
    """What one real file shows."""

    variant: str
    n_rows: int
    first_line: int
    encoding: str
    respondent_key: str
    first_respondent: str
    personal: set[str]
    import_ids: dict[str, str]  # key -> ImportId
    cells: dict[tuple[str, int], str | None]  # (key, row) -> cell text
    questions: dict[str, tuple[str, str]]  # key -> (question, sub_label)
    trailing_removed: bool = False
    duplicates: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


EXPECTED: dict[str, Expected] = {
    "qualtRics__sample.csv": Expected(
        variant="qualtrics-3row-json/numeric",
        n_rows=1,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseId",
        first_respondent="R_2YPOQ602ER1jkf1",
        personal={
            "IPAddress",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "ExternalReference",
            "LocationLatitude",
            "LocationLongitude",
        },
        import_ids={
            "Q1": "QID1",
            "Q2": "QID2_TEXT",
            "ResponseId": "_recordId",
            "Q2 - Topics": "QID2_TEXT_eae5a8d0e7fd4bd183e983e5Topics",
        },
        cells={
            ("Q1", 0): "2",
            ("Q2", 0): "Hello World!",
            ("IPAddress", 0): "130.92.34.66",
            ("Duration (in seconds)", 0): "38",
            ("UserLanguage", 0): "DE",
            ("Q2 - Topics", 0): None,
        },  # the trailing empty *field*: its column has a name
        questions={
            "Q1": ("This is a multiple choice question.", ""),
            "StartDate": ("Anfangsdatum", ""),
            "Q2 - Topics": ("Q2", "Topics"),
        },
    ),
    "qualtRics__sample_legacy.csv": Expected(
        variant="qualtrics-legacy-2row/numeric",
        n_rows=1,
        first_line=3,
        encoding="utf-8-sig",
        respondent_key="V1",
        first_respondent="R_2YPOQ602ER1jkf1",
        personal=LEGACY_PERSONAL,
        import_ids={"Q1": "", "V1": ""},
        cells={
            ("Q1", 0): "2",
            ("Q2", 0): "Hello World!",
            ("V6", 0): "130.92.34.66",
            ("V3", 0): "Anonym",
            ("V2", 0): "Standard-Antwortsatz",
        },
        questions={"Q2": ("This is a free text question.", ""), "V6": ("IPAddress", "")},
        trailing_removed=True,
    ),
    "QualtricsTools__Multiple_Answer_MC_Questions__Insights_.csv": Expected(
        variant="qualtrics-3row-insights/numeric",
        n_rows=5,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseID",
        first_respondent="R_bIVJQDOvulWU4BL",
        personal=INSIGHTS_PERSONAL,
        # the export tag Q4 belongs to QID5: only the ImportId is stable
        import_ids={
            "Q2_1": "QID2-1",
            "Q4_10": "QID5-1",
            "mc_question_five_2_TEXT": "QID4-2-TEXT",
            "IPAddress": "ipAddress",
        },
        cells={
            ("Q2_1", 0): None,
            ("Q2_2", 0): "1",
            (
                "mc_question_five_2_TEXT",
                0,
            ): "Gravida pellentesque consectetuer eleifend risus fusce sit urna diam magnis laoreet.",
        },
        questions={
            "Q2_1": ("Click to write the question text", "Click to write Statement 1"),
            "Q3_4": (
                "Click to write the question text This question has choice groups, one "
                "after the first choice and...",
                "Click to write Choice 2",
            ),
        },
    ),
    "QualtricsTools__No_Basis_for_Evaluation__Insights_.csv": Expected(
        variant="qualtrics-3row-insights/numeric",
        n_rows=15,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseID",
        first_respondent="R_ebopwASnJ6p0KSp",
        personal=INSIGHTS_PERSONAL,
        import_ids={"Q1": "QID1", "Q2_-1": "QID2-4", "Q5_1_-1": "QID5-1-3", "Q6_3_-2": "QID6-3-4"},
        # negative "no basis for evaluation" codes stay text
        cells={
            ("Q1", 0): "3",
            ("Q3_1", 0): "-1",
            ("Q4_2", 0): "-2",
            ("Q4_4", 0): "-2",
            ("Q1", 5): "-1",
        },
        questions={
            "Q2_-1": ("Check all statements you agree with", "No basis for evaluation"),
            "Q3_1": ("Indicate how you feel about the following vegetables", "Squash"),
            "Q5_1_2": (
                "Please select when you participated in the following activities "
                "during your lifetime",
                "ate baby food-2nd Year",
            ),
        },
    ),
    "QualtricsTools__No_Basis_for_Evaluation__Legacy_.csv": Expected(
        variant="qualtrics-legacy-2row/numeric",
        n_rows=15,
        first_line=3,
        encoding="utf-8-sig",
        respondent_key="V1",
        first_respondent="R_ebopwASnJ6p0KSp",
        personal=LEGACY_PERSONAL,
        import_ids={"Q2_4": ""},
        cells={
            ("Q1", 0): "3",
            ("Q3_1", 0): "-1",
            ("Q4_2", 0): "-2",
            ("V8", 0): "2016-06-24 12:27:08",
        },
        questions={
            "Q2_4": ("Check all statements you agree with", "No basis for evaluation"),
            "V10": ("Finished", ""),
        },
        trailing_removed=True,
    ),
    "QualtricsTools__SidebySide_Questions__Insights_.csv": Expected(
        variant="qualtrics-3row-insights/numeric",
        n_rows=25,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseID",
        first_respondent="R_ewCdw76T6j8eNRH",
        personal=INSIGHTS_PERSONAL,
        import_ids={
            "Q1#1_1": "QID1#1-1",
            "Q6#2_Q6_1_2_TEXT": "QID6#2-1-1-TEXT",
            "Q6#2_Q6_1_2_TEXT__2": "QID6#2-1-2-TEXT",
        },
        cells={("Q1#1_1", 0): "2", ("Q7#1_1", 0): "12", ("Q5#2_1_2", 0): None},
        questions={
            "Q1#2_3": (
                "Click to write the question text",
                "Click to write Column 2-Click to write Statement 3",
            ),
            # a side-by-side question with one column: the column still goes to sub_label
            "Q4#1_1": (
                "Click to write the question text",
                "Click to write Column 2-Click to write Statement 1",
            ),
        },
        duplicates=("Q6#2_Q6_1_2_TEXT", "Q6#2_Q6_2_2_TEXT", "Q6#2_Q6_3_2_TEXT"),
    ),
    "QualtricsTools__Single_Answer_MC_Questions.csv": Expected(
        variant="qualtrics-legacy-2row/numeric",
        n_rows=5,
        first_line=3,
        encoding="utf-8-sig",
        respondent_key="V1",
        first_respondent="R_862TbryT6hpIAfP",
        personal=LEGACY_PERSONAL,
        import_ids={"Q2": ""},
        cells={("Q2", 0): "3", ("Q4", 0): "12", ("Q3", 1): "5"},
        questions={
            "mc_question_five_TEXT": (
                "This is a multiple answer likert matrix question with text entry and survey "
                "logic in two respecti...",
                "TEXT",
            )
        },
        trailing_removed=True,
    ),
    "QualtricsTools__Single_Answer_MC_Questions__Insights_.csv": Expected(
        variant="qualtrics-3row-insights/numeric",
        n_rows=5,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseID",
        first_respondent="R_862TbryT6hpIAfP",
        personal=INSIGHTS_PERSONAL,
        import_ids={"Q2": "QID2", "Q4": "QID5", "mc_question_five_TEXT": "QID4-TEXT"},
        cells={("Q2", 0): "3", ("Q4", 0): "12", ("Q3", 1): "5"},
        questions={"Q2": ("Click to write the question text", "")},
    ),
    "QualtricsTools__Single_Answer_Matrix_Questions__Insights_.csv": Expected(
        variant="qualtrics-3row-insights/numeric",
        n_rows=5,
        first_line=4,
        encoding="utf-8",
        respondent_key="ResponseID",
        first_respondent="R_9H2nlL82R9Yq21v",
        personal=INSIGHTS_PERSONAL,
        import_ids={"Q2_1": "QID2-1", "Q3_question_one": "QID3-1", "Q4_1": "QID5-1"},
        cells={("Q2_1", 0): "3", ("Q4_1", 0): "12", ("Q3_question_three", 0): "4"},
        questions={
            "Q3_question_two": (
                "Click to write the question text This question has variables given for its "
                "Question Export Tags,...",
                "Click to write Statement 2",
            )
        },
    ),
}


def _read(name: str) -> RawExport:
    return read_qualtrics(QUALTRICS / name)


def test_every_real_export_is_described():
    assert sorted(p.name for p in QUALTRICS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
class TestRealExports:
    def test_layout_rows_and_encoding(self, name):
        exp, raw = EXPECTED[name], _read(name)
        assert raw.format == "qualtrics"
        assert raw.source == name
        assert raw.variant == exp.variant
        assert raw.n_rows == exp.n_rows
        assert raw.encoding == exp.encoding
        # response rows are consecutive file lines after the header rows
        assert raw.row_numbers == tuple(range(exp.first_line, exp.first_line + exp.n_rows))

    def test_contract(self, name):
        raw = _read(name)
        assert [c.key for c in raw.columns] == list(raw.frame.columns)
        assert raw.frame.columns.is_unique
        cells = raw.frame.to_numpy().ravel()
        assert all(c is None or isinstance(c, str) for c in cells)
        assert not any(isinstance(c, str) and c.strip() == "" for c in cells)
        assert all(not c.header.startswith("\ufeff") for c in raw.columns)

    def test_roles(self, name):
        exp, raw = EXPECTED[name], _read(name)
        by_role = {}
        for c in raw.columns:
            by_role.setdefault(c.role, set()).add(c.key)
        assert by_role["personal"] == exp.personal
        assert by_role["respondent_id"] == {exp.respondent_key}
        assert raw.frame[exp.respondent_key].iloc[0] == exp.first_respondent
        assert {"StartDate", "V8"} & by_role["metadata"]
        assert all(re.fullmatch(r"R_\w{15,16}", v) for v in raw.frame[exp.respondent_key])

    def test_import_ids_cells_and_questions(self, name):
        exp, raw = EXPECTED[name], _read(name)
        assert {k: raw.column(k).import_id for k in exp.import_ids} == exp.import_ids
        assert {kr: raw.frame[kr[0]].iloc[kr[1]] for kr in exp.cells} == exp.cells
        got = {k: (raw.column(k).question, raw.column(k).sub_label) for k in exp.questions}
        assert got == exp.questions

    def test_trailing_column_and_duplicates(self, name):
        exp, raw = EXPECTED[name], _read(name)
        trailing = [n for n in raw.notes if "trailing empty column" in n]
        assert trailing == (["1 trailing empty column removed"] if exp.trailing_removed else [])
        assert all(c.header for c in raw.columns)  # no blank-named column survived
        for header in exp.duplicates:
            keys = [c.key for c in raw.columns if c.header == header]
            assert keys == [header, f"{header}__2"]
            assert any(f"duplicate header {header!r}" in n for n in raw.notes)
            assert raw.column(keys[0]).import_id != raw.column(keys[1]).import_id


def test_legacy_and_insights_exports_of_one_survey_agree():
    """The two 'No basis for evaluation' files hold the same 15 responses: the same answer
    cells column by column, although the export tags differ (Q2_-1 vs Q2_4)."""
    insights = _read("QualtricsTools__No_Basis_for_Evaluation__Insights_.csv")
    legacy = _read("QualtricsTools__No_Basis_for_Evaluation__Legacy_.csv")
    a = [c.key for c in insights.columns if c.role == "answer"]
    b = [c.key for c in legacy.columns if c.role == "answer"]
    assert len(a) == len(b) == 35
    assert insights.frame[a].to_numpy().tolist() == legacy.frame[b].to_numpy().tolist()
    assert [insights.column(k).sub_label for k in a] == [legacy.column(k).sub_label for k in b]
    assert list(insights.frame["ResponseID"]) == list(legacy.frame["V1"])


# ---------------------------------------------------------------------------------------
# Layouts with no real file: choice-text export, .xlsx

CHOICE_TEXT = (
    "StartDate,EndDate,Status,IPAddress,Finished,ResponseId,Q1_1,Q1_2,Q3_4\n"
    "Start Date,End Date,Response Type,IP Address,Finished,Response ID,"
    "How much do you agree? - We share goals,How much do you agree? - We trust each other,"
    "Which ways create value? - Selected Choice - Learning\n"
    '"{""ImportId"":""startDate"",""timeZone"":""Europe/London""}",'
    '"{""ImportId"":""endDate"",""timeZone"":""Europe/London""}",'
    '"{""ImportId"":""status""}","{""ImportId"":""ipAddress""}","{""ImportId"":""finished""}",'
    '"{""ImportId"":""_recordId""}","{""ImportId"":""QID1_1""}","{""ImportId"":""QID1_2""}",'
    '"{""ImportId"":""QID3"",""choiceId"":""4""}"\n'
    "2024-05-01 10:00:00,2024-05-01 10:05:00,IP Address,192.0.2.1,True,R_abcdefghijklmno,"
    "Strongly agree,Neither agree nor disagree,Learning\n"
    "2024-05-01 11:00:00,2024-05-01 11:01:00,Survey Preview,,False,R_bcdefghijklmnop,"
    "Agree,,\n"
)


def test_choice_text_export(tmp_path):
    path = tmp_path / "choice.csv"
    path.write_text(CHOICE_TEXT, encoding="utf-8")
    raw = read_qualtrics(path)
    assert raw.variant == "qualtrics-3row-json/choice-text"
    assert raw.n_rows == 2 and raw.row_numbers == (4, 5)
    assert raw.frame["Q1_1"].tolist() == ["Strongly agree", "Agree"]
    assert raw.frame["Status"].tolist() == ["IP Address", "Survey Preview"]  # rows kept
    assert (raw.column("Q1_2").question, raw.column("Q1_2").sub_label) == (
        "How much do you agree?",
        "We trust each other",
    )
    assert raw.column("Q3_4").choice_id == "4" and raw.column("Q3_4").import_id == "QID3"
    assert "times in StartDate, EndDate are in time zone Europe/London" in raw.notes
    assert raw.column("IPAddress").role == "personal"


def test_xlsx_export(tmp_path):
    import openpyxl

    rows = list(
        pd.read_csv(
            QUALTRICS / "qualtRics__sample.csv", header=None, dtype=str, keep_default_na=False
        ).itertuples(index=False)
    )
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append([None if v == "" else v for v in row])
    sheet.append([])  # a blank row is skipped, not a response
    path = tmp_path / "export.xlsx"
    book.save(path)
    raw = read_qualtrics(path)
    assert raw.variant == "qualtrics-3row-json/numeric"
    assert raw.encoding == ""
    assert raw.n_rows == 1 and raw.row_numbers == (4,)
    assert raw.frame["Q2"].iloc[0] == "Hello World!"
    assert raw.column("Q1").import_id == "QID1"


# ---------------------------------------------------------------------------------------
# write_qualtrics -> read_qualtrics


def _wide() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "wave_id": ["w1", "w1", "w1"],
            "respondent_id": ["p01", "p02", "p03"],
            "completed": [True, True, False],
            "submitted_at": pd.to_datetime(
                ["2024-05-01 10:00", "2024-05-02 11:30", pd.NaT], utc=True
            ),
            "sector": ["health", "care", None],
            "trust_1": pd.array([5, -1, 2], dtype="Int8"),
            "trust_2": pd.array([4, 3, pd.NA], dtype="Int8"),
            "goals_1": [1.0, 2.0, np.nan],
        }
    )


QUESTIONS = {
    "trust_1": "Partners trust each other",
    "trust_2": "Partners keep promises",
    "goals_1": "We share goals",
    "sector": "Which sector is your organisation in?",
}


def test_round_trip(tmp_path):
    path = tmp_path / "wave1.csv"
    write_qualtrics(_wide(), path, questions=QUESTIONS)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfStartDate,EndDate,Status,IPAddress,")
    raw = read_qualtrics(path)
    assert raw.variant == "qualtrics-3row-json/numeric"
    assert raw.encoding == "utf-8-sig"
    assert raw.n_rows == 3 and raw.row_numbers == (4, 5, 6)
    # question columns in frame order get QID1, QID2 ...; other columns are embedded data
    assert {k: raw.column(k).import_id for k in ("sector", "trust_1", "trust_2", "goals_1")} == {
        "sector": "QID1",
        "trust_1": "QID2",
        "trust_2": "QID3",
        "goals_1": "QID4",
    }
    assert raw.column("wave_id").import_id == "wave_id"
    assert raw.column("trust_2").question == "Partners keep promises"
    assert raw.frame["trust_1"].tolist() == ["5", "-1", "2"]
    assert raw.frame["trust_2"].tolist() == ["4", "3", None]
    assert raw.frame["goals_1"].tolist() == ["1", "2", None]
    assert raw.frame["EndDate"].tolist()[:2] == ["2024-05-01 10:00:00", "2024-05-02 11:30:00"]
    assert raw.frame["Finished"].tolist() == ["1", "1", "0"]
    assert raw.frame["Progress"].tolist() == ["100", "100", "25"]  # 1 of 4 questions answered
    assert raw.frame["Status"].tolist() == ["0"] * 3
    assert all(re.fullmatch(r"R_[0-9A-Za-z]{15}", v) for v in raw.frame["ResponseId"])
    assert raw.frame["ResponseId"].is_unique
    personal = {c.key for c in raw.columns if c.role == "personal"}
    assert personal == {
        "IPAddress",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
        "LocationLatitude",
        "LocationLongitude",
    }
    assert raw.frame[sorted(personal)].notna().all().all()
    assert raw.frame["RecipientEmail"].str.endswith("@example.org").all()
    assert "times in StartDate, EndDate, RecordedDate are in time zone UTC" in raw.notes
    # deterministic
    again = tmp_path / "again.csv"
    write_qualtrics(_wide(), again, questions=QUESTIONS)
    assert again.read_bytes() == path.read_bytes()


def test_round_trip_anonymous_and_empty(tmp_path):
    path = tmp_path / "anon.csv"
    write_qualtrics(_wide(), path, questions=QUESTIONS, personal=False)
    raw = read_qualtrics(path)
    personal = [c.key for c in raw.columns if c.role == "personal"]
    assert len(personal) == 7 and raw.frame[personal].isna().all().all()
    assert raw.frame["DistributionChannel"].tolist() == ["anonymous"] * 3

    empty = tmp_path / "empty.csv"
    write_qualtrics(_wide().iloc[:0], empty, questions=QUESTIONS)
    raw = read_qualtrics(empty)
    assert raw.n_rows == 0 and raw.row_numbers == ()
    assert "the export has header rows but no responses" in raw.notes


def test_writer_rejects_bad_arguments(tmp_path):
    with pytest.raises(ParameterError, match="not columns: \\['nope'\\]"):
        write_qualtrics(_wide(), tmp_path / "x.csv", questions={"nope": "?"})
    with pytest.raises(ParameterError, match="metadata names"):
        write_qualtrics(
            _wide().rename(columns={"sector": "Status"}), tmp_path / "x.csv", questions={}
        )


# ---------------------------------------------------------------------------------------
# Malformed input: always IngestError


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\r\n \r\n", "empty"),
        (b"StartDate,EndDate,Status,ResponseId,Q1\r\n", "only 1 non-blank row"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "not a recognisable Qualtrics export"),
        (b"\x00\x01binary\x00", "binary content"),
        (b"PK\x03\x04garbage", "not a readable .xlsx"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        read_qualtrics(path)


def test_missing_file(tmp_path):
    with pytest.raises(IngestError, match="cannot read"):
        read_qualtrics(tmp_path / "absent.csv")


def test_row_wider_than_header(tmp_path):
    path = tmp_path / "wide.csv"
    lines = CHOICE_TEXT.splitlines()
    path.write_text("\n".join([*lines, lines[-1] + ",surplus"]) + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match="header has only 9 columns") as info:
        read_qualtrics(path)
    assert info.value.row == 6


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
    with pytest.raises(IngestError):
        read_qualtrics(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.text(alphabet=st.sampled_from("V1,{}\"'ImportId:QID_-\n\r R"), max_size=300).map(
            str.encode
        ),
    )
)
def test_arbitrary_bytes_give_an_export_or_ingest_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        raw = read_qualtrics(path)
    except IngestError:
        return
    assert [c.key for c in raw.columns] == list(raw.frame.columns)
    assert len(raw.row_numbers) == raw.n_rows


def test_import_id_row_json_is_parsed_not_evaluated(tmp_path):
    """Insights ImportIds are parsed with ast.literal_eval: an expression is not run."""
    path = tmp_path / "evil.csv"
    path.write_text(
        "ResponseID,Q1\nResponseID,Q\n"
        "\"{'ImportId': 'responseId'}\",\"{'ImportId': __import__('os').getcwd()}\"\n"
        "R_1,1\n",
        encoding="utf-8",
    )
    raw = read_qualtrics(path)
    assert raw.column("Q1").import_id == ""
    assert any("has no ImportId" in n for n in raw.notes)
    assert json.loads('{"ImportId":"x"}')  # sanity: the JSON form is the modern one
