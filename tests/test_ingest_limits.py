"""Ingest that survives hostile and sloppy exports (issue 14, points 1 and 3).

Limits are checked before parsing and every error is one line naming the file
(:mod:`collab_stats.ingest.textio`, :func:`collab_stats._checks.read_yaml`); a CSV cut off
inside its last response is read, and that response is quarantined as ``truncated`` with the
invariant rows read = accepted + quarantined.

The small hostile files are in ``tests/data/hostile/`` (its README says what each one is and
how it was built, with :func:`xlsx_bytes` below). Files that unpack to hundreds of MiB are
built here in ``tmp_path`` with :mod:`zipfile` (a few MiB on disk, under a second). Every read
of a hostile file runs inside :func:`bounded`, which fails the test if it takes more than a
few seconds or allocates more than 100 MB (as :mod:`tracemalloc` counts).

Timings before these limits (same machine): the 100,000-column CSV 17 s and 360 MB through
``read_export``; an .xlsx of 150,000 rows x 50 cells (16 MB zipped, 359 MiB unpacked) over
200 s; a 570-byte alias-bomb mapping or programme 60-70 s and 3 GB; a sheet declaring
``A1:B2`` over 250,000 rows was read as its first row only. After: each refused in well under
a second of work (the sheet declaring ``A1:B2`` is read in full).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest
from budget import bounded

from collab_stats import load_instrument_family, load_programme
from collab_stats.errors import IngestError, ParameterError, ProgrammeError
from collab_stats.ingest import textio
from collab_stats.ingest.convert import QUARANTINE_REASONS, convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.mapping import MappingError, load_mapping, parse_mapping
from collab_stats.ingest.textio import read_csv_rows, read_excel_rows, read_rows, summarise_names

DATA = Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"
FAMILY = load_instrument_family()
PROGRAMME = load_programme(DATA / "programme-example.yaml", instrument=FAMILY)
WAVE = "2025-spring"  # instrument version 1.0
ITEMS = FAMILY.version("1.0").item_ids
SECRET = bytes(range(32))


def refused(call, *args, **kwargs) -> str:
    """The one-line message of the IngestError ``call`` raises, within the time and memory
    budget."""
    with bounded(), pytest.raises(IngestError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    return message


@pytest.fixture
def no_openpyxl(monkeypatch):
    """openpyxl must not be asked to parse: the file is refused before."""
    import openpyxl

    def fail(*args, **kwargs):
        raise AssertionError("openpyxl.load_workbook was called")

    monkeypatch.setattr(openpyxl, "load_workbook", fail)


# --- building .xlsx files with zipfile -------------------------------------------------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Responses" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               '{dimension}<sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


def sheet_rows(n_rows: int, n_cols: int, first: int = 1) -> str:
    """Rows of inline-string cells: ``h1 h2 ...`` in row 1, ``r<row>c<col>`` below."""
    out = []
    for r in range(first, first + n_rows):
        cells = "".join(f'<c t="inlineStr"><is><t>{"h" if r == 1 else f"r{r}c"}{k}</t></is></c>'
                        for k in range(1, n_cols + 1))
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def xlsx_bytes(body: str, *, dimension: str | None = None, prolog: str = "") -> bytes:
    """A one-sheet workbook whose sheet XML holds ``body`` (rows) after an optional
    ``<dimension ref=...>`` and an optional ``prolog`` (before the root element). Written
    with fixed time stamps, so the same arguments give the same parts."""
    buffer = io.BytesIO()
    sheet = (_SHEET_HEAD.format(prolog=prolog, dimension=f'<dimension ref="{dimension}"/>'
                                if dimension else "") + body + _SHEET_TAIL)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
                           ("xl/worksheets/sheet1.xml", sheet)):
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return buffer.getvalue()


def big_sheet_xlsx(path: Path, unpacked_mib: int) -> Path:
    """A workbook whose sheet XML unpacks to ``unpacked_mib`` MiB of rows of 50 cells (about
    1/130 of that on disk), streamed through zipfile in 1 MiB pieces."""
    row = ('<row>' + '<c t="inlineStr"><is><t>x</t></is></c>' * 50 + '</row>').encode()
    piece = row * (2**20 // len(row))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)):
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as handle:
            handle.write(_SHEET_HEAD.format(prolog="", dimension="").encode())
            written = 0
            while written < unpacked_mib * 2**20:
                handle.write(piece)
                written += len(piece)
            handle.write(_SHEET_TAIL.encode())
    return path


# --- Excel -----------------------------------------------------------------------------------


def test_an_xlsx_that_unpacks_past_the_limit_is_refused_before_parsing(tmp_path, no_openpyxl):
    path = big_sheet_xlsx(tmp_path / "bomb.xlsx", unpacked_mib=260)
    assert path.stat().st_size < 4 * 2**20
    message = refused(read_rows, path)
    assert re.match(rf"{re.escape(str(path))}: the workbook unpacks to 26\d MiB \(the sizes of "
                    r"its 5 parts\)", message)
    assert "the limit is 256 MiB (COLLAB_STATS_MAX_XLSX_UNPACKED_BYTES)" in message


def test_a_part_compressed_far_beyond_real_sheets_is_refused(tmp_path, no_openpyxl):
    path = big_sheet_xlsx(tmp_path / "dense.xlsx", unpacked_mib=8)  # under the size limit
    message = refused(read_excel_rows, path)
    assert "part 'xl/worksheets/sheet1.xml' is compressed" in message
    assert "the limit is 100 to 1 (COLLAB_STATS_MAX_XLSX_RATIO)" in message


@pytest.mark.parametrize("name, what", [
    ("declares-250000-rows.xlsx", "declares 250,000 rows and 50 columns (dimension 'A1:AX250000')"),
    ("declares-3000-columns.xlsx", "declares 3 rows and 3,000 columns (dimension 'A1:DKJ3')"),
])
def test_a_sheet_declaring_more_rows_or_columns_than_the_limits_is_refused_before_parsing(
        name, what, no_openpyxl):
    message = refused(read_rows, HOSTILE / name)
    assert what in message
    assert "the limits are 200,000 rows (COLLAB_STATS_MAX_ROWS) and 2,000 columns" in message


@pytest.mark.parametrize("name", ["lying-dimension.xlsx", "missing-dimension.xlsx"])
def test_rows_are_counted_while_read_when_the_dimension_lies_or_is_missing(name, monkeypatch):
    # Both sheets have 30 rows of 3 cells; one declares A1:B2, the other nothing.
    rows = read_excel_rows(HOSTILE / name)
    assert len(rows) == 30 and rows.line_numbers == list(range(1, 31))  # none lost
    assert rows[0] == ["h1", "h2", "h3"] and rows[-1] == ["r30c1", "r30c2", "r30c3"]

    monkeypatch.setenv("COLLAB_STATS_MAX_ROWS", "20")
    message = refused(read_excel_rows, HOSTILE / name)
    assert message == (f"{HOSTILE / name}, row 21: the sheet has more than 20 rows; the limit "
                       "is 20 (COLLAB_STATS_MAX_ROWS)")
    monkeypatch.setenv("COLLAB_STATS_MAX_ROWS", "200")
    monkeypatch.setenv("COLLAB_STATS_MAX_COLUMNS", "2")
    message = refused(read_excel_rows, HOSTILE / name)
    assert message.endswith("row 1: the row has 3 columns; the limit is 2 "
                            "(COLLAB_STATS_MAX_COLUMNS)")


def test_a_billion_laughs_xlsx_is_refused_in_one_line():
    path = HOSTILE / "billion-laughs.xlsx"
    message = refused(read_rows, path)
    assert message == (f"{path}: part 'xl/worksheets/sheet1.xml' declares a DTD (<!DOCTYPE "
                       "...>), which workbooks never have: entity expansion (a 'billion "
                       "laughs' file) is refused")
    refused(read_export, path)  # through detection too


def test_a_malformed_sheet_gives_one_line_with_the_parser_s_reason():
    message = refused(read_rows, HOSTILE / "malformed-sheet.xlsx")
    assert "not a readable .xlsx sheet" in message


# --- CSV -------------------------------------------------------------------------------------


def test_a_100k_column_header_is_refused_fast_in_one_summarised_line(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{k}" for k in range(100_000)) + "\n"
                    + ",".join("1" for _ in range(100_000)) + "\n")
    for read in (read_csv_rows, read_export):
        message = refused(read, path)
        assert message == (f"{path}, row 1: the first row has 100,000 columns (c0, c1, c2, c3, "
                           "c4, c5, c6, c7, c8, c9 and 99,990 more); the limit is 2,000 "
                           "(COLLAB_STATS_MAX_COLUMNS)")


def test_a_row_wider_than_the_limit_is_refused_with_its_line(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n" + ",".join("9" for _ in range(5_000)) + "\n")
    message = refused(read_csv_rows, path)
    assert message == (f"{path}, row 3: the row has 5,000 cells; the limit is 2,000 columns "
                       "(COLLAB_STATS_MAX_COLUMNS)")


@pytest.mark.parametrize("quoted_newline", [False, True], ids=["fast path", "slow path"])
def test_too_many_rows_are_refused_at_the_first_row_over(tmp_path, monkeypatch, quoted_newline):
    body = "".join(f"{k},x\n" for k in range(2, 62))
    path = tmp_path / "long.csv"
    path.write_text(('"id\nnumber",text\n' if quoted_newline else "id,text\n") + body)
    monkeypatch.setenv("COLLAB_STATS_MAX_ROWS", "50")
    message = refused(read_csv_rows, path)
    assert message.endswith(": more than 50 rows; the limit is 50 (COLLAB_STATS_MAX_ROWS)")
    assert f", row {51 + quoted_newline}:" in message


def test_limits_are_raised_with_environment_variables(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{k}" for k in range(2_500)) + "\n" + "1," * 2_499 + "1\n")
    refused(read_csv_rows, path)
    monkeypatch.setenv("COLLAB_STATS_MAX_COLUMNS", "3000")
    assert len(read_csv_rows(path)[0]) == 2_500
    monkeypatch.setenv("COLLAB_STATS_MAX_COLUMNS", "lots")
    with pytest.raises(ParameterError, match="COLLAB_STATS_MAX_COLUMNS must be a whole number"):
        read_csv_rows(path)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 1000)
    monkeypatch.setenv("COLLAB_STATS_MAX_FILE_BYTES", "1024")
    assert refused(read_rows, path) == (f"{path}: file is 4,004 bytes; the limit is 1,024 "
                                        "bytes (COLLAB_STATS_MAX_FILE_BYTES)")


def test_long_name_lists_are_summarised_on_one_line():
    assert summarise_names([]) == ""
    assert summarise_names(["Q1", "Q2"]) == "Q1, Q2"
    names = ["How long\nhave you   been involved?", "x" * 80, *(f"c{k}" for k in range(99_988))]
    text = summarise_names(names, limit=3)
    assert text == ("How long have you been involved?, " + "x" * 57 + "..., c0 and 99,987 more")


# --- truncated CSV files -----------------------------------------------------------------------


@pytest.mark.parametrize("name, fast, truncated", [
    ("truncated-short-row.csv", True, (4,)),
    ("truncated-open-quote.csv", False, (4,)),
    ("truncated-open-quote-at-line-break.csv", False, (4,)),
    ("truncated-short-row-after-quoted-newline.csv", False, (5,)),
    ("no-final-newline.csv", True, ()),
    ("no-final-newline-after-quoted-newline.csv", False, ()),
    ("short-last-row-with-newline.csv", True, ()),
])
def test_a_cut_off_last_record_is_marked_and_a_missing_final_newline_is_not(name, fast,
                                                                            truncated):
    path = HOSTILE / name
    rows = read_csv_rows(path)
    assert rows.truncated_rows == truncated
    # The path the reader took: pandas' parser (every record on one line) or the csv module.
    text, encoding = textio.decode(path.read_bytes(), name)
    width = len(next(csv.reader(io.StringIO(text, newline=""))))
    assert (textio._fast_rows(text, ",", encoding, header_width=width) is not None) is fast
    assert rows[-1][:2] == ["3", "2"]  # the last row is read either way; quarantine decides
    assert rows.truncated_rows in ((), (rows.line_numbers[-1],))


def _generic_export(n: int, *, quoted_newline: bool) -> str:
    """A generic CSV of ``n`` responses (respondent_id, collaboration, the items, a comment),
    CRLF line ends; with ``quoted_newline`` the first comment has a line break."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["respondent_id", "collaboration", *ITEMS, "comment"])
    for k in range(n):
        comment = "Good start\nslow since" if quoted_newline and k == 0 else f"note {k}"
        writer.writerow([f"R{k:03d}", "North Devon Care Alliance",
                         *((k + j) % 5 + 1 for j in range(len(ITEMS))), comment])
    return out.getvalue()


