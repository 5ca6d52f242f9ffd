"""A thin, read-only DuckDB wrapper that validates tables and columns and fingerprints query results."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from servicelab.errors import DataError

TRUTH_PREFIX = "truth_"
_TRUTH_RE = re.compile(r"\btruth_\w+", re.IGNORECASE)


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


class Warehouse:
    """Read access to a servicelab warehouse (DuckDB).

    Parameters
    ----------
    path : str or Path
        Path of the DuckDB file, e.g. ``data/tws.duckdb``.

    Raises
    ------
    DataError
        If the file does not exist (the message says how to build it).

    Examples
    --------
    >>> wh = Warehouse("data/tws.duckdb")  # doctest: +SKIP
    >>> wh.query("SELECT count(*) AS n FROM contacts WHERE channel = ?", ["email"])  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(
                f"warehouse file {self.path} does not exist. Build the synthetic world with "
                f"`servicelab world build --db {self.path}` (or `make run`, which builds it when missing)."
            )
        try:
            self._con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:  # corrupt file, lock held by a writer, not a DuckDB file...
            raise DataError(f"cannot open warehouse {self.path} read-only: {exc}") from exc

    # -- lifecycle --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection (read-only), for engines that push work into SQL."""
        return self._con

    # -- metadata ---------------------------------------------------------------------------------
    def tables(self) -> dict[str, int]:
        """Row count of every table in the main schema."""
        names = [
            r[0]
            for r in self._con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY table_name"
            ).fetchall()
        ]
        return {n: int(self._con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}

    def columns(self, table: str) -> list[str]:
        """Column names of ``table`` (empty if the table does not exist)."""
        rows = self._con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [r[0] for r in rows]

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
                f"warehouse {self.path}: " + "; ".join(problems) + ". Rebuild it with "
                f"`servicelab world build --db {self.path} --force`, or point --db at a warehouse with "
                "the servicelab schema."
            )

    @property
    def is_synthetic(self) -> bool:
        """True when the warehouse holds the synthetic world (it has ``world_meta`` and truth tables)."""
        return bool(self.columns("world_meta")) and bool(self.columns("truth_effects"))

    def meta(self) -> dict[str, str]:
        """The ``world_meta`` key/value pairs (empty for a non-synthetic warehouse)."""
        if not self.columns("world_meta"):
            return {}
        return dict(self._con.execute("SELECT key, value FROM world_meta").fetchall())

    # -- queries ----------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
              allow_truth: bool = False) -> pd.DataFrame:
        """Run a parameterised query and return a DataFrame.

        Parameters
        ----------
        sql : str
            SQL with ``?`` (or ``$name``) placeholders; never format user values into it.
        params : sequence or mapping, optional
            Values bound to the placeholders.
        allow_truth : bool
            Ground-truth tables (``truth_*``) are refused unless this is True; studies never
            estimate from them.
        """
        if not allow_truth and _TRUTH_RE.search(sql):
            raise DataError(
                "this query reads a ground-truth table (truth_*). Studies must not estimate from "
                "the truth; use StudyContext.truth() to put the truth next to an estimate in a report."
            )
        try:
            return self._con.execute(sql, params if params is not None else []).df()
        except duckdb.Error as exc:
            raise DataError(f"query failed on {self.path}: {exc}\nSQL: {sql.strip()}") from exc
