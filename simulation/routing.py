"""Routing policies: who answers which contact.

The interface
-------------
A routing policy is any object with two methods (and an optional attribute):

``select_agent(state, contact) -> int | None``
    Called when ``contact`` arrives (and again at ``reconsider_after_s`` after its
    arrival if it is still waiting). Return an *available* agent that has the
    contact's queue among its skills, or ``None`` to leave the contact waiting.
``select_queue(state, agent) -> int | None``
    Called when ``agent`` has a free slot (a contact ended, a shift or break
    started). Return a queue index the agent is skilled for and that has a
    waiting contact (the queue's oldest waiting contact is answered), or ``None``
    to let the agent idle.
``reconsider_after_s`` (float or None)
    If set, the engine calls ``select_agent`` again for contacts still waiting
    that long after arrival (used for overflow after a wait threshold).

``state`` is the engine's :class:`~simulation.engine.DispatchState`. Policies
read it through ``state.now``, ``state.queue_of[c]``, ``state.arrival[c]``,
``state.groups_for_queue[q]``, ``state.primary_groups[q]``,
``state.secondary_groups[q]``, ``state.queues_for_group[g]``,
``state.primary_queues[g]``, ``state.group_of[a]``, ``state.queue_priority[q]``,
``state.idle_agent(g)`` (the longest-idle available agent of group ``g``),
``state.idle_since[a]``, ``state.head(q)`` (oldest waiting contact of ``q``) and
``state.n_waiting[q]``. A policy must not modify the state.

The engine checks every answer: a policy that returns an agent who is busy, off
duty or not skilled for the queue raises :class:`RoutingError`.

Examples
--------
A policy that always takes the first free agent of the first eligible group and
serves queues in a fixed order:

>>> class FirstFree:
...     reconsider_after_s = None
...     def select_agent(self, state, contact):
...         for g in state.groups_for_queue[state.queue_of[contact]]:
...             a = state.idle_agent(g)
...             if a is not None:
...                 return a
...         return None
...     def select_queue(self, state, agent):
...         for q in state.queues_for_group[state.group_of[agent]]:
...             if state.head(q) is not None:
...                 return q
...         return None
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from servicelab.errors import DesignError

__all__ = [
    "FIFO",
    "LongestIdleAgent",
    "RoutingError",
    "RoutingPolicy",
    "SkillsBasedOverflow",
    "StaticPriority",
]

_EPS = 1e-9


class RoutingError(DesignError):
    """A routing policy returned an agent or queue that cannot take the contact."""


@runtime_checkable
class RoutingPolicy(Protocol):
    """The routing-policy interface (see the module docstring)."""

    reconsider_after_s: float | None

    def select_agent(self, state: Any, contact: int) -> int | None:
        """The idle agent to give ``contact`` to, or None to leave it queued."""

    def select_queue(self, state: Any, agent: int) -> int | None:
        """The queue whose oldest contact the freed ``agent`` takes, or None to stay idle."""


def _longest_idle(state: Any, groups: tuple[int, ...]) -> int | None:
    best = None
    best_t = 0.0
    idle_agent = state.idle_agent
    idle_since = state.idle_since
    for g in groups:
        a = idle_agent(g)
        if a is not None and (best is None or idle_since[a] < best_t):
            best = a
            best_t = idle_since[a]
    return best


def _oldest(state: Any, queues: tuple[int, ...], min_wait: float | None = None) -> int | None:
    best = None
    best_t = 0.0
    head = state.head
    arrival = state.arrival
    for q in queues:
        c = head(q)
        if c is None:
            continue
        t = arrival[c]
        if min_wait is not None and state.now - t < min_wait - _EPS:
            continue
        if best is None or t < best_t:
            best = q
            best_t = t
    return best


@dataclass(frozen=True)
class FIFO:
    """First come, first served across the queues an agent serves; first free agent answers.

    Agents are hunted in group order (the order of ``agents`` in the model), and
    within a group the agent idle longest goes first.
    """

    reconsider_after_s = None

    def select_agent(self, state: Any, contact: int) -> int | None:
        """The idle agent to give ``contact`` to, or None to leave it queued."""
        idle_agent = state.idle_agent
        for g in state.groups_for_queue[state.queue_of[contact]]:
            a = idle_agent(g)
            if a is not None:
                return a
        return None

    def select_queue(self, state: Any, agent: int) -> int | None:
        """The queue whose oldest contact the freed ``agent`` takes, or None to stay idle."""
        return _oldest(state, state.queues_for_group[state.group_of[agent]])


@dataclass(frozen=True)
class LongestIdleAgent:
    """The eligible agent idle longest answers; agents take the oldest waiting contact."""

    reconsider_after_s = None

    def select_agent(self, state: Any, contact: int) -> int | None:
        """The idle agent to give ``contact`` to, or None to leave it queued."""
        return _longest_idle(state, state.groups_for_queue[state.queue_of[contact]])

    def select_queue(self, state: Any, agent: int) -> int | None:
        """The queue whose oldest contact the freed ``agent`` takes, or None to stay idle."""
        return _oldest(state, state.queues_for_group[state.group_of[agent]])


@dataclass(frozen=True)
class StaticPriority:
    """Non-preemptive static priority between queues (``Queue.priority``, 1 = highest).

    A free agent takes the oldest contact of the highest-priority non-empty queue it
    serves; an arriving contact goes to the longest-idle eligible agent.
    """

    reconsider_after_s = None

    def select_agent(self, state: Any, contact: int) -> int | None:
        """The idle agent to give ``contact`` to, or None to leave it queued."""
        return _longest_idle(state, state.groups_for_queue[state.queue_of[contact]])

    def select_queue(self, state: Any, agent: int) -> int | None:
        """The queue whose oldest contact the freed ``agent`` takes, or None to stay idle."""
        best = None
        key = None
        head = state.head
        for q in state.queues_for_group[state.group_of[agent]]:
            c = head(q)
            if c is None:
                continue
            k = (state.queue_priority[q], state.arrival[c])
            if key is None or k < key:
                best, key = q, k
        return best


@dataclass(frozen=True)
class SkillsBasedOverflow:
    """Skills-based routing with overflow after a wait threshold.

    A contact goes to the longest-idle agent whose *primary* skill (first in
    ``AgentGroup.skills``) is its queue. After waiting ``threshold_s`` it may also
    go to any other agent with the skill (overflow). A free agent serves its
    primary queue first, then the oldest overflow-eligible contact of its other
    queues. Queues without primary agents use all their eligible agents at once.

    Parameters
    ----------
    threshold_s : float
        Wait after which a contact overflows to secondary-skill agents.
    """

    threshold_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.threshold_s >= 0:
            raise DesignError(f"threshold_s must be >= 0, got {self.threshold_s}")

    @property
    def reconsider_after_s(self) -> float:
        """Seconds after which a waiting contact is offered to the secondary groups."""
        return float(self.threshold_s)

    def select_agent(self, state: Any, contact: int) -> int | None:
        """The idle agent to give ``contact`` to, or None to leave it queued."""
        q = state.queue_of[contact]
        a = _longest_idle(state, state.primary_groups[q])
        if a is not None:
            return a
        if state.now - state.arrival[contact] >= self.threshold_s - _EPS:
            return _longest_idle(state, state.secondary_groups[q])
        return None

    def select_queue(self, state: Any, agent: int) -> int | None:
        """The queue whose oldest contact the freed ``agent`` takes, or None to stay idle."""
        g = state.group_of[agent]
        q = _oldest(state, state.primary_queues[g])
        if q is not None:
            return q
        return _oldest(state, state.secondary_queues[g], min_wait=self.threshold_s)
