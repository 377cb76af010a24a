"""Change over waves: has a collaboration's score on a characteristic improved or declined?

Two questions, two tools:

* :func:`wave_change` - did the mean score change *between two waves* (the previous wave, or a
  baseline)? Some respondents answer both waves (the panel: the same ``respondent_id``), others
  only one, so the two samples partly overlap. The partially overlapping samples t-test of
  Derrick, Toher & White (2017) uses both parts without counting anyone twice; it is the
  paired t-test when everyone answered both waves and Welch's test when nobody did.
* :func:`trend_model` / :func:`collaboration_trends` - is there a *linear trend over all
  waves*? A linear mixed model ``score ~ wave_number`` with random intercepts for respondents
  (the panel) and/or collaborations, fitted by REML (one random intercept: directly from
  grouped sums, the estimates statsmodels' ``MixedLM`` reaches; both: with ``MixedLM``).

Waves using different instrument versions
-----------------------------------------
Scores compared across waves must be built from items that are comparable across the versions
of those waves: score with ``score_responses(data, family,
version_items=comparable_item_sets(family, versions))``. :func:`wave_change` adds a caveat when
two waves used different versions and a characteristic's score has a different number of items
in each (a sign that non-comparable items were scored), and - given
``invariance_supported=False`` from a measurement-invariance analysis - a caveat that the
change may reflect the questionnaire rather than the collaboration.

Missing data
------------
One vocabulary across the library (:data:`collab_stats._params.NanPolicy`). Here a score is
either present or NaN (``score_responses`` says why in ``reason``); each statistic uses every
respondent with a score in the waves it compares (*available case*, the library's
``pairwise`` policy) and reports how many scores it used and how many were missing. A
respondent is *paired* when they have a score in both waves compared (same
``respondent_id``, same collaboration); a panel member with a score in only one wave counts as
an independent observation of that wave. Rows without a ``respondent_id`` cannot be linked
and count as independent. Nothing is imputed. A figure that cannot be computed is NaN and
``reason`` says why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ._params import check_number, check_option
from .errors import ParameterError
from .parallel import MapLike, check_workers, run_all, split

__all__ = [
    "CHANGE_LABELS",
    "INVARIANCE_CAVEAT",
    "TREND_LABELS",
    "TrendResult",
    "collaboration_trends",
    "trend_model",
    "wave_change",
]

Compare = Literal["previous", "baseline"]
COMPARES: tuple[str, ...] = ("previous", "baseline")
#: Plain labels of :func:`wave_change`; ``"not tested"`` when the test cannot be computed.
CHANGE_LABELS: tuple[str, ...] = (
    "significantly improved", "no significant change", "significantly declined", "not tested")
#: Plain labels of :func:`trend_model`; ``"not tested"`` when the model cannot be fitted.
TREND_LABELS: tuple[str, ...] = (
    "significantly improving", "no significant trend", "significantly declining", "not tested")
INVARIANCE_CAVEAT = ("measurement invariance across these waves was not supported: change may "
                     "reflect the questionnaire, not the collaboration")
RANDOM_EFFECTS: tuple[tuple[str, ...], ...] = (
    ("respondent",), ("collaboration",), ("respondent", "collaboration"))

#: Collaborations per piece of :func:`collaboration_trends` work (8 fits each, about 2 ms a
#: fit: a piece takes about a second, long enough to be worth sending to a worker).
TREND_CHUNK = 50

_SCORE_COLUMNS = ("wave_id", "collaboration_id", "respondent_id", "characteristic", "score")


# --- shared helpers --------------------------------------------------------------------------


def _check_scores(scores: pd.DataFrame) -> None:
    if not isinstance(scores, pd.DataFrame):
        raise ParameterError(f"scores must be a DataFrame (as score_responses returns); got "
                             f"{type(scores).__name__}")
    missing = [c for c in _SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ParameterError(f"scores must have the columns {', '.join(_SCORE_COLUMNS)} (as "
                             f"score_responses returns); missing: {', '.join(missing)}")


def _labels(column: pd.Series) -> list[str]:
    """Distinct values of an id column: category order if categorical, else sorted."""
    present = pd.unique(column.dropna().astype(str))
    if isinstance(column.dtype, pd.CategoricalDtype):
        keep = set(present)
        return [str(c) for c in column.cat.categories if str(c) in keep]
    return sorted(present)


def _wave_order(scores: pd.DataFrame, waves: Sequence[str] | None) -> list[str]:
    present = _labels(scores["wave_id"])
    if waves is None:
        return present
    if isinstance(waves, str) or not isinstance(waves, Sequence):
        raise ParameterError(f"waves must be a sequence of wave ids in time order; got {waves!r}")
    order = [str(w) for w in waves]
    if len(set(order)) != len(order):
        raise ParameterError(f"waves must not repeat a wave; got {order}")
    unknown = [w for w in present if w not in order]
    if unknown:
        raise ParameterError(f"waves must list every wave in scores; missing: {unknown}")
    return order


def _codes(column: pd.Series, labels: Sequence[str]) -> np.ndarray:
    """Positions of a column's values (as text) in ``labels``; -1 where missing or absent."""
    index = pd.Index(list(labels), dtype=object)
    if isinstance(column.dtype, pd.CategoricalDtype):
        position = index.get_indexer(column.cat.categories.astype(str))
        codes = column.cat.codes.to_numpy()
        return np.where(codes >= 0, position[np.maximum(codes, 0)], -1)
    values = column.astype(object)
    out = index.get_indexer(values.astype(str))
    out[values.isna().to_numpy()] = -1
    return out


def _check_level(name: str, value: float) -> float:
    return check_number(name, value, low=0.0, high=1.0, low_open=True, high_open=True)


# --- wave-to-wave change ---------------------------------------------------------------------


