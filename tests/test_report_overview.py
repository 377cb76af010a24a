"""The programme overview report: structure, numbers against the benchmark tables,
suppression of the small collaboration, escaping of the hostile name, and links."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from functools import cache
from html.parser import HTMLParser

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixtures import HOSTILE_NAME, analysed_programme, hostile_id, small_id, small_true_means

from collab_stats.change import INVARIANCE_CAVEAT
from reports.notebook import FigureOutput, TableOutput, cell_options
from reports.overview_report import build_overview_report
from reports.text import fmt_ci, fmt_number, html_escape, md_escape

pytestmark = pytest.mark.slow

SECTIONS = [
    "Summary",
    "Response rates",
    "Scores by collaboration and characteristic",
    "Collaborations compared, with their uncertainty",
    "Comparison with the programme's median",
    "Change since the last wave",
    "Differences between collaborations",
    "About this report",
]
FIGURES = ["fig-response-rates", "fig-heatmap", "fig-league", "fig-verdicts", "fig-change",
           "fig-slopes"]
TABLES = ["tbl-response-rates", "tbl-league", "tbl-verdicts", "tbl-change", "tbl-trends",
          "tbl-differences", "tbl-sources"]
HIDDEN = "fewer than 10 responses"


def links() -> dict[str, str]:
    return {c.id: f"collaborations/{c.id}.ipynb"
            for c in analysed_programme().programme.collaborations}


@cache
def report():
    data = analysed_programme()
    nb = build_overview_report(data, collaboration_links=links())
    return nb, nb.build()


def markdown_cells(book) -> list[str]:
    return [c.source for c in book.cells if c.cell_type == "markdown"]


def outputs(book, mime: str) -> list[str]:
    return [o.data[mime] for c in book.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if mime in o.get("data", {})]


def latest(table):
    data = analysed_programme()
    return table[table["wave_id"].astype(str) == data.latest_wave]


def name_of(cid: str) -> str:
    return analysed_programme().collaboration(cid).name


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell (as written, escaped)."""
    rows = {}
    for line in markdown.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0]] = cells[1:]
    return rows


# --- structure ------------------------------------------------------------------------------

def test_notebook_validates_and_starts_with_front_matter():
    data = analysed_programme()
    _, book = report()
    nbformat.validate(book)
    first = book.cells[0]
    assert first.cell_type == "raw" and first.source.startswith("---\n")
    matter = yaml.safe_load(first.source.strip().strip("-"))
    assert matter["title"] == md_escape(f"{data.programme.name}: programme overview")
    assert matter["author"] == md_escape(data.programme.name)
    assert md_escape(data.programme.waves[-1].label) in matter["subtitle"]
    assert str(matter["date"]) == data.generated_at.date().isoformat()
    assert matter["collab-stats"]["programme"] == data.programme.id


def test_sections_are_level_two_headings_in_order():
    _, book = report()
    headings = [line[3:].strip() for text in markdown_cells(book) for line in text.splitlines()
                if line.startswith("## ")]
    assert headings == SECTIONS
    assert not any(line.startswith("# ") for text in markdown_cells(book)
                   for line in text.splitlines())


def test_figures_are_svg_with_alt_text_and_every_output_is_referenced():
    nb, book = report()
    assert sorted(nb.outputs) == sorted(FIGURES + TABLES)
    text = "\n".join(markdown_cells(book))
    for cell in book.cells:
        if cell.cell_type != "code" or cell.id == "setup":
            continue
        options, code = cell_options(cell.source)
        label = options["label"]
        bundle = cell.outputs[0].data
        if label.startswith("fig-"):
            assert isinstance(nb.outputs[label], FigureOutput)
            assert bundle["image/svg+xml"].startswith("<svg")
            assert len(options["fig-alt"]) > 80 and options["fig-alt"] == nb.outputs[label].alt
            assert options["fig-cap"].endswith(".")
        else:
            assert isinstance(nb.outputs[label], TableOutput)
            assert options["tbl-cap"]
        assert code.startswith(("programme.", "trends.", "provenance."))
        if label != "tbl-sources":
            assert f"@{label}" in text, label


