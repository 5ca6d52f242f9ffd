"""Staffing requirements, shift scheduling (milp) and the simulation hooks."""

from __future__ import annotations

import itertools
import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from servicelab.errors import DataError, DesignError
from simulation import PlanSimulator, ServiceLevel
from simulation.analytic import erlang_a, erlang_c
from simulation.staffing import (
    PlanVerification,
    ShiftSchedule,
    ShiftScheduler,
    ShiftTemplate,
    compare_plan,
    interval_requirements,
    required_agents,
    simulated_requirements,
    verify_schedule_by_simulation,
)
from tests.anchors import load_anchor

matplotlib.use("Agg")

ANCHOR = load_anchor("queueing")["staffing_80_within_20s_aht5_patience2"]


# -- one interval -------------------------------------------------------------------------------
@pytest.mark.parametrize("row", ANCHOR, ids=lambda r: f"lam{r['lam']}")
def test_staffing_rows_match_anchor(row):
    lam_h = row["lam"] * 60
    kw = {"target_sl": 0.8, "service_level": ServiceLevel(20)}
    assert required_agents(lam_h, 300, **kw).agents == row["erlang_c_agents"]
    assert required_agents(lam_h, 300, patience_s=120, **kw).agents == row["erlang_a_agents"]
    capped = required_agents(lam_h, 300, patience_s=120, max_abandon=0.02, **kw)
    assert capped.agents == row["erlang_a_agents_with_abandon_le_2pct"]
    assert capped.p_abandon <= 0.02


@pytest.mark.parametrize(
    ("lam_h", "patience"), [(120, None), (6000, None), (6000, 120), (120_000, 120), (120_000, None)]
)
def test_requirement_is_the_minimum(lam_h, patience):
    r = required_agents(lam_h, 300, target_sl=0.8, service_level=20, patience_s=patience)
    assert r.service_level >= 0.8
    if patience is None:
        below = erlang_c(lam_h, 300, r.agents - 1) if r.agents - 1 > r.arrivals_per_hour / 12 else None
        assert below is None or below.service_level < 0.8
    else:
        assert erlang_a(lam_h, 300, r.agents - 1, patience).service_level < 0.8
    json.dumps(r.to_dict())
    assert "within 20 s" in str(r.summary())


def test_requirement_at_ten_thousand_agents_is_fast_and_near_square_root():
    r = required_agents(120_000, 300, target_sl=0.8, service_level=20)
    assert 10_000 < r.agents < 10_000 + 3 * 100  # load + beta sqrt(load), beta < 3


@pytest.mark.parametrize("patience", [None, 120.0])
def test_requirement_at_a_billion_arrivals_per_hour_is_the_minimum(patience):
    lam = 1e9  # 83.3 million Erlangs: the bounded formulas answer in milliseconds
    cap = None if patience is None else 0.02  # without a cap, 15% abandonment "buys" 80/20 at this scale
    r = required_agents(lam, 300, target_sl=0.8, service_level=20, patience_s=patience, max_abandon=cap)
    load = lam / 3600 * 300
    # Erlang C: the QED regime, n = load + beta sqrt(load); Erlang A with a 2% abandonment cap:
    # the efficiency-driven (fluid) limit, n = load (1 - cap), where everyone waits a little
    expected = load if cap is None else load * (1 - cap)
    assert abs(r.agents - expected) < 3 * math.sqrt(load)
    assert r.service_level >= 0.8 and (cap is None or r.p_abandon <= cap)
    below = (erlang_c(lam, 300, r.agents - 1) if patience is None
             else erlang_a(lam, 300, r.agents - 1, patience))
    assert below.service_level < 0.8 or below.p_abandon > cap


def test_zero_arrivals_need_zero_agents():
    for patience in (None, 120.0):
        r = required_agents(0, 300, target_sl=0.8, patience_s=patience)
        assert r.agents == 0 and r.service_level == 1.0 and r.p_wait == 0.0


