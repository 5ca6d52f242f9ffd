"""Small synthetic worlds with known effects, one knob per data-generating parameter.

A :class:`Scenario` names a world and sets its knobs; :func:`generate` draws one data set of it
(numpy, milliseconds) and returns a :class:`World`: the frame an estimator sees, the true
effects it should recover (``truth``, keyed by estimand) and a few facts about the draw (``info``:
the true propensities' range, the censoring share, the hidden confounder...). Columns whose name
starts with ``_`` (the hidden confounder, the true propensity) are never given to an estimator.

The knobs
---------
``min_propensity``
    Overlap. The true propensity is ``expit(s * lin)`` with ``lin`` in ``[-1, 1]`` and
    ``s = logit(1 - min_propensity)``, so the smallest propensity in a sample is close to
    ``min_propensity`` (1e-3 in the limited-overlap world) and the largest to its mirror image.
``confounding``
    Weight of the propensity's covariates in the untreated outcome: the naive contrast's bias
    grows with it.
``heterogeneity``
    Slope of the unit effect on the main confounder: the ATT differs from the ATE (for DiD: the
    growth of the effect per period since adoption).
``n``, ``clusters``
    Sample size (units, contacts) and number of clusters (cluster experiments, switchback slices
    per queue, DiD units, Bayesian groups).
``censoring``
    Share of right-censored times (administrative censoring, solved for exactly).
``skew``
    Log-scale SD of a standardised lognormal noise (0 = normal noise); durations' log SD.
``unobserved``
    Strength of a confounder the estimator does not see (observational: in treatment and
    outcome; synthetic control: a factor no donor shares).
``instrument_strength``
    First-stage coefficient of the instrument (IV).

Examples
--------
>>> w = generate(SCENARIOS["obs-limited-overlap"], rng=0)
>>> 5e-4 < w.info["min_propensity"] < 3e-3
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from servicelab.errors import DesignError
from servicelab.random import RNGLike, resolve_rng

FAMILIES = ("experiment", "cluster", "switchback", "observational", "iv", "did", "synth",
            "censored", "bayes_ab", "bayes_hier")


@dataclass(frozen=True)
class Scenario:
    """One synthetic world: its family (which data shape) and its knobs.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"obs-limited-overlap"``.
    family : str
        Data shape, one of :data:`FAMILIES`.
    description : str
        One line for tables and the book.
    n, min_propensity, confounding, heterogeneity, clusters, censoring, skew, unobserved,
    instrument_strength : see the module docstring.
    effect : float
        The average effect the world builds in (its meaning depends on the family).
    estimand : {"ATE", "ATT"}
        What the observational estimators are asked for.
    staggered : bool
        DiD: staggered adoption (two cohorts and never-treated units) instead of one date.
    """

    name: str
    family: str
    description: str = ""
    n: int = 1000
    min_propensity: float = 0.05
    confounding: float = 1.0
    heterogeneity: float = 0.0
    clusters: int = 0
    censoring: float = 0.0
    skew: float = 0.0
    unobserved: float = 0.0
    instrument_strength: float = 1.0
    effect: float = 1.0
    estimand: str = "ATE"
    staggered: bool = False
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise DesignError(f"scenario {self.name!r}: family must be one of {FAMILIES}, "
                              f"got {self.family!r}")
        if not 0 < self.min_propensity < 0.5:
            raise DesignError(f"scenario {self.name!r}: min_propensity must be in (0, 0.5), "
                              f"got {self.min_propensity}")
        if not 0 <= self.censoring < 0.95:
            raise DesignError(f"scenario {self.name!r}: censoring must be in [0, 0.95), "
                              f"got {self.censoring}")
        if self.n < 20:
            raise DesignError(f"scenario {self.name!r}: n must be >= 20, got {self.n}")
        if self.skew < 0 or self.unobserved < 0:
            raise DesignError(f"scenario {self.name!r}: skew and unobserved must be >= 0")
        if self.estimand not in ("ATE", "ATT"):
            raise DesignError(f"scenario {self.name!r}: estimand must be ATE or ATT")

    def with_(self, **changes: Any) -> Scenario:
        """A copy with some knobs changed (e.g. a smaller ``n``)."""
        return replace(self, **changes)

    def knobs(self) -> dict[str, Any]:
        """The knob values, for tables."""
        return {k: getattr(self, k) for k in ("n", "min_propensity", "confounding",
                                              "heterogeneity", "clusters", "censoring", "skew",
                                              "unobserved", "instrument_strength", "estimand")}


@dataclass(frozen=True)
class World:
    """One draw of a scenario: the data, the true effects and facts about the draw."""

    scenario: Scenario
    frame: pd.DataFrame
    truth: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)


# -- noise -----------------------------------------------------------------------------------
def skewed_noise(gen: np.random.Generator, size: Any, skew: float) -> np.ndarray:
    """Mean-0, SD-1 noise: normal for ``skew = 0``, a standardised lognormal(0, skew) otherwise.

    Examples
    --------
    >>> z = skewed_noise(np.random.default_rng(0), 200_000, 1.0)
    >>> bool(abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.05 and stats.skew(z) > 2)
    True
    """
    z = gen.standard_normal(size)
    if skew == 0:
        return z
    m = math.exp(skew**2 / 2)
    sd = math.sqrt((math.exp(skew**2) - 1) * math.exp(skew**2))
    return (np.exp(skew * z) - m) / sd


# -- observational ---------------------------------------------------------------------------
def _obs_draw(sc: Scenario, gen: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    x1 = gen.uniform(-1, 1, n)
    x2 = gen.standard_normal(n)
    x3 = gen.standard_normal(n)
    u = gen.standard_normal(n)
    s = special.logit(1 - sc.min_propensity)
    ku = 0.5 * sc.unobserved
    lin = (x1 + 0.25 * np.tanh(x2) + ku * np.tanh(u)) / (1.25 + ku)
    e = special.expit(s * lin)
    t = (gen.random(n) < e).astype(int)
    tau = sc.effect + sc.heterogeneity * x1
    y0 = sc.confounding * (1.5 * x1 + 0.5 * x2) + 0.5 * x3 + sc.unobserved * u \
        + skewed_noise(gen, n, sc.skew)
    y = y0 + t * tau
    return {"x1": x1, "x2": x2, "x3": x3, "u": u, "e": e, "t": t, "tau": tau, "y": y}


@lru_cache(maxsize=64)
def _obs_population_truth(sc: Scenario) -> tuple[float, float]:
    """(ATE, ATT) of the population, the ATT by a large fixed Monte Carlo draw (error < 1e-3)."""
    d = _obs_draw(sc, np.random.default_rng(20260101), 400_000)
    att = float(np.sum(d["tau"] * d["e"]) / np.sum(d["e"]))
    return float(sc.effect), att


def _observational(sc: Scenario, gen: np.random.Generator) -> World:
    d = _obs_draw(sc, gen, sc.n)
    frame = pd.DataFrame({"t": d["t"], "y": d["y"], "x1": d["x1"], "x2": d["x2"],
                          "x3": d["x3"], "_u": d["u"], "_e": d["e"]})
    ate, att = _obs_population_truth(sc)
    e = d["e"]
    return World(sc, frame, {"ATE": ate, "ATT": att},
                 {"min_propensity": float(e.min()), "max_propensity": float(e.max()),
                  "share_extreme": float(np.mean((e < 0.01) | (e > 0.99))),
                  "treated_share": float(d["t"].mean())})


# -- randomised experiments ------------------------------------------------------------------
def _experiment(sc: Scenario, gen: np.random.Generator) -> World:
    n = sc.n
    arm = gen.permutation(np.arange(n) % 2)
    pre = gen.standard_normal(n)
    y = 10 + 1.5 * pre + sc.effect * arm + 1.5 * skewed_noise(gen, n, sc.skew)
    contacts = 1 + gen.poisson(2.0, n)
    cust = gen.normal(0, 40, n)
    # handle seconds per contact: 300 + customer effect + 20 * effect under treatment
    per_contact = 300 + cust + 20 * sc.effect * arm
    noise = 60 * np.sqrt(contacts) * skewed_noise(gen, n, sc.skew)
    handle_sum = contacts * per_contact + noise
    frame = pd.DataFrame({"variant": np.where(arm == 1, "treatment", "control"), "t": arm,
                          "y": y, "pre": pre, "contacts": contacts.astype(float),
                          "handle_sum": handle_sum})
    return World(sc, frame, {"mean": sc.effect, "ratio": 20 * sc.effect},
                 {"treated_share": float(arm.mean())})


def _cluster(sc: Scenario, gen: np.random.Generator) -> World:
    g = max(sc.clusters, 4)
    m = max(sc.n // g, 2)
    cl = np.repeat(np.arange(g), m)
    treated_clusters = gen.permutation(np.arange(g) % 2)
    arm = treated_clusters[cl]
    y = (gen.normal(0, 1.0, g)[cl] + sc.effect * arm
         + 1.5 * skewed_noise(gen, g * m, sc.skew))
    frame = pd.DataFrame({"cluster": cl, "variant": np.where(arm == 1, "treatment", "control"),
                          "t": arm, "y": y})
    return World(sc, frame, {"ATE": sc.effect}, {"clusters": g, "per_cluster": m})


def _switchback(sc: Scenario, gen: np.random.Generator) -> World:
    queues = 4
    slices = max(sc.clusters, 8)
    per = max(sc.n // (queues * slices), 2)
    q = np.repeat(np.arange(queues), slices * per)
    s = np.tile(np.repeat(np.arange(slices), per), queues)
    arm_qs = gen.integers(0, 2, (queues, slices))
    # both arms in every queue
    arm_qs[:, 0], arm_qs[:, 1] = 0, 1
    arm = arm_qs[q, s]
    hour = s % 24
    y = (gen.normal(0, 1, queues)[q] + 0.8 * np.sin(2 * np.pi * hour / 24)
         + gen.normal(0, 0.5, (queues, slices))[q, s] + sc.effect * arm
         + skewed_noise(gen, len(q), sc.skew))
    t = s * 3600.0 + gen.uniform(0, 3600, len(q))
    frame = pd.DataFrame({"queue": q, "time": t, "variant": np.where(arm == 1, "treatment",
                                                                     "control"), "y": y})
    return World(sc, frame, {"ATE": sc.effect}, {"slices": slices, "queues": queues})


# -- instrumental variables ------------------------------------------------------------------
def _iv(sc: Scenario, gen: np.random.Generator) -> World:
    n = sc.n
    z = gen.integers(0, 2, n)
    u = gen.standard_normal(n)
    w = gen.standard_normal(n)
    d = ((sc.instrument_strength * z + 0.8 * u + 0.5 * w + gen.standard_normal(n)) > 0.5)
    d = d.astype(float)
    y = sc.effect * d + sc.confounding * u + 0.5 * w + skewed_noise(gen, n, sc.skew)
    frame = pd.DataFrame({"z": z.astype(float), "d": d, "y": y, "w": w, "_u": u})
    return World(sc, frame, {"LATE": sc.effect}, {"treated_share": float(d.mean())})


# -- difference in differences ----------------------------------------------------------------
def _did(sc: Scenario, gen: np.random.Generator) -> World:
    units = max(sc.clusters, 6)
    periods = 10
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    if sc.staggered:
        adopt_by_unit = np.array([[3.0, 6.0, np.nan][k % 3] for k in range(units)])
    else:
        adopt_by_unit = np.array([[5.0, np.nan][k % 2] for k in range(units)])
    adopt = adopt_by_unit[u]
    treated = ~np.isnan(adopt) & (t >= np.nan_to_num(adopt, nan=np.inf))
    rel = np.where(treated, t - np.nan_to_num(adopt), 0)
    tau = np.where(treated, sc.effect + sc.heterogeneity * rel, 0.0)
    y = (gen.normal(0, 1, units)[u] + 0.3 * t + gen.normal(0, 0.3, periods)[t] + tau
         + 0.5 * skewed_noise(gen, len(u), sc.skew))
    frame = pd.DataFrame({"unit": u, "time": t, "adopt": adopt, "d": treated.astype(float),
                          "y": y})
    return World(sc, frame, {"ATT": float(tau[treated].mean())},
                 {"units": units, "treated_cells": int(treated.sum())})


# -- synthetic control ------------------------------------------------------------------------
def _synth(sc: Scenario, gen: np.random.Generator) -> World:
    donors, t0, t1 = max(sc.clusters, 10), 20, 8
    periods = t0 + t1
    f = np.cumsum(gen.normal(0, 1, (periods, 2)), axis=0) + 10
    lam = gen.uniform(0.2, 1.0, (donors, 2))
    pick = gen.choice(donors, 3, replace=False)
    wts = gen.dirichlet(np.ones(3))
    lam1 = wts @ lam[pick]
    # a factor only the treated unit loads on: unobserved confounding of the comparison
    hidden = sc.unobserved * 0.5 * np.arange(periods) / periods * 4
    y0 = f @ lam.T + 0.3 * gen.standard_normal((periods, donors))
    y1 = f @ lam1 + hidden + 0.3 * gen.standard_normal(periods)
    post = np.arange(periods) >= t0
    y1 = y1 + sc.effect * post
    rows = [("treated", k, y1[k]) for k in range(periods)]
    rows += [(f"d{j:02d}", k, y0[k, j]) for j in range(donors) for k in range(periods)]
    frame = pd.DataFrame(rows, columns=["unit", "time", "y"])
    # the true effect is the built-in one; the hidden factor is bias, not effect
    return World(sc, frame, {"ATT": sc.effect}, {"donors": donors, "treatment_time": t0})


# -- censored durations ------------------------------------------------------------------------
_LOG_MEDIAN = math.log(3600.0)  # control median one hour


def _sigma(sc: Scenario) -> float:
    return 1.0 if sc.skew == 0 else float(sc.skew)


@lru_cache(maxsize=64)
def _censor_max(sc: Scenario) -> float:
    """Upper end ``c`` of the uniform follow-up U(0, c) that gives the censoring share."""
    if sc.censoring == 0:
        return math.inf
    sig, beta = _sigma(sc), -0.3 * sc.effect
    z = np.random.default_rng(7).standard_normal(200_000)
    arm = np.arange(len(z)) % 2
    times = np.exp(_LOG_MEDIAN + beta * arm + sig * z)

    def share(log_c: float) -> float:  # P(follow-up < T) with follow-up ~ U(0, c)
        return float(np.mean(np.minimum(times / math.exp(log_c), 1.0)))

    lo, hi = _LOG_MEDIAN - 12 * sig, _LOG_MEDIAN + 30 * sig
    return math.exp(optimize.brentq(lambda lc: share(lc) - sc.censoring, lo, hi))


def censoring_horizon(sc: Scenario) -> float:
    """The RMST horizon of a censored scenario: half the longest follow-up (or 3 medians)."""
    c = _censor_max(sc)
    return 3 * math.exp(_LOG_MEDIAN) if math.isinf(c) else 0.5 * c


@lru_cache(maxsize=64)
def _censored_truth(sc: Scenario) -> dict[str, float]:
    sig, beta = _sigma(sc), -0.3 * sc.effect
    h = censoring_horizon(sc)

    def surv(t: float, arm: int) -> float:
        return float(stats.norm.sf((math.log(t) - _LOG_MEDIAN - beta * arm) / sig)) if t > 0 \
            else 1.0

    rmst = [integrate.quad(surv, 0, h, args=(a,), limit=200)[0] for a in (0, 1)]
    return {"rmst_diff": rmst[1] - rmst[0], "median_ratio": math.exp(beta),
            "p_event_diff": surv(h, 0) - surv(h, 1)}


def _censored(sc: Scenario, gen: np.random.Generator) -> World:
    n = sc.n
    arm = gen.permutation(np.arange(n) % 2)
    sig, beta = _sigma(sc), -0.3 * sc.effect
    t = np.exp(_LOG_MEDIAN + beta * arm + sig * gen.standard_normal(n))
    c = _censor_max(sc)
    follow = np.full(n, np.inf) if math.isinf(c) else gen.uniform(0, c, n)
    event = (t <= follow).astype(int)
    frame = pd.DataFrame({"arm": arm, "duration": np.where(event == 1, t, follow),
                          "event": event})
    return World(sc, frame, _censored_truth(sc),
                 {"censored_share": float(1 - event.mean()), "horizon": censoring_horizon(sc)})


# -- Bayesian ------------------------------------------------------------------------------
def _bayes_ab(sc: Scenario, gen: np.random.Generator) -> World:
    n = sc.n
    arm = gen.permutation(np.arange(n) % 2)
    sig = _sigma(sc)
    beta = 0.05 * sc.effect
    y = np.exp(math.log(300) + beta * arm + sig * gen.standard_normal(n))
    p0, p1 = 0.30, 0.30 + 0.03 * sc.effect
    fcr = (gen.random(n) < np.where(arm == 1, p1, p0)).astype(int)
    frame = pd.DataFrame({"treated": arm, "handle_s": y, "fcr": fcr})
    mean0 = math.exp(math.log(300) + sig**2 / 2)
    return World(sc, frame, {"lognormal": mean0 * (math.exp(beta) - 1), "bernoulli": p1 - p0})


def _bayes_hier(sc: Scenario, gen: np.random.Generator) -> World:
    from causal.bayes.simulate import simulate_hierarchical

    groups = max(sc.clusters, 2)
    frame, truth = simulate_hierarchical(groups, max(sc.n // groups, 10), mu_tau=-0.1 * sc.effect,
                                         sigma=_sigma(sc), mu_alpha=6.0, rng=gen)
    return World(sc, frame, {"ATE": float(truth["ate_s"])}, {"groups": groups})


_GENERATORS = {"observational": _observational, "experiment": _experiment, "cluster": _cluster,
               "switchback": _switchback, "iv": _iv, "did": _did, "synth": _synth,
               "censored": _censored, "bayes_ab": _bayes_ab, "bayes_hier": _bayes_hier}


def generate(scenario: Scenario, rng: RNGLike = None) -> World:
    """Draw one data set of ``scenario`` (same ``rng``, same data).

    Examples
    --------
    >>> w = generate(SCENARIOS["cens-heavy"], rng=1)
    >>> abs(w.info["censored_share"] - 0.7) < 0.05
    True
    """
    return _GENERATORS[scenario.family](scenario, resolve_rng(rng))


def _sc(*args: Any, **kw: Any) -> Scenario:
    return Scenario(*args, **kw)


#: The scorecard's worlds, by name (the families' estimators run on the worlds of their family).
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    _sc("exp-baseline", "experiment", "A/B test, 2,000 customers, normal noise", n=2000),
    _sc("exp-skewed", "experiment", "A/B test, 2,000 customers, heavy-tailed outcome",
        n=2000, skew=1.5),
    _sc("exp-small-skewed", "experiment", "A/B test, 60 customers, heavy-tailed outcome",
        n=60, skew=1.5),
    _sc("cl-many", "cluster", "cluster experiment, 40 clusters of 25", n=1000, clusters=40),
    _sc("cl-few", "cluster", "cluster experiment, 8 clusters of 60", n=480, clusters=8),
    _sc("sb-baseline", "switchback", "switchback, 4 queues x 24 hourly slices", n=1920,
        clusters=24),
    _sc("obs-baseline", "observational", "confounded, good overlap (propensity >= 0.05)"),
    _sc("obs-limited-overlap", "observational", "propensities down to 1e-3",
        min_propensity=1e-3, tags=("gate",)),
    _sc("obs-strong-confounding", "observational", "confounding x3", confounding=3.0),
    _sc("obs-att-heterogeneous", "observational",
        "ATT asked, effect varies with the confounder (ATT != ATE)", heterogeneity=1.0,
        estimand="ATT"),
    _sc("obs-small-n", "observational", "200 units", n=200),
    _sc("obs-skewed", "observational", "heavy-tailed outcome noise", skew=1.5),
    _sc("obs-unobserved", "observational", "a hidden confounder of strength 1",
        unobserved=1.0),
    _sc("iv-strong", "iv", "strong instrument, 1,000 units", instrument_strength=1.0),
    _sc("iv-weak", "iv", "weak instrument (first-stage F around 4)", instrument_strength=0.18),
    _sc("did-common", "did", "one adoption date, 40 units x 10 periods", clusters=40),
    _sc("did-staggered-dynamic", "did", "staggered adoption, effects growing 0.5 per period",
        clusters=45, staggered=True, heterogeneity=0.5),
    _sc("synth-good-fit", "synth", "treated unit inside the donors' hull, 20 donors",
        clusters=20),
    _sc("synth-hidden-trend", "synth", "treated unit with a trend no donor shares",
        clusters=20, unobserved=1.0),
    _sc("cens-light", "censored", "20% censored durations, 600 contacts", n=600, censoring=0.2),
    _sc("cens-heavy", "censored", "70% censored durations, 600 contacts", n=600, censoring=0.7),
    _sc("bayes-ab", "bayes_ab", "Bayesian A/B, 2,000 units", n=2000),
    _sc("bayes-hier", "bayes_hier", "hierarchical effects, 4 groups x 150", n=600, clusters=4),
)}
