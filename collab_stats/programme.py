"""The programme model: collaborations, their partner organisations, and survey waves.

A programme is defined in one YAML file::

    programme:
      id: better-together
      name: Better Together programme
      instrument: collaboration-indicators
      disclosure_threshold: 10
      comparator: programme           # or peer_group: who reports compare a collaboration with
    peer_groups:
      - {id: place-based, name: Place-based partnerships}
    collaborations:
      - id: north-devon
        name: North Devon Care Alliance
        type: place_based_partnership
        region: South West
        peer_group: place-based
        value_modes: [shared_delivery, aligned_plans]
        main_value_mode: shared_delivery
        invited: {2025-q1: 40}          # optional, per wave: for response rates
        partners:
          - {id: ndht, name: Northern Devon Healthcare NHS Trust, sector: nhs_acute}
    waves:
      - {id: 2025-q1, label: Wave 1 (spring 2025), opens: 2025-03-01, closes: 2025-03-31,
         instrument_version: "1.0"}
      - id: 2025-q2
        label: Wave 2 (summer 2025)
        opens: 2025-06-01
        closes: 2025-06-30
        instrument_version: "1.0"
        sources:                        # optional: where the wave's responses come from
          - type: qualtrics             # fetched by `collab fetch` / the wave run
            base_url: https://fra1.qualtrics.com
            survey_id: SV_0AbCdEfGhIjKlMn
            token: {secret: qualtrics-api-token}   # a Prefect Secret block, or {env: NAME}
            mapping: mappings/qualtrics.mapping.yaml

A wave's ``sources`` (default: ``[{type: inbox}]``, exports dropped in the inbox by hand) are
described under :class:`Source`; credentials are never written in the file, only the name of
the environment variable or Prefect Secret block holding them.

Every identifier must be safe in file names and URLs (lower case letters, digits, ``-``,
``_``, ``.``): reports and stores use them in paths. :func:`load_programme` validates the whole
file (and, given the instrument family, the sectors, ways of creating value and instrument
versions it names) and reports every problem at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._checks import SAFE_ID, Checker, read_yaml
from .errors import ProgrammeError
from .instrument.model import InstrumentFamily

__all__ = [
    "COLLABORATION_TYPES",
    "COMPARATORS",
    "Collaboration",
    "Credential",
    "PartnerOrganisation",
    "PeerGroup",
    "Programme",
    "SOURCE_TYPES",
    "Source",
    "Wave",
    "dump_programme",
    "load_programme",
    "parse_programme",
    "programme_to_dict",
]

#: The comparators a programme file may name (``programme.comparator``), and the peer set
#: of :mod:`collab_stats.peers` each means.
COMPARATORS: dict[str, str] = {"programme": "all", "peer_group": "peer_group"}
COMPARATOR_NAMES: dict[str, str] = {v: k for k, v in COMPARATORS.items()}

#: Kinds of collaboration the programme model knows.
COLLABORATION_TYPES: tuple[str, ...] = (
    "place_based_partnership",
    "provider_collaborative",
    "primary_care_network",
    "care_alliance",
    "improvement_network",
    "voluntary_sector_alliance",
)


@dataclass(frozen=True)
class PartnerOrganisation:
    id: str
    name: str
    sector: str


@dataclass(frozen=True)
class PeerGroup:
    id: str
    name: str


@dataclass(frozen=True)
class Collaboration:
    """A collaboration in the programme and the partner organisations it lists.

    ``invited`` maps a wave id to the number of partners' staff invited to that wave's
    survey, when known (for response rates).
    """

    id: str
    name: str
    type: str
    region: str
    peer_group: str
    value_modes: tuple[str, ...]
    main_value_mode: str | None
    partners: tuple[PartnerOrganisation, ...]
    invited: Mapping[str, int] = field(default_factory=dict)

    def partner(self, partner_id: str) -> PartnerOrganisation:
        for p in self.partners:
            if p.id == partner_id:
                return p
        raise KeyError(f"{partner_id!r} is not a partner of collaboration {self.id!r}")


#: Where a wave's responses can come from: the inbox (exports dropped by hand), or fetched
#: from a survey platform's API (:mod:`pipelines.fetch`).
SOURCE_TYPES: tuple[str, ...] = ("inbox", "redcap", "qualtrics", "surveymonkey")

#: Per source type: the settings it requires and those it may have (besides ``type``,
#: ``name``, ``token``, ``mapping`` and ``collaboration``, which every fetched source may have).
_SOURCE_SETTINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "inbox": ((), ()),
    "redcap": (("url",), ("report_id", "fields")),
    "qualtrics": (("base_url", "survey_id"), ()),
    "surveymonkey": (("survey_id",), ("base_url",)),
}
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Credential:
    """Where a source's API token is kept: an environment variable (``{env: NAME}``) or a
    Prefect Secret block (``{secret: block-name}``). Never the token itself."""

    env: str | None = None
    secret: str | None = None

    def describe(self) -> str:
        """Where the token is kept, in words (for messages; never the token)."""
        if self.env is not None:
            return f"the environment variable {self.env}"
        return f"the Prefect Secret block {self.secret!r}"

    def to_dict(self) -> dict[str, str]:
        return {"env": self.env} if self.env is not None else {"secret": str(self.secret)}


@dataclass(frozen=True)
class Source:
    """Where (part of) a wave's responses come from.

    ``type`` is one of :data:`SOURCE_TYPES`:

    ``inbox``
        Exports dropped in the workspace's inbox by hand (the default).
    ``redcap``
        ``url``: the project's API address (``https://redcap.example.ac.uk/api/``); optional
        ``report_id`` (export that report) or ``fields`` (export only those fields); the
        project's data dictionary is fetched with the records.
    ``qualtrics``
        ``base_url``: the data centre (``https://fra1.qualtrics.com``); ``survey_id``
        (``SV_...``); the responses are exported by Qualtrics' export-responses job.
    ``surveymonkey``
        ``survey_id``; ``base_url`` (default ``https://api.surveymonkey.com``; EU accounts use
        ``https://api.eu.surveymonkey.com``); the bulk responses are read page by page.

    Every fetched source needs ``token`` (a :class:`Credential`: ``{env: NAME}`` or
    ``{secret: block-name}``) and may have ``mapping`` (the column mapping to use, a path
    relative to the programme file), ``collaboration`` (every response of this source belongs
    to that collaboration: one survey per collaboration, without a collaboration question) and
    ``name`` (unique in the wave; names the fetched file; default from the type, the
    collaboration and the survey or report id).
    """

    type: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    token: Credential | None = None
    mapping: str | None = None
    collaboration: str | None = None

    @property
    def fetched(self) -> bool:
        """True for a source fetched from an API (not the inbox)."""
        return self.type != "inbox"

    def describe(self) -> str:
        """The source in a few words, e.g. ``"qualtrics-sv_1 (Qualtrics survey SV_1)"``."""
        what = {"redcap": "REDCap project", "qualtrics": "Qualtrics survey",
                "surveymonkey": "SurveyMonkey survey", "inbox": "inbox"}[self.type]
        ident = self.settings.get("survey_id") or self.settings.get("url") or ""
        if self.type == "redcap" and self.settings.get("report_id") is not None:
            ident = f"{ident}, report {self.settings['report_id']}"
        return f"{self.name} ({what}{' ' + str(ident) if ident else ''})"


_DEFAULT_SOURCES = (Source(type="inbox", name="inbox"),)


@dataclass(frozen=True)
class Wave:
    """A survey wave: when it ran, which instrument version it used, and where its
    responses come from (``sources``; default: the inbox)."""

    id: str
    label: str
    opens: dt.date
    closes: dt.date
    instrument_version: str
    sources: tuple[Source, ...] = _DEFAULT_SOURCES

    @property
    def fetched_sources(self) -> tuple[Source, ...]:
        """The sources fetched from an API (not the inbox)."""
        return tuple(s for s in self.sources if s.fetched)


@dataclass(frozen=True)
class Programme:
    """A programme of collaborations surveyed in repeated waves."""

    id: str
    name: str
    instrument: str
    disclosure_threshold: int
    peer_groups: tuple[PeerGroup, ...]
    collaborations: tuple[Collaboration, ...]
    waves: tuple[Wave, ...]
    #: Who the reports compare a collaboration with: ``"all"`` (the programme's
    #: collaborations, ``comparator: programme`` in the file) or ``"peer_group"``.
    comparator: str = "all"

    @property
    def wave_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.waves)

    @property
    def collaboration_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.collaborations)

    def collaboration(self, collaboration_id: str) -> Collaboration:
        for c in self.collaborations:
            if c.id == collaboration_id:
                return c
        raise KeyError(f"{collaboration_id!r} is not a collaboration of programme {self.id!r}")

    def wave(self, wave_id: str) -> Wave:
        for w in self.waves:
            if w.id == wave_id:
                return w
        raise KeyError(f"{wave_id!r} is not a wave of programme {self.id!r}")


def load_programme(path: str | Path, *, instrument: InstrumentFamily | None = None) -> Programme:
    """Read and validate a programme definition.

    Parameters
    ----------
    path : path
        The programme YAML file.
    instrument : InstrumentFamily, optional
        When given, sectors, ways of creating value and each wave's instrument version are
        checked against it.

    Raises
    ------
    ProgrammeError
        Listing every problem found.
    """
    raw = read_yaml(path, ProgrammeError)
    return parse_programme(raw, instrument=instrument, source=str(path))


def parse_programme(
    raw: Any, *, instrument: InstrumentFamily | None = None, source: str = "<programme>"
) -> Programme:
    """Validate an already-parsed programme document (see :func:`load_programme`)."""
    c = Checker()
    doc = c.mapping(raw, "")
    c.unknown_keys(doc, ("programme", "peer_groups", "collaborations", "waves"), "")
    head = c.mapping(doc.get("programme"), "programme")
    programme_id = c.identifier(head, "id", "programme")
    name = c.text(head, "name", "programme")
    threshold = c.field(head, "disclosure_threshold", "programme", int, required=False, default=10)
    if threshold < 1:
        c.add("programme.disclosure_threshold", f"must be at least 1, got {threshold}")
    comparator_text = c.field(head, "comparator", "programme", str, required=False,
                              default="programme")
    comparator = COMPARATORS.get(str(comparator_text).replace("-", "_"))
    if comparator is None:
        c.add("programme.comparator", f"must be one of {', '.join(COMPARATORS)}, got "
              f"{comparator_text!r}")
    instrument_id = c.identifier(head, "instrument", "programme")
    if instrument is not None and instrument_id and instrument_id != instrument.id:
        c.add("programme.instrument", f"{instrument_id!r} does not match the instrument "
              f"{instrument.id!r}")

    peer_groups = []
    for k, g in enumerate(c.items(doc.get("peer_groups"), "peer_groups", allow_empty=True)):
        g = c.mapping(g, f"peer_groups[{k}]")
        peer_groups.append(PeerGroup(c.identifier(g, "id", f"peer_groups[{k}]"),
                                     c.text(g, "name", f"peer_groups[{k}]")))
    c.unique([g.id for g in peer_groups], "peer_groups", "peer group id")

    raw_collaborations = doc.get("collaborations")
    collaboration_ids = ({str(col.get("id")) for col in raw_collaborations
                          if isinstance(col, Mapping)}
                         if isinstance(raw_collaborations, list) else set())
    waves = _parse_waves(doc.get("waves"), instrument, c, collaboration_ids)
    wave_ids = [w.id for w in waves]
    sectors = instrument.latest.sectors if instrument is not None else None
    modes = [m.id for m in instrument.framework.value_modes] if instrument is not None else None
    collaborations = [
        _parse_collaboration(col, f"collaborations[{k}]", peer_groups, wave_ids, sectors, modes, c)
        for k, col in enumerate(c.items(doc.get("collaborations"), "collaborations"))
    ]
    c.unique([col.id for col in collaborations], "collaborations", "collaboration id")
    c.unique([p.id for col in collaborations for p in col.partners], "collaborations",
             "partner organisation id (partner ids must be unique in the whole programme):")
    if c.problems:
        raise ProgrammeError(source, c.problems)
    return Programme(
        id=programme_id, name=name,
        instrument=instrument_id, disclosure_threshold=threshold,
        peer_groups=tuple(peer_groups), collaborations=tuple(collaborations), waves=tuple(waves),
        comparator=comparator or "all",
    )


def _parse_waves(raw: Any, instrument: InstrumentFamily | None, c: Checker,
                 collaboration_ids: set[str]) -> list[Wave]:
    waves = []
    for k, w in enumerate(c.items(raw, "waves")):
        where = f"waves[{k}]"
        w = c.mapping(w, where)
        c.unknown_keys(w, ("id", "label", "opens", "closes", "instrument_version", "sources"),
                       where)
        opens = c.field(w, "opens", where, dt.date, default=dt.date.min)
        closes = c.field(w, "closes", where, dt.date, default=dt.date.min)
        # YAML reads "2025-03-01 09:00" as a datetime, which cannot be compared with a date
        if isinstance(opens, dt.datetime):
            c.add(f"{where}.opens", f"expected a date (YYYY-MM-DD), got a date and time {opens}")
            opens = opens.date()
        if isinstance(closes, dt.datetime):
            c.add(f"{where}.closes", f"expected a date (YYYY-MM-DD), got a date and time {closes}")
            closes = closes.date()
        if opens > closes:
            c.add(where, f"opens ({opens}) is after closes ({closes})")
        version = c.field(w, "instrument_version", where, str, default="")
        if instrument is not None and version and version not in instrument.version_ids:
            c.add(f"{where}.instrument_version", f"{version!r} is not a version of "
                  f"{instrument.id} (versions: {', '.join(instrument.version_ids)})")
        wave_id = c.identifier(w, "id", where)
        sources = (_parse_sources(w.get("sources"), f"{where}.sources", wave_id,
                                  collaboration_ids, c)
                   if "sources" in w else _DEFAULT_SOURCES)
        waves.append(Wave(wave_id, c.text(w, "label", where), opens, closes, version, sources))
    c.unique([w.id for w in waves], "waves", "wave id")
    for k, (a, b) in enumerate(zip(waves, waves[1:], strict=False)):
        if a.opens != dt.date.min and b.opens != dt.date.min and b.opens < a.opens:
            c.add(f"waves[{k + 1}]", "waves must be listed in the order they ran")
    if instrument is not None:
        order = {v: i for i, v in enumerate(instrument.version_ids)}
        used = [order[w.instrument_version] for w in waves if w.instrument_version in order]
        if used != sorted(used):
            c.add("waves", "a later wave uses an older instrument version than an earlier one")
    return waves


def _parse_sources(raw: Any, where: str, wave_id: str, collaboration_ids: set[str],
                   c: Checker) -> tuple[Source, ...]:
    """A wave's ``sources`` list (see :class:`Source`); problems name the wave and source."""
    sources = []
    for j, item in enumerate(c.items(raw, where)):
        at = f"{where}[{j}]"
        label = f"wave {wave_id}, source {j + 1}"
        doc = c.mapping(item, at)
        kind = doc.get("type")
        if kind not in SOURCE_TYPES:
            what = "no type given" if kind is None else f"unknown source type {kind!r}"
            c.add(f"{at}.type", f"{label}: {what} (allowed: {', '.join(SOURCE_TYPES)})")
            continue
        required, optional = _SOURCE_SETTINGS[kind]
        common = () if kind == "inbox" else ("token", "mapping", "collaboration")
        known = ("type", "name", *common, *required, *optional)
        for key in doc:
            if key not in known:
                c.add(f"{at}.{key}", f"{label}: unknown key for a {kind} source (allowed: "
                      f"{', '.join(sorted(known))})")
        settings: dict[str, Any] = {}
        for key in required:
            value = doc.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                c.add(f"{at}.{key}", f"{label}: {key} is required for a {kind} source")
            elif not isinstance(value, (str, int)) or isinstance(value, bool):
                c.add(f"{at}.{key}", f"{label}: expected text, got {value!r}")
            else:
                settings[key] = str(value).strip()
        for key in ("url", "base_url"):
            if key in doc and doc[key] is not None and not _URL.match(str(doc[key]).strip()):
                c.add(f"{at}.{key}", f"{label}: {doc[key]!r} is not an http(s) address")
            elif key in optional and doc.get(key) is not None:
                settings[key] = str(doc[key]).strip()
        if "report_id" in doc and doc["report_id"] is not None:
            rid = doc["report_id"]
            if isinstance(rid, bool) or not (isinstance(rid, int) or str(rid).isdigit()):
                c.add(f"{at}.report_id", f"{label}: expected a report number, got {rid!r}")
            else:
                settings["report_id"] = int(rid)
        if "fields" in doc and doc["fields"] is not None:
            fields = doc["fields"]
            if (not isinstance(fields, list) or not fields
                    or not all(isinstance(f, str) and f.strip() for f in fields)):
                c.add(f"{at}.fields", f"{label}: expected a list of field names")
            else:
                settings["fields"] = tuple(f.strip() for f in fields)
        if "report_id" in settings and "fields" in settings:
            c.add(at, f"{label}: give report_id or fields, not both")
        token = None
        if kind != "inbox":
            token = _parse_credential(doc.get("token"), f"{at}.token", label, c)
        mapping = doc.get("mapping")
        if mapping is not None and (not isinstance(mapping, str) or not mapping.strip()):
            c.add(f"{at}.mapping", f"{label}: expected a path to a mapping file")
            mapping = None
        collaboration = doc.get("collaboration")
        if collaboration is not None and (not isinstance(collaboration, str)
                                          or not SAFE_ID.match(collaboration)):
            c.add(f"{at}.collaboration", f"{label}: {collaboration!r} is not a collaboration id")
            collaboration = None
        elif collaboration is not None and collaboration not in collaboration_ids:
            c.add(f"{at}.collaboration", f"{label}: {collaboration!r} is not a collaboration "
                  "of the programme")
        name = doc.get("name")
        if name is None:
            ident = settings.get("survey_id") or (f"report-{settings['report_id']}"
                                                   if "report_id" in settings else "")
            parts = [kind, collaboration or "", str(ident)]
            name = re.sub(r"[^a-z0-9_.-]+", "-", "-".join(p for p in parts if p).lower())[:64]
        elif not isinstance(name, str) or not SAFE_ID.match(name):
            c.add(f"{at}.name", f"{label}: {name!r} is not a valid name (allowed: "
                  f"{SAFE_ID.pattern})")
            name = f"source-{j + 1}"
        sources.append(Source(kind, name, settings, token, mapping, collaboration))
    c.unique([s.name for s in sources], where,
             f"source name in wave {wave_id} (give each source a `name`):")
    if sum(s.type == "inbox" for s in sources) > 1:
        c.add(where, f"wave {wave_id}: the inbox is listed more than once")
    return tuple(sources)


def _parse_credential(raw: Any, where: str, label: str, c: Checker) -> Credential | None:
    """``{env: NAME}`` or ``{secret: block-name}``; a token written in the file is refused."""
    if raw is None:
        c.add(where, f"{label}: token is required: name the environment variable "
              "({env: NAME}) or the Prefect Secret block ({secret: block-name}) holding it")
        return None
    if isinstance(raw, str):
        # Never echo the value: it may be the token itself.
        c.add(where, f"{label}: the token must not be written in the programme file; name "
              "the environment variable ({env: NAME}) or Prefect Secret block "
              "({secret: block-name}) that holds it")
        return None
    if not isinstance(raw, Mapping) or len(raw) != 1 or not set(raw) <= {"env", "secret"}:
        c.add(where, f"{label}: expected {{env: NAME}} or {{secret: block-name}}")
        return None
    (key, value), = raw.items()
    if key == "env" and (not isinstance(value, str) or not _ENV_NAME.match(value)):
        c.add(where, f"{label}: {value!r} is not an environment variable name")
        return None
    if key == "secret" and (not isinstance(value, str)
                            or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", value)):
        c.add(where, f"{label}: {value!r} is not a Prefect block name (lower-case letters, "
              "digits and dashes)")
        return None
    return Credential(**{key: value})


def _source_to_dict(source: Source) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": source.type}
    if source.type == "inbox":
        return doc
    doc["name"] = source.name
    for key, value in source.settings.items():
        doc[key] = list(value) if isinstance(value, tuple) else value
    if source.token is not None:
        doc["token"] = source.token.to_dict()
    if source.mapping is not None:
        doc["mapping"] = source.mapping
    if source.collaboration is not None:
        doc["collaboration"] = source.collaboration
    return doc


def _parse_collaboration(raw, where, peer_groups, wave_ids, sectors, modes, c) -> Collaboration:
    col = c.mapping(raw, where)
    c.unknown_keys(col, ("id", "name", "type", "region", "peer_group", "value_modes",
                         "main_value_mode", "invited", "partners"), where)
    ctype = c.text(col, "type", where)
    if ctype:
        c.one_of(ctype, COLLABORATION_TYPES, f"{where}.type", "collaboration type")
    peer_group = c.identifier(col, "peer_group", where)
    if peer_group and peer_groups:
        c.one_of(peer_group, [g.id for g in peer_groups], f"{where}.peer_group", "peer group")
    value_modes = [str(m) for m in c.items(col.get("value_modes"), f"{where}.value_modes")]
    main = c.field(col, "main_value_mode", where, str, required=False)
    if modes is not None:
        for m in value_modes:
            c.one_of(m, modes, f"{where}.value_modes", "way of creating value")
    if main is not None and main not in value_modes:
        c.add(f"{where}.main_value_mode", f"{main!r} is not among its value_modes")
    invited = {}
    for wave_id, n in c.mapping(col.get("invited") or {}, f"{where}.invited").items():
        key = str(wave_id)
        if key not in wave_ids:
            c.add(f"{where}.invited.{key}", f"{key!r} is not a wave of the programme")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            c.add(f"{where}.invited.{key}", f"must be a positive whole number, got {n!r}")
        else:
            invited[key] = n
    partners = []
    for k, p in enumerate(c.items(col.get("partners"), f"{where}.partners")):
        pw = f"{where}.partners[{k}]"
        p = c.mapping(p, pw)
        sector = c.text(p, "sector", pw)
        if sectors is not None and sector:
            c.one_of(sector, sectors, f"{pw}.sector", "sector")
        partners.append(PartnerOrganisation(c.identifier(p, "id", pw), c.text(p, "name", pw), sector))
    if partners and len(partners) < 2:
        c.add(f"{where}.partners", "a collaboration needs at least two partner organisations")
    return Collaboration(
        id=c.identifier(col, "id", where, SAFE_ID), name=c.text(col, "name", where), type=ctype,
        region=c.text(col, "region", where), peer_group=peer_group,
        value_modes=tuple(value_modes), main_value_mode=main, partners=tuple(partners),
        invited=invited,
    )


def programme_to_dict(programme: Programme) -> dict[str, Any]:
    """The programme as a plain document that :func:`parse_programme` reads back."""
    return {
        "programme": {"id": programme.id, "name": programme.name,
                      "instrument": programme.instrument,
                      "disclosure_threshold": programme.disclosure_threshold,
                      **({"comparator": COMPARATOR_NAMES[programme.comparator]}
                         if programme.comparator != "all" else {})},
        "peer_groups": [{"id": g.id, "name": g.name} for g in programme.peer_groups],
        "collaborations": [
            {"id": c.id, "name": c.name, "type": c.type, "region": c.region,
             "peer_group": c.peer_group, "value_modes": list(c.value_modes),
             "main_value_mode": c.main_value_mode,
             **({"invited": dict(c.invited)} if c.invited else {}),
             "partners": [{"id": p.id, "name": p.name, "sector": p.sector} for p in c.partners]}
            for c in programme.collaborations
        ],
        "waves": [
            {"id": w.id, "label": w.label, "opens": w.opens, "closes": w.closes,
             "instrument_version": w.instrument_version,
             **({"sources": [_source_to_dict(s) for s in w.sources]}
                if w.sources != _DEFAULT_SOURCES else {})}
            for w in programme.waves
        ],
    }


def dump_programme(programme: Programme) -> str:
    """The programme as YAML text (see :func:`programme_to_dict`)."""
    return yaml.safe_dump(programme_to_dict(programme), sort_keys=False, allow_unicode=True,
                          width=100)
