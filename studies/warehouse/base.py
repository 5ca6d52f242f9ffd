"""The :class:`Warehouse` interface every backend implements, and what they share.

A backend implements four methods: ``_run(sql, params)`` (a query already in its dialect),
``_table_names()``, ``column_types(table)`` and ``close()``. Everything a study or the runner
uses (:meth:`Warehouse.query` with the truth guard and transpiling, :meth:`~Warehouse.require`,
:meth:`~Warehouse.tables`, :meth:`~Warehouse.meta`, :meth:`~Warehouse.describe`) is built on them,
so it behaves the same on DuckDB, Spark and a generic DB-API connection.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError
from studies.warehouse.dialects import check_dialect, prepare

__all__ = ["TRUTH_PREFIX", "Warehouse", "frame_sha256", "portable_sha256"]

TRUTH_PREFIX = "truth_"
_TRUTH_RE = re.compile(r"\btruth_\w+", re.IGNORECASE)
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# engine type names -> DuckDB's, so that callers (the data-quality layer) see one vocabulary
_TYPE_NAMES = {"STRING": "VARCHAR", "TEXT": "VARCHAR", "LONG": "BIGINT", "INT64": "BIGINT",
               "INTEGER": "INTEGER", "INT": "INTEGER", "SHORT": "SMALLINT", "BYTE": "TINYINT",
               "FLOAT64": "DOUBLE", "FLOAT8": "DOUBLE", "DOUBLE PRECISION": "DOUBLE",
               "FLOAT": "FLOAT", "REAL": "FLOAT", "BOOL": "BOOLEAN", "TIMESTAMP_NTZ": "TIMESTAMP",
               "DATETIME": "TIMESTAMP"}


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a DataFrame: column names, dtypes and values (row order matters).

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> frame_sha256(a) == frame_sha256(a.copy())
    True
    """
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    if len(frame):
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def portable_sha256(frame: pd.DataFrame) -> str:
    """A hash of a query result that is the same on every engine that computes the same numbers.

    :func:`frame_sha256` is exact: the row order, the dtypes and the last bit of every float count.
    Two engines (or one engine over a file and over Parquet) that compute the same result disagree on
    all three: rows without ``ORDER BY`` come in any order, a count is ``int32`` on one and
    ``int64`` (or a float) on the other, and a floating-point sum depends on the order it adds in.
    This hash is taken over the column names and the *set* of rows, each number written with 12
    significant digits (integral values as integers), so it identifies the data, not the engine.
    The runner's data fingerprint is made of these hashes. (A value that two engines compute on
    either side of a 12-digit rounding boundary still hashes differently; that takes a difference
    in the last bits right at such a boundary, which is rare.)

    Examples
    --------
    >>> a = pd.DataFrame({"n": [1, 2], "x": [0.1 + 0.2, 1.0]})
    >>> b = pd.DataFrame({"n": [2.0, 1.0], "x": [1.0, 0.3]})  # other order, dtype and last bit
    >>> portable_sha256(a) == portable_sha256(b), frame_sha256(a) == frame_sha256(b)
    (True, False)
    """
    h = hashlib.sha256()
    columns = {}
    kinds = []
    for i, name in enumerate(frame.columns):
        kind, text = _canonical(frame.iloc[:, i])
        kinds.append((str(name), kind))
        columns[f"c{i}"] = text
    h.update(repr(kinds).encode())
    if len(frame):
        rows = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy()
        h.update(np.sort(rows).tobytes())
    return h.hexdigest()


