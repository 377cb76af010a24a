"""Read and validate instrument definitions (YAML) into :mod:`.model` objects.

An instrument lives in one folder::

    instruments/collaboration-indicators/
        framework.yaml          characteristics, groups, indicators, ways of creating value
        v1.yaml, v2.yaml ...    one file per survey version (items, scale, scoring, questions)
        mapping-1.0-2.0.yaml    how items of consecutive versions correspond

Everything in the folder is validated together, and every problem in every file is reported
in one :class:`~collab_stats.errors.InstrumentError`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._checks import ITEM_ID, SAFE_ID, Checker, read_yaml
from ..errors import InstrumentError, Problem
from .model import (
    ANSWER_MISSING_REASONS,
    Band,
    Characteristic,
    Example,
    Framework,
    Group,
    Indicator,
    Instrument,
    InstrumentFamily,
    Item,
    MappingEntry,
    MissingCode,
    Option,
    Question,
    ResponseScale,
    ScaleOption,
    ScoringRules,
    ValueMode,
    VersionMapping,
)

__all__ = ["default_instrument_dir", "load_instrument", "load_instrument_family"]

MIN_ITEMS_PER_CHARACTERISTIC = 3
QUESTION_TYPES = ("single_select", "multi_select", "free_text", "integer")
OPTION_SOURCES = ("framework.value_modes", "programme.partners", "programme.collaborations")
RELATIONS = ("identical", "reworded", "split", "dropped", "added")
REQUIRED_PROFILE = ("collaboration", "partner_organisation", "sector", "role", "months_involved")
REQUIRED_QUESTIONS = ("value_modes", "main_value_mode", "network")
_DERIVED = re.compile(r"^why_important\[(\d+)\]$")
_VERSION_FILE = re.compile(r"^v\d+\.ya?ml$")
_MAPPING_FILE = re.compile(r"^mapping-(.+)-(.+)\.ya?ml$")


def default_instrument_dir(name: str = "collaboration-indicators") -> Path:
    """The folder of a bundled instrument (inside the package when installed as a wheel,
    otherwise the repository's ``instruments/`` folder)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_instruments" / name, here.parent / "instruments" / name):
        if candidate.is_dir():
            return candidate
    raise InstrumentError(name, [Problem("", "no bundled instrument of that name")])


def load_instrument(
    directory: str | Path | None = None, *, version: str | None = None
) -> Instrument:
    """Load and validate one version of an instrument.

    Parameters
    ----------
    directory : path, optional
        The instrument's folder; default: the bundled collaboration indicator survey.
    version : str, optional
        The version to return (e.g. ``"1.0"``); default: the latest.

    Raises
    ------
    InstrumentError
        Listing every problem found in any file of the folder.

    Examples
    --------
    >>> from collab_stats import load_instrument
    >>> instrument = load_instrument(version="1.0")
    >>> len(instrument.framework.characteristics), len(instrument.framework.indicators)
    (8, 26)
    """
    family = load_instrument_family(directory)
    if version is None:
        return family.latest
    try:
        return family.version(version)
    except KeyError as exc:
        raise InstrumentError(str(directory or family.id), [Problem("version", exc.args[0])]) from None


def load_instrument_family(directory: str | Path | None = None) -> InstrumentFamily:
    """Load and validate every version of an instrument and the mappings between them."""
    folder = Path(directory) if directory is not None else default_instrument_dir()
    if not folder.is_dir():
        raise InstrumentError(str(folder), [Problem("", "is not a folder")])
    problems: list[Problem] = []

    def collect(file: str, checker: Checker) -> None:
        problems.extend(Problem(f"{file}: {p.where}" if p.where else file, p.message)
                        for p in checker.problems)

    framework_path = folder / "framework.yaml"
    if not framework_path.is_file():
        raise InstrumentError(str(folder), [Problem("framework.yaml", "file is missing")])
    checker = Checker()
    framework = _parse_framework(read_yaml(framework_path, InstrumentError), checker)
    collect("framework.yaml", checker)

    versions: list[Instrument] = []
    version_files = sorted(
        (p for p in folder.iterdir() if _VERSION_FILE.match(p.name)),
        key=lambda p: int(re.sub(r"\D", "", p.stem)),
    )
    if not version_files:
        problems.append(Problem("", "no version files (v1.yaml, v2.yaml, ...) in the folder"))
    for path in version_files:
        raw = _read_yaml_or_collect(path, collect)
        if raw is _UNREADABLE:
            continue
        checker = Checker()
        instrument = _parse_instrument(raw, framework, checker, str(path))
        collect(path.name, checker)
        if instrument is not None:
            versions.append(instrument)
    checker = Checker()
    checker.unique([v.version for v in versions], "", "instrument version")
    collect(folder.name, checker)

    mappings = _parse_mappings(folder, versions, framework, collect)
    if problems:
        raise InstrumentError(str(folder), problems)
    return InstrumentFamily(
        id=framework.id, framework=framework, versions=tuple(versions), mappings=mappings
    )


_UNREADABLE = object()


def _read_yaml_or_collect(path: Path, collect) -> Any:
    """Read a version or mapping file; if it is unreadable or not valid YAML, record that as
    a problem of the file (so the other files are still checked) and return ``_UNREADABLE``."""
    try:
        return read_yaml(path, InstrumentError)
    except InstrumentError as exc:
        checker = Checker()
        checker.problems.extend(exc.problems)
        collect(path.name, checker)
        return _UNREADABLE


# --- framework ---------------------------------------------------------------------------


def _parse_framework(raw: Any, c: Checker) -> Framework:
    doc = c.mapping(raw, "")
    c.unknown_keys(doc, ("framework", "title", "source", "groups", "characteristics",
                         "value_modes"), "")
    groups = []
    for k, g in enumerate(c.items(doc.get("groups"), "groups")):
        where = f"groups[{k}]"
        g = c.mapping(g, where)
        groups.append(Group(c.identifier(g, "id", where), c.text(g, "name", where),
                            c.text(g, "summary", where, required=False)))
    c.unique([g.id for g in groups], "groups", "group id")
    group_ids = [g.id for g in groups]

    characteristics = []
    for k, ch in enumerate(c.items(doc.get("characteristics"), "characteristics")):
        where = f"characteristics[{k}]"
        ch = c.mapping(ch, where)
        cid = c.identifier(ch, "id", where, ITEM_ID)
        group = c.text(ch, "group", where)
        if group:
            c.one_of(group, group_ids, f"{where}.group", "group")
        indicators = []
        for j, ind in enumerate(c.items(ch.get("indicators"), f"{where}.indicators")):
            iw = f"{where}.indicators[{j}]"
            ind = c.mapping(ind, iw)
            iid = c.text(ind, "id", iw)
            if iid and cid and not iid.startswith(cid + "."):
                c.add(f"{iw}.id", f"indicator ids of characteristic {cid} start with '{cid}.'")
            indicators.append(Indicator(iid, cid, c.text(ind, "seed_text", iw)))
        examples = []
        for j, ex in enumerate(c.items(ch.get("who_does_it_well"), f"{where}.who_does_it_well")):
            ew = f"{where}.who_does_it_well[{j}]"
            ex = c.mapping(ex, ew)
            examples.append(Example(c.text(ex, "name", ew), c.text(ex, "text", ew)))
        why = c.items(ch.get("why_important"), f"{where}.why_important")
        for j, w in enumerate(why):
            if not isinstance(w, str) or not w.strip():
                c.add(f"{where}.why_important[{j}]", "must be a non-blank text")
        characteristics.append(Characteristic(
            id=cid, number=c.field(ch, "number", where, int, default=0), group=group,
            name=c.text(ch, "name", where), definition=c.text(ch, "definition", where),
            why_important=tuple(str(w) for w in why), indicators=tuple(indicators),
            who_does_it_well=tuple(examples),
            alternative_name=c.field(ch, "alternative_name", where, required=False),
            overview_definition=c.field(ch, "overview_definition", where, required=False),
        ))
    c.unique([ch.id for ch in characteristics], "characteristics", "characteristic id")
    c.unique([str(ch.number) for ch in characteristics if ch.number], "characteristics",
             "characteristic number")
    c.unique([i.id for ch in characteristics for i in ch.indicators], "characteristics",
             "indicator id")

    modes = []
    for k, m in enumerate(c.items(doc.get("value_modes"), "value_modes")):
        where = f"value_modes[{k}]"
        m = c.mapping(m, where)
        modes.append(ValueMode(c.identifier(m, "id", where), c.text(m, "name", where),
                               c.text(m, "definition", where),
                               c.text(m, "examples", where, required=False)))
    c.unique([m.id for m in modes], "value_modes", "value mode id")
    return Framework(
        id=c.identifier(doc, "framework", ""), title=c.text(doc, "title", ""),
        source=c.text(doc, "source", "", required=False), groups=tuple(groups),
        characteristics=tuple(sorted(characteristics, key=lambda ch: ch.number)),
        value_modes=tuple(modes),
    )


# --- one instrument version --------------------------------------------------------------


def _parse_instrument(raw: Any, fw: Framework, c: Checker, source: str) -> Instrument | None:
    doc = c.mapping(raw, "")
    if not doc:
        return None
    c.unknown_keys(doc, ("instrument", "version", "framework", "title", "released",
                         "introduction", "response_scale", "scoring", "items", "questions",
                         "respondent_profile"), "")
    instrument_id = c.identifier(doc, "instrument", "")
    if instrument_id and fw.id and instrument_id != fw.id:
        c.add("instrument", f"{instrument_id!r} does not match the framework id {fw.id!r}")
    version = c.field(doc, "version", "", str, default="")
    if version and not re.match(r"^\d+(\.\d+)*$", version):
        c.add("version", f"{version!r} is not a version number like \"1.0\" (quote it in YAML)")
    scale = _parse_scale(c.mapping(doc.get("response_scale"), "response_scale"), c)
    scoring = _parse_scoring(c.mapping(doc.get("scoring"), "scoring"), scale, c)
    items = _parse_items(doc.get("items"), fw, c)
    questions = _parse_questions(doc.get("questions"), "questions", REQUIRED_QUESTIONS, c)
    profile = _parse_questions(doc.get("respondent_profile"), "respondent_profile",
                               REQUIRED_PROFILE, c)
    released = doc.get("released")
    return Instrument(
        id=instrument_id, version=version, title=c.text(doc, "title", ""),
        released=str(released) if released is not None else "",
        introduction=c.text(doc, "introduction", "", required=False),
        framework=fw, scale=scale, scoring=scoring, items=items, questions=questions,
        profile=profile, source=source,
    )


def _parse_scale(doc: Mapping[str, Any], c: Checker) -> ResponseScale:
    where = "response_scale"
    options = []
    for k, o in enumerate(c.items(doc.get("options"), f"{where}.options")):
        o = c.mapping(o, f"{where}.options[{k}]")
        options.append(ScaleOption(c.field(o, "code", f"{where}.options[{k}]", int, default=0),
                                   c.text(o, "label", f"{where}.options[{k}]")))
    codes = [o.code for o in options]
    if len(options) < 2:
        c.add(f"{where}.options", "a scale needs at least two options")
    elif codes != list(range(codes[0], codes[0] + len(codes))):
        c.add(f"{where}.options", f"codes must be consecutive ascending integers, got {codes}")
    c.unique([o.label.casefold() for o in options], f"{where}.options", "option label")
    missing = []
    for k, m in enumerate(c.items(doc.get("missing"), f"{where}.missing", allow_empty=True)):
        mw = f"{where}.missing[{k}]"
        m = c.mapping(m, mw)
        code = c.field(m, "code", mw, int, default=0)
        if code in codes:
            c.add(f"{mw}.code", f"code {code} is also an answer option")
        reason = c.text(m, "reason", mw)
        if reason:
            c.one_of(reason, ANSWER_MISSING_REASONS, f"{mw}.reason", "missing reason")
        missing.append(MissingCode(code, c.text(m, "label", mw), reason))
    c.unique([str(m.code) for m in missing], f"{where}.missing", "missing code")
    favourable = c.items(doc.get("favourable"), f"{where}.favourable")
    for f in favourable:
        if f not in codes:
            c.add(f"{where}.favourable", f"{f!r} is not an answer code (codes: {codes})")
    return ResponseScale(
        id=c.identifier(doc, "id", where), options=tuple(options), missing=tuple(missing),
        favourable=tuple(f for f in favourable if f in codes),
    )


def _parse_scoring(doc: Mapping[str, Any], scale: ResponseScale, c: Checker) -> ScoringRules:
    where = "scoring"
    method = c.text(doc, "method", where)
    if method:
        c.one_of(method, ("mean_of_answered",), f"{where}.method", "scoring method")
    share = c.field(doc, "min_answered_share", where, (int, float), default=0.5)
    if not 0 < share <= 1:
        c.add(f"{where}.min_answered_share", f"must be in (0, 1], got {share}")
    bands = []
    for k, b in enumerate(c.items(doc.get("bands"), f"{where}.bands")):
        bw = f"{where}.bands[{k}]"
        b = c.mapping(b, bw)
        bands.append(Band(c.identifier(b, "id", bw), c.text(b, "label", bw),
                          float(c.field(b, "min", bw, (int, float), default=0))))
    c.unique([b.id for b in bands], f"{where}.bands", "band id")
    mins = [b.min for b in bands]
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        c.add(f"{where}.bands", f"bands must be listed highest first with distinct minimums, got {mins}")
    if scale.options and bands:
        if any(not scale.min <= m <= scale.max for m in mins):
            c.add(f"{where}.bands", f"band minimums must lie on the scale ({scale.min}-{scale.max})")
        elif bands[-1].min > scale.min:
            c.add(f"{where}.bands", f"the last band must start at the scale minimum ({scale.min}) "
                  "so that every score has a band")
    return ScoringRules(method, float(share), tuple(bands))


def _parse_items(raw: Any, fw: Framework, c: Checker) -> tuple[Item, ...]:
    characteristics = {ch.id: ch for ch in fw.characteristics}
    indicator_owner = {i.id: i.characteristic for i in fw.indicators}
    items = []
    for k, it in enumerate(c.items(raw, "items")):
        where = f"items[{k}]"
        it = c.mapping(it, where)
        c.unknown_keys(it, ("id", "characteristic", "indicator", "derived_from", "reverse",
                            "text"), where)
        cid = c.text(it, "characteristic", where)
        if cid and cid not in characteristics:
            c.add(f"{where}.characteristic",
                  f"{cid!r} is not a characteristic (known: {', '.join(characteristics)})")
        indicator = c.field(it, "indicator", where, str, required=False)
        derived = c.field(it, "derived_from", where, str, required=False)
        if (indicator is None) == (derived is None):
            c.add(where, "give exactly one of 'indicator' and 'derived_from'")
        if indicator is not None:
            owner = indicator_owner.get(indicator)
            if owner is None:
                c.add(f"{where}.indicator", f"{indicator!r} is not an indicator of the framework")
            elif cid and owner != cid:
                c.add(f"{where}.indicator",
                      f"indicator {indicator} belongs to {owner}, not to {cid}")
        if derived is not None:
            m = _DERIVED.match(derived)
            n_why = len(characteristics[cid].why_important) if cid in characteristics else 0
            if not m or not 1 <= int(m.group(1)) <= n_why:
                c.add(f"{where}.derived_from",
                      f"{derived!r} must be why_important[k] with k from 1 to {n_why}")
        reverse = c.field(it, "reverse", where, bool, required=False, default=False)
        items.append(Item(id=c.identifier(it, "id", where, ITEM_ID), characteristic=cid,
                          text=c.text(it, "text", where), indicator=indicator,
                          derived_from=derived, reverse=reverse))
    c.unique([i.id for i in items], "items", "item id")
    counts = Counter(i.characteristic for i in items)
    for cid in characteristics:
        if items and counts[cid] < MIN_ITEMS_PER_CHARACTERISTIC:
            c.add("items", f"characteristic {cid} has {counts[cid]} items; at least "
                  f"{MIN_ITEMS_PER_CHARACTERISTIC} are needed for a reliable score")
    covered = {i.indicator for i in items}
    for ind in fw.indicators:
        if items and ind.id not in covered:
            c.add("items", f"indicator {ind.id} ({ind.seed_text!r}) is measured by no item")
    return tuple(items)


def _parse_questions(raw: Any, where: str, required: tuple[str, ...], c: Checker) -> dict[str, Question]:
    doc = c.mapping(raw, where)
    questions: dict[str, Question] = {}
    for qid, q in doc.items():
        qw = f"{where}.{qid}"
        if not isinstance(qid, str) or not SAFE_ID.match(qid):
            c.add(qw, f"{qid!r} is not a valid question id")
        q = c.mapping(q, qw)
        c.unknown_keys(q, ("type", "text", "options", "options_from", "optional", "min", "max",
                           "max_length", "measures"), qw)
        qtype = c.text(q, "type", qw)
        if qtype:
            c.one_of(qtype, QUESTION_TYPES, f"{qw}.type", "question type")
        options = []
        for k, o in enumerate(c.items(q.get("options"), f"{qw}.options", allow_empty=True)):
            o = c.mapping(o, f"{qw}.options[{k}]")
            options.append(Option(c.identifier(o, "id", f"{qw}.options[{k}]"),
                                  c.text(o, "label", f"{qw}.options[{k}]")))
        c.unique([o.id for o in options], f"{qw}.options", "option id")
        options_from = c.field(q, "options_from", qw, str, required=False)
        if options_from is not None:
            c.one_of(options_from, OPTION_SOURCES, f"{qw}.options_from", "option source")
        if qtype in ("single_select", "multi_select") and not options and not options_from:
            c.add(qw, "a select question needs 'options' or 'options_from'")
        lo = c.field(q, "min", qw, int, required=False)
        hi = c.field(q, "max", qw, int, required=False)
        if qtype == "integer" and (lo is None or hi is None or lo > hi):
            c.add(qw, "an integer question needs 'min' <= 'max'")
        questions[str(qid)] = Question(
            id=str(qid), type=qtype, text=c.text(q, "text", qw), options=tuple(options),
            options_from=options_from,
            optional=c.field(q, "optional", qw, bool, required=False, default=False),
            min=lo, max=hi, max_length=c.field(q, "max_length", qw, int, required=False),
            measures=c.field(q, "measures", qw, str, required=False),
        )
    for qid in required:
        if doc and qid not in questions:
            c.add(where, f"question {qid!r} is required")
    return questions


# --- mappings between versions -----------------------------------------------------------


def _parse_mappings(folder: Path, versions: list[Instrument], fw: Framework, collect) -> tuple[VersionMapping, ...]:
    by_version = {v.version: v for v in versions}
    files = {}
    for path in folder.iterdir():
        m = _MAPPING_FILE.match(path.name)
        if m:
            files[(m.group(1), m.group(2))] = path
    mappings = []
    for older, newer in zip(versions, versions[1:], strict=False):
        key = (older.version, newer.version)
        path = files.pop(key, None)
        checker = Checker()
        if path is None:
            checker.add("", f"mapping-{older.version}-{newer.version}.yaml is missing: "
                        "consecutive versions need a mapping")
            collect(folder.name, checker)
            continue
        raw = _read_yaml_or_collect(path, collect)
        if raw is _UNREADABLE:
            continue
        mapping = _parse_mapping(raw, older, newer, fw, checker)
        collect(path.name, checker)
        mappings.append(mapping)
    for (a, b), path in files.items():
        checker = Checker()
        if a not in by_version or b not in by_version:
            checker.add("", f"maps versions {a} -> {b}, but the folder's versions are "
                        f"{', '.join(by_version) or 'none'}")
        else:
            checker.add("", f"maps {a} -> {b}, which are not consecutive versions")
        collect(path.name, checker)
    return tuple(mappings)


def _parse_mapping(raw: Any, older: Instrument, newer: Instrument, fw: Framework, c: Checker) -> VersionMapping:
    doc = c.mapping(raw, "")
    if c.field(doc, "from_version", "", str, default="") != older.version:
        c.add("from_version", f"must be {older.version!r}")
    if c.field(doc, "to_version", "", str, default="") != newer.version:
        c.add("to_version", f"must be {newer.version!r}")
    old_items = {i.id: i for i in older.items}
    new_items = {i.id: i for i in newer.items}
    entries = []
    for k, e in enumerate(c.items(doc.get("items"), "items")):
        where = f"items[{k}]"
        e = c.mapping(e, where)
        c.unknown_keys(e, ("from", "to", "relation", "comparable", "note"), where)
        source = e.get("from")
        target = e.get("to")
        targets = tuple(target) if isinstance(target, list) else (() if target is None else (target,))
        # ids are looked up in dicts below: a list or mapping given as an id must not crash
        if source is not None and not isinstance(source, str):
            source = str(source)
        targets = tuple(t if isinstance(t, str) else str(t) for t in targets)
        relation = c.text(e, "relation", where)
        if relation:
            c.one_of(relation, RELATIONS, f"{where}.relation", "relation")
        comparable = c.field(e, "comparable", where, bool, required=False, default=False)
        if source is not None and source not in old_items:
            c.add(f"{where}.from", f"{source!r} is not an item of version {older.version}")
        for t in targets:
            if t not in new_items:
                c.add(f"{where}.to", f"{t!r} is not an item of version {newer.version}")
        shape_ok = {
            "identical": source is not None and len(targets) == 1,
            "reworded": source is not None and len(targets) == 1,
            "split": source is not None and len(targets) >= 2,
            "dropped": source is not None and not targets,
            "added": source is None and len(targets) == 1,
        }.get(relation, True)
        if not shape_ok:
            c.add(where, f"relation {relation!r} does not fit from={source!r}, to={target!r}")
        if comparable and relation not in ("identical", "reworded"):
            c.add(f"{where}.comparable", f"a {relation!r} item cannot be comparable")
        if shape_ok and relation in ("identical", "reworded") and source in old_items and targets[0] in new_items:
            a, b = old_items[source], new_items[targets[0]]
            if relation == "identical" and a.text != b.text:
                c.add(where, f"marked identical but the wording of {source} changed")
            if relation == "reworded" and a.text == b.text:
                c.add(where, f"marked reworded but {source} has the same wording")
            if comparable and (a.characteristic != b.characteristic or a.reverse != b.reverse):
                c.add(where, f"{source} -> {b.id} changes characteristic or keying, so it "
                      "cannot be comparable")
        entries.append(MappingEntry(source=source, targets=tuple(map(str, targets)),
                                    relation=relation, comparable=bool(comparable),
                                    note=str(e.get("note") or "")))
    seen_old = Counter(e.source for e in entries if e.source is not None)
    seen_new = Counter(t for e in entries for t in e.targets)
    for item_id in old_items:
        if seen_old[item_id] != 1:
            c.add("items", f"version {older.version} item {item_id} must appear exactly once "
                  f"under 'from' (appears {seen_old[item_id]} times)")
    for item_id in new_items:
        if seen_new[item_id] != 1:
            c.add("items", f"version {newer.version} item {item_id} must appear exactly once "
                  f"under 'to' (appears {seen_new[item_id]} times)")
    return VersionMapping(fw.id, older.version, newer.version, tuple(entries))
