"""Comparing query results across warehouse backends: counts exactly, floating values to 1e-9."""

from __future__ import annotations

import numpy as np
import pandas as pd

RTOL = 1e-9


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
        return "int"
    if pd.api.types.is_float_dtype(s):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "time"
    return "other"


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    keys = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if _kind(s) == "float":
            keys[col] = s.astype(float).round(6)
        elif _kind(s) == "other":
            keys[col] = s.astype(str)
        else:
            keys[col] = s
    order = keys.sort_values(list(keys.columns), kind="stable", na_position="last").index
    return frame.loc[order].reset_index(drop=True)


def assert_same_frames(a: pd.DataFrame, b: pd.DataFrame, what: str = "") -> None:
    """Same columns and rows (in any order); integer-valued columns equal, floats within 1e-9."""
    assert list(a.columns) == list(b.columns), f"{what}: columns {list(a.columns)} vs {list(b.columns)}"
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} rows"
    a, b = _sorted(a), _sorted(b)
    for col in a.columns:
        x, y = a[col], b[col]
        kinds = {_kind(x), _kind(y)}
        if kinds <= {"int", "float"}:
            xv, yv = x.astype(float).to_numpy(), y.astype(float).to_numpy()
            if "int" in kinds:  # a count or an integer key: exactly
                assert np.array_equal(xv, yv, equal_nan=True), f"{what}: column {col} differs"
            else:
                np.testing.assert_allclose(xv, yv, rtol=RTOL, atol=0, equal_nan=True,
                                           err_msg=f"{what}: column {col}")
        elif "time" in kinds:
            xs = pd.to_datetime(x).astype("datetime64[us]").to_numpy()
            ys = pd.to_datetime(y).astype("datetime64[us]").to_numpy()
            assert np.array_equal(xs, ys, equal_nan=True), f"{what}: column {col} differs"
        else:
            xs = x.astype(object).where(x.notna(), None).tolist()
            ys = y.astype(object).where(y.notna(), None).tolist()
            assert xs == ys, f"{what}: column {col} differs"