def wave_change(
    scores: pd.DataFrame,
    *,
    baseline: str | None = None,
    compare: Compare = "previous",
    ci: float = 0.95,
    alpha: float = 0.05,
    power: float = 0.8,
    waves: Sequence[str] | None = None,
    invariance_supported: bool | None = None,
) -> pd.DataFrame:
    """Change in every collaboration's mean score on every characteristic between waves.

    For each collaboration x characteristic and each wave after ``baseline``: the change in
    mean score since the previous wave (``compare="previous"``) or since the baseline wave
    (``compare="baseline"``), its standard error and confidence interval, the partially
    overlapping samples t-test (``T_new2`` of Derrick, Toher & White 2017), a plain label and
    the minimum detectable change. Respondents with a score in both waves are paired, the
    others independent; the test is Welch's when nobody is paired and the paired t-test when
    everybody is. All collaborations and characteristics are computed at once from grouped
    sums (one pass per pair of waves).

    Parameters
    ----------
    scores : DataFrame
        Respondents' scores as :func:`collab_stats.scoring.score_responses` returns them (at
        least ``wave_id``, ``collaboration_id``, ``respondent_id``, ``characteristic`` and
        ``score``; ``instrument_version`` and ``n_items`` are used for the version caveat when
        present). For waves on different instrument versions, score only comparable items
        (``version_items=comparable_item_sets(family, versions)``).
    baseline : str, optional
        The first wave considered (default: the first wave). With ``compare="baseline"`` every
        later wave is compared with it; with ``"previous"`` each later wave is compared with
        the wave before it. Waves before ``baseline`` are not used.
    compare : {"previous", "baseline"}
    ci : float
        Confidence level of the interval (0 < ci < 1).
    alpha : float
        Two-sided significance level of the test and of the minimum detectable change.
    power : float
        Power at which the minimum detectable change is given.
    waves : sequence of str, optional
        The waves in time order (default: the category order of ``wave_id`` when it is
        categorical, as ``score_responses`` gives it, else the sorted wave ids).
    invariance_supported : bool, optional
        Whether measurement invariance (at least scalar, for comparing means) was supported
        across the waves, e.g. from :func:`collab_stats.invariance.measurement_invariance`.
        ``False`` adds :data:`INVARIANCE_CAVEAT` to every row's ``caveat``; ``None`` (not
        assessed) and ``True`` add nothing.

    Returns
    -------
    DataFrame
        One row per collaboration, characteristic and compared wave, in that order. Suffix
        ``_1`` is the reference wave (previous or baseline), ``_2`` the wave compared:

        ``collaboration_id``, ``characteristic``, ``wave_id`` (the wave compared),
        ``reference_wave_id``, ``comparison`` (``"previous"`` or ``"baseline"``),
        ``mean_1``, ``mean_2`` (mean of every score in the wave), ``sd_1``, ``sd_2``
        (standard deviations, N - 1), ``change`` (``mean_2 - mean_1``), ``se``, ``ci_low``,
        ``ci_high``, ``t``, ``df``, ``p_value`` (two-sided), ``label`` (one of
        :data:`CHANGE_LABELS`), ``test`` (``"welch"``, ``"paired"`` or
        ``"partially_overlapping"``: which the design is; the formula is the same and reduces
        exactly to the other two), ``n_paired``, ``n_independent_1``, ``n_independent_2``,
        ``n_1``, ``n_2`` (scores used: paired plus independent), ``n_missing_1``,
        ``n_missing_2`` (rows of the wave whose score is NaN, not used), ``r_paired``
        (Pearson correlation of the paired scores; 0 when the paired scores of a wave do not
        vary, NaN with fewer than 2 pairs), ``mdc`` (minimum
        detectable change), ``caveat`` (``""`` or why the change needs care) and ``reason``
        (``""`` or why a figure is NaN).

    Raises
    ------
    ParameterError
        A bad option, missing columns, or a respondent with two scores for the same wave,
        collaboration and characteristic.

    Notes
    -----
    For one collaboration and characteristic, wave 1 (reference) has :math:`n_1` scores and
    wave 2 has :math:`n_2`; :math:`n_c` respondents are in both (paired), :math:`n_a = n_1 -
    n_c` and :math:`n_b = n_2 - n_c` in one only. :math:`\\bar x_1, \\bar x_2` and
    :math:`S_1, S_2` are the means and standard deviations (N - 1) of *all* scores of each
    wave, and :math:`r` the Pearson correlation of the :math:`n_c` pairs. The partially
    overlapping samples t statistic for unequal variances, :math:`T_{new2}` (Derrick, Russ,
    Toher & White 2017; Derrick, Toher & White 2017, eq. for :math:`T_{new2}`), is

    .. math::

        T = \\frac{\\bar x_2 - \\bar x_1}{SE}, \\quad
        SE = \\sqrt{\\frac{S_1^2}{n_1} + \\frac{S_2^2}{n_2}
                    - \\frac{2 r S_1 S_2 n_c}{n_1 n_2}}

    referred to a t distribution with

    .. math::

        \\nu = (n_c - 1) + \\frac{\\gamma - n_c + 1}{n_a + n_b + 2 n_c} (n_a + n_b),
        \\quad
        \\gamma = \\frac{(S_1^2/n_1 + S_2^2/n_2)^2}
                       {\\frac{(S_1^2/n_1)^2}{n_1 - 1} + \\frac{(S_2^2/n_2)^2}{n_2 - 1}}

    (:math:`\\gamma` is the Welch-Satterthwaite df). With :math:`n_c = 0` this is Welch's
    test (:math:`\\nu = \\gamma`); with :math:`n_a = n_b = 0` it is the paired t-test
    (:math:`SE^2 = \\mathrm{var}(x_2 - x_1)/n`, :math:`\\nu = n - 1`). As in R's
    ``Partiallyoverlapping::Partover.test``, :math:`r = 0` when the paired scores of a wave
    do not vary (their covariance is then 0); with a single pair :math:`r` cannot be
    estimated and is also taken as 0 (``r_paired`` is NaN). The interval is
    :math:`(\\bar x_2 - \\bar x_1) \\pm t_{\\nu, (1 + ci)/2} SE` and ``p = 2 P(t_\\nu > |T|)``.
    The label is "significantly improved" (``p < alpha`` and change > 0), "significantly
    declined" (``p < alpha`` and change < 0) or "no significant change"; "not tested" when
    ``p`` is NaN. Each row is its own test: no correction for multiple comparisons is made.

    The minimum detectable change is the true change the test would detect with probability
    ``power`` (two-sided, level ``alpha``) given the observed standard error, by the normal
    approximation: :math:`MDC = (z_{1 - \\alpha/2} + z_{power}) SE` (2.80 SE at the defaults).

    Figures are NaN when a wave has fewer than 2 scores (``change`` is still given when both
    have at least one) or when the scores do not vary (SE = 0).

    References
    ----------
    Derrick, B., Toher, D., & White, P. (2017). How to compare the means of two samples that
    include paired observations and independent observations: A companion to Derrick, Russ,
    Toher and White (2017). The Quantitative Methods for Psychology, 13(2), 120-126.
    doi:10.20982/tqmp.13.2.p120

    Derrick, B., Russ, B., Toher, D., & White, P. (2017). Test statistics for the comparison
    of means for two samples that include both paired and independent observations. Journal
    of Modern Applied Statistical Methods, 16(1), 137-157. doi:10.22237/jmasm/1493597280

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import comparable_item_sets, score_responses
    >>> from collab_stats.change import wave_change
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=2)
    >>> items = comparable_item_sets(sim.instrument, sim.instrument.version_ids)
    >>> scores = score_responses(sim.data, sim.instrument, version_items=items)
    >>> change = wave_change(scores)
    >>> len(change) == 3 * 8
    True
    >>> sorted(change["test"].unique())
    ['partially_overlapping']

    The same test for one collaboration and characteristic in R::

        library(Partiallyoverlapping)
        # x1, x2: scores of respondents in only wave 2, only wave 1;
        # x3, x4: wave-2 and wave-1 scores of the panel, in the same order
        Partover.test(x1, x2, x3, x4, var.equal = FALSE, conf.level = 0.95)
    """
    _check_scores(scores)
    check_option("compare", compare, COMPARES)
    _check_level("ci", ci)
    _check_level("alpha", alpha)
    _check_level("power", power)
    if invariance_supported is not None and not isinstance(invariance_supported, bool | np.bool_):
        raise ParameterError(f"invariance_supported must be True, False or None; got "
                             f"{invariance_supported!r}")
    order = _wave_order(scores, waves)
    if baseline is None:
        if not order:
            raise ParameterError("scores has no wave_id values: there is nothing to compare")
        baseline = order[0]
    check_option("baseline", baseline, order)
    b = order.index(baseline)
    later = order[b + 1:]
    if compare == "previous":
        pairs = [(order[i - 1], order[i]) for i in range(b + 1, len(order))]
    else:
        pairs = [(baseline, w) for w in later]

    collaborations = _labels(scores["collaboration_id"])
    characteristics = _labels(scores["characteristic"])
    C, K = len(collaborations), len(characteristics)
    w = _codes(scores["wave_id"], order)
    c = _codes(scores["collaboration_id"], collaborations)
    k = _codes(scores["characteristic"], characteristics)
    r, people = pd.factorize(scores["respondent_id"].astype(object), use_na_sentinel=True)
    value = pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype="float64")
    known = (w >= 0) & (c >= 0) & (k >= 0)
    cell = np.where(known, c * K + k, -1)
    _check_duplicates(scores, known & (r >= 0), w, cell, r, C * K, len(people))

    versions, n_items = _version_info(scores, w, k, len(order), K)
    blocks = []
    for w1, w2 in pairs:
        i1, i2 = order.index(w1), order.index(w2)
        block = _change_block(value, known, w, cell, r, i1, i2, C * K, ci, alpha, power)
        caveat = _caveats(versions, n_items, i1, i2, K, invariance_supported, w1, w2)
        block["caveat"] = np.tile(caveat, C)
        block["wave_id"] = w2
        block["reference_wave_id"] = w1
        block["_wave"] = i2
        blocks.append(block)
    if not blocks:
        return pd.DataFrame({column: [] for column in _CHANGE_COLUMNS})
    out = pd.concat(blocks, ignore_index=True)
    size = len(out)
    cell_index = np.tile(np.arange(C * K), len(blocks))
    out["collaboration_id"] = pd.Categorical.from_codes(cell_index // K, collaborations)
    out["characteristic"] = pd.Categorical.from_codes(cell_index % K, characteristics)
    out["comparison"] = np.full(size, compare, dtype=object)
    out = out.sort_values(["collaboration_id", "characteristic", "_wave"], kind="stable")
    return out[_CHANGE_COLUMNS].reset_index(drop=True)


_CHANGE_COLUMNS = [
    "collaboration_id", "characteristic", "wave_id", "reference_wave_id", "comparison",
    "mean_1", "mean_2", "sd_1", "sd_2", "change", "se", "ci_low", "ci_high", "t", "df",
    "p_value", "label", "test", "n_paired", "n_independent_1", "n_independent_2", "n_1", "n_2",
    "n_missing_1", "n_missing_2", "r_paired", "mdc", "caveat", "reason",
]


def _check_duplicates(scores, linked, w, cell, r, n_cells, n_people) -> None:
    key = (w[linked].astype(np.int64) * n_cells + cell[linked]) * max(n_people, 1) + r[linked]
    dup = pd.Index(key).duplicated()
    if dup.any():
        row = scores.loc[linked].iloc[int(np.flatnonzero(dup)[0])]
        raise ParameterError(
            f"scores must have one row per wave, collaboration, respondent and characteristic; "
            f"{int(dup.sum())} repeated, e.g. wave {row['wave_id']}, collaboration "
            f"{row['collaboration_id']}, respondent {row['respondent_id']}, characteristic "
            f"{row['characteristic']}")


def _group_stats(cell, value, size):
    """Count, mean and sum of squared deviations per cell (two passes, for accuracy)."""
    n = np.bincount(cell, minlength=size).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cell, weights=value, minlength=size) / n
    dev = value - mean[cell]
    return n, mean, np.bincount(cell, weights=dev * dev, minlength=size), dev


