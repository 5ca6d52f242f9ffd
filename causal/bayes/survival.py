"""Effects of a censored lognormal model on the scales the follow-up supports.

A right-censored lognormal (accelerated-failure-time) model gives, per posterior draw, a survival
curve for every stratum and arm, ``S(t) = 1 - Phi((log t - mu) / sigma)``, and so for every group
(a mixture over its strata, weighted by their contacts). From those curves this module reports

- the **restricted mean** time up to a horizon ``tau`` inside the follow-up (RMST; Royston &
  Parmar 2013) per arm and its difference, in seconds: ``E[min(T, tau)]`` is what the data
  measure, whereas the plain mean of ``T`` depends on the tail beyond the longest follow-up;
- **quantile ratios** (median and others), only for quantiles the Kaplan–Meier curves of both
  arms reach before ``tau``;
- the difference in **P(resolved by t)** at stated times inside the follow-up.

:class:`FollowUp` holds the horizon and the data-only checks (at risk, Kaplan–Meier) that decide
what is supported; :func:`kaplan_meier` is the nonparametric estimate used for them and for the
model-against-data diagnostic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from servicelab import DesignError, Diagnostic

__all__ = ["FollowUp", "kaplan_meier", "lognormal_rmst", "mixture_cdf", "mixture_quantile"]


@dataclass(frozen=True)
class FollowUp:
    """What the follow-up of a censored outcome supports (computed from the data alone).

    Attributes
    ----------
    max_time : float
        Longest observed time (resolved or still open), seconds.
    tau : float
        Horizon of the restricted mean, inside the follow-up.
    tau_rule : str
        How ``tau`` was chosen (stated in reports).
    at_risk : tuple of int
        Contacts still at risk (observed time >= tau) in control and treatment.
    km_at_tau : tuple of float
        Kaplan–Meier survival at ``tau`` in control and treatment.
    resolved_by : tuple of float
        Times (seconds) at which P(resolved by t) is compared.
    quantiles : tuple of float
        Requested quantiles that both arms' Kaplan–Meier curves reach before ``tau``.
    unsupported_quantiles : tuple of float
        Requested quantiles not reached within the follow-up (not reported).
    open_share : float
        Share of contacts still open (censored).
    """

    max_time: float
    tau: float
    tau_rule: str
    at_risk: tuple[int, int]
    km_at_tau: tuple[float, float]
    resolved_by: tuple[float, ...]
    quantiles: tuple[float, ...]
    unsupported_quantiles: tuple[float, ...]
    open_share: float

    @classmethod
    def from_data(cls, time: np.ndarray, event: np.ndarray, arm: np.ndarray, *,
                  quantiles: Sequence[float], horizon: float | None, resolved_by:
                  Sequence[float] | None, min_at_risk_share: float, min_at_risk: int = 10
                  ) -> FollowUp:
        """Choose the horizon and the supported quantiles from observed times and events."""
        max_time = float(time.max())
        if horizon is None:
            taus, counts = [], []
            for a in (0, 1):
                t = np.sort(time[arm == a])[::-1]
                k = max(min_at_risk, math.ceil(min_at_risk_share * len(t)))
                if len(t) < k:
                    raise DesignError(
                        f"only {len(t)} contacts in arm {a}: too few to choose an RMST horizon "
                        f"with at least {k} at risk; pass rmst_horizon= explicitly")
                taus.append(float(t[k - 1]))
                counts.append(k)
            tau = min(taus)
            rule = (f"largest time with at least {min_at_risk_share:.0%} of each arm (and "
                    f">= {min_at_risk} contacts) still at risk")
        else:
            tau = float(horizon)
            if not 0 < tau <= max_time:
                raise DesignError(
                    f"rmst_horizon={horizon} s lies outside the follow-up (longest observed time "
                    f"{max_time:.0f} s): a restricted mean past the data is an extrapolation. "
                    "Choose a horizon inside the follow-up, or leave it None for the default")
            rule = "set by the user (rmst_horizon)"
        at_risk = tuple(int(np.sum(time[arm == a] >= tau)) for a in (0, 1))
        km = tuple(float(kaplan_meier(time[arm == a], event[arm == a], [tau])[0][0])
                   for a in (0, 1))
        times = tuple(float(t) for t in (resolved_by if resolved_by is not None
                                         else (tau / 2, tau)))
        late = [t for t in times if not 0 < t <= max_time]
        if late:
            raise DesignError(
                f"resolved_by times {late} lie outside the follow-up (longest observed time "
                f"{max_time:.0f} s); P(resolved by t) past the data is an extrapolation")
        ok = tuple(q for q in quantiles if max(km) <= 1 - q)
        bad = tuple(q for q in quantiles if q not in ok)
        return cls(max_time, tau, rule, at_risk, km, times, ok, bad, float(1 - event.mean()))

    def diagnostic(self) -> Diagnostic:
        """The horizon, the at-risk counts and any quantile not reached, as one diagnostic."""
        msg = (f"follow-up up to {self.max_time:.4g} s, {self.open_share:.0%} still open; RMST "
               f"horizon tau = {self.tau:.4g} s ({self.tau_rule}; at risk there: control "
               f"{self.at_risk[0]}, treatment {self.at_risk[1]})")
        if self.unsupported_quantiles:
            msg += (f"; quantile(s) {list(self.unsupported_quantiles)} not reached within tau in "
                    f"both arms (Kaplan-Meier S(tau) = {self.km_at_tau[0]:.2f} / "
                    f"{self.km_at_tau[1]:.2f}): their ratios are not reported")
        return Diagnostic("follow_up", "warning" if self.unsupported_quantiles else "ok", msg,
                          self.tau)


def kaplan_meier(time: np.ndarray, event: np.ndarray, at: Sequence[float]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier survival and its Greenwood standard error at the times ``at``.

    Examples
    --------
    >>> s, se = kaplan_meier(np.array([1.0, 2, 3, 4]), np.array([1, 1, 0, 1]), [2.5])
    >>> round(float(s[0]), 3)
    0.5
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ut, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event, minlength=len(ut))
    c = np.bincount(inv, minlength=len(ut))
    n_at = len(time) - np.concatenate([[0], np.cumsum(c)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = 1 - d / n_at
        green = np.where(n_at > d, d / (n_at * (n_at - d)), 0.0)
    surv = np.cumprod(factor)
    var_sum = np.cumsum(green)
    idx = np.searchsorted(ut, np.asarray(at, dtype=float), side="right") - 1
    s = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
    v = np.where(idx >= 0, var_sum[np.maximum(idx, 0)], 0.0)
    return s, s * np.sqrt(v)


def lognormal_rmst(mu: np.ndarray, sigma: np.ndarray, tau: float) -> np.ndarray:
    """``E[min(T, tau)]`` for ``log T ~ Normal(mu, sigma)`` (closed form, overflow-safe).

    ``E[T; T <= tau] + tau * P(T > tau)`` with
    ``E[T; T <= tau] = exp(mu + sigma^2 / 2) * Phi((log tau - mu - sigma^2) / sigma)``.

    Examples
    --------
    >>> round(float(lognormal_rmst(np.array(0.0), np.array(1e-6), 10.0)), 4)  # T = 1 always
    1.0
    """
    lt = math.log(tau)
    part = np.exp(mu + sigma**2 / 2 + special.log_ndtr((lt - mu - sigma**2) / sigma))
    return part + tau * special.ndtr((mu - lt) / sigma)


def mixture_cdf(log_t: float | np.ndarray, mu: np.ndarray, sigma: np.ndarray, w: np.ndarray
                ) -> np.ndarray:
    """``P(T <= t)`` of a lognormal mixture: draws x components ``mu``, ``sigma``; weights ``w``."""
    return special.ndtr((np.asarray(log_t)[..., None] - mu) / sigma) @ w


def mixture_quantile(q: float, mu: np.ndarray, sigma: np.ndarray, w: np.ndarray,
                     iterations: int = 40) -> np.ndarray:
    """Quantile ``q`` of a lognormal mixture per draw (bisection on log t), in outcome units.

    Examples
    --------
    >>> m = np.array([[0.0, 0.0]]); s = np.ones((1, 2)); w = np.array([0.5, 0.5])
    >>> round(float(mixture_quantile(0.5, m, s, w)[0]), 6)
    1.0
    """
    z = special.ndtri(q)
    comp = mu + sigma * z
    lo, hi = comp.min(axis=1) - 1e-9, comp.max(axis=1) + 1e-9
    for _ in range(iterations):
        mid = (lo + hi) / 2
        below = (special.ndtr((mid[:, None] - mu) / sigma) @ w) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.exp((lo + hi) / 2)
