"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` by calling ``write(temp_path)`` on a temporary file in the same folder,
    then renaming it over ``path`` (atomic on POSIX). The temporary file is removed on error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


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
