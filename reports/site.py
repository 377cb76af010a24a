"""The report site: every report as a notebook, its HTML (and PDF), downloads, an index, and
a Quarto website project, written into one folder.

Layout of the output folder (``<workspace>/reports`` by default)::

    _quarto.yml                     Quarto website project: `quarto render` builds _site/
    index.ipynb, index.html         links to every report
    programme-overview.ipynb/.html  the programme overview (commissioners, evaluators)
    technical-report.ipynb/.html    reliability, factor structure, invariance (researchers)
    collaborations/<id>.ipynb/.html one benchmark report per collaboration
    downloads/<report>/<label>.csv  the numbers behind each figure and table (suppressed)
    downloads/programme-tables.xlsx the programme's benchmark tables in one workbook
    pdf/<report>.pdf                with ``pdf=True`` (headless Chromium)

Every file is written atomically (temporary file + rename); file names come from ids through
:func:`safe_name`.

Two guarantees hold at the point of publication:

* **One gate.** Every report is built from the benchmark tables *as published*:
  :func:`collab_stats.publication.publish_tables` blanks every hidden row and refuses (with a
  :class:`~collab_stats.errors.DisclosureError`, which stops the build before any file is
  written) tables from which a figure about fewer than the disclosure threshold of
  respondents could be shown or worked out. The pages, the CSV files and the workbook carry
  the same suppression; the workbook's tables pass the gate once more as they are written.
* **No download attacks its reader.** Every CSV and XLSX cell (and column name) goes through
  :func:`collab_stats.publication.neutralise_cell` (for the workbook through
  :func:`~collab_stats.publication.neutralise_formulas`): a text starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's advice against CSV
  injection), so a collaboration called ``=HYPERLINK(...)`` stays text in a spreadsheet;
  numbers stay numbers. The workbook is checked after writing: it must hold no formula cell.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import yaml

from collab_stats.atomic import write_atomic, write_text_atomic
from collab_stats.errors import CollabStatsError
from collab_stats.publication import FORMULA_PREFIXES, neutralise_cell

from .data import ReportData
from .notebook import ReportNotebook
from .provenance import front_matter_provenance
from .text import md_escape, plural

__all__ = ["SiteResult", "build_site", "plan_links", "published", "safe_name",
           "write_collaboration_page", "write_programme_pages", "write_programme_workbook",
           "write_report"]

Progress = Callable[[str], None]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(identifier: str, *, max_length: int = 80) -> str:
    """A file name from an id: letters, digits, ``.``, ``_`` and ``-`` only, no leading dot,
    no path separators, at most ``max_length`` characters.

    >>> safe_name("../../etc/passwd")
    'etc-passwd'
    >>> safe_name("North Devon <Care> Alliance")
    'North-Devon-Care-Alliance'
    """
    name = _SAFE.sub("-", str(identifier)).strip("-._")[:max_length].strip("-._")
    if not name:
        raise CollabStatsError(f"cannot make a file name from the id {identifier!r}")
    return name


@dataclass(frozen=True)
class SiteResult:
    """What :func:`build_site` wrote (paths relative to ``folder``)."""

    folder: Path
    notebooks: list[Path] = field(default_factory=list)
    html: list[Path] = field(default_factory=list)
    pdf: list[Path] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    def record(self, files: tuple[list[Path], list[Path]]) -> None:
        """Add what :func:`write_report` wrote."""
        written, downloads = files
        self.notebooks.extend(p for p in written if p.suffix == ".ipynb")
        self.html.extend(p for p in written if p.suffix == ".html")
        self.downloads.extend(downloads)


def published(data: ReportData) -> ReportData:
    """``data`` with its benchmark tables as published: every hidden row blanked, and a
    :class:`~collab_stats.errors.DisclosureError` if any table would still show or give away a
    figure about fewer than ``data.threshold`` respondents (the build stops)."""
    from collab_stats.publication import publish_tables

    tables = publish_tables(data.benchmark, threshold=data.threshold)
    return dataclasses.replace(data, benchmark=tables)


def write_report(nb: ReportNotebook, folder: Path, relpath: str, *, html: bool = True,
                 downloads: bool = True) -> tuple[list[Path], list[Path]]:
    """Add the downloads section to ``nb``, then write ``folder/relpath`` (.ipynb), its HTML
    beside it and its CSV downloads. Returns (files written, download files)."""
    stem = relpath.removesuffix(".ipynb")
    depth = relpath.count("/")
    files: list[Path] = []
    csvs: list[Path] = []
    if downloads and nb.outputs:
        links = []
        for label, output in nb.outputs.items():
            rel = f"downloads/{stem.replace('/', '-')}/{label}.csv"
            csvs.append(_write_csv(folder / rel, output.data))
            links.append(f"- [{label}.csv]({'../' * depth}{rel})")
        _insert_before_about(nb, [
            ("h-downloads", "## Downloads"),
            ("downloads", "The numbers behind each figure and table, as CSV files (figures "
             "hidden on this page are hidden in the files too):\n\n" + "\n".join(links)),
        ])
    notebook = nb.build()
    files.append(write_text_atomic(folder / relpath, nbformat.writes(notebook)))
    if html:
        from .render import render_html

        files.append(folder / f"{stem}.html")
        render_html(notebook, out=folder / f"{stem}.html")
    return files, csvs


def _insert_before_about(nb: ReportNotebook, cells: Sequence[tuple[str, str]]) -> None:
    about = next((i for i, c in enumerate(nb.cells) if c.get("id") == "h-about"), None)
    for key, text in cells:
        nb.markdown(text, key=key)
    if about is not None:
        added = nb.cells[-len(cells):]
        del nb.cells[-len(cells):]
        nb.cells[about:about] = added


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    """A download as CSV: lists joined, every text cell and column name neutralised (a
    spreadsheet never reads a formula from it), fields with a line break quoted."""
    safe = _csv_safe(frame)
    # RFC 4180 line ends: the csv module then quotes every field holding a CR or LF, so a
    # name like "\r=1" stays one (neutralised) cell instead of starting a new row with "=1"
    return write_atomic(path, lambda tmp: safe.to_csv(tmp, index=False, encoding="utf-8",
                                                      lineterminator="\r\n"))


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` safe to write as CSV (its index dropped): lists and tuples in text columns
    joined as ``"a; b"``, then every text cell (object, string and categorical columns) and
    text column name neutralised as :func:`~collab_stats.publication.neutralise_formulas`
    does it; other columns as they are.

    One pass over each text column's values and one new frame: a download has a few dozen
    rows, so pandas' per-column operations would cost more than the cells themselves."""
    arrays = {}
    for j, (_, column) in enumerate(frame.items()):
        if _is_text(column.dtype):
            values = column.to_numpy(dtype=object)
            arrays[j] = np.array([_safe_cell(v) for v in values], dtype=object)
        else:
            arrays[j] = column.array
    safe = pd.DataFrame(arrays) if arrays else pd.DataFrame(index=range(len(frame)))
    safe.columns = [neutralise_cell(c) if isinstance(c, str) else c for c in frame.columns]
    return safe