# --- numbers --------------------------------------------------------------------------------

def test_league_table_matches_the_summaries():
    data = analysed_programme()
    nb, _ = report()
    league = nb.outputs["tbl-league"]
    rows = table_rows(league.markdown)
    summaries = latest(data.benchmark["summaries"]).copy()
    summaries["collaboration_id"] = summaries["collaboration_id"].astype(str)
    peers = latest(data.benchmark["peers"])
    peers = peers[peers["peer_set"] == "all"]
    expected_order = []
    for cid, part in summaries.groupby("collaboration_id"):
        cell = f"[{md_escape(name_of(cid))}](<{links()[cid]}>)"
        assert cell in rows, cid
        if part["suppressed"].any():
            assert HIDDEN in rows[cell][1] and rows[cell][2] in (HIDDEN, "–")
            continue
        mean = part["mean"].sum() / len(part)
        low, high = part["ci_low"].sum() / len(part), part["ci_high"].sum() / len(part)
        # A second path to the verdicts: the interval against the peer median.
        mine = part.merge(peers[peers["collaboration_id"].astype(str) == cid][
            ["characteristic", "peer_median"]], on="characteristic")
        above = int((mine["ci_low"] > mine["peer_median"]).sum())
        below = int((mine["ci_high"] < mine["peer_median"]).sum())
        assert rows[cell][1:] == [md_escape(v) for v in (
            fmt_number(mean), fmt_ci(low, high), str(above), str(below))]
        expected_order.append((-mean, cid))
        shown = league.data[league.data["collaboration"] == name_of(cid)].iloc[0]
        assert np.isclose(shown["mean"], mean) and np.isclose(shown["ci_high"], high)
    order = [cid for _, cid in sorted(expected_order)]
    shown_order = [c for c in nb.outputs["fig-league"].data["collaboration"]
                   if c in {name_of(x) for x in order}]
    assert shown_order == [name_of(c) for c in order]


def test_change_and_differences_counts_match_the_tables():
    data = analysed_programme()
    nb, book = report()
    change = latest(data.benchmark["change"])
    change = change[change["comparison"] == "previous"]
    names = data.characteristic_names()
    rows = table_rows(nb.outputs["tbl-change"].markdown)
    for cid, part in change.groupby(change["characteristic"].astype(str)):
        shown = part[~part["suppressed"]]
        expected = [int((shown["label"] == "significantly improved").sum()),
                    int((shown["label"] == "no significant change").sum()),
                    int((shown["label"] == "significantly declined").sum()),
                    int((shown["label"] == "not tested").sum()),
                    int(part["suppressed"].sum())]
        assert rows[md_escape(names[cid])] == [str(n) for n in expected]
    comparison = latest(data.benchmark["comparison"])
    differ = int((comparison["p_adjusted_welch"] < 0.05).sum())
    text = "\n".join(markdown_cells(book))
    assert (f"Collaborations differ more than chance would explain on {differ} of "
            f"{len(comparison)} characteristics") in text


# --- suppression ----------------------------------------------------------------------------

