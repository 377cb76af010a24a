"""Malformed exports: whatever the bytes, ingest raises only collab-stats errors, and every row
it reads is either accepted or quarantined.

The base file is a real-layout Qualtrics export of a small simulated wave; hypothesis damages
it (random bytes, truncation, huge fields, other encodings, stray delimiters and quotes).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from budget import bounded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError, IngestError
from collab_stats.ingest.convert import convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.simulated import write_wave_export
from collab_stats.ingest.textio import read_excel_rows
from collab_stats.ingest.times import parse_times

FOLDER = Path(tempfile.mkdtemp(prefix="collab-fuzz-"))
SIM = simulate_programme(seed=2, n_collaborations=1, n_waves=1)
BASE, MAPPING_PATH = write_wave_export(SIM, "2025-03", "qualtrics", FOLDER)
BASE_BYTES = BASE.read_bytes()
MAPPING = load_mapping(MAPPING_PATH, family=SIM.instrument)


def damage(data: bytes, how: str, position: float, payload: bytes) -> bytes:
    cut = int(position * len(data))
    if how == "truncate":
        return data[:cut]
    if how == "insert":
        return data[:cut] + payload + data[cut:]
    if how == "overwrite":
        return data[:cut] + payload + data[cut + len(payload):]
    if how == "huge_field":
        return data[:cut] + b'"' + b"x" * 200_000 + b'"' + data[cut:]
    if how == "cp1252":
        return data.decode("utf-8-sig").encode("cp1252", errors="replace")
    if how == "utf16":
        return data.decode("utf-8-sig").encode("utf-16")
    return payload  # "random": nothing of the original left


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    how=st.sampled_from(["truncate", "insert", "overwrite", "huge_field", "cp1252", "utf16",
                         "random"]),
    position=st.floats(0, 1),
    payload=st.one_of(st.binary(max_size=64),
                      st.sampled_from([b",", b'"', b"\r\n", b'","', b"\x00", b"\xff\xfe",
                                       b"-7", b"99", b"{\"ImportId\":"])),
)
def test_damaged_exports_fail_cleanly_or_conserve_rows(how, position, payload):
    path = FOLDER / "damaged.csv"
    path.write_bytes(damage(BASE_BYTES, how, position, payload))
    try:
        raw = read_export(path)
        result = convert_export(raw, MAPPING, SIM.instrument, SIM.programme, wave_id="2025-03",
                                secret=b"k" * 32)
    except CollabStatsError as error:
        assert str(error)  # a message a user can act on, never an empty one
        return
    report = result.report
    assert report.rows_read == raw.n_rows
    assert report.rows_read == report.rows_accepted + sum(report.rows_quarantined.values())
    assert len(result.data.respondents) == report.rows_accepted


def test_the_undamaged_base_file_is_accepted():
    raw = read_export(BASE)
    result = convert_export(raw, MAPPING, SIM.instrument, SIM.programme, wave_id="2025-03",
                            secret=b"k" * 32)
    assert result.report.rows_read == len(SIM.data.respondents) > 0
    with pytest.raises(CollabStatsError):
        read_export(FOLDER / "no-such-file.csv")


# --- the hostile cases of issue 14, fuzzed ----------------------------------------------------
# Each example runs under a time and memory budget (``bounded``); the limits are lowered with
# their environment variables so that hypothesis can cross them with small files.
BASE_TEXT = BASE_BYTES.decode("utf-8-sig")
HEADER = BASE_TEXT.splitlines()[0]


def converted(path: Path):
    """Read and convert ``path`` within the time and memory budget; its report, after
    checking that every row read is accepted or quarantined."""
    with bounded(seconds=5.0):
        raw = read_export(path)
        result = convert_export(raw, MAPPING, SIM.instrument, SIM.programme, wave_id="2025-03",
                                secret=b"k" * 32)
    report = result.report
    assert report.rows_read == report.rows_accepted + sum(report.rows_quarantined.values())
    return report


def sheet_xlsx(n_rows: int, n_cols: int, cell: str, dimension: bool) -> tuple[bytes, int]:
    """A minimal one-sheet workbook of inline strings, and its unpacked size in bytes."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    cols = "".join(f'<c t="inlineStr"><is><t>{cell}{k}</t></is></c>' for k in range(n_cols))
    rows = "".join(f'<row r="{r}">{cols}</row>' for r in range(1, n_rows + 1))
    last = f"{chr(64 + min(n_cols, 26))}{n_rows}"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
            'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/'
                        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (f'<workbook xmlns="{ns}" xmlns:r="{rel}"><sheets><sheet name="R" '
                            'sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" Type="{rel}/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{ns}">'
            + (f'<dimension ref="A1:{last}"/>' if dimension else "")
            + f"<sheetData>{rows}</sheetData></worksheet>"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue(), sum(len(t.encode()) for t in parts.values())


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(n_rows=st.integers(1, 400), n_cols=st.integers(1, 12),
       cell=st.sampled_from(["x", "abc" * 20, "0" * 200]), dimension=st.booleans())
def test_xlsx_unpacked_size_not_compressed_size_decides(monkeypatch, n_rows, n_cols, cell,
                                                        dimension):
    """Refused (one line, before parsing) exactly when the parts unpack past the limit; else
    every row is read. The file on disk is always far smaller than what it unpacks to."""
    limit = 60_000
    monkeypatch.setenv("COLLAB_STATS_MAX_XLSX_UNPACKED_BYTES", str(limit))
    data, unpacked = sheet_xlsx(n_rows, n_cols, cell, dimension)
    path = FOLDER / "sheet.xlsx"
    path.write_bytes(data)
    with bounded(seconds=5.0):
        try:
            rows = read_excel_rows(path)
        except IngestError as error:
            message = str(error)
            assert "\n" not in message and path.name in message
            assert unpacked > limit, message
            return
    assert unpacked <= limit
    assert len(rows) == n_rows


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(1, 10_000))
def test_a_cut_last_record_is_quarantined_as_truncated(cut):
    """Cut the base export inside its last record: the cut row is never accepted as a
    complete response, and rows read = accepted + quarantined."""
    lines = BASE_TEXT.rstrip("\r\n").split("\n")
    last = lines[-1]
    keep = cut % len(last)
    text = "\n".join(lines[:-1]) + "\n" + last[:keep]
    path = FOLDER / "cut.csv"
    path.write_text(text, encoding="utf-8")
    report = converted(path)
    fields = len(next(csv.reader([last[:keep]]), [])) if keep else 0
    if 0 < keep and fields < len(next(csv.reader([HEADER]))):
        assert report.rows_quarantined["truncated"] == 1


