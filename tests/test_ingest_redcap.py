"""REDCap raw exports + data dictionaries, against the real REDCapR test projects
(OuhscBbmc/REDCapR, inst/test-data/projects/, MIT; see /work/shared/exports/SOURCES.md).

Every expected value below was read off the fixture files themselves (cited by file)."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from collab_stats.errors import IngestError, ParameterError
from collab_stats.ingest.redcap import (
    DICTIONARY_HEADER,
    read_redcap,
    read_redcap_dictionary,
    write_redcap,
)

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"
REDCAP = EXPORTS / "redcap"
PROJECTS = ("checkboxes-1", "potentially-problematic-values", "survey")


def data(project: str) -> Path:
    return REDCAP / f"REDCapR__{project}__data.csv"


def dictionary(project: str) -> Path:
    return REDCAP / f"REDCapR__{project}__dictionary.csv"


def by_key(raw):
    return {c.key: c for c in raw.columns}


def test_every_fixture_file_is_covered():
    expected = {data(p).name for p in PROJECTS} | {dictionary(p).name for p in PROJECTS}
    expected.add(dictionary("simple").name)  # a dictionary without a data file
    assert {p.name for p in REDCAP.iterdir()} == expected


# --- checkboxes-1 ---------------------------------------------------------------------------

def test_checkboxes_columns_are_mapped_to_their_choices():
    raw = read_redcap(data("checkboxes-1"), dictionary=dictionary("checkboxes-1"))
    assert (raw.format, raw.variant, raw.encoding) == ("redcap", "redcap-raw-dictionary", "utf-8")
    assert raw.n_rows == 4 and raw.row_numbers == (2, 3, 4, 5)
    assert list(raw.frame.columns) == [c.key for c in raw.columns]
    cols = by_key(raw)
    # dictionary: check_one "1, one|2, two|3, three|4, four"; check_two "a, A|b, B|...".
    one_3 = cols["check_one___3"]
    assert (one_3.question, one_3.sub_label, one_3.choice_id, one_3.import_id, one_3.role) == (
        "check one", "three", "3", "check_one", "answer")
    assert [cols[f"check_two___{c}"].sub_label for c in "abcde"] == list("ABCDE")
    assert cols["record_id"].role == "respondent_id"
    assert cols["form_1_complete"].role == cols["form_2_complete"].role == "metadata"
    assert cols["form_2_complete"].value_labels["2"] == "Complete"
    # Record 1: check_one___1 and check_two___a, ___c checked; record 4 has no desired_result.
    assert raw.frame.loc[0, ["check_one___1", "check_two___a", "check_two___c"]].tolist() == [
        "1", "1", "1"]
    assert raw.frame.loc[0, "check_two___b"] == "0"
    assert raw.frame.loc[3, "desired_result"] is None
    assert raw.frame["form_2_complete"].tolist() == ["2", "0", "2", "0"]
    assert not any("not valid" in n for n in raw.notes)


def test_checkboxes_without_dictionary_split_the_column_name():
    raw = read_redcap(data("checkboxes-1"))
    assert raw.variant == "redcap-raw"
    col = by_key(raw)["check_two___e"]
    assert (col.import_id, col.choice_id, col.question, col.sub_label) == (
        "check_two", "e", "", "")
    assert any("no data dictionary" in n for n in raw.notes)


# --- potentially-problematic-values -----------------------------------------------------------

def test_invalid_typed_values_are_kept_as_text_and_noted():
    raw = read_redcap(data("potentially-problematic-values"),
                      dictionary=dictionary("potentially-problematic-values"))
    assert raw.n_rows == 2
    # date_before_validation is date_ymd, integer_before_validation integer; both hold
    # "before validation 1/2" (entered before the validation was added).
    assert raw.frame["date_before_validation"].tolist() == ["before validation 1",
                                                             "before validation 2"]
    invalid = [n for n in raw.notes if "not valid" in n]
    assert len(invalid) == 2
    assert "'date_before_validation' (text validated as date_ymd): 2 value(s)" in invalid[0]
    assert "'integer_before_validation' (text validated as integer)" in invalid[1]
    assert "rows 2, 3" in invalid[0]
    # time_1 is free text (no validation): "55:02" is kept and not flagged.
    assert raw.frame["time_1"].tolist() == ["2010-01-02", "55:02"]
    assert not any("'time_1'" in n for n in invalid)
    # A multi-line label keeps its inner lines, loses the trailing newline.
    assert by_key(raw)["integer_before_validation"].question == (
        "Integer entered before validation logic added")
    assert by_key(raw)["time_1"].question.endswith("REDCapR/issues/245")


# --- survey -------------------------------------------------------------------------------------

def test_survey_identifiers_metadata_and_choices():
    raw = read_redcap(data("survey"), dictionary=dictionary("survey"))
    assert raw.n_rows == 2
    cols = by_key(raw)
    assert cols["participant_id"].role == "respondent_id"  # the dictionary's first field
    # Identifier? = y in the dictionary:
    for name in ("email", "first_name", "last_name", "address", "telephone_1"):
        assert cols[name].role == "personal", name
    assert cols["redcap_survey_identifier"].role == "personal"
    # dob is not flagged in this dictionary: kept as an answer, with a note.
    assert cols["dob"].role == "answer"
    assert any("'dob'" in n and "Identifier?" in n for n in raw.notes)
    stamp = cols["participant_morale_questionnaire_timestamp"]
    assert stamp.role == "metadata"
    assert raw.frame.loc[0, stamp.key] == "[not completed]"
    assert raw.frame.loc[0, "prescreening_survey_timestamp"] == "2018-03-06 15:52:43"
    race = cols["race"]  # dropdown "0, American Indian/Alaska Native | 1, Asian | ..."
    assert race.question == "Race" and len(race.value_labels) == 7
    assert race.value_labels["0"] == "American Indian/Alaska Native"
    assert race.value_labels["6"] == "Unknown / Not Reported"
    assert cols["pmq3"].value_labels == {"1": "Yes", "0": "No"}  # yesno
    assert cols["has_diabetes"].value_labels == {"1": "True", "0": "False"}  # truefalse
    consent = cols["consent___1"]
    assert (consent.sub_label, consent.choice_id, consent.import_id) == ("I consent", "1",
                                                                        "consent")
    assert consent.question.startswith("By checking this box, I certify")
    assert raw.frame.loc[:, "email"].tolist() == ["aaa@bbb.com", "ccc@ddd.com"]
    assert not any("not valid" in n for n in raw.notes)


def test_survey_without_dictionary_flags_personal_names():
    raw = read_redcap(data("survey"))
    cols = by_key(raw)
    assert cols["participant_id"].role == "respondent_id"
    for name in ("dob", "email", "first_name", "last_name", "address", "telephone_1"):
        assert cols[name].role == "personal", name
    for name in ("has_diabetes", "pmq1", "withdraw_reason", "height"):
        assert cols[name].role == "answer", name
    assert cols["participant_morale_questionnaire_timestamp"].role == "metadata"
    assert raw.frame.loc[0, "participant_morale_questionnaire_timestamp"] == "[not completed]"


# --- simple (dictionary only) --------------------------------------------------------------------

def test_simple_dictionary():
    fields = {f.name: f for f in read_redcap_dictionary(dictionary("simple"))}
    assert len(fields) == 16 and next(iter(fields)) == "record_id"
    assert {n for n, f in fields.items() if f.identifier} == {
        "name_first", "name_last", "address", "telephone", "email", "dob"}
    race = fields["race"]
    assert race.field_type == "checkbox" and race.label == "Race (Select all that apply)"
    assert race.choices["3"] == "Native Hawaiian or Other Pacific Islander"
    assert list(race.choices) == ["1", "2", "3", "4", "5", "6"]
    assert fields["sex"].choices == {"0": "Female", "1": "Male"}
    assert fields["bmi"].field_type == "calc" and fields["bmi"].choices == {}  # a formula
    assert fields["address"].label == "Street, City, State, ZIP"
    assert fields["weight"].validation == "integer" and fields["weight"].row == 12


def test_simple_dictionary_with_a_data_file(tmp_path):
    header = ("record_id,name_first,name_last,address,telephone,email,dob,age,sex,"
              "demographics_complete,height,weight,bmi,comments,mugshot,health_complete,"
              + ",".join(f"race___{k}" for k in range(1, 7))
              + ",ethnicity,race_and_ethnicity_complete")
    row1 = ('1,Nutmeg,Nutmouse,"14 Rose Cottage St.",(405) 321-1111,nutty@mouse.com,'
            "2003-08-30,11,0,2,7,1,1,Character in a book,[document],1,0,0,0,0,1,0,1,2")
    row2 = ('2,Tumtum,Nutmouse,"14 Rose Cottage Blvd.",(405) 321-2222,tummy@mouse.com,'
            "30/08/2003,eleven,3,2,150,6.5,abc,,,0,0,1,0,1,0,0,2,2")
    path = tmp_path / "simple.csv"
    path.write_text("\n".join([header, row1, row2]) + "\n", encoding="utf-8")
    raw = read_redcap(path, dictionary=dictionary("simple"))
    cols = by_key(raw)
    assert cols["race___5"].sub_label == "White" and cols["race___5"].choice_id == "5"
    assert {c.key for c in raw.columns if c.role == "personal"} == {
        "name_first", "name_last", "address", "telephone", "email", "dob"}
    invalid = " ".join(n for n in raw.notes if "not valid" in n)
    # sex 3 is not a choice; weight 6.5 not an integer; bmi "abc" not a number; dob
    # 30/08/2003 not date_ymd. age has no validation: "eleven" passes.
    for name in ("'sex'", "'weight'", "'bmi'", "'dob'"):
        assert name in invalid, name
    assert "'age'" not in invalid and "'height'" not in invalid
    assert raw.frame.loc[1, "sex"] == "3"


# --- malformed input ---------------------------------------------------------------------------

def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        read_redcap(path)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "random.csv"
    path.write_bytes(random.Random(seed).randbytes(2000))
    with pytest.raises(IngestError):
        read_redcap(path)
    with pytest.raises(IngestError):
        read_redcap_dictionary(path)


def test_random_printable_text(tmp_path):
    rng = random.Random(3)
    path = tmp_path / "random.csv"
    path.write_text("".join(rng.choice("ab ,;\"\n\t%&") for _ in range(3000)))
    with pytest.raises(IngestError):
        read_redcap(path)


def test_data_whose_dictionary_lacks_a_column():
    # The checkbox project's data read with another project's dictionary.
    with pytest.raises(IngestError) as err:
        read_redcap(data("checkboxes-1"), dictionary=dictionary("potentially-problematic-values"))
    assert err.value.column == "check_one___1" and err.value.row == 1
    assert "no field for this column" in str(err.value)


def test_dictionary_missing_a_required_column(tmp_path):
    lines = dictionary("checkboxes-1").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "dict.csv"
    path.write_text("\n".join(line.replace('"Field Type"', '"Kind"', 1) for line in lines))
    with pytest.raises(IngestError, match="'field type'"):
        read_redcap(data("checkboxes-1"), dictionary=path)


def test_dictionary_with_bad_choices(tmp_path):
    text = dictionary("checkboxes-1").read_text(encoding="utf-8")
    path = tmp_path / "dict.csv"
    path.write_text(text.replace('"1, one|2, two', '"1 one|2, two'))
    with pytest.raises(IngestError, match="not 'code, label'") as err:
        read_redcap_dictionary(path)
    assert err.value.row == 3


def test_dictionary_given_as_data():
    with pytest.raises(IngestError, match="data dictionary, not records"):
        read_redcap(dictionary("simple"))


@pytest.mark.parametrize("text, message", [
    ("record_id,q1,form_complete\n", "no records"),
    ("Record ID,Question 1,Complete?\n1,Yes,Complete\n", "not a REDCap field name"),
    ("record_id,q1\n1,2,3\n", "the row has 3 cells"),
])
def test_malformed_layouts(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(IngestError, match=message):
        read_redcap(path)


def test_missing_file(tmp_path):
    with pytest.raises(IngestError, match="cannot read"):
        read_redcap(tmp_path / "nope.csv")


# --- writer -> reader -------------------------------------------------------------------------

LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree",
          5: "Strongly agree", -1: "Don't know", -2: "Not applicable"}
ITEMS = {"PS01": "The collaboration's purpose and goals are clear to me.",
         "PS02": "The collaboration's goals are shared openly with all partners."}


def wide_frame(respondents=("r1", "r2", "r3"), waves=("w1", "w1", "w1")) -> pd.DataFrame:
    n = len(respondents)
    return pd.DataFrame({
        "wave_id": pd.Categorical(list(waves)),
        "collaboration_id": pd.Categorical(["c1"] * n),
        "respondent_id": pd.Categorical(list(respondents)),
        "months_involved": pd.array([12, None, 3][:n] + [1] * (n - 3), dtype="Int16"),
        "completed": [True, False, True][:n] + [True] * (n - 3),
        "submitted_at": pd.to_datetime(["2025-03-01 10:00:05", None, "2025-03-02 09:30:00"][:n]
                                       + ["2025-03-03 00:00:00"] * (n - 3), utc=True),
        "PS01": pd.array([5, 2, -1][:n] + [4] * (n - 3), dtype="Int8"),
        "PS02": pd.array([4, None, -2][:n] + [4] * (n - 3), dtype="Int8"),
    })


@pytest.mark.parametrize("personal", [True, False])
def test_round_trip(tmp_path, personal):
    frame = wide_frame()
    path, dict_path = tmp_path / "data.csv", tmp_path / "dictionary.csv"
    write_redcap(frame, path, dict_path, items=ITEMS, labels=LABELS, personal=personal)
    assert path.read_text().splitlines()[0].startswith("record_id,collaboration_survey_timestamp")
    raw = read_redcap(path, dictionary=dict_path)
    cols = by_key(raw)
    assert raw.n_rows == 3 and not any("not valid" in n for n in raw.notes)
    assert raw.frame["record_id"].tolist() == ["r1", "r2", "r3"]
    assert cols["record_id"].role == "respondent_id"
    for item, text in ITEMS.items():
        col = cols[item.lower()]  # REDCap field names are lower case
        assert (col.question, col.role) == (text, "answer")
        assert col.value_labels == {str(c): lab for c, lab in LABELS.items()}
    assert raw.frame["ps01"].tolist() == ["5", "2", "-1"]
    assert raw.frame["ps02"].tolist() == ["4", None, "-2"]
    assert raw.frame["months_involved"].tolist() == ["12", None, "3"]
    assert raw.frame["wave_id"].tolist() == ["w1"] * 3
    assert raw.frame["collaboration_survey_timestamp"].tolist() == [
        "2025-03-01 10:00:05", "[not completed]", "2025-03-02 09:30:00"]
    assert raw.frame["collaboration_survey_complete"].tolist() == ["2", "0", "2"]
    assert cols["collaboration_survey_timestamp"].role == "metadata"
    personal_cols = {c.key for c in raw.columns if c.role == "personal"}
    assert personal_cols == ({"first_name", "email"} if personal else set())
    if personal:
        assert raw.frame["email"].tolist()[0] == "respondent1@example.org"
    # The dictionary has the 18 standard columns and reads back the same way.
    assert pd.read_csv(dict_path).columns.tolist() == list(DICTIONARY_HEADER)


def test_round_trip_across_waves_writes_event_names(tmp_path):
    frame = wide_frame(respondents=("r1", "r1", "r2", "r2"), waves=("W 1", "W 2", "W 1", "W 2"))
    path, dict_path = tmp_path / "data.csv", tmp_path / "dictionary.csv"
    write_redcap(frame, path, dict_path, items=ITEMS, labels=LABELS, personal=False)
    raw = read_redcap(path, dictionary=dict_path)
    assert raw.frame["redcap_event_name"].tolist() == ["w_1_arm_1", "w_2_arm_1"] * 2
    assert raw.column("redcap_event_name").role == "metadata"


def test_writer_rejects_bad_input(tmp_path):
    frame = wide_frame()
    args = (frame, tmp_path / "d.csv", tmp_path / "dd.csv")
    with pytest.raises(ParameterError, match="not a code of labels"):
        write_redcap(*args, items=ITEMS, labels={1: "a", 2: "b", 4: "c", 5: "d"})
    with pytest.raises(ParameterError, match="items must be columns"):
        write_redcap(*args, items={"XX01": "?"}, labels=LABELS)
    with pytest.raises(ParameterError, match="cannot be a REDCap field name"):
        write_redcap(frame.rename(columns={"wave_id": "wave id"}), *args[1:], items=ITEMS,
                     labels=LABELS)
    repeated = wide_frame(respondents=("r1", "r1", "r2")).drop(columns="wave_id")
    with pytest.raises(ParameterError, match="no wave_id"):
        write_redcap(repeated, *args[1:], items=ITEMS, labels=LABELS)
