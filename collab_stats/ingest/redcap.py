"""REDCap raw exports (CSV) read with their data dictionaries; and a writer for test exports.

A REDCap *raw* export has the record id field first, then one column per field named by the
field name (``[a-z][a-z0-9_]*``), answers as codes, a checkbox field as one ``field___code``
column per choice holding 0/1, survey timestamps (``<form>_timestamp``, ``"[not completed]"``
when the survey was not submitted), form status columns (``<form>_complete``: 0 incomplete,
1 unverified, 2 complete) and, depending on the project, ``redcap_event_name``,
``redcap_repeat_instrument``, ``redcap_repeat_instance``, ``redcap_data_access_group`` and
``redcap_survey_identifier``.

The *data dictionary* (Project Setup > Data Dictionary, 18 columns: ``Variable / Field Name``,
``Form Name``, ``Section Header``, ``Field Type``, ``Field Label``, ``Choices, Calculations, OR
Slider Labels``, ``Field Note``, ``Text Validation Type OR Show Slider Number``, ...,
``Identifier?``) says what each column means. The API's metadata export (``field_name``,
``form_name``, ``select_choices_or_calculations``, ``identifier`` ...) is accepted too.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import IngestError, ParameterError
from .raw import RawColumn, RawExport
from .textio import read_csv_rows, unique_keys

__all__ = ["DICTIONARY_HEADER", "RedcapField", "read_redcap", "read_redcap_dictionary",
           "write_redcap"]

#: The 18 columns of a data dictionary downloaded from REDCap, in order.
DICTIONARY_HEADER: tuple[str, ...] = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
)
# Dictionary attribute -> accepted headers (download, API metadata export), lower case.
_DICT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "type": ("field type", "field_type"),
    "label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "validation": ("text validation type or show slider number",
                   "text_validation_type_or_show_slider_number"),
    "identifier": ("identifier?", "identifier"),
}
_REQUIRED = ("name", "form", "type", "label", "choices")
_CODED_TYPES = ("radio", "dropdown", "checkbox")
_FIXED_CHOICES = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
_COMPLETE_LABELS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REDCAP_META = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                "redcap_data_access_group")
# Personal data by field name (used without a dictionary, and to warn about unflagged fields).
_PERSONAL_TOKENS = frozenset({
    "name", "firstname", "lastname", "surname", "forename", "fullname", "email", "mail",
    "phone", "telephone", "mobile", "address", "street", "postcode", "zip", "zipcode", "dob",
    "ip", "ipaddress", "latitude", "longitude",
})
_PERSONAL_NAME = re.compile(r"date_?of_?birth|birth_?date|e_?mail", re.I)
_PERSONAL_VALIDATION = ("email", "phone")


@dataclass(frozen=True)
class RedcapField:
    """One field (row) of a REDCap data dictionary.

    ``choices`` maps code -> label (as text) for radio, dropdown and checkbox fields, and the
    fixed codes of yesno (1 Yes, 0 No) and truefalse (1 True, 0 False); it is empty for every
    other type (a calc field's formula or a slider's labels are not choices). ``row`` is the
    field's line in the dictionary file.
    """

    name: str
    form: str
    field_type: str
    label: str
    choices: dict[str, str] = field(default_factory=dict)
    validation: str = ""
    identifier: bool = False
    row: int = 0


def read_redcap_dictionary(path: str | Path) -> tuple[RedcapField, ...]:
    """The fields of a REDCap data dictionary, in order (the first is the record id field).

    Raises
    ------
    IngestError
        When the file is not a data dictionary (a required column missing), a field name is
        blank or repeated, or a radio/dropdown/checkbox field's choices are not
        ``code, label | code, label ...``.
    """
    source = str(path)
    rows = read_csv_rows(path)
    header = [(c or "").strip().lower() for c in rows[0]]
    where: dict[str, int] = {}
    for attr, names in _DICT_COLUMNS.items():
        for k, h in enumerate(header):
            if h in names:
                where[attr] = k
                break
    missing = [_DICT_COLUMNS[a][0] for a in _REQUIRED if a not in where]
    if missing:
        raise IngestError(source, "not a REDCap data dictionary: no column "
                          + ", ".join(repr(m) for m in missing)
                          + f" in the header (expected the 18 columns {DICTIONARY_HEADER[0]!r}, "
                          f"{DICTIONARY_HEADER[1]!r}, ...)", row=rows.line_numbers[0])
    fields: list[RedcapField] = []
    seen: set[str] = set()
    for cells, line in zip(rows[1:], rows.line_numbers[1:], strict=True):
        def get(attr: str, cells=cells) -> str:
            k = where.get(attr)
            return (cells[k] or "").strip() if k is not None and k < len(cells) else ""

        name, ftype = get("name"), get("type").lower()
        if not name:
            raise IngestError(source, "blank field name", row=line,
                              column=DICTIONARY_HEADER[0])
        if not _FIELD_NAME.match(name):
            raise IngestError(source, f"{name!r} is not a REDCap field name (a letter, then "
                              "letters, digits or '_')", row=line, column=DICTIONARY_HEADER[0])
        if name in seen:
            raise IngestError(source, f"field {name!r} is defined twice", row=line,
                              column=DICTIONARY_HEADER[0])
        seen.add(name)
        if ftype in _CODED_TYPES:
            choices = _parse_choices(get("choices"), source, line, name)
        else:
            choices = dict(_FIXED_CHOICES.get(ftype, {}))
        fields.append(RedcapField(
            name=name, form=get("form"), field_type=ftype, label=get("label"), choices=choices,
            validation=get("validation").lower(),
            identifier=get("identifier").lower() in ("y", "yes", "1"), row=line))
    if not fields:
        raise IngestError(source, "the data dictionary has a header but no fields",
                          row=rows.line_numbers[0])
    return tuple(fields)


def _parse_choices(text: str, source: str, line: int, name: str) -> dict[str, str]:
    """``"1, one | 2, two"`` -> ``{"1": "one", "2": "two"}`` (labels may contain commas)."""
    column = DICTIONARY_HEADER[5]
    if not text:
        raise IngestError(source, f"field {name!r} has no choices", row=line, column=column)
    choices: dict[str, str] = {}
    for part in text.split("|"):
        code, comma, label = part.strip().partition(",")
        code = code.strip()
        if not comma or not code:
            raise IngestError(source, f"field {name!r}: choice {part.strip()!r} is not "
                              "'code, label'", row=line, column=column)
        if code in choices:
            raise IngestError(source, f"field {name!r}: choice code {code!r} appears twice",
                              row=line, column=column)
        choices[code] = label.strip()
    return choices


def _checkbox_suffix(code: str) -> str:
    """The suffix REDCap gives a checkbox choice's column: lower case, other characters '_'
    (``-1`` -> ``_1``, ``1.5`` -> ``1_5``)."""
    return re.sub(r"[^a-z0-9_]", "_", code.lower())


def _looks_personal(name: str) -> bool:
    tokens = {t for t in re.split(r"[_\d]+", name.lower()) if t}
    return bool(tokens & _PERSONAL_TOKENS) or bool(_PERSONAL_NAME.search(name))


def read_redcap(data_path: str | Path, *, dictionary: str | Path | None = None) -> RawExport:
    """A REDCap raw export (CSV), described by its data dictionary when one is given.

    Columns and roles:

    - the record id (the dictionary's first field; without a dictionary the first column,
      which REDCap always writes first) -> ``respondent_id``;
    - fields flagged ``Identifier? = y``, and text fields validated as ``email`` or
      ``phone`` -> ``personal``; without a dictionary, fields whose names look personal
      (name, email, phone, address, dob, ip, postcode ...) -> ``personal``;
      ``redcap_survey_identifier`` (the participant list's identifier, often a name or an
      e-mail address) -> ``personal``;
    - ``<form>_timestamp``, ``<form>_complete`` and ``redcap_*`` -> ``metadata`` (their text,
      e.g. ``"[not completed]"``, is kept as it is); status columns get the value labels
      0 Incomplete, 1 Unverified, 2 Complete;
    - every other column -> ``answer``: ``question`` is the field label, ``value_labels``
      the field's choices (code text -> label), ``import_id`` the field name; a checkbox
      column ``field___code`` has ``choice_id`` = the choice's code, ``sub_label`` = its
      label and ``value_labels`` 0 Unchecked, 1 Checked (REDCap's labels export wording); a
      ``field___x`` column whose ``x`` is not a choice (a missing-data code) is kept with
      ``choice_id`` = ``x`` and a note.

    Cells stay text (``None`` when blank). Values that do not fit their field's type (dates
    and numbers entered before validation was added, codes that are not choices, checkbox
    cells other than 0/1) are kept as text and listed in ``notes``: validation quarantines them.

    Raises
    ------
    IngestError
        When the file is unreadable or empty, is a data dictionary, has no records, has a
        header that is not REDCap field names (a "labels" export), has a row longer than the
        header, or - with a dictionary - has a column the dictionary does not define.
    """
    source = str(data_path)
    rows = read_csv_rows(data_path)
    fields = read_redcap_dictionary(dictionary) if dictionary is not None else None
    header = [(c or "").strip() for c in rows[0]]
    if [h.lower() for h in header[:2]] == ["variable / field name", "form name"] or \
            header[:2] == ["field_name", "form_name"]:
        raise IngestError(source, "this is a REDCap data dictionary, not records: give it as "
                          "dictionary=", row=rows.line_numbers[0])
    notes: list[str] = []
    while header and not header[-1] and all(len(r) < len(header) or r[len(header) - 1] is None
                                            for r in rows[1:]):
        header.pop()
        notes.append("trailing empty column removed")
    for k, name in enumerate(header, start=1):
        if not _FIELD_NAME.match(name):
            raise IngestError(source, f"column {k} is headed {name[:60]!r}, not a REDCap field "
                              "name: expected a raw export (field names as headers, codes as "
                              "values), not a labels export", row=rows.line_numbers[0])
    if len(rows) < 2:
        raise IngestError(source, "has a header row but no records", row=rows.line_numbers[0])
    keys, renamed = unique_keys(header)
    notes += renamed
    body = []
    for cells, line in zip(rows[1:], rows.line_numbers[1:], strict=True):
        extra = [c for c in cells[len(keys):] if c is not None]
        if extra:
            raise IngestError(source, f"the row has {len(cells)} cells, the header "
                              f"{len(keys)}", row=line)
        if len(cells) < len(keys):
            notes.append(f"row {line} has {len(cells)} cells, the header {len(keys)}: "
                         "blank cells added")
        body.append(list(cells[: len(keys)]) + [None] * (len(keys) - len(cells)))
    frame = pd.DataFrame(body, columns=keys, dtype=object)
    row_numbers = tuple(rows.line_numbers[1:])

    if fields is None:
        columns = [_column_without_dictionary(k, key, name)
                   for k, (key, name) in enumerate(zip(keys, header, strict=True))]
        variant = "redcap-raw"
        notes.append("no data dictionary: roles from field names only, no labels or choices")
    else:
        columns = _columns_with_dictionary(keys, header, fields, source, notes,
                                           rows.line_numbers[0])
        variant = "redcap-raw-dictionary"
        notes += _invalid_values(frame, columns, fields, row_numbers)
    return RawExport(source=source, format="redcap", variant=variant, frame=frame,
                     columns=tuple(columns), row_numbers=row_numbers, encoding=rows.encoding,
                     notes=tuple(notes), truncated_rows=rows.truncated_rows)


def _metadata_column(key: str, name: str) -> RawColumn | None:
    if name == "redcap_survey_identifier":
        return RawColumn(key=key, header=name, import_id=name, role="personal")
    if name in _REDCAP_META or name.startswith("redcap_") or name.endswith("_timestamp"):
        return RawColumn(key=key, header=name, import_id=name, role="metadata")
    if name.endswith("_complete"):
        return RawColumn(key=key, header=name, import_id=name, role="metadata",
                         value_labels=dict(_COMPLETE_LABELS))
    return None


def _column_without_dictionary(k: int, key: str, name: str) -> RawColumn:
    if k == 0:
        return RawColumn(key=key, header=name, import_id=name, role="respondent_id")
    meta = _metadata_column(key, name)
    if meta is not None:
        return meta
    base, sep, suffix = name.partition("___")
    role = "personal" if _looks_personal(base) else "answer"
    if sep:
        return RawColumn(key=key, header=name, import_id=base, choice_id=suffix, role=role)
    return RawColumn(key=key, header=name, import_id=name, role=role)


def _columns_with_dictionary(keys, header, fields, source, notes, header_line) -> list[RawColumn]:
    by_name = {f.name: f for f in fields}
    checkbox_columns: dict[str, tuple[RedcapField, str]] = {}
    for f in fields:
        if f.field_type == "checkbox":
            for code in f.choices:
                checkbox_columns[f"{f.name}___{_checkbox_suffix(code)}"] = (f, code)
    record_id = fields[0].name
    columns = []
    for key, name in zip(keys, header, strict=True):
        f, code = by_name.get(name), None
        if f is None and name in checkbox_columns:
            f, code = checkbox_columns[name]
        if f is None:
            base, sep, suffix = name.partition("___")
            if sep and base in by_name and by_name[base].field_type == "checkbox":
                f, code = by_name[base], suffix
                notes.append(f"column {name!r}: {suffix!r} is not a choice of checkbox field "
                             f"{base!r} in the dictionary (a missing-data code?)")
        if f is None or (f.field_type == "checkbox" and code is None):
            meta = _metadata_column(key, name)
            if meta is None:
                raise IngestError(source, "the data dictionary has no field for this column "
                                  "(is it the dictionary of another project or version?)",
                                  row=header_line, column=name)
            columns.append(meta)
            continue
        if f.name == record_id:
            role = "respondent_id"
        elif f.identifier or f.validation in _PERSONAL_VALIDATION:
            role = "personal"
        else:
            role = "answer"
            if _looks_personal(f.name):
                notes.append(f"field {f.name!r} ({f.label!r}) looks personal but is not "
                             "flagged Identifier? in the dictionary: kept as an answer")
        if code is not None:
            columns.append(RawColumn(
                key=key, header=name, question=f.label, sub_label=f.choices.get(code, ""),
                import_id=f.name, choice_id=code, role=role, value_labels={"0": "Unchecked",
                                                                          "1": "Checked"}))
        else:
            columns.append(RawColumn(key=key, header=name, question=f.label, import_id=f.name,
                                     role=role, value_labels=dict(f.choices)))
    return columns


# --- values that do not fit their field's type -------------------------------------------

_DATE = r"\d{4}-\d{2}-\d{2}"
_PATTERNS = {
    "date": re.compile(rf"^{_DATE}$"),
    "datetime": re.compile(rf"^{_DATE} \d{{2}}:\d{{2}}$"),
    "datetime_seconds": re.compile(rf"^{_DATE} \d{{2}}:\d{{2}}:\d{{2}}$"),
    "time": re.compile(r"^([01]\d|2[0-3]):[0-5]\d$"),
    "time_mm_ss": re.compile(r"^[0-5]\d:[0-5]\d$"),
    "integer": re.compile(r"^-?\d+$"),
    "number": re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$"),
    "number_comma": re.compile(r"^-?(\d+(,\d*)?|,\d+)$"),
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
}


def _value_check(f: RedcapField, is_checkbox: bool):
    """A predicate for the valid values of a field, and the type's name; None if free text."""
    if is_checkbox:
        return (lambda v: v in ("0", "1")), "checkbox (0/1)"
    if f.choices:
        codes = set(f.choices)
        return (lambda v: v in codes), f"{f.field_type} (a choice code)"
    if f.field_type == "calc":
        return _PATTERNS["number"].match, "calc (a number)"
    v = f.validation
    if f.field_type != "text" or not v:
        return None
    if v.startswith("datetime_seconds"):
        kind = "datetime_seconds"
    elif v.startswith("datetime"):
        kind = "datetime"
    elif v.startswith("date"):
        kind = "date"
    elif v in ("time", "time_mm_ss", "integer", "email"):
        kind = v
    elif v.startswith("number") and "comma" in v:
        kind = "number_comma"
    elif v.startswith("number"):
        kind = "number"
    else:
        return None
    pattern = _PATTERNS[kind]
    if kind.startswith("date"):
        def check(value: str) -> bool:
            if not pattern.match(value):
                return False
            try:
                dt.date.fromisoformat(value[:10])
            except ValueError:
                return False
            return True
        return check, f"text validated as {v}"
    return pattern.match, f"text validated as {v}"