def test_requirement_names_its_definition_and_keeps_the_old_keywords():
    sl = ServiceLevel(30, "answered")
    r = required_agents(600, 300, target_sl=0.9, service_level=sl, patience_s=120)
    assert r.service_level_definition == sl and r.sl_threshold_s == 30
    assert r.to_dict()["service_level_definition"]["description"] == sl.describe()
    assert sl.describe() in str(r.summary())
    with pytest.warns(DeprecationWarning, match="sl_threshold_s|sl_definition"):
        old = required_agents(600, 300, target_sl=0.9, sl_threshold_s=30,
                              sl_definition="answered_within_t/answered", patience_s=120)
    assert old.agents == r.agents
    # each definition gives its own requirement: ignoring abandonment needs fewer agents
    strict = required_agents(600, 300, target_sl=0.9, service_level=ServiceLevel(30), patience_s=120)
    assert strict.agents >= r.agents


def test_requirement_bad_input():
    with pytest.raises(DesignError, match="target_sl"):
        required_agents(600, 300, target_sl=1.2)
    with pytest.raises(DesignError, match="max_abandon"):
        required_agents(600, 300, max_abandon=0.02)  # Erlang C has no abandonment
    with pytest.raises(DesignError, match="patience_s"):
        required_agents(600, 300, model="erlang_a")
    with pytest.raises(DesignError, match="arrivals_per_hour"):
        required_agents(-5, 300)


# -- per interval -------------------------------------------------------------------------------
def _forecast():
    start = pd.Timestamp("2026-01-05 06:00")
    arrivals = np.array([30, 60, 150, 300, 300, 150, 60, 0])
    return pd.DataFrame(
        {
            "interval_start": start + pd.to_timedelta(np.arange(8) * 30, unit="min"),
            "arrivals": arrivals,
            "aht_s": 300.0,
        }
    )


def test_interval_requirements_row_by_row():
    req = interval_requirements(_forecast(), patience_s=120)
    t = req.table
    assert list(t["interval_start"]) == list(_forecast()["interval_start"])
    for row in t.itertuples():
        if row.arrivals == 0:
            assert row.required_erlang_a == row.required_erlang_c == 0
            continue
        a = required_agents(row.arrivals_per_hour, 300, patience_s=120).agents
        c = required_agents(row.arrivals_per_hour, 300).agents
        assert (row.required_erlang_a, row.required_erlang_c) == (a, c)
        assert row.required_erlang_a <= row.required_erlang_c
    assert np.array_equal(req.required, t["required_erlang_a"].to_numpy())
    json.dumps(req.to_dict())
    assert "peak required" in str(req.summary())
    assert req.plot() is not None


def test_interval_requirements_are_monotone_in_handle_time_and_name_the_definition():
    f = pd.DataFrame({"arrivals": [30.0, 90.0, 0.0]})
    kw = {"target_sl": 0.8, "service_level": ServiceLevel(20), "patience_s": 600.0, "erlang_c_column": False}
    lo, mid, hi = (interval_requirements(f, aht_s=300.0 * k, **kw) for k in (0.8, 1.0, 1.2))
    assert (lo.required <= mid.required).all() and (mid.required <= hi.required).all()
    assert lo.required[1] < hi.required[1] and mid.required[2] == 0
    assert "required_erlang_c" not in mid.table
    assert (mid.table["service_level"] >= 0.8).all() and mid.table["service_level"].iloc[2] == 1.0
    assert mid.service_level_definition == ServiceLevel(20) and mid.sl_threshold_s == 20
    assert "over all offered contacts" in str(mid.summary())
    with pytest.warns(DeprecationWarning, match="sl_threshold_s"):
        old = interval_requirements(f, aht_s=300.0, target_sl=0.8, sl_threshold_s=20, patience_s=600.0)
    assert np.array_equal(old.required, mid.required)


