"""Input checks shared by the observational estimators (precise errors, never silent)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from servicelab.errors import DataError


def require_columns(data: pd.DataFrame, columns: Sequence[str], role: str = "column") -> None:
    """Raise :class:`DataError` naming every ``columns`` entry missing from ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(
            f"{role} {missing} not in the data (columns: {list(data.columns)[:20]}); "
            "add them to the frame or remove them from the specification"
        )


def binary_treatment(data: pd.DataFrame, treatment: str) -> np.ndarray:
    """Return the treatment as a 0/1 float array, or raise a clear :class:`DataError`."""
    t = data[treatment]
    if t.isna().any():
        raise DataError(f"treatment {treatment!r} has {int(t.isna().sum())} missing values; drop them")
    values = pd.unique(t)
    if t.dtype == bool:
        return t.to_numpy(dtype=float)
    if len(values) > 2 or not set(np.asarray(values, dtype=float).tolist()) <= {0.0, 1.0}:
        shown = sorted(values.tolist())[:8] if len(values) <= 50 else f"{len(values)} distinct values"
        raise DataError(
            f"treatment {treatment!r} must be binary (0/1 or bool); got values {shown}. "
            "Supported: binary treatments here; for a multi-valued treatment, compare two levels "
            "at a time: subset the rows to those two levels and recode the treatment to 0/1."
        )
    if len(values) < 2:
        raise DataError(f"treatment {treatment!r} takes a single value {values.tolist()}; "
                        "there is nobody to compare with")
    return t.to_numpy(dtype=float)


def numeric_matrix(data: pd.DataFrame, columns: Sequence[str], *, what: str = "covariate",
                   drop_constant: bool = False) -> tuple[np.ndarray, list[str]]:
    """Covariates as a float matrix; categorical columns are one-hot encoded (first level dropped).

    Constant columns raise :class:`DataError` (they carry no information and break scaling),
    unless ``drop_constant`` is true, in which case they are removed.
    """
    if not columns:
        return np.empty((len(data), 0)), []
    frame = data[list(columns)]
    if frame.isna().any().any():
        bad = frame.columns[frame.isna().any()].tolist()
        raise DataError(f"{what}s {bad} have missing values; impute or drop those rows first")
    const = [c for c in frame.columns if frame[c].nunique(dropna=False) <= 1]
    if const and not drop_constant:
        raise DataError(
            f"{what}s {const} are constant: they cannot adjust for anything and make the "
            "propensity/outcome models singular; remove them from the specification"
        )
    frame = frame.drop(columns=const)
    cat = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
           or pd.api.types.is_bool_dtype(frame[c])]
    num = frame.drop(columns=cat).astype(float)
    if cat:
        dummies = pd.get_dummies(frame[cat].astype(str), drop_first=True, dtype=float)
        num = pd.concat([num, dummies], axis=1)
    return num.to_numpy(dtype=float), [str(c) for c in num.columns]
