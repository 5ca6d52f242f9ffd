"""Sentiment of survey comments: a cross-fitted TF-IDF ridge regression of the CSAT score.

Each comment's score is predicted by a model that never saw it (K-fold cross-fitting), so the
scores can be correlated with anything (the observed CSAT, or the world's latent satisfaction)
without overfitting flattering the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline

from causal.text.features import TextFeatures, check_texts
from servicelab.errors import DataError, DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["CommentSentiment", "CommentSentimentResult"]


@dataclass(frozen=True)
class CommentSentiment:
    """Cross-fitted sentiment score of comments, trained on a numeric rating (e.g. CSAT 1-5).

    Examples
    --------
    >>> docs = ["great help", "awful", "great fast", "awful slow", "ok fine", "great"] * 5
    >>> score = [5, 1, 5, 1, 3, 5] * 5
    >>> r = CommentSentiment(features=TextFeatures(min_df=1)).fit(docs, score, rng=0)
    >>> bool(r.spearman(score) > 0.8)
    True
    """

    folds: int = 5
    alpha: float = 1.0
    features: TextFeatures = field(default_factory=lambda: TextFeatures(min_df=2))

    def fit(self, texts: Sequence[Any] | pd.Series, rating: Sequence[float] | pd.Series,
            rng: RNGLike = None) -> CommentSentimentResult:  # fmt: skip
        """Cross-fitted predictions of ``rating`` from the text."""
        if self.folds < 2:
            raise DesignError(f"folds must be >= 2, got {self.folds}")
        docs = check_texts(texts, role="comment")
        y = np.asarray(list(rating), dtype=float)
        if len(y) != len(docs):
            raise DataError(f"{len(docs)} comments but {len(y)} ratings")
        if not np.isfinite(y).all():
            raise DataError("ratings hold NULL or infinite values; drop those rows")
        if len(docs) < 2 * self.folds:
            raise DataError(f"{len(docs)} comments are too few for {self.folds}-fold cross-fitting")
        seed = seed_int(resolve_rng(rng))
        pred = np.empty(len(docs))
        for tr, te in KFold(self.folds, shuffle=True, random_state=seed).split(docs):
            model = make_pipeline(self.features.vectorizer(), Ridge(alpha=self.alpha))
            model.fit([docs[i] for i in tr], y[tr])
            pred[te] = model.predict([docs[i] for i in te])
        rho = float(stats.spearmanr(pred, y).statistic)
        diags = (Diagnostic("cross_fitted", "ok", f"every score comes from a model fitted without its comment "
                            f"({self.folds} folds); Spearman with the training rating {rho:.3f}", rho),)  # fmt: skip
        return CommentSentimentResult(self, pred, rho, diags)


@dataclass(frozen=True, eq=False, repr=False)
class CommentSentimentResult(ResultMixin):
    """Cross-fitted sentiment score per comment (on the rating's scale)."""

    spec: CommentSentiment
    scores: np.ndarray
    spearman_rating: float
    diagnostics: tuple[Diagnostic, ...] = ()

    def spearman(self, other: Sequence[float]) -> float:
        """Spearman correlation of the scores with ``other`` (e.g. the latent satisfaction)."""
        o = np.asarray(list(other), dtype=float)
        if o.shape != self.scores.shape:
            raise DataError(f"{o.size} values for {self.scores.size} scores")
        return float(stats.spearmanr(self.scores, o).statistic)

    def summary(self) -> Summary:
        """Score distribution and the correlation with the training rating."""
        t = pd.DataFrame([{"comments": self.scores.size, "mean_score": float(self.scores.mean()),
                           "spearman_with_rating": self.spearman_rating}])  # fmt: skip
        return Summary("Comment sentiment (cross-fitted TF-IDF ridge)", t, diagnostics=self.diagnostics)

    def plot(self, ax: Any = None, against: Sequence[float] | None = None):
        """Histogram of the scores, or a scatter against ``against``."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(5, 3.5))[1]
        if against is None:
            ax.hist(self.scores, bins=30)
            ax.set_xlabel("sentiment score")
        else:
            ax.scatter(np.asarray(list(against), dtype=float), self.scores, s=3, alpha=0.3)
            ax.set_ylabel("sentiment score")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"n": int(self.scores.size), "spearman_rating": self.spearman_rating,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip
