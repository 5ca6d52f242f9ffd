"""resolution-time's frequentist comparison (censored log-normal AFT and KM medians by queue)."""

from __future__ import annotations

import duckdb

from studies.catalog.resolution_time import _SQL, _TRUTH_SQL, frequentist_by_queue


def test_frequentist_by_queue_covers_the_truth(world_db):
    con = duckdb.connect(str(world_db), read_only=True)
    frame = con.execute(_SQL.format(contacts="contacts", customers="customers",
                                    assignments="experiment_assignments")).df()
    # tau only enters the RMST column, which this test does not read
    truth = con.execute(_TRUTH_SQL, {"tau": 48 * 3600.0}).df().set_index("queue")
    con.close()
    t = frequentist_by_queue(frame).set_index("group")
    assert set(t.index) == set(truth.index)
    covered = [(r.aft_low <= truth.loc[q, "true_log_ratio"] <= r.aft_high) for q, r in t.iterrows()]
    assert sum(covered) >= len(covered) - 1  # each 95% interval covers with probability 0.95
    assert (t["aft_log_ratio"] < 0).sum() >= len(t) - 1  # routing v2 resolves faster
    assert (t["km_median_ratio"] < 1.05).all()
