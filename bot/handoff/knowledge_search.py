"""A small knowledge base search for the agent console: plain text match over the articles
(``knowledge.schema.load_articles``), reloaded when the article files change. No embeddings."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

_WORD = re.compile(r"[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff]+")
STOP = {"the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "is", "are", "do", "i", "my", "how", "what", "can"}


def tokens(text: str) -> List[str]:
    text = (text or "").lower()
    out = [w for w in _WORD.findall(text) if w not in STOP and len(w) > 1]
    for run in _CJK.findall(text):
        out += [run[i:i + 2] for i in range(len(run) - 1)] or [run]
    return out


def articles_dir() -> Path:
    from knowledge.settings import KnowledgeSettings

    return Path(KnowledgeSettings.from_env().articles_dir)


class KnowledgeSearch:
    def __init__(self, directory: Optional[Path] = None) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._stamp: Optional[Tuple[int, float]] = None
        self._index: List[Tuple[Any, Dict[str, int]]] = []

    def _load(self) -> None:
        from knowledge.schema import load_articles

        directory = self._dir or articles_dir()
        files = list(directory.rglob("*.yml"))
        stamp = (len(files), max((f.stat().st_mtime for f in files), default=0.0))
        with self._lock:
            if stamp == self._stamp:
                return
            index = []
            for article in load_articles(directory):
                weights: Dict[str, int] = {}
                fields = [(article.title, 3), (article.answer, 1)]
                for values, weight in fields:
                    for text in values.values():
                        for tok in tokens(text):
                            weights[tok] = max(weights.get(tok, 0), weight)
                for variants in article.questions.values():
                    for text in variants:
                        for tok in tokens(text):
                            weights[tok] = max(weights.get(tok, 0), 2)
                index.append((article, weights))
            self._index, self._stamp = index, stamp

    def search(self, query: str, language: str = "en", limit: int = 5) -> List[Dict[str, Any]]:
        self._load()
        wanted = set(tokens(query))
        if not wanted:
            return []
        scored = []
        for article, weights in self._index:
            score = sum(weights.get(tok, 0) for tok in wanted)
            if article.id.lower() == query.strip().lower():
                score += 100
            if score:
                scored.append((score, article))
        scored.sort(key=lambda pair: (-pair[0], pair[1].id))
        return [
            {"article_id": a.id, "title": a.text("title", language), "answer": a.text("answer", language),
             "source": a.citation(), "needs_officer": a.needs_officer, "score": s}
            for s, a in scored[:limit]
        ]
