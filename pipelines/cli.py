"""The ``collab`` command line.

Every command ends with the exit status of :mod:`pipelines.exit_codes` (0 done, 1 some exports
could not be ingested, 2 error, 3 internal error, 130 interrupted). Errors that collab-stats
raises on purpose (bad files, invalid definitions) and operating-system errors (a folder that
cannot be written) are printed as one line without a traceback; an unexpected exception is
printed as one line too, with its traceback only when ``COLLAB_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from collab_stats import __version__

from . import cli_workspace, ingest_cli
from .cli_workspace import ExamplesFormatter
from .exit_codes import HELP, SHORT_HELP, ExitCode, debugging, one_line, outcome

EXAMPLES = """\
examples:
  collab demo                              simulate the demo programme and run the pipeline
  collab demo --collaborations 200 --seed 7 --output /tmp/demo
  collab init my-programme                 a new workspace (programme.yaml, inbox/, ...)
  collab run -w my-programme               ingest the inbox, analyse, build the reports
  collab run --wave 2026-03 --no-pdf       one wave (in the current workspace)
  collab status                            waves, stored rows, quarantine, inbox, runs
  collab report --wave 2025-09             rebuild the report site from the tables
  collab serve --cron '0 6 1 1,4,7,10 *'   scheduled runs and the inbox watcher
  collab instrument check                  validate the bundled instrument
  collab programme check programme.yaml    validate a programme definition
  collab mapping propose wave3.csv         propose a column mapping to check and edit
  collab ingest wave3.csv --wave 2026-03 --mapping wave3.csv.mapping.yaml

Run `collab COMMAND --help` for a command's options and examples. Errors print one line
on stderr (collab: error: ...).

""" + HELP


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one line, like every other error (exit status 2)."""

    def error(self, message: str):
        self.exit(int(ExitCode.ERROR),
                  f"{self.prog}: error: {one_line(message)} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="collab",
        description="collab-stats: survey analytics for partnerships in health, care and "
        "public services.",
        epilog=EXAMPLES,
        formatter_class=ExamplesFormatter,
    )
    parser.add_argument("--version", action="version", version=f"collab-stats {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo", help="simulate a programme and run the pipeline on it",
        description="Simulate a programme of collaborations surveyed over several waves (with "
        "known true values), run it through the pipeline on the embedded Prefect server, and "
        "print a summary. Needs no server or data of your own.",
        epilog="examples:\n  collab demo\n  collab demo --collaborations 8 --waves 2 "
        "--output /tmp/small-demo",
        formatter_class=_ExamplesAndDefaults,
    )
    demo.add_argument("--output", type=Path, default=Path("demo-output"),
                      help="folder for the demo's files")
    demo.add_argument("--collaborations", type=_positive, default=40,
                      help="number of collaborations")
    demo.add_argument("--waves", type=_positive, default=4, help="number of survey waves")
    demo.add_argument("--seed", type=int, default=2025, help="random seed (same seed, same data)")
    cli_workspace.add_parsers(sub)

    instrument = sub.add_parser("instrument", help="work with survey instruments")
    isub = instrument.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = isub.add_parser(
        "check", help="validate an instrument folder and list its versions",
        description="Validate every file of an instrument folder (framework, versions, "
        "mappings) and report every problem at once.",
        epilog="examples:\n  collab instrument check\n  collab instrument check "
        "instruments/my-survey",
        formatter_class=ExamplesFormatter,
    )
    check.add_argument("folder", nargs="?", type=Path, default=None,
                       help="instrument folder (default: the bundled collaboration indicators)")

    ingest_cli.add_parsers(sub)

    programme = sub.add_parser("programme", help="work with programme definitions")
    psub = programme.add_subparsers(dest="action", metavar="ACTION", required=True)
    pcheck = psub.add_parser(
        "check", help="validate a programme definition file",
        description="Validate a programme definition against the instrument and report every "
        "problem at once.",
        epilog="example:\n  collab programme check programme.yaml",
        formatter_class=ExamplesFormatter,
    )
    pcheck.add_argument("file", type=Path, help="programme YAML file")
    pcheck.add_argument("--instrument", type=Path, default=None,
                        help="instrument folder to check against (default: the bundled one)")
    _add_exit_status(parser)
    return parser


def _add_exit_status(parser: argparse.ArgumentParser) -> None:
    """End the help of every sub-command with the exit status line."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases: once
                if not any(isinstance(a, argparse._SubParsersAction) for a in command._actions):
                    command.epilog = (command.epilog or "").rstrip("\n") + "\n" + SHORT_HELP
                _add_exit_status(command)


class _ExamplesAndDefaults(ExamplesFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Examples kept as written, and each option's default shown."""


