"""Exact queueing formulas for a single pool of agents: Erlang B, Erlang C and Erlang A.

Everything is computed in log space from the birth-death chain of the number of
contacts in the system, so the formulas stay finite and exact at 10,000+ agents
(the textbook ``A**n / n!`` forms and uniformisation-based Erlang A code such as
pyworkforce's underflow there).

Models
------
Erlang B (M/M/n/n)
    Blocking probability of a loss system.
Erlang C (M/M/n)
    Infinitely patient customers; needs offered load ``A = lambda * AHT < n``.
    Raises :class:`~servicelab.errors.UnstableQueueError` otherwise.
Erlang A (M/M/n+M)
    Exponential patience with mean ``patience_s``; stable at any load.
    Waiting-time measures come from a tagged-customer argument: a contact that
    finds ``m`` others waiting ahead leaves the queue through stages with rates
    ``n mu + (i + 1) theta`` (``i = m .. 0``); it is answered with probability
    ``n mu / (n mu + (m + 1) theta)`` and its wait, given it is answered, is a sum of
    exponentials with rates in arithmetic progression, whose CDF is a regularised
    incomplete beta function.

Service-level definitions (``GUIDE §3``) are explicit; see :data:`SL_DEFINITIONS`.

Units: arrival rates are per hour (``arrivals_per_hour``), times in seconds
(``aht_s``, ``patience_s``, ``sl_threshold_s``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from servicelab.errors import DesignError, UnstableQueueError
from servicelab.results import Summary, jsonable

__all__ = [
    "SL_DEFINITIONS",
    "ErlangAResult",
    "ErlangCResult",
    "GMRApproximation",
    "HalfinWhittApproximation",
    "SquareRootStaffing",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "garnett_mandelbaum_reiman",
    "halfin_whitt",
    "square_root_staffing",
]

#: Service-level definitions: name -> plain-language meaning.
SL_DEFINITIONS: dict[str, str] = {
    "answered_within_t/all_arrivals": ("contacts answered within t over all arrivals (abandoners count as not met)"),
    "answered_within_t/answered": "contacts answered within t over answered contacts",
    "answered_within_t/arrivals_excl_abandoned_within_t": (
        "contacts answered within t over arrivals minus contacts that abandoned within t "
        "(short abandons excluded from the denominator)"
    ),
    "answered_or_abandoned_within_t/all_arrivals": (
        "contacts answered or abandoned within t over all arrivals (short abandons count as met)"
    ),
}
DEFAULT_SL_DEFINITION = "answered_within_t/all_arrivals"

_TAIL_LOG_DROP = 45.0  # truncate the queue tail once pi_k < exp(-45) * max pi (about 3e-20)


# -- validation --------------------------------------------------------------------------------
def _positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise DesignError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _nonneg(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"{name} must be a non-negative number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise DesignError(f"{name} must be a non-negative finite number, got {value!r}")
    return v


def _agents(value: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise DesignError(f"agents must be a positive integer (at least 1), got {value!r}")
    return int(value)


def _definition(definition: str) -> str:
    if definition not in SL_DEFINITIONS:
        raise DesignError(f"sl_definition {definition!r} is unknown; use one of {sorted(SL_DEFINITIONS)}")
    return definition


# -- Erlang B ----------------------------------------------------------------------------------
def _log_weights_up_to(load: float, n: int) -> np.ndarray:
    """log of A**k / k! for k = 0..n (unnormalised M/M/n probabilities)."""
    k = np.arange(n + 1, dtype=float)
    return k * math.log(load) - special.gammaln(k + 1.0)


def erlang_b(load: float, agents: int) -> float:
    """Erlang B blocking probability of an M/M/n/n loss system.

    Parameters
    ----------
    load : float
        Offered load in Erlangs (arrival rate times mean handle time).
    agents : int
        Number of servers (at least 1).

    Returns
    -------
    float
        Probability that an arrival finds all agents busy.

    Examples
    --------
    >>> round(erlang_b(10.0, 12), 6)
    0.119739
    """
    a = _positive("load", load)
    n = _agents(agents)
    lw = _log_weights_up_to(a, n)
    return float(math.exp(lw[-1] - special.logsumexp(lw)))


# -- shared result behaviour --------------------------------------------------------------------
class _ResultMixin:
    _title = "Queue"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of the result's scalar fields."""
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}  # type: ignore[call-overload]
        return jsonable(d)

    def summary(self) -> Summary:
        """A :class:`servicelab.Summary` with one row per measure."""
        d = self.to_dict()
        inputs = ("model", "arrivals_per_hour", "aht_s", "agents", "patience_s", "sl_definition")
        info = {k: d[k] for k in inputs if k in d}
        rows = [
            {"measure": k, "value": v}
            for k, v in d.items()
            if k not in inputs and isinstance(v, int | float) and not isinstance(v, bool)
        ]
        notes = []
        if "sl_definition" in d:
            notes.append(f"service level = {SL_DEFINITIONS[d['sl_definition']]}")
        return Summary(self._title, pd.DataFrame(rows), info=info, notes=notes)


