"""The study runner: run-folder lifecycle, provenance, interrupts, full disks, parameters, progress."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import socket
import warnings
from dataclasses import replace
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError, RunError
from studies.runner import (
    Param,
    ParameterError,
    Progress,
    RunInterrupted,
    Study,
    catalog,
    clean_runs,
    find_run,
    list_runs,
    list_studies,
    run_study,
    run_summary,
)
from studies.runner import run as run_module
from studies.runner.interrupts import InterruptGuard
from studies.runner.run import storage_problem
from studies.runner.store import parse_age, process_start_token
from studies.runner.warning_filters import KNOWN_WARNINGS
from tests.studies import fake_study


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, (range % 7) * 60.0 AS handle_s "
                "FROM range(1000)")
    con.close()
    return path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Study:
    fake_study.install(monkeypatch.setattr)
    return fake_study.FAKE


def _folders(runs: Path) -> list[Path]:
    return sorted(p for p in (runs / "fake").iterdir()) if (runs / "fake").exists() else []


# -- a successful run ------------------------------------------------------------------------------
def test_successful_run_writes_a_complete_folder(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    rec = run_study("fake", db=tiny_db, runs_dir=runs, params={"min_handle_s": "60"})
    assert rec.ok and rec.path.parent == runs / "fake"
    names = {p.relative_to(rec.path).as_posix() for p in rec.path.rglob("*") if p.is_file()}
    assert names == {"manifest.json", "results.json", "report.md", "report.html", "tables/handle.parquet",
                     "figures/hist.png", "extra.txt"}  # no temporary or partial file left behind
    m = json.loads((rec.path / "manifest.json").read_text())
    assert m["status"] == "success" and m["seed"] == 5 and m["params"]["min_handle_s"] == 60.0
    assert m["pid"] == os.getpid() and m["host"] == socket.gethostname()
    assert m["data"]["tables"] == {"contacts": 1000}
    assert m["data"]["queries"][0]["rows"] == 1000 - 1000 // 7 - (1 if 1000 % 7 else 0)
    assert len(m["data"]["fingerprint"]) == 64
    assert set(m["git"]) == {"sha", "dirty"} and m["environment"]["python"].startswith("3.")
    assert m["environment"]["packages"]["numpy"]
    assert [s["name"] for s in m["stages"]] == ["starting", "querying",
                                                "plotting", "writing the run folder"]
    assert "progress" not in m
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


def test_manifest_is_written_the_moment_the_run_starts(fake: Study, tiny_db: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def spy(ctx):
        (tmp,) = (tmp_path / "fake").glob(".tmp-*")
        seen["manifest"] = json.loads((tmp / "manifest.json").read_text())
        seen["rows"] = list_runs(tmp_path)
        return fake_study._analysis(ctx)

    study = replace(fake_study.FAKE, run=spy)
    monkeypatch.setattr(run_module.catalog, "get_study", lambda name: study)
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path)
    m = seen["manifest"]
    assert m["status"] == "running" and m["pid"] == os.getpid() and m["run_id"] == rec.path.name
    assert m["params"] == rec.manifest["params"] and m["seed"] == 5 and m["git"] and m["environment"]
    (row,) = seen["rows"]
    assert row["status"] == "running" and row["run_id"] == rec.path.name and row["pid"] == os.getpid()


# -- failures ---------------------------------------------------------------------------------------
def test_exception_leaves_only_a_failed_folder(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError) as info:
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"})
    (folder,) = _folders(tmp_path)
    assert folder.name.endswith(".failed")
    m = json.loads((folder / "manifest.json").read_text())
    assert m["status"] == "failed" and m["error"] == "ZeroDivisionError: boom during 'plotting'"
    assert m["failed_stage"] == "plotting" and "headline" not in m
    assert "ZeroDivisionError" in (folder / "error.txt").read_text()
    assert not (folder / "report.md").exists()
    assert any("failed run is recorded" in n for n in info.value.__notes__)


def test_failed_run_can_be_returned_instead_of_raised(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"}, raise_errors=False)
    assert rec.status == "failed" and isinstance(rec.exception, ZeroDivisionError)
    assert rec.path.name.endswith(".failed") and "boom" in rec.error


def test_failed_check_fails_the_run_unless_allowed(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "fail"})
    assert rec.status == "failed" and rec.path.name.endswith(".failed")
    assert "--allow-failed-checks" in rec.manifest["error"]
    assert "RUN FAILED" in (rec.path / "report.md").read_text()
    ok = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "fail"}, allow_failed_checks=True)
    assert ok.ok and ok.manifest["diagnostics_status"] == "fail"


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
    assert not (tmp_path / "runs").exists()  # not even the study's folder is created


def test_unwritable_runs_folder_is_a_clear_error(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    with pytest.raises(RunError, match="cannot create the run folder"):
        run_study("fake", db=tiny_db, runs_dir=blocker)


def test_run_closes_the_figures_it_opened(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    keep = plt.figure()
    before = set(plt.get_fignums())
    run_study("fake", db=tiny_db, runs_dir=tmp_path)
    run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"}, raise_errors=False)
    assert set(plt.get_fignums()) == before  # the study's figures are closed, the caller's kept
    plt.close(keep)


# -- interrupts (in process; the subprocess tests with real signals are in test_cli.py) -------------
def test_interrupt_ends_as_an_interrupted_failed_run(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "interrupt"})
    (folder,) = _folders(tmp_path)
    assert folder.name.endswith(".failed")
    (row,) = list_runs(tmp_path)
    assert row["status"] == "interrupted" and row["headline"].startswith("interrupted by SIGINT")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("window", ["setting up progress", "starting stage", "in the study"])
def test_signal_right_after_the_folder_is_created_is_recorded(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int, window: str
) -> None:
    """From the first manifest on (progress set-up, the "starting" stage, the pyplot import, the study)
    SIGINT, SIGTERM and SIGHUP end in a ``.failed`` interrupted run, not in a ``.tmp`` folder left
    "running" (abandoned) by a process their default action killed."""
    def outside_the_guard(signum, frame):
        raise AssertionError(f"{signal.Signals(signum).name} reached the handler outside the run's guard")

    if window == "setting up progress":
        expected = run_module._expected_stages

        def hook(runs_root, manifest):
            signal.raise_signal(signum)
            return expected(runs_root, manifest)

        monkeypatch.setattr(run_module, "_expected_stages", hook)
    elif window == "in the study":
        def study_run(ctx):
            signal.raise_signal(signum)  # a closed terminal (SIGHUP) must not leave an abandoned run either
            return fake_study._analysis(ctx)

        study = replace(fake_study.FAKE, run=study_run)
        monkeypatch.setattr(run_module.catalog, "get_study", lambda name: study)
    else:
        note = run_module._note_stage

        def hook(tmp, manifest, stage):
            note(tmp, manifest, stage)
            if stage == "starting":
                signal.raise_signal(signum)

        monkeypatch.setattr(run_module, "_note_stage", hook)
    previous = signal.signal(signum, outside_the_guard)
    try:
        rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, raise_errors=False)
        assert signal.getsignal(signum) is outside_the_guard  # restored, and no signal redelivered
    finally:
        signal.signal(signum, previous)
    name = signal.Signals(signum).name
    assert rec.status == "interrupted" and rec.error.startswith(f"interrupted by {name}")
    (folder,) = _folders(tmp_path)
    assert folder.name.endswith(".failed") and folder == rec.path
    m = json.loads((folder / "manifest.json").read_text())
    assert m["status"] == "interrupted" and (folder / "error.txt").exists()


def test_swallowed_sigint_can_never_become_a_success(fake: Study, tiny_db: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The study catches the KeyboardInterrupt (as PyMC does) and returns numbers: still interrupted."""
    def study_run(ctx):
        ctx.params["seconds"] = 0.0
        # Ctrl-C in the middle of sampling; "stop after the finished chains" and carry on
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        return fake_study._analysis(ctx)

    study = replace(fake_study.FAKE, run=study_run)
    monkeypatch.setattr(run_module.catalog, "get_study", lambda name: study)
    with pytest.raises(RunInterrupted, match="SIGINT"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path)
    (folder,) = _folders(tmp_path)
    m = json.loads((folder / "manifest.json").read_text())
    assert folder.name.endswith(".failed") and m["status"] == "interrupted"
    assert "headline" not in m and "diagnostics" not in m  # numbers of a partial computation: dropped
    assert not (folder / "results.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_swallowed_interrupt_then_another_error_is_still_an_interrupt(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def study_run(ctx):
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
        raise ValueError("only one chain: cannot compute R-hat")

    study = replace(fake_study.FAKE, run=study_run)
    monkeypatch.setattr(run_module.catalog, "get_study", lambda name: study)
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, raise_errors=False)
    assert rec.status == "interrupted"
    assert rec.error.startswith("interrupted by SIGTERM") and "afterwards ValueError" in rec.error
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_interrupt_guard_defers_signals_while_committing_and_redelivers_them() -> None:
    guard = InterruptGuard()
    seen = []

    def commit() -> None:
        with guard:
            guard.deferred = True
            signal.raise_signal(signal.SIGINT)  # recorded, not raised, while deferred
            seen.append(guard.seen)

    with pytest.raises(KeyboardInterrupt):
        commit()
    assert seen == ["SIGINT"]
    # on exit the signal went to the restored default handler: KeyboardInterrupt, nothing lost
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ignored_signals_stay_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptGuard() as guard:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            guard.check()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_progress_stage_stops_a_run_whose_interrupt_was_swallowed() -> None:
    p = Progress("x", enabled=False)
    with InterruptGuard():
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(RunInterrupted):
            p.stage("next stage")
    p.stage("outside a run nothing is checked")


