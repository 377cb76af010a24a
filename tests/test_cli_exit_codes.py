"""Every ``collab`` command ends with the exit status of :mod:`pipelines.exit_codes` and
prints each error as one line; the embedded Prefect server gets a generous start-up timeout
and one retry (:mod:`pipelines.environment`).

Each command runs in-process through ``pipelines.cli.main``; nothing here starts a flow (the
flows and the server are replaced where a command would start them).
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError, IngestError
from collab_stats.ingest.simulated import write_wave_export
from pipelines.cli import main
from pipelines.environment import (
    DEFAULTS,
    STARTUP_TIMEOUT_SECONDS,
    STARTUP_TIMEOUT_VARIABLE,
    configure,
    start_embedded_server,
)
from pipelines.exit_codes import SHORT_HELP, ExitCode, one_line, outcome
from pipelines.store import WaveStore
from pipelines.workspace import Workspace, find_inbox_files, init_workspace, move_processed

WAVE = "2025-03"
TIMED_OUT = "Timed out while attempting to connect to ephemeral Prefect API server."
RETRY_NOTICE = (f"the local Prefect server did not start within {STARTUP_TIMEOUT_SECONDS} s; "
                f"retrying once (set {STARTUP_TIMEOUT_VARIABLE} to wait longer)")


@pytest.fixture(autouse=True)
def prefect_environment(tmp_path, monkeypatch):
    """configure() fills in Prefect's settings with setdefault: set them here, so that what a
    command sets is undone after the test; no COLLAB_DEBUG from the caller's shell."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    for key, value in DEFAULTS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("COLLAB_DEBUG", raising=False)


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=3, n_collaborations=4, n_waves=2)


