"""One verdict per characteristic per comparison: the table every report sentence reads.

A reader of a benchmark report sees words - *higher than peers*, *in line*, *lower*,
*improved*, *declined*, *strength*, *area to develop*. Each is decided here, once, in a tidy
table (:func:`characteristic_verdicts`), and the reports only look the words up: a sentence,
a table cell, a figure's colour and its alternative text can then never disagree.

The two kinds of comparison
---------------------------
*Against peers* (``comparator`` = a peer set of :mod:`.peers`: ``all``, ``peer_group``,
``type``, ``region``, ``main_value_mode``): the collaboration's mean with its 95% confidence
interval (from :func:`~collab_stats.summaries.characteristic_summaries`: t interval, with the
design effect when weighted) against the **peer median**. ``"higher"`` when the whole
interval lies above the median, ``"lower"`` when it lies below, ``"in line"`` when it
includes it. This is the picture of the collaboration report's dot plot (the interval and the
median dot), so what the reader sees is what was tested; for an unweighted mean it is the
two-sided one-sample t-test of "the mean equals the peer median" at the 5% level, the median
taken as known (with five or more peers its own uncertainty is small beside a
collaboration's; the collaboration is one of its peers, as in the NHS Staff Survey's
benchmarking groups, which makes the test slightly conservative).

*Over time* (``comparator`` = ``previous`` or ``baseline``): the change in mean since the
reference wave with its 95% interval (:func:`~collab_stats.change.wave_change`, partially
overlapping samples). ``"improved"`` when the interval lies above zero, ``"declined"`` below,
``"no clear change"`` when it includes zero.

Strengths and areas to develop
------------------------------
A subset of the significant peer results: among the characteristics *higher* than the
comparator, the ``n_highlight`` (default 2) with the largest standardised difference from the
peer median are *strengths*; among those *lower*, the ``n_highlight`` with the most negative
are *areas to develop*. A characteristic in line with peers is never either.

Hidden cells
------------
A row whose collaboration figure is hidden by disclosure control (``suppressed``) has no
estimate and no verdict; the reports say "not shown". Rows that are shown but cannot be
compared (too few peers, no peer key, no interval, change not tested) have a missing verdict
and a ``reason``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._params import check_number
from .errors import ParameterError
from .peers import PEER_SETS

__all__ = [
    "CHANGE_VERDICTS",
    "HIGHLIGHTS",
    "PEER_VERDICTS",
    "TREND_VERDICTS",
    "VERDICT_COLUMNS",
    "characteristic_verdicts",
    "item_peer_distribution",
]

#: Verdicts against peers, low to high.
PEER_VERDICTS: tuple[str, ...] = ("lower", "in line", "higher")
#: Verdicts over time, low to high.
CHANGE_VERDICTS: tuple[str, ...] = ("declined", "no clear change", "improved")
#: The two highlights of a peer comparison.
HIGHLIGHTS: tuple[str, ...] = ("strength", "area to develop")
#: Comparators over time (``comparison`` of :func:`~collab_stats.change.wave_change`).
CHANGE_COMPARATORS: tuple[str, ...] = ("previous", "baseline")

_CHANGE_LABELS = {"significantly improved": "improved", "significantly declined": "declined",
                  "no significant change": "no clear change"}
_TREND_LABELS = {"significantly improving": "improving", "significantly declining": "declining",
                 "no significant trend": "no clear trend"}
#: Verdicts of the trend across all waves, low to high.
TREND_VERDICTS: tuple[str, ...] = ("declining", "no clear trend", "improving")
_KEYS = ["wave_id", "collaboration_id", "characteristic"]

#: The columns of :func:`characteristic_verdicts`, in order.
VERDICT_COLUMNS: tuple[str, ...] = (
    "wave_id", "collaboration_id", "characteristic", "comparator", "comparator_kind",
    "peer_key", "reference_wave_id", "n", "estimate", "ci_low", "ci_high", "reference_value",
    "difference", "d", "peer_n", "band", "verdict", "highlight", "items", "items_left_out",
    "reason", "suppressed", "suppressed_reason", "count_band",
)


def _need(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"{name} must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{name} lacks column(s) {', '.join(map(repr, missing))}")


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64",
                                                                   na_value=np.nan)


def _flag(frame: pd.DataFrame, column: str = "suppressed") -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].astype("boolean").fillna(True).to_numpy(dtype=bool)


def _text(frame: pd.DataFrame, column: str, default: str = "") -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), default, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), default).to_numpy(
        dtype=object)


def _peer_rows(summaries: pd.DataFrame, peers: pd.DataFrame,
               peer_sets: Sequence[str]) -> pd.DataFrame:
    """One row per summaries row and peer set, with the peer median and the verdict."""
    base = summaries.reset_index(drop=True)
    keys = base[_KEYS].astype(str)
    sets = list(peer_sets)
    row = np.repeat(np.arange(len(base)), len(sets))
    out = keys.iloc[row].reset_index(drop=True)
    out["comparator"] = np.tile(np.array(sets, dtype=object), len(base))
    lookup = peers.assign(**{c: peers[c].astype(str) for c in _KEYS},
                          comparator=peers["peer_set"].astype(str))
    lookup = lookup[[*_KEYS, "comparator", "peer_key", "peer_n", "peer_median", "sd_within",
                     "reason"]].rename(columns={"reason": "peer_reason"})
    if lookup.duplicated([*_KEYS, "comparator"]).any():
        raise ParameterError("peers has more than one row for a wave, collaboration, "
                             "characteristic and peer set")
    out = out.merge(lookup, on=[*_KEYS, "comparator"], how="left", sort=False)
    hidden = _flag(base)[row]
    mean, low, high = (_num(base, c)[row] for c in ("mean", "ci_low", "ci_high"))
    median = _num(out, "peer_median")
    sd_within = _num(out, "sd_within")
    shown = ~hidden & ~np.isnan(mean)
    testable = shown & ~np.isnan(median) & ~np.isnan(low) & ~np.isnan(high)
    verdict = np.where(low > median, "higher", np.where(high < median, "lower", "in line"))
    verdict = np.where(testable, verdict, None).astype(object)
    peer_reason = _text(out, "peer_reason")
    reason = np.full(len(out), "", dtype=object)
    no_peers = shown & np.isnan(median)
    reason[no_peers] = np.where(peer_reason[no_peers] != "", peer_reason[no_peers],
                                "no_peer_figures")
    reason[shown & ~no_peers & ~testable] = "no_interval"
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = np.where(shown, mean - median, np.nan)
        d = np.where(sd_within > 0, difference / sd_within, np.nan)
    peer_n = _num(out, "peer_n")
    return pd.DataFrame({
        **{c: out[c].to_numpy(dtype=object) for c in _KEYS},
        "comparator": out["comparator"].to_numpy(dtype=object),
        "comparator_kind": "peers",
        "peer_key": _text(out, "peer_key", None),
        "reference_wave_id": None,
        "n": np.where(hidden, np.nan, _num(base, "n")[row]),
        "estimate": np.where(hidden, np.nan, mean),
        "ci_low": np.where(hidden, np.nan, low),
        "ci_high": np.where(hidden, np.nan, high),
        "reference_value": median,
        "difference": difference,
        "d": d,
        "peer_n": peer_n,
        "band": np.where(hidden, None, _text(base, "band", None)[row]).astype(object),
        "verdict": verdict,
        "highlight": np.where(shown, "", None).astype(object),
        "items": None,
        "items_left_out": None,
        "reason": np.where(hidden, None, reason).astype(object),
        "suppressed": hidden,
        "suppressed_reason": _text(base, "suppressed_reason")[row],
    })


def _change_rows(change: pd.DataFrame) -> pd.DataFrame:
    """One row per change row: the change, its interval and the verdict over time."""
    hidden = _flag(change)
    label = _text(change, "label")
    verdict = np.array([_CHANGE_LABELS.get(x) for x in label], dtype=object)
    estimate = _num(change, "change")
    verdict[hidden | np.isnan(estimate)] = None
    reason = np.where(verdict == None, "not_tested", "").astype(object)  # noqa: E711
    upstream = _text(change, "reason")
    reason = np.where((reason == "not_tested") & (upstream != ""),
                      "not_tested: " + upstream.astype(str), reason).astype(object)
    sd1, sd2 = _num(change, "sd_1"), _num(change, "sd_2")
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = np.sqrt((sd1 ** 2 + sd2 ** 2) / 2)
        d = np.where(pooled > 0, estimate / pooled, np.nan)
    return pd.DataFrame({
        **{c: change[c].astype(str).to_numpy(dtype=object) for c in _KEYS},
        "comparator": change["comparison"].astype(str).to_numpy(dtype=object),
        "comparator_kind": "change",
        "peer_key": None,
        "reference_wave_id": change["reference_wave_id"].astype(str).to_numpy(dtype=object),
        "n": np.where(hidden, np.nan, _num(change, "n_smaller")),
        "estimate": np.where(hidden, np.nan, estimate),
        "ci_low": np.where(hidden, np.nan, _num(change, "ci_low")),
        "ci_high": np.where(hidden, np.nan, _num(change, "ci_high")),
        "reference_value": np.where(hidden, np.nan, 0.0),
        "difference": np.where(hidden, np.nan, estimate),
        "d": np.where(hidden, np.nan, d),
        "peer_n": np.nan,
        "band": None,
        "verdict": verdict,
        "highlight": None,
        "items": np.where(hidden, None, _text(change, "items", None)).astype(object),
        "items_left_out": np.where(hidden, None, _text(change, "items_left_out", None)
                                   ).astype(object),
        "reason": np.where(hidden, None, reason).astype(object),
        "suppressed": hidden,
        "suppressed_reason": _text(change, "suppressed_reason"),
    })


def _trend_rows(trends: pd.DataFrame, wave: str) -> pd.DataFrame:
    """One row per collaboration x characteristic trend, keyed to the last wave ``wave``."""
    hidden = _flag(trends)
    estimate = _num(trends, "slope")
    verdict = np.array([_TREND_LABELS.get(x) for x in _text(trends, "label")], dtype=object)
    verdict[hidden | np.isnan(estimate)] = None
    reason = np.where(verdict == None, "not_tested", "").astype(object)  # noqa: E711
    n = _num(trends, "n_smallest_wave") if "n_smallest_wave" in trends else np.full(
        len(trends), np.nan)
    return pd.DataFrame({
        "wave_id": wave,
        "collaboration_id": trends["collaboration_id"].astype(str).to_numpy(dtype=object),
        "characteristic": trends["characteristic"].astype(str).to_numpy(dtype=object),
        "comparator": "trend", "comparator_kind": "trend", "peer_key": None,
        "reference_wave_id": None,
        "n": np.where(hidden, np.nan, n),
        "estimate": np.where(hidden, np.nan, estimate),
        "ci_low": np.where(hidden, np.nan, _num(trends, "ci_low")),
        "ci_high": np.where(hidden, np.nan, _num(trends, "ci_high")),
        "reference_value": np.where(hidden, np.nan, 0.0),
        "difference": np.where(hidden, np.nan, estimate),
        "d": np.nan, "peer_n": np.nan, "band": None, "verdict": verdict, "highlight": None,
        "items": np.where(hidden, None, "comparable").astype(object), "items_left_out": None,
        "reason": np.where(hidden, None, reason).astype(object),
        "suppressed": hidden,
        "suppressed_reason": _text(trends, "suppressed_reason"),
    })


def _highlight(table: pd.DataFrame, n_highlight: int) -> np.ndarray:
    """Strengths and areas to develop: the largest standardised differences among the
    significant peer results of each wave, collaboration and comparator."""
    out = table["highlight"].to_numpy(dtype=object).copy()
    peers = (table["comparator_kind"] == "peers").to_numpy()
    size = np.where(np.isnan(table["d"].to_numpy(dtype=float)),
                    table["difference"].to_numpy(dtype=float), table["d"].to_numpy(dtype=float))
    group = ["wave_id", "collaboration_id", "comparator"]
    for verdict, name, sign in (("higher", "strength", -1.0), ("lower", "area to develop", 1.0)):
        pick = peers & (table["verdict"] == verdict).to_numpy()
        if not pick.any():
            continue
        part = table.loc[pick, group].assign(_size=sign * size[pick],
                                             _diff=sign * table.loc[pick, "difference"])
        part = part.sort_values([*group, "_size", "_diff"], kind="stable")
        rank = part.groupby(group, sort=False).cumcount().to_numpy()
        chosen = part.index.to_numpy()[rank < n_highlight]
        out[chosen] = name
    return out


def characteristic_verdicts(
    summaries: pd.DataFrame,
    peers: pd.DataFrame,
    change: pd.DataFrame | None = None,
    trends: pd.DataFrame | None = None,
    *,
    trend_wave: str | None = None,
    peer_sets: Sequence[str] | None = None,
    n_highlight: int = 2,
) -> pd.DataFrame:
    """The verdict table: every characteristic of every collaboration and wave, against each
    peer set and over time.

    Parameters
    ----------
    summaries : DataFrame
        :func:`~collab_stats.summaries.characteristic_summaries`, suppressed (``wave_id``,
        ``collaboration_id``, ``characteristic``, ``n``, ``mean``, ``ci_low``, ``ci_high``,
        ``band``, ``suppressed``, ``suppressed_reason``).
    peers : DataFrame
        :func:`~collab_stats.peers.peer_benchmarks` of the shown cells (``peer_set``,
        ``peer_key``, ``peer_n``, ``peer_median``, ``sd_within``, ``reason``).
    change : DataFrame, optional
        :func:`~collab_stats.change.wave_change` rows (``comparison``,
        ``reference_wave_id``, ``change``, ``ci_low``, ``ci_high``, ``label``, ``sd_1``,
        ``sd_2``, ``n_smaller``, ``suppressed``; ``items`` and ``items_left_out`` when given).
    trends : DataFrame, optional
        :func:`~collab_stats.change.collaboration_trends` rows, suppressed
        (``collaboration_id``, ``characteristic``, ``slope``, ``ci_low``, ``ci_high``,
        ``label``): one ``comparator_kind == "trend"`` row each, keyed to ``trend_wave``.
    trend_wave : str, optional
        The last wave of the trends (required with ``trends``).
    peer_sets : sequence of str, optional
        The peer sets to give verdicts for (default: those in ``peers``, in
        :data:`~collab_stats.peers.PEER_SETS` order).
    n_highlight : int
        How many strengths and areas to develop at most per wave, collaboration and
        comparator (default 2).

    Returns
    -------
    DataFrame
        Columns :data:`VERDICT_COLUMNS`; one row per summaries row and peer set
        (``comparator_kind == "peers"``), then one per change row (``"change"``), then one
        per trend (``"trend"``: the slope per wave across all waves, on comparable items):
        ``comparator`` (the peer set, or ``"previous"`` / ``"baseline"``), ``peer_key``,
        ``reference_wave_id``, ``n`` (respondents behind the estimate; for a change the smaller
        wave's), ``estimate`` (mean, or change) with ``ci_low`` / ``ci_high`` (95%),
        ``reference_value`` (the peer median, or 0: what the interval is tested against and
        what the figures draw), ``difference`` (estimate minus reference), ``d`` (difference in
        within-collaboration standard deviations: the peers' pooled ``sd_within``, or for a
        change the root mean square of the two waves' sds), ``peer_n``, ``band`` (the
        instrument's band of the mean), ``verdict`` (:data:`PEER_VERDICTS` or
        :data:`CHANGE_VERDICTS` or :data:`TREND_VERDICTS`; missing when not compared or
        hidden), ``highlight``
        (``"strength"``, ``"area to develop"`` or ``""``), ``items`` and ``items_left_out``
        (change: ``"all"`` or ``"comparable"`` and the items not scored), ``reason`` (``""``
        or why a shown row has no verdict: a :data:`~collab_stats.peers.BENCHMARK_REASONS`
        code, ``no_peer_figures``, ``no_interval`` or ``not_tested[: why]``),
        ``suppressed``, ``suppressed_reason``.

    Notes
    -----
    The rules are in the module docstring. Ties on the interval's end (the median exactly on
    it) are "in line": the interval includes the median. Highlights are ranked by ``d`` (by
    the raw difference where ``d`` is missing), ties broken by the raw difference, then by
    the summaries' order.

    Examples
    --------
    >>> s = pd.DataFrame({"wave_id": "w", "collaboration_id": "c",
    ...                   "characteristic": ["PS", "TG", "BL"], "n": 20,
    ...                   "mean": [4.1, 3.5, 2.9], "ci_low": [3.9, 3.2, 2.6],
    ...                   "ci_high": [4.3, 3.8, 3.2], "band": None, "suppressed": False,
    ...                   "suppressed_reason": ""})
    >>> p = s[["wave_id", "collaboration_id", "characteristic"]].assign(
    ...     peer_set="all", peer_key="all", peer_n=12, peer_median=3.6, sd_within=0.6, reason="")
    >>> characteristic_verdicts(s, p)[["characteristic", "verdict", "highlight"]]
    ... # doctest: +NORMALIZE_WHITESPACE
      characteristic  verdict        highlight
    0             PS   higher         strength
    1             TG  in line
    2             BL    lower  area to develop
    """
    _need(summaries, "summaries", [*_KEYS, "n", "mean", "ci_low", "ci_high"])
    _need(peers, "peers", [*_KEYS, "peer_set", "peer_key", "peer_n", "peer_median",
                           "sd_within", "reason"])
    if isinstance(n_highlight, np.integer):
        n_highlight = int(n_highlight)
    check_number("n_highlight", n_highlight, low=0, integer=True)
    if peer_sets is None:
        present = set(peers["peer_set"].astype(str))
        peer_sets = [s for s in PEER_SETS if s in present] or ["all"]
    parts = [_peer_rows(summaries, peers, peer_sets)]
    if change is not None and len(change):
        _need(change, "change", [*_KEYS, "comparison", "reference_wave_id", "change",
                                 "ci_low", "ci_high", "label", "sd_1", "sd_2", "n_smaller"])
        parts.append(_change_rows(change))
    if trends is not None and len(trends):
        _need(trends, "trends", ["collaboration_id", "characteristic", "slope", "ci_low",
                                 "ci_high", "label"])
        if trend_wave is None:
            raise ParameterError("trend_wave is required with trends")
        parts.append(_trend_rows(trends, str(trend_wave)))
    table = pd.concat(parts, ignore_index=True)
    table["highlight"] = _highlight(table, n_highlight)
    table["count_band"] = pd.array([None] * len(table), dtype="string")
    table["suppressed"] = table["suppressed"].astype(bool)
    for column in ("n", "estimate", "ci_low", "ci_high", "reference_value", "difference", "d",
                   "peer_n"):
        table[column] = table[column].astype("float64")
    return table[list(VERDICT_COLUMNS)]


def item_peer_distribution(items: pd.DataFrame) -> pd.DataFrame:
    """Per wave and question: the shown collaborations' favourable shares - worst, median,
    best - as the NHS Staff Survey reports each question against its benchmarking group.

    Parameters
    ----------
    items : DataFrame
        :func:`~collab_stats.summaries.item_summaries`, suppressed (``wave_id``,
        ``collaboration_id``, ``item_id``, ``favourable_share``, ``suppressed``).

    Returns
    -------
    DataFrame
        ``wave_id``, ``item_id``, ``peer_n`` (collaborations with a shown share),
        ``peer_worst``, ``peer_median``, ``peer_best`` (NaN with fewer than 5 shown:
        ``reason = "too_few_peers"``), ``reason``.

    Notes
    -----
    Only shown rows enter (a hidden collaboration's share is not published, so it must not
    move a published median). The median is numpy's (R ``quantile(type = 7)``) median.
    """
    _need(items, "items", ["wave_id", "collaboration_id", "item_id", "favourable_share"])
    shown = items[~_flag(items) & items["favourable_share"].notna()]
    columns = ["wave_id", "item_id", "peer_n", "peer_worst", "peer_median", "peer_best",
               "reason"]
    if not len(shown):
        return pd.DataFrame(columns=columns)
    frame = shown.assign(wave_id=shown["wave_id"].astype(str),
                         item_id=shown["item_id"].astype(str),
                         share=_num(shown, "favourable_share"))
    grouped = frame.groupby(["wave_id", "item_id"], sort=True)["share"]
    out = grouped.agg(peer_n="count", peer_worst="min", peer_median="median",
                      peer_best="max").reset_index()
    few = out["peer_n"] < 5
    out.loc[few, ["peer_worst", "peer_median", "peer_best"]] = np.nan
    out["reason"] = np.where(few, "too_few_peers", "")
    return out[columns]
