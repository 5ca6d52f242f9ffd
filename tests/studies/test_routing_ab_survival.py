"""routing-ab's time-to-resolution section: censoring handled, customer clusters, the world's truth."""

from __future__ import annotations

from studies.runner import run_study


def test_routing_ab_reports_rmst_and_p48_with_truth(world_db, tmp_path):
    rec = run_study("routing-ab", db=world_db, runs_dir=tmp_path, seed=4)
    assert rec.ok, rec.manifest.get("error")
    t = rec.output.tables["time_to_resolution"].set_index("effect")
    for effect in ("rmst_diff", "p_event_diff@48"):
        row = t.loc[effect]
        assert row["ci_low"] <= row["truth"] <= row["ci_high"], (effect, row.to_dict())
    assert t.loc["rmst_diff", "ci_high"] < 0  # routing v2 resolves sooner within 48 h
    assert t.loc["hazard_ratio", "estimate"] > 1
    assert "cluster bootstrap by customer_id" in rec.output.report_md
    assert (rec.path / "figures" / "time_to_resolution.png").exists()
    assert rec.output.results["time_to_resolution"]["inference"].startswith("cluster bootstrap")
