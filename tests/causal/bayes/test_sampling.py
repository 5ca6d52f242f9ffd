from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from causal.bayes import ConvergenceGate, Sampler, enforce, sample_model, sampled, sampling
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
    assert [d.status for d in diags] == ["ok"] * 5, diags  # rhat, ess x2, divergences, sampled
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


def test_an_interrupted_sampling_is_refused_not_reported(monkeypatch):
    """Regression (issue 10): PyMC swallows Ctrl-C, ends the chain in progress, samples the next
    one, then keeps the chains cut to the shortest (here 2 x 71 of 2 x 100 draws) or drops the
    short one; the study carried on with it. A KeyboardInterrupt raised in PyMC's per-draw
    callback (as Ctrl-C would be) must come out of sample_model."""
    real = pm.sample

    def interrupted(callback=None, **kwargs):
        def ctrl_c(trace, draw):
            if draw.chain == 0 and draw.draw_idx == 120:
                raise KeyboardInterrupt
            if callback is not None:
                callback(trace=trace, draw=draw)
        return real(**kwargs, callback=ctrl_c)

    monkeypatch.setattr(sampling.pm, "sample", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"interrupted: the posterior has 2 chain\(s\) x 71"):
        sample_model(_funnel(False), Sampler(draws=100, tune=50, chains=2), rng=1)


def test_ctrl_c_stops_every_chain_not_only_the_one_in_progress(monkeypatch):
    """PyMC ends only the chain in progress on Ctrl-C and samples the next ones in full (25 s after
    the Ctrl-C on a small world, minutes at study scale); sample_model stops them at their first draw."""
    import signal

    real = pm.sample
    calls = {0: 0, 1: 0, 2: 0}

    def sample_with_ctrl_c(callback=None, **kwargs):
        def draw_cb(trace, draw):
            calls[draw.chain] += 1
            if draw.chain == 0 and draw.draw_idx == 60:
                signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, through the signal handler
            if callback is not None:
                callback(trace=trace, draw=draw)
        return real(**kwargs, callback=draw_cb)

    monkeypatch.setattr(sampling.pm, "sample", sample_with_ctrl_c)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        sample_model(_funnel(False), Sampler(draws=100, tune=50, chains=3, cores=1), rng=1)
    assert calls[0] == 61
    assert calls[1] <= 1 and calls[2] <= 1  # each later chain stops at its first draw (0: dropped)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_what_was_sampled_is_recorded():
    idata = sample_model(_funnel(False), Sampler(draws=60, tune=40, chains=2), rng=2)
    assert sampled(idata) == {"chains": 2, "draws": 60, "tune": 40, "backend": "pymc"}
    d = {x.name: x for x in ConvergenceGate().check(idata)}["sampled"]
    assert d.status == "ok" and d.value == 120 and "2 chain(s) x 60 draws" in d.message
    assert idata.attrs["servicelab_seed"] == sampling.seed_int(2)


def test_pytensor_links_to_a_blas():
    """PyTensor is pointed at the OpenBLAS bundled with scipy (issue 10: it warned "could not link
    to a BLAS installation" and fell back to slow NumPy C-API calls)."""
    import pytensor
    import pytensor.tensor as pt

    from causal.bayes import _blas

    if _blas.bundled_openblas() is None:
        pytest.skip("scipy has no bundled OpenBLAS here (e.g. conda): PyTensor finds the system's")
    assert "scipy_openblas" in pytensor.config.blas__ldflags
    x, v = pt.dmatrix("x"), pt.dvector("v")
    f = pytensor.function([x, v], pt.dot(x, v))
    ops = {type(node.op).__name__ for node in f.maker.fgraph.apply_nodes}
    assert "CGemv" in ops  # the C BLAS op, compiled and linked
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 20)), rng.normal(size=20)
    np.testing.assert_allclose(f(a, b), a @ b, rtol=1e-12)
