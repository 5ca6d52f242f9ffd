"""Shared fixtures: a small synthetic world warehouse, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

WORLD_SEED = 11
WORLD_SCALE = 0.05


@pytest.fixture(scope="session")
def world_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic-world warehouse (scale 0.05, about 50k contacts), read-only for tests."""
    from studies.warehouse import build_warehouse

    path = tmp_path_factory.mktemp("world") / "tws.duckdb"
    build_warehouse(path, seed=WORLD_SEED, scale=WORLD_SCALE, force=True)
    return path
