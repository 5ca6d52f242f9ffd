"""The estimator scorecard: every servicelab estimator family on small synthetic worlds with
known effects, scored against the truth.

- :mod:`~causal.scorecard.scenarios`: the worlds and their knobs (overlap down to propensities
  of 1e-3, confounding, effect heterogeneity, sample size, clusters, censoring, skew, hidden
  confounding, instrument strength).
- :mod:`~causal.scorecard.families`: the estimators, called as an analyst would call them, with
  the status their own diagnostics report.
- :mod:`~causal.scorecard.scoring`: bias, RMSE, CI width, coverage with its Monte Carlo error
  and binomial band, and the diagnostic hit rate among wide misses.
- :mod:`~causal.scorecard.runner`: the seeded sweep (``SeedSequence`` children, process pool).
- :mod:`~causal.scorecard.plots`: the coverage heat map.

Examples
--------
>>> from causal.scorecard import Scorecard
>>> res = Scorecard(scenarios=("exp-baseline",), estimators=("mean",), reps=10).run(rng=0)
>>> res.table.loc[0, "estimator"]
'mean'
"""

from __future__ import annotations

from causal.scorecard.families import ESTIMATORS, Estimator, estimators_for, run_family
from causal.scorecard.plots import coverage_heatmap
from causal.scorecard.runner import GROUPS, QUICK_PLAN, Scorecard, ScorecardResult, headline, scenario_seed
from causal.scorecard.scenarios import FAMILIES, SCENARIOS, Scenario, World, generate
from causal.scorecard.scoring import binomial_band, score_records, silent_miss_criterion

__all__ = [
    "ESTIMATORS",
    "FAMILIES",
    "GROUPS",
    "QUICK_PLAN",
    "SCENARIOS",
    "Estimator",
    "Scenario",
    "Scorecard",
    "ScorecardResult",
    "World",
    "binomial_band",
    "coverage_heatmap",
    "estimators_for",
    "generate",
    "headline",
    "run_family",
    "scenario_seed",
    "score_records",
    "silent_miss_criterion",
]
