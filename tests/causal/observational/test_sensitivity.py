"""Cinelli–Hazlett robustness value and E-value against the published worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from causal.observational import cinelli_hazlett, evalue_rr, robustness_value


def test_robustness_value_darfur_example():
    # Cinelli & Hazlett (2020), Darfur: t = 4.18, df = 783 -> RV = 13.9%, RV_{q=1,a=.05} = 7.6%,
    # partial R2 of treatment with outcome = 2.2%
    assert robustness_value(4.18, 783) == pytest.approx(0.139, abs=0.001)
    assert robustness_value(4.18, 783, alpha=0.05) == pytest.approx(0.076, abs=0.001)
    assert pytest.approx(0.022, abs=0.001) == 4.18**2 / (4.18**2 + 783)


def test_evalue_published_example():
    # VanderWeele & Ding (2017): RR = 3.9 -> E-value 7.26
    assert evalue_rr(3.9) == pytest.approx(7.26, abs=0.01)
    assert evalue_rr(1 / 3.9) == pytest.approx(7.26, abs=0.01)


def test_sensitivity_from_data_is_consistent():
    rng = np.random.default_rng(4)
    n = 2000
    x = rng.normal(size=(n, 2))
    t = (x[:, 0] + rng.normal(size=n) > 0) * 1.0
    y = 0.3 * t + x[:, 0] + 0.2 * x[:, 1] + rng.normal(size=n)
    s = cinelli_hazlett(y, t, x, ["strong", "weak"])
    tstat = s.estimate / s.se
    assert s.partial_r2_yd == pytest.approx(tstat**2 / (tstat**2 + s.dof))
    assert s.rv_q == pytest.approx(robustness_value(tstat, s.dof))
    assert s.benchmark_covariate == "strong"
    # a hidden confounder as strong as x0 would explain away most of this small effect
    assert s.benchmark_adjusted_estimate < s.estimate
    assert "confounder" in s.explain()
