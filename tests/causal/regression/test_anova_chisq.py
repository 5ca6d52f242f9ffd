"""ANOVA and chi-square: engine agreement, published numbers, aggregate path = row path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from scipy.stats.contingency import association
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.oneway import anova_oneway

from causal.regression import (
    anova,
    anova_from_aggregates,
    chi_square,
    chi_square_from_counts,
    chi_square_gof,
    group_aggregates,
)
from servicelab.errors import DataError


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 600
    df = pd.DataFrame({"queue": rng.choice(["access", "billing", "general"], n, p=[0.5, 0.3, 0.2]),
                       "arm": rng.choice(["control", "treatment"], n)})
    sd = df.queue.map({"access": 1.0, "billing": 2.0, "general": 3.5})
    df["y"] = (df.queue == "billing") * 0.4 + (df.arm == "treatment") * -0.3 + rng.normal(size=n) * sd
    return df


def test_one_way_equals_scipy_and_statsmodels(frame):
    r = anova(frame, "y", "queue")
    groups = [g["y"].to_numpy() for _, g in frame.groupby("queue")]
    ref = stats.f_oneway(*groups)
    row = r.to_frame().loc["queue"]
    assert row["F"] == pytest.approx(ref.statistic, rel=1e-10)
    assert row["pvalue"] == pytest.approx(ref.pvalue, rel=1e-8)
    lm = anova_lm(smf.ols("y ~ C(queue)", frame).fit())
    assert row["sum_sq"] == pytest.approx(lm.loc["C(queue)", "sum_sq"], rel=1e-10)
    assert row["eta_sq"] == pytest.approx(lm["sum_sq"].iloc[0] / lm["sum_sq"].sum(), rel=1e-10)
    assert any(d.name == "unequal_variances" for d in r.diagnostics)  # sd 1 vs 3.5


def test_welch_equals_statsmodels(frame):
    r = anova(frame, "y", "queue", kind="welch")
    ref = anova_oneway(frame["y"], frame["queue"], use_var="unequal", welch_correction=True)
    row = r.to_frame().loc["queue"]
    assert row["F"] == pytest.approx(ref.statistic, rel=1e-10)
    assert r.to_frame().loc["Residual", "df"] == pytest.approx(ref.df[1], rel=1e-10)


@pytest.mark.parametrize("typ", [2, 3])
def test_two_way_equals_anova_lm(frame, typ):
    r = anova(frame, "y", ["queue", "arm"], typ=typ)
    if typ == 2:
        lm = anova_lm(smf.ols("y ~ C(queue) * C(arm)", frame).fit(), typ=2)
        names = ["C(queue)", "C(arm)", "C(queue):C(arm)", "Residual"]
    else:
        lm = anova_lm(smf.ols("y ~ C(queue, Sum) * C(arm, Sum)", frame).fit(), typ=3)
        names = ["C(queue, Sum)", "C(arm, Sum)", "C(queue, Sum):C(arm, Sum)", "Residual"]
    ours = r.to_frame()
    np.testing.assert_allclose(ours["sum_sq"].to_numpy(), lm.loc[names, "sum_sq"].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours["F"].to_numpy()[:3], lm.loc[names[:3], "F"].to_numpy(), rtol=1e-8)


def test_aggregate_path_equals_row_path(frame):
    for fs, kind in ((["queue"], "classical"), (["queue"], "welch"), (["queue", "arm"], "classical")):
        rows = anova(frame, "y", fs, kind=kind).to_frame()
        agg = group_aggregates(frame, "y", fs)  # what SELECT queue, count(*), avg(y), var_samp(y) returns
        pd.testing.assert_frame_equal(anova_from_aggregates(agg, fs, kind=kind, outcome="y").to_frame(),
                                      rows, rtol=1e-10)


def test_chi_square_published_and_engine():
    """Agresti (2007), Introduction to Categorical Data Analysis, Table 2.5 (GSS party by gender):
    X^2 = 30.07 on 2 df."""
    t = pd.DataFrame([[762, 327, 468], [484, 239, 477]], index=["female", "male"],
                     columns=["Democrat", "Independent", "Republican"])
    r = chi_square_from_counts(t)
    assert r.statistic == pytest.approx(30.07, abs=0.005) and r.df == 2
    assert r.effect_size == pytest.approx(np.sqrt(30.0701 / 2757), rel=1e-3)


def test_chi_square_rows_equal_counts_and_scipy():
    from causaldata import titanic

    df = titanic.load_pandas().data
    r = chi_square(df, "class", "survived")
    obs = pd.crosstab(df["class"], df["survived"]).to_numpy()
    ref = stats.chi2_contingency(obs, correction=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.effect_size == pytest.approx(association(obs, method="cramer"), rel=1e-12)
    long = df.groupby(["class", "survived"], observed=True).size().rename("n").reset_index()
    r2 = chi_square_from_counts(long, "class", "survived")
    assert r2.statistic == pytest.approx(r.statistic, rel=1e-12)
    assert r.summary().to_frame().shape == (1, 6) and r.plot() is not None


def test_goodness_of_fit_equals_scipy():
    obs = [48, 35, 15, 2]
    p = [0.4, 0.35, 0.2, 0.05]
    r = chi_square_gof(obs, p)
    ref = stats.chisquare(obs, np.array(p) * 100)
    assert r.statistic == pytest.approx(ref.statistic) and r.pvalue == pytest.approx(ref.pvalue)
    assert r.effect_size == pytest.approx(np.sqrt(ref.statistic / 100))
    assert any(d.name == "small_expected" for d in r.diagnostics) is False


def test_bad_input(frame):
    with pytest.raises(DataError, match="nope"):
        anova(frame, "nope", "queue")
    with pytest.raises(DataError, match="at least two groups"):
        anova(frame.assign(one="a"), "y", "one")
    with pytest.raises(DataError, match="all zero"):
        chi_square_from_counts(pd.DataFrame([[1, 0], [2, 0]]))
    with pytest.raises(DataError, match="sum to 1"):
        chi_square_gof([1, 2], [0.5, 0.6])
    with pytest.raises(DataError, match="NULL"):
        chi_square(frame.assign(arm=frame.arm.where(frame.index > 2)), "queue", "arm")


def test_world_queue_handle_times_differ(world_small):
    """On the world, handle time differs by queue (the world's reasons have different medians)."""
    c = world_small.tables["contacts"]
    c = c[~c.abandoned]
    r = anova(c, "handle_s", "queue", kind="welch")
    assert r.pvalue < 1e-6
    # FCR by arm: chi-square detects the routing-v2 effect on FCR at this size
    a = world_small.tables["experiment_assignments"]
    m = c.merge(a[["customer_id", "variant"]], on="customer_id").assign(fcr=lambda f: f.fcr.astype(bool))
    chi = chi_square(m, "variant", "fcr")
    rate = m.groupby("variant")["fcr"].mean()
    assert rate["treatment"] > rate["control"] and chi.pvalue < 0.01
