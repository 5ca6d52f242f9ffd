"""Checked text input and TF-IDF features (scikit-learn), shared by the text methods.

Texts are validated before any model sees them: a NULL, an empty or whitespace-only text, or bytes
that are not valid UTF-8 are errors naming the rows and the fix (a silent "" would be a document
like any other and move every downstream number).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from servicelab.errors import DataError

__all__ = ["TextFeatures", "check_texts"]

# words of two or more letters/digits in any script (Arabic, Japanese split by spaces, Latin...)
TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def check_texts(texts: Sequence[Any] | pd.Series, role: str = "text") -> list[str]:
    r"""Return ``texts`` as a list of ``str``, refusing NULL, empty and non-UTF-8 entries.

    Bytes are decoded as UTF-8.

    Raises
    ------
    DataError
        Naming the first offending positions and what to do.

    Examples
    --------
    >>> check_texts(["i cant log in", b"caf\xc3\xa9"])
    ['i cant log in', 'café']
    """
    values = list(texts.tolist() if isinstance(texts, pd.Series) else texts)
    if not values:
        raise DataError(f"no {role} given; pass at least one document")
    out: list[str] = []
    nulls, empty, bad = [], [], []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            nulls.append(i)
            out.append("")
            continue
        if isinstance(v, bytes | bytearray):
            try:
                v = bytes(v).decode("utf-8")
            except UnicodeDecodeError:
                bad.append(i)
                out.append("")
                continue
        if not isinstance(v, str):
            raise DataError(f"{role} at position {i} is a {type(v).__name__}, not text")
        if not v.strip():
            empty.append(i)
        out.append(v)
    if bad:
        raise DataError(f"{len(bad)} {role} entries are not valid UTF-8 (positions {bad[:5]}); decode them with "
                        "the right encoding (or errors='replace') before analysis")  # fmt: skip
    if nulls:
        raise DataError(f"{len(nulls)} {role} entries are NULL (positions {nulls[:5]}); drop those rows (a missing "
                        "comment is not an empty one)")  # fmt: skip
    if empty:
        raise DataError(f"{len(empty)} {role} entries are empty or whitespace (positions {empty[:5]}); drop them "
                        "or say why an empty text is a document")  # fmt: skip
    return out


@dataclass(frozen=True)
class TextFeatures:
    """TF-IDF settings (word uni- and bigrams, sublinear term frequency).

    Examples
    --------
    >>> X, vec = TextFeatures(min_df=1).fit_transform(["cant log in", "refund for ads", "log in fails"])
    >>> X.shape[0], "log" in vec.vocabulary_
    (3, True)
    """

    ngram_max: int = 2
    min_df: int = 3
    max_df: float = 0.9
    max_features: int | None = 30_000
    stop_words: str | None = None  # "english": scikit-learn's built-in list (no download)

    def vectorizer(self) -> TfidfVectorizer:
        """A fresh, unfitted vectorizer."""
        return TfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, self.ngram_max), min_df=self.min_df,
                               max_df=self.max_df, max_features=self.max_features, sublinear_tf=True,
                               stop_words=self.stop_words)  # fmt: skip

    def fit_transform(self, texts: Sequence[Any]) -> tuple[Any, TfidfVectorizer]:
        """Checked texts -> (sparse TF-IDF matrix, fitted vectorizer)."""
        docs = check_texts(texts)
        vec = self.vectorizer()
        try:
            X = vec.fit_transform(docs)
        except ValueError as exc:  # empty vocabulary after min_df / max_df
            raise DataError(f"no terms left after pruning ({exc}); lower min_df or pass more documents") from exc
        return X, vec
