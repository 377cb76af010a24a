"""The benchmark tables for a whole programme in one call, with disclosure control applied.

:func:`benchmark_programme` composes the single-topic modules (:mod:`.summaries`,
:mod:`.disclosure`, :mod:`.peers`, :mod:`.comparison`, :mod:`.change`, :mod:`.value_modes`,
:mod:`.network`) into the tables the reports and data downloads show. Every figure that
describes a collaboration, a sub-group or an item is suppressed when it rests on fewer than
the disclosure threshold of respondents; more collaborations are hidden where the wave's
published total would otherwise give a hidden one away (complementary suppression); hidden
collaborations are left out of everything computed across collaborations (peer
distributions, funnel limits, profiles, Welch's ANOVA, Kruskal-Wallis, the programme's
random-slope model); and the tables returned have passed the publication gate
(:func:`collab_stats.publication.publish_tables`, where the rule is written down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._params import check_number, check_option
from .change import collaboration_trends, wave_change
from .comparison import kruskal, welch_anova
from .disclosure import breakdown, complementary_suppression, suppress
from .instrument.model import InstrumentFamily
from .network import network_measures, sector_ties
from .parallel import MapLike, check_workers
from .peers import PEER_SETS, peer_benchmarks, profile
from .programme import Programme
from .psychometrics import wave_versions
from .publication import KEY_COLUMNS, publish_tables
from .schema import SurveyData, respondent_rows
from .scoring import comparable_item_sets, item_distribution, score_responses
from .slopes import collaboration_slopes
from .summaries import (
    characteristic_summaries,
    favourable_by_characteristic,
    item_summaries,
    partner_weights,
    response_rates,
)
from .value_modes import declared_match, main_mode_agreement, value_mode_distribution
from .verdicts import characteristic_verdicts, item_peer_distribution

__all__ = ["ProgrammeBenchmark", "benchmark_programme", "hidden_cells"]

SUMMARY_VALUES = ("mean", "sd", "se", "df", "ci_low", "ci_high", "sum_weights", "deff", "n_eff",
                  "favourable_respondent_share", "band", "n_total", "reason")
#: A collaboration cell: one characteristic of one collaboration in one wave.
CELL = ("wave_id", "collaboration_id", "characteristic")
#: A collaboration in one wave.
WAVE_CELL = ("wave_id", "collaboration_id")


@dataclass(frozen=True)
class ProgrammeBenchmark:
    """Benchmark tables for a programme, disclosure control applied.

    Attributes
    ----------
    threshold : int
        Minimum number of respondents behind any figure shown about a collaboration, a
        sub-group or an item.
    weighting : str
        ``"none"`` or ``"partner_balanced"``.
    summaries : DataFrame
        Wave x collaboration x characteristic: n, mean, sd, se, 95% CI (with design effect and
        effective n when weighted), band; ``suppressed`` with its reason.
    favourable : DataFrame
        Wave x collaboration x characteristic: share of favourable item answers.
    items : DataFrame
        Wave x collaboration x item: answer shares p_1..p_5, favourable and don't-know shares.
    response_rates : DataFrame
        Wave x collaboration: respondents, invited and response rate; below the threshold
        the respondent counts and the rate are suppressed (the rate times the invited number
        would give the count), the invited number stays. Complementary suppression per wave
        (the wave's respondents are published), shared with the other wave x collaboration
        tables.
    peers : DataFrame
        Wave x collaboration x characteristic x peer set, for the shown collaborations only:
        peer median, quartiles, best, worst, percentile rank, funnel limits at 95% and 99.8%,
        comparison and effect size d, all computed from shown collaborations.
    profile : DataFrame
        Relative strengths and areas to develop, against the collaboration's own mean and
        against the peer median of all collaborations (the size of each difference; which
        characteristics are called strengths is decided in ``verdicts``, so the ``label`` of
        :func:`~collab_stats.peers.profile` is left out).
    verdicts : DataFrame
        The one table of verdicts every report reads
        (:func:`~collab_stats.verdicts.characteristic_verdicts`): per wave x collaboration x
        characteristic, against each peer set (the 95% CI against the peer median: higher,
        in line, lower; strengths and areas to develop among the significant ones) and over
        time (improved, no clear change, declined).
    item_peers : DataFrame
        Wave x item: worst, median and best favourable share of the shown collaborations
        (:func:`~collab_stats.verdicts.item_peer_distribution`).
    comparison : DataFrame
        Wave x characteristic: Welch ANOVA (omega squared) and Kruskal-Wallis across the
        *shown* collaborations of that wave and characteristic (hidden ones are left out:
        with them, the statistics could be solved for a hidden collaboration's n, mean and
        sd), p-values adjusted by Benjamini-Hochberg across characteristics.
    change : DataFrame
        Collaboration x characteristic x wave: change since the previous wave and since the
        baseline, with CI, test, plain label and minimum detectable change. Between two waves
        of the same instrument version on every item (the scores of ``summaries``:
        ``items = "all"``); across a version change on the items comparable across the
        versions (``items = "comparable"``, the others named in ``items_left_out``).
    trends : DataFrame
        Collaboration x characteristic: the slope per wave across all waves from a linear
        mixed model (random intercepts for respondents, REML), on comparable items; empty
        when not requested or with fewer than three waves.
    programme_slopes : DataFrame
        One row per characteristic: the random-slope model ``score ~ wave + (wave |
        collaboration)`` (plus a respondent intercept where panel respondents exist) over all
        collaborations and waves, on comparable items: the programme's average change per wave
        with its interval, the spread of collaborations' slopes, the likelihood-ratio test of
        that spread and a plain ``verdict`` (:func:`~collab_stats.slopes.collaboration_slopes`);
        empty when not requested or with fewer than three waves. Fitted on the shown
        collaboration cells only (a hidden wave of a collaboration is left out), so no
        hidden figure enters it.
    collaboration_slopes : DataFrame
        Characteristic x collaboration: each collaboration's own slope (fixed slope plus its
        conditional mode) with its interval, for a caterpillar plot; suppressed (NaN, with
        the reason) unless every wave of the collaboration reaches the threshold.
    value_modes, main_mode, declared_match : DataFrame
        Ways of creating value: shares choosing each, agreement on the main way, and the
        match with what the collaboration declared.
    network : DataFrame
        Wave x collaboration: connections across sectors (density, cross-sector share, E-I
        index, centralisation, isolated partners).
    sector_ties : DataFrame
        Wave x collaboration x ordered sector pair: ties between and within sectors (the
        connection map, :func:`~collab_stats.network.sector_tie_matrix`), for the networks
        shown in ``network`` only (suppressed networks have no rows).
    breakdowns : DataFrame
        Characteristic summaries by sector and by role (``breakdown`` column), with primary and
        secondary suppression.
    comparable_items : dict
        Version -> item ids used for change over time.
    """

    threshold: int
    weighting: str
    summaries: pd.DataFrame
    favourable: pd.DataFrame
    items: pd.DataFrame
    response_rates: pd.DataFrame
    peers: pd.DataFrame
    profile: pd.DataFrame
    comparison: pd.DataFrame
    change: pd.DataFrame
    trends: pd.DataFrame
    value_modes: pd.DataFrame
    main_mode: pd.DataFrame
    declared_match: pd.DataFrame
    network: pd.DataFrame
    breakdowns: pd.DataFrame
    comparable_items: dict
    sector_ties: pd.DataFrame = field(default_factory=pd.DataFrame)
    programme_slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    collaboration_slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    item_peers: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (for data downloads)."""
        return {name: getattr(self, name) for name in (
            "summaries", "favourable", "items", "response_rates", "peers", "profile",
            "comparison", "change", "trends", "value_modes", "main_mode", "declared_match", "network",
            "sector_ties", "breakdowns", "programme_slopes", "collaboration_slopes", "verdicts",
            "item_peers")}


