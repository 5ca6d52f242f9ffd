"""The effect row shared by every causal result (experiments, observational, quasi, Bayes)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from servicelab.results import jsonable


@dataclass(frozen=True)
class EffectEstimate:
    """One estimated effect with its estimand and uncertainty.

    Parameters
    ----------
    estimand : str
        ``"ATE"``, ``"ATT"``, ``"CATE"``, ``"LATE"``, ``"difference in means"``...
    population : str
        Whom the estimand refers to, e.g. ``"customers in the routing-v2 experiment"``.
    method : str
        Estimator name, e.g. ``"Welch t"``, ``"AIPW"``, ``"LinearDML"``.
    estimate : float
        Point estimate (absolute scale, outcome units).
    se : float or None
        Standard error, where the method has one.
    ci_low, ci_high : float
        Interval bounds at level ``ci_level``.
    ci_level : float
        Interval level, default 0.95.
    pvalue : float or None
        Two-sided p-value against zero effect, where defined.
    n : int or None
        Units used.

    Examples
    --------
    >>> e = EffectEstimate("ATE", "all customers", "Welch t", 1.0, 0.5, 0.02, 1.98)
    >>> round(e.estimate - e.ci_low, 2)
    0.98
    """

    estimand: str
    population: str
    method: str
    estimate: float
    se: float | None
    ci_low: float
    ci_high: float
    ci_level: float = 0.95
    pvalue: float | None = None
    n: int | None = None

    def covers(self, value: float) -> bool:
        """Whether the interval contains ``value``."""
        return self.ci_low <= value <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return jsonable(asdict(self))
