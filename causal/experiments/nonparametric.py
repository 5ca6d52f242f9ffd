"""Non-parametric tools: two-sample BCa / percentile bootstrap and the Mann–Whitney test."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from scipy import stats

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng

__all__ = ["bootstrap_ci", "mann_whitney"]

Statistic = Callable[..., Any]


_EXACT_BCA_MAX_N = 5000
"""Units (both arms) up to which BCa is scipy's own; its full jackknife is quadratic in n."""


def _grouped_jackknife(stat, c, t, groups=100):
    """Grouped (delete-a-group) jackknife over both samples; cheap for large n."""
    vals = []
    for arr, other, first in ((c, t, True), (t, c, False)):
        g = min(groups, arr.size)
        folds = np.array_split(np.arange(arr.size), g)
        for f in folds:
            kept = np.delete(arr, f)
            vals.append(stat(kept, other, axis=-1) if first else stat(other, kept, axis=-1))
    return np.asarray(vals, dtype=float)


def _bca_grouped(stat, c, t, theta, boot, ci_level):
    """Efron's BCa endpoints from ``boot`` with the acceleration from a grouped jackknife."""
    alpha = (1 - ci_level) / 2
    prop = (np.sum(boot < theta) + 0.5 * np.sum(boot == theta)) / boot.size
    prop = min(max(prop, 1 / (2 * boot.size)), 1 - 1 / (2 * boot.size))
    z0 = stats.norm.ppf(prop)
    jk = _grouped_jackknife(stat, c, t)
    d = jk.mean() - jk
    den = 6 * (np.sum(d**2) ** 1.5)
    a = float(np.sum(d**3) / den) if den > 0 else 0.0
    zs = stats.norm.ppf([alpha, 1 - alpha])
    adj = stats.norm.cdf(z0 + (z0 + zs) / (1 - a * (z0 + zs)))
    return np.quantile(boot, adj)


def bootstrap_ci(
    statistic: Statistic,
    control: np.ndarray,
    treatment: np.ndarray,
    *,
    n_resamples: int = 2000,
    ci_level: float = 0.95,
    method: Literal["bca", "percentile"] = "bca",
    rng: RNGLike = None,
    return_distribution: bool = False,
):
    """Two-sample bootstrap interval for ``statistic(control, treatment, axis=-1)``.

    Arms are resampled independently (stratified bootstrap) by :func:`scipy.stats.bootstrap`.
    ``bca`` corrects bias and skew (Efron 1987): up to 5,000 units in both arms it is scipy's
    BCa interval exactly; above, scipy's full jackknife for the acceleration is quadratic in n
    (75 s against 3 s at 20,000 units per arm), so the acceleration comes from a 100-group
    jackknife per arm applied to scipy's bootstrap distribution (the endpoints agree with
    scipy's to within a small fraction of the interval's width; see the tests).

    Examples
    --------
    >>> c, t = np.arange(100.0), np.arange(100.0) + 5
    >>> f = lambda c, t, axis=-1: t.mean(axis=axis) - c.mean(axis=axis)
    >>> lo, hi = bootstrap_ci(f, c, t, n_resamples=500, rng=1)
    >>> bool(lo < 5 < hi)
    True
    """
    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if c.size < 2 or t.size < 2:
        raise DataError(f"bootstrap needs >= 2 values per arm (got {c.size}, {t.size})")
    if np.isnan(c).any() or np.isnan(t).any():
        raise DataError("bootstrap input contains NaN; drop or impute missing values first")
    if n_resamples < 100:
        raise DesignError(f"n_resamples must be >= 100, got {n_resamples}")
    if method not in ("bca", "percentile"):
        raise DesignError(f"method must be 'bca' or 'percentile', got {method!r}")
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must be in (0, 1), got {ci_level!r}")
    exact = method == "percentile" or c.size + t.size <= _EXACT_BCA_MAX_N
    res = stats.bootstrap(
        (c, t), statistic, n_resamples=n_resamples, confidence_level=ci_level,
        method="BCa" if exact and method == "bca" else "percentile", vectorized=True,
        paired=False, batch=200, random_state=resolve_rng(rng),
    )
    boot = np.asarray(res.bootstrap_distribution, dtype=float)
    if exact:
        lo, hi = res.confidence_interval
    else:
        lo, hi = _bca_grouped(statistic, c, t, float(statistic(c, t, axis=-1)), boot, ci_level)
    if return_distribution:
        return float(lo), float(hi), boot
    return float(lo), float(hi)


def mann_whitney(control: np.ndarray, treatment: np.ndarray) -> dict[str, float]:
    """Mann–Whitney U of treatment vs control (scipy orientation) and its two-sided p-value.

    Returns ``U`` (``scipy.stats.mannwhitneyu(treatment, control).statistic``), ``pvalue``
    and ``prob_superiority`` = U / (n_t n_c).

    Examples
    --------
    >>> round(mann_whitney([1, 2, 3], [4, 5, 6])["prob_superiority"], 2)
    1.0
    """
    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if c.size == 0 or t.size == 0:
        raise DataError("Mann-Whitney needs values in both arms")
    res = stats.mannwhitneyu(t, c, alternative="two-sided")
    return {
        "U": float(res.statistic),
        "pvalue": float(res.pvalue),
        "prob_superiority": float(res.statistic) / (c.size * t.size),
        "n_control": float(c.size),
        "n_treatment": float(t.size),
        "z": float(stats.norm.isf(res.pvalue / 2)) if res.pvalue > 0 else math.inf,
    }
