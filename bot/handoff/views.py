"""HTTP and websocket endpoints of the handoff: the taxpayer's (bearer = session id) and the
agent console's (cookie session + CSRF header, roles checked on the server)."""
from __future__ import annotations

import asyncio
import hmac
import logging
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlparse

from aiohttp import WSMsgType, web

from bot.errors import ApiError, dumps
from bot.handoff.auth import AGENT_ROLES, check_password_async, current_user, login_session, require_role
from bot.handoff.manager import HandoffError
from bot.keys import HANDOFF, HANDOFF_REPO, KNOWLEDGE_SEARCH, SERVICE, SETTINGS, SIGNER
from bot.validation import decode_json_body, validate_text

log = logging.getLogger(__name__)
STATIC_AGENT = Path(__file__).resolve().parent.parent / "static" / "agent"
NO_STORE = {"Cache-Control": "no-store"}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE, dumps=dumps)


async def _body(request: web.Request) -> Dict[str, Any]:
    data = decode_json_body(await request.read())
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    return data


def _raise(exc: HandoffError) -> None:
    raise ApiError(exc.status, exc.code, exc.message) from None


# --------------------------------------------------------------------------- taxpayer


def _owner(request: web.Request) -> str:
    """The conversation id, when the bearer holds exactly that signed session id."""
    conversation_id = request.match_info["conversation_id"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <session_id>'")
    token = token.strip()
    if not request.app[SIGNER].is_valid(token) or not hmac.compare_digest(token.encode(), conversation_id.encode()):
        raise ApiError(403, "forbidden", "this session may not access that conversation")
    return conversation_id


async def taxpayer_status(request: web.Request) -> web.Response:
    """The handoff state of the bearer's conversation (queue position, expected wait, agent)."""
    return _json(await request.app[HANDOFF].status(_owner(request)))


async def taxpayer_cancel(request: web.Request) -> web.Response:
    conv = _owner(request)
    message = await request.app[HANDOFF].cancel(conv)
    return _json(message)


async def taxpayer_messages(request: web.Request) -> web.Response:
    """REST polling: agent and handoff messages after the cursor ``after`` (a message id)."""
    conv = _owner(request)
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise ApiError(400, "invalid_cursor", "after must be an integer message id") from None
    messages = await request.app[SERVICE].transcripts.since(conv, max(0, after), ("agent", "system"))
    cursor = messages[-1]["id"] if messages else max(0, after)
    status = await request.app[HANDOFF].status(conv)
    return _json({"messages": messages, "cursor": cursor, "handoff": status})


async def taxpayer_ticket(request: web.Request) -> web.Response:
    """Leave a message for the officers (outside service hours or when nobody is online)."""
    conv = _owner(request)
    body = await _body(request)
    text = validate_text(body.get("message"), request.app[SETTINGS].max_message_chars)
    method = body.get("contact_method", "chat")
    contact = body.get("contact")
    if contact is not None and not isinstance(contact, str):
        raise ApiError(400, "invalid_contact", "contact must be a string")
    try:
        result = await request.app[HANDOFF].create_ticket(conv, text, str(method), contact)
    except HandoffError as exc:
        _raise(exc)
    return _json(result, status=201)


# --------------------------------------------------------------------------- agent console


def _same_origin(request: web.Request) -> None:
    origin = request.headers.get("Origin")
    if origin and urlparse(origin).netloc != request.host:
        raise ApiError(403, "bad_origin", "cross-origin request refused")


async def console_page(request: web.Request) -> web.StreamResponse:
    page = STATIC_AGENT / "index.html"
    if not page.exists():
        raise ApiError(404, "not_found", "the agent console is not installed")
    return web.FileResponse(page, headers={"Cache-Control": "no-store"})


async def login(request: web.Request) -> web.Response:
    _same_origin(request)
    body = await _body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise ApiError(400, "invalid_login", "username and password are required")
    account = await request.app[HANDOFF_REPO].account(username.strip())
    ok = await check_password_async(password, account["password_hash"] if account else None)
    if not ok or not account or not account["active"]:
        raise ApiError(401, "invalid_login", "wrong username or password")
    return _json(await login_session(request, account))


async def me(request: web.Request) -> web.Response:
    """Who is signed in ({"authenticated": false} when nobody; the console page asks this first)."""
    user = await current_user(request)
    if user is None:
        return _json({"authenticated": False})
    return _json(dict(user, authenticated=True))


@require_role("agent", "analyst", "admin")
async def logout(request: web.Request) -> web.Response:
    from aiohttp_session import get_session

    user = request["user"]
    if user["role"] in AGENT_ROLES:
        await request.app[HANDOFF].agent_left(user["username"])
    (await get_session(request)).invalidate()
    return _json({"ok": True})


@require_role(*AGENT_ROLES)
async def queue(request: web.Request) -> web.Response:
    return _json(await request.app[HANDOFF].snapshot(request["user"]["username"]))


@require_role(*AGENT_ROLES)
async def presence(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        await request.app[HANDOFF].set_presence(request["user"]["username"], str(body.get("status")))
    except HandoffError as exc:
        _raise(exc)
    return _json({"status": body.get("status")})


@require_role(*AGENT_ROLES)
async def claim(request: web.Request) -> web.Response:
    user = request["user"]
    try:
        record = await request.app[HANDOFF].claim(request.match_info["conversation_id"], user["username"], user["display_name"])
    except HandoffError as exc:
        _raise(exc)
    return _json({"claimed": True, "conversation": request.app[HANDOFF].queue_entry(record)})


async def _readable(request: web.Request) -> Dict[str, Any]:
    """Agents read conversations waiting in the queue and their own; admins read any."""
    user = request["user"]
    conv = request.match_info["conversation_id"]
    record = await request.app[HANDOFF].store.get(conv)
    if user["role"] == "admin":
        return record or {"id": conv, "status": "none"}
    if record is None:
        raise ApiError(404, "not_found", "no handoff for this conversation")
    if record.get("status") == "queued" or (record.get("status") == "claimed" and record.get("agent") == user["username"]):
        return record
    raise ApiError(403, "forbidden", "this conversation is not yours to read")


@require_role(*AGENT_ROLES)
async def conversation(request: web.Request) -> web.Response:
    record = await _readable(request)
    conv = request.match_info["conversation_id"]
    manager = request.app[HANDOFF]
    transcript = await request.app[SERVICE].transcripts.history(conv, request.app[SETTINGS].history_limit)
    events = await request.app[HANDOFF_REPO].events(conv)
    notes = [{"agent": e["agent"], "text": (e["data"] or {}).get("text"), "time": e["time"]} for e in events if e["type"] == "note"]
    entry = manager.queue_entry(record) if "status" in record and record.get("queued_at") is not None else {"conversation_id": conv, "status": record.get("status")}
    return _json({"conversation": entry, "transcript": transcript, "notes": notes,
                  "events": [{k: e[k] for k in ("type", "time", "agent", "reason")} for e in events if e["type"] != "note"]})


def _text(body: Dict[str, Any], request: web.Request, name: str = "text") -> str:
    return validate_text(body.get(name), request.app[SETTINGS].max_message_chars)


@require_role(*AGENT_ROLES)
async def send_message(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        message = await request.app[HANDOFF].agent_message(request.match_info["conversation_id"], request["user"], _text(body, request))
    except HandoffError as exc:
        _raise(exc)
    return _json(message, status=201)


@require_role(*AGENT_ROLES)
async def add_note(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        note = await request.app[HANDOFF].add_note(request.match_info["conversation_id"], request["user"], _text(body, request))
    except HandoffError as exc:
        _raise(exc)
    return _json(note, status=201)


@require_role(*AGENT_ROLES)
async def close(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        await request.app[HANDOFF].close(request.match_info["conversation_id"], request["user"], str(body.get("outcome")))
    except HandoffError as exc:
        _raise(exc)
    return _json({"closed": True, "outcome": body.get("outcome")})


@require_role(*AGENT_ROLES)
async def knowledge(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()[:200]
    language = "zh" if request.query.get("lang") == "zh" else "en"
    search = request.app[KNOWLEDGE_SEARCH]
    results = await asyncio.get_running_loop().run_in_executor(None, search.search, query, language, 5)
    return _json({"query": query, "results": results})


@require_role(*AGENT_ROLES)
async def tickets(request: web.Request) -> web.Response:
    status = request.query.get("status", "open")
    return _json({"tickets": await request.app[HANDOFF_REPO].tickets(None if status == "all" else status)})


@require_role(*AGENT_ROLES)
async def close_ticket(request: web.Request) -> web.Response:
    try:
        ticket_id = int(request.match_info["ticket_id"])
    except ValueError:
        raise ApiError(404, "not_found", "no such ticket") from None
    if not await request.app[HANDOFF_REPO].close_ticket(ticket_id, request["user"]["username"]):
        raise ApiError(409, "not_open", "the ticket is not open")
    await request.app[HANDOFF].store.publish({"type": "tickets_changed"})
    return _json({"closed": True})


@require_role("analyst", "admin")
async def stats(request: web.Request) -> web.Response:
    """Aggregate handoff figures (no conversation content)."""
    repo = request.app[HANDOFF_REPO]
    claimed = await repo.events(event_type="claimed")
    waits = sorted((e["data"] or {}).get("waited_seconds", 0.0) for e in claimed)
    median = waits[len(waits) // 2] if waits else None
    return _json({"events": await repo.counts(), "claims": len(waits), "median_wait_seconds": median,
                  "waiting_now": len(await request.app[HANDOFF].store.waiting())})


@require_role(*AGENT_ROLES)
async def console_socket(request: web.Request) -> web.WebSocketResponse:
    """Live queue and conversation updates for one console tab; its heartbeat is the agent's presence."""
    _same_origin(request)
    manager = request.app[HANDOFF]
    agent = request["user"]["username"]
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    manager.consoles.setdefault(agent, set()).add(ws)
    policy = manager.policy
    status = await manager.store.get_presence(agent) or "online"
    await manager.set_presence(agent, status)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(policy.heartbeat_seconds)
            current = await manager.store.get_presence(agent) or "online"
            await manager.store.set_presence(agent, current, policy.presence_ttl_seconds)

    beat = asyncio.create_task(heartbeat())
    try:
        await ws.send_json(await manager.snapshot(agent))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = msg.json()
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "presence" and data.get("status") in ("online", "away"):
                await manager.set_presence(agent, data["status"])
            elif isinstance(data, dict) and data.get("type") == "snapshot":
                await ws.send_json(await manager.snapshot(agent))
    finally:
        beat.cancel()
        sockets = manager.consoles.get(agent, set())
        sockets.discard(ws)
        if not sockets:
            manager.consoles.pop(agent, None)
            # gone unless a console comes back (on any instance) within the grace period; the sweeper
            # then puts the agent's conversations back at the front of the queue
            current = await manager.store.get_presence(agent)
            if current is not None:
                await manager.store.set_presence(agent, current, policy.disconnect_grace_seconds)
            if policy.disconnect_grace_seconds <= 0:
                await manager.sweep()
            await manager.store.publish({"type": "queue_changed"})
    return ws


def setup_handoff_routes(app: web.Application) -> None:
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
    r.add_get("/agent/api/stats", stats)
    if STATIC_AGENT.is_dir():
        r.add_static("/agent/static/", STATIC_AGENT, show_index=False, follow_symlinks=False)
