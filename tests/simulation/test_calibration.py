"""Calibration from contacts: arrival rates, handle times, Kaplan-Meier patience."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError
from simulation.calibration import (
    arrival_rates,
    calibrate,
    fit_handle_times,
    fit_patience,
    kaplan_meier,
)

matplotlib.use("Agg")

START = pd.Timestamp("2026-01-05")
RATES = {"account_access": 40.0, "billing_ads": 10.0}  # arrivals per 30 min
HANDLE = {"account_access": (5.5, 0.6), "billing_ads": (6.0, 0.4)}  # lognormal mu, sigma
PATIENCE_S = 120.0


def _contacts(seed: int, days: int = 2) -> pd.DataFrame:
    """Synthetic contacts with known rates, handle-time and patience parameters."""
    rng = np.random.default_rng(seed)
    n_int = days * 48
    frames = []
    for q, rate in RATES.items():
        counts = rng.poisson(rate, n_int)
        slot = np.repeat(np.arange(n_int), counts)
        created = START + pd.to_timedelta((slot + rng.random(slot.size)) * 1800, unit="s")
        patience = rng.exponential(PATIENCE_S, slot.size)
        offered = rng.exponential(60.0, slot.size)  # the wait an infinitely patient one would have
        abandoned = patience < offered
        mu, sigma = HANDLE[q]
        handle = np.where(abandoned, np.nan, rng.lognormal(mu, sigma, slot.size))
        frames.append(
            pd.DataFrame(
                {
                    "created_at": created,
                    "queue": q,
                    "wait_s": np.minimum(patience, offered),
                    "abandoned": abandoned,
                    "handle_s": handle,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values("created_at", ignore_index=True)


# -- arrivals -----------------------------------------------------------------------------------
def test_arrival_rates_recover_known_rates_and_zero_fill():
    c = _contacts(0, days=4)
    r = arrival_rates(c, start=START, end=START + pd.Timedelta(days=4))
    assert len(r) == 4 * 48 * 2
    for q, rate in RATES.items():
        x = r.loc[r["queue"] == q, "arrivals"].to_numpy()
        se = np.sqrt(rate / x.size)
        assert abs(x.mean() - rate) < 4 * se
        assert r.loc[r["queue"] == q, "arrivals_per_hour"].mean() == pytest.approx(2 * x.mean())
    assert r["arrivals"].sum() == len(c)
    # an empty interval in the middle appears with 0 arrivals
    gap = c[(c["created_at"] < START + pd.Timedelta(hours=1)) | (c["created_at"] >= START + pd.Timedelta(hours=2))]
    r2 = arrival_rates(gap, by_queue=False)
    assert r2.loc[r2["interval_start"] == START + pd.Timedelta(hours=1), "arrivals"].item() == 0


def test_arrival_rates_bad_input():
    with pytest.raises(DataError, match="created_at"):
        arrival_rates(pd.DataFrame({"queue": ["a"]}))
    with pytest.raises(DataError, match="created_at"):
        arrival_rates(pd.DataFrame({"created_at": ["not a date"], "queue": ["a"]}))
    with pytest.raises(DataError, match="empty"):
        arrival_rates(pd.DataFrame({"created_at": [], "queue": []}))


# -- handle times -------------------------------------------------------------------------------
def test_handle_times_recover_lognormal_parameters():
    c = _contacts(1, days=4)
    fits = fit_handle_times(c)
    assert set(fits) == set(HANDLE)
    for q, (mu, sigma) in HANDLE.items():
        f = fits[q]
        se_mu = sigma / np.sqrt(f.n)
        assert abs(f.lognormal_mu - mu) < 4 * se_mu
        assert abs(f.lognormal_sigma - sigma) < 4 * sigma / np.sqrt(2 * f.n)
        assert f.ks_statistic < 0.05
        draws = f.sample(np.random.default_rng(0), 20_000)
        assert draws.mean() == pytest.approx(np.exp(mu + sigma**2 / 2), rel=0.05)
    emp = fits["billing_ads"]
    emp_fit = type(emp)(**{**emp.__dict__, "method": "empirical"})
    x = emp_fit.sample(np.random.default_rng(0), 1000)
    assert np.isin(x, emp._values).all()
    assert emp_fit.mean == pytest.approx(emp.mean_s)


def test_handle_times_bad_input():
    c = _contacts(2)
    bad = c.copy()
    bad.loc[bad.index[~bad["abandoned"]][0], "handle_s"] = np.nan
    with pytest.raises(DataError, match="handle_s"):
        fit_handle_times(bad)
    with pytest.raises(DataError, match="handle_s"):
        fit_handle_times(c.drop(columns="handle_s"))


# -- Kaplan-Meier -------------------------------------------------------------------------------
def test_kaplan_meier_by_hand():
    # times 1e 2e 2c 3e 4c: S(1)=4/5, S(2)=4/5*3/4, S(3)=0.6*1/2
    km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    assert km.table["at_risk"].tolist() == [5, 4, 2]
    assert km.survival_at([0, 1, 2, 2.5, 3, 10]).tolist() == pytest.approx([1.0, 0.8, 0.6, 0.6, 0.3, 0.3])
    # Greenwood at t=2: S^2 (1/(5*4) + 1/(4*3))
    assert km.table["se"].iloc[1] == pytest.approx(0.6 * np.sqrt(1 / 20 + 1 / 12))
    assert km.median == 3.0
    assert km.restricted_mean(4.0) == pytest.approx(1 + 0.8 + 0.6 + 0.3)


def test_kaplan_meier_without_censoring_is_the_empirical_survival():
    x = np.random.default_rng(3).exponential(10, 200)
    km = kaplan_meier(x, np.ones_like(x, dtype=bool))
    grid = np.quantile(x, [0.1, 0.5, 0.9])
    assert km.survival_at(grid) == pytest.approx([(x > g).mean() for g in grid])


def test_kaplan_meier_interval_coverage_over_replications():
    rng = np.random.default_rng(11)
    t0, truth = 60.0, np.exp(-60.0 / PATIENCE_S)
    hits = []
    for _ in range(200):
        pat, off = rng.exponential(PATIENCE_S, 300), rng.exponential(60.0, 300)
        lo, hi = kaplan_meier(np.minimum(pat, off), pat < off).ci_at(t0)
        hits.append(lo <= truth <= hi)
    assert 0.91 <= np.mean(hits) <= 0.99


def test_kaplan_meier_bad_input():
    with pytest.raises(DataError, match="non-negative"):
        kaplan_meier([1, -2], [1, 1])
    with pytest.raises(DataError, match="same length"):
        kaplan_meier([1, 2], [1])
    with pytest.raises(DataError, match="at least one"):
        kaplan_meier([], [])


# -- patience -----------------------------------------------------------------------------------
def test_patience_recovers_truth_where_the_naive_mean_fails():
    c = _contacts(4, days=4)
    fit = fit_patience(c)["all"]
    lo, hi = fit.exponential_mean_ci
    assert lo <= PATIENCE_S <= hi
    t = np.array([30.0, 60.0, 120.0])
    assert fit.km.survival_at(t) == pytest.approx(np.exp(-t / PATIENCE_S), abs=0.03)
    assert fit.km_median_s == pytest.approx(PATIENCE_S * np.log(2), rel=0.1)
    # ignoring censoring (mean wait of abandoners) is badly biased
    assert fit.naive_mean_abandoner_wait_s < 0.5 * PATIENCE_S
    # sampling from the fitted distribution (KM + exponential tail) reproduces it
    draws = fit.sample(np.random.default_rng(0), 50_000)
    assert draws.mean() == pytest.approx(fit.mean, rel=0.03)
    assert fit.mean == pytest.approx(PATIENCE_S, rel=0.1)
    assert (draws > 60).mean() == pytest.approx(np.exp(-0.5), abs=0.02)


def test_exponential_patience_interval_coverage_vectorised():
    rng = np.random.default_rng(7)
    reps, n = 4000, 400
    pat, off = rng.exponential(PATIENCE_S, (reps, n)), rng.exponential(60.0, (reps, n))
    d = (pat < off).sum(axis=1)
    exposure = np.minimum(pat, off).sum(axis=1)
    # the same interval as fit_patience: log(mean) +- 1.96 / sqrt(d)
    log_mean = np.log(exposure / d)
    half = 1.959964 / np.sqrt(d)
    cover = (log_mean - half <= np.log(PATIENCE_S)) & (np.log(PATIENCE_S) <= log_mean + half)
    assert 0.935 <= cover.mean() <= 0.965
    # and fit_patience computes exactly that interval for one replication
    one = pd.DataFrame({"wait_s": np.minimum(pat[0], off[0]), "abandoned": pat[0] < off[0]})
    lo, hi = fit_patience(one)["all"].exponential_mean_ci
    assert (np.log(lo), np.log(hi)) == pytest.approx((log_mean[0] - half[0], log_mean[0] + half[0]))


def test_patience_bad_input():
    c = _contacts(5)
    with pytest.raises(DataError, match="wait_s"):
        fit_patience(c.assign(wait_s=-1.0))
    with pytest.raises(DataError, match="no abandonments"):
        fit_patience(c.assign(abandoned=False))
    with pytest.raises(DataError, match="abandoned"):
        fit_patience(c.drop(columns="abandoned"))


def test_sampling_is_deterministic():
    fit = fit_patience(_contacts(6))["all"]
    a = fit.sample(np.random.default_rng(9), 100)
    b = fit.sample(np.random.default_rng(9), 100)
    assert np.array_equal(a, b)


# -- everything ---------------------------------------------------------------------------------
def test_calibrate_end_to_end():
    c = _contacts(8)
    cal = calibrate(c)
    assert set(cal.handle_times) == set(RATES)
    assert set(cal.patience) == set(RATES)
    obs = cal.observed.set_index("queue")
    q = "account_access"
    sub = c[c["queue"] == q]
    met = (~sub["abandoned"]) & (sub["wait_s"] <= 20)
    assert obs.loc[q, "service_level"] == pytest.approx(met.mean())
    assert obs.loc[q, "p_abandon"] == pytest.approx(sub["abandoned"].mean())
    json.dumps(cal.to_dict())
    f = cal.forecast(q)
    assert sum(f.volumes) == len(sub)
    assert f.interval_s == 1800.0
    with pytest.raises(DataError, match="queue"):
        cal.forecast("nope")
    s = cal.summary()
    assert "account_access" in str(s)
    assert cal.plot() is not None
    assert fit_patience(c)["all"].km.plot() is not None


def test_patience_on_the_synthetic_world_matches_its_truth():
    """The world draws patience as lognormal(median by channel x 1.5 for priority 1, sigma);
    Kaplan-Meier per channel x priority (where censoring is not informative) recovers it."""
    from scipy import stats

    from studies.world.generate import generate_world

    world = generate_world(seed=0, scale=0.02)
    cfg = world.config
    c = world.tables["contacts"]
    c = c.assign(queue=c["channel"].astype(str) + "/p" + c["priority"].astype(str))
    fits = fit_patience(c, by_queue=True)
    covered, errors = [], []
    for key, fit in fits.items():
        if fit.n_abandoned < 50:
            continue
        channel, priority = key.split("/p")
        median = cfg.patience_median_s[channel] * (1.5 if priority == "1" else 1.0)
        for t in (0.5 * median, median):
            truth = stats.norm.sf(np.log(t / median) / cfg.patience_sigma)
            lo, hi = fit.km.ci_at(t)
            covered.append(lo <= truth <= hi)
            errors.append(abs(fit.km.survival_at(t) - truth))
        # ignoring censoring is far off: abandoners' waits are much shorter than patience
        assert fit.naive_mean_abandoner_wait_s < 0.9 * fit.km.restricted_mean(4 * median)
    assert len(covered) >= 16
    assert np.mean(covered) >= 0.8
    assert np.mean(errors) < 0.05
