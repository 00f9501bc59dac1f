"""Bad input to the agent console, the analyst dashboard and the taxpayer's handoff endpoints: per endpoint a
table of cases, each with the status and JSON error code a client sees, and a check that nothing changed
(queue, presence, transcript, notes, handoff events, tickets, the session)."""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Dict, Optional

import pytest

from bot.keys import SIGNER

URL = "/webhooks/rest/webhook"
PATIENT = {"connect_timeout": 2.0, "reply_timeout": 5.0}  # the fake Rasa must not lose a race with a busy machine
PASSWORD = "agent-password-1"  # what tests/bot/conftest.py's add_account gives every account
EVIL = "https://evil.example"


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class World:
    """A gateway with a conversation waiting in the queue (``sid``), an admin on duty (online, so handoffs
    queue; it also observes the state) and the caller's client."""

    def __init__(self, app: Any, client: Any, duty: Any, sid: str) -> None:
        self.app, self.client, self.duty, self.sid = app, client, duty, sid
        self.conv = app[SIGNER].conversation_id(sid)  # the reference the console uses
        self.csrf: Optional[str] = None

    async def post(self, url: str, body: Optional[bytes] = None, **headers: str) -> Any:
        sent = {"Content-Type": "application/json", **headers}
        if self.csrf:
            sent["X-CSRF-Token"] = self.csrf
        return await self.client.post(url, data=body, headers=sent)

    async def state(self) -> Dict[str, Any]:
        """Everything a refused request must leave as it was."""
        bearer = {"Authorization": f"Bearer {self.sid}"}
        queue = await (await self.duty.get("/agent/api/queue")).json()
        detail = await (await self.duty.get(f"/agent/api/conversations/{self.conv}")).json()
        tickets = await (await self.duty.get("/agent/api/tickets?status=all")).json()
        polled = await (await self.client.get(f"/conversations/{self.sid}/messages", headers=bearer)).json()
        return {
            "waiting": [w["conversation_id"] for w in queue["waiting"]],
            "presence": queue["agents"],
            "handoff": polled["handoff"],
            "polled": [(m["sender"], m["text"]) for m in polled["messages"]],
            "transcript": [(m["sender"], m["text"]) for m in detail["transcript"]],
            "notes": detail["notes"],
            "events": [e["type"] for e in detail["events"]],
            "tickets": [(t["id"], t["status"]) for t in tickets["tickets"]],
            "me": await (await self.client.get("/agent/api/me")).json(),
        }


async def make_world(aiohttp_client, make_handoff_app, helpers, caller: str = "agent", held: bool = False,
                     policy: Any = None, online: bool = True) -> World:
    app = make_handoff_app(policy=policy, **PATIENT)
    client = await aiohttp_client(app)
    for name, role in (("wang", "agent"), ("li", "agent"), ("zhao", "analyst"), ("duty", "admin")):
        await helpers["add_account"](app, name, role)
    duty = await aiohttp_client(client.server)  # its own cookie jar
    duty_csrf = await helpers["login"](duty, "duty")
    await duty.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": duty_csrf})
    sid = (await (await client.post("/sessions")).json())["session_id"]
    replies = await (await client.post(URL, json={"sender": sid, "message": "agent please"})).json()
    assert replies[-1]["custom"]["kind"] == "handoff_queued"
    world = World(app, client, duty, sid)
    if caller == "agent":
        world.csrf = await helpers["login"](client, "wang")
        if online:
            assert (await world.post("/agent/api/presence", _json({"status": "online"}))).status == 200
        if held:
            assert (await world.post(f"/agent/api/conversations/{world.conv}/claim")).status == 200
    elif caller == "analyst":
        await helpers["login"](client, "zhao")
    return world


