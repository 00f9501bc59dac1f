"""Handoff through the gateway API with the fake Rasa: escalation triggers, queue, claim, live chat
both ways (socket.io and REST polling), close, cancel, offline tickets, requeue, roles and CSRF."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
import socketio

from bot.keys import ENGINE, HANDOFF, HANDOFF_REPO, SIGNER
from bot.handoff.policy import HandoffPolicy

URL = "/webhooks/rest/webhook"


async def _setup(aiohttp_client, make_handoff_app, handoff_helpers, policy=None, **kw):
    app = make_handoff_app(policy=policy, **kw)
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "wang", "agent")
    return app, client


async def _session(client) -> str:
    return (await (await client.post("/sessions")).json())["session_id"]


async def _agent(aiohttp_client, app, client, helpers, name="wang", presence="online"):
    """A second test client on the same app (own cookie jar), signed in, with presence set."""
    agent = await aiohttp_client(client.server) if False else client
    csrf = await helpers["login"](agent, name)
    if presence:
        resp = await agent.post("/agent/api/presence", json={"status": presence}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 200
    return csrf


async def test_full_handoff_over_rest(aiohttp_client, make_handoff_app, handoff_helpers, fake_rasa) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    csrf = await _agent(aiohttp_client, app, client, handoff_helpers)
    sid = await _session(client)
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
    assert entry["conversation_id"] == sid and entry["reason"] == "requested" and entry["language"] == "en"
    assert entry["last_answers"][-1]["confidence"] == 0.87 and entry["topic"] == "iit-annual-settlement"

    resp = await client.post(f"/agent/api/conversations/{sid}/claim", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    assert fake_rasa.tracker_events[-1] == {"conversation_id": sid, "event": "pause", "token": "rasa-test-token"}

    # taxpayer -> agent: not forwarded to Rasa; agent -> taxpayer: polled by REST clients
    before = len(fake_rasa.received)
    assert await (await client.post(URL, json={"sender": sid, "message": "my refund was rejected"})).json() == []
    assert len(fake_rasa.received) == before
    resp = await client.post(f"/agent/api/conversations/{sid}/messages", json={"text": "Hello, I am Wang. Let me check."},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    polled = await (await client.get(f"/conversations/{sid}/messages?after=0", headers=bearer)).json()
    kinds = [m["kind"] for m in polled["messages"]]
    assert kinds == ["handoff_claimed", "agent_message"] and polled["messages"][1]["sender"] == "agent"
    assert polled["handoff"]["status"] == "claimed"
    cursor = polled["cursor"]
    assert (await (await client.get(f"/conversations/{sid}/messages?after={cursor}", headers=bearer)).json())["messages"] == []

    # full transcript and an internal note (never shown to the taxpayer)
    resp = await client.post(f"/agent/api/conversations/{sid}/notes", json={"text": "asked about refund"},
                             headers={"X-CSRF-Token": csrf})
    assert resp.status == 201
    detail = await (await client.get(f"/agent/api/conversations/{sid}")).json()
    texts = [m["text"] for m in detail["transcript"]]
    assert "my refund was rejected" in texts and "Hello, I am Wang. Let me check." in texts
    assert detail["notes"][0]["text"] == "asked about refund"
    history = await (await client.get(f"/conversations/{sid}/history", headers=bearer)).json()
    assert all("asked about refund" != m["text"] for m in history)

    # back to the bot: Rasa resumed, the next question is answered
    resp = await client.post(f"/agent/api/conversations/{sid}/close", json={"outcome": "bot"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert fake_rasa.tracker_events[-1]["event"] == "resume"
    replies = await (await client.post(URL, json={"sender": sid, "message": "echo:bot again"})).json()
    assert replies == [{"recipient_id": sid, "text": "bot again"}]

    events = [e["type"] for e in await app[HANDOFF_REPO].events(sid)]
    assert events == ["requested", "queued", "claimed", "agent_message", "note", "returned"]


async def test_failed_turns_and_sensitive_topics_escalate(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    await _agent(aiohttp_client, app, client, handoff_helpers)
    replies = await (await client.post(URL, json={"sender": "f1", "message": "blorp"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["fallback"]
    replies = await (await client.post(URL, json={"sender": "f1", "message": "blorp again"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["fallback", "handoff_queued"]
    replies = await (await client.post(URL, json={"sender": "s1", "message": "I am being audited"})).json()
    assert [r["custom"]["kind"] for r in replies] == ["answer", "handoff_queued"]
    assert replies[1]["custom"]["position"] == 2
    waiting = (await (await client.get("/agent/api/queue")).json())["waiting"]
    assert [(w["conversation_id"], w["reason"]) for w in waiting] == [("f1", "not_understood"), ("s1", "sensitive_topic")]
    assert waiting[1]["topic"] == "Being audited or inspected by the tax office"


async def test_cancel_while_waiting(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    await _agent(aiohttp_client, app, client, handoff_helpers)
    await client.post(URL, json={"sender": "c1", "message": "can I speak to someone"})
    replies = await (await client.post(URL, json={"sender": "c1", "message": "/handoff_cancel"})).json()
    assert replies[0]["custom"] == {"kind": "handoff_cancelled", "cancelled": True}
    assert (await (await client.get("/agent/api/queue")).json())["waiting"] == []
    assert [e["type"] for e in await app[HANDOFF_REPO].events("c1")] == ["requested", "queued", "abandoned"]
    sid = await _session(client)
    await client.post(URL, json={"sender": sid, "message": "agent please"})
    resp = await client.post(f"/conversations/{sid}/handoff/cancel", headers={"Authorization": f"Bearer {sid}"})
    assert (await resp.json())["custom"]["cancelled"] is True


async def test_offline_when_nobody_online_or_closed(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    sid = await _session(client)
    replies = await (await client.post(URL, json={"sender": sid, "message": "agent please"})).json()
    offline = replies[-1]
    assert offline["custom"]["kind"] == "handoff_offline" and "No tax officer is available" in offline["text"]
    assert offline["custom"]["ticket_url"] == f"/conversations/{sid}/handoff/ticket"
    bearer = {"Authorization": f"Bearer {sid}"}
    resp = await client.post(offline["custom"]["ticket_url"], json={"message": "Please call me about my refund",
                                                                    "contact_method": "phone"}, headers=bearer)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "missing_contact"
    resp = await client.post(offline["custom"]["ticket_url"], json={"message": "Please call me about my refund",
                                                                    "contact_method": "phone", "contact": "13800138000"},
                             headers=bearer)
    assert resp.status == 201
    body = await resp.json()
    assert body["reply_by"] and "expect a reply by" in body["text"]
    resp = await client.post(offline["custom"]["ticket_url"], json={"message": "x", "contact_method": "chat"},
                             headers={"Authorization": "Bearer " + await _session(client)})
    assert resp.status == 403
    csrf = await handoff_helpers["login"](client, "wang")
    (ticket,) = (await (await client.get("/agent/api/tickets")).json())["tickets"]
    assert ticket["conversation_id"] == sid and ticket["contact"] == "13800138000" and ticket["contact_method"] == "phone"
    resp = await client.post(f"/agent/api/tickets/{ticket['id']}/close", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert "offline_ticket" in [e["type"] for e in await app[HANDOFF_REPO].events(sid)]

    closed = replace(HandoffPolicy(), always_open=False, days=())  # never open
    app2 = make_handoff_app(policy=closed, database_url=app[ENGINE].url.render_as_string(hide_password=False))
    client2 = await aiohttp_client(app2)
    await handoff_helpers["add_account"](app2, "li")
    await _agent(aiohttp_client, app2, client2, handoff_helpers, "li")
    replies = await (await client2.post(URL, json={"sender": "o2", "message": "agent please"})).json()
    assert replies[-1]["custom"]["kind"] == "handoff_offline" and replies[-1]["custom"]["in_service_hours"] is False
    assert "not available right now (service hours" in replies[-1]["text"]


async def test_socketio_taxpayer_receives_agent_messages(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    csrf = await _agent(aiohttp_client, app, client, handoff_helpers)
    sio = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue = asyncio.Queue()
    statuses: asyncio.Queue = asyncio.Queue()
    sio.on("bot_uttered", lambda data: got.put_nowait(data))
    sio.on("handoff_status", lambda data: statuses.put_nowait(data))
    sio.on("session_confirm", lambda data: got.put_nowait({"session": data}))
    await sio.connect(f"http://127.0.0.1:{client.server.port}", socketio_path="/socket.io", transports=["polling"],
                      wait_timeout=5)
    try:
        await sio.emit("session_request", {})
        sid = (await asyncio.wait_for(got.get(), 5))["session"]
        await sio.emit("user_uttered", {"session_id": sid, "message": "put me through to staff"})
        first = await asyncio.wait_for(got.get(), 5)
        second = await asyncio.wait_for(got.get(), 5)
        assert first["custom"]["kind"] == "handoff" and second["custom"]["kind"] == "handoff_queued"
        assert (await asyncio.wait_for(statuses.get(), 5)) == {"status": "queued", "position": 1}
        await client.post(f"/agent/api/conversations/{sid}/claim", headers={"X-CSRF-Token": csrf})
        claimed = await asyncio.wait_for(got.get(), 5)
        assert claimed["custom"]["kind"] == "handoff_claimed" and "Wang" in claimed["text"]
        await client.post(f"/agent/api/conversations/{sid}/messages", json={"text": "Hi from Wang"}, headers={"X-CSRF-Token": csrf})
        msg = await asyncio.wait_for(got.get(), 5)
        assert msg == {"text": "Hi from Wang", "custom": {"kind": "agent_message", "agent_name": "Wang"}}
        await client.post(f"/agent/api/conversations/{sid}/close", json={"outcome": "resolved"}, headers={"X-CSRF-Token": csrf})
        closed = await asyncio.wait_for(got.get(), 5)
        assert closed["custom"]["kind"] == "handoff_resolved"
    finally:
        if sio.connected:  # leave at once: a graceful polling disconnect waits for the last long-poll
            await sio.eio.disconnect(abort=True)


async def test_console_websocket_and_disconnect_requeues_with_priority(aiohttp_client, make_handoff_app, handoff_helpers, fake_rasa) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    await handoff_helpers["add_account"](app, "li", "agent")
    csrf = await handoff_helpers["login"](client, "wang")
    ws = await client.ws_connect("/agent/ws")
    snap = await ws.receive_json(timeout=5)
    assert snap["type"] == "snapshot" and snap["waiting"] == [] and snap["presence"] == "online"
    await client.post(URL, json={"sender": "w1", "message": "agent please"})
    await client.post(URL, json={"sender": "w2", "message": "agent please"})
    while True:  # live update: the new conversations appear without a reload
        snap = await ws.receive_json(timeout=5)
        if snap.get("type") == "snapshot" and len(snap["waiting"]) == 2:
            break
    assert (await client.post("/agent/api/conversations/w2/claim", headers={"X-CSRF-Token": csrf})).status == 200
    await client.post(URL, json={"sender": "w2", "message": "are you there?"})
    while True:
        event = await ws.receive_json(timeout=5)
        if event.get("type") == "conversation":
            break
    assert event["conversation_id"] == "w2" and event["message"]["text"] == "are you there?"
    await ws.close()  # the agent's console goes away: after the grace period w2 is first in the queue again
    for _ in range(50):
        waiting = await app[HANDOFF].store.waiting()
        if [w["id"] for w in waiting] == ["w2", "w1"] and fake_rasa.tracker_events[-1]["event"] == "resume":
            break
        await asyncio.sleep(0.1)
    assert [w["id"] for w in waiting] == ["w2", "w1"] and waiting[0]["priority"] is True
    assert fake_rasa.tracker_events[-1] == {"conversation_id": "w2", "event": "resume", "token": "rasa-test-token"}
    requeued = [e for e in await app[HANDOFF_REPO].events("w2") if e["type"] == "queued"][-1]
    assert requeued["data"]["requeued"] is True


async def test_capacity_presence_and_double_claim(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    policy = replace(HandoffPolicy(), always_open=True, capacity_per_agent=1)
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers, policy=policy)
    await handoff_helpers["add_account"](app, "li", "agent")
    other = await aiohttp_client(client.server)
    csrf = await _agent(aiohttp_client, app, client, handoff_helpers, "wang")
    csrf_li = await handoff_helpers["login"](other, "li")
    for conv in ("k1", "k2"):
        await client.post(URL, json={"sender": conv, "message": "agent please"})
    # away agents cannot claim
    await other.post("/agent/api/presence", json={"status": "away"}, headers={"X-CSRF-Token": csrf_li})
    resp = await other.post("/agent/api/conversations/k1/claim", headers={"X-CSRF-Token": csrf_li})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_online"
    await other.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf_li})
    results = await asyncio.gather(
        client.post("/agent/api/conversations/k1/claim", headers={"X-CSRF-Token": csrf}),
        other.post("/agent/api/conversations/k1/claim", headers={"X-CSRF-Token": csrf_li}),
    )
    assert sorted(r.status for r in results) == [200, 409]
    winner = client if results[0].status == 200 else other
    winner_csrf = csrf if winner is client else csrf_li
    resp = await winner.post("/agent/api/conversations/k2/claim", headers={"X-CSRF-Token": winner_csrf})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "at_capacity"
    # the loser may not read, write to or close the winner's conversation
    loser, loser_csrf = (other, csrf_li) if winner is client else (client, csrf)
    assert (await loser.get("/agent/api/conversations/k1")).status == 403
    assert (await loser.post("/agent/api/conversations/k1/messages", json={"text": "hi"}, headers={"X-CSRF-Token": loser_csrf})).status == 403
    assert (await loser.post("/agent/api/conversations/k1/close", json={"outcome": "resolved"}, headers={"X-CSRF-Token": loser_csrf})).status == 403


async def test_roles_csrf_and_login(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    await handoff_helpers["add_account"](app, "ana", "analyst")
    await handoff_helpers["add_account"](app, "root", "admin")
    await client.post(URL, json={"sender": "r1", "message": "agent please"})

    # a taxpayer (no console session, even with a valid conversation bearer) cannot use the console API
    sid = await _session(client)
    bearer = {"Authorization": f"Bearer {sid}"}
    assert (await client.get("/agent/api/queue", headers=bearer)).status == 401
    assert (await client.post("/agent/api/conversations/r1/claim", headers=bearer)).status == 401
    assert (await client.get("/agent/api/conversations/r1", headers=bearer)).status == 401
    # ... nor read another taxpayer's handoff or messages
    assert (await client.get("/conversations/r1/messages", headers=bearer)).status == 403
    assert (await client.get(f"/conversations/{app[SIGNER].new_id()}/handoff", headers=bearer)).status == 403

    # wrong password, unknown user: the same answer
    bad = await client.post("/agent/api/login", json={"username": "wang", "password": "nope-nope"})
    unknown = await client.post("/agent/api/login", json={"username": "ghost", "password": "nope-nope"})
    assert bad.status == unknown.status == 401

    # the cookie: HttpOnly, SameSite=Strict, scoped to /agent
    resp = await client.post("/agent/api/login", json={"username": "ana", "password": "agent-password-1"})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/agent" in cookie and "Secure" not in cookie
    csrf = (await resp.json())["csrf_token"]
    # an analyst cannot see the queue, claim or read a conversation; may read aggregate stats
    assert (await client.get("/agent/api/queue")).status == 403
    assert (await client.post("/agent/api/conversations/r1/claim", headers={"X-CSRF-Token": csrf})).status == 403
    assert (await client.get("/agent/api/conversations/r1")).status == 403
    stats = await (await client.get("/agent/api/stats")).json()
    assert stats["events"]["requested"] == 1 and stats["waiting_now"] == 0  # nobody online: offline offer

    # an agent: CSRF header required on state changes
    csrf = await handoff_helpers["login"](client, "wang")
    assert (await client.get("/agent/api/stats")).status == 403
    resp = await client.post("/agent/api/presence", json={"status": "online"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
    resp = await client.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": "forged"})
    assert resp.status == 403
    # the session id changes on login and logout ends it
    resp = await client.post("/agent/api/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await (await client.get("/agent/api/me")).json()) == {"authenticated": False}

    # an admin may read any conversation; a cross-site websocket is refused
    await handoff_helpers["login"](client, "root")
    assert (await client.get("/agent/api/conversations/r1")).status == 200
    resp = await client.get("/agent/ws", headers={"Origin": "https://evil.example"})
    assert resp.status == 403


async def test_console_page_and_knowledge_search(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await _setup(aiohttp_client, make_handoff_app, handoff_helpers)
    resp = await client.get("/agent")
    assert resp.status == 200 and "agent.js" in await resp.text()
    assert (await client.get("/agent/api/knowledge?q=audit")).status == 401
    await handoff_helpers["login"](client, "wang")
    body = await (await client.get("/agent/api/knowledge?q=tax audit inspection")).json()
    assert body["results"][0]["article_id"] == "proc-tax-audit" and body["results"][0]["answer"]
    assert body["results"][0]["source"]["effective_date"]
    # Chinese articles are found in Chinese and shown in Chinese
    body = await (await client.get("/agent/api/knowledge", params={"q": "税务稽查", "lang": "zh"})).json()
    assert body["results"][0]["article_id"] == "proc-tax-audit"
    assert "稽查" in body["results"][0]["title"] and "税务检查" in body["results"][0]["answer"]
    body = await (await client.get("/agent/api/knowledge", params={"q": "灵活就业 社保", "lang": "zh"})).json()
    assert body["results"][0]["article_id"].startswith("social-flexible")
