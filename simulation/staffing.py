"""Staffing: agents needed for a service target, per interval, and shift schedules that cover them.

Three layers, from one interval to a whole plan:

1. :func:`required_agents` - the fewest agents that meet a service level (and optionally an
   abandonment cap) in one stationary interval, by Erlang C or Erlang A.
2. :func:`interval_requirements` - that requirement for every interval of a forecast
   (the stationary, independent-interval approximation that WFM tools use).
3. :class:`ShiftScheduler` - an integer program (``scipy.optimize.milp``, HiGHS) choosing how
   many agents start each shift template at each start time to minimise paid hours while
   covering the requirement. Intervals it cannot cover (no template reaches them, or a
   headcount cap binds) are reported as data in :attr:`ShiftSchedule.uncovered`, never dropped.

Simulation hooks: :func:`verify_schedule_by_simulation` and :func:`simulated_requirements`
take a simulator callback ``simulate(agents_per_interval, rng) -> DataFrame`` so that a
schedule can be checked, and a requirement searched, under time-varying load with common
random numbers (the same replication seeds for every candidate staffing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from servicelab.errors import DataError, DesignError, UnstableQueueError
from servicelab.random import RNGLike
from servicelab.results import Diagnostic, Summary, jsonable
from simulation._seeds import child_seeds
from simulation.analytic import (
    DEFAULT_SL_DEFINITION,
    SL_DEFINITIONS,
    erlang_a,
    erlang_c,
    square_root_staffing,
)

__all__ = [
    "IntervalRequirements",
    "ShiftSchedule",
    "ShiftScheduler",
    "ShiftTemplate",
    "StaffingRequirement",
    "compare_plan",
    "engine_simulator",
    "interval_requirements",
    "required_agents",
    "simulated_requirements",
    "verify_schedule_by_simulation",
]

SimulateFn = Callable[[np.ndarray, np.random.Generator], pd.DataFrame]


# -- one interval ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaffingRequirement:
    """The minimum agents for a target in one stationary interval, and what they achieve."""

    model: str
    agents: int
    arrivals_per_hour: float
    aht_s: float
    patience_s: float | None
    target_sl: float
    sl_threshold_s: float
    sl_definition: str
    max_abandon: float | None
    service_level: float
    p_wait: float
    p_abandon: float
    asa_s: float
    occupancy: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(self.__dict__.copy())

    def summary(self) -> Summary:
        """One-row summary of the requirement."""
        d = self.to_dict()
        info = {
            "model": self.model,
            "target": f"{self.target_sl:.0%} within {self.sl_threshold_s:g} s",
            "sl_definition": self.sl_definition,
            "max_abandon": self.max_abandon,
        }
        keys = ("agents", "service_level", "p_wait", "p_abandon", "asa_s", "occupancy")
        table = pd.DataFrame([{k: d[k] for k in keys}])
        notes = [f"service level = {SL_DEFINITIONS[self.sl_definition]}"]
        return Summary("Staffing requirement", table, info=info, notes=notes)


def _check_fraction(name: str, value: float | None, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DesignError(f"{name} must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise DesignError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return v


def _evaluate(
    model: str,
    arrivals_per_hour: float,
    aht_s: float,
    n: int,
    patience_s: float | None,
    sl_threshold_s: float,
    sl_definition: str,
) -> tuple[float, float, float, float, float]:
    """(service level, p_wait, p_abandon, asa, occupancy) at ``n`` agents; Erlang C unstable -> SL 0."""
    if model == "erlang_c":
        try:
            r = erlang_c(arrivals_per_hour, aht_s, n, sl_threshold_s, sl_definition)
        except UnstableQueueError:
            return 0.0, 1.0, 0.0, math.inf, 1.0
        return r.service_level, r.p_wait, 0.0, r.asa_s, r.occupancy
    ra = erlang_a(arrivals_per_hour, aht_s, n, patience_s, sl_threshold_s, sl_definition)  # type: ignore[arg-type]
    return ra.service_level, ra.p_wait, ra.p_abandon, ra.asa_answered_s, ra.occupancy


def required_agents(
    arrivals_per_hour: float,
    aht_s: float,
    *,
    target_sl: float = 0.8,
    sl_threshold_s: float = 20.0,
    patience_s: float | None = None,
    max_abandon: float | None = None,
    model: str | None = None,
    sl_definition: str = DEFAULT_SL_DEFINITION,
) -> StaffingRequirement:
    """Fewest agents meeting ``target_sl`` within ``sl_threshold_s`` (and ``P(ab) <= max_abandon``).

    Parameters
    ----------
    arrivals_per_hour, aht_s : float
        Arrival rate per hour and mean handle time in seconds.
    target_sl : float
        Service-level target in (0, 1), under ``sl_definition``.
    sl_threshold_s : float
        Threshold ``t`` in seconds.
    patience_s : float, optional
        Mean patience; required for Erlang A.
    max_abandon : float, optional
        Cap on the abandonment probability (Erlang A only).
    model : {"erlang_c", "erlang_a"}, optional
        Defaults to Erlang A when ``patience_s`` is given, else Erlang C.
    sl_definition : str
        A key of :data:`simulation.analytic.SL_DEFINITIONS`.

    Examples
    --------
    >>> required_agents(120, 300, target_sl=0.8, sl_threshold_s=20).agents
    14
    >>> required_agents(120, 300, target_sl=0.8, sl_threshold_s=20, patience_s=120).agents
    12
    """
    if model is None:
        model = "erlang_c" if patience_s is None else "erlang_a"
    if model not in ("erlang_c", "erlang_a"):
        raise DesignError(f"model must be 'erlang_c' or 'erlang_a', got {model!r}")
    if model == "erlang_a" and patience_s is None:
        raise DesignError("model='erlang_a' needs patience_s (mean patience in seconds)")
    if model == "erlang_c" and max_abandon is not None:
        raise DesignError(
            "max_abandon needs abandonment: use model='erlang_a' with patience_s (Erlang C has no abandonment)"
        )
    target = _check_fraction("target_sl", target_sl)
    cap = _check_fraction("max_abandon", max_abandon, allow_none=True)
    # validate every input once (raises DesignError naming the bad parameter)
    erlang_a(arrivals_per_hour, aht_s, 1, patience_s or 1.0, sl_threshold_s, sl_definition)
    load = float(arrivals_per_hour) / 3600.0 * float(aht_s)

    def ok(n: int) -> bool:
        sl, _, pab, _, _ = _evaluate(model, arrivals_per_hour, aht_s, n, patience_s, sl_threshold_s, sl_definition)
        return sl >= target - 1e-12 and (cap is None or pab <= cap + 1e-12)

    lo = math.floor(load) if model == "erlang_c" else 0  # ok(lo) is False (or lo == 0)
    guess = square_root_staffing(arrivals_per_hour, aht_s, beta=1.0).agents
    hi = max(lo + 1, guess)
    while not ok(hi):
        lo, hi = hi, 2 * hi + 1
        if hi > 10_000_000:
            raise DesignError(
                f"no staffing up to 10 million agents meets target_sl={target} "
                f"within {sl_threshold_s} s under {sl_definition!r}; check the target"
            )
    while hi - lo > 1:  # invariant: ok(hi), not ok(lo) (monotone in agents)
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    n = max(hi, 1)
    sl, pw, pab, asa, occ = _evaluate(model, arrivals_per_hour, aht_s, n, patience_s, sl_threshold_s, sl_definition)
    return StaffingRequirement(
        model=model,
        agents=int(n),
        arrivals_per_hour=float(arrivals_per_hour),
        aht_s=float(aht_s),
        patience_s=None if patience_s is None else float(patience_s),
        target_sl=target,
        sl_threshold_s=float(sl_threshold_s),
        sl_definition=sl_definition,
        max_abandon=cap,
        service_level=sl,
        p_wait=pw,
        p_abandon=pab,
        asa_s=asa,
        occupancy=occ,
    )


# -- per interval ------------------------------------------------------------------------------
@dataclass(frozen=True)
class IntervalRequirements:
    """Required agents for every interval of a forecast.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per interval: ``interval_start`` (or ``interval``), ``arrivals``,
        ``arrivals_per_hour``, ``aht_s``, ``load``, ``required_erlang_c``, ``required_erlang_a``
        (when a patience is given) and ``required`` (from ``model``).
    """

    table: pd.DataFrame
    model: str
    target_sl: float
    sl_threshold_s: float
    sl_definition: str
    patience_s: float | None
    max_abandon: float | None
    interval_minutes: int
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def required(self) -> np.ndarray:
        """Required agents per interval (from ``model``) as an integer array."""
        return self.table["required"].to_numpy(dtype=int)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(
            {
                "model": self.model,
                "target_sl": self.target_sl,
                "sl_threshold_s": self.sl_threshold_s,
                "sl_definition": self.sl_definition,
                "patience_s": self.patience_s,
                "max_abandon": self.max_abandon,
                "interval_minutes": self.interval_minutes,
                "table": self.table.to_dict(orient="records"),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )

    def summary(self) -> Summary:
        """Summary: the per-interval table and the totals."""
        agent_hours = float(self.table["required"].sum()) * self.interval_minutes / 60.0
        info = {
            "model": self.model,
            "target": f"{self.target_sl:.0%} within {self.sl_threshold_s:g} s",
            "sl_definition": self.sl_definition,
            "intervals": len(self.table),
            "peak required": int(self.table["required"].max()),
            "required agent-hours": agent_hours,
        }
        return Summary(
            "Required agents per interval",
            self.table,
            info=info,
            diagnostics=self.diagnostics,
            notes=[f"service level = {SL_DEFINITIONS[self.sl_definition]}"],
        )

    def plot(self, ax: Any = None) -> Any:
        """Step plot of the requirement per interval (Erlang C and A where available)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        x = np.arange(len(self.table))
        for col, style in (("required_erlang_c", "--"), ("required_erlang_a", "-")):
            if col in self.table:
                ax.step(x, self.table[col], where="post", ls=style, label=col.replace("_", " "))
        ax.set_xlabel(f"interval ({self.interval_minutes} min)")
        ax.set_ylabel("agents")
        ax.legend()
        return ax


