"""Tests of the Shrout & Fleiss intraclass correlations (:mod:`collab_stats.rater_icc`).

* reference - psych's and DescTools' printed output for the Shrout & Fleiss (1979) data, the
  NAG Library's example for the same data, and pingouin 0.7 (same ANOVA formulas, 95% level)
  on that data and on larger simulated designs, each with its source and a tolerance that
  says what precision is claimed;
* recovery - interval coverage over many simulated designs (one grouped pass);
* the grouped fast path against the single-group function, missing ratings, bad input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest

from collab_stats.errors import AnalysisError, CollabStatsError, ParameterError
from collab_stats.rater_icc import (
    ICC_FORMS,
    grouped_intraclass_corr,
    intraclass_corr,
    intraclass_corr_wide,
)

FORMS = list(ICC_FORMS)

#: Shrout & Fleiss (1979): six targets (rows) rated by four judges J1..J4.
SF = pd.DataFrame(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    columns=["J1", "J2", "J3", "J4"],
    index=pd.Index([f"S{i}" for i in range(1, 7)], name="target"),
)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    return (
        wide.rename_axis("target")
        .reset_index()
        .melt(id_vars="target", var_name="rater", value_name="rating")
    )


def icc(data: pd.DataFrame, **kwargs) -> pd.DataFrame:
    return intraclass_corr(data, targets="target", raters="rater", ratings="rating", **kwargs)


@pytest.fixture(scope="module")
def sf_result() -> pd.DataFrame:
    return icc(to_long(SF)).set_index("form")


# --- reference values ------------------------------------------------------------------------


def test_psych_printed_output_for_shrout_fleiss(sf_result):
    """psych ``ICC(ratings)`` on the Shrout & Fleiss data, as printed in dwoll/RExRepos,
    md/interRaterICC.md (commit 6743c525713141f6990a60bfebbcd9f71f6f797a):

                             type  ICC    F df1 df2       p lower bound upper bound
    Single_raters_absolute   ICC1 0.17  1.8   5  18 0.16477      -0.133        0.72
    Single_random_raters     ICC2 0.29 11.0   5  15 0.00013       0.019        0.76
    Single_fixed_raters      ICC3 0.71 11.0   5  15 0.00013       0.342        0.95
    Average_raters_absolute ICC1k 0.44  1.8   5  18 0.16477      -0.884        0.91
    Average_random_raters   ICC2k 0.62 11.0   5  15 0.00013       0.071        0.93
    Average_fixed_raters    ICC3k 0.91 11.0   5  15 0.00013       0.676        0.99

    The same ICCs (.17, .29, .71, .44, .62, .91) are those of Shrout & Fleiss's example. This
    psych version's bounds are 95% intervals (F quantile 1 - alpha/2 at alpha = .05). Each
    figure is checked to half its last printed digit.
    """
    expected = {
        "icc": ([0.17, 0.29, 0.71, 0.44, 0.62, 0.91], 0.005),
        "f": ([1.8, 11.0, 11.0, 1.8, 11.0, 11.0], 0.05),
        "p_value": ([0.16477, 0.00013, 0.00013, 0.16477, 0.00013, 0.00013], 5e-6),
        "ci_low": ([-0.133, 0.019, 0.342, -0.884, 0.071, 0.676], 5e-4),
        "ci_high": ([0.72, 0.76, 0.95, 0.91, 0.93, 0.99], 5e-3),
    }
    for column, (values, tol) in expected.items():
        np.testing.assert_allclose(
            sf_result.loc[FORMS, column], values, rtol=0, atol=tol, err_msg=column
        )
    assert sf_result.loc[FORMS, "df1"].tolist() == [5] * 6
    assert sf_result.loc[FORMS, "df2"].tolist() == [18, 15, 15, 18, 15, 15]
    assert (sf_result["n_targets"] == 6).all() and (sf_result["n_raters"] == 4).all()
    assert (sf_result["n_used"] == 24).all() and (sf_result["n_total"] == 24).all()
    assert (sf_result["reason"] == "").all()


def test_desctools_printed_output_for_shrout_fleiss(sf_result):
    """DescTools ``ICC(ratings)`` (a port of psych's ICC) on the same data, printed in
    dwoll/RExRepos, md/interRaterICC.md (commit 5ee58a230f0af510b9539080e8637b653fca2b74):
    est 0.166 0.290 0.715 0.443 0.620 0.909; F-val 1.79 11.03; p-val 0.164769 0.000135.
    To half the last printed digit."""
    np.testing.assert_allclose(
        sf_result.loc[FORMS, "icc"], [0.166, 0.290, 0.715, 0.443, 0.620, 0.909], rtol=0, atol=5e-4
    )
    np.testing.assert_allclose(
        sf_result.loc[FORMS, "f"], [1.79, 11.03, 11.03, 1.79, 11.03, 11.03], rtol=0, atol=5e-3
    )
    np.testing.assert_allclose(
        sf_result.loc[FORMS, "p_value"],
        [0.164769, 0.000135] + [0.000135, 0.164769] + [0.000135] * 2,
        rtol=0,
        atol=5e-7,
    )


def test_nag_example_for_shrout_fleiss(sf_result):
    """NAG Library ``nag_anova_icc`` (g04gac) example: data g04gace.d are the Shrout & Fleiss
    table, ICC type Nag_ICC_1, alpha 0.05; results g04gace.r: ICC 0.17, 95.0% CI -0.13 to
    0.72, F 1.79 on 5.0 and 18.0 df, p 0.165 (support.nag.com, nagdoc_latest). To half the
    last printed digit."""
    row = sf_result.loc["ICC1"]
    np.testing.assert_allclose(
        [row["icc"], row["ci_low"], row["ci_high"]], [0.17, -0.13, 0.72], rtol=0, atol=0.005
    )
    assert abs(row["f"] - 1.79) <= 0.005 and abs(row["p_value"] - 0.165) <= 0.0005
    assert (row["df1"], row["df2"]) == (5, 18)


#: pingouin's own pandas deprecation warning (not ours to fix).
PINGOUIN_WARNING = "ignore:The inplace keyword in DataFrame.dropna"


@pytest.fixture
def unrounded_pingouin(monkeypatch):
    """pingouin (0.7) rounds its CI95 column to 2 decimals by default
    (``pingouin.options["round.column.CI95"] = 2``) and nothing else: switched off here."""
    monkeypatch.setitem(pingouin.options, "round.column.CI95", None)


def compare_with_pingouin(long: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """Our table against pingouin's, to 1e-10 in every figure; returns ours."""
    ours = icc(long)
    theirs = pingouin.intraclass_corr(
        long, targets="target", raters="rater", ratings="rating", **kwargs
    )
    assert theirs["Type"].tolist() == [
        "ICC(1,1)",
        "ICC(A,1)",
        "ICC(C,1)",
        "ICC(1,k)",
        "ICC(A,k)",
        "ICC(C,k)",
    ]
    ci = np.vstack(theirs["CI95"].to_numpy())
    for column, values in (
        ("icc", theirs["ICC"]),
        ("f", theirs["F"]),
        ("df1", theirs["df1"]),
        ("df2", theirs["df2"]),
        ("p_value", theirs["pval"]),
        ("ci_low", ci[:, 0]),
        ("ci_high", ci[:, 1]),
    ):
        np.testing.assert_allclose(ours[column], values, rtol=1e-10, atol=1e-10, err_msg=column)
    return ours


@pytest.mark.filterwarnings(PINGOUIN_WARNING)
def test_pingouin_default_output_rounds_only_the_interval(sf_result):
    """pingouin as users call it: its CI95 rounded to 2 decimals, to that precision."""
    theirs = pingouin.intraclass_corr(
        to_long(SF), targets="target", raters="rater", ratings="rating"
    )
    ci = np.vstack(theirs["CI95"].to_numpy())
    np.testing.assert_allclose(sf_result.loc[FORMS, ["ci_low", "ci_high"]], ci, rtol=0, atol=0.005)
    np.testing.assert_allclose(sf_result.loc[FORMS, "icc"], theirs["ICC"], rtol=1e-10)


@pytest.mark.filterwarnings(PINGOUIN_WARNING)
@pytest.mark.usefixtures("unrounded_pingouin")
def test_pingouin_on_shrout_fleiss():
    compare_with_pingouin(to_long(SF))


def simulate(rng, n_targets, n_raters, *, target_sd=1.0, rater_sd=0.7, error_sd=1.0):
    """Two-way random model: rating = target effect + rater effect + error."""
    x = (
        rng.normal(0, target_sd, (n_targets, 1))
        + rng.normal(0, rater_sd, (1, n_raters))
        + rng.normal(0, error_sd, (n_targets, n_raters))
    )
    return pd.DataFrame(x + 3, columns=[f"r{j}" for j in range(n_raters)])


@pytest.mark.filterwarnings(PINGOUIN_WARNING)
@pytest.mark.usefixtures("unrounded_pingouin")
@pytest.mark.parametrize(("seed", "n_targets", "n_raters"), [(1, 40, 5), (2, 200, 3), (3, 8, 12)])
def test_pingouin_on_simulated_designs(seed, n_targets, n_raters):
    compare_with_pingouin(to_long(simulate(np.random.default_rng(seed), n_targets, n_raters)))


@pytest.mark.filterwarnings(PINGOUIN_WARNING)
@pytest.mark.usefixtures("unrounded_pingouin")
def test_pingouin_listwise_deletion():
    """pingouin's nan_policy='omit' drops targets missing a rating, as ours does."""
    wide = simulate(np.random.default_rng(4), 30, 4)
    wide.iloc[[2, 7, 7, 19], [0, 1, 3, 2]] = np.nan
    ours = compare_with_pingouin(to_long(wide), nan_policy="omit")
    assert (ours["n_targets"] == 27).all() and (ours["n_used"] == 27 * 4).all()
    assert (ours["n_total"] == 120).all()


# --- conventions -----------------------------------------------------------------------------


def test_ci_level_and_psych_alpha_convention(sf_result):
    """ci is the two-sided level: bounds use the F quantile 1 - (1 - ci) / 2. psych versions
    with qf(1 - alpha) (source comment "fixed again? on 5/21/19") give at alpha = .05 what
    ci=0.90 gives here; narrower than the 95% interval and still around the estimate."""
    ninety = icc(to_long(SF), ci=0.90).set_index("form")
    assert (ninety["ci_low"] > sf_result["ci_low"]).all()
    assert (ninety["ci_high"] < sf_result["ci_high"]).all()
    assert (ninety["ci_low"] < ninety["icc"]).all() and (ninety["icc"] < ninety["ci_high"]).all()
    pd.testing.assert_series_equal(ninety["icc"], sf_result["icc"])


def test_interval_coverage_over_simulated_designs():
    """Recovery: 2,000 designs of 12 targets x 4 raters from the two-way random model
    (target, rater, error variances 1, 0.5, 1: ICC2 = 0.4, ICC3 = 0.5, ICC2k = 0.727,
    ICC3k = 0.8), in one grouped pass. ICC3's interval is exact, so its 95% interval covers
    the truth in 95% +- 1.5% (3 binomial SDs) of designs; ICC2's is approximate (+- 2.5%)."""
    rng = np.random.default_rng(20240515)
    n_designs, n, k = 2000, 12, 4
    x = (
        rng.normal(0, 1, (n_designs, n, 1))
        + rng.normal(0, np.sqrt(0.5), (n_designs, 1, k))
        + rng.normal(0, 1, (n_designs, n, k))
    )
    long = pd.DataFrame(
        {
            "design": np.repeat(np.arange(n_designs), n * k),
            "target": np.tile(np.repeat(np.arange(n), k), n_designs),
            "rater": np.tile(np.arange(k), n_designs * n),
            "rating": x.ravel(),
        }
    )
    out = grouped_intraclass_corr(
        long, by="design", targets="target", raters="rater", ratings="rating"
    )
    truth = {"ICC2": 0.4, "ICC3": 0.5, "ICC2k": 0.4 * 4 / 2.2, "ICC3k": 0.8}
    for form, value in truth.items():
        rows = out[out["form"] == form]
        covered = ((rows["ci_low"] <= value) & (value <= rows["ci_high"])).mean()
        assert abs(covered - 0.95) <= (0.015 if form.startswith("ICC3") else 0.025), form


# --- grouped path ----------------------------------------------------------------------------


def test_grouped_equals_single_group_function():
    """The vectorised path gives, group by group, the single-group function's figures
    (to 1e-12), with unequal group sizes, raters and missing ratings."""
    rng = np.random.default_rng(5)
    parts = []
    for g, (n, k) in enumerate([(8, 3), (8, 5), (20, 2), (6, 4), (3, 3)]):
        wide = simulate(rng, n, k)
        if g == 1:
            wide.iloc[0, 2] = np.nan
        parts.append(to_long(wide).assign(collaboration_id=f"c{g}", wave="w1"))
    data = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=0)
    out = grouped_intraclass_corr(
        data, by=["collaboration_id", "wave"], targets="target", raters="rater", ratings="rating"
    )
    assert out["collaboration_id"].unique().tolist() == [f"c{g}" for g in range(5)]
    for g in range(5):
        mine = out[out["collaboration_id"] == f"c{g}"].drop(columns=["collaboration_id", "wave"])
        single = icc(data[data["collaboration_id"] == f"c{g}"])
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), single, rtol=1e-12, atol=1e-12)


