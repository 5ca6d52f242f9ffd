"""Reproducible studies: warehouse, synthetic world, study runner and the ``servicelab`` command line.

Subpackages
-----------
world
    The synthetic service world with known ground truth.
warehouse
    DuckDB access (embedded ``data/tws.duckdb`` by default), parameterised SQL.
runner
    Study specs, run folders with provenance, atomic writes.
catalog
    One module per study, each exposing ``STUDY``.
commands
    Subcommands of the ``servicelab`` command line.
"""

from __future__ import annotations
