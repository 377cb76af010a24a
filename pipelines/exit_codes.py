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
                       reported (or, when nothing could be stored, nothing was analysed:
                       the line says so). The Prefect run ends Failed, so failure
                       notifications fire.
2     ERROR            not done: a problem the user must fix. Bad input (a file, mapping,
                       programme, instrument, workspace or argument; an export whose
                       columns match the instrument too unsurely to ingest without a
                       checked mapping; an invalid ``PREFECT_*`` setting) or the machine
                       (a folder that cannot be written, a file where a folder should be,
                       a damaged data file, a full disk, no memory; a Prefect server that
                       did not start, cannot be reached or failed; Prefect's database
                       locked or read-only).
3     INTERNAL_ERROR   not done: an unexpected exception, which is a bug. One line names
                       it; ``COLLAB_DEBUG=1`` prints the traceback as well.
130   INTERRUPTED      interrupted (Ctrl-C, or SIGTERM from a scheduler or ``kill``).
                       ``collab serve``, which runs until it is stopped, exits 0 when
                       stopped with Ctrl-C or SIGTERM.
====  ===============  ==================================================================

Every error is printed as one line on stderr (``collab: error: ...`` or
``collab: internal error: ...``): :func:`outcome` collapses line breaks in the exception's
text and names the path of an operating-system error. Which exceptions are the user's to fix
(2) and which are bugs (3): a :class:`~collab_stats.errors.CollabStatsError` and an
:class:`OSError` are 2; so are the errors of the libraries collab-stats reads and runs on
that mean the same (a damaged Parquet file, text in another encoding, an invalid Prefect
setting, a Prefect server or database that cannot be reached or written). Any other
``ValueError``, ``RuntimeError``, ``KeyError``... is a bug (3).
"""

from __future__ import annotations

import os
import sys
import textwrap
from enum import IntEnum
from pathlib import Path

__all__ = ["DEBUG_VARIABLE", "HELP", "SHORT_HELP", "ExitCode", "machine_problem", "one_line",
           "outcome"]

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
                             "inbox/failed/ with the reason); the Prefect run ends Failed",
    ExitCode.ERROR: "error: bad input (file, mapping, programme, workspace, argument, "
                    "PREFECT_* setting; an export too unsure to ingest without a checked "
                    "mapping) or the machine (a folder that cannot be written, a damaged "
                    "data file, a Prefect server or database problem); one line "
                    "(collab: error: ...)",
    ExitCode.INTERNAL_ERROR: f"internal error (a bug): one line; {DEBUG_VARIABLE}=1 shows "
                             "the traceback",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); collab serve exits 0 when "
                          "stopped",
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

    Exports that could not be ingested (``pipelines.flows.ExportsFailed``) are 1. A
    :class:`~collab_stats.errors.CollabStatsError` (raised on purpose, with a message the
    user can act on), an :class:`OSError` (a file or folder that cannot be read or written,
    named in the line) and the library errors that mean the same (:func:`machine_problem`)
    are errors (2); Ctrl-C and SIGTERM are 130; anything else is an internal error (3)."""
    from collab_stats.errors import CollabStatsError

    if isinstance(exc, KeyboardInterrupt) or _is_termination(exc):
        return ExitCode.INTERRUPTED, "collab: interrupted"
    if _is_exports_failed(exc):
        return ExitCode.EXPORTS_FAILED, f"collab: error: {one_line(str(exc))}"
    if isinstance(exc, CollabStatsError):
        return ExitCode.ERROR, f"collab: error: {one_line(str(exc))}"
    if isinstance(exc, OSError):
        return ExitCode.ERROR, f"collab: error: {_os_error_text(exc)}"
    problem = machine_problem(exc)
    if problem is not None:
        return ExitCode.ERROR, f"collab: error: {problem}"
    message = one_line(str(exc))
    name = type(exc).__name__
    return ExitCode.INTERNAL_ERROR, (
        f"collab: internal error: {name}{': ' + message if message else ''} "
        f"(run with {DEBUG_VARIABLE}=1 for the traceback)")


