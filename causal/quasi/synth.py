"""Synthetic control: constrained convex weights (Abadie, Diamond & Hainmueller 2010) and a
Bayesian variant through CausalPy, both with pre-period RMSPE, donor weights and
placebo-in-space inference.

Inference for the classic estimator, two statements with different meanings:

- **placebo-in-space rank p-value** (``p_value``; Abadie, Diamond & Hainmueller 2010): every
  donor in turn is treated as if it had been treated; p is the share of all units, the treated one
  included, whose post/pre RMSPE ratio is at least the treated unit's (smallest possible
  ``1 / (donors + 1)``);
- **conformal interval** for the average post-period effect (Chernozhukov, Wüthrich & Zhu 2021,
  "An exact and robust conformal inference method for counterfactual and synthetic controls",
  JASA): for each candidate effect theta, subtract theta from the treated unit's post period, refit
  the weights on all periods, and compare the post-period residuals with their moving-block
  (circular) permutations over time; p(theta) is the share of the ``T`` permutations with a
  statistic at least as large, and the interval is ``{theta: p(theta) > alpha}``. It needs
  ``T >= 1 / alpha`` periods in all (otherwise nothing can be rejected and no interval is given).

CausalPy's default Bayesian synthetic control (Dirichlet weights) tends to spread weight thinly
across donors (pre-period RMSPE 4.8 against 1.66 for constrained weights on Prop 99, GUIDE §4):
its ``pre_fit`` diagnostic compares its pre-period RMSPE with the classic fit on the same data,
and its posterior goes through the same convergence gate as every other PyMC model.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from causal.quasi._common import require
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import renamed_argument

#: the Bayesian fit's pre-period RMSPE may exceed the classic convex fit's by this factor
PRE_FIT_RATIO = 1.5


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
class ConformalInterval:
    """Conformal (permutation) interval for the average post-period effect.

    Attributes
    ----------
    ci_level : float
        Nominal level ``1 - alpha`` (``level`` is its deprecated name).
    ci_low, ci_high : float
        Bounds (NaN when the interval is not valid; +-inf when the data cannot bound it).
    p_zero : float
        Permutation p-value of "no effect in any post period" (theta = 0).
    n_permutations : int
        Moving-block permutations used (the number of periods ``T``).
    valid : bool
        Whether ``T >= 1 / alpha``, so that the test can reject at all.
    reason : str
        Why the interval is not valid (empty when it is).
    meaning : str
        The one-sentence meaning shown with the interval.
    """

    ci_level: float
    ci_low: float
    ci_high: float
    p_zero: float
    n_permutations: int
    valid: bool
    reason: str = ""
    meaning: str = ""

    @property
    def level(self) -> float:
        """Deprecated: use :attr:`ci_level`."""
        warnings.warn("ConformalInterval.level is deprecated: use ci_level", DeprecationWarning,
                      stacklevel=2)
        return self.ci_level


def conformal_pvalue(theta: float, y: np.ndarray, pre: np.ndarray, *, demean: bool = False
                     ) -> float:
    """p-value of "the effect is theta in every post period" (Chernozhukov et al. 2021).

    ``y`` is periods x units with the treated unit in column 0. The post-period outcomes of the
    treated unit are reduced by ``theta``, convex weights are refitted on all periods, and the sum
    of absolute post-period residuals is ranked among its ``T`` moving-block permutations.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> donors = rng.normal(size=(40, 5)).cumsum(axis=0)
    >>> y = np.column_stack([donors[:, :2].mean(axis=1) + rng.normal(0, .1, 40), donors])
    >>> pre = np.arange(40) < 30
    >>> conformal_pvalue(0.0, y, pre) > 0.05  # no effect was added
    True
    """
    adj = y[:, 0] - theta * (~pre)
    donors = y[:, 1:]
    if demean:
        adj = adj - adj.mean()
        donors = donors - donors.mean(axis=0)
    u = np.abs(adj - donors @ convex_weights(adj, donors))
    T = len(u)
    shifts = (np.flatnonzero(~pre)[None, :] + np.arange(T)[:, None]) % T  # moving blocks
    stats = u[shifts].sum(axis=1)
    return float(np.mean(stats >= stats[0] - 1e-12 * max(1.0, abs(stats[0]))))


def conformal_interval(y: np.ndarray, pre: np.ndarray, *, ci_level: float = 0.95,
                       demean: bool = False, center: float | None = None,
                       scale: float | None = None, level: float | None = None) -> ConformalInterval:
    """Invert :func:`conformal_pvalue` over theta: ``{theta: p(theta) > 1 - ci_level}``.

    A grid around ``center`` (default: the mean post-period gap) is widened until its ends are
    rejected (up to 2^6 times), and each end is refined by bisection. ``level`` is the
    deprecated name of ``ci_level``.
    """
    level = renamed_argument(ci_level, level, new="ci_level", old="level", where="conformal_interval",
                             default=0.95)
    alpha = 1 - level
    T = len(pre)
    meaning = (f"The {level:.0%} conformal interval holds every constant post-period effect that "
               f"a moving-block permutation test over the {T} periods (Chernozhukov, Wüthrich & "
               f"Zhu 2021) does not reject at {alpha:.0%}; it covers the true effect with "
               f"probability {level:.0%} if the effect is the same in every post period and the "
               "treated unit's residuals from the synthetic control are stationary and weakly "
               "dependent over time.")
    p0 = conformal_pvalue(0.0, y, pre, demean=demean)
    if math.ceil(1 / alpha - 1e-9) > T:
        return ConformalInterval(level, float("nan"), float("nan"), p0, T, False,
                                 f"{T} periods allow a smallest permutation p-value of 1/{T} = "
                                 f"{1 / T:.3f}, above alpha = {alpha:.3g}: no effect can be "
                                 f"rejected, so no {level:.0%} interval exists; add periods or "
                                 "lower the level", meaning)
    if center is None or scale is None:
        w = convex_weights(y[pre, 0], y[pre, 1:])
        gap = y[:, 0] - y[:, 1:] @ w
        center = float(gap[~pre].mean()) if center is None else center
        scale = (float(np.sqrt(np.mean(gap[pre] ** 2)) + np.std(gap[~pre]))
                 if scale is None else scale)
    scale = max(scale, 1e-9 * max(1.0, abs(center)))

    def accepted(theta: float) -> bool:
        return conformal_pvalue(theta, y, pre, demean=demean) > alpha

    half = 4 * scale
    for _ in range(7):
        grid = np.linspace(center - half, center + half, 25)
        ok = np.array([accepted(t) for t in grid])
        if not ok.any():
            half /= 4  # the grid jumped over a narrow accepted set: look closer
            continue
        if not ok[0] and not ok[-1]:
            break
        half *= 2
    else:
        if not ok.any():
            return ConformalInterval(
                level, float("nan"), float("nan"), p0, T, False,
                "every constant effect was rejected: the post-period gap is not constant (or "
                "the synthetic control does not track the treated unit); no interval for a "
                "constant effect exists", meaning)
        lo = -math.inf if ok[0] else float(grid[np.argmax(ok)])
        hi = math.inf if ok[-1] else float(grid[len(ok) - 1 - np.argmax(ok[::-1])])
        return ConformalInterval(level, lo, hi, p0, T, True, "", meaning)
    i, j = int(np.argmax(ok)), int(len(ok) - 1 - np.argmax(ok[::-1]))

    def edge(inside: float, outside: float) -> float:
        while abs(outside - inside) > 1e-3 * scale:  # ~10 bisections
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if accepted(mid) else (inside, mid)
        return inside

    return ConformalInterval(level, edge(grid[i], grid[i - 1]), edge(grid[j], grid[j + 1]), p0,
                             T, True, "", meaning)


@dataclass(frozen=True, eq=False, repr=False)
class SynthResult(ResultMixin):
    """Synthetic-control fit, effect path, donor weights and inference.

    ``p_value`` is the placebo-in-space rank p-value (post/pre RMSPE ratio); ``conformal`` the
    conformal interval of the average post-period effect (classic estimator only), whose bounds
    are also ``att.ci_low`` / ``att.ci_high``.
    """

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
    conformal: ConformalInterval | None = None

    @property
    def placebo_p(self) -> float | None:
        """Placebo-in-space rank p-value of the post/pre RMSPE ratio (same as ``p_value``)."""
        return self.p_value

    def summary(self) -> Summary:
        """ATT, fit, top donors, the placebo rank p-value and the interval with its meaning."""
        top = self.weights[self.weights > 0.01].sort_values(ascending=False).head(8)
        info: dict[str, Any] = {
            "estimand": "ATT of the treated unit, averaged over the post period",
            "population": self.att.population,
            "pre-period RMSPE": self.pre_rmspe, "post/pre RMSPE ratio":
                self.post_rmspe / self.pre_rmspe if self.pre_rmspe else float("nan"),
            "placebo-in-space rank p (post/pre RMSPE ratio)":
                "n/a" if self.p_value is None else self.p_value,
            "donor weights > 1%": ", ".join(f"{k} {v:.2f}" for k, v in top.items())}
        notes = [("Placebo-in-space rank p: each donor is treated as if it had been treated; p is "
                  "the share of all units, the treated one included, whose post/pre RMSPE ratio "
                  "is at least the treated unit's.")]
        c = self.conformal
        if c is not None:
            lvl = f"{c.ci_level:.0%}"
            info[f"{lvl} conformal interval"] = ((round(c.ci_low, 4), round(c.ci_high, 4))
                                                 if c.valid else "none: " + c.reason)
            info["conformal p (no effect)"] = c.p_zero
            notes.append(c.meaning)
        return Summary(f"Synthetic control ({self.method}): {self.treated_unit}",
                       pd.DataFrame([self.att.to_row()]), info=info,
                       diagnostics=self.diagnostics, notes=notes)

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
        c = self.conformal
        return jsonable({"method": self.method, "treated_unit": self.treated_unit,
                         "treatment_time": str(self.treatment_time),
                         "weights": self.weights.to_dict(), "att": self.att.to_dict(),
                         "pre_rmspe": self.pre_rmspe, "post_rmspe": self.post_rmspe,
                         "p_value": self.p_value, "placebo_rank_p": self.p_value,
                         "conformal": None if c is None else {
                             "ci_level": c.ci_level, "ci_low": c.ci_low, "ci_high": c.ci_high,
                             "p_zero": c.p_zero, "n_permutations": c.n_permutations,
                             "valid": c.valid, "reason": c.reason, "meaning": c.meaning},
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


def _fit_diag(pre_rmspe: float, y1_pre: np.ndarray, classic_rmspe: float | None = None
              ) -> Diagnostic:
    """``pre_fit``: RMSPE against the treated series' SD and, for the Bayesian fit, the classic.

    A warning when the RMSPE exceeds half the treated unit's pre-period SD, or (when
    ``classic_rmspe`` is given) ``PRE_FIT_RATIO`` times the classic convex fit's on the same data.
    """
    rel = pre_rmspe / max(float(np.std(y1_pre)), 1e-12)
    msg = f"pre-period RMSPE {pre_rmspe:.4g} ({rel:.0%} of the treated series' pre-period SD"
    bad = rel >= 0.5
    if classic_rmspe is not None:
        ratio = pre_rmspe / max(classic_rmspe, 1e-12)
        msg += f"; {ratio:.2f}x the classic convex fit's {classic_rmspe:.4g}"
        if ratio > PRE_FIT_RATIO:
            bad = True
            msg += (f", above {PRE_FIT_RATIO}x: the posterior spreads weight over donors that do "
                    "not track the treated unit")
    msg += ")"
    if bad:
        msg += ": poor pre-period fit, do not trust the gap"
    return Diagnostic("pre_fit", "warning" if bad else "ok", msg, pre_rmspe)


def _placebos(y: np.ndarray, pre: np.ndarray, names: Any) -> pd.DataFrame:
    ratios = []
    for j in range(1, y.shape[1]):
        others = [k for k in range(1, y.shape[1]) if k != j]
        wj = convex_weights(y[pre, j], y[pre][:, others])
        gj = y[:, j] - y[:, others] @ wj
        rp = np.sqrt(np.mean(gj[pre] ** 2))
        ratios.append((names[j], float(rp),
                       float(np.sqrt(np.mean(gj[~pre] ** 2)) / max(rp, 1e-12)),
                       float(gj[~pre].mean())))
    return pd.DataFrame(ratios, columns=["unit", "pre_rmspe", "ratio", "mean_gap"])


def _rank_p(placebo: pd.DataFrame, ratio: float) -> float | None:
    """Share of all units (treated included) with a post/pre RMSPE ratio >= the treated one's."""
    if not len(placebo):
        return None
    return float((1 + np.sum(placebo["ratio"] >= ratio)) / (1 + len(placebo)))


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
        Run placebo-in-space inference (the rank p-value ``p_value``).
    conformal : bool
        Compute the conformal interval of the average post-period effect (Chernozhukov,
        Wüthrich & Zhu 2021); it is ``att``'s interval. Without it, ``att`` has no interval.
    ci_level : float
        Level of the conformal interval.
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
    conformal: bool = True
    ci_level: float = 0.95
    population: str = "the treated unit, post period"

    def fit(self, data: pd.DataFrame) -> SynthResult:
        """Fit the weights, compute the gap, run placebos and the conformal interval."""
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must lie in (0, 1); got {self.ci_level}")
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
        placebo = (_placebos(y, pre, wide.columns) if self.placebo else
                   pd.DataFrame(columns=["unit", "pre_rmspe", "ratio", "mean_gap"]))
        p = _rank_p(placebo, post_r / max(pre_r, 1e-12))
        if p is not None and len(placebo) < 19:
            diags.append(Diagnostic("placebo_power", "warning", f"only {len(placebo)} donors: the "
                                    f"smallest attainable placebo p-value is "
                                    f"{1 / (1 + len(placebo)):.2f}", float(len(placebo))))
        att = float(gap[~pre].mean())
        conf = None
        method = "synthetic control (convex weights)"
        lo = hi = float("nan")
        pval = None
        if self.conformal:
            # the refits under each null see the data as the point estimate does: levels, or
            # deviations (demean); on demeaned data the refit demeans over all periods
            raw = wide.to_numpy(float)
            conf = conformal_interval(raw, pre, ci_level=self.ci_level, demean=self.demean,
                                      center=att, scale=pre_r + float(np.std(gap[~pre])))
            method += "; conformal interval (Chernozhukov, Wüthrich & Zhu 2021)"
            if conf.valid:
                lo, hi, pval = conf.ci_low, conf.ci_high, conf.p_zero
                diags.append(Diagnostic("conformal", "ok", conf.meaning, conf.p_zero))
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    diags[-1] = Diagnostic("conformal", "warning", "the conformal interval is "
                                           "unbounded: the data cannot exclude large effects. "
                                           + conf.meaning, conf.p_zero)
            else:
                diags.append(Diagnostic("conformal", "warning", "no conformal interval: "
                                        + conf.reason, float(conf.n_permutations)))
        est = EffectEstimate("ATT (average over the post period)", self.population, method, att,
                             None, lo, hi, self.ci_level, pvalue=pval, n=int((~pre).sum()),
                             diagnostics=tuple(diags))
        path = pd.DataFrame({"time": wide.index, "treated": y[:, 0], "synthetic": synth,
                             "gap": gap})
        weights = pd.Series(w, index=wide.columns[1:], name="weight")
        return SynthResult("convex weights (ADH)", str(self.treated_unit), self.treatment_time,
                           weights, path, est, pre_r, post_r, placebo, p, tuple(diags), conf)