def test_interval_requirements_bad_input():
    f = _forecast()
    with pytest.raises(DataError, match="arrivals"):
        interval_requirements(f.assign(arrivals=-f["arrivals"]))
    with pytest.raises(DataError, match="arrivals"):
        interval_requirements(f.drop(columns="arrivals"))
    with pytest.raises(DataError, match="aht_s"):
        interval_requirements(f.assign(aht_s=0.0))


# -- shift scheduling ---------------------------------------------------------------------------
def _brute_force(required, templates, interval_minutes, max_each=3):
    sched = ShiftScheduler(templates, interval_minutes=interval_minutes)
    a, meta = sched._columns(len(required))
    a = a.toarray()
    paid = np.array([m[2] for m in meta])
    best = np.inf
    for x in itertools.product(range(max_each + 1), repeat=a.shape[1]):
        x = np.array(x)
        if np.all(a @ x >= required):
            best = min(best, float(paid @ x))
    return best


def test_schedule_is_optimal_on_a_small_instance():
    required = np.array([1, 2, 3, 3, 2, 2, 1, 1])
    templates = [
        ShiftTemplate("4h", 240, breaks=((120, 60),), starts_min=(0, 120, 240), paid_breaks=False),
        ShiftTemplate("3h", 180, starts_min=(0, 180, 300)),
    ]
    s = ShiftScheduler(templates, interval_minutes=60).solve(required)
    assert s.fully_covered
    assert np.all(s.scheduled >= required)
    assert s.paid_hours == pytest.approx(_brute_force(required, templates, 60))
    assert s.shifts["agents"].sum() == s.headcount


def test_breaks_do_not_count_as_coverage():
    tpl = ShiftTemplate("4h", 240, breaks=((60, 60),), starts_min=(0,))
    assert tpl.working_mask(60).tolist() == [True, False, True, True]
    s = ShiftScheduler([tpl], interval_minutes=60).solve([2, 0, 2, 2])
    assert s.scheduled.tolist() == [2, 0, 2, 2]
    unpaid = ShiftTemplate("8h", 480, breaks=((240, 30),), paid_breaks=False)
    assert unpaid.paid_hours == pytest.approx(7.5)


def test_uncovered_intervals_are_reported_not_dropped():
    # a day shift that cannot reach the night intervals at the end
    tpl = ShiftTemplate("4h", 240, starts_min=(0, 60))
    s = ShiftScheduler([tpl], interval_minutes=60).solve([1, 1, 1, 1, 1, 0, 3, 2])
    assert not s.fully_covered
    unc = s.uncovered.set_index("interval")
    assert list(unc.index) == [6, 7]
    assert set(unc["reason"]) == {"no shift template covers this interval"}
    assert unc["uncovered"].tolist() == [3, 2]
    diag = {d.name: d for d in s.diagnostics}
    assert diag["coverage"].status == "warning"
    assert "WARNING" in str(s.summary())


def test_max_headcount_binds_and_is_reported():
    tpl = ShiftTemplate("4h", 240)
    s = ShiftScheduler([tpl], interval_minutes=60, max_headcount=2).solve([3, 3, 3, 3])
    assert s.headcount == 2
    assert s.uncovered["reason"].eq("max_headcount binds").all()
    assert int(s.plan["uncovered"].sum()) == 4


def test_schedule_from_interval_requirements_and_plan_report():
    req = interval_requirements(_forecast(), patience_s=120)
    tpl = [ShiftTemplate("2h", 120), ShiftTemplate("3h", 180)]
    s = ShiftScheduler(tpl, interval_minutes=30).solve(req)
    assert isinstance(s, ShiftSchedule)
    assert s.fully_covered
    assert "interval_start" in s.plan
    rep = compare_plan(req, s)
    assert rep["meets_target"].all()
    assert (rep["scheduled"] >= rep["required"]).all()
    # one agent short somewhere -> that interval misses the target
    short = s.scheduled.copy()
    k = int(np.argmax(req.required))
    short[k] = req.required[k] - 1
    rep2 = compare_plan(req, short)
    assert not rep2.loc[k, "meets_target"]
    assert rep2.loc[k, "service_level"] < 0.8
    json.dumps(s.to_dict())
    assert s.plot() is not None


