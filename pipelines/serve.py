"""Scheduled operation in one command: a local Prefect server for a workspace, and the
workspace's three deployments served from this process.

``serve_workspace`` starts ``prefect server start`` (its database in the workspace's
``.prefect/``; or uses a server already answering at the port), registers

* ``run-wave/wave-run``: the wave run, quarterly by default (cron, Europe/London), and once
  at 06:00 the day after each wave that fetches from a survey platform closes
  (:func:`close_schedules`); scheduled runs leave ``wave`` empty, meaning: fetch the waves
  due, then analyse the latest wave whose window has closed;
* ``watch-inbox/inbox-watcher``: the inbox watcher, every 5 minutes by default;
* ``rebuild-reports/rebuild-reports``: the report rebuild, on demand,

and runs their flow runs here until Ctrl-C, which pauses the schedules and stops the server.
These are the deployments of ``prefect.yaml`` (same names, flows, schedules and parameters),
which a process worker can run instead. Everything stays offline: analytics off, no
downloads; the server's dashboard is served from the installed package.

On start it tidies up after a previous ``collab serve`` that was stopped mid-run: this
workspace's flow runs still "Running" or "Pending" are marked Crashed
(:func:`mark_interrupted_runs`: only when no run holds the workspace lock, so a live run is
never marked), and the inbox watcher runs at once, which finishes what the interrupted run
left undone (:func:`pipelines.flows.unfinished_work`).

Prefect is imported only after :func:`pipelines.environment.configure` has pointed it at the
workspace; the server's address reaches it through ``temporary_settings`` (and the flow-run
processes through ``PREFECT_API_URL``). Flow-run logs are shown at INFO unless
``PREFECT_LOGGING_LEVEL`` says otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from collab_stats.errors import CollabStatsError

from .environment import configure
from .workspace import Workspace, same_workspace

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = ["DEFAULT_WAVE_CRON", "close_schedules", "deployment_specs", "mark_interrupted_runs", "serve_workspace"]

DEFAULT_WAVE_CRON = "0 6 1 1,4,7,10 *"
"""06:00 on the first day of January, April, July and October."""
DEFAULT_TIMEZONE = "Europe/London"
SERVER_START_TIMEOUT = 120.0
#: At most this many flow runs are read (and marked Crashed) when serving starts.
INTERRUPTED_RUNS_LIMIT = 200


def deployment_specs(workspace: str | Path, wave_cron: str | None = DEFAULT_WAVE_CRON,
                     inbox_interval: int | None = 300,
                     timezone: str = DEFAULT_TIMEZONE) -> list[RunnerDeployment]:
    """The workspace's deployments, ready for :func:`prefect.serve` (nothing is started).

    ``wave_cron`` None makes the wave run on demand only; ``inbox_interval`` (seconds, at
    least 10) None does the same for the inbox watcher. Entrypoints are module paths
    (``pipelines.flows.run_wave``), so the runs work from any working directory."""
    from prefect.deployments.runner import EntrypointType

    from .flows import rebuild_reports, run_wave, watch_inbox

    ws = Workspace.at(workspace).check()
    wave_schedules, inbox_schedules = _schedules(wave_cron, inbox_interval, timezone)
    if wave_cron is not None:
        programme, _ = ws.load()
        wave_schedules += close_schedules(programme, timezone)
    parameters = {"workspace": str(ws.root)}
    common = {"parameters": parameters, "entrypoint_type": EntrypointType.MODULE_PATH,
              "tags": ["collab-stats", ws.root.name]}
    return [
        run_wave.to_deployment(
            name="wave-run", schedules=wave_schedules, **common,
            description="The wave run: ingest, check the instrument, benchmark, reports. "
            "Scheduled runs analyse the latest wave whose window has closed."),
        watch_inbox.to_deployment(
            name="inbox-watcher", schedules=inbox_schedules, **common,
            description=f"Run the pipeline when new exports wait in {ws.inbox}."),
        rebuild_reports.to_deployment(
            name="rebuild-reports", schedules=[], **common,
            description="Render the report site again from the workspace's tables."),
    ]


def close_schedules(programme, timezone: str = DEFAULT_TIMEZONE,
                    today: date | None = None) -> list:
    """One run of the wave run at 06:00 on the day after each wave that fetches from a survey
    platform closes (waves closing today or later), so the scheduled run fetches its
    responses as soon as its window has closed (:func:`pipelines.fetch_flow.waves_due`)."""
    from prefect.schedules import RRule

    today = date.today() if today is None else today
    schedules = []
    for wave in programme.waves:
        if wave.fetched_sources and wave.closes >= today:
            start = wave.closes + timedelta(days=1)
            schedules.append(RRule(f"DTSTART:{start:%Y%m%d}T060000\nRRULE:FREQ=DAILY;COUNT=1",
                                   timezone=timezone, slug=f"close-{wave.id}"[:64]))
    return schedules


def _schedules(wave_cron: str | None, inbox_interval: int | None,
               timezone: str) -> tuple[list, list]:
    """The wave run's and the inbox watcher's schedules; a clear error for a bad option."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from prefect.schedules import Cron, Interval

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CollabStatsError(f"timezone: {timezone!r} is not an IANA time zone name "
                               "(e.g. 'Europe/London')") from None
    if inbox_interval is not None and (isinstance(inbox_interval, bool)
                                       or not isinstance(inbox_interval, int)
                                       or inbox_interval < 10):
        raise CollabStatsError(f"inbox_interval: expected a whole number of seconds, at least "
                               f"10 (or None for no schedule), got {inbox_interval!r}")
    wave_schedules = []
    if wave_cron is not None:
        try:
            wave_schedules = [Cron(wave_cron, timezone=timezone)]
        except ValueError as exc:
            raise CollabStatsError(f"wave_cron: {wave_cron!r} is not a valid cron expression "
                                   "(five fields: minute hour day-of-month month "
                                   f"day-of-week): {exc}") from None
    inbox_schedules = ([Interval(inbox_interval, timezone=timezone)]
                       if inbox_interval is not None else [])
    return wave_schedules, inbox_schedules