def benchmark_programme(
    data: SurveyData,
    family: InstrumentFamily,
    programme: Programme,
    *,
    threshold: int | None = None,
    weighting: str = "none",
    peer_sets: Sequence[str] = PEER_SETS,
    min_peers: int = 5,
    invariance_supported: bool | None = None,
    trends: bool = True,
    ci: float = 0.95,
    workers: MapLike | None = None,
) -> ProgrammeBenchmark:
    """All benchmark and change tables for a programme, with disclosure control.

    Parameters
    ----------
    data : SurveyData
    family : InstrumentFamily
    programme : Programme
    threshold : int, optional
        Disclosure threshold; default: the programme's ``disclosure_threshold`` (10).
    weighting : {"none", "partner_balanced"}
        ``partner_balanced`` makes every partner organisation count equally within a
        collaboration; means, design effects and effective n then use the weights.
    peer_sets : sequence of str
        Peer comparisons to compute (``all``, ``peer_group``, ``type``, ``region``,
        ``main_value_mode``).
    min_peers : int
        Peer sets with fewer unsuppressed collaborations get no benchmark (NaN with reason).
    invariance_supported : bool, optional
        Whether scalar invariance across waves was supported (from
        :func:`collab_stats.psychometrics.programme_psychometrics`); False adds a caveat to
        every change.
    trends : bool
        Fit the mixed-model trend of every collaboration and characteristic (one model each,
        a few tens of milliseconds per fit; turn off for very large programmes).
    ci : float
        Level of the confidence intervals.
    workers : map-like callable, optional
        Where the per-collaboration trend fits run (see :mod:`collab_stats.parallel`; e.g.
        ``ProcessPoolExecutor(2).map``); default: here. The tables are the same either way.

    Notes
    -----
    Scores for a wave use every item of its instrument version; a change between two waves of
    the same version uses the same scores, a change across a version change and the trends
    use only the items that the version mappings mark comparable across the versions.
    Suppression: a collaboration's figures for a wave are hidden when fewer than
    ``threshold`` respondents have a score (per characteristic); a change is hidden when
    either wave is hidden; a trend or a collaboration's slope when any wave is; items when
    fewer than ``threshold`` answered; sub-groups by sector and role get secondary
    suppression so that no hidden cell can be derived from the collaboration total.
    Because each wave's total is published (technical report, ingest summary), the hidden
    collaborations of a wave x characteristic (and of a wave, for response rates, ways of
    creating value and networks; of a wave x item, for items) must together have at least
    ``threshold`` respondents and be at least two: the smallest shown collaborations are
    hidden as well (:func:`hidden_cells`), in every table about those cells.
    Everything computed across collaborations - Welch's ANOVA and Kruskal-Wallis
    (``comparison``), peer distributions and funnel limits, profiles, the programme's
    random-slope model - uses the shown cells only. The tables returned have passed
    :func:`~collab_stats.publication.publish_tables`: every hidden row keeps only its keys
    and a plain reason, and the tables are checked for anything that could still be worked
    out (:class:`~collab_stats.errors.DisclosureError` if so).
    """
    threshold = check_number("threshold", programme.disclosure_threshold if threshold is None
                             else threshold, low=1, integer=True)
    check_option("weighting", weighting, ("none", "partner_balanced"))
    check_workers(workers)
    versions = wave_versions(data)
    bands = family.latest.scoring
    scores = score_responses(data, family)
    weights = None
    if weighting != "none":
        per_respondent = partner_weights(data.respondents, scheme=weighting)
        weights = per_respondent[respondent_rows(scores, data.respondents)]

    raw = characteristic_summaries(scores, weights=weights, ci=ci, bands=bands)
    distribution = item_distribution(data, family)
    raw_favourable = favourable_by_characteristic(distribution)
    raw_rates = response_rates(data.respondents, programme)
    hidden, hidden_waves = hidden_cells(raw, raw_rates, threshold=threshold,
                                        favourable=raw_favourable)

    in_hidden = _isin(raw, CELL, hidden)
    summaries = suppress(raw, count="n", threshold=threshold, values=SUMMARY_VALUES,
                         secondary=in_hidden)
    shown = raw[~in_hidden]
    peers = peer_benchmarks(shown, programme, peer_sets=peer_sets, min_peers=min_peers)
    # Which characteristics are strengths is decided once, in ``verdicts``; the profile's own
    # rule (the top two by d, significant or not) would contradict it, so it is not kept.
    strengths = profile(shown, peers[peers["peer_set"] == "all"]).drop(columns="label")

    favourable = _suppress_linked(raw_favourable, hidden, count="n_respondents",
                                  by=("wave_id", "characteristic"), threshold=threshold)
    items = _suppress_linked(item_summaries(distribution), hidden, count="n_answered",
                             by=("wave_id", "item_id"), threshold=threshold)

    # Between-collaboration tests on the shown cells only: with a hidden collaboration in,
    # Welch's F, df2 and eta squared could be solved for its n, mean and sd.
    shown_scores = scores[~_isin(scores, CELL, hidden)]
    comparison = welch_anova(shown_scores).merge(
        kruskal(shown_scores), on=["wave_id", "characteristic"], suffixes=("_welch", "_kruskal"))

    change, trend_table, slopes = _change(data, family, versions, invariance_supported, ci,
                                          threshold, raw, trends, hidden, workers)

    def by_wave(table: pd.DataFrame, count: str) -> pd.DataFrame:
        return suppress(table, count=count, threshold=threshold, values=_figures(table, count),
                        secondary=_isin(table, WAVE_CELL, hidden_waves))

    modes = by_wave(value_mode_distribution(data, programme), "n_answered")
    main = by_wave(main_mode_agreement(data, programme), "n_answered")
    match = by_wave(declared_match(data, programme), "n_answered")
    network = by_wave(network_measures(data, programme), "n_respondents")
    rates = suppress(raw_rates, count="n", threshold=threshold,
                     values=("n_completed", "response_rate", "reason"),
                     secondary=_isin(raw_rates, WAVE_CELL, hidden_waves))
    breakdowns = pd.concat([
        breakdown(scores, data.respondents, by=by, threshold=threshold,
                  weights=None if weighting == "none" else weighting, ci=ci, bands=bands)
        .rename(columns={by: "subgroup"}).assign(breakdown=by)
        for by in ("sector", "role")
    ], ignore_index=True)
    # Every sub-group cell of a hidden collaboration cell is hidden too.
    breakdowns = suppress(breakdowns, count="n", threshold=threshold,
                          values=_figures(breakdowns, "n"),
                          secondary=_isin(breakdowns, CELL, hidden))
    verdicts = characteristic_verdicts(summaries, peers, change, trend_table,
                                       trend_wave=list(versions)[-1])
    tables = {
        "verdicts": verdicts, "item_peers": item_peer_distribution(items),
        "summaries": summaries, "favourable": favourable, "items": items,
        "response_rates": rates, "peers": peers, "profile": strengths,
        "comparison": comparison, "change": change, "trends": trend_table,
        "value_modes": modes, "main_mode": main, "declared_match": match, "network": network,
        "sector_ties": _sector_ties(data, programme, network), "breakdowns": breakdowns,
        "programme_slopes": slopes[0], "collaboration_slopes": slopes[1],
    }
    return ProgrammeBenchmark(
        threshold=threshold, weighting=weighting,
        comparable_items={v: sorted(ids) for v, ids in comparable_item_sets(
            family, list(dict.fromkeys(versions.values()))).items()},
        **publish_tables(tables, threshold=threshold),
    )