# -- a full disk ---------------------------------------------------------------------------------------
def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_writing_outputs_keeps_what_was_written(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def to_parquet_partially(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet_partially)
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, raise_errors=False)
    assert rec.status == "failed" and rec.path.name.endswith(".failed")
    m = json.loads((rec.path / "manifest.json").read_text())
    assert m["error"].startswith("the disk is full (") and " MB free on " in m["error"]
    assert "while writing handle.parquet" in m["error"]
    assert m["files"] == ["results.json"] and m["headline"].startswith("mean handle")
    mean = json.loads((rec.path / "results.json").read_text())["mean"]  # a complete, readable file
    assert m["headline"] == f"mean handle {mean:.1f} s"
    assert (rec.path / "error.txt").read_text().startswith("the disk is full")
    leftovers = [p.name for p in rec.path.rglob("*") if p.name.startswith(".partial")]
    assert leftovers == [] and not (rec.path / "tables" / "handle.parquet").exists()
    with pytest.raises(OSError, match="No space left"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path)  # the API re-raises, after recording it


def test_full_disk_everywhere_still_ends_in_a_failed_folder(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = run_module.write_text_atomic
    calls = {"n": 0}

    def write_after_start(path, text):
        calls["n"] += 1
        if calls["n"] <= 2:  # the start manifest and the first stage note fit on the disk
            return real_write(path, text)
        return _enospc()

    monkeypatch.setattr(run_module, "write_text_atomic", write_after_start)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _enospc)
    monkeypatch.setattr(os, "fsync", _enospc)  # nor does the in-place, abridged manifest
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, raise_errors=False)
    assert rec.status == "failed" and rec.path.name.endswith(".failed")
    assert "could not be written either" in rec.error and "the disk is full" in rec.error
    (row,) = list_runs(tmp_path)  # the on-disk manifest still says "running": listed as failed
    assert row["status"] == "failed" and "could not be recorded" in row["note"]
    assert json.loads((rec.path / "manifest.json").read_text())["status"] == "running"  # put back whole
    assert "see error.txt" not in row["note"]  # there is none to see


