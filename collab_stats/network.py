"""Connections across silos: the network of partner organisations in each collaboration.

The survey's ``network`` question asks each respondent which of the collaboration's partner
organisations they worked with in the last six months (one row of ``selections`` per
organisation named, ``option_id`` = its partner id). Each nomination is a tie from the
respondent's own organisation (``respondents.partner_id``) to the organisation named, so the
answers of one wave and collaboration give an organisation-level network:

* the **directed** network: organisation A -> B when at least one respondent from A named B,
  weighted by the number of such respondents;
* the **undirected** network: A - B when either named the other, weighted by the number of
  respondents naming the tie in either direction. Organisations without respondents can still
  be named, so the undirected network is the one the measures use.

Nodes are *every partner the programme lists* for the collaboration, including those nobody
named and those with no respondents; sectors are the programme's sectors of the partners.

Data rules
----------
* A respondent's nomination of their own organisation is not a tie between organisations: it
  is left out and counted (``n_self_nominations``).
* Nominations by respondents whose organisation is not known (``partner_id`` missing) cannot be
  placed: they are left out and counted (``n_nominations_unplaced``).
* A respondent naming the same organisation twice counts once.
* Naming an organisation that is not a partner of the collaboration, or a respondent whose
  organisation is not a partner, is an error in the data (:class:`DataSchemaError`).
* An empty answer cannot be told apart from an unanswered question, so a wave x collaboration
  in which no respondent named any partner has no network: its measures are NaN with a
  reason, not zeros.

Rows of the tables are the waves x collaborations with at least one respondent, in the
programme's order. Everything is computed for all of them at once from grouped counts;
:func:`network_graph` gives the same network as a :mod:`networkx` graph, for drawing and
checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._cells import wave_collaboration_cells
from .errors import AnalysisError, DataSchemaError, ParameterError, Problem, ProgrammeError
from .programme import Programme
from .schema import SurveyData, respondent_rows

__all__ = [
    "network_edges",
    "network_graph",
    "network_measures",
    "sector_tie_matrix",
    "sector_ties",
]


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Partners:
    """Every listed partner, grouped by collaboration (programme order)."""

    ids: np.ndarray  # partner id of each partner index
    sector: np.ndarray  # sector id of each partner index
    collaboration: np.ndarray  # collaboration index of each partner index
    local: np.ndarray  # position of the partner within its collaboration
    start: np.ndarray  # first partner index of each collaboration
    count: np.ndarray  # partners of each collaboration


def _partners(programme: Programme) -> _Partners:
    ids, sector, coll, local = [], [], [], []
    count = []
    for k, col in enumerate(programme.collaborations):
        for j, p in enumerate(col.partners):
            ids.append(p.id)
            sector.append(p.sector)
            coll.append(k)
            local.append(j)
        count.append(len(col.partners))
    dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique().tolist()
    if dup:
        raise ProgrammeError(programme.id, [Problem(
            "collaborations", f"partner ids must be unique in the programme; repeated: {dup[:10]}")])
    count_arr = np.array(count, dtype=np.int64)
    return _Partners(
        ids=np.array(ids, dtype=object), sector=np.array(sector, dtype=object),
        collaboration=np.array(coll, dtype=np.int64), local=np.array(local, dtype=np.int64),
        start=np.concatenate([[0], np.cumsum(count_arr)[:-1]]).astype(np.int64)
        if len(count_arr) else count_arr,
        count=count_arr,
    )


def _check_inputs(data: Any, programme: Any) -> None:
    if not isinstance(data, SurveyData):
        raise ParameterError(f"data must be a SurveyData; got {type(data).__name__}")
    if not isinstance(programme, Programme):
        raise ParameterError(f"programme must be a Programme; got {type(programme).__name__}")


@dataclass(frozen=True)
class _Network:
    cells: pd.DataFrame
    collab_of_cell: np.ndarray
    partners: _Partners
    org_of_respondent: np.ndarray  # partner index, -1 when unknown
    cell_of_respondent: np.ndarray
    directed: pd.DataFrame  # cell, source, target, weight (partner indices)
    undirected: pd.DataFrame  # cell, source, target (source < target), weight, reciprocated
    naming: np.ndarray  # respondents per cell who named at least one other partner
    nominations: np.ndarray  # nominations used per cell
    unplaced: np.ndarray  # nominations by respondents of unknown organisation, per cell
    self_nominations: np.ndarray  # respondents naming their own organisation, per cell


def _network(data: SurveyData, programme: Programme) -> _Network:
    resp = data.respondents
    cells, cell_of, collab_of_cell = wave_collaboration_cells(resp, programme)
    partners = _partners(programme)
    n_cells = len(cells)
    index = pd.Index(partners.ids)

    org_raw = resp["partner_id"].astype(object)
    org = np.where(org_raw.notna(), index.get_indexer(org_raw.where(org_raw.notna(), None)), -1)
    coll_of_resp = collab_of_cell[cell_of]
    wrong = (org >= 0) & (partners.collaboration[np.maximum(org, 0)] != coll_of_resp)
    wrong |= org_raw.notna().to_numpy() & (org < 0)
    if wrong.any():
        k = int(np.flatnonzero(wrong)[0])
        raise DataSchemaError("survey data", [Problem(
            "respondents.partner_id", f"{int(wrong.sum())} respondents belong to an organisation "
            f"that is not a partner of their collaboration, e.g. {org_raw.iloc[k]!r} in "
            f"{cells['collaboration_id'].iloc[cell_of[k]]!r}")])

    sel = data.selections[data.selections["question_id"].astype(object) == "network"]
    row = respondent_rows(sel, resp)
    if (row < 0).any():
        raise DataSchemaError("survey data", [Problem(
            "selections", f"{int((row < 0).sum())} network rows belong to no respondent")])
    named_raw = sel["option_id"].astype(object)
    target = index.get_indexer(named_raw.where(named_raw.notna(), None))
    bad = (target < 0) | (partners.collaboration[np.maximum(target, 0)] != coll_of_resp[row])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataSchemaError("survey data", [Problem(
            "selections.option_id (network)", f"{int(bad.sum())} nominations name an "
            f"organisation that is not a partner of the collaboration, e.g. "
            f"{named_raw.iloc[k]!r} in {cells['collaboration_id'].iloc[cell_of[row[k]]]!r}")])
    # Each respondent names an organisation once.
    first = ~pd.Index(row * max(len(partners.ids), 1) + target).duplicated()
    row, target = row[first], target[first]
    source = org[row]
    cell = cell_of[row]
    unplaced = np.bincount(cell[source < 0], minlength=n_cells)
    is_self = source == target
    self_nominations = np.bincount(cell[is_self], minlength=n_cells)
    use = (source >= 0) & ~is_self
    row, source, target, cell = row[use], source[use], target[use], cell[use]
    naming = np.bincount(cell_of[np.unique(row)], minlength=n_cells)
    nominations = np.bincount(cell, minlength=n_cells)

    directed = (pd.DataFrame({"cell": cell, "source": source, "target": target})
                .groupby(["cell", "source", "target"], sort=True).size()
                .rename("weight").reset_index())
    a = np.minimum(directed["source"].to_numpy(), directed["target"].to_numpy())
    b = np.maximum(directed["source"].to_numpy(), directed["target"].to_numpy())
    undirected = (pd.DataFrame({"cell": directed["cell"].to_numpy(), "source": a, "target": b,
                                "weight": directed["weight"].to_numpy()})
                  .groupby(["cell", "source", "target"], sort=True)
                  .agg(weight=("weight", "sum"), directions=("weight", "size")).reset_index())
    undirected["reciprocated"] = undirected.pop("directions").to_numpy() == 2
    reverse = pd.MultiIndex.from_arrays([directed["cell"], directed["target"], directed["source"]])
    forward = pd.MultiIndex.from_arrays([directed["cell"], directed["source"], directed["target"]])
    directed["reciprocated"] = reverse.isin(forward)
    return _Network(cells=cells, collab_of_cell=collab_of_cell, partners=partners,
                    org_of_respondent=org, cell_of_respondent=cell_of, directed=directed,
                    undirected=undirected, naming=naming, nominations=nominations,
                    unplaced=unplaced, self_nominations=self_nominations)


# --- the measures -----------------------------------------------------------------------------


def network_measures(data: SurveyData, programme: Programme) -> pd.DataFrame:
    """Connections across organisations and sectors in each collaboration, per wave.

    Parameters
    ----------
    data : SurveyData
        Survey answers; ``respondents.partner_id`` and the ``network`` rows of ``selections``
        are used.
    programme : Programme
        Lists each collaboration's partner organisations and their sectors.

    Returns
    -------
    DataFrame
        One row per wave x collaboration with respondents:

        ``wave_id``, ``collaboration_id``
        ``n_organisations`` - partners the programme lists (the nodes, ``n``);
        ``n_organisations_with_respondents`` - partners with at least one respondent;
        ``n_respondents`` - respondents of the collaboration in the wave;
        ``n_respondents_naming`` - respondents of known organisation who named another partner;
        ``n_nominations`` - nominations used (respondent x organisation named);
        ``n_nominations_unplaced``, ``n_self_nominations`` - nominations left out (see the
        module documentation);
        ``n_ties`` - ties of the undirected network (``T``);
        ``n_possible_ties`` - ``n (n - 1) / 2``;
        ``density`` - ``T / (n (n - 1) / 2)``;
        ``n_cross_sector_ties`` - ties between organisations of different sectors (``E``; the
        others, ``I = T - E``, are within a sector);
        ``cross_sector_share`` - ``E / T``;
        ``cross_sector_share_expected`` - the share of all pairs of listed partners that cross
        sectors: ``cross_sector_share`` if ties ignored sector;
        ``ei_index`` - Krackhardt & Stern's ``(E - I) / (E + I)``, from -1 (every tie within a
        sector) to +1 (every tie across sectors);
        ``ei_index_expected`` - the E-I index of the complete network of listed partners
        (``2 * cross_sector_share_expected - 1``), the value if ties ignored sector;
        ``max_degree``, ``centralisation`` - Freeman degree centralisation (see Notes);
        ``n_isolates``, ``isolates`` - listed partners with no tie, and their ids (a tuple, in
        the programme's order);
        ``reason`` - why figures are missing, else empty.

    Notes
    -----
    The measures use the undirected network over *all* listed partners (``n`` nodes), with
    ``d_i`` the degree of partner ``i``:

    * density ``T / (n (n - 1) / 2)`` (``networkx.density``). Partners without respondents can
      only be named, never name, so with incomplete response the density is a lower bound on
      the density of the whole network;
    * Freeman (1979) degree centralisation
      ``sum_i (max_j d_j - d_i) / ((n - 1)(n - 2))``: 1 for a star, 0 when every partner has the
      same degree (e.g. a complete network); it needs ``n >= 3``;
    * E-I index (Krackhardt & Stern 1988) ``(E - I) / (E + I)`` over the ties, with sector as
      the boundary; compare it with ``ei_index_expected``, its value when ties ignore sector
      (the E-I index depends on the sizes of the sectors).

    Ties are unweighted here (a tie named by several respondents counts once); the weights are
    in :func:`network_edges`. When no respondent named a partner, only the counts of
    organisations, respondents and nominations and the ``*_expected`` columns (which depend on
    the listed partners alone) are given; the rest is missing. ``density`` and the expected
    shares need two listed partners, ``centralisation`` three.

    References
    ----------
    Freeman, L. C. (1979). Centrality in social networks: conceptual clarification. Social
    Networks 1, 215-239. doi:10.1016/0378-8733(78)90021-7

    Krackhardt, D., & Stern, R. N. (1988). Informal networks and organizational crises: an
    experimental simulation. Social Psychology Quarterly 51, 123-140. doi:10.2307/2786835

    Examples
    --------
    The equivalent R calls (packages ``igraph`` and ``netseg``) for one wave and collaboration,
    with ``g`` the undirected graph and vertex attribute ``sector``::

        igraph::edge_density(g)
        igraph::centr_degree(g, loops = FALSE)$centralization
        netseg::ei(g, "sector")

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> table = network_measures(sim.data, sim.programme)
    >>> bool(table["density"].between(0, 1).all())
    True
    """
    _check_inputs(data, programme)
    net = _network(data, programme)
    cells, p = net.cells, net.partners
    n_cells = len(cells)
    n = p.count[net.collab_of_cell]
    und = net.undirected
    e_cell = und["cell"].to_numpy()
    e_a, e_b = und["source"].to_numpy(), und["target"].to_numpy()
    n_ties = np.bincount(e_cell, minlength=n_cells)
    cross = p.sector[e_a] != p.sector[e_b]
    n_cross = np.bincount(e_cell[cross], minlength=n_cells)

    # Degrees of every listed partner in every cell (nodes laid out cell by cell).
    node_start = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64) if n_cells else n
    n_nodes = int(n.sum())
    deg = (np.bincount(node_start[e_cell] + p.local[e_a], minlength=n_nodes)
           + np.bincount(node_start[e_cell] + p.local[e_b], minlength=n_nodes))
    node_cell = np.repeat(np.arange(n_cells), n)
    node_partner = p.start[net.collab_of_cell][node_cell] + (
        np.arange(n_nodes) - node_start[node_cell])
    max_deg = np.zeros(n_cells, dtype=np.int64)
    np.maximum.at(max_deg, node_cell, deg)
    isolated = deg == 0
    n_isolates = np.bincount(node_cell[isolated], minlength=n_cells)
    isolate_ids = pd.Series(p.ids[node_partner[isolated]]).groupby(node_cell[isolated]).agg(tuple)
    isolates = isolate_ids.reindex(range(n_cells)).to_numpy()

    # Pairs of listed partners within a sector: sum over sectors of s (s - 1) / 2.
    sizes = pd.DataFrame({"c": p.collaboration, "s": p.sector}).groupby(["c", "s"]).size()
    within_pairs = ((sizes * (sizes - 1) / 2).groupby(level="c").sum()
                    .reindex(range(len(p.count)), fill_value=0).to_numpy())[net.collab_of_cell]
    possible = n * (n - 1) / 2

    org = net.org_of_respondent
    known = org >= 0
    with_resp = np.bincount(np.unique(net.cell_of_respondent[known] * max(len(p.ids), 1)
                                      + org[known]) // max(len(p.ids), 1), minlength=n_cells)
    has = net.nominations > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(has & (n >= 2), n_ties / np.where(possible > 0, possible, 1), np.nan)
        share = np.where(has, n_cross / np.where(n_ties > 0, n_ties, 1), np.nan)
        share_expected = np.where(n >= 2, 1 - within_pairs / np.where(possible > 0, possible, 1),
                                  np.nan)
        central = np.where(has & (n >= 3),
                           (n * max_deg - 2 * n_ties) / np.where(n >= 3, (n - 1) * (n - 2), 1),
                           np.nan)

    def masked_int(values: np.ndarray) -> pd.arrays.IntegerArray:
        out = pd.array(values.astype(np.int64), dtype="Int64")
        out[~has] = pd.NA
        return out

    reasons = []
    for k in range(n_cells):
        why = []
        if not has[k]:
            why.append("no respondent of known organisation named a partner organisation (an "
                       "unanswered network question and naming no one cannot be told apart)")
        if n[k] < 2:
            why.append("fewer than 2 partner organisations are listed")
        elif n[k] < 3 and has[k]:
            why.append("centralisation needs at least 3 partner organisations")
        reasons.append("; ".join(why))
    return pd.DataFrame({
        "wave_id": cells["wave_id"].to_numpy(),
        "collaboration_id": cells["collaboration_id"].to_numpy(),
        "n_organisations": n,
        "n_organisations_with_respondents": with_resp,
        "n_respondents": np.bincount(net.cell_of_respondent, minlength=n_cells),
        "n_respondents_naming": net.naming,
        "n_nominations": net.nominations,
        "n_nominations_unplaced": net.unplaced,
        "n_self_nominations": net.self_nominations,
        "n_ties": masked_int(n_ties),
        "n_possible_ties": (n * (n - 1) // 2).astype(np.int64),
        "density": density,
        "n_cross_sector_ties": masked_int(n_cross),
        "cross_sector_share": share,
        "cross_sector_share_expected": share_expected,
        "ei_index": 2 * share - 1,
        "ei_index_expected": 2 * share_expected - 1,
        "max_degree": masked_int(max_deg),
        "centralisation": central,
        "n_isolates": masked_int(n_isolates),
        "isolates": [t if h and isinstance(t, tuple) else () for t, h in zip(isolates, has,
                                                                             strict=True)],
        "reason": np.array(reasons, dtype=object),
    })


# --- one collaboration ------------------------------------------------------------------------


def _check_cell_options(programme: Programme, data: SurveyData, wave: Any,
                        collaboration: Any, *, required: bool) -> None:
    waves = list(programme.wave_ids)
    waves += sorted(set(data.respondents["wave_id"].astype(object).dropna()) - set(waves))
    for name, value, allowed in (("wave", wave, waves),
                                 ("collaboration", collaboration, programme.collaboration_ids)):
        if value is None and not required:
            continue
        if not isinstance(value, str) or value not in allowed:
            shown = ", ".join(map(repr, list(allowed)[:10])) + (", ..." if len(allowed) > 10 else "")
            raise ParameterError(f"{name} must be one of {shown}; got {value!r}")


def _check_directed(directed: Any) -> None:
    if not isinstance(directed, bool | np.bool_):
        raise ParameterError(f"directed must be True or False; got {directed!r}")


def network_edges(
    data: SurveyData,
    programme: Programme,
    *,
    wave: str | None = None,
    collaboration: str | None = None,
    directed: bool = False,
) -> pd.DataFrame:
    """The ties between partner organisations as a tidy edge list, for drawing.

    Parameters
    ----------
    data : SurveyData
        Survey answers (see :func:`network_measures` for what is used and left out).
    programme : Programme
        Lists each collaboration's partners and their sectors.
    wave, collaboration : str, optional
        Keep only this wave and/or collaboration (default: all).
    directed : bool, default False
        ``False``: one row per undirected tie (``source`` listed before ``target`` in the
        programme); ``True``: one row per directed tie (``source`` named ``target``).

    Returns
    -------
    DataFrame
        ``wave_id``, ``collaboration_id``, ``source``, ``target`` (partner ids),
        ``source_sector``, ``target_sector``, ``cross_sector``; ``weight`` - respondents
        naming the tie (from ``source``'s organisation; undirected: in either direction);
        ``reciprocated`` - the tie was named in both directions. The same columns whatever
        ``directed``.

    Notes
    -----
    The undirected weight is the sum of the two directed weights. Partners with no tie do not
    appear (see ``isolates`` in :func:`network_measures`, or :func:`network_graph`).

    Examples
    --------
    The equivalent R call (package ``igraph``), given this table ``e``::

        g <- igraph::graph_from_data_frame(e[, c("source", "target", "weight")],
                                           directed = FALSE)

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> edges = network_edges(sim.data, sim.programme)
    >>> bool((edges["weight"] >= 1).all())
    True
    """
    _check_inputs(data, programme)
    _check_cell_options(programme, data, wave, collaboration, required=False)
    _check_directed(directed)
    net = _network(_subset(data, wave, collaboration), programme)
    edges = net.directed if directed else net.undirected
    cells = net.cells
    cell = edges["cell"].to_numpy()
    s, t = edges["source"].to_numpy(), edges["target"].to_numpy()
    p = net.partners
    out = pd.DataFrame({
        "wave_id": cells["wave_id"].to_numpy()[cell],
        "collaboration_id": cells["collaboration_id"].to_numpy()[cell],
        "source": p.ids[s],
        "target": p.ids[t],
        "source_sector": p.sector[s],
        "target_sector": p.sector[t],
        "cross_sector": p.sector[s] != p.sector[t],
        "weight": edges["weight"].to_numpy().astype(np.int64),
        "reciprocated": edges["reciprocated"].to_numpy().astype(bool),
    })
    keep = np.ones(len(out), dtype=bool)
    if wave is not None:
        keep &= out["wave_id"].to_numpy() == wave
    if collaboration is not None:
        keep &= out["collaboration_id"].to_numpy() == collaboration
    return out[keep].reset_index(drop=True)


def _subset(data: SurveyData, wave: str | None, collaboration: str | None) -> SurveyData:
    """The respondents of one wave and/or collaboration with their network answers (so that
    one network is computed from its own rows only)."""
    if wave is None and collaboration is None:
        return data
    resp = data.respondents
    keep = np.ones(len(resp), dtype=bool)
    if wave is not None:
        keep &= (resp["wave_id"].astype(object) == wave).to_numpy()
    if collaboration is not None:
        keep &= (resp["collaboration_id"].astype(object) == collaboration).to_numpy()
    sel = data.selections[data.selections["question_id"].astype(object) == "network"]
    row = respondent_rows(sel, resp)
    sel = sel[(row < 0) | keep[np.maximum(row, 0)]]  # rows of no respondent stay: an error
    return SurveyData(resp[keep], data.responses.iloc[:0], sel, data.comments.iloc[:0])


def _cell_partners(data: SurveyData, programme: Programme, wave: str, collaboration: str):
    resp = data.respondents
    here = ((resp["wave_id"].astype(object) == wave)
            & (resp["collaboration_id"].astype(object) == collaboration)).to_numpy()
    if not here.any():
        raise AnalysisError(f"collaboration {collaboration!r} has no respondents in wave "
                            f"{wave!r}: there is no network to show")
    col = programme.collaboration(collaboration)
    counts = resp.loc[here, "partner_id"].astype(object).value_counts()
    return col, counts


def network_graph(
    data: SurveyData,
    programme: Programme,
    *,
    wave: str,
    collaboration: str,
    directed: bool = False,
) -> nx.Graph:
    """The network of one collaboration in one wave as a :mod:`networkx` graph.

    Parameters
    ----------
    data : SurveyData
        Survey answers.
    programme : Programme
        Lists the collaboration's partners and their sectors.
    wave, collaboration : str
        Which network.
    directed : bool, default False
        Return a :class:`networkx.DiGraph` (A -> B: a respondent from A named B) instead of
        the undirected :class:`networkx.Graph`.

    Returns
    -------
    networkx.Graph or networkx.DiGraph
        Nodes are every listed partner (id), with attributes ``name``, ``sector`` and
        ``n_respondents``; edges carry ``weight`` and ``reciprocated`` as in
        :func:`network_edges`. The graph has no self-loops.

    Raises
    ------
    AnalysisError
        When the collaboration has no respondents in the wave.

    Examples
    --------
    In R: ``igraph::graph_from_data_frame(edges, directed = FALSE, vertices = partners)``.

    >>> import networkx as nx
    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> cid = sim.programme.collaboration_ids[0]
    >>> g = network_graph(sim.data, sim.programme, wave="2025-03", collaboration=cid)
    >>> g.number_of_nodes() == len(sim.programme.collaboration(cid).partners)
    True
    """
    _check_inputs(data, programme)
    _check_cell_options(programme, data, wave, collaboration, required=True)
    _check_directed(directed)
    col, counts = _cell_partners(data, programme, wave, collaboration)
    graph = nx.DiGraph() if directed else nx.Graph()
    for partner in col.partners:
        graph.add_node(partner.id, name=partner.name, sector=partner.sector,
                       n_respondents=int(counts.get(partner.id, 0)))
    edges = network_edges(data, programme, wave=wave, collaboration=collaboration,
                          directed=directed)
    graph.add_edges_from(
        (s, t, {"weight": int(w), "reciprocated": bool(r)})
        for s, t, w, r in edges[["source", "target", "weight", "reciprocated"]].itertuples(
            index=False)
    )
    return graph


def sector_tie_matrix(
    data: SurveyData,
    programme: Programme,
    *,
    wave: str,
    collaboration: str,
    directed: bool = False,
) -> pd.DataFrame:
    """Ties between and within sectors in one collaboration and wave (the connection map).

    Parameters
    ----------
    data : SurveyData
        Survey answers.
    programme : Programme
        Lists the collaboration's partners and their sectors.
    wave, collaboration : str
        Which network.
    directed : bool, default False
        Count directed ties (a respondent from a ``sector_a`` organisation named a
        ``sector_b`` organisation) instead of undirected ones.

    Returns
    -------
    DataFrame
        One row per ordered pair of the sectors among the collaboration's listed partners
        (sorted by sector id), so that ``pivot(index="sector_a", columns="sector_b",
        values="n_ties")`` gives the sector x sector matrix: ``wave_id``,
        ``collaboration_id``, ``sector_a``, ``sector_b``, ``n_organisations_a``,
        ``n_organisations_b``, ``n_ties``, ``n_possible_ties``, ``density`` and ``reason``.

    Notes
    -----
    Undirected (the default): the matrix is symmetric; an off-diagonal cell counts the ties
    between organisations of the two sectors (each such tie appears in both ``(a, b)`` and
    ``(b, a)``), a diagonal cell the ties within the sector, so the ties of the network are the
    diagonal plus one triangle. Possible ties are ``n_a n_b`` between two sectors and
    ``n_a (n_a - 1) / 2`` within one. Directed: ``n_a n_b`` and ``n_a (n_a - 1)``. Density is
    ties over possible ties, NaN when none is possible (a sector with one organisation has no
    within-sector pair). This is the density table of a blockmodel with sectors as blocks.

    Raises
    ------
    AnalysisError
        When the collaboration has no respondents in the wave.

    Examples
    --------
    The equivalent R code (package ``igraph``), with vertex attribute ``sector``::

        m <- igraph::as_adjacency_matrix(g, sparse = FALSE)
        s <- factor(igraph::V(g)$sector)
        t(model.matrix(~ s - 1)) %*% m %*% model.matrix(~ s - 1)   # diagonal counts twice

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> cid = sim.programme.collaboration_ids[0]
    >>> m = sector_tie_matrix(sim.data, sim.programme, wave="2025-03", collaboration=cid)
    >>> bool((m["n_ties"] <= m["n_possible_ties"]).all())
    True
    """
    _check_inputs(data, programme)
    _check_cell_options(programme, data, wave, collaboration, required=True)
    _check_directed(directed)
    col, _ = _cell_partners(data, programme, wave, collaboration)
    edges = network_edges(data, programme, wave=wave, collaboration=collaboration,
                          directed=directed)
    return _tie_matrix(wave, collaboration, [p.sector for p in col.partners], edges, directed)


def sector_ties(data: SurveyData, programme: Programme, cells: pd.DataFrame, *,
                directed: bool = False) -> pd.DataFrame:
    """:func:`sector_tie_matrix` for many networks in one pass over the answers.

    ``cells`` holds ``wave_id`` and ``collaboration_id`` of the networks wanted (each must
    have respondents); the result is their tables stacked in that order, equal to calling
    :func:`sector_tie_matrix` for each (the tests check it).
    """
    _check_inputs(data, programme)
    _check_directed(directed)
    edges = network_edges(data, programme, directed=directed)
    groups = {key: frame for key, frame in edges.groupby(["wave_id", "collaboration_id"],
                                                          sort=False)}
    empty = edges.iloc[:0]
    frames = []
    for wave, collaboration in zip(cells["wave_id"].astype(object),
                                   cells["collaboration_id"].astype(object), strict=True):
        col = programme.collaboration(collaboration)
        frames.append(_tie_matrix(wave, collaboration, [p.sector for p in col.partners],
                                  groups.get((wave, collaboration), empty), directed))
    if not frames:
        return _tie_matrix("", "", [], empty, directed).iloc[:0]
    return pd.concat(frames, ignore_index=True)


def _tie_matrix(wave: str, collaboration: str, partner_sectors: list[str], edges: pd.DataFrame,
                directed: bool) -> pd.DataFrame:
    sectors = sorted(set(partner_sectors))
    size = pd.Series(partner_sectors, dtype=object).value_counts().reindex(sectors).to_numpy()
    k = len(sectors)
    index = pd.Index(sectors)
    a = index.get_indexer(edges["source_sector"])
    b = index.get_indexer(edges["target_sector"])
    ties = np.zeros((k, k), dtype=np.int64)
    np.add.at(ties, (a, b), 1)
    if not directed:
        ties = ties + ties.T - np.diag(np.diag(ties))
    within = size * (size - 1) if directed else size * (size - 1) // 2
    possible = np.outer(size, size)
    possible[np.diag_indices(k)] = within
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(possible > 0, ties / np.where(possible > 0, possible, 1), np.nan)
    reason = np.where(possible > 0, "", "no pair of organisations is possible (a sector with "
                      "one organisation has no within-sector pair)")
    return pd.DataFrame({
        "wave_id": wave,
        "collaboration_id": collaboration,
        "sector_a": np.repeat(np.array(sectors, dtype=object), k),
        "sector_b": np.tile(np.array(sectors, dtype=object), k),
        "n_organisations_a": np.repeat(size, k).astype(np.int64),
        "n_organisations_b": np.tile(size, k).astype(np.int64),
        "n_ties": ties.ravel(),
        "n_possible_ties": possible.ravel().astype(np.int64),
        "density": density.ravel(),
        "reason": reason.ravel().astype(object),
    })
