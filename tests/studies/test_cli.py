"""The ``servicelab`` command line: exit codes, messages, signals, lazy imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from studies.cli import build_parser, declared_commands, main
from studies.runner import list_runs
from tests.studies import fake_study

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pymc", "econml", "dowhy", "causalpy", "sklearn", "pytensor", "statsmodels")


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, (range % 7) * 60.0 AS handle_s "
                "FROM range(1000)")
    con.close()
    return path


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_study.install(monkeypatch.setattr)


# -- usage errors: exit 2, nothing written ---------------------------------------------------------
def test_unknown_study_exits_2_with_the_known_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "no-such-study", "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "unknown study 'no-such-study'" in err and "routing-ab" in err
    assert main(["run", "routing_ab"]) == 2
    assert "did you mean 'routing-ab'" in capsys.readouterr().err


def test_missing_warehouse_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(tmp_path / "x.duckdb"), "--runs-dir", str(tmp_path)]) == 2
    assert "servicelab world build --db" in capsys.readouterr().err


def test_bad_set_syntax(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(tmp_path / "x"), "--runs-dir", str(tmp_path), "--set",
                 "alpha"]) == 2
    assert "key=value" in capsys.readouterr().err


@pytest.mark.parametrize(("study", "setting", "message"), [
    ("routing-ab", "alpha=1.5", r"parameter 'alpha' must be in (0, 1), got 1.5"),
    ("assist-rollout", "n_boot=0", r"parameter 'n_boot' must be >= 20, got 0"),
    ("help-bot", "trim=0.5", r"parameter 'trim' must be in [0, 0.5), got 0.5"),
    ("resolution-time", "chains=one", r"parameter 'chains' expects int, got 'one'"),
    ("staffing", "target_sl=1", r"parameter 'target_sl' must be in (0, 1), got 1.0"),
])
def test_bad_parameters_fail_before_any_data_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, study: str, setting: str, message: str
) -> None:
    # the warehouse does not exist: a parameter error must come first, and nothing may be created
    code = main(["run", study, "--db", str(tmp_path / "absent.duckdb"), "--runs-dir", str(tmp_path / "runs"),
                 "--set", setting])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


# -- runs: exit 0 and 1, listing, show, clean ------------------------------------------------------
def test_run_then_list_and_show(capsys: pytest.CaptureFixture[str], world_db: Path, tmp_path: Path) -> None:
    assert main(["run", "routing-ab", "--db", str(world_db), "--runs-dir", str(tmp_path), "--seed", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "run folder:" in out and "[routing-ab 0:00] starting" in captured.err
    assert "] loading the experiment's customers" in captured.err and "] success after" in captured.err
    folder = Path(out.strip().splitlines()[-1].split("run folder: ")[1])
    assert (folder / "manifest.json").exists()
    assert main(["runs", "--json", "--runs-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["run_id"] == folder.name and rows[0]["status"] == "success"
    assert main(["runs", "show", folder.name[-6:], "--runs-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "status    success" in text and "headline  " in text and "seed      2" in text
    assert "Provenance" not in text  # a summary, not the whole report
    assert main(["runs", "show", folder.name[-6:], "--json", "--runs-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["environment"]["packages"]["numpy"]


def test_failed_run_exits_1_with_a_clear_message(fake: None, tiny_db: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "fake", "--db", str(tiny_db), "--runs-dir", str(tmp_path), "-q"]
    assert main([*args, "--set", "mode=raise"]) == 1
    err = capsys.readouterr().err
    assert "run FAILED: ZeroDivisionError: boom during 'plotting'" in err
    assert "traceback is in" in err and "error.txt" in err and "Traceback (most recent" not in err
    assert main([*args, "--set", "mode=fail"]) == 1
    assert "failed checks: check: a check" in capsys.readouterr().err
    (failed,) = [r for r in list_runs(tmp_path) if r["status"] == "failed"][:1]
    assert main(["runs", "show", failed["run_id"].rsplit("-", 1)[1], "--runs-dir", str(tmp_path)]) == 0
    assert "error     ZeroDivisionError: boom" in capsys.readouterr().out


def test_full_disk_is_a_message_not_a_traceback(fake: None, tiny_db: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import pandas as pd

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    assert main(["run", "fake", "--db", str(tiny_db), "--runs-dir", str(tmp_path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "run FAILED: the disk is full (" in err and "MB free on" in err
    assert "outputs kept: results.json" in err and ".failed" in err and "Traceback" not in err


def test_full_disk_message_never_points_to_a_missing_error_file(
    fake: None, tiny_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    import pandas as pd

    from studies.runner import run as run_module

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_write = run_module.write_text_atomic
    calls = {"n": 0}

    def write_after_start(path, text):  # the start manifest and the first stage note fit
        calls["n"] += 1
        return real_write(path, text) if calls["n"] <= 2 else no_space()

    monkeypatch.setattr(run_module, "write_text_atomic", write_after_start)
    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    monkeypatch.setattr(os, "fsync", no_space)
    assert main(["run", "fake", "--db", str(tiny_db), "--runs-dir", str(tmp_path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "run FAILED: the disk is full (" in err
    assert "no traceback: error.txt could not be written" in err
    assert "the traceback is in" not in err and "unexpected OSError" not in err  # a full disk is not unexpected
    (folder,) = (tmp_path / "fake").iterdir()
    assert not (folder / "error.txt").exists()


def test_runs_clean_dry_run_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = tmp_path / "fake" / ".tmp-20260105T101500Z-abcdef"
    dead.mkdir(parents=True)
    (dead / "manifest.json").write_text(json.dumps({"study": "fake", "status": "running", "pid": 2**22 + 7,
                                                    "host": os.uname().nodename, "started_at": "2026"}))
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "abandoned" in captured.out and "runs clean" in captured.err
    assert main(["runs", "clean", "--dry-run", "--runs-dir", str(tmp_path)]) == 0
    assert f"would remove {dead}" in capsys.readouterr().out and dead.exists()
    assert main(["runs", "clean", "--older-than", "1d", "--runs-dir", str(tmp_path)]) == 0
    assert "removed 0 abandoned" in capsys.readouterr().out and dead.exists()
    assert main(["runs", "clean", "--runs-dir", str(tmp_path)]) == 0
    assert f"removed {dead}" in capsys.readouterr().out and not dead.exists()
    assert main(["runs", "clean", "--older-than", "soon", "--runs-dir", str(tmp_path)]) == 2
    assert main(["runs", "show", "--runs-dir", str(tmp_path)]) == 2


def test_studies_lists_parameters_with_their_ranges(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICELAB_CACHE_DIR", str(tmp_path))
    assert main(["studies"]) == 0
    out = capsys.readouterr().out
    assert "routing-ab" in out and "--set alpha=<float>  (default 0.05; in (0, 1))" in out
    assert "--set n_boot=<int>  (default 199; >= 20)" in out
    assert main(["studies", "--json"]) == 0  # from the index written by the first call
    studies = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert {p["name"]: p["allowed"] for p in studies["help-bot"]["params"]}["max_rows"] == \
        "0 (all rows) or at least 1000"


# -- plugin commands --------------------------------------------------------------------------------------
def test_plugin_commands_are_listed_without_being_imported() -> None:
    erlang = REPO / "studies" / "commands" / "erlang.py"
    (name, help_), *_ = declared_commands(erlang)
    assert name == "erlang" and "Erlang" in help_
    parser = build_parser(load_commands=())
    assert "erlang" in parser.format_help()
    full = build_parser()  # everything loaded: the erlang command parses its own options
    args = full.parse_args(["erlang", "--arrivals-per-hour", "100", "--aht-s", "300", "--agents", "12"])
    assert args.command == "erlang"


def test_erlang_command_still_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["erlang", "--arrivals-per-hour", "100", "--aht-s", "300", "--agents", "12"]) == 0
    assert capsys.readouterr().out.strip()


# -- lazy imports (in a fresh interpreter) -------------------------------------------------------------------
_PROBE = """
import json, sys
from studies.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
mods = sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m in ('pandas', 'matplotlib')
              or m.startswith('studies.catalog.'))
