"""Language detection and BM25 tokenization (English stemming, jieba for Chinese)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import List

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does did for from had has have how i i'm if in
    into is it its me my of on or our please she so than that the their them then there these they
    this to too us was we were what when where which who whom why will with would you your yours
    am any about after again also just should shall may might must get got""".split()
)


def language_of(text: str) -> str:
    """'zh' when the text contains Chinese characters, else 'en'."""
    return "zh" if CJK.search(text) else "en"


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(60)
    return jieba


def tokenize(text: str) -> List[str]:
    """BM25 tokens: stemmed English words without stopwords; jieba words for Chinese runs."""
    lowered = text.lower()
    tokens: List[str] = []
    if CJK.search(lowered):
        for piece in _jieba().lcut_for_search(lowered):
            piece = piece.strip()
            if piece and CJK.search(piece):
                tokens.append(piece)
        lowered = CJK.sub(" ", lowered)
    words = [w for w in WORD.findall(lowered) if w not in ENGLISH_STOPWORDS]
    tokens.extend(_stemmer().stemWords(words))
    return tokens