def test_full_disk_without_room_for_a_copy_still_records_why_in_the_manifest(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No room for the manifest's temporary copy: the start manifest is overwritten in place."""
    real_write = run_module.write_text_atomic
    calls = {"n": 0}

    def write_after_start(path, text):
        calls["n"] += 1
        if calls["n"] <= 2:  # the start manifest and the first stage note fit on the disk
            return real_write(path, text)
        return _enospc()

    monkeypatch.setattr(run_module, "write_text_atomic", write_after_start)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _enospc)
    rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, raise_errors=False)
    assert rec.status == "failed" and "could not be written either" not in rec.error
    m = json.loads((rec.path / "manifest.json").read_text())
    assert m["status"] == "failed" and m["error"] == rec.error and m["error"].startswith("the disk is full (")
    assert m["failed_stage"] == rec.manifest["failed_stage"] and "finished_at" in m and "abridged" in m
    assert m["params"] == rec.manifest["params"] and m["run_id"] == rec.manifest["run_id"]  # kept from the start
    (row,) = list_runs(tmp_path)
    assert row["status"] == "failed" and row["headline"] == rec.error and "note" not in row
    assert f"error     {rec.error}" in run_summary(rec.path)  # `servicelab runs show` says why


def test_full_disk_at_the_start_writes_nothing(fake: Study, tiny_db: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "write_text_atomic", _enospc)
    with pytest.raises(RunError, match=r"the disk is full \(.* MB free on .*nothing was written"):
        run_study("fake", db=tiny_db, runs_dir=tmp_path)
    assert _folders(tmp_path) == []


