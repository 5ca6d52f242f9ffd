from __future__ import annotations

import json

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from causal.bayes import HierarchicalEffects, Sampler
from servicelab import DataError, DesignError, Summary

from .conftest import PLUMBING


def test_censored_model_recovers_queue_effects(censored_world, censored_fit):
    frame, truth = censored_world
    share_open = 1 - frame["event"].mean()
    assert 0.15 < share_open < 0.45
    e = censored_fit.effects
    covered = (e["tau_low"] <= truth["tau"]) & (truth["tau"] <= e["tau_high"])
    assert covered.sum() >= 7  # 95% intervals, 8 queues
    assert np.abs(e["tau_mean"] - truth["tau"]).mean() < 0.06
    # overall effects on the supported scales cover the truth computed from the uncensored
    # potential outcomes of the same contacts
    fu = censored_fit.prepared.followup
    y0, y1 = truth["y0"], truth["y1"]
    assert censored_fit.overall.estimand.startswith("RMST difference up to tau")
    assert censored_fit.overall.covers(np.minimum(y1, fu.tau).mean() - np.minimum(y0, fu.tau).mean())
    scales = censored_fit.scales.set_index("quantity")
    for t in fu.resolved_by:
        row = scales.loc[f"P(resolved by {t:.4g} s) difference"]
        assert row["ci_low"] <= np.mean(y1 <= t) - np.mean(y0 <= t) <= row["ci_high"]
    med = scales.loc["ratio of 50% quantiles (treatment / control)"]
    assert med["ci_low"] <= np.median(y1) / np.median(y0) <= med["ci_high"]


def test_dropping_open_tickets_is_biased_and_the_censored_model_is_not(censored_world,
                                                                      censored_fit):
    _, truth = censored_world
    true_mean = float(np.mean(truth["tau"]))
    naive, _ = censored_fit.prepared.complete_pooling  # resolved tickets only
    model = float(censored_fit.effects["tau_mean"].mean())
    assert abs(naive - true_mean) > 0.05  # drop-open bias (towards 0)
    assert abs(model - true_mean) < abs(naive - true_mean) / 3
    # per queue too, the naive (no pooling, resolved only) estimates are further from the truth
    e = censored_fit.effects
    assert (np.abs(e["nopool"] - truth["tau"]).mean()
            > 1.5 * np.abs(e["tau_mean"] - truth["tau"]).mean())


def test_result_api(censored_fit, tmp_path):
    s = censored_fit.summary()
    assert isinstance(s, Summary) and "queue" in str(s)
    assert len(s.to_frame()) == 8
    json.dumps(censored_fit.to_dict())
    ax = censored_fit.plot()
    assert ax.get_title().startswith("Shrinkage")
    assert {d.name for d in censored_fit.diagnostics} >= {
        "rhat", "ess_bulk", "ess_tail", "divergences", "sampled", "follow_up", "km_agreement",
        "ppc_coverage"}
    assert "ate_mean" not in censored_fit.effects  # the mean is refused for censored data
    assert "mean (refused)" in s.info and "not reported" in s.info["mean (refused)"]
    path = censored_fit.to_netcdf(tmp_path / "posterior.nc")
    back = az.from_netcdf(path)
    np.testing.assert_allclose(back.posterior["tau"].values,
                               censored_fit.idata.posterior["tau"].values)
    ax = censored_fit.plot_ppc(rng=1)
    assert "Posterior predictive" in ax.get_title()
    # the model is right: most observed cells sit inside their 95% predictive intervals, and
    # the diagnostic computed at fit time says so
    assert censored_fit.ppc_coverage(rng=1) > 0.8
    diags = {d.name: d for d in censored_fit.diagnostics}
    assert diags["ppc_coverage"].status == "ok" and diags["km_agreement"].status == "ok"
    plt.close("all")


WEEK = 7 * 86400.0


