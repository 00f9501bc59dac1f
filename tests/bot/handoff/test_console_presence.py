"""The console's presence rules without HTTP: a heartbeat while a console is open, the grace period after
the last one closes, the sweep that then requeues the officer's conversations, and console frames."""
from __future__ import annotations

import asyncio

from bot.handoff.model import HandoffRecord, Presence, Status


class FakeSocket:
    """A console websocket that records what it is sent."""

    def __init__(self) -> None:
        self.sent = []
        self.closed = False

    async def send_json(self, data) -> None:
        self.sent.append(data)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = True
        return True


async def _claimed(manager, conv="c1", agent="wang"):
    await manager.store.enqueue(HandoffRecord(conv, reason="requested", queued_at=1.0))
    await manager.agents.set_presence(agent, "online")
    await manager.agents.claim(conv, agent, agent.title())


async def test_an_open_console_keeps_the_presence_alive_by_heartbeat(make_manager) -> None:
    manager = make_manager(presence_ttl_seconds=0.15, heartbeat_seconds=0.03, disconnect_grace_seconds=0.1)
    async with manager.console.attached("wang", FakeSocket()):
        assert await manager.store.get_presence("wang") is Presence.ONLINE
        await asyncio.sleep(0.4)  # well past the TTL: only the heartbeat keeps it
        assert await manager.store.get_presence("wang") is Presence.ONLINE
    assert await manager.store.get_presence("wang") is Presence.ONLINE  # within the grace period
    await asyncio.sleep(0.25)
    assert await manager.store.get_presence("wang") is None
    assert "wang" not in manager.console.sockets


async def test_the_grace_starts_only_when_the_last_console_closes(make_manager) -> None:
    manager = make_manager(presence_ttl_seconds=30.0, heartbeat_seconds=10.0, disconnect_grace_seconds=0.1)
    first, second = FakeSocket(), FakeSocket()
    async with manager.console.attached("wang", first):
        async with manager.console.attached("wang", second):
            assert manager.console.sockets["wang"] == {first, second}
        await asyncio.sleep(0.25)  # one tab closed, one still open: the full TTL still holds
        assert await manager.store.get_presence("wang") is Presence.ONLINE
    await asyncio.sleep(0.25)
    assert await manager.store.get_presence("wang") is None


async def test_a_reconnecting_console_keeps_away(make_manager) -> None:
    manager = make_manager()
    await manager.agents.set_presence("wang", "away")
    async with manager.console.attached("wang", FakeSocket()):
        assert await manager.store.get_presence("wang") is Presence.AWAY


async def test_without_grace_the_conversations_are_requeued_at_once(make_manager) -> None:
    manager = make_manager(disconnect_grace_seconds=0.0)
    await _claimed(manager)
    async with manager.console.attached("wang", FakeSocket()):
        pass
    (record,) = await manager.store.waiting()
    assert record.id == "c1" and record.priority is True and record.status is Status.QUEUED
    assert manager.fakes["rasa"].calls[-1] == ("resume", "c1")
    requeued = [e for e in manager.fakes["events"].log if e[1] == "queued"]
    assert requeued[-1][3] == {"requeued": True, "priority": True, "why": "agent_disconnected"}


async def test_after_the_grace_the_sweep_requeues(make_manager) -> None:
    manager = make_manager(presence_ttl_seconds=30.0, heartbeat_seconds=10.0, disconnect_grace_seconds=0.1)
    await _claimed(manager)
    async with manager.console.attached("wang", FakeSocket()):
        pass
    assert await manager.agents.sweep() == 0  # still within the grace: a reload would keep the conversation
    assert await manager.store.claims() == {"c1": "wang"}
    await asyncio.sleep(0.2)
    assert await manager.agents.sweep() == 1
    assert await manager.store.claims() == {} and [r.id for r in await manager.store.waiting()] == ["c1"]


async def test_console_frames(make_manager) -> None:
    manager = make_manager()
    console = manager.console
    async with console.attached("wang", FakeSocket()):
        assert await console.receive("wang", '{"type": "presence", "status": "away"}') is None
        assert await manager.store.get_presence("wang") is Presence.AWAY
        for ignored in ('{"type": "presence", "status": "busy"}', "not json", "[1, 2]", '{"type": "other"}'):
            assert await console.receive("wang", ignored) is None
        assert await manager.store.get_presence("wang") is Presence.AWAY
        snapshot = await console.receive("wang", '{"type": "snapshot"}')
        assert snapshot["type"] == "snapshot" and snapshot["presence"] == "away"
        assert snapshot["agents"] == {"wang": "away"}


async def test_consoles_get_their_own_updates_and_close_at_shutdown(make_manager) -> None:
    manager = make_manager()
    wang, li = FakeSocket(), FakeSocket()
    async with manager.console.attached("wang", wang), manager.console.attached("li", li):
        await manager.fanout.dispatch({"type": "to_agent", "agent": "wang", "conversation_id": "c1",
                                       "message": {"sender": "taxpayer", "text": "hi"}})
        assert wang.sent[-1] == {"type": "conversation", "conversation_id": "c1",
                                 "message": {"sender": "taxpayer", "text": "hi"}, "closed": None}
        assert all(m.get("type") != "conversation" for m in li.sent)
        await manager.store.enqueue(HandoffRecord("c2", reason="requested", queued_at=1.0))
        await manager.fanout.dispatch({"type": "queue_changed"})
        for ws in (wang, li):
            snapshot = ws.sent[-1]
            assert snapshot["type"] == "snapshot" and [w["conversation_id"] for w in snapshot["waiting"]] == ["c2"]
        await manager.console.close_all()
        assert wang.closed and li.closed
