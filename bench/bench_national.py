"""National scale: the whole programme at 100, 300 and 1,000 collaborations, stage by stage.

For each size, a programme of that many collaborations (4 waves, about 30 respondents each)
is simulated into a workspace and run through every stage of :mod:`bench.national`, each in
a fresh process, printing its time, its peak resident memory and the work done (rows,
tables, reports) beside the cost per collaboration, so the growth with size is visible: a
stage whose time per collaboration rises with size grows faster than its input. Then the
tables of a small reference programme, run with today's code, are compared with the stored
reference run to the last digit (optimisations must change no number; the columns whose
computation changed, ``bench.national.RECOMPUTED``, within a stated tolerance).

The issue's targets (2 cores, quiet machine) are printed beside the measurements: the whole
run without PDFs at 1,000 collaborations in at most 10 minutes and 4 GB; psychometrics of a
national wave in at most 60 s; every benchmark table in at most 15 s (the benchmark stage
prints the seconds spent on each table's steps); a collaboration report
in at most 0.25 s on one core (the reports stage runs on 2 processes).

    python -m bench bench_national                               # 100, 300, 1,000 (long)
    COLLAB_BENCH_SIZES=100,300 python -m bench bench_national    # smaller sizes only
    COLLAB_BENCH_PDF=10 python -m bench bench_national           # and PDFs of 10 reports
    COLLAB_BENCH_STAGES=simulate,ingest python -m bench bench_national
    COLLAB_BENCH_GROWTH=0 python -m bench bench_national         # skip the growth section

Growth with respondents and with waves, separately (``COLLAB_BENCH_GROWTH`` collaborations,
default 100): the programme as simulated by default over 3 waves, then with twice the
waves, then with three times the respondents per collaboration; each stage's time per
1,000 responses beside the base's (1.0 = linear in the responses).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.national import (
    STAGES,
    WORKERS,
    compare_with_reference,
    run_reference,
    run_stage_in_child,
)

WAVES = 4


def _sizes() -> list[int]:
    text = os.environ.get("COLLAB_BENCH_SIZES", "100,300,1000")
    return [int(x) for x in text.split(",") if x.strip()]


def _stages() -> list[str]:
    text = os.environ.get("COLLAB_BENCH_STAGES", "")
    chosen = [s for s in text.split(",") if s] or [s for s in STAGES if s != "pdf"]
    pdf = int(os.environ.get("COLLAB_BENCH_PDF", "0"))
    if pdf and "pdf" not in chosen:
        chosen.append("pdf")
    return [s for s in STAGES if s in chosen]


def run_size(folder: Path, n: int, stages: list[str], waves: int = WAVES,
             respondents: tuple[int, int] | None = None) -> dict[str, tuple[float, int, dict]]:
    root = folder / f"national-{n}"
    shutil.rmtree(root, ignore_errors=True)
    results = {}
    for stage in stages:
        args: tuple = ((root, n, waves, 2025, respondents) if stage == "simulate" else
                       (root,))
        if stage == "pdf":
            args = (root, int(os.environ.get("COLLAB_BENCH_PDF", "10")))
        results[stage] = run_stage_in_child(stage, *args)
        seconds, peak, work = results[stage]
        what = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                         for k, v in work.items() if not isinstance(v, dict))
        print(f"  {n:>5,} {stage:<14} {seconds:8.1f} s  {seconds / n * 1000:7.1f} ms/collab"
              f"  peak {peak / 2**20:7,.0f} MiB  ({what})", flush=True)
        if "seconds by table" in work:
            by_table = sorted(work["seconds by table"].items(), key=lambda kv: -kv[1])
            print("         by table: " + ", ".join(f"{k} {v:.1f} s" for k, v in by_table),
                  flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return results


#: The growth section: (label, waves, respondents per collaboration and wave).
GROWTH = (("base: 3 waves, 6-80 respondents", 3, (6, 80)),
          ("waves x 2: 6 waves", 6, (6, 80)),
          ("respondents x 3: 18-240", 3, (18, 240)))


def growth(folder: Path, n: int, stages: list[str]) -> None:
    """Each stage's time per 1,000 responses as the waves and the respondents grow."""
    stages = [s for s in stages if s != "pdf"]
    per: dict[str, dict[str, float]] = {}
    for label, waves, respondents in GROWTH:
        print(f"Growth at {n:,} collaborations, {label}:")
        run = run_size(folder, n, ["simulate", *[s for s in stages if s != "simulate"]],
                       waves=waves, respondents=respondents)
        responses = run["simulate"][2]["responses"]
        per[label] = {s: run[s][0] / responses * 1000 for s in stages}
    base = per[GROWTH[0][0]]
    print("Growth (time per 1,000 responses against the base; 1.0 = linear):")
    for label, *_ in GROWTH[1:]:
        ratios = ", ".join(f"{s} {per[label][s] / base[s]:.2f}" for s in stages)
        print(f"  {label}: {ratios}")


def main() -> None:
    sizes, stages = _sizes(), _stages()
    print(f"Stages {', '.join(stages)}; {WAVES} waves; each stage in its own process "
          f"(reports on {WORKERS} processes); time, ms per collaboration, peak memory:")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            runs[n] = run_size(Path(tmp), n, stages)
        if len(sizes) > 1:
            print("Growth (time per collaboration, largest size / smallest; 1.0 = linear):")
            small, large = min(sizes), max(sizes)
            for stage in stages:
                a, b = runs[small][stage][0] / small, runs[large][stage][0] / large
                print(f"  {stage:<14} {b / a:5.2f}")
        largest = max(sizes)
        run = runs[largest]
        total = sum(run[s][0] for s in stages if s not in ("simulate", "pdf"))
        peak = max(run[s][1] for s in stages if s not in ("simulate", "pdf"))
        print(f"At {largest:,} collaborations: ingest to reports {total / 60:.1f} min (target "
              f"<= 10 min at 1,000), largest stage peak {peak / 2**30:.2f} GB (target <= 4)")
        if "reports" in run:
            per_page = run["reports"][0] * WORKERS / max(1, run["reports"][2]["reports"])
            print(f"  the reports stage per page: {per_page:.2f} s of one core (loading, the "
                  "overview, technical report and programme workbook included; one "
                  "collaboration report alone: `python -m bench bench_reports`, target <= "
                  "0.25 s)")
        if "pdf" in run and run["pdf"][2].get("pdfs"):
            print(f"  a PDF: {run['pdf'][0] / run['pdf'][2]['pdfs']:.2f} s (one browser)")
        n_growth = int(os.environ.get("COLLAB_BENCH_GROWTH", "100"))
        if n_growth:
            growth(Path(tmp), n_growth, stages)
        print("Reference programme (12 collaborations x 3 waves) against the stored run:")
        problems = compare_with_reference(run_reference(Path(tmp) / "reference"))
        print("  every table identical to the last digit (the trends' recomputed columns "
              "within 1e-5 relative)" if not problems else
              "  DIFFERENT: " + "; ".join(problems[:10]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
