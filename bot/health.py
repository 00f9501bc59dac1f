"""Reachability checks of Rasa, the action server, the database and Redis."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Sequence

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
        rotation: Optional[Callable[[], Dict[str, str]]] = None,
    ) -> None:
        self._http = http
        self._rotation = rotation
        self._timeout = timeout
        self._rasa_urls = [url.rstrip("/") for url in rasa_urls]
        self._checks: Dict[str, Optional[Check]] = {
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

    async def _rasa(self) -> Dict[str, Any]:
        """Each Rasa worker's status; ``degraded`` while some answer (their conversations fail over), else down.

        With several workers each also says whether it is in the rotation (``in``, ``suspect``, ``out``).
        """
        results: List[Dict[str, Any]] = list(
            await asyncio.gather(*(self._run(self._root(url)) for url in self._rasa_urls)))
        rotation = self._rotation() if self._rotation is not None else {}
        for url, result in zip(self._rasa_urls, results):
            if url in rotation and len(results) > 1:
                result["rotation"] = rotation[url]
        up = sum(result["status"] == "ok" for result in results)
        status = "ok" if up == len(results) else ("degraded" if up else "down")
        if len(results) == 1:
            return results[0]
        return {"status": status, "workers": dict(zip(self._rasa_urls, results))}

    def _root(self, url: str) -> Check:
        async def get() -> None:
            await self._get(url + "/")

        return get

    async def _run(self, check: Optional[Check]) -> Dict[str, Any]:
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
        """``{"status": "ok"|"down", "checks": {name: {"status": ...}}}``.

        The gateway is healthy (can serve) while every dependency answers, Rasa included when only some
        of its workers do (``degraded``: their conversations go to the next worker).
        """
        names = list(self._checks)
        rasa, *results = await asyncio.gather(self._rasa(), *(self._run(self._checks[n]) for n in names))
        checks: Dict[str, Dict[str, Any]] = {"rasa": rasa, **dict(zip(names, results))}
        healthy = all(r["status"] in ("ok", "not_configured", "degraded") for r in checks.values())
        return {"status": "ok" if healthy else "down", "checks": checks}
