"""Tail and service-level metrics at the randomisation unit: quantiles clustered by customer
(Woodruff delta method, CUPED), service-level attainment with the one ServiceLevel type, the
metric's direction, and always-valid intervals in the result.

Ground truth: contacts of customers whose waits share a customer effect (log-normal), so the
true contact-level quantile and service level are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import simulation
from causal.experiments import (
    Experiment,
    Mean,
    Quantile,
    RatioOfMeans,
    RowData,
    ServiceLevelMetric,
    cluster_bootstrap_quantile,
    quantile_arm,
)
from servicelab import ServiceLevel
from servicelab.errors import DataError, DesignError

MED, SD_U, SD_E, LIFT, PATIENCE = 60.0, 0.6, 0.8, 0.85, 300.0
SD = math.hypot(SD_U, SD_E)


def _contacts(n_customers: int, rng: np.random.Generator, lift: float = LIFT) -> pd.DataFrame:
    """Customers (half treated) with 1 + Poisson(2) contacts; waits share a customer effect."""
    arm = rng.permutation(np.repeat(["control", "treatment"], n_customers // 2))
    mu = rng.normal(0, SD_U, n_customers)
    pre = mu + rng.normal(0, 0.3, n_customers)  # a pre-period proxy of the customer effect
    k = 1 + rng.poisson(2, n_customers)
    cust = np.repeat(np.arange(n_customers), k)
    scale = np.where(arm[cust] == "treatment", lift, 1.0)
    wait = MED * scale * np.exp(mu[cust] + rng.normal(0, SD_E, cust.size))
    patience = rng.exponential(PATIENCE, cust.size)
    abandoned = patience < wait
    return pd.DataFrame({
        "customer_id": cust, "variant": arm[cust],
        "wait_s": np.where(abandoned, patience, wait),
        "wait_full_s": wait,
        "answered": (~abandoned).astype(int), "abandoned": abandoned.astype(int),
        "pre_mu": pre[cust],
    })


def _true_quantile(q: float, scale: float = 1.0) -> float:
    return MED * scale * math.exp(SD * stats.norm.ppf(q))


def _true_sl(t: float, scale: float = 1.0) -> float:
    """P(answered within t) = P(W <= t, patience > W) for W log-normal, patience exponential."""
    dist = stats.lognorm(SD, scale=MED * scale)
    return integrate.quad(lambda w: dist.pdf(w) * math.exp(-w / PATIENCE), 0, t)[0]


SPEC = {
    "p90": Quantile("wait_full_s", 0.9, higher_is_better=False),
    "p90_cuped": Quantile("wait_full_s", 0.9, covariate="pre_mu", higher_is_better=False),
    "sl": ServiceLevelMetric(ServiceLevel(20)),
}


def test_servicelevel_is_one_type_shared_with_simulation():
    assert simulation.ServiceLevel is ServiceLevel
    from simulation.service_level import ServiceLevel as Old

    assert Old is ServiceLevel and ServiceLevelMetric(30).service_level == ServiceLevel(30)


def test_coverage_against_the_true_quantile_and_service_level():
    """200 replications: the clustered intervals cover the truth at the nominal 95% (binomial
    3-sigma band), CUPED cuts the variance, the always-valid interval contains the fixed one."""
    truth = {
        "p90": _true_quantile(0.9, LIFT) - _true_quantile(0.9),
        "p90_cuped": _true_quantile(0.9, LIFT) - _true_quantile(0.9),
        "sl": _true_sl(20, LIFT) - _true_sl(20),
    }
    reps = 200
    hits = dict.fromkeys(truth, 0)
    av_hits = dict.fromkeys(truth, 0)
    vr, naive_se, clustered_se = [], [], []
    spec = Experiment(SPEC, cluster="customer_id")
    for seed in np.random.SeedSequence(12).spawn(reps):
        f = _contacts(600, np.random.default_rng(seed))
        t = spec.analyze(f).table.set_index("metric")
        for k, v in truth.items():
            hits[k] += t.loc[k, "ci_low"] <= v <= t.loc[k, "ci_high"]
            av_hits[k] += t.loc[k, "av_ci_low"] <= v <= t.loc[k, "av_ci_high"]
            assert t.loc[k, "av_ci_low"] <= t.loc[k, "ci_low"] <= t.loc[k, "ci_high"] <= t.loc[
                k, "av_ci_high"]
        vr.append(t.loc["p90_cuped", "variance_reduction"])
        if len(naive_se) < 20:  # the same quantile with every contact its own unit
            clustered_se.append(t.loc["p90", "se"])
            naive = Experiment(p90=SPEC["p90"]).analyze(f).row("p90")
            naive_se.append(naive["se"])
    band = 3 * math.sqrt(0.95 * 0.05 / reps)
    for k in truth:
        assert abs(hits[k] / reps - 0.95) <= band, (k, hits[k])
        assert av_hits[k] / reps >= 0.95 - band, (k, av_hits[k])
    assert np.mean(vr) > 0.15  # the pre-period customer effect explains part of the tail
    # contacts of one customer are correlated: the iid interval is too narrow
    assert np.mean(naive_se) < 0.9 * np.mean(clustered_se)


def test_quantile_se_matches_a_cluster_bootstrap_on_the_same_data():
    """Reference: a plain resample-customers loop (pandas), independent of the library code."""
    f = _contacts(1200, np.random.default_rng(5))
    arm = f[f["variant"] == "control"]
    rows = RowData.from_arrays(arm["wait_full_s"], arm["customer_id"])
    a = quantile_arm(rows, 0.9)
    se_woodruff = math.sqrt(a.var_f) / a.density()
    rng = np.random.default_rng(6)
    groups = [g["wait_full_s"].to_numpy() for _, g in arm.groupby("customer_id")]
    boot = []
    for _ in range(400):
        pick = rng.integers(0, len(groups), len(groups))
        boot.append(np.quantile(np.concatenate([groups[i] for i in pick]), 0.9))
    se_loop = float(np.std(boot, ddof=1))
    assert se_woodruff == pytest.approx(se_loop, rel=0.2)
    se_lib = float(np.std(cluster_bootstrap_quantile(rows, 0.9, n_resamples=400, rng=7), ddof=1))
    assert se_lib == pytest.approx(se_loop, rel=0.2)
    # the library's cluster-bootstrap method goes through the same Experiment path
    res = Experiment(p90=Quantile("wait_full_s", 0.9, method="cluster_bootstrap",
                                  n_resamples=300, higher_is_better=False),
                     cluster="customer_id").analyze(f, rng=1).row("p90")
    woodruff = Experiment(p90=SPEC["p90"], cluster="customer_id").analyze(f).row("p90")
    assert res["se"] == pytest.approx(woodruff["se"], rel=0.25)


def test_iid_woodruff_se_matches_the_asymptotic_formula():
    """Every row its own unit: se = sqrt(q (1 - q) / n) / f(xi) with the true density."""
    rng = np.random.default_rng(8)
    n, q = 20_000, 0.9
    y = MED * np.exp(SD * rng.normal(size=n))
    a = quantile_arm(RowData.from_arrays(y), q)
    f_true = stats.lognorm(SD, scale=MED).pdf(_true_quantile(q))
    assert math.sqrt(a.var_f) / a.density() == pytest.approx(
        math.sqrt(q * (1 - q) / n) / f_true, rel=0.1)


def test_service_level_metric_equals_the_definition_and_names_it():
    f = _contacts(400, np.random.default_rng(9))
    sl = ServiceLevel(20, short_abandon_s=5)
    res = Experiment(sl=ServiceLevelMetric(sl), cluster="customer_id").analyze(f)
    c = f[f["variant"] == "control"]
    good, den = sl.counts(c["answered"].astype(bool), c["abandoned"].astype(bool), c["wait_s"])
    r = res.row("sl")
    assert r["mean_control"] == pytest.approx(good.sum() / den.sum(), rel=1e-12)
    assert r["n_control"] == c["customer_id"].nunique()  # units, not contacts
    assert r["kind"] == "service level"
    assert ServiceLevelMetric(sl).describe() == f"service level: {sl.name}"
    assert res.directions["sl"] is True


def test_cluster_mode_mean_is_a_ratio_of_unit_sums():
    """Mean of a row column with cluster=: the contact-level mean, delta method at the unit,
    which equals RatioOfMeans on the customer-level sums."""
    f = _contacts(500, np.random.default_rng(10))
    a = Experiment(w=Mean("wait_s", higher_is_better=False), cluster="customer_id").analyze(f)
    units = f.groupby("customer_id").agg(variant=("variant", "first"),
                                         w=("wait_s", "sum"), n=("wait_s", "size")).reset_index()
    b = Experiment(w=RatioOfMeans("w", "n", higher_is_better=False)).analyze(units)
    for col in ("effect", "se", "ci_low", "ci_high"):
        assert a.row("w")[col] == pytest.approx(b.row("w")[col], rel=1e-10)
    assert a.srm.counts == b.srm.counts  # SRM counts customers


def test_quantile_is_deterministic_and_cuped_keeps_the_estimate_close():
    f = _contacts(800, np.random.default_rng(11))
    spec = Experiment(SPEC, cluster="customer_id")
    a, b = spec.analyze(f).to_dict(), spec.analyze(f).to_dict()
    assert a == b
    t = spec.analyze(f).table.set_index("metric")
    assert abs(t.loc["p90_cuped", "effect"] - t.loc["p90", "effect"]) < 2 * t.loc["p90", "se"]
    assert t.loc["p90_cuped", "se"] < t.loc["p90", "se"]


# -- direction ---------------------------------------------------------------------------------
def _handle(cut: float, rng) -> pd.DataFrame:
    n = 4000
    arm = rng.permutation(np.repeat(["control", "treatment"], n // 2))
    h = rng.gamma(4, 75, n) * np.where(arm == "treatment", 1 - cut, 1.0)
    return pd.DataFrame({"variant": arm, "handle_s": h})


def test_a_handle_time_cut_is_not_read_as_harm_by_default():
    f = _handle(0.05, np.random.default_rng(3))
    undeclared = Experiment(aht=Mean("handle_s")).analyze(f)
    text = undeclared.decision("aht")
    assert text.startswith("NO DECISION") and "not declared" in text and "DO NOT" not in text
    tab = undeclared.summary().to_frame()
    assert tab["direction"].tolist() == ["direction not declared"]
    declared = Experiment(aht=Mean("handle_s", higher_is_better=False)).analyze(f)
    assert declared.decision("aht").startswith("SHIP CANDIDATE")
    assert "aht lower is better" in str(declared.summary())


def test_guardrails_and_margins_need_a_direction():
    with pytest.raises(DesignError, match="direction"):
        Mean("csat", margin=0.02)
    f = _handle(0.0, np.random.default_rng(4))
    with pytest.raises(DesignError, match="no declared direction"):
        Experiment(a=Mean("handle_s", higher_is_better=False), g=Mean("handle_s"),
                   guardrails=["g"]).analyze(f)


# -- bad input ---------------------------------------------------------------------------------
def test_quantile_with_too_few_units_per_arm_raises():
    f = _contacts(30, np.random.default_rng(1))  # 15 customers per arm
    with pytest.raises(DataError, match=r"has 15 units, fewer than min_units=20"):
        Experiment(p90=SPEC["p90"], cluster="customer_id").analyze(f)
    rng = np.random.default_rng(2)
    g = pd.DataFrame({"variant": np.repeat(["control", "treatment"], 300),
                      "y": rng.exponential(size=600)})
    with pytest.raises(DataError, match="beyond the p99"):
        Experiment(p99=Quantile("y", 0.99, higher_is_better=False)).analyze(g)


def test_bad_row_level_input():
    f = _contacts(100, np.random.default_rng(3))
    g = f.copy()
    g.loc[g.index[0], "abandoned"] = 1
    g.loc[g.index[0], "answered"] = 1
    with pytest.raises(DataError, match="both 'answered' and 'abandoned'"):
        Experiment(sl=ServiceLevelMetric(20), cluster="customer_id").analyze(g)
    g = f.copy()
    busiest = g.groupby("customer_id").size().idxmax()  # a customer with several contacts
    rows = g.index[g["customer_id"] == busiest]
    g.loc[rows[0], "variant"] = "treatment" if g.loc[rows[1], "variant"] == "control" else "control"
    with pytest.raises(DesignError, match="not constant within units"):
        Experiment(sl=ServiceLevelMetric(20), cluster="customer_id").analyze(g)
    with pytest.raises(DesignError, match="CUPED"):
        Quantile("wait_s", 0.9, covariate="pre_mu", method="bca")
    with pytest.raises(DesignError, match="resamples rows"):
        Experiment(p90=Quantile("wait_s", 0.9, method="bca", higher_is_better=False),
                   cluster="customer_id").analyze(f)
