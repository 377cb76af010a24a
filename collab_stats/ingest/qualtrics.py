"""Qualtrics exports (CSV or .xlsx): header rows, ImportIds, column roles.

Three layouts are recognised from the file's content, not from a fixed number of rows:

``qualtrics-3row-json``
    The current export: row 1 column names, row 2 question texts, row 3 one JSON object per
    column, ``{"ImportId":"QID1_1"}``, possibly with ``"timeZone"`` (date columns) and
    ``"choiceId"`` (one option of a multi-select) keys.
``qualtrics-3row-insights``
    The 2016 "Insights" export: the same three rows, but row 3 holds Python-dict-style
    objects, ``{'ImportId': 'QID1#1-1'}``.
``qualtrics-legacy-2row``
    The legacy export: row 1 ``V1``..``V10`` followed by the question export tags, row 2 the
    metadata names (``ResponseID`` ... ``Finished``) and question texts. There is no ImportId;
    ``import_id`` is ``""``.

:attr:`RawExport.variant` is ``"<layout>/<values>"``, where ``<values>`` says how answers
are written, judged from the ``Status`` and ``Finished`` columns: ``numeric`` (codes, e.g.
Status ``0``, Finished ``1``), ``choice-text`` (labels, e.g. Status ``IP Address``, Finished
``True``) or ``unknown`` (neither column has a value). Cells are returned as text either way.

Column roles (see :data:`collab_stats.ingest.raw.ColumnRole`) come from the column name, the
ImportId or, in legacy exports, the ``V1``..``V10`` position and row-2 name:
``ResponseId``/``ResponseID``/``V1`` are ``respondent_id``; IP address, recipient name and
e-mail, external reference, name, e-mail address and location columns are ``personal``;
dates, status, progress, duration, finished, response set, distribution channel, language
and ``Q_*`` system fields are ``metadata``; everything else is an ``answer``.

Question texts: Qualtrics writes "question - sub-question" into row 2 (joined by ``" - "`` in
current exports, by ``"-"`` in Insights and legacy exports). For each run of adjacent answer
columns of one question (same ``QID`` in the ImportId, or same export-tag stem in legacy
files) the longest shared text ending at a separator is the ``question`` and the rest the
``sub_label``; a lone column is split at its last separator only when its ImportId or name
marks a sub-question (``QID2_TEXT``, ``Q3_1``). Where the ImportId has more levels than the
sub-label has parts (``QID4#1-2``: a side-by-side question with one column), parts move from
the end of the question to the sub-label. This is a heuristic on text: a question whose own
text contains the separator may be cut too early when its sub-questions share words.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import IngestError, ParameterError
from .raw import RawColumn, RawExport
from .textio import Rows, read_rows, unique_keys

__all__ = ["LAYOUTS", "VALUE_KINDS", "read_qualtrics", "write_qualtrics"]

#: Layouts :func:`read_qualtrics` recognises (first part of ``RawExport.variant``).
LAYOUTS: tuple[str, ...] = (
    "qualtrics-3row-json",
    "qualtrics-3row-insights",
    "qualtrics-legacy-2row",
)
#: How answers are written (second part of ``RawExport.variant``).
VALUE_KINDS: tuple[str, ...] = ("numeric", "choice-text", "unknown")

# Column names (lower case, letters and digits only) and their roles. ImportIds of metadata
# columns are looked up the same way after removing an Insights "panel-"/"Location-" prefix.
_ROLES: dict[str, str] = {
    **dict.fromkeys(["responseid", "recordid"], "respondent_id"),
    **dict.fromkeys(
        [
            "ipaddress",
            "recipientlastname",
            "recipientfirstname",
            "recipientemail",
            "externalreference",
            "externaldatareference",
            "locationlatitude",
            "locationlongitude",
            "locationaccuracy",
        ],
        "personal",
    ),
    **dict.fromkeys(
        [
            "startdate",
            "enddate",
            "status",
            "progress",
            "duration",
            "durationinseconds",
            "finished",
            "recordeddate",
            "distributionchannel",
            "userlanguage",
            "responseset",
            "responsesetid",
        ],
        "metadata",
    ),
}
# Legacy exports: V1..V10 are always these, whatever row 2 says.
_LEGACY_V: dict[str, tuple[str, str]] = {
    "V1": ("ResponseID", "respondent_id"),
    "V2": ("ResponseSet", "metadata"),
    "V3": ("Name", "personal"),
    "V4": ("ExternalDataReference", "personal"),
    "V5": ("EmailAddress", "personal"),
    "V6": ("IPAddress", "personal"),
    "V7": ("Status", "metadata"),
    "V8": ("StartDate", "metadata"),
    "V9": ("EndDate", "metadata"),
    "V10": ("Finished", "metadata"),
}
# Status values of a choice-text export (a numeric export writes 0, 1, 2, 4, 8, 16, 17).
_STATUS_LABELS = frozenset(
    {
        "ip address",
        "survey preview",
        "survey test",
        "imported",
        "spam",
        "offline",
        "synthetic",
        "edited",
    }
)
_QID = re.compile(r"^(QID\d+)(.*)$")
_MAX_IMPORT_ID_CELL = 2000


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _parse_import_id(cell: str | None) -> tuple[str, dict] | None:
    """``("json" | "insights", object)`` if a cell is an ImportId object, else ``None``."""
    if cell is None:
        return None
    text = cell.strip()
    if not (text.startswith("{") and text.endswith("}")) or len(text) > _MAX_IMPORT_ID_CELL:
        return None
    try:
        obj = json.loads(text)
        kind = "json"
    except ValueError:
        try:
            obj = ast.literal_eval(text)
            kind = "insights"
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    if not isinstance(obj, dict) or not isinstance(obj.get("ImportId"), str):
        return None
    return kind, obj


def _detect_layout(rows, source: str) -> tuple[str, list[tuple[str, dict] | None] | None]:
    """The layout and, for 3-row layouts, each column's parsed ImportId object."""
    if len(rows) < 2:
        raise IngestError(
            source,
            f"only {len(rows)} non-blank row: a Qualtrics export has 2 (legacy) or 3 header rows",
            row=rows.line_numbers[0] if rows else None,
        )
    if len(rows) >= 3:
        parsed = [_parse_import_id(c) for c in rows[2]]
        found = [p for p in parsed if p is not None]
        non_blank = sum(c is not None for c in rows[2])
        if found and 2 * len(found) >= non_blank:
            n_json = sum(kind == "json" for kind, _ in found)
            layout = (
                "qualtrics-3row-json" if 2 * n_json >= len(found) else "qualtrics-3row-insights"
            )
            return layout, parsed
    first = [(c or "").strip() for c in rows[0][:2]]
    second = (rows[1][0] or "").strip() if rows[1] else ""
    if first[:1] == ["V1"] or second == "ResponseID":
        return "qualtrics-legacy-2row", None
    raise IngestError(
        source,
        "not a recognisable Qualtrics export: expected a third header row of ImportId "
        "objects ({\"ImportId\":\"QID1\"} or {'ImportId': 'QID1'}) or a legacy header "
        "starting V1, V2, ... with ResponseID below V1",
        row=rows.line_numbers[2] if len(rows) >= 3 else rows.line_numbers[-1],
    )


