"""The officers' consoles on this instance: what they see, and presence kept by their open sockets.

A console tab's websocket is the officer's presence: while one is open a heartbeat renews it; when
the last one closes the presence only lives for the policy's grace period, after which the sweeper
puts the officer's conversations back at the front of the queue (at once when the grace is zero).
A socket also re-checks its sign-in session periodically and closes (4401) once it has ended
(logout, account disabled or role changed, on any instance or by ``python -m bot.accounts``).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Mapping, Optional, Protocol, Set, TypedDict

from bot.handoff.agent import AgentSide
from bot.handoff.effects import Effects
from bot.handoff.model import HandoffError, HandoffRecord, Presence, Status, SummaryItem
from bot.handoff.policy import HandoffPolicy
from bot.handoff.store import HandoffStore
from bot.handoff.texts import iso

log = logging.getLogger(__name__)

#: The close code of a console socket whose sign-in session has ended.
SESSION_ENDED = 4401


class ConsoleSocket(Protocol):
    """The part of ``aiohttp.web.WebSocketResponse`` the console uses."""

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        ...

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as a JSON text frame."""
        ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool:
        """Close the socket."""
        ...


class QueueEntry(TypedDict):
    """A handoff as a console row."""

    conversation_id: str
    status: str
    position: Optional[int]
    reason: Optional[str]
    topic: Optional[str]
    language: Optional[str]
    channel: Optional[str]
    priority: bool
    queued_at: Optional[str]
    claimed_at: Optional[str]
    waiting_seconds: float
    agent: Optional[str]
    last_answers: List[SummaryItem]


class Snapshot(TypedDict):
    """Everything one officer's console shows (sent on connect and after every queue change)."""

    type: str
    waiting: List[QueueEntry]
    mine: List[QueueEntry]
    agents: Dict[str, str]
    presence: Optional[str]
    capacity: int
    in_service_hours: bool
    server_time: Optional[str]


def queue_entry(record: HandoffRecord, position: Optional[int] = None) -> QueueEntry:
    """The console row of ``record`` (``position`` in the queue when waiting)."""
    now = time.time()
    return {
        "conversation_id": record.id, "status": record.status.value, "position": position,
        "reason": record.reason, "topic": record.topic, "language": record.language, "channel": record.channel,
        "priority": record.priority, "queued_at": iso(record.queued_at), "claimed_at": iso(record.claimed_at),
        "waiting_seconds": round(now - (record.queued_at or now), 1), "agent": record.agent,
        "last_answers": record.summary or [],
    }


