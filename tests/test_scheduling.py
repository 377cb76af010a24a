"""Scheduled operation for real (issue 18): files still being copied in, one writer at a
time, one rule for the wave the site shows, interrupted runs finished later, failed exports
failing the run, and runs left "Running" by a stopped ``collab serve`` marked Crashed.

First the workspace logic without Prefect (the inbox scan, the lock, the site's wave, what
is unfinished); then flows under the session's Prefect test server (``prefect_harness``) on
a small simulated programme (4 collaborations), HTML reports only. Every process a test
starts is stopped by the test; the servers are loopback only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from budget import bounded

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError
from collab_stats.ingest.simulated import write_wave_export
from pipelines.store import WaveStore
from pipelines.workspace import (
    INBOX_SETTLE_SECONDS,
    LOCK_TIMEOUT_SECONDS,
    Workspace,
    WorkspaceBusy,
    find_inbox_files,
    inbox_settle_seconds,
    init_workspace,
    lock_timeout_seconds,
    read_site,
    read_stages,
    record_site,
    scan_inbox,
)

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = {"status": "skipped: another run is processing the inbox"}
HOLDER_NAME = "run-wave (flow run 'quarterly-test', a test's holder)"

# A process that holds a workspace's lock until it is stopped, as a run in another process
# (a served deployment run, `collab run` in another terminal) does.
HOLD = """\
import sys, time
from pipelines.workspace import Workspace
with Workspace.at(sys.argv[1]).writer_lock(sys.argv[2]) as held:
    print("held" if held else "busy", flush=True)
    time.sleep(300)
"""


@pytest.fixture(scope="module")
def sim():
    """4 collaborations x 3 waves (2025-03, 2025-09, 2026-03), every window closed."""
    return simulate_programme(seed=11, n_collaborations=4, n_waves=3)


def _workspace(root: Path, sim, *, exports=(), last_wave_open: bool = False) -> Workspace:
    """A workspace of ``sim``'s programme with the ``exports`` waves' Qualtrics exports (and
    their mappings) in ``inbox/<wave>/``; ``last_wave_open``: the last wave closes in 30 days."""
    programme = sim.programme
    if last_wave_open:
        last = replace(programme.waves[-1], closes=dt.date.today() + dt.timedelta(days=30))
        programme = replace(programme, waves=(*programme.waves[:-1], last))
    ws = init_workspace(root, programme=programme)
    for wave in exports:
        write_wave_export(sim, wave, "qualtrics", ws.inbox / wave)
    return ws


def _store(ws: Workspace, sim, wave: str, name: str = "export.csv", digit: str = "a") -> None:
    """Store ``wave``'s simulated data directly (no flow)."""
    data = sim.data.wave(wave)
    WaveStore(ws.store).add(wave, name, digit * 64, data, pd.DataFrame(), format="qualtrics",
                            instrument_version=sim.programme.wave(wave).instrument_version,
                            rows_read=data.n_respondents)


@pytest.fixture
def hold_lock():
    """``hold_lock(ws)``: another process holds ``ws``'s lock (as ``HOLDER_NAME``) until the
    test ends (or ``.stop()``): returns the process."""
    processes: list[subprocess.Popen] = []

    def start(ws: Workspace) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root), HOLDER_NAME],
                                   cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                   start_new_session=True)
        processes.append(process)
        assert process.stdout.readline().strip() == "held"  # EOF ("") if it died
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(20)
        process.stdout.close()


@pytest.fixture
def settle(monkeypatch):
    """``settle(seconds)``: the inbox settle time for this test (the suite runs with 0)."""
    return lambda seconds: monkeypatch.setenv("COLLAB_INBOX_SETTLE_SECONDS", str(seconds))


# --- files still being written (no Prefect) --------------------------------------------------


