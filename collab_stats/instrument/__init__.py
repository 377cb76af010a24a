"""Survey instruments: the framework, versioned item sets and mappings between versions."""

from .load import default_instrument_dir, load_instrument, load_instrument_family
from .model import (
    ANSWER_MISSING_REASONS,
    MISSING_REASONS,
    Band,
    Characteristic,
    Framework,
    Indicator,
    Instrument,
    InstrumentFamily,
    Item,
    MappingEntry,
    MissingReason,
    Question,
    ResponseScale,
    ScoringRules,
    ValueMode,
    VersionMapping,
)

__all__ = [
    "ANSWER_MISSING_REASONS",
    "MISSING_REASONS",
    "Band",
    "Characteristic",
    "Framework",
    "Indicator",
    "Instrument",
    "InstrumentFamily",
    "Item",
    "MappingEntry",
    "MissingReason",
    "Question",
    "ResponseScale",
    "ScoringRules",
    "ValueMode",
    "VersionMapping",
    "default_instrument_dir",
    "load_instrument",
    "load_instrument_family",
]
