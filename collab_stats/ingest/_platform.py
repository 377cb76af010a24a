"""Helpers shared by the platform readers and writers (SurveyMonkey, Microsoft and Google
Forms): header normalisation, rectangular rows, writer input checks, fake personal data,
answer text and table writing."""

from __future__ import annotations

import csv
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import IngestError, ParameterError
from .textio import Rows


def rectangular(rows: Rows, *, header_rows: int, source: str) -> tuple[Rows, list[str]]:
    """Rows padded to one width (Excel and CSV rows may be ragged), with trailing columns
    that are blank in every row (headers included) removed, and notes on what was done."""
    notes: list[str] = []
    if not rows:  # e.g. a CSV of delimiters only
        raise IngestError(source, "has no non-blank rows")
    width = max(len(r) for r in rows)
    used = max((k + 1 for r in rows for k, c in enumerate(r) if c is not None), default=0)
    if used < width:
        notes.append(f"{width - used} trailing empty column(s) removed")
    grid = [list(r[:used]) + [None] * (used - len(r[:used])) for r in rows]
    for k in range(used):
        if all(r[k] is None for r in grid[:header_rows]):
            notes.append(f"column {k + 1} has answers but no header")
    return Rows(grid, rows.line_numbers, rows.encoding, rows.truncated_rows), notes


def normalise_header(text: str | None) -> str:
    """Whitespace runs (line breaks included) as one space, ends stripped."""
    return " ".join(text.split()) if text else ""


def cell_preview(cells: list[str | None], n: int = 3) -> str:
    return ", ".join(repr(c) for c in cells[:n]) + (" ..." if len(cells) > n else "")


_FIRST = ("Amira", "Ben", "Chloe", "Dev", "Eilidh", "Farah", "Gareth", "Hana", "Iwan", "Jo",
          "Kofi", "Lowri", "Mei", "Niamh", "Owen", "Priya", "Rhys", "Siobhan", "Tomás", "Zoë")


_LAST = ("Adeyemi", "Byrne", "Campbell", "Davies", "Evans", "Fraser", "Gallagher", "Hughes",
         "Iqbal", "Jones", "Khan", "Lewis", "MacLeod", "Nowak", "O'Brien", "Patel", "Rees",
         "Singh", "Thomas", "Wright")


def fake_name(rng: random.Random) -> tuple[str, str]:
    """A made-up first and last name (some non-ASCII and an apostrophe, as real lists have)."""
    return rng.choice(_FIRST), rng.choice(_LAST)


def check_writer_input(frame: Any, questions: Mapping[str, str],
                       options: Mapping[str, Sequence[str]], labels: Any) -> None:
    """Parameter checks shared by the export writers."""
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    if not questions:
        raise ParameterError("questions must map at least one column to its question text; "
                             "got an empty mapping")
    missing = [c for c in questions if c not in frame.columns]
    if missing:
        raise ParameterError(f"questions names columns that frame does not have: {missing}; "
                             f"frame has {list(frame.columns)}")
    extra = [c for c in options if c not in questions]
    if extra:
        raise ParameterError(f"options names columns that are not in questions: {extra}")
    for col, opts in options.items():
        if isinstance(opts, str) or not opts or len(set(opts)) != len(opts):
            raise ParameterError(f"options[{col!r}] must be a non-empty sequence of distinct "
                                 f"option texts; got {opts!r}")
    if labels is not None and not isinstance(labels, Mapping):
        raise ParameterError(f"labels must be a mapping of code -> text; got {labels!r}")


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def submitted_time(row: pd.Series) -> datetime | None:
    """A frame row's ``submitted_at`` as a naive UTC datetime to the second (what the
    platforms write), or None when the frame has none for it."""
    value = row.get("submitted_at")
    if _blank(value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.floor("s").to_pydatetime()


def answer_text(value: Any, labels: Mapping[Any, str] | None) -> str | None:
    """A frame cell as the text a platform writes: its label, else the value as text
    (whole-number floats without ``.0``), blank for missing."""
    if _blank(value):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if labels is not None and value in labels:
        return labels[value]
    return str(value)


def chosen_options(value: Any, allowed: Sequence[str], where: str) -> list[str]:
    """The options chosen in a multi-select cell, in ``allowed`` order."""
    if _blank(value):
        return []
    chosen = {value} if isinstance(value, str) else set(value) if isinstance(value, Iterable) \
        else None
    if chosen is None:
        raise ParameterError(f"{where} must be option texts (list, tuple, set or one text); "
                             f"got {value!r}")
    unknown = chosen - set(allowed)
    if unknown:
        raise ParameterError(f"{where} has options {sorted(map(str, unknown))} that are not in "
                             f"options: {list(allowed)}")
    return [opt for opt in allowed if opt in chosen]


def write_table(rows: list[list[Any]], path: str | Path, *, excel: bool,
                encoding: str = "utf-8") -> Path:
    """Rows to CSV (CRLF, ``encoding``) or to the first sheet of an XLSX workbook."""
    path = Path(path)
    if excel:
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("Sheet1")
        for row in rows:
            sheet.append(row)
        book.save(path)
    else:
        with path.open("w", encoding=encoding, newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerows([["" if c is None else c for c in row] for row in rows])
    return path


_MINUTE_ONLY = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}$")


def minute_only(values: Iterable[str | None]) -> bool:
    """Whether every non-blank timestamp is ``M/D/YYYY H:MM`` (seconds lost: an Excel re-save)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(_MINUTE_ONLY.match(v.strip()) for v in present)
