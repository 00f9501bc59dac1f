"""Fixtures of the handoff tests: a Redis key prefix of its own, both stores, and a manager over fakes."""
from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

import pytest
import pytest_asyncio

from bot.handoff.manager import HandoffManager
from bot.handoff.policy import HandoffPolicy
from bot.handoff.store import MemoryHandoffStore, RedisHandoffStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def _new_prefix() -> str:
    return f"taxguide-test:{uuid.uuid4().hex}:"


@pytest_asyncio.fixture
async def redis_prefix(require_service):
    """A unique key prefix on the local Redis, deleted afterwards (skipped, or failed under CI, without Redis)."""
    require_service("Redis", "127.0.0.1", 6379)
    name = _new_prefix()
    yield name
    store = RedisHandoffStore(REDIS_URL, name)
    await store.delete_all()
    await store.close()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def any_store(request, require_service):
    """Each store implementation in turn, empty."""
    if request.param == "memory":
        yield MemoryHandoffStore()
        return
    require_service("Redis", "127.0.0.1", 6379)
    store = RedisHandoffStore(REDIS_URL, _new_prefix())
    yield store
    await store.delete_all()
    await store.close()


class FakeEvents:
    """The handoff repository's writes, kept in lists."""

    def __init__(self) -> None:
        self.log: List[Tuple[str, str, Optional[str], Optional[Dict[str, Any]]]] = []
        self.routes: Dict[str, str] = {}
        self.tickets: List[Dict[str, Any]] = []

    async def add_event(self, conv_id, event_type, agent=None, reason=None, data=None) -> None:
        self.log.append((conv_id, event_type, agent, data))

    async def set_route(self, conv_id: str, route: str) -> None:
        self.routes[conv_id] = route

    async def close_ticket(self, ticket_id: int, agent: str) -> bool:
        return False

    async def display_name(self, username: str) -> Optional[str]:
        return username.title()

    async def events(self, conversation_id=None, event_type=None) -> List[Dict[str, Any]]:
        return [{"conversation_id": c, "type": t, "agent": a, "data": d, "time": None, "reason": None}
                for c, t, a, d in self.log
                if conversation_id in (None, c) and event_type in (None, t)]

    async def counts(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for _, event_type, _, _ in self.log:
            counts[event_type] = counts.get(event_type, 0) + 1
        return counts


class FakeTranscripts:
    """A transcript repository in a list."""

    def __init__(self) -> None:
        self.entries: List[Any] = []

    async def add(self, entries) -> None:
        self.entries.extend(entries)

    async def history(self, conv_id: str, limit: int) -> List[Dict[str, Any]]:
        return []


class FakeRasa:
    """Rasa's pause/resume calls, recorded."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, str]] = []

    async def pause(self, conv_id: str) -> bool:
        self.calls.append(("pause", conv_id))
        return True

    async def resume(self, conv_id: str) -> bool:
        self.calls.append(("resume", conv_id))
        return True


@pytest.fixture
def make_manager():
    """``make_manager(store=None, **policy_overrides)``: a manager over fakes (``manager.fakes`` holds them)."""

    def make(store=None, **overrides) -> HandoffManager:
        policy = replace(HandoffPolicy(), always_open=True, **overrides)
        events, transcripts, rasa = FakeEvents(), FakeTranscripts(), FakeRasa()
        errors: List[str] = []
        manager = HandoffManager(store or MemoryHandoffStore(), policy, events, transcripts, rasa, errors.append)
        manager.fakes = {"events": events, "transcripts": transcripts, "rasa": rasa, "errors": errors}
        return manager

    return make
