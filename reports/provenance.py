"""The provenance section every report ends with: data sources (file names and SHA-256),
instrument versions, package version and generation time. It is also put in the front
matter (``collab-stats:`` key) so tools can read it without parsing the page."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .data import ReportData
from .notebook import ReportNotebook, TableOutput
from .tables import Column, table_output
from .text import fmt_int

__all__ = ["add_provenance", "front_matter_provenance", "sources_table"]


def front_matter_provenance(data: ReportData) -> dict[str, Any]:
    """Provenance as a plain dict for the notebook's front matter."""
    return {"collab-stats": {
        "package-version": data.package_version,
        "generated": data.generated_at.isoformat(),
        "programme": data.programme.id,
        "instrument": data.family.id,
        "instrument-versions": {w.id: w.instrument_version for w in data.programme.waves},
        "sources": [{"file": str(r.source_name), "sha256": str(r.sha256), "wave": str(r.wave_id)}
                    for r in data.sources.itertuples()] if len(data.sources) else [],
    }}


def sources_table(data: ReportData) -> TableOutput:
    """One row per ingested export: wave, file, format, instrument version, rows, SHA-256."""
    if not len(data.sources):
        frame = pd.DataFrame({"wave_id": [], "source_name": [], "format": [],
                              "instrument_version": [], "rows_read": [], "rows_accepted": [],
                              "rows_quarantined": [], "sha256": []})
    else:
        frame = data.sources.sort_values(["wave_id", "source_name"]).reset_index(drop=True)
    return table_output(frame, [
        Column("wave_id", "Wave"),
        Column("source_name", "File"),
        Column("format", "Format"),
        Column("instrument_version", "Instrument version"),
        Column("rows_read", "Rows read", fmt_int, numeric=True),
        Column("rows_accepted", "Accepted", fmt_int, numeric=True),
        Column("rows_quarantined", "Quarantined", fmt_int, numeric=True),
        Column("sha256", "SHA-256", lambda v: str(v)),
    ], row_header=False)


def add_provenance(nb: ReportNotebook, data: ReportData) -> None:
    """Append the "About this report" section (provenance) to a report."""
    nb.heading("About this report", key="h-about")
    versions = sorted({w.instrument_version for w in data.programme.waves})
    nb.markdown(
        f"Generated {data.generated_at:%d %B %Y at %H:%M} UTC by collab-stats "
        f"{data.package_version}, from the {data.family.id} instrument (version"
        f"{'s' if len(versions) > 1 else ''} {', '.join(versions)}). Figures for fewer than "
        f"{data.threshold} respondents are not shown. The files the figures come from are "
        "listed below; the SHA-256 fingerprint identifies each file exactly.",
        key="about")
    nb.output(sources_table, data, label="tbl-sources",
              caption="Data sources: survey exports used for this report")
