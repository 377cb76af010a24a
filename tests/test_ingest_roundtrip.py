"""Simulated waves written in every platform's layout come back exactly through ingest.

Write (collab_stats.ingest.simulated) -> detect and read (the platform's reader) -> the
mapping proposed for it -> convert -> the canonical answers equal the simulated ones, for
every respondent and item, values and missing reasons alike; personal data never arrive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collab_stats import simulate_programme
from collab_stats.ingest.convert import convert_export
from collab_stats.ingest.detect import detect_format, read_export
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.pseudonym import pseudonymise
from collab_stats.ingest.simulated import EXPORT_FORMATS, write_wave_export

SECRET = b"0123456789abcdef0123456789abcdef"
NO_COMPLETION_STATUS = {"surveymonkey", "google_forms", "microsoft_forms"}


@pytest.fixture(scope="module")
def sim():
    return simulate_programme(seed=21, n_collaborations=4, n_waves=1)


def _export_and_ingest(sim, fmt, folder):
    """Write wave 2025-03 as a ``fmt`` export, read it back and convert it with the mapping
    written beside it (every response kept, however incomplete)."""
    path, mapping_path = write_wave_export(sim, "2025-03", fmt, folder)
    assert detect_format(path) == fmt
    options = {"dictionary": folder / "2025-03-redcap-dictionary.csv"} if fmt == "redcap" else {}
    raw = read_export(path, **options)
    mapping = load_mapping(mapping_path, family=sim.instrument)
    result = convert_export(raw, mapping, sim.instrument, sim.programme, wave_id="2025-03",
                            secret=SECRET, min_completion=0.0)
    return mapping, result


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_a_simulated_wave_survives_export_and_ingest(sim, fmt, tmp_path):
    _, result = _export_and_ingest(sim, fmt, tmp_path)
    report = result.report
    assert report.rows_read == len(sim.data.respondents) == report.rows_accepted
    assert sum(report.rows_quarantined.values()) == 0

    # The same respondent under its keyed pseudonym.
    expected = sim.data.responses.astype({"respondent_id": str, "item_id": str})
    expected["respondent_id"] = pseudonymise(expected["respondent_id"].to_numpy(),
                                             secret=SECRET, programme_id=sim.programme.id)
    got = result.data.responses.astype({"respondent_id": str, "item_id": str})
    keys = ["respondent_id", "item_id"]
    merged = expected.merge(got, on=keys, how="outer", suffixes=("", "_in"), indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_array_equal(merged["value"].to_numpy(dtype=float, na_value=np.nan),
                                  merged["value_in"].to_numpy(dtype=float, na_value=np.nan))
    want = merged["missing_reason"].astype(object).fillna("answered")
    if fmt in NO_COMPLETION_STATUS:
        # These exports do not say whether a response was completed, so a blank is "skipped":
        # "not reached" cannot be told apart.
        want = want.replace("not_reached", "skipped")
    assert (want == merged["missing_reason_in"].astype(object).fillna("answered")).all()

    profile = ["respondent_id", "collaboration_id", "partner_id", "sector", "role"]
    want = sim.data.respondents[profile].astype(str).assign(
        respondent_id=lambda f: pseudonymise(f["respondent_id"].to_numpy(), secret=SECRET,
                                             programme_id=sim.programme.id))
    have = result.data.respondents[profile].astype(str)
    pd.testing.assert_frame_equal(want.sort_values("respondent_id").reset_index(drop=True),
                                  have.sort_values("respondent_id").reset_index(drop=True))

    # Multi-selects (ways of creating value, partners worked with) come back option by option.
    columns = ["respondent_id", "question_id", "option_id"]
    want = sim.data.selections[columns].astype(str).assign(
        respondent_id=lambda f: pseudonymise(f["respondent_id"].to_numpy(), secret=SECRET,
                                             programme_id=sim.programme.id))
    have = result.data.selections[columns].astype(str)
    assert len(want) > 0
    assert set(map(tuple, want.to_numpy())) == set(map(tuple, have.to_numpy()))
    assert len(have) == len(want)


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_the_main_way_of_creating_value_survives_export_and_ingest(sim, fmt, tmp_path):
    # The single choice behind the reports' agreement section: the proposal finds its column
    # (by the instrument's question text, or in REDCap, whose text fields are labelled with
    # their field name, by the words "main value"), and every answer and blank comes back.
    mapping, result = _export_and_ingest(sim, fmt, tmp_path)
    report = result.report
    assert report.rows_read == report.rows_accepted + sum(report.rows_quarantined.values())
    assert report.rows_read == len(sim.data.respondents)
    targets = [(r.kind, r.target) for r in mapping.columns.values()]
    assert targets.count(("profile", "main_value_mode")) == 1

    def main_modes(respondents, ids):
        modes = pd.Series(respondents["main_value_mode"].astype(object).to_numpy(),
                          index=pd.Index(ids, name="respondent_id"), name="main_value_mode")
        return modes.where(modes.notna(), None).sort_index()

    simulated = sim.data.respondents
    want = main_modes(simulated, pseudonymise(simulated["respondent_id"].to_numpy(),
                                              secret=SECRET, programme_id=sim.programme.id))
    have = main_modes(result.data.respondents,
                      result.data.respondents["respondent_id"].astype(str).to_numpy())
    assert 0 < want.isna().sum() < len(want), "the simulated wave should have blanks and answers"
    assert have.isna().sum() == want.isna().sum()
    pd.testing.assert_series_equal(have, want)


@pytest.mark.parametrize("fmt", ["qualtrics", "surveymonkey", "redcap"])
def test_no_personal_data_reaches_the_canonical_tables(sim, fmt, tmp_path):
    path, mapping_path = write_wave_export(sim, "2025-03", fmt, tmp_path)
    options = {"dictionary": tmp_path / "2025-03-redcap-dictionary.csv"} if fmt == "redcap" else {}
    raw = read_export(path, **options)
    personal = [c.key for c in raw.columns if c.role == "personal"]
    assert personal, "the simulated export should carry personal columns"
    values = {str(v) for k in personal for v in raw.frame[k].dropna()} - {"", "anonymous"}
    result = convert_export(raw, load_mapping(mapping_path, family=sim.instrument),
                            sim.instrument, sim.programme, wave_id="2025-03", secret=SECRET,
                            min_completion=0.0)
    for table in (*result.data._tables(), result.quarantine):
        cells = {str(v) for column in table.columns for v in table[column].dropna().unique()}
        assert not cells & values
    raw_ids = set(sim.data.respondents["respondent_id"].astype(str))
    assert not raw_ids & set(result.data.respondents["respondent_id"].astype(str))
