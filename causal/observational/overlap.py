"""Regularised, calibrated, cross-fitted propensities; the overlap population; weight checks.

Every weighting estimator of :mod:`causal.observational` (IPW, AIPW, the DR learner, the causal
forest) follows the same three steps:

1. **Propensity.** A regularised and calibrated model, fitted out of fold
   (:func:`crossfit_propensity`): by default an L2 logistic regression on standardised covariates
   whose strength ``C`` is chosen by cross-validated log loss (a proper scoring rule, so the
   probabilities are calibrated), or gradient boosting with Platt calibration. An unpenalised
   logistic model (``C=inf``) is refused: under near-separation it drives propensities to 1e-6
   and IP weights to 1e5, which is how the DR learner once reported an ATT of 3,166 on a
   benchmark whose truth is 4.0.
2. **Overlap population.** Units without comparable units in the other arm are dropped by a
   stated rule (:func:`overlap_population`): by default the Crump, Hotz, Imbens & Mitnik (2009)
   optimal rule, which keeps ``alpha < e < 1 - alpha`` (``alpha = 0.1`` in typical designs, and no
   trimming at all when overlap is good). The estimand then refers to that population, and the
   result says so ("ATE on the overlap population 0.1<e<0.9, 700/750 units").
3. **Weight check** (:func:`weight_diagnostics`), on the propensities the estimator actually
   used, fold by fold: an IP weight above 100 (a propensity below 0.01 or above 0.99 where it
   enters a weight) is a ``fail``; an effective sample size below 30% of the arm is a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold

from causal.observational.propensity import crump_threshold
from servicelab.errors import ConvergenceError, DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic

#: An IP weight above this is a ``fail``: one unit would stand for more than 100.
MAX_WEIGHT = 100.0
#: Effective sample size below this share of the arm is a warning.
MIN_ESS_RATIO = 0.3

TrimRule = float | Literal["crump", "auto"] | None


def propensity_model(kind: str | Any = "logistic", *, max_iter: int = 1000,
                     random_state: int = 0) -> Any:
    """A regularised, calibrated propensity classifier.

    Parameters
    ----------
    kind : {"logistic", "gbm"} or a scikit-learn classifier
        ``"logistic"``: standardised covariates, L2 logistic with ``C`` chosen among 10 values
        in [1e-3, 1e2] by 3-fold cross-validated log loss. ``"gbm"``: histogram gradient
        boosting (shallow, shrunk) with sigmoid (Platt) calibration on 3 folds. A classifier
        passed in is used as given, after :func:`check_propensity_model`.
    max_iter : int
        Iteration limit of the logistic solver.
    random_state : int
        Seed of the boosting model.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 2)); t = (rng.random(300) < 1 / (1 + np.exp(-x[:, 0]))) * 1
    >>> e = propensity_model().fit(x, t).predict_proba(x)[:, 1]
    >>> bool(0 < e.min() < e.max() < 1)
    True
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    if not isinstance(kind, str):
        check_propensity_model(kind)
        return kind
    if kind == "logistic":
        return RegularisedLogit(max_iter=max_iter)
    if kind == "gbm":
        gbm = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_depth=3,
                                             min_samples_leaf=20, random_state=random_state)
        return CalibratedClassifierCV(gbm, method="sigmoid", cv=3)
    raise DesignError(f"propensity model must be 'logistic', 'gbm' or a scikit-learn classifier; "
                      f"got {kind!r}")


class RegularisedLogit(ClassifierMixin, BaseEstimator):
    """Standardised covariates, L2 logistic regression, ``C`` by 3-fold cross-validated log loss.

    One estimator (not a ``LogisticRegressionCV`` that EconML would re-tune with its own folds),
    so that each cross-fitting fold selects its own ``C`` on its training units only.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2)); t = (rng.random(200) < 1 / (1 + np.exp(-x[:, 0]))) * 1
    >>> m = RegularisedLogit().fit(x, t)
    >>> bool(np.isfinite(m.C_)), m.predict_proba(x).shape
    (True, (200, 2))
    """

    def __init__(self, Cs: int = 10, max_iter: int = 1000) -> None:
        self.Cs = Cs
        self.max_iter = max_iter

    def fit(self, x: np.ndarray, t: np.ndarray) -> RegularisedLogit:
        """Scale, choose ``C`` by cross-validated log loss, refit."""
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = StandardScaler().fit(x)
        self.model_ = LogisticRegressionCV(
            Cs=np.logspace(-3, 2, self.Cs), cv=3, scoring="neg_log_loss", l1_ratios=(0.0,),
            solver="newton-cholesky", max_iter=self.max_iter, use_legacy_attributes=False,
        ).fit(self.scaler_.transform(x), t)
        self.classes_ = self.model_.classes_
        self.C_ = float(np.ravel(self.model_.C_)[0])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities."""
        return self.model_.predict_proba(self.scaler_.transform(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most likely class."""
        return self.model_.predict(self.scaler_.transform(x))


