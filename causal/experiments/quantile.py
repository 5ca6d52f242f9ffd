"""Quantiles of row-level outcomes (p50 / p90 / p99 wait) with intervals at the randomisation unit.

A customer-randomised test of the p90 wait compares the 90th percentile of the *contacts* of each
arm, but the contacts of one customer are not independent (the same customer waits at the same
hours, in the same queues), so the unit of inference is the customer. The quantile is the root
of an estimating equation that is a ratio of customer-level sums,

    F(xi) = sum_u c_u(xi) / sum_u n_u = q,   c_u(xi) = #{rows of unit u with y <= xi},

so the delta method gives the clustered variance of F at the sample quantile, and the density at
the quantile turns it into the variance of the quantile (Woodruff 1952; Deng, Knoblich & Lu 2018,
"Applying the delta method in metric analytics"). The density comes from Woodruff's interval,
the empirical quantiles at ``q -+ z se(F)``, so no kernel bandwidth is chosen. The linearised
unit statistic accepts a CUPED covariate like any ratio metric.

A cluster bootstrap (resampling whole units within each arm) is the reference and an alternative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from servicelab.errors import DataError
from servicelab.random import RNGLike, resolve_rng

__all__ = ["ArmQuantile", "RowData", "cluster_bootstrap_quantile", "quantile_arm"]

_Z_WOODRUFF = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class RowData:
    """The rows of one arm: values, unit of each row, optional covariate per row."""

    values: np.ndarray
    units: np.ndarray
    covariate: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, values, units=None, covariate=None) -> RowData:
        """Rows with their unit labels (``None``: every row is its own unit)."""
        v = np.asarray(values, dtype=float)
        codes = (np.arange(v.size) if units is None
                 else pd.factorize(np.asarray(units), sort=False)[0])
        x = None if covariate is None else np.asarray(covariate, dtype=float)
        return cls(v, codes.astype(np.int64), x)

    @property
    def n_units(self) -> int:
        """Number of units (clusters, or rows when every row is its own unit)."""
        return int(self.units.max()) + 1 if self.units.size else 0


@dataclass(frozen=True)
class ArmQuantile:
    """The sample quantile of one arm and its linearised unit-level statistic."""

    q: float
    xi: float
    n_rows: int
    n_units: int
    linear: np.ndarray  # L_u = (c_u - F n_u) / mean(n_u): F-hat ~ F + mean(L)
    x_unit: np.ndarray | None
    sorted_values: np.ndarray

    @property
    def var_f(self) -> float:
        """Clustered variance of the empirical CDF at the quantile."""
        return float(np.var(self.linear, ddof=1) / self.n_units)

    def at(self, p: float) -> float:
        """The arm's sample quantile at probability ``p``."""
        return float(np.quantile(self.sorted_values, min(max(p, 0.0), 1.0)))

    def density(self) -> float:
        """Woodruff's density estimate at the quantile: 2 z se(F) / (Q(q + z se) - Q(q - z se))."""
        se_f = math.sqrt(self.var_f)
        lo = self.at(self.q - _Z_WOODRUFF * se_f)
        hi = self.at(self.q + _Z_WOODRUFF * se_f)
        if not hi > lo or se_f == 0:
            raise DataError(
                f"the p{self.q * 100:g} sits on a run of tied values ({self.xi:g}) that spans its "
                "whole Woodruff band, so the density at the quantile (and the interval) cannot be "
                "estimated; use a finer-grained column or method='cluster_bootstrap'"
            )
        return 2 * _Z_WOODRUFF * se_f / (hi - lo)


def quantile_arm(rows: RowData, q: float) -> ArmQuantile:
    """Sample quantile (linear interpolation, numpy's default) and its unit-level linearisation.

    Examples
    --------
    >>> rows = RowData.from_arrays(np.arange(100.0), np.repeat(np.arange(25), 4))
    >>> a = quantile_arm(rows, 0.5)
    >>> a.n_units, round(a.xi, 1)
    (25, 49.5)
    """
    y, u = rows.values, rows.units
    xi = float(np.quantile(y, q))
    n_u = np.bincount(u).astype(float)
    c_u = np.bincount(u, weights=(y <= xi).astype(float), minlength=n_u.size)
    f = c_u.sum() / n_u.sum()
    linear = (c_u - f * n_u) / n_u.mean()
    x_unit = None
    if rows.covariate is not None:
        x_unit = np.bincount(u, weights=rows.covariate, minlength=n_u.size) / n_u
    return ArmQuantile(q, xi, int(y.size), int(n_u.size), linear, x_unit, np.sort(y))


def cluster_bootstrap_quantile(
    rows: RowData, q: float, *, n_resamples: int = 1000, rng: RNGLike = None,
    chunk: int = 100,
) -> np.ndarray:
    """Bootstrap distribution of the quantile, resampling whole units with replacement.

    Each replicate draws ``n_units`` units with replacement and takes the (inverted-CDF)
    quantile of all their rows; vectorised by sorting the rows once.

    Examples
    --------
    >>> rows = RowData.from_arrays(np.arange(200.0), np.repeat(np.arange(50), 4))
    >>> draws = cluster_bootstrap_quantile(rows, 0.5, n_resamples=200, rng=0)
    >>> draws.shape
    (200,)
    """
    gen = resolve_rng(rng)
    order = np.argsort(rows.values, kind="stable")
    ys, us = rows.values[order], rows.units[order]
    n = rows.n_units
    out = np.empty(n_resamples)
    probs = np.full(n, 1.0 / n)
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        w = gen.multinomial(n, probs, size=b).astype(float)  # b x units
        cw = np.cumsum(w[:, us], axis=1)  # b x rows, rows sorted by value
        target = q * cw[:, -1]
        idx = (cw < target[:, None]).sum(axis=1)
        out[start:start + b] = ys[np.minimum(idx, ys.size - 1)]
    return out
