"""Instrumental variables with covariates: 2SLS with controls, weak-IV-robust inference, OrthoIV
and DMLIV.

DoWhy's IV estimator ignores covariates (0.186 instead of 0.124 on Card's data, GUIDE §4), so the
instrument must be valid *given the controls* and the controls must enter both stages.

:class:`IVStudy` reports, for one endogenous treatment and one or more instruments:

- the 2SLS estimate with conventional, robust (HC1) or cluster-robust (CR1) standard errors,
  and the same estimate under the other SE types (:meth:`IVResult.se_table`);
- an OLS row (what ignoring the endogeneity gives);
- the first stage: each instrument's coefficient, partial R-squared and F, and the joint F
  (Kleibergen-Paap Wald F under robust/cluster SEs, Cragg-Donald F under conventional ones: for
  one endogenous regressor both are the first-stage Wald statistic over ``k``). A joint F below
  10 is flagged loudly and with a :class:`WeakInstrumentWarning`;
- the over-identification tests (Sargan; Hansen's J under robust/cluster SEs) with two or more
  instruments;
- the Anderson-Rubin confidence set, valid however weak the instruments, which may be unbounded;
- EconML's OrthoIV (with its SE) and DMLIV (point estimate only: EconML gives it no analytic SE).

The spec is outcome-first, like the quasi-experimental specs and :mod:`causal.regression`:
``IVStudy(outcome=..., treatment=..., instruments=[...])``. Positional arguments keep their old
meaning ``(treatment, outcome, instrument)`` for now, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from causal.observational._data import numeric_matrix, require_columns
from causal.observational.iv_inference import (
    SE_TYPES,
    ARConfidenceSet,
    IVDesign,
    OverIdTest,
    anderson_rubin_set,
    first_stage_table,
    hansen_j,
    ols_fit,
    sargan,
    tsls_fit,
)
from causal.results import EffectEstimate
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

METHODS: tuple[str, ...] = ("2sls", "orthoiv", "dmliv")
_SE_LABEL = {"conventional": "conventional", "robust": "HC1", "cluster": "CR1"}


class WeakInstrumentWarning(UserWarning):
    """The first-stage F statistic is below the weak-instrument threshold (10, Staiger & Stock)."""


class IVDeprecationWarning(DeprecationWarning):
    """A deprecated way of calling :class:`IVStudy` (positional, treatment-first arguments)."""


def first_stage_f(d: np.ndarray, z: np.ndarray, w: np.ndarray) -> float:
    """Robust (HC1) Wald F of the excluded instruments ``z`` in ``d ~ 1 + z + w``.

    Examples
    --------
    >>> rng = np.random.default_rng(0); z = rng.normal(size=(500, 1))
    >>> first_stage_f(z[:, 0] + rng.normal(size=500), z, np.empty((500, 0))) > 100
    True
    """
    des = IVDesign.build(np.zeros(len(d)), d, z, w)
    return float(first_stage_table(des, "robust", [f"z{j}" for j in range(des.k)])[1]["f"])


def two_stage_least_squares(y: np.ndarray, d: np.ndarray, z: np.ndarray, w: np.ndarray,
                            cluster: np.ndarray | None = None) -> tuple[float, float]:
    """2SLS of ``y`` on endogenous ``d`` with controls ``w`` and instruments ``z``.

    Returns (coefficient on d, HC1 standard error), or the CR1 standard error when ``cluster``
    labels are given.

    Examples
    --------
    >>> rng = np.random.default_rng(1); z = rng.normal(size=(800, 1)); u = rng.normal(size=800)
    >>> d = z[:, 0] + u; y = 2 * d + u + rng.normal(size=800)
    >>> round(two_stage_least_squares(y, d, z, np.empty((800, 0)))[0], 1)
    2.0
    """
    des = IVDesign.build(y, d, z, w, cluster)
    b, se, _ = tsls_fit(des, "robust" if cluster is None else "cluster")
    return b, se


@dataclass(frozen=True, eq=False, repr=False)
class IVResult(ResultMixin):
    """IV estimates, the OLS comparison, the first stage, over-identification and the AR set.

    Attributes
    ----------
    estimates : tuple of EffectEstimate
        One LATE row per requested method (2SLS, OrthoIV, DMLIV), each labelled with what ran.
    ols : EffectEstimate or None
        OLS of the outcome on the treatment and controls (biased under confounding), same SEs.
    first_stage : pandas.DataFrame
        One row per instrument plus ``"joint"``: coefficient, SE, p-value, partial R^2, F.
    first_stage_f : float
        The joint first-stage F with the chosen SE type (the weak-instrument diagnostic's value).
    overid : tuple of OverIdTest
        Sargan and (robust/cluster SEs) Hansen J; empty when exactly identified.
    anderson_rubin : ARConfidenceSet
        Weak-instrument-robust confidence set for the effect.
    se_frame : pandas.DataFrame
        The 2SLS estimate under each SE type.
    """

    outcome: str
    treatment: str
    instruments: tuple[str, ...]
    covariates: tuple[str, ...]
    population: str
    se_type: str
    ci_level: float
    first_stage_f: float
    estimates: tuple[EffectEstimate, ...]
    ols: EffectEstimate | None
    first_stage: pd.DataFrame
    first_stage_stats: dict[str, float]
    overid: tuple[OverIdTest, ...]
    anderson_rubin: ARConfidenceSet
    se_frame: pd.DataFrame
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def instrument(self) -> str:
        """The instruments as one label (the old single-instrument attribute)."""
        return ", ".join(self.instruments)

    def table(self) -> pd.DataFrame:
        """The IV estimates, preceded by the OLS row when it was computed."""
        rows = ([self.ols] if self.ols is not None else []) + list(self.estimates)
        return pd.DataFrame([e.to_row() for e in rows])

    def se_table(self) -> pd.DataFrame:
        """The 2SLS estimate with conventional, robust and (given a cluster) cluster SEs."""
        return self.se_frame.copy()

    def overid_table(self) -> pd.DataFrame:
        """Over-identification tests (empty when the model is exactly identified)."""
        return pd.DataFrame([t.to_dict() for t in self.overid],
                            columns=["name", "statistic", "df", "pvalue", "assumes"])

    def summary(self) -> Summary:
        """Summary: estimates, first-stage strength, over-identification and the AR set."""
        info: dict[str, Any] = {
            "estimand": "LATE (compliers)", "population": self.population,
            "instruments": self.instrument, "controls": len(self.covariates),
            "standard errors": _SE_LABEL[self.se_type],
            "first-stage F": self.first_stage_f,
            "first-stage partial R2": self.first_stage_stats["partial_r2"],
            f"Anderson-Rubin {self.ci_level:.0%} set": self.anderson_rubin.describe(),
        }
        for t in self.overid:
            info[f"{t.name} (df {t.df}) p-value"] = t.pvalue
        notes = [("The LATE is the effect for compliers: units whose treatment the instruments "
                  "move. Covariates enter both stages. The Anderson-Rubin set stays valid when the "
                  "instruments are weak; when it is much wider than the 2SLS interval, trust it.")]
        if any(e.se is None for e in self.estimates):
            notes.append("DMLIV is a point estimate only: EconML gives it no analytic standard "
                         "error, so it has no interval.")
        return Summary(f"IV: effect of {self.treatment} on {self.outcome} (instruments "
                       f"{self.instrument})", self.table(), info=info,
                       diagnostics=self.diagnostics, notes=notes)

    def plot(self, ax: Any = None):
        """Point estimates with their intervals, the OLS row and the (bounded part of the) AR set."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 2.8))[1]
        rows = ([self.ols] if self.ols is not None else []) + list(self.estimates)
        labels = []
        for i, e in enumerate(rows):
            if math.isfinite(e.ci_low):
                ax.errorbar(e.estimate, i, xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]],
                            fmt="o", capsize=3)
            else:
                ax.plot(e.estimate, i, "o")
            labels.append(e.method)
        j = len(rows)
        lo_all = min(e.ci_low for e in rows if math.isfinite(e.ci_low)) if rows else -1.0
        hi_all = max(e.ci_high for e in rows if math.isfinite(e.ci_high)) if rows else 1.0
        span = hi_all - lo_all
        for lo, hi in self.anderson_rubin.intervals:
            a = lo if math.isfinite(lo) else lo_all - span
            b = hi if math.isfinite(hi) else hi_all + span
            ax.plot([a, b], [j, j], color="black", lw=3)
        labels.append("Anderson-Rubin set" + ("" if self.anderson_rubin.bounded else " (unbounded)"))
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(f"effect of {self.treatment} on {self.outcome} ({self.ci_level:.0%} interval)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({
            "outcome": self.outcome, "treatment": self.treatment,
            "instruments": list(self.instruments), "instrument": self.instrument,
            "covariates": list(self.covariates), "se_type": self.se_type,
            "ci_level": self.ci_level, "first_stage_f": self.first_stage_f,
            "first_stage": self.first_stage.to_dict(orient="records"),
            "first_stage_stats": self.first_stage_stats,
            "estimates": [e.to_dict() for e in self.estimates],
            "ols": None if self.ols is None else self.ols.to_dict(),
            "overid": [t.to_dict() for t in self.overid],
            "anderson_rubin": self.anderson_rubin.to_dict(),
            "se_table": self.se_frame.to_dict(orient="records"),
            "diagnostics": [d.to_dict() for d in self.diagnostics]})


