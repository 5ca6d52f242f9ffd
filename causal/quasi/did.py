"""Difference-in-differences: 2x2, two-way fixed effects with cluster-robust SE, and staggered
adoption with the Borusyak–Jaravel–Spiess (2024) imputation estimator.

Naive TWFE with staggered timing compares late adopters with early adopters that are already
treated; when effects grow over time that "forbidden comparison" biases it (Goodman-Bacon 2021).
The imputation estimator only learns unit and period effects from untreated observations
(never-treated and not-yet-treated), imputes the untreated outcome of every treated observation
and averages the differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from causal.quasi._common import cluster_se, require, two_way_demean
from causal.results import EffectEstimate
from servicelab.errors import DataError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, Summary, jsonable

Z95 = float(stats.norm.ppf(0.975))


def _row(estimand: str, population: str, method: str, b: float, se: float | None,
         n: int) -> EffectEstimate:
    if se is None or not np.isfinite(se):
        return EffectEstimate(estimand, population, method, float(b), None, float("nan"),
                              float("nan"), n=n)
    return EffectEstimate(estimand, population, method, float(b), float(se), b - Z95 * se,
                          b + Z95 * se, pvalue=float(2 * stats.norm.sf(abs(b / se))), n=n)


@dataclass(frozen=True)
class DiDResult:
    """A DiD estimate (2x2 or TWFE) with its cell means or design facts."""

    estimate: EffectEstimate
    cells: pd.DataFrame
    design: str
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def summary(self) -> Summary:
        """The estimate, the design and its assumptions."""
        return Summary(f"Difference-in-differences ({self.design})",
                       pd.DataFrame([self.estimate.to_row()]),
                       info={"estimand": self.estimate.estimand,
                             "population": self.estimate.population},
                       diagnostics=self.diagnostics,
                       notes=[("Assumes parallel trends: without treatment, treated and control "
                              "units would have moved in parallel.")])

    def plot(self, ax: Any = None):
        """Group means before and after (2x2) or over time (TWFE)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3))[1]
        for g, sub in self.cells.groupby("group"):
            ax.plot(sub["period"].astype(str), sub["mean"], marker="o", label=str(g))
        ax.set_ylabel("mean outcome")
        ax.legend(title="group")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"design": self.design, "estimate": self.estimate.to_dict(),
                         "cells": self.cells.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class DiD2x2:
    """Two groups, two periods: ``y ~ treated + post + treated:post``.

    Parameters
    ----------
    outcome, group, post : str
        Outcome; 0/1 treated-group indicator; 0/1 post-period indicator.
    cluster : str, optional
        Cluster-robust SE by this column (else HC1; none when there is one row per cell).

    Examples
    --------
    >>> df = pd.DataFrame({"y": [135, 121, 165, 132], "g": [1, 1, 0, 0], "post": [0, 1, 0, 1]})
    >>> round(DiD2x2("y", "g", "post").fit(df).estimate.estimate, 6)
    19.0
    """

    outcome: str
    group: str
    post: str
    cluster: str | None = None
    population: str = "the treated group in the post period"

    def fit(self, data: pd.DataFrame) -> DiDResult:
        """Estimate the ATT of the 2x2 design."""
        require(data, [self.outcome, self.group, self.post] + ([self.cluster] if self.cluster
                                                               else []))
        for c in (self.group, self.post):
            if not set(pd.unique(data[c]).tolist()) <= {0, 1}:
                raise DataError(f"{c!r} must be a 0/1 indicator")
        g, p = data[self.group].astype(float), data[self.post].astype(float)
        cells = data.assign(_g=g, _p=p).groupby(["_g", "_p"])[self.outcome].agg(["mean", "size"])
        if len(cells) < 4:
            have = [tuple(int(v) for v in i) for i in cells.index]
            raise DataError(f"a 2x2 DiD needs all four group x period cells; have {have}. "
                            "With no pre-period (or no control group) there is nothing to "
                            "difference")
        design = np.column_stack([np.ones(len(g)), g, p, g * p])
        y = data[self.outcome].to_numpy(float)
        fit = sm.OLS(y, design)
        n = len(y)
        if n <= 4:
            b = float(fit.fit().params[3])
            se = None
        elif self.cluster:
            r = fit.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(data[self.cluster])[0]})
            b, se = float(r.params[3]), float(r.bse[3])
        else:
            r = fit.fit(cov_type="HC1")
            b, se = float(r.params[3]), float(r.bse[3])
        est = _row("ATT", self.population, "2x2 DiD", b, se, n)
        tidy = cells.reset_index().rename(columns={"_g": "group", "_p": "period"})
        return DiDResult(est, tidy, "2x2")


