"""The collaboration benchmark report: one collaboration, one wave, for its commissioners and
leads, readable in two minutes.

:func:`build_collaboration_report` assembles the notebook section by section (see
:data:`SECTIONS`); the numbers come from :mod:`reports.outputs.collaboration`, which draws the
figures and formats the tables, and whose ``*_frame`` helpers give the sentences here the same
numbers as the figures. The notebook is returned unbuilt so the site can add its downloads
section before :meth:`~reports.notebook.ReportNotebook.build`.

Every name that comes from the programme or from respondents (collaboration, partner and peer
group names, wave labels, free text) goes through :func:`~reports.text.md_escape` before it is
written into a markdown cell. Figures resting on fewer than the disclosure threshold of
respondents are neither drawn nor written: the text says "fewer than N responses".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from collab_stats.errors import CollabStatsError

from .data import ReportData
from .notebook import ReportNotebook
from .outputs import collaboration as out
from .provenance import add_provenance, front_matter_provenance
from .text import fmt_int, fmt_number, fmt_percent, md_escape, plural, suppressed_text

__all__ = ["FREE_TEXT_SECTION", "SECTIONS", "SHORT_SECTIONS", "build_collaboration_report"]

#: The level-2 sections of every collaboration report, in order (then "About this report").
SECTIONS = (
    "Summary",
    "Who responded",
    "The eight characteristics against peers",
    "Profile",
    "Strengths and areas to develop",
    "Change over time",
    "Results for each question",
    "Ways of creating value",
    "Connections across sectors",
    "Results by sector and role",
    "Notes on the figures",
    "Appendix: detailed tables",
)
#: The sections of a short report, for a collaboration with nothing shown in the wave.
SHORT_SECTIONS = (SECTIONS[0], SECTIONS[1], SECTIONS[10])
#: Added before the provenance only when free text is enabled and there are enough responses.
FREE_TEXT_SECTION = "What respondents wrote"
RWG_LOW = 0.7
ALPHA_LOW = 0.7


@dataclass(frozen=True)
class _Context:
    data: ReportData
    collaboration: str
    name: str  # escaped for markdown
    wave: str
    label: str  # escaped wave label
    peer_set: str
    status: str  # shown / suppressed / none
    kwargs: dict
    name_plain: str = ""  # unescaped, for captions (escaped when rendered)
    label_plain: str = ""
    fallback: str = ""  # the comparator asked for, when it had too few peers
    appendix: list = field(default_factory=list)  # (function, label, caption, kwargs)

    @property
    def hidden(self) -> str:
        return suppressed_text(self.data.threshold)


def build_collaboration_report(data: ReportData, collaboration_id: str, *,
                               wave: str | None = None, free_text: bool = False,
                               data_path: str = "../..",
                               peer_set: str = "all") -> ReportNotebook:
    """The benchmark report of one collaboration for one wave, not yet built.

    Parameters
    ----------
    data : ReportData
        The programme, instrument and (already suppressed) benchmark and psychometric tables.
    collaboration_id : str
        Which collaboration.
    wave : str, optional
        The wave reported on (default: the latest wave with results).
    free_text : bool
        Add the collaboration's free-text answers (only when ``data.comments`` holds them and
        the collaboration has at least the threshold of respondents in the wave). Off by
        default: free text may identify people.
    data_path : str
        Where a re-executed notebook finds the workspace, relative to the notebook.
    peer_set : str
        The comparator of every verdict against peers (``"all"``: the programme's
        collaborations; ``"peer_group"``: the collaboration's peer group; or ``"type"``,
        ``"region"``, ``"main_value_mode"``). When it has too few collaborations with enough
        responses in the wave, the programme is used and the report says so.

    Returns
    -------
    ReportNotebook
        Call ``.build()`` for the nbformat notebook (after adding any further sections).
    """
    wave = data.latest_wave if wave is None else str(wave)
    if wave not in data.waves:
        raise CollabStatsError(f"wave {wave!r} is not a wave of programme {data.programme.id!r} "
                               f"(waves: {', '.join(data.waves)})")
    collab = data.collaboration(collaboration_id)
    labels = {w.id: w.label for w in data.programme.waves}
    status = out.response_status(data, collab.id, wave)
    fallback = ""
    if peer_set != "all" and status == "shown":
        frame = out.characteristic_frame(data, collab.id, wave, peer_set)
        if not frame.loc[~frame["suppressed"], "peer_median"].notna().any():
            fallback, peer_set = peer_set, "all"
    kwargs = {"collaboration": collab.id, "wave": wave}
    if peer_set != "all":
        kwargs["peer_set"] = peer_set
    ctx = _Context(data=data, collaboration=collab.id, name=md_escape(collab.name), wave=wave,
                   label=md_escape(labels[wave]), peer_set=peer_set, status=status,
                   kwargs=kwargs, name_plain=collab.name, label_plain=labels[wave],
                   fallback=fallback)
    nb = ReportNotebook(title=collab.name,
                        subtitle=f"Collaboration benchmark report, {labels[wave]}",
                        author=data.programme.name, date=data.generated_at.date(),
                        data_path=data_path, extra_front_matter=front_matter_provenance(data))
    # A collaboration with nothing shown gets a short report that says why: no empty
    # sections, no tables of "not shown".
    sections = ((_summary, _responses, _peers, _profile, _strengths, _change, _items,
                 _value_modes, _network, _breakdowns, _notes, _appendix) if status == "shown"
                else (_summary, _responses, _notes))
    for section in sections:
        section(nb, ctx)
    if free_text:
        _free_text(nb, ctx)
    add_provenance(nb, data)
    return nb


# -- helpers -------------------------------------------------------------------------------------

def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _names(frame: pd.DataFrame, mask: pd.Series) -> list[str]:
    return [md_escape(n) for n in frame.loc[mask, "name"]]


def _not_shown(nb: ReportNotebook, ctx: _Context, what: str, key: str) -> None:
    reason = ("no one responded" if ctx.status == "none"
              else f"fewer than {ctx.data.threshold} people responded")
    nb.callout("warning", f"{what} for {ctx.label}: not shown, because {reason}.",
               title="Not shown", key=key)


# -- 1. summary ----------------------------------------------------------------------------------

def _summary(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[0], key="h-summary")
    data = ctx.data
    if ctx.status != "shown":
        text = (f"No one from {ctx.name} responded to the survey in {ctx.label}."
                if ctx.status == "none" else
                f"Fewer than {data.threshold} people from {ctx.name} responded to the survey in "
                f"{ctx.label}. To protect their anonymity this report does not show the "
                "collaboration's results for that wave: no scores, comparisons or answers.")
        nb.callout("warning", text, title="Results not shown for this wave", key="summary")
        return
    previous = data.previous_wave(ctx.wave)
    since = f" and the change since {_wave_label(data, previous)}" if previous else ""
    nb.output(out.panel_table, data, label="tbl-panel",
              caption=f"At a glance: the eight characteristics in {ctx.label_plain}, compared "
              f"with {out.comparator_words(data, ctx.collaboration, ctx.peer_set)}{since}."
              + (f" \"Not shown\": {ctx.hidden}." if out.characteristic_frame(
                  data, ctx.collaboration, ctx.wave, ctx.peer_set)["suppressed"].any() else ""),
              **ctx.kwargs)
    responses = out.response_frame(data, ctx.collaboration, ctx.wave)
    row = responses[responses["wave_id"] == ctx.wave].iloc[0]
    frame = out.characteristic_frame(data, ctx.collaboration, ctx.wave, ctx.peer_set)
    bullets = [_response_sentence(row, ctx), _peer_sentence(ctx, frame),
               _highlight_sentence(ctx, frame), _change_sentence(ctx)]
    nb.markdown("\n".join(f"- {b}" for b in bullets), key="summary")
    nb.markdown("Scores are means of answers from 1 (strongly disagree) to 5 (strongly agree); "
                "higher is better. Bands: " + "; ".join(
                    md_escape(w) for w in out.band_words(data).values())
                + ". \"Higher\" and \"lower\" mean the score's 95% confidence interval lies "
                "wholly above or below the peer median; \"improved\" and \"declined\" that "
                "the interval of the change lies wholly above or below zero. Otherwise the "
                "difference could be chance.", key="summary-scale")


def _hidden_part(ctx: _Context, frame: pd.DataFrame) -> str:
    n = int(frame["suppressed"].sum())
    return f"{n} not shown ({ctx.hidden})" if n else ""


def _verdict_words(ctx: _Context, frame: pd.DataFrame, words: dict[str, str],
                   untested: str) -> str:
    """"higher on A and B; in line on 3; 2 not shown (fewer than 10 responses)": named
    verdicts, counted others, never "every" over a set with hidden or untested members."""
    shown = frame[~frame["suppressed"]]
    parts = []
    for key, phrase in words.items():
        if phrase.endswith(" on"):
            names = _names(shown, shown["verdict"] == key)
            if names:
                parts.append(f"{phrase} {_join(names)}")
    level_key = next(k for k, p in words.items() if not p.endswith(" on"))
    level = int((shown["verdict"] == level_key).sum())
    if level:
        everything = level == len(frame)
        rest = "all eight" if everything and len(frame) == 8 else (
            f"all {level}" if everything else (f"the other {level}" if parts else str(level)))
        parts.append(f"{words[level_key]} on {rest}")
    none = int((shown["verdict"] == "").sum())
    if none:
        parts.append(f"{none} {untested}")
    hidden = _hidden_part(ctx, frame)
    if hidden:
        parts.append(hidden)
    return "; ".join(parts)


def _peer_sentence(ctx: _Context, frame: pd.DataFrame) -> str:
    comparator = md_escape(out.comparator_words(ctx.data, ctx.collaboration, ctx.peer_set))
    fallback = ""
    if ctx.fallback:
        fallback = (f" Its {md_escape(ctx.fallback.replace('_', ' '))} has too few "
                    "collaborations with enough responses for a comparison, so the programme's "
                    "collaborations are used instead.")
    shown = frame[~frame["suppressed"]]
    if not shown["peer_median"].notna().any():
        return (f"**Against peers:** too few collaborations with enough responses to compare "
                f"with.{fallback}")
    text = _verdict_words(ctx, frame, {"higher": "higher on", "lower": "lower on",
                                       "in line": "in line"}, "not compared")
    return (f"**Against {comparator}** ({fmt_int(shown['peer_n'].max())} collaborations with "
            f"enough responses, this one included): {text} (@fig-peers).{fallback}")


def _highlight_sentence(ctx: _Context, frame: pd.DataFrame) -> str:
    strengths = _names(frame, frame["highlight"] == "strength")
    areas = _names(frame, frame["highlight"] == "area to develop")
    return ("**Strengths** (the largest differences significantly above peers): "
            + (_join(strengths) or "none, as no characteristic is significantly higher")
            + ". **Areas to develop** (the largest significantly below): "
            + (_join(areas) or "none, as no characteristic is significantly lower")
            + " (@fig-profile).")


def _response_sentence(row: pd.Series, ctx: _Context) -> str:
    n = fmt_int(row["responded"])
    text = f"**Responses:** {n} {'person' if n == '1' else 'people'} responded in {ctx.label}"
    if not np.isnan(row["invited"]) and not np.isnan(row["response_rate"]):
        text += (f", {fmt_percent(row['response_rate'])} of the {fmt_int(row['invited'])} "
                 "invited")
    return text + " (@tbl-responses)."


def _change_sentence(ctx: _Context) -> str:
    previous = ctx.data.previous_wave(ctx.wave)
    if previous is None:
        return "**Change:** this is the first wave, so there is no change to report yet."
    label = md_escape(_wave_label(ctx.data, previous))
    frame = out.change_frame(ctx.data, ctx.collaboration, ctx.wave)
    if not len(frame) or frame["suppressed"].all():
        return (f"**Since {label}:** change cannot be shown, because one of the two waves has "
                f"{ctx.hidden}.")
    text = _verdict_words(ctx, frame, {"improved": "improved on", "declined": "declined on",
                                       "no clear change": "no clear change"}, "not tested")
    shown = frame[~frame["suppressed"]]
    basis = (" (on the questions asked the same way in both versions of the questionnaire)"
             if (shown["items"] == "comparable").any() else "")
    return f"**Since {label}:** {text}{basis} (@tbl-change)."


def _wave_label(data: ReportData, wave: str) -> str:
    return next(w.label for w in data.programme.waves if w.id == wave)


# -- 2. responses --------------------------------------------------------------------------------

def _responses(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[1], key="h-responses")
    nb.markdown(f"How many of the people invited from {ctx.name}'s partner organisations "
                "answered the survey in each wave (@tbl-responses). A response rate below about "
                "half means the results may not speak for everyone; counts below "
                f"{ctx.data.threshold} are not shown.", key="responses")
    nb.output(out.response_table, ctx.data, label="tbl-responses",
              caption="People invited and responding in each wave.",
              collaboration=ctx.collaboration, wave=ctx.wave)
    collab = ctx.data.collaboration(ctx.collaboration)
    if collab.partners:
        sectors = out.option_labels(ctx.data, ctx.wave, "sector")
        partners = [f"{md_escape(p.name)} ({md_escape(sectors.get(p.sector, p.sector))})"
                    for p in collab.partners]
        nb.markdown(f"The collaboration lists {plural(len(partners), 'partner organisation')}: "
                    f"{_join(partners)}.", key="partners")


# -- 3. peers ------------------------------------------------------------------------------------

def _peers(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[2], key="h-peers")
    data = ctx.data
    frame = out.characteristic_frame(data, ctx.collaboration, ctx.wave, ctx.peer_set)
    peer_n = frame["peer_n"].max()
    group = md_escape(out.comparator_words(data, ctx.collaboration, ctx.peer_set))
    nb.markdown(
        "Each row of @fig-peers is one characteristic. The blue diamond is the collaboration's "
        "mean score and its line the 95% confidence interval: the range in which the true score "
        "probably lies, given how many people answered. The orange circle is the median of the "
        f"peers, the grey box the middle half of them and the whiskers the lowest and highest "
        f"peer. Peers are {group} with at least {data.threshold} responses in {ctx.label} "
        f"({fmt_int(peer_n)} collaborations, this one included). \"Higher\" or \"lower than "
        "peers\" means the confidence interval lies wholly to the right or left of the orange "
        "circle: the difference from the peer median is larger than chance alone would be "
        "likely to produce with this many responses. @tbl-peers gives the numbers.",
        key="peers")
    nb.output(out.peers_figure, data, label="fig-peers",
              caption="The collaboration's mean score on each characteristic, with its 95% "
              "confidence interval, against its peers.", **ctx.kwargs)
    nb.output(out.peers_table, data, label="tbl-peers",
              caption="Mean scores, confidence intervals and peer comparison for each "
              "characteristic.", **ctx.kwargs)
    if ctx.peer_set == "all":
        nb.markdown(_peer_group_sentence(ctx), key="peer-group")


def _peer_group_sentence(ctx: _Context) -> str:
    data = ctx.data
    collab = data.collaboration(ctx.collaboration)
    name = next((g.name for g in data.programme.peer_groups if g.id == collab.peer_group),
                collab.peer_group)
    frame = out.characteristic_frame(data, ctx.collaboration, ctx.wave, "peer_group")
    shown = frame[~frame["suppressed"] & frame["peer_median"].notna()]
    if not len(shown):
        return (f"The collaboration's peer group, {md_escape(name)}, has too few collaborations "
                "with enough responses for a separate comparison.")
    text = _verdict_words(ctx, frame, {"higher": "higher on", "lower": "lower on",
                                       "in line": "in line"}, "not compared")
    return (f"Compared only with its peer group, {md_escape(name)} "
            f"({fmt_int(shown['peer_n'].max())} collaborations), the collaboration scored "
            f"{text}.")


# -- 4. profile ----------------------------------------------------------------------------------

def _profile(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[3], key="h-profile")
    nb.markdown(
        "The profile (@fig-profile) shows how far each characteristic lies above or below the "
        "peer median, measured in standard deviations of people's answers, so that the "
        "characteristics can be compared with each other (as a rule of thumb 0.2 is a small "
        "difference, 0.5 a medium and 0.8 a large one). *Strengths* are the (at most two) "
        "characteristics significantly higher than peers with the largest differences; *areas "
        "to develop* the (at most two) significantly lower with the largest differences. A "
        "characteristic in line with peers is neither, however long its bar.", key="profile")
    nb.output(out.profile_figure, ctx.data, label="fig-profile",
              caption="How far each characteristic lies from the peer median, with strengths "
              "and areas to develop marked.", **ctx.kwargs)


# -- 5. strengths and areas to develop -----------------------------------------------------------

def _strengths(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[4], key="h-strengths")
    frame = out.characteristic_frame(ctx.data, ctx.collaboration, ctx.wave, ctx.peer_set)
    picked = [(r, "Strength") for r in frame[frame["highlight"] == "strength"].itertuples()]
    picked += [(r, "Area to develop") for r in
               frame[frame["highlight"] == "area to develop"].itertuples()]
    if not picked:
        nb.markdown("No characteristic is significantly higher or lower than the peers "
                    "(@fig-peers), so none is singled out here.", key="strengths")
        return
    nb.markdown("For each strength and area to develop: what the characteristic is, why it "
                "matters, what it looks like in practice (the framework's indicators) and "
                "examples of collaborations that do it well.", key="strengths")
    framework = ctx.data.family.framework
    for row, kind in picked:
        c = framework.characteristic(row.characteristic)
        direction = "above" if kind == "Strength" else "below"
        nb.heading(f"{kind}: {md_escape(c.name)}", 3, key=f"h-{kind}-{c.id}")
        lines = [f"{md_escape(c.definition)} Mean {fmt_number(row.mean)} (95% CI "
                 f"{fmt_number(row.ci_low)} to {fmt_number(row.ci_high)}), wholly {direction} "
                 f"the peer median of {fmt_number(row.peer_median)} (difference "
                 f"{fmt_number(row.d, sign=True)} standard deviations).", "",
                 "**Why this is important**", ""]
        lines += [f"- {md_escape(t)}" for t in c.why_important]
        lines += ["", "**What it looks like**", ""]
        lines += [f"- {md_escape(i.seed_text)}" for i in c.indicators]
        if c.who_does_it_well:
            lines += ["", "**Who does it well**", ""]
            lines += [f"- *{md_escape(e.name)}*: {md_escape(e.text)}" for e in c.who_does_it_well]
        nb.markdown("\n".join(lines), key=f"guidance-{c.id}")


# -- 6. change over time -------------------------------------------------------------------------

def _change(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[5], key="h-change")
    data = ctx.data
    previous = data.previous_wave(ctx.wave)
    nb.heading("Since the previous wave", 3, key="h-change-previous")
    if previous is None:
        nb.markdown("This is the first wave, so there is no earlier wave to compare with.",
                    key="change")
    else:
        frame = out.change_frame(data, ctx.collaboration, ctx.wave)
        if not len(frame) or frame["suppressed"].all():
            reason = ("no one responded in one of the two waves" if not len(frame) else
                      f"one of the two waves has {ctx.hidden}")
            nb.callout("warning", f"Change since {md_escape(_wave_label(data, previous))} is not "
                       f"shown: {reason}.", title="Change not shown", key="change")
        else:
            nb.markdown(
                f"@tbl-change compares {ctx.label} with {md_escape(_wave_label(data, previous))}"
                ". *Improved* or *declined* means the 95% confidence interval of the change "
                "excludes zero; *no clear change* means the change could be due to chance. "
                "People who answered in both waves are paired, which makes the comparison more "
                "precise." + _change_basis(ctx, frame, previous), key="change")
            nb.output(out.change_table, data, label="tbl-change",
                      caption=f"Change in each characteristic since "
                      f"{_wave_label(data, previous)}.",
                      collaboration=ctx.collaboration, wave=ctx.wave)
    nb.heading("Across all waves", 3, key="h-change-trend")
    waves = data.waves[: data.waves.index(ctx.wave) + 1]
    if len(waves) < 2:
        nb.markdown("A trend needs at least two waves.", key="trend")
        return
    trend = ("the numbers and the average change per wave estimated from all waves together, "
             "with its confidence interval" if ctx.wave == data.latest_wave else
             "the numbers (the trend across waves is estimated for the latest wave only)")
    means = out.trend_frame(data, ctx.collaboration, ctx.wave, ctx.peer_set)
    drawable = means.dropna(subset=["mean"])["wave_id"].nunique() >= 2
    nb.markdown(
        ("@fig-trend shows the mean of each characteristic in every wave, with its 95% "
         "confidence interval; a wave with too few responses is left out. " if drawable else
         f"Fewer than two waves have {data.threshold} or more responses, so no chart is drawn. ")
        + f"@tbl-trend gives {trend}." + _version_note(ctx, waves), key="trend")
    if drawable:
        nb.output(out.trend_figure, data, label="fig-trend",
                  caption="Mean score of each characteristic in each wave, with 95% confidence "
                  "intervals.", **ctx.kwargs)
    ctx.appendix.append((out.trend_table, "tbl-trend",
                         "Mean score in each wave and the trend per wave.", ctx.kwargs))


def _change_basis(ctx: _Context, frame: pd.DataFrame, previous: str) -> str:
    """What the change rests on: the same scores as the rest of the report (same
    questionnaire), or the comparable questions, naming those left out."""
    data = ctx.data
    v1, v2 = data.instrument_version(previous), data.instrument_version(ctx.wave)
    if v1 == v2:
        return (f" Both waves used version {md_escape(v2)} of the questionnaire, so the means "
                "here are the scores shown in the rest of this report.")
    texts = {**_item_texts(data, previous), **_item_texts(data, ctx.wave)}
    names = data.characteristic_names()
    left = []
    for row in frame[~frame["suppressed"] & (frame["items"] == "comparable")].itertuples():
        items = [part.split(" (version")[0] for part in row.items_left_out.split("; ") if part]
        if items:
            left.append(f"{md_escape(names.get(row.characteristic, row.characteristic))}: "
                        + "; ".join(f"\"{md_escape(texts.get(i, i))}\"" for i in items))
    note = (f" The questionnaire changed between these waves (version {md_escape(v1)} to "
            f"{md_escape(v2)}), so the change uses only the questions asked the same way in both "
            "versions, and its means can differ from the scores elsewhere in this report.")
    if left:
        note += " Left out:\n\n" + "\n".join(f"- {x}" for x in left) + "\n"
    return note


def _version_note(ctx: _Context, waves: Sequence[str]) -> str:
    data = ctx.data
    versions = {w: data.instrument_version(w) for w in waves}
    note = ""
    if len(set(versions.values())) > 1:
        changed = [w for k, w in enumerate(waves)
                   if k and versions[w] != versions[waves[k - 1]]]
        note += (" The questionnaire changed in "
                 + _join([f"{md_escape(_wave_label(data, w))} (version "
                          f"{md_escape(versions[w])})" for w in changed])
                 + " (marked in the figure's legend): each wave's mean uses all the questions "
                 "of its version, while the trend uses only the questions asked the same way in "
                 "every version, so it can differ a little from the differences between the "
                 "means.")
    invariance = data.psychometrics.get("invariance")
    if invariance is not None and len(invariance):
        scalar = invariance[invariance["level"] == "scalar"]
        if len(scalar) and not bool(scalar["supported"].fillna(False).iloc[0]):
            note += (" The programme-wide checks could not confirm that the questions were "
                     "understood in the same way in every wave, so treat changes with care.")
    return note


# -- 7. questions --------------------------------------------------------------------------------

def _items(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[6], key="h-items")
    data = ctx.data
    groups = data.family.framework.groups
    refs = ", ".join(f"@fig-items-{g.id}" for g in groups)
    nb.markdown(
        f"How people answered each question ({refs}). Each bar is split into the five answers, "
        "from strongly disagree (left) to strongly agree (right), centred on \"neither\"; the "
        "numbers are the shares disagreeing and agreeing. \"Don't know\" answers are left out "
        f"of the shares and given in @tbl-items. A question answered by fewer than "
        f"{data.threshold} people is not shown. Some questions are worded negatively (marked "
        "*reverse-worded*): for them, disagreeing is the favourable answer, and the colours are "
        "swapped so that a favourable answer always has the same colour. @tbl-items also gives "
        "the share of favourable answers of the programme's collaborations (worst, median and "
        "best of those with enough answers).", key="items")
    for g in groups:
        nb.heading(md_escape(g.name), 3, key=f"h-items-{g.id}")
        nb.output(out.items_figure, data, label=f"fig-items-{g.id}",
                  caption=f"Answers to the questions on {g.name.lower()}.", collaboration=ctx.collaboration, wave=ctx.wave,
                  group=g.id)
    ctx.appendix.append((out.items_table, "tbl-items",
                         "Answers to every question, as shares of those answering, with the "
                         "peers' favourable shares.",
                         {"collaboration": ctx.collaboration, "wave": ctx.wave}))


# -- 8. ways of creating value -------------------------------------------------------------------

def _value_modes(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[7], key="h-value")
    data = ctx.data
    collab = data.collaboration(ctx.collaboration)
    modes = {m.id: m.name for m in data.family.framework.value_modes}
    declared = [md_escape(modes.get(m, m)) for m in collab.value_modes]
    intro = ("The framework names four ways in which collaborations create value:\n\n"
             + "\n".join(f"- **{md_escape(m.name)}**: {md_escape(m.definition)}"
                         for m in data.family.framework.value_modes) + "\n\n"
             + (f"{ctx.name} declared {_join(declared)}"
                + (f", with {md_escape(modes.get(collab.main_value_mode, ''))} as the main "
                   "way" if collab.main_value_mode else "") + "."
                if declared else f"{ctx.name} did not declare its ways of creating value."))
    nb.markdown(intro, key="value-intro")
    frame = out.value_modes_frame(data, ctx.collaboration, ctx.wave)
    if frame["share"].isna().all():
        rows = out.rows_for(data, "value_modes", ctx.collaboration, ctx.wave)
        reason = str(rows["reason"].iloc[0]) if len(rows) else ""
        text = (f"Not shown for {ctx.label}: "
                + (f"{md_escape(reason)}." if reason else f"{ctx.hidden}."))
        nb.callout("note", text, title="Not shown", key="value-hidden")
        return
    nb.markdown(_value_sentences(ctx, modes), key="value")
    nb.output(out.value_modes_figure, data, label="fig-value-modes",
              caption="Share of respondents who said the collaboration creates value in each "
              "way.", collaboration=ctx.collaboration, wave=ctx.wave)
    nb.output(out.value_modes_table, data, label="tbl-value-modes",
              caption="Ways of creating value: declared by the collaboration and chosen by "
              "respondents.", collaboration=ctx.collaboration, wave=ctx.wave)


def _value_sentences(ctx: _Context, modes: dict[str, str]) -> str:
    data = ctx.data
    text = ("@fig-value-modes shows the share of respondents who said the collaboration creates "
            "value in each way (they could choose more than one).")
    match = out.rows_for(data, "declared_match", ctx.collaboration, ctx.wave)
    if len(match) and not bool(match["suppressed"].iloc[0]):
        row = match.iloc[0]
        missing = [md_escape(modes.get(m, m)) for m in out.parse_ids(row["missing_modes"])]
        extra = [md_escape(modes.get(m, m)) for m in out.parse_ids(row["extra_modes"])]
        if not missing and not extra:
            text += (" The ways chosen by at least half of the respondents are exactly the ways "
                     "the collaboration declared.")
        else:
            if missing:
                text += (f" Fewer than half chose {_join(missing)}, which the collaboration "
                         "declared.")
            if extra:
                text += (f" At least half chose {_join(extra)}, which the collaboration did not "
                         "declare.")
    main = out.rows_for(data, "main_mode", ctx.collaboration, ctx.wave)
    if len(main) and not bool(main["suppressed"].iloc[0]):
        row = main.iloc[0]
        modal = row["modal_mode"] if isinstance(row["modal_mode"], str) else ""
        if modal:
            text += (f" Asked for the *main* way, {fmt_percent(row['modal_share'])} named "
                     f"{md_escape(modes.get(modal, modal))}")
            if isinstance(row["declared_main_mode"], str) and row["declared_main_mode"]:
                declared = md_escape(modes.get(row["declared_main_mode"],
                                               row["declared_main_mode"]))
                text += (f"; {fmt_percent(row['declared_share'])} named the declared main way, "
                         f"{declared}")
            text += "."
        elif int(row.get("n_modal_modes", 0) or 0) > 1:
            text += (" Asked for the *main* way, respondents were split: no single way was "
                     "named most often.")
        kappa = row["kappa"]
        if not pd.isna(kappa):
            text += (f" Agreement among respondents on the main way is {_kappa_words(kappa)} "
                     f"(kappa {fmt_number(kappa)}, where 0 is no more than chance and 1 is "
                     "complete agreement).")
    else:
        text += (f" The question on the *main* way of creating value was answered by {ctx.hidden}"
                 " in this wave, so which way respondents see as the main one, and how far they "
                 "agree, is not shown.")
    return text


def _kappa_words(kappa: float) -> str:
    """Landis & Koch's (1977) bands for kappa."""
    for limit, words in ((0.0, "no better than chance"), (0.2, "slight"), (0.4, "fair"),
                         (0.6, "moderate"), (0.8, "substantial")):
        if kappa <= limit:
            return words
    return "almost complete"


