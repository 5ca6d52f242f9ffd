"""Warehouse access: one :class:`Warehouse` interface, several engines, parameterised SQL only.

Studies read through SQL written once in DuckDB's dialect; each backend transpiles it with SQLGlot
(:mod:`studies.warehouse.dialects`) and binds user values as parameters, never formatting them
into the SQL string.

- :class:`DuckDBWarehouse`: the embedded default, a DuckDB file or a Parquet world folder;
- :class:`~studies.warehouse.spark.SparkWarehouse`: Spark SQL through a ``SparkSession``
  (``local[2]`` in tests, ``spark://...`` or Databricks Connect on a cluster);
- :class:`~studies.warehouse.dbapi.DBAPIWarehouse`: any DB-API 2 connection (Trino, BigQuery,
  Postgres ...) with the dialect it speaks.

:func:`open_warehouse` picks one from a URL (``duckdb:///data/tws.duckdb``,
``spark+local:///data/tws-parquet``...).
"""

from __future__ import annotations

from studies.warehouse.base import TRUTH_PREFIX, Warehouse, frame_sha256
from studies.warehouse.build import DEFAULT_DB, build_parquet_world, build_warehouse
from studies.warehouse.connection import DuckDBWarehouse, parquet_tables
from studies.warehouse.dialects import DIALECTS, UnsupportedSQLError, prepare, transpile
from studies.warehouse.urls import open_warehouse

__all__ = ["DEFAULT_DB", "DIALECTS", "TRUTH_PREFIX", "DuckDBWarehouse", "UnsupportedSQLError", "Warehouse",
           "build_parquet_world", "build_warehouse", "frame_sha256", "open_warehouse", "parquet_tables",
           "prepare", "transpile"]
