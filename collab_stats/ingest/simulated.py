"""Simulated waves written as real platforms' exports, with the mapping that reads them back.

The demo and the tests ingest the simulator's waves through the same readers as real files:
:func:`write_wave_export` writes one wave of a :class:`~collab_stats.simulate.SimulatedProgramme`
in a platform's layout (with made-up personal data where the platform would have it) and a
mapping file proposed by :func:`~collab_stats.ingest.mapping.propose_mapping`, with the
respondent link set to the simulated respondent id (as an invitation list's external reference
would be).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from .._params import check_option
from ..schema import to_wide
from ..simulate import SimulatedProgramme
from .detect import read_export
from .mapping import ColumnMapping, ColumnRule, dump_mapping, propose_mapping

__all__ = ["EXPORT_FORMATS", "wave_export_frame", "write_wave_export"]

#: Formats the simulator can write, and the file name each gets.
EXPORT_FORMATS = {
    "qualtrics": "qualtrics.csv",
    "surveymonkey": "surveymonkey.xlsx",
    "redcap": "redcap.csv",
    "google_forms": "google_forms.csv",
    "microsoft_forms": "microsoft_forms.xlsx",
    "spss": "spss.sav",
}
#: The multi-select questions written as one column each (option ids separated by ";"),
#: with the question text the export shows.
SELECT_COLUMNS = {
    "value_modes": "Which ways of creating value do the partners pursue together? "
                   "(select all that apply)",
    "network": "Which partner organisations in this collaboration have you worked with in "
               "the last six months? (select all that apply)",
}
PROFILE = ["respondent_id", "collaboration_id", "partner_id", "sector", "role",
           "months_involved", "completed", "submitted_at"]
#: The single-choice question "main way of creating value", written as one column of option
#: ids (blank where the respondent did not answer it) under the instrument version's text.
MAIN_VALUE_MODE = "main_value_mode"


def wave_export_frame(sim: SimulatedProgramme, wave_id: str):
    """What every simulated export of a wave holds, before a platform's layout: the
    instrument version, the frame (one row per respondent: profile as ids, the main way of
    creating value, multi-selects as ";"-joined ids, items as codes with the missing codes),
    the items' question texts, the other questions' texts, and the profile and other
    questions' texts for platforms that export only questions (with the respondent's
    reference from the invitation, the link across waves). Used by
    :func:`write_wave_export` and by the tests' fake survey platforms."""
    wave = sim.programme.wave(wave_id)
    version = sim.instrument.version(wave.instrument_version)
    data = sim.data.wave(wave_id)
    wide = to_wide(data, items=list(version.item_ids), encode_missing=version)
    frame = wide[[*PROFILE, *version.item_ids]].copy()
    for column in ("respondent_id", "collaboration_id", "partner_id", "sector", "role"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    for question in SELECT_COLUMNS:  # multi-selects as one column of ";"-separated ids
        frame[question] = _joined_selections(data, question, frame["respondent_id"])
    # The main way of creating value, asked right after the ways chosen (as the instrument
    # orders them).
    main = wide[MAIN_VALUE_MODE].astype(object)
    frame.insert(frame.columns.get_loc("value_modes") + 1, MAIN_VALUE_MODE,
                 main.where(main.notna(), None))
    questions = {i.id: i.text for i in version.items}
    # The questions other than items, by the texts the exports show.
    other_questions = {**SELECT_COLUMNS,
                       MAIN_VALUE_MODE: version.questions[MAIN_VALUE_MODE].text}
    # Platforms that export only questions get the profile as questions too, and the
    # respondent's reference from the invitation (the link across waves) as one.
    profile_questions = {
        "respondent_id": "Your survey reference (from your invitation)",
        "collaboration_id": version.profile["collaboration"].text,
        "partner_id": version.profile["partner_organisation"].text,
        "sector": version.profile["sector"].text,
        "role": version.profile["role"].text,
        "months_involved": version.profile["months_involved"].text,
        **other_questions,
    }
    return version, frame, questions, other_questions, profile_questions


def write_wave_export(sim: SimulatedProgramme, wave_id: str, fmt: str, folder: str | Path,
                      *, personal: bool = True) -> tuple[Path, Path]:
    """Write one simulated wave as a ``fmt`` export, and the mapping that reads it.

    Returns the export's path and the mapping file's path (``<export>.mapping.yaml``). Item
    answers are written as the platform would (codes for Qualtrics, REDCap and SPSS, with -1
    and -2 for "don't know" and "not applicable"; answer labels for SurveyMonkey and the
    Forms); profile answers and the main way of creating value as ids (blank where not
    answered); the respondent id as a column the mapping links on.
    """
    check_option("fmt", fmt, EXPORT_FORMATS)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    version, frame, questions, other_questions, profile_questions = wave_export_frame(
        sim, wave_id)
    labels = {o.code: o.label for o in version.scale.options}
    labels.update({m.code: m.label for m in version.scale.missing})
    path = folder / f"{wave_id}-{EXPORT_FORMATS[fmt]}"
    if fmt == "qualtrics":
        from .qualtrics import write_qualtrics

        write_qualtrics(frame, path, questions={**questions, **other_questions},
                        personal=personal)
    elif fmt == "surveymonkey":
        from .surveymonkey import write_surveymonkey

        write_surveymonkey(_as_labels(frame, version, labels), path, questions={**profile_questions, **questions},
                           personal=personal, excel=True)
    elif fmt == "google_forms":
        from .forms import write_google_forms

        write_google_forms(_as_labels(frame, version, labels), path, questions={**profile_questions, **questions},
                           personal=personal)
    elif fmt == "microsoft_forms":
        from .forms import write_microsoft_forms

        write_microsoft_forms(_as_labels(frame, version, labels), path, questions={**profile_questions, **questions},
                              personal=personal)
    elif fmt == "redcap":
        from .redcap import write_redcap

        write_redcap(frame, path, folder / f"{wave_id}-redcap-dictionary.csv",
                     items=questions, labels=labels, personal=personal)
    else:
        from .spss import write_spss

        write_spss(_spss_frame(frame), path, variable_labels={**questions, **other_questions},
                   value_labels={i: labels for i in version.item_ids},
                   missing_codes={i: [-1, -2] for i in version.item_ids})
    options = {"dictionary": folder / f"{wave_id}-redcap-dictionary.csv"} if fmt == "redcap" else {}
    raw = read_export(path, format=fmt, **options)
    proposal = propose_mapping(raw, sim.instrument, sim.programme, version=version.version)
    mapping = _link_on_respondent_id(proposal.mapping, raw, profile_questions)
    mapping_path = path.with_name(path.name + ".mapping.yaml")
    mapping_path.write_text(dump_mapping(mapping), encoding="utf-8")
    return path, mapping_path


def _joined_selections(data, question: str, respondents: pd.Series) -> pd.Series:
    rows = data.selections[data.selections["question_id"].astype(object) == question]
    joined = (rows.astype({"respondent_id": object, "option_id": object})
              .groupby("respondent_id", sort=False)["option_id"].agg(";".join))
    return respondents.astype(object).map(joined).where(lambda v: v.notna(), None)


def _as_labels(frame: pd.DataFrame, version, labels) -> pd.DataFrame:
    """Item codes as the answer labels a choice-text platform writes."""
    out = frame.copy()
    for item in version.item_ids:
        out[item] = out[item].astype("Int64").astype(object).map(
            lambda v: None if pd.isna(v) else labels[int(v)])
    return out


def _spss_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["submitted_at"] = out["submitted_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    for column in ("respondent_id", "collaboration_id", "partner_id", "sector", "role",
                   *SELECT_COLUMNS, MAIN_VALUE_MODE):
        out[column] = out[column].fillna("").astype(str)
    return out


def _link_on_respondent_id(mapping: ColumnMapping, raw,
                           profile_questions: dict[str, str]) -> ColumnMapping:
    """Link respondents across waves on the simulated respondent id (not the platform's
    per-response id), and read completion and submission time from the simulated columns
    where the export carries them."""
    columns = dict(mapping.columns)
    targets = {"respondent_id": "respondent_id", "completed": "finished",
               "submitted_at": "submitted_at"}
    selects = {text: question for question, text in SELECT_COLUMNS.items()}
    # The simulated profile columns, by header or question text (a proposal may pair a
    # similar-sounding multi-select question with a profile field instead).
    profile = {"collaboration_id": "collaboration", "partner_id": "partner_organisation"}
    profile |= {profile_questions[k]: v for k, v in list(profile.items())}
    for column in raw.columns:
        text = (column.question or column.header).strip()
        target = profile.get(column.header.strip()) or profile.get(text)
        if target is not None:
            for column_id, rule in list(columns.items()):
                if rule.kind == "profile" and rule.target == target:
                    columns[column_id] = ColumnRule(kind="drop", target="")
            key = column.import_id if column.import_id in columns else column.key
            columns[key] = ColumnRule(kind="profile", target=target)
    for column in raw.columns:
        text = (column.question or column.header).strip()
        header = column.header.strip()
        question = selects.get(text) or (header if header in SELECT_COLUMNS else None)
        if question is not None:
            key = column.import_id if column.import_id in columns else column.key
            columns[key] = ColumnRule(kind="select", target=question, delimiter=";")
            continue
        target = targets.get(header)
        if text.startswith("Your survey reference"):
            target = "respondent_id"
        if target is not None:
            for column_id, rule in list(columns.items()):  # one column per target
                if rule.kind == "meta" and rule.target == target:
                    columns[column_id] = ColumnRule(kind="drop", target="")
            key = column.import_id if column.import_id in columns else column.key
            columns[key] = ColumnRule(kind="meta", target=target)
    return replace(mapping, columns=columns)
