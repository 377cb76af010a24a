"""Reading export files as text and rows: encodings, CSV dialects, Excel sheets.

Every reader goes through these functions, so encodings (UTF-8 with or without BOM, UTF-16,
cp1252), line endings (CRLF/LF), newlines inside quoted cells, trailing empty columns and
floats-for-integers in Excel are handled once. Errors name the file and, where known, the row;
every message is one line.

Limits
------
An export is checked against these limits before it is parsed (and again while it is read, as
a file's own description of its size may be missing or wrong), so that a hostile or broken
file fails at once with one clear line instead of using minutes of time and gigabytes of memory:

``MAX_FILE_BYTES`` (512 MiB)
    The file on disk.
``MAX_ROWS`` (200,000)
    Rows of a CSV (records, header rows included; blank lines not counted) or of an Excel
    sheet (sheet rows up to the last one, blank ones included; also the rows the sheet's
    ``<dimension ref="A1:AX150001"/>`` declares).
``MAX_COLUMNS`` (2,000)
    Columns of a CSV's first row (checked before the rest is parsed) and of any other row,
    and columns of an Excel sheet (declared and read).
``MAX_XLSX_UNPACKED_BYTES`` (256 MiB)
    The sum of the uncompressed sizes of all parts of an .xlsx (a ZIP archive), from its
    directory, before anything is unpacked. Python's ``zipfile`` never unpacks more than a
    part's declared size, so a false directory cannot get round the limit.
``MAX_XLSX_RATIO`` (100)
    Uncompressed / compressed size of any part over 1 MiB (real sheets compress 5-20 to 1;
    a "zip bomb" thousands to 1).

Each limit can be raised (or lowered) for one run with an environment variable named
``COLLAB_STATS_`` + the constant's name, a whole number: e.g. ``COLLAB_STATS_MAX_ROWS=500000``
or ``COLLAB_STATS_MAX_XLSX_UNPACKED_BYTES=1073741824``. The variable is read each time a file
is read; the module constants are the defaults. XML parts of an .xlsx that declare a DTD
(``<!DOCTYPE``, which entity-expansion attacks such as "billion laughs" need; workbooks never
have one) are refused before any XML is parsed.

A CSV whose final record was cut off - the file ends inside a quoted cell, or its last line
has no line break and fewer fields than the first row - is read, and that row's number is in
:attr:`Rows.truncated_rows` (conversion quarantines it as ``truncated``). A last line that
merely lacks its line break but has all its fields is complete.
"""

from __future__ import annotations

import csv
import io
import math
import os
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import IngestError, ParameterError

__all__ = [
    "MAX_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "MAX_XLSX_RATIO",
    "MAX_XLSX_UNPACKED_BYTES",
    "Rows",
    "decode",
    "limit",
    "read_csv_rows",
    "read_excel_rows",
    "read_rows",
    "summarise_names",
    "unique_keys",
]

#: Size of an export file on disk (bytes).
MAX_FILE_BYTES = 512 * 2**20
#: Rows of a CSV or of an Excel sheet, header rows included.
MAX_ROWS = 200_000
#: Columns of a CSV or of an Excel sheet.
MAX_COLUMNS = 2_000
#: Sum of the uncompressed sizes of the parts of an .xlsx (bytes).
MAX_XLSX_UNPACKED_BYTES = 256 * 2**20
#: Uncompressed / compressed size of any .xlsx part larger than 1 MiB.
MAX_XLSX_RATIO = 100
_LIMITS = ("MAX_FILE_BYTES", "MAX_ROWS", "MAX_COLUMNS", "MAX_XLSX_UNPACKED_BYTES",
           "MAX_XLSX_RATIO")
_RATIO_FROM_BYTES = 2**20
_LONE_CR = re.compile(r"\r(?!\n)")
csv.field_size_limit(64 * 2**20)


