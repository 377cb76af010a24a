"""Rendered pages in a real headless Chromium: axe-core, console, images, links; and PDF.

Skipped (with the reason) where Chromium is not installed. The pages are the test report of
tests/test_report_render.py (hostile names, callouts, figures, tables) and an index page that
links to it, rendered into a temporary folder like a small site.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fixtures import analysed_programme

from reports.accessibility import WCAG_TAGS, check_pages
from reports.notebook import ReportNotebook
from reports.pdf import find_chromium, html_to_pdf
from reports.render import render_html

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None,
                       reason="Chromium is not installed (no chromium or chromium-browser on "
                              "PATH, COLLAB_CHROMIUM not set): browser checks and PDF skipped"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    from test_report_render import build_test_report

    folder = tmp_path_factory.mktemp("site")
    data = analysed_programme()
    report = render_html(build_test_report(data).build(),
                         out=folder / "reports" / "hostile.html")
    assert "Figure 1" in report
    index = ReportNotebook(title="Test programme: reports", author="Test programme",
                           data_path=".")
    index.heading("Reports")
    index.markdown("- [The hostile collaboration](reports/hostile.ipynb)\n"
                   "- [Its results](reports/hostile.ipynb#results)\n"
                   "- [Its first figure](reports/hostile.ipynb#fig-means-hostile)")
    index.callout("note", "Figures for fewer than 10 respondents are not shown.",
                  title="Hidden figures")
    render_html(index.build(), out=folder / "index.html")
    # the test report links to these pages: give them something to point at
    (folder / "reports" / "overview.html").write_text(
        '<!DOCTYPE html><html lang="en-GB"><head><title>Overview</title></head>'
        '<body><main><h1 id="summary">Overview</h1></main></body></html>')
    return {"index": folder / "index.html", "report": folder / "reports" / "hostile.html",
            "folder": folder}


@pytest.fixture(scope="module")
def checks(site):
    return check_pages([site["index"], site["report"]])


def test_pages_pass_the_browser_checks(checks):
    assert len(checks) == 2
    for check in checks:
        assert check.ok, check.summary()
        assert not check.console_errors and not check.page_errors, check.summary()
        assert not check.broken_images and not check.broken_links, check.summary()
        assert not check.external_requests, check.summary()
        assert not [v for v in check.violations if v.impact in ("serious", "critical")], \
            check.summary()


def test_summary_names_the_page(checks, site):
    assert checks[0].summary().startswith("index.html: ok")
    assert checks[1].path == site["report"].resolve()


def test_the_checks_can_fail(tmp_path: Path):
    """A page with every kind of problem: each one is found and the page is not ok."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>Bad</title></head><body>"
        '<p style="color:#b0b0b0">low contrast text</p>'
        '<img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="missing.png" alt="missing">'
        '<img src="https://example.org/x.png" alt="outside">'
        '<a href="#nowhere">anchor</a> <a href="nofile.html">file</a>'
        "<script>console.error('boom'); throw new Error('kaput');</script>"
        "</body></html>")
    (check,) = check_pages([bad])
    assert not check.ok
    assert "boom" in check.console_errors
    assert any("kaput" in e for e in check.page_errors)
    assert len(check.broken_images) == 3
    assert any(b.startswith("#nowhere") for b in check.broken_links)
    assert any(b.startswith("nofile.html") for b in check.broken_links)
    assert check.external_requests == ("https://example.org/x.png",)
    rules = {v.rule: v.impact for v in check.failing_violations}
    assert {"color-contrast", "html-has-lang", "image-alt"} <= set(rules)
    assert "FAILED" in check.summary() and "color-contrast" in check.summary()


def test_wcag_22_rules_are_run():
    assert {"wcag2aa", "wcag21aa", "wcag22aa"} <= set(WCAG_TAGS)


def test_pdf_is_a4_with_pages(site, tmp_path: Path):
    outs = html_to_pdf([site["report"], site["index"]], out_dir=tmp_path / "pdf")
    assert [p.name for p in outs] == ["hostile.pdf", "index.pdf"]
    for pdf in outs:
        content = pdf.read_bytes()
        assert content.startswith(b"%PDF-")
        assert len(re.findall(rb"/Type\s*/Page\b(?!s)", content)) >= 1
        box = re.search(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", content)
        assert box and abs(float(box.group(1)) - 595.3) < 2 and abs(float(box.group(2)) - 841.9) < 2
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", outs[0].read_bytes())) >= 2
    # one PDF path per page, in order
    (single,) = html_to_pdf([site["index"]], [tmp_path / "one" / "site-index.pdf"])
    assert single == tmp_path / "one" / "site-index.pdf" and single.stat().st_size > 1000
