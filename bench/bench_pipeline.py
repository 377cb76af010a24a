"""Prefect's share of an end-to-end run: the flows against the same work done directly.

A programme is simulated into a workspace, its exports waiting in the inbox (not timed).
Then, each on its own copy of that workspace:

* flow: ``run_programme(workspace, pdf=False)`` on the embedded Prefect server (a local
  ephemeral server with the workspace's ``PREFECT_HOME``, as ``collab run`` uses it): ingest
  every wave, psychometrics and benchmark through the latest wave, the tables, the report
  site (HTML, 2 local worker processes), the run's artifacts;
* direct: the same steps calling the library: read, map, convert and store each export
  (``collab_stats.ingest`` + ``WaveStore``) and move it to ``processed/``,
  ``programme_psychometrics``, ``benchmark_programme``, the same tables written, and
  ``reports.site.build_site`` with the same 2 workers.

Prefect's overhead is flow time - direct time, shown as a share of the flow's time. It
includes what orchestration adds on purpose: task and flow run bookkeeping on the server,
logs, the content fingerprints the cache is keyed on, the persisted (pickled) analysis
results, the data loaded once per cached task, and the artifacts. A second run of the
unchanged programme (analysis read back from the cache, reports rebuilt) is shown too.

After a warm-up of both paths on 3 collaborations (imports, the server; not counted): the
demo programme (40 collaborations x 4 waves), then a national-size wave (1,000
collaborations x 1 wave; the aim is an overhead under 20% of its time). The national run
leaves out the report site by default: 1,000 reports take many minutes on 2 cores
(``python -m bench bench_reports`` times them) and are one Prefect task, the same work on
both sides, so the share shown without them is the larger one.

    python -m bench bench_pipeline                                  # about 8 minutes
    COLLAB_BENCH_NATIONAL=0 python -m bench bench_pipeline          # the demo only
    COLLAB_BENCH_DEMO=0 COLLAB_BENCH_NATIONAL=500 python -m bench bench_pipeline
    COLLAB_BENCH_NATIONAL_REPORTS=1 python -m bench bench_pipeline  # national, with reports
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

SEED = 2025
WORKERS = 2


@contextmanager
def _clock(times: dict[str, float], name: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        times[name] = times.get(name, 0.0) + time.perf_counter() - started


def _simulate(folder: Path, n_collaborations: int, n_waves: int) -> Path:
    from pipelines.simulate_flow import simulate_programme_flow

    simulate_programme_flow(output_dir=folder, seed=SEED, n_collaborations=n_collaborations,
                            n_waves=n_waves)
    return folder


def _copy(folder: Path, name: str) -> Path:
    target = folder.parent / name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(".prefect"))
    return target


def run_direct(root: Path, *, reports: bool) -> dict[str, float]:
    """The flow's work without Prefect; seconds per step."""
    from collab_stats.benchmarking import benchmark_programme
    from collab_stats.psychometrics import programme_psychometrics
    from pipelines.analysis_flow import scalar_invariance
    from pipelines.files import write_parquet_tables
    from pipelines.store import WaveStore
    from pipelines.workspace import Workspace
    from reports.data import load_report_data
    from reports.site import build_site

    times: dict[str, float] = {}
    ws = Workspace.at(root)
    with _clock(times, "ingest"):
        from bench.national import ingest

        ingest(root)  # read, map, convert and store each export; move it to processed/
        programme, family = ws.load()
        waves = list(programme.wave_ids)
        store = WaveStore(ws.store)
    with _clock(times, "analysis"):
        stored = set(store.status()["wave_id"].astype(str))
        data = store.load([w for w in waves if w in stored])
        psychometrics = programme_psychometrics(data, family)
        write_parquet_tables(psychometrics.tables(), ws.tables / "psychometrics")
        benchmark = benchmark_programme(data, family, programme,
                                        invariance_supported=scalar_invariance(psychometrics))
        write_parquet_tables(benchmark.tables(), ws.tables / "benchmark")
        write_parquet_tables(store.ingest_tables(), ws.tables / "ingest")
    if reports:
        with _clock(times, "reports"):
            build_site(load_report_data(ws.root), ws.reports, pdf=False, workers=WORKERS)
    return times


def run_flow(root: Path, *, reports: bool) -> float:
    from pipelines.flows import run_programme

    started = time.perf_counter()
    result = run_programme(root, pdf=False, reports=reports)
    elapsed = time.perf_counter() - started
    if reports and not Path(result["index"]).is_file():
        raise RuntimeError(f"{root}: the flow made no report index")
    return elapsed


def compare(label: str, pristine: Path, *, reports: bool) -> None:
    direct_root, flow_root = _copy(pristine, "direct"), _copy(pristine, "flow")
    steps = run_direct(direct_root, reports=reports)
    direct = sum(steps.values())
    flow = run_flow(flow_root, reports=reports)
    cached = run_flow(flow_root, reports=reports)
    overhead = flow - direct
    print(f"{label}: flow {flow:.1f} s, direct {direct:.1f} s ("
          + ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
          + f"); Prefect overhead {overhead:.1f} s = {overhead / flow:.0%} of the flow's time "
          f"(aim: under 20%); ratio flow / direct {flow / direct:.2f}; second run of the "
          f"unchanged programme (analysis from the cache) {cached:.1f} s")
    sys.stdout.flush()
    for root in (direct_root, flow_root):
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    national = int(os.environ.get("COLLAB_BENCH_NATIONAL", "1000"))
    national_reports = os.environ.get("COLLAB_BENCH_NATIONAL_REPORTS", "0") != "0"
    demo_run = os.environ.get("COLLAB_BENCH_DEMO", "1") != "0"
    with tempfile.TemporaryDirectory() as tmp:
        from pipelines.environment import configure

        configure(tmp)  # the embedded server, before Prefect is imported
        if "prefect" in sys.modules:  # imported by an earlier benchmark of this process
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
        started = time.perf_counter()
        small = _simulate(Path(tmp) / "warm-up" / "pristine", 3, 2)
        run_direct(_copy(small, "direct"), reports=True)
        run_flow(_copy(small, "flow"), reports=True)
        print(f"(starting the embedded server and a warm-up run of both paths on 3 "
              f"collaborations: {time.perf_counter() - started:.0f} s, not counted)")
        if demo_run:
            demo = _simulate(Path(tmp) / "demo" / "pristine", 40, 4)
            compare("demo programme, 40 collaborations x 4 waves, run_programme with reports "
                    f"(HTML, {WORKERS} processes)", demo, reports=True)
        if national:
            started = time.perf_counter()
            big = _simulate(Path(tmp) / "national" / "pristine", national, 1)
            print(f"(simulating {national:,} collaborations: "
                  f"{time.perf_counter() - started:.0f} s, not counted)")
            what = (f"with reports (HTML, {WORKERS} processes)" if national_reports else
                    "without the report site (reports=False; COLLAB_BENCH_NATIONAL_REPORTS=1 "
                    "adds the reports, one Prefect task, to both sides)")
            compare(f"national-size wave, {national:,} collaborations x 1 wave, run_programme "
                    f"{what}", big, reports=national_reports)


if __name__ == "__main__":
    main()
