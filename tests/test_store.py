"""Tests of the embedded wave store (pipelines/store.py): round trip, idempotence,
replacement, crash safety, concurrency, safe paths, provenance and where free text lives."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from collab_stats.errors import CollabStatsError, DataSchemaError, ParameterError
from collab_stats.schema import SurveyData, make_survey_data
from collab_stats.simulate import simulate_programme
from pipelines import store as store_module
from pipelines.store import PROVENANCE_COLUMNS, StoreError, WaveStore

FORK = multiprocessing.get_context("fork")
TABLES = ("respondents", "responses", "selections", "comments")


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=7, n_collaborations=4, n_waves=4)


@pytest.fixture(scope="module")
def waves(sim) -> dict[str, SurveyData]:
    ids = list(sim.data.respondents["wave_id"].cat.categories)
    return {w: sim.data.wave(w) for w in ids}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def version_of(data: SurveyData) -> str:
    return str(data.respondents["instrument_version"].iloc[0])


def quarantine_rows(n: int = 2) -> pd.DataFrame:
    # Mixed cells as validation would produce them: numbers, text, blanks.
    cells = ([None, 7, "strongly agree"] * n)[:n]
    return pd.DataFrame({"row": list(range(3, 3 + n)),
                         "reason": ["preview response"] * n,
                         "Q5": pd.Series(cells, dtype=object)})


def add(store: WaveStore, wave: str, data: SurveyData, *, name: str = "export.csv",
        digest: str | None = None, quarantine: pd.DataFrame | None = None):
    quarantine = quarantine_rows() if quarantine is None else quarantine
    return store.add(wave, name, digest or sha(wave + name), data, quarantine,
                     format="qualtrics", instrument_version=version_of(data),
                     rows_read=data.n_respondents + len(quarantine))


def canonical(table: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as strings, rows sorted: equal content whatever the category codes."""
    out = table.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype("string")
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def assert_same_data(got: SurveyData, expected: SurveyData, *, tables=TABLES) -> None:
    for name in tables:
        pd.testing.assert_frame_equal(canonical(getattr(got, name)),
                                      canonical(getattr(expected, name)), obj=name)


def part_of(data: SurveyData, ids: list[str]) -> SurveyData:
    """The rows of respondents ``ids`` (another export of the wave, e.g. one per site)."""
    keep = set(ids)
    return make_survey_data(*(t[t["respondent_id"].astype(str).isin(keep)]
                              for t in data._tables()))


def corrected(data: SurveyData) -> SurveyData:
    """A corrected re-export: the last respondent withdrawn and one answer changed."""
    drop = data.respondents["respondent_id"].iloc[-1]
    keep = [t[t["respondent_id"] != drop] for t in data._tables()]
    responses = keep[1].copy()
    first = responses["value"].first_valid_index()
    responses.loc[first, "value"] = 6 - int(responses.loc[first, "value"])
    return make_survey_data(keep[0], responses, keep[2], keep[3])


def stored_dirs(root: Path) -> set[str]:
    """Every partition folder and quarantine file under the data folders."""
    return {p.relative_to(root).as_posix() for top in ("waves", "free_text", "quarantine")
            if (root / top).is_dir() for p in (root / top).glob("*/*")}


def manifest_dirs(root: Path) -> set[str]:
    sources = json.loads((root / "manifest.json").read_text())["sources"]
    return {s[k] for s in sources for k in ("partition", "free_text", "quarantine")}


# --- round trip ----------------------------------------------------------------------------


def test_add_then_load_returns_the_data_given(tmp_path, sim, waves):
    store = WaveStore(tmp_path)
    for wave, data in waves.items():
        assert add(store, wave, data).status == "added"
    loaded = store.load(free_text=True)
    assert_same_data(loaded, sim.data)
    for name, table in zip(TABLES, loaded._tables(), strict=True):
        expected = getattr(sim.data, name)
        assert [str(d) for d in table.dtypes] == [str(d) for d in expected.dtypes], name
    one = next(iter(waves))
    assert_same_data(store.load([one], free_text=True), waves[one])


def test_ids_share_one_set_of_categories_across_partitions(tmp_path, waves):
    store = WaveStore(tmp_path)
    for wave, data in waves.items():
        add(store, wave, data)
    responses = store.load().responses
    # One categorical column: a code means the same item whichever wave the row came from.
    items = responses["item_id"]
    assert isinstance(items.dtype, pd.CategoricalDtype)
    decoded = items.cat.categories[items.cat.codes.to_numpy()]
    assert list(decoded) == list(items.astype(str))
    assert set(responses["wave_id"].cat.categories) == set(waves)


def test_load_leaves_free_text_out_unless_asked(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data)
    assert len(data.comments) > 0
    assert store.load().comments.empty
    assert list(store.load().comments.columns) == list(data.comments.columns)
    assert len(store.load(free_text=True).comments) == len(data.comments)


