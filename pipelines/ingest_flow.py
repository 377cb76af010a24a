"""Flow: ingest a wave's export files into the wave store (detect, map, convert, store)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from prefect import flow, task

from collab_stats.ingest.convert import ConvertResult, convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.raw import RawExport
from collab_stats.instrument import InstrumentFamily
from collab_stats.programme import Programme

from .store import AddResult, WaveStore


@task(retries=2, retry_delay_seconds=1)
def read_file(path: Path, dictionary: Path | None = None) -> tuple[RawExport, str]:
    """Read an export (format detected from content) and its SHA-256."""
    options = {"dictionary": dictionary} if dictionary is not None else {}
    return read_export(path, **options), hashlib.sha256(path.read_bytes()).hexdigest()


@task
def convert(raw: RawExport, mapping_path: Path, family: InstrumentFamily, programme: Programme,
            wave_id: str, secret: bytes) -> ConvertResult:
    mapping = load_mapping(mapping_path, family=family)
    return convert_export(raw, mapping, family, programme, wave_id=wave_id, secret=secret)


@task(retries=2, retry_delay_seconds=1)
def store_wave(store_root: Path, wave_id: str, raw: RawExport, sha: str, result: ConvertResult,
               instrument_version: str) -> AddResult:
    return WaveStore(store_root).add(
        wave_id, Path(raw.source).name, sha, result.data, result.quarantine, format=raw.format,
        instrument_version=instrument_version, rows_read=result.report.rows_read)


@flow(name="ingest-wave", flow_run_name="ingest-{wave_id}")
def ingest_wave(wave_id: str, files: list[tuple[Path, Path, Path | None]], store_root: Path,
                family: InstrumentFamily, programme: Programme, secret: bytes) -> list[dict]:
    """Ingest ``(export, mapping, REDCap dictionary or None)`` files of one wave."""
    version = programme.wave(wave_id).instrument_version
    summaries = []
    for path, mapping_path, dictionary in files:
        raw, sha = read_file(path, dictionary)
        result = convert(raw, mapping_path, family, programme, wave_id, secret)
        added = store_wave(store_root, wave_id, raw, sha, result, version)
        report = result.report
        summaries.append({"file": path.name, "format": raw.format, "status": added.status,
                          "rows_read": report.rows_read, "accepted": report.rows_accepted,
                          "quarantined": {k: v for k, v in report.rows_quarantined.items() if v}})
    return summaries
