"""PDFs at scale: one browser printing several pages side by side, and no PDFs by default
for a national programme."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from reports.pdf import PDF_AUTO_LIMIT, find_chromium, html_to_pdf, pdfs_by_default

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed")


def test_a_national_programme_gets_pdfs_only_when_asked(monkeypatch):
    monkeypatch.setattr("reports.pdf.find_chromium", lambda: "/usr/bin/chromium")
    assert pdfs_by_default(PDF_AUTO_LIMIT) and not pdfs_by_default(PDF_AUTO_LIMIT + 1)
    monkeypatch.setattr("reports.pdf.find_chromium", lambda: None)
    assert not pdfs_by_default(3)


@needs_chromium
def test_pages_printed_side_by_side_each_land_in_their_own_pdf(tmp_path):
    words = [f"page{k}word" for k in range(7)]
    pages = []
    for word in words:
        page = tmp_path / f"{word}.html"
        page.write_text(f"<!DOCTYPE html><html><body><h1>{word}</h1>"
                        f"<details><summary>more</summary><p>{word}-inside</p></details>"
                        "</body></html>")
        pages.append(page)
    seen = []
    pdfs = html_to_pdf(pages, out_dir=tmp_path / "pdf", concurrency=3, progress=seen.append)
    assert pdfs == [tmp_path / "pdf" / f"{w}.pdf" for w in words]
    assert sorted(seen) == sorted(words)
    for word, pdf in zip(words, pdfs, strict=True):
        text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
        assert word in text and f"{word}-inside" in text   # details opened before printing
        assert not any(other in text for other in words if other != word)
