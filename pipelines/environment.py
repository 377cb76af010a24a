"""The embedded default: Prefect runs on a temporary local server with a project-local home.

:func:`configure` must run before Prefect is imported. It only sets variables the user has not
set, so ``PREFECT_API_URL`` pointing at a real server (or any other Prefect setting) wins.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
}


def configure(workspace: str | Path) -> Path:
    """Point Prefect at ``<workspace>/.prefect`` (offline, quiet) unless already configured."""
    home = Path(workspace).resolve() / ".prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return Path(os.environ["PREFECT_HOME"])
