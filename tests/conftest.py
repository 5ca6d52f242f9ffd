"""Shared fixtures: a small synthetic world warehouse, built once per test session."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def _link_pytensor_to_scipy_openblas() -> None:
    """Set PyTensor's ``blas__ldflags`` before any test module imports pymc.

    PyTensor reads ``PYTENSOR_FLAGS`` once, at import; ``causal.bayes`` configures it for users,
    but a test module may import pymc first. The module is loaded from its file so that this
    conftest does not import causal.bayes (and pymc) for every test session.
    """
    path = Path(__file__).resolve().parents[1] / "causal" / "bayes" / "_blas.py"
    spec = importlib.util.spec_from_file_location("_servicelab_pytensor_blas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.configure_pytensor_blas()


_link_pytensor_to_scipy_openblas()

WORLD_SEED = 11
WORLD_SCALE = 0.05


@pytest.fixture(scope="session")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic-world warehouse (scale 0.05, about 50k contacts), read-only for tests."""
    from studies.warehouse import build_warehouse

    path = tmp_path_factory.mktemp("world") / "tws.duckdb"
    build_warehouse(path, seed=WORLD_SEED, scale=WORLD_SCALE, force=True)
    return path


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test opened, so that a long session does not keep hundreds of them
    (matplotlib warns past 20; the plots are checked inside each test)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:  # never import matplotlib for a test that did not
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def parquet_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same small world as ``world_db`` (same seed and scale), written as a Parquet folder."""
    from studies.warehouse import build_parquet_world

    path = tmp_path_factory.mktemp("world-parquet") / "tws"
    build_parquet_world(path, seed=WORLD_SEED, scale=WORLD_SCALE, force=True)
    return path