def test_heavy_censoring_single_group_reports_supported_scales_only():
    """Regression (issue 9): 52 weeks of follow-up, ~74% open, one group.

    The old model reported an 'overall ATE' of -66 weeks [-106, -34] (a lognormal mean far past
    the follow-up) and its single-group funnel gave 20 divergences. Now: no group level, no
    divergences, the RMST difference up to a horizon inside the follow-up covers the truth, and
    the median (never reached by the Kaplan-Meier curves) is not reported.
    """
    from causal.bayes import simulate_hierarchical
    frame, truth = simulate_hierarchical(1, 2000, mu_tau=-0.3, sigma_tau=0.0,
                                         mu_alpha=np.log(70 * WEEK), sigma_alpha=0.0, sigma=1.5,
                                         horizon_scale=52 * WEEK, rng=3)
    assert 0.65 < 1 - frame["event"].mean() < 0.8
    spec = HierarchicalEffects("duration_s", "treated", event="event", horizon="horizon_s",
                               sampler=Sampler(draws=400, tune=400, chains=2))
    res = spec.fit(frame, rng=1)
    diags = {d.name: d for d in res.diagnostics}
    assert diags["divergences"].value == 0
    assert not res.prepared.pooled and "mu_tau" not in res.idata.posterior
    assert "ate_mean" not in res.effects and "relative_mean" not in res.effects
    fu = res.prepared.followup
    assert fu.tau <= fu.max_time <= 52 * WEEK
    assert fu.unsupported_quantiles == (0.5,) and diags["follow_up"].status == "warning"
    assert np.isnan(res.effects.loc[0, "ratio_q50_mean"])
    y0, y1 = truth["y0"], truth["y1"]
    true_rmst = np.minimum(y1, fu.tau).mean() - np.minimum(y0, fu.tau).mean()
    assert res.overall.covers(true_rmst)
    assert abs(res.overall.ci_high - res.overall.ci_low) < 8 * WEEK  # not [-106, -34] weeks
    q25 = res.scales.set_index("quantity").loc["ratio of 25% quantiles (treatment / control)"]
    assert q25["ci_low"] <= np.quantile(y1, 0.25) / np.quantile(y0, 0.25) <= q25["ci_high"]
    assert "past" in res.summary().info["mean (refused)"]


def test_misspecified_resolution_times_are_flagged_without_the_truth():
    """A two-component mixture (quick fixes and multi-day cases) fitted as one lognormal: the
    posterior predictive coverage and the Kaplan-Meier agreement warn (regression: a 72% PPC
    coverage used to raise nothing)."""
    rng = np.random.default_rng(21)
    n = 3000
    queue = rng.choice(["a", "b", "c"], n)
    prio = rng.choice(["p1", "p2"], n)
    arm = rng.integers(0, 2, n)
    quick = rng.random(n) < np.where(prio == "p1", 0.7, 0.4)
    log_y = np.where(quick, np.log(1800) + 0.4 * rng.standard_normal(n),
                     np.log(3 * 86400) + 0.6 * rng.standard_normal(n)) - 0.2 * arm
    y = np.exp(log_y)
    h = rng.uniform(0, 10 * 86400, n)
    frame = pd.DataFrame({"d": np.minimum(y, h), "event": (y <= h).astype(int), "h": h,
                          "t": arm, "queue": queue, "priority": prio})
    spec = HierarchicalEffects("d", "t", covariates=("priority",), event="event", horizon="h",
                               sampler=Sampler(draws=150, tune=200, chains=2))
    res = spec.fit(frame, rng=2)
    status = {d.name: d.status for d in res.diagnostics}
    assert status["ppc_coverage"] == "warning" or status["km_agreement"] == "warning"
    assert status["km_agreement"] == "warning"  # the fitted curve misses Kaplan-Meier


def test_censored_horizon_and_times_must_lie_inside_the_follow_up():
    f = _frame()
    f["event"] = (f["d"] < 800).astype(int)
    f["d"] = np.minimum(f["d"], 800.0)
    with pytest.raises(DesignError, match="outside the follow-up"):
        HierarchicalEffects("d", "t", event="event", rmst_horizon=5000.0).prepare(f)
    with pytest.raises(DesignError, match="resolved_by"):
        HierarchicalEffects("d", "t", event="event", resolved_by=(100.0, 900.0)).prepare(f)
    prep = HierarchicalEffects("d", "t", event="event", rmst_horizon=600.0).prepare(f)
    assert prep.followup.tau == 600.0 and prep.followup.resolved_by == (300.0, 600.0)
    with pytest.raises(DesignError, match="extra_groups"):
        HierarchicalEffects("d", "t", pooling="none", extra_groups=("queue",)).prepare(f)
    with pytest.raises(DesignError, match="pooling"):
        HierarchicalEffects("d", "t", pooling="some").prepare(f)


