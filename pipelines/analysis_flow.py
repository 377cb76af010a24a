"""Flows: the instrument's psychometrics and the benchmark tables for a wave.

Both analyse every stored wave up to and including ``wave`` (change over time needs the
earlier waves, invariance compares them) and write their tables under ``tables/``. The
computations are cached on the wave's content fingerprint (stored exports, programme,
instrument, library code: :mod:`pipelines.fingerprint`), so re-running an unchanged wave
reads the results back instead of recomputing them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from collab_stats.benchmarking import ProgrammeBenchmark, benchmark_programme
from collab_stats.errors import CollabStatsError
from collab_stats.psychometrics import ProgrammePsychometrics, programme_psychometrics

from .files import write_parquet_tables
from .fingerprint import wave_fingerprint
from .retry import IO_RETRIES
from .store import WaveStore
from .workspace import Workspace

CACHED = {"cache_policy": INPUTS + TASK_SOURCE, "persist_result": True}


def stored_waves_through(ws: Workspace, wave: str, waves: list[str]) -> list[str]:
    """The stored waves up to and including ``wave``, in programme order."""
    stored = set(WaveStore(ws.store).wave_ids())
    if wave not in stored:
        raise CollabStatsError(f"wave {wave!r} has no stored data in {ws.store}: ingest its "
                               "exports first (drop them in the inbox, or `collab ingest`)")
    return [w for w in waves[: waves.index(wave) + 1] if w in stored]


@task(name="fingerprint-wave")
def fingerprint(workspace: Path, wave: str) -> str:
    ws = Workspace.at(workspace)
    programme, _ = ws.load()
    return wave_fingerprint(ws, wave, list(programme.wave_ids))


def _load(workspace: Path, wave: str):
    ws = Workspace.at(workspace)
    programme, family = ws.load()
    waves = stored_waves_through(ws, wave, list(programme.wave_ids))
    return programme, family, WaveStore(ws.store).load(waves)


@task(name="compute-psychometrics", **CACHED)
def compute_psychometrics(workspace: Path, wave: str, key: str) -> ProgrammePsychometrics:
    """Reliability, factor structure, invariance and aggregation through ``wave``
    (``key``: the content fingerprint the cache is keyed on)."""
    programme, family, data = _load(workspace, wave)
    return programme_psychometrics(data, family, programme=programme)


@task(name="compute-benchmark", **CACHED)
def compute_benchmark(workspace: Path, wave: str, key: str,
                      invariance_supported: bool | None) -> ProgrammeBenchmark:
    """Every benchmark table through ``wave``, with disclosure control."""
    programme, family, data = _load(workspace, wave)
    return benchmark_programme(data, family, programme,
                               invariance_supported=invariance_supported)


@task(name="write-tables", **IO_RETRIES)
def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    return write_parquet_tables(tables, folder)


@task(name="summarise-ingest", **IO_RETRIES)
def summarise_ingest(store_root: Path) -> dict[str, pd.DataFrame]:
    return WaveStore(store_root).ingest_tables()


@flow(name="check-reliability", flow_run_name="reliability-{wave}")
def check_reliability(workspace: Path, wave: str) -> ProgrammePsychometrics:
    """Psychometrics through ``wave``, written to ``tables/psychometrics``."""
    ws = Workspace.at(workspace)
    result = compute_psychometrics(ws.root, wave, fingerprint(ws.root, wave))
    write_tables(result.tables(), ws.tables / "psychometrics")
    return result


@flow(name="benchmark-wave", flow_run_name="benchmark-{wave}")
def benchmark_wave(workspace: Path, wave: str,
                   invariance_supported: bool | None = None) -> ProgrammeBenchmark:
    """Benchmark tables through ``wave`` (``invariance_supported``: whether scalar
    invariance holds, from :func:`check_reliability`; None: not known), written to
    ``tables/benchmark``, with the ingest summary in ``tables/ingest``."""
    ws = Workspace.at(workspace)
    result = compute_benchmark(ws.root, wave, fingerprint(ws.root, wave), invariance_supported)
    write_tables(result.tables(), ws.tables / "benchmark")
    write_tables(summarise_ingest(ws.store), ws.tables / "ingest")
    return result


def scalar_invariance(psychometrics: ProgrammePsychometrics) -> bool | None:
    """Whether scalar invariance across waves is supported (None: not tested)."""
    table = psychometrics.invariance
    if not len(table):
        return None
    return bool(table.set_index("level").loc["scalar", "supported"])

