"""Shared synthetic data with a known effect for the observational tests."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest


def confounded(n: int, rng: np.random.Generator, effect: float = 2.0) -> pd.DataFrame:
    """Opt-in treatment driven by x1, x2 (which also raise the outcome); true ATE = ``effect``
    plus 1.0 * mean(seg == 'a') from a segment-specific extra effect."""
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    seg = rng.choice(["a", "b"], n)
    p = 1 / (1 + np.exp(-(0.8 * x1 - 0.5 * x2)))
    t = (rng.random(n) < p).astype(int)
    tau = effect + np.where(seg == "a", 1.0, 0.0)
    y = 1.0 + 1.5 * x1 + 1.0 * x2 + tau * t + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "seg": seg, "t": t, "y": y, "tau": tau})


@pytest.fixture(scope="session")
def confounded_frame() -> pd.DataFrame:
    return confounded(1500, np.random.default_rng(11))
