"""Submission times as survey platforms write them, and the day/month order of slash dates.

Without a ``format`` in the mapping, :func:`parse_times` reads every layout below; with one,
it reads that ``strftime`` format and ISO 8601 (which is unambiguous; an XLSX date-time cell
arrives as ISO text whatever the platform).

==================  ==================================================================
platform            what its export holds
==================  ==================================================================
Qualtrics           ``2024-03-04 09:06:31`` (time zone in the ImportId row; give it as
                    the mapping's ``timezone``)
SurveyMonkey        CSV: ``03/04/2024 09:06:31 AM`` (``MM/DD/YYYY``, 12-hour clock);
                    XLSX: date-time cells
Google Forms        CSV: ``9/27/2024 11:08:37`` (US locale, ``M/D/YYYY``),
                    ``27/09/2024 11:08:37`` (UK locale, ``DD/MM/YYYY``): the order is the
                    form owner's locale; ``9/27/2024 11:08`` after a re-save by Excel;
                    XLSX: date-time cells
Microsoft Forms     XLSX: date-time cells; CSV saved from it: ``9/1/24 11:27:05``
                    (``M/D/YY``) or ``9/1/2024 11:27`` (Excel re-save)
REDCap              ``2024-03-04 09:06:31`` or ``2024-03-04 09:06``; ``[not completed]``
                    where the survey was not submitted (a marker, not a time)
SPSS                date-time variables, read as ISO text
==================  ==================================================================

So: ISO 8601 (``YYYY-MM-DD``, then optionally ``HH:MM``, ``:SS``, fractions and a ``Z`` or
``+HH:MM`` offset), and day, month and year separated by ``/``, ``.`` or ``-`` (the same one
twice; a four-digit first field is the year, ``YYYY/MM/DD``), optionally followed by
``H:MM``, ``H:MM:SS`` or ``H:MM:SS.fff`` and ``AM``/``PM``. Two-digit years follow
``strptime``'s ``%y`` (69-99 -> 1900s, 00-68 -> 2000s).

The order of day and month in a slash date (``03/04/2024``) cannot be seen in one date. It
is the mapping's ``date_order`` (``MDY``, ``DMY`` or ``YMD``); without one,
:func:`guess_date_order` takes it from the data - a first field above 12 means ``DMY``, a
second field above 12 means ``MDY`` - or else from the platform: US (``MDY``) for
SurveyMonkey, Google Forms and Microsoft Forms, none for other sources (their slash dates
are then unreadable until the mapping says the order).

Times without a zone are in the mapping's ``timezone``; every time is returned in UTC. A
wall-clock time that a daylight-saving change makes ambiguous is read as standard time and
one that it skips is moved forward to the first valid time; both are counted
(:attr:`ParsedTimes.adjusted`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "DATE_ORDERS",
    "PLATFORM_DATE_ORDER",
    "DateOrder",
    "DateOrderGuess",
    "ParsedTimes",
    "TimeColumn",
    "is_blank",
    "guess_date_order",
    "is_time_marker",
    "parse_time_column",
    "parse_times",
]

DateOrder = Literal["MDY", "DMY", "YMD"]
DATE_ORDERS: tuple[str, ...] = ("MDY", "DMY", "YMD")
#: The day/month order a platform writes when its export does not show it (US locale).
PLATFORM_DATE_ORDER: dict[str, str] = {
    "surveymonkey": "MDY", "google_forms": "MDY", "microsoft_forms": "MDY",
}
_PLATFORM_NAMES = {"surveymonkey": "SurveyMonkey", "google_forms": "Google Forms",
                   "microsoft_forms": "Microsoft Forms"}

_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}"
                  r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$")
_SLASH = (r"^(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})"
          r"(?:(?:[ T]|,\s*)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
          r"\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?)?$")
_SLASH_RE = re.compile(_SLASH)
_MARKER = re.compile(r"^\[[^\[\]]*\]$")


def is_time_marker(text: Any) -> bool:
    """Whether a cell is a platform's bracketed marker in place of a time (REDCap's
    ``[not completed]``): no time, and not an unreadable one."""
    return isinstance(text, str) and bool(_MARKER.match(text.strip()))


@dataclass(frozen=True)
class DateOrderGuess:
    """The day/month order of an export's slash dates and what it rests on.

    ``order`` is ``None`` when the export has no slash dates with the year last (nothing to
    decide) or when neither the data nor the platform says the order. ``is_default``: no date
    showed the order, so it is the platform's default. ``reason`` says which, for a note or a
    YAML comment.
    """

    order: str | None
    is_default: bool
    reason: str
    n_slash_dates: int = 0


def guess_date_order(values: Iterable[Any], platform: str = "") -> DateOrderGuess:
    """The order of day and month in slash dates (see the module documentation).

    A first field above 12 in any date means ``DMY``; a second field above 12 means ``MDY``;
    neither (or both, which no single format writes) leaves the platform's default
    (:data:`PLATFORM_DATE_ORDER`; none for other platforms).
    """
    first_high = second_high = None
    n = 0
    for value in values:
        if not isinstance(value, str):
            continue
        match = _SLASH_RE.match(value.strip())
        if match is None or len(match["a"]) == 4:
            continue
        n += 1
        a, b = int(match["a"]), int(match["b"])
        if first_high is None and 12 < a <= 31 and 1 <= b <= 12:
            first_high = value.strip()
        if second_high is None and 12 < b <= 31 and 1 <= a <= 12:
            second_high = value.strip()
    if n == 0:
        return DateOrderGuess(None, False, "no slash dates with the year last")
    default = PLATFORM_DATE_ORDER.get(platform)
    name = _PLATFORM_NAMES.get(platform, f"a {platform} export" if platform else "this source")
    fallback = (f"taken as the {name} default (US locale)" if default else
                f"{name} has no default order: set date_order in the mapping")
    if first_high and second_high:
        return DateOrderGuess(default, True, f"the dates disagree ({first_high!r} has the day "
                              f"first, {second_high!r} the month first); {fallback}", n)
    if first_high:
        return DateOrderGuess("DMY", False, f"{first_high!r} has a first field above 12", n)
    if second_high:
        return DateOrderGuess("MDY", False, f"{second_high!r} has a second field above 12", n)
    return DateOrderGuess(default, True, f"no date shows the order (none has a day above 12); "
                          f"{fallback}", n)


@dataclass(frozen=True)
class ParsedTimes:
    """Times of one column, in UTC, and what could not be read.

    ``times[i]`` is a UTC :class:`pandas.Timestamp` or ``None``. ``unreadable``: positions of
    non-blank cells that are not a date and time in a layout read; ``markers``: positions of
    bracketed platform markers (``[not completed]``); ``adjusted``: positions of times moved
    by a daylight-saving change (still read).
    """

    times: list[pd.Timestamp | None]
    unreadable: tuple[int, ...]
    markers: tuple[int, ...]
    adjusted: tuple[int, ...]


def is_blank(cell: Any) -> bool:
    """Whether a cell is blank: None, NA/NaT, NaN or text of white space only (shared with
    :mod:`~collab_stats.ingest.convert`)."""
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    return isinstance(cell, str) and not cell.strip()


def _slash_frame(text: pd.Series, order: str | None) -> pd.Series:
    """Naive times of slash dates (NaT where the text is not one, or not a valid date)."""
    parts = text.str.extract(_SLASH)
    ok = parts["a"].notna()
    if not ok.any():
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    p = parts[ok]
    a, b, c = (p[k].astype(int) for k in "abc")
    year_first = p["a"].str.len() == 4
    if order == "DMY":
        day, month, year = a, b, c
    elif order == "MDY":
        day, month, year = b, a, c
    elif order == "YMD":
        day, month, year = c, b, a
    else:  # no order known: only year-first dates can be read
        day = month = year = pd.Series(-1, index=p.index)
    day = day.where(~year_first, c)
    month = month.where(~year_first, b)
    year = year.where(~year_first, a)
    two = p["c"].str.len().eq(2) & ~year_first if order != "YMD" else p["a"].str.len().eq(2)
    year = year.where(~two, year + np.where(year < 69, 2000, 1900))
    hour = p["H"].fillna("0").astype(int)
    ampm = p["ampm"].fillna("").str.replace(r"[.\s]", "", regex=True).str.upper()
    bad = (ampm != "") & ((hour < 1) | (hour > 12))
    hour = hour.where(ampm == "", hour % 12 + np.where(ampm == "PM", 12, 0))
    fraction = p["f"].fillna("0").str.ljust(6, "0").str[:6].astype(int)
    fields = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour,
                           "minute": p["M"].fillna("0").astype(int),
                           "second": p["S"].fillna("0").astype(int), "microsecond": fraction})
    len_a, len_c = p["a"].str.len(), p["c"].str.len()
    bad |= (year_first & (len_c > 2)) | (~year_first & ((len_a == 3) | len_c.isin([1, 3])))
    # to_datetime adds hours, minutes and seconds as durations: 24:00 would roll over.
    bad |= (fields["hour"] > 23) | (fields["minute"] > 59) | (fields["second"] > 59)
    fields[bad | (day < 0)] = -1
    stamps = pd.to_datetime(fields, errors="coerce")
    out = pd.Series(pd.NaT, index=text.index, dtype=stamps.dtype)
    out[ok] = stamps
    return out


def _localise(stamp: pd.Timestamp, timezone: str) -> tuple[pd.Timestamp | None, bool]:
    """A naive time localised to ``timezone``, in UTC, and whether a DST change moved it."""
    try:
        local = stamp.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        if not pd.isna(local):
            return local.tz_convert("UTC"), False
        local = stamp.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
    except (ValueError, TypeError, OverflowError):
        return None, False
    return (None, False) if pd.isna(local) else (local.tz_convert("UTC"), True)


@dataclass(frozen=True)
class TimeColumn:
    """Times of one column as one table column: ``times`` (UTC, NaT when none, indexed by
    position) and the positions ``unreadable``, ``markers`` and ``adjusted`` as in
    :class:`ParsedTimes`."""

    times: pd.Series
    unreadable: tuple[int, ...]
    markers: tuple[int, ...]
    adjusted: tuple[int, ...]


def parse_times(cells: Sequence[Any], *, fmt: str = "", date_order: str | None = None,
                timezone: str = "UTC") -> ParsedTimes:
    """Read a column of submission times (see the module documentation).

    Parameters
    ----------
    cells : sequence
        Text cells as the readers give them (``None`` blank); date-time objects are taken
        as they are.
    fmt : str
        A ``strftime`` format; "" reads every layout of the module documentation.
    date_order : {"MDY", "DMY", "YMD"}, optional
        Order of day and month in slash dates (without a ``fmt``). ``None``: only
        unambiguous dates (ISO 8601, a four-digit first field) are read.
    timezone : str
        Time zone of times written without one.
    """
    parts, unreadable, markers, adjusted = _parse(cells, fmt, date_order, timezone)
    times: list[pd.Timestamp | None] = [None] * len(cells)
    for part in parts:
        for i, stamp in zip(part.index.tolist(), part.tolist(), strict=True):
            times[i] = stamp
    return ParsedTimes(times, unreadable, markers, adjusted)


def parse_time_column(cells: Sequence[Any], *, fmt: str = "", date_order: str | None = None,
                      timezone: str = "UTC") -> TimeColumn:
    """:func:`parse_times` as one column of UTC times (the finest unit any time needs), for
    callers that go on with a table rather than one time at a time."""
    parts, unreadable, markers, adjusted = _parse(cells, fmt, date_order, timezone)
    empty = pd.Series(pd.NaT, index=range(len(cells)), dtype="datetime64[ns, UTC]")
    if not parts:
        return TimeColumn(empty, unreadable, markers, adjusted)
    found = pd.concat(parts) if len(parts) > 1 else parts[0]
    times = found.reindex(range(len(cells)))
    return TimeColumn(times, unreadable, markers, adjusted)


def _classify(cells: Sequence[Any]) -> tuple[pd.Series, list[tuple[int, pd.Timestamp]],
                                              list[int]]:
    """The text cells (stripped, indexed by position), the date-time cells (position,
    timestamp) and the positions of platform markers; blank cells are left out."""
    column = pd.Series(list(cells), dtype=object)
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        stripped = column[column.notna()].str.strip()
        stripped = stripped[stripped != ""]
        marker = stripped.str.match(_MARKER).astype(bool)
        return stripped[~marker], [], stripped.index[marker].tolist()
    stamps, markers, texts = [], [], {}
    for i, cell in enumerate(cells):
        if is_blank(cell):
            continue
        if isinstance(cell, str):
            if is_time_marker(cell):
                markers.append(i)
            else:
                texts[i] = cell.strip()
        elif isinstance(cell, pd.Timestamp | np.datetime64) or hasattr(cell, "isoformat"):
            try:
                stamp = pd.Timestamp(cell)
            except (ValueError, TypeError, OverflowError):
                texts[i] = str(cell).strip()
                continue
            if not pd.isna(stamp):  # a NaT cell is blank
                stamps.append((i, stamp))
        else:
            texts[i] = str(cell).strip()
    return pd.Series(texts, dtype=object), stamps, markers


def _read_texts(texts: pd.Series, fmt: str, date_order: str | None) -> list[pd.Series]:
    """The times of text cells, as series of one dtype each (indexed by position; cells that
    are no time are left out): the mapping's format, then ISO 8601, then slash dates."""
    parts: list[pd.Series] = []

    def unread() -> np.ndarray:
        if not parts:
            return np.ones(len(texts), dtype=bool)
        return ~texts.index.isin(np.concatenate([p.index.to_numpy() for p in parts]))

    if fmt:
        parsed = pd.to_datetime(texts, format=fmt, errors="coerce")
        parts.append(parsed[parsed.notna()])
    iso = texts.str.match(_ISO).astype(bool).to_numpy() & unread()
    if iso.any():
        candidates = texts[iso]
        try:
            parsed = pd.to_datetime(candidates, format="ISO8601", errors="coerce")
        except (ValueError, TypeError, OverflowError):  # mixed offsets: one by one
            parts.extend(_one_by_one(candidates))
        else:
            parts.append(parsed[parsed.notna()])
    if not fmt:
        rest = unread()
        if rest.any():
            parsed = _slash_frame(texts[rest].astype(str), date_order)
            parts.append(parsed[parsed.notna()])
    return [p for p in parts if len(p)]


