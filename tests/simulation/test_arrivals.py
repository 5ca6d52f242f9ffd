"""Arrival processes: NHPP correctness (incl. a short high-rate window), traces, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from servicelab.errors import DataError, DesignError
from simulation import IntervalForecast, Poisson, Trace


def _counts(forecast: IntervalForecast, edges: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([np.histogram(forecast.sample(rng), edges)[0] for _ in range(n)])


def test_nhpp_counts_match_integrated_rate_including_short_busy_window() -> None:
    # one-minute windows: a quiet hour with a single 1-minute burst at 100x the rate
    vol = np.full(60, 2.0)
    vol[37] = 200.0
    f = IntervalForecast(tuple(vol), interval_s=60)
    edges = np.arange(61) * 60.0
    c = _counts(f, edges, 400, seed=11)
    expected = np.array([f.expected_count(a, b) for a, b in itertools.pairwise(edges)])
    np.testing.assert_allclose(expected, vol)
    se = np.sqrt(expected / c.shape[0])
    z = (c.mean(axis=0) - expected) / se
    assert np.all(np.abs(z) < 4.5)
    assert abs(c[:, 37].mean() - 200.0) < 4 * np.sqrt(200 / 400)
    # Poisson dispersion in the burst window
    assert 0.8 < c[:, 37].var(ddof=1) / c[:, 37].mean() < 1.25


def test_nhpp_sub_window_counts_and_uniformity_for_30_min_forecast() -> None:
    f = IntervalForecast.from_rates([60, 600, 120, 0, 30], interval_s=1800)
    assert f.volumes == (30.0, 300.0, 60.0, 0.0, 15.0)
    t = np.concatenate([f.sample(np.random.default_rng(s)) for s in range(200)])
    # no arrivals in the closed interval; counts in a 10-minute sub-window of the busy one
    assert not np.any((t >= 3 * 1800) & (t < 4 * 1800))
    sub = np.sum((t >= 1800 + 600) & (t < 1800 + 1200)) / 200
    assert abs(sub - f.expected_count(2400, 3000)) < 4 * np.sqrt(100 / 200)
    busy = t[(t >= 1800) & (t < 3600)] - 1800
    assert stats.kstest(busy / 1800, "uniform").pvalue > 0.001


def test_rate_at_and_horizon() -> None:
    f = IntervalForecast((900.0, 0.0), interval_s=900, start_s=100)
    np.testing.assert_allclose(f.rate_at([50, 100, 999, 1100, 5000]), [0, 1, 1, 0, 0])
    assert f.horizon_s == 1900


def test_sampling_is_deterministic_and_sorted() -> None:
    f = Poisson(100 / 60, 3600)
    a = f.sample(np.random.default_rng(5))
    b = f.sample(np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert np.all(np.diff(a) >= 0) and a.min() >= 0 and a.max() < 3600


def test_trace_replay_and_unsorted_trace_is_data_error() -> None:
    t = Trace([0.0, 1.0, 1.0, 5.0])
    np.testing.assert_array_equal(t.sample(np.random.default_rng(0)), [0, 1, 1, 5])
    with pytest.raises(DataError, match="not sorted"):
        Trace([0.0, 3.0, 2.0])
    with pytest.raises(DataError):
        Trace([-1.0, 2.0])
    with pytest.raises(DataError):
        Trace([])


@pytest.mark.parametrize(
    "make",
    [
        lambda: IntervalForecast((1.0, -2.0)),
        lambda: IntervalForecast((0.0, 0.0)),
        lambda: IntervalForecast((1.0,), interval_s=0),
        lambda: IntervalForecast((np.nan,)),
        lambda: Poisson(0.0, 3600),
        lambda: Poisson(-1.0, 3600),
        lambda: Poisson(1.0, 0.0),
    ],
)
def test_negative_or_zero_rates_are_design_errors(make) -> None:
    with pytest.raises(DesignError):
        make()