MAPPING = parse_mapping({
    "instrument": "collaboration-indicators",
    "columns": {"respondent_id": "respondent_id",
                "collaboration": {"profile": "collaboration"},
                "comment": {"text": "comment"},
                **{i: i for i in ITEMS}},
}, family=FAMILY)


def _cut(text: str, how: str) -> str:
    """``text`` cut inside its last record: ``"fields"`` in the middle of its answers,
    ``"quote"`` inside its quoted comment, ``"none"`` only its final line break removed."""
    body = text.removesuffix("\r\n")
    last = body.rfind("\r\n") + 2
    if how == "fields":
        return body[: last + body[last:].index(",4,") + 2]  # "...,4" - then the cut
    if how == "quote":
        head, comment = body.rsplit(",", 1)
        return f'{head},"{comment}, and then'  # an open quoted cell
    return body


@pytest.mark.parametrize("how, quoted_newline", [
    ("fields", False), ("fields", True), ("quote", False), ("quote", True),
], ids=["cut mid-answer, fast path", "cut mid-answer, slow path",
        "cut inside a quoted cell", "cut inside a quoted cell after a quoted newline"])
def test_a_truncated_last_response_is_quarantined_and_counted(tmp_path, how, quoted_newline):
    n = 12
    path = tmp_path / "wave.csv"
    path.write_bytes(_cut(_generic_export(n, quoted_newline=quoted_newline), how).encode())
    raw = read_export(path)
    assert raw.format == "generic" and raw.n_rows == n
    last = raw.row_numbers[-1]
    assert raw.truncated_rows == (last,)
    result = convert_export(raw, MAPPING, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET)
    report = result.report
    assert QUARANTINE_REASONS[0] == "truncated"
    assert report.rows_read == n == report.rows_accepted + sum(report.rows_quarantined.values())
    assert report.rows_quarantined["truncated"] == 1 and report.rows_accepted == n - 1
    primary = result.quarantine[result.quarantine["primary"]]
    assert primary[["row", "reason"]].values.tolist() == [[last, "truncated"]]
    assert "the file ends inside this response" in primary["message"].iloc[0]
    assert primary["respondent"].iloc[0] not in set(result.data.respondents["respondent_id"])


