"""Synthetic control: constrained convex weights (Abadie, Diamond & Hainmueller 2010) and a
Bayesian variant through CausalPy, both with pre-period RMSPE, donor weights and
placebo-in-space inference.

CausalPy's default Bayesian synthetic control (Dirichlet weights) tends to spread weight thinly
across donors (pre-period RMSPE 4.8 against 1.66 for constrained weights on Prop 99, GUIDE §4):
always read the pre-period fit, and compare with the classic estimator.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from causal.quasi._common import require
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, Summary, jsonable


class ConvexHullWarning(UserWarning):
    """The treated unit's pre-period path lies outside the donors' range."""


def convex_weights(y_treated: np.ndarray, y_donors: np.ndarray, penalty: float = 1e6
                   ) -> np.ndarray:
    """Non-negative weights summing to one that best reproduce ``y_treated`` from donor columns.

    Solved as a non-negative least-squares problem with the sum-to-one constraint added as a
    heavily weighted row (exact to ~1e-6).
    """
    scale = max(float(np.std(y_donors)), 1e-12)
    a = np.vstack([y_donors / scale, penalty * np.ones((1, y_donors.shape[1]))])
    b = np.concatenate([y_treated / scale, [penalty]])
    w, _ = nnls(a, b, maxiter=50 * y_donors.shape[1])
    return w / w.sum()


@dataclass(frozen=True)
class SynthResult:
    """Synthetic-control fit, effect path, donor weights and placebo inference."""

    method: str
    treated_unit: str
    treatment_time: Any
    weights: pd.Series
    path: pd.DataFrame
    att: EffectEstimate
    pre_rmspe: float
    post_rmspe: float
    placebo: pd.DataFrame
    p_value: float | None
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def summary(self) -> Summary:
        """ATT, fit, top donors and the placebo p-value."""
        top = self.weights[self.weights > 0.01].sort_values(ascending=False).head(8)
        return Summary(
            f"Synthetic control ({self.method}): {self.treated_unit}",
            pd.DataFrame([self.att.to_row()]),
            info={"estimand": "ATT of the treated unit over the post period",
                  "population": self.att.population,
                  "pre-period RMSPE": self.pre_rmspe, "post/pre RMSPE ratio":
                      self.post_rmspe / self.pre_rmspe if self.pre_rmspe else float("nan"),
                  "placebo-in-space p": "n/a" if self.p_value is None else self.p_value,
                  "donor weights > 1%": ", ".join(f"{k} {v:.2f}" for k, v in top.items())},
            diagnostics=self.diagnostics,
            notes=[("Placebo in space: each donor is treated as if it had been treated and its "
                   "post/pre RMSPE ratio compared with the treated unit's; p is the treated "
                   "unit's rank among all of them.")])

    def plot(self, ax: Any = None):
        """Treated vs synthetic path with the treatment time marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        ax.plot(self.path["time"], self.path["treated"], label=self.treated_unit, color="black")
        ax.plot(self.path["time"], self.path["synthetic"], label="synthetic", ls="--")
        ax.axvline(self.treatment_time, color="grey", ls=":")
        ax.legend()
        ax.set_title(f"pre-period RMSPE {self.pre_rmspe:.3g}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"method": self.method, "treated_unit": self.treated_unit,
                         "treatment_time": str(self.treatment_time),
                         "weights": self.weights.to_dict(), "att": self.att.to_dict(),
                         "pre_rmspe": self.pre_rmspe, "post_rmspe": self.post_rmspe,
                         "p_value": self.p_value,
                         "placebo": self.placebo.to_dict(orient="records"),
                         "path": self.path.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def _wide(data: pd.DataFrame, outcome: str, unit: str, time: str, treated_unit: Any,
          treatment_time: Any, donors: Any, min_donors: int) -> tuple[pd.DataFrame, np.ndarray]:
    require(data, [outcome, unit, time])
    wide = data.pivot_table(index=time, columns=unit, values=outcome, aggfunc="mean")
    if treated_unit not in wide.columns:
        raise DataError(f"treated unit {treated_unit!r} not in column {unit!r}")
    pool = [c for c in (donors if donors is not None else wide.columns) if c != treated_unit]
    missing = [c for c in pool if c not in wide.columns]
    if missing:
        raise DataError(f"donors {missing} not in column {unit!r}")
    wide = wide[[treated_unit, *pool]]
    if wide.isna().any().any():
        bad = wide.columns[wide.isna().any()].tolist()
        raise DataError(f"units {bad} lack some periods; a synthetic control needs a balanced "
                        "panel (drop them or fill the gaps)")
    if len(pool) < min_donors:
        raise DesignError(f"synthetic control needs at least {min_donors} donor units; got "
                          f"{len(pool)}. Add untreated units to the donor pool")
    pre = (wide.index < treatment_time)
    if pre.sum() < 2:
        raise DataError(f"fewer than 2 pre-treatment periods before {treatment_time!r}; the "
                        "weights cannot be fitted")
    if pre.all():
        raise DataError(f"no period at or after treatment time {treatment_time!r}")
    return wide, np.asarray(pre)


def _hull_diagnostic(y1_pre: np.ndarray, y0_pre: np.ndarray) -> Diagnostic:
    above = y1_pre > y0_pre.max(axis=1)
    below = y1_pre < y0_pre.min(axis=1)
    share = float(np.mean(above | below))
    if share > 0.5:
        msg = (f"the treated unit lies outside the donors' range in {share:.0%} of pre-periods: "
               "no convex combination can reproduce it; the synthetic control extrapolates "
               "badly (demean the series, add donors or use another design)")
        warnings.warn(msg, ConvexHullWarning, stacklevel=3)
        return Diagnostic("convex_hull", "warning", msg, share)
    return Diagnostic("convex_hull", "ok", f"treated unit inside the donors' range in "
                      f"{1 - share:.0%} of pre-periods", share)


def _fit_diag(pre_rmspe: float, y1_pre: np.ndarray) -> Diagnostic:
    rel = pre_rmspe / max(float(np.std(y1_pre)), 1e-12)
    status = "ok" if rel < 0.5 else "warning"
    return Diagnostic("pre_fit", status, f"pre-period RMSPE {pre_rmspe:.4g} "
                      f"({rel:.0%} of the treated series' pre-period SD)"
                      + ("" if status == "ok" else ": poor pre-period fit, do not trust the gap"),
                      pre_rmspe)


@dataclass(frozen=True)
class SyntheticControl:
    """Classic synthetic control with convex donor weights fitted on pre-period outcomes.

    Parameters
    ----------
    outcome, unit, time : str
        Long-format panel columns.
    treated_unit : any
        The unit that was treated.
    treatment_time : any
        First treated period (comparable with ``time``).
    donors : sequence, optional
        Donor pool (default: all other units).
    demean : bool
        Subtract each unit's pre-period mean first (demeaned synthetic control, Ferman & Pinto
        2021): allows level differences between the treated unit and its donors.
    placebo : bool
        Run placebo-in-space inference.
    min_donors : int
        Fewer donors raise :class:`DesignError`.

    Examples
    --------
    >>> rng = np.random.default_rng(0); t = np.arange(30)
    >>> rows = [(u, s, (u + 1) * 0.1 * s + rng.normal(0, 0.05)) for u in range(6) for s in t]
    >>> df = pd.DataFrame(rows, columns=["u", "t", "y"])
    >>> df.loc[(df.u == 2) & (df.t >= 20), "y"] += 1.0
    >>> r = SyntheticControl("y", "u", "t", treated_unit=2, treatment_time=20).fit(df)
    >>> abs(r.att.estimate - 1.0) < 0.2
    True
    """

    outcome: str
    unit: str
    time: str
    treated_unit: Any
    treatment_time: Any
    donors: Any = None
    placebo: bool = True
    min_donors: int = 2
    demean: bool = False
    population: str = "the treated unit, post period"

    def fit(self, data: pd.DataFrame) -> SynthResult:
        """Fit the weights, compute the gap, run placebos."""
        wide, pre = _wide(data, self.outcome, self.unit, self.time, self.treated_unit,
                          self.treatment_time, self.donors, self.min_donors)
        y = wide.to_numpy(float)
        if self.demean:  # Ferman & Pinto (2021): match pre-period deviations, not levels
            y = y - y[pre].mean(axis=0)
        diags = [_hull_diagnostic(y[pre, 0], y[pre, 1:])]
        w = convex_weights(y[pre, 0], y[pre, 1:])
        synth = y[:, 1:] @ w
        gap = y[:, 0] - synth
        pre_r = float(np.sqrt(np.mean(gap[pre] ** 2)))
        post_r = float(np.sqrt(np.mean(gap[~pre] ** 2)))
        diags.append(_fit_diag(pre_r, y[pre, 0]))
        ratios = []
        if self.placebo:
            for j in range(1, y.shape[1]):
                others = [k for k in range(1, y.shape[1]) if k != j]
                wj = convex_weights(y[pre, j], y[pre][:, others])
                gj = y[:, j] - y[:, others] @ wj
                rp = np.sqrt(np.mean(gj[pre] ** 2))
                ratios.append((wide.columns[j], float(rp),
                               float(np.sqrt(np.mean(gj[~pre] ** 2)) / max(rp, 1e-12)),
                               float(gj[~pre].mean())))
        placebo = pd.DataFrame(ratios, columns=["unit", "pre_rmspe", "ratio", "mean_gap"])
        ratio = post_r / max(pre_r, 1e-12)
        p = (float((1 + np.sum(placebo["ratio"] >= ratio)) / (1 + len(placebo)))
             if len(placebo) else None)
        if p is not None and len(placebo) < 19:
            diags.append(Diagnostic("placebo_power", "warning", f"only {len(placebo)} donors: the "
                                    f"smallest attainable placebo p-value is "
                                    f"{1 / (1 + len(placebo)):.2f}", float(len(placebo))))
        att = float(gap[~pre].mean())
        # interval from the placebo distribution of mean post gaps (scaled by pre-fit)
        se = float(placebo["mean_gap"].std(ddof=1)) if len(placebo) > 2 else None
        est = EffectEstimate("ATT", self.population, "synthetic control (convex weights)", att,
                             se, att - 1.96 * se if se else float("nan"),
                             att + 1.96 * se if se else float("nan"), pvalue=p,
                             n=int((~pre).sum()))
        path = pd.DataFrame({"time": wide.index, "treated": y[:, 0], "synthetic": synth,
                             "gap": gap})
        weights = pd.Series(w, index=wide.columns[1:], name="weight")
        return SynthResult("convex weights (ADH)", str(self.treated_unit), self.treatment_time,
                           weights, path, est, pre_r, post_r, placebo, p, tuple(diags))


@dataclass(frozen=True)
class BayesianSyntheticControl:
    """Bayesian synthetic control via CausalPy's ``WeightedSumFitter`` (Dirichlet weights).

    Reports the same pre-period RMSPE and donor weights (posterior means) as
    :class:`SyntheticControl`; ``placebo=True`` refits for every donor (slow).

    Parameters
    ----------
    draws, tune, chains : int
        Sampler settings (chains run sequentially, ``cores=1``).
    """

    outcome: str
    unit: str
    time: str
    treated_unit: Any
    treatment_time: Any
    donors: Any = None
    placebo: bool = False
    min_donors: int = 2
    draws: int = 500
    tune: int = 500
    chains: int = 2
    population: str = "the treated unit, post period"

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> SynthResult:
        """Sample the posterior of the weights; gap, fit and (optionally) placebos."""
        wide, pre = _wide(data, self.outcome, self.unit, self.time, self.treated_unit,
                          self.treatment_time, self.donors, self.min_donors)
        gen = resolve_rng(rng)
        wide.columns = [str(c) for c in wide.columns]
        y = wide.to_numpy(float)
        diags = [_hull_diagnostic(y[pre, 0], y[pre, 1:])]
        w, draws_att, rhat = self._sample(wide, 0, pre, int(gen.integers(2**31)))
        synth = y[:, 1:] @ w
        gap = y[:, 0] - synth
        pre_r = float(np.sqrt(np.mean(gap[pre] ** 2)))
        post_r = float(np.sqrt(np.mean(gap[~pre] ** 2)))
        diags.append(_fit_diag(pre_r, y[pre, 0]))
        if np.isnan(rhat):
            diags.append(Diagnostic("rhat", "warning", "one chain: R-hat cannot be computed; "
                                    "use chains >= 2 to check convergence"))
        else:
            diags.append(Diagnostic(
            "rhat", "ok" if rhat < 1.01 else ("warning" if rhat < 1.05 else "fail"),
            f"max R-hat of the donor weights {rhat:.3f}"
            + ("" if rhat < 1.01 else ": the chains disagree; sample longer (draws, tune, "
               "chains) before reading the weights"), rhat))
        ratios = []
        if self.placebo:
            for j in range(1, y.shape[1]):
                sub = wide.drop(columns=wide.columns[0])
                sub = sub[[wide.columns[j]] + [c for c in sub.columns if c != wide.columns[j]]]
                wj, _, _ = self._sample(sub, 0, pre, int(gen.integers(2**31)))
                gj = sub.iloc[:, 0].to_numpy() - sub.iloc[:, 1:].to_numpy() @ wj
                rp = np.sqrt(np.mean(gj[pre] ** 2))
                ratios.append((wide.columns[j], float(rp),
                               float(np.sqrt(np.mean(gj[~pre] ** 2)) / max(rp, 1e-12)),
                               float(gj[~pre].mean())))
        placebo = pd.DataFrame(ratios, columns=["unit", "pre_rmspe", "ratio", "mean_gap"])
        ratio = post_r / max(pre_r, 1e-12)
        p = (float((1 + np.sum(placebo["ratio"] >= ratio)) / (1 + len(placebo)))
             if len(placebo) else None)
        lo, hi = np.quantile(draws_att, [0.025, 0.975])
        est = EffectEstimate("ATT", self.population,
                             "Bayesian synthetic control (CausalPy, Dirichlet weights)",
                             float(np.mean(draws_att)), float(np.std(draws_att, ddof=1)),
                             float(lo), float(hi), pvalue=p, n=int((~pre).sum()))
        path = pd.DataFrame({"time": wide.index, "treated": y[:, 0], "synthetic": synth,
                             "gap": gap})
        return SynthResult("Bayesian (CausalPy WeightedSumFitter)", str(self.treated_unit),
                           self.treatment_time, pd.Series(w, index=wide.columns[1:],
                                                          name="weight"),
                           path, est, pre_r, post_r, placebo, p, tuple(diags))

    def _sample(self, wide: pd.DataFrame, col: int, pre: np.ndarray, seed: int
                ) -> tuple[np.ndarray, np.ndarray, float]:
        import arviz as az
        import causalpy as cp

        treated = wide.columns[col]
        controls = [c for c in wide.columns if c != treated]
        frame = wide.reset_index(drop=True)
        t0 = int(np.argmin(pre))  # first post index
        model = cp.pymc_models.WeightedSumFitter(sample_kwargs={
            "draws": self.draws, "tune": self.tune, "chains": self.chains, "cores": 1,
            "random_seed": seed, "progressbar": False})
        res = cp.SyntheticControl(frame, t0, control_units=controls, treated_units=[treated],
                                  model=model)
        beta = res.idata.posterior["beta"]
        dims = [d for d in beta.dims if d not in ("chain", "draw")]
        b = beta.stack(sample=("chain", "draw")).transpose(*dims, "sample").to_numpy()
        b = b.reshape(-1, b.shape[-1])[: len(controls)]  # (donors, samples)
        w = b.mean(axis=1)
        y_post = frame.loc[~pre, treated].to_numpy(float)
        x_post = frame.loc[~pre, controls].to_numpy(float)
        att_draws = (y_post[:, None] - x_post @ b).mean(axis=0)
        rhat = float(az.rhat(res.idata.posterior[["beta"]])["beta"].max()) if self.chains > 1 \
            else float("nan")
        return w, att_draws, rhat
