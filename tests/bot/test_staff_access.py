"""Issue 14 (parts 3 and 4): the taxpayer's credential apart from the id staff see, staff looks audited,
the offline ticket's contact encrypted at rest.

- The session token a taxpayer holds is not the conversation id: the gateway derives the id (an HMAC of the
  token) and staff only ever see that reference, which opens none of the taxpayer's endpoints.
- Every transcript a console user opens and every ticket contact revealed is in the access log (admins).
- The ticket contact is stored encrypted, listed masked, and revealed to agents and admins with a log line;
  contacts stored before migration 0007 are encrypted when the gateway starts (SQLite and PostgreSQL).
"""
from __future__ import annotations

import csv
import io
import uuid
from typing import Any, Dict, List, Tuple

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.migrate import upgrade_head
from bot.keys import ENGINE
from tests.bot.analytics.test_outage import PG_ADMIN_URL

URL = "/webhooks/rest/webhook"
PATIENT = {"connect_timeout": 2.0, "reply_timeout": 5.0}  # the fake Rasa must not lose a race with a busy machine
PHONE = "13800138000"


async def _world(aiohttp_client, make_handoff_app, helpers, **settings: Any) -> Tuple[Any, Any]:
    """An app with the accounts wang (agent), zhao (analyst) and root (admin), and the taxpayer's client."""
    app = make_handoff_app(**PATIENT, **settings)
    taxpayer = await aiohttp_client(app)
    for name, role in (("wang", "agent"), ("zhao", "analyst"), ("root", "admin")):
        await helpers["add_account"](app, name, role)
    return app, taxpayer


async def _staff(aiohttp_client, taxpayer: Any, helpers: Dict[str, Any], name: str) -> Tuple[Any, Dict[str, str]]:
    client = await aiohttp_client(taxpayer.server)  # its own cookie jar
    csrf = await helpers["login"](client, name)
    return client, {"X-CSRF-Token": csrf}


async def _session(client: Any) -> str:
    return (await (await client.post("/sessions")).json())["session_id"]


async def _stored_ids(app: Any) -> List[str]:
    """Every conversation id the database holds, in any table that names one."""
    async with app[ENGINE].connect() as conn:
        ids = [r[0] for r in (await conn.execute(text("SELECT id FROM conversations"))).all()]
        for table in ("messages", "handoff_events", "conversation_ratings", "offline_tickets"):
            ids += [r[0] for r in (await conn.execute(text(f"SELECT conversation_id FROM {table}"))).all()]
    return ids


async def test_the_session_token_is_not_the_conversation_id(aiohttp_client, make_handoff_app, handoff_helpers,
                                                              fake_rasa) -> None:
    app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers)
    agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
    assert (await agent.post("/agent/api/presence", json={"status": "online"}, headers=h)).status == 200
    sid = await _session(taxpayer)
    replies = await (await taxpayer.post(URL, json={"sender": sid, "message": "echo:hello"})).json()
    assert replies == [{"recipient_id": sid, "text": "hello"}]  # Rasa's REST channel: answered to the sender sent
    await taxpayer.post(URL, json={"sender": sid, "message": "agent please"})

    (waiting,) = (await (await agent.get("/agent/api/queue")).json())["waiting"]
    reference = waiting["conversation_id"]
    assert reference != sid and len(reference) == 32
    assert {m["sender"] for m in fake_rasa.received} == {reference}  # Rasa never sees the token either
    stored = await _stored_ids(app)
    assert stored and set(stored) == {reference}
    # the token still opens the taxpayer's own endpoints, with the token or the reference in the path
    bearer = {"Authorization": f"Bearer {sid}"}
    assert (await taxpayer.get(f"/conversations/{sid}/history", headers=bearer)).status == 200
    assert (await taxpayer.get(f"/conversations/{reference}/handoff", headers=bearer)).status == 200


