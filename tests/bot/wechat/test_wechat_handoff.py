"""A whole WeChat conversation with a live agent: queue position, the agent's messages, the survey and
offline messages all reach the WeChat user through the customer-service API."""
from __future__ import annotations

import asyncio

from bot.keys import HANDOFF_REPO
from knowledge import catalogue

USER = "oUser_handoff_0123456789abcdef"
OTHER = "oUser_handoff_second_987654321"


async def _say(client, sim, text: str, openid: str = USER) -> str:
    resp = await client.post("/wechat", **sim.request(sim.text_xml(openid, text, sim.next_msg_id()), openid))
    assert resp.status == 200, await resp.text()
    body = await resp.text()
    return "success" if body == "success" else sim.reply(body)["Content"]


async def _agent(client, helpers, app, name: str = "wang") -> dict:
    await helpers["add_account"](app, name, "agent")
    csrf = await helpers["login"](client, name)
    resp = await client.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    return {"X-CSRF-Token": csrf}


async def test_full_conversation_with_an_agent(
    aiohttp_client, wechat_app, sim, fake_rasa, fake_wechat, handoff_helpers, wx_helpers
) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    csrf = await _agent(client, handoff_helpers, app)
    conv = wx_helpers["conversation_of"](USER)

    assert await _say(client, sim, "年度汇算怎么办？")
    reply = await _say(client, sim, "我要人工")
    queued = catalogue.text("handoff.queued", "zh", position=1, minutes=5)
    assert queued in reply and reply.endswith("1. 取消请求\n回复 1")

    # the console sees a WeChat conversation under its pseudonym
    (entry,) = (await (await client.get("/agent/api/queue")).json())["waiting"]
    assert entry["conversation_id"] == conv and entry["channel"] == "wechat"

    resp = await client.post(f"/agent/api/conversations/{conv}/claim", headers=csrf)
    assert resp.status == 200, await resp.text()
    assert await fake_wechat.wait_for(1, USER) == [catalogue.text("handoff.claimed", "zh", agent="Wang")]

    # taxpayer -> agent: not to Rasa, nothing answered passively
    before = len(fake_rasa.received)
    assert await _say(client, sim, "我的退税被退回了") == "success"
    assert len(fake_rasa.received) == before
    detail = await (await client.get(f"/agent/api/conversations/{conv}")).json()
    assert "我的退税被退回了" in [m["text"] for m in detail["transcript"]]

    # agent -> taxpayer through the customer-service API
    resp = await client.post(f"/agent/api/conversations/{conv}/messages",
                             json={"text": "您好，我是王丽，请问是哪一年的退税？"}, headers=csrf)
    assert resp.status == 201
    texts = await fake_wechat.wait_for(2, USER)
    assert texts[-1] == "您好，我是王丽，请问是哪一年的退税？"
    assert await _say(client, sim, "2025年的") == "success"

    # resolved: the notice and the survey ("回复 1–5") arrive; "5" is a rating
    resp = await client.post(f"/agent/api/conversations/{conv}/close", json={"outcome": "resolved"}, headers=csrf)
    assert resp.status == 200
    texts = await fake_wechat.wait_for(4, USER)
    assert texts[2] == catalogue.text("handoff.resolved", "zh")
    assert texts[3] == catalogue.text("survey.ask", "zh") + "\n回复 1–5，或回复“跳过”"
    assert await _say(client, sim, "5") == catalogue.text("survey.thanks", "zh")

    events = [e["type"] for e in await app[HANDOFF_REPO].events(conv)]
    assert events == ["requested", "queued", "claimed", "agent_message", "resolved"]
    rows = await wx_helpers["transcript"](app, conv)
    assert {r["channel"] for r in rows if r["sender_type"] == "taxpayer"} == {"wechat"}
    assert [r["text"] for r in rows if r["sender_type"] == "agent"] == ["您好，我是王丽，请问是哪一年的退税？"]
    assert USER not in await wx_helpers["database_dump"](app)
    await asyncio.sleep(0.2)
    assert len(fake_wechat.sent) == 4  # every message exactly once


