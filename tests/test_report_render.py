"""Rendering report notebooks to HTML without Quarto (reports/render.py, templates/collab).

No browser here: the page is checked as text. The notebook is built with ReportNotebook from
the analysed test programme (tests/report_fixtures.py), with a hostile collaboration name in
markdown, a raw "<script>" markdown cell, callouts, cross-references and links to notebooks.
tests/test_report_browser.py loads such pages in Chromium.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import re
import statistics
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from report_fixtures import HOSTILE_NAME, analysed_programme, hostile_id, small_id

from collab_stats.errors import CollabStatsError
from reports.accessibility import check_pages
from reports.data import ReportData
from reports.notebook import CALLOUT_KINDS, FigureOutput, ReportNotebook, TableOutput
from reports.pdf import find_chromium, html_to_pdf
from reports.provenance import add_provenance, front_matter_provenance
from reports.render import TEMPLATE_DIR, render_html, render_page, unresolved_references
from reports.style import COLOURS, MARKERS, figure, figure_output
from reports.tables import Column, table_output
from reports.text import fmt_int, fmt_number, md_escape, suppressed_text

FAKE_REF = "@fig-means-hostile"   # a user string that looks like a cross-reference


# -- output functions used by the test notebook (module level, as ReportNotebook wants) ------

def _means(data: ReportData, collaboration: str, wave: str) -> pd.DataFrame:
    frame = data.benchmark["summaries"]
    frame = frame[(frame["collaboration_id"].astype(str) == collaboration)
                  & (frame["wave_id"].astype(str) == wave)]
    return frame[["characteristic", "n", "mean", "suppressed"]].astype(
        {"characteristic": str}).reset_index(drop=True)


def means_figure(data: ReportData, *, collaboration: str, wave: str) -> FigureOutput:
    frame = _means(data, collaboration, wave)
    shown = frame[~frame["suppressed"]]
    with figure(6, 3) as (fig, ax):
        ax.plot(shown["mean"], shown["characteristic"], MARKERS["focus"],
                color=COLOURS["focus"])
        ax.set_xlim(1, 5)
        ax.set_xlabel("Mean score (1 to 5)")
        alt = (f"Dot plot of the mean score of {len(shown)} characteristics, from "
               f"{fmt_number(shown['mean'].min())} to {fmt_number(shown['mean'].max())}.")
        return figure_output(fig, alt=alt, data=frame)


def means_table(data: ReportData, *, collaboration: str, wave: str) -> TableOutput:
    return table_output(_means(data, collaboration, wave), [
        Column("characteristic", "Characteristic", keep_when_suppressed=True),
        Column("n", "Responses", fmt_int, numeric=True),
        Column("mean", "Mean score", fmt_number),
    ], threshold=data.threshold)


# -- the notebook ----------------------------------------------------------------------------

def build_test_report(data: ReportData, *, toc_depth: int | None = None) -> ReportNotebook:
    """A small report with everything the renderer handles (also used by the browser test).

    The hostile collaboration is shown for the middle wave (it has numbers there; in the latest
    wave it is suppressed), the small one for the latest wave (suppressed) and the first."""
    wave = data.latest_wave
    extra = front_matter_provenance(data)
    if toc_depth is not None:
        extra["format"] = {"html": {"toc": True, "toc-depth": toc_depth, "lang": "en-GB"}}
    nb = ReportNotebook(title=f"{HOSTILE_NAME}: test report",
                        subtitle=f"Wave {wave}", author="Test programme",
                        date=dt.date(2026, 11, 29), data_path="..", extra_front_matter=extra)
    nb.heading("Summary")
    nb.markdown(f"The collaboration {md_escape(HOSTILE_NAME)} is shown in @fig-means-hostile "
                "and @tbl-means-hostile; the small one in @tbl-means-small and "
                "@Fig-means-small. A missing figure: @fig-nope. Not a reference: "
                f"{md_escape(FAKE_REF)}, nor someone@fig-means-hostile.org.")
    nb.markdown("See the [overview](overview.ipynb), its [summary](overview.ipynb#summary), "
                "the [index](../index.ipynb#contents) and [a script](javascript:alert(1)).")
    nb.markdown("<script>alert(1)</script>", key="raw-script")
    for kind in CALLOUT_KINDS:
        nb.callout(kind, f"Body of the {kind} callout (see @tbl-means-small).",
                   title=f"{kind.title()} title", key=kind)
    nb.heading("Results")
    nb.heading("The hostile collaboration", 3)
    for label, function, caption in (
            ("fig-means-hostile", means_figure, "Mean score per characteristic."),
            ("tbl-means-hostile", means_table, "Mean score per characteristic (see @fig-means-hostile).")):
        nb.output(function, data, label=label, caption=caption,
                  collaboration=hostile_id(), wave=data.waves[1])
    nb.heading("The small collaboration", 3)
    nb.output(means_table, data, label="tbl-means-small", caption="Mean scores (suppressed).",
              collaboration=small_id(), wave=wave)
    nb.output(means_figure, data, label="fig-means-small", caption="Mean scores (suppressed).",
              collaboration=small_id(), wave=data.waves[0])
    add_provenance(nb, data)
    return nb


@pytest.fixture(scope="module")
def data() -> ReportData:
    return analysed_programme()


@pytest.fixture(scope="module")
def notebook(data):
    return build_test_report(data).build()


@pytest.fixture(scope="module")
def page(notebook):
    return render_page(notebook)


def _tags(text: str, name: str) -> list[str]:
    return re.findall(rf"<{name}\b[^>]*>", text)


def _between(text: str, start: str, end: str) -> list[str]:
    return re.findall(re.escape(start) + r"(.*?)" + re.escape(end), text, re.S)


# -- page structure --------------------------------------------------------------------------

def test_front_matter_becomes_the_page_header(page, data):
    text = page.html
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en-GB">' in text
    title = f"{HOSTILE_NAME}: test report"
    assert page.title == title
    assert _between(text, "<title>", "</title>") == [html.escape(title, quote=True)]
    assert len(_tags(text, "h1")) == 1
    assert '<time datetime="2026-11-29">29 November 2026</time>' in text
    assert f"Wave {data.latest_wave}" in text
    # the raw front-matter cell and the hidden setup cell are not shown
    assert "execute:" not in text and "embed-resources" not in text
    assert "load_report_data" not in text


def test_landmarks_skip_link_and_headings(page):
    text = page.html
    assert '<a class="cs-skip" href="#main-content">' in text
    assert '<main id="main-content"' in text
    for tag in ("header", "main", "footer"):
        assert text.count(f"<{tag}") == 1 and text.count(f"</{tag}>") == 1
    assert re.search(r'<nav class="cs-toc" id="contents" aria-label="Contents">\s*<details>', text)
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", text)]
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    # callout titles are not headings: the "## Title" line of a callout is its label
    assert "<h2 id=\"warning-title\"" not in text


def test_css_is_inlined_and_nothing_is_loaded_from_elsewhere(page):
    text = page.html
    assert "<link" not in text and "@import" not in text
    assert re.search(r"<script\b", text, re.I) is None
    css = (TEMPLATE_DIR / "collab" / "collab.css").read_text()
    assert css.strip().splitlines()[-1] in text  # the whole style sheet, to its last line
    for attribute, value in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)""", text):
        assert not re.match(r"(https?:)?//", value.strip(), re.I), (attribute, value)
    assert "mathjax" not in text.lower() and "require.js" not in text