PLATFORM_LAYOUTS = {
    # platform: (date order, how the platform writes a time)
    "qualtrics": (None, "%Y-%m-%d %H:%M:%S"),
    "redcap": (None, "%Y-%m-%d %H:%M"),
    "surveymonkey": ("MDY", "%m/%d/%Y %I:%M:%S %p"),
    "google_forms_us": ("MDY", "{month}/{day}/%Y %H:%M:%S"),
    "google_forms_uk": ("DMY", "%d/%m/%Y %H:%M:%S"),
    "microsoft_forms": ("MDY", "{month}/{day}/%y %H:%M:%S"),
}


@settings(max_examples=120, deadline=None)
@given(platform=st.sampled_from(sorted(PLATFORM_LAYOUTS)),
       stamp=st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2068, 12, 31)))
def test_every_platform_time_layout_round_trips(platform, stamp):
    """A time written the way the platform writes it is read back to the precision written
    (the mapping's date order decides ambiguous slash dates)."""
    order, layout = PLATFORM_LAYOUTS[platform]
    stamp = stamp.replace(microsecond=0)
    if "%S" not in layout:
        stamp = stamp.replace(second=0)
    text = stamp.strftime(layout.format(month=stamp.month, day=stamp.day))
    parsed = parse_times([text], date_order=order)
    assert parsed.unreadable == ()
    assert parsed.times[0] == pd.Timestamp(stamp, tz="UTC"), text


@settings(max_examples=40, deadline=None)
@given(blank=st.lists(st.booleans(), min_size=1, max_size=200))
def test_blank_respondent_ids_conserve_rows_and_warn_when_all_are_blank(blank):
    """Blank some respondent ids (the mapped respondent_id column): rows are conserved; a warning is given when
    every id is blank."""
    lines = BASE_TEXT.rstrip("\r\n").split("\n")
    header = next(csv.reader([lines[0]]))
    column = header.index("respondent_id")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    data_rows = list(csv.reader(lines))
    for k, row in enumerate(data_rows):
        if k >= 3 and blank[(k - 3) % len(blank)] and column < len(row):
            row[column] = ""
        writer.writerow(row)
    path = FOLDER / "ids.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    report = converted(path)
    n_data = len(data_rows) - 3
    all_blank = all(blank[k % len(blank)] for k in range(n_data))
    warned = any("blank in every row" in w for w in report.warnings)
    assert warned == all_blank
