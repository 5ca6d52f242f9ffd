"""Text methods on small synthetic corpora: checks, topics and NPMI, classifier vs keyword rule,
cross-fitted sentiment, the text-adjusted DML estimate, bad input and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from causal.text import (
    CommentSentiment,
    KeywordRule,
    ReasonClassifier,
    TextAdjustedEffect,
    TextFeatures,
    TopicModel,
    check_texts,
    npmi_coherence,
)
from servicelab.errors import DataError

WORDS = {
    "access": ["password", "login", "locked", "reset", "code"],
    "billing": ["refund", "charged", "invoice", "ads", "card"],
    "safety": ["harassing", "fake", "threat", "block", "report"],
}
FILLER = ["please", "help", "my", "account", "today", "thanks", "hi", "app"]


def _corpus(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    labels = rng.choice(list(WORDS), n)
    docs = []
    for lab in labels:
        own = list(rng.choice(WORDS[lab], 2))
        other = list(rng.choice(WORDS[str(rng.choice(list(WORDS)))], 1))  # shared vocabulary noise
        docs.append(" ".join([*own, *other, *rng.choice(FILLER, 3)]))
    return docs, list(labels)


def test_check_texts_refuses_empty_null_and_non_utf8() -> None:
    assert check_texts(pd.Series(["a b", b"caf\xc3\xa9"])) == ["a b", "café"]
    with pytest.raises(DataError, match="empty or whitespace"):
        check_texts(["fine", "  "])
    with pytest.raises(DataError, match="not valid UTF-8"):
        check_texts(["fine", b"\xff\xfe broken"])
    with pytest.raises(DataError, match="NULL"):
        check_texts(["fine", None])
    with pytest.raises(DataError, match="no text"):
        check_texts([])
    with pytest.raises(DataError, match="not text"):
        check_texts([3])
    for bad in (["ok", ""], ["ok", b"\xff"]):  # every text method refuses them
        with pytest.raises(DataError):
            TopicModel(n_topics=2).fit(bad)
        with pytest.raises(DataError):
            ReasonClassifier().fit(bad, ["a", "b"])


def test_npmi_matches_a_hand_computation() -> None:
    D = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 1]]))
    p0, p1, p01 = 3 / 4, 3 / 4, 2 / 4
    expected = np.log(p01 / (p0 * p1)) / -np.log(p01)
    assert npmi_coherence(D, [0, 1]) == pytest.approx(expected)


def test_topics_recover_the_planted_reasons() -> None:
    docs, labels = _corpus(np.random.default_rng(0), 900)
    r = TopicModel(n_topics=3, n_top=5, features=TextFeatures(min_df=2)).fit(docs, rng=1)
    agree = r.agreement(labels)
    assert agree["nmi"] > 0.6
    assert r.coherence > 0
    trend = r.trend(pd.date_range("2026-01-05", periods=900, freq="h"), freq="D")
    assert trend.shape[1] == 3
    assert np.allclose(trend.sum(axis=1), 1.0)
    again = TopicModel(n_topics=3, n_top=5, features=TextFeatures(min_df=2)).fit(docs, rng=1)
    pd.testing.assert_frame_equal(r.topics, again.topics)
    lda = TopicModel(n_topics=3, n_top=5, method="lda", features=TextFeatures(min_df=2)).fit(docs, rng=1)
    assert lda.agreement(labels)["nmi"] > 0.3


def test_classifier_beats_the_keyword_rule_on_shared_vocabulary() -> None:
    docs, labels = _corpus(np.random.default_rng(1), 1500)
    rule = KeywordRule({k: v[:2] for k, v in WORDS.items()}, default="access")
    r = ReasonClassifier(baseline=rule, features=TextFeatures(min_df=2)).fit(docs, labels, rng=2)
    assert r.accuracy > 0.85
    assert r.baseline_accuracy < r.accuracy - 0.1
    assert r.confusion.to_numpy().sum() == r.n_test
    assert list(r.predict(["refund charged invoice"])) == ["billing"]


def test_sentiment_scores_are_cross_fitted_and_track_the_rating() -> None:
    rng = np.random.default_rng(3)
    latent = rng.normal(0, 1, 800)
    pos, neg = ["great", "fast", "kind", "solved"], ["awful", "slow", "rude", "unsolved"]
    docs = [" ".join(rng.choice(pos if x + rng.normal(0, 0.7) > 0 else neg, 2)) + " support" for x in latent]
    rating = np.clip(np.round(3 + 1.2 * latent + rng.normal(0, 0.5, 800)), 1, 5)
    r = CommentSentiment(features=TextFeatures(min_df=1)).fit(docs, rating, rng=4)
    assert r.spearman(latent) > 0.5
    # cross-fitting: a model that memorised each comment would correlate ~perfectly with the rating
    assert r.spearman_rating < 0.95
    with pytest.raises(DataError, match="ratings"):
        CommentSentiment().fit(docs[:20], [np.nan] * 20)


def test_text_adjustment_removes_confounding_the_structured_controls_miss() -> None:
    """A direct DGP: complexity k (unobserved) raises treatment and outcome; the text says how
    complex the issue is. The text-adjusted DML estimate is much closer to the true effect 0.2."""
    rng = np.random.default_rng()
    n = 3000
    k = rng.normal(0, 1, n)
    seg = rng.choice(["a", "b"], n)
    t = (rng.random(n) < 1 / (1 + np.exp(1.0 - 1.2 * k))).astype(int)
    y = 0.2 * t + 0.6 * k + 0.3 * (seg == "b") + rng.normal(0, 0.3, n)
    n_tech = rng.poisson(np.exp(0.3 + 0.9 * k))
    docs = [" ".join(["help", "my", "account"] + ["error", "code", "version"][: min(m, 3)] + ["logs"] * max(m - 3, 0))
            for m in n_tech]  # fmt: skip
    f = pd.DataFrame({"y": y, "t": t, "seg": seg, "msg": docs})
    r = TextAdjustedEffect("y", "t", ("seg",), "msg", n_components=5, features=TextFeatures(min_df=1)).fit(f, rng=1)
    err_s, err_t = abs(r.structured.estimate - 0.2), abs(r.text_adjusted.estimate - 0.2)
    assert err_s > 0.2  # the structured-only estimate is badly confounded
    assert err_t < 0.5 * err_s
    assert list(r.table(0.2)["error"].round(6)) == [round(r.structured.estimate - 0.2, 6),
                                                    round(r.text_adjusted.estimate - 0.2, 6)]  # fmt: skip
    with pytest.raises(DataError, match="binary"):
        TextAdjustedEffect("y", "y", ("seg",), "msg").fit(f)
    with pytest.raises(DataError, match="empty"):
        TextAdjustedEffect("y", "t", ("seg",), "msg").fit(f.assign(msg=""))