def _change_block(value, known, w, cell, r, i1, i2, size, ci, alpha, power) -> pd.DataFrame:
    """Every cell's comparison of wave ``i2`` with wave ``i1``, from grouped sums."""
    has = known & ~np.isnan(value)
    rows1 = np.flatnonzero(has & (w == i1))
    rows2 = np.flatnonzero(has & (w == i2))
    miss1 = np.bincount(cell[known & np.isnan(value) & (w == i1)], minlength=size)
    miss2 = np.bincount(cell[known & np.isnan(value) & (w == i2)], minlength=size)
    n_people = int(r.max()) + 1 if r.size else 1
    key1 = np.where(r[rows1] >= 0, cell[rows1].astype(np.int64) * n_people + r[rows1], -1)
    key2 = np.where(r[rows2] >= 0, cell[rows2].astype(np.int64) * n_people + r[rows2], -2)
    # Pairs: the same respondent in the same cell in both waves, aligned by sorting on the key.
    p1 = rows1[np.isin(key1, key2)]
    p2 = rows2[np.isin(key2, key1)]
    p1 = p1[np.argsort(key1[np.isin(key1, key2)], kind="stable")]
    p2 = p2[np.argsort(key2[np.isin(key2, key1)], kind="stable")]

    n1, mean1, ss1, _ = _group_stats(cell[rows1], value[rows1], size)
    n2, mean2, ss2, _ = _group_stats(cell[rows2], value[rows2], size)
    pc = cell[p1]
    nc, _, sxx, dx = _group_stats(pc, value[p1], size)
    _, _, syy, dy = _group_stats(pc, value[p2], size)
    sxy = np.bincount(pc, weights=dx * dy, minlength=size)
    na, nb = n1 - nc, n2 - nc

    with np.errstate(invalid="ignore", divide="ignore"):
        v1, v2 = ss1 / (n1 - 1), ss2 / (n2 - 1)
        r_hat = sxy / np.sqrt(sxx * syy)
        estimable_r = (nc >= 2) & (sxx > 0) & (syy > 0)
        r_paired = np.where(estimable_r, r_hat, np.where((nc >= 2), 0.0, np.nan))
        r_used = np.where(estimable_r, r_hat, 0.0)
        enough = (n1 >= 2) & (n2 >= 2)
        se2 = v1 / n1 + v2 / n2 - 2.0 * r_used * np.sqrt(v1 * v2) * nc / (n1 * n2)
        se = np.where(enough, np.sqrt(np.maximum(se2, 0.0)), np.nan)
        change = np.where((n1 >= 1) & (n2 >= 1), mean2 - mean1, np.nan)
        gamma = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
        df = (nc - 1) + np.where(na + nb > 0, (gamma - nc + 1) / (na + nb + 2 * nc) * (na + nb), 0.0)
        ok = enough & (se > 0)
        se = np.where(enough & ~(se > 0), np.nan, se)
        df = np.where(ok, df, np.nan)
        t = np.where(ok, change / se, np.nan)
    p = np.where(ok, 2.0 * stats.t.sf(np.abs(t), df), np.nan)
    half = stats.t.ppf(0.5 + ci / 2.0, df) * se
    mdc = (stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power)) * se
    label = np.select(
        [np.isnan(p), (p < alpha) & (change > 0), (p < alpha) & (change < 0)],
        ["not tested", "significantly improved", "significantly declined"],
        "no significant change")
    test = np.select([nc == 0, (na == 0) & (nb == 0)], ["welch", "paired"],
                     "partially_overlapping")
    reason = np.select(
        [n1 < 2, n2 < 2, enough & ~(se > 0)],
        ["fewer than 2 scores in the reference wave", "fewer than 2 scores in the wave compared",
         "the scores do not vary (standard error 0): no test"], "")
    return pd.DataFrame({
        "mean_1": np.where(n1 > 0, mean1, np.nan), "mean_2": np.where(n2 > 0, mean2, np.nan),
        "sd_1": np.where(n1 >= 2, np.sqrt(np.abs(v1)), np.nan),
        "sd_2": np.where(n2 >= 2, np.sqrt(np.abs(v2)), np.nan), "change": change, "se": se,
        "ci_low": change - half, "ci_high": change + half, "t": t, "df": df, "p_value": p,
        "label": label, "test": test, "n_paired": nc.astype(np.int64),
        "n_independent_1": na.astype(np.int64), "n_independent_2": nb.astype(np.int64),
        "n_1": n1.astype(np.int64), "n_2": n2.astype(np.int64),
        "n_missing_1": miss1.astype(np.int64), "n_missing_2": miss2.astype(np.int64),
        "r_paired": r_paired, "mdc": mdc, "reason": reason,
    })


