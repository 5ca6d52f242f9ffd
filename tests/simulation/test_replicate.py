"""Replications: identical across backends (serial, process pool, Dask), t-intervals, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from servicelab.errors import DesignError
from simulation import AgentGroup, ContactCentre, Poisson, Queue, replicate, t_interval


def _model() -> ContactCentre:
    return ContactCentre(
        [Queue("q", Poisson(10 / 60, 3 * 3600), aht_s=240.0, patience_s=180.0)],
        [AgentGroup("a", ("q",), 42)],
        warmup_s=1800,
    )


def test_backends_give_identical_results() -> None:
    m = _model()
    serial = replicate(m, 4, rng=123, backend="serial", progress=False, interval_s=3600)
    pool = replicate(m, 4, rng=123, backend="process", n_workers=2, progress=False,
                     interval_s=3600)
    pd.testing.assert_frame_equal(serial.replications, pool.replications)
    pd.testing.assert_frame_equal(serial.interval_metrics, pool.interval_metrics)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        dask = replicate(m, 4, rng=123, backend="dask", scheduler=cluster, progress=False)
    pd.testing.assert_frame_equal(serial.replications, dask.replications)
    assert serial.replications["p_wait"].nunique() == 4  # replications differ from each other


@pytest.mark.parametrize(
    "make", [lambda: 11, lambda: np.random.SeedSequence(11), lambda: np.random.default_rng(11)],
    ids=["int", "SeedSequence", "Generator"],
)
def test_same_rng_object_gives_paired_replications(make) -> None:
    # CRN: the same seed object passed twice (e.g. to two policies) gives the same contacts;
    # neither a SeedSequence (spawn) nor a Generator (draws) may be advanced by replicate
    m = ContactCentre([Queue("q", Poisson(2 / 60, 3600), aht_s=300.0, patience_s=120.0)],
                      [AgentGroup("a", ("q",), 12)])
    rng = make()
    a = replicate(m, 3, rng=rng, backend="serial", progress=False)
    b = replicate(m, 3, rng=rng, backend="serial", progress=False)
    pd.testing.assert_frame_equal(a.replications, b.replications)
    assert a.replications["offered"].nunique() == 3
    ref = replicate(m, 3, rng=11, backend="serial", progress=False)
    pd.testing.assert_frame_equal(a.replications, ref.replications)
    if isinstance(rng, np.random.SeedSequence):
        assert rng.n_children_spawned == 0


def test_replication_result_api() -> None:
    import matplotlib

    matplotlib.use("Agg")
    r = replicate(_model(), 3, rng=1, backend="serial", progress=False)
    t = r.table.set_index("measure")
    assert (t["ci_low"] <= t["mean"]).all() and (t["mean"] <= t["ci_high"]).all()
    assert r.interval("p_abandon")[0] == pytest.approx(t.loc["p_abandon", "mean"])
    assert [(d.name, d.status) for d in r.diagnostics] == [
        ("replications", "warning"), ("unresolved", "ok")]  # fewer than 5 replications
    assert "Simulation replications" in str(r.summary())
    assert r.plot() is not None
    assert r.to_dict()["service_levels"] == {"sl_20s": "answered within 20 s / offered"}
    with pytest.raises(DesignError, match="unknown measure"):
        r.interval("nope")


def test_t_interval_matches_scipy_and_covers() -> None:
    x = np.array([3.0, 5.0, 4.0, 6.5])
    _m, lo, hi = t_interval(x, 0.9)
    ref = stats.t.interval(0.9, 3, loc=x.mean(), scale=stats.sem(x))
    assert (lo, hi) == pytest.approx(ref)
    # vectorised coverage check of the interval over 4000 normal samples of size 6
    rng = np.random.default_rng(0)
    s = rng.normal(1.0, 2.0, (4000, 6))
    half = stats.t.ppf(0.975, 5) * s.std(axis=1, ddof=1) / np.sqrt(6)
    cover = np.mean(np.abs(s.mean(axis=1) - 1.0) <= half)
    assert 0.94 < cover < 0.96
    assert np.isnan(t_interval([1.0])[1])


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"n_reps": 0}, "n_reps"), ({"backend": "mpi"}, "backend"), ({"confidence": 1.5}, "confidence"),
     ({"service_levels": ()}, "ServiceLevel")],
)
def test_bad_replication_input(kw, match) -> None:
    args = {"n_reps": 2, **kw}
    with pytest.raises(DesignError, match=match):
        replicate(_model(), rng=0, progress=False, **args)


def test_replication_t_intervals_cover_exact_erlang_a() -> None:
    """Coverage over 60 independent 4-replication experiments (lam=2/min, 12 agents)."""
    from tests.anchors import load_anchor

    row = load_anchor("queueing")["erlang_a"][0]
    assert row["c"] == 12
    m = ContactCentre(
        [Queue("q", Poisson(2 / 60, 7 * 3600), aht_s=300.0, patience_s=120.0)],
        [AgentGroup("a", ("q",), 12)],
        warmup_s=3600,
    )
    reps = replicate(m, 240, rng=31, backend="process", n_workers=2, progress=False).replications
    for key in ("p_abandon", "asa_answered_s", "p_wait"):
        x = reps[key].to_numpy().reshape(60, 4)
        half = stats.t.ppf(0.975, 3) * x.std(axis=1, ddof=1) / 2.0
        cover = np.abs(x.mean(axis=1) - row[key]) <= half
        # Binomial(60, 0.95): P(fewer than 52 covered) is about 0.02
        assert cover.sum() >= 52, (key, int(cover.sum()))
