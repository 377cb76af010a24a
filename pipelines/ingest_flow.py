"""Flow: ingest the exports waiting in a workspace's inbox for one wave.

Each export is read (format detected from content), mapped (its ``.mapping.yaml`` beside it,
or a proposal when every column matches confidently), converted (validated, quarantined with
reasons, pseudonymised) and stored (respondents the wave already holds from another file are
resolved by the store's rule, see :mod:`pipelines.store`); then moved to
``inbox/processed/<wave>/``, or to ``inbox/failed/<wave>/`` with the reason, so that each file
is picked up exactly once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import flow, task

from collab_stats.errors import CollabStatsError, IngestError
from collab_stats.ingest.convert import ConvertReport, ConvertResult, convert_export
from collab_stats.ingest.detect import detect_format, read_export
from collab_stats.ingest.mapping import load_mapping, propose_mapping
from collab_stats.ingest.raw import RawExport
from collab_stats.instrument import InstrumentFamily
from collab_stats.programme import Programme

from .fetch import read_origin
from .retry import IO_RETRIES
from .store import DUPLICATE_REASON, AddResult, WaveStore
from .workspace import InboxFile, Workspace, find_inbox_files, move_processed

#: Below this confidence a proposed mapping is not used without a person checking it.
AUTO_CONFIDENCE = 0.85


@task(name="read-export", **IO_RETRIES)
def read_file(path: Path, dictionary: Path | None = None) -> tuple[RawExport, str]:
    """Read an export (format detected from content) and its SHA-256. ``dictionary`` (found
    beside it) is used when the export is a REDCap one, and ignored otherwise."""
    fmt = detect_format(path)
    options = {"dictionary": dictionary} if dictionary is not None and fmt == "redcap" else {}
    return (read_export(path, format=fmt, **options),
            hashlib.sha256(path.read_bytes()).hexdigest())


@task(name="convert-export")
def convert(raw: RawExport, mapping_path: Path | None, family: InstrumentFamily,
            programme: Programme, wave_id: str, secret: bytes,
            collaboration: str | None = None) -> ConvertResult:
    """Map, validate, quarantine and pseudonymise one export. ``collaboration``: the
    collaboration of every row when the export is one collaboration's survey (a fetched
    source's ``collaboration``), else None."""
    version = programme.wave(wave_id).instrument_version
    if mapping_path is not None:
        mapping = load_mapping(mapping_path, family=family)
    else:
        proposal = propose_mapping(raw, family, programme, version=version)
        table = proposal.table
        unsure = table[(table["confidence"] < AUTO_CONFIDENCE) & (table["target"] != "drop")]
        if len(unsure) or proposal.unmatched:
            raise IngestError(raw.source, f"{len(unsure)} columns match the instrument with "
                              f"low confidence and {len(proposal.unmatched)} not at all: run "
                              "`collab mapping propose` on it, check the mapping and put it "
                              "beside the export as <file>.mapping.yaml")
        mapping = proposal.mapping
    return convert_export(raw, mapping, family, programme, wave_id=wave_id, secret=secret,
                          collaboration=collaboration)


@task(name="store-export", **IO_RETRIES)
def store_wave(store_root: Path, wave_id: str, raw: RawExport, sha: str, result: ConvertResult,
               instrument_version: str, origin: dict | None = None) -> AddResult:
    """Add the converted rows and the quarantine to the wave store (idempotent by SHA);
    ``origin``: a fetched export's provenance, recorded in the store's manifest."""
    return WaveStore(store_root).add(
        wave_id, Path(raw.source).name, sha, result.data, result.quarantine, format=raw.format,
        instrument_version=instrument_version, rows_read=result.report.rows_read, origin=origin)


def ingest_file(ws: Workspace, item: InboxFile, family: InstrumentFamily,
                programme: Programme, secret: bytes) -> dict:
    """Ingest one inbox file and move it on; a failure is recorded, not raised."""
    origin = read_origin(item.path) if item.origin is not None else None
    try:
        raw, sha = read_file(item.path, item.dictionary)
        result = convert(raw, item.mapping, family, programme, item.wave, secret,
                         _origin_collaboration(origin, programme))
        added = store_wave(ws.store, item.wave, raw, sha, result,
                           programme.wave(item.wave).instrument_version,
                           _store_origin(origin))
    except CollabStatsError as exc:
        move_processed(ws, item, failed=str(exc))
        return {"file": item.path.name, "wave": item.wave, "format": "", "status": "failed",
                "rows_read": 0, "accepted": 0, "quarantined": {}, "warnings": [], "note": "",
                "error": str(exc)}
    move_processed(ws, item)
    return ingest_summary(item.path.name, item.wave, raw.format, result.report, added)


def _origin_collaboration(origin: dict | None, programme: Programme) -> str | None:
    """The collaboration a fetched source belongs to (from its provenance), if any."""
    collaboration = (origin or {}).get("collaboration")
    if collaboration is None:
        return None
    if collaboration not in programme.collaboration_ids:
        raise CollabStatsError(f"the export was fetched for collaboration {collaboration!r}, "
                               "which the programme no longer has")
    return collaboration


def _store_origin(origin: dict | None) -> dict | None:
    """What the store's manifest records of a fetched export's provenance."""
    if origin is None:
        return None
    keep = ("source", "type", "description", "collaboration", "fetched_at", "identifiers",
            "responses")
    return {k: origin.get(k) for k in keep}


def ingest_summary(file: str, wave: str, format: str, report: ConvertReport,
                   added: AddResult) -> dict:
    """One file's summary row: rows read = accepted + quarantined by reason (this file's
    submissions left out because another file of the wave holds a later one counted as
    ``duplicate_across_files``), the store's status, and ``note``: one line on what the add
    did to other files of the wave ("" when nothing), e.g. "replaced
    2026-09-qualtrics-2026-10-01.csv (cumulative re-export: every respondent of it is in
    this file)"."""
    quarantined = {k: v for k, v in report.rows_quarantined.items() if v}
    here = added.duplicates_removed_here
    if here:
        quarantined[DUPLICATE_REASON] = here
    return {"file": file, "wave": wave, "format": format, "status": added.status,
            "rows_read": report.rows_read, "accepted": report.rows_accepted - here,
            "quarantined": quarantined, "warnings": list(report.warnings),
            "note": added.note, "error": ""}


@flow(name="ingest-wave", flow_run_name="ingest-{wave}")
def ingest_wave(workspace: Path, wave: str) -> list[dict]:
    """Ingest every export of ``wave`` waiting in the workspace's inbox (see the module
    documentation); returns one summary per file (:func:`ingest_summary`: rows read,
    accepted, quarantined by reason, status: added / replaced / unchanged / failed, and a
    note on other files of the wave replaced or resolved)."""
    ws = Workspace.at(workspace)
    programme, family = ws.load()
    if wave not in programme.wave_ids:
        raise CollabStatsError(f"wave {wave!r} is not in {ws.programme_file} (waves: "
                               f"{', '.join(programme.wave_ids)})")
    files, _ = find_inbox_files(ws, list(programme.wave_ids))
    secret = ws.secret()
    return [ingest_file(ws, item, family, programme, secret)
            for item in files if item.wave == wave]
