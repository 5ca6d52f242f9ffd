"""The stand-in warehouse of a study that reads no data (``Study(tables=())``).

A study such as ``scorecard`` generates its own synthetic worlds and needs no warehouse file; the
runner gives it a :class:`NoWarehouse`, whose metadata are empty and whose queries raise
:class:`~servicelab.errors.DataError` (a study that declares no tables must not read any).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from servicelab.errors import DataError

__all__ = ["NoWarehouse"]


class NoWarehouse:
    """A warehouse with no tables.

    Examples
    --------
    >>> wh = NoWarehouse()
    >>> wh.tables(), wh.is_synthetic
    ({}, False)
    """

    path = None
    is_synthetic = False
    backend = "none"
    dialect = "duckdb"
    location = "none (the study makes its own data)"

    def describe(self) -> dict[str, str]:
        """Backend, dialect and location, as a real warehouse reports them."""
        return {"backend": self.backend, "dialect": self.dialect, "location": self.location}

    def require(self, tables: Any) -> None:
        """Nothing to check: the study declares no tables."""

    def tables(self) -> dict[str, int]:
        """No tables: an empty mapping of table name to row count."""
        return {}

    def meta(self) -> dict[str, str]:
        """No metadata."""
        return {}

    def columns(self, table: str) -> list[str]:  # noqa: ARG002 (the Warehouse interface)
        """No columns, whatever the table."""
        return []

    def query(self, sql: str,  # noqa: ARG002 (the Warehouse interface)
              params: Sequence[Any] | Mapping[str, Any] | None = None, *,  # noqa: ARG002
              allow_truth: bool = False) -> Any:  # noqa: ARG002
        """Refuse: a study that declares no tables reads none."""
        raise DataError("this study declares no tables (Study(tables=())) and reads no "
                        "warehouse; declare the tables it needs to query them")

    def close(self) -> None:
        """Nothing to close."""
