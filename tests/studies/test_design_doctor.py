"""The design doctor against the ground truth of the shared-pool world."""

from __future__ import annotations

import json

import numpy as np
import pytest

from servicelab.errors import DesignError, UnstableQueueError
from simulation import SharedPoolCentre, relaxation_time
from studies.cli import main
from studies.design_doctor import DesignDoctor, HandleTimeChange, switchback_candidates


def test_customer_randomisation_is_biased_to_zero_and_the_switchback_covers_the_gte():
    centre = SharedPoolCentre(sites=2, agents_per_site=20, occupancy=0.95, days=2.0)
    tau = relaxation_time(centre, 0.9, n_reps=6, rng=11).tau_s
    assert 60 < tau < 3600
    cand = switchback_candidates(tau)[2]  # slices >= 8 tau, burn-in 3 tau
    doc = DesignDoctor(centre, HandleTimeChange(0.9), designs=("customer", "switchback"),
                       metrics=("wait_s",), switchbacks=(cand,), truth_reps=4)
    rep = doc.evaluate(n_reps=30, rng=12, progress=False)
    f = rep.frame.set_index("design")
    gte = rep.truth.value("wait_s")
    assert gte < -8 * rep.truth.frame.set_index("metric").loc["wait_s", "gte_se"]
    # FCFS: a contact's own handle time does not move its own wait, so the customer-randomised
    # estimate is centred on zero however large the global effect is
    assert abs(f.loc["customer", "mean_estimate"]) < 0.15 * abs(gte)
    assert f.loc["customer", "coverage"] < 0.2
    sb = f.loc[cand.name]
    assert abs(sb["bias"]) < 0.25 * abs(gte)
    assert sb["coverage"] >= 0.8  # 30 replications: P(<= 24/30 | 95%) < 0.002
    assert rep.recommend() == cand.name
    note = rep.preregistration()
    assert f"**Slice:** {cand.slice_s / 60:g} min" in note and "Primary metric:** wait_s" in note


def test_parallel_replications_equal_serial_ones():
    centre = SharedPoolCentre(sites=4, agents_per_site=5, occupancy=0.8, days=0.2, warmup_s=600)
    doc = DesignDoctor(centre, HandleTimeChange(0.8), designs=("customer", "agent", "site"),
                       truth_reps=2)
    a = doc.evaluate(4, rng=3, progress=False).records
    b = doc.evaluate(4, rng=3, n_jobs=2, progress=False).records
    assert a.equals(b)
    agent_ab = a[(a["design"] == "agent") & (a["metric"] == "abandonment")]
    assert agent_ab["estimate"].isna().all()  # not attributable to an agent


def test_bad_input_and_the_command_line(capsys):
    with pytest.raises(UnstableQueueError, match=r"offered load 52\.\d Erlang per site .* 50 agents"):
        DesignDoctor(SharedPoolCentre(occupancy=0.95), HandleTimeChange(1.1)).evaluate(2)
    with pytest.raises(DesignError, match="unknown design"):
        DesignDoctor(SharedPoolCentre(), HandleTimeChange(0.9), designs=("zone",))
    with pytest.raises(DesignError, match="longer than a day"):
        switchback_candidates(40000.0)
    assert main(["design", "--factor", "0.9", "--occupancy", "1.0", "-q"]) == 2
    assert "unstable" in capsys.readouterr().err
    code = main(["design", "--factor", "0.8", "--occupancy", "0.8", "--sites", "4",
                 "--agents-per-site", "5", "--days", "0.5", "--reps", "2", "-q", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["recommended"] in {d["design"] for d in out["designs"]}
    assert np.isfinite(out["tau_s"])