# -- 9. connections ------------------------------------------------------------------------------

def _network(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[8], key="h-network")
    data = ctx.data
    nb.markdown(
        "Respondents were asked which partner organisations they had worked with in the last "
        "six months. When someone from one partner names another, the two organisations are "
        "*connected*. **Density** is the share of all possible connections that were named; "
        "partners without respondents can only be named, never name others, so when not every "
        "partner answered the true density may be higher. The **cross-sector share** is the "
        "share of connections that link organisations of different sectors; it is compared "
        "with the share there would be if connections ignored sector (a higher share than that "
        "means partners reach across sectors more than chance would have them). The **E-I "
        "index** says the same on a scale from −1 (every connection within a sector) to +1 "
        "(every connection across sectors).", key="network-intro")
    net = out.network_frame(data, ctx.collaboration, ctx.wave)
    if not net["present"] or net["suppressed"]:
        _not_shown(nb, ctx, "Connections between partners", "network-hidden")
        return
    if not net["known"]:
        reason = md_escape(net["reason"]) or "no connections were named"
        nb.callout("note", f"Connections cannot be described for {ctx.label}: {reason}.",
                   title="No connections to describe", key="network-hidden")
        return
    m, peer = net["measures"], net["peer"]
    cross = m["cross_sector_share"] - m["cross_sector_share_expected"]
    words = ("more often than" if cross > 0.05 else "less often than" if cross < -0.05
             else "about as often as")
    text = (f"In {ctx.label}, {fmt_int(m['n_ties'])} of {fmt_int(m['n_possible_ties'])} "
            f"possible connections were named (density {fmt_percent(m['density'])}; peer "
            f"median {fmt_percent(peer.get('density'))}). {fmt_percent(m['cross_sector_share'])}"
            f" of connections cross sectors: partners connect across sectors {words} they "
            f"would if sector made no difference ({fmt_percent(m['cross_sector_share_expected'])})"
            " (@tbl-network).")
    partners = net["partners"]
    alone = partners[partners["connected"] == False]  # noqa: E712
    if len(alone):
        text += (" Partners with no connection named: "
                 + _join([md_escape(p) for p in alone["partner"]]) + ".")
    nb.markdown(text, key="network")
    nb.output(out.network_table, data, label="tbl-network",
              caption="Connections between partner organisations.",
              collaboration=ctx.collaboration, wave=ctx.wave)
    _sector_map(nb, ctx)


