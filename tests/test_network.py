"""Tests of the partner network measures (:mod:`collab_stats.network`).

Five kinds of test:

* hand-built networks - a star, a complete network, a path with isolates, a network within one
  sector - with every expected number worked out beside it from the definitions (Freeman
  1979 degree centralisation; Krackhardt & Stern 1988 E-I index);
* networkx cross-checks - on a simulated programme, a plain loop that builds each network
  straight from the raw answers with networkx and measures it with ``nx.density``,
  ``G.degree`` and ``nx.isolates`` gives the same numbers as the grouped fast path;
* simulation - the simulator makes ties within a sector more likely (``simulate._network``),
  and the measures see it: within-sector ties are over-represented relative to the sector mix;
* properties (hypothesis) - relabelling organisations or sectors and reordering partners
  change no measure;
* errors - bad parameters raise ParameterError naming the parameter; data that do not fit the
  programme raise DataSchemaError; a network with no respondents raises AnalysisError.
"""

from __future__ import annotations

import datetime as dt
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_stats import SimulationSettings, simulate_programme
from collab_stats.errors import AnalysisError, DataSchemaError, ParameterError
from collab_stats.network import (
    network_edges,
    network_graph,
    network_measures,
    sector_tie_matrix,
)
from collab_stats.programme import Collaboration, PartnerOrganisation, Programme, Wave
from collab_stats.schema import RESPONSE_COLUMNS, make_survey_data

# --- builders ---------------------------------------------------------------------------------


def make_programme(collaborations: dict[str, list[tuple[str, str]]],
                   waves: tuple[str, ...] = ("w1",)) -> Programme:
    """A programme from {collaboration id: [(partner id, sector), ...]}."""
    day = dt.date(2025, 3, 1)
    return Programme(
        id="test", name="Test programme", instrument="collaboration-indicators",
        disclosure_threshold=10, peer_groups=(),
        collaborations=tuple(
            Collaboration(id=cid, name=cid, type="care_alliance", region="Nowhere",
                          peer_group="g", value_modes=("shared_delivery",),
                          main_value_mode="shared_delivery",
                          partners=tuple(PartnerOrganisation(p, p, s) for p, s in partners))
            for cid, partners in collaborations.items()),
        waves=tuple(Wave(w, w, day, day, "1.0") for w in waves),
    )


def make_data(respondents: list[tuple], nominations: list[tuple]):
    """SurveyData from respondents (wave, collaboration, respondent, partner) and network
    nominations (wave, collaboration, respondent, partner named)."""
    resp = pd.DataFrame(respondents,
                        columns=["wave_id", "collaboration_id", "respondent_id", "partner_id"])
    resp = resp.assign(instrument_version="1.0", sector=None, role="staff", months_involved=12,
                       main_value_mode=None, completed=True,
                       submitted_at=pd.Timestamp("2025-03-10", tz="UTC"))
    sel = pd.DataFrame(nominations,
                       columns=["wave_id", "collaboration_id", "respondent_id", "option_id"])
    sel.insert(3, "question_id", "network")
    return make_survey_data(resp, pd.DataFrame({c: [] for c in RESPONSE_COLUMNS}), sel)


def row_of(table: pd.DataFrame, collaboration: str, wave: str = "w1") -> pd.Series:
    hit = table[(table["wave_id"] == wave) & (table["collaboration_id"] == collaboration)]
    assert len(hit) == 1
    return hit.iloc[0]


# --- hand-built networks ----------------------------------------------------------------------

# A star: hub h (nhs_acute) and leaves a1, a2 (nhs_acute), b1, b2 (local_authority). Two
# respondents from h name every leaf; one from b1 names h (so h - b1 is reciprocated).
STAR = make_programme({"star": [("h", "nhs_acute"), ("a1", "nhs_acute"), ("a2", "nhs_acute"),
                                ("b1", "local_authority"), ("b2", "local_authority")]})
STAR_DATA = make_data(
    [("w1", "star", "r1", "h"), ("w1", "star", "r2", "h"), ("w1", "star", "r3", "b1")],
    [("w1", "star", r, leaf) for r in ("r1", "r2") for leaf in ("a1", "a2", "b1", "b2")]
    + [("w1", "star", "r3", "h")],
)

