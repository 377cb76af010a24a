"""The collaboration benchmark report: structure, figures, numbers against the benchmark
tables, suppression of the small collaboration, escaping of the hostile names, free text only
when asked for, and the framework's guidance for strengths."""

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
import report_fixtures
import yaml
from report_fixtures import HOSTILE_NAME, HOSTILE_PARTNER, analysed_programme, hostile_id, small_id

from collab_stats.change import INVARIANCE_CAVEAT
from collab_stats.errors import CollabStatsError
from reports.collaboration_report import (
    FREE_TEXT_SECTION,
    SECTIONS,
    SHORT_SECTIONS,
    build_collaboration_report,
)
from reports.notebook import FigureOutput, TableOutput, cell_options
from reports.outputs import collaboration as outputs_module
from reports.text import fmt_ci, fmt_int, fmt_number, fmt_percent, md_escape

pytestmark = pytest.mark.slow

HIDDEN = "fewer than 10 responses"
FIGURES = ["fig-peers", "fig-profile", "fig-trend", "fig-items-purpose", "fig-items-culture",
           "fig-items-resources"]


# -- helpers -------------------------------------------------------------------------------------

@cache
def report(collaboration: str, wave: str | None = None, free_text: bool = False, data=None):
    data = data or analysed_programme()
    nb = build_collaboration_report(data, collaboration, wave=wave, free_text=free_text)
    return nb, nb.build()


def shown_id() -> str:
    """A collaboration whose latest-wave figures are shown and which has a labelled strength
    relative to peers (so every section has content)."""
    data = analysed_programme()
    verdicts = data.benchmark["verdicts"]
    keep = ((verdicts["wave_id"].astype(str) == data.latest_wave)
            & (verdicts["comparator"] == "all") & (verdicts["highlight"] == "strength"))
    ids = set(verdicts.loc[keep, "collaboration_id"].astype(str))
    return next(c.id for c in data.programme.collaborations if c.id in ids)


def markdown_cells(book) -> list[str]:
    return [c.source for c in book.cells if c.cell_type == "markdown"]


def outputs(book, mime: str) -> list[str]:
    return [o.data[mime] for c in book.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if mime in o.get("data", {})]


def headings(book, level: int = 2) -> list[str]:
    mark = "#" * level + " "
    return [c.source.strip()[len(mark):] for c in book.cells
            if c.cell_type == "markdown" and c.source.startswith(mark)]


def section(book, title: str) -> str:
    """The markdown of one level-2 section (up to the next level-2 heading)."""
    text, inside = [], False
    for c in book.cells:
        if c.cell_type == "markdown" and c.source.startswith("## "):
            inside = c.source.strip() == f"## {title}"
            continue
        if inside and c.cell_type == "markdown":
            text.append(c.source)
    return "\n".join(text)


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(output: TableOutput) -> list[list[str]]:
    """Header row and body rows of a table's HTML, as unescaped cell texts."""
    parser = _Cells()
    parser.feed(output.html)
    return parser.rows


def latest_rows(table: str, collaboration: str) -> pd.DataFrame:
    data = analysed_programme()
    frame = data.benchmark[table]
    keep = ((frame["wave_id"].astype(str) == data.latest_wave)
            & (frame["collaboration_id"].astype(str) == collaboration))
    out = frame[keep.to_numpy()].copy()
    out["characteristic"] = out["characteristic"].astype(str)
    return out.set_index("characteristic")


# -- structure -----------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["shown", "small", "hostile"])
def test_notebook_validates_with_front_matter_first(which):
    cid = {"shown": shown_id, "small": small_id, "hostile": hostile_id}[which]()
    data = analysed_programme()
    _, book = report(cid)
    nbformat.validate(book)
    first = book.cells[0]
    assert first.cell_type == "raw" and first.source.startswith("---\n")
    matter = yaml.safe_load(first.source.strip().strip("-"))
    # Quarto reads these as Markdown: the notebook escapes them (and YAML quotes them).
    assert matter["title"] == md_escape(data.collaboration(cid).name)
    wave_label = data.programme.waves[-1].label
    assert matter["subtitle"] == md_escape(f"Collaboration benchmark report, {wave_label}")
    assert matter["author"] == md_escape(data.programme.name)
    assert HOSTILE_NAME not in first.source
    assert matter["collab-stats"]["programme"] == data.programme.id


@pytest.mark.parametrize("which", ["shown", "small"])
def test_every_section_heading_in_order(which):
    cid = shown_id() if which == "shown" else small_id()
    _, book = report(cid)
    expected = SECTIONS if which == "shown" else SHORT_SECTIONS  # nothing shown: a short report
    assert headings(book) == [*expected, "About this report"]


