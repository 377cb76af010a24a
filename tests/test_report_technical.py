"""The technical report: structure, numbers against the psychometrics tables, quarantine counts,
the instrument mapping, escaping of file names, and figures with text alternatives."""

from __future__ import annotations

import dataclasses
import html
import re
from functools import cache

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixtures import analysed_programme

from reports.data import ReportData
from reports.notebook import FigureOutput, ReportNotebook, TableOutput, cell_options
from reports.outputs import technical as tech
from reports.technical_report import build_technical_report
from reports.text import html_escape, md_escape

pytestmark = pytest.mark.slow

SECTIONS = [
    "Summary",
    "Reliability per wave and characteristic",
    "Item analysis",
    "Flags",
    "Factor structure",
    "Reliability from the factor models",
    "Measurement invariance across waves",
    "Aggregation to collaborations",
    "Data quality",
    "Instrument versions",
    "Methods and conventions",
    "About this report",
]
HOSTILE_FILE = '<img src=x onerror=alert(1)>[x](http://evil)_*wave*`.csv'


@cache
def _report() -> tuple[ReportNotebook, nbformat.NotebookNode]:
    nb = build_technical_report(analysed_programme())
    return nb, nb.build()


@cache
def _hostile_data() -> ReportData:
    """The fixture with a hostile file name and quarantined rows under two reasons."""
    data = analysed_programme()
    sources = data.sources.copy()
    sources.loc[0, "source_name"] = HOSTILE_FILE
    quarantine = pd.DataFrame({
        "wave_id": [sources.loc[0, "wave_id"], sources.loc[0, "wave_id"],
                    sources.loc[1, "wave_id"], sources.loc[2, "wave_id"]],
        "source_name": [HOSTILE_FILE, HOSTILE_FILE, sources.loc[1, "source_name"],
                        sources.loc[2, "source_name"]],
        "reason": ["incomplete", "duplicate", "incomplete", "out_of_range"],
        "rows": [3, 2, 5, 7],
    })
    return dataclasses.replace(data, sources=sources, quarantine=quarantine)


@cache
def _hostile_report() -> tuple[ReportNotebook, nbformat.NotebookNode]:
    nb = build_technical_report(_hostile_data())
    return nb, nb.build()


def _rows(table: TableOutput) -> list[dict[str, str]]:
    """The table's Markdown as one dict per row (header -> displayed text, unescaped)."""
    def clean(cell: str) -> str:
        return html.unescape(re.sub(r"\\(.)", r"\1", cell.strip()))

    lines = [line for line in table.markdown.strip().splitlines() if line.startswith("|")]
    header = [clean(c) for c in lines[0].strip("|").split(" | ")]
    return [dict(zip(header, [clean(c) for c in line.strip("|").split(" | ")], strict=True))
            for line in lines[2:]]


def _programme_reliability(data: ReportData, wave: str, characteristic: str) -> pd.Series:
    table = data.psychometrics["reliability"]
    row = table[(table["level"] == "programme") & (table["wave_id"] == wave)
                & (table["characteristic"] == characteristic)]
    assert len(row) == 1
    return row.iloc[0]


def _markdown_cells(book: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in book.cells if c.cell_type == "markdown"]


# --- structure -----------------------------------------------------------------------------------


def test_notebook_validates_with_front_matter_and_labelled_outputs():
    nb, book = _report()
    nbformat.validate(book)
    data = analysed_programme()
    front = book.cells[0]
    assert front.cell_type == "raw"
    matter = yaml.safe_load(front.source.strip().strip("-"))
    assert matter["title"] == md_escape(f"{data.programme.name}: technical report")
    assert matter["subtitle"] == \
        "Reliability, factor structure, measurement invariance and data quality"
    assert matter["author"] == md_escape(data.programme.name)
    assert [s["file"] for s in matter["collab-stats"]["sources"]] == \
        list(data.sources["source_name"])
    for cell in book.cells[2:]:
        if cell.cell_type == "code":
            options, code = cell_options(cell.source)
            assert re.match(r"^(fig|tbl)-[a-z0-9-]+$", options["label"])
            assert options["echo"] is False
            assert code.startswith(("technical.", "provenance."))
            assert "remove-input" in cell.metadata["tags"]


