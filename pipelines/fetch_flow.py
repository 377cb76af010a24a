"""Flow: fetch a wave's responses from the survey platforms its sources name, into the inbox.

``fetch_wave`` fetches every API source of one wave (``redcap``, ``qualtrics``,
``surveymonkey`` in the programme file's ``sources``; see :mod:`pipelines.fetch`), each as its
own task, and writes each export into ``inbox/<wave>/`` with its provenance, where the
ingest picks it up like a dropped export. A source that fails (a credential missing or
refused, a survey that does not exist, a download cut short) does not stop the others: its
row says ``failed`` with a one-line error, and nothing of it is written. Network errors and
HTTP 429/5xx are retried inside the fetch (:mod:`pipelines.fetch.http`), so the task itself
is not retried.

``run_wave`` calls it before ingesting: for the wave asked for, or, in the scheduled run
(no wave given), for every wave due (:func:`waves_due`): its window has closed and it has
not been fetched since. ``collab fetch --wave W`` runs it by hand, at any time (e.g. again
after late responses: the new export replaces the source's rows in the store).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task

from collab_stats.programme import Programme

from .fetch import FetchError, fetch_source
from .progress import current
from .progress import stage as progress_stage
from .workspace import Workspace, read_stages, record_stage

__all__ = ["fetch_wave", "waves_due"]


@task(name="fetch-source", task_run_name="fetch-{source_name}", retries=0)
def fetch_one(workspace: Path, wave: str, source_name: str) -> dict:
    """Fetch one source of ``wave`` into the inbox; a failure becomes a ``failed`` row."""
    ws = Workspace.at(workspace)
    programme, _ = ws.load()
    source = next(s for s in programme.wave(wave).sources if s.name == source_name)
    try:
        row = fetch_source(ws, programme, wave, source, progress=current())
    except FetchError as exc:
        return {"wave": wave, "source": source.name, "type": source.type, "status": "failed",
                "file": "", "responses": None, "error": str(exc)}
    return {**row, "status": "fetched", "error": ""}


@flow(name="fetch-wave", flow_run_name="fetch-{wave}")
def fetch_wave(workspace: Path, wave: str) -> list[dict]:
    """Fetch every API source of ``wave`` into the workspace's inbox (see the module
    documentation). Returns one row per source: ``source``, ``type``, ``status`` (fetched or
    failed), ``file``, ``responses``, ``identifiers``, ``error``. A wave whose sources are all
    the inbox returns no rows."""
    ws = Workspace.at(workspace).check()
    programme, _ = ws.load()
    if wave not in programme.wave_ids:
        raise FetchError(f"wave {wave!r} is not in {ws.programme_file} (waves: "
                         f"{', '.join(programme.wave_ids)})")
    sources = programme.wave(wave).fetched_sources
    if not sources:
        return []
    logger = get_run_logger()
    rows = []
    # The workspace lock (re-entrant: a wave run already holds it) keeps two fetches of a
    # wave, or a fetch and a run recording its stages, from crossing.
    with ws.writer_lock(f"fetch-wave {wave}", on_wait=logger.info):
        for source in sources:
            progress_stage(f"fetch {source.name}")
            row = fetch_one(ws.root, wave, source.name)
            if row["status"] == "fetched":
                logger.info("Fetched %s: %s response(s) into %s", row["source"],
                            "?" if row["responses"] is None else row["responses"], row["file"])
            else:
                logger.warning(row["error"])
            rows.append(row)
        record_stage(ws, wave, "fetch", fingerprint="", sources=len(rows),
                     failed=sum(r["status"] == "failed" for r in rows))
    return rows


def waves_due(ws: Workspace, programme: Programme, today: dt.date | None = None) -> list[str]:
    """The waves the scheduled run fetches: those with API sources whose window has closed
    (the day after ``closes``) and that no fetch has completed for since then (one with a
    failed source counts as not fetched), in programme order."""
    today = dt.date.today() if today is None else today
    due = []
    for wave in programme.waves:
        if not wave.fetched_sources or today <= wave.closes:
            continue
        record = read_stages(ws, wave.id).get("fetch") or {}
        try:
            at = dt.datetime.fromisoformat(str(record.get("finished"))).date()
        except ValueError:
            at = None
        if at is None or at <= wave.closes or record.get("failed"):
            due.append(wave.id)
    return due