def test_ids_are_unique_and_every_anchor_exists(page):
    ids = re.findall(r'\sid="([^"]+)"', page.html)
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    for anchor in re.findall(r'href="#([^"]+)"', page.html):
        assert anchor in ids, anchor


def test_table_of_contents_lists_the_sections(page, data):
    nav = _between(page.html, '<nav class="cs-toc"', "</nav>")[0]
    entries = re.findall(r'<a href="#([^"]+)">(.*?)</a>', nav)
    assert [text for _, text in entries] == ["Summary", "Results", "About this report"]
    assert all(f'<h2 id="{anchor}">' in page.html for anchor, _ in entries)
    # toc-depth 3 nests the level-3 headings under their section
    deeper = render_page(build_test_report(data, toc_depth=3).build()).html
    nav = _between(deeper, '<nav class="cs-toc"', "</nav>")[0]
    assert re.search(r'href="#results">Results</a><ol>\s*<li><a href="#the-hostile-collaboration">',
                     nav)


# -- cell options, numbering, captions, cross-references -------------------------------------

def test_figures_and_tables_are_numbered_in_order(page):
    assert page.figures == ("fig-means-hostile", "fig-means-small")
    assert page.tables == ("tbl-means-hostile", "tbl-means-small", "tbl-sources")
    captions = [re.sub(r"<[^>]+>", "", c) for c in _between(page.html, "<figcaption>",
                                                              "</figcaption>")]
    assert captions == ["Figure 1: Mean score per characteristic.",
                        "Figure 2: Mean scores (suppressed)."]
    tables = [re.sub(r"<[^>]+>", "", c) for c in _between(page.html, "<caption>", "</caption>")]
    assert tables == ["Table 1: Mean score per characteristic (see Figure 1).",
                      "Table 2: Mean scores (suppressed).",
                      "Table 3: Data sources: survey exports used for this report"]
    # the id sits on the figure / on the table's wrapper, and the caption is above the table
    assert re.search(r'<figure class="cs-figure" id="fig-means-hostile">\s*<img', page.html)
    assert re.search(r'id="tbl-means-small"[^>]*>\s*<table[^>]*><caption>', page.html)


