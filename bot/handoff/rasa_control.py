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
from typing import Callable, Dict, Optional, Sequence
from urllib.parse import quote

import aiohttp

from bot.rasa_client import pick_worker

log = logging.getLogger(__name__)


def _nothing() -> None:
    """Count nothing (the default error counter)."""


class RasaControl:
    """Appends pause and resume events to a conversation's tracker on the Rasa worker it sticks to."""

    def __init__(
        self, session: Callable[[], aiohttp.ClientSession], workers: Sequence[str], token: Optional[str],
        on_error: Callable[[], None] = _nothing, timeout: float = 3.0,
    ) -> None:
        self._session = session
        self._workers = tuple(w.rstrip("/") for w in workers)
        self._token = token
        self._on_error = on_error
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(1.0, timeout))

    async def _event(self, conversation_id: str, event: str) -> bool:
        base = pick_worker(self._workers, conversation_id)
        url = f"{base}/conversations/{quote(conversation_id, safe='')}/tracker/events"
        params: Dict[str, str] = {"include_events": "NONE"}
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
        """Stop Rasa answering the conversation (an officer holds it); False when Rasa could not be told."""
        return await self._event(conversation_id, "pause")

    async def resume(self, conversation_id: str) -> bool:
        """Let Rasa answer the conversation again; False when Rasa could not be told."""
        return await self._event(conversation_id, "resume")
