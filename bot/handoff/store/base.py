"""The shared-state interface of the handoff, its record codec and the one queue-order formula."""
from __future__ import annotations

import json
import time
from typing import Dict, List, Mapping, Optional, Protocol, Tuple, Union, cast

from bot.handoff.model import ClaimResult, Event, HandoffRecord, Presence, Status, SummaryItem
from bot.routing import Route

#: Subtracted from a priority conversation's score: ahead of any queued time (1e13 ms is year 2286).
PRIORITY_BOOST_MS = 1e13

_TIMES = ("requested_at", "queued_at", "claimed_at")


def now_ts() -> float:
    """The current UNIX time, the store's clock for queued_at and claimed_at."""
    return time.time()


def queue_score(queued_at: float, priority: bool) -> float:
    """Queue order, lowest first: priority requeues ahead of everyone, then by queued time."""
    return queued_at * 1000.0 - (PRIORITY_BOOST_MS if priority else 0.0)


def encode(record: HandoffRecord) -> Dict[str, str]:
    """The Redis hash fields of ``record`` (None as "", booleans as "1"/"0", summary as JSON)."""
    fields: Dict[str, str] = {
        "id": record.id,
        "status": record.status.value,
        "reason": record.reason or "",
        "topic": record.topic or "",
        "language": record.language or "",
        "channel": record.channel or "",
        "agent": record.agent or "",
        "priority": "1" if record.priority else "0",
        "summary": json.dumps(record.summary, ensure_ascii=False),
    }
    times = {"requested_at": record.requested_at, "queued_at": record.queued_at, "claimed_at": record.claimed_at}
    fields.update({name: str(value) for name, value in times.items() if value is not None})
    return fields


def _text(value: Union[bytes, str]) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode(raw: Union[Mapping[str, str], Mapping[bytes, bytes]]) -> HandoffRecord:
    """The record of a hash as ``encode`` wrote it (empty times and agent are None; other texts stay as stored)."""
    fields: Dict[str, str] = {_text(k): _text(v) for k, v in raw.items()}
    times = {name: float(fields[name]) if fields.get(name) else None for name in _TIMES}
    summary = json.loads(fields["summary"]) if fields.get("summary") else []
    return HandoffRecord(
        id=fields["id"],
        status=Status(fields["status"]),
        reason=fields.get("reason"),
        topic=fields.get("topic"),
        language=fields.get("language"),
        channel=fields.get("channel"),
        requested_at=times["requested_at"],
        queued_at=times["queued_at"],
        claimed_at=times["claimed_at"],
        agent=fields.get("agent") or None,
        priority=fields.get("priority") == "1",
        summary=cast(List[SummaryItem], summary),
    )


class Subscription(Protocol):
    """``async with store.subscribe() as sub: event = await sub.get()`` (subscribed on enter)."""

    async def __aenter__(self) -> Subscription: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def get(self) -> Event:
        """The next event published by any instance."""
        ...


class HandoffStore(Protocol):
    """Queue, claims, presence, routes and fan-out, shared by every gateway instance (or one process)."""

    async def enqueue(self, record: HandoffRecord) -> Tuple[bool, HandoffRecord]:
        """Queue ``record`` unless its conversation is queued or claimed; returns (created, current record)."""
        ...

    async def get(self, conv_id: str) -> Optional[HandoffRecord]:
        """The conversation's record, or None when it was never handed off (or expired)."""
        ...

    async def waiting(self) -> List[HandoffRecord]:
        """Queued conversations in ``queue_score`` order: priority first, then oldest first."""
        ...

    async def position(self, conv_id: str) -> Optional[int]:
        """1-based queue position, or None when not waiting."""
        ...

    async def claim(self, conv_id: str, agent: str, capacity: int) -> ClaimResult:
        """Give a queued conversation to ``agent`` unless taken or the agent holds ``capacity`` (0: no limit)."""
        ...

    async def release(self, conv_id: str, agent: Optional[str], outcome: Status, priority: bool = False) -> bool:
        """End ``agent``'s claim (outcome returned, resolved, or queued to requeue), or abandon (agent None).

        Returns False when the conversation is not in a state that allows it.
        """
        ...

    async def claimed_by(self, agent: str) -> List[str]:
        """The conversation ids ``agent`` holds, sorted."""
        ...

    async def claims(self) -> Dict[str, str]:
        """Conversation id -> agent of every claimed conversation."""
        ...

    async def set_presence(self, agent: str, status: Presence, ttl: float) -> None:
        """Set ``agent``'s presence for ``ttl`` seconds (a heartbeat renews it)."""
        ...

    async def get_presence(self, agent: str) -> Optional[Presence]:
        """``agent``'s live presence, or None when it expired or was dropped."""
        ...

    async def drop_presence(self, agent: str) -> None:
        """Forget ``agent``'s presence at once (sign-out)."""
        ...

    async def presence(self) -> Dict[str, Presence]:
        """Agent -> presence of every agent with a live presence."""
        ...

    async def get_route(self, conv_id: str) -> Route:
        """Who answers the conversation (the bot unless an agent holds it)."""
        ...

    async def set_route(self, conv_id: str, route: Route) -> None:
        """Set who answers the conversation."""
        ...

    async def publish(self, event: Event) -> None:
        """Send ``event`` to every instance's subscription (this one included)."""
        ...

    def subscribe(self) -> Subscription:
        """A subscription to the published events."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...
