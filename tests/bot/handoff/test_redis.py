"""The Redis handoff store against the real server at 127.0.0.1:6379 (unique key prefix per test), and two
gateway instances sharing one queue. Under CI=true a missing Redis fails these tests instead of skipping."""
from __future__ import annotations

import asyncio

import pytest_asyncio

from bot.handoff.model import ClaimResult, HandoffRecord, Status
from bot.handoff.store import RedisHandoffStore
from bot.keys import HANDOFF_REPO
from bot.routing import Route
from tests.bot.handoff.flows import URL, ref

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest_asyncio.fixture
async def store(redis_prefix):
    s = RedisHandoffStore(REDIS_URL, redis_prefix)
    yield s
    await s.close()


async def test_redis_queue_claim_release_presence(store) -> None:
    summary = [{"sender": "bot", "text": "x", "kind": "answer", "confidence": 0.5, "article_id": None, "title": None}]
    assert (await store.enqueue(HandoffRecord("a", reason="requested", topic="话题", summary=summary,
                                              queued_at=1.0)))[0]
    assert (await store.enqueue(HandoffRecord("b", reason="not_understood", queued_at=2.0)))[0]
    created, record = await store.enqueue(HandoffRecord("a", reason="requested"))
    assert not created and record.topic == "话题" and record.summary == summary
    assert [r.id for r in await store.waiting()] == ["a", "b"] and await store.position("b") == 2
    assert await store.claim("a", "wang", 1) == ClaimResult.CLAIMED
    assert await store.claim("a", "li", 1) == ClaimResult.TAKEN
    assert await store.claim("b", "wang", 1) == ClaimResult.CAPACITY
    assert await store.claim("zzz", "li", 1) == ClaimResult.NOT_WAITING
    assert await store.get_route("a") is Route.AGENT and await store.claims() == {"a": "wang"}
    assert not await store.release("a", "li", Status.RESOLVED)
    assert await store.release("a", "wang", Status.QUEUED, priority=True)
    assert [r.id for r in await store.waiting()] == ["a", "b"] and (await store.get("a")).priority is True
    assert await store.get_route("a") is Route.BOT and await store.claimed_by("wang") == []
    assert await store.release("b", None, Status.ABANDONED) and await store.position("b") is None
    await store.set_presence("wang", "online", 5)
    await store.set_presence("li", "away", 5)
    assert await store.presence() == {"wang": "online", "li": "away"}
    await store.drop_presence("li")
    assert await store.get_presence("li") is None


async def test_concurrent_claims_only_one_wins(store) -> None:
    await store.enqueue(HandoffRecord("c", reason="requested"))
    results = await asyncio.gather(*(store.claim("c", f"agent{i}", 3) for i in range(20)))
    assert results.count(ClaimResult.CLAIMED) == 1 and results.count(ClaimResult.TAKEN) == 19


async def test_pubsub_reaches_every_subscriber(redis_prefix) -> None:
    a, b = RedisHandoffStore(REDIS_URL, redis_prefix), RedisHandoffStore(REDIS_URL, redis_prefix)
    try:
        async with a.subscribe() as sa, b.subscribe() as sb:
            await a.publish({"type": "queue_changed", "n": 1})
            assert await asyncio.wait_for(sa.get(), 5) == {"type": "queue_changed", "n": 1}
            assert await asyncio.wait_for(sb.get(), 5) == {"type": "queue_changed", "n": 1}
    finally:
        await a.close()
        await b.close()