def _canonical(col: pd.Series) -> tuple[str, pd.Series]:
    """``(kind, text)`` of a column: one text per value, the same for the same value on any engine."""
    missing = col.isna().to_numpy()
    values = col
    if missing.all():  # no value (or no row): a driver cannot tell the type, so neither does the hash
        return "empty", pd.Series("\\N", index=col.index)
    if col.dtype == object:  # a DB-API driver's Python objects
        present = col[~missing]
        if all(isinstance(v, int | float | decimal.Decimal | np.number) and not isinstance(v, bool | np.bool_)
               for v in present):
            values = pd.to_numeric(col.astype(object).where(~missing, None), errors="coerce").astype(float)
        elif all(isinstance(v, dt.datetime) for v in present):
            values = pd.to_datetime(col.where(~missing, None))
    if pd.api.types.is_bool_dtype(values):
        kind, text = "bool", values.astype(str)
    elif pd.api.types.is_numeric_dtype(values):
        x = values.to_numpy(dtype=float, na_value=np.nan) + 0.0  # -0.0 -> 0.0
        whole = np.isfinite(x) & (np.abs(x) < 2.0**53)
        whole[whole] = x[whole] == np.floor(x[whole])
        as_int = np.where(whole, x, 0).astype(np.int64).astype(str)
        kind, text = "number", pd.Series(np.where(whole, as_int, np.char.mod("%.12g", x)), index=col.index)
    elif pd.api.types.is_datetime64_any_dtype(values):
        kind, text = "datetime", values.astype("datetime64[us]").astype(str)
    else:
        kind, text = "text", values.astype(str)
    return kind, text.where(~missing, "\\N").astype(str)


def normalize_type(name: str) -> str:
    """An engine's column type in DuckDB's vocabulary (``string`` -> ``VARCHAR``).

    Examples
    --------
    >>> normalize_type("timestamp_ntz"), normalize_type("double")
    ('TIMESTAMP', 'DOUBLE')
    """
    upper = str(name).upper().strip()
    return _TYPE_NAMES.get(upper, upper)


