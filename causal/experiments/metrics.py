"""Declarative metrics: what to compare, not how the data are stored.

``Mean``, ``Proportion`` and ``RatioOfMeans`` are analysed from sufficient statistics (the same
numbers whether they come from pandas or from SQL in DuckDB); ``Quantile`` and ``MannWhitney``
need the raw column and fetch only that column; ``ServiceLevelMetric`` derives per-contact
indicators from the one :class:`~servicelab.service_level.ServiceLevel` definition and is then a
ratio metric. Every metric carries its direction (``higher_is_better``: ``True``, ``False`` or
``None`` for not declared), and every summary shows it.

Every metric reports the absolute effect (treatment minus control) and the relative effect
(treatment / control - 1) with intervals, plus the CUPED variance reduction when a covariate
is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from causal.experiments._data import MomentRequest, Moments
from causal.experiments.inference import (
    Alternative,
    RelativeMethod,
    TwoSampleResult,
    two_sample_test,
)
from causal.experiments.nonparametric import bootstrap_ci
from causal.experiments.quantile import (
    ArmQuantile,
    RowData,
    cluster_bootstrap_quantile,
    quantile_arm,
)
from causal.results import critical_value
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.service_level import ServiceLevel

__all__ = [
    "MannWhitney",
    "Mean",
    "Metric",
    "Proportion",
    "Quantile",
    "RatioOfMeans",
    "ServiceLevelMetric",
    "direction_label",
]


def direction_label(higher_is_better: bool | None) -> str:
    """``"higher is better"``, ``"lower is better"`` or ``"direction not declared"``.

    Examples
    --------
    >>> direction_label(False)
    'lower is better'
    """
    if higher_is_better is None:
        return "direction not declared"
    return "higher is better" if higher_is_better else "lower is better"


def _check_direction(m: Metric) -> None:
    hib = getattr(m, "higher_is_better", None)
    if hib is not None and not isinstance(hib, bool | np.bool_):
        raise DesignError(
            f"higher_is_better must be True, False or None (not declared), got {hib!r}"
        )
    if getattr(m, "margin", None) is not None and hib is None:
        raise DesignError(
            f"{type(m).__name__}: a non-inferiority margin needs the metric's direction; pass "
            "higher_is_better=True (a drop is harm) or higher_is_better=False (a rise is harm)"
        )


@dataclass(frozen=True)
class Metric:
    """Base class of the metric specs (parameters only; no work at construction).

    Class attributes say how :class:`~causal.experiments.Experiment` treats a metric: ``raw``
    (needs the raw column, not sufficient statistics), ``always_valid`` (its effect is
    asymptotically normal with a standard error, so the result carries mSPRT always-valid
    intervals) and ``derived`` (computed from per-row columns before aggregation, e.g.
    :class:`ServiceLevelMetric`).
    """

    raw: ClassVar[bool] = False
    kind: ClassVar[str] = "metric"
    always_valid: ClassVar[bool] = True
    derived: ClassVar[bool] = False

    def requests(self, key: str) -> list[MomentRequest]:  # noqa: ARG002 (the base: subclasses key their moments)
        """Sufficient statistics this metric needs (raw-column metrics need none)."""
        if self.raw:
            return []
        raise TypeError(f"{type(self).__name__} must define requests() or set raw = True")

    def raw_columns(self) -> tuple[str, ...]:
        """Columns the metric reads row by row (beyond its sufficient statistics)."""
        return ()

    def all_columns(self) -> tuple[str, ...]:
        """Every column the metric needs (sufficient statistics and raw columns)."""
        reqs = self.requests("_") if not self.raw else []
        cols = [c for r in reqs for c in r.columns] + list(self.raw_columns())
        return tuple(dict.fromkeys(cols))

    def source_columns(self) -> tuple[str, ...]:
        """Columns the input data must have (differs from :meth:`all_columns` for derived
        metrics, whose statistics are computed from other columns).
        """
        return self.all_columns()

    @property
    def direction(self) -> str:
        """The declared direction in words (see :func:`direction_label`)."""
        return direction_label(getattr(self, "higher_is_better", None))


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
    higher_is_better : bool, optional
        The metric's direction: ``True`` (more is better), ``False`` (less is better, e.g. handle
        time or wait) or ``None`` (not declared; the default). Every summary shows it; a
        significant effect of an undeclared metric gets no ship verdict, and guardrails and
        non-inferiority margins require it.
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
    higher_is_better: bool | None = None
    margin: float | None = None
    relative_margin: bool = True
    kind: ClassVar[str] = "ratio"

    def __post_init__(self) -> None:
        if self.margin is not None and self.margin <= 0:
            raise DesignError(f"margin must be positive (a tolerated harm), got {self.margin}")
        _check_direction(self)
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
        """Sufficient statistics this metric needs, under the moment key ``key``."""
        return [MomentRequest(key, self._cols())]

    @property
    def has_covariate(self) -> bool:
        """Whether the metric is CUPED-adjusted by a pre-period covariate."""
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
        row = res.to_row()
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
        """One line naming the metric's columns and adjustment (shown in summaries)."""
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
        higher_is_better: bool | None = None,
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
        """The outcome column."""
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
        higher_is_better: bool | None = None,
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
        """The outcome column."""
        return self.numerator

    def arm_stats(self, m: Moments, theta: float = 0.0, x_center: float = 0.0):
        """Mean, variance and size of one arm (CUPED-adjusted with ``theta`` about ``x_center``)."""
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
    """Difference in a quantile (p50 / p90 / p99 wait), with the interval at the randomisation unit.

    With ``Experiment(cluster="customer_id")`` the data hold one row per contact and the interval
    is clustered by customer; without it every row is its own unit.

    Parameters
    ----------
    column : str
        Row-level outcome, e.g. ``"wait_s"``.
    q : float
        Quantile level in (0, 1).
    covariate : str, optional
        Unit-level pre-period covariate for CUPED (``method="woodruff"`` only): the linearised
        unit statistic of the quantile is adjusted by θ (pooled over arms), as for a ratio
        metric.
    method : {"woodruff", "cluster_bootstrap", "bca", "percentile"}
        ``"woodruff"`` (default): delta method through the estimating equation of the quantile,
        clustered at the unit, density from Woodruff's interval (no resampling; see
        :mod:`causal.experiments.quantile`). ``"cluster_bootstrap"``: resample whole units within
        each arm, normal interval from the bootstrap SE. ``"bca"`` / ``"percentile"``: row
        bootstrap, only when every row is its own unit.
    n_resamples : int
        Bootstrap replicates (bootstrap methods).
    min_units : int
        Fewest units per arm (and segment) the interval is computed for (default 20); fewer raise
        :class:`~servicelab.errors.DataError`. The arm must also have at least 10 rows beyond
        the quantile (the tail that defines a p99).
    higher_is_better : bool, optional
        Direction (``False`` for waits); see :class:`RatioOfMeans`.

    Examples
    --------
    >>> Quantile("wait_s", 0.9, higher_is_better=False).raw_columns()
    ('wait_s',)
    """

    column: str
    q: float = 0.5
    covariate: str | None = None
    method: Literal["woodruff", "cluster_bootstrap", "bca", "percentile"] = "woodruff"
    n_resamples: int = 2000
    min_units: int = 20
    higher_is_better: bool | None = None
    margin: float | None = None
    relative_margin: bool = True
    raw: ClassVar[bool] = True
    kind: ClassVar[str] = "quantile"

    def __post_init__(self) -> None:
        if not 0 < self.q < 1:
            raise DesignError(f"Quantile q must be in (0, 1), got {self.q}")
        if self.method not in ("woodruff", "cluster_bootstrap", "bca", "percentile"):
            raise DesignError(
                "Quantile method must be 'woodruff', 'cluster_bootstrap', 'bca' or 'percentile', "
                f"got {self.method!r}"
            )
        if self.method != "woodruff" and self.n_resamples < 100:
            raise DesignError(f"n_resamples must be >= 100, got {self.n_resamples}")
        if self.min_units < 2:
            raise DesignError(f"min_units must be >= 2, got {self.min_units}")
        if self.covariate is not None and self.method != "woodruff":
            raise DesignError(
                f"CUPED (covariate={self.covariate!r}) needs method='woodruff'; the bootstrap "
                "methods do not adjust"
            )
        if self.margin is not None and self.margin <= 0:
            raise DesignError(f"margin must be positive (a tolerated harm), got {self.margin}")
        _check_direction(self)

    @property
    def always_valid(self) -> bool:  # type: ignore[override]
        """Whether always-valid (sequential) intervals apply to this metric's method."""
        return self.method in ("woodruff", "cluster_bootstrap")

    @property
    def has_covariate(self) -> bool:
        """Whether the metric is CUPED-adjusted by a pre-period covariate."""
        return self.covariate is not None

    def raw_columns(self) -> tuple[str, ...]:
        """Columns the metric reads row by row (beyond its sufficient statistics)."""
        return (self.column,) + ((self.covariate,) if self.covariate else ())

    def requests(self, key: str) -> list[MomentRequest]:  # noqa: ARG002 (the Metric interface; row-level metrics need no moments)
        """Sufficient statistics this metric needs, under the moment key ``key``."""
        return []

    def _label(self) -> str:
        return f"Quantile({self.column!r}, q={self.q:g})"

    def _check_arm(self, name: str, rows: RowData) -> None:
        n_units, n_rows = rows.n_units, rows.values.size
        if n_units < self.min_units:
            raise DataError(
                f"{self._label()}: arm {name!r} has {n_units} units, fewer than "
                f"min_units={self.min_units}; the interval of a quantile needs more randomised "
                "units: run longer, pool segments, or lower min_units knowingly"
            )
        tail = n_rows * min(self.q, 1 - self.q)
        if tail < 10:
            raise DataError(
                f"{self._label()}: arm {name!r} has {n_rows} rows, so only {tail:.1f} lie beyond "
                f"the p{self.q * 100:g}; at least 10 are needed to estimate it. Use a lower "
                "quantile or more data"
            )

    def compare_units(
        self, control: RowData, treatment: RowData, arms: list[RowData], *, ci_level: float,
        rng: RNGLike,
    ) -> dict[str, Any]:
        """Compare one treatment arm with control (``arms``: all arms, for the pooled θ)."""
        self._check_arm("control", control)
        self._check_arm("treatment", treatment)
        clustered = max(control.values.size - control.n_units,
                        treatment.values.size - treatment.n_units) > 0
        if self.method in ("bca", "percentile"):
            if clustered:
                raise DesignError(
                    f"{self._label()}: method={self.method!r} resamples rows, but units have "
                    "several rows (Experiment(cluster=...)); use method='woodruff' or "
                    "'cluster_bootstrap'"
                )
            return self._row_bootstrap(control.values, treatment.values, ci_level, rng)
        ac, at = quantile_arm(control, self.q), quantile_arm(treatment, self.q)
        z = stats.norm.ppf((1 + ci_level) / 2)
        theta, vr, se0 = 0.0, 0.0, math.nan
        if self.method == "cluster_bootstrap":
            gen = resolve_rng(rng)
            bc = cluster_bootstrap_quantile(control, self.q, n_resamples=self.n_resamples, rng=gen)
            bt = cluster_bootstrap_quantile(treatment, self.q, n_resamples=self.n_resamples,
                                            rng=gen)
            qc, qt = ac.xi, at.xi
            sc, st = float(np.std(bc, ddof=1)), float(np.std(bt, ddof=1))
            test = f"cluster bootstrap SE of the p{self.q * 100:g} difference (normal interval)"
        else:
            fc, ft = ac.density(), at.density()
            vc, vt = ac.var_f, at.var_f
            qc, qt = ac.xi, at.xi
            if self.has_covariate:
                all_q = [quantile_arm(r, self.q) for r in arms]
                theta, x_pool = _pooled_theta(all_q)
                se0 = math.sqrt(vc / fc**2 + vt / ft**2)
                qc = qc + theta * (float(ac.x_unit.mean()) - x_pool) / fc
                qt = qt + theta * (float(at.x_unit.mean()) - x_pool) / ft
                vc = float(np.var(ac.linear - theta * ac.x_unit, ddof=1) / ac.n_units)
                vt = float(np.var(at.linear - theta * at.x_unit, ddof=1) / at.n_units)
            sc, st = math.sqrt(vc) / fc, math.sqrt(vt) / ft
            test = (f"Woodruff delta method of the p{self.q * 100:g} difference, clustered by unit"
                    + (" (CUPED)" if self.has_covariate else ""))
        se = math.sqrt(sc * sc + st * st)
        eff = qt - qc
        if self.has_covariate and se0 > 0:
            vr = 1 - se * se / (se0 * se0)
        pval = float(2 * stats.norm.sf(abs(eff / se))) if se > 0 else math.nan
        rel = qt / qc - 1 if qc != 0 else math.nan
        if qc != 0:  # delta method for qt / qc (independent arms)
            se_rel = math.sqrt(st * st / qc**2 + qt * qt * sc * sc / qc**4)
            rlo, rhi = rel - z * se_rel, rel + z * se_rel
            rp = float(2 * stats.norm.sf(abs(rel / se_rel))) if se_rel > 0 else math.nan
        else:
            rlo = rhi = rp = math.nan
        row = {
            "mean_control": float(qc), "mean_treatment": float(qt), "effect": float(eff),
            "se": se, "df": math.inf, "ci_low": eff - z * se, "ci_high": eff + z * se,
            "pvalue": pval, "rel_effect": float(rel), "rel_ci_low": rlo, "rel_ci_high": rhi,
            "rel_pvalue": rp, "test": test, "relative_method": "delta", "ci_level": ci_level,
            "n_control": int(control.n_units), "n_treatment": int(treatment.n_units),
            "rows_control": int(control.values.size), "rows_treatment": int(treatment.values.size),
            "theta": theta, "variance_reduction": vr,
        }
        if self.has_covariate:
            row["se_unadjusted"] = se0
        return row

    def _row_bootstrap(self, control, treatment, ci_level, rng) -> dict[str, Any]:
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
            "test": f"bootstrap ({self.method}) of p{self.q * 100:g} difference",
            "relative_method": "bootstrap percentile", "ci_level": ci_level,
            "n_control": int(control.size), "n_treatment": int(treatment.size),
            "theta": 0.0, "variance_reduction": 0.0,
        }

    def describe(self) -> str:
        """One line naming the metric's columns and adjustment (shown in summaries)."""
        return f"p{self.q * 100:g} of {self.column}" + (
            f" | CUPED on {self.covariate}" if self.covariate else "")


