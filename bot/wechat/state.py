"""Short-lived channel state: message de-duplication, results for retries, delivery claims, the
OpenID <-> conversation mapping (48 h), numbered choices. In Redis when ``REDIS_URL`` is set (shared
by every gateway instance), else in this process; a Redis failure falls back to the process."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Protocol, Tuple

log = logging.getLogger(__name__)


class ChannelState(Protocol):
    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Set ``key`` only if it does not exist (SET NX); True when this call set it."""

    async def get(self, key: str) -> Optional[str]: ...

    async def set(self, key: str, value: str, ttl: float) -> None: ...

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        """Set ``key`` and return its previous value (SET ... GET)."""

    async def delete(self, key: str) -> None: ...


class MemoryState:
    """A TTL dictionary for one gateway process."""

    def __init__(self, max_items: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: Dict[str, Tuple[str, float]] = {}
        self.max_items = max_items
        self._clock = clock

    def _live(self, key: str) -> Optional[str]:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            self._items.pop(key, None)
            return None
        return item[0]

    def _put(self, key: str, value: str, ttl: float) -> None:
        if len(self._items) >= self.max_items and key not in self._items:
            now = self._clock()
            for k in [k for k, (_, exp) in self._items.items() if exp <= now]:
                self._items.pop(k, None)
            if len(self._items) >= self.max_items:  # still full: drop the oldest tenth
                for k in list(self._items)[: max(1, self.max_items // 10)]:
                    self._items.pop(k, None)
        self._items[key] = (value, self._clock() + ttl)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, value, ttl)
        return True

    async def get(self, key: str) -> Optional[str]:
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._put(key, value, ttl)

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        old = self._live(key)
        self._put(key, value, ttl)
        return old

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)


class RedisState:
    """The same operations on Redis under ``prefix``; the process's memory when Redis fails."""

    def __init__(self, redis: Any, prefix: str, on_error: Callable[[str], None] = lambda kind: None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryState()
        self.on_error = on_error

    def _failed(self, exc: Exception) -> None:
        log.warning("wechat state: redis unavailable (%s); using this process's memory", type(exc).__name__)
        self.on_error("redis")

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    @staticmethod
    def _text(raw: Any) -> Optional[str]:
        if raw is None:
            return None
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        try:
            return bool(await self.redis.set(self.prefix + key, value, nx=True, px=self._ms(ttl)))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.add(key, value, ttl)

    async def get(self, key: str) -> Optional[str]:
        try:
            return self._text(await self.redis.get(self.prefix + key))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.get(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        try:
            await self.redis.set(self.prefix + key, value, px=self._ms(ttl))
        except Exception as exc:
            self._failed(exc)
            await self.fallback.set(key, value, ttl)

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        try:
            return self._text(await self.redis.set(self.prefix + key, value, px=self._ms(ttl), get=True))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.swap(key, value, ttl)

    async def delete(self, key: str) -> None:
        try:
            await self.redis.delete(self.prefix + key)
        except Exception as exc:
            self._failed(exc)
            await self.fallback.delete(key)