# A complete network of 4 organisations in one sector: each one's respondent names all others.
K4 = make_programme({"k4": [(f"o{i}", "primary_care") for i in range(4)]})
K4_DATA = make_data(
    [("w1", "k4", f"r{i}", f"o{i}") for i in range(4)],
    [("w1", "k4", f"r{i}", f"o{j}") for i in range(4) for j in range(4) if i != j],
)

# A path a - b - c with two isolates d, e, plus answers that must be left out: a self-
# nomination (c names c) and a nomination by a respondent of unknown organisation (names e).
PATH = make_programme({"path": [("a", "housing"), ("b", "nhs_acute"), ("c", "housing"),
                                ("d", "nhs_acute"), ("e", "education")]})
PATH_DATA = make_data(
    [("w1", "path", "r1", "a"), ("w1", "path", "r2", "a"), ("w1", "path", "r3", "c"),
     ("w1", "path", "r4", None), ("w1", "path", "r5", "b")],
    [("w1", "path", "r1", "b"), ("w1", "path", "r2", "b"), ("w1", "path", "r3", "b"),
     ("w1", "path", "r3", "c"), ("w1", "path", "r4", "e")],
)


def test_star_has_centralisation_one():
    m = row_of(network_measures(STAR_DATA, STAR), "star")
    # 4 ties of 5 * 4 / 2 = 10 possible pairs
    assert m["n_organisations"] == 5 and m["n_ties"] == 4 and m["n_possible_ties"] == 10
    assert m["density"] == pytest.approx(0.4, abs=1e-15)
    # degrees 4, 1, 1, 1, 1: sum(4 - d) = 12 = (n - 1)(n - 2) -> 1
    assert m["max_degree"] == 4 and m["centralisation"] == pytest.approx(1.0, abs=1e-15)
    # h-a1, h-a2 within nhs_acute; h-b1, h-b2 cross: E = 2, I = 2 -> E-I = 0
    assert m["n_cross_sector_ties"] == 2 and m["cross_sector_share"] == 0.5
    assert m["ei_index"] == pytest.approx(0.0, abs=1e-15)
    # pairs within a sector: C(3, 2) + C(2, 2) = 4 of 10 -> expected cross share 0.6, E-I 0.2
    assert m["cross_sector_share_expected"] == pytest.approx(0.6, abs=1e-15)
    assert m["ei_index_expected"] == pytest.approx(0.2, abs=1e-15)
    assert m["n_isolates"] == 0 and m["isolates"] == ()
    # r1, r2 name 4 each, r3 names 1; organisations h and b1 have respondents
    assert m["n_nominations"] == 9 and m["n_respondents_naming"] == 3
    assert m["n_organisations_with_respondents"] == 2 and m["reason"] == ""


def test_complete_network_has_centralisation_zero_and_ei_minus_one():
    m = row_of(network_measures(K4_DATA, K4), "k4")
    assert m["n_ties"] == 6 and m["density"] == 1.0
    assert m["centralisation"] == 0.0  # every degree is 3
    assert m["ei_index"] == -1.0 and m["ei_index_expected"] == -1.0  # one sector only
    edges = network_edges(K4_DATA, K4)
    assert len(edges) == 6 and edges["reciprocated"].all() and (edges["weight"] == 2).all()
    assert len(network_edges(K4_DATA, K4, directed=True)) == 12


