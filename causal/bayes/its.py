"""Bayesian interrupted time series in the style of CausalImpact: :class:`BayesianITS`.

(Named apart from :class:`causal.quasi.InterruptedTimeSeries`, the frequentist segmented
regression. The old name ``causal.bayes.InterruptedTimeSeries`` still works, with a
:class:`~causal.bayes.BayesDeprecationWarning`.)

A structural time-series model is fitted to the pre-period only::

    y[t] = level[t] + season[t mod period] + eps[t],          eps ~ Normal(0, sigma)
    level[t] = level0 + slope * t + sum_{s <= t} sigma_level * z[s],   z ~ Normal(0, 1)

(a local-level Gaussian random walk around a linear trend, with a sum-to-zero weekly season).
The random-walk innovations of the post-period are not constrained by data, so the posterior
predictive of ``y`` after the intervention is the counterfactual with honestly widening bands.
The effect is observed minus counterfactual, pointwise, averaged and cumulated.

Scale: one row per period (day); a series of any number of contacts is aggregated first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pymc as pm

from causal.bayes._compat import deprecated_alias
from causal.bayes._data import require_columns
from causal.bayes.sampling import ConvergenceGate, Sampler, sample_model, save_netcdf
from causal.results import EffectEstimate
from servicelab import DataError, DesignError, Diagnostic, RNGLike, Summary, jsonable, resolve_rng
from servicelab.results import ResultMixin


@dataclass(frozen=True)
class BayesianITS:
    """Pre/post counterfactual from a trend + seasonality + random-walk model (spec).

    Parameters
    ----------
    value : str
        The series (one row per period, e.g. daily mean handle time).
    time : str
        Period column (dates or integers), sorted or not; must be unique.
    intervention : object
        First post-period value of ``time``.
    period : int
        Seasonal period in rows (7 for daily data with a weekly cycle).
    level_sd : float
        Half-normal scale of the random-walk innovation sd (in sds of the pre-period series).
    min_pre : int
        Fewest pre-period rows accepted (two seasonal cycles at least).

    Examples
    --------
    >>> its = BayesianITS("handle_s", "day", intervention=pd.Timestamp("2026-02-02"))
    >>> res = its.fit(daily, rng=3)  # doctest: +SKIP
    >>> res.average_effect.estimate  # doctest: +SKIP
    """

    value: str
    time: str
    intervention: Any
    period: int = 7
    level_sd: float = 0.05
    min_pre: int = 14
    sampler: Sampler = field(default_factory=lambda: Sampler(draws=500, tune=500, chains=2))
    gate: ConvergenceGate = field(default_factory=ConvergenceGate)
    ci_level: float = 0.95
    population: str = "the treated series over the post-period"

    def fit(self, frame: pd.DataFrame, rng: RNGLike = None) -> BayesianITSResult:
        """Sample the posterior of the pre-period model and the post-period counterfactual."""
        require_columns(frame, [self.value, self.time], "BayesianITS")
        f = frame[[self.time, self.value]].sort_values(self.time).reset_index(drop=True)
        if f[self.time].duplicated().any():
            raise DataError(f"column {self.time!r} has duplicate periods; aggregate to one row each")
        y = pd.to_numeric(f[self.value], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(y).all():
            raise DataError(f"column {self.value!r} has missing or infinite values; fill the gaps")
        post = (f[self.time] >= self.intervention).to_numpy()
        n_pre = int((~post).sum())
        if n_pre < max(self.min_pre, 2 * self.period) or post.sum() < 1:
            raise DesignError(
                f"need >= {max(self.min_pre, 2 * self.period)} pre-period rows and >= 1 post row "
                f"around intervention={self.intervention!r}; got {n_pre} pre and {int(post.sum())} "
                "post")
        if post[:n_pre].any():
            raise DataError("post-period rows must follow the pre-period rows")
        gen = resolve_rng(rng)
        m, s = y[:n_pre].mean(), y[:n_pre].std(ddof=1) or 1.0
        z = (y - m) / s
        T = len(y)
        t = np.arange(T, dtype=float)
        season_idx = np.arange(T) % self.period
        with pm.Model() as model:
            level0 = pm.Normal("level0", 0.0, 1.0)
            slope = pm.Normal("slope", 0.0, 1.0 / n_pre)
            sigma_level = pm.HalfNormal("sigma_level", self.level_sd)
            innov = pm.Normal("level_z", 0.0, 1.0, shape=T)
            level = level0 + slope * t + pm.math.cumsum(sigma_level * innov)
            free = pm.Normal("season_free", 0.0, 1.0, shape=self.period - 1)
            season = pm.Deterministic(
                "season", pm.math.concatenate([free, -pm.math.sum(free, keepdims=True)]))
            sigma = pm.HalfNormal("sigma", 1.0)
            mu = pm.Deterministic("mu", level + season[season_idx])
            pm.Normal("y_pre", mu[:n_pre], sigma, observed=z[:n_pre])
        idata = sample_model(model, self.sampler, gen)
        diags = self.gate.check(idata, ["level0", "slope", "sigma_level", "season_free", "sigma"])
        mu_d = idata.posterior["mu"].values.reshape(-1, T)
        sig_d = idata.posterior["sigma"].values.reshape(-1, 1)
        cf = m + s * (mu_d + sig_d * gen.standard_normal(mu_d.shape))
        return BayesianITSResult(self, f[self.time].to_numpy(), y, n_pre, cf, tuple(diags), idata)


@dataclass(frozen=True, eq=False, repr=False)
class BayesianITSResult(ResultMixin):
    """Counterfactual draws (draws x periods, original units) and the effects derived from them."""

    spec: BayesianITS
    time: np.ndarray = field(repr=False)
    observed: np.ndarray = field(repr=False)
    n_pre: int = 0
    counterfactual: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    diagnostics: tuple[Diagnostic, ...] = ()
    idata: az.InferenceData | None = field(default=None, repr=False)

    @property
    def pointwise(self) -> np.ndarray:
        """Effect draws per post-period row (observed minus counterfactual)."""
        return self.observed[self.n_pre:] - self.counterfactual[:, self.n_pre:]

    def _est(self, d: np.ndarray, estimand: str) -> EffectEstimate:
        a = (1 - self.spec.ci_level) / 2
        return EffectEstimate(estimand, self.spec.population, "Bayesian structural time series",
                              float(d.mean()), float(d.std(ddof=1)), float(np.quantile(d, a)),
                              float(np.quantile(d, 1 - a)), self.spec.ci_level, None,
                              len(self.observed))

    @property
    def average_effect(self) -> EffectEstimate:
        """The average effect per post-period, with its posterior interval."""
        return self._est(self.pointwise.mean(axis=1), "ATT (average per period)")

    @property
    def cumulative_effect(self) -> EffectEstimate:
        """The cumulative effect over the post-period, with its posterior interval."""
        return self._est(self.pointwise.sum(axis=1), "ATT (cumulative)")

    @property
    def p_positive(self) -> float:
        """P(average effect > 0)."""
        return float(np.mean(self.pointwise.mean(axis=1) > 0))

    def bands(self) -> pd.DataFrame:
        """Per period: observed, counterfactual mean and band, pointwise effect band."""
        a = (1 - self.spec.ci_level) / 2
        cf = self.counterfactual
        return pd.DataFrame({
            "time": self.time, "observed": self.observed, "post": np.arange(len(self.time))
            >= self.n_pre, "counterfactual": cf.mean(axis=0),
            "cf_low": np.quantile(cf, a, axis=0), "cf_high": np.quantile(cf, 1 - a, axis=0),
            "effect": self.observed - cf.mean(axis=0),
            "effect_low": self.observed - np.quantile(cf, 1 - a, axis=0),
            "effect_high": self.observed - np.quantile(cf, a, axis=0)})

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        rows = [{"quantity": name, "estimate": e.estimate, "ci_low": e.ci_low,
                 "ci_high": e.ci_high}
                for name, e in (("average effect", self.average_effect),
                                ("cumulative effect", self.cumulative_effect))]
        post_obs = self.observed[self.n_pre:].mean()
        cf = self.counterfactual[:, self.n_pre:].mean(axis=1)
        info = {"value": self.spec.value, "intervention": str(self.spec.intervention),
                "pre periods": self.n_pre, "post periods": len(self.observed) - self.n_pre,
                "observed post mean": float(post_obs),
                "counterfactual post mean": float(cf.mean()),
                "relative effect": float(np.mean(post_obs / cf - 1)),
                "P(average effect > 0)": self.p_positive}
        return Summary(f"Interrupted time series: {self.spec.value}", pd.DataFrame(rows),
                       info=info, diagnostics=self.diagnostics)

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Observed series and counterfactual band (the top CausalImpact panel)."""
        ax = ax or plt.subplots(figsize=(8, 3.5))[1]
        b = self.bands()
        x = np.arange(len(b)) if not np.issubdtype(b["time"].dtype, np.datetime64) else b["time"]
        ax.fill_between(x, b["cf_low"], b["cf_high"], color="tab:blue", alpha=0.2,
                        label=f"counterfactual {int(self.spec.ci_level * 100)}% band")
        ax.plot(x, b["counterfactual"], color="tab:blue", ls="--", lw=1, label="counterfactual")
        ax.plot(x, b["observed"], color="k", lw=1, label="observed")
        ax.axvline(x[self.n_pre], color="tab:red", lw=1, label="intervention")
        ax.set_ylabel(self.spec.value)
        ax.legend(fontsize=8)
        return ax

    def plot_panels(self) -> plt.Figure:
        """The three CausalImpact panels: original, pointwise and cumulative effect."""
        fig, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
        self.plot(axes[0])
        b = self.bands()
        x = np.arange(len(b)) if not np.issubdtype(b["time"].dtype, np.datetime64) else b["time"]
        post = b["post"].to_numpy()
        axes[1].fill_between(x[post], b["effect_low"][post], b["effect_high"][post], alpha=0.2)
        axes[1].plot(x[post], b["effect"][post], color="tab:blue")
        axes[1].axhline(0, color="k", lw=0.8)
        axes[1].set_ylabel("pointwise effect")
        cum = np.cumsum(self.pointwise, axis=1)
        a = (1 - self.spec.ci_level) / 2
        axes[2].fill_between(x[post], np.quantile(cum, a, axis=0), np.quantile(cum, 1 - a, axis=0),
                             alpha=0.2)
        axes[2].plot(x[post], cum.mean(axis=0), color="tab:blue")
        axes[2].axhline(0, color="k", lw=0.8)
        axes[2].set_ylabel("cumulative effect")
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({"value": self.spec.value, "intervention": str(self.spec.intervention),
                         "average_effect": self.average_effect.to_dict(),
                         "cumulative_effect": self.cumulative_effect.to_dict(),
                         "p_positive": self.p_positive,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the posterior (ArviZ InferenceData) to ``path`` as NetCDF; return the path."""
        if self.idata is None:
            raise DesignError("no InferenceData on this result")
        return save_netcdf(self.idata, path)


_RENAMED = {"InterruptedTimeSeries": "BayesianITS", "ITSResult": "BayesianITSResult"}


def __getattr__(name: str) -> Any:
    """Deprecated aliases: ``InterruptedTimeSeries`` -> :class:`BayesianITS` (and its result)."""
    if name in _RENAMED:
        return deprecated_alias(__name__, name, _RENAMED[name], globals()[_RENAMED[name]])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
