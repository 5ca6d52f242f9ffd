"""Power, sample size and MDE per metric type, with and without CUPED."""

from __future__ import annotations

import numpy as np
import pytest

from causal.experiments import (
    Experiment,
    Mean,
    MetricVariance,
    PowerAnalysis,
    Proportion,
    RatioOfMeans,
    simulate_service_experiment,
)
from servicelab import DesignError


@pytest.fixture(scope="module")
def pilot():
    c = simulate_service_experiment(4000, rng=5).customers
    c["any_contact"] = (c["contacts"] > 0).astype(int)
    return c


def test_cuped_shrinks_sample_size(pilot):
    pa = PowerAnalysis(Mean("contacts", covariate="pre_contacts"))
    with_c = pa.sample_size(pilot, rel_mde=0.05)
    without = pa.sample_size(pilot, rel_mde=0.05, cuped=False)
    vr = with_c.variance_reduction
    assert 0.1 < vr < 0.9
    assert with_c.n_per_group == pytest.approx(without.n_per_group * (1 - vr), rel=0.01)


def test_round_trip_power_mde_sample_size(pilot):
    for metric in (Mean("contacts"), RatioOfMeans("handle_s_sum", "answered"),
                   Proportion("any_contact")):
        pa = PowerAnalysis(metric)
        v = pa.variance(pilot)
        n = pa.sample_size(v, rel_mde=0.05).n_per_group
        assert pa.power(v, n, rel_mde=0.05).power == pytest.approx(0.8, abs=0.01)
        for cuped in (True, False):
            assert pa.mde(v, n, cuped=cuped).rel_mde == pytest.approx(0.05, rel=1e-3)


def test_proportion_without_covariate_ignores_cuped_flag(pilot):
    """No covariate, no adjustment: cuped=True and cuped=False are the same calculation."""
    pa = PowerAnalysis(Proportion("any_contact"))
    v = pa.variance(pilot)
    assert v.variance_reduction == 0
    a, b = pa.sample_size(v, rel_mde=0.05), pa.sample_size(v, rel_mde=0.05, cuped=False)
    assert a.n_per_group == pytest.approx(b.n_per_group, rel=1e-12)
    assert pa.power(v, 800, rel_mde=0.05).power == pytest.approx(
        pa.power(v, 800, rel_mde=0.05, cuped=False).power, rel=1e-12)
    assert pa.mde(v, 800).abs_mde == pytest.approx(pa.mde(v, 800, cuped=False).abs_mde, rel=1e-12)
    # with a covariate CUPED uses the z test on the adjusted sd and needs fewer units
    pc = PowerAnalysis(Proportion("any_contact", covariate="pre_contacts"))
    vc = pc.variance(pilot)
    assert vc.variance_reduction > 0
    n_c = pc.sample_size(vc, rel_mde=0.05).n_per_group
    assert n_c < pc.sample_size(vc, rel_mde=0.05, cuped=False).n_per_group
    assert pc.mde(vc, n_c).rel_mde == pytest.approx(0.05, rel=1e-3)


def test_power_is_honest_by_simulation():
    """Planned power for the ratio metric matches the simulated rejection rate."""
    pilot = simulate_service_experiment(6000, rng=8).customers
    pa = PowerAnalysis(RatioOfMeans("handle_s_sum", "answered"))
    n = 400
    planned = pa.power(pilot, n, rel_mde=-0.08).power
    sim = simulate_service_experiment(2 * n, handle_effect=-0.08, n_reps=300, rng=9)
    res = Experiment(aht=RatioOfMeans("handle_s_sum", "answered"), segment="rep",
                     segment_correction="none").analyze(sim.customers)
    t = res.table[res.table["segment"] != "all"]
    achieved = (t["pvalue"] < 0.05).mean()
    assert abs(achieved - planned) < 0.09, (planned, achieved)


def test_bad_power_inputs():
    pa = PowerAnalysis(Mean("y"))
    v = MetricVariance(mean=1.0, sd=1.0, n=100)
    with pytest.raises(DesignError, match="n_per_group"):
        pa.power(v, -10, abs_mde=0.1)
    with pytest.raises(DesignError, match="n_per_group"):
        pa.mde(v, 0)
    with pytest.raises(DesignError, match="exactly one"):
        pa.sample_size(v, abs_mde=0.1, rel_mde=0.1)
    with pytest.raises(DesignError, match="power"):
        pa.sample_size(v, abs_mde=0.1, power=1.5)
    with pytest.raises(DesignError, match="ratio"):
        PowerAnalysis(Mean("y"), ratio=-1)
    assert np.isfinite(pa.sample_size(v, abs_mde=0.1).n_per_group)
