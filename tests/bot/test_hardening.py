"""HTTP hardening: security headers, the console cookie, slow clients, write rate limits, ticket pages."""
import asyncio
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.app import create_app
from bot.keys import HANDOFF_REPO, SIGNER
from bot.security import style_hash
from bot.server import start
from bot.settings import Settings

pytestmark = pytest.mark.asyncio

STATIC = Path(__file__).resolve().parents[2] / "bot" / "static"
WEBHOOK = "/webhooks/rest/webhook"


# --------------------------------------------------------------------------- security headers


def _assert_hardened(resp) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "*" not in csp
    assert resp.headers.get("X-Frame-Options") == "DENY"
    assert resp.headers.get("Referrer-Policy") == "no-referrer"
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("path", [
    "/static/index.html", "/agent/", "/agent/analytics/", "/health", "/openapi.yaml", "/i18n.js", "/no/such/page",
])
async def test_every_response_carries_the_security_headers(client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status in (200, 404, 503)
    _assert_hardened(resp)


async def test_redirects_and_errors_carry_them_too(client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302
    _assert_hardened(resp)
    resp = await client.post(WEBHOOK, data=b"{")
    assert resp.status == 400
    _assert_hardened(resp)


async def test_docs_page_allows_exactly_its_own_inline_style(client) -> None:
    resp = await client.get("/docs")
    assert resp.status == 200
    _assert_hardened(resp)
    (css,) = re.findall(r"<style>(.*?)</style>", await resp.text(), re.S)
    assert style_hash(css) in resp.headers["Content-Security-Policy"]


class _InlineFinder(HTMLParser):
    """Collects what a self-only CSP would block in a page: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.blocked.append("inline <script>")
        if tag == "style":
            self.blocked.append("<style> element")
        self.blocked += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]
        if any((value or "").strip().lower().startswith("javascript:") for value in names.values()):
            self.blocked.append(f"{tag} javascript: URL")


@pytest.mark.parametrize("page", sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.html")))
async def test_pages_need_nothing_the_policy_blocks(page: str) -> None:
    finder = _InlineFinder()
    finder.feed((STATIC / page).read_text("utf-8"))
    assert finder.blocked == []


# --------------------------------------------------------------------------- console cookie


@pytest.mark.parametrize("env, secure", [
    ({}, True),
    ({"ENVIRONMENT": "production"}, True),
    ({"ENVIRONMENT": "development"}, False),
    ({"ENVIRONMENT": "development", "SESSION_COOKIE_SECURE": "true"}, True),
    ({"SESSION_COOKIE_SECURE": "false"}, False),
])
async def test_console_cookie_is_secure_outside_development(aiohttp_client, make_handoff_app, handoff_helpers,
                                                             env, secure) -> None:
    app = make_handoff_app(cookie_secure=Settings.from_env(env).cookie_secure)
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "li")
    resp = await client.post("/agent/api/login", json={"username": "li", "password": "agent-password-1"})
    assert resp.status == 200
    cookie = next(c for c in resp.cookies.values() if c.key == "taxguide_agent")
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"] and cookie["samesite"] == "Strict"


async def test_environment_must_be_known() -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match="ENVIRONMENT"):
        Settings.from_env({"ENVIRONMENT": "staging"})


# --------------------------------------------------------------------------- slow clients


@pytest.fixture
async def gateway(make_settings):
    """``await gateway(**settings)``: the gateway on a real socket, served by bot.server; closed afterwards."""
    listeners = []

    async def open_gateway(**overrides):
        settings = make_settings(**overrides)
        listener = await start(create_app(settings), "127.0.0.1", 0, settings.header_timeout, settings.body_timeout,
                               shutdown_timeout=1.0)
        listeners.append(listener)
        return listener

    yield open_gateway
    for listener in listeners:
        await listener.close()


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (a guard of 20 s, not a timing check)."""
    return await asyncio.wait_for(reader.read(), 20)


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await _read_until_closed(reader)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_half_sent_headers_are_cut_off(gateway) -> None:
    listener = await gateway(header_timeout=0.3, body_timeout=0.3)
    assert await _exchange(listener.port, b"GET /openapi.yaml HTTP/1.1\r\nHost: x\r\nX-Slow: 1") == b""


async def test_idle_connection_after_a_response_is_closed(gateway) -> None:
    listener = await gateway(header_timeout=0.3, body_timeout=0.3)
    reply = await _exchange(listener.port, b"GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\nGET /openapi.yaml HT")
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.count(b"HTTP/1.1 ") == 1  # the half request got nothing


async def test_slow_body_gets_408_and_the_connection_closes(gateway, fake_rasa) -> None:
    listener = await gateway(header_timeout=5.0, body_timeout=0.3)
    reply = await _exchange(listener.port, b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"sen")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b'"body_timeout"' in body
    assert fake_rasa.received == []


async def test_prompt_clients_are_served(gateway, fake_rasa) -> None:
    listener = await gateway(header_timeout=5.0, body_timeout=5.0)
    body = b'{"sender": "s", "message": "echo:hi"}'
    reply = await _exchange(listener.port, b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert reply.startswith(b"HTTP/1.1 200 ") and b'"hi"' in reply


# --------------------------------------------------------------------------- write rate limits


def _writes(app, token: str):
    signer = app[SIGNER]
    sid = signer.conversation_id(token) if hasattr(signer, "conversation_id") else token
    return [
        (f"/conversations/{sid}/rating", {"score": 5}),
        (f"/conversations/{sid}/feedback", {"feedback_id": "f1", "helpful": True}),
        (f"/conversations/{sid}/handoff/ticket", {"message": "please call me"}),
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["rating", "feedback", "ticket"])
async def test_writes_are_limited_per_conversation(aiohttp_client, make_handoff_app, which: int) -> None:
    app = make_handoff_app(write_burst=2, write_per_minute=1)
    client = await aiohttp_client(app)
    sid, other = app[SIGNER].new_id(), app[SIGNER].new_id()
    path, body = _writes(app, sid)[which]
    for _ in range(2):
        resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {sid}"})
        assert resp.status != 429
    resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {sid}"})
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) >= 1
    path, body = _writes(app, other)[which]  # another conversation is not affected
    assert (await client.post(path, json=body, headers={"Authorization": f"Bearer {other}"})).status != 429


async def test_writes_are_limited_per_address(aiohttp_client, make_handoff_app) -> None:
    app = make_handoff_app(ip_burst=3, ip_per_minute=1)
    client = await aiohttp_client(app)
    statuses = []
    for _ in range(4):
        sid = app[SIGNER].new_id()  # a fresh conversation each time: only the address is shared
        path, body = _writes(app, sid)[0]
        resp = await client.post(path, json=body, headers={"Authorization": f"Bearer {sid}"})
        statuses.append(resp.status)
    assert statuses[:3] == [201, 201, 201] and statuses[3] == 429


# --------------------------------------------------------------------------- ticket list pages


async def test_ticket_list_is_paginated(aiohttp_client, make_handoff_app, handoff_helpers) -> None:
    app = make_handoff_app()
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "wang")
    await handoff_helpers["login"](client, "wang")
    reply_by = datetime.now(timezone.utc) + timedelta(hours=24)
    ids = [await app[HANDOFF_REPO].add_ticket(f"conv-{i}", f"message {i}", "chat", None, "en", reply_by)
           for i in range(5)]

    seen, after, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&after={after}" if after is not None else "")
        resp = await client.get(f"/agent/api/tickets?{query}")
        assert resp.status == 200
        page = await resp.json()
        assert len(page["tickets"]) <= 2
        seen += [t["id"] for t in page["tickets"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert seen == ids and pages == 3

    everything = await (await client.get("/agent/api/tickets")).json()
    assert [t["id"] for t in everything["tickets"]] == ids and everything["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "after=-1", "after=abc", "after=" + "9" * 5000])
async def test_bad_ticket_page_parameters_are_400(aiohttp_client, make_handoff_app, handoff_helpers, query) -> None:
    app = make_handoff_app()
    client = await aiohttp_client(app)
    await handoff_helpers["add_account"](app, "wang")
    await handoff_helpers["login"](client, "wang")
    resp = await client.get(f"/agent/api/tickets?{query}")
    assert resp.status == 400 and (await resp.json())["error"]["code"] in ("invalid_limit", "invalid_after")


# --------------------------------------------------------------------------- malformed cookies (found by schemathesis)


@pytest.mark.parametrize("path", ["/agent/api/me", "/agent/api/queue", "/agent/analytics/api/dashboard"])
async def test_malformed_cookie_header_is_a_400(aiohttp_client, make_handoff_app, path: str) -> None:
    client = await aiohttp_client(make_handoff_app())
    resp = await client.get(path, headers={"Cookie": "a=b; $=c"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_cookie"