def _is_termination(exc: BaseException) -> bool:
    """Prefect's ``TerminationSignal``: SIGTERM arrived while a flow ran."""
    return any(cls.__name__ == "TerminationSignal" and cls.__module__.startswith("prefect")
               for cls in type(exc).__mro__)


def _is_exports_failed(exc: BaseException) -> bool:
    """``pipelines.flows.ExportsFailed`` (without importing Prefect: when the flows were
    never imported, the exception cannot be one)."""
    flows = sys.modules.get("pipelines.flows")
    kind = getattr(flows, "ExportsFailed", None)
    return isinstance(kind, type) and isinstance(exc, kind)


def machine_problem(exc: BaseException) -> str | None:
    """The line for an exception of a library collab-stats uses that means bad input or a
    machine problem, not a bug; None for any other exception.

    Recognised by module and name, so that nothing is imported to tell: pyarrow's errors
    (a damaged Parquet file; the message names it), :class:`UnicodeError` (text in another
    encoding), :class:`MemoryError`, pydantic's validation error of a Prefect setting,
    Prefect's "Failed to reach API" and the HTTP client's errors (a Prefect server that
    cannot be reached, or answers 5xx), and the database errors of Prefect's database
    (locked, read-only, cannot be opened)."""
    kinds = [(cls.__module__, cls.__name__) for cls in type(exc).__mro__]
    modules = {module.split(".")[0] for module, _ in kinds}
    message = one_line(str(exc))
    if "pyarrow" in modules:
        return f"{message} (a damaged or unreadable data file)"
    if isinstance(exc, UnicodeError):
        return f"a file is not text in the expected encoding ({message})"
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + message if message else ''}"
    if ("pydantic_core", "ValidationError") in {(m.split(".")[0], n) for m, n in kinds} \
            and "Settings" in str(getattr(exc, "title", "")):
        return _setting_text(exc)
    if isinstance(exc, RuntimeError) and message.startswith("Failed to reach API at"):
        return _unreachable(message)
    if modules & {"httpx", "httpcore"}:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is None:
            return _unreachable(f"{type(exc).__name__}: {message}" if message
                                else type(exc).__name__)
        if status >= 500:
            return (f"the Prefect server failed ({message.split(';')[0]}); its log says why "
                    "(collab serve: .prefect/server.log)")
        return None  # a 4xx answer: collab-stats asked something wrong, a bug
    if "sqlalchemy" in modules or "sqlite3" in modules:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (f"Prefect's database: {first} (is it read-only, on a full disk, or "
                "locked by a program that has stopped?)")
    return None


def _unreachable(detail: str) -> str:
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return (f"cannot reach the Prefect server at PREFECT_API_URL={url} ({detail}): is it "
                "running? Unset PREFECT_API_URL to use the embedded server")
    return f"cannot reach the Prefect server ({detail})"


def _setting_text(exc: BaseException) -> str:
    """``PREFECT_X: message, got 'value'`` for pydantic's error about a Prefect setting."""
    try:
        first = exc.errors()[0]  # type: ignore[attr-defined]
    except (AttributeError, IndexError, TypeError):
        return f"a Prefect setting is not valid: {one_line(str(exc))}"
    field = "_".join(str(part) for part in first.get("loc", ())).upper()
    value = first.get("input")
    # The variable that gave the value: named ..._<FIELD>, holding it (Prefect may have
    # normalised it, e.g. upper-cased a logging level); else the only one so named.
    named = [name for name in os.environ
             if field and name.startswith("PREFECT_") and name.endswith(f"_{field}")]
    holding = [name for name in named
               if os.environ[name].strip().casefold() == str(value).strip().casefold()]
    names = holding or (named if len(named) == 1 else [])
    setting = names[0] if names else f"{getattr(exc, 'title', 'Settings')}.{field.lower()}"
    return (f"the Prefect setting {setting} is not valid: {one_line(first.get('msg', ''))}, "
            f"got {value!r}")


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
