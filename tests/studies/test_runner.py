"""The study runner: atomic run folders, provenance, clear errors, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from servicelab.errors import DataError, RunError
from servicelab.results import Diagnostic
from studies.runner import Param, Study, StudyContext, StudyOutput, find_run, list_runs, run_study
from studies.runner import run as run_module


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, (range % 7) * 60.0 AS handle_s "
                "FROM range(1000)")
    con.close()
    return path


def _analysis(ctx: StudyContext) -> StudyOutput:
    frame = ctx.query("SELECT handle_s FROM contacts WHERE handle_s >= ?", [ctx.params["min_handle_s"]])
    noise = ctx.rng.normal(size=3)
    mean = float(frame["handle_s"].mean())
    fig, ax = plt.subplots()
    ax.hist(frame["handle_s"])
    if ctx.params["mode"] == "raise":
        raise ZeroDivisionError("boom")
    if ctx.params["mode"] == "interrupt":
        raise KeyboardInterrupt
    diags = (Diagnostic("check", "fail" if ctx.params["mode"] == "fail" else "ok", "a check", 0.0),)
    return StudyOutput(
        headline=f"mean handle {mean:.1f} s",
        results={"mean": mean, "noise": noise.tolist()},
        tables={"handle": frame.describe().reset_index()},
        figures={"hist": fig},
        report_md="Some **markdown**.",
        diagnostics=diags,
        artifacts={"extra.txt": lambda p: p.write_text("hello")},
    )


FAKE = Study(
    name="fake",
    title="A fake study",
    question="Does the runner work?",
    params=(
        Param("min_handle_s", float, 0.0, "filter"),
        Param("mode", str, "ok", "behaviour", choices=("ok", "raise", "interrupt", "fail")),
        Param("n", int, 3, "an int"),
        Param("flag", bool, False, "a bool"),
    ),
    default_seed=5,
    run=_analysis,
    tables={"contacts": ("contact_id", "handle_s")},
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Study:
    real = run_module.get_study
    monkeypatch.setattr(run_module, "get_study", lambda name: FAKE if name == "fake" else real(name))
    return FAKE


def _folders(runs: Path) -> list[Path]:
    return sorted(p for p in (runs / "fake").iterdir()) if (runs / "fake").exists() else []


def test_successful_run_writes_a_complete_folder(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    rec = run_study("fake", db=tiny_db, runs_dir=runs, params={"min_handle_s": "60"})
    assert rec.ok and rec.path.parent == runs / "fake"
    names = {p.relative_to(rec.path).as_posix() for p in rec.path.rglob("*") if p.is_file()}
    assert {"manifest.json", "results.json", "report.md", "report.html", "tables/handle.parquet",
            "figures/hist.png", "extra.txt"} <= names
    m = json.loads((rec.path / "manifest.json").read_text())
    assert m["status"] == "success" and m["seed"] == 5 and m["params"]["min_handle_s"] == 60.0
    assert m["data"]["tables"] == {"contacts": 1000}
    assert m["data"]["queries"][0]["rows"] == 1000 - 1000 // 7 - (1 if 1000 % 7 else 0)
    assert len(m["data"]["fingerprint"]) == 64
    assert set(m["git"]) == {"sha", "dirty"} and m["environment"]["python"].startswith("3.")
    assert m["environment"]["packages"]["numpy"]
    assert "Some **markdown**." in (rec.path / "report.md").read_text()
    assert "<table>" in (rec.path / "report.html").read_text()
    assert pd.read_parquet(rec.path / "tables/handle.parquet").shape[0] == 8


def test_same_seed_same_numbers_and_fingerprint(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    a = run_study("fake", db=tiny_db, runs_dir=tmp_path, seed=3)
    b = run_study("fake", db=tiny_db, runs_dir=tmp_path, seed=3)
    c = run_study("fake", db=tiny_db, runs_dir=tmp_path, seed=4)
    assert a.path != b.path  # a run never overwrites another
    ra, rb, rc = (json.loads((r.path / "results.json").read_text()) for r in (a, b, c))
    assert ra == rb and ra["noise"] != rc["noise"]
    assert a.manifest["data"]["fingerprint"] == b.manifest["data"]["fingerprint"]


def test_exception_leaves_only_a_failed_folder(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError) as info:
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"})
    folders = _folders(tmp_path)
    assert len(folders) == 1 and folders[0].name.endswith(".failed")
    m = json.loads((folders[0] / "manifest.json").read_text())
    assert m["status"] == "failed" and "ZeroDivisionError: boom" in m["error"]
    assert "ZeroDivisionError" in (folders[0] / "error.txt").read_text()
    assert not (folders[0] / "report.md").exists()
    assert any("failed run is recorded" in n for n in info.value.__notes__)


def test_interrupt_leaves_no_success_folder(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "interrupt"})
    folders = _folders(tmp_path)
    assert [f.name.endswith(".failed") for f in folders] == [True]
    assert list_runs(tmp_path)[0]["status"] == "failed"


def test_failed_check_fails_the_run_unless_allowed(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "fail"})
    assert rec.status == "failed" and rec.path.name.endswith(".failed")
    assert "--allow-failed-checks" in rec.manifest["error"]
    assert "RUN FAILED" in (rec.path / "report.md").read_text()
    ok = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "fail"}, allow_failed_checks=True)
    assert ok.ok and ok.manifest["diagnostics_status"] == "fail"


def test_unknown_study_and_bad_parameters(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"unknown study 'nope'; known studies: .*routing-ab"):
        run_study("nope", db=tiny_db, runs_dir=tmp_path)
    with pytest.raises(RunError, match=r"no parameter\(s\) \['alpha'\]"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"alpha": "1"})
    with pytest.raises(RunError, match="expects int, got 'three'"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"n": "three"})
    with pytest.raises(RunError, match="expects bool"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"flag": "maybe"})
    with pytest.raises(RunError, match="must be one of"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "other"})
    with pytest.raises(RunError, match="expects int, got float"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"n": 2.5})
    assert not (tmp_path / "fake").exists() or not any((tmp_path / "fake").iterdir())


def test_data_problems_are_reported_before_anything_is_written(
    fake: Study, tiny_db: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="servicelab world build"):
        run_study("fake", db=tmp_path / "missing.duckdb", runs_dir=tmp_path / "runs")
    con = duckdb.connect(str(tmp_path / "other.duckdb"))
    con.execute("CREATE TABLE contacts (contact_id BIGINT)")
    con.close()
    with pytest.raises(DataError, match=r"lacks column\(s\) \['handle_s'\]"):
        run_study("fake", db=tmp_path / "other.duckdb", runs_dir=tmp_path / "runs")
    assert _folders(tmp_path / "runs") == []


def test_unwritable_runs_folder_is_a_clear_error(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    with pytest.raises(RunError, match="cannot create the run folder"):
        run_study("fake", db=tiny_db, runs_dir=blocker)


def test_runs_listing_and_lookup(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path)
    rows = list_runs(tmp_path)
    assert [r["run_id"] for r in rows] == [rec.path.name]
    assert find_run(rec.path.name[-6:], tmp_path) == rec.path
    with pytest.raises(RunError, match="no run"):
        find_run("zzzzzz", tmp_path)


def test_run_closes_the_figures_it_opened(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    keep = plt.figure()
    before = set(plt.get_fignums())
    run_study("fake", db=tiny_db, runs_dir=tmp_path)
    assert set(plt.get_fignums()) == before  # the study's figures are closed, the caller's kept
    plt.close(keep)
