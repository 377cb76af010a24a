"""Which export column is which question: a column mapping, saved as YAML, and a proposal.

A :class:`ColumnMapping` says, for each column of an export (named by its platform import id
when it has a unique one - Qualtrics ``QID12_3``, a REDCap field, an SPSS variable - else by
its :attr:`~collab_stats.ingest.raw.RawColumn.key`), what it holds, and how answer labels
become codes. It is written once per survey (by hand, or by editing what
:func:`propose_mapping` suggests) and reused for every wave::

    instrument: collaboration-indicators
    timezone: Europe/London           # for timestamps without a zone (default UTC)
    labels:                           # answer label -> code on the scale, or missing reason
      Strongly disagree: 1
      Strongly agree: 5
      Don't know: dont_know
    synonyms:                         # more labels, same meaning
      Agree strongly: 5
      SA: 5
      Neutral: 3
    columns:
      QID1_1: PS01                    # an item (short form)
      QID1_3: {item: PC03, reverse: true}   # numeric codes run 5 = strongly disagree
      QID20: {profile: collaboration}
      QID21: {profile: partner_organisation, options: {RDUH: royal-devon}}
      QID30_1: {select: value_modes, option: shared_voice}   # one column per option
      QID31: {select: network, delimiter: ";"}               # one column, options listed
      QID40: {text: comment}
      ResponseId: respondent_id
      RecordedDate: {meta: submitted_at, format: "%Y-%m-%d %H:%M:%S"}
      # (or: Timestamp: {meta: submitted_at, date_order: DMY} - see below)
      Status: status
      Finished: finished
      Progress: progress
      Duration (in seconds): duration
      IPAddress: drop

Targets: ``item`` (an item id), ``profile`` (:data:`PROFILE_FIELDS`), ``select`` (a
multi-select question, :data:`SELECT_QUESTIONS`, either one column per option with
``option:`` or one column listing the chosen options), ``text`` (a free-text question,
:data:`TEXT_QUESTIONS`), ``meta`` (:data:`META_TARGETS`) or ``drop``. Columns the mapping does
not name are ignored and listed as unmatched by the conversion.

Times: a ``submitted_at`` column is read in every layout the platforms write (ISO 8601,
``03/04/2024 09:06:31 AM``, ``9/27/2024 11:08``, XLSX date-time cells, REDCap's
``[not completed]`` marker; see :mod:`collab_stats.ingest.times`), or in its ``format``
(``strftime``; ISO 8601 is still read). The order of day and month in slash dates
(``03/04/2024``) is its ``date_order``: ``MDY`` (US), ``DMY`` (UK) or ``YMD``. Google Forms
writes the order of the form owner's locale; :func:`propose_mapping` takes it from the data
(a first field above 12 means ``DMY``, a second above 12 ``MDY``) or, when no date shows it,
writes the platform's default (US) with a YAML comment saying so - check it. Without a
``date_order`` the conversion applies the same rule and notes what it chose.

Label matching ignores case, accents of quotes, punctuation and repeated whitespace
(:func:`normalise_label`). Labels that mean "don't know" or "not applicable" (and the
instrument's negative missing codes) always become missing reasons, never numbers: mapping
such a label to a number is an error. An integer key (``6: not_applicable``) maps a numeric
code instead of a label.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd
import yaml

from .._checks import ITEM_ID, SAFE_ID, Checker, read_yaml
from ..errors import DefinitionError
from ..instrument.model import Instrument, InstrumentFamily
from .raw import RawColumn, RawExport
from .times import DATE_ORDERS, guess_date_order

__all__ = [
    "BUILTIN_MISSING_LABELS",
    "COMMON_SYNONYMS",
    "META_TARGETS",
    "PROFILE_FIELDS",
    "SELECT_QUESTIONS",
    "TEXT_QUESTIONS",
    "ColumnMapping",
    "ColumnRule",
    "MappingError",
    "Proposal",
    "column_ids",
    "dump_mapping",
    "load_mapping",
    "mapping_to_dict",
    "normalise_label",
    "normalise_text",
    "parse_mapping",
    "propose_mapping",
    "text_similarity",
]

PROFILE_FIELDS: tuple[str, ...] = (
    "collaboration", "partner_organisation", "sector", "role", "months_involved",
    "main_value_mode",
)
SELECT_QUESTIONS: tuple[str, ...] = ("value_modes", "network")
TEXT_QUESTIONS: tuple[str, ...] = ("comment",)
META_TARGETS: tuple[str, ...] = (
    "respondent_id", "submitted_at", "status", "finished", "progress", "duration",
)
#: Missing reasons an answer label may map to. ``skipped`` ("Prefer not to say", "-99 seen
#: but not answered") is treated exactly like a blank cell.
LABEL_REASONS: tuple[str, ...] = ("dont_know", "not_applicable", "skipped")
TARGET_KINDS: tuple[str, ...] = ("item", "profile", "select", "text", "meta", "drop")

#: Labels that always mean a missing reason (matched after :func:`normalise_label`); a mapping
#: may not send them to a number.
BUILTIN_MISSING_LABELS: Mapping[str, str] = MappingProxyType({
    "don't know": "dont_know", "dont know": "dont_know", "do not know": "dont_know",
    "DK": "dont_know", "not sure": "dont_know", "unsure": "dont_know",
    "no basis for evaluation": "dont_know", "no basis to judge": "dont_know",
    "unable to judge": "dont_know", "cannot say": "dont_know", "can't say": "dont_know",
    "N/A": "not_applicable", "NA": "not_applicable", "n.a.": "not_applicable",
    "not applicable": "not_applicable", "does not apply": "not_applicable",
})
#: Common alternative wordings of the five agreement labels; :func:`propose_mapping` writes
#: them into a proposal's ``synonyms`` so a user sees (and can edit) them.
COMMON_SYNONYMS: Mapping[str, int] = MappingProxyType({
    "Agree strongly": 5, "SA": 5, "Completely agree": 5, "Totally agree": 5,
    "Tend to agree": 4, "Somewhat agree": 4, "Mostly agree": 4,
    "Neutral": 3, "Neither agree or disagree": 3, "Neither": 3,
    "Tend to disagree": 2, "Somewhat disagree": 2, "Mostly disagree": 2,
    "Disagree strongly": 1, "SD": 1, "Completely disagree": 1, "Totally disagree": 1,
})

_META_KEYWORDS = {*META_TARGETS, "drop"}


class MappingError(DefinitionError):
    """A column mapping is invalid, or does not fit the export, instrument or programme."""

    kind = "column mapping"


# --- text normalisation ------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'",
                         "\u201c": '"', "\u201d": '"'})
_NON_WORD = re.compile(r"[^0-9a-z]+")


@functools.lru_cache(maxsize=2**16)
def normalise_text(text: Any) -> str:
    """Lower case, Unicode NFKC, apostrophes removed, other punctuation and whitespace folded
    to single spaces: ``"Don’t  know!"`` -> ``"dont know"``."""
    text = unicodedata.normalize("NFKC", str(text)).translate(_QUOTES).casefold()
    text = text.replace("'", "")
    return _NON_WORD.sub(" ", text).strip()


normalise_label = normalise_text


def text_similarity(a: str, b: str) -> float:
    """Similarity of two texts in [0, 1]: the mean of difflib's ``SequenceMatcher.ratio`` on
    the normalised texts (``2 M / T``, matching characters; forgiving of small edits) and the
    Jaccard index of their word sets (robust to reordered clauses, strict about different
    words - the ratio alone rates short unrelated questions too high)."""
    a, b = normalise_text(a), normalise_text(b)
    if not a or not b:
        return 0.0
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    wa, wb = set(a.split()), set(b.split())
    return (ratio + len(wa & wb) / len(wa | wb)) / 2


# --- the mapping -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRule:
    """What one export column holds.

    Attributes
    ----------
    kind : str
        ``item``, ``profile``, ``select``, ``text``, ``meta`` or ``drop``.
    target : str
        Item id, profile field, question id or metadata target ("" for ``drop``).
    reverse : bool
        Items only: the column's *numeric codes* run the other way (5 = strongly disagree);
        a code ``x`` on the scale is read as ``max + min - x``. Labels are matched by meaning
        and never reversed.
    option : str
        ``select`` with one column per option: the option id a non-blank cell selects.
    options : mapping
        Profile and ``select`` columns: extra label -> option id (partner or collaboration
        names as written in the export, for instance).
    labels : mapping
        Items only: labels (or integer codes) -> code or missing reason for this column,
        over the mapping's ``labels`` and ``synonyms``.
    delimiter : str
        ``select`` in one column: what separates the chosen options ("" - guess from
        ``;`` then ``,``; known option labels are matched first, so commas inside labels
        are safe).
    format : str
        ``meta: submitted_at``: a ``strftime`` format ("" - every layout the platforms
        write, :mod:`~collab_stats.ingest.times`).
    date_order : str
        ``meta: submitted_at``: ``MDY``, ``DMY`` or ``YMD``, the order of day and month in
        slash dates ("" - from the data, else the platform's default).
    """

    kind: str
    target: str = ""
    reverse: bool = False
    option: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, int | str] = field(default_factory=dict)
    delimiter: str = ""
    format: str = ""
    date_order: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))


@dataclass(frozen=True)
class ColumnMapping:
    """Export column id -> :class:`ColumnRule`, and answer labels -> codes.

    See the module documentation for the YAML form (:func:`load_mapping`,
    :func:`dump_mapping`).
    """

    instrument: str
    columns: Mapping[str, ColumnRule]
    labels: Mapping[str | int, int | str] = field(default_factory=dict)
    synonyms: Mapping[str | int, int | str] = field(default_factory=dict)
    timezone: str = "UTC"
    source: str = ""
    #: Column id -> a remark :func:`dump_mapping` writes as a YAML comment above the column
    #: (why a proposal chose something); not read back, not part of the mapping's meaning.
    comments: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "synonyms", MappingProxyType(dict(self.synonyms)))
        object.__setattr__(self, "comments", MappingProxyType(dict(self.comments)))

    def targets(self, kind: str) -> dict[str, str]:
        """Column id -> target for the columns of one kind."""
        return {c: r.target for c, r in self.columns.items() if r.kind == kind}


def column_ids(raw: RawExport) -> dict[str, RawColumn]:
    """How a mapping names each column of an export: its import id when it has one that is
    unique in the export, else its key."""
    counts: dict[str, int] = {}
    for c in raw.columns:
        if c.import_id:
            counts[c.import_id] = counts.get(c.import_id, 0) + 1
    return {(c.import_id if c.import_id and counts[c.import_id] == 1 else c.key): c
            for c in raw.columns}


def _check_label_value(value: Any, where: str, c: Checker) -> bool:
    if isinstance(value, bool):
        c.add(where, f"expected a code (whole number) or one of {', '.join(LABEL_REASONS)}, "
              f"got {value!r}")
        return False
    if isinstance(value, int) or value in LABEL_REASONS:
        return True
    c.add(where, f"expected a code (whole number) or one of {', '.join(LABEL_REASONS)}, "
          f"got {value!r}")
    return False


def _parse_labels(raw: Any, where: str, c: Checker) -> dict[str | int, int | str]:
    out: dict[str | int, int | str] = {}
    seen: dict[str, str] = {}
    for key, value in c.mapping(raw if raw is not None else {}, where).items():
        path = f"{where}.{key}"
        if isinstance(key, bool) or not isinstance(key, str | int):
            c.add(path, f"a label must be text or a whole-number code (quote {key!r} in YAML)")
            continue
        if not _check_label_value(value, path, c):
            continue
        if isinstance(key, str):
            norm = normalise_label(key)
            if not norm:
                c.add(path, "a label must contain a letter or digit")
                continue
            builtin = {normalise_label(k): v for k, v in BUILTIN_MISSING_LABELS.items()}
            if norm in builtin and isinstance(value, int):
                c.add(path, f"{key!r} means {builtin[norm]}; it cannot be the number {value}")
                continue
            if norm in seen and seen[norm] != key:
                c.add(path, f"{key!r} is the same label as {seen[norm]!r} (labels ignore case, "
                      "punctuation and spacing)")
                continue
            seen[norm] = key
        out[key] = value
    return out


def _parse_rule(column: str, raw: Any, c: Checker) -> ColumnRule | None:
    where = f"columns.{column}"
    if isinstance(raw, str):
        if raw in _META_KEYWORDS:
            return ColumnRule("drop") if raw == "drop" else ColumnRule("meta", raw)
        if ITEM_ID.match(raw):
            return ColumnRule("item", raw)
        c.add(where, f"{raw!r} is neither an item id nor one of {', '.join(sorted(_META_KEYWORDS))}")
        return None
    doc = c.mapping(raw, where)
    if not doc:
        return None
    kinds = [k for k in TARGET_KINDS if k in doc]
    if len(kinds) != 1:
        c.add(where, f"give exactly one of {', '.join(TARGET_KINDS)} (got "
              f"{', '.join(kinds) or 'none'})")
        return None
    kind = kinds[0]
    allowed = {"item": ("reverse", "labels"), "profile": ("options",),
               "select": ("option", "options", "delimiter"), "text": (), "drop": (),
               "meta": ("format", "date_order")}[kind]
    c.unknown_keys(doc, (kind, *allowed), where)
    if kind == "drop":
        return ColumnRule("drop")
    target = c.field(doc, kind, where, str, default="")
    choices = {"profile": PROFILE_FIELDS, "select": SELECT_QUESTIONS, "text": TEXT_QUESTIONS,
               "meta": META_TARGETS}
    if kind == "item" and target and not ITEM_ID.match(target):
        c.add(f"{where}.item", f"{target!r} is not a valid item id")
    elif kind in choices and target:
        c.one_of(target, choices[kind], f"{where}.{kind}", f"{kind} target")
    reverse = c.field(doc, "reverse", where, bool, required=False, default=False)
    option = c.field(doc, "option", where, str, required=False, default="")
    if option and not SAFE_ID.match(option):
        c.add(f"{where}.option", f"{option!r} is not a valid option id")
    options = {}
    for label, oid in c.mapping(doc.get("options") or {}, f"{where}.options").items():
        if not isinstance(oid, str) or not SAFE_ID.match(oid):
            c.add(f"{where}.options.{label}", f"{oid!r} is not a valid option id")
        else:
            options[str(label)] = oid
    if option and options:
        c.add(where, "give either option (one column per option) or options, not both")
    labels = _parse_labels(doc.get("labels"), f"{where}.labels", c) if "labels" in doc else {}
    delimiter = c.field(doc, "delimiter", where, str, required=False, default="")
    fmt = c.field(doc, "format", where, str, required=False, default="")
    if fmt and target != "submitted_at":
        c.add(f"{where}.format", "only a submitted_at column takes a format")
    order = c.field(doc, "date_order", where, str, required=False, default="")
    if order:
        if target != "submitted_at":
            c.add(f"{where}.date_order", "only a submitted_at column takes a date_order")
        elif order not in DATE_ORDERS:
            c.add(f"{where}.date_order", f"must be one of {', '.join(DATE_ORDERS)} (the order "
                  f"of month, day and year in dates like 03/04/2024); got {order!r}")
        elif fmt:
            c.add(f"{where}.date_order", "give either format or date_order, not both (a "
                  "format already fixes the order)")
    return ColumnRule(kind, target, reverse=reverse, option=option, options=options,
                      labels=labels, delimiter=delimiter, format=fmt, date_order=order)


def parse_mapping(raw: Any, *, family: InstrumentFamily | None = None,
                  source: str = "<mapping>") -> ColumnMapping:
    """Validate an already-parsed mapping document (see :func:`load_mapping`)."""
    c = Checker()
    doc = c.mapping(raw, "")
    c.unknown_keys(doc, ("instrument", "timezone", "labels", "synonyms", "columns"), "")
    instrument = c.identifier(doc, "instrument", "")
    if family is not None and instrument and instrument != family.id:
        c.add("instrument", f"{instrument!r} does not match the instrument {family.id!r}")
    timezone = c.field(doc, "timezone", "", str, required=False, default="UTC")
    try:
        pd.Timestamp("2025-01-01").tz_localize(timezone)
    except Exception:  # pytz and zoneinfo raise several types
        c.add("timezone", f"{timezone!r} is not a time zone name (e.g. UTC, Europe/London)")
    labels = _parse_labels(doc.get("labels"), "labels", c)
    synonyms = _parse_labels(doc.get("synonyms"), "synonyms", c)
    clash = {normalise_label(k) for k in labels if isinstance(k, str)} & {
        normalise_label(k) for k in synonyms if isinstance(k, str)}
    for norm in sorted(clash):
        c.add("synonyms", f"label {norm!r} is also under labels")
    columns: dict[str, ColumnRule] = {}
    for key, value in c.mapping(doc.get("columns"), "columns").items():
        if isinstance(key, bool) or not isinstance(key, str | int):
            c.add(f"columns.{key}", "a column id must be text")
            continue
        rule = _parse_rule(str(key), value, c)
        if rule is not None:
            columns[str(key)] = rule
    if not columns and isinstance(doc.get("columns"), Mapping):
        c.add("columns", "must not be empty")
    # One column per item, profile field, free-text question and metadata target; one column
    # per option of a multi-select.
    used: dict[tuple[str, str, str], str] = {}
    for col, rule in columns.items():
        if rule.kind in ("drop",) or (rule.kind == "select" and not rule.option):
            continue
        key = (rule.kind, rule.target, rule.option)
        if key in used:
            what = f"{rule.target} option {rule.option}" if rule.option else rule.target
            c.add(f"columns.{col}", f"{rule.kind} {what} is already the target of column "
                  f"{used[key]!r}")
        else:
            used[key] = col
    if family is not None:
        known_items = {i for v in family.versions for i in v.item_ids}
        modes = {m.id for m in family.framework.value_modes}
        for col, rule in columns.items():
            if rule.kind == "item" and rule.target and rule.target not in known_items:
                c.add(f"columns.{col}.item", f"{rule.target!r} is not an item of {family.id}")
            if rule.kind == "select" and rule.target == "value_modes":
                for oid in [rule.option, *rule.options.values()]:
                    if oid and oid not in modes:
                        c.add(f"columns.{col}", f"{oid!r} is not a way of creating value "
                              f"(allowed: {', '.join(sorted(modes))})")
    if c.problems:
        raise MappingError(source, c.problems)
    return ColumnMapping(instrument=instrument, columns=columns, labels=labels,
                         synonyms=synonyms, timezone=timezone, source=source)


def load_mapping(path: str | Path, *, family: InstrumentFamily | None = None) -> ColumnMapping:
    """Read and validate a column mapping from YAML.

    Parameters
    ----------
    path : path
        The mapping file.
    family : InstrumentFamily, optional
        When given, item ids and ways of creating value are checked against it.

    Raises
    ------
    MappingError
        Listing every problem found.
    """
    return parse_mapping(read_yaml(path, MappingError), family=family, source=str(path))


def _rule_to_yaml(rule: ColumnRule) -> Any:
    if rule.kind == "drop":
        return "drop"
    if rule.kind == "meta" and not rule.format and not rule.date_order:
        return rule.target
    out: dict[str, Any] = {rule.kind: rule.target}
    if rule.reverse:
        out["reverse"] = True
    if rule.option:
        out["option"] = rule.option
    if rule.options:
        out["options"] = dict(rule.options)
    if rule.labels:
        out["labels"] = dict(rule.labels)
    if rule.delimiter:
        out["delimiter"] = rule.delimiter
    if rule.format:
        out["format"] = rule.format
    if rule.date_order:
        out["date_order"] = rule.date_order
    return out


def mapping_to_dict(mapping: ColumnMapping) -> dict[str, Any]:
    """The mapping as a plain document that :func:`parse_mapping` reads back."""
    return {
        "instrument": mapping.instrument,
        "timezone": mapping.timezone,
        "labels": dict(mapping.labels),
        "synonyms": dict(mapping.synonyms),
        "columns": {col: _rule_to_yaml(rule) for col, rule in mapping.columns.items()},
    }


def dump_mapping(mapping: ColumnMapping) -> str:
    """The mapping as YAML text (see :func:`mapping_to_dict`), with its
    :attr:`~ColumnMapping.comments` as comment lines above their columns."""
    text = yaml.safe_dump(mapping_to_dict(mapping), sort_keys=False, allow_unicode=True,
                          width=100)
    if not mapping.comments:
        return text
    lines = text.splitlines()
    start = lines.index("columns:") + 1 if "columns:" in lines else len(lines)
    for column, comment in mapping.comments.items():
        # The column's key as YAML writes it (quoted when it needs to be).
        key = yaml.safe_dump({column: 0}, allow_unicode=True, width=10**6).rstrip()
        key = key[:-len(": 0")] if key.endswith(": 0") else None
        at = next((k for k in range(start, len(lines)) if key is not None and (
            lines[k] == f"  {key}:" or lines[k].startswith(f"  {key}: "))), None)
        if at is not None:
            note = [f"  # {part}" for part in comment.splitlines() if part.strip()]
            lines[at:at] = note
    return "\n".join(lines) + "\n"


# --- proposing a mapping -----------------------------------------------------------------------

#: Below this similarity a column is left unmatched; between it and ``HIGH`` it is matched
#: but flagged "check".
MATCH_THRESHOLD = 0.6
HIGH_CONFIDENCE = 0.85

_PROFILE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("months_involved", ("months", "how long")),
    ("main_value_mode", ("main way", "main value")),
    ("partner_organisation", ("organisation", "organization", "employer", "partner")),
    ("sector", ("sector",)),
    ("role", ("role",)),
    ("collaboration", ("collaboration", "partnership", "alliance", "network")),
)
_COMMENT_KEYWORDS = ("anything else", "comment", "tell us more")
_META_HEADERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("status", ("status", "response type")),
    ("finished", ("finished", "complete")),
    ("progress", ("progress",)),
    ("duration", ("duration", "time taken")),
    ("submitted_at", ("recordeddate", "recorded date", "enddate", "end date", "timestamp",
                      "completion time", "submitted", "date modified")),
)


@dataclass(frozen=True)
class Proposal:
    """A suggested mapping for one export.

    Attributes
    ----------
    mapping : ColumnMapping
        Every column the proposal could place (save it with :func:`dump_mapping`, edit,
        load with :func:`load_mapping`).
    table : DataFrame
        One row per export column: ``column`` (id as the mapping names it), ``header``,
        ``target`` (``"item:PS01"``, ``"profile:sector"``, ``"meta:status"``, ``"drop"`` or
        ``"unmatched"``), ``confidence`` (0-1; 1 for platform roles and exact ids) and
        ``reason``.
    unmatched : tuple of str
        Columns left out of the mapping: decide what they hold.
    version : str
        The instrument version whose item texts matched best.
    notes : tuple of str
        What the proposal decided without certainty and a person should check (the day/month
        order of slash dates when no date shows it).
    """

    mapping: ColumnMapping
    table: pd.DataFrame
    unmatched: tuple[str, ...]
    version: str
    notes: tuple[str, ...] = ()


def _column_texts(col: RawColumn) -> list[str]:
    texts = [t for t in (col.sub_label, col.question, col.header) if t and t.strip()]
    if col.sub_label and col.question:
        texts.append(f"{col.question} {col.sub_label}")
    return texts


def _best(texts: list[str], candidates: Mapping[str, str]) -> tuple[str, float]:
    best, score = "", 0.0
    for key, text in candidates.items():
        s = max((text_similarity(t, text) for t in texts), default=0.0)
        if s > score:
            best, score = key, s
    return best, score


def _item_scores(cols: dict[str, RawColumn], version: Instrument) -> dict[str, tuple[str, float]]:
    """Greedy one-to-one assignment of columns to items by descending similarity."""
    items = {i.id: i.text for i in version.items}
    pairs = []
    for cid, col in cols.items():
        texts = _column_texts(col)
        for iid, text in items.items():
            if normalise_text(col.import_id) == normalise_text(iid) or normalise_text(
                    col.header) == normalise_text(iid):
                pairs.append((1.0, cid, iid))
            else:
                pairs.append((max((text_similarity(t, text) for t in texts), default=0.0),
                              cid, iid))
    pairs.sort(key=lambda p: -p[0])
    out: dict[str, tuple[str, float]] = {}
    taken: set[str] = set()
    for score, cid, iid in pairs:
        if score < MATCH_THRESHOLD:
            break
        if cid in out or iid in taken:
            continue
        out[cid] = (iid, score)
        taken.add(iid)
    return out


def _option_id(label: str, options: Mapping[str, str]) -> str:
    """Option id whose label (or id) matches ``label`` after normalisation ("" if none)."""
    norm = normalise_text(label)
    for text, oid in options.items():
        if normalise_text(text) == norm:
            return oid
    return ""


def propose_mapping(raw: RawExport, family: InstrumentFamily, programme=None, *,
                    version: str | None = None) -> Proposal:
    """Suggest a :class:`ColumnMapping` for an export.

    Answer columns are matched to item texts by :func:`text_similarity` (the mean of
    difflib's ``SequenceMatcher`` ratio and the word-set Jaccard index, on lower-cased text
    with punctuation and whitespace folded), comparing the column's sub-label (matrix
    statement), question text and header, and assigning greedily one column per item from the
    most similar pair down; a column whose import id or header *is* an item id gets
    confidence 1. Pairs below 0.6 are not matched; below 0.85 the reason says "check".
    Columns that match no item are compared with the instrument's profile and other questions,
    then with keywords (organisation, sector, role, months, collaboration; "anything else" or
    "comment" for the free-text question). Platform metadata
    is placed by its header (status, finished, progress, duration, recorded date); personal
    columns (names, e-mail, IP address, location) are always ``drop``.

    Parameters
    ----------
    version : str, optional
        The instrument version to match; default: the version whose items match best.
    """
    cols = column_ids(raw)
    versions = [family.version(version)] if version is not None else list(family.versions)
    answer_cols = {cid: c for cid, c in cols.items() if c.role == "answer"}
    scored = [(v, _item_scores(answer_cols, v)) for v in versions]
    chosen, item_match = max(scored, key=lambda p: (sum(s for _, s in p[1].values()),
                                                    len(p[1])))
    # Other questions: profile + questions of the version.
    questions = {**{f"profile:{k}": q.text for k, q in chosen.profile.items()},
                 **{f"question:{k}": q.text for k, q in chosen.questions.items()}}
    modes = {**{m.name: m.id for m in family.framework.value_modes},
             **{m.id: m.id for m in family.framework.value_modes}}
    partners: dict[str, str] = {}
    if programme is not None:
        for collab in programme.collaborations:
            for p in collab.partners:
                partners[p.name], partners[p.id] = p.id, p.id

    rows: list[dict[str, Any]] = []
    rules: dict[str, ColumnRule] = {}
    have_id = False

    def add(cid: str, col: RawColumn, rule: ColumnRule | None, target: str, conf: float,
            reason: str) -> None:
        if rule is not None:
            rules[cid] = rule
        rows.append({"column": cid, "header": col.header, "target": target,
                     "confidence": conf, "reason": reason})

    for cid, col in cols.items():
        if col.role == "personal":
            add(cid, col, ColumnRule("drop"), "drop", 1.0, "personal data: never copied")
            continue
        if col.role == "respondent_id":
            if not have_id:
                have_id = True
                add(cid, col, ColumnRule("meta", "respondent_id"), "meta:respondent_id", 1.0,
                    "the platform's respondent id")
            else:
                add(cid, col, ColumnRule("drop"), "drop", 1.0, "a second respondent id")
            continue
        if col.role == "metadata":
            header = normalise_text(f"{col.header} {col.import_id}")
            target = next((t for t, words in _META_HEADERS
                           if any(w in header for w in words)), "")
            if target and ("meta", target) not in {(r.kind, r.target) for r in rules.values()}:
                add(cid, col, ColumnRule("meta", target), f"meta:{target}", 0.9,
                    f"metadata header {col.header!r}")
            else:
                add(cid, col, ColumnRule("drop"), "drop", 0.9, "platform metadata not used")
            continue
        if cid in item_match:
            iid, score = item_match[cid]
            reason = "same text" if score >= 0.999 else (
                "similar text" if score >= HIGH_CONFIDENCE else "similar text - check")
            add(cid, col, ColumnRule("item", iid), f"item:{iid}", score, reason)
            continue
        texts = _column_texts(col)
        key, score = _best([col.question or col.header], questions)
        if score >= MATCH_THRESHOLD:
            kind, target = key.split(":")
            q = chosen.profile.get(target) if kind == "profile" else chosen.questions.get(target)
            if kind == "profile":
                add(cid, col, ColumnRule("profile", target), key, score, "profile question text")
                continue
            if q is not None and q.type == "free_text":
                add(cid, col, ColumnRule("text", target), f"text:{target}", score,
                    "free-text question")
                continue
            if q is not None and q.type == "multi_select" and target in SELECT_QUESTIONS:
                options = modes if target == "value_modes" else partners
                if col.sub_label or col.choice_id:
                    oid = _option_id(col.sub_label, options) or _option_id(col.choice_id, options)
                    if oid:
                        add(cid, col, ColumnRule("select", target, option=oid),
                            f"select:{target}:{oid}", score, "one option of a multi-select")
                    else:
                        add(cid, col, None, "unmatched", score,
                            f"an option of {target} whose label matches no option")
                else:
                    add(cid, col, ColumnRule("select", target), f"select:{target}", score,
                        "multi-select answers listed in one column")
                continue
            if q is not None and target == "main_value_mode":
                add(cid, col, ColumnRule("profile", target), f"profile:{target}", score,
                    "question text")
                continue
        words = normalise_text(" ".join(texts))
        if any(w in words for w in _COMMENT_KEYWORDS) and "comment" not in {
                r.target for r in rules.values() if r.kind == "text"}:
            add(cid, col, ColumnRule("text", "comment"), "text:comment", 0.5,
                "keyword in the question - check")
            continue
        used = {r.target for r in rules.values() if r.kind == "profile"}
        target = next((t for t, kws in _PROFILE_KEYWORDS
                       if t not in used and any(k in words for k in kws)), "")
        if target:
            add(cid, col, ColumnRule("profile", target), f"profile:{target}", 0.5,
                "keyword in the question - check")
            continue
        add(cid, col, None, "unmatched", round(max(score, 0.0), 6),
            "matches no item or question")

    comments, notes = _propose_date_order(raw, cols, rules, rows)
    labels: dict[str | int, int | str] = {o.label: o.code for o in chosen.scale.options}
    labels.update({m.label: m.reason for m in chosen.scale.missing})
    known = {normalise_label(k) for k in labels if isinstance(k, str)}
    synonyms = {k: v for k, v in COMMON_SYNONYMS.items() if normalise_label(k) not in known}
    mapping = ColumnMapping(instrument=family.id, columns=rules, labels=labels,
                            synonyms=synonyms, source=f"proposal for {raw.source}",
                            comments=comments)
    table = pd.DataFrame(rows, columns=["column", "header", "target", "confidence", "reason"])
    unmatched = tuple(table.loc[table["target"] == "unmatched", "column"])
    return Proposal(mapping=mapping, table=table, unmatched=unmatched, version=chosen.version,
                    notes=notes)


def _propose_date_order(raw: RawExport, cols: dict[str, RawColumn],
                        rules: dict[str, ColumnRule], rows: list[dict[str, Any]]
                        ) -> tuple[dict[str, str], tuple[str, ...]]:
    """Set ``date_order`` on the proposed submitted_at column when its times are slash dates
    (:func:`~collab_stats.ingest.times.guess_date_order`); comments and notes saying why."""
    cid = next((c for c, r in rules.items() if (r.kind, r.target) == ("meta", "submitted_at")),
               None)
    if cid is None:
        return {}, ()
    guess = guess_date_order(raw.frame[cols[cid].key], raw.format)
    if not guess.n_slash_dates:
        return {}, ()
    if guess.order is None:
        comment = (f"date_order not set: {guess.reason} (MDY for 03/31/2024, DMY for "
                   "31/03/2024)")
    else:
        rules[cid] = replace(rules[cid], date_order=guess.order)
        comment = (f"date_order {guess.order}: {guess.reason}" + (
            " - check it (DMY if the form's owner uses a UK locale)" if guess.is_default
            else ""))
    for row in rows:
        if row["column"] == cid:
            row["reason"] = f"{row['reason']}; {comment}"
    note = f"{cid}: {comment}"
    return {cid: comment}, ((note,) if guess.is_default or guess.order is None else ())
