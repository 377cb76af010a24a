"""A programme workspace: the folder a researcher runs the pipeline in, and its inbox.

Layout (``collab init`` makes it)::

    programme.yaml      the programme definition (collaborations, partners, waves)
    inbox/              drop exports here: inbox/<wave>/<file> or inbox/<wave>-<anything>
                        (a mapping beside it, <file>.mapping.yaml, is used when present;
                        a REDCap export finds its dictionary, *dictionary*.csv, beside it)
    inbox/processed/    exports ingested, moved here by wave (inbox/processed/<wave>/) with
                        their mapping (and a copy of the wave's REDCap dictionary), so each
                        is picked up once and can be ingested again from there: `collab
                        ingest inbox/processed/<wave>/<file> --wave <wave>` finds its mapping
                        beside it, as the inbox does
    inbox/failed/       exports that could not be ingested, with <file>.error.txt
    store/              the wave store (Parquet + manifest; pseudonymised, no personal data)
    secret.key          the pseudonymisation key (0600; outside the store)
    tables/             psychometrics, benchmark and ingest tables of the latest run
    reports/            the report site (index.html)
    .prefect/           Prefect's home for this workspace (embedded server database, results)
    .collab/lock        the workspace lock: every run that writes store/, tables/ or reports/
                        holds it (:meth:`Workspace.writer_lock`); it names the run holding it
    .collab/stages/     what each wave's runs finished: <wave>.json (ingest, reliability,
                        benchmark, reports, each with the store fingerprint it was computed
                        from); .collab/site.json: which wave tables/ and reports/ hold and
                        whether the run writing them finished. So an interrupted run is
                        finished later (:func:`pipelines.flows.unfinished_work`)

The inbox is scanned with care for files still being copied in (:func:`scan_inbox`): names
that copying tools and browsers use while writing (``*.part``, ``*.crdownload``, ``*.tmp``,
...) wait for their final name, and an export is taken only once its size and time stamps
have not changed for :data:`INBOX_SETTLE_SECONDS` (setting ``COLLAB_INBOX_SETTLE_SECONDS``).

Nothing here imports Prefect: the flows in :mod:`pipelines.flows` call these functions.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collab_stats import dump_programme, load_instrument_family, load_programme
from collab_stats.atomic import write_text_atomic
from collab_stats.errors import CollabStatsError
from collab_stats.ingest.pseudonym import create_secret, load_secret
from collab_stats.instrument import InstrumentFamily, default_instrument_dir
from collab_stats.programme import Programme

__all__ = ["same_workspace", "INBOX_SETTLE_SECONDS", "LOCK_TIMEOUT_SECONDS", "InboxFile", "InboxScan",
           "WaitingFile", "Workspace", "WorkspaceBusy", "describe_holder", "dictionary_beside",
           "find_inbox_files", "inbox_settle_seconds", "init_workspace", "lock_timeout_seconds",
           "mapping_beside", "move_processed", "number_setting", "origin_beside", "read_site", "read_stages", "record_site",
           "record_stage", "scan_inbox"]

EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".sav", ".zsav"}
#: Not exports, never picked up: hidden files (also rsync's ``.name.XXXXXX`` while it copies
#: and LibreOffice's ``.~lock.*#``), Excel's owner files (``~$*``), mappings, error notes,
#: a fetched export's provenance (``<file>.source.json``), REDCap dictionaries.
_IGNORED = re.compile(r"(^\.|^~\$|\.mapping\.ya?ml$|\.error\.txt$|\.source\.json$|dictionary)",
                      re.I)
#: Names that tools give a file while they write it (browsers, WinSCP, copy scripts): the
#: file waits in the inbox for its final name.
_BEING_WRITTEN = re.compile(r"\.(part|partial|filepart|crdownload|download|tmp|temp)$", re.I)

#: Seconds an inbox file's size and time stamps must stay unchanged before it is ingested.
INBOX_SETTLE_SECONDS = 2.0
#: The environment variable that overrides :data:`INBOX_SETTLE_SECONDS` (0: no wait).
INBOX_SETTLE_SETTING = "COLLAB_INBOX_SETTLE_SECONDS"
#: Seconds a run waits for the workspace lock before failing (the watcher does not wait).
LOCK_TIMEOUT_SECONDS = 900.0
#: The environment variable that overrides :data:`LOCK_TIMEOUT_SECONDS`.
LOCK_TIMEOUT_SETTING = "COLLAB_LOCK_TIMEOUT_SECONDS"


#: Programmes and instrument families already parsed by :meth:`Workspace.load` (a few).
_LOADED: dict[tuple, tuple[Programme, InstrumentFamily]] = {}
_LOADED_MAX = 4


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stat_signature(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                 for p in sorted(folder.glob("*")) if p.is_file())


def same_workspace(value: object, root: Path) -> bool:
    """Whether ``value`` (e.g. a flow run's ``workspace`` parameter) names the workspace at
    ``root`` (a resolved path)."""
    if not isinstance(value, str | os.PathLike):
        return False
    try:
        return Path(value).resolve() == root
    except (OSError, ValueError):
        return False


@dataclass(frozen=True)
class Workspace:
    """Paths of a workspace (see the module documentation)."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        return cls(Path(root).resolve())

    @property
    def programme_file(self) -> Path:
        return self.root / "programme.yaml"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def secret_file(self) -> Path:
        return self.root / "secret.key"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.root / ".prefect"

    def check(self) -> Workspace:
        """Raise a clear error unless this looks like a workspace."""
        if self.root.exists() and not self.root.is_dir():
            raise CollabStatsError(f"{self.root}: a file, not a workspace folder; give the "
                                   "folder holding programme.yaml")
        if not self.programme_file.is_file():
            raise CollabStatsError(f"{self.root}: not a collab-stats workspace (no "
                                   "programme.yaml); create one with `collab init FOLDER`")
        return self

    def load(self, instrument_dir: str | Path | None = None) -> tuple[Programme, InstrumentFamily]:
        """The programme definition and the instrument family, validated.

        Parsed once per process for the same file contents: every flow and task of a run
        loads the workspace, and a national programme's definition (1,000 collaborations)
        takes about a second to parse. An edited ``programme.yaml`` or instrument file is
        read again (the key is the definition's SHA-256 and the instrument files' sizes and
        modification times); the objects returned are frozen and shared."""
        path = self.check().programme_file
        folder = Path(instrument_dir) if instrument_dir is not None else default_instrument_dir()
        key = (str(path), _sha256(path), _stat_signature(folder))
        loaded = _LOADED.get(key)
        if loaded is None:
            family = load_instrument_family(instrument_dir)
            loaded = load_programme(path, instrument=family), family
            if _sha256(path) == key[1]:  # not edited while it was being read
                while len(_LOADED) >= _LOADED_MAX:
                    _LOADED.pop(next(iter(_LOADED)))
                _LOADED[key] = loaded
        return loaded

    def secret(self) -> bytes:
        """The pseudonymisation key (created on first use, 0600)."""
        if self.secret_file.exists():
            return load_secret(self.secret_file, store=self.store)
        return create_secret(self.secret_file, store=self.store)

    @property
    def state_dir(self) -> Path:
        """``.collab/``: the workspace lock and the record of finished stages."""
        return self.root / ".collab"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "lock"

    @contextmanager
    def writer_lock(self, holder: str, *, wait: bool = True, timeout: float | None = None,
                    on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
        """The workspace lock, which every run that writes ``store/``, ``tables/`` or
        ``reports/`` holds while it runs, so that two runs never write them at once.

        An exclusive ``flock`` on ``.collab/lock``, which records who holds it (``holder``,
        e.g. the flow and its run's name, with the process id, host and start time). The
        operating system releases it when its process ends, however it ends: a crashed run
        never leaves the workspace locked. Re-entrant within a thread: a run holding it can
        start another that takes it (the inbox watcher starts the programme run).

        Yields True once held. Held by another run: with ``wait`` False yields False at once
        (the inbox watcher skips its tick); otherwise waits up to ``timeout`` seconds
        (default: :func:`lock_timeout_seconds`), telling ``on_wait`` once who it waits for,
        then raises :class:`WorkspaceBusy`, one line naming the run that holds it."""
        key = str(self.lock_file)
        held = _held_here()
        if key in held:
            held[key] += 1
            try:
                yield True
            finally:
                held[key] -= 1
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not self._acquire(fd, wait=wait, timeout=timeout, on_wait=on_wait):
                yield False
                return
            record = {"holder": holder, "pid": os.getpid(), "host": socket.gethostname(),
                      "since": _now()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            held[key] = 1
            try:
                yield True
            finally:
                del held[key]
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int, *, wait: bool, timeout: float | None,
                 on_wait: Callable[[str], None] | None) -> bool:
        if _try_flock(fd):
            return True
        if not wait:
            return False
        limit = lock_timeout_seconds() if timeout is None else timeout
        if on_wait is not None:
            on_wait(f"waiting up to {limit:g} s for the workspace lock, held by "
                    f"{describe_holder(self.lock_holder_record())}")
        deadline = time.monotonic() + limit
        delay = 0.05
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self.lock_holder_record()
                raise WorkspaceBusy(
                    f"{self.root}: the workspace is busy: {describe_holder(holder)} holds its "
                    f"lock, and it was not released within {limit:g} s; try again when that "
                    f"run has finished (or set {LOCK_TIMEOUT_SETTING} to wait longer)", holder)
            time.sleep(min(delay, remaining))
            if _try_flock(fd):
                return True
            delay = min(delay * 2, 0.5)

    def lock_holder_record(self) -> dict:
        """What the run holding the workspace lock recorded ({} if nothing readable)."""
        try:
            record = json.loads(self.lock_file.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def lock_holder(self) -> dict | None:
        """None when no run holds the workspace lock; otherwise what the holder recorded
        (a dict, empty if it recorded nothing yet). Held by this thread counts as held."""
        if str(self.lock_file) in _held_here():
            return self.lock_holder_record()
        if not self.lock_file.exists():
            return None
        fd = os.open(self.lock_file, os.O_RDWR)
        try:
            if _try_flock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            return self.lock_holder_record()
        finally:
            os.close(fd)


class WorkspaceBusy(CollabStatsError):
    """Another run held the workspace lock for longer than a run waits (``holder``: what it
    recorded, see :meth:`Workspace.writer_lock`)."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}

    def __reduce__(self):
        return type(self), (str(self), self.holder)


_LOCAL = threading.local()


def _held_here() -> dict[str, int]:
    """Workspace locks this thread holds (lock file -> depth)."""
    if not hasattr(_LOCAL, "held"):
        _LOCAL.held = {}
    return _LOCAL.held


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def describe_holder(record: dict) -> str:
    """``run-programme (flow run 'calm-fox'), pid 4242 on host, since 2026-01-05T06:00:00Z``,
    from a lock record; "another run" when it recorded nothing."""
    if not record:
        return "another run"
    parts = [str(record.get("holder") or "a run")]
    if record.get("pid"):
        parts.append(f"pid {record['pid']}" + (f" on {record['host']}" if record.get("host")
                                               else ""))
    if record.get("since"):
        parts.append(f"since {record['since']}")
    return ", ".join(parts)


def number_setting(name: str, default: float, *, minimum: float = 0.0,
                   what: str = "a number of seconds, 0 or more",
                   error: type[CollabStatsError] = CollabStatsError) -> float:
    """The number in the environment variable ``name`` (``default`` when unset or blank);
    ``error`` naming the setting, what it expects and what it holds when it is not a finite
    number of at least ``minimum``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise error(f"{name}: expected {what}, got {text!r}")
    return value


def _setting(name: str, default: float) -> float:
    return number_setting(name, default)


def inbox_settle_seconds() -> float:
    """:data:`INBOX_SETTLE_SECONDS`, or the ``COLLAB_INBOX_SETTLE_SECONDS`` setting."""
    return _setting(INBOX_SETTLE_SETTING, INBOX_SETTLE_SECONDS)


def lock_timeout_seconds() -> float:
    """:data:`LOCK_TIMEOUT_SECONDS`, or the ``COLLAB_LOCK_TIMEOUT_SECONDS`` setting."""
    return _setting(LOCK_TIMEOUT_SETTING, LOCK_TIMEOUT_SECONDS)


# --- what each run finished --------------------------------------------------------------------

def _stages_file(ws: Workspace, wave: str) -> Path:
    return ws.state_dir / "stages" / f"{wave}.json"


def _site_file(ws: Workspace) -> Path:
    return ws.state_dir / "site.json"


def _read_json(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, or unreadable: as if nothing had finished
        return {}
    return record if isinstance(record, dict) else {}


def read_stages(ws: Workspace, wave: str) -> dict:
    """The stages of ``wave`` that finished: ``{stage: {"fingerprint": ..., "finished": ...,
    ...}}`` for ``ingest``, ``reliability``, ``benchmark``, ``reports`` ({} if none)."""
    return _read_json(_stages_file(ws, wave))


def record_stage(ws: Workspace, wave: str, stage: str, *, fingerprint: str,
                 **details: object) -> None:
    """Record that ``stage`` of ``wave`` finished, computed from the store as ``fingerprint``
    (:func:`pipelines.fingerprint.wave_fingerprint`) says; written atomically."""
    record = read_stages(ws, wave)
    record[stage] = {"fingerprint": fingerprint, "finished": _now(), **details}
    write_text_atomic(_stages_file(ws, wave), json.dumps(record, indent=1) + "\n")


def read_site(ws: Workspace) -> dict:
    """What ``tables/`` and ``reports/`` hold: ``{"wave", "fingerprint", "started",
    "finished"}`` of the last run that wrote them (``finished`` None: it did not finish);
    {} before any run."""
    return _read_json(_site_file(ws))


def record_site(ws: Workspace, **fields: object) -> None:
    """Update ``site.json`` with ``fields`` (``started=True`` / ``finished=True``: now)."""
    record = read_site(ws)
    for name in ("started", "finished"):
        if fields.get(name) is True:
            fields[name] = _now()
    record.update(fields)
    write_text_atomic(_site_file(ws), json.dumps(record, indent=1) + "\n")


def init_workspace(root: str | Path, *, programme: Programme | None = None,
                   programme_file: str | Path | None = None) -> Workspace:
    """Create a workspace: folders, and ``programme.yaml`` from ``programme`` (an object),
    ``programme_file`` (copied after validation) or, with neither, a small example programme
    to edit. Refuses to overwrite an existing ``programme.yaml``."""
    ws = Workspace.at(root)
    if ws.root.exists() and not ws.root.is_dir():
        raise CollabStatsError(f"{ws.root}: a file, not a folder; give a new or empty folder "
                               "for the workspace")
    if ws.programme_file.exists():
        raise CollabStatsError(f"{ws.programme_file} exists already: not overwritten")
    for folder in (ws.inbox, ws.inbox / "processed", ws.inbox / "failed", ws.store, ws.tables,
                   ws.reports):
        folder.mkdir(parents=True, exist_ok=True)
    if programme is None and programme_file is not None:
        family = load_instrument_family()
        programme = load_programme(programme_file, instrument=family)
    if programme is None:
        from collab_stats import simulate_programme

        programme = simulate_programme(seed=1, n_collaborations=3, n_waves=2).programme
    write_text_atomic(ws.programme_file, dump_programme(programme))
    (ws.root / ".gitignore").write_text("secret.key\nstore/\n.prefect/\n.collab/\ninbox/\n")
    return ws


@dataclass(frozen=True)
class InboxFile:
    """An export waiting in the inbox, with the wave it belongs to and its companions."""

    path: Path
    wave: str
    mapping: Path | None
    dictionary: Path | None
    #: A fetched export's provenance beside it (``<file>.source.json``), None if dropped
    #: by hand (see :mod:`pipelines.fetch`).
    origin: Path | None = None


@dataclass(frozen=True)
class WaitingFile:
    """A file in the inbox not taken yet because it may still be being written: ``reason``
    says why; ``settles_in`` is how many seconds it must stay unchanged for still (None:
    it waits for its final name, e.g. a ``.part`` download)."""

    path: Path
    reason: str
    settles_in: float | None


@dataclass(frozen=True)
class InboxScan:
    """What :func:`scan_inbox` found: exports ready to ingest, files that cannot be placed
    (with why) and files that may still be being written (left for the next run)."""

    found: list[InboxFile]
    unplaced: list[tuple[Path, str]]
    waiting: list[WaitingFile]


def find_inbox_files(ws: Workspace, waves: list[str], *, settle_seconds: float | None = None,
                     ) -> tuple[list[InboxFile], list[tuple[Path, str]]]:
    """The exports waiting in the inbox, and the files that cannot be placed (with why):
    :func:`scan_inbox` without the files still being written."""
    scan = scan_inbox(ws, waves, settle_seconds=settle_seconds)
    return scan.found, scan.unplaced


def scan_inbox(ws: Workspace, waves: list[str], *, settle_seconds: float | None = None,
               now: float | None = None) -> InboxScan:
    """The exports waiting in the inbox, the files that cannot be placed (with why), and the
    files that may still be being written.

    A file belongs to wave ``W`` when it is in ``inbox/W/`` or its name starts with ``W-``
    (or ``W_``). Mappings (``*.mapping.yaml``), REDCap dictionaries (names containing
    "dictionary"), hidden files (``.*``, also rsync's temporary copies and LibreOffice's
    ``.~lock`` files), Excel's ``~$*`` owner files and anything under ``processed/`` or
    ``failed/`` are not exports. Exports sorted by wave (programme order), then name.

    A file that may still be being copied in is neither an export nor unplaced yet: one
    named as tools name a file while writing it (``*.part``, ``*.partial``, ``*.filepart``,
    ``*.crdownload``, ``*.download``, ``*.tmp``, ``*.temp``) waits for its final name; any
    other waits until neither its size, its modification time nor its status-change time
    (which a copy that sets the original modification time at the end still changes) has
    changed for ``settle_seconds`` (default :func:`inbox_settle_seconds`: 2 s, or the
    ``COLLAB_INBOX_SETTLE_SECONDS`` setting), and so does an export whose mapping or
    dictionary beside it has not settled. Time stamps in the future (a file server whose
    clock is ahead of this machine's) make a file wait until this machine's clock has
    passed them. ``now``: the time to compare with (default: ``time.time()``).
    """
    settle = inbox_settle_seconds() if settle_seconds is None else settle_seconds
    now = time.time() if now is None else now
    found: list[InboxFile] = []
    unplaced: list[tuple[Path, str]] = []
    waiting: list[WaitingFile] = []
    if not ws.inbox.is_dir():
        return InboxScan(found, unplaced, waiting)

    def settles_in(path: Path) -> float:
        if settle <= 0:
            return 0.0
        status = path.stat()
        return max(0.0, settle - (now - max(status.st_mtime, status.st_ctime)))

    for path in sorted(ws.inbox.rglob("*")):
        rel = path.relative_to(ws.inbox)
        try:
            if (not path.is_file() or rel.parts[0] in ("processed", "failed")
                    or path.name.startswith((".", "~$"))):
                continue
            if _BEING_WRITTEN.search(path.name):
                waiting.append(WaitingFile(path, "a name used while a file is written "
                                                 f"({path.suffix}): waiting for its final name",
                                           None))
                continue
            if _IGNORED.search(path.name):
                continue
            left = settles_in(path)
            if left > 0:
                waiting.append(WaitingFile(path, f"changed less than {settle:g} s ago: may "
                                                 "still be being written", left))
                continue
            if path.suffix.lower() not in EXPORT_SUFFIXES:
                unplaced.append((path, f"not a survey export ({path.suffix or 'no extension'}); "
                                       f"expected one of {', '.join(sorted(EXPORT_SUFFIXES))}"))
                continue
            wave = _wave_of(rel, waves)
            if wave is None:
                unplaced.append((path, "cannot tell its wave: put it in inbox/<wave>/ or start "
                                       f"its name with '<wave>-' (waves: {', '.join(waves)})"))
                continue
            item = InboxFile(path, wave, mapping_beside(path),
                             dictionary_beside(path, wave,
                                               wave_named_only=path.parent == ws.inbox),
                             origin_beside(path))
            companions = [p for p in (item.mapping, item.dictionary, item.origin)
                          if p is not None]
            left = max((settles_in(p) for p in companions), default=0.0)
            if left > 0:
                waiting.append(WaitingFile(path, "its mapping or dictionary beside it changed "
                                                 f"less than {settle:g} s ago", left))
                continue
        except FileNotFoundError:  # moved or deleted while the inbox was read: not there
            continue
        found.append(item)
    order = {w: i for i, w in enumerate(waves)}
    found.sort(key=lambda f: (order[f.wave], f.path.name))
    return InboxScan(found, unplaced, waiting)


def mapping_beside(path: Path) -> Path | None:
    """The column mapping of the export ``path``: ``<file>.mapping.yaml`` (or ``.yml``) beside
    it, as the inbox, ``inbox/processed/`` and ``collab ingest`` look for it; None if absent."""
    for suffix in (".mapping.yaml", ".mapping.yml"):
        candidate = path.with_name(path.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def dictionary_beside(path: Path, wave: str, *, wave_named_only: bool = False) -> Path | None:
    """A REDCap data dictionary beside the export ``path``: a ``.csv`` file whose name contains
    "dictionary"; the export's own first (``<export name without .csv>.dictionary.csv``, as
    a fetch writes it), then one whose name starts with ``wave`` (only those with
    ``wave_named_only``, for a folder holding several waves' files); None if there is none."""
    found = sorted((not p.name.startswith(f"{path.stem}.dictionary"),
                    not p.name.startswith(wave), p.name) for p in path.parent.glob("*")
                   if p.is_file() and "dictionary" in p.name.lower()
                   and p.suffix.lower() == ".csv"
                   and (p.name.startswith(wave) or not wave_named_only))
    return path.parent / found[0][2] if found else None


def origin_beside(path: Path) -> Path | None:
    """The provenance of a fetched export (``<file>.source.json`` beside it), or None."""
    candidate = path.with_name(path.name + ".source.json")
    return candidate if candidate.is_file() else None


def _wave_of(rel: Path, waves: list[str]) -> str | None:
    if len(rel.parts) > 1 and rel.parts[0] in waves:
        return rel.parts[0]
    for wave in sorted(waves, key=len, reverse=True):
        if rel.name.startswith((f"{wave}-", f"{wave}_")):
            return wave
    return None


def move_processed(ws: Workspace, item: InboxFile, *, failed: str | None = None) -> Path:
    """Move an ingested export to ``processed/<wave>/``, or to ``failed/<wave>/`` with
    ``<file>.error.txt`` holding ``failed``. Returns the new path.

    Its mapping (``<file>.mapping.yaml``, the export's own) and a fetched export's provenance
    (``<file>.source.json``) move with it and the REDCap
    dictionary (which the wave's other exports may share) is copied, so that the export can be
    ingested again from there with them (:func:`mapping_beside`, :func:`dictionary_beside`)."""
    folder = ws.inbox / ("failed" if failed is not None else "processed") / item.wave
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / item.path.name
    os.replace(item.path, target)
    for companion in (item.mapping, item.origin):
        if companion is not None and companion.exists():
            os.replace(companion, folder / companion.name)
    if item.dictionary is not None and item.dictionary.exists():
        shutil.copy2(item.dictionary, folder / item.dictionary.name)
    if failed is not None:
        write_text_atomic(folder / f"{item.path.name}.error.txt", failed + "\n")
    return target
