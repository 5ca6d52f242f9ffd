"""Pick a warehouse backend from a URL (``--warehouse URL`` on the command line).

=====================================  ============================================================
URL                                    backend
=====================================  ============================================================
``PATH`` or ``duckdb:///PATH.duckdb``  DuckDB file (``--db PATH`` is the shorthand)
``duckdb:///DIR``                      DuckDB over a Parquet world folder
``spark+local:///DIR``                 Spark ``local[2]`` over a Parquet world folder
``spark+local[4]:///DIR``              the same with 4 cores
``FILE.toml``                          a URL, or any DB-API driver and its dialect, described in a
                                       file (:mod:`studies.warehouse.config`)
=====================================  ============================================================

A relative path keeps the URL form with two slashes less: ``duckdb://data/tws.duckdb``. Query
options set DuckDB's spilling: ``duckdb:///DIR?memory_limit=2GB&temp_directory=/scratch``. Cluster
sessions (``spark://``, Spark Connect, Databricks Connect) and DB-API engines (Trino, BigQuery...)
are built in Python and passed to :class:`~studies.warehouse.spark.SparkWarehouse` or
:class:`~studies.warehouse.dbapi.DBAPIWarehouse` (see the book chapter *The warehouse*).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from servicelab.errors import RunError
from studies.warehouse.base import Warehouse
from studies.warehouse.config import is_config_path

__all__ = ["SCHEMES", "open_warehouse", "parse_warehouse_url"]

SCHEMES = ("duckdb", "spark+local")
_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+]*)(?P<cores>\[\d+\])?://(?P<rest>.*)$")


def parse_warehouse_url(url: str) -> tuple[str, str, Path, dict[str, str]]:
    """``(scheme, master, path, options)`` of a warehouse URL; a bare path is a DuckDB file.

    Examples
    --------
    >>> parse_warehouse_url("spark+local[4]:///data/w")
    ('spark+local', 'local[4]', PosixPath('/data/w'), {})
    >>> parse_warehouse_url("duckdb://data/w?memory_limit=2GB")
    ('duckdb', '', PosixPath('data/w'), {'memory_limit': '2GB'})
    """
    text = str(url)
    m = _URL.match(text)
    if m is None:
        if "://" in text:
            raise RunError(f"cannot read the warehouse URL {text!r}; use one of: "
                           "duckdb:///PATH, spark+local:///DIR (or a plain DuckDB file path)")
        return "duckdb", "", Path(text), {}
    scheme = m["scheme"]
    if scheme not in SCHEMES:
        raise RunError(f"unknown warehouse scheme {scheme!r} in {text!r}; the command line knows "
                       f"{', '.join(s + '://' for s in SCHEMES)}. For a cluster or a server engine "
                       "build the backend in Python (SparkWarehouse(session=...), DBAPIWarehouse(...)).")
    parts = urlsplit("x://" + m["rest"])
    path = (parts.netloc + parts.path) if parts.netloc else parts.path
    if not path:
        raise RunError(f"the warehouse URL {text!r} names no file or folder")
    master = ""
    if scheme == "spark+local":
        master = f"local{m['cores'] or '[2]'}"
    elif m["cores"]:
        raise RunError(f"{text!r}: a core count [N] is for spark+local only")
    return scheme, master, Path(path), dict(parse_qsl(parts.query))


def open_warehouse(url: str | Path) -> Warehouse:
    """The warehouse a URL (or a ``.toml`` file) names (see the module docstring), opened read-only.

    Raises
    ------
    RunError
        An unknown scheme or an unreadable URL.
    DataError
        The file or folder does not exist or holds no tables; Spark cannot start (the message says
        how to install pyspark and a Java runtime).

    Examples
    --------
    >>> open_warehouse("nosuch+scheme:///x")
    Traceback (most recent call last):
    ...
    servicelab.errors.RunError: unknown warehouse scheme 'nosuch+scheme' in 'nosuch+scheme:///x'; ...
    """
    if is_config_path(url):
        from studies.warehouse.config import open_warehouse_config

        return open_warehouse_config(url)
    scheme, master, path, options = parse_warehouse_url(str(url))
    if scheme == "duckdb":
        from studies.warehouse.connection import DuckDBWarehouse

        unknown = set(options) - {"memory_limit", "temp_directory", "threads"}
        if unknown:
            raise RunError(f"unknown duckdb URL option(s) {sorted(unknown)}; known: memory_limit, "
                           "temp_directory, threads")
        threads = int(options["threads"]) if "threads" in options else None
        return DuckDBWarehouse(path, memory_limit=options.get("memory_limit"),
                               temp_directory=options.get("temp_directory"), threads=threads)
    from studies.warehouse.spark import SparkWarehouse

    if options:
        raise RunError(f"spark+local URLs take no options, got {sorted(options)}")
    return SparkWarehouse(path, master=master)
