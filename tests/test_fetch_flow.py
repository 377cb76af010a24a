"""A wave fetched from each survey platform's API and ingested end to end.

The platforms are the fakes of fake_qualtrics.py, fake_redcap.py and fake_surveymonkey.py:
real HTTP servers on 127.0.0.1 answering each API's documented contract. Each serves a
simulated wave as the platform would; the fetch flow writes it into the inbox and the ingest
flow stores it like a dropped export, under the session's Prefect test server. Also: the
same export fetched twice stores nothing new, a re-fetch after late responses replaces the
source, a failed fetch fails the wave run in one line, and ``collab fetch``.
"""

from __future__ import annotations

import shutil
import time

import pytest
from fake_qualtrics import FakeQualtrics
from fake_redcap import FakeREDCap
from fake_surveymonkey import FakeSurveyMonkey, survey_from_simulation
from fetch_support import TEST_SECONDS, every_text_under

from collab_stats import simulate_programme
from collab_stats.ingest.simulated import write_wave_export
from collab_stats.programme import parse_programme, programme_to_dict
from pipelines.environment import DEFAULTS
from pipelines.store import WaveStore
from pipelines.workspace import init_workspace, read_stages

pytestmark = [pytest.mark.prefect]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("COLLAB_FETCH_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("COLLAB_FETCH_POLL_SECONDS", "0.05")
    monkeypatch.setenv("COLLAB_FETCH_TIMEOUT_SECONDS", "10")


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=1, n_collaborations=3, n_waves=2)


def _workspace(root, sim, source: dict, mapping):
    """A workspace whose second wave is fetched from ``source``, its mapping in mappings/."""
    doc = programme_to_dict(sim.programme)
    (root / "mappings").mkdir(parents=True)
    shutil.copyfile(mapping, root / "mappings" / "wave.mapping.yaml")
    doc["waves"][1]["sources"] = [{**source, "mapping": "mappings/wave.mapping.yaml"}]
    programme = parse_programme(doc)
    return init_workspace(root, programme=programme), programme, programme.waves[1].id


def _served(sim, fmt, folder):
    """The simulated second wave as a ``fmt`` export: (export path, mapping path)."""
    return write_wave_export(sim, sim.programme.waves[1].id, fmt, folder)


def _fake(platform, httpserver, sim, tmp_path):
    """The fake API serving the simulated wave, and the mapping that reads its export (the
    export itself is left in ``tmp_path/export/``, with its dictionary for REDCap)."""
    if platform == "qualtrics":
        export, mapping = _served(sim, "qualtrics", tmp_path / "export")
        return FakeQualtrics(httpserver, csv=export.read_bytes(), polls=2), mapping
    if platform == "redcap":
        export, mapping = _served(sim, "redcap", tmp_path / "export")
        dictionary = export.with_name(f"{sim.programme.waves[1].id}-redcap-dictionary.csv")
        return FakeREDCap(httpserver, data=export.read_bytes(),
                          dictionary=dictionary.read_bytes()), mapping
    _, mapping = _served(sim, "surveymonkey", tmp_path / "export")
    details, responses = survey_from_simulation(sim, sim.programme.waves[1].id)
    return FakeSurveyMonkey(httpserver, token="sm-tok-5a1b9c0d7e3f", survey=details,
                            responses=responses, per_page=40), mapping


def _dropped(sim, tmp_path, wave):
    """The same simulated wave's export dropped in the inbox of a workspace without API
    sources, and ingested: the ingest summary row (the second code path)."""
    from pipelines.ingest_flow import ingest_wave

    ws = init_workspace(tmp_path / "dropped", programme=sim.programme)
    shutil.copytree(tmp_path / "export", ws.inbox / wave, dirs_exist_ok=True)
    (row,) = ingest_wave(ws.root, wave)
    return row


