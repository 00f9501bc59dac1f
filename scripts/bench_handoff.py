"""Time from a taxpayer's request for a person to the conversation appearing in an agent console.

Runs the real gateway (in process) against a fake Rasa that answers every message with the handoff
payload, signs an agent in, opens the console websocket, then sends ~50 requests (one conversation each)
through the REST channel and measures until the console's live snapshot lists the conversation.

    .venv/bin/python scripts/bench_handoff.py [-n 50] [--redis redis://127.0.0.1:6379/0]
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


from aiohttp import ClientSession, web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402


def fake_rasa() -> web.Application:
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


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(n: int, redis_url: str | None) -> None:
    from bot.app import create_app
    from bot.db.handoff_repository import HandoffRepository
    from bot.handoff.auth import hash_password
    from bot.handoff.policy import load_policy
    from bot.keys import ENGINE
    from bot.settings import Settings

    rasa = TestServer(fake_rasa())
    await rasa.start_server()
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(rasa_url=str(rasa.make_url("")).rstrip("/"), action_server_url="http://127.0.0.1:9",
                        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}", redis_url=redis_url,
                        session_key="bench", bcrypt_rounds=4, sender_burst=10_000, ip_burst=10_000,
                        ip_per_minute=1e6, handoff_redis_prefix=f"taxguide-bench:{uuid.uuid4().hex}:", log_level="WARNING")
    policy = replace(load_policy(), always_open=True, capacity_per_agent=1000, max_waiting=100_000)
    app = create_app(settings, handoff_policy=policy)
    client = TestClient(TestServer(app))
    await client.start_server()
    await HandoffRepository(app[ENGINE]).create_account("bench", hash_password("bench-password", 4), "agent")
    login = await (await client.post("/agent/api/login", json={"username": "bench", "password": "bench-password"})).json()
    ws = await client.ws_connect("/agent/ws")
    await ws.receive_json()
    samples = []
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
    if redis_url:
        await app[__import__("bot.keys", fromlist=["HANDOFF_STORE"]).HANDOFF_STORE].delete_all()
    await client.close()
    await rasa.close()
    store = "redis" if redis_url else "memory"
    print(f"handoff request -> console ({store} store, {n} requests): p50 {pct(samples, .5):.1f} ms, "
          f"p95 {pct(samples, .95):.1f} ms, max {max(samples):.1f} ms, mean {statistics.mean(samples):.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--redis", default=None, help="use the Redis store at this URL")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.redis))
