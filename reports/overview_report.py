"""The programme overview report, for commissioners and evaluators.

One notebook for the whole programme and one wave: response rates, a heatmap of
collaborations x characteristics, collaborations compared with confidence intervals (never
bare ranks), each collaboration against the programme's median per characteristic, change since the last wave, and tests of whether
collaborations differ more than chance would explain. Figures and tables come from
:mod:`reports.outputs.programme`; this module writes the words around them.

At national size (more than :data:`reports.outputs.national.NATIONAL_SIZE` collaborations)
the figures show distributions and groups instead of a row per collaboration, the
collaborations that differ from the median are listed, and the tables with a row per
collaboration are searchable on the page, left out of print and in the downloads.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from collab_stats.change import INVARIANCE_CAVEAT
from collab_stats.errors import ParameterError
from reports.data import ReportData
from reports.notebook import ReportNotebook
from reports.outputs import national, trends
from reports.outputs import programme as out
from reports.provenance import add_provenance, front_matter_provenance
from reports.text import fmt_number, fmt_percent, md_escape, plural, suppressed_text

__all__ = ["SECTIONS", "build_overview_report"]

#: The report's level-2 sections, in order (provenance, "About this report", comes last).
SECTIONS = (
    "Summary",
    "Response rates",
    "Scores by collaboration and characteristic",
    "Collaborations compared, with their uncertainty",
    "Comparison with the programme's median",
    "Change since the last wave",
    "Differences between collaborations",
)
#: The section titles that differ at national size (``reports.outputs.national``).
NATIONAL_SECTIONS = (*SECTIONS[:2], "Scores by region, peer group and type",
                     "How collaborations' averages are spread", *SECTIONS[4:])
#: Significance level behind the plain labels ("improved", "differ more than chance").
ALPHA = 0.05


def build_overview_report(data: ReportData, *, wave: str | None = None,
                          collaboration_links: Mapping[str, str] | None = None,
                          data_path: str = "..") -> ReportNotebook:
    """Assemble the programme overview report (call ``.build()`` on the result for the
    notebook).

    Parameters
    ----------
    data : ReportData
    wave : str, optional
        The wave reported on; default the latest wave with results.
    collaboration_links : mapping, optional
        Collaboration id -> relative link to its own report (e.g.
        ``"collaborations/abc.ipynb"``): names in the text and league table become links.
    data_path : str
        Where the notebook's setup cell finds the workspace, relative to the notebook.
    """
    wave = data.latest_wave if wave is None else str(wave)
    if wave not in data.waves:
        raise ParameterError(f"wave must be one of the programme's waves "
                             f"{', '.join(data.waves)}; got {wave!r}")
    links = out.check_links(collaboration_links)
    # Plain text: ReportNotebook escapes the front matter's title, subtitle and author.
    name = data.programme.name
    label = _wave_label(data, wave)
    nb = ReportNotebook(title=f"{name}: programme overview", subtitle=f"Results for {label}",
                        author=name, date=data.generated_at.date(), data_path=data_path,
                        extra_front_matter=front_matter_provenance(data))
    facts = _facts(data, wave)

    nb.heading(SECTIONS[0])
    nb.callout("note", _summary(data, wave, facts, links), title="Key findings", key="summary")

    _response_section(nb, data, wave, facts, links)
    _heatmap_section(nb, data, wave)
    _league_section(nb, data, wave, facts, links)
    _verdict_section(nb, data, wave, facts)
    _change_section(nb, data, wave, facts)
    if wave == data.latest_wave:
        _trends_section(nb, data)
    _differences_section(nb, data, wave, facts)
    add_provenance(nb, data)
    return nb


# --- facts shared by the summary and the sections ------------------------------------------------

def _wave_label(data: ReportData, wave: str) -> str:
    return next((w.label for w in data.programme.waves if w.id == wave), wave) or wave


def _facts(data: ReportData, wave: str) -> dict:
    """The numbers the text quotes, computed once."""
    rates = out.response_frame(data, wave=wave)
    overall = out.overall_frame(data, wave=wave)
    heat = out.heatmap_frame(data, wave=wave)
    verdicts = out.verdict_frame(data, wave=wave)
    change = out.change_frame(data, wave=wave)
    differences = out.differences_frame(data, wave=wave)
    table = data.benchmark.get("verdicts", pd.DataFrame())
    improved = declined = 0
    if not table.empty:
        rows = table[(table["wave_id"].astype(str) == wave)
                     & (table["comparator"].astype(str) == "previous")
                     & ~table["suppressed"].astype(bool)]
        flags = pd.DataFrame({"collaboration_id": rows["collaboration_id"].astype(str),
                              "up": rows["verdict"] == "improved",
                              "down": rows["verdict"] == "declined"})
        counts = flags.groupby("collaboration_id")[["up", "down"]].any().sum()
        improved, declined = int(counts["up"]), int(counts["down"])
    return {"rates": rates, "overall": overall, "heat": heat, "verdicts": verdicts,
            "change": change, "differences": differences, "previous": data.previous_wave(wave),
            "collab_improved": improved, "collab_declined": declined}


def _names_list(data: ReportData, ids: list[str], links: Mapping[str, str]) -> str:
    names = [out.md_name(data.collaboration(c).name if c in _ids(data) else c, links.get(c))
             for c in ids]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _ids(data: ReportData) -> set[str]:
    return {c.id for c in data.programme.collaborations}


def _char_list(names: list[str]) -> str:
    quoted = [f"*{n}*" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _summary(data: ReportData, wave: str, facts: dict, links: Mapping[str, str]) -> str:
    rates, overall, heat = facts["rates"], facts["overall"], facts["heat"]
    chars = data.characteristic_names()
    hidden = suppressed_text(data.threshold)
    shown = rates[~rates["suppressed"]]
    partly = int(overall["suppressed"].sum() - rates["suppressed"].sum())
    lines = [
        f"- **{plural(len(rates), 'collaboration')}** took part in "
        f"{md_escape(_wave_label(data, wave))}. {plural(int(shown['n'].sum()), 'person', 'people')}"
        f" responded in the {plural(len(shown), 'collaboration')} with at least "
        f"{data.threshold} responses"
        + (f"; {plural(int(rates['suppressed'].sum()), 'collaboration')} had {hidden}, so "
           "their figures are not shown" if rates["suppressed"].any() else "")
        + (f", and {plural(partly, 'more collaboration')} had {hidden} on some "
           "characteristics" if partly > 0 else "") + ".",
    ]
    known = shown["response_rate"].dropna()
    if len(known):
        lines.append(f"- Response rates ranged from {fmt_percent(known.min())} to "
                     f"{fmt_percent(known.max())} (median {fmt_percent(known.median())}).")
    averages = heat.mean(axis=0).dropna().sort_values(ascending=False)
    if len(averages) >= 4:
        top, bottom = list(averages.index[:2]), list(averages.index[-2:][::-1])
        lines.append(
            f"- Across the programme, collaborations scored highest on "
            f"{_char_list([chars[c] for c in top])} (average {fmt_number(averages[top[0]])}) "
            f"and lowest on {_char_list([chars[c] for c in bottom])} (average "
            f"{fmt_number(averages[bottom[0]])}), on a scale of 1 to 5.")
    lines.append(_change_sentence(data, facts, bullet=True))
    lines.append(_differences_sentence(facts, bullet=True))
    ahead = overall[overall["n_above"] >= len(chars) / 2]["collaboration_id"].tolist()
    behind = overall[overall["n_below"] >= len(chars) / 2]["collaboration_id"].tolist()
    for ids, words in ((ahead, "above"), (behind, "below")):
        if not ids:
            continue
        listed = (f": {_names_list(data, ids, links)}" if len(ids) <= 8 else
                  " (see the league table)")
        lines.append(f"- {plural(len(ids), 'collaboration')} scored {words} the median of "
                     f"the programme's collaborations on at least half of the characteristics "
                     f"(the whole 95% interval {words} it){listed}.")
    return "\n".join(line for line in lines if line)


def _change_sentence(data: ReportData, facts: dict, *, bullet: bool = False) -> str:
    previous, change = facts["previous"], facts["change"]
    lead = "- " if bullet else ""
    if previous is None or change.empty:
        return f"{lead}This is the first wave, so there is no change to report yet."
    improved, declined = facts["collab_improved"], facts["collab_declined"]
    return (f"{lead}Since {md_escape(_wave_label(data, previous))}, "
            f"{plural(improved, 'collaboration')} improved clearly on at least one "
            f"characteristic and {plural(declined, 'collaboration')} declined clearly on at "
            f"least one; {int(change['improved'].sum() + change['declined'].sum())} of "
            f"{out.n_tested(change)} comparisons showed a clear change, against about "
            f"{round(ALPHA * out.n_tested(change))} expected by chance alone.")


def _differences_sentence(facts: dict, *, bullet: bool = False) -> str:
    frame = facts["differences"]
    if frame.empty or frame["p_adjusted_welch"].isna().all():
        return ""
    differ = int((frame["p_adjusted_welch"] < ALPHA).sum())
    return (f"{'- ' if bullet else ''}Collaborations differ more than chance would explain on "
            f"{differ} of {len(frame)} characteristics.")


# --- sections ------------------------------------------------------------------------------------

def _response_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict,
                      links: Mapping[str, str]) -> None:
    nb.heading(SECTIONS[1])
    hidden = suppressed_text(data.threshold)
    rates = facts["rates"]
    few = rates[rates["suppressed"]]["collaboration_id"].tolist()
    if national.is_national(data):
        nb.markdown(
            "@fig-response-rates shows how many collaborations had each response rate; "
            "@tbl-response-rates gives every collaboration's number of people who responded, "
            "the number invited and the response rate (type a name in the box to find one). "
            f"Collaborations with {hidden} are shown as \"{hidden}\": their response rate is "
            "not given either, because with the number invited it would reveal how many "
            "responded. A low response rate means a collaboration's results may not represent "
            "everyone involved in it.", key="response-text")
        if few:
            nb.markdown(f"{plural(len(few), 'collaboration')} had {hidden} in this wave, so "
                        "none of their results can be shown (they are marked in "
                        "@tbl-response-rates). Encouraging more people to respond next time "
                        "would let their results be reported.", key="response-few")
    else:
        nb.markdown(
            "@tbl-response-rates gives the number of people who responded in each "
            "collaboration, the number invited and the response rate; @fig-response-rates "
            f"shows the rates, highest first. Collaborations with {hidden} are shown as "
            f"\"{hidden}\": their response rate is not given either, because with the number "
            "invited it would reveal how many responded. A low response rate means a "
            "collaboration's results may not represent everyone involved in it.",
            key="response-text")
    if few and not national.is_national(data):
        nb.markdown(f"{plural(len(few), 'collaboration')} had {hidden} in this wave, so none "
                    f"of their results can be shown: {_names_list(data, few, links)}. "
                    "Encouraging more people to respond next time would let their results be "
                    "reported.", key="response-few")
    if national.is_national(data):
        nb.output(national.response_rate_histogram, data, label="fig-response-rates",
                  caption="How many collaborations had each response rate, with the median "
                          "across collaborations.", wave=wave)
        _long_table(nb, data, out.response_rate_table, "tbl-response-rates",
                    "Respondents, people invited and response rate of each collaboration.",
                    wave)
        return
    nb.output(out.response_rate_chart, data, label="fig-response-rates",
              caption="Response rate of each collaboration, highest first, with the median "
                      "across collaborations.", wave=wave)
    nb.output(out.response_rate_table, data, label="tbl-response-rates",
              caption="Respondents, people invited and response rate of each collaboration.",
              wave=wave)


def _long_table(nb: ReportNotebook, data: ReportData, function, label: str, caption: str,
                wave: str, **kwargs) -> None:
    """A table with a row per collaboration of a national programme: searchable on the page,
    left out of print (a note says where it is), in the downloads."""
    n = len(data.programme.collaborations)
    nb.markdown(f"::: {{.cs-print-only}}\nThe table of all {n:,} collaborations is on the "
                f"HTML page (with a search box) and in the downloads ({label}.csv).\n:::",
                key=f"{label}-print-note")
    nb.output(function, data, label=label, caption=caption, classes="cs-no-print cs-searchable",
              wave=wave, **kwargs)


def _heatmap_section(nb: ReportNotebook, data: ReportData, wave: str) -> None:
    if national.is_national(data):
        _groups_section(nb, data, wave)
        return
    nb.heading(SECTIONS[2])
    nb.markdown(
        "@fig-heatmap shows every collaboration's average score on each of the eight "
        "characteristics, on a scale of 1 to 5 where higher is better. Darker cells are higher "
        "scores, and each score is written in its cell. Collaborations are ordered by their "
        "average across the characteristics, highest first; those with "
        f"{suppressed_text(data.threshold)} come last, as hatched cells marked "
        f"\"<{data.threshold}\" without a score. The colour scale covers the range of the "
        "scores shown, not the whole 1 to 5 scale, so that differences are visible; small "
        "differences in shade are not meaningful on their own (see the intervals in the next "
        "section).", key="heatmap-text")
    nb.output(out.score_heatmap, data, label="fig-heatmap",
              caption="Average score of each collaboration on each characteristic, "
                      "collaborations ordered by their average across characteristics.",
              wave=wave)


def _groups_section(nb: ReportNotebook, data: ReportData, wave: str) -> None:
    nb.heading(NATIONAL_SECTIONS[2])
    nb.markdown(
        "With this many collaborations, a row for each would not be readable, so "
        "@fig-groups and @tbl-groups show the groups instead: each region, peer group and type "
        "of collaboration, with the number of its collaborations shown and the median of their "
        "average scores on each characteristic, on a scale of 1 to 5 where higher is better. "
        "Half of a group's collaborations score above its median and half below. "
        f"Collaborations with {suppressed_text(data.threshold)} are not counted. Every "
        "collaboration's scores are in the downloads and in its own report.", key="groups-text")
    nb.output(national.group_heatmap, data, label="fig-groups",
              caption="Median score of each group's collaborations on each characteristic "
                      "(number of collaborations shown in brackets).", wave=wave)
    nb.output(national.group_table, data, label="tbl-groups",
              caption="Each group's number of collaborations shown and the median score of "
                      "its collaborations on each characteristic.", wave=wave)


def _league_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict,
                    links: Mapping[str, str]) -> None:
    if national.is_national(data):
        _distribution_section(nb, data, wave, facts, links)
        return
    nb.heading(SECTIONS[3])
    overall = facts["overall"]
    shown = overall[~overall["suppressed"]]
    overlap = out.overlap_share(shown)
    nb.markdown(
        "@fig-league and @tbl-league show each collaboration's average across the eight "
        "characteristics with its 95% interval: the range in which its true average "
        "plausibly lies, given how many people responded. This is not a ranking. When the "
        "intervals of two collaborations overlap, we cannot be confident which of them is "
        "higher, so the order is uncertain"
        + (f": here {fmt_percent(overlap)} of pairs of collaborations have overlapping "
           "intervals" if overlap == overlap else "")
        + ". The interval of the average is made from the eight characteristics' intervals; "
        "it is slightly wider than an exact interval would be. The last two columns count the "
        "characteristics on which a collaboration is higher or lower than the median of the "
        "programme's collaborations (next section).", key="league-text")
    nb.output(out.league_chart, data, label="fig-league",
              caption="Each collaboration's average across characteristics with its 95% "
                      "interval, highest first.", wave=wave)
    kwargs = {"wave": wave}
    if links:
        kwargs["collaboration_links"] = dict(links)
    nb.output(out.league_table, data, label="tbl-league",
              caption="Each collaboration's average across characteristics with its 95% "
                      "interval, and the number of characteristics on which it is higher or "
                      "lower than the median of the programme's collaborations.", **kwargs)


def _distribution_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict,
                          links: Mapping[str, str]) -> None:
    nb.heading(NATIONAL_SECTIONS[3])
    overall = facts["overall"]
    shown = overall[~overall["suppressed"]]
    nb.markdown(
        "@fig-league shows how the collaborations' averages across the eight characteristics "
        f"are spread: how many of the {len(shown):,} collaborations shown have each average. "
        "@tbl-league gives every collaboration's average with its 95% interval (the range in "
        "which its true average plausibly lies): type a name in the box above it to find one. "
        "It is not a ranking: most intervals overlap, so the order of collaborations with "
        "similar averages is uncertain.", key="league-text")
    nb.output(national.league_histogram, data, label="fig-league",
              caption="How many collaborations have each average across the characteristics, "
                      "with the median.", wave=wave)
    kwargs = {"collaboration_links": dict(links)} if links else {}
    _long_table(nb, data, out.league_table, "tbl-league",
                "Each collaboration's average across characteristics with its 95% interval, "
                "and the number of characteristics on which it is higher or lower than the "
                "median of the programme's collaborations.", wave, **kwargs)


def _verdict_counts(verdicts) -> tuple[int, int, int]:
    """Collaboration scores shown, and how many of them are higher / lower than the median
    (read from the verdict table)."""
    return (len(verdicts), int((verdicts["verdict"] == "higher").sum()),
            int((verdicts["verdict"] == "lower").sum()))


def _verdict_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict) -> None:
    if national.is_national(data):
        _national_verdict_section(nb, data, wave, facts)
        return
    nb.heading(SECTIONS[4])
    total, higher, lower = _verdict_counts(facts["verdicts"])
    nb.markdown(
        "@fig-verdicts has one panel per characteristic. Each point is a collaboration: its "
        "average score, with its 95% interval as a vertical line, against its number of "
        "respondents. The horizontal line is the median of the programme's collaborations. A "
        "collaboration whose whole interval lies above the line is *higher* (upward "
        "triangles), wholly below *lower* (downward triangles), otherwise *in line* (circles): "
        "the same test, and the same words, as in each collaboration's own report. Intervals "
        "narrow as more people respond.", key="verdicts-text")
    nb.output(out.verdict_plots, data, label="fig-verdicts",
              caption="Each collaboration's average score with its 95% interval against its "
                      "number of respondents, and the median of the programme's "
                      "collaborations.", wave=wave)
    if total:
        nb.markdown(
            f"Of {total} collaboration scores shown, {higher} ({fmt_percent(higher / total)}) "
            f"are higher than the median and {lower} ({fmt_percent(lower / total)}) lower. "
            "Collaborations with "
            f"{suppressed_text(data.threshold)} are not shown and not counted. @tbl-verdicts "
            "gives the verdict of every collaboration and characteristic.",
            key="verdicts-findings")
    nb.output(out.verdict_table, data, label="tbl-verdicts",
              caption="Each collaboration on each characteristic: higher than, in line with "
                      "or lower than the median of the programme's collaborations.", wave=wave)


def _national_verdict_section(nb: ReportNotebook, data: ReportData, wave: str,
                              facts: dict) -> None:
    nb.heading(SECTIONS[4])
    total, higher, lower = _verdict_counts(facts["verdicts"])
    differing = national.differing_frame(data, wave=wave)
    nb.markdown(
        "A collaboration is *higher* than the median of the programme's collaborations on a "
        "characteristic when the whole 95% interval of its average lies above that median, "
        "*lower* when it lies wholly below, and otherwise *in line*: the same test, and the "
        "same words, as in each collaboration's own report. @fig-verdicts counts them for each "
        "characteristic.", key="verdicts-text")
    nb.output(national.verdict_counts_chart, data, label="fig-verdicts",
              caption="How many collaborations are higher than, in line with and lower than "
                      "the median of the programme's collaborations, on each characteristic.",
              wave=wave)
    if total:
        nb.markdown(
            f"Of {total:,} collaboration scores shown, {higher:,} ({fmt_percent(higher / total)}) "
            f"are higher than the median and {lower:,} ({fmt_percent(lower / total)}) lower; "
            f"{len(differing):,} collaborations differ from the median on at least one "
            "characteristic (@tbl-differing); @tbl-verdicts gives the verdict of every "
            "collaboration on every characteristic. Collaborations with "
            f"{suppressed_text(data.threshold)} are not shown and not counted.",
            key="verdicts-findings")
    _long_table(nb, data, national.differing_table, "tbl-differing",
                "The collaborations higher or lower than the median of the programme's "
                "collaborations on at least one characteristic, and on which.", wave)
    _long_table(nb, data, out.verdict_table, "tbl-verdicts",
                "Each collaboration on each characteristic: higher than, in line with or "
                "lower than the median of the programme's collaborations.", wave)


def _change_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict) -> None:
    nb.heading(SECTIONS[5])
    change = facts["change"]
    if facts["previous"] is None or change.empty:
        nb.markdown(_change_sentence(data, facts), key="change-none")
        return
    previous = md_escape(_wave_label(data, facts["previous"]))
    nb.markdown(
        _change_sentence(data, facts) + " @fig-change shows, for each characteristic, how "
        "many collaborations declined and how many improved; @tbl-change gives the numbers, "
        "with those not tested or not shown.", key="change-text")
    same = data.instrument_version(facts["previous"]) == data.instrument_version(wave)
    basis = ("on the same scores as the rest of this report (both waves used the same "
             "questionnaire)" if same else
             "on the questions asked in the same way in both waves (the questionnaire changed "
             "between them, so these means can differ from the scores elsewhere)")
    nb.markdown(
        f"How to read this: for each collaboration and characteristic, the change since "
        f"{previous} is tested {basis}, counting people who answered both waves once. *Improved* and *declined* mean the change is "
        f"larger than chance would explain (p < {ALPHA}); *no clear change* means it is not, "
        "which is not proof that nothing changed. With this many comparisons, some clear "
        "changes are expected by chance even if nothing had changed, so a single change on "
        "one characteristic should be read with care. Collaborations with "
        f"{suppressed_text(data.threshold)} in either wave are not tested.",
        key="change-howto")
    caveats = _change_caveats(data, change)
    if caveats:
        nb.callout("warning", "Change needs care: " + md_escape("; ".join(caveats)) + ".",
                   title="Read the change with care", key="change-caveat")
    nb.output(out.change_chart, data, label="fig-change",
              caption=f"Collaborations that declined, showed no clear change or improved on "
                      f"each characteristic since {previous}.",
              wave=wave)
    nb.output(out.change_table, data, label="tbl-change",
              caption="Number of collaborations by change since the previous wave, per "
                      "characteristic.", wave=wave)


def _trends_section(nb: ReportNotebook, data: ReportData) -> None:
    """Across all waves: is the programme improving, and do collaborations differ in how
    fast? Words from the library's verdicts in ``programme_slopes``."""
    frame = trends.slopes_frame(data)
    if frame.empty:
        return
    nb.heading("Trends across all waves", 3)
    groups = {label: list(frame.loc[frame["trend_label"] == label, "name"])
              for label in ("significantly improving", "significantly declining",
                            "no significant trend", "not tested")}
    parts = []
    for label, words in (("significantly improving", "improving"),
                         ("significantly declining", "declining"),
                         ("no significant trend", "showing no clear change"),
                         ("not tested", "not estimable")):
        if groups[label]:
            parts.append(f"{words} on {plural(len(groups[label]), 'characteristic')}")
    differ = int((frame["slopes_label"] == "collaborations differ in how fast they change").sum())
    waves = len(data.waves)
    nb.markdown(
        f"Is the programme improving, and do collaborations differ in how fast? One model per "
        f"characteristic over all {waves} waves and all collaborations (each collaboration "
        "with its own starting level and its own rate of change) answers both. On average "
        f"the programme is {'; '.join(parts)} (@tbl-trends). Collaborations differ in how "
        f"fast they change on {differ} of {len(frame)} characteristics: @fig-slopes shows each "
        "collaboration's own change per wave with its uncertainty. The change is measured on "
        "the questions comparable across the instrument versions the waves used.",
        key="trends-text")
    nb.markdown(
        "How to read this: *average change per wave* is the programme's typical change in "
        "score from one wave to the next. *Spread of collaborations' slopes* is how much the "
        "collaborations' own rates of change vary around that average; *collaborations differ* "
        f"means that spread is larger than chance would explain (p < {ALPHA}, a "
        "likelihood-ratio test). A collaboration's own slope borrows strength from the others "
        "(it is pulled towards the average when its own data are few). Collaborations with "
        f"{suppressed_text(data.threshold)} in a wave are part of the model but are not shown "
        "one by one.", key="trends-howto")
    nb.output(trends.slopes_table, data, label="tbl-trends",
              caption="Average change per wave across the programme, and how much "
                      "collaborations differ in their rate of change, per characteristic.")
    nb.output(trends.slopes_chart, data, label="fig-slopes",
              caption="Each collaboration's own change per wave with its 95% interval, per "
                      "characteristic (dashed: the programme's average).")


