"""The estimators the scorecard scores: servicelab's own, called as an analyst would call them.

Each :class:`Estimator` names the servicelab estimator, the world family it runs on, the true
effect it targets (a key of :attr:`causal.scorecard.scenarios.World.truth`) and its cost class
(``cheap`` ones get the most replications, ``bayes`` ones the fewest). :func:`run_family` fits the
requested estimators of one family on one world and returns one record per estimator: estimate,
SE, interval, and the *status* the analyst would see, the worst of the estimate's own
diagnostics and those of the result it came from (overlap, balance, first-stage F, SRM, the
convergence gate...). Nothing is mocked: the Bayesian rows sample with PyMC.

An estimator that refuses the data with a :class:`~servicelab.errors.ServicelabError` (e.g. "no
overlap") gives a record with status ``"fail"`` and no estimate: a loud refusal, never a miss.
Any other exception is recorded as an ``error`` (counted in the scorecard's table) so that one
broken replication does not end a long sweep silently or loudly: it is reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from causal.results import EffectEstimate, critical_value
from causal.scorecard.scenarios import World, censoring_horizon
from servicelab.errors import ServicelabError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, worst_status


@dataclass(frozen=True)
class Estimator:
    """One scored estimator.

    Parameters
    ----------
    name : str
        Identifier (``"aipw"``, ``"cr2"``...).
    label : str
        The servicelab call it stands for.
    family : str
        World family it runs on (see :data:`causal.scorecard.scenarios.FAMILIES`).
    group : str
        Headline family of the scorecard, the ``--families`` key: experiments, observational,
        sensitivity, iv, did, synth, censored, bayes.
    truth : str
        Key of the world's truth it is scored against (``"estimand"`` = the scenario's estimand).
    cost : {"cheap", "expensive", "bayes"}
        Replication class.
    log_scale : bool
        Scored on the log scale (ratios).
    """

    name: str
    label: str
    family: str
    group: str
    truth: str
    cost: str = "cheap"
    log_scale: bool = False


ESTIMATORS: dict[str, Estimator] = {e.name: e for e in (
    Estimator("mean", "Experiment(Mean) Welch t", "experiment", "experiments", "mean"),
    Estimator("cuped", "Experiment(Mean, covariate) CUPED", "experiment", "experiments", "mean"),
    Estimator("ratio", "Experiment(RatioOfMeans) delta method", "experiment", "experiments",
              "ratio"),
    Estimator("cr2", "ClusterExperiment CR2 + BM df", "cluster", "experiments", "ATE"),
    Estimator("iid_ignoring_clusters", "difference_in_means, HC1 (ignores clusters)", "cluster",
              "experiments", "ATE"),
    Estimator("switchback", "SwitchbackDesign (queue x slice clusters)", "switchback",
              "experiments", "ATE"),
    Estimator("regression", "ObservationalStudy: regression adjustment", "observational",
              "observational", "estimand"),
    Estimator("ipw", "ObservationalStudy: IPW (Hajek)", "observational", "observational",
              "estimand"),
    Estimator("aipw", "ObservationalStudy: AIPW", "observational", "observational", "estimand"),
    Estimator("matching", "ObservationalStudy: PS matching", "observational", "observational",
              "estimand"),
    Estimator("linear_dml", "ObservationalStudy: LinearDML", "observational", "observational",
              "estimand", "expensive"),
    Estimator("dr_learner", "ObservationalStudy: DRLearner", "observational", "observational",
              "estimand", "expensive"),
    Estimator("causal_forest", "ObservationalStudy: CausalForestDML", "observational",
              "observational", "estimand", "expensive"),
    Estimator("sensitivity", "Cinelli-Hazlett bound at the hidden confounder's true strength",
              "observational", "sensitivity", "estimand"),
    Estimator("2sls", "IVStudy: 2SLS with controls", "iv", "iv", "LATE"),
    Estimator("orthoiv", "IVStudy: OrthoIV", "iv", "iv", "LATE", "expensive"),
    Estimator("twfe", "TWFE (cluster SE by unit)", "did", "did", "ATT"),
    Estimator("imputation", "StaggeredDiD imputation (unit bootstrap)", "did", "did", "ATT",
              "expensive"),
    Estimator("synth", "SyntheticControl, conformal interval", "synth", "synth",
              "ATT"),
    Estimator("rmst", "SurvivalEffect: RMST difference", "censored", "censored", "rmst_diff"),
    Estimator("p_event", "SurvivalEffect: P(event by horizon) difference", "censored",
              "censored", "p_event_diff"),
    Estimator("median_ratio", "SurvivalEffect: median ratio (log scale)", "censored", "censored",
              "median_ratio", log_scale=True),
    Estimator("bayes_ab_lognormal", "BayesianAB(lognormal) lift", "bayes_ab", "bayes",
              "lognormal"),
    Estimator("bayes_ab_bernoulli", "BayesianAB(bernoulli) lift", "bayes_ab", "bayes",
              "bernoulli"),
    Estimator("bayes_hierarchical", "HierarchicalEffects (PyMC) overall ATE", "bayes_hier",
              "bayes", "ATE", "bayes"),
)}


def estimators_for(family: str) -> list[str]:
    """Names of the estimators that run on worlds of ``family``."""
    return [e.name for e in ESTIMATORS.values() if e.family == family]


def _truth(est: Estimator, world: World) -> float:
    key = world.scenario.estimand if est.truth == "estimand" else est.truth
    value = float(world.truth[key])
    return math.log(value) if est.log_scale else value


def _record(name: str, e: EffectEstimate | None, extra: Sequence[Diagnostic] = (), *,
            log_scale: bool = False, error: str = "", status: str | None = None
            ) -> dict[str, Any]:
    if e is None:
        return {"estimator": name, "estimate": math.nan, "se": math.nan, "ci_low": math.nan,
                "ci_high": math.nan, "ci_level": math.nan, "status": status or "fail",
                "own_status": status or "fail", "checks": error,
                "error": "" if status == "fail" else error}
    est, lo, hi = e.estimate, e.ci_low, e.ci_high
    se = e.se if e.se is not None else math.nan
    if log_scale:
        est, lo, hi = (math.log(v) if v > 0 else math.nan for v in (est, lo, hi))
    if not math.isfinite(se) and math.isfinite(lo) and math.isfinite(hi):
        # interval-implied SE (synthetic control, posteriors), at the interval's own level
        se = (hi - lo) / (2 * float(stats.norm.ppf(0.5 + e.ci_level / 2)))
    diags = tuple(dict.fromkeys((*e.diagnostics, *extra)))  # a result may repeat its estimate's
    loud = "; ".join(f"{d.name}: {d.status}" for d in diags if d.status != "ok")
    return {"estimator": name, "estimate": float(est), "se": float(se), "ci_low": float(lo),
            "ci_high": float(hi), "ci_level": float(e.ci_level), "status": worst_status(diags),
            "own_status": e.status,
            "checks": loud, "error": ""}


def _guard(name: str, fn: Callable[[], dict[str, Any] | list[dict[str, Any]]]
           ) -> list[dict[str, Any]]:
    try:
        out = fn()
    except ServicelabError as exc:  # a loud refusal: the estimator said no
        return [_record(name, None, error=f"{type(exc).__name__}: {exc}"[:300], status="fail")]
    except Exception as exc:  # recorded and counted in the scorecard table (errors column)
        return [_record(name, None, error=f"{type(exc).__name__}: {exc}"[:300], status="error")]
    return out if isinstance(out, list) else [out]


# -- families ------------------------------------------------------------------------------
def _experiment(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.experiments import Experiment, Mean, RatioOfMeans

    metrics = {"mean": Mean("y"), "cuped": Mean("y", covariate="pre"),
               "ratio": RatioOfMeans("handle_sum", "contacts")}

    def fit() -> list[dict[str, Any]]:
        res = Experiment({k: metrics[k] for k in names}).analyze(world.frame, rng=gen)
        return [_record(k, res.effect(k), res.diagnostics) for k in names]

    return _guard(",".join(names), fit)


def _cluster(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.experiments import ClusterExperiment
    from causal.observational import difference_in_means

    out: list[dict[str, Any]] = []
    if "cr2" in names:
        def cr2() -> dict[str, Any]:
            r = ClusterExperiment("y", "cluster", n_resamples=0).analyze(world.frame, rng=gen)
            return _record("cr2", r.estimate(), r.diagnostics)
        out += _guard("cr2", cr2)
    if "iid_ignoring_clusters" in names:
        out += _guard("iid_ignoring_clusters", lambda: _record(
            "iid_ignoring_clusters", difference_in_means(world.frame, "t", "y")))
    return out


def _switchback(world: World, names: Sequence[str], gen: np.random.Generator):  # noqa: ARG001 (the family signature)
    from causal.experiments import SwitchbackDesign

    def fit() -> dict[str, Any]:
        r = SwitchbackDesign("y", "time", "queue", slice_s=3600.0, n_resamples=0
                             ).analyze(world.frame, rng=gen)
        return _record("switchback", r.estimate(), r.diagnostics)

    return _guard("switchback", fit)


_OBS_NAMES = {"regression": "regression", "ipw": "ipw", "aipw": "aipw", "matching": "matching",
              "linear_dml": "linear_dml", "dr_learner": "dr_learner",
              "causal_forest": "causal_forest"}
_OBS_METHOD = {"regression": "regression adjustment", "ipw": "IPW", "aipw": "AIPW",
               "matching": "PS matching", "linear_dml": "LinearDML", "dr_learner": "DRLearner",
               "causal_forest": "CausalForestDML"}


def _partial_r2(y: np.ndarray, z: np.ndarray, others: np.ndarray) -> float:
    import statsmodels.api as sm

    fit = sm.OLS(y, np.column_stack([np.ones_like(z), z, others])).fit()
    tv = float(fit.tvalues[1])
    return tv**2 / (tv**2 + float(fit.df_resid))


def sensitivity_record(world: World, sens: Any, ci_level: float = 0.95) -> dict[str, Any]:
    """Score the Cinelli–Hazlett analysis: the regression interval widened by the bias bound of a
    confounder as strong as the world's hidden one (its true partial R² with treatment and
    outcome, known here), and a warning when a confounder as strong as the strongest observed
    covariate would move the estimate outside its own interval (what an analyst can check). The
    interval is at ``ci_level``.
    """
    q = critical_value(ci_level)
    f = world.frame
    x = f[["x1", "x2", "x3"]].to_numpy(float)
    t, y, u = f["t"].to_numpy(float), f["y"].to_numpy(float), f["_u"].to_numpy(float)
    r2du = _partial_r2(t, u, x)
    r2yu = _partial_r2(y, u, np.column_stack([t, x]))
    bias = sens.se * math.sqrt(sens.dof) * math.sqrt(r2yu * r2du / (1 - r2du))
    lo, hi = sens.estimate - bias - q * sens.se, sens.estimate + bias + q * sens.se
    moved = sens.benchmark_adjusted_estimate
    fragile = moved is not None and abs(moved - sens.estimate) > q * sens.se
    diag = Diagnostic("sensitivity_benchmark", "warning" if fragile else "ok",
                      f"a confounder as strong as {sens.benchmark_covariate} would move the "
                      f"estimate to {moved:.3g}; RV = {sens.rv_q:.1%}" if moved is not None
                      else "no benchmark covariate", sens.rv_q)
    e = EffectEstimate(world.scenario.estimand, "all units", "regression + C&H bound",
                       sens.estimate, (hi - lo) / (2 * q), lo, hi, ci_level, diagnostics=(diag,))
    return _record("sensitivity", e)


def _observational(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.observational import ObservationalStudy

    fitted = [n for n in names if n in _OBS_NAMES]
    want_sens = "sensitivity" in names
    if not fitted and want_sens:
        fitted = ["regression"]

    def fit() -> list[dict[str, Any]]:
        study = ObservationalStudy("t", "y", confounders=["x1", "x2", "x3"],
                                   estimand=world.scenario.estimand,  # type: ignore[arg-type]
                                   estimators=tuple(_OBS_NAMES[n] for n in fitted), refuters=(),
                                   sensitivity=want_sens, forest_trees=100)
        res = study.fit(world.frame.drop(columns=["_u", "_e"]), rng=gen)
        out = []
        for n in fitted:
            if n not in names:
                continue
            out.append(_record(n, res.estimate(_OBS_METHOD[n]), res.diagnostics))
        if want_sens and res.sensitivity is not None:
            out.append(sensitivity_record(world, res.sensitivity))
        return out

    recs = _guard("observational", fit)
    if len(recs) == 1 and recs[0]["estimator"] == "observational":  # the whole study refused
        return [{**recs[0], "estimator": n} for n in names]
    return recs


def _iv(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.observational import IVStudy, WeakInstrumentWarning

    methods = tuple(m for m in ("2sls", "orthoiv") if m in names)

    def fit() -> list[dict[str, Any]]:
        with warnings.catch_warnings():
            # the weak-instrument warning is also the result's "fail" diagnostic, scored here
            warnings.simplefilter("ignore", WeakInstrumentWarning)
            r = IVStudy("d", "y", "z", covariates=["w"], methods=methods).fit(
                world.frame.drop(columns=["_u"]), rng=gen)
        return [_record(m, e, r.diagnostics) for m, e in zip(methods, r.estimates, strict=True)]

    recs = _guard("iv", fit)
    if len(recs) == 1 and recs[0]["estimator"] == "iv":
        return [{**recs[0], "estimator": n} for n in methods]
    return recs


def _did(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.quasi.did import TWFE, StaggeredDiD

    out: list[dict[str, Any]] = []
    if "twfe" in names:
        def twfe() -> dict[str, Any]:
            r = TWFE("y", "unit", "time", treatment="d", cluster="unit").fit(world.frame)
            return _record("twfe", r.estimate, r.diagnostics)
        out += _guard("twfe", twfe)
    if "imputation" in names:
        def imputation() -> dict[str, Any]:
            r = StaggeredDiD("y", "unit", "time", "adopt", n_boot=99, cross_check=False
                             ).fit(world.frame, rng=gen)
            return _record("imputation", r.att, r.diagnostics)
        out += _guard("imputation", imputation)
    return out


def _synth(world: World, names: Sequence[str], gen: np.random.Generator):  # noqa: ARG001 (the family signature)
    from causal.quasi.synth import SyntheticControl

    def fit() -> dict[str, Any]:
        r = SyntheticControl("y", "unit", "time", "treated",
                             world.info["treatment_time"]).fit(world.frame)
        return _record("synth", r.att, r.diagnostics)

    return _guard("synth", fit)


def _censored(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.survival import SurvivalEffect

    h = censoring_horizon(world.scenario)

    def fit() -> list[dict[str, Any]]:
        r = SurvivalEffect("duration", "event", "arm", horizon=h, n_boot=100).fit(world.frame,
                                                                                   rng=gen)
        key_p = next(k for k in r.estimates if k.startswith("p_event_diff@"))
        keys = {"rmst": "rmst_diff", "p_event": key_p, "median_ratio": "median_ratio"}
        return [_record(n, r.estimates[keys[n]], r.diagnostics, log_scale=n == "median_ratio")
                for n in names]

    recs = _guard("censored", fit)
    if len(recs) == 1 and recs[0]["estimator"] == "censored":
        return [{**recs[0], "estimator": n} for n in names]
    return recs


def _bayes_ab(world: World, names: Sequence[str], gen: np.random.Generator):
    from causal.bayes import BayesianAB

    out: list[dict[str, Any]] = []
    for n, metric, col in (("bayes_ab_lognormal", "lognormal", "handle_s"),
                           ("bayes_ab_bernoulli", "bernoulli", "fcr")):
        if n in names:
            def fit(metric: str = metric, col: str = col, n: str = n) -> dict[str, Any]:
                r = BayesianAB(col, "treated", metric=metric, draws=4000).fit(world.frame,
                                                                              rng=gen)
                return _record(n, r.estimate(), r.diagnostics)
            out += _guard(n, fit)
    return out


def _bayes_hier(world: World, names: Sequence[str], gen: np.random.Generator):  # noqa: ARG001 (the family signature)
    from causal.bayes import HierarchicalEffects, Sampler

    def fit() -> dict[str, Any]:
        spec = HierarchicalEffects("duration_s", "treated", group="queue",
                                   sampler=Sampler(draws=600, tune=500, chains=2))
        r = spec.fit(world.frame, rng=gen)
        return _record("bayes_hierarchical", r.overall, r.diagnostics)

    return _guard("bayes_hierarchical", fit)


_FAMILY_RUNNERS = {"experiment": _experiment, "cluster": _cluster, "switchback": _switchback,
                   "observational": _observational, "iv": _iv, "did": _did, "synth": _synth,
                   "censored": _censored, "bayes_ab": _bayes_ab, "bayes_hier": _bayes_hier}


def run_family(world: World, names: Sequence[str], rng: RNGLike = None) -> list[dict[str, Any]]:
    """Fit the estimators ``names`` (all of the world's family) on ``world``.

    Returns one record per estimator with ``truth`` (on the estimator's scale), ``estimate``,
    ``se``, ``ci_low``, ``ci_high``, ``status`` (worst diagnostic the analyst sees),
    ``own_status`` (the estimate's own diagnostics only), ``checks`` (the loud ones),
    ``error`` and ``warnings`` (classes of the Python warnings raised while fitting).

    Examples
    --------
    >>> from causal.scorecard.scenarios import SCENARIOS, generate
    >>> w = generate(SCENARIOS["iv-strong"], rng=0)
    >>> [r["status"] for r in run_family(w, ["2sls"], rng=0)]
    ['ok']
    """
    fam = world.scenario.family
    bad = [n for n in names if n not in ESTIMATORS or ESTIMATORS[n].family != fam]
    if bad:
        raise ValueError(f"estimators {bad} do not run on {fam!r} worlds; "
                         f"choose from {estimators_for(fam)}")
    gen = resolve_rng(rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = _FAMILY_RUNNERS[fam](world, list(names), gen)
    kinds = sorted({w.category.__name__ for w in caught})
    for r in recs:
        r["truth"] = _truth(ESTIMATORS[r["estimator"]], world)
        r["warnings"] = ",".join(kinds)
    return recs
