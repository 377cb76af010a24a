"""Helpers for the tests that start real server processes: wait for health, stop by group."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request


def healthy(url: str) -> bool:
    """Whether a Prefect server at ``url`` answers its health check (no proxy: loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own group: SIGTERM, then SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
