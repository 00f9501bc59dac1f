"""The WeChat channel's behaviour: retries answered once, the reply budget and the customer-service
fallback, the shared access token, numbered choices, long texts, pseudonymous OpenIDs, the 48-hour
window."""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import aiohttp

from bot.keys import WECHAT
from bot.wechat.api import AccessTokens, WeChatApi
from bot.wechat.render import MAX_BYTES, render, split_text
from knowledge import catalogue

OPENID = "oUser_channel_0123456789abcdef"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _answer(sender: str, article: str, title: str) -> dict:
    return {"recipient_id": sender,
            "text": f"{title}：请在个税App办理。\n来源：国家税务总局，公告2023年第3号（2024-01-01起施行）。",
            "custom": {"kind": "answer", "article_id": article, "confidence": 0.9, "language": "zh", "sources": []}}


def clarify_rasa(sender: str, message: str) -> list:
    """Clarify with three topics; a topic's payload answers it."""
    titles = {"iit-a": "年度汇算", "iit-b": "专项附加扣除", "iit-c": "个税退税"}
    if message.startswith('/ask_tax_question{"article_id": "'):
        article = message.split('"')[3]
        return [_answer(sender, article, titles[article])]
    return [{"recipient_id": sender, "text": "您想问的是下面哪一个？",
             "buttons": [{"title": t, "payload": '/ask_tax_question{"article_id": "%s"}' % a}
                         for a, t in titles.items()],
             "custom": {"kind": "clarify", "confidence": 0.3, "language": "zh", "options": []}}]


async def _post(client, sim, content: str, msg_id: str, openid: str = OPENID):
    return await client.post("/wechat", **sim.request(sim.text_xml(openid, content, msg_id), openid))


# --------------------------------------------------------------------------- retries and the budget


async def test_retries_of_one_msgid_get_one_answer(aiohttp_client, wechat_app, sim, fake_rasa, fake_wechat,
                                                    wx_helpers) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    fake_rasa.delay = 0.4
    msg_id = sim.next_msg_id()
    first = asyncio.create_task(_post(client, sim, "年度汇算怎么办？", msg_id))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(_post(client, sim, "年度汇算怎么办？", msg_id))  # WeChat's retry while running
    replies = [sim.reply(await (await t).text())["Content"] for t in (first, second)]
    assert replies[0] == replies[1] and replies[0].startswith("关于“年度汇算怎么办？”")
    third = await _post(client, sim, "年度汇算怎么办？", msg_id)  # a late retry: the same reply again
    assert sim.reply(await third.text())["Content"] == replies[0]
    assert len(fake_rasa.received) == 1
    rows = await wx_helpers["transcript"](app)
    assert [r["sender_type"] for r in rows] == ["taxpayer", "bot"]
    await asyncio.sleep(0.2)
    assert fake_wechat.sent == []  # nothing went out twice through the API either


async def test_slow_reply_goes_out_through_the_customer_service_api(
    aiohttp_client, wechat_app, sim, fake_rasa, fake_wechat, wx_helpers
) -> None:
    app = wechat_app(env={"WECHAT_REPLY_BUDGET": "0.3"}, reply_timeout=3.0)
    client = await aiohttp_client(app)
    fake_rasa.delay = 1.0
    msg_id = sim.next_msg_id()
    started = time.monotonic()
    resp = await _post(client, sim, "专项附加扣除怎么填？", msg_id)
    assert await resp.text() == "success" and time.monotonic() - started < 0.9
    texts = await fake_wechat.wait_for(1, OPENID)
    assert len(texts) == 1 and texts[0].startswith("关于“专项附加扣除怎么填？”")
    assert fake_wechat.sent[0]["msgtype"] == "text" and "\\u" not in fake_wechat.sent[0]["raw"].decode()
    # WeChat's retries of the same message: no second answer, no second transcript pair
    for _ in range(3):
        assert await (await _post(client, sim, "专项附加扣除怎么填？", msg_id)).text() == "success"
    await asyncio.sleep(0.3)
    assert len(fake_wechat.sent) == 1 and len(fake_rasa.received) == 1
    assert [r["sender_type"] for r in await wx_helpers["transcript"](app)] == ["taxpayer", "bot"]
    assert len(fake_wechat.token_requests) == 1