def test_subsections_are_level_three_under_their_sections():
    _, book = report(shown_id())
    level3 = headings(book, 3)
    assert "Since the previous wave" in level3 and "Across all waves" in level3
    assert {"By sector", "By role", "Since the previous wave"} <= set(level3)
    assert not headings(book, 4)


def test_figures_are_svg_with_alt_text_and_data():
    nb, book = report(shown_id())
    labels = []
    for cell in book.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        options, _ = cell_options(cell.source)
        label = options.get("label", "")
        bundle = cell.outputs[0].data
        if label.startswith("fig-"):
            labels.append(label)
            assert bundle["image/svg+xml"].startswith("<svg")
            assert options["fig-alt"].strip() and len(options["fig-alt"]) > 60
            assert options["fig-cap"].endswith(".")
            assert options["echo"] is False and "remove-input" in cell.metadata["tags"]
            assert isinstance(nb.outputs[label], FigureOutput)
            assert len(nb.outputs[label].data)
        elif label.startswith("tbl-"):
            assert "text/html" in bundle and "<th scope=\"col\"" in bundle["text/html"]
            if label != "tbl-sources":  # the shared provenance section's own caption
                assert options["tbl-cap"].endswith(".")
    assert set(FIGURES) <= set(labels)
    assert "fig-value-modes" in labels and "fig-network" in labels


def test_alt_text_states_the_main_finding():
    data = analysed_programme()
    nb, _ = report(shown_id())
    frame = latest_rows("summaries", shown_id())
    names = data.characteristic_names()
    top = frame["mean"].astype(float).idxmax()
    alt = nb.outputs["fig-peers"].alt
    assert f"Highest score: {names[top]} ({fmt_number(frame.loc[top, 'mean'])})" in alt
    strengths = [
        names[c] for c in latest_rows("verdicts", shown_id()).query(
            "comparator == 'all' and highlight in ('strength', 'area to develop')").index]
    assert strengths and all(s in nb.outputs["fig-profile"].alt for s in strengths)


def test_cross_references_point_to_outputs_of_the_report():
    nb, book = report(shown_id())
    refs = set(re.findall(r"@((?:fig|tbl)-[a-z0-9-]+)", "\n".join(markdown_cells(book))))
    assert refs and refs <= set(nb.outputs)


def test_code_cells_reproduce_their_outputs():
    """A reader re-running a cell gets the stored output: the cell is the call that made it."""
    data = analysed_programme()
    nb, book = report(shown_id())
    namespace = {"collaboration": outputs_module, "data": data}
    checked = 0
    for cell in book.cells:
        options, code = cell_options(cell.source) if cell.cell_type == "code" else ({}, "")
        if not code.startswith("collaboration."):
            continue
        result = eval(code, namespace)  # our own generated call, not user input
        stored = cell.outputs[0].data
        if isinstance(result, FigureOutput):
            assert result.svg == stored["image/svg+xml"]
        else:
            assert result.html == stored["text/html"]
        checked += 1
    assert checked >= 10


# -- numbers -------------------------------------------------------------------------------------

def test_dot_plot_table_matches_summaries_and_peers():
    data = analysed_programme()
    cid = shown_id()
    nb, _ = report(cid)
    summaries = latest_rows("summaries", cid)
    peers = latest_rows("peers", cid)
    peers = peers[peers["peer_set"] == "all"]
    names = {v: k for k, v in data.characteristic_names().items()}
    header, *rows = table_rows(nb.outputs["tbl-peers"])
    assert header[:4] == ["Characteristic", "Responses", "Mean", "95% CI"]
    assert len(rows) == 8
    for name, n, mean, ci, median, iqr, worst_best, _ in rows:
        s = summaries.loc[names[name]]
        p = peers.loc[names[name]]
        assert (n, mean, ci) == (fmt_int(s["n"]), fmt_number(s["mean"]),
                                 fmt_ci(s["ci_low"], s["ci_high"]))
        assert median == fmt_number(p["peer_median"])
        assert iqr == fmt_ci(p["peer_lower_quartile"], p["peer_upper_quartile"])
        assert worst_best == fmt_ci(p["peer_worst"], p["peer_best"])
    figure_data = nb.outputs["fig-peers"].data.set_index("characteristic")
    np.testing.assert_allclose(figure_data.loc[summaries.index, "mean"],
                               summaries["mean"].astype(float))


