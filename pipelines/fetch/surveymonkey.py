"""Fetching a SurveyMonkey survey's responses (API v3), written as its CSV export.

The contract followed is SurveyMonkey's API v3 reference (developer.surveymonkey.com/api/v3,
source ``SurveyMonkey/public_api_docs``: "Surveys, Pages, and Questions", "Survey Responses",
"Formatting Question Types", "Error Codes"):

* every request carries ``Authorization: Bearer <access token>``; a refused token is HTTP 401
  (errors 1010-1013), missing scopes or plan 403 (1014-1016), an unknown survey 404 (1020),
  the body ``{"error": {"id", "name", "docs", "message", "http_status_code"}}``; too many
  requests 429 (retried by :class:`~.http.Http`, as are 5xx);
* ``GET {base}/v3/surveys/{id}/details``: the survey (``title``, ``date_modified``) with
  ``pages[].questions[]``: ``id``, ``headings[0].heading``, ``family`` / ``subtype``,
  ``answers.choices[]`` / ``answers.rows[]`` (``id``, ``text``) and ``answers.other``;
* ``GET {base}/v3/surveys/{id}/responses/bulk?per_page=100`` (100 is the documented maximum):
  ``{"data": [...], "per_page", "page", "total", "links": {"self", "next"}}``, read by
  following ``links.next`` until there is none. Each response: ``id``, ``collector_id``,
  ``date_created``, ``date_modified``, ``response_status``, ``ip_address``, ``custom_value``,
  ``custom_variables``, ``pages[].questions[].answers[]`` (``choice_id``, ``row_id``,
  ``other_id``, ``text``). The pages are sorted by ``date_modified`` ascending, so a response
  that changes during the fetch moves to the end (it is then kept once, as last seen)
  instead of being skipped.

The API gives JSON; the inbox holds the platform's own export. :func:`export_csv` writes
the survey as SurveyMonkey's "All responses data" CSV, expanded layout, the one
:func:`collab_stats.ingest.surveymonkey.read_surveymonkey` reads (see that module):

* metadata ``Respondent ID`` (the response id), ``Collector ID``, ``Start Date``
  (``date_created``), ``End Date`` (``date_modified``), ``IP Address``, ``Email Address``,
  ``First Name``, ``Last Name`` (from ``metadata.contact`` when the collector has them, else
  blank), ``Custom Data 1`` (``custom_value``), then one column per custom variable (named as
  the survey names it). Dates as the export writes them (``MM/DD/YYYY HH:MM:SS AM``), in
  UTC;
* per question, in the survey's order: the heading over the first column of its span;
  single choice: ``Response`` (choice text); multiple choice: one column per option holding
  its text when chosen; matrix (single, rating, ranking): one column per row holding the
  chosen choice's text; open-ended single/essay: ``Open-Ended Response``; open-ended multi,
  numerical, demographic and date/time: one column per row holding the text; a question
  with an "other" option or comment box adds ``Other (please specify)`` with its text.

What it cannot represent: matrix menus and multi-choice matrices (several answers per
row), file uploads, sliders' display details and presentation blocks are not written
(their headings are listed in the provenance, ``questions_not_written``); the response
status (completed, partial, overquota, disqualified) has no column in the export: every
response is written, as SurveyMonkey's own export does, and the provenance counts them by
status; headings are written as the API gives them (HTML included); dates are UTC, where
the web export uses the account's time zone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from collab_stats.ingest.surveymonkey import METADATA_HEADERS, OTHER_LABEL
from collab_stats.programme import Source

from .http import Http

if TYPE_CHECKING:
    from . import Fetched

__all__ = ["DEFAULT_BASE_URL", "PER_PAGE", "export_csv", "fetch"]

DEFAULT_BASE_URL = "https://api.surveymonkey.com"
#: Responses asked per page of the bulk endpoint (the documented maximum).
PER_PAGE = 100
#: How the export writes dates (``03/04/2024 09:15:00 AM``).
DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_MATRIX_SUBTYPES = frozenset({"single", "rating", "ranking"})
_TEXT_ROW_FAMILIES = frozenset({"demographic", "datetime"})
_STATUSES = ("completed", "partial", "overquota", "disqualified")


def fetch(source: Source, token: str, http: Http,
          progress: Callable[[str], None] | None = None) -> Fetched:
    """Fetch ``source``'s survey details and every response; return them as the CSV export.

    ``source.settings``: ``survey_id`` and optional ``base_url`` (default
    :data:`DEFAULT_BASE_URL`; EU accounts ``https://api.eu.surveymonkey.com``). Reports
    ``stage("fetch <name>", total=<pages>)`` once the first page gives the total, then calls
    ``progress`` after each page. Raises :class:`~.errors.FetchError` (one line, redacted).
    """
    from pipelines.progress import stage

    from . import Fetched  # at run time: the package imports this module

    survey_id = str(source.settings["survey_id"])
    base = str(source.settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    http.explain = {
        401: f"the access token was refused: check {_where_token(source)}",
        403: "the token's app lacks the scopes surveys_read and responses_read_detail "
             "(View Surveys, View Response Details), or the account's plan does not allow "
             "them",
        404: f"survey {survey_id} not found: check survey_id, and base_url for EU accounts "
             "(https://api.eu.surveymonkey.com)",
    }
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    survey = f"{base}/v3/surveys/{survey_id}"
    details = _json(http, http.request("GET", f"{survey}/details", headers=headers,
                                       what="reading the survey's details"),
                    "the survey's details")

    url: str | None = f"{survey}/responses/bulk"
    params: dict[str, Any] | None = {"per_page": PER_PAGE, "sort_by": "date_modified",
                                     "sort_order": "ASC"}
    seen_urls: set[str] = set()
    by_id: dict[str, dict] = {}
    pages = 0
    total = 0
    expected_pages: int | None = None
    while url is not None:
        if url in seen_urls:
            raise http.fail("reading the responses: the API's next page repeats a page "
                            "already read; try again later")
        seen_urls.add(url)
        _same_origin(http, base, url)
        pages += 1
        what = f"reading page {pages} of the responses"
        body = _json(http, http.request("GET", url, params=params, headers=headers, what=what),
                     f"page {pages} of the responses")
        params = None  # links.next carries the query
        data, total, url = _page(http, body, pages)
        if expected_pages is None:
            per_page = _count(body.get("per_page")) or PER_PAGE
            expected_pages = max(1, math.ceil(total / per_page))
            stage(f"fetch {source.name}", total=expected_pages)
        if pages > 2 * expected_pages + 10:
            raise http.fail("reading the responses: the API keeps giving next pages "
                            f"({pages} read for {total} responses); try again later")
        for response in data:
            if not isinstance(response, dict) or "id" not in response:
                raise http.fail(f"page {pages} of the responses holds an entry that is not a "
                                "response (no id)")
            by_id.pop(str(response["id"]), None)  # a response seen again: keep the last
            by_id[str(response["id"])] = response
        if progress is not None:
            progress(f"page {pages} of {max(expected_pages, pages)}: {len(by_id)} of {total} "
                     "responses")
    if len(by_id) != total:
        raise http.fail(f"the API said {total} responses but {len(by_id)} arrived (responses "
                        "deleted during the fetch?); fetch again")
    responses = list(by_id.values())
    try:
        content, skipped = _export(details, responses)
    except _Mismatch as exc:
        raise http.fail(str(exc)) from None
    statuses = {s: 0 for s in _STATUSES}
    for response in responses:
        status = str(response.get("response_status") or "unknown")
        statuses[status] = statuses.get(status, 0) + 1
    identifiers = {"survey_id": survey_id, "survey_date_modified": details.get("date_modified"),
                   "pages": pages, "total": total, "statuses": statuses}
    if skipped:
        identifiers["questions_not_written"] = skipped
    return Fetched(content=content, format="surveymonkey", identifiers=identifiers,
                   responses=total)


def export_csv(details: Mapping[str, Any], responses: Iterable[Mapping[str, Any]]) -> bytes:
    """A survey's details and responses (API v3 JSON) as SurveyMonkey's CSV export
    (expanded layout; UTF-8 with BOM, CRLF), as the module documentation describes.

    Raises ``ValueError`` when a response answers a choice, row or question the details do
    not list (the survey edited between the two requests)."""
    content, _ = _export(details, list(responses))
    return content


# --------------------------------------------------------------------------------------------
# the conversion


class _Mismatch(ValueError):
    """A response that does not fit the survey's details."""


class _Column:
    """One export column of a question: the second header and how to fill a cell."""

    __slots__ = ("label", "row", "choice", "other")

    def __init__(self, label: str, *, row: str | None = None, choice: str | None = None,
                 other: bool = False):
        self.label, self.row, self.choice, self.other = label, row, choice, other


def _export(details: Mapping[str, Any], responses: list[Mapping[str, Any]]):
    questions, skipped = _layout(details)
    listed = {str(q.get("id")) for p in details.get("pages") or []
              for q in p.get("questions") or []}
    custom = _custom_variable_names(details, responses)
    first: list[str] = [*METADATA_HEADERS, *custom]
    second: list[str] = [""] * len(first)
    for question in questions:
        for k, column in enumerate(question["columns"]):
            first.append(question["heading"] if k == 0 else "")
            second.append(column.label)
    rows = [first, second]
    for response in responses:
        rows.append(_metadata(response, custom) + _answers(response, questions, listed))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8-sig"), skipped


def _layout(details: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    """The questions written (heading, columns, choice texts), and those that cannot be."""
    written: list[dict] = []
    skipped: list[dict] = []
    for page in details.get("pages") or []:
        for question in page.get("questions") or []:
            family = str(question.get("family") or "")
            subtype = str(question.get("subtype") or "")
            headings = question.get("headings") or [{}]
            heading = str(headings[0].get("heading") or "").strip() or f"Question {question['id']}"
            answers = question.get("answers") or {}
            choices = {str(c["id"]): str(c.get("text") or "") for c in answers.get("choices") or []}
            rows = [(str(r["id"]), str(r.get("text") or "")) for r in answers.get("rows") or []]
            other = _other(answers.get("other"))
            columns: list[_Column]
            if family == "single_choice":
                columns = [_Column("Response")]
            elif family == "multiple_choice":
                columns = [_Column(text, choice=cid) for cid, text in choices.items()]
            elif family == "matrix" and subtype in _MATRIX_SUBTYPES and rows:
                columns = [_Column(text, row=rid) for rid, text in rows]
            elif family == "open_ended" and subtype in ("single", "essay", ""):
                columns = [_Column("Open-Ended Response")]
            elif (family == "open_ended" or family in _TEXT_ROW_FAMILIES) and rows:
                columns = [_Column(text, row=rid) for rid, text in rows]
            else:
                if family != "presentation":
                    skipped.append({"question_id": str(question.get("id")), "heading": heading,
                                    "type": f"{family}/{subtype}"})
                continue
            if other is not None:
                columns.append(_Column(OTHER_LABEL, other=True))
            written.append({"id": str(question["id"]), "heading": heading, "family": family,
                            "choices": choices, "rows": dict(rows), "other": other,
                            "columns": columns})
    return written, skipped


def _other(other: Any) -> str | None:
    """The id of a question's "other" option or comment box (an object in the details; a
    list in the create-question body), or None."""
    if isinstance(other, list):
        other = other[0] if other else None
    if isinstance(other, dict) and other.get("visible", True) is not False:
        return str(other.get("id", ""))
    return None


def _custom_variable_names(details: Mapping[str, Any],
                           responses: list[Mapping[str, Any]]) -> list[str]:
    declared = details.get("custom_variables") or {}
    names = list(declared) if isinstance(declared, (dict, list)) else []
    extra = sorted({str(n) for r in responses for n in (r.get("custom_variables") or {})}
                   - set(map(str, names)))
    return [str(n) for n in names] + extra


def _metadata(response: Mapping[str, Any], custom: list[str]) -> list[str]:
    contact = ((response.get("metadata") or {}).get("contact") or {})

    def contact_value(key: str) -> str:
        value = contact.get(key)
        return str(value.get("value") or "") if isinstance(value, dict) else str(value or "")

    variables = response.get("custom_variables") or {}
    return [str(response.get("id", "")), str(response.get("collector_id") or ""),
            _date(response.get("date_created")), _date(response.get("date_modified")),
            str(response.get("ip_address") or ""), contact_value("email"),
            contact_value("first_name"), contact_value("last_name"),
            str(response.get("custom_value") or ""),
            *(str(variables.get(name) or "") for name in custom)]


def _date(value: Any) -> str:
    """An API date (ISO 8601 with offset) as the export writes it, in UTC."""
    if not value:
        return ""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise _Mismatch(f"a response has the date {value!r}, not an ISO 8601 date") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.strftime(DATE_FORMAT)


def _answers(response: Mapping[str, Any], questions: list[dict],
             listed: set[str]) -> list[str]:
    given: dict[str, list[Mapping[str, Any]]] = {}
    for page in response.get("pages") or []:
        for question in page.get("questions") or []:
            given.setdefault(str(question.get("id")), []).extend(question.get("answers") or [])
    cells: list[str] = []
    for question in questions:
        cells += _cells(question, given.pop(question["id"], []), response)
    unknown = sorted(set(given) - listed)
    if unknown:
        raise _Mismatch(f"a response answers question {unknown[0]}, which the survey's details "
                        "do not list (was the survey edited during the fetch? fetch again)")
    return cells


def _cells(question: dict, answers: list[Mapping[str, Any]],
           response: Mapping[str, Any]) -> list[str]:
    columns: list[_Column] = question["columns"]
    cells = [""] * len(columns)
    index_row = {c.row: k for k, c in enumerate(columns) if c.row is not None}
    index_choice = {c.choice: k for k, c in enumerate(columns) if c.choice is not None}
    other_at = next((k for k, c in enumerate(columns) if c.other), None)
    for answer in answers:
        choice = _id(answer.get("choice_id"))
        row = _id(answer.get("row_id"))
        text = answer.get("text")
        if _id(answer.get("other_id")) is not None or (
                choice is None and row is None and text is not None and other_at is not None
                and question["family"] not in ("open_ended", *_TEXT_ROW_FAMILIES)):
            if other_at is None:
                raise _mismatch(question, response, "an 'other' answer the question does not "
                                "offer")
            cells[other_at] = str(text or "")
            continue
        if choice is not None and choice not in question["choices"]:
            raise _mismatch(question, response, f"choice {choice}, which the survey's details "
                            "do not list")
        if question["family"] == "multiple_choice":
            if choice is None:
                raise _mismatch(question, response, "an answer that names no option")
            cells[index_choice[choice]] = question["choices"][choice]
        elif row is not None:
            if row not in index_row:
                raise _mismatch(question, response, f"row {row}, which the survey's details "
                                "do not list")
            value = question["choices"][choice] if choice is not None else str(text or "")
            cells[index_row[row]] = value
        elif choice is not None:
            cells[0] = question["choices"][choice]
        else:
            cells[0] = str(text or "")
    return cells


def _id(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _mismatch(question: dict, response: Mapping[str, Any], what: str) -> _Mismatch:
    # never the response's id: the message may reach logs
    return _Mismatch(f"a response answers question {question['id']} ({question['heading'][:60]!r}) "
                     f"with {what} (was the survey edited during the fetch? fetch again)")


# --------------------------------------------------------------------------------------------
# the API's pages


def _json(http: Http, response, what: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise http.fail(f"{what}: the API's answer is not JSON (is base_url the API's "
                        "address, https://api.surveymonkey.com?)") from None
    if not isinstance(body, dict):
        raise http.fail(f"{what}: the API's answer is not a JSON object")
    return body


def _page(http: Http, body: dict, number: int) -> tuple[list, int, str | None]:
    data = body.get("data")
    total = _count(body.get("total"))
    if not isinstance(data, list) or total is None:
        raise http.fail(f"page {number} of the responses has no 'data' list or no 'total' "
                        "(not the bulk responses endpoint's answer)")
    links = body.get("links") if isinstance(body.get("links"), dict) else {}
    following = links.get("next")
    return data, total, str(following) if following else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _same_origin(http: Http, base: str, url: str) -> None:
    """The token goes only to the address the programme file names."""
    want, got = urlsplit(base), urlsplit(url)
    if (got.scheme, got.netloc) != (want.scheme, want.netloc):
        raise http.fail(f"the API's next page is on another host ({got.scheme}://{got.netloc}, "
                        f"not {want.scheme}://{want.netloc}); not sent the token there")


def _where_token(source: Source) -> str:
    return source.token.describe() if source.token is not None else "the source's token"
