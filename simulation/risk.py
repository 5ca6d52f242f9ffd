"""Risk-based staffing: staff each interval so that the service target holds with a stated probability.

A point forecast hides the question a planner is really asked: *how likely* is the roster to hold
the target? :func:`risk_staffing` answers it with forecast **sample paths** (for example
:attr:`simulation.ArrivalForecast.paths`): each path is one plausible day of arrival intensity,
and the simulator runs the roster through every path, with replication ``i`` always seeing path
``i`` and the same random numbers (common random numbers), so that candidate rosters differ only by
their staffing. An interval meets the **risk target** when

    P(service level in the interval >= target_sl) >= risk_target,

the probability taken over the forecast's uncertainty *and* the arrivals' own randomness (a
half-hour's realised service level varies even when the intensity is known). The search starts
from the Erlang requirement at the mean forecast, trims intervals that have room and adds agents
where the target is missed (:func:`simulation.simulated_requirements` with one simulator per
path), under the same occupancy cap and shrinkage as every staffing function. The result sets the
risk roster beside the Erlang roster at the mean forecast and states, in agent-hours, what the
forecast's uncertainty costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, child_seeds
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .analytic import resolve_service_level
from .plan import PlanSimulator
from .service_level import ServiceLevel
from .staffing import (
    _check_fraction,
    _replicate_many,
    interval_requirements,
    simulated_requirements,
)

__all__ = ["RiskStaffing", "risk_staffing"]

MIN_TAIL_PATHS = 5


@dataclass(frozen=True, eq=False, repr=False)
class RiskStaffing(ResultMixin):
    """A roster that meets a service target with a stated probability, per interval.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per interval: ``interval``, ``mean_volume`` (mean of the paths), ``p90_volume``,
        ``erlang_at_mean`` (agents on the phones from Erlang at the mean forecast),
        ``p_meet_at_mean`` (simulated probability that ``erlang_at_mean`` meets the target),
        ``required`` (the risk roster, agents on the phones), ``p_meet`` (its probability),
        ``scheduled_at_mean`` and ``scheduled`` (both after shrinkage).
    """

    table: pd.DataFrame
    target_sl: float
    risk_target: float
    service_level_definition: ServiceLevel
    interval_minutes: int
    n_paths: int
    model_at_mean: str
    max_occupancy: float | None
    shrinkage: float
    iterations: int
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def required(self) -> np.ndarray:
        """Agents on the phones per interval (the risk roster)."""
        return self.table["required"].to_numpy(dtype=int)

    @property
    def scheduled(self) -> np.ndarray:
        """Agents to roster per interval (the risk roster after shrinkage)."""
        return self.table["scheduled"].to_numpy(dtype=int)

    def agent_hours(self, column: str = "scheduled") -> float:
        """Agent-hours of a roster column (``scheduled``, ``scheduled_at_mean``, ``required`` ...)."""
        return float(self.table[column].sum()) * self.interval_minutes / 60.0

    @property
    def uncertainty_cost_agent_hours(self) -> float:
        """Scheduled agent-hours of the risk roster minus those of the Erlang roster at the mean.

        This is the price of the risk target over an average-day plan: the forecast's uncertainty
        plus the arrivals' own randomness within an interval. Run :func:`risk_staffing` on paths all
        equal to the mean forecast to price the second alone.
        """
        return self.agent_hours("scheduled") - self.agent_hours("scheduled_at_mean")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary: targets, the per-interval table, agent-hours, diagnostics."""
        return jsonable({
            "target_sl": self.target_sl, "risk_target": self.risk_target,
            "service_level_definition": self.service_level_definition.to_dict(),
            "interval_minutes": self.interval_minutes, "n_paths": self.n_paths,
            "model_at_mean": self.model_at_mean, "max_occupancy": self.max_occupancy,
            "shrinkage": self.shrinkage, "iterations": self.iterations,
            "agent_hours": self.agent_hours(), "agent_hours_at_mean": self.agent_hours("scheduled_at_mean"),
            "uncertainty_cost_agent_hours": self.uncertainty_cost_agent_hours,
            "table": self.table.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def summary(self) -> Summary:
        """Both rosters per interval, their agent-hours and the cost of the forecast's uncertainty."""
        t = self.table
        info = {
            "target": f"P(service level >= {self.target_sl:.0%}) >= {self.risk_target:.0%} per interval",
            "service level": self.service_level_definition.describe(),
            "sample paths": self.n_paths,
            "roster at mean forecast": (f"{self.model_at_mean}: {self.agent_hours('scheduled_at_mean'):.1f} "
                                        f"agent-hours, lowest P(meet) {np.nanmin(t['p_meet_at_mean']):.2f}"),
            "risk roster": f"{self.agent_hours():.1f} agent-hours, lowest P(meet) {np.nanmin(t['p_meet']):.2f}",
            "cost of forecast uncertainty": f"{self.uncertainty_cost_agent_hours:+.1f} agent-hours",
            "shrinkage": self.shrinkage, "max_occupancy": self.max_occupancy,
            "candidate rosters simulated": self.iterations,
        }
        return Summary("Risk-based staffing", t, info=info, diagnostics=self.diagnostics,
                       notes=[("P(meet): share of forecast sample paths whose simulated interval meets the "
                               "service target (common random numbers across rosters)")])

    def plot(self, ax: Any = None) -> Any:
        """Both rosters per interval (steps, left axis) and their P(meet) (points, right axis)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        x = self.table["interval"].to_numpy()
        ax.step(x, self.table["required"], where="mid", color="C0", label="risk roster")
        ax.step(x, self.table["erlang_at_mean"], where="mid", color="C1", ls="--",
                label=f"{self.model_at_mean} at mean forecast")
        ax.set_ylabel("agents on the phones")
        ax.set_xlabel(f"interval ({self.interval_minutes} min)")
        right = ax.twinx()
        right.plot(x, self.table["p_meet"], "o", color="C0", ms=4, alpha=0.7)
        right.plot(x, self.table["p_meet_at_mean"], "s", color="C1", ms=4, alpha=0.7)
        right.axhline(self.risk_target, color="0.4", lw=1, ls=":")
        right.set_ylim(-0.02, 1.02)
        right.set_ylabel(f"P(SL >= {self.target_sl:.0%}) (markers; dotted: risk target)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=2, frameon=False)
        ax.set_title(f"Risk-based staffing: {self.uncertainty_cost_agent_hours:+.1f} agent-hours over the "
                     "roster at the mean forecast")
        return ax


def _meets(sim: PlanSimulator, target_sl: float):
    """A simulator callback adding ``meets`` (1 when the interval's SL reaches the target; NaN if idle)."""

    def simulate(agents: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        f = sim(agents, rng)
        sl = f["service_level"].to_numpy(dtype=float)
        f["meets"] = np.where(np.isnan(sl), np.nan, (sl >= target_sl - 1e-12).astype(float))
        return f

    return simulate


def risk_staffing(
    paths: Any,
    *,
    aht_s: float,
    patience_s: float | None = None,
    target_sl: float = 0.8,
    service_level: ServiceLevel | float | None = None,
    risk_target: float = 0.9,
    interval_minutes: int = 30,
    max_occupancy: float | None = None,
    shrinkage: float = 0.0,
    cyclic_warmup: int = 0,
    series: str | None = None,
    rng: RNGLike = None,
    max_iter: int = 60,
) -> RiskStaffing:
    """Staff every interval to a risk target from forecast sample paths, by simulation.

    Parameters
    ----------
    paths : array-like (n_paths, n_intervals) or ArrivalForecast
        Sample paths of the arrival intensity (expected contacts per interval); an
        :class:`~simulation.ArrivalForecast` gives its paths of ``series`` (default the total).
    aht_s, patience_s : float
        Mean handle time and mean patience in seconds (exponential; ``patience_s=None``: nobody
        abandons, and the roster at the mean is Erlang C instead of Erlang A).
    target_sl : float
        The service-level target per interval, e.g. 0.8.
    service_level : ServiceLevel or float, optional
        Its definition (a number: the threshold in seconds; default 20 s).
    risk_target : float
        The probability, in (0, 1), with which each interval must reach ``target_sl``. A target of
        1 would ask every sample path to meet it and is refused.
    interval_minutes : int
        Interval length.
    max_occupancy, shrinkage
        The occupancy cap (mean simulated occupancy per interval) and the share of paid time off
        the phones, as in :func:`simulation.required_agents`.
    cyclic_warmup : int
        Intervals of the day's end simulated first, so the day starts with the night's backlog.
    series : str, optional
        The series of an ArrivalForecast (default ``"total"``).
    rng : int, SeedSequence or Generator
        Seeds of the replications (path ``i`` gets child seed ``i``; ``rng`` is not advanced).
    max_iter : int
        Cap on the search's steps.

    Returns
    -------
    RiskStaffing

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> paths = 40 * rng.lognormal(0, 0.15, size=(30, 1)) * np.ones((30, 4))
    >>> r = risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.8, rng=1)
    >>> bool((r.table["p_meet"] >= 0.8).all()), bool(r.uncertainty_cost_agent_hours > 0)
    (True, True)
    """
    if hasattr(paths, "path_volumes"):
        paths = paths.path_volumes(series or "total")
    elif series is not None:
        raise DesignError("series= applies to an ArrivalForecast; paths is already an array")
    arr = np.asarray(paths, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise DataError(f"paths must be a 2-d array (n_paths >= 2, n_intervals >= 1), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise DataError("paths must hold finite, non-negative expected contacts per interval")
    try:
        risk = float(risk_target)
    except (TypeError, ValueError):
        raise DesignError(f"risk_target must be a probability in (0, 1), got {risk_target!r}") from None
    if risk >= 1.0:
        raise DesignError(
            f"risk_target={risk_target!r} is unreachable: it asks every forecast sample path (and every "
            "arrival pattern) to meet the target; staff to a probability below 1, e.g. 0.9 or 0.95")
    risk = float(_check_fraction("risk_target", risk))  # type: ignore[arg-type]
    target = float(_check_fraction("target_sl", target_sl))  # type: ignore[arg-type]
    n_paths, n_int = arr.shape
    if n_paths * (1.0 - risk) < MIN_TAIL_PATHS - 1e-9:
        need = math.ceil(MIN_TAIL_PATHS / (1.0 - risk) - 1e-9)
        raise DesignError(
            f"{n_paths} sample paths cannot resolve a risk target of {risk:.0%}: fewer than "
            f"{MIN_TAIL_PATHS} paths may miss; draw at least {need} paths (ArrivalForecaster(n_paths=...))")
    sl = resolve_service_level(service_level, None, None)
    mean = arr.mean(axis=0)
    at_mean = interval_requirements(pd.DataFrame({"arrivals": mean}), aht_s=aht_s, target_sl=target,
                                    service_level=sl, patience_s=patience_s, interval_minutes=interval_minutes,
                                    max_occupancy=max_occupancy, shrinkage=shrinkage, erlang_c_column=False)
    sims = [_meets(PlanSimulator(tuple(p), aht_s=float(aht_s), patience_s=patience_s,
                                 interval_s=60.0 * interval_minutes, service_level=sl,
                                 cyclic_warmup=cyclic_warmup), target) for p in arr]
    found = simulated_requirements(at_mean.required, sims, target_sl=risk, metric="meets", rng=rng,
                                   direction="both", max_iter=max_iter, max_occupancy=max_occupancy,
                                   shrinkage=shrinkage)
    p_at_mean = np.nanmean(_replicate_many(sims, at_mean.required, child_seeds(rng, n_paths), ("meets",))["meets"],
                           axis=0) if n_int else np.array([])
    table = pd.DataFrame({
        "interval": np.arange(n_int),
        "mean_volume": mean,
        "p90_volume": np.quantile(arr, 0.9, axis=0),
        "erlang_at_mean": at_mean.required,
        "p_meet_at_mean": p_at_mean,
        "required": found["required"].to_numpy(),
        "p_meet": found["metric_mean"].to_numpy(),
        "scheduled_at_mean": at_mean.scheduled,
        "scheduled": found["scheduled"].to_numpy(),
    })
    diags = []
    worst = np.nanmin(table["p_meet_at_mean"]) if np.isfinite(table["p_meet_at_mean"]).any() else np.nan
    if np.isfinite(worst) and worst < risk:
        diags.append(Diagnostic(
            "roster_at_mean", "warning",
            f"the {at_mean.model} roster at the mean forecast meets the target with probability "
            f"{worst:.2f} in its worst interval (risk target {risk:.0%}): the mean hides the forecast's "
            "uncertainty", float(worst)))
    return RiskStaffing(table=table, target_sl=target, risk_target=risk, service_level_definition=sl,
                        interval_minutes=int(interval_minutes), n_paths=n_paths, model_at_mean=at_mean.model,
                        max_occupancy=at_mean.max_occupancy, shrinkage=at_mean.shrinkage,
                        iterations=int(found["iterations"].iloc[0]), diagnostics=tuple(diags))