def programme_hidden_cells(data: SurveyData, family: InstrumentFamily, programme: Programme, *,
                           threshold: int | None = None) -> tuple[pd.MultiIndex, pd.MultiIndex]:
    """The cells :func:`benchmark_programme` hides, from the data (:func:`hidden_cells` on the
    unsuppressed summaries, favourable shares and response rates), for analyses outside the
    benchmark that must leave the same collaborations out (e.g. the aggregation statistics
    of :func:`~collab_stats.psychometrics.programme_psychometrics`)."""
    threshold = check_number("threshold", programme.disclosure_threshold if threshold is None
                             else threshold, low=1, integer=True)
    summaries = characteristic_summaries(score_responses(data, family))
    favourable = favourable_by_characteristic(item_distribution(data, family))
    rates = response_rates(data.respondents, programme)
    return hidden_cells(summaries, rates, threshold=threshold, favourable=favourable)


def hidden_cells(
    summaries: pd.DataFrame,
    rates: pd.DataFrame,
    *,
    threshold: int,
    favourable: pd.DataFrame | None = None,
) -> tuple[pd.MultiIndex, pd.MultiIndex]:
    """The collaboration cells and collaboration-waves to hide, primary and complementary.

    Parameters
    ----------
    summaries : DataFrame
        Characteristic summaries before suppression (``wave_id``, ``collaboration_id``,
        ``characteristic``, ``n``).
    rates : DataFrame
        Response rates before suppression (``wave_id``, ``collaboration_id``, ``n``).
    threshold : int
        The disclosure threshold.
    favourable : DataFrame, optional
        Favourable shares before suppression (the cells' ``n_respondents``): a cell below the
        threshold there is hidden everywhere too.

    Returns
    -------
    (MultiIndex, MultiIndex)
        The hidden ``(wave_id, collaboration_id, characteristic)`` cells and the hidden
        ``(wave_id, collaboration_id)`` pairs, as text.

    Notes
    -----
    Primary: a cell with fewer than ``threshold`` respondents with a score (or favourable
    answers), a collaboration-wave with fewer than ``threshold`` respondents. Then, until
    nothing changes: a hidden collaboration-wave hides all its cells; complementary
    suppression (:func:`~collab_stats.disclosure.complementary_suppression`) per wave x
    characteristic on the cells' counts; a collaboration-wave whose cells are all hidden is
    hidden; complementary suppression per wave on the respondent counts. The hidden sets
    only grow, so this ends; in the result, every wave (x characteristic) has no hidden
    collaboration, or at least two that together have no respondents or at least
    ``threshold``, or nothing shown.
    """
    cells = _text_keys(summaries, CELL)
    n_cells = summaries["n"].to_numpy(dtype="float64", na_value=np.nan)
    hide = ~(n_cells >= threshold)
    if favourable is not None:
        small = favourable[~(favourable["n_respondents"].to_numpy(dtype="float64",
                                                                  na_value=np.nan) >= threshold)]
        hide |= cells.isin(_text_keys(small, CELL))
    waves = _text_keys(rates, WAVE_CELL)
    hide_waves = ~(rates["n"].to_numpy(dtype="float64", na_value=np.nan) >= threshold)
    cell_frame = pd.DataFrame({"wave_id": cells.get_level_values(0),
                               "characteristic": cells.get_level_values(2), "n": n_cells})
    wave_frame = pd.DataFrame({"wave_id": waves.get_level_values(0),
                               "n": rates["n"].to_numpy(dtype="float64", na_value=np.nan)})
    cell_wave = cells.droplevel(2)
    while True:
        hide = hide | cell_wave.isin(waves[hide_waves])
        hide = hide | complementary_suppression(
            cell_frame, by=("wave_id", "characteristic"), threshold=threshold,
            hidden=hide).to_numpy()
        whole = pd.Series(hide).groupby([cell_wave.get_level_values(0),
                                         cell_wave.get_level_values(1)]).all()
        wholly_hidden = whole[whole].index
        more = hide_waves | waves.isin(wholly_hidden)
        more = more | complementary_suppression(wave_frame, by=("wave_id",),
                                                threshold=threshold, hidden=more).to_numpy()
        if (more == hide_waves).all() and not (cell_wave.isin(waves[more]) & ~hide).any():
            break
        hide_waves = more
    return cells[hide], waves[hide_waves]


