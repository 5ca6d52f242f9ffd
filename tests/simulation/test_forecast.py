"""Arrival forecasts: backtested on the world (whose true intensity is known), against
statsforecast's own output, coherence of the reconciled hierarchy, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError
from simulation.forecast import ArrivalForecaster, backtest_forecast, counts_frame, read_counts_csv
from studies.world import WorldConfig, generate_world

CFG = WorldConfig(holiday_days=(40, 61), holiday_factor=0.5)


@pytest.fixture(scope="module")
def world_history():
    w = generate_world(seed=7, scale=0.1, config=CFG)
    c = w.tables["contacts"]
    idx = pd.date_range(CFG.window_start, periods=90 * 48, freq="30min")
    wide = (c.groupby([c.created_at.dt.floor("30min"), "queue"]).size().unstack(fill_value=0)
            .reindex(idx, fill_value=0))
    long = wide.stack().rename("arrivals").rename_axis(["interval_start", "queue"]).reset_index()
    truth = w.truth["truth_arrivals"].groupby(["interval_start", "queue"])["expected"].sum().unstack()
    return counts_frame(long), truth, list(w.tables["holidays"]["date"])


def _toy(days=42, seed=0, series=("a", "b")):
    idx = pd.date_range("2026-01-05", periods=days * 48, freq="30min")
    slot = np.arange(idx.size) % 48
    lam = 10 + 8 * np.sin(slot / 48 * np.pi) ** 2
    rng = np.random.default_rng(seed)
    return pd.concat([pd.DataFrame({"interval_start": idx, "queue": s, "arrivals": rng.poisson(lam * (i + 1))})
                      for i, s in enumerate(series)])


def test_backtest_on_the_world_beats_seasonal_naive_and_covers(world_history) -> None:
    wide, truth, hol = world_history
    bt = backtest_forecast(ArrivalForecaster(model="ets", n_paths=200), wide, horizon_days=7, n_windows=3,
                  truth=truth, holidays=hol, rng=3)
    ov = bt.overall().set_index("method")
    # closer to the realised counts and to the true intensity than last week's same interval
    assert ov.loc["forecast", "mase"] < ov.loc["seasonal_naive", "mase"]
    assert ov.loc["forecast", "mae_truth"] < 0.8 * ov.loc["seasonal_naive", "mae_truth"]
    # interval coverage of the realised counts: 3 origins x 5 queues x 336 intervals (correlated, so
    # wide bands around the nominal level)
    assert 0.72 < ov.loc["forecast", "coverage_0.8"] < 0.88
    assert 0.89 < ov.loc["forecast", "coverage_0.95"] < 0.985
    assert set(bt.by_horizon["horizon_day"]) == set(range(1, 8))
    assert bt.diagnostics[0].status == "ok"
    assert bt.to_dict()["n_windows"] == 3


def test_holiday_factor_is_learned_and_applied(world_history) -> None:
    wide, _, hol = world_history
    # the history ends on day 56: holiday day 40 is in it, day 61 in the horizon
    fc = ArrivalForecaster(model="ets", n_paths=50).fit(wide.iloc[: 56 * 48], 7, rng=1, holidays=hol)
    assert 0.4 < fc.holiday_factor["total"] < 0.6
    day = fc.daily["total"].to_numpy()
    assert day[5] < 0.7 * np.median(np.delete(day, 5))  # day 61 is the sixth of the horizon
    # a holiday in the horizon (day 40) and none in the history: forecast as a normal day, loudly
    none = ArrivalForecaster(model="ets", n_paths=50).fit(wide.iloc[: 35 * 48], 7, rng=1, holidays=[hol[0]])
    assert any(d.name == "holiday_factor" and d.status == "warning" for d in none.diagnostics)


def test_matches_statsforecast_and_is_coherent() -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    hist = counts_frame(_toy(series=("a",)))
    fc = ArrivalForecaster(model="ets", n_paths=40).fit(hist, 7, rng=2)
    daily = hist.resample("D").sum().rename_axis("ds").reset_index().melt(id_vars="ds", var_name="unique_id",
                                                                          value_name="y")
    ref = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=1).forecast(h=7, df=daily)
    # one series: the total equals it, the OLS projection leaves the coherent forecasts unchanged
    np.testing.assert_allclose(fc.daily["a"].to_numpy(), np.maximum(ref["AutoETS"].to_numpy(), 0), rtol=1e-9)
    two = ArrivalForecaster(model="seasonal_naive", n_paths=40).fit(counts_frame(_toy()), 7, rng=2)
    np.testing.assert_allclose(two.paths[..., :2].sum(axis=2), two.paths[..., 2], rtol=1e-9)
    np.testing.assert_allclose(two.mean[:, :2].sum(axis=1), two.mean[:, 2], rtol=1e-9)
    # seasonal naive: each day is the same weekday one week before
    hist2 = counts_frame(_toy())
    last_week = hist2.resample("D").sum().iloc[-7:]
    np.testing.assert_allclose(two.daily[["a", "b"]].to_numpy(), last_week.to_numpy(), rtol=1e-9)
    lo, hi = two.intervals[0.95]
    assert (lo <= two.mean + 1e-9).all() and (hi >= two.mean - 1e-9).all()
    assert set(two.to_frame().columns) >= {"interval_start", "series", "mean", "low_0.8", "high_0.95"}


def test_auto_selects_by_backtest_and_is_deterministic() -> None:
    hist = counts_frame(_toy(days=35))
    spec = ArrivalForecaster(model="auto", n_paths=30)
    a, b = spec.fit(hist, 7, rng=9), spec.fit(hist, 7, rng=9)
    np.testing.assert_array_equal(a.paths, b.paths)
    assert set(a.selection["model"]) == {"seasonal_naive", "ets"}
    assert set(a.models) == {"a", "b", "total"}
    assert a.summary().table.shape[0] == 7


def test_bad_history() -> None:
    good = _toy(days=28)
    neg = good.copy()
    neg.iloc[5, 2] = -1
    with pytest.raises(DataError, match="negative"):
        counts_frame(neg)
    gap = good[~((good.queue == "b") & (good.interval_start == good.interval_start.iloc[200]))]
    with pytest.raises(DataError, match=r"1 missing .* gap is not a zero"):
        counts_frame(gap)
    nul = good.astype({"arrivals": float})
    nul.iloc[3, 2] = np.nan
    with pytest.raises(DataError, match="NULL"):
        counts_frame(nul)
    with pytest.raises(DataError, match="whole days"):
        counts_frame(good[good.interval_start < good.interval_start.max() - pd.Timedelta(hours=1)])
    off = good.assign(interval_start=good.interval_start + pd.Timedelta(minutes=7))
    with pytest.raises(DataError, match="grid"):
        counts_frame(off)
    with pytest.raises(DataError, match="does not exist"):
        read_counts_csv("/nonexistent/counts.csv")


def test_horizon_longer_than_history_supports() -> None:
    hist = counts_frame(_toy(days=28))
    with pytest.raises(DataError, match="needs at least 30 days of history"):
        ArrivalForecaster(model="ets").fit(hist, 15)
    with pytest.raises(DataError, match="auto selection"):
        ArrivalForecaster(model="auto").fit(hist, 14)
    with pytest.raises(DataError, match="origins"):
        backtest_forecast(ArrivalForecaster(model="ets"), hist, horizon_days=7, n_windows=3)
    for bad in ({"model": "prophet"}, {"ci_levels": (1.2,)}, {"n_paths": 5}, {"candidates": ("x",)}):
        with pytest.raises(DesignError):
            ArrivalForecaster(**bad).fit(hist, 7)
    with pytest.raises(DesignError, match="horizon_days"):
        ArrivalForecaster(model="ets").fit(hist, 0)


def test_csv_roundtrip(tmp_path) -> None:
    p = tmp_path / "counts.csv"
    _toy(days=21).to_csv(p, index=False)
    assert read_counts_csv(p).shape == (21 * 48, 2)