def check_propensity_model(model: Any) -> None:
    """Refuse a classifier without ``predict_proba`` or an unpenalised logistic regression.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> check_propensity_model(LogisticRegression(C=1.0))
    >>> check_propensity_model(LogisticRegression(C=np.inf))
    Traceback (most recent call last):
    ...
    servicelab.errors.DesignError: the propensity model LogisticRegression is unpenalised ...
    """
    if not hasattr(model, "predict_proba"):
        raise DesignError(f"the propensity model {type(model).__name__} has no predict_proba; "
                          "pass a classifier (e.g. LogisticRegression(C=1.0))")
    steps = getattr(model, "steps", None)
    last = steps[-1][1] if steps else model
    params = last.get_params() if hasattr(last, "get_params") else {}
    c = params.get("C")
    unpenalised = ("penalty" in params and params["penalty"] is None) or (
        c is not None and not np.isfinite(c))
    if type(last).__name__ == "LogisticRegression" and unpenalised:
        raise DesignError(
            f"the propensity model {type(last).__name__} is unpenalised (C=inf): under "
            "near-separation it gives propensities near 0 or 1 and IP weights in the 1e5s. "
            "Use a finite C (e.g. 1.0), LogisticRegressionCV, or propensity='logistic'")


@dataclass(frozen=True)
class CrossFitPropensity:
    """Out-of-fold propensities: ``scores[i]`` comes from a model that never saw unit ``i``."""

    scores: np.ndarray
    fold: np.ndarray
    model: str
    diagnostics: tuple[Diagnostic, ...] = ()


def fold_ids(t: np.ndarray, folds: int, rng: RNGLike = None) -> np.ndarray:
    """Stratified fold labels ``0..folds-1`` (each fold holds both arms)."""
    gen = resolve_rng(rng)
    if folds < 2:
        raise DesignError(f"folds must be at least 2 for cross-fitting; got {folds}")
    skf = StratifiedKFold(folds, shuffle=True, random_state=int(gen.integers(2**31)))
    fold = np.empty(len(t), dtype=int)
    for k, (_, test) in enumerate(skf.split(np.zeros(len(t)), t)):
        fold[test] = k
    return fold