def test_change_table_matches_change_rows():
    data = analysed_programme()
    cid = shown_id()
    nb, _ = report(cid)
    change = data.benchmark["change"]
    change = change[(change["collaboration_id"].astype(str) == cid)
                    & (change["wave_id"].astype(str) == data.latest_wave)
                    & (change["comparison"] == "previous")]
    change = change.assign(characteristic=change["characteristic"].astype(str)).set_index(
        "characteristic")
    names = {v: k for k, v in data.characteristic_names().items()}
    _, *rows = table_rows(nb.outputs["tbl-change"])
    words = {"significantly improved": "Improved", "significantly declined": "Declined",
             "no significant change": "No clear change"}
    for name, before, after, diff, ci, label in rows:
        c = change.loc[names[name]]
        assert (before, after) == (fmt_number(c["mean_1"]), fmt_number(c["mean_2"]))
        assert diff == fmt_number(c["change"], sign=True)
        assert ci == fmt_ci(c["ci_low"], c["ci_high"])
        assert label == words[c["label"]]


def test_invariance_caveat_gets_a_note_column():
    data = analysed_programme()
    change = data.benchmark["change"].copy()
    change["caveat"] = INVARIANCE_CAVEAT
    changed = dataclasses.replace(data, benchmark={**data.benchmark, "change": change})
    table = outputs_module.change_table(changed, collaboration=shown_id(), wave=data.latest_wave)
    header, first, *_ = table_rows(table)
    assert header[-1] == "Note" and first[-1] == INVARIANCE_CAVEAT


def test_item_shares_and_network_numbers_match_their_tables():
    data = analysed_programme()
    cid = shown_id()
    nb, _ = report(cid)
    items = data.benchmark["items"]
    items = items[(items["collaboration_id"].astype(str) == cid)
                  & (items["wave_id"].astype(str) == data.latest_wave)]
    shown = items[~items["suppressed"].astype(bool)]
    shown = shown.set_index(shown["item_id"].astype(str))
    frame = nb.outputs["tbl-items"].data.set_index("item_id")
    np.testing.assert_allclose(frame.loc[shown.index, "p_5"], shown["p_5"].astype(float))
    net = data.benchmark["network"]
    row = net[(net["collaboration_id"].astype(str) == cid)
              & (net["wave_id"].astype(str) == data.latest_wave)].iloc[0]
    cells = {r[0]: r[1] for r in table_rows(nb.outputs["tbl-network"])[1:]}
    assert cells["Density: share of possible connections named"] == fmt_percent(row["density"])
    assert cells["Share of connections that cross sectors"] == fmt_percent(
        row["cross_sector_share"])


# -- suppression ---------------------------------------------------------------------------------

def test_small_collaboration_shows_no_hidden_value():
    data = analysed_programme()
    cid = small_id()
    nb, book = report(cid)
    summary = section(book, "Summary")
    assert "callout-warning" in summary and "Fewer than 10 people" in summary
    assert not {"fig-peers", "fig-profile", "tbl-peers", "tbl-change"} & set(nb.outputs)
    # The latest wave's response count is hidden, earlier waves' are shown.
    responses = table_rows(nb.outputs["tbl-responses"])
    assert responses[-1][2:] == [HIDDEN, HIDDEN]
    assert HIDDEN in nb.outputs["tbl-responses"].html
    # Nothing shown in the wave: a short report, no tables of "not shown" (issue 11).
    assert set(nb.outputs) <= {"tbl-responses", "tbl-sources"}
    # No frame behind any output holds a number of the hidden wave.
    for label, output in nb.outputs.items():
        frame = output.data
        if "wave_id" in frame.columns and label != "tbl-sources":  # sources: whole programme
            latest = frame[frame["wave_id"].astype(str) == data.latest_wave]
            values = latest.select_dtypes("number").drop(columns=["invited"], errors="ignore")
            assert values.isna().all().all(), list(values.columns)
    # The true (pre-suppression) means appear nowhere, at either precision shown. Table rows
    # of earlier waves are left out of the search: their own numbers may coincide.
    earlier = "|".join(re.escape(w) for w in data.waves[:-1])
    text = re.sub(rf"<tr>(?:(?!</tr>).)*?(?:{earlier})(?:(?!</tr>).)*?</tr>", "",
                  nbformat.writes(book), flags=re.S)
    assert "tbl-responses" in text  # the search below covers the whole notebook
    true_means = getattr(report_fixtures, "small_true_means", None)
    if true_means is not None:
        markdown = "\n".join(markdown_cells(book))
        for value in true_means().values():
            assert fmt_number(value, 2) not in markdown
            assert fmt_number(value, 3) not in text


