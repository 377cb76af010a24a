"""The wave run and the programme run: ingest -> reliability -> benchmark -> reports.

``run_wave`` chains the four flows for one wave (ingesting that wave's exports waiting in the
inbox, analysing every stored wave up to it, rendering the reports for it) and publishes the
run's artifacts. ``run_programme`` ingests whatever waits in the inbox for every wave, then
runs the latest stored wave. ``watch_inbox`` is what the inbox deployment runs on a
schedule: when new exports have arrived it runs the programme, otherwise it does nothing.
``rebuild_reports`` renders the reports again from the tables (e.g. after a template change).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow

from collab_stats.errors import CollabStatsError
from collab_stats.programme import Programme

from .analysis_flow import benchmark_wave, check_reliability, scalar_invariance
from .artifacts import characteristic_table, publish, wave_summary_markdown
from .ingest_flow import ingest_wave
from .report_flow import render_reports
from .store import WaveStore
from .workspace import Workspace, find_inbox_files

__all__ = ["rebuild_reports", "run_programme", "run_wave", "watch_inbox"]


def latest_stored_wave(ws: Workspace, waves: list[str]) -> str:
    """The last wave (programme order) with stored data."""
    stored = set(WaveStore(ws.store).wave_ids())
    present = [w for w in waves if w in stored]
    if not present:
        raise CollabStatsError(f"{ws.store}: no wave has been ingested yet; drop exports in "
                               f"{ws.inbox}/<wave>/ and run again")
    return present[-1]


def wave_due(programme: Programme, today: dt.date) -> str:
    """The wave a scheduled run analyses: the latest whose window has closed by ``today``."""
    closed = [w.id for w in programme.waves if w.closes <= today]
    if not closed:
        first = programme.waves[0]
        raise CollabStatsError(f"no wave of programme {programme.id!r} has closed by {today} "
                               f"(the first, {first.id}, closes on {first.closes}); give a wave")
    return closed[-1]


def _wave_run_name() -> str:
    from prefect.runtime import flow_run

    return f"run-{flow_run.parameters.get('wave') or 'due'}"


@flow(name="run-wave", flow_run_name=_wave_run_name)
def run_wave(workspace: Path, wave: str | None = None, pdf: bool | None = None,
             reports: bool = True, dask: bool = False, dask_address: str | None = None) -> dict:
    """Ingest ``wave``'s new exports, check the instrument, benchmark and render the
    reports; returns what was ingested and where the report index is.

    ``wave`` None (what the scheduled deployment passes): the latest wave whose window has
    closed by today, see :func:`wave_due`."""
    ws = Workspace.at(workspace).check()
    programme, _ = ws.load()
    wave = wave or wave_due(programme, dt.date.today())
    ingested = ingest_wave(ws.root, wave)
    return _analyse_and_report(ws, wave, ingested, programme.disclosure_threshold, pdf,
                               reports, dask, dask_address)


@flow(name="run-programme", flow_run_name="run-programme")
def run_programme(workspace: Path, pdf: bool | None = None, reports: bool = True,
                  dask: bool = False, dask_address: str | None = None) -> dict:
    """Ingest the inbox for every wave, then analyse and report the latest stored wave."""
    ws = Workspace.at(workspace).check()
    programme, _ = ws.load()
    waves = list(programme.wave_ids)
    files, _ = find_inbox_files(ws, waves)
    ingested = [row for wave in dict.fromkeys(f.wave for f in files)
                for row in ingest_wave(ws.root, wave)]
    wave = latest_stored_wave(ws, waves)
    return _analyse_and_report(ws, wave, ingested, programme.disclosure_threshold, pdf,
                               reports, dask, dask_address)


def _analyse_and_report(ws: Workspace, wave: str, ingested: list[dict], threshold: int,
                        pdf: bool | None, reports: bool, dask: bool,
                        dask_address: str | None) -> dict:
    psychometrics = check_reliability(ws.root, wave)
    benchmark = benchmark_wave(ws.root, wave, scalar_invariance(psychometrics))
    index = (render_reports(ws.root, wave, pdf=pdf, dask=dask, dask_address=dask_address)
             if reports else None)
    publish(wave, wave_summary_markdown(wave, ingested, psychometrics, benchmark, threshold),
            characteristic_table(benchmark, wave))
    return {"wave": wave, "ingested": ingested, "psychometrics": psychometrics,
            "benchmark": benchmark, "index": index}


@flow(name="watch-inbox", flow_run_name="watch-inbox")
def watch_inbox(workspace: Path, pdf: bool | None = None) -> dict:
    """Run the programme when new exports wait in the inbox; otherwise do nothing.

    Files that cannot be placed in a wave are moved to ``inbox/failed/`` with the reason.
    A lock makes overlapping runs skip instead of ingesting the same file twice."""
    ws = Workspace.at(workspace).check()
    with ws.lock("inbox") as acquired:
        if not acquired:
            return {"status": "skipped: another run is processing the inbox"}
        programme, _ = ws.load()
        files, unplaced = find_inbox_files(ws, list(programme.wave_ids))
        for path, reason in unplaced:
            _reject(ws, path, reason)
        if not files:
            return {"status": "nothing new", "rejected": len(unplaced)}
        result = run_programme(ws.root, pdf=pdf)
        return {"status": "processed", "files": len(files), "rejected": len(unplaced),
                "wave": result["wave"], "index": result["index"]}


def _reject(ws: Workspace, path: Path, reason: str) -> None:
    from collab_stats.atomic import write_text_atomic

    folder = ws.inbox / "failed"
    folder.mkdir(parents=True, exist_ok=True)
    path.replace(folder / path.name)
    write_text_atomic(folder / f"{path.name}.error.txt", reason + "\n")


@flow(name="rebuild-reports", flow_run_name="rebuild-reports")
def rebuild_reports(workspace: Path, wave: str | None = None, pdf: bool | None = None,
                    dask: bool = False, dask_address: str | None = None,
                    comparator: str | None = None) -> str:
    """Render the report site again from the workspace's tables (``comparator``: ``"all"``
    or ``"peer_group"``; default: the programme file's)."""
    return render_reports(workspace, wave, pdf=pdf, dask=dask, dask_address=dask_address,
                          comparator=comparator)