def test_sections_in_order_with_a_subsection_per_wave():
    _, book = _report()
    data = analysed_programme()
    headings = [line for text in _markdown_cells(book) for line in text.splitlines()
                if line.startswith("#")]
    level2 = [h[3:] for h in headings if h.startswith("## ")]
    assert level2 == SECTIONS
    assert all(h.startswith(("## ", "### ")) for h in headings)
    assert headings[0] == "## Summary"
    for wave in data.waves:
        label = md_escape(f"{wave} (version {data.instrument_version(wave)})")
        # once under reliability, once under item analysis
        assert headings.count(f"### Wave {label}") == 2


def test_every_cross_reference_resolves_and_every_output_is_referenced():
    nb, book = _report()
    text = "\n".join(_markdown_cells(book))
    references = set(re.findall(r"@((?:fig|tbl)-[a-z0-9-]+[a-z0-9])", text))
    assert references <= set(nb.outputs), references - set(nb.outputs)
    assert {label for label in nb.outputs if label != "tbl-sources"} <= references


# --- numbers against the source tables ------------------------------------------------------------


def test_reliability_tables_match_the_programme_rows():
    nb, _ = _report()
    data = analysed_programme()
    names = data.characteristic_names()
    for wave in data.waves:
        rows = {r["Characteristic"]: r for r in _rows(nb.outputs[f"tbl-reliability-{wave}"])}
        assert list(rows) == list(names.values())
        for characteristic, name in names.items():
            source = _programme_reliability(data, wave, characteristic)
            row = rows[name]
            assert row["Alpha"] == f"{source['alpha']:.3f}"
            assert row["Omega"] == f"{source['omega']:.3f}"
            assert row["95% CI (Feldt)"] == \
                f"{source['ci_low']:.3f} to {source['ci_high']:.3f}"
            assert row["n used"] == f"{source['n_used']:,} of {source['n_total']:,}"
            assert row["Items"] == str(source["n_items"])


def test_collaboration_level_alpha_is_summarised_not_mixed_with_the_pooled_rows():
    nb, _ = _report()
    data = analysed_programme()
    table = data.psychometrics["reliability"]
    wave, characteristic = data.waves[0], "TG"
    collab = table[(table["level"] == "collaboration") & (table["wave_id"] == wave)
                   & (table["characteristic"] == characteristic)]["alpha"]
    name = data.characteristic_names()[characteristic]
    row = next(r for r in _rows(nb.outputs["tbl-collaboration-alpha"])
               if r["Wave"] == wave and r["Characteristic"] == name)
    assert row["Computed"] == f"{collab.notna().sum()} of {len(collab)}"
    assert row["Median alpha"] == f"{collab.median():.2f}".replace("-", "\u2212")
    assert row["Below 0.70"] == str(int((collab < 0.70).sum()))


def test_fit_and_invariance_tables_match_the_source_tables():
    nb, _ = _report()
    data = analysed_programme()
    fits = data.psychometrics["factor_structure"]
    rows = _rows(nb.outputs["tbl-fit"])
    assert len(rows) == len(fits)
    for source in fits.itertuples():
        row = next(r for r in rows if r["Wave"] == source.wave_id
                   and r["Model"] == tech.MODEL_NAMES[source.model])
        assert row["CFI"] == f"{source.cfi:.3f}"
        assert row["TLI"] == f"{source.tli:.3f}"
        assert row["RMSEA"] == f"{source.rmsea:.3f}"
        assert row["SRMR"] == f"{source.srmr:.3f}"
        assert row["χ² (df)"] == f"{source.chi_square:.2f} ({source.df})"
    invariance = data.psychometrics["invariance"]
    rows = {r["Model"]: r for r in _rows(nb.outputs["tbl-invariance"])}
    for source in invariance.itertuples():
        row = rows[source.level.capitalize()]
        assert row["CFI"] == f"{source.cfi:.3f}"
        assert row["Supported"] == ("Yes" if source.supported else "No")