def _role(header: str, import_id: str, legacy_name: str | None) -> str:
    if legacy_name is not None:
        return _LEGACY_V[legacy_name][1]
    for name in (header, re.sub(r"^(panel|Location)-", "", import_id)):
        role = _ROLES.get(_norm(name))
        if role is not None:
            return role
    if header.startswith("Q_"):
        return "metadata"
    return "answer"


def _stem(header: str, import_id: str) -> tuple[str, bool]:
    """The question a column belongs to, and whether the column is a sub-part of it."""
    m = _QID.match(import_id)
    if m:
        return m.group(1), bool(m.group(2))
    m = re.match(r"^([^_#]+)([_#].*)?$", header)
    if m:
        return m.group(1), bool(m.group(2))
    return header, False


def _split_texts(texts: list[str], sep: str) -> tuple[str, list[str]] | None:
    """The longest ``question`` such that every text is it or starts with it + ``sep``."""
    first = texts[0]
    cuts = [m.start() for m in re.finditer(re.escape(sep), first)] + [len(first)]
    for cut in sorted(cuts, reverse=True):
        head = first[:cut]
        if head and all(t == head or t.startswith(head + sep) for t in texts):
            return head, [t[len(head) + len(sep) :] if t != head else "" for t in texts]
    return None


def _questions(columns: list[dict], sep: str) -> None:
    """Fill ``question``/``sub_label`` of answer columns in place (see the module notes)."""
    k = 0
    while k < len(columns):
        col = columns[k]
        if col["role"] != "answer":
            col["question"], col["sub_label"] = col["text"], ""
            k += 1
            continue
        end = k + 1
        while (
            end < len(columns)
            and columns[end]["role"] == "answer"
            and columns[end]["stem"] == col["stem"]
        ):
            end += 1
        group = columns[k:end]
        split = _split_texts([c["text"] for c in group], sep) if len(group) > 1 else None
        if split is not None:
            for c, sub in zip(group, split[1], strict=True):
                c["question"], c["sub_label"] = split[0], sub
        else:
            for c in group:
                text = c["text"]
                if c["is_part"] and sep in text:
                    head, _, tail = text.rpartition(sep)
                    c["question"], c["sub_label"] = head, tail
                else:
                    c["question"], c["sub_label"] = text, ""
        for c in group:
            _widen_sub_label(c, sep)
        k = end