def test_storage_problem_names_the_cause_and_the_free_space(tmp_path: Path) -> None:
    full = storage_problem(OSError(errno.ENOSPC, "No space left on device", "panel.parquet"), tmp_path / "x")
    assert full.startswith("the disk is full (") and " MB free on " in full
    assert full.endswith(") while writing panel.parquet")
    assert storage_problem(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path).startswith(
        "the disk quota is exceeded (")
    assert storage_problem(OSError(errno.EROFS, "Read-only"), tmp_path) == \
        f"the file system holding {tmp_path.resolve()} is read-only"
    wrapped = RuntimeError("could not save the trace")  # a library wrapping the OSError in its own
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert storage_problem(wrapped, tmp_path).startswith("the disk is full")
    assert storage_problem(OSError(errno.EACCES, "Permission denied"), tmp_path) is None
    assert storage_problem(ValueError("x"), tmp_path) is None


# -- parameters --------------------------------------------------------------------------------------
def test_unknown_study_and_bad_parameters(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"unknown study 'nope'; known studies: .*routing-ab"):
        run_study("nope", db=tiny_db, runs_dir=tmp_path)
    with pytest.raises(RunError, match=r"did you mean 'routing-ab'"):
        run_study("routng-ab", db=tiny_db, runs_dir=tmp_path)
    bad = [
        ({"alpha": "1"}, r"no parameter\(s\) \['alpha'\]"),
        ({"n": "three"}, "expects int, got 'three'"),
        ({"flag": "maybe"}, "expects bool"),
        ({"mode": "other"}, "must be one of"),
        ({"n": 2.5}, "expects int, got float"),
        ({"n": True}, "expects int, got bool"),
        ({"n": "0"}, r"parameter 'n' must be in \[1, 10\], got 0"),
        ({"n": "11"}, r"must be in \[1, 10\], got 11"),
        ({"share": "0"}, r"parameter 'share' must be in \(0, 1\], got 0.0"),
        ({"share": "1.5"}, r"must be in \(0, 1\], got 1.5"),
        ({"share": "nan"}, "must be a finite number, got nan"),
        ({"min_handle_s": "-inf"}, "must be a finite number"),
        ({"min_handle_s": "-1"}, r"must be >= 0, got -1.0"),
    ]
    for given, message in bad:
        with pytest.raises(ParameterError, match=message):
            run_study("fake", db=tmp_path / "never-opened.duckdb", runs_dir=tmp_path, params=given)
    assert not (tmp_path / "fake").exists()  # nothing created, and the (missing) data never opened


