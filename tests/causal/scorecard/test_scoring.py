"""Scoring: coverage, its Monte Carlo error, the binomial band and the diagnostic hit rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causal.scorecard import binomial_band, score_records, silent_miss_criterion
from causal.scorecard.runner import headline


def _normal_records(n: int, rng: int, *, bias: float = 0.0, se_scale: float = 1.0) -> pd.DataFrame:
    """An estimator N(truth + bias, 1) reporting SE ``se_scale`` and the Wald 95% interval."""
    gen = np.random.default_rng(rng)
    est = 2.0 + bias + gen.standard_normal(n)
    se = np.full(n, se_scale)
    return pd.DataFrame({"scenario": "toy", "estimator": "normal", "truth": 2.0, "estimate": est,
                         "se": se, "ci_low": est - 1.96 * se, "ci_high": est + 1.96 * se,
                         "status": "ok", "own_status": "ok", "error": ""})


def test_toy_scores_by_hand() -> None:
    rec = pd.DataFrame({"scenario": "s", "estimator": "e", "truth": 1.0,
                        "estimate": [1.0, 1.5, 9.0, -7.0, np.nan],
                        "se": [1.0, 1.0, 1.0, 1.0, np.nan],
                        "ci_low": [-1.0, -0.5, 7.0, -9.0, np.nan],
                        "ci_high": [3.0, 3.5, 11.0, -5.0, np.nan],
                        "status": ["ok", "warning", "fail", "ok", "fail"],
                        "own_status": ["ok", "ok", "ok", "ok", "fail"],
                        "error": ["", "", "", "", ""]})
    row = score_records(rec).iloc[0]
    assert row.reps == 5 and row.valid == 4 and row.refused == 1 and row.errors == 0
    assert row.coverage == 0.5
    assert row.coverage_mcse == pytest.approx(math.sqrt(0.25 / 4))
    d = np.array([0.0, 0.5, 8.0, -8.0])
    assert row.bias == pytest.approx(d.mean())
    assert row.rmse == pytest.approx(np.sqrt(np.mean(d**2)))
    assert row.ci_width == pytest.approx(4.0)
    assert row.wide_misses == 2          # 9 and -7 are 8 SEs away
    assert row.hit_rate == 0.5           # one of them had a fail
    assert row.silent_wide_miss == 0.25  # -7 missed with every check ok
    assert row.hit_rate_own == 0.0 and row.silent_wide_miss_own == 0.5
    assert row.flagged == 0.5


def test_errors_are_counted_not_scored() -> None:
    rec = _normal_records(20, 1)
    rec.loc[0, ["estimate", "error"]] = [np.nan, "ValueError: boom"]
    row = score_records(rec).iloc[0]
    assert row.errors == 1 and row.valid == 19 and row.refused == 0


def test_correct_interval_covers_inside_its_band() -> None:
    row = score_records(_normal_records(2000, 11)).iloc[0]
    assert row.band_low <= row.coverage <= row.band_high and row.in_band
    # the MC SE is the binomial one
    assert row.coverage_mcse == pytest.approx(math.sqrt(row.coverage * (1 - row.coverage) / 2000))


def test_biased_or_overconfident_interval_leaves_its_band() -> None:
    assert not score_records(_normal_records(2000, 12, bias=1.0)).iloc[0].in_band
    narrow = score_records(_normal_records(2000, 13, se_scale=0.6)).iloc[0]
    assert not narrow.in_band
    # with SEs 0.6 of the truth, |z| > 3 * 0.6 = 1.8 happens 7.2% of the time
    assert narrow.wide_misses / 2000 == pytest.approx(2 * stats.norm.sf(1.8), abs=0.02)
    assert narrow.hit_rate == 0.0  # nothing warned


def test_binomial_band_is_a_binomial_quantile_range() -> None:
    lo, hi = binomial_band(200, 0.95, 0.999)
    assert lo == stats.binom.ppf(0.0005, 200, 0.95) / 200
    assert hi == stats.binom.ppf(0.9995, 200, 0.95) / 200
    assert lo < 0.95 < hi
    assert all(math.isnan(v) for v in binomial_band(0))


def test_headline_pools_hit_rates_over_wide_misses() -> None:
    t = pd.DataFrame({"group": ["a", "a", "b"], "coverage": [0.9, 1.0, 0.5],
                      "bias": [0.1, -0.3, 1.0], "rmse": [1.0, 1.0, 2.0],
                      "wide_misses": [3, 1, 0], "hit_rate": [1 / 3, 1.0, np.nan],
                      "silent_wide_miss": [0.02, 0.0, 0.0], "valid": [100, 100, 50]})
    h = headline(t).set_index("family")
    assert h.loc["a", "hit_rate"] == pytest.approx(0.5)  # 2 of 4 wide misses flagged
    assert h.loc["a", "coverage_min"] == 0.9
    assert math.isnan(h.loc["b", "hit_rate"])


def test_silent_miss_criterion_counts_ok_wide_misses_per_estimator() -> None:
    """From replication records to the criterion: 100 reps, 6 silent wide misses fail it at 5%,
    2 pass; a wide miss flagged by the result but not by the estimate counts only for _own."""
    gen = np.random.default_rng(5)
    frames = []
    for name, n_silent, n_flagged in (("bad", 6, 0), ("good", 2, 4)):
        rec = _normal_records(100, int(gen.integers(1 << 30)), se_scale=10.0)  # no wide misses
        rec["estimator"] = name
        rec["scenario"] = "lo"
        for i in range(n_silent + n_flagged):
            rec.loc[i, ["estimate", "ci_low", "ci_high"]] = [200.0, 180.4, 219.6]  # 19.8 SEs off
        rec.loc[n_silent:n_silent + n_flagged - 1, "status"] = "fail"  # own stays ok
        frames.append(rec)
    crit = silent_miss_criterion(score_records(pd.concat(frames)), "lo").set_index("estimator")
    assert crit.loc["bad", "silent"] == 6 and not crit.loc["bad", "passes"]
    assert crit.loc["good", "silent"] == 2 and crit.loc["good", "passes"]
    assert crit.loc["good", "silent_own"] == 6 and not crit.loc["good", "passes_own"]
    assert crit.loc["good", "wide_misses"] == 6
    # the Monte Carlo upper bound is the exact Clopper-Pearson one
    assert crit.loc["bad", "silent_upper"] == pytest.approx(stats.beta.ppf(0.95, 7, 94))
    assert crit.loc["bad", "silent_share"] < crit.loc["bad", "silent_upper"] < 0.15
    with pytest.raises(KeyError, match="nowhere"):
        silent_miss_criterion(score_records(frames[0]), "nowhere")