def _is_text(dtype: object) -> bool:
    """Whether a column of this dtype may hold text (object, string or categorical)."""
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype))


def _safe_cell(value: object) -> object:
    """One text column's cell for a CSV: a list or tuple joined, then neutralised (missing
    values and text that cannot start a formula as they are, without a call)."""
    if isinstance(value, str):
        return neutralise_cell(value) if value.startswith(FORMULA_PREFIXES) else value
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return value
    return neutralise_cell(_cell_text(value))


# -- the site ----------------------------------------------------------------------------------

def plan_links(data: ReportData, collaborations: Iterable[str] | None = None) -> dict[str, str]:
    """Collaboration id -> the relative path of its report notebook (``collaborations/
    <safe name>.ipynb``; unique even when two ids make the same safe name), in programme
    order; only ``collaborations`` when given (unknown ids raise)."""
    ids = [c.id for c in data.programme.collaborations]
    if collaborations is not None:
        wanted = list(collaborations)
        unknown = sorted(set(wanted) - set(ids))
        if unknown:
            raise CollabStatsError(f"no collaboration {', '.join(map(repr, unknown))} in "
                                   f"programme {data.programme.id!r}")
        ids = [i for i in ids if i in set(wanted)]
    names = _unique_names(ids)
    return {cid: f"collaborations/{names[cid]}.ipynb" for cid in ids}