def test_small_collaboration_shows_fewer_than_n_responses_and_no_numbers():
    data = analysed_programme()
    nb, book = report()
    small = name_of(small_id())
    linked = f"[{md_escape(small)}](<{links()[small_id()]}>)"
    rates = table_rows(nb.outputs["tbl-response-rates"].markdown)[md_escape(small)]
    invited = data.collaboration(small_id()).invited[data.latest_wave]
    assert rates == [HIDDEN, str(invited), HIDDEN]
    assert table_rows(nb.outputs["tbl-league"].markdown)[linked] == [HIDDEN] * 5
    assert table_rows(nb.outputs["tbl-verdicts"].markdown)[md_escape(small)] == [HIDDEN] * 8
    # Figures' numbers: the small collaboration has no value anywhere.
    heat = nb.outputs["fig-heatmap"].data.set_index("collaboration").loc[small]
    assert heat.drop("note").isna().all() and HIDDEN in heat["note"]
    assert small not in set(nb.outputs["fig-verdicts"].data["collaboration"])
    league = nb.outputs["fig-league"].data.set_index("collaboration").loc[small]
    assert league[["n", "mean", "ci_low", "ci_high"]].isna().all()
    rate = nb.outputs["fig-response-rates"].data.set_index("collaboration").loc[small]
    assert np.isnan(rate["n"]) and np.isnan(rate["response_rate"])
    # Its true means, before suppression, are in no output's numbers, nor (in full) anywhere.
    true = np.array(list(small_true_means().values()))
    assert len(true) == 8
    for label, output in nb.outputs.items():
        frame = output.data
        if "collaboration" not in frame.columns:
            continue
        mine = frame[frame["collaboration"] == small].select_dtypes("number").to_numpy()
        assert not np.isclose(mine[..., None], true).any(), label
    everything = nbformat.writes(book)
    for mean in true:
        if len(repr(float(mean))) > 6:
            assert repr(float(mean)) not in everything
    # The heatmap writes a score in every shown cell and "<10" in every hidden one.
    values = nb.outputs["fig-heatmap"].data.drop(columns=["collaboration", "note"])
    texts = [e.text for e in ET.fromstring(nb.outputs["fig-heatmap"].svg).iter()
             if e.tag.endswith("text") and e.text]
    assert texts.count("<10") == int(values.isna().to_numpy().sum())
    assert sum(bool(re.fullmatch(r"\d\.\d\d", t)) for t in texts) == int(
        values.notna().to_numpy().sum())


# --- escaping and links ----------------------------------------------------------------------

