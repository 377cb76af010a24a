"""The embedded default: Prefect runs on a temporary local server with a project-local home.

:func:`configure` must run before Prefect is imported. It only sets variables the user has not
set, so ``PREFECT_API_URL`` pointing at a real server (or any other Prefect setting) wins.

The temporary server gets :data:`STARTUP_TIMEOUT_SECONDS` (90 s) to start instead of Prefect's
20 s, which a busy machine can miss; a value of ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``
in the environment wins. :func:`start_embedded_server` starts it before a command's first flow
and tries once more when it does not answer in time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from collab_stats.errors import CollabStatsError

__all__ = ["DEFAULTS", "STARTUP_TIMEOUT_SECONDS", "STARTUP_TIMEOUT_VARIABLE", "configure",
           "start_embedded_server"]

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

#: How Prefect's RuntimeError starts when the temporary server does not answer in time.
_TIMED_OUT = "Timed out while attempting to connect to ephemeral Prefect API server"


def configure(workspace: str | Path) -> Path:
    """Point Prefect at ``<workspace>/.prefect`` (offline, quiet, a generous start-up timeout
    for the temporary server) unless already configured."""
    home = Path(workspace).resolve() / ".prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return Path(os.environ["PREFECT_HOME"])


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
