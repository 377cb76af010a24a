"""Frozen result types describing a survey instrument and the framework behind it.

Objects here are built by :mod:`collab_stats.instrument.load`, which validates a definition
before constructing them; they hold no I/O and no statistics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Band",
    "Characteristic",
    "Example",
    "Framework",
    "Group",
    "Indicator",
    "Instrument",
    "InstrumentFamily",
    "Item",
    "MappingEntry",
    "MissingCode",
    "Option",
    "Question",
    "ResponseScale",
    "ScaleOption",
    "ScoringRules",
    "ValueMode",
    "VersionMapping",
]

#: Why an item has no value. One vocabulary for the whole library:
#: ``dont_know`` / ``not_applicable`` - the respondent chose that answer;
#: ``skipped`` - the item was shown but left blank;
#: ``not_reached`` - the respondent stopped before the item (partial response);
#: ``not_asked`` - the item is not in the instrument version of that wave.
MissingReason = Literal["dont_know", "not_applicable", "skipped", "not_reached", "not_asked"]
MISSING_REASONS: tuple[str, ...] = (
    "dont_know",
    "not_applicable",
    "skipped",
    "not_reached",
    "not_asked",
)
#: Missing reasons that a respondent can choose as an answer option.
ANSWER_MISSING_REASONS: tuple[str, ...] = ("dont_know", "not_applicable")

Relation = Literal["identical", "reworded", "split", "dropped", "added"]
QuestionType = Literal["single_select", "multi_select", "free_text", "integer"]


@dataclass(frozen=True)
class Group:
    """One of the framework's three groups of characteristics."""

    id: str
    name: str
    summary: str


@dataclass(frozen=True)
class Indicator:
    """An indicator of a characteristic, with the seed's wording kept verbatim."""

    id: str
    characteristic: str
    seed_text: str


@dataclass(frozen=True)
class Example:
    """A "who does it well" example, used as guidance in reports."""

    name: str
    text: str


@dataclass(frozen=True)
class Characteristic:
    """One of the eight characteristics of effective collaboration."""

    id: str
    number: int
    group: str
    name: str
    definition: str
    why_important: tuple[str, ...]
    indicators: tuple[Indicator, ...]
    who_does_it_well: tuple[Example, ...]
    alternative_name: str | None = None
    overview_definition: str | None = None


@dataclass(frozen=True)
class ValueMode:
    """One of the four ways a collaboration creates value."""

    id: str
    name: str
    definition: str
    examples: str


@dataclass(frozen=True)
class Framework:
    """The characteristics, their groups and indicators, and the ways of creating value."""

    id: str
    title: str
    source: str
    groups: tuple[Group, ...]
    characteristics: tuple[Characteristic, ...]
    value_modes: tuple[ValueMode, ...]

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for c in self.characteristics for i in c.indicators)

    def characteristic(self, characteristic_id: str) -> Characteristic:
        for c in self.characteristics:
            if c.id == characteristic_id:
                return c
        known = ", ".join(c.id for c in self.characteristics)
        raise KeyError(f"unknown characteristic {characteristic_id!r} (known: {known})")


@dataclass(frozen=True)
class ScaleOption:
    code: int
    label: str


@dataclass(frozen=True)
class MissingCode:
    """An answer option that records a reason for having no value (e.g. "Don't know")."""

    code: int
    label: str
    reason: str


@dataclass(frozen=True)
class ResponseScale:
    """An ordinal agreement scale with its missing-answer codes.

    ``options`` are in ascending order of agreement; codes are consecutive integers.
    """

    id: str
    options: tuple[ScaleOption, ...]
    missing: tuple[MissingCode, ...]
    favourable: tuple[int, ...]

    @property
    def min(self) -> int:
        return self.options[0].code

    @property
    def max(self) -> int:
        return self.options[-1].code

    @property
    def n_points(self) -> int:
        return len(self.options)

    def reverse(self, value: float) -> float:
        """Reverse-key a value on this scale: ``max + min - value`` (NaN stays NaN)."""
        return self.max + self.min - value

    def to_0_100(self, value: float) -> float:
        """Map a value on the scale linearly to 0-100: ``100 (x - min) / (max - min)``."""
        return 100.0 * (value - self.min) / (self.max - self.min)


@dataclass(frozen=True)
class Band:
    """An interpretation band: a score belongs to the first band whose ``min`` it reaches."""

    id: str
    label: str
    min: float


@dataclass(frozen=True)
class ScoringRules:
    """How item answers become a characteristic score.

    ``mean_of_answered``: the mean of the (reverse-keyed where marked) answered items of the
    characteristic, provided at least ``min_answered_share`` of its items were answered;
    "don't know", "not applicable", skipped and not-reached items count as unanswered.
    """

    method: str
    min_answered_share: float
    bands: tuple[Band, ...]

    def band(self, score: float) -> Band | None:
        """The band a score falls in, or ``None`` for a missing (NaN) score.

        Validation makes the last band start at the scale minimum, so every score on the
        scale has a band; a score below every minimum is given the last (lowest) band.
        """
        if score is None or math.isnan(score):
            return None
        for band in self.bands:
            if score >= band.min:
                return band
        return self.bands[-1]


