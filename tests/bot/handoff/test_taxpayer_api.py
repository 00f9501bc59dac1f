"""Handoff through the gateway API with the fake Rasa, the taxpayer's side: escalation triggers, queue,
claim, live chat both ways (socket.io and REST polling), close, cancel and offline tickets."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, Dict

import socketio

from bot.handoff.policy import HandoffPolicy
from bot.keys import ENGINE, HANDOFF_REPO
from tests.bot.handoff.flows import URL, online_agent, ref, session, start
from tests.socketio_client import connect_polling, leave


async def test_full_handoff_over_rest(aiohttp_client, make_handoff_app, handoff_helpers, fake_rasa) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    csrf = await online_agent(client, handoff_helpers)
    sid = await session(client)
    conv = ref(app, sid)  # what staff see: the reference, not the taxpayer's token
    bearer = {"Authorization": f"Bearer {sid}"}

    # the taxpayer asks a question, then for a person: told they are connected, position and wait
    await client.post(URL, json={"sender": sid, "message": "年度汇算怎么办？"})
    replies = await (await client.post(URL, json={"sender": sid, "message": "agent please"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["handoff", "handoff_queued"]
    queued = replies[1]
    assert queued["custom"]["position"] == 1 and queued["custom"]["expected_wait_seconds"] == 300
    assert "number 1 in the queue" in queued["text"] and queued["buttons"][0]["payload"] == "/handoff_cancel"
    assert (await (await client.get(f"/conversations/{sid}/handoff", headers=bearer)).json())["status"] == "queued"

    # while waiting the bot still answers
    replies = await (await client.post(URL, json={"sender": sid, "message": "echo:still here"})).json()
    assert replies == [{"recipient_id": sid, "text": "still here"}]

    # the console sees it with reason, topic, language and the bot's last answer and confidence
    snap = await (await client.get("/agent/api/queue")).json()
    (entry,) = snap["waiting"]
    assert entry["conversation_id"] == conv and entry["reason"] == "requested" and entry["language"] == "en"
    assert entry["last_answers"][-1]["confidence"] == 0.87 and entry["topic"] == "iit-annual-settlement"

    resp = await client.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    assert fake_rasa.tracker_events[-1] == {"conversation_id": conv, "event": "pause", "token": "rasa-test-token"}

    # taxpayer -> agent: not forwarded to Rasa; agent -> taxpayer: polled by REST clients
    before = len(fake_rasa.received)
    assert await (await client.post(URL, json={"sender": sid, "message": "my refund was rejected"})).json() == []
    assert len(fake_rasa.received) == before
    resp = await client.post(f"/agent/api/conversations/{conv}/messages",
                             json={"text": "Hello, I am Wang. Let me check."},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    polled = await (await client.get(f"/conversations/{sid}/messages?after=0", headers=bearer)).json()
    kinds = [m["kind"] for m in polled["messages"]]
    assert kinds == ["handoff_claimed", "agent_message"] and polled["messages"][1]["sender"] == "agent"
    assert polled["handoff"]["status"] == "claimed"
    cursor = polled["cursor"]
    polled = await (await client.get(f"/conversations/{sid}/messages?after={cursor}", headers=bearer)).json()
    assert polled["messages"] == []

    # full transcript and an internal note (never shown to the taxpayer)
    resp = await client.post(f"/agent/api/conversations/{conv}/notes", json={"text": "asked about refund"},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    detail = await (await client.get(f"/agent/api/conversations/{conv}")).json()
    texts = [m["text"] for m in detail["transcript"]]
    assert "my refund was rejected" in texts and "Hello, I am Wang. Let me check." in texts
    assert detail["notes"][0]["text"] == "asked about refund"
    history = await (await client.get(f"/conversations/{sid}/history", headers=bearer)).json()
    assert all("asked about refund" != m["text"] for m in history)

    # back to the bot: Rasa resumed, the next question is answered
    resp = await client.post(f"/agent/api/conversations/{conv}/close", json={"outcome": "bot"},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert fake_rasa.tracker_events[-1]["event"] == "resume"
    replies = await (await client.post(URL, json={"sender": sid, "message": "echo:bot again"})).json()
    assert replies == [{"recipient_id": sid, "text": "bot again"}]

    events = [e["type"] for e in await app[HANDOFF_REPO].events(conv)]
    assert events == ["requested", "queued", "claimed", "agent_message", "note", "returned"]


async def test_failed_turns_and_sensitive_topics_escalate(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    await online_agent(client, handoff_helpers)
    replies = await (await client.post(URL, json={"sender": "f1", "message": "blorp"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["fallback"]
    replies = await (await client.post(URL, json={"sender": "f1", "message": "blorp again"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["fallback", "handoff_queued"]
    replies = await (await client.post(URL, json={"sender": "s1", "message": "I am being audited"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["answer", "handoff_queued"]
    assert replies[1]["custom"]["position"] == 2
    waiting = (await (await client.get("/agent/api/queue")).json())["waiting"]
    assert [(w["conversation_id"], w["reason"]) for w in waiting] == [(ref(app, "f1"), "not_understood"),
                                                                      (ref(app, "s1"), "sensitive_topic")]
    assert waiting[1]["topic"] == "Being audited or inspected by the tax office"


async def test_cancel_while_waiting(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    await online_agent(client, handoff_helpers)
    await client.post(URL, json={"sender": "c1", "message": "can I speak to someone"})
    replies = await (await client.post(URL, json={"sender": "c1", "message": "/handoff_cancel"})).json()
    assert replies[0]["custom"] == {"kind": "handoff_cancelled", "cancelled": True}
    assert (await (await client.get("/agent/api/queue")).json())["waiting"] == []
    assert [e["type"] for e in await app[HANDOFF_REPO].events(ref(app, "c1"))] == ["requested", "queued", "abandoned"]
    sid = await session(client)
    await client.post(URL, json={"sender": sid, "message": "agent please"})
    resp = await client.post(f"/conversations/{sid}/handoff/cancel", headers={"Authorization": f"Bearer {sid}"})
    assert (await resp.json())["custom"]["cancelled"] is True


async def test_offline_when_nobody_online_or_closed(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    sid = await session(client)
    replies = await (await client.post(URL, json={"sender": sid, "message": "agent please"})).json()
    offline = replies[-1]
    assert offline["custom"]["kind"] == "handoff_offline" and "No tax officer is available" in offline["text"]
    assert offline["custom"]["ticket_url"] == f"/conversations/{ref(app, sid)}/handoff/ticket"
    bearer = {"Authorization": f"Bearer {sid}"}
    resp = await client.post(offline["custom"]["ticket_url"], json={"message": "Please call me about my refund",
                                                                    "contact_method": "phone"}, headers=bearer)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "missing_contact"
    message = {"message": "Please call me about my refund", "contact_method": "phone", "contact": "13800138000"}
    resp = await client.post(offline["custom"]["ticket_url"], json=message, headers=bearer)
    assert resp.status == 201
    body = await resp.json()
    assert body["reply_by"] and "expect a reply by" in body["text"]
    resp = await client.post(offline["custom"]["ticket_url"], json={"message": "x", "contact_method": "chat"},
                             headers={"Authorization": "Bearer " + await session(client)})
    assert resp.status == 403
    csrf = await handoff_helpers["login"](client, "wang")
    (ticket,) = (await (await client.get("/agent/api/tickets")).json())["tickets"]
    assert ticket["conversation_id"] == ref(app, sid) and ticket["contact"] == "***8000"  # masked in the list
    assert ticket["contact_method"] == "phone"
    resp = await client.post(f"/agent/api/tickets/{ticket['id']}/close", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert "offline_ticket" in [e["type"] for e in await app[HANDOFF_REPO].events(ref(app, sid))]

    closed = replace(HandoffPolicy(), always_open=False, days=())  # never open
    app2 = make_handoff_app(policy=closed, database_url=app[ENGINE].url.render_as_string(hide_password=False))
    client2 = await aiohttp_client(app2)
    await handoff_helpers["add_account"](app2, "li")
    await online_agent(client2, handoff_helpers, "li")
    replies = await (await client2.post(URL, json={"sender": "o2", "message": "agent please"})).json()
    assert replies[-1]["custom"]["kind"] == "handoff_offline" and replies[-1]["custom"]["in_service_hours"] is False
    assert "not available right now (service hours" in replies[-1]["text"]


async def test_socketio_taxpayer_receives_agent_messages(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    csrf = await online_agent(client, handoff_helpers)
    sio = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue = asyncio.Queue()
    statuses: asyncio.Queue = asyncio.Queue()
    sio.on("bot_uttered", lambda data: got.put_nowait(data))
    sio.on("handoff_status", lambda data: statuses.put_nowait(data))
    sio.on("session_confirm", lambda data: got.put_nowait({"session": data}))
    await connect_polling(sio, f"http://127.0.0.1:{client.server.port}")
    try:
        await sio.emit("session_request", {})
        sid = (await asyncio.wait_for(got.get(), 5))["session"]
        conv = ref(app, sid)
        await sio.emit("user_uttered", {"session_id": sid, "message": "put me through to staff"})
        async def message() -> Dict[str, Any]:  # Rasa's socket.io shape: the text, then the custom json alone
            text = await asyncio.wait_for(got.get(), 5)
            return {"text": text["text"], "custom": await asyncio.wait_for(got.get(), 5)}

        first = await message()
        second = await message()
        assert first["custom"]["kind"] == "handoff" and second["custom"]["kind"] == "handoff_queued"
        assert (await asyncio.wait_for(statuses.get(), 5)) == {"status": "queued", "position": 1}
        await client.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})
        claimed = await message()
        assert claimed["custom"]["kind"] == "handoff_claimed" and "Wang" in claimed["text"]
        await client.post(f"/agent/api/conversations/{conv}/messages", json={"text": "Hi from Wang"},
                          headers={"X-CSRF-Token": csrf})
        msg = await message()
        assert msg == {"text": "Hi from Wang", "custom": {"kind": "agent_message", "agent_name": "Wang"}}
        await client.post(f"/agent/api/conversations/{conv}/close", json={"outcome": "resolved"},
                          headers={"X-CSRF-Token": csrf})
        closed = await message()
        assert closed["custom"]["kind"] == "handoff_resolved"
    finally:
        await leave(sio)
