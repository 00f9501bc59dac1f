"""/health and /metrics."""
import pytest

from bot.app import create_app

pytestmark = pytest.mark.asyncio


async def test_health_ok(client) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    assert await resp.json() == {
        "status": "ok",
        "checks": {
            "rasa": {"status": "ok"},
            "action_server": {"status": "ok"},
            "database": {"status": "ok"},
            "redis": {"status": "not_configured"},
        },
    }


async def test_health_503_when_rasa_down(client, fake_rasa) -> None:
    await fake_rasa.stop()
    resp = await client.get("/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "down"
    assert body["checks"]["rasa"]["status"] == "down"
    assert body["checks"]["action_server"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


async def test_health_503_when_slow(aiohttp_client, make_settings, fake_rasa) -> None:
    client = await aiohttp_client(create_app(make_settings(health_timeout=0.3)))
    fake_rasa.delay = 2
    resp = await client.get("/health")
    assert resp.status == 503
    rasa = (await resp.json())["checks"]["rasa"]
    assert (rasa["status"], rasa["error"]) == ("down", "timeout")


async def test_health_names_a_down_worker_and_stays_up_while_another_serves(aiohttp_client, make_settings,
                                                                            fake_rasa) -> None:
    """One dead worker of several: its conversations fail over, so the gateway stays ready and says which."""
    settings = make_settings()
    dead = "http://127.0.0.1:9"
    client = await aiohttp_client(create_app(make_settings(rasa_urls=(settings.rasa_url, dead))))
    resp = await client.get("/health")
    rasa = (await resp.json())["checks"]["rasa"]
    assert resp.status == 200 and rasa["status"] == "degraded"
    assert rasa["workers"][dead]["status"] == "down" and rasa["workers"][settings.rasa_url]["status"] == "ok"
    every_worker_down = await aiohttp_client(create_app(make_settings(rasa_urls=(dead, "http://127.0.0.1:7"))))
    assert (await every_worker_down.get("/health")).status == 503


async def test_health_503_when_action_server_down(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(action_server_url="http://127.0.0.1:9")))
    resp = await client.get("/health")
    body = await resp.json()
    assert resp.status == 503 and body["checks"]["action_server"]["status"] == "down"
    assert body["checks"]["rasa"]["status"] == "ok"


async def test_health_503_when_redis_configured_but_down(aiohttp_client, make_settings) -> None:
    client = await aiohttp_client(create_app(make_settings(redis_url="redis://127.0.0.1:9/0")))
    resp = await client.get("/health")
    assert resp.status == 503 and (await resp.json())["checks"]["redis"]["status"] == "down"
    # rate limiting fails open: messages still flow
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "x", "message": "echo:ok"})
    assert resp.status == 200


async def test_health_with_real_redis(aiohttp_client, make_settings, require_service) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    client = await aiohttp_client(create_app(make_settings(redis_url="redis://127.0.0.1:6379/0")))
    resp = await client.get("/health")
    assert resp.status == 200 and (await resp.json())["checks"]["redis"] == {"status": "ok"}


async def test_metrics(client) -> None:
    await client.post("/webhooks/rest/webhook", json={"sender": "m1", "message": "个税"})
    await client.post("/webhooks/rest/webhook", json={"sender": "m1", "message": ""})
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert 'taxguide_messages_total{channel="rest",sender_type="taxpayer"} 1.0' in text
    assert 'taxguide_messages_total{channel="rest",sender_type="bot"} 1.0' in text
    assert 'taxguide_reply_latency_seconds_count{channel="rest"} 1.0' in text
    assert 'taxguide_errors_total{kind="empty_message"} 1.0' in text
    assert "taxguide_socket_sessions_open 0.0" in text
