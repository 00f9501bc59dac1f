"""A light in-domain text classifier: does this message read like a tax question at all?

Character n-grams (so it works on Chinese without segmentation, on typos and on mixed text) and a
logistic regression trained on the articles' own titles and question variants (in domain) against
the off-topic calibration sentences (knowledge/calibration/). Its probability is one feature of the
retriever's calibrated confidence; it never sees the dev sets.
"""

from __future__ import annotations

from typing import Any, Sequence, TypeAlias

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

Probabilities: TypeAlias = "np.ndarray[Any, np.dtype[np.float64]]"  # one per text


class DomainClassifier:
    """P(a message is a tax question) from its characters."""

    def __init__(self, in_domain: Sequence[str], off_topic: Sequence[str]) -> None:
        texts = list(in_domain) + list(off_topic)
        labels = np.array([1] * len(in_domain) + [0] * len(off_topic))
        ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=True, sublinear_tf=True, min_df=1)
        classifier = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
        self._model = Pipeline([("ngrams", ngrams), ("classifier", classifier)])
        self._model.fit(texts, labels)

    def probability(self, texts: Sequence[str]) -> Probabilities:
        """P(in domain) for each text."""
        if not texts:
            empty: Probabilities = np.zeros(0)
            return empty
        in_domain: Probabilities = self._model.predict_proba(list(texts))[:, 1]
        return in_domain
