"""Malformed exports: whatever the bytes, ingest raises only collab-stats errors, and every row
it reads is either accepted or quarantined.

The base file is a real-layout Qualtrics export of a small simulated wave; hypothesis damages
it (random bytes, truncation, huge fields, other encodings, stray delimiters and quotes).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_stats import simulate_programme
from collab_stats.errors import CollabStatsError
from collab_stats.ingest.convert import convert_export
from collab_stats.ingest.detect import read_export
from collab_stats.ingest.mapping import load_mapping
from collab_stats.ingest.simulated import write_wave_export

FOLDER = Path(tempfile.mkdtemp(prefix="collab-fuzz-"))
SIM = simulate_programme(seed=2, n_collaborations=1, n_waves=1)
BASE, MAPPING_PATH = write_wave_export(SIM, "2025-03", "qualtrics", FOLDER)
BASE_BYTES = BASE.read_bytes()
MAPPING = load_mapping(MAPPING_PATH, family=SIM.instrument)


def damage(data: bytes, how: str, position: float, payload: bytes) -> bytes:
    cut = int(position * len(data))
    if how == "truncate":
        return data[:cut]
    if how == "insert":
        return data[:cut] + payload + data[cut:]
    if how == "overwrite":
        return data[:cut] + payload + data[cut + len(payload):]
    if how == "huge_field":
        return data[:cut] + b'"' + b"x" * 200_000 + b'"' + data[cut:]
    if how == "cp1252":
        return data.decode("utf-8-sig").encode("cp1252", errors="replace")
    if how == "utf16":
        return data.decode("utf-8-sig").encode("utf-16")
    return payload  # "random": nothing of the original left


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    how=st.sampled_from(["truncate", "insert", "overwrite", "huge_field", "cp1252", "utf16",
                         "random"]),
    position=st.floats(0, 1),
    payload=st.one_of(st.binary(max_size=64),
                      st.sampled_from([b",", b'"', b"\r\n", b'","', b"\x00", b"\xff\xfe",
                                       b"-7", b"99", b"{\"ImportId\":"])),
)
def test_damaged_exports_fail_cleanly_or_conserve_rows(how, position, payload):
    path = FOLDER / "damaged.csv"
    path.write_bytes(damage(BASE_BYTES, how, position, payload))
    try:
        raw = read_export(path)
        result = convert_export(raw, MAPPING, SIM.instrument, SIM.programme, wave_id="2025-03",
                                secret=b"k" * 32)
    except CollabStatsError as error:
        assert str(error)  # a message a user can act on, never an empty one
        return
    report = result.report
    assert report.rows_read == raw.n_rows
    assert report.rows_read == report.rows_accepted + sum(report.rows_quarantined.values())
    assert len(result.data.respondents) == report.rows_accepted


def test_the_undamaged_base_file_is_accepted():
    raw = read_export(BASE)
    result = convert_export(raw, MAPPING, SIM.instrument, SIM.programme, wave_id="2025-03",
                            secret=b"k" * 32)
    assert result.report.rows_read == len(SIM.data.respondents) > 0
    with pytest.raises(CollabStatsError):
        read_export(FOLDER / "no-such-file.csv")