def test_cross_references_become_links(page, notebook):
    text = page.html
    assert '<a href="#fig-means-hostile">Figure 1</a>' in text
    assert '<a href="#tbl-means-hostile">Table 1</a>' in text
    assert '<a href="#tbl-means-small">Table 2</a>' in text
    assert '<a href="#fig-means-small">Figure 2</a>' in text  # @Fig- at a sentence start
    assert "<strong>?@fig-nope</strong>" in text
    assert page.unresolved == ("@fig-nope",)
    assert unresolved_references(notebook) == ["@fig-nope"]
    # escaped user text and e-mail addresses are not references
    assert f"Not a reference: {FAKE_REF}, nor someone@fig-means-hostile.org." in text


def test_code_is_hidden_unless_echo_and_include_false_drops_the_cell(notebook):
    assert "means_table(data" not in render_page(notebook).html
    nb = copy.deepcopy(notebook)
    cells = {c.id: c for c in nb.cells}
    shown = cells["tbl-means-hostile"]
    shown.source = shown.source.replace("#| echo: false\n", "")
    shown.metadata["tags"] = []
    tagged = cells["tbl-means-small"]
    tagged.source = tagged.source.replace("#| echo: false\n", "")  # remove-input tag kept
    dropped = cells["fig-means-small"]
    dropped.source = "#| include: false\n" + dropped.source
    result = render_page(nb)
    code = _between(result.html, '<pre class="cs-code"', "</pre>")
    assert len(code) == 1
    assert "test_report_render.means_table(data, collaboration=" in html.unescape(code[0])
    assert "#|" not in code[0]
    assert 'id="fig-means-small"' not in result.html
    assert result.figures == ("fig-means-hostile",)
    assert result.unresolved == ("@fig-means-small", "@fig-nope")  # no longer resolves


def test_callouts_are_labelled_boxes(page):
    asides = re.findall(r'<aside class="callout callout-([a-z]+)" role="note" '
                        r'aria-labelledby="([^"]+)">(.*?)</aside>', page.html, re.S)
    assert [kind for kind, _, _ in asides] == list(CALLOUT_KINDS)
    for kind, anchor, body in asides:
        assert f'id="{anchor}"' in body
        assert 'aria-hidden="true"' in body  # the icon is decoration; the word carries meaning
        label = "Warning: Warning title" if kind == "warning" else kind.title()
        assert label in re.sub(r"<[^>]+>", "", body)
        assert '<a href="#tbl-means-small">Table 2</a>' in body
    assert ":::" not in page.html


def test_notebook_links_point_at_pages_and_script_links_are_dropped(page):
    text = page.html
    assert '<a href="overview.html">overview</a>' in text
    assert '<a href="overview.html#summary">summary</a>' in text
    assert '<a href="../index.html#contents">index</a>' in text
    assert ".ipynb" not in " ".join(re.findall(r'href="([^"]*)"', text))
    assert "javascript:" not in text


