from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from causal.bayes import BayesDeprecationWarning, BayesianITS, Sampler
from servicelab import DataError, DesignError
from servicelab.errors import ServicelabWarning


def _series(effect, seed=0):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-01-05", periods=84, freq="D")
    t = np.arange(84)
    weekly = np.array([10, 12, 8, 5, 0, -15, -20])[t % 7]
    y = 600 + 0.5 * t + weekly + rng.normal(0, 4, 84) + effect * (t >= 56)
    return pd.DataFrame({"day": days, "handle_s": y}), days[56]


def test_its_recovers_a_level_shift_with_bands():
    frame, start = _series(-30.0)
    its = BayesianITS("handle_s", "day", intervention=start,
                                sampler=Sampler(draws=250, tune=250, chains=2))
    res = its.fit(frame, rng=1)
    avg = res.average_effect
    assert avg.covers(-30.0) and avg.ci_high < 0
    assert res.p_positive < 0.01
    assert res.cumulative_effect.estimate == pytest.approx(28 * avg.estimate, rel=1e-6)
    b = res.bands()
    width = (b.loc[b["post"], "cf_high"] - b.loc[b["post"], "cf_low"]).to_numpy()
    assert width[-7:].mean() > width[:7].mean()  # the random walk's bands widen with the horizon
    json.dumps(res.to_dict())
    assert "Interrupted" in str(res.summary())
    assert len(res.plot_panels().axes) == 3
    plt.close("all")


def test_its_bad_input():
    frame, start = _series(0.0)
    its = BayesianITS("handle_s", "day", intervention=start)
    with pytest.raises(DataError, match="duplicate"):
        its.fit(pd.concat([frame, frame.iloc[:1]]))
    gap = frame.copy()
    gap.loc[3, "handle_s"] = np.nan
    with pytest.raises(DataError, match="missing"):
        its.fit(gap)
    with pytest.raises(DesignError, match="pre-period"):
        BayesianITS("handle_s", "day", intervention=frame["day"][5]).fit(frame)


def test_old_names_warn_and_alias_the_new_ones():
    import causal.bayes
    import causal.bayes.its

    with pytest.warns(BayesDeprecationWarning, match="use causal.bayes.BayesianITS"):
        old = causal.bayes.InterruptedTimeSeries
    assert old is BayesianITS
    with pytest.warns(DeprecationWarning, match="use causal.bayes.its.BayesianITSResult"):
        assert causal.bayes.its.ITSResult is causal.bayes.BayesianITSResult
    assert issubclass(BayesDeprecationWarning, ServicelabWarning)
    with pytest.raises(AttributeError):
        _ = causal.bayes.NoSuchModel