def _sector_map(nb: ReportNotebook, ctx: _Context) -> None:
    """The connection map between sectors and its table, or why there is none."""
    data = ctx.data
    if data.benchmark.get("sector_ties") is None:
        nb.markdown("A map of the connections between sectors is not available: the results "
                    "in this workspace were analysed before it was added. Analysing them again "
                    "adds it.", key="sector-map-missing")
        return
    summary = out.sector_summary(data, ctx.collaboration, ctx.wave)
    sectors = summary["sectors"]
    if not len(sectors):
        nb.markdown(f"Connections between sectors are not available for {ctx.label}.",
                    key="sector-map-missing")
        return
    if len(sectors) == 1:
        nb.markdown(f"All partner organisations are in one sector, "
                    f"{md_escape(sectors['label'].iloc[0])}, so no connection can cross "
                    "sectors.", key="sector-map")
        return
    if not summary["total"]:
        nb.markdown("No connections were named, so there is no map of connections between "
                    "sectors.", key="sector-map")
        return
    if len(sectors) <= out.MAP_MAX_SECTORS:
        text = ("@fig-network maps the connections between sectors. Each circle is a sector, "
                "sized by its number of partner organisations; a line joins two sectors when "
                "organisations of one named organisations of the other, and is the wider the "
                "more connections there are. ")
    else:
        text = ("@fig-network shows the connections between sectors as a grid: each cell gives "
                "the number of connections named between the organisations of two sectors (on "
                "the diagonal, within one sector) and the share of the possible connections "
                "that this is, darker for a higher share. ")
    if not summary["cross"]:
        text += f"No connection crosses sectors: all {fmt_int(summary['total'])} are within a sector."
    else:
        words = out.strongest_links(summary, md_escape)
        text += (f"{words[0].upper()}{words[1:]}. {fmt_int(summary['cross'])} of the "
                 f"{fmt_int(summary['total'])} connections cross sectors.")
    nb.markdown(text + " @tbl-sector-ties gives the numbers for every pair of sectors.",
                key="sector-map")
    nb.output(out.network_figure, data, label="fig-network",
              caption="Connection map: connections named between and within the sectors of "
              "the partner organisations.", collaboration=ctx.collaboration, wave=ctx.wave)
    ctx.appendix.append((out.sector_ties_table, "tbl-sector-ties",
                         "Connections named between and within sectors, of those possible.",
                         {"collaboration": ctx.collaboration, "wave": ctx.wave}))