_LEGACY_ORDER = ("treatment", "outcome", "instruments", "covariates", "methods", "cluster",
                 "population")


@dataclass(frozen=True, init=False)
class IVStudy:
    """Instrumental-variable study with covariates (one endogenous treatment).

    Parameters
    ----------
    outcome, treatment : str
        Outcome and the endogenous treatment (binary or continuous).
    instruments : str or sequence of str
        Excluded instruments; two or more give over-identification tests.
    covariates : sequence of str
        Controls entering both stages (categorical columns are one-hot encoded).
    methods : sequence of {"2sls", "orthoiv", "dmliv"}
        IV estimators. OrthoIV and DMLIV (EconML, linear nuisances) take one instrument.
    ols : bool
        Add the OLS row (default true).
    cluster : str, optional
        Cluster column; with it the default SEs are cluster-robust (CR1, t with G-1 df).
    se : {"conventional", "robust", "cluster"}, optional
        Standard errors of the headline rows, the first-stage F and the AR set. Default:
        ``"cluster"`` with a cluster column, else ``"robust"`` (HC1).
    ci_level : float
        Level of every interval and of the AR set.
    weak_f : float
        First-stage F below which the instruments are flagged as weak (default 10).
    population : str
        Whom the LATE refers to.

    Examples
    --------
    >>> rng = np.random.default_rng(0); n = 2000; u = rng.normal(size=n); z = rng.integers(0, 2, n)
    >>> d = ((z + u + rng.normal(size=n)) > 0.5).astype(float)
    >>> df = pd.DataFrame({"z": z, "d": d, "y": 1.5 * d + u + rng.normal(size=n),
    ...                    "w": rng.normal(size=n)})
    >>> r = IVStudy(outcome="y", treatment="d", instruments=["z"], covariates=["w"],
    ...             methods=("2sls",)).fit(df)
    >>> abs(r.estimates[0].estimate - 1.5) < 0.5, r.anderson_rubin.bounded
    (True, True)
    """

    outcome: str
    treatment: str
    instruments: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    methods: tuple[str, ...] = METHODS
    ols: bool = True
    cluster: str | None = None
    se: str | None = None
    ci_level: float = 0.95
    weak_f: float = 10.0
    population: str = "compliers (units whose treatment follows the instrument)"

    def __init__(self, *args: Any, outcome: str | None = None, treatment: str | None = None,
                 instruments: str | Sequence[str] | None = None, covariates: Sequence[str] = (),
                 methods: Sequence[str] = METHODS, ols: bool = True, cluster: str | None = None,
                 se: str | None = None, ci_level: float = 0.95, weak_f: float = 10.0,
                 population: str = "compliers (units whose treatment follows the instrument)",
                 instrument: str | None = None) -> None:
        given: dict[str, Any] = {}
        if args:
            if len(args) > len(_LEGACY_ORDER):
                raise DesignError(f"IVStudy takes at most {len(_LEGACY_ORDER)} positional "
                                  "arguments; pass outcome=, treatment=, instruments= by keyword")
            warnings.warn("IVStudy(treatment, outcome, instrument, ...) with positional arguments "
                          "is deprecated: pass IVStudy(outcome=..., treatment=..., instruments="
                          "[...]) by keyword (outcome first, like the quasi-experimental specs "
                          "and Regression). Positional arguments keep the old treatment-first "
                          "order until they are removed.", IVDeprecationWarning, stacklevel=2)
            given = dict(zip(_LEGACY_ORDER, args, strict=False))
            named = {"treatment": treatment, "outcome": outcome, "instruments": instruments}
            both = [key for key in given if named.get(key) is not None]
            if both:
                raise DesignError(f"{both} given both positionally and by keyword")
        if instrument is not None:
            warnings.warn("IVStudy(instrument=...) is deprecated; use instruments=[...]",
                          IVDeprecationWarning, stacklevel=2)
            if instruments is not None:
                raise DesignError("give instruments= or the deprecated instrument=, not both")
            instruments = instrument
        outcome = given.get("outcome", outcome)
        treatment = given.get("treatment", treatment)
        instruments = given.get("instruments", instruments)
        covariates = given.get("covariates", covariates)
        methods = given.get("methods", methods)
        cluster = given.get("cluster", cluster)
        population = given.get("population", population)
        if outcome is None or treatment is None or not instruments:
            raise DesignError("IVStudy needs outcome=, treatment= and instruments=[...] (at "
                              "least one excluded instrument)")
        insts = (instruments,) if isinstance(instruments, str) else tuple(instruments)
        values = {"outcome": outcome, "treatment": treatment, "instruments": insts,
                  "covariates": tuple(covariates), "methods": tuple(methods), "ols": bool(ols),
                  "cluster": cluster, "se": se, "ci_level": float(ci_level),
                  "weak_f": float(weak_f), "population": population}
        for k, v in values.items():
            object.__setattr__(self, k, v)
        self._validate()

    def _validate(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise DesignError(f"unknown IV methods {bad}; choose from {METHODS}")
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1); got {self.ci_level!r}")
        if self.se is not None and self.se not in SE_TYPES:
            raise DesignError(f"se={self.se!r}; choose one of {SE_TYPES}")
        if self.se == "cluster" and self.cluster is None:
            raise DesignError("se='cluster' needs cluster=<column>")
        roles = [self.outcome, self.treatment, *self.instruments, *self.covariates]
        dup = sorted({c for c in roles if roles.count(c) > 1})
        if dup:
            raise DesignError(f"columns {dup} have more than one role (outcome, treatment, "
                              "instrument, covariate); each column can play one")
        if len(self.instruments) > 1 and set(self.methods) & {"orthoiv", "dmliv"}:
            raise DesignError("OrthoIV and DMLIV take one instrument here; with several "
                              "instruments use methods=('2sls',)")

    @property
    def instrument(self) -> str:
        """The instruments as one label (the old single-instrument attribute)."""
        return ", ".join(self.instruments)

    @property
    def se_type(self) -> str:
        """The SE type used for the headline rows."""
        return self.se or ("cluster" if self.cluster else "robust")

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> IVResult:
        """Estimate the LATE by every method, with the first stage, over-id tests and AR set."""
        cols = [self.outcome, self.treatment, *self.instruments, *self.covariates]
        require_columns(data, cols + ([self.cluster] if self.cluster else []))
        if data[cols].isna().any().any():
            bad = [c for c in cols if data[c].isna().any()]
            raise DataError(f"missing values in {bad}; drop those rows first")
        if self.cluster and data[self.cluster].isna().any():
            raise DataError(f"cluster column {self.cluster!r} has missing values")
        for c in (self.outcome, self.treatment, *self.instruments):
            if not pd.api.types.is_numeric_dtype(data[c]) and data[c].dtype != bool:
                raise DataError(f"{c!r} must be numeric (0/1 or a number); got {data[c].dtype}")
        for c in self.instruments:
            if data[c].nunique() < 2:
                raise DataError(f"instrument {c!r} is constant; it cannot move the treatment")
        y = data[self.outcome].to_numpy(float)
        d = data[self.treatment].to_numpy(float)
        z = data[list(self.instruments)].to_numpy(float)
        w, _ = numeric_matrix(data, list(self.covariates))
        if not np.isfinite(np.column_stack([y, d, z, w])).all():
            raise DataError(f"non-finite values in {cols}; drop or fix those rows")
        cl = data[self.cluster].to_numpy() if self.cluster else None
        des = IVDesign.build(y, d, z, w, cl)
        se = self.se_type
        k, n = des.k, des.n
        df_t = float(des.n_clusters - 1) if se == "cluster" else None
        label_se = _se_words(se, self.cluster, des.n_clusters)
        controls = f"{w.shape[1]} control column{'s' if w.shape[1] != 1 else ''}"
        inst = f"{k} instrument{'s' if k > 1 else ''}"

        fs_table, fs_stats = first_stage_table(des, se, list(self.instruments))
        f = float(fs_stats["f"])
        diags = [self._weak_diag(f, fs_stats, se)]
        beta, se_b, u = tsls_fit(des, se)
        ar = anderson_rubin_set(des, se, self.ci_level, center=beta, scale=se_b)
        if ar.empty:
            diags.append(Diagnostic("anderson_rubin", "fail", "the Anderson-Rubin set is empty: "
                                    "no single effect is consistent with every instrument "
                                    "(over-identifying restrictions rejected)", None))
        elif not ar.bounded:
            diags.append(Diagnostic("anderson_rubin", "warning", "the Anderson-Rubin set is "
                                    f"unbounded ({ar.describe()}): the data cannot rule out "
                                    "arbitrarily large effects; the 2SLS interval is not to be "
                                    "trusted", None))
        else:
            diags.append(Diagnostic("anderson_rubin", "ok", f"Anderson-Rubin {self.ci_level:.0%} "
                                    f"set {ar.describe()}", None))
        overid: tuple[OverIdTest, ...] = ()
        if k > 1:
            tests = [sargan(des, u)]
            if se != "conventional":
                x_full = np.column_stack([d, np.ones(n), w])
                z_full = np.column_stack([z, np.ones(n), w])
                # the partialled 2SLS residuals are the full model's residuals (FWL)
                tests.append(hansen_j(y, x_full, z_full, u, se, des.codes))
            overid = tuple(tests)
            main = tests[-1]
            status = "warning" if main.pvalue < 1 - self.ci_level else "ok"
            diags.append(Diagnostic("overidentification", status, (
                f"{main.name} = {main.statistic:.2f} (df {main.df}), p = {main.pvalue:.3g}: "
                + ("the instruments disagree: at least one is invalid, or they move different "
                   "compliers (heterogeneous effects)" if status == "warning" else
                   "no evidence against the over-identifying restrictions (a weak check: it "
                   "cannot detect instruments that are invalid in the same direction)")),
                main.pvalue))
        else:
            diags.append(Diagnostic("overidentification", "ok", "exactly identified (one "
                                    "instrument): instrument validity cannot be tested from the "
                                    "data; argue it from the design", None))

        def row(method: str, b: float, s: float | None, estimand: str = "LATE",
                population: str | None = None) -> EffectEstimate:
            return EffectEstimate.from_se(estimand, population or self.population, method, b, s,
                                          ci_level=self.ci_level, df=df_t, n=n)

        ols_row = None
        if self.ols:
            b_ols, s_ols = ols_fit(des, se)
            ols_row = row(f"OLS ({controls}; treatment taken as exogenous; SE: {label_se})",
                          b_ols, s_ols, estimand="OLS association (biased under confounding)",
                          population="all rows of the fitted sample")
        se_rows = []
        for kind in SE_TYPES:
            if kind == "cluster" and des.codes is None:
                continue
            bk, sk, _ = tsls_fit(des, kind)
            dfk = float(des.n_clusters - 1) if kind == "cluster" else None
            e = EffectEstimate.from_se("LATE", self.population, "2SLS", bk, sk,
                                       ci_level=self.ci_level, df=dfk, n=n)
            se_rows.append({"se_type": kind, "label": _se_words(kind, self.cluster, des.n_clusters),
                            "estimate": bk, "se": sk, "ci_low": e.ci_low, "ci_high": e.ci_high,
                            "pvalue": e.pvalue})
        gen = resolve_rng(rng)
        out = []
        binary_d = set(np.unique(d).tolist()) <= {0.0, 1.0}
        binary_z = set(np.unique(z).tolist()) <= {0.0, 1.0}
        for m in self.methods:
            if m == "2sls":
                out.append(row(f"2SLS ({inst}, {controls}; SE: {label_se})", beta, se_b))
                continue
            out.append(self._econml(m, y, d, z, w, gen, binary_d, binary_z, n, controls))
            if self.cluster and m == "orthoiv":
                diags.append(Diagnostic("orthoiv_se", "warning", "OrthoIV: EconML does not "
                                        "cluster; its SE is heteroskedasticity-robust only and "
                                        "too small under within-cluster correlation", None))
        return IVResult(self.outcome, self.treatment, self.instruments, tuple(self.covariates),
                        self.population, se, self.ci_level, f, tuple(out), ols_row, fs_table,
                        fs_stats, overid, ar, pd.DataFrame(se_rows), tuple(diags))

    def _weak_diag(self, f: float, fs: dict[str, float], se: str) -> Diagnostic:
        kind = {"conventional": "Cragg-Donald", "robust": "Kleibergen-Paap (HC1)",
                "cluster": "Kleibergen-Paap (cluster)"}[se]
        if f < self.weak_f:
            msg = (f"weak instrument: first-stage F = {f:.2f} < {self.weak_f:g} ({kind} Wald F, "
                   f"partial R2 = {fs['partial_r2']:.3g}); 2SLS is biased towards OLS and its "
                   "interval is unreliable. Read the Anderson-Rubin set, or find a stronger "
                   "instrument")
            warnings.warn(msg, WeakInstrumentWarning, stacklevel=3)
            return Diagnostic("first_stage_f", "fail", msg, f)
        return Diagnostic("first_stage_f", "ok", f"first-stage F = {f:.1f} (>= {self.weak_f:g}, "
                          f"{kind} Wald F; partial R2 = {fs['partial_r2']:.3g})", f)

    def _econml(self, m: str, y: np.ndarray, d: np.ndarray, z: np.ndarray, w: np.ndarray,
                gen: np.random.Generator, binary_d: bool, binary_z: bool, n: int,
                controls: str) -> EffectEstimate:
        from econml.iv.dml import DMLIV, OrthoIV

        seed = int(gen.integers(2**31))
        cls = OrthoIV if m == "orthoiv" else DMLIV
        kw: dict[str, Any] = {"discrete_treatment": binary_d, "discrete_instrument": binary_z,
                              "random_state": seed, "cv": 2}
        if m == "orthoiv":
            kw |= {"projection": False}
        est = _econml_linear_nuisances(cls, kw, binary_d, binary_z)
        est.fit(y, d, Z=z, X=None, W=w if w.shape[1] else None)
        nuis = "linear nuisances, 2-fold cross-fitting"
        if m == "orthoiv":
            inf = est.ate_inference()
            b = float(np.ravel(inf.mean_point)[0])
            s = float(np.ravel(inf.stderr_mean)[0])
            return EffectEstimate.from_se("LATE", self.population,
                                          f"OrthoIV (EconML; {nuis}; {controls}; SE: EconML's "
                                          "heteroskedasticity-robust, not clustered)", b, s,
                                          ci_level=self.ci_level, n=n)
        b = float(np.ravel(est.ate())[0])
        return EffectEstimate.from_se("LATE", self.population,
                                      f"DMLIV (EconML; {nuis}; {controls}; point estimate only: "
                                      "no analytic SE)", b, None, ci_level=self.ci_level, n=n)


def _se_words(se: str, cluster: str | None, g: int | None) -> str:
    if se == "cluster":
        return f"CR1 by {cluster} ({g} clusters), t({g - 1})"
    return {"conventional": "conventional (homoskedastic)", "robust": "HC1"}[se]


def _econml_linear_nuisances(cls: Any, kw: dict[str, Any], binary_d: bool, binary_z: bool):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    clf = LogisticRegression(C=np.inf, max_iter=2000)
    reg = LinearRegression()
    if cls.__name__ == "OrthoIV":
        return cls(model_y_xw=reg, model_t_xw=clf if binary_d else reg,
                   model_z_xw=clf if binary_z else reg, **kw)
    return cls(model_y_xw=reg, model_t_xw=clf if binary_d else reg,
               model_t_xwz=clf if binary_d else reg, **kw)
