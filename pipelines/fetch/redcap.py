"""Fetching a REDCap project's records (or one of its reports) and data dictionary.

REDCap's API is one address per server (``https://redcap.example.ac.uk/api/``) taking
form-encoded POSTs; the form's ``token`` says which project and user, its ``content`` what to
export. A fetch makes three requests (REDCap API documentation, "Export REDCap Version",
"Export Metadata (Data Dictionary)", "Export Records", "Export Reports"):

1. ``content=version``: the server's REDCap version, kept in the provenance. It is also the
   cheapest check of the address and the token before anything large is downloaded;
2. ``content=metadata&format=csv``: the data dictionary, which the reader
   (:func:`collab_stats.ingest.redcap.read_redcap`) needs to know each column's question,
   choices and whether it identifies a person. The API's dictionary has the API's headers
   (``field_name``, ``form_name``, ``select_choices_or_calculations``, ``identifier`` ...),
   which the reader accepts as well as the download's ("Variable / Field Name" ...);
3. the records as a *raw* flat CSV export, as the web page's "CSV (raw data)" export writes
   them: ``content=record&type=flat`` (or ``content=report&report_id=N``), ``format=csv``,
   ``rawOrLabel=raw``, ``rawOrLabelHeaders=raw`` (codes as values, field names as headers:
   the reader refuses a labels export), ``exportCheckboxLabel=false`` (checkboxes as 0/1),
   ``exportSurveyFields=true`` (``redcap_survey_identifier`` and the ``<form>_timestamp``
   columns: the reader takes a response's submission time and completion from them).
   ``fields`` in the programme file becomes ``fields[0]=..., fields[1]=...`` (the array form
   REDCap requires), with the record id field (the dictionary's first) added first and the
   status field of each form they are on (``<form>_complete``) added last, as REDCap's own
   exports have them: REDCap leaves out whatever is not asked for (PyCap's
   ``_backfill_fields`` adds the same). A report's columns are the report's own (REDCap
   ignores ``type`` and survey fields there).

Every request asks for errors as JSON (``returnFormat=json``): REDCap then answers a refused
request with an HTTP status and ``{"error": "..."}``, which :class:`~.http.Http` quotes in
the one-line :class:`~.errors.FetchError` after what to check (:func:`explanations`): 403 for
a token that is not valid or has no API export right ("You do not have permissions to use
the API"), and for a report of another project; 400 for an unknown field; 404 for an
address with no API behind it.

**Why not PyCap.** PyCap (``redcap-tools/PyCap``, read at 2.7.0) is a thin layer over the
same POSTs: it builds the form (the ``fields[i]`` arrays, ``content=report`` ...) and sends it
with ``requests`` through a module-level ``Session``, with no time-outs or retries of its own
and no use of the HTTP status (it looks for ``"error"`` in the decoded body). It cannot run
over :class:`~.http.Http` (httpx, with the time-outs, retries on network errors / 429 / 5xx,
``Retry-After`` and redaction every platform shares), it returns a CSV export as decoded text
rather than the bytes the inbox must keep unchanged, and it checks its arguments with
``assert`` (a message quoting the token when its length is unexpected). What it would save
is a dictionary of form fields, so this module builds the form itself, as REDCap documents
it, and sends it with :class:`~.http.Http`; PyCap is not a dependency.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from collab_stats.programme import Source
from pipelines.progress import stage

from . import Fetched
from .http import Http

__all__ = ["explanations", "fetch"]

Step = Callable[[str], None]

#: REDCap answers ``content=version`` with its version as plain text (``14.0.2``).
_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")
#: Headers naming the field in a data dictionary: the API's, and the web page download's.
_FIELD_NAME_HEADERS = ("field_name", "variable / field name")
_FORM_NAME_HEADERS = ("form_name", "form name")
#: The options of a raw flat export (REDCap API documentation, "Export Records").
_RAW_EXPORT = {"format": "csv", "rawOrLabel": "raw", "rawOrLabelHeaders": "raw",
               "exportCheckboxLabel": "false", "returnFormat": "json"}


def fetch(source: Source, token: str, http: Http, progress: Step | None = None) -> Fetched:
    """Fetch a REDCap source: the records (or report ``report_id``, or only ``fields``) as
    a raw CSV export with the project's data dictionary (see the module documentation).

    ``identifiers`` records the REDCap version, the request (``record`` or ``report``, the
    report id or the fields asked for) and the number of data rows, which is also
    ``responses``. Raises :class:`~pipelines.fetch.errors.FetchError` (one line) when REDCap
    refuses a request or answers with something that is not REDCap's."""
    url = str(source.settings["url"])
    report_id = source.settings.get("report_id")
    fields = tuple(source.settings.get("fields") or ())
    http.explain = explanations(source)
    stage(f"fetch {source.name}", total=3)

    def post(what: str, form: Mapping[str, str]) -> httpx.Response:
        response = http.request("POST", url, what=what, data={"token": token, **form})
        if progress is not None:
            progress(what)
        return response

    answer = post("asking REDCap for its version", {"content": "version",
                                                      "returnFormat": "json"})
    version = answer.text.strip()
    if not _VERSION.match(version):
        said = ("an HTML page (a sign-in page or a proxy in front of REDCap?)"
                if _looks_like_html(answer) else f"{version[:40]!r}")
        raise http.fail(f"{url} answered the version request with {said}, not a REDCap "
                        "version number: check the source's url (the project's API address, "
                        "usually ending in /api/)")

    dictionary = post("downloading the data dictionary",
                      {"content": "metadata", "format": "csv", "returnFormat": "json"}).content

    identifiers: dict[str, Any] = {"redcap_version": version}
    if report_id is not None:
        form = {"content": "report", "report_id": str(report_id), **_RAW_EXPORT}
        what = f"downloading report {report_id}"
        identifiers.update(request="report", report_id=int(report_id))
    else:
        form = {"content": "record", "type": "flat", **_RAW_EXPORT,
                "exportSurveyFields": "true"}
        what = "downloading the records"
        identifiers["request"] = "record"
        if fields:
            asked = _fields_to_ask(fields, dictionary)
            form.update({f"fields[{k}]": name for k, name in enumerate(asked)})
            identifiers["fields"] = asked
    content = post(what, form).content
    rows = _data_rows(content)
    identifiers["rows"] = rows
    return Fetched(content=content, format="redcap", dictionary=dictionary,
                   identifiers=identifiers, responses=rows)