# -- 10. breakdowns ------------------------------------------------------------------------------

def _breakdowns(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[9], key="h-breakdowns")
    data = ctx.data
    nb.markdown(
        "Mean scores of the respondents from each sector and in each role, with the number of "
        f"responses in brackets. Groups with fewer than {data.threshold} responses are not "
        "shown; where hiding one group would still let its figure be worked out from the "
        "others, a second group is hidden too.", key="breakdowns")
    for by, title in (("sector", "By sector"), ("role", "By role")):
        nb.heading(title, 3, key=f"h-breakdown-{by}")
        frame = out.breakdown_frame(data, ctx.collaboration, ctx.wave, by)
        small, protected = out.hidden_groups(frame)
        notes = []
        if small:
            notes.append(f"{_join([md_escape(s) for s in small])}: {ctx.hidden}.")
        if protected:
            notes.append(f"{_join([md_escape(s) for s in protected])}: {out.SECONDARY}.")
        if out.shown_groups(frame):
            nb.output(out.breakdown_table, data, label=f"tbl-breakdown-{by}",
                      caption=f"Mean scores by {by}.", collaboration=ctx.collaboration,
                      wave=ctx.wave, by=by)
        else:
            notes.insert(0, f"No {by} has enough responses to be shown on its own.")
        if notes:
            nb.markdown(" ".join(notes), key=f"breakdown-{by}-hidden")