# -- figures, tables and their numbers -------------------------------------------------------

def test_figures_are_embedded_images_with_their_alt_text_and_data(page, notebook, data):
    images = _tags(page.html, "img")
    assert len(images) == 2
    alts = [c.outputs[0].data["text/plain"] for c in notebook.cells
            if c.cell_type == "code" and c.outputs and "image/svg+xml" in c.outputs[0].data]
    for tag, alt in zip(images, alts, strict=True):
        assert re.search(r'src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"', tag)
        assert f'alt="{html.escape(alt, quote=True)}"' in tag
    # the numbers behind Figure 1 are in a table under "Data for Figure 1"
    details = _between(page.html, '<details class="cs-data"', "</details>")
    assert [re.search(r"<summary>(.*?)</summary>", d).group(1) for d in details] == [
        "Data for Figure 1", "Data for Figure 2"]
    source = _means(data, hostile_id(), data.waves[1])
    assert (~source["suppressed"]).sum() == 8  # the hostile collaboration has numbers there
    for mean in source.loc[~source["suppressed"], "mean"]:
        assert f'<td class="num">{fmt_number(mean, 3)}</td>' in details[0]


def test_table_numbers_match_the_source_and_suppressed_rows_show_no_number(page, data):
    hostile = _between(page.html, 'id="tbl-means-hostile"', "</table>")[0]
    source = _means(data, hostile_id(), data.waves[1])
    assert not source["suppressed"].all()
    rows = re.findall(r"<tr(?: class=\"cs-suppressed\")?>(.*?)</tr>", hostile)[1:]
    assert len(rows) == len(source)
    for row, record in zip(rows, source.itertuples(), strict=True):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        expected = ([suppressed_text(data.threshold)] * 2 if record.suppressed
                    else [fmt_int(record.n), fmt_number(record.mean)])
        assert cells == [record.characteristic, *expected]
    small = _between(page.html, 'id="tbl-means-small"', "</table>")[0]
    body = small.split("<tbody>")[1]
    assert body.count('<tr class="cs-suppressed">') == body.count("<tr")
    assert not re.search(r'<td class="num">[0-9]', body)
    assert suppressed_text(data.threshold) in body


# -- safety ----------------------------------------------------------------------------------

def test_hostile_text_and_raw_html_in_markdown_come_out_inert(page):
    text = page.html
    assert re.search(r"<\s*script", text, re.I) is None
    assert re.search(r"<img[^>]*onerror", text, re.I) is None
    assert re.search(r"<b\b", text) is None
    # the name reads as it was written, as text
    assert html.escape(HOSTILE_NAME, quote=False) in text
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in text
    assert 'href="http://evil"' not in text


@pytest.mark.parametrize("fragment", [
    "<table><tr><td><script>alert(1)</script></td></tr></table>",
    '<table><tr><td><img src=x onerror="alert(1)"></td></tr></table>',
    '<table><tr><td onmouseover="alert(1)">x</td></tr></table>',
    '<div><a href="javascript:alert(1)">x</a></div>',
    '<div><iframe srcdoc="x"></iframe></div>',
    '<div style="background:url(http://evil/x.png)">x</div>',
    # written to slip past a careless check: ">" inside a value, "/" as a separator, entities
    '<table><tr><td title="x>" onclick="alert(1)">x</td></tr></table>',
    "<table><tr><td/onclick=alert(1)>x</td></tr></table>",
    '<div><a href="javascript&colon;alert(1)">x</a></div>',
    "<table><!-- <script>alert(1)</script> --></table>",
])
def test_unsafe_html_outputs_are_refused(notebook, fragment):
    nb = copy.deepcopy(notebook)
    cell = next(c for c in nb.cells if c.get("id") == "tbl-means-hostile")
    cell.outputs[0].data["text/html"] = fragment
    with pytest.raises(CollabStatsError, match="tbl-means-hostile"):
        render_page(nb)


