"""Bayesian A/B analysis for the service metric types.

=============  ===========================  ======================================================
metric         likelihood                   posterior
=============  ===========================  ======================================================
lognormal      log y ~ Normal(mu, sigma)    exact (normal-inverse-chi-square, reference prior),
               (handle time)                from per-arm n, sum log y, sum log^2 y
bernoulli      Bernoulli(p) (FCR, reopen)   exact Beta(1 + k, 1 + n - k), from successes/trials
ordinal        ordered logistic (CSAT 1-5)  PyMC NUTS on per-arm category counts (Multinomial)
=============  ===========================  ======================================================

The conjugate posteriors are drawn by plain Monte Carlo (no MCMC, so no convergence gate is
needed); the ordinal model runs NUTS on counts and carries the gate's diagnostics. All three use
sufficient statistics, so a million contacts cost no more than a hundred.

Each result reports the posterior of the absolute lift (treatment minus control, outcome units)
and of the relative lift, ``P(lift > 0)``, the expected loss of shipping and of not shipping,
and a ROPE decision (Kruschke's HDI + region of practical equivalence rule, on the relative lift).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pymc as pm

from causal.bayes._data import binary, positive, require_columns
from causal.bayes.sampling import ConvergenceGate, Sampler, sample_model, save_netcdf
from causal.results import EffectEstimate
from servicelab import DataError, DesignError, Diagnostic, RNGLike, Summary, jsonable, resolve_rng
from servicelab.results import ResultMixin

Metric = Literal["lognormal", "bernoulli", "ordinal"]


@dataclass(frozen=True)
class BayesianAB:
    """Bayesian two-arm comparison of one service metric (spec: parameters only).

    Parameters
    ----------
    outcome, treatment : str
        Outcome column and 0/1 (bool, control/treatment) arm column.
    metric : {"lognormal", "bernoulli", "ordinal"}
        Handle time, a binary rate, or an ordinal score (CSAT).
    higher_is_better : bool
        Direction used for the expected loss and the decision (False for handle time, reopen).
    rope : tuple of float
        Region of practical equivalence on the relative lift, e.g. ``(-0.01, 0.01)``.
    levels : int
        Ordinal only: categories are 1..levels.
    draws : int
        Monte Carlo draws for the conjugate posteriors.
    sampler, gate : Sampler, ConvergenceGate
        Ordinal only.
    ci_level : float
        Level of the intervals and of the HDI used by the ROPE rule.

    Examples
    --------
    >>> ab = BayesianAB("fcr", "treated", metric="bernoulli")
    >>> res = ab.fit(frame, rng=1)  # doctest: +SKIP
    >>> res.p_positive, res.decision  # doctest: +SKIP
    """

    outcome: str
    treatment: str
    metric: Metric = "bernoulli"
    higher_is_better: bool = True
    rope: tuple[float, float] = (-0.01, 0.01)
    levels: int = 5
    draws: int = 20_000
    sampler: Sampler = field(default_factory=lambda: Sampler(draws=1000, tune=1000, chains=2))
    gate: ConvergenceGate = field(default_factory=ConvergenceGate)
    ci_level: float = 0.95
    population: str = "units in the experiment"

    def _check(self) -> None:
        if self.metric not in ("lognormal", "bernoulli", "ordinal"):
            raise DesignError(f"metric must be lognormal, bernoulli or ordinal; got {self.metric!r}")
        if not self.rope[0] <= self.rope[1]:
            raise DesignError(f"rope must be (low, high) with low <= high; got {self.rope}")

    def stats(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-arm sufficient statistics (rows: control, treatment)."""
        self._check()
        what = f"BayesianAB({self.metric})"
        require_columns(frame, [self.outcome, self.treatment], what)
        arm = binary(frame, self.treatment, what)
        if self.metric == "lognormal":
            t = np.log(positive(frame, self.outcome, what))
            out = pd.DataFrame({"n": np.bincount(arm, minlength=2),
                                "sum_log": np.bincount(arm, weights=t, minlength=2),
                                "sum_log2": np.bincount(arm, weights=t * t, minlength=2)})
        elif self.metric == "bernoulli":
            y = binary(frame, self.outcome, what)
            out = pd.DataFrame({"n": np.bincount(arm, minlength=2),
                                "successes": np.bincount(arm, weights=y, minlength=2)})
        else:
            y = pd.to_numeric(frame[self.outcome], errors="coerce").to_numpy(dtype=float)
            ok = np.isin(y, np.arange(1, self.levels + 1))
            if not ok.all():
                raise DataError(f"{what}: column {self.outcome!r} must hold integers 1..{self.levels} "
                                f"(drop non-responses first); found {np.unique(y[~ok])[:5].tolist()}")
            counts = np.zeros((2, self.levels), dtype=np.int64)
            np.add.at(counts, (arm, y.astype(np.int64) - 1), 1)
            out = pd.DataFrame(counts, columns=[f"n_{k}" for k in range(1, self.levels + 1)])
        return out.set_axis(["control", "treatment"])

    def fit(self, frame: pd.DataFrame, rng: RNGLike = None) -> ABResult:
        """Posterior of the lift from a frame of units."""
        return self.fit_stats(self.stats(frame), rng=rng)

    def fit_stats(self, stats: pd.DataFrame, rng: RNGLike = None) -> ABResult:
        """Posterior of the lift from per-arm sufficient statistics (see :meth:`stats`)."""
        self._check()
        gen = resolve_rng(rng)
        stats = stats.set_axis(["control", "treatment"])
        n = stats.filter(regex="^n").sum(axis=1) if self.metric == "ordinal" else stats["n"]
        if (n < 2).any():
            raise DataError(f"BayesianAB: each arm needs at least 2 units; got {n.to_dict()}")
        idata = None
        diags: list[Diagnostic] = []
        if self.metric == "lognormal":
            m0, m1 = (_lognormal_mean_draws(*stats.loc[a, ["n", "sum_log", "sum_log2"]],
                                            self.draws, gen) for a in ("control", "treatment"))
        elif self.metric == "bernoulli":
            k, n = stats["successes"].to_numpy(), stats["n"].to_numpy()
            if ((k < 0) | (k > n)).any():
                raise DataError(f"BayesianAB: successes must be within 0..n; got {k} of {n}")
            m0, m1 = (gen.beta(1 + k[i], 1 + n[i] - k[i], self.draws) for i in (0, 1))
        else:
            m0, m1, idata = self._ordinal(stats.to_numpy(dtype=np.int64), gen)
            diags += self.gate.check(idata, ["cutpoints", "beta"])
        return ABResult(self, stats, m0, m1, tuple(diags), idata)

    def _ordinal(self, counts: np.ndarray, gen: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray, az.InferenceData]:
        K = self.levels
        pooled = counts.sum(axis=0) + 0.5
        cum = np.cumsum(pooled)[:-1] / pooled.sum()
        init = np.log(cum / (1 - cum))
        with pm.Model() as model:
            cut = pm.Normal("cutpoints", init, 2.0, shape=K - 1,
                            transform=pm.distributions.transforms.ordered)
            beta = pm.Normal("beta", 0.0, 1.0)
            p0 = pm.Deterministic("p_control", _ordered_probs(0.0, cut))
            p1 = pm.Deterministic("p_treatment", _ordered_probs(beta, cut))
            pm.Multinomial("counts_control", n=int(counts[0].sum()), p=p0, observed=counts[0])
            pm.Multinomial("counts_treatment", n=int(counts[1].sum()), p=p1, observed=counts[1])
        idata = sample_model(model, self.sampler, gen)
        scores = np.arange(1, K + 1)
        p0 = idata.posterior["p_control"].values.reshape(-1, K)
        p1 = idata.posterior["p_treatment"].values.reshape(-1, K)
        return p0 @ scores, p1 @ scores, idata


