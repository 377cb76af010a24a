"""The flows of issue #7.

First the workspace logic without Prefect (inbox, moves, fingerprints, the retry rule, the
run summary); then end-to-end runs under the session's Prefect test server
(``prefect_harness``): artifacts, the analysis cache, retries on I/O only, the inbox picked
up exactly once, and the Dask path giving the same files as the local one.

The flow tests share one small simulated workspace (5 collaborations x 2 waves) and one full
run of it; reports are HTML only and stamped with ``SOURCE_DATE_EPOCH``, so that two renders
of the same tables are byte-identical.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError, IngestError
from collab_stats.ingest.simulated import write_wave_export
from pipelines.artifacts import characteristic_table, wave_summary_markdown
from pipelines.fingerprint import wave_fingerprint
from pipelines.retry import IO_RETRIES, retry_on_io
from pipelines.store import StoreError, WaveStore
from pipelines.workspace import (
    InboxFile,
    Workspace,
    find_inbox_files,
    init_workspace,
    move_processed,
)

EPOCH = "1767225600"  # 2026-01-01T00:00:00Z: the reports' generation time in these tests
SKIPPED = "skipped: another run is processing the inbox"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- the library logic, without Prefect -----------------------------------------------------


def test_find_inbox_files_places_exports_by_folder_or_name_and_reports_the_rest(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    w1, w2 = ws.load()[0].wave_ids
    inbox = ws.inbox
    by_folder = _touch(inbox / w1 / "survey.csv")
    mapping = _touch(inbox / w1 / "survey.csv.mapping.yaml")
    by_name = _touch(inbox / f"{w2}-forms.xlsx")
    redcap = _touch(inbox / f"{w1}_redcap.csv")
    dictionary = _touch(inbox / f"{w1}-redcap-dictionary.csv")
    nested = _touch(inbox / w2 / "late" / "export.sav")
    for ignored in (f"processed/{w1}/old.csv", f"failed/{w2}/bad.csv", ".DS_Store",
                    f"{w1}/.~lock.survey.csv"):
        _touch(inbox / ignored)
    notes = _touch(inbox / "notes.pdf")
    mystery = _touch(inbox / "mystery.csv")

    found, unplaced = find_inbox_files(ws, [w1, w2])

    # programme order, then name; the mapping beside an export and the wave's dictionary
    assert [(f.path, f.wave, f.mapping, f.dictionary) for f in found] == [
        (redcap, w1, None, dictionary),
        (by_folder, w1, mapping, None),
        (by_name, w2, None, None),
        (nested, w2, None, None),
    ]
    reasons = dict(unplaced)
    assert sorted(reasons) == [mystery, notes]
    assert "cannot tell its wave" in reasons[mystery] and w2 in reasons[mystery]
    assert reasons[notes].startswith("not a survey export (.pdf)")
    assert find_inbox_files(Workspace.at(tmp_path / "none"), [w1]) == ([], [])


def test_move_processed_moves_an_export_with_its_mapping_or_records_why_it_failed(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    w1, w2 = ws.load()[0].wave_ids
    export = _touch(ws.inbox / f"{w1}-redcap.csv", "records")
    mapping = _touch(ws.inbox / f"{w1}-redcap.csv.mapping.yaml", "mapping")
    dictionary = _touch(ws.inbox / f"{w1}-redcap-dictionary.csv", "dictionary")

    target = move_processed(ws, InboxFile(export, w1, mapping, dictionary))

    done = ws.inbox / "processed" / w1
    assert target == done / export.name and target.read_text() == "records"
    assert not export.exists() and not mapping.exists()
    assert (done / mapping.name).read_text() == "mapping"
    # the dictionary may describe other exports of the wave: copied, not moved
    assert dictionary.is_file() and (done / dictionary.name).read_text() == "dictionary"

    bad = _touch(ws.inbox / w2 / "broken.csv", "???")
    target = move_processed(ws, InboxFile(bad, w2, None, None), failed="row 1: no header")
    assert target == ws.inbox / "failed" / w2 / "broken.csv" and not bad.exists()
    assert (target.parent / "broken.csv.error.txt").read_text() == "row 1: no header\n"
    assert not (ws.inbox / "processed" / w2).exists()
    assert find_inbox_files(ws, [w1, w2]) == ([], [])


def test_init_workspace_makes_the_folders_and_never_overwrites_a_programme(tmp_path):
    sim = simulate_programme(seed=2, n_collaborations=3, n_waves=2)
    ws = init_workspace(tmp_path / "ws", programme=sim.programme)
    for folder in (ws.inbox, ws.inbox / "processed", ws.inbox / "failed", ws.store, ws.tables,
                   ws.reports):
        assert folder.is_dir()
    assert ws.load()[0] == sim.programme
    edited = ws.programme_file.read_text() + "# edited by hand\n"
    ws.programme_file.write_text(edited)

    with pytest.raises(CollabStatsError, match="exists already: not overwritten"):
        init_workspace(ws.root)
    assert ws.programme_file.read_text() == edited
    with pytest.raises(CollabStatsError, match="not a collab-stats workspace"):
        Workspace.at(tmp_path / "elsewhere").check()


def test_workspace_load_parses_once_and_again_after_an_edit(tmp_path):
    sim = simulate_programme(seed=2, n_collaborations=3, n_waves=2)
    ws = init_workspace(tmp_path / "ws", programme=sim.programme)
    first = ws.load()
    assert first[0] == sim.programme
    assert ws.load() is first  # every task of a run loads the workspace: parsed once
    text = ws.programme_file.read_text()
    assert "disclosure_threshold: 10\n" in text
    ws.programme_file.write_text(text.replace("disclosure_threshold: 10\n",
                                              "disclosure_threshold: 12\n"))
    programme, _ = ws.load()
    assert programme.disclosure_threshold == 12 and first[0].disclosure_threshold == 10
    ws.programme_file.write_text(text)
    assert ws.load()[0].disclosure_threshold == 10


def test_wave_fingerprint_changes_with_the_stored_sources_and_the_programme_only(tmp_path):
    sim = simulate_programme(seed=4, n_collaborations=3, n_waves=2)
    ws = init_workspace(tmp_path / "ws", programme=sim.programme)
    w1, w2 = waves = list(sim.programme.wave_ids)
    store = WaveStore(ws.store)

    def store_source(wave: str, name: str, digit: str) -> str:
        data = sim.data.wave(wave)
        return store.add(wave, name, digit * 64, data, pd.DataFrame(), format="qualtrics",
                         instrument_version=sim.programme.wave(wave).instrument_version,
                         rows_read=data.n_respondents).status

    def fingerprints() -> dict[str, str]:
        return {w: wave_fingerprint(ws, w, waves) for w in waves}

    empty = fingerprints()
    assert store_source(w1, "first.csv", "a") == "added"
    first = fingerprints()
    assert first[w1] != empty[w1] and first[w2] != empty[w2]
    assert fingerprints() == first  # nothing changed: the same key
    assert store_source(w1, "first.csv", "a") == "unchanged"
    assert fingerprints() == first

    assert store_source(w2, "second.csv", "b") == "added"
    second = fingerprints()
    assert second[w1] == first[w1]  # a later wave does not change an earlier wave's analysis
    assert second[w2] != first[w2]

    assert store_source(w1, "first.csv", "c") == "replaced"  # a corrected re-export
    third = fingerprints()
    assert third[w1] != second[w1] and third[w2] != second[w2]

    ws.programme_file.write_text(ws.programme_file.read_text() + "# invited numbers checked\n")
    fourth = fingerprints()
    assert fourth[w1] != third[w1] and fourth[w2] != third[w2]


def test_retry_on_io_retries_input_output_errors_only():
    from prefect.states import Completed, Failed

    # transient operating-system errors only (tests/test_operations.py has the errno list)
    for error in (OSError(errno.EBUSY, "share busy"), OSError(errno.EIO, "read error"),
                  TimeoutError("slow disk")):
        assert retry_on_io(None, None, Failed(data=error)) is True, error
    for error in (PermissionError(errno.EACCES, "locked"), FileNotFoundError(errno.ENOENT, "gone"),
                  NotADirectoryError(errno.ENOTDIR, "a file"), OSError("no errno"),
                  CollabStatsError("bad definition"), IngestError("x.csv", "no header"),
                  StoreError("two sources, one key"), ValueError("bug"), KeyError("bug")):
        assert retry_on_io(None, None, Failed(data=error)) is False, error
    assert retry_on_io(None, None, Completed(data=1)) is False
    assert IO_RETRIES["retry_condition_fn"] is retry_on_io
    assert IO_RETRIES["retries"] == len(IO_RETRIES["retry_delay_seconds"]) == 3


def test_only_the_tasks_doing_input_output_retry():
    from pipelines import analysis_flow, ingest_flow, report_flow

    io_tasks = [ingest_flow.read_file, ingest_flow.store_wave, analysis_flow.write_tables,
                analysis_flow.summarise_ingest, report_flow.build_reports,
                report_flow.render_collaboration, report_flow.render_programme_pages]
    for task in io_tasks:
        assert task.retries == 3 and task.retry_condition_fn is retry_on_io, task.name
    for task in (ingest_flow.convert, analysis_flow.compute_psychometrics,
                 analysis_flow.compute_benchmark, analysis_flow.fingerprint):
        assert task.retries == 0, task.name


def _summary_inputs():
    ingested = [
        {"file": "2025-09-qualtrics.csv", "wave": "2025-09", "format": "qualtrics",
         "status": "added", "rows_read": 1_250, "accepted": 1_200,
         "quarantined": {"incomplete": 40, "duplicate": 10}, "error": ""},
        {"file": "2025-09-late|copy.csv", "wave": "2025-09", "format": "", "status": "failed",
         "rows_read": 0, "accepted": 0, "quarantined": {}, "error": "row 1: no header"},
    ]
    flags = pd.DataFrame({"wave_id": ["2025-03", "2025-09"],
                          "message": ["Alpha of PS is 0.61 (below 0.70)",
                                      "Alpha of TG is 0.65 (below 0.70)"]})
    summaries = pd.DataFrame({
        "wave_id": ["2025-09", "2025-09", "2025-09", "2025-03"],
        "collaboration_id": ["leeds-alliance", "leeds-alliance", "york-network", "hull-pcn"],
        "characteristic": ["CC", "TG", "PS", "PS"],
        "n": [24.0, 23.0, float("nan"), float("nan")],
        "mean": [3.71612, 3.5, float("nan"), float("nan")],
        "ci_low": [3.5216, 3.2, float("nan"), float("nan")],
        "ci_high": [3.9107, 3.8, float("nan"), float("nan")],
        "suppressed": [False, False, True, True],
    })
    return (ingested, SimpleNamespace(flags=flags),
            SimpleNamespace(summaries=summaries))


def test_wave_summary_counts_rows_lists_flags_and_suppressed_collaborations():
    ingested, psychometrics, benchmark = _summary_inputs()
    text = wave_summary_markdown("2025-09", ingested, psychometrics, benchmark, 10)

    assert text.startswith("# Wave 2025-09\n")
    assert "Rows read 1,250 = accepted 1,200 + quarantined 50." in text
    assert "| 2025-09-qualtrics.csv | 2025-09 | added | 1,250 | 1,200 | incomplete 40, " \
           "duplicate 10 |" in text
    # a pipe in a file name does not break the table; the failure says why
    assert "| 2025-09-late\\|copy.csv | 2025-09 | failed | 0 | 0 | failed: row 1: no header |" \
        in text
    assert "- Alpha of TG is 0.65 (below 0.70)" in text
    assert "PS is 0.61" not in text  # another wave's flag
    assert ("1 collaboration(s) with figures hidden (fewer than 10 responses): york-network"
            in text)
    assert "hull-pcn" not in text and "leeds-alliance" not in text

    quiet = wave_summary_markdown("2025-09", [], SimpleNamespace(flags=pd.DataFrame()),
                                  benchmark, 10)
    assert "No new exports in this run" in quiet
    assert "None: every characteristic meets the reliability criteria." in quiet


def test_characteristic_table_rounds_for_display_and_says_suppressed():
    _, _, benchmark = _summary_inputs()
    rows = characteristic_table(benchmark, "2025-09")
    assert rows == [
        {"collaboration": "leeds-alliance", "characteristic": "CC", "n": 24, "mean": 3.72,
         "ci_95": "3.52 to 3.91"},
        {"collaboration": "leeds-alliance", "characteristic": "TG", "n": 23, "mean": 3.5,
         "ci_95": "3.20 to 3.80"},
        {"collaboration": "york-network", "characteristic": "PS", "n": "suppressed",
         "mean": "suppressed", "ci_95": "suppressed"},
    ]
    json.dumps(rows)  # a table artifact must be JSON


def test_ingest_and_analysis_tasks_as_plain_functions(tmp_path):
    from pipelines.analysis_flow import fingerprint, stored_waves_through
    from pipelines.flows import latest_stored_wave
    from pipelines.ingest_flow import convert, read_file, store_wave

    sim = simulate_programme(seed=6, n_collaborations=3, n_waves=2)
    ws = init_workspace(tmp_path / "ws", programme=sim.programme)
    programme, family = ws.load()
    w1, w2 = waves = list(programme.wave_ids)
    with pytest.raises(CollabStatsError, match="no wave has been ingested yet"):
        latest_stored_wave(ws, waves)
    path, mapping = write_wave_export(sim, w1, "qualtrics", ws.inbox / w1)

    raw, sha = read_file.fn(path)
    assert raw.format == "qualtrics" and sha == _sha256(path)
    result = convert.fn(raw, mapping, family, programme, w1, ws.secret())
    report = result.report
    assert report.rows_accepted + sum(report.rows_quarantined.values()) == report.rows_read > 0
    version = programme.wave(w1).instrument_version
    assert store_wave.fn(ws.store, w1, raw, sha, result, version).status == "added"
    assert store_wave.fn(ws.store, w1, raw, sha, result, version).status == "unchanged"

    assert latest_stored_wave(ws, waves) == w1
    assert stored_waves_through(ws, w1, waves) == [w1]
    with pytest.raises(CollabStatsError, match="has no stored data"):
        stored_waves_through(ws, w2, waves)
    assert fingerprint.fn(ws.root, w1) == wave_fingerprint(ws, w1, waves)


# --- flows, under the session's Prefect test server ------------------------------------------


@pytest.fixture(scope="module")
def reproducible_reports():
    """Reports stamped with a fixed time (also in Dask worker processes, which inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        yield


@pytest.fixture(scope="module")
def pristine(prefect_harness, reproducible_reports, tmp_path_factory) -> Workspace:
    """A simulated workspace, exports waiting in the inbox (not run; copy before use)."""
    from pipelines.simulate_flow import simulate_programme_flow

    root = tmp_path_factory.mktemp("pristine")
    simulate_programme_flow(output_dir=root, seed=5, n_collaborations=5, n_waves=2)
    return Workspace.at(root)


def _copy(ws: Workspace, target: Path) -> Workspace:
    shutil.copytree(ws.root, target)
    return Workspace.at(target)


@pytest.fixture(scope="module")
def first_run(pristine, tmp_path_factory):
    """``run_programme`` on a copy of the pristine workspace, with reports (HTML); a copy of
    the workspace as this run left it is kept in ``snapshot``."""
    from pipelines.flows import run_programme

    ws = _copy(pristine, tmp_path_factory.mktemp("run") / "ws")
    started = time.perf_counter()
    state = run_programme(ws.root, pdf=False, return_state=True)
    seconds = time.perf_counter() - started
    assert state.is_completed(), state
    snapshot = _copy(ws, tmp_path_factory.mktemp("snapshot") / "ws")
    return SimpleNamespace(ws=ws, result=state.result(), run_id=state.state_details.flow_run_id,
                           seconds=seconds, snapshot=snapshot)


def _flow_runs(client, run_id) -> list:
    """A flow run and all its subflow runs."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    runs, frontier = [client.read_flow_run(run_id)], [run_id]
    while frontier:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)))
        runs += children
        frontier = [c.id for c in children]
    return runs


def _task_runs(run_id, expect: tuple[str, ...] = (), timeout: float = 20.0) -> dict[str, list]:
    """The task runs of a flow run and its subflows, by task name, as the server recorded
    them. Task run states reach the server as events a moment after the flow returns: poll
    until every task run is in a final state and the ``expect``-ed tasks are there."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            ids = [r.id for r in _flow_runs(client, run_id)]
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=ids)))
            named: dict[str, list] = {}
            for run in runs:
                named.setdefault(run.name.rsplit("-", 1)[0], []).append(run)
            final = all(r.state is not None and r.state.is_final() for r in runs)
            if (final and set(expect) <= set(named)) or time.monotonic() > deadline:
                return named
            time.sleep(0.25)