def test_grouped_reports_unusable_groups_instead_of_raising():
    data = pd.concat(
        [
            to_long(SF).assign(collaboration_id="ok"),
            pd.DataFrame(
                {
                    "collaboration_id": "one_rater",
                    "target": ["a", "b"],
                    "rater": "p",
                    "rating": [1.0, 2.0],
                }
            ),
            pd.DataFrame(
                {
                    "collaboration_id": "gaps",
                    "target": ["a", "a", "b"],
                    "rater": ["p", "q", "p"],
                    "rating": [1.0, 2.0, 3.0],
                }
            ),
        ],
        ignore_index=True,
    )
    out = grouped_intraclass_corr(
        data, by="collaboration_id", targets="target", raters="rater", ratings="rating"
    ).set_index("collaboration_id")
    assert out.loc["one_rater", "icc"].isna().all()
    assert (out.loc["one_rater", "reason"] == "fewer than two raters with a rating").all()
    assert out.loc["gaps", "icc"].isna().all()
    assert out.loc["gaps", "reason"].str.contains("fewer than two targets").all()
    assert out.loc["gaps", "n_total"].eq(3).all() and out.loc["gaps", "n_used"].eq(2).all()
    pd.testing.assert_series_equal(
        out.loc["ok", "icc"].reset_index(drop=True), icc(to_long(SF))["icc"]
    )