def test_path_isolates_weights_and_left_out_nominations():
    m = row_of(network_measures(PATH_DATA, PATH), "path")
    # ties a-b, b-c of 10 pairs; degrees a 1, b 2, c 1, d 0, e 0
    assert m["n_ties"] == 2 and m["density"] == pytest.approx(0.2, abs=1e-15)
    # sum(2 - d) = 1 + 0 + 1 + 2 + 2 = 6, over (5 - 1)(5 - 2) = 12
    assert m["centralisation"] == pytest.approx(0.5, abs=1e-15)
    assert m["n_isolates"] == 2 and m["isolates"] == ("d", "e")
    # both ties cross sectors (housing - nhs_acute): E-I = +1
    assert m["ei_index"] == 1.0
    assert m["n_self_nominations"] == 1 and m["n_nominations_unplaced"] == 1
    assert m["n_nominations"] == 3 and m["n_respondents_naming"] == 3
    # respondents r1, r2 (a), r3 (c), r5 (b); r4 has no organisation
    assert m["n_respondents"] == 5 and m["n_organisations_with_respondents"] == 3
    directed = network_edges(PATH_DATA, PATH, directed=True)
    assert directed[["source", "target", "weight"]].values.tolist() == [["a", "b", 2],
                                                                        ["c", "b", 1]]
    assert not directed["reciprocated"].any()


def test_undirected_weight_adds_both_directions():
    data = make_data(
        [("w1", "path", "r1", "a"), ("w1", "path", "r2", "a"), ("w1", "path", "r3", "b")],
        [("w1", "path", "r1", "b"), ("w1", "path", "r2", "b"), ("w1", "path", "r3", "a"),
         ("w1", "path", "r3", "a")])  # r3 names a twice: counts once
    edges = network_edges(data, PATH)
    assert edges[["source", "target", "weight", "reciprocated"]].values.tolist() == [
        ["a", "b", 3, True]]


def test_no_nominations_gives_nan_with_reason_not_zero():
    data = make_data([("w1", "k4", "r1", "o1")], [])
    m = row_of(network_measures(data, K4), "k4")
    assert math.isnan(m["density"]) and math.isnan(m["centralisation"])
    assert pd.isna(m["n_ties"]) and pd.isna(m["n_isolates"]) and m["isolates"] == ()
    assert "named a partner" in m["reason"]
    assert m["ei_index_expected"] == -1.0  # depends on the listed partners only


def test_two_partners_have_no_centralisation():
    prog = make_programme({"pair": [("x", "housing"), ("y", "housing")]})
    data = make_data([("w1", "pair", "r1", "x")], [("w1", "pair", "r1", "y")])
    m = row_of(network_measures(data, prog), "pair")
    assert m["density"] == 1.0 and math.isnan(m["centralisation"])
    assert "at least 3" in m["reason"]


def test_sector_tie_matrix_of_the_star():
    m = sector_tie_matrix(STAR_DATA, STAR, wave="w1", collaboration="star")
    cell = m.set_index(["sector_a", "sector_b"])
    # local_authority: b1, b2 (1 within pair, no tie); nhs_acute: h, a1, a2 (3 pairs, 2 ties)
    assert cell.loc[("local_authority", "local_authority"), "n_ties"] == 0
    assert cell.loc[("local_authority", "local_authority"), "n_possible_ties"] == 1
    assert cell.loc[("nhs_acute", "nhs_acute"), "n_ties"] == 2
    assert cell.loc[("nhs_acute", "nhs_acute"), "density"] == pytest.approx(2 / 3)
    # h - b1, h - b2 between sectors, of 3 * 2 possible, in both orders
    for pair in [("local_authority", "nhs_acute"), ("nhs_acute", "local_authority")]:
        assert cell.loc[pair, "n_ties"] == 2 and cell.loc[pair, "n_possible_ties"] == 6
    matrix = m.pivot(index="sector_a", columns="sector_b", values="n_ties").to_numpy()
    assert np.array_equal(matrix, matrix.T)
    # the network's ties: diagonal + one triangle
    assert np.triu(matrix).sum() == 4
    # directed: h -> a1, a2 (within), h -> b1, b2 and b1 -> h (between)
    d = sector_tie_matrix(STAR_DATA, STAR, wave="w1", collaboration="star",
                          directed=True).set_index(["sector_a", "sector_b"])
    assert d.loc[("nhs_acute", "nhs_acute"), "n_ties"] == 2
    assert d.loc[("nhs_acute", "nhs_acute"), "n_possible_ties"] == 6
    assert d.loc[("nhs_acute", "local_authority"), "n_ties"] == 2
    assert d.loc[("local_authority", "nhs_acute"), "n_ties"] == 1


