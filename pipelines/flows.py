"""The wave run and the programme run: ingest -> reliability -> benchmark -> reports.

``run_wave`` chains the four flows for one wave (ingesting that wave's exports waiting in the
inbox, analysing every stored wave up to it, rendering the reports for it) and publishes the
run's artifacts. ``run_programme`` ingests whatever waits in the inbox for every wave, then
analyses and reports the wave the site shows (below). ``watch_inbox`` is what the inbox
deployment runs on a schedule: when new exports have arrived, or an earlier run left the
site unfinished, it runs the programme; otherwise it does nothing. ``rebuild_reports``
renders the reports again from the tables (e.g. after a template change).

Rules every run follows
-----------------------
**One writer at a time.** Every flow that writes ``store/``, ``tables/`` or ``reports/``
(``run_wave``, ``run_programme``, ``watch_inbox``, ``rebuild_reports``) holds the workspace
lock while it runs (:meth:`pipelines.workspace.Workspace.writer_lock`: ``.collab/lock``,
which records the flow, its run, the process and since when). A run that finds it held
waits, up to 15 minutes (``COLLAB_LOCK_TIMEOUT_SECONDS``), then fails with one line naming
the run holding it; the inbox watcher does not wait: it skips its tick. The lock is
re-entrant, so the watcher's programme run does not wait for the watcher.

**Which wave the site shows** (:func:`site_wave`): the latest wave with stored data whose
window has closed (the day after its ``closes`` date); while no stored wave has closed yet,
the latest stored wave. Exports of a wave still open are ingested and stored as they arrive,
but the wave is analysed and shown only once it has closed, so the site never shows a wave
half-collected, and never goes back to an earlier wave once a later one is shown. The
scheduled wave run (no wave given), ``collab run`` (no ``--wave``) and the inbox watcher all
use this rule; a run asked for a wave (``collab run --wave``, a deployment run with ``wave``)
builds that wave, and the site shows it until the watcher next has work (new exports, a wave
closing, changed data).

**An interrupted run is finished later** (:func:`unfinished_work`). Each run records what it
finished in ``.collab/stages/`` (per wave: ingest, reliability, benchmark, reports, each with
the store fingerprint it was computed from; and ``site.json``: which wave ``tables/`` and
``reports/`` hold, and whether the run writing them finished). Every watcher tick, and the
one ``collab serve`` starts with, runs the analysis and the reports, even with an empty
inbox, when the site's wave has not been reported from the data now stored (new data, a
programme or code change, the wave just closed), when the last run writing the site did not
finish, or when ``tables/`` or ``reports/`` are missing. The analysis itself is cached, so
finishing an interrupted run does not compute again what it had computed.

**Failed exports fail the run.** An export that cannot be ingested is moved to
``inbox/failed/<wave>/`` with the reason; the run still analyses and reports everything
stored, then ends in Prefect's Failed state (so failure notifications fire) with a message
naming the failed files. Called as a function, the flow raises :class:`ExportsFailed`, whose
``result`` is what the run returned otherwise.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Failed

from collab_stats.errors import CollabStatsError
from collab_stats.programme import Programme

from .analysis_flow import benchmark_wave, check_reliability, scalar_invariance
from .artifacts import characteristic_table, publish, wave_summary_markdown
from .fetch_flow import fetch_wave, waves_due
from .fingerprint import wave_fingerprint
from .ingest_flow import ingest_wave
from .report_flow import render_reports
from .store import WaveStore
from .workspace import (
    Workspace,
    inbox_settle_seconds,
    read_site,
    read_stages,
    record_site,
    record_stage,
    scan_inbox,
)

__all__ = ["ExportsFailed", "rebuild_reports", "reset_stage_times", "run_programme", "run_wave",
           "site_wave", "stage_times", "unfinished_work", "watch_inbox"]

#: A manual run waits up to this many settle times for exports still being copied in.
COPY_WAIT_SETTLES = 3


class ExportsFailed(CollabStatsError):
    """One or more exports could not be ingested (each is in ``inbox/failed/<wave>/`` with
    the reason). ``result`` is what the run returned otherwise (the analysis and reports of
    everything stored), or None when nothing could be analysed."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result

    def __reduce__(self):
        return type(self), (str(self), self.result)


def latest_stored_wave(ws: Workspace, waves: list[str]) -> str:
    """The last wave (programme order) with stored data."""
    stored = set(WaveStore(ws.store).wave_ids())
    present = [w for w in waves if w in stored]
    if not present:
        raise CollabStatsError(f"{ws.store}: no wave has been ingested yet; drop exports in "
                               f"{ws.inbox}/<wave>/ and run again")
    return present[-1]


