"""Values that cannot be used are counted and warned about, never blanked without a trace
(:mod:`collab_stats.ingest.convert`, "Values that cannot be used").

Exports are built by hand as :class:`RawExport` objects (what the readers return), against
the example programme in ``tests/data`` and instrument version 1.0 (months involved 0-600).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from collab_stats import load_instrument_family, load_programme
from collab_stats.ingest.convert import QUARANTINE_REASONS, ConvertResult, convert_export
from collab_stats.ingest.mapping import parse_mapping
from collab_stats.ingest.raw import RawColumn, RawExport

FAMILY = load_instrument_family()
ITEMS = FAMILY.version("1.0").item_ids
PROGRAMME = load_programme(Path(__file__).parent / "data" / "programme-example.yaml",
                           instrument=FAMILY)
WAVE = "2025-spring"
SECRET = bytes(range(32))

COLUMNS = (
    RawColumn("Id", "ExternalReference", role="respondent_id"),
    RawColumn("Finished", "Finished", role="metadata"),
    RawColumn("Progress", "Progress", role="metadata"),
    RawColumn("Duration", "Duration (in seconds)", role="metadata"),
    RawColumn("When", "RecordedDate", role="metadata"),
    RawColumn("Collab", "Q1"), RawColumn("Partner", "Q2"), RawColumn("Sector", "Q3"),
    RawColumn("Role", "Q4"), RawColumn("Months", "Q5"), RawColumn("VM", "Q6"),
    *(RawColumn(f"I_{i}", f"Q10_{k}") for k, i in enumerate(ITEMS)),
)
MAPPING = parse_mapping({
    "instrument": FAMILY.id,
    "labels": {"Disagree": 2, "Agree": 4},
    "columns": {
        "Id": "respondent_id", "Finished": "finished", "Progress": "progress",
        "Duration": "duration", "When": "submitted_at",
        "Collab": {"profile": "collaboration"}, "Partner": {"profile": "partner_organisation"},
        "Sector": {"profile": "sector"}, "Role": {"profile": "role"},
        "Months": {"profile": "months_involved"}, "VM": {"select": "value_modes"},
        **{f"I_{i}": i for i in ITEMS},
    },
}, family=FAMILY)


def row(rid: str | None, **cells) -> dict:
    out = {"Id": rid, "Finished": "True", "Progress": "100", "Duration": "600",
           "When": "2025-03-10 09:00:00", "Collab": "North Devon Care Alliance",
           "Partner": "Devon County Council", "Sector": "Local authority or social care",
           "Role": "staff", "Months": "12", "VM": None}
    out.update({f"I_{i}": "Agree" for i in ITEMS})
    out.update(cells)
    return out


def export(rows: list[dict]) -> RawExport:
    frame = pd.DataFrame([{c.key: r.get(c.key) for c in COLUMNS} for r in rows],
                         columns=[c.key for c in COLUMNS], dtype=object)
    return RawExport("wave.csv", "qualtrics", "test", frame, COLUMNS,
                     tuple(range(4, 4 + len(rows))))


def convert(rows: list[dict], **kw) -> ConvertResult:
    raw = export(rows)
    result = convert_export(raw, MAPPING, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET, **kw)
    report = result.report
    assert report.rows_read == raw.n_rows == report.rows_accepted + report.n_quarantined
    assert set(report.rows_quarantined) == set(QUARANTINE_REASONS)
    return result


def unusable(result: ConvertResult) -> dict[str, object]:
    return {u.field: u for u in result.report.unusable_values}


BAD_MONTHS = ["-5", "99999999999", "abc", "1e9", "3.7"]


def test_invalid_months_are_counted_with_the_first_example_and_the_rows_kept():
    rows = [row("a", Months="12"), *(row(f"b{k}", Months=m) for k, m in enumerate(BAD_MONTHS)),
            row("c", Months=None), row("d", Months="600")]
    result = convert(rows)
    assert result.report.rows_accepted == len(rows)  # not a quarantine reason
    months = result.data.respondents["months_involved"]
    assert months.notna().tolist() == [True, *[False] * 5, False, True]
    u = unusable(result)["months_involved"]
    assert (u.column, u.n_unusable, u.n_values, u.first_row, u.first_value) == (
        "Months", 5, 7, 5, "-5")
    assert not u.all_unusable
    (warning,) = result.report.warnings
    assert warning == ("months_involved (column 'Months'): 5 of 7 values are not a whole "
                       "number of months in 0-600 (first: row 5 '-5'); read as NA, rows kept")
    issues = result.cell_issues
    assert issues.loc[issues["issue"] == "invalid_months", "row"].tolist() == [5, 6, 7, 8, 9]


def test_a_column_with_no_usable_value_gives_its_own_warning():
    result = convert([row(f"r{k}", Months=m) for k, m in enumerate(BAD_MONTHS)])
    u = unusable(result)["months_involved"]
    assert u.all_unusable and u.n_values == 5
    (warning,) = result.report.warnings
    assert warning.startswith("months_involved (column 'Months'): all 5 values are not a "
                              "whole number of months in 0-600 (first: row 4 '-5')")
    assert warning.endswith("no value of the column could be used: check the mapping")


def test_invalid_timestamps_are_counted_and_keep_their_rows():
    rows = [row("a", When="2025-03-10 09:00:00"), row("b", When="2025-02-30 10:00:00"),
            row("c", When="soon"), row("d", When=None)]
    result = convert(rows)
    assert result.report.rows_accepted == 4
    u = unusable(result)["submitted_at"]
    assert (u.n_unusable, u.n_values, u.first_row, u.first_value) == (2, 3, 5,
                                                                     "2025-02-30 10:00:00")
    assert "kept without a time, rows not quarantined" in result.report.warnings[0]


def test_every_field_that_can_go_wrong_is_counted_once_per_column():
    rows = [row("a", Finished="perhaps", Progress="lots", Duration="slow", Sector="Space",
                Role="Wizard", VM="Telepathy"),
            row("b", Collab="Atlantis"),
            row("c", Partner="Nobody Ltd")]
    result = convert(rows, speeder_seconds=60)
    got = {f: (u.column, u.n_unusable, u.first_row, u.outcome)
           for f, u in unusable(result).items()}
    assert got == {
        "finished": ("Finished", 1, 4, "completion taken from progress, else complete"),
        "progress": ("Progress", 1, 4, "those responses count as complete"),
        "duration": ("Duration", 1, 4, "those responses are not checked for speeding"),
        "sector": ("Sector", 1, 4, "read as NA, rows kept"),
        "role": ("Role", 1, 4, "read as NA, rows kept"),
        "select:value_modes": ("VM", 1, 4, "those options left out, rows kept"),
        "collaboration": ("Collab", 1, 5, "rows quarantined (unknown_collaboration)"),
        "partner_organisation": ("Partner", 1, 6, "rows quarantined (unknown_partner)"),
    }
    assert len(result.report.warnings) == len(got)
    assert result.report.rows_quarantined["unknown_collaboration"] == 1
    assert result.report.rows_quarantined["unknown_partner"] == 1
    frame = result.report.unusable_frame()
    assert set(frame["field"]) == set(got) and (frame["source"] == "wave.csv").all()


def test_blank_finished_or_progress_cells_are_not_unusable_values():
    result = convert([row("a", Finished=None, Progress=None), row("b")])
    assert result.report.unusable_values == () and result.report.warnings == ()


def test_duration_is_only_judged_when_speeders_are_checked():
    assert convert([row("a", Duration="slow")]).report.unusable_values == ()


def test_respondent_ids_blank_in_every_row_warn_but_do_not_refuse_the_file():
    result = convert([row(None), row(None), row("")])
    report = result.report
    assert report.rows_accepted == 3  # accepted: the answers are valid for this wave
    (warning,) = report.warnings
    assert warning.startswith("respondent id column 'Id' is blank in every row: respondents "
                              "cannot be linked across waves and duplicates cannot be "
                              "detected")
    assert result.data.respondents["respondent_id"].is_unique  # a pseudonym per file row


def test_some_blank_respondent_ids_are_a_note():
    result = convert([row(None), row("b")])
    assert result.report.warnings == ()
    assert any("1 rows have no respondent id" in n for n in result.report.notes)


def test_a_clean_export_has_no_warnings():
    result = convert([row("a"), row("b", Months="0")])
    assert result.report.warnings == () and result.report.unusable_values == ()
    assert result.report.unusable_frame().empty


@pytest.mark.parametrize("months", ["3.7", "1e9"])
def test_numbers_that_are_not_whole_months_are_never_rounded(months):
    result = convert([row("a", Months=months)])
    assert result.data.respondents["months_involved"].isna().all()
