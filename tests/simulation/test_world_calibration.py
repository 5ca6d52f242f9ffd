"""The calibrated simulator reproduces the synthetic world's observed abandonment and service level.

Calibration (``simulation.calibrate``) estimates handle times by queue and patience by
Kaplan-Meier from a week of the world's contacts; the simulator replays that week's arrivals with
the ``staffing`` table's agents. The world's ``wait_s`` of an answered contact also holds a
pre-queue routing delay (tens of seconds) that the queue model has no notion of, so the fair
comparisons are the abandonment rate (an abandoner's wait is its patience) and the service level
at a threshold long against that delay; at 20 s the data must look *worse* than the model.
"""

from __future__ import annotations

import pandas as pd
import pytest

from studies.catalog.staffing import calibration_check
from studies.warehouse import Warehouse

TOLERANCE = 0.02  # absolute, on rates, beyond the replication interval


@pytest.fixture(scope="module")
def check(world_db):
    wh = Warehouse(world_db)
    start = pd.Timestamp("2026-03-09")  # a Monday; day 1 is warm-up, then 7 measured days
    end = start + pd.Timedelta(days=8)
    contacts = wh.query(
        "SELECT created_at, queue, wait_s, abandoned, handle_s FROM contacts "
        "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, contact_id",
        [start.to_pydatetime(), end.to_pydatetime()])
    staffing = wh.query(
        "SELECT interval_start, queue, agents FROM staffing WHERE interval_start >= ? "
        "AND interval_start < ?", [start.to_pydatetime(), end.to_pydatetime()])
    return calibration_check(contacts, staffing, start, warmup_days=1, n_reps=6,
                             thresholds=(300.0, 20.0), tolerance=TOLERANCE, rng=2026)


def _row(check, queue, measure):
    return check[(check["queue"] == queue) & (check["measure"] == measure)].iloc[0]


@pytest.mark.parametrize("measure", ["abandon_rate", "sl_300s"])
def test_overall_measures_within_replication_interval(check, measure):
    r = _row(check, "all", measure)
    assert r["ci_low"] - TOLERANCE <= r["observed"] <= r["ci_high"] + TOLERANCE, r.to_dict()
    assert r["ci_high"] - r["ci_low"] < 0.1  # the interval is informative, not a blanket


def test_abandonment_per_queue(check):
    ab = check[(check["measure"] == "abandon_rate") & (check["queue"] != "all")]
    assert len(ab) == 5
    assert ab["agrees"].all(), ab


def test_short_threshold_exposes_the_routing_delay(check):
    # the observed wait includes a routing delay the simulator does not model: the data's service
    # level within 20 s is far below the simulated one (a real finding, not a tolerance miss)
    r = _row(check, "all", "sl_20s")
    assert r["observed"] < r["ci_low"] - 0.1


def test_check_is_deterministic(world_db, check):
    wh = Warehouse(world_db)
    start = pd.Timestamp("2026-03-09")
    end = start + pd.Timedelta(days=3)
    c = wh.query("SELECT created_at, queue, wait_s, abandoned, handle_s FROM contacts "
                 "WHERE created_at >= ? AND created_at < ? ORDER BY created_at, contact_id",
                 [start.to_pydatetime(), end.to_pydatetime()])
    s = wh.query("SELECT interval_start, queue, agents FROM staffing WHERE interval_start >= ? "
                 "AND interval_start < ?", [start.to_pydatetime(), end.to_pydatetime()])
    a = calibration_check(c, s, start, n_reps=2, rng=4)
    b = calibration_check(c, s, start, n_reps=2, rng=4)
    pd.testing.assert_frame_equal(a, b)
