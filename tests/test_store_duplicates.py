"""Respondents stored by more than one source of a wave (issue 18.1).

A cumulative re-export under a new, date-stamped name replaces the export it contains; an
overlapping export keeps the latest complete submission of each respondent and quarantines
the other; the same file twice is still a no-op; a store written before the rule loads each
respondent once (and the analyses that died on it with "Index contains duplicate entries,
cannot reshape" run); every file keeps rows read = accepted + quarantined. All on real round
trips through the store, some through a simulated export, its conversion and ``collab
ingest``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from test_store import canonical, manifest_dirs, stored_dirs

from collab_stats import dump_programme, simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.errors import DataSchemaError, ParameterError
from collab_stats.ingest.convert import ConvertReport, convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.pseudonym import pseudonymise
from collab_stats.ingest.simulated import write_wave_export
from collab_stats.psychometrics import programme_psychometrics
from collab_stats.schema import SurveyData, make_survey_data
from pipelines import store as store_module
from pipelines.cli import main
from pipelines.ingest_flow import ingest_summary
from pipelines.store import DUPLICATE_REASON, StoreError, StoreWarning, WaveStore

TABLES = ("respondents", "responses", "selections", "comments")
SECRET = b"0123456789abcdef0123456789abcdef"
OCT_01 = "2026-09-qualtrics-2026-10-01.csv"
OCT_15 = "2026-09-qualtrics-2026-10-15.csv"
NOV_01 = "2026-09-qualtrics-2026-11-01.csv"


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=5, n_collaborations=3, n_waves=1)


@pytest.fixture(scope="module")
def wave(sim) -> str:
    return sim.programme.wave_ids[0]


@pytest.fixture(scope="module")
def ids(sim) -> list[str]:
    return [str(r) for r in sim.data.respondents["respondent_id"]]


# --- building exports ------------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def subset(data: SurveyData, ids: list[str]) -> SurveyData:
    keep = set(ids)
    return make_survey_data(*(t[t["respondent_id"].astype(str).isin(keep)]
                              for t in data._tables()))


def resubmitted(data: SurveyData, ids: list[str], *, days: int, completed: bool = True
                ) -> SurveyData:
    """``data`` where respondents ``ids`` submitted again ``days`` later, ``completed`` or
    not, with every answer code moved one step (so that the kept version can be told)."""
    chosen = set(ids)
    respondents = data.respondents.copy()
    mine = respondents["respondent_id"].astype(str).isin(chosen)
    respondents.loc[mine, "submitted_at"] += pd.Timedelta(days=days)
    respondents.loc[mine, "completed"] = completed
    responses = data.responses.copy()
    answers = responses["respondent_id"].astype(str).isin(chosen) & responses["value"].notna()
    responses.loc[answers, "value"] = responses.loc[answers, "value"] % 5 + 1
    return make_survey_data(respondents, responses, data.selections, data.comments)


def quarantine_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame({"row": list(range(3, 3 + n)), "reason": ["incomplete"] * n,
                         "primary": [True] * n})


def add(store: WaveStore, wave: str, data: SurveyData, name: str, *, held: int = 0):
    quarantine = quarantine_rows(held)
    return store.add(wave, name, sha(name), data, quarantine, format="qualtrics",
                     instrument_version=str(data.respondents["instrument_version"].iloc[0]),
                     rows_read=data.n_respondents + held)


def assert_same_data(got: SurveyData, expected: SurveyData) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(canonical(getattr(got, name)),
                                      canonical(getattr(expected, name)), obj=name)


def no_duplicates(data: SurveyData) -> bool:
    return not data.respondents.duplicated(["wave_id", "respondent_id"]).any()


def assert_conserved(store: WaveStore) -> None:
    """Every stored source: rows read = accepted + quarantined, and its tables as counted."""
    manifest = json.loads(store.manifest_path.read_text())
    for source in manifest["sources"]:
        assert source["rows_read"] == source["rows_accepted"] + source["rows_quarantined"], source
    sources = store.sources()
    quarantine = store.quarantine()
    for row in sources.itertuples():
        mine = store.table("respondents")
        assert (mine["source_file"] == row.source_name).sum() == row.rows_accepted
        held = quarantine[quarantine["source_file"] == row.source_name]
        if "primary" in held.columns:
            held = held[held["primary"].fillna(True).astype(bool)]
        assert len(held) == row.rows_quarantined, row.source_name


def report_for(name: str, wave: str, accepted: int, held: int) -> ConvertReport:
    """The converter's report of a file of ``accepted`` rows and ``held`` incomplete ones."""
    return ConvertReport(source=name, wave_id=wave, instrument_version="1.0",
                         rows_read=accepted + held, rows_accepted=accepted,
                         rows_quarantined={"incomplete": held}, unmatched_columns=(),
                         missing_columns=(), items_without_column=())


