"""A warehouse described in a TOML file (``--warehouse team.toml``): a URL, or a DB-API driver and
its dialect (driven here by DuckDB's own ``duckdb.connect``), and what a bad file says."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servicelab.errors import DataError, RunError
from studies.cli import main
from studies.runner import run_study
from studies.warehouse import open_warehouse
from tests.studies import fake_study


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts AS SELECT range AS contact_id, (range % 7) * 60.0 AS handle_s "
                "FROM range(1000)")
    con.close()
    return path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "team.toml"
    path.write_text(text)
    return path


def test_dbapi_driver_from_a_file_runs_a_study(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SL_TEST_DB", str(db))
    cfg = _write(tmp_path, '[warehouse]\nconnect = "duckdb:connect"\ndialect = "duckdb"\n'
                           'location = "team warehouse"\n[warehouse.args]\nread_only = true\n'
                           '[warehouse.args_from_env]\ndatabase = "SL_TEST_DB"\n')
    with open_warehouse(cfg) as wh:
        assert wh.describe() == {"backend": "dbapi", "dialect": "duckdb", "location": "team warehouse"}
        assert wh.tables() == {"contacts": 1000}
        assert wh.query("SELECT count(*) AS n FROM contacts WHERE handle_s >= ?", [120])["n"].iloc[0] == 714
    fake_study.install(monkeypatch.setattr)
    rec = run_study("fake", warehouse=str(cfg), runs_dir=tmp_path / "runs")
    assert rec.ok and rec.manifest["data"]["backend"] == "dbapi"
    assert rec.manifest["data"]["location"] == "team warehouse"
    assert main(["run", "fake", "--warehouse", str(cfg), "--runs-dir", str(tmp_path / "runs"), "-q"]) == 0
    assert "run folder:" in capsys.readouterr().out


def test_url_from_a_file(db: Path, tmp_path: Path) -> None:
    with open_warehouse(_write(tmp_path, f'[warehouse]\nurl = "duckdb://{db}"\n')) as wh:
        assert wh.backend == "duckdb" and wh.tables() == {"contacts": 1000}


@pytest.mark.parametrize(("text", "message"), [
    ("not = [toml", "cannot read the warehouse file"),
    ("[other]\nx = 1\n", "has no \\[warehouse\\] table"),
    ('[warehouse]\nurl = "duckdb:///x"\nconnect = "duckdb:connect"\n', "exactly one of url"),
    ('[warehouse]\nconect = "duckdb:connect"\n', "unknown key\\(s\\) \\['conect'\\]"),
    ('[warehouse]\nconnect = "duckdb:connect"\n', "needs dialect"),
    ('[warehouse]\nconnect = "duckdb:connect"\ndialect = "oracle"\n', "unknown SQL dialect 'oracle'"),
    ('[warehouse]\nconnect = "duckdb.connect"\ndialect = "duckdb"\n', 'must be "module:function"'),
    ('[warehouse]\nconnect = "no_such_driver.dbapi:connect"\ndialect = "trino"\n',
     "cannot import 'no_such_driver.dbapi'.*pip install no_such_driver"),
    ('[warehouse]\nconnect = "duckdb:nope"\ndialect = "duckdb"\n', "has no 'nope'"),
    (('[warehouse]\nconnect = "duckdb:connect"\ndialect = "duckdb"\n[warehouse.args_from_env]\n'
      'password = "SL_TEST_UNSET_VARIABLE"\n'), "SL_TEST_UNSET_VARIABLE, which is unset"),
])
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, message: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SL_TEST_UNSET_VARIABLE", raising=False)
    with pytest.raises(RunError, match=message):
        open_warehouse(_write(tmp_path, text))


def test_a_driver_that_cannot_connect_is_a_data_error_without_its_arguments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SL_TEST_SECRET", "hunter2")
    cfg = _write(tmp_path, '[warehouse]\nconnect = "duckdb:connect"\ndialect = "duckdb"\n[warehouse.args]\n'
                           f'database = "{tmp_path}/no/such/dir/x.duckdb"\nread_only = true\n'
                           '[warehouse.args_from_env]\nconfig = "SL_TEST_SECRET"\n')
    with pytest.raises(DataError, match="cannot connect to the warehouse duckdb via duckdb:connect") as info:
        open_warehouse(cfg)
    assert "hunter2" not in str(info.value)
    assert main(["run", "help-bot", "--warehouse", str(tmp_path / "missing.toml"), "--runs-dir",
                 str(tmp_path / "runs")]) == 2
    assert "warehouse file" in capsys.readouterr().err and not (tmp_path / "runs").exists()