def explanations(source: Source) -> dict[int, str]:
    """What to check when REDCap answers a request of ``source`` with an HTTP error."""
    where_token = (source.token.describe() if source.token is not None
                   else "the source's token")
    url = source.settings.get("url", "")
    report_id = source.settings.get("report_id")
    rights = (f"check that {where_token} holds this project's API token and that its user "
              "has the API Export right in the project")
    if report_id is not None:
        rights += (f", and that report {report_id} is one of this project's reports (the "
                   "number shown beside its name on the project's report list)")
    return {
        400: ("REDCap refused the request: check the source's settings in the programme file"
              + (" (fields: the project's field names)" if source.settings.get("fields")
                 else "")),
        401: f"REDCap refused the token: check {where_token} (a project's API token)",
        403: rights,
        404: f"there is no REDCap API at {url}: check the source's url (the project's API "
             "address, usually ending in /api/)",
    }


def _looks_like_html(response: httpx.Response) -> bool:
    head = response.content[:512].lstrip().lower()
    return ("html" in response.headers.get("content-type", "")
            or head.startswith((b"<!doctype html", b"<html")))


def _csv_rows(content: bytes) -> list[list[str]]:
    text = content.decode("utf-8-sig", errors="replace")
    try:
        return [row for row in csv.reader(io.StringIO(text, newline="")) if any(row)]
    except csv.Error:
        return []


def _data_rows(content: bytes) -> int:
    """Records (rows below the header) in a CSV export; blank lines are not counted."""
    return max(0, len(_csv_rows(content)) - 1)


def _dictionary_fields(dictionary: bytes) -> list[tuple[str, str]]:
    """(field name, form name) of each field of a data dictionary, in order (the first is
    the record id field); empty when it cannot be read (:func:`~pipelines.fetch.deliver`
    then says why)."""
    rows = _csv_rows(dictionary)
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    where = {}
    for attr, names in (("name", _FIELD_NAME_HEADERS), ("form", _FORM_NAME_HEADERS)):
        found = [k for k, h in enumerate(header) if h in names]
        if not found:
            return []
        where[attr] = found[0]
    width = max(where.values())
    return [(row[where["name"]].strip(), row[where["form"]].strip()) for row in rows[1:]
            if len(row) > width and row[where["name"]].strip()]


def _fields_to_ask(fields: tuple[str, ...], dictionary: bytes) -> list[str]:
    """``fields`` with the record id field first and, last, the status field
    (``<form>_complete``) of each form they are on, as REDCap's own exports include them:
    REDCap leaves out of an export every field not asked for, and without the record id or
    a ``redcap_``/``_complete`` column an export is not recognisable as REDCap's."""
    known = _dictionary_fields(dictionary)
    if not known:
        return list(fields)
    forms = dict(known)
    record_id = known[0][0]
    asked = ([record_id] if record_id not in fields else []) + list(fields)
    for form in dict.fromkeys(forms[f] for f in fields if f in forms):
        if f"{form}_complete" not in asked:
            asked.append(f"{form}_complete")
    return asked
