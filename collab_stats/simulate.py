"""A realistic simulated programme with known truth, for the demo, the tests and benchmarks.

Real programme data cannot be shipped, so :func:`simulate_programme` generates a programme
(collaborations, partner organisations, waves) and survey answers in the canonical schema,
together with the parameters that generated them, so analyses can be checked against truth.

The generating model
--------------------
For respondent *i* of collaboration *c* in wave *w*, the latent level on characteristic *k* is

    theta[i, k] = mu[c, w, k] + sqrt(s) * person[i, k] + sqrt(1 - s) * occasion[i, w, k]

with ``person`` and ``occasion`` multivariate normal with unit variances and within-
collaboration correlation ``within_correlation`` between characteristics, and ``s`` the
``stability`` of a person's view between waves (panel respondents keep ``person``). The
collaboration level is

    mu[c, w, k] = grand_mean[k] + u[c, k] + slope[c, k] * w

with ``u`` multivariate normal (standard deviation ``between_sd``, correlation
``between_correlation``) and ``slope`` zero for "flat" collaborations and of size about
``trend_per_wave`` for "improving" or "declining" ones (every characteristic moves, by
different amounts). Item *j* of characteristic *k* is answered through an ordinal probit
model with acquiescence ``a[i] ~ N(0, acquiescence_sd^2)``:

    y*[i, j] = sign[j] * loading[j] * theta[i, k] + a[i] + e[i, j],
    e ~ N(0, 1 - loading[j]^2),    y = 1 + #{t : y* > threshold[t] + shift[j]}

where ``sign`` is -1 for reverse-keyed items (a reverse-keyed statement is agreed with when
the characteristic is weak; acquiescence still pushes towards agreement). Marginalising over
respondents, the expected answer is

    E[y_j | c, w] = 1 + sum_t Phi((sign_j loading_j mu - threshold_t - shift_j) / sd_j),
    sd_j^2 = loading_j^2 + acquiescence_sd^2 + 1 - loading_j^2,

which gives the *expected characteristic score* (mean over the characteristic's items, reverse-
keyed as max + min - y) reported in ``truth.collaboration_levels``. Missing answers ("don't
know", "not applicable", skipped, dropping out part-way) do not depend on the latent values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr

from .instrument import MISSING_REASONS, InstrumentFamily, load_instrument_family
from .programme import Collaboration, PartnerOrganisation, PeerGroup, Programme, Wave
from .schema import SurveyData, make_survey_data

__all__ = ["SimulatedProgramme", "SimulationSettings", "SimulationTruth", "simulate_programme"]


@dataclass(frozen=True)
class SimulationSettings:
    """Knobs of the simulator; the defaults give a plausible programme.

    Attributes
    ----------
    respondents : (int, int)
        Range of respondents per collaboration and wave.
    partners : (int, int)
        Range of partner organisations per collaboration.
    response_rate : (float, float)
        Range of response rates (for the invited numbers in the programme).
    panel_share : float
        Share of a wave's respondents who answered the previous wave too (panel), where the
        previous wave had enough respondents.
    stability : float
        Correlation of a panel respondent's own view between waves (``s`` in the model).
    between_sd, between_correlation, within_correlation : float
        Latent spread of collaborations, and correlations between characteristics between and
        within collaborations.
    trend_shares : (float, float)
        Shares of collaborations that improve and that decline over the waves.
    trend_per_wave : float
        Typical latent change per wave of an improving (or declining) collaboration.
    acquiescence_sd : float
        Spread of respondents' tendency to agree regardless of content.
    dont_know_rate, not_applicable_rate, skip_rate : float
        Overall rates of those answers (don't know is more common among staff and public
        members and on measurement and governance items, and less common among leaders).
    partial_rate : float
        Share of respondents who stop part-way (the rest of their items are "not reached").
    comment_rate : float
        Share of completed respondents who write a comment.
    months_between_waves : int
        Spacing of waves; the first wave opens ``first_wave_opens``.
    """

    respondents: tuple[int, int] = (6, 80)
    partners: tuple[int, int] = (4, 15)
    response_rate: tuple[float, float] = (0.35, 0.85)
    panel_share: float = 0.5
    stability: float = 0.5
    between_sd: float = 0.45
    between_correlation: float = 0.6
    within_correlation: float = 0.5
    trend_shares: tuple[float, float] = (0.3, 0.15)
    trend_per_wave: float = 0.2
    acquiescence_sd: float = 0.3
    dont_know_rate: float = 0.04
    not_applicable_rate: float = 0.01
    skip_rate: float = 0.02
    partial_rate: float = 0.08
    comment_rate: float = 0.15
    months_between_waves: int = 6
    first_wave_opens: dt.date = dt.date(2025, 3, 3)


@dataclass(frozen=True)
class SimulationTruth:
    """The parameters a simulated programme was generated from.

    Attributes
    ----------
    collaboration_levels : DataFrame
        One row per wave, collaboration and characteristic: ``latent_mean`` (mu) and
        ``expected_score`` (the population mean of the characteristic score on the 1-5 scale).
    trends : DataFrame
        One row per collaboration and characteristic: ``trend`` (improving / flat /
        declining) and ``slope`` (latent change per wave).
    items : DataFrame
        One row per item: ``characteristic``, ``loading``, ``reverse``, ``shift``.
    thresholds : tuple of float
        Common category thresholds of the ordinal model.
    between_correlation, within_correlation : DataFrame
        Correlations between characteristics (collaboration level, within collaborations).
    latent_icc : Series
        Share of latent variance between collaborations, per characteristic:
        ``between_sd^2 / (between_sd^2 + 1)``.
    main_mode_agreement : Series
        Per collaboration, the probability that a partner names the declared main way of
        creating value.
    """

    collaboration_levels: pd.DataFrame
    trends: pd.DataFrame
    items: pd.DataFrame
    thresholds: tuple[float, ...]
    between_correlation: pd.DataFrame
    within_correlation: pd.DataFrame
    latent_icc: pd.Series
    main_mode_agreement: pd.Series


@dataclass(frozen=True)
class SimulatedProgramme:
    programme: Programme
    instrument: InstrumentFamily
    data: SurveyData
    truth: SimulationTruth
    settings: SimulationSettings = field(default_factory=SimulationSettings)
    seed: int = 0


# --- fixed ingredients ---------------------------------------------------------------------

THRESHOLDS = (-1.7, -0.9, -0.15, 1.15)
GRAND_MEAN = {"PS": 0.35, "PC": 0.3, "TG": 0.25, "BL": 0.1, "CC": 0.3, "MI": -0.1, "EG": 0.05,
              "SC": -0.25}
#: Relative size of organisations by sector (how many of their people take part).
SECTOR_SIZE = {"nhs_acute": 3.0, "local_authority": 2.5, "mental_health": 2.0,
               "community_health": 1.5, "primary_care": 1.0, "education": 1.0, "housing": 0.8,
               "voluntary_community": 0.6, "private": 0.6, "police_fire": 0.5, "other": 0.5,
               "patient_public": 0.4}
ROLE_SHARES = {"leader": 0.1, "board_member": 0.12, "operational_lead": 0.28, "staff": 0.5}
DONT_KNOW_BY_ROLE = {"leader": 0.4, "board_member": 0.5, "operational_lead": 0.9, "staff": 1.6,
                     "public_member": 2.5}
DONT_KNOW_BY_CHARACTERISTIC = {"MI": 1.6, "EG": 1.5, "SC": 1.2}

# Places and the NHS England region each lies in.
PLACES = {
    "North East and Yorkshire": ["Barnsley", "Bradford", "Darlington", "Doncaster", "Durham",
                                 "Gateshead", "Harrogate", "Hull", "Kirklees", "Leeds",
                                 "Middlesbrough", "Newcastle", "Rotherham", "Sheffield",
                                 "Sunderland", "Wakefield", "York"],
    "North West": ["Blackburn", "Bolton", "Carlisle", "Cheshire", "Halton", "Lancaster",
                   "Liverpool", "Manchester", "Oldham", "Preston", "Salford", "Stockport",
                   "Warrington", "Wigan", "Wirral"],
    "Midlands": ["Coventry", "Derby", "Leicester", "Lincoln", "Northampton", "Nottingham",
                 "Shropshire", "Telford", "Walsall", "Wolverhampton", "Worcester"],
    "East of England": ["Cambridge", "Colchester", "Ipswich", "Luton", "Norfolk", "Norwich",
                        "Peterborough", "Suffolk"],
    "London": ["Croydon", "Hackney", "Lambeth", "Southwark"],
    "South East": ["Brighton", "Hastings", "Kent", "Medway", "Milton Keynes", "Oxford",
                   "Portsmouth", "Reading", "Southampton"],
    "South West": ["Bath", "Bristol", "Cornwall", "Devon", "Dorset", "Exeter", "Gloucester",
                   "Plymouth", "Somerset", "Swindon", "Torbay", "Wiltshire"],
}
REGION_OF = {place: region for region, places in PLACES.items() for place in places}
TYPES = {
    # type: (name pattern, peer group, main value mode, usual other modes, sector weights)
    "place_based_partnership": ("{place} Place Partnership", "place-partnerships",
                                "aligned_plans", ("shared_delivery",),
                                {"nhs_acute": 1, "primary_care": 1, "community_health": 1,
                                 "local_authority": 1.5, "voluntary_community": 1.5,
                                 "housing": 0.7, "police_fire": 0.5, "patient_public": 0.6,
                                 "mental_health": 0.8, "education": 0.4}),
    "care_alliance": ("{place} Care Alliance", "place-partnerships", "shared_delivery",
                      ("aligned_plans",),
                      {"community_health": 1.5, "local_authority": 1.5, "private": 1.2,
                       "voluntary_community": 1.2, "primary_care": 1, "patient_public": 0.6}),
    "primary_care_network": ("{place} Primary Care Network", "place-partnerships",
                             "shared_delivery", (),
                             {"primary_care": 4, "community_health": 1, "private": 0.7,
                              "voluntary_community": 0.6, "patient_public": 0.4}),
    "provider_collaborative": ("{place} Provider Collaborative", "provider-collaboratives",
                               "shared_delivery", ("aligned_plans",),
                               {"nhs_acute": 3, "mental_health": 2, "community_health": 1.5}),
    "improvement_network": ("{place} Improvement Network", "networks-and-alliances",
                            "shared_learning", ("shared_delivery",),
                            {"nhs_acute": 1.5, "primary_care": 1, "mental_health": 1,
                             "community_health": 1, "education": 1, "other": 0.4}),
    "voluntary_sector_alliance": ("{place} Voluntary Sector Alliance", "networks-and-alliances",
                                  "shared_voice", ("aligned_plans",),
                                  {"voluntary_community": 4, "housing": 1, "local_authority": 0.6,
                                   "patient_public": 0.8}),
}
TYPE_SHARES = {"place_based_partnership": 0.3, "care_alliance": 0.15,
               "primary_care_network": 0.15, "provider_collaborative": 0.15,
               "improvement_network": 0.15, "voluntary_sector_alliance": 0.1}
PEER_GROUPS = {"place-partnerships": "Place partnerships and care alliances",
               "provider-collaboratives": "Provider collaboratives",
               "networks-and-alliances": "Improvement networks and sector alliances"}
ORGANISATION_NAMES = {
    "nhs_acute": ["{place} Hospitals NHS Foundation Trust", "{place} University Hospitals NHS Trust",
                  "{place} Children's Hospital NHS Trust", "{place} Ambulance Service"],
    "primary_care": ["{place} GP Federation", "{place} Central Primary Care Network",
                     "{place} North Primary Care Network", "{place} South Primary Care Network",
                     "{place} East Primary Care Network", "{place} West Primary Care Network",
                     "{place} Rural Practices Group", "{place} City Practices Group"],
    "mental_health": ["{place} Mental Health NHS Trust", "{place} Partnership NHS Foundation Trust",
                      "{place} Talking Therapies", "{place} Recovery College"],
    "community_health": ["{place} Community Health Services", "{place} Community Care CIC",
                         "{place} Hospice", "{place} Community Nursing Service"],
    "local_authority": ["{place} Council", "{place} Adult Social Care", "{place} Public Health"],
    "voluntary_community": ["{place} Council for Voluntary Service", "Age UK {place}",
                            "{place} Carers Centre", "Mind in {place}", "{place} Food Partnership"],
    "housing": ["{place} Homes", "{place} Housing Association", "{place} Homeless Service"],
    "education": ["{place} College", "University of {place}", "{place} Schools Trust"],
    "police_fire": ["{place} Police", "{place} Fire and Rescue Service"],
    "private": ["{place} Care Homes Ltd", "{place} Pharmacy Group", "{place} Home Care Ltd"],
    "patient_public": ["Healthwatch {place}", "{place} Patient and Public Panel"],
    "other": ["{place} Leisure Trust", "{place} Chamber of Commerce"],
}
COMMENTS = [
    "The monthly partnership meetings are really useful, but papers often arrive late.",
    "We need clearer decisions about who leads on each workstream.",
    "Good energy in the group; time to take part is the main problem for my team.",
    "Data sharing between partners is still difficult.",
    "It would help to hear more from the voluntary sector partners.",
    "The collaboration has helped us avoid duplicating work across organisations.",
    "Not sure how decisions made at the board reach staff like me.",
    "The learning events have been excellent.",
    "Please contact me at jo.bloggs@example.org to discuss further.",
    "Our practice manager Sam Taylor has done a great job coordinating.",
]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _correlation(k: int, rho: float) -> np.ndarray:
    return np.full((k, k), rho) + (1 - rho) * np.eye(k)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --- the programme -------------------------------------------------------------------------


def _build_programme(rng, n_collaborations, waves, settings, family) -> Programme:
    type_names = list(TYPE_SHARES)
    types = rng.choice(type_names, size=n_collaborations, p=list(TYPE_SHARES.values()))
    places = rng.permutation(sorted(REGION_OF))
    modes = [m.id for m in family.framework.value_modes]
    collaborations, used_ids = [], set()
    for c in range(n_collaborations):
        ctype = str(types[c])
        pattern, peer_group, main, others, sector_weights = TYPES[ctype]
        place = str(places[c % len(places)])
        name = pattern.format(place=place)
        if c >= len(places):
            name += f" {c // len(places) + 1}"
        cid = _slug(name)
        while cid in used_ids:  # only when more collaborations than place x type names
            cid += "-x"
        used_ids.add(cid)
        declared = [main, *others]
        extra = [m for m in modes if m not in declared]
        if extra and rng.random() < 0.3:
            declared.append(str(rng.choice(extra)))
        n_partners = int(rng.integers(settings.partners[0], settings.partners[1] + 1))
        # Organisations are drawn without replacement from every (sector, name) pair, each
        # sector weighted by how typical it is for this kind of collaboration.
        pairs = [(sector, name) for sector in sector_weights for name in ORGANISATION_NAMES[sector]]
        weights = np.array([sector_weights[sector] / len(ORGANISATION_NAMES[sector])
                            for sector, _ in pairs])
        picks = rng.choice(len(pairs), size=min(n_partners, len(pairs)), replace=False,
                           p=weights / weights.sum())
        partners = [
            PartnerOrganisation(f"{cid}-p{k + 1:02d}", pairs[j][1].format(place=place), pairs[j][0])
            for k, j in enumerate(picks)
        ]
        collaborations.append(Collaboration(
            id=cid, name=name, type=ctype, region=REGION_OF[place],
            peer_group=peer_group, value_modes=tuple(declared), main_value_mode=main,
            partners=tuple(partners), invited={},
        ))
    used_groups = sorted({c.peer_group for c in collaborations})
    return Programme(
        id="demo-programme", name="Better Together collaboration programme (simulated)",
        instrument=family.id, disclosure_threshold=10,
        peer_groups=tuple(PeerGroup(g, PEER_GROUPS[g]) for g in used_groups),
        collaborations=tuple(collaborations), waves=tuple(waves),
    )


def _waves(n_waves: int, settings: SimulationSettings, family: InstrumentFamily) -> list[Wave]:
    versions = family.version_ids
    waves = []
    for w in range(n_waves):
        month0 = settings.first_wave_opens.month - 1 + w * settings.months_between_waves
        opens = settings.first_wave_opens.replace(year=settings.first_wave_opens.year + month0 // 12,
                                                  month=month0 % 12 + 1)
        closes = opens + dt.timedelta(days=27)
        # First half of the waves (rounded up) on the first version, the rest on the latest.
        version = versions[0] if (w < math.ceil(n_waves / 2) or len(versions) == 1) else versions[-1]
        waves.append(Wave(id=f"{opens:%Y-%m}", label=f"Wave {w + 1} ({opens:%B %Y})",
                          opens=opens, closes=closes, instrument_version=version))
    return waves


# --- the simulation ------------------------------------------------------------------------


def simulate_programme(
    *,
    seed: int = 0,
    n_collaborations: int = 40,
    n_waves: int = 4,
    instrument: InstrumentFamily | None = None,
    settings: SimulationSettings | None = None,
) -> SimulatedProgramme:
    """Simulate a programme of collaborations surveyed over several waves.

    Parameters
    ----------
    seed : int
        Seed of the random generator: the same seed and settings give identical output.
    n_collaborations, n_waves : int
        Size of the programme. The first half of the waves (rounded up) use the instrument's
        first version and the rest its latest.
    instrument : InstrumentFamily, optional
        Default: the bundled collaboration indicator survey.
    settings : SimulationSettings, optional
        Everything else (see :class:`SimulationSettings`).

    Returns
    -------
    SimulatedProgramme
        The programme, the canonical :class:`~collab_stats.schema.SurveyData`, and the
        :class:`SimulationTruth` it was generated from.

    Examples
    --------
    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=5, n_waves=2)
    >>> sim.data.respondents["wave_id"].nunique(), len(sim.programme.collaborations)
    (2, 5)
    """
    if n_collaborations < 1 or n_waves < 1:
        raise ValueError(f"n_collaborations and n_waves must be at least 1, got "
                         f"{n_collaborations} and {n_waves}")
    settings = settings or SimulationSettings()
    lo, hi = settings.respondents
    if not 1 <= lo <= hi:
        raise ValueError(f"settings.respondents must be (low, high) with 1 <= low <= high, got {settings.respondents}")
    family = instrument or load_instrument_family()
    rng = np.random.default_rng(seed)
    waves = _waves(n_waves, settings, family)
    programme = _build_programme(rng, n_collaborations, waves, settings, family)
    characteristics = [c.id for c in family.framework.characteristics]
    K, C, W = len(characteristics), n_collaborations, n_waves

    # Collaboration levels and trends.
    grand = np.array([GRAND_MEAN.get(k, 0.0) for k in characteristics])
    r_between = _correlation(K, settings.between_correlation)
    r_within = _correlation(K, settings.within_correlation)
    u = rng.multivariate_normal(np.zeros(K), settings.between_sd ** 2 * r_between, size=C)
    improving, declining = settings.trend_shares
    trend = rng.choice(["improving", "flat", "declining"], size=C,
                       p=[improving, 1 - improving - declining, declining])
    sign = np.select([trend == "improving", trend == "declining"], [1.0, -1.0], 0.0)
    slope = sign[:, None] * settings.trend_per_wave * rng.uniform(0.5, 1.5, size=(C, K))
    mu = grand[None, None, :] + u[:, None, :] + slope[:, None, :] * np.arange(W)[None, :, None]

    # Items of every version (loadings are a property of the item, shared across versions).
    all_items = list(dict.fromkeys(i for v in family.versions for i in v.items))
    item_ids = list(dict.fromkeys(i.id for i in all_items))
    item_info = {i.id: i for i in all_items}
    loading = {i: (rng.uniform(0.5, 0.7) if item_info[i].reverse else rng.uniform(0.62, 0.85))
               for i in item_ids}
    shift = {i: rng.normal(0, 0.2) for i in item_ids}

    respondents, panel_pool = _draw_respondents(rng, programme, waves, settings)
    n = len(respondents)
    coll_index = respondents["c"].to_numpy()
    wave_index = respondents["w"].to_numpy()
    person = respondents["person"].to_numpy()

    person_effect = rng.multivariate_normal(np.zeros(K), r_within, size=panel_pool)
    occasion = rng.multivariate_normal(np.zeros(K), r_within, size=n)
    theta = (mu[coll_index, wave_index] + math.sqrt(settings.stability) * person_effect[person]
             + math.sqrt(1 - settings.stability) * occasion)
    acquiescence = rng.normal(0, settings.acquiescence_sd, size=n)

    k_of = {k: j for j, k in enumerate(characteristics)}
    thresholds = np.array(THRESHOLDS)
    respondent_ids = _pseudonyms(rng, panel_pool)[person]
    role = respondents["role"].to_numpy()
    dk_role = pd.Series(role).map(DONT_KNOW_BY_ROLE).to_numpy()

    frames = []
    for version in family.versions:
        rows = np.flatnonzero(np.isin(wave_index, [w for w, wave in enumerate(waves)
                                                   if wave.instrument_version == version.version]))
        if rows.size == 0:
            continue
        ids = list(version.item_ids)
        lam = np.array([loading[i] for i in ids])
        sgn = np.array([-1.0 if item_info[i].reverse else 1.0 for i in ids])
        kk = np.array([k_of[item_info[i].characteristic] for i in ids])
        shifts = np.array([shift[i] for i in ids])
        ystar = (sgn * lam * theta[rows][:, kk] + acquiescence[rows, None]
                 + rng.normal(size=(rows.size, len(ids))) * np.sqrt(1 - lam ** 2))
        y = 1 + (ystar[:, :, None] > (thresholds[None, None, :] + shifts[None, :, None])).sum(axis=2)
        reason = _missingness(rng, rows, ids, item_info, dk_role, settings)
        # Partial responses: stop at a random point; everything after the last answer given is
        # "not reached" (so a skip just before dropping out counts as not reached too).
        partial = ~respondents["completed"].to_numpy()[rows]
        stop = rng.integers(1, len(ids), size=rows.size)
        cut = partial[:, None] & (np.arange(len(ids))[None, :] >= stop[:, None])
        reason[cut] = MISSING_REASONS.index("skipped")
        given = reason != MISSING_REASONS.index("skipped")
        given[reason == -1] = True
        last = np.where(given.any(axis=1), len(ids) - 1 - np.argmax(given[:, ::-1], axis=1), -1)
        after = partial[:, None] & (np.arange(len(ids))[None, :] > last[:, None])
        reason[after] = MISSING_REASONS.index("not_reached")
        value = np.where(reason == -1, y, 0).astype(np.int8)
        frames.append((rows, ids, value, reason))

    item_categories = pd.CategoricalDtype(item_ids)
    resp_ids = pd.Categorical(respondent_ids)
    parts = []
    for rows, ids, value, reason in frames:
        k = len(ids)
        codes = np.asarray(item_categories.categories.get_indexer(ids))
        parts.append(pd.DataFrame({
            "wave_id": pd.Categorical.from_codes(np.repeat(wave_index[rows], k), [w.id for w in waves]),
            "collaboration_id": pd.Categorical.from_codes(np.repeat(coll_index[rows], k), programme.collaboration_ids),
            "respondent_id": pd.Categorical.from_codes(np.repeat(resp_ids.codes[rows], k), resp_ids.categories),
            "item_id": pd.Categorical.from_codes(np.tile(codes, rows.size), dtype=item_categories),
            "value": pd.arrays.IntegerArray(value.ravel(), reason.ravel() != -1),
            "missing_reason": pd.Categorical.from_codes(reason.ravel(), list(MISSING_REASONS)),
            "_order": np.repeat(rows, k),
        }))
    responses = pd.concat(parts, ignore_index=True)
    responses = responses.sort_values("_order", kind="stable").drop(columns="_order")

    selections, main_mode, agreement = _value_modes(rng, programme, respondents, u[:, k_of["PS"]] if "PS" in k_of else np.zeros(C))
    network = _network(rng, programme, respondents, u[:, k_of["BL"]] if "BL" in k_of else np.zeros(C))
    respondents["main_value_mode"] = main_mode
    respondents["respondent_id"] = respondent_ids
    selections = pd.concat([selections, network], ignore_index=True)
    selections["respondent_id"] = respondent_ids[selections.pop("row").to_numpy()]
    comments = _comments(rng, respondents, settings)

    respondents["wave_id"] = [waves[w].id for w in wave_index]
    respondents["collaboration_id"] = np.array(programme.collaboration_ids)[coll_index]
    respondents["instrument_version"] = [waves[w].instrument_version for w in wave_index]
    for table in (selections, comments):
        table["wave_id"] = respondents["wave_id"].to_numpy()[table["_row"].to_numpy()]
        table["collaboration_id"] = respondents["collaboration_id"].to_numpy()[table["_row"].to_numpy()]
    data = make_survey_data(respondents, responses, selections, comments)

    # Invited numbers, for response rates.
    rate = rng.uniform(*settings.response_rate, size=C)
    counts = respondents.groupby(["c", "w"]).size()
    collaborations = []
    for c, col in enumerate(programme.collaborations):
        invited = {waves[w].id: int(math.ceil(counts.get((c, w), 0) / rate[c]))
                   for w in range(W) if counts.get((c, w), 0) > 0}
        collaborations.append(replace(col, invited=invited))
    programme = replace(programme, collaborations=tuple(collaborations))

    truth = _truth(family, programme, waves, characteristics, mu, trend, slope, item_ids,
                   item_info, loading, shift, settings, r_between, r_within, agreement)
    return SimulatedProgramme(programme=programme, instrument=family, data=data, truth=truth,
                              settings=settings, seed=seed)


def _draw_respondents(rng, programme: Programme, waves, settings) -> tuple[pd.DataFrame, int]:
    """Respondents of every wave, with panel members carried over from the wave before."""
    lo, hi = settings.respondents
    C = len(programme.collaborations)
    base = np.exp(rng.uniform(math.log(lo), math.log(hi), size=C))
    frames, next_person, previous = [], 0, None
    for w in range(len(waves)):
        n_cw = np.clip(np.rint(base * np.exp(rng.normal(0, 0.15, size=C))), lo, hi).astype(int)
        c = np.repeat(np.arange(C), n_cw)
        person = np.full(c.size, -1)
        if previous is not None:
            # Each collaboration keeps a random panel_share of the smaller of the two waves.
            prev = previous.assign(r=rng.random(len(previous)))
            prev["rank"] = prev.groupby("c")["r"].rank(method="first").astype(int) - 1
            keep_n = np.floor(settings.panel_share * np.minimum(n_cw, np.bincount(prev["c"], minlength=C))).astype(int)
            returning = prev[prev["rank"] < keep_n[prev["c"].to_numpy()]]
            start = np.concatenate([[0], np.cumsum(n_cw)[:-1]])
            slot = start[returning["c"].to_numpy()] + returning["rank"].to_numpy()
            person[slot] = returning["person"].to_numpy()
        new = person < 0
        person[new] = np.arange(next_person, next_person + new.sum())
        next_person += int(new.sum())
        frames.append(pd.DataFrame({"c": c, "w": w, "person": person}))
        previous = frames[-1][["c", "person"]]
    resp = pd.concat(frames, ignore_index=True)

    # Stable person attributes: partner organisation (bigger organisations send more people),
    # role and months involved at the first wave.
    n_persons = next_person
    first = resp.drop_duplicates("person").set_index("person").sort_index()
    partner_of = np.empty(n_persons, dtype=object)
    sector_of = np.empty(n_persons, dtype=object)
    sizes = {p.id: SECTOR_SIZE.get(p.sector, 1.0) * rng.lognormal(0, 0.8)
             for col in programme.collaborations for p in col.partners}
    for c, col in enumerate(programme.collaborations):
        persons = first.index[first["c"] == c].to_numpy()
        weights = np.array([sizes[p.id] for p in col.partners])
        pick = rng.choice(len(col.partners), size=persons.size, p=weights / weights.sum())
        partner_of[persons] = [col.partners[k].id for k in pick]
        sector_of[persons] = [col.partners[k].sector for k in pick]
    roles = rng.choice(list(ROLE_SHARES), size=n_persons, p=list(ROLE_SHARES.values()))
    roles = np.where(sector_of == "patient_public", "public_member", roles)
    months0 = np.clip(np.rint(rng.gamma(2.0, 10.0, size=n_persons)), 1, 600)
    first_wave = first["w"].to_numpy()
    p = resp["person"].to_numpy()
    w = resp["w"].to_numpy()
    resp["partner_id"] = partner_of[p]
    resp["sector"] = sector_of[p]
    resp["role"] = roles[p]
    resp["months_involved"] = np.minimum(
        months0[p] + (w - first_wave[p]) * settings.months_between_waves, 600).astype(int)
    resp["completed"] = rng.random(len(resp)) >= settings.partial_rate
    opens = np.array([pd.Timestamp(wave.opens, tz="UTC").value for wave in waves])
    span = np.array([(wave.closes - wave.opens).days * 86400 for wave in waves])
    offsets = (rng.random(len(resp)) * span[w]).astype(np.int64) * 1_000_000_000
    resp["submitted_at"] = pd.to_datetime(opens[w] + offsets, utc=True)
    return resp, n_persons


def _pseudonyms(rng, n: int) -> np.ndarray:
    """Random, unique, meaningless respondent tokens (stand-ins for keyed pseudonyms)."""
    tokens = np.unique(rng.integers(0, 2 ** 48, size=n + 16, dtype=np.int64))
    while tokens.size < n:
        tokens = np.unique(np.concatenate([tokens, rng.integers(0, 2 ** 48, size=n, dtype=np.int64)]))
    tokens = rng.permutation(tokens)[:n]
    return np.array([f"r{t:012x}" for t in tokens], dtype=object)


def _missingness(rng, rows, ids, item_info, dk_role, settings) -> np.ndarray:
    """Missing-reason codes (index into MISSING_REASONS, -1 = answered), independent of values."""
    dk_item = np.array([DONT_KNOW_BY_CHARACTERISTIC.get(item_info[i].characteristic, 1.0) for i in ids])
    # Role and item multipliers are normalised to average 1, so that the overall rate of
    # "don't know" is settings.dont_know_rate.
    multiplier = dk_role[rows, None] * dk_item[None, :]
    p_dk = np.clip(settings.dont_know_rate * multiplier / multiplier.mean(), 0, 0.5)
    draw = rng.random((rows.size, len(ids)))
    reason = np.full(draw.shape, -1, dtype=np.int8)
    p_na = settings.not_applicable_rate
    p_skip = settings.skip_rate
    reason[draw < p_dk] = MISSING_REASONS.index("dont_know")
    reason[(draw >= p_dk) & (draw < p_dk + p_na)] = MISSING_REASONS.index("not_applicable")
    reason[(draw >= p_dk + p_na) & (draw < p_dk + p_na + p_skip)] = MISSING_REASONS.index("skipped")
    return reason


def _value_modes(rng, programme, respondents, purpose_effect):
    """Ways of creating value chosen by each completed respondent, and the main way."""
    modes = ["shared_voice", "shared_delivery", "aligned_plans", "shared_learning"]
    c = respondents["c"].to_numpy()
    declared = np.array([[m in col.value_modes for m in modes] for col in programme.collaborations])
    main = np.array([modes.index(col.main_value_mode) for col in programme.collaborations])
    p = np.where(declared[c], 0.75, 0.12)
    chosen = rng.random(p.shape) < p
    none = ~chosen.any(axis=1)
    chosen[none, main[c[none]]] = True
    # Clearer purpose, more agreement on the main way of creating value.
    agreement = _logistic(1.0 + 2.0 * purpose_effect)
    agree = rng.random(len(c)) < agreement[c]
    random_choice = np.argmax(np.where(chosen, rng.random(chosen.shape), -1.0), axis=1)
    main_choice = np.where(agree, main[c], random_choice)
    chosen[np.arange(len(c)), main_choice] = True
    done = respondents["completed"].to_numpy()
    answered_main = done & (rng.random(len(c)) > 0.05)
    main_mode = np.where(answered_main, np.array(modes, dtype=object)[main_choice], None)
    r, m = np.nonzero(chosen & done[:, None])
    selections = pd.DataFrame({"row": r, "_row": r, "question_id": "value_modes",
                               "option_id": np.array(modes, dtype=object)[m]})
    agreement_by_id = pd.Series(agreement, index=list(programme.collaboration_ids),
                                name="main_mode_agreement")
    return selections, main_mode, agreement_by_id


def _network(rng, programme, respondents, boundary_effect):
    """Partner organisations each completed respondent worked with (ties favour own sector)."""
    c = respondents["c"].to_numpy()
    width = max(len(col.partners) for col in programme.collaborations)
    ids = np.full((len(programme.collaborations), width), None, dtype=object)
    sectors = np.full(ids.shape, None, dtype=object)
    for k, col in enumerate(programme.collaborations):
        ids[k, :len(col.partners)] = [p.id for p in col.partners]
        sectors[k, :len(col.partners)] = [p.sector for p in col.partners]
    own = respondents["partner_id"].to_numpy()
    own_sector = respondents["sector"].to_numpy()
    cand, cand_sector = ids[c], sectors[c]
    valid = (cand != None) & (cand != own[:, None])  # noqa: E711
    same = cand_sector == own_sector[:, None]
    p = _logistic(-0.9 + 1.3 * same + 1.2 * boundary_effect[c][:, None])
    tie = valid & (rng.random(p.shape) < p) & respondents["completed"].to_numpy()[:, None]
    r, k = np.nonzero(tie)
    return pd.DataFrame({"row": r, "_row": r, "question_id": "network", "option_id": cand[r, k]})


def _comments(rng, respondents, settings) -> pd.DataFrame:
    done = np.flatnonzero(respondents["completed"].to_numpy())
    rows = done[rng.random(done.size) < settings.comment_rate]
    text = np.array(COMMENTS, dtype=object)[rng.integers(len(COMMENTS), size=rows.size)]
    return pd.DataFrame({"_row": rows, "respondent_id": respondents["respondent_id"].to_numpy()[rows],
                         "question_id": "comment", "text": text})


def _truth(family, programme, waves, characteristics, mu, trend, slope, item_ids, item_info,
           loading, shift, settings, r_between, r_within, agreement) -> SimulationTruth:
    scale = family.latest.scale
    thresholds = np.array(THRESHOLDS)
    k_of = {k: j for j, k in enumerate(characteristics)}
    rows = []
    for w, wave in enumerate(waves):
        version = family.version(wave.instrument_version)
        for k in characteristics:
            ids = [i.id for i in version.items_for(k)]
            lam = np.array([loading[i] for i in ids])
            sgn = np.array([-1.0 if item_info[i].reverse else 1.0 for i in ids])
            shifts = np.array([shift[i] for i in ids])
            sd = np.sqrt(lam ** 2 + settings.acquiescence_sd ** 2 + 1 - lam ** 2)
            m = mu[:, w, k_of[k]]  # (C,)
            z = (sgn * lam * m[:, None])[:, :, None] - thresholds[None, None, :] - shifts[None, :, None]
            expected = 1 + ndtr(z / sd[None, :, None]).sum(axis=2)  # (C, items)
            expected = np.where(sgn < 0, scale.max + scale.min - expected, expected)
            for c, cid in enumerate(programme.collaboration_ids):
                rows.append((wave.id, cid, k, m[c], expected[c].mean()))
    levels = pd.DataFrame(rows, columns=["wave_id", "collaboration_id", "characteristic",
                                         "latent_mean", "expected_score"])
    C = len(programme.collaborations)
    trends = pd.DataFrame({
        "collaboration_id": np.repeat(programme.collaboration_ids, len(characteristics)),
        "characteristic": np.tile(characteristics, C),
        "trend": np.repeat(trend, len(characteristics)),
        "slope": slope.ravel(),
    })
    items = pd.DataFrame({
        "item_id": item_ids,
        "characteristic": [item_info[i].characteristic for i in item_ids],
        "loading": [loading[i] for i in item_ids],
        "reverse": [item_info[i].reverse for i in item_ids],
        "shift": [shift[i] for i in item_ids],
    })
    icc = settings.between_sd ** 2 / (settings.between_sd ** 2 + 1.0)
    return SimulationTruth(
        collaboration_levels=levels, trends=trends, items=items, thresholds=THRESHOLDS,
        between_correlation=pd.DataFrame(r_between, index=characteristics, columns=characteristics),
        within_correlation=pd.DataFrame(r_within, index=characteristics, columns=characteristics),
        latent_icc=pd.Series(icc, index=characteristics, name="latent_icc"),
        main_mode_agreement=agreement,
    )
