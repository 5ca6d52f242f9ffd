"""Difference-in-differences: 2x2, two-way fixed effects with cluster-robust SE, and staggered
adoption with the Borusyak–Jaravel–Spiess (2024) imputation estimator.

Naive TWFE with staggered timing compares late adopters with early adopters that are already
treated; when effects grow over time that "forbidden comparison" biases it (Goodman-Bacon 2021).
The imputation estimator only learns unit and period effects from untreated observations
(never-treated and not-yet-treated), imputes the untreated outcome of every treated observation
and averages the differences. A Callaway & Sant'Anna (2021) estimate (group-time 2x2 ATTs
against not-yet- or never-treated units, aggregated by cohort size) is computed next to it as a
cross-check, and the event-study plot shows both.

Both :class:`TWFE` and :class:`StaggeredDiD` take analytic weights (``weights="contacts"``: a
volume-weighted site panel) and time-varying covariates (``covariates=[...]``).

Argument order (shared by every quasi-experimental spec): ``outcome`` first, then the panel
structure (``unit``, ``time``), then what defines treatment (``treatment`` for TWFE, ``adoption``
for staggered designs), then options. ``TWFE(treated=...)`` is the old name of ``treatment`` and
still works with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from causal.quasi._common import cluster_se, require, two_way_demean
from causal.results import EffectEstimate, critical_value
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable


def _row(estimand: str, population: str, method: str, b: float, se: float | None,
         n: int, ci_level: float) -> EffectEstimate:
    ok = se is not None and bool(np.isfinite(se))
    return EffectEstimate.from_se(estimand, population, method, b, float(se) if ok else None,
                                  ci_level=ci_level, n=n)


def _check_ci_level(ci_level: float) -> None:
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must be in (0, 1); got {ci_level!r}")


def _weighted_demean(M: np.ndarray, unit: np.ndarray, time: np.ndarray, w: np.ndarray, *,
                     tol: float = 1e-10, max_iter: int = 1000) -> np.ndarray:
    """Residualise the columns of ``M`` on unit and time effects by weighted alternating
    projections (weighted within transformation; unbalanced panels allowed).
    """
    M = np.array(M, dtype=float, copy=True).reshape(len(M), -1)
    ui, ti = pd.factorize(unit)[0], pd.factorize(time)[0]
    nu, nt = ui.max() + 1, ti.max() + 1
    wu, wt = np.bincount(ui, w, minlength=nu), np.bincount(ti, w, minlength=nt)
    for _ in range(max_iter):
        prev = M.copy()
        for idx, ws, n in ((ui, wu, nu), (ti, wt, nt)):
            sums = np.zeros((n, M.shape[1]))
            np.add.at(sums, idx, M * w[:, None])
            M -= (sums / np.where(ws > 0, ws, 1.0)[:, None])[idx]
        if np.max(np.abs(M - prev)) < tol:
            break
    return M


def _wls_cluster(yd: np.ndarray, Xd: np.ndarray, w: np.ndarray, cl: np.ndarray,
                 dof_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WLS on within-transformed data with CR1 standard errors (Stata factor)."""
    XtW = Xd.T * w
    bread = np.linalg.pinv(XtW @ Xd)
    b = bread @ (XtW @ yd)
    u = yd - Xd @ b
    g = pd.factorize(cl)[0]
    n_g = g.max() + 1
    sc = np.zeros((n_g, Xd.shape[1]))
    np.add.at(sc, g, Xd * (w * u)[:, None])
    n = len(u)
    cov = bread @ (sc.T @ sc) @ bread * (n_g / (n_g - 1) * (n - 1) / (n - dof_k))
    return b, np.sqrt(np.diag(cov)), u


def _check_weights(data: pd.DataFrame, weights: str | None) -> np.ndarray | None:
    if weights is None:
        return None
    if weights not in data.columns:
        raise DataError(f"weights column {weights!r} not in the data")
    w = data[weights].to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(w).all():
        raise DataError(f"weights {weights!r} have NULL or infinite values")
    if (w < 0).any():
        raise DataError(f"weights {weights!r} have {int((w < 0).sum())} negative values; analytic "
                        "weights (e.g. contact volume) must be >= 0")
    if not (w > 0).any():
        raise DataError(f"weights {weights!r} are all zero")
    return w


