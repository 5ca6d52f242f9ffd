"""The ``staffing`` study: runs on the world, effect direction, honest checks, determinism, bad input.

The library pieces it calls (plan simulator, simulated requirements, plan verification, paired
comparison, calibration check, ``Scaled``) are tested in ``tests/simulation``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from servicelab.errors import DataError, DesignError, RunError
from studies.catalog.staffing import STUDY, StaffingWhatIf, effect_quantiles
from studies.runner import run_study
from studies.runner.spec import ParameterError

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
    # one service-level definition, named in words in the results and the report
    res = json.loads((record.path / "results.json").read_text())
    words = "answered within 20 s, over all offered contacts"
    assert res["service_level_definition"].startswith(words)
    assert res["service_level"]["key"] == "sl_20s"
    assert words in out.report_md
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


def test_the_checks_report_what_they_found(record):
    out = record.output
    res = json.loads((record.path / "results.json").read_text())
    diags = {d.name: d for d in out.diagnostics}
    # the plan check: counts of intervals that meet / are unclear / miss the target; "ok" only if all meet
    ver = out.tables["plan_service_level"]
    c = res["plan_check"]
    assert c["meets"] + c["unclear"] + c["misses"] == c["intervals"] == len(ver) == 240
    assert c["meets"] == int((ver["meets_target"] == "yes").sum())
    assert (diags["plan_service_level"].status == "ok") == (c["meets"] == 240)
    assert f"{c['unclear']} are unclear" in diags["plan_service_level"].message
    assert f"{c['meets']} meet the target" in out.report_md
    # service-level intervals are shares: never outside [0, 1]
    assert ver["ci_low"].min() >= 0 and ver["ci_high"].max() <= 1
    # the calibration check is judged at the target's threshold (20 s), not at 300 s
    ck = out.tables["calibration_check"]
    assert set(ck.loc[ck["judged"], "measure"]) == {"abandon_rate", "sl_20s"}
    passed = bool(ck.loc[ck["judged"], "agrees"].all())
    assert res["calibration_check_passed"] == passed
    assert (diags["calibration"].status == "ok") == passed
    # the variance ratio is stated with its direction
    ratio = out.tables["routing"].set_index("measure").loc["sl_20s", "variance_ratio"]
    phrase = "cut the variance" if ratio >= 1 else "did not reduce the variance"
    assert phrase in res["routing_variance"] and phrase in out.report_md


def test_same_seed_same_numbers(record, world_db, tmp_path):
    import pandas as pd

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
    q = effect_quantiles(-0.05, draws=draws, ci_level=0.9)
    assert q["low"] == pytest.approx(-0.05 - 1.645 * 0.01, abs=0.002)
    assert q["high"] == pytest.approx(-0.05 + 1.645 * 0.01, abs=0.002)


@pytest.mark.parametrize("effect", [-1.0, -1.5, float("nan")])
def test_effect_at_or_below_minus_one_is_rejected(world_db, tmp_path, effect):
    with pytest.raises(DesignError, match="handle_effect"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"handle_effect": effect})


def test_bad_inputs_raise_precise_errors(world_db, tmp_path):
    with pytest.raises(RunError, match="policy_a"):
        run_study("staffing", db=world_db, runs_dir=tmp_path, params={"policy_a": "random"})
    params = {p.name: p.default for p in STUDY.params}
    with pytest.raises(DesignError, match="unknown routing policy"):
        StaffingWhatIf.from_params({**params, "policy_b": "psychic"})
    with pytest.raises(DesignError, match="must differ"):
        StaffingWhatIf.from_params({**params, "policy_b": params["policy_a"]})
    with pytest.raises(DesignError, match="effect_sd"):
        effect_quantiles(-0.06, -0.1)
    with pytest.raises(DesignError, match="lower quantile"):
        effect_quantiles(-0.5, 0.5)
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
    # a missing or unsupported file is a parameter error, found before any data is read
    runs = tmp_path / "runs"
    for path in ("nope.npy", str(world_db)):
        with pytest.raises(ParameterError, match=r"'effect_draws' must be '' or an existing \.npy or \.csv"):
            run_study("staffing", db=tmp_path / "no-such.duckdb", runs_dir=runs, params={"effect_draws": path})
    assert not runs.exists()
    np.save(tmp_path / "bad.npy", np.array([-0.1, -1.5]))
    with pytest.raises(DataError, match="> -1"):
        run_study("staffing", db=world_db, runs_dir=tmp_path,
                  params={"effect_draws": str(tmp_path / "bad.npy")})


def test_the_study_holds_no_library_code():
    import studies.catalog.staffing as study

    for name in ("ScaledDistribution", "calibration_check", "policy_comparison", "search_requirements",
                 "_day_simulator", "_erlang_sl", "erlang_requirements"):
        assert not hasattr(study, name), name


def test_calibration_figure_is_drawn_on_one_axes():
    """The report's calibration figure: every queue and measure on one Axes (it crashed on an array)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from simulation import ServiceLevel
    from simulation.calibration import CalibrationValidation
    from studies.catalog.staffing import _plot_calibration

    table = pd.DataFrame({
        "queue": ["billing", "billing", "all", "all"],
        "measure": ["abandon_rate", "sl_20s", "abandon_rate", "sl_20s"],
        "observed": [0.05, 0.80, 0.06, 0.78], "sim_mean": [0.055, 0.79, 0.058, 0.80],
        "ci_low": [0.04, 0.75, 0.05, 0.76], "ci_high": [0.07, 0.83, 0.07, 0.84],
        "judged": [True, True, True, True],
    })
    table["diff"] = table["sim_mean"] - table["observed"]
    table["agrees"] = True
    v = CalibrationValidation(table, ServiceLevel(20.0), n_reps=2, ci_level=0.95, tolerance=0.02,
                              window=("2026-01-01", "2026-01-04"), warmup_s=86400.0)
    fig = _plot_calibration(v)
    try:
        (ax,) = fig.axes
        assert len(ax.get_yticklabels()) == len(table)
        assert ax.get_xlabel() and ax.get_title() == "Calibration check: passed"
    finally:
        plt.close(fig)


