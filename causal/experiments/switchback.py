"""Switchback experiments done fully: the schedule, carryover, randomisation inference, power.

A switchback alternates each unit (queue, site) between arms over time slices. Four pieces:

- :class:`SwitchbackPlan` generates a randomised schedule, balanced by time of day and day of
  week, from a seed; :class:`SwitchbackSchedule` exports it (frame, CSV) and checks it.
- :func:`estimate_carryover` measures from the data how long the previous slice's arm lingers
  (the lag effect by minutes into the slice), and suggests a burn-in.
- :func:`switchback_randomization_test` re-draws schedules **from the plan actually used** (the
  same balance restrictions), so the randomisation p-value refers to the design that was run,
  not to free permutations of all cells. ``SwitchbackDesign.analyze(data, plan=...)`` reports it.
- :func:`switchback_power` estimates power by simulation: draw a schedule, simulate outcomes,
  analyse, count rejections.

:func:`simulate_switchback` is a small data-generating process with a known effect and an
exponential carryover (the treated state relaxes towards the current arm with time constant
``relax_s``), used by the tests, the power function and the book.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causal.experiments.cluster import SwitchbackDesign, cluster_robust_ols
from causal.results import critical_value
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, spawn
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = [
    "CarryoverResult",
    "SwitchbackPlan",
    "SwitchbackPower",
    "SwitchbackSchedule",
    "estimate_carryover",
    "simulate_switchback",
    "switchback_power",
    "switchback_randomization_test",
]

DAY_S = 86400.0
Balance = Literal["none", "time_of_day", "time_of_day_and_day_of_week"]
_SCHEDULE_COLS = ("unit", "slice", "start_s", "end_s", "day", "day_of_week", "slot", "arm",
                  "switched", "burn_in_end_s")


def _blocks(n: int, k: int, gen: np.random.Generator) -> np.ndarray:
    """Permuted blocks: ``n`` labels in 0..k-1, each block of ``k`` a random permutation
    (exactly balanced when ``k`` divides ``n``).
    """
    reps = -(-n // k)
    out = np.concatenate([gen.permutation(k) for _ in range(reps)])
    return out[:n]


@dataclass(frozen=True)
class SwitchbackPlan:
    """A switchback design: which units switch, for how long, with which balance.

    Parameters
    ----------
    units : sequence of str
        The units that switch (queues, sites); each gets its own randomised sequence.
    days : int
        Duration in days.
    slice_s : float
        Slice length in seconds; it must divide a day when the schedule is balanced by time of
        day.
    burn_in_s : float
        Seconds after a switch whose contacts the analysis drops; must be shorter than a slice.
    arms : sequence
        Arm labels, control first (at least two).
    balance : {"time_of_day_and_day_of_week", "time_of_day", "none"}
        ``"time_of_day_and_day_of_week"`` (default): every day has its slots split evenly
        between arms (so every day of the week is balanced) and every slot of the day is split
        evenly across days (within each day of the week once the plan spans ``len(arms)``
        weeks): arm = (b_day + c_slot) mod k with permuted blocks b and c. ``"time_of_day"``:
        each slot of the day split evenly across days, days free. ``"none"``: each slice an
        independent uniform draw (at least one slice per arm and unit).
    start_day_of_week : int
        Day of the week of day 0 (0 = Monday).

    Examples
    --------
    >>> plan = SwitchbackPlan(("billing", "tech"), days=14, slice_s=3600, burn_in_s=600)
    >>> sched = plan.generate(rng=1)
    >>> sched.to_frame().groupby(["unit", "arm"]).size().tolist()
    [168, 168, 168, 168]
    """

    units: Sequence[Hashable]
    days: int
    slice_s: float
    burn_in_s: float = 0.0
    arms: Sequence[Hashable] = ("control", "treatment")
    balance: Balance = "time_of_day_and_day_of_week"
    start_day_of_week: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "arms", tuple(self.arms))
        if len(self.arms) < 2 or len(set(self.arms)) < len(self.arms):
            raise DesignError(
                f"a switchback needs at least two distinct arms, got {list(self.arms)}: with one "
                "arm nothing is compared; add the control arm"
            )
        if not self.units:
            raise DesignError("a switchback plan needs at least one unit (queue, site)")
        if self.days < 1:
            raise DesignError(f"days must be >= 1, got {self.days}")
        if not self.slice_s > 0:
            raise DesignError(f"slice_s must be positive, got {self.slice_s}")
        if not 0 <= self.burn_in_s < self.slice_s:
            raise DesignError(
                f"burn_in_s={self.burn_in_s:g} s is not shorter than the slice ({self.slice_s:g} "
                "s): every contact of a switched slice would be dropped. Use longer slices or a "
                "shorter burn-in (see estimate_carryover)"
            )
        if self.balance not in ("none", "time_of_day", "time_of_day_and_day_of_week"):
            raise DesignError(f"unknown balance {self.balance!r}")
        if self.balance != "none" and (DAY_S / self.slice_s) % 1:
            raise DesignError(
                f"slice_s={self.slice_s:g} does not divide a day (86400 s), so slots of the day "
                "cannot be balanced; pick a divisor of a day or balance='none'"
            )
        if self.balance == "none" and self.n_slices < len(self.arms):
            raise DesignError(f"{self.n_slices} slices cannot hold {len(self.arms)} arms")

    @property
    def slots_per_day(self) -> int:
        """Time slots per day (a slice length divides the day)."""
        return max(1, round(DAY_S / self.slice_s))

    @property
    def n_slices(self) -> int:
        """Slices in the plan (days times slots per day)."""
        return math.ceil(self.days * DAY_S / self.slice_s)

    def _unit_arms(self, gen: np.random.Generator) -> np.ndarray:
        k, n = len(self.arms), self.n_slices
        if self.balance == "none":
            while True:
                a = gen.integers(0, k, n)
                if np.unique(a).size == k:
                    return a
        spd, days = self.slots_per_day, self.days
        c = _blocks(spd, k, gen) if self.balance == "time_of_day_and_day_of_week" else None
        if self.balance == "time_of_day_and_day_of_week":
            dow = (np.arange(days) + self.start_day_of_week) % 7
            if days >= 7 * k:  # balanced within each day of the week across weeks
                b = np.empty(days, dtype=int)
                for d in range(7):
                    idx = np.flatnonzero(dow == d)
                    b[idx] = _blocks(idx.size, k, gen)
            else:
                b = _blocks(days, k, gen)
            grid = (b[:, None] + c[None, :]) % k
        else:  # each slot of the day: permuted blocks across days
            grid = np.stack([_blocks(days, k, gen) for _ in range(spd)], axis=1)
        return grid.reshape(-1)[:n]

    def generate(self, rng: RNGLike = None) -> SwitchbackSchedule:
        """Draw one schedule (each unit independently) from the plan."""
        gen = resolve_rng(rng)
        n = self.n_slices
        frames = []
        for u in self.units:
            a = self._unit_arms(gen)
            frames.append(pd.DataFrame({"unit": u, "slice": np.arange(n), "arm_code": a}))
        f = pd.concat(frames, ignore_index=True)
        return SwitchbackSchedule._build(f, self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the plan's parameters."""
        return jsonable({"units": list(self.units), "days": self.days, "slice_s": self.slice_s,
                         "burn_in_s": self.burn_in_s, "arms": list(self.arms),
                         "balance": self.balance, "start_day_of_week": self.start_day_of_week})