async def test_retry_on_a_second_instance_waits_for_the_first(
    aiohttp_client, wechat_app, sim, fake_rasa, fake_wechat, require_service
) -> None:
    """Two gateway instances sharing Redis: the retry that reaches the other instance is not run again."""
    require_service("Redis", "127.0.0.1", 6379)
    env = {"WECHAT_REDIS_PREFIX": f"taxguide-test:{uuid.uuid4().hex}:"}
    a = await aiohttp_client(wechat_app(env=env, redis_url=REDIS_URL))
    b = await aiohttp_client(wechat_app(env=env, redis_url=REDIS_URL))
    fake_rasa.delay = 0.4
    msg_id = sim.next_msg_id()
    first = asyncio.create_task(_post(a, sim, "hello there, how is IIT computed?", msg_id))
    await asyncio.sleep(0.1)
    second = await _post(b, sim, "hello there, how is IIT computed?", msg_id)
    replies = [sim.reply(await r.text())["Content"] for r in (await first, second)]
    assert replies[0] == replies[1] and len(fake_rasa.received) == 1


# --------------------------------------------------------------------------- access token


async def test_token_is_fetched_once_under_concurrency_and_renewed_on_40001(fake_wechat) -> None:
    fake_wechat.token_delay = 0.2
    async with aiohttp.ClientSession() as http:
        tokens = AccessTokens(lambda: http, fake_wechat.url, "wx1234567890abcdef", "app-secret-for-tests")
        got = await asyncio.gather(*(tokens.get() for _ in range(20)))
        assert set(got) == {"ACCESS-TOKEN-1"} and len(fake_wechat.token_requests) == 1
        api = WeChatApi(lambda: http, fake_wechat.url, tokens)
        fake_wechat.valid.clear()  # WeChat no longer accepts the token: errcode 40001
        assert await api.send_text("o_x", "你好")
        assert len(fake_wechat.token_requests) == 2 and fake_wechat.sent[0]["token"] == "ACCESS-TOKEN-2"
        assert await tokens.get() == "ACCESS-TOKEN-2"
        fake_wechat.refuse_with = 45015  # outside the 48-hour window: dropped, not retried
        assert not await api.send_text("o_x", "later")
        assert len(fake_wechat.sent) == 1 and len(fake_wechat.token_requests) == 2


async def test_token_is_renewed_before_it_expires(fake_wechat) -> None:
    fake_wechat.expires_in = 2  # renewed halfway
    async with aiohttp.ClientSession() as http:
        tokens = AccessTokens(lambda: http, fake_wechat.url, "wx1234567890abcdef", "app-secret-for-tests")
        assert await tokens.get() == "ACCESS-TOKEN-1"
        await asyncio.sleep(1.1)
        assert await tokens.get() == "ACCESS-TOKEN-2"


async def test_token_is_shared_by_instances_through_redis(fake_wechat, require_service) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    import redis.asyncio as aioredis

    prefix = f"taxguide-test:{uuid.uuid4().hex}:"
    fake_wechat.token_delay = 0.3
    clients = [aioredis.from_url(REDIS_URL) for _ in range(3)]
    try:
        async with aiohttp.ClientSession() as http:
            instances = [AccessTokens(lambda: http, fake_wechat.url, "wx1234567890abcdef", "app-secret-for-tests",
                                      redis=r, prefix=prefix) for r in clients]
            got = await asyncio.gather(*(i.get() for i in instances for _ in range(5)))
            assert set(got) == {"ACCESS-TOKEN-1"} and len(fake_wechat.token_requests) == 1
            # one instance learns the token is invalid: every instance gets the new one
            await instances[0].invalidate("ACCESS-TOKEN-1")
            for i in instances:
                i._local = None  # the others' process caches expire
            got = await asyncio.gather(*(i.get() for i in instances))
            assert set(got) == {"ACCESS-TOKEN-2"} and len(fake_wechat.token_requests) == 2
    finally:
        for r in clients:
            await r.delete(f"{prefix}wx1234567890abcdef:token")
            await r.close(close_connection_pool=True)