async def other_agent(aiohttp_client, world: World, helpers) -> Any:
    """Agent li, online, on a client of its own; returns (client, csrf)."""
    li = await aiohttp_client(world.client.server)
    csrf = await helpers["login"](li, "li")
    resp = await li.post("/agent/api/presence", json={"status": "online"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    return li, csrf


async def refused(resp: Any, status: int, code: str) -> None:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"], text


# --------------------------------------------------------------------------- any JSON body

BODIES = [
    pytest.param(b"", 400, "empty_body", id="empty"),
    pytest.param(b'{"status": ', 400, "malformed_json", id="malformed"),
    pytest.param(b'{"text": "\xff\xfe"}', 400, "invalid_encoding", id="not-utf8"),
    pytest.param(b'["online"]', 400, "invalid_type", id="array"),
    pytest.param(b'{"text": "' + b"x" * 70_000 + b'"}', 413, "payload_too_large", id="over-64KiB"),
]
BODY_ENDPOINTS = [
    pytest.param("anonymous", False, "/agent/api/login", id="login"),
    pytest.param("agent", False, "/agent/api/presence", id="presence"),
    pytest.param("agent", True, "/agent/api/conversations/{conv}/messages", id="messages"),
    pytest.param("agent", True, "/agent/api/conversations/{conv}/notes", id="notes"),
    pytest.param("agent", True, "/agent/api/conversations/{conv}/close", id="close"),
    pytest.param("taxpayer", False, "/conversations/{sid}/handoff/ticket", id="taxpayer-ticket"),
]


@pytest.mark.parametrize(("caller", "held", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(("body", "status", "code"), BODIES)
async def test_a_body_that_is_not_a_json_object(aiohttp_client, make_handoff_app, handoff_helpers, caller, held, path,
                                                body, status, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, caller, held=held)
    bearer = {"Authorization": f"Bearer {world.sid}"} if caller == "taxpayer" else {}
    before = await world.state()
    await refused(await world.post(path.format(sid=world.sid, conv=world.conv), body, **bearer), status, code)
    assert await world.state() == before


async def test_deeply_nested_json_is_malformed(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, held=True)
    before = await world.state()
    body = b'{"text": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    await refused(await world.post(f"/agent/api/conversations/{world.conv}/messages", body), 400, "malformed_json")
    assert await world.state() == before


# --------------------------------------------------------------------------- login


@pytest.mark.parametrize(("body", "origin", "status", "code"), [
    pytest.param({"username": "wang"}, None, 400, "invalid_login", id="no-password"),
    pytest.param({"password": PASSWORD}, None, 400, "invalid_login", id="no-username"),
    pytest.param({"username": 7, "password": PASSWORD}, None, 400, "invalid_login", id="username-number"),
    pytest.param({"username": "wang", "password": [PASSWORD]}, None, 400, "invalid_login", id="password-list"),
    pytest.param({"username": "", "password": PASSWORD}, None, 400, "invalid_login", id="username-empty"),
    pytest.param({"username": "wang", "password": None}, None, 400, "invalid_login", id="password-null"),
    pytest.param({"username": "wang", "password": "wrong-password"}, None, 401, "invalid_login", id="wrong-password"),
    pytest.param({"username": "w" * 1000, "password": "p" * 1000}, None, 400, "invalid_login", id="over-long"),
    pytest.param({"username": "wang", "password": PASSWORD}, EVIL, 403, "bad_origin", id="cross-origin"),
    pytest.param({"username": "wang", "password": PASSWORD}, "null", 403, "bad_origin", id="opaque-origin"),
])
async def test_login(aiohttp_client, make_handoff_app, handoff_helpers, body, origin, status, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "anonymous")
    before = await world.state()
    resp = await world.post("/agent/api/login", _json(body), **({"Origin": origin} if origin else {}))
    await refused(resp, status, code)
    assert "Set-Cookie" not in resp.headers
    assert await world.state() == before  # still signed out


async def test_login_from_the_same_origin_works(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "anonymous")
    origin = f"http://{world.client.server.host}:{world.client.server.port}"
    resp = await world.post("/agent/api/login", _json({"username": "wang", "password": PASSWORD}), Origin=origin)
    assert resp.status == 200 and (await (await world.client.get("/agent/api/me")).json())["authenticated"] is True


async def test_console_socket_from_another_origin(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, online=False)
    before = await world.state()  # wang has no presence yet: a console that connected would make it online
    await refused(await world.client.get("/agent/ws", headers={"Origin": EVIL}), 403, "bad_origin")
    assert await world.state() == before


# --------------------------------------------------------------------------- presence


@pytest.mark.parametrize("body", [
    pytest.param({"status": "busy"}, id="unknown"),
    pytest.param({"status": "ONLINE"}, id="upper-case"),
    pytest.param({"status": " online"}, id="padded"),
    pytest.param({"status": None}, id="null"),
    pytest.param({}, id="missing"),
    pytest.param({"status": ["online"]}, id="list"),
    pytest.param({"status": True}, id="boolean"),
    pytest.param({"status": "online" * 1000}, id="over-long"),
])
async def test_presence(aiohttp_client, make_handoff_app, handoff_helpers, body) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    before = await world.state()
    await refused(await world.post("/agent/api/presence", _json(body)), 400, "invalid_presence")
    assert await world.state() == before and before["presence"]["wang"] == "online"


# --------------------------------------------------------------------------- claim and read


@pytest.mark.parametrize(("case", "status", "code"), [
    pytest.param("unknown", 409, "not_waiting", id="unknown-conversation"),
    pytest.param("over-long", 409, "not_waiting", id="over-long-id"),
    pytest.param("away", 409, "not_online", id="caller-away"),
    pytest.param("taken", 409, "already_claimed", id="claimed-by-another"),
    pytest.param("full", 409, "at_capacity", id="caller-at-capacity"),
])
async def test_claim(aiohttp_client, make_handoff_app, handoff_helpers, handoff_policy, case, status, code) -> None:
    policy = replace(handoff_policy, capacity_per_agent=1) if case == "full" else None
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, policy=policy)
    conv = {"unknown": "no-such-conversation", "over-long": "x" * 5000}.get(case, world.conv)
    if case == "away":
        assert (await world.post("/agent/api/presence", _json({"status": "away"}))).status == 200
    elif case == "taken":
        li, csrf = await other_agent(aiohttp_client, world, handoff_helpers)
        assert (await li.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})).status == 200
    elif case == "full":
        await world.client.post(URL, json={"sender": "first", "message": "agent please"})
        first = world.app[SIGNER].conversation_id("first")
        assert (await world.post(f"/agent/api/conversations/{first}/claim")).status == 200
    before = await world.state()
    await refused(await world.post(f"/agent/api/conversations/{conv}/claim"), status, code)
    assert await world.state() == before  # the queue (and who holds what) unchanged


@pytest.mark.parametrize(("case", "status", "code"), [
    pytest.param("unknown", 404, "not_found", id="unknown-conversation"),
    pytest.param("taken", 403, "forbidden", id="another-agents-conversation"),
])
async def test_read_conversation(aiohttp_client, make_handoff_app, handoff_helpers, case, status, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    conv = world.conv
    if case == "unknown":
        conv = "no-such-conversation"
    else:
        li, csrf = await other_agent(aiohttp_client, world, handoff_helpers)
        assert (await li.post(f"/agent/api/conversations/{conv}/claim", headers={"X-CSRF-Token": csrf})).status == 200
    await refused(await world.client.get(f"/agent/api/conversations/{conv}"), status, code)


# --------------------------------------------------------------------------- messages and notes

TEXTS = [
    pytest.param({}, 400, "invalid_type", id="missing"),
    pytest.param({"message": "hello"}, 400, "invalid_type", id="wrong-field"),
    pytest.param({"text": 5}, 400, "invalid_type", id="number"),
    pytest.param({"text": None}, 400, "invalid_type", id="null"),
    pytest.param({"text": ""}, 400, "empty_message", id="empty"),
    pytest.param({"text": " \n\t\u3000 "}, 400, "empty_message", id="blank"),
    pytest.param({"text": "nul \u0000 byte"}, 400, "invalid_message", id="control-character"),
    pytest.param({"text": "\u001b[31mred"}, 400, "invalid_message", id="escape-sequence"),
    pytest.param({"text": "x" * 2001}, 400, "message_too_long", id="over-2000-characters"),
]
NOT_HELD = [
    pytest.param("queued", 409, "not_claimed", id="still-queued"),
    pytest.param("taken", 403, "forbidden", id="another-agents-conversation"),
]


async def _not_held(aiohttp_client, make_handoff_app, handoff_helpers, case: str) -> World:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    if case == "taken":
        li, csrf = await other_agent(aiohttp_client, world, handoff_helpers)
        assert (await li.post(f"/agent/api/conversations/{world.conv}/claim",
                              headers={"X-CSRF-Token": csrf})).status == 200
    return world


@pytest.mark.parametrize("kind", ["messages", "notes"])
@pytest.mark.parametrize(("body", "status", "code"), TEXTS)
async def test_message_and_note_text(aiohttp_client, make_handoff_app, handoff_helpers, kind, body, status,
                                     code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, held=True)
    before = await world.state()
    await refused(await world.post(f"/agent/api/conversations/{world.conv}/{kind}", _json(body)), status, code)
    assert await world.state() == before  # nothing sent to the taxpayer, no note


@pytest.mark.parametrize("kind", ["messages", "notes"])
@pytest.mark.parametrize(("case", "status", "code"), NOT_HELD)
async def test_message_and_note_to_a_conversation_not_held(aiohttp_client, make_handoff_app, handoff_helpers, kind,
                                                           case, status, code) -> None:
    world = await _not_held(aiohttp_client, make_handoff_app, handoff_helpers, case)
    before = await world.state()
    resp = await world.post(f"/agent/api/conversations/{world.conv}/{kind}", _json({"text": "Hello"}))
    await refused(resp, status, code)
    assert await world.state() == before


async def test_message_of_exactly_2000_characters_is_sent(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, held=True)
    resp = await world.post(f"/agent/api/conversations/{world.conv}/messages", _json({"text": "税" * 2000}))
    assert resp.status == 201
    assert (await world.state())["polled"][-1] == ("agent", "税" * 2000)


# --------------------------------------------------------------------------- close


@pytest.mark.parametrize("body", [
    pytest.param({}, id="missing"),
    pytest.param({"outcome": "done"}, id="unknown"),
    pytest.param({"outcome": "BOT"}, id="upper-case"),
    pytest.param({"outcome": "resolved "}, id="padded"),
    pytest.param({"outcome": None}, id="null"),
    pytest.param({"outcome": 1}, id="number"),
    pytest.param({"outcome": ["bot"]}, id="list"),
])
async def test_close_outcome(aiohttp_client, make_handoff_app, handoff_helpers, body) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, held=True)
    before = await world.state()
    await refused(await world.post(f"/agent/api/conversations/{world.conv}/close", _json(body)), 400, "invalid_outcome")
    after = await world.state()
    assert after == before and after["handoff"]["status"] == "claimed"  # still with the agent, Rasa still paused


@pytest.mark.parametrize(("case", "status", "code"), NOT_HELD)
async def test_close_a_conversation_not_held(aiohttp_client, make_handoff_app, handoff_helpers, case, status,
                                             code) -> None:
    world = await _not_held(aiohttp_client, make_handoff_app, handoff_helpers, case)
    before = await world.state()
    resp = await world.post(f"/agent/api/conversations/{world.conv}/close", _json({"outcome": "resolved"}))
    await refused(resp, status, code)
    assert await world.state() == before


# --------------------------------------------------------------------------- offline tickets (agent side)


async def _ticket(world: World) -> int:
    other = (await (await world.client.post("/sessions")).json())["session_id"]
    resp = await world.client.post(f"/conversations/{other}/handoff/ticket", json={"message": "Please call me back"},
                                   headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 201
    return (await resp.json())["ticket_id"]


@pytest.mark.parametrize(("ticket_id", "status", "code"), [
    pytest.param("abc", 404, "not_found", id="not-a-number"),
    pytest.param("1.5", 404, "not_found", id="fraction"),
    pytest.param("999999", 409, "not_open", id="unknown"),
    pytest.param("-1", 404, "not_found", id="negative"),
    pytest.param("closed", 409, "not_open", id="already-closed"),
])
async def test_close_ticket(aiohttp_client, make_handoff_app, handoff_helpers, ticket_id, status, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    ticket = await _ticket(world)
    if ticket_id == "closed":
        assert (await world.post(f"/agent/api/tickets/{ticket}/close")).status == 200
        ticket_id = str(ticket)
    before = await world.state()
    await refused(await world.post(f"/agent/api/tickets/{ticket_id}/close"), status, code)
    assert await world.state() == before


async def test_close_ticket_with_an_id_beyond_64_bits(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    await _ticket(world)
    before = await world.state()
    resp = await world.post(f"/agent/api/tickets/{10 ** 22}/close")
    assert (resp.status, (await resp.json())["error"]["code"]) in ((404, "not_found"), (409, "not_open"))
    assert await world.state() == before


# --------------------------------------------------------------------------- knowledge search


async def test_knowledge_query_is_cut_to_200_characters(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers)
    resp = await world.client.get("/agent/api/knowledge", params={"q": "audit " * 1000, "lang": "xx"})
    assert resp.status == 200
    assert len((await resp.json())["query"]) <= 200


# --------------------------------------------------------------------------- analytics

PERIODS = [
    pytest.param("from=2026-13-01", 400, "invalid_date", id="month-13"),
    pytest.param("to=2026-02-30", 400, "invalid_date", id="february-30"),
    pytest.param("from=01/02/2026", 400, "invalid_date", id="not-iso"),
    pytest.param("from=2026-03-01&to=2026-02-01", 400, "invalid_range", id="from-after-to"),
    pytest.param("from=2024-01-01&to=2025-01-01", 400, "invalid_range", id="367-days"),
]
EDGE_OF_CALENDAR = [
    pytest.param("to=0001-01-01", id="first-day-default-from"),
    pytest.param("from=0001-01-01&to=0001-01-02", id="first-day"),
    pytest.param("from=9999-12-30&to=9999-12-31", id="last-day"),
]
DASHBOARD = ["/agent/analytics/api/dashboard", "/agent/analytics/api/export.csv?section=summary"]


@pytest.mark.parametrize("path", DASHBOARD, ids=["dashboard", "export"])
@pytest.mark.parametrize(("query", "status", "code"), PERIODS)
async def test_dashboard_period(aiohttp_client, make_handoff_app, handoff_helpers, path, query, status, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "analyst")
    await refused(await world.client.get(f"{path}{'&' if '?' in path else '?'}{query}"), status, code)


@pytest.mark.parametrize("path", DASHBOARD, ids=["dashboard", "export"])
async def test_dashboard_period_of_366_days_is_accepted(aiohttp_client, make_handoff_app, handoff_helpers,
                                                        path) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "analyst")
    resp = await world.client.get(f"{path}{'&' if '?' in path else '?'}from=2024-01-01&to=2024-12-31")
    assert resp.status == 200


@pytest.mark.parametrize("path", DASHBOARD, ids=["dashboard", "export"])
@pytest.mark.parametrize("query", EDGE_OF_CALENDAR)
async def test_dashboard_period_at_the_edge_of_the_calendar(aiohttp_client, make_handoff_app, handoff_helpers, path,
                                                            query) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "analyst")
    resp = await world.client.get(f"{path}{'&' if '?' in path else '?'}{query}")
    assert resp.status == 400 and (await resp.json())["error"]["code"] in ("invalid_date", "invalid_range")


@pytest.mark.parametrize("section", ["bogus", "SUMMARY", "summary "])
async def test_export_section(aiohttp_client, make_handoff_app, handoff_helpers, section) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "analyst")
    resp = await world.client.get("/agent/analytics/api/export.csv", params={"section": section})
    await refused(resp, 400, "invalid_section")


async def test_analytics_unknown_conversation(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "analyst")
    await refused(await world.client.get("/agent/analytics/api/conversations/no-such-conversation"), 404, "not_found")


# --------------------------------------------------------------------------- taxpayer: polling and tickets


@pytest.mark.parametrize("after", ["abc", "1.5", "", "1e3", "0x10"])
async def test_poll_cursor(aiohttp_client, make_handoff_app, handoff_helpers, after) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "taxpayer")
    resp = await world.client.get(f"/conversations/{world.sid}/messages", params={"after": after},
                                  headers={"Authorization": f"Bearer {world.sid}"})
    await refused(resp, 400, "invalid_cursor")


