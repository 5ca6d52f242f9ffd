"""Simulate a staffing plan interval by interval: the one plan simulator of servicelab.

:class:`PlanSimulator` is a single-queue centre whose on-duty agents follow a per-interval plan.
Called as ``simulate(agents_per_interval, rng)`` it runs the engine once and returns one row per
plan interval, the callback that :func:`simulation.staffing.verify_schedule_by_simulation` and
:func:`simulation.staffing.simulated_requirements` take. With the same ``rng`` two plans see the
same contacts (common random numbers: arrivals, handle times and patience come from named
streams).

Agents follow the plan through an :class:`~simulation.agents.AgentGroup` profile: in interval
``k`` the first ``plan[k]`` agents are on duty, an agent who goes off duty finishes the contact
in hand, and an agent who stays on duty keeps its place (one group, so the engine's fast path
runs). A plan that starts empty is optimistic in its first intervals; ``cyclic_warmup=W``
simulates the plan's last ``W`` intervals first (the plan of a typical day repeats, so the day
starts with the backlog of the night before) and reports only the plan's own intervals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike

from .agents import AgentGroup
from .arrivals import IntervalForecast
from .engine import ContactCentre, Queue
from .metrics import SimulationRun
from .routing import LongestIdleAgent
from .service_level import ServiceLevel

__all__ = ["PlanSimulator", "engine_simulator"]


@dataclass(frozen=True)
class PlanSimulator:
    """A single-queue centre whose on-duty agents follow a per-interval plan.

    Parameters
    ----------
    volumes : sequence of float
        Forecast contacts per interval (a non-homogeneous Poisson process).
    aht_s, patience_s
        Handle-time and patience distributions in seconds (a number means exponential with
        that mean; ``patience_s=None``: nobody abandons).
    interval_s : float
        Interval length in seconds.
    service_level : ServiceLevel
        The definition of the returned ``service_level`` column.
    concurrency : int
        Contacts an agent handles at once (chat).
    cyclic_warmup : int
        Simulate the plan's last ``cyclic_warmup`` intervals (volumes and agents) before its
        first one, so that it starts with the backlog of a previous cycle; 0 starts empty.
    queue : str
        Queue name in the model.

    Examples
    --------
    >>> sim = PlanSimulator((60.0, 120.0, 60.0), aht_s=300.0, patience_s=120.0)
    >>> f = sim(np.array([12, 22, 12]), 0)
    >>> list(f.columns[:3]), len(f)
    (['interval_start_s', 'agents', 'offered'], 3)
    """

    volumes: tuple[float, ...]
    aht_s: Any
    patience_s: Any = None
    interval_s: float = 1800.0
    service_level: ServiceLevel = field(default_factory=lambda: ServiceLevel(20.0))
    concurrency: int = 1
    cyclic_warmup: int = 0
    queue: str = "q"

    def __post_init__(self) -> None:
        vols = np.asarray(self.volumes, dtype=float)
        if vols.ndim != 1 or vols.size == 0 or not np.all(np.isfinite(vols)) or np.any(vols < 0):
            raise DataError("volumes must be a non-empty sequence of finite, non-negative contacts per interval")
        object.__setattr__(self, "volumes", tuple(float(v) for v in vols))
        if not self.interval_s > 0:
            raise DesignError(f"interval_s must be > 0, got {self.interval_s}")
        if not isinstance(self.service_level, ServiceLevel):
            raise DesignError(f"service_level must be a ServiceLevel, got {self.service_level!r}")
        w = self.cyclic_warmup
        if isinstance(w, bool) or int(w) != w or not 0 <= w <= vols.size:
            raise DesignError(f"cyclic_warmup must be an integer in [0, {vols.size}], got {w!r}")

    def _plan(self, agents_per_interval: Any) -> np.ndarray:
        plan = np.asarray(agents_per_interval)
        if plan.shape != (len(self.volumes),):
            raise DesignError(
                f"agents_per_interval has shape {plan.shape}; expected one value per interval "
                f"({len(self.volumes)})"
            )
        if not np.all(np.isfinite(plan)) or np.any(plan < 0) or np.any(plan != np.round(plan)):
            raise DataError("agents_per_interval must be non-negative integers, one per interval")
        return plan.astype(int)

    def model(self, agents_per_interval: Any) -> ContactCentre:
        """The :class:`ContactCentre` for one plan (warm-up intervals included)."""
        plan = self._plan(agents_per_interval)
        w = int(self.cyclic_warmup)
        vols = np.asarray(self.volumes)
        if w:
            vols = np.concatenate([vols[-w:], vols])
            plan = np.concatenate([plan[-w:], plan])
        q = Queue(self.queue, IntervalForecast(tuple(vols), self.interval_s), self.aht_s, self.patience_s)
        g = AgentGroup("plan", (self.queue,), int(max(plan.max(), 1)), profile=tuple(int(v) for v in plan),
                       profile_interval_s=self.interval_s, concurrency=self.concurrency)
        return ContactCentre([q], [g], routing=LongestIdleAgent(), warmup_s=w * self.interval_s,
                             horizon_s=vols.size * self.interval_s)

    def run(self, agents_per_interval: Any, rng: RNGLike = None) -> SimulationRun:
        """The engine's run of one plan (see :meth:`ContactCentre.run` for ``rng``)."""
        return self.model(agents_per_interval).run(rng=rng)

    def __call__(self, agents_per_interval: Any, rng: RNGLike = None) -> pd.DataFrame:
        """Per-interval metrics of one simulated plan.

        Columns ``interval_start_s`` (from the plan's start), ``agents``, ``offered``, ``answered``,
        ``abandoned``, ``service_level`` (under :attr:`service_level`; NaN where nothing was
        offered), ``asa_s``, ``abandon_rate``, ``queue_len`` and ``occupancy``.
        """
        plan = self._plan(agents_per_interval)
        run = self.run(plan, rng)
        f = run.interval_metrics(self.interval_s, self.service_level)
        w = int(self.cyclic_warmup)
        f = f[f["queue"] == "all"].reset_index(drop=True).iloc[w : w + len(self.volumes)]
        f = f.reset_index(drop=True).drop(columns=["queue", "warmup"])
        f["interval_start_s"] = f["interval_start_s"] - w * self.interval_s
        f.insert(1, "agents", plan)
        f.attrs["service_level"] = self.service_level.name
        f.attrs["service_level_definition"] = self.service_level.describe()
        return f


