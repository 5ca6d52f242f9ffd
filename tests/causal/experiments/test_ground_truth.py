"""Coverage, false-positive rates and the unit-of-analysis lesson on simulated service data
with known truth. Replications are vectorised: each one is a segment (``rep``) of one frame."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from causal.experiments import CUPAC, Experiment, Mean, RatioOfMeans, simulate_service_experiment


def _rows(res, metric):
    t = res.table
    return t[(t["metric"] == metric) & (t["segment"] != "all")]


@pytest.fixture(scope="module")
def ab():
    sim = simulate_service_experiment(300, handle_effect=-0.05, n_reps=400, tickets=True, rng=2024)
    spec = Experiment(
        aht=RatioOfMeans("handle_s_sum", "answered"),
        aht_cuped=RatioOfMeans("handle_s_sum", "answered", covariate="pre_handle_s_sum",
                               covariate_denominator="pre_answered"),
        segment="rep", segment_correction="none",
    )
    return sim, spec.analyze(sim.customers)


def test_ab_coverage_ratio_metric(ab):
    sim, res = ab
    truth_rel = sim.truth["handle_per_answered_rel"]
    truth_abs = sim.truth["handle_per_answered_abs"]
    for m in ("aht", "aht_cuped"):
        x = _rows(res, m)
        assert len(x) == 400
        cov_rel = ((x["rel_ci_low"] <= truth_rel) & (truth_rel <= x["rel_ci_high"])).mean()
        cov_abs = ((x["ci_low"] <= truth_abs) & (truth_abs <= x["ci_high"])).mean()
        assert 0.93 <= cov_rel <= 0.97, (m, cov_rel)
        assert 0.93 <= cov_abs <= 0.97, (m, cov_abs)


def test_ticket_level_analysis_is_too_narrow(ab):
    """Customer-randomised, ticket-level metric: treating tickets as independent units gives
    intervals that are too narrow (undercover); the delta method on customer sums is right."""
    sim, res = ab
    tk = Experiment(h=Mean("handle_s"), segment="rep", segment_correction="none").analyze(
        sim.tickets
    )
    naive = _rows(tk, "h")
    delta = _rows(res, "aht")
    truth = sim.truth["handle_per_answered_abs"]
    cov_naive = ((naive["ci_low"] <= truth) & (truth <= naive["ci_high"])).mean()
    cov_delta = ((delta["ci_low"] <= truth) & (truth <= delta["ci_high"])).mean()
    width_ratio = np.median(
        (naive["ci_high"] - naive["ci_low"]).to_numpy()
        / (delta["ci_high"] - delta["ci_low"]).to_numpy()
    )
    # same point estimate (sum / sum), different standard error
    np.testing.assert_allclose(naive["effect"].to_numpy(), delta["effect"].to_numpy(), rtol=1e-9)
    assert cov_naive < 0.90 and cov_delta >= 0.93
    assert width_ratio < 0.8


@pytest.fixture(scope="module")
def aa():
    sim = simulate_service_experiment(200, n_reps=2000, rng=77)
    spec = Experiment(
        contacts=Mean("contacts"),
        contacts_cuped=Mean("contacts", covariate="pre_contacts"),
        segment="rep", segment_correction="none",
    )
    return spec.analyze(sim.customers)


@pytest.mark.parametrize("metric", ["contacts", "contacts_cuped"])
def test_aa_false_positive_rate_and_coverage(aa, metric):
    x = _rows(aa, metric)
    assert len(x) == 2000
    fpr = (x["pvalue"] < 0.05).mean()
    assert 0.04 <= fpr <= 0.06, fpr
    cover = ((x["ci_low"] <= 0) & (x["ci_high"] >= 0)).mean()
    assert 0.93 <= cover <= 0.97


def test_cuped_reduces_variance_in_aa(aa):
    x = _rows(aa, "contacts_cuped")
    assert x["variance_reduction"].median() > 0.15
    w0 = (_rows(aa, "contacts")["ci_high"] - _rows(aa, "contacts")["ci_low"]).median()
    w1 = (x["ci_high"] - x["ci_low"]).median()
    assert w1 < 0.92 * w0


def test_cupac_cross_fitted_covariate():
    sim = simulate_service_experiment(4000, contact_effect=0.10, rng=9)
    c = sim.customers.copy()
    c["tier_code"] = c["tier"].astype("category").cat.codes
    # a small single-threaded booster keeps the test fast on shared CPUs
    model = GradientBoostingRegressor(n_estimators=30, max_depth=2)
    spec = CUPAC("contacts", ("pre_contacts", "tier_code", "pre_answered"), model=model,
                 n_splits=3)
    c["pred"] = spec.fit_predict(c, rng=1)
    res = Experiment(raw=Mean("contacts"), cupac=Mean("contacts", covariate="pred")).analyze(c)
    r = res.row("cupac")
    assert r["variance_reduction"] > 0.15
    assert r["ci_low"] < sim.truth["contacts_abs"] < r["ci_high"]
    se_raw, se_cupac = res.row("raw")["se"], r["se"]
    assert se_cupac < se_raw
    again = spec.fit_predict(c, rng=1)
    np.testing.assert_array_equal(again, c["pred"].to_numpy())
