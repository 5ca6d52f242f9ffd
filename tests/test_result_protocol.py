"""Every exported result type keeps the result protocol (in the manner of scikit-learn's
estimator checks).

A *result type* is an exported class (from the packages' ``__all__``) whose name ends in
``Result`` or that has a ``summary`` or ``plot`` method. Each one must have a factory in
``FACTORIES`` below that builds a small instance; the checks then assert that

- ``summary()`` returns a :class:`servicelab.Summary` whose ``str``, ``_repr_html_``,
  ``to_frame()`` and ``to_markdown()`` work;
- ``plot()`` returns a matplotlib Axes (the figure is closed);
- ``to_dict()`` survives ``json.dumps`` (strict JSON: no NaN);
- ``diagnostics`` is a tuple of :class:`servicelab.Diagnostic`;
- ``==`` against a deep copy does not raise (results holding frames use ``eq=False``);
- ``repr`` and ``_repr_html_`` do not raise, and a notebook shows the summary, not a repr.

A result type added later without a factory fails ``test_every_result_type_has_a_factory``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from servicelab import Diagnostic, Result, Summary

PACKAGES = (
    "causal", "causal.experiments", "causal.observational", "causal.quasi", "causal.regression",
    "causal.survival", "causal.text", "causal.attribution", "causal.bayes", "simulation",
    "studies.runner", "studies.warehouse",
)

# Exported classes that look like results by name but are not (none today); say why.
NOT_RESULTS: dict[str, str] = {}


def _result_types() -> dict[str, type]:
    found: dict[str, type] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.isclass(obj) or issubclass(obj, BaseException) or obj is Summary:
                continue
            key = f"{obj.__module__}.{obj.__qualname__}"
            if key in NOT_RESULTS:
                continue
            if name.endswith("Result") or callable(getattr(obj, "summary", None)) or callable(
                    getattr(obj, "plot", None)):
                found[key] = obj
    return found


# -- factories: a small, fast instance of each result type --------------------------------------
FACTORIES: dict[str, Callable[[], Any]] = {}


def factory(qualname: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def register(fn: Callable[[], Any]) -> Callable[[], Any]:
        FACTORIES[qualname] = functools.cache(fn)
        return fn
    return register


def _ab_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    return pd.DataFrame({"variant": arm, "y": rng.normal(10, 2, n) + (arm == "treatment") * 0.5,
                         "fcr": (rng.random(n) < 0.6).astype(int)})


# causal.experiments
@factory("causal.experiments.experiment.ExperimentResult")
def _experiment():
    from causal.experiments import Experiment, Mean
    return Experiment(y=Mean("y")).analyze(_ab_frame())


@factory("causal.experiments.cluster.ClusterResult")
def _cluster():
    from causal.experiments import ClusterExperiment
    rng = np.random.default_rng(1)
    site = np.repeat(np.arange(12), 30)
    df = pd.DataFrame({"site": site, "variant": np.where(site % 2 == 0, "control", "treatment"),
                       "y": rng.normal(size=360) + np.repeat(rng.normal(size=12), 30)})
    return ClusterExperiment("y", "site", n_resamples=99).analyze(df, rng=2)


@factory("causal.experiments.inference.TwoSampleResult")
def _two_sample():
    from causal.experiments import two_sample_test
    return two_sample_test(1.0, 1.0, 1000, 1.1, 1.0, 1000)


@factory("causal.experiments.inference.SRMResult")
def _srm():
    from causal.experiments import srm_test
    return srm_test([1977, 2023])


@factory("causal.experiments.power.PowerResult")
def _power():
    from causal.experiments import Mean, MetricVariance, PowerAnalysis
    return PowerAnalysis(Mean("y")).sample_size(MetricVariance(mean=1.0, sd=1.0, n=1000), abs_mde=0.1)


@factory("causal.experiments.sequential.SequentialBoundaries")
def _boundaries():
    from causal.experiments import GroupSequentialDesign
    return GroupSequentialDesign(n_looks=5, alpha=0.05, spending="classical_pocock").boundaries()


@factory("causal.experiments.switchback.SwitchbackSchedule")
def _switchback_schedule():
    from causal.experiments import SwitchbackPlan
    return SwitchbackPlan(("a", "b"), days=2, slice_s=7200, burn_in_s=600).generate(rng=1)


@factory("causal.experiments.switchback.CarryoverResult")
def _carryover():
    from causal.experiments import estimate_carryover, simulate_switchback
    sched = _switchback_schedule()
    sim = simulate_switchback(sched, effect=-10.0, relax_s=600, rng=2)
    return estimate_carryover(sim, sched, outcome="y", time="t_s", unit="unit", bin_s=2400)


@factory("causal.experiments.switchback.SwitchbackPower")
def _switchback_power():
    from causal.experiments import (
        SwitchbackDesign,
        SwitchbackPlan,
        simulate_switchback,
        switchback_power,
    )
    plan = SwitchbackPlan(("a", "b"), days=2, slice_s=7200)
    design = SwitchbackDesign("y", "t_s", "unit", slice_s=7200)
    return switchback_power(plan, design, lambda s, g: simulate_switchback(s, effect=-8.0, rng=g),
                            n_sims=3, truth=-8.0, rng=1)


# causal.observational
def _obs_frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    return pd.DataFrame({"x": x, "seg": rng.choice(["a", "b"], n), "t": t,
                         "y": 2 * t + x + rng.normal(size=n)})


@factory("causal.observational.pipeline.ObservationalResult")
def _observational():
    from causal.observational import ObservationalStudy
    return ObservationalStudy("t", "y", confounders=["x"], estimators=("naive", "aipw"),
                              refuters=()).fit(_obs_frame(), rng=0)


@factory("causal.observational.heterogeneity.CateResult")
def _cate():
    from causal.observational import CateAnalysis
    return CateAnalysis("t", "y", ["x"], ["seg"], learner="linear_dml").fit(_obs_frame(600), rng=0)


@factory("causal.observational.iv.IVResult")
def _iv():
    from causal.observational import IVStudy
    rng = np.random.default_rng(0)
    n = 1000
    u, z = rng.normal(size=n), rng.integers(0, 2, n)
    d = ((z + u + rng.normal(size=n)) > 0.5).astype(float)
    df = pd.DataFrame({"z": z, "d": d, "y": 1.5 * d + u + rng.normal(size=n), "w": rng.normal(size=n)})
    return IVStudy("d", "y", "z", covariates=["w"], methods=("2sls",)).fit(df)


# causal.quasi
@factory("causal.quasi.did.DiDResult")
def _did():
    from causal.quasi import DiD2x2
    df = pd.DataFrame({"y": [135, 121, 165, 132, 130, 125, 160, 135],
                       "g": [1, 1, 0, 0, 1, 1, 0, 0], "post": [0, 1, 0, 1, 0, 1, 0, 1]})
    return DiD2x2("y", "g", "post").fit(df)


@factory("causal.quasi.did.StaggeredResult")
def _staggered():
    from causal.quasi import StaggeredDiD
    rng = np.random.default_rng(0)
    df = pd.DataFrame([(u, t) for u in range(30) for t in range(10)], columns=["u", "t"])
    df["adopt"] = df.u.map(lambda u: [3, 6, np.nan][u % 3])
    df["y"] = 0.1 * df.u + 0.3 * df.t + np.where(df.t >= df.adopt, 1.0, 0) + rng.normal(0, 0.1, len(df))
    return StaggeredDiD("y", "u", "t", "adopt", n_boot=20).fit(df, rng=0)


@factory("causal.quasi.its.ITSResult")
def _its():
    from causal.quasi import InterruptedTimeSeries
    t = np.arange(120)
    rng = np.random.default_rng(0)
    y = 10 + 0.05 * t + np.sin(2 * np.pi * t / 7) + 2.0 * (t >= 80) + rng.normal(0, 0.3, 120)
    return InterruptedTimeSeries("y", "t", 80, period=7).fit(pd.DataFrame({"t": t, "y": y}))


@factory("causal.quasi.rd.RDResult")
def _rd():
    from causal.quasi import RegressionDiscontinuity
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1000)
    df = pd.DataFrame({"x": x, "y": 0.5 * x + 0.3 * (x >= 0) + rng.normal(0, 0.2, 1000)})
    return RegressionDiscontinuity("y", "x", density_test=False).fit(df)


@factory("causal.quasi.synth.SynthResult")
def _synth():
    from causal.quasi import SyntheticControl
    rng = np.random.default_rng(0)
    rows = [(u, s, (u + 1) * 0.1 * s + rng.normal(0, 0.05)) for u in range(6) for s in range(30)]
    df = pd.DataFrame(rows, columns=["u", "t", "y"])
    df.loc[(df.u == 2) & (df.t >= 20), "y"] += 1.0
    return SyntheticControl("y", "u", "t", treated_unit=2, treatment_time=20).fit(df)


# causal.regression
def _reg_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "g": np.repeat(np.arange(20), 10),
                       "q": np.tile(["a", "b", "c", "d"], 50)})
    df["y"] = 1 + 2 * df.x + rng.normal(size=200)
    return df


@factory("causal.regression.models.RegressionResult")
def _regression():
    from causal.regression import Regression
    return Regression("y ~ x", se="CR1", cluster="g").fit(_reg_frame())


@factory("causal.regression.anova.AnovaResult")
def _anova():
    from causal.regression import anova
    return anova(_reg_frame(), "y", "q")


@factory("causal.regression.chisq.ChiSquareResult")
def _chisq():
    from causal.regression import chi_square
    return chi_square(pd.DataFrame({"arm": list("aabb" * 25), "fcr": [1, 0, 1, 1] * 25}), "arm", "fcr")


# causal.survival
def _surv_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    d = rng.integers(0, 2, 300)
    t = rng.exponential(np.where(d == 1, 8.0, 10.0))
    return pd.DataFrame({"t": np.minimum(t, 20), "e": (t < 20).astype(int), "d": d,
                         "age": rng.normal(40, 5, 300)})


@factory("causal.survival.km.KaplanMeierResult")
def _km():
    from causal.survival import KaplanMeier
    return KaplanMeier("t", "e").fit(_surv_frame())


@factory("causal.survival.models.CoxResult")
def _cox():
    from causal.survival import CoxPH
    return CoxPH(duration="t", event="e", covariates=["d"]).fit(_surv_frame())


@factory("causal.survival.models.AFTResult")
def _aft():
    from causal.survival import AFT
    return AFT("t", "e", ["d", "age"], distribution="lognormal").fit(_surv_frame())


@factory("causal.survival.competing.CumulativeIncidenceResult")
def _cif():
    from causal.survival import CumulativeIncidence
    df = pd.DataFrame({"t": [1, 2, 2, 3, 4, 5, 6, 7], "end": ["resolved", "escalated", "resolved", "censored",
                                                          "resolved", "abandoned", "resolved", "censored"]})
    return CumulativeIncidence("t", "end").fit(df)


@factory("causal.survival.effects.SurvivalEffectResult")
def _surv_effect():
    from causal.survival import SurvivalEffect
    return SurvivalEffect("t", "e", "d", horizon=15, n_boot=20).fit(_surv_frame(), rng=0)


# causal.text
_DOCS = ["refund ads charged", "ads refund invoice", "password login reset", "login password locked"] * 8


@factory("causal.text.topics.TopicResult")
def _topics():
    from causal.text import TextFeatures, TopicModel
    return TopicModel(n_topics=2, n_top=3, features=TextFeatures(min_df=1)).fit(_DOCS, rng=0)


@factory("causal.text.sentiment.CommentSentimentResult")
def _sentiment():
    from causal.text import CommentSentiment, TextFeatures
    docs = ["great help", "awful", "great fast", "awful slow", "ok fine", "great"] * 5
    return CommentSentiment(features=TextFeatures(min_df=1)).fit(docs, [5, 1, 5, 1, 3, 5] * 5, rng=0)


@factory("causal.text.classify.ReasonClassifierResult")
def _classifier():
    from causal.text import ReasonClassifier, TextFeatures
    labels = ["billing", "billing", "access", "access"] * 8
    return ReasonClassifier(features=TextFeatures(min_df=1)).fit(_DOCS, labels, rng=0)


@factory("causal.text.confounding.TextAdjustedResult")
def _text_adjusted():
    from causal.text import TextAdjustedEffect, TextFeatures
    rng = np.random.default_rng(0)
    docs = _DOCS * 5
    billing = np.array(["refund" in d for d in docs], dtype=float)
    t = (rng.random(len(docs)) < 0.3 + 0.4 * billing).astype(int)
    df = pd.DataFrame({"text": docs, "t": t, "x": rng.normal(size=len(docs)),
                       "y": 2.0 * t + 3.0 * billing + rng.normal(size=len(docs))})
    return TextAdjustedEffect("y", "t", ("x",), "text", n_components=2,
                              features=TextFeatures(min_df=1)).fit(df, rng=0)


# causal.attribution
@factory("causal.attribution.anomaly.AnomalyResult")
def _anomaly():
    from causal.attribution import AnomalyDetector
    rng = np.random.default_rng(0)
    d = pd.date_range("2026-01-05", periods=56, freq="D")
    y = 100 * (1 + 0.3 * (d.dayofweek < 5)) * np.exp(rng.normal(0, 0.03, 56))
    y[30] *= 2.5
    return AnomalyDetector("y", "day").fit(pd.DataFrame({"day": d, "y": y}))


@factory("causal.attribution.decomposition.DecompositionResult")
def _decomposition():
    from causal.attribution import Decomposition
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"period": np.repeat(["a", "b"], 400), "seg": rng.choice(["x", "y"], 800),
                      "y": rng.normal(10, 1, 800)})
    return Decomposition("y", ("seg",), before="a", after="b", n_boot=50).fit(f, rng=1)


@factory("causal.attribution.gcm.MechanismAttributionResult")
def _gcm():
    from causal.attribution import MechanismAttribution
    rng = np.random.default_rng(0)

    def draw(shift: float, n: int = 300) -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        return pd.DataFrame({"x": x, "y": 2 * x + shift + rng.normal(0, 1, n)})

    return MechanismAttribution((("x", "y"),), "y").fit(draw(0), draw(1.0), rng=1)


# causal.bayes: PyMC's NUTS is replaced by prior draws (only the plumbing is checked here; the
# samplers' ground-truth tests live in tests/causal/bayes).
def _prior_as_posterior(*, draws: int, chains: int, model: Any, random_seed: Any = None,
                        var_names: Any = None, **_: Any) -> Any:
    import arviz as az
    import pymc as pm
    import xarray as xr

    prior = pm.sample_prior_predictive(draws=draws * chains, model=model, random_seed=random_seed,
                                       var_names=var_names).prior
    data = {k: (("chain", "draw", *v.dims[2:]), v.to_numpy().reshape(chains, draws, *v.shape[2:]))
            for k, v in prior.data_vars.items()}
    coords = {c: prior.coords[c] for c in prior.coords if c not in ("chain", "draw")}
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool))})
    return az.InferenceData(posterior=xr.Dataset(data, coords=coords), sample_stats=stats)


def _mocked_pymc(fn: Callable[[], Any]) -> Callable[[], Any]:
    @functools.wraps(fn)
    def wrapper() -> Any:
        import pymc as pm
        real = pm.sample
        pm.sample = _prior_as_posterior
        try:
            return fn()
        finally:
            pm.sample = real
    return wrapper



def _sampler():
    from causal.bayes import Sampler
    return Sampler(draws=50, tune=10, chains=2)


@factory("causal.bayes.ab.ABResult")
@_mocked_pymc
def _bayes_ab():
    from causal.bayes import BayesianAB
    df = _ab_frame().assign(treated=lambda f: (f.variant == "treatment").astype(int))
    return BayesianAB("fcr", "treated", metric="bernoulli", sampler=_sampler()).fit(df, rng=1)


def _hier_frame() -> pd.DataFrame:
    from causal.bayes import simulate_hierarchical
    frame, _ = simulate_hierarchical(4, 40, rng=1)
    return frame


@factory("causal.bayes.hierarchical.HierarchicalResult")
@_mocked_pymc
def _hierarchical():
    from causal.bayes import HierarchicalEffects
    frame = _hier_frame()
    return HierarchicalEffects("duration_s", "treated", group="queue", sampler=_sampler()).fit(frame, rng=5)


@factory("causal.bayes.hierarchical.PriorPredictiveCheck")
def _prior_check():
    from causal.bayes import HierarchicalEffects
    return HierarchicalEffects("duration_s", "treated", group="queue").prior_predictive(_hier_frame(),
                                                                                        draws=50, rng=1)


@factory("causal.bayes.its.BayesianITSResult")
@_mocked_pymc
def _bayes_its():
    from causal.bayes import BayesianITS
    rng = np.random.default_rng(0)
    day = pd.date_range("2026-01-05", periods=56, freq="D")
    y = 300 + 10 * (day.dayofweek < 5) - 20 * (day >= "2026-02-02") + rng.normal(0, 3, 56)
    return BayesianITS("y", "day", intervention=pd.Timestamp("2026-02-02"),
                       sampler=_sampler()).fit(pd.DataFrame({"day": day, "y": y}), rng=3)


@factory("causal.bayes.sbc.SBCResult")
@_mocked_pymc
def _sbc():
    from causal.bayes import sbc_hierarchical
    return sbc_hierarchical(n_sims=10, n_groups=2, n_per_cell=5, sampler=_sampler(), rng=1)


# simulation
def _model():
    from simulation import AgentGroup, ContactCentre, Poisson, Queue
    return ContactCentre([Queue("q", Poisson(2 / 60, 3600), aht_s=300.0, patience_s=120.0)],
                         [AgentGroup("agents", ("q",), n=12)])


def _contacts() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    t = pd.Timestamp("2026-01-05") + pd.to_timedelta(np.sort(rng.uniform(0, 2 * 86400, 1500)), unit="s")
    c = pd.DataFrame({"created_at": t, "queue": "q", "wait_s": rng.exponential(10, 1500),
                      "abandoned": rng.random(1500) < 0.05, "handle_s": rng.lognormal(5.5, 0.5, 1500)})
    st = pd.DataFrame({"interval_start": pd.date_range("2026-01-05", periods=96, freq="30min"),
                       "queue": "q", "agents": 4})
    return c, st


@factory("simulation.metrics.SimulationRun")
def _sim_run():
    return _model().run(rng=1)


@factory("simulation.replicate.ReplicationResult")
def _replications():
    from simulation import replicate
    return replicate(_model(), 3, rng=1, backend="serial", progress=False)


@factory("simulation.replicate.PairedComparison")
def _paired():
    from simulation import AgentGroup, paired_comparison, replicate
    m = _model()
    ra = replicate(m, 3, rng=1, backend="serial", progress=False)
    rb = replicate(m.with_agents([AgentGroup("agents", ("q",), 14)]), 3, rng=1, backend="serial",
                   progress=False)
    return paired_comparison(ra, rb)


@factory("simulation.analytic.ErlangCResult")
def _erlang_c():
    from simulation import erlang_c
    return erlang_c(100, 300, 12)


@factory("simulation.analytic.ErlangAResult")
def _erlang_a():
    from simulation import erlang_a
    return erlang_a(100, 300, 10, 120)


@factory("simulation.analytic.HalfinWhittApproximation")
def _hw():
    from simulation import halfin_whitt
    return halfin_whitt(6000, 300, 520)


@factory("simulation.analytic.GMRApproximation")
def _gmr():
    from simulation import garnett_mandelbaum_reiman
    return garnett_mandelbaum_reiman(6000, 300, 520, 120)


@factory("simulation.analytic.SquareRootStaffing")
def _srs():
    from simulation import square_root_staffing
    return square_root_staffing(6000, 300, beta=1.0)


@factory("simulation.staffing.StaffingRequirement")
def _requirement():
    from simulation import required_agents
    return required_agents(120, 300, target_sl=0.8, service_level=20, patience_s=120)


@factory("simulation.staffing.IntervalRequirements")
def _interval_requirements():
    from simulation import interval_requirements
    return interval_requirements(pd.DataFrame({"arrivals": [60, 300, 0]}), aht_s=300)


@factory("simulation.staffing.ShiftSchedule")
def _schedule():
    from simulation import ShiftScheduler, ShiftTemplate
    return ShiftScheduler([ShiftTemplate("4h", 240)], interval_minutes=60).solve([1, 2, 2, 1, 0, 0, 0, 0])


@factory("simulation.staffing.PlanVerification")
def _plan_verification():
    from simulation import PlanSimulator, verify_schedule_by_simulation
    sim = PlanSimulator((60.0, 120.0, 60.0), aht_s=300.0, patience_s=120.0)
    return verify_schedule_by_simulation(np.array([12, 22, 12]), sim, target_sl=0.8, n_reps=3, rng=1)


def _arrival_history(days: int = 35) -> pd.DataFrame:
    idx = pd.date_range("2026-01-05", periods=days * 48, freq="30min")
    lam = 10 + 8 * np.sin(np.arange(idx.size) % 48 / 48 * np.pi) ** 2
    rng = np.random.default_rng(0)
    return pd.DataFrame({"interval_start": idx, "queue": "q", "arrivals": rng.poisson(lam)})


@factory("simulation.forecast.ArrivalForecast")
def _arrival_forecast():
    from simulation.forecast import ArrivalForecaster
    return ArrivalForecaster(model="seasonal_naive", n_paths=20).fit(_arrival_history(), 7, rng=1)


@factory("simulation.forecast.ForecastBacktest")
def _forecast_backtest():
    from simulation.forecast import ArrivalForecaster, backtest_forecast
    return backtest_forecast(ArrivalForecaster(model="seasonal_naive", n_paths=20), _arrival_history(),
                             horizon_days=7, n_windows=1, rng=1)


@factory("simulation.calibration.KaplanMeier")
def _sim_km():
    from simulation import kaplan_meier
    return kaplan_meier([1, 2, 2, 3, 4, 6, 7], [1, 1, 0, 1, 0, 1, 1])


@factory("simulation.calibration.Calibration")
def _calibration():
    from simulation import calibrate
    return calibrate(_contacts()[0])


@factory("simulation.calibration.CalibrationValidation")
def _calibration_validation():
    from simulation import validate_calibration
    c, st = _contacts()
    return validate_calibration(c, st, "2026-01-05", n_reps=2, rng=1)


@factory("simulation.interference.InterferenceTruth")
def _interference_truth():
    from simulation.interference import SharedPoolCentre, interference_truth
    return interference_truth(SharedPoolCentre(sites=2, agents_per_site=5, occupancy=0.8, days=0.1), 0.8,
                              n_reps=2, rng=1)


@factory("simulation.interference.Relaxation")
def _relaxation():
    from simulation.interference import SharedPoolCentre, relaxation_time
    return relaxation_time(SharedPoolCentre(sites=2, agents_per_site=5, occupancy=0.8, days=0.1), 0.8,
                           n_reps=2, rng=1)


@factory("simulation.risk.RiskStaffing")
def _risk_staffing():
    from simulation import risk_staffing
    paths = 10.0 * np.exp(0.1 * np.random.default_rng(0).standard_normal((10, 1))) * np.ones((10, 2))
    return risk_staffing(paths, aht_s=300, patience_s=300, risk_target=0.5, rng=1)


@factory("simulation.whatif.WhatIfResult")
def _whatif():
    from simulation import Effect, propagate_effects
    return propagate_effects([20.0, 60.0], [Effect("handle_time", -0.1, -0.12, -0.08)], aht_s=300,
                             patience_s=180, n_draws=20, rng=1)


# -- the checks ---------------------------------------------------------------------------------
RESULT_TYPES = _result_types()

# Checks that fail today in modules other engineers are editing; strict, so each entry must go
# once its type is fixed. Value: why, and what is missing.
_EDITED = "module under edit by another engineer (issue 10 merge): "
_MIXIN = _EDITED + "add servicelab.ResultMixin as the first base"
_EQ = _EDITED + "declare @dataclass(frozen=True, eq=False, repr=False): it holds frames"
PENDING: dict[tuple[str, str], str] = {}


def test_every_result_type_has_a_factory():
    missing = sorted(set(RESULT_TYPES) - set(FACTORIES))
    assert not missing, (
        f"result types without a factory in tests/test_result_protocol.py: {missing}; add a "
        "@factory('<module>.<Class>') function that builds a small instance of each")
    stale = sorted(set(FACTORIES) - set(RESULT_TYPES))
    assert not stale, f"factories for types that are no longer exported results: {stale}"


def _check_summary(result: Any) -> None:
    s = result.summary()
    assert isinstance(s, Summary), f"summary() returned {type(s).__name__}, not servicelab.Summary"
    assert s.title and s.title in str(s)
    assert s.title.split()[0] in s._repr_html_()
    assert isinstance(s.to_frame(), pd.DataFrame)
    assert s.to_markdown().startswith("### ")


def _check_plot(result: Any) -> None:
    try:
        ax = result.plot()
        assert isinstance(ax, Axes), f"plot() returned {type(ax).__name__}, not matplotlib Axes"
        _, given = plt.subplots()
        assert result.plot(ax=given) is given, "plot(ax=ax) must draw on the given Axes"
    finally:
        plt.close("all")


def _check_to_dict(result: Any) -> None:
    d = result.to_dict()
    assert isinstance(d, dict)
    json.dumps(d, allow_nan=False)


def _check_diagnostics(result: Any) -> None:
    ds = result.diagnostics
    assert isinstance(ds, tuple), f"diagnostics is a {type(ds).__name__}, not a tuple"
    assert all(isinstance(d, Diagnostic) for d in ds)


def _check_eq(result: Any) -> None:
    other = copy.deepcopy(result)
    assert isinstance(result == other, bool)  # must not raise (eq=False where frames are held)
    assert result == result  # identity


def _check_display(result: Any) -> None:
    assert isinstance(result, Result)
    text = repr(result)
    assert len(text) < 2000, "repr dumps the data; use ResultMixin with repr=False"
    assert hasattr(result, "_repr_html_"), "add servicelab.ResultMixin (notebooks show the summary)"
    assert result._repr_html_() == result.summary()._repr_html_()


CHECKS = {"summary": _check_summary, "plot": _check_plot, "to_dict": _check_to_dict,
          "diagnostics": _check_diagnostics, "eq": _check_eq, "display": _check_display}


def _cases() -> list[Any]:
    cases = []
    for key in sorted(RESULT_TYPES):
        for check in CHECKS:
            marks = ()
            if (key, check) in PENDING:
                marks = (pytest.mark.xfail(strict=True, reason=PENDING[key, check]),)
            cases.append(pytest.param(key, check, id=f"{key.rsplit('.', 1)[1]}-{check}", marks=marks))
    return cases


@pytest.mark.parametrize(("key", "check"), _cases())
def test_result_protocol(key: str, check: str):
    if key not in FACTORIES:
        pytest.fail(f"no factory for {key}: add one (see test_every_result_type_has_a_factory)")
    result = FACTORIES[key]()
    assert type(result) is RESULT_TYPES[key], f"the factory for {key} built a {type(result).__name__}"
    CHECKS[check](result)