def _widen_sub_label(col: dict, sep: str) -> None:
    """Move trailing parts of the question into the sub-label while the sub-label has fewer
    parts than the ImportId has levels (``QID4#1-2``: side-by-side column, then statement),
    e.g. a side-by-side question with a single column."""
    m = _QID.match(col["import_id"])
    if not m:
        return
    levels = [p for p in re.split(r"[#_-]", m.group(2))[1:] if p and p != "TEXT"]
    parts = col["sub_label"].split(sep) if col["sub_label"] else []
    while len(parts) < len(levels) and sep in col["question"]:
        col["question"], _, moved = col["question"].rpartition(sep)
        parts.insert(0, moved)
    col["sub_label"] = sep.join(parts)


def _value_kind(frame: pd.DataFrame, columns: list[dict]) -> str:
    for name in ("status", "finished"):
        keys = [c["key"] for c in columns if _norm(c["name"]) == name]
        values = {v.strip() for key in keys for v in frame[key].dropna().unique()}
        if not values:
            continue
        if name == "status":
            if all(re.fullmatch(r"-?\d+", v) for v in values):
                return "numeric"
            if any(v.lower() in _STATUS_LABELS for v in values):
                return "choice-text"
        else:
            if values <= {"0", "1"}:
                return "numeric"
            if {v.lower() for v in values} <= {"true", "false"}:
                return "choice-text"
    return "unknown"


def _column_is_blank(rows: Rows, k: int) -> bool:
    """Whether no row has a cell in column ``k`` (0-based)."""
    if rows.table is not None:
        return bool(pd.isna(rows.table[:, k]).all())
    return all(len(r) <= k or r[k] is None for r in rows)


def _rows_beyond(rows: Rows, width: int) -> list[tuple[list, int]]:
    """The rows after the first with a cell beyond ``width`` columns, with their numbers."""
    if rows.table is not None:
        beyond = ~pd.isna(rows.table[1:, width:]).all(axis=1)
        return [(rows[i + 1], rows.line_numbers[i + 1]) for i in np.flatnonzero(beyond)]
    return [(r, line) for r, line in zip(rows[1:], rows.line_numbers[1:], strict=True)
            if any(c is not None for c in r[width:])]


