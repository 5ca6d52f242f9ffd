"""Ticket text: topics and drivers, reason classification, comment sentiment, text as a confounder proxy.

Everything runs offline on scikit-learn (TF-IDF, NMF/LDA, logistic and ridge regression) and
EconML; nothing is downloaded at run time.

Examples
--------
>>> from causal.text import ReasonClassifier, TopicModel, check_texts
>>> check_texts(["hello"])
['hello']
"""

from __future__ import annotations

from causal.text.classify import KeywordRule, ReasonClassifier, ReasonClassifierResult
from causal.text.confounding import TextAdjustedEffect, TextAdjustedResult
from causal.text.features import TextFeatures, check_texts
from causal.text.sentiment import CommentSentiment, CommentSentimentResult
from causal.text.topics import TopicModel, TopicResult, npmi_coherence

__all__ = [
    "CommentSentiment",
    "CommentSentimentResult",
    "KeywordRule",
    "ReasonClassifier",
    "ReasonClassifierResult",
    "TextAdjustedEffect",
    "TextAdjustedResult",
    "TextFeatures",
    "TopicModel",
    "TopicResult",
    "check_texts",
    "npmi_coherence",
]