def write_collaboration_page(data: ReportData, folder: str | Path, collaboration: str,
                             relpath: str, *, wave: str, html: bool = True,
                             free_text: bool = False,
                             comparator: str | None = None) -> tuple[list[Path], list[Path]]:
    """One collaboration's report: notebook, HTML and CSV downloads, from the tables as
    published (:func:`published`). ``comparator``: ``"all"`` or ``"peer_group"`` (default:
    the programme file's). Returns (files, downloads)."""
    return _write_collaboration_page(published(data), folder, collaboration, relpath,
                                     wave=wave, html=html, free_text=free_text,
                                     comparator=comparator)


def _write_collaboration_page(data: ReportData, folder: str | Path, collaboration: str,
                              relpath: str, *, wave: str, html: bool = True,
                              free_text: bool = False,
                              comparator: str | None = None) -> tuple[list[Path], list[Path]]:
    """:func:`write_collaboration_page` for data already through :func:`published`."""
    from .collaboration_report import build_collaboration_report

    nb = build_collaboration_report(data, collaboration, wave=wave, free_text=free_text,
                                    peer_set=comparator or data.programme.comparator)
    return write_report(nb, Path(folder), relpath, html=html)


def write_programme_pages(data: ReportData, folder: str | Path, *, wave: str,
                          links: dict[str, str], html: bool = True, pdf: bool = False,
                          progress: Progress | None = None) -> SiteResult:
    """The programme's pages around the collaboration reports: overview, technical report,
    workbook, index, Quarto project, and (``pdf``) the PDF of every page, the collaboration
    reports of ``links`` included (their HTML must exist). Built from the tables as
    published (:func:`published`)."""
    return _write_programme_pages(published(data), folder, wave=wave, links=links, html=html,
                                  pdf=pdf, progress=progress)


def _write_programme_pages(data: ReportData, folder: str | Path, *, wave: str,
                           links: dict[str, str], html: bool = True, pdf: bool = False,
                           progress: Progress | None = None,
                           workbook: Path | None = None) -> SiteResult:
    """:func:`write_programme_pages` for data already through :func:`published`
    (``workbook``: the programme workbook when it is already written)."""
    from .overview_report import build_overview_report
    from .technical_report import build_technical_report

    folder = Path(folder)
    _check_wave(data, wave)
    say = progress or (lambda message: None)
    result = SiteResult(folder=folder)
    result.record(write_report(build_overview_report(data, wave=wave,
                                                     collaboration_links=links),
                               folder, "programme-overview.ipynb", html=html))
    say("programme overview")
    result.record(write_report(build_technical_report(data), folder, "technical-report.ipynb",
                               html=html))
    say("technical report")
    result.downloads.append(workbook or write_programme_workbook(data, _workbook_path(folder)))
    result.record(write_report(build_index(data, wave, links, pdf=pdf), folder,
                               "index.ipynb", html=html, downloads=False))
    write_text_atomic(folder / "_quarto.yml", quarto_project(data))
    if pdf:
        if not html:
            raise CollabStatsError("PDF output is printed from the HTML: use html=True")
        from .pdf import html_to_pdf

        pages = [p for p in result.html if p.name != "index.html"]
        pages += [folder / rel.replace(".ipynb", ".html") for rel in links.values()]
        outs = [folder / "pdf" / (str(p.relative_to(folder).with_suffix(".pdf"))
                                  .replace("/", "-")) for p in pages]
        result.pdf.extend(html_to_pdf(pages, outs))
        say("PDF files")
    return result


def _check_wave(data: ReportData, wave: str) -> None:
    if wave not in data.waves:
        raise CollabStatsError(f"no wave {wave!r} in programme {data.programme.id!r} "
                               f"(waves: {', '.join(data.waves)})")


