"""Bayesian models for service metrics (PyMC), with a convergence gate.

- :class:`HierarchicalEffects`: effects by queue (and region, language) with partial pooling,
  lognormal (optionally right-censored: time to resolution) or Bernoulli, fitted on sufficient
  statistics; shrinkage plot, posterior predictive check, prior predictive check.
- :class:`BayesianAB`: lognormal handle time, Bernoulli FCR/reopen, ordered-logistic CSAT; lift,
  P(lift > 0), expected loss, ROPE decision. :func:`gaussian_relative_lift` is the normal
  approximation (gbstats).
- :class:`InterruptedTimeSeries`: CausalImpact-style counterfactual from a trend + weekly season +
  random-walk model.
- :class:`Sampler`, :class:`ConvergenceGate`, :func:`enforce`: NUTS (PyMC or nutpie) settings and
  the gate (R-hat <= 1.01, bulk and tail ESS >= 400, no divergences).
- :func:`sbc_hierarchical`, :func:`simulate_hierarchical`: calibration and synthetic data.
"""

from __future__ import annotations

from causal.bayes.ab import ABResult, BayesianAB, gaussian_relative_lift
from causal.bayes.calibration import SBCResult, sbc_hierarchical, simulate_hierarchical
from causal.bayes.hierarchical import (
    HierarchicalEffects,
    HierarchicalResult,
    PriorPredictiveCheck,
)
from causal.bayes.its import InterruptedTimeSeries, ITSResult
from causal.bayes.sampling import (
    ConvergenceGate,
    Sampler,
    enforce,
    nutpie_available,
    sample_model,
    save_netcdf,
)

__all__ = [
    "ABResult",
    "BayesianAB",
    "ConvergenceGate",
    "HierarchicalEffects",
    "HierarchicalResult",
    "ITSResult",
    "InterruptedTimeSeries",
    "PriorPredictiveCheck",
    "SBCResult",
    "Sampler",
    "enforce",
    "gaussian_relative_lift",
    "nutpie_available",
    "sample_model",
    "save_netcdf",
    "sbc_hierarchical",
    "simulate_hierarchical",
]
