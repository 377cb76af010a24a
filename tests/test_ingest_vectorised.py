"""The vectorised ingest (issue #17) against plain reference implementations.

Each fast path decides a distinct value once and spreads the result, or takes a shortcut
that is exact only under a condition it checks. The plain versions here do the same work one
value at a time, as the code did before; hypothesis feeds both the same awkward inputs (blank
pieces, punctuation, curly quotes, labels that contain the delimiter, mixed cell types).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_stats.ingest import textio
from collab_stats.ingest.convert import _factorize
from collab_stats.ingest.mapping import normalise_text
from collab_stats.ingest.pseudonym import PSEUDONYM_HEX_DIGITS, pseudonymise
from collab_stats.ingest.select import option_lookup, split_distinct, split_options
from collab_stats.ingest.times import parse_time_column, parse_times
from collab_stats.schema import respondent_rows

WORDS = ["p1", "p2", "Org A", "Org A Ltd", "A", "ltd", "Don’t know", "x-y", "!!", " ", "",
         "é", "e\u0301", "Ｏｒｇ", "a,b", "a;b"]


def split_reference(cell: str, options: dict[str, str], delimiter: str) -> tuple[list[str], int]:
    """Greedy longest-first matching of joined pieces, each join normalised as a whole."""
    sep = delimiter or (";" if ";" in cell else ",")
    pieces = [p for p in cell.split(sep) if p.strip()]
    chosen, unknown, k = [], 0, 0
    while k < len(pieces):
        for end in range(len(pieces), k, -1):
            norm = normalise_text(sep.join(pieces[k:end]))
            if norm in options:
                chosen.append(options[norm])
                k = end
                break
        else:
            unknown += 1
            k += 1
    return chosen, unknown


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.sampled_from(WORDS), max_size=6),
       pieces=st.lists(st.sampled_from(WORDS), max_size=8),
       delimiter=st.sampled_from(["", ";", ",", " and "]))
def test_multi_select_cells_split_as_the_plain_greedy_rule_does(labels, pieces, delimiter):
    options = option_lookup([(label, f"o{k}") for k, label in enumerate(labels)])
    cell = (delimiter or ";").join(pieces)
    assert split_options(cell, options, delimiter) == split_reference(cell, options, delimiter)


# Option labels that share first words, contain the delimiters, normalise to the same text
# or to nothing, and pieces that are none of them.
SELECT_WORDS = ["Org", "Org A", "Org A Ltd", "Org A Ltd Trust", "a, ltd", "A;Ltd", "ltd", "Trust",
                "x-y", "X Y", "p1", "P1!", "!!", " ", "", "Don’t know", "dont know", "é",
                "e\u0301", "unknown", "Org B"]


@settings(max_examples=200, deadline=None)
@given(lists=st.lists(st.lists(st.sampled_from(SELECT_WORDS), max_size=6), min_size=1,
                      max_size=3),
       cells=st.lists(st.lists(st.sampled_from(SELECT_WORDS), max_size=7), min_size=1,
                      max_size=6),
       joiners=st.lists(st.sampled_from([";", ",", "; ", ";;", ", "]), min_size=1, max_size=3),
       pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), max_size=15),
       delimiter=st.sampled_from(["", ";", ",", " and "]))
def test_distinct_cells_split_together_as_one_by_one(lists, cells, joiners, pairs, delimiter):
    """Every (cell, option list) pair split by the vectorised splitter gives what the plain
    greedy rule gives for that cell and list: the same choices in the same order (repeats
    kept), and the same number of unknown pieces."""
    lookups = [option_lookup([(label, f"o{k}") for k, label in enumerate(labels)])
               for labels in lists]
    texts = [joiners[k % len(joiners)].join(pieces).strip() for k, pieces in enumerate(cells)]
    cell_of = np.array([c % len(texts) for c, _ in pairs], dtype=np.int64)
    lookup_of = np.array([k % len(lookups) for _, k in pairs], dtype=np.int64)
    splits = split_distinct(texts, lookups, cell_of, lookup_of, delimiter)
    expected = [split_reference(texts[c], lookups[k], delimiter)
                for c, k in zip(cell_of.tolist(), lookup_of.tolist(), strict=True)]
    assert splits.n_chosen.tolist() == [len(chosen) for chosen, _ in expected]
    assert splits.n_unknown.tolist() == [unknown for _, unknown in expected]
    assert splits.chosen.tolist() == [o for chosen, _ in expected for o in chosen]


def test_distinct_cells_split_together_on_chosen_cases():
    lookups = [option_lookup([("Org A", "a"), ("Org A Ltd", "al"), ("Org A, Ltd Trust", "alt"),
                              ("p1", "p1")]),
               option_lookup([("Org", "o"), ("p1", "q1"), ("A", "x")])]
    texts = ["Org A;Org A Ltd;p1", "Org A, Ltd, Trust, p1", "p1;p1;nobody; ;!!", "", "Org;A"]
    cell_of = np.array([0, 0, 1, 1, 2, 2, 3, 4, 4])
    lookup_of = np.array([0, 1, 0, 1, 0, 1, 0, 0, 1])
    splits = split_distinct(texts, lookups, cell_of, lookup_of, "")
    # "Org A" begins "Org A Ltd" in the first list, so pieces are joined there; the second
    # list has options of one word only; "!!" normalises to nothing; " " is no piece.
    assert splits.n_chosen.tolist() == [3, 1, 2, 1, 2, 2, 0, 1, 2]
    assert splits.n_unknown.tolist() == [0, 2, 0, 3, 2, 2, 0, 0, 0]
    assert splits.chosen.tolist() == ["a", "al", "p1", "q1", "alt", "p1", "q1", "p1", "p1",
                                      "q1", "q1", "a", "o", "x"]
    assert [split_options(texts[c], lookups[k], "")
            for c, k in zip(cell_of.tolist(), lookup_of.tolist(), strict=True)] == [
        (["a", "al", "p1"], 0), (["q1"], 2), (["alt", "p1"], 0), (["q1"], 3),
        (["p1", "p1"], 2), (["q1", "q1"], 2), ([], 0), (["a"], 0), (["o", "x"], 0)]


def test_distinct_cells_keep_types_apart():
    codes, uniques, texts = _factorize(pd.Series([1, 1.0, True, "1", None, 1, -0.0, 0.0],
                                                 dtype=object))
    assert [type(u).__name__ for u in uniques] == ["int", "float", "bool", "str", "NoneType",
                                                   "float", "float"]
    assert codes.tolist() == [0, 1, 2, 3, 4, 0, 5, 6]
    assert not texts
    codes, uniques, texts = _factorize(pd.Series(["b", None, "a", "b"], dtype=object))
    assert (codes.tolist(), uniques, texts) == ([0, -1, 1, 0], ["b", "a"], True)


def fast_rows_reference(text: str, delimiter: str, header_width: int):
    """The C-parser path cell by cell: every cell read as text, "" as None, rows whose cells
    are all blank left out."""
    if "\r" in text.replace("\r\n", "") or "\n\n" in text or "\n\r\n" in text:
        return None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=object,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False,
                            engine="c", quotechar='"', doublequote=True)
    except (ValueError, pd.errors.ParserError, csv.Error):
        return None
    if len(frame) != lines:
        return None
    rows, numbers = [], []
    for number, row in enumerate(frame.to_numpy(dtype=object).tolist(), start=1):
        if "".join(row).strip():
            rows.append([c or None for c in row])
            numbers.append(number)
    if not rows:
        return None
    truncated = ()
    if len(rows) > 1 and not text.endswith("\n") and textio._cut_short(
            text[text.rfind("\n") + 1:], header_width, delimiter):
        truncated = (numbers[-1],)
    return rows, numbers, truncated


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(["a", "b c", " ", '"', '""', '"x,y"', ",", ";", "\t",
                                       "\n", "\r\n", "\u00a0", "é", '"\u00a0"']),
                      max_size=30),
       header=st.booleans())
def test_the_c_parser_path_reads_cells_as_the_cell_by_cell_version(parts, header):
    text = ("h1,h2,h3\n" if header else "") + "".join(parts)
    for delimiter in (",", ";"):
        fast = textio._fast_rows(text, delimiter, "utf-8", header_width=3)
        expected = fast_rows_reference(text, delimiter, 3)
        if expected is None:
            assert fast is None
        else:
            assert (list(fast), fast.line_numbers, fast.truncated_rows) == expected
            assert fast.table.tolist() == list(fast)


def test_a_header_longer_than_the_first_slice_is_read_whole():
    header = ",".join(f"column {k} {'x' * 40}" for k in range(1500))  # over 64 KiB
    data = f"\n{header}\r\n1,2\n".encode()
    rows = textio.read_csv_rows("export.csv", data=data)
    assert len(rows[0]) == 1500 and rows.line_numbers == [2, 3]


TIMES = ["2024-03-04 09:06:31", "2024-03-04T09:06:31.5+01:00", "2024-03-04T09:06:31-05:00",
         "03/04/2024 09:06:31 AM", "27/09/2024 11:08", "2024-03-31 01:30:00",
         "2024-10-27 01:30:00", "[not completed]", "yesterday", "31/31/2024", "", "  ", None]


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.sampled_from(TIMES), max_size=12),
       order=st.sampled_from([None, "MDY", "DMY"]))
def test_a_column_of_times_holds_what_parse_times_reads(cells, order):
    one = parse_times(cells, date_order=order, timezone="Europe/London")
    column = parse_time_column(cells, date_order=order, timezone="Europe/London")
    assert (column.unreadable, column.markers, column.adjusted) == (
        one.unreadable, one.markers, one.adjusted)
    assert [None if pd.isna(t) else t for t in column.times] == one.times


def test_each_distinct_id_is_hashed_as_one_id_would_be():
    key = bytes(range(32))
    ids = ["R_1", " R_1 ", "a@example.org", "R_2", "R_1"]
    expected = ["p" + hmac.new(key, b"demo\x1f" + i.strip().encode(), hashlib.sha256)
                .hexdigest()[:PSEUDONYM_HEX_DIGITS] for i in ids]
    assert pseudonymise(ids, secret=key, programme_id="demo").tolist() == expected
    with pytest.raises(textio.ParameterError, match="id number 2 is ' '"):
        pseudonymise(["a", "b", " "], secret=key, programme_id="demo")


@pytest.mark.parametrize("key_bytes", [16, 32, 63, 64, 65, 100])
def test_pseudonyms_are_the_hmac_of_each_id_for_keys_of_any_length(key_bytes):
    """The keyed pads are hashed once for all ids; every key length (a key longer than
    SHA-256's 64-byte block is hashed first) gives hmac.new's digest."""
    key = bytes(range(7, 7 + key_bytes))
    texts = ["R_1", "a@example.org", "é ü", "x" * 200, "1"]
    expected = ["p" + hmac.new(key, b"prog\x1f" + t.encode(), hashlib.sha256)
                .hexdigest()[:PSEUDONYM_HEX_DIGITS] for t in texts]
    assert pseudonymise(texts, secret=key, programme_id="prog").tolist() == expected
    # Ids that are not all text (numbers) go the general way, to the same pseudonyms.
    assert pseudonymise([*texts[:4], 1], secret=key, programme_id="prog").tolist() == expected


@pytest.mark.parametrize("seed", range(5))
def test_respondent_rows_from_codes_match_the_general_lookup(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    people = [f"r{k}" for k in range(40)]
    respondents = pd.DataFrame({
        "wave_id": pd.Categorical(rng.choice(["w1", "w2"], 30)),
        "respondent_id": pd.Categorical(rng.choice(people[:35], 30)),
    })
    responses = pd.DataFrame({
        "wave_id": pd.Categorical(rng.choice(["w1", "w2", "w3"], 200)),
        "respondent_id": pd.Categorical(rng.choice(people, 200)),
    })
    fast = respondent_rows(responses, respondents)
    monkeypatch.setattr("collab_stats.schema._respondent_rows_by_codes", lambda *a: None)
    assert fast.tolist() == respondent_rows(responses, respondents).tolist()
