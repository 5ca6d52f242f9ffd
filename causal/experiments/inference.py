"""Two-sample inference from summary statistics: Welch t / z tests, relative effects, SRM,
multiple-testing corrections and a normal-prior Bayesian read-out.

Everything here works on per-arm ``(mean, unit variance, n)`` triples, so the same code serves
the pandas path, the warehouse path (sufficient statistics computed in SQL) and the
delta-method / CUPED linearisations of :mod:`causal.experiments.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import special, stats

from servicelab.errors import DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

Alternative = Literal["two-sided", "greater", "less"]
RelativeMethod = Literal["log", "delta", "fieller"]

class ZeroVarianceError(DataError):
    """Both arms of a metric have zero variance: no test is possible."""


__all__ = [
    "SRMResult",
    "TwoSampleResult",
    "ZeroVarianceError",
    "adjust_pvalues",
    "bayes_normal_lift",
    "mean_var_from_sums",
    "srm_test",
    "two_sample_test",
    "welch_anova",
]


@dataclass(frozen=True)
class TwoSampleResult(ResultMixin):
    """Comparison of a treatment arm against control on one metric.

    ``effect`` is ``mean_treatment - mean_control`` (outcome units); ``rel_effect`` is
    ``mean_treatment / mean_control - 1``.
    """

    mean_control: float
    mean_treatment: float
    effect: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    pvalue: float
    rel_effect: float
    rel_ci_low: float
    rel_ci_high: float
    rel_pvalue: float
    test: str
    relative_method: str
    ci_level: float

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """A failure when the standard error is missing or zero (no interval can be trusted)."""
        if math.isfinite(self.se) and self.se > 0:
            return ()
        return (Diagnostic("se", "fail", f"the standard error is {self.se!r}: an arm has no variance "
                           "or too few units; check the metric and the arm sizes", self.se),)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-safe data: Python scalars, NaN and infinities as None.

        Examples
        --------
        >>> import json
        >>> r = two_sample_test(1.0, 1.0, 1000, 1.1, 1.0, 1000, use_t=False)
        >>> r.to_row()["df"], r.to_dict()["df"], bool(json.dumps(r.to_dict(), allow_nan=False))
        (inf, None, True)
        """
        return jsonable({**self.to_row(), "diagnostics": [d.to_dict() for d in self.diagnostics]})

    def to_row(self) -> dict[str, Any]:
        """The fields as one flat table row (NaN kept; ``Metric.compare`` builds tables from it)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def summary(self) -> Summary:
        """Absolute and relative effect with their intervals.

        Examples
        --------
        >>> two_sample_test(1.0, 1.0, 1000, 1.1, 1.0, 1000).summary().to_frame()["scale"].tolist()
        ['absolute', 'relative']
        """
        table = [
            {"scale": "absolute", "control": self.mean_control, "treatment": self.mean_treatment,
             "effect": self.effect, "ci_low": self.ci_low, "ci_high": self.ci_high, "pvalue": self.pvalue},
            {"scale": "relative", "control": self.mean_control, "treatment": self.mean_treatment,
             "effect": self.rel_effect, "ci_low": self.rel_ci_low, "ci_high": self.rel_ci_high,
             "pvalue": self.rel_pvalue},
        ]
        import pandas as pd

        info = {"test": self.test, "relative interval": self.relative_method, "ci_level": self.ci_level,
                "se": self.se, "df": self.df}
        return Summary("Two-sample comparison (treatment - control)", pd.DataFrame(table), info=info,
                       diagnostics=self.diagnostics)

    def plot(self, ax: Any = None) -> Any:
        """The absolute effect with its interval against zero."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 2.2))
        ax.errorbar([self.effect], [0], xerr=[[self.effect - self.ci_low], [self.ci_high - self.effect]],
                    fmt="o", color="tab:blue", capsize=4, label=f"{self.ci_level:.0%} CI")
        ax.axvline(0.0, color="0.5", lw=1, ls="--", label="no effect")
        ax.set_yticks([])
        ax.set_xlabel("effect (treatment - control, outcome units)")
        ax.set_title(self.test)
        ax.legend(fontsize=8)
        return ax