_positive = cli_workspace.bounded_int("the value", 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``collab`` with ``argv``; the exit status (:class:`~pipelines.exit_codes.ExitCode`).

    Usage errors exit 2 through ``SystemExit`` (argparse); ``--help`` and ``--version`` 0.
    SIGTERM is handled as Ctrl-C (130), so that the command stops what it started (the
    embedded Prefect server, worker processes) before it exits."""
    args = build_parser().parse_args(argv)
    try:
        with _sigterm_as_interrupt():
            return int(_dispatch(args))
    except (Exception, KeyboardInterrupt) as exc:
        return _fail(exc)
    except BaseException as exc:  # Prefect's TerminationSignal (SIGTERM inside a flow run)
        code, _ = outcome(exc)
        if code != ExitCode.INTERRUPTED:
            raise
        return _fail(exc)


def _fail(exc: BaseException) -> int:
    code, line = outcome(exc)
    if debugging() and code != ExitCode.INTERRUPTED:
        traceback.print_exc()
    print(line, file=sys.stderr)
    return int(code)


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while a command runs (in the main thread only)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. called from a test runner's thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    if hasattr(args, "handler"):
        return args.handler(args)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "instrument":
        return check_instrument(args)
    if args.command == "programme":
        return check_programme(args)
    if args.command == "ingest":
        from .ingest_cli import run_ingest

        return run_ingest(args)
    if args.command == "mapping":
        from .ingest_cli import run_propose

        return run_propose(args)
    return ExitCode.OK  # pragma: no cover - argparse requires a command


def check_instrument(args: argparse.Namespace) -> int:
    from collab_stats import load_instrument_family

    family = load_instrument_family(args.folder)
    fw = family.framework
    print(f"{family.id}: valid. {len(fw.characteristics)} characteristics, "
          f"{len(fw.indicators)} indicators, {len(fw.value_modes)} ways of creating value.")
    for version in family.versions:
        reverse = sum(i.reverse for i in version.items)
        print(f"  version {version.version}: {len(version.items)} items "
              f"({reverse} reverse-keyed), released {version.released}")
    for mapping in family.mappings:
        pairs = mapping.comparable_pairs()
        print(f"  {mapping.from_version} -> {mapping.to_version}: {len(pairs)} items comparable "
              f"over time; " + ", ".join(
                  f"{e.relation} {e.source or '(new)'} -> {' + '.join(e.targets) or '(none)'}"
                  for e in mapping.entries if e.relation != "identical"))
    return ExitCode.OK


def check_programme(args: argparse.Namespace) -> int:
    from collab_stats import load_instrument_family, load_programme

    family = load_instrument_family(args.instrument)
    programme = load_programme(args.file, instrument=family)
    partners = sum(len(c.partners) for c in programme.collaborations)
    print(f"{args.file}: valid. Programme {programme.id!r}: {len(programme.collaborations)} "
          f"collaborations, {partners} partner organisations, {len(programme.waves)} waves "
          f"({', '.join(w.id for w in programme.waves)}).")
    return ExitCode.OK


def run_demo(args: argparse.Namespace) -> int:
    from .environment import configure

    output = args.output
    output.mkdir(parents=True, exist_ok=True)  # a path that cannot be a folder: one line, now
    home = configure(output)
    _say(f"Embedded Prefect (home {home}); starting a temporary local server...")
    started = time.perf_counter()
    from . import progress
    from .cli_workspace import quiet_run_errors, report_steps, resolve_pdf
    from .environment import start_embedded_server
    from .flows import ExportsFailed, run_programme
    from .simulate_flow import simulate_programme_flow

    start_embedded_server(say=_say)
    pdf = resolve_pdf(None, args.collaborations)
    from .flows import reset_stage_times, stage_times

    reset_stage_times()
    with quiet_run_errors(), progress.terminal_progress(
            "simulating the programme",
            expected={"reports": report_steps(args.collaborations, pdf)}):
        simulating = time.perf_counter()
        result = simulate_programme_flow(output_dir=output, seed=args.seed,
                                         n_collaborations=args.collaborations,
                                         n_waves=args.waves)
        simulated = time.perf_counter() - simulating
        _say("Simulated; the exports wait in the inbox. Running the programme: ingest each "
             "wave, check the instrument, benchmark, build the reports...")
        progress.stage("ingest, reliability, benchmark, reports")
        try:
            run = run_programme(output, pdf=pdf)
        except ExportsFailed as exc:  # the run ended Failed; what it did is printed below
            if exc.result is None:
                raise
            run = exc.result
    ingested = run["ingested"]
    analysis = {"psychometrics": run["psychometrics"], "benchmark": run["benchmark"],
                "files": sorted((output / "tables").rglob("*.parquet"))}
    from reports.site import SiteResult

    site_folder = output / "reports"
    site = SiteResult(folder=site_folder, html=sorted(site_folder.rglob("*.html")),
                      pdf=sorted((site_folder / "pdf").glob("*.pdf")),
                      downloads=sorted((site_folder / "downloads").rglob("*.*")))
    programme = result["programme"]
    summary = result["summary"]
    regions = len({c.region for c in programme.collaborations})
    partners = sum(len(c.partners) for c in programme.collaborations)
    print()
    print(f"Simulated programme: {programme.name}")
    print(f"  {len(programme.collaborations)} collaborations in {regions} regions, "
          f"{len(programme.peer_groups)} peer groups, {partners} partner organisations")
    print(f"  {len(programme.waves)} waves: " + ", ".join(
        f"{w.id} (instrument {w.instrument_version})" for w in programme.waves))
    print()
    print(format_summary(summary))
    print()
    print("Ingested (each wave exported in another platform's layout, then read back):")
    for row in ingested:
        held = sum(row["quarantined"].values())
        print(f"  {row['file']:<34} {row['format']:<16} {row['rows_read']:>5} rows = "
              f"{row['accepted']} accepted + {held} quarantined "
              f"({', '.join(f'{k} {v}' for k, v in row['quarantined'].items()) or 'none'}); "
              f"{row['status']}")
        for warning in row.get("warnings", ()):
            print(f"    warning: {warning}")
    print()
    print(format_analysis(analysis["psychometrics"], analysis["benchmark"]))
    print()
    n_files = len(result["files"]) + len(analysis["files"])
    print(f"Written to {output}/: programme.yaml, simulated/ (truth), inbox/processed/ (the "
          f"exports, one platform per wave), store/ (the wave store), tables/ ({n_files} files), reports/ "
          f"({len(site.html)} HTML reports, {len(site.pdf)} PDF, {len(site.downloads)} "
          f"downloads) in {time.perf_counter() - started:.1f} s.")
    from .cli_workspace import format_stage_times

    print(format_stage_times({"simulate": simulated, **stage_times()}))
    print()
    print(f"Open the reports: {site.index.resolve().as_uri()}")
    failed = any(row["status"] == "failed" for row in ingested)
    return ExitCode.EXPORTS_FAILED if failed else ExitCode.OK


def format_summary(summary) -> str:
    """A plain-text table of :func:`collab_stats.summary.response_summary` (rounded here)."""
    header = (f"{'wave':<9}{'collabs':>8}{'respondents':>12}{'completed':>10}{'panel':>7}"
              f"{'per collab':>13}{'answered':>10}{'dont know':>10}{'missing':>9}")
    lines = [header, "-" * len(header)]
    for row in summary.itertuples(index=False):
        missing = row.not_applicable + row.skipped + row.not_reached
        per = f"{row.respondents_min}-{row.respondents_max}"
        lines.append(
            f"{row.wave_id:<9}{row.collaborations:>8}{row.respondents:>12}{row.completed:>10}"
            f"{row.panel_respondents:>7}{per:>13}{_pct(row.answered, row.item_rows):>10}"
            f"{_pct(row.dont_know, row.item_rows):>10}{_pct(missing, row.item_rows):>9}"
        )
    return "\n".join(lines)


def format_analysis(psychometrics, benchmark) -> str:
    """Headline findings of the psychometrics and benchmark tables, in plain text."""
    rel = psychometrics.reliability
    programme_rel = rel[rel["level"] == "programme"]
    low = programme_rel[programme_rel["alpha"] < 0.70]
    lines = [
        "Instrument: Cronbach's alpha per wave and characteristic "
        f"{programme_rel['alpha'].min():.2f}-{programme_rel['alpha'].max():.2f}"
        f" ({len(low)} of {len(programme_rel)} below 0.70).",
    ]
    fits = psychometrics.factor_structure
    if len(fits):
        eight = fits[fits["model"] == "eight_factor"]
        lines.append(f"Eight-factor model: CFI {eight['cfi'].min():.2f}-{eight['cfi'].max():.2f}, "
                     f"RMSEA {eight['rmsea'].min():.3f}-{eight['rmsea'].max():.3f} across waves.")
    lines.append(f"Over time: {psychometrics.invariance_verdict}")
    agg = psychometrics.aggregation
    justified = agg["verdict"].str.startswith("Justified").sum()
    lines.append(f"Collaboration means justified (ICC, rwg) in {justified} of {len(agg)} "
                 "wave x characteristic cells.")
    verdicts = benchmark.verdicts
    if len(verdicts):
        latest = verdicts["wave_id"].astype(str) == str(
            list(psychometrics.reliability["wave_id"])[-1])
        last = verdicts[latest & (verdicts["comparator"] == "all")]
        counts = last["verdict"].value_counts()
        if counts.sum():
            lines.append(f"Latest wave against the programme: {counts.get('higher', 0)} higher, "
                         f"{counts.get('in line', 0)} in line, {counts.get('lower', 0)} lower "
                         "(collaboration x characteristic, 95% interval against the peer "
                         "median).")
        else:
            lines.append("Latest wave against the programme: not compared (fewer than 5 "
                         "collaborations with enough responses).")
        change = verdicts[verdicts["comparator_kind"] == "change"]["verdict"].value_counts()
        lines.append(f"Change between waves: {change.get('improved', 0)} improved, "
                     f"{change.get('declined', 0)} declined, "
                     f"{change.get('no clear change', 0)} no clear change.")
    hidden = benchmark.summaries["suppressed"].sum()
    lines.append(f"Disclosure control: {hidden} of {len(benchmark.summaries)} collaboration "
                 f"figures hidden (fewer than {benchmark.threshold} responses).")
    return "\n".join(lines)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
