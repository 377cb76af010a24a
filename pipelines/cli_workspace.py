"""``collab init``, ``run``, ``report``, ``serve`` and ``status``: commands on a workspace.

A workspace is the folder a programme lives in (:mod:`pipelines.workspace`). Every command
but ``init`` takes ``--workspace/-w DIR`` (default: the current folder). Commands that run
flows point Prefect at the workspace first (:func:`pipelines.environment.configure`, before
Prefect is imported), check what they can before starting a flow (so that a wrong wave or an
empty workspace gives one line, not a failed run), show progress on stderr when it is a
terminal, and print a plain summary on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from collab_stats.errors import CollabStatsError

from .exit_codes import ExitCode
from .workspace import (
    EXPORT_SUFFIXES,
    Workspace,
    find_inbox_files,
    init_workspace,
    same_workspace,
)

__all__ = ["ExamplesFormatter", "RecentRuns", "WorkspaceStatus", "add_parsers",
           "format_fetch_summary", "format_run_summary", "format_stage_times", "format_status", "hide_idle_watcher_runs",
           "idle_watcher_run", "quiet_run_errors", "recent_runs", "workspace_status"]


class ExamplesFormatter(argparse.HelpFormatter):
    """Help with descriptions wrapped to the terminal and examples (text with line breaks,
    such as an epilog) kept exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


_RAW = ExamplesFormatter


def add_parsers(sub) -> None:
    """Add the workspace commands to the ``collab`` sub-command parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-w", "--workspace", type=Path, default=Path("."), metavar="DIR",
                        help="the programme's workspace (default: the current folder)")

    init = sub.add_parser(
        "init", help="create a programme workspace",
        description="Create a programme workspace: programme.yaml, inbox/ (one folder per "
        "wave), store/, tables/, reports/. Without --programme, programme.yaml is a small "
        "example to edit. An existing programme.yaml is never overwritten.",
        epilog="examples:\n"
        "  collab init my-programme                      an example programme to edit\n"
        "  collab init my-programme --programme programme.yaml\n"
        "  collab init                                   the current folder",
        formatter_class=_RAW)
    init.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR",
                      help="folder of the new workspace (default: the current folder)")
    init.add_argument("--programme", type=Path, default=None, metavar="FILE",
                      help="programme definition to copy in (validated first)")
    init.set_defaults(handler=run_init)

    run = sub.add_parser(
        "run", parents=[common], help="ingest a wave's exports, analyse and report",
        description="Run a wave: ingest the exports waiting in inbox/<wave>/, check the "
        "instrument's reliability, benchmark the collaborations and build the report site. "
        "Without --wave, ingest whatever waits in the inbox for every wave, then analyse the "
        "latest stored wave. Runs on Prefect (the embedded local server unless PREFECT_API_URL "
        "points at one); unchanged analyses are read back from Prefect's cache.",
        epilog="examples:\n"
        "  collab run                           every wave's new exports, latest wave\n"
        "  collab run --wave 2026-03 --no-pdf   one wave, HTML reports only\n"
        "  collab run -w my-programme --dask    model fits and reports on a local Dask cluster\n"
        "  collab run --dask-address tcp://scheduler:8786",
        formatter_class=_RAW)
    run.add_argument("--wave", default=None, help="wave id (default: every wave in the inbox)")
    _report_options(run)
    run.add_argument("--no-reports", dest="reports", action="store_false",
                     help="analyse only; do not build the reports")
    run.set_defaults(handler=run_run)

    fetch = sub.add_parser(
        "fetch", parents=[common], help="fetch a wave's responses from its survey platforms",
        description="Fetch a wave's responses from the survey platforms its sources name in "
        "programme.yaml (REDCap, Qualtrics, SurveyMonkey APIs) into inbox/<wave>/, as each "
        "platform's own export with its provenance; the next run (or the inbox watcher of "
        "`collab serve`) ingests them like dropped exports. API tokens are read from the "
        "environment variables or Prefect Secret blocks the programme file names, and never "
        "shown. Fetching again after late responses replaces the wave's rows of that source; "
        "an unchanged survey stores nothing new. Exit status 1 when a source could not be "
        "fetched (one line each, naming the wave, the source and what to check).",
        epilog="examples:\n"
        "  collab fetch --wave 2026-03                fetch, then `collab run --wave 2026-03`\n"
        "  collab fetch --wave 2026-03 -w my-programme\n"
        "  QUALTRICS_TOKEN=... collab fetch --wave 2026-03   a token from the environment",
        formatter_class=_RAW)
    fetch.add_argument("--wave", required=True, help="the wave whose sources are fetched")
    fetch.set_defaults(handler=run_fetch)

    report = sub.add_parser(
        "report", parents=[common], help="rebuild the report site from the tables",
        description="Build the report site again from the workspace's analysis tables "
        "(after a template change, or for an earlier wave), without ingesting or analysing.",
        epilog="examples:\n"
        "  collab report                        the latest analysed wave\n"
        "  collab report --wave 2025-09 --pdf\n"
        "  collab report --comparator peer-group  compare each collaboration with its peer group\n"
        "  collab report -w my-programme --dask",
        formatter_class=_RAW)
    report.add_argument("--wave", default=None, help="wave reported on (default: the latest)")
    report.add_argument("--comparator", choices=("programme", "peer-group"), default=None,
                        help="who each collaboration is compared with: every collaboration of "
                        "the programme, or its peer group (default: the programme file's "
                        "'comparator', else programme); a peer group with too few "
                        "collaborations falls back to the programme, and the report says so")
    _report_options(report)
    report.set_defaults(handler=run_report)

    serve = sub.add_parser(
        "serve", parents=[common], help="scheduled operation: wave runs and the inbox watcher",
        description="Start a local Prefect server and serve the workspace's deployments: a "
        "scheduled wave run (--cron), an inbox watcher that runs the pipeline when new exports "
        "arrive (every --inbox-interval seconds) and an on-demand report rebuild. Runs until "
        "interrupted (Ctrl-C).",
        epilog="examples:\n"
        "  collab serve                             dashboard at http://127.0.0.1:4200\n"
        "  collab serve --cron '0 6 1 */2 *'        wave runs every two months, 06:00\n"
        "  collab serve -w my-programme --inbox-interval 60 --port 4300\n"
        "  collab serve --cron none                 wave runs on demand only",
        formatter_class=_RAW)
    serve.add_argument("--port", type=_port, default=4200,
                       help="port of the local Prefect server (default 4200)")
    serve.add_argument("--cron", default=None, metavar="CRON",
                       help="when the wave run is scheduled, a cron expression in "
                       "Europe/London time (default: quarterly, '0 6 1 1,4,7,10 *'); "
                       "'none': on demand only")
    serve.add_argument("--inbox-interval", type=_seconds, default=300, metavar="SECONDS",
                       help="how often the inbox is checked for new exports (default 300, "
                       "at least 10)")
    serve.set_defaults(handler=run_serve)

    status = sub.add_parser(
        "status", parents=[common], help="waves, stored rows, quarantine, inbox and runs",
        description="Show the workspace: each wave of programme.yaml with its stored sources "
        "and rows read / accepted / quarantined, quarantined rows by reason, exports waiting "
        "in the inbox or failed, the report site, and the latest Prefect runs of this "
        "workspace (inbox-watcher runs that found nothing to do are counted, not listed). "
        "Only reads: the runs come from the server of a running `collab serve` for this "
        "workspace, or PREFECT_API_URL, or else the embedded server (a few seconds to start; "
        "--runs 0 skips). A read-only workspace is shown as far as it can be read.",
        epilog="examples:\n"
        "  collab status\n"
        "  collab status -w my-programme --runs 10\n"
        "  collab status --runs 0                 no Prefect runs (fast)",
        formatter_class=_RAW)
    status.add_argument("--runs", type=_count, default=5, metavar="N",
                        help="how many recent runs to list (default 5; 0: none)")
    status.set_defaults(handler=run_status)


def _report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=None,
                        help="PDF of every report (default: when Chromium is installed)")
    parser.add_argument("--dask", action="store_true",
                        help="render the collaboration reports (and, in a run, fit the "
                        "analysis's models) as Dask tasks on a local cluster of worker "
                        "processes")
    parser.add_argument("--dask-address", default=None, metavar="ADDR",
                        help="an existing Dask scheduler (implies --dask; default: the "
                        "COLLAB_DASK_ADDRESS setting)")


def bounded_int(kind: str, low: int, high: int | None = None):
    """An argparse type: a whole number from ``low`` (to ``high``), named ``kind`` in errors."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"{kind} must be {allowed}, got {value}")
        return value
    return parse


