"""Attack the published site: can anything hidden be worked out, can a download attack its
reader? (issue 13)

One small programme is published the way a user gets it - every report as HTML, every CSV
download, the XLSX workbook and the Prefect artifacts (summary markdown and characteristic
table) - and then attacked from the published files alone, with this module's own arithmetic
(numpy, scipy), never the project's functions:

* the scenario: 12 collaborations x 3 waves, every collaboration with 14 or more
  respondents except three in the latest wave, cut to **1, 6 and 9** respondents (two of
  them in the same peer group); shown collaborations have hidden sector and role cells;
* the secrets the attacker is after are the library's own figures with no suppression
  (``benchmark_programme(..., threshold=1)``): every hidden collaboration's respondent
  count, per-characteristic n, mean and sd, and every hidden sub-group cell's;
* (a) *reading*: no download cell and no HTML table row or sentence about a hidden
  collaboration (or hidden cell) holds one of its counts, means or sds, nor its response
  rate; a hidden row of a benchmark table holds nothing but its keys, programme-file facts
  and the plain reason;
* (b) *differencing*: every published total over collaborations minus the shown
  collaborations' counts leaves 0, or at least ``threshold`` respondents spread over at
  least two hidden collaborations, so that each hidden n could still be anything from 1 to
  ``threshold - 1``; two totals over the same cells agree; the technical report's mean
  group size and ``n0`` do not pin down the hidden counts;
* (c) *solving*: Welch's F, df1, df2, omega squared and eta squared, Kruskal-Wallis's n
  and df and the peer distributions are recomputed from the shown collaborations' published
  n, mean and sd; where they differ the attacker solves for the hidden (n, mean, sd)
  (``scipy.optimize.least_squares``) and the test fails if that recovers a true one;
* formulas and markup: every user-supplied name (programme, collaborations, regions, peer
  groups, partner organisations, export file names) starts with a spreadsheet formula or
  holds a script tag; no CSV or XLSX cell may start with ``= + - @ tab CR`` unless it is a
  number stored as a number, the workbook holds no formula, and no page has a script
  element, an event handler or a ``javascript:`` link.

Every assertion message says what the attacker learns. The site is built once per module
(no PDF); psychometrics skip the invariance models (slow, and a programme-level model).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import math
import re
from collections import Counter, defaultdict
from functools import cached_property
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from scipy import optimize

from collab_stats import SimulationSettings, dump_programme, parse_programme, simulate_programme
from collab_stats.benchmarking import benchmark_programme
from collab_stats.psychometrics import programme_psychometrics
from collab_stats.schema import SurveyData
from reports.data import ReportData

pytestmark = pytest.mark.slow

SEED = 3
THRESHOLD = 10
#: Respondents kept in the latest wave by the three hidden collaborations.
HIDDEN_SIZES = (1, 6, 9)
#: Strings a spreadsheet runs as a formula, and markup a browser runs.
PAYLOADS = ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
            "\t=1", "\r=1", "<script>alert(1)</script>")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
#: Columns a hidden benchmark row may keep: which cell it is, facts from the programme or
#: instrument file (not from answers), and why it is hidden.
WHICH_CELL = {"wave_id", "reference_wave_id", "collaboration_id", "characteristic", "item_id",
              "comparison", "subgroup", "breakdown", "peer_set", "peer_key", "reference",
              "value_mode", "sector_a", "sector_b", "instrument_version", "level",
              "comparator", "comparator_kind"}  # which comparison (verdicts)
PROGRAMME_FACTS = {"reverse", "declared", "declared_main", "declared_main_mode",
                   "declared_modes", "invited"}
#: Whole numbers that count something other than respondents (instrument and model facts).
NOT_RESPONDENTS = {"n_items", "n_collaborations", "n_waves", "n_organisations",
                   "n_possible_ties", "n_declared"}


# -- the scenario --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Secret:
    """What a hidden collaboration (in the hidden wave) must keep to itself."""

    collaboration: str
    name: str
    respondents: int
    n: dict[str, int]            # per characteristic
    n_total: dict[str, int]
    mean: dict[str, float]
    sd: dict[str, float]
    invited: int | None

    @property
    def counts(self) -> set[int]:
        return {self.respondents, *self.n.values(), *self.n_total.values()} - {0}

    @property
    def figures(self) -> list[float]:
        values = [*self.mean.values(), *self.sd.values()]
        if self.invited:
            values.append(self.respondents / self.invited)
        return [v for v in values if v == v]


@dataclasses.dataclass
class Published:
    """Everything the site and the artifacts publish, and the secrets behind them."""

    folder: Path
    programme: object
    wave: str                               # the hidden wave (the latest)
    secrets: dict[str, Secret]              # hidden collaboration id -> secret
    cell_secrets: pd.DataFrame              # hidden sub-group cells of shown collaborations
    originals: dict[str, str]               # collaboration id -> name before the payload
    user_strings: list[str]
    markdown: str
    table: list[dict]
    error: Exception | None = None

    def require(self) -> None:
        if self.error is not None:
            pytest.fail(f"the site could not be published: {type(self.error).__name__}: "
                        f"{self.error}", pytrace=False)

    @property
    def labels(self) -> dict[str, str]:
        return {w.id: w.label for w in self.programme.waves}

    @cached_property
    def workbook(self) -> dict[str, pd.DataFrame]:
        return pd.read_excel(self.folder / "downloads" / "programme-tables.xlsx",
                             sheet_name=None, engine="openpyxl")

    @cached_property
    def csvs(self) -> dict[str, pd.DataFrame]:
        return {str(p.relative_to(self.folder)): pd.read_csv(p)
                for p in sorted((self.folder / "downloads").rglob("*.csv"))}

    @cached_property
    def pages(self) -> dict[str, str]:
        return {str(p.relative_to(self.folder)): p.read_text(encoding="utf-8")
                for p in sorted(self.folder.rglob("*.html"))}

    def sheet(self, name: str) -> pd.DataFrame:
        frame = self.workbook[name].copy()
        for column in ("wave_id", "collaboration_id", "characteristic"):
            if column in frame:
                frame[column] = frame[column].astype(str)
        if "suppressed" in frame:
            frame["suppressed"] = frame["suppressed"].map(lambda v: v is not False and v != 0)
        return frame

    def shown(self, name: str) -> pd.DataFrame:
        frame = self.sheet(name)
        return frame[~frame["suppressed"]]


def _hostile(text: str, i: int) -> str:
    return f"{PAYLOADS[i % len(PAYLOADS)]} {text}"


def _scenario():
    sim = simulate_programme(seed=SEED, n_collaborations=12, n_waves=3,
                             settings=SimulationSettings(respondents=(14, 40)))
    programme = sim.programme
    by_group = defaultdict(list)
    for c in programme.collaborations:
        by_group[c.peer_group].append(c.id)
    biggest = max(by_group, key=lambda g: len(by_group[g]))
    other = next(ids[0] for g, ids in by_group.items() if g != biggest)
    # 1 respondent alone; 6 and 9 in the same peer group
    sizes = {other: HIDDEN_SIZES[0], by_group[biggest][0]: HIDDEN_SIZES[1],
             by_group[biggest][1]: HIDDEN_SIZES[2]}
    originals = {c.id: c.name for c in programme.collaborations}

    # every user-supplied name starts with a payload; through the programme file and back
    regions = {r: _hostile(r, i + 1) for i, r in
               enumerate(sorted({c.region for c in programme.collaborations}))}
    collaborations = []
    for i, c in enumerate(programme.collaborations):
        partners = tuple(dataclasses.replace(p, name=_hostile(p.name, i + j))
                         for j, p in enumerate(c.partners))
        collaborations.append(dataclasses.replace(c, name=_hostile(c.name, i),
                                                  region=regions[c.region], partners=partners))
    programme = dataclasses.replace(
        programme, name=_hostile(programme.name, 0), collaborations=tuple(collaborations),
        peer_groups=tuple(dataclasses.replace(g, name=_hostile(g.name, i + 2))
                          for i, g in enumerate(programme.peer_groups)))
    programme = parse_programme(yaml.safe_load(dump_programme(programme)),
                                instrument=sim.instrument)

    latest = programme.waves[-1].id
    resp = sim.data.respondents
    drop: set[str] = set()
    for cid, k in sizes.items():
        mine = resp.loc[(resp["wave_id"] == latest) & (resp["collaboration_id"] == cid),
                        "respondent_id"].astype(str)
        drop |= set(mine.iloc[k:])

    def keep(t: pd.DataFrame) -> pd.DataFrame:
        gone = (t["wave_id"] == latest) & t["respondent_id"].astype(str).isin(drop)
        return t[~gone].reset_index(drop=True)

    d = sim.data
    data = SurveyData(*(keep(t) for t in (d.respondents, d.responses, d.selections, d.comments)))
    return sim, programme, data, sizes, originals


def _secrets(programme, raw, sizes, originals, wave) -> dict[str, Secret]:
    s = raw.summaries.astype({"wave_id": str, "collaboration_id": str, "characteristic": str})
    rates = raw.response_rates.astype({"wave_id": str, "collaboration_id": str})
    out = {}
    for cid in sizes:
        mine = s[(s["wave_id"] == wave) & (s["collaboration_id"] == cid)]
        rate = rates[(rates["wave_id"] == wave) & (rates["collaboration_id"] == cid)].iloc[0]
        collab = next(c for c in programme.collaborations if c.id == cid)
        out[cid] = Secret(
            collaboration=cid, name=originals[cid], respondents=int(rate["n"]),
            n={r.characteristic: int(r.n) for r in mine.itertuples()},
            n_total={r.characteristic: int(r.n_total) for r in mine.itertuples()},
            mean={r.characteristic: float(r.mean) for r in mine.itertuples()},
            sd={r.characteristic: float(r.sd) for r in mine.itertuples()},
            invited=collab.invited.get(wave))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Published:
    return publish_scenario(tmp_path_factory.mktemp("attack") / "reports")


def publish_scenario(folder: Path) -> Published:
    """Build the scenario and publish it into ``folder`` (HTML, CSV, XLSX) and as the Prefect
    artifacts' content; a failure to publish is kept for every test to report."""
    from pipelines.artifacts import characteristic_table, wave_summary_markdown
    from reports.site import build_site

    sim, programme, data, sizes, originals = _scenario()
    wave = programme.waves[-1].id
    psychometrics = programme_psychometrics(data, sim.instrument, invariance=False, n_boot=20,
                                           programme=programme)
    benchmark = benchmark_programme(data, sim.instrument, programme)
    raw = benchmark_programme(data, sim.instrument, programme, threshold=1, trends=False)
    secrets = _secrets(programme, raw, sizes, originals, wave)
    cells = raw.breakdowns.astype({"wave_id": str, "collaboration_id": str,
                                   "characteristic": str, "subgroup": str})
    cell_secrets = cells[(cells["n"] < THRESHOLD) & ~cells["collaboration_id"].isin(sizes)]

    accepted = data.respondents.groupby("wave_id").size()
    sources = pd.DataFrame({
        "wave_id": [w.id for w in programme.waves],
        "source_name": [_hostile(f"{w.id}-export.csv", i + 4) for i, w in
                        enumerate(programme.waves)],  # the latest: the <script> one
        "sha256": [f"{i:064d}" for i in range(len(programme.waves))],
        "format": ["qualtrics", "redcap", "google_forms"],
        "instrument_version": [w.instrument_version for w in programme.waves],
        "ingested_at": pd.Timestamp("2026-04-01", tz="UTC"),
        "rows_read": [int(accepted[w.id]) + 3 for w in programme.waves],
        "rows_accepted": [int(accepted[w.id]) for w in programme.waves],
        "rows_quarantined": 3,
    })
    quarantine = pd.DataFrame({"wave_id": sources["wave_id"], "source_name":
                               sources["source_name"], "reason": "incomplete", "rows": 3})
    report = ReportData(programme=programme, family=sim.instrument, benchmark=benchmark.tables(),
                        psychometrics=psychometrics.tables(), sources=sources,
                        quarantine=quarantine,
                        generated_at=dt.datetime(2026, 4, 2, 9, 0, tzinfo=dt.UTC))
    ingested = [{"file": r.source_name, "wave": r.wave_id, "format": r.format, "status": "added",
                 "rows_read": r.rows_read, "accepted": r.rows_accepted,
                 "quarantined": {"incomplete": 3}, "warnings": [], "error": ""}
                for r in sources[sources["wave_id"] == wave].itertuples()]
    user_strings = [programme.name, *(g.name for g in programme.peer_groups),
                    *(c.name for c in programme.collaborations),
                    *(c.region for c in programme.collaborations),
                    *(p.name for c in programme.collaborations for p in c.partners),
                    *sources["source_name"]]
    published = Published(folder=folder, programme=programme, wave=wave, secrets=secrets,
                          cell_secrets=cell_secrets, originals=originals,
                          user_strings=sorted(set(user_strings), key=len, reverse=True),
                          markdown="", table=[])
    try:
        build_site(report, folder)
        published.markdown = wave_summary_markdown(wave, ingested, psychometrics, benchmark,
                                                   THRESHOLD)
        published.table = characteristic_table(benchmark, wave)
    except Exception as exc:  # reported by every test through Published.require
        published.error = exc
    return published


