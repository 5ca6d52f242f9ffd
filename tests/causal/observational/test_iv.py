"""IV with covariates: ground truth, covariates matter, weak instrument, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causal.observational import IVStudy, WeakInstrumentWarning
from servicelab.errors import DataError


def iv_frame(n: int, rng: np.random.Generator, strength: float = 1.0) -> pd.DataFrame:
    """Instrument valid only given w (z depends on w, w affects y); unobserved u confounds d."""
    w = rng.normal(size=n)
    u = rng.normal(size=n)
    z = (rng.random(n) < 1 / (1 + np.exp(-1.5 * w))).astype(int)
    d = ((strength * z + u + 0.5 * w + rng.normal(size=n)) > 0.5).astype(float)
    y = 1.5 * d + u + 2.0 * w + rng.normal(size=n)
    return pd.DataFrame({"z": z, "d": d, "w": w, "y": y})


def test_iv_with_covariates_recovers_late():
    df = iv_frame(4000, np.random.default_rng(1))
    res = IVStudy(outcome="y", treatment="d", instruments=["z"], covariates=["w"],
                  methods=("2sls", "orthoiv")).fit(df, rng=0)
    assert res.first_stage_f > 10
    for e in res.estimates:
        assert e.estimand == "LATE"
        assert e.covers(1.5), e
    # ignoring the covariate (what DoWhy's IV does) is biased here
    naive_iv = IVStudy(outcome="y", treatment="d", instruments=["z"], methods=("2sls",)).fit(df).estimates[0]
    assert not naive_iv.covers(1.5)
    assert "first-stage F" in str(res.summary())
    res.plot()


def test_dmliv_point_estimate_and_cluster_se():
    df = iv_frame(3000, np.random.default_rng(2))
    df["cl"] = np.arange(len(df)) % 50
    res = IVStudy(outcome="y", treatment="d", instruments=["z"], covariates=["w"], methods=("dmliv", "2sls"),
                  cluster="cl").fit(df, rng=0)
    dml, tsls = res.estimates
    assert abs(dml.estimate - 1.5) < 0.6 and dml.se is None
    assert "cluster" in tsls.method and tsls.se > 0


def test_weak_instrument_warns():
    rng = np.random.default_rng(3)
    df = iv_frame(1000, rng)
    df["zweak"] = rng.integers(0, 2, len(df))
    with pytest.warns(WeakInstrumentWarning, match="F = .* < 10"):
        res = IVStudy(outcome="y", treatment="d", instruments=["zweak"], covariates=["w"], methods=("2sls",)).fit(df)
    assert res.diagnostics[0].status == "fail"


def test_iv_bad_input():
    df = iv_frame(200, np.random.default_rng(4))
    with pytest.raises(DataError, match="constant"):
        IVStudy(outcome="y", treatment="d", instruments=["z"], methods=("2sls",)).fit(df.assign(z=1))
    with pytest.raises(DataError, match=r"\['nope'\] not in the data"):
        IVStudy(outcome="y", treatment="d", instruments=["nope"], methods=("2sls",)).fit(df)


def test_iv_determinism():
    df = iv_frame(1500, np.random.default_rng(5))
    spec = IVStudy(outcome="y", treatment="d", instruments=["z"], covariates=["w"], methods=("orthoiv",))
    assert spec.fit(df, rng=9).table().equals(spec.fit(df, rng=9).table())
