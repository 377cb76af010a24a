"""Fetching from survey platforms: the parts every platform shares.

Sources in the programme file, credentials (environment variables and Prefect Secret
blocks), the HTTP client's retry policy against a real local server, redaction, the check
that a download is the expected export before anything reaches the inbox, and which waves
the scheduled run fetches. The platforms' own API contracts are tested in
test_fetch_qualtrics.py, test_fetch_redcap.py and test_fetch_surveymonkey.py; the flow end to
end in test_fetch_flow.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import yaml
from fetch_support import FAST, TEST_SECONDS, every_text_under, fetch_workspace, inbox_files
from werkzeug import Response

from collab_stats.errors import ProgrammeError
from collab_stats.programme import Credential, parse_programme, programme_to_dict
from pipelines.fetch import Fetched, FetchError, deliver, read_origin, resolve_token
from pipelines.fetch.http import MAX_RETRY_AFTER, Http, Redactor, RetryPolicy
from pipelines.fetch_flow import waves_due
from pipelines.workspace import record_stage, scan_inbox

TOKEN = "tok-3F9A1C77E2B04D5A9C1E6B2D8F0A4C3E"


def _doc(sources):
    from collab_stats import simulate_programme

    doc = programme_to_dict(simulate_programme(seed=1, n_collaborations=3, n_waves=2).programme)
    doc["waves"][1]["sources"] = sources
    return doc


QUALTRICS = {"type": "qualtrics", "base_url": "https://fra1.qualtrics.com",
             "survey_id": "SV_0AbC", "token": {"env": "QUALTRICS_TOKEN"}}


# --- sources in the programme file ---------------------------------------------------------

def test_sources_are_read_named_and_written_back_unchanged():
    doc = _doc([QUALTRICS,
                {"type": "redcap", "url": "https://redcap.example.ac.uk/api/",
                 "report_id": 42, "token": {"secret": "redcap-north"},
                 "collaboration": None, "mapping": "mappings/redcap.mapping.yaml"},
                {"type": "surveymonkey", "survey_id": "123456789",
                 "token": {"env": "SM_TOKEN"}, "name": "sm-main"},
                {"type": "inbox"}])
    doc["waves"][1]["sources"][1].pop("collaboration")
    programme = parse_programme(doc)
    wave = programme.waves[1]
    assert [s.name for s in wave.sources] == ["qualtrics-sv_0abc", "redcap-report-42",
                                              "sm-main", "inbox"]
    assert [s.type for s in wave.fetched_sources] == ["qualtrics", "redcap", "surveymonkey"]
    assert wave.sources[1].token == Credential(secret="redcap-north")
    assert wave.sources[1].settings["report_id"] == 42
    assert programme.waves[0].sources[0].type == "inbox"      # the default
    assert not programme.waves[0].fetched_sources
    again = parse_programme(yaml.safe_load(yaml.safe_dump(programme_to_dict(programme))))
    assert again == programme


def test_a_source_per_collaboration_names_a_collaboration_of_the_programme():
    doc = _doc([{**QUALTRICS, "collaboration": "nowhere"}])
    with pytest.raises(ProgrammeError, match="'nowhere' is not a collaboration of the programme"):
        parse_programme(doc)
    first = doc["collaborations"][0]["id"]
    doc["waves"][1]["sources"] = [{**QUALTRICS, "collaboration": first}]
    source = parse_programme(doc).waves[1].sources[0]
    assert source.collaboration == first and first in source.name


@pytest.mark.parametrize("sources, message", [
    ([{"type": "sharepoint"}], "source 1: unknown source type 'sharepoint'"),
    ([{"type": "qualtrics", "survey_id": "SV_1", "token": {"env": "T"}}],
     "source 1: base_url is required for a qualtrics source"),
    ([{**QUALTRICS, "base_url": "ftp://files.example"}], "is not an http(s) address"),
    ([{**QUALTRICS, "token": None}], "token is required"),
    ([{**QUALTRICS, "token": {"env": "1BAD"}}], "is not an environment variable name"),
    ([{**QUALTRICS, "token": {"vault": "x"}}], "expected {env: NAME} or {secret: block-name}"),
    ([QUALTRICS, QUALTRICS], "duplicate source name"),
    ([{"type": "redcap", "url": "https://r.example/api/", "token": {"env": "T"},
       "report_id": 3, "fields": ["a"]}], "give report_id or fields, not both"),
    ([{**QUALTRICS, "password": "x"}], "unknown key"),
])
def test_bad_sources_are_refused_naming_the_wave_and_source(sources, message):
    doc = _doc(sources)
    with pytest.raises(ProgrammeError) as caught:
        parse_programme(doc)
    assert message in str(caught.value)
    assert f"wave {doc['waves'][1]['id']}" in str(caught.value)


def test_a_token_written_in_the_programme_file_is_refused_and_never_echoed():
    with pytest.raises(ProgrammeError) as caught:
        parse_programme(_doc([{**QUALTRICS, "token": TOKEN}]))
    assert "must not be written in the programme file" in str(caught.value)
    assert TOKEN not in str(caught.value)


# --- credentials ---------------------------------------------------------------------------

def test_a_token_comes_from_the_environment_variable_named(tmp_path, monkeypatch):
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [QUALTRICS])
    source = programme.wave(wave).sources[0]
    monkeypatch.setenv("QUALTRICS_TOKEN", f"  {TOKEN}\n")
    assert resolve_token(source, wave) == TOKEN
    monkeypatch.delenv("QUALTRICS_TOKEN")
    with pytest.raises(FetchError) as caught:
        resolve_token(source, wave)
    text = str(caught.value)
    assert text == (f"wave {wave}, source qualtrics-sv_0abc (Qualtrics): the environment "
                    "variable QUALTRICS_TOKEN is not set (it must hold the Qualtrics API token)")


@pytest.mark.prefect
def test_a_token_comes_from_a_prefect_secret_block(tmp_path, prefect_harness):
    from prefect.blocks.system import Secret

    Secret(value=TOKEN).save("collab-test-qualtrics", overwrite=True)
    ws, programme, wave = fetch_workspace(
        tmp_path / "ws", [{**QUALTRICS, "token": {"secret": "collab-test-qualtrics"}}])
    source = programme.wave(wave).sources[0]
    assert resolve_token(source, wave) == TOKEN
    missing = source.__class__(**{**source.__dict__, "token": Credential(secret="no-such-block")})
    with pytest.raises(FetchError, match="there is no Prefect Secret block named "
                                         "'no-such-block'") as caught:
        resolve_token(missing, wave)
    assert "\n" not in str(caught.value)


# --- the HTTP client against a real local server -------------------------------------------

def _http(**kw) -> Http:
    return Http("wave w1, source s (Test)", Redactor([TOKEN]), policy=kw.pop("policy", FAST),
                **kw)


def test_5xx_and_429_are_retried_with_back_off_and_retry_after_honoured(httpserver):
    answers = iter([Response("busy", 503), Response("slow down", 429, {"Retry-After": "1"}),
                    Response("ok", 200)])
    httpserver.expect_request("/x").respond_with_handler(lambda request: next(answers))
    started = time.monotonic()
    with _http() as http:
        response = http.request("GET", httpserver.url_for("/x"), what="reading x")
    assert response.text == "ok"
    assert len(httpserver.log) == 3
    assert http.waits[0] <= FAST.max_wait and http.waits[1] == 1.0
    assert 1.0 <= time.monotonic() - started < TEST_SECONDS


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_4xx_is_not_retried_and_says_what_to_check_in_one_line(httpserver, status):
    body = {"error": {"message": f"refused for token {TOKEN}"}}
    httpserver.expect_request("/x").respond_with_json(body, status=status)
    with _http(explain={401: "check the environment variable T"}) as http:
        with pytest.raises(FetchError) as caught:
            http.request("GET", httpserver.url_for("/x"), what="reading x")
    text = str(caught.value)
    assert len(httpserver.log) == 1
    assert text.startswith(f"wave w1, source s (Test): reading x: HTTP {status} (refused for "
                           "token ***)")
    assert TOKEN not in text and "\n" not in text
    if status == 401:
        assert text.endswith("check the environment variable T")


def test_retries_stop_after_the_attempts_and_a_long_retry_after_fails_at_once(httpserver):
    httpserver.expect_request("/down").respond_with_data("no", status=502)
    httpserver.expect_request("/later").respond_with_data(
        "no", status=429, headers={"Retry-After": str(int(MAX_RETRY_AFTER) + 60)})
    with _http() as http:
        with pytest.raises(FetchError, match="reading down failed 4 times"):
            http.request("GET", httpserver.url_for("/down"), what="reading down")
    assert len([r for r, _ in httpserver.log if r.path == "/down"]) == FAST.attempts
    started = time.monotonic()
    with _http() as http:
        with pytest.raises(FetchError, match="the server asks to wait 360 s"):
            http.request("GET", httpserver.url_for("/later"), what="reading later")
    assert time.monotonic() - started < 5


def test_a_connection_refused_is_retried_then_reported_in_one_line():
    policy = RetryPolicy(attempts=2, backoff=0.01, max_wait=0.05, timeout=2.0)
    with _http(policy=policy) as http:
        with pytest.raises(FetchError, match="failed 2 times .*network error"):
            http.request("GET", "http://127.0.0.1:9/", what="reading nothing")


def test_the_settings_are_checked(monkeypatch):
    monkeypatch.setenv("COLLAB_FETCH_ATTEMPTS", "0")
    with pytest.raises(FetchError, match="COLLAB_FETCH_ATTEMPTS: expected a number of at "
                                         "least 1, got '0'"):
        RetryPolicy.from_environment()
    monkeypatch.setenv("COLLAB_FETCH_ATTEMPTS", "3")
    monkeypatch.setenv("COLLAB_FETCH_TIMEOUT_SECONDS", "12.5")
    assert RetryPolicy.from_environment() == RetryPolicy(attempts=3, timeout=12.5)


def test_the_redactor_hides_a_secret_and_its_url_encoded_forms():
    redact = Redactor(["a b/c+d"])
    assert redact("x a b/c+d y a%20b%2Fc%2Bd z a+b%2Fc%2Bd") == "x *** y *** z ***"


# --- delivering into the inbox -------------------------------------------------------------

QUALTRICS_CSV = (b'StartDate,EndDate,Status,ResponseId,Q1\r\n'
                 b'Start Date,End Date,Response Type,Response ID,How much?\r\n'
                 b'{"ImportId":"startDate"},{"ImportId":"endDate"},{"ImportId":"status"},'
                 b'{"ImportId":"_recordId"},{"ImportId":"QID1"}\r\n'
                 b'2026-01-05 10:00:00,2026-01-05 10:05:00,0,R_1,4\r\n')


def test_a_delivered_export_arrives_with_its_provenance_and_is_picked_up(tmp_path):
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [QUALTRICS])
    source = programme.wave(wave).sources[0]
    path = deliver(ws, wave, source, Fetched(QUALTRICS_CSV, "qualtrics",
                                             identifiers={"fileId": "f-1"}, responses=1),
                   fetched_at=dt.datetime(2026, 4, 1, 6, tzinfo=dt.UTC))
    assert path == ws.inbox / wave / "qualtrics-sv_0abc.csv"
    assert path.read_bytes() == QUALTRICS_CSV
    origin = read_origin(path)
    assert origin["identifiers"] == {"fileId": "f-1"} and origin["fetched_at"].startswith(
        "2026-04-01T06:00") and origin["rows"] == 1 and origin["type"] == "qualtrics"
    found = scan_inbox(ws, list(programme.wave_ids), settle_seconds=0).found
    assert [(f.path, f.origin) for f in found] == [
        (path, path.with_name(path.name + ".source.json"))]
    assert not list((ws.root / ".collab" / "fetching").iterdir())


def test_a_download_that_is_not_the_expected_export_leaves_the_inbox_as_it_was(tmp_path):
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [QUALTRICS])
    source = programme.wave(wave).sources[0]
    page = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    with pytest.raises(FetchError) as caught:
        deliver(ws, wave, source, Fetched(page, "qualtrics"))
    assert str(caught.value) == (f"wave {wave}, source qualtrics-sv_0abc (Qualtrics): the "
                                 "download is not a Qualtrics export (an HTML page: a "
                                 "sign-in or error page?); nothing was stored")
    assert inbox_files(ws) == []
    assert not list((ws.root / ".collab" / "fetching").iterdir())
    with pytest.raises(FetchError, match=r"not a Qualtrics export \(it reads as generic\)"):
        deliver(ws, wave, source, Fetched(b"a,b\n1,2\n", "qualtrics"))
    assert inbox_files(ws) == []


def test_a_redirect_is_refused_unless_the_caller_handles_it(httpserver):
    httpserver.expect_request("/moved").respond_with_data(
        "", status=302, headers={"Location": "http://elsewhere.example/x"})
    with _http() as http:
        with pytest.raises(FetchError, match="HTTP 302, redirected to "
                                             "http://elsewhere.example/x: check the source's "
                                             "address"):
            http.request("GET", httpserver.url_for("/moved"), what="reading",
                         headers={"X-API-TOKEN": TOKEN})
        response = http.request("GET", httpserver.url_for("/moved"), what="reading",
                                follow_redirects=False)
    assert response.status_code == 302 and len(httpserver.log) == 2


# --- which waves the scheduled run fetches -------------------------------------------------

def test_the_scheduled_run_fetches_each_closed_wave_until_a_fetch_after_its_close(tmp_path):
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [QUALTRICS])
    closes = programme.wave(wave).closes
    assert waves_due(ws, programme, today=closes) == []                  # still open
    assert waves_due(ws, programme, today=closes + dt.timedelta(days=1)) == [wave]
    stages = ws.root / ".collab" / "stages" / f"{wave}.json"
    record_stage(ws, wave, "fetch", fingerprint="", sources=1, failed=1)
    assert waves_due(ws, programme, today=dt.date.today()) == [wave]     # it failed
    record_stage(ws, wave, "fetch", fingerprint="", sources=1, failed=0)
    assert waves_due(ws, programme, today=dt.date.today()) == []         # fetched since
    record = json.loads(stages.read_text())
    record["fetch"]["finished"] = f"{closes.isoformat()}T12:00:00Z"      # during the window
    stages.write_text(json.dumps(record))
    assert waves_due(ws, programme, today=dt.date.today()) == [wave]
    assert TOKEN not in every_text_under(ws.root)


def test_serve_schedules_a_run_the_morning_after_each_fetched_wave_closes(tmp_path):
    from pipelines.serve import close_schedules

    ws, programme, wave = fetch_workspace(tmp_path / "ws", [QUALTRICS])
    closes = programme.wave(wave).closes
    (schedule,) = close_schedules(programme, "Europe/London", today=closes)
    day = closes + dt.timedelta(days=1)
    assert schedule.rrule == f"DTSTART:{day:%Y%m%d}T060000\nRRULE:FREQ=DAILY;COUNT=1"
    assert schedule.timezone == "Europe/London" and schedule.slug == f"close-{wave}"
    assert close_schedules(programme, today=day) == []            # closed already: none
    inbox_only = programme.waves[0].id                            # no API source: none
    assert all(s.slug != f"close-{inbox_only}" for s in close_schedules(
        programme, today=programme.waves[0].opens))
