"""Exact Erlang B/C/A, approximations and square-root staffing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import linalg

from servicelab.errors import DesignError, UnstableQueueError
from simulation import ServiceLevel, required_agents
from simulation.analytic import (
    MAX_STATES,
    erlang_a,
    erlang_b,
    erlang_c,
    garnett_mandelbaum_reiman,
    halfin_whitt,
    square_root_staffing,
)
from tests.anchors import load_anchor

ANCHOR = load_anchor("queueing")
TOL = ANCHOR["tolerance_abs"]


def _a(row, **kw):
    """Anchor rows are per minute; our API is per hour and seconds."""
    return erlang_a(row["lam"] * 60, row["aht"] * 60, row["c"], row["patience"] * 60, **kw)


# -- reference numbers -------------------------------------------------------------------------
@pytest.mark.parametrize("row", ANCHOR["erlang_a"], ids=lambda r: f"c{r['c']}")
def test_erlang_a_matches_anchor_table(row):
    r = _a(row)
    got = {
        "p_wait": r.p_wait,
        "p_abandon": r.p_abandon,
        "asa_answered_s": r.asa_answered_s,
        "ewq_all_s": r.mean_wait_all_s,
        "lq": r.lq,
        "occupancy": r.occupancy,
        "sl_answered_20s": r.service_level_at(20),
        "sl_answered_60s": r.service_level_at(60),
        "p_virtual_wait_le_20s": r.p_virtual_wait_le(20),
        "p_virtual_wait_le_60s": r.p_virtual_wait_le(60),
    }
    for key, value in got.items():
        assert value == pytest.approx(row[key], abs=TOL), key
    # the headline field uses the default definition at the default threshold (20 s)
    assert r.service_level == pytest.approx(row["sl_answered_20s"], abs=TOL)
    assert r.p_virtual_wait_le_t == pytest.approx(row["p_virtual_wait_le_20s"], abs=TOL)


@pytest.mark.parametrize("row", ANCHOR["erlang_c"], ids=lambda r: f"c{r['c']}")
def test_erlang_c_matches_anchor_table(row):
    r = erlang_c(row["lam"] * 60, row["aht"] * 60, row["c"])
    assert r.p_wait == pytest.approx(row["p_wait"], abs=1e-6)
    assert r.asa_s == pytest.approx(row["asa_s"], abs=TOL)
    assert r.lq == pytest.approx(row["lq"], abs=TOL)
    assert r.occupancy == pytest.approx(row["occupancy"], abs=TOL)
    assert r.service_level_at(20) == pytest.approx(row["sl_20s"], abs=TOL)
    assert r.service_level_at(60) == pytest.approx(row["sl_60s"], abs=TOL)


def test_guide_pitfall_erlang_c_vs_a_at_520_agents():
    # GUIDE §4: P(wait) 0.27 by Erlang C vs 0.15 by Erlang A at 0.7% abandonment
    c = erlang_c(6000, 300, 520)
    a = erlang_a(6000, 300, 520, 120)
    assert round(c.p_wait, 2) == 0.27
    assert round(a.p_wait, 2) == 0.15
    assert round(a.p_abandon, 3) == 0.007


# -- internal consistency and independent cross-checks ------------------------------------------
def test_erlang_b_matches_the_classic_recursion():
    for load, n in [(10.0, 12), (500.0, 520), (9_800.0, 10_000)]:
        b = 1.0
        for k in range(1, n + 1):
            b = load * b / (k + load * b)
        assert erlang_b(load, n) == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize("row", ANCHOR["erlang_a"], ids=lambda r: f"c{r['c']}")
def test_abandonment_two_ways_and_littles_law(row):
    r = _a(row)
    lam_s = row["lam"] / 60.0
    theta = 1.0 / (row["patience"] * 60)
    # P(ab) from the tagged customer == theta * Lq / lambda (rate balance)
    assert r.p_abandon == pytest.approx(theta * r.lq / lam_s, rel=1e-9)
    # occupancy: busy agents = throughput x AHT
    assert r.occupancy == pytest.approx(lam_s * (1 - r.p_abandon) * row["aht"] * 60 / row["c"], rel=1e-9)
    # mean wait of all = P(served) ASA_answered + P(ab) E[wait | abandoned]  =>  >= part
    assert r.mean_wait_all_s >= (1 - r.p_abandon) * r.asa_answered_s - 1e-12


def _tagged_ctmc(row, t_s):
    """Answered within t and virtual wait <= t by matrix exponentials (independent method)."""
    r = _a(row)
    pi_q = r._pi_queue
    n_mu = row["c"] / (row["aht"] * 60)
    theta = 1.0 / (row["patience"] * 60)
    m = pi_q.size
    # states 0..m-1 = contacts ahead, m = in service (answered), m+1 = abandoned
    q = np.zeros((m + 2, m + 2))
    for i in range(m):
        down = n_mu + i * theta
        q[i, i - 1 if i > 0 else m] += down
        q[i, m + 1] += theta
        q[i, i] = -(down + theta)
    p_t = pi_q @ linalg.expm(q * t_s)[:m]
    answered = (1 - r.p_wait) + p_t[m]
    # virtual wait: no own abandonment
    qv = q.copy()
    for i in range(m):
        qv[i, m + 1] = 0.0
        qv[i, i] += theta
    virtual = (1 - r.p_wait) + (pi_q @ linalg.expm(qv * t_s)[:m])[m]
    return answered, virtual, p_t[m + 1]


def test_service_level_formula_agrees_with_tagged_customer_ctmc():
    row = ANCHOR["erlang_a"][0]
    r = _a(row)
    for t in (5.0, 20.0, 90.0):
        answered, virtual, abandoned = _tagged_ctmc(row, t)
        assert r.service_level_at(t) == pytest.approx(answered, abs=1e-9)
        assert r.p_virtual_wait_le(t) == pytest.approx(virtual, abs=1e-9)
        assert r.p_abandon_within(t) == pytest.approx(abandoned, abs=1e-9)


DEFINITIONS = {
    "offered": ServiceLevel(20),
    "answered": ServiceLevel(20, "answered"),
    "late": ServiceLevel(20, "answered_and_late_abandons"),
    "excl_short": ServiceLevel(20, short_abandon_s=20),
    "short_met": ServiceLevel(20, short_abandon_s=20, short_abandons="met"),
    "excl_5s": ServiceLevel(20, short_abandon_s=5),
}


def test_service_level_definitions_are_named_and_ordered():
    r = erlang_a(6000, 300, 480, 300)  # overloaded: 4.4% abandon
    sl = {k: r.service_level_at(d) for k, d in DEFINITIONS.items()}
    base = sl["offered"]
    ab20 = r.p_abandon_within(20)
    assert sl["answered"] == pytest.approx(base / (1 - r.p_abandon))
    assert sl["excl_short"] == pytest.approx(base / (1 - ab20))
    assert sl["late"] == pytest.approx(base / (1 - ab20))  # the same set of contacts in steady state
    assert sl["short_met"] == pytest.approx(base + ab20)
    assert sl["excl_5s"] == pytest.approx(base / (1 - r.p_abandon_within(5)))
    assert base < sl["excl_5s"] < sl["excl_short"]
    assert all(0 <= v <= 1 for v in sl.values())
    # the definition is carried by the result and named in words
    r2 = erlang_a(6000, 300, 480, 300, DEFINITIONS["answered"])
    assert r2.service_level_definition == DEFINITIONS["answered"]
    assert r2.service_level == pytest.approx(sl["answered"])
    assert r2.to_dict()["service_level_definition"]["description"].startswith("answered within 20 s, over answered")
    assert "over answered contacts only" in str(r2.summary())
    # a number is a threshold of the result's own definition
    assert r2.service_level_at(60) == pytest.approx(r.service_level_at(ServiceLevel(60, "answered")))


@pytest.mark.parametrize("name", ["answered_within_t/all_arrivals", "answered_within_t/answered",
                                  "answered_within_t/arrivals_excl_abandoned_within_t",
                                  "answered_or_abandoned_within_t/all_arrivals"])
def test_former_string_definitions_still_work_and_warn(name):
    new = ServiceLevel.from_legacy(name, 30.0)
    assert new.legacy_name == name
    with pytest.warns(DeprecationWarning, match="sl_definition"):
        old = erlang_a(6000, 300, 480, 300, 30.0, name)
    assert old.service_level == erlang_a(6000, 300, 480, 300, new).service_level
    with pytest.warns(DeprecationWarning, match="sl_threshold_s|sl_definition"):
        kw = erlang_c(6000, 300, 520, sl_threshold_s=30.0, sl_definition=name)
    assert kw.service_level == erlang_c(6000, 300, 520, new).service_level
    with pytest.warns(DeprecationWarning, match="sl_definition"):
        assert old.sl_definition == name
    with pytest.warns(DeprecationWarning, match="service_level_at|sl_definition"):
        assert old.service_level_at(30, name) == pytest.approx(old.service_level)
    import simulation.analytic as analytic

    with pytest.warns(DeprecationWarning, match="SL_DEFINITIONS"):
        assert name in analytic.SL_DEFINITIONS


def test_erlang_c_service_level_is_the_same_under_every_definition():
    c = erlang_c(6000, 300, 520)
    assert {round(c.service_level_at(d), 12) for d in DEFINITIONS.values()} == {round(c.service_level, 12)}


def test_limits_in_t_and_patience():
    r = erlang_a(6000, 300, 480, 300)
    big = 1e6
    assert r.service_level_at(big) == pytest.approx(1 - r.p_abandon, abs=1e-9)
    assert r.p_abandon_within(big) == pytest.approx(r.p_abandon, abs=1e-9)
    assert r.p_virtual_wait_le(big) == pytest.approx(1.0, abs=1e-9)
    assert r.service_level_at(0) == pytest.approx(1 - r.p_wait)
    # infinite patience -> Erlang C
    a = erlang_a(6000, 300, 520, 1e9)
    c = erlang_c(6000, 300, 520)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.asa_answered_s == pytest.approx(c.asa_s, rel=1e-3)
    assert a.service_level_at(20) == pytest.approx(c.service_level, abs=1e-5)


def test_erlang_a_is_monotone_in_agents():
    rs = [erlang_a(6000, 300, n, 120) for n in range(470, 540, 5)]
    sl = np.array([r.service_level for r in rs])
    ab = np.array([r.p_abandon for r in rs])
    assert np.all(np.diff(sl) > 0)
    assert np.all(np.diff(ab) < 0)


# -- scale --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [10_000, 10_089, 25_000])
def test_finite_and_sane_at_ten_thousand_agents(n):
    load = n * 0.98
    lam_h = load / 300 * 3600
    c = erlang_c(lam_h, 300, n)
    hw = halfin_whitt(lam_h, 300, n)
    assert 0 < c.p_wait < 1
    assert c.p_wait == pytest.approx(hw.p_wait, abs=0.02)
    a = erlang_a(lam_h, 300, n, 120)
    gmr = garnett_mandelbaum_reiman(lam_h, 300, n, 120)
    for v in a.to_dict().values():
        if isinstance(v, float):
            assert math.isfinite(v)
    assert 0 < a.p_wait < c.p_wait
    assert a.p_wait == pytest.approx(gmr.p_wait, abs=0.02)
    assert 0 < a.p_abandon < 0.01
    assert 0.9 < a.service_level <= 1.0
    # overloaded by 10%: Erlang A still defined, abandonment about the excess load
    over = erlang_a(lam_h, 300, int(load / 1.1), 120)
    assert over.p_wait == pytest.approx(1.0, abs=1e-6)
    assert over.p_abandon == pytest.approx(1 - 1 / 1.1, abs=0.005)


def test_approximations_near_exact_in_qed_regime():
    hw = halfin_whitt(6000, 300, 520)
    gmr = garnett_mandelbaum_reiman(6000, 300, 520, 120)
    assert hw.p_wait == pytest.approx(erlang_c(6000, 300, 520).p_wait, abs=0.01)
    exact = erlang_a(6000, 300, 520, 120)
    assert gmr.p_wait == pytest.approx(exact.p_wait, abs=0.01)
    assert gmr.p_abandon == pytest.approx(exact.p_abandon, abs=0.001)
    # GMR works when overloaded, where Halfin-Whitt cannot
    over = garnett_mandelbaum_reiman(6000, 300, 480, 300)
    assert over.p_wait == pytest.approx(erlang_a(6000, 300, 480, 300).p_wait, abs=0.03)
    with pytest.raises(UnstableQueueError, match="erlang_a"):
        halfin_whitt(6000, 300, 480)


def test_square_root_staffing():
    assert square_root_staffing(6000, 300, beta=1.0).agents == math.ceil(500 + math.sqrt(500))
    s = square_root_staffing(6000, 300, target_p_wait=0.2)
    assert halfin_whitt(6000, 300, s.agents).p_wait <= 0.2
    assert halfin_whitt(6000, 300, s.agents - 1).p_wait > 0.2
    # with abandonment fewer agents reach the same delay probability
    sa = square_root_staffing(6000, 300, target_p_wait=0.2, patience_s=120)
    assert sa.agents < s.agents
    assert erlang_a(6000, 300, sa.agents, 120).p_wait == pytest.approx(0.2, abs=0.03)
    with pytest.raises(DesignError):
        square_root_staffing(6000, 300)
    with pytest.raises(DesignError):
        square_root_staffing(6000, 300, target_p_wait=1.5)


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [-1, float("nan"), float("inf"), "x"])
def test_bad_rates_raise(lam):
    with pytest.raises(DesignError, match="arrivals_per_hour"):
        erlang_c(lam, 300, 10)
    with pytest.raises(DesignError, match="arrivals_per_hour"):
        erlang_a(lam, 300, 10, 60)


@pytest.mark.parametrize("kw", [{"aht_s": 0}, {"aht_s": -5}, {"patience_s": 0}])
def test_bad_times_raise(kw):
    args = {"arrivals_per_hour": 100, "aht_s": 300, "agents": 10, "patience_s": 60} | kw
    with pytest.raises(DesignError, match=next(iter(kw))):
        erlang_a(**args)


@pytest.mark.parametrize("agents", [0, -3, 2.5, True])
def test_bad_agents_raise(agents):
    with pytest.raises(DesignError, match="agents"):
        erlang_c(100, 300, agents)
    with pytest.raises(DesignError, match="agents"):
        erlang_a(100, 300, agents, 60)
    with pytest.raises(DesignError, match="agents"):
        erlang_b(5.0, agents)


@pytest.mark.parametrize("agents", [480, 500])
def test_erlang_c_unstable_names_erlang_a(agents):
    with pytest.raises(UnstableQueueError, match=r"erlang_a.*Erlang A"):
        erlang_c(6000, 300, agents)


def test_unknown_sl_definition_raises():
    with pytest.warns(DeprecationWarning, match="sl_definition"), pytest.raises(DesignError, match="sl_definition"):
        erlang_a(6000, 300, 520, 120, sl_definition="answered/offered")
    with pytest.raises(DesignError, match="threshold_s"):
        erlang_c(6000, 300, 520).service_level_at(-1)
    with pytest.raises(DesignError, match="from_legacy"):
        erlang_c(6000, 300, 520, "answered_within_t/answered")
    with pytest.raises(DesignError, match="short_abandon_s"):
        ServiceLevel(20, short_abandons="met")


# -- zero arrivals and extreme scales: bounded memory and time, or a clear refusal ---------------
def test_zero_arrivals_are_a_quiet_pool():
    c = erlang_c(0, 300, 5)
    a = erlang_a(0, 300, 5, 120)
    for r in (c, a):
        assert r.p_wait == 0 and r.lq == 0 and r.occupancy == 0
        assert r.service_level == 1.0
        assert r.service_level_at(DEFINITIONS["answered"]) == 1.0
    assert a.p_abandon == 0 and a.mean_wait_all_s == 0
    assert erlang_b(0.0, 3) == 0.0


def test_a_billion_agents_answer_at_once():
    # the chain's window is the few dozen states around a load of 50: 1e9 agents cost nothing
    assert erlang_b(50.0, 10**9) == 0.0
    c = erlang_c(600, 300, 10**9)
    a = erlang_a(600, 300, 10**9, 120)
    assert c.p_wait == 0.0 and c.service_level == 1.0
    assert a.p_wait == 0.0 and a._pi_queue.size == 0 and a.service_level == 1.0


def test_a_billion_arrivals_per_hour_are_exact_and_near_halfin_whitt():
    lam = 1e9  # offered load 83.3 million Erlangs
    load = lam / 3600 * 300
    n = math.ceil(load + 1.0 * math.sqrt(load))
    c = erlang_c(lam, 300, n)
    assert c.p_wait == pytest.approx(halfin_whitt(lam, 300, n).p_wait, abs=2e-3)  # QED limit
    a = erlang_a(lam, 300, n, 120)
    assert 0 < a.p_wait < c.p_wait
    assert a.p_wait == pytest.approx(garnett_mandelbaum_reiman(lam, 300, n, 120).p_wait, abs=2e-3)
    assert 0 < erlang_b(load, n) < 1


def test_erlang_a_window_matches_the_full_chain_when_the_window_starts_inside_the_queue():
    # heavy overload: the probability sits thousands of states above n, so the window's
    # queue part starts at an offset; the full chain (built directly) must agree
    lam_h, aht, n, pat = 72_000.0, 300.0, 100, 600.0
    a = erlang_a(lam_h, aht, n, pat)
    assert a._queue_offset > 0
    lam, mu, theta = lam_h / 3600, 1 / aht, 1 / pat
    k = np.arange(0, 40_000)
    death = np.minimum(k[1:], n) * mu + np.maximum(k[1:] - n, 0) * theta
    lw = np.concatenate([[0.0], np.cumsum(np.log(lam) - np.log(death))])
    pi = np.exp(lw - lw.max())
    pi /= pi.sum()
    m = np.arange(pi.size - n)
    pq = pi[n:]
    p_served = n * mu / (n * mu + (m + 1) * theta)
    assert a.p_wait == pytest.approx(pq.sum(), abs=1e-12)
    assert a.p_abandon == pytest.approx(np.sum(pq * (1 - p_served)), rel=1e-9)
    h = np.cumsum(1 / (n * mu + (m + 1) * theta))
    assert a.asa_answered_s == pytest.approx(np.sum(pq * p_served * h) / (1 - a.p_abandon), rel=1e-9)
    assert a.p_abandon == pytest.approx(1 - n / (lam * aht), abs=2e-3)  # fluid limit


def test_a_window_larger_than_the_cap_is_refused_not_truncated():
    # a pool at 99.99999% load with near-infinite patience needs ~4.5e8 states: refused clearly
    lam_h = 3600 * 1000 * (1 - 1e-7) / 300
    with pytest.raises(DesignError, match="refusing rather than truncating"):
        erlang_a(lam_h, 300, 1000, 1e12)
    assert MAX_STATES >= 1 << 20


# -- results ------------------------------------------------------------------------------------
def test_results_are_frozen_json_and_summarised():
    a = erlang_a(6000, 300, 520, 120)
    c = erlang_c(6000, 300, 520)
    for r in (a, c, halfin_whitt(6000, 300, 520), square_root_staffing(6000, 300, beta=1)):
        d = r.to_dict()
        json.dumps(d)
        assert "_pi_queue" not in d
        assert r.summary().table.shape[0] > 0
    with pytest.raises(AttributeError):
        a.p_wait = 0.5  # type: ignore[misc]
    s = str(a.summary())
    assert "answered within 20 s, over all offered contacts" in s
    assert erlang_a(6000, 300, 520, 120).to_dict() == a.to_dict()  # deterministic


@pytest.mark.parametrize(("lam_h", "aht", "n"), [(660, 300, 55), (360, 300, 30), (1, 3600, 1), (7200, 45, 90)])
def test_erlang_c_at_a_load_equal_to_the_agents_within_rounding_is_unstable(lam_h, aht, n):
    # 660/h x 300 s computes a load of 54.99999999999999 on 55 agents: n mu - lambda rounds to 0,
    # which crashed with ZeroDivisionError instead of saying the queue has no steady state
    with pytest.raises(UnstableQueueError, match="at or above agents"):
        erlang_c(lam_h, aht, n, ServiceLevel(20))
    assert required_agents(lam_h, aht, service_level=20).agents > n