def test_summary_states_the_verdicts_of_the_tables():
    _, book = _report()
    data = analysed_programme()
    summary = next(c.source for c in book.cells if c.get("id") == "summary")
    assert summary.startswith("::: {.callout-note title=\"Key findings\"}")
    rel = data.psychometrics["reliability"]
    pooled = rel[rel["level"] == "programme"]["alpha"]
    assert f"{pooled.min():.3f}" in summary and f"{pooled.max():.3f}" in summary
    aggregation = data.psychometrics["aggregation"]
    justified = sum(str(v).startswith("Justified") for v in aggregation["verdict"])
    assert f"justified in {justified} of {len(aggregation)}" in summary
    invariance = data.psychometrics["invariance"]
    supported = invariance.set_index("level")["supported"]
    reached = None
    for level in ("configural", "metric", "scalar"):
        if not supported.get(level, False):
            break
        reached = level
    assert reached is not None
    assert f"{reached.capitalize()} invariance is the strictest level supported" in summary


def test_flags_in_plain_words_one_row_per_flag():
    nb, _ = _report()
    data = analysed_programme()
    flags = data.psychometrics["flags"]
    assert len(flags)  # the fixture has flags: this test must see some
    rows = _rows(nb.outputs["tbl-flags"])
    assert len(rows) == len(flags)
    for row, source in zip(rows, tech._in_wave_order(data, flags).itertuples(), strict=True):
        assert row["Flag"] == tech.FLAG_NAMES[source.flag]
        if source.flag == "alpha_rises_if_dropped":
            assert f"{source.value:.3f}" in row["What it means"]
        assert row["Item"] == (source.item if isinstance(source.item, str) else "whole scale")
    # flagged items are marked in words in the item tables too (not by colour)
    first = flags[flags["level"] == "item"].iloc[0]
    items = _rows(nb.outputs[f"tbl-items-{first['wave_id']}"])
    row = next(r for r in items if r["Item"].split(" ")[0] == first["item"])
    assert "▲" in row["Flag"] and tech.FLAG_NAMES[first["flag"]] in row["Flag"]


def test_aggregation_table_matches_and_uses_respondents_used():
    nb, _ = _report()
    data = analysed_programme()
    aggregation = data.psychometrics["aggregation"]
    rows = _rows(nb.outputs["tbl-aggregation"])
    assert len(rows) == len(aggregation)
    names = data.characteristic_names()
    for source in aggregation.itertuples():
        row = next(r for r in rows if r["Wave"] == source.wave_id
                   and r["Characteristic"] == names[source.characteristic])
        assert row["ICC(1)"] == f"{source.icc1:.3f}".replace("-", "\u2212")
        assert row["ICC(2)"] == f"{source.icc2:.3f}".replace("-", "\u2212")
        assert row["Median rwg(J)"] == f"{source.median_rwg_j:.3f}"
        assert row["n used"] == f"{source.n_used:,}"
        assert row["Verdict"] == source.verdict.split(".")[0]


# --- data quality and instrument versions ---------------------------------------------------------