def _version_info(scores, w, k, n_waves, K):
    """Per wave: the instrument versions used; per wave x characteristic: numbers of items."""
    versions: list[set[str]] = [set() for _ in range(n_waves)]
    n_items: list[list[set[int]]] = [[set() for _ in range(K)] for _ in range(n_waves)]
    if "instrument_version" in scores.columns:
        frame = pd.DataFrame({"w": w, "v": scores["instrument_version"].astype(object).to_numpy()})
        for wave, v in frame[(frame["w"] >= 0) & frame["v"].notna()].drop_duplicates().itertuples(
                index=False):
            versions[wave].add(str(v))
    if "n_items" in scores.columns:
        frame = pd.DataFrame({"w": w, "k": k, "n": scores["n_items"].to_numpy()})
        frame = frame[(frame["w"] >= 0) & (frame["k"] >= 0) & frame["n"].notna()]
        for wave, kk, n in frame.drop_duplicates().itertuples(index=False):
            n_items[wave][kk].add(int(n))
    return versions, n_items


def _caveats(versions, n_items, i1, i2, K, invariance_supported, w1, w2) -> np.ndarray:
    """The caveat of each characteristic for the comparison of waves i1 and i2."""
    out = np.full(K, "", dtype=object)
    if versions[i1] and versions[i2] and versions[i1] != versions[i2]:
        for kk in range(K):
            if n_items[i1][kk] and n_items[i2][kk] and n_items[i1][kk] != n_items[i2][kk]:
                out[kk] = (
                    f"waves {w1} and {w2} used instrument versions "
                    f"{', '.join(sorted(versions[i1]))} and {', '.join(sorted(versions[i2]))} "
                    f"and the score has {'/'.join(map(str, sorted(n_items[i1][kk])))} items in "
                    f"one and {'/'.join(map(str, sorted(n_items[i2][kk])))} in the other: score "
                    "only items comparable across the versions (comparable_item_sets)")
    if invariance_supported is False:
        out = np.array([f"{c}; {INVARIANCE_CAVEAT}" if c else INVARIANCE_CAVEAT for c in out],
                       dtype=object)
    return out


# --- linear trend: mixed model ---------------------------------------------------------------


@dataclass(frozen=True)
class TrendResult:
    """A linear trend over waves from a mixed model ``score ~ wave_number``.

    Attributes
    ----------
    characteristic : str
    collaboration_id : str
        The collaboration, or ``""`` for a model over every collaboration.
    random : str
        The random intercepts: ``"respondent"``, ``"collaboration"`` or
        ``"respondent+collaboration"`` (respondents nested in collaborations).
    slope : float
        Fixed-effect change in score per unit of ``wave_number`` (per wave by default).
    se, ci_low, ci_high, z, p_value : float
        Its standard error, Wald confidence interval, z statistic and two-sided p-value.
    label : str
        One of :data:`TREND_LABELS`.
    intercept : float
        Fixed intercept (the expected score at ``wave_number`` 0).
    sd_respondent, sd_collaboration, sd_residual : float
        Standard deviations of the random intercepts and of the residual (NaN for a random
        effect not in the model).
    converged : bool
        Whether the optimiser reported convergence.
    n_obs, n_total : int
        Scores used, and rows of the characteristic (and collaboration) including NaN scores.
    n_groups : int
        Groups of the top-level random effect (respondents, or collaborations).
    n_respondents, n_collaborations, n_waves : int
        Distinct respondents, collaborations and waves among the scores used.
    ci : float
        Confidence level of the interval.
    method : str
        ``"REML"``.
    warnings : str
        Warnings statsmodels gave during the fit (e.g. a variance on the boundary), joined
        by ``"; "``.
    reason : str
        ``""`` or why the figures are NaN.
    """

    characteristic: str
    collaboration_id: str
    random: str
    slope: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    label: str
    intercept: float
    sd_respondent: float
    sd_collaboration: float
    sd_residual: float
    converged: bool
    n_obs: int
    n_total: int
    n_groups: int
    n_respondents: int
    n_collaborations: int
    n_waves: int
    ci: float
    method: str
    warnings: str
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([asdict(self)])


def _normalise_random(random, collaboration) -> tuple[str, ...]:
    if random is None:
        return ("respondent",) if collaboration is not None else ("respondent", "collaboration")
    if isinstance(random, str):
        random = (random,)
    try:
        key = tuple(sorted(set(random), key=["respondent", "collaboration"].index))
    except (TypeError, ValueError):
        key = tuple(random) if isinstance(random, tuple | list) else (random,)
    check_option("random", key, RANDOM_EFFECTS)
    if collaboration is not None and "collaboration" in key:
        raise ParameterError(
            f"random must be ('respondent',) for a single collaboration (a random intercept "
            f"for collaborations needs several); got {key!r}")
    return key


def _wave_numbers(order: list[str], wave_numbers: Mapping[str, float] | None) -> dict[str, float]:
    if wave_numbers is None:
        return {wave: float(i) for i, wave in enumerate(order)}
    if not isinstance(wave_numbers, Mapping):
        raise ParameterError(f"wave_numbers must map wave id -> number; got {wave_numbers!r}")
    missing = [wave for wave in order if wave not in wave_numbers]
    if missing:
        raise ParameterError(f"wave_numbers must give a number for every wave; missing: {missing}")
    out = {}
    for wave in order:
        number = wave_numbers[wave]
        check_number(f"wave_numbers[{wave!r}]", number)
        out[wave] = float(number)
    return out


