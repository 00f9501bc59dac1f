"""Who may call what: every agent-console and analytics endpoint for each kind of caller, one test per
(caller, endpoint), and the CSRF header on every state-changing console call.

Callers: anonymous (no cookie), a taxpayer (the bearer of the very conversation in the queue, no cookie),
and console accounts with the roles that exist (``agent``, ``admin``: the supervisor, ``analyst``).
A refused call answers 401 ``unauthorized`` (no console session) or 403 ``forbidden`` (wrong role) and
changes nothing; an allowed call gets its normal answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import pytest
import yaml

import bot
from bot.keys import SIGNER

URL = "/webhooks/rest/webhook"
PATIENT = {"connect_timeout": 2.0, "reply_timeout": 5.0}  # the fake Rasa must not lose a race with a busy machine
SPEC = Path(bot.__file__).resolve().parent / "openapi.yaml"
CALLERS = ("anonymous", "taxpayer", "agent", "admin", "analyst")
SIGNED_IN = ("agent", "admin", "analyst")
AGENTS = ("agent", "admin")
ADMINS = ("admin",)
ANALYSTS = ("analyst", "admin")
EVERYONE = CALLERS
USERNAME = {"agent": "wang", "admin": "root", "analyst": "zhao"}
DUTY = "duty"  # an admin on duty (online, so handoffs are queued) who also observes the state


@dataclass(frozen=True)
class Endpoint:
    """One console or dashboard endpoint: who may call it and what an allowed caller gets."""

    method: str
    path: str  # {conv}: the reference of a conversation waiting in the queue; {ticket}: an open offline ticket
    allowed: Tuple[str, ...]
    status: int
    body: Optional[Dict[str, Any]] = None
    held: bool = False  # an allowed caller first claims {conv}

    @property
    def route(self) -> str:
        return self.path.split("?")[0].replace("{conv}", "{conversation_id}").replace("{ticket}", "{ticket_id}")

    @property
    def name(self) -> str:
        return f"{self.method} {self.path.split('?')[0]}"


ENDPOINTS = [
    Endpoint("GET", "/agent/api/me", EVERYONE, 200),
    Endpoint("POST", "/agent/api/logout", SIGNED_IN, 200),
    Endpoint("GET", "/agent/api/queue", AGENTS, 200),
    Endpoint("POST", "/agent/api/presence", AGENTS, 200, {"status": "away"}),
    Endpoint("POST", "/agent/api/conversations/{conv}/claim", AGENTS, 200),
    Endpoint("GET", "/agent/api/conversations/{conv}", AGENTS, 200),
    Endpoint("POST", "/agent/api/conversations/{conv}/messages", AGENTS, 201, {"text": "Hello, tax office here."},
             held=True),
    Endpoint("POST", "/agent/api/conversations/{conv}/notes", AGENTS, 201, {"text": "asked about a refund"}, held=True),
    Endpoint("POST", "/agent/api/conversations/{conv}/close", AGENTS, 200, {"outcome": "bot"}, held=True),
    Endpoint("GET", "/agent/api/knowledge?q=audit", AGENTS, 200),
    Endpoint("GET", "/agent/api/tickets", AGENTS, 200),
    Endpoint("POST", "/agent/api/tickets/{ticket}/close", AGENTS, 200),
    Endpoint("POST", "/agent/api/tickets/{ticket}/contact", AGENTS, 200),
    Endpoint("GET", "/agent/api/audit", ADMINS, 200),
    Endpoint("GET", "/agent/api/stats", ANALYSTS, 200),
    Endpoint("GET", "/agent/ws", AGENTS, 101),
    Endpoint("GET", "/agent/analytics/api/dashboard", ANALYSTS, 200),
    Endpoint("GET", "/agent/analytics/api/conversations/{conv}", ANALYSTS, 200),
    Endpoint("GET", "/agent/analytics/api/export.csv?section=summary", ANALYSTS, 200),
]
STATE_CHANGING = [e for e in ENDPOINTS if e.method == "POST"]


class World:
    """A gateway with a conversation waiting in the queue, an open offline ticket, an admin on duty and
    the caller's client (signed in for console roles; an agent's presence is online)."""

    def __init__(self, app: Any, client: Any, duty: Any, sid: str, ticket: int) -> None:
        self.app, self.client, self.duty, self.sid, self.ticket = app, client, duty, sid, ticket
        self.conv = app[SIGNER].conversation_id(sid)  # what the console shows; the taxpayer's token stays theirs
        self.csrf: Optional[str] = None
        self.headers: Dict[str, str] = {}

    def url(self, endpoint: Endpoint) -> str:
        return endpoint.path.format(conv=self.conv, ticket=self.ticket)

    async def call(self, endpoint: Endpoint, headers: Optional[Dict[str, str]] = None) -> Any:
        if headers is None:
            headers = dict(self.headers)
            if self.csrf and endpoint.method == "POST":
                headers["X-CSRF-Token"] = self.csrf
        return await self.client.request(endpoint.method, self.url(endpoint), json=endpoint.body, headers=headers)

    async def state(self) -> Dict[str, Any]:
        """What a refused call must not change, as the admin on duty and the taxpayer see it."""
        bearer = {"Authorization": f"Bearer {self.sid}"}
        queue = await (await self.duty.get("/agent/api/queue")).json()
        detail = await (await self.duty.get(f"/agent/api/conversations/{self.conv}")).json()
        tickets = await (await self.duty.get("/agent/api/tickets?status=all")).json()
        audit = await (await self.duty.get("/agent/api/audit")).json()
        return {
            "handoff": await (await self.client.get(f"/conversations/{self.sid}/handoff", headers=bearer)).json(),
            "waiting": [w["conversation_id"] for w in queue["waiting"]],
            "presence": queue["agents"],
            "transcript": [(m["sender"], m["text"]) for m in detail["transcript"]],
            "notes": detail["notes"],
            "events": [e["type"] for e in detail["events"]],
            "tickets": [(t["id"], t["status"]) for t in tickets["tickets"]],
            "looked": [(a["username"], a["action"]) for a in audit["access"] if a["username"] != DUTY],
            "me": await (await self.client.get("/agent/api/me")).json(),
        }


async def make_world(aiohttp_client, make_handoff_app, helpers, caller: str) -> World:
    app = make_handoff_app(**PATIENT)
    client = await aiohttp_client(app)
    for role, name in USERNAME.items():
        await helpers["add_account"](app, name, role)
    await helpers["add_account"](app, DUTY, "admin")
    duty = await aiohttp_client(client.server)  # its own cookie jar
    duty_csrf = await helpers["login"](duty, DUTY)
    assert (await duty.post("/agent/api/presence", json={"status": "online"},
                            headers={"X-CSRF-Token": duty_csrf})).status == 200

    sid = (await (await client.post("/sessions")).json())["session_id"]
    replies = await (await client.post(URL, json={"sender": sid, "message": "agent please"})).json()
    assert replies[-1]["custom"]["kind"] == "handoff_queued"
    other = (await (await client.post("/sessions")).json())["session_id"]
    resp = await client.post(f"/conversations/{other}/handoff/ticket", json={"message": "Please call me back"},
                             headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 201
    world = World(app, client, duty, sid, (await resp.json())["ticket_id"])

    if caller == "taxpayer":
        world.headers = {"Authorization": f"Bearer {sid}"}
    elif caller in SIGNED_IN:
        world.csrf = await helpers["login"](client, USERNAME[caller])
        if caller in AGENTS:
            resp = await client.post("/agent/api/presence", json={"status": "online"},
                                     headers={"X-CSRF-Token": world.csrf})
            assert resp.status == 200
    return world


MATRIX = [pytest.param(caller, e, id=f"{caller}:{e.name}") for e in ENDPOINTS for caller in CALLERS]


@pytest.mark.parametrize(("caller", "endpoint"), MATRIX)
async def test_role_matrix(aiohttp_client, make_handoff_app, handoff_helpers, caller: str, endpoint: Endpoint) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, caller)
    if caller in endpoint.allowed:
        if endpoint.held:
            claim = Endpoint("POST", "/agent/api/conversations/{conv}/claim", AGENTS, 200)
            assert (await world.call(claim)).status == 200
        if endpoint.status == 101:  # the websocket: upgraded, then the queue snapshot
            ws = await world.client.ws_connect(world.url(endpoint))
            try:
                assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
            finally:
                await ws.close()
            return
        resp = await world.call(endpoint)
        assert resp.status == endpoint.status, await resp.text()
        if endpoint.name == "GET /agent/api/me":
            me = await resp.json()
            assert me["authenticated"] is (caller in SIGNED_IN)
            assert me.get("role") == (caller if caller in SIGNED_IN else None)
        return

    before = await world.state()
    resp = await world.call(endpoint)  # the websocket too: the role is checked before the upgrade
    status, code = (401, "unauthorized") if caller not in SIGNED_IN else (403, "forbidden")
    assert resp.status == status, await resp.text()
    assert (await resp.json())["error"]["code"] == code
    assert await world.state() == before


TOKENS = ("missing", "forged", "another session's")
CSRF_CASES = [pytest.param(e, token, id=f"{token}:{e.name}") for e in STATE_CHANGING for token in TOKENS]


@pytest.mark.parametrize(("endpoint", "token"), CSRF_CASES)
async def test_state_changing_call_without_the_csrf_token_is_refused(
    aiohttp_client, make_handoff_app, handoff_helpers, endpoint: Endpoint, token: str
) -> None:
    world = await make_world(aiohttp_client, make_handoff_app, handoff_helpers, "agent")
    if endpoint.held:
        assert (await world.client.post(f"/agent/api/conversations/{world.conv}/claim",
                                        headers={"X-CSRF-Token": world.csrf})).status == 200
    headers: Dict[str, str] = {}
    if token == "forged":
        headers["X-CSRF-Token"] = "forged-" + (world.csrf or "")[7:]
    elif token == "another session's":  # the admin on duty's, signed in afresh
        headers["X-CSRF-Token"] = await handoff_helpers["login"](world.duty, DUTY)
    before = await world.state()
    resp = await world.call(endpoint, headers=headers)
    assert resp.status == 403, await resp.text()
    assert (await resp.json())["error"]["code"] == "csrf_failed"
    assert await world.state() == before
    resp = await world.call(endpoint)  # the same call with the session's own token goes through
    assert resp.status == endpoint.status, await resp.text()


def test_the_spec_documents_the_same_roles() -> None:
    """openapi.yaml's x-roles of each endpoint are the callers this matrix allows."""
    paths = yaml.safe_load(SPEC.read_text("utf-8"))["paths"]
    for endpoint in ENDPOINTS:
        operation = paths[endpoint.route][endpoint.method.lower()]
        if endpoint.allowed == EVERYONE:
            assert "security" not in operation and "x-roles" not in operation, endpoint.name
        else:
            assert set(operation["x-roles"]) == set(endpoint.allowed), endpoint.name
            schemes = {name for requirement in operation["security"] for name in requirement}
            assert schemes == ({"agentSession", "csrfToken"} if endpoint.method == "POST" else {"agentSession"})