def test_plan_report_flags_unstable_erlang_c_intervals():
    req = interval_requirements(_forecast())  # Erlang C
    agents = req.required.copy()
    agents[3] = 40  # load 50
    rep = compare_plan(req, agents)
    assert not rep.loc[3, "stable"]
    assert rep.loc[3, "service_level"] == 0.0


def test_scheduler_bad_input():
    with pytest.raises(DesignError, match="multiple"):
        ShiftScheduler([ShiftTemplate("odd", 45)], interval_minutes=30).solve([1, 1])
    with pytest.raises(DesignError, match="break"):
        ShiftScheduler([ShiftTemplate("b", 120, breaks=((100, 60),))], 30).solve([1] * 4)
    with pytest.raises(DataError, match="non-negative"):
        ShiftScheduler([ShiftTemplate("2h", 120)], 30).solve([1, -1, 1, 1])
    with pytest.raises(DesignError, match="ShiftTemplate"):
        ShiftScheduler([], 30).solve([1])


# -- simulation hooks (with a simulator stand-in: the Erlang A service level plus noise) -------
def _fake_simulator(loads_per_hour, noise):
    def simulate(agents, rng):
        sl = np.array(
            [
                erlang_a(lam, 300, max(int(n), 1), 120).service_level if lam > 0 else 1.0
                for lam, n in zip(loads_per_hour, agents, strict=True)
            ]
        )
        return pd.DataFrame({"service_level": sl + noise * rng.standard_normal(sl.size)})

    return simulate


def test_simulated_requirements_recovers_erlang_a_without_noise():
    req = interval_requirements(_forecast().iloc[:7], patience_s=120)
    sim = _fake_simulator(req.table["arrivals_per_hour"].to_numpy(), noise=0.0)
    start = np.maximum(req.required - 3, 0)
    out = simulated_requirements(start, sim, target_sl=0.8, n_reps=2, rng=1)
    assert np.array_equal(out["required"].to_numpy(), req.required)
    assert out["iterations"].iloc[0] == 4


def test_simulated_requirements_uses_common_random_numbers():
    # a stub that records the generator state it is handed, per candidate staffing: under CRN
    # every candidate gets the same replication seeds (and the replications differ from each other)
    req = interval_requirements(_forecast().iloc[:7], patience_s=120)
    sim = _fake_simulator(req.table["arrivals_per_hour"].to_numpy(), noise=0.02)
    seen: dict[tuple[int, ...], list[int]] = {}

    def recording(agents, rng):
        seen.setdefault(tuple(int(v) for v in agents), []).append(rng.bit_generator.state["state"]["state"])
        return sim(agents, rng)

    a = simulated_requirements(req.required - 2, recording, target_sl=0.8, n_reps=4, rng=5)
    assert len(seen) == a["iterations"].iloc[0] >= 2  # one entry per candidate staffing
    states = list(seen.values())
    assert len(set(states[0])) == 4
    assert all(s == states[0] for s in states[1:])
    assert np.all(np.abs(a["required"].to_numpy() - req.required) <= 2)


@pytest.mark.parametrize(
    "make", [lambda: 5, lambda: np.random.SeedSequence(5), lambda: np.random.default_rng(5)],
    ids=["int", "SeedSequence", "Generator"],
)
def test_same_rng_object_gives_the_same_simulated_staffing(make):
    # the seeds are derived without advancing rng: reusing one object reproduces the result
    req = interval_requirements(_forecast().iloc[:7], patience_s=120)
    sim = _fake_simulator(req.table["arrivals_per_hour"].to_numpy(), noise=0.05)
    rng = make()
    a = simulated_requirements(req.required - 2, sim, target_sl=0.8, n_reps=3, rng=rng)
    b = simulated_requirements(req.required - 2, sim, target_sl=0.8, n_reps=3, rng=rng)
    pd.testing.assert_frame_equal(a, b)
    c = verify_schedule_by_simulation(req.required, sim, target_sl=0.8, n_reps=3, rng=rng)
    d = verify_schedule_by_simulation(req.required, sim, target_sl=0.8, n_reps=3, rng=rng)
    pd.testing.assert_frame_equal(c.table, d.table)
    # an int, its SeedSequence and a generator seeded with it name the same replications
    pd.testing.assert_frame_equal(a, simulated_requirements(req.required - 2, sim, target_sl=0.8,
                                                            n_reps=3, rng=5))


