"""The technical report (researchers): reliability, item analysis, factor structure,
measurement invariance across waves, aggregation indices, data quality and instrument versions.

:func:`build_technical_report` assembles the notebook from the programme's psychometrics and
ingest tables; the figures and tables come from :mod:`reports.outputs.technical`, the words
(summary, verdicts, conventions) from here. Nothing is computed that the library did not
compute: the report reads the tables and says what they show.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from collab_stats.invariance import (
    CONFIGURAL_CFI_MIN,
    CONFIGURAL_RMSEA_MAX,
    DELTA_CFI_MIN,
    DELTA_RMSEA_MAX,
)

from .data import ReportData
from .notebook import ReportNotebook
from .outputs import technical as tech
from .provenance import add_provenance, front_matter_provenance
from .text import fmt_int, fmt_number, fmt_percent, md_escape, plural

__all__ = ["build_technical_report"]

#: What each level of measurement invariance permits, in plain words.
PERMITS = {
    None: "the waves may not share one factor structure, so scores should not be compared "
          "across waves",
    "configural": "the waves share the factor structure, but neither relationships nor mean "
                  "scores should be compared across waves",
    "metric": "relationships between characteristics (correlations, regression slopes) can be "
              "compared across waves, but mean scores cannot",
    "scalar": "mean scores on the comparable items can be compared across waves, as the "
              "benchmark reports' trends and their changes across a version change do",
}

METHODS = """
- **Cronbach's alpha**: covariances from pairwise-complete observations with the N − 1
  denominator, as `psych::alpha` (`use = "pairwise"`); reverse-keyed items are reversed first.
  Confidence interval: Feldt, L. S. (1965). The approximate sampling distribution of
  Kuder-Richardson reliability coefficient twenty. *Psychometrika*, 30, 357–370.
- **McDonald's omega (total)**: one-factor model fitted by minimum residuals to the
  correlation matrix of the covariances alpha uses (as `psych::fa(r, 1, fm = "minres")`);
  needs at least three items; a Heywood case (communality above 1) gives no value, with the
  reason stated. Interval: percentile bootstrap over respondents (200 resamples), as
  `MBESS::ci.reliability(type = "omega", interval.type = "perc")`; Kelley, K., &
  Pornprasertmanit, S. (2016). *Psychological Methods*, 21(1), 69–92.
  McDonald, R. P. (1999). *Test theory: A unified treatment*. Erlbaum.
- **Item analysis**: corrected item-total correlation (`r.drop`) and alpha if the item is
  dropped, as `psych::alpha`; flags when alpha is below 0.70, an item-rest correlation is below
  0.30 or negative, or alpha would rise without an item.
- **Confirmatory factor analysis**: maximum likelihood with divisor N and full-information ML
  for missing answers, as lavaan (`cfa(..., estimator = "ML", missing = "ml")`); first loading
  of each factor fixed to 1; standardised loadings are lavaan's `std.all`; RMSEA with its 90%
  interval; SRMR as lavaan's `srmr`. Fit conventions: Hu, L., & Bentler, P. M. (1999).
  *Structural Equation Modeling*, 6, 1–55 (CFI ≥ 0.95, RMSEA ≤ 0.06, SRMR ≤ 0.08 good).
- **Measurement invariance**: multi-group CFA across waves (`group.equal` = loadings, then
  loadings and intercepts), on items the version mappings mark comparable; a level is supported
  when CFI falls by no more than 0.010 and RMSEA rises by no more than 0.015. Chen, F. F.
  (2007). *Structural Equation Modeling*, 14, 464–504.
- **Aggregation**: ICC(1) and ICC(2) from the one-way ANOVA of respondents' characteristic
  scores on collaboration, with the mean group size, as `multilevel::ICC1`/`ICC2`. Bliese, P.
  D. (2000). Within-group agreement, non-independence, and reliability. In K. J. Klein & S. W.
  J. Kozlowski (Eds.), *Multilevel theory, research, and methods in organizations*
  (pp. 349–381). Jossey-Bass.