def site_wave(ws: Workspace, programme: Programme, today: dt.date | None = None) -> str:
    """The wave the report site shows: the latest wave (programme order) with stored data
    whose window has closed by ``today`` (default: today), i.e. whose ``closes`` date is
    before it; when no stored wave has closed yet, the latest stored wave. See the module
    documentation for why."""
    today = dt.date.today() if today is None else today
    stored = set(WaveStore(ws.store).wave_ids())
    present = [w for w in programme.waves if w.id in stored]
    if not present:
        raise CollabStatsError(f"{ws.store}: no wave has been ingested yet; drop exports in "
                               f"{ws.inbox}/<wave>/ and run again")
    closed = [w.id for w in present if w.closes < today]
    return closed[-1] if closed else present[-1].id


def unfinished_work(ws: Workspace, programme: Programme,
                    today: dt.date | None = None) -> str | None:
    """Why the site must be built again (analysis and reports of :func:`site_wave`), or None
    when it is up to date: the last run writing ``tables/`` and ``reports/`` did not finish,
    one of them is missing, or the site's wave has not been reported from the data now
    stored (see the module documentation). None when nothing is stored."""
    if not WaveStore(ws.store).wave_ids():
        return None
    wave = site_wave(ws, programme, today)
    site = read_site(ws)
    if site and not site.get("finished"):
        return (f"the last run writing the site (wave {site.get('wave', 'unknown')}, started "
                f"{site.get('started', 'at an unknown time')}) did not finish")
    reported = read_stages(ws, wave).get("reports", {})
    if reported.get("fingerprint") != wave_fingerprint(ws, wave, list(programme.wave_ids)):
        if not reported:
            return f"wave {wave} has not been reported yet"
        return (f"the stored data, programme or code of wave {wave} changed since its reports "
                "were built")
    if not ((ws.tables / "benchmark" / "summaries.parquet").is_file()
            and (ws.reports / "index.html").is_file()):
        return "the tables or the reports are missing"
    return None


def _holder(flow_name: str) -> str:
    """The flow and its run, for the workspace lock's record."""
    from prefect.runtime import flow_run

    name = flow_run.name
    return f"{flow_name} (flow run {name!r}, id {flow_run.id})" if name else flow_name


@contextmanager
def _writing(ws: Workspace, flow_name: str) -> Iterator[None]:
    """Hold the workspace lock (waiting for it; see the module documentation)."""
    logger = get_run_logger()
    with ws.writer_lock(_holder(flow_name), on_wait=logger.info):
        yield


def _wait_for_copies(ws: Workspace, waves: list[str]) -> None:
    """Wait (a few seconds at most) for exports still being copied into the inbox to
    settle, so that a run started just after a copy takes them; log those left."""
    settle = inbox_settle_seconds()
    deadline = time.monotonic() + COPY_WAIT_SETTLES * settle
    while True:
        waiting = scan_inbox(ws, waves).waiting
        pending = [w.settles_in for w in waiting if w.settles_in is not None]
        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            break
        time.sleep(min(max(pending) + 0.05, remaining))
    if waiting:
        get_run_logger().warning(
            "Left in the inbox for the next run (may still be being written): "
            + "; ".join(f"{w.path.relative_to(ws.inbox)} ({w.reason})" for w in waiting))


def _ingest(ws: Workspace, programme: Programme, waves: list[str]) -> list[dict]:
    """Ingest the inbox for ``waves``, recording the ingest stage of each wave that had
    exports waiting."""
    ingested = []
    for wave in waves:
        with _timed("ingest"):
            rows = ingest_wave(ws.root, wave)
        if rows:
            record_stage(ws, wave, "ingest",
                         fingerprint=wave_fingerprint(ws, wave, list(programme.wave_ids)),
                         files=len(rows), failed=sum(r["status"] == "failed" for r in rows))
        ingested += rows
    return ingested


def _failure_message(failed: list[dict], not_fetched: list[dict] | None = None) -> str:
    from .exit_codes import one_line

    parts = []
    if not_fetched:
        parts.append(f"{len(not_fetched)} source(s) could not be fetched: "
                     + "; ".join(_shorten(one_line(row["error"]), 300) for row in not_fetched))
    if failed:
        reasons = "; ".join(f"{row['file']} (wave {row['wave']}): "
                            f"{_shorten(one_line(row.get('error') or 'failed'))}"
                            for row in failed)
        parts.append(f"{len(failed)} export(s) could not be ingested (moved to "
                     f"inbox/failed/<wave>/ with the reason beside each): {reasons}")
    return "; ".join(parts)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _wave_run_name() -> str:
    from prefect.runtime import flow_run

    return f"run-{flow_run.parameters.get('wave') or 'due'}"


