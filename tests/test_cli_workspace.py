"""The workspace commands of ``collab``: init, run, report, serve, status, and progress.

Fast tests check the commands' checks, errors, help and wiring without running a flow. The
slow ones run ``collab run`` and ``collab status`` in-process on a small simulated workspace
under the session's Prefect test server (``prefect_harness``).
"""

from __future__ import annotations

import io

import pytest
import yaml

from collab_stats import dump_programme, load_instrument_family, load_programme
from collab_stats import simulate_programme as simulate_survey
from pipelines import progress
from pipelines.cli import main
from pipelines.environment import DEFAULTS
from pipelines.store import WaveStore
from pipelines.workspace import Workspace, init_workspace

COMMANDS = ["demo", "init", "run", "fetch", "report", "serve", "status", "ingest",
            "mapping propose",
            "instrument check", "programme check"]


@pytest.fixture(autouse=True)
def prefect_environment(tmp_path, monkeypatch):
    """configure() fills in Prefect's settings with setdefault: set them here, so what a
    command sets is undone after the test."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    for key, value in DEFAULTS.items():
        monkeypatch.setenv(key, value)


def _one_error_line(err: str, text: str) -> None:
    assert err.startswith("collab: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert text in err


# --- init ------------------------------------------------------------------------------------

def test_init_creates_the_layout_and_refuses_to_overwrite(tmp_path, capsys):
    root = tmp_path / "programme"
    assert main(["init", str(root)]) == 0
    out = capsys.readouterr().out
    programme = load_programme(root / "programme.yaml", instrument=load_instrument_family())
    for folder in ("inbox", "inbox/processed", "inbox/failed", "store", "tables", "reports",
                   *(f"inbox/{w}" for w in programme.wave_ids)):
        assert (root / folder).is_dir(), folder
    assert "secret.key" in (root / ".gitignore").read_text()
    assert f"Created the workspace {root.resolve()}" in out
    assert "Next steps" in out and "collab run -w" in out
    for wave in programme.wave_ids:
        assert f"inbox/{wave}/" in out

    before = (root / "programme.yaml").read_text()
    assert main(["init", str(root)]) == 2
    _one_error_line(capsys.readouterr().err, "exists already: not overwritten")
    assert (root / "programme.yaml").read_text() == before


def test_init_copies_a_given_programme_after_validating_it(tmp_path, capsys):
    sim = simulate_survey(seed=4, n_collaborations=5, n_waves=3)
    source = tmp_path / "mine.yaml"
    source.write_text(dump_programme(sim.programme))
    assert main(["init", str(tmp_path / "ws"), "--programme", str(source)]) == 0
    assert f"copied from {source} (valid)" in capsys.readouterr().out
    copied = load_programme(tmp_path / "ws" / "programme.yaml",
                            instrument=load_instrument_family())
    assert copied == sim.programme
    assert sorted(p.name for p in (tmp_path / "ws" / "inbox").iterdir()) == sorted(
        ["processed", "failed", *sim.programme.wave_ids])

    bad = tmp_path / "bad.yaml"
    bad.write_text("programme: {id: Bad Id, name: x, instrument: collaboration-indicators}\n"
                   "collaborations: []\nwaves: []\n")
    assert main(["init", str(tmp_path / "ws2"), "--programme", str(bad)]) == 2
    err = capsys.readouterr().err  # every problem of the file, on one line
    assert err.startswith(f"collab: error: {bad}: 3 problems") and "Traceback" not in err
    assert err.count("\n") == 1
    assert "'Bad Id' is not a valid identifier" in err
    assert not (tmp_path / "ws2" / "programme.yaml").exists()


# --- errors, help, Ctrl-C ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["run"], ["run", "--wave", "2025-03"], ["report"],
                                     ["status"], ["serve"]])
def test_commands_outside_a_workspace_fail_in_one_line(tmp_path, capsys, command):
    assert main([*command, "-w", str(tmp_path)]) == 2
    _one_error_line(capsys.readouterr().err, "not a collab-stats workspace (no programme.yaml)")


@pytest.fixture
def fresh(tmp_path, capsys) -> Workspace:
    ws = init_workspace(tmp_path / "fresh")
    for wave in ws.load()[0].wave_ids:
        (ws.inbox / wave).mkdir()
    capsys.readouterr()
    return ws


def test_run_checks_the_wave_and_the_data_before_starting_a_flow(fresh, capsys):
    assert main(["run", "-w", str(fresh.root), "--wave", "1999-01"]) == 2
    _one_error_line(capsys.readouterr().err, "--wave '1999-01' is not a wave of")
    assert main(["run", "-w", str(fresh.root), "--wave", "2025-03"]) == 2
    _one_error_line(capsys.readouterr().err, "wave '2025-03': nothing to analyse")
    assert main(["run", "-w", str(fresh.root)]) == 2
    _one_error_line(capsys.readouterr().err, "nothing to analyse: no exports waiting")
    assert main(["report", "-w", str(fresh.root)]) == 2
    _one_error_line(capsys.readouterr().err, "no analysis tables yet")
    assert not (fresh.prefect_home / "prefect.db").exists()  # no flow was started


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    example = [line for line in out.splitlines() if line.strip().startswith(f"collab {command}")]
    assert example, out


def test_ctrl_c_exits_with_130(fresh, capsys, monkeypatch):
    def interrupted(ws):
        raise KeyboardInterrupt

    monkeypatch.setattr("pipelines.cli_workspace.workspace_status", interrupted)
    assert main(["status", "-w", str(fresh.root), "--runs", "0"]) == 130
    assert capsys.readouterr().err == "collab: interrupted\n"


def test_serve_passes_its_options_on(fresh, monkeypatch):
    calls = []
    monkeypatch.setattr("pipelines.serve.serve_workspace",
                        lambda workspace, **options: calls.append((workspace, options)))
    assert main(["serve", "-w", str(fresh.root), "--port", "4300", "--inbox-interval", "60"]) == 0
    assert main(["serve", "-w", str(fresh.root), "--cron", "none"]) == 0
    assert main(["serve", "-w", str(fresh.root), "--cron", "0 6 1 */2 *"]) == 0
    assert calls == [
        (fresh.root, {"port": 4300, "inbox_interval": 60}),  # the serve module's default cron
        (fresh.root, {"port": 4200, "inbox_interval": 300, "wave_cron": None}),
        (fresh.root, {"port": 4200, "inbox_interval": 300, "wave_cron": "0 6 1 */2 *"}),
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "-w", str(fresh.root), "--inbox-interval", "5"])
    assert exit_info.value.code == 2


# --- status without runs ------------------------------------------------------------------------

def test_status_of_a_fresh_workspace_lists_waves_and_the_inbox(fresh, capsys, monkeypatch):
    (fresh.inbox / "2025-09" / "wave2.csv").write_text("a,b\n1,2\n")
    (fresh.inbox / "notes.pdf").write_text("not an export")
    failed = fresh.inbox / "failed" / "2025-03"
    failed.mkdir(parents=True)
    (failed / "old.csv").write_text("x\n")
    (failed / "old.csv.error.txt").write_text("why\n")

    def unreadable() -> bool:
        raise RuntimeError("no server")

    monkeypatch.setattr("pipelines.cli_workspace._database_may_hold_runs", unreadable)
    assert main(["status", "-w", str(fresh.root)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith("2025-")}
    # wave, instrument, sources, rows read, accepted, quarantined, waiting, failed
    assert rows["2025-03"] == ["2025-03", "1.0", "0", "-", "-", "-", "0", "1"]
    assert rows["2025-09"] == ["2025-09", "2.0", "0", "-", "-", "-", "1", "0"]
    assert "Quarantined rows: none." in out
    assert "Inbox file not picked up: " in out and "notes.pdf: not a survey export" in out
    assert "Reports: not built yet" in out
    assert "Recent runs (Prefect): no runs recorded yet" in out  # reading them failed


# --- progress ----------------------------------------------------------------------------------

class _Recorder:
    def __init__(self):
        self.events = []

    def stage(self, name, total=None):
        self.events.append(("stage", name, total))

    def step(self, message):
        self.events.append(("step", message))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_reaches_the_listener_only_while_listening():
    assert progress.current() is None
    progress.stage("ignored")  # nobody listens: a no-op
    recorder = _Recorder()
    with progress.listening(recorder):
        progress.stage("reports", total=2)
        step = progress.current()
        step("a")
        step("b")
    assert progress.current() is None
    assert recorder.events == [("stage", "reports", 2), ("step", "a"), ("step", "b")]


def test_terminal_progress_draws_a_bar_on_a_terminal_and_clears_it():
    quiet = io.StringIO()
    with progress.terminal_progress("work", expected={"reports": 3}, stream=quiet) as listener:
        assert listener is None and progress.current() is None
    assert quiet.getvalue() == ""

    terminal = _Terminal()
    with progress.terminal_progress("work", expected={"reports": 3}, stream=terminal):
        progress.stage("ingest 2025-03")
        for name in ("north", "south", "east"):
            progress.current()(name)
    drawn = terminal.getvalue()
    assert "reports (east done)" in drawn and "3/3" in drawn
    assert drawn.endswith("\x1b[2K")  # the last line is erased: the bar disappears
    assert progress.current() is None


# --- a simulated workspace, run for real ------------------------------------------------------

@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Workspace:
    """4 collaborations x 2 waves written into a workspace, each wave's export waiting in
    inbox/<wave>/ with its mapping (the simulate flow's tasks, without a flow run)."""
    from pipelines.simulate_flow import export_waves, simulate, write_programme

    root = tmp_path_factory.mktemp("simulated")
    sim = simulate.fn(seed=17, n_collaborations=4, n_waves=2)
    write_programme.fn(sim, root)
    export_waves.fn(sim, root)
    return Workspace.at(root)


@pytest.mark.slow
@pytest.mark.prefect
def test_run_and_status_on_a_simulated_workspace(simulated, prefect_harness, capsys):
    ws = str(simulated.root)
    assert main(["status", "-w", ws]) == 0
    before = capsys.readouterr().out
    assert "Recent runs (Prefect): no runs recorded yet" in before
    waiting = {line.split()[0]: line.split()[-2] for line in before.splitlines()
               if line.startswith("2025-")}
    assert waiting == {"2025-03": "1", "2025-09": "1"}  # each wave's export in its inbox

    (simulated.inbox / "2025-03" / "junk.csv").write_text("a,b\n1,2\n")  # no mapping fits
    assert main(["run", "-w", ws, "--wave", "2025-03", "--no-pdf"]) == 1  # an export failed
    captured = capsys.readouterr()
    out = captured.out
    assert "Traceback" not in captured.err and "ERROR" not in captured.err
    assert "junk.csv" in out and "failed: " in out and "collab mapping propose" in out
    times = next(line for line in out.splitlines() if line.startswith("Time by stage: "))
    stages = [part.split()[0] for part in times.removeprefix("Time by stage: ")
              .split(" (total")[0].split(", ")]
    assert stages == ["ingest", "psychometrics", "benchmark", "reports"], times
    assert (simulated.inbox / "failed" / "2025-03" / "junk.csv.error.txt").is_file()
    index = simulated.reports / "index.html"
    assert f"Reports: {index}" in out and index.is_file()
    stored = WaveStore(simulated.store).status().set_index("wave_id").loc["2025-03"]
    quarantine = WaveStore(simulated.store).ingest_tables()["quarantine"]
    reasons = quarantine.groupby("reason")["rows"].sum()  # alphabetical, as run prints
    assert stored["rows_quarantined"] > 0  # the simulated export has unfinished responses
    assert (f"2025-03-qualtrics.csv  qualtrics, wave 2025-03: {stored['rows_read']} rows read "
            f"= {stored['rows_accepted']} accepted + {stored['rows_quarantined']} quarantined ("
            + ", ".join(f"{k} {v}" for k, v in reasons.items()) + "); added") in out
    assert "Reliability: Cronbach's alpha " in out and "across 8 characteristics" in out
    assert "Disclosure control: " in out and "hidden in wave 2025-03" in out

    assert main(["status", "-w", ws]) == 0
    after = capsys.readouterr().out
    row = next(line.split() for line in after.splitlines() if line.startswith("2025-03"))
    assert row == ["2025-03", "1.0", "1", str(stored["rows_read"]), str(stored["rows_accepted"]),
                   str(stored["rows_quarantined"]), "0", "1"]  # junk.csv in inbox/failed/
    wave2 = next(line.split() for line in after.splitlines() if line.startswith("2025-09"))
    assert wave2[2] == "0" and wave2[-2] == "1"  # still waiting in the inbox
    by_size = reasons.sort_values(ascending=False, kind="stable")  # as status prints
    assert ("2025-03     " + ", ".join(f"{k} {v}" for k, v in by_size.items())) in after
    assert f"Reports: {index}" in after
    runs = after.split("Recent runs (Prefect):")[1].split()
    assert runs[:2] == ["run-2025-03", "Failed"]  # junk.csv failed: the run ends Failed

    # Nothing new: the stored wave is analysed again (from Prefect's cache), no reports.
    assert main(["run", "-w", ws, "--wave", "2025-03", "--no-reports"]) == 0
    again = capsys.readouterr().out
    assert "No new exports in the inbox" in again and "Reports: not built" in again

    assert main(["report", "-w", ws, "--wave", "2025-09"]) == 2
    _one_error_line(capsys.readouterr().err, "--wave '2025-09' has not been analysed")
    assert main(["report", "-w", ws, "--no-pdf"]) == 0
    assert capsys.readouterr().out.strip() == f"Reports of wave 2025-03 (HTML): {index}"
    programme = yaml.safe_load(simulated.programme_file.read_text())
    assert len(programme["collaborations"]) == 4
    assert len(list((simulated.reports / "collaborations").glob("*.html"))) == 4


def test_recent_runs_keeps_this_workspaces_runs(tmp_path):
    from pipelines.workspace import same_workspace as _same_workspace

    root = (tmp_path / "ws").resolve()
    assert _same_workspace(str(root), root)
    assert _same_workspace(tmp_path / "ws" / "sub" / "..", root)
    assert not _same_workspace(str(tmp_path / "other"), root)
    assert not _same_workspace(None, root) and not _same_workspace(3, root)


def test_stage_times_are_printed_in_stage_order_with_the_total():
    from pipelines.cli_workspace import format_stage_times

    assert format_stage_times({"reports": 95.0, "ingest": 1.25, "psychometrics": 8.0}) == (
        "Time by stage: ingest 1.2 s, psychometrics 8.0 s, reports 1 min 35 s "
        "(total 1 min 44 s)")
    assert format_stage_times({}) == "Time by stage: nothing was run"
