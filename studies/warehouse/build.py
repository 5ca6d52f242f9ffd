"""Build the embedded warehouse from the synthetic world, atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from servicelab.errors import RunError

if TYPE_CHECKING:
    from studies.world import WorldConfig

DEFAULT_DB = Path("data/tws.duckdb")


def build_warehouse(path: str | Path = DEFAULT_DB, *, seed: int = 20260105, scale: float = 1.0,
                    force: bool = False, config: WorldConfig | None = None) -> dict[str, int]:
    """Generate the synthetic service world and write it to a DuckDB file.

    The file is written under a temporary name in the same folder and renamed into place, so a
    crash never leaves a half-built warehouse.

    Parameters
    ----------
    path : str or Path
        Target file (default ``data/tws.duckdb``).
    seed : int
        World seed.
    scale : float
        1.0 gives about a million contacts over 90 days.
    force : bool
        Replace an existing file. Without it an existing file is an error.
    config : WorldConfig, optional
        The world's knobs (default ``WorldConfig()``), e.g. ``WorldConfig(srm_bias=0.2)`` to
        inject a sample-ratio mismatch into the routing-v2 assignment log.

    Returns
    -------
    dict
        Row count per table (analysis and truth tables).

    Examples
    --------
    >>> build_warehouse("/tmp/tiny.duckdb", seed=1, scale=0.01, force=True)  # doctest: +SKIP
    {'agents': ..., 'contacts': ..., ...}
    """
    from studies.world import SCHEMA, TRUTH_SCHEMA, generate_world

    path = Path(path)
    if path.exists() and not force:
        raise RunError(f"{path} already exists; pass --force to rebuild it")
    path.parent.mkdir(parents=True, exist_ok=True)
    world = generate_world(seed=seed, scale=scale, config=config)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # DuckDB wants to create the file itself
    try:
        con = duckdb.connect(str(tmp))
        try:
            counts = _load_world(con, world, (SCHEMA, TRUTH_SCHEMA))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise
    return counts


def _load_world(con: duckdb.DuckDBPyConnection, world: Any, schemas: tuple[dict, ...]) -> dict[str, int]:
    """Create the world's tables with their declared types in ``con``; row count per table."""
    counts: dict[str, int] = {}
    for schema, frames in zip(schemas, (world.tables, world.truth), strict=True):
        for table, columns in schema.items():
            frame = frames[table]
            cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
            con.execute(f'CREATE TABLE "{table}" ({cols})')
            con.register("_frame", frame[list(columns)])
            con.execute(f'INSERT INTO "{table}" SELECT * FROM _frame')
            con.unregister("_frame")
            counts[table] = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    return counts


PARTITIONED = {"contacts": "created_at"}
"""Tables written partitioned by day in a Parquet world (``contacts/day=YYYY-MM-DD/*.parquet``)."""


def build_parquet_world(out: str | Path, *, seed: int = 20260105, scale: float = 1.0,
                        force: bool = False, config: WorldConfig | None = None) -> dict[str, int]:
    """Generate the synthetic world and write it as Parquet, which DuckDB and Spark both read.

    Every table becomes ``OUT/<table>.parquet``, except the contacts, which are partitioned by the
    day they were created (``OUT/contacts/day=2026-01-05/data_0.parquet``; the ``day`` folder key
    is not a column of the table). The folder is written under a temporary name next to ``out``
    and renamed into place.

    Parameters
    ----------
    out : str or Path
        Target folder.
    seed, scale, force, config
        As for :func:`build_warehouse`.

    Returns
    -------
    dict
        Row count per table.

    Examples
    --------
    >>> build_parquet_world("/tmp/tws-parquet", seed=1, scale=0.01, force=True)  # doctest: +SKIP
    {'agents': ..., 'contacts': ..., ...}
    """
    import shutil

    from studies.world import SCHEMA, TRUTH_SCHEMA, generate_world

    out = Path(out)
    if out.exists() and not force:
        raise RunError(f"{out} already exists; pass --force to rebuild it")
    out.parent.mkdir(parents=True, exist_ok=True)
    world = generate_world(seed=seed, scale=scale, config=config)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        con = duckdb.connect(":memory:")
        try:
            counts = _load_world(con, world, (SCHEMA, TRUTH_SCHEMA))
            del world
            for table in counts:
                target = str(tmp / table).replace("'", "''")
                if table in PARTITIONED:
                    day = PARTITIONED[table]
                    con.execute(f"COPY (SELECT *, CAST(\"{day}\" AS DATE) AS day FROM \"{table}\") "
                                f"TO '{target}' (FORMAT parquet, PARTITION_BY (day))")
                else:
                    con.execute(f"COPY \"{table}\" TO '{target}.parquet' (FORMAT parquet)")
        finally:
            con.close()
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts
