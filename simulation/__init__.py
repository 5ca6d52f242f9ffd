"""Contact-centre simulation: a SimPy discrete-event simulator, replications and analytics.

The simulator (``engine``) runs a custom dispatcher on plain SimPy events with
skills, shifts, breaks, chat concurrency, abandonment, retrials, callbacks and
pluggable routing (``routing``); arrivals come from interval forecasts or traces
(``arrivals``); ``records`` holds the per-contact record arrays and ``metrics`` turns them
into interval and window measures; ``replicate`` runs independent replications with
t-intervals in a process pool or on Dask and compares two scenarios replication by
replication (``paired_comparison``); ``interference`` is the shared-pool world where treated
contacts' handle times change everyone's wait (direct effect vs global effect, relaxation time);
``plan`` simulates a per-interval staffing plan.
``forecast`` has probabilistic arrival forecasts (statsforecast daily models, intraday profile,
reconciled hierarchy, sample paths) and their backtest. ``analytic`` has exact Erlang B/C/A
(bounded in memory and time at any scale) and QED approximations, ``staffing`` the requirement
per interval, shift scheduling (milp) and the simulation checks of a plan, ``calibration`` the
simulator inputs estimated from contacts (Kaplan-Meier patience) and the check that the
calibrated simulator reproduces them.

One :class:`ServiceLevel` (threshold, denominator, short abandons) is taken and named by all of
them. Randomness follows :mod:`servicelab.random` (``named_stream`` is re-exported from there).

Examples
--------
>>> from simulation import AgentGroup, ContactCentre, Poisson, Queue
>>> model = ContactCentre([Queue("q", Poisson(2 / 60, 3600), aht_s=300.0, patience_s=120.0)],
...                       [AgentGroup("agents", ("q",), n=12)])
>>> model.run(rng=1).n_contacts > 0
True
"""

from __future__ import annotations

from typing import Any

from servicelab.random import named_stream

from .agents import AgentGroup, Shift, staffed_slot_seconds
from .analytic import (
    ErlangAResult,
    ErlangCResult,
    GMRApproximation,
    HalfinWhittApproximation,
    SquareRootStaffing,
    erlang_a,
    erlang_b,
    erlang_c,
    garnett_mandelbaum_reiman,
    halfin_whitt,
    square_root_staffing,
)
from .arrivals import IntervalForecast, Poisson, Trace
from .calibration import (
    Calibration,
    CalibrationValidation,
    HandleTimeFit,
    KaplanMeier,
    PatienceFit,
    arrival_rates,
    calibrate,
    fit_handle_times,
    fit_patience,
    kaplan_meier,
    validate_calibration,
)
from .distributions import Deterministic, Empirical, Exponential, Gamma, LogNormal, Never, Scaled
from .engine import Callback, ContactCentre, DispatchState, Queue, Retrial
from .forecast import (
    ArrivalForecast,
    ArrivalForecaster,
    ForecastBacktest,
    backtest_forecast,
    counts_frame,
    read_counts_csv,
)
from .interference import (
    METRICS,
    Assignment,
    InterferenceRun,
    InterferenceTruth,
    Relaxation,
    SharedPoolCentre,
    fcfs_pool,
    interference_truth,
    relaxation_time,
    truth_from_replications,
    truth_replication,
)
from .metrics import SimulationRun, window_measures
from .plan import PlanSimulator
from .replicate import PairedComparison, ReplicationResult, paired_comparison, replicate, t_interval
from .risk import RiskStaffing, risk_staffing
from .routing import (
    FIFO,
    LongestIdleAgent,
    RoutingError,
    RoutingPolicy,
    SkillsBasedOverflow,
    StaticPriority,
)
from .service_level import ServiceLevel
from .staffing import (
    IntervalRequirements,
    PlanVerification,
    ShiftSchedule,
    ShiftScheduler,
    ShiftTemplate,
    StaffingRequirement,
    compare_plan,
    interval_requirements,
    required_agents,
    scheduled_agents,
    simulated_requirements,
    verify_schedule_by_simulation,
)
from .whatif import Effect, WhatIfResult, propagate_effects

__all__ = [
    "FIFO",
    "METRICS",
    "AgentGroup",
    "ArrivalForecast",
    "ArrivalForecaster",
    "Assignment",
    "Calibration",
    "CalibrationValidation",
    "Callback",
    "ContactCentre",
    "Deterministic",
    "DispatchState",
    "Effect",
    "Empirical",
    "ErlangAResult",
    "ErlangCResult",
    "Exponential",
    "ForecastBacktest",
    "GMRApproximation",
    "Gamma",
    "HalfinWhittApproximation",
    "HandleTimeFit",
    "InterferenceRun",
    "InterferenceTruth",
    "IntervalForecast",
    "IntervalRequirements",
    "KaplanMeier",
    "LogNormal",
    "LongestIdleAgent",
    "Never",
    "PairedComparison",
    "PatienceFit",
    "PlanSimulator",
    "PlanVerification",
    "Poisson",
    "Queue",
    "Relaxation",
    "ReplicationResult",
    "Retrial",
    "RiskStaffing",
    "RoutingError",
    "RoutingPolicy",
    "Scaled",
    "ServiceLevel",
    "SharedPoolCentre",
    "Shift",
    "ShiftSchedule",
    "ShiftScheduler",
    "ShiftTemplate",
    "SimulationRun",
    "SkillsBasedOverflow",
    "SquareRootStaffing",
    "StaffingRequirement",
    "StaticPriority",
    "Trace",
    "WhatIfResult",
    "arrival_rates",
    "backtest_forecast",
    "calibrate",
    "compare_plan",
    "counts_frame",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "fcfs_pool",
    "fit_handle_times",
    "fit_patience",
    "garnett_mandelbaum_reiman",
    "halfin_whitt",
    "interference_truth",
    "interval_requirements",
    "kaplan_meier",
    "named_stream",
    "paired_comparison",
    "propagate_effects",
    "read_counts_csv",
    "relaxation_time",
    "replicate",
    "required_agents",
    "risk_staffing",
    "scheduled_agents",
    "simulated_requirements",
    "square_root_staffing",
    "staffed_slot_seconds",
    "t_interval",
    "truth_from_replications",
    "truth_replication",
    "validate_calibration",
    "verify_schedule_by_simulation",
    "window_measures",
]

_DEPRECATED = {
    "SL_DEFINITIONS": ("analytic", "SL_DEFINITIONS"),
    "StaffingSimulator": ("plan", "StaffingSimulator"),
}


def __getattr__(name: str) -> Any:
    """Deprecated names: ``SL_DEFINITIONS`` (use :class:`ServiceLevel`) and ``StaffingSimulator``
    (use :class:`PlanSimulator`); both warn when used.
    """
    if name in _DEPRECATED:
        import importlib

        module, attr = _DEPRECATED[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