def _text_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame[c].astype(object).astype(str).to_numpy()
                                      for c in columns], names=list(columns))


def _isin(frame: pd.DataFrame, columns: Sequence[str], keys: pd.MultiIndex) -> np.ndarray:
    """Whether each row's ``columns`` (as text) are among ``keys``."""
    if not len(frame):
        return np.zeros(0, dtype=bool)
    return np.asarray(_text_keys(frame, columns).isin(keys), dtype=bool)


def _figures(table: pd.DataFrame, count: str) -> list[str]:
    """Every column of a table that is not a key, the count or a suppression column."""
    return [c for c in table.columns if c not in KEY_COLUMNS and c != count]


def _suppress_linked(table: pd.DataFrame, hidden: pd.MultiIndex, *, count: str,
                     by: Sequence[str], threshold: int) -> pd.DataFrame:
    """Suppress a table about collaboration cells: below the threshold, in a hidden cell,
    or hidden by complementary suppression within ``by`` (whose total is published)."""
    inherited = _isin(table, CELL, hidden)
    extra = complementary_suppression(table, by=by, count=count, threshold=threshold,
                                      hidden=inherited).to_numpy()
    return suppress(table, count=count, threshold=threshold, values=_figures(table, count),
                    secondary=inherited | extra)


def _sector_ties(data: SurveyData, programme: Programme, network: pd.DataFrame) -> pd.DataFrame:
    """The sector x sector tie counts of every network shown (not suppressed, with ties)."""
    shown = network[~network["suppressed"].astype(bool) & network["n_ties"].notna()]
    return sector_ties(data, programme, shown[["wave_id", "collaboration_id"]])


