"""The ``servicelab`` command line: exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studies.cli import main


def test_unknown_study_exits_2_with_the_known_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "no-such-study", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "unknown study 'no-such-study'" in err and "routing-ab" in err


def test_missing_warehouse_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "servicelab world build --db" in capsys.readouterr().err


def test_bad_set_syntax(capsys: pytest.CaptureFixture[str], world_db: Path, tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(world_db), "--runs-dir", str(tmp_path), "--set", "alpha"]) == 2
    assert "key=value" in capsys.readouterr().err


def test_studies_lists_routing_ab(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studies"]) == 0
    assert "routing-ab" in capsys.readouterr().out


def test_run_then_list_and_show(capsys: pytest.CaptureFixture[str], world_db: Path, tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(world_db), "--runs-dir", str(tmp_path), "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "run folder:" in out
    folder = Path(out.strip().splitlines()[-1].split("run folder: ")[1])
    assert (folder / "manifest.json").exists()
    assert main(["runs", "--json", "--runs-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["run_id"] == folder.name and rows[0]["status"] == "success"
    assert main(["runs", "show", folder.name, "--runs-dir", str(tmp_path)]) == 0
    assert "Provenance" in capsys.readouterr().out
