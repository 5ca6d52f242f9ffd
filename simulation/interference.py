"""Interference in a shared agent pool: experiments whose arms share the agents.

Agents are a shared pool. When a treatment cuts the handle time of *treated* contacts it frees
agents, and the *control* contacts queued behind them wait less too. A customer-randomised test
of wait, service level or abandonment then estimates the **direct effect under the experiment's
mix** (treated against control contacts, both served by a pool half sped up), not the **global
treatment effect** (GTE: everyone treated against no one), and the gap grows with occupancy.

This module is the compact world with that interference:

- :class:`SharedPoolCentre` is a centre of ``sites`` independent pools (one FCFS queue served by
  ``agents_per_site`` agents each, the longest-idle agent taking the oldest contact, patience with
  abandonment). ``occupancy`` (offered load / agents under control) is the interference knob.
- :class:`Assignment` says who is treated: nobody, everybody, a share of customers, a share of
  agents (the handle time follows the serving agent), whole sites, or a switchback grid of site x
  time slice (a contact is treated when it arrives in a treated slice).
- :meth:`SharedPoolCentre.run` simulates one assignment. Arrivals, work and patience come from
  named streams (:func:`servicelab.random.named_stream`) under the run's seed, and so does the
  randomisation, so every assignment of the same seed sees the same contacts (common random
  numbers).
- :func:`interference_truth` gives the truth rows for wait, service level, abandonment and
  handle time: the direct effect under the mix and the GTE from CRN runs of all-treated against
  none. :func:`relaxation_time` measures how fast the queue settles after a switch (the step
  response of the mean wait), the basis of a switchback's slice and burn-in.

The FCFS pool with abandonment is simulated by the exact multi-server recursion (a heap of agent
free times): with one queue and one agent group it gives the same records as the event engine's
fast path (:class:`~simulation.engine.ContactCentre`), which ``tests/simulation`` checks.

Examples
--------
>>> c = SharedPoolCentre(sites=2, agents_per_site=10, occupancy=0.9, days=0.25)
>>> run = c.run(Assignment.customers(0.5), factor=0.8, rng=1)
>>> sorted(run.metrics())
['abandonment', 'handle_s', 'service_level', 'wait_s']
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from servicelab.errors import DataError, DesignError, UnstableQueueError
from servicelab.random import RNGLike, named_stream, root_seed_sequence, spawn
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.service_level import ServiceLevel

__all__ = [
    "METRICS",
    "Assignment",
    "InterferenceRun",
    "InterferenceTruth",
    "Relaxation",
    "SharedPoolCentre",
    "fcfs_pool",
    "interference_truth",
    "relaxation_time",
    "truth_from_replications",
    "truth_replication",
]

#: The outcomes the truth tables and the design doctor report, with their direction.
METRICS: dict[str, str] = {
    "wait_s": "mean time in queue of every offered contact (abandoners until they leave), s",
    "service_level": "share answered within the ServiceLevel threshold (its denominator)",
    "abandonment": "share of offered contacts that abandoned",
    "handle_s": "mean handle time of answered contacts, s",
}
Kind = Literal["none", "all", "customer", "agent", "site", "switchback"]


def fcfs_pool(arrival_s: np.ndarray, work_s: np.ndarray, patience_s: np.ndarray, n_agents: int,
              agent_factor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One FCFS queue served by ``n_agents`` agents (longest idle first), with abandonment.

    The exact recursion: contact ``i`` is answered at ``max(arrival, earliest agent free time)``
    unless that wait exceeds its patience (then it abandons and uses no agent). The serving agent
    works ``work_s[i] * agent_factor[agent]`` seconds.

    Returns ``(wait_s, answered, agent)``: the time in queue (until answered or abandoned), the
    answered flag and the serving agent (-1 for abandoners).

    Examples
    --------
    >>> w, ans, ag = fcfs_pool(np.array([0.0, 1.0, 2.0]), np.array([10.0, 10.0, 10.0]),
    ...                        np.array([5.0, 5.0, 50.0]), 1)
    >>> w.tolist(), ans.tolist(), ag.tolist()
    ([0.0, 5.0, 8.0], [True, False, True], [0, -1, 0])
    """
    if n_agents < 1:
        raise DesignError(f"n_agents must be >= 1, got {n_agents}")
    n = len(arrival_s)
    arr, work, pat = arrival_s.tolist(), work_s.tolist(), patience_s.tolist()
    fac = [1.0] * n_agents if agent_factor is None else [float(x) for x in agent_factor]
    heap = [(0.0, a) for a in range(n_agents)]
    wait = [0.0] * n
    agent = [-1] * n
    replace = heapq.heapreplace
    for i in range(n):
        t = arr[i]
        f, a = heap[0]
        if f > t:
            start = f
            if f - t > pat[i]:
                wait[i] = pat[i]
                continue
        else:
            start = t
        wait[i] = start - t
        agent[i] = a
        replace(heap, (start + work[i] * fac[a], a))
    ag = np.asarray(agent, dtype=np.int64)
    return np.asarray(wait, dtype=float), ag >= 0, ag