async def test_poll_negative_cursor_means_from_the_start(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "taxpayer")
    resp = await world.client.get(f"/conversations/{world.sid}/messages?after=-5",
                                  headers={"Authorization": f"Bearer {world.sid}"})
    assert resp.status == 200 and (await resp.json())["cursor"] == 0


async def test_poll_cursor_beyond_64_bits(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "taxpayer")
    resp = await world.client.get(f"/conversations/{world.sid}/messages?after={10 ** 22}",
                                  headers={"Authorization": f"Bearer {world.sid}"})
    await refused(resp, 400, "invalid_cursor")


@pytest.mark.parametrize(("body", "code"), [
    pytest.param({"message": "Call me", "contact_method": "fax"}, "invalid_contact_method", id="method-unknown"),
    pytest.param({"message": "Call me", "contact_method": "PHONE", "contact": "13800138000"}, "invalid_contact_method",
                 id="method-upper-case"),
    pytest.param({"message": "Call me", "contact_method": None}, "invalid_contact_method", id="method-null"),
    pytest.param({"message": "Call me", "contact_method": ["phone"], "contact": "13800138000"},
                 "invalid_contact_method", id="method-list"),
    pytest.param({"message": "Call me", "contact_method": "phone"}, "missing_contact", id="phone-without-number"),
    pytest.param({"message": "Mail me", "contact_method": "email", "contact": "   "}, "missing_contact",
                 id="email-blank"),
    pytest.param({"message": "Call me", "contact_method": "phone", "contact": 13800138000}, "invalid_contact",
                 id="contact-number"),
    pytest.param({"contact_method": "chat"}, "invalid_type", id="message-missing"),
    pytest.param({"message": "  "}, "empty_message", id="message-blank"),
    pytest.param({"message": "nul \u0000"}, "invalid_message", id="message-control-character"),
    pytest.param({"message": "x" * 2001}, "message_too_long", id="message-over-2000-characters"),
])
async def test_taxpayer_ticket(aiohttp_client, make_handoff_app, handoff_helpers, body, code) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "taxpayer")
    before = await world.state()
    resp = await world.post(f"/conversations/{world.sid}/handoff/ticket", _json(body),
                            Authorization=f"Bearer {world.sid}")
    await refused(resp, 400, code)
    assert await world.state() == before  # no ticket, nothing in the transcript