_port = bounded_int("the port", 1, 65535)
_seconds = bounded_int("the interval", 10)
_count = bounded_int("the number of runs", 0)


# --- init -------------------------------------------------------------------------------------

def run_init(args: argparse.Namespace) -> int:
    ws = init_workspace(args.folder, programme_file=args.programme)
    programme, _ = ws.load()
    for wave in programme.wave_ids:
        (ws.inbox / wave).mkdir(parents=True, exist_ok=True)
    source = (f"copied from {args.programme} (valid)" if args.programme is not None else
              f"an example ({len(programme.collaborations)} collaborations, "
              f"{len(programme.waves)} waves): edit it")
    waves = ", ".join(f"inbox/{w}/" for w in programme.wave_ids)
    here = _shown(ws.root)
    print(f"Created the workspace {ws.root}:")
    for name, what in [
        ("programme.yaml", f"the programme, {source}"),
        ("inbox/", f"drop each wave's survey exports here: {waves}"),
        ("store/", "the wave store (pseudonymised; filled by ingest)"),
        ("tables/", "analysis tables of the latest run"),
        ("reports/", "the report site (index.html)"),
        (".gitignore", "keeps secret.key, store/, inbox/ and .prefect/ out of version control"),
    ]:
        print(f"  {name:<16}{what}")
    workspace = "" if here == "." else f" -w {here}"
    print("Next steps:")
    print(f"  1. edit {_shown(ws.programme_file)} (collaborations, partners, waves) and check "
          f"it: collab programme check {_shown(ws.programme_file)}")
    print("  2. drop each wave's exports in inbox/<wave>/ (with a column mapping beside an "
          "export as <file>.mapping.yaml; propose one with: collab mapping propose FILE)")
    print(f"  3. collab run{workspace}          ingest, analyse, build the reports")
    print(f"     collab status{workspace}       what is stored, waiting, quarantined")
    return ExitCode.OK


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return str(rel)


# --- run, report -------------------------------------------------------------------------------

