"""Effect estimators on arrays: naive, regression adjustment, standardization, propensity
stratification, matching, IPW, AIPW, and the EconML learners (LinearDML, CausalForestDML, DRLearner).

Each function takes the outcome ``y``, the binary treatment ``t`` (0/1), the covariate matrix ``x``
and, where needed, the propensity ``e``, and returns a :class:`causal.results.EffectEstimate`.
They are the building blocks of :class:`causal.observational.ObservationalStudy`; call them
directly when you already hold arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from causal.results import EffectEstimate
from servicelab.errors import DesignError
from servicelab.random import resolve_rng

Z95 = float(stats.norm.ppf(0.975))


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


def _est(a: Arrays, method: str, est: float, se: float | None, n: int | None = None,
         estimand: str | None = None, ci: tuple[float, float] | None = None) -> EffectEstimate:
    if ci is None:
        ci = (est - Z95 * se, est + Z95 * se) if se is not None else (np.nan, np.nan)
    p = float(2 * stats.norm.sf(abs(est / se))) if se else None
    return EffectEstimate(estimand or a.estimand, a.population, method, float(est),
                          None if se is None else float(se), float(ci[0]), float(ci[1]),
                          pvalue=p, n=int(n if n is not None else len(a.y)))


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

    The interval is a nonparametric bootstrap (percentile) as in Hernán & Robins ch. 13.
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
    ci = (float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975)))
    return _est(a, "standardization (g-formula)", est, se, ci=ci)


def _need_e(a: Arrays) -> np.ndarray:
    if a.e is None:
        raise DesignError("this estimator needs propensity scores; fit them first")
    return a.e


def ipw(a: Arrays) -> EffectEstimate:
    """Hajek IPW (stabilised weights for the ATE, ``e/(1-e)`` for controls for the ATT).

    The estimate is the weighted least-squares slope of ``y`` on ``t``; its robust (HC1) SE treats
    the weights as known, which is conservative for an estimated propensity (Hernán & Robins ch. 12).
    """
    from causal.observational.propensity import ipw_weights

    w = ipw_weights(_need_e(a), a.t, a.estimand)
    fit = _ols(a.y, np.column_stack([np.ones_like(a.t), a.t]), weights=w)
    return _est(a, "IPW (Hajek, robust SE)", fit.params[1], fit.bse[1])


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


def _outcome_predictions(a: Arrays, model: Any, folds: int, gen: np.random.Generator
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted predictions of E[y | t=1, x] and E[y | t=0, x]."""
    mu1, mu0 = np.empty(len(a.y)), np.empty(len(a.y))
    splits = (
        [(np.arange(len(a.y)), np.arange(len(a.y)))] if folds < 2 else
        KFold(folds, shuffle=True, random_state=int(gen.integers(2**31))).split(a.x)
    )
    for train, test in splits:
        for arm, out in ((1, mu1), (0, mu0)):
            m = train[a.t[train] == arm]
            mdl = clone(model).fit(a.x[m], a.y[m])
            out[test] = (mdl.predict_proba(a.x[test])[:, 1] if is_classifier(mdl)
                         else mdl.predict(a.x[test]))
    return mu1, mu0


def aipw(a: Arrays, *, outcome_model: Any = None, folds: int = 0, rng: Any = None
         ) -> EffectEstimate:
    """Augmented IPW (doubly robust) with an influence-function standard error.

    ``outcome_model`` is any scikit-learn regressor (classifiers use ``predict_proba``); default
    linear regression, fitted per arm. ``folds >= 2`` cross-fits the outcome model.
    """
    e = np.clip(_need_e(a), 1e-6, 1 - 1e-6)
    model = outcome_model if outcome_model is not None else LinearRegression()
    mu1, mu0 = _outcome_predictions(a, model, folds, resolve_rng(rng))
    y, t = a.y, a.t
    if a.estimand == "ATT":
        p = t.mean()
        psi = (t * (y - mu0) - (1 - t) * e / (1 - e) * (y - mu0)) / p
        est = psi.mean()
        infl = psi - t * est / p
    else:
        psi = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
        est = psi.mean()
        infl = psi - est
    se = float(np.sqrt(np.var(infl, ddof=1) / len(y)))
    return _est(a, "AIPW (doubly robust)", est, se)


