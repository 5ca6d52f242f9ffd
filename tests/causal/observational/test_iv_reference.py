"""IV against external references and simulated truth.

- linearmodels' ``IV2SLS``/``IVGMM`` on the same data: the 2SLS estimate, its conventional, HC1
  and CR1 standard errors (``debiased=True``), the OLS row, the first-stage coefficients, partial
  R-squared and F, Sargan's statistic and Hansen's J (robust and clustered);
- the Anderson-Rubin set against statsmodels: at each endpoint the Wald test of the instruments
  in ``y - b d`` sits exactly at the critical value;
- coverage of the 2SLS and AR intervals over replications (binomial bands, any seed), a
  weak-instrument design where the AR set is unbounded about 95% of the time and the diagnostic
  fires, and the over-identification test's size and power;
- Card's college-proximity data (``causaldata.close_college``): 0.124, the 2SLS estimate the
  project's GUIDE records (DoWhy's IV, which drops the controls, gives 0.186).
"""

from __future__ import annotations

import math
import warnings

import causaldata
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.iv import IV2SLS, IVGMM
from scipy import stats

from causal.observational import IVDeprecationWarning, IVStudy, WeakInstrumentWarning
from causal.observational.iv_inference import IVDesign, _invert, anderson_rubin_set, anderson_rubin_stat
from servicelab.errors import DataError, DesignError

LM_COV = {"conventional": {"cov_type": "unadjusted"}, "robust": {"cov_type": "robust"},
          "cluster": {"cov_type": "clustered"}}


def frame(n: int, rng: np.random.Generator, pi: tuple[float, float] = (0.5, 0.6),
          rho: float = 0.6, beta: float = 1.2, direct: float = 0.0, n_clusters: int = 37):
    """Two instruments, a continuous and a categorical control, unbalanced clusters with a
    cluster shock, heteroskedastic errors and endogeneity ``rho`` (corr of u and v)."""
    g = np.minimum(rng.geometric(1 / 8, n), 60) % n_clusters  # unbalanced cluster sizes
    shock = rng.normal(size=n_clusters)[g]
    w1 = rng.normal(size=n)
    w2 = rng.integers(0, 3, n)
    z1 = rng.normal(size=n) + 0.3 * w1
    z2 = (rng.random(n) < 0.4).astype(float)
    v = rng.normal(size=n)
    u = rho * v + math.sqrt(1 - rho**2) * rng.normal(size=n)
    d = pi[0] * z1 + pi[1] * z2 + 0.3 * w1 + v
    y = beta * d + 0.5 * w1 - 0.2 * w2 + direct * z2 + u * (1 + 0.5 * np.abs(w1)) + 0.5 * shock
    return pd.DataFrame({"y": y, "d": d, "z1": z1, "z2": z2, "w1": w1, "w2": w2.astype(str),
                         "g": g, "const": 1.0})


def _lm(df: pd.DataFrame, insts: list[str]):
    exog = pd.concat([df[["const", "w1"]], pd.get_dummies(df["w2"], prefix="w2", drop_first=True,
                                                          dtype=float)], axis=1)
    return exog, IV2SLS(df.y, exog, df.d, df[insts])


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame(900, np.random.default_rng(11))


