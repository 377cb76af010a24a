"""Figures drawn directly as SVG (issue #17): the same look and words as the matplotlib
figures they replace, text as text, deterministic, and accessible when shown inline."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from report_fixtures import analysed_programme

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

