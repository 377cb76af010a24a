"""Fetching a wave's responses from Qualtrics (pipelines.fetch.qualtrics) against a fake
Qualtrics API (tests/fake_qualtrics.py) serving the real export
``../shared/exports/qualtrics/qualtRics__sample.csv`` zipped, as Qualtrics serves it.

Every test runs through :func:`pipelines.fetch.fetch_source` (token from the environment,
the HTTP client with the ``FAST`` retry policy, the check and delivery into the inbox) and
checks its own time against ``TEST_SECONDS``.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import zipfile

import pytest
from fake_qualtrics import FakeQualtrics, zip_export
from fetch_support import (
    FAST,
    TEST_SECONDS,
    every_text_under,
    fetch_workspace,
    inbox_files,
    shared_export,
)
from pytest_httpserver import HTTPServer
from werkzeug import Response

from pipelines import progress
from pipelines.fetch import ORIGIN_SUFFIX, FetchError, fetch_source, fetched_path
from pipelines.fetch.qualtrics import JOB_TIMEOUT_SETTING, POLL_SETTING

SAMPLE = "qualtrics/qualtRics__sample.csv"


@pytest.fixture
def sample(tmp_path) -> bytes:
    """The real Qualtrics export (a copy): 3 header rows, 1 response."""
    return shared_export(tmp_path, SAMPLE).read_bytes()


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    """Ask about the export job every 10 ms instead of every 2 s."""
    monkeypatch.setenv(POLL_SETTING, "0.01")


class Recorder:
    """A progress listener that remembers what it was told."""

    def __init__(self):
        self.stages: list[tuple[str, int | None]] = []
        self.steps: list[str] = []

    def stage(self, name: str, total: int | None = None) -> None:
        self.stages.append((name, total))

    def step(self, message: str) -> None:
        self.steps.append(message)


def _setup(tmp_path, monkeypatch, fake: FakeQualtrics, *, token: str | None = None, **extra):
    """A workspace whose last wave fetches ``fake``'s survey; the token in the environment
    (``token``, default the right one). Returns ws, programme, wave id and the source."""
    monkeypatch.setenv(fake.token_env, fake.token if token is None else token)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source(**extra)])
    source = programme.wave(wave).fetched_sources[0]
    return ws, programme, wave, source


def _fetch(ws, programme, wave, source, **kwargs):
    return fetch_source(ws, programme, wave, source, policy=FAST, **kwargs)


def _failure(ws, programme, wave, source) -> FetchError:
    with pytest.raises(FetchError) as caught:
        _fetch(ws, programme, wave, source)
    return caught.value


def test_fetch_writes_the_export_as_qualtrics_served_it(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=2)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    summary = _fetch(ws, programme, wave, source)

    export = fetched_path(ws, wave, source)
    assert export.read_bytes() == sample
    assert summary["file"] == str(export.relative_to(ws.root))
    assert summary["responses"] == 1  # the sample: three header rows, one response
    ids = {"requestId": fake.request_ids[0], "progressId": fake.progress_ids[0],
           "fileId": fake.file_ids[0]}
    assert summary["identifiers"] == ids
    origin = json.loads(export.with_name(export.name + ORIGIN_SUFFIX).read_text())
    assert origin["identifiers"] == ids
    assert origin["type"] == "qualtrics" and origin["responses"] == 1 and origin["rows"] == 1
    assert inbox_files(ws) == sorted([f"{wave}/{source.name}.csv",
                                      f"{wave}/{source.name}.csv{ORIGIN_SUFFIX}"])
    # the documented calls, each with the token header, the start asking for a zipped CSV
    assert [r.step for r in fake.requests] == ["start", "progress", "progress", "file"]
    assert all(r.token_ok for r in fake.requests)
    assert fake.requests[0].body == {"format": "csv", "compress": True, "useLabels": False}
    assert time.monotonic() - started < TEST_SECONDS


def test_a_job_of_several_polls_reports_its_progress(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=4)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)
    recorder = Recorder()

    with progress.listening(recorder):
        _fetch(ws, programme, wave, source, progress=progress.current())

    assert fake.count("progress") == 4
    assert recorder.stages == [(f"fetch {source.name}", 100)]
    # one step per percent: 25, 50, 75 while running, the rest when complete
    assert recorder.steps == [f"{k}%" for k in range(1, 101)]
    assert fetched_path(ws, wave, source).read_bytes() == sample
    assert time.monotonic() - started < TEST_SECONDS


def test_a_failed_job_fails_the_fetch_naming_it(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=2, fail_job=True)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    error = _failure(ws, programme, wave, source)

    message = str(error)
    assert f"wave {wave}, source {source.name}" in message
    assert f"export job {fake.progress_ids[0]} failed" in message
    assert "\n" not in message
    assert fake.count("file") == 0
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


def test_a_job_that_never_ends_fails_after_the_time_allowed(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    monkeypatch.setenv(JOB_TIMEOUT_SETTING, "0.2")
    fake = FakeQualtrics(httpserver, csv=sample, polls=100_000)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    message = str(_failure(ws, programme, wave, source))

    assert f"export job {fake.progress_ids[0]} was not complete after 0.2 s" in message
    assert JOB_TIMEOUT_SETTING in message
    assert fake.count("progress") >= 2 and fake.count("file") == 0
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


@pytest.mark.parametrize("step", ["start", "progress", "file"])
def test_too_many_requests_waits_as_asked_then_succeeds(tmp_path, monkeypatch, httpserver, sample, step):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=2,
                         rate_limit_at=step, retry_after=1)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    summary = _fetch(ws, programme, wave, source)

    assert [r.status for r in fake.requests if r.step == step][0] == 429
    assert summary["waits"] == [1.0]
    assert time.monotonic() - started >= 1.0
    assert fetched_path(ws, wave, source).read_bytes() == sample
    assert time.monotonic() - started < TEST_SECONDS


@pytest.mark.parametrize("step", ["start", "progress", "file"])
def test_a_server_error_once_is_retried(tmp_path, monkeypatch, httpserver, sample, step):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=2,
                         server_error_at=step)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    summary = _fetch(ws, programme, wave, source)

    assert [r.status for r in fake.requests if r.step == step][:2] == [500, 200]
    assert len(summary["waits"]) == 1
    assert fake.count("start") == (2 if step == "start" else 1)  # one job only
    assert fetched_path(ws, wave, source).read_bytes() == sample
    assert time.monotonic() - started < TEST_SECONDS


def test_a_refused_token_fails_at_once_naming_where_it_is_kept(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake,
                                         token="qx-wrong-Zq8mN3vL5tR0")

    message = str(_failure(ws, programme, wave, source))

    assert [(r.step, r.status) for r in fake.requests] == [("start", 401)]  # no retry
    assert "\n" not in message
    assert f"wave {wave}, source {source.name} (Qualtrics)" in message
    assert "HTTP 401" in message and "token was refused" in message
    assert f"the environment variable {fake.token_env}" in message
    assert "qx-wrong-Zq8mN3vL5tR0" not in message
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


def test_an_unknown_survey_fails_at_once_naming_it(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample)
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake,
                                         survey_id="SV_9ZzNotThere00")

    message = str(_failure(ws, programme, wave, source))

    assert [(r.step, r.status) for r in fake.requests] == [("start", 404)]
    assert "\n" not in message
    assert f"wave {wave}, source {source.name}" in message
    assert f"survey SV_9ZzNotThere00 not found at {fake.base_url}" in message
    assert "check survey_id and base_url" in message
    assert "Survey SV_9ZzNotThere00 not found." in message  # Qualtrics' own words
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


def test_a_download_cut_short_in_transit_is_retried_then_fails(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=1,
                         truncate="connection")
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    message = str(_failure(ws, programme, wave, source))

    assert fake.count("file") == FAST.attempts
    assert "cut short" in message and "\n" not in message
    assert inbox_files(ws) == []
    assert not any((ws.root / ".collab" / "fetching").glob("*"))
    assert time.monotonic() - started < TEST_SECONDS


def test_a_zip_cut_in_half_fails_and_stores_nothing(tmp_path, monkeypatch, httpserver, sample):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=1, truncate="zip")
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    message = str(_failure(ws, programme, wave, source))

    assert "not a complete ZIP archive" in message and "nothing was stored" in message
    assert f"wave {wave}, source {source.name}" in message and "\n" not in message
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


@pytest.mark.parametrize(("files", "said"), [
    ({"a.csv": b"x", "b.csv": b"y"}, "holds 2 CSV files"),
    ({"readme.txt": b"x"}, "holds 0 CSV files"),
])
def test_an_archive_without_exactly_one_csv_fails(tmp_path, monkeypatch, httpserver, sample, files, said):
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=1, archive=_zip(files))
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    message = str(_failure(ws, programme, wave, source))

    assert said in message and "nothing was stored" in message
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


@pytest.fixture
def elsewhere():
    """A second server on another port: another origin than the fake data centre."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_a_download_redirected_elsewhere_is_fetched_without_the_token(
        tmp_path, monkeypatch, httpserver, sample, elsewhere):
    started = time.monotonic()
    tokens_elsewhere = []

    def signed_link(request):
        tokens_elsewhere.append(request.headers.get("X-API-TOKEN"))
        return Response(zip_export(sample), content_type="application/octet-stream")

    elsewhere.expect_request("/signed/export.zip").respond_with_handler(signed_link)
    fake = FakeQualtrics(httpserver, csv=sample, polls=1,
                         redirect_file_to=elsewhere.url_for("/signed/export.zip"))
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake)

    _fetch(ws, programme, wave, source)

    assert fetched_path(ws, wave, source).read_bytes() == sample
    assert [r.status for r in fake.requests if r.step == "file"] == [302]
    assert tokens_elsewhere == [None]
    assert time.monotonic() - started < TEST_SECONDS