@flow(name="run-wave", flow_run_name=_wave_run_name)
def run_wave(workspace: Path, wave: str | None = None, pdf: bool | None = None,
             reports: bool = True, dask: bool = False, dask_address: str | None = None) -> dict:
    """Ingest ``wave``'s new exports, check the instrument, benchmark and render the
    reports; returns what was ingested and where the report index is.

    ``wave`` None (what the scheduled deployment passes): ingest the inbox for every wave
    and run the wave the site shows (:func:`site_wave`), as :func:`run_programme` does.
    Ends Failed (raises :class:`ExportsFailed`) when an export could not be ingested."""
    ws = Workspace.at(workspace).check()
    programme, _ = ws.load()
    with _writing(ws, "run-wave"):
        if wave is None:
            fetched = _fetch(ws, programme, waves_due(ws, programme))
            _wait_for_copies(ws, list(programme.wave_ids))
            return _programme(ws, programme, pdf, reports, dask, dask_address, fetched)
        fetched = _fetch(ws, programme, [wave])
        _wait_for_copies(ws, list(programme.wave_ids))
        ingested = _ingest(ws, programme, [wave])
        return _conclude(ws, programme, wave, ingested, pdf, reports, dask, dask_address,
                         fetched)


@flow(name="run-programme", flow_run_name="run-programme")
def run_programme(workspace: Path, pdf: bool | None = None, reports: bool = True,
                  dask: bool = False, dask_address: str | None = None,
                  wait_for_copies: bool = True, fetch: bool = False) -> dict:
    """Ingest the inbox for every wave, then analyse and report the wave the site shows
    (:func:`site_wave`). ``wait_for_copies``: first wait a few seconds for exports still
    being copied in (the watcher, which leaves them for its next tick, passes False).
    ``fetch``: first fetch the waves due from their API sources
    (:func:`pipelines.fetch_flow.waves_due`; ``collab run`` does, the watcher does not).
    Ends Failed (raises :class:`ExportsFailed`) when an export could not be ingested or a
    source could not be fetched."""
    ws = Workspace.at(workspace).check()
    programme, _ = ws.load()
    with _writing(ws, "run-programme"):
        fetched = _fetch(ws, programme, waves_due(ws, programme)) if fetch else []
        if wait_for_copies:
            _wait_for_copies(ws, list(programme.wave_ids))
        return _programme(ws, programme, pdf, reports, dask, dask_address, fetched)


def _fetch(ws: Workspace, programme: Programme, waves: list[str]) -> list[dict]:
    """Fetch the API sources of ``waves`` into the inbox (:func:`fetch_wave`); the rows."""
    waves = [w for w in waves if w in programme.wave_ids and programme.wave(w).fetched_sources]
    if not waves:
        return []
    with _timed("fetch"):
        return [row for wave in waves for row in fetch_wave(ws.root, wave)]


#: Seconds spent in each stage of the current run (see :func:`_timed`), in stage order.
_TIMINGS: dict[str, float] = {}


