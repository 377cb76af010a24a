"""The benchmark tables for a whole programme in one call, with disclosure control applied.

:func:`benchmark_programme` composes the single-topic modules (:mod:`.summaries`,
:mod:`.disclosure`, :mod:`.peers`, :mod:`.comparison`, :mod:`.change`, :mod:`.value_modes`,
:mod:`.network`) into the tables the reports and data downloads show. Every figure that
describes a collaboration, a sub-group or an item is suppressed when it rests on fewer than
the disclosure threshold of respondents; suppressed collaborations are also left out of the
peer distributions, so no report can show or imply their figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._params import check_number, check_option
from .change import collaboration_trends, wave_change
from .comparison import kruskal, welch_anova
from .disclosure import breakdown, suppress
from .instrument.model import InstrumentFamily
from .network import network_measures, sector_ties
from .peers import PEER_SETS, peer_benchmarks, profile
from .programme import Programme
from .psychometrics import wave_versions
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

__all__ = ["ProgrammeBenchmark", "benchmark_programme"]

SUMMARY_VALUES = ("mean", "sd", "se", "df", "ci_low", "ci_high", "sum_weights", "deff", "n_eff",
                  "favourable_respondent_share", "band", "n_total")


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
        would give the count), the invited number stays.
    peers : DataFrame
        Wave x collaboration x characteristic x peer set: peer median, quartiles, best, worst,
        percentile rank, funnel limits at 95% and 99.8%, comparison and effect size d.
    profile : DataFrame
        Relative strengths and areas to develop, against the collaboration's own mean and
        against the peer median of all collaborations.
    comparison : DataFrame
        Wave x characteristic: Welch ANOVA (omega squared) and Kruskal-Wallis across
        collaborations, p-values adjusted by Benjamini-Hochberg across characteristics.
    change : DataFrame
        Collaboration x characteristic x wave: change since the previous wave and since the
        baseline, with CI, test, plain label and minimum detectable change, on the items
        comparable across the instrument versions involved.
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
        empty when not requested or with fewer than three waves. A model over the whole
        programme's respondents: no collaboration's own figure can be read from it.
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

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (for data downloads)."""
        return {name: getattr(self, name) for name in (
            "summaries", "favourable", "items", "response_rates", "peers", "profile",
            "comparison", "change", "trends", "value_modes", "main_mode", "declared_match", "network",
            "sector_ties", "breakdowns", "programme_slopes", "collaboration_slopes")}


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

    Notes
    -----
    Scores for a wave use every item of its instrument version; change over time uses only
    the items that the version mappings mark comparable across all versions in the data.
    Suppression: a collaboration's figures for a wave are hidden when fewer than
    ``threshold`` respondents have a score (per characteristic); a change is hidden when
    either wave is below it; items when fewer than ``threshold`` answered; sub-groups by
    sector and role get secondary suppression so that no hidden cell can be derived from the
    collaboration total.
    """
    threshold = check_number("threshold", programme.disclosure_threshold if threshold is None
                             else threshold, low=1, integer=True)
    check_option("weighting", weighting, ("none", "partner_balanced"))
    versions = wave_versions(data)
    bands = family.latest.scoring
    scores = score_responses(data, family)
    weights = None
    if weighting != "none":
        per_respondent = partner_weights(data.respondents, scheme=weighting)
        weights = per_respondent[respondent_rows(scores, data.respondents)]

    raw = characteristic_summaries(scores, weights=weights, ci=ci, bands=bands)
    summaries = suppress(raw, count="n", threshold=threshold, values=SUMMARY_VALUES)
    shown = raw[raw["n"] >= threshold]
    peers = peer_benchmarks(shown, programme, peer_sets=peer_sets, min_peers=min_peers)
    strengths = profile(shown, peers[peers["peer_set"] == "all"])

    distribution = item_distribution(data, family)
    favourable = suppress(favourable_by_characteristic(distribution), count="n_respondents",
                          threshold=threshold, values=("n_favourable", "n_answered", "n_rows",
                                                       "n_dont_know", "favourable_share"))
    items = suppress(item_summaries(distribution), count="n_answered", threshold=threshold,
                     values=("p_1", "p_2", "p_3", "p_4", "p_5", "favourable_share",
                             "dont_know_share", "answered_share", "n_rows"))

    comparison = welch_anova(scores).merge(
        kruskal(scores), on=["wave_id", "characteristic"], suffixes=("_welch", "_kruskal"))

    change, trend_table, slopes = _change(data, family, versions, invariance_supported, ci,
                                          threshold, raw, trends)

    modes = suppress(value_mode_distribution(data, programme), count="n_answered",
                     threshold=threshold, values=("n_chosen", "share"))
    main = suppress(main_mode_agreement(data, programme), count="n_answered",
                    threshold=threshold, values=("modal_mode", "modal_share", "declared_share",
                                                 "declared_is_modal", "observed_agreement",
                                                 "chance_agreement", "kappa"))
    match = suppress(declared_match(data, programme), count="n_answered", threshold=threshold,
                     values=("perceived_modes", "missing_modes", "extra_modes", "n_perceived",
                             "n_missing", "n_extra", "jaccard", "match"))
    network = suppress(network_measures(data, programme), count="n_respondents",
                       threshold=threshold,
                       values=("n_respondents_naming", "n_nominations", "n_ties", "density",
                               "n_cross_sector_ties", "cross_sector_share", "ei_index",
                               "max_degree", "centralisation", "n_isolates", "isolates"))
    breakdowns = pd.concat([
        breakdown(scores, data.respondents, by=by, threshold=threshold,
                  weights=None if weighting == "none" else weighting, ci=ci, bands=bands)
        .rename(columns={by: "subgroup"}).assign(breakdown=by)
        for by in ("sector", "role")
    ], ignore_index=True)
    return ProgrammeBenchmark(
        threshold=threshold, weighting=weighting, summaries=summaries, favourable=favourable,
        items=items, peers=peers, sector_ties=_sector_ties(data, programme, network),
        response_rates=suppress(response_rates(data.respondents, programme), count="n",
                                threshold=threshold, values=("n_completed", "response_rate",
                                                             "reason")),
        profile=strengths, comparison=comparison, change=change, trends=trend_table,
        programme_slopes=slopes[0], collaboration_slopes=slopes[1],
        value_modes=modes,
        main_mode=main, declared_match=match, network=network, breakdowns=breakdowns,
        comparable_items={v: sorted(ids) for v, ids in comparable_item_sets(
            family, list(dict.fromkeys(versions.values()))).items()},
    )


def _sector_ties(data: SurveyData, programme: Programme, network: pd.DataFrame) -> pd.DataFrame:
    """The sector x sector tie counts of every network shown (not suppressed, with ties)."""
    shown = network[~network["suppressed"].astype(bool) & network["n_ties"].notna()]
    return sector_ties(data, programme, shown[["wave_id", "collaboration_id"]])


def _change(data, family, versions, invariance_supported, ci, threshold, summaries, trends):
    """Change between waves and mixed-model trends, on comparable items, suppressed."""
    no_slopes = (pd.DataFrame(), pd.DataFrame())
    if len(versions) < 2:
        return pd.DataFrame(), pd.DataFrame(), no_slopes
    comparable = comparable_item_sets(family, list(dict.fromkeys(versions.values())))
    scores = score_responses(data, family, version_items=comparable)
    tables = [
        wave_change(scores, compare=compare, waves=list(versions), ci=ci,
                    invariance_supported=invariance_supported)
        for compare in ("previous", "baseline")
    ]
    change = pd.concat(tables, ignore_index=True)
    change = change.drop_duplicates(["collaboration_id", "characteristic", "wave_id",
                                     "reference_wave_id"])  # 2nd wave: previous == baseline
    change["n_smaller"] = np.fmin(change["n_1"], change["n_2"])
    values = ("mean_1", "mean_2", "sd_1", "sd_2", "change", "se", "ci_low", "ci_high", "t",
              "df", "p_value", "label", "test", "n_paired", "n_independent_1",
              "n_independent_2", "n_1", "n_2", "n_missing_1", "n_missing_2", "r_paired", "mdc")
    change = suppress(change, count="n_smaller", threshold=threshold, values=values)
    if not trends or len(versions) < 3:
        return change, pd.DataFrame(), no_slopes
    trend_table = collaboration_trends(scores, waves=list(versions), ci=ci)
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
    slopes = collaboration_slopes(scores, waves=list(versions), ci=ci)
    by_collab = slopes.collaborations.astype({"collaboration_id": str, "characteristic": str})
    by_collab = by_collab.merge(smallest, on=["collaboration_id", "characteristic"], how="left")
    by_collab = suppress(by_collab, count="n_smallest_wave", threshold=threshold,
                         values=tuple(c for c in by_collab.columns if c not in (
                             "characteristic", "collaboration_id", "n_smallest_wave")))
    return (change, suppress(trend_table, count="n_smallest_wave", threshold=threshold,
                             values=trend_values), (slopes.summary, by_collab))
