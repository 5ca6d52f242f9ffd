"""Formula regression: published numbers, engine agreement, CR2 reuse, bad input, world truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from causal.experiments.cluster import cluster_robust_ols
from causal.regression import Regression, regression_table
from servicelab.errors import DataError, DesignError


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n_u, n_t = 40, 12
    df = pd.DataFrame([(u, t) for u in range(n_u) for t in range(n_t)], columns=["unit", "day"])
    a = rng.normal(size=n_u)[df.unit]
    lam = rng.normal(size=n_t)[df.day]
    df["x"] = 0.5 * a + rng.normal(size=len(df))
    df["z"] = rng.normal(size=len(df))
    df["w"] = rng.uniform(0.2, 3.0, len(df))
    df["y"] = 1.0 + 0.7 * df.x - 0.3 * df.z + a + lam + rng.normal(size=len(df)) * (1 + 0.5 * np.abs(df.z))
    df["count"] = rng.poisson(np.exp(0.2 + 0.3 * df.x + 0.3 * a))
    df["b"] = (rng.random(len(df)) < 1 / (1 + np.exp(-(0.5 * df.x - 0.2)))).astype(int)
    df["g"] = df.unit // 4
    return df


def test_longley_matches_nist_certified_values():
    """NIST StRD certified OLS values for the Longley data (statsmodels.datasets.longley)."""
    data = sm.datasets.longley.load_pandas().data
    r = Regression("TOTEMP ~ GNPDEFL + GNP + UNEMP + ARMED + POP + YEAR", se="iid").fit(data)
    t = r.to_frame()
    certified = {"Intercept": (-3482258.63459582, 890420.383607373),
                 "GNPDEFL": (15.0618722713733, 84.9149257747669),
                 "GNP": (-0.358191792925910e-01, 0.334910077722432e-01),
                 "UNEMP": (-2.02022980381683, 0.488399681651699),
                 "ARMED": (-1.03322686717359, 0.214274163161675),
                 "POP": (-0.511041056535807e-01, 0.226073200069370),
                 "YEAR": (1829.15146461355, 455.478499142212)}
    for term, (b, se) in certified.items():
        assert t.loc[term, "coef"] == pytest.approx(b, rel=1e-7)
        assert t.loc[term, "se"] == pytest.approx(se, rel=1e-7)
    assert r.info["r2"] == pytest.approx(0.995479004577296, rel=1e-9)


def test_spector_logit_matches_published_coefficients():
    """Spector & Mazzeo (1980) grade data, logit as in Greene (statsmodels.datasets.spector)."""
    data = sm.datasets.spector.load_pandas().data
    r = Regression("GRADE ~ GPA + TUCE + PSI", model="logit", se="iid").fit(data)
    t = r.to_frame()
    for term, b in {"Intercept": -13.0213, "GPA": 2.8261, "TUCE": 0.0952, "PSI": 2.3787}.items():
        assert t.loc[term, "coef"] == pytest.approx(b, abs=6e-5)
    assert t.loc["GPA", "se"] == pytest.approx(1.2629, abs=1e-4)
    assert np.isnan(t.loc["GPA", "df"])  # z, not t, for a GLM


@pytest.mark.parametrize("se", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_errors_equal_statsmodels(panel, se):
    r = Regression("y ~ x + z", se=se).fit(panel)
    ref = smf.ols("y ~ x + z", panel).fit(cov_type=se)
    np.testing.assert_allclose(r.to_frame()["se"], ref.bse.to_numpy(), rtol=1e-10)
    ci = ref.conf_int(0.05)  # statsmodels' robust covariances use normal intervals
    q = r.to_frame().loc["x"]
    assert q["ci_high"] - q["ci_low"] >= (ci.loc["x", 1] - ci.loc["x", 0]) - 1e-12  # ours: t(n - k)


def test_cluster_one_and_two_way_equal_statsmodels(panel):
    r = Regression("y ~ x + z", se="CR1", cluster="unit").fit(panel)
    ref = smf.ols("y ~ x + z", panel).fit(cov_type="cluster", cov_kwds={"groups": panel.unit})
    np.testing.assert_allclose(r.to_frame()["se"], ref.bse, rtol=1e-10)
    assert r.to_frame().loc["x", "df"] == 39
    r2 = Regression("y ~ x + z", se="CR1", cluster=["unit", "day"]).fit(panel)
    ref2 = smf.ols("y ~ x + z", panel).fit(
        cov_type="cluster", cov_kwds={"groups": np.column_stack([panel.unit, panel.day])})
    np.testing.assert_allclose(r2.to_frame()["se"], ref2.bse, rtol=1e-10)


def test_cr2_reuses_the_experiment_engine_weighted_too(panel):
    r = Regression("y ~ x + z", model="wls", weights="w", se="CR2", cluster="g").fit(panel)
    sw = np.sqrt(panel.w.to_numpy())
    X = np.column_stack([np.ones(len(panel)), panel.x, panel.z]) * sw[:, None]
    ref = cluster_robust_ols(panel.y.to_numpy() * sw, X, panel.g.to_numpy(), coef=1)
    row = r.to_frame().loc["x"]
    assert row["se"] == pytest.approx(ref["se_cr2"], rel=1e-12)
    assert row["df"] == pytest.approx(ref["df_bm"], rel=1e-12)
    wls = smf.wls("y ~ x + z", panel, weights=panel.w).fit()
    assert row["coef"] == pytest.approx(wls.params["x"], rel=1e-10)
    assert not any(d.name == "few_clusters" for d in r.diagnostics)  # CR2 is the remedy


def test_absorbed_fixed_effects_equal_explicit_dummies(panel):
    r = Regression("y ~ x + z | unit + day", se="HC1").fit(panel)
    ref = smf.ols("y ~ x + z + C(unit) + C(day)", panel).fit(cov_type="HC1")
    t = r.to_frame()
    assert t.loc["x", "coef"] == pytest.approx(ref.params["x"], rel=1e-8)
    assert t.loc["x", "se"] == pytest.approx(ref.bse["x"], rel=1e-6)
    w = Regression("y ~ x | unit", weights="w", se="iid").fit(panel)
    refw = smf.wls("y ~ x + C(unit)", panel, weights=panel.w).fit()
    assert w.to_frame().loc["x", "coef"] == pytest.approx(refw.params["x"], rel=1e-8)
    assert w.to_frame().loc["x", "se"] == pytest.approx(refw.bse["x"], rel=1e-6)
    mw = Regression("y ~ x | unit + day", se="CR1", cluster=["unit", "day"]).fit(panel)
    assert mw.to_frame().loc["x", "se"] > 0 and mw.info["clusters"] == {"unit": 40, "day": 12}


def test_poisson_and_logit_with_fixed_effects_equal_statsmodels(panel):
    p = Regression("count ~ x | unit", model="poisson", se="iid").fit(panel)
    ref = smf.glm("count ~ x + C(unit)", panel, family=sm.families.Poisson()).fit()
    assert p.to_frame().loc["x", "coef"] == pytest.approx(ref.params["x"], rel=1e-6)
    assert p.to_frame().loc["x", "se"] == pytest.approx(ref.bse["x"], rel=1e-4)
    p0 = Regression("count ~ x + z", model="poisson", se="HC0").fit(panel)
    ref0 = smf.poisson("count ~ x + z", panel).fit(disp=0, cov_type="HC0")
    np.testing.assert_allclose(p0.to_frame()["se"], ref0.bse, rtol=1e-8)
    lg = Regression("b ~ x + z", model="logit", se="CR1", cluster="unit").fit(panel)
    refl = smf.logit("b ~ x + z", panel).fit(disp=0, cov_type="cluster", cov_kwds={"groups": panel.unit})
    np.testing.assert_allclose(lg.to_frame()["se"], refl.bse, rtol=1e-8)


def test_collinear_term_is_dropped_by_name(panel):
    df = panel.assign(x2=2 * panel.x - 1)
    r = Regression("y ~ x + z + x2").fit(df)
    assert r.dropped == ("x2",)
    assert "x2" not in r.to_frame().index
    d = next(d for d in r.diagnostics if d.name == "collinearity")
    assert d.status == "warning" and "x2" in d.message
    with pytest.raises(DataError, match="dropped as collinear"):
        r.estimate("x2")
    fe = Regression("y ~ x + g | unit").fit(df)  # g is constant within unit
    assert fe.dropped == ("g",)


def test_bad_input(panel):
    with pytest.raises(DataError, match="nope"):
        Regression("y ~ x + nope").fit(panel)
    with pytest.raises(DataError, match="single cluster"):
        Regression("y ~ x", se="CR1", cluster="one").fit(panel.assign(one=1))
    with pytest.raises(DataError, match="negative"):
        Regression("y ~ x", weights="w").fit(panel.assign(w=panel.w - 1))
    with pytest.raises(DataError, match="all zero"):
        Regression("y ~ x", weights="w").fit(panel.assign(w=0.0))
    with pytest.raises(DataError, match="0/1"):
        Regression("y ~ x", model="logit").fit(panel)
    with pytest.raises(DataError, match="NULL"):
        Regression("y ~ x").fit(panel.assign(x=panel.x.where(panel.index > 3)))
    with pytest.raises(DesignError, match="CR2"):
        Regression("y ~ x | unit", se="CR2", cluster="unit").fit(panel)
    with pytest.raises(DesignError, match="needs cluster"):
        Regression("y ~ x", se="CR1").fit(panel)
    with pytest.raises(DesignError, match="HC0"):
        Regression("b ~ x", model="logit", se="HC3").fit(panel)


def test_result_protocol_and_table(panel):
    a = Regression("y ~ x", ci_level=0.9).fit(panel)
    b = Regression("y ~ x + z | unit + day", se="CR1", cluster="unit").fit(panel)
    e = a.estimate("x")
    assert e.ci_level == 0.9 and e.covers(e.estimate)
    assert a.summary().to_frame().shape[0] == 2
    assert a.plot() is not None
    assert a.to_dict()["coefficients"][1]["term"] == "x"
    tab = regression_table([a, b], ["pooled", "two-way FE"])
    md, html = tab.to_markdown(), tab.to_html()
    assert "| x |" in md and "two-way FE" in md and "unit + day" in md
    assert "<table>" in html and f"{b.to_frame().loc['z', 'coef']:.3f}" in html


def test_world_routing_handle_effect_covers_truth():
    """Customer-randomised routing v2: OLS on the arm with customer clusters covers the ATE."""
    from studies.world import generate_world

    w = generate_world(seed=5, scale=0.03)
    c = w.tables["contacts"]
    a = w.tables["experiment_assignments"]
    start = pd.Timestamp(w.meta["window_start"]) + pd.Timedelta(days=int(w.meta["experiment_start_day"]))
    df = (c[(~c.abandoned) & (c.created_at >= start)]
          .merge(a[["customer_id", "variant"]], on="customer_id")
          .assign(treated=lambda f: (f.variant == "treatment").astype(int)))
    te = w.truth["truth_effects"]
    truth = te.query("intervention == 'routing_v2' and outcome == 'handle_s' and estimand == 'ATE' "
                     "and segment == 'all'")["value"].iloc[0]
    r = Regression("handle_s ~ treated + C(reason)", se="CR1", cluster="customer_id").fit(df)
    est = r.estimate("treated")
    assert abs(est.estimate - truth) < 3.5 * est.se, (est, truth)
    assert est.ci_high < 0  # routing v2 cuts handle time
