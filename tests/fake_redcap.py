"""A fake REDCap API on a pytest-httpserver ``HTTPServer``, answering as REDCap documents it.

REDCap's API is one address taking form-encoded POSTs; the form's ``content`` says what to
export (REDCap API documentation: "Export REDCap Version", "Export Metadata", "Export
Records", "Export Reports"). The fake answers those four with the bytes it was given, and
refuses requests as a real server does, with the status and ``{"error": "..."}`` body that
``returnFormat=json`` asks for:

* a token other than the project's: 403 ``You do not have permissions to use the API``
  (PyCap issue #140 quotes it);
* a report that is not one of the project's: 403 ``The API request cannot complete because
  report_id=N does not belong to this project.`` (redcapAPI issue #48 quotes it: REDCap
  answers 403 here, not 400);
* a field the dictionary does not define: 400 ``The following values in the parameter
  "fields" are not valid: 'x'`` (redcapAPI issues #231, #267);
* another ``content``, or a format other than CSV: 400.

Usage::

    fake = FakeREDCap(httpserver, token=TOKEN, data=data_csv, dictionary=dictionary_csv)
    monkeypatch.setenv(fake.env, TOKEN)
    ws, programme, wave = fetch_workspace(tmp_path / "ws", [fake.source()])

``fake.requests`` lists every form received (a dict per request, in order, the token
included: it stays in the test's memory), ``fake.served`` the data bytes last sent.

Faults, each given to the constructor, for the data request (``content=record`` or
``report``): ``throttle_once=1`` answers it once with 429 and ``Retry-After: 1``;
``fail_once=500`` once with that status; ``truncated=True`` always sends half the body
under the full ``Content-Length`` (the connection closes early: a download cut short);
``instead_of_data=b"<html>..."`` answers it with 200 and that body (a sign-in page in front
of the API, as in REDCapR issue #556). ``version`` is what ``content=version`` answers.
"""

from __future__ import annotations

import csv
import io
import json

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

__all__ = ["LOGIN_PAGE", "TOKEN", "FakeREDCap"]

#: A REDCap API token has this shape: 32 hexadecimal characters (upper case).
TOKEN = "8E66DB6844D58E990075AFB51658A002"
#: What a sign-in proxy in front of REDCap answers instead of the export.
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>"
              b"<form method='post' action='/login'><input name='username'></form>"
              b"</body></html>\n")


