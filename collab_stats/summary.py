"""Descriptive counts of survey data: who answered, how completely, per wave."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import SurveyData

__all__ = ["response_summary"]


def response_summary(data: SurveyData) -> pd.DataFrame:
    """One row per wave: how many collaborations and respondents, and how complete answers are.

    Columns
    -------
    wave_id, collaborations, respondents, completed, panel_respondents
        Counts; ``panel_respondents`` answered the previous wave too (same pseudonym).
    respondents_min, respondents_median, respondents_max
        Respondents per collaboration.
    item_rows, answered, dont_know, not_applicable, skipped, not_reached
        Item rows and how many of them have each outcome (they add up to ``item_rows``).

    Nothing is dropped or rounded: the counts are of every row in ``data``.
    """
    resp = data.respondents
    ans = data.responses
    waves = list(pd.unique(resp["wave_id"].astype(str)))
    per_collaboration = (
        resp.groupby(["wave_id", "collaboration_id"], observed=True).size().rename("n").reset_index()
    )
    outcome = ans["missing_reason"].astype(object).where(ans["missing_reason"].notna(), "answered")
    outcomes = pd.crosstab(ans["wave_id"].astype(str), outcome)
    rows = []
    previous: set[str] = set()
    for wave in waves:
        r = resp[resp["wave_id"].astype(str) == wave]
        ids = set(r["respondent_id"].astype(str))
        sizes = per_collaboration.loc[per_collaboration["wave_id"].astype(str) == wave, "n"]
        row = {
            "wave_id": wave,
            "collaborations": int(r["collaboration_id"].nunique()),
            "respondents": len(r),
            "completed": int(r["completed"].sum()),
            "panel_respondents": len(ids & previous),
            "respondents_min": int(sizes.min()) if len(sizes) else 0,
            "respondents_median": float(np.median(sizes)) if len(sizes) else float("nan"),
            "respondents_max": int(sizes.max()) if len(sizes) else 0,
            "item_rows": int((ans["wave_id"].astype(str) == wave).sum()),
        }
        for reason in ("answered", "dont_know", "not_applicable", "skipped", "not_reached"):
            row[reason] = int(outcomes.at[wave, reason]) if (
                wave in outcomes.index and reason in outcomes.columns) else 0
        rows.append(row)
        previous = ids
    return pd.DataFrame(rows)