def _body(rows: Rows, n_header: int, width: int) -> np.ndarray | list[list]:
    """The response rows (after ``n_header`` header rows), cut or padded to ``width``."""
    if rows.table is not None:
        return rows.table[n_header:, :width]
    return [(r + [None] * width)[:width] for r in rows[n_header:]]


def read_qualtrics(path: str | Path, *, sheet: str | int = 0) -> RawExport:
    """Read a Qualtrics export (CSV in any encoding :func:`textio.decode` knows, or .xlsx).

    Parameters
    ----------
    path : str or Path
        The export file. CSV or .xlsx is recognised by content.
    sheet : str or int, default 0
        Sheet name or 0-based number, for .xlsx files.

    Returns
    -------
    RawExport
        ``format="qualtrics"``; ``variant`` is ``"<layout>/<values>"`` (see the module
        notes); one row per response line, every cell ``str`` or ``None`` (blank), nothing
        converted (negative codes such as ``-1`` for "no basis for evaluation" stay text);
        ``row_numbers`` the file lines of the responses. Columns with a blank name that are
        blank in every row at the end of the header (the trailing comma Qualtrics writes)
        are removed; repeated names (side-by-side questions) get ``__2``, ``__3`` ... keys.
        An export with header rows but no responses gives zero rows and a note.

    Raises
    ------
    IngestError
        The file cannot be read or decoded, has fewer than two header rows, has no
        recognisable Qualtrics header, or a response row has more non-blank cells than
        the header has columns.
    """
    source = str(path)
    rows = read_rows(path, sheet=sheet)
    layout, parsed = _detect_layout(rows, source)
    n_header = 2 if layout == "qualtrics-legacy-2row" else 3
    notes: list[str] = []

    width = len(rows[0])
    trailing = 0
    while width - trailing > 1 and _column_is_blank(rows, width - trailing - 1):
        trailing += 1
    if trailing:
        notes.append(f"{trailing} trailing empty column{'s' if trailing > 1 else ''} removed")
    width -= trailing
    header_cells = rows[0][:width] + [None] * (width - len(rows[0]))

    for r, line in _rows_beyond(rows, width):
        extra = [c for c in r[width:] if c is not None]
        if extra:
            raise IngestError(
                source,
                f"the row has {len(r)} cells but the header has only "
                f"{width} columns (first extra value {extra[0]!r})",
                row=line,
            )

    keys, key_notes = unique_keys(header_cells)
    notes.extend(key_notes)
    texts = (rows[1] + [None] * width)[:width]
    columns: list[dict] = []
    zones: dict[str, list[str]] = {}
    for k, key in enumerate(keys):
        header = (header_cells[k] or "").strip()
        text = (texts[k] or "").strip()
        obj = parsed[k][1] if parsed is not None and k < len(parsed) and parsed[k] else {}
        import_id = str(obj.get("ImportId", ""))
        choice_id = str(obj.get("choiceId", "")) if obj.get("choiceId") is not None else ""
        if parsed is not None and not import_id and (rows[2][k : k + 1] or [None])[0] is not None:
            notes.append(f"column {key!r} has no ImportId (row 3 reads {rows[2][k]!r})")
        if obj.get("timeZone"):
            zones.setdefault(str(obj["timeZone"]), []).append(key)
        legacy = (
            header if layout == "qualtrics-legacy-2row" and k < 10 and header in _LEGACY_V else None
        )
        name = _LEGACY_V[legacy][0] if legacy else header
        stem, is_part = _stem(header, import_id)
        columns.append(
            dict(
                key=key,
                header=header,
                text=text,
                import_id=import_id,
                choice_id=choice_id,
                name=name,
                stem=stem,
                is_part=is_part,
                role=_role(header, import_id, legacy),
            )
        )
    for zone, zone_keys in zones.items():
        notes.append(f"times in {', '.join(zone_keys)} are in time zone {zone}")
    _questions(columns, " - " if layout == "qualtrics-3row-json" else "-")

    body = _body(rows, n_header, width)
    frame = (
        pd.DataFrame(body, columns=keys, dtype=object)
        if len(body)
        else pd.DataFrame({key: pd.Series([], dtype=object) for key in keys})
    )
    if not len(body):
        notes.append("the export has header rows but no responses")
    values = _value_kind(frame, columns)
    raw_columns = tuple(
        RawColumn(
            key=c["key"],
            header=c["header"],
            question=c["question"],
            sub_label=c["sub_label"],
            import_id=c["import_id"],
            choice_id=c["choice_id"],
            role=c["role"],
        )
        for c in columns
    )
    return RawExport(
        source=Path(source).name,
        format="qualtrics",
        variant=f"{layout}/{values}",
        frame=frame,
        columns=raw_columns,
        row_numbers=tuple(rows.line_numbers[n_header:]),
        encoding=rows.encoding,
        notes=tuple(notes),
        truncated_rows=rows.truncated_rows,
    )


