"""The world's truth arrivals: the expected counts per half hour, queue and channel that forecasts
are backtested against, checked against the realised contacts (Poisson given the customers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DesignError
from studies.world import SCHEMA, TRUTH_SCHEMA, WorldConfig, generate_world

CFG = WorldConfig(holiday_days=(40,), holiday_factor=0.5, scenarios=("incident", "volume_spike"))


@pytest.fixture(scope="module")
def world():
    return generate_world(seed=5, scale=0.04, config=CFG)


def _joined(world, by):
    ta = world.truth["truth_arrivals"]
    c = world.tables["contacts"].assign(interval_start=lambda f: f.created_at.dt.floor("30min"))
    obs = c.groupby(by).size().rename("observed")
    exp = ta.groupby(by)["expected"].sum()
    return pd.concat([exp, obs], axis=1).fillna(0.0)


def test_schema_and_default_world() -> None:
    w = generate_world(seed=1, scale=0.01)
    ta = w.truth["truth_arrivals"]
    assert list(ta.columns) == list(TRUTH_SCHEMA["truth_arrivals"])
    assert len(ta) == 90 * 48 * 5 * 4
    assert w.tables["holidays"].empty and list(w.tables["holidays"].columns) == list(SCHEMA["holidays"])
    # the expected total equals the sum of the customers' expected contacts: close to the realised
    n = len(w.tables["contacts"])
    assert abs(ta["expected"].sum() - n) < 5 * np.sqrt(n)


def test_counts_are_poisson_around_the_truth(world) -> None:
    j = _joined(world, ["interval_start", "queue"])
    z = (j["observed"] - j["expected"]) / np.sqrt(j["expected"])
    m = len(z)
    # standardised Poisson residuals: mean 0 (se 1/sqrt(m)) and variance 1
    assert abs(z.mean()) < 4 / np.sqrt(m)
    assert 0.9 < z.var() < 1.1
    # queue x channel totals within 5 Poisson sd
    qc = _joined(world, ["queue", "channel"])
    assert (np.abs(qc["observed"] - qc["expected"]) < 5 * np.sqrt(qc["expected"]) + 5).all()


def test_holiday_and_injected_days(world) -> None:
    ta = world.truth["truth_arrivals"]
    day = ta.groupby(ta.interval_start.dt.floor("D"))["expected"].sum().to_numpy()
    # the holiday halves the day against the same weekday one week before and after (up to trend, noise)
    ratio = day[40] / (0.5 * (day[33] + day[47]))
    assert 0.35 < ratio < 0.65
    assert day[CFG.volume_spike_day] > 1.8 * day[CFG.volume_spike_day - 7]
    access = ta[ta.queue == "access"].groupby(ta.interval_start.dt.floor("D"))["expected"].sum().to_numpy()
    assert access[CFG.incident_day] > 2.0 * access[CFG.incident_day - 7]
    h = world.tables["holidays"]
    assert h["date"].tolist() == [pd.Timestamp(CFG.window_start) + pd.Timedelta(days=40)]


def test_bad_holidays() -> None:
    with pytest.raises(DesignError, match="holiday_days"):
        WorldConfig(holiday_days=(90,))
    with pytest.raises(DesignError, match="holiday_factor"):
        WorldConfig(holiday_days=(3,), holiday_factor=0.0)
