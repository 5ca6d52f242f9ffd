"""The simulator: Erlang A anchors, a ciw cross-check, CRN, determinism, features, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from servicelab.errors import DesignError
from simulation import (
    FIFO,
    AgentGroup,
    Callback,
    ContactCentre,
    Deterministic,
    Exponential,
    Gamma,
    IntervalForecast,
    LogNormal,
    LongestIdleAgent,
    Poisson,
    Queue,
    Retrial,
    ServiceLevel,
    Shift,
    SimulationRun,
    SkillsBasedOverflow,
    StaticPriority,
    Trace,
    replicate,
)
from simulation.engine import run_seed_sequence
from simulation.records import RECORD_FIELDS
from tests.anchors import load_anchor

# anchor key -> our measure key (anchor SL = answered within t over ALL arrivals = "offered")
KEYS = {
    "p_wait": "p_wait",
    "p_abandon": "p_abandon",
    "asa_answered_s": "asa_answered_s",
    "ewq_all_s": "ewq_all_s",
    "lq": "lq",
    "occupancy": "occupancy",
    "sl_answered_20s": "sl_20s",
    "sl_answered_60s": "sl_60s",
    "p_virtual_wait_le_20s": "p_virtual_wait_le_20s",
    "p_virtual_wait_le_60s": "p_virtual_wait_le_60s",
}
# warm-up, horizon (s) and replications per case: past the transient, and enough replications for
# the Student-t band below to be narrow; about 2 s per case on 2 workers
PLAN = {12: (7200, 42 * 3600, 30), 520: (3600, 4 * 3600, 16), 480: (3600, 4 * 3600, 16)}
# Per-measure z-band: |mean - exact| <= t_{n-1}(1 - ALPHA / 2) * se + half a unit of the anchor's
# rounding, with se = sd / sqrt(n) over independent replications. ALPHA is the false-failure rate
# of one measure under a correct simulator (the replication means are close to normal), so the
# 30 checks (10 measures x 3 cases) fail together with probability at most 30 * ALPHA = 0.3%
# (Bonferroni), whatever the seed. The band is 4.5 se for c=12 (n=30) and 5.2 se for c=480/520
# (n=16); a simulator bias of that size on any measure fails the test.
ALPHA = 1e-4


def _erlang_a_model(row: dict) -> ContactCentre:
    warm, horizon, _ = PLAN[row["c"]]
    q = Queue(
        "q",
        Poisson(row["lam"] / 60, horizon),
        aht_s=Exponential(row["aht"] * 60.0),
        patience_s=Exponential(row["patience"] * 60.0),
    )
    return ContactCentre([q], [AgentGroup("agents", ("q",), row["c"])], warmup_s=warm)


@pytest.mark.parametrize("row", load_anchor("queueing")["erlang_a"], ids=lambda r: f"c{r['c']}")
def test_replicated_simulation_matches_exact_erlang_a(row: dict) -> None:
    n_reps = PLAN[row["c"]][2]
    res = replicate(
        _erlang_a_model(row),
        n_reps,
        rng=2026,  # any seed: the band's false-failure rate is stated above
        backend="process",
        n_workers=2,
        service_levels=(ServiceLevel(20.0), ServiceLevel(60.0)),
        progress=False,
    )
    reps = res.replications
    band = stats.t.ppf(1 - ALPHA / 2, n_reps - 1)
    half_unit = 5e-5  # the anchors are rounded to 4 decimals
    z = {}
    for k, v in KEYS.items():
        x = reps[v].to_numpy(float)
        se = x.std(ddof=1) / np.sqrt(x.size)
        gap = max(abs(x.mean() - row[k]) - half_unit, 0.0)
        z[k] = gap / se if se > 0 else (0.0 if gap == 0 else np.inf)
    misses = {k: round(v, 2) for k, v in z.items() if v > band}
    assert not misses, f"|z| above {band:.2f} (per-measure false-failure rate {ALPHA:g}): {misses}"


def _two_class(priority: bool = True) -> ContactCentre:
    qs = [
        Queue("A", Poisson(1.2 / 60, 26 * 3600), aht_s=240.0, patience_s=180.0, priority=1),
        Queue("B", Poisson(0.9 / 60, 26 * 3600), aht_s=360.0, patience_s=300.0, priority=2),
    ]
    return ContactCentre(
        qs, [AgentGroup("pool", ("A", "B"), 11)], routing=StaticPriority(), warmup_s=3600,
        horizon_s=25 * 3600,
    )


def _ciw_measures(seed: int) -> dict[str, float]:
    ciw = pytest.importorskip("ciw")
    net = ciw.create_network(
        arrival_distributions={"A": [ciw.dists.Exponential(1.2)], "B": [ciw.dists.Exponential(0.9)]},
        service_distributions={
            "A": [ciw.dists.Exponential(1 / 4)],
            "B": [ciw.dists.Exponential(1 / 6)],
        },
        number_of_servers=[11],
        priority_classes={"A": 0, "B": 1},
        reneging_time_distributions={
            "A": [ciw.dists.Exponential(1 / 3)],
            "B": [ciw.dists.Exponential(1 / 5)],
        },
    )
    ciw.seed(seed)  # ciw only offers global seeding; this is the baseline, not our code
    sim = ciw.Simulation(net)
    sim.simulate_until_max_time(26 * 60)
    r = pd.DataFrame([(x.customer_class, x.arrival_date, x.waiting_time, x.record_type)
                      for x in sim.get_all_records()], columns=["q", "t", "w", "kind"])
    r = r[(r.t >= 60) & (r.t < 25 * 60)]
    out = {}
    for q in ("A", "B"):
        s = r[r.q == q]
        out[f"p_abandon_{q}"] = float((s.kind == "renege").mean())
        out[f"wait_s_{q}"] = float(s.w.mean() * 60)
    return out


def _our_measures(seed: int) -> dict[str, float]:
    r = _two_class().run(rng=seed).records()
    r = r[r.arrival_s >= 3600]
    out = {}
    for q in ("A", "B"):
        s = r[r["queue"] == q]
        out[f"p_abandon_{q}"] = float(s.abandoned.mean())
        out[f"wait_s_{q}"] = float(s.wait_s.mean())
    return out


def test_multi_class_priority_case_agrees_with_ciw() -> None:
    ours = pd.DataFrame([_our_measures(s) for s in range(8)])
    theirs = pd.DataFrame([_ciw_measures(1000 + s) for s in range(8)])
    for col in ours:
        d = ours[col].mean() - theirs[col].mean()
        se = np.sqrt(ours[col].var() / 8 + theirs[col].var() / 8)
        assert abs(d) < 3.5 * se, (col, ours[col].mean(), theirs[col].mean(), se)
    # and the priority matters in both: class A waits far less than class B
    assert ours["wait_s_A"].mean() < 0.5 * ours["wait_s_B"].mean()


def test_same_seed_same_numbers() -> None:
    m = _two_class()
    a, b = m.run(rng=4).records(), m.run(rng=4).records()
    pd.testing.assert_frame_equal(a, b)
    c = m.run(rng=5).records()
    assert len(c) != len(a) or not np.allclose(c.arrival_s, a.arrival_s)


def _crn_model(agents: int) -> ContactCentre:
    return ContactCentre(
        [Queue("q", Poisson(20 / 60, 4 * 3600), aht_s=LogNormal(300.0, 0.8), patience_s=240.0)],
        [AgentGroup("a", ("q",), agents)],
        warmup_s=1800,
    )


def test_crn_makes_paired_comparisons_much_tighter() -> None:
    from simulation import paired_comparison

    base = replicate(_crn_model(104), 10, rng=77, backend="serial", progress=False)
    more = replicate(_crn_model(106), 10, rng=77, backend="serial", progress=False)
    indep = replicate(_crn_model(106), 10, rng=78, backend="serial", progress=False)
    paired = paired_comparison(base, more, labels=("104", "106"))
    for k in ("asa_answered_s", "p_abandon", "sl_20s"):
        d_indep = base.replications[k].to_numpy() - indep.replications[k].to_numpy()
        assert paired.row(k)["sd_diff"] < 0.5 * d_indep.std(ddof=1), k
        assert paired.row(k)["variance_ratio"] > 2, k
        assert "cut the variance" in paired.variance_sentence(k)
    # two more agents: less waiting, in every paired replication
    row = paired.row("asa_answered_s")
    assert row["ci_low"] > 0 < row["mean_diff"]
    assert paired.difference_sentence("asa_answered_s").startswith("104 gives the higher")
    # independent seeds are not a paired comparison: refused
    with pytest.raises(DesignError, match="same seeds"):
        paired_comparison(base, indep)


def test_warmup_contacts_are_left_out() -> None:
    q = Queue("q", Trace([10.0, 20.0, 4000.0]), aht_s=Deterministic(5.0))
    run = ContactCentre([q], [AgentGroup("a", ("q",), 1)], warmup_s=3600).run(rng=0)
    assert run.measures()["offered"] == 1
    assert run.records().shape[0] == 3


def test_shifts_and_breaks_change_capacity() -> None:
    # one agent on 0-1h with a break 20-40 min; contacts in the break wait for its end
    q = Queue("q", Trace([1300.0, 1400.0, 3000.0, 4000.0]), aht_s=Deterministic(60.0))
    shift = Shift(0, 3600, breaks=((1200, 2400),))
    run = ContactCentre([q], [AgentGroup("a", ("q",), 1, shift=shift)]).run(rng=0)
    r = run.records()
    np.testing.assert_allclose(r.start_s.to_numpy()[:3], [2400.0, 2460.0, 3000.0])
    assert np.isnan(r.start_s.iloc[3])  # arrives after the shift: never answered
    assert [d.name for d in run.diagnostics if d.loud] == ["unresolved"]
    # capacity over the day follows the roster
    m = run.interval_metrics(interval_s=1200)
    occ = m[m.queue == "all"].occupancy.to_numpy()
    assert np.isnan(occ[1]) and occ[2] > 0  # nobody staffed during the break interval


@pytest.mark.parametrize("two_groups", [False, True], ids=["fast path", "generic path"])
def test_agents_return_after_a_break_that_ends_after_the_last_arrival(two_groups) -> None:
    # the arrival horizon is ~70 s; the agent's break runs 50-200 s: it must come back
    q = Queue("q", Trace([60.0, 70.0]), aht_s=Deterministic(5.0))
    groups = [AgentGroup("a", ("q",), 1, shift=Shift(0, 1000, breaks=((50, 200),)))]
    if two_groups:
        groups.append(AgentGroup("b", ("q",), 1, shift=Shift(150, 1000)))
    run = ContactCentre([q], groups).run(rng=0)
    r = run.records()
    np.testing.assert_allclose(r.start_s, [200.0, 205.0] if not two_groups else [150.0, 155.0])
    assert not [d for d in run.diagnostics if d.loud]


@pytest.mark.parametrize("two_groups", [False, True], ids=["fast path", "generic path"])
def test_repeating_shift_comes_back_for_contacts_left_at_the_horizon(two_groups) -> None:
    # on duty 0-100 s every 1000 s; the last contact arrives at 150 s, after the first occurrence
    q = Queue("q", Trace([60.0, 150.0]), aht_s=Deterministic(5.0))
    groups = [AgentGroup("a", ("q",), 1, shift=Shift(0, 100, breaks=((40, 80),), period_s=1000))]
    if two_groups:
        groups.append(AgentGroup("b", ("q",), 1, shift=Shift(0, 30)))
    run = ContactCentre([q], groups).run(rng=0)
    np.testing.assert_allclose(run.records().start_s, [80.0, 1000.0])
    assert not [d for d in run.diagnostics if d.loud]


def test_repeating_shift_chain_ends_when_the_policy_never_serves() -> None:
    class Never:
        def select_agent(self, state, c):
            return None

        def select_queue(self, state, a):
            return None

    q = Queue("q", Trace([60.0, 150.0]), aht_s=Deterministic(5.0))
    group = AgentGroup("a", ("q",), 1, shift=Shift(0, 100, period_s=1000))
    run = ContactCentre([q], [group], routing=Never()).run(rng=0)
    assert run.records().answered.sum() == 0
    assert [d.name for d in run.diagnostics if d.loud] == ["unresolved"]
    assert run.info["sim_end_s"] < 10_000  # a few occurrences, then the run ends


def test_daily_shift_pattern_and_generic_path_with_two_groups() -> None:
    day = Shift(8 * 3600, 16 * 3600, breaks=((12 * 3600, 12.5 * 3600),), period_s=86400)
    night = Shift(0, 8 * 3600, period_s=86400)
    late = Shift(16 * 3600, 24 * 3600, period_s=86400)
    f = IntervalForecast.from_rates([20] * 16 + [200] * 16 + [40] * 16, interval_s=1800)
    q = Queue("q", f, aht_s=300.0, patience_s=300.0)
    agents = [AgentGroup("day", ("q",), 25, shift=day), AgentGroup("night", ("q",), 3, shift=night),
              AgentGroup("late", ("q",), 8, shift=late)]
    run = ContactCentre([q], agents).run(rng=2)
    r = run.records()
    hour = (r.start_s // 3600).dropna()
    assert set(r.loc[hour.index[(hour >= 8) & (hour < 12)], "group"].astype(str)) == {"day"}
    m = run.interval_metrics(interval_s=1800)
    m = m[m.queue == "all"]
    brk = m.interval_start_s == 12 * 3600  # the day group's break leaves nobody on duty
    assert m.occupancy[brk].isna().all() and m.occupancy[~brk].notna().all()
    assert (m.occupancy[~brk] <= 1.0001).all()
    assert m.queue_len[brk].iloc[0] > 3 * m.queue_len[~brk].median()


def test_chat_concurrency_holds_several_contacts() -> None:
    q = Queue("chat", Poisson(3 / 60, 2 * 3600), aht_s=600.0, patience_s=None, channel="chat")
    run = ContactCentre([q], [AgentGroup("c", ("chat",), 4, concurrency=3)]).run(rng=1)
    r = run.records().dropna(subset=["start_s"])
    assert r.answered.all()
    ev = pd.concat([
        pd.DataFrame({"agent": r.agent, "t": r.start_s, "d": 1}),
        pd.DataFrame({"agent": r.agent, "t": r.start_s + r.handle_s, "d": -1}),
    ]).assign(t=lambda f: f.t.round(6)).sort_values(["t", "d"])  # ends before starts at ties
    load = ev.groupby("agent")["d"].cumsum()
    assert load.max() == 3  # never more than the concurrency, and it is used
    assert run.measures()["occupancy"] > 0.5


def test_retrials_and_callbacks() -> None:
    q = Queue("q", Poisson(1.0, 3600), aht_s=300.0, patience_s=Exponential(30.0))
    base = ContactCentre([q], [AgentGroup("a", ("q",), 250)], warmup_s=0)
    r = base.run(rng=3).records()
    rt = ContactCentre(base.queues, base.agents, retrial=Retrial(0.6, 120.0, 2)).run(rng=3).records()
    assert (rt.attempt > 0).sum() > 0.3 * r.abandoned.sum()
    retry = rt[rt.attempt == 1].set_index("contact_id")
    first = rt[rt.attempt == 0].set_index("contact_id").loc[retry.index]
    assert first.abandoned.all()
    assert (retry.arrival_s > first.arrival_s + first.wait_s).all()
    cb = ContactCentre(base.queues, base.agents, callback=Callback(10.0, 1.0)).run(rng=3).records()
    assert cb.callback.sum() > 0
    assert not cb[cb.callback].abandoned.any() and cb[cb.callback].answered.all()
    assert cb.abandoned.sum() < r.abandoned.sum()
    # same contacts under CRN whatever the feature
    np.testing.assert_array_equal(cb.arrival_s, r.arrival_s)


def test_records_frame_and_measures_shapes() -> None:
    run = _two_class().run(rng=1)
    r = run.records()
    assert list(r.columns) == [
        "contact_id", "attempt", "queue", "channel", "arrival_s", "wait_s", "answered", "abandoned",
        "start_s", "handle_s", "agent", "group", "overflow", "callback", "virtual_wait_s",
    ]
    assert (r.answered ^ r.abandoned).all()
    assert r.wait_s.ge(0).all() and r.arrival_s.is_monotonic_increasing
    assert "service level" in run.summary().info
    assert run.to_dict()["n_contacts"] == len(r)


def test_records_carry_each_queues_channel() -> None:
    qs = [Queue("sales", Trace([1.0, 5.0]), 10.0), Queue("web", Trace([2.0]), 10.0, channel="chat"),
          Queue("billing", Trace([3.0]), 10.0)]
    m = ContactCentre(qs, [AgentGroup("a", ("sales", "web", "billing"), 2)])
    r = m.run(rng=0).records()
    assert isinstance(r.channel.dtype, pd.CategoricalDtype)
    assert list(r.channel.cat.categories) == ["voice", "chat"]
    assert dict(zip(r.queue.astype(str), r.channel.astype(str), strict=True)) == {
        "sales": "voice", "web": "chat", "billing": "voice"}


def test_skills_overflow_runs_in_the_generic_path() -> None:
    qs = [Queue("x", Poisson(1 / 60, 3600), 200.0, 100.0), Queue("y", Poisson(1 / 60, 3600), 200.0)]
    m = ContactCentre(
        qs, [AgentGroup("x", ("x", "y"), 2), AgentGroup("y", ("y",), 2)],
        routing=SkillsBasedOverflow(20.0),
    )
    assert not m.run(rng=0).info["fast_path"]
    one = ContactCentre(qs[:1], [AgentGroup("x", ("x",), 2)], routing=LongestIdleAgent())
    assert one.run(0).info["fast_path"]


def test_bad_models_are_design_errors() -> None:
    q = Queue("q", Poisson(1.0, 60), 10.0)
    with pytest.raises(DesignError, match="zero agents"):
        ContactCentre([q], [])
    with pytest.raises(DesignError, match="positive integer"):
        AgentGroup("a", ("q",), 0)
    with pytest.raises(DesignError, match="unknown queues"):
        ContactCentre([q], [AgentGroup("a", ("z",), 1)])
    with pytest.raises(DesignError, match="no agent with that skill"):
        ContactCentre([q, Queue("r", Poisson(1.0, 60), 10.0)], [AgentGroup("a", ("q",), 1)])
    with pytest.raises(DesignError):
        Queue("q", Poisson(1.0, 60), aht_s=-5.0)
    with pytest.raises(DesignError):
        Queue("q", Poisson(1.0, 60), aht_s=10.0, patience_s="soon")
    with pytest.raises(DesignError):
        ContactCentre([q], [AgentGroup("a", ("q",), 1)], routing=object())
    with pytest.raises(DesignError):
        Shift(10, 5)
    with pytest.raises(DesignError):
        Shift(0, 10, breaks=((8, 12),))
    with pytest.raises(DesignError):
        Retrial(prob=1.5)


@pytest.mark.parametrize("groups", [1, 2])
def test_staffing_profile_changes_capacity_and_returning_agents_pick_up_work(groups) -> None:
    # one agent on duty, then none for [100, 200), then one again: the contact that arrives
    # at 150 waits and is answered at exactly 200 by the returning (still-listed) agent
    q = Queue("q", Trace([10.0, 150.0]), aht_s=Deterministic(5.0))
    agents = [AgentGroup(f"g{i}", ("q",), 1, profile=(1, 0, 1), profile_interval_s=100.0)
              for i in range(groups)]
    run = ContactCentre([q], agents).run(rng=0)
    assert run.info["fast_path"] == (groups == 1)
    np.testing.assert_allclose(run.records().start_s, [10.0, 200.0])


def test_plan_simulator_follows_the_plan_under_crn() -> None:
    from simulation import PlanSimulator

    sim = PlanSimulator((300.0, 600.0, 300.0), aht_s=300.0, patience_s=120.0, interval_s=1800)
    thin = sim(np.array([50, 60, 50]), np.random.default_rng(1))
    rich = sim(np.array([50, 120, 50]), np.random.default_rng(1))
    assert list(thin.agents) == [50, 60, 50]
    np.testing.assert_array_equal(thin.offered, rich.offered)  # same contacts
    assert rich.service_level[1] > thin.service_level[1] + 0.2
    assert thin.occupancy[1] > rich.occupancy[1]
    with pytest.raises(DesignError, match="one value per interval"):
        sim(np.array([50, 60]), 0)
    with pytest.raises(DesignError, match="profile"):
        AgentGroup("p", ("q",), 3, profile=(1, 5))


# -- fast path against generic path, seeds, records -------------------------------------------------
class _GenericLongestIdle(LongestIdleAgent):
    """The same policy; a subclass is not a built-in type, so the engine runs its generic path."""


class _GenericFIFO(FIFO):
    """As above, for FIFO."""


def _differential_models() -> list[ContactCentre]:
    day = IntervalForecast.from_rates([30, 120, 60, 200], interval_s=1800)
    return [
        ContactCentre([Queue("q", Poisson(20 / 60, 4 * 3600), aht_s=LogNormal(300.0, 0.8), patience_s=240.0)],
                      [AgentGroup("a", ("q",), 100)], warmup_s=1800),
        ContactCentre([Queue("q", day, aht_s=300.0, patience_s=120.0)],
                      [AgentGroup("a", ("q",), 40, profile=(10, 40, 20, 35), profile_interval_s=1800)]),
        ContactCentre([Queue("q", Poisson(1.0, 3600), aht_s=300.0, patience_s=Exponential(30.0))],
                      [AgentGroup("a", ("q",), 250)], retrial=Retrial(0.6, 120.0, 2), callback=Callback(10.0, 0.5)),
        ContactCentre([Queue("q", day, aht_s=Gamma(300.0, 0.5), patience_s=LogNormal(120.0, 1.0))],
                      [AgentGroup("a", ("q",), 30, shift=Shift(0, 7200, breaks=((1800, 2400),)))]),
    ]


@pytest.mark.parametrize("k", range(4), ids=["poisson", "profile", "retrial+callback", "shift+break"])
@pytest.mark.parametrize("policy", [LongestIdleAgent, FIFO], ids=["longest_idle", "fifo"])
def test_fast_path_and_generic_path_give_identical_records(k, policy) -> None:
    model = _differential_models()[k].with_routing(policy())
    generic = {LongestIdleAgent: _GenericLongestIdle, FIFO: _GenericFIFO}[policy]
    for seed in (3, 11):
        fast = model.run(rng=seed)
        slow = model.with_routing(generic()).run(rng=seed)
        assert fast.info["fast_path"] and not slow.info["fast_path"]  # really two dispatchers
        assert fast.n_contacts > 100
        for name in RECORD_FIELDS:
            np.testing.assert_array_equal(fast.records_arrays[name], slow.records_arrays[name], err_msg=name)


def test_run_seed_semantics_int_seedsequence_and_generator() -> None:
    m = _two_class()
    first = m.run(rng=7).records()
    pd.testing.assert_frame_equal(first, m.run(rng=7).records())  # an int: the same contacts
    seq = np.random.SeedSequence(7)
    pd.testing.assert_frame_equal(first, m.run(rng=seq).records())  # its SeedSequence: the same
    assert seq.n_children_spawned == 0  # and a SeedSequence is never consumed
    # a Generator is a stream of runs: advanced by each run, reproducible from its seed
    g = np.random.default_rng(7)
    a, b = m.run(rng=g).records(), m.run(rng=g).records()
    assert len(a) != len(b) or not np.allclose(a.arrival_s, b.arrival_s)
    g2 = np.random.default_rng(7)
    pd.testing.assert_frame_equal(a, m.run(rng=g2).records())
    pd.testing.assert_frame_equal(b, m.run(rng=g2).records())
    assert run_seed_sequence(7).entropy == 7
    import simulation.engine as engine

    with pytest.warns(DeprecationWarning, match="run_seed_sequence"):
        assert engine.seed_sequence is run_seed_sequence


def test_named_stream_is_the_core_one() -> None:
    import servicelab.random
    import simulation

    assert simulation.named_stream is servicelab.random.named_stream


def test_records_module_breaks_the_engine_metrics_cycle() -> None:
    import ast
    from pathlib import Path

    import simulation

    root = Path(simulation.__file__).parent
    for name in ("metrics.py", "records.py", "service_level.py"):
        tree = ast.parse((root / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "engine" not in imported and "simulation.engine" not in imported, name
    run = _two_class().run(rng=1)
    assert isinstance(run, SimulationRun)
    assert set(run.records_arrays) == set(RECORD_FIELDS)


def test_deprecated_queue_keywords_still_work() -> None:
    with pytest.warns(DeprecationWarning, match="aht_s"):
        q = Queue("q", Poisson(1.0, 60), aht=10.0)
    assert q == Queue("q", Poisson(1.0, 60), aht_s=10.0)
    with pytest.warns(DeprecationWarning, match="aht_s"):
        assert q.aht.mean == 10.0
    with pytest.raises(DesignError, match="aht_s only"):
        Queue("q", Poisson(1.0, 60), aht_s=10.0, aht=10.0)