def test_relabelling_and_reordering_change_nothing(sf_result):
    long = to_long(SF)
    shuffled = long.sample(frac=1, random_state=3).assign(
        target=lambda d: d["target"].map({f"S{i}": 100 - i for i in range(1, 7)}),
        rater=lambda d: d["rater"].str.lower(),
    )
    np.testing.assert_allclose(
        icc(shuffled)["icc"], sf_result.loc[FORMS, "icc"], rtol=1e-12, atol=1e-12
    )


# --- missing data and odd designs ------------------------------------------------------------


def test_listwise_drops_targets_and_silent_raters():
    """A target missing one rating is dropped; a rater with no rating at all (and rows
    without a target or rater id) are not part of the table; the counts say so."""
    long = to_long(SF)
    long.loc[(long["target"] == "S2") & (long["rater"] == "J3"), "rating"] = np.nan
    extra = pd.DataFrame(
        {"target": ["S1", "S2", None], "rater": ["J5", "J5", "J1"], "rating": [np.nan, np.nan, 4.0]}
    )
    out = icc(pd.concat([long, extra], ignore_index=True))
    expected = icc(to_long(SF.drop(index="S2")))
    np.testing.assert_allclose(out["icc"], expected["icc"], rtol=1e-12, atol=1e-12)
    assert (out["n_targets"] == 5).all() and (out["n_raters"] == 4).all()
    assert (out["n_used"] == 20).all() and (out["n_total"] == 27).all()