def test_a_file_changed_within_the_settle_time_waits_and_is_taken_once_settled(tmp_path, sim):
    ws = _workspace(tmp_path / "ws", sim, exports=["2025-03"])
    (export,) = (ws.inbox / "2025-03").glob("*.csv")
    mapping = export.with_name(export.name + ".mapping.yaml")
    written = max(export.stat().st_mtime, export.stat().st_ctime)
    waves = list(sim.programme.wave_ids)

    with bounded(seconds=2.0, megabytes=20):
        fresh = scan_inbox(ws, waves, settle_seconds=2.0, now=written + 0.5)
        settled = scan_inbox(ws, waves, settle_seconds=2.0, now=time.time() + 2.5)
    assert fresh.found == [] and fresh.unplaced == []
    (waiting,) = fresh.waiting
    assert waiting.path == export and waiting.settles_in == pytest.approx(1.5, abs=0.01)
    assert "may still be being written" in waiting.reason
    assert [f.path for f in settled.found] == [export] and settled.waiting == []
    assert settled.found[0].mapping == mapping

    # an export whose mapping is still being copied waits for it too
    time.sleep(0.05)
    mapping.write_bytes(mapping.read_bytes())
    (waiting,) = scan_inbox(ws, waves, settle_seconds=2.0, now=written + 2.0).waiting
    assert waiting.path == export and waiting.reason.startswith("its mapping or dictionary")
    # the default: INBOX_SETTLE_SECONDS, or the setting (the suite runs with 0)
    assert find_inbox_files(ws, waves)[0][0].path == export


def test_temporary_names_wait_for_the_rename_and_lock_files_are_ignored(tmp_path, sim):
    ws = _workspace(tmp_path / "ws", sim)
    folder = ws.inbox / "2025-03"
    export, _ = write_wave_export(sim, "2025-03", "qualtrics", folder)
    partial = export.rename(export.with_name(export.name + ".part"))
    for name in ("~$export.xlsx", ".~lock.export.csv#", ".export.csv.Xy12ab", "x.crdownload",
                 "notes.pdf"):
        (folder / name).write_text("being written")
    later = time.time() + 3600  # long settled: only the names decide

    scan = scan_inbox(ws, list(sim.programme.wave_ids), settle_seconds=2.0, now=later)
    assert scan.found == []
    assert {w.path.name: w.settles_in for w in scan.waiting} == {partial.name: None,
                                                                  "x.crdownload": None}
    assert "waiting for its final name" in scan.waiting[0].reason
    # Office and LibreOffice lock files, hidden files (rsync's copy in progress): not
    # exports, not waiting, and never moved to failed/ as unplaced
    assert [p.name for p, _ in scan.unplaced] == ["notes.pdf"]

    partial.rename(export)  # the safe way to drop a file: write elsewhere, then rename
    after = scan_inbox(ws, list(sim.programme.wave_ids), settle_seconds=2.0, now=later)
    assert [f.path for f in after.found] == [export]
    # a fresh file that cannot be placed waits as well: it is not moved away mid-copy
    fresh = scan_inbox(ws, list(sim.programme.wave_ids), settle_seconds=2.0)
    assert "notes.pdf" not in [p.name for p, _ in fresh.unplaced]


