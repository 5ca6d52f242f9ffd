"""Bayesian models for service metrics (PyMC), with a convergence gate.

- :class:`HierarchicalEffects`: effects by queue (and region, language) with partial pooling
  (or none, for one group), lognormal (optionally right-censored: time to resolution) or
  Bernoulli, fitted on sufficient statistics; shrinkage plot, posterior predictive check (and
  its coverage as a diagnostic), prior predictive check. A censored model reports effects only on
  scales the follow-up supports: quantile ratios, the restricted mean (RMST) up to a horizon
  inside the follow-up, and P(resolved by t).
- :class:`BayesianAB`: lognormal handle time, Bernoulli FCR/reopen, ordered-logistic CSAT; lift,
  P(lift > 0), expected loss, ROPE decision. :func:`gaussian_relative_lift` is the normal
  approximation (gbstats).
- :class:`BayesianITS`: CausalImpact-style counterfactual from a trend + weekly season +
  random-walk model (formerly ``InterruptedTimeSeries``, still importable with a
  :class:`BayesDeprecationWarning`).
- :class:`Sampler`, :class:`ConvergenceGate`, :func:`enforce`, :func:`sample_model`: NUTS (PyMC
  or nutpie) settings, a refusal of interrupted (partial) posteriors, and the gate (R-hat <= 1.01,
  bulk and tail ESS >= 400, no divergences).
- :func:`sbc_hierarchical` (module :mod:`causal.bayes.sbc`, formerly ``calibration``):
  simulation-based calibration of the sampler; :func:`simulate_hierarchical`: synthetic data.

Importing this package first points PyTensor at the OpenBLAS bundled with scipy
(:mod:`causal.bayes._blas`), unless BLAS is configured already.
"""

from __future__ import annotations

from typing import Any

from causal.bayes._blas import configure_pytensor_blas

configure_pytensor_blas()  # before anything imports pytensor

from causal.bayes._compat import BayesDeprecationWarning, deprecated_alias  # noqa: E402
from causal.bayes.ab import ABResult, BayesianAB, gaussian_relative_lift  # noqa: E402
from causal.bayes.hierarchical import (  # noqa: E402
    FollowUp,
    HierarchicalEffects,
    HierarchicalResult,
    PriorPredictiveCheck,
)
from causal.bayes.its import BayesianITS, BayesianITSResult  # noqa: E402
from causal.bayes.sampling import (  # noqa: E402
    ConvergenceGate,
    Sampler,
    check_complete,
    enforce,
    nutpie_available,
    sample_model,
    sampled,
    save_netcdf,
)
from causal.bayes.sbc import SBCResult, sbc_hierarchical  # noqa: E402
from causal.bayes.simulate import simulate_hierarchical  # noqa: E402

__all__ = [
    "ABResult",
    "BayesDeprecationWarning",
    "BayesianAB",
    "BayesianITS",
    "BayesianITSResult",
    "ConvergenceGate",
    "FollowUp",
    "HierarchicalEffects",
    "HierarchicalResult",
    "PriorPredictiveCheck",
    "SBCResult",
    "Sampler",
    "check_complete",
    "enforce",
    "gaussian_relative_lift",
    "nutpie_available",
    "sample_model",
    "sampled",
    "save_netcdf",
    "sbc_hierarchical",
    "simulate_hierarchical",
]

_RENAMED = {"InterruptedTimeSeries": "BayesianITS", "ITSResult": "BayesianITSResult"}


def __getattr__(name: str) -> Any:
    """Deprecated aliases: ``InterruptedTimeSeries`` -> :class:`BayesianITS` (and its result)."""
    if name in _RENAMED:
        return deprecated_alias(__name__, name, _RENAMED[name], globals()[_RENAMED[name]])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