# -- 11. notes -----------------------------------------------------------------------------------

def _notes(nb: ReportNotebook, ctx: _Context) -> None:
    nb.heading(SECTIONS[10], key="h-notes")
    hidden = _suppressed_notes(ctx)
    nb.callout("note", f"Figures based on {ctx.hidden} are not shown anywhere in this report, "
               "nor in its downloads, so that no one's answers can be picked out. "
               + (" ".join(hidden) if hidden else "No figure of this report was hidden."),
               title="Hidden figures", key="notes-suppression")
    caveats = _reliability_notes(ctx)
    if caveats:
        nb.callout("note", "\n".join(f"- {c}" for c in caveats),
                   title="How far to rely on the scores", key="notes-reliability")
    else:
        nb.markdown("The programme-wide checks of the questionnaire found no reason for caution "
                    f"about the scores of {ctx.label}.", key="notes-reliability")


def _appendix(nb: ReportNotebook, ctx: _Context) -> None:
    """The long tables the sections refer to (every question, the trend's numbers, every pair
    of sectors): kept out of the way of the findings, and in the downloads."""
    if not ctx.appendix:
        return
    nb.heading(SECTIONS[11], key="h-appendix")
    files = ", ".join(f"{label}.csv" for _, label, _, _ in ctx.appendix)
    nb.markdown("::: {.cs-no-print}\nThe detailed tables behind the sections above. Each is "
                "also in the downloads as a CSV file.\n:::\n\n::: {.cs-print-only}\nThe "
                f"detailed tables are left out of the printed report: they are in the report's "
                f"downloads ({files}).\n:::", key="appendix")
    for function, label, caption, kwargs in ctx.appendix:
        nb.output(function, ctx.data, label=label, caption=caption, classes="cs-no-print",
                  **kwargs)