# --------------------------------------------------------------------------- rendering


async def test_numbered_clarify_choices(aiohttp_client, wechat_app, sim, fake_rasa, wx_helpers) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    fake_rasa.reply = clarify_rasa
    reply = sim.reply(await (await _post(client, sim, "个税的问题", sim.next_msg_id())).text())["Content"]
    assert reply == "您想问的是下面哪一个？\n1. 年度汇算\n2. 专项附加扣除\n3. 个税退税\n回复 1、2 或 3"
    reply = sim.reply(await (await _post(client, sim, "2", sim.next_msg_id())).text())["Content"]
    assert reply.startswith("专项附加扣除：请在个税App办理。")
    assert reply.endswith("来源：国家税务总局，公告2023年第3号（2024-01-01起施行）。")  # source and date kept
    assert fake_rasa.received[-1]["message"] == '/ask_tax_question{"article_id": "iit-b"}'
    # the choices are used once: "2" now is just a message
    await _post(client, sim, "2", sim.next_msg_id())
    assert fake_rasa.received[-1]["message"] == "2"
    # English
    en = render([{"text": "Which one?", "buttons": [{"title": "A", "payload": "/a"}, {"title": "B", "payload": "/b"},
                                                     {"title": "C", "payload": "/c"}], "custom": {"language": "en"}}])
    assert en.text.endswith("1. A\n2. B\n3. C\nReply 1, 2 or 3") and en.choices == ["/a", "/b", "/c"]


def test_survey_buttons_become_reply_1_to_5() -> None:
    from bot.analytics.survey import survey_message

    out = render([survey_message("wx-1", "zh", "goodbye")])
    assert out.text == catalogue.text("survey.ask", "zh") + "\n回复 1–5，或回复“跳过”"
    assert out.survey and out.choices == []
    assert render([survey_message("wx-1", "en", "goodbye")]).text.endswith('Reply 1–5, or "skip"')


def test_long_texts_split_on_lines_at_2048_bytes() -> None:
    lines = [f"第{n}条：纳税人应当在规定期限内办理纳税申报，并报送纳税资料。" for n in range(120)]
    source = "来源：国家税务总局，公告2023年第3号（2024-01-01起施行）。"
    text = "\n".join(lines + [source])
    parts = split_text(text)
    assert len(parts) > 2 and all(len(p.encode("utf-8")) <= MAX_BYTES for p in parts)
    assert "\n".join(parts) == text  # nothing lost, every cut between two lines
    assert parts[-1].endswith(source)
    one_line = "税" * 1500  # 4500 bytes, no line break: cut inside the line
    parts = split_text(one_line)
    assert [len(p.encode()) for p in parts] == [2046, 2046, 408] and "".join(parts) == one_line
    assert split_text("   ") == [] and split_text("短") == ["短"]


async def test_a_long_answer_goes_out_in_pieces_in_order(aiohttp_client, wechat_app, sim, fake_rasa,
                                                          fake_wechat) -> None:
    client = await aiohttp_client(wechat_app())
    body = "\n".join(f"{n}. 个人所得税年度汇算的办理要点与注意事项说明。" for n in range(150))
    answer = body + "\n来源：国家税务总局（2024-01-01起施行）。"
    fake_rasa.reply = lambda sender, message: [{"recipient_id": sender, "text": answer,
                                                 "custom": {"kind": "answer", "language": "zh"}}]
    resp = await _post(client, sim, "年度汇算要点", sim.next_msg_id())
    assert await resp.text() == "success"  # too long for one passive message
    expected = split_text(body + "\n来源：国家税务总局（2024-01-01起施行）。")
    texts = await fake_wechat.wait_for(len(expected), OPENID)
    assert texts == expected and len(texts) >= 3


