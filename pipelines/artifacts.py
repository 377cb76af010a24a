"""What a wave run shows in Prefect's UI: a markdown summary and a table of results.

The content is built by plain functions (tested without Prefect); :func:`publish` creates the
artifacts in the current flow run.

Both are built from the characteristic summaries *as published*
(:func:`collab_stats.publication.publish_tables`, the gate every download passes): a
collaboration below the disclosure threshold appears by its id only, as "suppressed" in the
table and in the summary's list of collaborations with fewer than ``threshold`` responses -
never with a count or a figure. Text from programme files and exports (ids, file names,
messages) is made inert: markup is escaped in the markdown, and a table cell that a
spreadsheet would read as a formula gets a leading ``'``.
"""

from __future__ import annotations

import html
from collections import Counter

import pandas as pd

from collab_stats.benchmarking import ProgrammeBenchmark
from collab_stats.psychometrics import ProgrammePsychometrics

__all__ = ["characteristic_table", "publish", "wave_summary_markdown"]

#: The programme file's default ``disclosure_threshold``, for a benchmark that carries none.
DEFAULT_THRESHOLD = 10


def wave_summary_markdown(wave: str, ingested: list[dict], psychometrics: ProgrammePsychometrics,
                          benchmark: ProgrammeBenchmark, threshold: int) -> str:
    """The run's summary: rows accepted and quarantined by reason, reliability flags, and
    collaborations whose figures are suppressed (by id, with no count)."""
    summaries = _published_summaries(benchmark, threshold)
    lines = [f"# Wave {_cell(wave)}", "", "## Ingest", ""]
    if ingested:
        lines += ["| file | wave | status | rows read | accepted | quarantined (by reason) |",
                  "|---|---|---|---:|---:|---|"]
        for row in ingested:
            reasons = ", ".join(f"{k} {v}" for k, v in row["quarantined"].items()) or "none"
            if row.get("error"):
                reasons = f"failed: {row['error']}"
            lines.append(f"| {_cell(row['file'])} | {_cell(row['wave'])} | "
                         f"{_cell(row['status'])} | {row['rows_read']:,} | {row['accepted']:,} | "
                         f"{_cell(reasons)} |")
        totals: Counter[str] = Counter()
        for row in ingested:
            totals.update(row["quarantined"])
        read = sum(r["rows_read"] for r in ingested)
        accepted = sum(r["accepted"] for r in ingested)
        lines += ["", f"Rows read {read:,} = accepted {accepted:,} + quarantined "
                      f"{sum(totals.values()):,}."]
        # what the store did with respondents already stored from another export
        lines += [f"- {_cell(row['file'])}: {_cell(row['note'])}" for row in ingested
                  if row.get("note")]
    else:
        lines.append("No new exports in this run (the stored data were analysed).")
    flags = psychometrics.flags
    lines += ["", "## Reliability flags", ""]
    if len(flags):
        wave_flags = flags[flags["wave_id"].astype(str) == wave] if "wave_id" in flags else flags
        lines += [f"- {_cell(str(m))}" for m in wave_flags.get("message", pd.Series(dtype=str))]
        if not len(wave_flags):
            lines.append(f"None in wave {_cell(wave)} ({len(flags)} in other waves).")
    else:
        lines.append("None: every characteristic meets the reliability criteria.")
    latest = summaries[summaries["wave_id"].astype(str) == wave]
    hidden = sorted(set(latest.loc[latest["suppressed"].astype(bool),
                                   "collaboration_id"].astype(str)))
    lines += ["", "## Disclosure control", "",
              f"{len(hidden)} collaboration(s) with figures hidden (fewer than {threshold} "
              "responses)" + (": " + ", ".join(map(_cell, hidden)) if hidden else ".")]
    return "\n".join(lines) + "\n"


def characteristic_table(benchmark: ProgrammeBenchmark, wave: str, *,
                         threshold: int | None = None) -> list[dict]:
    """One row per collaboration x characteristic of ``wave``: n, mean and 95% CI rounded
    for display, or "suppressed".

    ``threshold`` defaults to the benchmark's own (``ProgrammeBenchmark.threshold``), else
    the programme default (10). Ids are neutralised for spreadsheets (the UI can export the
    table); numbers stay numbers."""
    from collab_stats.publication import neutralise_cell

    if threshold is None:
        threshold = getattr(benchmark, "threshold", None) or DEFAULT_THRESHOLD
    summaries = _published_summaries(benchmark, threshold)
    rows = []
    for r in summaries[summaries["wave_id"].astype(str) == wave].itertuples(index=False):
        hidden = bool(r.suppressed)
        rows.append({
            "collaboration": neutralise_cell(str(r.collaboration_id)),
            "characteristic": neutralise_cell(str(r.characteristic)),
            "n": "suppressed" if hidden else int(r.n),
            "mean": "suppressed" if hidden else round(float(r.mean), 2),
            "ci_95": "suppressed" if hidden else f"{r.ci_low:.2f} to {r.ci_high:.2f}",
        })
    return rows


def _published_summaries(benchmark: ProgrammeBenchmark, threshold: int) -> pd.DataFrame:
    """The characteristic summaries through the publication gate (a hidden row blanked; a
    :class:`~collab_stats.errors.DisclosureError` if a figure below the threshold would
    show)."""
    from collab_stats.publication import publish_tables

    return publish_tables({"summaries": benchmark.summaries}, threshold=threshold)["summaries"]


def _cell(text: object) -> str:
    """Text for a markdown table cell or list item: markup escaped, ``|`` and line breaks
    made harmless."""
    escaped = html.escape(str(text), quote=False)
    return escaped.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def publish(wave: str, markdown: str, table: list[dict]) -> None:
    """Create the run's markdown and table artifacts (keys from the wave id)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = "".join(c if c.isalnum() else "-" for c in wave.lower())
    create_markdown_artifact(markdown=markdown, key=f"wave-{key}-summary",
                             description=f"Wave {wave}: ingest, reliability, disclosure")
    create_table_artifact(table=table, key=f"wave-{key}-characteristics",
                          description=f"Wave {wave}: characteristic means by collaboration")
