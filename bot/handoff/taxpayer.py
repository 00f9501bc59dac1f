"""The taxpayer's side of the handoff: escalate, queue or offer an offline message, cancel, status, relay."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict

from bot.db.repository import TranscriptEntry
from bot.handoff.effects import Effects
from bot.handoff.model import EventType, HandoffError, HandoffRecord, HandoffState, Presence, Status, SummaryItem
from bot.handoff.policy import HandoffPolicy
from bot.handoff.store import HandoffStore
from bot.handoff.summary import summarize
from bot.handoff.texts import iso, local_time, minutes, text
from bot.hooks import BotMessage, Turn
from bot.privacy import mask_pii
from bot.routing import Route
from knowledge.text import language_of

log = logging.getLogger(__name__)

CANCEL_PAYLOAD = "/handoff_cancel"
CONTACT_METHODS = ("chat", "phone", "email")
MAX_CONTACT_CHARS = 200
SUMMARY_HISTORY = 20


class TicketReceipt(TypedDict):
    """The answer to an offline message left for the officers."""

    ticket_id: int
    reply_by: str
    text: str


def _custom(message: BotMessage) -> Optional[Dict[str, Any]]:
    custom = message.get("custom")
    return custom if isinstance(custom, dict) else None


class TaxpayerSide:
    """What a taxpayer's messages and the taxpayer API do to the handoff."""

    def __init__(self, store: HandoffStore, policy: HandoffPolicy, effects: Effects) -> None:
        self.store = store
        self.policy = policy
        self.effects = effects

    async def online_agents(self) -> List[str]:
        """The officers whose presence is online, sorted."""
        return sorted(a for a, status in (await self.store.presence()).items() if status is Presence.ONLINE)

    async def status(self, conv_id: str) -> HandoffState:
        """What the taxpayer's client may know about its handoff: position and wait, or the officer."""
        record = await self.store.get(conv_id)
        if record is None or not record.status.is_open:
            return {"status": "none" if record is None else record.status.value}
        state: HandoffState = {"status": record.status.value, "reason": record.reason}
        if record.status is Status.QUEUED:
            position = await self.store.position(conv_id) or 1
            state["position"] = position
            online = len(await self.online_agents())
            state["expected_wait_seconds"] = self.policy.expected_wait_seconds(position, online)
        else:
            state["agent"] = await self.agent_name(record.agent)  # the display name, never the login name
        return state

    async def agent_name(self, agent: Optional[str]) -> Optional[str]:
        """The name the taxpayer sees for officer ``agent``: the account's display name (None when unknown)."""
        if not agent:
            return None
        try:
            return await self.effects.events.display_name(agent)
        except Exception as exc:
            log.error("could not read the officer's display name: %s", type(exc).__name__)
            self.effects.on_error("db")
            return None

    async def messages(self, conv_id: str, after: int) -> Dict[str, Any]:
        """REST polling: officer and handoff messages after the message id ``after``, the cursor, the status."""
        after = max(0, after)
        messages = await self.effects.transcripts.since(conv_id, after, ("agent", "system"))
        cursor = messages[-1]["id"] if messages else after
        return {"messages": messages, "cursor": cursor, "handoff": await self.status(conv_id)}

    async def before_turn(self, turn: Turn) -> Optional[List[BotMessage]]:
        """The cancel button's payload is answered here, not by Rasa."""
        if turn.text.strip() == CANCEL_PAYLOAD:
            return [await self.cancel(turn.conversation_id)]
        return None

    async def after_turn(self, turn: Turn, replies: Sequence[BotMessage]) -> List[BotMessage]:
        """Relay the message to the officer who holds the conversation, or escalate when the policy says so."""
        if turn.route is Route.AGENT:
            await self._relay(turn)
            return []
        for item in replies:
            custom = _custom(item)
            reason = self.policy.escalation_reason(custom)
            if reason is not None:
                language = (custom or {}).get("language") or language_of(turn.text)
                return await self.request(turn.conversation_id, reason, turn.channel, language, replies, turn.text)
        return []

    async def _relay(self, turn: Turn) -> None:
        record = await self.store.get(turn.conversation_id)
        if record is not None and record.status is Status.CLAIMED and record.agent:
            await self.effects.to_agent(record.agent, turn.conversation_id,
                                        message={"sender": "taxpayer", "text": turn.text, "time": iso(time.time())})

    async def request(
        self, conv_id: str, reason: str, channel: str, language: str = "en", replies: Sequence[BotMessage] = (),
        asked: Optional[str] = None,
    ) -> List[BotMessage]:
        """Queue the conversation for an officer, or offer an offline message when closed or nobody is free."""
        record = await self.store.get(conv_id)
        if record is not None and record.status is Status.QUEUED:
            state = await self.status(conv_id)
            wording = text(language, "already", position=state["position"],
                           minutes=minutes(state["expected_wait_seconds"]))
            return [self._queued_message(conv_id, wording, language, reason, state)]
        if record is not None and record.status is Status.CLAIMED:
            return []
        now = datetime.now(timezone.utc)
        online = await self.online_agents()
        waiting = await self.store.waiting()
        open_now = self.policy.in_service_hours(now)
        outcome = "queued" if open_now and online and len(waiting) < self.policy.max_waiting else "offline"
        summary, topic = await self._summary(conv_id, replies, asked)
        await self.effects.event(conv_id, "requested", reason=reason,
                                 data={"channel": channel, "language": language, "topic": topic, "outcome": outcome,
                                       "online_agents": len(online)})
        if outcome == "offline":
            return [self._offline_message(conv_id, reason, language, now, open_now)]
        requested = time.time()
        created, _ = await self.store.enqueue(HandoffRecord(
            conv_id, reason=reason, topic=topic, language=language, channel=channel, requested_at=requested,
            queued_at=requested, summary=summary,
        ))
        state = await self.status(conv_id)
        if created:
            await self.effects.event(conv_id, "queued", reason=reason,
                                     data={"position": state.get("position"),
                                           "expected_wait_seconds": state.get("expected_wait_seconds")})
            await self.effects.queue_changed()
        wording = text(language, "queued", position=state.get("position", 1),
                       minutes=minutes(state.get("expected_wait_seconds", 60)))
        return [self._queued_message(conv_id, wording, language, reason, state)]

    @staticmethod
    def _queued_message(conv_id: str, wording: str, language: str, reason: str, state: HandoffState) -> BotMessage:
        return {
            "recipient_id": conv_id, "text": wording,
            "buttons": [{"title": text(language, "cancel_button"), "payload": CANCEL_PAYLOAD}],
            "custom": {"kind": "handoff_queued", "reason": reason, "position": state.get("position"),
                       "expected_wait_seconds": state.get("expected_wait_seconds"),
                       "status_url": f"/conversations/{conv_id}/handoff"},
        }

    def _offline_message(self, conv_id: str, reason: str, language: str, now: datetime, open_now: bool) -> BotMessage:
        reply_by = self.policy.reply_by(now)
        hours = self.policy.hours_text(language)
        wording = text(language, "offline_closed" if not open_now else "offline_busy", hours=hours)
        wording += text(language, "offline_tail", reply_by=local_time(self.policy, reply_by, language))
        return {
            "recipient_id": conv_id, "text": wording,
            "custom": {"kind": "handoff_offline", "reason": reason, "in_service_hours": open_now, "hours": hours,
                       "reply_by": reply_by.isoformat(), "next_opening": self.policy.next_opening(now).isoformat(),
                       "ticket_url": f"/conversations/{conv_id}/handoff/ticket",
                       "contact_methods": list(CONTACT_METHODS)},
        }

    async def _summary(
        self, conv_id: str, replies: Sequence[BotMessage], asked: Optional[str]
    ) -> Tuple[List[SummaryItem], Optional[str]]:
        history: List[Dict[str, Any]] = []
        try:
            history = await self.effects.transcripts.history(conv_id, SUMMARY_HISTORY)
        except Exception:  # the console then shows this turn only
            self.effects.on_error("db")
        return summarize(history, asked, replies)

    async def cancel(self, conv_id: str) -> BotMessage:
        """Leave the queue, or end the talk with the officer; the bot answers again."""
        record = await self.store.get(conv_id)
        language = (record.language if record else None) or "en"
        if record is None or not await self.store.release(conv_id, None, Status.ABANDONED):
            return {"recipient_id": conv_id, "text": text(language, "nothing_to_cancel"),
                    "custom": {"kind": "handoff_cancelled", "cancelled": False}}
        await self.effects.event(conv_id, "abandoned", agent=record.agent, reason=record.reason,
                                 data={"was": record.status.value})
        if record.status is Status.CLAIMED and record.agent:
            await self.effects.route(conv_id, Route.BOT)
            await self.effects.to_agent(record.agent, conv_id, closed=Status.ABANDONED.value)
        await self.effects.queue_changed()
        return {"recipient_id": conv_id, "text": text(language, "cancelled"),
                "custom": {"kind": "handoff_cancelled", "cancelled": True}}

    async def create_ticket(self, conv_id: str, message: str, method: str, contact: Optional[str]) -> TicketReceipt:
        """Leave a message for the officers, to be answered by the policy's reply-by time."""
        if method not in CONTACT_METHODS:
            raise HandoffError.invalid("invalid_contact_method",
                                       f"contact_method must be one of {list(CONTACT_METHODS)}")
        if method != "chat" and not (contact or "").strip():
            raise HandoffError.invalid("missing_contact",
                                       "give a phone number or e-mail address for that contact method")
        language = language_of(message)
        reply_by = self.policy.reply_by(datetime.now(timezone.utc))
        masked = mask_pii(message)
        # the contact is stored as given: the taxpayer left it on purpose to be contacted (agents only see it)
        ticket_id = await self.effects.events.add_ticket(
            conv_id, masked, method, (contact or "").strip()[:MAX_CONTACT_CHARS] or None, language, reply_by)
        await self.effects.event(conv_id, "offline_ticket", data={"ticket_id": ticket_id, "contact_method": method,
                                                                   "reply_by": reply_by.isoformat()})
        wording = text(language, "ticket", reply_by=local_time(self.policy, reply_by, language))
        await self.effects.record([
            TranscriptEntry(conv_id, "taxpayer", "handoff", masked, kind="offline_ticket"),
            TranscriptEntry(conv_id, "system", "handoff", wording, kind="handoff_ticket",
                            payload={"custom": {"kind": "handoff_ticket", "ticket_id": ticket_id,
                                                "reply_by": reply_by.isoformat()}}),
        ])
        await self.effects.publish({"type": EventType.TICKETS_CHANGED.value})
        return {"ticket_id": ticket_id, "reply_by": reply_by.isoformat(), "text": wording}
