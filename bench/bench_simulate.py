"""Simulator speed: a programme of about 100,000 responses (respondent-waves).

Baseline, in the same process: the bare numpy work every simulator of this size must do -
drawing one normal deviate per item answer and cutting it at the four thresholds - with none
of the programme, panel, missingness or table building. The ratio says what the realism costs.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from collab_stats import simulate_programme

N_COLLABORATIONS = 900  # about 100,000 respondent-waves over 4 waves (6-80 per collaboration)


def _best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    sim_time, sim = _best(lambda: simulate_programme(seed=1, n_collaborations=N_COLLABORATIONS))
    n_resp = len(sim.data.respondents)
    n_rows = len(sim.data.responses)

    def baseline():
        rng = np.random.default_rng(1)
        ystar = rng.normal(size=n_rows)
        return 1 + np.searchsorted(np.array([-1.7, -0.9, -0.15, 1.15]), ystar)

    base_time, _ = _best(baseline)
    tracemalloc.start()
    simulate_programme(seed=1, n_collaborations=N_COLLABORATIONS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    data_bytes = sum(t.memory_usage(deep=True).sum() for t in
                     (sim.data.respondents, sim.data.responses, sim.data.selections, sim.data.comments))
    print(f"simulate_programme: {n_resp:,} responses, {n_rows:,} item rows")
    print(f"  time {sim_time:.2f} s; baseline (bare draws) {base_time:.3f} s; ratio {sim_time / base_time:.1f}x")
    print(f"  peak traced memory {peak / 2**20:.0f} MiB = {peak / data_bytes:.1f}x the result's size "
          f"({data_bytes / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
