"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Shared by the pipeline (stores, tables) and the report layer (notebooks, HTML, downloads).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

__all__ = ["write_atomic", "write_bytes_atomic", "write_parquet_atomic", "write_text_atomic"]


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` by calling ``write(temp_path)`` on a temporary file in the same folder,
    then renaming it over ``path`` (atomic on POSIX). The temporary file is removed on error.
    The file gets the permissions a plain ``open`` would give (0666 less the umask); secrets
    are written elsewhere with their own permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_parquet_atomic(path: str | Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
