"""The whole programme, stage by stage, for the national-scale benchmark and its reference.

Each stage reads what the one before wrote in a workspace folder, as the pipeline does:

======================  ==================================================================
simulate                a programme (``simulate_programme``) written as ``programme.yaml``
                        and one export per wave in the inbox (a different platform's
                        layout per wave, as the demo does)
ingest                  every export read, mapped, validated, quarantined, pseudonymised and
                        stored (``convert_export`` + ``WaveStore.add``)
psychometrics           ``programme_psychometrics`` of every stored wave, tables written
benchmark               ``benchmark_programme`` with disclosure control, tables written
reports                 the report site, HTML (``build_site``, 2 processes)
pdf                     PDFs of a sample of collaboration reports (optional)
======================  ==================================================================

:func:`run_stage_in_child` runs one stage in a fresh process and returns its time, its peak
resident memory (the larger of the child's own ``ru_maxrss`` and the largest total of the
child and its worker processes, sampled every 0.2 s: each stage's peak is its own, imports
and workers included) and what it did (rows, tables, reports). :func:`reference_tables` collects every
table a run produced, for comparing an optimised run with a reference run to the last digit.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

#: The secret key of benchmark and reference runs (pseudonyms must be the same run to run).
SECRET = b"collab-stats reference run: not a real key, 32 bytes"
WORKERS = 2
STAGES = ("simulate", "ingest", "psychometrics", "benchmark", "reports", "pdf")


def simulate(root: Path, n_collaborations: int, n_waves: int, seed: int = 2025,
             respondents: tuple[int, int] | None = None) -> dict:
    """A simulated programme written into the workspace ``root`` with its exports waiting
    (``respondents``: the range per collaboration and wave; default the simulator's)."""
    from collab_stats import simulate_programme
    from collab_stats.simulate import SimulationSettings
    from pipelines.simulate_flow import export_waves, write_programme
    from pipelines.workspace import init_workspace

    settings = SimulationSettings() if respondents is None else SimulationSettings(
        respondents=respondents)
    sim = simulate_programme(seed=seed, n_collaborations=n_collaborations, n_waves=n_waves,
                             settings=settings)
    init_workspace(root, programme=sim.programme)
    (root / "programme.yaml").unlink()
    write_programme.fn(sim, root)
    (root / "secret.key").write_text(SECRET.hex() + "\n")
    (root / "secret.key").chmod(0o600)
    files = export_waves.fn(sim, root)
    return {"respondents": int(len(sim.data.respondents)),
            "responses": int(len(sim.data.responses)), "exports": len(files)}


def ingest(root: Path) -> dict:
    """Every export in the inbox into the store (what ``ingest_wave`` does, without Prefect)."""
    from collab_stats.ingest.convert import convert_export
    from collab_stats.ingest.detect import read_export
    from collab_stats.ingest.mapping import load_mapping
    from pipelines.store import WaveStore
    from pipelines.workspace import Workspace, find_inbox_files, move_processed

    ws = Workspace.at(root)
    programme, family = ws.load()
    secret = ws.secret()
    store = WaveStore(ws.store)
    rows = files = 0
    for item in find_inbox_files(ws, list(programme.wave_ids), settle_seconds=0)[0]:
        options = {"dictionary": item.dictionary} if item.dictionary is not None else {}
        raw = read_export(item.path, **options)
        sha = hashlib.sha256(item.path.read_bytes()).hexdigest()
        result = convert_export(raw, load_mapping(item.mapping, family=family), family,
                                programme, wave_id=item.wave, secret=secret)
        store.add(item.wave, item.path.name, sha, result.data, result.quarantine,
                  format=raw.format,
                  instrument_version=programme.wave(item.wave).instrument_version,
                  rows_read=result.report.rows_read)
        move_processed(ws, item)
        rows += result.report.rows_read
        files += 1
    return {"rows read": rows, "exports": files}


def _stored(root: Path):
    from pipelines.store import WaveStore
    from pipelines.workspace import Workspace

    ws = Workspace.at(root)
    programme, family = ws.load()
    store = WaveStore(ws.store)
    return ws, programme, family, store.load(store.wave_ids())


def psychometrics(root: Path, workers: int = WORKERS) -> dict:
    """The psychometrics of every stored wave, written to ``tables/psychometrics``."""
    from collab_stats.psychometrics import programme_psychometrics
    from pipelines.analysis_flow import fit_workers
    from pipelines.files import write_parquet_tables

    ws, _, family, data = _stored(root)
    with fit_workers(workers) as spread:  # as the pipeline does for a large programme
        result = programme_psychometrics(data, family, workers=spread)
    tables = result.tables()
    write_parquet_tables(tables, ws.tables / "psychometrics")
    return {"tables": len(tables), "rows": sum(len(t) for t in tables.values())}


#: The steps of ``benchmark_programme`` (names in :mod:`collab_stats.benchmarking`) by the
#: table they make; disclosure control (``suppress``, ``_suppress_linked``) and the final
#: publication check are counted apart.
TABLE_STEPS = {
    "scores": ("score_responses",),
    "summaries": ("characteristic_summaries", "hidden_cells"),
    "favourable and items": ("item_distribution", "favourable_by_characteristic",
                             "item_summaries"),
    "response_rates": ("response_rates",),
    "peers": ("peer_benchmarks",),
    "profile": ("profile",),
    "comparison": ("welch_anova", "kruskal"),
    "change": ("_same_scores_change",),
    "trends": ("collaboration_trends",),
    "slopes": ("collaboration_slopes",),
    "value_modes, main_mode, declared_match": ("value_mode_distribution",
                                               "main_mode_agreement", "declared_match"),
    "network": ("network_measures",),
    "sector_ties": ("_sector_ties",),
    "breakdowns": ("breakdown",),
    "verdicts, item_peers": ("characteristic_verdicts", "item_peer_distribution"),
    "disclosure control": ("suppress", "_suppress_linked"),
    "publication check": ("publish_tables",),
}


@contextmanager
def timed_tables() -> Iterator[dict[str, float]]:
    """Seconds spent in each table's steps of ``benchmark_programme`` while the block runs
    (the steps are wrapped where that module looks them up, and restored after)."""
    from collab_stats import benchmarking

    seconds: dict[str, float] = dict.fromkeys(TABLE_STEPS, 0.0)
    originals = {name: getattr(benchmarking, name) for names in TABLE_STEPS.values()
                 for name in names}

    def timed(function, table):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[table] += time.perf_counter() - started
        return call

    for table, names in TABLE_STEPS.items():
        for name in names:
            setattr(benchmarking, name, timed(originals[name], table))
    try:
        yield seconds
    finally:
        for name, function in originals.items():
            setattr(benchmarking, name, function)


def benchmark(root: Path, workers: int = WORKERS) -> dict:
    """Every benchmark table with disclosure control, written to ``tables/benchmark``."""
    from collab_stats.benchmarking import benchmark_programme
    from pipelines.analysis_flow import fit_workers
    from pipelines.files import write_parquet_tables
    from pipelines.store import WaveStore

    ws, programme, family, data = _stored(root)
    path = ws.tables / "psychometrics" / "invariance.parquet"
    table = pd.read_parquet(path) if path.exists() else pd.DataFrame()
    # as pipelines.analysis_flow.scalar_invariance does on the in-memory table
    supported = (bool(table.set_index("level").loc["scalar", "supported"]) if len(table)
                 else None)
    with fit_workers(workers) as spread, timed_tables() as seconds:
        result = benchmark_programme(data, family, programme, invariance_supported=supported,
                                     workers=spread)
    tables = result.tables()
    write_parquet_tables(tables, ws.tables / "benchmark")
    write_parquet_tables(WaveStore(ws.store).ingest_tables(), ws.tables / "ingest")
    return {"tables": len(tables), "rows": sum(len(t) for t in tables.values()),
            "seconds by table": dict(seconds)}


def reports(root: Path, workers: int = WORKERS) -> dict:
    """The report site of the latest wave, HTML only."""
    from reports.data import load_report_data
    from reports.site import build_site

    site = build_site(load_report_data(root), root / "reports", pdf=False, workers=workers)
    return {"reports": len(site.html)}


def pdf(root: Path, sample: int = 10) -> dict:
    """PDFs of the first ``sample`` collaboration reports (one browser for all)."""
    from reports.pdf import find_chromium, html_to_pdf

    if find_chromium() is None:
        return {"pdfs": 0, "note": "no Chromium"}
    pages = sorted((root / "reports" / "collaborations").glob("*.html"))[:sample]
    out = root / "reports" / "pdf-bench"
    out.mkdir(exist_ok=True)
    html_to_pdf(pages, [out / f"{p.stem}.pdf" for p in pages])
    return {"pdfs": len(pages)}


def _sample_tree(stop: threading.Event, peaks: list[int]) -> None:
    """The largest total resident memory of this process and its descendants (the worker
    processes of a stage), sampled every 0.2 s until ``stop``."""
    import psutil

    me = psutil.Process()
    while not stop.wait(0.2):
        total = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # ended between listing and reading
                pass
        peaks.append(total)


def _child(conn, name: str, args: tuple) -> None:
    stop, peaks = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_tree, args=(stop, peaks), daemon=True)
    sampler.start()
    started = time.perf_counter()
    work = globals()[name](*args)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    conn.send((seconds, max(own, *peaks), work))
    conn.close()