# -- reading the published text ------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.\-−+])[-−+]?\d[\d,]*(?:\.\d+)?%?")
_LABELS = re.compile(r"\b(?:Table|Figure|Wave|version)\s+\d+(?:\.\d+)?|\d{4}-\d{2}(?:-\d{2})?|"
                     r"\b\d+\.\d+\.\d+\b|\b\d{1,2}:\d{2}\b|"
                     r"\b\d{1,2}\s+(?:January|February|March|April|May|June|July|August|"
                     r"September|October|November|December)\s+\d{4}|"
                     r"(?:January|February|March|April|May|June|July|August|September|"
                     r"October|November|December)\s+\d{4}|[A-Z]{2}\d{2}[A-Z]?")


def _strip_known(text: str, published: Published) -> str:
    """The text without names, labels, dates and ids, whose digits are not figures."""
    for s in published.user_strings:
        for variant in {s, " ".join(s.split()), s.strip()}:
            if variant:
                text = text.replace(variant, " ")
    for label in published.labels.values():
        text = text.replace(label, " ")
    return _LABELS.sub(" ", text)


def _numbers(text: str) -> list[tuple[float, int, bool, bool]]:
    """(value, decimals shown, is a percentage, has a sign) of every number in ``text``."""
    found = []
    for token in _NUMBER.findall(text):
        percent = token.endswith("%")
        signed = token[0] in "+-−"
        token = token.rstrip("%").replace("−", "-").replace(",", "")
        decimals = len(token.split(".")[1]) if "." in token else 0
        found.append((float(token), decimals, percent, signed))
    return found


