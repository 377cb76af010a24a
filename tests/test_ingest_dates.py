"""Submission times as each platform writes them (:mod:`collab_stats.ingest.times`), the
mapping's ``date_order`` and its proposal, and no lost ``submitted_at`` through ingest.

Real exports are the fixtures of /work/shared/exports/ (see its SOURCES.md): Google Forms
CSV (US ``M/D/YYYY H:MM:SS``, and ``M/D/YYYY H:MM`` after an Excel re-save) and XLSX
(date-time cells), a Microsoft Forms layout re-saved by Excel, Qualtrics 3-row and legacy
exports (``YYYY-MM-DD HH:MM:SS``) and a REDCap survey project (``[not completed]``). Every
time in them is checked against the file's own text, field by field. The platforms without
a real file (SurveyMonkey, native Microsoft Forms) are checked on what the simulated writers
write in the vendors' documented layouts, and the whole path simulate -> write -> read ->
convert must keep every simulated time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from collab_stats import load_instrument_family, load_programme, simulate_programme
from collab_stats.ingest.convert import convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.forms import write_google_forms, write_microsoft_forms
from collab_stats.ingest.mapping import (
    MappingError,
    column_ids,
    dump_mapping,
    load_mapping,
    parse_mapping,
    propose_mapping,
)
from collab_stats.ingest.raw import RawColumn, RawExport
from collab_stats.ingest.simulated import EXPORT_FORMATS, write_wave_export
from collab_stats.ingest.surveymonkey import write_surveymonkey
from collab_stats.ingest.times import guess_date_order, parse_times

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"
FAMILY = load_instrument_family()
PROGRAMME = load_programme(Path(__file__).parent / "data" / "programme-example.yaml",
                           instrument=FAMILY)
WAVE = "2025-spring"
COLLAB = "north-devon-care-alliance"
SECRET = bytes(range(32))
UTC = "UTC"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


# --- every documented layout -------------------------------------------------------------------

LAYOUTS = [
    # (platform, text as the export holds it, date_order, expected UTC time)
    ("qualtrics", "2024-03-04 09:06:31", None, "2024-03-04 09:06:31"),
    ("surveymonkey csv", "03/04/2024 09:06:31 AM", "MDY", "2024-03-04 09:06:31"),
    ("surveymonkey csv", "03/04/2024 12:06:31 PM", "MDY", "2024-03-04 12:06:31"),
    ("surveymonkey csv", "12/31/2024 12:00:05 AM", "MDY", "2024-12-31 00:00:05"),
    ("surveymonkey xlsx", "2024-03-04T09:06:31", None, "2024-03-04 09:06:31"),
    ("google forms US", "9/27/2024 11:08:37", "MDY", "2024-09-27 11:08:37"),
    ("google forms UK", "27/09/2024 11:08:37", "DMY", "2024-09-27 11:08:37"),
    ("google forms re-saved", "9/27/2024 11:08", "MDY", "2024-09-27 11:08:00"),
    ("google forms xlsx", "2022-08-24T19:08:52.376000", None, "2022-08-24 19:08:52.376"),
    ("microsoft forms csv", "9/1/24 11:27:05", "MDY", "2024-09-01 11:27:05"),
    ("microsoft forms re-saved", "9/1/2024 11:27", "MDY", "2024-09-01 11:27:00"),
    ("redcap", "2024-03-04 09:06:31", None, "2024-03-04 09:06:31"),
    ("redcap minutes", "2024-03-04 09:06", None, "2024-03-04 09:06:00"),
    ("spss", "2018-05-06T10:10:10", None, "2018-05-06 10:10:10"),
    ("with offset", "2024-03-04T09:06:31+01:00", None, "2024-03-04 08:06:31"),
    ("year first", "2024/3/4 09:06", None, "2024-03-04 09:06:00"),
]


@pytest.mark.parametrize(("platform", "text", "order", "expected"), LAYOUTS,
                         ids=[f"{p}:{t}" for p, t, _, _ in LAYOUTS])
def test_each_platform_layout_is_read(platform, text, order, expected):
    parsed = parse_times([text], date_order=order, timezone=UTC)
    assert parsed.times == [utc(expected)] and parsed.unreadable == ()


def test_the_date_order_decides_an_ambiguous_slash_date():
    cells = ["03/04/2024 10:00"]
    assert parse_times(cells, date_order="MDY").times == [utc("2024-03-04 10:00")]
    assert parse_times(cells, date_order="DMY").times == [utc("2024-04-03 10:00")]
    # without an order only unambiguous dates are read; the slash date is counted unreadable
    assert parse_times(cells).unreadable == (0,)


@pytest.mark.parametrize("text", ["31/31/2024 10:00", "2/30/2024 10:00", "13/01/2024 10:00",
                                  "9/27/2024 13:00 PM", "9/27/2024 24:00", "yesterday",
                                  "2024", "45356.38", "1e9", "2024-13-01 10:00"])
def test_impossible_or_foreign_times_are_unreadable_never_guessed(text):
    parsed = parse_times(["9/1/2024 10:00", text], date_order="MDY")
    assert parsed.times[1] is None and parsed.unreadable == (1,)


def test_markers_and_blanks_are_not_unreadable():
    parsed = parse_times(["[not completed]", "", None, "  ", "2024-03-04 09:06"])
    assert parsed.markers == (0,) and parsed.unreadable == ()
    assert parsed.times[:4] == [None] * 4


def test_a_format_is_honoured_and_iso_still_read():
    parsed = parse_times(["04.03.2024 09:06", "2024-03-04T09:06:00", "03/04/2024 09:06"],
                         fmt="%d.%m.%Y %H:%M")
    assert parsed.times[:2] == [utc("2024-03-04 09:06")] * 2
    assert parsed.unreadable == (2,)


def test_local_times_are_converted_and_daylight_saving_gaps_counted():
    parsed = parse_times(["2024-07-01 10:00", "2024-03-31 01:30", "2024-10-27 01:30"],
                         timezone="Europe/London")
    assert parsed.times[0] == utc("2024-07-01 09:00")  # BST
    assert parsed.times[1] == utc("2024-03-31 01:00")  # skipped hour: moved forward
    assert parsed.times[2] == utc("2024-10-27 01:30")  # repeated hour: standard time
    assert parsed.adjusted == (1, 2) and parsed.unreadable == ()


# --- guessing the order ------------------------------------------------------------------------

def test_the_order_is_taken_from_a_field_above_12():
    assert guess_date_order(["1/2/2024", "31/01/2024 10:00"], "google_forms").order == "DMY"
    guess = guess_date_order(["1/2/2024", "01/31/2024 10:00"], "google_forms")
    assert (guess.order, guess.is_default) == ("MDY", False)
    assert "'01/31/2024 10:00'" in guess.reason


def test_without_evidence_the_platform_default_is_taken_and_said():
    guess = guess_date_order(["1/2/2024 10:00", "3/4/2024 11:00"], "google_forms")
    assert (guess.order, guess.is_default) == ("MDY", True)
    assert "default" in guess.reason
    generic = guess_date_order(["1/2/2024 10:00"], "generic")
    assert generic.order is None and "set date_order" in generic.reason
    assert guess_date_order(["2024-01-02 10:00"], "google_forms").n_slash_dates == 0


# --- the mapping -------------------------------------------------------------------------------

def _doc(rule) -> dict:
    return {"instrument": FAMILY.id, "columns": {"Timestamp": rule, "Q": "PS01"}}


def test_date_order_is_read_validated_and_written_back():
    mapping = parse_mapping(_doc({"meta": "submitted_at", "date_order": "DMY"}), family=FAMILY)
    assert mapping.columns["Timestamp"].date_order == "DMY"
    assert "date_order: DMY" in dump_mapping(mapping)
    problems = []
    for rule in ({"meta": "submitted_at", "date_order": "DDMMYY"},
                 {"meta": "status", "date_order": "DMY"},
                 {"meta": "submitted_at", "date_order": "DMY", "format": "%d/%m/%Y"}):
        with pytest.raises(MappingError) as info:
            parse_mapping(_doc(rule), family=FAMILY)
        problems.append(str(info.value))
    assert "must be one of MDY, DMY, YMD" in problems[0] and "'DDMMYY'" in problems[0]
    assert "only a submitted_at column takes a date_order" in problems[1]
    assert "either format or date_order" in problems[2]


def _forms_export(times: list[str], source: str = "form.csv") -> RawExport:
    columns = (RawColumn("Timestamp", "Timestamp", role="metadata"),
               RawColumn("Q", "Partners trust each other"))
    frame = pd.DataFrame({"Timestamp": times, "Q": ["Agree"] * len(times)}, dtype=object)
    return RawExport(source, "google_forms", "google-forms-csv", frame, columns,
                     tuple(range(2, 2 + len(times))))


def test_the_proposal_sets_the_order_from_the_data(tmp_path):
    proposal = propose_mapping(_forms_export(["3/4/2024 10:00:00", "25/4/2024 11:00:00"]),
                               FAMILY)
    assert proposal.mapping.columns["Timestamp"].date_order == "DMY"
    assert proposal.notes == ()  # shown by the data: nothing to check
    path = tmp_path / "m.yaml"
    path.write_text(dump_mapping(proposal.mapping))
    assert load_mapping(path, family=FAMILY).columns["Timestamp"].date_order == "DMY"


def test_a_default_order_is_proposed_with_a_comment_saying_so(tmp_path):
    proposal = propose_mapping(_forms_export(["3/4/2024 10:00:00", "5/6/2024 11:00:00"]),
                               FAMILY)
    assert proposal.mapping.columns["Timestamp"].date_order == "MDY"
    assert len(proposal.notes) == 1 and "default" in proposal.notes[0]
    text = dump_mapping(proposal.mapping)
    lines = text.splitlines()
    at = lines.index("  Timestamp:")
    assert lines[at - 1].startswith("  # date_order MDY:") and "default" in lines[at - 1]
    assert "check it" in lines[at - 1]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    loaded = load_mapping(path, family=FAMILY)  # comments are not part of the meaning
    assert loaded.columns == proposal.mapping.columns and not loaded.comments
    row = proposal.table.set_index("column").loc["Timestamp"]
    assert "date_order MDY" in row["reason"]


def test_iso_times_get_no_date_order():
    proposal = propose_mapping(_forms_export(["2024-03-04T10:00:00"]), FAMILY)
    assert proposal.mapping.columns["Timestamp"].date_order == ""
    assert not proposal.mapping.comments


# --- converting: never silent ------------------------------------------------------------------

def _convert(raw: RawExport, rule) -> object:
    mapping = parse_mapping({"instrument": FAMILY.id,
                             "columns": {"Timestamp": rule, "Q": "drop"}}, family=FAMILY)
    result = convert_export(raw, mapping, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET,
                            collaboration=COLLAB)
    assert result.report.rows_accepted == raw.n_rows  # a bad time never quarantines
    return result


def test_a_uk_form_is_read_in_the_mapping_order():
    raw = _forms_export(["03/04/2024 10:00:00", "27/09/2024 11:08:37"])
    result = _convert(raw, {"meta": "submitted_at", "date_order": "DMY"})
    assert list(result.data.respondents["submitted_at"]) == [utc("2024-04-03 10:00"),
                                                            utc("2024-09-27 11:08:37")]
    assert result.report.warnings == ()


def test_unreadable_times_are_counted_and_warned_with_the_first_example():
    times = ["9/27/2024 11:08:37", "31/31/2024", "9/28/2024 10:00:00", "yesterday", None]
    result = _convert(_forms_export(times), "submitted_at")
    report = result.report
    (unusable,) = report.unusable_values
    assert (unusable.field, unusable.column, unusable.n_unusable, unusable.n_values) == (
        "submitted_at", "Timestamp", 2, 4)
    assert (unusable.first_row, unusable.first_value) == (3, "31/31/2024")
    (warning,) = report.warnings
    assert warning.startswith("submitted_at (column 'Timestamp'): 2 of 4 values could not be "
                              "read as a time (ISO 8601 or MDY dates, date order guessed)")
    assert "(first: row 3 '31/31/2024')" in warning and "not quarantined" in warning
    assert any("read as MDY" in n and "'9/27/2024 11:08:37' has a second field" in n
               for n in report.notes)
    issues = result.cell_issues
    assert list(issues.loc[issues["issue"] == "unreadable_time", "row"]) == [3, 5]
    assert result.data.respondents["submitted_at"].notna().sum() == 2
    frame = report.unusable_frame()
    assert frame[["field", "n_unusable", "n_values"]].values.tolist() == [
        ["submitted_at", 2, 4]]


def test_a_wrong_date_order_makes_the_whole_column_a_warning():
    raw = _forms_export(["9/27/2024 11:08:37", "9/28/2024 10:00:00"])
    result = _convert(raw, {"meta": "submitted_at", "date_order": "DMY"})
    (warning,) = result.report.warnings
    assert warning.startswith("submitted_at (column 'Timestamp'): all 2 values could not be "
                              "read as a time (ISO 8601 or DMY dates, date order from the "
                              "mapping)")
    assert warning.endswith("no value of the column could be used: check the mapping")


def test_redcap_not_completed_is_noted_not_counted():
    columns = (RawColumn("ts", "survey_timestamp", role="metadata"), RawColumn("Q", "Q"))
    frame = pd.DataFrame({"ts": ["2024-03-04 09:06:31", "[not completed]", "2024-03-05 10:00"],
                          "Q": ["1", "2", "3"]}, dtype=object)
    raw = RawExport("r.csv", "redcap", "redcap-raw", frame, columns, (2, 3, 4))
    mapping = parse_mapping({"instrument": FAMILY.id, "columns": {"ts": "submitted_at",
                                                                  "Q": "drop"}}, family=FAMILY)
    result = convert_export(raw, mapping, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET,
                            collaboration=COLLAB)
    assert result.report.unusable_values == () and result.report.warnings == ()
    assert any("1 rows hold [not completed] instead of a time" in n
               for n in result.report.notes)
    assert result.data.respondents["submitted_at"].isna().tolist() == [False, True, False]


# --- real exports ------------------------------------------------------------------------------

REAL = [
    # (file, the time column as a mapping names it (its unique import id, else its key),
    #  the date order its slash dates show)
    ("google_forms/DS-4002__DS-4002-fa22-survey-results.xlsx", "Timestamp", None),
    ("google_forms/DS-4002__DS-4002-sp24-survey-results.csv", "Timestamp", "MDY"),
    ("google_forms/DS-4002__DS-4002-sp24-survey-results.xlsx", "Timestamp", None),
    ("google_forms/DS-4002__Hot-Dog-Form-Fa24.csv", "Completion time", "MDY"),
    ("google_forms/DS-4002__Is_hotdog_a_sandwich___Responses_.xlsx", "Timestamp", None),
    ("google_forms/DS-4002__fa25_Is_hotdog_a_sandwich___Responses_.csv", "Timestamp", "MDY"),
    ("google_forms/DS-4002__hot_dog_survey_spring25.xlsx_-_Form_Responses_1.csv", "Timestamp",
     "MDY"),
    ("qualtrics/qualtRics__sample.csv", "recordedDate", None),
    ("qualtrics/qualtRics__sample_legacy.csv", "V9", None),
    ("qualtrics/QualtricsTools__No_Basis_for_Evaluation__Insights_.csv", "endDate", None),
    ("qualtrics/QualtricsTools__No_Basis_for_Evaluation__Legacy_.csv", "V9", None),
    ("qualtrics/QualtricsTools__SidebySide_Questions__Insights_.csv", "endDate", None),
    ("redcap/REDCapR__survey__data.csv", "prescreening_survey_timestamp", None),
    ("redcap/REDCapR__survey__data.csv", "participant_morale_questionnaire_timestamp", None),
]
_NUMBERS = re.compile(r"\d+")


def fields_of(text: str, order: str | None) -> tuple[int, ...]:
    """(year, month, day, hour, minute, second, microsecond) as the text writes them."""
    numbers = _NUMBERS.findall(text)
    if re.match(r"^\d{4}-", text):
        year, month, day, *rest = numbers
    else:
        first, second, year, *rest = numbers
        month, day = (first, second) if order == "MDY" else (second, first)
    hour, minute, second_, fraction = [*rest, "0", "0", "0", "0"][:4]
    hour = int(hour)
    if re.search(r"[AP]M$", text):
        hour = hour % 12 + (12 if text.endswith("PM") else 0)
    return (int(year), int(month), int(day), hour, int(minute), int(second_),
            int(fraction.ljust(6, "0")[:6]))


@pytest.mark.parametrize(("file", "column", "order"), REAL,
                         ids=[f"{Path(f).name}:{c}" for f, c, _ in REAL])
def test_every_time_of_a_real_export_is_read_as_its_text(file, column, order):
    path = EXPORTS / file
    options = ({"dictionary": Path(str(path).replace("__data.csv", "__dictionary.csv"))}
               if file.startswith("redcap/") else {})
    raw = read_export(path, **options)
    texts = list(raw.frame[column_ids(raw)[column].key])
    assert guess_date_order(texts, raw.format).order == order
    mapping = parse_mapping({"instrument": FAMILY.id, "columns": {column: "submitted_at"}},
                            family=FAMILY)
    result = convert_export(raw, mapping, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET,
                            collaboration=COLLAB)
    assert result.report.rows_accepted == raw.n_rows
    assert result.report.unusable_values == () and result.report.warnings == ()
    got = list(result.data.respondents["submitted_at"])
    readable = [t is not None and not t.startswith("[") for t in texts]
    assert [not pd.isna(g) for g in got] == readable  # every time, and only times, read
    for text, stamp in zip(texts, got, strict=True):
        if not pd.isna(stamp):
            assert (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute,
                    stamp.second, stamp.microsecond) == fields_of(text, order), text
    if order is not None:  # a proposal for the export writes the order down
        proposal = propose_mapping(raw, FAMILY, PROGRAMME)
        (rule,) = [r for r in proposal.mapping.columns.values() if r.target == "submitted_at"]
        assert rule.date_order == order


def test_a_resaved_csv_keeps_the_times_of_its_xlsx_to_the_minute():
    """sp24: the CSV (re-saved by Excel, US minutes) and the XLSX (date-time cells) are the
    same responses; read, their times agree to the minute."""
    folder = EXPORTS / "google_forms"
    csv = read_export(folder / "DS-4002__DS-4002-sp24-survey-results.csv")
    xlsx = read_export(folder / "DS-4002__DS-4002-sp24-survey-results.xlsx")
    from_csv = parse_times(list(csv.frame["Timestamp"]), date_order="MDY").times
    from_xlsx = parse_times(list(xlsx.frame["Timestamp"])).times
    assert None not in from_csv and None not in from_xlsx
    assert [t.floor("min") for t in from_xlsx] == from_csv


# --- simulate -> write -> read: no time lost ---------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=5, n_collaborations=3, n_waves=1)


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_the_demo_exports_keep_every_submission_time(sim, fmt, tmp_path):
    path, mapping_path = write_wave_export(sim, "2025-03", fmt, tmp_path)
    options = ({"dictionary": tmp_path / "2025-03-redcap-dictionary.csv"}
               if fmt == "redcap" else {})
    raw = read_export(path, **options)
    mapping = load_mapping(mapping_path, family=sim.instrument)
    result = convert_export(raw, mapping, sim.instrument, sim.programme, wave_id="2025-03",
                            secret=SECRET, min_completion=0.0)
    report = result.report
    assert report.warnings == () and report.unusable_values == ()
    truth = sim.data.wave("2025-03").respondents
    want = truth.set_index(truth["respondent_id"].astype(str))
    got = result.data.respondents
    from collab_stats.ingest.pseudonym import pseudonymise

    keys = pseudonymise(want.index.to_numpy(), secret=SECRET, programme_id=sim.programme.id)
    expected = pd.Series(want["submitted_at"].dt.floor("s").to_numpy(), index=keys)
    got = got.set_index(got["respondent_id"].astype(str))["submitted_at"]
    expected = expected.loc[got.index]
    if fmt == "redcap":
        # REDCap records a survey's time only when it is submitted: "[not completed]"
        done = want["completed"].astype(bool).to_numpy()
        incomplete = set(pd.Index(keys)[~done])
        assert set(got.index[got.isna()]) == incomplete
        assert any("[not completed]" in n for n in report.notes) == bool(incomplete)
        got, expected = got[got.notna()], expected[got.notna()]
    assert got.notna().all()
    assert (got == expected).all()


WRITERS = {
    "surveymonkey-csv": (write_surveymonkey, {"excel": False}, "End Date"),
    "surveymonkey-xlsx": (write_surveymonkey, {"excel": True}, "End Date"),
    "google-forms-csv": (write_google_forms, {"excel": False}, "Timestamp"),
    "google-forms-xlsx": (write_google_forms, {"excel": True}, "Timestamp"),
    "microsoft-forms-csv": (write_microsoft_forms, {"excel": False}, "Completion time"),
    "microsoft-forms-xlsx": (write_microsoft_forms, {"excel": True}, "Completion time"),
}
WHEN = pd.to_datetime(["2025-03-04 09:06:31", "2025-03-13 14:00:05", "2025-12-01 00:30:00",
                       "2025-01-02 23:59:59"], utc=True)


@pytest.mark.parametrize("variant", sorted(WRITERS))
def test_each_writer_writes_times_as_its_platform_and_they_come_back(variant, tmp_path):
    writer, options, column = WRITERS[variant]
    frame = pd.DataFrame({"q": ["Agree", "Disagree", None, "Agree"], "submitted_at": WHEN})
    suffix = "xlsx" if options["excel"] else "csv"
    path = writer(frame, tmp_path / f"export.{suffix}", questions={"q": "Do partners agree?"},
                  **options)
    raw = read_export(path)
    texts = list(raw.frame[column])
    layout = {"surveymonkey-csv": r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d [AP]M",
              "google-forms-csv": r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d:\d\d",
              "microsoft-forms-csv": r"\d{1,2}/\d{1,2}/\d\d \d{1,2}:\d\d:\d\d"}.get(
        variant, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
    assert all(re.fullmatch(layout, t) for t in texts), texts
    guess = guess_date_order(texts, raw.format)
    assert guess.order in (None, "MDY")  # US layouts: 3/13 shows the order
    parsed = parse_times(texts, date_order=guess.order)
    assert parsed.unreadable == ()
    assert parsed.times == list(WHEN)
