"""Regression and classical tests on frames and warehouse aggregates.

- :class:`Regression`: formula OLS, WLS, logit and Poisson; HC0-HC3, CR1 (one- and multi-way),
  CR2 with Bell-McCaffrey df (the experiment engine's), CR3; absorbed fixed effects
  ``y ~ x | unit + day`` (pyfixest).
- :func:`anova`, :func:`anova_from_aggregates`: one-way, two-way and Welch ANOVA tables.
- :func:`chi_square`, :func:`chi_square_from_counts`, :func:`chi_square_gof`: independence and
  goodness of fit with Cramér's V / Cohen's w.
- :func:`regression_table`: models side by side in Markdown and HTML.

Examples
--------
>>> from causal.regression import Regression
>>> spec = Regression("handle_s ~ treated | queue + day", se="CR1", cluster="customer_id")
"""

from __future__ import annotations

from causal.regression.anova import AnovaResult, anova, anova_from_aggregates, group_aggregates
from causal.regression.chisq import ChiSquareResult, chi_square, chi_square_from_counts, chi_square_gof
from causal.regression.models import SE_TYPES, Regression, RegressionResult
from causal.regression.table import RegressionTable, regression_table

__all__ = [
    "SE_TYPES",
    "AnovaResult",
    "ChiSquareResult",
    "Regression",
    "RegressionResult",
    "RegressionTable",
    "anova",
    "anova_from_aggregates",
    "chi_square",
    "chi_square_from_counts",
    "chi_square_gof",
    "group_aggregates",
    "regression_table",
]
