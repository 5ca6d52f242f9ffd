"""Warehouse access: the embedded DuckDB file by default, parameterised SQL only.

Studies read through SQL so the same query can later run on a server warehouse. User values are
always bound as parameters (``?``), never formatted into the SQL string.
"""

from __future__ import annotations

from studies.warehouse.build import DEFAULT_DB, build_warehouse
from studies.warehouse.connection import TRUTH_PREFIX, Warehouse, frame_sha256

__all__ = ["DEFAULT_DB", "TRUTH_PREFIX", "Warehouse", "build_warehouse", "frame_sha256"]