def _token(fake) -> tuple[str, str]:
    env = getattr(fake, "token_env", None) or fake.env
    return env, fake.token


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["qualtrics", "redcap", "surveymonkey"])
def test_a_wave_fetched_from_the_api_is_ingested_like_a_dropped_export(
        platform, sim, tmp_path, httpserver, monkeypatch, prefect_harness):
    from pipelines.fetch_flow import fetch_wave
    from pipelines.ingest_flow import ingest_wave

    started = time.monotonic()
    fake, mapping = _fake(platform, httpserver, sim, tmp_path)
    env, token = _token(fake)
    monkeypatch.setenv(env, token)
    ws, programme, wave = _workspace(tmp_path / "ws", sim, fake.source(), mapping)

    fetched = fetch_wave(ws.root, wave)
    assert [r["status"] for r in fetched] == ["fetched"], fetched
    rows = ingest_wave(ws.root, wave)
    assert len(rows) == 1 and rows[0]["status"] == "added", rows
    row = rows[0]
    assert row["format"] == platform
    quarantined = sum(row["quarantined"].values())
    assert row["rows_read"] == row["accepted"] + quarantined       # nothing silently lost
    assert row["rows_read"] == len(sim.data.wave(wave).respondents)  # every simulated one
    dropped = _dropped(sim, tmp_path, wave)         # the platform's export, dropped by hand
    assert (row["rows_read"], row["accepted"], row["quarantined"]) == (
        dropped["rows_read"], dropped["accepted"], dropped["quarantined"])
    store = WaveStore(ws.store)
    stored = store.load(waves=[wave])
    assert len(stored.respondents) == row["accepted"]
    origin = store.sources().set_index("wave_id").loc[wave, "origin"]
    assert origin["type"] == platform and origin["identifiers"] and origin["fetched_at"]
    processed = ws.inbox / "processed" / wave
    name = fetched[0]["file"].rsplit("/", 1)[-1]
    assert (processed / name).is_file() and (processed / f"{name}.source.json").is_file()
    assert read_stages(ws, wave)["fetch"]["failed"] == 0

    # The same export fetched again stores nothing new.
    assert fetch_wave(ws.root, wave)[0]["status"] == "fetched"
    assert ingest_wave(ws.root, wave)[0]["status"] == "unchanged"
    assert token not in every_text_under(ws.root)
    assert time.monotonic() - started < 3 * TEST_SECONDS


@pytest.mark.slow
def test_a_re_fetch_after_late_responses_replaces_the_source(sim, tmp_path, httpserver,
                                                            monkeypatch, prefect_harness):
    from pipelines.fetch_flow import fetch_wave
    from pipelines.ingest_flow import ingest_wave

    export, mapping = _served(sim, "qualtrics", tmp_path / "export")
    lines = export.read_bytes().splitlines(keepends=True)
    early = b"".join(lines[:-10])                 # the export before the last 10 responses
    fake = FakeQualtrics(httpserver, csv=early, polls=1)
    monkeypatch.setenv(fake.token_env, fake.token)
    ws, programme, wave = _workspace(tmp_path / "ws", sim, fake.source(), mapping)
    fetch_wave(ws.root, wave)
    first = ingest_wave(ws.root, wave)[0]
    fake.csv, fake.archive = export.read_bytes(), None
    from fake_qualtrics import zip_export

    fake.archive = zip_export(fake.csv)
    fetch_wave(ws.root, wave)
    second = ingest_wave(ws.root, wave)[0]
    assert second["status"] == "replaced"
    assert second["rows_read"] == first["rows_read"] + 10
    sources = WaveStore(ws.store).sources()
    assert len(sources) == 1 and sources["rows_read"].iloc[0] == second["rows_read"]


