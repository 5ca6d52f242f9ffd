"""Cluster-randomised and switchback designs: CR2 + Bell-McCaffrey df, wild cluster bootstrap,
randomisation inference, burn-in against carryover, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from causal.experiments import ClusterExperiment, SwitchbackDesign, cluster_robust_ols
from servicelab import DataError, DesignError


def _clustered(g, n_per, effect, seed, icc_sd=1.0, sizes=None):
    rng = np.random.default_rng(seed)
    sizes = sizes if sizes is not None else np.full(g, n_per)
    site = np.repeat(np.arange(g), sizes)
    treated = rng.permutation(np.arange(g) % 2)
    d = treated[site]
    y = 10 + effect * d + icc_sd * rng.normal(size=g)[site] + rng.normal(size=site.size)
    return pd.DataFrame({"site": site, "variant": np.where(d == 1, "treatment", "control"),
                         "y": y, "x": rng.normal(size=site.size)})


def test_cr2_equals_cluster_means_test_for_equal_sizes():
    df = _clustered(10, 15, 0.5, seed=1)
    d = (df["variant"] == "treatment").to_numpy(float)
    X = np.column_stack([np.ones(len(df)), d])
    out = cluster_robust_ols(df["y"].to_numpy(), X, df["site"].to_numpy())
    means = df.groupby("site").agg(y=("y", "mean"), v=("variant", "first"))
    a = means.loc[means["v"] == "treatment", "y"]
    b = means.loc[means["v"] == "control", "y"]
    assert out["se_cr2"] == pytest.approx(np.sqrt(a.var() / len(a) + b.var() / len(b)), rel=1e-9)
    assert out["df_bm"] == pytest.approx(8.0, abs=0.6)
    # CR1 equals statsmodels' cluster-robust SE
    fit = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="cluster",
                                             cov_kwds={"groups": df["site"].to_numpy()})
    assert out["se_cr1"] == pytest.approx(fit.bse[1], rel=1e-9)


def test_few_clusters_coverage_cr2_vs_cr1():
    reps, cov2, cov1 = 300, 0, 0
    rng = np.random.default_rng(5)
    for r in range(reps):
        sizes = rng.integers(10, 40, size=8)
        df = _clustered(8, 0, 0.7, seed=1000 + r, sizes=sizes)
        res = ClusterExperiment("y", "site", n_resamples=0).analyze(df)
        cov2 += res.ci_low <= 0.7 <= res.ci_high
        half = stats.norm.ppf(0.975) * res.se_cr1
        cov1 += res.effect - half <= 0.7 <= res.effect + half
    assert cov2 / reps >= 0.93
    assert cov1 / reps < cov2 / reps - 0.03


def test_wild_bootstrap_and_randomisation_inference():
    null_p = []
    for r in range(40):
        df = _clustered(10, 12, 0.0, seed=200 + r)
        res = ClusterExperiment("y", "site", covariates=("x",), n_resamples=199).analyze(
            df, rng=r
        )
        null_p.append((res.pvalue_wild, res.pvalue_ri))
    null_p = np.asarray(null_p)
    assert (null_p < 0.05).mean(axis=0).max() <= 0.15
    assert np.median(null_p, axis=0).min() > 0.25
    big = ClusterExperiment("y", "site", n_resamples=199).analyze(
        _clustered(12, 12, 4.0, seed=3), rng=1
    )
    assert big.pvalue_wild < 0.02 and big.pvalue_ri < 0.05
    assert big.ci_low < 4.0 < big.ci_high
    a = ClusterExperiment("y", "site", n_resamples=99).analyze(_clustered(8, 5, 1, 4), rng=3)
    b = ClusterExperiment("y", "site", n_resamples=99).analyze(_clustered(8, 5, 1, 4), rng=3)
    assert a.to_dict() == b.to_dict()
    assert a.diagnostics[0].status == "warning"  # few clusters is loud
    assert "CR2" in str(a.summary()) and a.plot() is not None


def test_cluster_bad_input():
    df = _clustered(3, 5, 0.0, seed=1)
    with pytest.raises(DesignError, match="fewer than 2 clusters per arm"):
        ClusterExperiment("y", "site").analyze(df)
    mixed = _clustered(6, 5, 0.0, seed=1)
    mixed.loc[mixed.index[0], "variant"] = (
        "treatment" if mixed.loc[mixed.index[0], "variant"] == "control" else "control"
    )
    with pytest.raises(DesignError, match="contain both arms"):
        ClusterExperiment("y", "site").analyze(mixed)
    nan = _clustered(6, 5, 0.0, seed=1)
    nan.loc[nan.index[2], "y"] = np.nan
    with pytest.raises(DataError, match="missing"):
        ClusterExperiment("y", "site").analyze(nan)


def _switchback(seed, effect=-20.0, carry_s=900):
    rng = np.random.default_rng(seed)
    queues, hours, per = 6, 24 * 10, 30
    arm = rng.integers(0, 2, size=(queues, hours))
    q = np.repeat(np.arange(queues), hours * per)
    h = np.tile(np.repeat(np.arange(hours), per), queues)
    within = rng.uniform(0, 3600, size=q.size)
    cur = arm[q, h]
    prev = np.where(h > 0, arm[q, np.maximum(h - 1, 0)], cur)
    active = np.where(within < carry_s, prev, cur)  # backlog carries the old arm's effect
    wait = 120 + effect * active + 10 * rng.normal(size=(queues, hours))[q, h] \
        + 30 * rng.normal(size=q.size)
    return pd.DataFrame({
        "queue": q, "t": h * 3600 + within, "variant": np.where(cur == 1, "treatment",
                                                                 "control"),
        "wait_s": wait,
    })


def test_switchback_burn_in_removes_carryover_bias():
    df = _switchback(15)
    with_burn = SwitchbackDesign("wait_s", "t", "queue", slice_s=3600, burn_in_s=900,
                                 n_resamples=0).analyze(df)
    no_burn = SwitchbackDesign("wait_s", "t", "queue", slice_s=3600, burn_in_s=0,
                               n_resamples=0).analyze(df)
    assert with_burn.ci_low < -20 < with_burn.ci_high
    assert abs(no_burn.effect + 20) > 3 * no_burn.se_cr2  # carryover biases towards 0
    assert with_burn.info["burn-in dropped rows"] > 0
    names = {d.name: d for d in no_burn.diagnostics}
    assert names["carryover"].status == "warning"
    with pytest.raises(DesignError, match="burn_in_s"):
        SwitchbackDesign("wait_s", "t", "queue", slice_s=600, burn_in_s=900)
    with pytest.raises(DesignError, match="arm changes within"):
        SwitchbackDesign("wait_s", "t", "queue", slice_s=7200).analyze(df)


def test_sums_path_equals_row_path_and_runs_in_duckdb():
    import duckdb

    df = _clustered(14, 0, 0.5, seed=21, sizes=np.random.default_rng(2).integers(5, 30, 14))
    rows = ClusterExperiment("y", "site", covariates=(), n_resamples=0)
    sums = rows.analyze(df)  # no covariates: per-cluster sums path
    d = (df["variant"] == "treatment").to_numpy(float)
    ref = cluster_robust_ols(df["y"].to_numpy(), np.column_stack([np.ones(len(df)), d]),
                             df["site"].to_numpy())
    assert sums.effect == pytest.approx(ref["beta"], rel=1e-12)
    assert sums.se_cr1 == pytest.approx(ref["se_cr1"], rel=1e-10)
    assert sums.se_cr2 == pytest.approx(ref["se_cr2"], rel=1e-10)
    assert sums.df == pytest.approx(ref["df_bm"], rel=1e-10)
    con = duckdb.connect()
    con.register("contacts", df)
    sql = ClusterExperiment("y", "site", n_resamples=199).analyze((con, "contacts"), rng=4)
    mem = ClusterExperiment("y", "site", n_resamples=199).analyze(df, rng=4)
    assert sql.se_cr2 == pytest.approx(mem.se_cr2, rel=1e-12)
    assert sql.pvalue_wild == mem.pvalue_wild and sql.pvalue_ri == mem.pvalue_ri
    # the wild bootstrap and RI from sums agree in distribution with the row-level versions
    cov = ClusterExperiment("y", "site", covariates=("x",), n_resamples=199).analyze(df, rng=4)
    assert abs(cov.pvalue_ri - mem.pvalue_ri) < 0.15


def test_switchback_fixed_effects_remove_queue_and_clock_noise():
    df = _switchback(16)
    q = df["queue"].to_numpy()
    hour_of_day = (df["t"].to_numpy() // 3600) % 24
    df["wait_s"] += 60.0 * q + 40.0 * np.sin(2 * np.pi * hour_of_day / 24)  # persistent structure
    fe = SwitchbackDesign("wait_s", "t", "queue", slice_s=3600, burn_in_s=900,
                          n_resamples=0).analyze(df)
    plain = SwitchbackDesign("wait_s", "t", "queue", slice_s=3600, burn_in_s=900,
                             n_resamples=0, fixed_effects=False).analyze(df)
    assert fe.ci_low < -20 < fe.ci_high
    assert fe.se_cr2 < 0.6 * plain.se_cr2
    assert fe.info["fixed effects"] == "queue + time of day"