def _change_caveats(data: ReportData, change: pd.DataFrame) -> list[str]:
    """The change table's caveats, and the invariance caveat when the measurement invariance
    analysis did not support scalar invariance across waves."""
    caveats = {c for text in change["caveat"] for c in str(text).split("; ") if c}
    invariance = data.psychometrics.get("invariance", pd.DataFrame())
    if not invariance.empty and {"level", "supported"} <= set(invariance.columns):
        scalar = invariance[invariance["level"] == "scalar"]
        if len(scalar) and not bool(scalar["supported"].iloc[0]):
            caveats.add(INVARIANCE_CAVEAT)
    return sorted(caveats)


def _differences_section(nb: ReportNotebook, data: ReportData, wave: str, facts: dict) -> None:
    nb.heading(SECTIONS[6])
    frame = facts["differences"]
    if frame.empty:
        nb.markdown("No test of differences between collaborations is available for this "
                    "wave.", key="differences-none")
        return
    chars = data.characteristic_names()
    sentence = _differences_sentence(facts)
    ranks = int((frame["p_adjusted_kruskal"] < ALPHA).sum())
    largest = frame.loc[frame["omega2"].idxmax()] if frame["omega2"].notna().any() else None
    smallest = frame.loc[frame["omega2"].idxmin()] if frame["omega2"].notna().any() else None
    detail = ""
    if largest is not None:
        detail = (
            f" The differences are largest on *{chars[largest['characteristic']]}*, where "
            f"{fmt_percent(max(largest['omega2'], 0))} of the variation in people's scores "
            f"lies between collaborations ({out.effect_words(largest['omega2'])}), and smallest "
            f"on *{chars[smallest['characteristic']]}* "
            f"({fmt_percent(max(smallest['omega2'], 0))}, "
            f"{out.effect_words(smallest['omega2'])}).")
    nb.markdown(
        f"{sentence} The test on ranks, which is less affected by unusual answers, finds "
        f"differences on {ranks} of {len(frame)}.{detail}"
        + (" Even so, most of the variation in scores lies between people within a "
           "collaboration, not between collaborations."
           if frame["omega2"].max() < 0.5 else ""), key="differences-text")
    nb.markdown(
        "How to read @tbl-differences: Welch's ANOVA asks whether collaborations' average "
        "scores differ by more than chance, without assuming they vary equally; the "
        "Kruskal-Wallis test asks the same of ranks. The p-values are adjusted for testing "
        "eight characteristics (Benjamini-Hochberg); below 0.05 means the collaborations "
        "differ more than chance would explain. Omega squared (and epsilon squared, for "
        "ranks) is the share of the variation in people's scores that lies between "
        "collaborations: about 0.01 is small, 0.06 medium and 0.14 large.",
        key="differences-howto")
    nb.output(out.differences_table, data, label="tbl-differences",
              caption="Tests of differences between collaborations on each characteristic, "
                      "with effect sizes.", wave=wave)
