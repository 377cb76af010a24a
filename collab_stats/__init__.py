"""collab-stats: survey analytics for partnerships in health, care and public services.

The library is pure: functions and small frozen result types, no printing, no rounding and no
orchestration. See the README for the data model and the pipeline around it.
"""

from .errors import (
    CollabStatsError,
    DataSchemaError,
    InstrumentError,
    Problem,
    ProgrammeError,
)
from .instrument import (
    Instrument,
    InstrumentFamily,
    default_instrument_dir,
    load_instrument,
    load_instrument_family,
)
from .programme import Programme, dump_programme, load_programme, parse_programme
from .schema import SurveyData, from_wide, make_survey_data, to_wide, validate_survey_data
from .simulate import SimulatedProgramme, SimulationSettings, simulate_programme

__version__ = "0.1.0"

__all__ = [
    "CollabStatsError",
    "DataSchemaError",
    "Instrument",
    "InstrumentError",
    "InstrumentFamily",
    "Problem",
    "Programme",
    "ProgrammeError",
    "SimulatedProgramme",
    "SimulationSettings",
    "SurveyData",
    "__version__",
    "default_instrument_dir",
    "dump_programme",
    "from_wide",
    "load_instrument",
    "load_instrument_family",
    "load_programme",
    "make_survey_data",
    "parse_programme",
    "simulate_programme",
    "to_wide",
    "validate_survey_data",
]