def test_a_file_growing_on_disk_is_not_taken_until_it_stops_changing(tmp_path, sim):
    """Real time stamps: a writer appends every 50 ms for about a second."""
    ws = _workspace(tmp_path / "ws", sim)
    source, _ = write_wave_export(sim, "2025-03", "qualtrics", tmp_path / "elsewhere")
    data = source.read_bytes()
    target = ws.inbox / "2025-03" / source.name
    target.parent.mkdir(parents=True)
    chunks = [data[k:k + len(data) // 20 + 1] for k in range(0, len(data), len(data) // 20 + 1)]

    def copy_slowly() -> None:
        with open(target, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                out.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=copy_slowly)
    seen = []
    writer.start()
    try:
        while writer.is_alive():
            seen.append(len(scan_inbox(ws, ["2025-03"], settle_seconds=0.3).found))
            time.sleep(0.02)
    finally:
        writer.join(10)
    assert seen and set(seen) == {0}, seen  # never taken while it grew
    assert target.read_bytes() == data
    deadline = time.monotonic() + 5
    while not scan_inbox(ws, ["2025-03"], settle_seconds=0.3).found:
        assert time.monotonic() < deadline, "never settled"
        time.sleep(0.05)


def test_the_settings_are_checked(monkeypatch):
    assert inbox_settle_seconds() == 0  # the suite's setting (tests/conftest.py)
    monkeypatch.delenv("COLLAB_INBOX_SETTLE_SECONDS")
    monkeypatch.delenv("COLLAB_LOCK_TIMEOUT_SECONDS", raising=False)
    assert (inbox_settle_seconds(), lock_timeout_seconds()) == (INBOX_SETTLE_SECONDS,
                                                                LOCK_TIMEOUT_SECONDS) == (2, 900)
    monkeypatch.setenv("COLLAB_INBOX_SETTLE_SECONDS", "0.5")
    assert inbox_settle_seconds() == 0.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("COLLAB_LOCK_TIMEOUT_SECONDS", bad)
        with pytest.raises(CollabStatsError, match=r"COLLAB_LOCK_TIMEOUT_SECONDS: expected a "
                                                   r"number of seconds, 0 or more, got"):
            lock_timeout_seconds()


# --- one writer at a time (no Prefect) --------------------------------------------------------


def test_the_workspace_lock_is_reentrant_in_a_thread_exclusive_across_threads(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    assert ws.lock_holder() is None
    other: list = []

    def try_lock() -> None:
        with ws.writer_lock("other thread", wait=False) as held:
            other.append(held)

    def wait_briefly() -> None:
        try:
            with ws.writer_lock("waiting thread", timeout=0.3):
                other.append("acquired")
        except WorkspaceBusy as exc:
            other.append(exc)

    with ws.writer_lock("outer run") as outer:
        assert outer
        with ws.writer_lock("inner run", wait=False) as inner:  # the watcher's programme run
            assert inner
        holder = ws.lock_holder()
        assert holder["holder"] == "outer run" and holder["pid"] == os.getpid()
        assert datetime.fromisoformat(holder["since"]) <= datetime.now(UTC)
        for target in (try_lock, wait_briefly):
            thread = threading.Thread(target=target)
            thread.start()
            thread.join(10)
    assert other[0] is False
    assert isinstance(other[1], WorkspaceBusy) and "outer run, pid" in str(other[1])
    assert ws.lock_holder() is None

    with pytest.raises(RuntimeError, match="boom"), ws.writer_lock("failing run"):
        raise RuntimeError("boom")
    assert ws.lock_holder() is None  # released on an exception
    with ws.writer_lock("next run", wait=False) as held:
        assert held


def test_a_lock_held_by_another_process_makes_a_writer_wait_then_fail_in_one_line(
        tmp_path, hold_lock):
    ws = init_workspace(tmp_path / "ws")
    holder = hold_lock(ws)
    told: list[str] = []
    started = time.monotonic()
    with pytest.raises(WorkspaceBusy) as info, ws.writer_lock("second run", timeout=0.5,
                                                              on_wait=told.append):
        pass
    waited = time.monotonic() - started
    message = str(info.value)
    assert 0.5 <= waited < 5
    assert "\n" not in message
    assert message.startswith(f"{ws.root}: the workspace is busy: {HOLDER_NAME}, pid "
                              f"{holder.pid} on ")
    assert "it was not released within 0.5 s; try again when that run has finished" in message
    assert "set COLLAB_LOCK_TIMEOUT_SECONDS to wait longer" in message
    assert info.value.holder["pid"] == holder.pid
    assert told == [f"waiting up to 0.5 s for the workspace lock, held by {HOLDER_NAME}, pid "
                    f"{holder.pid} on {info.value.holder['host']}, since "
                    f"{info.value.holder['since']}"]
    with ws.writer_lock("watcher", wait=False) as held:
        assert held is False

    holder.kill()  # however the holder ends, the operating system releases its lock
    holder.wait(20)
    assert ws.lock_holder() is None
    with ws.writer_lock("next run", wait=False) as held:
        assert held


# --- the wave the site shows, and what is unfinished (no Prefect) ------------------------------


def test_the_site_shows_the_latest_stored_wave_whose_window_has_closed(tmp_path, sim):
    from pipelines.flows import site_wave

    ws = _workspace(tmp_path / "ws", sim, last_wave_open=True)
    programme, _ = ws.load()
    w1, w2, w3 = programme.wave_ids
    closes = {w.id: w.closes for w in programme.waves}
    with pytest.raises(CollabStatsError, match="no wave has been ingested yet"):
        site_wave(ws, programme)
    _store(ws, sim, w1)
    assert site_wave(ws, programme) == w1
    _store(ws, sim, w3, "third.csv", "c")  # early exports of the open wave: stored, not shown
    assert site_wave(ws, programme) == w1
    _store(ws, sim, w2, "second.csv", "b")
    assert site_wave(ws, programme) == w2
    assert site_wave(ws, programme, today=closes[w3]) == w2  # still open on its closing day
    assert site_wave(ws, programme, today=closes[w3] + dt.timedelta(days=1)) == w3
    # before any stored wave has closed: the latest stored one
    assert site_wave(ws, programme, today=closes[w1]) == w3


def test_unfinished_work_names_why_the_site_must_be_built_again(tmp_path, sim):
    from pipelines.fingerprint import wave_fingerprint
    from pipelines.flows import unfinished_work
    from pipelines.workspace import record_stage

    ws = _workspace(tmp_path / "ws", sim, last_wave_open=True)
    programme, _ = ws.load()
    w1, w2, w3 = waves = list(programme.wave_ids)
    assert unfinished_work(ws, programme) is None  # nothing stored: nothing to do
    _store(ws, sim, w1)
    _store(ws, sim, w2, "second.csv", "b")
    assert unfinished_work(ws, programme) == f"wave {w2} has not been reported yet"

    # what a finished run leaves
    key = wave_fingerprint(ws, w2, waves)
    record_site(ws, wave=w2, fingerprint=key, started=True, finished=None)
    assert unfinished_work(ws, programme).startswith(
        f"the last run writing the site (wave {w2}, started ")
    for path in (ws.tables / "benchmark" / "summaries.parquet", ws.reports / "index.html"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    record_stage(ws, w2, "reports", fingerprint=key, index=str(ws.reports / "index.html"))
    record_site(ws, finished=True)
    assert unfinished_work(ws, programme) is None
    site = read_site(ws)
    assert (site["wave"], site["fingerprint"]) == (w2, key) and site["finished"]
    assert set(read_stages(ws, w2)) == {"reports"}

    _store(ws, sim, w3, "third.csv", "c")  # the open wave's exports change nothing shown
    assert unfinished_work(ws, programme) is None
    later = programme.wave(w3).closes + dt.timedelta(days=1)
    assert unfinished_work(ws, programme, today=later) == f"wave {w3} has not been reported yet"
    _store(ws, sim, w1, "corrected.csv", "d")  # a corrected export of an earlier wave
    assert unfinished_work(ws, programme) == (
        f"the stored data, programme or code of wave {w2} changed since its reports were built")
    record_stage(ws, w2, "reports", fingerprint=wave_fingerprint(ws, w2, waves))
    (ws.reports / "index.html").unlink()
    assert unfinished_work(ws, programme) == "the tables or the reports are missing"


# --- flows, under the session's Prefect test server -------------------------------------------


@pytest.fixture(scope="module")
def reproducible(prefect_harness):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1767225600")
        yield


@pytest.mark.prefect
def test_writers_wait_for_the_lock_then_fail_naming_the_holder_and_the_watcher_skips(
        reproducible, tmp_path, sim, hold_lock, monkeypatch):
    from pipelines.flows import rebuild_reports, run_programme, run_wave, watch_inbox

    ws = _workspace(tmp_path / "ws", sim, exports=["2025-03"])
    holder = hold_lock(ws)
    monkeypatch.setenv("COLLAB_LOCK_TIMEOUT_SECONDS", "1")
    for name, call in [("run-programme", lambda: run_programme(ws.root, return_state=True)),
                       ("run-wave", lambda: run_wave(ws.root, "2025-03", return_state=True)),
                       ("rebuild-reports", lambda: rebuild_reports(ws.root, return_state=True))]:
        started = time.monotonic()
        state = call()
        assert state.is_failed(), (name, state)
        assert 1 <= time.monotonic() - started < 60, name
        with pytest.raises(WorkspaceBusy) as info:
            state.result()
        message = str(info.value)
        assert "\n" not in message, name
        assert f"the workspace is busy: {HOLDER_NAME}, pid {holder.pid} on " in message, name
        assert state.message and HOLDER_NAME in state.message, name
    assert watch_inbox(ws.root, pdf=False) == SKIPPED
    # nothing was written while another run held the workspace
    assert [f.wave for f in find_inbox_files(ws, ["2025-03"])[0]] == ["2025-03"]
    assert not (ws.store / "manifest.json").exists()

    holder.kill()
    holder.wait(20)
    # a run that fails releases the lock (nothing stored, nothing waiting: it cannot run)
    shutil.rmtree(ws.inbox / "2025-03")
    state = run_programme(ws.root, return_state=True)
    assert state.is_failed() and "no wave has been ingested yet" in state.message
    assert ws.lock_holder() is None


@pytest.mark.prefect
@pytest.mark.slow
def test_the_watcher_leaves_a_file_being_written_and_takes_it_once_settled(
        reproducible, tmp_path, sim, settle):
    from pipelines.flows import watch_inbox

    settle(1)
    ws = _workspace(tmp_path / "ws", sim)
    first, _ = write_wave_export(sim, "2025-03", "qualtrics", tmp_path / "outside")
    second, second_mapping = write_wave_export(sim, "2025-09", "qualtrics", ws.inbox / "2025-09")
    partial = second.rename(second.with_name(second.name + ".part"))  # a download, unfinished
    target = ws.inbox / "2025-03" / first.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(first.with_name(first.name + ".mapping.yaml"), target.parent)
    data = first.read_bytes()
    stop = threading.Event()

    def copy_slowly() -> None:  # a plain `cp` over a slow share: the file grows for a while
        with open(target, "wb") as out:
            for k in range(0, len(data), 2048):
                out.write(data[k:k + 2048])
                out.flush()
                if stop.wait(0.2):
                    break
            out.write(data[out.tell():])

    writer = threading.Thread(target=copy_slowly)
    writer.start()
    try:
        time.sleep(0.3)
        assert writer.is_alive()
        tick = watch_inbox(ws.root, pdf=False)
    finally:
        stop.set()
        writer.join(20)
    assert tick == {"status": "waiting for 2 file(s) still being written", "rejected": 0,
                    "waiting": [f"2025-03/{target.name}", f"2025-09/{partial.name}"]}
    assert target.read_bytes() == data and partial.is_file()
    assert not (ws.store / "manifest.json").exists()

    partial.rename(second)  # renamed when complete
    time.sleep(1.2)  # both settle
    state = watch_inbox(ws.root, pdf=False, return_state=True)
    assert state.is_completed(), state
    result = state.result()
    assert (result["status"], result["files"], result["wave"]) == ("processed", 2, "2025-09")
    sources = WaveStore(ws.store).sources()
    assert sorted(zip(sources["wave_id"], sources["source_name"], strict=True)) == [
        ("2025-03", first.name), ("2025-09", second.name)]
    assert (ws.inbox / "processed" / "2025-09" / second_mapping.name).is_file()
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}


@pytest.mark.prefect
@pytest.mark.slow
def test_the_scheduled_run_the_watcher_and_collab_run_show_the_same_wave(
        reproducible, tmp_path, sim, monkeypatch, capsys):
    from pipelines.cli import main
    from pipelines.environment import DEFAULTS
    from pipelines.flows import run_wave, watch_inbox

    ws = _workspace(tmp_path / "ws", sim, exports=["2025-03", "2025-09", "2026-03"],
                    last_wave_open=True)
    w1, w2, w3 = ws.load()[0].wave_ids

    watched = watch_inbox(ws.root, pdf=False)
    assert (watched["status"], watched["files"], watched["wave"]) == ("processed", 3, w2)
    assert WaveStore(ws.store).wave_ids() == [w1, w2, w3]  # the open wave: stored, not shown
    summaries = pd.read_parquet(ws.tables / "benchmark" / "summaries.parquet")
    assert sorted(set(summaries["wave_id"].astype(str))) == [w1, w2]
    assert read_site(ws)["wave"] == w2 and read_stages(ws, w2)["reports"]
    record = json.loads((ws.state_dir / "stages" / f"{w3}.json").read_text())
    assert set(record) == {"ingest"} and (record["ingest"]["files"], record["ingest"]["failed"]) \
        == (1, 0)

    scheduled = run_wave(ws.root, pdf=False, reports=False)  # what the quarterly run passes
    assert scheduled["wave"] == w2 and scheduled["ingested"] == []

    for key, value in DEFAULTS.items():  # as test_cli_workspace: settings undone afterwards
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    assert main(["run", "-w", str(ws.root), "--no-pdf", "--no-reports"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Wave {w2}\n"), out

    # asked for explicitly, the open wave is built; the watcher has nothing to do after it
    asked = run_wave(ws.root, w3, pdf=False, reports=True)
    assert asked["wave"] == w3 and read_site(ws)["wave"] == w3
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}


@pytest.mark.prefect
@pytest.mark.slow
def test_an_interrupted_run_is_finished_by_the_next_tick_with_an_empty_inbox(
        reproducible, tmp_path, sim):
    from pipelines.flows import watch_inbox
    from pipelines.ingest_flow import ingest_wave

    ws = _workspace(tmp_path / "ws", sim, exports=["2025-03", "2025-09"])
    # a run stopped after ingesting: exports stored and in processed/, never analysed
    for wave in ("2025-03", "2025-09"):
        (row,) = ingest_wave(ws.root, wave)
        assert row["status"] == "added"
    assert find_inbox_files(ws, ["2025-03", "2025-09"]) == ([], [])
    assert not (ws.tables / "benchmark").exists() and not (ws.reports / "index.html").exists()

    resumed = watch_inbox(ws.root, pdf=False)
    assert resumed["status"] == "resumed: wave 2025-09 has not been reported yet"
    assert (resumed["files"], resumed["wave"]) == (0, "2025-09")
    assert (ws.tables / "benchmark" / "summaries.parquet").is_file()
    assert resumed["index"] == str(ws.reports / "index.html")
    assert (ws.reports / "index.html").is_file()
    stages = read_stages(ws, "2025-09")
    assert set(stages) == {"reliability", "benchmark", "reports"}  # ingested by hand
    assert len({stages[s]["fingerprint"] for s in stages}) == 1
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}

    # killed while rendering: the site's record says it started and did not finish
    record_site(ws, started=True, finished=None)
    shutil.rmtree(ws.reports)
    resumed = watch_inbox(ws.root, pdf=False)
    assert resumed["status"].startswith("resumed: the last run writing the site (wave "
                                        "2025-09, started ")
    assert (ws.reports / "index.html").is_file() and read_site(ws)["finished"]
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}


@pytest.mark.prefect
@pytest.mark.slow
def test_a_failed_export_fails_the_run_after_the_good_one_is_stored_and_reported(
        reproducible, tmp_path, sim):
    from prefect.client.orchestration import get_client

    from pipelines.flows import ExportsFailed, run_wave, watch_inbox

    ws = _workspace(tmp_path / "ws", sim, exports=["2025-03"])
    (good,) = (ws.inbox / "2025-03").glob("*.csv")
    (ws.inbox / "2025-03" / "junk.csv").write_text("a,b\n1,2\n")  # no mapping fits

    state = watch_inbox(ws.root, pdf=False, return_state=True)
    assert state.is_failed(), state
    assert state.message.startswith("1 export(s) could not be ingested (moved to "
                                    "inbox/failed/<wave>/ with the reason beside each): "
                                    "junk.csv (wave 2025-03): ")
    assert "\n" not in state.message
    outcome = state.result(raise_on_failure=False)
    assert isinstance(outcome, ExportsFailed) and str(outcome) == state.message
    result = outcome.result
    assert (result["status"], result["files"], result["wave"]) == ("processed", 2, "2025-03")
    # everything else was done: the good export stored and reported
    assert WaveStore(ws.store).sources()["source_name"].tolist() == [good.name]
    assert result["index"] == str(ws.reports / "index.html") and Path(result["index"]).is_file()
    assert (ws.inbox / "failed" / "2025-03" / "junk.csv.error.txt").is_file()
    with get_client(sync_client=True) as client:  # the programme run it started failed too
        run = client.read_flow_run(state.state_details.flow_run_id)
        assert run.state.is_failed()
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])))
        assert {c.name: c.state.type.value for c in children} == {"run-programme": "FAILED"}

    # called as a function, a run raises ExportsFailed carrying its result
    (ws.inbox / "2025-03" / "junk2.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ExportsFailed, match=r"^1 export\(s\) could not be ingested .*"
                                            r"junk2\.csv \(wave 2025-03\)") as info:
        run_wave(ws.root, "2025-03", pdf=False, reports=False)
    assert [r["status"] for r in info.value.result["ingested"]] == ["failed"]
    assert info.value.result["wave"] == "2025-03" and info.value.result["benchmark"] is not None
    assert watch_inbox(ws.root, pdf=False)["status"].startswith("resumed: the last run")