def run_stage_in_child(name: str, *args: Any) -> tuple[float, int, dict]:
    """Run stage ``name`` (a function of this module) in a fresh process: (seconds, peak
    resident bytes of that process, what it did)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, name, args))
    process.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"stage {name} failed (exit code {process.exitcode})") from None
    process.join()
    return result


def reference_tables(root: Path) -> dict[str, pd.DataFrame]:
    """Every table a run wrote (stored survey data without ingest times; psychometrics and
    benchmark tables), keyed ``<group>/<name>``, rows in a stable order."""
    from pipelines.store import WaveStore

    tables: dict[str, pd.DataFrame] = {}
    data = WaveStore(root / "store").load()
    for name, frame in zip(("respondents", "responses", "selections"), data._tables()[:3],
                           strict=True):
        tables[f"store/{name}"] = frame.drop(columns=["ingested_at"], errors="ignore")
    for group in ("psychometrics", "benchmark"):
        for path in sorted((root / "tables" / group).glob("*.parquet")):
            tables[f"{group}/{path.stem}"] = pd.read_parquet(path)
    return {k: v.reset_index(drop=True) for k, v in tables.items()}


#: The reference run's programme (see tests/data/reference-run/README.md).
REFERENCE = {"n_collaborations": 12, "n_waves": 3, "seed": 7}
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference-run"


def run_reference(root: Path) -> dict[str, pd.DataFrame]:
    """The reference programme run with today's code in ``root`` (in this process): its
    tables (:func:`reference_tables`)."""
    simulate(root, REFERENCE["n_collaborations"], REFERENCE["n_waves"], seed=REFERENCE["seed"])
    ingest(root)
    psychometrics(root)
    benchmark(root)
    return reference_tables(root)


def write_reference(root: Path | None = None) -> None:
    """Write the reference tables anew (only when a change of result is intended)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tables = run_reference(Path(root or tmp) / "reference")
        for old in REFERENCE_DIR.glob("*.parquet"):
            old.unlink()
        for key, frame in tables.items():
            frame.to_parquet(REFERENCE_DIR / f"{key.replace('/', '__')}.parquet", index=False)


