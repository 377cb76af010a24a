"""A fake Qualtrics API v3 serving the response-export job, on a pytest-httpserver server.

:class:`FakeQualtrics` answers the three documented calls of Qualtrics' response export
(API reference: *Start Response Export*, *Get Response Export Progress*, *Get Response Export
File*; the module documentation of :mod:`pipelines.fetch.qualtrics` gives the addresses),
the way Qualtrics does:

``POST /API/v3/surveys/{surveyId}/export-responses``
    body ``{"format": "csv", ...}`` (anything but ``csv`` gets 400) ->
    ``{"result": {"progressId": "ES_...", "percentComplete": 0.0, "status": "inProgress"},
    "meta": {"requestId": "...", "httpStatus": "200 - OK"}}``
``GET /API/v3/surveys/{surveyId}/export-responses/{progressId}``
    ``inProgress`` with a growing ``percentComplete`` until the ``polls``-th question, which
    answers ``complete`` with a ``fileId`` (or ``failed``, ``fileId`` null, for a job that
    fails)
``GET /API/v3/surveys/{surveyId}/export-responses/{fileId}/file``
    a ZIP archive holding the CSV (``csv_name``), deflated as Qualtrics serves it.

Every call needs the ``X-API-TOKEN`` header holding ``token``: otherwise 401. A survey other
than ``survey_id`` gets 404; so do unknown job and file ids. Errors carry Qualtrics' error
envelope, ``{"meta": {"httpStatus": "404 - Not Found", "error": {"errorMessage": "...",
"errorCode": "..."}, "requestId": "..."}}`` (the messages and codes are illustrative).

Faults to test a client with: ``rate_limit_at`` (the first call of that step gets 429 with
``Retry-After: retry_after``), ``server_error_at`` (the first call of that step gets 500),
``fail_job``, ``truncate`` (``"connection"``: every download declares a ``Content-Length``
larger than the bytes sent and the connection closes, a download cut short in transit;
``"zip"``: the ZIP is cut in half, with a correct length), ``archive`` (bytes served as
the file instead of the zipped CSV) and ``redirect_file_to`` (the download redirects
there). Steps are named ``"start"``, ``"progress"`` and ``"file"``.

Each request is recorded in :attr:`FakeQualtrics.requests` (method, path, step, the status
answered, whether the token was right, the JSON body): never the token itself. A typical
use, with the ``httpserver`` and ``monkeypatch`` fixtures::

    fake = FakeQualtrics(httpserver, csv=export_bytes, polls=3)
    monkeypatch.setenv(fake.token_env, fake.token)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source()])
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any, Literal

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

__all__ = ["FakeQualtrics", "Received", "Step", "zip_export"]

Step = Literal["start", "progress", "file", "other"]

_ROUTE = re.compile(r"^/API/v3/surveys/(?P<survey>[^/]+)/export-responses"
                    r"(?:/(?P<ident>[^/]+)(?P<file>/file)?)?/?$")
_STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                429: "Too Many Requests", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Received:
    """One request the fake API received (never the token it carried)."""

    method: str
    path: str
    step: Step
    status: int
    token_ok: bool
    body: Any = None


class FakeQualtrics:
    """Qualtrics' response-export API on ``httpserver`` (see the module documentation).

    Parameters
    ----------
    httpserver : pytest_httpserver.HTTPServer
        The server to register on (the ``httpserver`` fixture).
    csv : bytes
        The export Qualtrics would write: served zipped, as it is.
    token : str
        The API token the fake accepts (``X-API-TOKEN``).
    token_env : str
        The environment variable :meth:`source` names as where the token is kept.
    survey_id : str
        The one survey the fake knows.
    polls : int
        Progress questions until the job is complete (1: the first answers ``complete``).
    fail_job : bool
        The job ends ``failed`` instead (at the ``polls``-th question).
    rate_limit_at, server_error_at : "start", "progress", "file" or None
        The first call of that step gets 429 (with ``Retry-After: retry_after`` seconds) or
        500; later calls are answered normally.
    truncate : "connection", "zip" or None
        Downloads cut short in transit (every one) or a ZIP cut in half.
    archive : bytes, optional
        Served as the export file instead of the zipped ``csv`` (a ZIP with two CSVs...).
    redirect_file_to : str, optional
        The download answers ``302 Found`` to this address instead (e.g. another server
        serving :attr:`archive`, as a storage service's signed link would).
    csv_name : str
        The CSV's name inside the ZIP (Qualtrics names it after the survey).
    """

    def __init__(self, httpserver: HTTPServer, *, csv: bytes,
                 token: str = "qx-test-7Hk2pW9rT4vB8nQ1",
                 token_env: str = "COLLAB_TEST_QUALTRICS_TOKEN",
                 survey_id: str = "SV_0AbCdEfGhIjKlMn", polls: int = 3,
                 fail_job: bool = False, rate_limit_at: Step | None = None,
                 retry_after: int = 1, server_error_at: Step | None = None,
                 truncate: Literal["connection", "zip"] | None = None,
                 archive: bytes | None = None, redirect_file_to: str | None = None,
                 csv_name: str = "Collaboration survey.csv"):
        if polls < 1:
            raise ValueError(f"polls must be at least 1, got {polls}")
        self.server = httpserver
        self.csv = csv
        self.token = token
        self.token_env = token_env
        self.survey_id = survey_id
        self.polls = polls
        self.fail_job = fail_job
        self.rate_limit_at = rate_limit_at
        self.retry_after = retry_after
        self.server_error_at = server_error_at
        self.truncate = truncate
        self.redirect_file_to = redirect_file_to
        self.archive = archive if archive is not None else zip_export(csv, csv_name)
        #: Every request received, in order.
        self.requests: list[Received] = []
        #: The ids handed out: start calls' requestIds, jobs' progressIds, files' fileIds.
        self.request_ids: list[str] = []
        self.progress_ids: list[str] = []
        self.file_ids: list[str] = []
        self._asked: dict[str, int] = {}
        self._faulted: set[str] = set()
        httpserver.expect_request(re.compile(r"^/.*$")).respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        """The data centre address to put in a source (``http://127.0.0.1:PORT``)."""
        return self.server.url_for("/").rstrip("/")

    def source(self, **extra: Any) -> dict[str, Any]:
        """A programme-file source for this fake survey (``extra`` adds or replaces keys,
        e.g. ``name=``, ``collaboration=``, ``survey_id=``)."""
        return {"type": "qualtrics", "base_url": self.base_url, "survey_id": self.survey_id,
                "token": {"env": self.token_env}, **extra}

    def count(self, step: Step) -> int:
        """How many requests of ``step`` were received."""
        return sum(r.step == step for r in self.requests)

    # -- the API -----------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        match = _ROUTE.match(request.path)
        step: Step = "other"
        if match:
            step = "start" if match["ident"] is None else "file" if match["file"] else "progress"
        token_ok = request.headers.get("X-API-TOKEN") == self.token
        body = None
        if step == "start":
            try:
                body = json.loads(request.get_data(as_text=True) or "null")
            except ValueError:
                body = None
        response = self._answer(request, match, step, token_ok, body)
        self.requests.append(Received(request.method, request.path, step,
                                      response.status_code, token_ok, body))
        return response

    def _answer(self, request: Request, match: re.Match | None, step: Step, token_ok: bool,
                body: Any) -> Response:
        expected = {"start": "POST", "progress": "GET", "file": "GET"}.get(step)
        if match is None or request.method != expected:
            return _error(404, f"API call does not exist: {request.method} {request.path}",
                          "RESOURCE_NOT_FOUND")
        if not token_ok:
            return _error(401, "Invalid or missing X-API-TOKEN.", "AUTH_TOKEN_INVALID")
        if match["survey"] != self.survey_id:
            return _error(404, f"Survey {match['survey']} not found.", "QVAL_1")
        if step == self.rate_limit_at and "429" not in self._faulted:
            self._faulted.add("429")
            response = _error(429, "Too many requests, slow down.", "RATE_LIMIT")
            response.headers["Retry-After"] = str(self.retry_after)
            return response
        if step == self.server_error_at and "500" not in self._faulted:
            self._faulted.add("500")
            return _error(500, "Internal server error.", "INTERNAL_ERROR")
        if step == "start":
            return self._start(body)
        if step == "progress":
            return self._progress(match["ident"])
        return self._file(match["ident"])

    def _start(self, body: Any) -> Response:
        if not isinstance(body, dict) or body.get("format") != "csv":
            return _error(400, "Invalid request. Missing or invalid parameter format.",
                          "QVAL_2")
        number = len(self.progress_ids) + 1
        progress_id = f"ES_fake{number:010d}"
        self.progress_ids.append(progress_id)
        self._asked[progress_id] = 0
        return _ok({"progressId": progress_id, "percentComplete": 0.0,
                    "status": "inProgress"}, self.request_ids)

    def _progress(self, progress_id: str) -> Response:
        if progress_id not in self._asked:
            return _error(404, f"Export {progress_id} not found.", "QVAL_3")
        self._asked[progress_id] += 1
        asked = self._asked[progress_id]
        if asked < self.polls:
            return _ok({"percentComplete": round(100.0 * asked / self.polls, 1),
                        "status": "inProgress", "fileId": None})
        if self.fail_job:
            return _ok({"fileId": None, "percentComplete": 100.0, "status": "failed"})
        file_id = f"{uuid.uuid5(uuid.NAMESPACE_URL, progress_id)}-def"
        if file_id not in self.file_ids:
            self.file_ids.append(file_id)
        return _ok({"fileId": file_id, "percentComplete": 100.0, "status": "complete"})

    def _file(self, file_id: str) -> Response:
        if file_id not in self.file_ids:
            return _error(404, f"File {file_id} not found.", "QVAL_4")
        if self.redirect_file_to is not None:
            return Response("", status=302, headers={"Location": self.redirect_file_to})
        data = self.archive
        if self.truncate == "zip":
            data = data[: len(data) // 2]
        response = Response(data, status=200, content_type="application/octet-stream")
        response.headers["Content-Disposition"] = 'attachment; filename="export.zip"'
        if self.truncate == "connection":
            response.headers["Content-Length"] = str(len(data) * 2)
        return response


def zip_export(csv: bytes, name: str = "Collaboration survey.csv") -> bytes:
    """``csv`` in a ZIP archive under ``name`` (deflated), as Qualtrics serves an export."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(name, csv)
    return buffer.getvalue()


def _ok(result: dict[str, Any], request_ids: list[str] | None = None) -> Response:
    request_id = str(uuid.uuid4())
    if request_ids is not None:
        request_ids.append(request_id)
    return _json(200, {"result": result,
                       "meta": {"requestId": request_id, "httpStatus": "200 - OK"}})


def _error(status: int, message: str, code: str) -> Response:
    return _json(status, {"meta": {"httpStatus": f"{status} - {_STATUS_TEXT[status]}",
                                   "error": {"errorMessage": message, "errorCode": code},
                                   "requestId": str(uuid.uuid4())}})


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")