def _open(args: argparse.Namespace) -> Workspace:
    return Workspace.at(args.workspace).check()


def _configure_prefect(ws: Workspace) -> str:
    """Point Prefect at the workspace (before Prefect is imported): at the server of a
    ``collab serve`` running for it, if any, so that no second server opens its database;
    what the command runs on, for the console."""
    from .environment import configure

    given = os.environ.get("PREFECT_API_URL")
    home = configure(ws.root, find_server=True)
    url = os.environ.get("PREFECT_API_URL")
    if url and not given:
        return f"the Prefect server already running for this workspace ({url})"
    return f"Prefect server {url}" if url else f"embedded Prefect (home {home})"


def stored_waves(ws: Workspace) -> list[str]:
    """Waves with data in the workspace's store (none when it has no manifest yet)."""
    from .store import WaveStore

    return WaveStore(ws.store).wave_ids()


def _check_runnable(ws: Workspace, waves: list[str], wave: str | None) -> None:
    """Fail before starting a flow when it could only fail."""
    if wave is not None and wave not in waves:
        raise CollabStatsError(f"--wave {wave!r} is not a wave of {ws.programme_file} "
                               f"(waves: {', '.join(waves)})")
    files, _ = find_inbox_files(ws, waves, settle_seconds=0)  # the flow waits for copies
    stored = stored_waves(ws)
    programme, _ = ws.load()
    if any(programme.wave(w).fetched_sources for w in ([wave] if wave else waves)):
        return  # the run fetches first
    if wave is not None:
        if wave not in stored and not any(f.wave == wave for f in files):
            raise CollabStatsError(f"wave {wave!r}: nothing to analyse: no exports waiting in "
                                   f"{ws.inbox / wave}/ and none stored")
    elif not stored and not files:
        raise CollabStatsError(f"{ws.root}: nothing to analyse: no exports waiting in "
                               f"{ws.inbox}/<wave>/ and none stored")


def resolve_pdf(pdf: bool | None, n_collaborations: int = 0) -> bool:
    """``--pdf`` / ``--no-pdf`` as given; when neither, PDFs when Chromium is installed and
    the programme is not national-sized (:func:`reports.pdf.pdfs_by_default`; a note says
    how to ask for them)."""
    if pdf is not None:
        return pdf
    from reports.pdf import PDF_AUTO_LIMIT, find_chromium, pdfs_by_default

    chosen = pdfs_by_default(n_collaborations)
    if not chosen and find_chromium() is not None and n_collaborations > PDF_AUTO_LIMIT:
        _say(f"PDFs are not made by default for more than {PDF_AUTO_LIMIT} collaborations "
             f"({n_collaborations:,} here: about 1 s each on 2 cores); add --pdf for them")
    return chosen


def report_steps(n_collaborations: int, pdf: bool) -> int:
    """Steps ``build_site`` reports: one per collaboration, overview, technical, PDFs."""
    return n_collaborations + 2 + int(pdf)


def run_run(args: argparse.Namespace) -> int:
    ws = _open(args)
    programme, _ = ws.load()
    waves = list(programme.wave_ids)
    _check_runnable(ws, waves, args.wave)
    engine = _configure_prefect(ws)
    from .progress import terminal_progress

    pdf = resolve_pdf(args.pdf, len(programme.collaborations)) if args.reports else False
    dask = bool(args.dask or args.dask_address)
    target = f"wave {args.wave}" if args.wave else "the programme"
    _say(f"Running {target} on {engine}...")
    expected = {"reports": report_steps(len(programme.collaborations), pdf)}
    from .environment import start_embedded_server
    from .flows import (  # imports Prefect (and sets up its logging)
        ExportsFailed,
        run_programme,
        run_wave,
    )

    start_embedded_server(say=_say)
    started = time.time()
    from .flows import reset_stage_times, stage_times

    reset_stage_times()
    try:
        with quiet_run_errors(), terminal_progress(
                f"{target}: ingest, reliability, benchmark, reports", expected=expected):
            if args.wave is not None:
                result = run_wave(ws.root, args.wave, pdf=pdf, reports=args.reports,
                                  dask=dask, dask_address=args.dask_address)
            else:
                result = run_programme(ws.root, pdf=pdf, reports=args.reports, dask=dask,
                                       dask_address=args.dask_address, fetch=True)
    except ExportsFailed as exc:  # the run ended Failed; what it did is printed below (1)
        if exc.result is None:  # nothing stored, nothing analysed: one line (1)
            raise
        result = exc.result
    except CollabStatsError as exc:
        failed = [_shown(p) for p in _failed_since(ws, started)]
        if not failed:
            raise
        raise CollabStatsError(f"{exc} ({len(failed)} export(s) could not be ingested: "
                               f"{', '.join(failed)}; the reason is beside each, "
                               "<file>.error.txt)") from None
    print(format_run_summary(result, ws, threshold=programme.disclosure_threshold))
    print(format_stage_times(stage_times()))
    failed = [row for row in result["ingested"] if row["status"] == "failed"]
    return ExitCode.EXPORTS_FAILED if failed else ExitCode.OK


#: The stages of a run, in the order they are printed.
STAGE_ORDER = ("simulate", "fetch", "ingest", "psychometrics", "benchmark", "reports")