def test_empty_store_loads_empty_tables(tmp_path):
    store = WaveStore(tmp_path)
    loaded = store.load()
    assert loaded.n_respondents == 0
    assert store.sources().empty and store.status().empty and store.quarantine().empty


def test_load_rejects_unknown_waves_and_a_bare_string(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data)
    with pytest.raises(ParameterError, match="unknown"):
        store.load(["2099-01"])
    with pytest.raises(ParameterError, match="list of wave ids"):
        store.load(wave)


# --- idempotence and replacement -------------------------------------------------------------


def test_same_file_twice_is_unchanged_and_not_duplicated(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    first = add(store, wave, data)
    before = (tmp_path / "manifest.json").read_text()
    again = add(store, wave, data)
    renamed = add(store, wave, data, name="copy-of-export.csv", digest=first.sha256)
    assert (again.status, renamed.status) == ("unchanged", "unchanged")
    assert renamed.source_name == "export.csv"  # the name the file is stored under
    assert (tmp_path / "manifest.json").read_text() == before
    assert len(store.sources()) == 1
    assert store.load().n_respondents == data.n_respondents
    assert len(store.quarantine()) == 2


def test_a_corrected_re_export_replaces_the_old_rows(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    other_wave, other = list(waves.items())[1]
    old = add(store, wave, data, digest=sha("v1"))
    add(store, other_wave, other)
    new_data = corrected(data)
    result = add(store, wave, new_data, digest=sha("v2"), quarantine=quarantine_rows(1))
    assert (result.status, result.replaced_sha256) == ("replaced", old.sha256)
    assert_same_data(store.load([wave], free_text=True), new_data)
    assert store.load([wave]).n_respondents == data.n_respondents - 1
    assert_same_data(store.load([other_wave], free_text=True), other)  # untouched
    sources = store.sources()
    assert len(sources) == 2
    assert sources.loc[sources["wave_id"] == wave, "sha256"].tolist() == [sha("v2")]
    assert len(store.quarantine(wave)) == 1
    for rel in (old.partition, f"free_text/{wave}/{old.sha256[:16]}",
                f"quarantine/{wave}/{old.sha256[:16]}.parquet"):
        assert not (tmp_path / rel).exists(), rel
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)


# --- crash safety ----------------------------------------------------------------------------


def test_a_failed_manifest_write_keeps_the_previous_state(tmp_path, waves, monkeypatch):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data, digest=sha("v1"))
    before = store.load(free_text=True)
    manifest_before = (tmp_path / "manifest.json").read_text()

    def fail(path, manifest):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_write_manifest", fail)
    with pytest.raises(OSError, match="disk full"):
        add(store, wave, corrected(data), digest=sha("v2"))
    assert (tmp_path / "manifest.json").read_text() == manifest_before
    assert_same_data(store.load(free_text=True), before)
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)
    assert not any((tmp_path / ".staging").iterdir())

    monkeypatch.undo()
    assert add(store, wave, corrected(data), digest=sha("v2")).status == "replaced"
    assert_same_data(store.load(free_text=True), corrected(data))


def test_a_failed_rename_keeps_the_previous_state(tmp_path, waves, monkeypatch):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data, digest=sha("v1"))
    before = store.load(free_text=True)
    real_replace = os.replace
    calls = []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # after the partition is in place, before the free text
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace_then_fail)
    with pytest.raises(OSError, match="rename failed"):
        add(store, wave, corrected(data), digest=sha("v2"))
    monkeypatch.undo()
    assert_same_data(store.load(free_text=True), before)
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)


@pytest.mark.parametrize("when", ["before_swap", "after_swap"])
def test_a_killed_ingest_leaves_the_old_or_the_new_state(tmp_path, waves, when):
    """The ingesting process dies (no clean-up runs) just before or just after the manifest
    swap; reopening the store shows one whole state and removes what was left over."""
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data, digest=sha("v1"))
    new_data = corrected(data)

    def crash() -> None:
        real = store_module._write_manifest

        def die(path, manifest):
            if when == "after_swap":
                real(path, manifest)
            os._exit(3)

        store_module._write_manifest = die
        add(WaveStore(tmp_path), wave, new_data, digest=sha("v2"))

    child = FORK.Process(target=crash)
    child.start()
    child.join(30)
    assert child.exitcode == 3
    assert stored_dirs(tmp_path) != manifest_dirs(tmp_path)  # debris was left behind

    reopened = WaveStore(tmp_path)  # recover() runs on open
    expected = data if when == "before_swap" else new_data
    assert_same_data(reopened.load(free_text=True), expected)
    assert stored_dirs(tmp_path) == manifest_dirs(tmp_path)
    assert not any((tmp_path / ".staging").iterdir())
    result = add(reopened, wave, data, digest=sha("v3"))
    assert result.status == "replaced"
    assert_same_data(reopened.load(free_text=True), data)


