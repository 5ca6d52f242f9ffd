"""Routing policies: exact decisions on tiny traces, semantics on small models, bad policies."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import (
    FIFO,
    AgentGroup,
    ContactCentre,
    Deterministic,
    LongestIdleAgent,
    Poisson,
    Queue,
    RoutingError,
    SkillsBasedOverflow,
    StaticPriority,
    Trace,
)


def _two_group_trace(policy) -> np.ndarray:
    q = Queue("q", Trace([0.0, 10.0]), aht_s=Deterministic(5.0))
    m = ContactCentre([q], [AgentGroup("A", ("q",), 1), AgentGroup("B", ("q",), 1)], routing=policy)
    return m.run(rng=0).records()["group"].astype(str).to_numpy()


def test_longest_idle_agent_vs_fifo_hunting_order() -> None:
    # at t=10, A has been idle since 5 and B since 0: LIA picks B, FIFO hunts A first
    assert _two_group_trace(LongestIdleAgent()).tolist() == ["A", "B"]
    assert _two_group_trace(FIFO()).tolist() == ["A", "A"]


def _multi(policy, seed: int = 3):
    queues = [
        Queue("gold", Poisson(1.0 / 60, 4 * 3600), aht_s=240.0, patience_s=600.0, priority=1),
        Queue("std", Poisson(1.5 / 60, 4 * 3600), aht_s=240.0, patience_s=600.0, priority=2),
    ]
    agents = [
        AgentGroup("gold", ("gold", "std"), 4),
        AgentGroup("std", ("std", "gold"), 5),
    ]
    return ContactCentre(queues, agents, routing=policy, warmup_s=1800).run(rng=seed)


def test_static_priority_favours_the_high_priority_queue() -> None:
    r = _multi(StaticPriority()).records()
    w = r.groupby("queue", observed=True)["wait_s"].mean()
    assert w["gold"] < 0.6 * w["std"]
    f = _multi(FIFO()).records().groupby("queue", observed=True)["wait_s"].mean()
    assert w["gold"] < f["gold"]


def test_skills_overflow_only_after_threshold() -> None:
    run = _multi(SkillsBasedOverflow(threshold_s=45.0))
    r = run.records()
    over = r[r["overflow"]]
    assert len(over) > 10
    assert (over["wait_s"] >= 45.0 - 1e-6).all()
    # the primary group of each queue answers most of it
    share = (r[r["answered"]].groupby("queue", observed=True)["overflow"].mean())
    assert (share < 0.5).all()


def test_policies_see_the_same_contacts_under_crn() -> None:
    a = _multi(FIFO(), seed=9).records()
    b = _multi(StaticPriority(), seed=9).records()
    np.testing.assert_array_equal(a["arrival_s"], b["arrival_s"])
    np.testing.assert_array_equal(a["queue"], b["queue"])
    np.testing.assert_array_equal(a["handle_s"].notna(), a["answered"])


class _Busy:
    """Always returns agent 0, busy or not."""

    reconsider_after_s = None

    def select_agent(self, state, contact):
        return 0

    def select_queue(self, state, agent):
        return None


class _WrongSkill(_Busy):
    def select_agent(self, state, contact):
        return state.idle_agent(1)  # group 1 lacks the skill of queue "a"


class _WrongQueue(_Busy):
    def select_agent(self, state, contact):
        return state.idle_agent(0)

    def select_queue(self, state, agent):
        return 1  # queue "b", which group "g" does not serve


def test_policy_returning_an_ineligible_agent_raises() -> None:
    q = Queue("a", Trace([0.0, 1.0]), aht_s=Deterministic(10.0))
    with pytest.raises(RoutingError, match="has no free slot"):
        ContactCentre([q], [AgentGroup("g", ("a",), 2)], routing=_Busy()).run(rng=0)
    qs = [q, Queue("b", Trace([0.0]), aht_s=1.0)]
    agents = [AgentGroup("g", ("a",), 1), AgentGroup("h", ("b",), 1)]
    with pytest.raises(RoutingError, match="lacks skill 'a'"):
        ContactCentre(qs, agents, routing=_WrongSkill()).run(rng=0)
    with pytest.raises(RoutingError, match="select_queue"):
        ContactCentre(qs, agents, routing=_WrongQueue()).run(rng=0)


def test_custom_policy_from_the_docs_runs() -> None:
    import simulation.routing as routing

    ns: dict = {}
    src = "\n".join(
        line[4:] for line in routing.__doc__.splitlines() if line.startswith((">>> ", "... "))
    )
    exec(src, ns)  # the documented example policy
    r = _multi(ns["FirstFree"]())
    m = r.measures()
    assert m["offered"] > 0 and 0 <= m["p_abandon"] < 0.5
