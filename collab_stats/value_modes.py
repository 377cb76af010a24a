"""Ways of creating value and clarity of purpose: what partners say their collaboration is for.

Two questions of the survey feed this module (see :mod:`collab_stats.schema`):

``value_modes``
    a multi-select, "In which ways does this collaboration create value?", one row of
    ``selections`` per mode chosen;
``main_value_mode``
    a single choice, "Which one of these is the collaboration's main way of creating value?",
    a column of ``respondents``.

Each collaboration *declares* its ways of creating value and its main one in the programme
(:class:`~collab_stats.programme.Collaboration`). The functions compare the two, per wave and
collaboration:

* :func:`value_mode_distribution` - how many partners chose each mode, and whether it is declared;
* :func:`main_mode_agreement` - how far partners agree on the main mode, and on the declared one;
* :func:`main_mode_kappa` - Fleiss' kappa for the whole programme in each wave;
* :func:`declared_match` - do the modes most partners perceive match the declared ones?
* :func:`fleiss_kappa` - the statistic itself, for a subjects x categories table of counts.

Missing data
------------
A respondent *answered* the multi-select when they chose at least one mode (an empty
multi-select cannot be told apart from an unanswered one) and the main-mode question when
``main_value_mode`` is not missing. Respondents who did not answer are not used for that
question and are never imputed; every table reports how many respondents there were
(``n_respondents``) and how many answered (``n_answered``). A respondent who chose the same
mode twice counts once. A figure that needs more answers than there are is NaN and the row's
``reason`` says why; no function raises for too little data.

Rows are the waves x collaborations that have at least one respondent, in the programme's
order of waves and collaborations. Everything is computed for all of them at once from
grouped counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._cells import wave_collaboration_cells
from ._params import check_number
from .errors import DataSchemaError, ParameterError, Problem, ProgrammeError
from .programme import Programme
from .schema import SurveyData, respondent_rows

__all__ = [
    "VALUE_MODES",
    "KappaResult",
    "declared_match",
    "fleiss_kappa",
    "main_mode_agreement",
    "main_mode_kappa",
    "value_mode_distribution",
]

#: The four ways of creating value of the collaboration framework, in the framework's order.
VALUE_MODES: tuple[str, ...] = ("shared_voice", "shared_delivery", "aligned_plans",
                                "shared_learning")


# --- the statistic ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KappaResult:
    """Fleiss' kappa for a subjects x categories table of counts.

    Attributes
    ----------
    estimate : float
        Kappa; NaN when it cannot be computed (see ``reason``).
    observed_agreement : float
        P-bar, the (weighted) mean share of agreeing pairs of ratings within a subject.
    chance_agreement : float
        P-bar_e = sum_j p_j^2, with p_j the share of all ratings in category j.
    n_subjects : int
        Rows of the table (subjects).
    n_subjects_used : int
        Subjects with at least two ratings (the only ones that carry pairs).
    n_ratings : int
        All ratings in the table (they all enter the category shares p_j).
    equal_raters : bool
        Every subject has the same number of ratings (Fleiss' 1971 design).
    reason : str
        Empty when ``estimate`` is available; otherwise why it is NaN.
    """

    estimate: float
    observed_agreement: float
    chance_agreement: float
    n_subjects: int
    n_subjects_used: int
    n_ratings: int
    equal_raters: bool
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        return pd.DataFrame([asdict(self)])


def _kappa_parts(counts: np.ndarray, group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Fleiss' kappa pieces for every group of subjects at once.

    ``counts`` is subjects x categories, ``group`` the group of each subject (0..n_groups-1).
    Per subject: the pairwise agreement ``p_i`` (NaN below 2 ratings) and the disagreement term
    (m_i^2 - sum_j x_ij^2) / m_i = (m_i - 1)(1 - p_i). Per group: chance agreement, the
    (m_i - 1)-weighted observed agreement and kappa.
    """
    x = counts.astype(float)
    m = x.sum(axis=1)
    sq = (x * x).sum(axis=1)
    safe_m = np.where(m > 0, m, 1.0)
    disagreement = np.where(m > 0, (m * m - sq) / safe_m, 0.0)
    pairs = np.where(m >= 2, m * (m - 1), np.nan)
    p_subject = (sq - m) / pairs
    pooled = np.zeros((n_groups, x.shape[1]))
    np.add.at(pooled, group, x)
    total = pooled.sum(axis=1)
    share = pooled / np.where(total > 0, total, 1.0)[:, None]
    chance = np.where(total > 0, (share * share).sum(axis=1), np.nan)
    weight = np.bincount(group, weights=np.maximum(m - 1, 0.0), minlength=n_groups)
    dis = np.bincount(group, weights=disagreement, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(weight > 0, 1.0 - dis / np.where(weight > 0, weight, 1.0), np.nan)
        ok = (weight > 0) & (chance < 1)
        kappa = np.where(ok, (observed - chance) / np.where(ok, 1.0 - chance, 1.0), np.nan)
    return {"m": m, "p_subject": p_subject, "chance": chance, "observed": observed,
            "kappa": kappa, "weight": weight, "total": total}


def fleiss_kappa(counts: Any) -> KappaResult:
    """Fleiss' kappa for many raters, allowing a different number of ratings per subject.

    Parameters
    ----------
    counts : array-like of shape (n_subjects, n_categories)
        ``counts[i, j]`` is the number of ratings of subject ``i`` in category ``j``
        (non-negative whole numbers). Subjects may have different numbers of ratings
        ``m_i = sum_j counts[i, j]``, including 0 or 1.

    Returns
    -------
    KappaResult
        NaN with a reason when no subject has two ratings or when every rating falls in one
        category (chance agreement 1).

    Notes
    -----
    With ``x_ij`` the counts, ``m_i`` the ratings of subject ``i``, ``p_j`` the share of all
    ratings in category ``j`` and ``q_j = 1 - p_j``, the estimator of Fleiss, Levin & Paik
    (2003, ch. 18, multiple ratings per subject with different raters) is

    .. math:: \\kappa = 1 - \\frac{\\sum_i \\sum_j x_{ij}(m_i - x_{ij}) / m_i}
              {\\sum_i (m_i - 1) \\, \\sum_j p_j q_j}.

    Writing ``P_i = sum_j x_ij (x_ij - 1) / (m_i (m_i - 1))`` for the share of agreeing pairs
    of ratings of subject ``i`` and ``P_e = sum_j p_j^2``, it equals ``(P - P_e) / (1 - P_e)``
    with ``P = sum_i (m_i - 1) P_i / sum_i (m_i - 1)``: kappa is the ``(m_i - 1)``-weighted mean
    of the per-subject chance-corrected agreements ``(P_i - P_e) / (1 - P_e)``. With the same
    number of ratings for every subject the weights are equal and it is Fleiss' (1971) kappa
    (``statsmodels.stats.inter_rater.fleiss_kappa``, R's ``irr::kappam.fleiss``). Subjects with
    one rating add to the shares ``p_j`` but carry no pair.

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological
    Bulletin 76, 378-382. doi:10.1037/h0031619

    Fleiss, J. L., Levin, B., & Paik, M. C. (2003). Statistical Methods for Rates and
    Proportions (3rd ed.), chapter 18. Wiley. doi:10.1002/0471445428

    Examples
    --------
    The equivalent R call, for equal numbers of raters (package ``irr``, one row per subject
    and one column per rater)::

        irr::kappam.fleiss(ratings)

    >>> res = fleiss_kappa([[3, 0], [0, 3], [2, 1]])
    >>> round(res.estimate, 6), res.n_subjects_used, res.equal_raters
    (0.55, 3, True)
    """
    table = _as_counts(counts)
    parts = _kappa_parts(table, np.zeros(table.shape[0], dtype=np.int64), 1)
    m = parts["m"]
    reasons = []
    if parts["weight"][0] == 0:
        reasons.append("no subject has two or more ratings")
    elif not parts["chance"][0] < 1:
        reasons.append("every rating is in one category, so chance agreement is 1")
    rated = m[m > 0]
    return KappaResult(
        estimate=float(parts["kappa"][0]),
        observed_agreement=float(parts["observed"][0]),
        chance_agreement=float(parts["chance"][0]),
        n_subjects=int(table.shape[0]),
        n_subjects_used=int((m >= 2).sum()),
        n_ratings=int(m.sum()),
        equal_raters=bool(rated.size == m.size and np.all(m == m[0])) if m.size else False,
        reason="; ".join(reasons),
    )


def _as_counts(counts: Any) -> np.ndarray:
    try:
        table = np.asarray(counts, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError("counts must be a 2-D array of non-negative whole numbers; got "
                             f"{type(counts).__name__}") from None
    if table.ndim != 2 or table.shape[1] < 1:
        raise ParameterError("counts must be a 2-D array (subjects x categories) with at least "
                             f"one category; got shape {table.shape}")
    bad = ~(np.isfinite(table) & (table >= 0) & (table == np.round(table)))
    if bad.any():
        raise ParameterError("counts must hold non-negative whole numbers (no NaN); got "
                             f"values such as {table[bad][:3].tolist()}")
    return table


# --- inputs -----------------------------------------------------------------------------------


def _check_modes(modes: Sequence[str] | None, programme: Programme) -> tuple[str, ...]:
    if modes is None:
        modes = VALUE_MODES
    if isinstance(modes, str) or not isinstance(modes, Sequence):
        raise ParameterError(f"modes must be a sequence of mode ids; got {modes!r}")
    modes = tuple(modes)
    if not modes or not all(isinstance(m, str) and m for m in modes) or len(set(modes)) != len(modes):
        raise ParameterError("modes must be a non-empty sequence of distinct, non-empty mode ids; "
                             f"got {modes!r}")
    problems = []
    for k, col in enumerate(programme.collaborations):
        unknown = [m for m in col.value_modes if m not in modes]
        if col.main_value_mode is not None and col.main_value_mode not in modes:
            unknown.append(col.main_value_mode)
        if unknown:
            problems.append(Problem(f"collaborations[{k}] ({col.id})",
                                    f"declares modes {sorted(set(unknown))} that are not in "
                                    f"modes {list(modes)}"))
    if problems:
        raise ProgrammeError(programme.id, problems)
    return modes


def _check_inputs(data: Any, programme: Any) -> None:
    if not isinstance(data, SurveyData):
        raise ParameterError(f"data must be a SurveyData; got {type(data).__name__}")
    if not isinstance(programme, Programme):
        raise ParameterError(f"programme must be a Programme; got {type(programme).__name__}")


def _mode_codes(values: pd.Series, modes: tuple[str, ...], where: str) -> np.ndarray:
    """Codes of answered modes (-1 where missing); unknown modes are a data error."""
    raw = values.astype(object)
    present = raw.notna().to_numpy()
    codes = pd.Index(modes).get_indexer(raw.where(present, None))
    codes = np.where(present, codes, -1)
    unknown = sorted(set(raw[present & (codes < 0)]))
    if unknown:
        raise DataSchemaError("survey data", [Problem(
            where, f"ways of creating value not in modes {list(modes)}: {unknown[:10]}")])
    return codes.astype(np.int64)


def _selection_rows(data: SurveyData, question: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The selections of one question and the position of each one's respondent."""
    sel = data.selections[data.selections["question_id"].astype(object) == question]
    row = respondent_rows(sel, data.respondents)
    if (row < 0).any():
        raise DataSchemaError("survey data", [Problem(
            "selections", f"{int((row < 0).sum())} {question} rows belong to no respondent")])
    return sel, row


# --- the tables -------------------------------------------------------------------------------


def _distribution(data: SurveyData, programme: Programme, modes: tuple[str, ...]):
    resp = data.respondents
    cells, cell_of, collab_of_cell = wave_collaboration_cells(resp, programme)
    n_cells, n_modes = len(cells), len(modes)
    sel, row = _selection_rows(data, "value_modes")
    code = _mode_codes(sel["option_id"], modes, "selections.option_id (value_modes)")
    keep = code >= 0
    pairs = np.unique(row[keep] * n_modes + code[keep])  # distinct respondent x mode
    r, m = pairs // n_modes, pairs % n_modes
    chosen = np.zeros((n_cells, n_modes), dtype=np.int64)
    np.add.at(chosen, (cell_of[r], m), 1)
    answered = np.bincount(cell_of[np.unique(r)], minlength=n_cells)
    n_resp = np.bincount(cell_of, minlength=n_cells)
    declared = np.array([[mode in col.value_modes for mode in modes]
                         for col in programme.collaborations], dtype=bool).reshape(-1, n_modes)
    main = np.array([[mode == col.main_value_mode for mode in modes]
                     for col in programme.collaborations], dtype=bool).reshape(-1, n_modes)
    return cells, chosen, answered, n_resp, declared[collab_of_cell], main[collab_of_cell]


def value_mode_distribution(
    data: SurveyData, programme: Programme, *, modes: Sequence[str] | None = None
) -> pd.DataFrame:
    """How many partners say their collaboration creates value in each way, per wave.

    Parameters
    ----------
    data : SurveyData
        Survey answers; the ``value_modes`` rows of ``selections`` are used.
    programme : Programme
        Gives each collaboration's declared ways of creating value.
    modes : sequence of str, optional
        The ways of creating value, in reporting order. Default :data:`VALUE_MODES`. A mode in
        the data or the programme that is not listed is an error.

    Returns
    -------
    DataFrame
        One row per wave x collaboration (with respondents) x mode:

        ``wave_id``, ``collaboration_id``, ``value_mode``
        ``declared`` - the collaboration declares this mode;
        ``declared_main`` - it is the collaboration's declared main mode;
        ``n_respondents`` - respondents of the collaboration in the wave;
        ``n_answered`` - of them, respondents who chose at least one mode;
        ``n_chosen`` - of them, respondents who chose this mode;
        ``share`` - ``n_chosen / n_answered`` (NaN when nobody answered);
        ``reason`` - why ``share`` is NaN, else empty.

    Notes
    -----
    ``share`` is a proportion of respondents, not of choices: the shares of a collaboration
    add up to the mean number of modes chosen, not to 1.

    Examples
    --------
    The equivalent R (dplyr) code::

        sel |> filter(question_id == "value_modes") |> distinct() |>
          count(wave_id, collaboration_id, option_id, name = "n_chosen")

    divided by the number of respondents with at least one mode.

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> table = value_mode_distribution(sim.data, sim.programme)
    >>> len(table) == 3 * len(VALUE_MODES)
    True
    """
    _check_inputs(data, programme)
    modes = _check_modes(modes, programme)
    cells, chosen, answered, n_resp, declared, main = _distribution(data, programme, modes)
    n_modes = len(modes)
    a = np.repeat(answered, n_modes)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(a > 0, chosen.ravel() / np.where(a > 0, a, 1), np.nan)
    return pd.DataFrame({
        "wave_id": np.repeat(cells["wave_id"].to_numpy(), n_modes),
        "collaboration_id": np.repeat(cells["collaboration_id"].to_numpy(), n_modes),
        "value_mode": np.tile(np.array(modes, dtype=object), len(cells)),
        "declared": declared.ravel(),
        "declared_main": main.ravel(),
        "n_respondents": np.repeat(n_resp, n_modes),
        "n_answered": a,
        "n_chosen": chosen.ravel(),
        "share": share,
        "reason": np.where(a > 0, "", "no respondent chose any way of creating value"),
    })


def _main_counts(data: SurveyData, programme: Programme, modes: tuple[str, ...]):
    resp = data.respondents
    cells, cell_of, collab_of_cell = wave_collaboration_cells(resp, programme)
    code = _mode_codes(resp["main_value_mode"], modes, "respondents.main_value_mode")
    counts = np.zeros((len(cells), len(modes)), dtype=np.int64)
    ok = code >= 0
    np.add.at(counts, (cell_of[ok], code[ok]), 1)
    n_resp = np.bincount(cell_of, minlength=len(cells))
    wave_of_cell = pd.Index(pd.unique(cells["wave_id"])).get_indexer(cells["wave_id"])
    return cells, counts, n_resp, collab_of_cell, wave_of_cell.astype(np.int64)


def main_mode_agreement(
    data: SurveyData, programme: Programme, *, modes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Do partners agree on their collaboration's main way of creating value, and on the
    declared one?

    Parameters
    ----------
    data : SurveyData
        Survey answers; ``respondents.main_value_mode`` is used.
    programme : Programme
        Gives each collaboration's declared main way of creating value.
    modes : sequence of str, optional
        The ways of creating value. Default :data:`VALUE_MODES`.

    Returns
    -------
    DataFrame
        One row per wave x collaboration with respondents:

        ``wave_id``, ``collaboration_id``
        ``n_respondents``, ``n_answered`` - respondents, and those who named a main mode;
        ``modal_mode`` - the mode named most often (missing when none was named or when
        several tie; ``n_modal_modes`` says how many tie);
        ``modal_share`` - share of answers naming the modal mode(s);
        ``declared_main_mode`` - the programme's main mode for the collaboration (may be
        missing);
        ``declared_share`` - share of answers naming the declared main mode;
        ``declared_is_modal`` - the declared main mode is named at least as often as any
        other (also True when it ties for first place; missing when it cannot be judged);
        ``observed_agreement`` - P_o, the share of pairs of respondents naming the same mode;
        ``chance_agreement`` - P_e, from the wave's programme-wide shares of main modes;
        ``kappa`` - agreement above chance, ``(P_o - P_e) / (1 - P_e)``;
        ``reason`` - why a figure is missing, else empty.

    Notes
    -----
    *Why not Fleiss' kappa per collaboration.* Each partner rates one "subject", their own
    collaboration. Fleiss' kappa computed for a single subject takes its chance agreement from
    that subject's own answers and is then always ``-1 / (n - 1)``, whatever the answers: it
    carries no information. Chance must come from elsewhere, and the natural reference is the
    programme. So for collaboration ``c`` with ``n_j`` respondents naming mode ``j``
    (``n = sum_j n_j``):

    .. math:: P_o = \\frac{\\sum_j n_j (n_j - 1)}{n (n - 1)}, \\qquad
              P_e = \\sum_j p_j^2, \\qquad \\kappa_c = \\frac{P_o - P_e}{1 - P_e},

    where ``p_j`` is the share of *all* the wave's main-mode answers (every collaboration, the
    collaboration itself included) naming ``j``. ``P_o`` is the chance that two different
    partners of the collaboration name the same mode; ``P_e`` the chance that two answers drawn
    at random from the whole programme do. ``kappa_c`` is 1 when every partner names the same
    mode, 0 when they agree no more than partners picked from across the programme would, and
    negative when they agree less.

    These are the per-subject terms of Fleiss' kappa for many raters and unequal numbers of
    raters (Fleiss, Levin & Paik 2003, ch. 18) with collaborations as subjects and partners as
    raters: the programme's kappa in :func:`main_mode_kappa` is the ``(n - 1)``-weighted mean of
    ``kappa_c`` over the wave's collaborations. Because ``P_e`` is programme-wide, ``kappa_c``
    is low when most collaborations share one main mode even if the collaboration's own
    partners agree (compare ``observed_agreement`` and ``declared_share``).

    ``observed_agreement`` and ``kappa`` need two answers; ``kappa`` is missing when every
    answer in the wave names one mode (``P_e = 1``).

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological
    Bulletin 76, 378-382. doi:10.1037/h0031619

    Fleiss, J. L., Levin, B., & Paik, M. C. (2003). Statistical Methods for Rates and
    Proportions (3rd ed.), chapter 18. Wiley. doi:10.1002/0471445428

    Examples
    --------
    No R function gives the per-collaboration term; in R::

        tab <- table(d$collaboration_id, d$main_value_mode)   # one wave
        p <- colSums(tab) / sum(tab); pe <- sum(p^2)
        po <- (rowSums(tab^2) - rowSums(tab)) / (rowSums(tab) * (rowSums(tab) - 1))
        (po - pe) / (1 - pe)

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> table = main_mode_agreement(sim.data, sim.programme)
    >>> table[["wave_id", "collaboration_id"]].shape
    (3, 2)
    """
    _check_inputs(data, programme)
    modes = _check_modes(modes, programme)
    cells, counts, n_resp, collab_of_cell, wave_of_cell = _main_counts(data, programme, modes)
    n_waves = int(wave_of_cell.max()) + 1 if len(cells) else 0
    parts = _kappa_parts(counts, wave_of_cell, n_waves)
    m = parts["m"]
    chance = parts["chance"][wave_of_cell]
    p_o = parts["p_subject"]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(chance < 1, (p_o - chance) / np.where(chance < 1, 1 - chance, 1), np.nan)
    top = counts.max(axis=1, initial=0)
    n_top = np.where(m > 0, (counts == top[:, None]).sum(axis=1), 0)
    modes_arr = np.array(modes, dtype=object)
    modal = np.where((m > 0) & (n_top == 1), modes_arr[counts.argmax(axis=1)], None)
    declared = [programme.collaborations[k].main_value_mode for k in collab_of_cell]
    d_code = np.array([modes.index(d) if d is not None else -1 for d in declared], dtype=np.int64)
    d_count = np.where(d_code >= 0, counts[np.arange(len(cells)), np.maximum(d_code, 0)], 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(m > 0, m, 1)
        modal_share = np.where(m > 0, top / safe, np.nan)
        declared_share = np.where((m > 0) & (d_code >= 0), d_count / safe, np.nan)
    is_modal = pd.array(d_count == top, dtype="boolean")
    is_modal[(m == 0) | (d_code < 0)] = pd.NA

    reasons = []
    for k in range(len(cells)):
        why = []
        if m[k] == 0:
            why.append("no respondent named a main way of creating value")
        elif m[k] == 1:
            why.append("only 1 respondent named a main way of creating value; agreement needs 2")
        elif not chance[k] < 1:
            why.append("every answer in the wave names the same mode, so chance agreement is 1 "
                       "and kappa is undefined")
        if m[k] > 0 and n_top[k] > 1:
            tied = ", ".join(modes_arr[counts[k] == top[k]])
            why.append(f"modal_mode: {n_top[k]} modes tie ({tied})")
        if d_code[k] < 0:
            why.append("the programme declares no main way of creating value for the collaboration")
        reasons.append("; ".join(why))
    return pd.DataFrame({
        "wave_id": cells["wave_id"].to_numpy(),
        "collaboration_id": cells["collaboration_id"].to_numpy(),
        "n_respondents": n_resp,
        "n_answered": m.astype(np.int64),
        "modal_mode": modal,
        "n_modal_modes": n_top.astype(np.int64),
        "modal_share": modal_share,
        "declared_main_mode": np.array(declared, dtype=object),
        "declared_share": declared_share,
        "declared_is_modal": is_modal,
        "observed_agreement": p_o,
        "chance_agreement": chance,
        "kappa": kappa,
        "reason": np.array(reasons, dtype=object),
    })


def main_mode_kappa(
    data: SurveyData, programme: Programme, *, modes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Fleiss' kappa for the programme: how consistently partners of the same collaboration name
    its main way of creating value, in each wave.

    Subjects are the wave's collaborations, raters their respondents and categories the modes;
    collaborations have different numbers of respondents, so the generalisation of Fleiss'
    kappa to unequal numbers of raters is used (see :func:`fleiss_kappa`).

    Parameters
    ----------
    data : SurveyData
        Survey answers; ``respondents.main_value_mode`` is used.
    programme : Programme
        The programme (for the order of waves and the collaborations).
    modes : sequence of str, optional
        The ways of creating value. Default :data:`VALUE_MODES`.

    Returns
    -------
    DataFrame
        One row per wave with respondents: ``wave_id``, ``kappa``, ``observed_agreement``
        (P-bar), ``chance_agreement`` (P_e), ``n_collaborations`` (with respondents),
        ``n_collaborations_used`` (with at least two answers: the subjects that carry pairs),
        ``n_respondents``, ``n_answered`` (all answers; they all enter P_e),
        ``equal_raters`` (every collaboration had the same number of answers) and ``reason``.

    Notes
    -----
    ``kappa = (P - P_e) / (1 - P_e)`` with ``P = sum_c (n_c - 1) P_c / sum_c (n_c - 1)`` and
    ``P_c``, ``P_e`` as in :func:`main_mode_agreement`; equivalently the ``(n_c - 1)``-weighted
    mean of that function's ``kappa`` column. With equal numbers of answers per collaboration
    it is Fleiss' (1971) kappa.

    References
    ----------
    Fleiss, J. L. (1971). Psychological Bulletin 76, 378-382. doi:10.1037/h0031619

    Fleiss, J. L., Levin, B., & Paik, M. C. (2003). Statistical Methods for Rates and
    Proportions (3rd ed.), chapter 18. Wiley.

    Examples
    --------
    With the same number of answers per collaboration, in R (package ``irr``; one row per
    collaboration, one column per respondent)::

        irr::kappam.fleiss(ratings)

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=2)
    >>> main_mode_kappa(sim.data, sim.programme)["wave_id"].tolist()
    ['2025-03', '2025-09']
    """
    _check_inputs(data, programme)
    modes = _check_modes(modes, programme)
    cells, counts, n_resp, _, wave_of_cell = _main_counts(data, programme, modes)
    waves = pd.unique(cells["wave_id"])
    parts = _kappa_parts(counts, wave_of_cell, len(waves))
    m = parts["m"]
    n_w = len(waves)
    n_coll = np.bincount(wave_of_cell, minlength=n_w)
    n_used = np.bincount(wave_of_cell, weights=(m >= 2), minlength=n_w).astype(np.int64)
    rated = pd.Series(m).groupby(wave_of_cell)
    equal = (rated.min() == rated.max()).reindex(range(n_w), fill_value=False).to_numpy()
    reasons = np.where(
        n_used == 0, "no collaboration has two or more answers",
        np.where(parts["chance"] < 1, "",
                 "every answer in the wave names the same mode, so chance agreement is 1"))
    return pd.DataFrame({
        "wave_id": np.asarray(waves, dtype=object),
        "kappa": parts["kappa"],
        "observed_agreement": parts["observed"],
        "chance_agreement": parts["chance"],
        "n_collaborations": n_coll,
        "n_collaborations_used": n_used,
        "n_respondents": np.bincount(wave_of_cell, weights=n_resp, minlength=n_w).astype(np.int64),
        "n_answered": parts["total"].astype(np.int64),
        "equal_raters": equal.astype(bool),
        "reason": reasons.astype(object),
    })


def declared_match(
    data: SurveyData,
    programme: Programme,
    *,
    threshold: float = 0.5,
    modes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Do the ways of creating value that partners perceive match the declared ones?

    A mode is *perceived* when at least ``threshold`` of the respondents who answered the
    ``value_modes`` question chose it.

    Parameters
    ----------
    data : SurveyData
        Survey answers; the ``value_modes`` rows of ``selections`` are used.
    programme : Programme
        Gives each collaboration's declared ways of creating value.
    threshold : float, default 0.5
        Share of answering respondents who must choose a mode for it to count as perceived,
        in (0, 1]; the default is "at least half".
    modes : sequence of str, optional
        The ways of creating value, in reporting order. Default :data:`VALUE_MODES`.

    Returns
    -------
    DataFrame
        One row per wave x collaboration with respondents: ``wave_id``, ``collaboration_id``,
        ``n_respondents``, ``n_answered``, ``declared_modes``, ``perceived_modes``,
        ``missing_modes`` (declared, not perceived), ``extra_modes`` (perceived, not
        declared) - tuples of mode ids in the order of ``modes`` - their sizes
        ``n_declared``, ``n_perceived``, ``n_missing``, ``n_extra``; ``jaccard``; ``match``
        (perceived and declared sets are equal; missing when nobody answered) and ``reason``.

    Notes
    -----
    With D the declared and P the perceived set, ``jaccard = |D & P| / |D | P|`` (Jaccard 1912):
    1 when they are the same, 0 when they share no mode. It is NaN when nobody answered, or
    when both sets are empty. One wave x collaboration per row, so changes of perception
    between waves stay visible (panel respondents would be counted twice if waves were pooled).

    References
    ----------
    Jaccard, P. (1912). The distribution of the flora in the alpine zone. New Phytologist 11,
    37-50. doi:10.1111/j.1469-8137.1912.tb05611.x

    Examples
    --------
    In R, given ``share`` (one row per wave, collaboration and mode) and ``declared``::

        perceived <- share$option_id[share$share >= 0.5]
        length(intersect(perceived, declared)) / length(union(perceived, declared))

    >>> from collab_stats import simulate_programme
    >>> sim = simulate_programme(seed=1, n_collaborations=3, n_waves=1)
    >>> table = declared_match(sim.data, sim.programme)
    >>> bool(table["jaccard"].between(0, 1).all())
    True
    """
    _check_inputs(data, programme)
    check_number("threshold", threshold, low=0.0, high=1.0, low_open=True)
    modes = _check_modes(modes, programme)
    cells, chosen, answered, n_resp, declared, _ = _distribution(data, programme, modes)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = chosen / np.where(answered > 0, answered, 1)[:, None]
    perceived = (share >= threshold) & (answered > 0)[:, None]
    both = (declared & perceived).sum(axis=1)
    either = (declared | perceived).sum(axis=1)
    has = answered > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(has & (either > 0), both / np.where(either > 0, either, 1), np.nan)
    missing = declared & ~perceived & has[:, None]
    extra = perceived & ~declared
    modes_arr = np.array(modes, dtype=object)

    def sets(mask: np.ndarray) -> list[tuple[str, ...]]:
        return [tuple(modes_arr[row]) for row in mask]

    match = pd.array((declared == perceived).all(axis=1), dtype="boolean")
    match[~has] = pd.NA
    reason = np.where(~has, "no respondent chose any way of creating value",
                      np.where(either == 0, "no mode is declared or perceived", ""))
    return pd.DataFrame({
        "wave_id": cells["wave_id"].to_numpy(),
        "collaboration_id": cells["collaboration_id"].to_numpy(),
        "n_respondents": n_resp,
        "n_answered": answered,
        "declared_modes": sets(declared),
        "perceived_modes": sets(perceived),
        "missing_modes": sets(missing),
        "extra_modes": sets(extra),
        "n_declared": declared.sum(axis=1),
        "n_perceived": np.where(has, perceived.sum(axis=1), 0),
        "n_missing": missing.sum(axis=1),
        "n_extra": extra.sum(axis=1),
        "jaccard": jaccard,
        "match": match,
        "reason": reason.astype(object),
    })