# -- Erlang C ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ErlangCResult(_ResultMixin):
    """Exact M/M/n (Erlang C) measures.

    Attributes
    ----------
    load : float
        Offered load ``A`` in Erlangs.
    p_wait : float
        Probability that an arrival waits (the Erlang C formula).
    asa_s : float
        Average speed of answer: mean wait of all contacts (all are answered).
    mean_wait_of_waiters_s : float
        Mean wait of the contacts that wait.
    lq : float
        Mean number waiting.
    occupancy : float
        Mean fraction of agents busy, ``A / n``.
    service_level : float
        At ``sl_threshold_s`` under ``sl_definition`` (all definitions coincide here).
    """

    model: str
    arrivals_per_hour: float
    aht_s: float
    agents: int
    load: float
    p_wait: float
    asa_s: float
    mean_wait_of_waiters_s: float
    lq: float
    occupancy: float
    sl_threshold_s: float
    sl_definition: str
    service_level: float
    _title = "Erlang C (M/M/n, no abandonment)"

    def service_level_at(self, threshold_s: float, definition: str = DEFAULT_SL_DEFINITION) -> float:
        """Service level at ``threshold_s``; without abandonment every definition gives
        ``1 - C exp(-(n mu - lambda) t)``."""
        _definition(definition)
        t = _nonneg("threshold_s", threshold_s)
        gap = self.agents / self.aht_s - self.arrivals_per_hour / 3600.0
        return float(1.0 - self.p_wait * math.exp(-gap * t))


