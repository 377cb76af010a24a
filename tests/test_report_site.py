"""The report site: files, links, downloads with suppression, Quarto project, safety."""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from functools import cache
from pathlib import Path

import nbformat
import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from report_fixtures import (
    HOSTILE_NAME,
    analysed_programme,
    hostile_id,
    small_id,
    small_true_means,
)

from collab_stats.errors import CollabStatsError
from reports.site import build_site, safe_name, write_programme_workbook

pytestmark = pytest.mark.slow


@cache
def _site(tmp: str) -> tuple[Path, object]:
    data = analysed_programme()
    ids = [hostile_id(), small_id(), data.programme.collaborations[2].id]
    messages: list[str] = []
    result = build_site(data, Path(tmp) / "reports", collaborations=ids,
                        progress=messages.append)
    return Path(tmp) / "reports", (result, messages, ids)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _site(str(tmp_path_factory.mktemp("site")))


def test_every_report_is_written_as_a_valid_notebook_with_html_beside_it(site):
    folder, (result, messages, ids) = site
    expected = {"index", "programme-overview", "technical-report",
                *(f"collaborations/{safe_name(i)}" for i in ids)}
    got = {str(p.relative_to(folder).with_suffix("")) for p in result.notebooks}
    assert got == expected
    for path in result.notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("---\n")
        assert path.with_suffix(".html").is_file()
    assert len(messages) == len(ids) + 2
    assert not list(folder.rglob("*.tmp")), "a temporary file was left behind"


def test_index_links_every_report_and_the_workbook(site):
    folder, (result, _, ids) = site
    index = (folder / "index.ipynb").read_text()
    for cid in ids:
        assert f"(collaborations/{safe_name(cid)}.ipynb)" in index
    html = (folder / "index.html").read_text()
    for cid in ids:
        assert f'href="collaborations/{safe_name(cid)}.html"' in html
    assert 'href="downloads/programme-tables.xlsx"' in html
    for target in re.findall(r'href="([^"#:]+)"', html):
        assert (folder / target).exists(), f"index links to a missing file: {target}"


def test_quarto_project_renders_the_notebooks_without_executing(site):
    folder, _ = site
    project = yaml.safe_load((folder / "_quarto.yml").read_text())
    assert project["project"]["type"] == "website"
    assert project["execute"] == {"enabled": False}
    for pattern in project["project"]["render"]:
        assert list(folder.glob(pattern)), pattern
    nb = nbformat.read(folder / "programme-overview.ipynb", as_version=4)
    front = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
    assert front["collab-stats"]["programme"] == analysed_programme().programme.id


def test_the_folder_follows_what_genuine_quarto_needs(site):
    """Issue 12.3, from what Quarto 1.7.34 (offline, pandoc 3.6) did with the folder:
    every format listed is rendered (a `pdf` needs TeX: exit 1); `embed-resources` in a
    website keeps downloads/ and pdf/ out of _site and makes pandoc fetch require.js and
    jQuery; a text/html *display_data* output is taken for a JavaScript widget (those
    scripts again); an untitled callout gets the heading "Warning"; files the pages link to
    are copied only when listed as project resources."""
    folder, _ = site
    project = yaml.safe_load((folder / "_quarto.yml").read_text())
    assert set(project["project"]["resources"]) == {"downloads/", "pdf/"}
    assert "embed-resources" not in yaml.safe_dump(project)
    assert set(project["format"]) == {"html"}
    notebooks = sorted(folder.rglob("*.ipynb"))
    assert len(notebooks) >= 4
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        front = yaml.safe_load(nb.cells[0].source.strip().strip("-"))
        assert set(front["format"]) == {"html"}, path.name
        assert "embed-resources" not in front["format"]["html"], path.name
        assert "self-contained" not in front["format"]["html"], path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                for output in cell.get("outputs", []):
                    if output.output_type == "display_data":
                        assert not {"text/html", "application/javascript"} & set(output.data), (
                            f"{path.name} {cell.id}: a widget to Quarto")
            elif cell.cell_type == "markdown":
                for attrs in re.findall(r"^::: \{(\.callout-[^}]*)\}", cell.source, flags=re.M):
                    assert re.search(r'title="[^"]+"', attrs), (
                        f"{path.name} {cell.id}: a callout without its own title")