def test_suppressed_breakdown_cells_say_fewer_than():
    data = analysed_programme()
    for c in data.programme.collaborations:
        nb, book = report(c.id)
        table = nb.outputs.get("tbl-breakdown-sector")
        if table is None:
            continue
        frame = table.data
        hidden = frame[frame["hidden"]]
        rows = {r[0]: r[1:] for r in table_rows(table)[1:]}
        header = table_rows(table)[0][1:]
        names = data.characteristic_names()
        for r in hidden.itertuples():
            label = f"{r.subgroup_label}: mean (responses)"
            if label in header:
                assert rows[names[r.characteristic]][header.index(label)] == HIDDEN
            else:
                assert r.subgroup_label in section(book, "Results by sector and role")
        shown = frame[~frame["hidden"] & ~frame["protected"]]
        for r in shown.itertuples():
            cell = rows[names[r.characteristic]][header.index(f"{r.subgroup_label}: mean "
                                                              "(responses)")]
            assert cell == f"{fmt_number(r.mean)} ({fmt_int(r.n)})"
        return
    pytest.skip("no collaboration has a sector with enough responses")


# -- escaping ------------------------------------------------------------------------------------

@pytest.mark.parametrize("wave", [None, "2025-09"])
def test_hostile_names_are_escaped_everywhere(wave):
    nb, book = report(hostile_id(), wave)
    if wave is not None:  # the hostile partner's sector is on the connection map
        assert {"fig-network", "tbl-sector-ties"} <= set(nb.outputs)
    markdown = markdown_cells(book)
    for text in markdown:
        assert HOSTILE_NAME not in text and HOSTILE_PARTNER not in text
        for raw in ("<script", "<img", "<b ", "onerror=", "onmouseover=", "](http://evil)"):
            assert raw not in text.lower()
    for html in outputs(book, "text/html") + outputs(book, "image/svg+xml"):
        assert not re.search(r"<\s*(script|img|b)\b", html, flags=re.I)
        assert HOSTILE_NAME not in html and HOSTILE_PARTNER not in html
    joined = "\n".join(markdown)
    assert md_escape(HOSTILE_NAME) in joined
    assert md_escape(HOSTILE_PARTNER) in joined


# -- free text -----------------------------------------------------------------------------------

COMMENT = "Great <script>alert('c')</script> work by [me](http://x)"


def with_comments():
    data = analysed_programme()
    comments = pd.DataFrame({
        "wave_id": data.latest_wave,
        "collaboration_id": [shown_id(), small_id()],
        "respondent_id": ["r1", "r2"],
        "question_id": "comment",
        "text": [COMMENT, "small group secret"],
    })
    return dataclasses.replace(data, comments=comments)


def test_free_text_is_absent_by_default():
    data = with_comments()
    _, book = report(shown_id(), None, False, data)
    assert FREE_TEXT_SECTION not in headings(book)
    assert "alert('c')" not in nbformat.writes(book) and "alert" not in "".join(
        markdown_cells(book)).replace(md_escape(HOSTILE_NAME), "")


def test_free_text_when_enabled_is_escaped_and_respects_the_threshold():
    data = with_comments()
    _, book = report(shown_id(), None, True, data)
    assert headings(book)[-2:] == [FREE_TEXT_SECTION, "About this report"]
    answers = section(book, FREE_TEXT_SECTION)
    assert md_escape(COMMENT) in answers and "<script" not in answers
    _, small = report(small_id(), None, True, data)
    assert FREE_TEXT_SECTION not in headings(small)
    assert "small group secret" not in nbformat.writes(small)


# -- guidance ------------------------------------------------------------------------------------

def test_strengths_section_gives_the_frameworks_guidance():
    data = analysed_programme()
    cid = shown_id()
    _, book = report(cid)
    text = section(book, "Strengths and areas to develop")
    picked = latest_rows("verdicts", cid).query(
        "comparator == 'all' and highlight in ('strength', 'area to develop')")
    characteristic = data.family.framework.characteristic(picked.index[0])
    kind = "Strength" if picked["highlight"].iloc[0] == "strength" else "Area to develop"
    assert f"### {kind}: {md_escape(characteristic.name)}" in "\n".join(
        c.source for c in book.cells if c.cell_type == "markdown")
    assert md_escape(characteristic.why_important[0]) in text
    assert md_escape(characteristic.indicators[0].seed_text) in text
    example = characteristic.who_does_it_well[0]
    assert md_escape(example.name) in text and md_escape(example.text) in text


# -- options -------------------------------------------------------------------------------------

