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

Nothing here imports Prefect: the flows in :mod:`pipelines.flows` call these functions.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from collab_stats import dump_programme, load_instrument_family, load_programme
from collab_stats.atomic import write_text_atomic
from collab_stats.errors import CollabStatsError
from collab_stats.ingest.pseudonym import create_secret, load_secret
from collab_stats.instrument import InstrumentFamily, default_instrument_dir
from collab_stats.programme import Programme

__all__ = ["InboxFile", "Workspace", "dictionary_beside", "find_inbox_files", "init_workspace",
           "mapping_beside", "move_processed"]

EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".sav", ".zsav"}
_IGNORED = re.compile(r"(^\.|\.mapping\.ya?ml$|\.error\.txt$|dictionary)", re.I)


#: Programmes and instrument families already parsed by :meth:`Workspace.load` (a few).
_LOADED: dict[tuple, tuple[Programme, InstrumentFamily]] = {}
_LOADED_MAX = 4


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stat_signature(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                 for p in sorted(folder.glob("*")) if p.is_file())


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

    @contextmanager
    def lock(self, name: str = "inbox") -> Iterator[bool]:
        """An exclusive, non-blocking lock: yields False when another run holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f".{name}.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


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
    (ws.root / ".gitignore").write_text("secret.key\nstore/\n.prefect/\ninbox/\n")
    return ws


@dataclass(frozen=True)
class InboxFile:
    """An export waiting in the inbox, with the wave it belongs to and its companions."""

    path: Path
    wave: str
    mapping: Path | None
    dictionary: Path | None


def find_inbox_files(ws: Workspace, waves: list[str]) -> tuple[list[InboxFile], list[tuple[Path, str]]]:
    """The exports waiting in the inbox, and the files that cannot be placed (with why).

    A file belongs to wave ``W`` when it is in ``inbox/W/`` or its name starts with ``W-``
    (or ``W_``). Mappings (``*.mapping.yaml``), REDCap dictionaries (names containing
    "dictionary"), hidden files and anything under ``processed/`` or ``failed/`` are not
    exports. Sorted by wave (programme order), then name.
    """
    found: list[InboxFile] = []
    unplaced: list[tuple[Path, str]] = []
    if not ws.inbox.is_dir():
        return found, unplaced
    for path in sorted(ws.inbox.rglob("*")):
        rel = path.relative_to(ws.inbox)
        if (not path.is_file() or rel.parts[0] in ("processed", "failed")
                or _IGNORED.search(path.name)):
            continue
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            unplaced.append((path, f"not a survey export ({path.suffix or 'no extension'}); "
                                   f"expected one of {', '.join(sorted(EXPORT_SUFFIXES))}"))
            continue
        wave = _wave_of(rel, waves)
        if wave is None:
            unplaced.append((path, "cannot tell its wave: put it in inbox/<wave>/ or start its "
                                   f"name with '<wave>-' (waves: {', '.join(waves)})"))
            continue
        found.append(InboxFile(path, wave, mapping_beside(path),
                               dictionary_beside(path, wave,
                                                 wave_named_only=path.parent == ws.inbox)))
    order = {w: i for i, w in enumerate(waves)}
    found.sort(key=lambda f: (order[f.wave], f.path.name))
    return found, unplaced


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
    "dictionary", one whose name starts with ``wave`` first (only those with
    ``wave_named_only``, for a folder holding several waves' files); None if there is none."""
    found = sorted((not p.name.startswith(wave), p.name) for p in path.parent.glob("*")
                   if p.is_file() and "dictionary" in p.name.lower()
                   and p.suffix.lower() == ".csv"
                   and (p.name.startswith(wave) or not wave_named_only))
    return path.parent / found[0][1] if found else None


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

    Its mapping (``<file>.mapping.yaml``, the export's own) moves with it and the REDCap
    dictionary (which the wave's other exports may share) is copied, so that the export can be
    ingested again from there with them (:func:`mapping_beside`, :func:`dictionary_beside`)."""
    folder = ws.inbox / ("failed" if failed is not None else "processed") / item.wave
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / item.path.name
    os.replace(item.path, target)
    if item.mapping is not None and item.mapping.exists():
        os.replace(item.mapping, folder / item.mapping.name)
    if item.dictionary is not None and item.dictionary.exists():
        shutil.copy2(item.dictionary, folder / item.dictionary.name)
    if failed is not None:
        write_text_atomic(folder / f"{item.path.name}.error.txt", failed + "\n")
    return target
