"""Flows: the instrument's psychometrics and the benchmark tables for a wave.

Both analyse every stored wave up to and including ``wave`` (change over time needs the
earlier waves, invariance compares them) and write their tables under ``tables/``. The
computations are cached on the wave's content fingerprint (stored exports, programme,
instrument, library code: :mod:`pipelines.fingerprint`), so re-running an unchanged wave
reads the results back instead of recomputing them.

The independent model fits inside them (invariance, each wave's factor models, each
characteristic's reliability; the trend of every collaboration and characteristic) are
spread over worker processes on this machine for a large programme (:func:`fit_workers`), or
over a Dask cluster's workers when the run has one (``dask`` / ``dask_address``, as the
reports do). Where they run does not change a number.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from collab_stats.benchmarking import ProgrammeBenchmark, benchmark_programme
from collab_stats.errors import CollabStatsError
from collab_stats.parallel import MapLike
from collab_stats.psychometrics import ProgrammePsychometrics, programme_psychometrics

from .files import write_parquet_tables
from .fingerprint import wave_fingerprint
from .retry import IO_RETRIES
from .store import WaveStore
from .workspace import Workspace

# where a computation runs is not part of its result: not in the cache key
CACHED = {"cache_policy": (INPUTS - "workers" - "dask" - "dask_address") + TASK_SOURCE,
          "persist_result": True}

#: From this many collaborations, the fits go to worker processes by default (below it,
#: starting the processes costs more than it saves).
PARALLEL_FROM = 50


def default_workers(n_collaborations: int) -> int:
    """Worker processes for a programme's fits: every core (at most 8) from
    :data:`PARALLEL_FROM` collaborations, else 1 (here)."""
    if n_collaborations < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _single_threaded() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread a process


@contextmanager
def fit_workers(workers: int, dask: bool = False,
                dask_address: str | None = None) -> Iterator[MapLike | None]:
    """The map-like the library's independent fits run through (:mod:`collab_stats.parallel`).

    The Dask scheduler at ``dask_address`` (or the ``COLLAB_DASK_ADDRESS`` setting; its workers
    need collab-stats installed), or with ``dask`` a local cluster of ``workers`` processes,
    or else ``workers`` local processes (spawned: the flow's own threads are not copied);
    with 1, None (here, one after another)."""
    from .report_flow import DASK_ADDRESS_SETTING, local_cluster_kwargs

    address = dask_address or os.environ.get(DASK_ADDRESS_SETTING) or None
    if address or dask:
        from distributed import Client, LocalCluster

        cluster = None if address else LocalCluster(**local_cluster_kwargs(workers))
        try:
            with Client(address or cluster) as client:
                yield lambda f, items: client.gather(client.map(f, list(items), pure=False))
        finally:
            if cluster is not None:
                cluster.close()
        return
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_single_threaded) as pool:
        yield pool.map


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
def compute_psychometrics(workspace: Path, wave: str, key: str, workers: int | None = None,
                          dask: bool = False,
                          dask_address: str | None = None) -> ProgrammePsychometrics:
    """Reliability, factor structure, invariance and aggregation through ``wave``
    (``key``: the content fingerprint the cache is keyed on; ``workers``, ``dask``,
    ``dask_address``: where the fits run, see :func:`fit_workers`; None: by the programme's
    size, :func:`default_workers`)."""
    programme, family, data = _load(workspace, wave)
    n = default_workers(len(programme.collaborations)) if workers is None else workers
    with fit_workers(n, dask, dask_address) as spread:
        return programme_psychometrics(data, family, programme=programme, workers=spread)


@task(name="compute-benchmark", **CACHED)
def compute_benchmark(workspace: Path, wave: str, key: str,
                      invariance_supported: bool | None, workers: int | None = None,
                      dask: bool = False,
                      dask_address: str | None = None) -> ProgrammeBenchmark:
    """Every benchmark table through ``wave``, with disclosure control (the trend fits
    where :func:`fit_workers` says)."""
    programme, family, data = _load(workspace, wave)
    n = default_workers(len(programme.collaborations)) if workers is None else workers
    with fit_workers(n, dask, dask_address) as spread:
        return benchmark_programme(data, family, programme,
                                   invariance_supported=invariance_supported, workers=spread)


@task(name="write-tables", **IO_RETRIES)
def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    return write_parquet_tables(tables, folder)


@task(name="summarise-ingest", **IO_RETRIES)
def summarise_ingest(store_root: Path) -> dict[str, pd.DataFrame]:
    return WaveStore(store_root).ingest_tables()


@flow(name="check-reliability", flow_run_name="reliability-{wave}")
def check_reliability(workspace: Path, wave: str, workers: int | None = None,
                      dask: bool = False,
                      dask_address: str | None = None) -> ProgrammePsychometrics:
    """Psychometrics through ``wave``, written to ``tables/psychometrics`` (``workers``,
    ``dask``, ``dask_address``: where the fits run, :func:`fit_workers`)."""
    ws = Workspace.at(workspace)
    result = compute_psychometrics(ws.root, wave, fingerprint(ws.root, wave), workers, dask,
                                   dask_address)
    write_tables(result.tables(), ws.tables / "psychometrics")
    return result


@flow(name="benchmark-wave", flow_run_name="benchmark-{wave}")
def benchmark_wave(workspace: Path, wave: str, invariance_supported: bool | None = None,
                   workers: int | None = None, dask: bool = False,
                   dask_address: str | None = None) -> ProgrammeBenchmark:
    """Benchmark tables through ``wave`` (``invariance_supported``: whether scalar
    invariance holds, from :func:`check_reliability`; None: not known), written to
    ``tables/benchmark``, with the ingest summary in ``tables/ingest`` (``workers``,
    ``dask``, ``dask_address``: where the trend fits run, :func:`fit_workers`)."""
    ws = Workspace.at(workspace)
    result = compute_benchmark(ws.root, wave, fingerprint(ws.root, wave), invariance_supported,
                               workers, dask, dask_address)
    write_tables(result.tables(), ws.tables / "benchmark")
    write_tables(summarise_ingest(ws.store), ws.tables / "ingest")
    return result


def scalar_invariance(psychometrics: ProgrammePsychometrics) -> bool | None:
    """Whether scalar invariance across waves is supported (None: not tested)."""
    table = psychometrics.invariance
    if not len(table):
        return None
    return bool(table.set_index("level").loc["scalar", "supported"])