- **Within-group agreement**: rwg(J) against the uniform null distribution of the 5-point scale
  (variance 2.0), respondents who answered every item of the scale, observed variances above the
  null truncated (rwg(J) = 0), as `multilevel::rwg.j`. James, L. R., Demaree, R. G., & Wolf,
  G. (1984). *Journal of Applied Psychology*, 69, 85–98.
- **Change between waves** (benchmark reports): partially overlapping samples t-test
  (`T_new2`, as `Partiallyoverlapping::Partover.test`), using respondents who answered
  both waves and those who answered one; on every item between two waves of the same
  instrument version, on the comparable items only across a version change. Higher, lower,
  improved and declined are read from one verdict table: a 95% interval wholly above or
  below the peer median (or zero, for a change). Derrick, B., Toher, D., &
  White, P. (2017). How to compare the means of two samples that include paired observations
  and independent observations. *The Quantitative Methods for Psychology*, 13, 120–126.
"""


def build_technical_report(data: ReportData, *, data_path: str = "..") -> ReportNotebook:
    """Assemble the technical report (not yet built: call ``.build()`` for the notebook).

    Parameters
    ----------
    data : ReportData
        The programme's tables (:func:`reports.data.load_report_data`).
    data_path : str, keyword-only
        The workspace as seen from the notebook's folder, for re-executing its cells.
    """
    name = data.programme.name
    nb = ReportNotebook(
        title=f"{name}: technical report",
        subtitle="Reliability, factor structure, measurement invariance and data quality",
        author=name, date=data.generated_at.date(), data_path=data_path,
        extra_front_matter=front_matter_provenance(data))
    labels = _wave_slugs(data.waves)
    _summary(nb, data)
    _reliability(nb, data, labels)
    _items(nb, data, labels)
    _flags(nb, data)
    _factor_structure(nb, data)
    _model_reliability(nb, data)
    _invariance(nb, data)
    _aggregation(nb, data)
    _data_quality(nb, data)
    _versions(nb, data)
    nb.heading("Methods and conventions")
    nb.markdown(METHODS, key="methods")
    add_provenance(nb, data)
    return nb


# --- helpers ---------------------------------------------------------------------------------


def _wave_slugs(waves: list[str]) -> dict[str, str]:
    """Wave id -> a label fragment (``2026-09``), unique even if two ids slug alike."""
    out: dict[str, str] = {}
    for k, wave in enumerate(waves):
        slug = re.sub(r"[^a-z0-9]+", "-", wave.lower()).strip("-") or f"wave-{k + 1}"
        if slug in out.values():
            slug = f"{slug}-{k + 1}"
        out[wave] = slug
    return out


def _range(values: pd.Series, digits: int) -> str:
    values = values.dropna()
    if not len(values):
        return "–"
    low, high = fmt_number(values.min(), digits), fmt_number(values.max(), digits)
    return low if low == high else f"{low} to {high}"


def _char(data: ReportData, characteristic: object) -> str:
    return md_escape(data.characteristic_names().get(str(characteristic), characteristic))


def _invariance_level(table: pd.DataFrame) -> str | None:
    """The strictest level supported together with every level below it."""
    reached = None
    for level in ("configural", "metric", "scalar"):
        row = table[table["level"].astype(str) == level]
        if not len(row) or not bool(row["supported"].iloc[0]):
            break
        reached = level
    return reached


def _invariance_lines(table: pd.DataFrame) -> list[str]:
    """One sentence per invariance level with its criteria and numbers."""
    lines = []
    for row in table.itertuples(index=False):
        level = str(row.level).capitalize()
        verdict = "supported" if bool(row.supported) else "not supported"
        if not bool(row.converged):
            lines.append(f"{level}: the model did not converge"
                         + (f" ({md_escape(row.reason)})" if row.reason else "") + ".")
        elif str(row.level) == "configural":
            lines.append(
                f"{level}: CFI {fmt_number(row.cfi, 3)} (at least "
                f"{fmt_number(CONFIGURAL_CFI_MIN, 3)} needed), RMSEA {fmt_number(row.rmsea, 3)} "
                f"(at most {fmt_number(CONFIGURAL_RMSEA_MAX, 3)}): {verdict}.")
        else:
            p = row.delta_p_value
            p_text = "&lt; 0.001" if p < 0.001 else f"= {fmt_number(p, 3)}"
            lines.append(
                f"{level}: Δ CFI {fmt_number(row.delta_cfi, 3, sign=True)} (no lower than "
                f"{fmt_number(DELTA_CFI_MIN, 3)}), Δ RMSEA "
                f"{fmt_number(row.delta_rmsea, 3, sign=True)} (no higher than "
                f"{fmt_number(DELTA_RMSEA_MAX, 3, sign=True)}); chi-square difference "
                f"{fmt_number(row.delta_chi_square, 2)} on {fmt_int(row.delta_df)} df, "
                f"p {p_text}: {verdict}.")
    return lines


def _fit_word(cfi: float, rmsea: float, srmr: float) -> str:
    if cfi >= 0.95 and rmsea <= 0.06 and srmr <= 0.08:
        return "well"
    if cfi >= 0.90 and rmsea <= 0.08:
        return "acceptably"
    return "poorly"


# --- sections --------------------------------------------------------------------------------


def _summary(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Summary")
    points = []
    rel = tech.programme_reliability(data)
    if len(rel) and rel["alpha"].notna().any():
        low, high = rel.loc[rel["alpha"].idxmin()], rel.loc[rel["alpha"].idxmax()]
        below = rel[rel["alpha"] < tech.ALPHA_MIN]
        gap = (rel["omega"] - rel["alpha"]).abs().max()
        points.append(
            f"**Reliability.** Cronbach's alpha of the {rel['characteristic'].nunique()} "
            f"characteristic scales ranges from {fmt_number(low['alpha'], 3)} "
            f"({_char(data, low['characteristic'])}, {md_escape(low['wave_id'])}) to "
            f"{fmt_number(high['alpha'], 3)} ({_char(data, high['characteristic'])}, "
            f"{md_escape(high['wave_id'])}); "
            + ("every scale reaches 0.70 in every wave" if not len(below) else
               f"{plural(len(below), 'scale-wave value')} fall below 0.70")
            + (f". Omega differs from alpha by at most {fmt_number(gap, 3)}"
               if np.isfinite(gap) else "") + " (@fig-reliability).")
    flags = data.psychometrics.get("flags", pd.DataFrame())
    if len(flags):
        kinds = flags["flag"].astype(str).value_counts()
        words = ", ".join(f"{n} × {tech.FLAG_NAMES.get(k, k).lower()}" for k, n in kinds.items())
        items = ", ".join(dict.fromkeys(flags["item"].dropna().astype(str)))
        points.append(f"**Flags.** {plural(len(flags), 'flag')}: {words}"
                      + (f" (items {md_escape(items)})" if items else "") + "; see @tbl-flags.")
    else:
        points.append("**Flags.** No scale or item is flagged.")
    fits = data.psychometrics.get("factor_structure", pd.DataFrame())
    eight = fits[fits["model"].astype(str) == "eight_factor"] if len(fits) else fits
    if len(eight):
        word = _fit_word(eight["cfi"].min(), eight["rmsea"].max(), eight["srmr"].max())
        points.append(
            f"**Factor structure.** The eight-factor model fits {word} in "
            + ("every wave" if len(eight) > 1 else "the wave")
            + f": CFI {_range(eight['cfi'], 3)}, RMSEA {_range(eight['rmsea'], 3)}, SRMR "
            f"{_range(eight['srmr'], 3)} (@tbl-fit).")
    inv = data.psychometrics.get("invariance", pd.DataFrame())
    if len(inv):
        level = _invariance_level(inv)
        points.append(
            "**Invariance across waves.** "
            + (f"{level.capitalize()} invariance is the strictest level supported"
               if level else "Not even configural invariance is supported")
            + f" on the items comparable across versions: {PERMITS[level]} (@tbl-invariance).")
    agg = data.psychometrics.get("aggregation", pd.DataFrame())
    if len(agg):
        heads = pd.Series([tech.verdict_headline(v) for v in agg["verdict"]])
        justified = int((heads == "Justified").sum())
        other = agg[heads.to_numpy() != "Justified"]
        points.append(
            f"**Aggregation.** Reporting collaboration means is justified in {justified} of "
            f"{len(agg)} wave × characteristic cells"
            + ("" if not len(other) else "; the others: " + "; ".join(
                f"{md_escape(tech.verdict_headline(r.verdict)).lower()} for "
                f"{_char(data, r.characteristic)} in {md_escape(r.wave_id)}"
                for r in other.itertuples()))
            + " (@tbl-aggregation).")
    if len(data.sources):
        read, held = data.sources["rows_read"].sum(), data.sources["rows_quarantined"].sum()
        points.append(
            f"**Data quality.** {plural(len(data.sources), 'export')}, {fmt_int(read)} rows "
            f"read; {fmt_int(held)} ({fmt_percent(held / read if read else np.nan, 1)}) "
            "quarantined (@tbl-quarantine).")
    nb.callout("note", "\n".join(f"- {p}" for p in points), title="Key findings",
               key="summary")


def _reliability(nb: ReportNotebook, data: ReportData, labels: dict[str, str]) -> None:
    nb.heading("Reliability per wave and characteristic")
    waves = tech.psychometric_waves(data)
    if not waves:
        nb.markdown("No reliability results are available.", key="reliability-none")
        return
    nb.markdown(
        "Reliability of each characteristic's scale, pooled over all respondents of a wave. "
        "Cronbach's alpha uses pairwise-complete covariances with the N − 1 denominator, as "
        "`psych::alpha` does, with a 95% Feldt (1965) interval; McDonald's omega (total) comes "
        "from a one-factor model fitted by minimum residuals, with a 95% percentile bootstrap "
        "interval (200 resamples of respondents; Kelley & Pornprasertmanit, 2016). Where a one-factor solution is a Heywood case (a communality "
        "above 1) or a scale has fewer than three items, omega is left empty and the Note "
        "column says why. *n used* counts respondents who answered at least one "
        "item of the scale, out of all respondents of the wave. @fig-reliability shows every "
        "wave against the conventional minimum of 0.70.", key="reliability-intro")
    nb.output(tech.reliability_chart, data, label="fig-reliability",
              caption="Cronbach's alpha with its 95% interval and McDonald's omega per "
                      "characteristic and wave; the dashed line marks 0.70.")
    rel = tech.programme_reliability(data)
    for wave in waves:
        nb.heading(f"Wave {md_escape(tech.wave_label(data, wave))}", 3)
        rows = rel[rel["wave_id"].astype(str) == wave]
        missing = rows[rows["alpha"].isna() | rows["omega"].isna()]
        text = f"@tbl-reliability-{labels[wave]}: "
        if rows["alpha"].notna().any():
            low = rows.loc[rows["alpha"].idxmin()]
            text += (f"alpha from {fmt_number(rows['alpha'].min(), 3)} "
                     f"({_char(data, low['characteristic'])}) to "
                     f"{fmt_number(rows['alpha'].max(), 3)}, omega from "
                     f"{fmt_number(rows['omega'].min(), 3)} to "
                     f"{fmt_number(rows['omega'].max(), 3)}")
        else:
            text += "no alpha could be computed"
        text += (f"; {plural(len(missing), 'scale')} with a missing figure (see Note)."
                 if len(missing) else "; every figure could be computed.")
        nb.markdown(text, key=f"reliability-{labels[wave]}")
        nb.output(tech.reliability_table, data, label=f"tbl-reliability-{labels[wave]}",
                  caption=f"Reliability of the characteristic scales in wave "
                          f"{tech.wave_label(data, wave)}.", wave=wave)
    nb.heading("Reliability within collaborations", 3)
    table = data.psychometrics["reliability"]
    collab = table[table["level"] == "collaboration"]
    computed = collab["alpha"].dropna()
    width = (collab["ci_high"] - collab["ci_low"]).dropna()
    pooled_width = (rel["ci_high"] - rel["ci_low"]).dropna()
    reasons = collab.loc[collab["alpha"].isna(), "reason"].astype(str)
    reasons = reasons[reasons != ""].value_counts()
    nb.markdown(
        f"Alpha was also computed within each collaboration: {fmt_int(len(computed))} of "
        f"{fmt_int(len(collab))} collaboration × wave × characteristic values"
        + (f" (the rest: {md_escape(reasons.index[0])}"
           + (f", and {fmt_int(reasons.iloc[1:].sum())} for other reasons" if len(reasons) > 1
              else "") + ")" if len(reasons) else "")
        + f". Their median is {fmt_number(computed.median(), 2)}; "
        f"{fmt_int((computed < tech.ALPHA_MIN).sum())} "
        f"({fmt_percent((computed < tech.ALPHA_MIN).mean() if len(computed) else np.nan)}) "
        f"fall below 0.70 and the lowest is {fmt_number(computed.min(), 2)}. These values are "
        "imprecise: the median width of their 95% Feldt intervals is "
        f"{fmt_number(width.median(), 2)}, against {fmt_number(pooled_width.median(), 3)} for "
        "the pooled values above; a negative alpha means the items covary negatively in that "
        "small sample. @tbl-collaboration-alpha gives the distribution per wave and "
        "characteristic.", key="collaboration-alpha")
    nb.output(tech.collaboration_alpha_table, data, label="tbl-collaboration-alpha",
              caption="Distribution of Cronbach's alpha across collaborations, per wave and "
                      "characteristic.")


def _items(nb: ReportNotebook, data: ReportData, labels: dict[str, str]) -> None:
    nb.heading("Item analysis")
    waves = [w for w in tech.psychometric_waves(data)
             if w in set(data.psychometrics["item_analysis"]["wave_id"].astype(str))]
    nb.markdown(
        "For each item: the corrected item-total correlation (*r.drop*, the item against the "
        "sum of the other items of its scale) and Cronbach's alpha of the scale without the "
        "item, both as `psych::alpha` reports them, with the item's mean, standard deviation "
        "and share of missing answers. Reverse-keyed items, marked (R), are analysed after "
        "reversal. Flagged items are drawn as triangles and named in the Flag column (▲); the "
        "dashed line marks an item-rest correlation of 0.30.", key="items-intro")
    flags = data.psychometrics.get("flags", pd.DataFrame())
    for wave in waves:
        nb.heading(f"Wave {md_escape(tech.wave_label(data, wave))}", 3, key=f"h-items-{wave}")
        flagged = (flags[(flags["wave_id"].astype(str) == wave) & (flags["level"] == "item")]
                   if len(flags) else flags)
        items = ", ".join(dict.fromkeys(flagged["item"].astype(str))) if len(flagged) else ""
        nb.markdown(
            f"@fig-items-{labels[wave]} and @tbl-items-{labels[wave]}: "
            + (f"flagged in this wave: {md_escape(items)}." if items else
               "no item is flagged in this wave."), key=f"items-{labels[wave]}")
        nb.output(tech.item_chart, data, label=f"fig-items-{labels[wave]}",
                  caption=f"Item-rest correlations and alpha if the item is dropped, wave "
                          f"{tech.wave_label(data, wave)}; triangles mark flagged items.",
                  wave=wave)
        nb.output(tech.item_table, data, label=f"tbl-items-{labels[wave]}",
                  caption=f"Item statistics, wave {tech.wave_label(data, wave)}.", wave=wave)


def _flags(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Flags")
    flags = data.psychometrics.get("flags", pd.DataFrame())
    if not len(flags):
        nb.markdown("No scale and no item is flagged in any wave: every alpha reaches 0.70, "
                    "every item-rest correlation reaches 0.30, and no item lowers alpha.",
                    key="flags-none")
        return
    rises = flags[flags["flag"].astype(str) == "alpha_rises_if_dropped"]
    rise = (rises["value"] - rises["threshold"]).max() if len(rises) else np.nan
    nb.markdown(
        "The checks applied to every scale and item: alpha below 0.70 (*low alpha*), an "
        "item-rest correlation below 0.30 (*low*) or below 0 (*negative*, often a keying "
        "error), and an item without which alpha would be higher. "
        f"@tbl-flags lists the {plural(len(flags), 'flag')} raised."
        + (f" Where alpha would rise without an item, the largest rise is "
           f"{fmt_number(rise, 3)}: small rises of this size do not by themselves justify "
           "dropping an item that covers part of the construct (reverse-keyed items often "
           "behave this way)." if np.isfinite(rise) else ""), key="flags-intro")
    nb.output(tech.flags_table, data, label="tbl-flags",
              caption="Reliability flags, per wave, characteristic and item, in plain words.")


def _factor_structure(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Factor structure")
    fits = data.psychometrics.get("factor_structure", pd.DataFrame())
    if not len(fits):
        nb.markdown("No factor models were fitted for this programme.", key="cfa-none")
        return
    converged = bool(fits["converged"].all())
    nb.markdown(
        "Two confirmatory models per wave, on all rated items of the wave's instrument version: "
        "eight correlated factors (one per characteristic), and a second-order model in which "
        "the framework's three groups of characteristics are factors over the eight. Estimator: "
        "maximum likelihood with full-information ML for missing answers (lavaan's "
        "`missing = \"ml\"`), so every respondent with at least one answer is used. "
        + ("Every model converged." if converged else
           "Not every model converged: see the Estimation column.")
        + " @tbl-fit gives the fit; @fig-loadings the standardised loadings of the "
        "eight-factor model (those of the second-order model differ by less than rounding at "
        "this scale and are in the downloads).", key="cfa-intro")
    nb.output(tech.fit_table, data, label="tbl-fit",
              caption="Fit of the confirmatory factor models per wave: chi-square, CFI, TLI, "
                      "RMSEA with its 90% interval and SRMR.")
    nb.output(tech.loadings_chart, data, label="fig-loadings",
              caption="Standardised loadings of the eight-factor model per item and wave; an "
                      "asterisk marks loadings below 0.50 and a dash an item not asked in that "
                      "wave's instrument version.", model="eight_factor")


def _model_reliability(nb: ReportNotebook, data: ReportData) -> None:
    hierarchical = data.psychometrics.get("omega_hierarchical", pd.DataFrame())
    composite = data.psychometrics.get("composite_reliability", pd.DataFrame())
    if not len(hierarchical) and not len(composite):
        return
    nb.heading("Reliability from the factor models")
    text = []
    if len(hierarchical) and hierarchical["omega_hierarchical"].notna().any():
        text.append(
            "Is one overall score meaningful? Over all rated items of a wave, omega "
            "hierarchical is the share of the total score's variance due to one general "
            "factor of effective collaboration, and omega total the share due to all common "
            f"factors (@tbl-omega-hierarchical). Omega hierarchical ranges "
            f"{_range(hierarchical['omega_hierarchical'], 3)} against omega total "
            f"{_range(hierarchical['omega_total'], 3)}: "
            + ("the general factor carries most of the reliable variance, so an overall score "
               "is interpretable beside the eight characteristic scores"
               if hierarchical["omega_hierarchical"].min() >= 0.70 else
               "the characteristics carry much reliable variance of their own, so report the "
               "eight characteristic scores rather than one overall score")
            + ". Method as `psych::omega(x, nfactors = 8)`: minimum-residual factoring of the "
            "pairwise correlations, oblimin rotation, Schmid-Leiman transformation "
            "(Zinbarg, Revelle, Yovel & Li, 2005).")
    if len(composite) and composite["omega"].notna().any():
        text.append(
            "Composite reliability is omega of each characteristic computed from the "
            "eight-factor model's loadings, over the observed variance of the characteristic's "
            "total (as `semTools::compRelSEM`); unlike alpha it does not assume equal loadings "
            f"(@tbl-composite-reliability; range {_range(composite['omega'], 3)}).")
    nb.markdown(" ".join(text), key="model-reliability-intro")
    if len(hierarchical):
        nb.output(tech.omega_hierarchical_table, data, label="tbl-omega-hierarchical",
                  caption="Omega total and omega hierarchical of all rated items per wave "
                          "(one group factor per characteristic).")
    if len(composite):
        nb.output(tech.composite_reliability_table, data, label="tbl-composite-reliability",
                  caption="Composite reliability of each characteristic per wave, from the "
                          "eight-factor model.")


def _invariance(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Measurement invariance across waves")
    inv = data.psychometrics.get("invariance", pd.DataFrame())
    if not len(inv):
        nb.markdown("Measurement invariance across waves needs at least two waves; it was not "
                    "assessed.", key="invariance-none")
        return
    used = tech.used_versions(data)
    chains = tech.cross_wave_chains(data)
    first = data.family.version(used[0])
    by_char: dict[str, list[str]] = {}
    for anchor in chains:
        by_char.setdefault(first.item(anchor).characteristic, []).append(anchor)
    excluded = [c for c, ids in by_char.items() if len(ids) < 2]
    left_out = [i for i in first.item_ids if i not in chains]
    level = _invariance_level(inv)
    n_waves = len(tech.psychometric_waves(data))
    versions = md_escape(" and ".join([", ".join(used[:-1]), used[-1]] if len(used) > 1
                                      else used))
    nb.markdown(
        f"One multi-group model with the {plural(n_waves, 'wave')} as groups, fitted with "
        "increasingly strict equality constraints: configural (same structure), metric (equal "
        "loadings) and scalar (equal loadings and intercepts). Only the "
        f"{plural(len(chains), 'item')} that the version mappings mark comparable across "
        f"version{'s' if len(used) > 1 else ''} {versions} enter the model"
        + (f" (left out: {md_escape(', '.join(left_out))} and every item added later; see "
           f"@{_mappings(data)[0][1]})" if left_out and _mappings(data) else "")
        + (f"; characteristics with fewer than two comparable items are not in the model: "
           f"{', '.join(_char(data, c) for c in excluded)}" if excluded else "")
        + ". A level is supported when CFI drops by no more than 0.010 and RMSEA rises by no "
        "more than 0.015 from the less constrained model (Chen 2007); the chi-square "
        "difference test is shown too, but with samples of this size it is sensitive to "
        "trivial differences, so the decision rests on the changes in fit. Respondents who "
        "answered in several waves appear in several groups; the multi-group model treats the "
        "waves as independent samples.", key="invariance-intro")
    nb.output(tech.invariance_table, data, label="tbl-invariance",
              caption="Measurement invariance across waves: fit of the configural, metric and "
                      "scalar models and the change from the less constrained model.")
    verdicts = "\n".join(f"- {line}" for line in _invariance_lines(inv))
    nb.callout(
        "note" if level == "scalar" else "warning",
        (f"**{level.capitalize()} invariance** is the strictest level supported: "
         if level else "**No level of invariance** is supported: ")
        + f"{PERMITS[level]}.\n\n{verdicts}", title="What the invariance tests allow",
        key="invariance-verdict")


def _aggregation(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Aggregation to collaborations")
    agg = data.psychometrics.get("aggregation", pd.DataFrame())
    if not len(agg):
        nb.markdown("No aggregation indices are available.", key="aggregation-none")
        return
    agreement = data.psychometrics.get("agreement", pd.DataFrame())
    truncated = int(agreement["truncated"].sum()) if len(agreement) else 0
    nb.markdown(
        "Whether a collaboration's mean score can be read as a property of the collaboration "
        "(Bliese 2000): ICC(1) above 0 with a significant F test (membership matters), ICC(2) "
        "of at least 0.70 (collaboration means are reliable) and a median rwg(J) of at least "
        "0.70 (partners of a collaboration agree). *Justified* when all three hold; *use with "
        "caution* when there is a group effect and agreement but ICC(2) is low (usually too few "
        "respondents per collaboration); *not justified* otherwise. rwg(J) is computed per "
        "collaboration against a uniform null and summarised by its median; "
        + (f"it was truncated to 0 in {fmt_int(truncated)} of {fmt_int(len(agreement))} "
           "collaboration × wave × characteristic cells, where the observed variance exceeded "
           "the null variance."
           if truncated else "no value needed truncation.")
        + " @fig-aggregation shows the three indices and @tbl-aggregation gives them with the "
        "F test and the verdict.", key="aggregation-intro")
    nb.output(tech.aggregation_chart, data, label="fig-aggregation",
              caption="ICC(1), ICC(2) and median rwg(J) per characteristic and wave; dashed "
                      "lines mark the 0.70 conventions.")
    nb.output(tech.aggregation_table, data, label="tbl-aggregation",
              caption="Aggregation indices and verdict per wave and characteristic.")


def _data_quality(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Data quality")
    sources = data.sources
    if not len(sources):
        nb.markdown("No ingest records are available for this workspace.", key="ingest-none")
        return
    formats = sources["format"].astype(str).value_counts()
    read = int(sources["rows_read"].sum())
    held = int(sources["rows_quarantined"].sum())
    worst = sources.loc[(sources["rows_quarantined"] / sources["rows_read"].where(
        sources["rows_read"] > 0)).fillna(-1).idxmax()]
    text = (
        f"{plural(len(sources), 'export')} in {plural(len(formats), 'format')} "
        f"({', '.join(md_escape(tech.FORMAT_NAMES.get(f, f)) for f in formats.index)}): "
        f"{fmt_int(read)} rows read, {fmt_int(sources['rows_accepted'].sum())} accepted and "
        f"{fmt_int(held)} quarantined. Every row read is either accepted or quarantined, and a "
        "row with several problems is counted under the first reason only. ")
    if held:
        text += (f"The largest share was quarantined from {md_escape(worst['source_name'])} "
                 f"({fmt_percent(worst['rows_quarantined'] / worst['rows_read'], 1)}). ")
    nb.markdown(text + "@tbl-ingest lists every export; @tbl-quarantine the reasons.",
                key="ingest-intro")
    nb.output(tech.ingest_table, data, label="tbl-ingest",
              caption="Rows read, accepted and quarantined per ingested export.")
    nb.output(tech.quarantine_table, data, label="tbl-quarantine",
              caption="Quarantined rows by reason, over all exports.")


def _versions(nb: ReportNotebook, data: ReportData) -> None:
    nb.heading("Instrument versions")
    used = tech.used_versions(data)
    nb.markdown(
        f"The waves used {plural(len(used), 'instrument version')} "
        f"({md_escape(', '.join(used))}); "
        "@tbl-versions shows which. Item statistics and factor models use each wave's own "
        "version; a change between two waves of the same version uses every item (the scores "
        "the reports show), while a change across a version change and the trends across all "
        "waves use only the items that the version mappings mark comparable.",
        key="versions-intro")
    nb.output(tech.versions_table, data, label="tbl-versions",
              caption="Instrument version used by each wave.")
    chains = tech.cross_wave_chains(data)
    for mapping, label in _mappings(data):
        counts = pd.Series([e.relation for e in mapping.entries]).value_counts()
        words = ", ".join(f"{n} {tech.RELATION_NAMES.get(r, r).lower()}"
                          for r, n in counts.items())
        nb.heading(f"From version {md_escape(mapping.from_version)} to "
                   f"{md_escape(mapping.to_version)}", 3)
        nb.markdown(
            f"{plural(len(mapping.entries), 'mapping entry', 'mapping entries')}: {words}. "
            f"Across all the waves, {plural(len(chains), 'item')} are comparable and used for "
            f"cross-wave comparison (@{label}).", key=f"mapping-{label}")
        nb.output(tech.mapping_table, data, label=label,
                  caption=f"How the items of version {mapping.from_version} map to version "
                          f"{mapping.to_version}, and which are compared across waves.",
                  from_version=mapping.from_version, to_version=mapping.to_version)


def _mappings(data: ReportData) -> list[tuple[object, str]]:
    """The version mappings between the first and the last version the waves used, each with
    its table label."""
    used = tech.used_versions(data)
    ids = list(data.family.version_ids)
    span = ids[ids.index(used[0]): ids.index(used[-1]) + 1] if used else []
    return [(m, f"tbl-mapping-{_slug(m.from_version)}-{_slug(m.to_version)}")
            for m in data.family.mappings if m.from_version in span and m.to_version in span]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"