def build_site(data: ReportData, folder: str | Path, *, wave: str | None = None,
               collaborations: Iterable[str] | None = None, html: bool = True,
               pdf: bool = False, free_text: bool = False, workers: int = 1,
               progress: Progress | None = None, comparator: str | None = None) -> SiteResult:
    """Build every report of a programme into ``folder`` (see the module documentation).

    Parameters
    ----------
    wave:
        The wave reported on (default: the latest wave with results).
    collaborations:
        Ids of the collaborations to report on (default: all).
    html, pdf:
        Also render HTML (nbconvert, our template) and PDF (headless Chromium, needs html).
    free_text:
        Include free-text answers in the collaboration reports (off by default; the data must
        have been loaded with ``free_text=True`` too).
    workers:
        Processes for the collaboration reports (1: in this process).
    progress:
        Called with a short message after each report (e.g. to advance a progress bar).
    comparator:
        Who the collaboration reports compare with: ``"all"`` (the programme's
        collaborations) or ``"peer_group"``; default: the programme file's ``comparator``.

    Raises
    ------
    DisclosureError
        When the benchmark tables would show or give away a figure about fewer than the
        disclosure threshold of respondents: nothing is written.
    """
    folder = Path(folder)
    wave = wave or data.latest_wave
    _check_wave(data, wave)
    if pdf and not html:
        raise CollabStatsError("PDF output is printed from the HTML: use html=True")
    links = plan_links(data, collaborations)
    data = published(data)
    say = progress or (lambda message: None)
    collab_files = SiteResult(folder=folder)
    jobs = list(links.items())
    workbook = None
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                 initargs=(data, folder, wave, html, free_text, comparator),
                                 mp_context=_fork_context()) as pool:
            # the programme workbook (every benchmark table: at national size the largest
            # single piece of work) is written by a worker beside the reports, first
            book = pool.submit(_worker_workbook, _workbook_path(folder))
            for (cid, _), files in zip(jobs, pool.map(_worker_report, jobs, chunksize=4),
                                       strict=True):
                collab_files.record(files)
                say(cid)
            workbook = book.result()
    else:
        for cid, rel in jobs:
            collab_files.record(_write_collaboration_page(data, folder, cid, rel, wave=wave,
                                                          html=html, free_text=free_text,
                                                          comparator=comparator))
            say(cid)
    result = _write_programme_pages(data, folder, wave=wave, links=links, html=html, pdf=pdf,
                                    progress=say, workbook=workbook)
    result.notebooks.extend(collab_files.notebooks)
    result.html.extend(collab_files.html)
    result.downloads.extend(collab_files.downloads)
    return result


