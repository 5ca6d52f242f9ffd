"""Effects on time to event that an operations leader can read, with intervals.

For a binary arm (experiment) or treatment (observational, inverse-probability weighted):

- **RMST difference** at a horizon: the change in mean time-to-resolution counted up to the
  horizon (e.g. "within the first 48 h, tickets are open 1.9 h less on average");
- **difference in P(resolved by t)**: 1 - S(t) of treatment minus control;
- **hazard ratio** (Cox on the arm, fitted from risk-set counts: the lifelines numbers without
  tied event times, Breslow ties otherwise; > 1 means resolution comes sooner);
- **median ratio**: median time of treatment over control.

Inference
---------
- Individually randomised, no weights: Greenwood SEs for RMST and S(t) (independent arms),
  the Cox model SE for the hazard ratio, a unit bootstrap for the median ratio.
- ``cluster=`` (e.g. tickets of customer-randomised customers): a cluster bootstrap (whole
  clusters resampled) for RMST, P(t) and the median ratio, and the cluster-robust sandwich
  (per-cluster sums of score residuals, as lifelines computes it) for the hazard ratio.
- ``adjust=`` (observational): ATE inverse-probability weights from a logistic propensity
  model; weighted Kaplan-Meier curves by arm; a bootstrap that re-fits the propensity in every
  replicate; the hazard ratio from a weighted Cox model with robust SEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from causal.results import EffectEstimate
from causal.survival._core import (
    check_survival_frame,
    cox_binary,
    km_indexed,
    km_table,
    median_time,
    rmst,
    step_at,
)
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["SurvivalEffect", "SurvivalEffectResult", "ipw_weights"]


def ipw_weights(data: pd.DataFrame, treatment: str, covariates: Sequence[str],
                clip: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """ATE inverse-probability weights from a logistic propensity model (statsmodels).

    Returns ``(weights, propensity)``. Text covariates are one-hot coded. Propensities are
    clipped to ``[clip, 1 - clip]``; :class:`SurvivalEffect` reports how many were.
    """
    import statsmodels.api as sm

    X = pd.get_dummies(data[list(covariates)], drop_first=True, dtype=float)
    X = sm.add_constant(X, has_constant="add")
    d = data[treatment].to_numpy(float)
    try:
        fit = sm.Logit(d, X).fit(disp=0, maxiter=200)
    except Exception as exc:  # perfect separation and singular designs
        raise DataError(f"propensity model failed ({exc}): a covariate separates the arms (no "
                        "overlap) or covariates are collinear") from exc
    e = np.clip(np.asarray(fit.predict(X), dtype=float), clip, 1 - clip)
    w = np.where(d == 1, 1 / e, 1 / (1 - e))
    return w, e


def _curves(t: np.ndarray, e: np.ndarray, d: np.ndarray, w: np.ndarray | None):
    out = []
    for arm in (0, 1):
        m = d == arm
        out.append(km_table(t[m], e[m], None if w is None else w[m]))
    return out


def _stats(tabs, horizon: float, at: Sequence[float]) -> dict[str, float]:
    s0, s1 = tabs
    r0, v0 = rmst(s0, horizon)
    r1, v1 = rmst(s1, horizon)
    out = {"rmst0": r0, "rmst1": r1, "rmst_diff": r1 - r0, "rmst_var": v0 + v1}
    for t in at:
        p0 = 1 - float(step_at(s0["time"], s0["survival"], t))
        p1 = 1 - float(step_at(s1["time"], s1["survival"], t))
        g0 = float(step_at(s0["time"], s0["greenwood"], t, start=0.0))
        g1 = float(step_at(s1["time"], s1["greenwood"], t, start=0.0))
        out[f"p0@{t}"], out[f"p1@{t}"] = p0, p1
        out[f"pdiff@{t}"] = p1 - p0
        out[f"pvar@{t}"] = (1 - p0) ** 2 * g0 + (1 - p1) ** 2 * g1
    m0, m1 = median_time(s0), median_time(s1)
    out["median0"], out["median1"] = m0, m1
    out["log_median_ratio"] = float(np.log(m1 / m0)) if m0 > 0 and m1 > 0 else float("nan")
    return out


@dataclass(frozen=True, eq=False, repr=False)
class SurvivalEffectResult(ResultMixin):
    """The four effects (``estimates``), per-arm numbers (``arms``) and the curves."""

    estimates: dict[str, EffectEstimate]
    arms: pd.DataFrame
    curves: pd.DataFrame
    horizon: float
    inference: str
    ci_level: float
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """One row per effect."""
        return pd.DataFrame([{"effect": k, **v.to_row()} for k, v in self.estimates.items()])

    def summary(self) -> Summary:
        """Effects next to the per-arm numbers."""
        return Summary("Effects on time to event", self.to_frame(),
                       info={"horizon": self.horizon, "inference": self.inference,
                             "ci_level": self.ci_level},
                       diagnostics=self.diagnostics,
                       notes=[("RMST = mean time to event counted up to the horizon (censoring "
                              "handled by Kaplan-Meier). A hazard ratio > 1 means the event comes "
                              "sooner under treatment.")])

    def plot(self, ax: Any = None):
        """Kaplan-Meier (or weighted) curves of P(event by t) by arm, horizon marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        for arm, sub in self.curves.groupby("arm"):
            t = np.concatenate([[0.0], sub["time"].to_numpy()])
            p = np.concatenate([[0.0], 1 - sub["survival"].to_numpy()])
            ax.step(t, p, where="post", label=str(arm))
        ax.axvline(self.horizon, color="grey", ls="--", lw=0.8)
        ax.set_ylabel("P(event by t)")
        ax.set_xlabel("time")
        ax.legend(title="arm")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"horizon": self.horizon, "inference": self.inference,
                         "ci_level": self.ci_level,
                         "estimates": {k: v.to_dict() for k, v in self.estimates.items()},
                         "arms": self.arms.to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class SurvivalEffect:
    """RMST difference, difference in P(event by t), hazard ratio and median ratio by arm.

    Parameters
    ----------
    duration, event : str
        Time (>= 0) and 0/1 event (1 = resolved, 0 = censored, e.g. still open at extraction).
    arm : str
        0/1 treatment column.
    horizon : float
        RMST horizon (same unit as ``duration``).
    at : sequence of float, optional
        Times for P(event by t); default ``(horizon,)``.
    cluster : str, optional
        Randomisation (or sampling) cluster: cluster bootstrap and cluster-robust Cox SEs.
    adjust : sequence of str, optional
        Covariates for an IPW-adjusted (observational) comparison.
    n_boot : int
        Bootstrap replicates (cluster, IPW and median ratio).
    estimand, population : str
        Named in every estimate.
    ci_level : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = rng.integers(0, 2, 400)
    >>> t = rng.exponential(np.where(d == 1, 8.0, 10.0))
    >>> df = pd.DataFrame({"t": np.minimum(t, 20), "e": (t < 20).astype(int), "d": d})
    >>> r = SurvivalEffect("t", "e", "d", horizon=15, n_boot=50).fit(df, rng=0)
    >>> sorted(r.estimates)
    ['hazard_ratio', 'median_ratio', 'p_event_diff@15', 'rmst_diff']
    """

    duration: str
    event: str
    arm: str
    horizon: float
    at: Sequence[float] | None = None
    cluster: str | None = None
    adjust: Sequence[str] | None = None
    n_boot: int = 200
    estimand: str = "ATE"
    population: str = "units in the comparison"
    ci_level: float = 0.95

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> SurvivalEffectResult:
        """Estimate the four effects."""
        extra = [self.arm, *([self.cluster] if self.cluster else []), *(self.adjust or [])]
        check_survival_frame(data, self.duration, self.event, extra)
        if not np.isfinite(self.horizon) or self.horizon <= 0:
            raise DesignError(f"horizon must be a positive time; got {self.horizon!r}")
        d = data[self.arm].astype(float).to_numpy()
        if not set(np.unique(d).tolist()) == {0.0, 1.0}:
            raise DataError(f"arm {self.arm!r} must be 0/1 with both arms present")
        if self.cluster and data[self.cluster].nunique() < 2:
            raise DataError(f"cluster variable {self.cluster!r} has a single cluster")
        gen = resolve_rng(rng)
        at = tuple(self.at) if self.at is not None else (self.horizon,)
        t = data[self.duration].to_numpy(float)
        e = data[self.event].to_numpy(float)
        diags: list[Diagnostic] = []
        w = None
        if self.adjust:
            w, ps = ipw_weights(data, self.arm, self.adjust)
            ess = [float(w[d == a].sum() ** 2 / (w[d == a] ** 2).sum()) for a in (0, 1)]
            clipped = int(((ps <= 0.01) | (ps >= 0.99)).sum())
            diags.append(Diagnostic("overlap", "warning" if clipped else "ok",
                                    f"propensity in [{ps.min():.3f}, {ps.max():.3f}]; {clipped} "
                                    f"clipped to [0.01, 0.99]; effective n per arm "
                                    f"{ess[0]:.0f} / {ess[1]:.0f}", float(ps.min())))
        full = _stats(_curves(t, e, d, w), self.horizon, at)
        for arm in (0, 1):
            m = d == arm
            last = t[m & (e == 1)].max() if (m & (e == 1)).any() else 0.0
            if t[m].max() < self.horizon:
                diags.append(Diagnostic("horizon", "fail", f"arm {arm}: follow-up ends at "
                                        f"{t[m].max():g}, before the horizon {self.horizon:g}: "
                                        "RMST is not identified; lower the horizon"))
            elif last < 0.5 * self.horizon:
                diags.append(Diagnostic("horizon", "warning", f"arm {arm}: last event at {last:g}"))
        boot_needed = self.cluster is not None or w is not None
        n_b = self.n_boot
        B = self._bootstrap(data, t, e, d, at, gen, n_b)
        q = 0.5 + self.ci_level / 2
        inference = ("cluster bootstrap by " + self.cluster if self.cluster else
                     "bootstrap (IPW re-fitted)" if w is not None else "Greenwood (analytic)")

        def boot_se(key: str) -> float:
            v = B[key]
            v = v[np.isfinite(v)]
            return float(np.std(v, ddof=1)) if v.size > 10 else float("nan")

        pop = self.population
        ests: dict[str, EffectEstimate] = {}
        se_r = boot_se("rmst_diff") if boot_needed else float(np.sqrt(full["rmst_var"]))
        ests["rmst_diff"] = EffectEstimate.from_se(
            f"{self.estimand}: RMST difference at {self.horizon:g}", pop, f"Kaplan-Meier, {inference}",
            full["rmst_diff"], se_r, ci_level=self.ci_level, n=len(data), diagnostics=diags)
        for tt in at:
            se_p = boot_se(f"pdiff@{tt}") if boot_needed else float(np.sqrt(full[f"pvar@{tt}"]))
            ests[f"p_event_diff@{tt:g}"] = EffectEstimate.from_se(
                f"{self.estimand}: difference in P(event by {tt:g})", pop, f"Kaplan-Meier, {inference}",
                full[f"pdiff@{tt}"], se_p, ci_level=self.ci_level, n=len(data), diagnostics=diags)
        # median ratio: bootstrap on the log scale, always (no simple analytic SE)
        lmr = full["log_median_ratio"]
        se_m = boot_se("log_median_ratio")
        em = EffectEstimate.from_se(f"{self.estimand}: median ratio (treatment / control)", pop,
                                    f"Kaplan-Meier medians, {inference if boot_needed else 'unit bootstrap'}",
                                    lmr, se_m, ci_level=self.ci_level, n=len(data), diagnostics=diags)
        ests["median_ratio"] = replace(em, estimate=float(np.exp(em.estimate)),
                                       ci_low=float(np.exp(em.ci_low)), ci_high=float(np.exp(em.ci_high)))
        if not np.isfinite(lmr):
            diags.append(Diagnostic("median", "warning", "a median is not reached within follow-up: "
                                    "the median ratio is undefined; use the RMST difference"))
        # Cox on the arm alone from risk-set counts (exact lifelines numbers without tied event
        # times; Breslow ties), so that hundreds of thousands of tickets stay cheap
        cx = cox_binary(t, e, d, w, data[self.cluster].to_numpy() if self.cluster else None)
        robust = self.cluster is not None or w is not None
        se_hr = cx["se_robust"] if robust else cx["se"]
        cox_diags = (Diagnostic(
            "proportional_hazards", "warning" if cx["ph_p"] < 0.01 else "ok",
            (f"proportional hazards rejected for the arm (Grambsch-Therneau p = {cx['ph_p']:.2g}): "
             "the hazard ratio changes over time; read the RMST difference and P(event by t)")
            if cx["ph_p"] < 0.01 else f"no evidence against proportional hazards (p = {cx['ph_p']:.3f})",
            cx["ph_p"]),)
        eh = EffectEstimate.from_se(f"{self.estimand}: hazard ratio", pop,
                                    "Cox PH (Breslow ties), " + (f"cluster-robust by {self.cluster}"
                                                                 if self.cluster else "robust (IPW)"
                                                                 if w is not None else "model SE"),
                                    cx["beta"], se_hr, ci_level=self.ci_level, n=len(data))
        ests["hazard_ratio"] = replace(eh, estimate=float(np.exp(eh.estimate)),
                                       ci_low=float(np.exp(eh.ci_low)), ci_high=float(np.exp(eh.ci_high)))
        ests = {k: replace(v, diagnostics=tuple(diags) + (cox_diags if k == "hazard_ratio" else ()))
                for k, v in ests.items()}
        arms = pd.DataFrame([{"arm": a, "n": int((d == a).sum()), "events": int(e[d == a].sum()),
                              f"rmst@{self.horizon:g}": full[f"rmst{a}"], "median": full[f"median{a}"],
                              **{f"p_event@{tt:g}": full[f"p{a}@{tt}"] for tt in at}} for a in (0, 1)])
        curves = []
        for a, tab in enumerate(_curves(t, e, d, w)):
            curves.append(pd.DataFrame({"arm": a, "time": tab["time"], "survival": tab["survival"]}))
        _ = q
        return SurvivalEffectResult(ests, arms, pd.concat(curves, ignore_index=True), self.horizon,
                                    inference, self.ci_level, tuple(diags) + cox_diags)

    def _bootstrap(self, data, t, e, d, at, gen, n_b) -> dict[str, np.ndarray]:
        """Resample clusters (or rows) with replacement. Without IPW a resample is the same data
        with each row weighted by how often its cluster was drawn (multinomial counts), which is
        exactly the Kaplan-Meier of the resampled rows and O(n) per replicate.
        """
        keys = ["rmst_diff", "log_median_ratio", *[f"pdiff@{tt}" for tt in at]]
        out = {k: np.full(n_b, np.nan) for k in keys}
        codes = pd.factorize(data[self.cluster])[0] if self.cluster else np.arange(len(t))
        G = int(codes.max()) + 1
        idx = [np.unique(t[d == a], return_inverse=True) for a in (0, 1)]
        ea = [e[d == a] for a in (0, 1)]
        ca = [codes[d == a] for a in (0, 1)]
        if self.adjust:
            order = np.argsort(codes, kind="stable")
            starts = np.searchsorted(codes[order], np.arange(G + 1))
        for b in range(n_b):
            counts = np.bincount(gen.integers(0, G, G), minlength=G).astype(float)
            if self.adjust:
                rows = np.concatenate([np.repeat(order[starts[g]:starts[g + 1]], int(k))
                                       for g, k in enumerate(counts) if k])
                db = d[rows]
                if db.min() == db.max():
                    continue
                try:
                    wb, _ = ipw_weights(data.iloc[rows], self.arm, self.adjust)
                except DataError:
                    continue
                tabs = _curves(t[rows], e[rows], db, wb)
            else:
                wts = [counts[c] for c in ca]
                if any(w_.sum() == 0 for w_ in wts):
                    continue
                tabs = [km_indexed(idx[a][0], idx[a][1], ea[a], wts[a]) for a in (0, 1)]
            s = _stats(tabs, self.horizon, at)
            for k in keys:
                out[k][b] = s[k]
        return out
