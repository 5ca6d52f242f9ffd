"""Input validation and cell aggregation shared by the Bayesian models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from servicelab import DataError
from servicelab.validation import require_columns as _require_columns


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """:func:`servicelab.validation.require_columns` for a Bayesian model named ``what`` (no empty frames)."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} needs a pandas DataFrame; got {type(frame).__name__}")
    _require_columns(frame, columns, role=f"{what}: missing column(s)", allow_empty=False)


def binary(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Column as a 0/1 int array; bool, 0/1 numbers, or control/treatment strings."""
    s = frame[column]
    if s.isna().any():
        raise DataError(f"{what}: column {column!r} has {int(s.isna().sum())} missing values; "
                        "drop or fill them first")
    if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype | pd.StringDtype):
        values = s.astype(str)
        if set(values.unique()) <= {"control", "treatment"}:
            return (values == "treatment").to_numpy(dtype=np.int64)
        raise DataError(f"{what}: column {column!r} must be 0/1, bool or control/treatment; "
                        f"got values {sorted(values.unique())[:5]}")
    arr = s.to_numpy(dtype=float)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise DataError(f"{what}: column {column!r} must be 0/1 (or bool); found "
                        f"{np.unique(arr[bad])[:5].tolist()}")
    return arr.astype(np.int64)


def positive(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """Column as a float array of strictly positive finite durations."""
    arr = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    if np.isnan(arr).any():
        raise DataError(f"{what}: column {column!r} has {int(np.isnan(arr).sum())} missing or "
                        "non-numeric values; a lognormal outcome needs every duration")
    bad = (arr <= 0) | ~np.isfinite(arr)
    if bad.any():
        raise DataError(
            f"{what}: column {column!r} has {int(bad.sum())} zero, negative or infinite values "
            f"(e.g. {arr[bad][:3].tolist()}); durations must be > 0 seconds. Check the clock "
            "columns, or add a floor (e.g. 1 s) if zero means 'instant'")
    return arr


def codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes and sorted level names of a categorical column."""
    s = frame[column]
    if s.isna().any():
        raise DataError(f"column {column!r} has missing values; fill them (e.g. 'unknown')")
    cat = pd.Categorical(s.astype(str))
    return cat.codes.astype(np.int64), [str(c) for c in cat.categories]