@pytest.mark.parametrize("se", ["conventional", "robust", "cluster"])
def test_2sls_ols_and_first_stage_match_linearmodels(data, se):
    res = IVStudy(outcome="y", treatment="d", instruments=["z1", "z2"], covariates=["w1", "w2"],
                  methods=("2sls",), cluster="g" if se == "cluster" else None, se=se).fit(data)
    exog, model = _lm(data, ["z1", "z2"])
    kw = dict(LM_COV[se], debiased=True) | ({"clusters": data.g} if se == "cluster" else {})
    ref = model.fit(**kw)
    est = res.estimates[0]
    assert est.estimate == pytest.approx(ref.params["d"], rel=1e-10)
    assert est.se == pytest.approx(ref.std_errors["d"], rel=1e-10)
    # every SE type of the same fit, in the SE table
    tab = res.se_table().set_index("se_type")
    for kind in tab.index:
        kkw = dict(LM_COV[kind], debiased=True) | ({"clusters": data.g} if kind == "cluster" else {})
        assert tab.loc[kind, "se"] == pytest.approx(model.fit(**kkw).std_errors["d"], rel=1e-10)
    # OLS row: linearmodels with d as an exogenous regressor
    ols_ref = IV2SLS(data.y, pd.concat([exog, data.d], axis=1), None, None).fit(**kw)
    assert res.ols.estimate == pytest.approx(ols_ref.params["d"], rel=1e-10)
    assert res.ols.se == pytest.approx(ols_ref.std_errors["d"], rel=1e-10)
    # first stage: coefficients, SEs, partial R2 and F. Under robust/cluster SEs linearmodels'
    # f.stat is the first-stage Wald chi2 (k times our F); under conventional SEs it rescales by
    # the sample size, so there the reference is the classic F test of statsmodels.
    fs = ref.first_stage
    diag = fs.diagnostics.loc["d"]
    tab = res.first_stage.set_index("instrument")
    assert res.first_stage_stats["partial_r2"] == pytest.approx(diag["partial.rsquared"], rel=1e-10)
    if se == "conventional":
        fs_ols = sm.OLS(data.d, pd.concat([data[["z1", "z2"]], exog], axis=1)).fit()
        classic = fs_ols.f_test("z1 = 0, z2 = 0")
        assert res.first_stage_f == pytest.approx(float(np.squeeze(classic.fvalue)), rel=1e-10)
        assert res.first_stage_stats["f_pvalue"] == pytest.approx(float(classic.pvalue), rel=1e-6)
    else:
        assert res.first_stage_f * 2 == pytest.approx(diag["f.stat"], rel=1e-10)
    if se != "conventional":  # linearmodels' conventional first-stage SEs are not debiased
        for z in ("z1", "z2"):
            assert tab.loc[z, "coef"] == pytest.approx(fs.individual["d"].params[z], rel=1e-10)
            assert tab.loc[z, "se"] == pytest.approx(fs.individual["d"].std_errors[z], rel=1e-8)
    # over-identification: Sargan always, Hansen J (two-step GMM) under robust / cluster SEs
    over = {t.name: t for t in res.overid}
    assert over["Sargan"].statistic == pytest.approx(ref.sargan.stat, rel=1e-8)
    if se != "conventional":
        wt = "clustered" if se == "cluster" else "robust"
        gmm_kw = {"clusters": data.g} if se == "cluster" else {}
        gmm = IVGMM(data.y, exog, data.d, data[["z1", "z2"]], weight_type=wt, **gmm_kw).fit(
            iter_limit=2, **({"cov_type": "clustered", "clusters": data.g} if se == "cluster" else {}))
        assert over["Hansen J"].statistic == pytest.approx(gmm.j_stat.stat, rel=1e-6)
        assert over["Hansen J"].pvalue == pytest.approx(gmm.j_stat.pval, rel=1e-5)
    assert "Sargan" in str(res.summary()) and res.plot() is not None
    assert res.to_dict()["anderson_rubin"]["bounded"] is True


@pytest.mark.parametrize("se", ["conventional", "robust", "cluster"])
@pytest.mark.parametrize("insts", [["z1"], ["z1", "z2"]])
def test_anderson_rubin_endpoints_are_statsmodels_critical_points(data, se, insts):
    res = IVStudy(outcome="y", treatment="d", instruments=insts, covariates=["w1", "w2"],
                  methods=("2sls",), cluster="g" if se == "cluster" else None, se=se).fit(data)
    ar = res.anderson_rubin
    assert ar.bounded and len(ar.intervals) == 1 and ar.contains(res.estimates[0].estimate)
    x = sm.add_constant(pd.concat([data[insts], data[["w1"]],
                                   pd.get_dummies(data.w2, drop_first=True, dtype=float)], axis=1))
    k = len(insts)
    g = data.g.nunique()
    df2 = (g - 1) if se == "cluster" else len(data) - x.shape[1]
    crit = stats.f.ppf(0.95, k, df2)
    fit_kw = {"conventional": {}, "robust": {"cov_type": "HC1"},
              "cluster": {"cov_type": "cluster", "cov_kwds": {"groups": data.g}}}[se]
    for b0 in ar.intervals[0]:
        ols = sm.OLS(data.y - b0 * data.d, x).fit(**fit_kw)
        r = np.zeros((k, x.shape[1]))
        r[np.arange(k), 1 + np.arange(k)] = 1
        wald = float(np.squeeze(ols.wald_test(r, scalar=True, use_f=False).statistic)) / k
        assert wald == pytest.approx(crit, rel=1e-6)