def format_stage_times(times: dict[str, float]) -> str:
    """One line: the seconds each stage of the run took, in stage order, and the total
    (``"Time by stage: ingest 1.2 s, psychometrics 8.0 s, ... (total 20.1 s)"``)."""
    shown = [(k, times[k]) for k in STAGE_ORDER if k in times]
    shown += [(k, v) for k, v in times.items() if k not in STAGE_ORDER]
    if not shown:
        return "Time by stage: nothing was run"
    total = sum(v for _, v in shown)
    return ("Time by stage: " + ", ".join(f"{k} {_seconds_text(v)}" for k, v in shown)
            + f" (total {_seconds_text(total)})")


def _seconds_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:02.0f} s"


def run_fetch(args: argparse.Namespace) -> int:
    ws = _open(args)
    programme, _ = ws.load()
    if args.wave not in programme.wave_ids:
        raise CollabStatsError(f"--wave {args.wave!r} is not a wave of {ws.programme_file} "
                               f"(waves: {', '.join(programme.wave_ids)})")
    sources = programme.wave(args.wave).fetched_sources
    if not sources:
        raise CollabStatsError(f"wave {args.wave}: its sources in {ws.programme_file} are the "
                               "inbox only; nothing to fetch (see the README, 'Fetching from "
                               "survey platforms')")
    engine = _configure_prefect(ws)
    _say(f"Fetching wave {args.wave} ({len(sources)} source(s)) on {engine}...")
    from .environment import start_embedded_server
    from .fetch_flow import fetch_wave  # imports Prefect
    from .progress import terminal_progress

    start_embedded_server(say=_say)
    with quiet_run_errors(), terminal_progress(f"fetch wave {args.wave}"):
        rows = fetch_wave(ws.root, args.wave)
    print(format_fetch_summary(rows, args.wave))
    return ExitCode.EXPORTS_FAILED if any(r["status"] == "failed" for r in rows) else ExitCode.OK


def format_fetch_summary(rows: list[dict], wave: str) -> str:
    """What a fetch did, one line per source (errors are already one line each)."""
    lines = [f"Wave {wave}: fetched {sum(r['status'] == 'fetched' for r in rows)} of "
             f"{len(rows)} source(s)"]
    for row in rows:
        if row["status"] == "fetched":
            count = "?" if row["responses"] is None else f"{row['responses']:,}"
            lines.append(f"  {row['source']}: {count} response(s) -> {row['file']}")
        else:
            lines.append(f"  {row['source']}: FAILED: {row['error']}")
    if any(r["status"] == "fetched" for r in rows):
        lines.append(f"Next: `collab run --wave {wave}` ingests and reports them (a running "
                     "`collab serve` picks them up by itself).")
    return "\n".join(lines)


class _DropRunErrors(logging.Filter):
    """Drops Prefect's flow- and task-run error records (they stay in Prefect's own log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR
                    and record.name.startswith(("prefect.flow_runs", "prefect.task_runs")))


@contextmanager
def quiet_run_errors() -> Iterator[None]:
    """Keep Prefect's run errors (a traceback per failed task and flow) off the console while
    a command runs flows: the command reports the outcome itself, as one line
    (:func:`pipelines.exit_codes.outcome`). Prefect still records them with the run.
    Enter it after Prefect is imported (its logging set-up replaces the console handler)."""
    handlers = list(logging.getLogger().handlers)
    quiet = _DropRunErrors()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def _failed_since(ws: Workspace, started: float) -> list[Path]:
    """Exports moved to ``inbox/failed/`` since ``started`` (a time.time()), found by the
    reason written beside each (a moved file keeps its own modification time)."""
    folder = ws.inbox / "failed"
    if not folder.is_dir():
        return []
    return sorted(p.with_name(p.name.removesuffix(".error.txt"))
                  for p in folder.rglob("*.error.txt") if p.stat().st_mtime >= started - 1)


def format_run_summary(result: dict, ws: Workspace, *, threshold: int) -> str:
    """What a wave run did, in plain text: files ingested (rows read = accepted +
    quarantined by reason), the wave's reliability headline, the collaborations with figures
    hidden by disclosure control, and where the report index is."""
    wave = result["wave"]
    lines = [f"Wave {wave}"]
    fetched = result.get("fetched") or []
    for row in fetched:
        if row["status"] == "fetched":
            count = "?" if row["responses"] is None else f"{row['responses']:,}"
            lines.append(f"Fetched {row['source']} (wave {row['wave']}): {count} response(s)")
        else:
            lines.append(f"Could not fetch {row['source']}: {row['error']}")
    ingested = result["ingested"]
    if ingested:
        lines.append(f"Ingested {len(ingested)} export(s) from the inbox:")
        width = max(len(row["file"]) for row in ingested)
        totals: Counter[str] = Counter()
        for row in ingested:
            if row["status"] == "failed":
                lines.append(f"  {row['file']:<{width}}  failed: {row['error']} (moved to "
                             f"{_shown(ws.inbox / 'failed' / row['wave'])}/)")
                continue
            totals.update(row["quarantined"])
            lines.append(f"  {row['file']:<{width}}  {row['format']}, wave {row['wave']}: "
                         f"{_rows(row['rows_read'], row['accepted'], row['quarantined'])}; "
                         f"{row['status']}")
            lines.extend(f"    warning: {w}" for w in row.get("warnings", ()))
        if len(ingested) > 1:
            read = sum(r["rows_read"] for r in ingested)
            accepted = sum(r["accepted"] for r in ingested)
            lines.append(f"  total: {_rows(read, accepted, dict(totals))}")
    else:
        lines.append("No new exports in the inbox; the stored data were analysed.")
    lines.append(_reliability_headline(result["psychometrics"], wave))
    lines.append(_disclosure_headline(result["benchmark"], wave, threshold))
    if result.get("index"):
        lines.append(f"Reports: {result['index']}")
    else:
        lines.append("Reports: not built (--no-reports); build them with: collab report")
    return "\n".join(lines)


def _rows(read: int, accepted: int, quarantined: dict[str, int]) -> str:
    held = sum(quarantined.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(quarantined.items())) or "none"
    return f"{read} rows read = {accepted} accepted + {held} quarantined ({reasons})"


def _reliability_headline(psychometrics, wave: str) -> str:
    rel = psychometrics.reliability
    rel = rel[(rel["level"] == "programme") & (rel["wave_id"].astype(str) == wave)]
    alpha = rel["alpha"].dropna()
    flags = psychometrics.flags
    n_flags = int((flags["wave_id"].astype(str) == wave).sum()) if len(flags) else 0
    if not len(alpha):
        return f"Reliability: no Cronbach's alpha for wave {wave} (too few responses)."
    low = int((alpha < 0.70).sum())
    return (f"Reliability: Cronbach's alpha {alpha.min():.2f}-{alpha.max():.2f} across "
            f"{len(alpha)} characteristics ({low} below 0.70); {n_flags} reliability "
            f"flag(s) in wave {wave}.")


def _disclosure_headline(benchmark, wave: str, threshold: int) -> str:
    summaries = benchmark.summaries
    latest = summaries[summaries["wave_id"].astype(str) == wave]
    hidden = latest["suppressed"].astype(bool)
    collabs = latest["collaboration_id"].astype(str)
    n_hidden = collabs[hidden].nunique()
    return (f"Disclosure control: {int(hidden.sum())} of {len(latest)} collaboration figures "
            f"hidden in wave {wave} ({n_hidden} of {collabs.nunique()} collaborations; fewer "
            f"than {threshold} responses).")


def analysed_waves(ws: Workspace) -> list[str]:
    """Waves with benchmark results in the workspace's tables."""
    path = ws.tables / "benchmark" / "summaries.parquet"
    if not path.is_file():
        return []
    return list(dict.fromkeys(pd.read_parquet(path, columns=["wave_id"])["wave_id"]
                              .astype(str)))