def _unique_names(ids: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    used: set[str] = set()
    for cid in ids:
        base = name = safe_name(cid)
        n = 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        names[cid] = name
    return names


_WORKER: dict[str, object] = {}


def _fork_context():
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _init_worker(data: ReportData, folder: Path, wave: str, html: bool, free_text: bool,
                 comparator: str | None) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER.update(data=data, folder=folder, wave=wave, html=html, free_text=free_text,
                   comparator=comparator)


def _workbook_path(folder: Path) -> Path:
    return folder / "downloads" / "programme-tables.xlsx"


def _worker_workbook(path: Path) -> Path:
    return write_programme_workbook(_WORKER["data"], path)  # type: ignore[arg-type]


def _worker_report(job: tuple[str, str]) -> tuple[list[Path], list[Path]]:
    cid, rel = job
    return _write_collaboration_page(_WORKER["data"], _WORKER["folder"], cid, rel,  # type: ignore[arg-type]
                                     wave=_WORKER["wave"], html=_WORKER["html"],  # type: ignore[arg-type]
                                     free_text=_WORKER["free_text"],  # type: ignore[arg-type]
                                     comparator=_WORKER["comparator"])  # type: ignore[arg-type]


# -- index, workbook, Quarto project -----------------------------------------------------------

def build_index(data: ReportData, wave: str, links: dict[str, str], *,
                pdf: bool = False) -> ReportNotebook:
    """The landing page: what the reports are, and a link to each."""
    programme = data.programme
    label = next(w.label for w in programme.waves if w.id == wave)
    nb = ReportNotebook(title=f"{programme.name}: benchmark reports",
                        subtitle=f"Survey: {label}", author=programme.name, data_path=".",
                        extra_front_matter=front_matter_provenance(data))
    summaries = data.benchmark["summaries"]
    latest = summaries[summaries["wave_id"].astype(str) == wave]
    n_by_collab = (latest.groupby(latest["collaboration_id"].astype(str))["n_total"].max()
                   if "n_total" in latest else pd.Series(dtype=float))
    nb.markdown(
        f"These reports compare the {plural(len(programme.collaborations), 'collaboration')} "
        f"of {md_escape(programme.name)} on the eight characteristics of effective "
        f"collaboration, using the partner survey of {md_escape(label)}. Figures based on "
        f"fewer than {data.threshold} responses are not shown.", key="intro")
    nb.heading("Reports for the whole programme", key="h-programme")
    pdf_note = lambda stem: f" ([PDF](pdf/{stem}.pdf))" if pdf else ""  # noqa: E731
    nb.markdown(
        "- [Programme overview](programme-overview.ipynb): how the collaborations compare, "
        "and what changed since the last wave." + pdf_note("programme-overview") + "\n"
        "- [Technical report](technical-report.ipynb): reliability of the survey, its factor "
        "structure, comparability over time and data quality (for researchers)."
        + pdf_note("technical-report") + "\n"
        "- [All benchmark tables (Excel workbook)](downloads/programme-tables.xlsx), with the "
        "same figures hidden as in the reports.", key="programme-links")
    nb.heading("Reports for each collaboration", key="h-collaborations")
    groups = {g.id: g.name for g in programme.peer_groups}
    rows = ["| Collaboration | Region | Peer group | Responses this wave |",
            "|:---|:---|:---|---:|"]
    for c in programme.collaborations:
        if c.id not in links:
            continue
        n = n_by_collab.get(c.id, float("nan"))
        shown = (f"fewer than {data.threshold}" if not n == n or n < data.threshold
                 else f"{int(n):,}")
        extra = (f" ([PDF](pdf/{links[c.id].removesuffix('.ipynb').replace('/', '-')}.pdf))"
                 if pdf else "")
        rows.append(f"| [{md_escape(c.name)}]({links[c.id]}){extra} | {md_escape(c.region)} | "
                    f"{md_escape(groups.get(c.peer_group, c.peer_group))} | {shown} |")
    nb.markdown("\n".join(rows), key="collaboration-list")
    from .provenance import add_provenance

    add_provenance(nb, data)
    return nb


def write_programme_workbook(data: ReportData, path: Path) -> Path:
    """The programme's benchmark tables in one XLSX workbook (one sheet per table, a first
    sheet explaining them).

    The tables pass :func:`collab_stats.publication.publish_tables` as they are written (a
    :class:`~collab_stats.errors.DisclosureError` stops the build): a hidden row keeps its
    keys and the reason ("fewer than 10 responses"), every figure of it is an empty cell.
    Every text cell and column name is neutralised (:func:`_excel_safe`) and the written file
    is checked to hold no formula."""
    from collab_stats.publication import publish_tables

    tables = publish_tables(data.benchmark, threshold=data.threshold)
    readme = pd.DataFrame({
        "sheet": list(tables),
        "rows": [len(t) for t in tables.values()],
    })
    notes = pd.DataFrame({"about": [
        f"{data.programme.name}: benchmark tables from collab-stats {data.package_version}, "
        f"generated {data.generated_at.isoformat()}.",
        f"Figures for fewer than {data.threshold} respondents are empty, with the reason in "
        "the suppressed_reason column.",
    ]})

    def write(tmp: Path) -> None:
        import xlsxwriter

        # Streamed row by row (constant memory): a national programme's tables hold millions
        # of cells, which openpyxl took minutes to write. Text goes through _excel_safe first;
        # _check_no_formula then reads the written sheets back (a second line of defence).
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True,
                                              "strings_to_urls": False, "nan_inf_to_errors": False,
                                              "default_date_format": "yyyy-mm-dd hh:mm:ss"})
        try:
            sheet_class = _exact_worksheet_class()
            about = book.add_worksheet("about", worksheet_class=sheet_class)
            end = _write_sheet(about, _excel_safe(notes), 0)
            _write_sheet(about, _excel_safe(readme), end + 2)
            for name, table in tables.items():
                _write_sheet(book.add_worksheet(name[:31], worksheet_class=sheet_class),
                             _excel_safe(table), 0)
        finally:
            book.close()
        _check_no_formula(tmp, path.name)

    return write_atomic(path, write)


def _exact_worksheet_class():
    """An xlsxwriter worksheet that stores every number exactly (its shortest round-trip
    form, as openpyxl and Excel do), not rounded to 16 significant digits as xlsxwriter's
    own number element does; the round trip is tested."""
    from xlsxwriter.worksheet import Worksheet

    class ExactWorksheet(Worksheet):
        def _xml_number_element(self, number, attributes=()) -> None:
            attr = "".join(f' {key}="{self._escape_attributes(value)}"'
                           for key, value in attributes)
            self.fh.write(f"<c{attr}><v>{float(number)!r}</v></c>")

    return ExactWorksheet