def test_wide_helper_equals_long(sf_result):
    wide = intraclass_corr_wide(SF).set_index("form")
    pd.testing.assert_frame_equal(wide, sf_result)
    with_gap = SF.astype(float)
    with_gap.iloc[0, 0] = np.nan
    assert (intraclass_corr_wide(with_gap)["n_targets"] == 5).all()


def test_identical_ratings_give_nan_with_reason():
    out = icc(to_long(pd.DataFrame(np.full((4, 3), 2.0), columns=list("abc"))))
    assert out[["icc", "f", "p_value", "ci_low", "ci_high"]].isna().all().all()
    assert (out["reason"] == "all ratings are identical: no variance to split").all()


def test_perfect_consistency_with_a_rater_shift():
    """Rater b rates every target one point above rater a: MSE = 0. ICC3 = 1 (consistency),
    ICC2 < 1 (the shift costs absolute agreement) and its interval is not defined."""
    out = icc(to_long(pd.DataFrame({"a": [1.0, 2.0, 4.0, 5.0], "b": [2.0, 3.0, 5.0, 6.0]})))
    out = out.set_index("form")
    assert out.loc["ICC3", "icc"] == pytest.approx(1.0) and np.isinf(out.loc["ICC3", "f"])
    assert 0 < out.loc["ICC2", "icc"] < 1
    assert np.isnan(out.loc["ICC2", "ci_low"]) and "MSE = 0" in out.loc["ICC2", "reason"]


