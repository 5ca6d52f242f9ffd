"""Exact queueing formulas for a single pool of agents: Erlang B, Erlang C and Erlang A.

Everything is computed in log space from the birth-death chain of the number of contacts in
the system, and only over the *window* of states that carries the probability: the chain is
unimodal, so starting at its mode and summing log birth/death ratios outwards until a state's
weight falls below ``exp(-45)`` (about ``3e-20``) of the mode's gives every measure to that
accuracy with memory and time that depend on the spread of the distribution (about
``sqrt(load)`` states), not on the number of agents or the load. 10,000 agents take a few
hundred states, 1e9 agents at a small load a few dozen, and an offered load of 1e8 Erlangs about
1e5. A window that would need more than :data:`MAX_STATES` states (a load above about 1e11
Erlangs, or a nearly critical pool whose patience is millions of handle times) is refused with a
:class:`~servicelab.errors.DesignError` that says so, never truncated silently.

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

Service level
-------------
Every function takes ``service_level``: a :class:`~simulation.service_level.ServiceLevel` (the
threshold, the denominator and what short abandons count as), or a number of seconds for the
default definition (answered within that many seconds over all offered contacts). Every result
names it (``service_level_definition``, and :meth:`ServiceLevel.describe` in its summary). The
former string names (``sl_definition="answered_within_t/all_arrivals"`` and three more) and the
``sl_threshold_s=`` keyword still work, with a ``DeprecationWarning``; they convert with
:meth:`ServiceLevel.from_legacy`.

Zero arrivals are allowed: nobody waits, the service level is 1 and the occupancy 0.

Units: arrival rates are per hour (``arrivals_per_hour``), times in seconds
(``aht_s``, ``patience_s``, ``ServiceLevel.threshold_s``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from servicelab.errors import DesignError, UnstableQueueError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

from .service_level import LEGACY_SL_NAMES, ServiceLevel

__all__ = [
    "MAX_STATES",
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
    "resolve_service_level",
    "square_root_staffing",
]

DEFAULT_SL_DEFINITION = "answered_within_t/all_arrivals"  # deprecated: the default is ServiceLevel(t)

_TAIL_LOG_DROP = 45.0  # a state is negligible once pi_k < exp(-45) * max pi (about 3e-20)
#: The most states of the birth-death chain one evaluation may hold (about 64 MB per array).
MAX_STATES = 1 << 23


def __getattr__(name: str) -> Any:
    if name == "SL_DEFINITIONS":
        warnings.warn(
            "simulation.analytic.SL_DEFINITIONS is deprecated: pass a simulation.ServiceLevel "
            "(ServiceLevel.from_legacy(name, t) converts a former name)",
            DeprecationWarning,
            stacklevel=2,
        )
        return {k: ServiceLevel.from_legacy(k, 20.0).describe().replace("20 s", "t") for k in LEGACY_SL_NAMES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- validation --------------------------------------------------------------------------------
def _number(name: str, value: float, *, positive: bool) -> float:
    kind = "positive" if positive else "non-negative"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DesignError(f"{name} must be a {kind} number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise DesignError(f"{name} must be a {kind} finite number, got {value!r}")
    return v


def _positive(name: str, value: float) -> float:
    return _number(name, value, positive=True)


def _nonneg(name: str, value: float) -> float:
    return _number(name, value, positive=False)


def _agents(value: int) -> int:
    if isinstance(value, bool):
        raise DesignError(f"agents must be a positive integer (at least 1), got {value!r}")
    try:
        ok = float(value).is_integer() and int(value) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise DesignError(f"agents must be a positive integer (at least 1), got {value!r}")
    return int(value)


def resolve_service_level(
    service_level: ServiceLevel | float | None = None,
    sl_definition: str | None = None,
    sl_threshold_s: float | None = None,
    *,
    stacklevel: int = 3,
) -> ServiceLevel:
    """The :class:`ServiceLevel` meant by the arguments of an Erlang or staffing function.

    ``service_level`` is a ServiceLevel, or a number (the threshold in seconds of the default
    definition, answered within it over all offered contacts), or ``None`` (20 s). The
    deprecated ``sl_definition`` (a former string name) and ``sl_threshold_s`` still work and
    warn.

    Examples
    --------
    >>> resolve_service_level(30).key
    'sl_30s'
    """
    if sl_threshold_s is not None:
        warnings.warn(
            "sl_threshold_s= is deprecated: pass service_level=ServiceLevel(threshold_s, ...) or "
            "service_level=<seconds>",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        if isinstance(service_level, ServiceLevel):
            raise DesignError("give the threshold in service_level only (sl_threshold_s is its deprecated form)")
        service_level = _nonneg("sl_threshold_s", sl_threshold_s)
    if sl_definition is not None:
        warnings.warn(
            f"sl_definition={sl_definition!r} is deprecated: pass service_level=ServiceLevel(...) "
            f"(ServiceLevel.from_legacy({sl_definition!r}, t) is the same definition)",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
        if isinstance(service_level, ServiceLevel):
            raise DesignError("give either service_level=ServiceLevel(...) or the deprecated sl_definition, not both")
        t = 20.0 if service_level is None else _nonneg("service_level threshold", service_level)
        return ServiceLevel.from_legacy(sl_definition, t)
    if service_level is None:
        return ServiceLevel(20.0)
    if isinstance(service_level, ServiceLevel):
        return service_level
    if isinstance(service_level, str):
        raise DesignError(
            f"service_level must be a ServiceLevel or a threshold in seconds, got the string {service_level!r}; "
            "a former sl_definition name converts with ServiceLevel.from_legacy(name, threshold_s)"
        )
    return ServiceLevel(_nonneg("service_level threshold", service_level))


# -- the birth-death chain, over its window ---------------------------------------------------
@dataclass(frozen=True)
class _Window:
    """log pi_k (normalised) for k = lo .. lo + len(log_pi) - 1; states outside are negligible."""

    lo: int
    log_pi: np.ndarray

    @property
    def hi(self) -> int:
        return self.lo + self.log_pi.size - 1


def _log_ratios(k: np.ndarray, lam: float, mu: float, theta: float, n: int) -> np.ndarray:
    """log(pi_k / pi_{k-1}) = log(lambda / death rate of state k), for k >= 1."""
    death = np.minimum(k, n) * mu + np.maximum(k - n, 0) * theta
    return math.log(lam) - np.log(death)


def _chain_window(lam: float, mu: float, theta: float, n: int, upper: int | None) -> _Window:
    """The states of the M/M/n+M chain (``theta = 0``: M/M/n) that carry the probability.

    ``upper`` caps the states (``n`` for the loss system of Erlang B). The chain is log-concave
    (constant birth rate, non-decreasing death rate), so its largest weight is at the mode and
    the weights fall monotonically on both sides; the window grows outwards from the mode in
    doubling chunks until both ends are ``exp(-45)`` below it.
    """
    load = lam / mu
    mode = min(n, math.floor(load)) if load <= n or theta <= 0 else n + math.floor((lam - n * mu) / theta)
    if upper is not None:
        mode = min(mode, upper)
    _predict_states(mode, lam, mu, theta, n, upper)
    spread = math.sqrt(max(load, lam / theta if theta > 0 and load > n else 0.0, 1.0))
    size = int(min(MAX_STATES, 64 + 12 * spread))
    # upwards from the mode: log w(mode + j) = cumsum of log ratios
    up: list[np.ndarray] = []
    last, top, step = 0.0, mode, size
    while upper is None or top < upper:
        stop = top + step if upper is None else min(top + step, upper)
        k = np.arange(top + 1, stop + 1, dtype=float)
        lw = last + np.cumsum(_log_ratios(k, lam, mu, theta, n))
        up.append(lw)
        last, top = float(lw[-1]), stop
        if last < -_TAIL_LOG_DROP:
            break
        step = min(2 * step, MAX_STATES)
        _check_states(sum(a.size for a in up), lam, mu, theta, n)
    # downwards from the mode: log w(k - 1) = log w(k) - log ratio(k)
    down: list[np.ndarray] = []
    last, bottom, step = 0.0, mode, size
    while bottom > 0:
        stop = max(bottom - step, 0)
        k = np.arange(bottom, stop, -1, dtype=float)  # bottom, bottom-1, ..., stop+1
        lw = last - np.cumsum(_log_ratios(k, lam, mu, theta, n))  # weights of k - 1
        down.append(lw)
        last, bottom = float(lw[-1]), stop
        if last < -_TAIL_LOG_DROP:
            break
        step = min(2 * step, MAX_STATES)
        _check_states(sum(a.size for a in up) + sum(a.size for a in down), lam, mu, theta, n)
    low = np.concatenate(down)[::-1] if down else np.zeros(0)
    lw_all = np.concatenate([low, [0.0], *up])
    lo = mode - low.size
    keep = np.nonzero(lw_all >= -_TAIL_LOG_DROP)[0]
    a, b = int(keep[0]), int(keep[-1])
    lw_all = lw_all[a : b + 1]
    return _Window(lo + a, lw_all - math.log(np.exp(lw_all).sum()))  # the mode's weight is exp(0) = 1


def _predict_states(mode: int, lam: float, mu: float, theta: float, n: int, upper: int | None) -> None:
    """Refuse at once when the window cannot fit in :data:`MAX_STATES` states.

    Log-concavity: over the ``D`` states above the mode the log weight falls by at most ``D``
    times the log ratio at the far end, so if even that falls short of the cut-off the window is
    wider than ``D`` (likewise below the mode).
    """

    def log_ratio(k: int) -> float:
        return math.log(lam) - math.log(min(k, n) * mu + max(k - n, 0) * theta)

    d = MAX_STATES // 2
    k_up = mode + d
    if (upper is None or k_up < upper) and -d * log_ratio(k_up) < _TAIL_LOG_DROP:
        _check_states(MAX_STATES + 1, lam, mu, theta, n)
    k_down = mode - d + 1
    if k_down >= 1 and d * log_ratio(k_down) < _TAIL_LOG_DROP:
        _check_states(MAX_STATES + 1, lam, mu, theta, n)


def _check_states(count: int, lam: float, mu: float, theta: float, n: int) -> None:
    if count > MAX_STATES:
        what = f"offered load {lam / mu:.4g} Erlangs with {n} agents"
        if theta > 0:
            what += f" and mean patience {1 / theta:.4g} s"
        raise DesignError(
            f"the exact Erlang formula needs more than {MAX_STATES:,} states of the queue's "
            f"distribution for {what}; refusing rather than truncating. Use halfin_whitt(...) / "
            "garnett_mandelbaum_reiman(...) (QED approximations, exact in this limit) or "
            "square_root_staffing(...)."
        )


def _betainc_run(a: np.ndarray, b: float, x: float) -> np.ndarray:
    """``special.betainc(a, b, x)`` for consecutive ``a = a0, a0 + 1, ...`` (a queue window).

    Long runs use the recurrence ``I(a) - I(a + 1) = t(a)`` with ``t(a + 1) / t(a) = x (a + b) /
    (a + 1)``: the terms come from one cumulative sum of log ratios, scaled so that they add up to
    ``I(a_first) - I(a_last)`` (two exact ``betainc`` calls), and ``I(a) = I(a_last) + sum_{k >= a}
    t(k)`` adds positive terms only (no cancellation). The value at the terms' peak is checked
    against an exact ``betainc`` call (to 1e-8, about ``betainc``'s own accuracy at these sizes);
    if it disagrees the run is evaluated directly. About 50 times faster than the direct call on
    the 1e5-state windows of a 1e8-Erlang queue.
    """
    n = a.size
    if n < 2048 or not 0 < x < 1:
        return special.betainc(a, b, x)
    log_ratio = math.log(x) + np.log((a[:-1] + b) / (a[:-1] + 1.0))
    log_t = np.concatenate([[0.0], np.cumsum(log_ratio)])
    j0 = int(np.argmax(log_t))
    rel = np.exp(log_t - log_t[j0])
    first, last, peak = (float(v) for v in special.betainc(a[[0, -1, j0]], b, x))
    total = float(rel[:-1].sum())
    if first > last and total > 0:
        terms = rel * ((first - last) / total)
        out = last + np.concatenate([np.cumsum(terms[-2::-1])[::-1], [0.0]])
        if abs(out[j0] - peak) < 1e-8:
            return np.clip(out, 0.0, 1.0)
    return special.betainc(a, b, x)


# -- Erlang B ----------------------------------------------------------------------------------
def erlang_b(load: float, agents: int) -> float:
    """Erlang B blocking probability of an M/M/n/n loss system.

    Parameters
    ----------
    load : float
        Offered load in Erlangs (arrival rate times mean handle time), >= 0.
    agents : int
        Number of servers (at least 1).

    Returns
    -------
    float
        Probability that an arrival finds all agents busy (values below about 1e-19 are 0).

    Examples
    --------
    >>> round(erlang_b(10.0, 12), 6)
    0.119739
    >>> erlang_b(10.0, 10**9)
    0.0
    """
    a = _nonneg("load", load)
    n = _agents(agents)
    if a == 0:
        return 0.0
    w = _chain_window(a, 1.0, 0.0, n, upper=n)
    return float(math.exp(w.log_pi[-1])) if w.hi == n else 0.0


# -- shared result behaviour --------------------------------------------------------------------
class _ResultMixin(ResultMixin):
    _title = "Queue"
    _inputs = ("model", "arrivals_per_hour", "aht_s", "agents", "patience_s")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary of the result's fields (the service level named)."""
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:  # type: ignore[attr-defined]
            if k.startswith("_"):
                continue
            v = getattr(self, k)
            d[k] = v.to_dict() if isinstance(v, ServiceLevel) else v
        if isinstance(getattr(self, "service_level_definition", None), ServiceLevel):
            d["sl_threshold_s"] = self.service_level_definition.threshold_s  # type: ignore[attr-defined]
        return jsonable(d)

    def summary(self) -> Summary:
        """A :class:`servicelab.Summary` with one row per measure."""
        d = self.to_dict()
        info = {k: d[k] for k in self._inputs if k in d}
        rows = [
            {"measure": k, "value": v}
            for k, v in d.items()
            if k not in self._inputs and k != "sl_threshold_s" and isinstance(v, int | float)
            and not isinstance(v, bool)
        ]
        notes = []
        sl = getattr(self, "service_level_definition", None)
        if isinstance(sl, ServiceLevel):
            info["service level"] = sl.describe()
            notes.append(f"service level = {sl.describe()}")
        return Summary(self._title, pd.DataFrame(rows), info=info, notes=notes)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Exact formulas carry no estimation checks; the tuple is empty."""
        return ()

    def _curve(self) -> tuple[str, np.ndarray, dict[str, np.ndarray], float]:
        """(x label, x values, {measure: y values}, this result's x) for :meth:`plot`."""
        n = int(self.agents)  # type: ignore[attr-defined]
        lo = max(math.floor(self.load) + 1, n - 15)  # type: ignore[attr-defined]
        ns = np.arange(lo, max(lo + 2, n + 16))
        out: dict[str, list[float]] = {}
        for k in ns:
            r = self._at_agents(int(k))
            for name in ("p_wait", "p_abandon"):
                if hasattr(r, name):
                    out.setdefault(name, []).append(getattr(r, name))
        return "agents", ns, {k: np.asarray(v) for k, v in out.items()}, float(n)

    def _at_agents(self, n: int) -> Any:
        raise NotImplementedError

    def plot(self, ax: Any = None) -> Any:
        """The headline measures around this result (service level by threshold, or delay
        probability by agents), this result marked.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        xlabel, x, ys, here = self._curve()
        for name, y in ys.items():
            ax.plot(x, y, label=name)
        ax.axvline(here, color="tab:red", lw=1, ls="--", label="this result")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.set_title(self._title)
        ax.legend(fontsize=8)
        return ax

    @property
    def sl_threshold_s(self) -> float:
        """The service-level threshold in seconds (``service_level_definition.threshold_s``)."""
        return self.service_level_definition.threshold_s  # type: ignore[attr-defined]

    @property
    def sl_definition(self) -> str | None:
        """Deprecated: the former string name of ``service_level_definition`` (or None)."""
        warnings.warn(
            "result.sl_definition is deprecated: read result.service_level_definition (a ServiceLevel)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.service_level_definition.legacy_name  # type: ignore[attr-defined]


def _at(result: Any, service_level: ServiceLevel | float | None, definition: str | None) -> ServiceLevel:
    """The definition ``service_level_at`` evaluates: a number is a threshold for the result's own
    definition; a legacy string keeps working (deprecated).
    """
    if definition is not None:
        t = result.service_level_definition.threshold_s if service_level is None else service_level
        return resolve_service_level(_nonneg("threshold_s", t), definition, stacklevel=4)
    if service_level is None:
        return result.service_level_definition
    if isinstance(service_level, ServiceLevel):
        return service_level
    return result.service_level_definition.with_threshold(_nonneg("threshold_s", service_level))


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
        Under ``service_level_definition`` (without abandonment all definitions coincide).
    service_level_definition : ServiceLevel
        What ``service_level`` means.
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
    service_level: float
    service_level_definition: ServiceLevel
    _title = "Erlang C (M/M/n, no abandonment)"

    def _curve(self) -> tuple[str, np.ndarray, dict[str, np.ndarray], float]:
        t0 = self.service_level_definition.threshold_s
        ts = np.linspace(0.0, max(3.0 * t0, 60.0), 61)
        sl = [self.service_level_at(float(t)) for t in ts]
        return "threshold (s)", ts, {"service level": np.asarray(sl)}, t0

    def service_level_at(
        self, service_level: ServiceLevel | float | None = None, definition: str | None = None
    ) -> float:
        """Service level under another definition or threshold (a number: this result's
        definition at that threshold). Without abandonment every definition gives
        ``1 - C exp(-(n mu - lambda) t)``; ``definition`` (a former string name) is deprecated.
        """
        sl = _at(self, service_level, definition)
        gap = self.agents / self.aht_s - self.arrivals_per_hour / 3600.0
        within = 1.0 - self.p_wait * math.exp(-gap * sl.threshold_s)
        return sl.from_probabilities(within, 1.0, lambda _t: 0.0)  # no abandonment in Erlang C


def erlang_c(
    arrivals_per_hour: float,
    aht_s: float,
    agents: int,
    service_level: ServiceLevel | float | None = None,
    sl_definition: str | None = None,
    *,
    sl_threshold_s: float | None = None,
) -> ErlangCResult:
    """Exact Erlang C (M/M/n) measures.

    Parameters
    ----------
    arrivals_per_hour : float
        Poisson arrival rate per hour (>= 0).
    aht_s : float
        Mean (exponential) handle time in seconds.
    agents : int
        Agents in the pool.
    service_level : ServiceLevel or float, optional
        The service-level definition (named in the result); a number is the threshold in
        seconds of ``ServiceLevel(t)``; default ``ServiceLevel(20)``.
    sl_definition, sl_threshold_s
        Deprecated (a former string name and the threshold); see :func:`resolve_service_level`.

    Raises
    ------
    UnstableQueueError
        When the offered load is at or above the number of agents. Erlang C has no
        steady state there; use :func:`erlang_a` with a patience.

    Examples
    --------
    >>> r = erlang_c(6000, 300, 520)
    >>> round(r.p_wait, 4), r.service_level_definition.key
    (0.2748, 'sl_20s')
    """
    lam_h = _nonneg("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    sl = resolve_service_level(service_level, sl_definition, sl_threshold_s)
    lam = lam_h / 3600.0
    load = lam * aht
    # n - load within rounding of zero is load == n (660/h at 300 s on 55 agents computes a load of
    # 54.99999999999999, and n mu - lambda then rounds to exactly 0)
    if load >= n * (1.0 - 1e-12):
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
    base = ErlangCResult(
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
        service_level=float("nan"),
        service_level_definition=sl,
    )
    return _replace(base, service_level=base.service_level_at(sl))


# -- Erlang A ----------------------------------------------------------------------------------
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
        Under ``service_level_definition``.
    p_virtual_wait_le_t : float
        P(virtual wait <= the threshold): the wait an infinitely patient arrival would have.
    service_level_definition : ServiceLevel
        What ``service_level`` means.
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
    service_level: float
    p_virtual_wait_le_t: float
    service_level_definition: ServiceLevel
    # probabilities of m = _queue_offset, _queue_offset + 1, ... contacts waiting (a window)
    _pi_queue: np.ndarray = field(repr=False, compare=False, default_factory=lambda: np.zeros(0))
    _queue_offset: int = field(repr=False, compare=False, default=0)
    _title = "Erlang A (M/M/n+M, exponential patience)"

    # the tagged-customer pieces, m = number found waiting ahead
    def _rates(self) -> tuple[float, float]:
        return self.agents / self.aht_s, 1.0 / self.patience_s

    def _m(self) -> np.ndarray:
        return self._queue_offset + np.arange(self._pi_queue.size, dtype=float)

    def _p_answered_within(self, t: float) -> float:
        nmu, theta = self._rates()
        m = self._m()
        p_served = nmu / (nmu + (m + 1.0) * theta)
        x = -math.expm1(-theta * t)
        cdf = _betainc_run(m + 1.0, nmu / theta + 1.0, x) if t > 0 else np.zeros_like(m)
        return float((1.0 - self.p_wait) + np.sum(self._pi_queue * p_served * cdf))

    def _p_virtual_within(self, t: float) -> float:
        nmu, theta = self._rates()
        m = self._m()
        x = -math.expm1(-theta * t)
        cdf = _betainc_run(m + 1.0, nmu / theta, x) if t > 0 else np.zeros_like(m)
        return float((1.0 - self.p_wait) + np.sum(self._pi_queue * cdf))

    def _p_abandoned_within(self, t: float) -> float:
        if t <= 0 or self._pi_queue.size == 0:
            return 0.0
        nmu, theta = self._rates()
        m = self._m()
        x = -math.expm1(-theta * t)
        p_served = nmu / (nmu + (m + 1.0) * theta)
        virt = _betainc_run(m + 1.0, nmu / theta, x)
        served_cdf = _betainc_run(m + 1.0, nmu / theta + 1.0, x)
        # left the queue by t = 1 - P(no abandonment yet and stages not done)
        left = 1.0 - math.exp(-theta * t) * (1.0 - virt)
        return float(np.sum(self._pi_queue * (left - p_served * served_cdf)))

    def p_virtual_wait_le(self, threshold_s: float) -> float:
        """P(virtual wait <= ``threshold_s``): the wait of a hypothetical infinitely patient arrival."""
        return self._p_virtual_within(_nonneg("threshold_s", threshold_s))

    def p_abandon_within(self, threshold_s: float) -> float:
        """Probability that an arrival abandons within ``threshold_s`` seconds."""
        return self._p_abandoned_within(_nonneg("threshold_s", threshold_s))

    def _curve(self) -> tuple[str, np.ndarray, dict[str, np.ndarray], float]:
        t0 = self.service_level_definition.threshold_s
        ts = np.linspace(0.0, max(3.0 * t0, 60.0), 61)
        sl = [self.service_level_at(float(t)) for t in ts]
        return "threshold (s)", ts, {"service level": np.asarray(sl)}, t0

    def service_level_at(
        self, service_level: ServiceLevel | float | None = None, definition: str | None = None
    ) -> float:
        """Service level under another definition (a ServiceLevel) or at another threshold (a
        number: this result's definition at that threshold). ``definition`` (a former string
        name) is deprecated.

        Examples
        --------
        >>> r = erlang_a(6000, 300, 520, patience_s=120)
        >>> round(r.service_level_at(20), 4), round(r.service_level_at(ServiceLevel(20, "answered")), 4)
        (0.9924, 0.999)
        """
        sl = _at(self, service_level, definition)
        return sl.from_probabilities(
            self._p_answered_within(sl.threshold_s), 1.0 - self.p_abandon, self._p_abandoned_within
        )


def erlang_a(
    arrivals_per_hour: float,
    aht_s: float,
    agents: int,
    patience_s: float,
    service_level: ServiceLevel | float | None = None,
    sl_definition: str | None = None,
    *,
    sl_threshold_s: float | None = None,
) -> ErlangAResult:
    """Exact Erlang A (M/M/n+M) measures: Poisson arrivals, exponential handle times and
    exponential patience with mean ``patience_s``.

    Parameters
    ----------
    arrivals_per_hour : float
        Poisson arrival rate per hour (>= 0).
    aht_s : float
        Mean handle time in seconds.
    agents : int
        Agents in the pool.
    patience_s : float
        Mean patience in seconds (abandonment rate ``1 / patience_s``).
    service_level : ServiceLevel or float, optional
        The service-level definition (named in the result); a number is the threshold in
        seconds of ``ServiceLevel(t)`` (abandoners count as not answered in time, over all
        arrivals); default ``ServiceLevel(20)``.
    sl_definition, sl_threshold_s
        Deprecated (a former string name and the threshold); see :func:`resolve_service_level`.

    Examples
    --------
    >>> r = erlang_a(6000, 300, 520, patience_s=120)
    >>> round(r.p_wait, 3), round(r.p_abandon, 4)
    (0.154, 0.0067)
    """
    lam_h = _nonneg("arrivals_per_hour", arrivals_per_hour)
    aht = _positive("aht_s", aht_s)
    n = _agents(agents)
    pat = _positive("patience_s", patience_s)
    sl = resolve_service_level(service_level, sl_definition, sl_threshold_s)
    base = _erlang_a_chain(lam_h, aht, n, pat, sl)
    return _replace(
        base,
        service_level=base.service_level_at(sl),
        p_virtual_wait_le_t=base.p_virtual_wait_le(sl.threshold_s),
    )


def _erlang_a_chain(lam_h: float, aht: float, n: int, pat: float, sl: ServiceLevel) -> ErlangAResult:
    """Erlang A measures from the chain alone (validated inputs); ``service_level`` and
    ``p_virtual_wait_le_t`` are left NaN for the caller (the staffing search computes only what it
    needs).
    """
    lam, mu, theta = lam_h / 3600.0, 1.0 / aht, 1.0 / pat
    nmu = n * mu
    if lam == 0:
        p_wait = p_abandon = asa = lq = mean_wait = busy = 0.0
        pi_queue, offset = np.zeros(0), 0
    else:
        w = _chain_window(lam, mu, theta, n, upper=None)
        k = w.lo + np.arange(w.log_pi.size)
        pi = np.exp(w.log_pi)
        queue = k >= n
        pi_queue = pi[queue]
        offset = int(k[queue][0] - n) if queue.any() else 0
        m = offset + np.arange(pi_queue.size, dtype=float)
        p_wait = float(pi_queue.sum())
        lq = float(np.sum(m * pi_queue))
        p_served_m = nmu / (nmu + (m + 1.0) * theta)
        p_abandon = float(np.sum(pi_queue * (1.0 - p_served_m)))
        # mean time through the stages ahead: h(m) = sum_{i=0}^{m} 1 / (n mu + (i + 1) theta)
        r = nmu / theta
        h0 = (special.digamma(r + offset + 1.0) - special.digamma(r + 1.0)) / theta if offset else 0.0
        h = h0 + np.cumsum(1.0 / (nmu + (m + 1.0) * theta))
        served_wait = float(np.sum(pi_queue * p_served_m * h))
        asa = served_wait / (1.0 - p_abandon) if p_abandon < 1 else float("nan")
        busy = float(np.sum(np.minimum(k, n) * pi))
        mean_wait = lq / lam
    return ErlangAResult(
        model="erlang_a",
        arrivals_per_hour=lam_h,
        aht_s=aht,
        agents=n,
        patience_s=pat,
        load=lam * aht,
        p_wait=p_wait,
        p_abandon=p_abandon,
        asa_answered_s=asa,
        mean_wait_all_s=mean_wait,
        lq=lq,
        occupancy=min(1.0, busy / n),
        service_level=float("nan"),
        p_virtual_wait_le_t=float("nan"),
        service_level_definition=sl,
        _pi_queue=pi_queue,
        _queue_offset=offset,
    )


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


# -- approximations ----------------------------------------------------------------------------
def _log_hazard(x: float) -> float:
    """Log of the standard normal hazard phi(x) / (1 - Phi(x)), stable in both tails."""
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

    def _at_agents(self, n: int) -> Any:
        return halfin_whitt(self.arrivals_per_hour, self.aht_s, n)


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

    def _at_agents(self, n: int) -> Any:
        return garnett_mandelbaum_reiman(self.arrivals_per_hour, self.aht_s, n, self.patience_s)

    def _curve(self) -> tuple[str, np.ndarray, dict[str, np.ndarray], float]:
        n = self.agents
        ns = np.arange(max(1, n - 15), n + 16)
        rs = [self._at_agents(int(k)) for k in ns]
        return ("agents", ns, {"p_wait": np.array([r.p_wait for r in rs]),
                               "p_abandon": np.array([r.p_abandon for r in rs])}, float(n))


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

    def _curve(self) -> tuple[str, np.ndarray, dict[str, np.ndarray], float]:
        n = self.agents
        ns = np.arange(max(math.floor(self.load) + 1, n - 15), n + 16)
        p = [_hw_p_wait((k - self.load) / math.sqrt(self.load)) for k in ns]
        return "agents", ns, {"p_wait (Halfin-Whitt)": np.asarray(p)}, float(n)


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
