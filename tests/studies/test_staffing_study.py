"""The ``staffing`` study: runs on the world, effect direction, CRN pairing, determinism, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError, RunError
from simulation import Exponential, LogNormal, ServiceLevel
from studies.catalog.staffing import (
    ScaledDistribution,
    effect_quantiles,
    erlang_requirements,
    policy_comparison,
)
from studies.runner import run_study

# small but real: two weeks of calibration data, 2 replications, a 3-day calibration check
FAST = {"recent_days": 14, "n_reps": 2, "check_days": 3, "effect_sd": 0.02}


@pytest.fixture(scope="module")
def record(world_db, tmp_path_factory):
    return run_study("staffing", db=world_db, runs_dir=tmp_path_factory.mktemp("runs"), seed=5,
                     params=FAST)


def test_study_runs_and_writes_its_outputs(record):
    out = record.output
    assert {"requirements", "totals", "routing", "calibration_check", "plan_service_level"} <= set(
        out.tables)
    for name in ("requirements", "service_level", "calibration"):
        assert (record.path / "figures" / f"{name}.png").stat().st_size > 10_000
    req = out.tables["requirements"]
    assert len(req) == 5 * 48  # five queues, 48 half hours
    assert req["arrivals"].gt(0).all()
    # the service-level definition is explicit in the results and the report
    res = json.loads((record.path / "results.json").read_text())
    assert res["service_level_definition"] == "answered within 20 s / offered"
    assert "answered within 20 s / offered" in out.report_md
    assert "agent-hours per week day" in record.headline
    # the Erlang A plan meets the target where Erlang A says so
    assert (req["erlang_sl_base"] >= 0.8 - 1e-9).all()


def test_handle_time_reduction_lowers_required_agents(record):
    req = record.output.tables["requirements"]
    assert (req["erlang_effect"] <= req["erlang_base"]).all()
    assert req["erlang_effect"].sum() < req["erlang_base"].sum()
    assert req["sim_effect"].sum() < req["sim_base"].sum()
    res = json.loads((record.path / "results.json").read_text())
    s = res["saving_agent_hours"]
    assert 0 < s["erlang_low"] <= s["erlang"] <= s["erlang_high"]
    # the effect's uncertainty per interval: requirements at its quantiles bracket the point plan
    lo = req[["erlang_effect_low", "erlang_effect_high"]].min(axis=1)
    hi = req[["erlang_effect_low", "erlang_effect_high"]].max(axis=1)
    assert (lo <= req["erlang_effect"]).all() and (req["erlang_effect"] <= hi).all()
    assert (hi > lo).any()


def test_erlang_requirements_monotone_in_handle_time():
    prof = pd.DataFrame({"queue": "q", "slot": [0, 1, 2], "arrivals": [30.0, 90.0, 0.0]})
    kw = {"target_sl": 0.8, "sl_threshold_s": 20.0}
    lo = erlang_requirements(prof, {"q": 300.0}, {"q": 600.0}, factor=0.8, **kw)["required"]
    mid = erlang_requirements(prof, {"q": 300.0}, {"q": 600.0}, factor=1.0, **kw)["required"]
    hi = erlang_requirements(prof, {"q": 300.0}, {"q": 600.0}, factor=1.2, **kw)["required"]
    assert (lo <= mid).all() and (mid <= hi).all()
    assert lo.iloc[1] < hi.iloc[1] and mid.iloc[2] == 0


def test_routing_comparison_is_paired_under_crn():
    vols = {"a": np.full(48, 40.0), "b": np.full(48, 25.0)}
    agents = {"a": np.full(48, 8), "b": np.full(48, 6)}
    aht = {"a": LogNormal(300.0, 0.8), "b": Exponential(360.0)}

    tab = policy_comparison(vols, agents, aht, {"a": Exponential(300.0), "b": Exponential(300.0)},
                            policy_a="skills_overflow", policy_b="fifo", sl=ServiceLevel(20.0),
                            n_reps=4, rng=3).set_index("measure")
    # the same contacts in replication i of both policies: the work offered is identical, so
    # occupancy differs far less between paired replications than between independent ones
    assert tab.loc["occupancy", "variance_ratio"] > 10
    assert tab.loc["sl_20s", "sd_diff"] < tab.loc["sl_20s", "sd_unpaired"]
    row = tab.loc["sl_20s"]
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    assert row["mean_diff"] == pytest.approx(row["mean_a"] - row["mean_b"])


def test_same_seed_same_numbers(record, world_db, tmp_path):
    again = run_study("staffing", db=world_db, runs_dir=tmp_path, seed=5, params=FAST)
    a = json.loads((record.path / "results.json").read_text())
    b = json.loads((again.path / "results.json").read_text())
    assert a == b
    pd.testing.assert_frame_equal(record.output.tables["requirements"],
                                  again.output.tables["requirements"])


def test_effect_quantiles_from_normal_and_draws():
    q = effect_quantiles(-0.06, 0.0)
    assert q["low"] == q["point"] == q["high"] == -0.06
    draws = np.random.default_rng(0).normal(-0.05, 0.01, 4000)
    q = effect_quantiles(-0.05, draws=draws, level=0.9)
    assert q["low"] == pytest.approx(-0.05 - 1.645 * 0.01, abs=0.002)
    assert q["high"] == pytest.approx(-0.05 + 1.645 * 0.01, abs=0.002)


def test_scaled_distribution_scales_mean_and_draws():
    d = ScaledDistribution(Exponential(300.0), 0.9)
    x = d.sample(np.random.default_rng(1), 20_000)
    assert d.mean == pytest.approx(270.0)
    assert x.mean() == pytest.approx(270.0, rel=0.03)


@pytest.mark.parametrize("effect", [-1.0, -1.5, float("nan")])
def test_effect_at_or_below_minus_one_is_rejected(world_db, tmp_path, effect):
    with pytest.raises(DesignError, match="handle_effect"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"handle_effect": effect})


def test_bad_inputs_raise_precise_errors(world_db, tmp_path):
    with pytest.raises(RunError, match="policy_a"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"policy_a": "random"})
    with pytest.raises(DesignError, match="unknown routing policy"):
        policy_comparison({"a": np.ones(48)}, {"a": np.ones(48, int)}, {"a": 300.0}, {"a": 300.0},
                          policy_a="psychic", policy_b="fifo", sl=None, n_reps=2)
    with pytest.raises(DesignError, match="effect_sd"):
        effect_quantiles(-0.06, -0.1)
    with pytest.raises(DesignError, match="lower quantile"):
        effect_quantiles(-0.5, 0.5)
    with pytest.raises(DesignError, match="positive"):
        ScaledDistribution(Exponential(300.0), 0.0)
    with pytest.raises(DesignError, match="n_reps"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"n_reps": 1})


def test_posterior_draws_drive_the_uncertainty(world_db, tmp_path):


    draws = np.random.default_rng(3).normal(-0.08, 0.015, size=400)
    np.save(tmp_path / "draws.npy", draws)
    rec = run_study("staffing", db=world_db, runs_dir=tmp_path, seed=2,
                    params={**FAST, "effect_sd": 0.0, "effect_draws": str(tmp_path / "draws.npy")})
    res = json.loads((rec.path / "results.json").read_text())
    assert res["effect"]["point"] == pytest.approx(draws.mean())
    assert res["effect"]["low"] == pytest.approx(np.quantile(draws, 0.05))
    assert res["effect"]["source"]["n"] == 400 and len(res["effect"]["source"]["sha256"]) == 64
    s = res["saving_agent_hours"]
    assert s["erlang_low"] < s["erlang_high"]
    assert "400 draws from draws.npy" in rec.output.report_md


def test_bad_effect_draws(world_db, tmp_path):


    with pytest.raises(DataError, match="does not exist"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"effect_draws": "nope.npy"})
    np.save(tmp_path / "bad.npy", np.array([-0.1, -1.5]))
    with pytest.raises(DataError, match="> -1"):
        run_study("staffing", db=world_db, runs_dir=tmp_path,
                  params={"effect_draws": str(tmp_path / "bad.npy")})