class Rows(Sequence):
    """Rows of cells (``str`` or ``None`` for blank) with their 1-based row numbers in the
    file (``line_numbers``), the encoding they were decoded from, and the numbers of rows the
    file cut off before their end (``truncated_rows``: at most the last row of a CSV).

    A sequence of lists, as ``list(rows)`` gives them (equal to a list of the same lists).
    ``table``, when not None, holds the same cells as one 2-D object array (rows of equal
    width), for readers that go on column by column; only the fast CSV path fills it, and
    then gives ``rows=None``: the lists are made from the table when first needed as a whole
    (iteration, slices), so a reader that uses the table never makes 6 million list entries;
    a row taken by position before that is a new list each time. Treat rows as read-only.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, rows, line_numbers, encoding="", truncated_rows=(), table=None):
        if rows is None and table is None:
            raise ParameterError("Rows needs rows or a table")
        self._lists = None if rows is None else list(rows)
        self.line_numbers = list(line_numbers)
        self.encoding = encoding
        self.truncated_rows = tuple(truncated_rows)
        self.table = table

    def _all(self) -> list[list]:
        if self._lists is None:
            self._lists = self.table.tolist()
        return self._lists

    def __len__(self) -> int:
        return len(self._lists) if self._lists is not None else len(self.table)

    def __getitem__(self, index):
        if self._lists is None and isinstance(index, int | np.integer):
            return self.table[index].tolist()
        return self._all()[index]

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other) -> bool:
        if isinstance(other, Rows | list):
            return self._all() == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Rows({self._all()!r})"


def limit(name: str) -> int:
    """The value of a limit of this module (e.g. ``"MAX_ROWS"``): the environment variable
    ``COLLAB_STATS_<name>`` when it is set, else the module constant."""
    if name not in _LIMITS:
        raise ParameterError(f"name must be one of {', '.join(_LIMITS)}; got {name!r}")
    variable = f"COLLAB_STATS_{name}"
    text = os.environ.get(variable, "").strip()
    if not text:
        return int(globals()[name])
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ParameterError(f"the environment variable {variable} must be a whole number of "
                             f"at least 1; got {_one_line(text)!r}")
    return value


def summarise_names(names: Iterable[object], *, limit: int = 10) -> str:
    """Names (of columns, say) as one short line: all of them when there are at most
    ``limit``, else the first ``limit`` and how many more.

    Each name is put on one line (runs of whitespace, line breaks included, become one space)
    and cut to 60 characters.

    Examples
    --------
    >>> summarise_names(["Q1", "Q2"])
    'Q1, Q2'
    >>> summarise_names([f"c{k}" for k in range(100_000)], limit=3)
    'c0, c1, c2 and 99,997 more'
    """
    names = list(names)
    shown = []
    for name in names[:limit]:
        text = _one_line(name)
        shown.append(text if len(text) <= 60 else text[:57] + "...")
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest > 0 else "")


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB" if n_bytes >= 2**20 else f"{n_bytes:,} bytes"


def _one_line(value: object, width: int = 300) -> str:
    """Text (of an exception, say) on one line, cut to ``width`` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _reason(exc: BaseException) -> str:
    """An exception as one line, by the error that caused it when there is one (openpyxl
    wraps the XML parser's error in a three-line ValueError)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return f"{type(cause).__name__}: {_one_line(cause)}"


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
        most = limit("MAX_FILE_BYTES")
        if size > most:
            raise IngestError(str(path), f"file is {_size(size)}; the limit is "
                              f"{_size(most)} (COLLAB_STATS_MAX_FILE_BYTES)")
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file "
                          f"({_one_line(exc.strerror or exc)})") from None


def read_csv_rows(path: str | Path, *, data: bytes | None = None) -> Rows:
    """All rows of a CSV (or TSV/semicolon) export, empty cells as ``None``.

    The delimiter is sniffed among comma, semicolon and tab from the first lines. Quoted cells
    may contain delimiters and newlines. Trailing blank cells are kept (callers decide);
    completely blank lines are skipped (their numbers are not reused). The first row's width
    is checked against ``MAX_COLUMNS`` before the rest is parsed, and every row against
    ``MAX_COLUMNS`` and ``MAX_ROWS`` (see the module notes). A final record the file cuts off
    is kept, and its row number is in ``truncated_rows``.
    """
    source = str(path)
    raw = _read_bytes(path) if data is None else data
    text, encoding = decode(raw, source)
    if not text.strip():
        raise IngestError(source, "the file is empty")
    sample = text[:8192]
    delimiter = max((",", ";", "\t"), key=lambda d: sample.split("\n", 1)[0].count(d))
    max_rows, max_columns = limit("MAX_ROWS"), limit("MAX_COLUMNS")
    header, header_line = _first_record(text, delimiter, source)
    if len(header) > max_columns:
        raise IngestError(source, f"the first row has {len(header):,} columns "
                          f"({summarise_names(header)}); the limit is {max_columns:,} "
                          "(COLLAB_STATS_MAX_COLUMNS)", row=header_line)
    fast = _fast_rows(text, delimiter, encoding, header_width=len(header))
    if fast is not None:
        return fast
    handle = io.StringIO(text, newline="")
    reader = csv.reader(handle, delimiter=delimiter, strict=False)
    rows, numbers = [], []
    previous_end = 0  # a row starts on the line after the one the previous row ended on
    end = last_start = 0  # offsets in text: end of the previous record, start of the last row
    try:
        for cells in reader:
            line, previous_end = previous_end + 1, reader.line_num
            start, end = end, handle.tell()
            if not "".join(cells).strip():
                continue
            if len(cells) > max_columns:
                raise IngestError(source, f"the row has {len(cells):,} cells; the limit is "
                                  f"{max_columns:,} columns (COLLAB_STATS_MAX_COLUMNS)",
                                  row=line)
            if len(rows) == max_rows:
                raise IngestError(source, f"more than {max_rows:,} rows; the limit is "
                                  f"{max_rows:,} (COLLAB_STATS_MAX_ROWS)", row=line)
            # "" becomes None here; a cell of spaces stays text and readers treat it as blank.
            rows.append([c or None for c in cells])
            numbers.append(line)
            last_start = start
    except csv.Error as exc:
        raise IngestError(source, f"malformed CSV ({_one_line(exc)})",
                          row=reader.line_num) from None
    if not rows:
        raise IngestError(source, "no non-blank rows (only delimiters or blanks)")
    truncated = ()
    if len(rows) > 1 and _cut_short(text[last_start:], len(rows[0]), delimiter):
        truncated = (numbers[-1],)
    return Rows(rows, numbers, encoding, truncated)


def _first_record(text: str, delimiter: str, source: str) -> tuple[list[str], int]:
    """The first non-blank record of a CSV and its line number, parsed on its own (so a
    header 100,000 columns wide is refused before the whole file is parsed): from the start
    of the text, taking more of it only while the record may go on past what was taken."""
    size = 1 << 16
    while True:
        found = _first_record_in(text[:size], delimiter, source, complete=size >= len(text))
        if found is not None:
            return found
        size *= 16


def _first_record_in(head: str, delimiter: str, source: str, *, complete: bool
                     ) -> tuple[list[str], int] | None:
    """:func:`_first_record` of the start of a text (the whole text when ``complete``); None
    when that start cannot tell (the record, or an error, may go on past it)."""
    handle = io.StringIO(head, newline="")
    reader = csv.reader(handle, delimiter=delimiter, strict=False)
    line = 0
    try:
        for cells in reader:
            if "".join(cells).strip():
                return (cells, line + 1) if complete or handle.tell() < len(head) else None
            line = reader.line_num
    except csv.Error as exc:
        if not complete:
            return None
        raise IngestError(source, f"malformed CSV ({_one_line(exc)})",
                          row=reader.line_num) from None
    return ([], 1) if complete else None


def _cut_short(tail: str, header_width: int, delimiter: str) -> bool:
    """Whether the final record of a CSV (``tail``: its text to the end of the file) was cut
    off: the file ends inside a quoted cell, or the record has no line break after it and
    fewer fields than the first row.

    The record is parsed again with a line ``x`` appended: if that line is not read as a
    record of its own, the quoted cell was still open at the end of the file.
    """
    records = [r for r in csv.reader(io.StringIO(tail + "\nx", newline=""),
                                     delimiter=delimiter, strict=False) if r]
    if len(records) < 2:
        return True
    return not tail.endswith(("\n", "\r")) and len(records[0]) < header_width


def _fast_rows(text: str, delimiter: str, encoding: str, *, header_width: int) -> Rows | None:
    """The same rows through pandas' C parser, when that is safe: every record on one line
    (no line break inside a quoted cell, so a record's line number is its position), no lone
    carriage returns, no blank lines, and no more lines than ``MAX_ROWS``. Returns None
    otherwise (the csv module then reads the file)."""
    if _LONE_CR.search(text) or "\n\n" in text or "\n\r\n" in text:
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines > limit("MAX_ROWS"):
        return None  # perhaps too many rows: the csv module stops at the limit
    try:  # from UTF-8 bytes: pandas would encode a text handle to UTF-8 itself, slower
        frame = pd.read_csv(io.BytesIO(text.encode("utf-8")), sep=delimiter, header=None,
                            dtype=object, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, engine="c", quotechar='"',
                            doublequote=True)
    except (ValueError, pd.errors.ParserError, csv.Error):  # UnicodeError is a ValueError
        return None
    if len(frame) != lines:
        return None  # a quoted cell spans lines: line numbers need the csv module
    # Empty cells (and the cells pandas pads a short row with) are read as "" and become
    # None, as the csv module's rows have them.
    cells = frame.to_numpy(dtype=object, copy=True)
    missing = np.equal(cells, "", dtype=bool)
    cells[missing] = None
    keep = ~_blank_rows(text, delimiter, cells, missing)
    if not keep.any():
        return None
    table = cells[keep]
    numbers = (np.flatnonzero(keep) + 1).tolist()
    truncated = ()
    if len(numbers) > 1 and not text.endswith("\n") and _cut_short(
            text[text.rfind("\n") + 1:], header_width, delimiter):
        truncated = (numbers[-1],)
    return Rows(None, numbers, encoding, truncated, table=table)


def _blank_rows(text: str, delimiter: str, cells: np.ndarray, missing: np.ndarray
                ) -> np.ndarray:
    """Which rows of a CSV read one record per line are blank (every cell empty or white
    space): rows of missing cells, and rows whose line holds nothing but white space,
    quotes and delimiters (checked cell by cell)."""
    blank = missing.all(axis=1)
    filler = r"(?:[^\S\n]|[\"" + re.escape(delimiter) + r"])*"
    # Line starts: the start of the text, then every line break (a literal the regex
    # engine finds fast).
    candidates = [0] if re.match(filler + r"(?:\n|\Z)", text) else []
    line, position = 0, 0
    for match in re.finditer(r"\n" + filler + r"(?=\n|\Z)", text):
        line += text.count("\n", position, match.start() + 1)
        position = match.start() + 1
        candidates.append(line)
    for k in candidates:
        if k < len(cells) and not blank[k]:
            blank[k] = not "".join(c for c in cells[k] if c is not None).strip()
    return blank


def read_excel_rows(path: str | Path, *, sheet: str | int = 0, head: int | None = None) -> Rows:
    """All rows of one sheet of an .xlsx workbook, cells as text (``None`` when blank); with
    ``head``, only its first ``head`` non-blank rows (enough to recognise the export).

    Whole-number floats (Excel stores every number as a float: ``4.0``) become ``"4"``;
    dates and times become ISO text. Before openpyxl parses anything the archive is checked
    against ``MAX_XLSX_UNPACKED_BYTES`` and ``MAX_XLSX_RATIO``, its XML parts for a DTD, and
    the sheet's declared size against ``MAX_ROWS`` and ``MAX_COLUMNS``; the rows are counted
    again while they are read, as the declared size may be missing or wrong (every row is
    read, whatever the sheet declares).
    """
    import openpyxl  # imported here: only Excel exports need it

    source = str(path)
    _check_xlsx(path, sheet, source)
    max_rows, max_columns = limit("MAX_ROWS"), limit("MAX_COLUMNS")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise IngestError(source, f"not a readable .xlsx workbook ({_reason(exc)})") from None
    try:
        names = book.sheetnames
        if isinstance(sheet, int):
            if not 0 <= sheet < len(names):
                raise IngestError(source, f"has no sheet number {sheet} (sheets: "
                                  f"{_one_line(names)})")
            ws = book[names[sheet]]
        else:
            if sheet not in names:
                raise IngestError(source, f"has no sheet {_one_line(repr(sheet))} (sheets: "
                                  f"{_one_line(names)})")
            ws = book[sheet]
        # The declared width still pads the rows (as openpyxl does); the declared height is
        # not trusted: a sheet that declares fewer rows than it has would lose the rest.
        declared = getattr(ws, "max_column", None) or 0
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        rows, numbers = [], []
        try:
            for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                if number > max_rows:
                    raise IngestError(source, f"the sheet has more than {max_rows:,} rows; the "
                                      f"limit is {max_rows:,} (COLLAB_STATS_MAX_ROWS)",
                                      row=number)
                if len(values) > max_columns:
                    raise IngestError(source, f"the row has {len(values):,} columns; the limit "
                                      f"is {max_columns:,} (COLLAB_STATS_MAX_COLUMNS)",
                                      row=number)
                cells = [_excel_text(v) for v in values]
                if any(c is not None for c in cells):
                    rows.append(cells)
                    numbers.append(number)
                    if head is not None and len(rows) >= head:
                        break
        except IngestError:
            raise
        except Exception as exc:  # XML, zip (CRC) and value errors from inside the sheet
            raise IngestError(source, f"not a readable .xlsx sheet ({_reason(exc)})") from None
        # openpyxl drops trailing blank cells: pad every row to the widest one.
        width = max((len(r) for r in rows), default=0)
        width = max(width, declared) if rows and declared <= max_columns else width
        rows = [r + [None] * (width - len(r)) for r in rows]
    finally:
        book.close()
    if not rows:
        raise IngestError(source, "the sheet is empty")
    return Rows(rows, numbers, "")


_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
_SHEET_DATA = re.compile(rb"<(?:[\w.-]+:)?sheetData\b")
_ROOT = re.compile(rb"<[A-Za-z_]")
_TAG = re.compile(r"<(?:[\w.-]+:)?(sheet|Relationship)\b([^>]*)>")
_ATTRIBUTE = re.compile(r"([\w.:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def _check_xlsx(path: str | Path, sheet: str | int, source: str) -> None:
    """The limits of an .xlsx checked from its ZIP directory and the first bytes of its
    parts, before openpyxl parses anything (see the module notes)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(source, f"not a readable .xlsx workbook ({_reason(exc)})") from None
    with archive:
        parts = archive.infolist()
        total = sum(p.file_size for p in parts)
        most = limit("MAX_XLSX_UNPACKED_BYTES")
        if total > most:
            raise IngestError(source, f"the workbook unpacks to {_size(total)} (the sizes of "
                              f"its {len(parts):,} parts); the limit is {_size(most)} "
                              "(COLLAB_STATS_MAX_XLSX_UNPACKED_BYTES)")
        ratio = limit("MAX_XLSX_RATIO")
        for part in parts:
            if part.file_size > _RATIO_FROM_BYTES and \
                    part.file_size > ratio * max(part.compress_size, 1):
                raise IngestError(source, f"part {_one_line(part.filename)!r} is compressed "
                                  f"{part.file_size / max(part.compress_size, 1):,.0f} to 1 "
                                  f"({_size(part.file_size)} unpacked); the limit is "
                                  f"{ratio:,} to 1 (COLLAB_STATS_MAX_XLSX_RATIO)")
        try:
            for part in parts:
                if part.filename.lower().endswith((".xml", ".rels", ".vml")):
                    _refuse_dtd(archive, part, source)
            target = _sheet_part(archive, sheet)
            ref = _dimension(archive, target) if target is not None else None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
                NotImplementedError, ValueError, KeyError):
            return  # a damaged archive: openpyxl says what it cannot read
    if ref is None:
        return
    from openpyxl.utils.cell import range_boundaries

    try:
        _, _, max_col, max_row = range_boundaries(ref.split(":", 1)[-1] if ":" in ref
                                                  else ref)
    except (ValueError, TypeError):
        return  # an unreadable dimension is no size: the rows are counted while read
    max_rows, max_columns = limit("MAX_ROWS"), limit("MAX_COLUMNS")
    if (max_row or 0) > max_rows or (max_col or 0) > max_columns:
        raise IngestError(source, f"the sheet declares {max_row or 0:,} rows and "
                          f"{max_col or 0:,} columns (dimension {_one_line(ref)!r}); the "
                          f"limits are {max_rows:,} rows (COLLAB_STATS_MAX_ROWS) and "
                          f"{max_columns:,} columns (COLLAB_STATS_MAX_COLUMNS)")


