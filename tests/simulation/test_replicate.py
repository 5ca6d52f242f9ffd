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
    sl = r.to_dict()["service_levels"]["sl_20s"]
    assert sl["description"].startswith("answered within 20 s, over all offered contacts")
    assert r.to_dict()["ci_level"] == 0.95 and r.ci_level == 0.95
    with pytest.warns(DeprecationWarning, match="ci_level"):
        assert r.confidence == 0.95
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
    [({"n_reps": 0}, "n_reps"), ({"backend": "mpi"}, "backend"), ({"ci_level": 1.5}, "ci_level"),
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
        # Binomial(60, 0.95): P(fewer than 52 covered) is 0.003 for a correct interval
        assert cover.sum() >= 52, (key, int(cover.sum()))


def test_paired_comparison_of_two_routing_policies_on_the_same_contacts() -> None:
    # agents cross-trained on two queues; two policies differ in who answers what. Replication i of
    # both sees the same arrivals, handle times and patience, so the work offered is identical and
    # occupancy differs far less between paired replications than between independent ones
    from simulation import LogNormal, SkillsBasedOverflow, paired_comparison

    qs = [Queue("a", Poisson(40 / 1800, 8 * 3600), aht_s=LogNormal(300.0, 0.8), patience_s=300.0),
          Queue("b", Poisson(25 / 1800, 8 * 3600), aht_s=360.0, patience_s=300.0)]
    base = ContactCentre(qs, [AgentGroup("a", ("a", "b"), 8), AgentGroup("b", ("b", "a"), 6)], warmup_s=3600)
    from simulation import FIFO

    ra = replicate(base.with_routing(SkillsBasedOverflow(60.0)), 6, rng=3, backend="serial", progress=False)
    rb = replicate(base.with_routing(FIFO()), 6, rng=3, backend="serial", progress=False)
    cmp = paired_comparison(ra, rb, measures=("sl_20s", "occupancy"), labels=("overflow", "fifo"))
    occ = cmp.row("occupancy")
    assert occ["variance_ratio"] > 10
    assert "cut the variance" in cmp.variance_sentence("occupancy")
    row = cmp.row("sl_20s")
    assert row["ci_low"] <= row["mean_diff"] <= row["ci_high"]
    assert row["mean_diff"] == pytest.approx(row["mean_a"] - row["mean_b"])
    assert list(cmp.table["measure"]) == ["sl_20s", "occupancy"]
    assert "overflow - fifo" in str(cmp.summary())


def test_variance_ratio_wording_states_the_direction() -> None:
    from simulation.replicate import variance_ratio_sentence

    assert "cut the variance of the difference 3.0-fold" in variance_ratio_sentence(3.0)
    worse = variance_ratio_sentence(0.8)
    assert "did not reduce" in worse and "1.25 times" in worse and "0.80" in worse
    assert "factor of 0.8" not in worse


def test_shares_get_intervals_inside_zero_one() -> None:
    # a nearly always met service level over few replications: the t-interval is clipped at 1
    x = np.array([1.0, 1.0, 0.6, 1.0, 1.0])
    m, lo, hi = t_interval(x, bounds=(0.0, 1.0))
    raw = t_interval(x)
    assert raw[2] > 1 and hi == 1.0 and lo == raw[1] and m == raw[0]
    with pytest.warns(DeprecationWarning, match="ci_level"):
        assert t_interval(x, confidence=0.9)[1] == t_interval(x, 0.9)[1]