def erlang_c(
    arrivals_per_hour: float,
    aht_s: float,
    agents: int,
    sl_threshold_s: float = 20.0,
    sl_definition: str = DEFAULT_SL_DEFINITION,
) -> ErlangCResult:
    """Exact Erlang C (M/M/n) measures.

    Parameters
    ----------
    arrivals_per_hour : float
        Poisson arrival rate per hour.
    aht_s : float
        Mean (exponential) handle time in seconds.
    agents : int
        Agents in the pool.
    sl_threshold_s : float
        Service-level threshold ``t`` in seconds.
    sl_definition : str
        A key of :data:`SL_DEFINITIONS` (named in the result).

    Raises
    ------
    UnstableQueueError
        When the offered load is at or above the number of agents. Erlang C has no
        steady state there; use :func:`erlang_a` with a patience.

    Examples
    --------
    >>> r = erlang_c(6000, 300, 520)
    >>> round(r.p_wait, 4)
    0.2748
    """
    lam_h = _positive("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    t = _nonneg("sl_threshold_s", sl_threshold_s)
    _definition(sl_definition)
    lam = lam_h / 3600.0
    load = lam * aht
    if load >= n:
        raise UnstableQueueError(
            f"offered load {load:.2f} Erlangs is at or above agents={n}: Erlang C has no steady "
            "state (the queue grows without bound). Add agents, or use erlang_a(..., patience_s=...) "
            "(Erlang A, M/M/n+M), which models abandonment and is stable at any load."
        )
    b = erlang_b(load, n)
    rho = load / n
    c = b / (1.0 - rho * (1.0 - b))
    gap = n / aht - lam  # n mu - lambda, per second
    asa = c / gap
    sl = 1.0 - c * math.exp(-gap * t)
    return ErlangCResult(
        model="erlang_c",
        arrivals_per_hour=lam_h,
        aht_s=aht,
        agents=n,
        load=load,
        p_wait=float(c),
        asa_s=float(asa),
        mean_wait_of_waiters_s=float(1.0 / gap),
        lq=float(lam * asa),
        occupancy=float(rho),
        sl_threshold_s=t,
        sl_definition=sl_definition,
        service_level=float(sl),
    )


# -- Erlang A ----------------------------------------------------------------------------------
def _erlang_a_distribution(lam: float, mu: float, theta: float, n: int) -> tuple[np.ndarray, int]:
    """Stationary probabilities pi_0..pi_K of the M/M/n+M birth-death chain (tail truncated)."""
    load = lam / mu
    lw_low = _log_weights_up_to(load, n)
    # queue part: log pi_{n+j} = log pi_n + sum_{i<=j} log(lam / (n mu + i theta))
    chunks = [lw_low]
    last = lw_low[-1]
    running_max = float(lw_low.max())
    start = 1
    size = max(256, min(1 << 16, 4 * n))
    j_peak = max(0.0, (lam - n * mu) / theta)  # terms grow until n mu + j theta > lam
    while True:
        j = np.arange(start, start + size, dtype=float)
        inc = math.log(lam) - np.log(n * mu + j * theta)
        lw = last + np.cumsum(inc)
        chunks.append(lw)
        running_max = max(running_max, float(lw.max()))
        last = float(lw[-1])
        start += size
        if start > j_peak and last < running_max - _TAIL_LOG_DROP:
            break
        size = min(size * 2, 1 << 20)
    lw_all = np.concatenate(chunks)
    # trim the negligible tail
    keep = np.nonzero(lw_all >= running_max - _TAIL_LOG_DROP)[0]
    k_max = max(int(keep[-1]), n)
    lw_all = lw_all[: k_max + 1]
    pi = np.exp(lw_all - special.logsumexp(lw_all))
    return pi, n


@dataclass(frozen=True)
class ErlangAResult(_ResultMixin):
    """Exact M/M/n+M (Erlang A, Palm) measures with exponential patience.

    Attributes
    ----------
    p_wait : float
        Probability that an arrival waits (finds all agents busy).
    p_abandon : float
        Probability that an arrival abandons.
    asa_answered_s : float
        Mean wait of answered contacts.
    mean_wait_all_s : float
        Mean time in queue over all arrivals (abandoners' waits included), ``Lq / lambda``.
    lq : float
        Mean number waiting.
    occupancy : float
        Mean fraction of agents busy, ``lambda (1 - P(ab)) AHT / n``.
    service_level : float
        At ``sl_threshold_s`` under ``sl_definition``.
    p_virtual_wait_le_t : float
        P(virtual wait <= ``sl_threshold_s``): the wait an infinitely patient arrival would have.
    """

    model: str
    arrivals_per_hour: float
    aht_s: float
    agents: int
    patience_s: float
    load: float
    p_wait: float
    p_abandon: float
    asa_answered_s: float
    mean_wait_all_s: float
    lq: float
    occupancy: float
    sl_threshold_s: float
    sl_definition: str
    service_level: float
    p_virtual_wait_le_t: float
    _pi_queue: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    _title = "Erlang A (M/M/n+M, exponential patience)"

    # the tagged-customer pieces, m = number found waiting ahead = 0, 1, ...
    def _rates(self) -> tuple[float, float]:
        return self.agents / self.aht_s, 1.0 / self.patience_s

    def _p_answered_within(self, t: float) -> float:
        nmu, theta = self._rates()
        m = np.arange(self._pi_queue.size, dtype=float)
        p_served = nmu / (nmu + (m + 1.0) * theta)
        x = -math.expm1(-theta * t)
        cdf = special.betainc(m + 1.0, nmu / theta + 1.0, x) if t > 0 else np.zeros_like(m)
        return float((1.0 - self.p_wait) + np.sum(self._pi_queue * p_served * cdf))

    def _p_virtual_within(self, t: float) -> float:
        nmu, theta = self._rates()
        m = np.arange(self._pi_queue.size, dtype=float)
        x = -math.expm1(-theta * t)
        cdf = special.betainc(m + 1.0, nmu / theta, x) if t > 0 else np.zeros_like(m)
        return float((1.0 - self.p_wait) + np.sum(self._pi_queue * cdf))

    def _p_abandoned_within(self, t: float) -> float:
        nmu, theta = self._rates()
        m = np.arange(self._pi_queue.size, dtype=float)
        x = -math.expm1(-theta * t)
        if t <= 0:
            return 0.0
        p_served = nmu / (nmu + (m + 1.0) * theta)
        virt = special.betainc(m + 1.0, nmu / theta, x)
        served_cdf = special.betainc(m + 1.0, nmu / theta + 1.0, x)
        # left the queue by t = 1 - P(no abandonment yet and stages not done)
        left = 1.0 - math.exp(-theta * t) * (1.0 - virt)
        return float(np.sum(self._pi_queue * (left - p_served * served_cdf)))

    def p_virtual_wait_le(self, threshold_s: float) -> float:
        """P(virtual wait <= ``threshold_s``): the wait of a hypothetical infinitely patient arrival."""
        return self._p_virtual_within(_nonneg("threshold_s", threshold_s))

    def p_abandon_within(self, threshold_s: float) -> float:
        """Probability that an arrival abandons within ``threshold_s`` seconds."""
        return self._p_abandoned_within(_nonneg("threshold_s", threshold_s))

    def service_level_at(self, threshold_s: float, definition: str = DEFAULT_SL_DEFINITION) -> float:
        """Service level at ``threshold_s`` under ``definition`` (a key of :data:`SL_DEFINITIONS`).

        Examples
        --------
        >>> r = erlang_a(6000, 300, 520, patience_s=120)
        >>> round(r.service_level_at(20), 4)
        0.9924
        """
        _definition(definition)
        t = _nonneg("threshold_s", threshold_s)
        answered = self._p_answered_within(t)
        if definition == "answered_within_t/all_arrivals":
            return answered
        if definition == "answered_within_t/answered":
            return answered / (1.0 - self.p_abandon)
        abandoned = self._p_abandoned_within(t)
        if definition == "answered_within_t/arrivals_excl_abandoned_within_t":
            return answered / (1.0 - abandoned)
        return answered + abandoned  # answered_or_abandoned_within_t/all_arrivals


def erlang_a(
    arrivals_per_hour: float,
    aht_s: float,
    agents: int,
    patience_s: float,
    sl_threshold_s: float = 20.0,
    sl_definition: str = DEFAULT_SL_DEFINITION,
) -> ErlangAResult:
    """Exact Erlang A (M/M/n+M) measures: Poisson arrivals, exponential handle times and
    exponential patience with mean ``patience_s``.

    Parameters
    ----------
    arrivals_per_hour : float
        Poisson arrival rate per hour.
    aht_s : float
        Mean handle time in seconds.
    agents : int
        Agents in the pool.
    patience_s : float
        Mean patience in seconds (abandonment rate ``1 / patience_s``).
    sl_threshold_s : float
        Service-level threshold in seconds.
    sl_definition : str
        A key of :data:`SL_DEFINITIONS`; the default counts abandoners as not answered
        in time over all arrivals.

    Examples
    --------
    >>> r = erlang_a(6000, 300, 520, patience_s=120)
    >>> round(r.p_wait, 3), round(r.p_abandon, 4)
    (0.154, 0.0067)
    """
    lam_h = _positive("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    pat = _positive("patience_s", patience_s)
    t = _nonneg("sl_threshold_s", sl_threshold_s)
    _definition(sl_definition)
    lam, mu, theta = lam_h / 3600.0, 1.0 / aht, 1.0 / pat
    pi, _ = _erlang_a_distribution(lam, mu, theta, n)
    pi_queue = pi[n:]
    p_wait = float(pi_queue.sum())
    m = np.arange(pi_queue.size, dtype=float)
    lq = float(np.sum(m * pi_queue))
    nmu = n * mu
    p_served_m = nmu / (nmu + (m + 1.0) * theta)
    p_abandon = float(np.sum(pi_queue * (1.0 - p_served_m)))
    h = np.cumsum(1.0 / (nmu + (m + 1.0) * theta))  # mean stage time sum
    served_wait = float(np.sum(pi_queue * p_served_m * h))
    asa = served_wait / (1.0 - p_abandon)
    busy = float(np.sum(np.minimum(np.arange(pi.size), n) * pi))
    base = ErlangAResult(
        model="erlang_a",
        arrivals_per_hour=lam_h,
        aht_s=aht,
        agents=n,
        patience_s=pat,
        load=lam * aht,
        p_wait=p_wait,
        p_abandon=p_abandon,
        asa_answered_s=asa,
        mean_wait_all_s=lq / lam,
        lq=lq,
        occupancy=min(1.0, busy / n),
        sl_threshold_s=t,
        sl_definition=sl_definition,
        service_level=float("nan"),
        p_virtual_wait_le_t=float("nan"),
        _pi_queue=pi_queue,
    )
    return _replace(
        base,
        service_level=base.service_level_at(t, sl_definition),
        p_virtual_wait_le_t=base.p_virtual_wait_le(t),
    )


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


# -- approximations ----------------------------------------------------------------------------
def _log_hazard(x: float) -> float:
    """log of the standard normal hazard phi(x) / (1 - Phi(x)), stable in both tails."""
    return float(stats.norm.logpdf(x) - stats.norm.logsf(x))


def _hazard(x: float) -> float:
    """Standard normal hazard phi(x) / (1 - Phi(x))."""
    return math.exp(_log_hazard(x))


def _hw_p_wait(beta: float) -> float:
    """Halfin-Whitt delay probability [1 + beta / h(-beta)]^-1 for beta > 0, in log space."""
    return float(special.expit(-(math.log(beta) - _log_hazard(-beta))))


def _gmr_p_wait(beta: float, r: float) -> float:
    """GMR delay probability [1 + h(beta r) / (r h(-beta))]^-1, in log space."""
    return float(special.expit(-(_log_hazard(beta * r) - math.log(r) - _log_hazard(-beta))))


@dataclass(frozen=True)
class HalfinWhittApproximation(_ResultMixin):
    """Halfin–Whitt (QED regime) approximation of Erlang C.

    ``beta = (n - A) / sqrt(A)``, ``P(wait) ~ [1 + beta Phi(beta) / phi(beta)]^-1``.
    """

    model: str
    arrivals_per_hour: float
    aht_s: float
    agents: int
    load: float
    beta: float
    p_wait: float
    _title = "Halfin-Whitt approximation (Erlang C)"


def halfin_whitt(arrivals_per_hour: float, aht_s: float, agents: int) -> HalfinWhittApproximation:
    """Halfin–Whitt approximation of the Erlang C delay probability.

    Examples
    --------
    >>> round(halfin_whitt(6000, 300, 520).p_wait, 3)
    0.269
    """
    lam_h = _positive("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    load = lam_h / 3600.0 * aht
    beta = (n - load) / math.sqrt(load)
    if beta <= 0:
        raise UnstableQueueError(
            f"Halfin-Whitt needs agents > load ({n} <= {load:.2f}); use "
            "garnett_mandelbaum_reiman(...) or erlang_a(...) with a patience for overloaded pools."
        )
    p = _hw_p_wait(beta)
    return HalfinWhittApproximation("halfin_whitt", lam_h, aht, n, load, beta, p)


@dataclass(frozen=True)
class GMRApproximation(_ResultMixin):
    """Garnett–Mandelbaum–Reiman (2002) QED approximation of Erlang A.

    With ``beta = (n - A) / sqrt(A)``, ``r = sqrt(mu / theta)`` and ``h`` the standard normal
    hazard: ``P(wait) ~ [1 + h(beta r) / (r h(-beta))]^-1`` and
    ``P(ab | wait) ~ (h(beta r) - beta r) / (r sqrt(n))``.
    """

    model: str
    arrivals_per_hour: float
    aht_s: float
    agents: int
    patience_s: float
    load: float
    beta: float
    p_wait: float
    p_abandon: float
    _title = "Garnett-Mandelbaum-Reiman approximation (Erlang A)"


def garnett_mandelbaum_reiman(
    arrivals_per_hour: float, aht_s: float, agents: int, patience_s: float
) -> GMRApproximation:
    """Garnett–Mandelbaum–Reiman approximation of Erlang A (valid at any load).

    Examples
    --------
    >>> round(garnett_mandelbaum_reiman(6000, 300, 520, 120).p_wait, 2)
    0.15
    """
    lam_h = _positive("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    pat = _positive("patience_s", patience_s)
    load = lam_h / 3600.0 * aht
    beta = (n - load) / math.sqrt(load)
    r = math.sqrt(pat / aht)  # sqrt(mu / theta)
    hb = _hazard(beta * r)
    p_wait = _gmr_p_wait(beta, r)
    p_ab_given_wait = (hb - beta * r) / (r * math.sqrt(n))
    return GMRApproximation(
        "garnett_mandelbaum_reiman", lam_h, aht, n, pat, load, beta, p_wait, p_wait * p_ab_given_wait
    )


@dataclass(frozen=True)
class SquareRootStaffing(_ResultMixin):
    """Square-root staffing ``n = ceil(A + beta sqrt(A))``."""

    model: str
    arrivals_per_hour: float
    aht_s: float
    load: float
    beta: float
    agents: int
    target_p_wait: float | None
    _title = "Square-root staffing"


def square_root_staffing(
    arrivals_per_hour: float,
    aht_s: float,
    beta: float | None = None,
    target_p_wait: float | None = None,
    patience_s: float | None = None,
) -> SquareRootStaffing:
    """Square-root staffing rule ``n = ceil(A + beta sqrt(A))``.

    Give either ``beta`` (the quality-of-service parameter) or ``target_p_wait``, in which
    case ``beta`` solves the Halfin–Whitt equation (or the Garnett–Mandelbaum–Reiman one
    when ``patience_s`` is given; ``beta`` may then be negative, staffing below the load).

    Examples
    --------
    >>> square_root_staffing(6000, 300, beta=1.0).agents
    523
    """
    lam_h = _positive("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    load = lam_h / 3600.0 * aht
    if (beta is None) == (target_p_wait is None):
        raise DesignError("square_root_staffing needs exactly one of beta or target_p_wait")
    if target_p_wait is not None:
        alpha = float(target_p_wait)
        if not 0.0 < alpha < 1.0:
            raise DesignError(f"target_p_wait must lie in (0, 1), got {target_p_wait!r}")
        from scipy.optimize import brentq

        if patience_s is None:

            def f(b: float) -> float:
                return _hw_p_wait(b) - alpha

            beta = brentq(f, 1e-9, 40.0)
        else:
            r = math.sqrt(_positive("patience_s", patience_s) / aht)

            def g(b: float) -> float:
                return _gmr_p_wait(b, r) - alpha

            beta = brentq(g, -30.0, 30.0)
    b = float(beta)  # type: ignore[arg-type]
    if not math.isfinite(b):
        raise DesignError(f"beta must be finite, got {beta!r}")
    agents = max(1, math.ceil(load + b * math.sqrt(load) - 1e-9))
    return SquareRootStaffing("square_root", lam_h, aht, load, b, agents, target_p_wait)
