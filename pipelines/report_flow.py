"""Flow: the report site (notebooks, HTML, PDF, downloads) from a workspace's tables.

The collaboration reports are independent of each other, so they are where the work can be
spread out: by default over worker processes on this machine (``workers``); with
``dask=True`` as one Prefect task per collaboration on a Dask cluster through
``prefect-dask``'s ``DaskTaskRunner``: a ``LocalCluster`` of worker processes started for the
run, or an existing scheduler at ``dask_address`` (or the ``COLLAB_DASK_ADDRESS`` setting).
Either way each report is written by the same function, so the files are identical.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact

from reports.data import ReportData, load_report_data
from reports.pdf import pdfs_by_default
from reports.site import (
    SiteResult,
    build_site,
    plan_links,
    write_collaboration_page,
    write_programme_pages,
)

from . import progress
from .retry import IO_RETRIES
from .workspace import Workspace

DASK_ADDRESS_SETTING = "COLLAB_DASK_ADDRESS"


@lru_cache(maxsize=2)
def _report_data(workspace: str, stamp: float) -> ReportData:
    """The workspace's report data, loaded once per process (and again when the tables
    change: ``stamp`` is their latest modification time)."""
    return load_report_data(workspace)


def _tables_stamp(workspace: Path) -> float:
    return max((p.stat().st_mtime for p in (Workspace.at(workspace).tables).rglob("*.parquet")),
               default=0.0)


def report_data(workspace: Path) -> ReportData:
    return _report_data(str(Workspace.at(workspace).root), _tables_stamp(workspace))


@task(name="build-report-site", **IO_RETRIES)
def build_reports(workspace: Path, wave: str | None, pdf: bool, workers: int,
                  comparator: str | None = None) -> SiteResult:
    """Every report, on ``workers`` local processes."""
    ws = Workspace.at(workspace)
    return build_site(report_data(ws.root), ws.reports, wave=wave, pdf=pdf, workers=workers,
                      progress=progress.current(), comparator=comparator)


@task(name="render-collaboration-report", **IO_RETRIES)
def render_collaboration(workspace: Path, collaboration: str, relpath: str,
                         wave: str | None, comparator: str | None = None) -> list[str]:
    """One collaboration's report (notebook, HTML, CSV downloads)."""
    ws = Workspace.at(workspace)
    data = report_data(ws.root)
    files, downloads = write_collaboration_page(data, ws.reports, collaboration, relpath,
                                                wave=wave or data.latest_wave,
                                                comparator=comparator)
    return [str(p) for p in [*files, *downloads]]


@task(name="render-programme-pages", **IO_RETRIES)
def render_programme_pages(workspace: Path, wave: str | None, links: dict[str, str],
                           pdf: bool) -> SiteResult:
    """Overview, technical report, index, workbook, Quarto project (and every PDF)."""
    ws = Workspace.at(workspace)
    data = report_data(ws.root)
    return write_programme_pages(data, ws.reports, wave=wave or data.latest_wave, links=links,
                                 pdf=pdf)


@flow(name="render-collaboration-reports")
def render_collaborations(workspace: Path, links: dict[str, str], wave: str | None,
                          comparator: str | None = None) -> list[str]:
    """One task per collaboration, on the flow's task runner (Dask when asked)."""
    futures = render_collaboration.map(workspace, list(links), list(links.values()), wave,
                                       comparator)
    return [path for future in futures for path in future.result()]


def local_cluster_kwargs(workers: int) -> dict:
    """``distributed.LocalCluster`` options for a cluster of ``workers`` processes that
    listens on this machine only (127.0.0.1) and serves no dashboard.

    ``dashboard_address=None`` alone is not enough (distributed 2026.8): the scheduler
    still starts its HTTP server (health, metrics, and the dashboard when Bokeh is
    installed) on port 8787 at the scheduler's host. So the scheduler is given
    ``dashboard=False`` and a port chosen by the system on 127.0.0.1 for that server; the
    workers' own dashboards stay off (``worker_dashboard_address`` None, the default), and
    the scheduler, the nannies and the workers listen on ``host`` 127.0.0.1."""
    return {"n_workers": workers, "threads_per_worker": 1, "processes": True,
            "host": "127.0.0.1", "protocol": "tcp://", "dashboard_address": None,
            "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"}}


def dask_runner(address: str | None, workers: int):
    """A DaskTaskRunner for an existing scheduler at ``address``, or else a LocalCluster of
    worker processes on loopback without a dashboard (:func:`local_cluster_kwargs`)."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs=local_cluster_kwargs(workers))


def _reports_run_name() -> str:
    """``reports-<wave>``: the wave asked for, else the latest analysed wave (what is
    rendered), else ``reports-latest`` when the tables cannot tell (the run then fails with
    the reason)."""
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    wave = parameters.get("wave")
    if not wave:
        try:
            wave = report_data(Workspace.at(parameters["workspace"]).root).latest_wave
        except Exception:  # a name must not fail the run; the body says why
            wave = "latest"
    return f"reports-{wave}"


@flow(name="render-reports", flow_run_name=_reports_run_name)
def render_reports(workspace: Path, wave: str | None = None, pdf: bool | None = None,
                   workers: int = 2, dask: bool = False,
                   dask_address: str | None = None, comparator: str | None = None) -> str:
    """Build the report site of the workspace into ``reports/`` and return its index.

    ``pdf``: None makes PDFs when Chromium is installed and the programme has at most
    :data:`reports.pdf.PDF_AUTO_LIMIT` collaborations (a national one's only when asked). ``dask`` / ``dask_address``: render
    the collaboration reports as Dask tasks (see the module documentation). ``comparator``:
    ``"all"`` or ``"peer_group"`` (default: the programme file's)."""
    ws = Workspace.at(workspace).check()
    if pdf is None:
        programme, _ = ws.load()
        pdf = pdfs_by_default(len(programme.collaborations))
    address = dask_address or os.environ.get(DASK_ADDRESS_SETTING) or None
    if dask or address:
        links = plan_links(report_data(ws.root))
        render_collaborations.with_options(task_runner=dask_runner(address, workers))(
            ws.root, links, wave, comparator)
        site = render_programme_pages(ws.root, wave, links, pdf)
    else:
        site = build_reports(ws.root, wave, pdf, workers, comparator)
    index = site.index.resolve()
    create_link_artifact(key="report-index", link=index.as_uri(),
                         link_text="Benchmark reports (index)",
                         description=f"Report site of {ws.root.name}: {len(site.html)} pages")
    return str(index)
