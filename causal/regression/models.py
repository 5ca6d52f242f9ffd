"""Formula regression on frames: OLS, WLS, logit and Poisson with the usual standard errors.

Engines
-------
- Without absorbed fixed effects: statsmodels (exact textbook HC0-HC3, CR1 one- and two-way).
- With absorbed fixed effects (``y ~ x | unit + day``): pyfixest (the fixest algorithms; CRV1,
  multi-way CRV1 and CRV3, with fixest's small-sample conventions).
- CR2 with Bell-McCaffrey degrees of freedom (OLS/WLS, one-way, no absorbed effects) reuses
  :func:`causal.experiments.cluster.cluster_robust_ols`, the experiment engine's implementation.

Every input check is explicit: a formula naming a missing column, NULL or infinite values, a
non-binary logit outcome, negative or all-zero weights, a single cluster all raise
:class:`~servicelab.errors.DataError`; a perfectly collinear term is dropped *by name* and
reported as a warning diagnostic (never silently absorbed by a pseudo-inverse).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from formulaic import Formula

from causal.experiments.cluster import cluster_robust_ols
from causal.results import EffectEstimate
from servicelab.errors import ConvergenceError, DataError, DesignError
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns

__all__ = ["SE_TYPES", "Regression", "RegressionResult"]

Model = Literal["ols", "wls", "logit", "poisson"]
SE_TYPES: tuple[str, ...] = ("iid", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2", "CR3")
_LINEAR = ("ols", "wls")


def _split_formula(formula: str) -> tuple[str, list[str]]:
    """``"y ~ x | a + b"`` -> ``("y ~ x", ["a", "b"])``."""
    if formula.count("~") != 1:
        raise DesignError(f"formula must have exactly one '~' (e.g. 'y ~ x + z'); got {formula!r}")
    if "|" not in formula:
        return formula, []
    main, fe = formula.split("|", 1)
    if "|" in fe:
        raise DesignError("only one '|' is allowed: 'y ~ x | fe1 + fe2' (IV is not supported here)")
    fes = [f.strip() for f in fe.split("+") if f.strip()]
    if not fes or any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f) for f in fes):
        raise DesignError(f"absorbed effects after '|' must be column names joined by '+'; got {fe!r}")
    return main.strip(), fes


def _collinear(X: np.ndarray, tol: float = 1e-9) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of earlier columns."""
    G = X.T @ X
    keep: list[int] = []
    drop: list[int] = []
    for j in range(X.shape[1]):
        gjj = G[j, j]
        if gjj <= 0:
            drop.append(j)
            continue
        if keep:
            Gk = G[np.ix_(keep, keep)]
            g = G[keep, j]
            resid = gjj - g @ np.linalg.solve(Gk, g)
        else:
            resid = gjj
        (keep if resid > tol * gjj else drop).append(j)
    return drop


