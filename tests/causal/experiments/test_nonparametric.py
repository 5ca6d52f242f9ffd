"""Bootstrap (BCa), quantile metrics and Mann-Whitney."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.experiments import Experiment, MannWhitney, Quantile, bootstrap_ci, mann_whitney
from servicelab import DataError, DesignError


def _median_diff(c, t, axis=-1):
    return np.median(t, axis=axis) - np.median(c, axis=axis)


def test_bca_coverage_median_difference():
    # exponential waits: median = scale * ln 2, so the true difference is known
    rng = np.random.default_rng(0)
    truth = (90 - 60) * np.log(2)
    hits = 0
    reps = 160
    for r in range(reps):
        c = rng.exponential(60, size=120)
        t = rng.exponential(90, size=120)
        lo, hi = bootstrap_ci(_median_diff, c, t, n_resamples=300, rng=r)
        hits += lo <= truth <= hi
    assert 0.90 <= hits / reps <= 0.98


def test_quantile_metric_ground_truth_and_determinism():
    rng = np.random.default_rng(1)
    n = 3000
    arm = rng.choice(["control", "treatment"], size=n)
    wait = rng.exponential(np.where(arm == "treatment", 50.0, 60.0))
    f = pd.DataFrame({"variant": arm, "wait_s": wait})
    spec = Experiment(p90=Quantile("wait_s", 0.9, n_resamples=500, higher_is_better=False))
    res = spec.analyze(f, rng=3)
    r = res.row("p90")
    truth = (50 - 60) * np.log(10)
    assert r["ci_low"] < truth < r["ci_high"]
    assert r["rel_ci_low"] < -1 / 6 < r["rel_ci_high"]
    assert res.to_dict() == spec.analyze(f, rng=3).to_dict()


def test_mann_whitney_null_and_alternative():
    rng = np.random.default_rng(2)
    ps = [mann_whitney(rng.normal(size=50), rng.normal(size=50))["pvalue"] for _ in range(400)]
    assert 0.02 <= np.mean(np.asarray(ps) < 0.05) <= 0.09
    f = pd.DataFrame({"variant": ["control"] * 200 + ["treatment"] * 200,
                      "csat": np.r_[rng.integers(1, 5, 200), rng.integers(2, 6, 200)]})
    r = Experiment(csat=MannWhitney("csat")).analyze(f).row("csat")
    assert r["pvalue"] < 1e-3 and r["effect"] > 0 and r["ci_low"] > 0


def test_bad_bootstrap_input():
    with pytest.raises(DataError):
        bootstrap_ci(_median_diff, np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(DataError):
        bootstrap_ci(_median_diff, np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(DesignError):
        Quantile("x", q=1.5)


def _exp_arms(n=400, seed=7):
    rng = np.random.default_rng(seed)
    return rng.exponential(60, n), rng.exponential(90, n)


def test_bootstrap_is_scipys_and_keeps_the_former_outputs():
    from scipy import stats

    c, t = _exp_arms()
    for method, scipy_method in (("bca", "BCa"), ("percentile", "percentile")):
        ours = bootstrap_ci(_median_diff, c, t, n_resamples=4000, rng=1, method=method)
        ref = stats.bootstrap((c, t), _median_diff, n_resamples=4000, method=scipy_method, paired=False,
                              vectorized=True, batch=200, random_state=np.random.default_rng(1))
        assert ours == pytest.approx(tuple(ref.confidence_interval), rel=1e-12)
    # the hand-written version before scipy (same resampling order, so the same distribution):
    # percentile endpoints identical, BCa within 2% of the width (full vs grouped jackknife)
    assert bootstrap_ci(_median_diff, c, t, n_resamples=4000, rng=1, method="percentile") == pytest.approx(
        (10.475824072500876, 31.85739839800515), rel=1e-12)
    lo, hi = bootstrap_ci(_median_diff, c, t, n_resamples=4000, rng=1)
    old_lo, old_hi = 11.259219997360997, 32.60892191492944
    assert abs(lo - old_lo) < 0.02 * (old_hi - old_lo) and abs(hi - old_hi) < 0.02 * (old_hi - old_lo)


def test_large_sample_bca_agrees_with_scipys_exact_bca(monkeypatch):
    from causal.experiments import nonparametric

    c, t = _exp_arms(1500, seed=3)
    exact = bootstrap_ci(_median_diff, c, t, n_resamples=2000, rng=5)
    monkeypatch.setattr(nonparametric, "_EXACT_BCA_MAX_N", 0)  # force the grouped jackknife
    grouped = bootstrap_ci(_median_diff, c, t, n_resamples=2000, rng=5)
    width = exact[1] - exact[0]
    assert abs(grouped[0] - exact[0]) < 0.03 * width and abs(grouped[1] - exact[1]) < 0.03 * width