@dataclass(frozen=True, eq=False, repr=False)
class SwitchbackSchedule(ResultMixin):
    """One drawn schedule: the arm of every unit x slice, with the plan it came from.

    ``to_frame()`` has one row per unit x slice: ``unit``, ``slice``, ``start_s``/``end_s``
    (seconds since the start of day 0), ``day``, ``day_of_week``, ``slot`` (slice of the day),
    ``arm``, ``switched`` (arm differs from the unit's previous slice) and ``burn_in_end_s``.
    """

    frame: pd.DataFrame
    plan: SwitchbackPlan
    diagnostics: tuple[Diagnostic, ...] = ()

    @classmethod
    def _build(cls, f: pd.DataFrame, plan: SwitchbackPlan) -> SwitchbackSchedule:
        f = f.sort_values(["unit", "slice"], kind="stable").reset_index(drop=True)
        arms = np.asarray(plan.arms, dtype=object)
        f["start_s"] = f["slice"] * plan.slice_s
        f["end_s"] = f["start_s"] + plan.slice_s
        f["day"] = (f["start_s"] // DAY_S).astype(int)
        f["day_of_week"] = (f["day"] + plan.start_day_of_week) % 7
        f["slot"] = (f["slice"] % plan.slots_per_day).astype(int)
        f["arm"] = arms[f["arm_code"].to_numpy()]
        prev = f.groupby("unit", sort=False)["arm_code"].shift()
        f["switched"] = prev.notna() & (prev != f["arm_code"])
        f["burn_in_end_s"] = f["start_s"] + np.where(f["switched"], plan.burn_in_s, 0.0)
        out = f[[*list(_SCHEDULE_COLS), "arm_code"]]
        return cls(out, plan, cls._check(out, plan))

    @staticmethod
    def _check(f: pd.DataFrame, plan: SwitchbackPlan) -> tuple[Diagnostic, ...]:
        per = f.groupby(["unit", "arm_code"]).size().unstack(fill_value=0)
        if per.shape[1] < len(plan.arms) or (per == 0).any(axis=None):
            bad = per.index[(per == 0).any(axis=1)].tolist() if per.shape[1] == len(
                plan.arms) else per.index.tolist()
            raise DesignError(
                f"the schedule gives unit(s) {bad} only one arm: a switchback needs every unit "
                "in every arm; lengthen the plan or shorten the slices"
            )
        tod = f.groupby(["slot", "arm_code"]).size().unstack(fill_value=0)
        spread = float((tod.max(axis=1) - tod.min(axis=1)).max())
        return (Diagnostic(
            "schedule_balance", "ok" if spread <= len(plan.units) else "warning",
            f"largest imbalance of arms within a slot of the day: {spread:g} slices over "
            f"{len(plan.units)} unit(s) (balance={plan.balance!r})", spread),)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, plan: SwitchbackPlan) -> SwitchbackSchedule:
        """Read back an exported schedule (columns ``unit``, ``slice``, ``arm``) for ``plan``."""
        missing = [c for c in ("unit", "slice", "arm") if c not in frame.columns]
        if missing:
            raise DataError(f"schedule frame lacks column(s) {missing}")
        seen = list(dict.fromkeys(frame["arm"].tolist()))
        if len(seen) < 2:
            raise DesignError(
                f"the schedule has one arm only ({seen}): nothing is compared; a switchback "
                "alternates at least two arms"
            )
        unknown = [a for a in seen if a not in plan.arms]
        if unknown:
            raise DataError(f"schedule arms {unknown} are not the plan's arms {list(plan.arms)}")
        code = {a: i for i, a in enumerate(plan.arms)}
        f = frame[["unit", "slice"]].copy()
        f["arm_code"] = frame["arm"].map(code).astype(int)
        return cls._build(f, plan)

    def to_frame(self) -> pd.DataFrame:
        """The schedule, one row per unit x slice (a copy)."""
        return self.frame.drop(columns="arm_code").copy()

    def to_csv(self, path) -> None:
        """Write the schedule as CSV (what operations switch by)."""
        self.to_frame().to_csv(path, index=False)

    def arm_of(self, unit: np.ndarray, slice_: np.ndarray) -> np.ndarray:
        """Arm code of each (unit, slice) pair; -1 where the schedule has no such slice."""
        key = pd.MultiIndex.from_arrays([self.frame["unit"], self.frame["slice"]])
        pos = key.get_indexer(pd.MultiIndex.from_arrays([unit, slice_]))
        codes = self.frame["arm_code"].to_numpy()
        return np.where(pos >= 0, codes[np.maximum(pos, 0)], -1)

    def summary(self) -> Summary:
        """Slices and switches per unit and arm, with the plan and its checks, as a :class:`~servicelab.Summary`."""
        tab = self.frame.groupby(["unit", "arm"]).agg(
            slices=("slice", "size"), switches=("switched", "sum")).reset_index()
        return Summary("Switchback schedule", tab, info=self.plan.to_dict(),
                       diagnostics=self.diagnostics)

    def plot(self, ax=None):
        """Unit x slice heat map of the arms."""
        import matplotlib.pyplot as plt

        units = list(dict.fromkeys(self.frame["unit"]))
        grid = self.frame.pivot(index="unit", columns="slice", values="arm_code").loc[units]
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.4 * len(units) + 1))
        ax.imshow(grid.to_numpy(), aspect="auto", interpolation="nearest", cmap="coolwarm")
        ax.set_yticks(range(len(units)), [str(u) for u in units])
        ax.set_xlabel(f"slice ({self.plan.slice_s:g} s each)")
        ax.set_ylabel("unit")
        ax.set_title("switchback schedule (colour = arm)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: the plan, the schedule (cells and their arms) and the diagnostics."""
        return jsonable({"plan": self.plan.to_dict(),
                         "schedule": self.to_frame().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


# -- data on the schedule's clock -----------------------------------------------------------------
def _seconds(t: pd.Series, origin: Any) -> np.ndarray:
    if np.issubdtype(t.dtype, np.datetime64):
        o = t.min().floor("D") if origin is None else pd.Timestamp(origin)
        return (t - o).dt.total_seconds().to_numpy()
    return t.to_numpy(dtype=float) - float(origin or 0.0)


def _cells(data: pd.DataFrame, outcome: str, time: str, unit: str, plan: SwitchbackPlan,
           origin: Any) -> pd.DataFrame:
    """Per (unit, slice): rows and outcome sums in the whole slice and after the burn-in."""
    for c in (outcome, time, unit):
        if c not in data.columns:
            raise DataError(f"column {c!r} not in the data (available: {list(data.columns)[:20]})")
    y = data[outcome].to_numpy(dtype=float)
    if not np.isfinite(y).all():
        raise DataError(f"{int((~np.isfinite(y)).sum())} rows have a missing or infinite "
                        f"{outcome!r}; drop or impute them first")
    secs = _seconds(data[time], origin)
    sl = np.floor(secs / plan.slice_s).astype(np.int64)
    within = secs - sl * plan.slice_s
    late = within >= plan.burn_in_s
    f = pd.DataFrame({"unit": data[unit].to_numpy(), "slice": sl, "y": y,
                      "late": late.astype(float), "y_late": np.where(late, y, 0.0)})
    g = f.groupby(["unit", "slice"], sort=True)
    return g.agg(n=("y", "size"), sy=("y", "sum"), n_late=("late", "sum"),
                 sy_late=("y_late", "sum")).reset_index()


def _fe_matrix(cells: pd.DataFrame, plan: SwitchbackPlan) -> np.ndarray:
    """Intercept + unit + slot-of-day dummies, one row per cell."""
    parts = [np.ones((len(cells), 1))]
    for col in (pd.Series(pd.factorize(cells["unit"])[0]),
                cells["slice"] % plan.slots_per_day):
        d = pd.get_dummies(col.astype(str), drop_first=True, dtype=float).to_numpy()
        if d.size:
            parts.append(d)
    return np.hstack(parts)


def _arm_codes(cells: pd.DataFrame, schedule: SwitchbackSchedule) -> tuple[np.ndarray, np.ndarray]:
    """(current, switched) per cell under ``schedule``."""
    cur = schedule.arm_of(cells["unit"].to_numpy(), cells["slice"].to_numpy())
    prev = schedule.arm_of(cells["unit"].to_numpy(), cells["slice"].to_numpy() - 1)
    return cur, (prev >= 0) & (prev != cur)


def _wls_effect(cells: pd.DataFrame, Z: np.ndarray, cur: np.ndarray, switched: np.ndarray
                ) -> float:
    """FE regression coefficient of the treatment (arm code 1 vs 0) on cell means, weights = rows
    kept after the burn-in; identical to the row-level OLS with cell-constant regressors.
    """
    n = np.where(switched, cells["n_late"], cells["n"]).astype(float)
    sy = np.where(switched, cells["sy_late"], cells["sy"]).astype(float)
    keep = (n > 0) & (cur >= 0)
    w, ybar, d, Zk = n[keep], sy[keep] / n[keep], (cur[keep] == 1).astype(float), Z[keep]
    X = np.column_stack([d, Zk])
    XtW = X.T * w
    beta = np.linalg.lstsq(XtW @ X, XtW @ ybar, rcond=None)[0]
    return float(beta[0])


def switchback_randomization_test(
    data: pd.DataFrame, schedule: SwitchbackSchedule, *, outcome: str, time: str, unit: str,
    n_permutations: int = 999, origin: Any = None, rng: RNGLike = None,
) -> dict[str, Any]:
    """Randomisation p-value of the switchback effect under the design actually used.

    Each permutation re-draws a whole schedule from ``schedule.plan`` (same units, days, slice,
    balance restrictions), re-applies the burn-in where that schedule switches, and recomputes
    the unit + time-of-day fixed-effects estimate (the statistic ``SwitchbackDesign`` reports).
    Under the sharp null of no effect the observed estimate is a draw from this distribution.

    Returns ``effect``, ``pvalue`` (two-sided, with the +1 correction), ``n_permutations`` and
    ``null_sd`` (the spread of the randomisation distribution, a design-based SE).
    """
    plan = schedule.plan
    if len(plan.arms) != 2:
        raise DesignError("the randomisation test compares two arms; the plan has "
                          f"{len(plan.arms)}")
    cells = _cells(data, outcome, time, unit, plan, origin)
    Z = _fe_matrix(cells, plan)
    cur, sw = _arm_codes(cells, schedule)
    if (cur < 0).any():
        raise DataError(f"{int((cur < 0).sum())} unit x slice cells of the data are not in the "
                        "schedule; pass the schedule the experiment ran on")
    obs = _wls_effect(cells, Z, cur, sw)
    gen = resolve_rng(rng)
    # re-draws work on (unit x slice) code grids, without building schedule frames
    upos = pd.Index(plan.units).get_indexer(cells["unit"].to_numpy())
    if (upos < 0).any():
        raise DataError("the data have units that are not in the plan")
    sl = cells["slice"].to_numpy()
    inside = (sl >= 0) & (sl < plan.n_slices)
    sl_c, prev_c = np.clip(sl, 0, plan.n_slices - 1), np.clip(sl - 1, 0, plan.n_slices - 1)
    null = np.empty(n_permutations)
    for b in range(n_permutations):
        grid = np.stack([plan._unit_arms(gen) for _ in plan.units])
        c2 = np.where(inside, grid[upos, sl_c], -1)
        p2 = np.where(inside & (sl >= 1), grid[upos, prev_c], -1)
        null[b] = _wls_effect(cells, Z, c2, (p2 >= 0) & (p2 != c2))
    p = float((1 + np.sum(np.abs(null) >= abs(obs) - 1e-12)) / (n_permutations + 1))
    return {"effect": obs, "pvalue": p, "n_permutations": n_permutations,
            "null_sd": float(np.std(null, ddof=1))}


# -- carryover --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class CarryoverResult(ResultMixin):
    """The previous slice's arm's effect by time into the slice, and the burn-in it implies.

    ``profile`` has one row per bin of ``bin_s`` seconds into the slice: ``lag_effect`` (the
    coefficient of the previous slice's treatment, with the current arm, unit and time-of-day
    fixed effects held fixed), its cluster-robust ``se`` and interval, and ``current_effect``.
    ``suggested_burn_in_s`` is the start of the first bin from which every later bin's lag
    effect is within ``z`` standard errors of 0 (the slice length if none is). The intervals and
    error bars are at ``ci_level``.
    """

    profile: pd.DataFrame
    suggested_burn_in_s: float
    slice_s: float
    diagnostics: tuple[Diagnostic, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    ci_level: float = 0.95

    def summary(self) -> Summary:
        """The previous slice's effect by time into the slice, as a :class:`~servicelab.Summary`."""
        return Summary("Switchback carryover", self.profile, info=dict(self.info),
                       diagnostics=self.diagnostics,
                       notes=[("lag_effect: effect of the previous slice's arm (treatment vs "
                              "control) on the outcome, by time into the current slice.")])

    def plot(self, ax=None):
        """Effect by time since the switch with its interval; draws on ``ax`` when given, returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        p = self.profile
        mid = (p["bin_start_s"] + p["bin_end_s"]) / 2 / 60
        ax.errorbar(mid, p["lag_effect"], yerr=critical_value(self.ci_level) * p["se"], fmt="o-",
                    capsize=3, label=f"previous slice's arm ({self.ci_level:.0%} CI)")
        ax.axhline(0, color="black", lw=0.8)
        ax.axvline(self.suggested_burn_in_s / 60, color="#d62728", ls="--",
                   label="suggested burn-in")
        ax.set_xlabel("minutes into the slice")
        ax.set_ylabel("lag effect (outcome units)")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: the profile by time into the slice, the suggested burn-in, diagnostics."""
        return jsonable({"profile": self.profile.to_dict(orient="records"),
                         "suggested_burn_in_s": self.suggested_burn_in_s,
                         "slice_s": self.slice_s, "info": self.info,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def estimate_carryover(
    data: pd.DataFrame, schedule: SwitchbackSchedule, *, outcome: str, time: str, unit: str,
    bin_s: float | None = None, z: float | None = None, origin: Any = None,
    ci_level: float = 0.95,
) -> CarryoverResult:
    """Estimate carryover from the data: how the previous slice's arm moves the outcome, by time
    into the slice.

    For each bin of time into the slice, rows are regressed on the current arm, the previous
    slice's arm, and unit and slot-of-day fixed effects (OLS, CR1 errors clustered by unit x
    slice). Without carryover the previous arm has no effect in any bin; with a backlog that
    drains with time constant tau, the lag effect decays like exp(-t / tau). ``ci_level`` sets
    the per-bin intervals (``ci_low``, ``ci_high``); the burn-in rule uses ``z`` (by default
    Bonferroni over the bins at 5%).

    Examples
    --------
    >>> plan = SwitchbackPlan(("q",), days=14, slice_s=7200)
    >>> sched = plan.generate(rng=1)
    >>> sim = simulate_switchback(sched, effect=-10.0, relax_s=600, rng=2)
    >>> res = estimate_carryover(sim, sched, outcome="y", time="t_s", unit="unit", bin_s=1200)
    >>> 0 < res.suggested_burn_in_s < 7200
    True
    """
    plan = schedule.plan
    if len(plan.arms) != 2:
        raise DesignError("carryover is estimated for two arms")
    bin_s = plan.slice_s / 6 if bin_s is None else float(bin_s)
    if not 0 < bin_s <= plan.slice_s:
        raise DesignError(f"bin_s must be in (0, slice_s={plan.slice_s:g}], got {bin_s}")
    for c in (outcome, time, unit):
        if c not in data.columns:
            raise DataError(f"column {c!r} not in the data")
    secs = _seconds(data[time], origin)
    sl = np.floor(secs / plan.slice_s).astype(np.int64)
    within = secs - sl * plan.slice_s
    u = data[unit].to_numpy()
    cur = schedule.arm_of(u, sl)
    prev = schedule.arm_of(u, sl - 1)
    keep = (cur >= 0) & (prev >= 0)
    y = data[outcome].to_numpy(dtype=float)
    codes = pd.factorize(u)[0]
    slot = sl % plan.slots_per_day
    rows = []
    q = critical_value(ci_level)
    n_bins = math.ceil(plan.slice_s / bin_s)
    if z is None:
        z = float(stats.norm.ppf(1 - 0.05 / (2 * n_bins)))
    for b in range(n_bins):
        lo, hi = b * bin_s, min((b + 1) * bin_s, plan.slice_s)
        m = keep & (within >= lo) & (within < hi)
        if m.sum() < 10:
            raise DataError(f"only {int(m.sum())} rows {lo:g}-{hi:g} s into a slice; use wider "
                            "bins (bin_s) or more data")
        fe = pd.get_dummies(pd.DataFrame({"u": codes[m].astype(str), "s": slot[m].astype(str)}),
                            drop_first=True, dtype=float).to_numpy()
        X = np.column_stack([np.ones(m.sum()), cur[m] == 1, prev[m] == 1, fe]).astype(float)
        X = X[:, np.r_[True, True, True, X[:, 3:].std(axis=0) > 0]]
        cl = codes[m] * (sl.max() + 2) + sl[m]
        out = cluster_robust_ols(y[m], X, cl, coef=2)
        cur_eff = cluster_robust_ols(y[m], X, cl, coef=1)["beta"]
        rows.append({"bin_start_s": lo, "bin_end_s": hi, "rows": int(m.sum()),
                     "lag_effect": out["beta"], "se": out["se_cr1"],
                     "ci_low": out["beta"] - q * out["se_cr1"],
                     "ci_high": out["beta"] + q * out["se_cr1"], "current_effect": cur_eff})
    prof = pd.DataFrame(rows)
    quiet = (prof["lag_effect"].abs() <= z * prof["se"]).to_numpy()
    first = n_bins
    for i in range(n_bins - 1, -1, -1):
        if not quiet[i]:
            break
        first = i
    burn = float(prof["bin_start_s"].iloc[first]) if first < n_bins else plan.slice_s
    diags = []
    if first >= n_bins:
        diags.append(Diagnostic(
            "carryover", "fail",
            "the previous slice's arm still moves the outcome at the end of the slice: no burn-in "
            "inside this slice removes the carryover; use longer slices", float(prof[
                "lag_effect"].iloc[-1])))
    elif first > 0:
        diags.append(Diagnostic(
            "carryover", "warning",
            f"carryover lasts about {burn:g} s into a slice; drop at least that burn-in "
            f"(plan burn-in: {plan.burn_in_s:g} s)", burn))
    else:
        diags.append(Diagnostic("carryover", "ok",
                                f"no carryover detected at |z| > {z:g} in any bin", 0.0))
    return CarryoverResult(prof, burn, plan.slice_s, tuple(diags),
                           {"outcome": outcome, "bin_s": bin_s, "z": round(z, 3),
                            "method": "OLS per bin: y ~ current arm + previous arm + unit + "
                                      "slot-of-day FE, CR1 by unit x slice",
                            "ci_level": ci_level}, ci_level)


# -- simulation and power ---------------------------------------------------------------------------
def simulate_switchback(
    schedule: SwitchbackSchedule, *, effect: float, relax_s: float = 0.0,
    base: float = 100.0, rate_per_s: float = 1 / 60, noise_sd: float = 30.0,
    unit_sd: float = 10.0, tod_amplitude: float = 0.2, rng: RNGLike = None,
) -> pd.DataFrame:
    """Contacts on a schedule, with a known effect and an exponential carryover.

    Each unit's treated *state* relaxes towards the current arm (0 control, 1 treatment) with
    time constant ``relax_s`` (0: instant), starting from the state at the end of the previous
    slice (0 before the experiment). A contact at time ``t`` has outcome
    ``base * (1 + tod_amplitude * sin(2 pi t / day)) + unit effect + effect * state(t) + noise``.
    The steady-state effect ``effect`` is the estimand; right after a switch the previous arm
    lingers with weight ``exp(-(t - switch) / relax_s)``.

    Returns columns ``unit``, ``t_s``, ``arm``, ``variant``, ``state``, ``y``.
    """
    plan = schedule.plan
    gen = resolve_rng(rng)
    L = plan.slice_s
    out = []
    for u, f in schedule.frame.groupby("unit", sort=False):
        a = (f["arm_code"].to_numpy() == 1).astype(float)
        n_sl = a.size
        s0 = np.empty(n_sl)
        state = 0.0
        decay = math.exp(-L / relax_s) if relax_s > 0 else 0.0
        for k in range(n_sl):
            s0[k] = state
            state = a[k] + (state - a[k]) * decay
        n = gen.poisson(rate_per_s * L * n_sl)
        t = np.sort(gen.uniform(0, L * n_sl, n))
        k = np.minimum((t // L).astype(int), n_sl - 1)
        w = t - k * L
        st = a[k] + (s0[k] - a[k]) * (np.exp(-w / relax_s) if relax_s > 0 else 0.0)
        y = (base * (1 + tod_amplitude * np.sin(2 * np.pi * t / DAY_S)) + gen.normal(0, unit_sd)
             + effect * st + gen.normal(0, noise_sd, n))
        arms = np.asarray(plan.arms, dtype=object)[f["arm_code"].to_numpy()[k]]
        out.append(pd.DataFrame({"unit": u, "t_s": t, "arm": a[k].astype(int),
                                 "variant": arms, "state": st, "y": y}))
    return pd.concat(out, ignore_index=True)


@dataclass(frozen=True, repr=False)
class SwitchbackPower(ResultMixin):
    """Power of a switchback design by simulation."""

    power: float
    mc_se: float
    n_sims: int
    alpha: float
    mean_estimate: float
    sd_estimate: float
    mean_se: float
    truth: float | None
    coverage: float | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """None computed (the result protocol's slot)."""
        return ()

    @property
    def bias(self) -> float | None:
        """Mean estimate minus the true effect over the simulated experiments (None without a truth)."""
        return None if self.truth is None else self.mean_estimate - self.truth

    def summary(self) -> Summary:
        """Power, bias and coverage of the simulated experiments as a :class:`~servicelab.Summary`."""
        tab = pd.DataFrame([{"power": self.power, "mc_se": self.mc_se, "n_sims": self.n_sims,
                             "mean_estimate": self.mean_estimate, "sd_estimate": self.sd_estimate,
                             "mean_se": self.mean_se, "truth": self.truth, "bias": self.bias,
                             "coverage": self.coverage}])
        return Summary("Switchback power by simulation", tab, info=dict(self.info))

    def plot(self, ax=None):
        """Distribution of the simulated estimates against the truth; draws on ``ax``, returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3))
        ax.bar(["power"], [self.power], yerr=[critical_value(0.95) * self.mc_se], capsize=4,
               label="95% Monte Carlo interval")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"rejection rate at alpha={self.alpha:g}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary: power, bias, coverage, the simulation settings."""
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__} |
                        {"bias": self.bias})


def switchback_power(
    plan: SwitchbackPlan, design: SwitchbackDesign,
    simulate: Callable[[SwitchbackSchedule, np.random.Generator], pd.DataFrame], *,
    n_sims: int = 200, alpha: float = 0.05, truth: float | None = None, rng: RNGLike = None,
) -> SwitchbackPower:
    """Power (and bias, coverage when ``truth`` is known) of ``design`` on ``plan`` by simulation.

    Each replication draws a schedule from ``plan``, simulates outcomes with
    ``simulate(schedule, rng)`` (e.g. a :func:`simulate_switchback` closure, or a run of the
    contact-centre simulator), and analyses them with ``design`` (its resampling switched off;
    the CR2 interval decides). Independent replications come from ``SeedSequence.spawn``.

    Examples
    --------
    >>> plan = SwitchbackPlan(("a", "b"), days=7, slice_s=7200)
    >>> design = SwitchbackDesign("y", "t_s", "unit", slice_s=7200)
    >>> pw = switchback_power(plan, design,
    ...                       lambda s, g: simulate_switchback(s, effect=-8.0, rng=g),
    ...                       n_sims=20, truth=-8.0, rng=1)
    >>> pw.power > 0.5
    True
    """
    if n_sims < 2:
        raise DesignError(f"n_sims must be >= 2, got {n_sims}")
    if design.slice_s != plan.slice_s or design.burn_in_s != plan.burn_in_s:
        raise DesignError(
            f"the design analyses slices of {design.slice_s:g} s with burn-in "
            f"{design.burn_in_s:g} s but the plan runs {plan.slice_s:g} s / {plan.burn_in_s:g} s"
        )
    d = replace(design, n_resamples=0)
    est, se, rej, cov = [], [], [], []
    for seq in spawn(rng, n_sims):
        g = np.random.default_rng(seq)
        sched = plan.generate(g)
        res = d.analyze(simulate(sched, g))
        est.append(res.effect)
        se.append(res.se_cr2)
        rej.append(res.pvalue_cr2 < alpha)
        if truth is not None:
            cov.append(res.ci_low <= truth <= res.ci_high)
    p = float(np.mean(rej))
    return SwitchbackPower(
        power=p, mc_se=math.sqrt(max(p * (1 - p), 1e-12) / n_sims), n_sims=n_sims, alpha=alpha,
        mean_estimate=float(np.mean(est)), sd_estimate=float(np.std(est, ddof=1)),
        mean_se=float(np.mean(se)), truth=truth,
        coverage=float(np.mean(cov)) if cov else None,
        info={"plan": plan.to_dict(), "design": f"{type(design).__name__}({design.outcome!r})",
              "decision": f"CR2 p < {alpha:g}"},
    )


def _ri_pvalue_from_design(design: SwitchbackDesign, data: pd.DataFrame,
                           plan: SwitchbackPlan, schedule: SwitchbackSchedule | None,
                           rng: RNGLike) -> dict[str, Any]:
    """Helper for ``SwitchbackDesign.analyze(plan=...)``: RI within the plan."""
    if schedule is None:
        # read the schedule actually run from the data's arm per unit x slice
        secs = _seconds(data[design.time], design.origin)
        sl = np.floor(secs / design.slice_s).astype(np.int64)
        f = pd.DataFrame({"unit": data[design.queue].to_numpy(), "slice": sl,
                          "arm": data[design.variant].to_numpy()}).drop_duplicates(
            ["unit", "slice"])
        schedule = SwitchbackSchedule.from_frame(f, plan)
    return switchback_randomization_test(
        data, schedule, outcome=design.outcome, time=design.time, unit=design.queue,
        n_permutations=design.n_resamples, origin=design.origin, rng=rng)
