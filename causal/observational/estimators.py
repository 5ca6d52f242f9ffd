"""Effect estimators on arrays: naive, regression adjustment, standardization, propensity
stratification, matching, IPW, AIPW, and the EconML learners (LinearDML, CausalForestDML, DRLearner).

Each function takes the outcome ``y``, the binary treatment ``t`` (0/1), the covariate matrix ``x``
and, where needed, the propensity ``e``, and returns a :class:`causal.results.EffectEstimate`.
They are the building blocks of :class:`causal.observational.ObservationalStudy`; call them
directly when you already hold arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import statsmodels.api as sm
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LinearRegression

from causal.observational.overlap import (
    OverlapPopulation,
    TrimRule,
    crossfit_propensity,
    fold_ids,
    overlap_population,
    propensity_model,
    weight_diagnostics,
)
from causal.results import EffectEstimate
from servicelab.errors import DesignError
from servicelab.random import resolve_rng
from servicelab.results import Diagnostic


@dataclass(frozen=True)
class Arrays:
    """The data an estimator sees: outcome, treatment, covariates, modifiers, propensity."""

    y: np.ndarray
    t: np.ndarray
    x: np.ndarray
    e: np.ndarray | None = None
    modifiers: np.ndarray | None = None
    estimand: str = "ATE"
    population: str = "all units in the data"
    binary_outcome: bool = False
    fold: np.ndarray | None = None
    """Fold labels of the cross-fitted propensity ``e`` (``None``: ``e`` was not cross-fitted)."""
    ci_level: float = 0.95
    """Level of every interval an estimator builds from these arrays."""

    def subset(self, keep: np.ndarray, population: str | None = None) -> Arrays:
        """The same arrays restricted to the units in ``keep``."""
        def sl(v: np.ndarray | None) -> np.ndarray | None:
            return None if v is None else v[keep]

        return replace(self, y=self.y[keep], t=self.t[keep], x=self.x[keep], e=sl(self.e),
                       modifiers=sl(self.modifiers), population=population or self.population,
                       fold=sl(self.fold))


def _est(a: Arrays, method: str, est: float, se: float | None, n: int | None = None,
         estimand: str | None = None, population: str | None = None,
         diagnostics: tuple[Diagnostic, ...] = ()) -> EffectEstimate:
    """The estimate with its normal (Wald) interval at ``a.ci_level``
    (:meth:`causal.results.EffectEstimate.from_se`)."""
    return EffectEstimate.from_se(estimand or a.estimand, population or a.population, method,
                                  float(est), None if se is None else float(se),
                                  ci_level=a.ci_level, n=int(n if n is not None else len(a.y)),
                                  diagnostics=tuple(diagnostics))


def _ols(y: np.ndarray, design: np.ndarray, cov_type: str = "HC1",
         groups: np.ndarray | None = None, weights: np.ndarray | None = None):
    model = sm.WLS(y, design, weights=weights) if weights is not None else sm.OLS(y, design)
    if cov_type == "cluster":
        return model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    return model.fit(cov_type=cov_type)


def naive(a: Arrays) -> EffectEstimate:
    """Difference in means with an HC1 (heteroskedasticity-robust) standard error."""
    fit = _ols(a.y, np.column_stack([np.ones_like(a.t), a.t]))
    return _est(a, "naive difference in means", fit.params[1], fit.bse[1],
                estimand="difference in means")


def regression_adjustment(a: Arrays) -> EffectEstimate:
    """Lin (2013) regression: ``y ~ t + xc + t:xc`` with covariates centred on the target population.

    Centring on everyone gives the ATE, on the treated the ATT; HC1 standard errors.
    """
    if a.x.shape[1] == 0:
        return naive(a)
    centre = a.x[a.t == 1].mean(axis=0) if a.estimand == "ATT" else a.x.mean(axis=0)
    xc = a.x - centre
    design = np.column_stack([np.ones_like(a.t), a.t, xc, a.t[:, None] * xc])
    fit = _ols(a.y, design)
    return _est(a, "regression adjustment", fit.params[1], fit.bse[1])


def standardization(a: Arrays, *, interactions: np.ndarray | None = None, n_boot: int = 200,
                    rng: Any = None) -> EffectEstimate:
    """Parametric g-formula: fit ``y ~ t + x [+ t:interactions]``, predict both arms, average.

    The interval is a nonparametric bootstrap (percentile, at ``a.ci_level``) as in Hernán &
    Robins ch. 13; the SE is the bootstrap standard deviation (its p-value is the Wald one).
    ``interactions`` are the covariate columns interacted with treatment (default: none).
    """
    gen = resolve_rng(rng)
    inter = np.empty((len(a.y), 0)) if interactions is None else interactions

    def effect(idx: np.ndarray) -> float:
        y, t, x, z = a.y[idx], a.t[idx], a.x[idx], inter[idx]
        design = np.column_stack([np.ones_like(t), t, x, t[:, None] * z])
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        pop = (t == 1) if a.estimand == "ATT" else np.ones_like(t, dtype=bool)
        d1 = np.column_stack([np.ones(pop.sum()), np.ones(pop.sum()), x[pop], z[pop]])
        d0 = np.column_stack([np.ones(pop.sum()), np.zeros(pop.sum()), x[pop], 0 * z[pop]])
        return float(np.mean(d1 @ beta - d0 @ beta))

    n = len(a.y)
    est = effect(np.arange(n))
    boots = np.array([effect(gen.integers(0, n, n)) for _ in range(n_boot)])
    se = float(boots.std(ddof=1))
    tail = (1 - a.ci_level) / 2
    out = _est(a, "standardization (g-formula)", est, se)
    return replace(out, ci_low=float(np.quantile(boots, tail)),
                   ci_high=float(np.quantile(boots, 1 - tail)))


def _need_e(a: Arrays) -> np.ndarray:
    if a.e is None:
        raise DesignError("this estimator needs propensity scores; fit them first")
    return a.e


def ipw(a: Arrays, *, trim: TrimRule = "auto", propensity_model: Any = "logistic",
        folds: int = 5, rng: Any = None) -> EffectEstimate:
    """Hajek IPW (stabilised weights for the ATE, ``e/(1-e)`` for controls for the ATT).

    The propensity is ``a.e`` when given, else cross-fitted from a regularised, calibrated model
    (:func:`causal.observational.overlap.crossfit_propensity`). Units outside the overlap
    population of ``trim`` (by default Crump et al. 2009, when a weight would exceed 100) are
    dropped and the result's population says so; the overlap and ESS diagnostics are computed
    on the propensities used, fold by fold.
    The estimate is the weighted least-squares slope of ``y`` on ``t``; its robust (HC1) SE treats
    the weights as known, which is conservative for an estimated propensity (Hernán & Robins
    ch. 12).
    """
    from causal.observational.propensity import ipw_weights

    w_a, e, fold, pop = _weighting_setup(a, trim, propensity_model, folds, rng)
    k = pop.keep
    w = ipw_weights(e[k], w_a.t[k], a.estimand)
    fit = _ols(w_a.y[k], np.column_stack([np.ones(k.sum()), w_a.t[k]]), weights=w)
    diags = (*pop.diagnostics, *weight_diagnostics(e[k], w_a.t[k], fold[k], a.estimand,
                                                   source=_source(a)))
    return _est(a, "IPW (Hajek, robust SE)", fit.params[1], fit.bse[1], n=int(k.sum()),
                population=pop.label, diagnostics=diags)


def _source(a: Arrays) -> str:
    return ("the given propensities" if a.fold is None and a.e is not None
            else "out-of-fold propensities")


def _weighting_setup(a: Arrays, trim: TrimRule, propensity_model: Any, folds: int, rng: Any
                     ) -> tuple[Arrays, np.ndarray, np.ndarray, OverlapPopulation]:
    """Propensity (given or cross-fitted), fold labels and the overlap population."""
    gen = resolve_rng(rng)
    if a.fold is not None:
        fold = np.asarray(a.fold, int)
    elif a.e is None:
        fold = fold_ids(a.t, folds, gen)
    else:
        fold = np.zeros(len(a.t), int)
    if a.e is None:
        e = crossfit_propensity(a.x, a.t, model=propensity_model, fold=fold, rng=gen).scores
    else:
        e = np.asarray(a.e, float)
    pop = overlap_population(e, a.t, trim, a.estimand, a.population)
    return a, e, fold, pop


def stratification(a: Arrays, n_strata: int = 5) -> EffectEstimate:
    """Propensity-score stratification: difference in means within quantile strata, averaged
    with weights of the target population (all units for the ATE, treated for the ATT)."""
    e = _need_e(a)
    edges = np.quantile(e, np.linspace(0, 1, n_strata + 1))
    s = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, n_strata - 1)
    effs, vars_, wts = [], [], []
    for k in range(n_strata):
        m = s == k
        y1, y0 = a.y[m & (a.t == 1)], a.y[m & (a.t == 0)]
        if len(y1) < 2 or len(y0) < 2:
            continue
        effs.append(y1.mean() - y0.mean())
        vars_.append(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
        wts.append((m & (a.t == 1)).sum() if a.estimand == "ATT" else m.sum())
    if not effs:
        raise DesignError("no propensity stratum holds at least 2 treated and 2 control units")
    w = np.asarray(wts, float) / np.sum(wts)
    est = float(w @ np.asarray(effs))
    se = float(np.sqrt(w**2 @ np.asarray(vars_)))
    return _est(a, f"PS stratification ({n_strata} strata)", est, se)


def matching(a: Arrays) -> EffectEstimate:
    """1:1 nearest-neighbour matching on the logit propensity, with replacement.

    For the ATT each treated unit is matched to a control; for the ATE both ways. The SE treats
    the matching weights as fixed and uses within-stratum outcome variances (a conditional
    variance in the spirit of Abadie & Imbens 2006).
    """
    e = np.clip(_need_e(a), 1e-6, 1 - 1e-6)
    lg = np.log(e / (1 - e))

    def one_way(src: int) -> tuple[float, float]:
        tgt = 1 - src
        i_src, i_tgt = np.nonzero(a.t == src)[0], np.nonzero(a.t == tgt)[0]
        order = np.argsort(lg[i_tgt])
        sorted_lg = lg[i_tgt][order]
        pos = np.clip(np.searchsorted(sorted_lg, lg[i_src]), 1, len(sorted_lg) - 1)
        left, right = sorted_lg[pos - 1], sorted_lg[pos]
        pick = np.where(np.abs(lg[i_src] - left) <= np.abs(lg[i_src] - right), pos - 1, pos)
        matched = i_tgt[order][pick]
        diff = a.y[i_src] - a.y[matched]
        eff = diff.mean() if src == 1 else -diff.mean()
        # weights of matched units and a local variance from propensity quintiles
        k = np.bincount(matched, minlength=len(a.y)).astype(float) / len(i_src)
        q = np.clip(np.searchsorted(np.quantile(e, [0.2, 0.4, 0.6, 0.8]), e), 0, 4)
        local_var = np.zeros(len(a.y))
        for arm in (0, 1):
            for b in range(5):
                m = (q == b) & (a.t == arm)
                if m.sum() > 1:
                    local_var[m] = a.y[m].var(ddof=1)
        var = local_var[i_src].mean() / len(i_src) + np.sum(k**2 * local_var)
        return float(eff), float(var)

    if a.estimand == "ATT":
        est, var = one_way(1)
    else:
        e1, v1 = one_way(1)
        e0, v0 = one_way(0)
        p = a.t.mean()
        est, var = p * e1 + (1 - p) * e0, p**2 * v1 + (1 - p) ** 2 * v0
    return _est(a, "PS matching (1:1 NN, replacement)", est, np.sqrt(var))


def _outcome_predictions(a: Arrays, model: Any, fold: np.ndarray | None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted predictions of E[y | t=1, x] and E[y | t=0, x] (in-sample when no folds)."""
    n = len(a.y)
    mu1, mu0 = np.empty(n), np.empty(n)
    idx = np.arange(n)
    splits = ([(idx, idx)] if fold is None or len(np.unique(fold)) < 2 else
              [(idx[fold != k], idx[fold == k]) for k in np.unique(fold)])
    xx = a.x if a.x.shape[1] else np.zeros((n, 1))
    for train, test in splits:
        for arm, out in ((1, mu1), (0, mu0)):
            m = train[a.t[train] == arm]
            mdl = clone(model).fit(xx[m], a.y[m])
            out[test] = (mdl.predict_proba(xx[test])[:, 1] if is_classifier(mdl)
                         else mdl.predict(xx[test]))
    return mu1, mu0