def engine_simulator(
    volumes: Any,
    *,
    aht_s: float,
    patience_s: float | None,
    interval_s: float = 1800.0,
    sl_threshold_s: float = 20.0,
    queue: str = "q",
) -> PlanSimulator:
    """Deprecated: use :class:`PlanSimulator` (this returns one)."""
    warnings.warn(
        "engine_simulator(...) is deprecated: use simulation.PlanSimulator(volumes, aht_s=..., patience_s=..., "
        "service_level=ServiceLevel(t))",
        DeprecationWarning,
        stacklevel=2,
    )
    return PlanSimulator(tuple(np.asarray(volumes, dtype=float)), aht_s=float(aht_s), patience_s=patience_s,
                         interval_s=interval_s, service_level=ServiceLevel(float(sl_threshold_s)), queue=queue)


def _staffing_simulator(
    volumes: Any, aht: Any = None, patience: Any = None, interval_s: float = 1800.0,
    service_level: ServiceLevel | None = None, concurrency: int = 1, **kw: Any,
) -> PlanSimulator:
    warnings.warn("StaffingSimulator is deprecated: use simulation.PlanSimulator (aht_s=, patience_s=)",
                  DeprecationWarning, stacklevel=2)
    return PlanSimulator(tuple(volumes), kw.pop("aht_s", aht), kw.pop("patience_s", patience), interval_s,
                         service_level or ServiceLevel(20.0), concurrency, **kw)


def __getattr__(name: str) -> Any:
    if name == "StaffingSimulator":
        return _staffing_simulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
