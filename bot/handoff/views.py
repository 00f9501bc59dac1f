"""HTTP and websocket endpoints of the handoff: the taxpayer's (bearer = session id) and the agent console's.

The console's are cookie-session + CSRF header, roles checked on the server (``auth.require_role``).
Refusals are ``HandoffError``/``ApiError``, answered as JSON by ``bot.errors.error_middleware``.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict
from urllib.parse import urlparse

from aiohttp import WSMsgType, web

from bot.errors import ApiError, dumps
from bot.handoff.audit import record_access
from bot.handoff.auth import AGENT_ROLES, current_user, end_session, require_role, session_check, sign_in
from bot.handoff.console import queue_entry
from bot.handoff.sessions import REVALIDATE_SECONDS
from bot.http import conversation_owner, limit_writes, read_object
from bot.keys import HANDOFF, HANDOFF_REPO, KNOWLEDGE_SEARCH, SETTINGS
from bot.tasks import background
from bot.validation import validate_text

STATIC_AGENT = Path(__file__).resolve().parent.parent / "static" / "agent"
NO_STORE = {"Cache-Control": "no-store"}
KNOWLEDGE_RESULTS = 5
MAX_QUERY_CHARS = 200
MAX_USERNAME_CHARS = 64
TICKET_PAGE, TICKET_PAGE_MAX = 50, 200


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE, dumps=dumps)


def _text(body: Dict[str, Any], request: web.Request, name: str = "text") -> str:
    return validate_text(body.get(name), request.app[SETTINGS].max_message_chars)


# --------------------------------------------------------------------------- taxpayer


#: Row ids are 64-bit integers in SQLite and PostgreSQL (BIGINT); a larger number names no row.
MAX_ID = 2**63 - 1

async def taxpayer_status(request: web.Request) -> web.Response:
    """The handoff state of the bearer's conversation (queue position, expected wait, agent)."""
    return _json(await request.app[HANDOFF].taxpayers.status(conversation_owner(request)))


async def taxpayer_cancel(request: web.Request) -> web.Response:
    """Leave the queue or end the talk with the officer."""
    return _json(await request.app[HANDOFF].taxpayers.cancel(conversation_owner(request)))


async def taxpayer_messages(request: web.Request) -> web.Response:
    """REST polling: agent and handoff messages after the cursor ``after`` (a message id)."""
    conv = conversation_owner(request)
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise ApiError(400, "invalid_cursor", "after must be an integer message id") from None
    if not -MAX_ID <= after <= MAX_ID:
        raise ApiError(400, "invalid_cursor", "after is not a message id")
    return _json(await request.app[HANDOFF].taxpayers.messages(conv, after))


async def taxpayer_ticket(request: web.Request) -> web.Response:
    """Leave a message for the officers (outside service hours or when nobody is online)."""
    conv = conversation_owner(request)
    await limit_writes(request, conv)
    body = await read_object(request)
    message = _text(body, request, "message")
    contact = body.get("contact")
    if contact is not None and not isinstance(contact, str):
        raise ApiError(400, "invalid_contact", "contact must be a string")
    receipt = await request.app[HANDOFF].taxpayers.create_ticket(conv, message, str(body.get("contact_method", "chat")),
                                                                 contact)
    return _json(receipt, status=201)


# --------------------------------------------------------------------------- agent console


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin and urlparse(origin).netloc != request.host:
        raise ApiError(403, "bad_origin", "cross-origin request refused")


async def console_page(request: web.Request) -> web.StreamResponse:
    """The agent console's single page."""
    page = STATIC_AGENT / "index.html"
    if not page.exists():
        raise ApiError(404, "not_found", "the agent console is not installed")
    return web.FileResponse(page, headers=NO_STORE)


