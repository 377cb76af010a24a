"""Collaboration reports: building and rendering them against executing the same notebook.

Baseline (the usual way to make a report from a notebook): execute the collaboration
report's notebook with nbclient in a fresh Python kernel (papermill does the same through
nbclient), then render it to HTML with the same renderer. Ours: build the notebook with its
outputs already in it and render it, in the process that already holds the analysed data.
Both make the same cells and outputs (the notebook's code cells are the calls that made them).

Then the throughput for a national-size programme: N collaboration reports (default 1,000)
built into a site with 2 worker processes, HTML only.

    python -m bench bench_reports            # 1,000 reports
    COLLAB_BENCH_REPORTS=200 python -m bench bench_reports
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from collab_stats import dump_programme, simulate_programme
from collab_stats.atomic import write_text_atomic
from collab_stats.benchmarking import benchmark_programme
from collab_stats.psychometrics import programme_psychometrics
from collab_stats.simulate import SimulationSettings
from pipelines.files import write_parquet_tables
from reports.collaboration_report import build_collaboration_report
from reports.data import load_report_data
from reports.render import render_html
from reports.site import build_site, write_report


def _workspace(folder: Path, n_collaborations: int, *, trends: bool) -> Path:
    sim = simulate_programme(seed=3, n_collaborations=n_collaborations, n_waves=4,
                             settings=SimulationSettings(respondents=(15, 40)))
    write_text_atomic(folder / "programme.yaml", dump_programme(sim.programme))
    psychometrics = programme_psychometrics(sim.data, sim.instrument,
                                            factor_models=n_collaborations <= 100)
    benchmark = benchmark_programme(sim.data, sim.instrument, sim.programme, trends=trends)
    write_parquet_tables(benchmark.tables(), folder / "tables" / "benchmark")
    write_parquet_tables(psychometrics.tables(), folder / "tables" / "psychometrics")
    return folder


def _execute(path: Path) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    render_html(nb)
    return time.perf_counter() - started


def main() -> None:
    n_site = int(os.environ.get("COLLAB_BENCH_REPORTS", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        root = _workspace(Path(tmp) / "ws", 40, trends=True)
        data = load_report_data(root)
        ids = [c.id for c in data.programme.collaborations]
        out = root / "reports"
        # warm up (imports, font cache), then time ours per report
        write_report(build_collaboration_report(data, ids[0]), out, f"collaborations/{ids[0]}.ipynb")
        ours = []
        for cid in ids[:10]:
            started = time.perf_counter()
            write_report(build_collaboration_report(data, cid), out, f"collaborations/{cid}.ipynb")
            ours.append(time.perf_counter() - started)
        cold_started = time.perf_counter()
        fresh = load_report_data(root)
        write_report(build_collaboration_report(fresh, ids[1]), out / "cold",
                     f"collaborations/{ids[1]}.ipynb")
        cold = time.perf_counter() - cold_started
        baseline = [_execute(out / "collaborations" / f"{cid}.ipynb") for cid in ids[:3]]
        ours_median, base_median = statistics.median(ours), statistics.median(baseline)
        print(f"one collaboration report, build + HTML: ours {ours_median * 1000:.0f} ms "
              f"(with loading the workspace: {cold * 1000:.0f} ms); nbclient execute + HTML "
              f"{base_median:.2f} s")
        print(f"ratio (baseline / ours): {base_median / ours_median:.0f}x per report in a run; "
              f"{base_median / cold:.0f}x for a single report including loading the data "
              "(aim: 20x)")

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = _workspace(Path(tmp) / "ws", n_site, trends=False)
        prepared = time.perf_counter() - started
        data = load_report_data(root)
        started = time.perf_counter()
        result = build_site(data, root / "reports", workers=2)
        elapsed = time.perf_counter() - started
        print(f"{n_site:,} collaboration reports + overview + technical report + index, HTML, "
              f"2 worker processes: {elapsed:.0f} s ({elapsed / n_site * 1000:.0f} ms per "
              f"report; {len(result.html)} HTML files) [simulating and analysing the "
              f"programme first took {prepared:.0f} s, not counted]")


if __name__ == "__main__":
    main()
