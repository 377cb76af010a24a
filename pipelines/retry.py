"""Retries with back-off, for input/output only.

A task that reads or writes files retries when the failure is an ``OSError`` (a busy network
share, a file still being copied into the inbox, a full disk freed a moment later), waiting
longer each time. A collab-stats error (a bad export, an invalid definition) or a bug is not
retried: trying again would fail the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IO_RETRIES", "retry_on_io"]


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed with an OSError."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


#: Task options for I/O: three retries after 1, 4 and 16 seconds, only on OSError.
IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [1, 4, 16],
    "retry_condition_fn": retry_on_io,
}
