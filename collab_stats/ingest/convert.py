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
from ..instrument.model import (
    ANSWER_MISSING_REASONS,
    MISSING_REASONS,
    Instrument,
    InstrumentFamily,
)
from ..schema import (
    RESPONDENT_COLUMNS,
    RESPONSE_COLUMNS,
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
from .select import option_lookup, split_distinct
from .times import guess_date_order, parse_time_column
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
_REASON_DTYPE = pd.CategoricalDtype(list(MISSING_REASONS))

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


# --- distinct cells ----------------------------------------------------------------------------


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[Any], bool]:
    """Codes and distinct cells of a column, in order of first appearance, and whether every
    distinct cell is text.

    ``uniques[codes[i]]`` is row ``i``'s cell; code -1 marks a cell the table holds as
    missing (None, NaN). Text columns are factorised by pandas; other columns cell by cell,
    keeping cells of different types apart (``1``, ``1.0`` and ``True`` are three cells, as
    their texts differ)."""
    if column.dtype != object and pd.api.types.is_string_dtype(column.dtype) or (
            column.dtype == object
            and pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty")):
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), list(uniques), True
    index: dict[Any, int] = {}
    uniques: list[Any] = []
    codes = np.empty(len(column), dtype=np.int64)
    for i, cell in enumerate(column.to_numpy(dtype=object)):
        key = (type(cell), cell, repr(cell)) if isinstance(cell, float) else (type(cell), cell)
        try:
            code = index.setdefault(key, len(uniques))
        except TypeError:  # an unhashable cell is a value of its own
            code = len(uniques)
        if code == len(uniques):
            uniques.append(cell)
        codes[i] = code
    return codes, uniques, False


def _per_value(decide, cells: list[Any], dtype: Any = object) -> np.ndarray:
    """``decide(cell)`` for each distinct cell and, last, for a missing one (None): indexed
    with a column's codes (-1 picks the last entry) it gives the result of every row."""
    results = [decide(c) for c in cells] + [decide(None)]
    if dtype is not object:
        return np.array(results, dtype=dtype)
    out = np.empty(len(results), dtype=object)
    for k, result in enumerate(results):
        out[k] = result
    return out


class _Cells:
    """The cells of one column as its distinct values (see :func:`_factorize`).

    Each rule is decided once per distinct cell (:meth:`per_value`) and spread over the rows
    with numpy indexing (``result[cells.codes]``).
    """

    def __init__(self, column: pd.Series) -> None:
        self.column = column
        self.codes, self.uniques, texts = _factorize(column)
        self.blank_of = (np.array([not c.strip() for c in self.uniques] + [True], dtype=bool)
                         if texts else self.per_value(_is_blank, dtype=bool))
        #: Whether each row's cell is blank.
        self.blank = self.blank_of[self.codes]

    def per_value(self, decide, dtype: Any = object) -> np.ndarray:
        """``decide(cell)`` per distinct cell, then for a missing cell (see :func:`_per_value`)."""
        return _per_value(decide, self.uniques, dtype)

    def rows(self, of_value: np.ndarray) -> np.ndarray:
        """The rows (ascending) whose distinct cell has ``of_value`` true."""
        return np.flatnonzero(of_value[self.codes])

    def texts(self, rows: np.ndarray, width: int) -> list[str]:
        """The stripped texts of the cells of ``rows``, cut to ``width`` characters."""
        text_of = self.per_value(lambda c: _text(c)[:width])
        return text_of[self.codes[rows]].tolist()


