"""The handoff's vocabulary: statuses, claim results, the stored record and the domain error.

The string values are the wire format: they are stored in Redis hashes, published on the fan-out
channel and sent in the API's JSON, so they never change.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, TypedDict

from bot.errors import DomainError, ErrorKind

#: A JSON event on the store's fan-out channel (``{"type": EventType, ...}``).
Event = Dict[str, Any]


class Status(str, enum.Enum):
    """Where a conversation's handoff stands."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    RETURNED = "returned"  # an officer handed it back to the bot
    RESOLVED = "resolved"  # an officer closed it as answered
    ABANDONED = "abandoned"  # the taxpayer cancelled while waiting or talking

    @property
    def is_open(self) -> bool:
        """Whether the handoff still waits for or holds an officer."""
        return self in (Status.QUEUED, Status.CLAIMED)


class Presence(str, enum.Enum):
    """An officer's availability, shown in the console and needed to claim."""

    ONLINE = "online"
    AWAY = "away"


class ClaimResult(str, enum.Enum):
    """The outcome of an officer's claim on a queued conversation."""

    CLAIMED = "claimed"
    TAKEN = "taken"  # another officer holds it
    NOT_WAITING = "not_waiting"  # closed, cancelled or never queued
    CAPACITY = "capacity"  # the officer already holds their maximum


class EventType(str, enum.Enum):
    """The kinds of events fanned out to every gateway instance."""

    TO_TAXPAYER = "to_taxpayer"
    TO_AGENT = "to_agent"
    QUEUE_CHANGED = "queue_changed"
    TICKETS_CHANGED = "tickets_changed"


class SummaryItem(TypedDict):
    """One of the bot's last answers as the console shows it next to a waiting conversation."""

    sender: str
    text: Optional[str]
    kind: Optional[str]
    confidence: Optional[float]
    article_id: Optional[str]
    title: Optional[str]


@dataclass(frozen=True)
class HandoffRecord:
    """A conversation's handoff as the store keeps it (one Redis hash ``{prefix}conv:{id}``)."""

    id: str
    status: Status = Status.QUEUED
    reason: Optional[str] = None
    topic: Optional[str] = None
    language: Optional[str] = None
    channel: Optional[str] = None
    requested_at: Optional[float] = None
    queued_at: Optional[float] = None
    claimed_at: Optional[float] = None
    agent: Optional[str] = None
    priority: bool = False
    summary: List[SummaryItem] = field(default_factory=list)


class HandoffState(TypedDict, total=False):
    """What the taxpayer's client may know about its handoff (``GET /conversations/{id}/handoff``)."""

    status: str
    reason: Optional[str]
    position: int
    expected_wait_seconds: int
    agent: Optional[str]


class HandoffError(DomainError):
    """A refused handoff operation; ``bot.errors.error_middleware`` answers it with ``kind``'s status."""

    @classmethod
    def invalid(cls, code: str, message: str) -> HandoffError:
        """The request's values are not acceptable."""
        return cls(ErrorKind.INVALID, code, message)

    @classmethod
    def conflict(cls, code: str, message: str) -> HandoffError:
        """The conversation or officer is not in a state that allows the operation."""
        return cls(ErrorKind.CONFLICT, code, message)

    @classmethod
    def not_found(cls, code: str, message: str) -> HandoffError:
        """There is no such handoff."""
        return cls(ErrorKind.NOT_FOUND, code, message)

    @classmethod
    def forbidden(cls, code: str, message: str) -> HandoffError:
        """Another officer's conversation."""
        return cls(ErrorKind.FORBIDDEN, code, message)