def test_every_local_link_of_the_site_resolves(site):
    """Every href and src of every page (HTML and notebook links) names a file that exists,
    and every #anchor an id on the page it points to."""
    folder, _ = site
    pages = sorted(folder.rglob("*.html"))
    ids: dict[Path, set[str]] = {p: set(re.findall(r'\bid="([^"]+)"', p.read_text()))
                                 for p in pages}
    broken = []
    for page in pages:
        for target in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            if re.match(r"^(?:[a-z]+:|//)", target) and not target.startswith("file:"):
                continue  # data: URIs, https: links
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(folder)} -> {target}")
            elif anchor and resolved.suffix == ".html" and anchor not in ids.get(
                    resolved, set(re.findall(r'\bid="([^"]+)"', resolved.read_text()))):
                broken.append(f"{page.relative_to(folder)} -> {target} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_downloads_never_carry_a_suppressed_value(site):
    folder, _ = site
    hidden = list(small_true_means().values())
    assert hidden, "the fixture's small collaboration should have hidden means"
    csvs = list((folder / "downloads" / f"collaborations-{safe_name(small_id())}").glob("*.csv"))
    assert csvs
    for path in csvs:
        frame = pd.read_csv(path)
        numbers = frame.select_dtypes("number").to_numpy().ravel()
        for value in hidden:
            assert not any(math.isclose(v, value, abs_tol=1e-9) for v in numbers
                           if v == v), f"{path.name} holds the hidden mean {value}"


def test_workbook_holds_every_benchmark_table_and_no_formula(site):
    folder, _ = site
    book = openpyxl.load_workbook(folder / "downloads" / "programme-tables.xlsx")
    data = analysed_programme()
    assert set(book.sheetnames) == {"about", *(n[:31] for n in data.benchmark)}
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and cell.value.startswith("=")), cell.value


def test_hostile_name_is_inert_everywhere(site):
    folder, (result, _, _) = site
    for path in result.html:
        text = path.read_text()
        assert "<script" not in text, path
        assert "onerror=" not in text.replace("onerror=alert(1)&gt;", ""), path
    page = (folder / f"collaborations/{safe_name(hostile_id())}.html").read_text()
    assert "&lt;script&gt;" in page
    assert HOSTILE_NAME not in page


def test_safe_name_refuses_ids_that_leave_no_name():
    assert safe_name("a/b\\c:d") == "a-b-c-d"
    assert safe_name(".hidden") == "hidden"
    with pytest.raises(CollabStatsError, match="file name"):
        safe_name("../..")


def test_unknown_wave_or_collaboration_is_a_clear_error(tmp_path):
    data = analysed_programme()
    with pytest.raises(CollabStatsError, match="no wave '1999-01'"):
        build_site(data, tmp_path, wave="1999-01")
    with pytest.raises(CollabStatsError, match="no collaboration 'nope'"):
        build_site(data, tmp_path, collaborations=["nope"])


@pytest.mark.skipif(__import__("reports.pdf", fromlist=["find_chromium"]).find_chromium()
                    is None, reason="Chromium is not installed: the site's browser check and "
                    "PDFs are skipped (make setup installs Debian's chromium)")
def test_the_built_site_passes_the_browser_checks_and_prints(site, tmp_path):
    """The real pages (index, overview, technical report, the hostile and the small
    collaboration) in headless Chromium: no console error, broken image or link, outside
    request, nor serious/critical axe-core violation; and they print to PDF."""
    from reports.accessibility import check_pages
    from reports.pdf import html_to_pdf

    folder, (result, _, _) = site
    pages = [folder / "index.html", folder / "programme-overview.html",
             folder / "technical-report.html",
             folder / "collaborations" / f"{safe_name(hostile_id())}.html",
             folder / "collaborations" / f"{safe_name(small_id())}.html"]
    checks = check_pages(pages)
    problems = [c.summary() for c in checks if not c.ok]
    assert not problems, "\n".join(problems)
    pdfs = html_to_pdf(pages[1:2], [tmp_path / "overview.pdf"])
    assert pdfs[0].read_bytes()[:5] == b"%PDF-"


PAYLOADS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
            "\t=1", "\r=1", "plain"]


def test_csv_and_excel_cells_are_neutralised_and_numbers_stay_numbers(tmp_path):
    """A download cell never starts a formula: text starting with = + - @ tab CR gets a
    leading quote, a carriage return inside a name cannot start a new CSV row, lists are
    joined, numbers stay numbers (in the CSV as plain numbers, in Excel as numeric cells)."""
    from reports.site import _excel_safe, _write_csv

    frame = pd.DataFrame({"name": PAYLOADS, "x": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0],
                          "modes": [["@a", "b"], [], ("c",), ["d"], [], [], []]})
    rows = list(csv.reader(_write_csv(tmp_path / "t.csv", frame).open(newline="",
                                                                     encoding="utf-8")))
    assert len(rows) == len(frame) + 1, "a line break in a name split a row"
    assert [r[0] for r in rows[1:]] == ["'" + p if p != "plain" else p for p in PAYLOADS]
    assert [r[1] for r in rows[1:3]] == ["-1.5", "2.0"]
    assert rows[1][2] == "'@a; b"
    with pd.ExcelWriter(tmp_path / "t.xlsx", engine="openpyxl") as xlsx:
        _excel_safe(frame).to_excel(xlsx, index=False)
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    for row in sheet.iter_rows(min_row=2):
        name, x, _ = row
        assert name.data_type == "s" and not name.value.startswith(("=", "+", "-", "@", "\t"))
        assert x.data_type == "n" and isinstance(x.value, int | float)


