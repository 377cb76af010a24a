"""Flow: psychometrics and benchmark tables for a programme, written as Parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, task

from collab_stats.benchmarking import ProgrammeBenchmark, benchmark_programme
from collab_stats.instrument import InstrumentFamily
from collab_stats.programme import Programme
from collab_stats.psychometrics import ProgrammePsychometrics, programme_psychometrics
from collab_stats.schema import SurveyData

from .files import write_parquet_tables
from .store import WaveStore


@task
def check_reliability(data: SurveyData, family: InstrumentFamily) -> ProgrammePsychometrics:
    return programme_psychometrics(data, family)


@task
def benchmark(data: SurveyData, family: InstrumentFamily, programme: Programme,
              invariance_supported: bool) -> ProgrammeBenchmark:
    return benchmark_programme(data, family, programme, invariance_supported=invariance_supported)


@task(retries=2, retry_delay_seconds=1)
def summarise_ingest(store_root: Path) -> dict[str, pd.DataFrame]:
    return WaveStore(store_root).ingest_tables()


@task(retries=2, retry_delay_seconds=1)
def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    return write_parquet_tables(tables, folder)


@flow(name="analyse-programme")
def analyse_programme_flow(data: SurveyData, family: InstrumentFamily, programme: Programme,
                           output_dir: Path, store_root: Path | None = None) -> dict:
    """Reliability, factor structure, invariance and the benchmark tables, written to
    ``output_dir/tables/psychometrics`` and ``output_dir/tables/benchmark`` (and, given the
    wave store, its sources and quarantine counts to ``output_dir/tables/ingest``)."""
    psychometrics = check_reliability(data, family)
    scalar = None
    if len(psychometrics.invariance):
        scalar = bool(psychometrics.invariance.set_index("level").loc["scalar", "supported"])
    tables = benchmark(data, family, programme, scalar)
    files = write_tables(psychometrics.tables(), output_dir / "tables" / "psychometrics")
    files += write_tables(tables.tables(), output_dir / "tables" / "benchmark")
    if store_root is not None:
        files += write_tables(summarise_ingest(store_root), output_dir / "tables" / "ingest")
    return {"psychometrics": psychometrics, "benchmark": tables, "files": files}