class Warehouse(ABC):
    """Read access to a servicelab warehouse, whatever the engine.

    Study SQL is written in DuckDB's dialect with ``?`` / ``$name`` placeholders;
    :meth:`query` transpiles it to the backend's :attr:`dialect` (:mod:`studies.warehouse.dialects`)
    and binds the values with the driver's own paramstyle.

    ``Warehouse(path)`` itself is kept as the shorthand for :class:`DuckDBWarehouse(path)
    <studies.warehouse.connection.DuckDBWarehouse>`; other backends come from
    :func:`~studies.warehouse.urls.open_warehouse`.

    Attributes
    ----------
    backend : str
        ``"duckdb"``, ``"spark"`` or ``"dbapi"``.
    dialect : str
        The SQLGlot dialect queries are transpiled to.
    location : str
        What the warehouse reads (a file, a Parquet folder, a URL without credentials).

    Examples
    --------
    >>> wh = Warehouse("data/tws.duckdb")  # doctest: +SKIP
    >>> wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", ["email"])  # doctest: +SKIP
    """

    backend: str = "abstract"
    dialect: str = "duckdb"
    location: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Warehouse:  # noqa: ARG004 (__init__ takes them)
        if cls is Warehouse:  # the historical constructor: a DuckDB file
            from studies.warehouse.connection import DuckDBWarehouse

            return super().__new__(DuckDBWarehouse)
        return super().__new__(cls)

    # -- what a backend implements ----------------------------------------------------------------
    @abstractmethod
    def _run(self, sql: str, params: list[Any] | dict[str, Any]) -> pd.DataFrame:
        """Run ``sql`` (already in :attr:`dialect`) with bound ``params``; raise on errors."""

    @abstractmethod
    def _table_names(self) -> list[str]:
        """Names of the tables the warehouse holds, sorted."""

    @abstractmethod
    def column_types(self, table: str) -> dict[str, str]:
        """``{column: type}`` of ``table`` in DuckDB's type names, in column order (empty if missing)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection or session."""

    def _error_types(self) -> tuple[type[BaseException], ...]:
        """Driver exceptions that :meth:`query` turns into a :class:`DataError`."""
        return (Exception,)

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, str]:
        """Backend, dialect and location, for the run manifest."""
        return {"backend": self.backend, "dialect": self.dialect, "location": self.location}

    # -- metadata ---------------------------------------------------------------------------------
    def columns(self, table: str) -> list[str]:
        """Column names of ``table`` (empty if the table does not exist)."""
        return list(self.column_types(table))

    def tables(self) -> dict[str, int]:
        """Row count of every table."""
        counts = {}
        for name in self._table_names():
            frame = self._query_checked(f'SELECT count(*) AS n FROM "{name}"', None)
            counts[name] = int(frame.iloc[0, 0])
        return counts

    def require(self, spec: Mapping[str, Sequence[str]] | Sequence[str]) -> None:
        """Check that tables (and optionally their columns) exist.

        Parameters
        ----------
        spec : mapping of table -> columns, or a sequence of table names

        Raises
        ------
        DataError
            Naming every missing table and column, and how to rebuild the warehouse.
        """
        items = spec.items() if isinstance(spec, Mapping) else ((t, ()) for t in spec)
        problems = []
        for table, cols in items:
            have = self.columns(table)
            if not have:
                problems.append(f"table {table!r} is missing")
                continue
            missing = [c for c in cols if c not in have]
            if missing:
                problems.append(f"table {table!r} lacks column(s) {missing}")
        if problems:
            raise DataError(
                f"warehouse {self.location} ({self.backend}): " + "; ".join(problems) + ". Rebuild it "
                "with `servicelab world build --force` (a DuckDB file: --db PATH; a Parquet world: "
                "--format parquet --out DIR), or point --db / --warehouse at a warehouse with the "
                "servicelab schema.")

    @property
    def is_synthetic(self) -> bool:
        """True when the warehouse holds the synthetic world (it has ``world_meta`` and truth tables)."""
        return bool(self.columns("world_meta")) and bool(self.columns("truth_effects"))

    def meta(self) -> dict[str, str]:
        """The ``world_meta`` key/value pairs (empty for a non-synthetic warehouse)."""
        if not self.columns("world_meta"):
            return {}
        frame = self._query_checked("SELECT key, value FROM world_meta", None)
        return dict(zip(frame["key"].astype(str), frame["value"].astype(str), strict=True))

    # -- queries ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
              allow_truth: bool = False) -> pd.DataFrame:
        """Run a parameterised DuckDB-dialect query on this backend and return a DataFrame.

        Parameters
        ----------
        sql : str
            SQL in DuckDB's dialect with ``?`` (or ``$name``) placeholders; never format user
            values into it.
        params : sequence or mapping, optional
            Values bound to the placeholders.
        allow_truth : bool
            Ground-truth tables (``truth_*``) are refused unless this is True; studies never
            estimate from them.

        Raises
        ------
        DataError
            A truth table without ``allow_truth``, a missing table, or any failure of the engine
            (the message has the SQL).
        UnsupportedSQLError
            The query does not transpile to this backend's dialect.
        """
        if not allow_truth and _TRUTH_RE.search(sql):
            raise DataError(
                "this query reads a ground-truth table (truth_*). Studies must not estimate from "
                "the truth; use StudyContext.truth() to put the truth next to an estimate in a report."
            )
        return self._query_checked(sql, params)

    def _query_checked(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None
                       ) -> pd.DataFrame:
        native, bound = prepare(sql, params, check_dialect(self.dialect))
        try:
            return self._run(native, bound)
        except self._error_types() as exc:
            raise DataError(self._failure_message(exc, sql, native)) from exc

    def _failure_message(self, exc: BaseException, sql: str, native: str) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shown = f"SQL: {sql.strip()}" if native == sql else f"SQL: {sql.strip()}\n{self.dialect} SQL: {native}"
        return f"query failed on {self.location} ({self.backend}): {text}\n{shown}"

    @staticmethod
    def _check_table_name(name: str) -> str:
        if not _TABLE_RE.match(name):
            raise DataError(f"{name!r} is not a plain table name (letters, digits, _)")
        return name
