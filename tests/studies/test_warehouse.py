"""The warehouse: clear errors for missing files, tables and columns; truth kept apart; parameterised SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from servicelab.errors import DataError, RunError
from studies.warehouse import Warehouse, build_warehouse, frame_sha256
from studies.warehouse.base import portable_sha256


@pytest.fixture
def tiny_db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE contacts (contact_id BIGINT, channel VARCHAR, handle_s DOUBLE)")
    con.execute("INSERT INTO contacts VALUES (1, 'email', 300.0), (2, 'dm', 120.0), (3, 'email', 90.5)")
    con.execute("CREATE TABLE truth_effects (intervention VARCHAR, value DOUBLE)")
    con.close()
    return path


def test_missing_file_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"servicelab world build --db"):
        Warehouse(tmp_path / "nope.duckdb")


def test_require_names_missing_tables_and_columns(tiny_db: Path) -> None:
    with Warehouse(tiny_db) as wh:
        wh.require({"contacts": ("contact_id", "handle_s")})
        with pytest.raises(DataError, match=r"table 'customers' is missing"):
            wh.require(["contacts", "customers"])
        with pytest.raises(DataError, match=r"lacks column\(s\) \['csat'\]"):
            wh.require({"contacts": ("csat",)})


def test_query_binds_parameters_and_refuses_truth(tiny_db: Path) -> None:
    with Warehouse(tiny_db) as wh:
        hostile = "email' OR '1'='1"
        assert len(wh.query("SELECT * FROM contacts WHERE channel = ?", [hostile])) == 0
        assert len(wh.query("SELECT * FROM contacts WHERE channel = ?", ["email"])) == 2
        with pytest.raises(DataError, match="ground-truth"):
            wh.query("SELECT * FROM truth_effects")
        assert len(wh.query("SELECT * FROM truth_effects", allow_truth=True)) == 0
        with pytest.raises(DataError, match="query failed"):
            wh.query("SELECT no_such_column FROM contacts")
        assert wh.tables() == {"contacts": 3, "truth_effects": 0}
        assert not wh.is_synthetic  # no world_meta


def test_frame_hash_changes_with_content(tiny_db: Path) -> None:
    with Warehouse(tiny_db) as wh:
        a = wh.query("SELECT * FROM contacts ORDER BY contact_id")
        b = wh.query("SELECT * FROM contacts ORDER BY contact_id")
    assert frame_sha256(a) == frame_sha256(b)
    b.loc[0, "handle_s"] += 1e-9
    assert frame_sha256(a) != frame_sha256(b)


def test_portable_hash_ignores_engine_details_but_not_data() -> None:
    """Row order, int/float dtype, Decimal vs float and float summation order (last bits) do not
    change it; a change of a value in its 11th significant digit, a NULL or a column name does."""
    import decimal

    import numpy as np

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=200) * 1e3, 3)  # on a 12-digit grid point: one ulp cannot flip a digit
    a = pd.DataFrame({"k": np.arange(200), "x": x, "s": [f"q{i % 7}" for i in range(200)],
                      "t": pd.date_range("2026-01-01", periods=200, freq="h"), "b": x > 0})
    order = rng.permutation(200)
    b = a.iloc[order].reset_index(drop=True).astype({"k": "int32"})
    b["x"] = np.nextafter(b["x"].to_numpy(), np.inf)  # another summation order: the last bit differs
    assert frame_sha256(a) != frame_sha256(b)
    assert portable_sha256(a) == portable_sha256(b)
    dec = a.assign(k=[decimal.Decimal(int(v)) for v in a["k"]], x=a["x"].round(3))
    assert portable_sha256(dec) == portable_sha256(a.assign(x=a["x"].round(3)))
    c = a.copy()
    c.loc[5, "x"] += 1e-6  # |x| < 1e5: a change in the 11th significant digit or above
    assert portable_sha256(c) != portable_sha256(a)
    c = a.copy()
    c.loc[5, "x"] = np.nan
    assert portable_sha256(c) != portable_sha256(a)
    assert portable_sha256(a.rename(columns={"x": "y"})) != portable_sha256(a)
    assert portable_sha256(a.iloc[:0]) != portable_sha256(a)
    # what a DB-API driver returns: Python objects; no rows at all: no type either
    objects = a.astype({"x": object}).assign(t=pd.Series([t.to_pydatetime() for t in a["t"]], dtype=object))
    assert objects["t"].dtype == object and portable_sha256(objects) == portable_sha256(a)
    assert portable_sha256(pd.DataFrame({"v": pd.Series([], dtype=object)})) == \
        portable_sha256(pd.DataFrame({"v": pd.Series([], dtype=float)}))


def test_build_refuses_to_overwrite_without_force(tiny_db: Path) -> None:
    with pytest.raises(RunError, match="--force"):
        build_warehouse(tiny_db, scale=0.01)


def test_built_world_has_analysis_and_truth_tables(world_db: Path) -> None:
    from studies.world import SCHEMA, TRUTH_SCHEMA

    with Warehouse(world_db) as wh:
        counts = wh.tables()
        assert wh.is_synthetic
        for table, columns in {**SCHEMA, **TRUTH_SCHEMA}.items():
            assert wh.columns(table) == list(columns), table
        assert counts["contacts"] > 10_000
        meta = wh.meta()
        assert meta["seed"] == "11"