# -- the default effect comes from the latest routing-ab run -------------------------------------
def _routing_ab_run(root, run_id, rel=-0.088, lo=-0.094, hi=-0.082, status="success"):
    folder = root / "routing-ab" / (run_id if status == "success" else run_id + ".failed")
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"study": "routing-ab", "run_id": run_id, "status": status}))
    rows = [{"metric": "handle_s", "segment": "all", "arm": "treatment", "rel_effect": rel, "rel_ci_low": lo,
             "rel_ci_high": hi, "ci_level": 0.95},
            {"metric": "fcr", "segment": "all", "arm": "treatment", "rel_effect": 0.05, "rel_ci_low": 0.04,
             "rel_ci_high": 0.06, "ci_level": 0.95}]
    (folder / "results.json").write_text(json.dumps({"overall": rows}))
    return folder


def _defaults(**kw):
    return {"handle_effect": -0.06, "effect_sd": 0.0, "effect_draws": "", "effect_from": "latest-routing-ab", **kw}


def test_default_effect_is_the_latest_routing_ab_runs(tmp_path):
    from scipy import stats

    from studies.catalog.staffing import effect_from_runs

    _routing_ab_run(tmp_path, "20260101T000000Z-aaaaaa", rel=-0.05, lo=-0.06, hi=-0.04)
    _routing_ab_run(tmp_path, "20260102T000000Z-bbbbbb")
    _routing_ab_run(tmp_path, "20260103T000000Z-cccccc", rel=-0.5, lo=-0.6, hi=-0.4, status="failed")
    p, src = effect_from_runs(_defaults(), tmp_path)
    assert src["kind"] == "run" and src["run_id"] == "20260102T000000Z-bbbbbb" and src["latest"]
    assert p["handle_effect"] == -0.088
    z = stats.norm.ppf(0.975)
    assert p["effect_sd"] == pytest.approx((-0.082 + 0.094) / (2 * z))
    # a run named explicitly; the user's own effect; effect_from=params; no run at all
    p2, src2 = effect_from_runs(_defaults(effect_from="20260101T000000Z-aaaaaa", effect_sd=0.01), tmp_path)
    assert p2["handle_effect"] == -0.05 and not src2["latest"]
    assert effect_from_runs(_defaults(handle_effect=-0.1), tmp_path) == (_defaults(handle_effect=-0.1), None)
    assert effect_from_runs(_defaults(effect_from="params"), tmp_path)[1] is None
    p3, src3 = effect_from_runs(_defaults(), tmp_path / "empty")
    assert p3["handle_effect"] == -0.06 and src3["kind"] == "default"
    with pytest.raises(DesignError, match="did not succeed"):
        effect_from_runs(_defaults(effect_from="20260103T000000Z-cccccc"), tmp_path)


def test_study_says_where_its_effect_came_from(world_db, tmp_path):
    _routing_ab_run(tmp_path, "20260102T000000Z-bbbbbb")
    fast = {k: v for k, v in FAST.items() if k != "effect_sd"}
    rec = run_study("staffing", db=world_db, runs_dir=tmp_path, seed=5, params=fast)
    res = json.loads((rec.path / "results.json").read_text())
    assert res["effect"]["point"] == -0.088 and res["effect"]["source"]["run_id"] == "20260102T000000Z-bbbbbb"
    assert "measured by routing-ab run 20260102T000000Z-bbbbbb" in rec.output.report_md
    assert "handle time -8.8%" in rec.headline
