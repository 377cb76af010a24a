"""Progress of long work: a hook between the flows and whoever shows it (the ``collab`` CLI).

Flows and tasks report *stages* (:func:`stage`, e.g. ``stage("reliability 2025-03")``) and
*steps* (:func:`current` returns a callable to pass on, e.g. as ``build_site``'s
``progress``, called with a short message after each report). Nobody listens by default, so
both are no-ops and a flow runs the same under a deployment, in tests and in the CLI.

The listener is process-wide, not per thread, because Prefect may run a task in a worker
thread; work sent to other processes (Dask workers, a process pool) is not reported.

:func:`terminal_progress` is the CLI's listener: a spinner naming the current stage and, once
steps arrive, a bar over them, drawn with ``rich`` on stderr and removed when done. It shows
nothing when stderr is not a terminal, so logs and tests stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

__all__ = ["Listener", "current", "listening", "stage", "terminal_progress"]

Step = Callable[[str], None]


class Listener(Protocol):
    """What receives progress: the start of a stage and each step of the current one."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def step(self, message: str) -> None: ...


_listener: Listener | None = None


@contextmanager
def listening(listener: Listener | None) -> Iterator[Listener | None]:
    """Send progress to ``listener`` inside the block (None: to nobody)."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield listener
    finally:
        _listener = previous


def stage(name: str, *, total: int | None = None) -> None:
    """A stage of the work starts (``total``: how many steps it has, when known)."""
    listener = _listener
    if listener is not None:
        listener.stage(name, total)


def current() -> Step | None:
    """The callable that reports one step of the current stage, or None when nobody listens
    (pass it on as is: the callee treats None as "no progress")."""
    listener = _listener
    return None if listener is None else listener.step


class _RichListener:
    """A spinner for the current stage; a bar once steps arrive (rich.progress)."""

    def __init__(self, progress, description: str, expected: dict[str, int]):
        self._progress = progress
        self._expected = dict(expected)
        self._task = progress.add_task(description, total=None)
        self._stepping: str | None = None

    def stage(self, name: str, total: int | None = None) -> None:
        if total is None:
            total = self._expected.get(name.split()[0])
        self._stepping = name if total is not None else None
        self._progress.reset(self._task, total=total, completed=0, description=name)

    def step(self, message: str) -> None:
        if self._stepping is None:
            # Steps without a stage announced: the stage named in ``expected`` as "steps".
            self.stage("reports", self._expected.get("reports"))
        self._progress.update(self._task, advance=1,
                              description=f"{self._stepping} ({message} done)")


@contextmanager
def terminal_progress(description: str, *, expected: dict[str, int] | None = None,
                      stream: TextIO | None = None) -> Iterator[_RichListener | None]:
    """Show progress on ``stream`` (stderr) while the block runs, if it is a terminal.

    ``description`` names the work until a stage is announced; ``expected`` gives the number
    of steps of stages that do not announce one (keyed on the stage's first word, e.g.
    ``{"reports": 42}``). Yields the listener (None when nothing is shown)."""
    stream = sys.stderr if stream is None else stream
    if not _is_terminal(stream):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(file=stream)
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                   transient=True)
    with bar:
        listener = _RichListener(bar, description, expected or {})
        with listening(listener):
            yield listener


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
