"""The assist-rollout study end to end on the small world warehouse (runner API)."""

from __future__ import annotations

import json

from studies.runner import run_study


def test_assist_rollout_study(world_db, tmp_path):
    rec = run_study("assist-rollout", db=world_db, runs_dir=tmp_path, seed=1,
                    params={"n_boot": 49})
    assert rec.status == "success", rec.path
    res = json.loads((rec.path / "results.json").read_text())
    truth = res["truth_att"]
    att = res["staggered"]["att"]
    assert att["ci_low"] <= truth <= att["ci_high"]
    assert abs(res["staggered"]["twfe"]["estimate"]) < abs(truth)
    sc = res["synthetic_control"]
    assert abs(sum(sc["weights"].values()) - 1) < 1e-6
    assert sc["pre_rmspe"] > 0 and sc["p_value"] is not None
    assert "Pre-trend test" in (rec.path / "report.md").read_text()