def flexible_outcome_model(binary: bool = False, random_state: int = 0) -> Any:
    """Histogram gradient boosting (shallow, shrunk) for an outcome nuisance."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kw = {"max_iter": 200, "learning_rate": 0.05, "max_depth": 3, "min_samples_leaf": 20,
          "random_state": random_state}
    return HistGradientBoostingClassifier(**kw) if binary else HistGradientBoostingRegressor(**kw)


def aipw(a: Arrays, *, outcome_model: Any = None, propensity_model: Any = "logistic",
         folds: int = 5, trim: TrimRule = "auto", rng: Any = None,
         method: str = "AIPW (doubly robust)") -> EffectEstimate:
    """Cross-fitted augmented IPW (doubly robust) with an influence-function standard error.

    ``outcome_model`` is any scikit-learn regressor (classifiers use ``predict_proba``), fitted
    per arm; default linear regression, ``"gbm"`` for gradient boosting. The propensity is
    ``a.e`` when given (with its fold labels ``a.fold``), else cross-fitted from
    ``propensity_model`` (``"logistic"``: regularised L2 logistic; ``"gbm"``: calibrated
    boosting; or a classifier) on the same folds as the outcome model. ``folds`` < 2 fits the
    outcome model in sample (not recommended with a flexible model). Units outside the overlap
    population of ``trim`` are dropped; the estimate's diagnostics check the weights it used,
    fold by fold.

    Examples
    --------
    >>> rng = np.random.default_rng(0); n = 600
    >>> x = rng.normal(size=(n, 2)); t = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))) * 1.0
    >>> y = x @ [1.0, 0.5] + 2.0 * t + rng.normal(size=n)
    >>> est = aipw(Arrays(y, t, x), rng=0)
    >>> abs(est.estimate - 2.0) < 3 * est.se, est.status
    (True, 'ok')
    """
    gen = resolve_rng(rng)
    seed = int(gen.integers(2**31))
    if isinstance(outcome_model, str):
        if outcome_model != "gbm":
            raise DesignError(f"outcome_model must be 'gbm' or a scikit-learn model; got "
                              f"{outcome_model!r}")
        outcome_model = flexible_outcome_model(a.binary_outcome, seed)
    model = outcome_model if outcome_model is not None else LinearRegression()
    if a.fold is None and a.e is None and folds >= 2:
        a = replace(a, fold=fold_ids(a.t, folds, gen))
    _, e, fold, pop = _weighting_setup(a, trim, propensity_model, folds, gen)
    out_fold = a.fold if a.fold is not None else (
        fold_ids(a.t, folds, gen) if folds >= 2 else None)
    mu1, mu0 = _outcome_predictions(a, model, out_fold)
    k = pop.keep
    y, t, e_k, mu1, mu0 = a.y[k], a.t[k], np.clip(e[k], 1e-6, 1 - 1e-6), mu1[k], mu0[k]
    if a.estimand == "ATT":
        p = t.mean()
        psi = (t * (y - mu0) - (1 - t) * e_k / (1 - e_k) * (y - mu0)) / p
        est = psi.mean()
        infl = psi - t * est / p
    else:
        psi = mu1 - mu0 + t * (y - mu1) / e_k - (1 - t) * (y - mu0) / (1 - e_k)
        est = psi.mean()
        infl = psi - est
    se = float(np.sqrt(np.var(infl, ddof=1) / len(y)))
    diags = (*pop.diagnostics,
             *weight_diagnostics(e[k], t, fold[k], a.estimand, source=_source(a)))
    return _est(a, method, est, se, n=int(k.sum()), population=pop.label, diagnostics=diags)


# -- EconML ----------------------------------------------------------------------------------
def _default_models(a: Arrays, flexible: bool, rng_int: int) -> tuple[Any, Any]:
    """Outcome and treatment nuisances: linear / regularised logistic, or boosting (calibrated
    for the propensity). Never an unpenalised logistic regression."""
    if flexible:
        return (flexible_outcome_model(a.binary_outcome, rng_int),
                propensity_model("gbm", random_state=rng_int))
    my = propensity_model("logistic") if a.binary_outcome else LinearRegression()
    return my, propensity_model("logistic")


def _econml_ate(a: Arrays, est: Any, method: str, xm: np.ndarray | None = None
                ) -> EffectEstimate:
    xm = a.modifiers if xm is None else xm
    xm = xm if xm is not None and xm.shape[1] else None
    if xm is None:
        if a.estimand == "ATT":
            raise DesignError(f"{method} without effect modifiers fits one constant effect and "
                              "cannot give the ATT; add effect modifiers or use aipw/dr_learner")
        inf = est.ate_inference()
    else:
        pop = a.t == 1 if a.estimand == "ATT" else np.ones(len(a.t), bool)
        inf = est.ate_inference(X=xm[pop])
    point = float(np.ravel(inf.mean_point)[0])
    se = float(np.ravel(inf.stderr_mean)[0])
    return _est(a, method, point, se)  # EconML's conf_int_mean is this normal interval


def _w_and_x(a: Arrays) -> tuple[np.ndarray | None, np.ndarray | None]:
    xm = a.modifiers if a.modifiers is not None and a.modifiers.shape[1] else None
    w = a.x if a.x.shape[1] else None
    return xm, w


def _splits(t: np.ndarray, cv: int, gen: np.random.Generator, fold: np.ndarray | None = None
            ) -> tuple[np.ndarray, list]:
    """Cross-fitting splits: the given fold labels (those of ``Arrays.fold``), else new ones."""
    if fold is None or len(np.unique(fold)) < 2:
        fold = fold_ids(t, cv, gen)
    else:
        fold = np.unique(np.asarray(fold), return_inverse=True)[1]
    idx = np.arange(len(t))
    return fold, [(idx[fold != k], idx[fold == k]) for k in range(int(fold.max()) + 1)]


def _used_propensities(models: list, xw: np.ndarray, fold: np.ndarray,
                       clip: float = 0.0) -> np.ndarray:
    """Out-of-fold propensities from an EconML learner's own per-fold nuisance models."""
    e = np.empty(len(fold))
    for k, mdl in enumerate(models):
        m = fold == k
        e[m] = mdl.predict_proba(xw[m])[:, 1]
    return np.clip(e, clip, 1 - clip) if clip else e


