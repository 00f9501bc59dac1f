"""Short-lived channel state: message de-duplication, results for retries, delivery claims, numbered choices.

It also keeps the OpenID <-> conversation mapping (48 h). In Redis when ``REDIS_URL`` is set (shared
by every gateway instance), else in this process; a Redis failure falls back to the process.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Protocol, Tuple, Union

log = logging.getLogger(__name__)


class RedisCommands(Protocol):
    """The Redis commands the channel uses (``redis.asyncio.Redis`` has them; redis-py ships no types)."""

    async def get(self, name: str) -> Optional[Union[bytes, str]]:
        """The value of ``name``, or None."""
        ...

    async def set(self, name: str, value: str, *, ex: Optional[int] = None, px: Optional[int] = None,
                  nx: bool = False, get: bool = False) -> Any:
        """SET: True or None (``nx``), or the previous value (``get``)."""
        ...

    async def delete(self, *names: str) -> int:
        """Delete keys; how many existed."""
        ...

    async def eval(self, script: str, numkeys: int, *keys_and_args: str) -> Any:
        """Run a Lua script."""
        ...


class ChannelState(Protocol):
    """String values with a time to live, shared by the gateway instances (or not: ``MemoryState``)."""

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Set ``key`` only if it does not exist (SET NX); True when this call set it."""
        ...

    async def get(self, key: str) -> Optional[str]:
        """The live value of ``key``, or None."""
        ...

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` for ``ttl`` seconds."""
        ...

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        """Set ``key`` and return its previous value (SET ... GET)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


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
        """Set ``key`` only if it does not exist; True when this call set it."""
        if self._live(key) is not None:
            return False
        self._put(key, value, ttl)
        return True

    async def get(self, key: str) -> Optional[str]:
        """The live value of ``key``, or None."""
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` for ``ttl`` seconds."""
        self._put(key, value, ttl)

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        """Set ``key`` and return its previous live value."""
        old = self._live(key)
        self._put(key, value, ttl)
        return old

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._items.pop(key, None)


class RedisState:
    """The same operations on Redis under ``prefix``; the process's memory when Redis fails."""

    def __init__(self, redis: RedisCommands, prefix: str, on_error: Callable[[str], None] = lambda kind: None) -> None:
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
    def _text(raw: Optional[Union[bytes, str]]) -> Optional[str]:
        if raw is None:
            return None
        return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """SET NX with a TTL; True when this call set it."""
        try:
            return bool(await self.redis.set(self.prefix + key, value, nx=True, px=self._ms(ttl)))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.add(key, value, ttl)

    async def get(self, key: str) -> Optional[str]:
        """The value of ``key``, or None."""
        try:
            return self._text(await self.redis.get(self.prefix + key))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.get(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` for ``ttl`` seconds."""
        try:
            await self.redis.set(self.prefix + key, value, px=self._ms(ttl))
        except Exception as exc:
            self._failed(exc)
            await self.fallback.set(key, value, ttl)

    async def swap(self, key: str, value: str, ttl: float) -> Optional[str]:
        """SET ... GET: set ``key`` and return its previous value."""
        try:
            return self._text(await self.redis.set(self.prefix + key, value, px=self._ms(ttl), get=True))
        except Exception as exc:
            self._failed(exc)
            return await self.fallback.swap(key, value, ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        try:
            await self.redis.delete(self.prefix + key)
        except Exception as exc:
            self._failed(exc)
            await self.fallback.delete(key)
