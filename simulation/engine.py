"""The discrete-event engine: a custom dispatcher on plain SimPy events.

Why not ``simpy.Resource``: its release is O(c) (a ``list.remove``) and its
capacity is fixed, while shifts, breaks, skills and chat concurrency need
capacity that changes at run time (``../shared/GUIDE.md`` §4). Here every
happening (arrival, end of service, abandonment, overflow check, shift change)
is a plain :class:`simpy.events.Event` whose callback runs the dispatcher;
idle agents sit in per-group deques ordered by the time they became free,
waiting contacts in per-queue FIFO deques with lazy deletion, so each event
costs O(groups + queues), independent of the number of agents.

Two dispatchers run the same model: a *fast path* for one queue, one agent group of
concurrency 1 and a built-in routing policy (where every built-in policy reduces to "the
longest-idle agent takes the oldest contact"), and the *generic path* for everything else. They
give identical records on the same model and seed (``tests/simulation/test_engine.py``).

Randomness and common random numbers
------------------------------------
Each queue's arrival times, work (handle) times, patience and callback/retrial draws come from
*named* streams (:func:`servicelab.random.named_stream`) under the run's seed sequence, so two
models that differ only in routing or staffing see exactly the same contacts. The run's seed
sequence is

- for an int, ``None`` or a :class:`~numpy.random.SeedSequence`: that seed itself
  (:func:`servicelab.random.root_seed_sequence`, *non-consuming*): the same int or SeedSequence
  always gives the same contacts, and a SeedSequence is never spawned from;
- for a :class:`~numpy.random.Generator`: drawn from it (*consuming*, four draws of
  :func:`servicelab.random.seed_int`): a Generator is a stream of runs, so ``run(rng=g)`` twice
  gives two independent runs, reproducible from ``g``'s seed. For paired (CRN) comparisons pass
  an int or a SeedSequence, or use :func:`simulation.replicate`, which never advances ``rng``.
"""

from __future__ import annotations

import math
import warnings
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from heapq import heappush
from typing import Any

import numpy as np
import simpy
from simpy.events import Event

from servicelab.errors import DesignError
from servicelab.random import RNGLike, named_stream, root_seed_sequence, seed_int

from .agents import AgentGroup
from .arrivals import as_arrivals
from .distributions import as_distribution
from .metrics import SimulationRun
from .records import ABANDONED, SERVED, WAITING
from .routing import FIFO, LongestIdleAgent, RoutingError, SkillsBasedOverflow, StaticPriority

__all__ = [
    "Callback",
    "ContactCentre",
    "DispatchState",
    "Queue",
    "Retrial",
    "run_seed_sequence",
]

_BUILTIN = (FIFO, LongestIdleAgent, StaticPriority, SkillsBasedOverflow)


def __getattr__(name: str) -> Any:
    if name == "seed_sequence":
        warnings.warn("simulation.engine.seed_sequence is deprecated: use run_seed_sequence (the same "
                      "semantics; a Generator's draws now come from servicelab.random.seed_int)",
                      DeprecationWarning, stacklevel=2)
        return run_seed_sequence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run_seed_sequence(rng: RNGLike) -> np.random.SeedSequence:
    """The seed sequence one run draws its named streams from (see the module docstring).

    Non-consuming for an int, ``None`` or a SeedSequence; consuming for a Generator.

    Examples
    --------
    >>> run_seed_sequence(7).entropy
    7
    >>> g = np.random.default_rng(7)
    >>> run_seed_sequence(g).entropy == run_seed_sequence(g).entropy
    False
    """
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence([seed_int(rng) for _ in range(4)])
    return root_seed_sequence(rng)