def _leaks_in_text(text: str, secret: Secret, published: Published, public: set[int], *,
                   min_decimals: int = 1) -> list[str]:
    """The hidden figures of ``secret`` that ``text`` shows (at the precision it shows):
    counts (whole numbers without a sign, other than ``public`` ones), response rates (a
    percentage) and means and sds shown with at least ``min_decimals`` decimals."""
    leaks = []
    for value, decimals, percent, signed in _numbers(_strip_known(text, published)):
        if percent:
            if secret.invited and round(100 * secret.respondents / secret.invited,
                                        decimals) == value:
                leaks.append(f"response rate {value}%")
        elif decimals == 0:
            if not signed and value in secret.counts and value not in public:
                leaks.append(f"count {value:g}")
        elif decimals >= min_decimals:
            for figure in secret.figures:
                if round(figure, decimals) == value:
                    leaks.append(f"figure {value} (= {figure:.6f} rounded)")
    return leaks


class _Blocks(HTMLParser):
    """Tables (rows of (text, is header) cells) and text blocks of a page; also every tag
    and attribute, for the markup checks."""

    BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "figcaption", "dt",
              "dd", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, bool]]]] = []
        self.blocks: list[str] = []
        self.tags: list[tuple[str, list]] = []
        self._open: list[list[str]] = []
        self._row: list | None = None
        self._cell: list[str] | None = None
        self._header = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._header = [], tag == "th"
        elif tag in self.BLOCKS:
            self._open.append([])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append((" ".join("".join(self._cell).split()), self._header))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self.tables:
                self.tables[-1].append(self._row)
            self._row = None
        elif tag in self.BLOCKS and self._open:
            self.blocks.append(" ".join("".join(self._open.pop()).split()))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for block in self._open:
            block.append(data)


def _parse(html: str) -> _Blocks:
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    return parser


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?:;])\s+(?=[A-Z0-9(])", text) if s]


# -- (a) reading: no hidden figure in any row or sentence about it --------------------------------

def _own_folder(path: str, published: Published) -> str | None:
    from reports.site import safe_name

    for cid in published.secrets:
        if f"collaborations-{safe_name(cid)}" in path or f"collaborations/{safe_name(cid)}." in path:
            return cid
    return None


def _names_of(row_text: str, published: Published) -> set[str]:
    return {cid for cid, s in published.secrets.items()
            if s.name in row_text or cid in row_text}


def _other_waves(text: str, published: Published) -> tuple[bool, bool]:
    """(mentions the hidden wave, mentions another wave)."""
    hidden = {published.wave, published.labels[published.wave]}
    others = {k for w, label in published.labels.items() if w != published.wave
              for k in (w, label)}
    return any(h in text for h in hidden), any(o in text for o in others)


def _public_counts(cid: str, published: Published) -> set[int]:
    """Counts about a collaboration that come from the programme file, not from answers."""
    collab = next(c for c in published.programme.collaborations if c.id == cid)
    return {*collab.invited.values(), len(collab.partners), THRESHOLD}


def test_the_scenario_has_what_the_attacks_need(site):
    """Three collaborations hidden in the latest wave (1, 6, 9 respondents), two in one peer
    group; hidden sub-group cells inside shown collaborations."""
    site.require()
    assert sorted(s.respondents for s in site.secrets.values()) == list(HIDDEN_SIZES)
    groups = [next(c.peer_group for c in site.programme.collaborations if c.id == cid)
              for cid in site.secrets]
    assert max(groups.count(g) for g in groups) == 2
    rates = site.sheet("response_rates")
    hidden = set(rates.loc[rates["suppressed"] & (rates["wave_id"] == site.wave),
                           "collaboration_id"])
    assert hidden >= set(site.secrets), "the small collaborations must be hidden"
    cells = site.sheet("breakdowns")
    cells = cells[(cells["wave_id"] == site.wave) & ~cells["collaboration_id"].isin(hidden)]
    mixed = cells.groupby(["collaboration_id", "characteristic", "breakdown"])["suppressed"].agg(
        ["any", "all"])
    assert (mixed["any"] & ~mixed["all"]).any(), "no shown collaboration has a hidden sub-group"
    assert len(site.cell_secrets)


def test_no_download_cell_about_a_hidden_collaboration_holds_its_figures(site):
    """(a) Every CSV and XLSX row naming a hidden collaboration (or in its own report's
    downloads) in the hidden wave, or in no wave: none of its counts, means, sds or its
    response rate; every row of a hidden sub-group cell: none of that cell's figures."""
    site.require()
    tables = {f"downloads/programme-tables.xlsx[{k}]": v for k, v in site.workbook.items()}
    tables.update(site.csvs)
    leaks = []
    examined: Counter[str] = Counter()
    for source, frame in tables.items():
        own = _own_folder(source, site)
        wave_columns = {c: _other_waves(str(c), site) for c in frame.columns}
        for i, row in enumerate(frame.itertuples(index=False)):
            cells = [("" if v is None else v) for v in row]
            text = " ".join(map(str, cells))
            about = _names_of(text, site) | ({own} if own else set())
            if not about:
                continue
            this_wave, other_wave = _other_waves(text, site)
            if other_wave and not this_wave:
                continue
            for cid in about:
                examined[cid] += 1
                secret, public = site.secrets[cid], _public_counts(cid, site)
                for column, value in zip(frame.columns, cells, strict=True):
                    if (wave_columns[column][1] or column in PROGRAMME_FACTS
                            or column in NOT_RESPONDENTS):
                        continue
                    for leak in _cell_leaks(value, column, secret, site, public):
                        leaks.append(f"{source} row {i} ({secret.name}), column {column!r}: "
                                     f"{leak}")
    leaks += _hidden_cell_leaks(site, tables)
    assert all(examined[cid] for cid in site.secrets), f"rows examined: {dict(examined)}"
    assert not leaks, ("an attacker reads hidden figures straight from the downloads:\n  "
                       + "\n  ".join(leaks[:40]) + f"\n  ({len(leaks)} in all)")


_FIGURE_COLUMN = re.compile(r"mean|sd|score|rate|share|median|ci_|average", re.IGNORECASE)


def _cell_leaks(value, column: object, secret: Secret, published: Published,
                public: set[int]) -> list[str]:
    """A count in any cell; a mean, sd or rate at full precision (a whole number only in a
    column of figures: a mean of 3.0 is also the count of 3 quarantined rows)."""
    if isinstance(value, bool | np.bool_) or value is None or (isinstance(value, str)
                                                                and not value):
        return []
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        if v != v:
            return []
        if v.is_integer() and v in secret.counts and v not in public:
            return [f"count {v:g}"]
        if v.is_integer() and not _FIGURE_COLUMN.search(str(column)):
            return []
        return [f"figure {v!r}" for f in secret.figures if math.isclose(v, f, rel_tol=1e-9)]
    return _leaks_in_text(str(value), secret, published, public)


def _hidden_cell_leaks(published: Published, tables: dict[str, pd.DataFrame]) -> list[str]:
    """Rows of a hidden sub-group cell of a shown collaboration (the workbook's breakdowns
    and the collaboration's breakdown CSVs) hold none of the cell's n, mean, sd."""
    leaks = []
    book = published.sheet("breakdowns")
    for cell in published.cell_secrets.itertuples():
        figures = {"n": cell.n, "n_total": cell.n_total, "mean": cell.mean, "sd": cell.sd}
        rows = book[(book["wave_id"] == cell.wave_id)
                    & (book["collaboration_id"] == cell.collaboration_id)
                    & (book["characteristic"] == cell.characteristic)
                    & (book["breakdown"] == cell.breakdown)
                    & (book["subgroup"].astype(str) == cell.subgroup)]
        for row in rows.itertuples(index=False):
            for column, value in zip(rows.columns, row, strict=True):
                if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                        value, bool | np.bool_):
                    for what, secret in figures.items():
                        if secret == secret and (
                                (what.startswith("n") and value == secret and secret > 0)
                                or (not what.startswith("n")
                                    and math.isclose(value, secret, rel_tol=1e-9))):
                            leaks.append(f"breakdowns: hidden cell {cell.collaboration_id} "
                                         f"{cell.characteristic} {cell.breakdown}="
                                         f"{cell.subgroup} shows its {what} in {column!r}")
    return leaks