def test_icc2k_limit_outside_the_parameter_space_is_nan():
    """Three targets, two raters: psych's formula gives ICC2's lower limit -1.36 < -1/(k - 1);
    its step-up (7.5 in pingouin, above the estimate 0.92) is reported as NaN with a reason."""
    long = pd.DataFrame(
        {"target": list("aabbcc"), "rater": ["p", "q"] * 3, "rating": [1, 2, 3, 3, 5, 4]}
    )
    out = icc(long).set_index("form")
    assert out.loc["ICC2", "ci_low"] == pytest.approx(-1.363636, abs=1e-6)
    assert np.isnan(out.loc["ICC2k", "ci_low"]) and out.loc["ICC2k", "ci_high"] < 1
    assert "step-up" in out.loc["ICC2k", "reason"] and out.loc["ICC2", "reason"] == ""


# --- bad input -------------------------------------------------------------------------------


def test_duplicate_rating_names_target_rater_and_columns():
    long = pd.concat(
        [to_long(SF), pd.DataFrame({"target": ["S3"], "rater": ["J2"], "rating": [5.0]})],
        ignore_index=True,
    )
    with pytest.raises(
        AnalysisError,
        match=r"target 'S3' \(column 'target'\).*rater 'J2' "
        r"\(column 'rater'\)",
    ):
        icc(long)
    grouped = long.assign(collaboration_id="c7")
    with pytest.raises(AnalysisError, match=r"in group \{'collaboration_id': 'c7'\}"):
        grouped_intraclass_corr(
            grouped, by="collaboration_id", targets="target", raters="rater", ratings="rating"
        )


def test_too_few_raters_or_targets_name_the_column():
    one_rater = to_long(SF[["J1"]])
    with pytest.raises(AnalysisError, match=r"column 'rater' has 1 rater"):
        icc(one_rater)
    one_target = to_long(SF.iloc[:1])
    with pytest.raises(AnalysisError, match=r"column 'target' has 1 target"):
        icc(one_target)
    gaps = SF.astype(float)
    gaps.iloc[1:, 0] = np.nan
    with pytest.raises(AnalysisError, match=r"column 'target' has 1 target.*listwise"):
        icc(to_long(gaps))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ci": 1.0}, r"ci must be in \(0, 1\); got 1.0"),
        ({"ci": "95%"}, "ci must be a number"),
        ({"nan_policy": "pairwise"}, r"nan_policy must be 'listwise' .*got 'pairwise'"),
        (
            {"targets": "characteristic"},
            r"targets must name a column of data; got 'characteristic'",
        ),
        ({"raters": "target"}, "must be different columns"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, message):
    call = {"targets": "target", "raters": "rater", "ratings": "rating", **kwargs}
    with pytest.raises(ParameterError, match=message):
        intraclass_corr(to_long(SF), **call)


def test_bad_data_and_by():
    with pytest.raises(ParameterError, match="data must be a pandas DataFrame"):
        intraclass_corr(SF.to_numpy(), targets="t", raters="r", ratings="x")
    text = to_long(SF).assign(rating=lambda d: d["rating"].astype(str) + " points")
    with pytest.raises(ParameterError, match="ratings column 'rating' must be numeric"):
        icc(text)
    with pytest.raises(ParameterError, match=r"by names columns that are not in data"):
        grouped_intraclass_corr(
            to_long(SF), by=["wave"], targets="target", raters="rater", ratings="rating"
        )
    with pytest.raises(ParameterError, match="by columns must differ"):
        grouped_intraclass_corr(
            to_long(SF), by="rater", targets="target", raters="rater", ratings="rating"
        )
    with pytest.raises(ParameterError, match="table must be a pandas DataFrame"):
        intraclass_corr_wide(SF.to_numpy())
    assert issubclass(ParameterError, CollabStatsError)
