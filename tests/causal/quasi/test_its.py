"""Interrupted time series: ground truth with seasonality, coverage, bad input."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from causal.quasi import InterruptedTimeSeries
from servicelab.errors import DataError, DesignError
from servicelab.random import spawn

matplotlib.use("Agg")


def series(rng: np.random.Generator, n: int = 140, t0: int = 100, level: float = 2.0
           ) -> pd.DataFrame:
    t = np.arange(n)
    e = np.zeros(n)
    shocks = rng.normal(0, 0.4, n)
    for i in range(1, n):  # AR(1) errors: naive OLS SEs would be too small
        e[i] = 0.3 * e[i - 1] + shocks[i]
    y = 10 + 0.03 * t + 1.5 * np.sin(2 * np.pi * t / 7) + level * (t >= t0) + e
    return pd.DataFrame({"day": t, "y": y})


def test_its_recovers_level_shift_with_weekly_season():
    df = series(np.random.default_rng(0))
    res = InterruptedTimeSeries("y", "day", 100, period=7).fit(df)
    assert res.level.covers(2.0)
    assert res.slope.covers(0.0)
    no_season = InterruptedTimeSeries("y", "day", 100, period=None).fit(df)
    assert no_season.level.se > res.level.se  # the season is noise unless modelled
    assert "level change" in str(res.summary())
    json.dumps(res.to_dict())
    res.plot()


def test_its_coverage():
    hits = [InterruptedTimeSeries("y", "day", 100, period=7).fit(series(g)).level.covers(2.0)
            for g in spawn(42, 200)]
    assert 0.92 <= np.mean(hits) <= 0.98, np.mean(hits)
    hac = [InterruptedTimeSeries("y", "day", 100, period=7, errors="hac").fit(series(g))
           .level.covers(2.0) for g in spawn(42, 100)]
    assert np.mean(hac) < np.mean(hits)  # Newey-West under-covers in short series


def test_its_bad_input():
    df = series(np.random.default_rng(1))
    with pytest.raises(DataError, match="no pre- or no post-period"):
        InterruptedTimeSeries("y", "day", 1000).fit(df)
    with pytest.raises(DesignError, match="pre-periods"):
        InterruptedTimeSeries("y", "day", 5, period=7, harmonics=3).fit(df)
    with pytest.raises(DataError, match="duplicated"):
        InterruptedTimeSeries("y", "day", 100).fit(pd.concat([df, df]))


def test_its_row_order_and_slope_change():
    """The fit sorts by time (shuffled rows give the same numbers), and a slope change is
    recovered with the average post-period effect = level + slope x mean(t - t0).

    (Replaces a determinism test of deterministic OLS, which could not fail.)"""
    rng = np.random.default_rng(2)
    df = series(rng)
    df["y"] += 0.05 * np.maximum(df["day"] - 100, 0)  # slope change 0.05 per period
    spec = InterruptedTimeSeries("y", "day", 100, period=7)
    res = spec.fit(df)
    shuffled = spec.fit(df.sample(frac=1.0, random_state=3))
    assert shuffled.level.estimate == pytest.approx(res.level.estimate, rel=1e-9)
    assert shuffled.average.se == pytest.approx(res.average.se, rel=1e-9)
    assert res.slope.covers(0.05) and res.level.covers(2.0)
    assert res.average.covers(2.0 + 0.05 * np.mean(np.arange(40)))
