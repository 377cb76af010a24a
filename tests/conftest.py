"""Test-suite settings.

Hypothesis runs derandomised, so the examples are the same on every run and in CI: a property
test that passes once passes always, and a failure found while developing stays reproducible.
Set ``HYPOTHESIS_PROFILE=explore`` to search with fresh random examples instead.

Flow tests share one Prefect test server for the session: the ``prefect_harness`` fixture.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# A file a test writes into an inbox is complete at once: no wait for it to settle (the wait
# for files still being copied in is tested in test_scheduling.py, which sets its own). Set
# here, so the processes the tests start inherit it.
os.environ.setdefault("COLLAB_INBOX_SETTLE_SECONDS", "0")


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One Prefect test server (a temporary SQLite database) for every flow test of the
    session (tests marked ``prefect``), given up to 120 s to start.

    Persisted task results (the analysis cache) go to a temporary folder instead of
    ``~/.prefect/storage``, so that a cache filled by an earlier session can never answer a
    test; the server sends no analytics (the suite runs offline)."""
    from prefect.settings import (
        PREFECT_LOCAL_STORAGE_PATH,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    storage = tmp_path_factory.mktemp("prefect-results")
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage,
                                     PREFECT_SERVER_ANALYTICS_ENABLED: False}):
        # a loaded CI machine can take longer than Prefect's 30 s to start the server
        with prefect_test_harness(server_startup_timeout=120):
            yield


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver's test servers (the survey platforms' APIs in the fetch tests)
    listen on the loopback address only, on a free port."""
    return ("127.0.0.1", 0)
