"""Column mappings (:mod:`collab_stats.ingest.mapping`): the YAML form and its validation, label
normalisation, and proposals on hand-built exports whose question texts are the version 1.0
item texts (``instruments/collaboration-indicators/v1.yaml``), reworded and re-cased.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from collab_stats import load_instrument_family, load_programme
from collab_stats.ingest.mapping import (
    ColumnMapping,
    ColumnRule,
    MappingError,
    dump_mapping,
    load_mapping,
    normalise_label,
    parse_mapping,
    propose_mapping,
    text_similarity,
)
from collab_stats.ingest.raw import RawColumn, RawExport

FAMILY = load_instrument_family()
V1 = FAMILY.version("1.0")
PROGRAMME = load_programme(Path(__file__).parent / "data" / "programme-example.yaml",
                           instrument=FAMILY)

VALID = {
    "instrument": "collaboration-indicators",
    "timezone": "Europe/London",
    "labels": {"Strongly disagree": 1, "Strongly agree": 5, "Don't know": "dont_know"},
    "synonyms": {"Agree strongly": 5, "SA": 5, "Neutral": 3, 6: "not_applicable"},
    "columns": {
        "QID1_1": "PS01",
        "QID1_3": {"item": "PC03", "reverse": True},
        "QID20": {"profile": "collaboration"},
        "QID21": {"profile": "partner_organisation", "options": {"RDUH": "royal-devon"}},
        "QID30_1": {"select": "value_modes", "option": "shared_voice"},
        "QID31": {"select": "network", "delimiter": ";"},
        "QID40": {"text": "comment"},
        "ResponseId": "respondent_id",
        "RecordedDate": {"meta": "submitted_at", "format": "%Y-%m-%d %H:%M:%S"},
        "Status": "status",
        "IPAddress": "drop",
    },
}


def _problems(doc, **kw) -> list[tuple[str, str]]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc, source="broken.yaml", **kw)
    assert str(info.value).startswith("broken.yaml: ")
    return [(p.where, p.message) for p in info.value.problems]


def test_valid_mapping_parses_short_and_long_forms():
    m = parse_mapping(VALID, family=FAMILY)
    assert m.columns["QID1_1"] == ColumnRule("item", "PS01")
    assert m.columns["QID1_3"].reverse
    assert m.columns["ResponseId"] == ColumnRule("meta", "respondent_id")
    assert m.columns["IPAddress"].kind == "drop"
    assert m.columns["QID21"].options["RDUH"] == "royal-devon"
    assert m.targets("item") == {"QID1_1": "PS01", "QID1_3": "PC03"}
    assert m.timezone == "Europe/London"


def test_mapping_is_frozen():
    m = parse_mapping(VALID)
    with pytest.raises(TypeError):
        m.columns["x"] = ColumnRule("drop")  # type: ignore[index]
    with pytest.raises(AttributeError):
        m.timezone = "UTC"  # type: ignore[misc]


def test_dump_and_load_round_trip(tmp_path):
    m = parse_mapping(VALID, family=FAMILY)
    path = tmp_path / "mapping.yaml"
    path.write_text(dump_mapping(m), encoding="utf-8")
    back = load_mapping(path, family=FAMILY)
    assert back.columns == m.columns
    assert dict(back.labels) == dict(m.labels)
    assert dict(back.synonyms) == dict(m.synonyms)
    assert back.timezone == m.timezone and back.source == str(path)


def test_every_problem_is_reported_at_once():
    doc = {
        "instrument": "collaboration-indicators",
        "colour": "blue",
        "timezone": "Mars/Olympus",
        "labels": {"N/A": 3, True: 4, "Agree": "maybe", "Strongly disagree": 1},
        "synonyms": {"Strongly disagree": 1},
        "columns": {
            "a": "PS01",
            "b": {"item": "PS01"},
            "c": {"profile": "favourite_colour"},
            "d": {"item": "PS02", "profile": "sector"},
            "e": "not an item!",
            "f": {"meta": "status", "format": "%Y"},
            "g": {"item": "ZZ99"},
        },
    }
    problems = _problems(doc, family=FAMILY)
    wheres = [w for w, _ in problems]
    assert "colour" in wheres
    assert "timezone" in wheres
    assert ("labels.N/A", "'N/A' means not_applicable; it cannot be the number 3") in problems
    assert any(w == "labels.True" for w in wheres)
    assert any(w == "labels.Agree" for w in wheres)
    assert ("synonyms", "label 'strongly disagree' is also under labels") in problems
    assert ("columns.b", "item PS01 is already the target of column 'a'") in problems
    assert any(w == "columns.c.profile" for w in wheres)
    assert any(w == "columns.d" and "exactly one" in m for w, m in problems)
    assert any(w == "columns.e" for w in wheres)
    assert ("columns.f.format", "only a submitted_at column takes a format") in problems
    assert ("columns.g.item", "'ZZ99' is not an item of collaboration-indicators") in problems


def test_load_mapping_names_the_file_for_bad_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("columns: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="bad.yaml"):
        load_mapping(path)


@pytest.mark.parametrize("label, expected", [
    ("Strongly Agree", "strongly agree"),
    ("  strongly   agree\t", "strongly agree"),
    ("Don\u2019t know", "dont know"),
    ("DON'T KNOW", "dont know"),
    ("N/A", "n a"),
    ("n.a.", "n a"),
])
def test_label_normalisation_ignores_case_space_and_quotes(label, expected):
    assert normalise_label(label) == expected


def test_similarity_is_one_for_same_text_and_low_for_unrelated():
    text = V1.items[0].text
    assert text_similarity(text, text.upper() + "  ") == 1.0
    assert text_similarity(text, "Favourite colour?") < 0.4


# --- proposals ---------------------------------------------------------------------------------


def _reword(text: str, k: int) -> str:
    """Small edits a survey author makes: case, punctuation, a word changed."""
    if k % 4 == 0:
        return text.upper()
    if k % 4 == 1:
        return text.rstrip(".") + " "
    if k % 4 == 2:
        return text.replace("collaboration", "partnership")
    return "  " + text.lower().replace(",", "")


def _export(columns: list[RawColumn]) -> RawExport:
    frame = pd.DataFrame({c.key: [None] for c in columns})
    return RawExport("wave1.csv", "qualtrics", "test", frame, tuple(columns), (4,))


def _v1_export() -> RawExport:
    cols = [
        RawColumn("ResponseId", "ResponseId", import_id="_recordId", role="respondent_id"),
        RawColumn("Status", "Status", import_id="status", role="metadata"),
        RawColumn("Finished", "Finished", import_id="finished", role="metadata"),
        RawColumn("Progress", "Progress", import_id="progress", role="metadata"),
        RawColumn("RecordedDate", "RecordedDate", import_id="recordedDate", role="metadata"),
        RawColumn("Email", "RecipientEmail", import_id="recipientEmail", role="personal"),
        RawColumn("Name", "RecipientFirstName", role="personal",
                  question="Which organisation are you from?"),
        RawColumn("Q1", "Q1", import_id="QID1", question="Which collaboration are you answering about?"),
        RawColumn("Q2", "Q2", import_id="QID2", question="Which partner organisation do you work for?"),
        RawColumn("Q3", "Q3", import_id="QID3", question="How many months have you been involved?"),
    ]
    for k, item in enumerate(V1.items):
        cols.append(RawColumn(f"Q10_{k + 1}", f"Q10_{k + 1}", import_id=f"QID10_{k + 1}",
                              question="How far do you agree with each statement?",
                              sub_label=_reword(item.text, k)))
    for k, mode in enumerate(FAMILY.framework.value_modes):
        cols.append(RawColumn(f"Q20_{k + 1}", f"Q20_{k + 1}", import_id=f"QID20_{k + 1}",
                              question="In which ways does this collaboration create value? "
                              "Choose all that apply.", sub_label=mode.name,
                              choice_id=str(k + 1)))
    cols += [
        RawColumn("Q30", "Q30", import_id="QID30", question="Any other comments?"),
        RawColumn("Q31", "Q31", import_id="QID31", question="What is your favourite colour?"),
        RawColumn("Q32", "Q32", import_id="QID32", question="Parking at the venue was easy."),
    ]
    return _export(cols)


@pytest.fixture(scope="module")
def proposal():
    return propose_mapping(_v1_export(), FAMILY, PROGRAMME)


def test_proposal_maps_every_reworded_item_with_high_confidence(proposal):
    assert proposal.version == "1.0"
    table = proposal.table.set_index("column")
    for k, item in enumerate(V1.items):
        row = table.loc[f"QID10_{k + 1}"]
        assert row["target"] == f"item:{item.id}"
        assert row["confidence"] >= 0.8, (item.id, row["confidence"])
    assert proposal.mapping.targets("item") == {
        f"QID10_{k + 1}": item.id for k, item in enumerate(V1.items)}


def test_proposal_lists_the_unmatched_columns(proposal):
    assert proposal.unmatched == ("QID31", "QID32")
    assert "QID31" not in proposal.mapping.columns
    assert len(proposal.table) == len(_v1_export().columns)


def test_proposal_never_maps_personal_columns(proposal):
    table = proposal.table.set_index("column")
    # "Name" carries an organisation question text, but it is personal: dropped all the same.
    assert table.loc["Name", "target"] == "drop"
    assert table.loc["recipientEmail", "target"] == "drop"
    assert proposal.mapping.columns["Name"].kind == "drop"


def test_proposal_places_profile_metadata_options_and_comment(proposal):
    cols = proposal.mapping.columns
    assert cols["QID1"] == ColumnRule("profile", "collaboration")
    assert cols["QID2"] == ColumnRule("profile", "partner_organisation")
    assert cols["QID3"] == ColumnRule("profile", "months_involved")
    assert cols["_recordId"] == ColumnRule("meta", "respondent_id")
    assert cols["status"] == ColumnRule("meta", "status")
    assert cols["finished"] == ColumnRule("meta", "finished")
    assert cols["progress"] == ColumnRule("meta", "progress")
    assert cols["recordedDate"] == ColumnRule("meta", "submitted_at")
    modes = [m.id for m in FAMILY.framework.value_modes]
    assert [cols[f"QID20_{k + 1}"] for k in range(len(modes))] == [
        ColumnRule("select", "value_modes", option=m) for m in modes]
    assert cols["QID30"] == ColumnRule("text", "comment")


def test_proposal_mapping_saves_and_loads_back(proposal, tmp_path):
    path = tmp_path / "proposed.yaml"
    path.write_text(dump_mapping(proposal.mapping), encoding="utf-8")
    back = load_mapping(path, family=FAMILY)
    assert back.columns == proposal.mapping.columns
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["labels"]["Strongly agree"] == 5
    assert doc["labels"]["Don't know"] == "dont_know"
    assert doc["synonyms"]["SA"] == 5


def test_item_id_as_column_name_is_an_exact_match():
    cols = [RawColumn(f"c{k}", item.id.lower(), import_id=item.id.lower())
            for k, item in enumerate(V1.items[:5])]
    p = propose_mapping(_export(cols), FAMILY, version="1.0")
    assert p.mapping.targets("item") == {i.id.lower(): i.id for i in V1.items[:5]}
    assert (p.table["confidence"] == 1.0).all()


def test_empty_mapping_columns_is_a_problem():
    assert ("columns", "must not be empty") in _problems(
        {"instrument": "collaboration-indicators", "columns": {}})


def test_column_mapping_can_be_built_in_code():
    m = ColumnMapping("collaboration-indicators", {"x": ColumnRule("item", "PS01")})
    assert parse_mapping(yaml.safe_load(dump_mapping(m))).columns == m.columns
