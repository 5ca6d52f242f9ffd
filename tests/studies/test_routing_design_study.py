"""The routing-design study runs end to end on the shared-pool world (no warehouse)."""

from __future__ import annotations

import json

from studies.cli import main


def test_routing_design_runs_and_names_its_estimands(tmp_path):
    code = main(["run", "routing-design", "--set", "reps=3", "--set", "truth_reps=2",
                 "--set", "days=0.5", "--set", "agents_per_site=10", "--set", "occupancies=0.9",
                 "--runs-dir", str(tmp_path), "--quiet"])
    assert code == 0
    run = next((tmp_path / "routing-design").iterdir())
    res = json.loads((run / "results.json").read_text())
    assert res["recommended"] in {d["design"] for d in res["doctor"]["designs"]}
    note = (run / "preregistration.md").read_text()
    assert "**Primary metric:** wait_s" in note and "**MDE" in note
    assert (run / "figures" / "estimate_by_design.png").exists()