@pytest.mark.slow
def test_the_wave_run_fetches_first_and_a_failed_fetch_fails_it_in_one_line(
        sim, tmp_path, httpserver, monkeypatch, prefect_harness):
    from pipelines.flows import ExportsFailed, run_wave

    fake, mapping = _fake("qualtrics", httpserver, sim, tmp_path)
    ws, programme, wave = _workspace(tmp_path / "ws", sim, fake.source(), mapping)
    monkeypatch.delenv(fake.token_env, raising=False)
    with pytest.raises(ExportsFailed) as caught:
        run_wave(ws.root, wave, reports=False)
    text = str(caught.value)
    assert "\n" not in text
    assert (f"1 source(s) could not be fetched: wave {wave}, source qualtrics-sv_0abcdefghijklmn "
            f"(Qualtrics): the environment variable {fake.token_env} is not set") in text
    assert f"wave {wave} has nothing stored, so nothing was analysed" in text
    assert not WaveStore(ws.store).wave_ids()

    monkeypatch.setenv(fake.token_env, fake.token)
    result = run_wave(ws.root, wave, reports=False)
    assert [r["status"] for r in result["fetched"]] == ["fetched"]
    assert result["ingested"][0]["status"] == "added"
    assert result["wave"] == wave and wave in WaveStore(ws.store).wave_ids()
    assert fake.token not in every_text_under(ws.root)
    recorded = _everything_prefect_recorded()
    assert "Fetched qualtrics-sv_0abcdefghijklmn" in recorded    # the logs were read
    assert fake.token not in recorded


def _everything_prefect_recorded() -> str:
    """Every log line, artifact and flow/task run parameter and state message the session's
    Prefect server holds, as one text."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        logs = client.read_logs(limit=200)
        offset = 200
        while True:
            more = client.read_logs(limit=200, offset=offset)
            if not more:
                break
            logs += more
            offset += 200
        artifacts = client.read_artifacts()
        flow_runs = client.read_flow_runs(limit=200)
        task_runs = client.read_task_runs(limit=200)
    parts = [log.message for log in logs]
    parts += [f"{a.key} {a.description} {a.data}" for a in artifacts]
    parts += [f"{r.name} {r.parameters} {r.state.message if r.state else ''}"
              for r in flow_runs]
    parts += [f"{r.name} {r.task_inputs} {r.state.message if r.state else ''}"
              for r in task_runs]
    return "\n".join(parts)


@pytest.fixture
def cli_prefect(tmp_path, monkeypatch):
    """The commands configure Prefect with setdefault: set it here so it is undone."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    for key, value in DEFAULTS.items():
        monkeypatch.setenv(key, value)


@pytest.mark.slow
def test_collab_fetch_fetches_by_hand_and_says_what_failed_in_one_line(
        sim, tmp_path, httpserver, monkeypatch, prefect_harness, cli_prefect, capsys):
    from pipelines.cli import main

    fake, mapping = _fake("qualtrics", httpserver, sim, tmp_path)
    ws, programme, wave = _workspace(tmp_path / "ws", sim, fake.source(), mapping)
    monkeypatch.delenv(fake.token_env, raising=False)
    assert main(["fetch", "--wave", wave, "-w", str(ws.root)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert (f"  qualtrics-sv_0abcdefghijklmn: FAILED: wave {wave}, source "
            "qualtrics-sv_0abcdefghijklmn (Qualtrics): the environment variable "
            f"{fake.token_env} is not set") in captured.out

    monkeypatch.setenv(fake.token_env, fake.token)
    assert main(["fetch", "--wave", wave, "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    n = len(sim.data.wave(wave).respondents)
    assert f"Wave {wave}: fetched 1 of 1 source(s)" in out
    assert (ws.inbox / wave / "qualtrics-sv_0abcdefghijklmn.csv").is_file()
    assert f"Next: `collab run --wave {wave}`" in out
    assert n > 0 and fake.token not in out + every_text_under(ws.root)

    first = programme.waves[0].id
    assert main(["fetch", "--wave", first, "-w", str(ws.root)]) == 2
    assert "its sources in" in capsys.readouterr().err
