"""Agents: skill sets, shift schedules with breaks, and chat concurrency.

Agents come in :class:`AgentGroup` s: ``n`` agents sharing a skill set, a shift
and a concurrency (how many contacts each can hold at once, e.g. 3 chats).
Capacity changes over the day as shifts start and end and breaks come and go;
an agent whose shift ends mid-contact finishes the contact, then leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from servicelab.errors import DesignError

__all__ = ["AgentGroup", "Shift", "staffed_slot_seconds"]


@dataclass(frozen=True)
class Shift:
    """An on-duty window with breaks, optionally repeating (e.g. daily).

    Parameters
    ----------
    start_s, end_s : float
        Shift start and end (simulation seconds), ``end_s > start_s``.
    breaks : sequence of (start_s, end_s)
        Off-duty windows inside the shift (absolute times within the first occurrence).
    period_s : float or None
        Repeat the shift every ``period_s`` seconds (86400 for a daily shift).

    Examples
    --------
    >>> Shift(0, 8 * 3600, breaks=((4 * 3600, 4.5 * 3600),)).on_periods(86400)
    [(0.0, 14400.0), (16200.0, 28800.0)]
    """

    start_s: float
    end_s: float
    breaks: tuple[tuple[float, float], ...] = ()
    period_s: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.start_s) and np.isfinite(self.end_s)) or (
            self.end_s <= self.start_s
        ):
            raise DesignError(
                f"Shift needs finite start_s < end_s, got start_s={self.start_s}, "
                f"end_s={self.end_s}"
            )
        prev = self.start_s
        for b in sorted(self.breaks):
            if len(b) != 2 or not (self.start_s <= b[0] < b[1] <= self.end_s) or b[0] < prev:
                raise DesignError(
                    f"Shift break {b} must lie inside the shift ({self.start_s}, {self.end_s}) "
                    "and breaks must not overlap"
                )
            prev = b[1]
        if self.period_s is not None and self.period_s < self.end_s - self.start_s:
            raise DesignError(
                f"Shift.period_s ({self.period_s}) is shorter than the shift itself"
            )
        object.__setattr__(self, "breaks", tuple(sorted(tuple(map(float, b)) for b in self.breaks)))

    def occurrence(self, k: int) -> list[tuple[float, float]]:
        """On-duty windows ``(t0, t1)`` of occurrence ``k`` (0 = the first; ``k > 0`` needs ``period_s``).

        Examples
        --------
        >>> Shift(0, 100, breaks=((40, 50),), period_s=1000).occurrence(1)
        [(1000.0, 1040.0), (1050.0, 1100.0)]
        """
        if k and self.period_s is None:
            raise DesignError(f"Shift occurrence {k} needs a repeating shift (period_s), got None")
        off = k * self.period_s if k else 0.0
        base: list[tuple[float, float]] = []
        t = float(self.start_s)
        for b0, b1 in self.breaks:
            if b0 > t:
                base.append((t + off, b0 + off))
            t = b1
        if self.end_s > t:
            base.append((t + off, float(self.end_s) + off))
        return base

    def on_periods(self, horizon_s: float) -> list[tuple[float, float]]:
        """On-duty windows ``(t0, t1)`` that start before ``horizon_s``.

        For staffing accounting up to a horizon. The engine does not cut the roster here: it
        keeps every window of a one-off shift and generates the occurrences of a repeating
        shift that start after the arrival horizon while contacts are still waiting.
        """
        if self.period_s is None:
            return [p for p in self.occurrence(0) if p[0] < horizon_s]
        out = []
        k = 0
        while self.start_s + k * self.period_s < horizon_s:
            out += [p for p in self.occurrence(k) if p[0] < horizon_s]
            k += 1
        return out


@dataclass(frozen=True)
class AgentGroup:
    """``n`` agents with the same skills, shift and concurrency.

    Parameters
    ----------
    name : str
        Group label (shown in the records as the agent's group).
    skills : sequence of str
        Queue names the agents can serve; the first is their *primary* skill (used
        by :class:`~simulation.routing.SkillsBasedOverflow`).
    n : int
        Number of agents (>= 1).
    shift : Shift or None
        On-duty schedule; ``None`` means on duty for the whole run.
    concurrency : int
        Contacts an agent can hold at once (1 for voice; 2-4 for chat).
    profile : sequence of int, optional
        Agents on duty in each consecutive interval of ``profile_interval_s`` seconds
        (a staffing plan, e.g. from a shift schedule); each value <= ``n``. The last
        value holds after the end of the profile. Not combined with ``shift``.
    profile_interval_s : float
        Interval length of ``profile``.

    Examples
    --------
    >>> AgentGroup("chat", skills=("chat",), n=10, concurrency=3).slots
    30
    >>> AgentGroup("plan", ("q",), n=12, profile=(8, 12, 10)).profile
    (8, 12, 10)
    """

    name: str
    skills: tuple[str, ...]
    n: int
    shift: Shift | None = None
    concurrency: int = 1
    profile: tuple[int, ...] | None = None
    profile_interval_s: float = 1800.0

    def __post_init__(self) -> None:
        if isinstance(self.skills, str):
            object.__setattr__(self, "skills", (self.skills,))
        object.__setattr__(self, "skills", tuple(self.skills))
        if not self.skills:
            raise DesignError(f"AgentGroup {self.name!r} has no skills: give at least one queue")
        if int(self.n) != self.n or self.n < 1:
            raise DesignError(
                f"AgentGroup {self.name!r}: n must be a positive integer number of agents, "
                f"got {self.n!r}"
            )
        if self.profile is not None:
            prof = np.asarray(self.profile)
            if (
                prof.ndim != 1 or prof.size == 0 or np.any(prof < 0) or np.any(prof > self.n)
                or np.any(prof != np.round(prof))
            ):
                raise DesignError(
                    f"AgentGroup {self.name!r}: profile must be integers in [0, n={self.n}] per "
                    "interval"
                )
            if self.shift is not None:
                raise DesignError(f"AgentGroup {self.name!r}: give either shift or profile")
            if not self.profile_interval_s > 0:
                raise DesignError(f"profile_interval_s must be > 0, got {self.profile_interval_s}")
            object.__setattr__(self, "profile", tuple(int(v) for v in prof))
        if int(self.concurrency) != self.concurrency or self.concurrency < 1:
            raise DesignError(
                f"AgentGroup {self.name!r}: concurrency must be an integer >= 1, "
                f"got {self.concurrency!r}"
            )

    @property
    def slots(self) -> int:
        """Total contacts the group can hold at once when on duty."""
        return int(self.n * self.concurrency)

    def on_periods(self, horizon_s: float) -> list[tuple[float, float]]:
        """On-duty windows of the group (the whole run when there is no shift)."""
        if self.shift is None:
            return [(0.0, float("inf"))]
        return self.shift.on_periods(horizon_s)


def staffed_slot_seconds(
    groups: Sequence[AgentGroup], edges: np.ndarray, horizon_s: float
) -> np.ndarray:
    """Staffed slot-seconds (agents x concurrency x on-duty time) in each ``[edges[k], edges[k+1])``.

    Examples
    --------
    >>> staffed_slot_seconds([AgentGroup("a", ("q",), 2)], np.array([0.0, 10.0]), 10.0)
    array([20.])
    """
    edges = np.asarray(edges, dtype=float)
    out = np.zeros(len(edges) - 1)
    for g in groups:
        if g.profile is not None:
            k = len(g.profile)
            bounds = np.arange(k + 1) * float(g.profile_interval_s)
            bounds[-1] = np.inf  # the last level holds
            for j in range(k):
                lo = np.clip(edges[:-1], bounds[j], bounds[j + 1])
                hi = np.clip(edges[1:], bounds[j], bounds[j + 1])
                out += g.profile[j] * g.concurrency * (hi - lo)
            continue
        for t0, t1 in g.on_periods(horizon_s):
            lo = np.clip(edges[:-1], t0, t1)
            hi = np.clip(edges[1:], t0, t1)
            out += g.slots * (hi - lo)
    return out
