"""The kpi-drivers study end to end: on the plain world, and the one world-based ground-truth test
on a world with every scenario injected (mix shift + handle regression in the reviewed week,
a volume spike and an incident earlier)."""

from __future__ import annotations

import json

import pytest

from studies.runner import run_study
from studies.warehouse import build_warehouse
from studies.world import WorldConfig


@pytest.fixture(scope="module")
def scenario_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "tws.duckdb"
    cfg = WorldConfig(scenarios=("mix_shift", "handle_regression", "volume_spike", "incident"))
    build_warehouse(path, seed=23, scale=0.05, force=True, config=cfg)
    return path


def test_kpi_drivers_recovers_the_injected_truth(scenario_db, tmp_path) -> None:
    rec = run_study("kpi-drivers", db=scenario_db, runs_dir=tmp_path, seed=2, params={"n_boot": 150})
    assert rec.status == "success", rec.path
    res = json.loads((rec.path / "results.json").read_text())
    checks = {r["check"]: r for r in res["truth"]}
    assert {"mix contribution of suspension_appeal", "rate contribution of billing_ads", "incident day",
            "volume spike day", "false alarms per 90 days (volume)"} <= set(checks)  # fmt: skip
    for name in ("mix contribution of suspension_appeal", "rate contribution of billing_ads"):
        c = checks[name]
        half = (c["ci_high"] - c["ci_low"]) / 2
        # one world, one seed: the injected value within 3.5/1.96 half-widths (|z| < 3.5)
        assert abs(c["estimate"] - c["truth"]) < 3.5 / 1.96 * half, c
    assert checks["incident day"]["recovered"] and checks["volume spike day"]["recovered"]
    assert checks["false alarms per 90 days (volume)"]["estimate"] <= 1.0
    # the largest contribution is the injected mix shift
    top = max(res["decomposition"]["contributions"], key=lambda r: abs(r["estimate"]))
    assert (top["component"], top["segment"]) == ("mix", "suspension_appeal")
    gcm = {r["node"]: r["contribution"] for r in res["gcm"]["contributions"]}
    # the reason mix is the mechanism that changed most (the regression hits ~7% of contacts only)
    assert max(gcm, key=lambda k: abs(gcm[k])) == "reason_level" and gcm["reason_level"] > 0.02
    report = (rec.path / "report.md").read_text()
    assert "Against the injected truth" in report
    for fig in ("waterfall", "anomalies", "topics"):
        assert (rec.path / "figures" / f"{fig}.png").exists()


def test_kpi_drivers_on_the_plain_world(world_db, tmp_path) -> None:
    rec = run_study("kpi-drivers", db=world_db, runs_dir=tmp_path, seed=1,
                    params={"n_boot": 60, "gcm": False, "segments": "queue,reason", "n_topics": 5})  # fmt: skip
    assert rec.status == "success", rec.path
    res = json.loads((rec.path / "results.json").read_text())
    assert res["truth"] == []  # no scenario, no injected truth
    totals = {r["component"]: r["estimate"] for r in res["decomposition"]["totals"]}
    parts = totals["mix"] + totals["rate"] + sum(v for k, v in totals.items() if k.startswith("launch:"))
    assert parts == pytest.approx(totals["change"], abs=1e-6)
    assert {d["dimension"] for d in res["decomposition"]["dimensions"]} == {"queue", "reason"}
    assert res["coherence"] > 0


@pytest.mark.parametrize("day", ["2026-13-01", "2026-1-5", "last week", "2026-01-05T10:00"])
def test_a_bad_after_start_is_refused_before_any_data_is_read(day, tmp_path) -> None:
    """It used to fail after loading two weeks of contacts, as an unexpected DateParseError."""
    from studies.runner.spec import ParameterError

    with pytest.raises(ParameterError, match=r"'after_start' must be '' or a date YYYY-MM-DD"):
        run_study("kpi-drivers", db=tmp_path / "no-such.duckdb", runs_dir=tmp_path / "runs",
                  params={"after_start": day})
    assert not (tmp_path / "runs").exists()
