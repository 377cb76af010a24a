"""Turn one export (a :class:`~collab_stats.ingest.raw.RawExport`) into canonical survey data.

:func:`convert_export` applies a :class:`~collab_stats.ingest.mapping.ColumnMapping`, checks
every response against the instrument version of the wave and the programme, pseudonymises
respondent ids, and splits the rows into accepted ones (the returned
:class:`~collab_stats.schema.SurveyData`) and quarantined ones (a table saying which file row,
which column and why). Every row read is either accepted or quarantined:
``rows_read == rows_accepted + sum(rows_quarantined.values())``.

Rules
-----
A row is quarantined (reasons in priority order; a row with several problems is listed once
per problem and counted under the first):

``truncated``
    The file ends inside the response: a CSV cut off mid-answer (its last record ends inside
    a quoted cell, or has no line break and fewer fields than the header; see
    :attr:`RawExport.truncated_rows <collab_stats.ingest.raw.RawExport>`).
``preview``
    Qualtrics status 1, 2, 8, 9, 12 or 17, or a status text containing "preview", "test" or
    "spam" (only with ``drop_previews=True``).
``unknown_collaboration``
    The collaboration (by id, name or a mapping ``options`` label) is blank or not in the
    programme.
``unknown_partner``
    A partner organisation was given but is not a partner of that collaboration (a blank one
    is kept as NA).
``out_of_range``
    A numeric answer code that is neither on the scale, nor an instrument missing code, nor
    negative (e.g. 0, 6 or 3.5 on a 1-5 scale): the row's coding cannot be trusted, so the
    whole row is held back and the column is named.
``unparseable``
    Only with ``on_unknown_label="quarantine"``: an answer text that matches no label.
    By default (``"skip"``) such a cell is read as blank (skipped or not reached) and listed
    in :attr:`ConvertResult.cell_issues` and ``report.unknown_labels``, so one stray label
    does not discard a respondent's other answers; add it as a synonym and convert again.
``incomplete``
    An unfinished response (see *Completion*) in which fewer than ``min_completion`` of the
    wave's items were answered (a code, "don't know" or "not applicable").
``speeder``
    ``duration`` below ``speeder_seconds`` (only when given).
``duplicate``
    Among rows with none of the problems above, several rows with the same respondent id:
    the latest complete one (by ``submitted_at``, then file order) is kept; with no complete
    one, the latest one.

Answers: a cell is read as (1) blank: empty, or a code or label meaning "skipped"; (2) through
the column's platform value labels (REDCap choices, SPSS labels) when the cell is one of their
codes; (3) a number: the mapping's integer keys first, then the instrument's missing codes
(-1 "don't know", -2 "not applicable"), then the platform's declared missing codes (blank),
then - reversed as ``max + min - x`` when the column is marked ``reverse`` - a code on the
scale; any other negative code (-99 "seen but not answered") is blank; anything else is out
of range; (4) a label (case, punctuation and spacing ignored): the instrument's labels, the
built-in "don't know" / "not applicable" wordings (never numbers), the mapping's labels and
synonyms and the column's own labels. Labels are matched by meaning and never reversed.

Completion: from ``finished`` when given (true, 1, 2 (REDCap complete), yes, complete),
else ``progress >= 100``, else every response counts as complete (noted in the report).
Blank items of an incomplete response after its last answer are ``not_reached``; every other
blank item is ``skipped``.

Values that cannot be used
--------------------------
No value is dropped without a trace. Every cell of a profile or metadata column that cannot
be used is listed in ``cell_issues`` and counted per column in
:attr:`ConvertReport.unusable_values` (how many of the column's non-blank values, the first
one's file row and text); each such column gives a line in :attr:`ConvertReport.warnings`,
which says so when *no* value of the column could be used (usually a wrong column or
``date_order`` in the mapping). What happens to the row:

====================  ===========================================  ==========================
field                 invalid                                      what happens
====================  ===========================================  ==========================
collaboration         blank, or no collaboration of the programme  row quarantined
                                                                   (``unknown_collaboration``)
partner_organisation  not a partner of the row's collaboration     row quarantined
                                                                   (``unknown_partner``)
submitted_at          not a date and time in a layout read (see    NA, row kept; counted
                      :mod:`~collab_stats.ingest.times`), e.g.
                      ``31/31/2024``, ``yesterday``, a day/month
                      order the mapping contradicts
months_involved       not a whole number in the question's range   NA, row kept; counted
                      (0-600 unless the instrument says): ``-5``,
                      ``abc``, ``3.7``, ``1e9``, ``99999999999``
sector, role,         matches no option                            NA, row kept; counted
main_value_mode
finished              not a yes/no flag                            completion from
                                                                   ``progress``, else
                                                                   complete; counted
progress              not a percentage                             counted as complete;
                                                                   counted
duration              not a number (read only with                 not checked for speeding;
                      ``speeder_seconds``)                         counted
multi-select          an option that matches none                  option left out, row
                                                                   kept; counted
respondent_id         blank                                        pseudonym of the file and
                                                                   row; noted, and a warning
                                                                   when blank in every row
====================  ===========================================  ==========================

Why not quarantine for the NA cases: these fields describe the respondent or the
submission, not the answers; the answers are still valid for every figure that does not
break down by that field, and quarantining would discard them over, say, a typo in the
months. A row is held back only when it cannot be placed (collaboration, partner) or its
coding cannot be trusted (answer codes out of range). An unreadable ``submitted_at`` only
weakens the duplicate rule: among complete submissions of one respondent, one with a time
is preferred to one without, then the later time, then the later file row.

An export whose respondent id column is blank in every row is *not* refused: its answers
are valid for this wave, but its respondents cannot be linked across waves and duplicates
cannot be detected (every row gets the pseudonym of ``"<source>#row<row number>"``), which
the warning says. Without an id column the pseudonym is the same, with a note.

A platform's marker in place of a time (REDCap's ``[not completed]``: the survey was not
submitted, so REDCap has no time) is no time, not an unreadable one: it is noted, not
counted as unusable. Slash dates (``03/04/2024``) are read in the mapping's ``date_order``;
without one, in the order the data show (a field above 12), else the platform's default
(US for SurveyMonkey and the Forms), with a note saying which was chosen.

Personal columns are never read, except that the mapping may name one (an e-mail address,
an external reference) as the ``respondent_id``, which is only ever pseudonymised.
Quarantine and issue tables never hold raw cell values; the report holds, per column, the
first unusable value (at most 40 characters) so that a person can find and fix it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._params import check_number, check_option
from ..errors import IngestError, ParameterError, Problem
from ..instrument.model import ANSWER_MISSING_REASONS, Instrument, InstrumentFamily
from ..schema import (
    COMMENT_COLUMNS,
    RESPONDENT_COLUMNS,
    RESPONSE_COLUMNS,
    SELECTION_COLUMNS,
    SurveyData,
    make_survey_data,
    validate_survey_data,
)
from .mapping import (
    BUILTIN_MISSING_LABELS,
    ColumnMapping,
    ColumnRule,
    MappingError,
    column_ids,
    normalise_label,
    normalise_text,
)
from .pseudonym import pseudonymise
from .raw import RawColumn, RawExport
from .times import guess_date_order, parse_times
from .times import is_blank as _is_blank

__all__ = ["QUARANTINE_REASONS", "ConvertReport", "ConvertResult", "UnusableValues",
           "convert_export"]

#: Why a row is quarantined, in priority order (a row is counted under its first reason).
QUARANTINE_REASONS: tuple[str, ...] = (
    "truncated", "preview", "unknown_collaboration", "unknown_partner", "out_of_range",
    "unparseable", "incomplete", "speeder", "duplicate",
)
QUARANTINE_COLUMNS = ["source", "row", "column", "reason", "message", "respondent", "primary"]
ISSUE_COLUMNS = ["source", "row", "column", "issue", "message", "respondent"]

_PREVIEW_CODES = {1, 2, 8, 9, 12, 17}
_PREVIEW_WORDS = ("preview", "test", "spam")
_TRUE = {"1", "2", "true", "t", "yes", "y", "complete", "completed", "finished", "unverified"}
_FALSE = {"0", "false", "f", "no", "n", "incomplete", "partial", "not finished"}
_UNCHECKED = {"0", "false", "no", "unchecked", "not selected", "not checked"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

OnUnknownLabel = Literal["skip", "quarantine"]


@dataclass(frozen=True)
class UnusableValues:
    """The values of one mapped column that could not be used (see the module documentation).

    Attributes
    ----------
    field : str
        What the column holds: ``submitted_at``, ``months_involved``, ``sector``, ...,
        ``select:network``.
    column : str
        The export column, as the mapping names it.
    n_unusable, n_values : int
        Unusable values, of the column's non-blank values.
    first_row : int
        File row of the first unusable value.
    first_value : str
        Its text (at most 40 characters).
    problem : str
        What is wrong with them, said of the values ("are not a whole number of months in
        0-600", "could not be read as a time ...").
    outcome : str
        What happened to them and their rows.
    """

    field: str
    column: str
    n_unusable: int
    n_values: int
    first_row: int
    first_value: str
    problem: str
    outcome: str

    @property
    def all_unusable(self) -> bool:
        """No value of the column could be used."""
        return self.n_unusable == self.n_values

    def message(self) -> str:
        """One line for the ingest summary."""
        where = self.field if self.column == self.field else \
            f"{self.field} (column {self.column!r})"
        first = f"first: row {self.first_row} {self.first_value!r}"
        if self.all_unusable:
            return (f"{where}: all {self.n_values} values {self.problem} ({first}); "
                    f"{self.outcome}; no value of the column could be used: check the mapping")
        return (f"{where}: {self.n_unusable} of {self.n_values} values {self.problem} "
                f"({first}); {self.outcome}")


@dataclass(frozen=True)
class ConvertReport:
    """What happened to the rows and columns of one export.

    ``rows_read == rows_accepted + sum(rows_quarantined.values())`` always holds;
    ``rows_quarantined`` has every reason of :data:`QUARANTINE_REASONS` (0 when none).
    ``unmatched_columns``: export columns the mapping does not name (ignored);
    ``missing_columns``: mapped columns the export lacks; ``items_without_column``: items of
    the wave's version no column maps to (blank for everyone); ``unknown_labels``: answer
    texts of item columns that matched no label, with counts; ``unknown_values``: per
    profile or multi-select column, values that matched no option, with counts;
    ``unusable_values``: per profile or metadata column, the values that could not be used
    (:class:`UnusableValues`); ``warnings``: lines a person must read (every column with
    unusable values, a respondent id blank in every row, slash dates of unknown order);
    ``notes``: what was done that is worth knowing (defaults chosen, markers, blanks).
    """

    source: str
    wave_id: str
    instrument_version: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: Mapping[str, int]
    unmatched_columns: tuple[str, ...]
    missing_columns: tuple[str, ...]
    items_without_column: tuple[str, ...]
    unknown_labels: Mapping[str, int] = field(default_factory=dict)
    unknown_values: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    unusable_values: tuple[UnusableValues, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def n_quarantined(self) -> int:
        return int(sum(self.rows_quarantined.values()))

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome (``accepted`` or a quarantine reason) with its row count."""
        outcomes = ["accepted", *self.rows_quarantined]
        counts = [self.rows_accepted, *self.rows_quarantined.values()]
        return pd.DataFrame({"source": self.source, "wave_id": self.wave_id,
                             "outcome": outcomes, "rows": counts})

    def unusable_frame(self) -> pd.DataFrame:
        """One row per column with unusable values (the fields of :class:`UnusableValues`)."""
        names = list(UnusableValues.__dataclass_fields__)
        return pd.DataFrame([[getattr(u, k) for k in names] for u in self.unusable_values],
                            columns=names).assign(source=self.source)


@dataclass(frozen=True)
class ConvertResult:
    """Accepted rows as canonical data, quarantined rows, cell-level issues and a report.

    ``quarantine`` has one row per problem of a held-back response (``source``, ``row`` - its
    number in the file -, ``column`` or "", ``reason``, ``message``, ``respondent`` - the
    pseudonym - and ``primary``, true for the reason the row is counted under).
    ``cell_issues`` lists cells of accepted or quarantined rows that were read as blank or NA
    (same columns, ``issue`` instead of ``reason``).
    """

    data: SurveyData
    quarantine: pd.DataFrame
    cell_issues: pd.DataFrame
    report: ConvertReport


# --- reading cells -----------------------------------------------------------------------------


def _as_number(cell: Any) -> float | None:
    if isinstance(cell, bool | np.bool_):
        return None
    if isinstance(cell, int | float | np.integer | np.floating):
        value = float(cell)
        return value if math.isfinite(value) else None
    if isinstance(cell, str):
        text = cell.strip()
        if _NUMBER.match(text):
            return float(text)
    return None


def _text(cell: Any) -> str:
    return str(cell).strip()


def _code_key(value: Any) -> Any:
    number = _as_number(value)
    return number if number is not None else normalise_text(value)


class _Answers:
    """Reads the cells of item columns (see the module documentation)."""

    def __init__(self, version: Instrument, mapping: ColumnMapping) -> None:
        scale = version.scale
        self.min, self.max = scale.min, scale.max
        self.missing_codes = {m.code: m.reason for m in scale.missing}
        self.labels: dict[str, int | str] = {}
        self.codes: dict[int, int | str] = {}
        for label, target in [*((o.label, o.code) for o in scale.options),
                              *((m.label, m.reason) for m in scale.missing),
                              *BUILTIN_MISSING_LABELS.items()]:
            self.labels[normalise_label(label)] = target
        self._add(self.labels, self.codes, {**mapping.labels, **mapping.synonyms})

    def _add(self, labels: dict, codes: dict, extra: Mapping[Any, Any]) -> None:
        for key, target in extra.items():
            if isinstance(target, int) and target in self.missing_codes:
                target = self.missing_codes[target]
            if isinstance(key, int):
                codes[key] = target
            else:
                labels[normalise_label(key)] = target

    def for_column(self, rule: ColumnRule, col: RawColumn) -> _ColumnReader:
        labels, codes = dict(self.labels), dict(self.codes)
        self._add(labels, codes, rule.labels)
        return _ColumnReader(self, rule, col, labels, codes)


# Outcomes of reading one item cell.
_BLANK, _VALUE, _REASON, _OUT_OF_RANGE, _UNKNOWN = range(5)


class _ColumnReader:
    def __init__(self, answers: _Answers, rule: ColumnRule, col: RawColumn,
                 labels: dict, codes: dict) -> None:
        self.a, self.rule, self.labels, self.codes = answers, rule, labels, codes
        self.value_labels = {_code_key(k): v for k, v in col.value_labels.items()}
        # SPSS declares user-missing values as single codes or inclusive (low, high) ranges.
        self.declared_missing = {_code_key(k) for k in col.missing_codes
                                 if not isinstance(k, tuple)}
        self.declared_ranges = [(float(lo), float(hi)) for k in col.missing_codes
                                if isinstance(k, tuple) for lo, hi in [k]]
        self.cache: dict[Any, tuple[int, Any, str]] = {}

    def read(self, cell: Any) -> tuple[int, Any, str]:
        """(outcome, value or reason, note)."""
        if _is_blank(cell):
            return _BLANK, None, ""
        try:
            return self.cache[cell]
        except (KeyError, TypeError):
            pass
        out = self._read(cell)
        try:
            self.cache[cell] = out
        except TypeError:
            pass
        return out

    def _target(self, target: int | str, how: str) -> tuple[int, Any, str]:
        if target == "skipped":
            return _BLANK, None, f"{how} means no answer"
        if isinstance(target, str):
            return _REASON, target, ""
        return _VALUE, target, ""

    def _read(self, cell: Any) -> tuple[int, Any, str]:
        key = _code_key(cell)
        if key in self.value_labels:
            label = normalise_label(self.value_labels[key])
            if label in self.labels:
                return self._target(self.labels[label], "its value label")
        number = _as_number(cell)
        if number is not None and any(lo <= number <= hi for lo, hi in self.declared_ranges):
            return _BLANK, None, f"code {number:g} is in a missing range declared by the platform"
        if number is not None:
            if not number.is_integer():
                return _OUT_OF_RANGE, None, f"code {number:g} is not a whole number"
            code = int(number)
            if code in self.codes:
                return self._target(self.codes[code], f"code {code}")
            if code in self.a.missing_codes:
                return _REASON, self.a.missing_codes[code], ""
            if float(code) in self.declared_missing:
                return _BLANK, None, f"code {code} is declared missing by the platform"
            if self.a.min <= code <= self.a.max:
                return _VALUE, (self.a.max + self.a.min - code) if self.rule.reverse else code, ""
            if code < 0:
                return _BLANK, None, f"negative code {code} read as no answer"
            return _OUT_OF_RANGE, None, (f"code {code} is outside the scale "
                                         f"{self.a.min}-{self.a.max} and not a missing code")
        label = normalise_label(cell)
        if label in self.labels:
            return self._target(self.labels[label], "its label")
        return _UNKNOWN, None, "text matches no answer label"


def _options(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Normalised label or id -> option id."""
    out: dict[str, str] = {}
    for label, oid in pairs:
        norm = normalise_text(label)
        if norm:
            out[norm] = oid
    return out


def _split_options(cell: str, options: Mapping[str, str], delimiter: str) -> tuple[list[str], int]:
    """Option ids named in a one-column multi-select cell, and the number of unknown pieces.

    Pieces between delimiters are joined greedily (longest first), so labels that contain
    the delimiter still match."""
    sep = delimiter or (";" if ";" in cell else ",")
    pieces = [p for p in cell.split(sep) if p.strip()]
    chosen, unknown, k = [], 0, 0
    while k < len(pieces):
        for end in range(len(pieces), k, -1):
            norm = normalise_text(sep.join(pieces[k:end]))
            if norm in options:
                chosen.append(options[norm])
                k = end
                break
        else:
            unknown += 1
            k += 1
    return chosen, unknown


# --- checking the mapping against the export ---------------------------------------------------


def _check_mapping(mapping: ColumnMapping, cols: dict[str, RawColumn], family: InstrumentFamily,
                   version: Instrument, programme, wave_id: str) -> None:
    problems: list[Problem] = []
    add = lambda where, msg: problems.append(Problem(where, msg))  # noqa: E731
    if mapping.instrument != family.id:
        add("instrument", f"{mapping.instrument!r} does not match the instrument {family.id!r}")
    scale_codes = {o.code for o in version.scale.options} | {m.code for m in version.scale.missing}
    for where, labels in (("labels", mapping.labels), ("synonyms", mapping.synonyms)):
        for key, target in labels.items():
            if isinstance(target, int) and target not in scale_codes:
                add(f"{where}.{key}", f"code {target} is not on the scale of version "
                    f"{version.version} ({sorted(scale_codes)})")
    partner_ids = {p.id for c in programme.collaborations for p in c.partners}
    allowed = {
        "collaboration": set(programme.collaboration_ids),
        "partner_organisation": partner_ids,
        "main_value_mode": {m.id for m in family.framework.value_modes},
    }
    for fieldname in ("sector", "role"):
        question = version.profile.get(fieldname)
        allowed[fieldname] = set(question.option_ids()) if question is not None else set()
    for cid, rule in mapping.columns.items():
        where = f"columns.{cid}"
        col = cols.get(cid)
        if col is not None and col.role == "personal" and rule.kind != "drop" and not (
                rule.kind == "meta" and rule.target == "respondent_id"):
            add(where, f"{col.header!r} holds personal data: it may only be dropped or used "
                "(pseudonymised) as the respondent id")
        if rule.kind == "item":
            if rule.target not in version.item_ids:
                add(where, f"item {rule.target!r} is not in instrument version "
                    f"{version.version}, which wave {wave_id!r} uses")
            for key, target in rule.labels.items():
                if isinstance(target, int) and target not in scale_codes:
                    add(f"{where}.labels.{key}", f"code {target} is not on the scale")
        if rule.kind == "profile" and rule.target in allowed:
            for label, oid in rule.options.items():
                if oid not in allowed[rule.target]:
                    add(f"{where}.options.{label}", f"{oid!r} is not a known "
                        f"{rule.target.replace('_', ' ')}")
        if rule.kind == "select":
            known = allowed["main_value_mode"] if rule.target == "value_modes" else partner_ids
            for oid in [rule.option, *rule.options.values()]:
                if oid and oid not in known:
                    add(where, f"{oid!r} is not a known option of {rule.target}")
    if problems:
        raise MappingError(mapping.source or "<mapping>", problems)


# --- the conversion ----------------------------------------------------------------------------


def convert_export(
    raw: RawExport,
    mapping: ColumnMapping,
    family: InstrumentFamily,
    programme,
    *,
    wave_id: str,
    secret: bytes,
    min_completion: float = 0.5,
    drop_previews: bool = True,
    speeder_seconds: float | None = None,
    collaboration: str | None = None,
    on_unknown_label: OnUnknownLabel = "skip",
) -> ConvertResult:
    """Convert one export to canonical survey data, quarantining the rows that fail a rule.

    The rules, the reading of answers and the missing-data vocabulary (``dont_know``,
    ``not_applicable``, ``skipped``, ``not_reached``) are set out in the module
    documentation. The returned data pass
    :func:`~collab_stats.schema.validate_survey_data` with the programme.

    Parameters
    ----------
    raw : RawExport
        One export, as a platform reader returns it.
    mapping : ColumnMapping
        Which column is which question (:func:`~collab_stats.ingest.mapping.load_mapping`).
    family, programme
        The instrument family and the programme; the wave's instrument version is taken from
        the programme.
    wave_id : str
        The programme wave the export belongs to.
    secret : bytes
        The pseudonymisation key (:func:`~collab_stats.ingest.pseudonym.load_secret`).
    min_completion : float
        An unfinished response needs at least this share of the items answered.
    drop_previews : bool
        Quarantine preview, test and spam responses.
    speeder_seconds : float, optional
        Quarantine responses faster than this (needs a ``duration`` column).
    collaboration : str, optional
        The collaboration of every row when the export has no collaboration column (one
        survey link per collaboration), or of rows where it is blank.
    on_unknown_label : {"skip", "quarantine"}
        What an answer text that matches no label does: read as blank, or quarantine the row.

    Raises
    ------
    MappingError
        The mapping does not fit the instrument version, programme or export (every problem
        listed).
    ParameterError, IngestError
        A bad argument; an export whose row numbers do not match its rows.
    """
    check_number("min_completion", min_completion, low=0.0, high=1.0)
    check_option("on_unknown_label", on_unknown_label, ("skip", "quarantine"))
    if speeder_seconds is not None:
        check_number("speeder_seconds", speeder_seconds, low=0.0)
    try:
        wave = programme.wave(wave_id)
    except KeyError:
        raise ParameterError(f"wave_id must be one of {', '.join(map(repr, programme.wave_ids))}; "
                             f"got {wave_id!r}") from None
    version = family.version(wave.instrument_version)
    if collaboration is not None and collaboration not in programme.collaboration_ids:
        raise ParameterError(f"collaboration must be one of "
                             f"{', '.join(map(repr, programme.collaboration_ids))}; got "
                             f"{collaboration!r}")
    n = raw.n_rows
    if len(raw.row_numbers) != n or list(raw.frame.columns) != [c.key for c in raw.columns]:
        raise IngestError(raw.source, "the export's row numbers or columns do not match its "
                          "table (a reader bug)")
    cols = column_ids(raw)
    _check_mapping(mapping, cols, family, version, programme, wave_id)
    rules = {cid: rule for cid, rule in mapping.columns.items() if cid in cols}
    by_target: dict[tuple[str, str], str] = {(r.kind, r.target): cid for cid, r in rules.items()
                                             if r.kind in ("profile", "meta", "text", "item")}
    if ("profile", "collaboration") not in by_target and collaboration is None:
        raise ParameterError("collaboration must be given: the mapping names no collaboration "
                             "column for this export")

    source = raw.source
    file_rows = [int(r) for r in raw.row_numbers]
    cell = lambda cid: raw.frame[cols[cid].key].to_numpy(dtype=object)  # noqa: E731
    notes: list[str] = []
    problems: list[list[tuple[str, str, str]]] = [[] for _ in range(n)]  # (reason, column, msg)
    truncated = set(raw.truncated_rows)
    for i in (i for i, row in enumerate(file_rows) if row in truncated):
        problems[i].append(("truncated", "", "the file ends inside this response (cut off "
                            "before its end): export the file again"))
    issues: list[tuple[int, str, str, str]] = []  # (row index, column, issue, message)
    unknown_labels: Counter[str] = Counter()
    unknown_values: dict[str, Counter[str]] = {}

    def unknown_value(cid: str, value: Any) -> None:
        unknown_values.setdefault(cid, Counter())[_text(value)[:80]] += 1

    # Column -> [field, count, first row index, first text, problem, outcome].
    unusable: dict[str, list[Any]] = {}
    warnings: list[str] = []

    def unusable_value(cid: str, fieldname: str, i: int, value: Any, problem: str,
                       outcome: str) -> None:
        entry = unusable.setdefault(cid, [fieldname, 0, i, _text(value)[:40], problem, outcome])
        entry[1] += 1

    # Respondent keys -> pseudonyms.
    id_col = by_target.get(("meta", "respondent_id"))
    fallback = [f"{source}#row{r}" for r in file_rows]
    has_id = np.zeros(n, dtype=bool)
    keys = list(fallback)
    if id_col is not None:
        for i, value in enumerate(cell(id_col)):
            if not _is_blank(value):
                keys[i], has_id[i] = _text(value), True
        if n and not has_id.any():
            warnings.append(f"respondent id column {id_col!r} is blank in every row: "
                            "respondents cannot be linked across waves and duplicates cannot "
                            "be detected (each row's pseudonym is that of the file and row; "
                            "the file is not refused)")
        elif (~has_id).any():
            notes.append(f"{int((~has_id).sum())} rows have no respondent id; their pseudonym "
                         "is that of the file and row")
    else:
        notes.append("no respondent id column: pseudonyms are of the file and row, so the "
                     "panel cannot be linked across waves")
    people = pseudonymise(keys, secret=secret, programme_id=programme.id)

    # Status, completion, duration, time.
    if drop_previews and ("meta", "status") in by_target:
        for i, value in enumerate(cell(by_target[("meta", "status")])):
            if _is_blank(value):
                continue
            number, text = _as_number(value), normalise_text(value)
            if (number is not None and number in _PREVIEW_CODES) or any(
                    w in text for w in _PREVIEW_WORDS):
                problems[i].append(("preview", by_target[("meta", "status")],
                                    "a preview, test or spam response"))
    completed = np.ones(n, dtype=bool)
    known = np.zeros(n, dtype=bool)
    if ("meta", "finished") in by_target:
        cid = by_target[("meta", "finished")]
        for i, value in enumerate(cell(cid)):
            text = normalise_text(value) if not _is_blank(value) else ""
            number = _as_number(value)
            if number is not None:
                text = str(int(number)) if number.is_integer() else text
            if text in _TRUE or text in _FALSE:
                completed[i], known[i] = text in _TRUE, True
            else:
                issues.append((i, cid, "unreadable_finished", "not a yes/no finished flag"))
                if not _is_blank(value):
                    unusable_value(cid, "finished", i, value, "are not a yes/no finished flag",
                                   "completion taken from progress, else complete")
    if ("meta", "progress") in by_target:
        cid = by_target[("meta", "progress")]
        for i, value in enumerate(cell(cid)):
            if known[i]:
                continue
            number = _as_number(_text(value).rstrip("%")) if not _is_blank(value) else None
            if number is None:
                issues.append((i, cid, "unreadable_progress", "not a percentage"))
                if not _is_blank(value):
                    unusable_value(cid, "progress", i, value, "are not a percentage",
                                   "those responses count as complete")
            else:
                completed[i], known[i] = number >= 100, True
    if not ({("meta", "finished"), ("meta", "progress")} & set(by_target)):
        notes.append("no finished or progress column: every response counts as complete "
                     "(blank items are 'skipped')")
    if speeder_seconds is not None:
        if ("meta", "duration") not in by_target:
            notes.append("speeder_seconds given but the mapping has no duration column")
        else:
            cid = by_target[("meta", "duration")]
            for i, value in enumerate(cell(cid)):
                number = _as_number(value) if not _is_blank(value) else None
                if number is None and not _is_blank(value):
                    issues.append((i, cid, "unreadable_duration", "not a number of seconds; "
                                   "not checked for speeding"))
                    unusable_value(cid, "duration", i, value, "are not a number of seconds",
                                   "those responses are not checked for speeding")
                if number is not None and number < speeder_seconds:
                    problems[i].append(("speeder", cid, f"took {number:g} s, under "
                                        f"{speeder_seconds:g} s"))
    submitted = [pd.NaT] * n
    if ("meta", "submitted_at") in by_target:
        cid = by_target[("meta", "submitted_at")]
        submitted = _read_times(cid, rules[cid], list(cell(cid)), raw.format, mapping.timezone,
                                issues, notes, unusable_value)
    else:
        notes.append("no submitted_at column: submission times are unknown")

    # Collaboration and partner organisation.
    collab_of: list[str | None] = [collaboration] * n
    if ("profile", "collaboration") in by_target:
        cid = by_target[("profile", "collaboration")]
        lookup = _options([*((c.id, c.id) for c in programme.collaborations),
                           *((c.name, c.id) for c in programme.collaborations),
                           *rules[cid].options.items()])
        for i, value in enumerate(cell(cid)):
            if _is_blank(value):
                continue
            found = lookup.get(normalise_text(value))
            if found is None:
                unknown_value(cid, value)
                unusable_value(cid, "collaboration", i, value, "match no collaboration of the "
                               "programme", "rows quarantined (unknown_collaboration)")
            collab_of[i] = found
    for i in range(n):
        if collab_of[i] is None:
            problems[i].append(("unknown_collaboration",
                                by_target.get(("profile", "collaboration"), ""),
                                "collaboration blank or not in the programme"))
    partner_of: list[str | None] = [None] * n
    if ("profile", "partner_organisation") in by_target:
        cid = by_target[("profile", "partner_organisation")]
        extra = list(rules[cid].options.items())
        partner_ids = {c.id: {p.id for p in c.partners} for c in programme.collaborations}
        lookups = {c.id: _options([*((p.id, p.id) for p in c.partners),
                                   *((p.name, p.id) for p in c.partners), *extra])
                   for c in programme.collaborations}
        for i, value in enumerate(cell(cid)):
            if _is_blank(value) or collab_of[i] is None:
                continue
            found = lookups[collab_of[i]].get(normalise_text(value))
            if found is None or found not in partner_ids[collab_of[i]]:
                unknown_value(cid, value)
                unusable_value(cid, "partner_organisation", i, value, "are not a partner of "
                               "the row's collaboration", "rows quarantined (unknown_partner)")
                problems[i].append(("unknown_partner", cid, "partner organisation not listed "
                                    f"for collaboration {collab_of[i]!r}"))
            else:
                partner_of[i] = found

    # Other profile fields.
    profile: dict[str, list[Any]] = {f: [None] * n for f in
                                     ("sector", "role", "months_involved", "main_value_mode")}
    modes = family.framework.value_modes
    for fieldname in profile:
        cid = by_target.get(("profile", fieldname))
        if cid is None:
            continue
        question = version.profile.get(fieldname) or version.questions.get(fieldname)
        if fieldname == "months_involved":
            low = question.min if question is not None and question.min is not None else 0
            high = question.max if question is not None and question.max is not None else 10**4
            for i, value in enumerate(cell(cid)):
                number = None if _is_blank(value) else _as_number(value)
                if _is_blank(value):
                    continue
                if number is None or not number.is_integer() or not low <= number <= high:
                    issues.append((i, cid, "invalid_months", f"not a whole number of months "
                                   f"in {low}-{high}; read as NA"))
                    unusable_value(cid, fieldname, i, value, f"are not a whole number of "
                                   f"months in {low}-{high}", "read as NA, rows kept")
                else:
                    profile[fieldname][i] = int(number)
            continue
        if fieldname == "main_value_mode":
            pairs = [*((m.id, m.id) for m in modes), *((m.name, m.id) for m in modes)]
        else:
            opts = question.options if question is not None else ()
            pairs = [*((o.id, o.id) for o in opts), *((o.label, o.id) for o in opts)]
        lookup = _options([*pairs, *rules[cid].options.items()])
        for i, value in enumerate(cell(cid)):
            if _is_blank(value):
                continue
            found = lookup.get(normalise_text(value))
            if found is None:
                unknown_value(cid, value)
                issues.append((i, cid, f"unknown_{fieldname}", "matches no option; read as NA"))
                unusable_value(cid, fieldname, i, value, "match no option",
                               "read as NA, rows kept")
            profile[fieldname][i] = found

    # Items.
    items = version.item_ids
    k = len(items)
    values = np.full((n, k), np.nan)
    reasons = np.full((n, k), None, dtype=object)
    answers = _Answers(version, mapping)
    for j, item_id in enumerate(items):
        cid = by_target.get(("item", item_id))
        if cid is None:
            continue
        reader = answers.for_column(rules[cid], cols[cid])
        # Each distinct cell text is read once; values and reasons are then spread over the
        # column with numpy (a column holds a handful of distinct answers).
        codes, uniques = pd.factorize(raw.frame[cols[cid].key], use_na_sentinel=True)
        outcomes = [reader.read(u) for u in uniques]
        kind = np.array([o[0] for o in outcomes] + [_BLANK], dtype=np.int64)[codes]
        value_of = np.array([o[1] if o[0] == _VALUE else np.nan for o in outcomes] + [np.nan],
                            dtype=float)
        reason_of = np.array([o[1] if o[0] == _REASON else None for o in outcomes] + [None],
                             dtype=object)
        values[:, j] = value_of[codes]
        reasons[:, j] = reason_of[codes]
        noted = np.array([o[0] == _BLANK and bool(o[2]) for o in outcomes] + [False])[codes]
        for i in np.flatnonzero((kind == _OUT_OF_RANGE) | (kind == _UNKNOWN) | noted):
            value = raw.frame[cols[cid].key].iat[i]
            outcome, result, note = outcomes[codes[i]]
            if outcome == _OUT_OF_RANGE:
                problems[i].append(("out_of_range", cid, note))
            elif outcome == _UNKNOWN:
                unknown_labels[_text(value)[:80]] += 1
                if on_unknown_label == "quarantine":
                    problems[i].append(("unparseable", cid, note))
                else:
                    issues.append((i, cid, "unknown_label", note + "; read as no answer"))
            elif note:
                issues.append((i, cid, "read_as_blank", note))
    given = ~np.isnan(values) | np.isin(reasons, list(ANSWER_MISSING_REASONS))
    share = given.mean(axis=1) if k else np.ones(n)
    for i in np.flatnonzero(~completed & (share < min_completion)):
        problems[i].append(("incomplete", "", f"unfinished, {share[i]:.0%} of items answered "
                            f"(at least {min_completion:.0%} needed)"))

    # Duplicates among otherwise clean rows.
    clean = np.array([not p for p in problems], dtype=bool)
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(clean & has_id):
        groups.setdefault(people[i], []).append(int(i))
    for rows in groups.values():
        if len(rows) < 2:
            continue
        def order(i: int) -> tuple:
            t = submitted[i]
            return (bool(completed[i]), not pd.isna(t),
                    t.value if not pd.isna(t) else 0, i)
        keep = max(rows, key=order)
        for i in rows:
            if i != keep:
                problems[i].append(("duplicate", id_col or "", "another submission of the same "
                                    f"respondent is kept (file row {file_rows[keep]})"))

    # Multi-selects and comments (accepted rows only are kept below).
    selections: list[tuple[int, str, str]] = []
    for cid, rule in rules.items():
        if rule.kind != "select":
            continue
        if rule.target == "value_modes":
            pairs = [*((m.id, m.id) for m in modes), *((m.name, m.id) for m in modes)]
            lookups = dict.fromkeys(programme.collaboration_ids, _options(
                [*pairs, *rule.options.items()]))
        else:
            lookups = {c.id: _options([*((p.id, p.id) for p in c.partners),
                                       *((p.name, p.id) for p in c.partners),
                                       *rule.options.items()])
                       for c in programme.collaborations}
        for i, value in enumerate(cell(cid)):
            if _is_blank(value) or collab_of[i] is None:
                continue
            lookup = lookups[collab_of[i]]
            if rule.option:
                number = _as_number(value)
                ticked = number != 0 if number is not None else (
                    normalise_text(value) not in _UNCHECKED)
                if not ticked:
                    continue
                if rule.option in lookup.values():
                    selections.append((i, rule.target, rule.option))
                else:
                    issues.append((i, cid, "unknown_option", f"{rule.option!r} is not an "
                                   f"option for collaboration {collab_of[i]!r}; left out"))
                    unusable_value(cid, f"select:{rule.target}", i, value,
                                   f"tick option {rule.option!r}, which the row's "
                                   "collaboration does not offer", "left out, rows kept")
                continue
            chosen, n_unknown = _split_options(_text(value), lookup, rule.delimiter)
            selections.extend((i, rule.target, oid) for oid in chosen)
            if n_unknown:
                unknown_value(cid, value)
                issues.append((i, cid, "unknown_option", f"{n_unknown} chosen option(s) match "
                               "no option; left out"))
                unusable_value(cid, f"select:{rule.target}", i, value,
                               "name an option that matches none", "those options left out, "
                               "rows kept")
    comments: list[tuple[int, str, str]] = []
    for cid, rule in rules.items():
        if rule.kind != "text":
            continue
        question = version.questions.get(rule.target)
        limit = question.max_length if question is not None else None
        for i, value in enumerate(cell(cid)):
            if _is_blank(value):
                continue
            text = _text(value)
            if limit is not None and len(text) > limit:
                issues.append((i, cid, "long_text", f"{len(text)} characters, over the "
                               f"{limit} allowed; kept"))
            comments.append((i, rule.target, text))

    # Split rows.
    accepted = np.array([not p for p in problems], dtype=bool)
    primary: Counter[str] = Counter()
    q_rows = []
    for i in np.flatnonzero(~accepted):
        ordered = sorted(problems[i], key=lambda p: QUARANTINE_REASONS.index(p[0]))
        primary[ordered[0][0]] += 1
        for m, (reason, cid, message) in enumerate(ordered):
            q_rows.append((source, file_rows[i], cid, reason, message, people[i], m == 0))
    quarantine = pd.DataFrame(q_rows, columns=QUARANTINE_COLUMNS).astype(
        {"row": "int64", "primary": "bool"})
    cell_issues = pd.DataFrame(
        [(source, file_rows[i], cid, issue, message, people[i])
         for i, cid, issue, message in issues], columns=ISSUE_COLUMNS).astype({"row": "int64"})

    data = _survey_data(
        accepted, people, collab_of, partner_of, profile, completed, submitted, values,
        reasons, items, wave_id, version.version, selections, comments)
    validate_survey_data(data, family, programme=programme)

    mapped = set(mapping.columns)
    without = tuple(i for i in items if ("item", i) not in by_target)
    if without:
        notes.append(f"{len(without)} items of version {version.version} have no column: "
                     "blank for everyone")
    unusable_values = tuple(
        UnusableValues(field=f, column=cid, n_unusable=count,
                       n_values=int(sum(not _is_blank(v) for v in cell(cid))),
                       first_row=file_rows[first], first_value=text, problem=problem,
                       outcome=outcome)
        for cid, (f, count, first, text, problem, outcome) in unusable.items())
    warnings.extend(u.message() for u in unusable_values)
    report = ConvertReport(
        source=source, wave_id=wave_id, instrument_version=version.version,
        rows_read=n, rows_accepted=int(accepted.sum()),
        rows_quarantined={r: int(primary.get(r, 0)) for r in QUARANTINE_REASONS},
        unmatched_columns=tuple(c for c in cols if c not in mapped),
        missing_columns=tuple(c for c in mapping.columns if c not in cols),
        items_without_column=without,
        unknown_labels=dict(unknown_labels),
        unknown_values={c: dict(v) for c, v in unknown_values.items()},
        notes=tuple(notes),
        unusable_values=unusable_values,
        warnings=tuple(warnings),
    )
    return ConvertResult(data=data, quarantine=quarantine, cell_issues=cell_issues,
                         report=report)


def _read_times(cid: str, rule: ColumnRule, values: list[Any], platform: str, timezone: str,
                issues: list, notes: list[str], unusable_value) -> list[Any]:
    """The submission times of the ``submitted_at`` column (UTC, NaT when unknown); every
    unreadable one counted, markers and guessed day/month orders noted."""
    order = rule.date_order or None
    if not rule.format and order is None:
        guess = guess_date_order(values, platform)
        if guess.n_slash_dates:
            order = guess.order
            if order is not None:
                notes.append(f"submitted_at: slash dates read as {order} ({guess.reason})"
                             + ("; set date_order in the mapping to be sure"
                                if guess.is_default else ""))
    how = (f"format {rule.format!r} or ISO 8601" if rule.format else
           f"ISO 8601 or {order} dates" if order else
           "ISO 8601; slash dates need date_order MDY or DMY in the mapping")
    whose = "from the mapping" if rule.date_order else "guessed"
    parsed = parse_times(values, fmt=rule.format, date_order=order, timezone=timezone)
    for i in parsed.unreadable:
        issues.append((i, cid, "unreadable_time", f"not a date and time ({how})"))
        unusable_value(cid, "submitted_at", i, values[i], f"could not be read as a time ({how}"
                       + (f", date order {whose}" if order and not rule.format else "") + ")",
                       "kept without a time, rows not quarantined")
    if parsed.markers:
        shown = sorted({_text(values[i]) for i in parsed.markers})
        notes.append(f"submitted_at: {len(parsed.markers)} rows hold {', '.join(shown)} "
                     "instead of a time (the platform records a time only when a survey is "
                     "submitted): no time")
    if parsed.adjusted:
        notes.append(f"submitted_at: {len(parsed.adjusted)} times fall in a daylight-saving "
                     f"change in {timezone}: read as standard time or moved forward")
    return [pd.NaT if t is None else t for t in parsed.times]


def _survey_data(accepted, people, collab_of, partner_of, profile, completed, submitted,
                 values, reasons, items, wave_id, version, selections, comments) -> SurveyData:
    rows = np.flatnonzero(accepted)
    position = {int(i): m for m, i in enumerate(rows)}
    n_acc, k = len(rows), len(items)
    respondents = pd.DataFrame({
        "wave_id": [wave_id] * n_acc,
        "collaboration_id": [collab_of[i] for i in rows],
        "respondent_id": [people[i] for i in rows],
        "instrument_version": [version] * n_acc,
        "partner_id": [partner_of[i] for i in rows],
        "sector": [profile["sector"][i] for i in rows],
        "role": [profile["role"][i] for i in rows],
        "months_involved": pd.array([profile["months_involved"][i] for i in rows], dtype="Int16"),
        "main_value_mode": [profile["main_value_mode"][i] for i in rows],
        "completed": completed[rows].astype(bool),
        "submitted_at": pd.to_datetime(pd.Series([submitted[i] for i in rows], dtype=object),
                                       utc=True),
    }, columns=list(RESPONDENT_COLUMNS))
    # The canonical blank rule: after the last answer of an incomplete response, not_reached;
    # any other blank, skipped.
    vals, why = values[rows], reasons[rows].copy()
    given = ~np.isnan(vals) | np.isin(why, list(ANSWER_MISSING_REASONS))
    last = np.where(given.any(axis=1), k - 1 - np.argmax(given[:, ::-1], axis=1), -1)
    blank = ~given
    after = np.arange(k)[None, :] > last[:, None]
    why[blank] = "skipped"
    why[blank & after & ~completed[rows][:, None]] = "not_reached"
    responses = pd.DataFrame({
        "wave_id": [wave_id] * (n_acc * k),
        "collaboration_id": np.repeat(np.array([collab_of[i] for i in rows], dtype=object), k),
        "respondent_id": np.repeat(np.array([people[i] for i in rows], dtype=object), k),
        "item_id": np.tile(np.array(items, dtype=object), n_acc),
        "value": pd.array(vals.ravel(), dtype="Float64").astype("Int8") if n_acc else
        pd.array([], dtype="Int8"),
        "missing_reason": why.ravel(),
    }, columns=list(RESPONSE_COLUMNS))
    kept = [(i, q, o) for i, q, o in dict.fromkeys(selections) if i in position]
    sel = pd.DataFrame({
        "wave_id": [wave_id] * len(kept),
        "collaboration_id": [collab_of[i] for i, _, _ in kept],
        "respondent_id": [people[i] for i, _, _ in kept],
        "question_id": [q for _, q, _ in kept],
        "option_id": [o for _, _, o in kept],
    }, columns=list(SELECTION_COLUMNS))
    kept_c = [(i, q, t) for i, q, t in comments if i in position]
    com = pd.DataFrame({
        "wave_id": [wave_id] * len(kept_c),
        "collaboration_id": [collab_of[i] for i, _, _ in kept_c],
        "respondent_id": [people[i] for i, _, _ in kept_c],
        "question_id": [q for _, q, _ in kept_c],
        "text": pd.array([t for _, _, t in kept_c], dtype="string"),
    }, columns=list(COMMENT_COLUMNS))
    return make_survey_data(respondents, responses, sel, com)
