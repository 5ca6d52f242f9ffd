from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from causal.bayes import Sampler, sbc_hierarchical, simulate_hierarchical
from servicelab import DesignError


def test_sbc_ranks_are_uniform_and_intervals_cover():
    res = sbc_hierarchical(n_sims=30, n_groups=4, n_per_cell=300,
                           sampler=Sampler(draws=100, tune=150, chains=2), rng=3)
    p = res.uniformity_pvalues()
    assert min(p.values()) > 0.001, p
    cov = res.coverage
    assert np.mean(list(cov.values())) == pytest.approx(0.9, abs=0.07), cov
    assert all(v >= 0.7 for v in cov.values()), cov
    json.dumps(res.to_dict())
    assert res.plot().get_title() == "SBC rank histograms"
    plt.close("all")


def test_simulator_and_sbc_input():
    frame, truth = simulate_hierarchical(3, [10, 20, 30], horizon_scale=5000.0, rng=1)
    assert len(frame) == 60 and set(frame["event"]) <= {0, 1}
    open_ = frame["event"] == 0
    np.testing.assert_allclose(frame.loc[open_, "duration_s"], frame.loc[open_, "horizon_s"])
    assert len(truth["tau"]) == 3
    with pytest.raises(DesignError):
        sbc_hierarchical(n_sims=3)


def test_calibration_module_name_is_a_deprecated_alias():
    import importlib
    import sys

    from causal.bayes import BayesDeprecationWarning, sbc

    sys.modules.pop("causal.bayes.calibration", None)
    with pytest.warns(BayesDeprecationWarning, match="causal.bayes.sbc"):
        old = importlib.import_module("causal.bayes.calibration")
    assert old.sbc_hierarchical is sbc.sbc_hierarchical
    assert old.simulate_hierarchical is simulate_hierarchical
