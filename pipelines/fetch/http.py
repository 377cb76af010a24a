"""HTTP for fetching exports: one client, time-outs, retries with back-off, clean errors.

Every platform module (:mod:`.qualtrics`, :mod:`.redcap`, :mod:`.surveymonkey`) talks to its
API through :class:`Http`, which wraps an :class:`httpx.Client` and adds what a scheduled run
needs, the same way for every platform:

* **Time-outs** on connecting and on each read (:data:`TIMEOUT_SETTING`, 60 s by default).
* **Retries only where another try can help**: a network error (connection refused or reset,
  a time-out, a body cut short) or HTTP 429 / 5xx. Up to :data:`ATTEMPTS_SETTING` attempts
  (5 by default), waiting as the server's ``Retry-After`` asks (seconds or an HTTP date; at
  most :data:`MAX_RETRY_AFTER` s, beyond which the fetch fails saying so), else exponentially
  longer (1, 2, 4, 8 s... with jitter, :data:`BACKOFF_SETTING` scales it). Retrying is
  `tenacity <https://tenacity.readthedocs.io>`_'s; only the policy is ours.
* **No retry on 4xx** (400, 401, 403, 404...): the same request would fail the same way. The
  error is one line naming the wave, the source and what to check
  (:class:`~pipelines.fetch.errors.FetchError`), with the API's own error message when it
  gives one.
* **Credentials never leak**: every message passes through a redactor that replaces each
  credential (and its URL-encoded form) with ``***``; httpx's exceptions, which can quote a
  request, are never shown as they are. Redirects are not followed unless a request asks
  (``follow_redirects=True``): httpx would send a custom credential header such as
  Qualtrics' ``X-API-TOKEN`` on to wherever a redirect points.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import tenacity

from .errors import FetchError

__all__ = ["ATTEMPTS_SETTING", "BACKOFF_SETTING", "MAX_RETRY_AFTER", "TIMEOUT_SETTING", "Http",
           "Redactor", "RetryPolicy", "setting"]

TIMEOUT_SETTING = "COLLAB_FETCH_TIMEOUT_SECONDS"
ATTEMPTS_SETTING = "COLLAB_FETCH_ATTEMPTS"
BACKOFF_SETTING = "COLLAB_FETCH_BACKOFF_SECONDS"
#: A ``Retry-After`` longer than this (seconds) fails the fetch instead of waiting.
MAX_RETRY_AFTER = 300.0
#: Statuses worth another try: too many requests, and server-side errors.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_USER_AGENT = "collab-stats (survey export fetch)"


def setting(name: str, default: float, *, minimum: float) -> float:
    """The number in the environment variable ``name`` (``default`` when unset); a
    :class:`FetchError` naming it when it is not a number of at least ``minimum``."""
    from ..workspace import number_setting

    return number_setting(name, default, minimum=minimum,
                          what=f"a number of at least {minimum:g}", error=FetchError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``attempts`` in all, waits ``backoff * 2**k`` (with
    up to 50% jitter, at most ``max_wait``) unless the server says ``Retry-After``."""

    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    timeout: float = 60.0

    @classmethod
    def from_environment(cls) -> RetryPolicy:
        """The policy with the ``COLLAB_FETCH_*`` settings applied."""
        return cls(attempts=int(setting(ATTEMPTS_SETTING, 5, minimum=1)),
                   backoff=setting(BACKOFF_SETTING, 1.0, minimum=0),
                   timeout=setting(TIMEOUT_SETTING, 60.0, minimum=0.1))


