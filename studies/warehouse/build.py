"""Build the embedded warehouse from the synthetic world, atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

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
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            for schema, frames in ((SCHEMA, world.tables), (TRUTH_SCHEMA, world.truth)):
                for table, columns in schema.items():
                    frame = frames[table]
                    cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
                    con.execute(f'CREATE TABLE "{table}" ({cols})')
                    con.register("_frame", frame[list(columns)])
                    con.execute(f'INSERT INTO "{table}" SELECT * FROM _frame')
                    con.unregister("_frame")
                    counts[table] = int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise
    return counts
