"""The help-bot study end to end on the small world warehouse (runner API)."""

from __future__ import annotations

import json

from studies.runner import run_study


def test_help_bot_study_runs_and_recovers_truth(world_db, tmp_path):
    rec = run_study("help-bot", db=world_db, runs_dir=tmp_path, seed=1,
                    params={"refute_simulations": 3, "max_rows": 20000})
    assert rec.status == "success", rec.path
    res = json.loads((rec.path / "results.json").read_text())
    truth = res["truth_ate"]
    ests = {e["method"]: e for e in res["observational"]["estimates"]}
    aipw = ests["AIPW (doubly robust)"]
    assert aipw["ci_low"] <= truth <= aipw["ci_high"]
    naive = ests["naive difference in means"]
    assert not naive["ci_low"] <= truth <= naive["ci_high"]
    assert res["cate_rank_correlation"] >= 0.7
    report = (rec.path / "report.md").read_text()
    assert "Which contacts should be offered the bot?" in report
    assert "Robustness value" in report
    assert (rec.path / "figures").exists()
