"""One service-level definition for every part of servicelab (``../shared/GUIDE.md`` §3).

It lives in the core so that :mod:`simulation` (Erlang formulas, staffing, the simulator) and
:mod:`causal` (the service-level metric of :mod:`causal.experiments`) share one type without
importing each other; :mod:`simulation.service_level` re-exports it.

"80% answered within 20 s" is not a definition until it says *over which contacts* and *what
happens to short abandons*. :class:`ServiceLevel` names all three choices; the Erlang formulas
(:mod:`simulation.analytic`), staffing (:mod:`simulation.staffing`), the plan simulator
(:mod:`simulation.plan`), the simulator's metrics (:mod:`simulation.metrics`) and the
calibration check (:mod:`simulation.calibration`) all take it, and every result names it with
:meth:`ServiceLevel.describe`.

It computes the service level two ways, which agree by construction:

- from per-contact data (:meth:`ServiceLevel.counts`: numerator and denominator indicators of
  answered/abandoned contacts and their waits), for simulated records and observed contacts;
- from probabilities (:meth:`ServiceLevel.from_probabilities`), for the Erlang formulas.

The module depends on numpy only, so every package can use the same type.

The old string names of :mod:`simulation.analytic` (``"answered_within_t/all_arrivals"`` and
three more) convert with :meth:`ServiceLevel.from_legacy`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from servicelab.errors import DesignError

__all__ = ["LEGACY_SL_NAMES", "ServiceLevel"]

Denominator = Literal["offered", "answered", "answered_and_late_abandons"]
ShortAbandons = Literal["excluded", "met"]
_DENOMINATORS = ("offered", "answered", "answered_and_late_abandons")

#: The former string names of :mod:`simulation.analytic` and what each one means.
LEGACY_SL_NAMES: tuple[str, ...] = (
    "answered_within_t/all_arrivals",
    "answered_within_t/answered",
    "answered_within_t/arrivals_excl_abandoned_within_t",
    "answered_or_abandoned_within_t/all_arrivals",
)


@dataclass(frozen=True)
class ServiceLevel:
    """An explicit service-level definition.

    Parameters
    ----------
    threshold_s : float
        A contact answered after waiting at most this many seconds is *answered in time*.
    denominator : {"offered", "answered", "answered_and_late_abandons"}
        Which contacts the share is over. ``"offered"``: all contacts (abandoners count as not
        answered in time; the strict definition and the default); ``"answered"``: answered
        contacts only (ignores abandonment, which flatters an understaffed centre);
        ``"answered_and_late_abandons"``: answered contacts plus those that abandoned after
        waiting more than ``threshold_s``.
    short_abandon_s : float or None
        Contacts that abandoned after waiting less than this many seconds are *short abandons*;
        ``None``: no contact is one.
    short_abandons : {"excluded", "met"}
        What a short abandon counts as: left out of the numerator and the denominator
        (``"excluded"``, the usual practice) or answered in time (``"met"``).

    Notes
    -----
    Contacts still waiting when a simulated run ends (*unresolved*: no agent came back for
    them, or ``drain_s`` cut the run short) count as offered and as not answered in time, the
    conservative choice: they are in the ``"offered"`` denominator, never in the numerator, and
    (being neither answered nor abandoned) outside the other two denominators. The same rule
    holds in :meth:`SimulationRun.measures <simulation.metrics.SimulationRun.measures>`,
    :meth:`SimulationRun.interval_metrics <simulation.metrics.SimulationRun.interval_metrics>`
    and :func:`~simulation.replicate.replicate`, whose ``unresolved`` diagnostic is a warning
    whenever a run had any.

    Examples
    --------
    >>> ServiceLevel(20).name
    'answered within 20 s / offered'
    >>> ServiceLevel(20, short_abandon_s=5).describe().split("; ")[1]
    'contacts that abandoned in under 5 s are left out'
    """

    threshold_s: float = 20.0
    denominator: Denominator = "offered"
    short_abandon_s: float | None = None
    short_abandons: ShortAbandons = "excluded"

    def __post_init__(self) -> None:
        try:
            t = float(self.threshold_s)
        except (TypeError, ValueError):
            raise DesignError(
                f"ServiceLevel.threshold_s must be a number of seconds, got {self.threshold_s!r}"
            ) from None
        if not (np.isfinite(t) and t >= 0):
            raise DesignError(f"ServiceLevel.threshold_s must be >= 0 and finite, got {self.threshold_s}")
        object.__setattr__(self, "threshold_s", t)
        if self.denominator not in _DENOMINATORS:
            raise DesignError(
                "ServiceLevel.denominator must be 'offered', 'answered' or "
                f"'answered_and_late_abandons', got {self.denominator!r}"
            )
        if self.short_abandon_s is not None:
            s = float(self.short_abandon_s)
            if not (np.isfinite(s) and s >= 0):
                raise DesignError(f"short_abandon_s must be >= 0 and finite, or None, got {self.short_abandon_s}")
            object.__setattr__(self, "short_abandon_s", s)
        if self.short_abandons not in ("excluded", "met"):
            raise DesignError(f"short_abandons must be 'excluded' or 'met', got {self.short_abandons!r}")
        if self.short_abandons == "met" and self.short_abandon_s is None:
            raise DesignError("short_abandons='met' needs short_abandon_s (which abandons are short)")

    # -- names -------------------------------------------------------------------------------
    @property
    def key(self) -> str:
        """Column name, e.g. ``sl_20s`` (suffixes mark non-default definitions)."""
        k = f"sl_{self.threshold_s:g}s"
        if self.denominator != "offered":
            k += f"_{self.denominator}"
        if self.short_abandon_s is not None:
            k += (
                f"_excl_abandon_lt_{self.short_abandon_s:g}s"
                if self.short_abandons == "excluded"
                else f"_abandon_lt_{self.short_abandon_s:g}s_met"
            )
        return k

    @property
    def name(self) -> str:
        """Short label, e.g. ``answered within 20 s / offered``."""
        s = f"answered within {self.threshold_s:g} s / {self.denominator.replace('_', ' ')}"
        if self.short_abandon_s is not None:
            s += (
                f" (excluding abandons within {self.short_abandon_s:g} s)"
                if self.short_abandons == "excluded"
                else f" (abandons within {self.short_abandon_s:g} s count as met)"
            )
        return s

    def describe(self) -> str:
        """The definition in plain words, for reports and results."""
        t = f"{self.threshold_s:g} s"
        base = {
            "offered": f"answered within {t}, over all offered contacts (abandoned and unanswered "
            "contacts count as missed)",
            "answered": f"answered within {t}, over answered contacts only (abandonment is ignored)",
            "answered_and_late_abandons": f"answered within {t}, over answered contacts and those "
            f"that abandoned after more than {t}",
        }[self.denominator]
        if self.short_abandon_s is not None:
            what = "are left out" if self.short_abandons == "excluded" else "count as met"
            base += f"; contacts that abandoned in under {self.short_abandon_s:g} s {what}"
        return base

    @property
    def legacy_name(self) -> str | None:
        """The former :mod:`simulation.analytic` string name of this definition, if it has one."""
        t = self.threshold_s
        for name in LEGACY_SL_NAMES:
            if ServiceLevel.from_legacy(name, t) == self:
                return name
        return None

    @classmethod
    def from_legacy(cls, name: str, threshold_s: float = 20.0) -> ServiceLevel:
        """The definition behind a former string name of :mod:`simulation.analytic`.

        ``answered_within_t/all_arrivals`` is ``ServiceLevel(t)``;
        ``answered_within_t/answered`` is ``ServiceLevel(t, "answered")``;
        ``answered_within_t/arrivals_excl_abandoned_within_t`` is
        ``ServiceLevel(t, short_abandon_s=t)``; ``answered_or_abandoned_within_t/all_arrivals`` is
        ``ServiceLevel(t, short_abandon_s=t, short_abandons="met")``.

        Examples
        --------
        >>> ServiceLevel.from_legacy("answered_within_t/answered", 30).key
        'sl_30s_answered'
        """
        if name == "answered_within_t/all_arrivals":
            return cls(threshold_s)
        if name == "answered_within_t/answered":
            return cls(threshold_s, "answered")
        if name == "answered_within_t/arrivals_excl_abandoned_within_t":
            return cls(threshold_s, "offered", short_abandon_s=threshold_s)
        if name == "answered_or_abandoned_within_t/all_arrivals":
            return cls(threshold_s, "offered", short_abandon_s=threshold_s, short_abandons="met")
        raise DesignError(f"sl_definition {name!r} is unknown; use one of {list(LEGACY_SL_NAMES)} or a ServiceLevel")

    def with_threshold(self, threshold_s: float) -> ServiceLevel:
        """The same definition at another threshold (a short-abandon limit tied to the old
        threshold, as in the legacy names, moves with it).
        """
        from dataclasses import replace

        s = self.short_abandon_s
        if s is not None and s == self.threshold_s:
            s = float(threshold_s)
        return replace(self, threshold_s=float(threshold_s), short_abandon_s=s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields plus ``key`` and the plain-words ``description``."""
        return {
            "threshold_s": self.threshold_s,
            "denominator": self.denominator,
            "short_abandon_s": self.short_abandon_s,
            "short_abandons": self.short_abandons,
            "key": self.key,
            "description": self.describe(),
        }

    # -- computing it --------------------------------------------------------------------------
    def counts(
        self, answered: np.ndarray, abandoned: np.ndarray, wait: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-contact (numerator, denominator) indicators.

        ``wait`` is the time waited until answered or abandoned; an unresolved contact (neither
        answered nor abandoned) should carry ``inf``.

        Examples
        --------
        >>> ans = np.array([True, True, False]); ab = ~ans
        >>> good, den = ServiceLevel(20).counts(ans, ab, np.array([5.0, 30.0, 2.0]))
        >>> int(good.sum()), int(den.sum())
        (1, 3)
        """
        answered = np.asarray(answered, bool)
        abandoned = np.asarray(abandoned, bool)
        wait = np.asarray(wait, float)
        good = answered & (wait <= self.threshold_s)
        if self.denominator == "offered":
            den = np.ones(answered.shape, bool)
        elif self.denominator == "answered":
            den = answered.copy()
        else:
            den = answered | (abandoned & (wait > self.threshold_s))
        if self.short_abandon_s is not None:
            short = abandoned & (wait < self.short_abandon_s)
            if self.short_abandons == "excluded":
                good = good & ~short
                den = den & ~short
            else:
                good = good | short
                den = den | short
        return good, den

    def from_probabilities(
        self,
        p_answered_within: float,
        p_answered: float,
        p_abandoned_within: Callable[[float], float],
    ) -> float:
        """The service level from steady-state probabilities (the Erlang formulas' route).

        Parameters
        ----------
        p_answered_within : float
            P(an arrival is answered after waiting at most ``threshold_s``).
        p_answered : float
            P(an arrival is answered).
        p_abandoned_within : callable
            ``x -> P(an arrival abandons after waiting less than x)``.

        Examples
        --------
        >>> round(ServiceLevel(20, "answered").from_probabilities(0.72, 0.9, lambda x: 0.0), 12)
        0.8
        """
        t = self.threshold_s
        p_ab = 1.0 - p_answered
        if self.denominator == "offered":
            base = 1.0
        elif self.denominator == "answered":
            base = p_answered
        else:
            base = 1.0 - p_abandoned_within(t)
        num = p_answered_within
        if self.short_abandon_s is not None and p_ab > 0:
            s = self.short_abandon_s
            p_short = p_abandoned_within(s)
            if self.denominator == "offered":
                short_in_base = p_short
            elif self.denominator == "answered":
                short_in_base = 0.0
            else:
                short_in_base = max(0.0, p_short - p_abandoned_within(t))
            if self.short_abandons == "excluded":
                base -= short_in_base
            else:
                num += p_short
                base += p_short - short_in_base
        if base <= 0:
            return float("nan")
        return float(min(1.0, max(0.0, num / base)))
