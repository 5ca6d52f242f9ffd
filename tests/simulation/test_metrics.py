"""Service-level definitions and window measures on hand-built records (exact numbers)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from servicelab.errors import DesignError
from simulation import ServiceLevel, window_measures


def _rec() -> dict[str, np.ndarray]:
    # 5 contacts: answered at 0 s, 10 s, 30 s; abandoned after 3 s and after 40 s
    return {
        "arrival_s": np.array([0.0, 10.0, 20.0, 30.0, 40.0]),
        "wait_s": np.array([0.0, 10.0, 30.0, 3.0, 40.0]),
        "status": np.array([1, 1, 1, 2, 2], np.uint8),
        "work_s": np.array([100.0, 100.0, 100.0, 0.0, 0.0]),
        "virtual_wait_s": np.array([np.nan, np.nan, np.nan, 15.0, 50.0]),
    }


def test_service_level_definitions_give_their_own_numbers() -> None:
    r = _rec()
    sls = (
        ServiceLevel(20),
        ServiceLevel(20, "answered"),
        ServiceLevel(20, "answered_and_late_abandons"),
        ServiceLevel(20, "offered", short_abandon_s=5),
    )
    m = window_measures(r, 0.0, 100.0, staffed_slot_s=300.0, service_levels=sls)
    assert m["sl_20s"] == pytest.approx(2 / 5)
    assert m["sl_20s_answered"] == pytest.approx(2 / 3)
    assert m["sl_20s_answered_and_late_abandons"] == pytest.approx(2 / 4)
    assert m["sl_20s_excl_abandon_lt_5s"] == pytest.approx(2 / 4)
    assert m["p_abandon"] == pytest.approx(2 / 5)
    assert m["p_wait"] == pytest.approx(4 / 5)
    assert m["asa_answered_s"] == pytest.approx(40 / 3)
    assert m["ewq_all_s"] == pytest.approx(83 / 5)
    assert m["lq"] == pytest.approx(83 / 100)
    # busy in [0,100): 100 + 80 + 50 over 300 staffed slot-seconds
    assert m["occupancy"] == pytest.approx(230 / 300)
    assert m["p_virtual_wait_le_20s"] == pytest.approx(3 / 5)
    assert "excluding abandons within 5 s" in sls[3].name


def test_bad_service_level_definitions() -> None:
    with pytest.raises(DesignError):
        ServiceLevel(-1)
    with pytest.raises(DesignError):
        ServiceLevel(20, "answered_fast")
    with pytest.raises(DesignError):
        ServiceLevel(20, short_abandon_s=-2)


def test_binned_overlap_matches_the_direct_sum() -> None:
    from simulation.metrics import _binned_overlap, _overlap

    rng = np.random.default_rng(0)
    t0 = rng.uniform(0, 100, 500)
    t1 = t0 + rng.exponential(7.0, 500)
    edges = np.array([0.0, 3.0, 10.0, 50.0, 50.5, 99.0, 130.0])
    direct = [_overlap(t0, t1, a, b) for a, b in itertools.pairwise(edges)]
    np.testing.assert_allclose(_binned_overlap(t0, t1, edges), direct, rtol=1e-9, atol=1e-9)


def test_unresolved_contacts_count_as_offered_and_not_answered() -> None:
    # one agent on duty 0-100 s; the contacts at 150 s and 160 s are never answered (unresolved)
    from simulation import AgentGroup, ContactCentre, Deterministic, Queue, Shift, Trace, replicate

    q = Queue("q", Trace([10.0, 150.0, 160.0]), aht_s=Deterministic(5.0))
    model = ContactCentre([q], [AgentGroup("a", ("q",), 1, shift=Shift(0, 100))])
    run = model.run(rng=0)
    m = run.measures((ServiceLevel(20), ServiceLevel(20, "answered")))
    assert m["offered"] == 3
    assert m["sl_20s"] == pytest.approx(1 / 3)  # offered: unresolved are in the denominator
    assert m["sl_20s_answered"] == 1.0  # answered-only: they are not
    assert m["p_wait"] == pytest.approx(2 / 3)
    assert m["p_abandon"] == 0.0 and m["ewq_all_s"] == 0.0
    assert m["p_virtual_wait_le_20s"] == pytest.approx(1 / 3)
    assert m["lq"] > 0  # they wait until the end of the run
    # the per-interval metrics use the same definition
    im = run.interval_metrics(interval_s=100)
    im = im[im.queue == "all"]
    assert im.offered.sum() == 3
    np.testing.assert_allclose(im.service_level, [1.0, 0.0])
    assert im.queue_len.iloc[1] > 0
    # ... and so do replications, with a loud diagnostic
    rep = replicate(model, 2, rng=0, backend="serial", progress=False)
    assert rep.table.set_index("measure").loc["sl_20s", "mean"] == pytest.approx(1 / 3)
    assert rep.unresolved == (2, 2)
    diag = {d.name: d for d in rep.diagnostics}["unresolved"]
    assert diag.loud and diag.value == 4
    assert "unresolved" in str(rep.summary())
