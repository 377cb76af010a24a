"""Fetching a Qualtrics survey's responses: the export-responses job of the API v3.

The contract followed is Qualtrics' documented three-step response export (API reference,
"Survey Response Import/Export API": *Start Response Export*
https://api.qualtrics.com/6b00592b9c013-start-response-export, *Get Response Export
Progress* https://api.qualtrics.com/37e6a66f74ab4-get-response-export-progress and *Get
Response Export File*), authenticated by the ``X-API-TOKEN`` header on every call:

1. ``POST {base_url}/API/v3/surveys/{surveyId}/export-responses`` with the JSON body
   ``{"format": "csv", "compress": true, "useLabels": false}`` (the documented defaults
   written out: numeric answer codes, the three-header-row CSV that
   :func:`collab_stats.ingest.qualtrics.read_qualtrics` reads, zipped). The answer's
   ``result.progressId`` names the job; ``meta.requestId`` names the request.
2. ``GET .../export-responses/{progressId}`` every :data:`POLL_SETTING` seconds until
   ``result.status`` is ``complete`` (which gives ``result.fileId``) or ``failed``. As the
   documentation says, ``percentComplete`` is only a convenience (it feeds the progress
   bar); the file exists once the status says ``complete``. A job still running after
   :data:`JOB_TIMEOUT_SETTING` seconds fails the fetch.
3. ``GET .../export-responses/{fileId}/file``: a ZIP archive holding the export, one CSV,
   whose bytes are returned unchanged.

The JSON calls follow no redirect (one means base_url is not the data centre's https
address; following it would send the token on), and the download sends the token only to
the data centre's own origin: httpx, told to follow redirects, would forward the
``X-API-TOKEN`` header to any address (it drops only ``Authorization`` across origins).

Retries (network errors, HTTP 429 with ``Retry-After``, 5xx) and one-line errors are
:class:`~pipelines.fetch.http.Http`'s; this module says what each refusal means for
Qualtrics (``http.explain``, per step) and checks what the API answers: a job that failed,
an answer that is not the documented JSON, a ZIP damaged or cut short, or one without
exactly one CSV, each raise :class:`~pipelines.fetch.errors.FetchError` and nothing is
written. The token only ever travels in the request header; the identifiers kept for the
provenance are the start call's ``requestId``, the job's ``progressId`` and the
``fileId``.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from collab_stats.programme import Source
from pipelines.progress import stage

from . import Fetched
from .http import Http, setting

__all__ = ["JOB_TIMEOUT_SETTING", "POLL_SETTING", "export_csv", "fetch"]

#: Seconds between two questions about the export job's progress (default 2).
POLL_SETTING = "COLLAB_FETCH_POLL_SECONDS"
#: Seconds the export job may take before the fetch gives up (default 1800).
JOB_TIMEOUT_SETTING = "COLLAB_FETCH_JOB_TIMEOUT_SECONDS"
#: The body of the start call: CSV, zipped, answers as numeric codes (not labels).
EXPORT_BODY: Mapping[str, Any] = {"format": "csv", "compress": True, "useLabels": False}
#: Header rows of a Qualtrics CSV export (names, question texts, ImportIds).
HEADER_ROWS = 3
#: Redirects followed when downloading the export file (none for the JSON calls).
MAX_REDIRECTS = 3

Step = Callable[[str], None]


def fetch(source: Source, token: str, http: Http, progress: Step | None = None) -> Fetched:
    """Export ``source``'s responses with Qualtrics' export-responses job (see the module
    documentation) and return the CSV as Qualtrics wrote it.

    ``source.settings`` holds ``base_url`` (the data centre, ``https://fra1.qualtrics.com``)
    and ``survey_id`` (``SV_...``); ``token`` is the API token (sent only as the
    ``X-API-TOKEN`` header); ``progress`` is called once per percent of the job done (the
    stage ``fetch <source name>`` of 100 steps). Raises :class:`FetchError` (one line)."""
    base_url = str(source.settings["base_url"]).rstrip("/")
    survey_id = str(source.settings["survey_id"])
    poll_seconds = setting(POLL_SETTING, 2.0, minimum=0)
    job_seconds = setting(JOB_TIMEOUT_SETTING, 1800.0, minimum=0)
    exports = f"{base_url}/API/v3/surveys/{quote(survey_id, safe='')}/export-responses"
    headers = {"X-API-TOKEN": token, "Accept": "application/json"}
    refused = (f"the API token was refused: check {_token_place(source)} (and that base_url "
               f"{base_url} is the data centre of the token's account)")
    forbidden = ("the token's user may not export this survey's responses: check that the "
                 "user has the API permission and access to survey " + survey_id)

    stage(f"fetch {source.name}", total=100)

    # 1. Start the job.
    http.explain = {401: refused, 403: forbidden,
                    404: f"survey {survey_id} not found at {base_url}: check survey_id and "
                         "base_url (the data centre of the survey's account)"}
    started = _request(http, "POST", exports, what="starting the Qualtrics export job",
                       headers=headers, json=dict(EXPORT_BODY))
    result, meta = _answer(http, started, "starting the export job")
    progress_id = result.get("progressId")
    if not isinstance(progress_id, str) or not progress_id:
        raise http.fail("Qualtrics started no export job (its answer has no progressId); "
                        "run the fetch again")
    identifiers: dict[str, Any] = {"requestId": meta.get("requestId"), "progressId": progress_id}

    # 2. Wait for it.
    http.explain = {401: refused, 403: forbidden,
                    404: f"Qualtrics no longer knows the export job {progress_id}: run the "
                         "fetch again"}
    file_id = _wait_for_job(http, f"{exports}/{quote(progress_id, safe='')}", headers,
                            progress_id, progress, poll_seconds=poll_seconds,
                            job_seconds=job_seconds)
    identifiers["fileId"] = file_id

    # 3. Download the file.
    http.explain = {401: refused, 403: forbidden,
                    404: f"the export file {file_id} of job {progress_id} was not found "
                         "(export files expire): run the fetch again"}
    download = _download(http, f"{exports}/{quote(file_id, safe='')}/file", token)
    content = export_csv(download.content, fail=http.fail)
    return Fetched(content=content, format="qualtrics", identifiers=identifiers,
                   responses=_count_responses(content))


def export_csv(archive: bytes, *, fail: Callable[[str], Exception]) -> bytes:
    """The one CSV inside the ZIP archive Qualtrics serves, as bytes.

    Raises ``fail(message)`` when the archive is damaged or cut short, or does not hold
    exactly one CSV file."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            names = [i.filename for i in bundle.infolist() if not i.is_dir()]
            csvs = [n for n in names if n.lower().endswith(".csv")]
            if len(csvs) != 1:
                raise fail(f"the export file holds {len(csvs)} CSV files (expected one: "
                           f"{', '.join(names) or 'it is empty'}); nothing was stored")
            return bundle.read(csvs[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise fail(f"the export file is not a complete ZIP archive ({_short(exc)}; "
                   f"{len(archive)} bytes received): the download was damaged or cut short; "
                   "nothing was stored, run the fetch again") from None


def _wait_for_job(http: Http, url: str, headers: Mapping[str, str], progress_id: str,
                  progress: Step | None, *, poll_seconds: float, job_seconds: float) -> str:
    """Ask about the job until it is complete; its ``fileId``."""
    deadline = time.monotonic() + job_seconds
    reported = 0
    while True:
        answer = _request(http, "GET", url, what="asking the Qualtrics export job's progress",
                          headers=headers)
        result, meta = _answer(http, answer, "asking the export job's progress")
        status = result.get("status")
        percent = _percent(result.get("percentComplete"))
        if progress is not None and percent is not None:
            while reported < min(int(percent), 100):
                reported += 1
                progress(f"{reported}%")
        if status == "complete":
            file_id = result.get("fileId")
            if not isinstance(file_id, str) or not file_id:
                raise http.fail(f"the export job {progress_id} is complete but Qualtrics gave "
                                "no fileId; run the fetch again")
            if progress is not None:
                while reported < 100:
                    reported += 1
                    progress(f"{reported}%")
            return file_id
        if status == "failed":
            said = _error_message(meta)
            request = meta.get("requestId")
            raise http.fail(f"the Qualtrics export job {progress_id} failed"
                            f"{f' ({said})' if said else ''}; run the fetch again, and if it "
                            "fails again give Qualtrics support the job id"
                            f"{f' and request id {request}' if request else ''}")
        if status != "inProgress":
            raise http.fail(f"the Qualtrics export job {progress_id} has the status "
                            f"{status!r} (expected inProgress, complete or failed)")
        if time.monotonic() + poll_seconds > deadline:
            done = f" ({percent:g}% done)" if percent is not None else ""
            raise http.fail(f"the Qualtrics export job {progress_id} was not complete after "
                            f"{job_seconds:g} s{done}; try again later, or allow it longer "
                            f"with {JOB_TIMEOUT_SETTING}")
        http.sleep(poll_seconds)


def _request(http: Http, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
    """``http.request`` without following redirects: the JSON calls are answered by the data
    centre itself, and httpx would send the ``X-API-TOKEN`` header on to any other address
    (it drops only ``Authorization`` across origins)."""
    response = http.request(method, url, what=what, follow_redirects=False, **kwargs)
    if response.is_redirect:
        target = response.headers.get("location", "")[:120]
        raise http.fail(f"{what}: HTTP {response.status_code}, redirected to {target}: check "
                        "base_url, which must be the data centre's https address, e.g. "
                        "https://fra1.qualtrics.com (the token was not sent on)")
    return response


def _download(http: Http, url: str, token: str) -> httpx.Response:
    """The export file, following up to :data:`MAX_REDIRECTS` redirects; the token is sent
    only to the data centre's own origin, never on to another address (e.g. a storage
    service's signed link)."""
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        ours = _origin(url) == origin
        response = http.request("GET", url, what="downloading the Qualtrics export file",
                                headers={"X-API-TOKEN": token} if ours else {},
                                follow_redirects=False)
        if not response.is_redirect:
            return response
        url = str(response.url.join(response.headers.get("location", "")))
    raise http.fail(f"downloading the Qualtrics export file: more than {MAX_REDIRECTS} "
                    "redirects; run the fetch again")


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _answer(http: Http, response: httpx.Response, what: str) -> tuple[dict, dict]:
    """``result`` and ``meta`` of a Qualtrics JSON answer."""
    try:
        body = response.json()
    except ValueError:
        body = None
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        kind = response.headers.get("content-type", "no content type")
        raise http.fail(f"{what}: Qualtrics' answer is not the documented JSON with a "
                        f"result ({kind}): check base_url, which must be the data centre "
                        "address, e.g. https://fra1.qualtrics.com")
    meta = body.get("meta")
    return result, meta if isinstance(meta, dict) else {}


def _percent(value: Any) -> float | None:
    try:
        percent = float(value)
    except (TypeError, ValueError):
        return None
    return percent if 0 <= percent <= 100 else None


def _error_message(meta: Mapping[str, Any]) -> str:
    error = meta.get("error")
    if not isinstance(error, dict):
        return ""
    parts = [str(error[k]) for k in ("errorCode", "errorMessage") if error.get(k)]
    return " ".join(": ".join(parts).split())[:200]


def _count_responses(content: bytes) -> int | None:
    """Data rows of a three-header-row Qualtrics CSV (None when it is not one)."""
    try:
        text = content.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text, newline=""))
                if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < HEADER_ROWS or not rows[2] or not rows[2][0].lstrip().startswith("{"):
        return None
    return len(rows) - HEADER_ROWS


def _token_place(source: Source) -> str:
    return source.token.describe() if source.token is not None else "the source's token"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:120] if text else type(exc).__name__