def serve_workspace(workspace: str | Path, *, port: int = 4200,
                    wave_cron: str | None = DEFAULT_WAVE_CRON, inbox_interval: int | None = 300,
                    timezone: str = DEFAULT_TIMEZONE) -> None:
    """Start (or reuse) a local Prefect server for ``workspace`` and serve its deployments
    until interrupted (Ctrl-C or SIGTERM): schedules are then paused and a server started
    here is stopped. The server's log is ``<workspace>/.prefect/server.log``."""
    ws = Workspace.at(workspace).check()
    if not 1 <= port <= 65535:
        raise CollabStatsError(f"port: expected 1-65535, got {port}")
    ui_setting = os.environ.get("PREFECT_UI_ENABLED", "true")
    given_api = os.environ.get("PREFECT_API_URL")
    # A service shows what its runs do (here and in the UI), unless told otherwise.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    home = configure(ws.root)
    _schedules(wave_cron, inbox_interval, timezone)  # fail before starting anything
    url = given_api.rstrip("/").removesuffix("/api") if given_api else f"http://127.0.0.1:{port}"
    previous = signal.signal(signal.SIGTERM, _interrupt)  # so `finally` runs on SIGTERM too
    server = None
    try:
        if server_is_healthy(url):
            print(f"Using the Prefect server already running at {url}.")
        elif given_api:
            raise CollabStatsError(f"PREFECT_API_URL is {given_api}, but no Prefect server "
                                   "answers there; unset it to start a local server")
        else:
            server = start_server(home, port, ui_enabled=ui_setting)
            print(f"Starting a Prefect server at {url} (log: {home / 'server.log'})...",
                  flush=True)
            wait_for_server(url, server, home / "server.log")
        _serve(ws, url, wave_cron, inbox_interval, timezone)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            stop_server(server)
            print(f"Prefect server at {url} stopped.")
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(ws: Workspace, url: str, wave_cron: str | None, inbox_interval: int | None,
           timezone: str) -> None:
    started = datetime.now(UTC)
    os.environ["PREFECT_API_URL"] = f"{url}/api"  # inherited by the flow-run processes
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"{url}/api"}):
        deployments = deployment_specs(ws.root, wave_cron, inbox_interval, timezone)
        print(describe(deployments, ws, url))
        _tidy_up_after_an_interrupted_serve(ws, started, deployments)
        serve(*deployments, print_starting_message=False)
    print("Stopped serving; the schedules are paused until the next `collab serve`.")


def _tidy_up_after_an_interrupted_serve(ws: Workspace, started: datetime,
                                        deployments: Sequence[RunnerDeployment]) -> None:
    """Mark the runs an earlier serve left "Running" as Crashed, and start the inbox watcher
    now (it finishes what they left undone). Best effort: a failure is reported, not
    raised, and serving goes on."""
    try:
        marked = mark_interrupted_runs(ws, before=started)
    except Exception as exc:  # a server that answers slowly must not stop serving
        print(f"Could not check for interrupted runs ({type(exc).__name__}: {exc}); "
              "carrying on.")
    else:
        if marked:
            print(f"Marked {len(marked)} run(s) left running by an earlier process as Crashed: "
                  + ", ".join(marked))
    try:
        watcher = next(d for d in deployments if d.name == "inbox-watcher")
        deployment_id = watcher.apply()
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.create_flow_run_from_deployment(deployment_id)
        print("The inbox watcher runs now: it finishes any run left unfinished.")
    except Exception as exc:
        print(f"Could not start the inbox watcher now ({type(exc).__name__}: {exc}); it "
              "runs at its next scheduled time.")


