"""One look for every figure: palette, fonts, sizes, and SVG output.

The palette is Okabe & Ito's (2008) colour-blind-safe set. Figures never rely on colour
alone: series also differ by marker shape or line style, values are labelled or given in the
figure's data table, and the colours chosen for pairs differ in lightness so that they stay
apart in greyscale print.

Figures are written as SVG with text kept as text (``svg.fonttype: none``): small, sharp at any
zoom, searchable, and identical from run to run (no timestamps or random ids).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .notebook import FigureOutput

__all__ = ["COLOURS", "MARKERS", "LegendEntry", "PlotArea", "SvgFigure", "auto_ticks", "figure",
           "figure_output", "legend", "plot_area", "rc", "spines", "tick_labels", "x_axis",
           "y_labels"]

#: Okabe-Ito colours by role. ``ink`` is for text and outlines (contrast 15:1 on white).
COLOURS = {
    "ink": "#1b1b1b",
    "muted": "#595959",       # 7:1 on white: secondary text, axes
    "grid": "#d9d9d9",
    "band": "#e8e8e8",        # peer interquartile range
    "focus": "#0072B2",       # this collaboration (blue, dark in greyscale)
    "peer": "#E69F00",        # peers (orange, light in greyscale)
    "good": "#009E73",        # bluish green
    "bad": "#D55E00",         # vermillion
    "neutral": "#999999",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "purple": "#CC79A7",
}
#: Diverging scale for Likert categories, from most negative to most positive (5 points):
#: vermillion, light vermillion, grey, light blue, blue: lightness mirrors the order.
LIKERT = ("#B2450A", "#F2A47A", "#C8C8C8", "#8CC4E8", "#005A8C")
#: Sequential blues for heatmaps (light = low, dark = high), readable in greyscale.
SEQUENTIAL = "Blues"
MARKERS = {"focus": "D", "peer": "o", "good": "^", "bad": "v", "neutral": "s"}

rc = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.edgecolor": COLOURS["muted"],
    "axes.labelcolor": COLOURS["ink"],
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": COLOURS["grid"],
    "grid.linewidth": 0.6,
    "xtick.color": COLOURS["ink"],
    "ytick.color": COLOURS["ink"],
    "legend.frameon": False,
    "figure.dpi": 96,
    "svg.fonttype": "none",
    "svg.hashsalt": "collab-stats",
    "figure.facecolor": "white",
    "axes.facecolor": "white",
}


@contextmanager
def figure(width: float = 7.0, height: float = 4.0, **subplots: object) -> Iterator[tuple[Figure, object]]:
    """A new figure (inches) with the house style; closed when the block ends."""
    with matplotlib.rc_context(rc):
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained", **subplots)
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def figure_output(fig: Figure, *, alt: str, data: pd.DataFrame) -> FigureOutput:
    """The figure as SVG (deterministic, text as text) with its alt text and data table."""
    buffer = io.StringIO()
    with matplotlib.rc_context(rc):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE: SVG is inlined in HTML
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return FigureOutput(svg=svg, alt=alt, data=data.reset_index(drop=True))


# -- figures drawn as SVG text -------------------------------------------------------------------

#: Marker outlines of matplotlib's markers (unit size; y points up), for :meth:`SvgFigure.marker`.
_MARKER_PATHS = {
    "D": ((0, -0.707), (0.707, 0), (0, 0.707), (-0.707, 0)),
    "^": ((0, 0.5), (-0.5, -0.5), (0.5, -0.5)),
    "v": ((0, -0.5), (0.5, 0.5), (-0.5, 0.5)),
    "s": ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)),
    "P": ((-1, -3), (1, -3), (1, -1), (3, -1), (3, 1), (1, 1), (1, 3), (-1, 3), (-1, 1),
          (-3, 1), (-3, -1), (-1, -1)),
    "X": ((-1.5, -3), (0, -1.5), (1.5, -3), (3, -1.5), (1.5, 0), (3, 1.5), (1.5, 3), (0, 1.5),
          (-1.5, 3), (-3, 1.5), (-1.5, 0), (-3, -1.5)),
}
_MARKER_SCALE = {"P": 1 / 6, "X": 1 / 6}
#: Where a line of text's baseline lies below its centre, as a share of the font size.
BASELINE = 0.36
#: Line spacing of multi-line text, as a share of the font size (matplotlib's default).
LINE_SPACING = 1.2


def _num(value: float) -> str:
    """A coordinate in SVG: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class SvgFigure:
    """A simple chart drawn directly as SVG text in the house style.

    For charts of bars, lines, markers and text this is a few milliseconds where a matplotlib
    figure takes 30 to 100: no artists, no layout, no renderer. User units are points (1/72
    inch), as in matplotlib's SVGs, so a figure keeps the size it had; text stays text (in
    the house font, so searchable and sharp) and the output is the same from run to run
    (pattern ids are derived from their content). The figure's alternative text goes in
    ``aria-label`` (with ``role="img"``) for when the SVG is shown inline, as in Jupyter.
    """

    def __init__(self, width: float, height: float) -> None:
        """A figure ``width`` x ``height`` inches, white."""
        self.width, self.height = width * 72, height * 72
        self._defs: dict[str, str] = {}
        self._parts: list[str] = []

    # -- shapes ----------------------------------------------------------------------------
    def rect(self, x: float, y: float, width: float, height: float, *, fill: str,
             stroke: str | None = None, stroke_width: float = 1.0,
             hatch: str | None = None, hatch_colour: str | None = None,
             rounded: float = 0.0) -> None:
        """A rectangle (``x``, ``y`` its top left; a negative width runs leftwards), its
        corners ``rounded`` by that radius; ``hatch`` is a matplotlib hatch such as
        ``"///"`` or ``"\\\\\\\\"``, drawn in ``hatch_colour`` (default: the stroke)."""
        if width < 0:
            x, width = x + width, -width
        if height < 0:
            y, height = y + height, -height
        box = f'x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(height)}"'
        if rounded:
            box += f' rx="{_num(rounded)}"'
        self._parts.append(f'<rect {box} style="fill: {fill}; stroke: none"/>')
        if hatch:
            pattern = self._hatch(hatch, hatch_colour or stroke or COLOURS["ink"])
            self._parts.append(f'<rect {box} style="fill: url(#{pattern}); stroke: none"/>')
        if stroke:
            self._parts.append(f'<rect {box} style="fill: none; stroke: {stroke}; '
                               f'stroke-width: {_num(stroke_width)}"/>')

    def circle(self, x: float, y: float, radius: float, *, fill: str, stroke: str,
               stroke_width: float = 1.0) -> None:
        """A circle centred on ``x``, ``y``."""
        self._parts.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(radius)}" '
                           f'style="fill: {fill}; stroke: {stroke}; '
                           f'stroke-width: {_num(stroke_width)}"/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, *, colour: str,
             width: float = 1.0, dash: str | None = None, opacity: float | None = None,
             cap: str = "butt") -> None:
        """A straight line; ``dash`` an SVG dash array in points (e.g. ``"4 3"``)."""
        style = f"fill: none; stroke: {colour}; stroke-width: {_num(width)}"
        if dash:
            style += f"; stroke-dasharray: {dash}"
        if opacity is not None:
            style += f"; stroke-opacity: {_num(opacity)}"
        if cap != "butt":
            style += f"; stroke-linecap: {cap}"
        self._parts.append(f'<path d="M {_num(x1)} {_num(y1)} L {_num(x2)} {_num(y2)}" '
                           f'style="{style}"/>')

    def marker(self, kind: str, x: float, y: float, size: float, *, fill: str,
               edge: str | None = None, edge_width: float = 1.0) -> None:
        """A matplotlib marker (``"D"``, ``"o"``, ``"^"``, ``"v"``, ``"s"``, ``"P"``, ``"X"``
        or ``"|"``) ``size`` points across, centred on ``x``, ``y``."""
        stroke = f"stroke: {edge}; stroke-width: {_num(edge_width)}" if edge else "stroke: none"
        if kind == "o":
            self._parts.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(size / 2)}" '
                               f'style="fill: {fill}; {stroke}"/>')
        elif kind == "|":
            self.line(x, y - size / 2, x, y + size / 2, colour=edge or fill, width=edge_width)
        else:
            scale = size * _MARKER_SCALE.get(kind, 1.0)
            points = " ".join(f"{_num(x + px * scale)},{_num(y - py * scale)}"
                              for px, py in _MARKER_PATHS[kind])
            self._parts.append(f'<polygon points="{points}" style="fill: {fill}; {stroke}; '
                               'stroke-linejoin: miter"/>')

    def text(self, x: float, y: float, words: str, *, size: float = 10.0,
             anchor: str = "start", colour: str = COLOURS["ink"], valign: str = "center",
             italic: bool = False, bold: bool = False, spacing: float = LINE_SPACING,
             rotate: float = 0.0) -> None:
        """Text (one ``<text>`` per line, style first as matplotlib writes it) anchored at
        ``x`` (``anchor``: start, middle or end) and ``y`` (``valign``: the centre, the
        ``top`` of the first line, the ``bottom`` or the ``baseline`` of the last), lines
        ``spacing`` font sizes apart, turned ``rotate`` degrees anticlockwise about the
        anchor."""
        lines = str(words).split("\n")
        step = size * spacing
        first = {"center": y - (len(lines) - 1) * step / 2 + BASELINE * size,
                 "top": y + 0.76 * size,
                 "bottom": y - 0.24 * size - (len(lines) - 1) * step,
                 "baseline": y - (len(lines) - 1) * step}[valign]
        turn = f' transform="rotate({_num(-rotate)} {_num(x)} {_num(y)})"' if rotate else ""
        style = (f"font-size: {_num(size)}px; font-family: '{rc['font.family']}'; "
                 f"text-anchor: {anchor}; fill: {colour}")
        if italic:
            style += "; font-style: italic"
        if bold:
            style += "; font-weight: bold"
        for k, line in enumerate(lines):
            self._parts.append(f'<text style="{style}" x="{_num(x)}" '
                               f'y="{_num(first + k * step)}"{turn}>{_escape(line)}</text>')

    # -- output ----------------------------------------------------------------------------
    def svg(self, *, alt: str = "") -> str:
        """The figure as one ``<svg>`` element."""
        width, height = _num(self.width), _num(self.height)
        label = f' role="img" aria-label="{_escape(alt)}"' if alt else ""
        defs = f"<defs>{''.join(self._defs.values())}</defs>" if self._defs else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}pt" height="{height}pt" '
                f'viewBox="0 0 {width} {height}" version="1.1"{label}>{defs}'
                f'<rect x="0" y="0" width="{width}" height="{height}" style="fill: #ffffff"/>'
                + "".join(self._parts) + "</svg>")

    def _hatch(self, hatch: str, colour: str) -> str:
        """The id of a pattern of diagonal lines as matplotlib draws ``hatch`` (one ``/`` or
        ``\\`` is a line every 24 points along a side, two every 12, three every 8), defined
        once per figure."""
        rising = hatch.count("/") > 0
        step = 24 / max(hatch.count("/"), hatch.count("\\"), 1)
        key = f"hatch-{'ne' if rising else 'nw'}-{_num(step).replace('.', '_')}-{colour[1:]}"
        if key not in self._defs:
            s = _num(step)
            path = (f"M 0 {s} L {s} 0 M -1 1 L 1 -1 M {_num(step - 1)} {_num(step + 1)} "
                    f"L {_num(step + 1)} {_num(step - 1)}" if rising else
                    f"M 0 0 L {s} {s} M -1 {_num(step - 1)} L 1 {_num(step + 1)} "
                    f"M {_num(step - 1)} -1 L {_num(step + 1)} 1")
            self._defs[key] = (f'<pattern id="{key}" patternUnits="userSpaceOnUse" width="{s}" '
                               f'height="{s}"><path d="{path}" style="fill: none; stroke: '
                               f'{colour}; stroke-width: {rc.get("hatch.linewidth", 1.0)}"/>'
                               "</pattern>")
        return key


