"""The embedded DuckDB backend: a DuckDB file, or a folder of Parquet files (a Parquet world).

A Parquet world (``servicelab world build --format parquet --out DIR``) is read in place: each
table is a view over ``DIR/<table>.parquet`` or ``DIR/<table>/**/*.parquet`` (the contacts are
partitioned by day), so nothing is loaded before a query asks for it and DuckDB pushes filters
and projections into the files. For worlds larger than memory, ``memory_limit`` caps DuckDB's
buffer pool and ``temp_directory`` is where it spills sorts, joins and aggregates beyond it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from servicelab.errors import DataError
from studies.warehouse.base import TRUTH_PREFIX, Warehouse, frame_sha256, normalize_type

__all__ = ["TRUTH_PREFIX", "DuckDBWarehouse", "Warehouse", "frame_sha256", "parquet_tables"]


def parquet_tables(folder: str | Path) -> dict[str, str]:
    """``{table: glob}`` of a Parquet world folder (``name.parquet`` files and ``name/`` folders).

    Examples
    --------
    >>> parquet_tables("/nonexistent")
    {}
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file() and entry.suffix == ".parquet":
            found[entry.stem] = str(entry)
        elif entry.is_dir() and next(entry.rglob("*.parquet"), None) is not None:
            found[entry.name] = str(entry / "**" / "*.parquet")
    return found


class DuckDBWarehouse(Warehouse):
    """Read access to a DuckDB file or a Parquet world folder, through embedded DuckDB.

    Parameters
    ----------
    path : str or Path
        A DuckDB file (``data/tws.duckdb``) or a folder of Parquet tables.
    memory_limit : str, optional
        DuckDB's memory cap, e.g. ``"2GB"``; beyond it, DuckDB spills to ``temp_directory``.
    temp_directory : str or Path, optional
        Where DuckDB spills (default: DuckDB's own, next to the file or in ``.tmp``).
    threads : int, optional
        Worker threads (default: all cores).

    Raises
    ------
    DataError
        If the file or folder does not exist, or holds no tables (the message says how to build it).

    Examples
    --------
    >>> wh = DuckDBWarehouse("data/tws.duckdb", memory_limit="2GB")  # doctest: +SKIP
    >>> wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", ["email"])  # doctest: +SKIP
    """

    backend = "duckdb"
    dialect = "duckdb"

    def __init__(self, path: str | Path, *, memory_limit: str | None = None,
                 temp_directory: str | Path | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        if not self.path.exists():
            raise DataError(
                f"warehouse file {self.path} does not exist. Build the synthetic world with "
                f"`servicelab world build --db {self.path}` (or `make run`, which builds it when missing)"
                f", or as Parquet with `servicelab world build --format parquet --out {self.path}`."
            )
        self.is_parquet = self.path.is_dir()
        try:
            if self.is_parquet:
                self._con = duckdb.connect(":memory:")
            else:
                self._con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:  # corrupt file, lock held by a writer, not a DuckDB file...
            raise DataError(f"cannot open warehouse {self.path} read-only: {exc}") from exc
        settings: dict[str, Any] = {"memory_limit": memory_limit, "threads": threads,
                                    "temp_directory": None if temp_directory is None else str(temp_directory)}
        for key, value in settings.items():
            if value is not None:
                self._con.execute(f"SET {key} = ?", [value])
        if memory_limit is not None:  # lets large aggregates stream instead of keeping row order
            self._con.execute("SET preserve_insertion_order = false")
        if self.is_parquet:
            tables = parquet_tables(self.path)
            if not tables:
                raise DataError(f"{self.path} holds no Parquet tables; write a world there with "
                                f"`servicelab world build --format parquet --out {self.path}`")
            for name, glob in tables.items():
                self._check_table_name(name)
                literal = glob.replace("'", "''")
                self._con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM "
                                  f"read_parquet('{literal}', hive_partitioning = false)")

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection (read-only), for engines that push work into SQL."""
        return self._con

    # -- backend ----------------------------------------------------------------------------------
    def _error_types(self) -> tuple[type[BaseException], ...]:
        return (duckdb.Error,)

    def _run(self, sql: str, params: list[Any] | dict[str, Any]) -> pd.DataFrame:
        return self._con.execute(sql, params).df()

    def _failure_message(self, exc: BaseException, sql: str, native: str) -> str:  # noqa: ARG002 (DuckDB runs the DuckDB text)
        return f"query failed on {self.path}: {exc}\nSQL: {sql.strip()}"

    def _table_names(self) -> list[str]:
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def column_types(self, table: str) -> dict[str, str]:
        """``{column: DuckDB type}`` of ``table`` in column order (empty if it does not exist)."""
        rows = self._con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {r[0]: normalize_type(r[1]) for r in rows}