def _suppressed_notes(ctx: _Context) -> list[str]:
    data = ctx.data
    notes = []
    if ctx.status == "suppressed":
        notes.append(f"All of the collaboration's results for {ctx.label} are hidden.")
    elif ctx.status == "shown":
        frame = out.characteristic_frame(data, ctx.collaboration, ctx.wave, ctx.peer_set)
        gone = _names(frame, frame["suppressed"])
        if gone:
            notes.append(f"Hidden for {ctx.label}: {_join(gone)}.")
        items = out.items_frame(data, ctx.collaboration, ctx.wave)
        if items["suppressed"].any():
            notes.append(f"{plural(int(items['suppressed'].sum()), 'question')} answered by "
                         f"{ctx.hidden}: hidden.")
        groups = []
        for by in ("sector", "role"):
            small, protected = out.hidden_groups(out.breakdown_frame(data, ctx.collaboration,
                                                                     ctx.wave, by))
            groups += small + protected
        if groups:
            count = plural(len(groups), "sector or role group", "sector and role groups")
            notes.append(f"Results of {count} are hidden (see Results by sector and role).")
        modes = out.value_modes_frame(data, ctx.collaboration, ctx.wave)
        answered = out.rows_for(data, "value_modes", ctx.collaboration, ctx.wave)
        if modes["share"].isna().all() and len(answered) and not str(
                answered["reason"].iloc[0] or ""):
            notes.append("The ways of creating value chosen by respondents are hidden: "
                         f"{ctx.hidden} answered that question.")
        net = out.network_frame(data, ctx.collaboration, ctx.wave)
        if net["present"] and net["suppressed"]:
            notes.append("Connections between partners are hidden: too few respondents.")
    responses = out.response_frame(data, ctx.collaboration, ctx.wave)
    earlier = [md_escape(w) for w, h, wid in zip(responses["wave"], responses["suppressed"],
                                                 responses["wave_id"], strict=True)
               if h and wid != ctx.wave]
    if earlier:
        notes.append(f"Waves with {ctx.hidden}: {_join(earlier)}.")
    return notes


