"""Everything a report shows, in one object, and how to load it from a workspace.

A workspace is the folder the pipeline writes (``collab init`` makes one; the demo writes
``demo-output/``)::

    programme.yaml
    tables/benchmark/*.parquet       benchmark_programme(...).tables()   (already suppressed)
    tables/psychometrics/*.parquet   programme_psychometrics(...).tables()
    tables/ingest/sources.parquet    one row per ingested export (name, format, SHA-256, rows)
    tables/ingest/quarantine.parquet rows quarantined, counted by wave, source and reason
    tables/free_text/comments.parquet  only when free text was explicitly enabled

Reports read these files only: never the raw exports or the wave store, so personal data
that ingest removed cannot reach a report.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collab_stats import __version__
from collab_stats.errors import CollabStatsError
from collab_stats.instrument import InstrumentFamily, load_instrument_family
from collab_stats.programme import Programme, load_programme

__all__ = ["ReportData", "load_report_data", "TABLE_GROUPS"]

TABLE_GROUPS = ("benchmark", "psychometrics", "ingest")


@dataclass(frozen=True, eq=False)
class ReportData:
    """The inputs of every report.

    Attributes
    ----------
    benchmark, psychometrics:
        The tables of :class:`collab_stats.benchmarking.ProgrammeBenchmark` and
        :class:`collab_stats.psychometrics.ProgrammePsychometrics`, by name.
    sources:
        One row per ingested export: ``wave_id, source_name, sha256, format,
        instrument_version, ingested_at, rows_read, rows_accepted, rows_quarantined``.
    quarantine:
        ``wave_id, source_name, reason, rows``: quarantined rows counted by reason.
    comments:
        Free-text answers, or None (the default: reports leave free text out).
    generated_at:
        When the reports are built (UTC), shown in every report's provenance.
    """

    programme: Programme
    family: InstrumentFamily
    benchmark: Mapping[str, pd.DataFrame]
    psychometrics: Mapping[str, pd.DataFrame]
    sources: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    comments: pd.DataFrame | None = None
    generated_at: dt.datetime = field(default_factory=lambda: generation_time())
    package_version: str = __version__

    @property
    def threshold(self) -> int:
        """The disclosure threshold (fewer respondents than this: suppressed)."""
        return self.programme.disclosure_threshold

    @property
    def waves(self) -> list[str]:
        """Wave ids in programme order."""
        return [w.id for w in self.programme.waves]

    @property
    def latest_wave(self) -> str:
        """The latest wave with benchmark results."""
        # the distinct values only: iterating over every row's text costs ~2 ms
        present = set(self.benchmark["summaries"]["wave_id"].drop_duplicates().astype(str).tolist())
        waves = [w for w in self.waves if w in present]
        if not waves:
            raise CollabStatsError("the benchmark tables hold no wave of this programme")
        return waves[-1]

    def previous_wave(self, wave: str) -> str | None:
        waves = self.waves
        i = waves.index(wave)
        return waves[i - 1] if i > 0 else None

    def instrument_version(self, wave: str) -> str:
        return next(w.instrument_version for w in self.programme.waves if w.id == wave)

    def collaboration(self, collaboration_id: str):
        for c in self.programme.collaborations:
            if c.id == collaboration_id:
                return c
        raise CollabStatsError(f"no collaboration {collaboration_id!r} in programme "
                               f"{self.programme.id!r}")

    def characteristic_names(self) -> dict[str, str]:
        """Characteristic id -> name, in framework order."""
        return {c.id: c.name for c in self.family.framework.characteristics}


def generation_time() -> dt.datetime:
    """Now (UTC, whole seconds), or the time in ``SOURCE_DATE_EPOCH`` when it is set (the
    reproducible-builds convention: the same inputs then give byte-identical reports)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
        except ValueError:
            raise CollabStatsError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970; "
                                   f"got {epoch!r}") from None
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def load_report_data(workspace: str | Path = ".", *, instrument_dir: str | Path | None = None,
                     free_text: bool = False) -> ReportData:
    """Read a workspace's programme and tables (see the module documentation).

    ``free_text=True`` also reads the free-text answers, if the pipeline was asked to keep
    them; by default they are never loaded.
    """
    root = Path(workspace)
    family = load_instrument_family(instrument_dir)
    programme_file = root / "programme.yaml"
    if not programme_file.is_file():
        raise CollabStatsError(f"{programme_file}: no programme definition (is {root} a "
                               "collab-stats workspace?)")
    programme = load_programme(programme_file, instrument=family)
    tables = {group: _read_group(root / "tables" / group) for group in TABLE_GROUPS}
    if not tables["benchmark"]:
        raise CollabStatsError(f"{root / 'tables' / 'benchmark'}: no benchmark tables; run "
                               "the analysis first (collab run)")
    comments = None
    if free_text:
        path = root / "tables" / "free_text" / "comments.parquet"
        comments = pd.read_parquet(path) if path.is_file() else None
    return ReportData(
        programme=programme, family=family, benchmark=tables["benchmark"],
        psychometrics=tables["psychometrics"],
        sources=tables["ingest"].get("sources", pd.DataFrame()),
        quarantine=tables["ingest"].get("quarantine", pd.DataFrame()),
        comments=comments)


def _read_group(folder: Path) -> dict[str, pd.DataFrame]:
    if not folder.is_dir():
        return {}
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
