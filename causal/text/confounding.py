"""Text as a proxy for an unobserved confounder, inside double machine learning (EconML LinearDML).

The customer's message is written before the contact is routed, so it is a valid (pre-treatment)
control. Where a confounder is unobserved in the structured columns (the contact's complexity,
which drives both escalation to a specialist and handle time), the wording carries part of it:
longer, more technical, "third time i write". The estimator fits EconML ``LinearDML`` twice with
the same folds and nuisance learners: with the structured controls only, and with the
structured controls plus a dense representation of the text (TruncatedSVD of TF-IDF, and the log
word count). Nuisances are cross-fitted by EconML; the text representation is unsupervised
(it never sees the outcome or the treatment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from causal.results import EffectEstimate
from causal.text.features import TextFeatures, check_texts
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable
from servicelab.validation import require_columns, require_finite

__all__ = ["TextAdjustedEffect", "TextAdjustedResult"]


@dataclass(frozen=True)
class TextAdjustedEffect:
    """ATE of a binary treatment by LinearDML with and without text features among the controls.

    Parameters
    ----------
    outcome, treatment : str
        Columns (treatment 0/1 or boolean).
    controls : tuple of str
        Structured controls; text columns (object/category) are one-hot encoded.
    text : str
        The text column (checked: no NULL, empty or non-UTF-8 entries).
    n_components : int
        Dimensions of the TruncatedSVD of the TF-IDF matrix.
    folds : int
        Cross-fitting folds of LinearDML.
    """

    outcome: str
    treatment: str
    controls: tuple[str, ...]
    text: str
    n_components: int = 40
    folds: int = 3
    features: TextFeatures = field(default_factory=lambda: TextFeatures(min_df=5, max_features=20_000))

    def fit(self, data: pd.DataFrame, rng: RNGLike = None) -> TextAdjustedResult:
        """Fit both models; returns both estimates (structured-only and text-adjusted)."""
        from econml.dml import LinearDML

        if self.n_components < 1 or self.folds < 2:
            raise DesignError("n_components must be >= 1 and folds >= 2")
        require_columns(data, [self.outcome, self.treatment, self.text, *self.controls],
                        role="text-adjusted DML columns", allow_empty=False)  # fmt: skip
        require_finite(data, [self.outcome], role="outcome")
        t = data[self.treatment]
        if not set(pd.unique(t)) <= {0, 1}:
            raise DataError(f"treatment {self.treatment!r} must be binary (0/1 or boolean)")
        if t.nunique() < 2:
            raise DataError(f"treatment {self.treatment!r} has one value only; nothing to compare")
        docs = check_texts(data[self.text], role=self.text)
        gen = resolve_rng(rng)
        seed = seed_int(gen)
        W_s = pd.get_dummies(data[list(self.controls)], drop_first=True, dtype=float).to_numpy(dtype=float)
        if not np.isfinite(W_s).all():
            raise DataError(f"controls {list(self.controls)} hold NULL or infinite values; impute or drop them")
        X_tfidf, _ = self.features.fit_transform(docs)
        k = min(self.n_components, X_tfidf.shape[1] - 1)
        if k < 1:
            raise DataError("the text has too few distinct terms for an SVD representation")
        Z = TruncatedSVD(n_components=k, random_state=seed).fit_transform(X_tfidf)
        length = np.log1p(np.array([len(d.split()) for d in docs], dtype=float))[:, None]
        W_t = np.hstack([W_s, Z, length])
        y = data[self.outcome].to_numpy(dtype=float)
        tt = t.to_numpy().astype(int)
        out = []
        for name, W in (("structured controls", W_s), ("structured + text", W_t)):
            # a light fixed ridge: EconML turns RidgeCV into a model search (4x the time, same fit here)
            est = LinearDML(model_y=make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
                            model_t=make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)),
                            discrete_treatment=True, cv=self.folds, random_state=seed)  # fmt: skip
            est.fit(y, tt, X=None, W=W)
            inf = est.ate_inference()
            point = float(np.ravel(inf.mean_point)[0])
            se = float(np.ravel(inf.stderr_mean)[0])
            out.append(EffectEstimate.from_se("ATE", f"rows of the frame ({len(y)})", f"LinearDML, {name}", point,
                                              se, n=len(y)))  # fmt: skip
        diags = (Diagnostic("text_representation", "ok",
                            f"TruncatedSVD({k}) of TF-IDF ({X_tfidf.shape[1]} terms) + log word count, fitted "
                            "without outcome or treatment"),
                 Diagnostic("assumption", "ok", "the text is written before treatment; it proxies an unobserved "
                            "confounder only as far as the wording reflects it: the bias shrinks, it need not "
                            "vanish"))
        return TextAdjustedResult(self, out[0], out[1], diags)


@dataclass(frozen=True, eq=False, repr=False)
class TextAdjustedResult(ResultMixin):
    """The structured-only and the text-adjusted estimates of the same ATE."""

    spec: TextAdjustedEffect
    structured: EffectEstimate
    text_adjusted: EffectEstimate
    diagnostics: tuple[Diagnostic, ...] = ()

    def table(self, truth: float | None = None) -> pd.DataFrame:
        """Both estimates, with the error against ``truth`` when given."""
        rows = [self.structured.to_row(), self.text_adjusted.to_row()]
        f = pd.DataFrame(rows)[["method", "estimate", "se", "ci_low", "ci_high", "n"]]
        if truth is not None:
            f["truth"] = truth
            f["error"] = f["estimate"] - truth
        return f

    def summary(self, truth: float | None = None) -> Summary:
        """Both estimates side by side."""
        return Summary(f"Effect of {self.spec.treatment} on {self.spec.outcome}: structured vs text-adjusted",
                       self.table(truth), diagnostics=self.diagnostics)  # fmt: skip

    def plot(self, ax: Any = None, truth: float | None = None):
        """Both estimates with intervals, and the truth when given."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 2.5))[1]
        for i, e in enumerate((self.structured, self.text_adjusted)):
            ax.errorbar(e.estimate, i, xerr=[[e.estimate - e.ci_low], [e.ci_high - e.estimate]], fmt="o", capsize=4)
        if truth is not None:
            ax.axvline(truth, color="red", ls="--", label="truth")
            ax.legend()
        ax.set_yticks([0, 1], ["structured", "structured + text"])
        ax.set_xlabel(f"ATE of {self.spec.treatment} on {self.spec.outcome}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"structured": self.structured.to_dict(), "text_adjusted": self.text_adjusted.to_dict(),
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip


