"""Independent pieces of the psychometrics and the trends, run through a map-like ``workers``.

The second code path is the serial run: with worker processes the tables must be identical
(the same fits on the same data, only elsewhere), to the last digit.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

from collab_stats import change, simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.errors import ParameterError
from collab_stats.parallel import check_workers, run_all, split
from collab_stats.psychometrics import programme_psychometrics


class Recording:
    """A map-like that runs here and counts the pieces it was given."""

    def __init__(self) -> None:
        self.pieces = 0

    def __call__(self, function, items):
        items = list(items)
        self.pieces += len(items)
        return map(function, items)


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=4, n_collaborations=9, n_waves=3)


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


def test_run_all_keeps_the_order_of_the_jobs():
    jobs = [lambda k=k: k * k for k in range(7)]
    assert run_all(jobs) == [k * k for k in range(7)]
    recording = Recording()
    assert run_all(jobs, recording) == [k * k for k in range(7)]
    assert recording.pieces == 7


def test_split_covers_the_range_once():
    assert split(7, 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert split(0, 3) == [range(0)]
    with pytest.raises(ParameterError):
        split(5, 0)


def test_workers_must_be_map_like():
    assert check_workers(None) is None and check_workers(map) is map
    with pytest.raises(ParameterError, match="map-like"):
        check_workers(2)


def test_psychometrics_in_worker_processes_are_identical(sim, pool):
    serial = programme_psychometrics(sim.data, sim.instrument, programme=sim.programme)
    recording = Recording()
    counted = programme_psychometrics(sim.data, sim.instrument, programme=sim.programme,
                                      workers=recording)
    # 8 characteristics x 2 versions' reliability, 3 waves' factor models, invariance
    assert recording.pieces >= 8 + 3 + 1
    spread = programme_psychometrics(sim.data, sim.instrument, programme=sim.programme,
                                     workers=pool.map)
    for name, table in serial.tables().items():
        pd.testing.assert_frame_equal(spread.tables()[name], table, check_exact=True,
                                      obj=name)
        pd.testing.assert_frame_equal(counted.tables()[name], table, check_exact=True,
                                      obj=name)
    assert spread.invariance_verdict == serial.invariance_verdict
    assert spread.comparable_items == serial.comparable_items


def test_trends_in_worker_processes_are_identical(sim, pool, monkeypatch):
    serial = benchmark_programme(sim.data, sim.instrument, sim.programme)
    monkeypatch.setattr(change, "TREND_CHUNK", 2)  # 9 collaborations: 5 pieces
    recording = Recording()
    benchmark_programme(sim.data, sim.instrument, sim.programme, workers=recording)
    assert recording.pieces == 5
    spread = benchmark_programme(sim.data, sim.instrument, sim.programme, workers=pool.map)
    assert len(serial.trends) == 9 * 8
    for name, table in serial.tables().items():
        pd.testing.assert_frame_equal(spread.tables()[name], table, check_exact=True,
                                      obj=name)
