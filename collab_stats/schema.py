"""The canonical survey data: one tidy schema that every reader produces and every analysis
reads.

A :class:`SurveyData` holds four tidy tables. Identifier columns are pandas ``category``.

``respondents`` - one row per respondent per wave (key: ``wave_id``, ``respondent_id``)
    ============================ ================ =============================================
    column                       dtype            meaning
    ============================ ================ =============================================
    wave_id                      category         programme wave id
    collaboration_id             category         collaboration answered about
    respondent_id                category         keyed pseudonym; the same person has the same
                                                  pseudonym in every wave (panel link), never a
                                                  raw id, name or e-mail address
    instrument_version           category         instrument version the wave used
    partner_id                   category         partner organisation (NA if not given)
    sector                       category         sector of the organisation (NA if not given)
    role                         category         role in the collaboration (NA if not given)
    months_involved              Int16            months involved (NA if not given)
    main_value_mode              category         main way of creating value (NA if not given)
    completed                    bool             reached the end of the survey
    submitted_at                 datetime64[UTC]  when the response was submitted
    ============================ ================ =============================================

``responses`` - one row per respondent per item of the wave's instrument version
    (key: ``wave_id``, ``respondent_id``, ``item_id``)
    ============================ ================ =============================================
    wave_id, collaboration_id,   category
    respondent_id
    item_id                      category         item id of the instrument version
    value                        Int8             the answer code as given (1-5, *not* reverse-
                                                  keyed); NA when the item has no value
    missing_reason               category         NA when answered; else one of ``dont_know``,
                                                  ``not_applicable`` (chosen by the respondent),
                                                  ``skipped`` (left blank), ``not_reached``
                                                  (after the last answer of an incomplete
                                                  response)
    ============================ ================ =============================================

``selections`` - one row per option chosen in a multi-select question
    (``wave_id``, ``collaboration_id``, ``respondent_id``, ``question_id`` - ``value_modes`` or
    ``network`` - and ``option_id``: a way of creating value, or a partner organisation id).

``comments`` - free-text answers, kept apart because they may identify someone
    (``wave_id``, ``collaboration_id``, ``respondent_id``, ``question_id``, ``text``).

The wide form (:func:`to_wide`) has one row per respondent and wave: the ``respondents``
columns followed by one column per item. :func:`from_wide` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataSchemaError, Problem
from .instrument.model import ANSWER_MISSING_REASONS, MISSING_REASONS, Instrument, InstrumentFamily

__all__ = [
    "COMMENT_COLUMNS",
    "RESPONDENT_COLUMNS",
    "RESPONSE_COLUMNS",
    "SELECTION_COLUMNS",
    "SurveyData",
    "from_wide",
    "make_survey_data",
    "respondent_rows",
    "to_wide",
    "validate_survey_data",
]

KEY = ["wave_id", "respondent_id"]
RESPONDENT_COLUMNS: dict[str, str] = {
    "wave_id": "category",
    "collaboration_id": "category",
    "respondent_id": "category",
    "instrument_version": "category",
    "partner_id": "category",
    "sector": "category",
    "role": "category",
    "months_involved": "Int16",
    "main_value_mode": "category",
    "completed": "bool",
    "submitted_at": "datetime64[ns, UTC]",
}
RESPONSE_COLUMNS: dict[str, str] = {
    "wave_id": "category",
    "collaboration_id": "category",
    "respondent_id": "category",
    "item_id": "category",
    "value": "Int8",
    "missing_reason": "category",
}
SELECTION_COLUMNS: dict[str, str] = {
    "wave_id": "category",
    "collaboration_id": "category",
    "respondent_id": "category",
    "question_id": "category",
    "option_id": "category",
}
COMMENT_COLUMNS: dict[str, str] = {
    "wave_id": "category",
    "collaboration_id": "category",
    "respondent_id": "category",
    "question_id": "category",
    "text": "string",
}
MULTI_SELECT_QUESTIONS = ("value_modes", "network")
_REASON_DTYPE = pd.CategoricalDtype(list(MISSING_REASONS))
# Columns that validate_survey_data reads after checking column types.
_CHECKED_COLUMNS = frozenset(
    [f"respondents.{c}" for c in ("wave_id", "collaboration_id", "respondent_id",
                                   "instrument_version", "partner_id", "completed")]
    + [f"responses.{c}" for c in ("wave_id", "respondent_id", "item_id", "value", "missing_reason")]
)


@dataclass(frozen=True)
class SurveyData:
    """Survey answers in the canonical tidy schema (see the module documentation)."""

    respondents: pd.DataFrame
    responses: pd.DataFrame
    selections: pd.DataFrame
    comments: pd.DataFrame

    @property
    def n_respondents(self) -> int:
        return len(self.respondents)

    def wave(self, wave_id: str) -> SurveyData:
        """The rows of one wave (categories are kept, so codes stay comparable)."""
        return SurveyData(*(t[t["wave_id"] == wave_id] for t in self._tables()))

    def _tables(self) -> tuple[pd.DataFrame, ...]:
        return (self.respondents, self.responses, self.selections, self.comments)


def _codes(column: pd.Series, categories: pd.Index) -> np.ndarray:
    """Codes of a column's values in ``categories`` (-1 where absent), without string copies."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.set_categories(categories).cat.codes.to_numpy(dtype=np.int64)
    return categories.get_indexer(column.astype(object))


