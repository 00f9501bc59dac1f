"""The officers' sweep across gateway instances: each expired claim is requeued by exactly one instance."""
from __future__ import annotations

import asyncio

from bot.handoff.model import HandoffRecord
from bot.handoff.store import RedisHandoffStore

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_two_instances_sweeping_at_once_requeue_each_claim_once(make_manager, redis_prefix) -> None:
    stores = [RedisHandoffStore(REDIS_URL, redis_prefix) for _ in range(2)]
    a, b = make_manager(stores[0]), make_manager(stores[1])
    try:
        await a.agents.set_presence("wang", "online")
        conversations = [f"c{i}" for i in range(3)]
        for index, conv in enumerate(conversations):
            await a.store.enqueue(HandoffRecord(conv, reason="requested", language="en", queued_at=1.0 + index))
            await a.agents.claim(conv, "wang", "Wang")
        await stores[0].drop_presence("wang")  # the officer's presence expired
        moved = await asyncio.gather(*(m.agents.sweep() for m in (a, b, a, b)))
        assert sum(moved) == len(conversations), "each expired claim is requeued by exactly one sweep"
        requeued = [conv for m in (a, b) for conv, kind, _, data in m.fakes["events"].log
                    if kind == "queued" and (data or {}).get("requeued")]
        assert sorted(requeued) == conversations
        assert sorted(r.id for r in await stores[1].waiting()) == conversations
    finally:
        for store in stores:
            await store.close()