# -- EconML ----------------------------------------------------------------------------------
def _default_models(a: Arrays, flexible: bool, rng_int: int) -> tuple[Any, Any]:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    if flexible:
        my = (GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=rng_int)
              if a.binary_outcome else
              GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=rng_int))
        mt = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=rng_int)
    else:
        my = (make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=2000))
              if a.binary_outcome else LinearRegression())
        mt = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=2000))
    return my, mt


def _econml_ate(a: Arrays, est: Any, method: str) -> EffectEstimate:
    xm = a.modifiers if a.modifiers is not None and a.modifiers.shape[1] else None
    if xm is None:
        inf = est.ate_inference()
    else:
        pop = a.t == 1 if a.estimand == "ATT" else np.ones(len(a.t), bool)
        inf = est.ate_inference(X=xm[pop])
    point = float(np.ravel(inf.mean_point)[0])
    se = float(np.ravel(inf.stderr_mean)[0])
    lo, hi = (float(np.ravel(v)[0]) for v in inf.conf_int_mean(alpha=0.05))
    return _est(a, method, point, se, ci=(lo, hi))


def _w_and_x(a: Arrays) -> tuple[np.ndarray | None, np.ndarray | None]:
    xm = a.modifiers if a.modifiers is not None and a.modifiers.shape[1] else None
    w = a.x if a.x.shape[1] else None
    return xm, w


def fit_linear_dml(a: Arrays, *, flexible: bool = False, cv: int = 2, rng: Any = None,
                   model_y: Any = None, model_t: Any = None):
    """Fit EconML ``LinearDML`` (discrete treatment, classifiers through ``predict_proba``)."""
    from econml.dml import LinearDML

    seed = int(resolve_rng(rng).integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    est = LinearDML(model_y=model_y or my, model_t=model_t or mt, discrete_treatment=True,
                    discrete_outcome=a.binary_outcome, cv=cv, random_state=seed)
    xm, w = _w_and_x(a)
    est.fit(a.y, a.t, X=xm, W=w)
    return est


def linear_dml(a: Arrays, **kw: Any) -> EffectEstimate:
    """ATE/ATT from EconML ``LinearDML``."""
    return _econml_ate(a, fit_linear_dml(a, **kw), "LinearDML")


def fit_causal_forest(a: Arrays, *, n_estimators: int = 200, cv: int = 2, rng: Any = None,
                      flexible: bool = True, min_samples_leaf: int = 10):
    """Fit EconML ``CausalForestDML`` (needs effect modifiers; falls back to all covariates)."""
    from econml.dml import CausalForestDML

    seed = int(resolve_rng(rng).integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    xm, w = _w_and_x(a)
    if xm is None:
        xm, w = a.x, None
    n_est = max(4, n_estimators - n_estimators % 4)
    est = CausalForestDML(model_y=my, model_t=mt, discrete_treatment=True,
                          discrete_outcome=a.binary_outcome, cv=cv, n_estimators=n_est,
                          min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=1)
    est.fit(a.y, a.t, X=xm, W=w)
    return est, xm


def causal_forest(a: Arrays, **kw: Any) -> EffectEstimate:
    """ATE/ATT from EconML ``CausalForestDML``."""
    est, xm = fit_causal_forest(a, **kw)
    return _econml_ate(Arrays(a.y, a.t, a.x, a.e, xm, a.estimand, a.population,
                              a.binary_outcome), est, "CausalForestDML")


def fit_dr_learner(a: Arrays, *, flexible: bool = False, cv: int = 2, rng: Any = None):
    """Fit EconML's ``LinearDRLearner`` (a ``DRLearner`` with a linear final stage)."""
    from econml.dr import LinearDRLearner

    seed = int(resolve_rng(rng).integers(2**31))
    my, mt = _default_models(a, flexible, seed)
    est = LinearDRLearner(model_regression=my, model_propensity=mt,
                          discrete_outcome=a.binary_outcome, cv=cv, random_state=seed)
    xm, w = _w_and_x(a)
    est.fit(a.y, a.t, X=xm, W=w)
    return est


def dr_learner(a: Arrays, **kw: Any) -> EffectEstimate:
    """ATE/ATT from EconML ``DRLearner`` (linear final model, cross-fitted nuisances)."""
    return _econml_ate(a, fit_dr_learner(a, **kw), "DRLearner")


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
