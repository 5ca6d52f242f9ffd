"""Hierarchical treatment effects by queue (and region, language...) with partial pooling.

The model, on the log scale for durations (lognormal) or the logit scale for binary outcomes::

    eta[s] = alpha[queue(s)] + extra intercepts + covariate effects,  alpha ~ Normal(mu_alpha, sigma_alpha)
    tau[s] = mu_tau   + sigma_tau   * tau_z[queue(s)]   + sigma_tau_e * tau_z_e[extra(s)]
    y | s, arm  ~  LogNormal(eta[s] + arm * tau[s], sigma[queue(s)])     or Bernoulli(logit^-1(...))

``s`` is a stratum (one combination of queue, extra groups and categorical covariates). The
effects are non-centred by default (``tau_z ~ Normal(0, 1)``), which keeps NUTS free of
divergences when a queue has few contacts.

Scale. The likelihood is evaluated on sufficient statistics per cell (stratum x arm):

- lognormal, resolved (uncensored) rows: ``n``, the mean of ``log y`` and the within-cell sum of
  squares ``SS``; ``mean ~ Normal(mu, sigma / sqrt(n))`` and ``SS ~ Gamma((n - 1) / 2,
  1 / (2 sigma^2))`` factorise the normal likelihood exactly;
- Bernoulli: successes and trials per cell, a Binomial likelihood (exact);
- right-censored rows (tickets still open at extraction) have one censoring time each and no
  exact sufficient statistic: they enter one by one through ``pm.Censored``
  (``censor_grid=None``), or, by default, grouped per cell on a 0.5% grid of censoring times
  as weighted survival terms (an approximation: each time moves by at most 0.25%).
  Continuous covariates
  would also break the reduction; only categorical covariates are supported here (bin a
  continuous one, or use ``aggregate=False`` to fit on raw rows).

Pooling. With one group, or ``pooling="none"``, there is no group level: each group's baseline
and effect get their own fixed priors (``alpha ~ Normal(pooled mean, intercept_sd)``,
``tau ~ Normal(0, effect_sd)``). A hierarchy over a single group has nothing to pool and its
``sigma_alpha`` funnel makes NUTS diverge.

Censored outcomes: what is reported. With open tickets the plain mean of the lognormal depends on
the tail past the longest follow-up (with 74% open after 52 weeks it is a pure extrapolation), so
a censored model **refuses the mean**: no ``ate_*`` columns. It reports, per group and overall,
the restricted mean up to a horizon ``tau`` inside the follow-up (``rmst_*``, seconds; the
``overall`` estimate), the ratio of quantiles both arms' Kaplan–Meier curves reach before ``tau``
(``ratio_q50_*``...) and the difference in P(resolved by t) at times inside the follow-up
(``p_resolved_<t>s_*``); see :mod:`causal.bayes.survival`. The summary states how far the refused
mean lies past the follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pymc as pm
from scipy import special

from causal.bayes._data import binary, codes, positive, require_columns
from causal.bayes.sampling import ConvergenceGate, Sampler, sample_model, save_netcdf
from causal.bayes.survival import (
    FollowUp,
    kaplan_meier,
    lognormal_rmst,
    mixture_cdf,
    mixture_quantile,
)
from causal.results import EffectEstimate
from servicelab import DataError, DesignError, Diagnostic, RNGLike, Summary, jsonable, resolve_rng
from servicelab.results import ResultMixin

Likelihood = Literal["lognormal", "bernoulli"]
Pooling = Literal["partial", "none"]
GATED = ("mu_alpha", "sigma_alpha", "alpha", "mu_tau", "sigma_tau", "tau", "sigma")
GATE_NAMES = ("rhat", "ess_bulk", "ess_tail", "divergences", "sampled")
MAX_SURVIVAL_DRAWS = 1000  # posterior draws used for survival-scale effects (evenly thinned)


@dataclass(frozen=True)
class Prepared:
    """Cells and arrays the model is built from (what :meth:`HierarchicalEffects.prepare` returns)."""

    likelihood: Likelihood
    group_levels: list[str]
    extra_levels: dict[str, list[str]]
    covariate_levels: dict[str, list[str]]
    strata: pd.DataFrame  # one row per stratum: integer codes per factor, and n (all rows)
    cells: pd.DataFrame  # one row per stratum x arm: stratum, arm, n, mean, ss (or k) over observed
    censored: pd.DataFrame  # open (censored) contacts: stratum, arm, log_c, count
    rows: pd.DataFrame | None  # raw observed rows (stratum, arm, y) when aggregate=False
    no_pooling: pd.DataFrame  # per group: estimate, se, n_control, n_treated (model scale)
    complete_pooling: tuple[float, float]  # estimate, se
    n_rows: int
    empty_arm_groups: list[str] = field(default_factory=list)
    horizon_rows: pd.DataFrame | None = None  # stratum, arm, log_h, open (censored models)
    followup: FollowUp | None = None  # censored models: horizon and supported scales
    survival_rows: pd.DataFrame | None = None  # censored models: g, arm, time, event (all rows)
    pooled: bool = True  # False: no group level (one group, or pooling="none")


@dataclass(frozen=True)
class HierarchicalEffects:
    """Partially pooled treatment effects by group (spec: parameters only).

    Parameters
    ----------
    outcome : str
        Duration in seconds (``likelihood="lognormal"``) or a 0/1 outcome (``"bernoulli"``).
        With ``event``, the time to resolution for resolved tickets and the time open so far for
        open ones.
    treatment : str
        0/1, bool or control/treatment column.
    group : str
        The grouping whose effects are reported, e.g. ``"queue"``.
    extra_groups : tuple of str
        Further crossed groupings with their own pooled intercepts and effects (region, language).
    covariates : tuple of str
        Categorical covariates with fixed effects on the baseline (e.g. ``"priority"``).
    likelihood : {"lognormal", "bernoulli"}
    event : str or None
        Lognormal only: 1 = resolved (``outcome`` observed), 0 = open (right-censored at ``outcome``).
    horizon : str or None
        Optional column with the time from creation to extraction, used to check ``event``:
        a resolved ticket needs ``outcome <= horizon`` and an open one ``outcome == horizon``.
    aggregate : bool
        Fit on sufficient statistics (default). ``False`` fits on raw rows (the slow baseline).
    censor_grid : float or None
        Open tickets are grouped per cell on a grid of log censoring times of this step
        (default 0.005, i.e. times rounded to the nearest 0.5%) and enter as weighted survival
        terms: a million contacts with tens of thousands of open tickets stay fast. ``None``
        keeps one ``pm.Censored`` term per open ticket (exact).
    centred : bool
        Parameterisation of the group effects. ``False`` (default) is non-centred,
        ``tau = mu_tau + sigma_tau * tau_z``: best when groups are small or effects are similar.
        ``True`` samples ``tau ~ Normal(mu_tau, sigma_tau)`` directly: better when every group has
        thousands of contacts (the likelihood then pins each effect). Baselines are always centred
        and residual sds unpooled, since the data pin them.
    empty_arm : {"error", "pool"}
        A group with no contacts in one arm raises :class:`DataError` (default), or, with
        ``"pool"``, is kept and its effect comes from pooling alone (a warning diagnostic).
    pooling : {"partial", "none"}
        ``"partial"`` (default) pools baselines and effects across groups; ``"none"`` fits each
        group with fixed priors and no group level (used automatically when there is one group).
    quantiles : tuple of float
        Censored models: quantiles whose treatment/control ratio is reported, when both arms'
        Kaplan–Meier curves reach them before the RMST horizon.
    rmst_horizon : float or None
        Censored models: horizon ``tau`` (seconds) of the restricted mean; must lie inside the
        follow-up. ``None``: the largest time with ``min_at_risk_share`` of each arm at risk.
    min_at_risk_share : float
        Share of each arm that must still be at risk at the default horizon (and >= 10 contacts).
    resolved_by : tuple of float or None
        Censored models: times (seconds, inside the follow-up) for P(resolved by t);
        ``None``: ``(tau / 2, tau)``.
    effect_sd : float
        Prior sd of the mean effect ``mu_tau`` (model scale).
    effect_spread_sd : float
        Half-normal scale of the between-group effect sd ``sigma_tau``.
    intercept_sd : float
        Prior sd of ``mu_alpha`` around the pooled observed mean (model scale).
    plausible_outcome : tuple of float
        Range of plausible typical outcomes (seconds or probability) for the prior predictive check.
    plausible_ratio : tuple of float
        Range of plausible effect ratios exp(mu_tau) for the prior predictive check.
    sampler, gate : Sampler, ConvergenceGate
    estimand, population : str
        Named in the results.

    Examples
    --------
    >>> spec = HierarchicalEffects("handle_s", "treated", group="queue")
    >>> result = spec.fit(frame, rng=7)  # doctest: +SKIP
    >>> result.effects[["group", "ate_mean", "p_positive"]]  # doctest: +SKIP

    Time to resolution with open tickets (effects on supported scales only):

    >>> spec = HierarchicalEffects("duration_s", "treated", event="event", horizon="horizon_s")
    >>> result = spec.fit(frame, rng=7)  # doctest: +SKIP
    >>> result.scales  # RMST difference, quantile ratios, P(resolved by t)  # doctest: +SKIP
    """

    outcome: str
    treatment: str
    group: str = "queue"
    extra_groups: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    likelihood: Likelihood = "lognormal"
    event: str | None = None
    horizon: str | None = None
    aggregate: bool = True
    censor_grid: float | None = 0.005
    centred: bool = False
    empty_arm: Literal["error", "pool"] = "error"
    pooling: Pooling = "partial"
    quantiles: tuple[float, ...] = (0.25, 0.5)
    rmst_horizon: float | None = None
    min_at_risk_share: float = 0.05
    resolved_by: tuple[float, ...] | None = None
    effect_sd: float = 0.5
    effect_spread_sd: float = 0.2
    intercept_sd: float = 2.0
    plausible_outcome: tuple[float, float] = (1.0, 90 * 86400.0)
    plausible_ratio: tuple[float, float] = (1 / 3, 3.0)
    sampler: Sampler = field(default_factory=Sampler)
    gate: ConvergenceGate = field(default_factory=ConvergenceGate)
    estimand: str = "CATE by group (ATE overall)"
    population: str = "contacts in the frame"
    ci_level: float = 0.95

    # -- data ------------------------------------------------------------------------------
    def _check_spec(self) -> None:
        if self.likelihood not in ("lognormal", "bernoulli"):
            raise DesignError(f"likelihood must be 'lognormal' or 'bernoulli'; got {self.likelihood!r}")
        if self.event is not None and self.likelihood != "lognormal":
            raise DesignError("event (censoring) is only supported with likelihood='lognormal'")
        if self.empty_arm not in ("error", "pool"):
            raise DesignError(f"empty_arm must be 'error' or 'pool'; got {self.empty_arm!r}")
        if self.pooling not in ("partial", "none"):
            raise DesignError(f"pooling must be 'partial' or 'none'; got {self.pooling!r}")
        if self.pooling == "none" and self.extra_groups:
            raise DesignError("pooling='none' fits each group on its own; extra_groups need "
                              "partial pooling. Move them to covariates= or use pooling='partial'")
        if self.pooling == "none" and self.empty_arm == "pool":
            raise DesignError("empty_arm='pool' borrows the effect from other groups, which "
                              "pooling='none' does not do; drop the empty groups instead")
        if not all(0 < q < 1 for q in self.quantiles):
            raise DesignError(f"quantiles must lie in (0, 1); got {self.quantiles}")
        if not 0 < self.min_at_risk_share < 1:
            raise DesignError(f"min_at_risk_share must lie in (0, 1); got "
                              f"{self.min_at_risk_share}")
        for name in ("effect_sd", "effect_spread_sd", "intercept_sd"):
            if not getattr(self, name) > 0:
                raise DesignError(f"{name} must be > 0; got {getattr(self, name)}")

    def prepare(self, frame: pd.DataFrame) -> Prepared:
        """Validate ``frame`` and reduce it to cells (sufficient statistics)."""
        self._check_spec()
        what = "HierarchicalEffects"
        cols = [self.outcome, self.treatment, self.group, *self.extra_groups, *self.covariates]
        if self.event is not None:
            cols.append(self.event)
        if self.horizon is not None:
            cols.append(self.horizon)
        require_columns(frame, cols, what)
        arm = binary(frame, self.treatment, what)
        if self.likelihood == "lognormal":
            y = positive(frame, self.outcome, what)
        else:
            y = binary(frame, self.outcome, what).astype(float)
        event = np.ones(len(frame), dtype=np.int64)
        if self.event is not None:
            event = binary(frame, self.event, what + " (event: 1 = resolved, 0 = open)")
        if self.horizon is not None:
            self._check_horizon(frame, y, event)
        g, g_levels = codes(frame, self.group)
        factors = {"g": g}
        extra_levels: dict[str, list[str]] = {}
        for e in self.extra_groups:
            factors[f"e:{e}"], extra_levels[e] = codes(frame, e)
        cov_levels: dict[str, list[str]] = {}
        for c in self.covariates:
            factors[f"c:{c}"], cov_levels[c] = codes(frame, c)
        keys = pd.DataFrame(factors)
        strata_keys, stratum = _unique_rows(keys)
        strata = strata_keys.assign(n=np.bincount(stratum, minlength=len(strata_keys)))

        # empty arms by group
        counts = np.zeros((len(g_levels), 2), dtype=np.int64)
        np.add.at(counts, (g, arm), 1)
        empty = [g_levels[i] for i in np.flatnonzero((counts == 0).any(axis=1))]
        if empty and self.empty_arm == "error":
            detail = ", ".join(
                f"{lv} (control={counts[g_levels.index(lv), 0]}, "
                f"treated={counts[g_levels.index(lv), 1]})" for lv in empty[:5])
            raise DataError(
                f"{what}: {self.group} level(s) with zero contacts in one arm: {detail}. Their "
                "effect is not identified by their own data; drop them, or pass empty_arm='pool' "
                "to let partial pooling give them the population effect")

        obs = event == 1
        if self.likelihood == "lognormal":
            t = np.log(y)
            cells = _lognormal_cells(stratum[obs], arm[obs], t[obs])
            no_pool, pooled = _no_pooling_lognormal(g[obs], arm[obs], t[obs], len(g_levels))
            censored = pd.DataFrame({"stratum": stratum[~obs], "arm": arm[~obs], "log_c": t[~obs],
                                     "count": 1})
            if self.censor_grid is not None and len(censored):
                censored["log_c"] = (censored["log_c"] / self.censor_grid).round() * \
                    self.censor_grid
                censored = (censored.groupby(["stratum", "arm", "log_c"], as_index=False)["count"]
                            .sum())
            rows = (pd.DataFrame({"stratum": stratum[obs], "arm": arm[obs], "y": t[obs]})
                    if not self.aggregate else None)
        else:
            cells = _binomial_cells(stratum, arm, y)
            no_pool, pooled = _no_pooling_bernoulli(g, arm, y, len(g_levels))
            censored = pd.DataFrame({"stratum": [], "arm": [], "log_c": [], "count": []})
            rows = (pd.DataFrame({"stratum": stratum, "arm": arm, "y": y})
                    if not self.aggregate else None)
        if cells.empty:
            raise DataError(f"{what}: no resolved (event=1) rows; nothing to fit")
        no_pool = no_pool.assign(group=g_levels, n_control=counts[:, 0], n_treated=counts[:, 1])
        horizon_rows = None
        if self.event is not None and self.horizon is not None:
            h = pd.to_numeric(frame[self.horizon], errors="coerce").to_numpy(dtype=float)
            horizon_rows = pd.DataFrame({"stratum": stratum, "arm": arm,
                                         "log_h": np.log(np.maximum(h, 1e-9)),
                                         "open": 1 - event})
        followup = survival_rows = None
        if self.event is not None:
            followup = FollowUp.from_data(
                y, event, arm, quantiles=self.quantiles, horizon=self.rmst_horizon,
                resolved_by=self.resolved_by, min_at_risk_share=self.min_at_risk_share)
            survival_rows = pd.DataFrame({"g": g, "stratum": stratum, "arm": arm, "time": y,
                                          "event": event})
        return Prepared(self.likelihood, g_levels, extra_levels, cov_levels, strata, cells,
                        censored, rows, no_pool, pooled, len(frame), empty, horizon_rows,
                        followup, survival_rows,
                        pooled=self.pooling == "partial" and len(g_levels) > 1)

    def _check_horizon(self, frame: pd.DataFrame, y: np.ndarray, event: np.ndarray) -> None:
        h = pd.to_numeric(frame[self.horizon], errors="coerce").to_numpy(dtype=float)
        if np.isnan(h).any():
            raise DataError(f"column {self.horizon!r} (horizon) has missing values")
        late = (event == 1) & (y > h * (1 + 1e-9))
        if late.any():
            raise DataError(
                f"censoring indicator inconsistent with times: {int(late.sum())} row(s) have "
                f"{self.event}=1 (resolved) but {self.outcome} > {self.horizon} (resolved after "
                "extraction). Recompute the event flag from resolved_at and extraction_at")
        early = (event == 0) & ~np.isclose(y, h, rtol=1e-6)
        if early.any():
            raise DataError(
                f"censoring indicator inconsistent with times: {int(early.sum())} open row(s) "
                f"({self.event}=0) have {self.outcome} != {self.horizon}; an open ticket is "
                "censored at the extraction time. Recompute the duration for open tickets")

    # -- model -----------------------------------------------------------------------------
    def build_model(self, prep: Prepared) -> pm.Model:
        """The PyMC model for prepared cells (data in ``pm.Data`` so it can be re-used)."""
        S = prep.strata
        coords: dict[str, Any] = {"group": prep.group_levels, "stratum": np.arange(len(S))}
        coords.update(prep.extra_levels)
        c = prep.cells
        obs_rows = c if self.aggregate else prep.rows
        if prep.likelihood == "lognormal":
            loc0 = float((c["mean"] * c["n"]).sum() / c["n"].sum())
            spread = float(np.sqrt(max((c["ss"].sum() + (c["n"] * (c["mean"] - loc0) ** 2).sum())
                                       / max(c["n"].sum() - 1, 1), 1e-6)))
        else:
            rate = float(np.clip(c["k"].sum() / c["n"].sum(), 1e-4, 1 - 1e-4))
            loc0, spread = float(special.logit(rate)), 1.0
        s_g = S["g"].to_numpy()
        with pm.Model(coords=coords) as model:
            if not prep.pooled:
                # one group, or pooling="none": fixed priors, no group level (a hierarchy over
                # one group has nothing to pool, and its sigma_alpha funnel diverges)
                alpha = pm.Normal("alpha", loc0, self.intercept_sd, dims="group")
                tau_g = pm.Normal("tau", 0.0, self.effect_sd, dims="group")
            else:
                mu_alpha = pm.Normal("mu_alpha", loc0, self.intercept_sd)
                sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
                # baselines are pinned by the data in every realistic cell: centred
                alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, dims="group")
                mu_tau = pm.Normal("mu_tau", 0.0, self.effect_sd)
                sigma_tau = pm.HalfNormal("sigma_tau", self.effect_spread_sd)
                if self.centred:
                    tau_g = pm.Normal("tau", mu_tau, sigma_tau, dims="group")
                else:
                    tau_z = pm.Normal("tau_z", 0.0, 1.0, dims="group")
                    tau_g = pm.Deterministic("tau", mu_tau + sigma_tau * tau_z, dims="group")
            eta = alpha[s_g]
            tau = tau_g[s_g]
            for e in prep.extra_levels:
                idx = S[f"e:{e}"].to_numpy()
                sa = pm.HalfNormal(f"sigma_alpha_{e}", 1.0)
                za = pm.Normal(f"alpha_z_{e}", 0.0, 1.0, dims=e)  # small offsets: non-centred
                st = pm.HalfNormal(f"sigma_tau_{e}", self.effect_spread_sd)
                zt = pm.Normal(f"tau_z_{e}", 0.0, 1.0, dims=e)
                eta = eta + (sa * za)[idx]
                tau = tau + (st * zt)[idx]
            for cv, lv in prep.covariate_levels.items():
                if len(lv) < 2:
                    continue
                beta = pm.Normal(f"beta_{cv}", 0.0, 1.0, shape=len(lv) - 1)
                full = pm.math.concatenate([np.zeros(1), beta])
                eta = eta + full[S[f"c:{cv}"].to_numpy()]
            eta = pm.Deterministic("eta_s", eta, dims="stratum")
            tau = pm.Deterministic("tau_s", tau, dims="stratum")
            st_idx = obs_rows["stratum"].to_numpy().astype(np.int64)
            arm = obs_rows["arm"].to_numpy().astype(float)
            mu = eta[st_idx] + tau[st_idx] * arm
            if prep.likelihood == "lognormal":
                # one residual sd per group, unpooled: the data pin it (pooling it would add a
                # funnel when the groups' spreads are alike)
                log_sigma = pm.Normal("log_sigma", np.log(spread), 1.0, dims="group")
                sigma_g = pm.Deterministic("sigma", pm.math.exp(log_sigma), dims="group")
                sig = sigma_g[s_g[st_idx]]
                if self.aggregate:
                    n = c["n"].to_numpy().astype(float)
                    mean = pm.Data("mean_obs", c["mean"].to_numpy())
                    pm.Normal("cell_mean", mu, sig / np.sqrt(n), observed=mean)
                    multi = n > 1
                    ss = pm.Data("ss_obs", np.maximum(c["ss"].to_numpy()[multi], 1e-12))
                    pm.Gamma("cell_ss", alpha=(n[multi] - 1) / 2,
                             beta=1 / (2 * sig[np.flatnonzero(multi)] ** 2), observed=ss)
                else:
                    pm.Normal("log_y", mu, sig, observed=obs_rows["y"].to_numpy())
                cz = prep.censored
                if len(cz):
                    ci = cz["stratum"].to_numpy().astype(np.int64)
                    mu_c = eta[ci] + tau[ci] * cz["arm"].to_numpy().astype(float)
                    log_c = cz["log_c"].to_numpy()
                    sig_c = sigma_g[s_g[ci]]
                    if self.censor_grid is None:
                        pm.Censored("log_open", pm.Normal.dist(mu_c, sig_c),
                                    lower=None, upper=log_c, observed=log_c)
                    else:  # weighted survival terms: log P(log y > c) = log Phi((mu - c) / s)
                        surv = pm.logcdf(pm.Normal.dist(-mu_c, sig_c), -log_c)
                        pm.Potential("log_open", (cz["count"].to_numpy() * surv).sum())
            elif self.aggregate:
                k = pm.Data("k_obs", c["k"].to_numpy())
                pm.Binomial("cell_k", n=c["n"].to_numpy(), logit_p=mu, observed=k)
            else:
                pm.Bernoulli("y", logit_p=mu, observed=obs_rows["y"].to_numpy())
        return model

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, rng: RNGLike = None) -> HierarchicalResult:
        """Sample the posterior and return a :class:`HierarchicalResult` (gate diagnostics on it).

        The fit never raises on a failed gate: the result carries ``"fail"`` diagnostics, and
        :func:`causal.bayes.enforce` (used by studies) raises unless ``allow_unconverged``.
        """
        prep = self.prepare(frame)
        model = self.build_model(prep)
        gen = resolve_rng(rng)
        idata = sample_model(model, self.sampler, gen)
        return self.result_from(prep, model, idata, rng=gen)

    def result_from(self, prep: Prepared, model: pm.Model, idata: az.InferenceData,
                    rng: RNGLike = None) -> HierarchicalResult:
        """Build the result from an existing posterior (used by :meth:`fit` and calibration).

        ``rng`` drives the posterior predictive simulation behind the ``ppc_coverage``
        diagnostic.
        """
        diags = list(self.gate.check(idata, [v for v in GATED if v in idata.posterior]))
        if prep.empty_arm_groups:
            diags.append(Diagnostic(
                "empty_arm", "warning",
                f"{self.group} {prep.empty_arm_groups} have contacts in one arm only; their "
                "effects come from partial pooling alone", float(len(prep.empty_arm_groups))))
        if prep.followup is not None:
            diags.append(prep.followup.diagnostic())
        if prep.likelihood == "lognormal" and prep.followup is not None:
            effects, overall, scales, extra = _survival_effects(self, prep, idata)
            diags += extra
        else:
            effects, overall = _effects_table(self, prep, idata)
            scales = None
        result = HierarchicalResult(self, prep, idata, effects, overall, tuple(diags), model,
                                    scales)
        diags.append(result._ppc_diagnostic(rng))
        # the overall estimate carries every check of the fit it came from
        return replace(result, diagnostics=tuple(diags),
                       overall=overall.with_diagnostics(*diags))

    def prior_predictive(self, frame: pd.DataFrame, draws: int = 500, rng: RNGLike = None
                         ) -> PriorPredictiveCheck:
        """Draw from the prior and check that it implies plausible outcomes and effects."""
        prep = self.prepare(frame)
        # the open tickets' survival terms are likelihood, not prior: leave them out here
        model = self.build_model(replace(prep, censored=prep.censored.iloc[:0]))
        with model:
            prior = pm.sample_prior_predictive(draws=draws, random_seed=resolve_rng(rng),
                                               var_names=["eta_s", "mu_tau"])
        eta = prior.prior["eta_s"].values.reshape(-1, len(prep.strata))
        typical = np.exp(eta) if prep.likelihood == "lognormal" else special.expit(eta)
        ratio = np.exp(prior.prior["mu_tau"].values.ravel())
        c = prep.cells
        observed = (float(np.exp((c["mean"] * c["n"]).sum() / c["n"].sum()))
                    if prep.likelihood == "lognormal" else float(c["k"].sum() / c["n"].sum()))
        return PriorPredictiveCheck(self, typical.ravel(), ratio, observed)


@dataclass(frozen=True, eq=False, repr=False)
class PriorPredictiveCheck(ResultMixin):
    """What the priors imply before seeing the data, with a diagnostic on plausibility.

    ``typical`` holds prior draws of the typical outcome per stratum (median duration in seconds,
    or the success probability); ``ratio`` the prior draws of the mean effect ratio exp(mu_tau).
    """

    spec: HierarchicalEffects
    typical: np.ndarray
    ratio: np.ndarray
    observed: float

    @property
    def share_implausible_outcome(self) -> float:
        """Share of prior-predictive typical outcomes outside the plausible range."""
        lo, hi = self.spec.plausible_outcome
        return float(np.mean((self.typical < lo) | (self.typical > hi)))

    @property
    def share_implausible_ratio(self) -> float:
        """Share of prior-predictive effect ratios outside the plausible range."""
        lo, hi = self.spec.plausible_ratio
        return float(np.mean((self.ratio < lo) | (self.ratio > hi)))

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Checks on the result, as :class:`~servicelab.Diagnostic` values."""
        out = []
        for name, share, limit, what in (
            ("prior_outcome", self.share_implausible_outcome, 0.05, "typical outcomes"),
            ("prior_effect", self.share_implausible_ratio, 0.05, "effect ratios"),
        ):
            ok = share <= limit
            out.append(Diagnostic(
                name, "ok" if ok else "warning",
                f"{share:.1%} of prior {what} fall outside the plausible range" + (
                    "" if ok else "; the prior is too wide or off-centre: tighten it"), share))
        return tuple(out)

    def _table(self) -> pd.DataFrame:
        rows = []
        for name, draws, (lo, hi) in (("typical outcome", self.typical, self.spec.plausible_outcome),
                                      ("effect ratio", self.ratio, self.spec.plausible_ratio)):
            q = np.quantile(draws[np.isfinite(draws)], [0.05, 0.5, 0.95])
            rows.append({"quantity": name, "q05": q[0], "median": q[1], "q95": q[2],
                         "plausible_low": lo, "plausible_high": hi,
                         "share_implausible": float(np.mean((draws < lo) | (draws > hi)))})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        """Prior quantiles of the typical outcome and of the effect ratio, against plausible ranges."""
        return Summary("Prior predictive check", self._table(),
                       info={"likelihood": self.spec.likelihood, "observed (pooled)": self.observed,
                             "draws": int(self.typical.size)},
                       diagnostics=self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (quantiles, not the draws)."""
        return jsonable({"observed": self.observed, "table": self._table().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Histogram of the prior typical outcome (log10 for durations), observed value marked."""
        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        lognormal = self.spec.likelihood == "lognormal"
        tr = np.log10 if lognormal else (lambda v: v)
        vals = tr(np.clip(self.typical, 1e-300, None))
        ax.hist(vals[np.isfinite(vals)], bins=60, color="0.6", density=True)
        lo, hi = self.spec.plausible_outcome
        ax.axvspan(tr(lo), tr(hi), color="tab:green", alpha=0.12, label="plausible range")
        ax.axvline(tr(self.observed), color="tab:red", label="observed (pooled)")
        ax.set_xlabel("log10 typical duration (s)" if lognormal else "success probability")
        ax.set_ylabel("prior density")
        ax.set_title("Prior predictive check")
        ax.legend(fontsize=8)
        return ax


@dataclass(frozen=True, eq=False, repr=False)
class HierarchicalResult(ResultMixin):
    """Posterior of the hierarchical model: per-group effects, overall effect, diagnostics.

    ``overall`` is the ATE in outcome units for an uncensored model, and the difference in
    restricted mean time up to the horizon ``tau`` (seconds) for a censored one; ``scales``
    (censored models) holds every overall effect on a supported scale, one row each.
    """

    spec: HierarchicalEffects
    prepared: Prepared = field(repr=False)
    idata: az.InferenceData = field(repr=False)
    effects: pd.DataFrame = field(repr=False)
    overall: EffectEstimate = field(repr=False)
    diagnostics: tuple[Diagnostic, ...] = ()
    model: pm.Model | None = field(default=None, repr=False, compare=False)
    scales: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def converged(self) -> bool:
        """Whether the convergence gate passed (the model checks are separate diagnostics)."""
        return all(d.status != "fail" for d in self.diagnostics if d.name in GATE_NAMES)

    @property
    def censored(self) -> bool:
        """Whether the outcome is right-censored at a follow-up horizon."""
        return self.prepared.followup is not None

    def summary(self) -> Summary:
        """Per-group table and overall effect, with the gate and model diagnostics."""
        s = self.spec
        lvl = f"{int(s.ci_level * 100)}%"
        info: dict[str, Any] = {
            "estimand": s.estimand, "population": s.population,
            "likelihood": s.likelihood + (" (right-censored)" if s.event else ""),
            "model scale": "log" if s.likelihood == "lognormal" else "logit",
            "pooling": ("partial" if self.prepared.pooled else
                        "none (one group)" if len(self.prepared.group_levels) == 1 else "none"),
            f"overall: {self.overall.estimand}": self.overall.estimate,
            f"overall {lvl} interval": (round(self.overall.ci_low, 4),
                                        round(self.overall.ci_high, 4)),
            "n": self.prepared.n_rows,
            "open (censored) rows": int(self.prepared.censored["count"].sum()),
            "fit on": "sufficient statistics" if s.aggregate else "raw rows",
        }
        if self.censored:
            fu = self.prepared.followup
            cols = ["group", "n_control", "n_treated", "nopool", "tau_mean", "tau_low",
                    "tau_high", "rmst_diff_mean", "rmst_diff_low", "rmst_diff_high",
                    *[c for c in self.effects if c.startswith("ratio_q") and c.endswith("_mean")],
                    "p_positive"]
            info["RMST horizon tau (s)"] = round(fu.tau, 1)
            info["longest follow-up (s)"] = round(fu.max_time, 1)
            info["mean (refused)"] = self._mean_refusal()
            notes = ((f"tau: effect on log(time), i.e. the within-stratum quantile ratio "
                      f"exp(tau); rmst: restricted mean time up to tau = {fu.tau:.4g} s "
                      "(seconds; treatment minus control); ratio_qXX: ratio of the XX% "
                      "quantiles, shown only where both arms reach them within tau; "
                      "p_positive = P(RMST difference > 0)."),)
        else:
            cols = ["group", "n_control", "n_treated", "nopool", "tau_mean", "tau_low",
                    "tau_high", "ate_mean", "ate_low", "ate_high", "relative_mean", "p_positive"]
            notes = (("tau: effect on the model scale; ate: outcome units; "
                      "p_positive = P(ATE > 0)."),)
        return Summary(f"Hierarchical effects of {s.treatment} on {s.outcome} by {s.group}",
                       self.effects[cols], info=info, diagnostics=self.diagnostics, notes=notes)

    def _mean_refusal(self) -> str:
        """Why the mean is not reported, with how far the fitted mean lies past the follow-up."""
        post = self.idata.posterior
        prep = self.prepared
        eta = post["eta_s"].values.reshape(-1, len(prep.strata))
        sig = post["sigma"].values.reshape(eta.shape[0], -1)[:, prep.strata["g"].to_numpy()]
        w = prep.strata["n"].to_numpy(float)
        mean0 = float(np.median(np.exp(eta + sig**2 / 2) @ (w / w.sum())))
        times = mean0 / prep.followup.max_time
        where = ("past" if times > 1 else "inside")
        return (f"not reported: the fitted lognormal mean (control) lies at {times:.2g}x the "
                f"longest follow-up ({where} it) and, with {prep.followup.open_share:.0%} of "
                "tickets open, depends on the unobserved tail; use the RMST difference")

    def _ppc_diagnostic(self, rng: RNGLike = None) -> Diagnostic:
        """``ppc_coverage``: warn when fewer cells than nominal sit inside their 95% bands."""
        try:
            obs, lo, hi, label = self._ppc(rng)
        except DesignError as exc:
            return Diagnostic("ppc_coverage", "warning",
                              f"posterior predictive check not run: {exc}")
        k = len(obs)
        share = float(np.mean((lo <= obs) & (obs <= hi)))
        allowance = 3 * np.sqrt(0.95 * 0.05 / max(k, 1))
        floor = 0.95 - allowance
        ok = share >= floor
        return Diagnostic(
            "ppc_coverage", "ok" if ok else "warning",
            f"{share:.0%} of {k} cells inside their 95% posterior predictive bands ({label}; "
            f"warning below {floor:.0%} = nominal 95% minus 3 binomial SDs)" + (
                "" if ok else ": the model does not reproduce the data, so its effects can be "
                "far off even on supported scales; check the outcome distribution (a mixture? "
                "a floor?) before using them"), share)

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Shrinkage plot: no pooling, partial pooling and complete pooling (model scale)."""
        ax = ax or plt.subplots(figsize=(7, 0.3 * len(self.effects) + 1.5))[1]
        e = self.effects.sort_values("n_total").reset_index(drop=True)
        y = np.arange(len(e))
        ok = e["nopool"].notna()
        from scipy import stats

        q = float(stats.norm.ppf(0.5 + self.spec.ci_level / 2))  # same level as the posterior intervals
        ax.errorbar(e.loc[ok, "nopool"], y[ok] + 0.15, xerr=q * e.loc[ok, "nopool_se"],
                    fmt="o", color="tab:orange", ms=4, lw=1, label="no pooling (per group)")
        ax.errorbar(e["tau_mean"], y - 0.15,
                    xerr=[e["tau_mean"] - e["tau_low"], e["tau_high"] - e["tau_mean"]],
                    fmt="s", color="tab:blue", ms=4, lw=1, label="partial pooling (posterior)")
        for yi, a, b in zip(y, e["nopool"], e["tau_mean"], strict=True):
            if np.isfinite(a):
                ax.annotate("", xy=(b, yi - 0.15), xytext=(a, yi + 0.15),
                            arrowprops={"arrowstyle": "->", "color": "0.6", "lw": 0.8})
        ax.axvline(self.prepared.complete_pooling[0], color="k", ls="--", lw=1,
                   label="complete pooling")
        ax.set_yticks(y, [f"{g} (n={n})" for g, n in zip(e["group"], e["n_total"], strict=True)],
                      fontsize=7)
        scale = "log ratio" if self.spec.likelihood == "lognormal" else "log odds ratio"
        ax.set_xlabel(f"effect of {self.spec.treatment} ({scale})")
        ax.set_title(f"Shrinkage by {self.spec.group}")
        ax.legend(fontsize=7, loc="best")
        return ax

    def _ppc(self, rng: RNGLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Observed cell statistic and its 2.5/97.5% posterior predictive quantiles."""
        gen = resolve_rng(rng)
        c = self.prepared.cells
        post = self.idata.posterior
        eta = post["eta_s"].values.reshape(-1, len(self.prepared.strata))
        tau = post["tau_s"].values.reshape(eta.shape[0], -1)
        s, a = c["stratum"].to_numpy(), c["arm"].to_numpy()
        mu = eta[:, s] + tau[:, s] * a
        n = c["n"].to_numpy()
        if self.spec.event is not None:
            return self._ppc_open_share(eta, tau, gen)
        if self.prepared.likelihood == "lognormal":
            sig = post["sigma"].values.reshape(eta.shape[0], -1)
            sig = sig[:, self.prepared.strata["g"].to_numpy()[s]]
            sim = gen.normal(mu, sig / np.sqrt(n))
            obs, label = c["mean"].to_numpy(), "cell mean of log outcome (resolved rows)"
        else:
            sim = gen.binomial(n, special.expit(mu)) / n
            obs, label = (c["k"] / c["n"]).to_numpy(), "cell success rate"
        lo, hi = np.quantile(sim, [0.025, 0.975], axis=0)
        return obs, lo, hi, label

    def _ppc_open_share(self, eta: np.ndarray, tau: np.ndarray, gen: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        """Censored model: share of open tickets per cell, replaying each row's horizon."""
        hr = self.prepared.horizon_rows
        if hr is None:
            raise DesignError("the posterior predictive check of a censored model needs the "
                              "horizon column (time from creation to extraction); set horizon=")
        take = gen.choice(eta.shape[0], size=min(100, eta.shape[0]), replace=False)
        if len(hr) > 50_000:
            hr = hr.iloc[gen.choice(len(hr), 50_000, replace=False)]
        s, a = hr["stratum"].to_numpy(), hr["arm"].to_numpy()
        sig = self.idata.posterior["sigma"].values.reshape(eta.shape[0], -1)[take]
        sig = sig[:, self.prepared.strata["g"].to_numpy()[s]]
        mu = eta[take][:, s] + tau[take][:, s] * a
        y = mu + sig * gen.standard_normal(mu.shape)
        is_open = y > hr["log_h"].to_numpy()
        key = s * 2 + a
        size = int(key.max()) + 1
        n = np.bincount(key, minlength=size)
        cells = np.flatnonzero(n > 0)
        sim = np.stack([np.bincount(key, weights=o, minlength=size)[cells] for o in is_open])
        sim = sim / n[cells]
        obs = np.bincount(key, weights=hr["open"].to_numpy(), minlength=size)[cells] / n[cells]
        lo, hi = np.quantile(sim, [0.025, 0.975], axis=0)
        return obs, lo, hi, "share of tickets open at extraction"

    def ppc_coverage(self, rng: RNGLike = None) -> float:
        """Share of observed cell statistics inside their 95% posterior predictive interval."""
        obs, lo, hi, _ = self._ppc(rng)
        return float(np.mean((lo <= obs) & (obs <= hi)))

    def plot_ppc(self, ax: plt.Axes | None = None, rng: RNGLike = None) -> plt.Axes:
        """Posterior predictive check: each observed cell statistic against its 95% interval.

        Cells are stratum x arm. The statistic is the mean log outcome (lognormal), the success
        rate (Bernoulli) or, for a censored model, the share of tickets still open at extraction
        (each row's horizon replayed against simulated durations).
        """
        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        obs, lo, hi, label = self._ppc(rng)
        order = np.argsort((lo + hi) / 2)
        x = np.arange(len(obs))
        inside = ((lo <= obs) & (obs <= hi))[order]
        ax.vlines(x, lo[order], hi[order], color="0.6", lw=2, label="95% posterior predictive")
        ax.scatter(x[inside], obs[order][inside], s=10, color="tab:blue", label="observed")
        ax.scatter(x[~inside], obs[order][~inside], s=14, color="tab:red", label="outside")
        ax.set_xlabel("cell (stratum x arm), sorted")
        ax.set_ylabel(label)
        ax.set_title(f"Posterior predictive check: {inside.mean():.0%} of cells inside")
        ax.legend(fontsize=7)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: spec fields, overall effect, the per-group table and diagnostics."""
        fu = self.prepared.followup
        return jsonable({
            "outcome": self.spec.outcome, "treatment": self.spec.treatment,
            "group": self.spec.group, "likelihood": self.spec.likelihood,
            "censored": self.spec.event is not None,
            "pooled": self.prepared.pooled,
            "overall": self.overall.to_dict(),
            "scales": None if self.scales is None else self.scales.to_dict(orient="records"),
            "follow_up": None if fu is None else {
                "max_time_s": fu.max_time, "rmst_horizon_s": fu.tau, "rule": fu.tau_rule,
                "at_risk": list(fu.at_risk), "quantiles": list(fu.quantiles),
                "unsupported_quantiles": list(fu.unsupported_quantiles),
                "resolved_by_s": list(fu.resolved_by)},
            "complete_pooling": {"estimate": self.prepared.complete_pooling[0],
                                 "se": self.prepared.complete_pooling[1]},
            "effects": self.effects.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def to_netcdf(self, path: str | Path) -> Path:
        """Save the InferenceData as NetCDF."""
        return save_netcdf(self.idata, path)


# -- helpers ---------------------------------------------------------------------------------
def _unique_rows(keys: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    arr = keys.to_numpy(dtype=np.int64)
    uniq, inverse = np.unique(arr, axis=0, return_inverse=True)
    return pd.DataFrame(uniq, columns=keys.columns), inverse.ravel().astype(np.int64)


def _lognormal_cells(stratum: np.ndarray, arm: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    key = stratum * 2 + arm
    n = np.bincount(key)
    s1 = np.bincount(key, weights=t, minlength=len(n))
    keep = np.flatnonzero(n > 0)
    mean = s1[keep] / n[keep]
    # within-cell sum of squares, computed around the cell mean (numerically stable)
    ss = np.bincount(key, weights=(t - (s1 / np.maximum(n, 1))[key]) ** 2, minlength=len(n))
    return pd.DataFrame({"stratum": keep // 2, "arm": keep % 2, "n": n[keep], "mean": mean,
                         "ss": ss[keep]})


def _binomial_cells(stratum: np.ndarray, arm: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    key = stratum * 2 + arm
    n = np.bincount(key)
    k = np.bincount(key, weights=y, minlength=len(n))
    keep = np.flatnonzero(n > 0)
    return pd.DataFrame({"stratum": keep // 2, "arm": keep % 2, "n": n[keep],
                         "k": k[keep].round().astype(np.int64)})


def _no_pooling_lognormal(g: np.ndarray, arm: np.ndarray, t: np.ndarray, n_groups: int
                          ) -> tuple[pd.DataFrame, tuple[float, float]]:
    key = g * 2 + arm
    size = 2 * n_groups
    n = np.bincount(key, minlength=size).astype(float)
    s1 = np.bincount(key, weights=t, minlength=size)
    s2 = np.bincount(key, weights=t * t, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / n
        v = (s2 - n * m**2) / (n - 1)
        m, v, n = m.reshape(-1, 2), v.reshape(-1, 2), n.reshape(-1, 2)
        est = m[:, 1] - m[:, 0]
        se = np.sqrt(v[:, 1] / n[:, 1] + v[:, 0] / n[:, 0])
    t0, t1 = t[arm == 0], t[arm == 1]
    pooled = (float(t1.mean() - t0.mean()) if len(t0) and len(t1) else float("nan"),
              float(np.sqrt(t1.var(ddof=1) / len(t1) + t0.var(ddof=1) / len(t0)))
              if len(t0) > 1 and len(t1) > 1 else float("nan"))
    return pd.DataFrame({"nopool": est, "nopool_se": se}), pooled


def _no_pooling_bernoulli(g: np.ndarray, arm: np.ndarray, y: np.ndarray, n_groups: int
                          ) -> tuple[pd.DataFrame, tuple[float, float]]:
    key = g * 2 + arm
    size = 2 * n_groups
    n = np.bincount(key, minlength=size).reshape(-1, 2).astype(float)
    k = np.bincount(key, weights=y, minlength=size).reshape(-1, 2)
    lo = np.log((k + 0.5) / (n - k + 0.5))
    est = lo[:, 1] - lo[:, 0]
    se = np.sqrt((1 / (k + 0.5) + 1 / (n - k + 0.5)).sum(axis=1))
    est[(n == 0).any(axis=1)] = np.nan
    K, N = k.sum(axis=0), n.sum(axis=0)
    plo = np.log((K + 0.5) / (N - K + 0.5))
    pooled = (float(plo[1] - plo[0]), float(np.sqrt((1 / (K + 0.5) + 1 / (N - K + 0.5)).sum())))
    return pd.DataFrame({"nopool": est, "nopool_se": se}), pooled


def _outcome_means(prep: Prepared, idata: az.InferenceData
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws x strata of E[Y | control] and E[Y | treated] in outcome units."""
    post = idata.posterior
    eta = post["eta_s"].values.reshape(-1, len(prep.strata))
    tau = post["tau_s"].values.reshape(-1, len(prep.strata))
    if prep.likelihood == "lognormal":
        sig = post["sigma"].values.reshape(eta.shape[0], -1)[:, prep.strata["g"].to_numpy()]
        half = 0.5 * sig**2
        return np.exp(eta + half), np.exp(eta + tau + half)
    return special.expit(eta), special.expit(eta + tau)


def _effects_table(spec: HierarchicalEffects, prep: Prepared, idata: az.InferenceData
                   ) -> tuple[pd.DataFrame, EffectEstimate]:
    a = (1 - spec.ci_level) / 2
    m0, m1 = _outcome_means(prep, idata)
    w = prep.strata["n"].to_numpy().astype(float)
    sg = prep.strata["g"].to_numpy()
    tau = idata.posterior["tau"].values.reshape(m0.shape[0], -1)
    rows = []
    for gi, level in enumerate(prep.group_levels):
        mask = sg == gi
        ww = w[mask] / w[mask].sum()
        e0, e1 = m0[:, mask] @ ww, m1[:, mask] @ ww
        ate = e1 - e0
        np_row = prep.no_pooling.iloc[gi]
        rows.append({
            "group": level, "n_control": int(np_row["n_control"]),
            "n_treated": int(np_row["n_treated"]),
            "n_total": int(np_row["n_control"] + np_row["n_treated"]),
            "nopool": float(np_row["nopool"]), "nopool_se": float(np_row["nopool_se"]),
            "tau_mean": float(tau[:, gi].mean()),
            "tau_low": float(np.quantile(tau[:, gi], a)),
            "tau_high": float(np.quantile(tau[:, gi], 1 - a)),
            "ate_mean": float(ate.mean()), "ate_low": float(np.quantile(ate, a)),
            "ate_high": float(np.quantile(ate, 1 - a)),
            "relative_mean": float((e1 / e0 - 1).mean()),
            "p_positive": float((ate > 0).mean()),
        })
    ww = w / w.sum()
    ate = m1 @ ww - m0 @ ww
    overall = EffectEstimate(
        "ATE", spec.population, "hierarchical Bayes (posterior mean, equal-tailed interval)",
        float(ate.mean()), float(ate.std(ddof=1)), float(np.quantile(ate, a)),
        float(np.quantile(ate, 1 - a)), spec.ci_level, None, prep.n_rows)
    return pd.DataFrame(rows), overall


def _survival_effects(spec: HierarchicalEffects, prep: Prepared, idata: az.InferenceData
                      ) -> tuple[pd.DataFrame, EffectEstimate, pd.DataFrame, list[Diagnostic]]:
    """Per-group and overall effects of a censored model on the supported scales.

    Posterior draws (thinned to at most ``MAX_SURVIVAL_DRAWS``) of each stratum's lognormal give
    the arms' restricted means, quantiles and resolved shares, mixed over the strata of a group
    (or of all groups) with weights = contacts per stratum. Also returns the ``km_agreement``
    diagnostic: the model's survival per arm against the Kaplan–Meier estimate at five times
    inside the horizon.
    """
    a = (1 - spec.ci_level) / 2
    fu = prep.followup
    post = idata.posterior
    n_s = len(prep.strata)
    eta = post["eta_s"].values.reshape(-1, n_s)
    tau_s = post["tau_s"].values.reshape(-1, n_s)
    sg = prep.strata["g"].to_numpy()
    sig = post["sigma"].values.reshape(eta.shape[0], -1)[:, sg]
    keep = np.unique(np.linspace(0, eta.shape[0] - 1, min(eta.shape[0], MAX_SURVIVAL_DRAWS))
                     .round().astype(int))
    eta, tau_s, sig = eta[keep], tau_s[keep], sig[keep]
    tau_g = post["tau"].values.reshape(-1, len(prep.group_levels))
    mus = (eta, eta + tau_s)
    w_all = prep.strata["n"].to_numpy(float)
    rows_s = prep.survival_rows
    log_t = [np.log(t) for t in fu.resolved_by]

    def arm_draws(mask: np.ndarray) -> dict[str, list[np.ndarray]]:
        w = w_all[mask] / w_all[mask].sum()
        out: dict[str, list[np.ndarray]] = {"rmst": [], "F": [], **{f"q{q}": [] for q in
                                                                   spec.quantiles}}
        for mu in mus:
            m, sd = mu[:, mask], sig[:, mask]
            out["rmst"].append(lognormal_rmst(m, sd, fu.tau) @ w)
            out["F"].append(np.stack([mixture_cdf(lt, m, sd, w) for lt in log_t]))
            for q in spec.quantiles:
                out[f"q{q}"].append(mixture_quantile(q, m, sd, w))
        return out

    def supported(groups_mask: np.ndarray) -> tuple[float, ...]:
        r = rows_s[groups_mask]
        km = [kaplan_meier(r.loc[r["arm"] == k, "time"].to_numpy(),
                           r.loc[r["arm"] == k, "event"].to_numpy(), [fu.tau])[0][0]
              if (r["arm"] == k).any() else 1.0 for k in (0, 1)]
        return tuple(q for q in spec.quantiles if max(km) <= 1 - q)

    def summarise(d: dict[str, list[np.ndarray]], ok_q: tuple[float, ...]) -> dict[str, float]:
        diff = d["rmst"][1] - d["rmst"][0]
        row = {"rmst_control": float(d["rmst"][0].mean()),
               "rmst_treated": float(d["rmst"][1].mean()),
               "rmst_diff_mean": float(diff.mean()), "rmst_diff_low": float(np.quantile(diff, a)),
               "rmst_diff_high": float(np.quantile(diff, 1 - a)),
               "p_positive": float((diff > 0).mean())}
        for q in spec.quantiles:
            key = f"ratio_q{round(100 * q):02d}"
            r = d[f"q{q}"][1] / d[f"q{q}"][0]
            good = q in ok_q
            row[f"{key}_mean"] = float(r.mean()) if good else float("nan")
            row[f"{key}_low"] = float(np.quantile(r, a)) if good else float("nan")
            row[f"{key}_high"] = float(np.quantile(r, 1 - a)) if good else float("nan")
        for j, t in enumerate(fu.resolved_by):
            key = f"p_resolved_{t:.0f}s"
            dd = d["F"][1][j] - d["F"][0][j]
            row[f"{key}_control"] = float(d["F"][0][j].mean())
            row[f"{key}_diff_mean"] = float(dd.mean())
            row[f"{key}_diff_low"] = float(np.quantile(dd, a))
            row[f"{key}_diff_high"] = float(np.quantile(dd, 1 - a))
        return row

    rows = []
    missing_q: dict[str, list[float]] = {}
    for gi, level in enumerate(prep.group_levels):
        np_row = prep.no_pooling.iloc[gi]
        ok_q = supported((rows_s["g"] == gi).to_numpy())
        if set(spec.quantiles) - set(ok_q):
            missing_q[level] = sorted(set(spec.quantiles) - set(ok_q))
        rows.append({
            "group": level, "n_control": int(np_row["n_control"]),
            "n_treated": int(np_row["n_treated"]),
            "n_total": int(np_row["n_control"] + np_row["n_treated"]),
            "nopool": float(np_row["nopool"]), "nopool_se": float(np_row["nopool_se"]),
            "tau_mean": float(tau_g[:, gi].mean()),
            "tau_low": float(np.quantile(tau_g[:, gi], a)),
            "tau_high": float(np.quantile(tau_g[:, gi], 1 - a)),
            **summarise(arm_draws(sg == gi), ok_q)})
    effects = pd.DataFrame(rows)

    d_all = arm_draws(np.ones(n_s, dtype=bool))
    diff = d_all["rmst"][1] - d_all["rmst"][0]
    est = f"RMST difference up to tau = {fu.tau:.4g} s (seconds)"
    overall = EffectEstimate(
        est, spec.population,
        "censored lognormal model, restricted mean (posterior mean, equal-tailed interval)",
        float(diff.mean()), float(diff.std(ddof=1)), float(np.quantile(diff, a)),
        float(np.quantile(diff, 1 - a)), spec.ci_level, None, prep.n_rows)
    scale_rows = [{"quantity": est, "control": float(d_all["rmst"][0].mean()),
                   "treatment": float(d_all["rmst"][1].mean()), "effect": overall.estimate,
                   "ci_low": overall.ci_low, "ci_high": overall.ci_high,
                   "p_positive": float((diff > 0).mean())}]
    for q in fu.quantiles:
        r = d_all[f"q{q}"][1] / d_all[f"q{q}"][0]
        scale_rows.append({"quantity": f"ratio of {q:.0%} quantiles (treatment / control)",
                           "control": float(d_all[f"q{q}"][0].mean()),
                           "treatment": float(d_all[f"q{q}"][1].mean()),
                           "effect": float(r.mean()), "ci_low": float(np.quantile(r, a)),
                           "ci_high": float(np.quantile(r, 1 - a)),
                           "p_positive": float((r > 1).mean())})
    for j, t in enumerate(fu.resolved_by):
        dd = d_all["F"][1][j] - d_all["F"][0][j]
        scale_rows.append({"quantity": f"P(resolved by {t:.4g} s) difference",
                           "control": float(d_all["F"][0][j].mean()),
                           "treatment": float(d_all["F"][1][j].mean()),
                           "effect": float(dd.mean()), "ci_low": float(np.quantile(dd, a)),
                           "ci_high": float(np.quantile(dd, 1 - a)),
                           "p_positive": float((dd > 0).mean())})
    diags = [_km_agreement(prep, mus, sig, w_all)]
    if missing_q:
        diags.append(Diagnostic(
            "quantiles_by_group", "warning",
            f"quantile ratios not reported where a group's Kaplan-Meier curves do not reach them "
            f"within tau = {fu.tau:.4g} s: {dict(list(missing_q.items())[:5])}",
            float(len(missing_q))))
    return effects, overall, pd.DataFrame(scale_rows), diags


def _km_agreement(prep: Prepared, mus: tuple[np.ndarray, np.ndarray], sig: np.ndarray,
                  w: np.ndarray) -> Diagnostic:
    """Model survival per arm against Kaplan–Meier at five times inside the horizon (no truth)."""
    fu = prep.followup
    r = prep.survival_rows
    ev = r.loc[(r["event"] == 1) & (r["time"] <= fu.tau), "time"].to_numpy()
    if len(ev) < 5:
        return Diagnostic("km_agreement", "warning",
                          "fewer than 5 resolutions before tau: the model's survival curve "
                          "cannot be checked against Kaplan-Meier")
    checks = np.quantile(ev, [0.1, 0.3, 0.5, 0.7, 0.9])
    worst, where = 0.0, ""
    for arm in (0, 1):
        m = r["arm"].to_numpy() == arm
        km, se = kaplan_meier(r["time"].to_numpy()[m], r["event"].to_numpy()[m], checks)
        # the model's marginal survival for the rows of this arm (their strata mix)
        w_arm = np.bincount(r["stratum"].to_numpy()[m], minlength=len(w)).astype(float)
        w_arm /= w_arm.sum()
        model_s = 1 - np.stack([mixture_cdf(np.log(t), mus[arm], sig, w_arm) for t in checks])
        z = (km - model_s.mean(axis=1)) / np.sqrt(se**2 + model_s.var(axis=1) + 1e-12)
        j = int(np.argmax(np.abs(z)))
        if abs(z[j]) > abs(worst):
            worst = float(z[j])
            where = (f"{'treatment' if arm else 'control'} at t = {checks[j]:.4g} s: "
                     f"Kaplan-Meier {km[j]:.3f}, model {model_s[j].mean():.3f}")
    ok = abs(worst) <= 4.0
    return Diagnostic(
        "km_agreement", "ok" if ok else "warning",
        f"model survival against Kaplan-Meier at 5 times inside tau, worst |z| = {abs(worst):.1f} "
        f"({where}; warning above 4)" + (
            "" if ok else ": the lognormal does not fit the observed resolution curve, so the "
            "RMST, quantile and P(resolved) effects are model-dependent; compare with a "
            "nonparametric analysis"), abs(worst))
