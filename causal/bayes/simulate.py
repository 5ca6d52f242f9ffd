"""Synthetic contacts with known per-group effects, for tests, calibration and demos."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from servicelab import RNGLike, resolve_rng

__all__ = ["simulate_hierarchical"]


def simulate_hierarchical(n_groups: int = 8, n_per_group: int | np.ndarray = 400, *,
                          mu_tau: float = -0.10, sigma_tau: float = 0.08, mu_alpha: float = 8.0,
                          sigma_alpha: float = 0.5, sigma: float = 1.0,
                          horizon_scale: float | None = None, rng: RNGLike = None
                          ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Contacts with lognormal durations and known per-group effects.

    Returns a frame with ``queue``, ``treated`` (50/50), ``duration_s``, ``event``, ``horizon_s``
    and the truth: ``tau`` per group (log ratio), ``ate_s`` (mean seconds, all contacts) and the
    uncensored potential outcomes ``y0`` and ``y1`` of every row (so that any estimand, e.g. a
    restricted mean up to a horizon, can be computed on the same contacts). With
    ``horizon_scale``, each contact has a uniform time-to-extraction on ``(0, horizon_scale)``;
    tickets not resolved by then are open (``event = 0``) and their ``duration_s`` is the time
    open so far.

    Examples
    --------
    >>> frame, truth = simulate_hierarchical(4, 100, rng=1)
    >>> sorted(frame.columns)[:3], len(truth["tau"]), len(truth["y1"])
    (['duration_s', 'event', 'horizon_s'], 4, 400)
    """
    gen = resolve_rng(rng)
    sizes = np.broadcast_to(np.asarray(n_per_group), (n_groups,)).astype(np.int64)
    g = np.repeat(np.arange(n_groups), sizes)
    n = len(g)
    arm = gen.integers(0, 2, n)
    alpha = gen.normal(mu_alpha, sigma_alpha, n_groups)
    tau = gen.normal(mu_tau, sigma_tau, n_groups)
    eps = gen.normal(0, sigma, n)
    y0 = np.exp(alpha[g] + eps)
    y1 = np.exp(alpha[g] + tau[g] + eps)
    y = np.where(arm == 1, y1, y0)
    horizon = gen.uniform(0, horizon_scale, n) if horizon_scale else np.full(n, np.inf)
    event = (y <= horizon).astype(np.int64)
    frame = pd.DataFrame({
        "queue": [f"q{i:02d}" for i in g], "treated": arm,
        "duration_s": np.where(event == 1, y, horizon), "event": event,
        "horizon_s": np.where(np.isfinite(horizon), horizon, np.maximum(y, 1.0) * 10)})
    # expected ATE in seconds for the population of groups as sampled (lognormal mean ratio)
    base = np.exp(alpha + sigma**2 / 2)
    w = sizes / sizes.sum()
    truth = {"tau": tau, "alpha": alpha, "ate_s": float(w @ (base * (np.exp(tau) - 1))),
             "ate_by_group_s": base * (np.exp(tau) - 1), "y0": y0, "y1": y1, "sigma": sigma}
    return frame, truth
