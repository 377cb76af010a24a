"""Benchmark tables for a national-size programme: 1,000 collaborations x 4 waves x 8
characteristics, 30 respondents per collaboration and wave.

Compared, in the same process, with a straightforward per-collaboration loop computing the
same core tables with pandas, scipy and pingouin:
- summaries: n, mean, sd, se and t interval per wave x collaboration x characteristic;
- peers ("all"): median, quartiles, best, worst and percentile rank of each collaboration;
- change since the previous wave per collaboration x characteristic (Welch t-test in the
  loop; our path uses the partially overlapping test, which also handles panel members);
- programme comparison: Welch ANOVA per wave x characteristic (pingouin).
Then the whole of benchmark_programme (every table, disclosure control; mixed-model trends
left out: one model fit per collaboration x characteristic is reported separately).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pingouin as pg
from scipy import stats

from collab_stats import simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.change import wave_change
from collab_stats.comparison import welch_anova
from collab_stats.peers import peer_benchmarks
from collab_stats.scoring import score_responses
from collab_stats.simulate import SimulationSettings
from collab_stats.summaries import characteristic_summaries


def _vectorised(scores, programme):
    summaries = characteristic_summaries(scores)
    peer_benchmarks(summaries, programme, peer_sets=("all",))
    wave_change(scores)
    welch_anova(scores)
    return summaries


def _loop(scores):
    rows = []
    clean = scores.dropna(subset=["score"]).astype(
        {"wave_id": str, "collaboration_id": str, "characteristic": str})
    for (wave, collab, char), cell in clean.groupby(["wave_id", "collaboration_id", "characteristic"]):
        x = cell["score"].to_numpy()
        n, mean, sd = len(x), x.mean(), x.std(ddof=1)
        se = sd / np.sqrt(n)
        low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=se)
        rows.append((wave, collab, char, n, mean, sd, se, low, high))
    summaries = pd.DataFrame(rows, columns=["wave_id", "collaboration_id", "characteristic", "n",
                                            "mean", "sd", "se", "ci_low", "ci_high"])
    peers = []
    for (_, _), cell in summaries.groupby(["wave_id", "characteristic"]):
        means = cell["mean"].to_numpy()
        for m in means:
            peers.append((np.percentile(means, [0, 25, 50, 75, 100]),
                          stats.percentileofscore(means, m, kind="mean")))
    waves = sorted(clean["wave_id"].unique())
    for _, cell in clean.groupby(["collaboration_id", "characteristic"]):
        for a, b in zip(waves, waves[1:], strict=False):
            stats.ttest_ind(cell.loc[cell["wave_id"] == b, "score"],
                            cell.loc[cell["wave_id"] == a, "score"], equal_var=False)
    for (_, _), cell in clean.groupby(["wave_id", "characteristic"]):
        pg.welch_anova(data=cell, dv="score", between="collaboration_id")
    return summaries


def main() -> None:
    sim = simulate_programme(seed=3, n_collaborations=1000, n_waves=4,
                             settings=SimulationSettings(respondents=(30, 30)))
    scores = score_responses(sim.data, sim.instrument)
    start = time.perf_counter()
    ours = _vectorised(scores, sim.programme)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    loop = _loop(scores)
    t_loop = time.perf_counter() - start
    merged = ours.astype({"wave_id": str, "collaboration_id": str, "characteristic": str}).merge(
        loop, on=["wave_id", "collaboration_id", "characteristic"], suffixes=("", "_loop"))
    diff = np.nanmax(np.abs(merged[["mean", "sd", "ci_low"]].to_numpy()
                            - merged[["mean_loop", "sd_loop", "ci_low_loop"]].to_numpy()))
    print(f"programme: 1,000 collaborations x 4 waves x 8 characteristics, "
          f"{len(sim.data.respondents):,} responses")
    print(f"  core tables, vectorised: {t_ours:.2f} s; per-collaboration loop: {t_loop:.1f} s; "
          f"ratio {t_loop / t_ours:.0f}x (same summaries: max |diff| {diff:.1e})")
    start = time.perf_counter()
    result = benchmark_programme(sim.data, sim.instrument, sim.programme, trends=False)
    t_all = time.perf_counter() - start
    rows = sum(len(t) for t in result.tables().values())
    print(f"  benchmark_programme, every table with disclosure control (no trends): "
          f"{t_all:.1f} s, {rows:,} rows in {len(result.tables())} tables")


if __name__ == "__main__":
    main()
