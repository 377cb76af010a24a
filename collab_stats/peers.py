"""Peer benchmarking: each collaboration's characteristic scores against its peers.

A collaboration is compared with several *peer sets* - every collaboration of the programme,
those of its peer group, its type, its region, and those naming the same main way of creating
value - as the NHS Staff Survey benchmark reports compare an organisation with its
benchmarking group:

* the peer distribution of collaboration means (worst, lower quartile, median, upper quartile,
  best) and where the collaboration lies in it (a percentile rank);
* a funnel-plot comparison with the peer average (Spiegelhalter 2005): is the collaboration's
  mean further from the peer average than chance alone would put it, given how many
  respondents it has;
* a standardised difference from the peer average, and a *profile*: which characteristics are
  a collaboration's relative strengths and areas to develop.

Input: collaboration summaries
------------------------------
One row per wave x collaboration x characteristic with ``wave_id``, ``collaboration_id``,
``characteristic``, ``n`` (respondents with a score), ``mean`` and ``sd`` (of the respondents'
scores, N - 1 denominator); other columns are ignored. A missing ``mean`` (no respondents, or
withheld) is allowed: that collaboration is left out of the peer distributions and its own
comparison is NaN with a reason.

Missing data and too little data
--------------------------------
Nothing is imputed or dropped silently. Every figure that cannot be computed is NaN and the
row's ``reason`` says why (see :data:`BENCHMARK_REASONS`); the ``peer_n`` column always says
how many collaborations a peer distribution has.

Everything is computed for all waves, characteristics, peer sets and collaborations at once
from sorted arrays and grouped sums, never collaboration by collaboration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ._params import check_number, check_option
from .errors import ParameterError
from .programme import Programme

__all__ = [
    "BENCHMARK_REASONS",
    "FUNNEL_Z_95",
    "FUNNEL_Z_998",
    "PEER_SETS",
    "PROFILE_REASONS",
    "PeerSet",
    "funnel_limits",
    "peer_benchmarks",
    "peer_groups",
    "profile",
]

#: The peer sets a collaboration is compared with: ``all`` - every collaboration of the
#: programme; ``peer_group``, ``type``, ``region``, ``main_value_mode`` - collaborations with
#: the same value of that attribute in the programme definition.
PeerSet = Literal["all", "peer_group", "type", "region", "main_value_mode"]
PEER_SETS: tuple[str, ...] = ("all", "peer_group", "type", "region", "main_value_mode")

#: Normal quantiles of the funnel-plot control limits: two-sided 95% (1.959964...) and
#: 99.8% (3.090232...), the "2 and 3 standard deviation" limits of Spiegelhalter (2005).
FUNNEL_Z_95: float = float(ndtri(0.975))
FUNNEL_Z_998: float = float(ndtri(0.999))

#: Why figures of a :func:`peer_benchmarks` row are NaN (the first that applies):
#: ``no_peer_key`` - the collaboration has no value for the peer set's attribute (e.g. no
#: main way of creating value declared): every peer figure is NaN;
#: ``too_few_peers`` - fewer than ``min_peers`` collaborations of the peer set have a mean in
#: this wave and characteristic: every peer figure is NaN (``peer_n`` still says how many);
#: ``no_mean`` - the collaboration has no mean: its own comparison (percentile rank, funnel,
#: d) is NaN, the peer distribution is given;
#: ``no_within_sd`` - no peer has two or more respondents (pooled sd undefined), or the pooled
#: sd is 0: funnel limits, comparison and d are NaN.
BENCHMARK_REASONS: tuple[str, ...] = ("no_peer_key", "too_few_peers", "no_mean", "no_within_sd")

#: Why ``deviation`` or ``d`` of a :func:`profile` row is NaN: ``no_mean`` - the
#: collaboration has no mean for the characteristic; ``no_reference`` - no reference value
#: (the peer median is missing - the peer table's own reason follows after a colon); ``no_sd``
#: - no standard deviation to standardise by (fewer than two respondents, or a zero sd).
PROFILE_REASONS: tuple[str, ...] = ("no_mean", "no_reference", "no_sd")

_KEYS = ["wave_id", "collaboration_id", "characteristic"]


# --- input checks ----------------------------------------------------------------------------


def _check_programme(programme: Any) -> Programme:
    if not isinstance(programme, Programme):
        raise ParameterError(
            f"programme must be a collab_stats Programme; got {type(programme).__name__}"
        )
    return programme


def _check_peer_sets(peer_sets: Any) -> list[str]:
    if isinstance(peer_sets, str) or not isinstance(peer_sets, Sequence):
        raise ParameterError(
            f"peer_sets must be a sequence (list or tuple) of peer set names from "
            f"{', '.join(map(repr, PEER_SETS))}; got {peer_sets!r}"
        )
    sets = list(peer_sets)
    if not sets:
        raise ParameterError("peer_sets must name at least one peer set; got an empty sequence")
    for s in sets:
        check_option("peer_sets", s, PEER_SETS)
    if len(set(sets)) != len(sets):
        raise ParameterError(f"peer_sets names a peer set more than once: {sets!r}")
    return sets


def _numeric(frame: pd.DataFrame, column: str, name: str) -> np.ndarray:
    try:
        return frame[column].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} column {column!r} must be numeric (missing as NaN); "
            f"got dtype {frame[column].dtype}"
        ) from None


def _check_table(frame: Any, name: str, columns: Sequence[str], keys: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ParameterError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"{name} must have columns {', '.join(map(repr, columns))}; missing "
            f"{', '.join(map(repr, missing))} (it has {', '.join(map(repr, frame.columns))})"
        )
    dup = frame.duplicated(list(keys), keep=False).to_numpy()
    if dup.any():
        first = frame.loc[dup, list(keys)].iloc[0].tolist()
        raise ParameterError(
            f"{name} must have one row per {' x '.join(keys)}; {first!r} appears "
            f"{int((frame[list(keys)] == first).all(axis=1).sum())} times"
        )


def _check_summaries(summaries: Any, name: str = "summaries") -> dict[str, np.ndarray]:
    _check_table(summaries, name, [*_KEYS, "n", "mean", "sd"], _KEYS)
    out = {c: _numeric(summaries, c, name) for c in ("n", "mean", "sd")}
    bad = (out["n"] < 0) | (~(out["n"] >= 1) & ~np.isnan(out["mean"]))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ParameterError(
            f"{name} column 'n' must be a count (0 or more; 1 or more where there is a mean); row "
            f"{row} has n={out['n'][row]!r}"
        )
    return out


# --- peer sets --------------------------------------------------------------------------------


def _attribute(collaboration, peer_set: str) -> str | None:
    if peer_set == "all":
        return "all"
    value = getattr(collaboration, peer_set)
    return None if value in (None, "") else str(value)


def _key_matrix(programme: Programme, sets: list[str]) -> np.ndarray:
    """(collaborations, peer sets) object array of peer keys, None where there is none."""
    keys = np.empty((len(programme.collaborations), len(sets)), dtype=object)
    keys[:] = [[_attribute(c, s) for s in sets] for c in programme.collaborations]
    return keys


def peer_groups(programme: Programme, *, peer_sets: Sequence[PeerSet] = PEER_SETS) -> pd.DataFrame:
    """Each collaboration's peer sets: which collaborations it is compared with.

    Parameters
    ----------
    programme : Programme
    peer_sets : sequence of {"all", "peer_group", "type", "region", "main_value_mode"},
        keyword-only
        Which peer sets, in this order (default: all five).

    Returns
    -------
    DataFrame
        One row per collaboration and peer set, collaborations in programme order:
        ``collaboration_id``, ``peer_set``, ``peer_key`` (the attribute value shared by the
        set: ``"all"`` for the whole programme; missing (None) when the collaboration has no
        value, e.g. no declared main way of creating value) and ``set_size`` (collaborations
        of the programme with that key, the collaboration itself included; 0 when the key is
        missing). Whether a peer has data in a given wave is decided later, by
        :func:`peer_benchmarks`.

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=6, n_waves=1)
    >>> table = peer_groups(sim.programme)
    >>> len(table) == 6 * 5, table["peer_set"].unique().tolist()
    (True, ['all', 'peer_group', 'type', 'region', 'main_value_mode'])
    """
    _check_programme(programme)
    sets = _check_peer_sets(peer_sets)
    ids = np.array(programme.collaboration_ids, dtype=object)
    out = pd.DataFrame(
        {
            "collaboration_id": np.repeat(ids, len(sets)),
            "peer_set": np.tile(np.array(sets, dtype=object), len(ids)),
            "peer_key": _key_matrix(programme, sets).ravel(),
        }
    )
    size = out.groupby(["peer_set", "peer_key"], sort=False)["collaboration_id"].transform("size")
    out["set_size"] = size.fillna(0).to_numpy(dtype=np.int64)
    return out


# --- funnel limits --------------------------------------------------------------------------


def funnel_limits(target: float, sd: float, n_grid: Any) -> pd.DataFrame:
    """Funnel-plot control limits for a mean score, for drawing the funnel.

    Parameters
    ----------
    target : float
        The comparison value (in :func:`peer_benchmarks`, the peer average).
    sd : float
        The within-collaboration standard deviation of respondents' scores (in
        :func:`peer_benchmarks`, the pooled within sd of the peers); must be positive.
    n_grid : array-like of numbers
        Numbers of respondents at which to draw the limits (each at least 1; need not be
        whole numbers, so a smooth curve can be drawn).

    Returns
    -------
    DataFrame
        One row per value of ``n_grid``, in the order given: ``n``, ``target``, ``se``
        (``sd / sqrt(n)``), ``lower_998``, ``lower_95``, ``upper_95``, ``upper_998``.

    Notes
    -----
    Spiegelhalter (2005), normal approximation for a mean with a known within-unit standard
    deviation: the limits are ``target +/- z * sd / sqrt(n)`` with ``z`` the two-sided normal
    quantile, ``z = Phi^-1(0.975) = 1.959964`` for 95% and ``z = Phi^-1(0.999) = 3.090232``
    for 99.8% (:data:`FUNNEL_Z_95`, :data:`FUNNEL_Z_998`). No allowance is made for
    over-dispersion (genuine differences between collaborations); those are what the plot is
    meant to show.

    References
    ----------
    Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance.
    Statistics in Medicine 24, 1185-1202. doi:10.1002/sim.1970

    Examples
    --------
    The same limits in R::

        n <- c(4, 25, 100); target <- 3.5; sd <- 0.8
        data.frame(n, lower_95 = target - qnorm(0.975) * sd / sqrt(n),
                   upper_95 = target + qnorm(0.975) * sd / sqrt(n))

    >>> limits = funnel_limits(3.5, 0.8, [4, 25, 100])
    >>> limits[["n", "se", "lower_95", "upper_95"]]
           n    se  lower_95  upper_95
    0    4.0  0.40  2.716014  4.283986
    1   25.0  0.16  3.186406  3.813594
    2  100.0  0.08  3.343203  3.656797
    """
    check_number("target", target)
    check_number("sd", sd, low=0, low_open=True)
    if np.ndim(n_grid) != 1:
        raise ParameterError(
            f"n_grid must be a one-dimensional sequence of numbers; got shape {np.shape(n_grid)}"
        )
    try:
        n = np.asarray(n_grid, dtype="float64")
    except (TypeError, ValueError):
        raise ParameterError(f"n_grid must contain numbers; got {n_grid!r}") from None
    if not np.isfinite(n).all() or (n < 1).any():
        raise ParameterError(
            f"n_grid must contain finite numbers of at least 1; got {n[~(n >= 1)][:3].tolist()}"
        )
    se = sd / np.sqrt(n)
    return pd.DataFrame(
        {
            "n": n,
            "target": np.full(n.size, float(target)),
            "se": se,
            "lower_998": target - FUNNEL_Z_998 * se,
            "lower_95": target - FUNNEL_Z_95 * se,
            "upper_95": target + FUNNEL_Z_95 * se,
            "upper_998": target + FUNNEL_Z_998 * se,
        }
    )


# --- peer benchmarks ------------------------------------------------------------------------


def _codes(values: Any, *, missing_code: bool = True) -> tuple[np.ndarray, int]:
    """Codes 0.. of the values; a missing value is -1 (or, without ``missing_code``, a code
    of its own)."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=missing_code)
    return codes.astype(np.int64), len(uniques)


