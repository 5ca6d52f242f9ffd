"""Declarative metrics: what to compare, not how the data are stored.

``Mean``, ``Proportion`` and ``RatioOfMeans`` are analysed from sufficient statistics (the same
numbers whether they come from pandas or from SQL in DuckDB); ``Quantile`` and ``MannWhitney``
need the raw column and fetch only that column.

Every metric reports the absolute effect (treatment minus control) and the relative effect
(treatment / control - 1) with intervals, plus the CUPED variance reduction when a covariate
is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import stats

from causal.experiments._data import MomentRequest, Moments
from causal.experiments.inference import Alternative, RelativeMethod, two_sample_test
from causal.experiments.nonparametric import bootstrap_ci
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike

__all__ = ["MannWhitney", "Mean", "Metric", "Proportion", "Quantile", "RatioOfMeans"]


@dataclass(frozen=True)
class Metric:
    """Base class of the metric specs (parameters only; no work at construction)."""

    raw: ClassVar[bool] = False
    kind: ClassVar[str] = "metric"

    def requests(self, key: str) -> list[MomentRequest]:
        """Sufficient statistics this metric needs (raw-column metrics need none)."""
        if self.raw:
            return []
        raise TypeError(f"{type(self).__name__} must define requests() or set raw = True")

    def raw_columns(self) -> tuple[str, ...]:
        return ()

    def all_columns(self) -> tuple[str, ...]:
        reqs = self.requests("_") if not self.raw else []
        cols = [c for r in reqs for c in r.columns] + list(self.raw_columns())
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class RatioOfMeans(Metric):
    """Ratio of two means, e.g. handle seconds per answered contact, by the delta method.

    Use it for ticket-level metrics under customer-level randomisation: the unit of analysis
    stays the randomisation unit (customer), so the interval accounts for the correlation of a
    customer's tickets. ``covariate`` / ``covariate_denominator`` give CUPED on the ratio (the
    pre-period version of the same ratio), with θ estimated on all arms pooled.

    Parameters
    ----------
    numerator, denominator : str
        Unit-level sums, e.g. ``"handle_s_sum"`` and ``"answered"``.
    covariate, covariate_denominator : str, optional
        Pre-period numerator and denominator (denominator omitted = mean covariate).
    use_t : bool
        Welch t with Satterthwaite df (default) or z.
    relative : {"log", "delta", "fieller"}
        Method for the relative-effect interval.
    alternative : {"two-sided", "greater", "less"}
    higher_is_better : bool
        Direction used by guardrails and non-inferiority.
    margin : float, optional
        Non-inferiority margin (a tolerated change in the bad direction, > 0).
    relative_margin : bool
        Whether ``margin`` is relative (0.02 = 2 %) or in outcome units.

    Examples
    --------
    >>> m = RatioOfMeans("handle_s_sum", "answered", higher_is_better=False)
    >>> m.all_columns()
    ('handle_s_sum', 'answered')
    """

    numerator: str
    denominator: str | None = None
    covariate: str | None = None
    covariate_denominator: str | None = None
    use_t: bool = True
    relative: RelativeMethod = "log"
    alternative: Alternative = "two-sided"
    higher_is_better: bool = True
    margin: float | None = None
    relative_margin: bool = True
    kind: ClassVar[str] = "ratio"

    def __post_init__(self) -> None:
        if self.margin is not None and self.margin <= 0:
            raise DesignError(f"margin must be positive (a tolerated harm), got {self.margin}")
        if self.covariate is None and self.covariate_denominator is not None:
            raise DesignError("covariate_denominator given without covariate")
        if self.relative not in ("log", "delta", "fieller"):
            raise DesignError(
                f"relative must be 'log', 'delta' or 'fieller', got {self.relative!r}"
            )
        if self.alternative not in ("two-sided", "greater", "less"):
            raise DesignError(
                f"alternative must be 'two-sided', 'greater' or 'less', got {self.alternative!r}"
            )

    # -- columns ----------------------------------------------------------------------------
    def _cols(self) -> tuple[str, ...]:
        cols = [self.numerator, self.denominator, self.covariate, self.covariate_denominator]
        return tuple(dict.fromkeys(c for c in cols if c is not None))

    def requests(self, key: str) -> list[MomentRequest]:
        return [MomentRequest(key, self._cols())]

    @property
    def has_covariate(self) -> bool:
        return self.covariate is not None

    # -- unit-level (linearised) statistics -----------------------------------------------
    def _ratio_var(self, m: Moments, a: str | None, b: str | None) -> float:
        r = m.mean(a) / m.mean(b)
        return (m.var(a) - 2 * r * m.cov(a, b) + r * r * m.var(b)) / m.mean(b) ** 2

    def _ratio_cov(self, m: Moments) -> float:
        n, d, xn, xd = self.numerator, self.denominator, self.covariate, self.covariate_denominator
        r, rx = m.mean(n) / m.mean(d), m.mean(xn) / m.mean(xd)
        c = m.cov(n, xn) - rx * m.cov(n, xd) - r * m.cov(d, xn) + r * rx * m.cov(d, xd)
        return c / (m.mean(d) * m.mean(xd))

    def theta(self, pooled: Moments) -> float:
        """CUPED coefficient from the pooled (all arms) statistics."""
        if not self.has_covariate:
            return 0.0
        vx = self._ratio_var(pooled, self.covariate, self.covariate_denominator)
        if vx == 0:
            return 0.0
        return self._ratio_cov(pooled) / vx

    def arm_stats(self, m: Moments, theta: float = 0.0, x_center: float = 0.0):
        """(estimate, unit-level variance, n) of one arm, CUPED-adjusted when ``theta`` != 0."""
        if m.n < 2:
            raise DataError(
                f"metric {self.numerator!r}: an arm has n={m.n:g} complete units; need >= 2"
            )
        if self.denominator is not None and m.mean(self.denominator) == 0:
            raise DataError(
                f"ratio metric {self.numerator}/{self.denominator}: the denominator sums to 0 in "
                "an arm, so the ratio is undefined; check the denominator column"
            )
        est = m.mean(self.numerator) / m.mean(self.denominator)
        var = self._ratio_var(m, self.numerator, self.denominator)
        if self.has_covariate and theta != 0:
            if self.covariate_denominator is not None and m.mean(self.covariate_denominator) == 0:
                raise DataError(
                    f"covariate denominator {self.covariate_denominator!r} sums to 0 in an arm"
                )
            rx = m.mean(self.covariate) / m.mean(self.covariate_denominator)
            vx = self._ratio_var(m, self.covariate, self.covariate_denominator)
            est = est - theta * (rx - x_center)
            var = var + theta * theta * vx - 2 * theta * self._ratio_cov(m)
        return est, max(var, 0.0), m.n

    def compare(
        self, control: Moments, treatment: Moments, pooled: Moments, *, ci_level: float
    ) -> dict[str, Any]:
        """Compare one treatment arm with control; ``pooled`` holds all arms (for θ)."""
        th = self.theta(pooled)
        xc = pooled.mean(self.covariate) / pooled.mean(self.covariate_denominator) if th else 0.0
        mc, vc, nc = self.arm_stats(control, th, xc)
        mt, vt, nt = self.arm_stats(treatment, th, xc)
        res = self._test(mc, vc, nc, mt, vt, nt, ci_level)
        row = res.to_dict()
        row.update(n_control=int(nc), n_treatment=int(nt), theta=th, variance_reduction=0.0)
        if self.has_covariate:
            _, vc0, _ = self.arm_stats(control)
            _, vt0, _ = self.arm_stats(treatment)
            se0_sq = vc0 / nc + vt0 / nt
            row["variance_reduction"] = 1 - (res.se**2) / se0_sq if se0_sq > 0 else 0.0
            row["se_unadjusted"] = math.sqrt(se0_sq)
        return row

    def _test(self, mc, vc, nc, mt, vt, nt, ci_level):
        return two_sample_test(
            mc, vc, nc, mt, vt, nt,
            use_t=self.use_t, ci_level=ci_level, alternative=self.alternative,
            relative=self.relative,
        )

    def describe(self) -> str:
        base = f"{self.numerator}/{self.denominator}" if self.denominator else self.numerator
        return base + (f" | CUPED on {self.covariate}" if self.covariate else "")


@dataclass(frozen=True)
class Mean(RatioOfMeans):
    """Mean of a unit-level column, Welch t test; optional CUPED ``covariate``.

    Examples
    --------
    >>> Mean("contacts", covariate="pre_contacts").all_columns()
    ('contacts', 'pre_contacts')
    """

    kind: ClassVar[str] = "mean"

    def __init__(
        self,
        column: str,
        covariate: str | None = None,
        *,
        use_t: bool = True,
        relative: RelativeMethod = "log",
        alternative: Alternative = "two-sided",
        higher_is_better: bool = True,
        margin: float | None = None,
        relative_margin: bool = True,
    ) -> None:
        super().__init__(
            numerator=column, denominator=None, covariate=covariate, covariate_denominator=None,
            use_t=use_t, relative=relative, alternative=alternative,
            higher_is_better=higher_is_better, margin=margin, relative_margin=relative_margin,
        )

    @property
    def column(self) -> str:
        return self.numerator


@dataclass(frozen=True)
class Proportion(RatioOfMeans):
    """Share of units with a 0/1 outcome; two-sample z test with unpooled variance p(1-p).

    Examples
    --------
    >>> Proportion("resolved").all_columns()
    ('resolved',)
    """

    kind: ClassVar[str] = "proportion"

    def __init__(
        self,
        column: str,
        covariate: str | None = None,
        *,
        relative: RelativeMethod = "log",
        alternative: Alternative = "two-sided",
        higher_is_better: bool = True,
        margin: float | None = None,
        relative_margin: bool = True,
    ) -> None:
        super().__init__(
            numerator=column, denominator=None, covariate=covariate, covariate_denominator=None,
            use_t=False, relative=relative, alternative=alternative,
            higher_is_better=higher_is_better, margin=margin, relative_margin=relative_margin,
        )

    @property
    def column(self) -> str:
        return self.numerator

    def arm_stats(self, m: Moments, theta: float = 0.0, x_center: float = 0.0):
        p = m.mean(self.numerator)
        sq = m.cross[0, 0] / m.n if m.n else math.nan
        if m.n and abs(sq - p) > 1e-9:  # sum of squares == sum only for 0/1 values
            raise DataError(
                f"Proportion({self.numerator!r}) needs a 0/1 column; use Mean for other values"
            )
        est, var, n = super().arm_stats(m, theta, x_center)
        if not self.has_covariate or theta == 0:
            var = p * (1 - p)  # binomial variance (ddof=0), as in the two-proportion z test
        return est, var, n


@dataclass(frozen=True)
class Quantile(Metric):
    """Difference in a quantile (e.g. p90 wait) with a bootstrap interval (BCa by default).

    Examples
    --------
    >>> Quantile("wait_s", 0.9).raw_columns()
    ('wait_s',)
    """

    column: str
    q: float = 0.5
    n_resamples: int = 2000
    method: Literal["bca", "percentile"] = "bca"
    higher_is_better: bool = True
    margin: float | None = None
    relative_margin: bool = True
    raw: ClassVar[bool] = True
    kind: ClassVar[str] = "quantile"

    def __post_init__(self) -> None:
        if not 0 < self.q < 1:
            raise DesignError(f"Quantile q must be in (0, 1), got {self.q}")
        if self.n_resamples < 100:
            raise DesignError(f"n_resamples must be >= 100, got {self.n_resamples}")

    def raw_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def requests(self, key: str) -> list[MomentRequest]:
        return []

    def compare_raw(
        self, control: np.ndarray, treatment: np.ndarray, *, ci_level: float, rng: RNGLike
    ) -> dict[str, Any]:
        for name, arr in (("control", control), ("treatment", treatment)):
            if arr.size < 2:
                raise DataError(f"Quantile({self.column!r}): {name} has {arr.size} values")
        qc, qt = np.quantile(control, self.q), np.quantile(treatment, self.q)

        def diff(c, t, axis=-1):
            return np.quantile(t, self.q, axis=axis) - np.quantile(c, self.q, axis=axis)

        def ratio(c, t, axis=-1):
            return np.quantile(t, self.q, axis=axis) / np.quantile(c, self.q, axis=axis) - 1

        lo, hi, boot = bootstrap_ci(
            diff, control, treatment, n_resamples=self.n_resamples, ci_level=ci_level,
            method=self.method, rng=rng, return_distribution=True,
        )
        se = float(np.std(boot, ddof=1))
        if qc != 0:
            rlo, rhi = bootstrap_ci(
                ratio, control, treatment, n_resamples=self.n_resamples, ci_level=ci_level,
                method="percentile", rng=rng,
            )
        else:
            rlo = rhi = math.nan
        z = (qt - qc) / se if se > 0 else math.nan
        return {
            "mean_control": float(qc), "mean_treatment": float(qt), "effect": float(qt - qc),
            "se": se, "df": math.inf, "ci_low": lo, "ci_high": hi,
            "pvalue": float(2 * stats.norm.sf(abs(z))) if se > 0 else math.nan,
            "rel_effect": float(qt / qc - 1) if qc != 0 else math.nan,
            "rel_ci_low": rlo, "rel_ci_high": rhi, "rel_pvalue": math.nan,
            "test": f"bootstrap ({self.method}) of p{round(self.q * 100):d} difference",
            "relative_method": "bootstrap percentile", "ci_level": ci_level,
            "n_control": int(control.size), "n_treatment": int(treatment.size),
            "theta": 0.0, "variance_reduction": 0.0,
        }

    def describe(self) -> str:
        return f"p{self.q * 100:g} of {self.column}"


@dataclass(frozen=True)
class MannWhitney(Metric):
    """Mann–Whitney U test (rank test; effect = Hodges–Lehmann-free 'probability of superiority').

    The effect reported is P(T > C) + 0.5 P(T = C) - 0.5 (0 under the null); the p-value is
    scipy's asymptotic two-sided test with continuity correction.

    Examples
    --------
    >>> MannWhitney("csat_sum").raw_columns()
    ('csat_sum',)
    """

    column: str
    higher_is_better: bool = True
    margin: float | None = None
    relative_margin: bool = False
    raw: ClassVar[bool] = True
    kind: ClassVar[str] = "mann-whitney"

    def raw_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def requests(self, key: str) -> list[MomentRequest]:
        return []

    def compare_raw(self, control, treatment, *, ci_level: float, rng: RNGLike) -> dict[str, Any]:
        res = stats.mannwhitneyu(treatment, control, alternative="two-sided")
        n1, n2 = treatment.size, control.size
        auc = res.statistic / (n1 * n2)
        # Hanley–McNeil style normal interval for the AUC
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        se = math.sqrt(
            max(auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2), 0)
            / (n1 * n2)
        )
        z = stats.norm.ppf((1 + ci_level) / 2)
        return {
            "mean_control": float(np.mean(control)), "mean_treatment": float(np.mean(treatment)),
            "effect": auc - 0.5, "se": se, "df": math.inf,
            "ci_low": auc - 0.5 - z * se, "ci_high": auc - 0.5 + z * se,
            "pvalue": float(res.pvalue), "rel_effect": math.nan, "rel_ci_low": math.nan,
            "rel_ci_high": math.nan, "rel_pvalue": math.nan, "test": "Mann-Whitney U",
            "relative_method": "none", "ci_level": ci_level, "U": float(res.statistic),
            "n_control": int(n2), "n_treatment": int(n1), "theta": 0.0,
            "variance_reduction": 0.0,
        }

    def describe(self) -> str:
        return f"ranks of {self.column}"