def mean_var_from_sums(total: float, sum_squares: float, n: int) -> tuple[float, float]:
    """Mean and unbiased variance (ddof=1) from a sum, a sum of squares and a count.

    Examples
    --------
    >>> mean_var_from_sums(6.0, 14.0, 3)
    (2.0, 1.0)
    """
    if n < 2:
        raise DataError(f"need at least 2 units to estimate a variance, got n={n}")
    mean = total / n
    return mean, (sum_squares - total * total / n) / (n - 1)


def _welch_df(vc: float, nc: float, vt: float, nt: float) -> float:
    a, b = vc / nc, vt / nt
    den = a * a / (nc - 1) + b * b / (nt - 1)
    if den <= 0:
        return math.inf
    return (a + b) ** 2 / den


class _Dist:
    """Student t (finite df) or standard normal through scipy.special ufuncs (fast scalars)."""

    def __init__(self, df: float) -> None:
        self.df = df
        self.is_t = math.isfinite(df)

    def ppf(self, q: float) -> float:
        return float(special.stdtrit(self.df, q) if self.is_t else special.ndtri(q))

    def cdf(self, x: float) -> float:
        return float(special.stdtr(self.df, x) if self.is_t else special.ndtr(x))

    def sf(self, x: float) -> float:
        return self.cdf(-x)


def _dist(use_t: bool, df: float) -> _Dist:
    return _Dist(df if use_t else math.inf)


def _pvalue(stat: float, dist: Any, alternative: Alternative) -> float:
    if alternative == "greater":
        return float(dist.sf(stat))
    if alternative == "less":
        return float(dist.cdf(stat))
    return float(2 * dist.sf(abs(stat)))


def _interval(est: float, se: float, dist: Any, level: float, alternative: Alternative):
    if alternative == "greater":
        return est - se * dist.ppf(level), math.inf
    if alternative == "less":
        return -math.inf, est + se * dist.ppf(level)
    q = dist.ppf((1 + level) / 2)
    return est - q * se, est + q * se


def two_sample_test(
    mean_control: float,
    var_control: float,
    n_control: float,
    mean_treatment: float,
    var_treatment: float,
    n_treatment: float,
    *,
    use_t: bool = True,
    ci_level: float = 0.95,
    alternative: Alternative = "two-sided",
    relative: RelativeMethod = "log",
) -> TwoSampleResult:
    """Welch t (``use_t=True``) or z test of a difference in means from per-arm statistics.

    Parameters
    ----------
    mean_control, mean_treatment : float
        Arm means (or CUPED-adjusted / delta-method ratio estimates).
    var_control, var_treatment : float
        *Unit-level* variances: the standard error of an arm mean is ``sqrt(var / n)``.
    n_control, n_treatment : float
        Units per arm.
    use_t : bool
        Student t with Welch–Satterthwaite degrees of freedom, else the normal.
    relative : {"log", "delta", "fieller"}
        Interval for ``mean_t / mean_c - 1``: log-delta (asymmetric, always positive ratio;
        as tea-tasting), plain delta method (symmetric; as GrowthBook gbstats) or Fieller.

    Examples
    --------
    >>> r = two_sample_test(1.0, 1.0, 1000, 1.1, 1.0, 1000)
    >>> round(r.effect, 3), r.pvalue < 0.05
    (0.1, True)
    """
    if not 0 < ci_level < 1:
        raise DesignError(f"ci_level must be in (0, 1), got {ci_level}")
    if min(n_control, n_treatment) < 2:
        raise DataError(
            f"each arm needs at least 2 units (control n={n_control}, treatment "
            f"n={n_treatment}); collect more data or merge arms"
        )
    if var_control < 0 or var_treatment < 0:
        raise DataError("negative variance estimate; check the input statistics")
    se = math.sqrt(var_control / n_control + var_treatment / n_treatment)
    if se == 0:
        raise ZeroVarianceError(
            "the metric has zero variance in both arms, so no test is possible; "
            "check that the metric column is not constant"
        )
    df = _welch_df(var_control, n_control, var_treatment, n_treatment) if use_t else math.inf
    dist = _dist(use_t, df)
    effect = mean_treatment - mean_control
    lo, hi = _interval(effect, se, dist, ci_level, alternative)
    p = _pvalue(effect / se, dist, alternative)

    rel = mean_treatment / mean_control - 1 if mean_control != 0 else math.nan
    rlo, rhi, rp = math.nan, math.nan, math.nan
    if mean_control != 0:
        if relative == "log":
            if mean_treatment / mean_control > 0:
                lv_c = var_control / mean_control**2
                lv_t = var_treatment / mean_treatment**2
                lse = math.sqrt(lv_c / n_control + lv_t / n_treatment)
                ldf = _welch_df(lv_c, n_control, lv_t, n_treatment) if use_t else math.inf
                ldist = _dist(use_t, ldf)
                llo, lhi = _interval(
                    math.log(mean_treatment / mean_control), lse, ldist, ci_level, alternative
                )
                rlo, rhi = math.exp(llo) - 1, math.exp(lhi) - 1
                rp = _pvalue(math.log(mean_treatment / mean_control) / lse, ldist, alternative)
        elif relative == "delta":
            rv = var_treatment / (n_treatment * mean_control**2) + mean_treatment**2 * (
                var_control / (n_control * mean_control**4)
            )
            rse = math.sqrt(rv)
            rlo, rhi = _interval(rel, rse, dist, ci_level, alternative)
            rp = _pvalue(rel / rse, dist, alternative)
        elif relative == "fieller":
            rlo, rhi = _fieller(
                mean_control, var_control / n_control, mean_treatment,
                var_treatment / n_treatment, dist, ci_level, alternative,
            )
            rp = p
        else:
            raise DesignError(f"relative must be 'log', 'delta' or 'fieller', got {relative!r}")
    return TwoSampleResult(
        mean_control=float(mean_control),
        mean_treatment=float(mean_treatment),
        effect=float(effect),
        se=float(se),
        df=float(df),
        ci_low=float(lo),
        ci_high=float(hi),
        pvalue=p,
        rel_effect=float(rel),
        rel_ci_low=float(rlo),
        rel_ci_high=float(rhi),
        rel_pvalue=float(rp),
        test="Welch t" if use_t else "z",
        relative_method=relative,
        ci_level=ci_level,
    )


