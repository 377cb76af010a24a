"""Flow: simulate a programme and write it as files (the demo's data source)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from collab_stats import dump_programme, simulate_programme
from collab_stats.simulate import SimulatedProgramme
from collab_stats.summary import response_summary

from .files import write_parquet_atomic, write_text_atomic


@task
def simulate(seed: int, n_collaborations: int, n_waves: int) -> SimulatedProgramme:
    return simulate_programme(seed=seed, n_collaborations=n_collaborations, n_waves=n_waves)


@task(retries=2, retry_delay_seconds=1)
def write_programme(sim: SimulatedProgramme, output_dir: Path) -> Path:
    return write_text_atomic(output_dir / "programme.yaml", dump_programme(sim.programme))


@task(retries=2, retry_delay_seconds=1)
def write_tables(sim: SimulatedProgramme, output_dir: Path) -> list[Path]:
    folder = output_dir / "simulated"
    tables = {
        "respondents": sim.data.respondents,
        "responses": sim.data.responses,
        "selections": sim.data.selections,
        "comments": sim.data.comments,
        "truth_collaboration_levels": sim.truth.collaboration_levels,
        "truth_trends": sim.truth.trends,
    }
    return [write_parquet_atomic(folder / f"{name}.parquet", frame) for name, frame in tables.items()]


@flow(name="simulate-programme", flow_run_name="simulate-{n_collaborations}x{n_waves}-seed{seed}")
def simulate_programme_flow(
    output_dir: Path = Path("demo-output"),
    seed: int = 2025,
    n_collaborations: int = 40,
    n_waves: int = 4,
) -> dict:
    """Simulate a programme with known truth and write programme.yaml and the canonical tables."""
    sim = simulate(seed, n_collaborations, n_waves)
    programme_file = write_programme(sim, output_dir)
    table_files = write_tables(sim, output_dir)
    return {
        "simulation": sim,
        "programme": sim.programme,
        "summary": response_summary(sim.data),
        "files": [programme_file, *table_files],
    }