@dataclass(frozen=True, init=False)
class Queue:
    """A contact type: its arrivals, work, patience, channel and priority.

    Parameters
    ----------
    name : str
        Queue (skill) name that agents list in ``AgentGroup.skills``.
    arrivals : IntervalForecast, Poisson(...) or Trace
        Arrival process.
    aht_s : distribution or float
        Handle-time distribution in seconds (a number means exponential with that mean).
    patience_s : distribution, float or None
        Patience distribution in seconds (``None``: never abandons). Any distribution works.
    channel : str
        Channel label (voice, chat, email...), carried into the records (a categorical
        ``channel`` column of :meth:`SimulationRun.records <simulation.metrics.SimulationRun.records>`).
    priority : int
        Static priority, 1 = highest (used by :class:`~simulation.routing.StaticPriority`).
    aht, patience
        Deprecated keyword names of ``aht_s`` and ``patience_s`` (a ``DeprecationWarning``).

    Examples
    --------
    >>> from simulation.arrivals import Poisson
    >>> q = Queue("billing", Poisson(1.0, 3600), aht_s=300.0, patience_s=120.0)
    >>> q.channel, q.aht_s.mean
    ('voice', 300.0)
    """

    name: str
    arrivals: Any
    aht_s: Any
    patience_s: Any
    channel: str
    priority: int

    def __init__(
        self,
        name: str,
        arrivals: Any,
        aht_s: Any = None,
        patience_s: Any = None,
        channel: str = "voice",
        priority: int = 1,
        *,
        aht: Any = None,
        patience: Any = None,
    ) -> None:
        if aht is not None:
            if aht_s is not None:
                raise DesignError(f"Queue {name!r}: give aht_s only (aht is its deprecated name)")
            warnings.warn("Queue(aht=...) is deprecated: use aht_s=", DeprecationWarning, stacklevel=2)
            aht_s = aht
        if patience is not None:
            if patience_s is not None:
                raise DesignError(f"Queue {name!r}: give patience_s only (patience is its deprecated name)")
            warnings.warn(
                "Queue(patience=...) is deprecated: use patience_s=", DeprecationWarning, stacklevel=2
            )
            patience_s = patience
        if aht_s is None:
            raise DesignError(f"Queue {name!r} needs aht_s (a handle-time distribution or mean in seconds)")
        aht_d = as_distribution(aht_s, f"Queue {name!r} aht_s")
        if aht_d.mean == float("inf"):
            raise DesignError(f"Queue {name!r}: aht_s must have a finite mean")
        for k, v in (
            ("name", name),
            ("arrivals", as_arrivals(arrivals)),
            ("aht_s", aht_d),
            ("patience_s", as_distribution(patience_s, f"Queue {name!r} patience_s")),
            ("channel", channel),
            ("priority", priority),
        ):
            object.__setattr__(self, k, v)

    @property
    def aht(self) -> Any:
        """Deprecated: use :attr:`aht_s`."""
        warnings.warn("Queue.aht is deprecated: use Queue.aht_s", DeprecationWarning, stacklevel=2)
        return self.aht_s

    @property
    def patience(self) -> Any:
        """Deprecated: use :attr:`patience_s`."""
        warnings.warn("Queue.patience is deprecated: use Queue.patience_s", DeprecationWarning, stacklevel=2)
        return self.patience_s


@dataclass(frozen=True)
class Retrial:
    """Abandoned contacts call again: with probability ``prob`` after an exponential delay.

    Each retry is a new attempt (a new record with ``attempt`` + 1 and the same
    ``contact_id``); it keeps its work and draws a fresh patience.
    """

    prob: float = 0.5
    mean_delay_s: float = 600.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.prob <= 1:
            raise DesignError(f"Retrial.prob must be in [0, 1], got {self.prob}")
        if not self.mean_delay_s > 0:
            raise DesignError(f"Retrial.mean_delay_s must be > 0, got {self.mean_delay_s}")
        if int(self.max_attempts) != self.max_attempts or self.max_attempts < 1:
            raise DesignError(f"Retrial.max_attempts must be an integer >= 1, got {self.max_attempts}")


@dataclass(frozen=True)
class Callback:
    """Virtual hold: after waiting ``offer_after_s`` a contact is offered a callback.

    With probability ``accept_prob`` it accepts: it keeps its place in the queue,
    can no longer abandon, and is answered (called back) when its turn comes.
    """

    offer_after_s: float = 60.0
    accept_prob: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.accept_prob <= 1:
            raise DesignError(f"Callback.accept_prob must be in [0, 1], got {self.accept_prob}")
        if not self.offer_after_s >= 0:
            raise DesignError(f"Callback.offer_after_s must be >= 0, got {self.offer_after_s}")


