"""The handoff's writes beside the store: event log, transcripts, fan-out, routes and Rasa's pause.

Each one logs and counts its failure (``on_error``) instead of raising: a database or Redis hiccup
never costs the taxpayer an answer or the officer an action that the store already committed.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable, Dict, List, Optional

from bot.db.handoff_repository import HandoffRepository
from bot.db.repository import TranscriptEntry, TranscriptRepository
from bot.handoff.model import Event, EventType
from bot.handoff.rasa_control import RasaControl
from bot.handoff.store import HandoffStore
from bot.hooks import BotMessage
from bot.routing import Route

log = logging.getLogger(__name__)


class Effects:
    """Best-effort side effects shared by the taxpayer, agent and console parts."""

    def __init__(
        self, store: HandoffStore, events: HandoffRepository, transcripts: TranscriptRepository, rasa: RasaControl,
        on_error: Callable[[str], None],
    ) -> None:
        self.store = store
        self.events = events
        self.transcripts = transcripts
        self.rasa = rasa
        self.on_error = on_error

    async def event(
        self, conv_id: str, event_type: str, agent: Optional[str] = None, reason: Optional[str] = None,
        data: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Append a step to ``handoff_events`` (analytics never break the conversation)."""
        try:
            await self.events.add_event(conv_id, event_type, agent=agent, reason=reason, data=data)
        except Exception as exc:
            log.error("could not store handoff event %s: %s", event_type, type(exc).__name__)
            self.on_error("db")

    async def record(self, entries: List[TranscriptEntry]) -> None:
        """Add messages to the transcript."""
        try:
            await self.transcripts.add(entries)
        except Exception as exc:
            log.error("could not store handoff transcript: %s", type(exc).__name__)
            self.on_error("db")

    async def publish(self, event: Event) -> None:
        """Fan ``event`` out to every instance; a message to a taxpayer gets the id subscribers deduplicate on."""
        if event.get("type") == EventType.TO_TAXPAYER.value and "event_id" not in event:
            event = {**event, "event_id": uuid.uuid4().hex}
        try:
            await self.store.publish(event)
        except Exception as exc:
            log.error("could not publish handoff event: %s", type(exc).__name__)
            self.on_error("redis")

    async def queue_changed(self) -> None:
        """Tell every console (new snapshot) and waiting taxpayer (new position)."""
        await self.publish({"type": EventType.QUEUE_CHANGED.value})

    async def to_agent(self, agent: str, conv_id: str, **fields: Any) -> None:
        """Send a conversation update (a taxpayer message, a close) to ``agent``'s consoles."""
        await self.publish({"type": EventType.TO_AGENT.value, "agent": agent, "conversation_id": conv_id, **fields})

    async def to_taxpayer(self, conv_id: str, message: BotMessage, **fields: Any) -> None:
        """Send ``message`` to the taxpayer through every instance's subscribers (not stored)."""
        await self.publish({"type": EventType.TO_TAXPAYER.value, "conversation_id": conv_id, "message": message,
                            **fields})

    async def tell_taxpayer(self, conv_id: str, text: str, kind: str, sender: str = "system", **custom: Any) -> None:
        """Store a message for the taxpayer (REST clients poll it) and push it to their channels."""
        payload = {"kind": kind, **custom}
        await self.record([TranscriptEntry(conv_id, sender, "handoff", text, kind=kind, payload={"custom": payload})])
        await self.to_taxpayer(conv_id, {"recipient_id": conv_id, "text": text, "custom": payload})

    async def route(self, conv_id: str, route: Route) -> None:
        """Record who answers in the database and pause Rasa for an agent (resume it for the bot)."""
        try:
            await self.events.set_route(conv_id, route.value)
        except Exception:
            self.on_error("db")
        if route is Route.AGENT:
            await self.rasa.pause(conv_id)
        else:
            await self.rasa.resume(conv_id)
