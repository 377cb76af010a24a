"""Google Forms and Microsoft Forms response exports (one header row), CSV and XLSX.

Google Forms (responses sheet or its CSV download): first column ``Timestamp`` in the form
owner's locale (US ``9/27/2022 10:15:32``, UK ``27/09/2022 10:15:32``; ``9/27/2022 10:15``
after a re-save by Excel; a date-time cell in XLSX, read as ISO text), then one column per question headed by the question text (which may
contain line breaks). Answers are the choice text; a checkbox question holds the chosen
options in one cell joined by ``", "``.

Microsoft Forms (Excel download): ``ID, Start time, Completion time, Email, Name`` (newer
exports add ``Last modified time``; quizzes add ``Total points``, ``Quiz feedback`` and
``Points - <q>`` / ``Feedback - <q>`` columns), then the questions. A multi-select holds the
chosen options in one cell, each followed by ``";"`` (``"A;B;"``).

Both readers leave multi-select cells as they are: splitting them into choices is the
mapping's job (``", "`` for Google Forms, ``";"`` for Microsoft Forms). Columns whose header
contains "email", or is "Name" or "Username", are ``personal`` in both.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import IngestError
from ._platform import (
    answer_text,
    cell_preview,
    check_writer_input,
    chosen_options,
    fake_name,
    minute_only,
    normalise_header,
    rectangular,
    submitted_time,
    write_table,
)
from .raw import RawColumn, RawExport
from .textio import Rows, read_rows, unique_keys

__all__ = [
    "read_google_forms",
    "read_microsoft_forms",
    "write_google_forms",
    "write_microsoft_forms",
]

_MICROSOFT_ROLES = {
    "id": "respondent_id",
    "start time": "metadata",
    "completion time": "metadata",
    "last modified time": "metadata",
    "total points": "metadata",
    "quiz feedback": "metadata",
}
MICROSOFT_REQUIRED = ("ID", "Start time", "Completion time")
_PERSONAL_NAMES = ("name", "username")


def _personal(header: str) -> bool:
    low = header.lower()
    # A short header naming an address ("Email Address", "Your e-mail") is personal data; a
    # question that merely mentions e-mail ("... ways to communicate (email, ...)") is not.
    short = len(low.split()) <= 6
    return (short and ("email" in low or "e-mail" in low)) or low in _PERSONAL_NAMES


def _one_header(path: str | Path, sheet: str | int) -> tuple[Rows, list[str], list[str]]:
    """Rows (header first), unique keys and notes for a one-header-row export."""
    source = str(path)
    rows, notes = rectangular(read_rows(path, sheet=sheet), header_rows=1, source=source)
    if len(rows) < 2:
        raise IngestError(source, "has a header row but no responses", row=rows.line_numbers[0])
    names = [normalise_header(h) for h in rows[0]]
    for k, header in enumerate(rows[0], start=1):
        if header and "\n" in header.strip():
            notes.append(f"header of column {k} contains a line break; its key uses a space")
    keys, key_notes = unique_keys(names)
    return rows, keys, notes + key_notes


def _export(path, rows: Rows, keys, specs, notes, platform: str) -> RawExport:
    kind = "xlsx" if rows.encoding == "" else "csv"
    if rows.encoding == "cp1252":
        notes.append("decoded as cp1252 (the file was probably re-saved by Excel on Windows)")
    columns = tuple(
        RawColumn(key=key, header=header or "", question=question, role=role)
        for key, header, (question, role) in zip(keys, rows[0], specs, strict=True)
    )
    frame = pd.DataFrame(rows[1:], columns=keys, dtype=object)
    fmt = platform.replace("-", "_")
    return RawExport(source=str(path), format=fmt, variant=f"{platform}-{kind}", frame=frame,
                     columns=columns, row_numbers=tuple(rows.line_numbers[1:]),
                     encoding=rows.encoding, notes=tuple(notes),
                     truncated_rows=rows.truncated_rows)


def _microsoft_layout(names: list[str]) -> bool:
    low = {n.lower() for n in names}
    return all(h.lower() in low for h in MICROSOFT_REQUIRED)


def read_google_forms(path: str | Path, *, sheet: str | int = 0) -> RawExport:
    """Read a Google Forms responses export (CSV download or XLSX) as text.

    Parameters
    ----------
    path : str or Path
        The export; CSV or XLSX is recognised by content.
    sheet : str or int
        Sheet name or 0-based number (XLSX only).

    Returns
    -------
    RawExport
        ``format="google_forms"``, ``variant`` ``"google-forms-csv"`` or
        ``"google-forms-xlsx"``. ``Timestamp`` (and a quiz's ``Score``) are ``metadata``;
        e-mail, ``Name`` and ``Username`` columns are ``personal``; every other column is an
        ``answer`` whose ``question`` is the header with whitespace runs as one space. Google
        Forms has no response id: no column is ``respondent_id``.

    Raises
    ------
    IngestError
        When the file cannot be read, is empty, has no responses, or is a Microsoft Forms or
        SurveyMonkey export (the message names the reader to use).

    Notes
    -----
    A file without a ``Timestamp`` column (deleted before sharing) is read, with a note.
    Timestamps are kept as written; a note says when they are to the minute only (re-saved
    by Excel). Checkbox answers stay one cell, options joined by ``", "``.
    """
    rows, keys, notes = _one_header(path, sheet)
    names = [normalise_header(h) for h in rows[0]]
    if _microsoft_layout(names):
        raise IngestError(str(path), "is a Microsoft Forms export (columns ID, Start time, "
                          "Completion time): read it with read_microsoft_forms",
                          row=rows.line_numbers[0])
    if any(n.lower() == "respondent id" for n in names):
        raise IngestError(str(path), "is a SurveyMonkey export (a 'Respondent ID' column): "
                          "read it with read_surveymonkey", row=rows.line_numbers[0])
    specs = []
    for name in names:
        if name.lower() in ("timestamp", "score"):
            specs.append(("", "metadata"))
        elif _personal(name):
            specs.append(("", "personal"))
        else:
            specs.append((name, "answer"))
    if names[0].lower() != "timestamp":
        notes.append(f"no Timestamp column (the first column is {names[0]!r})")
    elif minute_only(row[0] for row in rows[1:]):
        notes.append("Timestamp values are to the minute (the file was probably re-saved by "
                     "Excel)")
    return _export(path, rows, keys, specs, notes, "google-forms")


def read_microsoft_forms(path: str | Path, *, sheet: str | int = 0) -> RawExport:
    """Read a Microsoft Forms responses export (XLSX download, or a CSV saved from it).

    Parameters
    ----------
    path : str or Path
        The export; CSV or XLSX is recognised by content.
    sheet : str or int
        Sheet name or 0-based number (XLSX only).

    Returns
    -------
    RawExport
        ``format="microsoft_forms"``, ``variant`` ``"microsoft-forms-xlsx"`` or
        ``"microsoft-forms-csv"``. ``ID`` is ``respondent_id``; ``Start time``,
        ``Completion time``, ``Last modified time`` and quiz points/feedback are ``metadata``;
        ``Email``, ``Name`` (``"anonymous"`` / blank in anonymous forms, still flagged) and
        any header containing "email" or equal to "Username" are ``personal``; the rest are
        ``answer`` columns headed by the question text.

    Raises
    ------
    IngestError
        When the file cannot be read, is empty, has no responses, or lacks the columns ``ID``,
        ``Start time`` and ``Completion time`` (header names are matched ignoring case).

    Notes
    -----
    Multi-select cells stay as written (``"A;B;"``); a note names the columns whose every
    answer ends with ``";"``. Times are kept as written; a note says when they are to the
    minute only (re-saved by Excel).
    """
    rows, keys, notes = _one_header(path, sheet)
    names = [normalise_header(h) for h in rows[0]]
    if not _microsoft_layout(names):
        raise IngestError(str(path), "not a Microsoft Forms export: the header needs the "
                          f"columns {', '.join(MICROSOFT_REQUIRED)}; it starts "
                          f"{cell_preview(rows[0], 5)}", row=rows.line_numbers[0])
    specs = []
    for k, name in enumerate(names):
        low = name.lower()
        role = _MICROSOFT_ROLES.get(low)
        if role is None and low.startswith(("points - ", "feedback - ")):
            role = "metadata"
        if role is None and _personal(name):
            role = "personal"
        if role is not None:
            specs.append(("", role))
            continue
        specs.append((name, "answer"))
        values = [row[k] for row in rows[1:] if row[k] is not None]
        if values and all(v.rstrip().endswith(";") for v in values):
            notes.append(f"column {name!r} is a multi-select (every answer ends with ';')")
    start = next(k for k, n in enumerate(names) if n.lower() == "start time")
    if minute_only(row[start] for row in rows[1:]):
        notes.append("Start time values are to the minute (the file was probably re-saved by "
                     "Excel)")
    return _export(path, rows, keys, specs, notes, "microsoft-forms")


# --------------------------------------------------------------------------------------------
# writing (test fixtures and demonstrations)


def _answers(frame, questions, options, labels, sep: str, end: str) -> list[list[Any]]:
    out = []
    for n, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for col in questions:
            if col in options:
                chosen = chosen_options(row[col], options[col], f"frame[{col!r}] row {n}")
                cells.append(sep.join(chosen) + end if chosen else None)
            else:
                cells.append(answer_text(row[col], labels))
        out.append(cells)
    return out


def write_google_forms(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    questions: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    labels: Mapping[int, str] | None = None,
    personal: bool = False,
    excel: bool = False,
    seed: int = 0,
) -> Path:
    """Write a wide frame as a Google Forms responses export.

    ``Timestamp`` first (``M/D/YYYY H:MM:SS`` in CSV, a date-time cell in XLSX; the frame's
    ``submitted_at`` in UTC where it has one, else a time from 2024-09-27 10:15 on), then an
    ``Email Address`` column when ``personal`` (a form collecting e-mail addresses), then one
    column per entry of ``questions`` (column -> question text) in that order. Answers are
    written with ``labels`` (code -> text); a column in ``options`` (column -> option texts) is
    a checkbox question whose cells hold the chosen options (list, tuple, set or one text),
    written as one cell joined by ``", "`` in option order. CSV is UTF-8 without BOM, CRLF.
    """
    options = dict(options or {})
    check_writer_input(frame, questions, options, labels)
    rng = random.Random(seed)
    header = ["Timestamp", *(["Email Address"] if personal else []), *questions.values()]
    stamp = datetime(2024, 9, 27, 10, 15, 32)
    out: list[list[Any]] = [header]
    for (_, row), answers in zip(frame.iterrows(),
                                 _answers(frame, questions, options, labels, ", ", ""),
                                 strict=True):
        stamp += timedelta(seconds=rng.randrange(30, 5400))
        when = submitted_time(row) or stamp
        cells: list[Any] = [when if excel else _us_time(when, year="%Y")]
        if personal:
            first, last = fake_name(rng)
            cells.append(f"{first.lower()}.{last.lower()}@example.org")
        out.append(cells + answers)
    return write_table(out, path, excel=excel, encoding="utf-8")


def write_microsoft_forms(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    questions: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    labels: Mapping[int, str] | None = None,
    personal: bool = False,
    excel: bool = True,
    seed: int = 0,
) -> Path:
    """Write a wide frame as a Microsoft Forms responses export (XLSX unless ``excel=False``).

    Header ``ID, Start time, Completion time, Email, Name, Last modified time`` then one
    column per entry of ``questions`` (column -> question text). ``ID`` counts from 1; times
    are date-time cells (``M/D/YY H:MM:SS`` text in CSV), ``Completion time`` the frame's
    ``submitted_at`` in UTC where it has one; ``Email`` and ``Name`` are fake when
    ``personal``, else ``"anonymous"`` and blank as in an anonymous form. Answers are written
    with ``labels``; a column in ``options`` is a multi-select whose chosen options are written
    as ``"A;B;"`` in option order.
    """
    options = dict(options or {})
    check_writer_input(frame, questions, options, labels)
    rng = random.Random(seed)
    header = ["ID", "Start time", "Completion time", "Email", "Name", "Last modified time",
              *questions.values()]
    start = datetime(2024, 9, 1, 11, 27, 5)
    out: list[list[Any]] = [header]
    rows = (row for _, row in frame.iterrows())
    for n, answers in enumerate(_answers(frame, questions, options, labels, ";", ";"), 1):
        start += timedelta(seconds=rng.randrange(30, 5400))
        end = start + timedelta(seconds=rng.randrange(40, 900))
        submitted = submitted_time(next(rows))
        times = [start, end] if submitted is None else [submitted - (end - start), submitted]
        times = times if excel else [_us_time(t) for t in times]
        if personal:
            first, last = fake_name(rng)
            who = [f"{first.lower()}.{last.lower()}@example.org", f"{first} {last}"]
        else:
            who = ["anonymous", None]
        out.append([n, *times, *who, None, *answers])
    return write_table(out, path, excel=excel, encoding="utf-8-sig")


def _us_time(moment: datetime, *, year: str = "%y") -> str:
    """``9/27/2022 10:15:32``-style text: month and day and hour without leading zeros."""
    return f"{moment.month}/{moment.day}/{moment.strftime(year)} {moment.hour}:{moment:%M:%S}"
