"""Simulate a staffing plan interval by interval (the hook used by ``simulation.staffing``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DesignError
from servicelab.random import RNGLike

from .agents import AgentGroup
from .arrivals import IntervalForecast
from .engine import ContactCentre, Queue
from .metrics import ServiceLevel
from .routing import LongestIdleAgent

__all__ = ["StaffingSimulator"]


@dataclass(frozen=True)
class StaffingSimulator:
    """A single-queue centre whose on-duty agents follow a per-interval plan.

    Calling it as ``simulate(agents_per_interval, rng)`` runs the simulator once and
    returns one row per forecast interval with ``service_level`` (under
    ``service_level``'s definition), ``asa_s``, ``abandon_rate``, ``occupancy``,
    ``queue_len``, ``offered`` and ``agents``: the signature that
    :func:`simulation.staffing.verify_schedule_by_simulation` expects. With the same
    ``rng`` two plans see the same contacts (common random numbers).

    Parameters
    ----------
    volumes : sequence of float
        Forecast contacts per interval.
    aht, patience
        Handle-time and patience distributions (numbers mean exponential, seconds).
    interval_s : float
    service_level : ServiceLevel
    concurrency : int

    Examples
    --------
    >>> sim = StaffingSimulator((60.0, 120.0, 60.0), aht=300.0, patience=120.0)
    >>> f = sim(np.array([12, 22, 12]), np.random.default_rng(0))
    >>> list(f.columns[:3]), len(f)
    (['interval_start_s', 'agents', 'offered'], 3)
    """

    volumes: tuple[float, ...]
    aht: Any
    patience: Any = None
    interval_s: float = 1800.0
    service_level: ServiceLevel = field(default_factory=lambda: ServiceLevel(20.0))
    concurrency: int = 1

    def model(self, agents_per_interval: Any) -> ContactCentre:
        """The :class:`ContactCentre` for one plan."""
        plan = np.asarray(agents_per_interval)
        if plan.shape != (len(self.volumes),):
            raise DesignError(
                f"agents_per_interval has shape {plan.shape}; expected one value per interval "
                f"({len(self.volumes)})"
            )
        n = int(max(plan.max(), 1))
        q = Queue("q", IntervalForecast(tuple(self.volumes), self.interval_s), self.aht,
                  self.patience)
        g = AgentGroup("plan", ("q",), n, profile=tuple(int(v) for v in plan),
                       profile_interval_s=self.interval_s, concurrency=self.concurrency)
        return ContactCentre([q], [g], routing=LongestIdleAgent())

    def __call__(self, agents_per_interval: Any, rng: RNGLike = None) -> pd.DataFrame:
        run = self.model(agents_per_interval).run(rng=rng)
        f = run.interval_metrics(self.interval_s, self.service_level)
        f = f[f["queue"] == "all"].reset_index(drop=True).iloc[: len(self.volumes)]
        f.insert(1, "agents", np.asarray(agents_per_interval, dtype=int))
        return f.drop(columns=["queue", "warmup"])
