"""``collab ingest`` and ``collab mapping propose``: survey exports into the wave store.

Thin: reading, mapping, converting and validating are the library's
(:mod:`collab_stats.ingest`); this module chooses files, the store and the secret, and prints
what happened.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from contextlib import nullcontext
from pathlib import Path

from collab_stats import load_instrument_family, load_programme
from collab_stats.errors import CollabStatsError, IngestError
from collab_stats.ingest.convert import convert_export
from collab_stats.ingest.detect import detect_format, read_export
from collab_stats.ingest.mapping import dump_mapping, load_mapping, propose_mapping
from collab_stats.ingest.pseudonym import create_secret, load_secret
from collab_stats.ingest.raw import FORMATS
from collab_stats.ingest.textio import summarise_names

from .cli_workspace import ExamplesFormatter
from .exit_codes import ExitCode
from .files import write_text_atomic
from .store import DUPLICATE_REASON, WaveStore
from .workspace import Workspace, dictionary_beside, mapping_beside

#: Below this confidence a proposed mapping is not used without a person checking it.
AUTO_CONFIDENCE = 0.85


def add_parsers(sub) -> None:
    ingest = sub.add_parser(
        "ingest", help="read survey exports of a wave into the store",
        description="Read one or more exports of a wave (format detected from content), map "
        "their columns to the instrument, validate, quarantine rejected rows with reasons, "
        "pseudonymise respondents and store the result. Personal data (names, e-mail, IP "
        "addresses, locations) are dropped and never stored. The same file twice is a no-op; "
        "a corrected re-export (same file name) replaces the earlier one. Without --mapping "
        "(--dictionary), an export's mapping <file>.mapping.yaml (a REDCap export's "
        "*dictionary*.csv) beside it is used, as in the inbox and inbox/processed/<wave>/.",
        epilog="examples:\n"
        "  collab ingest wave3.csv --wave 2026-03 --mapping wave3.mapping.yaml   (in a "
        "workspace)\n"
        "  collab ingest wave3.csv --wave 2026-03 -w my-programme\n"
        "  collab ingest inbox/processed/2026-03/wave3.csv --wave 2026-03   (again, with the "
        "mapping beside it)\n"
        "  collab ingest wave3.csv --wave 2026-03 --programme programme.yaml --store store "
        "--secret secret.key",
        formatter_class=ExamplesFormatter,
    )
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--wave", required=True, help="wave id in the programme")
    ingest.add_argument("-w", "--workspace", type=Path, default=None, metavar="DIR",
                        help="a workspace (collab init): its programme.yaml, store/ and "
                        "secret.key are the defaults below (default: the current folder)")
    ingest.add_argument("--programme", type=Path, default=None,
                        help="programme definition (default: programme.yaml)")
    ingest.add_argument("--format", choices=FORMATS, default=None,
                        help="override the detected format")
    ingest.add_argument("--mapping", type=Path, default=None,
                        help="column mapping (default: FILE.mapping.yaml beside the export; "
                        "without one, the proposal, if every column matches with confidence "
                        f">= {AUTO_CONFIDENCE})")
    ingest.add_argument("--dictionary", type=Path, default=None,
                        help="REDCap data dictionary for a REDCap export (default: a "
                        "*dictionary*.csv beside it, one named after the wave first)")
    ingest.add_argument("--store", type=Path, default=None,
                        help="wave store folder (default: store)")
    ingest.add_argument("--secret", type=Path, default=None,
                        help="pseudonymisation key, kept outside the store (created if absent; "
                        "default: secret.key)")
    ingest.add_argument("--instrument", type=Path, default=None, help="instrument folder")
    ingest.add_argument("--min-completion", type=float, default=0.5,
                        help="share of items an unfinished response must answer")

    mapping = sub.add_parser("mapping", help="column mappings for exports")
    msub = mapping.add_subparsers(dest="action", metavar="ACTION", required=True)
    propose = msub.add_parser(
        "propose", help="propose a mapping for an export, to check and edit",
        description="Match the export's question texts to the instrument's items and profile "
        "questions, and write the proposal as YAML with a confidence for every column.",
        epilog="example:\n  collab mapping propose wave3.csv -o wave3.mapping.yaml",
        formatter_class=ExamplesFormatter,
    )
    propose.add_argument("file", type=Path, metavar="FILE")
    propose.add_argument("-o", "--output", type=Path, default=None,
                         help="where to write the mapping (default: FILE.mapping.yaml)")
    propose.add_argument("--format", choices=FORMATS, default=None)
    propose.add_argument("--dictionary", type=Path, default=None)
    propose.add_argument("--programme", type=Path, default=None)
    propose.add_argument("--instrument", type=Path, default=None)


def _read(path: Path, fmt: str | None, dictionary: Path | None, *, wave: str | None = None):
    """Read an export. A REDCap export uses ``dictionary``, or (with ``wave``) the dictionary
    beside it; another format with ``--dictionary`` given is an error."""
    fmt = fmt or detect_format(path)
    if fmt != "redcap":
        if dictionary is not None:
            raise CollabStatsError(f"{path}: --dictionary is for a REDCap export, and this is "
                                   f"a {fmt} export")
        return read_export(path, format=fmt)
    if dictionary is None and wave is not None:
        dictionary = dictionary_beside(path, wave)
    options = {"dictionary": dictionary} if dictionary is not None else {}
    return read_export(path, format=fmt, **options)


def run_propose(args: argparse.Namespace) -> int:
    family = load_instrument_family(args.instrument)
    programme = load_programme(args.programme, instrument=family) if args.programme else None
    raw = _read(args.file, args.format, args.dictionary)
    proposal = propose_mapping(raw, family, programme)
    output = args.output or args.file.with_name(args.file.name + ".mapping.yaml")
    write_text_atomic(output, dump_mapping(proposal.mapping))
    table = proposal.table
    print(f"{args.file}: {raw.format} ({raw.variant}), {raw.n_rows} responses, "
          f"instrument version {proposal.version}")
    for row in table.itertuples(index=False):
        flag = "  CHECK" if row.confidence < AUTO_CONFIDENCE and row.target != "drop" else ""
        print(f"  {str(row.header)[:60]:<60} -> {row.target:<28} {row.confidence:4.2f}{flag}")
    if proposal.unmatched:
        print(f"  unmatched ({len(proposal.unmatched):,}): {summarise_names(proposal.unmatched)}")
    for note in proposal.notes:
        print(f"  note: {note}")
    print(f"Mapping written to {output}: check it, then: collab ingest {args.file} --wave WAVE "
          f"--mapping {output}")
    return ExitCode.OK


def _ingest_paths(args: argparse.Namespace) -> None:
    """Fill in ``--programme``, ``--store`` and ``--secret`` not given: the workspace's when
    ``--workspace`` is given, otherwise the same names in the current folder (which are the
    workspace's when the current folder is one)."""
    if args.workspace is not None:
        ws = Workspace.at(args.workspace).check()
        defaults = {"programme": ws.programme_file, "store": ws.store, "secret": ws.secret_file}
    else:
        defaults = {"programme": Path("programme.yaml"), "store": Path("store"),
                    "secret": Path("secret.key")}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def run_ingest(args: argparse.Namespace) -> int:
    _ingest_paths(args)
    family = load_instrument_family(args.instrument)
    programme = load_programme(args.programme, instrument=family)
    if args.wave not in programme.wave_ids:
        raise CollabStatsError(f"--wave {args.wave!r} is not a wave of {args.programme} "
                               f"(waves: {', '.join(programme.wave_ids)})")
    store = WaveStore(args.store)
    if args.secret.exists():
        secret = load_secret(args.secret, store=args.store)
    else:
        secret = create_secret(args.secret, store=args.store)
        print(f"Created the pseudonymisation key {args.secret} (keep it safe and outside the "
              "store: the same key links respondents across waves)")
    version = programme.wave(args.wave).instrument_version
    # With a workspace, the store is written under the workspace lock that every run holds.
    lock = (Workspace.at(args.workspace).writer_lock(
        "collab ingest", on_wait=lambda line: print(line, file=sys.stderr))
        if args.workspace is not None else nullcontext())
    with lock:
        for path in args.files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise IngestError(str(path), f"cannot read the file ({exc.strerror or exc})") from None
            sha = hashlib.sha256(data).hexdigest()
            raw = _read(path, args.format, args.dictionary, wave=args.wave)
            mapping_file = args.mapping or mapping_beside(path)
            if mapping_file is not None:
                mapping = load_mapping(mapping_file, family=family)
                if args.mapping is None:
                    print(f"{path}: using the mapping beside it, {mapping_file.name}")
            else:
                proposal = propose_mapping(raw, family, programme, version=version)
                unsure = proposal.table[(proposal.table["confidence"] < AUTO_CONFIDENCE)
                                        & (proposal.table["target"] != "drop")]
                if len(unsure) or proposal.unmatched:
                    raise CollabStatsError(
                        f"{path}: not ingested: {len(unsure)} columns match the instrument with "
                        f"low confidence and {len(proposal.unmatched)} not at all; run `collab "
                        f"mapping propose {path}`, check the mapping, then ingest with --mapping "
                        "(or put it beside the export as <file>.mapping.yaml)")
                mapping = proposal.mapping
            result = convert_export(raw, mapping, family, programme, wave_id=args.wave,
                                    secret=secret, min_completion=args.min_completion)
            report = result.report
            added = store.add(args.wave, path.name, sha, result.data, result.quarantine,
                              format=raw.format, instrument_version=version,
                              rows_read=report.rows_read)
            held = {k: v for k, v in report.rows_quarantined.items() if v}
            if added.duplicates_removed_here:  # left out: another file of the wave holds the kept one
                held[DUPLICATE_REASON] = added.duplicates_removed_here
            n_held = sum(held.values())
            print(f"{path}: {raw.format} ({raw.variant}); {report.rows_read} rows read = "
                  f"{report.rows_accepted - added.duplicates_removed_here} accepted + {n_held} "
                  "quarantined"
                  + (f" ({', '.join(f'{k} {v}' for k, v in held.items())})" if held else "")
                  + f"; {added.status} in {args.store}")
            if added.note:
                print(f"  {added.note}")
            if report.unmatched_columns:
                print(f"  {len(report.unmatched_columns):,} columns not used: "
                      f"{summarise_names(report.unmatched_columns)}")
            if report.unknown_labels:
                print(f"  answers matching no label (read as blank): {dict(report.unknown_labels)}")
            for warning in report.warnings:
                print(f"  warning: {warning}")
            for note in report.notes:
                print(f"  note: {note}")
    return ExitCode.OK