def interval_requirements(
    forecast: pd.DataFrame,
    *,
    aht_s: float | str = "aht_s",
    target_sl: float = 0.8,
    sl_threshold_s: float = 20.0,
    patience_s: float | None = None,
    max_abandon: float | None = None,
    interval_minutes: int = 30,
    arrivals_col: str = "arrivals",
    sl_definition: str = DEFAULT_SL_DEFINITION,
) -> IntervalRequirements:
    """Required agents per interval of an arrival forecast.

    Each interval is treated as a stationary queue (arrivals ``arrivals`` per
    ``interval_minutes``); the requirement is from Erlang A when ``patience_s`` is given,
    else from Erlang C, and both columns are reported when they can be computed.

    Parameters
    ----------
    forecast : pandas.DataFrame
        One row per interval, with the expected number of arrivals in ``arrivals_col`` and,
        optionally, ``interval_start`` and a per-interval ``aht_s`` column.
    aht_s : float or str
        Mean handle time in seconds, or the name of a column holding it per interval.

    Examples
    --------
    >>> f = pd.DataFrame({"arrivals": [60, 300, 0]})
    >>> interval_requirements(f, aht_s=300).required.tolist()
    [14, 57, 0]
    """
    if not isinstance(forecast, pd.DataFrame):
        raise DataError("forecast must be a pandas DataFrame with an arrivals column")
    if arrivals_col not in forecast:
        raise DataError(f"forecast has no column {arrivals_col!r} (expected arrivals per interval)")
    if not (isinstance(interval_minutes, int | np.integer) and interval_minutes > 0):
        raise DesignError(f"interval_minutes must be a positive integer, got {interval_minutes!r}")
    arrivals = pd.to_numeric(forecast[arrivals_col], errors="coerce").to_numpy(dtype=float)
    if np.any(~np.isfinite(arrivals)) or np.any(arrivals < 0):
        raise DataError(f"column {arrivals_col!r} must hold finite, non-negative arrivals per interval")
    if isinstance(aht_s, str):
        if aht_s not in forecast:
            raise DataError(f"forecast has no column {aht_s!r}; pass aht_s=<seconds> instead")
        aht = pd.to_numeric(forecast[aht_s], errors="coerce").to_numpy(dtype=float)
    else:
        aht = np.full(len(forecast), float(aht_s))
    if np.any(~np.isfinite(aht)) or np.any(aht <= 0):
        raise DataError("aht_s must be positive and finite in every interval")
    model = "erlang_c" if patience_s is None else "erlang_a"
    rate_h = arrivals * 60.0 / interval_minutes
    out = pd.DataFrame(
        {
            "arrivals": arrivals,
            "arrivals_per_hour": rate_h,
            "aht_s": aht,
            "load": rate_h / 3600.0 * aht,
        }
    )
    if "interval_start" in forecast:
        out.insert(0, "interval_start", forecast["interval_start"].to_numpy())
    else:
        out.insert(0, "interval", np.arange(len(forecast)))
    req_c = np.zeros(len(out), dtype=int)
    req_a = np.zeros(len(out), dtype=int)
    for i, (lam, a) in enumerate(zip(rate_h, aht, strict=True)):
        if lam <= 0:
            continue
        req_c[i] = required_agents(
            lam,
            a,
            target_sl=target_sl,
            sl_threshold_s=sl_threshold_s,
            model="erlang_c",
            sl_definition=sl_definition,
        ).agents
        if patience_s is not None:
            req_a[i] = required_agents(
                lam,
                a,
                target_sl=target_sl,
                sl_threshold_s=sl_threshold_s,
                patience_s=patience_s,
                max_abandon=max_abandon,
                model="erlang_a",
                sl_definition=sl_definition,
            ).agents
    out["required_erlang_c"] = req_c
    if patience_s is not None:
        out["required_erlang_a"] = req_a
    out["required"] = req_a if patience_s is not None else req_c
    return IntervalRequirements(
        table=out,
        model=model,
        target_sl=float(target_sl),
        sl_threshold_s=float(sl_threshold_s),
        sl_definition=sl_definition,
        patience_s=None if patience_s is None else float(patience_s),
        max_abandon=max_abandon,
        interval_minutes=int(interval_minutes),
    )