class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def _parse(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_hostile_name_is_escaped_everywhere():
    nb, book = report()
    escaped = md_escape(HOSTILE_NAME)
    texts = markdown_cells(book)
    assert any(escaped in t for t in texts), "the hostile name should appear, escaped"
    for text in texts + outputs(book, "text/markdown"):
        lowered = text.lower()
        for bad in ("<script", "<img", "onerror=", "<b ", "](http://evil)"):
            assert bad not in lowered, (bad, text[:200])
    htmls = outputs(book, "text/html") + [
        o.metadata["collab_stats"]["data_html"] for c in book.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if "data_html" in o.get("metadata", {}).get(
            "collab_stats", {})]
    assert any(html_escape(HOSTILE_NAME) in h for h in htmls)
    for html in htmls:
        assert "<script" not in html.lower() and "<img" not in html.lower()
        for tag, attrs in _parse(html):
            assert tag in {"table", "thead", "tbody", "tr", "th", "td", "a"}, tag
            assert not any(name.startswith("on") for name, _ in attrs), (tag, attrs)
    for svg in outputs(book, "image/svg+xml"):
        root = ET.fromstring(svg)
        for element in root.iter():
            assert not element.tag.endswith("script")
            assert not any(a.lower().startswith("on") for a in element.attrib)


def test_links_render_as_markdown_links_with_escaped_text():
    nb, book = report()
    link = links()[hostile_id()]
    league = nb.outputs["tbl-league"]
    assert f"[{md_escape(HOSTILE_NAME)}](<{link}>)" in league.markdown
    assert f'<a href="{link}">{html_escape(HOSTILE_NAME)}</a>' in league.html
    assert [a for t, a in _parse(league.html) if t == "a"] == [
        [("href", links()[c])] for c in nb.outputs["fig-league"].data["collaboration"].map(
            {c.name: c.id for c in analysed_programme().programme.collaborations})]
    text = "\n".join(markdown_cells(book))
    assert f"[{md_escape(HOSTILE_NAME)}](<{link}>)" in text


def test_without_links_names_are_plain_and_bad_links_are_refused():
    data = analysed_programme()
    nb = build_overview_report(data, wave=data.waves[0])
    book = nb.build()
    assert "<a " not in nb.outputs["tbl-league"].html
    assert "](<" not in "\n".join(markdown_cells(book))
    assert "fig-change" not in nb.outputs  # the first wave has nothing to compare with
    assert any("first wave" in t for t in markdown_cells(book))
    with pytest.raises(ValueError, match="collaboration_links"):
        build_overview_report(data, collaboration_links={hostile_id(): "javascript:alert(1)"})
    with pytest.raises(ValueError, match="collaboration_links"):
        build_overview_report(data, collaboration_links={hostile_id(): 'a" onclick="x'})


def test_invariance_caveat_is_shown_when_scalar_invariance_fails():
    data = analysed_programme()
    invariance = pd.DataFrame({"level": ["configural", "metric", "scalar"],
                               "supported": [True, True, False]})
    changed = dataclasses.replace(data, psychometrics={**data.psychometrics,
                                                       "invariance": invariance})
    texts = markdown_cells(build_overview_report(changed).build())
    caveat = [t for t in texts if t.startswith("::: {.callout-warning")]
    assert len(caveat) == 1 and md_escape(INVARIANCE_CAVEAT) in caveat[0]
    _, book = report()
    supported = data.psychometrics["invariance"]
    if bool(supported.loc[supported["level"] == "scalar", "supported"].iloc[0]):
        assert not any(t.startswith("::: {.callout-warning") for t in markdown_cells(book))


def test_league_table_for_one_characteristic_matches_its_summaries():
    from reports.outputs.programme import league_table

    data = analysed_programme()
    summaries = latest(data.benchmark["summaries"])
    summaries = summaries[summaries["characteristic"].astype(str) == "TG"]
    peers = latest(data.benchmark["peers"])
    peers = peers[(peers["peer_set"] == "all") & (peers["characteristic"].astype(str) == "TG")]
    merged = summaries.merge(peers[["collaboration_id", "peer_median"]], on="collaboration_id")
    label = dict(zip(merged["collaboration_id"].astype(str), np.where(
        merged["ci_low"] > merged["peer_median"], "higher",
        np.where(merged["ci_high"] < merged["peer_median"], "lower", "in line")), strict=True))
    rows = table_rows(league_table(data, characteristic="TG").markdown)
    for row in summaries.itertuples():
        cells = rows[md_escape(name_of(str(row.collaboration_id)))]
        if row.suppressed:
            assert cells[1:] == [HIDDEN] * 3
        else:
            assert cells[1:] == [md_escape(fmt_number(row.mean)),
                                 md_escape(fmt_ci(row.ci_low, row.ci_high)),
                                 label[str(row.collaboration_id)]]


def test_trends_read_the_library_verdicts_and_hide_small_collaborations():
    """The trends table shows the random-slope model's figures and verdicts as stored, and the
    caterpillar plot's data holds no suppressed collaboration."""
    nb, book = report()
    data = analysed_programme()
    slopes = data.benchmark["programme_slopes"]
    assert len(slopes) == 8
    names = data.characteristic_names()
    rows = table_rows(nb.outputs["tbl-trends"].markdown)
    words = {"significantly improving": "Improving", "significantly declining": "Declining",
             "no significant trend": "No clear change", "not tested": "Not estimated"}
    for r in slopes.itertuples():
        # columns: change per wave, CI, programme verdict, spread, p, collaborations verdict
        row = rows[md_escape(names[r.characteristic])]
        assert row[2] == words[r.trend_label]
        assert row[5] == md_escape(r.slopes_label.capitalize())
        assert row[0] == md_escape(fmt_number(r.slope, 3, sign=True))
    by_collab = data.benchmark["collaboration_slopes"]
    hidden = by_collab[by_collab["suppressed"].astype(bool)]
    assert len(hidden)  # the fixture has a collaboration below the threshold
    plotted = nb.outputs["fig-slopes"].data
    by_name = {c.name: c.id for c in data.programme.collaborations}
    plotted_pairs = {(by_name[n], str(c)) for n, c in
                     zip(plotted["collaboration"], plotted["characteristic"], strict=True)}
    hidden_pairs = set(zip(hidden["collaboration_id"].astype(str),
                           hidden["characteristic"].astype(str), strict=True))
    assert plotted_pairs and not plotted_pairs & hidden_pairs
    assert len(plotted_pairs) + len(hidden_pairs) == len(by_collab)
    differ = int((slopes["slopes_label"] == "collaborations differ in how fast they change").sum())
    text = "\n".join(markdown_cells(book))
    assert f"change on {differ} of 8 characteristics" in text