def test_network_graph_of_the_star():
    g = network_graph(STAR_DATA, STAR, wave="w1", collaboration="star")
    assert sorted(g.nodes) == ["a1", "a2", "b1", "b2", "h"]
    assert g.nodes["h"]["n_respondents"] == 2 and g.nodes["b2"]["n_respondents"] == 0
    assert g.edges["h", "b1"]["weight"] == 3 and g.edges["h", "b1"]["reciprocated"]
    assert nx.density(g) == pytest.approx(0.4)
    dg = network_graph(STAR_DATA, STAR, wave="w1", collaboration="star", directed=True)
    assert dg.is_directed() and dg.edges["h", "a1"]["weight"] == 2 and dg.has_edge("b1", "h")
    assert nx.number_of_selfloops(dg) == 0


# --- networkx cross-checks on a simulated programme -------------------------------------------


@pytest.fixture(scope="module")
def sim():
    """20 collaborations x 2 waves; small collaborations keep some networks sparse."""
    return simulate_programme(seed=2024, n_collaborations=20, n_waves=2,
                              settings=SimulationSettings(respondents=(3, 25)))


def reference_graph(data, programme, wave, collaboration) -> nx.Graph:
    """Built straight from the raw answers with a plain loop (not from network_edges)."""
    col = programme.collaboration(collaboration)
    g = nx.Graph()
    for p in col.partners:
        g.add_node(p.id, sector=p.sector)
    resp = data.respondents.astype({"wave_id": object, "collaboration_id": object,
                                    "respondent_id": object, "partner_id": object})
    resp = resp[(resp["wave_id"] == wave) & (resp["collaboration_id"] == collaboration)]
    org = dict(zip(resp["respondent_id"], resp["partner_id"], strict=True))
    sel = data.selections.astype(object)
    sel = sel[(sel["wave_id"] == wave) & (sel["question_id"] == "network")]
    for rid, named in zip(sel["respondent_id"], sel["option_id"], strict=True):
        own = org.get(rid)
        if own is None or pd.isna(own) or own == named:
            continue
        g.add_edge(own, named)
    return g


def test_measures_match_networkx_on_every_simulated_network(sim):
    table = network_measures(sim.data, sim.programme)
    assert len(table) == 40
    for row in table.itertuples(index=False):
        g = reference_graph(sim.data, sim.programme, row.wave_id, row.collaboration_id)
        n = g.number_of_nodes()
        assert row.n_organisations == n
        if g.number_of_edges() == 0:
            assert math.isnan(row.density)
            continue
        assert row.n_ties == g.number_of_edges()
        assert row.density == pytest.approx(nx.density(g), abs=1e-12)
        degrees = np.array([d for _, d in g.degree()])
        freeman = (degrees.max() - degrees).sum() / ((n - 1) * (n - 2))
        assert row.centralisation == pytest.approx(freeman, abs=1e-12)
        assert set(row.isolates) == set(nx.isolates(g))
        cross = sum(g.nodes[u]["sector"] != g.nodes[v]["sector"] for u, v in g.edges)
        within = g.number_of_edges() - cross
        assert row.ei_index == pytest.approx((cross - within) / (cross + within), abs=1e-12)
        complete = nx.complete_graph(list(g.nodes))
        c_cross = sum(g.nodes[u]["sector"] != g.nodes[v]["sector"] for u, v in complete.edges)
        assert row.cross_sector_share_expected == pytest.approx(
            c_cross / complete.number_of_edges(), abs=1e-12)


