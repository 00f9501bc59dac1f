"""/wechat over HTTP: server URL verification, plain and safe mode, events, and every refusal
(4xx, logged, nothing stored)."""
from __future__ import annotations

import logging
import time

import pytest

from bot.app import create_app
from knowledge import catalogue

OPENID = "oUser_plain_0123456789abcdefgh"


async def test_route_exists_only_when_configured(aiohttp_client, make_settings, monkeypatch) -> None:
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    monkeypatch.delenv("WECHAT_APP_ID", raising=False)
    client = await aiohttp_client(create_app(make_settings()))
    assert (await client.get("/wechat")).status == 404
    monkeypatch.setenv("WECHAT_TOKEN", "only-a-token")
    client = await aiohttp_client(create_app(make_settings()))
    assert (await client.post("/wechat", data=b"<xml/>")).status == 404


async def test_server_url_verification(aiohttp_client, wechat_app, sim) -> None:
    client = await aiohttp_client(wechat_app())
    resp = await client.get("/wechat", params={**sim.query(), "echostr": "4075181314397890557"})
    assert resp.status == 200 and await resp.text() == "4075181314397890557"
    bad = {**sim.query(token="wrong-token"), "echostr": "4075181314397890557"}
    resp = await client.get("/wechat", params=bad)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_signature"
    resp = await client.get("/wechat", params={**sim.query(timestamp=int(time.time()) - 3600), "echostr": "1"})
    assert resp.status == 403
    assert (await client.get("/wechat", params=sim.query())).status == 400  # no echostr


@pytest.mark.parametrize("safe", [False, True])
async def test_a_text_message_is_answered_passively(aiohttp_client, wechat_app, sim, fake_rasa, wx_helpers,
                                                     safe) -> None:
    app = wechat_app(safe=safe)
    client = await aiohttp_client(app)
    req = sim.request(sim.text_xml(OPENID, "年度汇算怎么办？", sim.next_msg_id()), OPENID, safe=safe)
    resp = await client.post("/wechat", **req)
    assert resp.status == 200, await resp.text()
    reply = sim.reply(await resp.text(), safe=safe)
    assert reply["ToUserName"] == OPENID and reply["MsgType"] == "text"
    assert reply["Content"].startswith("关于“年度汇算怎么办？”：请在个税App办理年度汇算。")
    assert reply["Content"].endswith("1. 是\n2. 否\n回复 1 或 2")
    conv = wx_helpers["conversation_of"](OPENID)
    assert fake_rasa.received[-1] == {"sender": conv, "message": "年度汇算怎么办？", "metadata": {"language": "zh"},
                                      "input_channel": "wechat"}
    rows = await wx_helpers["transcript"](app)
    assert [(r["conversation_id"], r["sender_type"], r["channel"]) for r in rows] == [
        (conv, "taxpayer", "wechat"), (conv, "bot", "wechat")]


async def test_events_and_media(aiohttp_client, wechat_app, sim, fake_rasa, wx_helpers) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    resp = await client.post("/wechat", **sim.request(sim.event_xml(OPENID, "subscribe"), OPENID))
    assert sim.reply(await resp.text())["Content"] == catalogue.text("wechat.welcome", "zh")
    for kind in ("voice", "image", "location", "video", "link"):
        resp = await client.post("/wechat", **sim.request(sim.media_xml(OPENID, kind, sim.next_msg_id()), OPENID))
        assert sim.reply(await resp.text())["Content"] == catalogue.text("wechat.text_only", "zh"), kind
    resp = await client.post("/wechat", **sim.request(sim.event_xml(OPENID, "unsubscribe"), OPENID))
    assert resp.status == 200 and await resp.text() == "success"
    assert fake_rasa.received == [] and await wx_helpers["transcript"](app) == []


def _tamper(req, **params):
    return {"params": {**req["params"], **params}, "data": req["data"]}


async def test_refusals_store_nothing(aiohttp_client, wechat_app, sim, fake_rasa, wx_helpers, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="bot.wechat.views")
    app = wechat_app()
    client = await aiohttp_client(app)
    good = sim.text_xml(OPENID, "年度汇算怎么办？", "1001")
    doctype = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
               f"<xml><ToUserName>{'x'}</ToUserName><Encrypt>&xxe;</Encrypt></xml>")
    entity_inner = sim.request('<!DOCTYPE a [<!ENTITY b "c">]>' + good, OPENID)
    other_app = sim.request(good, OPENID, app_id="wx_someone_else")  # correctly signed, for another account
    malformed = sim.request(good, OPENID)
    malformed_inner = sim.request("<xml><FromUserName>unclosed", OPENID)
    cases = {
        "bad_signature": (sim.request(good, OPENID, token="not-the-token"), 403),
        "bad_msg_signature": (_tamper(sim.request(good, OPENID), msg_signature="0" * 40), 403),
        "stale_timestamp": (sim.request(good, OPENID, timestamp=int(time.time()) - 301), 403),
        "future_timestamp": (sim.request(good, OPENID, timestamp=int(time.time()) + 400), 403),
        "doctype_outer": ({"params": sim.query(OPENID, encrypted="&xxe;"), "data": doctype.encode()}, 400),
        "doctype_inner": (entity_inner, 400),
        "oversized": ({"params": sim.query(OPENID, encrypted="x"),
                       "data": b"<xml>" + b"a" * (70 * 1024) + b"</xml>"}, 413),
        "malformed": ({"params": malformed["params"], "data": malformed["data"][:-7]}, 400),
        "malformed_inner": (malformed_inner, 400),
        "wrong_app_id": (other_app, 403),
        "plain_in_safe_mode": (sim.request(good, OPENID, safe=False), 400),
        "no_params": ({"params": {}, "data": malformed["data"]}, 400),
    }
    for name, (req, status) in cases.items():
        resp = await client.post("/wechat", **req)
        assert resp.status == status, (name, resp.status, await resp.text())
        assert "error" in await resp.json()
    assert fake_rasa.received == [] and await wx_helpers["transcript"](app) == []
    refused = [r for r in caplog.records if r.name == "bot.wechat.views" and "refused" in r.getMessage()]
    assert len(refused) == len(cases)
    assert all(OPENID not in r.getMessage() for r in caplog.records)
    # the same message, correctly signed, is accepted
    resp = await client.post("/wechat", **sim.request(good, OPENID))
    assert resp.status == 200 and sim.reply(await resp.text())["Content"]


async def test_plain_mode_refusals(aiohttp_client, wechat_app, sim, wx_helpers) -> None:
    app = wechat_app(safe=False)
    client = await aiohttp_client(app)
    good = sim.text_xml(OPENID, "hello", "2001")
    assert (await client.post("/wechat", **sim.request(good, OPENID, safe=False, token="x"))).status == 403
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            "<xml><Content>&lol2;</Content></xml>")
    assert (await client.post("/wechat", params=sim.query(OPENID), data=bomb.encode())).status == 400
    no_sender = b"<xml><MsgType>text</MsgType></xml>"
    assert (await client.post("/wechat", params=sim.query(OPENID), data=no_sender)).status == 400
    assert await wx_helpers["transcript"](app) == []
    resp = await client.post("/wechat", **sim.request(good, OPENID, safe=False))
    assert resp.status == 200 and sim.reply(await resp.text(), safe=False)["Content"]