def mark_interrupted_runs(ws: Workspace, *, before: datetime,
                          limit: int = INTERRUPTED_RUNS_LIMIT) -> list[str]:
    """Mark this workspace's flow runs that are still "Running" or "Pending" and started
    (or were created) before ``before`` as Crashed; returns their names.

    Such runs were left by a process that stopped mid-run (``collab serve`` stopped or
    killed): their state never changes again. A run is this workspace's when its
    ``workspace`` parameter is this folder (the top-level runs and their subflows). Nothing
    is marked while a run holds the workspace lock, since a live run may then be among them
    (:meth:`Workspace.writer_lock`: the operating system releases the lock of a process
    that ended). At most ``limit`` runs are read; uses the current Prefect API."""
    if ws.lock_holder() is not None:
        return []
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    state_filter = FlowRunFilterState(type=FlowRunFilterStateType(
        any_=[StateType.RUNNING, StateType.PENDING]))
    marked = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=state_filter),
                                     limit=limit)
        for run in runs:
            if not same_workspace(run.parameters.get("workspace"), ws.root):
                continue
            since = run.start_time or run.created
            if since is not None and since >= before:
                continue
            state_name = run.state.name if run.state else "Running"
            client.set_flow_run_state(run.id, Crashed(
                message=f"Still {state_name} when collab serve started again at "
                        f"{before:%Y-%m-%d %H:%M:%S %Z}: the process running it had stopped "
                        "(an interrupted collab serve); the inbox watcher finishes the work"),
                force=True)
            marked.append(run.name)
    return marked


def describe(deployments: Sequence[RunnerDeployment], ws: Workspace, url: str) -> str:
    """What is served and when it runs next, for the console."""
    lines = [f"Prefect UI: {url}  (API {url}/api; data in {os.environ.get('PREFECT_HOME')})",
             f"Serving the deployments of workspace {ws.root}:"]
    for deployment in deployments:
        name = f"{deployment.flow_name}/{deployment.name}"
        if deployment.schedules:
            schedule = deployment.schedules[0].schedule
            when = _schedule_text(schedule)
            upcoming = next_run_times(schedule, 1)
            nxt = f"; next {upcoming[0]:%Y-%m-%d %H:%M %Z}" if upcoming else ""
            lines.append(f"  {name:<34} {when}{nxt}")
        else:
            lines.append(f"  {name:<34} on demand")
    lines += [
        "Run one now, from another terminal:",
        f"  PREFECT_API_URL={url}/api prefect deployment run 'rebuild-reports/rebuild-reports'",
        f"  PREFECT_API_URL={url}/api prefect deployment run 'run-wave/wave-run' "
        "--param wave=<wave id>",
        "Drop exports in " + str(ws.inbox) + "/<wave>/; Ctrl-C stops serving and the server.",
    ]
    return "\n".join(lines)


def next_run_times(schedule, n: int, start: datetime | None = None) -> list[datetime]:
    """The next ``n`` run times of a client schedule (cron or interval), as the server's
    scheduler computes them, in the schedule's timezone."""
    from prefect.server.schemas import schedules as server_schedules

    server_type = getattr(server_schedules, type(schedule).__name__)
    server_schedule = server_type.model_validate(schedule.model_dump())
    return list(asyncio.run(server_schedule.get_dates(n=n, start=start)))


def _schedule_text(schedule) -> str:
    if getattr(schedule, "cron", None):
        return f"cron '{schedule.cron}' ({schedule.timezone})"
    seconds = int(schedule.interval.total_seconds())
    return f"every {seconds} s"


# --- the server subprocess -------------------------------------------------------------------

def server_is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect server answers ``GET {url}/api/health``."""
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_server(home: Path, port: int, *, ui_enabled: str = "true") -> subprocess.Popen:
    """``prefect server start`` on 127.0.0.1:``port`` with ``PREFECT_HOME=home``, logging to
    ``home/server.log``. Its own session, so Ctrl-C reaches this process first, which then
    pauses the schedules before stopping the server."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({"PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": ui_enabled,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    with open(home / "server.log", "ab") as log:  # the server keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_for_server(url: str, server: subprocess.Popen, log: Path,
                    timeout: float = SERVER_START_TIMEOUT) -> None:
    """Wait until the server answers; raise (one line, with the last line of its log) if it
    exits or times out (a busy port, a broken database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_is_healthy(url):
            return
        if server.poll() is not None:
            break
        time.sleep(0.25)
    stop_server(server)
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    last = f": {lines[-1].strip()}" if lines else ""
    raise CollabStatsError(
        f"the Prefect server did not start at {url} within {timeout:.0f} s (is the port in "
        f"use? try --port); the end of its log, {log}{last}")


def stop_server(server: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
