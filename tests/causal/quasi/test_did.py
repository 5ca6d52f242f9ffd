"""DiD: anchors (organ donation TWFE, bank failures 2x2), staggered ground truth, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import causaldata
import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causal.quasi import TWFE, DiD2x2, StaggeredDiD
from servicelab.errors import DataError, DesignError
from tests.anchors import load_anchor

matplotlib.use("Agg")
ANCHOR = load_anchor("causal")


def test_organ_donation_twfe_clustered():
    a = ANCHOR["organ_donation_did"]
    o = causaldata.organ_donations.load_pandas().data
    assert o.shape[0] == 27 * 6
    # California switched to active choice in 2011 Q3 (Quarter_Num 4 = Q32011)
    o = o.assign(treated=((o.State == "California") & (o.Quarter_Num >= 4)).astype(int))
    res = TWFE("Rate", "State", "Quarter_Num", "treated").fit(o)
    assert res.estimate.estimate == pytest.approx(a["estimate"], rel=a["tolerance_rel"])
    assert res.estimate.se == pytest.approx(a["cluster_se"], rel=a["tolerance_rel"])
    json.dumps(res.to_dict())
    res.plot()


def banks_2x2():
    # the file behind causalpy.load_data("banks"), read without importing PyMC (slow import)
    root = importlib.util.find_spec("causalpy").submodule_search_locations[0]
    b = pd.read_csv(Path(root) / "data" / "banks.csv")
    july1 = b[(b.month == 7) & (b.day == 1) & b.year.isin([1930, 1931])]
    return pd.DataFrame({
        "banks": np.concatenate([july1["bib6"], july1["bib8"]]),
        "sixth": [1, 1, 0, 0],  # 6th district: the Atlanta Fed lent to banks (treated)
        "post": np.concatenate([july1["year"] == 1931] * 2).astype(int),
    })


def test_bank_failures_2x2():
    a = ANCHOR["bank_failures_did"]
    res = DiD2x2("banks", "sixth", "post").fit(banks_2x2())
    assert res.estimate.estimate == pytest.approx(a["estimate"], abs=a["tolerance_abs"])
    assert res.estimate.se is None  # four cells, no residual degrees of freedom
    assert "parallel trends" in str(res.summary())


def staggered_panel(rng: np.random.Generator, n_units: int = 30, periods: int = 12
                    ) -> pd.DataFrame:
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(periods)],
                      columns=["unit", "period"])
    df["adopt"] = df["unit"].map(lambda u: [3, 7, np.nan][u % 3])
    rel = df["period"] - df["adopt"]
    effect = np.where(rel >= 0, 1.0 + 0.4 * rel, 0.0)  # effects grow with exposure
    unit_fe = rng.normal(size=n_units)[df["unit"]]
    df["y"] = unit_fe + 0.2 * df["period"] + effect + rng.normal(0, 0.3, len(df))
    df["effect"] = effect
    df["d"] = (rel >= 0).astype(int)
    return df


def test_staggered_recovers_att_where_twfe_is_biased():
    df = staggered_panel(np.random.default_rng(1))
    truth = df.loc[df.d == 1, "effect"].mean()
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=99).fit(df, rng=0)
    assert res.att.covers(truth)
    assert not res.twfe.covers(truth)
    assert res.twfe.estimate < truth - 0.3  # forbidden comparisons drag TWFE down
    es = res.event_study.set_index("rel_time")
    for h in range(4):
        assert es.loc[h, "estimate"] == pytest.approx(1.0 + 0.4 * h, abs=4 * es.loc[h, "se"] + 0.05)
    assert res.pretrend_p > 0.01
    assert "pre-trend" in str(res.summary())
    json.dumps(res.to_dict())
    res.plot()


def test_pretrend_test_detects_violation():
    rng = np.random.default_rng(2)
    df = staggered_panel(rng)
    # treated cohorts trend up before adoption: parallel trends fail
    df.loc[df.adopt.notna(), "y"] += 0.3 * df.loc[df.adopt.notna(), "period"]
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=99).fit(df, rng=0)
    assert res.pretrend_p < 0.05
    assert any(d.name == "pretrend" and d.status == "warning" for d in res.diagnostics)


def test_staggered_determinism():
    df = staggered_panel(np.random.default_rng(3), n_units=12, periods=8)
    spec = StaggeredDiD("y", "unit", "period", "adopt", n_boot=30)
    a, b = spec.fit(df, rng=7), spec.fit(df, rng=7)
    assert a.att == b.att
    pd.testing.assert_frame_equal(a.event_study, b.event_study)


def _twfe_panel(rng: np.random.Generator, n_units: int = 40, periods: int = 6) -> pd.DataFrame:
    df = pd.DataFrame([(u, t) for u in range(n_units) for t in range(periods)], columns=["u", "t"])
    df["d"] = ((df.u < n_units // 2) & (df.t >= periods // 2)).astype(int)
    df["y"] = (rng.normal(size=n_units)[df.u] + 0.2 * df.t + 1.5 * df.d
               + rng.normal(0, 1, len(df)))
    return df


def test_ci_level_sets_the_interval_of_every_did_spec():
    # same estimate and SE at 90% and 95%; the interval is estimate +- z_{0.95} se (scipy's
    # quantile), recorded with its level
    z90 = stats.norm.ppf(0.95)
    df = _twfe_panel(np.random.default_rng(4))
    panel = staggered_panel(np.random.default_rng(5), n_units=15, periods=8)
    fits = [
        (lambda lvl: TWFE("y", "u", "t", "d", ci_level=lvl).fit(df).estimate),
        (lambda lvl: DiD2x2("y", "g", "p", cluster="u", ci_level=lvl).fit(
            df.assign(g=(df.u < 20).astype(int), p=(df.t >= 3).astype(int))).estimate),
        (lambda lvl: StaggeredDiD("y", "unit", "period", "adopt", n_boot=30, ci_level=lvl)
         .fit(panel, rng=1).att),
    ]
    for fit in fits:
        e90, e95 = fit(0.90), fit(0.95)
        assert e90.ci_level == 0.90 and e95.ci_level == 0.95
        assert e90.estimate == e95.estimate and e90.se == e95.se
        assert (e90.ci_high - e90.ci_low) / 2 == pytest.approx(z90 * e90.se, rel=1e-12)
        assert e95.ci_low < e90.ci_low < e90.estimate < e90.ci_high < e95.ci_high
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=30, ci_level=0.9).fit(panel, rng=1)
    assert res.twfe.ci_level == res.cs_att.ci_level == 0.9
    assert "90%" in res.plot().get_ylabel()
    for bad in (0.0, 1.0, 95):
        with pytest.raises(DesignError, match="ci_level"):
            TWFE("y", "u", "t", "d", ci_level=bad)
        with pytest.raises(DesignError, match="ci_level"):
            StaggeredDiD("y", "u", "t", "a", ci_level=bad)
        with pytest.raises(DesignError, match="ci_level"):
            DiD2x2("y", "g", "p", ci_level=bad)


def test_twfe_90_percent_interval_covers_about_90_percent():
    # 200 panels with 40 clusters and a known effect of 1.5: the binomial band (+-3.5 sd around
    # 0.90, allowing CR1's small undercoverage) holds for any seed
    rng = np.random.default_rng(11)
    hits = [TWFE("y", "u", "t", "d", ci_level=0.9).fit(_twfe_panel(rng)).estimate.covers(1.5)
            for _ in range(200)]
    sd = np.sqrt(0.9 * 0.1 / 200)
    assert 0.9 - 3.5 * sd - 0.02 < np.mean(hits) < 0.9 + 3.5 * sd


# -- bad input ---------------------------------------------------------------------------------
def test_no_pre_period():
    df = staggered_panel(np.random.default_rng(4), n_units=9, periods=6)
    df["adopt"] = df["adopt"].where(df["adopt"].isna(), 0)  # treated from period 0
    with pytest.raises(DataError, match="no pre-period"):
        StaggeredDiD("y", "unit", "period", "adopt", n_boot=5).fit(df)
    with pytest.raises(DataError, match="no pre-period"):
        TWFE("y", "unit", "period", "d").fit(df.assign(d=df["adopt"].notna().astype(int)))
    with pytest.raises(DataError, match="all four group x period cells"):
        DiD2x2("y", "g", "post").fit(pd.DataFrame({"y": [1.0, 2.0], "g": [0, 1], "post": [1, 1]}))


def test_no_never_or_not_yet_treated_units():
    df = staggered_panel(np.random.default_rng(5), n_units=9, periods=8)
    df["adopt"] = 3  # everyone adopts at once, no never-treated: no controls after period 3
    with pytest.raises(DataError, match="no never- or not-yet-treated"):
        StaggeredDiD("y", "unit", "period", "adopt", n_boot=5).fit(df)
    with pytest.raises(DataError, match="never-treated"):
        TWFE("y", "unit", "period", "d").fit(df.assign(d=(df.period >= 3).astype(int)))


def test_missing_columns_and_non_binary():
    df = staggered_panel(np.random.default_rng(6), n_units=6, periods=5)
    with pytest.raises(DataError, match="not in the data"):
        TWFE("y", "unit", "period", "nope").fit(df)
    with pytest.raises(DataError, match="0/1"):
        TWFE("y", "unit", "period", "adopt").fit(df.fillna({"adopt": 2}))


# -- weights, covariates, Callaway-Sant'Anna, argument names ---------------------------------------
def _weighted_panel(rng: np.random.Generator) -> pd.DataFrame:
    df = staggered_panel(rng, n_units=30, periods=10)
    df["volume"] = rng.integers(20, 400, len(df)).astype(float)
    df["load"] = rng.normal(size=len(df)) + 0.1 * df["period"]  # time-varying covariate
    df["y"] = df["y"] + 0.8 * df["load"]
    return df


def test_twfe_weights_and_covariates_equal_statsmodels_dummies():
    import statsmodels.formula.api as smf

    df = _weighted_panel(np.random.default_rng(11))
    df = df[df.adopt.isna() | (df.adopt == 7)]  # one cohort: TWFE is fine here
    r = TWFE("y", "unit", "period", "d", weights="volume", covariates=["load"]).fit(df)
    ref = smf.wls("y ~ d + load + C(unit) + C(period)", df, weights=df.volume).fit(
        cov_type="cluster", cov_kwds={"groups": df.unit})
    assert r.estimate.estimate == pytest.approx(ref.params["d"], rel=1e-8)
    assert r.estimate.se == pytest.approx(ref.bse["d"], rel=1e-6)
    assert "weighted by volume" in r.estimate.method


def test_twfe_treated_keyword_is_deprecated_but_works():
    df = staggered_panel(np.random.default_rng(12))
    df = df[df.adopt.isna() | (df.adopt == 7)]
    with pytest.warns(DeprecationWarning, match="treatment"):
        old = TWFE("y", "unit", "period", treated="d").fit(df)
    new = TWFE("y", "unit", "period", treatment="d").fit(df)
    assert old.estimate == new.estimate


def test_staggered_weights_and_covariates_equal_pyfixest_did2s():
    """Gardner's two-stage DiD (pyfixest.did2s) equals the imputation ATT, weighted and with a
    time-varying covariate."""
    import pyfixest as pf

    df = _weighted_panel(np.random.default_rng(13))
    r = StaggeredDiD("y", "unit", "period", "adopt", weights="volume", covariates=["load"],
                     n_boot=20).fit(df, rng=0)
    ref = pf.did2s(df, yname="y", first_stage="~ load | unit + period", second_stage="~ d",
                   treatment="d", cluster="unit", weights="volume")
    assert r.att.estimate == pytest.approx(float(ref.coef()["d"]), rel=1e-6)
    truth = np.average(df.loc[df.d == 1, "effect"], weights=df.loc[df.d == 1, "volume"])
    assert r.att.covers(truth)
    plain = StaggeredDiD("y", "unit", "period", "adopt", n_boot=20).fit(df, rng=0)
    ref0 = pf.did2s(df, yname="y", first_stage="~ 0 | unit + period", second_stage="~ d",
                    treatment="d", cluster="unit")
    assert plain.att.estimate == pytest.approx(float(ref0.coef()["d"]), rel=1e-6)
    assert abs(plain.att.estimate - truth) > abs(r.att.estimate - truth)  # the covariate matters


def test_callaway_santanna_equals_two_by_two_and_covers_truth():
    import statsmodels.formula.api as smf

    df = staggered_panel(np.random.default_rng(14))
    res = StaggeredDiD("y", "unit", "period", "adopt", n_boot=60, cs_control="never").fit(df, rng=1)
    gt = res.group_time.set_index(["cohort", "period"])
    # ATT(g=7, t=9) with never-treated controls = the 2x2 DiD of cohort 7 vs never, periods 6 and 9
    sub = df[(df.adopt.isna() | (df.adopt == 7)) & df.period.isin([6, 9])].assign(
        g=lambda f: f.adopt.notna().astype(int), post=lambda f: (f.period == 9).astype(int))
    ref = smf.ols("y ~ g * post", sub).fit()
    assert gt.loc[(7, 9), "att"] == pytest.approx(ref.params["g:post"], rel=1e-10)
    truth = df.loc[df.d == 1, "effect"].mean()
    assert res.cs_att.covers(truth) and res.att.covers(truth)
    assert next(d for d in res.diagnostics if d.name == "cross_check").status == "ok"
    es = res.cs_event_study.set_index("rel_time")
    assert es.loc[2, "estimate"] == pytest.approx(1.8, abs=4 * es.loc[2, "se"] + 0.05)
    ax = res.plot()
    assert any("Callaway" in t.get_text() for t in ax.get_legend().get_texts())
    assert "Callaway-Sant'Anna" in str(res.summary())
    assert res.to_dict()["callaway_santanna"]["att"]["estimate"] == res.cs_att.estimate


def test_bad_weights():
    df = _weighted_panel(np.random.default_rng(15))
    with pytest.raises(DataError, match="negative"):
        StaggeredDiD("y", "unit", "period", "adopt", weights="volume", n_boot=5).fit(df.assign(volume=-1.0))
    with pytest.raises(DataError, match="all zero"):
        TWFE("y", "unit", "period", "d", weights="volume").fit(
            df[df.adopt.isna() | (df.adopt == 7)].assign(volume=0.0))


def test_world_volume_weighted_rollout_covers_the_per_contact_truth():
    """Site-day panel weighted by contacts: the imputation ATT targets the per-contact ATT of the
    assist rollout, and the Callaway-Sant'Anna cross-check agrees with it."""
    from studies.world import generate_world

    w = generate_world(seed=11, scale=0.05)
    c, ro = w.tables["contacts"], w.tables["assist_rollout"].copy()
    start = pd.Timestamp(w.meta["window_start"])
    ans = c[~c["abandoned"]].assign(day=lambda f: (f["created_at"] - start).dt.days)
    panel = ans.groupby(["site", "day"])["handle_s"].agg(["mean", "size"]).reset_index()
    ro["launch_day"] = (ro["launched_at"] - start).dt.days
    panel = panel.merge(ro[["site", "launch_day"]], on="site")
    res = StaggeredDiD("mean", "site", "day", "launch_day", pre_periods=7, n_boot=49,
                       weights="size").fit(panel, rng=2)
    truth = w.effect("assist", "handle_s", "ATT")  # mean over assisted contacts
    assert res.att.covers(truth), (res.att, truth)
    # CS differences from one base day per cohort: unbiased but much noisier on daily site means
    assert res.cs_att is not None and res.cs_att.se > res.att.se
    assert abs(res.cs_att.estimate - res.att.estimate) < 3.5 * np.hypot(res.cs_att.se, res.att.se)
