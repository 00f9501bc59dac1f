"""Token-bucket rate limiting, in process or shared through Redis."""
from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Protocol, Tuple

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    """A bucket of ``burst`` tokens refilled at ``per_minute`` tokens a minute."""

    burst: int
    per_minute: float

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Decision:
    """Outcome of taking one token."""

    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds to wait, for the Retry-After header."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter(Protocol):
    """Takes one token from the bucket named ``key``."""

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token from ``key``'s bucket, or say how long to wait."""
        ...


def _refill(tokens: float, last: float, now: float, limit: Limit) -> float:
    return min(float(limit.burst), tokens + max(0.0, now - last) * limit.rate)


def _wait_for_one(tokens: float, limit: Limit) -> float:
    if limit.rate <= 0:
        return 3600.0
    return (1.0 - tokens) / limit.rate


class MemoryRateLimiter:
    """In-process token buckets; forgets the oldest keys beyond ``max_keys``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: "OrderedDict[str, Tuple[float, float]]" = OrderedDict()

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token from ``key``'s bucket, or say how long to wait."""
        if limit.burst <= 0:
            return Decision(True)
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(limit.burst), now))
        tokens = _refill(tokens, last, now, limit)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return Decision(True) if allowed else Decision(False, _wait_for_one(tokens, limit))


_LUA = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil then tokens = burst; last = now end
local elapsed = now - last
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
local ttl = 60000
if rate > 0 then ttl = math.ceil(burst / rate * 1000) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Token buckets shared by every gateway through Redis; fails open."""

    def __init__(
        self, redis: "Redis[bytes]", prefix: str = "taxguide:rl:", on_error: Optional[Callable[[], None]] = None
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_LUA)
        self._on_error = on_error

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Take one token from ``key``'s bucket, or say how long to wait."""
        if limit.burst <= 0:
            return Decision(True)
        try:
            allowed, tokens = await self._script(
                keys=[self._prefix + key], args=[limit.burst, limit.rate, time.time()]
            )
        except Exception as exc:  # Redis down: let the message through
            log.warning("rate limiter unavailable, allowing request: %s", exc)
            if self._on_error:
                self._on_error()
            return Decision(True)
        if int(allowed) == 1:
            return Decision(True)
        return Decision(False, _wait_for_one(float(tokens), limit))


class Throttle:
    """Per-IP and per-sender limits in front of the conversation service, and per-conversation write limits."""

    def __init__(self, limiter: RateLimiter, sender: Limit, ip: Limit, write: Limit = Limit(10, 10.0)) -> None:
        self.limiter = limiter
        self.sender = sender
        self.ip = ip
        self.write = write

    async def check_ip(self, ip: str) -> Decision:
        """One request from ``ip``."""
        return await self.limiter.hit(f"ip:{ip}", self.ip)

    async def check_sender(self, sender: str) -> Decision:
        """One message from conversation ``sender``."""
        return await self.limiter.hit(f"sender:{sender}", self.sender)

    async def check_write(self, conversation_id: str) -> Decision:
        """One ticket, rating or answer feedback from conversation ``conversation_id``."""
        return await self.limiter.hit(f"write:{conversation_id}", self.write)
