"""The handoff store of one gateway process (the embedded default: no REDIS_URL)."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Dict, List, Optional, Set, Tuple

from bot.handoff.model import ClaimResult, Event, HandoffRecord, Presence, Status
from bot.handoff.store.base import decode, encode, now_ts, queue_score
from bot.routing import Route


class MemorySubscription:
    """A subscription to a ``MemoryHandoffStore``'s events."""

    def __init__(self, subscribers: List[asyncio.Queue[Event]]) -> None:
        self._subscribers = subscribers
        self._queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __aenter__(self) -> MemorySubscription:
        self._subscribers.append(self._queue)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._queue in self._subscribers:
            self._subscribers.remove(self._queue)

    async def get(self) -> Event:
        """The next published event."""
        return await self._queue.get()


class MemoryHandoffStore:
    """Handoff state of one gateway process, kept in the same hash layout as the Redis store.

    Methods do not await between check and change, so on one event loop they are atomic like the Redis scripts.
    """

    def __init__(self) -> None:
        self._convs: Dict[str, Dict[str, str]] = {}
        self._agents: Dict[str, Set[str]] = {}
        self._presence: Dict[str, Tuple[Presence, float]] = {}
        self._routes: Dict[str, Route] = {}
        self._subscribers: List[asyncio.Queue[Event]] = []

    async def enqueue(self, record: HandoffRecord) -> Tuple[bool, HandoffRecord]:
        """Queue ``record`` unless its conversation is queued or claimed; returns (created, current record)."""
        current = self._convs.get(record.id)
        if current is not None and Status(current["status"]).is_open:
            return False, decode(current)
        queued_at = record.queued_at if record.queued_at is not None else now_ts()
        fields = encode(replace(record, status=Status.QUEUED, agent=None, queued_at=queued_at))
        self._convs[record.id] = fields
        return True, decode(fields)

    async def get(self, conv_id: str) -> Optional[HandoffRecord]:
        """The conversation's record, or None."""
        fields = self._convs.get(conv_id)
        return decode(fields) if fields is not None else None

    async def waiting(self) -> List[HandoffRecord]:
        """Queued conversations, priority first, then oldest first."""
        records = [decode(f) for f in self._convs.values() if f["status"] == Status.QUEUED.value]
        records.sort(key=lambda r: queue_score(r.queued_at or 0.0, r.priority))
        return records

    async def position(self, conv_id: str) -> Optional[int]:
        """1-based queue position, or None when not waiting."""
        for index, record in enumerate(await self.waiting(), start=1):
            if record.id == conv_id:
                return index
        return None

    async def claim(self, conv_id: str, agent: str, capacity: int) -> ClaimResult:
        """Give a queued conversation to ``agent`` (see ``HandoffStore.claim``)."""
        fields = self._convs.get(conv_id)
        if fields is None or not Status(fields["status"]).is_open:
            return ClaimResult.NOT_WAITING
        if fields["status"] == Status.CLAIMED.value:
            return ClaimResult.TAKEN
        held = self._agents.setdefault(agent, set())
        if capacity > 0 and len(held) >= capacity:
            return ClaimResult.CAPACITY
        fields.update(status=Status.CLAIMED.value, agent=agent, claimed_at=str(now_ts()))
        held.add(conv_id)
        self._routes[conv_id] = Route.AGENT
        return ClaimResult.CLAIMED

    async def release(self, conv_id: str, agent: Optional[str], outcome: Status, priority: bool = False) -> bool:
        """End a claim or abandon a handoff (see ``HandoffStore.release``)."""
        fields = self._convs.get(conv_id)
        if fields is None:
            return False
        status, holder = Status(fields["status"]), fields.get("agent", "")
        if agent is None:  # the taxpayer cancels
            if not status.is_open:
                return False
        elif status is not Status.CLAIMED or holder != agent:
            return False
        if holder:
            self._agents.get(holder, set()).discard(conv_id)
        self._routes.pop(conv_id, None)
        if outcome is Status.QUEUED:
            first = "1" if priority else fields.get("priority", "0")
            fields.update(status=Status.QUEUED.value, agent="", priority=first)
        else:
            fields["status"] = outcome.value
        return True

    async def claimed_by(self, agent: str) -> List[str]:
        """The conversation ids ``agent`` holds, sorted."""
        return sorted(self._agents.get(agent, set()))

    async def claims(self) -> Dict[str, str]:
        """Conversation id -> agent of every claimed conversation."""
        return {cid: f["agent"] for cid, f in self._convs.items() if f["status"] == Status.CLAIMED.value}

    async def set_presence(self, agent: str, status: Presence, ttl: float) -> None:
        """Set ``agent``'s presence for ``ttl`` seconds."""
        self._presence[agent] = (Presence(status), time.monotonic() + ttl)

    async def get_presence(self, agent: str) -> Optional[Presence]:
        """``agent``'s live presence, or None."""
        entry = self._presence.get(agent)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    async def drop_presence(self, agent: str) -> None:
        """Forget ``agent``'s presence."""
        self._presence.pop(agent, None)

    async def presence(self) -> Dict[str, Presence]:
        """Agent -> presence of every live presence."""
        now = time.monotonic()
        return {a: s for a, (s, until) in self._presence.items() if until >= now}

    async def get_route(self, conv_id: str) -> Route:
        """Who answers the conversation."""
        return self._routes.get(conv_id, Route.BOT)

    async def set_route(self, conv_id: str, route: Route) -> None:
        """Set who answers the conversation."""
        if Route(route) is Route.BOT:
            self._routes.pop(conv_id, None)
        else:
            self._routes[conv_id] = Route(route)

    async def publish(self, event: Event) -> None:
        """Hand a JSON copy of ``event`` to every subscription (as Redis would)."""
        data = json.loads(json.dumps(event, default=str))
        for queue in list(self._subscribers):
            queue.put_nowait(data)

    def subscribe(self) -> MemorySubscription:
        """A subscription to the published events."""
        return MemorySubscription(self._subscribers)

    async def close(self) -> None:
        """Nothing to release."""
        return None