def test_search_down_then_up_from_an_estimate():
    # from above the requirement (Erlang A + 3), direction="both" trims down to it exactly
    req = interval_requirements(_forecast().iloc[:7], patience_s=120)
    sim = _fake_simulator(req.table["arrivals_per_hour"].to_numpy(), noise=0.0)
    high = req.required + 3
    both = simulated_requirements(high, sim, target_sl=0.8, n_reps=2, rng=1, direction="both")
    assert np.array_equal(both["required"].to_numpy(), req.required)
    up = simulated_requirements(high, sim, target_sl=0.8, n_reps=2, rng=1)  # up only: stays put
    assert np.array_equal(up["required"].to_numpy(), high)
    low = simulated_requirements(np.maximum(req.required - 2, 0), sim, target_sl=0.8, n_reps=2, rng=1,
                                 direction="both")
    assert np.array_equal(low["required"].to_numpy(), req.required)
    with pytest.raises(DesignError, match="direction"):
        simulated_requirements(high, sim, target_sl=0.8, n_reps=2, direction="down")
    with pytest.warns(DeprecationWarning, match="n_replications"):
        old = simulated_requirements(high, sim, target_sl=0.8, n_replications=2, rng=1, direction="both")
    pd.testing.assert_frame_equal(old, both)


def test_verify_schedule_by_simulation_intervals_cover_truth():
    req = interval_requirements(_forecast().iloc[:7], patience_s=120)
    lam = req.table["arrivals_per_hour"].to_numpy()
    sim = _fake_simulator(lam, noise=0.03)
    res = verify_schedule_by_simulation(req.required, sim, target_sl=0.8, n_reps=8, rng=3)
    assert isinstance(res, PlanVerification)
    out = res.table
    truth = _fake_simulator(lam, noise=0.0)(req.required, np.random.default_rng(0))
    covered = (out["ci_low"] <= truth["service_level"]) & (truth["service_level"] <= out["ci_high"])
    assert covered.mean() >= 5 / 7
    assert set(out["meets_target"]) <= {"yes", "no", "unclear"}
    again = verify_schedule_by_simulation(req.required, sim, target_sl=0.8, n_reps=8, rng=3)
    pd.testing.assert_frame_equal(out, again.table)
    with pytest.raises(DesignError, match="n_reps"):
        verify_schedule_by_simulation(req.required, sim, target_sl=0.8, n_reps=1)


