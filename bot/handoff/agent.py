"""The officer's side of the handoff: presence, claim, talk, notes, close, requeue, sign-out, sweep."""
from __future__ import annotations

import logging
import time
from typing import List, Optional, TypedDict

from bot.db.repository import TranscriptEntry
from bot.handoff.effects import Effects
from bot.handoff.model import ClaimResult, EventType, HandoffError, HandoffRecord, Presence, Status
from bot.handoff.policy import HandoffPolicy
from bot.handoff.store import HandoffStore
from bot.handoff.texts import iso, text
from bot.hooks import HandoffClosed, HandoffClosedListener
from bot.privacy import mask_pii
from bot.routing import Route

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 4000
#: The console's close outcomes and the status each leaves the handoff in.
OUTCOMES = {"bot": Status.RETURNED, "resolved": Status.RESOLVED}


class AgentLine(TypedDict):
    """An officer's message as the console shows it after sending."""

    sender: str
    text: str
    time: Optional[str]


class Note(TypedDict):
    """An internal note on a conversation (never shown to the taxpayer)."""

    agent: str
    text: str
    time: Optional[str]


class AgentSide:
    """What the officers' console API does to the handoff."""

    def __init__(self, store: HandoffStore, policy: HandoffPolicy, effects: Effects) -> None:
        self.store = store
        self.policy = policy
        self.effects = effects
        self.closed_listeners: List[HandoffClosedListener] = []  # told when a case is closed (the survey)

    async def set_presence(self, agent: str, status: str, ttl: Optional[float] = None) -> None:
        """Set the officer online or away (``ttl`` defaults to the policy's presence TTL)."""
        try:
            presence = Presence(status)
        except ValueError:
            raise HandoffError.invalid("invalid_presence", "presence must be online or away") from None
        await self.store.set_presence(agent, presence, ttl or self.policy.presence_ttl_seconds)
        await self.effects.queue_changed()

    async def claim(self, conv_id: str, agent: str, agent_name: str) -> HandoffRecord:
        """Take a queued conversation: Rasa pauses, the taxpayer is told who answers."""
        if await self.store.get_presence(agent) is not Presence.ONLINE:
            raise HandoffError.conflict("not_online", "set your presence to online before claiming")
        result = await self.store.claim(conv_id, agent, self.policy.capacity_per_agent)
        if result is ClaimResult.TAKEN:
            raise HandoffError.conflict("already_claimed", "another agent has claimed this conversation")
        if result is ClaimResult.CAPACITY:
            raise HandoffError.conflict("at_capacity",
                                        f"you already hold {self.policy.capacity_per_agent} conversations")
        if result is not ClaimResult.CLAIMED:
            raise HandoffError.conflict("not_waiting", "this conversation is not waiting for an agent")
        record = await self.store.get(conv_id) or HandoffRecord(conv_id, Status.CLAIMED, agent=agent)
        now = time.time()
        waited = (record.claimed_at or now) - (record.queued_at or now)
        await self.effects.event(conv_id, "claimed", agent=agent, reason=record.reason,
                                 data={"waited_seconds": round(waited, 3)})
        await self.effects.route(conv_id, Route.AGENT)
        await self.effects.tell_taxpayer(conv_id, text(record.language, "claimed", agent=agent_name), "handoff_claimed",
                                         agent_name=agent_name)
        await self.effects.queue_changed()
        return record

    async def held(self, conv_id: str, agent: str) -> HandoffRecord:
        """The conversation's record when ``agent`` holds it (409 when nobody does, 403 when another does)."""
        record = await self.store.get(conv_id)
        if record is None or record.status is not Status.CLAIMED:
            raise HandoffError.conflict("not_claimed", "this conversation is not being handled by an agent")
        if record.agent != agent:
            raise HandoffError.forbidden("forbidden", "another agent handles this conversation")
        return record

    async def send(self, conv_id: str, agent: str, agent_name: str, message: str) -> AgentLine:
        """Send the officer's (masked) message to the taxpayer and keep it in the transcript."""
        await self.held(conv_id, agent)
        masked = mask_pii(message)
        custom = {"kind": "agent_message", "agent_name": agent_name}
        await self.effects.record([TranscriptEntry(conv_id, "agent", "handoff", masked, kind="agent_message",
                                                   payload={"custom": custom})])
        await self.effects.event(conv_id, "agent_message", agent=agent, data={"chars": len(masked)})
        await self.effects.to_taxpayer(conv_id, {"recipient_id": conv_id, "text": masked, "custom": custom},
                                       sender="agent")
        return {"sender": "agent", "text": masked, "time": iso(time.time())}

    async def add_note(self, conv_id: str, agent: str, note: str) -> Note:
        """Keep an internal note (masked, in the event log) on a conversation the officer holds."""
        await self.held(conv_id, agent)
        masked = mask_pii(note)[:MAX_NOTE_CHARS]
        await self.effects.event(conv_id, "note", agent=agent, data={"text": masked})
        return {"agent": agent, "text": masked, "time": iso(time.time())}

    async def close(self, conv_id: str, agent: str, outcome: str) -> None:
        """End the officer's talk: back to the bot ("bot") or answered ("resolved"); listeners are told."""
        status = OUTCOMES.get(outcome)
        if status is None:
            raise HandoffError.invalid("invalid_outcome", "outcome must be bot or resolved")
        record = await self.held(conv_id, agent)
        if not await self.store.release(conv_id, agent, status):
            raise HandoffError.conflict("not_claimed", "this conversation is no longer yours")
        await self.effects.event(conv_id, status.value, agent=agent, reason=record.reason)
        await self.effects.route(conv_id, Route.BOT)
        await self.effects.tell_taxpayer(conv_id, text(record.language, status.value), f"handoff_{status.value}")
        await self.effects.queue_changed()
        event = HandoffClosed(conv_id, agent, outcome)
        for listener in self.closed_listeners:
            try:
                await listener.handoff_closed(event)
            except Exception as exc:  # the officer's close has succeeded; a listener never undoes it
                log.error("handoff closed listener failed: %s", type(exc).__name__)
                self.effects.on_error("handoff")

    async def requeue(self, conv_id: str, agent: str, why: str = "agent_disconnected") -> bool:
        """Put the officer's conversation back at the front of the queue; the bot answers while it waits."""
        record = await self.store.get(conv_id)
        if record is None or not await self.store.release(conv_id, agent, Status.QUEUED, priority=True):
            return False
        await self.effects.event(conv_id, "queued", agent=agent, reason=record.reason,
                                 data={"requeued": True, "priority": True, "why": why})
        await self.effects.route(conv_id, Route.BOT)
        await self.effects.tell_taxpayer(conv_id, text(record.language, "requeued"), "handoff_requeued")
        await self.effects.queue_changed()
        return True

    async def sign_out(self, agent: str) -> None:
        """Presence gone at once; the officer's conversations go back to the front of the queue."""
        await self.store.drop_presence(agent)
        for conv_id in await self.store.claimed_by(agent):
            await self.requeue(conv_id, agent, "agent_signed_out")
        await self.effects.queue_changed()

    async def sweep(self) -> int:
        """Requeue (with priority) the conversations of officers whose presence expired; returns how many."""
        moved = 0
        for conv_id, agent in (await self.store.claims()).items():
            if await self.store.get_presence(agent) is None:
                moved += await self.requeue(conv_id, agent)
        return moved

    async def close_ticket(self, ticket_id: int, agent: str) -> None:
        """Mark an offline message answered (409 ``not_open`` when it is not open)."""
        if not await self.effects.events.close_ticket(ticket_id, agent):
            raise HandoffError.conflict("not_open", "the ticket is not open")
        await self.effects.publish({"type": EventType.TICKETS_CHANGED.value})