# --- runs left "Running" by a stopped serve ---------------------------------------------------


@pytest.mark.prefect
def test_serve_start_marks_this_workspaces_stale_runs_crashed_and_starts_the_watcher(
        prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Completed, Pending, Running

    from pipelines import serve
    from pipelines.flows import run_programme, watch_inbox

    ws = init_workspace(tmp_path / "ws")
    other = init_workspace(tmp_path / "other")
    with get_client(sync_client=True) as client:
        def run(flow, root: Path, state):
            created = client.create_flow_run(flow, parameters={"workspace": str(root)})
            client.set_flow_run_state(created.id, state, force=True)
            return created.id

        stale = {run(watch_inbox, ws.root, Running()): "Running",
                 run(run_programme, ws.root, Running()): "Running",
                 run(watch_inbox, ws.root, Pending()): "Pending"}
        others = [run(watch_inbox, other.root, Running()), run(watch_inbox, ws.root, Completed())]
        started = datetime.now(UTC)
        fresh = run(run_programme, ws.root, Running())  # started after serve: left alone

        with ws.writer_lock("a live run"):  # a live run holds the lock: nothing is marked
            assert serve.mark_interrupted_runs(ws, before=started) == []
        assert client.read_flow_run(next(iter(stale))).state.is_running()

        specs = serve.deployment_specs(ws.root, inbox_interval=None)
        seconds = time.monotonic()
        serve._tidy_up_after_an_interrupted_serve(ws, started, specs)
        assert time.monotonic() - seconds < 30
        for run_id, was in stale.items():
            state = client.read_flow_run(run_id).state
            assert state.is_crashed(), state
            assert state.message.startswith(f"Still {was} when collab serve started again")
        assert client.read_flow_run(others[0]).state.is_running()
        assert client.read_flow_run(others[1]).state.is_completed()
        assert client.read_flow_run(fresh).state.is_running()
        # the watcher's run, to finish what the stale runs left undone
        deployment = client.read_deployment_by_name("watch-inbox/inbox-watcher")
        try:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment.id])))
            assert [r.state.type.value for r in runs] == ["SCHEDULED"]
            assert runs[0].parameters == {"workspace": str(ws.root)}
        finally:
            client.delete_deployment(deployment.id)