def test_param_ranges_and_checks() -> None:
    alpha = Param("alpha", float, 0.05, "level", min=0, max=1, exclusive_min=True, exclusive_max=True)
    assert alpha.parse("0.5") == 0.5 and alpha.parse(0.5) == 0.5
    assert alpha.allowed == "in (0, 1)"
    for bad in ("0", "1", "1.5", "-0.5", "inf"):
        with pytest.raises(ParameterError, match="alpha"):
            alpha.parse(bad)
    assert Param("n", int, 5, min=1).allowed == ">= 1"
    assert Param("x", float, 0.0, max=2, exclusive_max=True).allowed == "< 2"
    rows = Param("rows", int, 0, check=lambda n: n == 0 or n >= 1000, check_message="0 or at least 1000")
    assert rows.parse("0") == 0 and rows.parse("5000") == 5000 and rows.allowed == "0 or at least 1000"
    with pytest.raises(ParameterError, match="parameter 'rows' must be 0 or at least 1000, got 50"):
        rows.parse("50")
    assert Param("g", str, "", choices=("", "region")).allowed == "one of '', region"
    # errors are both "the run could not start" and "the design's parameters are invalid"
    assert issubclass(ParameterError, RunError) and issubclass(ParameterError, DesignError)
    with pytest.raises(ParameterError, match=r"\(default\) must be >= 1"):
        Param("n", int, 0, min=1)
    with pytest.raises(TypeError, match="not int"):
        Param("n", int, 1.5)
    with pytest.raises(TypeError, match="check_message"):
        Param("n", int, 1, check=bool)
    with pytest.raises(TypeError, match="min/max"):
        Param("s", str, "a", min=0)
    with pytest.raises(TypeError, match="more than once"):
        Study("d", "D", "?", (Param("a", int, 1), Param("a", int, 2)), 1, run=print)


def test_every_catalog_parameter_declares_its_allowed_values() -> None:
    for study in list_studies().values():
        for p in study.params:
            if p.type in (int, float):
                assert (p.min is not None or p.max is not None or p.check is not None
                        or p.choices is not None), (study.name, p.name)
            p.validate(p.default)  # (also checked at definition)
    routing = list_studies()["routing-ab"]
    with pytest.raises(ParameterError, match=r"'alpha' must be in \(0, 1\), got 1.5"):
        routing.resolve_params({"alpha": "1.5"})
    with pytest.raises(ParameterError, match=r"'n_boot' must be >= 20, got 0"):
        list_studies()["assist-rollout"].resolve_params({"n_boot": "0"})


# -- the catalog index ------------------------------------------------------------------------------
def test_catalog_index_is_read_when_fresh_and_rebuilt_when_damaged(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICELAB_CACHE_DIR", str(tmp_path))
    path = catalog.index_path()
    assert path.parent == tmp_path and not path.exists()
    built = catalog.describe_studies()
    assert [s["name"] for s in built] == catalog.study_names() and path.exists()
    marker = [{"name": "from-the-index", "title": "", "question": "", "default_seed": 0, "params": []}]
    path.write_text(json.dumps({"version": 1, "studies": marker}))
    assert catalog.describe_studies() == marker  # a fresh index is trusted (no study module imported)
    assert catalog.describe_studies(use_cache=False) == built
    path.write_text("{ not json")
    assert catalog.describe_studies() == built and json.loads(path.read_text())["studies"] == built


def test_source_fingerprint_changes_with_any_source_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    pkg = tmp_path / "fp_probe_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalog, "_SOURCE_PACKAGES", ("fp_probe_pkg",))
    before = catalog.source_fingerprint()
    assert catalog.source_fingerprint() == before
    (pkg / "sub" / "mod.py").write_text("X = 22\n")  # an edit deep in a subpackage
    after = catalog.source_fingerprint()
    assert after != before
    (pkg / "sub" / "new.py").write_text("")
    assert catalog.source_fingerprint() != after


# -- listing, lookup, summary, clean ---------------------------------------------------------------------
def test_runs_listing_and_lookup_by_short_ids(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    ok = run_study("fake", db=tiny_db, runs_dir=tmp_path)
    bad = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"}, raise_errors=False)
    rows = list_runs(tmp_path)
    assert [r["status"] for r in rows] == ["success", "failed"]
    assert [r["run_id"] for r in rows] == [ok.path.name, bad.path.name.removesuffix(".failed")]
    token = bad.path.name.removesuffix(".failed").rsplit("-", 1)[1]
    assert find_run(token[:4], tmp_path) == bad.path  # a failed run by a prefix of its hex part
    assert find_run(bad.path.name, tmp_path) == bad.path
    assert find_run(f"fake/{bad.path.name}/", tmp_path) == bad.path
    assert find_run(ok.path.name[-6:], tmp_path) == ok.path
    with pytest.raises(RunError, match="ambiguous"):
        find_run(ok.path.name[:8], tmp_path)  # both runs started today: a timestamp prefix
    with pytest.raises(RunError, match="no run"):
        find_run("zzzzzz", tmp_path)


def test_run_summary_of_a_success_and_a_failure(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    ok = run_study("fake", db=tiny_db, runs_dir=tmp_path, seed=9, params={"n": 4})
    text = run_summary(ok.path)
    assert "status    success" in text and "seed      9" in text and "n=4" in text
    assert "headline  mean handle" in text and "checks    1 of 2 not ok:" in text
    assert "[WARNING] other: a loud warning" in text
    assert "[OK]" not in text and "tables/handle.parquet" in text and "; querying " in text
    bad = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"}, raise_errors=False)
    text = run_summary(bad.path)
    assert "status    failed" in text and "error     ZeroDivisionError: boom" in text and "error.txt" in text


def _fake_tmp_run(runs: Path, run_id: str, pid: int, token: str | None, host: str | None = None) -> Path:
    folder = runs / "fake" / f".tmp-{run_id}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({
        "study": "fake", "run_id": run_id, "status": "running", "seed": 1, "pid": pid,
        "host": host or socket.gethostname(), "process_start": token,
        "started_at": f"2026-01-05T10:{run_id[11:13]}:00+00:00", "progress": {"stage": "fitting"}}))
    return folder


