"""The ``scorecard`` study and ``servicelab scorecard``: a run folder like any study's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from studies.cli import main
from studies.runner.catalog import get_study


def _one_run(root: Path) -> Path:
    runs = [p for p in (root / "scorecard").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1
    return runs[0]


def test_quick_command_writes_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    code = main(["scorecard", "--quick", "--reps", "4", "--reps-expensive", "2", "--jobs", "1",
                 "--runs-dir", str(tmp_path), "-q", "--families", "experiments,iv"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "scorecard:" in out and "run folder:" in out
    run = _one_run(tmp_path)
    for rel in ("manifest.json", "results.json", "report.md", "scorecard.csv",
                "tables/scorecard.parquet", "tables/records.parquet", "tables/headline.parquet",
                "figures/coverage_heatmap.png"):
        assert (run / rel).is_file(), rel
    table = pd.read_parquet(run / "tables/scorecard.parquet")
    assert set(table["group"]) == {"experiments", "iv"}
    assert (table["reps"] == 4).all()
    csv = pd.read_csv(run / "scorecard.csv")
    assert list(csv["estimator"]) == list(table["estimator"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["params"]["quick"] is True and manifest["seed"] == 2026
    assert manifest["data"]["tables"] == {}
    results = json.loads((run / "results.json").read_text())
    assert results["settings"]["reps"] == 4 and results["n_fits"] == len(
        pd.read_parquet(run / "tables/records.parquet"))


def test_same_seed_same_table_through_the_study(tmp_path: Path) -> None:
    args = ["scorecard", "--scenarios", "iv-strong,exp-baseline", "--families", "experiments,iv",
            "--reps", "5", "--jobs", "1", "-q", "--seed", "9"]
    assert main([*args, "--runs-dir", str(tmp_path / "a")]) == 0
    assert main([*args, "--runs-dir", str(tmp_path / "b")]) == 0
    a = pd.read_parquet(_one_run(tmp_path / "a") / "tables/scorecard.parquet")
    b = pd.read_parquet(_one_run(tmp_path / "b") / "tables/scorecard.parquet")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("argv", [["--reps", "1"], ["--families", "astrology"],
                                  ["--scenarios", "nowhere"], ["--jobs", "-1"]])
def test_bad_options_exit_2_and_write_nothing(tmp_path: Path, argv: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", *argv, "--runs-dir", str(tmp_path)]) == 2
    assert "parameter" in capsys.readouterr().err
    assert not (tmp_path / "scorecard").exists()


def test_study_declares_no_tables_and_ranged_params() -> None:
    study = get_study("scorecard")
    assert study.tables == ()
    assert study.resolve_params({"reps": "50"})["reps"] == 50