def _sums(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> tuple:
    """Grouped sums behind ``y ~ 1 + x + (1 | groups)``: (n_g, S_g = X_g'1, sum y_g, X'X,
    X'y, y'y)."""
    G = int(groups.max()) + 1
    n_g = np.bincount(groups, minlength=G).astype(float)
    S = np.stack([n_g, np.bincount(groups, weights=x, minlength=G)], axis=1)
    sy = np.bincount(groups, weights=y, minlength=G)
    sx, sxx = x.sum(), x @ x
    return (n_g, S, sy, np.array([[len(y), sx], [sx, sxx]]), np.array([y.sum(), x @ y]),
            y @ y)


class _Profile:
    """The REML log-likelihood of ``y ~ 1 + x + (1 | groups)`` profiled over the fixed effects
    and the residual variance, as a function of lambda = sigma_u^2 / sigma^2, from grouped
    sums (no N x N matrix): ``V = I + lambda Z Z'`` is block diagonal with
    ``V_g^-1 = I - lambda / (1 + lambda n_g) 11'``."""

    def __init__(self, y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> None:
        self.n_g, self.S, self.sy, self.xtx, self.xty, self.yty = _sums(y, x, groups)
        self.N = len(y)

    def at(self, lam: float) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """A = X'V^-1 X, the GLS beta, q = r'V^-1 r at that beta, and c_g = 1 / (1 + lambda
        n_g)."""
        c = 1.0 / (1.0 + lam * self.n_g)
        w = lam * c
        A = self.xtx - (self.S * w[:, None]).T @ self.S
        b = self.xty - (self.S * (w * self.sy)[:, None]).sum(axis=0)
        beta = np.linalg.solve(A, b)
        q = self.yty - (w * self.sy * self.sy).sum() - b @ beta
        return A, beta, float(q), c

    def curve(self, lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The deviance (-2 x the profiled REML log-likelihood, up to a constant) and its
        derivative at each lambda in ``lams``, all at once (A is 2 x 2, so written out):

        ``D = sum_g log(1 + lambda n_g) + log det A + (N - 2) log q`` and
        ``D' = sum_g n_g c_g + tr(A^-1 A') + (N - 2) q' / q`` with ``A' = -sum c_g^2 S_g S_g'``
        and ``q' = -sum c_g^2 s_g^2`` (S_g = X_g'1, s_g the group's residual sum; beta's own
        change drops out at the GLS optimum). D is inf where A or q is not positive."""
        lam = np.asarray(lams, dtype=float)[:, None]
        n, sx, sy = self.n_g, self.S[:, 1], self.sy
        c = 1.0 / (1.0 + lam * n)
        w = lam * c
        a11 = self.xtx[0, 0] - (w * n * n).sum(axis=1)
        a12 = self.xtx[0, 1] - (w * n * sx).sum(axis=1)
        a22 = self.xtx[1, 1] - (w * sx * sx).sum(axis=1)
        b1 = self.xty[0] - (w * n * sy).sum(axis=1)
        b2 = self.xty[1] - (w * sx * sy).sum(axis=1)
        det = a11 * a22 - a12 * a12
        with np.errstate(divide="ignore", invalid="ignore"):
            beta0 = (a22 * b1 - a12 * b2) / det
            beta1 = (a11 * b2 - a12 * b1) / det
            q = self.yty - (w * sy * sy).sum(axis=1) - b1 * beta0 - b2 * beta1
            valid = (det > 0) & (a11 > 0) & (q > 0)
            deviance = np.where(valid, np.log1p(lam * n).sum(axis=1) + np.log(det)
                                + (self.N - 2) * np.log(q), np.inf)
            s = sy - n * beta0[:, None] - sx * beta1[:, None]
            c2 = c * c
            d11, d12, d22 = (-(c2 * n * n).sum(axis=1), -(c2 * n * sx).sum(axis=1),
                             -(c2 * sx * sx).sum(axis=1))
            trace = (a22 * d11 - 2.0 * a12 * d12 + a11 * d22) / det
            slope = (n * c).sum(axis=1) + trace - (self.N - 2) * (c2 * s * s).sum(axis=1) / q
        return deviance, np.where(valid, slope, np.nan)

    def deviance(self, lam: float) -> float:
        """:meth:`curve`'s deviance at one lambda."""
        return float(self.curve(np.array([lam]))[0][0])

    def slope(self, lam: float) -> float:
        """:meth:`curve`'s derivative at one lambda."""
        return float(self.curve(np.array([lam]))[1][0])

    def hessian(self, lam: float) -> tuple[np.ndarray, np.ndarray, float]:
        """The Hessian of the profiled REML log-likelihood in (beta, lambda) at the GLS beta,
        as statsmodels' ``MixedLM.hessian`` defines it (covariance parameter unscaled, the
        beta block ``-(N - 2) A / q``), with beta and q."""
        A, beta, q, c = self.at(lam)
        n, S, fac = self.n_g, self.S, self.N - 2
        s = self.sy - S @ beta
        c2, c3 = c * c, c * c * c
        dA = -(S * c2[:, None]).T @ S
        d2A = 2.0 * (S * (n * c3)[:, None]).T @ S
        dq = -(c2 * s * s).sum()
        d2q = 2.0 * (n * c3 * s * s).sum()
        inv_dA = np.linalg.solve(A, dA)
        h_ll = (0.5 * (n * n * c2).sum() - 0.5 * fac * (d2q / q - dq * dq / (q * q))
                - 0.5 * (np.trace(np.linalg.solve(A, d2A)) - np.trace(inv_dA @ inv_dA)))
        h_bl = -fac / q * (S * (c2 * s)[:, None]).sum(axis=0)
        H = np.empty((3, 3))
        H[:2, :2] = -fac * A / q
        H[:2, 2] = H[2, :2] = h_bl
        H[2, 2] = h_ll
        return H, beta, q


#: Below this ratio sigma_u^2 / sigma^2 the REML optimum is taken to be on the boundary (0).
_BOUNDARY = 1e-6


@dataclass(frozen=True)
class _Fit:
    fe: np.ndarray
    bse: np.ndarray
    re_var: float
    vc_var: float
    scale: float
    converged: bool
    note: str = ""


def _boundary_fit(y: np.ndarray, x: np.ndarray) -> _Fit:
    """REML with the random-intercept variance at 0: ordinary least squares, sigma^2 =
    RSS / (N - 2), as lme4 reports a singular fit."""
    X = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    scale = float(resid @ resid) / (len(y) - 2)
    bse = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * scale)
    return _Fit(beta, bse, 0.0, float("nan"), scale, True,
                "random-intercept variance estimated as 0 (boundary, singular fit): the "
                "estimates are those of ordinary least squares")