def run_report(args: argparse.Namespace) -> int:
    ws = _open(args)
    programme, _ = ws.load()
    analysed = analysed_waves(ws)
    if not analysed:
        raise CollabStatsError(f"{ws.tables}: no analysis tables yet; run the pipeline first: "
                               "collab run")
    if args.wave is not None and args.wave not in analysed:
        where = ("is not a wave of " + str(ws.programme_file)
                 if args.wave not in programme.wave_ids else "has not been analysed")
        raise CollabStatsError(f"--wave {args.wave!r} {where} (analysed waves: "
                               f"{', '.join(analysed)})")
    engine = _configure_prefect(ws)
    from .progress import terminal_progress

    pdf = resolve_pdf(args.pdf, len(programme.collaborations))
    dask = bool(args.dask or args.dask_address)
    comparator = {None: None, "programme": "all", "peer-group": "peer_group"}[args.comparator]
    _say(f"Building the reports on {engine}...")
    expected = {"reports": report_steps(len(programme.collaborations), pdf)}
    from .environment import start_embedded_server
    from .flows import rebuild_reports  # imports Prefect (and sets up its logging) first

    start_embedded_server(say=_say)
    with quiet_run_errors(), terminal_progress("reports", expected=expected):
        # through rebuild_reports, which holds the workspace lock, Dask or not
        index = rebuild_reports(ws.root, args.wave, pdf=pdf, dask=dask,
                                dask_address=args.dask_address, comparator=comparator)
    wave = args.wave or analysed[-1]
    print(f"Reports of wave {wave} ({'HTML and PDF' if pdf else 'HTML'}): {index}")
    return ExitCode.OK


# --- serve -----------------------------------------------------------------------------------

def run_serve(args: argparse.Namespace) -> int:
    ws = _open(args)
    ws.load()
    # serve_workspace points Prefect at the workspace itself (after reading the settings the
    # user gave), so configure() is not called here.
    from .serve import serve_workspace

    options = {"port": args.port, "inbox_interval": args.inbox_interval}
    if args.cron is not None:
        options["wave_cron"] = None if args.cron.lower() == "none" else args.cron
    serve_workspace(ws.root, **options)  # returns when stopped (Ctrl-C, SIGTERM)
    return ExitCode.OK


# --- status ----------------------------------------------------------------------------------

