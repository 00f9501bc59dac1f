"""The knowledge service the actions call: one encoder, one retriever, rebuilt when articles change."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Hashable, Optional, Tuple

from knowledge.encoder import Encoder, load_encoder
from knowledge.retriever import Retrieval, Retriever, content_hash
from knowledge.schema import Article, article_files, load_articles
from knowledge.settings import KnowledgeSettings

logger = logging.getLogger(__name__)

Fingerprint = Tuple[Tuple[str, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """A cheap signature of the article files (name, size, mtime) to notice edits."""
    result = []
    for path in article_files(directory):
        stat = path.stat()
        result.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(result)


def normalise_query(query: str) -> str:
    """The cache key form of a query: whitespace collapsed, lower-cased.

    Both retrieval signals ignore case (the embedding model's tokenizer is uncased, BM25 tokens are
    lower-cased) and the retriever collapses whitespace, so queries differing only in these get the same
    result.
    """
    return " ".join(query.split()).lower()


class RetrievalCache:
    """A thread-safe LRU of retrieval results, so repeated popular questions skip the embedding.

    Keys include the index key (a hash of the articles and the model), so a rebuilt index never serves
    results of the previous one.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.hits = 0
        self.misses = 0
        self._items: "OrderedDict[Hashable, Retrieval]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Optional[Retrieval]:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Retrieval) -> None:
        if self.max_size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)


class KnowledgeService:
    """Owns the retriever; notices edited articles and swaps in a rebuilt index in the background."""

    def __init__(self, settings: KnowledgeSettings, encoder_factory: Optional[Callable[[], Encoder]] = None) -> None:
        self.settings = settings
        self._encoder_factory = encoder_factory or (lambda: load_encoder(settings.encoder, settings.model_dir))
        self._encoder: Optional[Encoder] = None
        self._retriever: Optional[Retriever] = None
        self._fingerprint: Fingerprint = ()
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._rebuilding = False
        self.cache = RetrievalCache(settings.retrieval_cache_size)

    def start(self) -> Retriever:
        """Load the encoder and build (or load from cache) the index; call once at server start."""
        with self._lock:
            if self._retriever is None:
                self._encoder = self._encoder_factory()
                self._retriever, self._fingerprint = self._build()
                self._retriever.search("warm up the query embedding")  # first calls compile or page in
                self._checked_at = time.monotonic()
            return self._retriever

    def _build(self) -> Tuple[Retriever, Fingerprint]:
        assert self._encoder is not None
        stamp = fingerprint(self.settings.articles_dir)
        articles = load_articles(self.settings.articles_dir)
        key = content_hash(self.settings.articles_dir, self._encoder.name)
        retriever = Retriever.build(
            articles,
            self._encoder,
            self.settings.cache_dir,
            key,
            answer_threshold=self.settings.answer_threshold,
            domain_threshold=self.settings.domain_threshold,
        )
        logger.info("Knowledge base ready: %d articles (index %s)", len(articles), key)
        return retriever, stamp

    @property
    def retriever(self) -> Retriever:
        """The current retriever (starting the service on first use)."""
        retriever = self._retriever or self.start()
        self._maybe_refresh()
        return retriever

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if self._rebuilding or now - self._checked_at < self.settings.refresh_seconds:
            return
        self._checked_at = now
        if fingerprint(self.settings.articles_dir) == self._fingerprint:
            return
        self._rebuilding = True
        threading.Thread(target=self._rebuild, name="knowledge-rebuild", daemon=True).start()

    def _rebuild(self) -> None:
        try:
            retriever, stamp = self._build()
            with self._lock:
                self._retriever, self._fingerprint = retriever, stamp
        except Exception:  # a broken edit must not take the service down: keep serving the old index
            logger.exception("Rebuilding the knowledge index failed; still serving the previous one")
            self._fingerprint = fingerprint(self.settings.articles_dir)
        finally:
            self._rebuilding = False

    def refresh_now(self) -> None:
        """Rebuild synchronously if the articles changed (for tests and the CLI)."""
        if fingerprint(self.settings.articles_dir) != self._fingerprint:
            self._rebuild()

    def search(self, query: str, language: Optional[str] = None) -> Retrieval:
        """The retrieval for `query`, from the LRU cache when the same question was asked before."""
        retriever = self.retriever
        if self.cache.max_size <= 0:
            return retriever.search(query, language=language)
        key = (retriever.key, normalise_query(query), language or "")
        cached = self.cache.get(key)
        if cached is not None:
            return replace(cached, query=" ".join(query.split()))
        result = retriever.search(query, language=language)
        self.cache.put(key, result)
        return result

    def get(self, article_id: str) -> Optional[Article]:
        return self.retriever.get(article_id)


_service: Optional[KnowledgeService] = None
_service_lock = threading.Lock()


def get_service() -> KnowledgeService:
    """The process-wide knowledge service, created from the environment on first call."""
    global _service
    with _service_lock:
        if _service is None:
            _service = KnowledgeService(KnowledgeSettings.from_env())
        return _service
