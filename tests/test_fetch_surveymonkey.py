"""Fetching SurveyMonkey responses (API v3) into the inbox as SurveyMonkey's CSV export.

The API is served by :mod:`tests.fake_surveymonkey` on a real HTTP server (127.0.0.1), built
from SurveyMonkey's documented contract; every fetch goes through
:func:`pipelines.fetch.fetch_source` with the fast test retry policy, and each test checks
its own time against ``fetch_support.TEST_SECONDS``. What is written is checked by reading
it back with the SurveyMonkey reader and comparing with the JSON served (resolved here,
independently of the module's conversion) and with the file ``write_surveymonkey`` writes
for the same answers.
"""

from __future__ import annotations

import logging
import time

import pandas as pd
import pytest
from fake_surveymonkey import (
    FakeSurveyMonkey,
    simple_frame,
    simple_survey,
    survey_from_frame,
    survey_from_simulation,
)
from fetch_support import FAST, TEST_SECONDS, every_text_under, fetch_workspace, inbox_files

from collab_stats import simulate_programme
from collab_stats.ingest.detect import detect_format
from collab_stats.ingest.simulated import write_wave_export
from collab_stats.ingest.surveymonkey import METADATA_HEADERS, read_surveymonkey, write_surveymonkey
from pipelines.fetch import FetchError, fetch_source, fetched_path, read_origin
from pipelines.progress import listening

TOKEN = "smTok-7Hq2Lw9Xv1Rz4Kp8Yd3"
ENV = "SURVEYMONKEY_TOKEN"


@pytest.fixture(autouse=True)
def _token(monkeypatch, caplog):
    monkeypatch.setenv(ENV, TOKEN)
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.fixture
def clock():
    start = time.monotonic()
    yield start
    assert time.monotonic() - start < TEST_SECONDS


def _setup(tmp_path, httpserver, *, n=23, per_page=5, survey=None, **options):
    details, responses = survey or simple_survey(n)
    fake = FakeSurveyMonkey(httpserver, token=TOKEN, survey=details, responses=responses,
                            per_page=per_page, env=ENV, **options)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source()])
    return fake, ws, programme, wave, programme.wave(wave).sources[0]


def test_the_base_url_reaches_the_source(tmp_path, httpserver):
    details, responses = simple_survey(2)
    fake = FakeSurveyMonkey(httpserver, token=TOKEN, survey=details, responses=responses)
    _, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source()])
    assert programme.wave(wave).sources[0].settings.get("base_url") == fake.base_url


def _no_token(ws, caplog, *texts):
    assert TOKEN not in every_text_under(ws.root)
    assert TOKEN not in caplog.text
    for text in texts:
        assert TOKEN not in text


class _Stages:
    def __init__(self):
        self.stages = []

    def stage(self, name, total=None):
        self.stages.append((name, total))

    def step(self, message):
        pass


def test_fetch_reads_every_page_once(tmp_path, httpserver, caplog, clock):
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver, n=23, per_page=5)
    steps, stages = [], _Stages()
    with listening(stages):
        summary = fetch_source(ws, programme, wave, source, progress=steps.append, policy=FAST)

    assert [r.path for r in fake.requests][:1] == [f"/v3/surveys/{fake.survey_id}/details"]
    assert fake.bulk_pages() == [1, 2, 3, 4, 5]
    first = fake.requests[1].query
    assert (first["per_page"], first["sort_by"], first["sort_order"]) == ("100", "date_modified",
                                                                          "ASC")
    assert all(r.authorized and r.method == "GET" for r in fake.requests)
    assert stages.stages == [("fetch surveymonkey-main", 5)]
    assert len(steps) == 5 and steps[-1].startswith("page 5 of 5: 23 of 23")

    assert summary["responses"] == 23 and summary["waits"] == []
    assert summary["identifiers"] == {
        "survey_id": fake.survey_id, "survey_date_modified": fake.survey["date_modified"],
        "pages": 5, "total": 23,
        "statuses": {"completed": 23, "partial": 0, "overquota": 0, "disqualified": 0}}
    export = fetched_path(ws, wave, source)
    assert inbox_files(ws) == [f"{wave}/surveymonkey-main.csv",
                               f"{wave}/surveymonkey-main.csv.source.json"]
    origin = read_origin(export)
    assert origin["rows"] == 23 and origin["identifiers"]["total"] == 23
    # no per-response id in the provenance
    assert not any(r["id"] in (export.with_name(export.name + ".source.json").read_text())
                   for r in fake.responses)

    raw = read_surveymonkey(export)
    assert sorted(raw.frame["Respondent ID"]) == sorted(r["id"] for r in fake.responses)
    _no_token(ws, caplog, str(summary))


