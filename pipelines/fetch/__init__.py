"""Fetching a wave's responses from survey platforms' APIs, into the inbox.

A wave's ``sources`` in the programme file (:class:`collab_stats.programme.Source`) say where
its responses come from. For each fetched source (``redcap``, ``qualtrics``,
``surveymonkey``) :func:`fetch_source`

1. reads the API token from where the programme file says it is kept (an environment
   variable or a Prefect Secret block: :func:`resolve_token`); the token is never written
   anywhere and every message is redacted;
2. asks the platform's API for the wave's responses (the platform module: :mod:`.redcap`,
   :mod:`.qualtrics`, :mod:`.surveymonkey`), over :class:`.http.Http` (time-outs, retries on
   network errors and HTTP 429/5xx only, honouring ``Retry-After``);
3. writes what came back as the platform's own export file, after checking that it reads as
   one (:func:`deliver`): ``inbox/<wave>/<source name>.csv``, with beside it the REDCap data
   dictionary (``<name>.dictionary.csv``), the source's column mapping
   (``<name>.csv.mapping.yaml``) and the provenance (``<name>.csv.source.json``: the source,
   the time of the fetch, the API's own identifiers of the export, the SHA-256). The export
   is renamed into place last, so the inbox never holds half a fetch.

From there a fetched export is an export like a dropped one: the same reader, mapping,
quarantine, pseudonymisation and store; it is moved to ``inbox/processed/<wave>/`` with its
companions; the store records its provenance. The file name is the same at every fetch, so
fetching again after late responses replaces the wave's rows of that source atomically (a
corrected re-export), and fetching an unchanged survey stores nothing new (same SHA-256).

Nothing here imports Prefect except to read a Secret block: the flow is
:mod:`pipelines.fetch_flow`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collab_stats.errors import CollabStatsError
from collab_stats.programme import Programme, Source

from ..workspace import Workspace
from .errors import FetchError
from .http import Http, Redactor, RetryPolicy

__all__ = ["FetchError", "Fetched", "PLATFORMS", "deliver", "fetch_source", "fetched_path",
           "resolve_token", "where"]

Step = Callable[[str], None]
#: Suffix of the provenance file written beside a fetched export.
ORIGIN_SUFFIX = ".source.json"


@dataclass(frozen=True)
class Fetched:
    """What a platform module returns: the export as the platform writes it.

    ``content``: the export's bytes (a CSV); ``format``: what
    :func:`collab_stats.ingest.detect.detect_format` must find in it; ``dictionary``: a
    REDCap data dictionary (CSV bytes) fetched with it, if any; ``identifiers``: the API's
    own identifiers of this export (request, job, file ids...; never a credential);
    ``responses``: how many responses the API said it returned, if it said."""

    content: bytes
    format: str
    dictionary: bytes | None = None
    identifiers: dict[str, Any] = field(default_factory=dict)
    responses: int | None = None


def _platform(kind: str) -> Callable[..., Fetched]:
    """The ``fetch`` of the platform module of ``kind`` (one of :data:`PLATFORMS`)."""
    return importlib.import_module(f".{kind}", __package__).fetch


_NAMES = {"redcap": "REDCap", "qualtrics": "Qualtrics", "surveymonkey": "SurveyMonkey"}
#: The source types fetched from an API, each by its platform module's
#: ``fetch(source, token, http, progress) -> Fetched``.
PLATFORMS = tuple(_NAMES)


def where(wave: str, source: Source) -> str:
    """How messages name a source: ``"wave 2026-q1, source qualtrics-sv_1 (Qualtrics)"``."""
    return f"wave {wave}, source {source.name} ({_NAMES.get(source.type, source.type)})"


def resolve_token(source: Source, wave: str) -> str:
    """The API token of ``source``, from the environment variable or Prefect Secret block
    the programme file names. Raises :class:`FetchError` (naming where it looked, never a
    value) when it is not there."""
    label = where(wave, source)
    platform = _NAMES.get(source.type, source.type)
    credential = source.token
    if credential is None:
        raise FetchError(f"{label}: no token given in the programme file")
    if credential.env is not None:
        value = os.environ.get(credential.env, "").strip()
        if not value:
            raise FetchError(f"{label}: the environment variable {credential.env} is not set "
                             f"(it must hold the {platform} API token)")
        return value
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(credential.secret).get()
    except ValueError:
        raise FetchError(f"{label}: there is no Prefect Secret block named "
                         f"{credential.secret!r} (it must hold the {platform} API token; "
                         "see the README, 'Credentials')") from None
    except Exception as exc:  # the Prefect API unreachable, a damaged block...
        raise FetchError(f"{label}: cannot read the Prefect Secret block "
                         f"{credential.secret!r} ({type(exc).__name__})") from None
    if not isinstance(value, str) or not value.strip():
        raise FetchError(f"{label}: the Prefect Secret block {credential.secret!r} does not "
                         "hold a token (expected text)")
    return value.strip()


def fetched_path(ws: Workspace, wave: str, source: Source) -> Path:
    """Where a source's export is written: ``inbox/<wave>/<source name>.csv``."""
    return ws.inbox / wave / f"{source.name}.csv"