def _fieller(mc, sc2, mt, st2, dist, level, alternative) -> tuple[float, float]:
    """Fieller interval for ``mt / mc - 1`` with independent arm estimates."""
    q = dist.ppf(level) if alternative != "two-sided" else dist.ppf((1 + level) / 2)
    a = mc * mc - q * q * sc2
    if a <= 0:
        return -math.inf, math.inf  # denominator not significantly away from 0: unbounded
    b = -2 * mt * mc
    c = mt * mt - q * q * st2
    disc = b * b - 4 * a * c
    root = math.sqrt(max(disc, 0.0))
    lo, hi = (-b - root) / (2 * a) - 1, (-b + root) / (2 * a) - 1
    if alternative == "greater":
        return lo, math.inf
    if alternative == "less":
        return -math.inf, hi
    return lo, hi


def welch_anova(means: Sequence[float], variances: Sequence[float], ns: Sequence[float]):
    """Welch's heteroscedastic one-way ANOVA from per-arm statistics.

    Returns ``(F, df1, df2, pvalue)``. Used as the omnibus test before pairwise comparisons.
    Raises :class:`ZeroVarianceError` when an arm has zero variance (the weights ``n / var``
    are undefined) rather than returning NaN.

    Examples
    --------
    >>> round(welch_anova([0, 0, 0], [1, 1, 1], [50, 50, 50])[3], 3)
    1.0
    """
    m, v, n = (np.asarray(x, dtype=float) for x in (means, variances, ns))
    k = m.size
    if k < 2:
        raise DesignError("welch_anova needs at least 2 arms")
    if (n < 2).any():
        raise DataError(f"welch_anova needs at least 2 units per arm, got ns={n.tolist()}")
    zero = np.flatnonzero(~(v > 0))
    if zero.size:
        # the arm weights n / var would be infinite and the statistic NaN: say so instead
        raise ZeroVarianceError(
            f"welch_anova: arm(s) {zero.tolist()} (0-based) have zero variance "
            f"(variances={v.tolist()}), so Welch's weights are undefined; check that the metric "
            "is not constant in those arms, or compare the arms pairwise"
        )
    w = n / v
    sw = w.sum()
    mw = (w * m).sum() / sw
    a = (w * (m - mw) ** 2).sum() / (k - 1)
    lam = ((1 - w / sw) ** 2 / (n - 1)).sum()
    b = 1 + 2 * (k - 2) / (k * k - 1) * lam
    F = a / b
    df2 = (k * k - 1) / (3 * lam)
    return float(F), float(k - 1), float(df2), float(stats.f.sf(F, k - 1, df2))