def _escape(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


@dataclass(frozen=True)
class PlotArea:
    """The plotting area of an :class:`SvgFigure`: its box in points from the figure's top
    left, and the data limits it shows (``x`` and ``y`` turn data into points)."""

    left: float
    top: float
    right: float
    bottom: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def x(self, value: float) -> float:
        low, high = self.xlim
        return self.left + (value - low) / (high - low) * (self.right - self.left)

    def y(self, value: float) -> float:
        low, high = self.ylim
        return self.bottom - (value - low) / (high - low) * (self.bottom - self.top)

    def height(self, span: float) -> float:
        """A height in data units as points."""
        return span / (self.ylim[1] - self.ylim[0]) * (self.bottom - self.top)


def plot_area(fig: SvgFigure, *, left: float, right: float, top: float, bottom: float,
              xlim: tuple[float, float], ylim: tuple[float, float]) -> PlotArea:
    """The plotting area inside fixed margins (inches), as ``_fixed_layout`` sets them for a
    matplotlib figure."""
    return PlotArea(left * 72, top * 72, fig.width - right * 72, fig.height - bottom * 72,
                    (float(xlim[0]), float(xlim[1])), (float(ylim[0]), float(ylim[1])))


def auto_ticks(low: float, high: float, length: float) -> list[float]:
    """The ticks matplotlib would put on an x axis from ``low`` to ``high`` that is ``length``
    points long (its default locator, with as many bins as 10-point labels leave room for)."""
    bins = max(min(int(length // 30), 9), 1)
    ticks = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    room = (high - low) * 1e-9
    return [float(t) for t in ticks if low - room <= t <= high + room]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels as matplotlib writes them: one number of decimals for all, a true minus."""
    decimals = next((d for d in range(5) if all(abs(round(t, d) - t) < 1e-9 for t in ticks)), 4)
    return [f"{t:.{decimals}f}".replace("-", "\u2212") if round(t, decimals) != 0
            else f"{0:.{decimals}f}" for t in ticks]


def x_axis(fig: SvgFigure, area: PlotArea, *, label: str, label_size: float = 10.0,
           ticks: Sequence[float] | None = None, labels: Sequence[str] | None = None) -> None:
    """Vertical grid lines, the left and bottom spines, tick marks and labels and the axis
    label, in the house style (draw the grid before the data: it goes underneath)."""
    ticks = auto_ticks(*area.xlim, area.right - area.left) if ticks is None else list(ticks)
    labels = tick_labels(ticks) if labels is None else list(labels)
    for t in ticks:
        fig.line(area.x(t), area.top, area.x(t), area.bottom, colour=COLOURS["grid"],
                 width=rc["grid.linewidth"])
    for t, words in zip(ticks, labels, strict=True):
        x = area.x(t)
        fig.line(x, area.bottom, x, area.bottom + 3.5, colour=COLOURS["ink"], width=0.8)
        fig.text(x, area.bottom + 7.0, words, size=10, anchor="middle", valign="top")
    fig.text((area.left + area.right) / 2, area.bottom + 20.6, label, size=label_size,
             anchor="middle", valign="top")


def spines(fig: SvgFigure, area: PlotArea) -> None:
    """The left and bottom edges of the plotting area (drawn over the data, as matplotlib
    draws them)."""
    fig.line(area.left, area.top, area.left, area.bottom, colour=COLOURS["muted"], width=0.8,
             cap="square")
    fig.line(area.left, area.bottom, area.right, area.bottom, colour=COLOURS["muted"],
             width=0.8, cap="square")


def y_labels(fig: SvgFigure, area: PlotArea, ys: Sequence[float], labels: Sequence[str],
             size: float = 9.0) -> None:
    """Row labels left of the plotting area, right-aligned and centred on their rows."""
    for y, words in zip(ys, labels, strict=True):
        fig.text(area.left - 3.5, area.y(y), words, size=size, anchor="end")


@dataclass(frozen=True)
class LegendEntry:
    """One entry of a legend: a box (``fill``, ``edge``, ``hatch``), or a line (``line``
    colour, ``width``, ``dash``) and/or a marker (``marker``, ``marker_size``,
    ``marker_fill``, ``marker_edge``)."""

    label: str
    fill: str | None = None
    edge: str | None = None
    hatch: str = ""
    line: str | None = None
    width: float = 1.5
    dash: str | None = None
    marker: str | None = None
    marker_size: float = 6.0
    marker_fill: str | None = None
    marker_edge: str | None = None


def legend(fig: SvgFigure, entries: Sequence[LegendEntry], ncols: int, *,
           measure: Callable[[str, float], float], size: float = 8.5) -> None:
    """A frameless legend centred at the bottom of the figure, filled column by column, laid
    out as matplotlib lays out ``fig.legend(loc="lower center", ncols=...)``; ``measure``
    gives a text's width in inches."""
    rows, large = divmod(len(entries), ncols)
    counts = [rows + 1] * large + [rows] * (ncols - large)
    columns, start = [], 0
    for count in counts:
        columns.append(entries[start:start + count])
        start += count
    columns = [c for c in columns if c]
    handle, pad, gap, step = 2.0 * size, 0.8 * size, 2.0 * size, 1.5 * size
    widths = [handle + pad + max(measure(e.label, size) * 72 for e in c) for c in columns]
    x = (fig.width - sum(widths) - gap * (len(columns) - 1)) / 2
    last = fig.height - 0.9 * size - 0.59 * size
    first = last - (max(counts) - 1) * step
    for column, width in zip(columns, widths, strict=True):
        for k, entry in enumerate(column):
            y = first + k * step
            if entry.fill is not None:
                fig.rect(x, y - 0.35 * size, handle, 0.7 * size, fill=entry.fill,
                         stroke=entry.edge, hatch=entry.hatch or None)
            if entry.line is not None:
                fig.line(x, y, x + handle, y, colour=entry.line, width=entry.width,
                         dash=entry.dash)
            if entry.marker is not None:
                fig.marker(entry.marker, x + handle / 2, y, entry.marker_size,
                           fill=entry.marker_fill or entry.line or COLOURS["ink"],
                           edge=entry.marker_edge)
            fig.text(x + handle + pad, y, entry.label, size=size)
        x += width + gap
