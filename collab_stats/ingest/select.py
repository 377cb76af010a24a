"""Splitting one-column multi-select cells into option ids.

A multi-select question exported as one column holds the chosen options of a row in one
cell, separated by a delimiter (``"Org A;Org B Ltd"``). Which texts are options depends on
the row's collaboration (the ``network`` question offers that collaboration's partners), so
a cell is split against one *option list* (:func:`option_lookup`: normalised label or id ->
option id).

The rule (:func:`split_options`): from the first piece between delimiters on, the longest
run of pieces whose joined text, normalised, is an option is chosen, and matching goes on
after it; a piece that begins no option is counted unknown. Joining pieces lets labels that
contain the delimiter (``"Org A, Ltd"`` in a comma-separated cell) still match.

:func:`split_distinct` applies the rule to every distinct (cell, option list) pair of a
column at once: pieces are cut from each distinct cell once, each distinct piece is
normalised once and looked up once per option list, and only the pairs where a join could
matter (a piece that begins an option of several words, or a piece that normalises to
nothing) go through the greedy matcher one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import pandas as pd

from .mapping import normalise_text

__all__ = ["OptionIndex", "Splits", "option_lookup", "split_distinct", "split_options"]

# Delimiters that normalise_text folds into a space and that never combine with a
# neighbouring character under NFKC.
_PLAIN_SEPARATORS = frozenset(";,|/\t ")


def option_lookup(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Normalised label or id -> option id (a label that normalises to nothing is left out;
    a later pair overrides an earlier one of the same normalised text)."""
    out: dict[str, str] = {}
    for label, oid in pairs:
        norm = normalise_text(label)
        if norm:
            out[norm] = oid
    return out


@dataclass(frozen=True)
class OptionIndex:
    """What splitting multi-select cells needs to know of one set of options: the most
    words of an option, and every text of whole words that begins an option of several
    words (only a piece that is one of them can start a match of several pieces)."""

    most_words: int
    prefixes: frozenset[str]

    @classmethod
    def of(cls, options: Mapping[str, str]) -> OptionIndex:
        words = [key.split() for key in options]
        return cls(max(map(len, words), default=0),
                   frozenset(" ".join(w[:i]) for w in words for i in range(1, len(w))))


def _separator(cell: str, delimiter: str) -> str:
    """The delimiter of a cell: the given one, else ``;`` when the cell has one, else ``,``."""
    return delimiter or (";" if ";" in cell else ",")


def _pieces(cell: str, sep: str) -> list[str]:
    """The non-blank pieces of a cell between delimiters."""
    return [p for p in cell.split(sep) if p.strip()]


def split_options(cell: str, options: Mapping[str, str], delimiter: str, *,
                  index: OptionIndex | None = None) -> tuple[list[str], int]:
    """Option ids named in one multi-select cell, and the number of unknown pieces (see the
    module documentation).

    ``delimiter``: "" for ``;`` when the cell has one, else ``,``. ``index``:
    :meth:`OptionIndex.of` the options (computed when not given). This is the rule for one
    cell; :func:`split_distinct` does the same for many cells at once.
    """
    sep = _separator(cell, delimiter)
    pieces = _pieces(cell, sep)
    if set(sep) <= _PLAIN_SEPARATORS:
        return _split_plain([normalise_text(p) for p in pieces], options,
                            index or OptionIndex.of(options))
    return _greedy(len(pieces), options, lambda k: len(pieces),
                   lambda k, end: normalise_text(sep.join(pieces[k:end])))


def _greedy(n: int, options: Mapping[str, str], last: Callable[[int], int],
            joined: Callable[[int, int], str]) -> tuple[list[str], int]:
    """From piece 0 on: the longest join of pieces ``k:end`` (``end`` from ``last(k)`` down)
    whose normalised text ``joined(k, end)`` is an option is chosen and matching goes on
    after it; a piece that begins no option is counted unknown."""
    chosen, unknown, k = [], 0, 0
    while k < n:
        for end in range(last(k), k, -1):
            norm = joined(k, end)
            if norm in options:
                chosen.append(options[norm])
                k = end
                break
        else:
            unknown += 1
            k += 1
    return chosen, unknown


