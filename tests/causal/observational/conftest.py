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


def limited_overlap(rng: np.random.Generator, n: int = 750) -> tuple[np.ndarray, ...]:
    """An IHDP-like design with limited overlap (generated; IHDP has n = 747, 25 covariates).

    6 continuous and 19 binary covariates, about 23% treated, true propensities down to about
    1e-3. The effect is heterogeneous along the strongest confounder and normalised so that the
    sample ATT is exactly 4.0 and the sample ATE exactly 4.66 (ATE != ATT). Returns
    ``x, t, y, e, tau``.
    """
    xc = rng.normal(size=(n, 6))
    xb = (rng.random((n, 19)) < np.linspace(0.05, 0.5, 19)).astype(float)
    x = np.column_stack([xc, xb])
    logit = (-2.0 + 1.6 * xc[:, 0] - 0.8 * xc[:, 1] + 0.6 * xc[:, 2] + 1.5 * xb[:, 0]
             - 1.2 * xb[:, 3] + 0.8 * xb[:, 10])
    e = 1 / (1 + np.exp(-logit))
    t = (rng.random(n) < e).astype(float)
    z = xc[:, 0]
    tau = 4.0 + 0.66 * (z - z[t == 1].mean()) / (z.mean() - z[t == 1].mean())
    mu0 = 1.0 + xc @ np.array([1.0, 0.5, -0.5, 0.3, 0.0, 0.2]) + 0.3 * xb[:, :5].sum(axis=1)
    y = mu0 + tau * t + rng.normal(size=n)
    return x, t, y, e, tau
