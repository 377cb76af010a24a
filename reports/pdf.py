"""PDF from the rendered HTML pages, through headless Chromium (Debian's package).

Playwright's Python API drives the Chromium that the setup step installs (``/usr/bin/chromium``):
nothing is downloaded at run time (``playwright install`` is never called). One browser serves
every file, printing several pages side by side (:func:`default_concurrency`). Runs make PDFs
by default only for programmes of at most :data:`PDF_AUTO_LIMIT` collaborations
(:func:`pdfs_by_default`); a national programme's are made when asked for. The print style sheet of the page template sets the A4 layout (figures and tables
kept whole, links written out); the figures' data tables, folded away on screen, are opened
before printing so that the PDF holds every number.

Set ``COLLAB_CHROMIUM`` to use another Chromium or Chrome binary.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collab_stats.atomic import write_bytes_atomic
from collab_stats.errors import CollabStatsError

__all__ = ["CHROMIUM_ARGS", "PDF_AUTO_LIMIT", "chromium_browser", "default_concurrency",
           "find_chromium", "html_to_pdf", "pdfs_by_default"]

#: Above this many collaborations, PDFs are made only when asked for (``--pdf``).
PDF_AUTO_LIMIT = 200

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


def _require_chromium() -> str:
    executable = find_chromium()
    if executable is None:
        raise CollabStatsError(
            "Chromium was not found: PDF output and the browser checks need it. Install the "
            "Debian package (apt-get install chromium) or set COLLAB_CHROMIUM to the path of a "
            "Chromium or Chrome executable")
    return executable


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed when the block ends.

    Raises
    ------
    CollabStatsError
        If no Chromium is installed or it cannot be started.
    """
    executable = _require_chromium()
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


def html_to_pdf(html_paths: Sequence[Path | str],
                out_paths: Sequence[Path | str] | None = None, *,
                out_dir: Path | str | None = None, timeout_ms: float = 60_000,
                concurrency: int | None = None,
                progress: Callable[[str], None] | None = None) -> list[Path]:
    """Print HTML pages to A4 PDFs with one headless Chromium, several pages at a time.

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
    concurrency : int, optional
        Pages printed side by side in the one browser (default
        :func:`default_concurrency`: two per core, at most 6).
    progress : callable, optional
        Called with each PDF's name once it is written.

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
    jobs = list(zip(pages, targets, strict=True))
    if concurrency is None:
        concurrency = default_concurrency()
    concurrency = max(1, min(int(concurrency), len(jobs)))
    errors: list[BaseException] = []
    # Playwright's async API runs the pages side by side in one browser; asyncio.run gets a
    # thread of its own, so this works from code that already runs an event loop.
    worker = threading.Thread(target=lambda: _run_async(jobs, concurrency, timeout_ms, errors,
                                                        progress))
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return targets


def default_concurrency() -> int:
    """Pages printed side by side: two per core, at most 6 (Chromium lays out and prints in
    its own processes, so a page waiting on one keeps the others busy)."""
    return max(1, min(6, 2 * (os.cpu_count() or 1)))


def pdfs_by_default(n_collaborations: int) -> bool:
    """Whether a run makes PDFs when not told: Chromium is installed and the programme has
    at most :data:`PDF_AUTO_LIMIT` collaborations (a national programme's PDFs take about
    2 s of a core each: asked for with ``--pdf``, never by default)."""
    return find_chromium() is not None and n_collaborations <= PDF_AUTO_LIMIT


def _run_async(jobs, concurrency, timeout_ms, errors, progress) -> None:
    try:
        asyncio.run(_print_all(jobs, concurrency, timeout_ms, progress))
    except BaseException as error:  # handed to the calling thread
        errors.append(error)


async def _print_all(jobs, concurrency: int, timeout_ms: float, progress) -> None:
    executable = _require_chromium()
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=executable,
                                                       args=list(CHROMIUM_ARGS), headless=True)
        except PlaywrightError as error:
            raise CollabStatsError(f"Chromium at {executable} could not be started: "
                                   f"{str(error).splitlines()[0]}") from error
        try:
            context = await browser.new_context(java_script_enabled=True, offline=True)
            await context.route("**/*", _offline)
            queue: asyncio.Queue = asyncio.Queue()
            for job in jobs:
                queue.put_nowait(job)

            async def printer() -> None:
                page = await context.new_page()
                page.set_default_timeout(timeout_ms)
                while not queue.empty():
                    source, target = queue.get_nowait()
                    await page.goto(source.as_uri(), wait_until="load")
                    await page.evaluate(
                        "document.querySelectorAll('details').forEach(d => { d.open = true; })")
                    pdf = await page.pdf(
                        format="A4", print_background=True, prefer_css_page_size=False,
                        display_header_footer=True, header_template="<span></span>",
                        footer_template=_FOOTER,
                        margin={"top": "15mm", "bottom": "18mm", "left": "15mm",
                                "right": "15mm"}, outline=True, tagged=True)
                    write_bytes_atomic(target, pdf)
                    if progress is not None:
                        progress(target.stem)
                await page.close()

            await asyncio.gather(*(printer() for _ in range(concurrency)))
            await context.close()
        finally:
            await browser.close()


async def _offline(route: Any) -> None:
    """Let pages read local files and data: URIs only (reports are self-contained)."""
    if route.request.url.startswith(("file:", "data:")):
        await route.continue_()
    else:
        await route.abort()