def _split_plain(norms: list[str], options: Mapping[str, str], index: OptionIndex
                 ) -> tuple[list[str], int]:
    """:func:`split_options` for a delimiter of plain separators (``;``, ``,`` ...), which
    normalise_text folds into a space, given each piece's normalised text (``norms``): the
    normalised text of joined pieces is then that of the pieces joined by a space; joins of
    more words than the longest option are not tried, nor joins at all when no piece can
    begin one."""
    if all(norms) and index.prefixes.isdisjoint(norms):  # each piece stands alone
        chosen = [options[x] for x in norms if x in options]
        return chosen, len(norms) - len(chosen)
    # words[e]: words of the first e pieces (a normalised text has single spaces).
    words = list(accumulate((x.count(" ") + 1 if x else 0 for x in norms), initial=0))
    return _greedy(len(norms), options,
                   lambda k: bisect_right(words, words[k] + index.most_words) - 1,
                   lambda k, end: " ".join(x for x in norms[k:end] if x))


@dataclass(frozen=True)
class Splits:
    """The split of each distinct (cell, option list) pair (see :func:`split_distinct`).

    Attributes
    ----------
    chosen : ndarray of object
        The option ids chosen, pair after pair, each pair's in the order of its cell.
    n_chosen, n_unknown : ndarray of int64
        Per pair: how many of ``chosen`` are its, and how many of its pieces are unknown.
    """

    chosen: np.ndarray
    n_chosen: np.ndarray
    n_unknown: np.ndarray


