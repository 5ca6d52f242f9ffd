"""Observational effects with DoWhy and EconML: graph, identify, estimate, refute, sensitivity,
heterogeneity and policy.

Examples
--------
>>> from causal.observational import ObservationalStudy
>>> study = ObservationalStudy("bot_used", "handle_s", confounders=["tier", "pre_contacts"])
"""

from __future__ import annotations

from causal.observational.estimators import (
    Arrays,
    aipw,
    causal_forest,
    difference_in_means,
    dr_learner,
    ipw,
    linear_dml,
    matching,
    naive,
    regression_adjustment,
    standardization,
    stratification,
)
from causal.observational.graph import parse_graph
from causal.observational.heterogeneity import CateAnalysis, CateResult, dr_scores
from causal.observational.iv import (
    IVDeprecationWarning,
    IVResult,
    IVStudy,
    WeakInstrumentWarning,
    first_stage_f,
    two_stage_least_squares,
)
from causal.observational.iv_inference import ARConfidenceSet, OverIdTest
from causal.observational.pipeline import (
    ESTIMATORS,
    REFUTERS,
    ObservationalResult,
    ObservationalStudy,
    Refutation,
)
from causal.observational.propensity import (
    PropensityFit,
    balance_table,
    crump_threshold,
    effective_sample_size,
    fit_propensity,
    ipw_weights,
    overlap_diagnostic,
    smd,
    trim_mask,
)
from causal.observational.sensitivity import (
    Sensitivity,
    cinelli_hazlett,
    evalue_rr,
    robustness_value,
)

__all__ = [
    "ESTIMATORS",
    "REFUTERS",
    "ARConfidenceSet",
    "Arrays",
    "CateAnalysis",
    "CateResult",
    "IVDeprecationWarning",
    "IVResult",
    "IVStudy",
    "ObservationalResult",
    "ObservationalStudy",
    "OverIdTest",
    "PropensityFit",
    "Refutation",
    "Sensitivity",
    "WeakInstrumentWarning",
    "aipw",
    "balance_table",
    "causal_forest",
    "cinelli_hazlett",
    "crump_threshold",
    "difference_in_means",
    "dr_learner",
    "dr_scores",
    "effective_sample_size",
    "evalue_rr",
    "first_stage_f",
    "fit_propensity",
    "ipw",
    "ipw_weights",
    "linear_dml",
    "matching",
    "naive",
    "overlap_diagnostic",
    "parse_graph",
    "regression_adjustment",
    "robustness_value",
    "smd",
    "standardization",
    "stratification",
    "trim_mask",
    "two_stage_least_squares",
]
