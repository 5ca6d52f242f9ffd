"""The flagship ``routing-ab`` study on the synthetic world: truth, reproducibility, the unit of analysis."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from studies.runner import run_study


@pytest.fixture(scope="module")
def first_run(world_db: Path, tmp_path_factory: pytest.TempPathFactory):
    return run_study("routing-ab", db=world_db, runs_dir=tmp_path_factory.mktemp("runs"), seed=4)


def test_estimates_cover_the_worlds_truth(first_run) -> None:
    assert first_run.ok, first_run.manifest.get("error")
    overall = first_run.output.tables["overall"].set_index("metric")
    # the primary effect is detected and its interval covers the true ATE
    h = overall.loc["handle_s"]
    assert h["ci_low"] <= h["truth"] <= h["ci_high"]
    assert h["ci_high"] < 0 and h["significant"]
    # every metric with a truth row has one; most intervals cover (each covers with prob. 0.95)
    with_truth = overall[overall["truth"].notna()]
    assert set(with_truth.index) == {"handle_s", "wait_s", "fcr", "csat", "reopened"}
    assert with_truth["covers_truth"].sum() >= 4
    assert "true effect" in first_run.headline


def test_checks_are_reported(first_run) -> None:
    names = {d.name for d in first_run.output.diagnostics}
    assert "srm" in names and "balance" in names
    srm = next(d for d in first_run.output.diagnostics if d.name == "srm")
    assert srm.status == "ok"
    assert "Decision" in first_run.output.report_md


def test_cuped_reduces_the_handle_time_interval(first_run, world_db: Path, tmp_path: Path) -> None:
    plain = run_study("routing-ab", db=world_db, runs_dir=tmp_path, seed=4, params={"cuped": "false"})
    width = lambda rec: float(np.diff(rec.output.tables["overall"].set_index("metric").loc[
        "handle_s", ["ci_low", "ci_high"]].to_numpy(dtype=float))[0])
    assert width(first_run) < 0.95 * width(plain)
    # balance is still checked without CUPED
    bal = next(d for d in plain.output.diagnostics if d.name == "balance")
    assert bal.status == "ok" and "NOT CHECKED" not in bal.message


def test_same_seed_same_results(first_run, world_db: Path, tmp_path: Path) -> None:
    again = run_study("routing-ab", db=world_db, runs_dir=tmp_path, seed=4)
    a = json.loads((first_run.path / "results.json").read_text())
    b = json.loads((again.path / "results.json").read_text())
    assert a == b
    assert first_run.manifest["data"]["fingerprint"] == again.manifest["data"]["fingerprint"]


def test_ticket_level_analysis_is_too_narrow(world_db: Path) -> None:
    """Treating tickets as independent understates the SE of handle time under customer randomisation."""
    con = duckdb.connect(str(world_db), read_only=True)
    tickets = con.execute(
        """
        SELECT a.variant, c.customer_id, c.handle_s FROM contacts c
        JOIN experiment_assignments a USING (customer_id)
        JOIN experiments e ON e.experiment = a.experiment
        WHERE NOT c.abandoned AND c.created_at >= e.start_at
        """
    ).df()
    con.close()
    from causal.experiments import Experiment, Mean, RatioOfMeans

    naive = Experiment(h=Mean("handle_s")).analyze(tickets)
    per_customer = tickets.groupby(["customer_id", "variant"], as_index=False).agg(
        handle_s_sum=("handle_s", "sum"), answered=("handle_s", "size")
    )
    delta = Experiment(h=RatioOfMeans("handle_s_sum", "answered")).analyze(per_customer)
    se_naive = float(naive.table.loc[0, "se"])
    se_delta = float(delta.table.loc[0, "se"])
    # same point estimate, wider (honest) interval at the randomisation unit
    assert naive.table.loc[0, "effect"] == pytest.approx(delta.table.loc[0, "effect"], rel=1e-9)
    assert se_delta > 1.05 * se_naive


def test_guardrail_margins_are_absolute(first_run) -> None:
    """Reopen may rise by at most one percentage point, CSAT fall by at most 0.1 points."""
    overall = first_run.output.tables["overall"].set_index("metric")
    assert overall.loc["reopened", "ni_margin_abs"] == pytest.approx(0.01)
    assert overall.loc["csat", "ni_margin_abs"] == pytest.approx(0.1)
    assert "1 percentage point" in first_run.output.report_md
    assert "0.1 points" in first_run.output.report_md


def test_injected_sample_ratio_mismatch_fails_the_run(tmp_path: Path) -> None:
    """A world whose log loses 20 % of treatment assignments must not produce a decision."""
    from studies.warehouse import build_warehouse
    from studies.world import WorldConfig

    db = tmp_path / "srm.duckdb"
    build_warehouse(db, seed=5, scale=0.02, force=True, config=WorldConfig(srm_bias=0.2))
    rec = run_study("routing-ab", db=db, runs_dir=tmp_path / "runs", seed=4,
                    params={"segment": ""})
    assert not rec.ok and rec.manifest["status"] == "failed"
    assert rec.path.name.endswith(".failed")
    srm = next(d for d in rec.output.diagnostics if d.name == "srm")
    assert srm.status == "fail" and "SAMPLE RATIO MISMATCH" in srm.message
    assert "**Decision:** NO DECISION" in rec.output.report_md