@dataclass(frozen=True)
class BayesianSyntheticControl:
    """Bayesian synthetic control via CausalPy's ``WeightedSumFitter`` (Dirichlet weights).

    Reports the same pre-period RMSPE and donor weights (posterior means) as
    :class:`SyntheticControl`; ``placebo=True`` refits for every donor (slow). The posterior goes
    through the :class:`~causal.bayes.ConvergenceGate` (R-hat, ESS, divergences) like every PyMC
    model here: ``fit`` never raises on a failed gate, the result carries ``"fail"``
    diagnostics, and :func:`causal.bayes.enforce` (studies) raises unless ``allow_unconverged``.
    The ``pre_fit`` diagnostic warns when the pre-period RMSPE exceeds ``PRE_FIT_RATIO`` (1.5)
    times the classic convex fit's on the same data.

    Parameters
    ----------
    draws, tune, chains : int
        Sampler settings (chains run sequentially, ``cores=1``).
    target_accept : float
        NUTS target acceptance (raise it when there are divergences).
    gate : ConvergenceGate or None
        The gate (default: :class:`~causal.bayes.ConvergenceGate` defaults).
    ci_level : float
        Level of the equal-tailed posterior interval of the ATT (default 0.95).
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
    target_accept: float = 0.9
    gate: Any = None
    population: str = "the treated unit, post period"
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must lie in (0, 1); got {self.ci_level}")

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> SynthResult:
        """Sample the posterior of the weights; gap, fit, gate and (optionally) placebos."""
        # causal.bayes before causalpy: it points PyTensor at scipy's OpenBLAS first
        from causal.bayes.sampling import ConvergenceGate

        wide, pre = _wide(data, self.outcome, self.unit, self.time, self.treated_unit,
                          self.treatment_time, self.donors, self.min_donors)
        gate = self.gate if self.gate is not None else ConvergenceGate()
        gen = resolve_rng(rng)
        wide.columns = [str(c) for c in wide.columns]
        y = wide.to_numpy(float)
        diags = [_hull_diagnostic(y[pre, 0], y[pre, 1:])]
        w, draws_att, idata = self._sample(wide, pre, seed_int(gen))
        synth = y[:, 1:] @ w
        gap = y[:, 0] - synth
        pre_r = float(np.sqrt(np.mean(gap[pre] ** 2)))
        post_r = float(np.sqrt(np.mean(gap[~pre] ** 2)))
        classic = y[:, 0] - y[:, 1:] @ convex_weights(y[pre, 0], y[pre, 1:])
        diags.append(_fit_diag(pre_r, y[pre, 0], float(np.sqrt(np.mean(classic[pre] ** 2)))))
        diags += gate.check(idata, _gated(idata))
        ratios = []
        placebo_fail = 0
        if self.placebo:
            for j in range(1, y.shape[1]):
                sub = wide.drop(columns=wide.columns[0])
                sub = sub[[wide.columns[j]] + [c for c in sub.columns if c != wide.columns[j]]]
                wj, _, idj = self._sample(sub, pre, seed_int(gen))
                placebo_fail += any(d.status == "fail" for d in gate.check(idj, _gated(idj)))
                gj = sub.iloc[:, 0].to_numpy() - sub.iloc[:, 1:].to_numpy() @ wj
                rp = np.sqrt(np.mean(gj[pre] ** 2))
                ratios.append((wide.columns[j], float(rp),
                               float(np.sqrt(np.mean(gj[~pre] ** 2)) / max(rp, 1e-12)),
                               float(gj[~pre].mean())))
            diags.append(Diagnostic(
                "placebo_convergence", "warning" if placebo_fail else "ok",
                f"{placebo_fail} of {len(ratios)} placebo fits failed the convergence gate"
                + (": their ratios, and so the placebo p-value, are unreliable" if placebo_fail
                   else ""), float(placebo_fail)))
        placebo = pd.DataFrame(ratios, columns=["unit", "pre_rmspe", "ratio", "mean_gap"])
        p = _rank_p(placebo, post_r / max(pre_r, 1e-12))
        tail = (1 - self.ci_level) / 2
        lo, hi = np.quantile(draws_att, [tail, 1 - tail])
        est = EffectEstimate("ATT (average over the post period)", self.population,
                             "Bayesian synthetic control (CausalPy, Dirichlet weights; "
                             "equal-tailed posterior interval)",
                             float(np.mean(draws_att)), float(np.std(draws_att, ddof=1)),
                             float(lo), float(hi), self.ci_level, pvalue=None, n=int((~pre).sum()),
                             diagnostics=tuple(diags))
        path = pd.DataFrame({"time": wide.index, "treated": y[:, 0], "synthetic": synth,
                             "gap": gap})
        return SynthResult("Bayesian (CausalPy WeightedSumFitter)", str(self.treated_unit),
                           self.treatment_time, pd.Series(w, index=wide.columns[1:],
                                                          name="weight"),
                           path, est, pre_r, post_r, placebo, p, tuple(diags))

    def _sample(self, wide: pd.DataFrame, pre: np.ndarray, seed: int
                ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Fit CausalPy's model with the treated unit in column 0; weights, ATT draws, idata."""
        import causalpy as cp  # after causal.bayes (imported by fit), which configures BLAS

        from causal.bayes.sampling import check_complete, stop_every_chain_on_interrupt

        treated = wide.columns[0]
        controls = [c for c in wide.columns if c != treated]
        frame = wide.reset_index(drop=True)
        t0 = int(np.argmin(pre))  # first post index
        with stop_every_chain_on_interrupt() as callback:  # Ctrl-C stops every chain, not one
            model = cp.pymc_models.WeightedSumFitter(sample_kwargs={
                "draws": self.draws, "tune": self.tune, "chains": self.chains, "cores": 1,
                "target_accept": self.target_accept, "random_seed": seed, "progressbar": False,
                "callback": callback})
            res = cp.SyntheticControl(frame, t0, control_units=controls, treated_units=[treated],
                                      model=model)
        idata = check_complete(res.idata, chains=self.chains, draws=self.draws, tune=self.tune,
                               backend="pymc (CausalPy)", seed=seed)
        beta = idata.posterior["beta"]
        dims = [d for d in beta.dims if d not in ("chain", "draw")]
        b = beta.stack(sample=("chain", "draw")).transpose(*dims, "sample").to_numpy()
        b = b.reshape(-1, b.shape[-1])[: len(controls)]  # (donors, samples)
        w = b.mean(axis=1)
        y_post = frame.loc[~pre, treated].to_numpy(float)
        x_post = frame.loc[~pre, controls].to_numpy(float)
        att_draws = (y_post[:, None] - x_post @ b).mean(axis=0)
        return w, att_draws, idata


def _gated(idata: Any) -> list[str]:
    """The free parameters of CausalPy's model (the weights and the noise sd), not ``mu``."""
    return [v for v in idata.posterior.data_vars if v != "mu"]
