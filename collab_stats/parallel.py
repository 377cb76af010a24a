"""Independent pieces of an analysis, handed to a map-like callable.

A national programme's psychometrics and trends are many independent model fits (a factor
model per wave, a mixed model per collaboration and characteristic). The library does not
start processes or talk to clusters; a function that has such pieces takes ``workers``, a
map-like callable, as :func:`scipy.optimize.differential_evolution` does: ``workers(f,
iterable)`` returns ``f`` of each item, in order. Anything with that shape works:

* ``None`` (default): the pieces run one after another in this process;
* ``concurrent.futures.ProcessPoolExecutor(n).map``: ``n`` processes on this machine;
* a Dask cluster: ``lambda f, items: client.gather(client.map(f, list(items), pure=False))``.

Each piece is a picklable zero-argument callable (a :func:`functools.partial` of a
module-level function with its data), so it can travel to another process. The pieces are the
same computations in any order and on any worker, so the results do not depend on
``workers``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from .errors import ParameterError

__all__ = ["MapLike", "check_workers", "run_all", "split"]

T = TypeVar("T")
MapLike = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


def check_workers(workers: Any) -> MapLike | None:
    """``workers`` itself if it is None or callable; ParameterError otherwise."""
    if workers is not None and not callable(workers):
        raise ParameterError(
            "workers must be a map-like callable (e.g. map, or the map method of a "
            f"concurrent.futures executor) or None; got {type(workers).__name__}")
    return workers


def _call(job: Callable[[], T]) -> T:
    return job()


def run_all(jobs: Sequence[Callable[[], T]], workers: MapLike | None = None) -> list[T]:
    """Every job's result, in the order of ``jobs``, computed through ``workers`` (None: here,
    one after another)."""
    if workers is None or len(jobs) < 2:
        return [job() for job in jobs]
    return list(workers(_call, list(jobs)))


def split(n: int, size: int) -> list[range]:
    """``range(n)`` in consecutive pieces of at most ``size`` (at least one piece)."""
    if size < 1:
        raise ParameterError(f"size must be at least 1; got {size!r}")
    return [range(lo, min(lo + size, n)) for lo in range(0, n, size)] or [range(0)]
