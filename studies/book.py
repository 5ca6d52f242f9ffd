"""Build the methodology book (Jupyter Book 1.x) with forced execution and warnings as errors,
and the helpers its notebooks share (:func:`default_db`, :func:`glue`, :func:`provenance_table`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from servicelab.errors import RunError
from studies.runner.report import provenance_table

__all__ = ["build_book", "default_db", "default_runs_dir", "glue", "provenance_table"]

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"


def default_db() -> Path:
    """The warehouse notebooks read: ``$SERVICELAB_DB`` or ``<repo>/data/tws.duckdb``."""
    return Path(os.environ.get("SERVICELAB_DB", REPO_ROOT / "data" / "tws.duckdb")).resolve()


def default_runs_dir() -> Path:
    """Where notebooks write run folders: ``$SERVICELAB_RUNS_DIR`` or ``<repo>/runs``."""
    return Path(os.environ.get("SERVICELAB_RUNS_DIR", REPO_ROOT / "runs")).resolve()


def build_book(builder: str = "html", db: str | Path | None = None) -> int:
    """Build ``book/`` into ``book/_build/<builder>``.

    Every notebook is executed (``execute_notebooks: force`` in ``_config.yml``: the execution cache
    does not notice changes in imported modules). Sphinx runs with ``-W -n --keep-going`` and
    ``nb_execution_raiseonerror``, so a cell error or any warning fails the build. The warehouse the
    notebooks read is built first if it is missing.

    Parameters
    ----------
    builder : str
        Sphinx builder, ``"html"`` by default.
    db : path, optional
        Warehouse for the notebooks (default ``data/tws.duckdb`` in the repository).

    Returns
    -------
    int
        The exit code of ``jupyter-book build``.
    """
    from studies.warehouse import build_warehouse

    db_path = Path(db).resolve() if db is not None else default_db()
    if not db_path.exists():
        print(f"warehouse {db_path} is missing: building it first (servicelab world build)")
        build_warehouse(db_path)
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        raise RunError(f"jupyter-book is not installed next to {sys.executable}; run `make install`")
    env = dict(os.environ, SERVICELAB_DB=str(db_path), PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)  # notebooks use the inline backend so figures render
    env.setdefault("SERVICELAB_RUNS_DIR", str(default_runs_dir()))
    cmd = [str(exe), "build", str(BOOK_DIR), "--builder", builder, "-W", "-n", "--keep-going"]
    print("$", " ".join(cmd))
    return subprocess.run(cmd, env=env, check=False).returncode


def glue(name: str, value: object, display: bool = False) -> None:
    """:func:`myst_nb.glue` with numpy scalars converted to Python numbers.

    Under numpy 2 the ``repr`` of ``np.float64(1.5)`` is ``"np.float64(1.5)"``, which glue's
    ``{glue:text}`name:.2f``` formatting cannot parse; this wrapper glues ``1.5`` instead.
    """
    import numpy as np
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, value, display=display)
