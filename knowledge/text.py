"""Language detection and BM25 tokenization (English stemming, jieba for Chinese).

`detect_language` is the project's one idea of a message's language: used by the NLU component, the
action server and the gateway.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, List, Optional, cast

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")  # CJK unified ideographs and extension A: Chinese
CJK_RUN = re.compile(CJK.pattern + "+")
WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be been but by can could do does did for from had has have how i i'm if in
    into is it its me my of on or our please she so than that the their them then there these they
    this to too us was we were what when where which who whom why will with would you your yours
    am any about after again also just should shall may might must get got""".split()
)


LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Words that say nothing about the writer's language: acknowledgements, acronyms, names of things.
NEUTRAL_WORDS = frozenset("ok okay kk iit vat cit eit app id pdf qq wechat alipay etax ai".split())
LANGUAGES = ("en", "zh")


def detect_language(text: str) -> Optional[str]:
    """'zh' for any Chinese, 'en' for English words, None when the text has no clear language.

    Numbers only, "ok", acronyms and button payloads ("/intent{...}") have no clear language: the caller
    then keeps the conversation's preference (the page's 中文/EN switch, or the previous message).
    """
    if not text or text.lstrip().startswith("/"):
        return None
    if CJK.search(text):
        return "zh"
    words = [w.lower() for w in LATIN_WORD.findall(text)]
    return "en" if any(w not in NEUTRAL_WORDS for w in words) else None


def language_of(text: str, default: str = "en") -> str:
    """The message's language, or `default` when it has none (see `detect_language`)."""
    return detect_language(text) or default


Words = Callable[[str], List[str]]


@lru_cache(maxsize=1)
def _stem_words() -> Callable[[List[str]], List[str]]:
    """PyStemmer's English `stemWords`, loaded on first use."""
    import Stemmer  # PyStemmer

    return cast(Callable[[List[str]], List[str]], Stemmer.Stemmer("english").stemWords)


@lru_cache(maxsize=1)
def _segment() -> Words:
    """Chinese words by jieba in search mode, loaded on first use."""
    import jieba

    jieba.setLogLevel(60)
    return cast(Words, jieba.lcut_for_search)


@lru_cache(maxsize=1)
def _pinyin() -> Words:
    """Toneless pinyin syllables of a text, loaded on first use."""
    from pypinyin import Style, lazy_pinyin

    def syllables(text: str) -> List[str]:
        return lazy_pinyin(text, style=Style.NORMAL, errors="ignore")

    return syllables


def pinyin_of(word: str) -> str:
    """A Chinese word's toneless pinyin as one token ("清缴" and the homophone typo "清交" both give "~qingjiao")."""
    return "~" + "".join(_pinyin()(word))


def tokenize(text: str) -> List[str]:
    """BM25 tokens: stemmed English words without stopwords, and for Chinese, jieba words (search mode).

    Each Chinese word of two or more characters also gives its pinyin, so homophone typos still match.
    """
    lowered = text.lower()
    tokens: List[str] = []
    if CJK.search(lowered):
        for piece in _segment()(lowered):
            piece = piece.strip()
            if piece and CJK.search(piece):
                tokens.append(piece)
                if len(piece) >= 2 and CJK.fullmatch(piece[0]) and CJK_RUN.fullmatch(piece):
                    tokens.append(pinyin_of(piece))
        lowered = CJK.sub(" ", lowered)
    words = [w for w in WORD.findall(lowered) if w not in ENGLISH_STOPWORDS]
    tokens.extend(_stem_words()(words))
    return tokens