@dataclass(frozen=True)
class SRMResult(ResultMixin):
    """Sample-ratio-mismatch check: observed arm counts against the designed split."""

    counts: tuple[int, ...]
    expected_shares: tuple[float, ...]
    chi2: float
    pvalue_chi_square: float
    pvalue_exact: float | None
    pvalue_normal: float | None
    threshold: float

    @property
    def mismatch(self) -> bool:
        """True when either test rejects the designed split at ``threshold``."""
        ps = [self.pvalue_chi_square] + ([self.pvalue_exact] if self.pvalue_exact is not None else [])
        return min(ps) < self.threshold

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """``srm``: a failure when the observed split rejects the design at ``threshold``."""
        p = min([self.pvalue_chi_square] + ([self.pvalue_exact] if self.pvalue_exact is not None else []))
        if self.mismatch:
            return (Diagnostic("srm", "fail", f"arm counts {list(self.counts)} do not match the designed "
                               f"split (p={p:.2g} < {self.threshold:g}): find the assignment or logging "
                               "bug before reading any effect", p),)
        return (Diagnostic("srm", "ok", f"arm counts match the design (p={p:.2g})", p),)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return jsonable({**asdict(self), "mismatch": self.mismatch})

    def _frame(self) -> Any:
        import pandas as pd

        n = sum(self.counts)
        return pd.DataFrame({"arm": range(len(self.counts)), "count": list(self.counts),
                             "expected": [n * s for s in self.expected_shares],
                             "share": [c / n for c in self.counts],
                             "expected_share": list(self.expected_shares)})

    def summary(self) -> Summary:
        """Observed and expected counts per arm, with the test's p-values.

        Examples
        --------
        >>> srm_test([1977, 2023]).summary().to_frame()["count"].tolist()
        [1977, 2023]
        """
        info = {"chi2": self.chi2, "pvalue_chi_square": self.pvalue_chi_square,
                "pvalue_exact": self.pvalue_exact, "pvalue_normal": self.pvalue_normal,
                "threshold": self.threshold, "mismatch": self.mismatch}
        return Summary("Sample-ratio mismatch check", self._frame(), info=info, diagnostics=self.diagnostics)

    def plot(self, ax: Any = None) -> Any:
        """Observed against expected units per arm."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        f = self._frame()
        x = np.arange(len(f))
        ax.bar(x - 0.2, f["count"], width=0.4, label="observed")
        ax.bar(x + 0.2, f["expected"], width=0.4, color="0.6", label="expected (design)")
        ax.set_xticks(x, [f"arm {i}" for i in f["arm"]])
        ax.set_ylabel("units")
        ax.set_title("Sample-ratio mismatch" + (" (MISMATCH)" if self.mismatch else ""))
        ax.legend(fontsize=8)
        return ax


def srm_test(
    counts: Sequence[int], expected_shares: Sequence[float] | None = None, *, threshold: float = 0.001
) -> SRMResult:
    """Sample-ratio mismatch by chi-square goodness of fit and (two arms) exact binomial.

    With two arms it also reports the continuity-corrected normal approximation of the
    binomial test (``pvalue_normal``), which is what tea-tasting's ``SampleRatio`` reports for
    1000 units or more. ``mismatch`` uses the chi-square and the exact binomial p-values.

    Parameters
    ----------
    counts : sequence of int
        Units observed per arm.
    expected_shares : sequence of float, optional
        Designed allocation (normalised to sum 1); equal split by default.
    threshold : float
        p-value below which the split is declared broken (0.001 is the industry habit,
        since SRM checks run on every experiment).

    Examples
    --------
    >>> round(srm_test([1977, 2023]).pvalue_exact, 4)
    0.4768
    """
    c = np.asarray(counts, dtype=float)
    if c.size < 2:
        raise DesignError(f"SRM needs at least 2 arms, got counts={list(counts)}")
    if (c < 0).any():
        raise DataError(f"arm counts must be non-negative, got {list(counts)}")
    if expected_shares is None:
        shares = np.full(c.size, 1 / c.size)
    else:
        shares = np.asarray(expected_shares, dtype=float)
        if shares.size != c.size or (shares <= 0).any():
            raise DesignError(
                f"expected_shares {list(expected_shares)} must be positive, one per arm "
                f"({c.size} arms)"
            )
        shares = shares / shares.sum()
    exp = shares * c.sum()
    chi2 = float(((c - exp) ** 2 / exp).sum())
    p_chi = float(stats.chi2.sf(chi2, c.size - 1))
    p_exact = p_norm = None
    if c.size == 2:
        n_all, k0, s0 = int(c.sum()), int(c[0]), float(shares[0])
        p_exact = float(stats.binomtest(k0, n_all, s0).pvalue)
        # normal approximation with continuity correction (what tea-tasting reports for n >= 1000)
        dev = max(abs(k0 - n_all * s0) - 0.5, 0.0)
        p_norm = float(2 * stats.norm.sf(dev / math.sqrt(n_all * s0 * (1 - s0))))
    return SRMResult(
        counts=tuple(int(x) for x in c),
        expected_shares=tuple(float(s) for s in shares),
        chi2=chi2,
        pvalue_chi_square=p_chi,
        pvalue_exact=p_exact,
        pvalue_normal=p_norm,
        threshold=threshold,
    )


_MULTITEST = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "by": "fdr_by", "none": "none"}


def adjust_pvalues(
    pvalues: Sequence[float], method: Literal["holm", "bonferroni", "bh", "by", "none"] = "holm"
) -> np.ndarray:
    """Adjust p-values for multiple testing.

    ``holm`` and ``bonferroni`` control the family-wise error rate; ``bh`` (Benjamini–
    Hochberg) and ``by`` (Benjamini–Yekutieli, valid under any dependence) control the false
    discovery rate. The adjustment is :func:`statsmodels.stats.multitest.multipletests`
    (``holm``, ``bonferroni``, ``fdr_bh``, ``fdr_by``); NaNs are passed through and do not count
    as tests.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04], "bonferroni").tolist()
    [0.02, 0.08]
    """
    p_all = np.asarray(pvalues, dtype=float)
    out = np.full(p_all.shape, np.nan)
    ok = ~np.isnan(p_all)
    p = p_all[ok]
    m = p.size
    if m == 0:
        return out
    if ((p < 0) | (p > 1)).any():
        raise DataError("p-values must lie in [0, 1]")
    if method not in _MULTITEST:
        raise DesignError(
            f"correction must be one of holm, bonferroni, bh, by, none; got {method!r}"
        )
    if method == "none":
        adj = p.copy()
    else:
        from statsmodels.stats.multitest import multipletests

        adj = multipletests(p, method=_MULTITEST[method])[1]
    out[ok] = adj
    return out


def bayes_normal_lift(
    lift: float, lift_var: float, *, prior_mean: float = 0.0, prior_sd: float | None = None,
    ci_level: float = 0.95,
) -> dict[str, float]:
    """Normal–normal posterior for a relative lift (gbstats' Bayesian engine).

    ``prior_sd=None`` is the flat prior. Returns posterior ``mean``, ``sd``, ``ci_low``,
    ``ci_high`` and ``chance_to_win`` (posterior P(lift > 0)).

    Examples
    --------
    >>> round(bayes_normal_lift(0.1, 0.01)["chance_to_win"], 3)
    0.841
    """
    if lift_var <= 0:
        raise DataError(f"lift_var must be positive, got {lift_var}")
    prec = 1 / lift_var
    num = lift * prec
    if prior_sd is not None:
        if prior_sd <= 0:
            raise DesignError(f"prior_sd must be positive, got {prior_sd}")
        prec += 1 / prior_sd**2
        num += prior_mean / prior_sd**2
    mean, sd = num / prec, math.sqrt(1 / prec)
    q = stats.norm.ppf((1 + ci_level) / 2)
    return {
        "mean": mean,
        "sd": sd,
        "ci_low": mean - q * sd,
        "ci_high": mean + q * sd,
        "chance_to_win": float(stats.norm.sf(0, loc=mean, scale=sd)),
    }
