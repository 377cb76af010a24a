"""A time and memory budget for tests that read hostile files (issue 14)."""

from __future__ import annotations

import contextlib
import time
import tracemalloc


@contextlib.contextmanager
def bounded(seconds: float = 3.0, megabytes: float = 100.0):
    """Fail when the block takes longer than ``seconds`` or allocates more than
    ``megabytes`` at its peak (as tracemalloc counts)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s (budget {seconds} s)"
    assert peak < megabytes * 2**20, f"allocated {peak / 2**20:.0f} MB (budget {megabytes} MB)"