def fetch_source(ws: Workspace, programme: Programme, wave: str, source: Source, *,
                 progress: Step | None = None, policy: RetryPolicy | None = None) -> dict:
    """Fetch one source of ``wave`` into the inbox (see the module documentation).

    Returns a summary: ``wave``, ``source``, ``type``, ``file`` (the export written),
    ``responses``, ``identifiers``, ``waits`` (seconds waited between attempts) and
    ``fetched_at``. Raises :class:`FetchError`, one line, when nothing was written."""
    label = where(wave, source)
    if source.type not in PLATFORMS:
        raise FetchError(f"{label}: {source.type!r} is not a source that can be fetched "
                         f"(fetched: {', '.join(PLATFORMS)})")
    mapping = None
    if source.mapping is not None:
        mapping = (ws.programme_file.parent / source.mapping).resolve()
        if not mapping.is_file():
            raise FetchError(f"{label}: its mapping {source.mapping} is not a file (paths are "
                             f"relative to {ws.programme_file.name})")
    token = resolve_token(source, wave)
    redact = Redactor([token])
    fetched_at = dt.datetime.now(dt.UTC)
    try:
        with Http(label, redact, policy=policy or RetryPolicy.from_environment()) as http:
            fetched = _platform(source.type)(source, token, http, progress)
            waits = list(http.waits)
        path = deliver(ws, wave, source, fetched, mapping=mapping, fetched_at=fetched_at)
    except FetchError as exc:
        raise FetchError(redact(str(exc))) from None
    except CollabStatsError as exc:
        raise FetchError(redact(f"{label}: {exc}")) from None
    return {"wave": wave, "source": source.name, "type": source.type,
            "file": str(path.relative_to(ws.root)), "responses": fetched.responses,
            "identifiers": dict(fetched.identifiers), "waits": waits,
            "fetched_at": fetched_at.isoformat(timespec="seconds")}


def deliver(ws: Workspace, wave: str, source: Source, fetched: Fetched, *,
            mapping: Path | None = None, fetched_at: dt.datetime | None = None) -> Path:
    """Check that ``fetched`` reads as the platform's export, then put it in the inbox with
    its dictionary, mapping and provenance; returns the export's path.

    Everything is written in a private folder first (``.collab/fetching/``) and read back
    with the platform's reader; only then are the companions and, last, the export renamed
    into ``inbox/<wave>/``. A download that is not the expected format raises
    :class:`FetchError` and leaves the inbox as it was."""
    from collab_stats.ingest.detect import detect_format, read_export

    label = where(wave, source)
    target = fetched_path(ws, wave, source)
    staging = ws.root / ".collab" / "fetching" / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        # Each file is staged under its final name; the export is moved in last.
        export = staging / target.name
        export.write_bytes(fetched.content)
        dictionary = staging / f"{source.name}.dictionary.csv"
        if fetched.dictionary is not None:
            dictionary.write_bytes(fetched.dictionary)
        found = detect_format(export)
        if found != fetched.format:
            what = ("an HTML page: a sign-in or error page?" if fetched.content.lstrip()[:1]
                    == b"<" else f"it reads as {found}")
            raise FetchError(f"{label}: the download is not a {_NAMES[source.type]} export "
                             f"({what}); nothing was stored")
        options = {"dictionary": dictionary} if fetched.dictionary is not None else {}
        try:
            raw = read_export(export, format=fetched.format, **options)
        except CollabStatsError as exc:
            raise FetchError(f"{label}: the download cannot be read as a "
                             f"{_NAMES[source.type]} export ({_first_line(exc)}); nothing "
                             "was stored") from None
        if mapping is not None:
            shutil.copyfile(mapping, staging / f"{target.name}.mapping.yaml")
        origin = {
            "source": source.name, "type": source.type, "description": source.describe(),
            "collaboration": source.collaboration,
            "fetched_at": (fetched_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
            "identifiers": dict(fetched.identifiers), "responses": fetched.responses,
            "rows": len(raw.frame),
            "sha256": hashlib.sha256(fetched.content).hexdigest(),
        }
        (staging / f"{target.name}{ORIGIN_SUFFIX}").write_text(
            json.dumps(origin, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        for companion in staging.iterdir():
            if companion != export:
                os.replace(companion, target.parent / companion.name)
        os.replace(export, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_origin(export: Path) -> dict | None:
    """The provenance written beside a fetched export (``<file>.source.json``), or None for
    an export dropped by hand (or a provenance file that cannot be read)."""
    path = export.with_name(export.name + ORIGIN_SUFFIX)
    try:
        origin = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return origin if isinstance(origin, dict) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
