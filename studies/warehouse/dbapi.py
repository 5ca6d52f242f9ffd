"""Any DB-API 2 connection as a warehouse: Trino, BigQuery, Snowflake, Postgres... and DuckDB.

The connection's driver does the binding (its own paramstyle, from :data:`~studies.warehouse.
dialects.PARAMSTYLES`); the queries are transpiled to the dialect named. For example, with the
``trino`` package::

    import trino
    con = trino.dbapi.connect(host="trino.internal", port=8080, user="me", catalog="hive",
                              schema="support")
    wh = DBAPIWarehouse(con, dialect="trino", location="trino://trino.internal/hive/support")

and with SQLAlchemy (any engine URL; ``engine.raw_connection()`` is a DB-API connection)::

    engine = sqlalchemy.create_engine("bigquery://project/dataset")
    wh = DBAPIWarehouse(engine.raw_connection(), dialect="bigquery")

The tests drive this same path with DuckDB's own DB-API connection.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pandas as pd

from studies.warehouse.base import Warehouse, normalize_type
from studies.warehouse.dialects import check_dialect

__all__ = ["DBAPIWarehouse"]


class DBAPIWarehouse(Warehouse):
    """A warehouse behind a DB-API 2 connection (``cursor()``, ``execute``, ``description``).

    Parameters
    ----------
    connection : DB-API connection
        An open connection; :meth:`close` closes it.
    dialect : str
        The SQL dialect the engine speaks (one of :data:`~studies.warehouse.dialects.DIALECTS`).
    location : str
        How to name the warehouse in messages and the manifest (no credentials).
    schema : str, optional
        The schema whose tables :meth:`tables` lists through ``information_schema`` (default: the
        engine's current schema, or ``main`` for DuckDB).

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE contacts AS SELECT 1 AS contact_id, 'email' AS channel")
    >>> wh = DBAPIWarehouse(con, dialect="duckdb", location="memory")
    >>> wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", ["email"])["n"].tolist()
    [1]
    >>> wh.tables()
    {'contacts': 1}
    """

    backend = "dbapi"

    def __init__(self, connection: Any, *, dialect: str, location: str = "DB-API connection",
                 schema: str | None = None) -> None:
        self.dialect = check_dialect(dialect)
        self.location = location
        self._con = connection
        self._schema = schema if schema is not None else ("main" if self.dialect == "duckdb" else None)

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def _run(self, sql: str, params: list[Any] | dict[str, Any]) -> pd.DataFrame:
        cursor = self._con.cursor()
        try:
            if params:
                cursor.execute(sql, params)
            else:
                cursor.execute(sql)
            names = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchall()
        finally:
            close = getattr(cursor, "close", None)
            if close is not None:
                close()
        return _typed(pd.DataFrame.from_records(rows, columns=names))

    def _information_schema(self, sql_tail: str, params: list[Any]) -> pd.DataFrame:
        where = "table_schema = ?" if self._schema is not None else "table_schema = current_schema()"
        values = [self._schema] if self._schema is not None else []
        return self._query_checked(f"SELECT * FROM information_schema.{sql_tail.format(where=where)}",
                                   values + params)

    def _table_names(self) -> list[str]:
        frame = self._information_schema("tables WHERE {where} ORDER BY table_name", [])
        return [str(n) for n in frame["table_name"]]

    def column_types(self, table: str) -> dict[str, str]:
        """``{column: type}`` from ``information_schema.columns`` (DuckDB's type names)."""
        frame = self._information_schema("columns WHERE {where} AND table_name = ? ORDER BY ordinal_position",
                                         [table])
        return {str(r["column_name"]): normalize_type(r["data_type"]) for _, r in frame.iterrows()}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A driver's Python objects as the dtypes DuckDB's own frames have: ``Decimal`` columns as
    float64 (what a study computes with), date-times as ``datetime64``. Other columns are kept.

    Examples
    --------
    >>> import decimal
    >>> _typed(pd.DataFrame({"x": [decimal.Decimal("1.5"), None]})).dtypes["x"]
    dtype('float64')
    """
    for col in frame.columns:
        s = frame[col]
        if s.dtype != object:
            continue
        present = s.dropna()
        if not len(present):
            continue
        if all(isinstance(v, decimal.Decimal | int | float) and not isinstance(v, bool) for v in present):
            frame[col] = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce").astype(float) \
                if any(isinstance(v, decimal.Decimal | float) for v in present) else s
        elif all(isinstance(v, dt.datetime) and v.tzinfo is None for v in present):
            frame[col] = pd.to_datetime(s.where(s.notna(), None)).astype("datetime64[us]")
    return frame
