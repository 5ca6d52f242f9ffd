"""Why did the KPI move? Attribution of a KPI change between two periods.

- :class:`Decomposition`: mix against rate decomposition over segments (Shapley, Oaxaca–Blinder
  two- and three-fold), Shapley shares of several segment dimensions, the part explained by known
  launches, bootstrap intervals.
- :class:`MechanismAttribution`: attribution to causal mechanisms of a service-process graph with
  DoWhy-GCM's ``distribution_change``.
- :class:`AnomalyDetector`: robust STL-residual anomalies in daily and interval series per segment.

Examples
--------
>>> from causal.attribution import Decomposition, AnomalyDetector, MechanismAttribution
"""

from __future__ import annotations

from causal.attribution.anomaly import AnomalyDetector, AnomalyResult
from causal.attribution.decomposition import Decomposition, DecompositionResult
from causal.attribution.gcm import MechanismAttribution, MechanismAttributionResult

__all__ = [
    "AnomalyDetector",
    "AnomalyResult",
    "Decomposition",
    "DecompositionResult",
    "MechanismAttribution",
    "MechanismAttributionResult",
]