#: statsmodels' ``MixedLM.fit`` warnings, given by the direct fit where MixedLM would give them.
_ON_BOUNDARY = "The MLE may be on the boundary of the parameter space."
_NOT_DEFINITE = "The Hessian matrix at the estimated parameter values is not positive definite."


#: Where the profiled REML deviance is first evaluated: lambda = 0 and 12 decades around 1,
#: 8 points a decade (the profile can have more than one local minimum in small samples;
#: the best grid point picks the basin, which is then solved exactly).
_GRID = np.concatenate([[0.0], np.logspace(-6.0, 6.0, 97)])


def _reml_intercept(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> _Fit:
    """REML fit of ``y ~ 1 + x + (1 | groups)`` from grouped sums, to machine precision.

    lambda = sigma_u^2 / sigma^2 is located on a grid of the profiled REML deviance
    (:data:`_GRID`, :meth:`_Profile.curve`), then solved exactly as the root of its derivative
    between the neighbours of the best grid point (Brent's method). Then, as statsmodels'
    ``MixedLM.fit`` does from its optimum: beta is the GLS estimate, ``sigma^2 = q / (N -
    2)``, ``sigma_u^2 = lambda sigma^2``, and the standard errors of beta are the square roots
    of the beta block of ``inv(-H)``, H the Hessian of the profiled REML log-likelihood in
    (beta, lambda) (:meth:`_Profile.hessian`, equal to ``MixedLM.hessian`` to rounding).
    MixedLM reaches the same optimum only to its optimiser's tolerance (about 1e-6 relative
    in lambda), so its figures differ from these at that level.
    """
    profile = _Profile(y, x, groups)
    lam, converged = _minimum(profile)
    if lam is None:
        raise _NoMaximum
    if lam < _BOUNDARY:
        # statsmodels' MixedLM cannot evaluate its likelihood at a zero random-effects
        # variance (it inverts that covariance), and REML there is least squares.
        return _boundary_fit(y, x)
    H, beta, q = profile.hessian(lam)
    scale = q / (len(y) - 2)
    with np.errstate(invalid="ignore"):
        try:
            bse = np.sqrt(np.diag(np.linalg.inv(-H))[:2])
        except np.linalg.LinAlgError:
            bse = np.full(2, np.nan)
    notes = []
    if lam * scale < 0.01:
        notes.append(_ON_BOUNDARY)
    if (np.diag(H) >= 0).any():
        notes.append(_NOT_DEFINITE)
    return _Fit(beta, bse, lam * scale, float("nan"), scale, converged, "; ".join(notes))


class _NoMaximum(Exception):
    """The profiled REML likelihood has no interior maximum to speak of."""


#: Why a fit is not given when the REML likelihood has no maximum.
_NO_MAXIMUM = ("the REML likelihood has no maximum (it rises, or stays flat, as the residual "
               "variance shrinks against the respondent variance): too few repeated scores "
               "to tell the two apart")


def _minimum(profile: _Profile) -> tuple[float | None, bool]:
    """The lambda that minimises the profiled deviance, and whether it was solved: 0 when
    the grid's best point is 0 (the minimum is on the boundary, or within 1e-6 of it);
    otherwise the root of the derivative next to the best grid point (``False`` when no sign
    change brackets it: then the bounded minimum between the neighbours). None when there is
    no maximum to speak of: the best point is the grid's last (lambda >= 1e6, the residual
    variance next to nothing) or the deviance is flat over the grid (to 1e-9)."""
    deviance, slope = profile.curve(_GRID)
    finite = np.isfinite(deviance)
    if not finite.any():
        raise np.linalg.LinAlgError("the REML likelihood cannot be evaluated (singular design)")
    j = int(np.argmin(deviance))
    if j == len(_GRID) - 1 or np.ptp(deviance[finite]) <= 1e-9 * (1.0 + abs(deviance[j])):
        return None, False
    if j == 0:
        return 0.0, True
    lo, hi = (j, j + 1) if slope[j] < 0 else (j - 1, j)
    if slope[j] == 0.0:
        return float(_GRID[j]), True
    if slope[lo] < 0.0 < slope[hi]:
        root = optimize.brentq(profile.slope, _GRID[lo], _GRID[hi], xtol=1e-300,
                               rtol=4 * np.finfo(float).eps)
        return float(root), True
    best = optimize.minimize_scalar(profile.deviance, bounds=(_GRID[j - 1], _GRID[j + 1]),
                                    method="bounded", options={"xatol": 1e-12})
    return float(best.x), False


def _fit_mixed(frame: pd.DataFrame, random: tuple[str, ...]) -> tuple[_Fit | None, str]:
    """Fit ``score ~ wave_number`` with the random intercepts asked for; REML."""
    y = frame["score"].to_numpy(dtype=float)
    x = frame["wave_number"].to_numpy(dtype=float)
    if random != ("respondent", "collaboration"):
        groups = pd.factorize(frame[random[0]].to_numpy())[0]
        if np.bincount(groups).max() < 2:
            fit = _boundary_fit(y, x)
            return replace(fit, re_var=float("nan"), note=(
                f"no {random[0]} has more than one score: the {random[0]} variance cannot be "
                "told apart from the residual variance; the estimates are those of ordinary "
                "least squares")), ""
        try:
            return _reml_intercept(y, x, groups), ""
        except np.linalg.LinAlgError as exc:
            return None, f"the model cannot be fitted: {exc}"
        except _NoMaximum:
            return None, _NO_MAXIMUM
    from statsmodels.regression.mixed_linear_model import MixedLM

    model = MixedLM.from_formula(
        "score ~ wave_number", frame, groups=frame["collaboration"],
        re_formula="1", vc_formula={"respondent": "0 + C(respondent)"})
    fallback, error = None, ""
    for method in ("lbfgs", "bfgs"):
        try:
            result = model.fit(reml=True, method=[method])
        except (np.linalg.LinAlgError, ValueError) as exc:
            error = f"MixedLM failed: {exc}"
            continue
        fit = _Fit(np.asarray(result.fe_params, dtype=float),
                   np.asarray(result.bse_fe, dtype=float),
                   float(np.asarray(result.cov_re)[0, 0]),
                   float(result.vcomp[0]) if len(result.vcomp) else float("nan"),
                   float(result.scale), bool(result.converged))
        if fit.converged:
            return fit, ""
        fallback = fallback or fit
    return fallback, ("" if fallback is not None else error)


def _trend_one(frame: pd.DataFrame, *, characteristic: str, collaboration: str,
               random: tuple[str, ...], n_total: int, ci: float, alpha: float) -> TrendResult:
    nan = float("nan")
    n_obs = len(frame)
    n_waves = int(frame["wave_number"].nunique())
    counts = dict(
        n_obs=n_obs, n_total=n_total,
        n_respondents=int(frame["respondent"].nunique()),
        n_collaborations=int(frame["collaboration"].nunique()), n_waves=n_waves)
    n_groups = int(frame[random[-1]].nunique())
    empty = dict(slope=nan, se=nan, ci_low=nan, ci_high=nan, z=nan, p_value=nan,
                 label="not tested", intercept=nan, sd_respondent=nan, sd_collaboration=nan,
                 sd_residual=nan, converged=False)
    base = dict(characteristic=characteristic, collaboration_id=collaboration,
                random="+".join(random), n_groups=n_groups, ci=ci, method="REML")
    reason = ""
    if n_waves < 2:
        reason = "scores in fewer than 2 waves: no trend can be estimated"
    elif n_obs < 4:
        reason = "fewer than 4 scores: the model cannot be fitted"
    elif frame["score"].nunique() < 2:
        reason = "the scores do not vary: the model cannot be fitted"
    elif "collaboration" in random and counts["n_collaborations"] < 2:
        reason = "a random intercept for collaborations needs at least 2 collaborations"
    if reason:
        return TrendResult(**base, **empty, **counts, warnings="", reason=reason)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, failure = _fit_mixed(frame, random)
    notes = [str(w.message).split("\n")[0] for w in caught]
    if result is not None and result.note:
        notes.append(result.note)
    messages = "; ".join(dict.fromkeys(notes))
    if result is None:
        return TrendResult(**base, **empty, **counts, warnings=messages, reason=failure)
    fe, bse = result.fe, result.bse
    slope, se = float(fe[1]), float(bse[1])
    z = slope / se if se > 0 else nan
    p = float(2.0 * stats.norm.sf(abs(z))) if not math.isnan(z) else nan
    half = float(stats.norm.ppf(0.5 + ci / 2.0)) * se
    re_var = result.re_var
    sd_resp = sd_coll = nan
    if random == ("respondent",):
        sd_resp = math.sqrt(max(re_var, 0.0))
    elif random == ("collaboration",):
        sd_coll = math.sqrt(max(re_var, 0.0))
    else:
        sd_coll = math.sqrt(max(re_var, 0.0))
        sd_resp = math.sqrt(max(result.vc_var, 0.0))
    if math.isnan(p):
        label = "not tested"
    elif p < alpha:
        label = "significantly improving" if slope > 0 else "significantly declining"
    else:
        label = "no significant trend"
    return TrendResult(
        **base, slope=slope, se=se, ci_low=slope - half, ci_high=slope + half, z=z, p_value=p,
        label=label, intercept=float(fe[0]), sd_respondent=sd_resp, sd_collaboration=sd_coll,
        sd_residual=math.sqrt(float(result.scale)), converged=result.converged, **counts,
        warnings=messages,
        reason="" if not math.isnan(se) else "the standard error could not be computed "
                                              "(Hessian not positive definite)")


def _model_frame(scores: pd.DataFrame, numbers: dict[str, float]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "score": pd.to_numeric(scores["score"], errors="coerce").to_numpy(dtype=float),
        "wave_number": scores["wave_id"].astype(object).map(numbers).to_numpy(dtype=float),
        "respondent": pd.factorize(scores["respondent_id"].astype(object))[0],
        "collaboration": pd.factorize(scores["collaboration_id"].astype(object))[0],
    })
    no_id = (frame["respondent"] < 0).to_numpy()
    if no_id.any():
        # Unlinked rows are distinct respondents (their own random intercept each).
        frame.loc[no_id, "respondent"] = frame["respondent"].max() + 1 + np.arange(no_id.sum())
    return frame


