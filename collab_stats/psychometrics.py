"""The whole programme's psychometrics in one call: reliability, factor structure,
invariance across waves and aggregation, per wave, characteristic and collaboration.

:func:`programme_psychometrics` is what a wave run and the technical report use. It composes
the single-topic modules (:mod:`.reliability`, :mod:`.cfa`, :mod:`.invariance`,
:mod:`.aggregation`, :mod:`.scoring`); every figure is computed for all groups at once
(vectorised), never by a Python loop over collaborations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from ._params import check_number, check_option
from .aggregation import aggregation_verdict, grouped_icc, rwg_j
from .cfa import cfa
from .errors import ParameterError
from .instrument.model import InstrumentFamily
from .invariance import measurement_invariance
from .omega import composite_reliability, omega_hierarchical
from .parallel import MapLike, check_workers, run_all
from .programme import Programme
from .reliability import (
    grouped_item_analysis,
    grouped_reliability,
    omega_bootstrap_ci,
    reliability_flag_table,
)
from .schema import SurveyData
from .scoring import item_matrix, score_responses

__all__ = ["ProgrammePsychometrics", "programme_psychometrics", "wave_versions"]

CfaPolicy = str  # "fiml" or "listwise", as collab_stats.cfa.cfa accepts


@dataclass(frozen=True)
class ProgrammePsychometrics:
    """Psychometric tables for a whole programme, ready for reports.

    Attributes
    ----------
    reliability : DataFrame
        One row per wave, characteristic and level: ``level`` is ``"programme"`` (all
        respondents of the wave; ``collaboration_id`` empty) or ``"collaboration"`` (one
        collaboration's respondents, computed where it has at least ``min_respondents``;
        otherwise the figures are NaN and the counts ``n_used`` and ``n_total`` NA (nullable
        integers) - the exact size of a small collaboration is itself too small a figure -
        and ``reason`` says so). Columns as
        :func:`~collab_stats.reliability.grouped_reliability` (alpha, std_alpha, Feldt CI,
        omega, n_items, n_used, n_total, reason), and at programme level the percentile
        bootstrap interval of omega (``omega_ci_low``, ``omega_ci_high``, ``omega_ci_level``,
        ``omega_n_boot``; :func:`~collab_stats.reliability.omega_bootstrap_ci`; NaN at
        collaboration level).
    item_analysis : DataFrame
        Programme level: one row per wave, characteristic and item (n, mean, sd, r_drop,
        alpha_if_dropped, pct_missing, response shares p_1..p_5).
    flags : DataFrame
        Programme-level reliability flags per wave and characteristic
        (:func:`~collab_stats.reliability.reliability_flag_table`).
    aggregation : DataFrame
        One row per wave and characteristic: ICC(1), ICC(2), F test, median and mean rwg(J)
        over collaborations, and a plain ``verdict`` on whether collaboration means are
        justified.
    agreement : DataFrame
        One row per wave, collaboration and characteristic: rwg(J) and its n.
    factor_structure : DataFrame
        One row per wave and model (``"eight_factor"``, ``"second_order"``): n_used,
        converged, chi-square, df, p, CFI, TLI, RMSEA with CI, SRMR, reason.
    loadings : DataFrame
        Standardised loadings per wave, model, characteristic and item.
    composite_reliability : DataFrame
        One row per wave and characteristic: omega of the characteristic from the
        eight-factor CFA (composite reliability, ``semTools::compRelSEM`` with its default
        observed total variance; :func:`~collab_stats.omega.composite_reliability`).
    omega_hierarchical : DataFrame
        One row per wave: omega total, omega hierarchical, omega H asymptotic and the
        explained common variance of the general factor over all rated items of the wave's
        version, with one group factor per characteristic (``psych::omega(x, nfactors = 8)``;
        :func:`~collab_stats.omega.omega_hierarchical`).
    invariance : DataFrame
        Measurement invariance across waves (configural, metric, scalar) on the items
        comparable across the instrument versions the waves used; empty with one wave.
    invariance_verdict : str
        How far comparisons of scores across waves are supported.
    comparable_items : tuple of str
        The items (ids in the first wave's version) that entered the cross-wave analysis.
    """

    reliability: pd.DataFrame
    item_analysis: pd.DataFrame
    flags: pd.DataFrame
    aggregation: pd.DataFrame
    agreement: pd.DataFrame
    factor_structure: pd.DataFrame
    loadings: pd.DataFrame
    invariance: pd.DataFrame
    invariance_verdict: str
    comparable_items: tuple[str, ...]
    composite_reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    omega_hierarchical: pd.DataFrame = field(default_factory=pd.DataFrame)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name (for writing to files or a workbook)."""
        return {
            "reliability": self.reliability, "item_analysis": self.item_analysis,
            "flags": self.flags, "aggregation": self.aggregation, "agreement": self.agreement,
            "factor_structure": self.factor_structure, "loadings": self.loadings,
            "invariance": self.invariance,
            "composite_reliability": self.composite_reliability,
            "omega_hierarchical": self.omega_hierarchical,
        }


def wave_versions(data: SurveyData) -> dict[str, str]:
    """Wave id -> the instrument version its respondents answered, in wave order.

    Raises ParameterError if a wave mixes versions (each wave uses one version).
    """
    resp = data.respondents
    pairs = resp[["wave_id", "instrument_version"]].astype(str).drop_duplicates()
    mixed = pairs["wave_id"][pairs["wave_id"].duplicated()]
    if len(mixed):
        raise ParameterError(f"wave {mixed.iloc[0]!r} mixes instrument versions; each wave must "
                             "use one version")
    order = list(pd.unique(resp["wave_id"].astype(str)))
    mapping = dict(zip(pairs["wave_id"], pairs["instrument_version"], strict=True))
    return {w: mapping[w] for w in order}


def programme_psychometrics(
    data: SurveyData,
    family: InstrumentFamily,
    *,
    min_respondents: int = 10,
    ci: float = 0.95,
    alpha_min: float = 0.70,
    item_total_min: float = 0.30,
    factor_models: bool = True,
    invariance: bool = True,
    cfa_nan_policy: CfaPolicy = "fiml",
    n_boot: int = 200,
    seed: int = 0,
    programme: Programme | None = None,
    workers: MapLike | None = None,
) -> ProgrammePsychometrics:
    """Reliability, factor structure, invariance and aggregation for a whole programme.

    Parameters
    ----------
    data : SurveyData
        Any number of waves; each wave uses one instrument version.
    family : InstrumentFamily
    min_respondents : int
        Collaboration-level reliability is computed only for collaborations with at least
        this many respondents in the wave (default 10).
    n_boot, seed : int
        Resamples and seed of the bootstrap interval of omega at programme level (default
        200 resamples, seed 0: the same data give the same interval).
    ci : float
        Level of the Feldt intervals of alpha.
    alpha_min, item_total_min : float
        Thresholds of the reliability flags.
    factor_models : bool
        Fit the eight-factor CFA and the second-order model (the framework's three groups
        over the eight characteristics) per wave.
    invariance : bool
        Test configural, metric and scalar invariance across waves (needs two or more).
    cfa_nan_policy : {"fiml", "listwise"}
        Missing answers in the CFA and invariance models: full-information ML (default;
        lavaan's ``missing = "ml"``) or complete rows only.
    programme : Programme, optional
        When given, the aggregation statistics (ICC(1), ICC(2), rwg(J)) leave out the
        collaboration cells that disclosure control hides in the benchmark tables
        (:func:`~collab_stats.benchmarking.programme_hidden_cells`: fewer than the
        programme's ``disclosure_threshold`` respondents, and the complementary cells), and
        their rwg(J) rows keep only their keys. Published group sizes (N, n0, groups) would
        otherwise let a reader work out a hidden collaboration's count.
    workers : map-like callable, optional
        Where the independent pieces run - the invariance fits, each wave's factor models,
        each characteristic's reliability (see :mod:`collab_stats.parallel`; e.g.
        ``ProcessPoolExecutor(2).map``); default: here, one after another. The tables are the
        same either way.

    Notes
    -----
    Conventions, all stated in the functions used: reliability and item statistics use
    pairwise-complete covariances with N - 1 (as ``psych::alpha``), on reverse-keyed items;
    ICC(1)/ICC(2) come from the one-way ANOVA of respondents' characteristic scores on
    collaboration with the mean group size (as ``multilevel::ICC1``); rwg(J) uses the uniform
    null variance of the 5-point scale (2.0) and listwise rows within each collaboration (as
    ``multilevel::rwg.j``); the CFA is ML with divisor N (as lavaan). Cross-wave analyses
    (invariance) use only items that the version mappings mark comparable.
    """
    min_respondents = check_number("min_respondents", min_respondents, low=2, integer=True)
    check_option("cfa_nan_policy", cfa_nan_policy, ("fiml", "listwise"))
    check_workers(workers)
    versions = wave_versions(data)
    characteristics = [c.id for c in family.framework.characteristics]

    # The independent pieces: each characteristic's reliability of a version, each wave's
    # factor models, the invariance fits; handed to ``workers`` longest first.
    reliability_jobs, model_jobs = [], []
    for version_id in dict.fromkeys(versions.values()):
        version = family.version(version_id)
        waves = [w for w, v in versions.items() if v == version_id]
        matrix = item_matrix(data, family, items=version.item_ids)
        matrix = matrix[matrix["instrument_version"].astype(str) == version_id].reset_index(drop=True)
        matrix["wave_id"] = matrix["wave_id"].astype(str)
        matrix["collaboration_id"] = matrix["collaboration_id"].astype(str)
        keys = matrix[["wave_id", "collaboration_id"]]
        for characteristic, ids in version.items_by_characteristic().items():
            reliability_jobs.append(partial(
                _characteristic_reliability, matrix[list(ids)], keys, waves,
                characteristic=characteristic, version=version, ci=ci, n_boot=n_boot,
                seed=seed, min_respondents=min_respondents))
        if factor_models:
            for wave in waves:
                model_jobs.append(partial(_wave_models, matrix[matrix["wave_id"] == wave],
                                          version, family, cfa_nan_policy, wave))
    invariance_jobs = []
    if invariance and len(versions) > 1:
        invariance_jobs.append(partial(_invariance_fit, *_invariance_frame(data, family, versions),
                                       cfa_nan_policy))
    done = run_all([*invariance_jobs, *model_jobs, *reliability_jobs], workers)
    invariance_done = done[:len(invariance_jobs)]
    models_done = done[len(invariance_jobs):len(invariance_jobs) + len(model_jobs)]
    reliability_done = done[len(invariance_jobs) + len(model_jobs):]

    reliability = [t for tables in reliability_done for t in tables[:2]]
    items = [tables[2] for tables in reliability_done]
    agreement = [frame for tables in reliability_done for frame in tables[3]]
    fits = [row for fits_w, _, _, _ in models_done for row in fits_w]
    loadings = [loads_w for _, loads_w, _, _ in models_done]
    composite = [comp_w for _, _, comp_w, _ in models_done]
    hierarchical = [row for _, _, _, row in models_done]

    reliability_table = _order(pd.concat(reliability, ignore_index=True), versions,
                               characteristics, ["level", "collaboration_id"])
    item_table = _order(pd.concat(items, ignore_index=True), versions, characteristics, [])
    flags = reliability_flag_table(
        reliability_table[reliability_table["level"] == "programme"], item_table,
        keys=("wave_id", "characteristic"), alpha_min=alpha_min, item_total_min=item_total_min)
    agreement_table = pd.concat(agreement, ignore_index=True)
    hidden = None
    if programme is not None:
        from .benchmarking import programme_hidden_cells  # benchmarking imports this module

        hidden, _ = programme_hidden_cells(data, family, programme)
        rows = _in_cells(agreement_table, hidden)
        agreement_table.loc[rows, ["rwg_j", "n", "n_items", "variance"]] = np.nan
        agreement_table["truncated"] = agreement_table["truncated"].astype(object)
        agreement_table.loc[rows, "truncated"] = None
        agreement_table.loc[rows, "reason"] = "hidden by disclosure control"
    aggregation = _aggregation(data, family, agreement_table, versions, hidden)

    comparable: tuple[str, ...] = ()
    invariance_table = pd.DataFrame()
    verdict = "Only one wave: comparisons over time are not assessed."
    if invariance_done:
        comparable, invariance_table, verdict = invariance_done[0]
    return ProgrammePsychometrics(
        reliability=reliability_table,
        item_analysis=item_table,
        flags=flags,
        aggregation=aggregation,
        agreement=agreement_table,
        factor_structure=pd.DataFrame(fits),
        loadings=pd.concat(loadings, ignore_index=True) if loadings else pd.DataFrame(),
        invariance=invariance_table,
        invariance_verdict=verdict,
        comparable_items=comparable,
        composite_reliability=(_order(pd.concat(composite, ignore_index=True), versions,
                                      characteristics, []) if composite else pd.DataFrame()),
        omega_hierarchical=pd.DataFrame(hierarchical),
    )


def _characteristic_reliability(values: pd.DataFrame, keys: pd.DataFrame, waves: list[str], *,
                                characteristic: str, version, ci: float, n_boot: int,
                                seed: int, min_respondents: int):
    """One characteristic's reliability tables for the waves of one version: programme level
    (with omega's bootstrap interval), collaboration level (small ones blanked), item
    analysis, and rwg(J) per wave."""
    version_id = version.version
    pooled = grouped_reliability(values, keys[["wave_id"]], ci=ci)
    omega_ci = omega_bootstrap_ci(values, keys[["wave_id"]], ci=ci, n_boot=n_boot, seed=seed)
    pooled = pooled.merge(omega_ci, on="wave_id", how="left")
    pooled.insert(1, "level", "programme")
    pooled.insert(2, "collaboration_id", "")
    by_collab = grouped_reliability(values, keys, ci=ci)
    by_collab.insert(1, "level", "collaboration")
    by_collab[["omega_ci_low", "omega_ci_high"]] = np.nan  # programme level only
    by_collab["omega_ci_level"] = ci
    by_collab["omega_n_boot"] = 0
    small = by_collab["n_total"] < min_respondents
    by_collab.loc[small, ["alpha", "std_alpha", "average_r", "ci_low", "ci_high",
                          "omega"]] = np.nan
    by_collab.loc[small, "reason"] = f"fewer than {min_respondents} respondents"
    by_collab.loc[small, "omega_reason"] = f"fewer than {min_respondents} respondents"
    # The exact size of a small collaboration is itself a figure about too few
    # respondents: its counts go too (the reason says why).
    counts = ["n_used", "n_total"]
    by_collab[counts] = by_collab[counts].astype("Int64")
    by_collab.loc[small, counts] = pd.NA
    for table in (pooled, by_collab):
        table.insert(3, "characteristic", characteristic)
        table.insert(4, "instrument_version", version_id)
    item_table = grouped_item_analysis(values, keys[["wave_id"]],
                                       scale_points=[o.code for o in version.scale.options])
    item_table.insert(1, "characteristic", characteristic)
    item_table.insert(2, "instrument_version", version_id)
    agreement = []
    for wave in waves:
        rows = keys["wave_id"] == wave
        result = rwg_j(values[rows], keys.loc[rows, "collaboration_id"].to_numpy(),
                       n_options=version.scale.n_points)
        frame = result.to_frame().rename(columns={"group": "collaboration_id"})
        frame.insert(0, "wave_id", wave)
        frame.insert(2, "characteristic", characteristic)
        agreement.append(frame)
    return pooled, by_collab, item_table, agreement


def _wave_models(matrix: pd.DataFrame, version, family: InstrumentFamily, nan_policy: str,
                 wave: str):
    """One wave's factor models: fit rows, loadings, composite reliability, omega
    hierarchical."""
    fits_w, loads_w, comp_w = _factor_models(matrix, version, family, nan_policy)
    return (fits_w.assign(wave_id=wave).to_dict("records"), loads_w.assign(wave_id=wave),
            comp_w.assign(wave_id=wave, instrument_version=version.version),
            _omega_hierarchical(matrix, version, wave))


def _order(table: pd.DataFrame, versions: dict[str, str], characteristics: Sequence[str],
           extra: Sequence[str]) -> pd.DataFrame:
    """Waves in programme order, characteristics in framework order."""
    table = table.assign(
        _w=table["wave_id"].map({w: k for k, w in enumerate(versions)}),
        _c=table["characteristic"].map({c: k for k, c in enumerate(characteristics)}),
    )
    return (table.sort_values(["_w", "_c", *extra], kind="stable")
            .drop(columns=["_w", "_c"]).reset_index(drop=True))


def _factor_models(matrix: pd.DataFrame, version, family: InstrumentFamily, nan_policy: str):
    model = {c: list(ids) for c, ids in version.items_by_characteristic().items() if ids}
    groups = {g.id: [c.id for c in family.framework.characteristics if c.group == g.id]
              for g in family.framework.groups}
    rows, loads = [], []
    composite = pd.DataFrame()
    for name, second_order in (("eight_factor", None), ("second_order", groups)):
        # no table here shows a standard error: skip them (under FIML, most of a fit's time)
        result = cfa(matrix, model, second_order=second_order, nan_policy=nan_policy,
                     standard_errors=False)
        if second_order is None:
            composite = (composite_reliability(result, matrix)
                         .rename(columns={"factor": "characteristic"}))
        row = result.to_frame().iloc[0].to_dict()
        rows.append({"model": name, **{k: row.get(k) for k in (
            "n_used", "n_total", "converged", "chi_square", "df", "p_value", "cfi", "tli",
            "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr", "reason")}})
        table = result.loadings
        if len(table):
            loads.append(pd.DataFrame({
                "model": name, "characteristic": table["lhs"].to_numpy(),
                "item_id": table["rhs"].to_numpy(), "std_loading": table["std_all"].to_numpy(),
            }))
    return (pd.DataFrame(rows), pd.concat(loads, ignore_index=True) if loads else pd.DataFrame(),
            composite)


def _omega_hierarchical(matrix: pd.DataFrame, version, wave: str) -> dict:
    """Omega hierarchical of a wave's rated items, one group factor per characteristic."""
    by_characteristic = {c: ids for c, ids in version.items_by_characteristic().items() if ids}
    ids = [i for group in by_characteristic.values() for i in group]
    result = omega_hierarchical(matrix[ids], n_factors=len(by_characteristic))
    return {"wave_id": wave, "instrument_version": version.version,
            "n_factors": result.n_factors, "n_items": result.n_items,
            "omega_total": result.omega_total,
            "omega_hierarchical": result.omega_hierarchical,
            "omega_h_asymptotic": result.omega_h_asymptotic, "ecv": result.ecv,
            "alpha": result.alpha, "n_used": result.n_used, "n_total": result.n_total,
            "converged": result.converged, "reason": result.reason}


def _in_cells(frame: pd.DataFrame, cells: pd.MultiIndex) -> np.ndarray:
    """Whether each row's (wave_id, collaboration_id, characteristic), as text, is in cells."""
    keys = pd.MultiIndex.from_arrays([frame[c].astype(object).astype(str).to_numpy() for c in
                                      ("wave_id", "collaboration_id", "characteristic")])
    return np.asarray(keys.isin(cells), dtype=bool)


def _aggregation(data, family, agreement, versions, hidden=None) -> pd.DataFrame:
    scores = score_responses(data, family)
    if hidden is not None:  # hidden cells take no part (their scores are left out)
        scores = scores[~_in_cells(scores, hidden)]
    # one row per respondent seen (pivot_table(dropna=False) would list every combination
    # of wave, collaboration and respondent), one column per characteristic, NaN kept
    ids = ["wave_id", "collaboration_id", "respondent_id"]
    scores = scores.astype(dict.fromkeys([*ids, "characteristic"], object))
    wide = (scores.set_index([*ids, "characteristic"])["score"].unstack("characteristic")
            .reset_index())
    wide.columns.name = None
    wide = wide[wide["wave_id"].astype(str).isin(versions)]
    wide["wave_id"] = wide["wave_id"].astype(str)
    characteristics = [c.id for c in family.framework.characteristics]
    iccs = grouped_icc(wide, value_columns=characteristics, group="collaboration_id",
                       by=("wave_id",)).rename(columns={"variable": "characteristic"})
    summary = (agreement.groupby(["wave_id", "characteristic"], sort=False)["rwg_j"]
               .agg(median_rwg_j="median", mean_rwg_j="mean").reset_index())
    out = iccs.merge(summary, on=["wave_id", "characteristic"], how="left")
    out["verdict"] = [
        aggregation_verdict(r.icc1, r.icc2, r.median_rwg_j, p_value=r.p_value)
        for r in out.itertuples(index=False)
    ]
    return _order(out, versions, characteristics, [])


def _invariance_frame(data, family, versions):
    """The comparable items of every wave under their first version's ids (with
    ``wave_id``), the one-factor-per-characteristic model over them, and the item ids."""
    used = list(dict.fromkeys(versions.values()))
    chains = family.comparable_items(*used)
    first = family.version(used[0])
    anchors = [i for i in first.item_ids if i in chains]
    by_char: dict[str, list[str]] = {}
    for item in anchors:
        by_char.setdefault(first.item(item).characteristic, []).append(item)
    model = {c: ids for c, ids in by_char.items() if len(ids) >= 2}
    frames = []
    for version_id in used:
        ids = [chains[a][version_id] for a in anchors]
        matrix = item_matrix(data, family, items=ids)
        matrix = matrix[matrix["instrument_version"].astype(str) == version_id]
        frames.append(matrix.rename(columns=dict(zip(ids, anchors, strict=True)))[
            ["wave_id", *anchors]])
    frame = pd.concat(frames, ignore_index=True)
    frame["wave_id"] = frame["wave_id"].astype(str)
    return frame, model, tuple(anchors)


def _invariance_fit(frame, model, anchors, nan_policy):
    """Configural / metric / scalar invariance across waves on comparable items."""
    result = measurement_invariance(frame, model, group="wave_id", nan_policy=nan_policy,
                                    standard_errors=False)
    return anchors, result.to_frame(), result.verdict