def test_first_wave_has_no_change_and_unknown_wave_is_an_error():
    data = analysed_programme()
    _, book = report(shown_id(), data.waves[0])
    assert "first wave" in section(book, "Change over time")
    assert headings(book) == [*SECTIONS, "About this report"]
    with pytest.raises(CollabStatsError, match="not a wave"):
        build_collaboration_report(data, shown_id(), wave="1999-01")
    with pytest.raises(CollabStatsError, match="no collaboration"):
        build_collaboration_report(data, "no-such-collaboration")


def test_returns_an_unbuilt_notebook_ending_with_provenance():
    nb, _ = report(shown_id())
    assert nb.cells[-1].source.startswith("#| label: tbl-sources")
    assert any(c.source.strip() == "## About this report" for c in nb.cells)


# -- connections across sectors ------------------------------------------------------------------

def sector_rows(collaboration: str, wave: str | None = None, data=None) -> pd.DataFrame:
    data = data or analysed_programme()
    wave = wave or data.latest_wave
    ties = data.benchmark["sector_ties"]
    keep = ((ties["collaboration_id"].astype(str) == collaboration)
            & (ties["wave_id"].astype(str) == wave))
    return ties[keep.to_numpy()]


def collaboration_with_sectors(low: int, high: int) -> str:
    """A collaboration whose latest-wave network is shown, with between ``low`` and ``high``
    sectors and a connection across sectors."""
    for c in analysed_programme().programme.collaborations:
        rows = sector_rows(c.id)
        n = rows["sector_a"].nunique()
        if low <= n <= high and (rows["n_ties"][rows["sector_a"] != rows["sector_b"]] > 0).any():
            return c.id
    pytest.skip(f"no collaboration with {low} to {high} sectors")


def svg_texts(svg: str, style: str) -> list[str]:
    """The texts of an SVG whose style attribute contains ``style``."""
    return [t for s, t in re.findall(r'<text style="([^"]*)"[^>]*>([^<]*)</text>', svg)
            if style in s]


@pytest.mark.parametrize("kind", ["map", "grid"])
def test_connection_map_draws_the_sector_ties_of_the_collaboration(kind):
    data = analysed_programme()
    limit = outputs_module.MAP_MAX_SECTORS
    cid = (collaboration_with_sectors(2, limit) if kind == "map"
           else collaboration_with_sectors(limit + 1, 99))
    nb, book = report(cid)
    rows = sector_rows(cid)
    figure = nb.outputs["fig-network"]
    # The figure's data are the collaboration's rows of the table, every ordered pair once.
    drawn = figure.data.set_index(["sector_a", "sector_b"]).sort_index()
    source = rows.assign(sector_a=rows["sector_a"].astype(str),
                         sector_b=rows["sector_b"].astype(str)).set_index(
        ["sector_a", "sector_b"]).sort_index()
    assert list(drawn.index) == list(source.index)
    for column in ("n_ties", "n_possible_ties", "n_organisations_a", "n_organisations_b"):
        assert drawn[column].tolist() == source[column].astype(int).tolist(), column
    np.testing.assert_allclose(drawn["density"], source["density"].astype(float))
    assert set(figure.data["wave_id"]) == {data.latest_wave}
    # What is drawn: one number per connected pair (map: on its line; grid: one cell per
    # pair and per sector with a pair possible), and every sector's name.
    order = list(dict.fromkeys(figure.data["sector_a"]))
    lower = source[[order.index(a) > order.index(b) for a, b in source.index]]
    if kind == "map":
        labels = [t for t in svg_texts(figure.svg, "font-size: 8.5px") if t.isdigit()]
        expected = lower.loc[lower["n_ties"] > 0, "n_ties"]
    else:
        labels = [t for t in svg_texts(figure.svg, "font-size: 8px") if t.isdigit()]
        diagonal = source[[a == b for a, b in source.index]]
        expected = pd.concat([lower["n_ties"],
                              diagonal.loc[diagonal["n_possible_ties"] > 0, "n_ties"]])
    assert sorted(map(int, labels)) == sorted(expected.astype(int))
    sectors = outputs_module.option_labels(data, data.latest_wave, "sector")
    text = " ".join(svg_texts(figure.svg, ""))
    for s in order:
        assert sectors[s].split()[0] in text
    assert figure.svg.startswith("<svg")
    options = next(cell_options(c.source)[0] for c in book.cells if c.cell_type == "code"
                   and "label: fig-network" in c.source)
    assert options["fig-alt"] == figure.alt and options["fig-cap"].endswith(".")