def test_recover_removes_orphans_but_not_an_ingest_in_progress(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data)
    orphan = tmp_path / "waves" / wave / ("0" * 16)
    orphan.mkdir()
    (tmp_path / "free_text" / "lost-wave" / ("1" * 16)).mkdir(parents=True)
    (tmp_path / ".manifest.json.abc.tmp").write_text("{}")
    in_progress = tmp_path / ".staging" / "writer"
    in_progress.mkdir(parents=True)
    with store_module._flock(tmp_path / ".staging.lock", store_module.fcntl.LOCK_SH):
        removed = store.recover()  # a writer holds the staging lock: leave staging alone
        assert in_progress.exists()
    assert f"waves/{wave}/{'0' * 16}" in removed
    assert not orphan.exists() and not (tmp_path / "free_text" / "lost-wave").exists()
    assert not (tmp_path / ".manifest.json.abc.tmp").exists()
    store.recover()  # nobody is writing now: abandoned staging goes
    assert not in_progress.exists()
    assert store.load().n_respondents == data.n_respondents


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_processes_adding_different_waves_keep_every_entry(tmp_path, sim, waves):
    WaveStore(tmp_path)
    barrier = FORK.Barrier(len(waves))

    def ingest(wave: str) -> None:
        store = WaveStore(tmp_path)
        barrier.wait(10)
        add(store, wave, waves[wave])

    children = [FORK.Process(target=ingest, args=(w,)) for w in waves]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [c.exitcode for c in children] == [0] * len(children)
    store = WaveStore(tmp_path)
    assert sorted(store.sources()["wave_id"]) == sorted(waves)
    assert_same_data(store.load(free_text=True), sim.data)


def test_concurrent_threads_adding_sources_keep_every_entry(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    ids = data.respondents["respondent_id"].astype(str).tolist()
    parts = [part_of(data, ids[k::6]) for k in range(6)]  # no respondent in two files
    errors = []

    def ingest(k: int) -> None:
        try:
            add(store, wave, parts[k], name=f"part{k}.csv")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(store.sources()["source_name"]) == [f"part{k}.csv" for k in range(6)]
    assert int(store.status()["n_sources"].iloc[0]) == 6
    assert_same_data(store.load([wave], free_text=True), data)


# --- safe paths and input checks ---------------------------------------------------------------


@pytest.mark.parametrize("wave_id", ["../x", "..", "x/y", "/tmp/x", "Wave1", "", ".hidden",
                                     "-w", "a" * 65, "w1\n", 7])
def test_unsafe_wave_ids_are_rejected(tmp_path, waves, wave_id):
    store = WaveStore(tmp_path)
    data = next(iter(waves.values()))
    with pytest.raises(CollabStatsError, match="wave_id must match"):
        store.add(wave_id, "export.csv", sha("x"), data, pd.DataFrame(), format="qualtrics",
                  instrument_version=version_of(data), rows_read=1)
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
    assert stored_dirs(tmp_path) == set()


def test_a_manifest_pointing_outside_the_store_is_refused(tmp_path, waves):
    store = WaveStore(tmp_path)
    wave, data = next(iter(waves.items()))
    add(store, wave, data)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["sources"][0]["wave_id"] = "../x"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="wave_id must match"):
        store.load()


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"sha256": "abc"}, ParameterError, "sha256 must be"),
    ({"format": "csv"}, ParameterError, "format must be one of"),
    ({"rows_read": -1}, ParameterError, "rows_read must be"),
    ({"source_name": " "}, ParameterError, "source_name must be"),
    ({"instrument_version": "9.9"}, DataSchemaError, "instrument_version"),
    ({"wave_id": "2099-01"}, DataSchemaError, "every row must be wave '2099-01'"),
])
def test_bad_arguments_are_rejected_with_a_message(tmp_path, waves, change, error, message):
    wave, data = next(iter(waves.items()))
    args = {"wave_id": wave, "source_name": "export.csv", "sha256": sha("x"),
            "format": "qualtrics", "instrument_version": version_of(data), "rows_read": 5}
    args |= change
    store = WaveStore(tmp_path)
    with pytest.raises(error, match=message):
        store.add(args.pop("wave_id"), args.pop("source_name"), args.pop("sha256"), data,
                  pd.DataFrame(), **args)
    assert store.sources().empty


# --- what is stored, and where -----------------------------------------------------------------


