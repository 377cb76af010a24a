"""Reading export files as text and rows: encodings, CSV dialects, Excel sheets.

Every reader goes through these functions, so encodings (UTF-8 with or without BOM, UTF-16,
cp1252), line endings (CRLF/LF), newlines inside quoted cells, trailing empty columns and
floats-for-integers in Excel are handled once. Errors name the file and, where known, the row.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..errors import IngestError

__all__ = ["Rows", "decode", "read_csv_rows", "read_excel_rows", "read_rows", "unique_keys"]

MAX_FILE_BYTES = 512 * 2**20
csv.field_size_limit(64 * 2**20)


class Rows(list):
    """Rows of cells (``str`` or ``None`` for blank) with their 1-based row numbers in the
    file (``line_numbers``) and the encoding they were decoded from."""

    def __init__(self, rows, line_numbers, encoding=""):
        super().__init__(rows)
        self.line_numbers = list(line_numbers)
        self.encoding = encoding


def decode(data: bytes, source: str) -> tuple[str, str]:
    """Decode an export's bytes: BOM first (UTF-8, UTF-16), else UTF-8, else cp1252.

    UTF-16 without a BOM is recognised by its NUL bytes. cp1252 is the fallback Excel on
    Windows writes; bytes it does not define (0x81, 0x8D, 0x8F, 0x90, 0x9D) make the file
    unreadable with an error naming the first one's position.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode(data[3:], "utf-8", source), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(data, "utf-16", source), "utf-16"
    head = data[:4096]
    if head and head.count(b"\x00") > len(head) // 4:
        encoding = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
        return _decode(data, encoding, source), "utf-16"
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise IngestError(source, f"binary content (a NUL byte at offset {offset}); "
                          "expected a text export")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    return _decode(data, "cp1252", source), "cp1252"


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IngestError(source, f"cannot decode byte 0x{data[exc.start]:02x} as {encoding}",
                          row=line) from None


def _read_bytes(path: str | Path) -> bytes:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError(str(path), f"file is {size / 2**20:.0f} MiB; the limit is "
                              f"{MAX_FILE_BYTES // 2**20} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file ({exc.strerror or exc})") from None


def read_csv_rows(path: str | Path, *, data: bytes | None = None) -> Rows:
    """All rows of a CSV (or TSV/semicolon) export, empty cells as ``None``.

    The delimiter is sniffed among comma, semicolon and tab from the first lines. Quoted cells
    may contain delimiters and newlines. Trailing blank cells are kept (callers decide);
    completely blank lines are skipped (their numbers are not reused).
    """
    source = str(path)
    raw = _read_bytes(path) if data is None else data
    text, encoding = decode(raw, source)
    if not text.strip():
        raise IngestError(source, "the file is empty")
    sample = text[:8192]
    delimiter = max((",", ";", "\t"), key=lambda d: sample.split("\n", 1)[0].count(d))
    fast = _fast_rows(text, delimiter, encoding)
    if fast is not None:
        return fast
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows, numbers = [], []
    previous_end = 0  # a row starts on the line after the one the previous row ended on
    try:
        for cells in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not "".join(cells).strip():
                continue
            # "" becomes None here; a cell of spaces stays text and readers treat it as blank.
            rows.append([c or None for c in cells])
            numbers.append(line)
    except csv.Error as exc:
        raise IngestError(source, f"malformed CSV ({exc})", row=reader.line_num) from None
    if not rows:
        raise IngestError(source, "no non-blank rows (only delimiters or blanks)")
    return Rows(rows, numbers, encoding)


def _fast_rows(text: str, delimiter: str, encoding: str) -> Rows | None:
    """The same rows through pandas' C parser, when that is safe: every record on one line
    (no line break inside a quoted cell, so a record's line number is its position), no lone
    carriage returns, and no blank lines. Returns None otherwise (the csv module then reads
    the file)."""
    import pandas as pd

    if "\r" in text.replace("\r\n", "") or "\n\n" in text or "\n\r\n" in text:
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=object,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False,
                            engine="c", quotechar='"', doublequote=True)
    except (ValueError, pd.errors.ParserError, csv.Error):
        return None
    if len(frame) != lines:
        return None  # a quoted cell spans lines: line numbers need the csv module
    cells = frame.to_numpy(dtype=object)
    rows, numbers = [], []
    for number, row in enumerate(cells.tolist(), start=1):
        if not "".join(row).strip():
            continue
        rows.append([c or None for c in row])
        numbers.append(number)
    if not rows:
        return None
    return Rows(rows, numbers, encoding)


def read_excel_rows(path: str | Path, *, sheet: str | int = 0) -> Rows:
    """All rows of one sheet of an .xlsx workbook, cells as text (``None`` when blank).

    Whole-number floats (Excel stores every number as a float: ``4.0``) become ``"4"``;
    dates and times become ISO text.
    """
    import openpyxl  # imported here: only Excel exports need it

    source = str(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise IngestError(source, f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        names = book.sheetnames
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise IngestError(source, f"has no sheet number {sheet} (sheets: {names})")
            ws = book[names[sheet]]
        else:
            if sheet not in names:
                raise IngestError(source, f"has no sheet {sheet!r} (sheets: {names})")
            ws = book[sheet]
        rows, numbers = [], []
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = [_excel_text(v) for v in values]
            if any(c is not None for c in cells):
                rows.append(cells)
                numbers.append(number)
        # openpyxl drops trailing blank cells: pad every row to the widest one.
        width = max((len(r) for r in rows), default=0)
        rows = [r + [None] * (width - len(r)) for r in rows]
    finally:
        book.close()
    if not rows:
        raise IngestError(source, "the sheet is empty")
    return Rows(rows, numbers, "")


def _excel_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def read_rows(path: str | Path, *, sheet: str | int = 0) -> Rows:
    """Rows of a CSV or an Excel file, chosen by content (the ZIP signature of .xlsx)."""
    raw = _read_bytes(path)
    if raw[:4] == b"PK\x03\x04":
        return read_excel_rows(path, sheet=sheet)
    return read_csv_rows(path, data=raw)


def unique_keys(headers: list[str | None]) -> tuple[list[str], list[str]]:
    """Unique, non-blank column keys for a header row, and notes on what was renamed.

    A blank header becomes ``column_<k>`` (1-based position); a repeated one gets ``__2``,
    ``__3`` ... appended.
    """
    keys, notes, seen = [], [], {}
    for k, header in enumerate(headers, start=1):
        base = (header or "").strip() or f"column_{k}"
        if not (header or "").strip():
            notes.append(f"blank header in column {k} named {base!r}")
        count = seen.get(base, 0) + 1
        seen[base] = count
        key = base if count == 1 else f"{base}__{count}"
        if count > 1:
            notes.append(f"duplicate header {base!r} in column {k} named {key!r}")
        keys.append(key)
    return keys, notes
