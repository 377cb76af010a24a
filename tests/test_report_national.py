"""The programme overview at national size: distributions, groups and the collaborations that
differ, with every collaboration's row in searchable tables left out of print.

Built from the report fixture's 12 collaborations with the national threshold lowered below
that (``NATIONAL_SIZE``), so the national layout is tested on the same data as the usual one;
every count and median is checked against the library's tables it reads (the verdict and
peers tables) by a second code path.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from report_fixtures import analysed_programme

from reports.notebook import cell_options
from reports.outputs import national
from reports.outputs.programme import verdict_frame
from reports.overview_report import build_overview_report
from reports.render import render_html
from reports.site import published


@pytest.fixture(scope="module")
def data():
    return published(analysed_programme())


@pytest.fixture
def national_size(monkeypatch):
    monkeypatch.setattr(national, "NATIONAL_SIZE", 3)


def _cells(nb) -> dict[str, dict]:
    book = nb.build()
    found = {}
    for cell in book.cells:
        if cell.cell_type == "code":
            options, _ = cell_options(cell.source)
            if "label" in options:
                found[options["label"]] = options
    return found


def test_a_national_overview_shows_distributions_groups_and_searchable_tables(data,
                                                                            national_size):
    nb = build_overview_report(data)
    cells = _cells(nb)
    assert {"fig-response-rates", "fig-groups", "tbl-groups", "fig-league", "tbl-league",
            "fig-verdicts", "tbl-differing", "tbl-verdicts"} <= set(cells)
    assert "fig-heatmap" not in cells                          # no row per collaboration
    for label in ("tbl-response-rates", "tbl-league", "tbl-differing", "tbl-verdicts"):
        assert cells[label]["classes"] == "cs-no-print cs-searchable", label
    for label in ("fig-response-rates", "fig-groups", "fig-league", "fig-verdicts",
                  "tbl-groups"):
        assert "classes" not in cells[label], label             # printed
    book = nb.build()
    text = "\n".join(c.source for c in book.cells if c.cell_type == "markdown")
    assert "Scores by region, peer group and type" in text
    assert text.count("::: {.cs-print-only}") == 4             # where each table is instead
    html = render_html(book)
    assert html.count('id="cs-search"') == 1 and html.count("<script") == 1
    assert len(re.findall(r'class="[^"]*cs-searchable', html)) == 4


def test_the_usual_overview_has_no_script(data):
    html = render_html(build_overview_report(data).build())
    assert "<script" not in html.lower()
    assert not re.search(r'class="[^"]*cs-searchable', html)


def test_verdict_counts_and_the_differing_list_are_the_verdict_tables(data):
    verdicts = data.benchmark["verdicts"]
    wave = data.latest_wave
    rows = verdicts[(verdicts["wave_id"].astype(str) == wave)
                    & (verdicts["comparator"].astype(str) == "all")
                    & ~verdicts["suppressed"].astype(bool) & verdicts["estimate"].notna()]
    counts = national.verdict_counts_frame(data).set_index("characteristic")
    for (char, verdict), n in rows.groupby(["characteristic", "verdict"],
                                           observed=True).size().items():
        assert counts.loc[str(char), str(verdict)] == n
    assert counts[["higher", "in line", "lower"]].to_numpy().sum() == len(rows)
    differing = national.differing_frame(data)
    expected = set(rows.loc[rows["verdict"].isin(["higher", "lower"]),
                            "collaboration_id"].astype(str))
    assert set(differing["collaboration_id"]) == expected
    frame = verdict_frame(data)
    for _, row in differing.iterrows():
        mine = frame[frame["collaboration_id"] == row["collaboration_id"]]
        assert row["n_higher"] == (mine["verdict"] == "higher").sum()
        assert row["n_lower"] == (mine["verdict"] == "lower").sum()


def test_group_medians_are_the_peers_tables_and_the_median_of_the_groups_collaborations(data):
    groups = national.group_frame(data)
    peers = data.benchmark["peers"]
    expected = peers[(peers["wave_id"].astype(str) == data.latest_wave)
                     & peers["peer_set"].astype(str).isin(national.GROUPINGS)
                     & peers["peer_median"].notna()]
    assert len(groups) == len(expected.drop_duplicates(["peer_set", "peer_key",
                                                        "characteristic"])) > 0
    summaries = data.benchmark["summaries"]
    wave = data.latest_wave
    shown = summaries[(summaries["wave_id"].astype(str) == wave)
                      & ~summaries["suppressed"].astype(bool)]
    by_id = {c.id: c for c in data.programme.collaborations}
    names = {g.id: g.name for g in data.programme.peer_groups}
    checked = 0
    for _, row in groups.iterrows():
        def member(cid, row=row):
            c = by_id[cid]
            key = {"Region": c.region, "Peer group": names.get(c.peer_group, c.peer_group),
                   "Type": c.type.replace("_", " ").capitalize()}[row["grouping"]]
            return key == row["group"]

        part = shown[(shown["characteristic"].astype(str) == row["characteristic"])
                     & shown["collaboration_id"].astype(str).map(member)]
        assert row["collaborations"] == len(part)
        assert row["median"] == pytest.approx(float(np.median(part["mean"])), abs=1e-12)
        checked += 1
    assert checked == len(groups) > 0


def test_the_histograms_count_every_collaboration_shown(data):
    league = national.league_histogram(data)
    rates = national.response_rate_histogram(data)
    shown = league.data[~league.data["suppressed"]]
    assert len(shown) == int((~rates.data["suppressed"]).sum())
    assert "Histogram of the average score" in league.alt
    assert f"{len(shown)} collaborations" in league.alt
    assert isinstance(rates.data, pd.DataFrame) and "median" in rates.alt
