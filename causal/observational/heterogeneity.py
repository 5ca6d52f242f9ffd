"""Heterogeneous effects and targeting: CATE by segment, a best-linear-predictor calibration test,
and an EconML policy tree with its value against treat-all and treat-none.

The CATE model is fitted on one half of the data; everything it is judged by (segment averages of
doubly robust scores, the calibration test, the policy value) is computed on the other half, so
the checks are honest (Chernozhukov, Demirer, Duflo & Fernández-Val's BLP test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from causal.observational._data import binary_treatment, numeric_matrix, require_columns
from causal.observational.estimators import Arrays, fit_causal_forest, fit_linear_dml
from causal.observational.overlap import propensity_model
from causal.results import critical_value
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable


def dr_scores(y: np.ndarray, t: np.ndarray, x: np.ndarray, *, folds: int = 2,
              rng: RNGLike = None) -> np.ndarray:
    """Cross-fitted doubly robust (AIPW) scores: their mean is the ATE, their regression on a
    CATE prediction is the BLP test. Linear outcome models per arm; the propensity is a regularised
    L2 logistic (C by cross-validated log loss) clipped to [0.01, 0.99] (IP weights at most 100)."""
    from sklearn.linear_model import LinearRegression

    gen = resolve_rng(rng)
    n = len(y)
    fold = gen.permutation(n) % folds
    g = np.empty(n)
    for k in range(folds):
        tr, te = fold != k, fold == k
        pm = propensity_model("logistic").fit(x[tr], t[tr])  # regularised (never C=inf)
        e = np.clip(pm.predict_proba(x[te])[:, 1], 0.01, 0.99)  # stated clip: weights <= 100
        m1 = LinearRegression().fit(x[tr][t[tr] == 1], y[tr][t[tr] == 1]).predict(x[te])
        m0 = LinearRegression().fit(x[tr][t[tr] == 0], y[tr][t[tr] == 0]).predict(x[te])
        tt, yy = t[te], y[te]
        g[te] = m1 - m0 + tt * (yy - m1) / e - (1 - tt) * (yy - m0) / (1 - e)
    return g


@dataclass(frozen=True, eq=False, repr=False)
class CateResult(ResultMixin):
    """Segment CATEs, the calibration test and the policy tree's value.

    The CATE model is fitted on the training half (``train``) and judged on the other half.
    ``cate_test`` holds its CATE predictions for the held-out units and ``cate_train`` those for
    the training units, *in sample* (the model saw their outcomes, so they look better than they
    are: judge the model on ``cate_test``). :meth:`unit_cates` sets both out in the row order of
    the fitted frame. It keeps the result protocol (:meth:`summary`, :meth:`plot`,
    :meth:`to_dict`, ``diagnostics``); it holds frames and arrays, so ``==`` is identity.

    Attributes
    ----------
    train : numpy.ndarray of bool
        The split: ``True`` for the rows (in the order of the fitted frame) the CATE model and the
        policy tree were fitted on, ``False`` for the held-out rows every check uses.
    cate_train, cate_test : numpy.ndarray
        CATE predictions for the training rows (in sample) and the held-out rows, each in row
        order within its half.
    """

    treatment: str
    outcome: str
    population: str
    segments: pd.DataFrame
    blp: dict[str, float]
    policy: dict[str, Any]
    cate_test: np.ndarray
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    ci_level: float = 0.95
    train: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    cate_train: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def unit_cates(self) -> pd.DataFrame:
        """One row per unit of the fitted frame, in its row order: ``half`` (``"train"`` or
        ``"test"``) and the model's ``cate`` (in sample on the training half).

        Examples
        --------
        >>> r = CateResult("t", "y", "all", pd.DataFrame(), {}, {}, np.array([0.5]),
        ...                train=np.array([True, False]), cate_train=np.array([1.5]))
        >>> r.unit_cates().to_dict(orient="list")
        {'half': ['train', 'test'], 'cate': [1.5, 0.5]}
        """
        cate = np.empty(len(self.train))
        cate[self.train] = self.cate_train
        cate[~self.train] = self.cate_test
        return pd.DataFrame({"half": np.where(self.train, "train", "test"), "cate": cate})

    def summary(self) -> Summary:
        """Segment table plus the calibration and policy findings in plain words."""
        b, p = self.blp, self.policy
        notes = [
            (f"Calibration (BLP on held-out data): the average-effect loading is {b['beta1']:.3g} "
            f"and the heterogeneity loading is {b['beta2']:.3g} (SE {b['beta2_se']:.3g}, "
            f"p = {b['beta2_p']:.3g}). A loading near 1 means the model's CATE differences are "
            "real and well scaled; near 0 means the model finds heterogeneity that is not there."),
            f"Policy tree ({p['rule']}): treats {p['share_treated']:.0%} of held-out units; value "
            f"gain per unit vs treat-none {p['value_policy']:.4g} (SE {p['value_policy_se']:.3g}), "
            f"treat-all {p['value_treat_all']:.4g}, treat-none 0"
            + (f" (net of a cost {p['cost']:.3g} per treated unit)" if p["cost"] else "") + ".",
        ]
        return Summary(f"Heterogeneous effects of {self.treatment} on {self.outcome}",
                       self.segments, info={"estimand": "CATE by segment",
                                            "population": self.population},
                       diagnostics=self.diagnostics, notes=notes)

    def plot(self, ax: Any = None):
        """Segment CATEs (model) with their intervals (at ``ci_level``)."""
        import matplotlib.pyplot as plt

        s = self.segments
        ax = ax or plt.subplots(figsize=(6, 0.6 + 0.35 * len(s)))[1]
        yy = np.arange(len(s))[::-1]
        ax.errorbar(s["cate"], yy, xerr=[s["cate"] - s["ci_low"], s["ci_high"] - s["cate"]],
                    fmt="o", capsize=3)
        ax.set_yticks(yy, s["segment"] + "=" + s["value"].astype(str))
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel(f"CATE of {self.treatment} on {self.outcome} ({self.ci_level:.0%} CI)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"treatment": self.treatment, "outcome": self.outcome,
                         "population": self.population,
                         "segments": self.segments.to_dict(orient="records"), "blp": self.blp,
                         "policy": self.policy, "ci_level": self.ci_level,
                         "n_train": int(self.train.sum()),
                         "n_test": int(len(self.train) - self.train.sum()),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})


@dataclass(frozen=True)
class CateAnalysis:
    """Declare a heterogeneity-and-targeting analysis.

    Parameters
    ----------
    treatment, outcome : str
    confounders : sequence of str
        Adjustment set (``W`` in EconML).
    effect_modifiers : sequence of str
        Features the CATE and the policy depend on (``X``); categoricals are one-hot encoded.
    segments : sequence of str
        Columns to report CATE by (default: the effect modifiers).
    learner : {"causal_forest", "linear_dml"}
    higher_is_better : bool
        Whether a larger outcome is good (the policy maximises good outcomes).
    cost : float
        Cost of treating one unit, in outcome units (the policy treats where CATE beats it).
    ci_level : float
        Level of the segment intervals, ``cate ± critical_value(ci_level) * se`` (default 0.95).

    Examples
    --------
    >>> rng = np.random.default_rng(2); n = 1500; seg = rng.choice(["a", "b"], n)
    >>> x = rng.normal(size=n); t = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int)
    >>> df = pd.DataFrame({"x": x, "seg": seg, "t": t,
    ...                    "y": x + t * np.where(seg == "a", 2.0, 0.0) + rng.normal(size=n)})
    >>> r = CateAnalysis("t", "y", ["x"], ["seg"], learner="linear_dml").fit(df, rng=0)
    >>> r.segments.set_index("value").loc["a", "cate"] > r.segments.set_index("value").loc["b", "cate"]
    True
    """

    treatment: str
    outcome: str
    confounders: Sequence[str] = ()
    effect_modifiers: Sequence[str] = ()
    segments: Sequence[str] | None = None
    learner: str = "causal_forest"
    population: str = "all units in the data"
    higher_is_better: bool = True
    cost: float = 0.0
    n_estimators: int = 100
    policy_depth: int = 2
    flexible_nuisance: bool = False
    ci_level: float = 0.95

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> CateResult:
        """Fit on one half, evaluate on the other.

        The random split is returned as :attr:`CateResult.train` (a boolean mask in the row
        order of ``data``), with the CATEs of both halves (:meth:`CateResult.unit_cates`).
        """
        if not self.effect_modifiers:
            raise DesignError("CateAnalysis needs effect_modifiers (the X the CATE depends on)")
        if self.learner not in ("causal_forest", "linear_dml"):
            raise DesignError(f"learner must be causal_forest or linear_dml, got {self.learner!r}")
        q = critical_value(self.ci_level)  # raises DesignError outside (0, 1)
        segs = list(self.segments or self.effect_modifiers)
        require_columns(data, [self.treatment, self.outcome, *self.confounders,
                               *self.effect_modifiers, *segs])
        gen = resolve_rng(rng)
        t = binary_treatment(data, self.treatment)
        y = data[self.outcome].to_numpy(float)
        if np.isnan(y).any():
            raise DataError(f"outcome {self.outcome!r} has missing values")
        w, _ = numeric_matrix(data, list(self.confounders), what="confounder")
        xm, xnames = numeric_matrix(data, list(self.effect_modifiers), what="effect modifier")
        n = len(y)
        train = np.zeros(n, bool)
        train[gen.permutation(n)[: n // 2]] = True
        test = ~train
        sign = 1.0 if self.higher_is_better else -1.0
        a = Arrays(y[train], t[train], w[train], None, xm[train], "ATE", self.population,
                   set(np.unique(y).tolist()) <= {0.0, 1.0})
        seed = int(gen.integers(2**31))
        if self.learner == "causal_forest":
            model, _, _ = fit_causal_forest(a, n_estimators=self.n_estimators, rng=seed,
                                            flexible=self.flexible_nuisance)
        else:
            model = fit_linear_dml(a, flexible=self.flexible_nuisance, rng=seed)
        tau = np.ravel(model.effect(xm[test]))
        tau_train = np.ravel(model.effect(xm[train]))  # in sample: the model saw these units
        full = np.column_stack([w, xm])
        gamma = dr_scores(y[test], t[test], full[test], rng=int(gen.integers(2**31)))
        # segments
        rows = []
        frame = data.loc[test].reset_index(drop=True)
        for s in segs:
            for v in sorted(frame[s].unique(), key=str):
                m = (frame[s] == v).to_numpy()
                if m.sum() < 10:
                    continue
                inf = model.ate_inference(X=xm[test][m])
                cate = float(np.ravel(inf.mean_point)[0])
                se = float(np.ravel(inf.stderr_mean)[0])
                g = gamma[m]
                rows.append({"segment": s, "value": str(v), "n": int(m.sum()),
                             "cate": cate, "se": se, "ci_low": cate - q * se,
                             "ci_high": cate + q * se, "dr_mean": float(g.mean()),
                             "dr_se": float(g.std(ddof=1) / np.sqrt(m.sum()))})
        seg_df = pd.DataFrame(rows)
        # BLP calibration test
        design = np.column_stack([np.ones(test.sum()), tau - tau.mean()])
        fit = sm.OLS(gamma, design).fit(cov_type="HC1")
        blp = {"beta1": float(fit.params[0]), "beta1_se": float(fit.bse[0]),
               "beta2": float(fit.params[1]), "beta2_se": float(fit.bse[1]),
               "beta2_p": float(stats.norm.sf(fit.params[1] / fit.bse[1]))}
        diags = []
        if np.std(tau) < 1e-12:
            diags.append(Diagnostic("cate_calibration", "warning", "the CATE model predicts a "
                                    "constant effect; no heterogeneity to test"))
        else:
            ok = blp["beta2_p"] < 0.05
            diags.append(Diagnostic(
                "cate_calibration", "ok" if ok else "warning",
                f"BLP heterogeneity loading {blp['beta2']:.2f} (p={blp['beta2_p']:.3g}); "
                + ("the model's CATE ranking is confirmed on held-out data" if ok else
                   "no evidence on held-out data that the CATE differences are real: do not "
                   "target on them"), blp["beta2"]))
        policy = self._policy(y, t, w, xm, xnames, train, test, gamma, sign, gen)
        return CateResult(self.treatment, self.outcome, self.population, seg_df, blp, policy,
                          tau, tuple(diags), self.ci_level, train, tau_train)

    def _policy(self, y, t, w, xm, xnames, train, test, gamma, sign, gen) -> dict[str, Any]:
        from econml.policy import DRPolicyTree
        from sklearn.linear_model import LinearRegression

        # the tree maximises sign * y - cost * t
        target = sign * y[train] - self.cost * t[train]
        tree = DRPolicyTree(
            model_regression=LinearRegression(),
            model_propensity=propensity_model("logistic"),
            max_depth=self.policy_depth, min_samples_leaf=max(20, int(train.sum() * 0.05)),
            random_state=int(gen.integers(2**31)), honest=True)
        wtrain = w[train] if w.shape[1] else None
        tree.fit(target, t[train], X=xm[train], W=wtrain)
        pol = np.ravel(tree.predict(xm[test])).astype(float)
        gain = sign * gamma - self.cost  # per-unit gain from treating, in "good" units
        v_pol = pol * gain
        rule = _tree_rule(tree, xnames)
        return {"rule": rule, "share_treated": float(pol.mean()),
                "value_policy": float(v_pol.mean()),
                "value_policy_se": float(v_pol.std(ddof=1) / np.sqrt(len(v_pol))),
                "value_treat_all": float(gain.mean()),
                "value_treat_all_se": float(gain.std(ddof=1) / np.sqrt(len(gain))),
                "value_treat_none": 0.0, "cost": float(self.cost),
                "higher_is_better": bool(self.higher_is_better),
                "treat": pol}


def _tree_rule(tree: Any, names: list[str]) -> str:
    try:
        est = tree.policy_model_.tree_
        feat, thr = est.feature, est.threshold
        used = sorted({names[f] for f in feat if f >= 0})
        return "splits on " + (", ".join(used) if used else "nothing (one action for all)") + \
            f" ({int(np.sum(thr != -2))} splits)"
    except AttributeError:
        return "policy tree"