class Console:
    """Snapshots, readable conversations and the console sockets of this instance."""

    def __init__(self, store: HandoffStore, policy: HandoffPolicy, agents: AgentSide, effects: Effects) -> None:
        self.store = store
        self.policy = policy
        self.agents = agents
        self.effects = effects
        self.sockets: Dict[str, Set[ConsoleSocket]] = {}  # agent -> open console sockets on this instance

    async def snapshot(self, agent: Optional[str] = None) -> Snapshot:
        """The queue, ``agent``'s own conversations and every officer's presence."""
        waiting = [queue_entry(r, i) for i, r in enumerate(await self.store.waiting(), start=1)]
        mine: List[QueueEntry] = []
        if agent:
            for conv_id in await self.store.claimed_by(agent):
                record = await self.store.get(conv_id)
                if record is not None:
                    mine.append(queue_entry(record))
        presence = {name: status.value for name, status in (await self.store.presence()).items()}
        return {"type": "snapshot", "waiting": waiting, "mine": mine, "agents": presence,
                "presence": presence.get(agent) if agent else None,
                "capacity": self.policy.capacity_per_agent, "in_service_hours": self.policy.in_service_hours(),
                "server_time": iso(time.time())}

    async def readable(self, conv_id: str, agent: str, admin: bool) -> Optional[HandoffRecord]:
        """The handoff an officer may read: waiting ones and their own; an admin any (None when there is none)."""
        record = await self.store.get(conv_id)
        if admin:
            return record
        if record is None:
            raise HandoffError.not_found("not_found", "no handoff for this conversation")
        if record.status is Status.QUEUED or (record.status is Status.CLAIMED and record.agent == agent):
            return record
        raise HandoffError.forbidden("forbidden", "this conversation is not yours to read")

    async def detail(self, conv_id: str, agent: str, admin: bool, history_limit: int) -> Dict[str, Any]:
        """A conversation as the console opens it: handoff, transcript, internal notes and events."""
        record = await self.readable(conv_id, agent, admin)
        transcript = await self.effects.transcripts.history(conv_id, history_limit)
        events = await self.effects.events.events(conv_id)
        notes = [{"agent": e["agent"], "text": (e["data"] or {}).get("text"), "time": e["time"]}
                 for e in events if e["type"] == "note"]
        entry: Mapping[str, object]
        if record is not None and record.queued_at is not None:
            entry = queue_entry(record)
        else:
            entry = {"conversation_id": conv_id, "status": record.status.value if record else "none"}
        steps = [{"type": e["type"], "time": e["time"], "agent": e["agent"], "reason": e["reason"]}
                 for e in events if e["type"] != "note"]
        return {"conversation": entry, "transcript": transcript, "notes": notes, "events": steps}

    async def stats(self) -> Dict[str, Any]:
        """Aggregate handoff figures (no conversation content)."""
        claimed = await self.effects.events.events(event_type="claimed")
        waits = [(e["data"] or {}).get("waited_seconds", 0.0) for e in claimed]
        median = statistics.median_high(waits) if waits else None  # an observed wait, never an average of two
        return {"events": await self.effects.events.counts(), "claims": len(waits), "median_wait_seconds": median,
                "waiting_now": len(await self.store.waiting())}

    # ------------------------------------------------------------------ sockets and presence
    @contextlib.asynccontextmanager
    async def attached(self, agent: str, ws: ConsoleSocket) -> AsyncIterator[None]:
        """Keep ``agent`` present while ``ws`` is open: registered, online (or away as before), heartbeating."""
        self.sockets.setdefault(agent, set()).add(ws)
        await self.agents.set_presence(agent, await self.store.get_presence(agent) or Presence.ONLINE)
        beat = asyncio.create_task(self._heartbeat(agent))
        try:
            yield
        finally:
            beat.cancel()
            await self._detach(agent, ws)

    async def close_when_ended(self, ws: ConsoleSocket, alive: Callable[[], Awaitable[bool]],
                               interval: float) -> None:
        """Close ``ws`` (``SESSION_ENDED``) once ``alive`` answers False, asked every ``interval`` seconds.

        A failing check (the session store unreachable) keeps the socket; the next check decides.
        """
        while not ws.closed:
            await asyncio.sleep(interval)
            try:
                if await alive():
                    continue
            except Exception as exc:
                log.warning("console session check failed: %s", type(exc).__name__)
                self.effects.on_error("session")
                continue
            with contextlib.suppress(Exception):  # shielded: the socket's handler ends (cancelling us) meanwhile
                await asyncio.shield(ws.close(code=SESSION_ENDED, message=b"session ended"))
            return

    async def _heartbeat(self, agent: str) -> None:
        while True:
            await asyncio.sleep(self.policy.heartbeat_seconds)
            current = await self.store.get_presence(agent) or Presence.ONLINE
            await self.store.set_presence(agent, current, self.policy.presence_ttl_seconds)

    async def _detach(self, agent: str, ws: ConsoleSocket) -> None:
        sockets = self.sockets.get(agent, set())
        sockets.discard(ws)
        if sockets:
            return
        self.sockets.pop(agent, None)
        # gone unless a console comes back (on any instance) within the grace period
        current = await self.store.get_presence(agent)
        if current is not None:
            await self.store.set_presence(agent, current, self.policy.disconnect_grace_seconds)
        if self.policy.disconnect_grace_seconds <= 0:
            await self.agents.sweep()
        await self.effects.queue_changed()

    async def receive(self, agent: str, data: str) -> Optional[Snapshot]:
        """Handle a console frame: a presence change, or a snapshot request (returned); anything else is ignored."""
        try:
            message = json.loads(data)
        except ValueError:
            return None
        if not isinstance(message, dict):
            return None
        if message.get("type") == "presence" and message.get("status") in (Presence.ONLINE.value, Presence.AWAY.value):
            await self.agents.set_presence(agent, message["status"])
        elif message.get("type") == "snapshot":
            return await self.snapshot(agent)
        return None

    def agents_here(self) -> List[str]:
        """The officers with a console open on this instance."""
        return [agent for agent, sockets in self.sockets.items() if sockets]

    async def send(self, agent: str, payload: Any) -> None:
        """Send ``payload`` to every open console of ``agent`` here (a closing socket is skipped)."""
        for ws in list(self.sockets.get(agent, ())):
            try:
                if not ws.closed:
                    await ws.send_json(payload)
            except (ConnectionError, RuntimeError):
                pass

    async def close_all(self) -> None:
        """Close every console socket (server shutdown)."""
        for sockets in list(self.sockets.values()):
            for ws in list(sockets):
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=b"server shutdown")
