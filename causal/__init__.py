"""Causal effects of service interventions.

Subpackages
-----------
experiments
    Randomised designs: metrics, CUPED, SRM, sequential tests, cluster and switchback designs, power.
observational
    DoWhy/EconML pipeline: graph, identify, estimate, refute, heterogeneity, policy.
quasi
    Difference-in-differences, synthetic control, interrupted time series, regression
    discontinuity.
regression
    Formula regression (OLS, WLS, logit, Poisson; HC and cluster SEs; absorbed fixed effects),
    ANOVA, chi-square, regression tables.
survival
    Time to event: Kaplan-Meier, Cox, AFT, RMST effects, competing risks.
bayes
    PyMC models with a convergence gate.
"""

from __future__ import annotations

from causal.results import EffectEstimate, critical_value

__all__ = ["EffectEstimate", "critical_value"]
