"""The design doctor: which experiment design recovers the global effect in a shared queue.

Given an intervention mechanism (:class:`HandleTimeChange`) and a calibrated centre
(:class:`simulation.SharedPoolCentre`), :class:`DesignDoctor` simulates candidate designs under
common random numbers and scores each against the **global treatment effect** (GTE, everyone
treated against no one, :func:`simulation.interference_truth`):

- ``customer``: each contact randomised (difference of contact means, Welch SE);
- ``agent``: half the agents of every site treated, the handle time follows the serving agent
  (difference of agent means over answered contacts, t on agents; abandonment is not attributable
  to an agent and is not estimated);
- ``site``: half the sites treated (difference of site means, t with sites - 2 df);
- ``switchback``: every site alternates arms by time slice on a
  :class:`causal.experiments.SwitchbackPlan` schedule (balanced by time of day), contacts in the
  first ``burn_in_s`` after a switch dropped; cell means on treatment + site + slot-of-day fixed
  effects, contact-weighted, HC1 errors over cells.

Slices and burn-ins come from the queue's measured relaxation time
(:func:`simulation.relaxation_time`): burn-in ``3 tau`` and slices the smallest divisors of a day
of at least ``4 / 8 / 16 tau``, plus one slice without burn-in to show the carryover.

For each design the report gives the bias against the GTE, the SD of the estimate over
replications, the mean reported SE, RMSE, coverage of the GTE, realised power (rejections at
``alpha``), the power predicted from the mean SE and mean estimate, and the MDE (80% power) for
the simulated duration. :meth:`DesignReport.recommend` picks the identified design with the
lowest RMSE; :meth:`DesignReport.preregistration` writes the note (design, unit, duration, slice,
burn-in, primary metric, MDE, analysis).

Replications run in a process pool (``n_jobs``) with a tqdm progress bar; replication ``i`` gets
the same seed whatever the number of workers.

Examples
--------
>>> from simulation import SharedPoolCentre
>>> doc = DesignDoctor(SharedPoolCentre(sites=4, agents_per_site=10, occupancy=0.9, days=0.5),
...                    HandleTimeChange(0.8), designs=("customer", "site"), truth_reps=2)
>>> rep = doc.evaluate(n_reps=3, rng=1, progress=False)
>>> sorted(set(rep.frame["design"]))
['customer', 'site']
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from causal.experiments import SwitchbackPlan
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, child_seeds
from servicelab.results import Diagnostic, Summary, jsonable, markdown_table
from simulation import (
    METRICS,
    Assignment,
    InterferenceTruth,
    Relaxation,
    SharedPoolCentre,
    relaxation_time,
    truth_from_replications,
    truth_replication,
)

__all__ = [
    "DesignDoctor",
    "DesignReport",
    "HandleTimeChange",
    "SwitchbackCandidate",
    "switchback_candidates",
]

DAY_S = 86400
_DAY_DIVISORS = tuple(d for d in range(60, DAY_S + 1, 60) if DAY_S % d == 0)


@dataclass(frozen=True)
class HandleTimeChange:
    """The mechanism: treated contacts' handle times are multiplied by ``factor``.

    Examples
    --------
    >>> HandleTimeChange(0.95).describe()
    'handle time x 0.95 for treated contacts (-5%)'
    """

    factor: float

    def __post_init__(self) -> None:
        if not self.factor > 0 or self.factor == 1:
            raise DesignError(f"factor must be positive and not 1, got {self.factor}")

    def describe(self) -> str:
        """One line naming the mechanism and its size."""
        return f"handle time x {self.factor:g} for treated contacts ({self.factor - 1:+.0%})"


@dataclass(frozen=True)
class SwitchbackCandidate:
    """A switchback design: slice length and burn-in (seconds)."""

    slice_s: float
    burn_in_s: float

    @property
    def name(self) -> str:
        """The design's label in tables and figures."""
        return f"switchback {self.slice_s / 60:g} min / burn-in {self.burn_in_s / 60:g} min"


