"""Fetching a REDCap source (pipelines.fetch.redcap) from a fake REDCap API on 127.0.0.1.

The fake (``fake_redcap.FakeREDCap``) answers as REDCap's API documentation says and refuses
requests with REDCap's own statuses and error messages; it serves the real export and data
dictionary of REDCapR's "survey" test project (``../shared/exports/redcap/``, copied). Every
fetch goes through :func:`pipelines.fetch.fetch_source` with the fast retry policy; each test
checks that it took less than ``fetch_support.TEST_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from fake_redcap import LOGIN_PAGE, TOKEN, FakeREDCap
from fetch_support import (
    FAST,
    TEST_SECONDS,
    every_text_under,
    fetch_workspace,
    inbox_files,
    shared_export,
)

from pipelines.fetch import FetchError, fetch_source
from pipelines.progress import listening

#: The header of the data dictionary as the API's ``content=metadata&format=csv`` writes it
#: (the 18 columns of the web page's download, in the same order, under the API's names;
#: REDCap API documentation, "Export Metadata (Data Dictionary)").
API_DICTIONARY_HEADER = (
    "field_name,form_name,section_header,field_type,field_label,"
    "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,"
    "text_validation_min,text_validation_max,identifier,branching_logic,required_field,"
    "custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation")
#: The form of a raw flat records export (REDCap API documentation, "Export Records").
RECORDS_FORM = {"token": TOKEN, "content": "record", "type": "flat", "format": "csv",
                "rawOrLabel": "raw", "rawOrLabelHeaders": "raw", "exportCheckboxLabel": "false",
                "exportSurveyFields": "true", "returnFormat": "json"}


@pytest.fixture
def survey(tmp_path):
    """REDCapR's survey project: (records CSV, dictionary as the API gives it, dictionary as
    the web page's download gives it), as bytes."""
    data = shared_export(tmp_path, "redcap/REDCapR__survey__data.csv").read_bytes()
    download = shared_export(tmp_path, "redcap/REDCapR__survey__dictionary.csv").read_bytes()
    first, rest = download.split(b"\n", 1)
    assert first.startswith(b'"Variable / Field Name","Form Name"'), "not a download's header"
    return data, API_DICTIONARY_HEADER.encode() + b"\n" + rest, download


def fetch(tmp_path, monkeypatch, fake: FakeREDCap, *, token: str = TOKEN, **source) -> tuple:
    """Fetch ``fake.source(**source)`` into a new workspace: (summary or FetchError, ws, wave)."""
    monkeypatch.setenv(fake.env, token)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source(**source)])
    (src,) = next(w for w in programme.waves if w.id == wave).sources
    try:
        return fetch_source(ws, programme, wave, src, policy=FAST), ws, wave
    except FetchError as exc:
        return exc, ws, wave


class Clock:
    def __init__(self):
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


@pytest.fixture
def clock():
    """Each test's time, checked against TEST_SECONDS when it ends."""
    clock = Clock()
    yield clock
    assert clock.elapsed < TEST_SECONDS


def assert_one_line(exc: FetchError, wave: str, *parts: str) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text.startswith(f"wave {wave}, source redcap-survey (REDCap): ")
    for part in parts:
        assert part in text
    assert TOKEN not in text
    return text


# --- a fetch that works --------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["api", "download"])
def test_fetch_writes_the_export_as_served_with_its_dictionary(tmp_path, monkeypatch,
                                                               httpserver, survey, clock, shape):
    """The reader takes the dictionary in the API's shape and in the download's (REDCapR's
    fixture is a download)."""
    data, api_dictionary, download_dictionary = survey
    dictionary = api_dictionary if shape == "api" else download_dictionary
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    summary, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert not isinstance(summary, Exception), summary
    assert inbox_files(ws) == [f"{wave}/redcap-survey.csv", f"{wave}/redcap-survey.csv.source.json",
                               f"{wave}/redcap-survey.dictionary.csv"]
    folder = ws.inbox / wave
    assert (folder / "redcap-survey.csv").read_bytes() == data == fake.served
    assert (folder / "redcap-survey.dictionary.csv").read_bytes() == dictionary
    origin = json.loads((folder / "redcap-survey.csv.source.json").read_text())
    identifiers = {"redcap_version": "14.0.2", "request": "record", "rows": 2}
    assert origin["identifiers"] == identifiers == summary["identifiers"]
    assert origin["responses"] == origin["rows"] == summary["responses"] == 2
    assert summary["file"] == f"inbox/{wave}/redcap-survey.csv"
    assert summary["waits"] == []


