"""Per-sender and per-IP rate limits, in process and through real Redis."""
import uuid

import pytest
import redis.asyncio as aioredis

from bot.app import create_app

pytestmark = pytest.mark.asyncio

URL = "/webhooks/rest/webhook"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def _post(client, sender: str, **kw):
    return await client.post(URL, json={"sender": sender, "message": "echo:hi"}, **kw)


async def test_sender_limit_returns_429_with_retry_after(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(sender_burst=3, sender_per_minute=6)))
    statuses = [(await _post(client, "alice")).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    resp = await _post(client, "alice")
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "10"
    assert (await resp.json())["error"]["code"] == "rate_limited"
    assert (await _post(client, "bob")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'taxguide_errors_total{kind="rate_limited"} 1.0' in metrics


async def test_ip_limit_covers_all_senders(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(ip_burst=2, ip_per_minute=1)))
    assert (await _post(client, "a")).status == 200
    assert (await _post(client, "b")).status == 200
    resp = await _post(client, "c")
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1


async def test_forwarded_for_only_behind_trusted_proxy(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(ip_burst=1, ip_per_minute=1, trust_proxy=True)))
    assert (await _post(client, "a", headers={"X-Forwarded-For": "203.0.113.1"})).status == 200
    assert (await _post(client, "b", headers={"X-Forwarded-For": "203.0.113.2"})).status == 200
    assert (await _post(client, "c", headers={"X-Forwarded-For": "203.0.113.1"})).status == 429


async def test_redis_limit_is_shared_between_gateways(aiohttp_client, make_settings, require_service) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings = make_settings(redis_url=REDIS_URL, sender_burst=2, sender_per_minute=1)
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    sender = f"redis-{uuid.uuid4().hex}"
    try:
        assert (await _post(first, sender)).status == 200
        assert (await _post(second, sender)).status == 200
        resp = await _post(first, sender)
        assert resp.status == 429 and resp.headers["Retry-After"] == "60"
        resp = await _post(second, sender)
        assert resp.status == 429
        health = await (await first.get("/health")).json()
        assert health["checks"]["redis"] == {"status": "ok"}
    finally:
        redis = aioredis.from_url(REDIS_URL)
        await redis.delete(f"taxguide:rl:sender:{sender}")
        await redis.close(close_connection_pool=True)
