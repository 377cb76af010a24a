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
      waves/<wave_id>/<key>/                 respondents, responses, selections .parquet
      free_text/<wave_id>/<key>/             comments.parquet (free text, possibly identifying)
      quarantine/<wave_id>/<key>.parquet     rows rejected by validation (raw text,
                                             possibly identifying)

``<key>`` is ``sha256[:16]`` of the source file, followed by ``-r<n>`` from its n-th revision
on (a source is revised when some of its rows are removed as duplicates, see below).

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
* Each source records ``rows_read = rows_accepted + rows_quarantined`` (a quarantined row
  counted once, under its primary reason, whatever the number of its problems).

Respondents stored by more than one source
------------------------------------------
A respondent is stored once per wave. Platforms' cumulative exports carry new, date-stamped
names (``2026-09-qualtrics-2026-10-01.csv``, then ``2026-09-qualtrics-2026-10-15.csv``
holding the first one's responses and the late ones), so a file may hold respondents (the
same pseudonymised ``respondent_id``) that another source of the wave already holds.
:meth:`WaveStore.add` then applies one rule, in the same manifest commit as the new file:

1. **A newer export replaces an older one it contains.** A stored source of the wave with
   at least one respondent, *every* one of whom is also accepted in the new file with a
   submission that is not older (rule 2 below, a tie counting for the new file), is removed
   wholly - rows, free text and quarantine - as a corrected re-export of the same name is.
   The add's status is ``replaced`` and :attr:`AddResult.replaced_sources` names it.
2. **Otherwise the latest complete submission of a respondent is kept**, as within a file:
   a complete submission over an incomplete one, then one with a known submission time
   over one without, then the later time; on a tie, the submission already stored. The
   other submission's rows (respondent, answers, selections, free text) are removed from
   its source - the new file, or a stored source, whose partition is rewritten as its next
   revision - and recorded in that source's quarantine as one row with reason
   ``duplicate_across_files``, the respondent's pseudonym and the file kept. Each source
   keeps ``rows_read = rows_accepted + rows_quarantined``; :attr:`AddResult.duplicates_removed`
   counts the rows moved, per source.

Duplicates are found by the pseudonymised respondent id only: the canonical data keep no
platform response id, and respondents of an export without ids get a per-file pseudonym
(``"<source>#row<n>"``), so they cannot be matched across files.

A store written before this rule may hold a respondent under several sources.
:meth:`WaveStore.load` never returns such a respondent twice: it replays the rule over the
wave's sources in the order they were ingested, warns (:class:`StoreWarning`: the wave, the
sources, how many respondents) and leaves the files as they are;
:meth:`WaveStore.resolve_duplicates` stores the same result. Resolving rather than refusing
keeps every analysis of the wave running with the figures the store would hold had it been
written with the rule, and the warning says so. Duplicates *within* one source (which
:func:`~collab_stats.ingest.convert.convert_export` never produces) cannot be told apart
and make ``load`` raise :class:`StoreError`.

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
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
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

__all__ = ["DUPLICATE_REASON", "PROVENANCE_COLUMNS", "AddResult", "StoreError", "StoreWarning",
           "WaveStore"]

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
#: Quarantine reason of a submission left out because another source of the wave holds a
#: submission of the same respondent that the rule of the module documentation keeps.
DUPLICATE_REASON = "duplicate_across_files"
_KEY = ["wave_id", "respondent_id"]


class StoreError(CollabStatsError):
    """The wave store on disk is unreadable or inconsistent (e.g. a damaged manifest)."""