def test_graph_and_edges_agree_with_measures(sim):
    table = network_measures(sim.data, sim.programme)
    row = table.dropna(subset=["density"]).iloc[0]
    g = network_graph(sim.data, sim.programme, wave=row["wave_id"],
                      collaboration=row["collaboration_id"])
    ref = reference_graph(sim.data, sim.programme, row["wave_id"], row["collaboration_id"])
    assert nx.utils.graphs_equal(nx.Graph(g.edges), nx.Graph(ref.edges))
    edges = network_edges(sim.data, sim.programme, wave=row["wave_id"],
                          collaboration=row["collaboration_id"])
    assert len(edges) == row["n_ties"]
    assert edges["cross_sector"].sum() == row["n_cross_sector_ties"]
    directed = network_edges(sim.data, sim.programme, wave=row["wave_id"],
                             collaboration=row["collaboration_id"], directed=True)
    # every respondent-nomination is counted once, in one directed tie
    assert directed["weight"].sum() == row["n_nominations"] == edges["weight"].sum()
    ties = sector_tie_matrix(sim.data, sim.programme, wave=row["wave_id"],
                             collaboration=row["collaboration_id"])
    diagonal = ties["sector_a"] == ties["sector_b"]
    assert ties.loc[diagonal, "n_ties"].sum() == row["n_ties"] - row["n_cross_sector_ties"]
    assert ties.loc[~diagonal, "n_ties"].sum() == 2 * row["n_cross_sector_ties"]


# --- simulation: ties favour the respondent's own sector ---------------------------------------


def test_within_sector_ties_are_over_represented():
    """The simulator names own-sector partners with log-odds 1.3 higher. If ties ignored
    sector, the E-I index would scatter around its expected value given the sector mix; here
    it should sit below it. 60 collaborations x 2 waves; the margin (z < -4) allows for
    sampling variation with room to spare (the observed z is about -8)."""
    s = simulate_programme(seed=31, n_collaborations=60, n_waves=2)
    m = network_measures(s.data, s.programme)
    m = m[m["cross_sector_share_expected"].between(0, 1, inclusive="neither")]
    m = m.dropna(subset=["ei_index"])
    diff = m["ei_index"] - m["ei_index_expected"]
    z = diff.mean() / (diff.std(ddof=1) / math.sqrt(len(diff)))
    assert z < -4
    ties = m["n_ties"].astype(float)
    within = (ties - m["n_cross_sector_ties"].astype(float)).sum()
    expected_within = (ties * (1 - m["cross_sector_share_expected"])).sum()
    assert within > 1.1 * expected_within


# --- properties -------------------------------------------------------------------------------


@st.composite
def networks(draw):
    n = draw(st.integers(2, 7))
    sectors = draw(st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=n, max_size=n))
    n_resp = draw(st.integers(1, 10))
    orgs = draw(st.lists(st.one_of(st.none(), st.integers(0, n - 1)),
                         min_size=n_resp, max_size=n_resp))
    named = [draw(st.lists(st.integers(0, n - 1), max_size=n)) for _ in range(n_resp)]
    return sectors, orgs, named


def build(sectors, orgs, named, ids, sector_names, order):
    prog = make_programme({"c": [(ids[k], sector_names[sectors[k]]) for k in order]})
    resp = [("w1", "c", f"r{i}", None if o is None else ids[o]) for i, o in enumerate(orgs)]
    noms = [("w1", "c", f"r{i}", ids[t]) for i, ts in enumerate(named) for t in ts]
    return make_data(resp, noms), prog


@settings(max_examples=30, deadline=None)
@given(networks(), st.randoms(use_true_random=False))
def test_relabelling_organisations_and_sectors_changes_no_measure(net, rnd):
    sectors, orgs, named = net
    n = len(sectors)
    ids = [f"org{k}" for k in range(n)]
    data, prog = build(sectors, orgs, named, ids, {s: s for s in ("s1", "s2", "s3")},
                       list(range(n)))
    new_ids = [f"x{v}" for v in rnd.sample(range(100), n)]
    new_sectors = dict(zip(["s1", "s2", "s3"], rnd.sample(["t1", "t2", "t3"], 3), strict=True))
    order = list(range(n))
    rnd.shuffle(order)
    data2, prog2 = build(sectors, orgs, named, new_ids, new_sectors, order)
    a = network_measures(data, prog).iloc[0]
    b = network_measures(data2, prog2).iloc[0]
    back = dict(zip(new_ids, ids, strict=True))
    assert {back[i] for i in b["isolates"]} == set(a["isolates"])
    for column in a.index.drop(["isolates"]):
        if isinstance(a[column], float):
            assert a[column] == pytest.approx(b[column], abs=1e-12, nan_ok=True), column
        else:
            assert (pd.isna(a[column]) and pd.isna(b[column])) or a[column] == b[column], column
    # the edge lists are the same ties under the new names
    e1 = network_edges(data, prog)
    e2 = network_edges(data2, prog2)
    ties1 = {(frozenset((s, t)), w) for s, t, w in e1[["source", "target", "weight"]].values}
    ties2 = {(frozenset((back[s], back[t])), w)
             for s, t, w in e2[["source", "target", "weight"]].values}
    assert ties1 == ties2