@dataclass(frozen=True, eq=False, repr=False)
class DiDResult(ResultMixin):
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
    population : str
        Whom the ATT refers to (named in the result).
    ci_level : float
        Level of the Wald interval (default 0.95).

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
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        _check_ci_level(self.ci_level)

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
        est = _row("ATT", self.population, "2x2 DiD", b, se, n, self.ci_level)
        tidy = cells.reset_index().rename(columns={"_g": "group", "_p": "period"})
        return DiDResult(est, tidy, "2x2")


@dataclass(frozen=True)
class TWFE:
    """Two-way fixed-effects DiD: ``y_it = a_i + l_t + beta D_it + e``, SE clustered by unit.

    Unbiased when all treated units adopt at once (or effects are constant); with staggered
    adoption and dynamic effects use :class:`StaggeredDiD`.

    Parameters
    ----------
    outcome, unit, time : str
        Panel columns.
    treatment : str
        0/1 column: the unit is treated in that period (``treated=`` is the deprecated name).
    cluster : str, optional
        Cluster of the CR1 standard errors (default: ``unit``).
    weights : str, optional
        Analytic weights (e.g. contacts per site-day): weighted within transformation and WLS.
    covariates : sequence of str, optional
        Time-varying covariates added to the regression.
    ci_level : float
        Level of the Wald interval (default 0.95).

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
    treatment: str | None = None
    cluster: str | None = None
    population: str = "treated unit-periods"
    weights: str | None = None
    covariates: Sequence[str] = ()
    treated: str | None = None  # deprecated name of ``treatment``
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        _check_ci_level(self.ci_level)
        if self.treated is not None:
            warnings.warn("TWFE(treated=...) is deprecated; use treatment=... (the name every "
                          "causal spec uses)", DeprecationWarning, stacklevel=3)
            if self.treatment is not None and self.treatment != self.treated:
                raise DesignError("give treatment= or the deprecated treated=, not both")
            object.__setattr__(self, "treatment", self.treated)
        if self.treatment is None:
            raise DesignError("TWFE needs treatment=<0/1 column>")

    def fit(self, data: pd.DataFrame) -> DiDResult:
        """Estimate beta with cluster-robust (CR1) SE (weighted and with covariates if given)."""
        treat = str(self.treatment)
        covs = list(self.covariates)
        require(data, [self.outcome, self.unit, self.time, treat, *covs]
                + ([self.cluster] if self.cluster else []))
        w = _check_weights(data, self.weights)
        d = data[treat].astype(float).to_numpy()
        if not set(np.unique(d).tolist()) <= {0.0, 1.0}:
            raise DataError(f"{treat!r} must be a 0/1 treatment indicator")
        ever = data.groupby(self.unit)[treat].transform("max").astype(bool)
        if ever.all():
            raise DataError("every unit is treated at some point and there is no never-treated "
                            "unit; TWFE then relies on already-treated units as controls. Use "
                            "StaggeredDiD (not-yet-treated controls) or add control units")
        first = data.loc[data[treat].astype(bool)].groupby(self.unit)[self.time].min()
        if (first <= data[self.time].min()).all():
            raise DataError("treated units are treated from the first period: no pre-period to "
                            "learn their untreated level from")
        cl = data[self.cluster or self.unit].to_numpy()
        nu, nt = data[self.unit].nunique(), data[self.time].nunique()
        if w is None and not covs:
            yd = two_way_demean(np.column_stack([data[self.outcome].to_numpy(float), d]),
                                data[self.unit].to_numpy(), data[self.time].to_numpy())
            b = float(yd[:, 1] @ yd[:, 0] / (yd[:, 1] @ yd[:, 1]))
            u = yd[:, 0] - b * yd[:, 1]
            se = float(cluster_se(yd[:, [1]], u, cl, dof_k=1 + (nu - 1) + (nt - 1) + 1)[0])
        else:
            ww = np.ones(len(d)) if w is None else w
            M = np.column_stack([data[self.outcome].to_numpy(float), d,
                                 *[data[c].to_numpy(float) for c in covs]])
            Md = _weighted_demean(M, data[self.unit].to_numpy(), data[self.time].to_numpy(), ww)
            bb, ses, u = _wls_cluster(Md[:, 0], Md[:, 1:], ww, cl,
                                      dof_k=1 + (nu - 1) + (nt - 1) + 1 + len(covs))
            b, se = float(bb[0]), float(ses[0])
        extra = (f", weighted by {self.weights}" if self.weights else "") + (
            f", covariates {covs}" if covs else "")
        est = _row("ATT", self.population,
                   f"TWFE (SE clustered by {self.cluster or self.unit}{extra})", b, se, len(u),
                   self.ci_level)
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


@dataclass(frozen=True, eq=False, repr=False)
class StaggeredResult(ResultMixin):
    """Imputation-estimator ATT, event-study coefficients, pre-trend test, naive TWFE and the
    Callaway-Sant'Anna cross-check.
    """

    att: EffectEstimate
    twfe: EffectEstimate
    event_study: pd.DataFrame
    pretrend_stat: float
    pretrend_df: int
    pretrend_p: float
    cohorts: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    cs_att: EffectEstimate | None = None
    cs_event_study: pd.DataFrame | None = None
    group_time: pd.DataFrame | None = None

    def summary(self) -> Summary:
        """ATT (imputation) next to naive TWFE and Callaway-Sant'Anna, plus the pre-trend test."""
        rows = [self.att.to_row(), self.twfe.to_row()]
        if self.cs_att is not None:
            rows.append(self.cs_att.to_row())
        return Summary("Staggered DiD (Borusyak-Jaravel-Spiess imputation)",
                       pd.DataFrame(rows),
                       info={"estimand": "ATT over treated unit-periods",
                             "population": self.att.population,
                             "pre-trend test": f"chi2({self.pretrend_df}) = "
                                               f"{self.pretrend_stat:.2f}, p = {self.pretrend_p:.3f}"},
                       diagnostics=self.diagnostics,
                       notes=[("Imputation: unit and period effects are learned only from untreated "
                              "observations (never- and not-yet-treated), so already-treated "
                              "units are never used as controls. Naive TWFE is shown for contrast; "
                              "it is biased when effects vary with time since adoption."),
                              ("Callaway-Sant'Anna: 2x2 DiDs of each adoption cohort against "
                               "not-yet-treated (or never-treated) units from the period before "
                               "adoption, averaged with cohort-size weights; a cross-check with "
                               "other identifying comparisons (no covariates)."),
                              ("Pre-trend test: placebo effects in the periods before adoption, "
                              "imputed the same way; jointly zero under parallel trends.")])

    def plot(self, ax: Any = None):
        """Event-study plot: imputation and Callaway-Sant'Anna effects by period relative to
        adoption, with normal intervals at the spec's ``ci_level`` (that of :attr:`att`).
        """
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        q = critical_value(self.att.ci_level)
        es = self.event_study
        pre = es["rel_time"] < 0
        for mask, colour, label in ((pre, "grey", "imputation, pre (placebo)"),
                                    (~pre, "C0", "imputation (BJS)")):
            s = es[mask]
            ax.errorbar(s["rel_time"], s["estimate"], yerr=q * s["se"], fmt="o", capsize=2,
                        color=colour, label=label)
        if self.cs_event_study is not None and len(self.cs_event_study):
            cs = self.cs_event_study
            ax.errorbar(cs["rel_time"] + 0.2, cs["estimate"], yerr=q * cs["se"], fmt="s",
                        capsize=2, color="C1", ms=4, label="Callaway-Sant'Anna")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(-0.5, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("periods since adoption")
        ax.set_ylabel(f"effect ({self.att.ci_level:.0%} intervals)")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"att": self.att.to_dict(), "twfe": self.twfe.to_dict(),
                         "event_study": self.event_study.to_dict(orient="records"),
                         "pretrend": {"stat": self.pretrend_stat, "df": self.pretrend_df,
                                      "p": self.pretrend_p},
                         "cohorts": self.cohorts.to_dict(orient="records"),
                         "callaway_santanna": None if self.cs_att is None else {
                             "att": self.cs_att.to_dict(),
                             "event_study": self.cs_event_study.to_dict(orient="records")},
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
    weights : str, optional
        Analytic weights per unit-period (e.g. contacts of a site-day): unit and period effects
        are fitted by weighted least squares and the ATT is the weighted mean over treated
        unit-periods (a per-contact ATT for volume weights).
    covariates : sequence of str, optional
        Time-varying covariates, fitted with the unit and period effects on untreated
        observations and used in the imputation (not in the Callaway-Sant'Anna cross-check).
    cross_check : bool
        Compute the Callaway-Sant'Anna estimate next to the imputation one.
    cs_control : {"notyet", "never"}
        Controls of the cross-check: not-yet-treated (and never-treated) units, or never-treated
        units only.
    ci_level : float
        Level of the intervals (normal, from the bootstrap SE) of every estimate and of the
        event-study error bars (default 0.95).

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
    weights: str | None = None
    covariates: Sequence[str] = ()
    cross_check: bool = True
    cs_control: str = "notyet"
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        _check_ci_level(self.ci_level)

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> StaggeredResult:
        """Impute untreated outcomes, average, bootstrap units, test pre-trends."""
        covs = list(self.covariates)
        require(data, [self.outcome, self.unit, self.time, *covs])
        if self.adoption not in data.columns:
            raise DataError(f"adoption column {self.adoption!r} not in the data")
        if self.cs_control not in ("notyet", "never"):
            raise DesignError(f"cs_control must be 'notyet' or 'never'; got {self.cs_control!r}")
        w = _check_weights(data, self.weights)
        gen = resolve_rng(rng)
        df = data[[self.outcome, self.unit, self.time, self.adoption, *covs]].copy()
        df["_w"] = 1.0 if w is None else w
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
        extra = (f", weighted by {self.weights}" if self.weights else "") + (
            f", covariates {covs}" if covs else "")
        att = _row("ATT", self.population, f"imputation (BJS), unit bootstrap SE{extra}",
                   full["att"], se["att"], n_treated, self.ci_level)
        # naive TWFE for contrast
        dcol = treated_obs.astype(float).to_numpy()
        if w is None and not covs:
            yd = two_way_demean(np.column_stack([df[self.outcome].to_numpy(float), dcol]),
                                df["_u"].to_numpy(), df["_t"].to_numpy())
            bt = float(yd[:, 1] @ yd[:, 0] / (yd[:, 1] @ yd[:, 1]))
            ut = yd[:, 0] - bt * yd[:, 1]
            set_ = float(cluster_se(yd[:, [1]], ut, df["_u"].to_numpy(),
                                    dof_k=1 + n_units + len(times) - 1)[0])
        else:
            M = np.column_stack([df[self.outcome].to_numpy(float), dcol,
                                 *[df[c].to_numpy(float) for c in covs]])
            Md = _weighted_demean(M, df["_u"].to_numpy(), df["_t"].to_numpy(), df["_w"].to_numpy())
            bb, ses, _ = _wls_cluster(Md[:, 0], Md[:, 1:], df["_w"].to_numpy(), df["_u"].to_numpy(),
                                      dof_k=1 + n_units + len(times) - 1 + len(covs))
            bt, set_ = float(bb[0]), float(ses[0])
        twfe = _row("ATT", self.population, "naive TWFE (for contrast)", bt, set_, n_treated,
                    self.ci_level)
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
        cs_att = cs_es = gt = None
        if self.cross_check:
            cs_keys = [k for k in keys if isinstance(k, tuple)]
            if ("cs", "att") in full and np.isfinite(full[("cs", "att")]):
                cs_att = _row("ATT", self.population,
                              f"Callaway-Sant'Anna ({self.cs_control}-treated controls), unit "
                              "bootstrap SE" + (f", weighted by {self.weights}" if self.weights else ""),
                              full[("cs", "att")], se[("cs", "att")], n_treated, self.ci_level)
                ek = sorted(k[1] for k in cs_keys if k[0] == "cs_es")
                cs_es = pd.DataFrame({"rel_time": ek, "estimate": [full[("cs_es", e)] for e in ek],
                                      "se": [se[("cs_es", e)] for e in ek]})
                gt = self._group_time(df, keep_table=True)
                gap = abs(cs_att.estimate - att.estimate)
                joint = float(np.hypot(cs_att.se or 0.0, att.se or 0.0))
                ok = not np.isfinite(joint) or joint == 0 or gap <= 3 * joint
                diags.append(Diagnostic("cross_check", "ok" if ok else "warning",
                                        f"Callaway-Sant'Anna ATT {cs_att.estimate:.4g} vs imputation "
                                        f"{att.estimate:.4g}" + ("" if ok else ": the estimators "
                                        "disagree beyond their noise; check the comparison groups "
                                        "and the parallel-trends assumption"), float(gap)))
            else:
                diags.append(Diagnostic("cross_check", "warning", "Callaway-Sant'Anna could not be "
                                        "computed (no cohort with a pre-period and a control)"))
        return StaggeredResult(att, twfe, es, stat, dof, p, cohorts, tuple(diags), cs_att, cs_es, gt)

    def _estimate(self, df: pd.DataFrame, h_max: int | None) -> dict[Any, float]:
        y = df[self.outcome].to_numpy(float)
        u, t, rel = df["_u"].to_numpy(), df["_t"].to_numpy(), df["_rel"].to_numpy()
        covs = list(self.covariates)
        X = df[covs].to_numpy(float) if covs else None
        w = df["_w"].to_numpy(float) if self.weights else None
        treated = rel >= 0
        out: dict[Any, float] = {}
        tau = self._impute(y, u, t, ~treated, treated, X, w)
        wt = None if w is None else w[treated]
        out["att"] = float(np.mean(tau)) if wt is None else float(np.average(tau, weights=wt))
        rel_t = rel[treated]
        for h in np.unique(rel_t):
            if h_max is None or h <= h_max:
                m = rel_t == h
                out[int(h)] = (float(tau[m].mean()) if wt is None or wt[m].sum() == 0
                               else float(np.average(tau[m], weights=wt[m])))
        # placebo: hold out the K pre-periods of treated units and impute them
        k = self.pre_periods
        first_t = np.full(u.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(first_t, u, t)
        # keep each unit's first period in the fit so its level stays identified
        lead = (rel < 0) & (rel >= -k) & (t > first_t[u])
        if lead.any():
            fit_mask = ~treated & ~lead
            tau_pre = self._impute(y, u, t, fit_mask, lead, X, w)
            rel_l = rel[lead]
            wl = None if w is None else w[lead]
            for h in np.unique(rel_l):
                m = rel_l == h
                out[int(h)] = (float(tau_pre[m].mean()) if wl is None or wl[m].sum() == 0
                               else float(np.average(tau_pre[m], weights=wl[m])))
        if self.cross_check:
            out.update(self._group_time(df))
        return out

    def _group_time(self, df: pd.DataFrame, keep_table: bool = False) -> Any:
        """Callaway-Sant'Anna: ATT(g, t) of each cohort g against not-yet- (or never-) treated
        units, long differences from the period before adoption (universal base), aggregated to
        event times and to the overall ATT with cohort-size weights.
        """
        cell = df.groupby(["_u", "_t"]).apply(
            lambda f: pd.Series({"y": np.average(f[self.outcome], weights=f["_w"])
                                 if f["_w"].sum() > 0 else np.nan, "w": f["_w"].sum()}),
            include_groups=False) if df.duplicated(["_u", "_t"]).any() else (
            df.set_index(["_u", "_t"])[[self.outcome, "_w"]].rename(columns={self.outcome: "y",
                                                                             "_w": "w"}))
        Y = cell["y"].unstack("_t")
        W = cell["w"].unstack("_t")
        n_t = int(df["_t"].max()) + 1
        Y = Y.reindex(columns=range(n_t))
        W = W.reindex(columns=range(n_t)).fillna(0.0)
        a = df.groupby("_u")["_a"].first().reindex(Y.index).to_numpy()
        Yv, Wv = Y.to_numpy(float), W.to_numpy(float)
        wu = np.nanmean(np.where(Wv > 0, Wv, np.nan), axis=1)  # unit weight: mean weight
        wu = np.where(np.isfinite(wu), wu, 0.0)
        cols = np.arange(n_t)
        rows, out = [], {}
        for g in np.unique(a[np.isfinite(a)]).astype(int):
            base = g - 1
            if base < 0:
                continue
            D = Yv - Yv[:, [base]]
            obs = np.isfinite(D)
            tr = (a == g)[:, None] & obs
            if self.cs_control == "never":
                ctl = (~np.isfinite(a))[:, None] & obs
            else:
                ctl = (a[:, None] > np.maximum(cols, base)[None, :]) & obs & (a != g)[:, None]
            wt_tr = np.where(tr, wu[:, None], 0.0)
            wt_c = np.where(ctl, wu[:, None], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                m_tr = np.nansum(np.where(tr, D, 0.0) * wt_tr, axis=0) / wt_tr.sum(axis=0)
                m_c = np.nansum(np.where(ctl, D, 0.0) * wt_c, axis=0) / wt_c.sum(axis=0)
            att_gt = m_tr - m_c
            n_g = float(wu[a == g].sum())
            for tt in cols:
                if tt == base or not np.isfinite(att_gt[tt]):
                    continue
                e = int(tt - g)
                if e < -self.pre_periods or (self.max_horizon is not None and e > self.max_horizon):
                    continue
                rows.append({"cohort": g, "period": int(tt), "rel_time": e, "att": float(att_gt[tt]),
                             "weight": n_g})
        gt = pd.DataFrame(rows, columns=["cohort", "period", "rel_time", "att", "weight"])
        if keep_table:
            return gt
        if gt.empty:
            return {("cs", "att"): float("nan")}
        post = gt[gt["rel_time"] >= 0]
        out[("cs", "att")] = (float(np.average(post["att"], weights=post["weight"]))
                              if len(post) and post["weight"].sum() > 0 else float("nan"))
        for e, sub in gt.groupby("rel_time"):
            if sub["weight"].sum() > 0:
                out[("cs_es", int(e))] = float(np.average(sub["att"], weights=sub["weight"]))
        return out

    @staticmethod
    def _impute(y, u, t, fit_mask, target_mask, X=None, w=None) -> np.ndarray:
        """Fit y = a_u + l_t (+ X g) on ``fit_mask`` rows (weighted by ``w``); return
        y - prediction on ``target_mask``.
        """
        uf, tf, yf = u[fit_mask], t[fit_mask], y[fit_mask]
        nu, nt = u.max() + 1, t.max() + 1
        gamma = None
        if X is not None or w is not None:
            wf = np.ones(len(yf)) if w is None else w[fit_mask]
            if X is not None:
                M = _weighted_demean(np.column_stack([yf, X[fit_mask]]), uf, tf, wf)
                Xd = M[:, 1:]
                gamma = np.linalg.lstsq(Xd * np.sqrt(wf)[:, None], M[:, 0] * np.sqrt(wf),
                                        rcond=None)[0]
                yf = yf - X[fit_mask] @ gamma
        else:
            wf = None
        a, l_ = np.zeros(nu), np.zeros(nt)
        if wf is None:
            cu = np.maximum(np.bincount(uf, minlength=nu), 1)
            ct = np.maximum(np.bincount(tf, minlength=nt), 1)
            for _ in range(500):
                a_new = np.bincount(uf, yf - l_[tf], minlength=nu) / cu
                l_new = np.bincount(tf, yf - a_new[uf], minlength=nt) / ct
                done = max(np.max(np.abs(a_new - a)), np.max(np.abs(l_new - l_))) < 1e-10
                a, l_ = a_new, l_new
                if done:
                    break
        else:
            cu = np.bincount(uf, wf, minlength=nu)
            ct = np.bincount(tf, wf, minlength=nt)
            cu, ct = np.where(cu > 0, cu, 1.0), np.where(ct > 0, ct, 1.0)
            for _ in range(500):
                a_new = np.bincount(uf, wf * (yf - l_[tf]), minlength=nu) / cu
                l_new = np.bincount(tf, wf * (yf - a_new[uf]), minlength=nt) / ct
                done = max(np.max(np.abs(a_new - a)), np.max(np.abs(l_new - l_))) < 1e-10
                a, l_ = a_new, l_new
                if done:
                    break
        ut, tt = u[target_mask], t[target_mask]
        if (np.bincount(uf, minlength=nu)[np.unique(ut)] == 0).any():
            raise DataError("a treated unit has no untreated period: no pre-period")
        pred = a[ut] + l_[tt]
        if gamma is not None:
            pred = pred + X[target_mask] @ gamma
        return y[target_mask] - pred
