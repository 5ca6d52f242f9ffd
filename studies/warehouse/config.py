"""A warehouse described in a TOML file: ``servicelab run STUDY --warehouse team.toml``.

Either a URL that :func:`~studies.warehouse.urls.open_warehouse` knows::

    [warehouse]
    url = "spark+local:///data/tws-parquet"

or any DB-API 2 driver, named by its ``connect`` function, with the dialect its engine speaks
(the study SQL is transpiled to it) and the driver's keyword arguments::

    [warehouse]
    connect = "trino.dbapi:connect"
    dialect = "trino"
    location = "trino://trino.internal/hive/support"   # how manifests name it (optional)

    [warehouse.args]
    host = "trino.internal"
    port = 8080
    user = "analyst"
    catalog = "hive"
    schema = "support"

    [warehouse.args_from_env]      # secrets stay out of the file: argument = environment variable
    password = "TRINO_PASSWORD"

A SQLAlchemy engine is not itself a DB-API connection: build it in Python and pass
``engine.raw_connection()`` to :class:`~studies.warehouse.dbapi.DBAPIWarehouse`. The tests drive
this file path with ``connect = "duckdb:connect"``.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path
from typing import Any

from servicelab.errors import DataError, RunError
from studies.warehouse.base import Warehouse

__all__ = ["is_config_path", "open_warehouse_config"]

_KEYS = {"url", "connect", "dialect", "location", "schema", "args", "args_from_env"}


def is_config_path(target: str | Path) -> bool:
    """True when ``--warehouse`` names a TOML file rather than a URL.

    Examples
    --------
    >>> is_config_path("team.toml"), is_config_path("duckdb:///data/tws.duckdb")
    (True, False)
    """
    return str(target).endswith(".toml") and "://" not in str(target)


def open_warehouse_config(path: str | Path) -> Warehouse:
    """The warehouse a TOML file describes (see the module docstring).

    Raises
    ------
    RunError
        The file is missing or not TOML, has no ``[warehouse]`` table, an unknown key, neither or
        both of ``url`` and ``connect``, a ``connect`` that cannot be imported, an unknown dialect, or
        an environment variable named in ``args_from_env`` that is unset.
    DataError
        The driver could not connect (the message has the driver's first line, never the arguments).
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RunError(f"warehouse file {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RunError(f"cannot read the warehouse file {path}: {exc}") from exc
    conf = doc.get("warehouse")
    if not isinstance(conf, dict):
        raise RunError(f"{path} has no [warehouse] table; see studies/warehouse/config.py for the format")
    unknown = sorted(set(conf) - _KEYS)
    if unknown:
        raise RunError(f"{path}: unknown key(s) {unknown} in [warehouse]; known: {', '.join(sorted(_KEYS))}")
    if ("url" in conf) == ("connect" in conf):
        raise RunError(f"{path}: [warehouse] needs exactly one of url = \"...\" or connect = \"module:function\"")
    if "url" in conf:
        from studies.warehouse.urls import open_warehouse

        return open_warehouse(str(conf["url"]))
    return _dbapi(path, conf)


def _dbapi(path: Path, conf: dict[str, Any]) -> Warehouse:
    from studies.warehouse.dbapi import DBAPIWarehouse
    from studies.warehouse.dialects import check_dialect

    if "dialect" not in conf:
        raise RunError(f"{path}: a DB-API [warehouse] needs dialect = \"...\" (the SQL its engine speaks)")
    dialect = check_dialect(conf["dialect"])
    target = str(conf["connect"])
    module_name, _, func_name = target.partition(":")
    if not module_name or not func_name:
        raise RunError(f"{path}: connect = {target!r} must be \"module:function\", e.g. \"trino.dbapi:connect\"")
    try:
        connect = getattr(importlib.import_module(module_name), func_name)
    except ImportError as exc:
        raise RunError(f"{path}: cannot import {module_name!r} for connect = {target!r}; install the "
                       f"engine's DB-API driver (pip install {module_name.split('.')[0]})") from exc
    except AttributeError as exc:
        raise RunError(f"{path}: {module_name!r} has no {func_name!r} (connect = {target!r})") from exc
    args = dict(conf.get("args") or {})
    for arg, var in (conf.get("args_from_env") or {}).items():
        if var not in os.environ:
            raise RunError(f"{path}: args_from_env.{arg} names the environment variable {var}, which is unset")
        args[arg] = os.environ[var]
    location = str(conf.get("location") or f"{dialect} via {target}")
    try:
        con = connect(**args)
    except Exception as exc:  # any driver's error type; the arguments (a password) are not shown
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot connect to the warehouse {location} ({target}): {first}") from exc
    return DBAPIWarehouse(con, dialect=dialect, location=location, schema=conf.get("schema"))