@settings(max_examples=30, deadline=None)
@given(networks())
def test_measures_stay_in_range(net):
    sectors, orgs, named = net
    n = len(sectors)
    data, prog = build(sectors, orgs, named, [f"o{k}" for k in range(n)],
                       {s: s for s in ("s1", "s2", "s3")}, list(range(n)))
    m = network_measures(data, prog).iloc[0]
    for column, low, high in [("density", 0, 1), ("centralisation", 0, 1),
                              ("ei_index", -1, 1), ("cross_sector_share", 0, 1)]:
        assert math.isnan(m[column]) or low - 1e-12 <= m[column] <= high + 1e-12
    if not pd.isna(m["n_ties"]):
        assert m["n_isolates"] == len(m["isolates"]) <= n


# --- errors -----------------------------------------------------------------------------------


def test_naming_an_organisation_outside_the_collaboration_is_a_data_error():
    prog = make_programme({"one": [("a", "housing"), ("b", "housing")],
                           "two": [("c", "housing"), ("d", "housing")]})
    data = make_data([("w1", "one", "r1", "a")], [("w1", "one", "r1", "c")])
    with pytest.raises(DataSchemaError, match="not a partner of the collaboration"):
        network_measures(data, prog)
    data = make_data([("w1", "one", "r1", "c")], [])
    with pytest.raises(DataSchemaError, match="partner_id"):
        network_measures(data, prog)


@pytest.mark.parametrize("call", [
    lambda: network_edges(STAR_DATA, STAR, wave="nope"),
    lambda: network_edges(STAR_DATA, STAR, collaboration="nope"),
    lambda: network_edges(STAR_DATA, STAR, directed="yes"),
    lambda: sector_tie_matrix(STAR_DATA, STAR, wave="w1", collaboration=None),
    lambda: network_graph(STAR_DATA, STAR, wave=None, collaboration="star"),
    lambda: network_measures(STAR_DATA.respondents, STAR),
    lambda: network_measures(STAR_DATA, "programme"),
])
def test_bad_parameters_raise_parameter_error_naming_the_parameter(call):
    with pytest.raises(ParameterError, match=r"^(wave|collaboration|directed|data|programme) "
                                             r"must be"):
        call()


def test_network_without_respondents_is_an_analysis_error():
    partners = [(p.id, p.sector) for p in STAR.collaborations[0].partners]
    prog = make_programme({"star": partners}, waves=("w1", "w2"))
    with pytest.raises(AnalysisError, match="no respondents"):
        sector_tie_matrix(STAR_DATA, prog, wave="w2", collaboration="star")
    with pytest.raises(AnalysisError, match="no respondents"):
        network_graph(STAR_DATA, prog, wave="w2", collaboration="star")


def test_sector_ties_for_many_networks_equal_one_matrix_at_a_time():
    """Second code path: the one-pass table equals sector_tie_matrix cell by cell."""
    from collab_stats import simulate_programme
    from collab_stats.network import network_measures, sector_tie_matrix, sector_ties

    sim = simulate_programme(seed=5, n_collaborations=6, n_waves=2)
    cells = network_measures(sim.data, sim.programme)[["wave_id", "collaboration_id"]]
    for directed in (False, True):
        many = sector_ties(sim.data, sim.programme, cells, directed=directed)
        one = pd.concat([sector_tie_matrix(sim.data, sim.programme, wave=w, collaboration=c,
                                           directed=directed)
                         for w, c in zip(cells["wave_id"], cells["collaboration_id"],
                                         strict=True)], ignore_index=True)
        assert many["n_ties"].sum() > 0
        pd.testing.assert_frame_equal(many, one)