def _ordered_probs(eta: Any, cut: Any) -> Any:
    cdf = pm.math.sigmoid(cut - eta)
    return pm.math.concatenate([cdf[:1], cdf[1:] - cdf[:-1], 1 - cdf[-1:]])


def _lognormal_mean_draws(n: float, s1: float, s2: float, draws: int, gen: np.random.Generator
                          ) -> np.ndarray:
    """Draws of E[Y] = exp(mu + sigma^2 / 2) under the reference prior p(mu, sigma^2) ~ 1/sigma^2."""
    n = float(n)
    m = s1 / n
    ss = max(s2 - n * m * m, 0.0)
    sigma2 = ss / gen.chisquare(n - 1, draws)
    mu = gen.normal(m, np.sqrt(sigma2 / n))
    return np.exp(mu + sigma2 / 2)


@dataclass(frozen=True, eq=False, repr=False)
class ABResult(ResultMixin):
    """Posterior draws of the arm means and everything derived from them."""

    spec: BayesianAB
    stats: pd.DataFrame = field(repr=False)
    mean_control: np.ndarray = field(repr=False)
    mean_treatment: np.ndarray = field(repr=False)
    diagnostics: tuple[Diagnostic, ...] = ()
    idata: az.InferenceData | None = field(default=None, repr=False)

    @property
    def lift(self) -> np.ndarray:
        """Absolute lift draws (treatment minus control, outcome units)."""
        return self.mean_treatment - self.mean_control

    @property
    def relative_lift(self) -> np.ndarray:
        """Posterior draws of the relative lift (treatment / control - 1)."""
        return self.mean_treatment / self.mean_control - 1

    @property
    def p_positive(self) -> float:
        """P(lift > 0)."""
        return float(np.mean(self.lift > 0))

    @property
    def p_better(self) -> float:
        """P(treatment is better), in the metric's direction."""
        return self.p_positive if self.spec.higher_is_better else float(np.mean(self.lift < 0))

    @property
    def expected_loss(self) -> dict[str, float]:
        """Expected loss (outcome units) of shipping treatment and of keeping control."""
        gain = self.lift if self.spec.higher_is_better else -self.lift
        return {"ship_treatment": float(np.mean(np.maximum(-gain, 0))),
                "keep_control": float(np.mean(np.maximum(gain, 0)))}

    @property
    def hdi(self) -> tuple[float, float]:
        """HDI of the relative lift at ``ci_level``."""
        lo, hi = az.hdi(self.relative_lift, hdi_prob=self.spec.ci_level)
        return float(lo), float(hi)

    @property
    def p_rope(self) -> float:
        """Posterior probability that the relative lift lies in the ROPE."""
        lo, hi = self.spec.rope
        r = self.relative_lift
        return float(np.mean((r >= lo) & (r <= hi)))

    @property
    def decision(self) -> str:
        """HDI + ROPE rule on the relative lift."""
        lo, hi = self.hdi
        rlo, rhi = self.spec.rope
        if rlo <= lo and hi <= rhi:
            return "equivalent: no practical difference"
        good_up = self.spec.higher_is_better
        if lo > rhi:
            return "adopt treatment" if good_up else "keep control"
        if hi < rlo:
            return "keep control" if good_up else "adopt treatment"
        return "undecided: collect more data"

    def estimate(self, relative: bool = False) -> EffectEstimate:
        """The absolute (or ``relative``) lift as an :class:`~causal.EffectEstimate` with its equal-tailed interval."""
        d = self.relative_lift if relative else self.lift
        a = (1 - self.spec.ci_level) / 2
        return EffectEstimate(
            "ATE" + (" (relative)" if relative else ""), self.spec.population,
            f"Bayesian A/B ({self.spec.metric})", float(d.mean()), float(d.std(ddof=1)),
            float(np.quantile(d, a)), float(np.quantile(d, 1 - a)), self.spec.ci_level, None,
            int(self.stats.filter(regex="^n").to_numpy().sum()))

    def summary(self) -> Summary:
        """The result as a :class:`~servicelab.Summary` (table, key facts, diagnostics)."""
        rows = []
        for name, d in (("absolute lift", self.lift), ("relative lift", self.relative_lift)):
            e = self.estimate(relative=name.startswith("relative"))
            rows.append({"quantity": name, "mean": float(d.mean()), "ci_low": e.ci_low,
                         "ci_high": e.ci_high, "p_positive": float(np.mean(d > 0))})
        loss = self.expected_loss
        info = {
            "metric": self.spec.metric, "outcome": self.spec.outcome,
            "control mean": float(self.mean_control.mean()),
            "treatment mean": float(self.mean_treatment.mean()),
            "P(treatment better)": self.p_better,
            "expected loss (ship)": loss["ship_treatment"],
            "expected loss (keep control)": loss["keep_control"],
            "ROPE (relative)": self.spec.rope, "P(in ROPE)": self.p_rope,
            f"{int(self.spec.ci_level * 100)}% HDI (relative)": tuple(round(v, 4) for v in self.hdi),
            "decision": self.decision,
        }
        return Summary(f"Bayesian A/B: {self.spec.outcome} ({self.spec.metric})",
                       pd.DataFrame(rows), info=info, diagnostics=self.diagnostics)

    def plot(self, ax: plt.Axes | None = None) -> plt.Axes:
        """Posterior of the relative lift with the ROPE and the HDI."""
        ax = ax or plt.subplots(figsize=(6, 3.5))[1]
        ax.hist(self.relative_lift, bins=80, density=True, color="tab:blue", alpha=0.6)
        ax.axvspan(*self.spec.rope, color="0.5", alpha=0.25, label="ROPE")
        lo, hi = self.hdi
        ax.hlines(0, lo, hi, color="k", lw=4, label=f"{int(self.spec.ci_level * 100)}% HDI")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"relative lift in {self.spec.outcome}")
        ax.set_title(f"P(lift > 0) = {self.p_positive:.3f}; {self.decision}")
        ax.legend(fontsize=8)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (for ``results.json`` and ``glue``)."""
        return jsonable({
            "metric": self.spec.metric, "outcome": self.spec.outcome,
            "absolute": self.estimate().to_dict(), "relative": self.estimate(True).to_dict(),
            "p_positive": self.p_positive, "p_better": self.p_better,
            "expected_loss": self.expected_loss, "rope": self.spec.rope, "p_rope": self.p_rope,
            "hdi_relative": self.hdi, "decision": self.decision,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        })

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the posterior (ArviZ InferenceData) to ``path`` as NetCDF; return the path."""
        if self.idata is None:
            raise DesignError("this posterior is conjugate Monte Carlo, not MCMC: no InferenceData")
        return save_netcdf(self.idata, path)


