"""A cache of NLU parse results, keyed by the model, the text and the page's language preference.

The NLU of a trained model is a pure function of the message text and the message metadata's
``language`` (`nlu.components.tax_entities`): nothing else of the conversation reaches it. So a parse
can be reused for the same text, preference and model. :class:`MemoryParseCache` keeps one worker's
recent parses; :class:`RedisParseCache` shares them between the Rasa workers through Redis, with a
small in-process LRU in front. A cache that fails (Redis down) makes the worker parse, never fail.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Protocol

log = logging.getLogger(__name__)

Parse = Dict[str, Any]
#: Seconds a shared parse lives in Redis: a retrained model has another id, so old keys only expire.
REDIS_TTL_SECONDS = 86_400
#: Seconds to leave Redis alone after an error, so an outage costs one timeout, not one per message.
REDIS_BACKOFF_SECONDS = 5.0


def language_preference(metadata: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The page's language preference in a message's metadata, as the NLU reads it ("en", "zh" or None)."""
    preferred = metadata.get("language") if isinstance(metadata, Mapping) else None
    return preferred if preferred in ("en", "zh") else None


def revive(parse: Parse) -> Parse:
    """A parse read back from JSON as Rasa made it: ``text_tokens`` are (start, end) tuples, not lists."""
    tokens = parse.get("text_tokens")
    if isinstance(tokens, list):
        parse["text_tokens"] = [tuple(span) for span in tokens]
    return parse


def parse_key(model_id: str, text: str, metadata: Optional[Mapping[str, Any]]) -> str:
    """The cache key of ``text`` parsed by the model ``model_id`` with ``metadata``'s language preference."""
    material = json.dumps([model_id, text, language_preference(metadata)], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class ParseCache(Protocol):
    """Where the REST channel looks up and stores parses (`nlu.channel`)."""

    async def get(self, key: str) -> Optional[Parse]:
        """The parse stored under ``key``, or None."""

    async def put(self, key: str, parse: Parse) -> None:
        """Store ``parse`` under ``key``."""

    async def close(self) -> None:
        """Release connections."""


class MemoryParseCache:
    """The ``size`` most recently used parses of this process (0: nothing is kept)."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._items: "OrderedDict[str, str]" = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> Optional[Parse]:
        """The parse under ``key`` (a fresh copy: callers may change it), or None."""
        stored = self._items.get(key)
        if stored is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return revive(json.loads(stored))

    async def put(self, key: str, parse: Parse) -> None:
        """Keep ``parse`` (as JSON, so a later change to the dict does not reach the cache)."""
        if not self.size:
            return
        self._items[key] = json.dumps(parse, ensure_ascii=False)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    async def close(self) -> None:
        """Nothing to release."""


class RedisParseCache:
    """Parses shared through Redis at ``url`` (keys ``taxguide:parse:<key>``), a local LRU in front."""

    def __init__(self, url: str, local_size: int, timeout: float = 0.25) -> None:
        import redis.asyncio as redis  # only a worker with REDIS_URL needs the client

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.local = MemoryParseCache(local_size)
        self._skip_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, exc: Exception) -> None:
        log.warning("parse cache: Redis failed (%s); parsing without it for %.0f s", exc, REDIS_BACKOFF_SECONDS)
        self._skip_until = time.monotonic() + REDIS_BACKOFF_SECONDS

    async def get(self, key: str) -> Optional[Parse]:
        """The parse under ``key`` from the local LRU, else from Redis (kept locally then), else None."""
        parse = await self.local.get(key)
        if parse is not None or not self._available():
            return parse
        try:
            stored = await self._redis.get("taxguide:parse:" + key)
        except Exception as exc:  # noqa: BLE001 - any Redis failure means "not cached"
            self._failed(exc)
            return None
        if stored is None:
            return None
        parse = revive(json.loads(stored))
        await self.local.put(key, parse)
        return parse

    async def put(self, key: str, parse: Parse) -> None:
        """Store ``parse`` locally and in Redis (for :data:`REDIS_TTL_SECONDS`)."""
        await self.local.put(key, parse)
        if not self._available():
            return
        try:
            await self._redis.set("taxguide:parse:" + key, json.dumps(parse, ensure_ascii=False),
                                  ex=REDIS_TTL_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a parse that is not shared is only parsed again
            self._failed(exc)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._redis.close()
        await self._redis.connection_pool.disconnect()
