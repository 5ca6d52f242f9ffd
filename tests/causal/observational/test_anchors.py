"""Reference numbers from ../shared/anchors/causal.json, reproduced through servicelab's API."""

from __future__ import annotations

import causaldata
import numpy as np
import pytest

from causal.observational import (
    ObservationalStudy,
    difference_in_means,
    fit_propensity,
)
from causal.observational._data import numeric_matrix
from servicelab.errors import ConvergenceError
from tests.anchors import load_anchor

ANCHOR = load_anchor("causal")
NHEFS_COV = ["sex", "race", "age", "age_sq", "education", "smokeintensity", "smokeintensity_sq",
             "smokeyrs", "smokeyrs_sq", "exercise", "active", "wt71", "wt71_sq"]


@pytest.fixture(scope="module")
def nhefs():
    d = causaldata.nhefs_complete.load_pandas().data.copy()
    for c in ["age", "smokeintensity", "smokeyrs", "wt71"]:
        d[c + "_sq"] = d[c] ** 2
    for c in ["education", "exercise", "active"]:  # categorical, as in What If
        d[c] = d[c].astype(int).astype(str)
    return d


def test_nsw_difference_in_means_hc1():
    a = ANCHOR["nsw_experimental"]
    d = causaldata.nsw_mixtape.load_pandas().data
    assert len(d) == a["rows"]
    est = difference_in_means(d, a["treatment"], a["outcome"])
    assert est.estimate == pytest.approx(a["difference_in_means"], rel=a["tolerance_rel"])
    assert est.se == pytest.approx(a["hc1_se"], rel=a["tolerance_rel"])


def test_nhefs_ip_weighting(nhefs):
    """What If ch. 12 fits the propensity in sample (folds=1 reproduces it; the default
    cross-fits, which moves the estimate by about 0.1 kg, inside the published interval)."""
    a = ANCHOR["nhefs_smoking_cessation_weight_gain"]
    res = ObservationalStudy(a["treatment"], a["outcome"], confounders=NHEFS_COV,
                             estimators=("ipw",), refuters=(), sensitivity=False,
                             folds=1).fit(nhefs)
    e = res.estimate("IPW")
    ref = a["ip_weighting"]
    assert e.estimate == pytest.approx(ref["estimate"], rel=a["tolerance_rel"])
    assert e.ci_low == pytest.approx(ref["ci95"][0], abs=0.1)
    assert e.ci_high == pytest.approx(ref["ci95"][1], abs=0.1)
    conv = next(d for d in res.diagnostics if d.name == "propensity_convergence")
    assert conv.status == "ok"


def test_nhefs_standardization(nhefs):
    a = ANCHOR["nhefs_smoking_cessation_weight_gain"]
    from causal.observational import Arrays, standardization

    x, _ = numeric_matrix(nhefs, NHEFS_COV)
    arr = Arrays(nhefs[a["outcome"]].to_numpy(float), nhefs[a["treatment"]].to_numpy(float), x)
    # What If ch. 13: the outcome model adds a qsmk x smokeintensity interaction
    e = standardization(arr, interactions=nhefs[["smokeintensity"]].to_numpy(float), n_boot=100,
                        rng=0)
    ref = a["standardization"]
    assert e.estimate == pytest.approx(ref["estimate"], rel=a["tolerance_rel"])
    assert e.ci_low == pytest.approx(ref["ci95"][0], abs=0.25)
    assert e.ci_high == pytest.approx(ref["ci95"][1], abs=0.35)


def test_nhefs_unscaled_short_propensity_fit_is_never_silent(nhefs):
    """GUIDE §4: DoWhy's unscaled max_iter=100 model does not converge here."""
    x, _ = numeric_matrix(nhefs, NHEFS_COV)
    t = nhefs["qsmk"].to_numpy(float)
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_propensity(x, t, max_iter=100, scale=False)
    loud = fit_propensity(x, t, max_iter=100, scale=False, on_fail="diagnose")
    assert not loud.converged
    assert loud.diagnostics[0].status == "fail"
    assert fit_propensity(x, t).converged  # scaled: converges


def test_pipeline_reports_nonconvergence_as_fail(nhefs):
    res = ObservationalStudy("qsmk", "wt82_71", confounders=NHEFS_COV, estimators=("ipw",),
                             refuters=(), sensitivity=False, propensity_max_iter=2,
                             on_convergence_failure="diagnose").fit(nhefs)
    assert res.summary().status == "fail"
    assert "FAILED CHECKS" in str(res.summary())
    with pytest.raises(ConvergenceError):
        ObservationalStudy("qsmk", "wt82_71", confounders=NHEFS_COV, estimators=("ipw",),
                           refuters=(), propensity_max_iter=2).fit(nhefs)


def test_thornton_hc1_and_village_clustered():
    a = ANCHOR["thornton_hiv_incentives"]
    d = causaldata.thornton_hiv.load_pandas().data.dropna(subset=["got", "any", "villnum"])
    assert 2830 <= len(d) <= 2834
    hc1 = difference_in_means(d, "any", "got")
    cl = difference_in_means(d, "any", "got", cluster="villnum")
    tol = a["tolerance_rel"]
    assert hc1.estimate == pytest.approx(a["estimate_any_incentive_on_learning_result"], rel=tol)
    assert hc1.se == pytest.approx(a["hc1_se"], rel=tol)
    assert cl.se == pytest.approx(a["village_clustered_se"], rel=tol)
    assert d["villnum"].nunique() == a["clusters"]
    baseline = d.loc[d["any"] == 0, "got"].mean()
    assert baseline == pytest.approx(a["baseline_no_incentive"], rel=tol)
    assert np.isfinite(cl.ci_low) and cl.ci_low < hc1.estimate < cl.ci_high
