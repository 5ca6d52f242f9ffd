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
from causal.results import EffectEstimate
from servicelab import DataError, DesignError, Diagnostic, RNGLike, Summary, jsonable, resolve_rng

Likelihood = Literal["lognormal", "bernoulli"]
GATED = ("mu_alpha", "sigma_alpha", "alpha", "mu_tau", "sigma_tau", "tau", "sigma")


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
        return Prepared(self.likelihood, g_levels, extra_levels, cov_levels, strata, cells,
                        censored, rows, no_pool, pooled, len(frame), empty, horizon_rows)

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
        for e, lv in prep.extra_levels.items():
            coords[e] = lv
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
            mu_alpha = pm.Normal("mu_alpha", loc0, self.intercept_sd)
            sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
            # baselines are pinned by the data in every realistic cell: centred parameterisation
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
        idata = sample_model(model, self.sampler, rng)
        return self.result_from(prep, model, idata)

    def result_from(self, prep: Prepared, model: pm.Model, idata: az.InferenceData
                    ) -> HierarchicalResult:
        """Build the result from an existing posterior (used by :meth:`fit` and calibration)."""
        diags = list(self.gate.check(idata, [v for v in GATED if v in idata.posterior]))
        if prep.empty_arm_groups:
            diags.append(Diagnostic(
                "empty_arm", "warning",
                f"{self.group} {prep.empty_arm_groups} have contacts in one arm only; their "
                "effects come from partial pooling alone", float(len(prep.empty_arm_groups))))
        effects, overall = _effects_table(self, prep, idata)
        return HierarchicalResult(self, prep, idata, effects, overall, tuple(diags), model)

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


@dataclass(frozen=True)
class PriorPredictiveCheck:
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
        lo, hi = self.spec.plausible_outcome
        return float(np.mean((self.typical < lo) | (self.typical > hi)))

    @property
    def share_implausible_ratio(self) -> float:
        lo, hi = self.spec.plausible_ratio
        return float(np.mean((self.ratio < lo) | (self.ratio > hi)))

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
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


@dataclass(frozen=True)
class HierarchicalResult:
    """Posterior of the hierarchical model: per-group effects, overall ATE, gate diagnostics."""

    spec: HierarchicalEffects
    prepared: Prepared = field(repr=False)
    idata: az.InferenceData = field(repr=False)
    effects: pd.DataFrame = field(repr=False)
    overall: EffectEstimate = field(repr=False)
    diagnostics: tuple[Diagnostic, ...] = ()
    model: pm.Model | None = field(default=None, repr=False, compare=False)

    @property
    def converged(self) -> bool:
        return all(d.status != "fail" for d in self.diagnostics if d.name != "empty_arm")

    def summary(self) -> Summary:
        """Per-group table and overall effect, with the gate diagnostics."""
        s = self.spec
        cols = ["group", "n_control", "n_treated", "nopool", "tau_mean", "tau_low", "tau_high",
                "ate_mean", "ate_low", "ate_high", "relative_mean", "p_positive"]
        info = {
            "estimand": s.estimand, "population": s.population,
            "likelihood": s.likelihood + (" (right-censored)" if s.event else ""),
            "model scale": "log" if s.likelihood == "lognormal" else "logit",
            "overall ATE": self.overall.estimate,
            f"overall {int(s.ci_level * 100)}% interval": (round(self.overall.ci_low, 4),
                                                           round(self.overall.ci_high, 4)),
            "n": self.prepared.n_rows,
            "open (censored) rows": int(self.prepared.censored["count"].sum()),
            "fit on": "sufficient statistics" if s.aggregate else "raw rows",
        }
        return Summary(f"Hierarchical effects of {s.treatment} on {s.outcome} by {s.group}",
                       self.effects[cols], info=info, diagnostics=self.diagnostics,
                       notes=(("tau: effect on the model scale; ate: outcome units; "
                               "p_positive = P(ATE > 0)."),))

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Shrinkage plot: no pooling, partial pooling and complete pooling (model scale)."""
        ax = ax or plt.subplots(figsize=(7, 0.3 * len(self.effects) + 1.5))[1]
        e = self.effects.sort_values("n_total").reset_index(drop=True)
        y = np.arange(len(e))
        ok = e["nopool"].notna()
        ax.errorbar(e.loc[ok, "nopool"], y[ok] + 0.15, xerr=1.96 * e.loc[ok, "nopool_se"],
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
        return jsonable({
            "outcome": self.spec.outcome, "treatment": self.spec.treatment,
            "group": self.spec.group, "likelihood": self.spec.likelihood,
            "censored": self.spec.event is not None,
            "overall": self.overall.to_dict(),
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


def _outcome_means(spec: HierarchicalEffects, prep: Prepared, idata: az.InferenceData
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
    m0, m1 = _outcome_means(spec, prep, idata)
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
