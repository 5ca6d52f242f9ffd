"""``servicelab whatif``: effects from run ids, with provenance, carried into staffing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servicelab.errors import DesignError
from studies.cli import main
from studies.whatif import effects_from_run, parse_effect


def _fake_run(root: Path, study: str, status: str = "success", name: str = "20260101T000000Z-abcdef") -> Path:
    folder = root / study / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"study": study, "run_id": name, "status": status}))
    (folder / "results.json").write_text(json.dumps({"overall": []}))
    return folder


def test_routing_ab_run_to_whatif(world_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["run", "routing-ab", "--db", str(world_db), "--runs-dir", str(runs), "--seed", "3", "-q"]) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1].split("run folder: ")[1])
    effects = effects_from_run(folder.name, runs)
    overall = {r["metric"]: r for r in json.loads((folder / "results.json").read_text())["overall"]}
    assert [e.lever for e in effects] == ["handle_time", "fcr"]
    for e, metric in zip(effects, ("handle_s", "fcr"), strict=True):
        assert e.relative == overall[metric]["rel_effect"]
        assert (e.ci_low, e.ci_high) == (overall[metric]["rel_ci_low"], overall[metric]["rel_ci_high"])
        assert folder.name in e.source and metric in e.source
    out_dir = tmp_path / "wi"
    args = ["whatif", folder.name[-6:], "--runs-dir", str(runs), "--db", str(world_db), "--draws", "40",
            "--shrinkage", "0.3", "--out", str(out_dir)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "fewer agents at the" in text and folder.name in text and "1 / FCR" in text
    assert "all queues pooled as one queue" in text and "180 s (assumed" in text
    res = json.loads((out_dir / "whatif.json").read_text())
    assert res["shrinkage"] == 0.3 and res["agent_hours_change"]["high"] < 0
    assert [e["source"] for e in res["effects"]] == [e.source for e in effects]
    assert (out_dir / "whatif.png").stat().st_size > 0 and (out_dir / "whatif.csv").exists()
    assert main([*args[:-2], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["headline"] == res["headline"]


def test_runs_without_a_usable_effect_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_run(tmp_path, "help-bot", name="20260101T000000Z-aaaaaa")
    with pytest.raises(DesignError, match=r"no effect to carry into staffing.*deflection"):
        effects_from_run("20260101T000000Z-aaaaaa", tmp_path)
    _fake_run(tmp_path, "routing-ab", status="failed", name="20260101T000000Z-bbbbbb")
    with pytest.raises(DesignError, match="did not succeed"):
        effects_from_run("20260101T000000Z-bbbbbb", tmp_path)
    assert main(["whatif", "nosuchrun", "--runs-dir", str(tmp_path)]) == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err
    assert main(["whatif", "--runs-dir", str(tmp_path)]) == 2
    assert "at least one RUN_ID or --effect" in capsys.readouterr().err


def test_effects_by_hand() -> None:
    e = parse_effect("volume=-0.04:-0.06:-0.02:0.9")
    assert (e.lever, e.relative, e.ci_low, e.ci_high, e.ci_level) == ("volume", -0.04, -0.06, -0.02, 0.9)
    with pytest.raises(DesignError, match="lever=relative"):
        parse_effect("volume")
    with pytest.raises(DesignError, match="relative changes"):
        parse_effect("volume=lots")
    with pytest.raises(DesignError, match="lever must be one of"):
        parse_effect("morale=0.1")