@dataclass(frozen=True)
class TWFE:
    """Two-way fixed-effects DiD: ``y_it = a_i + l_t + beta D_it + e``, SE clustered by unit.

    Unbiased when all treated units adopt at once (or effects are constant); with staggered
    adoption and dynamic effects use :class:`StaggeredDiD`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame([(u, t) for u in range(20) for t in range(6)], columns=["u", "t"])
    >>> df["d"] = ((df.u < 5) & (df.t >= 3)).astype(int)
    >>> df["y"] = df.u * 0.1 + df.t * 0.2 + 1.5 * df.d + rng.normal(0, 0.1, len(df))
    >>> round(TWFE("y", "u", "t", "d").fit(df).estimate.estimate, 1)
    1.5
    """

    outcome: str
    unit: str
    time: str
    treated: str
    cluster: str | None = None
    population: str = "treated unit-periods"

    def fit(self, data: pd.DataFrame) -> DiDResult:
        """Estimate beta with cluster-robust (CR1) SE."""
        require(data, [self.outcome, self.unit, self.time, self.treated])
        d = data[self.treated].astype(float).to_numpy()
        if not set(np.unique(d).tolist()) <= {0.0, 1.0}:
            raise DataError(f"{self.treated!r} must be a 0/1 treatment indicator")
        ever = data.groupby(self.unit)[self.treated].transform("max").astype(bool)
        if ever.all():
            raise DataError("every unit is treated at some point and there is no never-treated "
                            "unit; TWFE then relies on already-treated units as controls. Use "
                            "StaggeredDiD (not-yet-treated controls) or add control units")
        first = data.loc[data[self.treated].astype(bool)].groupby(self.unit)[self.time].min()
        if (first <= data[self.time].min()).all():
            raise DataError("treated units are treated from the first period: no pre-period to "
                            "learn their untreated level from")
        cl = data[self.cluster or self.unit].to_numpy()
        yd = two_way_demean(np.column_stack([data[self.outcome].to_numpy(float), d]),
                            data[self.unit].to_numpy(), data[self.time].to_numpy())
        b = float(yd[:, 1] @ yd[:, 0] / (yd[:, 1] @ yd[:, 1]))
        u = yd[:, 0] - b * yd[:, 1]
        nu, nt = data[self.unit].nunique(), data[self.time].nunique()
        se = float(cluster_se(yd[:, [1]], u, cl, dof_k=1 + (nu - 1) + (nt - 1) + 1)[0])
        est = _row("ATT", self.population, f"TWFE (SE clustered by {self.cluster or self.unit})",
                   b, se, len(u))
        diags = []
        n_cl = len(np.unique(cl))
        if n_cl < 20:
            diags.append(Diagnostic("few_clusters", "warning", f"only {n_cl} clusters; cluster-"
                                    "robust SEs are too small with few clusters (use a wild "
                                    "cluster bootstrap or randomisation inference)", n_cl))
        cells = (data.assign(group=np.where(ever, "ever treated", "never treated"))
                 .groupby(["group", self.time])[self.outcome].mean().reset_index()
                 .rename(columns={self.time: "period", self.outcome: "mean"}))
        return DiDResult(est, cells, "TWFE", tuple(diags))