def test_a_hidden_benchmark_row_shows_its_keys_and_the_reason_only(site):
    """(a) In the workbook, a hidden row keeps which cell it is, programme-file facts and a
    plain reason ("fewer than 10 responses"): no count, figure or reason code."""
    site.require()
    reasons = {f"fewer than {THRESHOLD} responses",
               "suppressed so that a hidden figure cannot be worked out from the total"}
    bands = {f"<{THRESHOLD}", "suppressed"}
    extra = []
    for name, frame in site.workbook.items():
        if "suppressed" not in frame:
            continue
        hidden = frame["suppressed"].map(lambda v: v is not False and v != 0)
        for i, row in frame[hidden].iterrows():
            for column, value in row.items():
                if value is None or (isinstance(value, float) and value != value) or value == "":
                    continue
                if column in WHICH_CELL or column in PROGRAMME_FACTS or (
                        column == "suppressed" or (column == "suppressed_reason"
                                                   and value in reasons)
                        or (column == "count_band" and value in bands)):
                    continue
                extra.append(f"{name} row {i} ({row.get('collaboration_id', '')} "
                             f"{row.get('wave_id', '')}): {column} = {value!r}")
    assert not extra, ("hidden rows still tell a reader something beyond 'fewer than "
                       f"{THRESHOLD} responses':\n  " + "\n  ".join(extra[:40])
                       + f"\n  ({len(extra)} in all)")


def test_no_page_or_artifact_shows_a_hidden_figure_in_a_row_or_sentence_about_it(site):
    """(a) HTML: every table row and sentence naming a hidden collaboration (every one on its
    own page), unless it is about another wave, and every cell under a column of the hidden
    wave; and the Prefect summary and table: no count, mean, sd or response rate of it.

    On its own page, where sentences say "the collaboration", figures shown with fewer than
    three decimals are not compared (programme figures coincide with them too often); counts,
    response rates and the data tables' three-decimal figures are."""
    site.require()
    leaks = []
    examined: Counter[str] = Counter()
    for page, html in site.pages.items():
        own = _own_folder(page, site)
        parsed = _parse(html)
        for table in parsed.tables:
            header = [c for c in table[0]] if table and all(h for _, h in table[0]) else []
            columns = [_other_waves(text, site) for text, _ in header]
            for row in table[1 if header else 0:]:
                text = " ".join(t for t, _ in row)
                named = _names_of(text, site)
                this_wave, other_wave = _other_waves(text, site)
                if not (named or own) or (other_wave and not this_wave):
                    continue
                for j, (cell, _) in enumerate(row):
                    if j < len(columns) and columns[j][1] and not columns[j][0]:
                        continue  # a column of another wave
                    for cid in named | ({own} if own else set()):
                        examined[cid] += 1
                        for leak in _leaks_in_text(cell, site.secrets[cid], site,
                                                   _public_counts(cid, site),
                                                   min_decimals=1 if cid in named else 3):
                            leaks.append(f"{page}, table row {text[:80]!r}: {leak}")
        for block in parsed.blocks:
            for sentence in _sentences(block):
                named = _names_of(sentence, site)
                this_wave, other_wave = _other_waves(sentence, site)
                if not (named or own) or (other_wave and not this_wave):
                    continue
                for cid in named | ({own} if own else set()):
                    examined[cid] += 1
                    for leak in _leaks_in_text(sentence, site.secrets[cid], site,
                                               _public_counts(cid, site),
                                               min_decimals=1 if cid in named else 3):
                        leaks.append(f"{page}: {sentence[:100]!r}: {leak}")
    assert all(examined[cid] for cid in site.secrets), f"text examined: {dict(examined)}"
    for line in site.markdown.splitlines():
        for cid in _names_of(line, site):
            for leak in _leaks_in_text(line, site.secrets[cid], site, _public_counts(cid, site)):
                leaks.append(f"Prefect summary: {line[:100]!r}: {leak}")
    for row in site.table:
        cid = str(row["collaboration"])
        if cid in site.secrets:
            shown = {k: v for k, v in row.items() if k not in ("collaboration", "characteristic")
                     and v != "suppressed"}
            if shown:
                leaks.append(f"Prefect table: {cid} {row['characteristic']}: {shown}")
    assert not leaks, ("an attacker reads hidden figures in the pages:\n  "
                       + "\n  ".join(leaks[:40]) + f"\n  ({len(leaks)} in all)")


