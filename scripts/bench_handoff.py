"""Time from a taxpayer's request for a person to the conversation appearing in an agent console.

Runs the real gateway (in process) against a fake Rasa that answers every message with the handoff
payload, signs an agent in, opens the console websocket, then sends ~50 requests (one conversation each)
through the REST channel and measures until the console's live snapshot lists the conversation.

    python -m scripts.bench_handoff [-n 50] [--redis redis://127.0.0.1:6379/0]
    make bench-handoff                   # the same with the defaults (in-memory store)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from scripts.stats import percentile


def fake_rasa() -> web.Application:
    """A Rasa REST channel that answers every message with the handoff payload."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": "I'll connect you with a tax officer.",
                                   "custom": {"kind": "handoff", "reason": "requested", "language": "en"}}])

    async def events(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{cid}/tracker/events", events)
    return app


async def bench(n: int, redis_url: Optional[str]) -> None:
    """Measure ``n`` handoff requests, one conversation each, and print the latency figures."""
    from bot.app import create_app
    from bot.db.handoff_repository import HandoffRepository
    from bot.handoff.auth import hash_password
    from bot.handoff.policy import load_policy
    from bot.handoff.store import RedisHandoffStore
    from bot.keys import ENGINE, HANDOFF_STORE
    from bot.settings import Settings

    rasa = TestServer(fake_rasa())
    await rasa.start_server()
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(rasa_url=str(rasa.make_url("")).rstrip("/"), action_server_url="http://127.0.0.1:9",
                        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}", redis_url=redis_url,
                        session_key="bench", bcrypt_rounds=4, sender_burst=10_000, ip_burst=10_000,
                        ip_per_minute=1e6, handoff_redis_prefix=f"taxguide-bench:{uuid.uuid4().hex}:",
                        log_level="WARNING")
    policy = replace(load_policy(), always_open=True, capacity_per_agent=1000, max_waiting=100_000)
    app = create_app(settings, handoff_policy=policy)
    client = TestClient(TestServer(app))
    await client.start_server()
    await HandoffRepository(app[ENGINE]).create_account("bench", hash_password("bench-password", 4), "agent")
    signed_in = await client.post("/agent/api/login", json={"username": "bench", "password": "bench-password"})
    login = await signed_in.json()
    ws = await client.ws_connect("/agent/ws")
    await ws.receive_json()
    samples: List[float] = []
    for _ in range(n):
        conv = uuid.uuid4().hex
        started = time.perf_counter()
        resp = await client.post("/webhooks/rest/webhook", json={"sender": conv, "message": "agent please"})
        await resp.read()
        while True:
            event = await ws.receive_json(timeout=10)
            if event.get("type") == "snapshot" and any(w["conversation_id"] == conv for w in event["waiting"]):
                break
        samples.append((time.perf_counter() - started) * 1000)
        # keep the queue short: claim and resolve it
        await client.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": login["csrf_token"]})
        await client.post(f"/agent/api/conversations/{conv}/close", json={"outcome": "resolved"},
                          headers={"X-CSRF-Token": login["csrf_token"]})
    await ws.close()
    store = app[HANDOFF_STORE]
    if isinstance(store, RedisHandoffStore):  # the bench's keys have their own prefix: remove them
        await store.delete_all()
    await client.close()
    await rasa.close()
    kind = "redis" if redis_url else "memory"
    print(f"handoff request -> console ({kind} store, {n} requests): p50 {percentile(samples, 50):.1f} ms, "
          f"p95 {percentile(samples, 95):.1f} ms, max {max(samples):.1f} ms, mean {statistics.mean(samples):.1f} ms")


def main() -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50, help="handoff requests to measure")
    parser.add_argument("--redis", default=None, help="use the Redis store at this URL")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("-n must be at least 1")
    asyncio.run(bench(args.n, args.redis))
    return 0


if __name__ == "__main__":
    sys.exit(main())