@dataclass(frozen=True)
class StaggeredResult:
    """Imputation-estimator ATT, event-study coefficients, pre-trend test and naive TWFE."""

    att: EffectEstimate
    twfe: EffectEstimate
    event_study: pd.DataFrame
    pretrend_stat: float
    pretrend_df: int
    pretrend_p: float
    cohorts: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def summary(self) -> Summary:
        """ATT (imputation) next to naive TWFE, plus the pre-trend test."""
        return Summary("Staggered DiD (Borusyak-Jaravel-Spiess imputation)",
                       pd.DataFrame([self.att.to_row(), self.twfe.to_row()]),
                       info={"estimand": "ATT over treated unit-periods",
                             "population": self.att.population,
                             "pre-trend test": f"chi2({self.pretrend_df}) = "
                                               f"{self.pretrend_stat:.2f}, p = {self.pretrend_p:.3f}"},
                       diagnostics=self.diagnostics,
                       notes=[("Imputation: unit and period effects are learned only from untreated "
                              "observations (never- and not-yet-treated), so already-treated "
                              "units are never used as controls. Naive TWFE is shown for contrast; "
                              "it is biased when effects vary with time since adoption."),
                              ("Pre-trend test: placebo effects in the periods before adoption, "
                              "imputed the same way; jointly zero under parallel trends.")])

    def plot(self, ax: Any = None):
        """Event-study plot: effect by period relative to adoption with 95% intervals."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        es = self.event_study
        pre = es["rel_time"] < 0
        for mask, colour, label in ((pre, "grey", "pre (placebo)"), (~pre, "C0", "post")):
            s = es[mask]
            ax.errorbar(s["rel_time"], s["estimate"], yerr=Z95 * s["se"], fmt="o", capsize=2,
                        color=colour, label=label)
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("periods since adoption")
        ax.set_ylabel("effect")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"att": self.att.to_dict(), "twfe": self.twfe.to_dict(),
                         "event_study": self.event_study.to_dict(orient="records"),
                         "pretrend": {"stat": self.pretrend_stat, "df": self.pretrend_df,
                                      "p": self.pretrend_p},
                         "cohorts": self.cohorts.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class StaggeredDiD:
    """Staggered adoption with the imputation estimator (Borusyak, Jaravel & Spiess 2024).

    Parameters
    ----------
    outcome, unit, time : str
        Panel columns; ``time`` is an integer (or sortable) period index.
    adoption : str
        Column with the unit's first treated period (NaN/None for never-treated units).
    pre_periods : int
        Number of pre-adoption periods tested for pre-trends and shown in the event study.
    max_horizon : int or None
        Last event time reported (all by default).
    n_boot : int
        Unit (cluster) bootstrap replications for standard errors.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame([(u, t) for u in range(30) for t in range(10)], columns=["u", "t"])
    >>> df["adopt"] = df.u.map(lambda u: [3, 6, np.nan][u % 3])
    >>> df["y"] = 0.1 * df.u + 0.3 * df.t + np.where(df.t >= df.adopt, 1 + 0.5 * (df.t - df.adopt),
    ...                                                0) + rng.normal(0, 0.1, len(df))
    >>> r = StaggeredDiD("y", "u", "t", "adopt", n_boot=50).fit(df, rng=0)
    >>> bool(r.att.ci_low < 2.23 < r.att.ci_high)  # true ATT: mean of 1 + 0.5 * event time = 2.23
    True
    """

    outcome: str
    unit: str
    time: str
    adoption: str
    pre_periods: int = 3
    max_horizon: int | None = None
    n_boot: int = 199
    population: str = "treated unit-periods (all adoption cohorts)"

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> StaggeredResult:
        """Impute untreated outcomes, average, bootstrap units, test pre-trends."""
        require(data, [self.outcome, self.unit, self.time])
        if self.adoption not in data.columns:
            raise DataError(f"adoption column {self.adoption!r} not in the data")
        gen = resolve_rng(rng)
        df = data[[self.outcome, self.unit, self.time, self.adoption]].copy()
        df["_u"] = pd.factorize(df[self.unit])[0]
        times = np.sort(df[self.time].unique())
        df["_t"] = np.searchsorted(times, df[self.time])
        adopt = df[self.adoption].to_numpy(float)
        a_idx = np.where(np.isnan(adopt), np.inf,
                         np.searchsorted(times, np.nan_to_num(adopt, nan=0.0)))
        df["_a"] = a_idx
        df["_rel"] = df["_t"] - df["_a"]
        treated_obs = df["_t"] >= df["_a"]
        if not treated_obs.any():
            raise DataError(f"no unit is ever treated according to {self.adoption!r}")
        if (df.loc[np.isfinite(df["_a"]), "_a"] <= 0).all():
            raise DataError("every treated unit is treated from the first period: there is no "
                            "pre-period to learn their untreated level from")
        # each treated period needs some untreated unit observed in it
        untreated_at = df.loc[~treated_obs].groupby("_t").size()
        lacking = sorted(set(df.loc[treated_obs, "_t"]) - set(untreated_at.index))
        if lacking:
            raise DataError(
                f"periods {[times[i] for i in lacking][:5]} have no never- or not-yet-treated "
                "unit: their untreated outcome cannot be imputed. Restrict the window to periods "
                "with untreated units or add never-treated units")
        units = df["_u"].to_numpy()
        n_units = units.max() + 1
        by_unit = [np.nonzero(units == k)[0] for k in range(n_units)]
        h_max = self.max_horizon
        full = self._estimate(df, h_max)
        boots = []
        for _ in range(self.n_boot):
            draw = gen.integers(0, n_units, n_units)
            rows = np.concatenate([by_unit[k] for k in draw])
            sub = df.iloc[rows].copy()
            sub["_u"] = np.repeat(np.arange(n_units), [len(by_unit[k]) for k in draw])
            try:
                boots.append(self._estimate(sub, h_max))
            except (DataError, np.linalg.LinAlgError, ValueError):
                continue
        keys = list(full.keys())
        mat = np.array([[b.get(k, np.nan) for k in keys] for b in boots])
        se = dict(zip(keys, np.nanstd(mat, axis=0, ddof=1), strict=True))
        n_treated = int(treated_obs.sum())
        att = _row("ATT", self.population, "imputation (BJS), unit bootstrap SE", full["att"],
                   se["att"], n_treated)
        # naive TWFE for contrast
        dcol = treated_obs.astype(float).to_numpy()
        yd = two_way_demean(np.column_stack([df[self.outcome].to_numpy(float), dcol]),
                            df["_u"].to_numpy(), df["_t"].to_numpy())
        bt = float(yd[:, 1] @ yd[:, 0] / (yd[:, 1] @ yd[:, 1]))
        ut = yd[:, 0] - bt * yd[:, 1]
        set_ = float(cluster_se(yd[:, [1]], ut, df["_u"].to_numpy(),
                                dof_k=1 + n_units + len(times) - 1)[0])
        twfe = _row("ATT", self.population, "naive TWFE (for contrast)", bt, set_, n_treated)
        rel_keys = sorted(k for k in keys if isinstance(k, int | np.integer))
        es = pd.DataFrame({"rel_time": rel_keys, "estimate": [full[k] for k in rel_keys],
                           "se": [se[k] for k in rel_keys]})
        pre_keys = [k for k in rel_keys if k < 0]
        diags = []
        if pre_keys:
            cols = [keys.index(k) for k in pre_keys]
            sub = mat[:, cols]
            sub = sub[~np.isnan(sub).any(axis=1)]
            v = np.atleast_2d(np.cov(sub, rowvar=False))
            b = np.array([full[k] for k in pre_keys])
            stat = float(b @ np.linalg.pinv(v) @ b)
            dof = len(pre_keys)
            p = float(stats.chi2.sf(stat, dof))
            diags.append(Diagnostic("pretrend", "ok" if p > 0.05 else "warning",
                                    f"pre-trend test chi2({dof}) = {stat:.2f}, p = {p:.3f}"
                                    + ("" if p > 0.05 else ": parallel trends are doubtful"), p))
        else:
            stat, dof, p = float("nan"), 0, float("nan")
            diags.append(Diagnostic("pretrend", "warning", "no pre-periods to test"))
        if n_units < 20:
            diags.append(Diagnostic("few_clusters", "warning", f"only {n_units} units: the unit "
                                    "bootstrap SE is rough with few clusters", n_units))
        cohorts = (df.loc[np.isfinite(df["_a"])].groupby(self.adoption)["_u"].nunique()
                   .rename("units").reset_index())
        return StaggeredResult(att, twfe, es, stat, dof, p, cohorts, tuple(diags))

    def _estimate(self, df: pd.DataFrame, h_max: int | None) -> dict[Any, float]:
        y = df[self.outcome].to_numpy(float)
        u, t, rel = df["_u"].to_numpy(), df["_t"].to_numpy(), df["_rel"].to_numpy()
        treated = rel >= 0
        out: dict[Any, float] = {}
        tau = self._impute(y, u, t, ~treated, treated)
        out["att"] = float(np.mean(tau))
        rel_t = rel[treated]
        for h in np.unique(rel_t):
            if h_max is None or h <= h_max:
                out[int(h)] = float(tau[rel_t == h].mean())
        # placebo: hold out the K pre-periods of treated units and impute them
        k = self.pre_periods
        first_t = np.full(u.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(first_t, u, t)
        # keep each unit's first period in the fit so its level stays identified
        lead = (rel < 0) & (rel >= -k) & (t > first_t[u])
        if lead.any():
            fit_mask = ~treated & ~lead
            tau_pre = self._impute(y, u, t, fit_mask, lead)
            rel_l = rel[lead]
            for h in np.unique(rel_l):
                out[int(h)] = float(tau_pre[rel_l == h].mean())
        return out

    @staticmethod
    def _impute(y, u, t, fit_mask, target_mask) -> np.ndarray:
        """Fit y = a_u + l_t on ``fit_mask`` rows; return y - prediction on ``target_mask``."""
        uf, tf, yf = u[fit_mask], t[fit_mask], y[fit_mask]
        nu, nt = u.max() + 1, t.max() + 1
        a, l_ = np.zeros(nu), np.zeros(nt)
        cu = np.maximum(np.bincount(uf, minlength=nu), 1)
        ct = np.maximum(np.bincount(tf, minlength=nt), 1)
        for _ in range(500):
            a_new = np.bincount(uf, yf - l_[tf], minlength=nu) / cu
            l_new = np.bincount(tf, yf - a_new[uf], minlength=nt) / ct
            done = max(np.max(np.abs(a_new - a)), np.max(np.abs(l_new - l_))) < 1e-10
            a, l_ = a_new, l_new
            if done:
                break
        ut, tt = u[target_mask], t[target_mask]
        if (np.bincount(uf, minlength=nu)[np.unique(ut)] == 0).any():
            raise DataError("a treated unit has no untreated period: no pre-period")
        return y[target_mask] - a[ut] - l_[tt]