def _one_by_one(texts: pd.Series) -> list[pd.Series]:
    """Times of ISO texts read one at a time (their offsets differ)."""
    stamps = []
    for i, text in texts.items():
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            continue
        if not pd.isna(stamp):
            stamps.append((i, stamp))
    return _grouped(stamps)


def _grouped(stamps: list[tuple[int, pd.Timestamp]]) -> list[pd.Series]:
    """(position, timestamp) pairs as series of one dtype each (same unit and time zone), so
    that every time keeps its unit."""
    groups: dict[str, list[tuple[int, pd.Timestamp]]] = {}
    for i, stamp in stamps:
        groups.setdefault(f"{stamp.unit} {stamp.tz!r}", []).append((i, stamp))
    return [pd.Series([s for _, s in g], index=[i for i, _ in g]) for g in groups.values()]


def _parse(cells: Sequence[Any], fmt: str, date_order: str | None, timezone: str
           ) -> tuple[list[pd.Series], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The times of a column as series of UTC times indexed by position (one per dtype, so
    each time keeps its unit), and the unreadable, marker and adjusted positions."""
    texts, stamps, markers = _classify(cells)
    parts = _read_texts(texts, fmt, date_order) if len(texts) else []
    parts.extend(_grouped(stamps))
    local = [p for p in parts if p.dt.tz is None]
    out = [p.dt.tz_convert("UTC") for p in parts if p.dt.tz is not None]
    adjusted: list[int] = []
    failed: list[int] = []
    if local:  # one vectorised localisation; cell by cell only where a DST change interferes
        naive = pd.concat(local).sort_index() if len(local) > 1 else local[0].sort_index()
        try:
            utc = (naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
                   .dt.tz_convert("UTC"))
        except (ValueError, TypeError, OverflowError, AttributeError):
            utc = pd.Series(pd.NaT, index=naive.index, dtype="datetime64[ns, UTC]")
        out.append(utc[utc.notna()])
        for i in utc.index[utc.isna()].tolist():
            own = next(p[i] for p in local if i in p.index)  # the time in its own unit
            stamp, moved = _localise(own, timezone)
            if stamp is None:
                failed.append(i)
                continue
            if moved:
                adjusted.append(i)
            out.append(pd.Series([stamp], index=[i]))
    read = np.concatenate([p.index.to_numpy() for p in out]) if out else np.zeros(0, int)
    unreadable = sorted({*texts.index[~texts.index.isin(read)].tolist(), *failed})
    return out, tuple(unreadable), tuple(markers), tuple(sorted(adjusted))