def trend_model(
    scores: pd.DataFrame,
    *,
    characteristic: str,
    collaboration: str | None = None,
    random: Sequence[str] | None = None,
    wave_numbers: Mapping[str, float] | None = None,
    waves: Sequence[str] | None = None,
    ci: float = 0.95,
    alpha: float = 0.05,
) -> TrendResult:
    """Linear trend of a characteristic's score over waves, from a linear mixed model.

    Fits ``score ~ wave_number`` with random intercepts for respondents (the panel: the same
    ``respondent_id`` in several waves) and/or collaborations, by REML with statsmodels'
    ``MixedLM``, for one collaboration or for every collaboration together.

    Parameters
    ----------
    scores : DataFrame
        Respondents' scores as :func:`collab_stats.scoring.score_responses` returns them
        (score comparable items only when waves used different instrument versions).
    characteristic : str
        The characteristic to model.
    collaboration : str, optional
        Model one collaboration (random intercepts for respondents); default: every
        collaboration together.
    random : sequence of {"respondent", "collaboration"}, optional
        Which random intercepts: ``("respondent",)``, ``("collaboration",)`` or
        ``("respondent", "collaboration")`` (respondents nested in collaborations). Default:
        ``("respondent",)`` for one collaboration, ``("respondent", "collaboration")``
        otherwise.
    wave_numbers : mapping of wave id -> float, optional
        The time of each wave (e.g. months since the first). Default: 0, 1, 2, ... in wave
        order, so the slope is the change per wave.
    waves : sequence of str, optional
        Wave order for the default ``wave_numbers`` (see :func:`wave_change`).
    ci, alpha : float
        Confidence level of the interval, and significance level of the label.

    Returns
    -------
    TrendResult
        Slope, its standard error, interval and test, the variance components, whether the
        fit converged, and the numbers of scores and groups used. NaN figures carry a
        ``reason`` (e.g. scores in fewer than 2 waves).

    Notes
    -----
    The model for score :math:`y_{ij}` of respondent *j* in collaboration *i* at wave time
    :math:`t` is

    .. math::

        y = \\beta_0 + \\beta_1 t + u_i + v_{ij} + e, \\quad u_i \\sim N(0, \\sigma_c^2),
        \\; v_{ij} \\sim N(0, \\sigma_r^2), \\; e \\sim N(0, \\sigma^2)

    with :math:`u` or :math:`v` left out as ``random`` says. A respondent's repeated answers
    share :math:`v_{ij}`, so panel members are not counted as independent. Variance
    components are estimated by restricted maximum likelihood (REML, as lme4's default).
    With a single random intercept the REML likelihood, profiled over the fixed effects and
    the residual variance, depends on :math:`\\lambda = \\sigma_u^2 / \\sigma^2` only and is
    computed from grouped sums; :math:`\\lambda` is solved to machine precision, and the
    fixed effects, variances and standard errors follow as statsmodels' ``MixedLM.fit``
    derives them from its optimum (SEs from the inverse of the negative Hessian of the
    profiled REML log-likelihood in :math:`(\\beta, \\lambda)`, not lme4's
    :math:`\\hat\\sigma^2 (X^\\top V^{-1} X)^{-1}`, which conditions on the variances and
    differs slightly in unbalanced designs; its warnings too, e.g. "The
    MLE may be on the boundary of the parameter space." when
    :math:`\\hat\\sigma_u^2 < 0.01`). MixedLM itself stops at its optimiser's tolerance, so
    its figures differ from these by about 1e-7 (slopes) to 1e-6 (p-values). With both
    random intercepts the model is fitted by ``MixedLM`` (L-BFGS, then BFGS if that does not
    converge). When the REML estimate of a single variance is
    0 (lme4's "boundary (singular) fit") the REML estimates are the ordinary least-squares
    ones with :math:`\\hat\\sigma^2 = RSS / (N - 2)`, which are given directly (statsmodels
    cannot evaluate its likelihood there) and said so in ``warnings``; the same when no
    respondent has more than one score (their variance is then not identifiable). With very
    few repeated scores the REML likelihood can have no maximum at all (it keeps rising as
    the residual variance shrinks): then no figures are given and ``reason`` says so (MixedLM
    would stop wherever its optimiser gave up). The test of :math:`\\beta_1` is
    statsmodels' Wald z test: ``z = slope / se``, ``p = 2 P(Z > |z|)``, interval
    ``slope +/- z_{(1+ci)/2} se`` (lme4 gives no p-value; lmerTest's Satterthwaite t test
    gives nearly the same with many groups). A respondent who answered about two
    collaborations has a separate random intercept in each when both random effects are
    used. Rows with a NaN score are not used (``n_total - n_obs`` of them).

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import comparable_item_sets, score_responses
    >>> from collab_stats.change import trend_model
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=3)
    >>> items = comparable_item_sets(sim.instrument, sim.instrument.version_ids)
    >>> scores = score_responses(sim.data, sim.instrument, version_items=items)
    >>> one = sim.programme.collaboration_ids[0]
    >>> fit = trend_model(scores, characteristic="PS", collaboration=one)
    >>> fit.random, fit.method, fit.n_waves
    ('respondent', 'REML', 3)

    In R (lme4 / lmerTest)::

        lmer(score ~ wave_number + (1 | respondent_id), data = one_collaboration, REML = TRUE)
        lmer(score ~ wave_number + (1 | collaboration_id / respondent_id), data = scores)
    """
    _check_scores(scores)
    _check_level("ci", ci)
    _check_level("alpha", alpha)
    characteristics = _labels(scores["characteristic"])
    check_option("characteristic", characteristic, characteristics)
    if collaboration is not None:
        check_option("collaboration", collaboration, _labels(scores["collaboration_id"]))
    key = _normalise_random(random, collaboration)
    order = _wave_order(scores, waves)
    numbers = _wave_numbers(order, wave_numbers)
    keep = (scores["characteristic"].astype(object) == characteristic).to_numpy()
    if collaboration is not None:
        keep = keep & (scores["collaboration_id"].astype(object) == collaboration).to_numpy()
    subset = scores.loc[keep]
    frame = _model_frame(subset, numbers)
    n_total = len(frame)
    frame = frame[frame["score"].notna()].reset_index(drop=True)
    return _trend_one(frame, characteristic=characteristic,
                      collaboration="" if collaboration is None else collaboration,
                      random=key, n_total=n_total, ci=ci, alpha=alpha)


