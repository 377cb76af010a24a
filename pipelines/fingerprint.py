"""Content fingerprints that key the pipeline's caches.

A wave's analysis is recomputed only when something it depends on changes: the stored
exports of that wave and the waves before it (their SHA-256), the programme definition, the
instrument files, or the code of the library. The fingerprint is the SHA-256 of all of them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import collab_stats
from collab_stats.instrument import default_instrument_dir

from .store import WaveStore
from .workspace import Workspace

__all__ = ["code_fingerprint", "wave_fingerprint"]


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the library's source files and bundled instruments (cached per process)."""
    digest = hashlib.sha256(collab_stats.__version__.encode())
    for root in (Path(collab_stats.__file__).parent, default_instrument_dir()):
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def wave_fingerprint(ws: Workspace, wave: str, waves: list[str]) -> str:
    """What an analysis through ``wave`` depends on: the stored sources of ``wave`` and the
    waves before it in ``waves`` (programme order), the programme file and the code."""
    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update(ws.programme_file.read_bytes())
    through = set(waves[: waves.index(wave) + 1])
    sources = WaveStore(ws.store).sources() if (ws.store / "manifest.json").exists() else None
    if sources is not None and len(sources):
        for row in sources.sort_values(["wave_id", "source_name"]).itertuples():
            if row.wave_id in through:
                digest.update(f"{row.wave_id}\0{row.source_name}\0{row.sha256}\n".encode())
    return digest.hexdigest()
