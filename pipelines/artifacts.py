"""What a wave run shows in Prefect's UI: a markdown summary and a table of results.

The content is built by plain functions (tested without Prefect); :func:`publish` creates the
artifacts in the current flow run.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from collab_stats.benchmarking import ProgrammeBenchmark
from collab_stats.psychometrics import ProgrammePsychometrics

__all__ = ["characteristic_table", "publish", "wave_summary_markdown"]


def wave_summary_markdown(wave: str, ingested: list[dict], psychometrics: ProgrammePsychometrics,
                          benchmark: ProgrammeBenchmark, threshold: int) -> str:
    """The run's summary: rows accepted and quarantined by reason, reliability flags, and
    collaborations whose figures are suppressed."""
    lines = [f"# Wave {wave}", "", "## Ingest", ""]
    if ingested:
        lines += ["| file | wave | status | rows read | accepted | quarantined (by reason) |",
                  "|---|---|---|---:|---:|---|"]
        for row in ingested:
            reasons = ", ".join(f"{k} {v}" for k, v in row["quarantined"].items()) or "none"
            if row.get("error"):
                reasons = f"failed: {row['error']}"
            lines.append(f"| {_cell(row['file'])} | {row['wave']} | {row['status']} | "
                         f"{row['rows_read']:,} | {row['accepted']:,} | {_cell(reasons)} |")
        totals: Counter[str] = Counter()
        for row in ingested:
            totals.update(row["quarantined"])
        read = sum(r["rows_read"] for r in ingested)
        accepted = sum(r["accepted"] for r in ingested)
        lines += ["", f"Rows read {read:,} = accepted {accepted:,} + quarantined "
                      f"{sum(totals.values()):,}."]
    else:
        lines.append("No new exports in this run (the stored data were analysed).")
    flags = psychometrics.flags
    lines += ["", "## Reliability flags", ""]
    if len(flags):
        wave_flags = flags[flags["wave_id"].astype(str) == wave] if "wave_id" in flags else flags
        lines += [f"- {_cell(str(m))}" for m in wave_flags.get("message", pd.Series(dtype=str))]
        if not len(wave_flags):
            lines.append(f"None in wave {wave} ({len(flags)} in other waves).")
    else:
        lines.append("None: every characteristic meets the reliability criteria.")
    summaries = benchmark.summaries
    latest = summaries[summaries["wave_id"].astype(str) == wave]
    hidden = sorted(set(latest.loc[latest["suppressed"].astype(bool),
                                   "collaboration_id"].astype(str)))
    lines += ["", "## Disclosure control", "",
              f"{len(hidden)} collaboration(s) with figures hidden (fewer than {threshold} "
              "responses)" + (": " + ", ".join(hidden) if hidden else ".")]
    return "\n".join(lines) + "\n"


def characteristic_table(benchmark: ProgrammeBenchmark, wave: str) -> list[dict]:
    """One row per collaboration x characteristic of ``wave``: n, mean and 95% CI rounded
    for display, or "suppressed"."""
    rows = []
    summaries = benchmark.summaries
    for r in summaries[summaries["wave_id"].astype(str) == wave].itertuples(index=False):
        hidden = bool(r.suppressed)
        rows.append({
            "collaboration": str(r.collaboration_id),
            "characteristic": str(r.characteristic),
            "n": "suppressed" if hidden else int(r.n),
            "mean": "suppressed" if hidden else round(float(r.mean), 2),
            "ci_95": "suppressed" if hidden else f"{r.ci_low:.2f} to {r.ci_high:.2f}",
        })
    return rows


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def publish(wave: str, markdown: str, table: list[dict]) -> None:
    """Create the run's markdown and table artifacts (keys from the wave id)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = "".join(c if c.isalnum() else "-" for c in wave.lower())
    create_markdown_artifact(markdown=markdown, key=f"wave-{key}-summary",
                             description=f"Wave {wave}: ingest, reliability, disclosure")
    create_table_artifact(table=table, key=f"wave-{key}-characteristics",
                          description=f"Wave {wave}: characteristic means by collaboration")