def test_an_api_call_redirected_elsewhere_fails_without_sending_the_token_on(
        tmp_path, monkeypatch, httpserver, sample, elsewhere):
    """A base_url that redirects (http to https, a host name that is not the data centre)
    fails the fetch, saying what to check; the token goes no further."""
    started = time.monotonic()
    fake = FakeQualtrics(httpserver, csv=sample, polls=1)
    elsewhere.expect_request(re.compile("^/API/.*")).respond_with_data(
        "", status=301, headers={"Location": fake.base_url + "/API/v3/moved"})
    ws, programme, wave, source = _setup(tmp_path, monkeypatch, fake,
                                         base_url=elsewhere.url_for("/").rstrip("/"))

    message = str(_failure(ws, programme, wave, source))

    assert fake.requests == []  # the fake data centre was never asked, with or without token
    assert "HTTP 301, redirected to" in message and "check base_url" in message
    assert inbox_files(ws) == []
    assert time.monotonic() - started < TEST_SECONDS


def test_the_token_appears_nowhere(tmp_path, monkeypatch, httpserver, sample, caplog):
    """Whatever happens (success, refused token, unknown survey, failed job, cut-short
    download), the token is in no error message, no file of the workspace and no log."""
    started = time.monotonic()
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "tenacity"):
        caplog.set_level(logging.DEBUG, logger=name)
    token = "qx-secret-Mh4Kd9Ts2Wq7Lp3"
    cases = {"ok": {}, "refused": {"token": "qx-secret-Wrong5Bd8Nc1Xv6"},
             "unknown survey": {"survey_id": "SV_9ZzNotThere00"},
             "failed job": {"fail_job": True}, "cut short": {"truncate": "connection"},
             "bad zip": {"truncate": "zip"}, "rate limited": {"rate_limit_at": "progress"}}
    errors, roots = [], []
    for k, (case, options) in enumerate(cases.items()):
        httpserver.clear()
        options = dict(options)
        sent = options.pop("token", token)
        survey = options.pop("survey_id", None)
        fake = FakeQualtrics(httpserver, csv=sample, polls=2, token=token, **options)
        extra = {"survey_id": survey} if survey else {}
        monkeypatch.setenv(fake.token_env, sent)
        ws, programme, wave = fetch_workspace(tmp_path / f"ws{k}", [fake.source(**extra)])
        roots.append(ws.root)
        source = programme.wave(wave).fetched_sources[0]
        try:
            _fetch(ws, programme, wave, source)
        except FetchError as exc:
            errors.append(str(exc))
            assert case not in ("ok", "rate limited"), (case, str(exc))
        else:
            assert case in ("ok", "rate limited"), case
    assert len(errors) == len(cases) - 2
    secrets = (token, "qx-secret-Wrong5Bd8Nc1Xv6")
    logged = caplog.text
    assert logged  # httpx did log the requests
    for secret in secrets:
        assert not any(secret in e for e in errors)
        assert all(secret not in every_text_under(root) for root in roots)
        assert secret not in logged
    assert time.monotonic() - started < TEST_SECONDS


# -- helpers ---------------------------------------------------------------------------------


def _zip(files: dict[str, bytes]) -> bytes:
    """A ZIP archive of ``files`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
    return buffer.getvalue()