async def login(request: web.Request) -> web.Response:
    """Sign in with username and password; answers the user and the session's CSRF token (429 when locked)."""
    _same_origin(request)
    body = await read_object(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username.strip() or not password:
        raise ApiError(400, "invalid_login", "username and password are required")
    if len(username.strip()) > MAX_USERNAME_CHARS:
        raise ApiError(400, "invalid_login", f"a username has at most {MAX_USERNAME_CHARS} characters")
    return _json(await sign_in(request, username.strip(), password))


async def me(request: web.Request) -> web.Response:
    """Who is signed in ({"authenticated": false} when nobody; the console page asks this first)."""
    user = await current_user(request)
    if user is None:
        return _json({"authenticated": False})
    return _json(dict(user, authenticated=True))


@require_role("agent", "analyst", "admin")
async def logout(request: web.Request) -> web.Response:
    """End the session; an officer's conversations go back to the front of the queue."""
    user = request["user"]
    if user["role"] in AGENT_ROLES:
        await request.app[HANDOFF].agents.sign_out(user["username"])
    await end_session(request)
    return _json({"ok": True})


@require_role(*AGENT_ROLES)
async def queue(request: web.Request) -> web.Response:
    """The console snapshot: queue, own conversations, presence."""
    return _json(await request.app[HANDOFF].console.snapshot(request["user"]["username"]))


@require_role(*AGENT_ROLES)
async def presence(request: web.Request) -> web.Response:
    """Set the officer online or away."""
    body = await read_object(request)
    await request.app[HANDOFF].agents.set_presence(request["user"]["username"], str(body.get("status")))
    return _json({"status": body.get("status")})


@require_role(*AGENT_ROLES)
async def claim(request: web.Request) -> web.Response:
    """Take a waiting conversation."""
    user = request["user"]
    record = await request.app[HANDOFF].agents.claim(request.match_info["conversation_id"], user["username"],
                                                     user["display_name"])
    return _json({"claimed": True, "conversation": queue_entry(record)})


@require_role(*AGENT_ROLES)
async def conversation(request: web.Request) -> web.Response:
    """A conversation's handoff, transcript, notes and events (agents: waiting or own; admins: any); logged."""
    user = request["user"]
    conversation_id = request.match_info["conversation_id"]
    detail = await request.app[HANDOFF].console.detail(conversation_id, user["username"],
                                                       user["role"] == "admin", request.app[SETTINGS].history_limit)
    await record_access(request, "transcript", conversation_id=conversation_id)
    return _json(detail)


@require_role(*AGENT_ROLES)
async def send_message(request: web.Request) -> web.Response:
    """Send the officer's message to the taxpayer."""
    body = await read_object(request)
    user = request["user"]
    line = await request.app[HANDOFF].agents.send(request.match_info["conversation_id"], user["username"],
                                                  user["display_name"], _text(body, request))
    return _json(line, status=201)


@require_role(*AGENT_ROLES)
async def add_note(request: web.Request) -> web.Response:
    """Keep an internal note on the officer's conversation."""
    body = await read_object(request)
    note = await request.app[HANDOFF].agents.add_note(request.match_info["conversation_id"],
                                                      request["user"]["username"], _text(body, request))
    return _json(note, status=201)


@require_role(*AGENT_ROLES)
async def close(request: web.Request) -> web.Response:
    """Hand the conversation back to the bot or close it as resolved."""
    body = await read_object(request)
    await request.app[HANDOFF].agents.close(request.match_info["conversation_id"], request["user"]["username"],
                                            str(body.get("outcome")))
    return _json({"closed": True, "outcome": body.get("outcome")})


@require_role(*AGENT_ROLES)
async def knowledge(request: web.Request) -> web.Response:
    """Search the knowledge base for a reply (``q``, ``lang`` zh or en)."""
    query = request.query.get("q", "").strip()[:MAX_QUERY_CHARS]
    language = "zh" if request.query.get("lang") == "zh" else "en"
    search = request.app[KNOWLEDGE_SEARCH]
    results = await asyncio.get_running_loop().run_in_executor(None, search.search, query, language,
                                                               KNOWLEDGE_RESULTS)
    return _json({"query": query, "results": results})


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if len(raw) <= 20 else high + 1
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"invalid_{name}", f"{name} must be from {low} to {high}")
    return value