def test_sector_table_and_alt_text_give_the_strongest_link_and_cross_share():
    data = analysed_programme()
    cid = collaboration_with_sectors(2, 99)
    nb, book = report(cid)
    rows = sector_rows(cid)
    labels = outputs_module.option_labels(data, data.latest_wave, "sector")
    # Table: each sector once (within) and each pair of sectors once.
    _, *body = table_rows(nb.outputs["tbl-sector-ties"])
    cells = {r[0]: r[1:] for r in body}
    n_sectors = rows["sector_a"].nunique()
    assert len(body) == n_sectors * (n_sectors + 1) // 2
    for r in rows.itertuples():
        a, b = labels[str(r.sector_a)], labels[str(r.sector_b)]
        key = f"{a} (within the sector)" if a == b else f"{a} – {b}"
        if key not in cells:  # the pair appears once, in sector order
            assert a != b and f"{b} – {a}" in cells
            continue
        density = "none possible" if pd.isna(r.density) else fmt_percent(r.density)
        assert cells[key][1:] == [fmt_int(r.n_ties), fmt_int(r.n_possible_ties), density]
    # Alt text and prose: the strongest link across sectors and the share crossing sectors,
    # agreeing with the network table's count of cross-sector ties.
    cross = rows[rows["sector_a"].astype(str) != rows["sector_b"].astype(str)]
    top = cross.loc[cross["n_ties"].astype(int).idxmax()]
    net = data.benchmark["network"]
    net = net[(net["collaboration_id"].astype(str) == cid)
              & (net["wave_id"].astype(str) == data.latest_wave)].iloc[0]
    alt = nb.outputs["fig-network"].alt
    assert (cross["n_ties"] == top["n_ties"]).sum() == 2 or "links across sectors" in alt
    if (cross["n_ties"] == top["n_ties"]).sum() == 2:  # one pair, in both orders
        pair = {labels[str(top["sector_a"])], labels[str(top["sector_b"])]}
        strongest = re.search(r"between (.+) \((\d+) of (\d+) possible connections\)", alt)
        assert strongest and strongest.group(2) == fmt_int(top["n_ties"])
        assert strongest.group(3) == fmt_int(top["n_possible_ties"])
        assert {p for p in pair if p in strongest.group(1)} == pair
    share = (f"{fmt_int(net['n_cross_sector_ties'])} of the {fmt_int(net['n_ties'])} "
             f"connections ({fmt_percent(net['cross_sector_share'])}) cross sectors")
    assert share in alt
    prose = section(book, "Connections across sectors")
    assert f"{fmt_int(net['n_cross_sector_ties'])} of the {fmt_int(net['n_ties'])} " \
           "connections cross sectors" in prose
    assert "@fig-network" in prose and "@tbl-sector-ties" in prose


def test_connection_map_hidden_for_the_small_collaboration():
    data = analysed_programme()
    nb, book = report(small_id())
    assert not len(sector_rows(small_id()))
    assert not {"fig-network", "tbl-network", "tbl-sector-ties"} & set(nb.outputs)
    assert "Connections across sectors" not in headings(book)  # the short report
    # The small collaboration's map of the previous wave is drawn from that wave's rows.
    earlier = data.waves[-2]
    nb_earlier, _ = report(small_id(), earlier)
    drawn = nb_earlier.outputs["fig-network"].data
    assert set(drawn["wave_id"]) == {earlier}
    assert drawn["n_ties"].sum() == sector_rows(small_id(), earlier)["n_ties"].sum()


def test_connection_map_without_the_table_or_its_rows_is_described_not_drawn():
    data = analysed_programme()
    cid = shown_id()
    older = dataclasses.replace(data, benchmark={k: v for k, v in data.benchmark.items()
                                                 if k != "sector_ties"})
    nb, book = report(cid, None, False, older)
    assert "tbl-network" in nb.outputs
    assert not {"fig-network", "tbl-sector-ties"} & set(nb.outputs)
    assert "analysed before it was added" in section(book, "Connections across sectors")
    ties = data.benchmark["sector_ties"]
    emptied = dataclasses.replace(data, benchmark={
        **data.benchmark, "sector_ties": ties[ties["collaboration_id"].astype(str) != cid]})
    nb, book = report(cid, None, False, emptied)
    assert not {"fig-network", "tbl-sector-ties"} & set(nb.outputs)
    assert "Connections between sectors are not available" in section(
        book, "Connections across sectors")


