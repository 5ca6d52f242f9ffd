"""The effect row shared by every causal result (experiments, observational, quasi, Bayes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from servicelab.errors import DesignError
from servicelab.results import Diagnostic, Status, jsonable, worst_status


def critical_value(ci_level: float = 0.95, df: float | None = None) -> float:
    """The two-sided critical value of a Wald interval at ``ci_level`` (normal, or t with ``df``).

    The half-width of an interval (or error bar) from a standard error is
    ``critical_value(ci_level) * se``; :meth:`EffectEstimate.from_se` builds whole estimates.

    Examples
    --------
    >>> round(critical_value(0.95), 4), round(critical_value(0.90), 4), round(critical_value(0.95, 10), 4)
    (1.96, 1.6449, 2.2281)
    """
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must be in (0, 1); got {ci_level!r}")
    dist = stats.t(df) if df is not None else stats.norm
    return float(dist.ppf(0.5 + ci_level / 2))


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
    diagnostics : tuple of Diagnostic
        Checks computed on what *this* estimator used (its own propensities, weights, fit).
        A ``"fail"`` means the number should not be trusted; summaries and reports show it.

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
    diagnostics: tuple[Diagnostic, ...] = ()

    @classmethod
    def from_se(cls, estimand: str, population: str, method: str, estimate: float,
                se: float | None, *, ci_level: float = 0.95, df: float | None = None,
                pvalue: float | None = None, n: int | None = None,
                diagnostics: Sequence[Diagnostic] = ()) -> EffectEstimate:
        """Build an estimate with the normal (or Student-t with ``df``) interval from its SE.

        This is the one place where a Wald interval and its p-value are computed from
        ``(estimate, se, ci_level)``; every estimator with a standard error uses it. A missing or
        non-finite SE gives NaN bounds (never a made-up interval).

        Examples
        --------
        >>> e = EffectEstimate.from_se("ATE", "all", "OLS", 2.0, 0.5, ci_level=0.9)
        >>> round(e.ci_low, 3), round(e.pvalue, 5)
        (1.178, 6e-05)
        """
        if not 0 < ci_level < 1:
            raise ValueError(f"ci_level must be in (0, 1); got {ci_level!r}")
        est = float(estimate)
        ok = se is not None and math.isfinite(float(se)) and float(se) > 0
        if ok:
            dist = stats.t(df) if df is not None else stats.norm
            q = critical_value(ci_level, df)
            s = float(se)
            lo, hi = est - q * s, est + q * s
            if pvalue is None:
                pvalue = float(2 * dist.sf(abs(est / s)))
        else:
            lo = hi = float("nan")
        return cls(estimand, population, method, est, None if se is None else float(se),
                   float(lo), float(hi), ci_level, pvalue, None if n is None else int(n),
                   tuple(diagnostics))

    @property
    def status(self) -> Status:
        """The worst status among this estimate's own diagnostics (``"ok"`` when it has none)."""
        return worst_status(self.diagnostics)

    def with_diagnostics(self, *extra: Diagnostic) -> EffectEstimate:
        """A copy with ``extra`` diagnostics appended."""
        from dataclasses import replace

        return replace(self, diagnostics=(*self.diagnostics, *extra))

    def covers(self, value: float) -> bool:
        """Whether the interval contains ``value``."""
        return self.ci_low <= value <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON (with ``status``, the worst diagnostic)."""
        return jsonable({**asdict(self), "status": self.status})

    def to_row(self) -> dict[str, Any]:
        """One flat table row: the fields, ``status`` and the loud diagnostics as text.

        Examples
        --------
        >>> EffectEstimate("ATE", "all", "OLS", 1.0, 0.5, 0.0, 2.0).to_row()["status"]
        'ok'
        """
        row = {k: v for k, v in asdict(self).items() if k != "diagnostics"}
        row["status"] = self.status
        row["checks"] = "; ".join(f"{d.name}: {d.status}" for d in self.diagnostics if d.loud)
        return jsonable(row)