#: The inbox watcher's flow (``pipelines.flows.watch_inbox``): every few minutes, mostly idle.
WATCHER_FLOW = "watch-inbox"
#: How the watcher says it did nothing (its result's ``status``, or its state's message).
IDLE_WATCHER_STATUSES = ("nothing new", "skipped", "waiting for")
#: At most this many Prefect runs are read for one list (per query), and this many idle
#: watcher runs are counted (beyond, the count says "more than").
RUNS_READ_LIMIT = 200
IDLE_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class RecentRuns:
    """The latest Prefect runs of a workspace, as ``collab status`` lists them.

    ``runs``: newest first (name, flow, state, message, start, seconds). ``hidden``: idle
    inbox-watcher runs left out (:func:`idle_watcher_run`; ``hidden_more``: at least that
    many, only so many were counted; ``windowed``: among the runs listed, i.e. newer than
    the oldest listed). ``source``: where they were read.
    ``problem``: what to print instead when they could not be read (``runs`` is empty)."""

    runs: list[dict] = field(default_factory=list)
    hidden: int = 0
    hidden_more: bool = False
    source: str = ""
    problem: str | None = None
    #: True when ``hidden`` counts only the idle runs newer than the oldest listed (the
    #: list is full); False when it counts all of them.
    windowed: bool = False


@dataclass(frozen=True)
class WorkspaceStatus:
    """What ``collab status`` shows (see :func:`workspace_status`)."""

    root: Path
    programme: str
    waves: pd.DataFrame
    quarantine: pd.DataFrame
    unplaced: list[tuple[Path, str]] = field(default_factory=list)
    report_index: Path | None = None
    runs: RecentRuns | None = None
    store_problem: str | None = None


def workspace_status(ws: Workspace) -> WorkspaceStatus:
    """Waves of the programme with stored sources and rows, quarantine counts by wave and
    reason, inbox files waiting and failed per wave, the report index if built.

    Only reads. A store that cannot be opened (a read-only workspace: the store takes its
    lock for writing) is reported in ``store_problem``, the rest is shown."""
    programme, _ = ws.load()
    waves = list(programme.wave_ids)
    table = pd.DataFrame({"wave_id": waves,
                          "instrument": [w.instrument_version for w in programme.waves]})
    empty = pd.DataFrame({"wave_id": pd.Series(dtype=str), "reason": pd.Series(dtype=str),
                          "rows": pd.Series(dtype="int64")})
    stored = pd.DataFrame({"wave_id": pd.Series(dtype=str)})
    quarantine = empty
    store_problem = None
    if (ws.store / "manifest.json").exists():
        try:
            stored, counts = _read_store(ws)
        except OSError as exc:
            if exc.errno not in _READ_ONLY:
                raise
            store_problem = _read_only_text(exc, "the wave store")
        else:
            if len(counts):
                quarantine = (counts.astype({"wave_id": str, "reason": str})
                              .groupby(["wave_id", "reason"], sort=False)["rows"].sum()
                              .reset_index())
    columns = ["n_sources", "rows_read", "rows_accepted", "rows_quarantined"]
    table = table.merge(stored.reindex(columns=["wave_id", *columns]), on="wave_id",
                        how="left")
    table[columns] = table[columns].fillna(0).astype("int64")
    files, unplaced = find_inbox_files(ws, waves)
    waiting = Counter(f.wave for f in files)
    failed = Counter(_failed_exports(ws))
    table["waiting"] = [waiting.get(w, 0) for w in waves]
    table["failed"] = [failed.get(w, 0) for w in waves]
    index = ws.reports / "index.html"
    order = {w: i for i, w in enumerate(waves)}
    quarantine = (quarantine.assign(_order=quarantine["wave_id"].map(order))
                  .sort_values(["_order", "rows"], ascending=[True, False])
                  .drop(columns="_order").reset_index(drop=True))
    return WorkspaceStatus(root=ws.root, programme=f"{programme.name}; id {programme.id}; "
                           f"{len(programme.collaborations)} collaborations, {len(waves)} waves",
                           waves=table, quarantine=quarantine, unplaced=unplaced,
                           report_index=index if index.is_file() else None,
                           store_problem=store_problem)


