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
    # the overall ATE (seconds) covers the truth
    assert censored_fit.overall.covers(truth["ate_s"])


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
    assert {d.name for d in censored_fit.diagnostics} >= {"rhat", "ess_bulk", "ess_tail",
                                                          "divergences"}
    path = censored_fit.to_netcdf(tmp_path / "posterior.nc")
    back = az.from_netcdf(path)
    np.testing.assert_allclose(back.posterior["tau"].values,
                               censored_fit.idata.posterior["tau"].values)
    ax = censored_fit.plot_ppc(rng=1)
    assert "Posterior predictive" in ax.get_title()
    # the model is right: most observed cell means sit inside their 95% predictive intervals
    assert censored_fit.ppc_coverage(rng=1) > 0.8
    plt.close("all")


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
