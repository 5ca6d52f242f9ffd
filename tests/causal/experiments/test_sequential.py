"""Sequential designs keep type-I error under peeking (simulated), and tell when to stop."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from causal.experiments import GroupSequentialDesign, always_valid, msprt_statistic
from servicelab import DesignError


def _aa_streams(reps, steps, seed):
    g = np.random.default_rng(seed)
    c = g.normal(size=(reps, steps))
    t = g.normal(size=(reps, steps))
    n = np.arange(1, steps + 1)
    mc, mt = c.cumsum(1) / n, t.cumsum(1) / n
    vc = ((c**2).cumsum(1) - n * mc**2) / np.maximum(n - 1, 1)
    vt = ((t**2).cumsum(1) - n * mt**2) / np.maximum(n - 1, 1)
    return mt - mc, np.sqrt(vc / n + vt / n)


def test_msprt_type_one_error_under_continuous_peeking():
    eff, se = _aa_streams(1000, 1000, seed=1)
    eff, se = eff[:, 19:], se[:, 19:]  # peek after every unit from n = 20 on
    p, lo, hi = always_valid(eff, se, alpha=0.05, tau=0.2)
    reject_any = (p <= 0.05).any(axis=1).mean()
    assert reject_any <= 0.05
    # the confidence sequence covers the true effect (0) at all times in >= 95 % of streams
    assert ((lo <= 0) & (hi >= 0)).all(axis=1).mean() >= 0.95
    # a fixed-horizon z test peeked at every unit is badly inflated
    naive = (2 * stats.norm.sf(np.abs(eff / se)) < 0.05).any(axis=1).mean()
    assert naive > 0.2


def test_msprt_detects_a_real_effect():
    g = np.random.default_rng(4)
    c, t = g.normal(size=(200, 2000)), g.normal(0.2, 1, size=(200, 2000))
    n = np.arange(1, 2001)
    eff = t.cumsum(1) / n - c.cumsum(1) / n
    se = np.sqrt(2 / n)
    p, _, _ = always_valid(eff, se, tau=0.2)
    assert (p.min(axis=1) <= 0.05).mean() > 0.9
    assert np.all(np.isfinite(msprt_statistic(eff[:, -1], se[-1] ** 2, 0.2)))


@pytest.mark.parametrize("spending", ["obf", "pocock", "classical_obf", "classical_pocock"])
def test_group_sequential_type_one_error(spending):
    design = GroupSequentialDesign(n_looks=5, alpha=0.05, sides=2, spending=spending)
    b = np.asarray(design.boundaries().z)
    g = np.random.default_rng(7)
    z = np.cumsum(g.normal(size=(40000, 5)), axis=1) / np.sqrt(np.arange(1, 6))
    reject = (np.abs(z) >= b).any(axis=1).mean()
    assert 0.045 <= reject <= 0.055, reject
    naive = (np.abs(z) >= 1.96).any(axis=1).mean()
    assert naive > 0.12


def test_may_stop_and_unequal_information():
    d = GroupSequentialDesign(n_looks=3, alpha=0.025, sides=1, spending="obf")
    early = d.may_stop(z=3.0, look=1)
    assert not early.stop and "continue" in early.message
    assert d.may_stop(z=3.8, look=1).stop
    last = d.may_stop(z=1.5, look=3)
    assert last.stop and last.final and "no significant" in last.message
    # Lan-DeMets adapts to the information actually observed
    b_obs = d.boundaries([0.5, 0.8, 1.0]).z
    assert b_obs[0] < d.boundaries().z[0]
    dec = d.may_stop(z=2.4, look=2, information_fractions=[0.5, 0.8])
    assert dec.boundary == pytest.approx(b_obs[1], abs=1e-6)


def test_bad_designs():
    with pytest.raises(DesignError):
        GroupSequentialDesign(n_looks=0)
    with pytest.raises(DesignError):
        GroupSequentialDesign(n_looks=2, information_fractions=(0.8, 0.5))
    with pytest.raises(DesignError):
        GroupSequentialDesign(n_looks=2).may_stop(1.0, look=3)
    with pytest.raises(DesignError):
        always_valid(0.1, 0.1, tau=0.0)