class StoreWarning(UserWarning):
    """What :meth:`WaveStore.load` read needed resolving: respondents of a wave stored by
    more than one source (a store written before the rule of the module documentation)."""


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
        For ``replaced``: the SHA-256 of the earlier file of the same name, or else of the
        first of ``replaced_sources``.
    rows_read, rows_accepted, rows_quarantined : int
        As recorded in the manifest for this file (``rows_read = rows_accepted +
        rows_quarantined``; the quarantined rows include this file's submissions left out
        as :data:`DUPLICATE_REASON`).
    replaced_sources : tuple of str
        Other sources of the wave (file names) removed wholly because this file contains
        every respondent of each with a submission no older (rule 1 of the module
        documentation: a cumulative re-export).
    duplicates_resolved : int
        Respondents of this file that another remaining source of the wave also held; each
        is now stored once, from the latest complete submission (rule 2).
    duplicates_removed : tuple of (str, int)
        Per source (file name; this file included), the submissions removed by rule 2 and
        recorded in that source's quarantine as :data:`DUPLICATE_REASON`.
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
    replaced_sources: tuple[str, ...] = ()
    duplicates_resolved: int = 0
    duplicates_removed: tuple[tuple[str, int], ...] = ()

    @property
    def duplicates_removed_here(self) -> int:
        """Rows of this file left out as :data:`DUPLICATE_REASON` (counted in
        ``rows_quarantined``)."""
        return sum(n for name, n in self.duplicates_removed if name == self.source_name)

    @property
    def note(self) -> str:
        """One line on what the add did to other sources of the wave ("" when nothing)."""
        parts = []
        if self.replaced_sources:
            parts.append(f"replaced {', '.join(self.replaced_sources)} (cumulative re-export: "
                         "every respondent of it is in this file)")
        if self.duplicates_resolved:
            n = self.duplicates_resolved
            where = ", ".join(f"{k} in {'this file' if name == self.source_name else name}"
                              for name, k in self.duplicates_removed)
            parts.append(f"{n} respondent{'s' if n != 1 else ''} already stored from another "
                         f"file: the latest complete submission kept, the other quarantined as "
                         f"{DUPLICATE_REASON} ({where})")
        return "; ".join(parts)


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

    def _rel_paths(self, wave_id: str, sha256: str, revision: int = 0
                   ) -> tuple[str, str, str]:
        key = sha256[:16] if revision == 0 else f"{sha256[:16]}-r{revision}"
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
        origin: dict[str, Any] | None = None,
    ) -> AddResult:
        """Store the rows read from one export file of a wave.

        Respondents the wave already holds under another source are resolved by one rule
        (see *Respondents stored by more than one source* in the module documentation):

        1. a stored source whose every respondent is in this file, each with a submission
           no older than the stored one, is replaced wholly (a cumulative re-export);
        2. otherwise, for each respondent in both, the latest complete submission is kept
           (complete first, then a known submission time, then the later time; on a tie
           the stored one), and the other one's rows are removed from their source and
           recorded in its quarantine as :data:`DUPLICATE_REASON`.

        Both happen in the same manifest commit as the new file, so a crash leaves the old
        state or the new one.

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
            The accepted rows, in the canonical schema, one respondents row per respondent.
            Respondents' ``instrument_version`` must equal ``instrument_version``.
        quarantine : DataFrame
            Rows rejected by validation, any columns (object columns are stored as text).
            With a boolean ``primary`` column (as
            :func:`~collab_stats.ingest.convert.convert_export` gives), only primary rows
            count as quarantined rows; otherwise every row does.
        format : str
            Detected export format, one of :data:`collab_stats.ingest.raw.FORMATS`.
        instrument_version : str
            Instrument version the wave used.
        rows_read : int
            Response rows read from the file.
        origin : dict, optional
            Where a fetched export came from (:mod:`pipelines.fetch`: the source, the time
            of the fetch, the API's own identifiers of the export); recorded in the
            manifest's entry as ``origin`` (JSON; never a credential). None for an export
            dropped in the inbox.

        Returns
        -------
        AddResult
            ``unchanged`` if this file is already stored for the wave; ``replaced`` if it
            replaced an earlier file of the same name or, by rule 1, of another name
            (``replaced_sources``); ``added`` otherwise. ``duplicates_resolved`` and
            ``duplicates_removed`` count what rule 2 did.

        Notes
        -----
        The partition is written and fsynced in ``.staging/`` without holding the store lock;
        the renames into place and the manifest swap run under it, and so does rewriting the
        sources that rule 2 changes (this file's partition included), as that depends on
        what the wave holds at that moment.
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
            "rows_quarantined": _n_quarantined(quarantine),
            "table_rows": _table_rows(data),
        }
        if origin is not None:
            entry["origin"] = json.loads(json.dumps(origin, default=str))
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
                return self._commit(entry, staging, data, quarantine, provenance)
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

    def _commit(self, entry: dict[str, Any], staging: Path, data: SurveyData,
                quarantine: pd.DataFrame, provenance: dict[str, Any]) -> AddResult:
        wave_id, sha256, name = entry["wave_id"], entry["sha256"], entry["source_name"]
        with _flock(self.root / ".lock", fcntl.LOCK_EX):
            manifest = self._read_manifest()
            stored = _find_sha(manifest, wave_id, sha256)
            if stored is not None:  # the same file was committed while this one was staged
                return _result("unchanged", stored)
            wave_sources = [s for s in manifest["sources"] if s["wave_id"] == wave_id]
            old = next((s for s in wave_sources if s["source_name"] == name), None)
            if any(s["sha256"][:16] == sha256[:16] for s in wave_sources):
                raise StoreError(
                    f"{entry['partition']}: another source of wave {wave_id!r} has a SHA-256 "
                    f"starting with {sha256[:16]} (not {sha256}); the store cannot hold both")
            others = _in_ingest_order([s for s in wave_sources if s is not old])
            held = {s["sha256"]: _submissions(self._read_respondents(s)) for s in others}
            replaced, lost = _resolve(held, sha256, _submissions(data.respondents))
            names = {s["sha256"]: s["source_name"] for s in others} | {sha256: name}
            staged = [(entry, staging)]
            if sha256 in lost:  # some of this file's submissions lose: stage it without them
                data = _without(data, lost[sha256])
                quarantine = _stack([quarantine, _duplicate_rows(lost[sha256], names, name)])
                staged = [(entry, staging / "resolved")]
                self._write_staging(staged[0][1], wave_id, data, quarantine, provenance)
                entry.update(rows_accepted=len(data.respondents),
                             rows_quarantined=_n_quarantined(quarantine),
                             table_rows=_table_rows(data))
            removed = [s for s in others if s["sha256"] in replaced]
            if old is not None:
                removed.insert(0, old)
            for i, s in enumerate(others):
                if s["sha256"] in lost:
                    folder = staging / f"revision-{i}"
                    staged.append((self._revise(s, lost[s["sha256"]], names, folder), folder))
                    removed.append(s)
            self._swap(manifest, staged, removed)
        by_source = [(names[s["sha256"]], len(lost[s["sha256"]])) for s in others
                     if s["sha256"] in lost]
        by_source += [(name, len(lost[sha256]))] if sha256 in lost else []
        involved = set(lost.get(sha256, {})).union(
            *(set(v) for k, v in lost.items() if k != sha256))
        status: AddStatus = "added" if old is None and not replaced else "replaced"
        return _result(status, entry,
                       replaced=old["sha256"] if old is not None else
                       next(iter(replaced), None),
                       replaced_sources=tuple(names[k] for k in replaced),
                       duplicates_resolved=len(involved), duplicates_removed=tuple(by_source))

    def _read_respondents(self, source: dict[str, Any]) -> pd.DataFrame:
        return pd.read_parquet(self.root / source["partition"] / "respondents.parquet",
                               columns=["respondent_id", "completed", "submitted_at"])

    def _revise(self, source: dict[str, Any], lost: dict[str, str], names: dict[str, str],
                folder: Path) -> dict[str, Any]:
        """Write the next revision of a stored ``source`` into ``folder``: its rows without
        those of the respondents ``lost`` (each mapped to the SHA-256 of the source whose
        submission is kept), and its quarantine with one :data:`DUPLICATE_REASON` row each.
        Return its manifest entry."""
        revision = int(source.get("revision", 0)) + 1
        entry = {**source, "revision": revision}
        entry["partition"], entry["free_text"], entry["quarantine"] = self._rel_paths(
            source["wave_id"], source["sha256"], revision)
        (folder / "partition").mkdir(parents=True)
        (folder / "free_text").mkdir()
        table_rows = {}
        for table in _TABLES:
            sub = "free_text" if table == "comments" else "partition"
            frame = pd.read_parquet(self.root / source[sub] / f"{table}.parquet")
            frame = _prune(frame[~frame["respondent_id"].astype(str).isin(list(lost))])
            _write_parquet(folder / sub / f"{table}.parquet", frame)
            table_rows[table] = len(frame)
        added = _quarantine_frame(_duplicate_rows(lost, names, source["source_name"]),
                                  source["wave_id"], _provenance_of(source))
        stored = pd.read_parquet(self.root / source["quarantine"])
        _write_parquet(folder / "quarantine.parquet",
                       _text_columns(_concat([f for f in (stored, added) if len(f)])))
        for sub in ("partition", "free_text", ""):
            _fsync_dir(folder / sub)
        entry.update(rows_accepted=source["rows_accepted"] - len(lost),
                     rows_quarantined=source["rows_quarantined"] + len(lost),
                     table_rows=table_rows)
        return entry

    def _swap(self, manifest: dict[str, Any], staged: list[tuple[dict[str, Any], Path]],
              removed: list[dict[str, Any]]) -> None:
        """Under the exclusive lock: rename each staged folder (``partition``, ``free_text``,
        ``quarantine.parquet``) to its entry's paths, swap the manifest (``removed`` entries
        out, staged ones in), and only then delete the removed entries' files."""
        renamed: list[Path] = []
        try:
            for entry, folder in staged:
                for part, key in (("partition", "partition"), ("free_text", "free_text"),
                                  ("quarantine.parquet", "quarantine")):
                    target = self.root / entry[key]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _remove(target)  # an orphan of an interrupted ingest
                    os.replace(folder / part, target)
                    renamed.append(target)
                    _fsync_dir(target.parent)
                    _fsync_dir(target.parent.parent)
            gone = {id(s) for s in removed}
            kept = [s for s in manifest["sources"] if id(s) not in gone]
            manifest["possibly_identifying"] = list(_POSSIBLY_IDENTIFYING)
            manifest["sources"] = _sorted_sources([*kept, *(entry for entry, _ in staged)])
            _write_manifest(self.manifest_path, manifest)
        except BaseException:
            for target in renamed:  # not in the manifest: never part of the store
                _remove(target)
            raise
        for source in removed:  # only now that the manifest no longer lists them
            for rel in (source["partition"], source["free_text"], source["quarantine"]):
                _remove(self.root / rel)

    def resolve_duplicates(self, waves: Sequence[str] | None = None) -> pd.DataFrame:
        """Store, for waves whose respondents are stored by more than one source, what
        :meth:`load` returns: the rule of :meth:`add` replayed over each wave's sources in
        the order they were ingested, in one manifest commit.

        Returns
        -------
        DataFrame
            One row per source changed: ``wave_id``, ``source_name``, ``outcome``
            (``replaced``: removed wholly by rule 1; ``quarantined``: submissions moved to
            its quarantine as :data:`DUPLICATE_REASON` by rule 2), ``by`` (the source kept
            for them) and ``rows`` (respondents removed from the source). Empty when no
            wave needed it.
        """
        rows: list[dict[str, Any]] = []
        with _flock(self.root / ".staging.lock", fcntl.LOCK_SH):
            staging = self.root / ".staging" / uuid.uuid4().hex
            try:
                with _flock(self.root / ".lock", fcntl.LOCK_EX):
                    manifest = self._read_manifest()
                    entries = _select(manifest, waves)
                    staged: list[tuple[dict[str, Any], Path]] = []
                    removed: list[dict[str, Any]] = []
                    for wave in sorted({e["wave_id"] for e in entries}):
                        sources = _in_ingest_order([e for e in entries if e["wave_id"] == wave])
                        held = {s["sha256"]: _submissions(self._read_respondents(s))
                                for s in sources}
                        if not pd.concat([h.index.to_series() for h in held.values()]
                                         ).duplicated().any():
                            continue
                        replaced_by, lost = _replay(held)
                        names = {s["sha256"]: s["source_name"] for s in sources}
                        for i, s in enumerate(sources):
                            key = s["sha256"]
                            if key in replaced_by:
                                removed.append(s)
                                rows.append({"wave_id": wave, "source_name": s["source_name"],
                                             "outcome": "replaced",
                                             "by": names[replaced_by[key]],
                                             "rows": len(held[key])})
                            elif key in lost:
                                folder = staging / f"{wave}-{i}"
                                staged.append((self._revise(s, lost[key], names, folder),
                                               folder))
                                removed.append(s)
                                rows.append({"wave_id": wave, "source_name": s["source_name"],
                                             "outcome": "quarantined",
                                             "by": ", ".join(sorted({names[k] for k in
                                                                     lost[key].values()})),
                                             "rows": len(lost[key])})
                    if removed:
                        self._swap(manifest, staged, removed)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return pd.DataFrame(rows, columns=["wave_id", "source_name", "outcome", "by", "rows"])

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

        Warns
        -----
        StoreWarning
            When a wave holds a respondent under several sources (a store written before
            :meth:`add` resolved duplicates): each is loaded once, by the rule of :meth:`add`
            replayed over the wave's sources in the order they were ingested; the files are
            left as they are (:meth:`resolve_duplicates` stores the result).

        Raises
        ------
        StoreError
            When one source holds a respondent twice (never written by :meth:`add`).
        """
        names = [n for n in _TABLES if n != "comments" or free_text]
        tables, entries = self._read_snapshot(names, waves)  # one manifest for all tables
        tables = self._one_row_per_respondent(tables, entries)
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
        return self._read_snapshot(names, waves)[0]

    def _read_snapshot(self, names: Sequence[str], waves: Sequence[str] | None
                       ) -> tuple[dict[str, pd.DataFrame], list[dict[str, Any]]]:
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
        return out, entries

    def _one_row_per_respondent(self, tables: dict[str, pd.DataFrame],
                                entries: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
        """The tables without the rows of submissions that the rule of :meth:`add` leaves
        out, for waves holding a respondent under several sources (see :meth:`load`)."""
        respondents = tables["respondents"]
        if not respondents.duplicated(_KEY).any():
            return tables
        distinct = respondents.drop_duplicates([*_KEY, "source_sha256"])
        across = distinct[distinct.duplicated(_KEY, keep=False)]  # under several sources
        dropped_sources: set[str] = set()
        dropped: set[tuple[str, str]] = set()
        for wave in sorted(set(across["wave_id"].astype(str))):
            sources = _in_ingest_order([e for e in entries if e["wave_id"] == wave])
            rows = respondents[respondents["wave_id"].astype(str) == wave]
            shas = rows["source_sha256"].astype(str)
            held = {s["sha256"]: _submissions(rows[shas == s["sha256"]]) for s in sources}
            replaced_by, lost = _replay(held)
            dropped_sources |= set(replaced_by)
            dropped |= {(k, r) for k, v in lost.items() for r in v}
            names = {s["sha256"]: s["source_name"] for s in sources}
            twice = across[across["wave_id"].astype(str) == wave]
            holders = sorted({names[k] for k in twice["source_sha256"].astype(str)})
            n_twice = twice["respondent_id"].nunique()
            warnings.warn(
                f"wave {wave}: {n_twice} respondents are stored by more than one source "
                f"({', '.join(holders)}); each is loaded once by the ingest rule "
                f"({len(replaced_by)} source(s) left out as contained in a later export, "
                f"{sum(map(len, lost.values()))} submission(s) as {DUPLICATE_REASON}); the "
                f"files are unchanged: WaveStore({str(self.root)!r}).resolve_duplicates() "
                "stores this", StoreWarning, stacklevel=3)
        out = {}
        for name, table in tables.items():
            shas = table["source_sha256"].astype(str)
            drop = shas.isin(list(dropped_sources))
            if dropped:
                pairs = pd.MultiIndex.from_arrays([shas, table["respondent_id"].astype(str)])
                drop |= pairs.isin(list(dropped))
            out[name] = _prune(table[~drop])
        still = out["respondents"][out["respondents"].duplicated(_KEY, keep=False)]
        if len(still):
            first = still.iloc[0]
            raise StoreError(
                f"wave {first['wave_id']}: source {first['source_file']} holds respondent "
                f"{first['respondent_id']} more than once ({len(still)} rows of such "
                "respondents); re-ingest a corrected export of that file under its name")
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
        """The manifest as a table: one row per stored source, ordered by wave and name;
        ``origin`` is a fetched export's provenance (a dict, see :meth:`add`), None for an
        export dropped in the inbox."""
        with _flock(self.root / ".lock", fcntl.LOCK_SH):
            manifest = self._read_manifest()
        columns = [*_SOURCE_FIELDS, "origin"]
        frame = pd.DataFrame([{**{k: s[k] for k in _SOURCE_FIELDS}, "origin": s.get("origin")}
                              for s in manifest["sources"]], columns=columns)
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
        sources = self.sources().drop(columns=["partition", "free_text", "quarantine",
                                               "origin"])
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
            revision = s.get("revision", 0)
            if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
                raise StoreError(f"{path}: sources[{i}].revision is not a whole number >= 0")
            expected = self._rel_paths(s["wave_id"], s["sha256"], revision)
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
    repeated = data.respondents.duplicated(_KEY)
    if repeated.any():
        problems.append(Problem("respondents.respondent_id",
                                f"{int(repeated.sum())} respondents have more than one row "
                                "(one submission per respondent: the converter keeps the "
                                "latest complete one)"))
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
    out = _text_columns(out)
    if "wave_id" in out.columns:
        out = out.drop(columns="wave_id")
    out.insert(0, "wave_id", pd.Categorical([wave_id] * len(out)))
    return _with_provenance(out, provenance, "quarantine")


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text (mixed cells: text, numbers, None), except a ``primary`` flag
    of True/False/missing (quarantine rows of several origins stacked), kept as a flag."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        if column == "primary":
            with contextlib.suppress(TypeError, ValueError):
                out[column] = out[column].astype("boolean")
                continue
        out[column] = out[column].map(str, na_action="ignore").astype("string")
    return out


def _n_quarantined(quarantine: pd.DataFrame) -> int:
    """Rows quarantined: with a ``primary`` column (one row per problem, the first one
    primary), the primary rows; otherwise every row."""
    if "primary" not in quarantine.columns:
        return len(quarantine)
    try:
        return int(quarantine["primary"].astype("boolean").fillna(True).sum())
    except (TypeError, ValueError):
        return len(quarantine)


def _table_rows(data: SurveyData) -> dict[str, int]:
    return {name: len(t) for name, t in zip(_TABLES, data._tables(), strict=True)}


def _provenance_of(source: dict[str, Any]) -> dict[str, Any]:
    return {"source_file": source["source_name"], "source_sha256": source["sha256"],
            "source_format": source["format"],
            "instrument_version": source["instrument_version"],
            "ingested_at": dt.datetime.fromisoformat(source["ingested_at"])}


def _prune(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows kept after a filter, without categories no row uses any more (a removed
    respondent's pseudonym must not linger as a category), ``missing_reason`` excepted."""
    out = frame.reset_index(drop=True)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) and column != "missing_reason":
            out[column] = out[column].cat.remove_unused_categories()
    return out


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f.reset_index(drop=True) for f in frames if len(f) or len(f.columns)]
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --- respondents stored by more than one source (rules of the module documentation) ----------