#: errno values of "this cannot be written here": read-only file system, no permission.
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def _read_store(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's counts per wave and its quarantine counts."""
    from .store import WaveStore

    store = WaveStore(ws.store)
    return store.status().astype({"wave_id": str}), store.ingest_tables()["quarantine"]


def _read_only_text(exc: OSError, what: str) -> str:
    path = exc.filename or ""
    reason = exc.strerror or type(exc).__name__
    return f"{what} cannot be read without writing, and {path or 'it'} cannot be written: {reason}"


def _failed_exports(ws: Workspace) -> list[str]:
    """The wave folder of every export in ``inbox/failed/`` (``""`` when not in a wave's)."""
    folder = ws.inbox / "failed"
    if not folder.is_dir():
        return []
    return [(path.relative_to(folder).parts[0] if path.parent != folder else "")
            for path in folder.rglob("*")
            if path.is_file() and path.suffix.lower() in EXPORT_SUFFIXES
            and not path.name.endswith(".error.txt")]


def idle_watcher_run(run: dict) -> bool:
    """True for an inbox-watcher run that did nothing: a Completed run of
    :data:`WATCHER_FLOW` that started no pipeline run (``started_work`` False: no subflow)
    or whose message or result status says so (:data:`IDLE_WATCHER_STATUSES`: "nothing
    new", "skipped: another run is processing the inbox", "waiting for N file(s) still
    being written"). A watcher run that failed, crashed or is still running never is."""
    if run.get("flow") != WATCHER_FLOW or run.get("state") != "Completed":
        return False
    started_work = run.get("started_work")
    if started_work:
        return False
    said = str(run.get("message") or run.get("status") or "").strip().lower()
    return started_work is False or said.startswith(IDLE_WATCHER_STATUSES)


def hide_idle_watcher_runs(runs: list[dict], limit: int) -> tuple[list[dict], int]:
    """The latest ``limit`` runs that are not idle watcher runs (:func:`idle_watcher_run`),
    newest first, and how many idle watcher runs were left out among them: those newer
    than the oldest run listed (all of them when fewer than ``limit`` are listed).

    ``runs``: dicts with at least ``start`` (a datetime, or None: sorted last)."""
    def newest_first(run: dict):
        start = run.get("start")
        return (start is not None, start.timestamp() if start is not None else 0.0)

    ordered = sorted(runs, key=newest_first, reverse=True)
    shown = [run for run in ordered if not idle_watcher_run(run)][:max(limit, 0)]
    idle = [run for run in ordered if idle_watcher_run(run)]
    if len(shown) == limit and shown:
        oldest = newest_first(shown[-1])
        idle = [run for run in idle if newest_first(run) > oldest]
    return shown, len(idle)


def recent_runs(ws: Workspace, limit: int) -> RecentRuns:
    """The latest ``limit`` top-level Prefect flow runs of this workspace (newest first),
    without the idle inbox-watcher runs (counted instead: :func:`hide_idle_watcher_runs`).

    Runs are matched on their ``workspace`` parameter, so a shared Prefect server holding
    several workspaces' runs gives this workspace's only. Only reads: the server is the one
    ``PREFECT_API_URL`` names, else a server already running for the workspace's Prefect
    home (``collab serve``: :func:`pipelines.environment.running_server`), else the
    embedded one, started only when the workspace's database exists and can be written
    (SQLite opens it for writing); otherwise ``problem`` says why nothing was read."""
    if limit <= 0:
        return RecentRuns()
    from contextlib import nullcontext

    from .environment import configure, running_server

    home = configure(ws.root, create=False)  # writes nothing: the home is not created
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    url = get_current_settings().api.url or running_server(home)
    found = url and url != get_current_settings().api.url
    with temporary_settings(updates={PREFECT_API_URL: url}) if found else nullcontext():
        source = f"the Prefect server at {url}" if url else f"the embedded server (home {home})"
        try:
            if not _database_may_hold_runs():
                return RecentRuns(source=source)
            problem = None if url else _database_not_writable()
            if problem:
                return RecentRuns(source=source, problem=problem)
            if not url:
                from .environment import start_embedded_server

                start_embedded_server(say=_say)
            runs = _read_runs(ws, limit)
        except Exception as exc:  # any failure to read the runs is reported, not raised
            from .exit_codes import one_line

            reason = f"{type(exc).__name__}: {one_line(str(exc))}".rstrip(": ")
            return RecentRuns(source=source, problem="no runs recorded yet, as far as could "
                                                     f"be read ({reason})")
    shown, hidden = hide_idle_watcher_runs(runs.runs, limit)
    return RecentRuns(runs=shown, hidden=hidden, hidden_more=runs.hidden_more, source=source,
                      windowed=len(shown) == limit)


def _read_runs(ws: Workspace, limit: int) -> RecentRuns:
    """This workspace's top-level runs from the current Prefect API: the latest of every
    flow but the watcher, the watcher runs that started a pipeline run (a subflow) or did
    not complete, and the idle watcher runs newer than the oldest of those listed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterParentTaskRunId,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        TaskRunFilter,
        TaskRunFilterSubFlowRuns,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    def top_level(state: FlowRunFilterState | None = None, **start) -> FlowRunFilter:
        """Top-level runs that started (``start``: the start time's criteria)."""
        criteria = {"state": state} if state is not None else {}
        return FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
                             start_time=FlowRunFilterStartTime(is_null_=False, **start),
                             **criteria)

    def rows(found, flows, started_work=None) -> list[dict]:
        out = []
        for run in found:
            folder = run.parameters.get("workspace", run.parameters.get("output_dir"))
            if same_workspace(folder, ws.root):
                out.append({"id": run.id, "name": run.name, "flow": flows.get(run.flow_id, ""),
                            "state": run.state.name if run.state else "Unknown",
                            "message": run.state.message if run.state else None,
                            "start": run.start_time,
                            "seconds": run.total_run_time.total_seconds(),
                            "started_work": started_work})
        return out

    newest = FlowRunSort.START_TIME_DESC
    watcher = FlowFilter(name=FlowFilterName(any_=[WATCHER_FLOW]))
    with get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows(limit=RUNS_READ_LIMIT)}
        others = sorted({name for name in flows.values() if name != WATCHER_FLOW})
        runs = []
        if others:
            runs += rows(client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=others)),
                flow_run_filter=top_level(), sort=newest, limit=RUNS_READ_LIMIT), flows)
        if WATCHER_FLOW not in flows.values():
            return RecentRuns(runs=runs)
        runs += rows(client.read_flow_runs(
            flow_filter=watcher, flow_run_filter=top_level(), sort=newest,
            task_run_filter=TaskRunFilter(subflow_runs=TaskRunFilterSubFlowRuns(exists_=True)),
            limit=RUNS_READ_LIMIT), flows, started_work=True)
        unfinished = top_level(FlowRunFilterState(type=FlowRunFilterStateType(
            not_any_=[StateType.COMPLETED])))
        runs += rows(client.read_flow_runs(flow_filter=watcher, flow_run_filter=unfinished,
                                           sort=newest, limit=RUNS_READ_LIMIT), flows)
        runs = list({run["id"]: run for run in reversed(runs)}.values())  # first wins
        shown, _ = hide_idle_watcher_runs(runs, limit)
        since = shown[-1]["start"] if len(shown) == limit and shown[-1]["start"] else None
        window = top_level(after_=since) if since else top_level()
        known = {run["id"] for run in runs}
        idle: list[dict] = []
        read = 0
        while read < IDLE_COUNT_LIMIT:
            page = client.read_flow_runs(flow_filter=watcher, flow_run_filter=window,
                                         sort=newest, limit=RUNS_READ_LIMIT, offset=read)
            read += len(page)
            idle += [run for run in rows(page, flows, started_work=False)
                     if run["id"] not in known]
            if len(page) < RUNS_READ_LIMIT:
                break
        else:
            return RecentRuns(runs=runs + idle, hidden_more=True)
    return RecentRuns(runs=runs + idle)