@dataclass(frozen=True)
class Item:
    """A rated statement, tied to a characteristic and to what it operationalises.

    Exactly one of ``indicator`` (a framework indicator id) and ``derived_from`` (a point of
    the characteristic's "why is this important" text, ``"why_important[k]"`` counted from 1)
    is set.
    """

    id: str
    characteristic: str
    text: str
    indicator: str | None = None
    derived_from: str | None = None
    reverse: bool = False


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class Question:
    """A question that is not a rated item: selections, profile, free text or a number.

    ``options_from`` names where the options come from when they are not listed:
    ``framework.value_modes``, ``programme.partners`` or ``programme.collaborations``.
    """

    id: str
    type: str
    text: str
    options: tuple[Option, ...] = ()
    options_from: str | None = None
    optional: bool = False
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    measures: str | None = None

    def option_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.options)


@dataclass(frozen=True)
class Instrument:
    """One version of a survey instrument.

    Use :func:`collab_stats.load_instrument` to read and validate one.
    """

    id: str
    version: str
    title: str
    released: str
    introduction: str
    framework: Framework
    scale: ResponseScale
    scoring: ScoringRules
    items: tuple[Item, ...]
    questions: Mapping[str, Question]
    profile: Mapping[str, Question]
    source: str = ""

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def characteristics(self) -> tuple[Characteristic, ...]:
        return self.framework.characteristics

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(f"item {item_id!r} is not in {self.id} version {self.version}")

    def items_for(self, characteristic_id: str) -> tuple[Item, ...]:
        """The items that score on one characteristic, in instrument order."""
        return tuple(i for i in self.items if i.characteristic == characteristic_id)

    def items_by_characteristic(self) -> dict[str, tuple[str, ...]]:
        """Characteristic id -> its item ids, for every characteristic in framework order."""
        return {c.id: tuple(i.id for i in self.items_for(c.id)) for c in self.characteristics}

    @property
    def sectors(self) -> tuple[str, ...]:
        return self.profile["sector"].option_ids()

    @property
    def roles(self) -> tuple[str, ...]:
        return self.profile["role"].option_ids()


@dataclass(frozen=True)
class MappingEntry:
    """How one item of the older version relates to the newer version.

    ``source`` is the older item id (``None`` for an added item); ``targets`` the newer ids
    (empty for a dropped item, several for a split).
    """

    source: str | None
    targets: tuple[str, ...]
    relation: str
    comparable: bool
    note: str = ""


@dataclass(frozen=True)
class VersionMapping:
    """The machine-readable mapping between two consecutive instrument versions."""

    instrument: str
    from_version: str
    to_version: str
    entries: tuple[MappingEntry, ...]

    def comparable_pairs(self) -> dict[str, str]:
        """Older item id -> newer item id for every pair marked comparable."""
        return {e.source: e.targets[0] for e in self.entries if e.comparable and e.source}


@dataclass(frozen=True)
class InstrumentFamily:
    """All versions of one instrument, their shared framework and the mappings between them.

    Versions are ordered as released; ``mappings[k]`` links ``versions[k]`` and
    ``versions[k + 1]``.
    """

    id: str
    framework: Framework
    versions: tuple[Instrument, ...]
    mappings: tuple[VersionMapping, ...] = field(default=())

    @property
    def version_ids(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.versions)

    def version(self, version: str) -> Instrument:
        for v in self.versions:
            if v.version == version:
                return v
        raise KeyError(
            f"{self.id} has no version {version!r} (versions: {', '.join(self.version_ids)})"
        )

    @property
    def latest(self) -> Instrument:
        return self.versions[-1]

    def comparable_items(self, *versions: str) -> dict[str, dict[str, str]]:
        """Items that may be compared across all the given versions.

        Returns ``{anchor item id: {version: item id in that version}}``, where the anchor is
        the item's id in the earliest of the versions. An item enters only if a chain of
        ``comparable`` mapping entries links it through every version between the earliest
        and the latest named. With a single version every item is comparable with itself.
        """
        if not versions:
            raise ValueError("name at least one version")
        order = {v: k for k, v in enumerate(self.version_ids)}
        for v in versions:
            if v not in order:
                raise KeyError(
                    f"{self.id} has no version {v!r} (versions: {', '.join(self.version_ids)})"
                )
        first, last = min(order[v] for v in versions), max(order[v] for v in versions)
        wanted = set(versions)
        chains = {i: {self.versions[first].version: i} for i in self.versions[first].item_ids}
        current = {i: i for i in chains}  # anchor -> id in the version reached so far
        for k in range(first, last):
            pairs = self.mappings[k].comparable_pairs()
            current = {a: pairs[i] for a, i in current.items() if i in pairs}
            for anchor, item_id in current.items():
                chains[anchor][self.versions[k + 1].version] = item_id
        return {
            anchor: {v: i for v, i in chain.items() if v in wanted}
            for anchor, chain in chains.items()
            if anchor in current
        }