def crossfit_propensity(x: np.ndarray, t: np.ndarray, *, model: str | Any = "logistic",
                        folds: int = 5, fold: np.ndarray | None = None, max_iter: int = 1000,
                        on_fail: Literal["raise", "diagnose"] = "raise",
                        rng: RNGLike = None) -> CrossFitPropensity:
    """Cross-fitted propensities from a regularised, calibrated model (see :func:`propensity_model`).

    Parameters
    ----------
    x, t : ndarray
        Covariates (numeric) and the binary treatment.
    model : {"logistic", "gbm"} or classifier
    folds : int
        Number of folds (ignored when ``fold`` is given); ``1`` fits in sample (the textbook
        analysis, e.g. to reproduce a published IPW number; not cross-fitted).
    fold : ndarray of int, optional
        Fold labels to use (so that outcome and propensity models share their folds).
    on_fail : {"raise", "diagnose"}
        A solver that stops before converging raises :class:`ConvergenceError`, or gives a
        ``fail`` diagnostic.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(400, 3)); t = (rng.random(400) < 1 / (1 + np.exp(-x[:, 0]))) * 1.0
    >>> cf = crossfit_propensity(x, t, rng=0)
    >>> cf.scores.shape, sorted(set(cf.fold.tolist()))
    ((400,), [0, 1, 2, 3, 4])
    """
    gen = resolve_rng(rng)
    seed = int(gen.integers(2**31))
    if fold is None:
        fold = np.zeros(len(t), int) if folds == 1 else fold_ids(t, folds, gen)
    fold = np.asarray(fold, int)
    base = propensity_model(model, max_iter=max_iter, random_state=seed)
    xx = x if x.shape[1] else np.zeros((len(t), 1))
    scores = np.empty(len(t))
    caught_any = False
    in_sample = len(np.unique(fold)) == 1
    for k in np.unique(fold):
        tr, te = (fold == k, fold == k) if in_sample else (fold != k, fold == k)
        if len(np.unique(t[tr])) < 2:
            raise DataError(f"fold {k}: the training folds hold one treatment arm only; "
                            "use fewer folds")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fitted = clone(base).fit(xx[tr], t[tr])
        caught_any |= any(issubclass(w.category, ConvergenceWarning) for w in caught)
        scores[te] = fitted.predict_proba(xx[te])[:, 1]
    name = model if isinstance(model, str) else type(model).__name__
    label = {"logistic": "L2 logistic, C by cross-validated log loss, scaled covariates",
             "gbm": "gradient boosting with sigmoid calibration"}.get(name, name)
    if caught_any:
        msg = (f"propensity model ({label}) did not converge in {max_iter} iterations in at least "
               "one fold; IPW/AIPW numbers are unreliable. Raise max_iter or simplify the model")
        if on_fail == "raise":
            raise ConvergenceError(msg)
        diag = Diagnostic("propensity_convergence", "fail", msg)
    else:
        diag = Diagnostic("propensity_convergence", "ok",
                          f"propensity model ({label}) converged in each of "
                          f"{len(np.unique(fold))} folds (out-of-fold scores)" if not in_sample
                          else f"propensity model ({label}) converged (in-sample scores, "
                          "not cross-fitted)")
    return CrossFitPropensity(scores, fold, label, (diag,))


@dataclass(frozen=True)
class OverlapPopulation:
    """Units kept by a trimming rule, the threshold and the population's name."""

    keep: np.ndarray
    alpha: float
    rule: str
    label: str
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def trimmed(self) -> bool:
        """Whether any unit was dropped."""
        return bool((~self.keep).any())


def overlap_population(e: np.ndarray, t: np.ndarray, trim: TrimRule = "auto",
                       estimand: str = "ATE", population: str = "all units in the data"
                       ) -> OverlapPopulation:
    """Keep the units with comparable units in the other arm, by a stated rule.

    ``trim="auto"`` (default): keep everyone when no IP weight exceeds :data:`MAX_WEIGHT` (100),
    else apply the Crump rule; ``trim="crump"``: the Crump et al. (2009) optimal threshold
    ``alpha`` (0 when overlap is good); a float: that ``alpha``; ``None``: keep all. For the ATE the rule keeps
    ``alpha <= e <= 1 - alpha``. For the ATT only treated units enter as they are, so only the
    upper side is trimmed (``e <= 1 - alpha``: treated units with no comparable controls, and
    controls that would get a weight above ``(1 - alpha) / alpha``).

    Examples
    --------
    >>> e = np.array([0.001, 0.2, 0.5, 0.7, 0.999]); t = np.array([1, 0, 1, 0, 0])
    >>> pop = overlap_population(e, t, 0.1)
    >>> pop.keep.tolist(), pop.label
    ([False, True, True, True, False], 'all units in the data; overlap population 0.1<=e<=0.9, 3/5 units')
    """
    if trim is None or (not isinstance(trim, str) and float(trim) == 0):
        return OverlapPopulation(np.ones(len(e), bool), 0.0, "none", population)
    if isinstance(trim, str) and trim not in ("crump", "auto"):
        raise DesignError(f"trim must be a number in [0, 0.5), 'crump', 'auto' or None; "
                          f"got {trim!r}")
    if trim == "auto":
        wmax = float(ip_weights(np.clip(e, 1e-12, 1 - 1e-12), t, estimand).max())
        if wmax <= MAX_WEIGHT:
            return OverlapPopulation(np.ones(len(e), bool), 0.0, "auto: none needed", population)
        trim = "crump"
    alpha = crump_threshold(e) if trim == "crump" else float(trim)
    if not 0 <= alpha < 0.5:
        raise DesignError(f"trim must be in [0, 0.5) or 'crump'; got {trim!r}")
    rule = f"Crump et al. (2009), alpha={alpha:.3g}" if trim == "crump" else f"alpha={alpha:.3g}"
    if estimand == "ATT":
        keep = e <= 1 - alpha
        rng_txt = f"e<={1 - alpha:.3g}"
    else:
        keep = (e >= alpha) & (e <= 1 - alpha)
        rng_txt = f"{alpha:.3g}<=e<={1 - alpha:.3g}"
    if not keep.any() or len(np.unique(t[keep])) < 2:
        raise DataError(f"the overlap rule ({rule}) leaves only one treatment arm: there is no "
                        "overlap; restrict the population to comparable units")
    n_keep, n = int(keep.sum()), len(e)
    if n_keep == n:
        return OverlapPopulation(keep, alpha, rule, population)
    label = f"{population}; overlap population {rng_txt}, {n_keep}/{n} units"
    share = n_keep / n
    diag = Diagnostic(
        "trimming", "ok" if share > 0.9 else "warning",
        f"kept {n_keep} of {n} units ({rule}, {rng_txt}); the {estimand} refers to this "
        "overlap population, not to all units" + ("" if share > 0.9 else
                                                  ": a large part of the data has no comparable "
                                                  "units in the other arm"), share)
    return OverlapPopulation(keep, alpha, rule, label, (diag,))


