"""The handoff stores: the in-process one, the queue order both keep (one score formula), the hash codec."""
from __future__ import annotations

import json

import pytest

from bot.handoff.model import ClaimResult, HandoffRecord, Presence, Status
from bot.handoff.store import MemoryHandoffStore, queue_score
from bot.handoff.store.base import decode, encode
from bot.handoff.store.redis import lua
from bot.routing import Route


async def test_memory_store_queue_claim_release() -> None:
    store = MemoryHandoffStore()
    assert (await store.enqueue(HandoffRecord("a", reason="requested", queued_at=1.0)))[0]
    assert (await store.enqueue(HandoffRecord("b", reason="requested", queued_at=2.0)))[0]
    assert not (await store.enqueue(HandoffRecord("a", reason="requested")))[0]  # already waiting
    assert [r.id for r in await store.waiting()] == ["a", "b"]
    assert await store.position("b") == 2
    assert await store.claim("a", "wang", 1) == ClaimResult.CLAIMED
    assert await store.claim("a", "li", 1) == ClaimResult.TAKEN
    assert await store.claim("b", "wang", 1) == ClaimResult.CAPACITY
    assert await store.get_route("a") is Route.AGENT and await store.claimed_by("wang") == ["a"]
    assert not await store.release("a", "li", Status.RESOLVED)  # not li's
    assert await store.release("a", "wang", Status.QUEUED, priority=True)
    assert await store.position("a") == 1 and await store.get_route("a") is Route.BOT  # priority: first again
    assert await store.release("b", None, Status.ABANDONED)
    assert (await store.get("b")).status is Status.ABANDONED
    assert await store.claim("b", "li", 3) == ClaimResult.NOT_WAITING
    await store.set_presence("wang", Presence.ONLINE, 10)
    assert await store.presence() == {"wang": "online"}
    await store.set_presence("wang", Presence.ONLINE, 0)
    assert await store.get_presence("wang") is None


def test_queue_score_puts_priority_first_then_the_oldest() -> None:
    times = [1_700_000_000.0, 1_700_000_000.5, 1_800_000_000.0]
    plain = [queue_score(t, False) for t in times]
    first = [queue_score(t, True) for t in times]
    assert plain == sorted(plain) and first == sorted(first)  # older first within each group
    assert max(first) < min(plain)  # a requeued conversation of today is ahead of one queued a minute ago


def test_the_scripts_take_the_score_from_python() -> None:
    """The score formula lives in ``queue_score`` alone: no Lua script computes one."""
    for name in ("enqueue", "claim", "release"):
        source = lua(name)
        assert "1e13" not in source and "* 1000" not in source, name
    assert "ZADD', KEYS[2], ARGV[6]" in lua("release") and "ZADD', KEYS[2], ARGV[2]" in lua("enqueue")


async def test_both_stores_order_priority_requeues_first_then_by_queued_time(any_store) -> None:
    for conv, queued_at in (("a", 10.0), ("b", 20.0), ("c", 30.0), ("d", 40.0)):
        assert (await any_store.enqueue(HandoffRecord(conv, reason="requested", queued_at=queued_at)))[0]
    for conv in ("d", "b"):
        assert await any_store.claim(conv, "wang", 0) == ClaimResult.CLAIMED
    assert [r.id for r in await any_store.waiting()] == ["a", "c"]
    # d is requeued before b, but b was queued first: among priority conversations the older leads
    assert await any_store.release("d", "wang", Status.QUEUED, priority=True)
    assert await any_store.release("b", "wang", Status.QUEUED, priority=True)
    assert [r.id for r in await any_store.waiting()] == ["b", "d", "a", "c"]
    assert [await any_store.position(c) for c in ("b", "d", "a", "c")] == [1, 2, 3, 4]
    # a second requeue without the flag keeps the priority it had
    assert await any_store.claim("d", "li", 0) == ClaimResult.CLAIMED
    assert await any_store.release("d", "li", Status.QUEUED)
    assert [r.id for r in await any_store.waiting()] == ["b", "d", "a", "c"]
    assert [r.priority for r in await any_store.waiting()] == [True, True, False, False]


async def test_both_stores_keep_the_record(any_store) -> None:
    summary = [{"sender": "bot", "text": "年度汇算", "kind": "answer", "confidence": 0.87, "article_id": "iit",
                "title": None}]
    created, record = await any_store.enqueue(HandoffRecord(
        "r1", reason="sensitive_topic", topic="稽查", language="zh", channel="rest", requested_at=5.0, queued_at=5.5,
        summary=summary))
    assert created and record == HandoffRecord("r1", Status.QUEUED, "sensitive_topic", "稽查", "zh", "rest", 5.0, 5.5,
                                                None, None, False, summary)
    await any_store.claim("r1", "wang", 3)
    claimed = await any_store.get("r1")
    assert claimed.status is Status.CLAIMED and claimed.agent == "wang" and claimed.claimed_at is not None
    assert await any_store.claims() == {"r1": "wang"}
    assert await any_store.release("r1", "wang", Status.RESOLVED)
    assert (await any_store.get("r1")).status is Status.RESOLVED and await any_store.claims() == {}
    assert await any_store.get("never") is None


def test_the_codec_keeps_the_hash_fields() -> None:
    """The Redis hash layout is the wire format: the same fields and spellings as before the record type."""
    record = HandoffRecord("c1", Status.QUEUED, "requested", None, "en", "socketio", 1.5, 2.5, None, None, True,
                           [{"sender": "bot", "text": "t", "kind": "answer", "confidence": None, "article_id": None,
                             "title": None}])
    fields = encode(record)
    assert fields == {
        "id": "c1", "status": "queued", "reason": "requested", "topic": "", "language": "en", "channel": "socketio",
        "agent": "", "priority": "1", "requested_at": "1.5", "queued_at": "2.5",
        "summary": json.dumps(record.summary, ensure_ascii=False),
    }
    decoded = decode({k.encode(): v.encode() for k, v in fields.items()})
    assert decoded.topic == "" and decoded.agent is None and decoded.claimed_at is None
    assert decoded.priority is True and decoded.summary == record.summary and decoded.queued_at == 2.5


@pytest.mark.parametrize("raw", ["online", "away"])
async def test_presence_values(raw) -> None:
    store = MemoryHandoffStore()
    await store.set_presence("wang", Presence(raw), 5)
    assert await store.get_presence("wang") is Presence(raw)
