"""Quasi-experimental designs: difference-in-differences (2x2, TWFE, staggered adoption with the
imputation estimator), synthetic control (convex weights and Bayesian via CausalPy) and
interrupted time series, and regression discontinuity (rdrobust with our diagnostics).

Examples
--------
>>> from causal.quasi import StaggeredDiD
>>> spec = StaggeredDiD("handle_s", "site", "day", adoption="launch_day")
"""

from __future__ import annotations

from causal.quasi.did import TWFE, DiD2x2, DiDResult, StaggeredDiD, StaggeredResult
from causal.quasi.its import InterruptedTimeSeries, ITSResult
from causal.quasi.rd import RDResult, RegressionDiscontinuity, plot_sensitivity
from causal.quasi.synth import (
    BayesianSyntheticControl,
    ConvexHullWarning,
    SyntheticControl,
    SynthResult,
    convex_weights,
)

__all__ = [
    "TWFE",
    "BayesianSyntheticControl",
    "ConvexHullWarning",
    "DiD2x2",
    "DiDResult",
    "ITSResult",
    "InterruptedTimeSeries",
    "RDResult",
    "RegressionDiscontinuity",
    "StaggeredDiD",
    "StaggeredResult",
    "SynthResult",
    "SyntheticControl",
    "convex_weights",
    "plot_sensitivity",
]
