"""SurveyMonkey exports ("All responses data", expanded layout), CSV and XLSX.

Layout (as SurveyMonkey documents it; no real file was available to test against):

- header row 1: ``Respondent ID, Collector ID, Start Date, End Date, IP Address, Email Address,
  First Name, Last Name, Custom Data 1``, then each question's text over the *first* column of
  its span only (the rest of the span blank);
- header row 2: blank under the metadata, then ``Response``, ``Open-Ended Response``,
  ``Other (please specify)`` or the sub-question / option text for each column;
- answers are choice text; a multi-select has one column per option, holding the option's
  text when chosen and blank otherwise.

SurveyMonkey does not say which spans are multi-selects and which are matrices (both have
one column per sub-label). The reader decides from the answers: a span is a multi-select when
every non-blank answer in each of its option columns equals that column's sub-label; its
option columns then get ``choice_id`` = option text. A span with no answers at all cannot be
told apart and is left as a matrix (with a note).
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
    normalise_header,
    rectangular,
    submitted_time,
    write_table,
)
from .raw import RawColumn, RawExport
from .textio import read_rows, unique_keys

__all__ = ["read_surveymonkey", "write_surveymonkey"]

METADATA_HEADERS: tuple[str, ...] = (
    "Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address",
    "First Name", "Last Name", "Custom Data 1",
)
_ROLES = {
    "respondent id": "respondent_id",
    "collector id": "metadata",
    "start date": "metadata",
    "end date": "metadata",
    "ip address": "personal",
    "email address": "personal",
    "first name": "personal",
    "last name": "personal",
}
#: Sub-labels that are not an option or a sub-question.
SINGLE_COLUMN_LABELS = ("Response", "Open-Ended Response")
OTHER_LABEL = "Other (please specify)"
_DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


# --------------------------------------------------------------------------------------------
# reading


def read_surveymonkey(path: str | Path, *, sheet: str | int = 0) -> RawExport:
    """Read a SurveyMonkey export (CSV or XLSX, two header rows) as text.

    Parameters
    ----------
    path : str or Path
        The export; CSV or XLSX is recognised by content, not by name.
    sheet : str or int
        Sheet name or 0-based number (XLSX only).

    Returns
    -------
    RawExport
        ``format="surveymonkey"``, ``variant`` ``"surveymonkey-csv"`` or
        ``"surveymonkey-xlsx"``. Each question column has ``question`` = the question text
        (carried over every column of its span) and ``sub_label`` = the second header row
        (``Response``, ``Open-Ended Response``, ``Other (please specify)``, a matrix row or an
        option). Multi-select option columns have ``choice_id`` = the option text. Roles:
        ``Respondent ID`` is ``respondent_id``; ``Collector ID``, ``Start Date`` and ``End
        Date`` are ``metadata``; IP address, e-mail, names, ``Custom Data*`` and any other
        column of the metadata block (custom variables) are ``personal``.

    Raises
    ------
    IngestError
        When the file cannot be read, is empty, has no ``Respondent ID`` column, lacks the
        second header row, has no question columns or no responses.

    Notes
    -----
    A column key is the question text for a one-column question answered in a ``Response``
    or ``Open-Ended Response`` column, else ``"<question> | <sub-label>"``; whitespace runs
    (including line breaks) become one space and repeated keys get ``__2``, ``__3`` ...
    Cells are ``str`` or ``None`` (blank), never converted. No response row is dropped.
    """
    source = str(path)
    rows = read_rows(path, sheet=sheet)
    variant = "surveymonkey-xlsx" if rows.encoding == "" else "surveymonkey-csv"
    rows, notes = rectangular(rows, header_rows=2, source=source)
    if len(rows) < 2:
        raise IngestError(source, "has one row only; a SurveyMonkey export has two header rows "
                          "and then one row per response", row=rows.line_numbers[0])
    first, second = rows[0], rows[1]
    width = len(first)
    id_col = next((k for k, h in enumerate(first) if normalise_header(h).lower() == "respondent id"), None)
    if id_col is None:
        raise IngestError(source, "not a SurveyMonkey export: no 'Respondent ID' column in the "
                          f"first header row (it starts {cell_preview(first)})",
                          row=rows.line_numbers[0])
    n_meta = next((k for k in range(width) if second[k] is not None), width)
    if id_col >= n_meta:
        raise IngestError(source, "the second header row is missing: row "
                          f"{rows.line_numbers[1]} has {second[id_col]!r} under 'Respondent ID' "
                          "where SurveyMonkey leaves the metadata blank (only the expanded "
                          "two-header-row layout is supported)", row=rows.line_numbers[1],
                          column="Respondent ID")
    if n_meta == width:
        raise IngestError(source, "has no question columns (the second header row is blank "
                          "under every column)", row=rows.line_numbers[1])
    if first[n_meta] is None:
        raise IngestError(source, f"the first question column ({n_meta + 1}) has no question "
                          "text in the first header row", row=rows.line_numbers[0],
                          column=f"column_{n_meta + 1}")
    body, numbers = rows[2:], rows.line_numbers[2:]
    if not body:
        raise IngestError(source, "has the two header rows but no responses")

    specs: list[dict[str, Any]] = []
    for k in range(n_meta):
        header = normalise_header(first[k])
        role = _ROLES.get(header.lower())
        if role is None:
            role = "personal"
            if not header.lower().startswith("custom data"):
                notes.append(f"column {k + 1} ({header or 'blank'!r}) in the metadata block "
                             "is not a standard SurveyMonkey column: marked personal")
        specs.append(dict(header=first[k] or "", name=header, role=role))
    spans: list[list[int]] = []
    question = ""
    for k in range(n_meta, width):
        if first[k] is not None:
            question = normalise_header(first[k])
            spans.append([])
        spans[-1].append(k)
        sub = normalise_header(second[k])
        if not sub:
            notes.append(f"column {k + 1} (question {question!r}) has a blank second header")
        specs.append(dict(header=first[k] or "", question=question, sub_label=sub, role="answer"))
    for span in spans:
        _mark_multiselect(span, specs, body, notes)
    for k, spec in enumerate(specs[n_meta:], start=n_meta):
        only = len(next(s for s in spans if k in s)) == 1
        if only and spec["sub_label"] in SINGLE_COLUMN_LABELS + ("",):
            spec["name"] = spec["question"]
        else:
            spec["name"] = f"{spec['question']} | {spec['sub_label']}"

    keys, key_notes = unique_keys([s["name"] for s in specs])
    columns = tuple(
        RawColumn(key=key, header=s["header"], question=s.get("question", ""),
                  sub_label=s.get("sub_label", ""), choice_id=s.get("choice_id", ""),
                  role=s["role"])
        for key, s in zip(keys, specs, strict=True)
    )
    frame = pd.DataFrame(body, columns=keys, dtype=object)
    return RawExport(source=source, format="surveymonkey", variant=variant, frame=frame,
                     columns=columns, row_numbers=tuple(numbers), encoding=rows.encoding,
                     notes=tuple(notes + key_notes), truncated_rows=rows.truncated_rows)


def _mark_multiselect(span: list[int], specs: list[dict], body: list[list], notes: list[str]):
    options = [k for k in span if specs[k]["sub_label"] not in SINGLE_COLUMN_LABELS
               + (OTHER_LABEL, "")]
    if not options:
        return
    answered = False
    for k in options:
        values = {normalise_header(row[k]) for row in body if row[k] is not None}
        if values - {specs[k]["sub_label"]}:
            return
        answered = answered or bool(values)
    if not answered:
        notes.append(f"question {specs[span[0]]['question']!r} has no answers: cannot tell a "
                     "multi-select from a matrix; read as a matrix")
        return
    for k in options:
        specs[k]["choice_id"] = specs[k]["sub_label"]


# --------------------------------------------------------------------------------------------
# writing (test fixtures and demonstrations)


def write_surveymonkey(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    questions: Mapping[str, str],
    options: Mapping[str, Sequence[str]] | None = None,
    labels: Mapping[int, str] | None = None,
    statements: Mapping[str, str] | None = None,
    personal: bool = True,
    excel: bool = False,
    seed: int = 0,
) -> Path:
    """Write a wide frame as a SurveyMonkey export (expanded layout, two header rows).

    Parameters
    ----------
    frame : DataFrame
        One row per response. Columns named in ``questions`` are written, in that order.
    questions : mapping
        Column -> question text.
    options : mapping, optional
        Column -> option texts of a multi-select question. Its cells hold the chosen options
        (a list, tuple or set of option texts, one option text, or blank); it is written as
        one column per option holding the option text when chosen.
    labels : mapping, optional
        Code -> choice text for the other columns (e.g. ``{1: "Strongly disagree", ...}``);
        codes without a label, and every code when ``labels`` is None, are written as text.
    statements : mapping, optional
        Column -> matrix row text. Consecutive columns with the same question text and a
        statement form one matrix span (question text over its first column only).
    personal : bool
        Fill IP address, e-mail and names with fake values (``False``: blank, as when not
        collected).
    excel : bool
        Write XLSX instead of CSV (UTF-8 with BOM, CRLF).

    ``End Date`` is the frame's ``submitted_at`` (UTC) where it has one, else a time from
    2024-03-04 09:00 on; ``Start Date`` is a few minutes earlier. CSV writes them as
    SurveyMonkey does, ``MM/DD/YYYY HH:MM:SS AM``; XLSX as date-time cells.
    seed : int
        Seed for the fake metadata.

    Returns
    -------
    Path
        ``path``.
    """
    options = dict(options or {})
    statements = dict(statements or {})
    check_writer_input(frame, questions, options, labels)
    rng = random.Random(seed)
    first, second, cols = list(METADATA_HEADERS), [None] * len(METADATA_HEADERS), []
    previous = None
    for col, text in questions.items():
        if col in options:
            for opt in options[col]:
                cols.append((col, opt))
                first.append(None)
                second.append(opt)
            first[len(first) - len(options[col])] = text
            previous = None
            continue
        matrix_key = (text, True) if col in statements else None
        first.append(None if matrix_key and matrix_key == previous else text)
        second.append(statements.get(col, "Response"))
        cols.append((col, None))
        previous = matrix_key
    collector = rng.randrange(10**8, 10**9)
    respondent = rng.randrange(114 * 10**8, 115 * 10**8)
    start = datetime(2024, 3, 4, 9, 0, 0)
    out: list[list[Any]] = [first, second]
    for n, (_, row) in enumerate(frame.iterrows()):
        start += timedelta(seconds=rng.randrange(60, 7200))
        end = start + timedelta(seconds=rng.randrange(90, 1500))
        respondent += rng.randrange(1, 10**5)
        times = [start, end]
        submitted = submitted_time(row)
        if submitted is not None:
            times = [submitted - (end - start), submitted]
        cells: list[Any] = [respondent, collector,
                            *(times if excel else (t.strftime(_DATE_FORMAT) for t in times))]
        if personal:
            first_name, last_name = fake_name(rng)
            cells += [f"198.51.100.{rng.randrange(1, 255)}",
                      f"{first_name.lower()}.{last_name.lower()}@example.org",
                      first_name, last_name, f"partner-{n + 1:03d}"]
        else:
            cells += [None] * 5
        for col, opt in cols:
            where = f"frame[{col!r}] row {n}"
            if opt is None:
                cells.append(answer_text(row[col], labels))
            else:
                chosen = chosen_options(row[col], options[col], where)
                cells.append(opt if opt in chosen else None)
        out.append(cells)
    return write_table(out, path, excel=excel, encoding="utf-8-sig")