def _state_names(runs: dict[str, list], name: str) -> list[str]:
    return [r.state.name for r in runs.get(name, [])]


def _artifacts(key: str, run_id) -> list:
    """The artifacts with ``key`` created by a flow run or its subflows."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        ids = {r.id for r in _flow_runs(client, run_id)}
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key])))
    return [a for a in found if a.flow_run_id in ids]


@pytest.mark.prefect
@pytest.mark.slow
def test_run_programme_ingests_the_inbox_analyses_reports_and_publishes_artifacts(
        first_run, pristine):
    ws, result = first_run.ws, first_run.result
    programme, _ = ws.load()
    waves = list(programme.wave_ids)
    assert result["wave"] == waves[-1]

    # every export that waited in the inbox is stored once and moved to processed/<wave>/
    exports, _ = find_inbox_files(pristine, waves)
    assert sorted(f.wave for f in exports) == waves
    for item in exports:
        done = ws.inbox / "processed" / item.wave
        assert (done / item.path.name).read_bytes() == item.path.read_bytes()
        assert (done / item.mapping.name).is_file()
        assert not (ws.inbox / item.wave / item.path.name).exists()
    assert find_inbox_files(ws, waves) == ([], [])
    sources = WaveStore(ws.store).sources()
    assert (set(zip(sources["wave_id"], sources["source_name"], sources["sha256"], strict=True))
            == {(f.wave, f.path.name, _sha256(f.path)) for f in exports})
    by_file = {row["file"]: row for row in result["ingested"]}
    for source in sources.itertuples():
        row = by_file[source.source_name]
        assert row["status"] == "added"
        assert row["rows_read"] == source.rows_read == source.rows_accepted + \
            source.rows_quarantined
        assert (row["accepted"], sum(row["quarantined"].values())) == (
            source.rows_accepted, source.rows_quarantined)

    # the tables of the run, for every wave
    for group, name in (("psychometrics", "reliability"), ("benchmark", "summaries"),
                        ("ingest", "sources")):
        assert (ws.tables / group / f"{name}.parquet").is_file(), (group, name)
    summaries = pd.read_parquet(ws.tables / "benchmark" / "summaries.parquet")
    assert set(summaries["wave_id"].astype(str)) == set(waves)

    # the report site
    index = ws.reports / "index.html"
    assert result["index"] == str(index) and index.is_file()
    pages = sorted((ws.reports / "collaborations").glob("*.html"))
    assert len(pages) == len(programme.collaborations)
    assert not list(ws.reports.rglob("*.pdf"))

    # artifacts, read back from the server
    wave = waves[-1]
    (summary,) = _artifacts(f"wave-{wave}-summary", first_run.run_id)
    assert summary.type == "markdown"
    read, accepted, quarantined = (int(sources[c].sum()) for c in
                                   ("rows_read", "rows_accepted", "rows_quarantined"))
    assert read == accepted + quarantined and quarantined > 0
    assert (f"Rows read {read:,} = accepted {accepted:,} + quarantined {quarantined:,}."
            in summary.data)
    latest = summaries[summaries["wave_id"].astype(str) == wave]
    hidden = sorted(set(latest.loc[latest["suppressed"], "collaboration_id"]))
    assert hidden, "the simulated programme should have a collaboration below the threshold"
    assert (f"{len(hidden)} collaboration(s) with figures hidden (fewer than "
            f"{programme.disclosure_threshold} responses): {', '.join(hidden)}"
            in summary.data)

    (table,) = _artifacts(f"wave-{wave}-characteristics", first_run.run_id)
    assert table.type == "table"
    rows = json.loads(table.data)
    assert len(rows) == len(latest)
    shown = {(r["collaboration"], r["characteristic"]): r for r in rows}
    for r in latest.itertuples():
        row = shown[(r.collaboration_id, r.characteristic)]
        if r.suppressed:
            assert row["n"] == row["mean"] == row["ci_95"] == "suppressed"
        else:
            assert row["n"] == int(r.n) and row["mean"] == round(r.mean, 2)

    (link,) = _artifacts("report-index", first_run.run_id)
    assert link.data == f"[Benchmark reports (index)]({index.as_uri()})"


@pytest.mark.prefect
@pytest.mark.slow
def test_a_second_run_of_an_unchanged_programme_reads_the_analysis_from_the_cache(first_run):
    from prefect.client.orchestration import get_client

    from pipelines.flows import run_programme

    ws = first_run.ws
    state = run_programme(ws.root, pdf=False, reports=False, return_state=True)
    assert state.is_completed(), state
    second = state.result()
    assert second["ingested"] == [] and second["index"] is None

    before = _task_runs(first_run.run_id, ("compute-psychometrics", "compute-benchmark"))
    after = _task_runs(state.state_details.flow_run_id,
                       ("compute-psychometrics", "compute-benchmark"))
    for name in ("compute-psychometrics", "compute-benchmark"):
        assert _state_names(before, name) == ["Completed"], name
        assert _state_names(after, name) == ["Cached"], name
    pd.testing.assert_frame_equal(second["benchmark"].summaries,
                                  first_run.result["benchmark"].summaries)

    def analysis_seconds(run_id) -> float:
        with get_client(sync_client=True) as client:
            runs = _flow_runs(client, run_id)
        return sum(r.total_run_time.total_seconds() for r in runs
                   if r.name.startswith(("reliability-", "benchmark-")))

    first, cached = analysis_seconds(first_run.run_id), analysis_seconds(
        state.state_details.flow_run_id)
    assert cached < first / 3, (cached, first)


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.parametrize("where", ["processes", "dask"])
def test_the_analysis_spread_over_workers_gives_the_same_tables(first_run, where):
    """The fits of the psychometrics and of the trends on two local processes, or on a local
    Dask cluster of two, give the tables the first run computed here (5 collaborations: below
    PARALLEL_FROM, so serially) to the last digit; where they ran is not in the cache key."""
    from pipelines import analysis_flow

    ws, wave = first_run.ws, first_run.result["wave"]
    key = analysis_flow.fingerprint.fn(ws.root, wave)
    options = {"workers": 2, "dask": where == "dask"}
    psychometrics = analysis_flow.compute_psychometrics.fn(ws.root, wave, key, **options)
    benchmark = analysis_flow.compute_benchmark.fn(
        ws.root, wave, key, analysis_flow.scalar_invariance(psychometrics), **options)
    for ours, theirs in ((psychometrics, first_run.result["psychometrics"]),
                         (benchmark, first_run.result["benchmark"])):
        for name, table in theirs.tables().items():
            pd.testing.assert_frame_equal(ours.tables()[name], table, check_exact=True,
                                          obj=name)
    excluded = {p.exclude and tuple(sorted(p.exclude)) for p in
                analysis_flow.compute_psychometrics.cache_policy.policies if hasattr(p, "exclude")}
    assert excluded == {("dask", "dask_address", "workers")}
    assert analysis_flow.default_workers(analysis_flow.PARALLEL_FROM - 1) == 1


@pytest.mark.prefect
@pytest.mark.slow
def test_render_reports_on_a_dask_cluster_writes_the_same_files_as_the_local_path(
        first_run, tmp_path, monkeypatch):
    from pipelines import report_flow

    local = first_run.snapshot  # rendered by the first run, on local worker processes
    ws = _copy(local, tmp_path / "ws")
    shutil.rmtree(ws.reports)
    runners = []
    make_runner = report_flow.dask_runner

    def record(address, workers):
        runners.append(make_runner(address, workers))
        return runners[-1]

    monkeypatch.setattr(report_flow, "dask_runner", record)
    state = report_flow.render_reports(ws.root, first_run.result["wave"], pdf=False, dask=True,
                                       return_state=True)
    assert state.is_completed(), state
    assert state.result() == str(ws.reports / "index.html")

    (runner,) = runners  # a LocalCluster of two worker processes, started for the run
    assert runner.cluster_class == "distributed.LocalCluster" and runner.address is None
    assert runner.cluster_kwargs["n_workers"] == 2 and runner.cluster_kwargs["processes"]
    collaborations = len(ws.load()[0].collaborations)
    runs = _task_runs(state.state_details.flow_run_id, ("render-collaboration-report",))
    assert _state_names(runs, "render-collaboration-report") == ["Completed"] * collaborations
    assert "build-report-site" not in runs

    def files(root: Path) -> list[Path]:
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())

    assert files(ws.reports) == files(local.reports)
    compared = [p for p in files(local.reports) if p.suffix in (".ipynb", ".html", ".csv")]
    assert sum(p.parts[0] == "collaborations" for p in compared) == 2 * collaborations
    different = [str(p) for p in compared
                 if (ws.reports / p).read_bytes() != (local.reports / p).read_bytes()]
    assert different == []


@pytest.mark.prefect
@pytest.mark.slow
def test_watch_inbox_ingests_a_new_export_once_and_the_changed_wave_misses_the_cache(
        first_run):
    from pipelines.flows import watch_inbox

    ws = first_run.ws
    waves = list(ws.load()[0].wave_ids)
    first = waves[0]
    stored = WaveStore(ws.store).sources()
    (old,) = stored[stored["wave_id"] == first].itertuples()
    done = ws.inbox / "processed" / first / old.source_name
    # a corrected re-export of the first wave: the same file without its last respondent
    lines = done.read_bytes().rstrip(b"\r\n").split(b"\r\n")
    export = ws.inbox / first / old.source_name
    export.write_bytes(b"\r\n".join(lines[:-1]) + b"\r\n")
    shutil.copy(done.with_name(done.name + ".mapping.yaml"), ws.inbox / first)
    new_sha = _sha256(export)
    index = ws.reports / "index.html"
    index_before = index.stat().st_mtime_ns

    # two watchers start at once: one takes the inbox lock and runs, the other skips
    barrier = threading.Barrier(2)
    states: list = [None, None]

    def watch(k: int) -> None:
        barrier.wait()
        states[k] = watch_inbox(ws.root, pdf=False, return_state=True)

    threads = [threading.Thread(target=watch, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    results = [s.result() for s in states]
    assert sorted(r["status"] for r in results) == ["processed", SKIPPED]
    k = next(k for k, r in enumerate(results) if r["status"] == "processed")
    assert results[k]["files"] == 1 and results[k]["wave"] == waves[-1]

    # stored once, replacing the earlier export of the same name; moved out of the inbox
    sources = WaveStore(ws.store).sources()
    mine = sources[sources["source_name"] == old.source_name]
    assert list(zip(mine["wave_id"], mine["sha256"], strict=True)) == [(first, new_sha)]
    assert int(mine["rows_read"].iloc[0]) == old.rows_read - 1
    assert len(sources) == len(stored)
    assert not export.exists() and _sha256(done) == new_sha
    # the stored data changed, so the analysis was recomputed (the cache missed) and the
    # reports were rendered again
    runs = _task_runs(states[k].state_details.flow_run_id,
                      ("compute-psychometrics", "compute-benchmark", "build-report-site"))
    assert _state_names(runs, "compute-psychometrics") == ["Completed"]
    assert _state_names(runs, "compute-benchmark") == ["Completed"]
    assert index.stat().st_mtime_ns > index_before

    # the next scheduled watch finds nothing new and does nothing
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}
    assert WaveStore(ws.store).sources()["sha256"].tolist() == sources["sha256"].tolist()


@pytest.mark.prefect
def test_watch_inbox_moves_an_export_it_cannot_place_to_failed_with_the_reason(
        prefect_harness, tmp_path):
    from pipelines.flows import watch_inbox

    ws = init_workspace(tmp_path / "ws")
    stray = _touch(ws.inbox / "export.csv", "a,b\n1,2\n")

    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 1}
    assert not stray.exists()
    assert (ws.inbox / "failed" / "export.csv").read_text() == "a,b\n1,2\n"
    reason = (ws.inbox / "failed" / "export.csv.error.txt").read_text()
    assert reason.startswith("cannot tell its wave: put it in inbox/<wave>/")
    assert not (ws.store / "manifest.json").exists()
    assert watch_inbox(ws.root, pdf=False) == {"status": "nothing new", "rejected": 0}


@pytest.fixture
def flaky_store(monkeypatch):
    """``install(fail)`` wraps ``WaveStore.add``: call n raises ``fail(n)`` unless it is None
    (then the real method runs); returns the list of calls. The store task retries at once
    (its 1 s first back-off set to 0)."""
    from pipelines import ingest_flow

    calls: list[str] = []
    original = WaveStore.add
    monkeypatch.setattr(ingest_flow.store_wave, "retry_delay_seconds", 0)

    def install(fail):
        def add(self, wave_id, *args, **kwargs):
            calls.append(wave_id)
            error = fail(len(calls))
            if error is not None:
                raise error
            return original(self, wave_id, *args, **kwargs)

        monkeypatch.setattr(WaveStore, "add", add)
        return calls

    return install


@pytest.mark.prefect
def test_a_store_task_failing_with_an_os_error_is_retried_and_the_ingest_completes(
        pristine, tmp_path, flaky_store):
    from pipelines.ingest_flow import ingest_wave

    ws = _copy(pristine, tmp_path / "ws")
    wave = ws.load()[0].wave_ids[0]
    (item,) = [f for f in find_inbox_files(ws, [wave])[0]]
    calls = flaky_store(lambda n: OSError(errno.EBUSY, "network share busy") if n == 1 else None)

    state = ingest_wave(ws.root, wave, return_state=True)

    assert state.is_completed(), state
    assert calls == [wave, wave]
    (row,) = state.result()
    assert row["status"] == "added" and row["error"] == ""
    assert WaveStore(ws.store).sources()["source_name"].tolist() == [item.path.name]
    assert (ws.inbox / "processed" / wave / item.path.name).is_file()
    runs = _task_runs(state.state_details.flow_run_id, ("store-export",))
    (store_run,) = runs["store-export"]
    assert store_run.state.name == "Completed" and store_run.run_count == 2


@pytest.mark.prefect
def test_a_store_task_failing_with_a_collab_stats_error_is_not_retried(
        pristine, tmp_path, flaky_store):
    from pipelines.ingest_flow import ingest_wave

    ws = _copy(pristine, tmp_path / "ws")
    wave = ws.load()[0].wave_ids[0]
    (item,) = [f for f in find_inbox_files(ws, [wave])[0]]
    calls = flaky_store(lambda n: StoreError("two sources share a partition key"))

    state = ingest_wave(ws.root, wave, return_state=True)

    assert state.is_completed(), state  # the file failed, the flow did not
    assert calls == [wave]
    (row,) = state.result()
    assert row["status"] == "failed" and row["error"] == "two sources share a partition key"
    assert not (ws.store / "manifest.json").exists() or WaveStore(ws.store).sources().empty
    failed = ws.inbox / "failed" / wave
    assert (failed / item.path.name).is_file() and not item.path.exists()
    assert (failed / f"{item.path.name}.error.txt").read_text() == \
        "two sources share a partition key\n"

