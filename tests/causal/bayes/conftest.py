"""Shared fixtures: fitted models are module- or session-scoped so each compiles once."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")

from causal.bayes import HierarchicalEffects, Sampler, simulate_hierarchical

PLUMBING = Sampler(draws=250, tune=250, chains=2)


@pytest.fixture(scope="session")
def censored_world():
    """8 queues, lognormal durations, ~25% of tickets still open at extraction."""
    return simulate_hierarchical(8, 600, mu_tau=-0.25, sigma_tau=0.08, horizon_scale=12000.0,
                                 rng=11)


@pytest.fixture(scope="session")
def censored_fit(censored_world):
    frame, _ = censored_world
    spec = HierarchicalEffects("duration_s", "treated", group="queue", event="event",
                               horizon="horizon_s", sampler=PLUMBING)
    return spec.fit(frame, rng=5)