def test_in_progress_and_abandoned_runs_are_listed_and_only_abandoned_ones_cleaned(
    fake: Study, tiny_db: Path, tmp_path: Path
) -> None:
    finished = run_study("fake", db=tiny_db, runs_dir=tmp_path)
    failed = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "raise"}, raise_errors=False)
    me = os.getpid()
    live = _fake_tmp_run(tmp_path, "20260105T101000Z-aaaaaa", me, process_start_token(me))
    dead = _fake_tmp_run(tmp_path, "20260105T102000Z-bbbbbb", 2**22 + 12345, None)
    reused = _fake_tmp_run(tmp_path, "20260105T103000Z-cccccc", me, "1")  # our pid, another process
    remote = _fake_tmp_run(tmp_path, "20260105T104000Z-dddddd", 1, None, host="elsewhere")
    status = {r["folder"]: r["status"] for r in list_runs(tmp_path)}
    assert status[live.name] == "running" and status[dead.name] == "abandoned"
    assert status[reused.name] == "abandoned" and status[remote.name] == "unknown"
    row = next(r for r in list_runs(tmp_path) if r["folder"] == dead.name)
    assert "gone during stage 'fitting'" in row["note"]
    assert find_run("bbbb", tmp_path) == dead  # an abandoned run by its hex prefix
    assert "status    abandoned" in run_summary(dead)

    would = clean_runs(tmp_path, dry_run=True)
    assert sorted(r["folder"] for r in would) == sorted([dead.name, reused.name]) and dead.exists()
    assert clean_runs(tmp_path, older_than_s=3600) == []  # written just now: not old enough
    removed = clean_runs(tmp_path)
    assert sorted(r["folder"] for r in removed) == sorted([dead.name, reused.name])
    assert not dead.exists() and not reused.exists()
    assert live.exists() and remote.exists() and finished.path.exists() and failed.path.exists()


def test_parse_age() -> None:
    assert [parse_age(t) for t in ("90", "90s", "30m", "2h", "1.5d")] == [90, 90, 1800, 7200, 129600]
    for bad in ("soon", "-1h", "h"):
        with pytest.raises(RunError, match="older-than"):
            parse_age(bad)


# -- progress ----------------------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_stage_lines_times_and_eta() -> None:
    out, clock = io.StringIO(), _Clock()
    p = Progress("demo", stream=out, clock=clock, bars=False,
                 expected=[("load", 10.0), ("fit", 100.0), ("report", 5.0)])
    p.stage("load")
    clock.t = 12.0
    with p.stage("fit"):
        clock.t = 112.0
    p.stage("something new")
    clock.t = 120.0
    p.finish("success after 2:00")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[demo 0:00] load (1/3; 0:10 in the last run with these parameters, about 1:55 left)"
    assert lines[1] == "[demo 0:12] fit (2/3; 1:40 in the last run with these parameters, about 1:45 left)"
    assert lines[2] == "[demo 1:52] something new" and lines[3] == "[demo 2:00] success after 2:00"
    assert p.stages == [{"name": "load", "seconds": 12.0}, {"name": "fit", "seconds": 100.0},
                        {"name": "something new", "seconds": 8.0}]


