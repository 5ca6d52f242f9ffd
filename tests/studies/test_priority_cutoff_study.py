"""The priority-cutoff study end to end, and the world's discontinuity it relies on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from studies.runner import run_study
from studies.world import WorldConfig, generate_world


def test_priority_cutoff_study_covers_the_truth(world_db, tmp_path):
    rec = run_study("priority-cutoff", db=world_db, runs_dir=tmp_path, seed=1)
    assert rec.status == "success", rec.path
    res = json.loads((rec.path / "results.json").read_text())
    truth = res["truth"]
    est = res["rd"]["estimate"]
    assert est["ci_low"] <= truth <= est["ci_high"], (est, truth)
    assert est["ci_high"] < 0  # the lane is faster
    assert res["off_rule"] == 0
    assert res["rd"]["density"]["p"] > 0.001  # no manipulation in the world
    balance = pd.DataFrame(res["rd"]["balance"])
    assert set(balance.covariate) == {"log_account_age", "pre_contacts", "premium_tier", "safety_report"}
    placebo = pd.DataFrame(res["placebo"])
    assert len(placebo) >= 2
    report = (rec.path / "report.md").read_text()
    assert "Manipulation test" in report and "Truth" in report


def test_world_priority_lane_is_a_clean_sharp_discontinuity():
    w = generate_world(seed=2, scale=0.02)
    pr, tp = w.tables["priority_reviews"], w.truth["truth_priority"]
    c = w.tables["contacts"]
    assert len(pr) == int((~c.abandoned).sum())  # one row per answered contact
    assert (pr.priority_lane == (pr.priority_score >= 70)).all()
    assert w.meta["priority_cutoff"] == "70.0"
    np.testing.assert_array_equal(pr.followup_h, np.where(pr.priority_lane, tp.followup_h__1, tp.followup_h__0))
    truth = w.effect("priority_lane", "followup_h", "ATE", "cutoff", "70")
    # the analytic truth agrees with the potential outcomes near the cutoff
    near = (pr.priority_score - 70).abs() < 1.5
    diff = (tp.followup_h__1 - tp.followup_h__0)[near.to_numpy()]
    assert abs(diff.mean() - truth) < 4 * diff.std() / np.sqrt(len(diff))


def test_priority_knobs_leave_every_other_table_unchanged():
    a = generate_world(seed=4, scale=0.01)
    b = generate_world(seed=4, scale=0.01, config=WorldConfig(priority_lane_effect=-1.0, priority_cutoff=60.0))
    for name in a.tables:
        if name in ("priority_reviews", "world_meta"):
            continue
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.truth["truth_contacts"], b.truth["truth_contacts"])
    assert (b.tables["priority_reviews"].priority_lane.mean() > a.tables["priority_reviews"].priority_lane.mean())


def test_routing_horizon_truth_rows():
    w = generate_world(seed=4, scale=0.01)
    rmst = w.effect("routing_v2", "resolution_rmst_48h_s")
    p48 = w.effect("routing_v2", "resolved_48h")
    assert rmst < 0 < p48  # routing v2 resolves sooner
    with pytest.raises(Exception, match="priority_cutoff"):
        WorldConfig(priority_cutoff=120.0)