def _in_ingest_order(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(sources, key=lambda s: (pd.Timestamp(s["ingested_at"]), s["source_name"]))


def _submissions(respondents: pd.DataFrame) -> pd.DataFrame:
    """Each respondent's submission as rule 2 compares them, indexed by the pseudonym (text):
    ``completed``, ``timed`` (the submission time is known) and ``time`` (ns since 1970)."""
    times = pd.to_datetime(respondents["submitted_at"], utc=True)
    timed = times.notna().to_numpy()
    ns = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")
    out = pd.DataFrame({"completed": respondents["completed"].astype(bool).to_numpy(),
                        "timed": timed, "time": np.where(timed, ns, 0)},
                       index=pd.Index(respondents["respondent_id"].astype(str).to_numpy(),
                                      name="respondent_id"))
    return out[~out.index.duplicated(keep="last")]  # load() refuses a source holding one twice


def _compare(new: pd.DataFrame, stored: pd.DataFrame) -> np.ndarray:
    """Per row of two aligned submission tables: 1 where ``new`` is the later complete
    submission, -1 where ``stored`` is, 0 on a tie."""
    order = np.zeros(len(new), dtype=np.int8)
    for column in ("completed", "timed", "time"):
        a, b = new[column].to_numpy(), stored[column].to_numpy()
        open_ = order == 0
        order[open_ & (a > b)] = 1
        order[open_ & (a < b)] = -1
    return order


def _resolve(held: dict[str, pd.DataFrame], key: str, new: pd.DataFrame
             ) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Add source ``key`` with submissions ``new`` to ``held`` (the submissions each stored
    source of the wave keeps, in the order of ingestion), applying rules 1 and 2.

    Returns the sources replaced wholly (rule 1; removed from ``held``) and, per source that
    loses submissions by rule 2 (``key`` included), the respondents it loses, each mapped to
    the source whose submission is kept.
    """
    replaced = [other for other, frame in held.items()
                if len(frame) and frame.index.isin(new.index).all()
                and (_compare(new.loc[frame.index], frame) >= 0).all()]
    for other in replaced:
        del held[other]
    lost: dict[str, dict[str, str]] = {}
    alive = new.index
    for other, frame in list(held.items()):
        shared = frame.index.intersection(alive)
        if not len(shared):
            continue
        order = _compare(new.loc[shared], frame.loc[shared])
        beaten, kept = shared[order > 0], shared[order <= 0]  # a tie keeps the stored one
        if len(beaten):
            lost.setdefault(other, {}).update(dict.fromkeys(beaten, key))
            held[other] = frame.drop(beaten)
        if len(kept):
            lost.setdefault(key, {}).update(dict.fromkeys(kept, other))
            alive = alive.difference(kept)
    held[key] = new[new.index.isin(alive)]
    return replaced, lost


def _replay(submissions: dict[str, pd.DataFrame]
            ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Rules 1 and 2 applied to a wave's sources added one by one in the order given (of
    ingestion): the sources replaced wholly, each mapped to the source that replaced it, and
    per remaining source the respondents it loses (as :func:`_resolve`)."""
    held: dict[str, pd.DataFrame] = {}
    replaced_by: dict[str, str] = {}
    lost: dict[str, dict[str, str]] = {}
    for key, new in submissions.items():
        replaced, losses = _resolve(held, key, new)
        for other in replaced:
            replaced_by[other] = key
            lost.pop(other, None)
        for other, respondents in losses.items():
            lost.setdefault(other, {}).update(respondents)
    return replaced_by, lost


def _without(data: SurveyData, respondents: dict[str, str]) -> SurveyData:
    gone = list(respondents)
    return make_survey_data(*(_prune(t[~t["respondent_id"].astype(str).isin(gone)])
                              for t in data._tables()))


def _duplicate_rows(lost: dict[str, str], names: dict[str, str], source_name: str
                    ) -> pd.DataFrame:
    """One quarantine row per respondent whose submission in ``source_name`` is left out."""
    ids = sorted(lost)
    return pd.DataFrame({
        "source": [source_name] * len(ids),
        "row": pd.array([pd.NA] * len(ids), dtype="Int64"),
        "column": [""] * len(ids),
        "reason": [DUPLICATE_REASON] * len(ids),
        "message": [f"another submission of this respondent is kept, from {names[lost[r]]} "
                    "(the latest complete one; on a tie the one stored first)" for r in ids],
        "respondent": ids,
        "primary": [True] * len(ids),
    })


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


def _result(status: AddStatus, entry: dict[str, Any], *, replaced: str | None = None,
            replaced_sources: tuple[str, ...] = (), duplicates_resolved: int = 0,
            duplicates_removed: tuple[tuple[str, int], ...] = ()) -> AddResult:
    return AddResult(status=status, wave_id=entry["wave_id"], source_name=entry["source_name"],
                     sha256=entry["sha256"], partition=entry["partition"],
                     replaced_sha256=replaced, rows_read=entry["rows_read"],
                     rows_accepted=entry["rows_accepted"],
                     rows_quarantined=entry["rows_quarantined"],
                     replaced_sources=replaced_sources,
                     duplicates_resolved=duplicates_resolved,
                     duplicates_removed=duplicates_removed)
