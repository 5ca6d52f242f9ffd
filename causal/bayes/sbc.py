"""Simulation-based calibration (SBC) of the hierarchical model's sampler, and coverage.

(This module checks the *sampler and model* against their own prior. Calibrating the contact-centre
simulator to data is another thing, in :mod:`simulation.calibration`. The old module name
``causal.bayes.calibration`` still imports, with a deprecation warning.)

SBC (Talts et al., 2018): draw parameters from the prior, simulate data, fit, and record the rank
of the true value among the posterior draws. A calibrated model gives uniform ranks, and its
central intervals cover the truth at their nominal rate on average over the prior.

Vectorised: the ``n_sims`` replications are stacked along a leading axis of one PyMC model, so
a single NUTS run fits them all (the blocks are independent, so the joint posterior is the
product of the per-simulation posteriors). The batched model mirrors
:meth:`HierarchicalEffects.build_model` (lognormal, sufficient statistics, non-centred effects,
centred baselines, unpooled residual sds) with data-independent prior centres (0 and 1), since
SBC needs a prior that does not look at the data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from causal.bayes.hierarchical import HierarchicalEffects
from causal.bayes.sampling import Sampler, sample_model
from servicelab import DesignError, Diagnostic, RNGLike, Summary, jsonable, resolve_rng
from servicelab.results import ResultMixin
from servicelab.validation import renamed_argument


@dataclass(frozen=True, eq=False, repr=False)
class SBCResult(ResultMixin):
    """Ranks (sims x parameters) of the truths among ``n_draws`` posterior draws, and coverage."""

    ranks: pd.DataFrame
    n_draws: int
    covered: pd.DataFrame  # sims x parameters, truth inside the central ``ci_level`` interval
    ci_level: float
    diagnostics: tuple[Diagnostic, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def level(self) -> float:
        """Deprecated: use :attr:`ci_level`."""
        warnings.warn("SBCResult.level is deprecated: use ci_level", DeprecationWarning, stacklevel=2)
        return self.ci_level

    def uniformity_pvalues(self, bins: int = 5) -> dict[str, float]:
        """Chi-square test of uniform ranks per parameter."""
        out = {}
        for col in self.ranks:
            u = self.ranks[col].to_numpy() / (self.n_draws + 1)
            counts = np.histogram(u, bins=bins, range=(0, 1))[0]
            out[col] = float(stats.chisquare(counts).pvalue)
        return out

    @property
    def coverage(self) -> dict[str, float]:
        """Share of simulations whose interval covered the true value, per parameter."""
        return {c: float(self.covered[c].mean()) for c in self.covered}

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        p = self.uniformity_pvalues()
        table = pd.DataFrame({"parameter": list(p), "rank_uniformity_p": list(p.values()),
                              f"coverage_{int(self.ci_level * 100)}": list(self.coverage.values())})
        return Summary("Simulation-based calibration (hierarchical model)", table,
                       info=self.info, diagnostics=self.diagnostics)

    def plot(self, ax: plt.Axes | None = None, bins: int = 5) -> plt.Axes:
        """Rank histograms, one step line per parameter, with the uniform expectation."""
        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        for col in self.ranks:
            ax.hist(self.ranks[col] / (self.n_draws + 1), bins=bins, range=(0, 1),
                    histtype="step", lw=1.5, label=col)
        ax.axhline(len(self.ranks) / bins, color="k", ls="--", lw=1, label="uniform")
        ax.set_xlabel("normalised rank of the truth")
        ax.set_ylabel("simulations")
        ax.set_title("SBC rank histograms")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({"n_sims": len(self.ranks), "n_draws": self.n_draws,
                         "uniformity_p": self.uniformity_pvalues(), "coverage": self.coverage,
                         "ci_level": self.ci_level, "info": self.info,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


def sbc_hierarchical(spec: HierarchicalEffects | None = None, *, n_sims: int = 40,
                     n_groups: int = 6, n_per_cell: int = 40,
                     sampler: Sampler | None = None, ci_level: float = 0.9,
                     rng: RNGLike = None, level: float | None = None) -> SBCResult:
    """Simulation-based calibration of the hierarchical lognormal model, vectorised.

    Parameters
    ----------
    spec : HierarchicalEffects, optional
        Supplies the priors (``effect_sd``, ``effect_spread_sd``, ``intercept_sd``).
    n_sims, n_groups, n_per_cell : int
        Replications, groups, and contacts per group and arm.
    sampler : Sampler
        Cheap settings suffice (default 2 chains x 100 draws, 200 tuning steps).
    ci_level : float
        Level of the central intervals whose coverage is reported (``level`` is its deprecated
        name).

    Examples
    --------
    >>> res = sbc_hierarchical(n_sims=30, rng=1)  # doctest: +SKIP
    >>> res.uniformity_pvalues()["mu_tau"] > 0.01  # doctest: +SKIP
    True
    """
    if n_sims < 10 or n_groups < 2 or n_per_cell < 2:
        raise DesignError("SBC needs n_sims >= 10, n_groups >= 2, n_per_cell >= 2")
    spec = spec or HierarchicalEffects("y", "treated")
    sampler = sampler or Sampler(draws=100, tune=200, chains=2)
    gen = resolve_rng(rng)
    K, G, n = n_sims, n_groups, float(n_per_cell)
    # prior draws
    mu_alpha = gen.normal(0, spec.intercept_sd, K)
    sigma_alpha = np.abs(gen.normal(0, 1, K))
    alpha = gen.normal(mu_alpha[:, None], sigma_alpha[:, None], (K, G))
    mu_tau = gen.normal(0, spec.effect_sd, K)
    sigma_tau = np.abs(gen.normal(0, spec.effect_spread_sd, K))
    tau = mu_tau[:, None] + sigma_tau[:, None] * gen.standard_normal((K, G))
    log_sigma = gen.normal(0, 1, (K, G))
    sig = np.exp(log_sigma)
    # sufficient statistics per (sim, group, arm): cell mean and within-cell sum of squares
    mu = np.stack([alpha, alpha + tau], axis=-1)  # K x G x 2
    mean = gen.normal(mu, sig[..., None] / np.sqrt(n))
    ss = sig[..., None] ** 2 * gen.chisquare(n - 1, (K, G, 2))
    arm = np.array([0.0, 1.0])
    with pm.Model() as model:
        m_a = pm.Normal("mu_alpha", 0.0, spec.intercept_sd, shape=K)
        s_a = pm.HalfNormal("sigma_alpha", 1.0, shape=K)
        a = pm.Normal("alpha", m_a[:, None], s_a[:, None], shape=(K, G))
        m_t = pm.Normal("mu_tau", 0.0, spec.effect_sd, shape=K)
        s_t = pm.HalfNormal("sigma_tau", spec.effect_spread_sd, shape=K)
        z = pm.Normal("tau_z", 0.0, 1.0, shape=(K, G))
        t = pm.Deterministic("tau", m_t[:, None] + s_t[:, None] * z)
        ls = pm.Normal("log_sigma", 0.0, 1.0, shape=(K, G))
        s = pm.math.exp(ls)[..., None]
        mu_m = a[..., None] + t[..., None] * arm
        pm.Normal("cell_mean", mu_m, s / np.sqrt(n), observed=mean)
        pm.Gamma("cell_ss", alpha=(n - 1) / 2, beta=1 / (2 * s**2), observed=ss)
    idata = sample_model(model, sampler, gen,
                         var_names=["mu_alpha", "sigma_alpha", "mu_tau", "sigma_tau", "tau"])
    post = idata.posterior
    truths = {"mu_tau": mu_tau, "sigma_tau": sigma_tau, "mu_alpha": mu_alpha,
              "tau[0]": tau[:, 0]}
    draws = {"mu_tau": post["mu_tau"].values.reshape(-1, K),
             "sigma_tau": post["sigma_tau"].values.reshape(-1, K),
             "mu_alpha": post["mu_alpha"].values.reshape(-1, K),
             "tau[0]": post["tau"].values.reshape(-1, K, G)[:, :, 0]}
    level = renamed_argument(ci_level, level, new="ci_level", old="level", where="sbc_hierarchical",
                             default=0.9)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    ranks, covered = {}, {}
    for name, d in draws.items():
        ranks[name] = (d < truths[name][None, :]).sum(axis=0)
        ql, qh = np.quantile(d, [lo, hi], axis=0)
        covered[name] = (ql <= truths[name]) & (truths[name] <= qh)
    n_div = int(idata.sample_stats["diverging"].sum())
    diags = (Diagnostic("divergences", "ok" if n_div == 0 else "warning",
                        f"{n_div} divergent transitions over the {K} stacked fits", float(n_div)),)
    info = {"n_sims": K, "n_groups": G, "n_per_cell": n_per_cell,
            "draws per sim": sampler.draws * sampler.chains}
    return SBCResult(pd.DataFrame(ranks), sampler.draws * sampler.chains, pd.DataFrame(covered),
                     level, diags, info)