def test_partial_pooling_shrinks_small_queues():
    # one big queue and small ones: small-queue estimates move towards the pooled mean
    from causal.bayes import simulate_hierarchical
    frame, truth = simulate_hierarchical(6, [3000, 40, 40, 40, 40, 40], mu_tau=-0.2,
                                         sigma_tau=0.05, rng=4)
    res = HierarchicalEffects("duration_s", "treated", sampler=PLUMBING).fit(frame, rng=2)
    e = res.effects
    small = e["n_total"] < 100
    pooled = res.prepared.complete_pooling[0]
    dist_np = np.abs(e.loc[small, "nopool"] - pooled).mean()
    dist_pp = np.abs(e.loc[small, "tau_mean"] - pooled).mean()
    assert dist_pp < 0.8 * dist_np
    err_np = np.abs(e.loc[small, "nopool"] - truth["tau"][small.to_numpy()]).mean()
    err_pp = np.abs(e.loc[small, "tau_mean"] - truth["tau"][small.to_numpy()]).mean()
    assert err_pp < err_np


def test_bernoulli_effects_by_queue_with_region():
    rng = np.random.default_rng(8)
    n = 12000
    q = rng.integers(0, 5, n)
    region = rng.integers(0, 3, n)
    arm = rng.integers(0, 2, n)
    tau = np.array([0.3, 0.2, 0.25, 0.35, 0.3])
    logit = -0.5 + 0.2 * q - 0.3 * region + tau[q] * arm
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"fcr": y, "treated": arm, "queue": q.astype(str),
                          "region": np.array(["NA", "EMEA", "APAC"])[region]})
    spec = HierarchicalEffects("fcr", "treated", group="queue", extra_groups=("region",),
                               likelihood="bernoulli", sampler=PLUMBING)
    res = spec.fit(frame, rng=3)
    e = res.effects
    assert ((e["tau_low"] <= tau) & (tau <= e["tau_high"])).sum() >= 4
    assert (e["p_positive"] > 0.9).all()
    assert 0.03 < res.overall.estimate < 0.10  # probability points
    assert "sigma_tau_region" in res.idata.posterior


# -- bad input -----------------------------------------------------------------------------
def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"d": rng.lognormal(6, 1, n), "t": rng.integers(0, 2, n),
                         "queue": rng.choice(["a", "b", "c"], n), "event": 1,
                         "h": 1e9})


def test_censoring_indicator_inconsistent_with_times():
    f = _frame()
    f.loc[3, "h"] = f.loc[3, "d"] / 2  # resolved after extraction
    spec = HierarchicalEffects("d", "t", event="event", horizon="h")
    with pytest.raises(DataError, match="inconsistent"):
        spec.prepare(f)
    f = _frame()
    f.loc[5, "event"] = 0  # open, yet its time is not the time to extraction
    with pytest.raises(DataError, match="open row"):
        spec.prepare(f)
    f = _frame()
    f.loc[2, "event"] = 2
    with pytest.raises(DataError, match="event"):
        spec.prepare(f)


@pytest.mark.parametrize("bad", [0.0, -5.0, np.nan])
def test_negative_or_zero_durations(bad):
    f = _frame()
    f.loc[7, "d"] = bad
    with pytest.raises(DataError, match="'d'"):
        HierarchicalEffects("d", "t").prepare(f)


def test_queue_with_zero_contacts_in_one_arm():
    f = _frame()
    f = f[~((f["queue"] == "b") & (f["t"] == 1))]
    with pytest.raises(DataError, match=r"zero contacts in one arm: b \(control=\d+, treated=0\)"):
        HierarchicalEffects("d", "t").prepare(f)
    prep = HierarchicalEffects("d", "t", empty_arm="pool").prepare(f)
    assert prep.empty_arm_groups == ["b"]
    assert np.isnan(prep.no_pooling.set_index("group").loc["b", "nopool"])


def test_bad_spec_and_columns():
    with pytest.raises(DesignError):
        HierarchicalEffects("d", "t", likelihood="poisson").prepare(_frame())
    with pytest.raises(DesignError):
        HierarchicalEffects("d", "t", likelihood="bernoulli", event="event").prepare(_frame())
    with pytest.raises(DataError, match="missing"):
        HierarchicalEffects("d", "arm").prepare(_frame())
    with pytest.raises(DesignError):
        Sampler(draws=0)


def test_prior_predictive_flags_misspecified_priors():
    f = _frame(400)
    good = HierarchicalEffects("d", "t").prior_predictive(f, draws=300, rng=1)
    assert all(d.status == "ok" for d in good.diagnostics)
    bad = HierarchicalEffects("d", "t", intercept_sd=20.0, effect_sd=5.0).prior_predictive(
        f, draws=300, rng=1)
    status = {d.name: d.status for d in bad.diagnostics}
    assert status == {"prior_outcome": "warning", "prior_effect": "warning"}
    assert bad.share_implausible_ratio > 0.5
    assert bad.plot().get_title() == "Prior predictive check"
    plt.close("all")