# --------------------------------------------------------------------------------------
# Writing

# (column name, question-text row, ImportId object) of the metadata a current numeric
# export starts with, in Qualtrics' order.
_META: tuple[tuple[str, str, dict], ...] = (
    ("StartDate", "Start Date", {"ImportId": "startDate", "timeZone": "UTC"}),
    ("EndDate", "End Date", {"ImportId": "endDate", "timeZone": "UTC"}),
    ("Status", "Response Type", {"ImportId": "status"}),
    ("IPAddress", "IP Address", {"ImportId": "ipAddress"}),
    ("Progress", "Progress", {"ImportId": "progress"}),
    ("Duration (in seconds)", "Duration (in seconds)", {"ImportId": "duration"}),
    ("Finished", "Finished", {"ImportId": "finished"}),
    ("RecordedDate", "Recorded Date", {"ImportId": "recordedDate", "timeZone": "UTC"}),
    ("ResponseId", "Response ID", {"ImportId": "_recordId"}),
    ("RecipientLastName", "Recipient Last Name", {"ImportId": "recipientLastName"}),
    ("RecipientFirstName", "Recipient First Name", {"ImportId": "recipientFirstName"}),
    ("RecipientEmail", "Recipient Email", {"ImportId": "recipientEmail"}),
    ("ExternalReference", "External Data Reference", {"ImportId": "externalDataReference"}),
    ("LocationLatitude", "Location Latitude", {"ImportId": "locationLatitude"}),
    ("LocationLongitude", "Location Longitude", {"ImportId": "locationLongitude"}),
    ("DistributionChannel", "Distribution Channel", {"ImportId": "distributionChannel"}),
    ("UserLanguage", "User Language", {"ImportId": "userLanguage"}),
)
_FIRST = ("Alex", "Sam", "Priya", "Tom", "Aisha", "Jo", "Wei", "Maria", "Owen", "Fatima")
_LAST = ("Smith", "Patel", "Jones", "Khan", "Williams", "Chen", "Brown", "Evans", "Ali", "Lee")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def _cell(value) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value == int(value) else repr(value)
    if isinstance(value, pd.Timestamp | datetime):
        return _when(value).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _when(value) -> datetime:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:12], "big")


def _response_id(seed: int) -> str:
    chars = []
    for _ in range(15):
        seed, r = divmod(seed, 62)
        chars.append(_BASE62[r])
    return "R_" + "".join(chars)