def test_sector_names_in_the_map_are_escaped():
    """Sector ids without a label in the instrument are shown as they are: escaped."""
    data = analysed_programme()
    cid = collaboration_with_sectors(2, outputs_module.MAP_MAX_SECTORS)
    ties = data.benchmark["sector_ties"].copy()
    mine = (ties["collaboration_id"].astype(str) == cid).to_numpy()
    first = str(ties.loc[mine, "sector_a"].iloc[0])
    for column in ("sector_a", "sector_b"):
        values = ties[column].astype(str)
        ties[column] = values.where(~(mine & (values == first)).to_numpy(), HOSTILE_PARTNER)
    hostile = dataclasses.replace(data, benchmark={**data.benchmark, "sector_ties": ties})
    nb, book = report(cid, None, False, hostile)
    figure, table = nb.outputs["fig-network"], nb.outputs["tbl-sector-ties"]
    assert HOSTILE_PARTNER in set(figure.data["sector_a_label"])
    for text in (figure.svg, table.html, *markdown_cells(book)):
        assert HOSTILE_PARTNER not in text
        assert not re.search(r"<\s*b\b", text)
    assert "Evil NHS Trust" in figure.svg and "Evil NHS Trust" in table.html


# -- profile labels ------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _style(element, key: str) -> str:
    """One property of an SVG element's ``style`` attribute."""
    pairs = (part.split(":", 1) for part in element.get("style", "").split(";") if ":" in part)
    return {k.strip(): v.strip() for k, v in pairs}.get(key, "")


def _text_extent(element) -> tuple[float, float]:
    """Left and right edge, in points, of one line of SVG text in the house font."""
    size = float(_style(element, "font-size").removesuffix("px"))
    width = outputs_module._text_width(element.text or "", size) * 72
    x = float(element.get("x"))
    shift = {"start": 0.0, "middle": width / 2, "end": width}[_style(element, "text-anchor")]
    return x - shift, x - shift + width


def _plot_box(svg: str) -> tuple[float, float, list]:
    """The plotting area's left and right edge (from its bottom spine, the horizontal line
    drawn with square caps) and the figure's elements in drawing order."""
    elements = list(ET.fromstring(svg))
    for e in elements:
        if e.tag == f"{SVG}path" and _style(e, "stroke-linecap") == "square":
            _, x0, y0, _, x1, y1 = e.get("d").split()
            if y0 == y1:
                return float(x0), float(x1), elements
    raise AssertionError("no bottom spine in the figure")


@pytest.mark.parametrize("values", [
    (-1.19, -0.86, -0.68, 0.07, -0.21, -0.29, -0.34, -0.12),   # bath in the demo workspace
    (-3.2, 2.9, 0.05, -0.3, 0.4, -0.02, 1.4, -1.5),            # long bars both ways
    (0.3, 0.25, 0.21, 0.1, -0.1, -0.21, -0.25, -0.3),          # short bars only
])
def test_profile_value_labels_stay_inside_the_plot(values):
    """Every value label lies within the plotting area, clear of the characteristic names on
    the left and of the figure's right edge, whatever the length of the bars."""
    data = analysed_programme()
    cid = shown_id()
    verdicts = data.benchmark["verdicts"].copy()  # the figure's d and words come from here
    keep = ((verdicts["collaboration_id"].astype(str) == cid)
            & (verdicts["wave_id"].astype(str) == data.latest_wave)
            & (verdicts["comparator"] == "all"))
    order = list(data.characteristic_names())
    index = verdicts.index[keep.to_numpy()]
    rank = [order.index(str(c)) for c in verdicts.loc[index, "characteristic"]]
    d = np.asarray(values)[rank]
    verdicts.loc[index, "d"] = d
    low, high = np.argsort(d)[:2], np.argsort(d)[-2:]
    verdicts.loc[index, "highlight"] = [("area to develop" if k in low and d[k] <= -0.2 else
                                         "strength" if k in high and d[k] >= 0.2 else "")
                                        for k in range(len(d))]
    changed = dataclasses.replace(data, benchmark={**data.benchmark, "verdicts": verdicts})
    svg = outputs_module.profile_figure(changed, collaboration=cid, wave=data.latest_wave).svg
    left, right, elements = _plot_box(svg)
    labels = []
    for previous, element in zip(elements, elements[1:], strict=False):
        text = element.text or ""
        if (element.tag != f"{SVG}text" or not re.match(r"^[+\u2212]?\d", text)
                or _style(element, "font-size") != "8.5px"):  # 10px: a tick label
            continue
        labels.append(text)
        x0, x1 = _text_extent(element)
        if previous.tag == f"{SVG}rect" and _style(previous, "fill") == "white":
            x0 = float(previous.get("x"))  # the label's white box
            x1 = x0 + float(previous.get("width"))
        assert left <= x0 and x1 <= right, text
    names = [e for e in elements if e.tag == f"{SVG}text" and _style(e, "font-size") == "9px"
             and _style(e, "text-anchor") == "end"]
    assert names and max(_text_extent(n)[1] for n in names) <= left
    assert len(labels) == 8
    assert any("area to develop" in t for t in labels) == (min(values) <= -0.2)