def switchback_candidates(tau_s: float, *, multiples: tuple[float, ...] = (4, 8, 16),
                          burn_in_tau: float = 3.0) -> tuple[SwitchbackCandidate, ...]:
    """Slices and burn-ins from a relaxation time ``tau_s``.

    Burn-in ``burn_in_tau * tau`` (rounded up to a minute; 3 tau leaves 5% of a step), slices
    the smallest divisors of a day (so the schedule balances by time of day) of at least
    ``multiple * tau`` and twice the burn-in; the shortest slice also without burn-in.

    Examples
    --------
    >>> [(c.slice_s, c.burn_in_s) for c in switchback_candidates(300.0)]
    [(1800, 0.0), (1800, 900.0), (2400, 900.0), (4800, 900.0)]
    """
    if not tau_s > 0:
        raise DesignError(f"tau_s must be positive, got {tau_s}")
    burn = 60.0 * math.ceil(burn_in_tau * tau_s / 60)
    slices = []
    for m in multiples:
        need = max(m * tau_s, 2 * burn)
        s = next((d for d in _DAY_DIVISORS if d >= need), None)
        if s is None:
            raise DesignError(
                f"a relaxation time of {tau_s:.0f} s needs slices of {need:.0f} s, longer than a "
                "day: a switchback cannot settle here; use site randomisation")
        if s not in slices:
            slices.append(s)
    out = [SwitchbackCandidate(slices[0], 0.0)]
    out += [SwitchbackCandidate(s, burn) for s in slices]
    return tuple(out)