# -- (b) differencing: totals minus the shown collaborations -------------------------------------

@dataclasses.dataclass(frozen=True)
class Total:
    """A published total over collaborations, and what the shown collaborations add up to."""

    source: str
    key: str
    basis: str                   # what is counted (n: scored respondents, respondents, ...)
    published: float
    shown: float
    hidden: tuple[str, ...]      # the hidden cells the total covers
    caps: tuple[float, ...] = ()  # the most each hidden cell can hold, as a reader knows it:
    #                               threshold - 1 when marked "<10", unbounded when hidden
    #                               to protect another cell (count band "suppressed")

    @property
    def remainder(self) -> float:
        return self.published - self.shown

    def what_is_learnt(self, threshold: int) -> str | None:
        """None when the remainder leaves every hidden count open; else what it gives away."""
        r, k = self.remainder, len(self.hidden)
        where = f"{self.source} {self.key}: {self.published:g} - {self.shown:g} shown = {r:g}"
        if abs(r - round(r)) > 1e-6:
            return f"{where}: not a whole number (the basis differs?)"
        r = round(r)
        if r == 0:
            return None
        if r < 0:
            return f"{where}: smaller than the shown collaborations' total"
        if k == 0:
            return f"{where} respondents outside every published collaboration"
        if k == 1:
            return f"{where}: the n of the one hidden collaboration {self.hidden[0]}"
        if r < threshold:
            return (f"{where}: {k} hidden cells ({', '.join(self.hidden)}) have "
                    f"fewer than {threshold} between them")
        caps = self.caps or (threshold - 1,) * k
        for i, (cell, cap) in enumerate(zip(self.hidden, caps, strict=True)):
            others = sum(c for j, c in enumerate(caps) if j != i)
            low, high = max(1, r - others), min(cap, r - (k - 1))
            if cap < math.inf and high - low <= 0:
                return (f"{where}: with 1 <= n <= {threshold - 1} for every cell marked "
                        f"<{threshold}, {cell} has "
                        f"{'exactly ' + str(low) if high == low else 'an impossible count'}")
        return None


def _cap(band: object) -> float:
    return THRESHOLD - 1 if str(band).startswith("<") else math.inf


def _hidden_cells(frame: pd.DataFrame, keys: list[str],
                  label: str = "collaboration_id") -> dict[tuple, tuple[tuple, tuple]]:
    """Hidden cells of each group: (labels, caps)."""
    hidden = frame[frame["suppressed"]]
    out = {}
    for k, g in hidden.groupby(keys):
        band = g["count_band"] if "count_band" in g else pd.Series("<", index=g.index)
        out[k if isinstance(k, tuple) else (k,)] = (tuple(g[label].astype(str)),
                                                    tuple(map(_cap, band)))
    return out


def _totals(site: Published) -> list[Total]:
    """Every published total over collaborations, with the shown collaborations' sum."""
    summaries = site.sheet("summaries")
    shown = summaries[~summaries["suppressed"]]
    per_cell = shown.groupby(["wave_id", "characteristic"])[["n", "n_total"]].sum()
    hidden_cell = _hidden_cells(summaries, ["wave_id", "characteristic"])
    rates = site.sheet("response_rates")
    respondents = rates[~rates["suppressed"]].groupby("wave_id")["n"].sum()
    hidden_wave = _hidden_cells(rates, ["wave_id"])
    totals: list[Total] = []

    def add(source, wave, char, basis, value):
        if value is None or value != value:
            return
        if basis == "respondents":
            totals.append(Total(source, wave, basis, float(value),
                                float(respondents.get(wave, 0)),
                                *hidden_wave.get((wave,), ((), ()))))
        else:
            totals.append(Total(source, f"{wave} {char}", basis, float(value),
                                float(per_cell[basis].get((wave, char), 0.0)),
                                *hidden_cell.get((wave, char), ((), ()))))

    for r in site.sheet("comparison").to_dict("records"):
        for column, basis in (("n_used_welch", "n"), ("n_used_kruskal", "n"),
                              ("n_total_welch", "n_total"), ("n_total_kruskal", "n_total")):
            add(f"comparison.{column}", r["wave_id"], r["characteristic"], basis, r.get(column))
    tech = "downloads/technical-report/"
    for r in site.csvs[tech + "tbl-aggregation.csv"].to_dict("records"):
        add("aggregation.n_used", str(r["wave_id"]), r["characteristic"], "n", r["n_used"])
        add("aggregation.n_total", str(r["wave_id"]), None, "respondents", r["n_total"])
    for w in site.labels:
        reliability = site.csvs.get(f"{tech}tbl-reliability-{w}.csv")
        for r in ([] if reliability is None else reliability.to_dict("records")):
            add("technical report 'n of N'", w, None, "respondents", r["n_total"])
    for r in site.csvs[tech + "tbl-fit.csv"].to_dict("records"):
        add(f"fit.n_total ({r['model']})", str(r["wave_id"]), None, "respondents", r["n_total"])
    for name in ("downloads/programme-overview/tbl-sources.csv", tech + "tbl-ingest.csv"):
        frame = site.csvs[name].groupby("wave_id")["rows_accepted"].sum()
        for w, value in frame.items():
            add(f"{name}: rows accepted", str(w), None, "respondents", value)
    for w, value in _artifact_accepted(site.markdown).items():
        add("Prefect summary: rows accepted", w, None, "respondents", value)

    # the programme's random-slope model: over every wave
    # the programme's random-slope model, over every wave, on the comparable items: the
    # shown cells' n on those items is in the change table (n_1, n_2)
    comparable = _comparable_n(site)
    cells_shown = list(shown[["wave_id", "collaboration_id", "characteristic"]].itertuples(
        index=False, name=None))
    by_char = shown.groupby("characteristic")["n_total"].sum()
    labelled = summaries.assign(cell=summaries["wave_id"] + "/" + summaries["collaboration_id"])
    hidden_any = _hidden_cells(labelled, ["characteristic"], label="cell")
    for r in site.sheet("programme_slopes").to_dict("records"):
        char = r["characteristic"]
        mine = [c for c in cells_shown if c[2] == char]
        if r.get("n_used") == r.get("n_used") and all(c in comparable for c in mine):
            totals.append(Total("programme_slopes.n_used", char, "comparable n",
                                float(r["n_used"]), float(sum(comparable[c] for c in mine)),
                                *hidden_any.get((char,), ((), ()))))
        if r.get("n_total") == r.get("n_total"):
            totals.append(Total("programme_slopes.n_total", char, "n_total", float(r["n_total"]),
                                float(by_char.get(char, 0.0)),
                                *hidden_any.get((char,), ((), ()))))

    # answers per item: the technical report's item tables against the items sheet
    items = site.sheet("items")
    items["item_id"] = items["item_id"].astype(str)
    item_shown = items[~items["suppressed"]].groupby(["wave_id", "item_id"])["n_answered"].sum()
    item_hidden = _hidden_cells(items, ["wave_id", "item_id"])
    for w in site.labels:
        table = site.csvs.get(f"{tech}tbl-items-{w}.csv")
        for r in ([] if table is None else table.to_dict("records")):
            totals.append(Total("technical report item n", f"{w} {r['item']}", "answers",
                                float(r["n"]), float(item_shown.get((w, str(r["item"])), 0)),
                                *item_hidden.get((w, str(r["item"])), ((), ()))))

    # sub-groups of a shown collaboration against its published n
    cells = site.sheet("breakdowns")
    cells["subgroup"] = cells["subgroup"].astype(str)
    keys = ["wave_id", "collaboration_id", "characteristic", "breakdown"]
    cell_sum = cells[~cells["suppressed"]].groupby(keys)["n"].sum()
    for key, group in cells.groupby(keys):
        total = shown[(shown["wave_id"] == key[0]) & (shown["collaboration_id"] == key[1])
                      & (shown["characteristic"] == key[2])]
        if not len(total):
            if (~group["suppressed"]).any():
                totals.append(Total("breakdowns", " ".join(key), "n", math.inf, 0, ()))
            continue
        hidden = group[group["suppressed"]]
        totals.append(Total("breakdowns", " ".join(key), "n", float(total["n"].iloc[0]),
                            float(cell_sum.get(key, 0)), tuple(hidden["subgroup"]),
                            tuple(map(_cap, hidden["count_band"]))))
    return totals


