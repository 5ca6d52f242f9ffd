"""Every observational estimate builds its interval at the spec's ``ci_level`` (no hard-coded 95%)."""

from __future__ import annotations

import numpy as np
import pytest

from causal import critical_value
from causal.observational import ESTIMATORS, CateAnalysis, ObservationalStudy
from servicelab.errors import DesignError

WALD = tuple(e for e in ESTIMATORS if e != "standardization")  # g-formula: bootstrap percentile


@pytest.fixture(scope="module")
def small(confounded_frame):
    return confounded_frame.iloc[:600]


def _study(ci_level: float, estimators) -> ObservationalStudy:
    return ObservationalStudy(outcome="y", treatment="t", confounders=["x1", "x2"],
                              effect_modifiers=["seg"], estimators=estimators, refuters=(),
                              forest_trees=40, ci_level=ci_level)


def test_wald_intervals_at_ci_level(small):
    z90 = critical_value(0.90)
    assert z90 == pytest.approx(1.6449, abs=1e-4)
    res90 = _study(0.90, WALD).fit(small, rng=5)
    cheap = ("naive", "regression", "stratification", "matching", "ipw", "aipw", "linear_dml",
             "dr_learner")
    res95 = _study(0.95, cheap).fit(small, rng=5)
    assert res90.ci_level == 0.90 and res90.to_dict()["ci_level"] == 0.90
    assert len(res90.estimates) == len(WALD)
    for e90 in res90.estimates:
        assert e90.ci_level == 0.90, e90.method
        assert e90.se is not None and e90.se > 0, e90.method
        assert e90.ci_high - e90.ci_low == pytest.approx(2 * z90 * e90.se, rel=1e-9), e90.method
        assert (e90.ci_low + e90.ci_high) / 2 == pytest.approx(e90.estimate, rel=1e-9, abs=1e-12)
    by_method = {e.method: e for e in res90.estimates}
    for e95 in res95.estimates:  # the level changes the interval only: same point and SE
        e90 = by_method[e95.method]
        assert e95.ci_level == 0.95 and e90.estimate == e95.estimate and e90.se == e95.se
        assert e95.ci_high - e95.ci_low == pytest.approx(2 * critical_value(0.95) * e95.se)
    assert "90% CI" in res90.plot().get_xlabel()


def test_standardization_percentile_interval_at_ci_level(small):
    r90 = _study(0.90, ("standardization",)).fit(small, rng=2).estimates[0]
    r95 = _study(0.95, ("standardization",)).fit(small, rng=2).estimates[0]
    assert r90.ci_level == 0.90 and r90.estimate == r95.estimate
    assert r95.ci_low < r90.ci_low < r90.estimate < r90.ci_high < r95.ci_high


def test_cate_segment_intervals_at_ci_level(small):
    res = CateAnalysis(outcome="y", treatment="t", confounders=["x1", "x2"],
                       effect_modifiers=["seg"], learner="linear_dml", ci_level=0.90).fit(small, rng=1)
    seg = res.segments
    assert res.ci_level == 0.90 and len(seg) == 2
    np.testing.assert_allclose(seg["ci_high"] - seg["ci_low"], 2 * critical_value(0.90) * seg["se"])


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_bad_ci_level(small, level):
    with pytest.raises(DesignError, match="ci_level"):
        _study(level, ("naive",)).fit(small)
    with pytest.raises(DesignError, match="ci_level"):
        CateAnalysis(outcome="y", treatment="t", confounders=["x1"], effect_modifiers=["seg"],
                     ci_level=level).fit(small)
