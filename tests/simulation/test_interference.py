"""The world with interference: the FCFS pool against the event engine, and the truth rows."""

from __future__ import annotations

import numpy as np
import pytest

from servicelab.errors import DesignError, UnstableQueueError
from simulation import (
    AgentGroup,
    Assignment,
    ContactCentre,
    Exponential,
    LogNormal,
    Poisson,
    Queue,
    SharedPoolCentre,
    fcfs_pool,
    interference_truth,
    relaxation_time,
)
from simulation.records import ABANDONED, SERVED


@pytest.mark.parametrize("seed", [1, 2])
def test_the_pool_recursion_gives_the_event_engines_records(seed):
    # the engine's fast path (one queue, one group, FIFO, longest-idle agent) is an external
    # reference for the recursion: same contacts, same waits, same abandoners
    model = ContactCentre([Queue("q", Poisson(0.95 * 20 / 300, 6 * 3600),
                                 aht_s=LogNormal(300.0, 1.0), patience_s=Exponential(200.0))],
                          [AgentGroup("agents", ("q",), n=20)])
    c = model.draw_contacts(seed)
    rec = model.run(rng=seed).records_arrays
    assert rec["arrival_s"].size == c["arrival_s"].size  # no retrials, no callbacks
    wait, ans, _ = fcfs_pool(c["arrival_s"], c["work_s"], c["patience_s"], 20)
    np.testing.assert_array_equal(ans, rec["status"] == SERVED)
    np.testing.assert_array_equal(~ans, rec["status"] == ABANDONED)
    np.testing.assert_allclose(wait[ans], rec["wait_s"][ans], rtol=0, atol=1e-9)


def test_customer_randomisation_misses_the_global_wait_effect_at_high_occupancy():
    # FCFS: a contact's own handle time does not change its own wait, so the direct effect on
    # wait is zero while the GTE (everyone's agents freed) is large; handle time has no
    # interference, so direct and GTE agree there and equal (factor - 1) * AHT
    c = SharedPoolCentre(sites=4, agents_per_site=40, occupancy=0.95, days=1.0)
    t = interference_truth(c, 0.9, n_reps=4, rng=3)
    f = t.frame.set_index("metric")
    w = f.loc["wait_s"]
    assert w["gte"] < -5 * w["gte_se"] < 0
    assert abs(w["direct"]) < 0.15 * abs(w["gte"])
    assert f.loc["service_level", "gte"] > 0 and f.loc["abandonment", "gte"] < 0
    h = f.loc["handle_s"]
    assert h["gte"] == pytest.approx(-30, abs=4 * h["gte_se"] + 1.5)
    assert h["direct"] == pytest.approx(h["gte"], abs=4 * (h["gte_se"] + h["direct_se"]) + 1)
    assert t.diagnostics[0].status == "warning"


def test_interference_grows_with_occupancy_and_crn_is_deterministic():
    lo = interference_truth(SharedPoolCentre(sites=2, agents_per_site=40, occupancy=0.7,
                                             days=0.5), 0.9, n_reps=3, rng=5)
    hi = interference_truth(SharedPoolCentre(sites=2, agents_per_site=40, occupancy=0.95,
                                             days=0.5), 0.9, n_reps=3, rng=5)
    assert abs(hi.value("wait_s")) > 5 * abs(lo.value("wait_s"))
    c = SharedPoolCentre(sites=2, agents_per_site=10, occupancy=0.9, days=0.2)
    a = c.run(Assignment.agents(0.5), factor=0.8, rng=7).frame
    b = c.run(Assignment.agents(0.5), factor=0.8, rng=7).frame
    assert a.equals(b)
    # agent randomisation: the handle time follows the serving agent
    tr = a["treated"].to_numpy() == 1
    assert a.loc[tr, "handle_s"].mean() < 0.9 * a.loc[~tr & a["answered"], "handle_s"].mean()


def test_relaxation_time_is_positive_and_finite():
    r = relaxation_time(SharedPoolCentre(sites=4, agents_per_site=50, occupancy=0.95), 0.9,
                        n_reps=6, rng=2)
    assert 60 < r.tau_s < 3600
    assert r.plateau < 0


def test_bad_input():
    with pytest.raises(UnstableQueueError, match=r"offered load 50\.0 Erlang .* 50 agents"):
        interference_truth(SharedPoolCentre(agents_per_site=50, occupancy=1.0), 0.9)
    with pytest.raises(UnstableQueueError, match=r"factor 1\.1"):
        SharedPoolCentre(occupancy=0.95).check_stable(1.1)
    with pytest.raises(DesignError, match="one arm only"):
        Assignment.switchback(np.zeros((2, 5)), 3600)
    with pytest.raises(DesignError, match="share"):
        Assignment.customers(1.0)