def _comparable_n(site: Published) -> dict[tuple[str, str, str], float]:
    """(wave, collaboration, characteristic) -> scored respondents on the comparable items,
    from the shown rows of the change table that rest on them (a change across a version
    change; between waves of the same version the change uses every item)."""
    change = site.shown("change")
    if "items" in change:
        change = change[change["items"] == "comparable"]
    out = {}
    for r in change.to_dict("records"):
        for wave, n in ((r["wave_id"], r["n_2"]), (str(r["reference_wave_id"]), r["n_1"])):
            if n == n and n is not None:
                out[(str(wave), r["collaboration_id"], r["characteristic"])] = float(n)
    return out


def _artifact_accepted(markdown: str) -> dict[str, float]:
    accepted: dict[str, float] = defaultdict(float)
    for line in markdown.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 6 and re.fullmatch(r"[\d,]+", cells[4]):
            accepted[cells[1]] += float(cells[4].replace(",", ""))
    return accepted


def test_no_published_total_gives_away_a_hidden_count(site):
    """(b) Every total over collaborations minus the shown ones: 0, or at least the
    threshold spread over two or more hidden collaborations (each hidden n still anywhere in
    1..threshold-1); totals over the same cells agree with each other."""
    site.require()
    totals = _totals(site)
    assert len(totals) > 100
    learnt = [m for t in totals if (m := t.what_is_learnt(THRESHOLD))]
    by_cell: dict[tuple[str, str], list[Total]] = defaultdict(list)
    for t in totals:
        if t.source != "breakdowns":
            by_cell[(t.key, t.basis)].append(t)
    for (key, _basis), group in by_cell.items():
        for a, b in itertools.combinations(group, 2):
            if a.hidden == b.hidden and 0 < abs(a.remainder - b.remainder) < THRESHOLD:
                learnt.append(f"{key}: {a.source} and {b.source} leave {a.remainder:g} and "
                              f"{b.remainder:g} for the same hidden collaborations: their "
                              f"difference, {abs(a.remainder - b.remainder):g}, is a group of "
                              f"fewer than {THRESHOLD} hidden respondents")
    assert not learnt, ("an attacker works out hidden counts by subtraction:\n  "
                        + "\n  ".join(dict.fromkeys(learnt)) )


def test_group_sizes_in_the_technical_report_do_not_pin_down_hidden_counts(site):
    """(b) ICC's n0 = (N - sum n_i^2 / N) / (g - 1) and N give sum n_i^2: with the shown
    collaborations' n, the hidden collaborations' sum and sum of squares. Fails when only one
    set of hidden counts (1..threshold-1) fits them."""
    site.require()
    summaries = site.sheet("summaries")
    shown = summaries[~summaries["suppressed"]]
    hidden = _hidden_cells(summaries, ["wave_id", "characteristic"])
    learnt = []
    for r in site.csvs["downloads/technical-report/tbl-aggregation.csv"].to_dict("records"):
        wave, char = str(r["wave_id"]), r["characteristic"]
        mine = shown[(shown["wave_id"] == wave) & (shown["characteristic"] == char)]
        k = int(r["n_groups"]) - len(mine)
        big_n = float(r["n_used"])
        rest = big_n - mine["n"].sum()
        if k <= 0 or r["n0"] != r["n0"]:
            continue
        squares = big_n * (big_n - float(r["n0"]) * (int(r["n_groups"]) - 1)) - (
            mine["n"] ** 2).sum()
        # a reader knows a cell marked "<10" holds at most 9
        caps = hidden.get((wave, char), ((), ()))[1]
        top = int(round(rest)) - (k - 1)
        if len(caps) == k and max(caps) < math.inf:
            top = min(top, int(max(caps)))
        fits = [c for c in itertools.combinations_with_replacement(range(1, max(top, 0) + 1), k)
                if sum(c) == round(rest) and abs(sum(x * x for x in c) - squares) < 0.5]
        if len(fits) == 1:
            learnt.append(f"{wave} {char}: N = {big_n:g} and n0 = {r['n0']:.6f} over "
                          f"{int(r['n_groups'])} collaborations leave {k} hidden ones with "
                          f"sum {rest:g} and sum of squares {squares:.1f}: their counts are "
                          f"exactly {sorted(fits[0])}")
    assert not learnt, "the technical report's group sizes give away hidden counts:\n  " + \
        "\n  ".join(learnt)