def gaussian_relative_lift(stats_a: dict[str, float], stats_b: dict[str, float], *,
                           prior_sd: float | None = None, prior_mean: float = 0.0,
                           ci_level: float = 0.95) -> dict[str, float]:
    """Normal approximation to the relative lift of B over A with an optional normal prior.

    The delta-method variance of ``mean_B / mean_A - 1`` from ``sum``, ``sum_squares`` and ``n``
    per arm, combined with a ``Normal(prior_mean, prior_sd)`` prior (flat when ``None``). This is
    GrowthBook's gbstats Bayesian test, useful as a fast check of the MCMC models.

    Examples
    --------
    >>> a = {"sum": 1396.87, "sum_squares": 52377.9767, "n": 3407}
    >>> b = {"sum": 2422.7, "sum_squares": 134698.29, "n": 3461}
    >>> round(gaussian_relative_lift(a, b)["chance_to_win"], 5)
    0.96907
    """
    def mv(s: dict[str, float]) -> tuple[float, float, float]:
        n = float(s["n"])
        m = s["sum"] / n
        return m, (s["sum_squares"] - s["sum"] ** 2 / n) / (n - 1), n

    ma, va, na = mv(stats_a)
    mb, vb, nb = mv(stats_b)
    if ma == 0:
        raise DataError("gaussian_relative_lift: control mean is 0; the relative lift is undefined")
    rel = mb / ma - 1
    var = vb / (nb * ma**2) + va * mb**2 / (na * ma**4)
    if prior_sd is not None:
        prec = 1 / var + 1 / prior_sd**2
        rel, var = (rel / var + prior_mean / prior_sd**2) / prec, 1 / prec
    sd = var**0.5
    z = NormalDist().inv_cdf(0.5 + ci_level / 2)
    return {"mean": rel, "sd": sd, "ci_low": rel - z * sd, "ci_high": rel + z * sd,
            "chance_to_win": 1 - NormalDist(rel, sd).cdf(0.0)}
