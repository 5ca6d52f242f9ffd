"""Risk-based staffing from forecast sample paths (simulation.risk_staffing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError
from servicelab.random import child_seeds
from simulation import ArrivalForecaster, PlanSimulator, ServiceLevel, interval_requirements, risk_staffing
from simulation.staffing import _replicate_many


def _paths(n_paths, sigma, rng, level=40.0, n_int=4):
    # day-level uncertainty (one lognormal factor per path, mean 1) times a flat profile
    # normalised to a sample mean of exactly ``level``, so that the roster at the mean is the same
    # whatever sigma: only the spread differs
    f = np.exp(sigma * rng.standard_normal((n_paths, 1)))
    return level * f / f.mean() * np.ones((n_paths, n_int))


def _p_meet(paths, roster, rng, target=0.8):
    sims = [PlanSimulator(tuple(p), aht_s=300.0, patience_s=300.0, service_level=ServiceLevel(20)) for p in paths]
    sl = _replicate_many(sims, np.asarray(roster), child_seeds(rng, len(sims)), ("service_level",))["service_level"]
    return np.nanmean(np.where(np.isnan(sl), np.nan, sl >= target - 1e-12), axis=0)


def test_risk_roster_meets_the_risk_target_and_is_tight():
    paths = _paths(25, 0.15, np.random.default_rng(3), n_int=3)
    r = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.8, rng=7)
    assert (r.table["p_meet"] >= 0.8).all()
    # re-simulated independently with the same replication seeds: the same probabilities
    assert np.allclose(_p_meet(paths, r.required, 7), r.table["p_meet"])
    # not padded: one agent fewer in every interval breaks the target somewhere (the search is
    # greedy and intervals interact, since a contact arriving near an interval's end is answered in
    # the next, so a single interval may keep an agent it could give up)
    assert (_p_meet(paths, r.required - 1, 7) < 0.8).any()
    # the Erlang roster at the mean forecast is what it says
    at_mean = interval_requirements(pd.DataFrame({"arrivals": paths.mean(axis=0)}), aht_s=300, patience_s=300)
    assert np.array_equal(r.table["erlang_at_mean"], at_mean.required)
    assert np.allclose(_p_meet(paths, at_mean.required, 7), r.table["p_meet_at_mean"])


def test_forecast_uncertainty_costs_agent_hours_and_a_higher_risk_target_costs_more():
    narrow = risk_staffing(_paths(25, 0.02, np.random.default_rng(11), n_int=2), aht_s=300, patience_s=300,
                           risk_target=0.8, rng=1)
    wide = risk_staffing(_paths(25, 0.35, np.random.default_rng(11), n_int=2), aht_s=300, patience_s=300,
                         risk_target=0.8, rng=1)
    assert np.array_equal(wide.table["erlang_at_mean"], narrow.table["erlang_at_mean"])
    assert wide.uncertainty_cost_agent_hours > narrow.uncertainty_cost_agent_hours
    assert wide.diagnostics and wide.diagnostics[0].status == "warning"
    paths = _paths(25, 0.2, np.random.default_rng(12), n_int=2)
    lo = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.4, rng=2)
    hi = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.8, rng=2)
    assert hi.agent_hours() > lo.agent_hours()
    assert (hi.table["p_meet"] >= 0.8).all() and (lo.table["p_meet"] >= 0.4).all()


def test_shrinkage_and_occupancy_cap_carry_through():
    paths = _paths(25, 0.1, np.random.default_rng(5), n_int=2)
    r = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.8, rng=1, shrinkage=0.3,
                      max_occupancy=0.7)
    assert np.array_equal(r.scheduled, np.ceil(r.required / 0.7 - 1e-9).astype(int))
    assert np.array_equal(r.table["scheduled_at_mean"], np.ceil(r.table["erlang_at_mean"] / 0.7 - 1e-9).astype(int))
    d = r.to_dict()
    assert d["shrinkage"] == 0.3 and d["max_occupancy"] == 0.7
    assert d["uncertainty_cost_agent_hours"] == pytest.approx(r.agent_hours() - r.agent_hours("scheduled_at_mean"))


@pytest.mark.parametrize("make", [lambda: 4, lambda: np.random.default_rng(4)], ids=["int", "Generator"])
def test_same_seed_same_roster(make):
    paths = _paths(25, 0.2, np.random.default_rng(0), n_int=2)
    rng = make()
    a = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.75, rng=rng)
    b = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.75, rng=rng)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_staffs_an_arrival_forecast_from_its_sample_paths():
    idx = pd.date_range("2026-01-05", periods=28 * 24, freq="60min")
    lam = 12 + 8 * np.sin(np.arange(idx.size) / 24 * np.pi) ** 2
    hist = pd.DataFrame({"interval_start": idx, "queue": "q",
                         "arrivals": np.random.default_rng(0).poisson(lam)})
    fc = ArrivalForecaster(model="seasonal_naive", n_paths=25, interval_minutes=60).fit(hist, horizon_days=1, rng=1)
    r = risk_staffing(fc, aht_s=300, patience_s=300, interval_minutes=60, risk_target=0.8, rng=3)
    assert len(r.table) == 24 and r.n_paths == 25
    assert np.allclose(r.table["mean_volume"], fc.path_volumes("total").mean(axis=0))
    assert (r.table["p_meet"] >= 0.8).all()
    assert r.summary().info["sample paths"] == 25


def test_bad_input():
    paths = _paths(50, 0.1, np.random.default_rng(1))
    with pytest.raises(DesignError, match="unreachable"):
        risk_staffing(paths, aht_s=300, risk_target=1.0)
    with pytest.raises(DesignError, match="draw at least 100 paths"):
        risk_staffing(paths[:20], aht_s=300, risk_target=0.95)
    with pytest.raises(DataError, match="non-negative"):
        risk_staffing(-paths, aht_s=300)
    with pytest.raises(DataError, match="2-d"):
        risk_staffing(paths[0], aht_s=300)
    with pytest.raises(DesignError, match="shrinkage"):
        risk_staffing(paths, aht_s=300, shrinkage=1.0)
    with pytest.raises(DesignError, match="max_occupancy"):
        risk_staffing(paths, aht_s=300, max_occupancy=1.5)
    with pytest.raises(DesignError, match="risk_target"):
        risk_staffing(paths, aht_s=300, risk_target=0.0)