def _served_cells(details, responses):
    """{response id: {column key: text}} straight from the JSON served: a second reading of
    the contract (the keys are the reader's: question, or "question | sub-label")."""
    out = {}
    for response in responses:
        cells = {}
        answers = {q["id"]: q["answers"] for p in response["pages"] for q in p["questions"]}
        for question in details["pages"][0]["questions"]:
            heading = question["headings"][0]["heading"]
            spec = question.get("answers", {})
            text_of = {c["id"]: c["text"] for c in spec.get("choices", [])}
            given = answers.get(question["id"], [])
            if question["family"] == "matrix":
                for row in spec["rows"]:
                    chosen = [text_of[a["choice_id"]] for a in given if a["row_id"] == row["id"]]
                    cells[f"{heading} | {row['text']}"] = chosen[0] if chosen else None
            elif question["family"] == "multiple_choice":
                ids = {a["choice_id"] for a in given}
                for choice in spec["choices"]:
                    cells[f"{heading} | {choice['text']}"] = (choice["text"] if choice["id"] in ids
                                                             else None)
            elif question["family"] == "single_choice":
                chosen = [text_of[a["choice_id"]] for a in given if "choice_id" in a]
                other = [a["text"] for a in given if "other_id" in a]
                cells[f"{heading} | Response"] = chosen[0] if chosen else None
                cells[f"{heading} | Other (please specify)"] = other[0] if other else None
            else:
                cells[heading] = given[0]["text"] if given else None
        out[response["id"]] = cells
    return out


def test_export_reads_back_with_the_served_answers(tmp_path, httpserver, caplog, clock):
    frame, layout, extras = simple_frame(30, seed=3)
    details, responses = survey_from_frame(frame, **layout, **extras, seed=3)
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver, survey=(details, responses),
                                               per_page=8)
    fetch_source(ws, programme, wave, source, policy=FAST)
    export = fetched_path(ws, wave, source)

    assert detect_format(export) == "surveymonkey"
    raw = read_surveymonkey(export)
    assert raw.notes == ()
    assert [c.key for c in raw.columns][: len(METADATA_HEADERS)] == list(METADATA_HEADERS)
    served = _served_cells(details, responses)
    answer_keys = [c.key for c in raw.columns][len(METADATA_HEADERS):]
    assert answer_keys == list(next(iter(served.values())))
    for row in raw.frame.to_dict("records"):
        read = {k: None if pd.isna(row[k]) else row[k] for k in answer_keys}
        assert read == served[row["Respondent ID"]]
    # the multi-select is recognised as one (its option columns get choice ids)
    sectors = [c for c in raw.columns if c.question.startswith("Which sectors")]
    assert [c.choice_id for c in sectors] == layout["options"]["sectors"]
    # the served answers include each kind: an "other" text, a blank, a chosen option
    assert raw.frame["Who leads the collaboration? | Other (please specify)"].notna().any()
    assert raw.frame.isna().any().any()
    # metadata: the API's dates as the export writes them (UTC), the collector and the IP
    by_id = {r["id"]: r for r in responses}
    first = raw.frame.iloc[0]
    served_first = by_id[first["Respondent ID"]]
    assert first["Collector ID"] == served_first["collector_id"]
    assert first["IP Address"] == served_first["ip_address"]
    created = served_first["date_created"]  # 2024-03-04T10:12:05+00:00
    assert first["Start Date"] == (f"{created[5:7]}/{created[8:10]}/{created[:4]} "
                                   f"{_twelve_hour(created[11:19])}")

    # the same answers as write_surveymonkey writes them (a third path to the same cells)
    written = read_surveymonkey(write_surveymonkey(frame, tmp_path / "written.csv", **layout))
    written_keys = [c.key for c in written.columns][len(METADATA_HEADERS):]
    # write_surveymonkey has no "other" column: compare the columns it writes
    shared = [k for k in written_keys if k in answer_keys]
    assert len(shared) == len(written_keys) - 1  # all but the single choice's one column
    fetched_rows = raw.frame[shared].reset_index(drop=True)
    assert fetched_rows.equals(written.frame[shared].reset_index(drop=True))
    _no_token(ws, caplog)


def _twelve_hour(hms: str) -> str:
    hour, rest = int(hms[:2]), hms[2:]
    return f"{(hour - 1) % 12 + 1:02d}{rest} {'AM' if hour < 12 else 'PM'}"


