"""The ``resolution-time`` study on the small synthetic world (the ``world_db`` fixture)."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pytest

from servicelab import ConvergenceError
from studies.runner import run_study


def test_resolution_time_study_gate_failure_then_truth(world_db, tmp_path):
    # too few draws: the convergence gate fails and the run fails with a clear message
    with pytest.raises(ConvergenceError, match="allow_unconverged=True"):
        run_study("resolution-time", db=world_db, runs_dir=tmp_path, seed=1,
                  params={"draws": 30, "tune": 30})
    failed = list((tmp_path / "resolution-time").glob("*.failed"))
    assert len(failed) == 1 and (failed[0] / "error.txt").exists()

    # explicitly allowed (short chains keep the test cheap): numbers next to the world's truth
    rec = run_study("resolution-time", db=world_db, runs_dir=tmp_path, seed=1,
                    params={"draws": 250, "tune": 250, "allow_unconverged": True})
    assert rec.status == "success", rec.manifest.get("error")
    res = json.loads((rec.path / "results.json").read_text())
    truth = res["truth"]["log_ratio"]
    effects = rec.output.tables["effects"]
    assert effects["tau_covers_truth"].mean() >= 0.8  # per-queue 95% intervals vs the truth
    model = rec.output.tables["comparison"].set_index("analysis")["log_ratio"]
    naive = model["drop open tickets (naive)"]
    assert abs(model["censored hierarchical model"] - truth) < abs(naive - truth)
    rel = res["relative_effect"]
    assert rel["ci_low"] <= np.expm1(truth) <= rel["ci_high"]
    post = az.from_netcdf(rec.path / "posterior.nc")
    assert "tau" in post.posterior
    for fig in ("shrinkage", "ppc", "prior_predictive"):
        assert (rec.path / "figures" / f"{fig}.png").exists()

    # Regression (issue 9): effects are on supported scales only, each next to the truth on the
    # same scale; no mean difference in seconds (it used to be 2-4x off the truth, unflagged)
    scales = rec.output.tables["scales"]
    assert scales["quantity"].iloc[0].startswith("RMST difference up to tau")
    assert scales["truth"].notna().all()
    assert "ate_mean" not in effects and "ate_s" not in rec.output.tables["comparison"]
    horizon = res["rmst_horizon_s"]
    assert horizon <= res["model"]["follow_up"]["max_time_s"]
    # the world's resolution times are a mixture (quick fixes and multi-day cases), which one
    # lognormal does not fit; the checks computed without the truth say so, loudly
    status = {d.name: d.status for d in rec.output.diagnostics}
    assert status["km_agreement"] == "warning"
    assert "ppc_coverage" in status
    report = (rec.path / "report.md").read_text()
    assert "MODEL MISFIT" in rec.output.headline and "km_agreement" in report
    assert "The plain mean is not reported" in report


def test_nutpie_without_nutpie_is_refused_before_any_data_is_read(tmp_path, monkeypatch):
    """It failed after loading the contacts and building the model, leaving a .failed folder."""
    import importlib.util

    from studies.runner.spec import ParameterError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nutpie" else real(name, *a))
    with pytest.raises(ParameterError, match=r"'backend' must be 'pymc', or 'nutpie' once the optional nutpie"):
        run_study("resolution-time", db=tmp_path / "no-such.duckdb", runs_dir=tmp_path / "runs",
                  params={"backend": "nutpie"})
    assert not (tmp_path / "runs").exists()