def _reliability_notes(ctx: _Context) -> list[str]:
    data = ctx.data
    psy = data.psychometrics
    names = data.characteristic_names()
    notes = []
    shown = set()
    if ctx.status == "shown":
        frame = out.characteristic_frame(data, ctx.collaboration, ctx.wave, ctx.peer_set)
        shown = set(frame.loc[~frame["suppressed"], "characteristic"])
    if shown:
        rows = out.rows_for(data, "agreement", ctx.collaboration, ctx.wave, group="psychometrics")
        low = [md_escape(names.get(c, c)) for c, v, n in zip(
            rows.get("characteristic", []), rows.get("rwg_j", []), rows.get("n", []),
            strict=True)
            if c in shown and n >= data.threshold and not pd.isna(v) and v < RWG_LOW]
        if low:
            notes.append(f"Respondents of this collaboration disagreed a good deal about "
                         f"{_join(low)} (agreement index rwg below {RWG_LOW}): the mean hides "
                         "a range of views, worth discussing with partners.")
        rows = out.rows_for(data, "reliability", ctx.collaboration, ctx.wave,
                            group="psychometrics")
        if len(rows):
            rows = rows[rows["level"] == "collaboration"]
        low = [md_escape(names.get(c, c)) for c, a, n in zip(
            rows.get("characteristic", []), rows.get("alpha", []), rows.get("n_used", []),
            strict=True)
            if c in shown and n >= data.threshold and not pd.isna(a) and a < ALPHA_LOW]
        if low:
            notes.append(f"In this collaboration's answers the questions on {_join(low)} did not "
                         f"hang together well (Cronbach's alpha below {ALPHA_LOW}), so those "
                         "scores are less precise than the others.")
    aggregation = psy.get("aggregation")
    if aggregation is not None and len(aggregation):
        rows = aggregation[aggregation["wave_id"].astype(str) == ctx.wave]
        verdicts: dict[str, tuple[list[str], list[str]]] = {}
        for c, verdict in zip(rows["characteristic"].astype(str), rows["verdict"], strict=True):
            if not isinstance(verdict, str):
                continue
            head, _, rest = verdict.partition(". ")
            if head.rstrip(".") == "Justified":
                continue
            chars, reasons = verdicts.setdefault(head.rstrip("."), ([], []))
            chars.append(md_escape(names.get(c, c)))
            reasons.extend(r for key, r in _VERDICT_REASONS if key in rest and r not in reasons)
        for head, (chars, reasons) in verdicts.items():
            opening = _VERDICT_HEADS.get(head, "the programme-wide checks raise a question "
                                               "about comparing collaborations on")
            because = f": {_join(reasons)}" if reasons else ""
            notes.append(f"Across the programme in {ctx.label}, {opening} {_join(chars)}"
                         f"{because}.")
    flags = psy.get("flags")
    if flags is not None and len(flags):
        rows = flags[flags["wave_id"].astype(str) == ctx.wave]
        items = _item_texts(data, ctx.wave)
        for r in rows.itertuples():
            subject = (f"the question \"{md_escape(items.get(str(r.item), str(r.item)))}\""
                       if isinstance(r.item, str) and r.item else "the questions")
            notes.append(f"{md_escape(names.get(str(r.characteristic), str(r.characteristic)))}"
                         f": {_flag_words(str(r.flag), subject)} ({md_escape(r.message)})")
    return notes