def test_the_gate_stops_the_build_before_anything_is_written(tmp_path):
    """A benchmark table that would show a figure about fewer than the threshold of
    respondents: DisclosureError from build_site and from the workbook, no file written."""
    from collab_stats.errors import DisclosureError

    data = analysed_programme()
    tables = dict(data.benchmark)
    summaries = tables["summaries"].copy()
    first = summaries.index[~summaries["suppressed"].astype(bool)][0]
    summaries.loc[first, "n"] = 3.0
    tables["summaries"] = summaries
    unsafe = dataclasses.replace(data, benchmark=tables)
    with pytest.raises(DisclosureError, match="publication refused"):
        build_site(unsafe, tmp_path / "site")
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").rglob("*"))
    with pytest.raises(DisclosureError):
        write_programme_workbook(unsafe, tmp_path / "book.xlsx")
    assert not (tmp_path / "book.xlsx").exists()


def test_the_workbook_is_refused_if_a_formula_got_through(tmp_path, monkeypatch):
    """Belt and braces: were a text cell not neutralised, openpyxl would store it as a
    formula; the written workbook is checked and refused (nothing left behind)."""
    import reports.site

    data = analysed_programme()
    data = dataclasses.replace(data, programme=dataclasses.replace(data.programme,
                                                                   name="=SUM(1,2)"))
    monkeypatch.setattr(reports.site, "_excel_safe", lambda frame: frame)
    with pytest.raises(CollabStatsError, match="formula"):
        write_programme_workbook(data, tmp_path / "book.xlsx")
    assert not list(tmp_path.iterdir())


def test_every_workbook_sheet_reads_back_as_its_published_table(tmp_path):
    """The streamed writer keeps every cell: each sheet, read back with pandas (openpyxl, a
    second code path), equals the published table as made Excel-safe, value for value."""
    from collab_stats.publication import publish_tables
    from reports.site import _excel_safe

    data = analysed_programme()
    path = write_programme_workbook(data, tmp_path / "book.xlsx")
    tables = publish_tables(data.benchmark, threshold=data.threshold)
    sheets = pd.read_excel(path, sheet_name=None)
    for name, table in tables.items():
        expected = _excel_safe(table).reset_index(drop=True)
        got = sheets[name[:31]]
        assert list(got.columns) == [str(c) for c in expected.columns], name
        assert len(got) == len(expected), name
        for column in expected.columns:
            want, have = expected[column], got[str(column)]
            if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_bool_dtype(want):
                np.testing.assert_array_equal(have.to_numpy(dtype=float),
                                              want.to_numpy(dtype=float), err_msg=name)
            else:
                # an empty text and an empty cell are the same thing in a spreadsheet
                def plain(values):
                    return [None if pd.isna(v) or (isinstance(v, str) and v == "") else v
                            for v in values.astype(object)]

                a, b = plain(want), plain(have)
                if pd.api.types.is_datetime64_any_dtype(want):
                    b = [None if v is None else pd.Timestamp(v) for v in b]
                    a = [None if v is None else pd.Timestamp(v) for v in a]
                assert a == b, (name, column)


def test_on_worker_processes_a_worker_writes_the_same_workbook(site, tmp_path):
    """With workers, the programme workbook is written by a worker beside the collaboration
    reports (not after them in this process): same sheets, same cells, listed once."""
    folder, (result, _, ids) = site
    spread = build_site(analysed_programme(), tmp_path / "reports", collaborations=ids,
                        workers=2)
    books = [p for p in spread.downloads if p.name == "programme-tables.xlsx"]
    assert books == [tmp_path / "reports" / "downloads" / "programme-tables.xlsx"]
    ours = pd.read_excel(books[0], sheet_name=None)
    theirs = pd.read_excel(folder / "downloads" / "programme-tables.xlsx", sheet_name=None)
    assert list(ours) == list(theirs) and len(ours) > 10
    for name, frame in theirs.items():
        pd.testing.assert_frame_equal(ours[name], frame, check_exact=True, obj=name)
    assert sorted(p.name for p in spread.html) == sorted(p.name for p in result.html)