def test_plan_verification_counts_and_reports_honestly():
    # a stub whose per-interval service level is fixed: far above, near, and far below the target
    truth = np.array([0.99, 0.99, 0.80, 0.81, 0.30, 0.95])

    def sim(agents, rng):
        return pd.DataFrame({"service_level": np.clip(truth + 0.05 * rng.standard_normal(truth.size), 0, 1)})

    res = verify_schedule_by_simulation(np.ones(6, int), sim, target_sl=0.8, n_reps=5, rng=1)
    t = res.table
    # intervals are shares: never outside [0, 1]
    assert (t["ci_low"] >= 0).all() and (t["ci_high"] <= 1).all()
    c = res.counts
    assert c["intervals"] == 6 and c["meets"] + c["unclear"] + c["misses"] == 6
    assert t.loc[4, "meets_target"] == "no"
    assert c["misses"] >= 1
    (diag,) = res.diagnostics
    assert diag.status == "warning" and "misses the target" in diag.message
    assert f"{c['unclear']} are unclear" in diag.message
    # all clear only when every interval is shown to meet it
    good = verify_schedule_by_simulation(np.ones(3, int), lambda a, rng: pd.DataFrame({"service_level": [0.95] * 3}),
                                         target_sl=0.8, n_reps=2)
    assert good.diagnostics[0].status == "ok" and good.counts["meets"] == 3
    # unclear intervals alone are not "ok" either
    near = verify_schedule_by_simulation(np.ones(6, int), sim, target_sl=0.8, n_reps=5, rng=1)
    near_only = PlanVerification(near.table[near.table["meets_target"] != "no"], 0.8, 5, 0.95, "service_level")
    if near_only.counts["unclear"]:
        assert near_only.diagnostics[0].status == "warning" and "raise n_reps" in near_only.diagnostics[0].message
    json.dumps(res.to_dict())
    with pytest.warns(DeprecationWarning, match="level"):
        verify_schedule_by_simulation(np.ones(6, int), sim, target_sl=0.8, n_reps=2, level=0.9)


# -- the real engine as the simulator --------------------------------------------------------------
def test_plan_simulator_matches_erlang_a_at_constant_load():
    sim = PlanSimulator((60.0,) * 6, aht_s=300, patience_s=120, interval_s=1800)
    res = verify_schedule_by_simulation(np.full(6, 12), sim, target_sl=0.8, n_reps=20, rng=2)
    assert res.service_level_definition == ServiceLevel(20)
    out = res.table
    exact = erlang_a(120, 300, 12, 120).service_level  # 0.8188 (anchor)
    # pooled over the intervals after the empty start: within 3.5 standard errors (+ 0.01 for the
    # start-up transient), whatever the seed
    steady = out.iloc[1:]
    half = (steady["ci_high"] - steady["ci_low"]) / 2
    se_pooled = np.sqrt(np.sum((half / 2.09) ** 2)) / len(steady)
    assert abs(steady["mean"].mean() - exact) < 3.5 * se_pooled + 0.01
    # same seed, same contacts: identical output
    a = sim(np.full(6, 12), np.random.default_rng(4))
    b = sim(np.full(6, 12), np.random.default_rng(4))
    pd.testing.assert_frame_equal(a, b)
    # more agents in one interval never hurts that interval under CRN
    more = sim(np.array([12, 12, 20, 12, 12, 12]), np.random.default_rng(4))
    assert more.loc[2, "service_level"] >= a.loc[2, "service_level"]
    with pytest.raises(DesignError, match="one value per interval"):
        sim(np.full(5, 12), np.random.default_rng(0))
    with pytest.raises(DataError, match="non-negative integers"):
        sim(np.array([12, 12, -1, 12, 12, 12]), 0)


def test_plan_simulator_cyclic_warmup_starts_with_the_previous_cycles_backlog():
    # a heavy last interval: with the cyclic warm-up the first interval inherits its backlog
    vols = (60.0, 60.0, 60.0, 200.0)
    plan = np.array([12, 12, 12, 12])
    cold = PlanSimulator(vols, aht_s=300, patience_s=600)
    warm = PlanSimulator(vols, aht_s=300, patience_s=600, cyclic_warmup=1)
    c = pd.concat([cold(plan, s) for s in range(4)])
    w = pd.concat([warm(plan, s) for s in range(4)])
    assert list(w["interval_start_s"].iloc[:4]) == [0.0, 1800.0, 3600.0, 5400.0]
    first_cold = c[c.interval_start_s == 0]["service_level"].mean()
    first_warm = w[w.interval_start_s == 0]["service_level"].mean()
    assert first_warm < first_cold - 0.2
    with pytest.raises(DesignError, match="cyclic_warmup"):
        PlanSimulator(vols, aht_s=300, cyclic_warmup=5)


