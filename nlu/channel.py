"""Rasa's REST channel with a parse cache: the same URL (``/webhooks/rest/webhook``) and JSON as Rasa's own.

Named in credentials.yml instead of ``rest:``. Before Rasa handles a message, the channel looks its parse
up in a :mod:`nlu.parse_cache` cache (shared through Redis when ``REDIS_URL`` is set) and, on a miss,
parses it with the loaded model's public ``MessageProcessor.parse_message`` and stores the result; the
message then reaches Rasa as ``UserMessage(parse_data=...)``, which Rasa's processor uses instead of
parsing again. Every REST client works unchanged.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, Sanic

from knowledge.env import Env
from nlu.parse_cache import MemoryParseCache, Parse, ParseCache, RedisParseCache, parse_key

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 4096


class CachedParseRestInput(RestInput):  # type: ignore[misc]  # Rasa has no type information
    """The REST channel; each message's parse comes from the cache when the model parsed its text before."""

    @classmethod
    def name(cls) -> Text:
        """"rest": this channel takes the place of Rasa's REST channel, at its URL."""
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "CachedParseRestInput":
        """The channel of credentials.yml (``cache_size``), shared through Redis when REDIS_URL is set."""
        size = int((credentials or {}).get("cache_size", DEFAULT_CACHE_SIZE))
        return cls(cache_size=size, redis_url=Env().text("REDIS_URL") or None)

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE, redis_url: Optional[str] = None) -> None:
        self.cache_size = cache_size
        self.redis_url = redis_url
        self._cache: Optional[ParseCache] = None  # made in the server's event loop (Redis connections)
        self._app: Optional[Sanic] = None

    @property
    def cache(self) -> ParseCache:
        """The parse cache, made on first use."""
        if self._cache is None:
            self._cache = (RedisParseCache(self.redis_url, self.cache_size) if self.redis_url
                           else MemoryParseCache(self.cache_size))
        return self._cache

    async def parse(self, agent: Any, message: UserMessage) -> Optional[Parse]:
        """``message``'s parse by ``agent``'s model, from the cache or parsed now; None without a model."""
        processor = getattr(agent, "processor", None)
        if processor is None or not message.text:
            return None
        key = parse_key(processor.model_metadata.model_id, message.text, message.metadata)
        parse = await self.cache.get(key)
        if parse is None:
            parse = await processor.parse_message(message)
            await self.cache.put(key, parse)
        return parse

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's REST routes; each message gets its parse before Rasa handles it."""

        async def with_parse(message: UserMessage) -> Any:
            if message.parse_data is None and self._app is not None:
                message.parse_data = await self.parse(getattr(self._app.ctx, "agent", None), message)
            return await on_new_message(message)

        hook: Blueprint = super().blueprint(with_parse)

        async def started(app: Sanic, _loop: Any) -> None:
            self._app = app  # the agent is read per message: Rasa's API may load another model

        async def stopped(_app: Sanic, _loop: Any) -> None:
            if self._cache is not None:
                await self._cache.close()
                self._cache = None

        hook.listener("before_server_start")(started)
        hook.listener("after_server_stop")(stopped)
        return hook
