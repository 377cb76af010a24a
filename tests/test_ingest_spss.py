"""SPSS .sav files, against pyreadstat's own test data (Roche/pyreadstat, test_data/basic,
Apache-2.0; see /work/shared/exports/SOURCES.md).

Expected values were read off the files themselves; the pyreadstat test suite
(tests/test_basic.py) asserts the same labels, missing ranges and dates."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from collab_stats.errors import IngestError, ParameterError
from collab_stats.ingest.spss import read_spss, write_spss

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"
SPSS = EXPORTS / "spss"
FILES = ("hebrews", "missing_test", "ordered_category", "sample", "sample_missing",
         "simple_alltypes")


def sav(name: str) -> Path:
    return SPSS / f"pyreadstat__{name}.sav"


def test_every_fixture_file_is_covered():
    assert {p.name for p in SPSS.iterdir()} == {sav(n).name for n in FILES}


@pytest.mark.parametrize("name, n_rows", [
    ("hebrews", 99), ("missing_test", 2), ("ordered_category", 4), ("sample", 5),
    ("sample_missing", 7), ("simple_alltypes", 6)])
def test_contract(name, n_rows):
    raw = read_spss(sav(name))
    assert (raw.format, raw.variant, raw.encoding) == ("spss", "spss-sav", "")
    assert raw.n_rows == n_rows and raw.row_numbers == tuple(range(1, n_rows + 1))
    assert list(raw.frame.columns) == [c.key for c in raw.columns]
    assert all(c.import_id == c.header == c.key for c in raw.columns)
    # cells: stored numbers as floats, strings as str, blanks as None - nothing else.
    for key in raw.frame.columns:
        assert {type(v) for v in raw.frame[key]} <= {float, str, type(None)}, key


def test_non_ascii_variable_name():
    raw = read_spss(sav("hebrews"))
    assert [c.key for c in raw.columns] == ["ותק_ב"]
    assert raw.frame["ותק_ב"].tolist()[:4] == [33.0, 34.0, 15.0, 35.0]
    assert raw.columns[0].role == "answer" and raw.columns[0].question == ""
    assert any("no respondent id" in n for n in raw.notes)


def test_missing_test_keeps_the_user_missing_code():
    raw = read_spss(sav("missing_test"))
    col = raw.column("var1")
    assert col.value_labels == {1.0: "missing"}
    assert col.missing_codes == (1.0,)
    assert raw.frame["var1"].tolist() == [1.0, 2.0]  # 1.0 kept: validation decides


def test_ordered_category_value_labels():
    raw = read_spss(sav("ordered_category"))
    assert raw.column("Col1").value_labels == {1.0: "high", 2.0: "low", 3.0: "medium"}
    assert raw.frame["Col1"].tolist() == [1.0, 2.0, 3.0, 2.0]


def test_sample_labels_and_dates():
    raw = read_spss(sav("sample"))
    assert [c.question for c in raw.columns] == [
        "character", "numeric", "date", "datetime", "labeled", "ordinal", "time"]
    assert raw.column("mylabl").value_labels == {1.0: "Male", 2.0: "Female"}
    assert raw.column("myord").value_labels == {1.0: "low", 2.0: "medium", 3.0: "high"}
    assert raw.frame["mydate"].tolist() == [
        "2018-05-06", "1880-05-06", "1960-01-01", "1583-01-01", None]
    assert raw.frame["dtime"].tolist()[:2] == ["2018-05-06T10:10:10", "1880-05-06T10:10:10"]
    assert raw.frame["mytime"].tolist() == ["10:10:10", "23:10:10", "00:00:00", "16:10:10", None]
    assert raw.frame["mychar"].tolist() == list("abcde")
    assert raw.frame["mynum"].tolist() == [1.1, 1.2, -1000.3, -1.4, 1000.3]
    assert all(c.missing_codes == () for c in raw.columns)


def test_sample_missing_codes_and_range():
    raw = read_spss(sav("sample_missing"))
    # mynum: MISSING VALUES mynum (2000 THRU 3000, -1).
    assert raw.column("mynum").missing_codes == ((2000.0, 3000.0), -1.0)
    assert raw.column("mylabl").missing_codes == (-1.0,)
    assert raw.column("myord").missing_codes == (-1.0, -2.0, -3.0)
    assert raw.column("mylabl").value_labels[-1.0] == "undetermined"
    assert raw.frame["mynum"].tolist()[5:] == [-1.0, 2500.0]  # user-missing kept as numbers
    assert raw.frame["myord"].tolist()[5:] == [-1.0, -3.0]
    assert raw.frame["mylabl"].tolist()[5:] == [-1.0, None]  # system-missing -> None
    assert raw.frame["mychar"].tolist()[5:] == ["Z", None]  # blank string -> None


def test_simple_alltypes_sets_ranges_and_dates():
    raw = read_spss(sav("simple_alltypes"))
    assert raw.column("x").value_labels == {1.0: "red", 2.0: "green", 3.0: "blue"}
    assert raw.column("x").missing_codes == (7.0, 8.0, 99.0)
    assert raw.column("z").missing_codes == ((-999.0, 0.0), 999.0)
    assert raw.column("z").question == "Numberic variable with missing value range"  # sic
    # Dichotomy multiple-response set "mymrset" (counted value 1) over bool1..bool3.
    for k in (1, 2, 3):
        col = raw.column(f"bool{k}")
        assert (col.question, col.sub_label, col.choice_id) == (
            "My multiple response set", f"Response #{k}", f"bool{k}")
    assert any("'mymrset' (dichotomy, counted value 1): bool1, bool2, bool3" in n
               for n in raw.notes)
    assert raw.column("ca_subvar_2").question == "categorical_array"  # unlabelled C set
    assert raw.column("ca_subvar_2").choice_id == ""
    assert raw.frame["y"].tolist()[:4] == ["2000-01-01", "2000-01-02", "1950-12-24",
                                          "1776-07-04"]  # ADATE10
    assert raw.frame["date"].tolist()[0] == "2014-11-01"  # SDATE10
    # QYR8 (left as seconds by pyreadstat): Q4 2014 for the 2014 rows, Q1 2015 after.
    assert raw.frame["quarter"].tolist() == ["2014-10-01"] * 4 + ["2015-01-01"] * 2
    assert raw.frame["str"].tolist()[3:5] == ["NA", None]  # the text "NA" is an answer


# --- roles ------------------------------------------------------------------------------------

def test_roles_from_names_and_labels(tmp_path):
    frame = pd.DataFrame({
        "ResponseId": ["R_1", "R_2"], "RecipientEmail": ["a@b.org", "c@d.org"],
        "IPAddress": ["10.0.0.1", "10.0.0.2"], "LocationLatitude": [51.5, 52.1],
        "Q_contact": ["x", "y"], "Progress": [100.0, 40.0], "Q1": [4.0, 2.0],
        "Q2": [1.0, 3.0], "id": [1.0, 2.0]})
    path = tmp_path / "roles.sav"
    write_spss(frame, path, variable_labels={
        "Q_contact": "Your e-mail address", "Q1": "Which needs does the collaboration address?"})
    roles = {c.key: c.role for c in read_spss(path).columns}
    assert roles == {"ResponseId": "respondent_id", "RecipientEmail": "personal",
                     "IPAddress": "personal", "LocationLatitude": "personal",
                     "Q_contact": "personal", "Progress": "metadata", "Q1": "answer",
                     "Q2": "answer", "id": "answer"}  # only the first id variable


# --- writer -> reader --------------------------------------------------------------------------

AGREE = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree",
         5: "Strongly agree", -1: "Don't know", -2: "Not applicable"}


def test_round_trip(tmp_path):
    frame = pd.DataFrame({
        "respondent_id": pd.Categorical(["r1", "r2", "r3"]),
        "PS01": pd.array([5, None, -1], dtype="Int8"),
        "PS02": pd.array([-2, 3, 4], dtype="Int8"),
        "months": [12.5, -99.0, 3.0],
        "completed": [True, False, True],
        "submitted_at": pd.to_datetime(["2025-03-01 10:00:05", None, "2025-03-02 09:30:00"]),
    })
    path = tmp_path / "wave.sav"
    write_spss(frame, path,
               variable_labels={"PS01": "Purpose is clear.", "PS02": "Goals are shared."},
               value_labels={"PS01": AGREE, "PS02": AGREE},
               missing_codes={"PS01": [-1, -2], "PS02": [-1, -2],
                              "months": [(-999.0, -90.0), -1.0]})
    raw = read_spss(path)
    assert raw.n_rows == 3
    assert raw.column("respondent_id").role == "respondent_id"
    assert raw.frame["respondent_id"].tolist() == ["r1", "r2", "r3"]
    ps01 = raw.column("PS01")
    assert ps01.question == "Purpose is clear."
    assert ps01.value_labels == {float(k): v for k, v in AGREE.items()}
    assert ps01.missing_codes == (-1.0, -2.0)
    assert raw.column("months").missing_codes == ((-999.0, -90.0), -1.0)
    assert raw.frame["PS01"].tolist() == [5.0, None, -1.0]
    assert raw.frame["PS02"].tolist() == [-2.0, 3.0, 4.0]
    assert raw.frame["months"].tolist() == [12.5, -99.0, 3.0]
    assert raw.frame["completed"].tolist() == [1.0, 0.0, 1.0]
    assert raw.frame["submitted_at"].tolist() == ["2025-03-01T10:00:05", None,
                                                  "2025-03-02T09:30:00"]


def test_round_trip_non_ascii_name(tmp_path):
    path = tmp_path / "names.sav"
    write_spss(pd.DataFrame({"ותק_ב": [1.0, 2.0], "Größe": ["groß", "klein"]}), path,
               variable_labels={"Größe": "Größe der Organisation"})
    raw = read_spss(path)
    assert [c.key for c in raw.columns] == ["ותק_ב", "Größe"]
    assert raw.column("Größe").question == "Größe der Organisation"
    assert raw.frame["Größe"].tolist() == ["groß", "klein"]


def test_writer_rejects_bad_input(tmp_path):
    frame = pd.DataFrame({"q": [1.0, 2.0]})
    with pytest.raises(ParameterError, match="at most three codes"):
        write_spss(frame, tmp_path / "a.sav", missing_codes={"q": [-1, -2, -3, -4]})
    with pytest.raises(ParameterError, match="one \\(low, high\\) range"):
        write_spss(frame, tmp_path / "a.sav", missing_codes={"q": [(-9, -5), (-4, -3)]})
    with pytest.raises(ParameterError, match="not found: \\['nope'\\]"):
        write_spss(frame, tmp_path / "a.sav", variable_labels={"nope": "?"})


# --- malformed input ---------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"",
    random.Random(0).randbytes(3000),
    b"$FL2" + random.Random(1).randbytes(500),  # the signature, then garbage
    b"record_id,q1\n1,2\n",  # a CSV
    sav("sample").read_bytes()[:300],  # truncated
], ids=["empty", "random", "signature-then-garbage", "csv", "truncated"])
def test_malformed(tmp_path, content):
    path = tmp_path / "bad.sav"
    path.write_bytes(content)
    with pytest.raises(IngestError, match="not a readable SPSS file"):
        read_spss(path)


def test_missing_file(tmp_path):
    with pytest.raises(IngestError):
        read_spss(tmp_path / "nope.sav")
