"""Rasa down or slow: the taxpayer gets an apology within 5 s; recovery is automatic."""
import time

import pytest

from bot.app import create_app
from bot.service import APOLOGY_KIND, APOLOGY_TEXT, apology
from knowledge import catalogue

pytestmark = pytest.mark.asyncio

URL = "/webhooks/rest/webhook"


async def _ask(client, text: str = "echo:hello"):
    started = time.monotonic()
    resp = await client.post(URL, json={"sender": "r1", "message": text})
    return resp.status, await resp.json(), time.monotonic() - started


async def test_rasa_down_then_back(client, fake_rasa) -> None:
    await fake_rasa.stop()
    status, body, took = await _ask(client)
    assert status == 200 and took < 5
    assert body == [apology(body[0]["recipient_id"], "en")]
    assert body[0]["text"] == catalogue.text("apology", "en") and "12366" in body[0]["text"]
    _, body, _ = await _ask(client, "个税起征点是多少")
    assert body[0]["text"] == catalogue.text("apology", "zh") and body[0]["custom"]["language"] == "zh"
    _, body, _ = await _ask(client, "12000")
    assert body[0]["text"] == APOLOGY_TEXT, "no clear language and no preference: both languages"
    health = await client.get("/health")
    assert health.status == 503
    # the gateway keeps serving other routes
    assert (await client.get("/openapi.yaml")).status == 200

    await fake_rasa.start()
    status, body, _ = await _ask(client)
    assert [m["text"] for m in body] == ["hello"]
    assert (await client.get("/health")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'taxguide_errors_total{kind="rasa_unreachable"} 3.0' in metrics


async def test_rasa_slow_with_default_timeouts(aiohttp_client, make_settings, fake_rasa) -> None:
    client = await aiohttp_client(create_app(make_settings(reply_timeout=4.0, connect_timeout=1.0)))
    fake_rasa.delay = 8
    status, body, took = await _ask(client)
    assert status == 200 and took < 5
    assert body[0]["custom"]["kind"] == APOLOGY_KIND
    fake_rasa.delay = 0
    _, body, took = await _ask(client)
    assert [m["text"] for m in body] == ["hello"] and took < 1


async def test_rasa_error_status(client, fake_rasa) -> None:
    fake_rasa.status = 500
    _, body, _ = await _ask(client)
    assert body[0]["text"] == catalogue.text("apology", "en")
    fake_rasa.status = 200
    _, body, _ = await _ask(client)
    assert body[0]["text"] == "hello"


async def test_rasa_bad_reply(client, fake_rasa) -> None:
    fake_rasa.reply = lambda sender, message: {"not": "a list"}
    _, body, _ = await _ask(client)
    assert body[0]["custom"]["kind"] == APOLOGY_KIND


async def test_apology_is_recorded(client, fake_rasa) -> None:
    await fake_rasa.stop()
    sid = (await (await client.post("/sessions")).json())["session_id"]
    await client.post(URL, json={"sender": sid, "message": "在吗"})
    auth = {"Authorization": f"Bearer {sid}"}
    history = await (await client.get(f"/conversations/{sid}/history", headers=auth)).json()
    assert [m["sender"] for m in history] == ["taxpayer", "bot"]
    assert history[1]["kind"] == APOLOGY_KIND


async def test_an_empty_rasa_reply_becomes_an_apology(client, fake_rasa) -> None:
    """Rasa answers 200 with nothing when a custom action or its lock store fails: the taxpayer is told."""
    fake_rasa.reply = lambda sender, text: []
    status, body, _ = await _ask(client, "个税起征点是多少")
    assert status == 200
    assert [m["custom"]["kind"] for m in body] == [APOLOGY_KIND]
    assert body[0]["text"] == catalogue.text("apology", "zh")
    assert 'kind="rasa_empty"' in await (await client.get("/metrics")).text()
