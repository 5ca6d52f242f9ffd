"""Randomised experiments: declarative metrics, CUPED, SRM, multiple testing, sequential
designs, power, cluster-randomised and switchback designs, at warehouse scale.

Examples
--------
>>> from causal.experiments import Experiment, Mean, RatioOfMeans
>>> exp = Experiment(aht=RatioOfMeans("handle_s_sum", "answered"), contacts=Mean("contacts"))
>>> sorted(exp.metrics)
['aht', 'contacts']
"""

from __future__ import annotations

from causal.experiments._data import ALL
from causal.experiments.cluster import (
    ClusterExperiment,
    ClusterResult,
    SwitchbackDesign,
    cluster_robust_ols,
    cluster_sums_inference,
)
from causal.experiments.cupac import CUPAC
from causal.experiments.experiment import VERDICTS, Experiment, ExperimentResult
from causal.experiments.inference import (
    SRMResult,
    TwoSampleResult,
    ZeroVarianceError,
    adjust_pvalues,
    bayes_normal_lift,
    mean_var_from_sums,
    srm_test,
    two_sample_test,
    welch_anova,
)
from causal.experiments.metrics import (
    MannWhitney,
    Mean,
    Metric,
    Proportion,
    Quantile,
    RatioOfMeans,
    ServiceLevelMetric,
    direction_label,
)
from causal.experiments.nonparametric import bootstrap_ci, mann_whitney
from causal.experiments.power import MetricVariance, PowerAnalysis, PowerResult
from causal.experiments.quantile import RowData, cluster_bootstrap_quantile, quantile_arm
from causal.experiments.rerandomize import rerandomization_check
from causal.experiments.sequential import (
    GroupSequentialDesign,
    SequentialBoundaries,
    StopDecision,
    always_valid,
    msprt_statistic,
)
from causal.experiments.simulate import SimulatedExperiment, simulate_service_experiment
from causal.experiments.switchback import (
    CarryoverResult,
    SwitchbackPlan,
    SwitchbackPower,
    SwitchbackSchedule,
    estimate_carryover,
    simulate_switchback,
    switchback_power,
    switchback_randomization_test,
)

__all__ = [
    "ALL",
    "CUPAC",
    "VERDICTS",
    "CarryoverResult",
    "ClusterExperiment",
    "ClusterResult",
    "Experiment",
    "ExperimentResult",
    "GroupSequentialDesign",
    "MannWhitney",
    "Mean",
    "Metric",
    "MetricVariance",
    "PowerAnalysis",
    "PowerResult",
    "Proportion",
    "Quantile",
    "RatioOfMeans",
    "RowData",
    "SRMResult",
    "SequentialBoundaries",
    "ServiceLevelMetric",
    "SimulatedExperiment",
    "StopDecision",
    "SwitchbackDesign",
    "SwitchbackPlan",
    "SwitchbackPower",
    "SwitchbackSchedule",
    "TwoSampleResult",
    "ZeroVarianceError",
    "adjust_pvalues",
    "always_valid",
    "bayes_normal_lift",
    "bootstrap_ci",
    "cluster_bootstrap_quantile",
    "cluster_robust_ols",
    "cluster_sums_inference",
    "direction_label",
    "estimate_carryover",
    "mann_whitney",
    "mean_var_from_sums",
    "msprt_statistic",
    "quantile_arm",
    "rerandomization_check",
    "simulate_service_experiment",
    "simulate_switchback",
    "srm_test",
    "switchback_power",
    "switchback_randomization_test",
    "two_sample_test",
    "welch_anova",
]