def test_every_stored_row_carries_its_provenance(tmp_path, waves):
    store = WaveStore(tmp_path)
    results = {wave: add(store, wave, data) for wave, data in waves.items()}
    files = sorted(tmp_path.glob("waves/*/*/*.parquet")) + sorted(
        tmp_path.glob("free_text/*/*/*.parquet")) + sorted(tmp_path.glob("quarantine/*/*.parquet"))
    assert len(files) == 5 * len(waves)
    for path in files:
        frame = pq.read_table(path).to_pandas()
        wave = path.relative_to(tmp_path).parts[1]
        assert set(PROVENANCE_COLUMNS) <= set(frame.columns), path
        assert frame[list(PROVENANCE_COLUMNS)].notna().all().all(), path
        assert set(frame["source_sha256"].astype(str)) <= {results[wave].sha256}
        assert set(frame["source_file"].astype(str)) <= {"export.csv"}
        assert set(frame["source_format"].astype(str)) <= {"qualtrics"}
        assert set(frame["instrument_version"].astype(str)) <= {version_of(waves[wave])}
    responses = store.table("responses")
    assert len(responses) == sum(len(d.responses) for d in waves.values())
    assert str(responses["ingested_at"].dtype) == "datetime64[ns, UTC]"
    ingested = store.sources().set_index("wave_id")["ingested_at"]
    per_wave = responses.groupby("wave_id", observed=True)["ingested_at"].agg(["min", "max"])
    assert (per_wave["min"] == per_wave["max"]).all()
    assert (per_wave["min"] == ingested.loc[per_wave.index]).all()


def test_quarantined_rows_are_stored_and_loadable(tmp_path, waves):
    store = WaveStore(tmp_path)
    (w1, d1), (w2, d2) = list(waves.items())[:2]
    add(store, w1, d1, quarantine=quarantine_rows(2))
    add(store, w2, d2, quarantine=quarantine_rows(3))
    one = store.quarantine(w1)
    assert one["row"].tolist() == [3, 4]
    assert one["reason"].tolist() == ["preview response"] * 2
    assert one["Q5"].tolist()[1] == "7" and pd.isna(one["Q5"].iloc[0])  # mixed cells as text
    assert store.quarantine(w2)["Q5"].tolist()[2] == "strongly agree"
    assert (one["wave_id"] == w1).all() and (one["source_file"] == "export.csv").all()
    both = store.quarantine()
    assert both.groupby("wave_id", observed=True).size().to_dict() == {w1: 2, w2: 3}
    sources = store.sources().set_index("wave_id")
    assert sources.loc[w1, "rows_quarantined"] == 2
    assert sources.loc[w2, "rows_read"] == d2.n_respondents + 3


def test_free_text_is_stored_only_under_free_text(tmp_path, sim, waves):
    store = WaveStore(tmp_path)
    for wave, data in waves.items():
        add(store, wave, data)
    texts = set(sim.data.comments["text"].astype(str))
    assert any("@" in t for t in texts)  # the simulation includes identifying comments
    for path in tmp_path.rglob("*"):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        rel = path.relative_to(tmp_path).as_posix()
        if rel.startswith("free_text/"):
            assert path.name == "comments.parquet"
            continue
        if path.suffix == ".parquet":
            frame = pq.read_table(path).to_pandas()
            assert "text" not in frame.columns, rel
            for column in frame.columns:
                assert not set(frame[column].dropna().astype(str)) & texts, (rel, column)
        else:
            content = path.read_text()
            assert not any(t in content for t in texts), rel
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "free_text" in manifest["possibly_identifying"]
    stored_text = set(store.table("comments")["text"].astype(str))
    assert stored_text == texts


def test_sources_and_status_describe_the_store(tmp_path, waves):
    store = WaveStore(tmp_path)
    (w1, d1), (w2, d2) = list(waves.items())[:2]
    ids = d1.respondents["respondent_id"].astype(str).tolist()
    add(store, w1, part_of(d1, ids[: len(ids) // 2]), name="a.csv")
    add(store, w1, part_of(d1, ids[len(ids) // 2:]), name="b.csv")  # a second file
    add(store, w2, d2)
    sources = store.sources()
    assert list(sources.columns) == [*store_module._SOURCE_FIELDS, "origin"]
    assert sources[["wave_id", "source_name"]].values.tolist() == [
        [w1, "a.csv"], [w1, "b.csv"], [w2, "export.csv"]]
    assert str(sources["ingested_at"].dtype).startswith("datetime64") and (
        str(sources["ingested_at"].dt.tz) == "UTC")
    assert (sources["format"] == "qualtrics").all()
    status = store.status().set_index("wave_id")
    assert status.loc[w1, "n_sources"] == 2
    assert status.loc[w1, "rows_accepted"] == d1.n_respondents
    assert status.loc[w2, "n_responses"] == len(d2.responses)
    assert status.loc[w2, "n_comments"] == len(d2.comments)
    assert status.loc[w2, "rows_quarantined"] == 2
