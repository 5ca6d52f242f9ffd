"""Distributions: Scaled (a relative handle-time effect) keeps the shape and scales the mean."""

from __future__ import annotations

import numpy as np
import pytest

from servicelab.errors import DesignError
from simulation import Exponential, LogNormal, Scaled


def test_scaled_distribution_scales_mean_and_draws():
    d = Scaled(Exponential(300.0), 0.9)
    x = d.sample(np.random.default_rng(1), 20_000)
    assert d.mean == pytest.approx(270.0)
    # the sample mean within 4 standard errors (sd of an exponential = its mean), any seed
    assert abs(x.mean() - 270.0) < 4 * 270.0 / np.sqrt(x.size)


def test_scaled_keeps_the_shape_draw_for_draw():
    base = LogNormal(300.0, 0.8)
    a = base.sample(np.random.default_rng(7), 1000)
    b = Scaled(base, 0.94).sample(np.random.default_rng(7), 1000)
    np.testing.assert_allclose(b, 0.94 * a)  # same stream, same contacts: only the scale differs
    assert Scaled(120.0, 2.0).mean == 240.0  # a number is an exponential mean, as for Queue


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan"), float("inf")])
def test_scaled_rejects_a_non_positive_factor(factor):
    with pytest.raises(DesignError, match="factor"):
        Scaled(Exponential(300.0), factor)
