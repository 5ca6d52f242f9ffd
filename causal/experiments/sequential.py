"""Sequential testing: group-sequential designs (Lan–DeMets spending, Pocock, O'Brien–Fleming)
and always-valid inference (mixture SPRT / normal-mixture confidence sequences).

Peeking at a fixed-horizon test inflates the false-positive rate; these designs keep it at
``alpha`` whatever the number of looks (confidence sequences: even under continuous peeking).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import optimize, stats

from servicelab.errors import DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "GroupSequentialDesign",
    "SequentialBoundaries",
    "StopDecision",
    "always_valid",
    "msprt_statistic",
]

Spending = Literal["obf", "pocock", "classical_obf", "classical_pocock"]


# -- recursive numerical integration (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 19) --
def _simpson_weights(m: int) -> np.ndarray:
    w = np.ones(m)
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    return w / 3


_SQ2PI = math.sqrt(2 * math.pi)


def _phi(z):
    return np.exp(-0.5 * z * z) / _SQ2PI


class _Recursion:
    """Sub-density of the score B(t) = Z sqrt(t) on the continuation region, look by look."""

    def __init__(self, drift: float = 0.0, m: int = 401) -> None:
        self.drift, self.m = drift, m
        self.t_prev = 0.0
        self.x = self.w = self.f = None

    def exit_probs(self, t: float, zu: float, zl: float) -> tuple[float, float]:
        sdj = math.sqrt(t)
        b_u, b_l = zu * sdj, zl * sdj
        if self.f is None:
            mu, sd = self.drift * t, sdj
            return float(stats.norm.sf((b_u - mu) / sd)), float(stats.norm.cdf((b_l - mu) / sd))
        sd = math.sqrt(t - self.t_prev)
        mu = self.x + self.drift * (t - self.t_prev)
        wf = self.w * self.f
        return (float(np.sum(wf * stats.norm.sf((b_u - mu) / sd))),
                float(np.sum(wf * stats.norm.cdf((b_l - mu) / sd))))

    def advance(self, t: float, zu: float, zl: float) -> None:
        sdj = math.sqrt(t)
        a = max(zl * sdj, self.drift * t - 10 * sdj)
        b = min(zu * sdj, self.drift * t + 10 * sdj)
        y = np.linspace(a, b, self.m)
        wy = _simpson_weights(self.m) * (y[1] - y[0])
        if self.f is None:
            f = _phi((y - self.drift * t) / sdj) / sdj
        else:
            sd = math.sqrt(t - self.t_prev)
            mu = self.x + self.drift * (t - self.t_prev)
            f = _phi((y[:, None] - mu[None, :]) / sd) @ (self.w * self.f) / sd
        self.x, self.w, self.f, self.t_prev = y, wy, f, t


def _exit_probs(t, upper, lower, drift: float = 0.0, m: int = 401):
    """Probabilities of first crossing the upper / lower Z boundary at each look
    (Armitage, McPherson & Rowe recursive integration; Jennison & Turnbull ch. 19).

    ``t`` are information fractions; ``drift`` is the mean of Z at information 1.
    """
    rec = _Recursion(drift, m)
    up, lo = np.zeros(len(t)), np.zeros(len(t))
    for j, tj in enumerate(t):
        up[j], lo[j] = rec.exit_probs(float(tj), float(upper[j]), float(lower[j]))
        if j < len(t) - 1:
            rec.advance(float(tj), float(upper[j]), float(lower[j]))
    return up, lo


def _spend(kind: str, t: np.ndarray, alpha: float) -> np.ndarray:
    if kind == "obf":  # Lan–DeMets O'Brien–Fleming type
        return 2 * (1 - stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / np.sqrt(t)))
    if kind == "pocock":  # Lan–DeMets Pocock type
        return alpha * np.log(1 + (math.e - 1) * t)
    raise DesignError(f"unknown spending function {kind!r}")


@dataclass(frozen=True, repr=False)
class SequentialBoundaries(ResultMixin):
    """Z-scale efficacy boundaries of a group-sequential design.

    Examples
    --------
    >>> b = GroupSequentialDesign(n_looks=3, spending="classical_pocock").boundaries()
    >>> [round(z, 3) for z in b.z]
    [2.289, 2.289, 2.289]
    >>> b.diagnostics[0].name
    'final_boundary'
    """

    information_fractions: tuple[float, ...]
    z: tuple[float, ...]
    nominal_p: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    sides: int
    spending: str

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """The final look's boundary against the fixed-horizon critical value (the price of peeking)."""
        total = float(self.alpha_spent[-1])
        fixed = float(stats.norm.isf(total / self.sides))
        final = float(self.z[-1])
        return (Diagnostic(
            "final_boundary", "ok",
            f"final-look boundary z={final:.3f} against {fixed:.3f} for one fixed-horizon test at "
            f"alpha={total:.3g} ({len(self.z)} looks)", final),)

    def to_frame(self) -> pd.DataFrame:
        """One row per look: information fraction, z boundary, nominal p, cumulative alpha."""
        import pandas as pd

        return pd.DataFrame({
            "look": range(1, len(self.z) + 1),
            "information_fraction": self.information_fractions,
            "z_boundary": self.z,
            "nominal_p": self.nominal_p,
            "cumulative_alpha": self.alpha_spent,
        })

    def summary(self) -> Summary:
        """The boundaries as a :class:`~servicelab.Summary`."""
        return Summary(
            f"Group-sequential boundaries ({self.spending}, {self.sides}-sided)",
            self.to_frame(), info={"looks": len(self.z)}, diagnostics=self.diagnostics,
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """The z boundaries against the information fraction (mirrored when two-sided)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        t, z = np.asarray(self.information_fractions), np.asarray(self.z)
        ax.plot(t, z, "o-", color="#d62728", label="efficacy boundary")
        if self.sides == 2:
            ax.plot(t, -z, "o-", color="#d62728")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("information fraction")
        ax.set_ylabel("z statistic")
        ax.set_title(f"{self.spending} boundaries")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary for JSON (with the diagnostics)."""
        return jsonable({**asdict(self), "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class StopDecision:
    """Answer to "may I stop now?" at one interim look."""

    look: int
    z: float
    boundary: float
    stop: bool
    final: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class GroupSequentialDesign:
    """A group-sequential test with efficacy boundaries.

    Parameters
    ----------
    n_looks : int
        Planned number of analyses, the last one final.
    alpha : float
        Total type-I error: two-sided if ``sides=2`` (split evenly), else one-sided.
    sides : {1, 2}
    spending : {"obf", "pocock", "classical_obf", "classical_pocock"}
        Lan–DeMets spending functions (flexible: boundaries follow the information actually
        observed) or the classical constant-shape boundaries for equally spaced looks.
    information_fractions : tuple of float, optional
        Planned fractions (default equally spaced).

    Examples
    --------
    >>> d = GroupSequentialDesign(n_looks=5, alpha=0.05, spending="classical_pocock")
    >>> round(d.boundaries().z[0], 3)
    2.413
    >>> d.may_stop(z=3.1, look=2).stop
    True
    """

    n_looks: int = 5
    alpha: float = 0.05
    sides: int = 2
    spending: Spending = "obf"
    information_fractions: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.n_looks < 1:
            raise DesignError(f"n_looks must be >= 1, got {self.n_looks}")
        if not 0 < self.alpha < 1:
            raise DesignError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.sides not in (1, 2):
            raise DesignError(f"sides must be 1 or 2, got {self.sides}")
        if self.information_fractions is not None:
            f = np.asarray(self.information_fractions, dtype=float)
            if f.size != self.n_looks or (np.diff(f) <= 0).any() or f[0] <= 0 or f[-1] > 1:
                raise DesignError(
                    "information_fractions must be increasing in (0, 1], one per look"
                )

    def _fractions(self, fractions=None) -> np.ndarray:
        if fractions is not None:
            f = np.asarray(fractions, dtype=float)
            if (np.diff(f) <= 0).any() or f[0] <= 0:
                raise DesignError("information fractions must be positive and increasing")
            return np.minimum(f, 1.0)
        if self.information_fractions is not None:
            return np.asarray(self.information_fractions, dtype=float)
        return np.arange(1, self.n_looks + 1) / self.n_looks

    def _cross(self, t, z):
        z = np.asarray(z, dtype=float)
        lower = -z if self.sides == 2 else np.full(z.size, -np.inf)
        up, lo = _exit_probs(t, z, np.where(np.isinf(lower), -50.0, lower))
        return up + (lo if self.sides == 2 else 0)

    def boundaries(self, information_fractions=None) -> SequentialBoundaries:
        """Z boundaries for the planned (or the observed) information fractions."""
        t = self._fractions(information_fractions)
        k = t.size
        a = self.alpha
        if self.spending.startswith("classical"):
            shape = (np.ones(k) if self.spending == "classical_pocock" else 1 / np.sqrt(t))

            def total(c):
                return self._cross(t, c * shape).sum() - a

            c = optimize.brentq(total, 0.5, 10.0, xtol=1e-10)
            z = c * shape
        else:
            cum = _spend(self.spending, t, a)
            z = np.zeros(k)
            rec = _Recursion()
            two = self.sides == 2
            for j in range(k):
                target = cum[j] - (cum[j - 1] if j else 0.0)

                def gap(zj, tj=float(t[j]), target=target):
                    u, lo_ = rec.exit_probs(tj, zj, -zj if two else -50.0)
                    return u + (lo_ if two else 0.0) - target

                z[j] = optimize.brentq(gap, 0.1, 15.0, xtol=1e-10) if target > 1e-15 else 15.0
                if j < k - 1:
                    rec.advance(float(t[j]), z[j], -z[j] if two else -50.0)
        spent = np.cumsum(self._cross(t, z))
        nominal = stats.norm.sf(z) * self.sides
        return SequentialBoundaries(
            information_fractions=tuple(float(x) for x in t), z=tuple(float(x) for x in z),
            nominal_p=tuple(float(x) for x in nominal),
            alpha_spent=tuple(float(x) for x in spent), sides=self.sides,
            spending=self.spending,
        )

    def may_stop(
        self, z: float, look: int, information_fractions=None
    ) -> StopDecision:
        """Decide at ``look`` (1-based) given the current z statistic.

        ``information_fractions`` are the fractions observed so far (Lan–DeMets spending
        adapts to them); by default the planned ones.
        """
        if not 1 <= look <= self.n_looks:
            raise DesignError(f"look must be in 1..{self.n_looks}, got {look}")
        if information_fractions is not None and len(information_fractions) != look:
            raise DesignError("give one information fraction per look so far")
        t = self._fractions(information_fractions)
        if information_fractions is None:
            t = t[:look]
        b = self.boundaries(t).z[-1] if not self.spending.startswith("classical") else (
            self.boundaries().z[look - 1]
        )
        crossed = (abs(z) if self.sides == 2 else z) >= b
        final = look == self.n_looks
        if crossed:
            msg = (f"look {look}: |z|={abs(z):.3f} >= boundary {b:.3f}: you may stop and "
                   "declare an effect (type-I error controlled by the design)")
        elif final:
            msg = (f"final look: |z|={abs(z):.3f} < boundary {b:.3f}: stop, no significant "
                   "effect")
        else:
            msg = (f"look {look}: |z|={abs(z):.3f} < boundary {b:.3f}: continue to the next "
                   "look; stopping now and calling it significant would inflate type-I error")
        return StopDecision(look, float(z), float(b), bool(crossed or final), final, msg)


# -- always-valid inference --------------------------------------------------------------------
def msprt_statistic(effect, variance, tau: float):
    """Normal-mixture SPRT likelihood ratio (Johari et al. 2017) for H0: effect = 0.

    ``variance`` is the variance of the effect estimate at the current sample size; ``tau``
    the standard deviation of the normal mixing distribution (in effect units). Reject when
    the statistic is ``>= 1/alpha``; vectorised over arrays.

    Examples
    --------
    >>> float(msprt_statistic(0.0, 1.0, 1.0)) < 1
    True
    """
    v = np.asarray(variance, dtype=float)
    e = np.asarray(effect, dtype=float)
    if tau <= 0:
        raise DesignError(f"tau must be positive, got {tau}")
    with np.errstate(over="ignore"):  # overwhelming evidence: the ratio is +inf, its true limit
        return np.exp(_msprt_log_statistic(e, v, tau))


def _msprt_log_statistic(e: np.ndarray, v: np.ndarray, tau: float) -> np.ndarray:
    """Logarithm of :func:`msprt_statistic` (finite where the ratio itself overflows)."""
    t2 = tau * tau
    return 0.5 * np.log(v / (v + t2)) + e * e * t2 / (2 * v * (v + t2))


def always_valid(effect, se, *, alpha: float = 0.05, tau: float):
    """Always-valid p-value and confidence sequence (normal mixture), vectorised.

    Returns ``(pvalue, ci_low, ci_high)``; the running minimum of the p-value over looks is the
    always-valid p-value, and the intersection of the intervals is a valid sequence.

    Examples
    --------
    >>> p, lo, hi = always_valid(0.5, 0.1, tau=0.5)
    >>> bool(lo > 0)
    True
    """
    if not 0 < alpha < 1:
        raise DesignError(f"alpha must be in (0, 1), got {alpha}")
    se = np.asarray(se, dtype=float)
    v = se * se
    if tau <= 0:
        raise DesignError(f"tau must be positive, got {tau}")
    # p = min(1, 1 / ratio), from the log ratio: no overflow when the evidence is overwhelming
    p = np.minimum(1.0, np.exp(-_msprt_log_statistic(np.asarray(effect, dtype=float), v, tau)))
    t2 = tau * tau
    radius = np.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + np.log((v + t2) / v)))
    e = np.asarray(effect, dtype=float)
    return p, e - radius, e + radius