async def test_a_sender_a_rest_client_chose_is_never_shown_to_staff(aiohttp_client, make_handoff_app,
                                                                    handoff_helpers, fake_rasa) -> None:
    app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers)
    agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
    await agent.post("/agent/api/presence", json={"status": "online"}, headers=h)
    chosen = "wang.fang@example.com"  # an unsigned Rasa REST client may send anything as its sender
    replies = await (await taxpayer.post(URL, json={"sender": chosen, "message": "echo:hi"})).json()
    assert replies == [{"recipient_id": chosen, "text": "hi"}]
    await taxpayer.post(URL, json={"sender": chosen, "message": "agent please"})
    (waiting,) = (await (await agent.get("/agent/api/queue")).json())["waiting"]
    assert waiting["conversation_id"] != chosen
    assert chosen not in str(await _stored_ids(app)) and chosen not in fake_rasa.received[-1]["sender"]
    # the same sender keeps its one conversation
    await taxpayer.post(URL, json={"sender": chosen, "message": "are you there?"})
    assert [w["conversation_id"] for w in (await (await agent.get("/agent/api/queue")).json())["waiting"]] == [
        waiting["conversation_id"]]


async def test_references_from_the_csv_export_and_the_queue_open_no_taxpayer_endpoint(
    aiohttp_client, make_handoff_app, handoff_helpers
) -> None:
    app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers)
    rated = await _session(taxpayer)
    bearer = {"Authorization": f"Bearer {rated}"}
    await taxpayer.post(URL, json={"sender": rated, "message": "How do I file?"})
    assert (await taxpayer.post(f"/conversations/{rated}/rating", json={"score": 2}, headers=bearer)).status == 201
    agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
    await agent.post("/agent/api/presence", json={"status": "online"}, headers=h)
    queued = await _session(taxpayer)
    await taxpayer.post(URL, json={"sender": queued, "message": "agent please"})

    analyst, _ = await _staff(aiohttp_client, taxpayer, handoff_helpers, "zhao")
    resp = await analyst.get("/agent/analytics/api/export.csv?section=ratings")
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    from_csv = rows[1][rows[0].index("conversation_id")]
    (waiting,) = (await (await agent.get("/agent/api/queue")).json())["waiting"]
    from_queue = waiting["conversation_id"]
    assert from_csv not in (rated, queued) and from_queue not in (rated, queued)

    for reference in (from_csv, from_queue):
        stolen = {"Authorization": f"Bearer {reference}"}
        calls = [
            ("GET", f"/conversations/{reference}/history", None),
            ("GET", f"/conversations/{reference}/messages", None),
            ("GET", f"/conversations/{reference}/handoff", None),
            ("POST", f"/conversations/{reference}/handoff/cancel", None),
            ("POST", f"/conversations/{reference}/handoff/ticket", {"message": "call me", "contact_method": "chat"}),
            ("POST", f"/conversations/{reference}/rating", {"score": 5}),
            ("POST", f"/conversations/{reference}/feedback", {"feedback_id": "x", "helpful": True}),
        ]
        for method, url, body in calls:
            resp = await taxpayer.request(method, url, json=body, headers=stolen)
            assert resp.status in (401, 403), (url, resp.status, await resp.text())
    # nothing changed: the queued taxpayer still waits, the rating is still 2
    assert [w["conversation_id"] for w in (await (await agent.get("/agent/api/queue")).json())["waiting"]] == [
        from_queue]
    root, _ = await _staff(aiohttp_client, taxpayer, handoff_helpers, "root")
    detail = await (await root.get(f"/agent/analytics/api/conversations/{from_csv}")).json()
    assert detail["rating"]["score"] == 2


async def test_every_transcript_staff_open_is_audit_logged(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers)
    agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
    await agent.post("/agent/api/presence", json={"status": "online"}, headers=h)
    sid = await _session(taxpayer)
    await taxpayer.post(URL, json={"sender": sid, "message": "agent please"})
    (waiting,) = (await (await agent.get("/agent/api/queue")).json())["waiting"]
    reference = waiting["conversation_id"]

    assert (await agent.get(f"/agent/api/conversations/{reference}?reason=deciding+to+claim")).status == 200
    analyst, _ = await _staff(aiohttp_client, taxpayer, handoff_helpers, "zhao")
    assert (await analyst.get(f"/agent/analytics/api/conversations/{reference}")).status == 200
    assert (await analyst.get("/agent/analytics/api/conversations/nothing-here")).status == 404  # nothing seen

    # only an admin reads the log
    assert (await agent.get("/agent/api/audit")).status == 403
    assert (await analyst.get("/agent/api/audit")).status == 403
    root, _ = await _staff(aiohttp_client, taxpayer, handoff_helpers, "root")
    log = (await (await root.get(f"/agent/api/audit?conversation_id={reference}")).json())["access"]
    assert [(e["username"], e["role"], e["action"], e["route"], e["reason"]) for e in log] == [
        ("zhao", "analyst", "transcript", "GET /agent/analytics/api/conversations/{conversation_id}", None),
        ("wang", "agent", "transcript", "GET /agent/api/conversations/{conversation_id}", "deciding to claim"),
    ]
    assert all(e["conversation_id"] == reference and e["time"] for e in log)
    assert sid not in str(log)


