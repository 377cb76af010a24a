"""The pipeline layer: atomic files, the simulate flow's tasks and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from collab_stats import load_instrument_family, load_programme
from pipelines.cli import main
from pipelines.files import write_atomic, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = write_text_atomic(tmp_path / "out.txt", "old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left behind


def test_simulate_flow_tasks_write_files_that_load_back(tmp_path):
    from pipelines.simulate_flow import simulate, write_programme, write_tables

    sim = simulate.fn(seed=3, n_collaborations=3, n_waves=2)
    programme_file = write_programme.fn(sim, tmp_path)
    assert load_programme(programme_file, instrument=load_instrument_family()) == sim.programme
    files = write_tables.fn(sim, tmp_path)
    responses = pd.read_parquet(next(f for f in files if f.name == "responses.parquet"))
    pd.testing.assert_frame_equal(responses, sim.data.responses.reset_index(drop=True),
                                  check_categorical=False)


def test_cli_instrument_check_describes_the_bundled_instrument(capsys):
    assert main(["instrument", "check"]) == 0
    out = capsys.readouterr().out
    assert "8 characteristics, 26 indicators" in out
    assert "split MI03 -> MI03A + MI03B" in out


def test_cli_reports_every_problem_of_an_invalid_programme_in_one_line(tmp_path, capsys):
    bad = tmp_path / "programme.yaml"
    bad.write_text("programme: {id: Bad Id, name: x, instrument: collaboration-indicators}\n"
                   "collaborations: []\nwaves: []\n")
    assert main(["programme", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"collab: error: {bad}: 3 problems in the programme definition: ")
    assert err.count("\n") == 1
    assert "programme.id: 'Bad Id' is not a valid identifier" in err
    assert "collaborations: must not be empty" in err
    assert "Traceback" not in err


def test_cli_rejects_a_non_positive_size():
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--collaborations", "0"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_demo_runs_end_to_end_on_the_embedded_prefect_server(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--collaborations", "4", "--waves", "2",
         "--seed", "11", "--output", str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "4 collaborations" in result.stdout
    assert "2025-03" in result.stdout and "2025-09" in result.stdout
    programme = load_programme(out / "programme.yaml", instrument=load_instrument_family())
    assert len(programme.collaborations) == 4
    assert (out / "simulated" / "responses.parquet").is_file()
    assert "Instrument: Cronbach's alpha" in result.stdout
    assert "2025-03-qualtrics.csv" in result.stdout and "2025-09-surveymonkey.xlsx" in result.stdout
    assert (out / "store" / "manifest.json").is_file()
    assert (out / "secret.key").is_file() and not (out / "store" / "secret.key").exists()
    assert "Disclosure control:" in result.stdout
    summaries = pd.read_parquet(out / "tables" / "benchmark" / "summaries.parquet")
    assert (summaries.loc[~summaries["suppressed"], "n"] >= 10).all()
    assert (out / "tables" / "psychometrics" / "reliability.parquet").is_file()
    assert (out / ".prefect").is_dir()  # Prefect's home stays inside the workspace
    index = out / "reports" / "index.html"
    assert index.is_file() and f"Open the reports: {index.resolve().as_uri()}" in result.stdout
    assert "Time by stage: simulate " in result.stdout
    assert all(f", {stage} " in result.stdout
               for stage in ("ingest", "psychometrics", "benchmark", "reports"))
    assert "\x1b[" not in result.stderr  # no progress bar drawn when stderr is not a terminal
    assert "Traceback" not in result.stderr