async def test_queue_position_updates_and_cancel_by_number(
    aiohttp_client, wechat_app, sim, fake_wechat, handoff_helpers, wx_helpers
) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    await _agent(client, handoff_helpers, app)
    assert "1. 取消请求" in await _say(client, sim, "我要人工", USER)
    reply = await _say(client, sim, "我要人工", OTHER)
    assert catalogue.text("handoff.queued", "zh", position=2, minutes=10) in reply
    await asyncio.sleep(0.2)
    assert fake_wechat.sent == []  # the first position came with the reply
    assert await _say(client, sim, "1", USER) == catalogue.text("handoff.cancelled", "zh")
    assert await fake_wechat.wait_for(1, OTHER) == [catalogue.text("wechat.queue_position", "zh", position=1)]
    await asyncio.sleep(0.2)
    assert fake_wechat.texts(USER) == [] and len(fake_wechat.sent) == 1


async def test_offline_message_by_text(aiohttp_client, wechat_app, sim, fake_wechat, wx_helpers) -> None:
    app = wechat_app()  # no agent online: an offline message is offered
    client = await aiohttp_client(app)
    conv = wx_helpers["conversation_of"](USER)
    reply = await _say(client, sim, "我要人工")
    assert catalogue.text("handoff.offline_busy", "zh") in reply
    assert reply.endswith(catalogue.text("wechat.ticket_prompt", "zh"))
    reply = await _say(client, sim, "请帮我查退税进度，电话13812345678")
    assert reply.startswith("谢谢，您的留言已转交税务人员")
    (ticket,) = await app[HANDOFF_REPO].tickets()
    assert ticket["conversation_id"] == conv and "138****5678" in ticket["message"]
    assert ticket["contact_method"] == "chat"
    # the next message is a question again
    assert (await _say(client, sim, "年度汇算怎么办？")).startswith("关于“年度汇算怎么办？”")
    # replying 0 instead of a message leaves none
    await _say(client, sim, "我要人工")
    assert await _say(client, sim, "0") == catalogue.text("wechat.ticket_dropped", "zh")
    assert len(await app[HANDOFF_REPO].tickets()) == 1


async def test_two_instances_send_each_message_once(
    aiohttp_client, wechat_app, sim, fake_wechat, handoff_helpers, wx_helpers, require_service
) -> None:
    """With Redis, every instance receives the handoff fan-out; only one sends each WeChat message."""
    require_service("Redis", "127.0.0.1", 6379)
    import uuid

    from bot.handoff.store import RedisHandoffStore

    url = "redis://127.0.0.1:6379/0"
    prefix = f"taxguide-test:{uuid.uuid4().hex}:"
    env = {"WECHAT_REDIS_PREFIX": prefix + "wechat:"}
    one = wechat_app(env=env, redis_url=url, handoff_redis_prefix=prefix)
    two = wechat_app(env=env, redis_url=url, handoff_redis_prefix=prefix)
    try:
        c1, c2 = await aiohttp_client(one), await aiohttp_client(two)
        csrf = await _agent(c2, handoff_helpers, two)  # the agent's console is on instance two
        assert "1. 取消请求" in await _say(c1, sim, "我要人工", USER)  # the users talk to instance one
        assert "1. 取消请求" in await _say(c1, sim, "我要人工", OTHER)
        assert await _say(c1, sim, "1", USER) == catalogue.text("handoff.cancelled", "zh")
        assert await fake_wechat.wait_for(1, OTHER) == [catalogue.text("wechat.queue_position", "zh", position=1)]
        other_conv = wx_helpers["conversation_of"](OTHER)
        assert (await c2.post(f"/agent/api/conversations/{other_conv}/claim", headers=csrf)).status == 200
        resp = await c2.post(f"/agent/api/conversations/{other_conv}/messages", json={"text": "您好"}, headers=csrf)
        assert resp.status == 201
        texts = await fake_wechat.wait_for(3, OTHER)
        assert texts[1:] == [catalogue.text("handoff.claimed", "zh", agent="Wang"), "您好"]
        await asyncio.sleep(0.3)
        assert len(fake_wechat.texts(OTHER)) == 3 and fake_wechat.texts(USER) == []
        assert len(fake_wechat.token_requests) == 1  # one token for both instances
    finally:
        store = RedisHandoffStore(url, prefix)
        await store.delete_all()
        await store.close()
        import redis.asyncio as aioredis

        r = aioredis.from_url(url)
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.close(close_connection_pool=True)