def _pooled_theta(arms: list[ArmQuantile]) -> tuple[float, float]:
    """CUPED θ for the linearised quantile statistic, pooled over arms, and the pooled mean
    covariate.
    """
    x = np.concatenate([a.x_unit for a in arms])
    lin = np.concatenate([a.linear for a in arms])  # mean 0 within each arm
    x_pool = float(x.mean())
    xc = np.concatenate([a.x_unit - a.x_unit.mean() for a in arms])
    vx = float(xc @ xc)
    return (float(lin @ xc) / vx if vx > 0 else 0.0), x_pool


@dataclass(frozen=True)
class ServiceLevelMetric(RatioOfMeans):
    """Service-level attainment ("answered within T") as a ratio metric.

    Uses the one :class:`~servicelab.service_level.ServiceLevel` definition of servicelab (the
    same type :mod:`simulation` uses): each contact's numerator and denominator indicators come
    from :meth:`ServiceLevel.counts`, are summed per randomisation unit, and the attainment
    difference is analysed with the delta method at the unit (a ratio of unit-level sums). Its
    direction is fixed: higher is better.

    Parameters
    ----------
    service_level : ServiceLevel or float
        The definition, or a threshold in seconds for ``ServiceLevel(threshold)`` (over all
        offered contacts).
    answered, abandoned, wait : str
        Per-contact columns: answered (0/1), abandoned (0/1) and the wait until answered or
        abandoned, in seconds. Contacts neither answered nor abandoned (unresolved) count as
        offered and not answered in time; their wait may be missing.
    covariate : str, optional
        Unit-level pre-period covariate (e.g. the customer's pre-period attainment) for CUPED.

    Examples
    --------
    >>> from servicelab.service_level import ServiceLevel
    >>> m = ServiceLevelMetric(ServiceLevel(20))
    >>> m.source_columns(), m.direction
    (('answered', 'abandoned', 'wait_s'), 'higher is better')
    """

    service_level: ServiceLevel | None = None
    answered: str = "answered"
    abandoned: str = "abandoned"
    wait: str = "wait_s"
    kind: ClassVar[str] = "service level"
    derived: ClassVar[bool] = True

    def __init__(
        self,
        service_level: ServiceLevel | float = 20.0,
        *,
        answered: str = "answered",
        abandoned: str = "abandoned",
        wait: str = "wait_s",
        covariate: str | None = None,
        relative: RelativeMethod = "log",
        alternative: Alternative = "two-sided",
        margin: float | None = None,
        relative_margin: bool = True,
    ) -> None:
        sl = (service_level if isinstance(service_level, ServiceLevel)
              else ServiceLevel(service_level))
        object.__setattr__(self, "service_level", sl)
        object.__setattr__(self, "answered", answered)
        object.__setattr__(self, "abandoned", abandoned)
        object.__setattr__(self, "wait", wait)
        super().__init__(
            numerator=f"__sl_met__{sl.key}", denominator=f"__sl_den__{sl.key}",
            covariate=covariate, covariate_denominator=None, use_t=False, relative=relative,
            alternative=alternative, higher_is_better=True, margin=margin,
            relative_margin=relative_margin,
        )

    def source_columns(self) -> tuple[str, ...]:
        """The contact columns the service level is computed from."""
        cols = [self.answered, self.abandoned, self.wait, self.covariate]
        return tuple(dict.fromkeys(c for c in cols if c is not None))

    def finite_columns(self) -> tuple[str, ...]:
        """Columns that must be finite (the wait of an unresolved contact may be missing)."""
        return tuple(c for c in self.source_columns() if c != self.wait)

    def derive(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per-row numerator and denominator indicators of the service level."""
        ans = _indicator(frame[self.answered], self.answered)
        ab = _indicator(frame[self.abandoned], self.abandoned)
        both = ans & ab
        if both.any():
            raise DataError(
                f"{int(both.sum())} contacts are both {self.answered!r} and {self.abandoned!r}; a "
                "contact is answered, abandoned or unresolved"
            )
        wait = frame[self.wait].to_numpy(dtype=float)
        bad = (ans | ab) & ~np.isfinite(wait)
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} answered or abandoned contacts have a missing or infinite "
                f"{self.wait!r}; the service level needs their wait"
            )
        wait = np.where(ans | ab, wait, np.inf)
        met, den = self.service_level.counts(ans, ab, wait)
        return {self.numerator: met.astype(float), self.denominator: den.astype(float)}

    def describe(self) -> str:
        """One line naming the metric's columns and adjustment (shown in summaries)."""
        return f"service level: {self.service_level.name}" + (
            f" | CUPED on {self.covariate}" if self.covariate else "")


def _indicator(col: pd.Series, name: str) -> np.ndarray:
    v = col.to_numpy(dtype=float)
    if np.isnan(v).any() or not np.isin(v, (0.0, 1.0)).all():
        raise DataError(f"column {name!r} must be 0/1 (or boolean) without missing values")
    return v.astype(bool)


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
    higher_is_better: bool | None = None
    margin: float | None = None
    relative_margin: bool = False
    raw: ClassVar[bool] = True
    kind: ClassVar[str] = "mann-whitney"
    always_valid: ClassVar[bool] = False

    def raw_columns(self) -> tuple[str, ...]:
        """Columns the metric reads row by row (beyond its sufficient statistics)."""
        return (self.column,)

    def requests(self, key: str) -> list[MomentRequest]:  # noqa: ARG002 (the Metric interface; row-level metrics need no moments)
        """Sufficient statistics this metric needs, under the moment key ``key``."""
        return []

    def compare_raw(self, control, treatment, *, ci_level: float, rng: RNGLike) -> dict[str, Any]:  # noqa: ARG002 (the interface)
        """Compare treatment with control on the raw values (one table row)."""
        res = stats.mannwhitneyu(treatment, control, alternative="two-sided")
        n1, n2 = treatment.size, control.size
        auc = res.statistic / (n1 * n2)
        # Hanley–McNeil style normal interval for the AUC
        q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
        se = math.sqrt(
            max(auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2), 0)
            / (n1 * n2)
        )
        z = critical_value(ci_level)
        two = TwoSampleResult(
            mean_control=float(np.mean(control)), mean_treatment=float(np.mean(treatment)),
            effect=float(auc - 0.5), se=se, df=math.inf, ci_low=float(auc - 0.5 - z * se),
            ci_high=float(auc - 0.5 + z * se), pvalue=float(res.pvalue), rel_effect=math.nan,
            rel_ci_low=math.nan, rel_ci_high=math.nan, rel_pvalue=math.nan,
            test="Mann-Whitney U", relative_method="none", ci_level=ci_level)
        return {**two.to_row(), "U": float(res.statistic), "n_control": int(n2),
                "n_treatment": int(n1), "theta": 0.0, "variance_reduction": 0.0}

    def describe(self) -> str:
        """One line naming the metric's columns and adjustment (shown in summaries)."""
        return f"ranks of {self.column}"