# -- comparators (issue 11.5) --------------------------------------------------------------------

def test_a_comparator_with_too_few_peers_falls_back_to_the_programme():
    """A collaboration whose peer group and region have fewer than five shown collaborations
    in the latest wave: the report compares with the programme and says why."""
    data = analysed_programme()
    peers = data.benchmark["peers"]
    latest = peers[peers["wave_id"].astype(str) == data.latest_wave]
    few = latest[latest["peer_set"].isin(["region", "peer_group"])].groupby(
        latest["collaboration_id"].astype(str))["peer_n"].max() < 5
    cid = next(c.id for c in data.programme.collaborations if few.get(c.id, False))
    for peer_set in ("region", "peer_group"):
        nb = build_collaboration_report(data, cid, peer_set=peer_set)
        summary = "\n".join(markdown_cells(nb.build())).replace("\\", "")
        assert "has too few collaborations with enough responses" in summary
        assert "the programme's collaborations are used instead" in summary
        assert "Against the programme's collaborations" in summary


def test_the_peer_group_comparator_is_named_and_read_from_the_verdict_table():
    """A copy of the fixture in which the peer-group rows are the programme's (every
    collaboration one peer group): the report names the peer group in every verdict and
    reads the peer-group verdicts."""
    data = analysed_programme()
    benchmark = dict(data.benchmark)
    for table, column in (("peers", "peer_set"), ("verdicts", "comparator")):
        frame = benchmark[table]
        rest = frame[frame[column].astype(str) != "peer_group"]
        copy = frame[frame[column].astype(str) == "all"].copy()
        copy[column] = "peer_group"
        benchmark[table] = pd.concat([rest, copy], ignore_index=True)
    data = dataclasses.replace(data, benchmark=benchmark)
    collab = data.collaboration(shown_id())
    name = next(g.name for g in data.programme.peer_groups if g.id == collab.peer_group)
    nb = build_collaboration_report(data, shown_id(), peer_set="peer_group")
    book = nb.build()
    text = "\n".join(markdown_cells(book)).replace("\\", "")
    assert f"Against its peer group ({name})" in text
    assert "used instead" not in text
    assert f"compared with its peer group ({name})" in nbformat.writes(book)  # panel caption
    verdicts = benchmark["verdicts"]
    expected = verdicts[(verdicts["comparator"] == "peer_group")
                        & (verdicts["collaboration_id"].astype(str) == shown_id())
                        & (verdicts["wave_id"].astype(str) == data.latest_wave)]
    got = nb.outputs["tbl-peers"].data["verdict"].to_numpy()
    assert (got == expected["verdict"].astype(object).where(
        expected["verdict"].notna(), "").to_numpy()).all()


# -- change across a version change; too few answers on the main way (issue 11.3, 11.6) ----------

def test_change_across_a_version_change_says_which_questions_it_rests_on():
    """The fixture's latest wave uses version 2.0, the one before 1.0: the change uses the
    comparable questions, says so beside the table and names the questions left out; the
    previous wave's report (1.0 to 1.0) says the change uses the report's own scores."""
    data = analysed_programme()
    assert data.instrument_version(data.latest_wave) != data.instrument_version(data.waves[-2])
    _, book = report(shown_id())
    text = section(book, "Change over time").replace("\\", "")
    assert "The questionnaire changed between these waves (version 1.0 to 2.0)" in text
    change = latest_rows("change", shown_id())
    change = change[change["comparison"] == "previous"]
    assert (change["items"] == "comparable").all()
    left = [i.split(" (version")[0] for s in change["items_left_out"] for i in s.split("; ") if i]
    assert left, "the versions differ in some items"
    texts = {i.id: i.text for v in data.family.versions for i in v.items}
    assert "Left out:" in text and texts[left[0]] in text
    _, earlier = report(shown_id(), data.waves[-2])
    assert "Both waves used version 1.0 of the questionnaire" in section(
        earlier, "Change over time").replace("\\", "")


def test_too_few_answers_to_the_main_way_of_creating_value_is_said():
    data = analysed_programme()
    benchmark = dict(data.benchmark)
    main = benchmark["main_mode"].copy()
    mine = ((main["collaboration_id"].astype(str) == shown_id())
            & (main["wave_id"].astype(str) == data.latest_wave))
    assert mine.any()
    main.loc[mine, "suppressed"] = True
    benchmark["main_mode"] = main
    data = dataclasses.replace(data, benchmark=benchmark)
    nb = build_collaboration_report(data, shown_id())
    text = section(nb.build(), "Ways of creating value")
    assert "was answered by fewer than 10" in text and "is not shown" in text