def test_quarantine_counts_by_reason_match_the_ingest_table():
    nb, _ = _hostile_report()
    data = _hostile_data()
    expected = data.quarantine.groupby("reason")["rows"].sum()
    rows = _rows(nb.outputs["tbl-quarantine"])
    assert {r["Code"]: int(r["Rows quarantined"]) for r in rows} == expected.to_dict()
    assert [int(r["Rows quarantined"]) for r in rows] == sorted(expected, reverse=True)
    duplicate = next(r for r in rows if r["Code"] == "duplicate")
    assert duplicate["Reason"] == "Duplicate response"
    assert duplicate["Files"] == HOSTILE_FILE
    share = expected["out_of_range"] / data.sources["rows_read"].sum()
    assert next(r for r in rows if r["Code"] == "out_of_range")["Share of rows read"] == \
        f"{100 * share:.1f}%"
    # the fixture's own quarantine table: one reason
    plain = _rows(_report()[0].outputs["tbl-quarantine"])
    assert [(r["Code"], int(r["Rows quarantined"])) for r in plain] == \
        [("incomplete", int(analysed_programme().quarantine["rows"].sum()))]


def test_ingest_table_lists_every_export():
    nb, _ = _report()
    data = analysed_programme()
    rows = _rows(nb.outputs["tbl-ingest"])
    assert [r["File"] for r in rows] == list(data.sources["source_name"])
    for row, source in zip(rows, data.sources.itertuples(), strict=True):
        assert int(row["Rows read"]) == source.rows_read
        assert int(row["Quarantined"]) == source.rows_quarantined


def test_mapping_table_shows_split_dropped_added_and_cross_wave_use():
    nb, _ = _report()
    rows = _rows(nb.outputs["tbl-mapping-1-0-2-0"])
    by_from = {r["Item in 1.0"]: r for r in rows if r["Item in 1.0"] != "–"}
    split = by_from["MI03"]
    assert split["Item(s) in 2.0"] == "MI03A, MI03B"
    assert (split["Relation"], split["Comparable"], split["Used across waves"]) == \
        ("Split", "No", "No")
    dropped = by_from["CC02"]
    assert (dropped["Item(s) in 2.0"], dropped["Relation"], dropped["Used across waves"]) == \
        ("–", "Dropped", "No")
    added = next(r for r in rows if r["Item(s) in 2.0"] == "TG06")
    assert (added["Item in 1.0"], added["Relation"], added["Used across waves"]) == \
        ("–", "Added", "No")
    reworded = by_from["PS01"]
    assert (reworded["Relation"], reworded["Comparable"], reworded["Used across waves"]) == \
        ("Reworded", "Yes", "Yes")
    assert by_from["PS02"]["Relation"] == "Same wording"
    used = sum(r["Used across waves"] == "Yes" for r in rows)
    assert used == len(tech.cross_wave_chains(analysed_programme()))


def test_file_names_are_escaped_everywhere_they_are_shown():
    nb, book = _hostile_report()
    markdown = "\n".join(_markdown_cells(book))
    assert md_escape(HOSTILE_FILE) in markdown  # named in the data-quality paragraph
    for cell in book.cells[1:]:
        assert HOSTILE_FILE not in cell.source
        for output in cell.get("outputs", []):
            bundle = output.get("data", {})
            assert HOSTILE_FILE not in bundle.get("text/html", "")
            assert HOSTILE_FILE not in bundle.get("text/markdown", "")
            assert "<img" not in bundle.get("text/html", "")
    html_text = nb.outputs["tbl-ingest"].html
    assert html_escape(HOSTILE_FILE) in html_text
    assert md_escape(HOSTILE_FILE) in nb.outputs["tbl-ingest"].markdown


# --- figures --------------------------------------------------------------------------------------


