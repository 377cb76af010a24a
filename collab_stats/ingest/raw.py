"""What every export reader returns: the responses of one file as text, with what each column
means according to the platform, before any mapping to the instrument.

Readers (one module per platform) only parse the platform's layout: header rows, import ids,
encodings, value labels. Mapping columns to items, converting answers to codes, validation,
quarantine and pseudonymisation happen later, the same way for every platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

__all__ = ["ExportFormat", "FORMATS", "RawColumn", "RawExport"]

ExportFormat = Literal[
    "qualtrics", "surveymonkey", "redcap", "microsoft_forms", "google_forms", "spss", "generic"
]
FORMATS: tuple[str, ...] = (
    "qualtrics", "surveymonkey", "redcap", "microsoft_forms", "google_forms", "spss", "generic"
)

#: What a column holds, as far as the platform tells: ``answer`` (a question's answer, or one
#: option of a multi-select), ``metadata`` (timestamps, status, progress, collector ...),
#: ``respondent_id`` (the platform's response or respondent id), ``personal`` (names,
#: e-mail, IP address, location, external reference: never to be stored).
ColumnRole = Literal["answer", "metadata", "respondent_id", "personal"]


@dataclass(frozen=True)
class RawColumn:
    """One column of an export and what the platform says about it.

    Attributes
    ----------
    key : str
        Unique key of the column in :attr:`RawExport.frame` (platform column names are not
        always unique: e.g. Qualtrics side-by-side questions; keys are made unique).
    header : str
        The column's name as written in the file (first header row).
    question : str
        The question text the platform gives for the column ("" if none).
    sub_label : str
        Sub-question, option or statement text (matrix rows, multi-select options, "Other
        (please specify)"); "" if none.
    import_id : str
        Platform-stable identifier (Qualtrics ImportId such as ``QID12_3``, REDCap field
        name, SPSS variable name); "" if none.
    choice_id : str
        For one option of a multi-select: the option's code; "" otherwise.
    role : str
        See ``ColumnRole``.
    value_labels : dict
        Code -> label for coded answers (REDCap choices, SPSS value labels), if known.
    missing_codes : tuple
        Codes the platform declares as missing (SPSS user-missing values), if any.
    """

    key: str
    header: str
    question: str = ""
    sub_label: str = ""
    import_id: str = ""
    choice_id: str = ""
    role: str = "answer"
    value_labels: dict[Any, str] = field(default_factory=dict)
    missing_codes: tuple = ()


@dataclass(frozen=True)
class RawExport:
    """The responses of one export file, as text, with their columns described.

    Attributes
    ----------
    source : str
        File name the rows came from (for messages and provenance).
    format : str
        One of :data:`FORMATS`.
    variant : str
        Layout variant within the format (e.g. ``"qualtrics-3row-json"``,
        ``"qualtrics-legacy-2row"``, ``"surveymonkey-xlsx"``).
    frame : DataFrame
        One row per response; one column per :class:`RawColumn` (by ``key``); every cell a
        ``str`` or ``None`` (blank) - except SPSS, where cells keep their stored numbers.
    columns : tuple of RawColumn
        In file order; ``columns[k].key == frame.columns[k]``.
    row_numbers : tuple of int
        For each row of ``frame``, its 1-based line (CSV) or row (Excel) number in the file,
        so errors and quarantine can point at it.
    encoding : str
        Text encoding detected ("utf-8", "utf-8-sig", "utf-16", "cp1252"; "" for binary).
    notes : tuple of str
        Things the reader noticed and handled (e.g. "trailing empty column removed",
        "duplicate header 'Q1' renamed"). Readers never drop a response row: rejecting rows
        (previews, duplicates, incomplete) is validation's job, which quarantines them.
    truncated_rows : tuple of int
        Row numbers (as in ``row_numbers``) of responses the file cut off before their end:
        a CSV whose last record ends inside a quoted cell, or without a line break and with
        fewer fields than the header (:func:`~collab_stats.ingest.textio.read_csv_rows`).
        Conversion quarantines them as ``truncated``.
    """

    source: str
    format: str
    variant: str
    frame: pd.DataFrame
    columns: tuple[RawColumn, ...]
    row_numbers: tuple[int, ...]
    encoding: str = ""
    notes: tuple[str, ...] = ()
    truncated_rows: tuple[int, ...] = ()

    def column(self, key: str) -> RawColumn:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(f"{self.source} has no column {key!r}")

    @property
    def n_rows(self) -> int:
        return len(self.frame)