def test_numerical_inversion_agrees_with_the_exact_quadratic(data):
    z = data[["z1"]].to_numpy()
    w = np.column_stack([data.w1, pd.get_dummies(data.w2, drop_first=True, dtype=float)])
    des = IVDesign.build(data.y.to_numpy(), data.d.to_numpy(), z, w, data.g.to_numpy())
    for se in ("conventional", "robust", "cluster"):
        exact = anderson_rubin_set(des, se)
        crit = exact.critical_value
        num = _invert(lambda b, se=se, crit=crit: anderson_rubin_stat(des, se, b) - crit, 1.0, 0.2,
                      tail_inside=False)
        assert np.allclose(np.array(num), np.array(exact.intervals), rtol=1e-7)


def _rep_stats(seed: np.random.SeedSequence, pi, rho, n, se="robust"):
    df = frame(n, np.random.default_rng(seed), pi=pi, rho=rho)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakInstrumentWarning)  # the weak design expects it
        res = IVStudy(outcome="y", treatment="d", instruments=["z1", "z2"], covariates=["w1", "w2"],
                      methods=("2sls",), ols=False, cluster="g" if se == "cluster" else None,
                      se=se).fit(df)
    e = res.estimates[0]
    return (e.covers(1.2), res.anderson_rubin.contains(1.2), res.anderson_rubin.bounded,
            res.diagnostics[0].status == "fail", res.overid[-1].pvalue)


def _band(p: float, reps: int) -> float:
    return 3.5 * math.sqrt(p * (1 - p) / reps)


@pytest.mark.parametrize("se", ["robust", "cluster"])
def test_coverage_strong_instruments(se):
    reps = 200
    out = np.array([_rep_stats(s, (0.5, 0.6), 0.6, 600, se)
                    for s in np.random.SeedSequence(2024).spawn(reps)], dtype=float)
    # CR1 with t(G-1) and 37 unbalanced clusters is slightly liberal: allow 2 points of slack
    slack = 0.02 if se == "cluster" else 0.0
    for col in (0, 1):  # 2SLS Wald interval and AR set
        assert abs(out[:, col].mean() - 0.95) <= _band(0.95, reps) + slack, (col, out[:, col].mean())
    assert out[:, 2].all() and not out[:, 3].any()  # strong: AR bounded, no weak flag
    # valid instruments: Hansen J rejects at 5% about 5% of the time
    assert abs((out[:, 4] < 0.05).mean() - 0.05) <= _band(0.05, reps) + slack


def test_weak_instruments_ar_is_robust_and_2sls_is_not():
    reps = 200
    # irrelevant instruments and strong endogeneity: 2SLS is centred on OLS, its interval misses
    out = np.array([_rep_stats(s, (0.0, 0.0), 0.9, 500)
                    for s in np.random.SeedSequence(7).spawn(reps)], dtype=float)
    assert abs(out[:, 1].mean() - 0.95) <= _band(0.95, reps)  # AR keeps its level
    # the 2SLS Wald interval does not: it under-covers beyond the binomial band
    assert out[:, 0].mean() < 0.95 - _band(0.95, reps)
    # with a zero first stage the AR set is unbounded exactly when F < F_crit: ~95% of samples
    assert abs((1 - out[:, 2]).mean() - 0.95) <= _band(0.95, reps)
    assert out[:, 3].mean() > 0.95  # the weak-instrument diagnostic fires (F < 10)


def test_weak_instrument_result_says_so():
    df = frame(400, np.random.default_rng(3), pi=(0.0, 0.0))
    df["zz"] = np.random.default_rng(4).normal(size=len(df))  # pure noise instrument
    with pytest.warns(WeakInstrumentWarning, match="Anderson-Rubin"):
        res = IVStudy(outcome="y", treatment="d", instruments=["zz"], covariates=["w1"],
                      methods=("2sls",)).fit(df)
    if not res.anderson_rubin.bounded:  # F < 3.9 (95% of samples): the AR set is unbounded
        assert "unbounded" in res.anderson_rubin.describe()
        assert any(d.name == "anderson_rubin" and d.status == "warning" for d in res.diagnostics)
        assert "inf" in str(res.to_dict()["anderson_rubin"]["intervals"])
    assert res.diagnostics[0].status == "fail"