def test_progress_loops_report_in_logs_and_stay_quiet_when_disabled() -> None:
    out, clock = io.StringIO(), _Clock()
    p = Progress("demo", stream=out, clock=clock, bars=False, log_every_s=30)
    for _ in p.iterate(range(10), stage="simulating"):
        clock.t += 10.0
    lines = out.getvalue().splitlines()
    assert lines[0] == "[demo 0:00] simulating"
    assert lines[1] == "[demo 0:30] simulating: 3/10, about 1:10 left" and len(lines) == 4
    bar = io.StringIO()  # a live tqdm bar (as on a terminal): yields everything, writes to its stream only
    assert list(Progress("demo", stream=bar, bars=True).iterate(range(5), stage="bars")) == list(range(5))
    assert "[demo] bars" in bar.getvalue()
    quiet = io.StringIO()
    q = Progress("demo", stream=quiet, enabled=False)
    assert list(q.iterate([1, 2], stage="x")) == [1, 2] and quiet.getvalue() == ""
    q.finish()
    assert q.stages[0]["name"] == "x"


def test_run_prints_progress_on_stderr_with_an_eta_from_the_last_comparable_run(
    fake: Study, tiny_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_study("fake", db=tiny_db, runs_dir=tmp_path, progress=True)
    first = capsys.readouterr()
    assert first.out == ""  # stdout is for the headline (the CLI prints it)
    assert "[fake 0:00] starting" in first.err and "] querying" in first.err and "last run" not in first.err
    run_study("fake", db=tiny_db, runs_dir=tmp_path, progress=True, seed=8)
    second = capsys.readouterr().err
    assert "querying (2/4; " in second and "in the last run with these parameters" in second
    run_study("fake", db=tiny_db, runs_dir=tmp_path, progress=True, params={"n": 2})
    assert "last run" not in capsys.readouterr().err  # other parameters: no estimate
    run_study("fake", db=tiny_db, runs_dir=tmp_path)
    assert capsys.readouterr().err == ""  # progress off when stderr is not a terminal


# -- warnings --------------------------------------------------------------------------------------------
def test_only_the_named_third_party_warnings_are_silenced(fake: Study, tiny_db: Path, tmp_path: Path) -> None:
    for known in KNOWN_WARNINGS:
        assert known.category is not Warning and issubclass(known.category, Warning)
        assert known.message and known.module and known.why
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rec = run_study("fake", db=tiny_db, runs_dir=tmp_path, params={"mode": "warn"})
    assert rec.ok
    messages = [str(w.message) for w in seen]
    assert "something we do not know about" in messages
    assert not any("BLAS" in m for m in messages)
    with warnings.catch_warnings(record=True) as after:  # the filters were only active during the run
        warnings.simplefilter("always")
        warnings.warn_explicit("PyTensor could not link to a BLAS installation.", UserWarning, "c.py", 1,
                               module="pytensor.link.c.cmodule")
    assert len(after) == 1


@pytest.mark.parametrize("progress", [False, True])
def test_a_quiet_run_hides_the_samplers_info_lines_not_its_warnings(
    fake: Study, tiny_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, progress: bool,
) -> None:
    """``servicelab run -q`` printed PyMC's "Initializing NUTS ..." and "Sequential sampling ..." lines."""
    import logging

    caplog.set_level(logging.INFO, logger="pymc")  # what importing pymc does

    def study_run(ctx):
        log = logging.getLogger("pymc.sampling.mcmc")
        log.info("Initializing NUTS using jitter+adapt_diag...")
        log.warning("a sampler warning")
        return fake_study._analysis(ctx)

    study = replace(fake_study.FAKE, run=study_run)
    monkeypatch.setattr(run_module.catalog, "get_study", lambda name: study)
    assert run_study("fake", db=tiny_db, runs_dir=tmp_path, progress=progress).ok
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("pymc")]
    assert "a sampler warning" in messages
    assert ("Initializing NUTS using jitter+adapt_diag..." in messages) == progress
    assert logging.getLogger("pymc.sampling").level == logging.NOTSET  # restored
