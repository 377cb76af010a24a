"""SPSS ``.sav``/``.zsav`` files (read and written with pyreadstat).

SPSS stores every numeric variable as a double and declares, per variable, a label (the
question), value labels (code -> label), *user-missing* values (up to three discrete codes,
or one range ``low THRU high`` plus one discrete code) and a display format (dates and times
are numbers with a date format). Multiple-response sets (``$mrset``) group variables into
one multi-select question.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import IngestError, ParameterError
from .raw import RawColumn, RawExport
from .textio import unique_keys

__all__ = ["read_spss", "write_spss"]

_RESPONDENT_ID = re.compile(r"^(response_?id|respondent_?id|record_?id|id)$", re.I)
# Variable names: personal data; labels: only unambiguous phrases (a question may well ask
# what the collaboration "addresses").
_PERSONAL_NAME = re.compile(
    r"(e-?mail|first_?name|last_?name|full_?name|^name$|surname|forename|phone|^ip$|"
    r"ip_?address|latitude|longitude|postcode|post_?code|zip_?code|address|external_?ref|"
    r"username|date_?of_?birth|^dob$)", re.I)
_PERSONAL_LABEL = re.compile(
    r"(e-?mail|first name|last name|full name|surname|phone number|ip address|latitude|"
    r"longitude|postcode|post code|zip code|home address|street address|date of birth)", re.I)
_METADATA = re.compile(r"^(start_?date|end_?date|recorded_?date|status|progress|finished|"
                       r"duration.*|distribution_?channel|user_?language|q_recaptchascore|"
                       r"q_relevantid.*)$", re.I)
# Date formats pyreadstat leaves as numbers (seconds since 1582-10-14, SPSS's epoch).
_UNCONVERTED_DATE_FORMATS = ("QYR", "MOYR", "WKYR", "YMDHMS", "MTIME")
_SPSS_EPOCH = dt.datetime(1582, 10, 14)


def read_spss(path: str | Path) -> RawExport:
    """An SPSS ``.sav`` (or ``.zsav``) file, with its variable and value labels.

    Columns:

    - ``key`` and ``header``: the variable name (any script: ``"ותק_ב"`` is kept as it is);
      ``import_id`` the variable name too;
    - ``question``: the variable label ("" if none); in a multiple-response set, the set's
      label, and ``sub_label`` the variable's label; in a dichotomy set ``choice_id`` is the
      variable name (the variable *is* the option; the counted value is in ``notes``);
    - ``value_labels``: code -> label, codes as stored (floats for numeric variables, text
      for string ones);
    - ``missing_codes``: the user-missing values; a discrete code as its number (or text),
      a range ``low THRU high`` as the tuple ``(low, high)`` (inclusive), e.g.
      ``((2000.0, 3000.0), -1.0)``;
    - ``role``: ``respondent_id`` for a variable named ``ResponseId``, ``respondent_id``,
      ``record_id`` or ``id`` (the first such; none otherwise); ``personal`` for names such
      as email, name, IPAddress, address, postcode, LocationLatitude/Longitude or labels
      such as "E-mail address"; ``metadata`` for Qualtrics' StartDate, Status, Progress,
      Finished, Duration ...; else ``answer``.

    Cells keep their stored numbers (Python floats) and strings; user-missing codes are kept
    as their numbers (validation turns them into missing reasons), system-missing and blank
    strings are ``None``. Dates, times and datetimes become ISO text (``"2018-05-06"``,
    ``"10:10:10"``, ``"2018-05-06T10:10:10"``), including the quarter/month/week-year formats
    pyreadstat leaves as seconds since 1582-10-14.

    Raises
    ------
    IngestError
        When the file cannot be read as an SPSS system file.
    """
    import pyreadstat  # imported here: only SPSS files need it

    source = str(path)
    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:  # pyreadstat raises ReadstatError, PyreadstatError, OSError ...
        raise IngestError(source, f"not a readable SPSS file ({type(exc).__name__}: {exc})") \
            from None
    notes: list[str] = []
    names = [str(n) for n in meta.column_names]
    keys, renamed = unique_keys(names)
    notes += renamed
    labels = dict(zip(names, meta.column_labels, strict=True))
    formats = getattr(meta, "original_variable_types", {}) or {}
    value_labels = getattr(meta, "variable_value_labels", {}) or {}
    ranges = getattr(meta, "missing_ranges", {}) or {}
    discrete = getattr(meta, "missing_user_values", {}) or {}
    if meta.file_encoding:
        notes.append(f"SPSS file encoding: {meta.file_encoding}")

    mr_of: dict[str, tuple[str, dict]] = {}
    for set_name, mr in (getattr(meta, "mr_sets", {}) or {}).items():
        kind = "dichotomy" if mr.get("type") == "D" else "category"
        counted = (f", counted value {mr.get('counted_value')!r}"
                   if mr.get("type") == "D" else "")
        notes.append(f"multiple-response set {set_name!r} ({kind}{counted}): "
                     + ", ".join(mr.get("variable_list", [])))
        for var in mr.get("variable_list", []):
            mr_of[var] = (set_name, mr)

    columns, cells = [], {}
    id_found = False
    for key, name in zip(keys, names, strict=True):
        label = (labels.get(name) or "").strip()
        codes = _missing_codes(ranges.get(name, []), discrete.get(name, []))
        question, sub_label, choice_id = label, "", ""
        if name in mr_of:
            set_name, mr = mr_of[name]
            question, sub_label = (mr.get("label") or set_name), label
            choice_id = name if mr.get("type") == "D" else ""
        if not id_found and _RESPONDENT_ID.match(name):
            role, id_found = "respondent_id", True
        elif _PERSONAL_NAME.search(name) or (len(label.split()) <= 6
                                             and _PERSONAL_LABEL.search(label)):
            role = "personal"
        elif _METADATA.match(name):
            role = "metadata"
        else:
            role = "answer"
        columns.append(RawColumn(
            key=key, header=name, question=question, sub_label=sub_label, import_id=name,
            choice_id=choice_id, role=role, value_labels=dict(value_labels.get(name, {})),
            missing_codes=codes))
        fmt = str(formats.get(name, "")).upper()
        convert_seconds = fmt.startswith(_UNCONVERTED_DATE_FORMATS)
        if convert_seconds:
            notes.append(f"variable {name!r} (format {fmt}) converted from seconds since "
                         "1582-10-14 to ISO text")
        cells[key] = [_cell(v, convert_seconds) for v in df[name]]
    if not id_found:
        notes.append("no respondent id variable (ResponseId, respondent_id, record_id, id)")
    frame = pd.DataFrame(cells, columns=keys, dtype=object)
    if not keys:
        frame = pd.DataFrame(index=range(len(df)))
    return RawExport(source=source, format="spss", variant="spss-sav", frame=frame,
                     columns=tuple(columns), row_numbers=tuple(range(1, len(df) + 1)),
                     encoding="", notes=tuple(notes))


def _missing_codes(ranges: Sequence[Any], discrete: Sequence[Any]) -> tuple:
    """pyreadstat's ``[{'lo': a, 'hi': b}, ...]`` -> ``(a, ...)`` or ``((a, b), ...)``."""
    codes: list[Any] = []
    for r in ranges:
        lo, hi = (r["lo"], r["hi"]) if isinstance(r, Mapping) else (r, r)
        codes.append(lo if lo == hi else (lo, hi))
    codes += [c for c in discrete if c not in codes]
    return tuple(codes)


