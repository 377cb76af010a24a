"""Reference data sets for the tests.

The public reference data sets (psych's bfi, lavaan's HolzingerSwineford1939, multilevel's
bh1996 and lq2002, ...) live in ``shared/reference-data`` beside the repository, as they do on
every developer machine and in CI. A missing folder is an error, not a skip: the reference
tests are the point of the suite. ``COLLAB_STATS_REFERENCE_DATA`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(
    os.environ.get("COLLAB_STATS_REFERENCE_DATA", ROOT.parent / "shared" / "reference-data")
)


def read_reference(name: str) -> pd.DataFrame:
    """A reference data set by file name, e.g. ``read_reference("bfi.csv")``."""
    path = REFERENCE_DATA / name
    if not path.is_file():
        raise FileNotFoundError(
            f"reference data {path} not found: the tests expect shared/reference-data beside "
            "the repository (or COLLAB_STATS_REFERENCE_DATA pointing at it)"
        )
    return pd.read_csv(path)