@pytest.fixture
def ws(sim, tmp_path, monkeypatch) -> Workspace:
    """A workspace with wave 2025-03's Qualtrics export (and its mapping) in the inbox; the
    current folder is elsewhere."""
    workspace = init_workspace(tmp_path / "ws", programme=sim.programme)
    write_wave_export(sim, WAVE, "qualtrics", workspace.inbox / WAVE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return workspace


@pytest.fixture
def export(ws) -> Path:
    return ws.inbox / WAVE / f"{WAVE}-qualtrics.csv"


def _error(capsys, text: str, *, prefix: str = "collab: error: ") -> str:
    """stderr is exactly one line: the error, containing ``text``."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(prefix), err
    assert "Traceback" not in err
    assert text in err, err
    return err


# --- the scheme ---------------------------------------------------------------------------------

def test_the_scheme_is_in_the_help_of_collab_and_of_every_command(capsys):
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 130]
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    table = out.split("exit status (every command):\n")[1].splitlines()
    assert [line.split()[0] for line in table if line[:3].strip()] == ["0", "1", "2", "3", "130"]
    for command in (["ingest"], ["run"], ["mapping", "propose"], ["programme", "check"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert SHORT_HELP in capsys.readouterr().out.replace("\n", " "), command


def test_one_line_joins_the_lines_of_a_message():
    assert one_line("a.yaml: 2 problems in the programme definition:\n  - x: bad\n  - y: bad") \
        == "a.yaml: 2 problems in the programme definition: x: bad; y: bad"
    assert one_line("could not read it.\nThis is most probably\n\nbad XML") \
        == "could not read it. This is most probably; bad XML"
    assert one_line("one line") == "one line"


@pytest.mark.parametrize(("exc", "code", "line"), [
    (IngestError("w.csv", "bad\nworse", row=3), ExitCode.ERROR,
     "collab: error: w.csv, row 3: bad; worse"),
    (PermissionError(errno.EACCES, "Permission denied", "/ws/store"), ExitCode.ERROR,
     "collab: error: /ws/store: Permission denied"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"), ExitCode.ERROR,
     "collab: error: /a -> /b: Invalid cross-device link"),
    (KeyboardInterrupt(), ExitCode.INTERRUPTED, "collab: interrupted"),
    (RuntimeError("boom\nsecond line"), ExitCode.INTERNAL_ERROR,
     "collab: internal error: RuntimeError: boom; second line (run with COLLAB_DEBUG=1 for "
     "the traceback)"),
    (KeyError(), ExitCode.INTERNAL_ERROR,
     "collab: internal error: KeyError (run with COLLAB_DEBUG=1 for the traceback)"),
])
def test_outcome_of_each_kind_of_exception(exc, code, line):
    assert outcome(exc) == (code, line)


# --- 0: done ------------------------------------------------------------------------------------

def test_commands_that_succeed_exit_0(ws, export, tmp_path, capsys, monkeypatch):
    programme_file = str(ws.programme_file)
    assert main(["init", str(tmp_path / "new")]) == 0
    assert main(["instrument", "check"]) == 0
    assert main(["programme", "check", programme_file]) == 0
    assert main(["mapping", "propose", str(export), "-o", str(tmp_path / "m.yaml")]) == 0
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "quarantined (incomplete" in out  # quarantined rows are a normal outcome: still 0
    assert main(["status", "-w", str(ws.root), "--runs", "0"]) == 0
    monkeypatch.setattr("pipelines.serve.serve_workspace", lambda workspace, **options: None)
    assert main(["serve", "-w", str(ws.root)]) == 0
    assert capsys.readouterr().err == ""


def _fake_run(ingested: list[dict]) -> dict:
    """What run_programme returns, reduced to what `collab run` prints."""
    reliability = pd.DataFrame({"level": ["programme"], "wave_id": [WAVE], "alpha": [0.81]})
    summaries = pd.DataFrame({"wave_id": [WAVE], "suppressed": [False],
                              "collaboration_id": ["c1"]})
    return {"wave": WAVE, "ingested": ingested, "index": None,
            "psychometrics": SimpleNamespace(reliability=reliability, flags=pd.DataFrame()),
            "benchmark": SimpleNamespace(summaries=summaries)}


def _row(name: str, status: str) -> dict:
    return {"file": name, "wave": WAVE, "format": "qualtrics", "status": status,
            "rows_read": 10, "accepted": 8, "quarantined": {"incomplete": 2},
            "error": "no mapping fits" if status == "failed" else ""}


@pytest.mark.parametrize(("statuses", "code"), [
    (["added"], ExitCode.OK),
    (["added", "failed"], ExitCode.EXPORTS_FAILED),
])
def test_run_exits_1_when_an_export_could_not_be_ingested(ws, capsys, monkeypatch, statuses,
                                                         code):
    rows = [_row(f"file{k}.csv", status) for k, status in enumerate(statuses)]
    monkeypatch.setattr("pipelines.environment.start_embedded_server", lambda say: None)
    monkeypatch.setattr("pipelines.flows.run_programme", lambda *a, **k: _fake_run(rows))
    assert main(["run", "-w", str(ws.root), "--no-reports"]) == code
    out = capsys.readouterr().out
    assert "8 accepted + 2 quarantined (incomplete 2)" in out
    assert ("failed: no mapping fits" in out) == (code == ExitCode.EXPORTS_FAILED)


# --- 2: bad input -------------------------------------------------------------------------------

def test_ingest_of_a_missing_file_exits_2(ws, capsys):
    assert main(["ingest", "missing.csv", "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, "missing.csv: cannot read the file")


def test_ingest_with_a_bad_mapping_exits_2(ws, export, tmp_path, capsys):
    bad = tmp_path / "bad.mapping.yaml"
    bad.write_text("columns: [unclosed\n")
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root),
                 "--mapping", str(bad)]) == 2
    _error(capsys, "not valid YAML")
    bad.write_text("instrument: collaboration-indicators\ncolumns:\n  Q1: {item: NOPE}\n"
                   "  Q2: {item: ALSO_NOPE}\n")
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root),
                 "--mapping", str(bad)]) == 2
    err = _error(capsys, "2 problems in the column mapping: ")  # one line for both problems
    assert "'NOPE'" in err and "'ALSO_NOPE'" in err


def test_ingest_with_a_low_confidence_mapping_refuses_and_exits_2(ws, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("Favourite colour,Shoe size\nred,9\nblue,7\n")
    assert main(["ingest", str(other), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, "not ingested: 2 columns match the instrument with low confidence")
    assert WaveStore(ws.store).wave_ids() == []  # nothing stored


def test_ingest_of_a_non_redcap_export_with_a_dictionary_exits_2(ws, export, tmp_path, capsys):
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root),
                 "--dictionary", str(tmp_path / "dictionary.csv")]) == 2
    _error(capsys, "--dictionary is for a REDCap export, and this is a qualtrics export")


def _billion_laughs(path: Path) -> Path:
    """An .xlsx whose workbook.xml declares XML entities (openpyxl refuses it in 3 lines)."""
    from openpyxl import Workbook

    plain = path.with_name("plain.xlsx")
    book = Workbook()
    book.active.append(["a", "b"])
    book.save(plain)
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
            ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n')
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = (bomb + data.decode().split("?>", 1)[-1]).encode()
            target.writestr(item, data)
    return path


def test_a_billion_laughs_workbook_exits_2_in_one_line(ws, tmp_path, capsys):
    laughs = _billion_laughs(tmp_path / "laughs.xlsx")
    assert main(["ingest", str(laughs), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, f"collab: error: {laughs}: ")
    assert main(["mapping", "propose", str(laughs)]) == 2
    _error(capsys, f"collab: error: {laughs}: ")


def test_an_error_message_of_several_lines_is_printed_as_one(ws, export, capsys, monkeypatch):
    def three_lines(path, **options):  # as openpyxl's message for a workbook with a DTD was
        raise IngestError(str(path), "not a readable .xlsx workbook (ValueError: Unable to "
                          "read workbook: could not read workbook from it.\nThis is most "
                          "probably because the workbook source files contain some invalid "
                          "XML.\nPlease see the exception for more details.)")

    monkeypatch.setattr("pipelines.ingest_cli.read_export", three_lines)
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, "could not read workbook from it. This is most probably because the "
                   "workbook source files contain some invalid XML. Please see the exception")


def test_a_bad_programme_file_exits_2_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("programme: {id: Bad Id, name: x, instrument: collaboration-indicators}\n"
                   "collaborations: []\nwaves: []\n")
    assert main(["programme", "check", str(bad)]) == 2
    err = _error(capsys, f"{bad}: 3 problems in the programme definition: ")
    assert "collaborations: must not be empty" in err and "waves: must not be empty" in err
    assert main(["init", str(tmp_path / "ws"), "--programme", str(bad)]) == 2
    _error(capsys, "3 problems")
    assert main(["programme", "check", str(tmp_path / "missing.yaml")]) == 2
    _error(capsys, "missing.yaml")


@pytest.mark.parametrize("command", [["run"], ["report"], ["status"], ["serve"],
                                     ["ingest", "x.csv", "--wave", WAVE]])
def test_a_workspace_path_that_is_a_file_exits_2(tmp_path, capsys, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a workspace")
    assert main([*command, "-w", str(a_file)]) == 2
    _error(capsys, f"{a_file}: a file, not a workspace folder")


def test_init_where_a_file_is_in_the_way_exits_2(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    assert main(["init", str(a_file)]) == 2
    _error(capsys, f"{a_file}: a file, not a folder")
    assert main(["init", str(a_file / "ws")]) == 2
    _error(capsys, f"({a_file} is a file, where a folder is needed)")


def test_a_file_where_the_store_should_be_exits_2_naming_it(ws, export, capsys):
    ws.store.rmdir()
    ws.store.write_text("not a folder")
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, f"{ws.store}: File exists ({ws.store} is a file, where a folder is needed)")


def test_an_unwritable_workspace_exits_2_naming_the_path(ws, export, capsys, monkeypatch):
    def read_only(root):  # as a read-only file system (the tests may run as root)
        raise PermissionError(errno.EROFS, "Read-only file system", str(root))

    monkeypatch.setattr("pipelines.ingest_cli.WaveStore", read_only)
    assert main(["ingest", str(export), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, f"collab: error: {ws.store}: Read-only file system")


def test_a_bad_argument_exits_2_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--collaborations", "0"])
    assert exit_info.value.code == 2
    _error(capsys, "the value must be at least 1, got 0 (see: collab demo --help)",
           prefix="collab demo: error: argument --collaborations: ")
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest"])
    assert exit_info.value.code == 2
    _error(capsys, "the following arguments are required", prefix="collab ingest: error: ")


# --- 3: internal error --------------------------------------------------------------------------

def _boom(*args, **kwargs):
    raise RuntimeError("boom\nand a second line")


INTERNAL = "collab: internal error: RuntimeError: boom; and a second line (run with " \
           "COLLAB_DEBUG=1 for the traceback)\n"


@pytest.mark.parametrize(("target", "command"), [
    ("pipelines.cli_workspace.init_workspace", ["init", "{tmp}/new"]),
    ("collab_stats.load_instrument_family", ["instrument", "check"]),
    ("collab_stats.load_programme", ["programme", "check", "{ws}/programme.yaml"]),
    ("pipelines.ingest_cli.propose_mapping", ["mapping", "propose", "{export}"]),
    ("pipelines.ingest_cli.convert_export", ["ingest", "{export}", "--wave", WAVE, "-w", "{ws}"]),
    ("pipelines.cli_workspace._check_runnable", ["run", "-w", "{ws}"]),
    ("pipelines.cli_workspace.analysed_waves", ["report", "-w", "{ws}"]),
    ("pipelines.cli_workspace.workspace_status", ["status", "-w", "{ws}", "--runs", "0"]),
    ("pipelines.serve.serve_workspace", ["serve", "-w", "{ws}"]),
    ("pipelines.environment.configure", ["demo", "--output", "{tmp}/demo"]),
])
def test_an_unexpected_exception_exits_3_in_one_line(ws, export, tmp_path, capsys, monkeypatch,
                                                     target, command):
    monkeypatch.setattr(target, _boom)
    argv = [part.format(tmp=tmp_path, ws=ws.root, export=export) for part in command]
    assert main(argv) == 3
    assert capsys.readouterr().err == INTERNAL


def test_collab_debug_shows_the_traceback_of_an_error(ws, capsys, monkeypatch):
    monkeypatch.setattr("pipelines.cli_workspace.workspace_status", _boom)
    monkeypatch.setenv("COLLAB_DEBUG", "1")
    assert main(["status", "-w", str(ws.root), "--runs", "0"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith(INTERNAL)


# --- an export ingested from the inbox can be ingested again from inbox/processed/ ----------------

def test_an_export_in_processed_is_ingested_again_with_its_mapping(ws, capsys):
    programme, _ = ws.load()
    (item,), _ = find_inbox_files(ws, list(programme.wave_ids))
    assert item.mapping is not None  # the export's own mapping, beside it in the inbox
    moved = move_processed(ws, item)  # what the inbox flow does after ingesting it
    assert moved == ws.inbox / "processed" / WAVE / f"{WAVE}-qualtrics.csv"
    mapping = moved.with_name(moved.name + ".mapping.yaml")
    assert mapping.is_file() and not item.mapping.exists()  # moved with it, not left behind

    assert main(["ingest", str(moved), "--wave", WAVE, "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert f"using the mapping beside it, {mapping.name}" in out
    assert "103 rows read = 98 accepted + 5 quarantined (incomplete 5); added" in out
    mapping.unlink()  # without it the proposal is too unsure (the demo links on an id column)
    assert main(["ingest", str(moved), "--wave", WAVE, "-w", str(ws.root)]) == 2
    _error(capsys, "not ingested")


def test_a_redcap_export_in_processed_finds_the_copied_dictionary(ws, sim, capsys):
    write_wave_export(sim, "2025-09", "redcap", ws.inbox / "2025-09")
    programme, _ = ws.load()
    files, _ = find_inbox_files(ws, list(programme.wave_ids))
    item = next(f for f in files if f.wave == "2025-09")
    assert item.dictionary is not None and item.mapping is not None
    moved = move_processed(ws, item)
    assert item.dictionary.is_file()  # shared by the wave's exports: copied, not moved
    assert (moved.parent / item.dictionary.name).is_file()
    assert main(["ingest", str(moved), "--wave", "2025-09", "-w", str(ws.root)]) == 0
    assert "redcap" in capsys.readouterr().out


# --- the embedded Prefect server: start-up timeout and one retry ----------------------------------

def test_configure_gives_the_embedded_server_90_seconds_unless_told_otherwise(tmp_path,
                                                                              monkeypatch):
    from prefect.settings import Settings

    monkeypatch.delenv(STARTUP_TIMEOUT_VARIABLE)
    configure(tmp_path)
    assert STARTUP_TIMEOUT_SECONDS == 90
    assert Settings().server.ephemeral.startup_timeout_seconds == 90  # what Prefect reads
    monkeypatch.setenv(STARTUP_TIMEOUT_VARIABLE, "300")
    configure(tmp_path)
    assert Settings().server.ephemeral.startup_timeout_seconds == 300  # the user's wins


class _FlakyServer:
    """Replaces SubprocessASGIServer's start and stop: start raises Prefect's time-out error
    ``failures`` times, then succeeds."""

    def __init__(self, monkeypatch, failures: int, error: str = TIMED_OUT):
        from prefect.server.api.server import SubprocessASGIServer

        self.failures, self.error, self.calls = failures, error, []
        monkeypatch.setattr(SubprocessASGIServer, "start", self.start)
        monkeypatch.setattr(SubprocessASGIServer, "stop", self.stop)

    def start(self, timeout=None):
        self.calls.append("start")
        if self.failures:
            self.failures -= 1
            raise RuntimeError(self.error)

    def stop(self):
        self.calls.append("stop")


@pytest.fixture
def embedded():
    """Prefect settings as for the embedded server: no API URL, temporary server allowed."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        temporary_settings,
    )

    with temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_ENABLED: True},
                            restore_defaults={PREFECT_API_URL}):
        yield


