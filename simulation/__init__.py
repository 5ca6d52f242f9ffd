"""Contact-centre simulation: a SimPy discrete-event simulator, replications and analytics.

The simulator (``engine``) runs a custom dispatcher on plain SimPy events with
skills, shifts, breaks, chat concurrency, abandonment, retrials, callbacks and
pluggable routing (``routing``); arrivals come from interval forecasts or traces
(``arrivals``); ``metrics`` turns per-contact record arrays into explicit
service-level and interval metrics; ``replicate`` runs independent replications
with t-intervals in a process pool or on Dask.
``analytic`` has exact Erlang B/C/A and QED approximations, ``staffing`` the
requirement per interval and shift scheduling (milp), ``calibration`` the
simulator inputs estimated from contacts (Kaplan-Meier patience).

Examples
--------
>>> from simulation import AgentGroup, ContactCentre, Poisson, Queue
>>> model = ContactCentre([Queue("q", Poisson(2 / 60, 3600), aht=300.0, patience=120.0)],
...                       [AgentGroup("agents", ("q",), n=12)])
>>> model.run(rng=1).n_contacts > 0
True
"""

from __future__ import annotations

from .agents import AgentGroup, Shift, staffed_slot_seconds
from .analytic import (
    SL_DEFINITIONS,
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
    HandleTimeFit,
    KaplanMeier,
    PatienceFit,
    arrival_rates,
    calibrate,
    fit_handle_times,
    fit_patience,
    kaplan_meier,
)
from .distributions import Deterministic, Empirical, Exponential, Gamma, LogNormal, Never
from .engine import Callback, ContactCentre, DispatchState, Queue, Retrial, named_stream
from .metrics import ServiceLevel, SimulationRun, window_measures
from .plan import StaffingSimulator
from .replicate import ReplicationResult, replicate, t_interval
from .routing import (
    FIFO,
    LongestIdleAgent,
    RoutingError,
    RoutingPolicy,
    SkillsBasedOverflow,
    StaticPriority,
)
from .staffing import (
    IntervalRequirements,
    ShiftSchedule,
    ShiftScheduler,
    ShiftTemplate,
    StaffingRequirement,
    compare_plan,
    interval_requirements,
    required_agents,
    simulated_requirements,
    verify_schedule_by_simulation,
)

__all__ = [
    "FIFO",
    "SL_DEFINITIONS",
    "AgentGroup",
    "Calibration",
    "Callback",
    "ContactCentre",
    "Deterministic",
    "DispatchState",
    "Empirical",
    "ErlangAResult",
    "ErlangCResult",
    "Exponential",
    "GMRApproximation",
    "Gamma",
    "HalfinWhittApproximation",
    "HandleTimeFit",
    "IntervalForecast",
    "IntervalRequirements",
    "KaplanMeier",
    "LogNormal",
    "LongestIdleAgent",
    "Never",
    "PatienceFit",
    "Poisson",
    "Queue",
    "ReplicationResult",
    "Retrial",
    "RoutingError",
    "RoutingPolicy",
    "ServiceLevel",
    "Shift",
    "ShiftSchedule",
    "ShiftScheduler",
    "ShiftTemplate",
    "SimulationRun",
    "SkillsBasedOverflow",
    "SquareRootStaffing",
    "StaffingRequirement",
    "StaffingSimulator",
    "StaticPriority",
    "Trace",
    "arrival_rates",
    "calibrate",
    "compare_plan",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "fit_handle_times",
    "fit_patience",
    "garnett_mandelbaum_reiman",
    "halfin_whitt",
    "interval_requirements",
    "kaplan_meier",
    "named_stream",
    "replicate",
    "required_agents",
    "simulated_requirements",
    "square_root_staffing",
    "staffed_slot_seconds",
    "t_interval",
    "verify_schedule_by_simulation",
    "window_measures",
]
