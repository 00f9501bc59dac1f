"""The handoff workflow: escalate, queue, claim, chat, close, requeue, offline tickets.

``HandoffManager`` is a ``bot.hooks.TurnHook``: the ConversationService calls ``before_turn`` /
``after_turn`` on every taxpayer message; the agent console API calls the agent methods; closing a
case tells the ``bot.hooks.HandoffClosedListener`` objects (the survey). All shared state goes through the ``HandoffStore`` (memory or
Redis); every change is published on the store's channel, and each gateway instance's listener
(``dispatch``) forwards it to the taxpayer sockets and agent consoles connected to that instance.
Every step is written to ``handoff_events``.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Set

from bot.db.handoff_repository import HandoffRepository
from bot.db.repository import TranscriptEntry, TranscriptRepository
from bot.handoff.policy import HandoffPolicy
from bot.hooks import HandoffClosed, HandoffClosedListener, Turn
from knowledge import catalogue
from knowledge.text import language_of
from bot.handoff.rasa_control import RasaControl
from bot.handoff.store import CLAIMED, QUEUED, ClaimResult, HandoffStore
from bot.privacy import mask_pii
from bot.routing import Route

log = logging.getLogger(__name__)

CANCEL_PAYLOAD = "/handoff_cancel"
CONTACT_METHODS = ("chat", "phone", "email")
MAX_NOTE_CHARS = 4000


class TaxpayerSubscriber(Protocol):
    """A channel that reaches its taxpayers outside a turn (bot/wechat: the customer-service API).

    Called on every gateway instance for each message to a taxpayer (agent, handoff notices, the
    survey) and each queue-position update; it ignores conversations that are not its own and makes
    sure only one instance sends (``event_id`` is the same on every instance)."""

    async def taxpayer_message(self, conversation_id: str, message: Dict[str, Any], event_id: Optional[str]) -> None: ...

    async def taxpayer_status(self, conversation_id: str, status: Dict[str, Any]) -> None: ...


class HandoffError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _t(language: Optional[str], key: str, **values: Any) -> str:
    return catalogue.text(f"handoff.{key}", language or "en", **values)


def _minutes(seconds: float) -> int:
    return max(1, int(math.ceil(seconds / 60.0)))


def _iso(ts: Optional[float]) -> Optional[str]:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None


class HandoffManager:
    def __init__(
        self, store: HandoffStore, policy: HandoffPolicy, events: HandoffRepository, transcripts: TranscriptRepository,
        rasa: RasaControl, on_error: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.events = events
        self.transcripts = transcripts
        self.rasa = rasa
        self.on_error = on_error
        self.consoles: Dict[str, Set[Any]] = {}  # agent -> open websockets on this instance
        self.console_roles: Dict[str, str] = {}
        self.subscribers: List[TaxpayerSubscriber] = []  # taxpayer delivery: sockets, WeChat (add_subscriber)
        self.closed_listeners: List[HandoffClosedListener] = []  # told when a case is closed (the survey)

    def add_subscriber(self, subscriber: TaxpayerSubscriber) -> None:
        """Deliver taxpayer messages and queue updates through ``subscriber`` (sockets, WeChat)."""
        self.subscribers.append(subscriber)

    def add_closed_listener(self, listener: HandoffClosedListener) -> None:
        """Tell ``listener`` each time an officer closes a case on this instance."""
        self.closed_listeners.append(listener)

    async def send_to_taxpayer(self, conv_id: str, message: Dict[str, Any]) -> None:
        """Push ``message`` to the taxpayer through every instance's subscribers (not stored here)."""
        await self._publish({"type": "to_taxpayer", "conversation_id": conv_id, "message": message})

    # ------------------------------------------------------------------ helpers
    async def _event(self, conv_id: str, event_type: str, **kwargs: Any) -> None:
        try:
            await self.events.add_event(conv_id, event_type, **kwargs)
        except Exception as exc:  # analytics must never break the conversation
            log.error("could not store handoff event %s: %s", event_type, type(exc).__name__)
            self.on_error("db")

    async def _record(self, entries: List[TranscriptEntry]) -> None:
        try:
            await self.transcripts.add(entries)
        except Exception as exc:
            log.error("could not store handoff transcript: %s", type(exc).__name__)
            self.on_error("db")

    async def _publish(self, event: Dict[str, Any]) -> None:
        if event.get("type") == "to_taxpayer" and "event_id" not in event:  # one delivery per event (subscribers)
            event = {**event, "event_id": uuid.uuid4().hex}
        try:
            await self.store.publish(event)
        except Exception as exc:
            log.error("could not publish handoff event: %s", type(exc).__name__)
            self.on_error("redis")

    async def _set_db_route(self, conv_id: str, route: str) -> None:
        try:
            await self.events.set_route(conv_id, route)
        except Exception:
            self.on_error("db")

    async def _tell_taxpayer(self, conv_id: str, text: str, kind: str, sender: str = "system", **custom: Any) -> None:
        """Store a message for the taxpayer (REST clients poll it) and push it to their sockets."""
        payload = {"kind": kind, **custom}
        await self._record([TranscriptEntry(conv_id, sender, "handoff", text, kind=kind, payload={"custom": payload})])
        await self._publish({"type": "to_taxpayer", "conversation_id": conv_id,
                             "message": {"recipient_id": conv_id, "text": text, "custom": payload}})

    async def online_agents(self) -> List[str]:
        return sorted(a for a, status in (await self.store.presence()).items() if status == "online")

    async def status(self, conv_id: str) -> Dict[str, Any]:
        """What the taxpayer's client may know about its handoff."""
        record = await self.store.get(conv_id)
        if record is None or record.get("status") not in (QUEUED, CLAIMED):
            return {"status": "none" if record is None else record["status"]}
        out: Dict[str, Any] = {"status": record["status"], "reason": record.get("reason")}
        if record["status"] == QUEUED:
            position = await self.store.position(conv_id) or 1
            out["position"] = position
            out["expected_wait_seconds"] = self.policy.expected_wait_seconds(position, len(await self.online_agents()))
        else:
            out["agent"] = record.get("agent_name") or record.get("agent")
        return out

    # ------------------------------------------------------------------ taxpayer side
    async def before_turn(self, turn: Turn) -> Optional[List[Dict[str, Any]]]:
        """Messages the gateway answers itself (not Rasa): the cancel button's payload."""
        if turn.text.strip() == CANCEL_PAYLOAD:
            try:
                return [await self.cancel(turn.conversation_id)]
            except Exception as exc:
                log.error("handoff cancel failed: %s", type(exc).__name__)
                self.on_error("handoff")
        return None

    async def after_turn(self, turn: Turn, replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """After the bot answered (or not): escalate when the policy says so; relay to the agent.

        A failure of the shared state never costs the taxpayer the bot's answer.
        """
        try:
            return await self._after_turn(turn.conversation_id, turn.channel, turn.route, turn.text, replies)
        except Exception as exc:
            log.error("handoff step failed: %s", type(exc).__name__)
            self.on_error("handoff")
            return []

    async def _after_turn(
        self, conv_id: str, channel: str, route: Route, text: str, replies: List[Dict[str, Any]]
    ) -> List[Dict[str, Any]]:
        if route is Route.AGENT:
            record = await self.store.get(conv_id)
            if record is not None and record.get("status") == CLAIMED:
                await self._publish({"type": "to_agent", "agent": record["agent"], "conversation_id": conv_id,
                                     "message": {"sender": "taxpayer", "text": text, "time": _iso(time.time())}})
            return []
        for item in replies:
            custom = item.get("custom") if isinstance(item.get("custom"), dict) else None
            reason = self.policy.escalation_reason(custom)
            if reason is not None:
                language = (custom or {}).get("language") or language_of(text)
                return await self.request(conv_id, reason, channel, language, replies, text)
        return []

    async def request(
        self, conv_id: str, reason: str, channel: str, language: str = "en", replies: Optional[List[Dict[str, Any]]] = None,
        text: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        replies = replies or []
        record = await self.store.get(conv_id)
        if record is not None and record.get("status") == QUEUED:
            state = await self.status(conv_id)
            text = _t(language, "already", position=state["position"], minutes=_minutes(state["expected_wait_seconds"]))
            return [self._queued_message(conv_id, text, language, reason, state)]
        if record is not None and record.get("status") == CLAIMED:
            return []
        now = datetime.now(timezone.utc)
        online = await self.online_agents()
        waiting = await self.store.waiting()
        open_now = self.policy.in_service_hours(now)
        outcome = "queued" if open_now and online and len(waiting) < self.policy.max_waiting else "offline"
        summary, topic = await self._summary(conv_id, replies, text)
        await self._event(conv_id, "requested", reason=reason,
                          data={"channel": channel, "language": language, "topic": topic, "outcome": outcome,
                                "online_agents": len(online)})
        if outcome == "offline":
            reply_by = self.policy.reply_by(now)
            text = _t(language, "offline_closed" if not open_now else "offline_busy", hours=self.policy.hours_text(language))
            text += _t(language, "offline_tail", reply_by=self._local_text(reply_by, language))
            return [{
                "recipient_id": conv_id, "text": text,
                "custom": {"kind": "handoff_offline", "reason": reason, "in_service_hours": open_now,
                           "hours": self.policy.hours_text(language), "reply_by": reply_by.isoformat(),
                           "next_opening": self.policy.next_opening(now).isoformat(),
                           "ticket_url": f"/conversations/{conv_id}/handoff/ticket",
                           "contact_methods": list(CONTACT_METHODS)},
            }]
        fields = {"reason": reason, "topic": topic, "language": language, "channel": channel,
                  "requested_at": time.time(), "queued_at": time.time(), "summary": summary}
        created, _ = await self.store.enqueue(conv_id, fields)
        state = await self.status(conv_id)
        if created:
            await self._event(conv_id, "queued", reason=reason,
                              data={"position": state.get("position"), "expected_wait_seconds": state.get("expected_wait_seconds")})
            await self._publish({"type": "queue_changed"})
        text = _t(language, "queued", position=state.get("position", 1), minutes=_minutes(state.get("expected_wait_seconds", 60)))
        return [self._queued_message(conv_id, text, language, reason, state)]

    def _queued_message(self, conv_id: str, text: str, language: str, reason: str, state: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "recipient_id": conv_id, "text": text,
            "buttons": [{"title": _t(language, "cancel_button"), "payload": CANCEL_PAYLOAD}],
            "custom": {"kind": "handoff_queued", "reason": reason, "position": state.get("position"),
                       "expected_wait_seconds": state.get("expected_wait_seconds"),
                       "status_url": f"/conversations/{conv_id}/handoff"},
        }

    def _local_text(self, moment: datetime, language: Optional[str] = None) -> str:
        local = moment.astimezone(self.policy.zone)
        if language == "zh" and self.policy.timezone == "Asia/Shanghai":
            return f"{local:%Y-%m-%d %H:%M}（北京时间）"
        return f"{local:%Y-%m-%d %H:%M} ({self.policy.timezone})"

    async def _summary(
        self, conv_id: str, replies: List[Dict[str, Any]], text: Optional[str] = None
    ) -> "tuple[List[Dict[str, Any]], Optional[str]]":
        """The bot's last answers with their confidence, and the topic, for the console."""
        items: List[Dict[str, Any]] = []
        try:
            for row in await self.transcripts.history(conv_id, 20):
                if row["sender_type"] in ("bot", "taxpayer"):
                    items.append({"sender": row["sender_type"], "text": row["text"], "kind": row["kind"],
                                  "confidence": row["confidence"], "article_id": row["article_id"],
                                  "title": (row.get("custom") or {}).get("title")})
        except Exception:
            self.on_error("db")
        if text:  # this turn's message is stored after the handoff step
            items.append({"sender": "taxpayer", "text": text, "kind": None, "confidence": None, "article_id": None, "title": None})
        for item in replies:
            custom = item.get("custom") if isinstance(item.get("custom"), dict) else {}
            items.append({"sender": "bot", "text": item.get("text"), "kind": custom.get("kind"),
                          "confidence": custom.get("confidence"), "article_id": custom.get("article_id"),
                          "title": custom.get("title")})
        answers = [i for i in items if i["sender"] == "bot" and i["kind"] not in ("handoff", None, "smalltalk")][-3:]
        for a in answers:
            a["text"] = (a["text"] or "")[:300]
        topic = None
        for item in reversed(items):
            if item["sender"] == "bot" and (item.get("title") or item.get("article_id")):
                topic = item.get("title") or item.get("article_id")
                break
        if topic is None:
            asked = [i for i in items if i["sender"] == "taxpayer" and i["text"]]
            topic = (asked[-1]["text"][:80] if asked else None)
        return answers, topic

    async def cancel(self, conv_id: str) -> Dict[str, Any]:
        record = await self.store.get(conv_id)
        language = (record or {}).get("language") or "en"
        if record is None or not await self.store.release(conv_id, None, "abandoned"):
            return {"recipient_id": conv_id, "text": _t(language, "nothing_to_cancel"), "custom": {"kind": "handoff_cancelled", "cancelled": False}}
        await self._event(conv_id, "abandoned", agent=record.get("agent"), reason=record.get("reason"),
                          data={"was": record.get("status")})
        if record.get("status") == CLAIMED:
            await self.rasa.resume(conv_id)
            await self._set_db_route(conv_id, "bot")
            await self._publish({"type": "to_agent", "agent": record["agent"], "conversation_id": conv_id,
                                 "closed": "abandoned"})
        await self._publish({"type": "queue_changed"})
        return {"recipient_id": conv_id, "text": _t(language, "cancelled"), "custom": {"kind": "handoff_cancelled", "cancelled": True}}

    async def create_ticket(self, conv_id: str, message: str, method: str, contact: Optional[str]) -> Dict[str, Any]:
        if method not in CONTACT_METHODS:
            raise HandoffError(400, "invalid_contact_method", f"contact_method must be one of {list(CONTACT_METHODS)}")
        if method != "chat" and not (contact or "").strip():
            raise HandoffError(400, "missing_contact", "give a phone number or e-mail address for that contact method")
        language = language_of(message)
        now = datetime.now(timezone.utc)
        reply_by = self.policy.reply_by(now)
        masked = mask_pii(message)
        ticket_id = await self.events.add_ticket(conv_id, masked, method, (contact or "").strip()[:200] or None, language, reply_by)
        await self._event(conv_id, "offline_ticket", data={"ticket_id": ticket_id, "contact_method": method,
                                                            "reply_by": reply_by.isoformat()})
        text = _t(language, "ticket", reply_by=self._local_text(reply_by, language))
        await self._record([
            TranscriptEntry(conv_id, "taxpayer", "handoff", masked, kind="offline_ticket"),
            TranscriptEntry(conv_id, "system", "handoff", text, kind="handoff_ticket",
                            payload={"custom": {"kind": "handoff_ticket", "ticket_id": ticket_id, "reply_by": reply_by.isoformat()}}),
        ])
        await self._publish({"type": "tickets_changed"})
        return {"ticket_id": ticket_id, "reply_by": reply_by.isoformat(), "text": text}

    # ------------------------------------------------------------------ agent side
    async def set_presence(self, agent: str, status: str, ttl: Optional[float] = None) -> None:
        if status not in ("online", "away"):
            raise HandoffError(400, "invalid_presence", "presence must be online or away")
        await self.store.set_presence(agent, status, ttl or self.policy.presence_ttl_seconds)
        await self._publish({"type": "queue_changed"})

    async def claim(self, conv_id: str, agent: str, agent_name: str) -> Dict[str, Any]:
        presence = await self.store.get_presence(agent)
        if presence != "online":
            raise HandoffError(409, "not_online", "set your presence to online before claiming")
        result = await self.store.claim(conv_id, agent, self.policy.capacity_per_agent)
        if result == ClaimResult.TAKEN:
            raise HandoffError(409, "already_claimed", "another agent has claimed this conversation")
        if result == ClaimResult.CAPACITY:
            raise HandoffError(409, "at_capacity", f"you already hold {self.policy.capacity_per_agent} conversations")
        if result != ClaimResult.CLAIMED:
            raise HandoffError(409, "not_waiting", "this conversation is not waiting for an agent")
        record = await self.store.get(conv_id) or {}
        waited = (record.get("claimed_at") or time.time()) - (record.get("queued_at") or time.time())
        await self._event(conv_id, "claimed", agent=agent, reason=record.get("reason"), data={"waited_seconds": round(waited, 3)})
        await self._set_db_route(conv_id, "agent")
        await self.rasa.pause(conv_id)
        await self._tell_taxpayer(conv_id, _t(record.get("language"), "claimed", agent=agent_name), "handoff_claimed",
                                  agent_name=agent_name)
        await self._publish({"type": "queue_changed"})
        return record

    async def _held(self, conv_id: str, user: Dict[str, str]) -> Dict[str, Any]:
        record = await self.store.get(conv_id)
        if record is None or record.get("status") != CLAIMED:
            raise HandoffError(409, "not_claimed", "this conversation is not being handled by an agent")
        if record["agent"] != user["username"]:
            raise HandoffError(403, "forbidden", "another agent handles this conversation")
        return record

    async def agent_message(self, conv_id: str, user: Dict[str, str], text: str) -> Dict[str, Any]:
        await self._held(conv_id, user)
        masked = mask_pii(text)
        custom = {"kind": "agent_message", "agent_name": user["display_name"]}
        await self._record([TranscriptEntry(conv_id, "agent", "handoff", masked, kind="agent_message", payload={"custom": custom})])
        await self._event(conv_id, "agent_message", agent=user["username"], data={"chars": len(masked)})
        await self._publish({"type": "to_taxpayer", "conversation_id": conv_id, "sender": "agent",
                             "message": {"recipient_id": conv_id, "text": masked, "custom": custom}})
        return {"sender": "agent", "text": masked, "time": _iso(time.time())}

    async def add_note(self, conv_id: str, user: Dict[str, str], text: str) -> Dict[str, Any]:
        await self._held(conv_id, user)
        note = mask_pii(text)[:MAX_NOTE_CHARS]
        await self._event(conv_id, "note", agent=user["username"], data={"text": note})
        return {"agent": user["username"], "text": note, "time": _iso(time.time())}

    async def close(self, conv_id: str, user: Dict[str, str], outcome: str) -> None:
        if outcome not in ("bot", "resolved"):
            raise HandoffError(400, "invalid_outcome", "outcome must be bot or resolved")
        record = await self._held(conv_id, user)
        status = "returned" if outcome == "bot" else "resolved"
        if not await self.store.release(conv_id, user["username"], status):
            raise HandoffError(409, "not_claimed", "this conversation is no longer yours")
        await self._event(conv_id, status, agent=user["username"], reason=record.get("reason"))
        await self._set_db_route(conv_id, "bot")
        await self.rasa.resume(conv_id)
        await self._tell_taxpayer(conv_id, _t(record.get("language"), status), f"handoff_{status}")
        await self._publish({"type": "queue_changed"})
        event = HandoffClosed(conv_id, user["username"], outcome)
        for listener in self.closed_listeners:
            try:
                await listener.handoff_closed(event)
            except Exception as exc:  # the officer's close has succeeded; a listener never undoes it
                log.error("handoff closed listener failed: %s", type(exc).__name__)
                self.on_error("handoff")

    async def requeue(self, conv_id: str, agent: str, why: str = "agent_disconnected") -> bool:
        record = await self.store.get(conv_id)
        if record is None or not await self.store.release(conv_id, agent, "queue", priority=True):
            return False
        await self._event(conv_id, "queued", agent=agent, reason=record.get("reason"),
                          data={"requeued": True, "priority": True, "why": why})
        await self._set_db_route(conv_id, "bot")
        await self.rasa.resume(conv_id)  # the bot answers again while the taxpayer waits
        await self._tell_taxpayer(conv_id, _t(record.get("language"), "requeued"), "handoff_requeued")
        await self._publish({"type": "queue_changed"})
        return True

    async def agent_left(self, agent: str) -> None:
        """Sign-out: presence gone, the agent's conversations go back to the queue first."""
        await self.store.drop_presence(agent)
        for conv_id in await self.store.claimed_by(agent):
            await self.requeue(conv_id, agent, "agent_signed_out")
        await self._publish({"type": "queue_changed"})

    async def sweep(self) -> int:
        """Requeue (with priority) the conversations of agents whose presence expired."""
        moved = 0
        for conv_id, agent in (await self.store.claims()).items():
            if await self.store.get_presence(agent) is None:
                moved += await self.requeue(conv_id, agent)
        return moved

    # ------------------------------------------------------------------ console views
    def queue_entry(self, record: Dict[str, Any], position: Optional[int] = None) -> Dict[str, Any]:
        now = time.time()
        return {
            "conversation_id": record["id"], "status": record["status"], "position": position,
            "reason": record.get("reason"), "topic": record.get("topic"), "language": record.get("language"),
            "channel": record.get("channel"), "priority": record.get("priority", False),
            "queued_at": _iso(record.get("queued_at")), "claimed_at": _iso(record.get("claimed_at")),
            "waiting_seconds": round(now - (record.get("queued_at") or now), 1),
            "agent": record.get("agent"), "last_answers": record.get("summary") or [],
        }

    async def snapshot(self, agent: Optional[str] = None) -> Dict[str, Any]:
        waiting = [self.queue_entry(r, i) for i, r in enumerate(await self.store.waiting(), start=1)]
        mine = []
        if agent:
            for conv_id in await self.store.claimed_by(agent):
                record = await self.store.get(conv_id)
                if record is not None:
                    mine.append(self.queue_entry(record))
        presence = await self.store.presence()
        return {"type": "snapshot", "waiting": waiting, "mine": mine, "agents": presence,
                "presence": presence.get(agent) if agent else None,
                "capacity": self.policy.capacity_per_agent, "in_service_hours": self.policy.in_service_hours(),
                "server_time": _iso(time.time())}

    # ------------------------------------------------------------------ fan-out (every instance)
    async def dispatch(self, event: Dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "to_taxpayer":
            for subscriber in self.subscribers:
                await self._notify(subscriber.taxpayer_message(event["conversation_id"], event["message"], event.get("event_id")))
        elif kind == "to_agent":
            for ws in list(self.consoles.get(event.get("agent") or "", ())):
                await self._send(ws, {"type": "conversation", "conversation_id": event["conversation_id"],
                                      "message": event.get("message"), "closed": event.get("closed")})
        elif kind in ("queue_changed", "tickets_changed"):
            waiting = await self.store.waiting()
            if kind == "queue_changed":
                for position, record in enumerate(waiting, start=1):
                    for subscriber in self.subscribers:
                        await self._notify(subscriber.taxpayer_status(record["id"], {"status": QUEUED, "position": position}))
            for agent, sockets in list(self.consoles.items()):
                if not sockets:
                    continue
                payload = await self.snapshot(agent) if kind == "queue_changed" else {"type": "tickets_changed"}
                for ws in list(sockets):
                    await self._send(ws, payload)

    async def _notify(self, delivery: Awaitable[None]) -> None:
        try:
            await delivery
        except Exception as exc:  # one channel's failure never stops the others
            log.error("handoff delivery to a subscriber failed: %s", type(exc).__name__)
            self.on_error("handoff")

    @staticmethod
    async def _send(ws: Any, payload: Dict[str, Any]) -> None:
        try:
            if not ws.closed:
                await ws.send_json(payload)
        except (ConnectionError, RuntimeError):
            pass

    async def listen(self, ready: asyncio.Event) -> None:
        """Forward the store's events to this instance's clients until cancelled; resubscribe on errors."""
        while True:
            try:
                async with self.store.subscribe() as subscription:
                    ready.set()
                    while True:
                        event = await subscription.get()
                        try:
                            await self.dispatch(event)
                        except Exception:
                            log.exception("handoff event dispatch failed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                ready.set()  # do not hold up start-up; keep retrying in the background
                log.warning("handoff subscription lost (%s); retrying", type(exc).__name__)
                self.on_error("redis")
                await asyncio.sleep(1.0)

    async def sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.policy.sweep_seconds)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("handoff sweep failed: %s", type(exc).__name__)