def _left_out(family: InstrumentFamily, versions: Sequence[str],
              comparable: dict[str, set[str]]) -> dict[str, str]:
    """Per characteristic: the items of ``versions`` that are not comparable, as
    ``"item (version v)"`` text."""
    left: dict[str, list[str]] = {}
    for v in dict.fromkeys(versions):
        for item in family.version(v).items:
            if item.id not in comparable.get(v, set()):
                left.setdefault(item.characteristic, []).append(f"{item.id} (version {v})")
    return {k: "; ".join(items) for k, items in left.items()}


def _same_scores_change(data, family, versions, comparable, comparable_scores, *, ci,
                        invariance_supported) -> pd.DataFrame:
    """Change since the previous wave and since the baseline, on the scores the rest of the
    report uses wherever it can: between two waves of the same instrument version, on every
    item (the wave's own scores); across a version change, on the comparable items only
    (``items = "comparable"``, with the items left out named in ``items_left_out``)."""
    waves = list(versions)
    full = score_responses(data, family)
    keys = ["collaboration_id", "characteristic", "wave_id", "reference_wave_id"]
    tables = []
    for compare in ("previous", "baseline"):
        same = wave_change(full, compare=compare, waves=waves, ci=ci,
                           invariance_supported=invariance_supported)
        across = wave_change(comparable_scores, compare=compare, waves=waves, ci=ci,
                             invariance_supported=invariance_supported)
        for table, kind in ((same, "all"), (across, "comparable")):
            same_version = np.array([versions.get(str(a)) == versions.get(str(b)) for a, b in
                                     zip(table["wave_id"], table["reference_wave_id"],
                                         strict=True)], dtype=bool)
            keep = same_version if kind == "all" else ~same_version
            tables.append(table[keep].assign(items=kind))
    change = pd.concat(tables, ignore_index=True)
    change = change.drop_duplicates(keys)  # 2nd wave: previous == baseline
    left_out = {}
    for wave, reference in change.loc[change["items"] == "comparable",
                                      ["wave_id", "reference_wave_id"]].drop_duplicates(
                                          ).itertuples(index=False):
        left_out[(str(wave), str(reference))] = _left_out(
            family, [versions[str(reference)], versions[str(wave)]], comparable)
    change["items_left_out"] = [
        left_out.get((str(w), str(r)), {}).get(str(k), "") if kind == "comparable" else ""
        for w, r, k, kind in zip(change["wave_id"], change["reference_wave_id"],
                                 change["characteristic"], change["items"], strict=True)]
    order = {w: i for i, w in enumerate(waves)}
    change = change.assign(_c=change["comparison"].map({"previous": 0, "baseline": 1}),
                           _w=change["wave_id"].astype(str).map(order))
    return change.sort_values(["_c", "collaboration_id", "characteristic", "_w"],
                              kind="stable").drop(columns=["_c", "_w"]).reset_index(drop=True)