def test_a_plan_with_zero_agents_leaves_contacts_unanswered():
    sim = PlanSimulator((30.0, 30.0), aht_s=300, patience_s=None)
    out = sim(np.array([0, 0]), 1)
    assert out["answered"].sum() == 0 and (out["service_level"] == 0).all()


def test_deprecated_plan_simulators_return_the_one_plan_simulator():
    import simulation

    with pytest.warns(DeprecationWarning, match="PlanSimulator"):
        old = simulation.StaffingSimulator((60.0, 60.0), aht=300.0, patience=120.0)
    assert old == PlanSimulator((60.0, 60.0), aht_s=300.0, patience_s=120.0)
    from simulation.staffing import engine_simulator

    with pytest.warns(DeprecationWarning, match="PlanSimulator"):
        eng = engine_simulator([60, 60], aht_s=300, patience_s=120, sl_threshold_s=30)
    assert eng.service_level == ServiceLevel(30)


def test_template_max_agents_limits_part_timers():
    full = ShiftTemplate("8h", 480)
    part = ShiftTemplate("4h", 240, max_agents=2)
    req = [4] * 10
    free = ShiftScheduler([full, ShiftTemplate("4h", 240)], 60).solve(req)
    capped = ShiftScheduler([full, part], 60).solve(req)
    assert free.shifts.query("template == '4h'")["agents"].sum() > 2
    assert capped.fully_covered
    assert capped.shifts.query("template == '4h'")["agents"].sum() <= 2
    assert capped.paid_hours >= free.paid_hours
    only_part = ShiftScheduler([part], 60).solve(req)
    assert set(only_part.uncovered["reason"]) == {"max_agents of '4h' binds"}


# -- shrinkage and occupancy caps --------------------------------------------------------------
@pytest.mark.parametrize(("lam_h", "aht", "cap"), [(120, 300, 0.7), (600, 300, 0.85), (3000, 240, 0.9),
                                                   (40, 600, 0.5), (600, 300, 1.0)])
def test_erlang_c_occupancy_cap_is_load_over_cap(lam_h, aht, cap):
    # Erlang C's occupancy is exactly load / n, so the capped requirement is
    # max(service-level requirement, ceil(load / cap)), and the binding constraint is named
    load = lam_h * aht / 3600
    free = required_agents(lam_h, aht, service_level=20).agents
    r = required_agents(lam_h, aht, service_level=20, max_occupancy=cap)
    assert r.agents == max(free, math.ceil(load / cap - 1e-9))
    assert r.occupancy <= cap + 1e-12
    assert r.binding == ("occupancy cap" if r.agents > free else "service level")


@pytest.mark.parametrize("patience", [60.0, 300.0])
@pytest.mark.parametrize("cap", [0.6, 0.8])
def test_erlang_a_occupancy_cap_is_met_with_the_fewest_agents(patience, cap):
    # the occupancy of Erlang A is the carried load (answered contacts only) per agent
    lam_h, aht = 900.0, 300.0
    r = required_agents(lam_h, aht, service_level=20, patience_s=patience, max_occupancy=cap)
    at_n = erlang_a(lam_h, aht, r.agents, patience, ServiceLevel(20))
    below = erlang_a(lam_h, aht, r.agents - 1, patience, ServiceLevel(20))
    assert at_n.service_level >= 0.8 and at_n.occupancy <= cap + 1e-12
    assert below.service_level < 0.8 or below.occupancy > cap
    assert r.occupancy == pytest.approx(at_n.occupancy)


def test_abandonment_cap_is_named_when_it_binds():
    r = required_agents(120, 300, service_level=20, patience_s=120, max_abandon=0.01)
    free = required_agents(120, 300, service_level=20, patience_s=120)
    assert r.agents > free.agents and r.binding == "abandonment cap"
    assert free.binding == "service level"