@pytest.fixture(scope="module")
def overlap(sim, ids):
    """Two exports of one wave sharing 20 respondents: in 8 the second file's submission is
    later, in 6 the first file's, in 2 the second's is later but unfinished, in 4 both are
    the same submission."""
    data = sim.data
    groups = {"second_later": ids[30:38], "first_later": ids[38:44],
              "second_unfinished": ids[44:46], "same": ids[46:50]}
    first = resubmitted(subset(data, ids[:50]), groups["first_later"], days=2)
    first = resubmitted(first, groups["second_unfinished"], days=0, completed=True)
    second = resubmitted(subset(data, ids[30:]), groups["second_later"], days=2)
    second = resubmitted(second, groups["second_unfinished"], days=5, completed=False)
    second = resubmitted(second, groups["second_unfinished"], days=0, completed=False)
    return SimpleOverlap(first, second, groups)


@dataclasses.dataclass(frozen=True)
class SimpleOverlap:
    first: SurveyData
    second: SurveyData
    groups: dict[str, list[str]]

    def expected(self) -> SurveyData:
        """Each respondent once, from the submission the rule keeps."""
        from_second = set(self.groups["second_later"]) | (
            set(self.second.respondents["respondent_id"].astype(str))
            - set(self.first.respondents["respondent_id"].astype(str)))
        tables = []
        for a, b in zip(self.first._tables(), self.second._tables(), strict=True):
            tables.append(pd.concat([a[~a["respondent_id"].astype(str).isin(from_second)],
                                     b[b["respondent_id"].astype(str).isin(from_second)]]))
        return make_survey_data(*tables)


# --- (a) a cumulative re-export under a new name ---------------------------------------------


def test_a_cumulative_re_export_under_a_new_name_replaces_the_export_it_contains(
        tmp_path, sim, wave, ids):
    store = WaveStore(tmp_path)
    early = subset(sim.data, ids[:60])
    # The later export holds the first one's responses (two of them resubmitted since) and
    # the late ones.
    cumulative = resubmitted(sim.data, ids[:2], days=3)
    first = add(store, wave, early, OCT_01, held=2)
    result = add(store, wave, cumulative, OCT_15, held=3)

    assert result.status == "replaced"
    assert result.replaced_sources == (OCT_01,) and result.replaced_sha256 == first.sha256
    assert (result.duplicates_resolved, result.duplicates_removed) == (0, ())
    assert store.sources()["source_name"].tolist() == [OCT_15]
    loaded = store.load(free_text=True)
    assert no_duplicates(loaded) and loaded.n_respondents == len(ids)
    assert_same_data(loaded, cumulative)
    assert set(store.quarantine(wave)["source_file"]) == {OCT_15}  # the old file's went too
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)  # its files were deleted
    assert_conserved(store)

    row = ingest_summary(OCT_15, wave, "qualtrics", report_for(OCT_15, wave, len(ids), 3),
                         result)
    assert row["note"] == f"replaced {OCT_01} (cumulative re-export: every respondent of it " \
                          "is in this file)"
    assert row["status"] == "replaced"
    assert row["rows_read"] == row["accepted"] + sum(row["quarantined"].values())


