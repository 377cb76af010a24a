"""Flow: simulate a programme and write it as files (the demo's data source)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from collab_stats import dump_programme, simulate_programme
from collab_stats.ingest.simulated import EXPORT_FORMATS, write_wave_export
from collab_stats.simulate import SimulatedProgramme
from collab_stats.summary import response_summary

from .files import write_parquet_tables, write_text_atomic
from .retry import IO_RETRIES


@task(name="simulate-programme")
def simulate(seed: int, n_collaborations: int, n_waves: int) -> SimulatedProgramme:
    return simulate_programme(seed=seed, n_collaborations=n_collaborations, n_waves=n_waves)


@task(name="write-programme", **IO_RETRIES)
def write_programme(sim: SimulatedProgramme, output_dir: Path) -> Path:
    return write_text_atomic(output_dir / "programme.yaml", dump_programme(sim.programme))


@task(name="write-simulated-tables", **IO_RETRIES)
def write_tables(sim: SimulatedProgramme, output_dir: Path) -> list[Path]:
    tables = {
        "respondents": sim.data.respondents,
        "responses": sim.data.responses,
        "selections": sim.data.selections,
        "comments": sim.data.comments,
        "truth_collaboration_levels": sim.truth.collaboration_levels,
        "truth_trends": sim.truth.trends,
    }
    return write_parquet_tables(tables, output_dir / "simulated")


@task(name="export-waves", **IO_RETRIES)
def export_waves(sim: SimulatedProgramme, output_dir: Path) -> dict[str, tuple[Path, Path, Path | None]]:
    """Each wave written as a different platform's export (with its mapping file) into the
    workspace's inbox, ``inbox/<wave>/``, where the pipeline picks them up."""
    formats = list(EXPORT_FORMATS)
    files = {}
    for k, wave in enumerate(sim.programme.waves):
        fmt = formats[k % len(formats)]
        path, mapping = write_wave_export(sim, wave.id, fmt, output_dir / "inbox" / wave.id)
        dictionary = path.parent / f"{wave.id}-redcap-dictionary.csv" if fmt == "redcap" else None
        files[wave.id] = (path, mapping, dictionary)
    return files


@flow(name="simulate-programme", flow_run_name="simulate-{n_collaborations}x{n_waves}-seed{seed}")
def simulate_programme_flow(
    output_dir: Path = Path("demo-output"),
    seed: int = 2025,
    n_collaborations: int = 40,
    n_waves: int = 4,
) -> dict:
    """Simulate a programme with known truth into a workspace: programme.yaml, the canonical
    tables (``simulated/``, with the truth) and each wave as a real platform's export
    (Qualtrics, SurveyMonkey, REDCap, ...) waiting in ``inbox/<wave>/``."""
    sim = simulate(seed, n_collaborations, n_waves)
    programme_file = write_programme(sim, output_dir)
    table_files = write_tables(sim, output_dir)
    exports = export_waves(sim, output_dir)
    return {
        "exports": exports,
        "simulation": sim,
        "programme": sim.programme,
        "summary": response_summary(sim.data),
        "files": [programme_file, *table_files],
    }