def respondent_rows(responses: pd.DataFrame, respondents: pd.DataFrame) -> np.ndarray:
    """For each row of a table keyed by (wave_id, respondent_id), the position of its
    respondent in ``respondents`` (-1 where there is none)."""
    fast = _respondent_rows_by_codes(responses, respondents)
    if fast is not None:
        return fast
    waves = pd.Index(pd.unique(respondents["wave_id"].astype(object)))
    people = pd.Index(pd.unique(respondents["respondent_id"].astype(object)))
    ow, orr = _codes(respondents["wave_id"], waves), _codes(respondents["respondent_id"], people)
    own = np.where((ow >= 0) & (orr >= 0), ow * len(people) + orr, -1)
    w = _codes(responses["wave_id"], waves)
    r = _codes(responses["respondent_id"], people)
    key = np.where((w >= 0) & (r >= 0), w * len(people) + r, -2)
    # A repeated key (an error validate_survey_data reports) maps to its first respondent.
    first = np.flatnonzero(~pd.Index(own).duplicated())
    found = pd.Index(own[first]).get_indexer(key)
    return np.where(found >= 0, first[found], -1)


def _shared_codes(own: pd.Series, other: pd.Series) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Codes of two categorical columns in the categories of the first (-1 in the second
    where its value is missing or not a category of the first), and how many categories;
    None unless both are categorical and the first has no missing value."""
    if not (isinstance(own.dtype, pd.CategoricalDtype)
            and isinstance(other.dtype, pd.CategoricalDtype)):
        return None
    own_codes = own.cat.codes.to_numpy(dtype=np.int64)
    if (own_codes < 0).any():
        return None
    categories = own.cat.categories
    mapper = categories.get_indexer(other.cat.categories)
    codes = other.cat.codes.to_numpy(dtype=np.int64)
    return own_codes, np.where(codes >= 0, mapper[np.maximum(codes, 0)], -1), len(categories)


def _respondent_rows_by_codes(responses: pd.DataFrame, respondents: pd.DataFrame
                              ) -> np.ndarray | None:
    """:func:`respondent_rows` from the categorical codes, with a dense lookup table when
    the (wave, respondent) pairs are few enough; None when the columns do not allow it."""
    waves = _shared_codes(respondents["wave_id"], responses["wave_id"])
    people = _shared_codes(respondents["respondent_id"], responses["respondent_id"])
    if waves is None or people is None:
        return None
    (ow, w, n_waves), (orr, r, n_people) = waves, people
    n_keys = n_waves * n_people
    if n_keys > 8 * (len(responses) + len(respondents)) + 1024:
        return None
    own = ow * n_people + orr
    # A repeated key (an error validate_survey_data reports) maps to its first respondent.
    first = np.flatnonzero(~pd.Index(own).duplicated())
    lookup = np.full(n_keys, -1, dtype=np.int64)
    lookup[own[first]] = first
    key = np.where((w >= 0) & (r >= 0), w * n_people + r, -1)
    return np.where(key >= 0, lookup[np.maximum(key, 0)], -1)


def _has_duplicate_pairs(row: np.ndarray, codes: np.ndarray, n_codes: int) -> bool:
    """Whether some (row, code) pair repeats (row >= -1, -1 <= code < n_codes)."""
    key = (row + 1) * (n_codes + 1) + (codes + 1)
    if len(key) and key.max() <= 8 * len(key) + 1024:
        return bool(np.bincount(key).max() > 1)
    return pd.Index(key).has_duplicates


def _coerce(frame: pd.DataFrame, columns: dict[str, str], name: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataSchemaError(name, [Problem(c, "column is missing") for c in missing])
    out = frame.loc[:, list(columns)].copy()
    for column, dtype in columns.items():
        if column == "missing_reason":
            if out[column].dtype != _REASON_DTYPE:
                out[column] = out[column].astype(object).astype(_REASON_DTYPE)
        elif str(out[column].dtype) != dtype:
            try:
                out[column] = out[column].astype(dtype)
            except (TypeError, ValueError) as exc:
                raise DataSchemaError(name, [Problem(column, f"cannot be read as {dtype} ({exc})")]) from None
    return out.reset_index(drop=True)


def make_survey_data(
    respondents: pd.DataFrame,
    responses: pd.DataFrame,
    selections: pd.DataFrame | None = None,
    comments: pd.DataFrame | None = None,
) -> SurveyData:
    """Build a :class:`SurveyData`, casting each table to the canonical column types.

    Extra columns are dropped; a missing column raises :class:`DataSchemaError`.
    """
    if selections is None:
        selections = pd.DataFrame({c: [] for c in SELECTION_COLUMNS})
    if comments is None:
        comments = pd.DataFrame({c: [] for c in COMMENT_COLUMNS})
    return SurveyData(
        respondents=_coerce(respondents, RESPONDENT_COLUMNS, "respondents"),
        responses=_coerce(responses, RESPONSE_COLUMNS, "responses"),
        selections=_coerce(selections, SELECTION_COLUMNS, "selections"),
        comments=_coerce(comments, COMMENT_COLUMNS, "comments"),
    )


def validate_survey_data(
    data: SurveyData,
    instrument: InstrumentFamily,
    *,
    programme=None,
) -> None:
    """Check that survey data follow the canonical schema and agree with the instrument.

    Checks column types, unique keys, that every respondent has exactly the items of their
    wave's instrument version, that a value and a missing reason are never both present or
    both absent, that values lie on the scale, that "not reached" follows the last answer of an
    incomplete response only, and (given the programme) that collaborations, partners and
    waves are known. Every problem is reported at once in a :class:`DataSchemaError`.
    """
    problems: list[Problem] = []
    add = lambda where, msg: problems.append(Problem(where, msg))  # noqa: E731
    for name, table, columns in (
        ("respondents", data.respondents, RESPONDENT_COLUMNS),
        ("responses", data.responses, RESPONSE_COLUMNS),
        ("selections", data.selections, SELECTION_COLUMNS),
        ("comments", data.comments, COMMENT_COLUMNS),
    ):
        for column, dtype in columns.items():
            if column not in table.columns:
                add(f"{name}.{column}", "column is missing")
            elif str(table[column].dtype) != dtype:
                add(f"{name}.{column}", f"has dtype {table[column].dtype}, expected {dtype}")
    # Stop here only if a column the checks below read is missing or mistyped; other type
    # problems are reported together with everything else.
    if any(p.where in _CHECKED_COLUMNS for p in problems):
        raise DataSchemaError("survey data", problems)

    resp, ans = data.respondents, data.responses
    dup = resp.duplicated(KEY)
    if dup.any():
        add("respondents", f"{int(dup.sum())} duplicate (wave_id, respondent_id) rows, e.g. "
            f"{tuple(resp.loc[dup, KEY].iloc[0])}")
    for column in ("wave_id", "collaboration_id", "respondent_id", "instrument_version"):
        if resp[column].isna().any():
            add(f"respondents.{column}", f"{int(resp[column].isna().sum())} rows have no value")

    versions = set(instrument.version_ids)
    bad_versions = set(_distinct_texts(resp["instrument_version"].dropna())) - versions
    if bad_versions:
        add("respondents.instrument_version", f"unknown versions {sorted(bad_versions)}")

    # Every respondent answers exactly the items of their version, once each.
    row = respondent_rows(ans, resp)
    orphan = row < 0
    if orphan.any():
        add("responses", f"{int(orphan.sum())} rows belong to no respondent")
    n_rows = np.bincount(row[~orphan], minlength=len(resp))
    n_items = {v.version: len(v.items) for v in instrument.versions}
    expected = resp["instrument_version"].astype(object).map(n_items).fillna(-1).to_numpy()
    wrong = np.flatnonzero(n_rows != expected)
    if wrong.size:
        first = resp.iloc[wrong[0]]
        add("responses", f"{wrong.size} respondents do not have exactly one row per item of "
            f"their instrument version, e.g. {first['wave_id']}/{first['respondent_id']}: "
            f"{n_rows[wrong[0]]} rows, expected {int(expected[wrong[0]])}")
    item_codes = ans["item_id"].cat.codes.to_numpy(dtype=np.int64)
    if _has_duplicate_pairs(row, item_codes, len(ans["item_id"].cat.categories)):
        add("responses", "duplicate (wave_id, respondent_id, item_id) rows")

    all_items = {i for v in instrument.versions for i in v.item_ids}
    unknown_items = set(_distinct_texts(ans["item_id"].dropna())) - all_items
    if unknown_items:
        add("responses.item_id", f"unknown items {sorted(unknown_items)[:10]}")
    scale = instrument.latest.scale
    has_value = ans["value"].notna().to_numpy()
    has_reason = ans["missing_reason"].notna().to_numpy()
    if (has_value & has_reason).any():
        add("responses", f"{int((has_value & has_reason).sum())} rows have both a value and a missing reason")
    if (~has_value & ~has_reason).any():
        add("responses", f"{int((~has_value & ~has_reason).sum())} rows have neither a value nor a missing reason")
    values = ans["value"].dropna().astype(int)
    out_of_range = values[(values < scale.min) | (values > scale.max)]
    if len(out_of_range):
        add("responses.value", f"{len(out_of_range)} values outside {scale.min}-{scale.max}, "
            f"e.g. {int(out_of_range.iloc[0])}")
    if (ans["missing_reason"] == "not_asked").any():
        add("responses.missing_reason", "'not_asked' belongs in wide cross-version tables only")

    # not_reached: exactly the items after the last answer of an incomplete response.
    recomputed = _not_reached(ans, resp, instrument, row)
    stated = (ans["missing_reason"] == "not_reached").to_numpy()
    if (recomputed != stated).any():
        add("responses.missing_reason", f"{int((recomputed != stated).sum())} rows mark "
            "'not_reached' other than for the items after the last answer of an incomplete response")

    if programme is not None:
        _check_against_programme(data, programme, add)
    if problems:
        raise DataSchemaError("survey data", problems)


def _distinct_texts(column: pd.Series) -> pd.Series:
    """The distinct values of a column as text (``column.astype(str)`` without repeats), in
    order of first appearance."""
    return column.drop_duplicates().astype(str)


def _check_against_programme(data: SurveyData, programme, add) -> None:
    resp = data.respondents
    waves = set(programme.wave_ids)
    unknown = set(_distinct_texts(resp["wave_id"])) - waves
    if unknown:
        add("respondents.wave_id", f"waves not in the programme: {sorted(unknown)}")
    partners = {c.id: {p.id for p in c.partners} for c in programme.collaborations}
    unknown = set(_distinct_texts(resp["collaboration_id"])) - set(partners)
    if unknown:
        add("respondents.collaboration_id", f"collaborations not in the programme: {sorted(unknown)[:10]}")
    pairs = (resp[["collaboration_id", "partner_id"]].dropna().drop_duplicates().astype(str)
             .drop_duplicates())
    bad = [(c, p) for c, p in pairs.itertuples(index=False) if p not in partners.get(c, ())]
    if bad:
        add("respondents.partner_id", f"{len(bad)} partner organisations not listed for their "
            f"collaboration, e.g. {bad[0]}")
    versions = {w.id: w.instrument_version for w in programme.waves}
    mism = resp[resp["wave_id"].astype(str).map(versions) != resp["instrument_version"].astype(str)]
    if len(mism):
        add("respondents.instrument_version", f"{len(mism)} rows differ from their wave's version")


def _not_reached(ans: pd.DataFrame, resp: pd.DataFrame, instrument: InstrumentFamily,
                 row: np.ndarray) -> np.ndarray:
    """Rows whose item comes after the respondent's last given answer, for incomplete
    responses (``row``: each response row's respondent, from :func:`respondent_rows`)."""
    ok = row >= 0
    if not ok.any():
        return np.zeros(len(ans), dtype=bool)
    # Position of each row's item within its respondent's instrument version.
    items = ans["item_id"].cat.categories
    version_code = _codes(resp["instrument_version"], pd.Index(instrument.version_ids))
    position = np.full((len(instrument.versions), len(items)), -1, dtype=np.int64)
    for v, version in enumerate(instrument.versions):
        where = items.get_indexer(list(version.item_ids))
        position[v, where[where >= 0]] = np.flatnonzero(where >= 0)
    item_code = ans["item_id"].cat.codes.to_numpy(dtype=np.int64)
    pos = np.where(ok, position[version_code[np.maximum(row, 0)], item_code], -1)
    given = ans["value"].notna().to_numpy() | ans["missing_reason"].isin(ANSWER_MISSING_REASONS).to_numpy()
    last = np.full(len(resp), -1, dtype=np.int64)
    np.maximum.at(last, row[given & ok], pos[given & ok])
    incomplete = ~resp["completed"].to_numpy(dtype=bool)
    return ok & incomplete[np.maximum(row, 0)] & (pos > last[np.maximum(row, 0)])


def to_wide(
    data: SurveyData,
    *,
    items: Sequence[str] | None = None,
    encode_missing: Instrument | None = None,
) -> pd.DataFrame:
    """Respondent x item table: the respondent columns, then one ``Int8`` column per item.

    Parameters
    ----------
    items : sequence of str, optional
        Item columns, in order; default: every item in the data, in order of appearance.
        An item not asked of a respondent (another instrument version) is NA.
    encode_missing : Instrument, optional
        When given, "don't know" and "not applicable" are written as that instrument's
        missing codes (e.g. -1, -2) instead of NA, as survey platforms export them; skipped
        and not-reached items stay NA.
    """
    resp = data.respondents.reset_index(drop=True)
    ans = data.responses
    if items is None:
        items = list(pd.unique(ans["item_id"].astype(str)))
    row = respondent_rows(ans, resp)
    col = _codes(ans["item_id"], pd.Index(list(items)))
    keep = (row >= 0) & (col >= 0)
    values = ans["value"].to_numpy(dtype="float64", na_value=np.nan)
    if encode_missing is not None:
        for code in encode_missing.scale.missing:
            values = np.where((ans["missing_reason"] == code.reason).to_numpy(), code.code, values)
    grid = np.full((len(resp), len(items)), np.nan)
    grid[row[keep], col[keep]] = values[keep]
    wide = pd.DataFrame(grid, columns=list(items)).astype("Int8")
    return pd.concat([resp, wide], axis=1)


def from_wide(
    wide: pd.DataFrame,
    instrument: InstrumentFamily,
    *,
    selections: pd.DataFrame | None = None,
    comments: pd.DataFrame | None = None,
) -> SurveyData:
    """Read a wide table (respondent columns + item columns) back into :class:`SurveyData`.

    Item columns hold answer codes: a code on the scale is a value; an instrument missing code
    (e.g. -1 "don't know") becomes that missing reason; NA becomes ``not_reached`` when it
    comes after the last answer of an incomplete response (``completed`` false) and
    ``skipped`` otherwise. Only the items of each respondent's instrument version are read.
    """
    resp = wide[[c for c in RESPONDENT_COLUMNS]].copy()
    parts = []
    for version in instrument.versions:
        rows = wide[wide["instrument_version"].astype(str) == version.version]
        if rows.empty:
            continue
        codes = rows[list(version.item_ids)].to_numpy(dtype="float64", na_value=np.nan)
        n, k = codes.shape
        reason = np.full(codes.shape, None, dtype=object)
        for code in version.scale.missing:
            reason[codes == code.code] = code.reason
        on_scale = np.isin(codes, [o.code for o in version.scale.options])
        given = on_scale | (reason != None)  # noqa: E711
        last = np.where(given.any(axis=1), k - 1 - np.argmax(given[:, ::-1], axis=1), -1)
        after_last = np.arange(k)[None, :] > last[:, None]
        incomplete = ~rows["completed"].to_numpy(dtype=bool)
        blank = np.isnan(codes)
        reason[blank] = "skipped"
        reason[blank & after_last & incomplete[:, None]] = "not_reached"
        bad = ~on_scale & ~blank & (reason == None)  # noqa: E711
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataSchemaError("wide data", [Problem(
                f"row {rows.index[r]}, column {version.item_ids[c]}",
                f"{codes[r, c]:g} is neither on the scale ({version.scale.min}-"
                f"{version.scale.max}) nor a missing code")])
        value = np.where(on_scale, codes, np.nan)
        parts.append(pd.DataFrame({
            "wave_id": np.repeat(rows["wave_id"].astype(str).to_numpy(), k),
            "collaboration_id": np.repeat(rows["collaboration_id"].astype(str).to_numpy(), k),
            "respondent_id": np.repeat(rows["respondent_id"].astype(str).to_numpy(), k),
            "item_id": np.tile(np.array(version.item_ids, dtype=object), n),
            "value": value.ravel(),
            "missing_reason": reason.ravel(),
        }))
    responses = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {c: [] for c in RESPONSE_COLUMNS})
    return make_survey_data(resp, responses, selections, comments)
