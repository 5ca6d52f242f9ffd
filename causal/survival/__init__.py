"""Time to event: resolution time, churn, time to escalation.

- :class:`KaplanMeier`: survival curves by group with log-log intervals, S(t), RMST, medians.
- :class:`CoxPH`: Cox proportional hazards (lifelines), robust and cluster SEs, PH test.
- :class:`AFT`: Weibull and log-normal accelerated failure time models (lifelines).
- :class:`SurvivalEffect`: RMST difference, difference in P(event by t), hazard ratio and
  median ratio by arm, for experiments (cluster bootstrap) and observational data (IPW).
- :class:`CumulativeIncidence`: competing risks (Aalen-Johansen) by group.

Examples
--------
>>> from causal.survival import CoxPH
>>> spec = CoxPH(duration="hours_open", event="resolved", covariates=["treated"])
"""

from __future__ import annotations

from causal.survival.competing import CumulativeIncidence, CumulativeIncidenceResult
from causal.survival.effects import SurvivalEffect, SurvivalEffectResult, ipw_weights
from causal.survival.km import KaplanMeier, KaplanMeierResult
from causal.survival.models import AFT, AFTResult, CoxPH, CoxResult

__all__ = [
    "AFT",
    "AFTResult",
    "CoxPH",
    "CoxResult",
    "CumulativeIncidence",
    "CumulativeIncidenceResult",
    "KaplanMeier",
    "KaplanMeierResult",
    "SurvivalEffect",
    "SurvivalEffectResult",
    "ipw_weights",
]
