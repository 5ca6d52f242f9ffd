"""Cox proportional hazards and accelerated failure time models (lifelines engines)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from lifelines.exceptions import ConvergenceError as LLConvergenceError
from lifelines.exceptions import ConvergenceWarning as LLConvergence
from scipy import stats

from causal.results import EffectEstimate
from causal.survival._core import check_survival_frame
from servicelab.errors import ConvergenceError, DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["AFT", "AFTResult", "CoxPH", "CoxResult"]


def _design(data: pd.DataFrame, duration: str, event: str, covariates: Sequence[str] | None,
            extra: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The model frame: numeric covariates, categorical ones one-hot coded (first level dropped)."""
    check_survival_frame(data, duration, event, extra)
    cov = ([c for c in data.columns if c not in (duration, event, *extra)]
           if covariates is None else list(covariates))
    check_survival_frame(data, duration, event, cov)
    parts = [data[[duration, event]].astype(float)]
    for c in cov:
        s = data[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            parts.append(s.astype(float).rename(c).to_frame())
        else:
            parts.append(pd.get_dummies(s, prefix=c, drop_first=True, dtype=float))
    parts.extend(data[[c]] for c in extra)
    frame = pd.concat(parts, axis=1)
    terms = [c for c in frame.columns if c not in (duration, event, *extra)]
    const = [c for c in terms if frame[c].nunique() < 2]
    if const:
        raise DataError(f"covariates {const} are constant: a survival model cannot estimate them; "
                        "drop them")
    if terms:
        X = frame[terms].to_numpy(float)
        rank = np.linalg.matrix_rank(X - X.mean(axis=0))
        if rank < len(terms):
            from causal.regression.models import _collinear

            Xc = X - X.mean(axis=0)
            bad = [terms[j] for j in _collinear(Xc)]
            raise DataError(f"covariates are perfectly collinear: {bad} are combinations of the "
                            "others; drop them")
    return frame, terms


@dataclass(frozen=True, eq=False, repr=False)
class CoxResult(ResultMixin):
    """Cox model: ``to_frame()`` indexed by term with ``coef`` (log hazard ratio), ``se``,
    ``hazard_ratio``, ``ci_low``/``ci_high`` (of the hazard ratio) and ``pvalue``.
    """

    duration: str
    event: str
    table: pd.DataFrame
    ph_test: pd.DataFrame
    concordance: float
    n: int
    events: int
    se_type: str
    ci_level: float
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table (a copy)."""
        return self.table.copy()

    def hazard_ratio(self, term: str, *, population: str = "rows used in the fit") -> EffectEstimate:
        """exp(coef) with the interval transformed from the log scale."""
        if term not in self.table.index:
            raise DataError(f"term {term!r} not in the model; terms {list(self.table.index)}")
        r = self.table.loc[term]
        e = EffectEstimate.from_se("hazard ratio", population, f"Cox PH ({self.se_type})",
                                   float(r["coef"]), float(r["se"]), ci_level=self.ci_level,
                                   n=self.n, diagnostics=self.diagnostics)
        return replace(e, estimate=float(np.exp(e.estimate)), ci_low=float(np.exp(e.ci_low)),
                       ci_high=float(np.exp(e.ci_high)))

    def summary(self) -> Summary:
        """Coefficients and the proportional-hazards test."""
        return Summary(f"Cox proportional hazards: {self.duration}", self.table.reset_index(),
                       info={"n": self.n, "events": self.events, "standard errors": self.se_type,
                             "concordance": self.concordance},
                       diagnostics=self.diagnostics,
                       notes=[("coef = log hazard ratio; a hazard ratio below 1 means the event "
                              "(resolution) comes sooner. Ties: Efron."),
                              "PH test: Grambsch-Therneau on scaled Schoenfeld residuals (rank time)."])

    def plot(self, ax: Any = None):
        """Hazard ratios with intervals (log axis)."""
        import matplotlib.pyplot as plt

        t = self.table
        ax = ax or plt.subplots(figsize=(5, 0.4 * len(t) + 1.2))[1]
        y = np.arange(len(t))
        hr = t["hazard_ratio"].to_numpy(float)
        ax.errorbar(hr, y, xerr=np.vstack([hr - t["ci_low"].to_numpy(float),
                                           t["ci_high"].to_numpy(float) - hr]), fmt="o", capsize=2)
        ax.axvline(1, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y, [str(i) for i in t.index])
        ax.set_xlabel("hazard ratio")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"duration": self.duration, "event": self.event, "n": self.n,
                         "events": self.events, "se_type": self.se_type, "ci_level": self.ci_level,
                         "concordance": self.concordance,
                         "coefficients": self.table.reset_index().to_dict(orient="records"),
                         "ph_test": self.ph_test.reset_index().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class CoxPH:
    """Cox proportional-hazards model (lifelines ``CoxPHFitter``, Efron ties).

    Parameters
    ----------
    duration, event : str
        Time (>= 0, ties allowed) and 0/1 event indicator.
    covariates : list of str, optional
        ``None`` means every other column (except ``cluster``, ``strata``, ``weights``).
        Text columns are one-hot coded (first level dropped).
    cluster : str, optional
        Cluster-robust (sandwich) SEs by this column (e.g. the randomised customer).
    robust : bool
        Sandwich SEs without clusters.
    strata, weights : str, optional
        Stratified baseline hazards; case weights (then SEs are robust).
    ci_level : float

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> r = CoxPH(duration="week", event="arrest").fit(load_rossi())
    >>> round(float(r.to_frame().loc["fin", "coef"]), 3)
    -0.379
    """

    duration: str
    event: str
    covariates: Sequence[str] | None = None
    cluster: str | None = None
    robust: bool = False
    strata: str | None = None
    weights: str | None = None
    ci_level: float = 0.95
    penalizer: float = 0.0

    def fit(self, data: pd.DataFrame) -> CoxResult:
        """Fit the model and run the proportional-hazards test."""
        from lifelines import CoxPHFitter
        from lifelines.statistics import proportional_hazard_test

        extra = [c for c in (self.cluster, self.strata, self.weights) if c]
        frame, terms = _design(data, self.duration, self.event, self.covariates, extra)
        if not terms:
            raise DesignError("CoxPH needs at least one covariate")
        if self.cluster and data[self.cluster].nunique() < 2:
            raise DataError(f"cluster variable {self.cluster!r} has a single cluster")
        if self.weights and ((data[self.weights] < 0).any() or not (data[self.weights] > 0).any()):
            raise DataError(f"weights {self.weights!r} must be >= 0 and not all zero")
        events = int(frame[self.event].sum())
        if events == 0:
            raise DataError(f"no events in {self.event!r}: a Cox model needs observed events")
        cph = CoxPHFitter(alpha=1 - self.ci_level, penalizer=self.penalizer)
        robust = self.robust or self.cluster is not None or self.weights is not None
        try:
            with warnings.catch_warnings():
                # lifelines signals non-convergence with its ConvergenceWarning: make it an error
                warnings.simplefilter("error", LLConvergence)
                cph.fit(frame, self.duration, self.event, cluster_col=self.cluster, robust=robust,
                        strata=self.strata, weights_col=self.weights)
        except (LLConvergence, LLConvergenceError, np.linalg.LinAlgError) as exc:
            raise ConvergenceError(f"Cox model did not converge ({exc}); look for a covariate that "
                                   "separates events from censoring, or set a small penalizer") from exc
        se_type = (f"cluster-robust by {self.cluster}" if self.cluster else
                   "robust (sandwich)" if robust else "model-based")
        s = cph.summary
        q = float(stats.norm.ppf(0.5 + self.ci_level / 2))
        b, se = s["coef"].to_numpy(float), s["se(coef)"].to_numpy(float)
        table = pd.DataFrame({"coef": b, "se": se, "hazard_ratio": np.exp(b),
                              "ci_low": np.exp(b - q * se), "ci_high": np.exp(b + q * se),
                              "pvalue": 2 * stats.norm.sf(np.abs(b / se))},
                             index=pd.Index([str(i) for i in s.index], name="term"))
        diags: list[Diagnostic] = []
        fit_frame = frame  # lifelines needs the cluster and weight columns it was fitted with
        if self.strata:
            ph = pd.DataFrame(columns=["stat", "pvalue"])
        else:
            test = proportional_hazard_test(cph, fit_frame, time_transform="rank")
            ts = test.summary  # labelled rows (the raw arrays are in another order)
            ph = pd.DataFrame({"stat": ts["test_statistic"].to_numpy(float),
                               "pvalue": ts["p"].to_numpy(float)},
                              index=pd.Index([str(i) for i in ts.index], name="term"))
            bad = ph[ph["pvalue"] < 0.01]
            diags.append(Diagnostic("proportional_hazards", "warning" if len(bad) else "ok",
                                    (f"proportional hazards rejected (p < 0.01) for {list(bad.index)}: "
                                     "the hazard ratio changes over time; stratify on it, report RMST "
                                     "differences, or use an AFT model") if len(bad) else
                                    f"no evidence against proportional hazards (min p = "
                                    f"{ph['pvalue'].min():.3f})", float(ph["pvalue"].min())))
        if self.cluster:
            g = int(data[self.cluster].nunique())
            if g < 20:
                diags.append(Diagnostic("few_clusters", "warning", f"only {g} clusters: sandwich "
                                        "SEs are too small", g))
        return CoxResult(self.duration, self.event, table, ph, float(cph.concordance_index_),
                         len(frame), events, se_type, self.ci_level, tuple(diags))


@dataclass(frozen=True, eq=False, repr=False)
class AFTResult(ResultMixin):
    """AFT model: ``to_frame()`` indexed by term with ``coef`` (log time ratio), ``se``,
    ``time_ratio`` and its interval.
    """

    distribution: str
    duration: str
    table: pd.DataFrame
    ancillary: pd.DataFrame
    n: int
    events: int
    log_likelihood: float
    aic: float
    se_type: str
    ci_level: float
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Location coefficients (a copy)."""
        return self.table.copy()

    def time_ratio(self, term: str, *, population: str = "rows used in the fit") -> EffectEstimate:
        """exp(coef): the factor by which ``term`` stretches every quantile of the time (the
        median ratio).
        """
        if term not in self.table.index:
            raise DataError(f"term {term!r} not in the model; terms {list(self.table.index)}")
        r = self.table.loc[term]
        e = EffectEstimate.from_se("time (median) ratio", population,
                                   f"{self.distribution} AFT ({self.se_type})", float(r["coef"]),
                                   float(r["se"]), ci_level=self.ci_level, n=self.n,
                                   diagnostics=self.diagnostics)
        return replace(e, estimate=float(np.exp(e.estimate)), ci_low=float(np.exp(e.ci_low)),
                       ci_high=float(np.exp(e.ci_high)))

    def summary(self) -> Summary:
        """Time ratios and fit."""
        return Summary(f"{self.distribution} AFT: {self.duration}", self.table.reset_index(),
                       info={"n": self.n, "events": self.events, "log-likelihood": self.log_likelihood,
                             "AIC": self.aic, "standard errors": self.se_type},
                       diagnostics=self.diagnostics,
                       notes=[("coef = log time ratio: exp(coef) multiplies every quantile of the time "
                              "to event (a value below 1 means faster).")])

    def plot(self, ax: Any = None):
        """Time ratios with intervals (log axis)."""
        import matplotlib.pyplot as plt

        t = self.table.drop(index=[i for i in self.table.index if i == "Intercept"])
        ax = ax or plt.subplots(figsize=(5, 0.4 * len(t) + 1.2))[1]
        y = np.arange(len(t))
        tr = t["time_ratio"].to_numpy(float)
        ax.errorbar(tr, y, xerr=np.vstack([tr - t["ci_low"].to_numpy(float),
                                           t["ci_high"].to_numpy(float) - tr]), fmt="o", capsize=2)
        ax.axvline(1, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y, [str(i) for i in t.index])
        ax.set_xlabel("time ratio")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"distribution": self.distribution, "duration": self.duration, "n": self.n,
                         "events": self.events, "log_likelihood": self.log_likelihood,
                         "aic": self.aic, "ci_level": self.ci_level,
                         "coefficients": self.table.reset_index().to_dict(orient="records"),
                         "ancillary": self.ancillary.reset_index().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class AFT:
    """Weibull or log-normal accelerated failure time model (lifelines).

    ``log T = x'beta + sigma * eps`` with extreme-value (Weibull) or normal (log-normal) errors;
    ``exp(beta_j)`` is a time ratio (the same for every quantile, so also the median ratio).

    Parameters
    ----------
    duration, event : str
    covariates : list of str, optional
        ``None`` means every other column.
    distribution : {"weibull", "lognormal"}
    robust : bool
        Sandwich SEs (slow in lifelines: about 10 s per thousand rows; lifelines' AFT fitters have
        no cluster option; use :class:`CoxPH` with
        ``cluster=`` or :class:`SurvivalEffect`'s cluster bootstrap for clustered data).
    ci_level : float

    Examples
    --------
    >>> from lifelines.datasets import load_rossi
    >>> r = AFT("week", "arrest", ["fin", "age"], distribution="lognormal").fit(load_rossi())
    >>> bool(r.time_ratio("fin").estimate > 1)  # financial aid delays re-arrest
    True
    """

    duration: str
    event: str
    covariates: Sequence[str] | None = None
    distribution: Literal["weibull", "lognormal"] = "weibull"
    robust: bool = False
    ci_level: float = 0.95

    def fit(self, data: pd.DataFrame) -> AFTResult:
        """Fit by maximum likelihood."""
        from lifelines import LogNormalAFTFitter, WeibullAFTFitter

        if self.distribution not in ("weibull", "lognormal"):
            raise DesignError(f"distribution must be 'weibull' or 'lognormal'; got {self.distribution!r}")
        frame, _terms = _design(data, self.duration, self.event, self.covariates, [])
        if (frame[self.duration] <= 0).any():
            raise DataError(f"{self.duration!r} has zero durations: AFT models take log time; add a "
                            "small offset only if zero means 'within the first second' and say so")
        events = int(frame[self.event].sum())
        if events == 0:
            raise DataError(f"no events in {self.event!r}")
        cls = WeibullAFTFitter if self.distribution == "weibull" else LogNormalAFTFitter
        m = cls(alpha=1 - self.ci_level)
        robust = self.robust
        try:
            with warnings.catch_warnings():
                # lifelines signals non-convergence with its ConvergenceWarning: make it an error
                warnings.simplefilter("error", LLConvergence)
                m.fit(frame, self.duration, self.event, robust=robust)
        except (LLConvergence, LLConvergenceError, np.linalg.LinAlgError) as exc:
            raise ConvergenceError(f"{self.distribution} AFT did not converge ({exc})") from exc
        s = m.summary
        loc = "lambda_" if self.distribution == "weibull" else "mu_"
        q = float(stats.norm.ppf(0.5 + self.ci_level / 2))
        main = s.loc[loc]
        b, se = main["coef"].to_numpy(float), main["se(coef)"].to_numpy(float)
        idx = pd.Index(["Intercept" if i == "Intercept" else str(i) for i in main.index], name="term")
        table = pd.DataFrame({"coef": b, "se": se, "time_ratio": np.exp(b),
                              "ci_low": np.exp(b - q * se), "ci_high": np.exp(b + q * se),
                              "pvalue": 2 * stats.norm.sf(np.abs(b / se))}, index=idx)
        anc = s.drop(index=loc, level=0)[["coef", "se(coef)"]].rename(columns={"se(coef)": "se"})
        anc.index = pd.Index([f"{a}:{b_}" for a, b_ in anc.index], name="parameter")
        se_type = "robust (sandwich)" if robust else "model-based"
        return AFTResult(self.distribution, self.duration, table, anc, len(frame), events,
                         float(m.log_likelihood_), float(m.AIC_), se_type, self.ci_level)
