"""Optimisations change no number: a whole small programme, run with today's code, gives
every table of the reference run stored before the national-scale work (issue 17) to the
last digit, except the columns whose computation changed (``bench.national.RECOMPUTED``:
the trends, solved exactly instead of to an optimiser's tolerance), which must be within
1e-5 relative / 1e-6 absolute (tests/data/reference-run/README.md says how it was made)."""

from __future__ import annotations

import pytest

from bench.national import compare_with_reference, run_reference


@pytest.mark.slow
def test_every_table_equals_the_reference_run_to_the_last_digit(tmp_path):
    tables = run_reference(tmp_path)
    assert len(tables) == 32
    assert compare_with_reference(tables) == []


def test_the_comparison_finds_a_changed_number(tmp_path):
    import pandas as pd

    from bench.national import REFERENCE_DIR

    stored = {p.stem.replace("__", "/"): pd.read_parquet(p)
              for p in sorted(REFERENCE_DIR.glob("*.parquet"))}
    changed = dict(stored)
    summaries = stored["benchmark/summaries"].copy()
    summaries.loc[0, "mean"] = summaries.loc[0, "mean"] + 1e-12
    changed["benchmark/summaries"] = summaries
    del changed["psychometrics/reliability"]
    trends = stored["benchmark/trends"].copy()
    trends.loc[0, "slope"] = trends.loc[0, "slope"] + 1e-7  # within the recomputed tolerance
    changed["benchmark/trends"] = trends
    assert compare_with_reference(stored) == []
    assert compare_with_reference(changed) == [
        "psychometrics/reliability: missing",
        "benchmark/summaries.mean: largest difference 1e-12"]
    trends.loc[0, "slope"] = trends.loc[0, "slope"] + 1e-4  # beyond it
    assert compare_with_reference(changed)[-1] == "benchmark/trends.slope: largest difference 0.0001"
    assert compare_with_reference(changed, recomputed={})[-1].startswith(
        "benchmark/trends.slope: largest difference")