class _Ev(Event):
    """A plain SimPy event carrying a contact (or group) index; built without ``__init__`` work."""

    _ok = True
    _value = None

    def __init__(self, callbacks: list, c: int) -> None:
        self.callbacks = callbacks
        self.c = c


class DispatchState:
    """What a routing policy may read (see :mod:`simulation.routing`)."""

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env

    @property
    def now(self) -> float:
        """The simulation clock (seconds)."""
        return self._env.now

    def idle_agent(self, g: int) -> int | None:
        """Longest-idle available agent of group ``g`` (``None`` if none)."""
        dq = self._avail[g]
        free, on, listed = self._free, self._on, self._listed
        while dq:
            a = dq[0]
            if free[a] > 0 and on[a]:
                return a
            dq.popleft()
            listed[a] = False
        return None

    def head(self, q: int) -> int | None:
        """Oldest waiting contact of queue ``q`` (``None`` if none)."""
        dq = self._waitq[q]
        status = self._status
        while dq:
            c = dq[0]
            if status[c] == WAITING:
                return c
            dq.popleft()
            if status[c] == ABANDONED and math.isnan(self._vwait[c]):
                self._vwait[c] = self._env._now - self.arrival[c]
        return None


@dataclass(frozen=True)
class ContactCentre:
    """A contact-centre model: queues, agents, routing and run settings (parameters only).

    Parameters
    ----------
    queues : sequence of Queue
    agents : sequence of AgentGroup
    routing : routing policy
        Default :class:`~simulation.routing.LongestIdleAgent`.
    warmup_s : float
        Contacts arriving before this time are simulated but left out of the measures.
    horizon_s : float or None
        Arrivals after this time are dropped; default the latest arrival horizon.
    retrial, callback : Retrial or Callback, optional
    drain_s : float or None
        Stop this long after the horizon (default: run until every contact is resolved).

    Examples
    --------
    >>> from simulation.arrivals import Poisson
    >>> from simulation.agents import AgentGroup
    >>> m = ContactCentre([Queue("q", Poisson(2 / 60, 3600), 300.0, 120.0)],
    ...                   [AgentGroup("a", ("q",), 12)])
    >>> run = m.run(rng=1)
    >>> 0 <= run.measures()["p_abandon"] <= 1
    True
    """

    queues: Sequence[Queue]
    agents: Sequence[AgentGroup]
    routing: Any = field(default_factory=LongestIdleAgent)
    warmup_s: float = 0.0
    horizon_s: float | None = None
    retrial: Retrial | None = None
    callback: Callback | None = None
    drain_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "agents", tuple(self.agents))
        if not self.queues:
            raise DesignError("ContactCentre needs at least one Queue")
        if not self.agents:
            raise DesignError(
                "ContactCentre has zero agents: give at least one AgentGroup with n >= 1"
            )
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise DesignError(f"queue names must be unique, got {names}")
        for g in self.agents:
            unknown = [s for s in g.skills if s not in names]
            if unknown:
                raise DesignError(
                    f"AgentGroup {g.name!r} lists unknown queues {unknown}; known: {names}"
                )
        for q in names:
            if not any(q in g.skills for g in self.agents):
                raise DesignError(f"queue {q!r} has no agent with that skill: add an AgentGroup")
        for attr in ("select_agent", "select_queue"):
            if not callable(getattr(self.routing, attr, None)):
                raise DesignError(
                    f"routing policy {self.routing!r} lacks {attr}(); see simulation.routing"
                )
        if not self.warmup_s >= 0:
            raise DesignError(f"warmup_s must be >= 0, got {self.warmup_s}")
        if self.horizon_s is not None and not self.horizon_s > self.warmup_s:
            raise DesignError(
                f"horizon_s ({self.horizon_s}) must be larger than warmup_s ({self.warmup_s})"
            )

    @property
    def end_s(self) -> float:
        """End of the arrival horizon."""
        if self.horizon_s is not None:
            return float(self.horizon_s)
        return float(max(q.arrivals.horizon_s for q in self.queues))

    @property
    def n_agents(self) -> int:
        """Agents over all groups."""
        return int(sum(g.n for g in self.agents))

    def with_routing(self, routing: Any) -> ContactCentre:
        """The same model with another routing policy (for CRN comparisons)."""
        return _replace(self, routing=routing)

    def with_agents(self, agents: Sequence[AgentGroup]) -> ContactCentre:
        """The same model with other agents."""
        return _replace(self, agents=tuple(agents))

    def draw_contacts(self, rng: RNGLike = None) -> dict[str, np.ndarray]:
        """Draw the contacts of one run from named streams (arrays sorted by arrival time).

        ``rng`` is read as in :meth:`run` (a Generator is advanced).
        """
        return self._draw_contacts(run_seed_sequence(rng))

    def _draw_contacts(self, seq: np.random.SeedSequence) -> dict[str, np.ndarray]:
        end = self.end_s
        parts = []
        for qi, q in enumerate(self.queues):
            t = q.arrivals.sample(named_stream(seq, f"arrivals/{q.name}"))
            t = t[t < end]
            n = t.size
            work = np.asarray(q.aht_s.sample(named_stream(seq, f"work/{q.name}"), n), float)
            pat = np.asarray(q.patience_s.sample(named_stream(seq, f"patience/{q.name}"), n), float)
            parts.append((t, np.full(n, qi, np.int16), work, pat))
        t = np.concatenate([p[0] for p in parts])
        order = np.argsort(t, kind="stable")
        return {
            "arrival_s": t[order],
            "queue": np.concatenate([p[1] for p in parts])[order],
            "work_s": np.concatenate([p[2] for p in parts])[order],
            "patience_s": np.concatenate([p[3] for p in parts])[order],
            "u_callback": (
                named_stream(seq, "callback").random(t.size)
                if self.callback is not None else np.empty(0)
            ),
        }

    def run(self, rng: RNGLike = None, progress: bool = False) -> SimulationRun:  # noqa: ARG002 - progress kept for compatibility (documented)
        """Simulate once and return a :class:`~simulation.metrics.SimulationRun`.

        Parameters
        ----------
        rng : int, Generator, SeedSequence or None
            The run's seed. An int or SeedSequence is not consumed (same seed, same contacts,
            the basis of common random numbers); a Generator is advanced, so two calls with
            the same Generator are two independent runs (see the module docstring).
        progress : bool
            Unused; kept for backwards compatibility.
        """
        seq = run_seed_sequence(rng)
        contacts = self._draw_contacts(seq)
        retrial_draws = None
        if self.retrial is not None:
            r = named_stream(seq, "retrial")
            n, k = contacts["arrival_s"].size, self.retrial.max_attempts
            pat = np.empty((n, k))
            for qi, q in enumerate(self.queues):
                idx = np.flatnonzero(contacts["queue"] == qi)
                rq = named_stream(seq, f"retrial-patience/{q.name}")
                pat[idx] = np.asarray(q.patience_s.sample(rq, idx.size * k), float).reshape(-1, k)
            retrial_draws = (r.random((n, k)), r.exponential(self.retrial.mean_delay_s, (n, k)),
                             pat)
        rec, info = _simulate(self, contacts, retrial_draws)
        return SimulationRun(model=self, records_arrays=rec, info=info)