class _Findings:
    """What conversion finds, kept in the order the rules find it: row problems (quarantine),
    cell issues, unknown labels and values, and unusable values per column."""

    def __init__(self, n: int) -> None:
        self.n = n
        #: Whether each row has a problem so far.
        self.has_problem = np.zeros(n, dtype=bool)
        self._problems: list[tuple[np.ndarray, str, str, Any]] = []
        self._issues: list[tuple[np.ndarray, str, Any, Any]] = []
        self.unknown_labels: Counter[str] = Counter()
        self.unknown_values: dict[str, Counter[str]] = {}
        # Column -> [field, count, first row index, first text, problem, outcome].
        self.unusable: dict[str, list[Any]] = {}

    def problem(self, rows: np.ndarray, reason: str, column: str, message: Any) -> None:
        """A quarantine reason for ``rows``; ``message`` one text or one per row."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self._problems.append((rows, reason, column, message))
            self.has_problem[rows] = True

    def issue(self, rows: np.ndarray, column: str, issue: Any, message: Any) -> None:
        """A cell issue for ``rows``; ``issue`` and ``message`` one text or one per row."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self._issues.append((rows, column, issue, message))

    def unknown_value(self, column: str, cells: _Cells, rows: np.ndarray) -> None:
        """Count the texts of ``rows`` among the column's values that matched no option."""
        if len(rows):
            self.unknown_values.setdefault(column, Counter()).update(cells.texts(rows, 80))

    def unusable_value(self, column: str, fieldname: str, cells: _Cells, rows: np.ndarray,
                       problem: str, outcome: str) -> None:
        """Count ``rows`` as unusable values of the column (the first one named)."""
        if not len(rows):
            return
        first = int(rows[0])
        entry = self.unusable.setdefault(column, [fieldname, 0, first,
                                                  cells.texts(rows[:1], 40)[0], problem, outcome])
        entry[1] += len(rows)

    def quarantine(self, source: str, file_rows: np.ndarray, people: np.ndarray
                   ) -> tuple[pd.DataFrame, Counter[str]]:
        """One row per problem, by row, each row's problems in :data:`QUARANTINE_REASONS`
        order (then in the order found); and how many rows each primary reason has."""
        entries = [(int(i), QUARANTINE_REASONS.index(reason), k, column, _nth(message, m))
                   for k, (rows, reason, column, message) in enumerate(self._problems)
                   for m, i in enumerate(rows.tolist())]
        entries.sort(key=lambda e: e[:3])
        primary: Counter[str] = Counter()
        q_rows, previous = [], -1
        for i, reason, _, column, message in entries:
            first = i != previous
            if first:
                primary[QUARANTINE_REASONS[reason]] += 1
            q_rows.append((source, int(file_rows[i]), column, QUARANTINE_REASONS[reason],
                           message, people[i], first))
            previous = i
        frame = pd.DataFrame(q_rows, columns=QUARANTINE_COLUMNS).astype(
            {"row": "int64", "primary": "bool"})
        return frame, primary

    def cell_issues(self, source: str, file_rows: np.ndarray, people: np.ndarray
                    ) -> pd.DataFrame:
        """One row per cell issue, in the order found."""
        rows = [(source, int(file_rows[i]), column, _nth(issue, m), _nth(message, m), people[i])
                for r, column, issue, message in self._issues
                for m, i in enumerate(r.tolist())]
        return pd.DataFrame(rows, columns=ISSUE_COLUMNS).astype({"row": "int64"})


def _nth(value: Any, m: int) -> Any:
    """``value`` when it is one text, else its ``m``-th entry."""
    return value if isinstance(value, str) else value[m]


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
    file_rows = np.array([int(r) for r in raw.row_numbers], dtype=np.int64)
    distinct: dict[str, _Cells] = {}

    def cells(cid: str) -> _Cells:
        if cid not in distinct:
            distinct[cid] = _Cells(raw.frame[cols[cid].key])
        return distinct[cid]

    notes: list[str] = []
    warnings: list[str] = []
    found = _Findings(n)
    truncated = np.flatnonzero(np.isin(file_rows, np.array(raw.truncated_rows, dtype=np.int64)))
    found.problem(truncated, "truncated", "", "the file ends inside this response (cut off "
                  "before its end): export the file again")

    id_col = by_target.get(("meta", "respondent_id"))
    people, has_id = _pseudonyms(cells(id_col) if id_col is not None else None, id_col, source,
                                 file_rows, secret, programme.id, notes, warnings)
    if drop_previews and ("meta", "status") in by_target:
        _previews(by_target[("meta", "status")], cells(by_target[("meta", "status")]), found)
    completed = _completion(by_target, cells, found, notes)
    if speeder_seconds is not None:
        _speeders(by_target, cells, speeder_seconds, found, notes)
    submitted = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    if ("meta", "submitted_at") in by_target:
        cid = by_target[("meta", "submitted_at")]
        submitted = _read_times(cid, rules[cid], cells(cid), raw.format, mapping.timezone,
                                found, notes)
    else:
        notes.append("no submitted_at column: submission times are unknown")

    collab_of = _collaborations(by_target, rules, cells, programme, collaboration, n, found)
    partner_of = _partners(by_target, rules, cells, programme, collab_of, n, found)
    profile = _profile(by_target, rules, cells, version, family, n, found)

    items = version.item_ids
    values, reasons, reason_names = _items(by_target, rules, cols, cells, version, mapping,
                                           on_unknown_label, n, found)
    _incomplete(values, reasons, reason_names, completed, min_completion, found)
    _duplicates(people, has_id, completed, submitted, file_rows, id_col, found)
    selections = _selections(rules, cells, family, programme, collab_of, found)
    comments = _comments(rules, cells, version, found)

    accepted = ~found.has_problem
    quarantine, primary = found.quarantine(source, file_rows, people)
    cell_issues = found.cell_issues(source, file_rows, people)
    data = _survey_data(
        accepted, people, collab_of, partner_of, profile, completed, submitted, values,
        reasons, reason_names, items, wave_id, version.version, selections, comments)
    validate_survey_data(data, family, programme=programme)

    mapped = set(mapping.columns)
    without = tuple(i for i in items if ("item", i) not in by_target)
    if without:
        notes.append(f"{len(without)} items of version {version.version} have no column: "
                     "blank for everyone")
    unusable_values = tuple(
        UnusableValues(field=f, column=cid, n_unusable=count,
                       n_values=int((~cells(cid).blank).sum()),
                       first_row=int(file_rows[first]), first_value=text, problem=problem,
                       outcome=outcome)
        for cid, (f, count, first, text, problem, outcome) in found.unusable.items())
    warnings.extend(u.message() for u in unusable_values)
    report = ConvertReport(
        source=source, wave_id=wave_id, instrument_version=version.version,
        rows_read=n, rows_accepted=int(accepted.sum()),
        rows_quarantined={r: int(primary.get(r, 0)) for r in QUARANTINE_REASONS},
        unmatched_columns=tuple(c for c in cols if c not in mapped),
        missing_columns=tuple(c for c in mapping.columns if c not in cols),
        items_without_column=without,
        unknown_labels=dict(found.unknown_labels),
        unknown_values={c: dict(v) for c, v in found.unknown_values.items()},
        notes=tuple(notes),
        unusable_values=unusable_values,
        warnings=tuple(warnings),
    )
    return ConvertResult(data=data, quarantine=quarantine, cell_issues=cell_issues,
                         report=report)


