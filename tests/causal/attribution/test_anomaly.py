"""Anomaly detection: the injected incident on the right day and segment, false alarms per 90 days,
interval series with two seasonalities, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.attribution import AnomalyDetector
from servicelab.errors import DataError, DesignError

WEEKLY = np.array([1.10, 1.05, 1.00, 1.00, 0.95, 0.75, 0.70])
SEGMENTS = ("access", "appeal", "safety", "billing", "verify", "other")
BASE = np.array([260.0, 150.0, 140.0, 60.0, 120.0, 230.0])  # contacts per day and segment


def _daily(rng: np.random.Generator, incident: tuple[int, int] | None, days: int = 90) -> pd.DataFrame:
    """Poisson counts of a world-like process: weekly profile, trend, 6% day noise shared by all."""
    day = np.arange(days)
    common = np.exp(0.06 * rng.standard_normal(days)) * WEEKLY[day % 7] * (1 + 0.1 * day / days)
    rows = []
    for j, seg in enumerate(SEGMENTS):
        lam = BASE[j] * common
        if incident and incident[1] == j:
            lam = lam.copy()
            lam[incident[0]] *= 3.0
        rows.append(pd.DataFrame({"day": pd.Timestamp("2026-01-05") + pd.to_timedelta(day, "D"),
                                  "segment": seg, "contacts": rng.poisson(lam)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_finds_the_incident_on_its_day_with_at_most_one_false_alarm_per_90_days() -> None:
    """Measured target: the injected incident (x3 volume in one segment on one day) is flagged on
    the right day and segment, with at most 1 false alarm per 90 days. Measured on 150
    replications: 150 found, 0.22 false alarms per 90 days; one miss in 30 is allowed so that the
    test holds for any seed."""
    rng = np.random.default_rng()  # any seed
    reps = 30
    found, false_alarms = 0, 0
    for _ in range(reps):
        day, seg = int(rng.integers(5, 85)), int(rng.integers(0, len(SEGMENTS)))
        r = AnomalyDetector("contacts", "day", segment="segment").fit(_daily(rng, (day, seg)))
        f = r.flags
        hit = (f["segment"] == SEGMENTS[seg]) & (f["day"] == pd.Timestamp("2026-01-05") + pd.Timedelta(days=day))
        found += bool(hit.any())
        false_alarms += int((~hit).sum())
        if hit.any():
            assert (f.loc[hit, "scope"] == "local").all()
    assert found >= reps - 1
    assert false_alarms / reps <= 1.0, false_alarms


def test_a_global_spike_is_flagged_in_every_segment() -> None:
    f = _daily(np.random.default_rng(3), None)
    f.loc[f["day"] == pd.Timestamp("2026-02-14"), "contacts"] *= 2
    r = AnomalyDetector("contacts", "day", segment="segment").fit(f)
    spike = r.flags[r.flags["day"] == pd.Timestamp("2026-02-14")]
    assert len(spike) == len(SEGMENTS)
    assert (spike["scope"] == "global").all()
    assert r.summary().to_markdown().startswith("### Anomalies")
    assert r.plot().get_ylabel() == "contacts"


def test_interval_series_with_daily_and_weekly_seasons() -> None:
    rng = np.random.default_rng(4)
    n = 48 * 28
    t = pd.date_range("2026-01-05", periods=n, freq="30min")
    hour = t.hour.to_numpy() + t.minute.to_numpy() / 60
    lam = 40 * (1 + 0.8 * np.sin(np.pi * hour / 24) ** 2) * WEEKLY[t.dayofweek.to_numpy()]
    lam[700] *= 3
    r = AnomalyDetector("y", "t", periods=(48, 336)).fit(pd.DataFrame({"t": t, "y": rng.poisson(lam)}))
    assert r.flags["t"].iloc[0] == t[700]
    assert len(r.flags) <= 3


def test_bad_input() -> None:
    f = _daily(np.random.default_rng(5), None)
    with pytest.raises(DataError, match="at least two cycles"):
        AnomalyDetector("contacts", "day", segment="segment").fit(f[f["day"] < pd.Timestamp("2026-01-18")])
    with pytest.raises(DataError, match="not regular"):
        AnomalyDetector("contacts", "day", segment="segment").fit(f.drop(index=[3]))
    g = f.astype({"contacts": float})
    g.loc[0, "contacts"] = np.nan
    with pytest.raises(DataError, match="series value contacts: 1 NULL"):
        AnomalyDetector("contacts", "day", segment="segment").fit(g)
    with pytest.raises(DataError, match="values <= 0"):
        AnomalyDetector("contacts", "day", segment="segment", transform="log").fit(f.assign(contacts=0))
    with pytest.raises(DataError, match="no residual variation"):
        AnomalyDetector("contacts", "day", segment="segment", transform="none").fit(f.assign(contacts=5))
    with pytest.raises(DesignError, match="periods"):
        AnomalyDetector("contacts", "day", periods=(1,)).fit(f)
