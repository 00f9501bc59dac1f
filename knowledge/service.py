"""The knowledge service the actions call: one encoder, one retriever, rebuilt when articles change."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Tuple

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

    The retriever collapses whitespace and BM25 lower-cases its tokens, so neither changes the result.
    Case does change e5 query vectors a little (MiniLM is uncased), so a cached result is the one of the
    first spelling asked.
    """
    return " ".join(query.split()).lower()


@dataclass(frozen=True)
class CachedQuery:
    """A query as the cache sees it: equal when the normalised text and the language asked for are."""

    normalised: str
    language: str
    text: str = field(compare=False)  # the words of the first caller, searched on a miss


class RetrievalCache:
    """The LRU of one index's retrieval results (`functools.lru_cache`), so repeated questions skip the embedding.

    Each rebuilt index gets a new cache, so it never serves results of the previous one.
    """

    def __init__(self, retriever: Retriever, max_size: int) -> None:
        self.retriever = retriever
        self.max_size = max_size

        def search(query: CachedQuery) -> Retrieval:
            return retriever.search(query.text, language=query.language or None)

        self._search = functools.lru_cache(maxsize=max_size)(search)

    def search(self, query: str, language: Optional[str] = None) -> Retrieval:
        """The retrieval for `query`, computed once per normalised text and language (thread-safe)."""
        text = " ".join(query.split())
        result = self._search(CachedQuery(normalise_query(query), language or "", text))
        return result if result.query == text else replace(result, query=text)

    def __len__(self) -> int:
        return self._search.cache_info().currsize

    @property
    def hits(self) -> int:
        """Searches answered from the cache."""
        return self._search.cache_info().hits

    @property
    def misses(self) -> int:
        """Searches that ran the retriever."""
        return self._search.cache_info().misses


class KnowledgeService:
    """Owns the retriever; notices edited articles and swaps in a rebuilt index in the background."""

    def __init__(self, settings: KnowledgeSettings, encoder_factory: Optional[Callable[[], Encoder]] = None) -> None:
        self.settings = settings
        self._encoder_factory = encoder_factory or (lambda: load_encoder(settings.encoder, settings.model_dir))
        self._encoder: Optional[Encoder] = None
        self._current: Optional[RetrievalCache] = None  # the retriever and its results, swapped as one
        self._fingerprint: Fingerprint = ()
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._rebuilding = False

    def start(self) -> Retriever:
        """Load the encoder and build (or load from cache) the index; call once at server start."""
        return self._start().retriever

    def _start(self) -> RetrievalCache:
        with self._lock:
            if self._current is None:
                self._encoder = self._encoder_factory()
                retriever, self._fingerprint = self._build()
                retriever.search("warm up the query embedding")  # first calls compile or page in
                self._current = RetrievalCache(retriever, self.settings.retrieval_cache_size)
                self._checked_at = time.monotonic()
            return self._current

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
    def cache(self) -> RetrievalCache:
        """The current retriever with its result cache (starting the service on first use)."""
        current = self._current or self._start()
        self._maybe_refresh()
        return current

    @property
    def retriever(self) -> Retriever:
        """The current retriever (starting the service on first use)."""
        return self.cache.retriever

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
                self._current = RetrievalCache(retriever, self.settings.retrieval_cache_size)
                self._fingerprint = stamp
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
        return self.cache.search(query, language)

    def get(self, article_id: str) -> Optional[Article]:
        """The article with this id in the current index, if any."""
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
