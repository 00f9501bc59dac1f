"""The agent console's knowledge search: the knowledge package's lexical index over the articles.

One search implementation for the bot and the console: ``knowledge.retriever.LexicalIndex`` (BM25 over
``knowledge.text`` tokens: jieba for Chinese, stemming for English), rebuilt when
``knowledge.service.fingerprint`` notices an edited article file.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, TypedDict

from knowledge.retriever import LexicalIndex
from knowledge.schema import Article, load_articles
from knowledge.service import Fingerprint, fingerprint
from knowledge.settings import KnowledgeSettings

EXACT_ID_SCORE = 100.0


class SearchResult(TypedDict):
    """An article as the console shows it next to a reply being written."""

    article_id: str
    title: str
    answer: str
    source: Dict[str, Any]
    needs_officer: bool
    score: float


class KnowledgeSearch:
    """Search the knowledge base by words, in either language, for an agent composing a reply."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._stamp: Optional[Fingerprint] = None
        self._index: Optional[LexicalIndex] = None

    def _load(self) -> LexicalIndex:
        directory = self._dir or Path(KnowledgeSettings.from_env().articles_dir)
        stamp = fingerprint(directory)
        with self._lock:
            if self._index is None or stamp != self._stamp:
                self._index, self._stamp = LexicalIndex(load_articles(directory)), stamp
            return self._index

    def search(self, query: str, language: str = "en", limit: int = 5) -> List[SearchResult]:
        """The best articles for ``query``, shown in ``language``; an exact article id comes first."""
        index = self._load()
        found: List[Tuple[Article, float]] = index.search(query, limit)
        exact = [a for a in index.articles if a.id == query.strip().lower()]
        if exact:
            found = [(exact[0], EXACT_ID_SCORE)] + [(a, s) for a, s in found if a.id != exact[0].id][: limit - 1]
        return [
            {"article_id": a.id, "title": a.text("title", language), "answer": a.text("answer", language),
             "source": a.citation(language), "needs_officer": a.needs_officer, "score": round(s, 3)}
            for a, s in found
        ]