def _change(data, family, versions, invariance_supported, ci, threshold, summaries, trends,
            hidden, workers=None):
    """Change between waves and mixed-model trends, on comparable items, suppressed; a change
    is hidden when either of its waves is hidden, a trend or slope when any wave is."""
    no_slopes = (pd.DataFrame(), pd.DataFrame())
    if len(versions) < 2:
        return pd.DataFrame(), pd.DataFrame(), no_slopes
    comparable = comparable_item_sets(family, list(dict.fromkeys(versions.values())))
    scores = score_responses(data, family, version_items=comparable)
    change = _same_scores_change(data, family, versions, comparable, scores, ci=ci,
                                 invariance_supported=invariance_supported)
    change["n_smaller"] = np.fmin(change["n_1"], change["n_2"])
    values = ("mean_1", "mean_2", "sd_1", "sd_2", "change", "se", "ci_low", "ci_high", "t",
              "df", "p_value", "label", "test", "n_paired", "n_independent_1",
              "n_independent_2", "n_1", "n_2", "n_missing_1", "n_missing_2", "r_paired", "mdc")
    wave_hidden = _isin(change, CELL, hidden)
    reference_hidden = _isin(change.rename(columns={"wave_id": "_wave",
                                                    "reference_wave_id": "wave_id"}),
                             CELL, hidden)
    change = suppress(change, count="n_smaller", threshold=threshold, values=values,
                      secondary=wave_hidden | reference_hidden)
    if not trends or len(versions) < 3:
        return change, pd.DataFrame(), no_slopes
    trend_table = collaboration_trends(scores, waves=list(versions), ci=ci, workers=workers)
    # A trend is shown only when every wave behind it reaches the threshold.
    smallest = (summaries.groupby(["collaboration_id", "characteristic"], observed=True)["n"]
                .min().rename("n_smallest_wave").reset_index())
    smallest["collaboration_id"] = smallest["collaboration_id"].astype(str)
    smallest["characteristic"] = smallest["characteristic"].astype(str)
    trend_table["collaboration_id"] = trend_table["collaboration_id"].astype(str)
    trend_table["characteristic"] = trend_table["characteristic"].astype(str)
    trend_table = trend_table.merge(smallest, on=["collaboration_id", "characteristic"], how="left")
    trend_values = ("slope", "se", "ci_low", "ci_high", "z", "p_value", "label", "intercept",
                    "sd_respondent", "sd_collaboration", "sd_residual", "n_obs", "n_total",
                    "n_groups", "n_respondents")
    # A trend or a collaboration's slope is hidden when any of its waves is hidden.
    any_hidden = pd.MultiIndex.from_arrays([hidden.get_level_values(1),
                                            hidden.get_level_values(2)]).unique()
    pairs = ["collaboration_id", "characteristic"]
    # The programme's random-slope model over the shown cells only.
    slopes = collaboration_slopes(scores[~_isin(scores, CELL, hidden)], waves=list(versions),
                                  ci=ci)
    by_collab = slopes.collaborations.astype({"collaboration_id": str, "characteristic": str})
    # one row per characteristic x collaboration, also for those with no shown cell
    every = trend_table[["characteristic", "collaboration_id"]].drop_duplicates()
    by_collab = every.merge(by_collab, on=["characteristic", "collaboration_id"], how="left")
    by_collab = by_collab.merge(smallest, on=["collaboration_id", "characteristic"], how="left")
    by_collab = suppress(by_collab, count="n_smallest_wave", threshold=threshold,
                         values=tuple(c for c in by_collab.columns if c not in (
                             "characteristic", "collaboration_id", "n_smallest_wave")),
                         secondary=_isin(by_collab, pairs, any_hidden))
    return (change, suppress(trend_table, count="n_smallest_wave", threshold=threshold,
                             values=trend_values,
                             secondary=_isin(trend_table, pairs, any_hidden)),
            (slopes.summary, by_collab))