_VERDICT_HEADS = {
    "Use with caution": "collaborations should be compared with caution on",
    "Not justified": "the checks do not support comparing collaborations on",
    "Cannot judge": "the checks could not judge whether collaborations can be compared on",
}
_VERDICT_REASONS = (
    ("Membership does not matter", "collaborations differ no more than chance would make them"),
    ("Membership may not matter", "collaborations may differ little more than chance would "
                                  "make them"),
    ("Collaboration means are not reliable", "a collaboration's average rests on too few "
                                             "respondents to be precise"),
    ("Partners do not agree enough", "partners' views within a collaboration differ too much "
                                     "for one average to sum them up"),
)


def _item_texts(data: ReportData, wave: str) -> dict[str, str]:
    return {i.id: i.text for i in data.family.version(data.instrument_version(wave)).items}


def _flag_words(flag: str, subject: str) -> str:
    words = {
        "alpha_rises_if_dropped": f"across the programme, {subject} fits slightly less well "
                                  "with the others of this characteristic",
        "low_item_total": f"across the programme, answers to {subject} go only loosely "
                          "with the others of this characteristic",
        "negative_item_total": f"across the programme, answers to {subject} run against the "
                               "others of this characteristic",
        "low_alpha": f"across the programme, {subject} of this characteristic do not hang "
                     "together well",
        "alpha_not_computed": "the consistency of its questions could not be checked",
    }
    return words.get(flag, "a check of the questionnaire raised a flag")


# -- 12. free text -------------------------------------------------------------------------------

def _free_text(nb: ReportNotebook, ctx: _Context) -> None:
    data = ctx.data
    comments = data.comments
    if comments is None or ctx.status != "shown":
        return
    rows = comments[(comments["wave_id"].astype(str) == ctx.wave)
                    & (comments["collaboration_id"].astype(str) == ctx.collaboration)]
    texts = [str(t).strip() for t in rows["text"] if isinstance(t, str) and t.strip()]
    nb.heading(FREE_TEXT_SECTION, key="h-free-text")
    if not texts:
        nb.markdown(f"No free-text answers were given in {ctx.label}.", key="free-text")
        return
    questions = data.family.version(data.instrument_version(ctx.wave)).questions
    asked = {str(q) for q in rows["question_id"]}
    prompt = "; ".join(md_escape(questions[q].text) for q in sorted(asked) if q in questions)
    nb.markdown(f"Answers to the open question{'s' if len(asked) > 1 else ''} ({prompt}), as "
                "written, in no particular order. They are the views of individuals, not of "
                "the collaboration.", key="free-text-intro")
    nb.markdown("\n".join(f"> {md_escape(t)}\n" for t in texts), key="free-text")