@require_role(*AGENT_ROLES)
async def tickets(request: web.Request) -> web.Response:
    """One page of offline messages, oldest first (``status`` open by default, or closed, or all).

    ``limit`` (1..TICKET_PAGE_MAX, default TICKET_PAGE) per page; ``after`` the previous page's ``next``.
    """
    status = request.query.get("status", "open")
    limit = _query_int(request, "limit", TICKET_PAGE, 1, TICKET_PAGE_MAX)
    after = _query_int(request, "after", 0, 0, MAX_ID)
    rows = await request.app[HANDOFF_REPO].tickets(None if status == "all" else status, after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return _json({"tickets": page, "next": page[-1]["id"] if more else None})


def _ticket_id(request: web.Request) -> int:
    try:
        ticket_id = int(request.match_info["ticket_id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such ticket") from None
    if not 0 < ticket_id <= MAX_ID:
        raise ApiError(404, "not_found", "no such ticket")
    return ticket_id


@require_role(*AGENT_ROLES)
async def close_ticket(request: web.Request) -> web.Response:
    """Mark an offline message answered."""
    await request.app[HANDOFF].agents.close_ticket(_ticket_id(request), request["user"]["username"])
    return _json({"closed": True})


@require_role(*AGENT_ROLES)
async def reveal_contact(request: web.Request) -> web.Response:
    """The contact an offline message left, in clear (the list shows it masked); logged."""
    ticket_id = _ticket_id(request)
    found = await request.app[HANDOFF_REPO].ticket_contact(ticket_id)
    if found is None:
        raise ApiError(404, "not_found", "no such ticket")
    await record_access(request, "contact", conversation_id=found["conversation_id"], ticket_id=ticket_id)
    return _json(found)


@require_role("admin")
async def audit_log(request: web.Request) -> web.Response:
    """The staff access log, newest first (``conversation_id``, ``username``, ``limit`` up to 1000)."""
    try:
        limit = int(request.query.get("limit", "200"))
    except ValueError:
        raise ApiError(400, "invalid_limit", "limit must be an integer from 1 to 1000") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_limit", "limit must be an integer from 1 to 1000")
    rows = await request.app[HANDOFF_REPO].access_log(request.query.get("conversation_id") or None,
                                                      request.query.get("username") or None, limit)
    return _json({"access": rows})


@require_role("analyst", "admin")
async def stats(request: web.Request) -> web.Response:
    """Aggregate handoff figures (no conversation content)."""
    return _json(await request.app[HANDOFF].console.stats())


@require_role(*AGENT_ROLES)
async def console_socket(request: web.Request) -> web.WebSocketResponse:
    """Live queue and conversation updates for one console tab; its heartbeat is the agent's presence.

    The socket re-checks its session every ``REVALIDATE_SECONDS`` and closes (4401) once it has ended.
    """
    _same_origin(request)
    console = request.app[HANDOFF].console
    agent = request["user"]["username"]
    alive = await session_check(request)
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    async with console.attached(agent, ws), background(console.close_when_ended(ws, alive, REVALIDATE_SECONDS)):
        await ws.send_json(await console.snapshot(agent))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                reply = await console.receive(agent, msg.data)
                if reply is not None:
                    await ws.send_json(reply)
    return ws


def setup_handoff_routes(app: web.Application) -> None:
    """Add the taxpayer's and the console's routes (and the console's static files)."""
    r = app.router
    r.add_get("/conversations/{conversation_id}/handoff", taxpayer_status)
    r.add_post("/conversations/{conversation_id}/handoff/cancel", taxpayer_cancel)
    r.add_post("/conversations/{conversation_id}/handoff/ticket", taxpayer_ticket)
    r.add_get("/conversations/{conversation_id}/messages", taxpayer_messages)
    r.add_get("/agent", console_page)
    r.add_get("/agent/", console_page)
    r.add_get("/agent/ws", console_socket)
    r.add_post("/agent/api/login", login)
    r.add_post("/agent/api/logout", logout)
    r.add_get("/agent/api/me", me)
    r.add_get("/agent/api/queue", queue)
    r.add_post("/agent/api/presence", presence)
    r.add_post("/agent/api/conversations/{conversation_id}/claim", claim)
    r.add_get("/agent/api/conversations/{conversation_id}", conversation)
    r.add_post("/agent/api/conversations/{conversation_id}/messages", send_message)
    r.add_post("/agent/api/conversations/{conversation_id}/notes", add_note)
    r.add_post("/agent/api/conversations/{conversation_id}/close", close)
    r.add_get("/agent/api/knowledge", knowledge)
    r.add_get("/agent/api/tickets", tickets)
    r.add_post("/agent/api/tickets/{ticket_id}/close", close_ticket)
    r.add_post("/agent/api/tickets/{ticket_id}/contact", reveal_contact)
    r.add_get("/agent/api/audit", audit_log)
    r.add_get("/agent/api/stats", stats)
    if STATIC_AGENT.is_dir():
        r.add_static("/agent/static/", STATIC_AGENT, show_index=False, follow_symlinks=False)
