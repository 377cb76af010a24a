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
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .notebook import FigureOutput

__all__ = ["COLOURS", "MARKERS", "figure", "figure_output", "rc"]

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
