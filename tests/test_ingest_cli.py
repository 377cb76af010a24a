"""`collab ingest` and `collab mapping propose` end to end (no Prefect involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collab_stats import dump_programme, simulate_programme
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.simulated import write_wave_export
from pipelines.cli import main
from pipelines.store import WaveStore

EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "exports"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    sim = simulate_programme(seed=3, n_collaborations=4, n_waves=2)
    (tmp_path / "programme.yaml").write_text(dump_programme(sim.programme))
    write_wave_export(sim, "2025-03", "qualtrics", tmp_path)
    write_wave_export(sim, "2025-09", "redcap", tmp_path)
    monkeypatch.chdir(tmp_path)
    return sim


def test_ingest_stores_accepted_rows_and_is_idempotent(workspace, capsys):
    args = ["ingest", "2025-03-qualtrics.csv", "--wave", "2025-03",
            "--mapping", "2025-03-qualtrics.csv.mapping.yaml"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "103 rows read = 98 accepted + 5 quarantined (incomplete 5); added" in first
    assert Path("secret.key").stat().st_mode & 0o077 == 0  # only its owner can read the key
    assert main(args) == 0
    assert "unchanged in store" in capsys.readouterr().out
    store = WaveStore(Path("store"))
    assert len(store.load().respondents) == 98
    assert len(store.quarantine()) >= 5


def test_ingest_of_another_wave_with_its_dictionary(workspace, capsys):
    assert main(["ingest", "2025-09-redcap.csv", "--wave", "2025-09", "--dictionary",
                 "2025-09-redcap-dictionary.csv", "--mapping",
                 "2025-09-redcap.csv.mapping.yaml"]) == 0
    assert "redcap" in capsys.readouterr().out


def test_unreadable_files_give_one_line_and_exit_2(workspace, capsys):
    Path("junk.csv").write_bytes(b"\x00\x01\x02garbage")
    assert main(["ingest", "junk.csv", "--wave", "2025-03"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collab: error: junk.csv: binary content") and err.count("\n") == 1
    assert main(["ingest", "missing.csv", "--wave", "2025-03"]) == 2
    assert "missing.csv: cannot read the file" in capsys.readouterr().err
    assert main(["ingest", "2025-03-qualtrics.csv", "--wave", "1999-01"]) == 2
    assert "is not a wave of" in capsys.readouterr().err


def test_a_real_export_of_another_survey_is_not_ingested_without_a_mapping(workspace, capsys):
    real = EXPORTS / "qualtrics" / "qualtRics__sample.csv"
    assert main(["ingest", str(real), "--wave", "2025-03"]) == 2  # bad input: refused
    err = capsys.readouterr().err
    assert err.startswith(f"collab: error: {real}: not ingested: ") and err.count("\n") == 1
    assert "collab mapping propose" in err


def test_mapping_propose_writes_a_mapping_that_loads(workspace, capsys):
    assert main(["mapping", "propose", "2025-03-qualtrics.csv", "-o", "m.yaml"]) == 0
    out = capsys.readouterr().out
    assert "qualtrics" in out and "-> item:PS01" in out
    mapping = load_mapping("m.yaml", family=workspace.instrument)
    assert any(rule.kind == "item" and rule.target == "SC04" for rule in mapping.columns.values())


def test_ingest_into_a_workspace_uses_its_programme_store_and_key(workspace, tmp_path, capsys,
                                                                   monkeypatch):
    from pipelines.workspace import init_workspace

    ws = init_workspace(tmp_path / "programme-ws", programme=workspace.programme)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    export = (tmp_path / "2025-03-qualtrics.csv").resolve()
    mapping = export.with_name(export.name + ".mapping.yaml")
    monkeypatch.chdir(elsewhere)  # no programme.yaml, store or key here
    assert main(["ingest", str(export), "--wave", "2025-03", "-w", str(ws.root),
                 "--mapping", str(mapping)]) == 0
    assert f"added in {ws.store}" in capsys.readouterr().out
    assert len(WaveStore(ws.store).load().respondents) == 98
    assert ws.secret_file.is_file() and not (elsewhere / "secret.key").exists()
    assert not (elsewhere / "store").exists()
    assert main(["ingest", str(export), "--wave", "2025-03", "-w", str(elsewhere)]) == 2
    assert "not a collab-stats workspace" in capsys.readouterr().err