def _database_may_hold_runs() -> bool:
    """False when Prefect would use a local SQLite database that does not exist yet (so no
    server is started just to find nothing)."""
    path = _local_database()
    return path is None or path == Path(":memory:") or path.exists()


def _local_database() -> Path | None:
    """The SQLite file of Prefect's database when no server is given, else None."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url:
        return None
    url = settings.server.database.connection_url
    url = url.get_secret_value() if url is not None else ""
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1].split("?", 1)[0]
        return Path(path or ":memory:")
    return None


def _database_not_writable() -> str | None:
    """Why the embedded server cannot open the local database (SQLite opens it, its journal
    and its shared-memory index for writing, even to read), or None."""
    path = _local_database()
    if path is None or path == Path(":memory:") or not path.exists():
        return None
    for target in (path.parent, path):
        if not os.access(target, os.W_OK):
            return (f"not read: Prefect's database {path} cannot be written here ({target} "
                    "is read-only to this user or on a read-only file system) and the "
                    "embedded server opens it for writing, even to read. Run `collab "
                    "status` while `collab serve` runs for this workspace (its runs are then "
                    "read from its server), or where the workspace can be written")
    return None


def format_status(status: WorkspaceStatus) -> str:
    """``collab status`` as plain text."""
    lines = [f"Workspace {status.root}", f"  {status.programme}", ""]
    header = (f"{'wave':<12}{'instrument':>10}{'sources':>9}{'rows read':>11}{'accepted':>10}"
              f"{'quarantined':>13}{'waiting':>9}{'failed':>8}")
    lines += [header, "-" * len(header)]
    for row in status.waves.itertuples(index=False):
        stored = row.n_sources > 0
        unknown = "?" if status.store_problem else "-"
        lines.append(
            f"{row.wave_id:<12}{row.instrument:>10}"
            f"{(row.n_sources if not status.store_problem else unknown):>9}"
            f"{(row.rows_read if stored else unknown):>11}"
            f"{(row.rows_accepted if stored else unknown):>10}"
            f"{(row.rows_quarantined if stored else unknown):>13}{row.waiting:>9}"
            f"{row.failed:>8}")
    lines.append("(sources: exports stored; waiting: exports in the inbox not yet ingested; "
                 "failed: in inbox/failed/ with the reason)")
    if status.store_problem:
        lines.append(f"Stored data not read (?): {status.store_problem}")
    lines.append("")
    if len(status.quarantine):
        lines.append("Quarantined rows by reason:")
        for wave, group in status.quarantine.groupby("wave_id", sort=False):
            lines.append(f"  {wave:<12}" + ", ".join(
                f"{r.reason} {r.rows}" for r in group.itertuples(index=False)))
    else:
        lines.append("Quarantined rows: not read (?)." if status.store_problem
                     else "Quarantined rows: none.")
    for path, reason in status.unplaced:
        lines.append(f"Inbox file not picked up: {_shown(path)}: {reason}")
    lines.append("")
    lines.append(f"Reports: {status.report_index}" if status.report_index
                 else "Reports: not built yet (collab run)")
    lines += _format_runs(status.runs)
    return "\n".join(lines)


def _format_runs(recent: RecentRuns | None) -> list[str]:
    if recent is None:
        return []
    if recent.problem:
        return [f"Recent runs (Prefect): {recent.problem}"]
    if not recent.runs and not recent.hidden:
        return ["Recent runs (Prefect): no runs recorded yet"]
    lines = ["Recent runs (Prefect):"]
    for run in recent.runs:
        lines.append(f"  {run['name']:<24} {run['state']:<10} {_when(run['start'])}"
                     f"  {run['seconds']:.0f} s")
    if recent.hidden:
        count = f"more than {recent.hidden}" if recent.hidden_more else str(recent.hidden)
        since = " since the oldest listed" if recent.windowed and recent.runs else ""
        lines.append(f"  ({count} inbox-watcher run(s) that found nothing to do{since} not "
                     "listed)")
    if recent.source:
        lines.append(f"  (read from {recent.source})")
    return lines


def _when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def run_status(args: argparse.Namespace) -> int:
    from dataclasses import replace

    ws = _open(args)
    status = workspace_status(ws)
    runs = None
    if args.runs:
        from .progress import terminal_progress

        with terminal_progress("reading Prefect's runs"):
            runs = recent_runs(ws, args.runs)
    print(format_status(replace(status, runs=runs)))
    return ExitCode.OK


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