# -- shift scheduling --------------------------------------------------------------------------
@dataclass(frozen=True)
class ShiftTemplate:
    """A shift pattern: its length, breaks and allowed start times.

    Parameters
    ----------
    name : str
        Label, e.g. ``"8h day"``.
    length_min : int
        Shift length in minutes (a multiple of the interval length).
    breaks : tuple of (offset_min, duration_min)
        Breaks relative to the shift start; agents on break do not count as coverage.
    starts_min : tuple of int, optional
        Allowed start times in minutes from the start of the horizon; default: every
        interval where the shift fits in the horizon.
    paid_breaks : bool
        Whether breaks are paid (counted in paid hours).
    max_agents : int, optional
        Cap on the agents working this template over all its start times (e.g. the
        part-timers available).

    Examples
    --------
    >>> ShiftTemplate("8h", 480, breaks=((240, 30),)).paid_hours
    8.0
    """

    name: str
    length_min: int
    breaks: tuple[tuple[int, int], ...] = ()
    starts_min: tuple[int, ...] | None = None
    paid_breaks: bool = True
    max_agents: int | None = None

    @property
    def paid_hours(self) -> float:
        """Paid hours per agent on this shift."""
        unpaid = 0 if self.paid_breaks else sum(d for _, d in self.breaks)
        return (self.length_min - unpaid) / 60.0

    def working_mask(self, interval_minutes: int) -> np.ndarray:
        """Boolean array, one per interval of the shift: True when the agent is working."""
        if self.length_min <= 0 or self.length_min % interval_minutes:
            raise DesignError(
                f"shift {self.name!r}: length_min={self.length_min} must be a positive multiple "
                f"of interval_minutes={interval_minutes}"
            )
        mask = np.ones(self.length_min // interval_minutes, dtype=bool)
        for off, dur in self.breaks:
            if off % interval_minutes or dur % interval_minutes or dur <= 0:
                raise DesignError(
                    f"shift {self.name!r}: break ({off}, {dur}) must be aligned to {interval_minutes}-minute intervals"
                )
            if off < 0 or off + dur > self.length_min:
                raise DesignError(f"shift {self.name!r}: break ({off}, {dur}) lies outside the shift")
            mask[off // interval_minutes : (off + dur) // interval_minutes] = False
        return mask


@dataclass(frozen=True)
class ShiftSchedule:
    """An optimised shift schedule and its coverage.

    Attributes
    ----------
    shifts : pandas.DataFrame
        Columns ``template, start_interval, start_min, agents, paid_hours`` (rows with agents > 0).
    plan : pandas.DataFrame
        One row per interval: ``required, scheduled, surplus, uncovered, reason``.
    uncovered : pandas.DataFrame
        The rows of ``plan`` with ``uncovered > 0``, with the reason.
    paid_hours : float
        Total paid hours.
    headcount : int
        Agents scheduled (shifts started).
    """

    shifts: pd.DataFrame
    plan: pd.DataFrame
    uncovered: pd.DataFrame
    paid_hours: float
    headcount: int
    solver_status: str
    interval_minutes: int
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def scheduled(self) -> np.ndarray:
        """Agents working in each interval."""
        return self.plan["scheduled"].to_numpy(dtype=int)

    @property
    def fully_covered(self) -> bool:
        """Whether every interval's requirement is met."""
        return self.uncovered.empty

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return jsonable(
            {
                "paid_hours": self.paid_hours,
                "headcount": self.headcount,
                "solver_status": self.solver_status,
                "interval_minutes": self.interval_minutes,
                "shifts": self.shifts.to_dict(orient="records"),
                "plan": self.plan.to_dict(orient="records"),
                "uncovered": self.uncovered.to_dict(orient="records"),
                "diagnostics": [d.to_dict() for d in self.diagnostics],
            }
        )

    def summary(self) -> Summary:
        """Summary: the shifts chosen, totals and coverage diagnostics."""
        info = {
            "paid hours": self.paid_hours,
            "headcount": self.headcount,
            "intervals uncovered": len(self.uncovered),
            "agent-intervals short": int(self.plan["uncovered"].sum()),
            "solver": self.solver_status,
        }
        return Summary("Shift schedule", self.shifts, info=info, diagnostics=self.diagnostics)

    def plot(self, ax: Any = None) -> Any:
        """Required vs scheduled agents per interval; uncovered intervals shaded."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        x = np.arange(len(self.plan))
        ax.step(x, self.plan["required"], where="post", label="required", color="C3")
        ax.step(x, self.plan["scheduled"], where="post", label="scheduled", color="C0")
        short = self.plan["uncovered"].to_numpy() > 0
        if short.any():
            ax.fill_between(
                x,
                0,
                self.plan["required"].max(),
                where=short,
                step="post",
                color="C3",
                alpha=0.15,
                label="uncovered",
            )
        ax.set_xlabel(f"interval ({self.interval_minutes} min)")
        ax.set_ylabel("agents")
        ax.legend()
        return ax


@dataclass(frozen=True)
class ShiftScheduler:
    """Shift scheduling as an integer program (set covering with shift templates).

    Chooses ``x[j]``, the number of agents starting template/start-time ``j``, to minimise
    paid hours subject to ``sum_j a[t, j] x[j] + u[t] >= required[t]`` for every interval
    ``t`` (``a[t, j] = 1`` when ``j`` works in ``t``). The shortfall ``u[t] >= 0`` carries a
    penalty far above any shift's cost, so it is positive only where coverage is impossible
    (no template reaches the interval, or ``max_headcount`` binds); those intervals are
    reported in :attr:`ShiftSchedule.uncovered` with the reason.

    Parameters
    ----------
    templates : sequence of ShiftTemplate
    interval_minutes : int
        Length of one interval in minutes.
    max_headcount : int, optional
        Cap on the number of shifts (agents) scheduled.
    time_limit_s : float
        HiGHS time limit.

    Examples
    --------
    >>> s = ShiftScheduler([ShiftTemplate("4h", 240)], interval_minutes=60)
    >>> s.solve([1, 2, 2, 1, 0, 0, 0, 0]).headcount
    2
    """

    templates: Sequence[ShiftTemplate]
    interval_minutes: int = 30
    max_headcount: int | None = None
    time_limit_s: float = 30.0

    def _columns(self, n_intervals: int) -> tuple[sparse.csc_array, list[tuple[str, int, float]]]:
        rows: list[int] = []
        cols: list[int] = []
        meta: list[tuple[str, int, float]] = []
        step = self.interval_minutes
        for tpl in self.templates:
            mask = tpl.working_mask(step)
            span = mask.size
            if tpl.starts_min is None:
                starts = range(n_intervals - span + 1)
            else:
                bad = [s for s in tpl.starts_min if s % step]
                if bad:
                    raise DesignError(f"shift {tpl.name!r}: starts_min {bad} are not multiples of {step} minutes")
                starts = sorted({s // step for s in tpl.starts_min if 0 <= s // step <= n_intervals - span})
            for s in starts:
                j = len(meta)
                idx = s + np.nonzero(mask)[0]
                rows.extend(idx.tolist())
                cols.extend([j] * idx.size)
                meta.append((tpl.name, int(s), tpl.paid_hours))
        a = sparse.csc_array(
            (np.ones(len(rows)), (np.array(rows, dtype=int), np.array(cols, dtype=int))),
            shape=(n_intervals, len(meta)),
        )
        return a, meta

    def solve(self, required: Any) -> ShiftSchedule:
        """Optimise the schedule for ``required`` agents per interval.

        Parameters
        ----------
        required : array-like, pandas.Series or IntervalRequirements
            Non-negative integer requirement per interval.
        """
        if not self.templates:
            raise DesignError("ShiftScheduler needs at least one ShiftTemplate")
        if not (isinstance(self.interval_minutes, int | np.integer) and self.interval_minutes > 0):
            raise DesignError(f"interval_minutes must be a positive integer, got {self.interval_minutes!r}")
        if self.max_headcount is not None and self.max_headcount < 0:
            raise DesignError(f"max_headcount must be >= 0, got {self.max_headcount!r}")
        index = None
        if isinstance(required, IntervalRequirements):
            if "interval_start" in required.table:
                index = required.table["interval_start"].to_numpy()
            req = required.required
        else:
            if isinstance(required, pd.Series):
                index = required.index.to_numpy()
            req = np.asarray(required, dtype=float)
            if req.ndim != 1 or req.size == 0:
                raise DataError("required must be a non-empty 1-d sequence of agents per interval")
            if np.any(~np.isfinite(req)) or np.any(req < 0):
                raise DataError("required agents must be finite and non-negative in every interval")
            req = np.ceil(req - 1e-9).astype(int)
        n_t = req.size
        a, meta = self._columns(n_t)
        n_x = len(meta)
        paid = np.array([m[2] for m in meta], dtype=float)
        penalty = 1000.0 * max(1.0, paid.max(initial=1.0)) * max(1, n_t)
        # variables: x (n_x, integer), u (n_t, continuous shortfall)
        c = np.concatenate([paid, np.full(n_t, penalty)])
        cover = sparse.hstack([a, sparse.eye_array(n_t)], format="csc")
        constraints = [optimize.LinearConstraint(cover, lb=req, ub=np.inf)]
        if self.max_headcount is not None:
            row = np.concatenate([np.ones(n_x), np.zeros(n_t)])[None, :]
            constraints.append(optimize.LinearConstraint(row, lb=0, ub=self.max_headcount))
        names = np.array([m[0] for m in meta])
        for tpl in self.templates:
            if tpl.max_agents is not None:
                if tpl.max_agents < 0:
                    raise DesignError(f"shift {tpl.name!r}: max_agents must be >= 0")
                row = np.concatenate([(names == tpl.name).astype(float), np.zeros(n_t)])[None, :]
                constraints.append(optimize.LinearConstraint(row, lb=0, ub=tpl.max_agents))
        integrality = np.concatenate([np.ones(n_x), np.zeros(n_t)])
        res = optimize.milp(
            c,
            constraints=constraints,
            integrality=integrality,
            bounds=optimize.Bounds(0, np.inf),
            options={"time_limit": self.time_limit_s, "disp": False},
        )
        if res.x is None:
            raise DesignError(f"shift scheduling failed: HiGHS says {res.message!r}")
        x = np.round(res.x[:n_x]).astype(int)
        scheduled = (a @ x).astype(int)
        uncovered = np.maximum(req - scheduled, 0)
        reachable = np.asarray(a.sum(axis=1)).ravel() > 0
        headcount = int(x.sum())
        binding = []
        if self.max_headcount is not None and headcount >= self.max_headcount:
            binding.append("max_headcount binds")
        binding += [
            f"max_agents of {tpl.name!r} binds"
            for tpl in self.templates
            if tpl.max_agents is not None and x[names == tpl.name].sum() >= tpl.max_agents
        ]
        why = "; ".join(binding) if binding else "not covered by the optimiser"
        reason = np.where(
            uncovered == 0,
            "",
            np.where(~reachable, "no shift template covers this interval", why),
        )
        plan = pd.DataFrame(
            {
                "interval": np.arange(n_t),
                "required": req,
                "scheduled": scheduled,
                "surplus": scheduled - req,
                "uncovered": uncovered,
                "reason": reason,
            }
        )
        if index is not None:
            plan.insert(1, "interval_start", index)
        shifts = pd.DataFrame(
            {
                "template": [m[0] for m in meta],
                "start_interval": [m[1] for m in meta],
                "start_min": [m[1] * self.interval_minutes for m in meta],
                "agents": x,
                "paid_hours": x * paid,
            }
        )
        shifts = shifts[shifts["agents"] > 0].reset_index(drop=True)
        unc = plan[plan["uncovered"] > 0].reset_index(drop=True)
        diags = []
        optimal = res.status == 0
        diags.append(
            Diagnostic(
                "solver",
                "ok" if optimal else "warning",
                f"HiGHS: {res.message}" + ("" if optimal else " (solution may be suboptimal)"),
            )
        )
        if len(unc):
            diags.append(
                Diagnostic(
                    "coverage",
                    "warning",
                    f"{len(unc)} intervals are under-covered by {int(uncovered.sum())} "
                    f"agent-intervals in total; see .uncovered (reasons: "
                    f"{', '.join(sorted(set(unc['reason'])))}). Add shift templates or start "
                    "times, or raise max_headcount or max_agents.",
                    float(len(unc)),
                )
            )
        else:
            diags.append(Diagnostic("coverage", "ok", "every interval's requirement is met", 0.0))
        return ShiftSchedule(
            shifts=shifts,
            plan=plan,
            uncovered=unc,
            paid_hours=float(x @ paid),
            headcount=headcount,
            solver_status=str(res.message),
            interval_minutes=int(self.interval_minutes),
            diagnostics=tuple(diags),
        )


# -- plan vs target ----------------------------------------------------------------------------
def compare_plan(requirements: IntervalRequirements, scheduled: Any) -> pd.DataFrame:
    """Planned vs required agents per interval, with the service level the plan achieves.

    The achieved service level uses the same model, threshold and definition as
    ``requirements`` (Erlang A with its patience, or Erlang C, where an interval with load at
    or above the scheduled agents is unstable and reported with ``service_level = 0`` and
    ``stable = False``).

    Parameters
    ----------
    requirements : IntervalRequirements
    scheduled : array-like or ShiftSchedule
        Agents working per interval.

    Returns
    -------
    pandas.DataFrame
        ``required, scheduled, gap, service_level, target, meets_target, p_abandon, stable``.
    """
    agents = scheduled.scheduled if isinstance(scheduled, ShiftSchedule) else np.asarray(scheduled)
    tab = requirements.table
    if agents.shape != (len(tab),):
        raise DataError(f"scheduled has {agents.size} intervals but the requirements have {len(tab)}")
    rows = []
    for i, row in enumerate(tab.itertuples(index=False)):
        n = int(agents[i])
        lam = float(row.arrivals_per_hour)
        if lam <= 0:
            rows.append((1.0, 0.0, True))
            continue
        if n <= 0:
            rows.append((0.0, 1.0 if requirements.patience_s else 0.0, False))
            continue
        stable = requirements.model == "erlang_a" or row.load < n
        sl, _, pab, _, _ = _evaluate(
            requirements.model,
            lam,
            float(row.aht_s),
            n,
            requirements.patience_s,
            requirements.sl_threshold_s,
            requirements.sl_definition,
        )
        rows.append((sl, pab, stable))
    sl, pab, stable = (np.array(v) for v in zip(*rows, strict=True))
    key = "interval_start" if "interval_start" in tab else "interval"
    return pd.DataFrame(
        {
            key: tab[key].to_numpy(),
            "required": tab["required"].to_numpy(),
            "scheduled": agents.astype(int),
            "gap": agents.astype(int) - tab["required"].to_numpy(),
            "service_level": sl,
            "target": requirements.target_sl,
            "meets_target": sl >= requirements.target_sl - 1e-12,
            "p_abandon": pab,
            "stable": stable.astype(bool),
        }
    )


# -- simulation hooks --------------------------------------------------------------------------
def _replicate(
    simulate: SimulateFn, agents: np.ndarray, seeds: list[np.random.SeedSequence], metric: str
) -> np.ndarray:
    """Run ``simulate`` once per seed; return an (n_reps, n_intervals) array of ``metric``."""
    out = []
    for s in seeds:
        frame = simulate(agents.copy(), np.random.default_rng(s))
        if metric not in frame:
            raise DataError(f"the simulator callback returned no {metric!r} column")
        vals = np.asarray(frame[metric], dtype=float)
        if vals.shape != agents.shape:
            raise DataError(f"the simulator callback returned {vals.size} intervals, expected {agents.size}")
        out.append(vals)
    return np.vstack(out)


def verify_schedule_by_simulation(
    scheduled: Any,
    simulate: SimulateFn,
    *,
    target_sl: float,
    n_replications: int = 10,
    rng: RNGLike = None,
    metric: str = "service_level",
    level: float = 0.95,
) -> pd.DataFrame:
    """Check a schedule by simulation: per-interval metric with replication t-intervals.

    Parameters
    ----------
    scheduled : array-like or ShiftSchedule
        Agents working per interval.
    simulate : callable
        ``simulate(agents_per_interval: ndarray, rng: Generator) -> DataFrame`` with one row
        per interval and a ``metric`` column (e.g. the service level under a named
        definition). It must draw all randomness from ``rng``. Any simulator fits; the
        ``simulation.engine`` model is the intended one.
    target_sl : float
        Target to compare against.
    n_replications : int
        Independent replications: replication ``i`` is seeded by child ``i`` of ``rng``
        (:func:`simulation._seeds.child_seeds`, derived without advancing ``rng``), so the same
        int, SeedSequence or Generator object gives the same replications on every call.

    Returns
    -------
    pandas.DataFrame
        ``interval, scheduled, mean, ci_low, ci_high, target, meets_target`` where
        ``meets_target`` is ``"yes"``/``"no"``/``"unclear"`` (interval straddles the target).
    """
    agents = scheduled.scheduled if isinstance(scheduled, ShiftSchedule) else np.asarray(scheduled)
    if n_replications < 2:
        raise DesignError(f"n_replications must be >= 2 for an interval, got {n_replications}")
    vals = _replicate(simulate, agents.astype(int), child_seeds(rng, n_replications), metric)
    mean = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / math.sqrt(n_replications)
    q = stats.t.ppf(0.5 + level / 2, n_replications - 1)
    lo, hi = mean - q * se, mean + q * se
    verdict = np.where(lo >= target_sl, "yes", np.where(hi < target_sl, "no", "unclear"))
    return pd.DataFrame(
        {
            "interval": np.arange(agents.size),
            "scheduled": agents.astype(int),
            "mean": mean,
            "ci_low": lo,
            "ci_high": hi,
            "target": target_sl,
            "meets_target": verdict,
        }
    )


def simulated_requirements(
    initial: Any,
    simulate: SimulateFn,
    *,
    target_sl: float,
    n_replications: int = 10,
    rng: RNGLike = None,
    metric: str = "service_level",
    max_iter: int = 50,
) -> pd.DataFrame:
    """Simulation-based staffing search with common random numbers.

    Starting from ``initial`` agents per interval (e.g. the Erlang A requirement minus a
    margin), repeatedly simulates the whole horizon with the *same* replication seeds (CRN:
    each candidate staffing sees the same contacts, so differences are due to staffing,
    not noise) and adds one agent to every interval whose mean ``metric`` is below
    ``target_sl``, until all intervals meet it. Intervals interact under time-varying load
    (a backlog carries over), which is why this can differ from the per-interval Erlang
    requirement.

    The replication seeds are child ``i`` of ``rng`` (:func:`simulation._seeds.child_seeds`),
    derived without advancing ``rng``: every candidate, and every call with the same int,
    SeedSequence or Generator object, gets the same seeds.

    Returns
    -------
    pandas.DataFrame
        ``interval, initial, required, metric_mean, iterations``.
    """
    agents = np.asarray(initial, dtype=int).copy()
    if agents.ndim != 1 or np.any(agents < 0):
        raise DataError("initial must be a 1-d array of non-negative agents per interval")
    start = agents.copy()
    seeds = child_seeds(rng, n_replications)  # fixed for all candidates: CRN
    iterations = 0
    while True:
        iterations += 1
        mean = _replicate(simulate, agents, seeds, metric).mean(axis=0)
        short = mean < target_sl - 1e-12
        if not short.any():
            break
        if iterations >= max_iter:
            raise DesignError(
                f"simulated_requirements did not meet target_sl={target_sl} in {max_iter} "
                "iterations; start closer (e.g. from the Erlang A requirement) or raise max_iter"
            )
        agents[short] += 1
    return pd.DataFrame(
        {
            "interval": np.arange(agents.size),
            "initial": start,
            "required": agents,
            "metric_mean": mean,
            "iterations": iterations,
        }
    )


def _merge(gaps: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Merge touching (start, end) windows."""
    out: list[list[float]] = []
    for a, b in gaps:
        if out and abs(out[-1][1] - a) < 1e-9:
            out[-1][1] = b
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _layer_groups(agents: np.ndarray, interval_s: float, queue: str) -> list[Any]:
    """Agent groups realising ``agents[k]`` on duty in interval ``k``.

    Agents persist across intervals: layer ``j`` is on duty wherever ``agents[k] >= j``, and
    layers with the same on-duty pattern form one group (off intervals become breaks).
    """
    from simulation.agents import AgentGroup, Shift

    groups = []
    levels = np.unique(agents)
    for level in levels[levels > 0]:
        on = agents >= level
        n = int(level - levels[levels < level].max(initial=0))
        k_on = np.nonzero(on)[0]
        first, last = int(k_on[0]), int(k_on[-1])
        gaps = [(k * interval_s, (k + 1) * interval_s) for k in range(first, last + 1) if not on[k]]
        shift = Shift(first * interval_s, (last + 1) * interval_s, breaks=_merge(gaps))
        groups.append(AgentGroup(f"layer{int(level)}", (queue,), n, shift))
    return groups


def engine_simulator(
    volumes: Any,
    *,
    aht_s: float,
    patience_s: float | None,
    interval_s: float = 1800.0,
    sl_threshold_s: float = 20.0,
    queue: str = "q",
) -> SimulateFn:
    """A ``simulate(agents_per_interval, rng)`` callback backed by :mod:`simulation.engine`.

    One queue with non-homogeneous Poisson arrivals (``volumes`` expected contacts per
    interval), exponential handle times and patience; ``agents_per_interval[k]`` agents are
    on duty in interval ``k``. Agents stay on duty across intervals while the staffing does
    not drop (the profile is split into layers, one agent group per on-duty pattern), and an
    agent going off duty finishes the contact in hand. The system starts empty at time 0, so
    the first interval is optimistic; prepend warm-up intervals where that matters.
    The callback returns the engine's per-interval metrics for the queue, with a
    ``service_level`` column (answered within ``sl_threshold_s`` over offered contacts) and
    an ``abandon_rate`` column. Contacts are drawn from named streams of ``rng``, so two
    staffings run with the same seed see the same contacts (common random numbers).

    Examples
    --------
    >>> sim = engine_simulator([60, 60], aht_s=300, patience_s=120, interval_s=1800)
    >>> bool(sim(np.array([12, 12]), np.random.default_rng(1))["service_level"].between(0, 1).all())
    True
    """
    from simulation.arrivals import IntervalForecast
    from simulation.engine import ContactCentre, Queue
    from simulation.metrics import ServiceLevel

    forecast = IntervalForecast(tuple(np.asarray(volumes, dtype=float)), interval_s=interval_s)
    n_int = len(forecast.volumes)
    q = Queue(queue, forecast, aht=float(aht_s), patience=patience_s)
    sl = ServiceLevel(float(sl_threshold_s))

    def simulate(agents: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        agents = np.asarray(agents, dtype=int)
        if agents.shape != (n_int,) or np.any(agents < 0):
            raise DataError(f"agents must be {n_int} non-negative integers, one per interval")
        groups = _layer_groups(agents, interval_s, queue)
        if not groups:
            raise DataError("agents are zero in every interval: nothing to simulate")
        run = ContactCentre([q], groups).run(rng=rng)
        m = run.interval_metrics(interval_s=interval_s, service_level=sl)
        m = m[m["queue"] == queue].reset_index(drop=True)
        return m.iloc[:n_int]

    return simulate
