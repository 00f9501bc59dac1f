"""The agent console's knowledge search: the retriever's own lexical index (knowledge.retriever.LexicalIndex,
jieba for Chinese, stemming for English) over the articles, rebuilt when the article files change."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from knowledge.retriever import LexicalIndex
from knowledge.schema import article_files, load_articles
from knowledge.settings import KnowledgeSettings


class KnowledgeSearch:
    """Search the knowledge base by words, in either language, for an agent composing a reply."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._stamp: Optional[Tuple[int, float]] = None
        self._index: Optional[LexicalIndex] = None

    def _load(self) -> LexicalIndex:
        directory = self._dir or Path(KnowledgeSettings.from_env().articles_dir)
        files = article_files(directory)
        stamp = (len(files), max((f.stat().st_mtime for f in files), default=0.0))
        with self._lock:
            if self._index is None or stamp != self._stamp:
                self._index, self._stamp = LexicalIndex(load_articles(directory)), stamp
            return self._index

    def search(self, query: str, language: str = "en", limit: int = 5) -> List[Dict[str, Any]]:
        """The best articles for `query`, shown in `language`; an exact article id comes first."""
        index = self._load()
        found = index.search(query, limit)
        exact = [a for a in index.articles if a.id == query.strip().lower()]
        if exact:
            found = [(exact[0], 100.0)] + [(a, s) for a, s in found if a.id != exact[0].id][: limit - 1]
        return [
            {"article_id": a.id, "title": a.text("title", language), "answer": a.text("answer", language),
             "source": a.citation(language), "needs_officer": a.needs_officer, "score": round(s, 3)}
            for a, s in found
        ]
