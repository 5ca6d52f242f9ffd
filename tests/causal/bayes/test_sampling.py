from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from causal.bayes import ConvergenceGate, Sampler, enforce, sample_model, sampling
from servicelab import ConvergenceError, DesignError


def _funnel(centred: bool) -> pm.Model:
    """Neal's funnel: centred it defeats NUTS, non-centred it is two standard normals."""
    with pm.Model() as m:
        log_s = pm.Normal("log_s", 0.0, 1.5)
        if centred:
            pm.Normal("x", 0.0, pm.math.exp(log_s), shape=5)
        else:
            z = pm.Normal("z", 0.0, 1.0, shape=5)
            pm.Deterministic("x", z * pm.math.exp(log_s))
    return m


def test_gate_fails_on_a_deliberately_bad_model():
    idata = sample_model(_funnel(True), Sampler(draws=100, tune=50, chains=1), rng=1)
    diags = {d.name: d for d in ConvergenceGate().check(idata)}
    assert diags["rhat"].status == "fail" and "2 chains" in diags["rhat"].message
    assert diags["ess_bulk"].status == "fail"
    with pytest.raises(ConvergenceError, match="allow_unconverged=True"):
        enforce(tuple(diags.values()), allow_unconverged=False, what="funnel")
    enforce(tuple(diags.values()), allow_unconverged=True, what="funnel")  # explicit opt-in


def test_gate_passes_a_well_posed_model_and_seeds_reproduce():
    sampler = Sampler(draws=500, tune=300, chains=2)
    a = sample_model(_funnel(False), sampler, rng=3)
    diags = ConvergenceGate().check(a, ["log_s", "z"])
    assert [d.status for d in diags] == ["ok"] * 4, diags
    b = sample_model(_funnel(False), sampler, rng=3)
    np.testing.assert_array_equal(a.posterior["z"].values, b.posterior["z"].values)
    c = sample_model(_funnel(False), sampler, rng=4)
    assert not np.array_equal(a.posterior["z"].values, c.posterior["z"].values)


def test_sampler_validation_and_missing_nutpie(monkeypatch):
    with pytest.raises(DesignError):
        Sampler(target_accept=1.0)
    with pytest.raises(DesignError):
        Sampler(backend="jax")
    monkeypatch.setattr(sampling, "nutpie_available", lambda: False)
    with pytest.raises(DesignError, match="nutpie"):
        sample_model(_funnel(False), Sampler(backend="nutpie"), rng=1)