def write_qualtrics(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    questions: Mapping[str, str],
    personal: bool = True,
) -> None:
    """Write a wide frame as a current Qualtrics numeric CSV export (3 header rows).

    The file has, in this order: the metadata columns a Qualtrics export starts with
    (``StartDate`` ... ``UserLanguage``), one column per key of ``questions`` that is a
    column of ``frame`` (in ``frame`` order; header = the column name, row 2 = the question
    text, ImportId ``QID1``, ``QID2`` ... in that order), then every other column of
    ``frame`` as embedded data (row 2 and ImportId = the column name). Cells are written as
    text: NA blank, whole floats without ``.0``, timestamps as UTC ``YYYY-MM-DD HH:MM:SS``.

    Metadata are made up deterministically from the row position and, when present, the
    ``respondent_id``, ``completed`` and ``submitted_at`` columns: ``EndDate`` and
    ``RecordedDate`` are ``submitted_at`` (else a time from 2024-03-04 09:00 UTC on),
    ``StartDate`` 2-17 minutes earlier, ``Status`` 0, ``Finished`` 1/0 and ``Progress`` 100
    or the share of answered questions from ``completed`` (default: completed),
    ``ResponseId`` ``R_`` + 15 letters and digits. With ``personal=True`` the IP address
    (from the documentation range 203.0.113.0/24), recipient names and e-mail
    (@example.org), external reference and location are filled, as an e-mail distribution
    would; with ``personal=False`` they are blank, as an anonymous link leaves them. The
    file is UTF-8 with a BOM and CRLF line ends, as Qualtrics downloads are.

    Raises
    ------
    ParameterError
        A key of ``questions`` is not a column of ``frame``, or a column of ``frame`` has
        the name of a metadata column.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"frame must be a pandas DataFrame; got {type(frame).__name__}")
    unknown = [q for q in questions if q not in frame.columns]
    if unknown:
        raise ParameterError(f"questions must name columns of frame; not columns: {unknown}")
    clash = [c for c in frame.columns if c in {m[0] for m in _META}]
    if clash:
        raise ParameterError(f"frame columns must not use Qualtrics metadata names; got {clash}")
    asked = [c for c in frame.columns if c in questions]
    embedded = [c for c in frame.columns if c not in questions]

    header = [m[0] for m in _META] + [str(c) for c in asked] + [str(c) for c in embedded]
    texts = [m[1] for m in _META] + [questions[c] for c in asked] + [str(c) for c in embedded]
    ids = (
        [json.dumps(m[2], separators=(",", ":")) for m in _META]
        + [json.dumps({"ImportId": f"QID{k}"}) for k in range(1, len(asked) + 1)]
        + [json.dumps({"ImportId": str(c)}) for c in embedded]
    )

    lines = [header, texts, ids]
    answered = frame[asked].notna().sum(axis=1).to_numpy() if asked else None
    for i, (_, row) in enumerate(frame.iterrows()):
        seed = _digest(i, row.get("respondent_id", ""))
        submitted = row.get("submitted_at")
        end = (
            _when(submitted)
            if submitted is not None and not pd.isna(submitted)
            else _EPOCH + timedelta(minutes=37 * i)
        )
        duration = 120 + seed % 900
        completed = row.get("completed", True)
        completed = True if completed is None or pd.isna(completed) else bool(completed)
        progress = 100 if completed or not asked else int(100 * answered[i] / len(asked))
        first, last = _FIRST[seed % 10], _LAST[(seed // 10) % 10]
        fill = (
            [
                f"203.0.113.{seed % 254 + 1}",
                last,
                first,
                f"{first}.{last}{seed % 100}@example.org".lower(),
                f"EXT-{seed % 10**6:06d}",
                f"{51.3 + (seed % 1000) / 2000:.6f}",
                f"{-0.4 + (seed // 1000 % 1000) / 1000:.6f}",
            ]
            if personal
            else [""] * 7
        )
        meta = [
            _cell(end - timedelta(seconds=int(duration))),
            _cell(end),
            "0",
            fill[0],
            str(progress),
            str(int(duration)),
            "1" if completed else "0",
            _cell(end),
            _response_id(seed),
            *fill[1:],
            "email" if personal else "anonymous",
            "EN",
        ]
        lines.append(meta + [_cell(row[c]) for c in asked] + [_cell(row[c]) for c in embedded])
    with Path(path).open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(lines)