def collaboration_trends(
    scores: pd.DataFrame,
    *,
    characteristics: Sequence[str] | None = None,
    wave_numbers: Mapping[str, float] | None = None,
    waves: Sequence[str] | None = None,
    ci: float = 0.95,
    alpha: float = 0.05,
    workers: MapLike | None = None,
) -> pd.DataFrame:
    """:func:`trend_model` for every collaboration and characteristic.

    Each collaboration x characteristic is its own mixed model ``score ~ wave_number`` with
    random intercepts for respondents, fitted by REML (see :func:`trend_model`); the data are
    split once and each fit works from its grouped sums, so a fit takes about 2 ms.

    Parameters
    ----------
    scores : DataFrame
        As for :func:`trend_model`.
    characteristics : sequence of str, optional
        Default: every characteristic in ``scores``.
    wave_numbers, waves, ci, alpha
        As for :func:`trend_model`.
    workers : map-like callable, optional
        Where the fits run, :data:`TREND_CHUNK` collaborations at a time (see
        :mod:`collab_stats.parallel`; e.g. ``ProcessPoolExecutor(2).map``). Default: here,
        one after another. The results are the same either way.

    Returns
    -------
    DataFrame
        One row per collaboration and characteristic with the fields of :class:`TrendResult`.

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import score_responses
    >>> from collab_stats.change import collaboration_trends
    >>> sim = simulate_programme(seed=1, n_collaborations=2, n_waves=2)
    >>> trends = collaboration_trends(score_responses(sim.data, sim.instrument),
    ...                               characteristics=["PS", "TG"])
    >>> len(trends), sorted(trends["random"].unique())
    (4, ['respondent'])

    In R, one ``lmer(score ~ wave_number + (1 | respondent_id))`` per collaboration and
    characteristic, e.g. with ``lme4::lmList``-style split-apply-combine.
    """
    _check_scores(scores)
    _check_level("ci", ci)
    _check_level("alpha", alpha)
    check_workers(workers)
    all_characteristics = _labels(scores["characteristic"])
    if characteristics is None:
        characteristics = all_characteristics
    elif isinstance(characteristics, str):
        raise ParameterError(f"characteristics must be a sequence of characteristic ids; got "
                             f"{characteristics!r}")
    for k in characteristics:
        check_option("characteristics", k, all_characteristics)
    order = _wave_order(scores, waves)
    numbers = _wave_numbers(order, wave_numbers)
    collaborations = _labels(scores["collaboration_id"])
    frame = _model_frame(scores, numbers)
    frame["c"] = _codes(scores["collaboration_id"], collaborations)
    frame["k"] = _codes(scores["characteristic"], all_characteristics)
    wanted = [all_characteristics.index(k) for k in characteristics]
    frame = frame[frame["c"].ge(0) & frame["k"].isin(wanted)]
    # sorted by collaboration (stable: each one's rows keep their order), then cut into
    # pieces of TREND_CHUNK collaborations, each piece fitted wherever ``workers`` says
    frame = frame.iloc[np.argsort(frame["c"].to_numpy(), kind="stable")]
    bounds = np.searchsorted(frame["c"].to_numpy(), np.arange(len(collaborations) + 1))
    jobs = [partial(_trends_of, frame.iloc[bounds[r.start]:bounds[r.stop]],
                    {c: collaborations[c] for c in r}, wanted, all_characteristics, ci, alpha)
            for r in split(len(collaborations), TREND_CHUNK)]
    rows = [row for piece in run_all(jobs, workers) for row in piece]
    columns = list(TrendResult.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def _trends_of(frame: pd.DataFrame, collaborations: dict[int, str], wanted: list[int],
               characteristics: list[str], ci: float, alpha: float) -> list[dict]:
    """The trend rows of some collaborations (code -> id; ``frame`` holds their rows, with
    codes ``c`` and ``k``), collaboration by collaboration, characteristic by characteristic."""
    groups = {key: part for key, part in frame.groupby(["c", "k"], sort=False)}
    rows = []
    empty = frame.iloc[:0]
    for c, collaboration in collaborations.items():
        for k in wanted:
            part = groups.get((c, k), empty)
            used = part[part["score"].notna()].reset_index(drop=True)
            result = _trend_one(used, characteristic=characteristics[k],
                                collaboration=collaboration, random=("respondent",),
                                n_total=len(part), ci=ci, alpha=alpha)
            rows.append(asdict(result))
    return rows
