"""The collaboration benchmark report: structure, figures, numbers against the benchmark
tables, suppression of the small collaboration, escaping of the hostile names, free text only
when asked for, and the framework's guidance for strengths."""

from __future__ import annotations

import dataclasses
import re
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
from reports.collaboration_report import FREE_TEXT_SECTION, SECTIONS, build_collaboration_report
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
    prof = data.benchmark["profile"]
    keep = ((prof["wave_id"].astype(str) == data.latest_wave)
            & (prof["reference"] == "peer_median") & (prof["peer_set"] == "all")
            & (prof["label"] == "strength"))
    ids = set(prof.loc[keep, "collaboration_id"].astype(str))
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
    assert headings(book) == [*SECTIONS, "About this report"]


def test_subsections_are_level_three_under_their_sections():
    _, book = report(shown_id())
    level3 = headings(book, 3)
    assert "Since the previous wave" in level3 and "Across all waves" in level3
    assert {"By sector", "By role", "All questions"} <= set(level3)
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
    strengths = [names[c] for c in latest_rows("profile", shown_id()).query(
        "reference == 'peer_median' and peer_set == 'all' and label == 'strength'").index]
    assert all(s in nb.outputs["fig-profile"].alt for s in strengths)


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
    shown = items[~items["suppressed"]].set_index(items["item_id"].astype(str))
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
    trend = table_rows(nb.outputs["tbl-trend"])
    assert trend[0][3] == data.programme.waves[-1].label
    assert all(row[3] == HIDDEN for row in trend[1:])
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
    assert "fig-trend" in text and "tbl-responses" in text
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
    _, book = report(hostile_id(), wave)
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
    prof = latest_rows("profile", cid).query(
        "reference == 'peer_median' and peer_set == 'all' and label == 'strength'")
    characteristic = data.family.framework.characteristic(prof.index[0])
    assert f"### Strength: {md_escape(characteristic.name)}" in "\n".join(
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
