"""Check rendered report pages in a real headless Chromium: accessibility and integrity.

For each page, :func:`check_pages` loads the file (``file://``) in the same Chromium that
prints the PDFs (see :mod:`reports.pdf`; nothing is downloaded) and collects

* console errors and uncaught page errors;
* broken images (an ``<img>`` that did not load);
* broken links: a local target file that does not exist, a ``#fragment`` with no element of
  that id (in the page itself, or in the local HTML page linked to), a ``javascript:`` URL;
* requests for anything other than local files and ``data:`` URIs (a report page must be
  self-contained; such requests are blocked and listed);
* axe-core's WCAG 2.0/2.1/2.2 level A and AA rules (``axe-core`` as bundled by the
  ``axe-playwright-python`` package), with each violation's impact.

A page is :attr:`PageCheck.ok` when it has none of the first four and no serious or critical
axe-core violation (minor and moderate ones are reported, not failed: they need a person's
judgement, e.g. a heading that only looks like one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from .pdf import chromium_browser, find_chromium

__all__ = ["WCAG_TAGS", "PageCheck", "Violation", "check_pages", "find_chromium"]

#: The axe-core rule tags run: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
FAILING_IMPACTS = ("serious", "critical")

_COLLECT = """() => ({
  links: Array.from(document.querySelectorAll('a[href], area[href]'),
                    a => a.getAttribute('href')),
  ids: Array.from(document.querySelectorAll('[id]'), e => e.id)
        .concat(Array.from(document.querySelectorAll('a[name]'), a => a.name)),
  images: Array.from(document.images)
        .filter(i => !i.complete || i.naturalWidth === 0)
        .map(i => (i.getAttribute('src') || '(no src)').slice(0, 80)),
})"""
_EXTERNAL = ("http:", "https:", "mailto:", "tel:", "ftp:")
_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']?([^"'\s>]+)""")


@dataclass(frozen=True)
class Violation:
    """One axe-core rule a page fails.

    Attributes
    ----------
    rule : str
        The axe-core rule id (e.g. ``"color-contrast"``).
    impact : str
        ``"minor"``, ``"moderate"``, ``"serious"`` or ``"critical"``.
    help : str
        What the rule asks for, in axe-core's words.
    targets : tuple of str
        CSS selectors of the failing elements (the first few).
    count : int
        How many elements fail.
    """

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]
    count: int

    def __str__(self) -> str:
        where = ", ".join(self.targets[:3]) + (" ..." if self.count > 3 else "")
        return f"{self.rule} ({self.impact}): {self.help} [{self.count}: {where}]"


@dataclass(frozen=True)
class PageCheck:
    """What :func:`check_pages` found on one page."""

    path: Path
    console_errors: tuple[str, ...]
    page_errors: tuple[str, ...]
    broken_images: tuple[str, ...]
    broken_links: tuple[str, ...]
    external_requests: tuple[str, ...]
    violations: tuple[Violation, ...]

    @property
    def failing_violations(self) -> tuple[Violation, ...]:
        """The serious and critical axe-core violations."""
        return tuple(v for v in self.violations if v.impact in FAILING_IMPACTS)

    @property
    def ok(self) -> bool:
        """No console or page error, broken image or link, outside request, nor serious or
        critical accessibility violation."""
        return not (self.console_errors or self.page_errors or self.broken_images
                    or self.broken_links or self.external_requests or self.failing_violations)

    def summary(self) -> str:
        """One line for the page, then one line per problem found."""
        parts = [("console error", self.console_errors), ("page error", self.page_errors),
                 ("broken image", self.broken_images), ("broken link", self.broken_links),
                 ("outside request", self.external_requests)]
        failing = self.failing_violations
        head = (f"{self.path.name}: {'ok' if self.ok else 'FAILED'} -- "
                + ", ".join(f"{len(items)} {name}{'' if len(items) == 1 else 's'}"
                            for name, items in parts)
                + f", {len(failing)} serious/critical and "
                f"{len(self.violations) - len(failing)} minor/moderate axe-core violations")
        lines = [head]
        for name, items in parts:
            lines += [f"  {name}: {item}" for item in items]
        lines += [f"  axe-core {v}" for v in self.violations]
        return "\n".join(lines)


@cache
def _axe() -> Any:
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def check_pages(paths: Sequence[Path | str], *, tags: Sequence[str] = WCAG_TAGS,
                timeout_ms: float = 60_000) -> list[PageCheck]:
    """Load each HTML page in headless Chromium and check it (see the module docstring).

    Parameters
    ----------
    paths : sequence of paths
        Rendered pages on disk.
    tags : sequence of str
        axe-core rule tags to run (default: WCAG 2.0-2.2 A and AA).
    timeout_ms : float
        How long one page may take to load.

    Returns
    -------
    list of PageCheck
        One per page, in order.

    Raises
    ------
    CollabStatsError
        If Chromium is not installed or cannot start.
    """
    pages = [Path(p).resolve() for p in paths]
    if not pages:
        return []
    results = []
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    with chromium_browser() as browser:
        context = browser.new_context()
        outside: list[str] = []

        def route(route: Any) -> None:
            url = route.request.url
            if url.startswith(("file:", "data:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        context.route("**/*", route)
        for path in pages:
            outside.clear()
            console: list[str] = []
            errors: list[str] = []
            failed: list[str] = []
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.on("console", lambda m, c=console: c.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, c=errors: c.append(str(e)))
            page.on("requestfailed", lambda r, c=failed: c.append(r.url)
                    if r.url.startswith("file:") else None)
            page.goto(path.as_uri(), wait_until="load")
            found = page.evaluate(_COLLECT)
            axe = _axe().run(page, options=options).response
            page.close()
            links = _broken_links(path, found["links"], set(found["ids"]))
            links += [f"{url} (failed to load)" for url in failed]
            results.append(PageCheck(
                path=path,
                console_errors=tuple(console),
                page_errors=tuple(errors),
                broken_images=tuple(found["images"]),
                broken_links=tuple(links),
                external_requests=tuple(outside),
                violations=tuple(
                    Violation(rule=v["id"], impact=v.get("impact") or "minor", help=v["help"],
                              targets=tuple(" ".join(map(str, n["target"]))
                                            for n in v["nodes"][:5]),
                              count=len(v["nodes"]))
                    for v in axe["violations"])))
        context.close()
    return results


def _broken_links(page: Path, hrefs: Sequence[str], ids: set[str]) -> list[str]:
    """Local links whose file or fragment is missing, and script URLs."""
    broken = []
    base = page.as_uri()
    targets: dict[Path, set[str] | None] = {}
    for href in hrefs:
        href = href.strip()
        lowered = href.lower()
        if lowered.startswith(("javascript:", "vbscript:")) or href in ("", "#"):
            broken.append(f"{href or '(empty)'} (not a link)")
            continue
        if lowered.startswith(_EXTERNAL) or lowered.startswith("data:"):
            continue
        url = urlsplit(urljoin(base, href))
        if url.scheme != "file":
            continue
        target = Path(url2pathname(unquote(url.path)))
        fragment = unquote(url.fragment)
        if target == page:
            if fragment and fragment not in ids:
                broken.append(f"{href} (no element with id {fragment!r})")
            continue
        if not target.exists():
            broken.append(f"{href} (no such file)")
            continue
        if fragment and target.suffix.lower() in (".html", ".htm"):
            if target not in targets:
                targets[target] = set(_ID.findall(target.read_text(encoding="utf-8",
                                                                    errors="replace")))
            if fragment not in (targets[target] or set()):
                broken.append(f"{href} (no element with id {fragment!r} in {target.name})")
    return broken
