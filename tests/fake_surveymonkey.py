"""A fake SurveyMonkey API v3 on a pytest-httpserver, serving the documented contract.

What it serves (SurveyMonkey's API v3 reference, ``SurveyMonkey/public_api_docs``):

* every request must carry ``Authorization: Bearer <token>``; otherwise HTTP 401 with
  SurveyMonkey's error body ``{"error": {"id": "1011", "name": "Authorization Error",
  "docs": ..., "message": ..., "http_status_code": 401}}`` (``"1010"`` when there is none);
* ``GET /v3/surveys/<id>/details``: the survey document given (pages -> questions);
* ``GET /v3/surveys/<id>/responses/bulk?page=&per_page=``: the responses given, a page at a
  time: ``{"data", "per_page", "page", "total", "links": {"self", "next", "last"}}``, ``next``
  only while there are more (an absolute URL with the request's query, ``page`` advanced);
  ``per_page`` above 100 is HTTP 400 (error 1003), as documented;
* any other survey id: HTTP 404, error ``"1020"``.

Options make it misbehave as a real service can: ``rate_limit_on_page`` (HTTP 429 with
``Retry-After``, once), ``server_error_on_page`` (HTTP 500, once), ``truncate_page`` (every
time: the body cut in half under a ``Content-Length`` for all of it, the connection closed).
``requests`` lists what arrived (method, path, query, whether the token was right; never the
header itself).

Surveys to serve: :func:`survey_from_frame` builds ``(details, responses)`` from a wide frame
with the same description :func:`collab_stats.ingest.surveymonkey.write_surveymonkey` takes
(so the fetched CSV can be compared with the file that writer makes), :func:`simple_survey`
a small instrument-like survey (an agree/disagree matrix, a single choice with "other", a
multi-select, an open text), :func:`survey_from_simulation` one wave of a simulated
programme, answered as :func:`collab_stats.ingest.simulated.write_wave_export` writes it for
SurveyMonkey (so that export's mapping reads the fetched CSV: an end-to-end ingest).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collab_stats.ingest._platform import answer_text, chosen_options, submitted_time

DOCS = "https://developer.surveymonkey.com/api/v3/#error-codes"
#: SurveyMonkey's documented error codes used here: (id, name, message).
ERRORS = {
    "no_token": ("1010", "Authorization Error", "The authorization token was not provided."),
    "bad_token": ("1011", "Authorization Error",
                  "The authorization token provided was invalid."),
    "bad_query": ("1003", "Bad Request", "Invalid URL parameters."),
    "not_found": ("1020", "Resource Not Found",
                  "There was an error retrieving the requested resource."),
    "rate_limit": ("1040", "Rate limit reached", "Too many requests were made, try again "
                   "later."),
    "server": ("1050", "Internal Server Error", "Oh bananas! We couldn't process your request."),
}
MAX_PER_PAGE = 100
AGREE = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
         "Strongly agree"]


@dataclass(frozen=True)
class Received:
    """One request the fake received (the token itself is not kept)."""

    method: str
    path: str
    query: dict[str, str]
    authorized: bool


@dataclass
class FakeSurveyMonkey:
    """SurveyMonkey's API v3 for one survey, on ``server`` (see the module documentation).

    ``survey``: the details document (its ``id`` is the survey id); ``responses``: the bulk
    responses, served in this order; ``per_page``: the most a page holds (the client's
    ``per_page`` is honoured up to it; the API's default is 50)."""

    server: HTTPServer
    token: str
    survey: dict
    responses: list[dict]
    per_page: int = 50
    env: str = "SURVEYMONKEY_TOKEN"
    rate_limit_on_page: int | None = None
    retry_after: str = "1"
    server_error_on_page: int | None = None
    truncate_page: int | None = None
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._once = {"rate_limit": self.rate_limit_on_page,
                      "server": self.server_error_on_page}
        self.server.expect_request(re.compile(r"^/v3/.*")).respond_with_handler(self._handle)

    @property
    def survey_id(self) -> str:
        return str(self.survey["id"])

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the source: ``http://127.0.0.1:<port>``."""
        return self.server.url_for("/").rstrip("/")

    def source(self, **extra: Any) -> dict:
        """The source as a programme file lists it (token from the variable ``env``)."""
        return {"type": "surveymonkey", "name": "surveymonkey-main", "survey_id": self.survey_id,
                "base_url": self.base_url, "token": {"env": self.env}, **extra}

    def bulk_pages(self) -> list[int]:
        """The ``page`` of each bulk-responses request received, in order."""
        return [int(r.query.get("page", 1)) for r in self.requests
                if r.path.endswith("/responses/bulk")]

    # ----------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        authorized = header == f"Bearer {self.token}"
        self.requests.append(Received(request.method, request.path, dict(request.args),
                                      authorized))
        if not authorized:
            return _error(401, "bad_token" if header else "no_token")
        match = re.fullmatch(r"/v3/surveys/([^/]+)/(details|responses/bulk)", request.path)
        if request.method != "GET" or match is None or match[1] != self.survey_id:
            return _error(404, "not_found")
        if match[2] == "details":
            return _json(self.survey)
        try:
            page = int(request.args.get("page", "1"))
            asked = int(request.args.get("per_page", "50"))
        except ValueError:
            return _error(400, "bad_query")
        if page < 1 or not 1 <= asked <= MAX_PER_PAGE:
            return _error(400, "bad_query")
        if self._once["rate_limit"] == page:
            self._once["rate_limit"] = None
            return _error(429, "rate_limit", headers={"Retry-After": self.retry_after})
        if self._once["server"] == page:
            self._once["server"] = None
            return _error(500, "server")
        size = min(asked, self.per_page)
        total = len(self.responses)
        last = max(1, math.ceil(total / size))

        def link(number: int) -> str:
            query = dict(request.args) | {"page": str(number), "per_page": str(size)}
            return f"{request.host_url.rstrip('/')}{request.path}?{urlencode(query)}"

        links = {"self": link(page), "last": link(last)}
        if page < last:
            links["next"] = link(page + 1)
        body = {"data": self.responses[(page - 1) * size: page * size], "per_page": size,
                "page": page, "total": total, "links": links}
        if self.truncate_page == page:
            data = json.dumps(body).encode()
            response = Response(data[: len(data) // 2], content_type="application/json")
            response.headers["Content-Length"] = str(len(data))
            response.headers["Connection"] = "close"
            return response
        return _json(body)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=dict(headers or {}),
                    content_type="application/json")


def _error(status: int, kind: str, headers: Mapping[str, str] | None = None) -> Response:
    code, name, message = ERRORS[kind]
    return _json({"error": {"id": code, "name": name, "docs": DOCS, "message": message,
                            "http_status_code": status}}, status, headers)


# --------------------------------------------------------------------------------------------
# surveys to serve


def survey_from_frame(frame: pd.DataFrame, *, questions: Mapping[str, str],
                      options: Mapping[str, Sequence[str]] | None = None,
                      statements: Mapping[str, str] | None = None,
                      choices: Mapping[str, Sequence[str]] | None = None,
                      other: Collection[str] = (), survey_id: str = "412345678",
                      title: str = "Collaboration survey", seed: int = 0,
                      ) -> tuple[dict, list[dict]]:
    """``(details, responses)`` as the API gives them for a wide frame (one row a response).

    ``questions``, ``options`` (multi-selects: cells hold the chosen option texts) and
    ``statements`` (consecutive columns with the same question text and a statement form one
    matrix) are as :func:`~collab_stats.ingest.surveymonkey.write_surveymonkey` takes them;
    ``choices``: column -> choice texts of a single-choice question or matrix (cells hold the
    chosen text); ``other``: single-choice columns offering "Other (please specify)", where
    a text that is not a choice is the other answer. Every other column is an open-ended
    question. Blank cells are left unanswered (SurveyMonkey omits them). Each response is
    ``completed`` unless the frame's ``completed`` is false (``partial``); ``date_modified``
    is the frame's ``submitted_at`` when it has one. Ids are made up, deterministically.
    """
    options, statements, choices = dict(options or {}), dict(statements or {}), dict(choices or {})
    ids = itertools.count(700_000_001)
    page_id = str(next(ids))
    built: list[dict] = []  # {"question": <details question>, "columns": [...]}
    for column, text in questions.items():
        previous = built[-1] if built else None
        if (column in statements and previous is not None and previous["kind"] == "matrix"
                and previous["question"]["headings"][0]["heading"] == text):
            row = {"id": str(next(ids)), "text": statements[column], "visible": True}
            previous["question"]["answers"]["rows"].append(row)
            previous["columns"].append((column, row["id"]))
            continue
        question: dict[str, Any] = {"id": str(next(ids)), "headings": [{"heading": text}],
                                    "position": len(built) + 1, "visible": True}
        if column in statements:
            kind, family, subtype = "matrix", "matrix", "rating"
        elif column in options:
            kind, family, subtype = "multiple", "multiple_choice", "vertical"
        elif column in choices:
            kind, family, subtype = "single", "single_choice", "vertical"
        else:
            kind, family, subtype = "open", "open_ended", "single"
        question |= {"family": family, "subtype": subtype}
        texts = options.get(column) or choices.get(column) or []
        if kind != "open":
            question["answers"] = {"choices": [
                {"id": str(next(ids)), "text": t, "position": k + 1, "visible": True}
                for k, t in enumerate(texts)]}
        if kind == "matrix":
            row = {"id": str(next(ids)), "text": statements[column], "visible": True}
            question["answers"]["rows"] = [row]
            columns = [(column, row["id"])]
        else:
            columns = [(column, None)]
        if column in other:
            question["answers"]["other"] = {"id": str(next(ids)), "text": "Other (please specify)",
                                            "visible": True, "is_answer_choice": True}
        built.append({"kind": kind, "question": question, "columns": columns})
    details = {"id": survey_id, "title": title, "language": "en",
               "date_created": "2024-01-08T10:00:00+00:00",
               "date_modified": "2024-02-26T16:30:00+00:00", "custom_variables": {},
               "question_count": len(built), "page_count": 1,
               "pages": [{"id": page_id, "title": "", "position": 1,
                          "question_count": len(built),
                          "questions": [b["question"] for b in built]}]}

    rng = random.Random(seed)
    start = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
    response_ids = itertools.count(114_000_000_001, 7)
    collector = str(rng.randrange(10**8, 10**9))
    responses = []
    for n, (_, row) in enumerate(frame.iterrows()):
        start += dt.timedelta(seconds=rng.randrange(60, 7200))
        created, modified = start, start + dt.timedelta(seconds=rng.randrange(90, 1500))
        submitted = submitted_time(row)
        if submitted is not None:
            submitted = submitted.replace(tzinfo=dt.UTC) if submitted.tzinfo is None else submitted
            created, modified = submitted - (modified - created), submitted
        answered = []
        for b in built:
            answers = _answers(b, row, options, choices, other, where=f"row {n}")
            if answers:
                answered.append({"id": b["question"]["id"], "answers": answers})
        completed = row.get("completed", True)
        partial = completed is not None and bool(pd.notna(completed)) and not bool(completed)
        responses.append({
            "id": str(next(response_ids)), "survey_id": survey_id, "collector_id": collector,
            "recipient_id": "", "total_time": int((modified - created).total_seconds()),
            "custom_value": "", "custom_variables": {}, "collection_mode": "default",
            "ip_address": f"198.51.100.{rng.randrange(1, 255)}",
            "response_status": "partial" if partial else "completed",
            "date_created": created.isoformat(timespec="seconds"),
            "date_modified": modified.isoformat(timespec="seconds"),
            "pages": [{"id": page_id, "questions": answered}],
        })
    return details, responses


def _answers(built: dict, row: pd.Series, options, choices, other, *, where: str) -> list[dict]:
    question = built["question"]
    by_text = {c["text"]: c["id"] for c in question.get("answers", {}).get("choices", [])}
    answers = []
    for column, row_id in built["columns"]:
        value = row[column]
        if built["kind"] == "multiple":
            chosen = chosen_options(value, options[column], f"{where}, column {column!r}")
            answers += [{"choice_id": by_text[t]} for t in chosen]
            continue
        text = answer_text(value, None)
        if text is None:
            continue
        if built["kind"] == "open":
            answers.append({"text": text})
        elif text in by_text:
            answers.append({"choice_id": by_text[text]} | ({"row_id": row_id} if row_id else {}))
        elif column in other:
            answers.append({"other_id": question["answers"]["other"]["id"], "text": text})
        else:
            raise ValueError(f"{where}, column {column!r}: {text!r} is not one of its choices "
                             f"{list(choices[column])}")
    return answers


def simple_frame(n_responses: int = 7, *, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """A small instrument-like survey's answers: the frame, the layout
    (``questions``/``options``/``statements``, as ``write_surveymonkey`` takes them) and the
    single-choice extras (``choices``/``other``) for :func:`survey_from_frame`.

    Three agree/disagree statements in one matrix, a single choice with "Other (please
    specify)", a multi-select and an open text, with some blanks."""
    rng = random.Random(seed)
    matrix = "To what extent do you agree with each statement?"
    statements = {"trust": "Partners trust each other.", "aims": "We share the same aims.",
                  "data": "We share data readily."}
    leads = ["The council", "The NHS trust", "A voluntary organisation"]
    sectors = ["Health", "Social care", "Police", "Education"]
    comments = ["Good progress this year.", "Meetings clash, often; the agenda is long.",
                "Zoë’s team joined in March.", "Two\nlines."]
    rows = []
    for _ in range(n_responses):
        lead = rng.choice([*leads, "Shared between two partners", None])
        rows.append({
            "trust": rng.choice([*AGREE, None]), "aims": rng.choice(AGREE),
            "data": rng.choice([*AGREE, None]), "lead": lead,
            "sectors": rng.sample(sectors, rng.randrange(0, 3)),
            "comment": rng.choice([*comments, None, None]),
        })
    frame = pd.DataFrame(rows)
    layout = {"questions": {"trust": matrix, "aims": matrix, "data": matrix,
                            "lead": "Who leads the collaboration?",
                            "sectors": "Which sectors take part? (select all that apply)",
                            "comment": "Anything else you would like to tell us?"},
              "options": {"sectors": sectors}, "statements": statements}
    extras = {"choices": {"trust": AGREE, "aims": AGREE, "data": AGREE, "lead": leads},
              "other": ["lead"]}
    return frame, layout, extras


def simple_survey(n_responses: int = 7, *, seed: int = 0,
                  survey_id: str = "412345678") -> tuple[dict, list[dict]]:
    """``(details, responses)`` of :func:`simple_frame`'s survey."""
    frame, layout, extras = simple_frame(n_responses, seed=seed)
    return survey_from_frame(frame, **layout, **extras, survey_id=survey_id, seed=seed)


def survey_from_simulation(sim, wave_id: str, *, survey_id: str = "412345678",
                           ) -> tuple[dict, list[dict]]:
    """``(details, responses)`` of one simulated wave, with the questions and answers
    :func:`~collab_stats.ingest.simulated.write_wave_export` writes for SurveyMonkey: items
    as single-choice questions (the scale's labels and the missing-data labels), the profile,
    the respondent's reference and the ";"-joined multi-selects as open-ended questions. The
    fetched CSV then has that export's columns and values, so its mapping
    (``<export>.mapping.yaml``) reads it."""
    from collab_stats.ingest.simulated import _as_labels, wave_export_frame

    version, frame, items, _, profile = wave_export_frame(sim, wave_id)
    labels = {o.code: o.label for o in version.scale.options}
    labels.update({m.code: m.label for m in version.scale.missing})
    questions = {**profile, **items}
    choices = {i: list(labels.values()) for i in version.item_ids}
    return survey_from_frame(_as_labels(frame, version, labels), questions=questions,
                             choices=choices, survey_id=survey_id)