#: Columns whose computation changed since the reference run, so they are compared with a
#: tolerance (``numpy.isclose``'s rtol, atol) instead of to the last digit: the trends'
#: single-random-intercept REML fits are solved to machine precision from grouped sums
#: instead of stopping at statsmodels MixedLM's optimiser tolerance (issue 17; observed
#: differences up to 8e-7 in z, labels and verdict words identical), and the verdicts table
#: carries those trends' estimates and intervals.
RECOMPUTED: dict[str, tuple[tuple[str, ...] | None, float, float]] = {
    "benchmark/trends": (None, 1e-5, 1e-6),
    "benchmark/verdicts": (("estimate", "ci_low", "ci_high", "difference"), 1e-5, 1e-6),
}


def compare_with_reference(tables: dict[str, pd.DataFrame],
                           recomputed: dict = RECOMPUTED) -> list[str]:
    """How ``tables`` differ from the stored reference: one line per table that differs
    (missing, extra, shape, columns, or the largest difference of a column); [] when every
    table is identical to the last digit, except the ``recomputed`` columns (table ->
    (columns or None for every float column, rtol, atol)), which must be close."""
    import numpy as np

    stored = {p.stem.replace("__", "/"): pd.read_parquet(p)
              for p in sorted(REFERENCE_DIR.glob("*.parquet"))}
    problems = [f"{k}: missing" for k in stored if k not in tables]
    problems += [f"{k}: not in the reference" for k in tables if k not in stored]
    for key in sorted(set(stored) & set(tables)):
        # as written to Parquet and read back, so types compare like for like
        import io

        buffer = io.BytesIO()
        tables[key].to_parquet(buffer, index=False)
        new, old = pd.read_parquet(io.BytesIO(buffer.getvalue())), stored[key]
        if new.shape != old.shape or list(new.columns) != list(old.columns):
            problems.append(f"{key}: shape/columns {new.shape} {list(new.columns)[:6]}... v "
                            f"{old.shape} {list(old.columns)[:6]}...")
            continue
        for column in old.columns:
            a, b = new[column], old[column]
            if a.equals(b):
                continue
            if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
                x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
                both = np.isnan(x) & np.isnan(y)
                diff = np.where(both, 0.0, np.abs(x - y))
                columns, rtol, atol = recomputed.get(key, ((), 0.0, 0.0))
                if ((columns is None or column in columns)
                        and np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True).all()):
                    continue
                problems.append(f"{key}.{column}: largest difference {np.nanmax(diff):.3g}"
                                if np.isfinite(diff).all() else
                                f"{key}.{column}: missing values differ")
            else:
                problems.append(f"{key}.{column}: values differ")
    return problems
