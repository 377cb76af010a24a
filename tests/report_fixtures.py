"""A small analysed programme for the report tests (built once per test session).

12 collaborations x 3 waves (instrument 1.0, 1.0, 2.0) from the simulator, analysed with the
real library functions, with two deliberate traps:

* collaboration ``HOSTILE_ID`` is renamed to :data:`HOSTILE_NAME` (markup and a script) and one of
  its partner organisations too, so escaping can be tested everywhere they appear;
* collaboration ``SMALL_ID`` keeps only 4 respondents in the latest wave, so its figures are
  suppressed (threshold 10) and tests can check no number of it appears.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache

import pandas as pd

from collab_stats import simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.psychometrics import programme_psychometrics
from collab_stats.schema import SurveyData
from reports.data import ReportData

HOSTILE_NAME = '<script>alert("x")</script><img src=x onerror=alert(1)> [link](http://evil) **Care** & Co'
HOSTILE_PARTNER = '<b onmouseover="alert(2)">Evil NHS Trust</b>'
SEED = 11


@cache
def analysed_programme() -> ReportData:
    sim = simulate_programme(seed=SEED, n_collaborations=12, n_waves=3)
    programme = sim.programme
    ids = [c.id for c in programme.collaborations]
    hostile_id, small_id = ids[0], ids[1]
    collabs = []
    for c in programme.collaborations:
        if c.id == hostile_id:
            partners = (dataclasses.replace(c.partners[0], name=HOSTILE_PARTNER), *c.partners[1:])
            c = dataclasses.replace(c, name=HOSTILE_NAME, partners=partners)
        collabs.append(c)
    programme = dataclasses.replace(programme, collaborations=tuple(collabs))
    data = sim.data
    latest = programme.waves[-1].id
    resp = data.respondents
    mask = (resp["wave_id"] == latest) & (resp["collaboration_id"] == small_id)
    drop = set(resp.loc[mask, "respondent_id"].astype(str).iloc[4:])

    def keep(t: pd.DataFrame) -> pd.DataFrame:
        gone = (t["wave_id"] == latest) & t["respondent_id"].astype(str).isin(drop)
        return t[~gone].reset_index(drop=True)

    data = SurveyData(*(keep(t) for t in (data.respondents, data.responses, data.selections,
                                         data.comments)))
    _SURVEY["data"] = data
    psychometrics = programme_psychometrics(data, sim.instrument, programme=programme)
    benchmark = benchmark_programme(data, sim.instrument, programme)
    sources = pd.DataFrame({
        "wave_id": [w.id for w in programme.waves],
        "source_name": [f"{w.id}-export.csv" for w in programme.waves],
        "sha256": ["0" * 63 + str(i) for i in range(len(programme.waves))],
        "format": ["qualtrics", "redcap", "google_forms"][: len(programme.waves)],
        "instrument_version": [w.instrument_version for w in programme.waves],
        "ingested_at": pd.Timestamp("2026-01-01", tz="UTC"),
        "rows_read": 100, "rows_accepted": 95, "rows_quarantined": 5,
    })
    quarantine = pd.DataFrame({"wave_id": sources["wave_id"], "source_name": sources["source_name"],
                               "reason": "incomplete", "rows": 5})
    return ReportData(programme=programme, family=sim.instrument,
                      benchmark=benchmark.tables(), psychometrics=psychometrics.tables(),
                      sources=sources, quarantine=quarantine,
                      generated_at=dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC))


_SURVEY: dict[str, SurveyData] = {}


def small_true_means() -> dict[str, float]:
    """The small collaboration's latest-wave characteristic means before suppression: numbers
    that must never appear in a report or download."""
    from collab_stats.scoring import score_responses

    report = analysed_programme()
    data = _SURVEY["data"].wave(report.latest_wave)
    scores = score_responses(data, report.family)
    scores = scores[scores["collaboration_id"].astype(str) == small_id()]
    return scores.groupby("characteristic", observed=True)["score"].mean().dropna().to_dict()


def hostile_id() -> str:
    return analysed_programme().programme.collaborations[0].id


def small_id() -> str:
    return analysed_programme().programme.collaborations[1].id
