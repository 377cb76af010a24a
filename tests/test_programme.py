"""Programme definitions: the example in ``tests/data`` and the validation of broken ones.

Expected values come from ``tests/data/programme-example.yaml`` (three collaborations in the
South West, two waves using instrument versions 1.0 and 2.0) and, for sectors, ways of
creating value and versions, from the bundled instrument.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from collab_stats import (
    ProgrammeError,
    dump_programme,
    load_instrument_family,
    load_programme,
    parse_programme,
)

EXAMPLE = Path(__file__).parent / "data" / "programme-example.yaml"


@pytest.fixture(scope="module")
def family():
    return load_instrument_family()


@pytest.fixture(scope="module")
def programme(family):
    return load_programme(EXAMPLE, instrument=family)


@pytest.fixture
def doc() -> dict:
    """A fresh, editable copy of the example document."""
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def parse_error(doc: dict, family=None) -> ProgrammeError:
    with pytest.raises(ProgrammeError) as info:
        parse_programme(doc, instrument=family, source="broken.yaml")
    return info.value


def assert_exact_problems(error: ProgrammeError, expected: list[tuple[str, str]]) -> None:
    """Each (where, phrase) pair matches a problem (``where`` exactly, ``phrase`` inside the
    message) and nothing else was reported."""
    missing = [
        (where, phrase)
        for where, phrase in expected
        if not any(p.where == where and phrase in p.message for p in error.problems)
    ]
    assert not missing, f"not reported: {missing}\nreported:\n{error}"
    assert len(error.problems) == len(expected), str(error)


# --- the valid example -------------------------------------------------------------------


def test_example_loads_with_the_instrument(programme):
    assert programme.id == "south-west-collaborations"
    assert programme.instrument == "collaboration-indicators"
    assert programme.disclosure_threshold == 10
    assert programme.collaboration_ids == (
        "north-devon-care-alliance",
        "somerset-mh-collaborative",
        "bnssg-community-network",
    )
    assert [g.id for g in programme.peer_groups] == ["place-based", "provider-collaboratives"]


def test_example_waves_use_versions_1_0_then_2_0(programme):
    assert programme.wave_ids == ("2025-spring", "2025-autumn")
    assert [w.instrument_version for w in programme.waves] == ["1.0", "2.0"]
    assert programme.wave("2025-autumn").opens == dt.date(2025, 10, 6)
    assert programme.wave("2025-autumn").closes == dt.date(2025, 10, 31)


def test_example_invited_counts_per_wave(programme):
    assert programme.collaboration("north-devon-care-alliance").invited == {
        "2025-spring": 42,
        "2025-autumn": 45,
    }
    assert programme.collaboration("somerset-mh-collaborative").invited == {"2025-spring": 30}
    assert programme.collaboration("bnssg-community-network").invited == {}


def test_example_partner_sectors_are_instrument_sectors(programme, family):
    sectors = {p.sector for c in programme.collaborations for p in c.partners}
    assert sectors <= set(family.latest.sectors)
    assert (
        programme.collaboration("somerset-mh-collaborative").partner("magna-housing").sector
        == "housing"
    )


def test_example_main_value_mode_is_optional(programme):
    assert programme.collaboration("somerset-mh-collaborative").main_value_mode == "aligned_plans"
    assert programme.collaboration("bnssg-community-network").main_value_mode is None


def test_example_loads_the_same_without_the_instrument(programme):
    assert load_programme(EXAMPLE) == programme


def test_dump_and_parse_round_trip(programme, family):
    text = dump_programme(programme)
    assert parse_programme(yaml.safe_load(text), instrument=family) == programme


@pytest.mark.parametrize(("text", "expected"), [(None, "all"), ("programme", "all"),
                                               ("peer_group", "peer_group"),
                                               ("peer-group", "peer_group")])
def test_comparator_of_the_reports(doc, family, text, expected):
    """``programme.comparator`` names who the reports compare with (issue 11.5)."""
    if text is not None:
        doc["programme"]["comparator"] = text
    programme = parse_programme(doc, instrument=family)
    assert programme.comparator == expected
    assert parse_programme(yaml.safe_load(dump_programme(programme)),
                           instrument=family) == programme


def test_unknown_comparator_is_a_problem(doc, family):
    doc["programme"]["comparator"] = "region"
    error = parse_error(doc, family)
    assert_exact_problems(error, [("programme.comparator", "must be one of programme, "
                                                           "peer_group")])


# --- invalid programmes: every problem in one error --------------------------------------


def test_collaboration_problems_are_reported_together(doc, family):
    devon, somerset, bnssg = doc["collaborations"]
    devon["partners"][0]["sector"] = "hospital"
    somerset["value_modes"] = ["shared_learning", "shared_money"]
    somerset["main_value_mode"] = "shared_voice"
    somerset["peer_group"] = "rural"
    somerset["invited"] = {"2025-spring": -5, "2026-spring": 30}
    bnssg["partners"] = bnssg["partners"][:1]
    bnssg["partners"][0]["id"] = "royal-devon"  # already a partner of north-devon
    bnssg["id"] = "north-devon-care-alliance"
    error = parse_error(doc, family)
    assert error.source == "broken.yaml"
    assert_exact_problems(
        error,
        [
            ("collaborations[0].partners[0].sector", "'hospital' is not a known sector (allowed: "),
            (
                "collaborations[1].peer_group",
                "'rural' is not a known peer group (allowed: place-based, provider-collaboratives)",
            ),
            (
                "collaborations[1].value_modes",
                "'shared_money' is not a known way of creating value",
            ),
            ("collaborations[1].main_value_mode", "'shared_voice' is not among its value_modes"),
            ("collaborations[1].invited.2025-spring", "must be a positive whole number, got -5"),
            (
                "collaborations[1].invited.2026-spring",
                "'2026-spring' is not a wave of the programme",
            ),
            (
                "collaborations[2].partners",
                "a collaboration needs at least two partner organisations",
            ),
            ("collaborations", "duplicate collaboration id 'north-devon-care-alliance'"),
            (
                "collaborations",
                "duplicate partner organisation id (partner ids must be unique in the "
                "whole programme): 'royal-devon'",
            ),
        ],
    )
    assert str(error).startswith("broken.yaml: 9 problems in the programme definition:")


def test_wave_problems_are_reported_together(doc, family):
    spring, autumn = doc["waves"]
    spring["opens"], spring["closes"] = dt.date(2025, 4, 1), dt.date(2025, 3, 28)
    autumn["instrument_version"] = "9.9"
    late = {
        "id": "2025-summer",
        "label": "Listed after autumn",
        "opens": dt.date(2025, 7, 1),
        "closes": dt.date(2025, 7, 31),
        "instrument_version": "1.0",
    }
    doc["waves"].append(late)
    error = parse_error(doc, family)
    assert_exact_problems(
        error,
        [
            ("waves[0]", "opens (2025-04-01) is after closes (2025-03-28)"),
            (
                "waves[1].instrument_version",
                "'9.9' is not a version of collaboration-indicators (versions: 1.0, 2.0)",
            ),
            ("waves[2]", "waves must be listed in the order they ran"),
        ],
    )


def test_later_wave_with_older_instrument_version(doc, family):
    doc["waves"][0]["instrument_version"] = "2.0"
    doc["waves"][1]["instrument_version"] = "1.0"
    error = parse_error(doc, family)
    assert_exact_problems(
        error, [("waves", "a later wave uses an older instrument version than an earlier one")]
    )


def test_unsafe_ids_are_reported_together(doc):
    doc["programme"]["id"] = "../etc"
    doc["peer_groups"][0]["id"] = "Place Based"
    doc["collaborations"][0]["id"] = "A B"
    doc["collaborations"][1]["partners"][0]["id"] = "../etc"
    doc["waves"][0]["id"] = "Wave 1"
    error = parse_error(doc)
    allowed = "is not a valid identifier (allowed: ^[a-z0-9][a-z0-9_.-]{0,63}$)"
    expected = [
        ("programme.id", f"'../etc' {allowed}"),
        ("peer_groups[0].id", f"'Place Based' {allowed}"),
        ("waves[0].id", f"'Wave 1' {allowed}"),
        ("collaborations[1].partners[0].id", f"'../etc' {allowed}"),
        ("collaborations[0].id", f"'A B' {allowed}"),
    ]
    # Renaming the peer group and the first wave also orphans references to them.
    expected += [
        ("collaborations[0].peer_group", "'place-based' is not a known peer group"),
        ("collaborations[2].peer_group", "'place-based' is not a known peer group"),
        ("collaborations[0].invited.2025-spring", "'2025-spring' is not a wave"),
        ("collaborations[1].invited.2025-spring", "'2025-spring' is not a wave"),
    ]
    assert_exact_problems(error, expected)


def test_sectors_and_value_modes_are_checked_only_with_the_instrument(doc, family):
    doc["collaborations"][0]["partners"][0]["sector"] = "hospital"
    doc["collaborations"][0]["value_modes"].append("shared_money")
    doc["waves"][1]["instrument_version"] = "9.9"
    assert parse_programme(doc).collaborations[0].partners[0].sector == "hospital"
    error = parse_error(doc, family)
    assert [p.where for p in error.problems] == [
        "waves[1].instrument_version",
        "collaborations[0].value_modes",
        "collaborations[0].partners[0].sector",
    ]


def test_wave_date_with_a_time_is_a_problem_not_a_crash(doc):
    doc["waves"][0]["opens"] = dt.datetime(2025, 3, 3, 9, 0)
    error = parse_error(doc)
    assert_exact_problems(
        error,
        [("waves[0].opens", "expected a date (YYYY-MM-DD), got a date and time 2025-03-03 09:00")],
    )


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "programme.yaml"
    path.write_text("programme:\n  id: broken\n  name: Broken: programme\n", encoding="utf-8")
    with pytest.raises(ProgrammeError) as info:
        load_programme(path)
    assert info.value.source == str(path)
    (problem,) = info.value.problems
    assert problem.where == "line 3, column 15"
    assert problem.message.startswith("not valid YAML")
    assert str(info.value).startswith(f"{path}: 1 problem in the programme definition:")


def test_peer_group_must_be_a_safe_id_even_without_declared_peer_groups(doc):
    doc.pop("peer_groups")
    doc["collaborations"][0]["peer_group"] = "../etc"
    error = parse_error(doc)
    assert_exact_problems(
        error, [("collaborations[0].peer_group", "'../etc' is not a valid identifier")]
    )