class Redactor:
    """Replaces secrets (and their URL-encoded forms) with ``***`` in any text."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if not secret:
            return
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form and form not in self._secrets:
                self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _Retry(Exception):
    """An attempt worth repeating: ``why`` in words, ``wait`` what the server asked (s)."""

    def __init__(self, why: str, wait: float | None = None):
        super().__init__(why)
        self.why = why
        self.wait = wait


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (``Retry-After``: seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Http:
    """The HTTP client of one source's fetch (see the module documentation).

    ``where`` starts every error message (e.g. ``"wave 2026-q1, source qualtrics-sv_1"``);
    ``explain`` maps an HTTP status to what to check (the platform's words: "the API token
    is not valid: check the environment variable QUALTRICS_TOKEN"); ``redact`` hides the
    credentials. ``waits`` records each wait between attempts (seconds), for the caller's
    summary and the tests. Use as a context manager (closes the connection pool)."""

    where: str
    redact: Redactor = field(default_factory=Redactor)
    explain: Mapping[int, str] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy.from_environment)
    sleep: Callable[[float], None] = time.sleep
    waits: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout, connect=min(self.policy.timeout, 15.0)),
            headers={"User-Agent": _USER_AGENT}, follow_redirects=False)

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def fail(self, message: str) -> FetchError:
        """A :class:`FetchError` saying ``message`` about this source, redacted, one line."""
        text = " ".join(self.redact(f"{self.where}: {message}").split())
        return FetchError(text)

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying as the module documentation says; return a 2xx response
        with its body read whole. ``what`` names the request in messages ("starting the
        export job"). Raises :class:`FetchError` (one line, redacted) otherwise, also for a
        redirect, unless the caller passes ``follow_redirects`` itself (then a redirect
        not followed is returned, for the caller to handle)."""
        policy = self.policy

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = getattr(exc, "wait", None)
            if asked is not None:
                if asked > MAX_RETRY_AFTER:
                    raise self.fail(f"{what}: the server asks to wait {asked:.0f} s before "
                                    f"trying again (more than {MAX_RETRY_AFTER:.0f} s); run "
                                    "the fetch again later")
                seconds = asked
            else:
                base = policy.backoff * 2 ** (state.attempt_number - 1)
                seconds = min(policy.max_wait, base * (1 + random.random() / 2))
            self.waits.append(seconds)
            return seconds

        def give_up(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            raise self.fail(f"{what} failed {state.attempt_number} times ({exc}); the "
                            "service may be down or the network unreachable: try again later")

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(policy.attempts), wait=wait,
            sleep=self.sleep, retry_error_callback=give_up, reraise=False)
        return retrying(self._once, method, url, what, kwargs)

    def _once(self, method: str, url: str, what: str, kwargs: dict) -> httpx.Response:
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {self.policy.timeout:g} s") from None
        except httpx.RemoteProtocolError:
            raise _Retry("the connection closed before the whole answer arrived "
                         "(a download cut short)") from None
        except httpx.TransportError as exc:
            raise _Retry(f"network error: {type(exc).__name__}") from None
        except httpx.DecodingError:
            raise _Retry("the answer could not be decoded (damaged in transit?)") from None
        except httpx.TooManyRedirects:
            raise self.fail(f"{what}: too many redirects: check the source's address in "
                            "the programme file") from None
        except httpx.InvalidURL:
            raise self.fail(f"{what}: the address is not valid: check the source's URL "
                            "in the programme file") from None
        except httpx.HTTPError as exc:
            raise self.fail(f"{what}: {type(exc).__name__}") from None
        status = response.status_code
        if response.is_redirect and "follow_redirects" not in kwargs:
            target = response.headers.get("location", "")[:120]
            raise self.fail(f"{what}: HTTP {status}, redirected to {target}: check the "
                            "source's address in the programme file (not followed, so the "
                            "credential was not sent on)")
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status}", retry_after(response))
        if status >= 400:
            check = self.explain.get(status) or _GENERIC.get(status, "")
            said = _api_message(response)
            raise self.fail(f"{what}: HTTP {status}{f' ({said})' if said else ''}"
                            f"{f'; {check}' if check else ''}")
        return response


_GENERIC = {
    400: "the request was refused as malformed: check the source's settings",
    401: "the credential was refused: check the API token",
    403: "the token has no permission for this: check its rights on the platform",
    404: "not found: check the survey or project id and the address",
}


def _api_message(response: httpx.Response, limit: int = 200) -> str:
    """The API's own error message from a JSON or text body (shortened, one line)."""
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        error = body.get("error") or meta.get("error") or {}
        if isinstance(error, dict):
            text = str(error.get("errorMessage") or error.get("message") or "")
        elif isinstance(error, str):
            text = error
    if not text and body is None:
        content_type = response.headers.get("content-type", "")
        if "html" not in content_type:
            text = response.text
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
