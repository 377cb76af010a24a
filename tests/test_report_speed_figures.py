"""Reports built faster (issue #17). Figures drawn directly as SVG: the same look and words as
the matplotlib figures they replace, text as text, deterministic, and accessible when shown
inline. Frames aligned without merges: the same as the merges gave. Notebook cells made
without nbformat's per-cell checks: the same cells, the notebook still checked."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from report_fixtures import analysed_programme

from reports.notebook import ReportNotebook, TableOutput, _options_text
from reports.outputs import collaboration as outputs_module
from reports.style import LegendEntry, SvgFigure, auto_ticks, figure, legend, tick_labels
from reports.text import fmt_number

SVG = "{http://www.w3.org/2000/svg}"
DIRECT = ("peers_figure", "trend_figure", "value_modes_figure", "network_figure")


def texts(svg: str) -> list[str]:
    return [e.text or "" for e in ET.fromstring(svg).iter(f"{SVG}text")]


def shown_ids() -> list[str]:
    data = analysed_programme()
    return [c.id for c in data.programme.collaborations
            if outputs_module.response_status(data, c.id, data.latest_wave) == "shown"]


@pytest.mark.parametrize(("low", "high", "length"), [
    (2.0, 5.0, 262.8), (2.5, 5.0, 283.7), (1.0, 5.0, 262.8), (-0.98, 0.98, 345.6),
    (-3.3, 3.3, 345.6), (3.25, 4.0, 262.8)])
def test_ticks_are_the_ones_matplotlib_chooses(low, high, length):
    """Reference: matplotlib's own x axis of the same length (its default locator and
    formatter) gives the same ticks and tick labels."""
    with figure(length / 72 + 1, 2) as (fig, ax):
        fig.set_layout_engine(None)
        ax.set_position([0.5 / (length / 72 + 1), 0.2, length / 72 / (length / 72 + 1), 0.7])
        ax.set_xlim(low, high)
        fig.canvas.draw()
        expected = [t for t in ax.get_xticks() if low - 1e-9 <= t <= high + 1e-9]
        words = [t.get_text() for t in ax.get_xticklabels()
                 if low - 1e-9 <= t.get_position()[0] <= high + 1e-9]
    ticks = auto_ticks(low, high, length)
    np.testing.assert_allclose(ticks, expected)
    assert tick_labels(ticks) == words


def test_an_svg_figure_is_deterministic_escaped_and_labelled():
    def draw() -> str:
        fig = SvgFigure(3, 1)
        fig.rect(10, 10, -5, 8, fill="#ffffff", stroke="#000000", hatch="///")
        fig.rect(30, 10, 5, 8, fill="#ffffff", stroke="#000000", hatch="///")
        fig.text(20, 20, "A & B <b>\nsecond line", size=8.5)
        legend(fig, [LegendEntry("Key", fill="#ffffff", edge="#000000")], 1,
               measure=lambda text, size: len(text) * size / 144)
        return fig.svg(alt='Alt "text" <here>')

    svg = draw()
    assert svg == draw()
    root = ET.fromstring(svg)  # well-formed XML
    assert root.get("role") == "img" and root.get("aria-label") == 'Alt "text" <here>'
    assert root.get("width") == "216pt" and root.get("height") == "72pt"
    assert texts(svg) == ["A & B <b>", "second line", "Key"]
    assert len(root.findall(f"{SVG}defs/{SVG}pattern")) == 1  # one pattern, used twice
    # style first, as matplotlib writes text (tests read figures' texts that way)
    assert all(re.match(r'<text style="font-size: [0-9.]+px', t)
               for t in re.findall(r"<text [^>]*>", svg))


@pytest.mark.parametrize("name", DIRECT)
def test_direct_figures_say_what_their_data_say(name):
    """Each figure drawn as SVG is one well-formed <svg> with the alt text as its label,
    no matplotlib artefacts, and a data table beside it."""
    data = analysed_programme()
    for cid in shown_ids()[:3]:
        result = getattr(outputs_module, name)(data, collaboration=cid, wave=data.latest_wave)
        root = ET.fromstring(result.svg)
        assert root.get("aria-label") == result.alt and len(result.alt) > 40
        assert "<image" not in result.svg and "<script" not in result.svg
        assert len(result.data)


def test_peers_figure_writes_each_shown_mean_and_verdict():
    data = analysed_programme()
    for cid in shown_ids()[:3]:
        frame = outputs_module.characteristic_frame(data, cid, data.latest_wave)
        written = texts(outputs_module.peers_figure(data, collaboration=cid,
                                                    wave=data.latest_wave).svg)
        for row in frame.itertuples():
            if not row.suppressed and not np.isnan(row.mean):
                assert fmt_number(row.mean) in written
        assert "Mean score from 1 (strongly disagree) to 5 (strongly agree)" in written


def test_value_mode_labels_fit_inside_the_figure():
    """A bar of 100% keeps its label ("100% (15 of 15)") inside the figure: the axis runs a
    little further when a label needs it."""
    data = analysed_programme()
    width = outputs_module._text_width("100% (150 of 150)", 8.5) * 72
    for cid in shown_ids()[:5]:
        svg = outputs_module.value_modes_figure(data, collaboration=cid,
                                                wave=data.latest_wave).svg
        right = float(ET.fromstring(svg).get("width").removesuffix("pt"))
        for m in re.finditer(r'<text style="[^"]*text-anchor: start[^"]*" x="([0-9.]+)"[^>]*>'
                             r"(\d+% \([^<]*\))</text>", svg):
            assert float(m.group(1)) + min(width, outputs_module._text_width(
                m.group(2), 8.5) * 72) <= right



# -- frames aligned without merges (issue #17) ---------------------------------------------------
# The plain pandas versions the fast frame helpers replaced: merges, .loc and sort_values.

def _reference_change(data, cid, wave, comparison):
    names = data.characteristic_names()
    frame = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    rows = outputs_module.rows_for(data, "change", cid, wave)
    columns = ["characteristic", "reference_wave_id", "mean_1", "mean_2", "change", "ci_low",
               "ci_high", "p_value", "caveat", "n_smaller", "items", "items_left_out",
               "suppressed", "suppressed_reason"]
    if len(rows):
        rows = rows[rows["comparison"] == comparison]
    if not len(rows):
        return frame.iloc[0:0].assign(**{c: [] for c in [*columns[1:], "verdict", "words"]})
    frame = frame.merge(rows[[c for c in columns if c in rows.columns]], on="characteristic",
                        how="left")
    frame["suppressed"] = frame["suppressed"].fillna(True).astype(bool)
    verdicts = outputs_module.verdict_rows(data, cid, wave, comparison)
    frame["verdict"] = np.where(frame["suppressed"], "", verdicts["verdict"].to_numpy())
    frame["words"] = [outputs_module.VERDICT_WORDS.get(x, "Not tested" if x == "" else x)
                      for x in frame["verdict"]]
    for column in ("caveat", "items", "items_left_out"):
        frame[column] = frame[column].astype(object).where(lambda c: c.notna(), "").astype(str)
    return frame


def _reference_trend(data, cid, wave, peer_set):
    present = set(data.benchmark["summaries"]["wave_id"].astype(str))
    waves = [w for w in data.waves[: data.waves.index(wave) + 1] if w in present]
    names = data.characteristic_names()
    grid = pd.MultiIndex.from_product([list(names), waves],
                                      names=["characteristic", "wave_id"]).to_frame(index=False)
    grid["name"] = grid["characteristic"].map(names)
    rows = outputs_module.rows_for(data, "summaries", cid)
    grid = grid.merge(rows[["characteristic", "wave_id", "n", "mean", "ci_low", "ci_high",
                            "suppressed"]], on=["characteristic", "wave_id"], how="left")
    grid["suppressed"] = grid["suppressed"].fillna(True).astype(bool)
    grid.loc[grid["suppressed"], ["n", "mean", "ci_low", "ci_high"]] = np.nan
    peers = outputs_module.rows_for(data, "peers", cid)
    peers = peers[peers["peer_set"] == peer_set][["characteristic", "wave_id", "peer_median"]]
    grid = grid.merge(peers, on=["characteristic", "wave_id"], how="left")
    for column in ("n", "mean", "ci_low", "ci_high", "peer_median"):
        grid[column] = pd.to_numeric(grid[column], errors="coerce").astype(float)
    return grid


def _reference_trend_table(data, cid, wave):
    names = data.characteristic_names()
    frame = pd.DataFrame({"characteristic": list(names), "name": list(names.values())})
    rows = outputs_module.rows_for(data, "trends", cid)
    if len(rows) and wave == data.latest_wave:
        frame = frame.merge(rows[["characteristic", "slope", "ci_low", "ci_high", "n_waves",
                                  "suppressed"]], on="characteristic", how="left")
        frame["verdict"] = outputs_module.verdict_rows(data, cid, wave, "trend")[
            "verdict"].to_numpy()
    else:
        frame = frame.assign(slope=np.nan, ci_low=np.nan, ci_high=np.nan, verdict="",
                             n_waves=np.nan, suppressed=False)
    frame["suppressed"] = frame["suppressed"].fillna(False).astype(bool)
    frame.loc[frame["suppressed"], ["slope", "ci_low", "ci_high"]] = np.nan
    frame.loc[frame["suppressed"], "verdict"] = ""
    frame["words"] = [outputs_module.VERDICT_WORDS.get(x, "") for x in frame["verdict"]]
    return frame


def _reference_breakdown(data, cid, wave, by):
    rows = outputs_module.rows_for(data, "breakdowns", cid, wave)
    rows = rows[rows["breakdown"] == by].copy()
    labels = outputs_module.option_labels(data, wave, by)
    rows["subgroup"] = rows["subgroup"].astype(str)
    rows["subgroup_label"] = rows["subgroup"].map(lambda s: labels.get(s, s))
    hidden = rows["suppressed"].fillna(False).astype(bool).to_numpy()
    secondary = (rows["count_band"].astype("string").fillna("") == "suppressed").to_numpy()
    rows["protected"] = hidden & secondary
    rows["hidden"] = hidden & ~rows["protected"].to_numpy()
    for column in ("n", "mean", "ci_low", "ci_high"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce").astype(float)
    rows.loc[hidden, ["n", "mean", "ci_low", "ci_high"]] = np.nan
    order = {s: k for k, s in enumerate(labels)}
    rows["_order"] = rows["subgroup"].map(lambda s: order.get(s, len(order)))
    return rows.sort_values(["_order", "subgroup"], kind="stable")[
        ["characteristic", "subgroup", "subgroup_label", "n", "mean", "ci_low", "ci_high",
         "hidden", "protected"]].reset_index(drop=True)


def _with_holes(data):
    """``data`` with rows taken out: a characteristic's change and trend, a wave's summaries,
    a peer set, every "role" breakdown (so the fast paths fill what a merge leaves missing)."""
    tables = dict(data.benchmark)
    ids = [c.id for c in data.programme.collaborations]
    first = data.characteristic_names().__iter__().__next__()

    def drop(name, mask):
        tables[name] = tables[name][~np.asarray(mask, dtype=bool)].reset_index(drop=True)

    t = tables
    drop("change", (t["change"]["collaboration_id"].astype(str) == ids[2])
         & (t["change"]["characteristic"].astype(str) == first))
    drop("trends", (t["trends"]["collaboration_id"].astype(str) == ids[3])
         & (t["trends"]["characteristic"].astype(str) == first))
    drop("summaries", (t["summaries"]["collaboration_id"].astype(str) == ids[4])
         & (t["summaries"]["wave_id"].astype(str) == data.waves[0]))
    drop("peers", (t["peers"]["collaboration_id"].astype(str) == ids[5])
         & (t["peers"]["peer_set"] == "all"))
    drop("breakdowns", t["breakdowns"]["breakdown"] == "role")
    return dataclasses.replace(data, benchmark=tables)


@pytest.mark.parametrize("holes", [False, True])
def test_aligned_frames_equal_their_merge_references(holes):
    """Values, order and dtypes exactly as the merges gave them, also where rows are missing."""
    data = analysed_programme()
    data = _with_holes(data) if holes else data
    for cid in [c.id for c in data.programme.collaborations][:7]:
        for wave in data.waves:
            for comparison in ("previous", "baseline"):
                pd.testing.assert_frame_equal(
                    outputs_module.change_frame(data, cid, wave, comparison),
                    _reference_change(data, cid, wave, comparison), check_exact=True)
            for peer_set in ("all", "peer_group"):
                pd.testing.assert_frame_equal(
                    outputs_module.trend_frame(data, cid, wave, peer_set),
                    _reference_trend(data, cid, wave, peer_set), check_exact=True)
            pd.testing.assert_frame_equal(outputs_module.trend_table_frame(data, cid, wave),
                                          _reference_trend_table(data, cid, wave),
                                          check_exact=True)
            for by in ("sector", "role"):
                pd.testing.assert_frame_equal(
                    outputs_module.breakdown_frame(data, cid, wave, by),
                    _reference_breakdown(data, cid, wave, by), check_exact=True)


# -- notebook assembly (issue #17) ---------------------------------------------------------------

@given(st.text(st.characters(codec="utf-8"), max_size=12)
       | st.sampled_from(["yes", "no", "null", "~", "1.5", "- a", "a: b", "#x", "'q'", '"q"',
                          "\u2028", "\x85", "\U0001F600 Care", "\ufeff", "é\t", "100%"]))
@settings(max_examples=300, deadline=None)
def test_option_lines_are_what_pyyaml_writes(text):
    """libyaml writes a cell option as PyYAML's emitter does (or PyYAML's is used)."""
    for value in (text, True, False):
        expected = yaml.safe_dump({"fig-cap": value}, default_flow_style=True, width=10_000,
                                  allow_unicode=True).strip()[1:-1].strip()
        assert _options_text({"fig-cap": value}) == f"#| {expected}\n"


def test_cells_are_the_ones_nbformat_makes_and_the_notebook_is_checked():
    """The cells hold what nbformat's constructors give (ids aside), and build() still
    refuses a notebook the schema rejects."""
    from nbformat import v4

    nb = ReportNotebook(title="T")
    nb.markdown("Some *text*")
    nb.output(lambda data: TableOutput(html="<table></table>", markdown="|a|",
                                       data=pd.DataFrame()), None, label="tbl-x", caption="C")
    built = nb.build()
    expected = [v4.new_raw_cell(built.cells[0].source),
                v4.new_code_cell(built.cells[1].source, metadata={"tags": ["remove-cell"]}),
                v4.new_markdown_cell("Some *text*\n"),
                v4.new_code_cell(built.cells[3].source, metadata={"tags": ["remove-input"]},
                                 outputs=[v4.new_output(
                                     "execute_result", execution_count=None,
                                     data={"text/html": "<table></table>", "text/markdown": "|a|"},
                                     metadata={"collab_stats": {"label": "tbl-x"}})])]
    for cell, made in zip(built.cells, expected, strict=True):
        assert {**cell, "id": ""} == {**made, "id": ""}
        assert type(cell.metadata) is type(made.metadata)
    assert nbformat.reads(nbformat.writes(built), as_version=4) == built
    nb.cells[0]["source"] = 3  # not text
    with pytest.raises(nbformat.ValidationError):
        nb.build()
