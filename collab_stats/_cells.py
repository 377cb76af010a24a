"""Respondents grouped into wave x collaboration cells in programme order (shared by the
modules that summarise selections per collaboration)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import DataSchemaError, Problem
from .programme import Programme

__all__ = ["wave_collaboration_cells"]


def wave_collaboration_cells(resp: pd.DataFrame, programme: Programme) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The waves x collaborations with respondents (programme order), each respondent's cell,
    and each cell's collaboration index."""
    waves = resp["wave_id"].astype(object).to_numpy()
    collabs = resp["collaboration_id"].astype(object).to_numpy()
    known = {c: k for k, c in enumerate(programme.collaboration_ids)}
    problems = []
    missing = pd.isna(waves) | pd.isna(collabs)
    if missing.any():
        problems.append(Problem("respondents", f"{int(missing.sum())} rows have no wave_id or "
                                "collaboration_id"))
    unknown = sorted({c for c in collabs[~missing] if c not in known})
    if unknown:
        problems.append(Problem("respondents.collaboration_id",
                                f"collaborations not in the programme: {unknown[:10]}"))
    if problems:
        raise DataSchemaError("survey data", problems)
    wave_order = list(programme.wave_ids)
    wave_order += sorted(set(waves) - set(wave_order))
    n_coll = max(len(known), 1)
    w = pd.Index(wave_order).get_indexer(waves).astype(np.int64)
    c = pd.Index(programme.collaboration_ids).get_indexer(collabs).astype(np.int64)
    cell_keys, cell_of = np.unique(w * n_coll + c, return_inverse=True)
    cells = pd.DataFrame({
        "wave_id": np.array(wave_order, dtype=object)[cell_keys // n_coll],
        "collaboration_id": np.array(programme.collaboration_ids, dtype=object)[cell_keys % n_coll],
    })
    return cells, cell_of.astype(np.int64), (cell_keys % n_coll).astype(np.int64)