async def test_the_ticket_contact_is_encrypted_listed_masked_and_revealed_with_a_log_line(
    aiohttp_client, make_handoff_app, handoff_helpers
) -> None:
    app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers)
    sid = await _session(taxpayer)
    resp = await taxpayer.post(f"/conversations/{sid}/handoff/ticket", headers={"Authorization": f"Bearer {sid}"},
                               json={"message": "Please call me", "contact_method": "phone", "contact": PHONE})
    assert resp.status == 201
    ticket_id = (await resp.json())["ticket_id"]
    async with app[ENGINE].connect() as conn:
        stored = (await conn.execute(text("SELECT contact FROM offline_tickets"))).scalar_one()
    assert PHONE not in stored and "8000" not in stored  # encrypted at rest

    agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
    (ticket,) = (await (await agent.get("/agent/api/tickets")).json())["tickets"]
    assert ticket["contact"] == "***8000"  # the list shows it masked
    analyst, ah = await _staff(aiohttp_client, taxpayer, handoff_helpers, "zhao")
    assert (await analyst.get("/agent/api/tickets")).status == 403
    assert (await analyst.post(f"/agent/api/tickets/{ticket_id}/contact", headers=ah)).status == 403
    assert (await agent.post(f"/agent/api/tickets/{ticket_id}/contact")).status == 403  # CSRF, like every POST

    resp = await agent.post(f"/agent/api/tickets/{ticket_id}/contact?reason=call+back", headers=h)
    assert resp.status == 200
    revealed = await resp.json()
    assert revealed["contact"] == PHONE and revealed["contact_method"] == "phone"
    assert (await agent.post(f"/agent/api/tickets/{ticket_id + 1}/contact", headers=h)).status == 404

    root, _ = await _staff(aiohttp_client, taxpayer, handoff_helpers, "root")
    (entry,) = (await (await root.get("/agent/api/audit")).json())["access"]
    assert (entry["username"], entry["role"], entry["action"], entry["ticket_id"], entry["reason"]) == (
        "wang", "agent", "contact", ticket_id, "call back")
    assert entry["conversation_id"] == revealed["conversation_id"] != sid


async def _database(backend: str, tmp_path: Any, require_service: Any) -> Tuple[str, Any]:
    """A fresh database URL of ``backend`` and a coroutine function dropping it."""
    if backend == "sqlite":
        async def nothing() -> None:
            return None
        return f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}", nothing
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"tg_h7_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(PG_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_contacts_stored_before_the_upgrade_are_encrypted_when_the_gateway_starts(
    aiohttp_client, make_handoff_app, handoff_helpers, require_service, tmp_path, backend
) -> None:
    url, drop = await _database(backend, tmp_path, require_service)
    try:
        engine = create_async_engine(url, future=True)
        await upgrade_head(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO offline_tickets (conversation_id, created_at, message, contact_method, contact, status)"
                " VALUES ('legacy-conv', CURRENT_TIMESTAMP, 'call me', 'phone', :contact, 'open')"
            ), {"contact": PHONE})
        await engine.dispose()

        app, taxpayer = await _world(aiohttp_client, make_handoff_app, handoff_helpers, database_url=url)
        async with app[ENGINE].connect() as conn:
            stored = (await conn.execute(text("SELECT contact FROM offline_tickets"))).scalar_one()
        assert PHONE not in stored
        agent, h = await _staff(aiohttp_client, taxpayer, handoff_helpers, "wang")
        (ticket,) = (await (await agent.get("/agent/api/tickets")).json())["tickets"]
        assert ticket["contact"] == "***8000"
        revealed = await (await agent.post(f"/agent/api/tickets/{ticket['id']}/contact", headers=h)).json()
        assert revealed["contact"] == PHONE
        await taxpayer.close()
    finally:
        await drop()