def test_an_export_missing_one_respondent_of_the_older_one_does_not_replace_it(
        tmp_path, sim, wave, ids):
    store = WaveStore(tmp_path)
    add(store, wave, subset(sim.data, ids[:60]), OCT_01)
    result = add(store, wave, subset(sim.data, ids[1:]), OCT_15)  # ids[0] withdrawn
    assert result.status == "added" and result.replaced_sources == ()
    # The 59 shared submissions are the same: the stored ones are kept (rule 2, a tie).
    assert result.duplicates_resolved == 59
    assert result.duplicates_removed == ((OCT_15, 59),)
    assert result.rows_accepted == len(ids) - 60 and result.rows_quarantined == 59
    loaded = store.load(free_text=True)
    assert no_duplicates(loaded)
    assert_same_data(loaded, sim.data)
    assert_conserved(store)


# --- (b) an overlapping export -----------------------------------------------------------------


def test_an_overlapping_export_keeps_the_latest_complete_submission_of_each_respondent(
        tmp_path, wave, ids, overlap):
    store = WaveStore(tmp_path)
    first = add(store, wave, overlap.first, OCT_01, held=2)
    result = add(store, wave, overlap.second, OCT_15, held=1)
    g = overlap.groups
    first_loses = len(g["second_later"])
    second_loses = len(g["first_later"]) + len(g["second_unfinished"]) + len(g["same"])

    assert result.status == "added" and result.replaced_sources == ()
    assert result.duplicates_resolved == 20
    assert result.duplicates_removed == ((OCT_01, first_loses), (OCT_15, second_loses))
    assert result.duplicates_removed_here == second_loses
    assert result.rows_accepted == overlap.second.n_respondents - second_loses
    assert result.rows_quarantined == 1 + second_loses
    assert "20 respondents already stored from another file: the latest complete " \
           f"submission kept, the other quarantined as {DUPLICATE_REASON} " \
           f"({first_loses} in {OCT_01}, {second_loses} in this file)" == result.note

    loaded = store.load(free_text=True)
    assert no_duplicates(loaded) and loaded.n_respondents == len(ids)
    assert_same_data(loaded, overlap.expected())  # the kept answers are the newer ones
    moved = store.quarantine(wave)
    moved = moved[moved["reason"] == DUPLICATE_REASON]
    by_file = moved.groupby("source_file", observed=True)["respondent"].agg(set).to_dict()
    assert by_file == {OCT_01: set(g["second_later"]),
                       OCT_15: set(g["first_later"] + g["second_unfinished"] + g["same"])}
    assert moved["message"].str.contains("another submission of this respondent is kept").all()
    sources = store.sources().set_index("source_name")
    assert sources.loc[OCT_01, "rows_accepted"] == first.rows_accepted - first_loses
    assert sources.loc[OCT_01, "rows_quarantined"] == first.rows_quarantined + first_loses
    assert (sources["rows_read"] == sources["rows_accepted"] + sources["rows_quarantined"]).all()
    status = store.status().iloc[0]
    assert (status["n_sources"], status["n_respondents"]) == (2, len(ids))
    assert set(loaded.respondents["respondent_id"].cat.categories) == set(ids)  # no ghosts
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)
    assert_conserved(store)

    report = report_for(OCT_15, wave, overlap.second.n_respondents, 1)
    row = ingest_summary(OCT_15, wave, "qualtrics", report, result)
    assert row["quarantined"] == {"incomplete": 1, DUPLICATE_REASON: second_loses}
    assert row["rows_read"] == row["accepted"] + sum(row["quarantined"].values())
    assert row["note"] == result.note


def test_a_failed_commit_leaves_both_sources_as_they_were(tmp_path, wave, overlap, monkeypatch):
    store = WaveStore(tmp_path)
    add(store, wave, overlap.first, OCT_01)
    before = store.load(free_text=True)
    manifest = store.manifest_path.read_text()

    def fail(path, manifest):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_write_manifest", fail)
    with pytest.raises(OSError, match="disk full"):
        add(store, wave, overlap.second, OCT_15)
    monkeypatch.undo()
    assert store.manifest_path.read_text() == manifest
    assert_same_data(store.load(free_text=True), before)
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)


# --- (c) the same file twice ---------------------------------------------------------------------