# --------------------------------------------------------------------------- privacy and the 48-hour window


async def test_openid_is_never_stored_or_logged(aiohttp_client, wechat_app, sim, fake_rasa, fake_wechat, wx_helpers,
                                                 caplog) -> None:
    caplog.set_level(logging.DEBUG)
    app = wechat_app(env={"WECHAT_REPLY_BUDGET": "0.2"}, reply_timeout=3.0)
    client = await aiohttp_client(app)
    await client.post("/wechat", **sim.request(sim.event_xml(OPENID, "subscribe"), OPENID))
    await _post(client, sim, "我的手机号13812345678，年度汇算怎么办？", sim.next_msg_id())
    fake_rasa.delay = 0.5
    await _post(client, sim, "还有问题", sim.next_msg_id())  # answered later through the API
    await fake_wechat.wait_for(1, OPENID)
    await client.post("/wechat", **sim.request(sim.text_xml(OPENID, "x", "1"), OPENID, token="bad"))  # refused
    conv = wx_helpers["conversation_of"](OPENID)
    dump = await wx_helpers["database_dump"](app)
    assert conv in dump and "wechat" in dump and "138****5678" in dump
    assert OPENID not in dump and "13812345678" not in dump
    assert all(OPENID not in json.dumps(r) for r in fake_rasa.received)
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert OPENID not in logged
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access" and "/wechat" in r.getMessage()]
    assert access and all("openid=<redacted>" in m for m in access)


async def test_messages_outside_48_hours_are_dropped(aiohttp_client, wechat_app, sim, fake_wechat, wx_helpers,
                                                     caplog) -> None:
    app = wechat_app()
    client = await aiohttp_client(app)
    await _post(client, sim, "你好", sim.next_msg_id())
    channel = app[WECHAT]
    conv = wx_helpers["conversation_of"](OPENID)
    assert await channel.send(conv, ["一条消息"])
    assert await fake_wechat.wait_for(1, OPENID) == ["一条消息"]
    contact = await channel._contact(conv)
    contact.last_seen = time.time() - 48 * 3600 - 1
    await channel._save_contact(conv, contact)
    assert not await channel.send(conv, ["太晚了"])
    assert not await channel.send(wx_helpers["conversation_of"]("o_never_wrote"), ["谁？"])
    await asyncio.sleep(0.2)
    assert fake_wechat.texts() == ["一条消息"]
    assert any("48 hours" in r.getMessage() for r in caplog.records)


async def test_analytics_channel_filter_lists_wechat(aiohttp_client, wechat_app, sim) -> None:
    from bot.analytics.models import conversation_outcomes
    from bot.keys import QUERIES, WRITER

    app = wechat_app()
    client = await aiohttp_client(app)
    await _post(client, sim, "年度汇算怎么办？", sim.next_msg_id())
    await app[WRITER].flush()
    assert "wechat" in await app[QUERIES].values(conversation_outcomes.c.channel)


async def test_language_follows_the_user(aiohttp_client, wechat_app, sim, fake_rasa) -> None:
    """Chinese is the preference sent to Rasa until the user writes in English; then English."""
    client = await aiohttp_client(wechat_app())
    reply = sim.reply(await (await _post(client, sim, "How do I file my annual return?", sim.next_msg_id())).text())
    assert reply["Content"].endswith("1. 是\n2. 否\nReply 1 or 2")
    assert fake_rasa.received[-1]["metadata"] == {"language": "en"}
    await _post(client, sim, "1", sim.next_msg_id())
    assert fake_rasa.received[-1]["message"] == "/affirm" and fake_rasa.received[-1]["metadata"] == {"language": "en"}
    other = "oUser_someone_else_000000000001"
    await _post(client, sim, "1", sim.next_msg_id(), openid=other)  # a new user: "zh", no choices to pick
    assert fake_rasa.received[-1]["message"] == "1" and fake_rasa.received[-1]["metadata"] == {"language": "zh"}
