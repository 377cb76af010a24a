"""Retries with back-off, for input/output that may work a moment later, and nothing else.

A task that reads or writes files retries when it failed with a *transient* operating-system
error: one that trying again a few seconds later can cure (a busy network share, a lock held
for a moment, a connection dropped, an interrupted call), waiting longer each time (1, 4 and
16 s). Everything else fails at once, because trying again would fail the same way, three
times over, 21 s later:

* a *permanent* operating-system error: a file where a folder should be
  (:class:`NotADirectoryError`, :class:`FileExistsError`), a folder where a file should be
  (:class:`IsADirectoryError`), a missing file (:class:`FileNotFoundError`), no permission
  or a read-only file system (:class:`PermissionError`, ``EROFS``), a full disk or quota
  (``ENOSPC``, ``EDQUOT``), a name too long, too many open files...: someone must act;
* an operating-system error that gives no ``errno`` (it cannot be told transient);
* a collab-stats error (a bad export, an invalid definition) or a bug.

Which errors are transient is decided by ``errno`` (:data:`TRANSIENT_ERRNOS`), and by class
for the few raised without one (:class:`TimeoutError`, :class:`ConnectionError`,
:class:`BlockingIOError`, :class:`InterruptedError`: a socket time-out, for instance).

=============  ===================================================================
errno          why it is worth another try
=============  ===================================================================
EAGAIN         resource temporarily unavailable (also EWOULDBLOCK): a non-blocking
               lock or read that would have waited
EINTR          a system call interrupted by a signal
EBUSY          device or resource busy (a file another program holds on Windows
               shares, a mount point being remounted)
ETXTBSY        text file busy (a file being executed or written by another process)
EDEADLK        a file lock that would deadlock (the other holder lets go)
ENOLCK         no locks available (NFS lock manager)
EIO            input/output error: a network file system or USB disk that hiccupped
               (a failing disk fails three more times, 21 s later)
ESTALE         stale NFS file handle (the server restarted or the file was replaced)
EREMOTEIO      remote I/O error (network file systems)
ETIMEDOUT      connection or operation timed out
ECONNRESET,    the connection to a file server (SMB/NFS/sshfs) or a Dask scheduler
ECONNABORTED,  dropped, refused while it restarts, or the network is briefly away
ECONNREFUSED,
EPIPE,
ENETDOWN,
ENETUNREACH,
ENETRESET,
EHOSTDOWN,
EHOSTUNREACH
=============  ===================================================================
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = ["IO_RETRIES", "TRANSIENT_ERRNOS", "is_transient", "retry_on_io"]

_TRANSIENT_NAMES = (
    "EAGAIN", "EWOULDBLOCK", "EINTR", "EBUSY", "ETXTBSY", "EDEADLK", "ENOLCK", "EIO", "ESTALE",
    "EREMOTEIO", "ETIMEDOUT", "ECONNRESET", "ECONNABORTED", "ECONNREFUSED", "EPIPE",
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "EHOSTDOWN", "EHOSTUNREACH",
)

#: The ``errno`` values retried (those this platform defines; see the module documentation).
TRANSIENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name) for name in _TRANSIENT_NAMES if hasattr(errno, name))

#: Raised without an errno by the standard library (e.g. a socket time-out), yet transient.
_TRANSIENT_CLASSES = (TimeoutError, ConnectionError, BlockingIOError, InterruptedError)


def is_transient(exc: BaseException) -> bool:
    """True for an operating-system error worth trying again a moment later (by ``errno``,
    :data:`TRANSIENT_ERRNOS`; without one, by class); False for anything else."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno is not None:
        return exc.errno in TRANSIENT_ERRNOS
    return isinstance(exc, _TRANSIENT_CLASSES)


def retry_on_io(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed with a transient
    operating-system error (:func:`is_transient`). Prefect calls it with the task, the task
    run and the run's Failed state, whose ``result()`` raises the task's exception."""
    try:
        state.result()
    except BaseException as exc:  # the task's exception, re-raised by the state
        return is_transient(exc)
    return False


#: Task options for I/O: three retries after 1, 4 and 16 seconds, only on a transient
#: operating-system error.
IO_RETRIES: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [1, 4, 16],
    "retry_condition_fn": retry_on_io,
}