def test_simulated_wave_reads_as_its_surveymonkey_export(tmp_path, httpserver, caplog, clock):
    sim = simulate_programme(seed=1, n_collaborations=3, n_waves=2)
    wave_id = sim.programme.waves[-1].id
    fake, ws, programme, wave, source = _setup(
        tmp_path, httpserver, survey=survey_from_simulation(sim, wave_id), per_page=40)
    summary = fetch_source(ws, programme, wave, source, policy=FAST)
    fetched = read_surveymonkey(fetched_path(ws, wave, source))

    exported, mapping = write_wave_export(sim, wave_id, "surveymonkey", tmp_path / "export")
    expected = read_surveymonkey(exported)
    keys = [c.key for c in expected.columns][len(METADATA_HEADERS):]
    assert [c.key for c in fetched.columns][len(METADATA_HEADERS):] == keys
    assert summary["responses"] == len(expected.frame) == len(fetched.frame)
    assert fetched.frame[keys].reset_index(drop=True).equals(
        expected.frame[keys].reset_index(drop=True))
    # so the export's mapping names the fetched file's columns too
    assert all(k in mapping.read_text(encoding="utf-8") for k in keys[:3])
    _no_token(ws, caplog)


def test_rate_limit_waits_as_asked_then_succeeds(tmp_path, httpserver, caplog, clock):
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver, n=12, per_page=5,
                                               rate_limit_on_page=2, retry_after="1")
    start = time.monotonic()
    summary = fetch_source(ws, programme, wave, source, policy=FAST)
    assert time.monotonic() - start >= 1.0
    assert summary["waits"] == [1.0]
    assert fake.bulk_pages() == [1, 2, 2, 3]
    assert summary["responses"] == 12 and len(inbox_files(ws)) == 2
    _no_token(ws, caplog)


def test_server_error_is_retried(tmp_path, httpserver, caplog, clock):
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver, n=12, per_page=5,
                                               server_error_on_page=1)
    summary = fetch_source(ws, programme, wave, source, policy=FAST)
    assert fake.bulk_pages() == [1, 1, 2, 3]
    assert len(summary["waits"]) == 1
    assert len(read_surveymonkey(fetched_path(ws, wave, source)).frame) == 12
    _no_token(ws, caplog)


def test_refused_token_fails_at_once_naming_where_to_look(tmp_path, httpserver, monkeypatch,
                                                           caplog, clock):
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver)
    wrong = "smTok-not-the-right-one-42"
    monkeypatch.setenv(ENV, wrong)
    with pytest.raises(FetchError) as failure:
        fetch_source(ws, programme, wave, source, policy=FAST)
    message = str(failure.value)
    assert len(fake.requests) == 1 and not fake.requests[0].authorized
    assert "\n" not in message
    assert f"wave {wave}, source surveymonkey-main (SurveyMonkey)" in message
    assert "HTTP 401" in message and f"environment variable {ENV}" in message
    assert "The authorization token provided was invalid." in message  # the API's own words
    assert wrong not in message and wrong not in caplog.text
    assert inbox_files(ws) == []
    _no_token(ws, caplog, message)


def test_unknown_survey_fails_at_once(tmp_path, httpserver, caplog, clock):
    details, responses = simple_survey(3)
    fake = FakeSurveyMonkey(httpserver, token=TOKEN, survey=details, responses=responses,
                            env=ENV)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source(survey_id="999")])
    source = programme.wave(wave).sources[0]
    with pytest.raises(FetchError) as failure:
        fetch_source(ws, programme, wave, source, policy=FAST)
    message = str(failure.value)
    assert len(fake.requests) == 1 and "\n" not in message
    assert "HTTP 404" in message and "survey 999 not found" in message
    assert "base_url" in message and inbox_files(ws) == []
    _no_token(ws, caplog, message)


def test_truncated_page_fails_and_writes_nothing(tmp_path, httpserver, caplog, clock):
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver, n=12, per_page=5,
                                               truncate_page=2)
    with pytest.raises(FetchError) as failure:
        fetch_source(ws, programme, wave, source, policy=FAST)
    message = str(failure.value)
    assert fake.bulk_pages() == [1] + [2] * FAST.attempts
    assert "\n" not in message and "page 2" in message and "cut short" in message
    assert inbox_files(ws) == []
    _no_token(ws, caplog, message)


def test_responses_that_do_not_fit_the_details_fail(tmp_path, httpserver, caplog, clock):
    details, responses = simple_survey(4)
    responses[2]["pages"][0]["questions"][0]["answers"][0]["choice_id"] = "123"
    fake, ws, programme, wave, source = _setup(tmp_path, httpserver,
                                               survey=(details, responses))
    with pytest.raises(FetchError, match="edited during the fetch") as failure:
        fetch_source(ws, programme, wave, source, policy=FAST)
    assert responses[2]["id"] not in str(failure.value)
    assert inbox_files(ws) == []
    _no_token(ws, caplog, str(failure.value))