def _write_sheet(sheet, frame: pd.DataFrame, start: int) -> int:
    """Write ``frame`` (header row, then its rows) from row ``start``, in row order; returns
    the row after the last. Missing values are empty cells; numbers and booleans stay typed;
    date-times (without a time zone: Excel has none) are dates."""
    sheet.write_row(start, 0, [str(c) for c in frame.columns])
    columns = []
    for column in frame.columns:
        series = frame[column]
        values = series.astype(object).where(series.notna(), None).tolist()
        if pd.api.types.is_bool_dtype(series.dtype):
            values = [None if v is None else bool(v) for v in values]
        columns.append(values)
    for r, row in enumerate(zip(*columns, strict=True) if columns else (), start=start + 1):
        for c, value in enumerate(row):
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, tuple | list):
                value = _cell_text(value)
            sheet.write(r, c, value)
    return start + 1 + len(frame)


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame Excel can hold and cannot be attacked through: time zones dropped (Excel has
    none), lists joined, every text cell and column name neutralised; numbers stay numbers."""
    from collab_stats.publication import neutralise_formulas

    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)
        elif not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            out[column] = out[column].map(_cell_text).astype(object)
    return neutralise_formulas(out)


def _cell_text(value: object) -> object:
    if isinstance(value, tuple | list):
        return "; ".join(map(str, value))
    return value


def _check_no_formula(path: Path, name: str) -> None:
    """Refuse a workbook holding a formula cell (the writer stores any text starting with
    "=" as a formula; after :func:`_excel_safe` none should). Reads each sheet's XML as
    stored, streamed, looking for a cell formula element (``<f>``)."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as archive:
        names = _sheet_titles(archive)
        for member in sorted(n for n in archive.namelist()
                             if n.startswith("xl/worksheets/sheet") and n.endswith(".xml")):
            tail = ""
            with archive.open(member) as handle:
                while chunk := handle.read(1 << 20):
                    text = tail + chunk.decode("utf-8", "replace")
                    found = re.search(r'<c r="([A-Z]+[0-9]+)"[^>]*>\s*<f[ >/]', text)
                    if found:
                        title = names.get(member, member)
                        raise CollabStatsError(
                            f"{name}: sheet {title!r}, cell {found.group(1)} would be a formula; "
                            "downloads never carry one")
                    tail = text[-400:]


def _sheet_titles(archive) -> dict[str, str]:
    """Worksheet XML member -> sheet title, from the workbook's relationships."""
    import re

    try:
        workbook = archive.read("xl/workbook.xml").decode("utf-8")
        rels = archive.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    except KeyError:
        return {}
    targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', rels))
    targets |= {k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    out = {}
    for title, rid in re.findall(r'<sheet [^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', workbook):
        target = targets.get(rid, "")
        out["xl/" + target.lstrip("/").removeprefix("xl/")] = title
    return out


def quarto_project(data: ReportData) -> str:
    """``_quarto.yml``: a website project over the notebooks, rendered without executing."""
    project = {
        "project": {"type": "website", "output-dir": "_site",
                    "render": ["index.ipynb", "programme-overview.ipynb",
                               "technical-report.ipynb", "collaborations/*.ipynb"],
                    # copied into _site as they are: the pages link to them
                    "resources": ["downloads/", "pdf/"]},
        "website": {
            "title": data.programme.name,
            "navbar": {"left": [
                {"href": "index.ipynb", "text": "Reports"},
                {"href": "programme-overview.ipynb", "text": "Programme overview"},
                {"href": "technical-report.ipynb", "text": "Technical report"},
            ]},
        },
        "format": {"html": {"toc": True, "lang": "en-GB"}},
        "execute": {"enabled": False},
        "lang": "en-GB",
    }
    return ("# Quarto website project written by collab-stats: `quarto render` in this folder\n"
            "# builds every report into _site/ from the stored outputs (nothing is executed).\n"
            + yaml.safe_dump(project, sort_keys=False, allow_unicode=True))
