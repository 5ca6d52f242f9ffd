"""ANOVA tables (one-way, two-way, Welch) on frames and on warehouse aggregates.

Both paths go through the same sufficient statistics, so a study can push the aggregation to
SQL (``GROUP BY`` giving ``n``, ``mean`` and ``var`` per cell) and get the numbers of the row
path exactly:

- one-way (classical and Welch): :func:`statsmodels.stats.oneway.anova_generic` on per-group
  ``(n, mean, var)``;
- two-way (type II or III sums of squares): weighted least squares on the cell means with
  weights ``n``; the within-cell sum of squares ``sum((n - 1) var)`` is added to every residual,
  which is exactly the row-level residual sum of squares.

Effect sizes: eta squared (``SS_effect / SS_total``) and partial eta squared
(``SS_effect / (SS_effect + SS_residual)``); omega squared for one-way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.oneway import anova_generic

from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["AnovaResult", "anova", "anova_from_aggregates", "group_aggregates"]


@dataclass(frozen=True, eq=False, repr=False)
class AnovaResult(ResultMixin):
    """An ANOVA table (``to_frame()``: one row per effect plus ``Residual``)."""

    kind: str
    outcome: str
    factors: tuple[str, ...]
    table: pd.DataFrame
    groups: pd.DataFrame
    n: int
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """The ANOVA table (a copy)."""
        return self.table.copy()

    @property
    def pvalue(self) -> float:
        """p-value of the first effect (the factor of a one-way ANOVA)."""
        return float(self.table["pvalue"].iloc[0])

    def summary(self) -> Summary:
        """ANOVA table with effect sizes."""
        return Summary(f"{self.kind} ANOVA of {self.outcome} by {' x '.join(self.factors)}",
                       self.table.reset_index(), info={"n": self.n, "cells": len(self.groups)},
                       diagnostics=self.diagnostics,
                       notes=["Welch's ANOVA does not assume equal variances; the classical F "
                              "test does." if self.kind.startswith("Welch") else
                              "Classical F tests assume equal variances within cells; compare "
                              "with Welch's ANOVA when group spreads differ."])

    def plot(self, ax: Any = None):
        """Group means with 95% intervals."""
        import matplotlib.pyplot as plt

        g = self.groups
        ax = ax or plt.subplots(figsize=(5, 3))[1]
        se = np.sqrt(g["var"] / g["n"])
        q = stats.t.ppf(0.975, np.maximum(g["n"] - 1, 1))
        labels = [" / ".join(str(v) for v in row) for row in g[list(self.factors)].itertuples(index=False)]
        x = np.arange(len(g))
        ax.errorbar(x, g["mean"], yerr=q * se, fmt="o", capsize=3)
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_ylabel(f"mean {self.outcome}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"kind": self.kind, "outcome": self.outcome, "factors": list(self.factors),
                         "n": self.n, "table": self.table.reset_index().to_dict(orient="records"),
                         "groups": self.groups.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def group_aggregates(data: pd.DataFrame, outcome: str, factors: str | Sequence[str]) -> pd.DataFrame:
    """Per-cell ``n``, ``mean`` and ``var`` (ddof=1): what a warehouse ``GROUP BY`` returns.

    Examples
    --------
    >>> df = pd.DataFrame({"q": ["a", "a", "b", "b"], "y": [1.0, 3.0, 2.0, 6.0]})
    >>> group_aggregates(df, "y", "q")["mean"].tolist()
    [2.0, 4.0]
    """
    fs = [factors] if isinstance(factors, str) else list(factors)
    require_columns(data, [outcome, *fs], role="ANOVA columns", allow_empty=False)
    require_finite(data, [outcome, *fs], role="ANOVA columns")
    g = data.groupby(fs, observed=True, sort=True)[outcome]
    out = g.agg(n="size", mean="mean", var="var").reset_index()
    out["var"] = out["var"].fillna(0.0)
    return out


def _check_aggregates(agg: pd.DataFrame, fs: list[str]) -> pd.DataFrame:
    require_columns(agg, [*fs, "n", "mean", "var"], role="aggregate columns", allow_empty=False)
    require_finite(agg, ["n", "mean", "var"], role="aggregate columns")
    if (agg["n"] < 1).any() or (agg["var"] < 0).any():
        raise DataError("aggregates need n >= 1 and var >= 0 in every cell")
    if agg.duplicated(fs).any():
        raise DataError(f"aggregates have duplicate cells for {fs}; aggregate once per cell")
    return agg.sort_values(fs).reset_index(drop=True)


def anova(data: pd.DataFrame, outcome: str, factors: str | Sequence[str], *,
          kind: Literal["classical", "welch"] = "classical", typ: int = 2) -> AnovaResult:
    """One-way or two-way ANOVA (or Welch's one-way ANOVA) on a frame.

    Parameters
    ----------
    data : DataFrame
        One row per observation.
    outcome : str
        Numeric outcome.
    factors : str or list of str
        One factor (one-way) or two (two-way, with interaction).
    kind : {"classical", "welch"}
        Welch's heteroscedasticity-robust one-way test (one factor only).
    typ : {2, 3}
        Sums of squares type for two-way tables (type III uses sum-to-zero contrasts).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"q": np.repeat(["a", "b", "c"], 30)})
    >>> df["y"] = rng.normal(size=90) + (df.q == "c") * 1.0
    >>> anova(df, "y", "q").pvalue < 0.01
    True
    """
    fs = [factors] if isinstance(factors, str) else list(factors)
    return anova_from_aggregates(group_aggregates(data, outcome, fs), fs, kind=kind, typ=typ,
                                 outcome=outcome)


def anova_from_aggregates(agg: pd.DataFrame, factors: str | Sequence[str], *,
                          kind: Literal["classical", "welch"] = "classical", typ: int = 2,
                          outcome: str = "outcome") -> AnovaResult:
    """ANOVA from per-cell sufficient statistics ``n``, ``mean``, ``var`` (ddof=1).

    Gives the same table as :func:`anova` on the rows (a test checks it).

    Examples
    --------
    >>> agg = pd.DataFrame({"q": ["a", "b"], "n": [10, 10], "mean": [0.0, 1.0], "var": [1.0, 1.0]})
    >>> round(float(anova_from_aggregates(agg, "q").to_frame().loc["q", "F"]), 3)
    5.0
    """
    fs = [factors] if isinstance(factors, str) else list(factors)
    if not 1 <= len(fs) <= 2:
        raise DesignError(f"ANOVA here takes one or two factors; got {fs}")
    if kind not in ("classical", "welch"):
        raise DesignError(f"kind must be 'classical' or 'welch'; got {kind!r}")
    if kind == "welch" and len(fs) != 1:
        raise DesignError("Welch's ANOVA is one-way; use one factor (or a combined cell factor)")
    if typ not in (2, 3):
        raise DesignError(f"typ must be 2 or 3; got {typ!r}")
    agg = _check_aggregates(agg, fs)
    if len(agg) < 2:
        raise DataError(f"ANOVA needs at least two groups of {fs}; got {len(agg)}")
    n = agg["n"].to_numpy(float)
    m = agg["mean"].to_numpy(float)
    v = agg["var"].to_numpy(float)
    N = int(n.sum())
    diags: list[Diagnostic] = []
    if (n < 2).any():
        diags.append(Diagnostic("small_cells", "warning", f"{int((n < 2).sum())} cell(s) have one "
                                "observation: no within-cell variance there", int((n < 2).sum())))
    if len(fs) == 1:
        res = anova_generic(m, v, n, use_var="unequal" if kind == "welch" else "equal")
        ss_within = float(((n - 1) * v).sum())
        grand = float((n * m).sum() / N)
        ss_between = float((n * (m - grand) ** 2).sum())
        k = len(agg)
        df1, df2 = float(res.df[0]), float(res.df[1])
        ss_tot = ss_between + ss_within
        ms_within = ss_within / (N - k)
        row = {"df": df1, "sum_sq": ss_between, "mean_sq": ss_between / (k - 1),
               "F": float(res.statistic), "pvalue": float(res.pvalue),
               "eta_sq": ss_between / ss_tot, "partial_eta_sq": ss_between / ss_tot,
               "omega_sq": (ss_between - (k - 1) * ms_within) / (ss_tot + ms_within)}
        table = pd.DataFrame([row, {"df": df2, "sum_sq": ss_within, "mean_sq": ms_within}],
                             index=pd.Index([fs[0], "Residual"], name="effect"))
        vr = v[n > 1]
        if kind == "classical" and len(vr) > 1 and vr.min() > 0 and vr.max() / vr.min() > 4:
            diags.append(Diagnostic("unequal_variances", "warning",
                                    f"group variances differ by {vr.max() / vr.min():.1f}x: the "
                                    "classical F test assumes equal variances; use kind='welch'",
                                    float(vr.max() / vr.min())))
        return AnovaResult("Welch one-way" if kind == "welch" else "one-way", outcome, tuple(fs),
                           table, agg, N, tuple(diags))
    return _two_way(agg, fs, typ, outcome, diags)


def _term_of(name: str) -> str:
    if ":" in name:
        return "AB"
    if name.startswith("C(_a"):
        return "A"
    if name.startswith("C(_b"):
        return "B"
    return "Intercept"


def _two_way(agg: pd.DataFrame, fs: list[str], typ: int, outcome: str,
             diags: list[Diagnostic]) -> AnovaResult:
    a, b = fs
    n = agg["n"].to_numpy(float)
    N = int(n.sum())
    ss_within = float(((n - 1) * agg["var"].to_numpy(float)).sum())
    contrast = "Sum" if typ == 3 else "Treatment"
    cell = agg.rename(columns={a: "_a", b: "_b"})
    terms = {"A": f"C(_a, {contrast})", "B": f"C(_b, {contrast})",
             "AB": f"C(_a, {contrast}):C(_b, {contrast})"}

    def ssr(rhs: list[str]) -> tuple[float, int]:
        f = "mean ~ " + (" + ".join(terms[t] for t in rhs) if rhs else "1")
        r = sm.WLS.from_formula(f, cell, weights=cell["n"]).fit()
        return float(r.ssr) + ss_within, int(r.df_model) + 1

    full_ssr, k_full = ssr(["A", "B", "AB"])
    df_res = N - k_full
    if df_res <= 0:
        raise DataError("two-way ANOVA with interaction needs more observations than cells")
    if typ == 2:
        sA = ssr(["B"])[0] - ssr(["A", "B"])[0]
        sB = ssr(["A"])[0] - ssr(["A", "B"])[0]
        sAB = ssr(["A", "B"])[0] - full_ssr
    else:  # type III: Wald tests of each coefficient block under sum-to-zero contrasts
        f = "mean ~ " + " + ".join(terms.values())
        r = sm.WLS.from_formula(f, cell, weights=cell["n"]).fit()
        names = list(r.model.exog_names)
        xtx_inv = np.linalg.inv(r.model.wexog.T @ r.model.wexog)
        b_all = np.asarray(r.params)

        def wald_ss(key: str) -> float:
            idx = [i for i, nm in enumerate(names) if _term_of(nm) == key]
            bb = b_all[idx]
            return float(bb @ np.linalg.solve(xtx_inv[np.ix_(idx, idx)], bb))

        sA, sB, sAB = wald_ss("A"), wald_ss("B"), wald_ss("AB")
    ka, kb = agg[a].nunique(), agg[b].nunique()
    dfs = {a: ka - 1, b: kb - 1, f"{a}:{b}": k_full - ka - kb + 1}
    ss_tot = float(ssr([])[0])
    ms_res = full_ssr / df_res
    rows = []
    for name, ss in ((a, sA), (b, sB), (f"{a}:{b}", sAB)):
        d = dfs[name]
        F = (ss / d) / ms_res if d > 0 else np.nan
        rows.append({"df": float(d), "sum_sq": ss, "mean_sq": ss / d if d else np.nan, "F": F,
                     "pvalue": float(stats.f.sf(F, d, df_res)) if d > 0 else np.nan,
                     "eta_sq": ss / ss_tot, "partial_eta_sq": ss / (ss + full_ssr)})
    rows.append({"df": float(df_res), "sum_sq": full_ssr, "mean_sq": ms_res})
    n_cells = ka * kb
    if len(agg) < n_cells:
        diags.append(Diagnostic("empty_cells", "warning", f"{n_cells - len(agg)} of {n_cells} "
                                "factor combinations have no data: the interaction is only partly "
                                "estimable", n_cells - len(agg)))
    table = pd.DataFrame(rows, index=pd.Index([a, b, f"{a}:{b}", "Residual"], name="effect"))
    return AnovaResult(f"two-way (type {'I' * typ})", outcome, (a, b), table, agg, N, tuple(diags))
