"""Input checks shared by every package: one home for column, NULL and ``inf`` checks.

Every estimator and study validates its input through these functions, so a missing column, a
NULL or an infinite value always gives the same precise :class:`~servicelab.errors.DataError`:
it names the column, the count and the fix. Nothing is dropped silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError, DesignError


def require_columns(data: pd.DataFrame, columns: Sequence[str], *, role: str = "column",
                    allow_empty: bool = True) -> None:
    """Raise :class:`DataError` naming every entry of ``columns`` that ``data`` lacks.

    Parameters
    ----------
    data : pandas.DataFrame
        The frame to check.
    columns : sequence of str
        Columns the caller needs.
    role : str
        What the columns are for (``"outcome"``, ``"confounders"``...), used in the message.
    allow_empty : bool
        When false, a frame with no rows is an error too.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"y": [1.0]}), ["y"])
    >>> require_columns(pd.DataFrame({"y": [1.0]}), ["t"], role="treatment")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    servicelab.errors.DataError: treatment ['t'] not in the data (columns: ['y']); add them ...
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(
            f"{role} {missing} not in the data (columns: {list(data.columns)[:20]}); "
            "add them to the frame or fix the name in the specification"
        )
    if not allow_empty and len(data) == 0:
        raise DataError(f"the data have no rows (needed: {role} {list(columns)}); check the "
                        "query's filters and the table it reads")


@dataclass(frozen=True)
class InvalidCount:
    """How many values of one column are NULL (missing) or infinite."""

    column: str
    null: int
    inf: int
    n: int

    @property
    def total(self) -> int:
        """NULL plus infinite values."""
        return self.null + self.inf

    def describe(self) -> str:
        """Plain words, e.g. ``"handle_s: 12 NULL and 0 infinite of 1,000 rows"``."""
        return f"{self.column}: {self.null:,} NULL and {self.inf:,} infinite of {self.n:,} rows"


def count_invalid(data: pd.DataFrame, columns: Sequence[str]) -> list[InvalidCount]:
    """NULL and infinite counts for each of ``columns`` (infinite only counted for numbers).

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, None, np.inf], "g": ["a", None, "b"]})
    >>> [(c.column, c.null, c.inf) for c in count_invalid(df, ["y", "g"])]
    [('y', 1, 1), ('g', 1, 0)]
    """
    require_columns(data, columns)
    out = []
    for c in columns:
        s = data[c]
        null = int(s.isna().sum())
        inf = 0
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            inf = int(np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).sum())
        out.append(InvalidCount(str(c), null, inf, len(s)))
    return out


def require_finite(data: pd.DataFrame, columns: Sequence[str], *, role: str = "column",
                   fix: str = "drop or impute those rows first, and say so in the report") -> None:
    """Raise :class:`DataError` when any of ``columns`` holds a NULL or an infinite value.

    The message names each bad column with its counts, and the fix.

    Examples
    --------
    >>> require_finite(pd.DataFrame({"y": [1.0, 2.0]}), ["y"], role="outcome")
    >>> require_finite(pd.DataFrame({"y": [1.0, np.inf]}), ["y"], role="outcome")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    servicelab.errors.DataError: outcome y: 0 NULL and 1 infinite of 2 rows; drop or impute ...
    """
    bad = [c for c in count_invalid(data, columns) if c.total]
    if bad:
        raise DataError(f"{role} " + "; ".join(c.describe() for c in bad) + f"; {fix}")


def renamed_argument(value: Any, old_value: Any, *, new: str, old: str, where: str,
                     default: Any) -> Any:
    """Resolve an argument renamed from ``old`` to ``new`` (the old name warns, then works).

    ``value`` is what was passed as ``new`` (``default`` when it was not given) and
    ``old_value`` what was passed under the deprecated name (None when not given). Giving both
    is an error.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     renamed_argument(0.95, 0.9, new="ci_level", old="level", where="f", default=0.95)
    0.9
    >>> str(w[0].message)
    'f(level=...) is deprecated: use ci_level='
    """
    if old_value is None:
        return value
    warnings.warn(f"{where}({old}=...) is deprecated: use {new}=", DeprecationWarning, stacklevel=3)
    if value != default:
        raise DesignError(f"{where}: give {new} only ({old} is its deprecated name)")
    return old_value
