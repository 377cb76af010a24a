"""The bundled collaboration indicator instrument and the validation of instrument folders.

Reference values come from two sources, named beside each test:

* the seed text the framework was transcribed from (``SEED``): eight characteristics in three
  groups, 26 indicators as "✓ " bullets, four ways of creating value;
* the instrument files themselves (``instruments/collaboration-indicators/``): item ids,
  reverse-keyed items and the 1.0 -> 2.0 changes listed at the top of ``v2.yaml``.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from collab_stats import InstrumentError, load_instrument, load_instrument_family
from collab_stats.errors import Problem
from collab_stats.instrument import default_instrument_dir

#: The seed text the framework was transcribed from (kept outside the repository, next to it).
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_cd1505c199edae39.txt"
SEED_BULLET = "- ✓ "


@pytest.fixture(scope="module")
def family():
    return load_instrument_family()


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def v1(family):
    return family.version("1.0")


# --- helpers for corrupting a copy of the instrument folder ------------------------------


def copy_instrument(tmp_path: Path) -> Path:
    folder = tmp_path / "collaboration-indicators"
    shutil.copytree(default_instrument_dir(), folder)
    return folder


def read_doc(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / name).read_text(encoding="utf-8"))


def write_doc(folder: Path, name: str, doc: dict) -> None:
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    (folder / name).write_text(text, encoding="utf-8")


def index_of(entries: list[dict], key: str, value: str) -> int:
    matches = [k for k, e in enumerate(entries) if e.get(key) == value]
    assert len(matches) == 1, f"{key}={value!r} found {len(matches)} times"
    return matches[0]


def load_error(folder: Path) -> InstrumentError:
    with pytest.raises(InstrumentError) as info:
        load_instrument_family(folder)
    return info.value


def assert_problems(error: InstrumentError, expected: list[tuple[str, str]]) -> None:
    """Every (where, phrase) pair matches one problem: ``where`` exactly, ``phrase`` inside
    its message."""
    missing = [
        (where, phrase)
        for where, phrase in expected
        if not any(p.where == where and phrase in p.message for p in error.problems)
    ]
    assert not missing, f"not reported: {missing}\nreported:\n{error}"


# --- the bundled instrument: framework traceable to the seed -----------------------------


def test_bundled_family_has_versions_1_0_and_2_0(family):
    assert family.id == "collaboration-indicators"
    assert family.version_ids == ("1.0", "2.0")
    assert family.latest.version == "2.0"


def test_framework_has_eight_characteristics_in_seed_order(family):
    # Seed: "Eight characteristics of effective collaborations", numbered 1-8.
    characteristics = family.framework.characteristics
    assert [c.id for c in characteristics] == ["PS", "PC", "TG", "BL", "CC", "MI", "EG", "SC"]
    assert [c.number for c in characteristics] == list(range(1, 9))


def test_characteristics_fall_in_the_seeds_three_groups(family):
    # Seed: a clear, shared purpose (1-2), culture (3-4), resources and structure (5-8).
    groups = {c.number: c.group for c in family.framework.characteristics}
    assert groups == {
        1: "purpose",
        2: "purpose",
        3: "culture",
        4: "culture",
        5: "resources",
        6: "resources",
        7: "resources",
        8: "resources",
    }
    assert [g.id for g in family.framework.groups] == ["purpose", "culture", "resources"]


def test_group_names_are_the_seeds_bold_phrases(family, seed_text):
    # Seed: "**clear, shared purpose...**", "**culture...**", "**resources and structure**".
    for group in family.framework.groups:
        assert f"**{group.name.lower()}" in seed_text, group.name


def test_characteristic_names_are_the_seeds_numbered_headings(family, seed_text):
    headings = set(seed_text.splitlines())
    for c in family.framework.characteristics:
        names = {c.name, c.alternative_name} - {None}
        assert any(f"{c.number}. {name}" in headings for name in names), c.id


def test_framework_has_exactly_26_indicators(family):
    # Seed: 4, 3, 3, 3, 4, 4, 3 and 2 "✓ " bullets under characteristics 1 to 8.
    per_characteristic = [len(c.indicators) for c in family.framework.characteristics]
    assert per_characteristic == [4, 3, 3, 3, 4, 4, 3, 2]
    assert len(family.framework.indicators) == 26
    assert len({i.id for i in family.framework.indicators}) == 26


def test_every_indicator_text_appears_verbatim_in_the_seed(family, seed_text):
    for indicator in family.framework.indicators:
        assert f"✓ {indicator.seed_text}\n" in seed_text + "\n", indicator.id


def test_indicators_are_the_seeds_bullets_in_seed_order(family, seed_text):
    bullets = [
        line.removeprefix(SEED_BULLET)
        for line in seed_text.splitlines()
        if line.startswith(SEED_BULLET)
    ]
    assert [i.seed_text for i in family.framework.indicators] == bullets


def test_four_ways_of_creating_value_match_the_seed(family, seed_text):
    # Seed: "Shared voice - Collaborating to amplify ...", one paragraph per way.
    modes = family.framework.value_modes
    assert [m.id for m in modes] == [
        "shared_voice",
        "shared_delivery",
        "aligned_plans",
        "shared_learning",
    ]
    for mode in modes:
        assert f"{mode.name} - {mode.definition}" in seed_text, mode.id


# --- the bundled instrument: items -------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_every_indicator_is_measured_by_an_item(family, version):
    instrument = family.version(version)
    measured = {item.indicator for item in instrument.items}
    unmeasured = [i.id for i in family.framework.indicators if i.id not in measured]
    assert unmeasured == []


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_each_characteristic_has_at_least_three_items(family, version):
    counts = {
        cid: len(ids) for cid, ids in family.version(version).items_by_characteristic().items()
    }
    assert set(counts) == {"PS", "PC", "TG", "BL", "CC", "MI", "EG", "SC"}
    assert min(counts.values()) >= 3, counts


def test_item_counts_per_version(family):
    # v2.yaml header: CC02 dropped, MI03 split in two, TG06 added -> 36 items become 37.
    assert len(family.version("1.0").items) == 36
    assert len(family.version("2.0").items) == 37


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_reverse_keyed_items(family, version):
    reverse = {item.id for item in family.version(version).items if item.reverse}
    assert len(reverse) >= 3
    assert reverse == {"PC03", "TG03", "TG05"}


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_items_name_exactly_one_of_indicator_and_derived_from(family, version):
    for item in family.version(version).items:
        assert (item.indicator is None) != (item.derived_from is None), item.id


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_derived_sc_items_point_to_a_why_important_point(family, version):
    why = family.framework.characteristic("SC").why_important
    derived = {
        item.id: item.derived_from
        for item in family.version(version).items_for("SC")
        if item.derived_from is not None
    }
    assert derived == {"SC03": "why_important[1]", "SC04": "why_important[2]"}
    for item_id, ref in derived.items():
        match = re.fullmatch(r"why_important\[(\d+)\]", ref)
        assert match is not None, item_id
        assert 1 <= int(match.group(1)) <= len(why) == 2, item_id


# --- the mapping between versions 1.0 and 2.0 --------------------------------------------


def test_mapping_lists_every_v1_item_once_under_from(family):
    sources = [e.source for e in family.mappings[0].entries if e.source is not None]
    assert sorted(sources) == sorted(family.version("1.0").item_ids)


def test_mapping_lists_every_v2_item_once_under_to(family):
    targets = [t for e in family.mappings[0].entries for t in e.targets]
    assert sorted(targets) == sorted(family.version("2.0").item_ids)


def test_mapping_links_consecutive_versions(family):
    mapping = family.mappings[0]
    assert len(family.mappings) == 1
    assert (mapping.from_version, mapping.to_version) == ("1.0", "2.0")


def test_comparable_items_exclude_split_and_dropped_items(family):
    comparable = family.comparable_items("1.0", "2.0")
    assert "MI03" not in comparable  # split into MI03A and MI03B
    assert "CC02" not in comparable  # dropped
    assert len(comparable) == 36 - 2


def test_reworded_item_marked_comparable_is_comparable(family):
    comparable = family.comparable_items("1.0", "2.0")
    assert comparable["PS01"] == {"1.0": "PS01", "2.0": "PS01"}
    assert family.version("1.0").item("PS01").text != family.version("2.0").item("PS01").text


def test_added_item_is_not_comparable(family):
    comparable = family.comparable_items("1.0", "2.0")
    assert "TG06" not in {ids["2.0"] for ids in comparable.values()}
    (added,) = [e for e in family.mappings[0].entries if e.relation == "added"]
    assert (added.source, added.targets, added.comparable) == (None, ("TG06",), False)


def test_comparable_items_of_one_version_is_every_item(family):
    v2 = family.version("2.0")
    assert family.comparable_items("2.0") == {i: {"2.0": i} for i in v2.item_ids}


# --- response scale and scoring ----------------------------------------------------------


@given(st.floats(min_value=1, max_value=5))
def test_reverse_keying_twice_is_the_identity(v1, value):
    scale = v1.scale
    # 6 - (6 - x) is exact only up to floating-point rounding: claim 1e-12 on a 1-5 scale.
    assert scale.reverse(scale.reverse(value)) == pytest.approx(value, abs=1e-12)


def test_reverse_swaps_the_ends_of_the_scale(v1):
    # agree5 in v1.yaml: codes 1 (strongly disagree) to 5 (strongly agree).
    assert (v1.scale.min, v1.scale.max) == (1, 5)
    assert v1.scale.reverse(1) == 5
    assert v1.scale.reverse(5) == 1
    assert v1.scale.reverse(3) == 3


def test_reverse_keeps_nan_missing(v1):
    assert math.isnan(v1.scale.reverse(math.nan))


def test_to_0_100_maps_scale_ends_and_midpoint(v1):
    assert v1.scale.to_0_100(1) == 0
    assert v1.scale.to_0_100(5) == 100
    assert v1.scale.to_0_100(3) == 50


@pytest.mark.parametrize(
    ("score", "band_id"),
    # v1.yaml scoring.bands: strength from 4.0, borderline from 3.0, concern from 1.0.
    [
        (5.0, "strength"),
        (4.0, "strength"),
        (3.99, "borderline"),
        (3.0, "borderline"),
        (2.5, "concern"),
        (1.0, "concern"),
    ],
)
def test_band_of_a_score(v1, score, band_id):
    assert v1.scoring.band(score).id == band_id


def test_band_of_a_missing_score_is_none(v1):
    assert v1.scoring.band(math.nan) is None


# --- invalid instrument folders ----------------------------------------------------------


def test_many_problems_are_reported_together_in_one_error(tmp_path):
    folder = copy_instrument(tmp_path)
    v1 = read_doc(folder, "v1.yaml")
    items = v1["items"]
    pc05 = index_of(items, "id", "PC05")
    tg01 = index_of(items, "id", "TG01")
    items[pc05]["characteristic"] = "XX"
    items[tg01]["indicator"] = "PS.4"  # an indicator of PS on a TG item
    items.append(
        {
            "id": "PS01",
            "characteristic": "PS",
            "indicator": "PS.1",
            "text": "A second item with an id already used.",
        }
    )
    options = v1["response_scale"]["options"]
    options[-1]["code"] = 6  # codes 1, 2, 3, 4, 6
    v1["response_scale"]["missing"][1]["code"] = 3  # "Not applicable" clashes with an answer
    v1["scoring"]["bands"][1]["min"] = 4.5  # 4.0, 4.5, 1.0: not descending
    write_doc(folder, "v1.yaml", v1)

    mapping = read_doc(folder, "mapping-1.0-2.0.yaml")
    entries = mapping["items"]
    del entries[index_of(entries, "to", "TG06")]  # a 2.0 item missing from the mapping
    entries.append({"from": "ZZ99", "to": None, "relation": "dropped"})  # unknown item
    entries.append({"from": "CC02", "to": None, "relation": "dropped"})  # listed twice
    write_doc(folder, "mapping-1.0-2.0.yaml", mapping)
    zz99 = len(entries) - 2

    (folder / "v3.yaml").write_text(
        'instrument: collaboration-indicators\nversion: "3.0"\ntitle: Survey: version three\n',
        encoding="utf-8",
    )

    error = load_error(folder)
    assert error.source == str(folder)
    assert_problems(
        error,
        [
            ("v1.yaml: items", "duplicate item id 'PS01' (appears 2 times)"),
            (f"v1.yaml: items[{pc05}].characteristic", "'XX' is not a characteristic"),
            (f"v1.yaml: items[{tg01}].indicator", "indicator PS.4 belongs to PS, not to TG"),
            (
                "v1.yaml: response_scale.options",
                "codes must be consecutive ascending integers, got [1, 2, 3, 4, 6]",
            ),
            ("v1.yaml: response_scale.missing[1].code", "code 3 is also an answer option"),
            ("v1.yaml: scoring.bands", "bands must be listed highest first"),
            (f"mapping-1.0-2.0.yaml: items[{zz99}].from", "'ZZ99' is not an item of version 1.0"),
            (
                "mapping-1.0-2.0.yaml: items",
                "version 1.0 item CC02 must appear exactly once under 'from' (appears 2 times)",
            ),
            (
                "mapping-1.0-2.0.yaml: items",
                "version 2.0 item TG06 must appear exactly once under 'to' (appears 0 times)",
            ),
            ("v3.yaml: line 3, column 14", "not valid YAML"),
        ],
    )
    assert f"{len(error.problems)} problems in the instrument definition" in str(error)


def test_malformed_mapping_file_is_reported_with_problems_elsewhere(tmp_path):
    folder = copy_instrument(tmp_path)
    (folder / "mapping-1.0-2.0.yaml").write_text("items: [\n  - {from: PS01\n", encoding="utf-8")
    v2 = read_doc(folder, "v2.yaml")
    v2["items"][0]["weight"] = 2
    write_doc(folder, "v2.yaml", v2)
    error = load_error(folder)
    assert_problems(error, [("v2.yaml: items[0].weight", "unknown key")])
    assert any(
        p.where.startswith("mapping-1.0-2.0.yaml: line ") and "not valid YAML" in p.message
        for p in error.problems
    ), str(error)


def test_missing_framework_file(tmp_path):
    folder = copy_instrument(tmp_path)
    (folder / "framework.yaml").unlink()
    error = load_error(folder)
    assert error.problems == (Problem("framework.yaml", "file is missing"),)


def test_missing_mapping_between_consecutive_versions(tmp_path):
    folder = copy_instrument(tmp_path)
    (folder / "mapping-1.0-2.0.yaml").unlink()
    error = load_error(folder)
    assert_problems(error, [(folder.name, "mapping-1.0-2.0.yaml is missing")])
    assert len(error.problems) == 1


def test_indicator_measured_by_no_item(tmp_path):
    folder = copy_instrument(tmp_path)
    v1 = read_doc(folder, "v1.yaml")
    sc02 = v1["items"][index_of(v1["items"], "id", "SC02")]
    del sc02["indicator"]
    sc02["derived_from"] = "why_important[2]"
    write_doc(folder, "v1.yaml", v1)
    error = load_error(folder)
    assert_problems(
        error,
        [
            (
                "v1.yaml: items",
                "indicator SC.2 ('Leaders and partners have "
                "the training and capabilities to lead the "
                "collaboration') is measured by no item",
            )
        ],
    )
    assert len(error.problems) == 1


def test_characteristic_with_only_two_items(tmp_path):
    folder = copy_instrument(tmp_path)
    # Drop SC's two items derived from "why is this important": its indicators stay covered.
    v2 = read_doc(folder, "v2.yaml")
    mapping = read_doc(folder, "mapping-1.0-2.0.yaml")
    for item_id in ("SC03", "SC04"):
        del v2["items"][index_of(v2["items"], "id", item_id)]
        entry = mapping["items"][index_of(mapping["items"], "from", item_id)]
        entry.update({"to": None, "relation": "dropped", "comparable": False})
    write_doc(folder, "v2.yaml", v2)
    write_doc(folder, "mapping-1.0-2.0.yaml", mapping)
    error = load_error(folder)
    assert_problems(
        error, [("v2.yaml: items", "characteristic SC has 2 items; at least 3 are needed")]
    )
    assert len(error.problems) == 1


def test_derived_from_a_point_that_does_not_exist(tmp_path):
    folder = copy_instrument(tmp_path)
    v1 = read_doc(folder, "v1.yaml")
    sc03 = index_of(v1["items"], "id", "SC03")
    v1["items"][sc03]["derived_from"] = "why_important[9]"
    write_doc(folder, "v1.yaml", v1)
    error = load_error(folder)
    # SC has two "why is this important" points in framework.yaml.
    assert_problems(
        error,
        [
            (
                f"v1.yaml: items[{sc03}].derived_from",
                "'why_important[9]' must be why_important[k] with k from 1 to 2",
            )
        ],
    )
    assert len(error.problems) == 1


def test_unknown_key_in_an_item(tmp_path):
    folder = copy_instrument(tmp_path)
    v1 = read_doc(folder, "v1.yaml")
    ps03 = index_of(v1["items"], "id", "PS03")
    v1["items"][ps03]["weight"] = 2
    write_doc(folder, "v1.yaml", v1)
    error = load_error(folder)
    assert_problems(error, [(f"v1.yaml: items[{ps03}].weight", "unknown key (allowed: ")])
    assert len(error.problems) == 1


def test_reverse_given_as_text_is_not_a_bool(tmp_path):
    folder = copy_instrument(tmp_path)
    v1 = read_doc(folder, "v1.yaml")
    pc03 = index_of(v1["items"], "id", "PC03")
    v1["items"][pc03]["reverse"] = "yes"
    write_doc(folder, "v1.yaml", v1)
    error = load_error(folder)
    assert_problems(error, [(f"v1.yaml: items[{pc03}].reverse", "expected bool, got str 'yes'")])


def test_mapping_id_given_as_a_list_is_a_problem_not_a_crash(tmp_path):
    folder = copy_instrument(tmp_path)
    mapping = read_doc(folder, "mapping-1.0-2.0.yaml")
    ps03 = index_of(mapping["items"], "from", "PS03")
    mapping["items"][ps03]["from"] = ["PS03"]
    write_doc(folder, "mapping-1.0-2.0.yaml", mapping)
    error = load_error(folder)
    assert_problems(
        error,
        [
            (
                f"mapping-1.0-2.0.yaml: items[{ps03}].from",
                "\"['PS03']\" is not an item of version 1.0",
            ),
            (
                "mapping-1.0-2.0.yaml: items",
                "version 1.0 item PS03 must appear exactly once under 'from' (appears 0 times)",
            ),
        ],
    )


def test_unknown_version_names_the_available_versions():
    with pytest.raises(InstrumentError) as info:
        load_instrument(version="9.9")
    (problem,) = info.value.problems
    assert problem.where == "version"
    assert "no version '9.9'" in problem.message
    assert "(versions: 1.0, 2.0)" in problem.message