def test_the_same_file_twice_is_still_unchanged(tmp_path, wave, overlap):
    store = WaveStore(tmp_path)
    add(store, wave, overlap.first, OCT_01)
    add(store, wave, overlap.second, OCT_15)  # resolves 20 duplicates
    manifest = store.manifest_path.read_text()
    again = add(store, wave, overlap.second, OCT_15)
    renamed = store.add(wave, NOV_01, sha(OCT_01), overlap.first, pd.DataFrame(),
                        format="qualtrics", instrument_version="1.0",
                        rows_read=overlap.first.n_respondents)
    assert (again.status, renamed.status) == ("unchanged", "unchanged")
    assert renamed.source_name == OCT_01
    assert (again.replaced_sources, again.duplicates_resolved, again.note) == ((), 0, "")
    assert store.manifest_path.read_text() == manifest


# --- (d) a store holding duplicates from before the rule ---------------------------------------


def old_rule(held, key, new):
    """What add did before issue 18.1: store the file beside the others, whatever it holds."""
    held[key] = new
    return [], {}


def test_a_store_written_before_the_rule_loads_each_respondent_once(
        tmp_path, sim, wave, ids, monkeypatch):
    store = WaveStore(tmp_path)
    cumulative = resubmitted(sim.data, ids[:2], days=3)
    monkeypatch.setattr(store_module, "_resolve", old_rule)
    add(store, wave, subset(sim.data, ids[:60]), OCT_01)
    add(store, wave, cumulative, OCT_15)
    monkeypatch.undo()
    on_disk = make_survey_data(*(store.table(name) for name in TABLES))
    assert not no_duplicates(on_disk)  # the state issue 18.1 reports
    with pytest.raises(ValueError, match="duplicate entries"):
        programme_psychometrics(on_disk, sim.instrument, factor_models=False, invariance=False)

    with pytest.warns(StoreWarning, match=rf"wave {wave}: 60 respondents are stored by more "
                      rf"than one source \({OCT_01}, {OCT_15}\).*resolve_duplicates"):
        loaded = store.load(free_text=True)
    assert no_duplicates(loaded)
    assert_same_data(loaded, cumulative)  # what the rule stores: the later export replaces
    psychometrics = programme_psychometrics(loaded, sim.instrument, factor_models=False,
                                            invariance=False)
    assert len(psychometrics.reliability)
    benchmark = benchmark_programme(loaded, sim.instrument, sim.programme, min_peers=2)
    assert len(benchmark.summaries)

    changed = store.resolve_duplicates()
    assert changed.to_dict("records") == [{"wave_id": wave, "source_name": OCT_01,
                                           "outcome": "replaced", "by": OCT_15, "rows": 60}]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)
        assert_same_data(store.load(free_text=True), cumulative)
    assert store.sources()["source_name"].tolist() == [OCT_15]
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)
    assert store.resolve_duplicates().empty


def test_load_and_resolve_duplicates_give_what_add_now_stores(tmp_path, wave, overlap,
                                                              monkeypatch):
    now = WaveStore(tmp_path / "now")
    add(now, wave, overlap.first, OCT_01, held=2)
    add(now, wave, overlap.second, OCT_15, held=1)
    before = WaveStore(tmp_path / "before")
    monkeypatch.setattr(store_module, "_resolve", old_rule)
    add(before, wave, overlap.first, OCT_01, held=2)
    add(before, wave, overlap.second, OCT_15, held=1)
    monkeypatch.undo()

    with pytest.warns(StoreWarning, match="20 respondents"):
        loaded = before.load(free_text=True)
    assert_same_data(loaded, now.load(free_text=True))
    changed = before.resolve_duplicates([wave])
    assert changed[["source_name", "outcome", "rows"]].values.tolist() == [
        [OCT_01, "quarantined", 8], [OCT_15, "quarantined", 12]]
    assert_same_data(before.load(free_text=True), now.load(free_text=True))
    columns = ["source_name", "rows_read", "rows_accepted", "rows_quarantined"]
    pd.testing.assert_frame_equal(before.sources()[columns], now.sources()[columns])
    assert_conserved(before)
    with pytest.raises(ParameterError, match="unknown"):
        before.resolve_duplicates(["2099-01"])


