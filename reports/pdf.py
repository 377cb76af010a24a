"""PDF from the rendered HTML pages, through headless Chromium (Debian's package).

Playwright's Python API drives the Chromium that the setup step installs (``/usr/bin/chromium``):
nothing is downloaded at run time (``playwright install`` is never called). One browser serves
every file. The print style sheet of the page template sets the A4 layout (figures and tables
kept whole, links written out); the figures' data tables, folded away on screen, are opened
before printing so that the PDF holds every number.

Set ``COLLAB_CHROMIUM`` to use another Chromium or Chrome binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collab_stats.atomic import write_bytes_atomic
from collab_stats.errors import CollabStatsError

__all__ = ["CHROMIUM_ARGS", "chromium_browser", "find_chromium", "html_to_pdf"]

#: Flags for a quiet, offline headless Chromium in a container.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
_FOOTER = ('<div style="width:100%;font-family:Arial,\'Liberation Sans\',sans-serif;font-size:8pt;'
           'color:#505a5f;padding:0 15mm;display:flex;justify-content:space-between">'
           '<span class="title"></span>'
           '<span>Page <span class="pageNumber"></span> of <span class="totalPages"></span></span>'
           '</div>')


def find_chromium() -> str | None:
    """The Chromium executable to use: ``$COLLAB_CHROMIUM`` if set (and present), else
    ``chromium`` or ``chromium-browser`` on the ``PATH``; None if there is none."""
    override = os.environ.get("COLLAB_CHROMIUM")
    if override:
        found = shutil.which(override)
        return found if found else (override if Path(override).is_file() else None)
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed when the block ends.

    Raises
    ------
    CollabStatsError
        If no Chromium is installed or it cannot be started.
    """
    executable = find_chromium()
    if executable is None:
        raise CollabStatsError(
            "Chromium was not found: PDF output and the browser checks need it. Install the "
            "Debian package (apt-get install chromium) or set COLLAB_CHROMIUM to the path of a "
            "Chromium or Chrome executable")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=list(CHROMIUM_ARGS), headless=True)
        except PlaywrightError as error:
            raise CollabStatsError(f"Chromium at {executable} could not be started: "
                                   f"{str(error).splitlines()[0]}") from error
        try:
            yield browser
        finally:
            browser.close()


def _offline(route: Any) -> None:
    """Let pages read local files and data: URIs only (reports are self-contained)."""
    if route.request.url.startswith(("file:", "data:")):
        route.continue_()
    else:
        route.abort()


def html_to_pdf(html_paths: Sequence[Path | str],
                out_paths: Sequence[Path | str] | None = None, *,
                out_dir: Path | str | None = None, timeout_ms: float = 60_000) -> list[Path]:
    """Print HTML pages to A4 PDFs with one headless Chromium.

    Parameters
    ----------
    html_paths : sequence of paths
        The rendered pages (see :func:`reports.render.render_html`).
    out_paths : sequence of paths, optional
        One PDF path per page. Default: beside each page (``x.html`` -> ``x.pdf``).
    out_dir : path, optional
        Instead of ``out_paths``: a folder for the PDFs, named like the pages
        (``x.html`` -> ``out_dir/x.pdf``).
    timeout_ms : float
        How long one page may take to load.

    Returns
    -------
    list of Path
        The PDFs written (atomically), in the order of ``html_paths``.

    Raises
    ------
    CollabStatsError
        If Chromium is missing, a page is missing, or the arguments do not match.
    """
    pages = [Path(p).resolve() for p in html_paths]
    if out_dir is not None and out_paths is not None:
        raise CollabStatsError("html_to_pdf: give out_dir or out_paths, not both")
    if out_paths is not None:
        targets = [Path(p) for p in out_paths]
        if len(targets) != len(pages):
            raise CollabStatsError(f"html_to_pdf: {len(pages)} pages but {len(targets)} "
                                   "out_paths; give one PDF path per page")
    elif out_dir is not None:
        targets = [Path(out_dir) / f"{p.stem}.pdf" for p in pages]
    else:
        targets = [p.with_suffix(".pdf") for p in pages]
    missing = [str(p) for p in pages if not p.is_file()]
    if missing:
        raise CollabStatsError(f"html_to_pdf: no such page: {', '.join(missing)}")
    if not pages:
        return []
    with chromium_browser() as browser:
        context = browser.new_context(java_script_enabled=True, offline=True)
        context.route("**/*", _offline)
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        for source, target in zip(pages, targets, strict=True):
            page.goto(source.as_uri(), wait_until="load")
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=False,
                           display_header_footer=True, header_template="<span></span>",
                           footer_template=_FOOTER,
                           margin={"top": "15mm", "bottom": "18mm", "left": "15mm",
                                   "right": "15mm"}, outline=True, tagged=True)
            write_bytes_atomic(target, pdf)
        context.close()
    return targets