print(json.dumps({{"code": code, "modules": mods}}), file=sys.stderr)
"""


def _probe(args: list[str], cache: Path) -> tuple[int, set[str]]:
    env = {**os.environ, "SERVICELAB_CACHE_DIR": str(cache)}
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], {m.split(".")[0] if not m.startswith("studies.") else m for m in report["modules"]}


def test_light_commands_do_not_import_the_analysis_libraries(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # cold: the catalog index is built by importing the study modules, which import no analysis library
    code, mods = _probe(["studies"], cache)
    assert code == 0 and not {"pymc", "econml", "dowhy", "causalpy", "pytensor"} & mods, mods
    # warm: the index answers; no study module, and not even pandas, is imported
    code, mods = _probe(["studies"], cache)
    assert code == 0 and mods == set(), mods
    code, mods = _probe(["--help"], cache)
    assert code == 0 and mods == set(), mods
    code, mods = _probe(["run", "routng-ab"], cache)
    assert code == 2 and mods == set(), mods
    code, mods = _probe(["runs", "--runs-dir", str(tmp_path / "none")], cache)
    assert code == 0 and mods == set(), mods


# -- real signals (a slow fake study in a subprocess) ----------------------------------------------------
SIGNAL_CASES = {"sigterm": "slow", "sigint-swallowed": "swallow", "sigkill": "slow"}


@pytest.fixture(scope="module")
def slow_runs(tmp_path_factory: pytest.TempPathFactory):
    """One slow fake run per signal case, all started at once so that their start-up times overlap."""
    root = tmp_path_factory.mktemp("signals")
    db = root / "tiny.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, (range % 7) * 60.0 AS handle_s "
                "FROM range(1000)")
    con.close()
    procs = {}
    for case, mode in SIGNAL_CASES.items():
        runs = root / case
        procs[case] = (subprocess.Popen(
            [sys.executable, "-m", "tests.studies.fake_study", "run", "fake", "--db", str(db),
             "--runs-dir", str(runs), "--set", f"mode={mode}", "--set", "seconds=300"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
        ), runs)
    yield procs
    for proc, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_for_stage(proc: subprocess.Popen, runs: Path, stage: str = "waiting", timeout: float = 180) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for manifest in (runs / "fake").glob(".tmp-*/manifest.json"):
            try:
                if (json.loads(manifest.read_text()).get("progress") or {}).get("stage") == stage:
                    return manifest.parent
            except ValueError:
                continue
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("the run never reached its slow stage")


@pytest.mark.parametrize(("case", "sig"), [("sigterm", signal.SIGTERM), ("sigint-swallowed", signal.SIGINT)])
def test_signals_end_in_an_interrupted_run_and_exit_130(slow_runs, case: str, sig: int) -> None:
    """SIGTERM, and a Ctrl-C that the study swallows (as PyMC does), both end as ``.failed``, exit 130."""
    proc, runs = slow_runs[case]
    tmp = _wait_for_stage(proc, runs)
    (row,) = list_runs(runs)
    assert row["status"] == "running" and row["stage"] == "waiting" and row["pid"] == proc.pid
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    name = signal.Signals(sig).name
    assert f"run INTERRUPTED: interrupted by {name}" in err and "during 'waiting'" in err
    assert out == "" and "Traceback" not in err  # no headline, no success
    (row,) = list_runs(runs)
    assert row["status"] == "interrupted" and row["folder"] == tmp.name.removeprefix(".tmp-") + ".failed"


def test_sigkill_leaves_an_abandoned_run_that_clean_removes(slow_runs, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    proc, runs = slow_runs["sigkill"]
    tmp = _wait_for_stage(proc, runs)
    proc.kill()
    proc.communicate(timeout=60)
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    listing = capsys.readouterr().out
    assert "abandoned" in listing and "gone during stage 'waiting'" in listing  # not "no runs"
    assert main(["runs", "show", tmp.name[-6:], "--runs-dir", str(runs)]) == 0
    assert "status    abandoned" in capsys.readouterr().out
    assert main(["runs", "clean", "--runs-dir", str(runs)]) == 0
    assert not tmp.exists() and list_runs(runs) == []