def test_the_requests_are_the_documented_forms(tmp_path, monkeypatch, httpserver, survey,
                                               clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    summary, _, _ = fetch(tmp_path, monkeypatch, fake)
    assert summary["responses"] == 2
    assert fake.requests == [
        {"token": TOKEN, "content": "version", "returnFormat": "json"},
        {"token": TOKEN, "content": "metadata", "format": "csv", "returnFormat": "json"},
        RECORDS_FORM,
    ]


def test_progress_is_one_stage_of_three_steps(tmp_path, monkeypatch, httpserver, survey,
                                              clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    monkeypatch.setenv(fake.env, TOKEN)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source()])
    (src,) = next(w for w in programme.waves if w.id == wave).sources
    heard = []

    class Listener:
        def stage(self, name, total=None):
            heard.append(("stage", name, total))

        def step(self, message):
            heard.append(("step", message))

    with listening(Listener()) as listener:
        fetch_source(ws, programme, wave, src, policy=FAST, progress=listener.step)
    assert heard == [("stage", "fetch redcap-survey", 3),
                     ("step", "asking REDCap for its version"),
                     ("step", "downloading the data dictionary"),
                     ("step", "downloading the records")]


def test_a_report(tmp_path, monkeypatch, httpserver, survey, clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=b"never served\n", dictionary=dictionary,
                      reports={7: data})
    summary, ws, wave = fetch(tmp_path, monkeypatch, fake, report_id=7)
    assert summary["identifiers"] == {"redcap_version": "14.0.2", "request": "report",
                                      "report_id": 7, "rows": 2}
    assert (ws.inbox / wave / "redcap-survey.csv").read_bytes() == data
    assert fake.requests[-1] == {"token": TOKEN, "content": "report", "report_id": "7",
                                 "format": "csv", "rawOrLabel": "raw",
                                 "rawOrLabelHeaders": "raw", "exportCheckboxLabel": "false",
                                 "returnFormat": "json"}


