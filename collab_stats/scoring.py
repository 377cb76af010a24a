"""Scoring: respondents' characteristic scores, item matrices and item response distributions.

All functions read the canonical :class:`~collab_stats.schema.SurveyData` and apply the
instrument's rules; nothing is rounded, and every figure says how many answers it used.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from ._params import check_option
from .errors import ParameterError
from .instrument.model import InstrumentFamily
from .schema import SurveyData, respondent_rows

__all__ = [
    "comparable_item_sets",
    "item_distribution",
    "item_matrix",
    "score_responses",
]

RESPONSE_OUTCOMES = ("dont_know", "not_applicable", "skipped", "not_reached")


def comparable_item_sets(family: InstrumentFamily, versions: Sequence[str]) -> dict[str, set[str]]:
    """For each version, the item ids that are comparable across all ``versions``.

    Built from the machine-readable mappings (only ``comparable: true`` chains count), for use
    as ``version_items`` in :func:`score_responses` when scores are compared across waves
    that used different instrument versions.
    """
    chains = family.comparable_items(*versions)
    return {v: {chain[v] for chain in chains.values()} for v in dict.fromkeys(versions)}


def _lookup(family: InstrumentFamily, items: pd.Index, version_items):
    """Arrays indexed [version, item code]: characteristic code (-1 = not scored), reverse."""
    characteristics = [c.id for c in family.framework.characteristics]
    n_v = len(family.versions)
    char = np.full((n_v, len(items)), -1, dtype=np.int64)
    reverse = np.zeros((n_v, len(items)), dtype=bool)
    n_items = np.zeros((n_v, len(characteristics)), dtype=np.int64)
    for v, version in enumerate(family.versions):
        allowed = None if version_items is None else set(version_items.get(version.version, ()))
        for item in version.items:
            if allowed is not None and item.id not in allowed:
                continue
            k = characteristics.index(item.characteristic)
            n_items[v, k] += 1
            code = items.get_loc(item.id) if item.id in items else -1
            if code >= 0:
                char[v, code] = k
                reverse[v, code] = item.reverse
    return characteristics, char, reverse, n_items


def score_responses(
    data: SurveyData,
    family: InstrumentFamily,
    *,
    version_items: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """Respondents' characteristic scores by the instrument's scoring rules.

    For each respondent and characteristic: reverse-keyed items are scored
    ``max + min - x``; the score is the mean of the answered items of the characteristic in
    the respondent's instrument version, provided at least ``scoring.min_answered_share`` of
    those items were answered ("don't know", "not applicable", skipped and not reached count as
    unanswered). Otherwise the score is NaN and ``reason`` is ``"too_few_items"``.

    Parameters
    ----------
    data : SurveyData
    family : InstrumentFamily
    version_items : mapping of version -> item ids, optional
        Score only these items of each version (e.g. the items comparable across the versions
        being compared: :func:`comparable_item_sets`). The minimum share then applies to the
        items used.

    Returns
    -------
    DataFrame
        One row per respondent (and wave) and characteristic, in framework order:
        ``wave_id``, ``collaboration_id``, ``respondent_id``, ``instrument_version``,
        ``characteristic``, ``n_items``, ``n_answered``, ``score`` (on the scale, 1-5),
        ``score_0_100`` (``100 (score - min) / (max - min)``), ``band`` (the instrument's
        interpretation band) and ``reason`` (``""`` or why the score is missing).

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> from collab_stats.scoring import score_responses
    >>> sim = simulate_programme(seed=1, n_collaborations=2, n_waves=1)
    >>> scores = score_responses(sim.data, sim.instrument)
    >>> len(scores) == 8 * len(sim.data.respondents)
    True
    """
    resp, ans = data.respondents, data.responses
    items = ans["item_id"].cat.categories
    characteristics, char, reverse, n_items_table = _lookup(family, items, version_items)
    K = len(characteristics)
    version_ids = pd.Index(family.version_ids)
    resp_version = version_ids.get_indexer(resp["instrument_version"].astype(object))
    if (resp_version < 0).any():
        bad = resp.loc[resp_version < 0, "instrument_version"].iloc[0]
        raise ParameterError(f"data use instrument version {bad!r}, which {family.id} does not "
                             f"have (versions: {', '.join(family.version_ids)})")
    row = respondent_rows(ans, resp)
    item_code = ans["item_id"].cat.codes.to_numpy(dtype=np.int64)
    ok = (row >= 0) & (item_code >= 0)
    v = resp_version[np.where(ok, row, 0)]
    k = np.where(ok, char[v, np.maximum(item_code, 0)], -1)
    value = ans["value"].to_numpy(dtype="float64", na_value=np.nan)
    scale = family.latest.scale
    rev = ok & reverse[v, np.maximum(item_code, 0)]
    value = np.where(rev, scale.max + scale.min - value, value)
    use = ok & (k >= 0) & ~np.isnan(value)
    cell = row[use] * K + k[use]
    size = len(resp) * K
    total = np.bincount(cell, weights=value[use], minlength=size)
    answered = np.bincount(cell, minlength=size)
    n_items = n_items_table[np.repeat(resp_version, K), np.tile(np.arange(K), len(resp))]
    min_share = np.array([ver.scoring.min_answered_share for ver in family.versions])[
        np.repeat(resp_version, K)]
    enough = (n_items > 0) & (answered >= min_share * n_items - 1e-12) & (answered > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(enough, total / np.maximum(answered, 1), np.nan)
    out = pd.DataFrame({
        column: np.repeat(resp[column].to_numpy(), K)
        for column in ("wave_id", "collaboration_id", "respondent_id", "instrument_version")
    })
    for column in ("wave_id", "collaboration_id", "respondent_id", "instrument_version"):
        out[column] = pd.Categorical(out[column], categories=resp[column].cat.categories)
    out["characteristic"] = pd.Categorical(np.tile(characteristics, len(resp)),
                                           categories=characteristics)
    out["n_items"] = n_items
    out["n_answered"] = answered
    out["score"] = score
    out["score_0_100"] = 100.0 * (score - scale.min) / (scale.max - scale.min)
    bands = family.latest.scoring.bands
    band = np.full(size, None, dtype=object)
    for b in reversed(bands):  # highest band last, so it wins
        band[score >= b.min] = b.id
    band[~np.isnan(score) & (band == None)] = bands[-1].id  # noqa: E711
    out["band"] = pd.Categorical(band, categories=[b.id for b in bands])
    out["reason"] = np.where(np.isnan(score), np.where(n_items == 0, "no_items", "too_few_items"), "")
    return out


def item_matrix(
    data: SurveyData,
    family: InstrumentFamily,
    *,
    items: Sequence[str],
    reverse: bool = True,
) -> pd.DataFrame:
    """Respondent x item values (float, NaN when missing), reverse-keyed where marked.

    The first columns identify the respondent (``wave_id``, ``collaboration_id``,
    ``respondent_id``, ``instrument_version``); one float column per item follows. Items a
    respondent's version does not have are NaN.
    """
    resp, ans = data.respondents, data.responses
    items = list(items)
    known = {i.id: i for v in family.versions for i in v.items}
    unknown = [i for i in items if i not in known]
    if unknown:
        raise ParameterError(f"items must be item ids of {family.id}; unknown: {unknown}")
    row = respondent_rows(ans, resp)
    col = pd.Index(items).get_indexer(ans["item_id"].astype(object))
    keep = (row >= 0) & (col >= 0)
    grid = np.full((len(resp), len(items)), np.nan)
    grid[row[keep], col[keep]] = ans["value"].to_numpy(dtype="float64", na_value=np.nan)[keep]
    scale = family.latest.scale
    if reverse:
        flip = np.array([known[i].reverse for i in items])
        grid[:, flip] = scale.max + scale.min - grid[:, flip]
    ids = resp[["wave_id", "collaboration_id", "respondent_id", "instrument_version"]].reset_index(drop=True)
    return pd.concat([ids, pd.DataFrame(grid, columns=items)], axis=1)


def item_distribution(
    data: SurveyData,
    family: InstrumentFamily,
    *,
    by: Sequence[str] = ("wave_id", "collaboration_id"),
) -> pd.DataFrame:
    """How each item was answered, per group: counts of every answer code and missing reason.

    Parameters
    ----------
    by : sequence of str
        Grouping columns of ``data.respondents`` (e.g. ``("wave_id",)`` for the programme,
        ``("wave_id", "collaboration_id", "sector")`` for a breakdown).

    Returns
    -------
    DataFrame
        One row per group and item: the ``by`` columns, ``item_id``, ``characteristic``,
        ``reverse``, ``n_rows`` (respondents shown the item), ``n_answered``, ``n_1`` .. ``n_5``
        (raw answer codes, as given), ``n_dont_know``, ``n_not_applicable``, ``n_skipped``,
        ``n_not_reached``, and ``favourable_share``: the share of answered rows that are
        favourable *after* reverse keying (agree or strongly agree with a positive statement,
        disagree or strongly disagree with a reverse-keyed one); NaN when nobody answered.
        ``n_rows = n_answered + n_dont_know + n_not_applicable + n_skipped + n_not_reached``.
    """
    resp, ans = data.respondents, data.responses
    for column in by:
        check_option("by", column, [c for c in resp.columns if c != "respondent_id"])
    row = respondent_rows(ans, resp)
    ok = row >= 0
    frame = resp.iloc[row[ok]][list(by)].reset_index(drop=True)
    frame["item_id"] = ans["item_id"].to_numpy()[ok]
    value = ans["value"].to_numpy(dtype="float64", na_value=np.nan)[ok]
    reason = ans["missing_reason"].astype(object).to_numpy()[ok]
    scale = family.latest.scale
    codes = [o.code for o in scale.options]
    for code in codes:
        frame[f"n_{code}"] = (value == code).astype(np.int64)
    for r in RESPONSE_OUTCOMES:
        frame[f"n_{r}"] = (reason == r).astype(np.int64)
    frame["n_rows"] = 1
    keys = [*by, "item_id"]
    counts = frame.groupby(keys, observed=True, sort=True).sum(numeric_only=True).reset_index()
    counts["n_answered"] = counts[[f"n_{c}" for c in codes]].sum(axis=1)
    info = {i.id: i for v in family.versions for i in v.items}
    counts["characteristic"] = counts["item_id"].astype(object).map(lambda i: info[i].characteristic)
    counts["reverse"] = counts["item_id"].astype(object).map(lambda i: info[i].reverse).astype(bool)
    favourable = set(scale.favourable)
    unfavourable_mirror = {scale.max + scale.min - c for c in favourable}
    fav_pos = counts[[f"n_{c}" for c in codes if c in favourable]].sum(axis=1)
    fav_rev = counts[[f"n_{c}" for c in codes if c in unfavourable_mirror]].sum(axis=1)
    n_fav = np.where(counts["reverse"], fav_rev, fav_pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        counts["favourable_share"] = np.where(counts["n_answered"] > 0,
                                              n_fav / counts["n_answered"], np.nan)
    ordered = [*by, "item_id", "characteristic", "reverse", "n_rows", "n_answered",
               *[f"n_{c}" for c in codes], *[f"n_{r}" for r in RESPONSE_OUTCOMES],
               "favourable_share"]
    return counts[ordered]
