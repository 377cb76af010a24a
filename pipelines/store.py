"""An embedded wave store: partitioned Parquet files under one folder and a JSON manifest.

No server, no database: every ingested export file (a *source*) becomes one partition of
Parquet files, and ``manifest.json`` lists the partitions that make up the current state.
The manifest is the single commit point: a partition that it does not list is not part of
the store (it is left over from an interrupted ingest and :meth:`WaveStore.recover` removes
it).

Layout
------
::

    root/
      manifest.json                          every ingested source; flags the possibly
                                             identifying folders
      .lock                                  flock target for manifest read-modify-write
      .staging.lock, .staging/<uuid>/        partitions being written (outside the lock)
      waves/<wave_id>/<sha256[:16]>/         respondents, responses, selections .parquet
      free_text/<wave_id>/<sha256[:16]>/     comments.parquet (free text, possibly identifying)
      quarantine/<wave_id>/<sha256[:16]>.parquet   rows rejected by validation (raw text,
                                                    possibly identifying)

Every stored row carries the provenance columns :data:`PROVENANCE_COLUMNS` (``source_file``,
``source_sha256``, ``source_format``, ``instrument_version``, ``ingested_at``).

Guarantees
----------
* ``add`` is idempotent: the same file (same SHA-256) for a wave is stored once.
* A corrected re-export (same source name, new SHA-256) replaces the old rows atomically: the
  new partition is written and fsynced in a staging folder, renamed into place and then the
  manifest is swapped with ``os.replace``; the old partition is deleted only after that. A
  crash at any point leaves the old state or the new one, never a mix.
* The manifest's read-modify-write runs under an exclusive ``fcntl.flock`` on ``root/.lock``,
  so concurrent ingests (threads or processes) never lose each other's entries; readers take
  a shared lock, so they never see a partition deleted under them.

Limits: ``flock`` is advisory and only works between processes on one machine on a local
file system; on NFS or SMB shares it may be emulated, per client, or absent, so the store
must not be written from several machines at once. Durability relies on ``fsync`` of files
and folders, which some network and FUSE file systems ignore.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from collab_stats._params import check_option
from collab_stats.errors import CollabStatsError, DataSchemaError, ParameterError, Problem
from collab_stats.ingest.raw import FORMATS
from collab_stats.schema import (
    COMMENT_COLUMNS,
    RESPONDENT_COLUMNS,
    RESPONSE_COLUMNS,
    SELECTION_COLUMNS,
    SurveyData,
    make_survey_data,
)

from .files import write_atomic

__all__ = ["PROVENANCE_COLUMNS", "AddResult", "StoreError", "WaveStore"]

#: Columns added to every stored row: where it came from and when it was stored.
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "source_file", "source_sha256", "source_format", "instrument_version", "ingested_at",
)
#: Wave ids become folder names, so they are restricted to a safe alphabet.
WAVE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
_PARTITION_TABLES: dict[str, dict[str, str]] = {
    "respondents": RESPONDENT_COLUMNS,
    "responses": RESPONSE_COLUMNS,
    "selections": SELECTION_COLUMNS,
}
_TABLES: dict[str, dict[str, str]] = {**_PARTITION_TABLES, "comments": COMMENT_COLUMNS}
_MANIFEST_FORMAT = "collab-stats wave store"
_MANIFEST_VERSION = 1
#: Folders whose rows may identify someone (free text; raw cells of rejected rows).
_POSSIBLY_IDENTIFYING = ("free_text", "quarantine")
_SOURCE_FIELDS = (
    "wave_id", "source_name", "sha256", "format", "instrument_version", "ingested_at",
    "rows_read", "rows_accepted", "rows_quarantined", "partition", "free_text", "quarantine",
)
AddStatus = Literal["added", "replaced", "unchanged"]


class StoreError(CollabStatsError):
    """The wave store on disk is unreadable or inconsistent (e.g. a damaged manifest)."""


@dataclass(frozen=True)
class AddResult:
    """What :meth:`WaveStore.add` did.

    Attributes
    ----------
    status : {"added", "replaced", "unchanged"}
        ``unchanged``: this file (same SHA-256) was already stored for the wave, possibly
        under another source name (``source_name`` then gives the stored one).
    wave_id, source_name, sha256 : str
        The source as stored.
    partition : str
        Partition folder, relative to the store root.
    replaced_sha256 : str or None
        For ``replaced``: the SHA-256 of the file whose rows were replaced.
    rows_read, rows_accepted, rows_quarantined : int
        As recorded in the manifest.
    """

    status: AddStatus
    wave_id: str
    source_name: str
    sha256: str
    partition: str
    replaced_sha256: str | None
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


class WaveStore:
    """Survey waves stored as partitioned Parquet files with a JSON manifest (see the module
    documentation for the layout and the guarantees).

    Opening a store creates the folder if needed and runs :meth:`recover`.

    Examples
    --------
    >>> import tempfile
    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=2, n_waves=1)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = WaveStore(folder)
    ...     result = store.add("2025-03", "wave1.csv", "ab" * 32, sim.data, pd.DataFrame(),
    ...                        format="qualtrics", instrument_version="1.0",
    ...                        rows_read=sim.data.n_respondents)
    ...     print(result.status, store.load().n_respondents == sim.data.n_respondents)
    added True
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.recover()

    # --- paths -----------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def _rel_paths(self, wave_id: str, sha256: str) -> tuple[str, str, str]:
        key = sha256[:16]
        return (f"waves/{wave_id}/{key}", f"free_text/{wave_id}/{key}",
                f"quarantine/{wave_id}/{key}.parquet")

    # --- writing ---------------------------------------------------------------------------

    def add(
        self,
        wave_id: str,
        source_name: str,
        sha256: str,
        data: SurveyData,
        quarantine: pd.DataFrame,
        *,
        format: str,
        instrument_version: str,
        rows_read: int,
    ) -> AddResult:
        """Store the rows read from one export file of a wave.

        Parameters
        ----------
        wave_id : str
            Wave the file belongs to; must match ``[a-z0-9][a-z0-9_.-]{0,63}`` and every
            ``wave_id`` in ``data``.
        source_name : str
            The export's file name; a corrected re-export keeps the name and replaces it.
        sha256 : str
            SHA-256 of the file's bytes (64 hex digits): the file's identity.
        data : SurveyData
            The accepted rows, in the canonical schema. Respondents' ``instrument_version``
            must equal ``instrument_version``.
        quarantine : DataFrame
            Rows rejected by validation, any columns (object columns are stored as text).
        format : str
            Detected export format, one of :data:`collab_stats.ingest.raw.FORMATS`.
        instrument_version : str
            Instrument version the wave used.
        rows_read : int
            Response rows read from the file.

        Returns
        -------
        AddResult
            ``unchanged`` if this file is already stored for the wave; ``replaced`` if it
            replaced an earlier file of the same name; ``added`` otherwise.

        Notes
        -----
        The partition is written and fsynced in ``.staging/`` without holding the store lock;
        only the renames into place and the manifest swap run under it.
        """
        _check_wave_id(wave_id, "wave_id")
        sha256 = _check_sha256(sha256)
        if not isinstance(source_name, str) or not source_name.strip():
            raise ParameterError(f"source_name must be a non-empty file name; got {source_name!r}")
        check_option("format", format, FORMATS)
        if not isinstance(instrument_version, str) or not instrument_version:
            raise ParameterError(
                f"instrument_version must be a non-empty string; got {instrument_version!r}")
        if isinstance(rows_read, bool) or not isinstance(rows_read, int) or rows_read < 0:
            raise ParameterError(f"rows_read must be a whole number >= 0; got {rows_read!r}")
        if not isinstance(data, SurveyData):
            raise ParameterError(f"data must be a SurveyData; got {type(data).__name__}")
        if not isinstance(quarantine, pd.DataFrame):
            raise ParameterError(
                f"quarantine must be a DataFrame; got {type(quarantine).__name__}")
        data = make_survey_data(*data._tables())
        _check_data_matches(data, wave_id, instrument_version, source_name)

        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            stored = _find_sha(self._read_manifest(), wave_id, sha256)
        if stored is not None:
            return _result("unchanged", stored)

        ingested_at = dt.datetime.now(dt.UTC)
        entry = {
            "wave_id": wave_id, "source_name": source_name, "sha256": sha256,
            "format": format, "instrument_version": instrument_version,
            "ingested_at": ingested_at.isoformat(timespec="microseconds"),
            "rows_read": rows_read, "rows_accepted": len(data.respondents),
            "rows_quarantined": len(quarantine),
            "table_rows": {name: len(t) for name, t in zip(_TABLES, data._tables(), strict=True)},
        }
        entry["partition"], entry["free_text"], entry["quarantine"] = self._rel_paths(
            wave_id, sha256)
        provenance = {
            "source_file": source_name, "source_sha256": sha256, "source_format": format,
            "instrument_version": instrument_version, "ingested_at": ingested_at,
        }
        with _flock(self.root / ".staging.lock", fcntl.LOCK_SH):
            staging = self.root / ".staging" / uuid.uuid4().hex
            try:
                self._write_staging(staging, wave_id, data, quarantine, provenance)
                return self._commit(entry, staging)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _write_staging(self, staging: Path, wave_id: str, data: SurveyData,
                       quarantine: pd.DataFrame, provenance: dict[str, Any]) -> None:
        (staging / "partition").mkdir(parents=True)
        (staging / "free_text").mkdir()
        for name, table in zip(_TABLES, data._tables(), strict=True):
            folder = "free_text" if name == "comments" else "partition"
            _write_parquet(staging / folder / f"{name}.parquet",
                           _with_provenance(table, provenance, name))
        _write_parquet(staging / "quarantine.parquet",
                       _quarantine_frame(quarantine, wave_id, provenance))
        for folder in ("partition", "free_text", ""):
            _fsync_dir(staging / folder)

    def _commit(self, entry: dict[str, Any], staging: Path) -> AddResult:
        wave_id, sha256 = entry["wave_id"], entry["sha256"]
        targets = [self.root / p for p in (entry["partition"], entry["free_text"],
                                           entry["quarantine"])]
        sources = [staging / "partition", staging / "free_text", staging / "quarantine.parquet"]
        with _flock(self.root / ".lock", fcntl.LOCK_EX):
            manifest = self._read_manifest()
            stored = _find_sha(manifest, wave_id, sha256)
            if stored is not None:  # the same file was committed while this one was staged
                return _result("unchanged", stored)
            old = next((s for s in manifest["sources"] if s["wave_id"] == wave_id
                        and s["source_name"] == entry["source_name"]), None)
            live = {s["partition"] for s in manifest["sources"] if s["wave_id"] == wave_id}
            if entry["partition"] in live:
                raise StoreError(
                    f"{entry['partition']}: another source of wave {wave_id!r} has a SHA-256 "
                    f"starting with {sha256[:16]} (not {sha256}); the store cannot hold both")
            renamed: list[Path] = []
            try:
                for source, target in zip(sources, targets, strict=True):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _remove(target)  # an orphan of an interrupted ingest
                    os.replace(source, target)
                    renamed.append(target)
                    _fsync_dir(target.parent)
                    _fsync_dir(target.parent.parent)
                kept = [s for s in manifest["sources"] if s is not old]
                manifest["possibly_identifying"] = list(_POSSIBLY_IDENTIFYING)
                manifest["sources"] = _sorted_sources([*kept, entry])
                _write_manifest(self.manifest_path, manifest)
            except BaseException:
                for target in renamed:  # not in the manifest: never part of the store
                    _remove(target)
                raise
            if old is not None:  # only now that the manifest points at the new partition
                for rel in (old["partition"], old["free_text"], old["quarantine"]):
                    _remove(self.root / rel)
        return _result("added" if old is None else "replaced", entry,
                       replaced=None if old is None else old["sha256"])

    def recover(self) -> list[str]:
        """Remove what interrupted ingests left behind; return the removed paths (relative
        to the root).

        Removes partitions, free-text folders and quarantine files the manifest does not
        list, manifest temporary files, and - when no ingest is writing at the moment -
        everything in ``.staging/``. Called when the store is opened.
        """
        removed: list[str] = []
        with _flock(self.root / ".lock", fcntl.LOCK_EX):
            manifest = self._read_manifest()
            live = {self.root / s[k] for s in manifest["sources"]
                    for k in ("partition", "free_text", "quarantine")}
            for top in ("waves", "free_text", "quarantine"):
                if not (self.root / top).is_dir():
                    continue
                for wave_dir in sorted((self.root / top).iterdir()):
                    children = sorted(wave_dir.iterdir()) if wave_dir.is_dir() else []
                    for child in children:
                        if child not in live:
                            _remove(child)
                            removed.append(child.relative_to(self.root).as_posix())
                    if not wave_dir.is_dir() or not any(wave_dir.iterdir()):
                        _remove(wave_dir)
            for tmp in self.root.glob(".manifest.json.*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp.name)
            staging = self.root / ".staging"
            if staging.is_dir():
                with _try_flock(self.root / ".staging.lock") as idle:
                    if idle:  # no ingest holds a shared lock: everything there is abandoned
                        for child in sorted(staging.iterdir()):
                            _remove(child)
                            removed.append(child.relative_to(self.root).as_posix())
        return removed

    # --- reading ---------------------------------------------------------------------------

    def load(self, waves: Sequence[str] | None = None, *, free_text: bool = False) -> SurveyData:
        """The stored survey data of some or all waves, in the canonical schema.

        Parameters
        ----------
        waves : sequence of str, optional
            Wave ids to load; default every stored wave. An unknown wave id raises.
        free_text : bool
            Also read the free-text comments (possibly identifying). When false (default),
            ``comments`` is an empty table with the canonical columns.

        Returns
        -------
        SurveyData
            Identifier columns are ``category`` with one set of categories across partitions
            (in order of first appearance, sources ordered by wave and source name).
            Provenance columns are not part of the canonical schema: use :meth:`table`.
        """
        names = [n for n in _TABLES if n != "comments" or free_text]
        tables = self._read_tables(names, waves)  # one snapshot of the manifest for all
        if not free_text:
            tables["comments"] = pd.DataFrame({c: [] for c in COMMENT_COLUMNS})
        return make_survey_data(*(tables[name] for name in _TABLES))

    def table(
        self,
        name: Literal["respondents", "responses", "selections", "comments"],
        *,
        waves: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One stored table as written, with its provenance columns (``comments`` is the
        free text, possibly identifying)."""
        check_option("name", name, tuple(_TABLES))
        return self._read_tables([name], waves)[name]

    def _read_tables(self, names: Sequence[str], waves: Sequence[str] | None
                     ) -> dict[str, pd.DataFrame]:
        # A shared lock: no commit can swap the manifest or delete a partition meanwhile.
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            entries = _select(self._read_manifest(), waves)
            frames = {name: [pd.read_parquet(self.root / e["free_text" if name == "comments"
                                                          else "partition"] / f"{name}.parquet")
                             for e in entries] for name in names}
        out = {}
        for name, parts in frames.items():
            if parts:
                out[name] = _concat(parts)
            else:
                columns = {**_TABLES[name], **_PROVENANCE_DTYPES}
                out[name] = pd.DataFrame({c: pd.Series(dtype=d) for c, d in columns.items()})
        return out

    def quarantine(self, wave: str | None = None) -> pd.DataFrame:
        """The quarantined rows of one wave or of all, with ``wave_id`` and provenance
        columns (a column missing from one source's rows is NA there)."""
        waves = None if wave is None else [wave]
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            entries = _select(self._read_manifest(), waves)
            frames = [pd.read_parquet(self.root / e["quarantine"]) for e in entries]
        frames = [f for f in frames if len(f)]
        if not frames:
            columns = {"wave_id": "category", **_PROVENANCE_DTYPES}
            return pd.DataFrame({c: pd.Series(dtype=d) for c, d in columns.items()})
        return _concat(frames)

    def sources(self) -> pd.DataFrame:
        """The manifest as a table: one row per stored source, ordered by wave and name."""
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            manifest = self._read_manifest()
        frame = pd.DataFrame([{k: s[k] for k in _SOURCE_FIELDS} for s in manifest["sources"]],
                             columns=list(_SOURCE_FIELDS))
        frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], utc=True)
        for column in ("rows_read", "rows_accepted", "rows_quarantined"):
            frame[column] = frame[column].astype("int64")
        return frame

    def wave_ids(self) -> list[str]:
        """The waves with stored data, sorted (none, without touching the folder, when the
        store has no manifest yet)."""
        if not self.manifest_path.exists():
            return []
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            manifest = self._read_manifest()
        return sorted({str(source["wave_id"]) for source in manifest["sources"]})

    def ingest_tables(self) -> dict[str, pd.DataFrame]:
        """What reports show about ingestion, with no personal data: ``sources`` (one row per
        stored export: name, format, SHA-256, rows read/accepted/quarantined) and
        ``quarantine`` (rows quarantined counted by wave, source and primary reason)."""
        sources = self.sources().drop(columns=["partition", "free_text", "quarantine"])
        rows = self.quarantine()
        if "primary" in rows.columns:
            rows = rows[rows["primary"].fillna(True).astype(bool)]
        if len(rows):
            counts = (rows.astype({"wave_id": str, "source_file": str, "reason": str})
                      .groupby(["wave_id", "source_file", "reason"], sort=True).size()
                      .rename("rows").reset_index()
                      .rename(columns={"source_file": "source_name"}))
        else:
            counts = pd.DataFrame({"wave_id": pd.Series(dtype=str),
                                   "source_name": pd.Series(dtype=str),
                                   "reason": pd.Series(dtype=str),
                                   "rows": pd.Series(dtype="int64")})
        return {"sources": sources, "quarantine": counts}

    def status(self) -> pd.DataFrame:
        """Counts per stored wave: sources, rows read/accepted/quarantined, rows of each
        table, and when the wave last changed."""
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            manifest = self._read_manifest()
        rows = []
        for s in manifest["sources"]:
            rows.append({"wave_id": s["wave_id"], "n_sources": 1, "rows_read": s["rows_read"],
                         "rows_accepted": s["rows_accepted"],
                         "rows_quarantined": s["rows_quarantined"],
                         **{f"n_{t}": s["table_rows"][t] for t in _TABLES},
                         "last_ingested_at": pd.Timestamp(s["ingested_at"])})
        columns = ["wave_id", "n_sources", "rows_read", "rows_accepted", "rows_quarantined",
                   *(f"n_{t}" for t in _TABLES), "last_ingested_at"]
        if not rows:
            return pd.DataFrame({c: [] for c in columns})
        frame = pd.DataFrame(rows, columns=columns)
        agg = {c: "sum" for c in columns[1:-1]} | {"last_ingested_at": "max"}
        return frame.groupby("wave_id", sort=True).agg(agg).reset_index()

    def _read_manifest(self) -> dict[str, Any]:
        path = self.manifest_path
        if not path.exists():
            return {"format": _MANIFEST_FORMAT, "version": _MANIFEST_VERSION,
                    "possibly_identifying": list(_POSSIBLY_IDENTIFYING), "sources": []}
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: cannot read the store manifest ({exc})") from None
        if (not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT
                or manifest.get("version") != _MANIFEST_VERSION
                or not isinstance(manifest.get("sources"), list)):
            raise StoreError(f"{path}: not a version {_MANIFEST_VERSION} wave store manifest")
        for i, s in enumerate(manifest["sources"]):
            missing = [k for k in (*_SOURCE_FIELDS, "table_rows") if k not in s]
            if missing:
                raise StoreError(f"{path}: sources[{i}] lacks {', '.join(missing)}")
            # Paths are derived, never trusted: a damaged manifest cannot point outside root.
            _check_wave_id(s["wave_id"], f"{path}: sources[{i}].wave_id", error=StoreError)
            if not isinstance(s["sha256"], str) or not _SHA256_PATTERN.fullmatch(s["sha256"]):
                raise StoreError(f"{path}: sources[{i}].sha256 is not 64 hex digits")
            expected = self._rel_paths(s["wave_id"], s["sha256"])
            if (s["partition"], s["free_text"], s["quarantine"]) != expected:
                raise StoreError(f"{path}: sources[{i}] paths do not match its wave and SHA-256")
        return manifest


# --- helpers -------------------------------------------------------------------------------

_PROVENANCE_DTYPES: dict[str, str] = {
    "source_file": "category", "source_sha256": "category", "source_format": "category",
    "instrument_version": "category", "ingested_at": "datetime64[ns, UTC]",
}


def _check_wave_id(value: Any, name: str, *, error: type[Exception] = ParameterError) -> str:
    if not isinstance(value, str) or not WAVE_ID_PATTERN.fullmatch(value):
        raise error(f"{name} must match {WAVE_ID_PATTERN.pattern} (lower-case letters, digits, "
                    f"'_', '.', '-'; starting with a letter or digit; at most 64 characters); "
                    f"got {value!r}")
    return value


def _check_sha256(value: Any) -> str:
    if isinstance(value, str) and _SHA256_PATTERN.fullmatch(value.lower()):
        return value.lower()
    raise ParameterError(f"sha256 must be the 64 hex digits of the file's SHA-256; got {value!r}")


def _check_data_matches(data: SurveyData, wave_id: str, instrument_version: str,
                        source_name: str) -> None:
    problems = []
    for name, table in zip(_TABLES, data._tables(), strict=True):
        other = set(table["wave_id"].astype(object).dropna()) - {wave_id}
        if other or table["wave_id"].isna().any():
            problems.append(Problem(f"{name}.wave_id", f"every row must be wave {wave_id!r}; "
                                    f"found {sorted(other) or 'missing values'}"))
    versions = set(data.respondents["instrument_version"].astype(object).dropna())
    if versions - {instrument_version}:
        problems.append(Problem("respondents.instrument_version",
                                f"must be {instrument_version!r}; found {sorted(versions)}"))
    if problems:
        raise DataSchemaError(source_name, problems)


def _with_provenance(table: pd.DataFrame, provenance: dict[str, Any], name: str) -> pd.DataFrame:
    out = table.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) and column != "missing_reason":
            out[column] = out[column].cat.remove_unused_categories()
    for column, value in provenance.items():
        if column in out.columns and column != "instrument_version":
            raise ParameterError(f"{name} has a column {column!r}, a name the store reserves "
                                 "for provenance")
        out[column] = pd.Series([value] * len(out), index=out.index).astype(
            _PROVENANCE_DTYPES[column])
    return out