@dataclass(frozen=True)
class Assignment:
    """Who is treated in one run. Build it with the class methods.

    ``kind`` is ``"none"``, ``"all"``, ``"customer"`` (each contact with probability ``share``),
    ``"agent"`` (exactly ``round(share * agents)`` agents per site; the handle time follows the
    serving agent), ``"site"`` (the sites in ``treated_sites``) or ``"switchback"`` (``grid[site, k]`` is
    1 when slice ``k`` of ``slice_s`` seconds is treated at that site; by arrival time).

    Examples
    --------
    >>> Assignment.customers(0.5).kind, Assignment.sites([0, 2]).treated_sites
    ('customer', (0, 2))
    """

    kind: Kind
    share: float = 0.5
    treated_sites: tuple[int, ...] = ()
    grid: np.ndarray | None = field(default=None, repr=False, compare=False)
    slice_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("none", "all", "customer", "agent", "site", "switchback"):
            raise DesignError(f"unknown assignment kind {self.kind!r}")
        if not 0 < self.share < 1 and self.kind in ("customer", "agent"):
            raise DesignError(f"share must be in (0, 1), got {self.share}")
        if self.kind == "switchback":
            if self.grid is None or self.slice_s is None or not self.slice_s > 0:
                raise DesignError("a switchback assignment needs grid (sites x slices) and slice_s")
            g = np.asarray(self.grid)
            if g.ndim != 2 or np.unique(g).size < 2:
                raise DesignError(
                    "the switchback grid must be sites x slices and use both arms (0 and 1); a "
                    "schedule with one arm only compares nothing")

    @classmethod
    def control(cls) -> Assignment:
        """Nobody treated (the all-control counterfactual)."""
        return cls("none")

    @classmethod
    def everyone(cls) -> Assignment:
        """Everyone treated (the all-treated counterfactual of the GTE)."""
        return cls("all")

    @classmethod
    def customers(cls, share: float = 0.5) -> Assignment:
        """Each contact treated independently with probability ``share``."""
        return cls("customer", share=share)

    @classmethod
    def agents(cls, share: float = 0.5) -> Assignment:
        """``round(share * agents)`` agents per site treated; the handle time follows the serving agent."""
        return cls("agent", share=share)

    @classmethod
    def sites(cls, treated: Any) -> Assignment:
        """Whole sites treated (``treated``: the site indices); every contact of a site shares its arm."""
        return cls("site", treated_sites=tuple(int(s) for s in treated))

    @classmethod
    def switchback(cls, grid: np.ndarray, slice_s: float) -> Assignment:
        """Time slices of ``slice_s`` seconds; a contact arriving in a slice takes ``grid[site, slice]``."""
        return cls("switchback", grid=np.asarray(grid, dtype=np.int8), slice_s=float(slice_s))


@dataclass(frozen=True)
class InterferenceRun:
    """One simulated run: per-contact arrays (after the warm-up) and the assignment."""

    frame: pd.DataFrame
    assignment: Assignment
    factor: float
    service_level: ServiceLevel

    def metrics(self, mask: np.ndarray | None = None) -> dict[str, float]:
        """The four outcomes over the contacts in ``mask`` (all by default)."""
        return _metrics(self.frame, self.service_level, mask)

    def arm_means(self) -> pd.DataFrame:
        """The outcomes among treated and among control contacts (rows ``treated`` 0/1)."""
        t = self.frame["treated"].to_numpy()
        return pd.DataFrame([{"treated": k, **self.metrics(t == k)} for k in (0, 1)
                             if (t == k).any()])