def ip_weights(e: np.ndarray, t: np.ndarray, estimand: str = "ATE") -> np.ndarray:
    """Unnormalised IP weights: ``1/e`` and ``1/(1-e)`` (ATE), or ``1`` and ``e/(1-e)`` (ATT)."""
    if estimand == "ATT":
        return np.where(t == 1, 1.0, e / (1 - e))
    return np.where(t == 1, 1 / e, 1 / (1 - e))


def weight_diagnostics(e: np.ndarray, t: np.ndarray, fold: np.ndarray | None = None,
                       estimand: str = "ATE", *, source: str = "out-of-fold propensities"
                       ) -> tuple[Diagnostic, ...]:
    """Overlap and effective-sample-size checks on the propensities an estimator used.

    Computed fold by fold (``fold`` labels; one fold when ``None``). The ``overlap`` check fails
    when any IP weight exceeds :data:`MAX_WEIGHT` (100) in any fold, and names the worst fold, its
    smallest/largest propensity and its largest weight. The ``effective_sample_size`` check warns
    when the Kish ESS of an arm falls below 30% of its size.

    Examples
    --------
    >>> e = np.array([0.002, 0.3, 0.5, 0.6]); t = np.array([1, 0, 1, 0])
    >>> weight_diagnostics(e, t)[0].status
    'fail'
    """
    e = np.asarray(e, float)
    fold = np.zeros(len(e), int) if fold is None else np.asarray(fold, int)
    worst: tuple[float, int, float, float] = (-np.inf, 0, np.nan, np.nan)
    ess_ratio = np.inf
    n_folds = len(np.unique(fold))
    for k in np.unique(fold):
        m = fold == k
        ek, tk = e[m], t[m]
        w = ip_weights(np.clip(ek, 1e-12, 1 - 1e-12), tk, estimand)
        if w.max() > worst[0]:
            worst = (float(w.max()), int(k), float(ek.min()), float(ek.max()))
        for arm in (0, 1):
            wa = w[tk == arm]
            if len(wa) and not (estimand == "ATT" and arm == 1):
                ess_ratio = min(ess_ratio, float(wa.sum() ** 2 / np.sum(wa**2)) / len(wa))
    wmax, k, emin, emax = worst
    where = f"fold {k + 1} of {n_folds}" if n_folds > 1 else "the data"
    ok = wmax <= MAX_WEIGHT
    overlap = Diagnostic(
        "overlap", "ok" if ok else "fail",
        f"largest IP weight {wmax:.3g} ({where}; propensities {emin:.2g} to {emax:.2g}, {source})"
        + ("" if ok else f" exceeds {MAX_WEIGHT:g}: a few units carry the estimate, which is not "
           "trustworthy. Trim (trim='crump' or 0.1) and report the overlap population, or use "
           "a regularised propensity model"), wmax)
    ess_ok = ess_ratio >= MIN_ESS_RATIO
    ess = Diagnostic(
        "effective_sample_size", "ok" if ess_ok else "warning",
        f"smallest IP-weighted effective sample size is {ess_ratio:.0%} of its arm ({source})"
        + ("" if ess_ok else "; a few large weights dominate: trim or narrow the population"),
        ess_ratio)
    return (overlap, ess)