def _trimmed(a: Arrays, trim: TrimRule, gen: np.random.Generator, flexible: bool
             ) -> tuple[Arrays, OverlapPopulation]:
    """Decide the overlap population on cross-fitted propensities, before an EconML fit."""
    if trim is None:
        return a, overlap_population(np.full(len(a.t), 0.5), a.t, None, a.estimand, a.population)
    e = a.e if a.e is not None else crossfit_propensity(
        a.x, a.t, model="gbm" if flexible else "logistic", rng=gen).scores
    pop = overlap_population(e, a.t, trim, a.estimand, a.population)
    return a.subset(pop.keep, pop.label), pop


def fit_linear_dml(a: Arrays, *, flexible: bool = False, cv: int = 2, rng: Any = None,
                   model_y: Any = None, model_t: Any = None):
    """Fit EconML ``LinearDML`` (discrete treatment, classifiers through ``predict_proba``).

    The treatment model is regularised (see :func:`causal.observational.overlap.propensity_model`);
    the fitted learner's per-fold models are in ``est.models_t``.
    """
    from econml.dml import LinearDML

    gen = resolve_rng(rng)
    seed = int(gen.integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    if model_t is not None:
        propensity_model(model_t)
    _, splits = _splits(a.t, cv, gen, a.fold)
    est = LinearDML(model_y=model_y or my, model_t=model_t or mt, discrete_treatment=True,
                    discrete_outcome=a.binary_outcome, cv=splits, random_state=seed)
    xm, w = _w_and_x(a)
    est.fit(a.y, a.t, X=xm, W=w)
    return est


def linear_dml(a: Arrays, *, trim: TrimRule = None, rng: Any = None, **kw: Any
               ) -> EffectEstimate:
    """ATE/ATT from EconML ``LinearDML``.

    For the ATT without effect modifiers, the CATE is modelled as linear in the confounders and
    averaged over the treated (a constant-effect ``LinearDML`` has no ATT). ``trim`` drops units
    outside an overlap population first (default none: DML does not invert propensities).
    """
    gen = resolve_rng(rng)
    a, pop = _trimmed(a, trim, gen, kw.get("flexible", False))
    method = "LinearDML"
    if a.estimand == "ATT" and (a.modifiers is None or not a.modifiers.shape[1]):
        a = replace(a, modifiers=a.x)
        method = "LinearDML (CATE linear in the confounders, averaged over the treated)"
    est = fit_linear_dml(a, rng=gen, **kw)
    return _econml_ate(a, est, method).with_diagnostics(*pop.diagnostics)


def fit_causal_forest(a: Arrays, *, n_estimators: int = 200, cv: int = 2, rng: Any = None,
                      flexible: bool = True, min_samples_leaf: int = 10):
    """Fit EconML ``CausalForestDML`` (needs effect modifiers; falls back to all covariates).

    Returns the learner, the modifier matrix it used, and its fold labels (its per-fold treatment
    models are ``est.models_t[0]``).
    """
    from econml.dml import CausalForestDML

    gen = resolve_rng(rng)
    seed = int(gen.integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    xm, w = _w_and_x(a)
    if xm is None:
        xm, w = a.x, None
    fold, splits = _splits(a.t, cv, gen, a.fold)
    n_est = max(4, n_estimators - n_estimators % 4)
    est = CausalForestDML(model_y=my, model_t=mt, discrete_treatment=True,
                          discrete_outcome=a.binary_outcome, cv=splits, n_estimators=n_est,
                          min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=1)
    est.fit(a.y, a.t, X=xm, W=w)
    return est, xm, fold


def causal_forest(a: Arrays, *, trim: TrimRule = "auto", rng: Any = None, **kw: Any
                  ) -> EffectEstimate:
    """ATE/ATT from EconML ``CausalForestDML`` (mean CATE over everyone / over the treated).

    Units outside the overlap population of ``trim`` are dropped first; the overlap diagnostic
    is computed on the forest's own per-fold treatment-model propensities.
    """
    gen = resolve_rng(rng)
    a, pop = _trimmed(a, trim, gen, kw.get("flexible", True))
    est, xm, fold = fit_causal_forest(a, rng=gen, **kw)
    _, w = _w_and_x(a)
    xw = np.hstack([v for v in (xm, w if a.modifiers is not None else None) if v is not None])
    e = _used_propensities(est.models_t[0], xw, fold)
    diags = weight_diagnostics(e, a.t, fold, a.estimand,
                               source="the forest's own per-fold treatment models")
    return _econml_ate(a, est, "CausalForestDML", xm).with_diagnostics(*pop.diagnostics, *diags)


def fit_dr_learner(a: Arrays, *, flexible: bool = False, cv: int = 2, rng: Any = None,
                   model_propensity: Any = None, model_regression: Any = None):
    """Fit EconML's ``LinearDRLearner`` (a ``DRLearner`` with a linear final stage).

    The propensity model is regularised and calibrated (never ``C=inf``); the folds are those of
    ``a.fold`` when given (so that the learner's propensities are the cross-fitted ones the
    overlap population was decided on), else ``cv`` new ones. Returns the learner and
    its fold labels (its per-fold models are ``est.models_propensity[0]`` and
    ``est.models_regression[0]``).
    """
    from econml.dr import LinearDRLearner

    gen = resolve_rng(rng)
    seed = int(gen.integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    mt = propensity_model(model_propensity) if model_propensity is not None else mt
    fold, splits = _splits(a.t, cv, gen, a.fold)
    est = LinearDRLearner(model_regression=model_regression or my, model_propensity=mt,
                          discrete_outcome=a.binary_outcome, cv=splits, random_state=seed)
    xm, w = _w_and_x(a)
    est.fit(a.y, a.t, X=xm, W=w)
    return est, fold


def dr_learner(a: Arrays, *, trim: TrimRule = "auto", rng: Any = None, **kw: Any
               ) -> EffectEstimate:
    """ATE/ATT from EconML ``DRLearner`` (linear final model, cross-fitted nuisances).

    Units outside the overlap population of ``trim`` (Crump et al. when a weight would exceed 100, decided on
    cross-fitted propensities, or on ``a.e`` when given) are dropped before the fit. The overlap
    diagnostic is computed on the learner's *own* per-fold propensity models, on the units each
    one did not see. For the ATT without effect modifiers the ATT is computed from the learner's
    cross-fitted nuisances (``mu0``, ``e``) with its doubly robust ATT score; with modifiers it is
    the mean CATE over the treated.
    """
    gen = resolve_rng(rng)
    a, pop = _trimmed(a, trim, gen, kw.get("flexible", False))
    est, fold = fit_dr_learner(a, rng=gen, **kw)
    xm, w = _w_and_x(a)
    xw = np.hstack([v for v in (xm, w) if v is not None])
    e = _used_propensities(est.models_propensity[0], xw, fold, clip=est.min_propensity)
    diags = (*pop.diagnostics, *weight_diagnostics(
        e, a.t, fold, a.estimand, source="the DR learner's own per-fold propensity models"))
    if a.estimand == "ATT" and xm is None:
        mu0 = np.empty(len(a.y))
        zero = np.zeros((len(a.y), 1))
        for k, mdl in enumerate(est.models_regression[0]):
            m = fold == k
            z = np.hstack([xw[m], zero[m]])
            mu0[m] = mdl.predict_proba(z)[:, 1] if a.binary_outcome else mdl.predict(z)
        y, t = a.y, a.t
        p = t.mean()
        psi = (t * (y - mu0) - (1 - t) * e / (1 - e) * (y - mu0)) / p
        point = float(psi.mean())
        se = float(np.sqrt(np.var(psi - t * point / p, ddof=1) / len(y)))
        return _est(a, "DRLearner (ATT from its cross-fitted nuisances)", point, se,
                    diagnostics=diags)
    return _econml_ate(a, est, "DRLearner").with_diagnostics(*diags)


def difference_in_means(data: Any, treatment: str, outcome: str, *, cluster: str | None = None,
                        population: str = "all units in the data") -> EffectEstimate:
    """Difference in means from a frame, with HC1 or cluster-robust (CR1) standard errors.

    The right estimator for a randomised treatment (NSW, Thornton); under confounding it is the
    naive contrast the adjusted estimators are compared with.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [0, 0, 1, 1], "y": [1.0, 2.0, 3.0, 5.0]})
    >>> round(difference_in_means(df, "t", "y").estimate, 6)
    2.5
    """
    from causal.observational._data import binary_treatment, require_columns

    cols = [treatment, outcome] + ([cluster] if cluster else [])
    require_columns(data, cols)
    frame = data[cols].dropna()
    t = binary_treatment(frame, treatment)
    y = frame[outcome].to_numpy(float)
    design = np.column_stack([np.ones_like(t), t])
    if cluster:
        fit = _ols(y, design, "cluster", groups=np.asarray(pd_factorize(frame[cluster])))
        method = f"difference in means (SE clustered by {cluster})"
    else:
        fit = _ols(y, design)
        method = "difference in means (HC1)"
    a = Arrays(y, t, np.empty((len(y), 0)), population=population)
    return _est(a, method, fit.params[1], fit.bse[1], estimand="difference in means")


def pd_factorize(values: Any) -> np.ndarray:
    """Integer codes of ``values`` (cluster labels)."""
    import pandas as pd

    return pd.factorize(values)[0]