async def test_two_gateways_share_one_queue(aiohttp_client, make_handoff_app, handoff_helpers, redis_prefix,
                                            tmp_path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    one = make_handoff_app(redis_url=REDIS_URL, handoff_redis_prefix=redis_prefix, database_url=db)
    two = make_handoff_app(redis_url=REDIS_URL, handoff_redis_prefix=redis_prefix, database_url=db)
    c1, c2 = await aiohttp_client(one), await aiohttp_client(two)
    await handoff_helpers["add_account"](one, "wang")
    await handoff_helpers["add_account"](one, "li")
    csrf_wang = await handoff_helpers["login"](c2, "wang")  # wang's console is on instance two
    other = await aiohttp_client(c1.server)
    csrf_li = await handoff_helpers["login"](other, "li")  # li's on instance one
    for client, csrf in ((c2, csrf_wang), (other, csrf_li)):
        resp = await client.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
    ws = await c2.ws_connect("/agent/ws")
    await ws.receive_json(timeout=5)

    # the taxpayer talks to instance one; the console on instance two sees it live (pub/sub fan-out)
    replies = await (await c1.post(URL, json={"sender": "shared-1", "message": "agent please"})).json()
    assert replies[-1]["custom"]["kind"] == "handoff_queued"
    while True:
        snap = await ws.receive_json(timeout=5)
        if snap.get("type") == "snapshot" and snap["waiting"]:
            break
    shared = ref(one, "shared-1")  # the reference staff see, the same on both instances
    assert snap["waiting"][0]["conversation_id"] == shared

    # a claim on instance two is seen on instance one; the double claim there fails
    resp = await c2.post(f"/agent/api/conversations/{shared}/claim", headers={"X-CSRF-Token": csrf_wang})
    assert resp.status == 200
    resp = await other.post(f"/agent/api/conversations/{shared}/claim", headers={"X-CSRF-Token": csrf_li})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "already_claimed"
    assert (await (await other.get("/agent/api/queue")).json())["waiting"] == []
    assert (await other.get(f"/agent/api/conversations/{shared}")).status == 403

    # instance one now routes the taxpayer to the agent on instance two, and back
    await c1.post(URL, json={"sender": "shared-1", "message": "hello officer"})
    while True:
        event = await ws.receive_json(timeout=5)
        if event.get("type") == "conversation":
            break
    assert event["message"]["text"] == "hello officer"
    await c2.post(f"/agent/api/conversations/{shared}/close", json={"outcome": "bot"},
                  headers={"X-CSRF-Token": csrf_wang})
    replies = await (await c1.post(URL, json={"sender": "shared-1", "message": "echo:bot again"})).json()
    assert replies == [{"recipient_id": "shared-1", "text": "bot again"}]
    types = [e["type"] for e in await one[HANDOFF_REPO].events(shared)]
    assert types == ["requested", "queued", "claimed", "returned"]
    await ws.close()


async def test_the_queue_survives_a_gateway_restart(aiohttp_client, make_handoff_app, handoff_helpers, redis_prefix,
                                                    tmp_path) -> None:
    """Redis mode: a conversation queued on a gateway that then stops is still waiting, with its reason,
    on the gateway that starts next, and an agent there can claim it and reach the taxpayer."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    before = make_handoff_app(redis_url=REDIS_URL, handoff_redis_prefix=redis_prefix, database_url=db)
    client = await aiohttp_client(before)
    await handoff_helpers["add_account"](before, "wang")
    console = await aiohttp_client(client.server)
    csrf = await handoff_helpers["login"](console, "wang")
    resp = await console.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    for sender in ("restart-1", "restart-2"):
        replies = await (await client.post(URL, json={"sender": sender, "message": "agent please"})).json()
        assert replies[-1]["custom"]["kind"] == "handoff_queued"
    await console.close()
    await client.close()  # the first gateway shuts down: its cleanup contexts run

    after = make_handoff_app(redis_url=REDIS_URL, handoff_redis_prefix=redis_prefix, database_url=db)
    agent = await aiohttp_client(after)
    csrf = await handoff_helpers["login"](agent, "wang")
    resp = await agent.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    waiting = (await (await agent.get("/agent/api/queue")).json())["waiting"]
    restart1 = ref(after, "restart-1")
    assert [w["conversation_id"] for w in waiting] == [restart1, ref(after, "restart-2")]
    resp = await agent.post(f"/agent/api/conversations/{restart1}/claim", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    await agent.post(URL, json={"sender": "restart-1", "message": "are you there?"})
    detail = await (await agent.get(f"/agent/api/conversations/{restart1}")).json()
    assert "are you there?" in str(detail)