def test_figures_are_svg_with_alt_text_that_states_the_finding():
    nb, book = _report()
    figures = [c for c in book.cells if c.cell_type == "code"
               and cell_options(c.source)[0]["label"].startswith("fig-")]
    labels = {cell_options(c.source)[0]["label"] for c in figures}
    data = analysed_programme()
    assert {"fig-reliability", "fig-loadings", "fig-aggregation"} <= labels
    assert {f"fig-items-{w}" for w in data.waves} <= labels
    for cell in figures:
        options, _ = cell_options(cell.source)
        bundle = cell.outputs[0]["data"]
        assert bundle["image/svg+xml"].startswith("<svg")
        assert options["fig-alt"].strip() and options["fig-alt"] == bundle["text/plain"]
        assert re.search(r"\d\.\d\d", options["fig-alt"])  # a number, not just a description
        assert options["fig-cap"].endswith(".")
        assert cell.outputs[0]["metadata"]["collab_stats"]["data_html"].startswith("<table")
    pooled = tech.programme_reliability(data)
    alt = nb.outputs["fig-reliability"].alt
    assert f"{pooled['alpha'].min():.2f}" in alt and f"{pooled['alpha'].max():.2f}" in alt


def test_item_chart_names_the_flagged_items():
    data = analysed_programme()
    flags = data.psychometrics["flags"]
    for wave in data.waves:
        output = tech.item_chart(data, wave=wave)
        assert isinstance(output, FigureOutput)
        flagged = set(flags[(flags["wave_id"] == wave) & (flags["level"] == "item")]["item"])
        for item in flagged:
            assert item in output.alt
        assert set(output.data.loc[output.data["flags"] != "", "item"]) == flagged
        if flagged:
            assert "marked with a triangle" in output.alt


def test_loadings_chart_orders_split_items_after_the_original_and_keeps_the_numbers():
    data = analysed_programme()
    order = tech._item_order(data)
    assert order.index("MI03") < order.index("MI03A") < order.index("MI03B") < \
        order.index("MI04")
    output = tech.loadings_chart(data, model="eight_factor")
    loads = data.psychometrics["loadings"]
    loads = loads[loads["model"] == "eight_factor"]
    assert len(output.data) == len(loads)
    assert np.allclose(np.sort(output.data["std_loading"]), np.sort(loads["std_loading"]))
    assert f"{loads['std_loading'].min():.2f}" in output.alt


def test_builds_with_one_wave_and_no_ingest_records():
    data = analysed_programme()
    first = data.waves[0]
    psychometrics = {name: (t[t["wave_id"] == first] if "wave_id" in t.columns else t.iloc[0:0])
                     for name, t in data.psychometrics.items()}
    programme = dataclasses.replace(data.programme, waves=data.programme.waves[:1])
    one = dataclasses.replace(data, programme=programme, psychometrics=psychometrics,
                              sources=pd.DataFrame(), quarantine=pd.DataFrame())
    nb = build_technical_report(one)
    book = nb.build()
    nbformat.validate(book)
    text = "\n".join(_markdown_cells(book))
    assert "it was not assessed" in text
    assert "No ingest records" in text
    assert "tbl-invariance" not in nb.outputs and "tbl-mapping-1-0-2-0" not in nb.outputs
    assert [r["Wave"] for r in _rows(nb.outputs["tbl-versions"])] == [first]


def test_model_reliability_tables_show_the_psychometrics_figures():
    """Omega hierarchical and composite reliability as stored (rounded for display only)."""
    nb, _ = _report()
    data = analysed_programme()
    hierarchical = data.psychometrics["omega_hierarchical"]
    composite = data.psychometrics["composite_reliability"]
    assert len(hierarchical) == len(data.waves) and len(composite) == 8 * len(data.waves)
    rows = {r["Wave"]: r for r in _rows(nb.outputs["tbl-omega-hierarchical"])}
    for r in hierarchical.itertuples():
        assert rows[r.wave_id]["Omega hierarchical"] == f"{r.omega_hierarchical:.3f}"
        assert rows[r.wave_id]["Omega total"] == f"{r.omega_total:.3f}"
    names = data.characteristic_names()
    rows = {r["Characteristic"]: r for r in _rows(nb.outputs["tbl-composite-reliability"])}
    for r in composite.itertuples():
        assert rows[names[r.characteristic]][r.wave_id] == f"{r.omega:.3f}"