def test_figure_data_html_is_checked_too(notebook):
    nb = copy.deepcopy(notebook)
    cell = next(c for c in nb.cells if c.get("id") == "fig-means-hostile")
    cell.outputs[0].metadata["collab_stats"]["data_html"] = "<table><script>x</script></table>"
    with pytest.raises(CollabStatsError, match="script"):
        render_page(nb)


# -- determinism, files, speed ---------------------------------------------------------------

def test_rendering_is_deterministic_and_leaves_the_notebook_alone(notebook, page):
    before = nbformat.writes(notebook)
    again = render_html(copy.deepcopy(notebook))
    assert again == page.html == render_html(notebook)
    assert nbformat.writes(notebook) == before


def test_render_html_writes_the_page(notebook, page, tmp_path: Path):
    out = tmp_path / "reports" / "x.html"
    assert render_html(notebook, out=out) == page.html
    assert out.read_text(encoding="utf-8") == page.html
    assert [p.name for p in out.parent.iterdir()] == ["x.html"]  # no temporary file left


def test_a_notebook_re_executed_in_jupyter_renders_too(notebook):
    """After re-execution outputs are execute_result bundles without our metadata."""
    nb = copy.deepcopy(notebook)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.outputs:
            cell.outputs = [nbformat.v4.new_output("execute_result", data=dict(
                cell.outputs[0].data), execution_count=1)]
    result = render_page(nb)
    assert result.figures == ("fig-means-hostile", "fig-means-small")
    assert '<details class="cs-data"' not in result.html and len(_tags(result.html, "img")) == 2


def test_rendering_is_fast(notebook):
    render_page(notebook)
    times = []
    for _ in range(15):
        started = time.perf_counter()
        render_page(notebook)
        times.append(time.perf_counter() - started)
    # about 5 ms on a quiet machine; the bound leaves room for a loaded CI runner
    assert statistics.median(times) < 0.25, times


# -- PDF and browser set-up errors (no browser needed) ---

def test_pdf_refuses_missing_pages_and_mismatched_outputs(page, tmp_path: Path):
    index = tmp_path / "index.html"
    index.write_text(page.html)
    with pytest.raises(CollabStatsError, match="no such page"):
        html_to_pdf([tmp_path / "missing.html"])
    with pytest.raises(CollabStatsError, match="one PDF path per page"):
        html_to_pdf([index], [tmp_path / "a.pdf", tmp_path / "b.pdf"])


def test_missing_chromium_is_a_clear_error(page, monkeypatch, tmp_path: Path):
    """No browser is started: the error comes first."""
    index = tmp_path / "index.html"
    index.write_text(page.html)
    monkeypatch.setenv("COLLAB_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert find_chromium() is None
    with pytest.raises(CollabStatsError, match="Chromium was not found"):
        html_to_pdf([index], out_dir=tmp_path)
    with pytest.raises(CollabStatsError, match="COLLAB_CHROMIUM"):
        check_pages([index])


# -- the style sheet -------------------------------------------------------------------------

def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_have_aa_contrast():
    css = (TEMPLATE_DIR / "collab" / "collab.css").read_text()
    var = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    backgrounds = dict(re.findall(r"\.callout-([a-z]+) \{ border-color: #\w+; "
                                  r"background: (#[0-9a-fA-F]{6})", css))
    assert set(backgrounds) == set(CALLOUT_KINDS)
    pairs = [(var["ink"], "#ffffff"), (var["muted"], "#ffffff"), (var["muted"], var["light"]),
             (var["link"], "#ffffff"), (var["link"], var["light"]), (var["visited"], "#ffffff"),
             (var["link-hover"], "#ffffff"), ("#ffffff", var["band"]), ("#ffffff", var["ink"]),
             (var["ink"], var["focus"])]
    pairs += [(var["ink"], bg) for bg in backgrounds.values()]
    pairs += [(var["link"], bg) for bg in backgrounds.values()]
    for text, background in pairs:
        assert _contrast(text, background) >= 4.5, (text, background)


def test_contrast_helper_matches_the_wcag_examples():
    # WCAG: black on white is 21:1; #767676 on white is the lightest grey at 4.5:1
    assert _contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert _contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