def _metrics(f: pd.DataFrame, sl: ServiceLevel, mask: np.ndarray | None) -> dict[str, float]:
    if mask is not None:
        f = f.loc[np.asarray(mask, bool)]
    if len(f) == 0:
        return dict.fromkeys(METRICS, math.nan)
    ans = f["answered"].to_numpy()
    wait = f["wait_s"].to_numpy()
    good, den = sl.counts(ans, ~ans, wait)
    h = f["handle_s"].to_numpy()[ans]
    return {"wait_s": float(wait.mean()),
            "service_level": float(good.sum() / den.sum()) if den.any() else math.nan,
            "abandonment": float(1 - ans.mean()),
            "handle_s": float(h.mean()) if h.size else math.nan}


@dataclass(frozen=True)
class SharedPoolCentre:
    """A centre of independent sites, each one queue served by one shared pool of agents.

    Parameters
    ----------
    sites : int
        Independent pools (sites); a site-cluster design randomises them.
    agents_per_site : int
        Agents in each pool, on duty for the whole horizon.
    occupancy : float
        Offered load over agents under control, ``arrival rate * aht_s / agents_per_site``: the
        interference knob (near 1 every freed minute of an agent shortens the queue a lot).
    aht_s : float
        Mean handle time (log-normal with coefficient of variation ``aht_cv``).
    aht_cv : float
        Coefficient of variation of handle times (1 is exponential-like).
    patience_s : float or None
        Mean (exponential) patience; ``None``: nobody abandons.
    days : float
        Horizon in days (after the warm-up).
    warmup_s : float
        Contacts arriving in the first ``warmup_s`` seconds are simulated but not reported (the
        pools start empty).
    profile_amplitude : float
        Relative amplitude of a daily sinusoid in the arrival rate (0: flat).
    service_level : ServiceLevel
        The service-level definition of the reports.

    Examples
    --------
    >>> SharedPoolCentre(sites=4, agents_per_site=25, occupancy=0.9).arrival_rate_per_s
    0.075
    """

    sites: int = 10
    agents_per_site: int = 50
    occupancy: float = 0.9
    aht_s: float = 300.0
    aht_cv: float = 1.0
    patience_s: float | None = 300.0
    days: float = 7.0
    warmup_s: float = 7200.0
    profile_amplitude: float = 0.0
    service_level: ServiceLevel = field(default_factory=lambda: ServiceLevel(60.0))

    def __post_init__(self) -> None:
        if self.sites < 1 or self.agents_per_site < 1:
            raise DesignError(f"sites and agents_per_site must be >= 1, got {self.sites}, "
                              f"{self.agents_per_site}")
        if not self.occupancy > 0 or not self.aht_s > 0 or not self.days > 0:
            raise DesignError("occupancy, aht_s and days must be positive")
        if not 0 <= self.profile_amplitude < 1:
            raise DesignError(f"profile_amplitude must be in [0, 1), got {self.profile_amplitude}")
        if self.patience_s is not None and not self.patience_s > 0:
            raise DesignError(f"patience_s must be positive or None, got {self.patience_s}")

    @property
    def n_agents(self) -> int:
        """Agents in the pool (sites x agents per site)."""
        return self.sites * self.agents_per_site

    @property
    def arrival_rate_per_s(self) -> float:
        """Mean arrivals per second at one site."""
        return self.occupancy * self.agents_per_site / self.aht_s

    @property
    def horizon_s(self) -> float:
        """Length of the simulated period in seconds."""
        return self.warmup_s + self.days * 86400.0

    def check_stable(self, factor: float = 1.0) -> None:
        """Raise :class:`UnstableQueueError` when the offered load reaches the agents in either arm.

        At ``occupancy * max(1, factor) >= 1`` (at the daily peak with a profile) the queue has
        no steady state without abandonment, and with it the backlog, not the design, decides
        every estimate: no relaxation time exists to size a switchback by.
        """
        peak = self.occupancy * (1 + self.profile_amplitude) * max(1.0, factor)
        if peak >= 1:
            load = peak * self.agents_per_site
            raise UnstableQueueError(
                f"offered load {load:.1f} Erlang per site is at or above its "
                f"{self.agents_per_site} agents (occupancy {peak:.3f} at the peak, handle-time "
                f"factor {factor:g}): the queue is unstable. Lower occupancy or add agents")

    def contacts(self, rng: RNGLike = None) -> list[dict[str, np.ndarray]]:
        """The contacts of one run per site, from named streams (non-consuming for int/SeedSequence)."""
        seq = root_seed_sequence(rng)
        lam, H = self.arrival_rate_per_s, self.horizon_s
        sig = math.sqrt(math.log1p(self.aht_cv ** 2))
        mu = math.log(self.aht_s) - sig ** 2 / 2
        out = []
        for s in range(self.sites):
            g = named_stream(seq, f"arrivals/site{s}")
            peak = lam * (1 + self.profile_amplitude)
            t = np.cumsum(g.exponential(1 / peak, int(peak * H * 1.1 + 10 * math.sqrt(peak * H) + 10)))
            while t[-1] < H:  # pragma: no cover - the draw above covers the horizon
                t = np.concatenate([t, t[-1] + np.cumsum(g.exponential(1 / peak, 1000))])
            t = t[t < H]
            if self.profile_amplitude:
                keep = g.random(t.size) < (1 + self.profile_amplitude * np.sin(
                    2 * np.pi * t / 86400.0)) / (1 + self.profile_amplitude)
                t = t[keep]
            n = t.size
            work = named_stream(seq, f"work/site{s}").lognormal(mu, sig, n)
            pat = (np.full(n, np.inf) if self.patience_s is None else
                   named_stream(seq, f"patience/site{s}").exponential(self.patience_s, n))
            u = named_stream(seq, f"assign/customer/site{s}").random(n)
            perm = named_stream(seq, f"assign/agent/site{s}").permutation(self.agents_per_site)
            out.append({"arrival_s": t, "work_s": work, "patience_s": pat, "u": u,
                        "agent_perm": perm})
        return out

    def run(self, assignment: Assignment, *, factor: float, rng: RNGLike = None,
            contacts: list[dict[str, np.ndarray]] | None = None) -> InterferenceRun:
        """Simulate ``assignment`` with treated handle times multiplied by ``factor``.

        ``rng`` (int or SeedSequence: the same contacts on every call, the common random numbers
        of a comparison) or pre-drawn ``contacts`` from :meth:`contacts`.
        """
        if not factor > 0:
            raise DesignError(f"factor must be positive, got {factor}")
        cs = self.contacts(rng) if contacts is None else contacts
        if len(cs) != self.sites:
            raise DataError(f"contacts for {len(cs)} sites, the centre has {self.sites}")
        k = assignment.kind
        if k == "site" and any(not 0 <= s < self.sites for s in assignment.treated_sites):
            raise DesignError(f"treated sites {assignment.treated_sites} outside 0..{self.sites - 1}")
        if k == "switchback" and assignment.grid.shape[0] != self.sites:
            raise DesignError(f"the switchback grid has {assignment.grid.shape[0]} rows, the "
                              f"centre {self.sites} sites")
        frames = []
        n_treat_agents = round(assignment.share * self.agents_per_site)
        for s, c in enumerate(cs):
            t = c["arrival_s"]
            afac = None
            if k == "none":
                tr = np.zeros(t.size, bool)
            elif k == "all":
                tr = np.ones(t.size, bool)
            elif k == "customer":
                tr = c["u"] < assignment.share
            elif k == "site":
                tr = np.full(t.size, s in assignment.treated_sites)
            elif k == "switchback":
                sl = np.minimum((t // assignment.slice_s).astype(np.int64),
                                assignment.grid.shape[1] - 1)
                tr = assignment.grid[s, sl] == 1
            else:  # agent
                tr = np.zeros(t.size, bool)
                treated_agents = c["agent_perm"][:n_treat_agents]
                afac = np.ones(self.agents_per_site)
                afac[treated_agents] = factor
            work = np.where(tr, c["work_s"] * factor, c["work_s"])
            wait, ans, ag = fcfs_pool(t, work, c["patience_s"], self.agents_per_site, afac)
            handle = np.where(ans, work, np.nan)
            if afac is not None:
                tr = ans & (afac[np.maximum(ag, 0)] != 1.0)
                handle = np.where(ans, work * afac[np.maximum(ag, 0)], np.nan)
            keep = t >= self.warmup_s
            frames.append(pd.DataFrame({
                "site": np.full(int(keep.sum()), s, np.int32), "arrival_s": t[keep],
                "treated": tr[keep].astype(np.int8), "wait_s": wait[keep],
                "answered": ans[keep], "handle_s": handle[keep], "agent": ag[keep]}))
        return InterferenceRun(pd.concat(frames, ignore_index=True), assignment, float(factor),
                               self.service_level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the result (numbers, labels, diagnostics)."""
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__
                         if k != "service_level"} | {"service_level": self.service_level.to_dict(),
                                                     "n_agents": self.n_agents})


@dataclass(frozen=True, eq=False, repr=False)
class InterferenceTruth(ResultMixin):
    """Truth rows for one mechanism: per metric, the control mean, the GTE and the direct effect.

    ``frame`` columns: ``metric``, ``control``, ``gte`` (all treated minus none, CRN), ``gte_se``,
    ``direct`` (treated minus control contacts under the experiment's mix), ``direct_se`` and
    ``direct_over_gte``; ``info`` holds the centre, factor, share and replications.
    """

    frame: pd.DataFrame
    info: dict[str, Any]
    diagnostics: tuple[Diagnostic, ...] = ()

    def value(self, metric: str, estimand: str = "gte") -> float:
        """The true effect on ``metric`` for ``estimand`` (``"gte"`` or ``"direct"``)."""
        row = self.frame.loc[self.frame["metric"] == metric]
        if row.empty:
            raise DataError(f"unknown metric {metric!r}; have {list(self.frame['metric'])}")
        return float(row[estimand].iloc[0])

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (tables and diagnostics)."""
        return Summary("Interference truth: direct effect under the mix vs global effect",
                       self.frame, info=dict(self.info), diagnostics=self.diagnostics,
                       notes=[("gte: everyone treated against no one (common random numbers); "
                               "direct: treated against control contacts in the same run, what "
                               "a customer-randomised test estimates.")])

    def plot(self, ax=None):
        """Figure of the result; draws on ``ax`` when given, returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        f = self.frame
        rel_d = f["direct"] / f["control"] * 100
        rel_g = f["gte"] / f["control"] * 100
        x = np.arange(len(f))
        ax.bar(x - 0.2, rel_g, 0.4, label="GTE (all vs none)")
        ax.bar(x + 0.2, rel_d, 0.4, label="direct (customer-randomised)")
        ax.set_xticks(x, f["metric"])
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("effect, % of control mean")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the result (numbers, labels, diagnostics)."""
        return jsonable({"truth": self.frame.to_dict(orient="records"), "info": self.info,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def interference_truth(centre: SharedPoolCentre, factor: float, *, share: float = 0.5,
                       n_reps: int = 10, rng: RNGLike = None) -> InterferenceTruth:
    """Direct effect under the mix and GTE, for wait, service level, abandonment and handle time.

    Each replication draws one set of contacts and runs it three times (common random numbers):
    nobody treated, everybody treated, and a customer-randomised experiment at ``share``. The GTE
    is the mean of (all - none); the direct effect the mean of (treated - control contacts) in
    the experiment. Standard errors are across replications.

    Examples
    --------
    >>> c = SharedPoolCentre(sites=2, agents_per_site=10, occupancy=0.9, days=0.5)
    >>> t = interference_truth(c, 0.8, n_reps=2, rng=1)
    >>> t.value("handle_s") < 0
    True
    """
    centre.check_stable(factor)
    if n_reps < 2:
        raise DesignError(f"n_reps must be >= 2 for a standard error, got {n_reps}")
    reps = [truth_replication(centre, factor, share, np.random.SeedSequence(int(g.integers(2**63))))
            for g in spawn(rng, n_reps)]
    return truth_from_replications(centre, factor, share, reps)


def truth_replication(centre: SharedPoolCentre, factor: float, share: float,
                      seed: np.random.SeedSequence) -> dict[str, dict[str, float]]:
    """One CRN replication of :func:`interference_truth`: control means, GTE and direct effect."""
    cs = centre.contacts(seed)
    m0 = centre.run(Assignment.control(), factor=factor, contacts=cs).metrics()
    m1 = centre.run(Assignment.everyone(), factor=factor, contacts=cs).metrics()
    mix = centre.run(Assignment.customers(share), factor=factor, contacts=cs)
    t = mix.frame["treated"].to_numpy()
    a, b = mix.metrics(t == 1), mix.metrics(t == 0)
    return {"control": m0, "gte": {k: m1[k] - m0[k] for k in METRICS},
            "direct": {k: a[k] - b[k] for k in METRICS}}


def truth_from_replications(centre: SharedPoolCentre, factor: float, share: float,
                            reps: list[dict[str, dict[str, float]]]) -> InterferenceTruth:
    """Combine :func:`truth_replication` results into an :class:`InterferenceTruth`."""
    n_reps = len(reps)
    if n_reps < 2:
        raise DesignError(f"n_reps must be >= 2 for a standard error, got {n_reps}")
    gte = [r["gte"] for r in reps]
    direct = [r["direct"] for r in reps]
    ctrl = [r["control"] for r in reps]
    G, D, C = pd.DataFrame(gte), pd.DataFrame(direct), pd.DataFrame(ctrl)
    rows = []
    for k in METRICS:
        g_m, d_m = G[k].mean(), D[k].mean()
        rows.append({"metric": k, "control": C[k].mean(), "gte": g_m,
                     "gte_se": G[k].std(ddof=1) / math.sqrt(n_reps), "direct": d_m,
                     "direct_se": D[k].std(ddof=1) / math.sqrt(n_reps),
                     "direct_over_gte": d_m / g_m if g_m else math.nan})
    f = pd.DataFrame(rows)
    w = f.set_index("metric").loc["wait_s"]
    diag = Diagnostic(
        "interference", "warning" if abs(w["direct_over_gte"] - 1) > 0.1 else "ok",
        f"a customer-randomised test recovers {100 * w['direct_over_gte']:.0f}% of the global "
        f"wait effect at occupancy {centre.occupancy:g}", float(w["direct_over_gte"]))
    info = {"centre": centre.to_dict(), "factor": factor, "share": share, "n_reps": n_reps,
            "mechanism": f"handle time x {factor:g} for treated contacts",
            "service_level": centre.service_level.describe()}
    return InterferenceTruth(f, info, (diag,))


@dataclass(frozen=True, eq=False, repr=False)
class Relaxation(ResultMixin):
    """Step response of the mean wait to switching everyone to treatment.

    ``profile``: per bin after the switch, the CRN difference in mean wait (switched minus
    control run) and its share of the plateau. ``tau_s`` is the relaxation time: the time
    constant of ``plateau * (1 - exp(-t / tau))`` fitted to the step response.
    The switchback rules of thumb use ``burn_in = 3 tau`` (95% relaxed).
    """

    tau_s: float
    plateau: float
    profile: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (tables and diagnostics)."""
        return Summary("Queue relaxation time", self.profile, info={
            "tau_s": self.tau_s, "plateau": self.plateau, **self.info},
            diagnostics=self.diagnostics)

    def plot(self, ax=None):
        """Figure of the result; draws on ``ax`` when given, returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3))
        p = self.profile
        ax.plot(p["t_s"] / 60, p["share_of_plateau"], "o-", ms=3)
        tt = np.linspace(0, p["t_s"].max(), 200)
        ax.plot(tt / 60, 1 - np.exp(-tt / max(self.tau_s, 1e-9)), "--",
                label=f"1 - exp(-t / {self.tau_s / 60:.1f} min)")
        ax.axhline(1, color="black", lw=0.8)
        ax.set_xlabel("minutes after the switch")
        ax.set_ylabel("share of the steady-state wait effect")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the result (numbers, labels, diagnostics)."""
        return jsonable({"tau_s": self.tau_s, "plateau": self.plateau,
                         "profile": self.profile.to_dict(orient="records"), "info": self.info,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def relaxation_time(centre: SharedPoolCentre, factor: float, *, window_s: float | None = None,
                    bin_s: float | None = None, n_reps: int = 20,
                    rng: RNGLike = None) -> Relaxation:
    """Measure the queue's relaxation time after everyone switches to treatment.

    Each replication simulates ``warmup_s`` under control then ``window_s`` under treatment, and
    the same contacts under control throughout (CRN); the difference in mean wait by bin after
    the switch, averaged over replications and sites, is fitted by ``plateau * (1 - exp(-t / tau))``
    (weighted least squares, :func:`scipy.optimize.curve_fit`).

    Examples
    --------
    >>> c = SharedPoolCentre(sites=2, agents_per_site=20, occupancy=0.9)
    >>> r = relaxation_time(c, 0.8, n_reps=3, rng=1)
    >>> 0 < r.tau_s < 3600
    True
    """
    centre.check_stable(factor)
    window_s = 8 * centre.aht_s * 4 if window_s is None else float(window_s)
    bin_s = window_s / 48 if bin_s is None else float(bin_s)
    t0 = max(centre.warmup_s, 4 * centre.aht_s)
    short = SharedPoolCentre(**{**{k: getattr(centre, k) for k in centre.__dataclass_fields__},
                                "days": (t0 + window_s) / 86400.0, "warmup_s": 0.0})
    nb = math.ceil(window_s / bin_s)
    diffs = np.zeros(nb)
    counts = np.zeros(nb)
    step = Assignment.switchback(np.tile([0, 1], (short.sites, 1)), t0)
    for g in spawn(rng, n_reps):
        cs = short.contacts(np.random.SeedSequence(int(g.integers(2**63))))
        r0 = short.run(Assignment.control(), factor=factor, contacts=cs).frame
        r1 = short.run(step, factor=factor, contacts=cs).frame
        m = r0["arrival_s"].to_numpy() >= t0
        b = np.minimum(((r0["arrival_s"].to_numpy()[m] - t0) // bin_s).astype(int), nb - 1)
        d = r1["wait_s"].to_numpy()[m] - r0["wait_s"].to_numpy()[m]
        diffs += np.bincount(b, d, nb)
        counts += np.bincount(b, minlength=nb)
    mean = diffs / np.maximum(counts, 1)
    tt = (np.arange(nb) + 0.5) * bin_s
    plateau0 = float(mean[-max(1, nb // 4):].mean())
    if plateau0 == 0 or not np.isfinite(plateau0):
        raise DataError("the treatment does not move the mean wait: no relaxation to measure")
    # least squares fit of the exponential step response, bins weighted by their contacts
    (plateau, tau), _ = curve_fit(
        lambda x, p, ta: p * (1 - np.exp(-x / ta)), tt, mean, p0=(plateau0, window_s / 10),
        sigma=1 / np.sqrt(np.maximum(counts, 1)), bounds=([-np.inf, bin_s / 100], [np.inf, 10 * window_s]))
    plateau, tau = float(plateau), float(tau)
    share = mean / plateau
    settled = tau < window_s / 4
    diags = (Diagnostic(
        "relaxation", "ok" if settled else "warning",
        f"relaxation time {tau:.0f} s, settled well inside the {window_s:.0f} s window"
        if settled else
        f"relaxation time {tau:.0f} s is not short against the {window_s:.0f} s window; "
        "lengthen window_s", tau),)
    prof = pd.DataFrame({"t_s": tt, "contacts": counts,
                         "wait_diff_s": mean, "share_of_plateau": share})
    return Relaxation(tau, plateau, prof, diags,
                      {"factor": factor, "n_reps": n_reps, "window_s": window_s, "bin_s": bin_s,
                       "occupancy": centre.occupancy})
