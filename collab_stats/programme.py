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

Every identifier must be safe in file names and URLs (lower case letters, digits, ``-``,
``_``, ``.``): reports and stores use them in paths. :func:`load_programme` validates the whole
file (and, given the instrument family, the sectors, ways of creating value and instrument
versions it names) and reports every problem at once.
"""

from __future__ import annotations

import datetime as dt
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
    "PartnerOrganisation",
    "PeerGroup",
    "Programme",
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


@dataclass(frozen=True)
class Wave:
    """A survey wave: when it ran and which instrument version it used."""

    id: str
    label: str
    opens: dt.date
    closes: dt.date
    instrument_version: str


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

    waves = _parse_waves(doc.get("waves"), instrument, c)
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


def _parse_waves(raw: Any, instrument: InstrumentFamily | None, c: Checker) -> list[Wave]:
    waves = []
    for k, w in enumerate(c.items(raw, "waves")):
        where = f"waves[{k}]"
        w = c.mapping(w, where)
        c.unknown_keys(w, ("id", "label", "opens", "closes", "instrument_version"), where)
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
        waves.append(Wave(c.identifier(w, "id", where), c.text(w, "label", where), opens,
                          closes, version))
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
             "instrument_version": w.instrument_version}
            for w in programme.waves
        ],
    }


def dump_programme(programme: Programme) -> str:
    """The programme as YAML text (see :func:`programme_to_dict`)."""
    return yaml.safe_dump(programme_to_dict(programme), sort_keys=False, allow_unicode=True,
                          width=100)