@pytest.mark.parametrize("shrinkage", [0.0, 0.1, 0.3, 0.35, 0.5])
def test_shrinkage_turns_agents_on_the_phones_into_agents_to_roster(shrinkage):
    r = required_agents(600, 300, service_level=20, shrinkage=shrinkage)
    plain = required_agents(600, 300, service_level=20)
    assert r.agents == plain.agents  # shrinkage does not change who is needed on the phones
    assert r.scheduled_agents == math.ceil(plain.agents / (1 - shrinkage) - 1e-9)
    assert r.scheduled_agents * (1 - shrinkage) >= r.agents - 1e-9
    assert (r.scheduled_agents - 1) * (1 - shrinkage) < r.agents
    d = json.loads(json.dumps(r.to_dict()))
    assert d["scheduled_agents"] == r.scheduled_agents and d["shrinkage"] == shrinkage


def test_interval_requirements_carry_caps_and_shrinkage():
    f = _forecast()
    plain = interval_requirements(f, patience_s=120)
    capped = interval_requirements(f, patience_s=120, max_occupancy=0.8, shrinkage=0.3)
    assert np.all(capped.required >= plain.required)
    assert np.array_equal(capped.scheduled, np.ceil(capped.required / 0.7 - 1e-9).astype(int))
    busy = capped.table["arrivals_per_hour"] > 0
    assert (capped.table.loc[busy, "binding"] != "no arrivals").all()
    assert set(capped.table["binding"]) <= {"service level", "occupancy cap", "abandonment cap", "no arrivals"}
    info = capped.summary().info
    hours = capped.interval_minutes / 60
    assert info["scheduled agent-hours"] == pytest.approx(capped.scheduled.sum() * hours)
    assert info["scheduled agent-hours"] > info["required agent-hours"]


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, "lots"])
def test_shrinkage_of_one_or_more_is_refused(bad):
    with pytest.raises(DesignError, match="shrinkage"):
        required_agents(120, 300, shrinkage=bad)
    with pytest.raises(DesignError, match="shrinkage"):
        interval_requirements(pd.DataFrame({"arrivals": [10]}), aht_s=300, shrinkage=bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.01, "high"])
def test_occupancy_cap_outside_zero_one_is_refused(bad):
    with pytest.raises(DesignError, match=r"max_occupancy must .*\(0, 1\]"):
        required_agents(120, 300, max_occupancy=bad)
    with pytest.raises(DesignError, match="max_occupancy"):
        simulated_requirements([1, 1], lambda a, r: pd.DataFrame({"service_level": [1.0, 1.0]}),
                               target_sl=0.8, max_occupancy=bad)


def test_simulated_requirements_respect_the_occupancy_cap():
    # a noiseless stand-in whose occupancy is the Erlang A occupancy: the simulated search with a
    # cap lands on the capped Erlang A requirement, interval by interval
    f = _forecast().iloc[:7]
    req = interval_requirements(f, patience_s=120, max_occupancy=0.75, shrinkage=0.25)
    lam = req.table["arrivals_per_hour"].to_numpy()

    def sim(agents, rng):
        rows = [erlang_a(x, 300, max(int(n), 1), 120) if x > 0 else None
                for x, n in zip(lam, agents, strict=True)]
        return pd.DataFrame({"service_level": [r.service_level if r else 1.0 for r in rows],
                             "occupancy": [r.occupancy if r else 0.0 for r in rows]})

    out = simulated_requirements(np.maximum(req.required - 3, 0), sim, target_sl=0.8, n_reps=2,
                                 rng=1, max_occupancy=0.75, shrinkage=0.25)
    assert np.array_equal(out["required"].to_numpy(), req.required)
    assert np.array_equal(out["scheduled"].to_numpy(), req.scheduled)
    assert (out["occupancy_mean"] <= 0.75 + 1e-12).all()
    with pytest.raises(DataError, match="occupancy"):
        simulated_requirements([1] * 7, lambda a, r: pd.DataFrame({"service_level": np.ones(7)}),
                               target_sl=0.8, max_occupancy=0.8)