def _replace(model: ContactCentre, **kw: Any) -> ContactCentre:
    from dataclasses import replace

    return replace(model, **kw)


def _simulate(
    model: ContactCentre, contacts: dict[str, np.ndarray], retrial_draws: Any
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run the event loop over pre-drawn contacts; return record arrays and run info."""
    queues, groups = model.queues, model.agents
    qnames = [q.name for q in queues]
    nq, ng = len(queues), len(groups)
    end = model.end_s

    # ---- contacts (records); primaries first, retrials appended ----------------------------
    # the drawn numpy arrays are converted one by one and released (keeps peak memory low)
    n0 = int(contacts["arrival_s"].size)
    arr = array("d", contacts.pop("arrival_s").tobytes())
    Q = array("h", contacts.pop("queue").astype(np.int16).tobytes())
    work = array("d", contacts.pop("work_s").tobytes())
    pat = array("d", contacts.pop("patience_s").tobytes())
    ucb = contacts.pop("u_callback")
    wait = array("d", np.full(n0, np.nan).tobytes())
    vwait = array("d", np.full(n0, np.nan).tobytes())
    agent_of = array("i", np.full(n0, -1, np.int32).tobytes())
    status = bytearray(n0)
    cbk = bytearray(n0)
    attempt = bytearray(n0)
    origin = array("i", np.arange(n0, dtype=np.int32).tobytes())

    # ---- agents --------------------------------------------------------------------------
    group_of: list[int] = []
    members: list[list[int]] = []
    for gi, g in enumerate(groups):
        start = len(group_of)
        group_of += [gi] * g.n
        members.append(list(range(start, start + g.n)))
    na = len(group_of)
    conc = [groups[g].concurrency for g in group_of]
    free = list(conc)
    # The roster is not cut at the arrival horizon: contacts still waiting then need their agents
    # back (from a break, or the next occurrence of a repeating shift). One-off shifts keep all
    # their windows; a repeating shift gets here the occurrences that start before the horizon,
    # and later ones one at a time (``on_occurrence``) while its queues still have work.
    on_periods: list[list[tuple[float, float]]] = []
    next_occurrence: list[int | None] = []
    for g in groups:
        sh = g.shift
        k = None
        if g.profile is not None or sh is None:
            periods = g.on_periods(end)
        elif sh.period_s is None:
            periods = sh.occurrence(0)
        else:
            periods, k = [], 0
            while sh.start_s + k * sh.period_s < end:
                periods += sh.occurrence(k)
                k += 1
        on_periods.append(periods)
        next_occurrence.append(k)
    on_at0 = [any(t0 <= 0.0 < t1 for t0, t1 in p) for p in on_periods]
    on = [on_at0[g] for g in group_of]
    for gi, g in enumerate(groups):
        if g.profile is not None:
            for j, a in enumerate(members[gi]):
                on[a] = j < g.profile[0]
    idle_since = [0.0] * na
    listed = list(on)
    avail = [deque(a for a in m if on[a]) for m in members]
    waitq = [deque() for _ in range(nq)]
    n_waiting = [0] * nq

    skills = [{qnames.index(s) for s in g.skills} for g in groups]
    groups_for_queue = tuple(tuple(g for g in range(ng) if q in skills[g]) for q in range(nq))
    prim = []
    for q in range(nq):
        p = tuple(g for g in groups_for_queue[q] if groups[g].skills[0] == qnames[q])
        prim.append(p or groups_for_queue[q])
    primary_groups = tuple(prim)
    secondary_groups = tuple(
        tuple(g for g in groups_for_queue[q] if g not in primary_groups[q]) for q in range(nq)
    )
    queues_for_group = tuple(tuple(qnames.index(s) for s in g.skills) for g in groups)
    primary_queues = tuple(
        tuple(q for q in queues_for_group[g] if g in primary_groups[q]) for g in range(ng)
    )
    secondary_queues = tuple(
        tuple(q for q in queues_for_group[g] if g not in primary_groups[q]) for g in range(ng)
    )

    env = simpy.Environment()
    heap = env._queue  # plain SimPy events are pushed exactly as env.schedule() does
    eid = env._eid

    state = DispatchState(env)
    state.queue_of = Q
    state.arrival = arr
    state.groups_for_queue = groups_for_queue
    state.primary_groups = primary_groups
    state.secondary_groups = secondary_groups
    state.queues_for_group = queues_for_group
    state.primary_queues = primary_queues
    state.secondary_queues = secondary_queues
    state.group_of = group_of
    state.queue_priority = tuple(q.priority for q in queues)
    state.queue_names = tuple(qnames)
    state.idle_since = idle_since
    state.n_waiting = n_waiting
    state._avail, state._free, state._on, state._listed = avail, free, on, listed
    state._waitq, state._status, state._vwait = waitq, status, vwait

    policy = model.routing
    select_agent = policy.select_agent
    select_queue = policy.select_queue
    reconsider = getattr(policy, "reconsider_after_s", None)
    reconsider = None if reconsider is None else float(reconsider)
    callback = model.callback
    cb_after = callback.offer_after_s if callback is not None else math.inf
    cb_p = callback.accept_prob if callback is not None else 0.0
    retrial = model.retrial
    inf = math.inf
    fast = nq == 1 and ng == 1 and conc[0] == 1 and type(policy) in _BUILTIN

    def check_agent(a: Any, c: int) -> None:
        q = Q[c]
        if (
            not isinstance(a, int | np.integer) or not 0 <= a < na
            or q not in skills[group_of[a]] or free[a] <= 0 or not on[a]
        ):
            why = (
                "is not an agent index" if not isinstance(a, int | np.integer) or not 0 <= a < na
                else f"lacks skill {qnames[q]!r}" if q not in skills[group_of[a]]
                else "is off duty" if not on[a] else "has no free slot"
            )
            raise RoutingError(
                f"routing policy {type(policy).__name__} returned agent {a!r} for a contact of "
                f"queue {qnames[q]!r}, but that agent {why}. select_agent must return an "
                "available agent skilled for the queue, or None."
            )

    # ---- generic dispatcher ---------------------------------------------------------------
    def serve(c: int, a: int, now: float) -> None:
        wait[c] = now - arr[c]
        agent_of[c] = a
        status[c] = SERVED
        free[a] -= 1
        g = group_of[a]
        dq = avail[g]
        if dq and dq[0] == a:
            dq.popleft()
            if free[a] > 0:
                dq.append(a)
            else:
                listed[a] = False
        heappush(heap, (now + work[c], 1, next(eid), _Ev(CB_DONE, c)))

    def enqueue(c: int, now: float) -> None:
        q = Q[c]
        waitq[q].append(c)
        n_waiting[q] += 1
        p = pat[c]
        if p < inf:
            heappush(heap, (now + p, 1, next(eid), _Ev(CB_ABANDON, c)))
        if reconsider is not None and reconsider < p:
            heappush(heap, (now + reconsider, 1, next(eid), _Ev(CB_RECONSIDER, c)))
        if cb_after < p:
            heappush(heap, (now + cb_after, 1, next(eid), _Ev(CB_OFFER, c)))

    def arrive_generic(c: int) -> None:
        now = env._now
        a = select_agent(state, c)
        if a is None:
            enqueue(c, now)
        else:
            check_agent(a, c)
            serve(c, a, now)

    def dispatch_agent(a: int) -> None:
        now = env._now
        g = group_of[a]
        while free[a] > 0:
            q = select_queue(state, a)
            if q is None:
                break
            if q not in skills[g] or state.head(q) is None:
                raise RoutingError(
                    f"routing policy {type(policy).__name__} returned queue {q!r} for agent {a} "
                    f"(group {groups[g].name!r}), but the agent lacks that skill or the queue is "
                    "empty. select_queue must return a non-empty queue the agent serves, or None."
                )
            c = waitq[q].popleft()
            n_waiting[q] -= 1
            serve(c, a, now)
        if free[a] > 0 and not listed[a]:
            avail[g].append(a)
            listed[a] = True
            idle_since[a] = now

    def done_generic(ev: _Ev) -> None:
        a = agent_of[ev.c]
        free[a] += 1
        if on[a]:
            dispatch_agent(a)

    # ---- fast path: one queue, one group, concurrency 1, built-in policy ------------------
    idle = avail[0]
    wq = waitq[0]

    def arrive_fast(c: int) -> None:
        now = env._now
        while idle:
            a = idle.popleft()
            listed[a] = False
            if on[a]:
                wait[c] = now - arr[c]
                agent_of[c] = a
                status[c] = SERVED
                free[a] = 0
                heappush(heap, (now + work[c], 1, next(eid), _Ev(CB_DONE, c)))
                return
        wq.append(c)
        n_waiting[0] += 1
        p = pat[c]
        if p < inf:
            heappush(heap, (now + p, 1, next(eid), _Ev(CB_ABANDON, c)))
        if cb_after < p:
            heappush(heap, (now + cb_after, 1, next(eid), _Ev(CB_OFFER, c)))

    def free_fast(a: int, now: float) -> None:
        while wq:
            c = wq.popleft()
            s = status[c]
            if s == WAITING:
                n_waiting[0] -= 1
                wait[c] = now - arr[c]
                agent_of[c] = a
                status[c] = SERVED
                free[a] = 0
                heappush(heap, (now + work[c], 1, next(eid), _Ev(CB_DONE, c)))
                return
            if s == ABANDONED and vwait[c] != vwait[c]:
                vwait[c] = now - arr[c]
        free[a] = 1
        if not listed[a]:
            idle.append(a)
            listed[a] = True
            idle_since[a] = now

    def done_fast(ev: _Ev) -> None:
        a = agent_of[ev.c]
        if not on[a]:
            free[a] = 1
            return
        now = env._now
        while wq:
            c = wq.popleft()
            s = status[c]
            if s == WAITING:
                n_waiting[0] -= 1
                wait[c] = now - arr[c]
                agent_of[c] = a
                status[c] = SERVED
                heappush(heap, (now + work[c], 1, next(eid), _Ev(CB_DONE, c)))
                return
            if s == ABANDONED and vwait[c] != vwait[c]:
                vwait[c] = now - arr[c]
        free[a] = 1
        if not listed[a]:
            idle.append(a)
            listed[a] = True
            idle_since[a] = now

    def on_arrival_fast(ev: _Ev) -> None:
        c = ev.c
        now = env._now
        nxt = c + 1
        if nxt < n0:
            heappush(heap, (arr[nxt], 1, next(eid), _Ev(CB_ARRIVAL, nxt)))
        while idle:
            a = idle.popleft()
            listed[a] = False
            if on[a] and free[a]:
                wait[c] = 0.0
                agent_of[c] = a
                status[c] = SERVED
                free[a] = 0
                heappush(heap, (now + work[c], 1, next(eid), _Ev(CB_DONE, c)))
                return
        wq.append(c)
        n_waiting[0] += 1
        p = pat[c]
        if p < inf:
            heappush(heap, (now + p, 1, next(eid), _Ev(CB_ABANDON, c)))
        if cb_after < p:
            heappush(heap, (now + cb_after, 1, next(eid), _Ev(CB_OFFER, c)))

    arrive = arrive_fast if fast else arrive_generic
    dispatch = dispatch_agent

    # ---- events common to both paths -----------------------------------------------------
    def on_arrival(ev: _Ev) -> None:
        c = ev.c
        arrive(c)
        c += 1
        if c < n0:
            heappush(heap, (arr[c], 1, next(eid), _Ev(CB_ARRIVAL, c)))

    def on_retry(ev: _Ev) -> None:
        pending_retries[0] -= 1
        arrive(ev.c)

    def on_abandon(ev: _Ev) -> None:
        c = ev.c
        if status[c] != WAITING or cbk[c]:
            return
        status[c] = ABANDONED
        now = env._now
        wait[c] = now - arr[c]
        n_waiting[Q[c]] -= 1
        if retrial is not None:
            o = origin[c]
            k = attempt[c]
            if k < retrial.max_attempts and retrial_draws[0][o, k] < retrial.prob:
                r = len(arr)
                arr.append(now + retrial_draws[1][o, k])
                Q.append(Q[c])
                work.append(work[c])
                pat.append(retrial_draws[2][o, k])
                wait.append(math.nan)
                vwait.append(math.nan)
                agent_of.append(-1)
                status.append(WAITING)
                cbk.append(0)
                attempt.append(k + 1)
                origin.append(o)
                heappush(heap, (arr[r], 1, next(eid), _Ev(CB_RETRY, r)))
                pending_retries[0] += 1

    def on_reconsider(ev: _Ev) -> None:
        c = ev.c
        if status[c] != WAITING:
            return
        a = select_agent(state, c)
        if a is not None:
            check_agent(a, c)
            n_waiting[Q[c]] -= 1
            serve(c, a, env._now)

    def on_offer(ev: _Ev) -> None:
        c = ev.c
        if status[c] == WAITING and ucb[origin[c]] < cb_p:
            cbk[c] = 1

    def on_shift_on(ev: _Ev) -> None:
        for a in members[ev.c]:
            on[a] = True
        for a in members[ev.c]:
            if free[a] > 0:
                if fast:
                    free_fast(a, env._now)
                else:
                    dispatch(a)

    def on_profile(ev: _Ev) -> None:
        gi, k = ev.c
        target = groups[gi].profile[k]
        switched = []
        for j, a in enumerate(members[gi]):
            if j < target:
                if not on[a]:
                    on[a] = True
                    switched.append(a)
            else:
                on[a] = False
        for a in switched:
            if free[a] > 0:
                if fast:
                    free_fast(a, env._now)
                else:
                    dispatch(a)

    def on_shift_off(ev: _Ev) -> None:
        for a in members[ev.c]:
            on[a] = False

    pending_retries = [0]
    resolved_at = [-1] * ng  # resolved contacts at the group's previous lazy occurrence
    stalled = [0] * ng

    def on_occurrence(ev: _Ev) -> None:
        # an occurrence of a repeating shift after the arrival horizon: the agents come back while
        # their queues have contacts waiting (or retrials may still arrive); the chain stops when
        # there is nothing left, or after 3 occurrences in a row that resolved nothing (e.g. a
        # policy that never serves), so the run always ends.
        gi, k = ev.c
        if not (pending_retries[0] or any(n_waiting[q] for q in queues_for_group[gi])):
            return
        resolved = len(status) - status.count(WAITING)
        stalled[gi] = stalled[gi] + 1 if resolved == resolved_at[gi] and not pending_retries[0] else 0
        resolved_at[gi] = resolved
        if stalled[gi] >= 3:
            return
        sh = groups[gi].shift
        for t0, t1 in sh.occurrence(k):
            heappush(heap, (t0, 1, next(eid), _Ev([on_shift_on], gi)))
            heappush(heap, (t1, 0, next(eid), _Ev([on_shift_off], gi)))
        heappush(heap, (sh.start_s + (k + 1) * sh.period_s, 0, next(eid), _Ev([on_occurrence], (gi, k + 1))))

    CB_DONE = [done_fast if fast else done_generic]
    CB_ABANDON = [on_abandon]
    CB_RECONSIDER = [on_reconsider]
    CB_OFFER = [on_offer]
    CB_ARRIVAL = [on_arrival_fast if fast else on_arrival]
    CB_RETRY = [on_retry]

    for gi, g in enumerate(groups):
        if g.profile is not None:
            for k in range(1, len(g.profile)):
                t = k * g.profile_interval_s
                if g.profile[k] != g.profile[k - 1]:  # also after the end: drains
                    heappush(heap, (t, 0, next(eid), _Ev([on_profile], (gi, k))))
    for gi, periods in enumerate(on_periods):
        if groups[gi].profile is not None:
            continue
        for t0, t1 in periods:
            if t0 > 0:
                heappush(heap, (t0, 1, next(eid), _Ev([on_shift_on], gi)))
            if t1 < inf:
                heappush(heap, (t1, 0, next(eid), _Ev([on_shift_off], gi)))
    for gi, k in enumerate(next_occurrence):
        if k is not None:
            t = groups[gi].shift.start_s + k * groups[gi].shift.period_s
            heappush(heap, (t, 0, next(eid), _Ev([on_occurrence], (gi, k))))
    if n0:
        heappush(heap, (arr[0], 1, next(eid), _Ev(CB_ARRIVAL, 0)))
    until = None if model.drain_s is None else end + model.drain_s
    env.run(until=until)

    # zero-copy views on the compact record buffers
    rec = {
        "contact_id": np.frombuffer(origin, np.int32),
        "attempt": np.frombuffer(attempt, np.uint8),
        "queue": np.frombuffer(Q, np.int16),
        "arrival_s": np.frombuffer(arr, np.float64),
        "wait_s": np.frombuffer(wait, np.float64),
        "virtual_wait_s": np.frombuffer(vwait, np.float64),
        "work_s": np.frombuffer(work, np.float64),
        "agent": np.frombuffer(agent_of, np.int32),
        "status": np.frombuffer(status, np.uint8),
        "callback": np.frombuffer(cbk, np.uint8),
    }
    info = {
        "end_s": end,
        "sim_end_s": float(env.now),
        "group_of_agent": np.asarray(group_of, dtype=np.int32),
        "queue_names": tuple(qnames),
        "queue_channels": tuple(q.channel for q in queues),
        "group_names": tuple(g.name for g in groups),
        "primary_groups": primary_groups,
        "n_agents": na,
        "fast_path": bool(fast),
    }
    return rec, info
