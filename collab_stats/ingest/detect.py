"""Recognise an export's platform from its content, and read it with the right reader.

Detection looks at what the platforms really write (signatures, header rows, import-id
rows), never at file names or a fixed number of header rows; ``format=`` overrides it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .._params import check_option
from ..errors import IngestError
from .raw import FORMATS, RawColumn, RawExport
from .textio import Rows, read_csv_rows, read_excel_rows, read_rows, unique_keys

__all__ = ["detect_format", "read_export", "read_generic"]

_IMPORT_ID = re.compile(r"""^\{\s*["']ImportId["']\s*:""")
_PERSONAL = re.compile(
    r"(e-?mail|first.?name|last.?name|full.?name|^name$|surname|phone|ip.?address|"
    r"latitude|longitude|postcode|post code|address|external.?ref|username)", re.I)
_RESPONDENT_ID = re.compile(r"^(respondent.?id|response.?id|record_id|id)$", re.I)
_METADATA = re.compile(r"(timestamp|start.?(date|time)|end.?date|completion.?time|"
                       r"submitted|status|progress|duration|finished|recorded)", re.I)


def detect_format(path: str | Path) -> str:
    """The platform that wrote an export, from its content.

    SPSS by its ``$FL2``/``$FL3`` signature; otherwise from the first rows: a Qualtrics
    import-id row (JSON or dict style) or its ``ResponseId``/``V1..V10`` header; SurveyMonkey's
    ``Respondent ID, Collector ID`` header; REDCap's ``record_id`` and ``redcap_``/``_complete``
    fields; Microsoft Forms' ``ID, Start time, Completion time``; Google Forms' ``Timestamp``;
    anything else is ``generic``.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file ({exc.strerror or exc})") from None
    if head[:4] in (b"$FL2", b"$FL3"):
        return "spss"
    rows = _head_rows(path)
    if [(c or "").strip().lower() for c in rows[0][:2]] == ["variable / field name", "form name"]:
        raise IngestError(str(path), "this is a REDCap data dictionary, not responses: give it "
                          "with the data export (dictionary=... / --dictionary)", row=1)
    return _format_from_rows(rows)


#: Rows of a workbook read to recognise its format (detection looks at the first three).
HEAD_ROWS = 10


def _head_rows(path: Path) -> Rows:
    """The first rows of an export (enough to recognise it) without parsing the whole file."""
    with path.open("rb") as handle:
        head = handle.read(256 * 1024)
        complete = not handle.read(1)
    if head[:4] == b"PK\x03\x04":  # a workbook: its first rows only (not parsed twice)
        return read_excel_rows(path, head=HEAD_ROWS)
    if complete:
        return read_rows(path)
    # Cut at the last line break; a record may still continue past it, but the first rows,
    # which detection looks at, are complete unless a header cell is enormous.
    cut = head.rfind(b"\n")
    if cut <= 0 or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return read_rows(path)
    try:
        return read_csv_rows(path, data=head[: cut + 1])
    except IngestError:
        return read_rows(path)


def _format_from_rows(rows: Rows) -> str:
    first = [(c or "").strip() for c in rows[0]]
    lowered = [c.lower() for c in first]
    if len(rows) > 2 and any(_IMPORT_ID.match((c or "").strip()) for c in rows[2]):
        return "qualtrics"
    if "responseid" in lowered or "responseid" in [c.replace(" ", "") for c in lowered]:
        return "qualtrics"
    if first[:3] == ["V1", "V2", "V3"] or (lowered[:1] == ["v1"] and "v10" in lowered):
        return "qualtrics"
    if lowered[:2] == ["respondent id", "collector id"]:
        return "surveymonkey"
    if lowered[:1] == ["record_id"] or any(c.startswith("redcap_") for c in lowered) or (
            any(c.endswith("_complete") for c in lowered) and lowered[:1] != ["id"]):
        return "redcap"
    if lowered[:3] == ["id", "start time", "completion time"]:
        return "microsoft_forms"
    if lowered[:1] == ["timestamp"]:
        return "google_forms"
    return "generic"


def read_generic(path: str | Path, *, sheet: str | int = 0) -> RawExport:
    """A plain CSV or Excel export: one header row of column names, one row per response.

    Columns whose names look like personal data (e-mail, names, phone, IP address, location,
    address, external reference) get the role ``personal``; an id column (``id``,
    ``respondent_id``, ``ResponseId``, ``record_id``) ``respondent_id``; timestamps, status and
    progress ``metadata``; the rest ``answer``. Map the columns with a mapping file.
    """
    source = str(path)
    rows = read_rows(path, sheet=sheet)
    if len(rows) < 2:
        raise IngestError(source, "has a header row but no responses", row=rows.line_numbers[0])
    return _raw_from_single_header(rows, source, "generic", "generic-1row")


def _raw_from_single_header(rows: Rows, source: str, fmt: str, variant: str) -> RawExport:
    import pandas as pd

    header = list(rows[0])
    width = max(len(r) for r in rows)
    header += [None] * (width - len(header))
    notes = []
    # Trailing columns with neither a header nor any value are an artefact of the export.
    while header and header[-1] is None and all(len(r) < len(header) or r[len(header) - 1] is None
                                                for r in rows[1:]):
        header.pop()
        notes.append("trailing empty column removed")
    keys, renamed = unique_keys(header)
    notes += renamed
    body = [list(r[: len(keys)]) + [None] * (len(keys) - len(r)) for r in rows[1:]]
    frame = pd.DataFrame(body, columns=keys, dtype=object)
    columns = []
    for key, name in zip(keys, header, strict=True):
        text = (name or "").strip()
        # Only a short header can name personal data; a long one is a question's text, which
        # may mention e-mail or addresses without asking for them.
        role = ("personal" if len(text.split()) <= 6 and _PERSONAL.search(text) else
                "respondent_id" if _RESPONDENT_ID.match(text) else
                "metadata" if _METADATA.search(text) else "answer")
        columns.append(RawColumn(key=key, header=text, question=text if role == "answer" else "",
                                 role=role))
    return RawExport(source=source, format=fmt, variant=variant, frame=frame,
                     columns=tuple(columns), row_numbers=tuple(rows.line_numbers[1:]),
                     encoding=rows.encoding, notes=tuple(notes),
                     truncated_rows=rows.truncated_rows)


def read_export(path: str | Path, *, format: str | None = None, **options) -> RawExport:
    """Read an export with the reader of its platform (detected unless ``format`` is given).

    ``options`` go to the reader (e.g. ``dictionary=`` for REDCap, ``sheet=`` for Excel).
    """
    fmt = detect_format(path) if format is None else check_option("format", format, FORMATS)
    if fmt == "generic":
        return read_generic(path, **options)
    from . import forms, qualtrics, redcap, spss, surveymonkey

    readers = {
        "qualtrics": qualtrics.read_qualtrics,
        "surveymonkey": surveymonkey.read_surveymonkey,
        "redcap": redcap.read_redcap,
        "microsoft_forms": forms.read_microsoft_forms,
        "google_forms": forms.read_google_forms,
        "spss": spss.read_spss,
    }
    return readers[fmt](path, **options)