def test_start_embedded_server_retries_once_after_a_timeout(embedded, monkeypatch):
    said = []
    server = _FlakyServer(monkeypatch, failures=1)
    start_embedded_server(say=said.append)
    assert server.calls == ["start", "stop", "start"]
    assert said == [RETRY_NOTICE]

    server = _FlakyServer(monkeypatch, failures=2)
    with pytest.raises(CollabStatsError, match=f"did not start within 90 s, twice .*set "
                                               f"{STARTUP_TIMEOUT_VARIABLE} to wait longer"):
        start_embedded_server(say=said.append)
    assert server.calls == ["start", "stop", "start", "stop"]

    server = _FlakyServer(monkeypatch, failures=1, error="something else")
    with pytest.raises(RuntimeError, match="something else"):  # not a time-out: no retry
        start_embedded_server(say=said.append)
    assert server.calls == ["start"]


def test_start_embedded_server_leaves_a_given_server_alone(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = _FlakyServer(monkeypatch, failures=0)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        start_embedded_server(say=print)
    assert server.calls == []


def test_a_command_succeeds_when_the_server_starts_at_the_second_try(ws, embedded, capsys,
                                                                     monkeypatch):
    summaries = ws.tables / "benchmark" / "summaries.parquet"
    summaries.parent.mkdir(parents=True)
    pd.DataFrame({"wave_id": [WAVE]}).to_parquet(summaries)
    server = _FlakyServer(monkeypatch, failures=1)
    monkeypatch.setattr("pipelines.flows.rebuild_reports",
                        lambda workspace, wave, pdf, **options: str(ws.reports / "index.html"))
    assert main(["report", "-w", str(ws.root), "--no-pdf"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count(RETRY_NOTICE) == 1
    assert captured.out == f"Reports of wave {WAVE} (HTML): {ws.reports / 'index.html'}\n"
    assert server.calls == ["start", "stop", "start"]

    _FlakyServer(monkeypatch, failures=2)
    assert main(["report", "-w", str(ws.root), "--no-pdf"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-2] == RETRY_NOTICE
    assert err[-1].startswith("collab: error: the local Prefect server did not start within")


def test_the_inbox_reads_a_non_redcap_export_beside_a_redcap_dictionary(ws, sim, export):
    from pipelines.ingest_flow import read_file

    write_wave_export(sim, "2025-09", "redcap", ws.inbox / WAVE)  # its dictionary beside
    programme, _ = ws.load()
    files, _ = find_inbox_files(ws, list(programme.wave_ids))
    item = next(f for f in files if f.path == export)
    assert item.dictionary is not None
    raw, _ = read_file.fn(item.path, item.dictionary)  # not given to the Qualtrics reader
    assert raw.format == "qualtrics"
