"""Topics and contact drivers (NMF or LDA, scikit-learn), their coherence and their trend.

Coherence is the mean normalised pointwise mutual information (NPMI, Bouma 2009) of each topic's
top words, from document co-occurrence in the corpus itself: ``NPMI(a, b) = log(p_ab / (p_a p_b)) /
-log p_ab`` (-1 when the pair never co-occurs), in [-1, 1]. When the true reasons are known (the
synthetic world), :meth:`TopicResult.agreement` scores the dominant topic against them
(normalised mutual information, and each topic's purity).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF, LatentDirichletAllocation
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import normalized_mutual_info_score

from causal.text.features import TOKEN_PATTERN, TextFeatures, check_texts
from servicelab.errors import DesignError
from servicelab.random import RNGLike, resolve_rng, seed_int
from servicelab.results import Diagnostic, ResultMixin, Summary, jsonable

__all__ = ["TopicModel", "TopicResult", "npmi_coherence"]


def npmi_coherence(binary_docs: Any, word_ids: Sequence[int]) -> float:
    """Mean NPMI over the pairs of ``word_ids`` in a binary document-term matrix.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> D = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]))
    >>> round(npmi_coherence(D, [0, 1]), 3), round(npmi_coherence(D, [0, 2]), 3)
    (1.0, -1.0)
    """
    n = binary_docs.shape[0]
    cols = binary_docs[:, list(word_ids)]
    p = np.asarray(cols.sum(axis=0)).ravel() / n
    co = (cols.T @ cols).toarray() / n
    vals = []
    for i, j in itertools.combinations(range(len(word_ids)), 2):
        pij = co[i, j]
        if pij <= 0:
            vals.append(-1.0)
        elif pij >= 1:
            vals.append(1.0)
        else:
            vals.append(float(np.log(pij / (p[i] * p[j])) / -np.log(pij)))
    return float(np.mean(vals)) if vals else float("nan")


@dataclass(frozen=True)
class TopicModel:
    """Topic model over short texts.

    Parameters
    ----------
    n_topics : int
        Number of topics.
    method : {"nmf", "lda"}
        NMF on TF-IDF (default; sharper topics on short texts) or LDA on counts.
    n_top : int
        Top words per topic (for labels and coherence).
    features : TextFeatures
        TF-IDF settings (unigrams are used for topics).

    Examples
    --------
    >>> docs = ["refund ads charged", "ads refund invoice", "password login reset", "login password locked"] * 5
    >>> r = TopicModel(n_topics=2, n_top=3, features=TextFeatures(min_df=1)).fit(docs, rng=0)
    >>> sorted(len(w.split(", ")) for w in r.topics["top_words"])
    [3, 3]
    """

    n_topics: int = 8
    method: Literal["nmf", "lda"] = "nmf"
    n_top: int = 10
    features: TextFeatures = field(default_factory=lambda: TextFeatures(ngram_max=1))

    def fit(self, texts: Sequence[Any] | pd.Series, rng: RNGLike = None) -> TopicResult:
        """Fit the topics; document-topic weights are normalised to shares per document."""
        if self.n_topics < 2:
            raise DesignError(f"n_topics must be >= 2, got {self.n_topics}")
        if self.method not in ("nmf", "lda"):
            raise DesignError(f"method must be 'nmf' or 'lda', got {self.method!r}")
        docs = check_texts(texts)
        seed = seed_int(resolve_rng(rng))
        f = TextFeatures(ngram_max=1, min_df=self.features.min_df, max_df=self.features.max_df,
                         max_features=self.features.max_features, stop_words=self.features.stop_words)  # fmt: skip
        if self.method == "nmf":
            X, vec = f.fit_transform(docs)
            model = NMF(n_components=self.n_topics, init="nndsvda", random_state=seed, max_iter=400)
        else:
            vec = CountVectorizer(token_pattern=TOKEN_PATTERN, min_df=f.min_df, max_df=f.max_df,
                                  max_features=f.max_features, stop_words=f.stop_words)  # fmt: skip
            X = vec.fit_transform(docs)
            model = LatentDirichletAllocation(n_components=self.n_topics, random_state=seed, learning_method="batch")
        W = model.fit_transform(X)
        vocab = np.asarray(vec.get_feature_names_out())
        binary = (X > 0).astype(np.float64).tocsr()
        rows = []
        for k, comp in enumerate(model.components_):
            top = np.argsort(comp)[::-1][: self.n_top]
            rows.append({"topic": k, "top_words": ", ".join(vocab[top]), "npmi": npmi_coherence(binary, top),
                         "share": float(np.mean(W.argmax(axis=1) == k))})  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = W / W.sum(axis=1, keepdims=True)
        shares = np.nan_to_num(shares)
        diags = []
        empty = int((W.sum(axis=1) == 0).sum())
        if empty:
            diags.append(Diagnostic("empty_documents", "warning",
                                    f"{empty} documents have no weight on any topic (no term survived pruning)",
                                    float(empty)))  # fmt: skip
        topics = pd.DataFrame(rows)
        diags.append(Diagnostic("coherence", "ok" if topics["npmi"].mean() > 0 else "warning",
                                f"mean NPMI of the top-{self.n_top} words: {topics['npmi'].mean():.3f} "
                                "(> 0: the top words co-occur more than by chance)",
                                float(topics["npmi"].mean())))
        return TopicResult(self, topics, shares, tuple(diags))


@dataclass(frozen=True, eq=False, repr=False)
class TopicResult(ResultMixin):
    """Topics (top words, NPMI coherence, share of documents) and per-document topic shares."""

    spec: TopicModel
    topics: pd.DataFrame
    doc_topics: np.ndarray
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def dominant(self) -> np.ndarray:
        """The dominant topic of each document."""
        return self.doc_topics.argmax(axis=1)

    @property
    def coherence(self) -> float:
        """Mean NPMI over topics."""
        return float(self.topics["npmi"].mean())

    def label(self, k: int, words: int = 3) -> str:
        """A short label: the topic's first top words."""
        return " / ".join(self.topics.loc[k, "top_words"].split(", ")[:words])

    def trend(self, dates: Sequence[Any] | pd.Series, freq: str = "D") -> pd.DataFrame:
        """Share of each topic (mean document share) per period (``freq``: "D", "W-MON"...)."""
        d = pd.to_datetime(pd.Series(list(dates)))
        if len(d) != self.doc_topics.shape[0]:
            raise DesignError(f"dates has {len(d)} entries for {self.doc_topics.shape[0]} documents")
        f = pd.DataFrame(self.doc_topics, columns=[f"topic_{k}" for k in range(self.doc_topics.shape[1])])
        f["period"] = d.dt.to_period(freq).dt.start_time.to_numpy()
        return f.groupby("period").mean()

    def agreement(self, truth: Sequence[Any]) -> dict[str, Any]:
        """Dominant topic against true labels: NMI and each topic's purity (its most common label)."""
        t = np.asarray(list(truth))
        ct = pd.crosstab(self.dominant, t)
        purity = (ct.max(axis=1) / ct.sum(axis=1)).rename("purity")
        return {"nmi": float(normalized_mutual_info_score(t, self.dominant)),
                "purity": float((ct.max(axis=1).sum()) / ct.values.sum()),
                "by_topic": pd.DataFrame({"label": ct.idxmax(axis=1), "purity": purity})}  # fmt: skip

    def summary(self) -> Summary:
        """Topics with their coherence."""
        return Summary(f"Topics ({self.spec.method.upper()}, {self.spec.n_topics})", self.topics,
                       info={"documents": self.doc_topics.shape[0], "mean NPMI": self.coherence},
                       diagnostics=self.diagnostics)  # fmt: skip

    def plot(self, ax: Any = None, dates: Sequence[Any] | None = None, freq: str = "D"):
        """Topic trend over time when ``dates`` is given, else the topic shares."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(8, 3.5))[1]
        if dates is None:
            ax.barh([self.label(k) for k in self.topics["topic"]], self.topics["share"])
            ax.set_xlabel("share of documents (dominant topic)")
            return ax
        tr = self.trend(dates, freq)
        for k in range(tr.shape[1]):
            ax.plot(tr.index, tr.iloc[:, k], lw=1, label=self.label(k))
        ax.set_ylabel("mean topic share")
        ax.legend(fontsize=6, ncol=2)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return jsonable({"topics": self.topics.to_dict(orient="records"), "coherence": self.coherence,
                         "diagnostics": [d.to_dict() for d in self.diagnostics]})  # fmt: skip
