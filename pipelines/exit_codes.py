"""How every ``collab`` command ends: its exit status, and the one line it prints on an error.

One scheme for every command, defined here and nowhere else:

====  ===============  ==================================================================
code  name             meaning
====  ===============  ==================================================================
0     OK               done. Quarantined rows are a normal outcome: they are counted in
                       the output, not an error.
1     EXPORTS_FAILED   done, but one or more exports could not be ingested (``collab run``
                       and ``collab demo`` move each to ``inbox/failed/<wave>/`` with the
                       reason beside it); everything else was ingested, analysed and
                       reported.
2     ERROR            not done: a problem the user must fix. Bad input (a file, mapping,
                       programme, instrument, workspace or argument; an export whose
                       columns match the instrument too unsurely to ingest without a
                       checked mapping) or the machine (a folder that cannot be written,
                       a path that is a file, a Prefect server that did not start).
3     INTERNAL_ERROR   not done: an unexpected exception, which is a bug. One line names
                       it; ``COLLAB_DEBUG=1`` prints the traceback as well.
130   INTERRUPTED      interrupted (Ctrl-C). ``collab serve``, which runs until it is
                       stopped, exits 0 when stopped with Ctrl-C or SIGTERM.
====  ===============  ==================================================================

Every error is printed as one line on stderr (``collab: error: ...`` or
``collab: internal error: ...``): :func:`outcome` collapses line breaks in the exception's
text and names the path of an operating-system error.
"""

from __future__ import annotations

import os
import textwrap
from enum import IntEnum
from pathlib import Path

__all__ = ["DEBUG_VARIABLE", "HELP", "SHORT_HELP", "ExitCode", "one_line", "outcome"]

#: Set this environment variable to 1 to see the traceback of an error.
DEBUG_VARIABLE = "COLLAB_DEBUG"


class ExitCode(IntEnum):
    """The exit status of a ``collab`` command (see the module documentation)."""

    OK = 0
    EXPORTS_FAILED = 1
    ERROR = 2
    INTERNAL_ERROR = 3
    INTERRUPTED = 130


_MEANINGS = {
    ExitCode.OK: "done (quarantined rows are a normal, reported outcome)",
    ExitCode.EXPORTS_FAILED: "done, but some exports could not be ingested (moved to "
                             "inbox/failed/ with the reason)",
    ExitCode.ERROR: "error: bad input (file, mapping, programme, workspace, argument; an "
                    "export too unsure to ingest without a checked mapping) or a folder / "
                    "server problem; one line (collab: error: ...)",
    ExitCode.INTERNAL_ERROR: f"internal error (a bug): one line; {DEBUG_VARIABLE}=1 shows "
                             "the traceback",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); collab serve exits 0 when stopped",
}

#: The table for ``collab --help``.
HELP = "exit status (every command):\n" + "".join(
    textwrap.fill(text, width=88, initial_indent=f"  {int(code):<4}",
                  subsequent_indent=" " * 6) + "\n"
    for code, text in _MEANINGS.items())

#: One line for each command's own ``--help``.
SHORT_HELP = ("exit status: 0 done, 1 some exports could not be ingested, 2 error (bad "
              "input), 3 internal error, 130 interrupted (details: collab --help)")


def debugging() -> bool:
    """True when :data:`DEBUG_VARIABLE` asks for tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def one_line(text: str) -> str:
    """``text`` on one line: lines joined with ``"; "`` (with a space after a line that ends
    a sentence or introduces a list), list bullets (``- ``) dropped.

    >>> one_line("wave.csv: 2 problems:\\n  - row 3: blank\\n  - row 9: blank")
    'wave.csv: 2 problems: row 3: blank; row 9: blank'
    """
    result = ""
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").strip()
        if not line:
            continue
        if not result:
            result = line
        elif result.endswith((":", ".", ";", ",")):
            result += " " + line
        else:
            result += "; " + line
    return result


def outcome(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit status for an exception that ended a command, and the one line to print.

    A :class:`~collab_stats.errors.CollabStatsError` (raised on purpose, with a message the
    user can act on) and an :class:`OSError` (a file or folder that cannot be read or
    written, named in the line) are errors (2); Ctrl-C is 130; anything else is an internal
    error (3)."""
    from collab_stats.errors import CollabStatsError

    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED, "collab: interrupted"
    if isinstance(exc, CollabStatsError):
        return ExitCode.ERROR, f"collab: error: {one_line(str(exc))}"
    if isinstance(exc, OSError):
        return ExitCode.ERROR, f"collab: error: {_os_error_text(exc)}"
    message = one_line(str(exc))
    name = type(exc).__name__
    return ExitCode.INTERNAL_ERROR, (
        f"collab: internal error: {name}{': ' + message if message else ''} "
        f"(run with {DEBUG_VARIABLE}=1 for the traceback)")


def _os_error_text(exc: OSError) -> str:
    """``path: reason`` (``path -> other path: reason`` for a move) of an OSError."""
    reason = exc.strerror or one_line(str(exc)) or type(exc).__name__
    paths = [os.fsdecode(p) if isinstance(p, str | bytes | os.PathLike) else str(p)
             for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return one_line(reason)
    text = f"{' -> '.join(paths)}: {one_line(reason)}"
    if isinstance(exc, FileExistsError | NotADirectoryError):
        in_the_way = _file_in_the_way(paths[0])
        if in_the_way is not None:
            text += f" ({in_the_way} is a file, where a folder is needed)"
    return text


def _file_in_the_way(path: str) -> str | None:
    """The file at ``path`` or at the nearest of its parents that exists, if not a folder."""
    for candidate in (Path(path), *Path(path).parents):
        if candidate.exists():
            return None if candidate.is_dir() else str(candidate)
    return None