def _outcome(frame: pd.DataFrame, metric: str, sl: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-contact outcome of ``metric`` and the contacts it is defined on."""
    ans = frame["answered"].to_numpy()
    if metric == "wait_s":
        return frame["wait_s"].to_numpy(), np.ones(len(frame), bool)
    if metric == "abandonment":
        return (~ans).astype(float), np.ones(len(frame), bool)
    if metric == "handle_s":
        return np.nan_to_num(frame["handle_s"].to_numpy()), ans
    good, den = sl.counts(ans, ~ans, frame["wait_s"].to_numpy())
    return good.astype(float), den


def _two_sample(y1: np.ndarray, y0: np.ndarray, df: float | None
                ) -> tuple[float, float, float, float]:
    """(estimate, SE, p, df) of mean(y1) - mean(y0); Welch SE, normal (df inf) or t(df)."""
    if y1.size < 2 or y0.size < 2:
        return math.nan, math.nan, math.nan, math.nan
    est = float(y1.mean() - y0.mean())
    se = float(math.sqrt(y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size))
    if not se > 0:
        return est, se, math.nan, df or math.inf
    z = est / se
    p = 2 * (stats.t.sf(abs(z), df) if df else stats.norm.sf(abs(z)))
    return est, se, float(p), df or math.inf


def _analyse(design: str, run_frame: pd.DataFrame, metric: str, sl: Any, *,
             cand: SwitchbackCandidate | None = None,
             grid: np.ndarray | None = None) -> tuple[float, float, float, float]:
    y, keep = _outcome(run_frame, metric, sl)
    tr = run_frame["treated"].to_numpy() == 1
    if design == "customer":
        return _two_sample(y[keep & tr], y[keep & ~tr], None)
    if design == "agent":
        if metric == "abandonment":
            return math.nan, math.nan, math.nan, math.nan
        m = keep & run_frame["answered"].to_numpy()
        key = run_frame["site"].to_numpy()[m] * 100_000 + run_frame["agent"].to_numpy()[m]
        g = pd.DataFrame({"k": key, "y": y[m], "t": tr[m]}).groupby("k").agg(
            y=("y", "mean"), t=("t", "first"))
        t = g["t"].to_numpy(bool)
        return _two_sample(g["y"].to_numpy()[t], g["y"].to_numpy()[~t], len(g) - 2)
    if design == "site":
        s = run_frame["site"].to_numpy()
        f = pd.DataFrame({"s": s[keep], "y": y[keep], "t": tr[keep]}).groupby("s").agg(
            y=("y", "mean"), t=("t", "first"))
        t = f["t"].to_numpy(bool)
        return _two_sample(f["y"].to_numpy()[t], f["y"].to_numpy()[~t], len(f) - 2)
    # switchback: cell means on treatment + site + slot-of-day FE, HC1 over cells
    t_s = run_frame["arrival_s"].to_numpy()
    site = run_frame["site"].to_numpy()
    sl_i = np.minimum((t_s // cand.slice_s).astype(np.int64), grid.shape[1] - 1)
    prev = np.where(sl_i > 0, grid[site, np.maximum(sl_i - 1, 0)], grid[site, sl_i])
    switched = prev != grid[site, sl_i]
    within = t_s - sl_i * cand.slice_s
    m = keep & ~(switched & (within < cand.burn_in_s))
    cells = pd.DataFrame({"site": site[m], "slice": sl_i[m], "y": y[m], "t": tr[m]}).groupby(
        ["site", "slice"]).agg(y=("y", "mean"), n=("y", "size"), t=("t", "first")).reset_index()
    spd = max(1, round(DAY_S / cand.slice_s))
    X = np.column_stack([np.ones(len(cells)), cells["t"].to_numpy(float),
                         pd.get_dummies(cells["site"].astype(str), drop_first=True,
                                        dtype=float).to_numpy(),
                         pd.get_dummies((cells["slice"] % spd).astype(str), drop_first=True,
                                        dtype=float).to_numpy()])
    w = cells["n"].to_numpy(float)
    yc = cells["y"].to_numpy()
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], yc * sw
    XtX_inv = np.linalg.pinv(Xw.T @ Xw)
    beta = XtX_inv @ (Xw.T @ yw)
    e = yw - Xw @ beta
    n, p = Xw.shape
    if n - p < 2:
        return math.nan, math.nan, math.nan, math.nan
    meat = (Xw * (e ** 2)[:, None]).T @ Xw
    V = XtX_inv @ meat @ XtX_inv * n / (n - p)
    est, se = float(beta[1]), float(math.sqrt(max(V[1, 1], 0.0)))
    pv = float(2 * stats.t.sf(abs(est / se), n - p)) if se > 0 else math.nan
    return est, se, pv, float(n - p)


def _one_rep(doctor: DesignDoctor, seed: np.random.SeedSequence,
             cands: tuple[SwitchbackCandidate, ...]) -> list[dict[str, Any]]:
    """All designs on one replication's contacts (CRN across designs)."""
    c = doctor.centre
    cs = c.contacts(seed)
    gen = np.random.default_rng(seed.spawn(1)[0])
    rows = []
    f = doctor.mechanism.factor
    for d in doctor.designs:
        if d == "switchback":
            continue
        if d == "customer":
            a = Assignment.customers(0.5)
        elif d == "agent":
            a = Assignment.agents(0.5)
        else:
            a = Assignment.sites(gen.permutation(c.sites)[: c.sites // 2])
        run = c.run(a, factor=f, contacts=cs)
        for metric in doctor.metrics:
            est, se, p, df = _analyse(d, run.frame, metric, c.service_level)
            rows.append({"design": d, "metric": metric, "estimate": est, "se": se, "p": p,
                         "df": df})
    if "switchback" in doctor.designs:
        for cand in cands:
            plan = SwitchbackPlan(tuple(range(c.sites)), days=math.ceil(c.horizon_s / DAY_S),
                                  slice_s=cand.slice_s, burn_in_s=cand.burn_in_s)
            sched = plan.generate(gen).frame
            grid = sched.pivot(index="unit", columns="slice", values="arm_code").to_numpy()
            run = c.run(Assignment.switchback(grid, cand.slice_s), factor=f, contacts=cs)
            for metric in doctor.metrics:
                est, se, p, df = _analyse("switchback", run.frame, metric, c.service_level, cand=cand,
                                      grid=grid)
                rows.append({"design": cand.name, "metric": metric, "estimate": est, "se": se,
                             "p": p, "df": df, "slice_s": cand.slice_s, "burn_in_s": cand.burn_in_s})
    return rows


@dataclass(frozen=True)
class DesignDoctor:
    """Simulate candidate designs for one mechanism on one centre and score them against the GTE.

    Parameters
    ----------
    centre : SharedPoolCentre
        The calibrated centre (sites, agents, occupancy, handle times, patience, duration).
    mechanism : HandleTimeChange
        What treatment does.
    designs : tuple of str
        Any of ``"customer"``, ``"agent"``, ``"site"``, ``"switchback"``.
    metrics : tuple of str
        Outcomes to score (keys of :data:`simulation.METRICS`); the first is the primary metric.
    switchbacks : tuple of SwitchbackCandidate, optional
        Slice/burn-in pairs; by default from the measured relaxation time
        (:func:`switchback_candidates`).
    alpha : float
        Test level for power and coverage (two-sided; intervals at ``1 - alpha``).
    truth_reps, relax_reps : int
        CRN replications of the GTE (:func:`simulation.interference_truth`) and of the
        relaxation time (:func:`simulation.relaxation_time`).
    """

    centre: SharedPoolCentre
    mechanism: HandleTimeChange
    designs: tuple[str, ...] = ("customer", "agent", "site", "switchback")
    metrics: tuple[str, ...] = ("wait_s", "service_level", "abandonment", "handle_s")
    switchbacks: tuple[SwitchbackCandidate, ...] | None = None
    alpha: float = 0.05
    truth_reps: int = 10
    relax_reps: int = 20

    def __post_init__(self) -> None:
        bad = [d for d in self.designs if d not in ("customer", "agent", "site", "switchback")]
        if bad or not self.designs:
            raise DesignError(f"unknown design(s) {bad}; use customer, agent, site, switchback")
        badm = [m for m in self.metrics if m not in METRICS]
        if badm or not self.metrics:
            raise DesignError(f"unknown metric(s) {badm}; use {list(METRICS)}")
        if "site" in self.designs and self.centre.sites < 4:
            raise DesignError(f"site randomisation needs at least 4 sites, the centre has "
                              f"{self.centre.sites}")
        if not 0 < self.alpha < 0.5:
            raise DesignError(f"alpha must be in (0, 0.5), got {self.alpha}")

    def evaluate(self, n_reps: int = 200, *, rng: RNGLike = None, n_jobs: int = 1,
                 progress: bool = True) -> DesignReport:
        """Run ``n_reps`` CRN replications of every design and score them.

        Raises :class:`~servicelab.errors.UnstableQueueError` (with the load) when the centre's
        queue is unstable in either arm.
        """
        self.centre.check_stable(self.mechanism.factor)
        if n_reps < 2:
            raise DesignError(f"n_reps must be >= 2, got {n_reps}")
        root = np.random.SeedSequence(None if rng is None else
                                      (rng if isinstance(rng, int) else
                                       int(np.random.default_rng(rng).integers(2**63))))
        s_truth, s_relax, s_reps = root.spawn(3)
        if self.truth_reps < 2:
            raise DesignError(f"truth_reps must be >= 2, got {self.truth_reps}")
        relax = None
        cands: tuple[SwitchbackCandidate, ...] = ()
        if "switchback" in self.designs:
            if self.switchbacks is None:
                relax = relaxation_time(self.centre, self.mechanism.factor,
                                        n_reps=self.relax_reps, rng=s_relax)
                cands = switchback_candidates(relax.tau_s)
            else:
                cands = tuple(self.switchbacks)
        f = self.mechanism.factor
        tasks = [(truth_replication, (self.centre, f, 0.5, s)) for s in
                 child_seeds(s_truth, self.truth_reps)]
        tasks += [(_one_rep, (self, s, cands)) for s in child_seeds(s_reps, n_reps)]
        results: list[Any] = [None] * len(tasks)
        bar = tqdm(total=len(tasks), disable=not progress,
                   desc="design doctor (truth + design replications)")
        try:
            if n_jobs <= 1:
                for i, (fn, a) in enumerate(tasks):
                    results[i] = fn(*a)
                    bar.update()
            else:
                method = "fork" if sys.platform.startswith("linux") else "spawn"
                with ProcessPoolExecutor(min(n_jobs, os.cpu_count() or 1, len(tasks)),
                                         mp_context=get_context(method)) as pool:
                    futs = {pool.submit(fn, *a): i for i, (fn, a) in enumerate(tasks)}
                    for fu in as_completed(futs):
                        results[futs[fu]] = fu.result()
                        bar.update()
        finally:
            bar.close()
        truth = truth_from_replications(self.centre, f, 0.5, results[: self.truth_reps])
        results = results[self.truth_reps:]
        rec = pd.DataFrame([r | {"rep": i} for i, rows in enumerate(results) for r in rows])
        return DesignReport._score(self, rec, truth, relax, cands, n_reps)


@dataclass(frozen=True)
class DesignReport:
    """The doctor's scores: one row per design x metric in ``frame``, replications in ``records``."""

    frame: pd.DataFrame
    records: pd.DataFrame
    truth: InterferenceTruth
    relaxation: Relaxation | None
    info: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @classmethod
    def _score(cls, doc: DesignDoctor, rec: pd.DataFrame, truth: InterferenceTruth,
               relax: Relaxation | None, cands: tuple[SwitchbackCandidate, ...],
               n_reps: int) -> DesignReport:
        z = stats.norm.ppf(1 - doc.alpha / 2)
        rows = []
        for (design, metric), g in rec.groupby(["design", "metric"], sort=False):
            gte = truth.value(metric)
            ctrl = truth.value(metric, "control")
            est, se, p = g["estimate"].to_numpy(), g["se"].to_numpy(), g["p"].to_numpy()
            ok = np.isfinite(est) & np.isfinite(se)
            if not ok.any():
                rows.append({"design": design, "metric": metric, "identified": False,
                             "gte": gte})
                continue
            est, se, p = est[ok], se[ok], p[ok]
            # the design's own reference distribution: t(df) for few units, normal otherwise
            df = float(np.median(g["df"].to_numpy()[ok]))
            crit = float(stats.t.ppf(1 - doc.alpha / 2, df)) if np.isfinite(df) else z
            mean_est, mean_se = float(est.mean()), float(se.mean())
            lo, hi = est - crit * se, est + crit * se
            delta = abs(mean_est) / mean_se
            if np.isfinite(df):  # non-central t at the mean estimate / mean SE
                pred = float(stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta))
                t_pow = float(stats.t.ppf(0.8, df))
            else:
                pred = float(stats.norm.sf(crit - delta) + stats.norm.cdf(-crit - delta))
                t_pow = float(stats.norm.ppf(0.8))
            rows.append({
                "design": design, "metric": metric, "identified": True, "gte": gte,
                "mean_estimate": mean_est, "bias": mean_est - gte,
                "bias_pct_of_gte": 100 * (mean_est - gte) / gte if gte else math.nan,
                "sd": float(est.std(ddof=1)), "mean_se": mean_se,
                "rmse": float(np.sqrt(np.mean((est - gte) ** 2))),
                "coverage": float(np.mean((lo <= gte) & (gte <= hi))),
                "power": float(np.mean(p < doc.alpha)), "predicted_power": pred,
                "mde": float((crit + t_pow) * mean_se), "df": df,
                "mde_pct_of_control": float(100 * (crit + t_pow) * mean_se / abs(ctrl)) if ctrl
                else math.nan,
                "slice_s": g["slice_s"].iloc[0] if "slice_s" in g else math.nan,
                "burn_in_s": g["burn_in_s"].iloc[0] if "burn_in_s" in g else math.nan,
                "n_reps": int(ok.sum())})
        f = pd.DataFrame(rows)
        info = {"centre": doc.centre.to_dict(), "mechanism": doc.mechanism.describe(),
                "n_reps": n_reps, "alpha": doc.alpha, "primary_metric": doc.metrics[0],
                "designs": list(doc.designs),
                "switchbacks": [(c.slice_s, c.burn_in_s) for c in cands],
                "tau_s": None if relax is None else relax.tau_s,
                "estimand": "GTE: everyone treated against no one, mean over the horizon "
                            "(common random numbers)"}
        rep = cls(f, rec, truth, relax, info)
        best = rep.recommend()
        row = f[(f["design"] == best) & (f["metric"] == doc.metrics[0])].iloc[0]
        diags = [Diagnostic(
            "recommended_design_coverage", "ok" if row["coverage"] >= 0.9 else "warning",
            f"{best}: its {100 * (1 - doc.alpha):.0f}% interval covers the GTE in "
            f"{100 * row['coverage']:.0f}% of {n_reps} replications", float(row["coverage"]))]
        cust = f[(f["design"] == "customer") & (f["metric"] == doc.metrics[0])]
        if not cust.empty and abs(cust["bias"].iloc[0]) > 0.2 * abs(cust["gte"].iloc[0]):
            diags.append(Diagnostic(
                "interference", "warning",
                f"customer randomisation misses the GTE of {doc.metrics[0]} by "
                f"{cust['bias_pct_of_gte'].iloc[0]:+.0f}%: the arms share the agents",
                float(cust["bias_pct_of_gte"].iloc[0])))
        return cls(f, rec, truth, relax, info, tuple(diags))

    def recommend(self, metric: str | None = None) -> str:
        """The design with the lowest RMSE against the GTE for ``metric``, among the identified
        designs whose coverage of the GTE is not significantly below nominal (one-sided binomial
        test at 1%); the lowest RMSE overall when none qualifies.
        """
        metric = metric or self.info["primary_metric"]
        f = self.frame[(self.frame["metric"] == metric) & self.frame["identified"]]
        if f.empty:
            raise DataError(f"no design identifies {metric!r}")
        nominal = 1 - self.info["alpha"]
        hits = np.round(f["coverage"] * f["n_reps"]).astype(int)
        p_low = stats.binom.cdf(hits, f["n_reps"].astype(int), nominal)
        ok = f[p_low >= 0.01]
        return str((ok if not ok.empty else f).sort_values("rmse")["design"].iloc[0])

    def preregistration(self, metric: str | None = None) -> str:
        """A pre-registration note (Markdown) for the recommended design."""
        metric = metric or self.info["primary_metric"]
        best = self.recommend(metric)
        r = self.frame[(self.frame["design"] == best) & (self.frame["metric"] == metric)].iloc[0]
        c = self.info["centre"]
        sw = best.startswith("switchback")
        unit = {"customer": "contact", "agent": "agent", "site": "site"}.get(
            best, "site x time slice")
        lines = [
            f"# Pre-registration: {self.info['mechanism']}", "",
            f"- **Design:** {best}",
            f"- **Randomisation unit:** {unit}",
            (f"- **Duration:** {c['days']:g} days on {c['sites']} sites x "
            f"{c['agents_per_site']} agents (occupancy {c['occupancy']:g})"),
            f"- **Slice:** {r['slice_s'] / 60:g} min" if sw else "- **Slice:** not applicable",
            f"- **Burn-in:** {r['burn_in_s'] / 60:g} min after each switch (3 x the measured "
            f"relaxation time of {self.info['tau_s'] / 60:.1f} min)" if sw and self.info["tau_s"]
            else f"- **Burn-in:** {r['burn_in_s'] / 60:g} min" if sw
            else "- **Burn-in:** not applicable",
            f"- **Primary metric:** {metric} ({METRICS[metric]})",
            f"- **Estimand:** {self.info['estimand']}; simulated GTE {r['gte']:.4g}",
            (f"- **MDE (80% power, alpha {self.info['alpha']:g}):** {r['mde']:.4g} "
            f"({r['mde_pct_of_control']:.1f}% of the control mean)"),
            (f"- **Expected power at the simulated effect:** {100 * r['power']:.0f}% "
            f"(predicted from the SE: {100 * r['predicted_power']:.0f}%)"),
            (f"- **Simulated bias / coverage:** {r['bias']:+.3g} / {100 * r['coverage']:.0f}% over "
            f"{int(r['n_reps'])} replications"),
            "- **Analysis:** " + (
                "cell means (site x slice, after the burn-in) on treatment + site + slot-of-day "
                "fixed effects, contact-weighted, HC1 errors over cells" if sw else
                "difference of site means, t with sites - 2 df" if best == "site" else
                "difference of agent means, t on agents" if best == "agent" else
                "difference of contact means, Welch SE"),
            "", "Designs considered (primary metric):", "",
            markdown_table(self.frame.loc[self.frame["metric"] == metric, [
                "design", "bias", "sd", "rmse", "coverage", "power", "mde"]].round(4)),
        ]
        return "\n".join(lines) + "\n"

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (tables and diagnostics)."""
        cols = ["design", "metric", "gte", "mean_estimate", "bias", "bias_pct_of_gte", "sd",
                "mean_se", "rmse", "coverage", "power", "predicted_power", "mde"]
        return Summary("Design doctor", self.frame[[c for c in cols if c in self.frame]],
                       info={k: v for k, v in self.info.items() if k != "centre"} |
                       {"recommended": self.recommend()}, diagnostics=self.diagnostics)

    def plot(self, ax=None, metric: str | None = None, ci_level: float = 0.95):
        """Estimates by design (mean and the ``ci_level`` range of a normal with their SD) against the GTE."""
        import matplotlib.pyplot as plt

        from causal.results import critical_value

        metric = metric or self.info["primary_metric"]
        f = self.frame[(self.frame["metric"] == metric) & self.frame["identified"]]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.5 * len(f) + 1.5))
        y = np.arange(len(f))
        ax.errorbar(f["mean_estimate"], y, xerr=critical_value(ci_level) * f["sd"], fmt="o", capsize=3)
        ax.axvline(f["gte"].iloc[0], color="#d62728", ls="--", label="GTE (all vs none)")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, f["design"])
        ax.set_xlabel(f"estimated effect on {metric}")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the result (numbers, labels, diagnostics)."""
        return jsonable({"designs": self.frame.to_dict(orient="records"), "info": self.info,
                         "recommended": self.recommend(), "truth": self.truth.to_dict(),
                         "tau_s": self.info["tau_s"],
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})