def _sorted_quantile(x: np.ndarray, start: np.ndarray, count: np.ndarray, p: float) -> np.ndarray:
    """Quantile p of each run x[start:start+count] (sorted), numpy "linear" (R type 7)."""
    h = (count - 1) * p
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, count - 1)
    ok = count > 0
    a = x[np.where(ok, start + lo, 0)] if x.size else np.zeros(count.size)
    b = x[np.where(ok, start + hi, 0)] if x.size else np.zeros(count.size)
    return np.where(ok, a + (h - lo) * (b - a), np.nan)


def peer_benchmarks(
    summaries: pd.DataFrame,
    programme: Programme,
    *,
    peer_sets: Sequence[PeerSet] = PEER_SETS,
    min_peers: int = 5,
) -> pd.DataFrame:
    """Each collaboration's mean against the distribution of its peers' means.

    Parameters
    ----------
    summaries : DataFrame
        Collaboration summaries, one row per wave x collaboration x characteristic, with
        ``wave_id``, ``collaboration_id``, ``characteristic``, ``n``, ``mean``, ``sd`` (see
        the module docstring). Every ``collaboration_id`` must be a collaboration of
        ``programme``.
    programme : Programme
        Gives each collaboration's peer sets (:func:`peer_groups`).
    peer_sets : sequence of {"all", "peer_group", "type", "region", "main_value_mode"},
        keyword-only
        Peer sets to compare with, in output order.
    min_peers : int, keyword-only
        Smallest number of collaborations with a mean (the collaboration itself included)
        for which peer figures are given; smaller peer sets give NaN and
        ``reason = "too_few_peers"``. Default 5.

    Returns
    -------
    DataFrame
        One row per row of ``summaries`` and peer set (summaries order, then ``peer_sets``
        order):

        ``wave_id``, ``collaboration_id``, ``characteristic``, ``peer_set``, ``peer_key``
            Which comparison (``peer_key``: the shared attribute value, see
            :func:`peer_groups`).
        ``n``, ``mean``
            The collaboration's, from ``summaries``.
        ``peer_n``
            Collaborations of the peer set with a mean in this wave and characteristic, the
            collaboration itself included (0 when there is no peer key).
        ``peer_worst``, ``peer_lower_quartile``, ``peer_median``, ``peer_upper_quartile``, ``peer_best``
            The peer distribution of collaboration means.
        ``peer_average``
            The unweighted mean of the peers' collaboration means: the funnel target.
        ``percentile_rank``
            Where the collaboration's mean lies among its peers', 0-100.
        ``sd_within``
            Pooled within-collaboration sd of the peers.
        ``funnel_se``, ``z``, ``lower_998``, ``lower_95``, ``upper_95``, ``upper_998``
            The funnel plot at the collaboration's ``n``.
        ``comparison``
            ``"above"``, ``"in line"`` or ``"below"`` (categorical, NaN when not computed).
        ``beyond_998``
            Whether the mean lies outside the 99.8% limits (nullable boolean).
        ``d``
            Standardised difference from the peer average.
        ``reason``
            ``""``, or why figures are NaN (:data:`BENCHMARK_REASONS`).

    Notes
    -----
    For one wave, characteristic and peer set with key *k*, the peers are the collaborations
    *j* with key *k* and a mean ``m_j``; there are ``peer_n = P`` of them. **The collaboration
    itself is one of its peers**, as in the NHS Staff Survey benchmark reports (an
    organisation is part of its own benchmarking group).

    * Worst, best: the smallest and largest ``m_j`` (a higher score is better for every
      characteristic: reverse-keyed items are reversed in scoring).
    * Quartiles and median: sample quantiles by linear interpolation between order statistics
      (numpy ``method="linear"``, R ``quantile(type = 7)``, both packages' default):
      ``Q(p) = m_(lo) + (h - lo) (m_(lo+1) - m_(lo))`` with ``h = (P - 1) p``,
      ``lo = floor(h)``, order statistics counted from 0.
    * Percentile rank (mid-rank definition): ``100 (B + E / 2) / P`` with ``B`` the peers with
      a lower mean and ``E`` those with an equal mean (the collaboration included). It equals
      ``100 (r - 1/2) / P`` for the mean rank ``r`` of tied values, so it lies strictly
      between 0 and 100, is 50 for a collaboration alone, and equals
      ``scipy.stats.percentileofscore(peers, m, kind="mean")``.
    * Peer average ``T = sum_j m_j / P`` (each collaboration counts once, whatever its size).
    * Pooled within sd: ``s_w = sqrt(sum_j (n_j - 1) s_j^2 / sum_j (n_j - 1))`` over peers
      with ``n_j >= 2`` and an sd.
    * Funnel (Spiegelhalter 2005, normal approximation with known within sd): target ``T``,
      ``funnel_se = s_w / sqrt(n)`` at the collaboration's ``n``, limits
      ``T +/- z funnel_se`` with ``z = 1.959964`` (95%) and ``3.090232`` (99.8%), the exact
      normal quantiles behind the usual "1.96 and 3.09". ``comparison`` is ``"above"`` when
      ``mean > upper_95``, ``"below"`` when ``mean < lower_95`` (a mean exactly on a limit
      is ``"in line"``); ``beyond_998`` is ``mean > upper_998 or mean < lower_998``;
      ``z = (mean - T) / funnel_se``. No over-dispersion allowance is made: with real
      differences between collaborations, many lie outside the limits, which is the point.
    * ``d = (mean - T) / s_w``: the difference from the peer average in within-collaboration
      standard deviations (0.2, 0.5, 0.8: Cohen's small, medium, large).

    References
    ----------
    Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance.
    Statistics in Medicine 24, 1185-1202. doi:10.1002/sim.1970

    NHS Staff Survey Coordination Centre. NHS Staff Survey benchmark reports: technical
    guide (best, average (median) and worst of the benchmarking group).

    Examples
    --------
    The peer distribution of one wave, characteristic and peer set in R::

        m <- d$mean[d$peer_group == "place-partnerships"]
        quantile(m, c(0, .25, .5, .75, 1), type = 7); mean(m)
        100 * (sum(m < x) + sum(m == x) / 2) / length(m)       # percentile rank of x

    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import score_responses
    >>> sim = simulate_programme(seed=2, n_collaborations=12, n_waves=1)
    >>> scores = score_responses(sim.data, sim.instrument)
    >>> summaries = (scores.groupby(["wave_id", "collaboration_id", "characteristic"],
    ...                             observed=True)["score"]
    ...              .agg(n="count", mean="mean", sd="std").reset_index())
    >>> table = peer_benchmarks(summaries, sim.programme, peer_sets=["all"])
    >>> len(table) == len(summaries), int(table["peer_n"].iloc[0])
    (True, 12)
    >>> bool(table["percentile_rank"].between(0, 100).all())
    True
    """
    values = _check_summaries(summaries)
    _check_programme(programme)
    sets = _check_peer_sets(peer_sets)
    if isinstance(min_peers, np.integer):
        min_peers = int(min_peers)
    check_number("min_peers", min_peers, low=1, integer=True)

    key_matrix = _key_matrix(programme, sets)
    collab = summaries["collaboration_id"].astype(object).to_numpy()
    where = pd.Index(programme.collaboration_ids, dtype=object).get_indexer(
        pd.Index(collab, dtype=object)
    )
    if (where < 0).any():
        unknown = pd.unique(collab[where < 0])[:5].tolist()
        raise ParameterError(
            f"summaries must describe collaborations of programme {programme.id!r}; unknown "
            f"collaboration_id {', '.join(map(repr, unknown))}"
        )
    n_rows, n_sets = len(summaries), len(sets)
    keys = key_matrix[where].ravel()  # (rows * sets,)
    row = np.repeat(np.arange(n_rows), n_sets)
    set_code = np.tile(np.arange(n_sets), n_rows)
    n, mean, sd = (values[c][row] for c in ("n", "mean", "sd"))

    # One code per peer distribution: wave x characteristic x peer set x peer key.
    wave_code, _ = _codes(summaries["wave_id"].astype(object), missing_code=False)
    char_code, n_chars = _codes(summaries["characteristic"].astype(object), missing_code=False)
    key_code, n_keys = _codes(keys)
    has_key = key_code >= 0
    combined = ((wave_code[row] * n_chars + char_code[row]) * n_sets + set_code) * n_keys
    combined = combined + key_code
    dist = np.full(row.size, -1, dtype=np.int64)
    dist[has_key], uniques = pd.factorize(combined[has_key])
    n_dist = len(uniques)

    member = has_key & ~np.isnan(mean)
    peer_n = np.bincount(dist[member], minlength=n_dist)
    sum_mean = np.bincount(dist[member], weights=mean[member], minlength=n_dist)
    pool = member & (n >= 2) & ~np.isnan(sd)
    pooled_ss = np.bincount(dist[pool], weights=(n[pool] - 1) * sd[pool] ** 2, minlength=n_dist)
    pooled_df = np.bincount(dist[pool], weights=n[pool] - 1, minlength=n_dist)

    # Order statistics: members sorted by (distribution, mean).
    m_idx = np.flatnonzero(member)
    order = m_idx[np.lexsort((mean[m_idx], dist[m_idx]))]
    x = mean[order]
    d_sorted = dist[order]
    start = np.concatenate([[0], np.cumsum(peer_n)[:-1]]).astype(np.int64)
    quant = {p: _sorted_quantile(x, start, peer_n, p) for p in (0.0, 0.25, 0.5, 0.75, 1.0)}
    # Mid-rank percentile: runs of equal means within a distribution.
    new_run = np.ones(x.size, dtype=bool)
    new_run[1:] = (d_sorted[1:] != d_sorted[:-1]) | (x[1:] != x[:-1])
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.append(run_start, x.size))
    below = run_start[run_id] - start[d_sorted]
    percentile = np.full(row.size, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        percentile[order] = 100.0 * (below + 0.5 * run_len[run_id]) / peer_n[d_sorted]
        average = sum_mean / peer_n
        sd_within = np.sqrt(pooled_ss / pooled_df)

    slot = np.where(has_key, dist, n_dist)  # n_dist: a padding slot for rows without a key

    def per_row(stat: np.ndarray) -> np.ndarray:
        return np.append(stat, np.nan)[slot]

    p_n = np.append(peer_n, 0)[slot].astype(np.int64)
    enough = has_key & (p_n >= min_peers)
    reason = np.full(row.size, "", dtype=object)
    reason[~has_key] = "no_peer_key"
    reason[has_key & ~enough] = "too_few_peers"
    own = enough & ~np.isnan(mean)
    reason[enough & np.isnan(mean)] = "no_mean"
    s_w = np.where(enough, per_row(sd_within), np.nan)
    funnel_ok = own & np.isfinite(s_w) & (s_w > 0)
    reason[own & ~funnel_ok] = "no_within_sd"

    names = {
        0.0: "peer_worst",
        0.25: "peer_lower_quartile",
        0.5: "peer_median",
        0.75: "peer_upper_quartile",
        1.0: "peer_best",
    }
    target = np.where(enough, per_row(average), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.where(funnel_ok, s_w / np.sqrt(n), np.nan)
        z = (mean - target) / se
        d = np.where(funnel_ok, (mean - target) / s_w, np.nan)
    upper_95, lower_95 = target + FUNNEL_Z_95 * se, target - FUNNEL_Z_95 * se
    upper_998, lower_998 = target + FUNNEL_Z_998 * se, target - FUNNEL_Z_998 * se
    label = np.where(mean > upper_95, "above", np.where(mean < lower_95, "below", "in line"))
    beyond = (mean > upper_998) | (mean < lower_998)
    columns = {
        "peer_set": np.array(sets, dtype=object)[set_code],
        "peer_key": keys,
        "n": summaries["n"].to_numpy()[row],
        "mean": mean,
        "peer_n": p_n,
        **{name: np.where(enough, per_row(quant[p]), np.nan) for p, name in names.items()},
        "peer_average": target,
        "percentile_rank": np.where(own, percentile, np.nan),
        "sd_within": s_w,
        "funnel_se": se,
        "z": z,
        "lower_998": lower_998,
        "lower_95": lower_95,
        "upper_95": upper_95,
        "upper_998": upper_998,
        "comparison": pd.Categorical(
            np.where(funnel_ok, label, None), categories=["below", "in line", "above"]
        ),
        "beyond_998": pd.array(np.where(funnel_ok, beyond, pd.NA), dtype="boolean"),
        "d": d,
        "reason": reason,
    }
    ids = summaries[_KEYS].iloc[row].reset_index(drop=True)
    return pd.concat([ids, pd.DataFrame(columns)], axis=1)


# --- profile ---------------------------------------------------------------------------------

_PROFILE_COLUMNS = [
    "wave_id",
    "collaboration_id",
    "characteristic",
    "reference",
    "peer_set",
    "n",
    "mean",
    "reference_value",
    "deviation",
    "sd",
    "d",
    "rank",
    "n_ranked",
    "label",
    "reason",
]


def profile(
    summaries: pd.DataFrame,
    peer_table: pd.DataFrame | None = None,
    *,
    min_effect: float = 0.2,
    n_labelled: int = 2,
) -> pd.DataFrame:
    """Each collaboration's relative strengths and areas to develop across characteristics.

    Within each wave and collaboration the characteristics are ranked by their deviation from
    a reference: the collaboration's own mean across characteristics (its *own profile*) and,
    when ``peer_table`` is given, the peer median of each peer set (its profile *relative to
    peers*: a characteristic can be the collaboration's lowest yet better than its peers').

    Parameters
    ----------
    summaries : DataFrame
        Collaboration summaries (as for :func:`peer_benchmarks`).
    peer_table : DataFrame, optional
        Output of :func:`peer_benchmarks` (columns used: ``wave_id``, ``collaboration_id``,
        ``characteristic``, ``peer_set``, ``n``, ``mean``, ``peer_median``, ``sd_within``,
        ``reason``).
    min_effect : float, keyword-only
        Smallest absolute standardised deviation ``|d|`` that earns a label (default 0.2,
        Cohen's "small").
    n_labelled : int, keyword-only
        How many characteristics at each end can be labelled (default 2).

    Returns
    -------
    DataFrame
        One row per wave x collaboration x characteristic x reference - first the
        ``"own_mean"`` rows (summaries order), then the ``"peer_median"`` rows of each peer
        set (peer-table order):
        ``wave_id``, ``collaboration_id``, ``characteristic``, ``reference``
        (``"own_mean"`` or ``"peer_median"``), ``peer_set`` (``""`` for the own mean),
        ``n``, ``mean``, ``reference_value``, ``deviation`` (``mean - reference_value``),
        ``sd`` (the sd that standardises it), ``d`` (``deviation / sd``), ``rank`` (1 = the
        largest deviation; float, NaN when the deviation is missing), ``n_ranked``
        (characteristics ranked in this wave, collaboration and reference), ``label``
        (``"strength"``, ``"area to develop"`` or ``""``) and ``reason`` (``""`` or why
        ``deviation`` / ``d`` is NaN, :data:`PROFILE_REASONS`).

    Notes
    -----
    * Own mean: the unweighted mean of the collaboration's characteristic means in that wave
      (over characteristics with a mean); ``sd`` is the collaboration's own respondent-level
      sd of the characteristic, so ``d`` is the deviation in the collaboration's own units.
    * Peer median: ``peer_median`` of :func:`peer_benchmarks` (the collaboration included in
      its peers); ``sd`` is the peers' pooled within-collaboration sd ``sd_within``.
    * Ranks use the raw deviation (every characteristic is on the same 1-5 scale); ties share
      the best rank (``method="min"``, competition ranking), so rank 1 = strongest.
    * Labelling rule: a characteristic is a ``"strength"`` when it is among the top
      ``n_labelled`` (``rank <= n_labelled``) **and** ``d >= min_effect``; an ``"area to
      develop"`` when it is among the bottom ``n_labelled`` (rank from the bottom, ties
      sharing, ``<= n_labelled``) **and** ``d <= -min_effect``. A characteristic that is
      merely the highest of a flat profile is not labelled. The ``d`` rule is used rather
      than a confidence interval for the deviation, because the own mean includes the
      characteristic itself and the characteristics' scores are correlated, which a simple
      interval would ignore.

    Examples
    --------
    In R (one collaboration ``x`` with columns characteristic, mean, sd)::

        x$deviation <- x$mean - mean(x$mean); x$d <- x$deviation / x$sd
        x$rank <- rank(-x$deviation, ties.method = "min")

    >>> s = pd.DataFrame({"wave_id": "w1", "collaboration_id": "c1",
    ...                   "characteristic": ["PS", "TG", "BL", "MI"],
    ...                   "n": 20, "mean": [4.0, 3.75, 3.5, 2.75], "sd": 0.5})
    >>> profile(s)[["characteristic", "deviation", "d", "rank", "label"]]
    ... # doctest: +NORMALIZE_WHITESPACE
      characteristic  deviation    d  rank            label
    0             PS       0.50  1.0   1.0         strength
    1             TG       0.25  0.5   2.0         strength
    2             BL       0.00  0.0   3.0
    3             MI      -0.75 -1.5   4.0  area to develop
    """
    values = _check_summaries(summaries)
    check_number("min_effect", min_effect, low=0)
    if isinstance(n_labelled, np.integer):
        n_labelled = int(n_labelled)
    check_number("n_labelled", n_labelled, low=1, integer=True)

    own = summaries[_KEYS].reset_index(drop=True)
    own["reference"] = "own_mean"
    own["peer_set"] = ""
    own["n"] = summaries["n"].reset_index(drop=True)
    own["mean"] = values["mean"]
    own_mean = own.groupby(["wave_id", "collaboration_id"], observed=True, sort=False)[
        "mean"
    ].transform("mean")
    own["reference_value"] = own_mean.to_numpy(dtype="float64", na_value=np.nan)
    own["sd"] = values["sd"]
    own["reason"] = np.where(np.isnan(values["mean"]), "no_mean", "")
    parts = [own]

    if peer_table is not None:
        _check_table(
            peer_table,
            "peer_table",
            [*_KEYS, "peer_set", "n", "mean", "peer_median", "sd_within", "reason"],
            [*_KEYS, "peer_set"],
        )
        peers = peer_table[_KEYS].reset_index(drop=True)
        peers["reference"] = "peer_median"
        peers["peer_set"] = peer_table["peer_set"].astype(object).to_numpy()
        peers["n"] = peer_table["n"].reset_index(drop=True)
        mean = _numeric(peer_table, "mean", "peer_table")
        median = _numeric(peer_table, "peer_median", "peer_table")
        peers["mean"] = mean
        peers["reference_value"] = median
        peers["sd"] = _numeric(peer_table, "sd_within", "peer_table")
        upstream = ("no_reference:" + peer_table["reason"].astype(str)).to_numpy(dtype=object)
        peers["reason"] = np.where(
            np.isnan(mean), "no_mean", np.where(np.isnan(median), upstream, "")
        ).astype(object)
        parts.append(peers)

    out = pd.concat(parts, ignore_index=True)
    mean = out["mean"].to_numpy(dtype="float64")
    ref = out["reference_value"].to_numpy(dtype="float64")
    sd = out["sd"].to_numpy(dtype="float64")
    deviation = mean - ref
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(sd > 0, deviation / sd, np.nan)
    reason = out["reason"].to_numpy(dtype=object).copy()  # may be a read-only view
    reason[(reason == "") & np.isnan(ref)] = "no_reference"
    reason[(reason == "") & np.isnan(d)] = "no_sd"
    out["deviation"] = deviation
    out["d"] = d
    out["reason"] = reason

    cell = ["wave_id", "collaboration_id", "reference", "peer_set"]
    grouped = out.groupby(cell, observed=True, sort=False, dropna=False)["deviation"]
    rank = grouped.rank(method="min", ascending=False).to_numpy(dtype="float64")
    rank_low = grouped.rank(method="min", ascending=True).to_numpy(dtype="float64")
    out["rank"] = rank
    out["n_ranked"] = grouped.transform("count").to_numpy(dtype=np.int64)
    strength = (rank <= n_labelled) & (d >= min_effect)
    develop = (rank_low <= n_labelled) & (d <= -min_effect)
    out["label"] = np.where(strength, "strength", np.where(develop, "area to develop", ""))
    return out[_PROFILE_COLUMNS]
