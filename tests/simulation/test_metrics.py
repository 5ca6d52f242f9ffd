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
