"""A collaboration report as printed (issue 12.1): read back from the PDF with pypdf.

The report of a typical collaboration of the report fixture (eight characteristics shown, a
previous wave, three framework groups of questions, a connection map) is built, rendered
and printed with headless Chromium like the site's PDFs; then its text is read page by page:
at most 12 pages; the first-screen panel on page 1 with every score and interval whole on one
line; no "Data for Figure" table printed; no relative link path printed; no page ending in a
heading.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import analysed_programme

from reports.pdf import find_chromium, html_to_pdf
from reports.site import write_collaboration_page

pypdf = pytest.importorskip("pypdf")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None,
                       reason="Chromium is not installed: the PDF cannot be printed"),
]

MAX_PAGES = 12


def _typical() -> str:
    """The shown collaboration of the latest wave with the most respondents."""
    data = analysed_programme()
    v = data.benchmark["summaries"]
    latest = v[v["wave_id"].astype(str) == data.latest_wave]
    shown = latest.groupby("collaboration_id", observed=True).agg(
        hidden=("suppressed", "sum"), n=("n", "max"))
    return str(shown[shown["hidden"] == 0]["n"].idxmax())


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict:
    data = analysed_programme()
    cid = _typical()
    folder = tmp_path_factory.mktemp("print")
    files, _ = write_collaboration_page(data, folder, cid, f"collaborations/{cid}.ipynb",
                                        wave=data.latest_wave)
    page = next(p for p in files if p.suffix == ".html")
    (pdf,) = html_to_pdf([page], [folder / "report.pdf"])
    reader = pypdf.PdfReader(str(pdf))
    return {"html": page, "pages": [p.extract_text() for p in reader.pages],
            "soup": BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")}


def test_the_typical_report_prints_on_at_most_twelve_pages(printed):
    assert len(printed["pages"]) <= MAX_PAGES, len(printed["pages"])


def test_page_one_holds_the_panel_with_every_number_whole(printed):
    first = printed["pages"][0]
    assert "At a glance" in first
    rows = printed["soup"].find(id="tbl-panel").find("tbody").find_all("tr")
    assert len(rows) == 8
    lines = first.splitlines()
    for row in rows:
        cells = [c.get_text(" ", strip=True) for c in row.find_all(["th", "td"])]
        score = cells[1]  # e.g. "3.52 (3.21 to 3.83)"
        assert re.fullmatch(r"\d\.\d\d \(\d\.\d\d to \d\.\d\d\)", score), score
        assert any(score in line for line in lines), f"{score!r} is split across lines"
        assert any(cells[3] in line for line in lines)  # the favourable share, e.g. "59%"


def test_figure_data_tables_and_relative_paths_are_not_printed(printed):
    text = "\n".join(printed["pages"])
    assert "Data for Figure" not in text
    assert "in the report's downloads" in text  # the PDF says where the numbers are
    assert not re.search(r"\((?:\.\./)*downloads/", text)
    assert not re.search(r"\((?:\.\./)*[\w.-]+/[\w./#-]+\)", text)  # "(dir/file)"


def test_no_page_ends_with_a_heading(printed):
    headings = {h.get_text(" ", strip=True) for h in printed["soup"].find_all(["h2", "h3"])}
    for number, text in enumerate(printed["pages"][:-1], start=1):
        lines = [line.strip() for line in text.splitlines() if line.strip()
                 and not re.search(r"Page \d+ of \d+", line)]
        assert lines, f"page {number} is empty"
        assert lines[-1] not in headings, f"page {number} ends with the heading {lines[-1]!r}"


# -- no clipped text in any figure (issue 12.2) --------------------------------------------------

_TEXT_OUTSIDE = """() => {
  const svg = document.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const out = [];
  for (const t of svg.querySelectorAll('text')) {
    const r = t.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5
        || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
      out.push(t.textContent);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> list[Path]:
    """The overview, the technical report and two collaboration reports of the fixture."""
    from reports.site import plan_links, write_programme_pages

    data = analysed_programme()
    folder = tmp_path_factory.mktemp("figures")
    links = plan_links(data)
    result = write_programme_pages(data, folder, wave=data.latest_wave, links=links)
    files = [p for p in result.html if p.suffix == ".html"]
    for cid in (_typical(), data.programme.collaborations[0].id):
        written, _ = write_collaboration_page(data, folder, cid, links[cid],
                                              wave=data.latest_wave)
        files += [p for p in written if p.suffix == ".html"]
    return files


def test_no_text_of_any_figure_runs_off_it(pages):
    """Every <text> of every SVG figure, laid out by Chromium, lies inside the figure (the
    overview's response-rate note and the technical report's omega title once did not)."""
    import base64

    from reports.pdf import chromium_browser

    clipped, seen = [], 0
    with chromium_browser() as browser:
        page = browser.new_page()
        for path in pages:
            html = path.read_text(encoding="utf-8")
            for m in re.finditer(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html):
                svg = base64.b64decode(m.group(1)).decode("utf-8")
                page.set_content(f"<html><body style='margin:0'>{svg}</body></html>")
                seen += 1
                clipped += [f"{path.name}: {t!r}" for t in page.evaluate(_TEXT_OUTSIDE)]
    assert seen >= 20
    assert not clipped, "\n".join(clipped)