def test_overidentification_detects_an_invalid_instrument():
    df = frame(3000, np.random.default_rng(5), direct=1.0)  # z2 affects y directly
    res = IVStudy(outcome="y", treatment="d", instruments=["z1", "z2"], covariates=["w1", "w2"],
                  methods=("2sls",)).fit(df)
    j = res.overid_table().set_index("name")
    assert j.loc["Hansen J", "pvalue"] < 1e-6 and j.loc["Sargan", "pvalue"] < 1e-6
    assert any(d.name == "overidentification" and d.status == "warning" for d in res.diagnostics)


def test_card_college_proximity_reproduces_the_guide_and_linearmodels():
    c = causaldata.close_college.load_pandas().data.dropna()
    cov = ["exper", "black", "south", "married", "smsa"]
    res = IVStudy(outcome="lwage", treatment="educ", instruments=["nearc4"], covariates=cov,
                  methods=("2sls",), se="conventional").fit(c)
    assert res.estimates[0].estimate == pytest.approx(0.124, abs=5e-4)
    ref = IV2SLS(c.lwage, sm.add_constant(c[cov].astype(float)), c.educ, c.nearc4).fit(
        cov_type="unadjusted", debiased=True)
    assert res.estimates[0].se == pytest.approx(ref.std_errors["educ"], rel=1e-10)
    assert res.ols.estimate < res.estimates[0].estimate  # the classic finding: IV above OLS
    assert res.anderson_rubin.bounded and res.anderson_rubin.contains(0.124)


def test_deprecated_positional_order_and_bad_input(data):
    with pytest.warns(IVDeprecationWarning, match="outcome first"):
        old = IVStudy("d", "y", "z1", ["w1"], ("2sls",))
    assert (old.outcome, old.treatment, old.instruments) == ("y", "d", ("z1",))
    with pytest.warns(IVDeprecationWarning, match="instruments="):
        assert IVStudy(outcome="y", treatment="d", instrument="z1").instruments == ("z1",)
    with pytest.raises(DesignError, match="more than one role"):
        IVStudy(outcome="y", treatment="d", instruments=["z1"], covariates=["z1"])
    with pytest.raises(DesignError, match="one instrument"):
        IVStudy(outcome="y", treatment="d", instruments=["z1", "z2"], methods=("orthoiv",))
    with pytest.raises(DesignError, match="needs cluster"):
        IVStudy(outcome="y", treatment="d", instruments=["z1"], se="cluster")
    with pytest.raises(DesignError, match="se="):
        IVStudy(outcome="y", treatment="d", instruments=["z1"], se="HC3")
    with pytest.raises(DataError, match="collinear"):
        IVStudy(outcome="y", treatment="d", instruments=["z1", "z1b"], methods=("2sls",)).fit(
            data.assign(z1b=2 * data.z1))
    with pytest.raises(DataError, match="at least 2 clusters"):
        IVStudy(outcome="y", treatment="d", instruments=["z1"], cluster="one",
                methods=("2sls",)).fit(data.assign(one=1))


def test_thornton_ols_row_reproduces_the_published_effect_and_ses():
    """Thornton (2008): the incentive's effect on learning the HIV result, 0.452 (HC1 SE 0.0209,
    village-clustered 0.0227). It is an experiment, so it anchors the OLS row (no controls: the
    difference in means); the randomised incentive amount ``tinc`` serves as the instrument."""
    from tests.anchors import load_anchor

    a = load_anchor("causal")["thornton_hiv_incentives"]
    d = causaldata.thornton_hiv.load_pandas().data.dropna(subset=["got", "any", "tinc", "villnum"])
    tol = a["tolerance_rel"]
    for se, key in (("robust", "hc1_se"), ("cluster", "village_clustered_se")):
        res = IVStudy(outcome="got", treatment="any", instruments=["tinc"], methods=("2sls",),
                      cluster="villnum" if se == "cluster" else None, se=se).fit(d)
        assert res.ols.estimate == pytest.approx(a["estimate_any_incentive_on_learning_result"], rel=tol)
        assert res.ols.se == pytest.approx(a[key], rel=tol)
        assert res.first_stage_f > 10
