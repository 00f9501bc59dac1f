"""Rasa-compatible REST channel."""
import pytest

from bot.app import create_app
from bot.keys import ROUTING, SERVICE, SIGNER
from bot.routing import Route

pytestmark = pytest.mark.asyncio

URL = "/webhooks/rest/webhook"


async def test_reply_shape_merges_custom(client, fake_rasa, custom_payload) -> None:
    resp = await client.post(URL, json={"sender": "t1", "message": "年度汇算怎么办？"})
    assert resp.status == 200
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert isinstance(body[0]["custom"].pop("feedback_id"), str)  # thumbs up/down id (bot/analytics)
    assert body == [
        {
            "recipient_id": "t1",
            "text": "关于“年度汇算怎么办？”：请在个税App办理年度汇算。\n\n还有其他问题吗？",
            "buttons": [{"title": "是", "payload": "/affirm"}, {"title": "否", "payload": "/deny"}],
            "custom": custom_payload,
        }
    ]
    assert fake_rasa.received[-1]["sender"] == client.server.app[SIGNER].conversation_id("t1")  # never the sender
    assert fake_rasa.received[-1]["input_channel"] == "rest"


async def test_metadata_is_forwarded(client, fake_rasa) -> None:
    resp = await client.post(URL, json={"sender": "t2", "message": "echo:hi", "metadata": {"lang": "zh"}})
    assert await resp.json() == [{"recipient_id": "t2", "text": "hi"}]
    assert fake_rasa.received[-1]["metadata"] == {"lang": "zh"}
    await client.post(URL, json={"sender": "t2", "message": "echo:again"})
    first, second = fake_rasa.turn_ids[-2:]
    assert first and second and first != second  # each turn is marked anew, to find it if it times out


async def test_personal_data_is_masked_before_it_leaves(client, fake_rasa) -> None:
    await client.post(URL, json={"sender": "t3", "message": "echo:身份证110101198903071234"})
    assert fake_rasa.received[-1]["message"] == "echo:身份证110***********1234"


async def test_html_is_returned_as_text(client) -> None:
    html = "<script>alert('x')</script><b>税</b>"
    resp = await client.post(URL, json={"sender": "t4", "message": "echo:" + html})
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert (await resp.json())[0]["text"] == html


async def test_agent_route_skips_rasa(aiohttp_client, make_settings, fake_rasa) -> None:
    app = create_app(make_settings())
    client = await aiohttp_client(app)
    await app[ROUTING].set(app[SIGNER].conversation_id("t5"), Route.AGENT)
    resp = await client.post(URL, json={"sender": "t5", "message": "我要人工"})
    assert resp.status == 200 and await resp.json() == []
    assert fake_rasa.received == []
    await app[ROUTING].set(app[SIGNER].conversation_id("t5"), Route.BOT)
    resp = await client.post(URL, json={"sender": "t5", "message": "echo:back"})
    assert await resp.json() == [{"recipient_id": "t5", "text": "back"}]


async def test_openapi_and_docs(client) -> None:
    resp = await client.get("/openapi.yaml")
    assert resp.status == 200
    text = await resp.text()
    assert text.startswith("openapi: 3") and "/webhooks/rest/webhook" in text
    resp = await client.get("/docs")
    assert resp.status == 200 and "/conversations/{conversation_id}/history" in await resp.text()


async def test_index_redirects_to_chat_page(client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/static/index.html"


async def _stored(app, sender: str):
    """(sender type, text) of the conversation's stored messages, oldest first."""
    return [(m["sender_type"], m["text"]) for m in await app[SERVICE].history(app[SIGNER].conversation_id(sender))]


async def test_a_retried_message_gets_the_same_replies_and_is_stored_once(client, fake_rasa) -> None:
    key = {"Idempotency-Key": "6f1c2b9e-0c4d-4c53-9a57-1f0e8c7d2a10"}
    first = await client.post(URL, json={"sender": "r1", "message": "年度汇算怎么办？"}, headers=key)
    assert first.status == 200 and "Idempotent-Replayed" not in first.headers
    again = await client.post(URL, json={"sender": "r1", "message": "年度汇算怎么办？"}, headers=key)
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()  # the thumbs' feedback id included
    assert len(fake_rasa.received) == 1
    stored = await _stored(client.server.app, "r1")
    assert [kind for kind, _ in stored] == ["taxpayer", "bot"]

    other = await client.post(URL, json={"sender": "r1", "message": "年度汇算怎么办？"},
                              headers={"Idempotency-Key": "another-message"})  # asked again on purpose
    assert "Idempotent-Replayed" not in other.headers and len(fake_rasa.received) == 2
    elsewhere = await client.post(URL, json={"sender": "r2", "message": "echo:hi"}, headers=key)  # keys are per sender
    assert await elsewhere.json() == [{"recipient_id": "r2", "text": "hi"}]


async def test_a_message_retried_at_another_gateway_is_answered_from_the_store(aiohttp_client, make_settings,
                                                                               fake_rasa) -> None:
    settings = make_settings()  # two gateways, one database (as behind the cluster's proxy)
    first, second = await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))
    key = {"Idempotency-Key": "m-1"}
    sent = await first.post(URL, json={"sender": "r3", "message": "echo:lost on the way"}, headers=key)
    retried = await second.post(URL, json={"sender": "r3", "message": "echo:lost on the way"}, headers=key)
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert await retried.json() == await sent.json() == [{"recipient_id": "r3", "text": "lost on the way"}]
    assert len(fake_rasa.received) == 1
    assert await _stored(second.server.app, "r3") == [("taxpayer", "echo:lost on the way"), ("bot", "lost on the way")]


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "é"])
async def test_a_bad_idempotency_key_is_refused_and_nothing_is_sent(client, fake_rasa, key) -> None:
    resp = await client.post(URL, json={"sender": "r4", "message": "echo:hi"}, headers={"Idempotency-Key": key})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_idempotency_key"
    assert fake_rasa.received == []
