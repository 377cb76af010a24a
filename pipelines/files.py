"""Table files of the pipeline, written atomically (see :mod:`collab_stats.atomic`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from collab_stats.atomic import (  # noqa: F401 - re-exported for the pipeline modules
    write_atomic,
    write_bytes_atomic,
    write_parquet_atomic,
    write_text_atomic,
)


def write_parquet_tables(tables: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Each table as ``folder/<name>.parquet`` (atomically); tuples and lists in cells (ids of
    several options) are written as ``"; "``-joined text so Parquet can store them. Tables
    with no columns are skipped."""
    folder = Path(folder)
    return [write_parquet_atomic(folder / f"{name}.parquet", _plain(frame))
            for name, frame in tables.items() if len(frame.columns)]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: "; ".join(map(str, v))
                                          if isinstance(v, tuple | list) else v)
    return out