def test_a_respondent_twice_in_one_file_is_refused_on_add_and_on_load(
        tmp_path, sim, wave, ids, monkeypatch):
    store = WaveStore(tmp_path)
    data = subset(sim.data, ids[:5])
    twice = make_survey_data(pd.concat([data.respondents, data.respondents.iloc[:1]]),
                             data.responses, data.selections, data.comments)
    with pytest.raises(DataSchemaError, match="1 respondents have more than one row"):
        add(store, wave, twice, OCT_01)
    monkeypatch.setattr(store_module, "_check_data_matches", lambda *args: None)
    add(store, wave, twice, OCT_01)
    monkeypatch.undo()
    with pytest.raises(StoreError, match=rf"source {OCT_01} holds respondent \S+ more than "
                                         "once"):
        store.load()


# --- (e) every row of every file accounted for, through real exports -------------------------


def convert(sim, wave, data: SurveyData, folder: Path):
    path, mapping = write_wave_export(dataclasses.replace(sim, data=data), wave, "qualtrics",
                                      folder)
    return convert_export(read_export(path), load_mapping(mapping, family=sim.instrument),
                          sim.instrument, sim.programme, wave_id=wave, secret=SECRET)


def test_every_file_keeps_rows_read_equal_accepted_plus_quarantined(
        tmp_path, sim, wave, ids, overlap):
    store = WaveStore(tmp_path / "store")
    exports = {OCT_01: overlap.first, OCT_15: overlap.second,
               # the latest export holds everyone's latest complete submission
               NOV_01: overlap.expected()}
    rows, accepted = [], []
    for k, (name, data) in enumerate(exports.items()):
        result = convert(sim, wave, data, tmp_path / f"export{k}")
        report = result.report
        added = store.add(wave, name, sha(name), result.data, result.quarantine,
                          format="qualtrics", instrument_version="1.0",
                          rows_read=report.rows_read)
        rows.append(ingest_summary(name, wave, "qualtrics", report, added))
        accepted.append(set(result.data.respondents["respondent_id"].astype(str)))
        assert report.rows_read == data.n_respondents
        assert_conserved(store)
        assert no_duplicates(store.load())

    for row in rows:
        assert row["rows_read"] == row["accepted"] + sum(row["quarantined"].values()), row
    # Of the respondents both files had accepted, the first file keeps all but those who
    # submitted again later in the second.
    later = set(pseudonymise(overlap.groups["second_later"], secret=SECRET,
                             programme_id=sim.programme.id))
    shared = accepted[0] & accepted[1]
    assert 0 < len(shared - later) < len(shared)
    assert rows[0]["status"] == rows[1]["status"] == "added"
    assert rows[1]["quarantined"][DUPLICATE_REASON] == len(shared - later)
    assert rows[1]["note"].startswith(f"{len(shared)} respondents already stored")
    assert f"{len(shared & later)} in {OCT_01}" in rows[1]["note"]
    assert rows[2]["status"] == "replaced"
    assert rows[2]["note"] == (f"replaced {OCT_01}, {OCT_15} (cumulative re-export: every "
                               "respondent of it is in this file)")
    (source,) = store.sources().itertuples()
    assert (source.source_name, source.rows_accepted) == (NOV_01, rows[2]["accepted"])
    assert store.load().n_respondents == rows[2]["accepted"]


def test_collab_ingest_says_which_export_a_cumulative_one_replaced(
        tmp_path, sim, wave, ids, capsys, monkeypatch):
    (tmp_path / "programme.yaml").write_text(dump_programme(sim.programme))
    for name, data in ((OCT_01, subset(sim.data, ids[:60])), (OCT_15, sim.data)):
        path, mapping = write_wave_export(dataclasses.replace(sim, data=data), wave,
                                          "qualtrics", tmp_path / name)
        shutil.move(path, tmp_path / name / name)
        shutil.move(mapping, tmp_path / name / f"{name}.mapping.yaml")
    monkeypatch.chdir(tmp_path)
    for name in (OCT_01, OCT_15):
        assert main(["ingest", f"{name}/{name}", "--wave", wave]) == 0
    out = capsys.readouterr().out
    assert f"  replaced {OCT_01} (cumulative re-export: every respondent of it is in this " \
           "file)\n" in out
    assert WaveStore(tmp_path / "store").sources()["source_name"].tolist() == [OCT_15]
