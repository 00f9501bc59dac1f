"""Handoff through the gateway API, the officers' side: the console websocket and requeue on disconnect,
capacity and presence, double claims, roles, CSRF and login, the console page and knowledge search."""
from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.handoff.policy import HandoffPolicy
from bot.keys import HANDOFF, HANDOFF_REPO, SIGNER
from tests.bot.handoff.flows import URL, online_agent, ref, session, start


async def test_console_websocket_and_disconnect_requeues_with_priority(aiohttp_client, make_handoff_app,
                                                                       handoff_helpers, fake_rasa) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
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
    w1, w2 = ref(app, "w1"), ref(app, "w2")  # the references staff see
    assert (await client.post(f"/agent/api/conversations/{w2}/claim", headers={"X-CSRF-Token": csrf})).status == 200
    await client.post(URL, json={"sender": "w2", "message": "are you there?"})
    while True:
        event = await ws.receive_json(timeout=5)
        if event.get("type") == "conversation":
            break
    assert event["conversation_id"] == w2 and event["message"]["text"] == "are you there?"
    await ws.close()  # the agent's console goes away: after the grace period w2 is first in the queue again
    for _ in range(50):
        waiting = await app[HANDOFF].store.waiting()
        if [w.id for w in waiting] == [w2, w1] and fake_rasa.tracker_events[-1]["event"] == "resume":
            break
        await asyncio.sleep(0.1)
    assert [w.id for w in waiting] == [w2, w1] and waiting[0].priority is True
    assert fake_rasa.tracker_events[-1] == {"conversation_id": w2, "event": "resume", "token": "rasa-test-token"}
    requeued = [e for e in await app[HANDOFF_REPO].events(w2) if e["type"] == "queued"][-1]
    assert requeued["data"]["requeued"] is True


async def test_capacity_presence_and_double_claim(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    policy = replace(HandoffPolicy(), always_open=True, capacity_per_agent=1)
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers, policy=policy)
    await handoff_helpers["add_account"](app, "li", "agent")
    other = await aiohttp_client(client.server)
    csrf = await online_agent(client, handoff_helpers, "wang")
    csrf_li = await handoff_helpers["login"](other, "li")
    for conv in ("k1", "k2"):
        await client.post(URL, json={"sender": conv, "message": "agent please"})
    k1, k2 = ref(app, "k1"), ref(app, "k2")
    # away agents cannot claim
    await other.post("/agent/api/presence", json={"status": "away"}, headers={"X-CSRF-Token": csrf_li})
    resp = await other.post(f"/agent/api/conversations/{k1}/claim", headers={"X-CSRF-Token": csrf_li})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "not_online"
    await other.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf_li})
    results = await asyncio.gather(
        client.post(f"/agent/api/conversations/{k1}/claim", headers={"X-CSRF-Token": csrf}),
        other.post(f"/agent/api/conversations/{k1}/claim", headers={"X-CSRF-Token": csrf_li}),
    )
    assert sorted(r.status for r in results) == [200, 409]
    winner = client if results[0].status == 200 else other
    winner_csrf = csrf if winner is client else csrf_li
    resp = await winner.post(f"/agent/api/conversations/{k2}/claim", headers={"X-CSRF-Token": winner_csrf})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "at_capacity"
    # the loser may not read, write to or close the winner's conversation
    loser, loser_csrf = (other, csrf_li) if winner is client else (client, csrf)
    assert (await loser.get(f"/agent/api/conversations/{k1}")).status == 403
    loser_headers = {"X-CSRF-Token": loser_csrf}
    resp = await loser.post(f"/agent/api/conversations/{k1}/messages", json={"text": "hi"}, headers=loser_headers)
    assert resp.status == 403
    resp = await loser.post(f"/agent/api/conversations/{k1}/close", json={"outcome": "resolved"}, headers=loser_headers)
    assert resp.status == 403


async def test_roles_csrf_and_login(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
    await handoff_helpers["add_account"](app, "ana", "analyst")
    await handoff_helpers["add_account"](app, "root", "admin")
    await client.post(URL, json={"sender": "r1", "message": "agent please"})
    r1 = ref(app, "r1")

    # a taxpayer (no console session, even with a valid conversation bearer) cannot use the console API
    sid = await session(client)
    bearer = {"Authorization": f"Bearer {sid}"}
    assert (await client.get("/agent/api/queue", headers=bearer)).status == 401
    assert (await client.post(f"/agent/api/conversations/{r1}/claim", headers=bearer)).status == 401
    assert (await client.get(f"/agent/api/conversations/{r1}", headers=bearer)).status == 401
    # ... nor read another taxpayer's handoff or messages
    assert (await client.get("/conversations/r1/messages", headers=bearer)).status == 403
    assert (await client.get(f"/conversations/{r1}/messages", headers=bearer)).status == 403
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
    assert (await client.post(f"/agent/api/conversations/{r1}/claim", headers={"X-CSRF-Token": csrf})).status == 403
    assert (await client.get(f"/agent/api/conversations/{r1}")).status == 403
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
    assert (await client.get(f"/agent/api/conversations/{r1}")).status == 200
    resp = await client.get("/agent/ws", headers={"Origin": "https://evil.example"})
    assert resp.status == 403


async def test_console_page_and_knowledge_search(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, client = await start(aiohttp_client, make_handoff_app, handoff_helpers)
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