class FakeREDCap:
    """A REDCap project's API on ``server`` at ``path`` (see the module documentation).

    ``token``: the project's API token; ``data``: the records as a raw CSV export;
    ``dictionary``: its data dictionary as CSV (as the API gives it or as downloaded);
    ``reports``: report id -> CSV bytes; ``env``: the environment variable named in
    :meth:`source`."""

    def __init__(self, server: HTTPServer, *, token: str = TOKEN, data: bytes,
                 dictionary: bytes, reports: dict[int, bytes] | None = None,
                 version: str = "14.0.2", env: str = "REDCAP_API_TOKEN", path: str = "/api/",
                 throttle_once: int | None = None, fail_once: int | None = None,
                 truncated: bool = False, instead_of_data: bytes | None = None):
        self.server = server
        self.token = token
        self.data = data
        self.dictionary = dictionary
        self.reports = dict(reports or {})
        self.version = version
        self.env = env
        self.path = path
        self.throttle_once = throttle_once
        self.fail_once = fail_once
        self.truncated = truncated
        self.instead_of_data = instead_of_data
        self.requests: list[dict[str, str]] = []
        self.served: bytes | None = None
        server.expect_request(path, method="POST").respond_with_handler(self._answer)

    @property
    def url(self) -> str:
        """The API address (``http://127.0.0.1:PORT/api/``)."""
        return self.server.url_for(self.path)

    def source(self, **extra) -> dict:
        """The source as written in a wave's ``sources`` (``extra`` added: ``name``,
        ``report_id``, ``fields``, ``mapping``, ``collaboration``)."""
        return {"type": "redcap", "name": "redcap-survey", "url": self.url,
                "token": {"env": self.env}, **extra}

    def contents(self) -> list[str]:
        """The ``content`` of each request received, in order."""
        return [form.get("content", "") for form in self.requests]

    # --- the API -----------------------------------------------------------------------

    def _answer(self, request: Request) -> Response:
        form = request.form.to_dict(flat=True)
        self.requests.append(form)
        if form.get("token") != self.token:
            return _error(403, "You do not have permissions to use the API")
        content = form.get("content")
        if content == "version":
            return Response(self.version, content_type="text/html; charset=utf-8")
        if content not in ("metadata", "record", "report"):
            return _error(400, 'The value of the parameter "content" is not valid')
        if form.get("format") != "csv":
            return _error(400, "this fake REDCap serves CSV only")
        if content == "metadata":
            return _csv(self.dictionary)
        if content == "report":
            report = form.get("report_id", "")
            if not report.isdigit() or int(report) not in self.reports:
                return _error(403, f"The API request cannot complete because "
                              f"report_id={report} does not belong to this project.")
            body = self.reports[int(report)]
        else:
            fields = [form[k] for k in sorted((k for k in form if k.startswith("fields[")),
                                              key=lambda k: int(k[7:-1]))]
            known = self._field_names()
            unknown = [f for f in fields if f not in known]
            if unknown:
                listed = ", ".join(f"'{f}'" for f in unknown)
                return _error(400, f'The following values in the parameter "fields" are '
                              f"not valid: {listed}")
            survey = form.get("exportSurveyFields") == "true"
            body = self._only(fields, survey) if fields else self.data
        return self._data(body)

    def _data(self, body: bytes) -> Response:
        if self.throttle_once is not None:
            seconds, self.throttle_once = self.throttle_once, None
            return _error(429, "Too many requests", headers={"Retry-After": str(seconds)})
        if self.fail_once is not None:
            status, self.fail_once = self.fail_once, None
            return Response("<html><body>Internal Server Error</body></html>", status=status,
                            content_type="text/html")
        if self.instead_of_data is not None:
            return Response(self.instead_of_data, content_type="text/html; charset=utf-8")
        self.served = body
        if self.truncated:
            response = _csv(body[: len(body) // 2])
            response.headers["Content-Length"] = str(len(body))
            return response
        return _csv(body)

    def _forms(self) -> dict[str, str]:
        """Field name -> form name, from the dictionary (its first two columns)."""
        rows = list(csv.reader(io.StringIO(self.dictionary.decode("utf-8-sig"))))
        return {row[0]: row[1] for row in rows[1:] if len(row) > 1}

    def _field_names(self) -> set[str]:
        """What ``fields[i]`` may name: the dictionary's fields and each form's status."""
        forms = self._forms()
        return set(forms) | {f"{form}_complete" for form in forms.values()}

    def _only(self, fields: list[str], survey: bool) -> bytes:
        """The export's columns of ``fields``, as REDCap writes them: a checkbox field's
        ``name___code`` columns, and with ``exportSurveyFields=true``
        ``redcap_survey_identifier`` and the timestamp of each form one of ``fields`` is on."""
        forms = self._forms()
        stamped = {f"{forms[f]}_timestamp" for f in fields if f in forms}
        rows = list(csv.reader(io.StringIO(self.data.decode("utf-8-sig"))))
        keep = [k for k, name in enumerate(rows[0])
                if name in fields or name.partition("___")[0] in fields
                or (survey and (name == "redcap_survey_identifier" or name in stamped))]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            writer.writerow([row[k] if k < len(row) else "" for k in keep])
        return out.getvalue().encode("utf-8")


def _csv(body: bytes) -> Response:
    return Response(body, content_type="text/csv; charset=utf-8")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": message}), status=status, headers=headers,
                    content_type="application/json")