def _invalid_values(frame, columns, fields, row_numbers) -> list[str]:
    by_name = {f.name: f for f in fields}
    notes = []
    for col in columns:
        f = by_name.get(col.import_id)
        if col.role not in ("answer", "personal") or f is None:
            continue
        checked = _value_check(f, is_checkbox=bool(col.choice_id))
        if checked is None:
            continue
        check, kind = checked
        bad = [(row_numbers[i], v) for i, v in enumerate(frame[col.key])
               if v is not None and not check(v.strip())]
        if bad:
            shown = ", ".join(str(r) for r, _ in bad[:10]) + (" ..." if len(bad) > 10 else "")
            notes.append(f"column {col.key!r} ({kind}): {len(bad)} value(s) not valid, kept "
                         f"as text for validation: rows {shown} (e.g. {bad[0][1]!r})")
    return notes


# --- writer ------------------------------------------------------------------------------


def write_redcap(
    frame: pd.DataFrame,
    path: str | Path,
    dictionary_path: str | Path,
    *,
    items: Mapping[str, str],
    labels: Mapping[int, str],
    personal: bool = True,
    form: str = "collaboration_survey",
) -> None:
    """Write a wide frame as a REDCap raw export and its 18-column data dictionary.

    The export looks like what a REDCap survey project writes (UTF-8, comma-separated, field
    names lower case as REDCap requires them):

    - ``record_id`` first: the frame's ``respondent_id`` (else 1, 2, ...); when respondent
      ids repeat, ``redcap_event_name`` follows (``<wave_id>_arm_1``, as a longitudinal
      project writes it; needs a ``wave_id`` column);
    - ``<form>_timestamp``: ``submitted_at`` as ``YYYY-MM-DD HH:MM:SS``, or
      ``[not completed]`` where ``completed`` is false (written when either column exists);
    - with ``personal=True``, synthetic ``first_name`` and ``email`` fields flagged
      ``Identifier? = y`` (``Person <k>``, ``respondent<k>@example.org``), so a pipeline can
      be tested to drop them;
    - every other non-item column as a text field (``integer``/``number`` validation for
      numeric columns);
    - every item column (the keys of ``items``, whose values are the field labels) as a radio
      field whose choices are ``labels`` (code -> label, e.g. the agreement scale and its
      missing codes); item answers are written as codes, NA blank;
    - ``<form>_complete``: 2 where ``completed`` (or when there is no such column), else 0.

    Raises
    ------
    ParameterError
        When an item is not a column of the frame, a column name cannot be a REDCap field
        name, an item holds a code that ``labels`` lacks, or record ids repeat without a
        ``wave_id`` column.
    """
    form = form.lower()
    if not re.match(r"^[a-z][a-z0-9_]*$", form):
        raise ParameterError(f"form must be a REDCap form name (lower-case letters, digits, "
                             f"'_'); got {form!r}")
    if not labels:
        raise ParameterError("labels must map at least one code to its label; got none")
    missing = [c for c in items if c not in frame.columns]
    if missing:
        raise ParameterError(f"items must be columns of frame; not found: {missing}")
    n = len(frame)
    special = {"respondent_id", "submitted_at", "completed"}
    data: dict[str, list[str]] = {}
    dict_rows: list[list[str]] = []

    def add_field(name: str, values: list[str], ftype: str, label: str, *, choices: str = "",
                  validation: str = "", identifier: bool = False) -> None:
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            raise ParameterError(f"column {name!r} cannot be a REDCap field name (a letter, "
                                 "then letters, digits or '_')")
        if name in data:
            raise ParameterError(f"two columns become REDCap field {name!r}")
        data[name] = values
        row = [""] * len(DICTIONARY_HEADER)
        row[0], row[1], row[3], row[4], row[5], row[7] = name, form, ftype, label, choices, \
            validation
        row[10] = "y" if identifier else ""
        dict_rows.append(row)

    ids = ([_cell(v) for v in frame["respondent_id"]] if "respondent_id" in frame.columns
           else [str(k) for k in range(1, n + 1)])
    add_field("record_id", ids, "text", "Record ID")
    if len(set(ids)) < n:
        if "wave_id" not in frame.columns:
            raise ParameterError("respondent_id repeats but frame has no wave_id column to "
                                 "write redcap_event_name from")
        data["redcap_event_name"] = [
            re.sub(r"[^a-z0-9]+", "_", str(w).lower()).strip("_") + "_arm_1"
            for w in frame["wave_id"]]
    completed = ([bool(v) if not pd.isna(v) else False for v in frame["completed"]]
                 if "completed" in frame.columns else [True] * n)
    if "submitted_at" in frame.columns or "completed" in frame.columns:
        stamps = (list(frame["submitted_at"]) if "submitted_at" in frame.columns
                  else [None] * n)
        data[f"{form}_timestamp"] = [
            _timestamp(s) if done and not pd.isna(s) else ("" if done else "[not completed]")
            for s, done in zip(stamps, completed, strict=True)]
    if personal:
        add_field("first_name", [f"Person {k}" for k in range(1, n + 1)], "text",
                  "First name", identifier=True)
        add_field("email", [f"respondent{k}@example.org" for k in range(1, n + 1)], "text",
                  "E-mail address", validation="email", identifier=True)
    for name in frame.columns:
        if name in special or name in items:
            continue
        series = frame[name]
        validation = ("integer" if pd.api.types.is_integer_dtype(series)
                      and not pd.api.types.is_bool_dtype(series) else
                      "number" if pd.api.types.is_float_dtype(series) else "")
        add_field(str(name).lower(), [_cell(v) for v in series], "text", str(name),
                  validation=validation)
    codes = {int(c): str(lab) for c, lab in labels.items()}
    choices = " | ".join(f"{c}, {lab}" for c, lab in codes.items())
    for name, text in items.items():
        values = []
        for v in frame[name]:
            if pd.isna(v):
                values.append("")
                continue
            if v != int(v) or int(v) not in codes:
                raise ParameterError(f"item {name!r} holds {v!r}, which is not a code of "
                                     f"labels ({sorted(codes)})")
            values.append(str(int(v)))
        add_field(str(name).lower(), values, "radio", str(text), choices=choices)
    data[f"{form}_complete"] = ["2" if done else "0" for done in completed]
    pd.DataFrame(data).to_csv(path, index=False, lineterminator="\n")
    pd.DataFrame(dict_rows, columns=list(DICTIONARY_HEADER)).to_csv(
        dictionary_path, index=False, lineterminator="\n")


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    if isinstance(value, dt.datetime | pd.Timestamp):
        return _timestamp(value)
    return str(value)


def _timestamp(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")

