"""Flow: the report site (notebooks, HTML, PDF, downloads) from a workspace's tables."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from reports.data import load_report_data
from reports.pdf import find_chromium
from reports.site import SiteResult, build_site


@task(retries=1, retry_delay_seconds=2)
def build_reports(workspace: Path, output: Path, wave: str | None, pdf: bool,
                  workers: int) -> SiteResult:
    data = load_report_data(workspace)
    return build_site(data, output, wave=wave, pdf=pdf, workers=workers)


@flow(name="render-reports")
def render_reports_flow(workspace: Path, output: Path | None = None, wave: str | None = None,
                        pdf: bool | None = None, workers: int = 2) -> SiteResult:
    """Every report of the programme in ``workspace`` into ``output`` (default
    ``workspace/reports``); PDF too when Chromium is available (``pdf=None``) or asked."""
    if pdf is None:
        pdf = find_chromium() is not None
    return build_reports(workspace, output or workspace / "reports", wave, pdf, workers)
