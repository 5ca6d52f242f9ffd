"""Helpers shared by the quasi-experimental designs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from servicelab.errors import DataError


def require(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise :class:`DataError` for missing columns or missing values in ``columns``."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"columns {missing} not in the data (have {list(data.columns)[:20]})")
    na = [c for c in columns if data[c].isna().any()]
    if na:
        raise DataError(f"columns {na} have missing values; drop or fill them first")


def two_way_demean(y: np.ndarray, unit: np.ndarray, time: np.ndarray, *, tol: float = 1e-10,
                   max_iter: int = 1000) -> np.ndarray:
    """Residualise columns of ``y`` on unit and time fixed effects (alternating projections).

    Works for unbalanced panels; returns the within-transformed array.
    """
    y = np.array(y, dtype=float, copy=True)
    squeeze = y.ndim == 1
    y = y.reshape(len(y), -1)
    ui, ti = pd.factorize(unit)[0], pd.factorize(time)[0]
    nu, nt = ui.max() + 1, ti.max() + 1
    cu, ct = np.bincount(ui, minlength=nu), np.bincount(ti, minlength=nt)
    for _ in range(max_iter):
        prev = y.copy()
        for idx, cnt, n in ((ui, cu, nu), (ti, ct, nt)):
            sums = np.zeros((n, y.shape[1]))
            np.add.at(sums, idx, y)
            y -= (sums / cnt[:, None])[idx]
        if np.max(np.abs(y - prev)) < tol:
            break
    return y[:, 0] if squeeze else y


def cluster_se(x: np.ndarray, u: np.ndarray, groups: np.ndarray, dof_k: int) -> np.ndarray:
    """Cluster-robust (CR1) standard errors for OLS coefficients of residualised ``x``.

    ``dof_k`` is the number of parameters counted in the small-sample factor. Uses the Stata
    factor ``G/(G-1) * (N-1)/(N-K)``.
    """
    g = pd.factorize(groups)[0]
    n_g = g.max() + 1
    n = len(u)
    bread = np.linalg.pinv(x.T @ x)
    s = np.zeros((n_g, x.shape[1]))
    np.add.at(s, g, x * u[:, None])
    factor = n_g / (n_g - 1) * (n - 1) / (n - dof_k)
    cov = bread @ (s.T @ s) @ bread * factor
    return np.sqrt(np.diag(cov))