def _quarantine_frame(quarantine: pd.DataFrame, wave_id: str,
                      provenance: dict[str, Any]) -> pd.DataFrame:
    out = quarantine.reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object:  # mixed cells (text, numbers, None): keep as text
            out[column] = out[column].map(str, na_action="ignore").astype("string")
    if "wave_id" in out.columns:
        out = out.drop(columns="wave_id")
    out.insert(0, "wave_id", pd.Categorical([wave_id] * len(out)))
    return _with_provenance(out, provenance, "quarantine")


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    frame.to_parquet(path, index=False)
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest to a temporary file, fsync it, ``os.replace`` it over the old one
    and fsync the folder: the commit point of every change."""
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomic(path, write)
    _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    """Hold ``flock(mode)`` on ``path``. Each call opens its own file description, so the
    lock also excludes other threads of this process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@contextlib.contextmanager
def _try_flock(path: Path) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)


def _find_sha(manifest: dict[str, Any], wave_id: str, sha256: str) -> dict[str, Any] | None:
    return next((s for s in manifest["sources"]
                 if s["wave_id"] == wave_id and s["sha256"] == sha256), None)


def _sorted_sources(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(sources, key=lambda s: (s["wave_id"], s["source_name"]))


def _select(manifest: dict[str, Any], waves: Sequence[str] | None) -> list[dict[str, Any]]:
    if waves is None:
        return manifest["sources"]
    if isinstance(waves, str):
        raise ParameterError(f"waves must be a list of wave ids; got the string {waves!r}")
    stored = {s["wave_id"] for s in manifest["sources"]}
    unknown = [w for w in waves if w not in stored]
    if unknown:
        listed = ", ".join(sorted(stored)) or "none stored"
        raise ParameterError(f"waves must be stored wave ids ({listed}); got unknown {unknown}")
    wanted = set(waves)
    return [s for s in manifest["sources"] if s["wave_id"] in wanted]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate partitions, giving each categorical column one set of categories (in order
    of first appearance) so that codes mean the same in every row."""
    categorical = {c for f in frames for c in f.columns
                   if isinstance(f[c].dtype, pd.CategoricalDtype)}
    aligned = [f.copy() for f in frames]
    for column in categorical:
        categories = list(dict.fromkeys(
            v for f in frames if column in f.columns
            for v in (f[column].cat.categories if isinstance(f[column].dtype, pd.CategoricalDtype)
                      else pd.unique(f[column].dropna()))))
        dtype = pd.CategoricalDtype(categories)
        for f in aligned:
            if column not in f.columns:
                continue
            if isinstance(f[column].dtype, pd.CategoricalDtype):
                f[column] = f[column].cat.set_categories(categories)
            else:
                f[column] = f[column].astype(object).astype(dtype)
    return pd.concat(aligned, ignore_index=True)


def _result(status: AddStatus, entry: dict[str, Any], *, replaced: str | None = None
            ) -> AddResult:
    return AddResult(status=status, wave_id=entry["wave_id"], source_name=entry["source_name"],
                     sha256=entry["sha256"], partition=entry["partition"],
                     replaced_sha256=replaced, rows_read=entry["rows_read"],
                     rows_accepted=entry["rows_accepted"],
                     rows_quarantined=entry["rows_quarantined"])
