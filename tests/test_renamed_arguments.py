"""One name per concept: ``ci_level`` and ``n_reps``; the former names warn and still work."""

from __future__ import annotations

import numpy as np
import pytest

from causal.experiments import rerandomization_check, simulate_service_experiment
from causal.quasi.synth import conformal_interval
from servicelab import DesignError
from servicelab.validation import renamed_argument


def test_renamed_argument_resolves_warns_and_refuses_both():
    assert renamed_argument(0.9, None, new="ci_level", old="level", where="f", default=0.95) == 0.9
    with pytest.warns(DeprecationWarning, match=r"f\(level=...\) is deprecated: use ci_level="):
        assert renamed_argument(0.95, 0.8, new="ci_level", old="level", where="f", default=0.95) == 0.8
    with pytest.warns(DeprecationWarning, match="deprecated"), pytest.raises(DesignError, match="ci_level only"):
        renamed_argument(0.9, 0.8, new="ci_level", old="level", where="f", default=0.95)


def test_conformal_interval_level_is_ci_level():
    rng = np.random.default_rng(0)
    donors = rng.normal(size=(40, 5)).cumsum(axis=0)
    y = np.column_stack([donors[:, :2].mean(axis=1) + rng.normal(0, 0.1, 40), donors])
    pre = np.arange(40) < 30
    new = conformal_interval(y, pre, ci_level=0.9)
    with pytest.warns(DeprecationWarning, match="use ci_level"):
        old = conformal_interval(y, pre, level=0.9)
    assert (old.ci_low, old.ci_high) == (new.ci_low, new.ci_high) and new.ci_level == 0.9
    with pytest.warns(DeprecationWarning, match="ConformalInterval.level"):
        assert new.level == 0.9


def test_replications_are_n_reps():
    new = simulate_service_experiment(50, n_reps=3, rng=1)
    with pytest.warns(DeprecationWarning, match="use n_reps"):
        old = simulate_service_experiment(50, reps=3, rng=1)
    assert old.customers.equals(new.customers) and new.customers["rep"].nunique() == 3
    y0 = np.random.default_rng(2).normal(size=40)
    a = rerandomization_check(y0, y0 + 1.0, n_reps=50, rng=3)
    with pytest.warns(DeprecationWarning, match="use n_reps"):
        b = rerandomization_check(y0, y0 + 1.0, reps=50, rng=3)
    assert a.equals(b)