# -- (c) statistics across collaborations ------------------------------------------------------

def welch(n: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> dict[str, float]:
    """Welch's (1951) one-way ANOVA from group summaries, and the ordinary omega and eta
    squared of the same groups (written out here, not taken from the library)."""
    n, mean, sd = (np.asarray(x, dtype=float) for x in (n, mean, sd))
    r = len(n)
    w = n / sd**2
    mw = (w * mean).sum() / w.sum()
    a = (w * (mean - mw) ** 2).sum() / (r - 1)
    lam = 3 * (((1 - w / w.sum()) ** 2) / (n - 1)).sum() / (r**2 - 1)
    grand = (n * mean).sum() / n.sum()
    ssb = (n * (mean - grand) ** 2).sum()
    ssw = ((n - 1) * sd**2).sum()
    msw = ssw / (n.sum() - r)
    return {"f": a / (1 + 2 * lam * (r - 2) / 3), "df1": r - 1.0, "df2": 1 / lam,
            "omega2": (ssb - (r - 1) * msw) / (ssb + ssw + msw), "np2": ssb / (ssb + ssw)}


STATISTICS = ("f", "df1", "df2", "omega2", "np2")


def _comparison_rows(site: Published):
    summaries = site.shown("summaries")
    for r in site.sheet("comparison").to_dict("records"):
        mine = summaries[(summaries["wave_id"] == r["wave_id"])
                         & (summaries["characteristic"] == r["characteristic"])]
        yield r, mine[(mine["n"] >= 2) & (mine["sd"] > 0)], mine


def _comparison_mismatches(site: Published) -> list[tuple[dict, pd.DataFrame, list[str]]]:
    found = []
    for r, used, mine in _comparison_rows(site):
        problems = []
        if len(used) >= 2 and r.get("f") == r.get("f") and r.get("f") is not None:
            expected = welch(used["n"], used["mean"], used["sd"])
            for stat in STATISTICS:
                got = r.get(stat)
                if got is not None and not math.isclose(got, expected[stat], rel_tol=1e-7,
                                                         abs_tol=1e-12):
                    problems.append(f"{stat} {got:.10g}, from the shown collaborations "
                                    f"{expected[stat]:.10g}")
        for column, expected in (("n_used_welch", used["n"].sum()),
                                 ("n_groups_used", len(used)),
                                 ("n_used_kruskal", mine["n"].sum()),
                                 ("n_groups_kruskal", len(mine)),
                                 ("df", len(mine) - 1)):
            got = r.get(column)
            if got is not None and got == got and got != expected:
                problems.append(f"{column} {got:g}, shown collaborations {expected:g}")
        if problems:
            found.append((r, used, problems))
    return found


def test_between_collaboration_statistics_use_only_shown_collaborations(site):
    """(c) Welch's F, df1, df2, omega squared, eta squared and the Welch and Kruskal-Wallis
    n and groups equal what the shown collaborations' published n, mean and sd give: the
    comparison table holds no information from a hidden collaboration."""
    site.require()
    found = _comparison_mismatches(site)
    lines = [f"{r['wave_id']} {r['characteristic']}: " + "; ".join(p) for r, _, p in found]
    assert not found, ("the comparison table includes hidden collaborations (each line is "
                       "information about them):\n  " + "\n  ".join(lines))


def _splits(rest: int, k: int, threshold: int) -> list[tuple[int, ...]]:
    """Every way ``k`` hidden groups of 2..threshold-1 (Welch needs two) make ``rest``."""
    return [c for c in itertools.combinations_with_replacement(range(2, threshold), k)
            if sum(c) == rest]


def _solve(published: dict, used: pd.DataFrame, sizes: tuple[int, ...]) -> list[tuple]:
    """The (n, mean, sd) of hidden groups of ``sizes`` that reproduce the published F, df2,
    omega squared and eta squared exactly (least squares from a few starting points; the
    two effect sizes are one equation, both being functions of SSB / SSW)."""
    k = len(sizes)
    target = np.array([published[s] for s in STATISTICS if s != "df1"])
    n = np.r_[used["n"].to_numpy(float), sizes]

    def residual(x):
        mean = np.r_[used["mean"].to_numpy(float), x[:k]]
        sd = np.r_[used["sd"].to_numpy(float), np.exp(x[k:])]
        got = welch(n, mean, sd)
        return (np.array([got[s] for s in STATISTICS if s != "df1"]) - target) / np.abs(target)

    found = []
    for start in itertools.product(*([(2.5, 4.0)] * k), *([(-0.3,)] * k)):
        fit = optimize.least_squares(residual, np.array(start, dtype=float), xtol=1e-15,
                                     ftol=1e-15, gtol=1e-15, max_nfev=200)
        if np.max(np.abs(fit.fun)) < 1e-9 and np.all((fit.x[:k] >= 1) & (fit.x[:k] <= 5)):
            found.append(tuple(sorted(zip(sizes, fit.x[:k], np.exp(fit.x[k:]), strict=True))))
    return found


def test_no_hidden_collaboration_can_be_solved_for_from_the_statistics(site):
    """(c) Where the comparison table differs from the shown collaborations, the attacker
    takes the number of hidden groups in it (n_groups_used minus the shown) and their total
    n (n_used_welch minus the shown), tries every split into counts of 2..threshold-1 and
    solves Welch's F, df2 and the effect sizes for their means and sds. Fails when only one
    split fits and it is the true hidden counts (the attacker has their n), or, with one
    hidden group (three equations, two unknowns), when the solution is its mean and sd.
    With two hidden groups the means and sds lie on a curve (four unknowns): the equality
    test above fails for that."""
    site.require()
    truth = {f"{s.name} {c}": (s.n[c], s.mean[c], s.sd[c])
             for s in site.secrets.values() for c in s.n if s.n[c] >= 2}
    recovered = []
    for r, used, _ in _comparison_mismatches(site):
        if r["wave_id"] != site.wave or not all(r.get(s) == r.get(s) for s in STATISTICS):
            continue
        k = int(r["n_groups_used"]) - len(used)
        rest = round(r["n_used_welch"] - used["n"].sum())
        if not 1 <= k <= 2:
            continue
        mine = {who: v for who, v in truth.items() if who.endswith(f" {r['characteristic']}")}
        fits = {sizes: found for sizes in _splits(rest, k, THRESHOLD)
                if (found := _solve(r, used, sizes))}
        where = f"{r['wave_id']} {r['characteristic']}"
        true_sizes = tuple(sorted(v[0] for v in mine.values()))
        if len(fits) == 1 and next(iter(fits)) == true_sizes:
            recovered.append(f"{where}: of the splits of {rest} hidden respondents into {k} "
                             f"collaborations only {true_sizes} fits F, df2 and the effect "
                             f"sizes: the hidden counts are {true_sizes} ("
                             + ", ".join(f"{who}: n = {v[0]}" for who, v in mine.items()) + ")")
        for found in fits.values() if k == 1 else ():  # one hidden group: overdetermined
            points = np.array([[x for group in f for x in group[1:]] for f in found])
            if np.ptp(points, axis=0).max() < 0.005:
                for size, m, sd in found[0]:
                    hits = [who for who, v in mine.items()
                            if v[0] == size and abs(v[1] - m) < 0.005 and abs(v[2] - sd) < 0.005]
                    recovered += [f"{where}: {who} solved: n = {size}, mean = {m:.4f}, "
                                  f"sd = {sd:.4f}" for who in hits]
    assert not recovered, ("an attacker solves the comparison table for hidden collaborations:"
                           "\n  " + "\n  ".join(recovered))


def test_peer_figures_use_only_shown_collaborations(site):
    """(c) Each peer distribution (peer_n, worst, quartiles, median, best, average, pooled
    within sd) equals the one of the shown collaborations with the same peer key; where a
    hidden collaboration shares the key, a difference would give its mean away."""
    site.require()
    peers = site.sheet("peers")
    summaries = site.shown("summaries").set_index(["wave_id", "collaboration_id",
                                                   "characteristic"])
    problems = []
    shown_cells = set(summaries.index)
    cells = list(peers[["wave_id", "collaboration_id", "characteristic"]].itertuples(
        index=False, name=None))
    strays = sorted(set(cells) - shown_cells)
    problems += [f"peers: a row for the hidden cell {r}" for r in strays[:10]]
    peers = peers[[c in shown_cells for c in cells]]
    keys = ["wave_id", "characteristic", "peer_set", "peer_key"]
    for key, group in peers[peers["mean"].notna()].groupby(keys, dropna=True):
        means = group["mean"].to_numpy(float)
        expected = {"peer_n": len(means), "peer_worst": means.min(), "peer_best": means.max(),
                    "peer_lower_quartile": np.quantile(means, 0.25),
                    "peer_median": np.quantile(means, 0.5),
                    "peer_upper_quartile": np.quantile(means, 0.75),
                    "peer_average": means.mean()}
        sds = summaries.loc[[(key[0], c, key[1]) for c in group["collaboration_id"]]]
        expected["sd_within"] = math.sqrt(((sds["n"] - 1) * sds["sd"] ** 2).sum()
                                          / (sds["n"] - 1).sum())
        for column, value in expected.items():
            got = group[column].dropna()
            if len(got) and not np.allclose(got.to_numpy(float), value, rtol=1e-9):
                hidden = [s.name for cid, s in site.secrets.items() if key[0] == site.wave and
                          _peer_key(site, cid, key[2]) == key[3]]
                problems.append(f"{' '.join(map(str, key))}: {column} {got.iloc[0]:.6g}, shown "
                                f"collaborations {value:.6g}" + (
                                    f" (hidden with the same key: {', '.join(hidden)}: "
                                    "the difference is about them)" if hidden else ""))
    assert not problems, "the peer figures include hidden collaborations:\n  " + "\n  ".join(
        problems[:40])


def _peer_key(site: Published, cid: str, peer_set: str) -> str | None:
    collab = next(c for c in site.programme.collaborations if c.id == cid)
    return {"all": "all", "peer_group": collab.peer_group, "type": collab.type,
            "region": collab.region, "main_value_mode": collab.main_value_mode}.get(peer_set)


# -- no download attacks its reader, no page runs a name ---------------------------------------

def _csv_cells(path: Path):
    with path.open(newline="", encoding="utf-8") as handle:
        for i, row in enumerate(csv.reader(handle)):
            for j, cell in enumerate(row):
                yield i, j, cell


def test_no_download_cell_is_a_formula_and_no_page_runs_markup(site):
    """Every user-supplied name starts with a formula or holds a script: no CSV or XLSX
    cell (column names included) starts with = + - @ tab CR unless it is a number stored as
    a number; the workbook holds no formula cell; no page has a script element, an event
    handler attribute or a javascript: link; the Prefect table has no formula text."""
    site.require()
    offences = []
    neutralised = 0
    for path in sorted((site.folder / "downloads").rglob("*.csv")):
        for i, j, cell in _csv_cells(path):
            if cell.startswith("'") and cell[1:2] in FORMULA_PREFIXES:
                neutralised += 1
            if cell[:1] in FORMULA_PREFIXES and not PLAIN_NUMBER.fullmatch(cell):
                offences.append(f"{path.relative_to(site.folder)} row {i} column {j}: {cell!r}")
    book = openpyxl.load_workbook(site.folder / "downloads" / "programme-tables.xlsx")
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                where = f"programme-tables.xlsx[{sheet.title}]!{cell.coordinate}"
                if cell.data_type == "f":
                    offences.append(f"{where}: a formula {cell.value!r}")
                elif isinstance(cell.value, str):
                    if cell.value[:1] in FORMULA_PREFIXES:
                        offences.append(f"{where}: text {cell.value!r}")
                    elif cell.value.startswith("'") and cell.value[1:2] in FORMULA_PREFIXES:
                        neutralised += 1
    for row in site.table:
        for column, value in row.items():
            if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
                offences.append(f"Prefect table {column}: {value!r}")
    for page, html in site.pages.items():
        parsed = _parse(html)
        for tag, attrs in parsed.tags:
            if tag == "script":
                offences.append(f"{page}: a <script> element")
            for name, value in attrs:
                if name.lower().startswith("on"):
                    offences.append(f"{page}: <{tag} {name}={value!r}>")
                if name.lower() in ("href", "src") and (value or "").strip().lower().startswith(
                        "javascript:"):
                    offences.append(f"{page}: <{tag} {name}={value!r}>")
    if "<script" in site.markdown:
        offences.append("Prefect summary: raw <script> markup from an export's name")
    assert not offences, ("a download or page can attack its reader:\n  "
                          + "\n  ".join(offences[:40]) + f"\n  ({len(offences)} in all)")
    # and the payloads did reach them, or the test would prove nothing
    assert neutralised, "no neutralised payload in the downloads"
    index = _parse(site.pages["index.html"])
    assert any("<script>alert(1)</script>" in t for table in index.tables for row in table
               for t, _ in row), "the markup name should show as text on the index"
    assert "&lt;script&gt;" in site.markdown, "the export's markup name should show escaped"
