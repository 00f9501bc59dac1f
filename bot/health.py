"""Reachability checks of Rasa, the action server, the database and Redis."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional, Sequence

import aiohttp

from bot.db.repository import TranscriptRepository

if TYPE_CHECKING:
    from redis.asyncio import Redis

Check = Callable[[], Awaitable[None]]


class HealthService:
    """Runs all dependency checks concurrently with one timeout."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        rasa_urls: Sequence[str],
        action_server_url: str,
        transcripts: TranscriptRepository,
        redis: Optional["Redis[bytes]"],
        timeout: float,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._checks: Dict[str, Optional[Check]] = {
            "rasa": lambda: self._all(url.rstrip("/") + "/" for url in rasa_urls),
            "action_server": lambda: self._get(action_server_url.rstrip("/") + "/health"),
            "database": transcripts.ping,
            "redis": self._redis_check(redis) if redis is not None else None,
        }

    @staticmethod
    def _redis_check(redis: "Redis[bytes]") -> Check:
        async def ping() -> None:
            await redis.ping()

        return ping

    async def _get(self, url: str) -> None:
        timeout = aiohttp.ClientTimeout(total=self._timeout, connect=min(1.0, self._timeout))
        async with self._http.get(url, timeout=timeout) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")

    async def _all(self, urls: Any) -> None:
        """Every Rasa worker must answer: a conversation pinned to a dead one would only get apologies."""
        await asyncio.gather(*(self._get(url) for url in urls))

    async def _run(self, check: Optional[Check]) -> Dict[str, str]:
        if check is None:
            return {"status": "not_configured"}
        try:
            await asyncio.wait_for(check(), self._timeout)
        except asyncio.TimeoutError:
            return {"status": "down", "error": "timeout"}
        except Exception as exc:
            return {"status": "down", "error": type(exc).__name__}
        return {"status": "ok"}

    async def check(self) -> Dict[str, Any]:
        """``{"status": "ok"|"down", "checks": {name: {"status": ...}}}``."""
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        checks = dict(zip(names, results))
        healthy = all(r["status"] in ("ok", "not_configured") for r in results)
        return {"status": "ok" if healthy else "down", "checks": checks}
