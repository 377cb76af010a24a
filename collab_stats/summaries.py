"""Descriptive summaries of characteristic scores and item answers, per group.

Every function returns a tidy DataFrame with one row per group (e.g. wave x collaboration x
characteristic) and the same columns whatever the options; a figure that cannot be computed is
NaN and ``reason`` says why (a code, ``""`` when every figure is there). Nothing is rounded,
nothing is suppressed here (see :mod:`collab_stats.disclosure` for that) and nothing is
dropped: groups with no usable answer are kept, with their counts.

Missing data
------------
The library's one vocabulary: a respondent's characteristic ``score`` is NaN when too few of
its items were answered (:func:`collab_stats.scoring.score_responses`); summaries use every
respondent with a score (*available case*) and report both ``n`` (respondents with a score)
and ``n_total`` (respondents in the group, with or without a score). Item-level shares use the
counts of :func:`collab_stats.scoring.item_distribution`: answer shares are over answered rows,
"don't know" shares over the rows shown the item.

Weights
-------
Unweighted summaries count every respondent once. With weights (e.g. partner-balanced weights
from :func:`partner_weights`, so that an organisation that sent 30 people does not outweigh
one that sent 3), the mean is the weighted mean and its precision is judged by the Kish
effective sample size; the Notes of :func:`characteristic_summaries` give every formula.

All groups are computed at once from grouped sums (``np.bincount`` over group codes), never
group by group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._params import check_number, check_option
from .errors import ParameterError
from .instrument.model import Band, ScoringRules
from .programme import Programme

__all__ = [
    "WEIGHT_SCHEMES",
    "WeightScheme",
    "characteristic_summaries",
    "favourable_by_characteristic",
    "item_summaries",
    "partner_weights",
    "response_rates",
]

#: How respondents are weighted: ``none`` - every respondent counts once; ``partner_balanced``
#: - within each wave x collaboration every partner organisation counts equally.
WeightScheme = Literal["none", "partner_balanced"]
WEIGHT_SCHEMES: tuple[str, ...] = ("none", "partner_balanced")

#: Label of the organisation that respondents who did not give one are pooled into.
UNKNOWN_PARTNER = "unknown"

_SUMMARY_COLUMNS = [
    "n_total",
    "n",
    "mean",
    "sd",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "sum_weights",
    "deff",
    "n_eff",
    "favourable_respondent_share",
    "band",
    "reason",
]


# --- helpers -----------------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"{name} must have the columns {', '.join(map(repr, columns))}; missing "
            f"{', '.join(map(repr, missing))} (columns given: {', '.join(map(str, frame.columns))})"
        )


def _by_list(by: Any, frame: pd.DataFrame, name: str = "by") -> list[str]:
    if isinstance(by, str):
        by = (by,)
    by = list(by)
    for column in by:
        check_option(name, column, list(frame.columns))
    if len(set(by)) != len(by):
        raise ParameterError(f"{name} must not repeat a column; got {by!r}")
    return by


def _group_codes(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code of every row (sorted group order, missing keys kept as their own group) and
    the table of group keys in that order."""
    if not by:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=range(1 if len(frame) else 0))
    grouped = frame.groupby(by, observed=True, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy(dtype=np.intp)
    keys = grouped.size().index.to_frame(index=False)
    return codes, keys


def _band_of(values: np.ndarray, bands: ScoringRules | Sequence[Band] | None) -> pd.Categorical:
    """The interpretation band of each value (first band whose ``min`` it reaches; a value
    below every minimum gets the last band, as :meth:`ScoringRules.band`); NA for NaN or when
    no bands are given."""
    if bands is None:
        return pd.Categorical([None] * len(values), categories=[])
    band_list = tuple(bands.bands if isinstance(bands, ScoringRules) else bands)
    if not band_list or not all(isinstance(b, Band) for b in band_list):
        raise ParameterError("bands must be an instrument's ScoringRules (e.g. "
                             "family.latest.scoring) or a sequence of Band; got "
                             f"{bands!r}")
    label = np.full(len(values), None, dtype=object)
    for b in reversed(band_list):  # the first band in the list wins
        label[values >= b.min] = b.id
    label[~np.isnan(values) & (label == None)] = band_list[-1].id  # noqa: E711
    return pd.Categorical(label, categories=[b.id for b in band_list])


def _weights(weights: Any, frame: pd.DataFrame) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        check_option("weights", weights, list(frame.columns))
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    else:
        w = np.asarray(weights, dtype="float64")
        if w.shape != (len(frame),):
            raise ParameterError(f"weights must be a column name or one weight per row of scores "
                                 f"({len(frame)}); got shape {w.shape}")
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        raise ParameterError(f"weights must be finite and positive; {int(bad.sum())} are not, "
                             f"e.g. {w[bad][0]!r} in row {int(np.flatnonzero(bad)[0])}")
    return w


# --- weights -----------------------------------------------------------------------------------


def partner_weights(respondents: pd.DataFrame, *, scheme: WeightScheme = "none") -> np.ndarray:
    """One weight per respondent (row of ``respondents``), for weighted summaries.

    Parameters
    ----------
    respondents : DataFrame
        The ``respondents`` table of :class:`~collab_stats.schema.SurveyData` (columns
        ``wave_id``, ``collaboration_id`` and, for ``partner_balanced``, ``partner_id``).
    scheme : {"none", "partner_balanced"}
        ``none`` - every weight is 1. ``partner_balanced`` - within each wave x collaboration
        cell every partner organisation counts equally (formula in the Notes).

    Returns
    -------
    ndarray of float
        In the order of ``respondents``. To weight the rows of a score table (one row per
        respondent x characteristic) use
        ``w[respondent_rows(scores, respondents)]`` (:func:`collab_stats.schema.respondent_rows`).

    Notes
    -----
    For respondent *i* of organisation *o* in cell *c* (a wave x collaboration), with
    ``n_c`` respondents in the cell, ``n_co`` of them from organisation *o* and ``G_c``
    organisations represented in the cell:

    .. math:: w_i = \\frac{n_c}{G_c \\, n_{co}}

    i.e. ``1 / n_co`` normalised so that the weights of a cell sum to ``n_c``: every
    organisation's weights sum to ``n_c / G_c``, and with one respondent per organisation every
    weight is 1. Respondents who did not give a partner organisation (``partner_id`` missing)
    are pooled, per cell, into one organisation labelled ``"unknown"`` (which may in truth be
    several organisations). A respondent with no wave or collaboration forms a cell with the
    other such respondents. The weights are respondent-level: a summary of a characteristic
    uses the respondents with a score, so organisations' weight totals there are equal only up
    to the respondents without a score.

    Examples
    --------
    >>> r = pd.DataFrame({"wave_id": ["w1"] * 4, "collaboration_id": ["a"] * 4,
    ...                   "partner_id": ["p", "p", "p", "q"]})
    >>> partner_weights(r, scheme="partner_balanced").tolist()  # 4 / (2 * 3), 4 / (2 * 1)
    [0.6666666666666666, 0.6666666666666666, 0.6666666666666666, 2.0]
    """
    check_option("scheme", scheme, WEIGHT_SCHEMES)
    if scheme == "none":
        return np.ones(len(respondents))
    _require_columns(respondents, ["wave_id", "collaboration_id", "partner_id"], "respondents")
    frame = pd.DataFrame({
        "wave_id": respondents["wave_id"].astype(object).to_numpy(),
        "collaboration_id": respondents["collaboration_id"].astype(object).to_numpy(),
        "partner_id": respondents["partner_id"].astype(object)
        .where(respondents["partner_id"].notna(), UNKNOWN_PARTNER).to_numpy(),
    })
    cell, _ = _group_codes(frame, ["wave_id", "collaboration_id"])
    organisation, org_keys = _group_codes(frame, ["wave_id", "collaboration_id", "partner_id"])
    n_cell = np.bincount(cell, minlength=cell.max() + 1 if cell.size else 0)
    n_org = np.bincount(organisation, minlength=len(org_keys))
    # the cell of each organisation (every row of an organisation is in the same cell)
    cell_of_org = np.zeros(len(org_keys), dtype=np.intp)
    cell_of_org[organisation] = cell
    g_cell = np.bincount(cell_of_org, minlength=n_cell.size)
    return n_cell[cell] / (g_cell[cell] * n_org[organisation])


# --- characteristic summaries ------------------------------------------------------------------


def characteristic_summaries(
    scores: pd.DataFrame,
    *,
    by: Sequence[str] = ("wave_id", "collaboration_id", "characteristic"),
    weights: str | np.ndarray | None = None,
    ci: float = 0.95,
    favourable_min: float | None = None,
    bands: ScoringRules | Sequence[Band] | None = None,
) -> pd.DataFrame:
    """Mean characteristic score per group, with its spread, standard error and t interval.

    Parameters
    ----------
    scores : DataFrame
        One row per respondent x characteristic with a ``score`` column (NaN when missing), as
        from :func:`collab_stats.scoring.score_responses`, plus the ``by`` columns.
    by : sequence of str
        Grouping columns; rows whose key is missing form their own group (nothing is dropped).
    weights : str or array of float, optional
        A column of ``scores`` or one positive weight per row (e.g. partner-balanced weights
        from :func:`partner_weights`). ``None``: every respondent counts once.
    ci : float
        Confidence level of the interval, in (0, 1).
    favourable_min : float, optional
        When given, ``favourable_respondent_share`` is the (weighted) share of respondents with
        a score whose score is at least this (e.g. 4.0: "agree" on average); NaN otherwise.
    bands : ScoringRules or sequence of Band, optional
        The instrument's interpretation bands (``family.latest.scoring``); ``band`` is the band
        of the group mean. NA when not given.

    Returns
    -------
    DataFrame
        One row per group, in sorted key order: the ``by`` columns, then

        ``n_total``
            respondents (rows) in the group, with or without a score;
        ``n``
            respondents with a score (the figures below use only them);
        ``mean``, ``sd``, ``se``, ``df``, ``ci_low``, ``ci_high``
            see Notes;
        ``sum_weights``, ``deff``, ``n_eff``
            total weight, Kish design effect and effective sample size (``n``, 1 and ``n``
            when unweighted);
        ``favourable_respondent_share``, ``band``
            see ``favourable_min`` and ``bands``;
        ``reason``
            ``""``; ``"no_scores"`` (``n = 0``: every figure NaN); ``"one_score"`` (``n = 1``:
            mean only); ``"effective_n_at_most_1"`` (weighted, ``n_eff <= 1``: no interval).

    Notes
    -----
    Unweighted, over the ``n`` scores :math:`x_i` of a group:

    .. math::

        \\bar x = \\frac{1}{n}\\sum x_i, \\quad
        s = \\sqrt{\\frac{1}{n-1}\\sum (x_i - \\bar x)^2}\\ (N - 1), \\quad
        se = s / \\sqrt{n}, \\quad \\bar x \\pm t_{1-\\alpha/2,\\,n-1}\\, se.

    Weighted, with weights :math:`w_i > 0` (only their relative sizes matter):

    .. math::

        \\bar x_w = \\frac{\\sum w_i x_i}{\\sum w_i}, \\quad
        s_w^2 = \\frac{n}{n-1}\\,\\frac{\\sum w_i (x_i - \\bar x_w)^2}{\\sum w_i}, \\quad
        deff = \\frac{n \\sum w_i^2}{(\\sum w_i)^2}, \\quad
        n_{eff} = \\frac{n}{deff} = \\frac{(\\sum w_i)^2}{\\sum w_i^2},

    .. math::

        se = s_w / \\sqrt{n_{eff}}, \\qquad
        \\bar x_w \\pm t_{1-\\alpha/2,\\,n_{eff}-1}\\, se.

    :math:`s_w^2` is the weighted variance with the ``N - 1`` correction ``n / (n - 1)``; it
    equals ``statsmodels`` ``DescrStatsW(x, weights=w * n / sum(w), ddof=1).var`` and is the
    usual ``N - 1`` variance when the weights are equal (then ``deff = 1``, ``n_eff = n``, and
    everything reduces to the unweighted formulas). The standard error is Kish's
    design-effect approximation for weights unrelated to the scores; it is not the
    linearisation (sandwich) standard error of ``survey::svymean``, with which it agrees only
    for equal weights. The t interval treats each group as a simple random sample of the
    collaboration's partners; respondents are not a finite-population sample, so no finite
    population correction is applied.

    Examples
    --------
    The equivalent R call, for one group: ``t.test(x, conf.level = 0.95)``.

    >>> s = pd.DataFrame({"collaboration_id": ["a"] * 4 + ["b"] * 2,
    ...                   "score": [2.0, 3.0, 4.0, 5.0, 4.0, np.nan]})
    >>> out = characteristic_summaries(s, by=["collaboration_id"])
    >>> out[["collaboration_id", "n_total", "n", "mean"]]
      collaboration_id  n_total  n  mean
    0                a        4  4   3.5
    1                b        2  1   4.0
    >>> out["reason"].tolist()
    ['', 'one_score']
    >>> out.loc[0, ["ci_low", "ci_high"]].astype(float).round(6).tolist()  # R: 1.44574 5.55426
    [1.44574, 5.55426]
    """
    _require_columns(scores, ["score"], "scores")
    by = _by_list(by, scores)
    check_number("ci", ci, low=0, high=1, low_open=True, high_open=True)
    if favourable_min is not None:
        check_number("favourable_min", favourable_min)
    w_all = _weights(weights, scores)
    codes, keys = _group_codes(scores, by)
    size = len(keys)
    x_all = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    has = ~np.isnan(x_all)
    c, x = codes[has], x_all[has]
    w = np.ones(x.size) if w_all is None else w_all[has]

    n_total = np.bincount(codes, minlength=size)
    n = np.bincount(c, minlength=size)
    sum_w = np.bincount(c, weights=w, minlength=size)
    sum_w2 = np.bincount(c, weights=w * w, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(c, weights=w * x, minlength=size) / sum_w
        # two-pass: squared deviations from the group mean (stable for scores near each other)
        ss = np.bincount(c, weights=w * (x - mean[c]) ** 2, minlength=size)
        var = np.where(n >= 2, ss / sum_w * n / (n - 1), np.nan)
        sd = np.sqrt(var)
        n_eff = np.where(n > 0, sum_w**2 / sum_w2, np.nan)
        deff = np.where(n > 0, n * sum_w2 / sum_w**2, np.nan)
        se = sd / np.sqrt(n_eff)
        df = np.where(n_eff > 1, n_eff - 1, np.nan)
        t = stats.t.ppf(0.5 + ci / 2, np.where(np.isnan(df), 1.0, df))
        half = np.where(np.isnan(df), np.nan, t * se)
        if favourable_min is None:
            favourable = np.full(size, np.nan)
        else:
            favourable = np.bincount(c, weights=w * (x >= favourable_min), minlength=size) / sum_w
    if w_all is None:  # exact values, free of rounding in the weighted formulas
        deff = np.where(n > 0, 1.0, np.nan)
        n_eff = np.where(n > 0, n.astype(float), np.nan)
        sum_w = np.where(n > 0, n.astype(float), 0.0)

    reason = np.full(size, "", dtype=object)
    reason[np.isnan(df)] = "effective_n_at_most_1"
    reason[n == 1] = "one_score"
    reason[n == 0] = "no_scores"
    out = keys.copy()
    out["n_total"] = n_total
    out["n"] = n
    out["mean"] = mean
    out["sd"] = sd
    out["se"] = se
    out["df"] = df
    out["ci_low"] = mean - half
    out["ci_high"] = mean + half
    out["sum_weights"] = sum_w
    out["deff"] = deff
    out["n_eff"] = n_eff
    out["favourable_respondent_share"] = favourable
    out["band"] = _band_of(mean, bands)
    out["reason"] = reason
    return out[[*by, *_SUMMARY_COLUMNS]]


# --- item-level and characteristic-level favourable shares -------------------------------------


_DISTRIBUTION_COLUMNS = ("item_id", "characteristic", "reverse", "n_rows", "n_answered",
                         "n_dont_know", "favourable_share")


def _answer_code_columns(distribution: pd.DataFrame) -> list[str]:
    codes = []
    for column in distribution.columns:
        tail = column[2:] if isinstance(column, str) and column.startswith("n_") else ""
        if tail.lstrip("-").isdigit():
            codes.append((int(tail), column))
    return [column for _, column in sorted(codes)]


def favourable_by_characteristic(
    distribution: pd.DataFrame,
    *,
    by: Sequence[str] = ("wave_id", "collaboration_id"),
) -> pd.DataFrame:
    """Percentage favourable per characteristic, pooling the answers to its items.

    Parameters
    ----------
    distribution : DataFrame
        The output of :func:`collab_stats.scoring.item_distribution` (one row per group x
        item).
    by : sequence of str
        Grouping columns of ``distribution`` (the characteristic is always added).

    Returns
    -------
    DataFrame
        One row per group x characteristic: the ``by`` columns, ``characteristic``,
        ``n_items`` (items with a row in the group), ``n_respondents`` (the largest number of
        respondents shown any one of its items: the respondents of the group when the group
        used one instrument version), ``n_rows`` (item rows shown), ``n_answered`` (answered
        item rows), ``n_favourable``, ``n_dont_know``, ``favourable_share`` and ``reason``
        (``""`` or ``"no_answers"``, when ``favourable_share`` is NaN).

    Notes
    -----
    Pooled over the items *j* of the characteristic:

    .. math:: \\text{favourable share} = \\frac{\\sum_j f_j}{\\sum_j a_j}

    with :math:`a_j` the answered rows of item *j* ("don't know", "not applicable", skipped
    and not reached excluded) and :math:`f_j` those favourable after reverse keying (agree or
    strongly agree with a positive statement, disagree or strongly disagree with a
    reverse-keyed one). Items therefore count in proportion to how often they were answered;
    this is not the mean of the items' shares. :math:`f_j` is recovered exactly from
    ``item_distribution`` as ``favourable_share * n_answered`` (an integer up to floating
    point, taken to the nearest integer).

    Examples
    --------
    >>> d = pd.DataFrame({"wave_id": ["w1", "w1"], "item_id": ["A1", "A2"],
    ...                   "characteristic": ["A", "A"], "reverse": [False, True],
    ...                   "n_rows": [10, 10], "n_answered": [8, 10], "n_dont_know": [2, 0],
    ...                   "favourable_share": [0.5, 0.8]})
    >>> out = favourable_by_characteristic(d, by=["wave_id"])
    >>> out[["n_answered", "n_favourable", "favourable_share"]]  # (4 + 8) / 18
       n_answered  n_favourable  favourable_share
    0          18            12          0.666667
    """
    _require_columns(distribution, _DISTRIBUTION_COLUMNS, "distribution")
    by = _by_list(by, distribution)
    if "characteristic" in by:
        raise ParameterError("by must not include 'characteristic' (it is always added)")
    keys = [*by, "characteristic"]
    answered = distribution["n_answered"].to_numpy(dtype="float64")
    share = distribution["favourable_share"].to_numpy(dtype="float64", na_value=np.nan)
    frame = distribution[keys].copy()
    frame["n_items"] = 1
    frame["n_respondents"] = distribution["n_rows"].to_numpy()
    frame["n_rows"] = distribution["n_rows"].to_numpy()
    frame["n_answered"] = distribution["n_answered"].to_numpy()
    frame["n_favourable"] = np.where(answered > 0, np.rint(np.nan_to_num(share) * answered), 0).astype(np.int64)
    frame["n_dont_know"] = distribution["n_dont_know"].to_numpy()
    grouped = frame.groupby(keys, observed=True, sort=True, dropna=False)
    out = grouped[["n_items", "n_rows", "n_answered", "n_favourable", "n_dont_know"]].sum()
    out.insert(1, "n_respondents", grouped["n_respondents"].max())
    out = out.reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["favourable_share"] = np.where(out["n_answered"] > 0,
                                           out["n_favourable"] / out["n_answered"], np.nan)
    out["reason"] = np.where(out["n_answered"] > 0, "", "no_answers")
    return out


def item_summaries(distribution: pd.DataFrame) -> pd.DataFrame:
    """Shares of each answer per group and item, from an item distribution.

    Parameters
    ----------
    distribution : DataFrame
        The output of :func:`collab_stats.scoring.item_distribution`; the columns before
        ``item_id`` are the group columns.

    Returns
    -------
    DataFrame
        One row per group x item (same rows, same order): the group columns, ``item_id``,
        ``characteristic``, ``reverse``, ``n_rows`` (respondents shown the item),
        ``n_answered``, ``p_1`` .. ``p_5`` (share of answered rows giving each answer code, as
        given, not reverse-keyed), ``favourable_share`` (after reverse keying, over answered
        rows), ``dont_know_share`` (``n_dont_know / n_rows``), ``answered_share``
        (``n_answered / n_rows``) and ``reason`` (``""``, ``"no_answers"`` when
        ``n_answered = 0``: the ``p_k`` and ``favourable_share`` are NaN, or ``"not_shown"``
        when ``n_rows = 0``).

    Notes
    -----
    :math:`p_k = n_k / n_{answered}` with :math:`n_{answered} = \\sum_k n_k`, so the ``p_k``
    add up to 1 in each row with answers; the missing-answer shares are over all rows shown
    the item, so that "don't know" rates of items and groups are comparable.

    Examples
    --------
    >>> d = pd.DataFrame({"wave_id": ["w1"], "item_id": ["A1"], "characteristic": ["A"],
    ...                   "reverse": [False], "n_rows": [10], "n_answered": [8],
    ...                   "n_1": [0], "n_2": [2], "n_3": [2], "n_4": [3], "n_5": [1],
    ...                   "n_dont_know": [2], "favourable_share": [0.5]})
    >>> item_summaries(d)[["p_2", "p_4", "favourable_share", "dont_know_share"]]
        p_2    p_4  favourable_share  dont_know_share
    0  0.25  0.375               0.5              0.2
    """
    _require_columns(distribution, _DISTRIBUTION_COLUMNS, "distribution")
    code_columns = _answer_code_columns(distribution)
    if not code_columns:
        raise ParameterError("distribution must have answer-count columns n_<code> (e.g. n_1 "
                             "... n_5), as item_distribution gives; found none")
    position = list(distribution.columns).index("item_id")
    group_columns = list(distribution.columns[:position])
    out = distribution[[*group_columns, "item_id", "characteristic", "reverse", "n_rows",
                        "n_answered"]].reset_index(drop=True)
    answered = distribution["n_answered"].to_numpy(dtype="float64")
    rows = distribution["n_rows"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        for column in code_columns:
            share = distribution[column].to_numpy(dtype="float64") / answered
            out[f"p_{column[2:]}"] = np.where(answered > 0, share, np.nan)
        out["favourable_share"] = np.where(
            answered > 0, distribution["favourable_share"].to_numpy(dtype="float64", na_value=np.nan), np.nan)
        out["dont_know_share"] = np.where(
            rows > 0, distribution["n_dont_know"].to_numpy(dtype="float64") / rows, np.nan)
        out["answered_share"] = np.where(rows > 0, answered / rows, np.nan)
    out["reason"] = np.where(rows == 0, "not_shown", np.where(answered == 0, "no_answers", ""))
    return out


# --- response rates ----------------------------------------------------------------------------


def response_rates(respondents: pd.DataFrame, programme: Programme) -> pd.DataFrame:
    """Respondents, invited and response rate per wave x collaboration.

    Parameters
    ----------
    respondents : DataFrame
        The ``respondents`` table (``wave_id``, ``collaboration_id``, ``completed``).
    programme : Programme
        Its collaborations' ``invited`` numbers per wave (when known).

    Returns
    -------
    DataFrame
        One row per wave x collaboration of the programme (waves, then collaborations, in
        programme order), followed by any wave x collaboration found in ``respondents`` but
        not in the programme: ``wave_id``, ``collaboration_id``, ``n`` (respondents, 0 when
        nobody answered), ``n_completed``, ``invited`` (NaN when not known),
        ``response_rate`` and ``reason`` (``""``; ``"invited_not_known"``, rate NaN;
        ``"more_respondents_than_invited"``, the rate is shown as computed, above 1, since an
        invited number that is too low is a data problem to fix, not to hide).

    Notes
    -----
    ``response_rate = n / invited``, counting every respondent (complete or not) in ``n``.

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=2, n_waves=1)
    >>> rates = response_rates(sim.data.respondents, sim.programme)
    >>> bool((rates["n"] / rates["invited"] == rates["response_rate"]).all())
    True
    """
    _require_columns(respondents, ["wave_id", "collaboration_id", "completed"], "respondents")
    wave = respondents["wave_id"].astype(object).to_numpy()
    collaboration = respondents["collaboration_id"].astype(object).to_numpy()
    pairs = [(w, c) for w in programme.wave_ids for c in programme.collaboration_ids]
    seen = pd.DataFrame({"wave_id": wave, "collaboration_id": collaboration}).drop_duplicates()
    known = set(pairs)
    extra = sorted((str(w), str(c)) for w, c in seen.itertuples(index=False) if (w, c) not in known)
    table = pd.DataFrame(pairs + extra, columns=["wave_id", "collaboration_id"])
    index = pd.MultiIndex.from_frame(table)
    position = index.get_indexer(pd.MultiIndex.from_arrays([wave.astype(str), collaboration.astype(str)]))
    n = np.bincount(position, minlength=len(table))
    done = np.bincount(position, weights=respondents["completed"].to_numpy(dtype=bool),
                       minlength=len(table)).astype(np.int64)
    invited_of = {(w, col.id): float(k) for col in programme.collaborations
                  for w, k in col.invited.items()}
    invited = np.array([invited_of.get(pair, np.nan) for pair in index], dtype="float64")
    table["n"] = n
    table["n_completed"] = done
    table["invited"] = invited
    with np.errstate(invalid="ignore", divide="ignore"):
        table["response_rate"] = n / invited
    table["reason"] = np.where(np.isnan(invited), "invited_not_known",
                               np.where(n > invited, "more_respondents_than_invited", ""))
    return table