@pytest.mark.parametrize("quoted_newline", [False, True], ids=["fast path", "slow path"])
def test_a_file_lacking_only_its_final_newline_is_accepted_whole(tmp_path, quoted_newline):
    n = 12
    path = tmp_path / "wave.csv"
    path.write_bytes(_cut(_generic_export(n, quoted_newline=quoted_newline), "none").encode())
    raw = read_export(path)
    assert raw.truncated_rows == ()
    result = convert_export(raw, MAPPING, FAMILY, PROGRAMME, wave_id=WAVE, secret=SECRET)
    assert result.report.rows_read == result.report.rows_accepted == n


# --- YAML ------------------------------------------------------------------------------------


@pytest.mark.parametrize("load, name, error, line", [
    (load_mapping, "alias-bomb.mapping.yaml", MappingError, 9),
    (load_programme, "alias-bomb.programme.yaml", ProgrammeError, 8),
])
def test_a_yaml_alias_bomb_is_refused_before_it_is_built(load, name, error, line):
    path = HOSTILE / name
    with bounded(seconds=2.0), pytest.raises(error) as info:
        load(path)
    (problem,) = info.value.problems
    assert str(info.value).startswith(f"{path}: 1 problem")
    assert problem.where.startswith(f"line {line}, column ")
    assert problem.message == ("YAML aliases expand to more than 10,000 nodes (an alias "
                               "bomb?); write the values out")


def test_a_recursive_alias_or_too_many_aliases_are_refused(tmp_path):
    path = tmp_path / "programme.yaml"
    path.write_text("programme: &p\n  id: x\n  again: *p\n")
    with bounded(seconds=2.0), pytest.raises(ProgrammeError) as info:
        load_programme(path)
    assert [str(p) for p in info.value.problems] == [
        "line 3, column 10: the alias *p is inside its own anchor &p (a recursive document)"]
    path.write_text("name: &n x\nlist: [" + ", ".join(["*n"] * 101) + "]\n")
    with pytest.raises(ProgrammeError, match="more than 100 YAML aliases"):
        load_programme(path)


def test_a_few_aliases_within_the_budget_still_load(tmp_path):
    text = (DATA / "programme-example.yaml").read_text(encoding="utf-8")
    assert text.count("region: South West") == 3
    text = text.replace("region: South West", "region: &region South West", 1)
    text = text.replace("region: South West", "region: *region")
    path = tmp_path / "programme.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_programme(path, instrument=FAMILY) == PROGRAMME
