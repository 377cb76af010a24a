"""The exceptions collab-stats raises.

Every error the library raises on purpose is a :class:`CollabStatsError`, so a command-line
front end can catch that one class, print ``str(error)`` as a single clear message and exit
non-zero, while programming errors still surface as tracebacks.

Definition errors (an instrument or a programme file) collect *every* problem they find and
report them together; each :class:`Problem` says where (a path inside the file) and what.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AnalysisError",
    "CollabStatsError",
    "DataSchemaError",
    "DefinitionError",
    "DisclosureError",
    "IngestError",
    "InstrumentError",
    "ParameterError",
    "Problem",
    "ProgrammeError",
]


@dataclass(frozen=True)
class Problem:
    """One problem found in a definition.

    Attributes
    ----------
    where : str
        A path to the offending value, e.g. ``"items[4].characteristic"``; ``""`` for the
        document as a whole.
    message : str
        What is wrong and, where it helps, what is allowed.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class CollabStatsError(Exception):
    """Base class of every error collab-stats raises on purpose."""


class DefinitionError(CollabStatsError):
    """A definition file (instrument, programme) has one or more problems.

    Parameters
    ----------
    source : str
        The file (or other source) that was being read.
    problems : sequence of Problem
        Every problem found, in document order.
    """

    kind = "definition"

    def __init__(self, source: str, problems: list[Problem] | tuple[Problem, ...]):
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        head = f"{source}: {count} problem{'s' if count != 1 else ''} in the {self.kind}"
        super().__init__("\n".join([head + ":", *(f"  - {p}" for p in self.problems)]))


class InstrumentError(DefinitionError):
    """An instrument definition (or a mapping between its versions) is invalid."""

    kind = "instrument definition"


class ProgrammeError(DefinitionError):
    """A programme definition is invalid."""

    kind = "programme definition"


class DataSchemaError(DefinitionError):
    """Survey data do not follow the canonical schema."""

    kind = "survey data"


class ParameterError(CollabStatsError, ValueError):
    """A function was called with a value it does not accept.

    The message names the parameter, what is allowed and what was received (see
    :func:`collab_stats._params.check_option` and friends).
    """


class AnalysisError(CollabStatsError):
    """An analysis cannot be computed from the data given (e.g. too few respondents, a
    singular covariance matrix); the message says why and what would make it possible."""


class IngestError(CollabStatsError):
    """An export file cannot be read (as a whole): unreadable, unknown layout, no header.

    The message names the file and, where known, the row (1-based line or sheet row) and
    the column, so a user can find the problem: ``"wave1.csv, row 3, column 'Q5': ..."``.
    Problems with single responses do not raise: those rows go to quarantine with a reason.
    """

    def __init__(self, source: str, message: str, *, row: int | None = None,
                 column: str | None = None):
        self.source, self.row, self.column, self.reason = source, row, column, message
        where = [str(source)]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class DisclosureError(CollabStatsError):
    """Publication refused: a table would show, or let a reader work out, a figure about fewer
    respondents than the disclosure threshold.

    Raised by :func:`collab_stats.publication.publish_tables` for the first risk that
    :func:`~collab_stats.publication.check_publication` finds; the message names the table,
    the row (its position in the table, 0-based, and its keys) and the column, says what
    could be worked out, and how many other risks were found.

    Attributes
    ----------
    table : str
        Name of the table, e.g. ``"comparison"``.
    row : int
        Position of the row in the table (0-based, as ``DataFrame.iloc``).
    column : str
        The column that shows or gives away the figure.
    risk : str
        The kind of risk (see :func:`~collab_stats.publication.check_publication`).
    detail : str
        What could be worked out, in words.
    others : int
        How many other risks were found in the same tables.
    """

    def __init__(self, table: str, row: int, column: str, risk: str, detail: str = "", *,
                 keys: str = "", others: int = 0):
        self.table, self.row, self.column, self.risk = table, row, column, risk
        self.detail, self.others = detail, others
        where = f"row {row}" + (f" ({keys})" if keys else "")
        message = (f"publication refused: table {table!r}, {where}, column {column}: "
                   f"{detail or risk}")
        if others:
            message += f" (and {others} other risk{'s' if others != 1 else ''}; "
            message += "check_publication lists them all)"
        super().__init__(message)