def split_distinct(cells: Sequence[str], lookups: Sequence[Mapping[str, str]],
                   cell_of: np.ndarray, lookup_of: np.ndarray, delimiter: str) -> Splits:
    """:func:`split_options` of many (cell, option list) pairs at once.

    Parameters
    ----------
    cells : sequence of str
        The distinct cell texts (stripped).
    lookups : sequence of mappings
        The distinct option lists (:func:`option_lookup`).
    cell_of, lookup_of : ndarray of int
        Per pair: its cell (into ``cells``) and its option list (into ``lookups``).
    delimiter : str
        As for :func:`split_options`.

    Notes
    -----
    With a delimiter of plain separators (always the case with ``""``), a piece stands
    alone unless it normalises to nothing or begins an option of several words of the
    pair's list; a pair none of whose pieces does is split by looking each piece up, all
    pairs together. The other pairs, and every pair of a delimiter that is not plain
    (``" and "``: its normalised joins are not those of the pieces), are the general case:
    :func:`split_options` one pair at a time.
    """
    cell_of = np.asarray(cell_of, dtype=np.int64)
    lookup_of = np.asarray(lookup_of, dtype=np.int64)
    n_pairs = len(cell_of)
    seps = [_separator(c, delimiter) for c in cells]
    if not all(set(s) <= _PLAIN_SEPARATORS for s in seps):
        return _one_by_one(cells, lookups, cell_of, lookup_of, delimiter)
    # Pieces of each distinct cell, cut once; each distinct piece normalised once.
    flat, cell_of_piece = _all_pieces(cells, seps)
    piece_code, distinct = pd.factorize(flat)
    texts = [normalise_text(p) if p.strip() else None for p in distinct]
    kept = np.array([t is not None for t in texts] + [False], dtype=bool)[piece_code]
    piece_code, cell_of_piece = piece_code[kept], cell_of_piece[kept]
    n_pieces = np.bincount(cell_of_piece, minlength=len(cells)).astype(np.int64)
    piece_start = (np.cumsum(n_pieces) - n_pieces).astype(np.int64)
    norm_code, norms = pd.factorize(np.array(["" if t is None else t for t in texts],
                                             dtype=object))
    norms = list(norms)
    # Every piece of every pair: its normalised text and the pair's option list.
    count = n_pieces[cell_of]
    pair_of = np.repeat(np.arange(n_pairs), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    piece = np.repeat(piece_start[cell_of], count) + within
    norm = norm_code[piece_code[piece]] if len(piece) else np.zeros(0, np.int64)
    listed = lookup_of[pair_of]
    # Each distinct (option list, normalised piece) looked up once.
    combo, combos = pd.factorize(listed * max(len(norms), 1) + norm)
    indexes: dict[int, OptionIndex] = {}
    found, begins = [], []
    for key in np.asarray(combos).tolist():
        lookup_k, norm_k = divmod(key, max(len(norms), 1))
        text, options = norms[norm_k], lookups[lookup_k]
        found.append(options.get(text))
        if lookup_k not in indexes:
            indexes[lookup_k] = OptionIndex.of(options)
        begins.append(not text or text in indexes[lookup_k].prefixes)
    found_of = np.array(found + [None], dtype=object)[combo]
    general = np.zeros(n_pairs, dtype=bool)
    general[pair_of[np.array(begins + [False], dtype=bool)[combo]]] = True
    # Pairs whose pieces stand alone: the pieces that are options, in order.
    take = ~general[pair_of] & (found_of != None)  # noqa: E711
    n_chosen = np.bincount(pair_of[take], minlength=n_pairs)
    n_unknown = np.where(general, 0, count - n_chosen)
    parts_pair, parts_chosen = [pair_of[take]], [found_of[take]]
    # The general case, one pair at a time (each with a piece in ``indexes``).
    for p in np.flatnonzero(general).tolist():
        k = int(lookup_of[p])
        start = piece_start[cell_of[p]]
        pieces_norms = [norms[norm_code[piece_code[start + j]]] for j in range(count[p])]
        chosen, unknown = _split_plain(pieces_norms, lookups[k], indexes[k])
        parts_pair.append(np.full(len(chosen), p, dtype=np.int64))
        parts_chosen.append(np.array(chosen, dtype=object))
        n_chosen[p], n_unknown[p] = len(chosen), unknown
    pairs = np.concatenate(parts_pair)
    order = np.argsort(pairs, kind="stable")
    return Splits(np.concatenate(parts_chosen)[order] if len(order) else np.zeros(0, object),
                  n_chosen.astype(np.int64), n_unknown.astype(np.int64))


def _all_pieces(cells: Sequence[str], seps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every piece between delimiters of every cell (blank ones included), cell after cell,
    and the cell of each: the cells of one delimiter are joined by it and split once
    (``cell.split(sep)`` has ``cell.count(sep) + 1`` pieces)."""
    pieces, owners = [np.zeros(0, dtype=object)], [np.zeros(0, dtype=np.int64)]
    for sep in dict.fromkeys(seps):
        which = [k for k, s in enumerate(seps) if s == sep]
        group = [cells[k] for k in which]
        counts = np.array([c.count(sep) + 1 for c in group], dtype=np.int64)
        pieces.append(np.array(sep.join(group).split(sep), dtype=object))
        owners.append(np.repeat(np.array(which, dtype=np.int64), counts))
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")  # cell after cell, each cell's in order
    return np.concatenate(pieces)[order], owner[order]


def _one_by_one(cells: Sequence[str], lookups: Sequence[Mapping[str, str]],
                cell_of: np.ndarray, lookup_of: np.ndarray, delimiter: str) -> Splits:
    """:func:`split_distinct` by :func:`split_options` for each pair."""
    indexes: dict[int, OptionIndex] = {}
    chosen, n_chosen, n_unknown = [], [], []
    for c, k in zip(cell_of.tolist(), lookup_of.tolist(), strict=True):
        if k not in indexes:
            indexes[k] = OptionIndex.of(lookups[k])
        got, unknown = split_options(cells[c], lookups[k], delimiter, index=indexes[k])
        chosen.extend(got)
        n_chosen.append(len(got))
        n_unknown.append(unknown)
    return Splits(np.array(chosen, dtype=object), np.array(n_chosen, dtype=np.int64),
                  np.array(n_unknown, dtype=np.int64))
