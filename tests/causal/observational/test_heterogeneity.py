"""CATE by segment, BLP calibration, policy tree value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causal.observational import CateAnalysis
from servicelab.errors import DesignError

EFFECTS = {"a": 2.0, "b": 0.8, "c": 0.0, "d": -1.0}


@pytest.fixture(scope="module")
def hetero_frame():
    rng = np.random.default_rng(21)
    n = 2400
    seg = rng.choice(list(EFFECTS), n)
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    tau = pd.Series(seg).map(EFFECTS).to_numpy()
    return pd.DataFrame({"x": x, "seg": seg, "t": t, "tau": tau,
                         "y": 1.0 + x + t * tau + rng.normal(size=n)})


@pytest.fixture(scope="module")
def forest_result(hetero_frame):
    return CateAnalysis("t", "y", ["x"], ["seg"], learner="causal_forest",
                        n_estimators=40).fit(hetero_frame, rng=0)


def test_segments_ranked_and_covered(forest_result):
    seg = forest_result.segments.set_index("value")
    truth = pd.Series(EFFECTS)
    rho = stats.spearmanr(seg.loc[truth.index, "cate"], truth).statistic
    assert rho == pytest.approx(1.0)
    covered = [(seg.loc[k, "ci_low"] - 0.1 <= v <= seg.loc[k, "ci_high"] + 0.1)
               for k, v in EFFECTS.items()]
    assert all(covered), seg


def test_blp_calibration_detects_real_heterogeneity(forest_result):
    blp = forest_result.blp
    assert blp["beta2_p"] < 0.01
    assert 0.6 < blp["beta2"] < 1.4


def test_policy_beats_treat_all_and_none(forest_result):
    p = forest_result.policy
    assert p["value_policy"] > p["value_treat_all"]
    assert p["value_policy"] > p["value_treat_none"]
    assert 0.3 < p["share_treated"] < 0.8  # treat a and b, not d
    s = str(forest_result.summary())
    assert "Policy tree" in s and "treat-all" in s
    json.dumps(forest_result.to_dict())
    forest_result.plot()


def test_no_heterogeneity_is_not_confirmed():
    rng = np.random.default_rng(8)
    n = 2000
    seg = rng.choice(["a", "b", "c"], n)
    x = rng.normal(size=n)
    t = (rng.random(n) < 0.5).astype(int)
    df = pd.DataFrame({"x": x, "seg": seg, "t": t, "y": x + 1.0 * t + rng.normal(size=n)})
    res = CateAnalysis("t", "y", ["x"], ["seg", "x"], segments=["seg"],
                       learner="linear_dml").fit(df, rng=1)
    assert res.blp["beta2_p"] > 0.01
    # lower-is-better with a cost above the effect: treating nobody is best
    res2 = CateAnalysis("t", "y", ["x"], ["seg"], learner="linear_dml", higher_is_better=False,
                        cost=0.5).fit(df, rng=1)
    assert res2.policy["share_treated"] < 0.2


def test_cate_determinism_and_bad_input(hetero_frame):
    spec = CateAnalysis("t", "y", ["x"], ["seg"], learner="linear_dml")
    a, b = spec.fit(hetero_frame, rng=4), spec.fit(hetero_frame, rng=4)
    pd.testing.assert_frame_equal(a.segments, b.segments)
    with pytest.raises(DesignError, match="effect_modifiers"):
        CateAnalysis("t", "y", ["x"]).fit(hetero_frame)


def test_split_and_in_sample_cates_are_returned(hetero_frame):
    spec = CateAnalysis(outcome="y", treatment="t", confounders=["x"], effect_modifiers=["seg"],
                        learner="linear_dml")
    res = spec.fit(hetero_frame, rng=4)
    n = len(hetero_frame)
    train = res.train
    assert train.dtype == bool and train.shape == (n,) and train.sum() == n // 2
    assert res.cate_train.shape == (train.sum(),) and res.cate_test.shape == ((~train).sum(),)
    assert res.segments["n"].sum() == (~train).sum()  # the segments are the held-out half
    d = res.to_dict()
    assert (d["n_train"], d["n_test"]) == (n // 2, n - n // 2)
    units = res.unit_cates()
    assert list(units["half"] == "train") == list(train)
    np.testing.assert_array_equal(units.loc[train, "cate"], res.cate_train)
    # the CATE depends on seg only: each unit's CATE is its segment's, in both halves
    seg = hetero_frame["seg"].to_numpy()
    by_seg = res.segments.set_index("value")["cate"]
    np.testing.assert_allclose(units["cate"], by_seg.loc[seg].to_numpy(), rtol=1e-9)
    # in sample, the CATEs still recover the segment effects (4 SEs of the segment estimate)
    se = res.segments.set_index("value")["se"]
    for k, v in EFFECTS.items():
        assert abs(res.cate_train[seg[train] == k].mean() - v) < 4 * se[k], k
    # the split is the seed's: the same seed gives the same split, another seed another one
    assert np.array_equal(spec.fit(hetero_frame, rng=4).train, train)
    assert not np.array_equal(spec.fit(hetero_frame, rng=5).train, train)
