"""Operating collab-stats: how a command ends on the machine's and the libraries' errors,
which failures a task retries, ``collab status`` as a pure reader (no writes, a read-only
workspace, the server of a running ``collab serve``, idle inbox-watcher runs counted not
listed), the Dask cluster's network exposure, what ``prefect deploy --all`` registers, and
the report flow's run name.

Fast tests run in-process without a Prefect server. Two start one on a free loopback port
(the server of ``collab serve``) and one runs ``collab status`` on a read-only mount (root
and ``unshare`` only); every process started is stopped by its id.
"""

from __future__ import annotations

import errno
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from processes import healthy as _healthy
from processes import stop as _stop

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError
from collab_stats.ingest.simulated import write_wave_export
from pipelines.cli import main
from pipelines.cli_workspace import (
    WATCHER_FLOW,
    RecentRuns,
    format_status,
    hide_idle_watcher_runs,
    idle_watcher_run,
    workspace_status,
)
from pipelines.environment import DEFAULTS
from pipelines.exit_codes import ExitCode, outcome
from pipelines.retry import IO_RETRIES, TRANSIENT_ERRNOS, is_transient, retry_on_io
from pipelines.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parents[1]
WAVE = "2025-03"


@pytest.fixture(autouse=True)
def prefect_environment(tmp_path, monkeypatch):
    """Prefect's home outside the workspaces (a test that needs the workspace's own sets
    it), the settings configure() would fill in, no COLLAB_DEBUG, no PREFECT_API_URL."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    for key, value in DEFAULTS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("COLLAB_DEBUG", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.fixture
def no_api():
    """No Prefect API in the settings (the session's test server may be running), so a
    command finds its server as it would from a terminal."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=11, n_collaborations=4, n_waves=2)


@pytest.fixture
def stored(sim, tmp_path, capsys) -> Workspace:
    """A workspace with wave 2025-03 ingested into its store (no Prefect run)."""
    ws = init_workspace(tmp_path / "ws", programme=sim.programme)
    write_wave_export(sim, WAVE, "qualtrics", ws.inbox / WAVE)
    export = ws.inbox / WAVE / f"{WAVE}-qualtrics.csv"
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root)]) == 0
    capsys.readouterr()
    return ws


def _one_line(capsys, prefix: str = "collab: error: ") -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(prefix), err
    assert "Traceback" not in err
    return err.rstrip("\n")


# --- exit codes: the machine's and the libraries' errors -----------------------------------------

def _pyarrow_error() -> Exception:
    import pyarrow as pa

    return pa.ArrowInvalid("Parquet magic bytes not found in footer. Either the file is "
                           "corrupted or this is not a parquet file.")


def _unicode_error() -> Exception:
    try:
        b"caf\xe9".decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


def _sqlite_error() -> Exception:
    import sqlite3

    return sqlite3.OperationalError("attempt to write a readonly database")


def _httpx_error() -> Exception:
    import httpx

    return httpx.ConnectError("All connection attempts failed")


def _exports_failed() -> Exception:
    from pipelines.flows import ExportsFailed

    return ExportsFailed("1 export(s) could not be ingested (moved to inbox/failed/<wave>/ "
                         "with the reason beside each): junk.csv (wave 2025-03): no mapping")


def _termination() -> BaseException:
    from prefect.exceptions import TerminationSignal

    return TerminationSignal(signal.SIGTERM)


@pytest.mark.parametrize(("make", "code", "text"), [
    (lambda: OSError(errno.EIO, "Input/output error", "/ws/store/manifest.json"), 2,
     "collab: error: /ws/store/manifest.json: Input/output error"),
    (lambda: NotADirectoryError(errno.ENOTDIR, "Not a directory", "/ws/store/waves"), 2,
     "/ws/store/waves: Not a directory"),
    (lambda: OSError(errno.ENOSPC, "No space left on device", "/ws/tables"), 2,
     "/ws/tables: No space left on device"),
    (_pyarrow_error, 2, "a damaged or unreadable data file"),
    (_unicode_error, 2, "a file is not text in the expected encoding"),
    (_sqlite_error, 2, "Prefect's database: attempt to write a readonly database"),
    (_httpx_error, 2, "cannot reach the Prefect server (ConnectError: All connection"),
    (lambda: RuntimeError("Failed to reach API at http://127.0.0.1:9/api/"), 2,
     "cannot reach the Prefect server"),
    (lambda: MemoryError(), 2, "collab: error: out of memory"),
    (_exports_failed, 1, "collab: error: 1 export(s) could not be ingested"),
    (lambda: ValueError("bad\nvalue"), 3,
     "collab: internal error: ValueError: bad; value (run with COLLAB_DEBUG=1"),
    (lambda: RuntimeError("boom"), 3, "collab: internal error: RuntimeError: boom"),
    (_termination, 130, "collab: interrupted"),
])
def test_each_error_ends_a_command_with_one_line_and_its_code(stored, capsys, monkeypatch,
                                                              make, code, text):
    def fail(ws):
        raise make()

    monkeypatch.setattr("pipelines.cli_workspace.workspace_status", fail)
    assert main(["status", "-w", str(stored.root), "--runs", "0"]) == code
    line = _one_line(capsys, prefix="collab: ")
    assert text in line