def _head(archive: zipfile.ZipFile, part: zipfile.ZipInfo, size: int = 64 * 1024) -> bytes:
    """The first ``size`` unpacked bytes of a part (UTF-16 XML re-encoded as UTF-8)."""
    with archive.open(part) as handle:
        head = handle.read(size)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head[: len(head) // 2 * 2].decode("utf-16", "replace").encode("utf-8")
    return head


def _refuse_dtd(archive: zipfile.ZipFile, part: zipfile.ZipInfo, source: str) -> None:
    head = _head(archive, part)
    root = _ROOT.search(head)
    prolog = head[: root.start()] if root else head
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise IngestError(source, f"part {_one_line(part.filename)!r} declares a DTD "
                          "(<!DOCTYPE ...>), which workbooks never have: entity expansion "
                          "(a 'billion laughs' file) is refused")


def _sheet_part(archive: zipfile.ZipFile, sheet: str | int) -> str | None:
    """The archive name of a sheet's XML, from the workbook's sheet list and relationships
    (None when it cannot be found: openpyxl then says what is wrong)."""
    names = set(archive.namelist())
    book = "xl/workbook.xml"
    for attrs in _tags(archive, "_rels/.rels", "Relationship"):
        if attrs.get("Type", "").endswith("/officeDocument"):
            book = _resolve("", attrs.get("Target", ""))
    folder, name = posixpath.split(book)
    sheets = _tags(archive, book, "sheet")
    if isinstance(sheet, int):
        chosen = sheets[sheet] if 0 <= sheet < len(sheets) else None
    else:
        chosen = next((a for a in sheets if a.get("name") == sheet), None)
    if chosen is None:
        return None
    rid = next((v for k, v in chosen.items() if k == "id" or k.endswith(":id")), None)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    for attrs in _tags(archive, rels, "Relationship"):
        if attrs.get("Id") == rid:
            target = _resolve(folder, attrs.get("Target", ""))
            return target if target in names else None
    return None


def _resolve(folder: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target))


def _tags(archive: zipfile.ZipFile, name: str, tag: str) -> list[dict[str, str]]:
    """The attributes of every ``<tag ...>`` of a small XML part (none when it is absent or
    over 4 MiB)."""
    from xml.sax.saxutils import unescape

    try:
        info = archive.getinfo(name)
    except KeyError:
        return []
    if info.file_size > 4 * 2**20:
        return []
    text = archive.read(info).decode("utf-8", "replace")
    found = []
    for match in _TAG.finditer(text):
        if match.group(1) != tag:
            continue
        attrs = {}
        for key, double, single in _ATTRIBUTE.findall(match.group(2)):
            attrs[key] = unescape(double or single, {"&quot;": '"', "&apos;": "'"})
        found.append(attrs)
    return found


def _dimension(archive: zipfile.ZipFile, part: str) -> str | None:
    """The ``ref`` of a sheet's ``<dimension>`` element, read from the first 64 KiB of its
    XML (None when there is none before the sheet's data)."""
    head = _head(archive, archive.getinfo(part))
    data = _SHEET_DATA.search(head)
    match = _DIMENSION.search(head, 0, data.start() if data else len(head))
    return match.group(1).decode("utf-8", "replace") if match else None


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