@dataclass(frozen=True, eq=False, repr=False)
class RegressionResult(ResultMixin):
    """A fitted regression: tidy coefficient table, fit facts and diagnostics.

    ``to_frame()`` is indexed by term with ``coef``, ``se``, ``stat``, ``pvalue``, ``ci_low``,
    ``ci_high`` and ``df`` (``NaN`` where the reference distribution is normal).
    """

    formula: str
    model: str
    se_type: str
    table: pd.DataFrame
    n: int
    info: dict[str, Any]
    ci_level: float = 0.95
    dropped: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table indexed by term (a copy)."""
        return self.table.copy()

    def estimate(self, term: str, *, estimand: str = "coefficient",
                 population: str = "rows used in the fit") -> EffectEstimate:
        """One coefficient as an :class:`EffectEstimate` (same interval as the table)."""
        if term not in self.table.index:
            raise DataError(f"term {term!r} not in the model; terms: {list(self.table.index)}"
                            + (f" (dropped as collinear: {list(self.dropped)})" if self.dropped else ""))
        r = self.table.loc[term]
        df = None if not np.isfinite(r["df"]) else float(r["df"])
        return EffectEstimate.from_se(estimand, population, f"{self.model.upper()} ({self.se_type})",
                                      float(r["coef"]), float(r["se"]), ci_level=self.ci_level,
                                      df=df, n=self.n, diagnostics=self.diagnostics)

    def summary(self) -> Summary:
        """Coefficients, fit facts and diagnostics."""
        tab = self.table.reset_index()
        return Summary(f"{self.model.upper()}: {self.formula}", tab,
                       info={"n": self.n, "standard errors": self.se_type, **self.info},
                       diagnostics=self.diagnostics,
                       notes=[(f"Intervals at {self.ci_level:.0%}; Student-t where df is shown, else "
                              "normal.")])

    def plot(self, ax: Any = None):
        """Coefficient plot with intervals (intercept left out)."""
        import matplotlib.pyplot as plt

        t = self.table.drop(index=[i for i in self.table.index if i == "Intercept"])
        ax = ax or plt.subplots(figsize=(5, 0.4 * len(t) + 1.2))[1]
        y = np.arange(len(t))
        b = t["coef"].to_numpy(float)
        err = np.vstack([b - t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float) - b])
        ax.errorbar(b, y, xerr=err, fmt="o", capsize=2)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, [str(i) for i in t.index])
        ax.set_xlabel(f"coefficient ({self.ci_level:.0%} interval)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"formula": self.formula, "model": self.model, "se_type": self.se_type,
                         "n": self.n, "ci_level": self.ci_level, "info": self.info,
                         "dropped": list(self.dropped),
                         "coefficients": self.table.reset_index().to_dict(orient="records"),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class Regression:
    """Formula regression: ``Regression("handle_s ~ treated + C(queue)", se="CR2", cluster="customer_id")``.

    Parameters
    ----------
    formula : str
        Wilkinson formula (formulaic/patsy syntax: ``C(x)``, ``np.log(x)``, ``a:b``, ``a*b``).
        High-dimensional fixed effects are absorbed after a bar: ``"y ~ x | unit + day"``.
    model : {"ols", "wls", "logit", "poisson"}
        ``"wls"`` needs ``weights``; ``"ols"`` with ``weights`` is WLS too.
    weights : str, optional
        Column of analytic (precision) weights; linear models only. Must be >= 0 and not all 0.
    se : {"iid", "HC0", "HC1", "HC2", "HC3", "CR1", "CR2", "CR3"}, optional
        Standard errors; default ``HC1`` for linear models, ``HC0`` for logit/Poisson and with
        ``cluster`` given, ``CR1``. HC2/HC3 are for linear models without absorbed effects; logit and
        Poisson take ``iid``, ``HC0`` (sandwich) or ``CR1``; ``CR2`` (Bell-McCaffrey df) is for
        OLS/WLS with one cluster variable and no absorbed effects; ``CR3`` needs absorbed effects
        or is computed by pyfixest.
    cluster : str or sequence of str, optional
        Cluster variable(s) for CR1/CR2/CR3. Two or more give multi-way clustering (CR1 only:
        two-way without absorbed effects, any number with them).
    ci_level : float
        Interval level.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=200), "g": np.repeat(np.arange(20), 10)})
    >>> df["y"] = 1 + 2 * df.x + rng.normal(size=200)
    >>> r = Regression("y ~ x", se="CR2", cluster="g").fit(df)
    >>> bool(abs(r.to_frame().loc["x", "coef"] - 2) < 0.3)
    True
    """

    formula: str
    model: Model = "ols"
    weights: str | None = None
    se: str | None = None
    cluster: str | Sequence[str] | None = None
    ci_level: float = 0.95

    # -- validation -----------------------------------------------------------------------
    @property
    def _se(self) -> str:
        if self.se is not None:
            return self.se
        if self.cluster is not None:
            return "CR1"
        return "HC1" if self.model in _LINEAR else "HC0"

    def _clusters(self) -> list[str]:
        if self.cluster is None:
            return []
        return [self.cluster] if isinstance(self.cluster, str) else list(self.cluster)

    def _check_spec(self, fes: list[str]) -> None:
        if self.model not in ("ols", "wls", "logit", "poisson"):
            raise DesignError(f"model must be 'ols', 'wls', 'logit' or 'poisson'; got {self.model!r}")
        if self._se not in SE_TYPES:
            raise DesignError(f"se must be one of {SE_TYPES}; got {self._se!r}")
        if not 0 < self.ci_level < 1:
            raise DesignError(f"ci_level must be in (0, 1); got {self.ci_level!r}")
        cl = self._clusters()
        if self._se.startswith("CR") and not cl:
            raise DesignError(f"se={self._se!r} needs cluster=<column>")
        if cl and not self._se.startswith("CR"):
            raise DesignError(f"cluster={self.cluster!r} given but se={self._se!r}; use se='CR1' or 'CR2'")
        if self.model == "wls" and self.weights is None:
            raise DesignError("model='wls' needs weights=<column>")
        if self.weights is not None and self.model not in _LINEAR:
            raise DesignError("weights are supported for linear models (ols/wls) only")
        linear = self.model in _LINEAR
        if not linear and self._se in ("HC1", "HC2", "HC3"):
            raise DesignError(f"{self._se} small-sample scalings are for linear models; use se='HC0' "
                              f"(sandwich) for {self.model}")
        if self._se in ("HC2", "HC3") and fes:
            raise DesignError(f"{self._se} is defined for linear models without absorbed fixed "
                              "effects; use HC1 or cluster-robust SEs")
        if self._se == "CR2" and (fes or not linear or len(cl) != 1):
            raise DesignError("CR2 (Bell-McCaffrey) is available for OLS/WLS with one cluster "
                              "variable and no absorbed fixed effects; write the effects as C(...) "
                              "terms or use CR1")
        if self._se == "CR3" and (not fes or len(cl) != 1):
            raise DesignError("CR3 is computed by pyfixest for models with absorbed fixed effects "
                              "and one cluster variable; use CR1 or CR2 otherwise")
        if fes and self._se == "HC0" and linear:
            raise DesignError("with absorbed fixed effects use se='iid', 'HC1' or a CR type")
        if not fes and len(cl) > 2:
            raise DesignError("more than two-way clustering needs absorbed fixed effects "
                              "(pyfixest); use at most two cluster variables")
        if len(cl) > 1 and self._se != "CR1":
            raise DesignError("multi-way clustering is CR1 only")

    def _check_data(self, data: pd.DataFrame, main: str, fes: list[str]) -> tuple[str, list[str]]:
        try:
            needed = sorted(Formula(main).required_variables)
        except Exception as exc:  # formulaic raises several parser errors
            raise DesignError(f"cannot parse formula {self.formula!r}: {exc}") from exc
        cols = [*needed, *fes, *self._clusters(), *([self.weights] if self.weights else [])]
        names = list(dict.fromkeys(cols))
        require_columns(data, names, role="formula/design columns", allow_empty=False)
        for c in names:
            if c not in data.columns:
                continue
            s = data[c]
            null = int(s.isna().sum())
            inf = (int(np.isinf(s.to_numpy(dtype=float, na_value=np.nan)).sum())
                   if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) else 0)
            if null or inf:
                raise DataError(f"column {c!r} has {null:,} NULL and {inf:,} infinite values of "
                                f"{len(s):,}; regression never drops rows silently: filter or "
                                "impute them first and say so")
        lhs = main.split("~")[0].strip()
        y = data[lhs] if lhs in data.columns else None
        if y is not None and self.model == "logit":
            vals = set(pd.unique(y.astype(float)).tolist())
            if not vals <= {0.0, 1.0}:
                raise DataError(f"logit outcome {lhs!r} must be 0/1; found values "
                                f"{sorted(vals)[:6]}")
        if y is not None and self.model == "poisson" and (y.astype(float) < 0).any():
            raise DataError(f"Poisson outcome {lhs!r} must be non-negative")
        if self.weights:
            w = data[self.weights].astype(float)
            if (w < 0).any():
                raise DataError(f"weights {self.weights!r} has {int((w < 0).sum())} negative "
                                "values; analytic weights must be >= 0")
            if not (w > 0).any():
                raise DataError(f"weights {self.weights!r} are all zero: nothing to fit")
        for c in self._clusters():
            if data[c].nunique() < 2:
                raise DataError(f"cluster variable {c!r} has a single cluster: cluster-robust "
                                "standard errors need at least two (and ~20+ to be reliable)")
        return lhs, names

    # -- fit ------------------------------------------------------------------------------
    def fit(self, data: pd.DataFrame) -> RegressionResult:
        """Fit the model and return a :class:`RegressionResult`."""
        main, fes = _split_formula(self.formula)
        self._check_spec(fes)
        _lhs, _ = self._check_data(data, main, fes)
        if fes:
            return self._fit_fixest(data, main, fes)
        return self._fit_statsmodels(data, main)

    def _diags(self, data: pd.DataFrame, dropped: list[str]) -> list[Diagnostic]:
        out = []
        if dropped:
            out.append(Diagnostic("collinearity", "warning",
                                  f"dropped perfectly collinear term(s) {dropped}: they are linear "
                                  "combinations of other terms and cannot be estimated; remove "
                                  "them or change the reference level", len(dropped)))
        for c in self._clusters():
            g = int(data[c].nunique())
            if g < 20 and self._se != "CR2":
                out.append(Diagnostic("few_clusters", "warning",
                                      f"{c!r} has only {g} clusters: {self._se} SEs are too small; "
                                      "use se='CR2' (Bell-McCaffrey) or a wild cluster bootstrap", g))
        return out

    def _fit_statsmodels(self, data: pd.DataFrame, main: str) -> RegressionResult:
        cls = {"ols": sm.OLS, "wls": sm.WLS, "logit": sm.Logit, "poisson": sm.Poisson}
        kind = "wls" if self.weights else ("ols" if self.model in _LINEAR else self.model)
        try:
            proto = sm.OLS.from_formula(main, data)
        except Exception as exc:
            raise DesignError(f"cannot build the design of {main!r}: {exc}") from exc
        names = list(proto.exog_names)
        X = np.asarray(proto.exog, dtype=float)
        y = np.asarray(proto.endog, dtype=float)
        if len(y) != len(data):
            raise DataError("the formula dropped rows (missing values in a derived term such as "
                            "np.log of a non-positive value); clean the data first")
        w = data[self.weights].to_numpy(float) if self.weights else None
        Xw = X * np.sqrt(w)[:, None] if w is not None else X
        drop = _collinear(Xw)
        dropped = [names[j] for j in drop]
        keep = [j for j in range(len(names)) if j not in drop]
        X, names = X[:, keep], [names[j] for j in keep]
        Xdf = pd.DataFrame(X, columns=names)
        model = cls[kind](y, Xdf, weights=w) if kind == "wls" else cls[kind](y, Xdf)
        cl = self._clusters()
        fit_kw: dict[str, Any] = {}
        if kind in ("logit", "poisson"):
            fit_kw["disp"] = 0
        if self._se == "iid":
            cov: dict[str, Any] = {"cov_type": "nonrobust"}
        elif self._se.startswith("HC"):
            cov = {"cov_type": self._se}
        else:  # CR1 (CR2 is computed below from the OLS/WLS fit)
            groups = np.column_stack([pd.factorize(data[c])[0] for c in cl])
            cov = {"cov_type": "cluster",
                   "cov_kwds": {"groups": groups[:, 0] if len(cl) == 1 else groups}}
        try:
            with warnings.catch_warnings():
                # statsmodels' ConvergenceWarning is turned into our ConvergenceError below
                warnings.simplefilter("error", sm.tools.sm_exceptions.ConvergenceWarning)
                res = model.fit(**fit_kw, **(cov if self._se != "CR2" else {}))
        except (sm.tools.sm_exceptions.ConvergenceWarning, np.linalg.LinAlgError) as exc:
            raise ConvergenceError(f"{self.model} did not converge ({exc}); check for perfect "
                                   "separation or rescale the covariates") from exc
        except sm.tools.sm_exceptions.PerfectSeparationError as exc:
            raise ConvergenceError(f"{self.model}: perfect separation ({exc}); a covariate "
                                   "predicts the outcome exactly, drop or coarsen it") from exc
        coef = np.asarray(res.params, dtype=float)
        if self._se == "CR2":
            yw = y * np.sqrt(w) if w is not None else y
            Xw = X * np.sqrt(w)[:, None] if w is not None else X
            g = data[cl[0]].to_numpy()
            outs = [cluster_robust_ols(yw, Xw, g, coef=j) for j in range(len(names))]
            se = np.array([o["se_cr2"] for o in outs])
            df = np.array([o["df_bm"] for o in outs])
        else:
            se = np.asarray(res.bse, dtype=float)
            if kind in _LINEAR:
                # t reference: G - 1 with clusters (fewest clusters for two-way), else n - k
                dof = min(data[c].nunique() for c in cl) - 1 if cl else res.df_resid
                df = np.full(len(names), float(dof))
            else:
                df = np.full(len(names), np.nan)
        info: dict[str, Any] = {"engine": "statsmodels" + (" + CR2 (experiment engine)"
                                                           if self._se == "CR2" else "")}
        if kind in _LINEAR:
            info["r2"] = float(res.rsquared)
            info["adj_r2"] = float(res.rsquared_adj)
        else:
            info["pseudo_r2"] = float(res.prsquared)
            info["log_likelihood"] = float(res.llf)
        if cl:
            info["clusters"] = {c: int(data[c].nunique()) for c in cl}
        if self.weights:
            info["weights"] = self.weights
        table = self._table(names, coef, se, df)
        return RegressionResult(self.formula, self.model if not self.weights else "wls", self._se,
                                table, len(y), info, self.ci_level, tuple(dropped),
                                tuple(self._diags(data, dropped)))

    def _table(self, names: list[str], coef: np.ndarray, se: np.ndarray,
               df: np.ndarray) -> pd.DataFrame:
        rows = []
        for name, b, s, d in zip(names, coef, se, df, strict=True):
            e = EffectEstimate.from_se("coefficient", "", "", float(b), float(s),
                                       ci_level=self.ci_level, df=None if not np.isfinite(d) else float(d))
            rows.append({"term": str(name), "coef": e.estimate, "se": e.se,
                         "stat": e.estimate / e.se if e.se else math.nan,
                         "pvalue": e.pvalue, "ci_low": e.ci_low, "ci_high": e.ci_high,
                         "df": float(d)})
        return pd.DataFrame(rows).set_index("term")

    def _fit_fixest(self, data: pd.DataFrame, main: str, fes: list[str]) -> RegressionResult:
        import pyfixest as pf

        cl = self._clusters()
        vcov: Any = {"iid": "iid", "HC1": "hetero", "HC0": "hetero"}.get(self._se)
        if vcov is None:
            vcov = {"CRV1" if self._se == "CR1" else "CRV3": "+".join(cl)}
        fml = f"{main} | {' + '.join(fes)}"
        kw: dict[str, Any] = {"data": data, "vcov": vcov}
        if self.model not in _LINEAR and self._se in ("iid", "HC0"):
            # maximum-likelihood (inverse information) SEs, as statsmodels and textbooks report
            # them; fixest would scale them by (n - 1) / (n - k)
            kw["ssc"] = pf.ssc(k_adj=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if self.model in _LINEAR:
                    fit = pf.feols(fml, weights=self.weights, **kw)
                elif self.model == "poisson":
                    fit = pf.fepois(fml, **kw)
                else:
                    fit = pf.feglm(fml, family="logit", **kw)
            except Exception as exc:  # pyfixest raises ValueError/own errors on bad designs
                raise DesignError(f"pyfixest could not fit {fml!r}: {exc}") from exc
        for w in caught:  # re-issue what we do not turn into diagnostics
            if "multicollinearity" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        dropped = [str(v) for v in (getattr(fit, "_collin_vars", None) or [])]
        names = [str(n) for n in fit.coef().index]
        coef = fit.coef().to_numpy(float)
        se = fit.se().to_numpy(float)
        df_t = getattr(fit, "_df_t", None)
        linear = self.model in _LINEAR
        df = np.full(len(names), float(df_t) if (linear and df_t) else np.nan)
        n_used = int(fit._N)
        info: dict[str, Any] = {"engine": f"pyfixest {pf.__version__}", "absorbed": fes}
        if linear:
            info["r2"] = float(fit._r2)
            info["r2_within"] = float(fit._r2_within)
        if cl:
            info["clusters"] = {c: int(data[c].nunique()) for c in cl}
        diags = self._diags(data, dropped)
        if n_used < len(data):
            diags.append(Diagnostic("singletons", "warning",
                                    f"pyfixest dropped {len(data) - n_used:,} rows (singleton fixed-"
                                    "effect groups or separation); n reports the rows used",
                                    len(data) - n_used))
        return RegressionResult(self.formula, "wls" if self.weights else self.model, self._se,
                                self._table(names, coef, se, df), n_used, info, self.ci_level,
                                tuple(dropped), tuple(diags))
