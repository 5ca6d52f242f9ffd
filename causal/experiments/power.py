"""Power, sample size and minimum detectable effect per metric type, with and without CUPED.

The unit-level variance of a metric (delta-method variance for ratios, p(1-p) for proportions)
and the CUPED variance reduction (the squared correlation with the covariate, θ pooled) are
estimated from pilot or pre-period data, in pandas or in the warehouse. The calculation itself
uses statsmodels' ``TTestIndPower`` (means, ratios: Welch t in the analysis) and
``NormalIndPower`` (proportions: z test in the analysis), with Cohen's h for proportions without
a CUPED adjustment. ``sample_size``, ``power`` and ``mde`` use the same family, so they invert
each other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from causal.experiments._data import MomentRequest, Source
from causal.experiments.metrics import Metric, Proportion, RatioOfMeans
from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["MetricVariance", "PowerAnalysis", "PowerResult"]


@dataclass(frozen=True)
class MetricVariance:
    """Pilot statistics of one metric: mean, unit-level sd and CUPED variance reduction."""

    mean: float
    sd: float
    n: int
    variance_reduction: float = 0.0
    is_proportion: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class PowerResult(ResultMixin):
    """Outcome of a power calculation (all three quantities, one of them solved for)."""

    solved_for: str
    n_per_group: float
    n_control: int
    n_treatment: int
    abs_mde: float
    rel_mde: float
    power: float
    alpha: float
    cuped: bool
    variance_reduction: float

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """A warning when the design has less than 80% power."""
        if self.power >= 0.8:
            return ()
        return (Diagnostic("power", "warning", f"power is {self.power:.0%} (< 80%): a true effect of "
                           f"{self.abs_mde:.4g} is missed more often than 1 time in 5; add units or "
                           "accept a larger MDE", self.power),)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return jsonable(asdict(self))

    def summary(self) -> Summary:
        """Units per arm, MDE and power (the solved quantity named).

        Examples
        --------
        >>> from causal.experiments import Mean
        >>> r = PowerAnalysis(Mean("y")).sample_size(MetricVariance(mean=1.0, sd=1.0, n=1000), abs_mde=0.1)
        >>> r.summary().info["solved for"]
        'n_per_group'
        """
        import pandas as pd

        table = pd.DataFrame([{"n_control": self.n_control, "n_treatment": self.n_treatment,
                               "abs_mde": self.abs_mde, "rel_mde": self.rel_mde, "power": self.power,
                               "alpha": self.alpha}])
        info = {"solved for": self.solved_for, "cuped": self.cuped,
                "variance_reduction": self.variance_reduction}
        return Summary("Power analysis", table, info=info, diagnostics=self.diagnostics)

    def power_at(self, n_per_group: Any) -> Any:
        """Power at other sample sizes, same MDE (normal approximation through this result's point)."""
        import numpy as np
        from scipy import stats

        n = np.asarray(n_per_group, dtype=float)
        z_a = float(stats.norm.ppf(1 - self.alpha / 2))
        z_b = float(stats.norm.ppf(min(max(self.power, 1e-12), 1 - 1e-12)))
        return stats.norm.cdf(np.sqrt(n / self.n_per_group) * (z_b + z_a) - z_a)

    def plot(self, ax: Any = None) -> Any:
        """Power against units per arm for this MDE, the solved design marked."""
        import matplotlib.pyplot as plt
        import numpy as np

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        n = np.linspace(max(self.n_per_group / 20, 2), self.n_per_group * 3, 200)
        ax.plot(n, self.power_at(n), label=f"MDE {self.abs_mde:.4g}")
        ax.plot([self.n_per_group], [self.power], "o", color="tab:red", label="this design")
        ax.axhline(0.8, color="0.5", lw=1, ls="--")
        ax.set_xlabel("units per arm (control)")
        ax.set_ylabel("power")
        ax.set_ylim(0, 1)
        ax.set_title("Power (normal approximation)")
        ax.legend(fontsize=8)
        return ax


@dataclass(frozen=True)
class PowerAnalysis:
    """Power calculations for one metric.

    Parameters
    ----------
    metric : Metric
        ``Mean``, ``Proportion`` or ``RatioOfMeans`` (CUPED if it has a covariate).
    alpha : float
        Two-sided (or one-sided, see ``alternative``) significance level.
    ratio : float
        Treatment units per control unit (``n_treatment = ratio * n_control``).
    alternative : {"two-sided", "larger", "smaller"}

    Examples
    --------
    >>> from causal.experiments import Mean
    >>> pa = PowerAnalysis(Mean("y"))
    >>> v = MetricVariance(mean=1.0, sd=1.0, n=1000)
    >>> pa.sample_size(v, abs_mde=0.1).n_control
    1571
    """

    metric: Metric
    alpha: float = 0.05
    ratio: float = 1.0
    alternative: Literal["two-sided", "larger", "smaller"] = "two-sided"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise DesignError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.ratio <= 0:
            raise DesignError(f"ratio must be positive, got {self.ratio}")
        if not isinstance(self.metric, RatioOfMeans):
            raise DesignError(
                f"power analysis supports Mean, Proportion and RatioOfMeans, not "
                f"{type(self.metric).__name__}"
            )

    def variance(self, data: Any) -> MetricVariance:
        """Estimate the metric's mean, unit-level sd and CUPED variance reduction from
        pilot data (all rows pooled): a DataFrame, DuckDB relation or (connection, table).
        """
        m: RatioOfMeans = self.metric  # type: ignore[assignment]
        src = Source(data)
        src.require(m.all_columns(), "power analysis")
        mom = src.moments(None, None, [MomentRequest("m", m.requests("m")[0].columns)])["m"]
        pooled = next(iter(mom.values()))
        if pooled.missing:
            raise DataError(
                f"{pooled.missing} pilot rows have missing values in {list(m.all_columns())}; "
                "drop or impute them first"
            )
        est, var, n = m.arm_stats(pooled)
        vr = 0.0
        if m.has_covariate and var > 0:
            th = m.theta(pooled)
            xc = pooled.mean(m.covariate) / pooled.mean(m.covariate_denominator)
            _, var_adj, _ = m.arm_stats(pooled, th, xc)
            vr = 1 - var_adj / var
        if var <= 0:
            raise DataError(f"metric {m.describe()} has zero variance in the pilot data")
        return MetricVariance(
            mean=est, sd=math.sqrt(var), n=int(n), variance_reduction=vr,
            is_proportion=isinstance(m, Proportion),
        )

    # -- core ----------------------------------------------------------------------------
    @staticmethod
    def _cohen_h(v: MetricVariance, cuped: bool) -> bool:
        """Proportions without an effective CUPED adjustment use Cohen's h (arcsine) with the
        normal engine, whether or not ``cuped`` was asked for: no covariate, no adjustment.
        """
        return v.is_proportion and not (cuped and v.variance_reduction > 0)

    def _sd(self, v: MetricVariance, cuped: bool) -> float:
        return v.sd * math.sqrt(1 - (v.variance_reduction if cuped else 0.0))

    def _es(self, v: MetricVariance, abs_mde: float, cuped: bool) -> tuple[float, bool]:
        """Standardised effect size and whether to use the normal engine.

        Proportions are analysed by a z test, so they always use the normal engine: Cohen's h
        without CUPED (or without a covariate), the CUPED-adjusted sd with it. Means and ratios
        use the t engine (Welch t in the analysis).
        """
        if self._cohen_h(v, cuped):
            p1 = v.mean + abs_mde
            if not 0 < p1 < 1:
                raise DesignError(f"baseline {v.mean} + effect {abs_mde} is outside (0, 1)")
            return abs(float(proportion_effectsize(p1, v.mean))), True
        return abs(abs_mde) / self._sd(v, cuped), v.is_proportion

    def _abs(self, v: MetricVariance, abs_mde, rel_mde) -> float:
        if (abs_mde is None) == (rel_mde is None):
            raise DesignError("give exactly one of abs_mde or rel_mde")
        eff = abs_mde if abs_mde is not None else rel_mde * v.mean
        if eff == 0:
            raise DesignError("the effect to detect must be non-zero")
        return float(eff)

    def _engine(self, normal: bool):
        return NormalIndPower() if normal else TTestIndPower()

    def _result(self, solved, v, n1, eff, power, cuped) -> PowerResult:
        return PowerResult(
            solved_for=solved, n_per_group=float(n1), n_control=math.ceil(n1 - 1e-9),
            n_treatment=math.ceil(self.ratio * n1 - 1e-9), abs_mde=float(eff),
            rel_mde=float(eff / v.mean) if v.mean else math.nan, power=float(power),
            alpha=self.alpha, cuped=cuped,
            variance_reduction=v.variance_reduction if cuped else 0.0,
        )

    def sample_size(
        self, v: MetricVariance | Any, *, abs_mde: float | None = None,
        rel_mde: float | None = None, power: float = 0.8, cuped: bool = True,
    ) -> PowerResult:
        """Control-arm sample size to detect the effect with probability ``power``."""
        v = v if isinstance(v, MetricVariance) else self.variance(v)
        if not 0 < power < 1:
            raise DesignError(f"power must be in (0, 1), got {power}")
        eff = self._abs(v, abs_mde, rel_mde)
        es, normal = self._es(v, eff, cuped)
        n1 = self._engine(normal).solve_power(
            effect_size=es, alpha=self.alpha, power=power, ratio=self.ratio,
            alternative=self.alternative,
        )
        return self._result("n_per_group", v, float(n1), eff, power, cuped)

    def power(
        self, v: MetricVariance | Any, n_per_group: float, *, abs_mde: float | None = None,
        rel_mde: float | None = None, cuped: bool = True,
    ) -> PowerResult:
        """Power with ``n_per_group`` control units."""
        v = v if isinstance(v, MetricVariance) else self.variance(v)
        _check_n(n_per_group)
        eff = self._abs(v, abs_mde, rel_mde)
        es, normal = self._es(v, eff, cuped)
        pw = self._engine(normal).power(
            effect_size=es, nobs1=n_per_group, alpha=self.alpha, ratio=self.ratio,
            alternative=self.alternative,
        )
        return self._result("power", v, n_per_group, eff, float(pw), cuped)

    def mde(
        self, v: MetricVariance | Any, n_per_group: float, *, power: float = 0.8,
        cuped: bool = True,
    ) -> PowerResult:
        """Minimum detectable (absolute) effect with ``n_per_group`` control units.

        Uses the same test family as :meth:`sample_size` and :meth:`power`. For a proportion
        without a CUPED adjustment the MDE is the increase of the baseline share whose Cohen's
        h is detectable (a decrease when no increase can reach it).
        """
        v = v if isinstance(v, MetricVariance) else self.variance(v)
        _check_n(n_per_group)
        if not 0 < power < 1:
            raise DesignError(f"power must be in (0, 1), got {power}")
        es = float(self._engine(v.is_proportion).solve_power(
            nobs1=n_per_group, alpha=self.alpha, power=power, ratio=self.ratio,
            alternative=self.alternative,
        ))
        if self._cohen_h(v, cuped):
            # invert h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0)): an increase when one is possible
            base = math.asin(math.sqrt(v.mean))
            up = base + es / 2
            if up <= math.pi / 2:
                eff = math.sin(up) ** 2 - v.mean
            else:
                down = base - es / 2
                if down < 0:
                    raise DesignError(
                        f"no change of the baseline proportion {v.mean:.4g} is detectable with "
                        f"n_per_group={n_per_group}; use more units"
                    )
                eff = math.sin(down) ** 2 - v.mean
            return self._result("abs_mde", v, n_per_group, eff, power, cuped)
        return self._result("abs_mde", v, n_per_group, es * self._sd(v, cuped), power, cuped)


def _check_n(n: float) -> None:
    if n is None or not n > 1:
        raise DesignError(f"n_per_group must be greater than 1, got {n}")
