"""Pauses and resumes a conversation in Rasa through its HTTP API (``rasa run --enable-api``).

``POST /conversations/{id}/tracker/events`` with ``{"event": "pause"}`` appends ConversationPaused
(Rasa then records but never answers that conversation's messages); ``{"event": "resume"}`` appends
ConversationResumed. The gateway already stops forwarding messages of a conversation an officer
holds, so this is the second lock: it also protects against clients talking to Rasa directly, and
it keeps Rasa's tracker telling the truth for analytics. A failure is logged and counted, never fatal.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional, Sequence
from urllib.parse import quote

import aiohttp

try:  # the same worker choice as the REST forwarding (several Rasa workers, consistent hash)
    from bot.rasa_client import pick_worker
except ImportError:  # pragma: no cover - older gateway without workers
    def pick_worker(workers, conversation_id):  # type: ignore[no-redef]
        return workers[0]

log = logging.getLogger(__name__)


class RasaControl:
    def __init__(
        self, session: Callable[[], aiohttp.ClientSession], workers: "Sequence[str] | str", token: Optional[str],
        on_error: Callable[[], None] = lambda: None, timeout: float = 3.0,
    ) -> None:
        self._session = session
        self._workers = tuple(w.rstrip("/") for w in ([workers] if isinstance(workers, str) else workers))
        self._token = token
        self._on_error = on_error
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(1.0, timeout))

    async def _event(self, conversation_id: str, event: str) -> bool:
        base = pick_worker(self._workers, conversation_id)
        url = f"{base}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        params = {"include_events": "NONE"}
        if self._token:
            params["token"] = self._token
        try:
            async with self._session().post(url, params=params, json={"event": event}, timeout=self._timeout) as resp:
                if resp.status == 200:
                    return True
                log.warning("rasa %s for a conversation answered HTTP %s (is --enable-api on, RASA_TOKEN right?)",
                            event, resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("rasa %s failed: %s", event, type(exc).__name__)
        self._on_error()
        return False

    async def pause(self, conversation_id: str) -> bool:
        return await self._event(conversation_id, "pause")

    async def resume(self, conversation_id: str) -> bool:
        return await self._event(conversation_id, "resume")