@contextmanager
def _timed(stage: str) -> Iterator[None]:
    """Add the time the block takes to the current run's ``stage`` (what ``collab run`` and
    the demo print at the end: :func:`stage_times`)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _TIMINGS[stage] = _TIMINGS.get(stage, 0.0) + time.perf_counter() - started


def stage_times() -> dict[str, float]:
    """Seconds per stage (fetch, ingest, psychometrics, benchmark, reports) of the runs in
    this process since the last :func:`reset_stage_times`."""
    return dict(_TIMINGS)


def reset_stage_times() -> None:
    """Start counting stage times afresh (``collab run`` and the demo do, before a run)."""
    _TIMINGS.clear()


def _programme(ws: Workspace, programme: Programme, pdf: bool | None, reports: bool,
               dask: bool, dask_address: str | None, fetched: list[dict] | None = None):
    waves = list(programme.wave_ids)
    found = scan_inbox(ws, waves).found
    ingested = _ingest(ws, programme, list(dict.fromkeys(f.wave for f in found)))
    failed = [row for row in ingested if row["status"] == "failed"]
    not_fetched = [row for row in fetched or [] if row["status"] == "failed"]
    if (failed or not_fetched) and not WaveStore(ws.store).wave_ids():
        raise ExportsFailed(_failure_message(failed, not_fetched) + "; nothing is stored yet, "
                            "so nothing was analysed")
    wave = site_wave(ws, programme)
    return _conclude(ws, programme, wave, ingested, pdf, reports, dask, dask_address, fetched)


def _conclude(ws: Workspace, programme: Programme, wave: str, ingested: list[dict],
              pdf: bool | None, reports: bool, dask: bool, dask_address: str | None,
              fetched: list[dict] | None = None):
    """Analyse and report ``wave``; the run's result, or its Failed state when an export
    could not be ingested or a source could not be fetched."""
    fetched = fetched or []
    not_fetched = [row for row in fetched if row["status"] == "failed"]
    if not_fetched and wave not in WaveStore(ws.store).wave_ids():
        raise ExportsFailed(_failure_message([], not_fetched) + f"; wave {wave} has nothing "
                            "stored, so nothing was analysed")
    result = _analyse_and_report(ws, programme, wave, ingested, pdf, reports, dask,
                                 dask_address)
    result["fetched"] = fetched
    failed = [row for row in ingested if row["status"] == "failed"]
    if failed or not_fetched:
        message = _failure_message(failed, not_fetched)
        return Failed(message=message, data=ExportsFailed(message, result))
    return result


def _analyse_and_report(ws: Workspace, programme: Programme, wave: str, ingested: list[dict],
                        pdf: bool | None, reports: bool, dask: bool,
                        dask_address: str | None) -> dict:
    key = wave_fingerprint(ws, wave, list(programme.wave_ids))
    record_site(ws, wave=wave, fingerprint=key, started=True, finished=None)
    with _timed("psychometrics"):
        psychometrics = check_reliability(ws.root, wave, dask=dask, dask_address=dask_address)
    record_stage(ws, wave, "reliability", fingerprint=key)
    with _timed("benchmark"):
        benchmark = benchmark_wave(ws.root, wave, scalar_invariance(psychometrics), dask=dask,
                                   dask_address=dask_address)
    record_stage(ws, wave, "benchmark", fingerprint=key)
    index = None
    if reports:
        with _timed("reports"):
            index = render_reports(ws.root, wave, pdf=pdf, dask=dask,
                                   dask_address=dask_address)
        record_stage(ws, wave, "reports", fingerprint=key, index=index)
        record_site(ws, finished=True)
    publish(wave, wave_summary_markdown(wave, ingested, psychometrics, benchmark,
                                        programme.disclosure_threshold),
            characteristic_table(benchmark, wave))
    return {"wave": wave, "ingested": ingested, "psychometrics": psychometrics,
            "benchmark": benchmark, "index": index}


@flow(name="watch-inbox", flow_run_name="watch-inbox")
def watch_inbox(workspace: Path, pdf: bool | None = None) -> dict:
    """Run the programme when new exports wait in the inbox, or when an earlier run left the
    site unfinished (:func:`unfinished_work`); otherwise do nothing.

    Files that cannot be placed in a wave are moved to ``inbox/failed/`` with the reason;
    files that may still be being written are left for the next tick (``waiting`` in the
    result). When another run holds the workspace lock the tick is skipped. Ends Failed
    (raises :class:`ExportsFailed`) when an export could not be ingested."""
    ws = Workspace.at(workspace).check()
    with ws.writer_lock(_holder("watch-inbox"), wait=False) as acquired:
        if not acquired:
            return {"status": "skipped: another run is processing the inbox"}
        programme, _ = ws.load()
        scan = scan_inbox(ws, list(programme.wave_ids))
        for path, reason in scan.unplaced:
            _reject(ws, path, reason)
        waiting = {"waiting": [str(w.path.relative_to(ws.inbox)) for w in scan.waiting]
                   } if scan.waiting else {}
        if scan.waiting:
            get_run_logger().info("Left for the next tick (may still be being written): "
                                  + ", ".join(waiting["waiting"]))
        if scan.found:
            status, summary = "processed", {"files": len(scan.found)}
        else:
            reason = unfinished_work(ws, programme)
            if reason is None:
                status = (f"waiting for {len(scan.waiting)} file(s) still being written"
                          if scan.waiting else "nothing new")
                return {"status": status, "rejected": len(scan.unplaced), **waiting}
            get_run_logger().info(f"Finishing the site: {reason}")
            status, summary = f"resumed: {reason}", {"files": 0}
        state = run_programme(ws.root, pdf=pdf, wait_for_copies=False, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, ExportsFailed) and outcome.result is not None:
            outcome = outcome.result
        elif isinstance(outcome, BaseException):
            raise outcome
        result = {"status": status, **summary, "rejected": len(scan.unplaced),
                  "wave": outcome["wave"], "index": outcome["index"], **waiting}
        if state.is_failed():
            return Failed(message=state.message, data=ExportsFailed(state.message, result))
        return result


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
    ws = Workspace.at(workspace).check()
    with _writing(ws, "rebuild-reports"):
        site = read_site(ws)
        record_site(ws, started=True, finished=None)
        index = render_reports(ws.root, wave, pdf=pdf, dask=dask, dask_address=dask_address,
                               comparator=comparator)
        if site.get("wave") and site.get("fingerprint") and wave in (None, site["wave"]):
            record_stage(ws, site["wave"], "reports", fingerprint=site["fingerprint"],
                         index=index)
        record_site(ws, finished=True)
        return index
