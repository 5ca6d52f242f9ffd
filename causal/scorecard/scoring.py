"""Scores of an estimator over replications: bias, RMSE, CI width, coverage with its Monte Carlo
error and binomial band, and the diagnostic hit rate.

A replication *misses widely* when its estimate lies more than ``wide`` (default 3) of its own
standard errors from the truth. The **diagnostic hit rate** is the share of wide misses whose
status (the worst diagnostic the analyst sees) was ``"warning"`` or ``"fail"``; the **silent
wide-miss share** is the share of all replications that missed widely while every diagnostic
said ``"ok"``: the number that must stay small (the issue's criterion: at most 5% in the
limited-overlap world). Both are computed twice: with every diagnostic the analyst sees in the
result (``status``) and with the estimate's own only (``own_status``: checks computed on what that
estimator used, e.g. its own cross-fitted propensities).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["binomial_band", "score_records", "silent_miss_criterion"]


def binomial_band(n: int, level: float = 0.95, conf: float = 0.999) -> tuple[float, float]:
    """Central ``conf`` range of the coverage of ``n`` replications of an exact ``level`` interval.

    A correct interval's observed coverage falls outside this band with probability at most
    ``1 - conf`` whatever the seed: the band the quick gate tests against.

    Examples
    --------
    >>> lo, hi = binomial_band(200)
    >>> 0.89 < lo < 0.91 and 0.98 < hi <= 1.0
    True
    """
    if n <= 0:
        return (math.nan, math.nan)
    a = (1 - conf) / 2
    return (float(stats.binom.ppf(a, n, level)) / n, float(stats.binom.ppf(1 - a, n, level)) / n)


def score_records(records: pd.DataFrame, *, level: float = 0.95, wide: float = 3.0,
                  conf: float = 0.999) -> pd.DataFrame:
    """One row per (scenario, estimator) from replication records.

    Parameters
    ----------
    records : DataFrame
        Columns ``scenario``, ``estimator``, ``truth``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``status`` and ``error`` (as :func:`causal.scorecard.families.run_family`
        writes them, plus ``scenario``).
    level : float
        Nominal level of the intervals.
    wide : float
        A wide miss is ``|estimate - truth| > wide * se``.
    conf : float
        Confidence of the binomial band.

    Returns
    -------
    DataFrame
        ``reps`` (replications), ``valid`` (with a finite estimate and interval), ``refused``
        (status fail without an estimate), ``errors``, ``bias``, ``rmse``, ``ci_width`` (mean),
        ``coverage``, ``coverage_mcse``, ``band_low``, ``band_high``, ``in_band``,
        ``flagged`` (share with a warning or fail), ``wide_misses``, ``hit_rate``,
        ``silent_wide_miss`` (share of valid replications), ``warned`` (share of replications
        whose world's fit raised a Python warning; the classes are in the records' ``warnings``
        column, for all estimators of that world together), and ``hit_rate_own`` /
        ``silent_wide_miss_own``: the same counting only the estimate's own diagnostics
        (``EffectEstimate.status``), not those of the result around it (``own_status``; equal
        to ``status`` when the records lack it).

    Examples
    --------
    >>> rec = pd.DataFrame({"scenario": "s", "estimator": "e", "truth": 0.0,
    ...                     "estimate": [0.1, -0.2, 5.0, 0.0], "se": 1.0 / 1.96,
    ...                     "ci_low": [-0.9, -1.2, 4.0, -1.0], "ci_high": [1.1, 0.8, 6.0, 1.0],
    ...                     "status": ["ok", "ok", "warning", "ok"], "error": ""})
    >>> row = score_records(rec).iloc[0]
    >>> float(row.coverage), int(row.wide_misses), float(row.hit_rate)
    (0.75, 1, 1.0)
    """
    rows = []
    for (sc, est), g in records.groupby(["scenario", "estimator"], sort=False):
        err = g["error"].fillna("").astype(str).str.len() > 0
        val = g[~err & np.isfinite(g["estimate"]) & np.isfinite(g["ci_low"])
                & np.isfinite(g["ci_high"])]
        refused = int(((~err) & ~np.isfinite(g["estimate"])).sum())
        n = len(val)
        d = val["estimate"].to_numpy(float) - val["truth"].to_numpy(float)
        cover = (val["ci_low"] <= val["truth"]) & (val["truth"] <= val["ci_high"])
        cov = float(cover.mean()) if n else math.nan
        se = val["se"].to_numpy(float)
        widem = np.abs(d) > wide * np.where(np.isfinite(se) & (se > 0), se, np.inf)
        flagged = val["status"].isin(["warning", "fail"]).to_numpy()
        own = (val["own_status"] if "own_status" in val else val["status"]).isin(
            ["warning", "fail"]).to_numpy()
        lo, hi = binomial_band(n, level, conf)
        n_wide = int(widem.sum())
        rows.append({
            "scenario": sc, "estimator": est, "reps": len(g), "valid": n, "refused": refused,
            "errors": int(err.sum()),
            "truth": float(g["truth"].mean()),
            "bias": float(d.mean()) if n else math.nan,
            "rmse": float(np.sqrt(np.mean(d**2))) if n else math.nan,
            "ci_width": float((val["ci_high"] - val["ci_low"]).mean()) if n else math.nan,
            "coverage": cov,
            "coverage_mcse": math.sqrt(cov * (1 - cov) / n) if n else math.nan,
            "band_low": lo, "band_high": hi,
            "in_band": bool(n and lo <= cov <= hi),
            "flagged": float(flagged.mean()) if n else math.nan,
            "wide_misses": n_wide,
            "hit_rate": float(flagged[widem].mean()) if n_wide else math.nan,
            "silent_wide_miss": float((widem & ~flagged).mean()) if n else math.nan,
            "hit_rate_own": float(own[widem].mean()) if n_wide else math.nan,
            "silent_wide_miss_own": float((widem & ~own).mean()) if n else math.nan,
            "warned": (float((g["warnings"].fillna("").astype(str).str.len() > 0).mean())
                       if "warnings" in g else math.nan),
        })
    return pd.DataFrame(rows)


def silent_miss_criterion(table: pd.DataFrame, scenario: str = "obs-limited-overlap", *,
                          limit: float = 0.05, conf: float = 0.95) -> pd.DataFrame:
    """The issue's criterion, per estimator of one scenario, from the scored (tidy) table.

    An estimator *passes* when the share of its valid replications that missed the truth by
    more than ``wide`` of its own SEs while its diagnostics said "ok" is at most ``limit``:
    ``silent_wide_miss`` (every diagnostic of the result the analyst reads) and, separately,
    ``silent_wide_miss_own`` (the estimate's own diagnostics only).

    Parameters
    ----------
    table : DataFrame
        Rows of :func:`score_records` (or the exported ``scorecard.csv``): ``scenario``,
        ``estimator``, ``valid``, ``wide_misses``, ``silent_wide_miss`` and
        ``silent_wide_miss_own``.
    scenario : str
        The world the criterion is about (default the limited-overlap one).
    limit : float
        Largest acceptable share of silent wide misses.
    conf : float
        Level of the one-sided Clopper-Pearson upper bound on the true silent share (the Monte
        Carlo error of a share over ``valid`` replications).

    Returns
    -------
    DataFrame
        One row per estimator: ``valid``, ``wide_misses``, ``silent`` and ``silent_own``
        (counts), ``silent_share``, ``silent_share_own``, ``silent_upper`` /
        ``silent_upper_own`` (the upper bounds), ``passes`` and ``passes_own``.

    Examples
    --------
    >>> t = pd.DataFrame({"scenario": "lo", "estimator": ["a", "b"], "valid": [100, 100],
    ...                   "wide_misses": [3, 9], "silent_wide_miss": [0.0, 0.08],
    ...                   "silent_wide_miss_own": [0.02, 0.08]})
    >>> silent_miss_criterion(t, "lo")[["estimator", "silent", "passes"]].to_dict("list")
    {'estimator': ['a', 'b'], 'silent': [0, 8], 'passes': [True, False]}
    """
    sub = table[table["scenario"] == scenario]
    if sub.empty:
        raise KeyError(f"no rows for scenario {scenario!r} in the table")
    if not 0 <= limit < 1 or not 0 < conf < 1:
        raise ValueError(f"limit must be in [0, 1) and conf in (0, 1), got {limit}, {conf}")

    def upper(k: int, n: int) -> float:
        return 1.0 if k >= n else float(stats.beta.ppf(conf, k + 1, n - k)) if n else math.nan

    rows = []
    for r in sub.itertuples(index=False):
        n = int(r.valid)
        k = round(float(r.silent_wide_miss) * n) if n else 0
        ko = round(float(r.silent_wide_miss_own) * n) if n else 0
        rows.append({"estimator": r.estimator, "valid": n, "wide_misses": int(r.wide_misses),
                     "silent": k, "silent_own": ko,
                     "silent_share": k / n if n else math.nan,
                     "silent_share_own": ko / n if n else math.nan,
                     "silent_upper": upper(k, n), "silent_upper_own": upper(ko, n),
                     "passes": bool(n and k / n <= limit),
                     "passes_own": bool(n and ko / n <= limit)})
    return pd.DataFrame(rows)