def test_an_invalid_prefect_setting_names_the_variable(monkeypatch):
    from prefect.settings import Settings

    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "loud")
    with pytest.raises(Exception) as info:
        Settings()
    code, line = outcome(info.value)
    assert code == ExitCode.ERROR
    assert line.startswith("collab: error: the Prefect setting PREFECT_LOGGING_LEVEL is not "
                           "valid: Input should be 'DEBUG'")


def test_an_unreachable_given_server_says_how_to_use_the_embedded_one(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    code, line = outcome(RuntimeError("Failed to reach API at http://127.0.0.1:9/api/"))
    assert code == ExitCode.ERROR
    assert "PREFECT_API_URL=http://127.0.0.1:9/api" in line
    assert "Unset PREFECT_API_URL to use the embedded server" in line


def test_a_demo_output_inside_a_file_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    monkeypatch.setattr("pipelines.environment.start_embedded_server", _no_server)
    assert main(["demo", "--output", str(a_file / "demo"), "--collaborations", "2"]) == 2
    line = _one_line(capsys)  # before anything is started
    assert line == (f"collab: error: {a_file / 'demo'}: Not a directory ({a_file} is a file, "
                    "where a folder is needed)")


def test_sigterm_ends_a_command_as_ctrl_c_does(stored, capsys, monkeypatch):
    def terminated(ws):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM was not handled")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr("pipelines.cli_workspace.workspace_status", terminated)
    assert main(["status", "-w", str(stored.root), "--runs", "0"]) == 130
    assert _one_line(capsys, prefix="collab: interrupted") == "collab: interrupted"
    assert signal.getsignal(signal.SIGTERM) is before  # restored


# --- retries: transient input/output only --------------------------------------------------------

TRANSIENT = [
    OSError(errno.EIO, "Input/output error", "/share/inbox/a.csv"),
    OSError(errno.EAGAIN, "Resource temporarily unavailable"),
    OSError(errno.EBUSY, "Device or resource busy", "/share"),
    OSError(errno.ESTALE, "Stale file handle", "/nfs/store"),
    OSError(errno.ETIMEDOUT, "Connection timed out"),
    OSError(errno.EINTR, "Interrupted system call"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    TimeoutError("timed out"),  # a socket time-out: no errno
]
PERMANENT = [
    NotADirectoryError(errno.ENOTDIR, "Not a directory", "/ws/store/waves"),
    IsADirectoryError(errno.EISDIR, "Is a directory", "/ws/programme.yaml"),
    FileExistsError(errno.EEXIST, "File exists", "/ws/store"),
    PermissionError(errno.EACCES, "Permission denied", "/ws/tables"),
    PermissionError(errno.EROFS, "Read-only file system", "/ws/tables"),
    FileNotFoundError(errno.ENOENT, "No such file or directory", "/ws/inbox/a.csv"),
    OSError(errno.ENOSPC, "No space left on device", "/ws/tables"),
    OSError("an OSError without an errno"),
    CollabStatsError("a bad export"),
    ValueError("a bug"),
]


class _State:
    """What Prefect hands ``retry_condition_fn``: a Failed state whose ``result()`` raises
    the task's exception."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def result(self, *args, **kwargs):
        raise self.exc


@pytest.mark.parametrize("exc", TRANSIENT, ids=repr)
def test_a_transient_io_error_is_retried(exc):
    from prefect.states import Failed

    assert is_transient(exc)
    assert retry_on_io(object(), object(), _State(exc)) is True
    # as Prefect's task engine builds the state (TaskRunEngine.can_retry)
    assert retry_on_io(object(), object(), Failed(data=exc)) is True


@pytest.mark.parametrize("exc", PERMANENT, ids=repr)
def test_a_permanent_error_is_not_retried(exc):
    from prefect.states import Failed

    assert not is_transient(exc)
    assert retry_on_io(object(), object(), _State(exc)) is False
    assert retry_on_io(object(), object(), Failed(data=exc)) is False


def test_the_retry_options_and_the_documented_errnos():
    from pipelines import retry

    assert IO_RETRIES["retries"] == 3 and IO_RETRIES["retry_delay_seconds"] == [1, 4, 16]
    assert IO_RETRIES["retry_condition_fn"] is retry_on_io
    for name in ("EAGAIN", "EBUSY", "ETIMEDOUT", "EIO", "ESTALE", "EINTR", "ECONNRESET"):
        assert getattr(errno, name) in TRANSIENT_ERRNOS
        assert name in retry.__doc__
    for name in ("ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "EACCES", "EPERM", "EROFS",
                 "ENOSPC"):
        assert getattr(errno, name) not in TRANSIENT_ERRNOS


# --- collab status only reads ------------------------------------------------------------------

def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its modification time and size."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            status = path.lstat()
            found[str(path.relative_to(root))] = (status.st_mtime_ns, status.st_size)
    return found


def test_status_writes_nothing_in_the_workspace(stored, no_api, tmp_path, capsys,
                                                monkeypatch):
    (stored.inbox / "2025-09").mkdir(exist_ok=True)
    (stored.inbox / "2025-09" / "late.csv").write_text("a,b\n1,2\n")
    before = _tree(stored.root)
    assert not (stored.root / ".prefect").exists()
    # Prefect's home outside the workspace, no database yet: no server is started.
    monkeypatch.setattr("pipelines.environment.start_embedded_server", _no_server)
    assert main(["status", "-w", str(stored.root)]) == 0
    out = capsys.readouterr().out
    assert "Recent runs (Prefect): no runs recorded yet" in out
    assert _tree(stored.root) == before
    # The workspace's own home (the default), not created yet: not created by status.
    monkeypatch.delenv("PREFECT_HOME")
    assert main(["status", "-w", str(stored.root)]) == 0
    assert _tree(stored.root) == before
    assert not (stored.root / ".prefect").exists()
    assert not (tmp_path / "prefect-home").exists()


def _no_server(*args, **kwargs):
    raise AssertionError("collab status started a Prefect server")


def test_status_says_why_a_read_only_database_is_not_read(stored, no_api, capsys,
                                                          monkeypatch):
    home = stored.root / ".prefect"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"")
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setattr("pipelines.environment.start_embedded_server", _no_server)
    real_access = os.access

    def read_only(path, mode, **kwargs):  # as a read-only mount (the tests may run as root)
        if mode & os.W_OK and str(path).startswith(str(stored.root)):
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", read_only)
    from prefect.settings import (
        PREFECT_HOME,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )

    # Prefect, imported already, read PREFECT_HOME then: here its database is the home's (also
    # when the test session's harness set a database URL of its own)
    with temporary_settings(updates={
            PREFECT_HOME: str(home),
            PREFECT_SERVER_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{home / 'prefect.db'}"}):
        assert main(["status", "-w", str(stored.root)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("Recent runs"))
    assert line.startswith(f"Recent runs (Prefect): not read: Prefect's database "
                           f"{home / 'prefect.db'} cannot be written here")
    assert "while `collab serve` runs for this workspace" in line


def _unshare_works() -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs root and unshare (a read-only mount)")
def test_status_of_a_read_only_workspace_shows_what_it_can(stored, tmp_path):
    home = stored.root / ".prefect"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"")  # as left by an earlier run
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({k: v for k, v in DEFAULTS.items()})
    script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
              'exec "$1" -m pipelines.cli status -w "$0"')
    started = time.monotonic()
    done = subprocess.run(["unshare", "-m", "sh", "-c", script, str(stored.root),
                           sys.executable], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60  # no wait for a server that cannot start
    out = done.stdout
    assert "Stored data not read (?): the wave store cannot be read without writing, and " \
           f"{stored.store / '.lock'} cannot be written: Read-only file system" in out
    row = next(line.split() for line in out.splitlines() if line.startswith(WAVE))
    assert row == [WAVE, "1.0", "?", "?", "?", "?", "1", "0"]  # collab ingest leaves it
    assert "Recent runs (Prefect): not read: Prefect's database" in out
    assert "Traceback" not in done.stderr


# --- collab status and the server of collab serve -----------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_server(stored, tmp_path):
    """A Prefect server started as ``collab serve`` starts it: 127.0.0.1, a free port,
    Prefect home the workspace's ``.prefect/``, its output in ``.prefect/server.log``."""
    home = stored.root / ".prefect"
    home.mkdir(exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_UI_ENABLED="false")
    with open(home / "server.log", "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.skip("the local Prefect server did not start: "
                            + (home / "server.log").read_text(errors="replace")[-800:])
            time.sleep(0.25)
        yield url
    finally:
        _stop(server)


def _record_runs(api: str, root: Path) -> None:
    """Runs as a served workspace records them, oldest first: a wave run; 7 idle watcher
    ticks; a watcher run that started the pipeline (a subflow); 2 idle ticks; a watcher
    run that failed; and another workspace's wave run."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Completed, Failed, Running

    @flow(name="run-wave")
    def wave_run(workspace: str, wave: str | None = None): ...

    @flow(name=WATCHER_FLOW)
    def watcher(workspace: str): ...

    @flow(name="run-programme")
    def programme(workspace: str): ...

    @task(name="run-programme")
    def subflow_parent(): ...

    here = {"workspace": str(root)}
    with temporary_settings(updates={PREFECT_API_URL: api}), \
            get_client(sync_client=True) as client:
        def run(flow_, name, parameters, end=None, parent=None):
            created = client.create_flow_run(flow_, name=name, parameters=parameters,
                                             parent_task_run_id=parent)
            client.set_flow_run_state(created.id, Running())
            if end is not None:
                client.set_flow_run_state(created.id, end)
            return created

        run(wave_run, "run-2025-03", {**here, "wave": WAVE}, Completed())
        for _ in range(7):
            run(watcher, "watch-inbox", here, Completed())
        working = run(watcher, "watch-inbox", here)
        parent = client.create_task_run(subflow_parent, flow_run_id=working.id,
                                        dynamic_key="0")
        run(programme, "run-programme", here, Completed(), parent=parent.id)
        client.set_flow_run_state(working.id, Completed())
        for _ in range(2):
            run(watcher, "watch-inbox", here, Completed())
        run(watcher, "watch-inbox", here, Failed(message="1 export(s) could not be ingested"))
        run(wave_run, "run-2025-03", {"workspace": str(root.parent / "other")}, Completed())


@pytest.mark.slow
def test_status_reads_the_runs_from_the_running_serve_server(stored, serve_server, no_api,
                                                             capsys, monkeypatch):
    api = f"{serve_server}/api"
    _record_runs(api, stored.root)
    monkeypatch.setenv("PREFECT_HOME", str(stored.root / ".prefect"))  # as collab serve's
    monkeypatch.setattr("pipelines.environment.start_embedded_server", _no_server)
    before = {k: v for k, v in _tree(stored.root).items() if not k.startswith(".prefect")}

    assert main(["status", "-w", str(stored.root)]) == 0
    out = capsys.readouterr().out
    runs = out.split("Recent runs (Prefect):\n")[1].splitlines()
    assert [line.split()[:2] for line in runs[:3]] == [
        ["watch-inbox", "Failed"], ["watch-inbox", "Completed"], ["run-2025-03", "Completed"]]
    assert runs[3] == "  (9 inbox-watcher run(s) that found nothing to do not listed)"
    assert runs[4] == f"  (read from the Prefect server at {api})"
    assert "PREFECT_API_URL" not in os.environ  # found for this command only

    assert main(["status", "-w", str(stored.root), "--runs", "2"]) == 0
    out = capsys.readouterr().out
    runs = out.split("Recent runs (Prefect):\n")[1].splitlines()
    assert [line.split()[:2] for line in runs[:2]] == [["watch-inbox", "Failed"],
                                                       ["watch-inbox", "Completed"]]
    assert runs[2] == ("  (2 inbox-watcher run(s) that found nothing to do since the oldest "
                       "listed not listed)")
    # the workspace itself is untouched (the server writes only its own .prefect/)
    assert {k: v for k, v in _tree(stored.root).items()
            if not k.startswith(".prefect")} == before


def test_a_server_of_another_prefect_home_is_not_used(tmp_path):
    """running_server checks the server's home before using it: a server answering on the
    port for another workspace (or none at all) is not this workspace's."""
    from pipelines import environment

    home = tmp_path / "ws" / ".prefect"
    home.mkdir(parents=True)
    port = _free_port()  # nothing listens there
    (home / "server.log").write_text(
        f"    prefect config set PREFECT_API_URL=http://127.0.0.1:{port}/api\n")
    assert environment._logged_api_urls(home / "server.log") == [
        f"http://127.0.0.1:{port}/api"]
    started = time.monotonic()
    assert environment.running_server(home, ports=(port,)) is None
    assert time.monotonic() - started < 5


# --- idle inbox-watcher runs are counted, not listed --------------------------------------------

def _run(name: str, minutes_ago: float, *, flow: str = WATCHER_FLOW, state: str = "Completed",
         message: str | None = None, started_work: bool | None = None) -> dict:
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC) - timedelta(minutes=minutes_ago)
    return {"name": name, "flow": flow, "state": state, "message": message, "start": start,
            "seconds": 0.4, "started_work": started_work}


def test_what_counts_as_an_idle_watcher_run():
    assert idle_watcher_run(_run("tick", 5, started_work=False))
    for said in ("nothing new", "skipped: another run is processing the inbox",
                 "waiting for 1 file(s) still being written", "Nothing new"):
        assert idle_watcher_run(_run("tick", 5, message=said)), said
    assert not idle_watcher_run(_run("tick", 5))  # unknown: listed
    assert not idle_watcher_run(_run("tick", 5, started_work=True, message="nothing new"))
    assert not idle_watcher_run(_run("tick", 5, state="Failed", started_work=False))
    assert not idle_watcher_run(_run("tick", 5, state="Crashed", message="nothing new"))
    assert not idle_watcher_run(_run("tick", 5, state="Running", started_work=False))
    assert not idle_watcher_run(_run("run-2025-03", 5, flow="run-wave", started_work=False))


def test_a_day_of_idle_watcher_ticks_does_not_push_the_wave_runs_out():
    ticks = [_run("watch-inbox", 5 * i, started_work=False) for i in range(288)]
    real = [_run("run-2025-03", 3, flow="run-wave"),
            _run("watch-inbox", 62, started_work=True),
            _run("rebuild-reports", 600, flow="rebuild-reports"),
            _run("watch-inbox", 700, state="Failed", message="1 export(s) could not be "
                 "ingested")]
    shown, hidden = hide_idle_watcher_runs(ticks + real, limit=3)
    assert [(r["name"], r["state"]) for r in shown] == [
        ("run-2025-03", "Completed"), ("watch-inbox", "Completed"),
        ("rebuild-reports", "Completed")]
    assert hidden == 120  # the ticks newer than the oldest listed (600 min ago): 0..595
    shown, hidden = hide_idle_watcher_runs(ticks + real, limit=10)
    assert len(shown) == 4 and hidden == 288  # fewer than asked: every tick counted

    status = replace_runs(RecentRuns(runs=shown[:3], hidden=120, windowed=True,
                                     source="the embedded server"))
    assert ("  (120 inbox-watcher run(s) that found nothing to do since the oldest listed "
            "not listed)") in status
    assert "  (read from the embedded server)" in status
    assert "Recent runs (Prefect): no runs recorded yet" in replace_runs(RecentRuns())
    only_ticks = replace_runs(RecentRuns(hidden=1000, hidden_more=True))
    assert ("Recent runs (Prefect):\n  (more than 1000 inbox-watcher run(s) that found "
            "nothing to do not listed)") in only_ticks


def replace_runs(runs: RecentRuns) -> str:
    import pandas as pd

    from pipelines.cli_workspace import WorkspaceStatus

    status = WorkspaceStatus(root=Path("/ws"), programme="p", waves=pd.DataFrame(
        columns=["wave_id", "instrument", "n_sources", "rows_read", "rows_accepted",
                 "rows_quarantined", "waiting", "failed"]), quarantine=pd.DataFrame(
        columns=["wave_id", "reason", "rows"]), runs=runs)
    return format_status(status)


def test_workspace_status_of_an_unreadable_store_shows_the_rest(stored, monkeypatch):
    def read_only(ws):
        raise PermissionError(errno.EROFS, "Read-only file system", str(ws.store / ".lock"))

    monkeypatch.setattr("pipelines.cli_workspace._read_store", read_only)
    status = workspace_status(stored)
    assert status.store_problem == (f"the wave store cannot be read without writing, and "
                                    f"{stored.store / '.lock'} cannot be written: Read-only "
                                    "file system")
    text = format_status(status)
    assert "Quarantined rows: none." not in text  # unknown, not none
    assert "Reports: not built yet" in text


# --- the Dask cluster: loopback, no dashboard ---------------------------------------------------

def test_the_local_dask_cluster_listens_on_loopback_without_a_dashboard():
    from pipelines.report_flow import dask_runner, local_cluster_kwargs

    kwargs = local_cluster_kwargs(3)
    assert kwargs["n_workers"] == 3 and kwargs["processes"] is True
    assert kwargs["host"] == "127.0.0.1" and kwargs["protocol"] == "tcp://"
    # dashboard_address=None alone still serves HTTP on 8787: the scheduler is told
    assert kwargs["scheduler_kwargs"] == {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
    assert "worker_dashboard_address" not in kwargs  # None by default: no worker dashboards
    runner = dask_runner(None, 3)
    assert runner.cluster_class == "distributed.LocalCluster"
    assert runner.cluster_kwargs == kwargs
    given = dask_runner("tcp://10.0.0.5:8786", 3)
    assert given.address == "tcp://10.0.0.5:8786" and not given.cluster_kwargs


@pytest.mark.slow
def test_a_local_dask_cluster_really_binds_to_loopback_only():
    from distributed import LocalCluster

    from pipelines.report_flow import local_cluster_kwargs

    with LocalCluster(**{**local_cluster_kwargs(1), "processes": False}) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        http = cluster.scheduler.services["dashboard"]  # distributed's name for its server
        assert http.address == "127.0.0.1" and http.port != 8787
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with pytest.raises(urllib.error.HTTPError) as info:  # no dashboard pages
            opener.open(f"http://127.0.0.1:{http.port}/status", timeout=10)
        assert info.value.code == 404
        for worker in cluster.workers.values():
            assert worker.address.startswith("tcp://127.0.0.1:")


# --- prefect.yaml: what `prefect deploy --all` registers ----------------------------------------

def test_deploy_all_does_not_register_the_demo_simulation():
    from prefect.cli.deploy._models import PrefectYamlModel

    text = (ROOT / "prefect.yaml").read_text()
    model = PrefectYamlModel.model_validate(yaml.safe_load(text))  # what --all deploys
    assert [d.name for d in model.deployments] == ["wave-run", "inbox-watcher",
                                                   "rebuild-reports"]
    assert all("simulate" not in (d.entrypoint or "") for d in model.deployments)
    # and how to deploy it on purpose, outside the repository, is written down
    assert ("prefect deploy pipelines/simulate_flow.py:simulate_programme_flow" in
            text.replace("\\\n#     ", ""))
    assert "--param output_dir=" in text


def test_prefect_yaml_keeps_the_local_pull_step_and_shows_a_git_clone_one():
    from prefect.deployments.steps import git_clone, set_working_directory

    text = (ROOT / "prefect.yaml").read_text()
    config = yaml.safe_load(text)
    assert config["pull"] == [{"prefect.deployments.steps.set_working_directory":
                               {"directory": "{{ repo.stdout }}"}}]
    # The commented example, uncommented, is a pull section Prefect accepts.
    lines = text.splitlines()
    start = lines.index("# pull:")
    example = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        example.append(line[2:])
    steps = yaml.safe_load("\n".join(example))["pull"]
    ((name, inputs),) = steps[0].items()
    assert name == "prefect.deployments.steps.git_clone"
    inspect.signature(git_clone).bind(**inputs)  # every key is a git_clone argument
    assert inputs["repository"].endswith(".git") and inputs["branch"]
    assert callable(set_working_directory)


# --- the report flow's run name -----------------------------------------------------------------

def test_render_reports_is_named_after_its_wave(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from pipelines import report_flow

    assert report_flow.render_reports.flow_run_name is report_flow._reports_run_name
    import prefect.runtime.flow_run

    def parameters(**values):  # what prefect.runtime.flow_run.parameters gives in a run
        monkeypatch.setattr(prefect.runtime.flow_run, "parameters", values, raising=False)

    parameters(workspace=tmp_path, wave="2025-03")
    assert report_flow._reports_run_name() == "reports-2025-03"
    # no wave (collab report --dask, rebuild-reports): the latest analysed wave
    parameters(workspace=str(tmp_path), wave=None)
    monkeypatch.setattr(report_flow, "report_data",
                        lambda root: SimpleNamespace(latest_wave="2025-09"))
    assert report_flow._reports_run_name() == "reports-2025-09"

    def no_tables(root):
        raise CollabStatsError("no analysis tables")

    monkeypatch.setattr(report_flow, "report_data", no_tables)
    assert report_flow._reports_run_name() == "reports-latest"  # the run says why