# --- respondents, status and completion --------------------------------------------------------


def _pseudonyms(ids: _Cells | None, id_col: str | None, source: str, file_rows: np.ndarray,
                secret: bytes, programme_id: str, notes: list[str], warnings: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's pseudonym (of its respondent id, else of the file and row) and whether the
    row has an id."""
    n = len(file_rows)
    has_id = np.zeros(n, dtype=bool) if ids is None else ~ids.blank
    keys = np.empty(n, dtype=object)
    if ids is not None:
        keys[:] = ids.per_value(_text)[ids.codes]
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
    missing = np.flatnonzero(~has_id)
    keys[missing] = [f"{source}#row{r}" for r in file_rows[missing].tolist()]
    return pseudonymise(keys, secret=secret, programme_id=programme_id), has_id


def _is_preview(cell: Any) -> bool:
    """Whether a status cell marks a preview, test or spam response."""
    if _is_blank(cell):
        return False
    number, text = _as_number(cell), normalise_text(cell)
    return (number is not None and number in _PREVIEW_CODES) or any(
        w in text for w in _PREVIEW_WORDS)


def _previews(cid: str, status: _Cells, found: _Findings) -> None:
    """Quarantine preview, test and spam responses."""
    found.problem(status.rows(status.per_value(_is_preview, dtype=bool)), "preview", cid,
                  "a preview, test or spam response")


def _finished_flag(cell: Any) -> int:
    """1 (finished), 0 (not finished) or -1 (not a yes/no flag) for a ``finished`` cell."""
    text = normalise_text(cell) if not _is_blank(cell) else ""
    number = _as_number(cell)
    if number is not None:
        text = str(int(number)) if number.is_integer() else text
    return 1 if text in _TRUE else 0 if text in _FALSE else -1


def _percentage(cell: Any) -> float:
    """A ``progress`` cell as a number (NaN when blank or not a percentage)."""
    number = _as_number(_text(cell).rstrip("%")) if not _is_blank(cell) else None
    return np.nan if number is None else number


def _completion(by_target, cells, found: _Findings, notes: list[str]) -> np.ndarray:
    """Whether each response is complete: from ``finished``, else ``progress``, else true."""
    n = found.n
    completed = np.ones(n, dtype=bool)
    known = np.zeros(n, dtype=bool)
    if ("meta", "finished") in by_target:
        cid = by_target[("meta", "finished")]
        finished = cells(cid)
        flag = finished.per_value(_finished_flag, dtype=np.int8)[finished.codes]
        known = flag >= 0
        completed[known] = flag[known] == 1
        found.issue(np.flatnonzero(~known), cid, "unreadable_finished",
                    "not a yes/no finished flag")
        found.unusable_value(cid, "finished", finished, np.flatnonzero(~known & ~finished.blank),
                             "are not a yes/no finished flag",
                             "completion taken from progress, else complete")
    if ("meta", "progress") in by_target:
        cid = by_target[("meta", "progress")]
        progress = cells(cid)
        number = progress.per_value(_percentage, dtype=float)[progress.codes]
        unread = ~known & np.isnan(number)
        found.issue(np.flatnonzero(unread), cid, "unreadable_progress", "not a percentage")
        found.unusable_value(cid, "progress", progress, np.flatnonzero(unread & ~progress.blank),
                             "are not a percentage", "those responses count as complete")
        read = ~known & ~np.isnan(number)
        completed[read] = number[read] >= 100
    if not ({("meta", "finished"), ("meta", "progress")} & set(by_target)):
        notes.append("no finished or progress column: every response counts as complete "
                     "(blank items are 'skipped')")
    return completed


def _seconds(cell: Any) -> float:
    """A ``duration`` cell as a number (NaN when blank or not a number)."""
    number = _as_number(cell) if not _is_blank(cell) else None
    return np.nan if number is None else number


def _speeders(by_target, cells, speeder_seconds: float, found: _Findings,
              notes: list[str]) -> None:
    """Quarantine responses faster than ``speeder_seconds``."""
    if ("meta", "duration") not in by_target:
        notes.append("speeder_seconds given but the mapping has no duration column")
        return
    cid = by_target[("meta", "duration")]
    duration = cells(cid)
    seconds = duration.per_value(_seconds, dtype=float)
    unread = duration.rows(np.isnan(seconds) & ~duration.blank_of)
    found.issue(unread, cid, "unreadable_duration", "not a number of seconds; not checked for "
                "speeding")
    found.unusable_value(cid, "duration", duration, unread, "are not a number of seconds",
                         "those responses are not checked for speeding")
    with np.errstate(invalid="ignore"):
        fast = seconds < speeder_seconds
    message = np.array([f"took {s:g} s, under {speeder_seconds:g} s" for s in seconds.tolist()],
                       dtype=object)
    rows = duration.rows(fast)
    found.problem(rows, "speeder", cid, message[duration.codes[rows]].tolist())


# --- collaboration, partner and profile --------------------------------------------------------


def _collaborations(by_target, rules, cells, programme, collaboration: str | None, n: int,
                    found: _Findings) -> np.ndarray:
    """Each row's collaboration id (None when blank or unknown: quarantined)."""
    collab_of = np.full(n, collaboration, dtype=object)
    if ("profile", "collaboration") in by_target:
        cid = by_target[("profile", "collaboration")]
        column = cells(cid)
        lookup = option_lookup([*((c.id, c.id) for c in programme.collaborations),
                                *((c.name, c.id) for c in programme.collaborations),
                                *rules[cid].options.items()])
        found_of = column.per_value(lambda c: lookup.get(normalise_text(c)))
        given = ~column.blank
        collab_of[given] = found_of[column.codes[given]]
        unknown = np.flatnonzero(given & (collab_of == None))  # noqa: E711
        found.unknown_value(cid, column, unknown)
        found.unusable_value(cid, "collaboration", column, unknown, "match no collaboration of "
                             "the programme", "rows quarantined (unknown_collaboration)")
    found.problem(np.flatnonzero(collab_of == None), "unknown_collaboration",  # noqa: E711
                  by_target.get(("profile", "collaboration"), ""),
                  "collaboration blank or not in the programme")
    return collab_of


def _pairs(column: _Cells, collab_of: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows with a non-blank cell and a collaboration, each row's (cell, collaboration)
    pair code, and per distinct pair its distinct cell code and collaboration id."""
    rows = np.flatnonzero(~column.blank & (collab_of != None))  # noqa: E711
    collab_codes, collab_ids = pd.factorize(collab_of[rows])
    width = max(len(collab_ids), 1)
    pair_codes, pair_keys = pd.factorize(column.codes[rows] * width + collab_codes)
    pair_keys = np.asarray(pair_keys, dtype=np.int64)
    ids = np.asarray(collab_ids, dtype=object)
    return (rows, np.asarray(pair_codes, dtype=np.int64), pair_keys // width,
            ids[pair_keys % width] if len(ids) else np.zeros(0, dtype=object))


def _partner_lookups(programme, extra: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Per collaboration, its partners as options (:func:`option_lookup` of each partner's
    id and name), then a column rule's ``extra`` label -> option id pairs."""
    return {c.id: option_lookup([*((p.id, p.id) for p in c.partners),
                                 *((p.name, p.id) for p in c.partners), *extra.items()])
            for c in programme.collaborations}


def _partners(by_target, rules, cells, programme, collab_of: np.ndarray, n: int,
              found: _Findings) -> np.ndarray:
    """Each row's partner organisation id (None when blank or not a partner of the row's
    collaboration: quarantined)."""
    partner_of = np.full(n, None, dtype=object)
    if ("profile", "partner_organisation") not in by_target:
        return partner_of
    cid = by_target[("profile", "partner_organisation")]
    column = cells(cid)
    partner_ids = {c.id: {p.id for p in c.partners} for c in programme.collaborations}
    lookups = _partner_lookups(programme, rules[cid].options)
    rows, pair_codes, pair_cells, pair_collabs = _pairs(column, collab_of)
    found_of = []
    for code, collab in zip(pair_cells.tolist(), pair_collabs.tolist(), strict=True):
        partner = lookups[collab].get(normalise_text(column.uniques[code]))
        found_of.append(partner if partner is not None and partner in partner_ids[collab]
                        else None)
    partner = np.array(found_of + [None], dtype=object)[pair_codes]
    partner_of[rows] = partner
    unknown = rows[partner == None]  # noqa: E711
    found.unknown_value(cid, column, unknown)
    found.unusable_value(cid, "partner_organisation", column, unknown, "are not a partner of "
                         "the row's collaboration", "rows quarantined (unknown_partner)")
    found.problem(unknown, "unknown_partner", cid,
                  [f"partner organisation not listed for collaboration {c!r}"
                   for c in collab_of[unknown].tolist()])
    return partner_of


def _months(cell: Any, low: float, high: float) -> int | None | bool:
    """A ``months_involved`` cell: its whole number, None when blank, False when invalid."""
    if _is_blank(cell):
        return None
    number = _as_number(cell)
    if number is None or not number.is_integer() or not low <= number <= high:
        return False
    return int(number)


def _profile(by_target, rules, cells, version: Instrument, family: InstrumentFamily, n: int,
             found: _Findings) -> dict[str, np.ndarray]:
    """Sector, role, months involved and main way of creating value of each row (None when
    blank or unusable, counted)."""
    profile = {f: np.full(n, None, dtype=object)
               for f in ("sector", "role", "months_involved", "main_value_mode")}
    modes = family.framework.value_modes
    for fieldname in profile:
        cid = by_target.get(("profile", fieldname))
        if cid is None:
            continue
        column = cells(cid)
        question = version.profile.get(fieldname) or version.questions.get(fieldname)
        if fieldname == "months_involved":
            low = question.min if question is not None and question.min is not None else 0
            high = question.max if question is not None and question.max is not None else 10**4
            months = column.per_value(lambda c, low=low, high=high: _months(c, low, high))
            invalid = column.rows(np.array([m is False for m in months]))
            found.issue(invalid, cid, "invalid_months", f"not a whole number of months "
                        f"in {low}-{high}; read as NA")
            found.unusable_value(cid, fieldname, column, invalid, f"are not a whole number of "
                                 f"months in {low}-{high}", "read as NA, rows kept")
            months[np.array([m is False for m in months])] = None
            profile[fieldname] = months[column.codes]
            continue
        if fieldname == "main_value_mode":
            pairs = [*((m.id, m.id) for m in modes), *((m.name, m.id) for m in modes)]
        else:
            opts = question.options if question is not None else ()
            pairs = [*((o.id, o.id) for o in opts), *((o.label, o.id) for o in opts)]
        lookup = option_lookup([*pairs, *rules[cid].options.items()])
        found_of = column.per_value(lambda c, lookup=lookup: None if _is_blank(c) else
                                    lookup.get(normalise_text(c)))
        unknown = column.rows((found_of == None) & ~column.blank_of)  # noqa: E711
        found.unknown_value(cid, column, unknown)
        found.issue(unknown, cid, f"unknown_{fieldname}", "matches no option; read as NA")
        found.unusable_value(cid, fieldname, column, unknown, "match no option",
                             "read as NA, rows kept")
        profile[fieldname] = found_of[column.codes]
    return profile


# --- items -------------------------------------------------------------------------------------


def _items(by_target, rules, cols, cells, version: Instrument, mapping: ColumnMapping,
           on_unknown_label: str, n: int, found: _Findings
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Item values (n x k, NaN when none) and missing reasons (codes into the returned
    names, -1 when none) of each row."""
    items = version.item_ids
    values = np.full((n, len(items)), np.nan)
    reasons = np.full((n, len(items)), -1, dtype=np.int16)
    reason_names: list[str] = []
    answers = _Answers(version, mapping)
    for j, item_id in enumerate(items):
        cid = by_target.get(("item", item_id))
        if cid is None:
            continue
        reader = answers.for_column(rules[cid], cols[cid])
        column = cells(cid)
        # Each distinct cell text is read once; values and reasons are then spread over the
        # column with numpy (a column holds a handful of distinct answers).
        outcomes = column.per_value(reader.read)
        kind = np.array([o[0] for o in outcomes], dtype=np.int64)
        for o in outcomes:
            if o[0] == _REASON and o[1] not in reason_names:
                reason_names.append(o[1])
        values[:, j] = np.array([o[1] if o[0] == _VALUE else np.nan for o in outcomes],
                                dtype=float)[column.codes]
        reasons[:, j] = np.array([reason_names.index(o[1]) if o[0] == _REASON else -1
                                  for o in outcomes], dtype=np.int16)[column.codes]
        note = np.array([o[2] for o in outcomes], dtype=object)
        noted = (kind == _BLANK) & (note != "")
        out_of_range = column.rows(kind == _OUT_OF_RANGE)
        found.problem(out_of_range, "out_of_range", cid,
                      note[column.codes[out_of_range]].tolist())
        unknown = column.rows(kind == _UNKNOWN)
        found.unknown_labels.update(column.texts(unknown, 80))
        if on_unknown_label == "quarantine":
            found.problem(unknown, "unparseable", cid, note[column.codes[unknown]].tolist())
            flagged = column.rows(noted)
        else:
            flagged = column.rows(noted | (kind == _UNKNOWN))
        flagged_kind = kind[column.codes[flagged]]
        flagged_note = note[column.codes[flagged]]
        found.issue(flagged, cid,
                    np.where(flagged_kind == _UNKNOWN, "unknown_label", "read_as_blank"),
                    [m + "; read as no answer" if k == _UNKNOWN else m
                     for k, m in zip(flagged_kind.tolist(), flagged_note.tolist(), strict=True)])
    return values, reasons, reason_names


def _answered(values: np.ndarray, reasons: np.ndarray, reason_names: list[str]) -> np.ndarray:
    """Whether each item of each row was answered: a code, "don't know" or "not applicable"."""
    chosen = [k for k, r in enumerate(reason_names) if r in ANSWER_MISSING_REASONS]
    return ~np.isnan(values) | np.isin(reasons, chosen)


def _incomplete(values, reasons, reason_names, completed: np.ndarray, min_completion: float,
                found: _Findings) -> None:
    """Quarantine unfinished responses with fewer than ``min_completion`` of items answered."""
    n, k = values.shape
    share = _answered(values, reasons, reason_names).mean(axis=1) if k else np.ones(n)
    rows = np.flatnonzero(~completed & (share < min_completion))
    found.problem(rows, "incomplete", "",
                  [f"unfinished, {share[i]:.0%} of items answered (at least "
                   f"{min_completion:.0%} needed)" for i in rows.tolist()])


def _duplicates(people: np.ndarray, has_id: np.ndarray, completed: np.ndarray,
                submitted: pd.Series, file_rows: np.ndarray, id_col: str | None,
                found: _Findings) -> None:
    """Among rows with no problem so far, quarantine all but one row of each respondent: the
    latest complete one (by time, then file row), else the latest one."""
    rows = np.flatnonzero(~found.has_problem & has_id)
    if len(rows) < 2:
        return
    person = pd.factorize(people[rows])[0]
    counts = np.bincount(person)
    rows, person = rows[counts[person] > 1], person[counts[person] > 1]
    if not len(rows):
        return
    stamps = submitted.to_numpy()
    has_time = ~pd.isna(stamps[rows])
    time = np.where(has_time, submitted.array.asi8[rows], 0)
    order = np.lexsort((rows, time, has_time, completed[rows], person))
    last = np.r_[person[order][1:] != person[order][:-1], True]
    keep = np.empty(person.max() + 1, dtype=np.int64)
    keep[person[order][last]] = rows[order][last]
    dropped = rows[rows != keep[person]]
    found.problem(dropped, "duplicate", id_col or "",
                  [f"another submission of the same respondent is kept (file row "
                   f"{file_rows[keep[p]]})" for p in person[rows != keep[person]].tolist()])


# --- multi-selects and comments ----------------------------------------------------------------


def _ticked(cell: Any) -> bool:
    """Whether a one-option multi-select cell is ticked."""
    number = _as_number(cell)
    return number != 0 if number is not None else normalise_text(cell) not in _UNCHECKED


def _selections(rules, cells, family: InstrumentFamily, programme, collab_of: np.ndarray,
                found: _Findings) -> pd.DataFrame:
    """The options chosen in multi-select columns: one row (``row``, ``question_id``,
    ``option_id``) per choice, by column, row and order in the cell, each choice once."""
    modes = family.framework.value_modes
    parts = []
    for cid, rule in rules.items():
        if rule.kind != "select":
            continue
        if rule.target == "value_modes":
            pairs = [*((m.id, m.id) for m in modes), *((m.name, m.id) for m in modes)]
            lookups = dict.fromkeys(programme.collaboration_ids, option_lookup(
                [*pairs, *rule.options.items()]))
        else:
            lookups = _partner_lookups(programme, rule.options)
        column = cells(cid)
        rows, pair_codes, pair_cells, pair_collabs = _pairs(column, collab_of)
        choose = _ticked_option if rule.option else _split_cells
        parts.append(choose(rule, column, rows, pair_codes, pair_cells, pair_collabs, lookups,
                            collab_of, cid, found))
    if not parts:
        return pd.DataFrame({"row": np.array([], dtype=np.int64), "question_id": [],
                             "option_id": []})
    table = pd.concat(parts, ignore_index=True)
    return table[~table.duplicated()].reset_index(drop=True)


def _ticked_option(rule: ColumnRule, column: _Cells, rows, pair_codes, pair_cells,
                   pair_collabs, lookups, collab_of, cid: str, found: _Findings):
    """Choices of a one-option column (ticked cells); a ticked row whose collaboration does
    not offer the option is listed and counted."""
    ticked = column.per_value(_ticked, dtype=bool)
    offered = np.array([rule.option in lookups[collab].values()
                        for collab in pair_collabs.tolist()] + [False], dtype=bool)
    tick = ticked[column.codes[rows]]
    chosen = rows[tick & offered[pair_codes]]
    unknown = rows[tick & ~offered[pair_codes]]
    found.issue(unknown, cid, "unknown_option",
                [f"{rule.option!r} is not an option for collaboration {c!r}; left out"
                 for c in collab_of[unknown].tolist()])
    found.unusable_value(cid, f"select:{rule.target}", column, unknown,
                         f"tick option {rule.option!r}, which the row's collaboration does "
                         "not offer", "left out, rows kept")
    return _rows_table(chosen, rule.target, "option_id", rule.option)


def _split_cells(rule: ColumnRule, column: _Cells, rows, pair_codes, pair_cells, pair_collabs,
                 lookups, collab_of, cid: str, found: _Findings):
    """Choices of a one-column multi-select, each distinct cell split once per distinct list
    of options (a collaboration's partners are its options; see
    :func:`~collab_stats.ingest.select.split_distinct`); a row naming an unknown option is
    listed and counted."""
    cell_codes, cell_of = np.unique(pair_cells, return_inverse=True)
    collab_codes, collabs = pd.factorize(pair_collabs)
    # Collaborations that share one option list (value modes) share its splits.
    distinct: dict[int, tuple[int, Mapping[str, str]]] = {}
    list_of_collab = np.array([distinct.setdefault(id(lookups[c]), (len(distinct), lookups[c]))[0]
                               for c in collabs], dtype=np.int64)
    splits = split_distinct([_text(column.uniques[c]) for c in cell_codes.tolist()],
                            [lookup for _, lookup in distinct.values()], cell_of.reshape(-1),
                            list_of_collab[collab_codes], rule.delimiter)
    per_pair = np.append(splits.n_chosen, 0)
    n_chosen = per_pair[pair_codes]
    starts = np.cumsum(per_pair) - per_pair
    first = np.repeat(starts[pair_codes], n_chosen)
    within = np.arange(n_chosen.sum()) - np.repeat(np.cumsum(n_chosen) - n_chosen, n_chosen)
    chosen = _rows_table(np.repeat(rows, n_chosen), rule.target, "option_id",
                         splits.chosen[first + within] if len(first) else
                         np.array([], dtype=object))
    n_unknown = np.append(splits.n_unknown, 0)[pair_codes]
    has_unknown = n_unknown > 0
    unknown = rows[has_unknown]
    found.unknown_value(cid, column, unknown)
    found.issue(unknown, cid, "unknown_option",
                [f"{u} chosen option(s) match no option; left out"
                 for u in n_unknown[has_unknown].tolist()])
    found.unusable_value(cid, f"select:{rule.target}", column, unknown,
                         "name an option that matches none", "those options left out, rows kept")
    return chosen


def _rows_table(rows: np.ndarray, question: str, name: str, values: Any) -> pd.DataFrame:
    """A table of (``row``, ``question_id``, ``name``) with text kept as Python objects
    (``values``: one per row, or one for all)."""
    cells = np.empty(len(rows), dtype=object)
    cells[:] = values
    return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64),
                         "question_id": pd.Series([question] * len(rows), dtype=object),
                         name: pd.Series(cells, dtype=object)})


def _comments(rules, cells, version: Instrument, found: _Findings) -> pd.DataFrame:
    """Free-text answers: one row (``row``, ``question_id``, ``text``) per non-blank cell, by
    column and row; texts over the question's length are kept and listed."""
    parts = []
    for cid, rule in rules.items():
        if rule.kind != "text":
            continue
        question = version.questions.get(rule.target)
        limit = question.max_length if question is not None else None
        column = cells(cid)
        text_of = column.per_value(_text)
        rows = np.flatnonzero(~column.blank)
        if limit is not None:
            length = np.array([len(t) for t in text_of], dtype=np.int64)
            long = column.rows(~column.blank_of & (length > limit))
            found.issue(long, cid, "long_text",
                        [f"{m} characters, over the {limit} allowed; kept"
                         for m in length[column.codes[long]].tolist()])
        parts.append(_rows_table(rows, rule.target, "text", text_of[column.codes[rows]]))
    if not parts:
        return pd.DataFrame({"row": np.array([], dtype=np.int64), "question_id": [], "text": []})
    return pd.concat(parts, ignore_index=True)


# --- times and the canonical tables ------------------------------------------------------------


def _read_times(cid: str, rule: ColumnRule, column: _Cells, platform: str, timezone: str,
                found: _Findings, notes: list[str]) -> pd.Series:
    """The submission times of the ``submitted_at`` column (UTC, NaT when unknown), each
    distinct cell parsed once; every unreadable one counted, markers and guessed day/month
    orders noted."""
    order = rule.date_order or None
    if not rule.format and order is None:
        guess = guess_date_order(column.uniques, platform)
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
    parsed = parse_time_column(column.uniques, fmt=rule.format, date_order=order,
                               timezone=timezone)
    flag = lambda positions: np.isin(np.arange(len(column.uniques) + 1),  # noqa: E731
                                     np.array(positions, dtype=np.int64))
    unreadable = column.rows(flag(parsed.unreadable))
    found.issue(unreadable, cid, "unreadable_time", f"not a date and time ({how})")
    found.unusable_value(cid, "submitted_at", column, unreadable,
                         f"could not be read as a time ({how}"
                         + (f", date order {whose}" if order and not rule.format else "") + ")",
                         "kept without a time, rows not quarantined")
    markers = column.rows(flag(parsed.markers))
    if len(markers):
        shown = sorted({_text(column.uniques[k]) for k in parsed.markers})
        notes.append(f"submitted_at: {len(markers)} rows hold {', '.join(shown)} "
                     "instead of a time (the platform records a time only when a survey is "
                     "submitted): no time")
    adjusted = column.rows(flag(parsed.adjusted))
    if len(adjusted):
        notes.append(f"submitted_at: {len(adjusted)} times fall in a daylight-saving "
                     f"change in {timezone}: read as standard time or moved forward")
    return pd.Series(parsed.times.array.take(column.codes, allow_fill=True))


def _category(values: np.ndarray, *, empty: Any = "float64") -> pd.Categorical:
    """``values`` (text or None) as ``astype("category")`` of a column built from them gives:
    sorted categories of dtype ``str``; none of dtype object when every value is None; none
    of dtype ``empty`` when there are no values (float64 for a column built from an empty
    list, object for one from an empty array)."""
    if not len(values):
        return pd.Categorical.from_codes([], dtype=pd.CategoricalDtype(pd.Index([], dtype=empty)))
    codes, categories = pd.factorize(values, sort=True, use_na_sentinel=True)
    dtype = "str" if len(categories) else object
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(pd.Index(categories, dtype=dtype)))


def _category_take(values: pd.Categorical, index: np.ndarray) -> pd.Categorical:
    """``values.take(index)`` for an ``index`` that takes every value at least once or none
    (none: no categories, of dtype object, as a column built from an empty array has)."""
    if not len(index):
        return _category(np.array([], dtype=object), empty=object)
    return values.take(index)


def _repeated(value: str, n: int) -> pd.Categorical:
    """One text ``n`` times as a categorical (as ``_category`` would give)."""
    if not n:
        return _category(np.array([], dtype=object))
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                     dtype=pd.CategoricalDtype(pd.Index([value], dtype="str")))


def _survey_data(accepted, people, collab_of, partner_of, profile, completed, submitted,
                 values, reasons, reason_names, items, wave_id, version, selections,
                 comments) -> SurveyData:
    """The canonical tables of the accepted rows."""
    rows = np.flatnonzero(accepted)
    n_acc, k = len(rows), len(items)
    collab, person = _category(collab_of[rows]), _category(people[rows])
    respondents = pd.DataFrame({
        "wave_id": _repeated(wave_id, n_acc),
        "collaboration_id": collab,
        "respondent_id": person,
        "instrument_version": _repeated(version, n_acc),
        "partner_id": _category(partner_of[rows]),
        "sector": _category(profile["sector"][rows]),
        "role": _category(profile["role"][rows]),
        "months_involved": pd.array(profile["months_involved"][rows], dtype="Int16"),
        "main_value_mode": _category(profile["main_value_mode"][rows]),
        "completed": completed[rows].astype(bool),
        "submitted_at": submitted.iloc[rows].reset_index(drop=True),
    }, columns=list(RESPONDENT_COLUMNS))
    responses = pd.DataFrame({
        "wave_id": _repeated(wave_id, n_acc * k),
        "collaboration_id": _category_take(collab, np.repeat(np.arange(n_acc), k)),
        "respondent_id": _category_take(person, np.repeat(np.arange(n_acc), k)),
        "item_id": _category_take(_category(np.array(items, dtype=object)),
                                  np.tile(np.arange(k), n_acc)),
        "value": pd.array(values[rows].ravel(), dtype="Float64").astype("Int8") if n_acc else
        pd.array([], dtype="Int8"),
        "missing_reason": _missing_reasons(values[rows], reasons[rows], reason_names,
                                           completed[rows]),
    }, columns=list(RESPONSE_COLUMNS))
    position = np.full(len(accepted), -1, dtype=np.int64)
    position[rows] = np.arange(n_acc)
    by_respondent = [_by_respondent(table[accepted[table["row"].to_numpy(dtype=np.int64)]],
                                    wave_id, collab, person, position)
                     for table in (selections, comments)]
    return make_survey_data(respondents, responses, *by_respondent)


def _missing_reasons(vals: np.ndarray, why: np.ndarray, reason_names: list[str],
                     completed: np.ndarray) -> pd.Categorical:
    """The missing reason of every item of the accepted rows (the canonical blank rule: after
    the last answer of an incomplete response, ``not_reached``; any other blank,
    ``skipped``)."""
    n_acc, k = vals.shape
    given = _answered(vals, why, reason_names)
    last = np.where(given.any(axis=1), k - 1 - np.argmax(given[:, ::-1], axis=1), -1)
    blank = ~given
    after = np.arange(k)[None, :] > last[:, None]
    names = list(_REASON_DTYPE.categories)
    to_code = np.array([names.index(r) if r in names else -1 for r in reason_names] + [-1],
                       dtype=np.int8)
    codes = to_code[why]
    codes[blank] = names.index("skipped")
    codes[blank & after & ~completed[:, None]] = names.index("not_reached")
    return pd.Categorical.from_codes(codes.ravel(), dtype=_REASON_DTYPE)


def _by_respondent(table: pd.DataFrame, wave_id: str, collab: pd.Categorical,
                   person: pd.Categorical, position: np.ndarray) -> pd.DataFrame:
    """A table of (``row``, ``question_id``, value) of accepted rows with the row replaced by
    the wave, collaboration and respondent ids (taken from the respondents' categoricals at
    the row's ``position`` among them)."""
    rows = table["row"].to_numpy(dtype=np.int64)
    value = "option_id" if "option_id" in table.columns else "text"
    return pd.DataFrame({
        "wave_id": _repeated(wave_id, len(rows)),
        "collaboration_id": _category_subset(collab, position[rows]),
        "respondent_id": _category_subset(person, position[rows]),
        "question_id": _category(table["question_id"].to_numpy(dtype=object)),
        value: (_category(table[value].to_numpy(dtype=object)) if value == "option_id" else
                pd.array(table[value].to_numpy(dtype=object), dtype="string")),
    })


def _category_subset(values: pd.Categorical, index: np.ndarray) -> pd.Categorical:
    """``_category`` of the values at ``index`` (of a categorical without missing values),
    from its codes."""
    if not len(index):
        return _category(np.array([], dtype=object))
    return values.take(index).remove_unused_categories()
