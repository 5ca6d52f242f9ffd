"""Sensitivity to unobserved confounding: Cinelli & Hazlett (2020) and the E-value.

Cinelli–Hazlett work from the adjusted linear regression ``y ~ t + x``:

- ``partial_r2_yd``: the share of the outcome's residual variance explained by the treatment.
  An unobserved confounder that explains all of the outcome's residual variance would have to
  explain at least this much of the treatment's to make the estimate zero.
- the *robustness value* ``RV_q``: a confounder explaining ``RV_q`` of the residual variance of
  both the treatment and the outcome would reduce the estimate by ``q`` (``q=1``: to zero).
  ``RV_{q,alpha}`` is the same for making the effect no longer significant at level alpha.
- benchmarks: how much an unobserved confounder "as strong as" an observed covariate would shift
  the estimate (bounds on partial R² from the covariate's own).

The E-value (VanderWeele & Ding 2017) is the minimum risk-ratio association a confounder needs with
both treatment and outcome to explain the effect away; for a continuous outcome it uses the
approximation ``RR ≈ exp(0.91 d)`` with ``d`` the standardised effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats

from causal.results import critical_value
from servicelab.results import jsonable


@dataclass(frozen=True)
class Sensitivity:
    """Cinelli–Hazlett and E-value sensitivity of an adjusted estimate."""

    estimate: float
    se: float
    dof: int
    partial_r2_yd: float
    rv_q: float
    rv_q_alpha: float
    evalue_point: float
    evalue_ci: float
    benchmark_covariate: str | None
    benchmark_r2_dz: float | None
    benchmark_r2_yz: float | None
    benchmark_adjusted_estimate: float | None

    def explain(self) -> str:
        """A plain-language paragraph for reports."""
        bench = ""
        if self.benchmark_covariate is not None:
            bench = (
                f" For scale, the strongest observed covariate, {self.benchmark_covariate!r}, "
                f"explains {self.benchmark_r2_dz:.1%} of the treatment's and "
                f"{self.benchmark_r2_yz:.1%} of the outcome's residual variance; a hidden "
                f"confounder as strong as it would move the estimate to about "
                f"{self.benchmark_adjusted_estimate:.3g}."
            )
        return (
            f"Robustness value {self.rv_q:.1%}: an unobserved confounder would have to explain "
            f"at least {self.rv_q:.1%} of the remaining variance of both the treatment and the "
            f"outcome to bring the estimate to zero, and {self.rv_q_alpha:.1%} to make it "
            f"statistically insignificant at 5%. The treatment explains "
            f"{self.partial_r2_yd:.1%} of the outcome's residual variance (partial R²), so a "
            f"confounder explaining all of the outcome would still need that much of the "
            f"treatment. E-value {self.evalue_point:.2f} (CI limit {self.evalue_ci:.2f}): the "
            f"risk-ratio association a confounder needs with both treatment and outcome to "
            f"explain the effect away." + bench
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON."""
        return jsonable(self.__dict__ | {"explanation": self.explain()})


def robustness_value(t_stat: float, dof: int, q: float = 1.0, alpha: float | None = None
                     ) -> float:
    """Cinelli & Hazlett (2020) robustness value ``RV_q`` (or ``RV_{q,alpha}``)."""
    f = q * abs(t_stat) / np.sqrt(dof)
    if alpha is not None:
        f_crit = stats.t.ppf(1 - alpha / 2, dof - 1) / np.sqrt(dof - 1)
        f = f - f_crit
        if f < 0:
            return 0.0
    return float(0.5 * (np.sqrt(f**4 + 4 * f**2) - f**2))


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (VanderWeele & Ding 2017)."""
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def cinelli_hazlett(y: np.ndarray, t: np.ndarray, x: np.ndarray,
                    names: list[str] | None = None, *, ci_level: float = 0.95) -> Sensitivity:
    """Sensitivity of the OLS estimate of ``t`` in ``y ~ 1 + t + x``.

    ``ci_level`` sets the normal interval whose bound nearer zero gives the E-value of the
    interval.

    Examples
    --------
    >>> rng = np.random.default_rng(0); x = rng.normal(size=(500, 2))
    >>> t = (x[:, 0] + rng.normal(size=500) > 0) * 1.0
    >>> s = cinelli_hazlett(x[:, 1] + 2 * t + rng.normal(size=500), t, x)
    >>> 0 < s.rv_q < 1
    True
    """
    design = np.column_stack([np.ones_like(t), t, x])
    fit = sm.OLS(y, design).fit()
    est, se, dof = float(fit.params[1]), float(fit.bse[1]), int(fit.df_resid)
    tval = est / se
    r2yd = tval**2 / (tval**2 + dof)
    # E-value on the standardised-effect approximation (continuous) or risk ratio (binary)
    binary = set(np.unique(y).tolist()) <= {0.0, 1.0}
    q = critical_value(ci_level)
    lo = est - q * se if est > 0 else est + q * se
    if binary:
        p0 = max(float(y[t == 0].mean()), 1e-6)
        rr, rr_lo = (p0 + est) / p0, (p0 + lo) / p0
    else:
        sd = float(np.std(y, ddof=1))
        rr, rr_lo = np.exp(0.91 * est / sd), np.exp(0.91 * lo / sd)
    crosses = np.sign(lo) != np.sign(est)
    ev_ci = 1.0 if crosses else evalue_rr(max(rr_lo, 1e-9))
    bench = (None, None, None, None)
    if x.shape[1]:
        best = None
        for j in range(x.shape[1]):
            others = np.delete(x, j, axis=1)
            # partial R2 of covariate j with t given the others, and with y given t + others
            r_dz = _partial_r2(t, x[:, j], others)
            r_yz = _partial_r2(y, x[:, j], np.column_stack([t, others]))
            if best is None or r_dz + r_yz > best[1] + best[2]:
                best = (j, r_dz, r_yz)
        j, r_dz, r_yz = best
        # bias bound for a confounder as strong as covariate j (kd = ky = 1), C&H eq. (4.5)
        r2dz = r_dz / (1 - r_dz) if r_dz < 1 else np.inf
        r2yz = min(r_yz * (1 - 0) / (1 - r_dz), 1.0) if r_dz < 1 else 1.0
        bias = se * np.sqrt(dof) * np.sqrt(r2yz * r2dz / (1 - r2dz)) if r2dz < 1 else np.inf
        adj = est - np.sign(est) * bias
        bench = ((names[j] if names else f"x{j}"), float(r_dz), float(r_yz), float(adj))
    return Sensitivity(est, se, dof, float(r2yd), robustness_value(tval, dof),
                       robustness_value(tval, dof, alpha=0.05), evalue_rr(rr), ev_ci, *bench)


def _partial_r2(y: np.ndarray, z: np.ndarray, others: np.ndarray) -> float:
    design = np.column_stack([np.ones_like(z), z, others])
    fit = sm.OLS(y, design).fit()
    tv = fit.tvalues[1]
    return float(tv**2 / (tv**2 + fit.df_resid))
