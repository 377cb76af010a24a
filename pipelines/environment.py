"""The embedded default: Prefect runs on a temporary local server with a project-local home.

:func:`configure` must run before Prefect is imported. It only sets variables the user has not
set, so ``PREFECT_API_URL`` pointing at a real server (or any other Prefect setting) wins.

**One server per database.** ``collab serve`` runs a Prefect server on the workspace's
database (``.prefect/prefect.db``). A command run meanwhile (``collab status``, ``run``,
``report``) must not start a second, temporary server on the same SQLite database (two
servers writing one SQLite file lock each other out): :func:`running_server` finds a server
answering on this machine for the same Prefect home, and :func:`configure` (with
``find_server=True``) points ``PREFECT_API_URL`` at it. It looks where ``collab serve``
starts its server: the address in the home's ``server.log`` (the port of the last start), and
port 4200 (``collab serve``'s default); a server is used only when ``GET /api/health``
answers within a second and the server's own settings (``GET /api/admin/settings``) name
the same Prefect home.

The temporary server gets :data:`STARTUP_TIMEOUT_SECONDS` (90 s) to start instead of Prefect's
20 s, which a busy machine can miss; a value of ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
in the environment wins. :func:`start_embedded_server` starts it before a command's first flow
and tries once more when it does not answer in time.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from collab_stats.errors import CollabStatsError

__all__ = ["DEFAULTS", "SERVE_DEFAULT_PORT", "STARTUP_TIMEOUT_SECONDS",
           "STARTUP_TIMEOUT_VARIABLE", "configure", "running_server", "start_embedded_server"]

#: The Prefect setting: how long a command waits for the temporary local server to start.
STARTUP_TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
#: Our default for it, in seconds (Prefect's own is 20).
STARTUP_TIMEOUT_SECONDS = 90

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    STARTUP_TIMEOUT_VARIABLE: str(STARTUP_TIMEOUT_SECONDS),
}

#: The port ``collab serve`` starts its Prefect server on unless given ``--port``.
SERVE_DEFAULT_PORT = 4200

#: How Prefect's RuntimeError starts when the temporary server does not answer in time.
_TIMED_OUT = "Timed out while attempting to connect to ephemeral Prefect API server"

#: The API address Prefect's server prints when it starts (``prefect config set ...``).
_LOGGED_API_URL = re.compile(r"PREFECT_API_URL=(http://(?:127\.0\.0\.1|localhost):\d+/api)")


def configure(workspace: str | Path, *, create: bool = True, find_server: bool = False) -> Path:
    """Point Prefect at ``<workspace>/.prefect`` (offline, quiet, a generous start-up timeout
    for the temporary server) unless already configured; the Prefect home in use.

    ``create``: make the home folder when missing (False for a command that only reads, so
    that it writes nothing in the workspace). ``find_server``: when ``PREFECT_API_URL`` is
    not set and a server on this machine already uses this home (``collab serve``), set
    ``PREFECT_API_URL`` to it (:func:`running_server`), so that no second server is started
    on the same database."""
    os.environ.setdefault("PREFECT_HOME", str(Path(workspace).resolve() / ".prefect"))
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    home = Path(os.environ["PREFECT_HOME"])
    if create:
        home.mkdir(parents=True, exist_ok=True)
    if find_server and not os.environ.get("PREFECT_API_URL"):
        url = running_server(home)
        if url is not None:
            os.environ["PREFECT_API_URL"] = url
    return home


def running_server(home: str | Path, ports: tuple[int, ...] = (SERVE_DEFAULT_PORT,),
                   timeout: float = 1.0) -> str | None:
    """The API URL (``http://127.0.0.1:PORT/api``) of a Prefect server answering on this
    machine whose Prefect home is ``home`` (so: whose database is that home's), or None.

    Tries the address in ``home/server.log`` (where ``collab serve`` logs its server; the
    last start wins), then ``ports`` on 127.0.0.1. Reads nothing but that log's end and two
    HTTP answers; each probe gives up after ``timeout`` seconds."""
    home = Path(home)
    candidates = [*_logged_api_urls(home / "server.log"),
                  *(f"http://127.0.0.1:{port}/api" for port in ports)]
    for url in dict.fromkeys(candidates):
        if _serves_home(url, home, timeout):
            return url
    return None


def _logged_api_urls(log: Path, tail: int = 65536) -> list[str]:
    """API addresses in the end of a server log, the latest first."""
    try:
        with open(log, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - tail))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return list(reversed(_LOGGED_API_URL.findall(text)))


def _get_json(url: str, timeout: float) -> object:
    """The JSON answer of a GET on this machine (never through an HTTP proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        if response.status != 200:
            return None
        return json.loads(response.read().decode("utf-8"))


def _serves_home(api_url: str, home: Path, timeout: float) -> bool:
    """True when the server at ``api_url`` is healthy and runs with Prefect home ``home``."""
    try:
        if _get_json(f"{api_url}/health", timeout) is not True:
            return False
        settings = _get_json(f"{api_url}/admin/settings", timeout)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    served = settings.get("home") if isinstance(settings, dict) else None
    if not isinstance(served, str):
        return False
    try:
        return Path(served).resolve() == home.resolve()
    except (OSError, ValueError):
        return False


def start_embedded_server(*, say: Callable[[str], None]) -> None:
    """Start Prefect's temporary local server now, unless Prefect uses a server of its own
    (``PREFECT_API_URL``) or has no temporary one; the flows that follow use it.

    When it does not answer within the start-up timeout, ``say`` is told (one line) and it is
    started once more; a second time-out is a :class:`CollabStatsError` saying how to wait
    longer. Call it after :func:`configure`."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    )

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    seconds = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    for attempt in (1, 2):
        server = SubprocessASGIServer()
        try:
            server.start()
            return
        except RuntimeError as exc:
            if not str(exc).startswith(_TIMED_OUT):
                raise
            server.stop()  # the slow process, and the instance, so a new one starts afresh
        if attempt == 1:
            say(f"the local Prefect server did not start within {seconds} s; retrying once "
                f"(set {STARTUP_TIMEOUT_VARIABLE} to wait longer)")
    raise CollabStatsError(
        f"the local Prefect server did not start within {seconds} s, twice (is the machine "
        f"busy?): set {STARTUP_TIMEOUT_VARIABLE} to wait longer, e.g. "
        f"{STARTUP_TIMEOUT_VARIABLE}=300, or point PREFECT_API_URL at a running server")