def test_fields_ask_for_the_record_id_and_form_status_too(tmp_path, monkeypatch, httpserver,
                                                          survey, clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    summary, ws, wave = fetch(tmp_path, monkeypatch, fake, fields=["pmq1", "pmq2"])
    asked = ["participant_id", "pmq1", "pmq2", "participant_morale_questionnaire_complete"]
    assert fake.requests[-1] == {**RECORDS_FORM,
                                 **{f"fields[{k}]": name for k, name in enumerate(asked)}}
    assert summary["identifiers"]["fields"] == asked
    written = (ws.inbox / wave / "redcap-survey.csv").read_bytes()
    assert written == fake.served
    # the record id is on the pre-screening survey, so its timestamp comes too
    assert written.split(b"\n")[0] == (
        b"participant_id,redcap_survey_identifier,prescreening_survey_timestamp,"
        b"participant_morale_questionnaire_timestamp,pmq1,pmq2,"
        b"participant_morale_questionnaire_complete")


# --- retries -------------------------------------------------------------------------------


def test_429_waits_as_retry_after_asks_then_succeeds(tmp_path, monkeypatch, httpserver,
                                                     survey, clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, throttle_once=1)
    summary, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert clock.elapsed >= 1.0
    assert summary["waits"] == [1.0]
    assert fake.contents() == ["version", "metadata", "record", "record"]
    assert (ws.inbox / wave / "redcap-survey.csv").read_bytes() == data


def test_500_is_retried_then_succeeds(tmp_path, monkeypatch, httpserver, survey, clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, fail_once=500)
    summary, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert len(summary["waits"]) == 1 and summary["waits"][0] <= FAST.max_wait
    assert fake.contents() == ["version", "metadata", "record", "record"]
    assert (ws.inbox / wave / "redcap-survey.csv").read_bytes() == data


# --- refusals and bad downloads: one line, nothing in the inbox ----------------------------


def test_a_bad_token_is_one_request_and_one_line(tmp_path, monkeypatch, httpserver, survey,
                                                 clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    wrong = "0123456789ABCDEF0123456789ABCDEF"
    error, ws, wave = fetch(tmp_path, monkeypatch, fake, token=wrong)
    assert isinstance(error, FetchError)
    assert len(fake.requests) == 1
    text = assert_one_line(error, wave, "HTTP 403", "You do not have permissions to use the API",
                           "the environment variable REDCAP_API_TOKEN", "API Export right")
    assert wrong not in text and "times" not in text
    assert inbox_files(ws) == []


def test_an_unknown_report_gives_redcaps_message(tmp_path, monkeypatch, httpserver, survey,
                                                 clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, reports={7: data})
    error, ws, wave = fetch(tmp_path, monkeypatch, fake, report_id=99)
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, "downloading report 99: HTTP 403",
                    "report_id=99 does not belong to this project",
                    "report 99 is one of this project's reports")
    assert fake.contents() == ["version", "metadata", "report"]
    assert inbox_files(ws) == []


def test_an_unknown_field_gives_redcaps_message(tmp_path, monkeypatch, httpserver, survey,
                                                clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    error, ws, wave = fetch(tmp_path, monkeypatch, fake, fields=["pmq1", "pmq9"])
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, "HTTP 400",
                    '''The following values in the parameter "fields" are not valid: 'pmq9\'''',
                    "fields: the project's field names")
    assert len(fake.requests) == 3
    assert inbox_files(ws) == []


def test_a_wrong_address_says_to_check_the_url(tmp_path, monkeypatch, httpserver, survey,
                                               clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary)
    httpserver.expect_request("/redcap/").respond_with_data("Not Found", status=404)
    wrong = httpserver.url_for("/redcap/")
    error, ws, wave = fetch(tmp_path, monkeypatch, fake, url=wrong)
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, "HTTP 404", f"there is no REDCap API at {wrong}",
                    "check the source's url")
    assert fake.requests == []
    assert inbox_files(ws) == []


def test_a_truncated_download_is_retried_then_fails(tmp_path, monkeypatch, httpserver, survey,
                                                    clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, truncated=True)
    error, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, f"downloading the records failed {FAST.attempts} times",
                    "before the whole answer arrived")
    assert fake.contents() == ["version", "metadata"] + ["record"] * FAST.attempts
    assert inbox_files(ws) == []


def test_html_instead_of_the_export_is_not_stored(tmp_path, monkeypatch, httpserver, survey,
                                                  clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, instead_of_data=LOGIN_PAGE)
    error, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, "not a REDCap export", "nothing was stored")
    assert inbox_files(ws) == []


def test_a_sign_in_page_in_front_of_the_api_stops_at_the_first_request(
        tmp_path, monkeypatch, httpserver, survey, clock):
    data, dictionary, _ = survey
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary,
                      version=LOGIN_PAGE.decode())
    error, ws, wave = fetch(tmp_path, monkeypatch, fake)
    assert isinstance(error, FetchError)
    assert_one_line(error, wave, "an HTML page", "not a REDCap version number",
                    "check the source's url")
    assert len(fake.requests) == 1
    assert inbox_files(ws) == []


# --- the token is never written ------------------------------------------------------------


def test_the_token_appears_nowhere(tmp_path, monkeypatch, httpserver, survey, clock, caplog):
    data, dictionary, _ = survey
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "pipelines", "collab_stats"):
        caplog.set_level(logging.DEBUG, logger=name)
    fake = FakeREDCap(httpserver, data=data, dictionary=dictionary, throttle_once=0,
                      reports={7: data})
    summary, ws, _ = fetch(tmp_path, monkeypatch, fake)
    assert summary["responses"] == 2
    texts = [json.dumps(summary), every_text_under(ws.root)]
    for case, extra in enumerate(({"report_id": 99}, {"fields": ["nope"]}), start=1):
        error, other, _ = fetch(tmp_path / f"case-{case}", monkeypatch, fake, **extra)
        assert isinstance(error, FetchError)
        texts += [str(error), repr(error), every_text_under(other.root)]
    assert any(record.name.startswith("httpx") for record in caplog.records)
    texts.append(caplog.text)
    assert all(TOKEN not in text for text in texts)