def _cell(value: Any, seconds_to_date: bool) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if seconds_to_date:
            return (_SPSS_EPOCH + dt.timedelta(seconds=value)).date().isoformat()
        return value
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item(), seconds_to_date)
    return value


def write_spss(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    variable_labels: Mapping[str, str] | None = None,
    value_labels: Mapping[str, Mapping[Any, str]] | None = None,
    missing_codes: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Write a frame as an SPSS ``.sav`` file with labels and user-missing values.

    ``missing_codes`` uses :func:`read_spss`'s representation: per variable, discrete codes
    and ``(low, high)`` tuples for ranges; SPSS allows up to three discrete codes, or one
    range and one discrete code. Nullable integer and boolean columns are written as numeric
    (NA as system-missing); category columns as strings; datetimes as SPSS datetimes.

    Raises
    ------
    ParameterError
        When a label or missing code names a column the frame lacks, or a variable has more
        missing codes than SPSS allows.
    """
    import pyreadstat

    variable_labels = dict(variable_labels or {})
    value_labels = {k: dict(v) for k, v in (value_labels or {}).items()}
    missing_codes = dict(missing_codes or {})
    for name, given in (("variable_labels", variable_labels), ("value_labels", value_labels),
                        ("missing_codes", missing_codes)):
        unknown = [k for k in given if k not in frame.columns]
        if unknown:
            raise ParameterError(f"{name} must name columns of frame; not found: {unknown}")
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object).where(series.notna(), None)
        elif pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
            series = series.astype("float64")
        out[str(col)] = series
    ranges: dict[str, list] = {}
    for col, codes in missing_codes.items():
        spec = [{"lo": c[0], "hi": c[1]} if isinstance(c, tuple) else c for c in codes]
        n_ranges = sum(isinstance(c, tuple) for c in codes)
        if len(spec) > 3 or n_ranges > 1 or (n_ranges == 1 and len(spec) > 2):
            raise ParameterError(f"missing_codes[{col!r}] must be at most three codes, or one "
                                 f"(low, high) range and one code; got {list(codes)!r}")
        ranges[str(col)] = spec
    try:
        pyreadstat.write_sav(
            out, str(path), column_labels={str(k): v for k, v in variable_labels.items()},
            variable_value_labels={str(k): v for k, v in value_labels.items()},
            missing_ranges=ranges or None)
    except Exception as exc:  # pyreadstat reports bad types as several exception kinds
        raise ParameterError(f"frame cannot be written as SPSS ({type(exc).__name__}: {exc})") \
            from None
