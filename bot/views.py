"""HTTP handlers: thin wrappers over the service layer."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Dict

import yaml
from aiohttp import web

from bot.errors import ApiError, dumps
from bot.http import client_ip, conversation_owner, read_json
from bot.keys import HEALTH, METRICS, SERVICE, SETTINGS, SIGNER, THROTTLE
from bot.ratelimit import Decision
from bot.security import content_security_policy
from bot.validation import parse_rest_payload, validate_idempotency_key

BOT_DIR = Path(__file__).resolve().parent
OPENAPI_PATH = BOT_DIR / "openapi.yaml"
DOCS_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}td{padding:.2em .8em;"
              "border-bottom:1px solid #ddd}pre{background:#f6f6f6;padding:1em;overflow:auto}")


def _raise_if_limited(decision: Decision) -> None:
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limited",
            "too many messages, please slow down",
            {"Retry-After": decision.retry_after_header},
        )


async def rest_webhook(request: web.Request) -> web.Response:
    """Rasa-compatible REST channel: one message in, a list of bot messages out.

    A client that names each message with an ``Idempotency-Key`` header may retry it safely: a message
    already answered gets the same replies again (header ``Idempotent-Replayed: true``).
    """
    app = request.app
    _raise_if_limited(await app[THROTTLE].check_ip(client_ip(request)))
    message_id = validate_idempotency_key(request.headers.get("Idempotency-Key"))
    message = parse_rest_payload(await read_json(request), app[SETTINGS].max_message_chars)
    conversation_id = app[SIGNER].conversation_id(message.sender)  # staff never see the sender itself
    _raise_if_limited(await app[THROTTLE].check_sender(conversation_id))
    service = app[SERVICE]
    headers: Dict[str, str] = {}
    replies = await service.replay(conversation_id, message_id) if message_id is not None else None
    if replies is not None:
        headers["Idempotent-Replayed"] = "true"
    else:
        replies = await service.handle(conversation_id, message.text, "rest", message.metadata, message_id)
    for reply in replies:  # Rasa's REST channel answers to the sender the client sent
        if reply.get("recipient_id") == conversation_id:
            reply["recipient_id"] = message.sender
    return web.json_response(replies, headers=headers, dumps=dumps)


async def create_session(request: web.Request) -> web.Response:
    """Issue a signed session token: the REST ``sender`` and the bearer of the conversation's endpoints."""
    _raise_if_limited(await request.app[THROTTLE].check_ip(client_ip(request)))
    return web.json_response({"session_id": request.app[SIGNER].new_id()}, status=201)


async def history(request: web.Request) -> web.Response:
    """The masked transcript, only for the bearer of the conversation's session token."""
    conversation_id = conversation_owner(request)
    messages = await request.app[SERVICE].history(conversation_id)
    return web.json_response(messages, headers={"Cache-Control": "no-store"}, dumps=dumps)


async def health(request: web.Request) -> web.Response:
    """200 when every dependency is reachable, 503 otherwise."""
    report = await request.app[HEALTH].check()
    return web.json_response(report, status=200 if report["status"] == "ok" else 503, dumps=dumps)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition."""
    m = request.app[METRICS]
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of this gateway."""
    return web.Response(body=OPENAPI_PATH.read_bytes(), content_type="application/yaml", charset="utf-8")


async def docs(request: web.Request) -> web.Response:
    """A small self-contained page listing the API (no CDN)."""
    raw = OPENAPI_PATH.read_text("utf-8")
    spec = yaml.safe_load(raw)
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            if isinstance(op, dict):
                rows.append(
                    f"<tr><td><code>{html.escape(method.upper())}</code></td>"
                    f"<td><code>{html.escape(path)}</code></td>"
                    f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
                )
    title = html.escape(spec.get("info", {}).get("title", "API"))
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{DOCS_STYLE}</style></head><body>"
        f"<h1>{title}</h1><p><a href='/openapi.yaml'>openapi.yaml</a></p>"
        f"<table>{''.join(rows)}</table><h2>Specification</h2><pre>{html.escape(raw)}</pre>"
        "</body></html>"
    )
    csp = {"Content-Security-Policy": content_security_policy(inline_styles=[DOCS_STYLE])}
    return web.Response(text=page, content_type="text/html", headers=csp)


async def index(request: web.Request) -> web.Response:
    """Send browsers to the chat page."""
    raise web.HTTPFound("/static/index.html")


async def static_missing(request: web.Request) -> web.Response:
    """404 when the chat page files are missing."""
    raise ApiError(404, "not_found", "the web chat page is not installed")


def setup_routes(app: web.Application, static_dir: Path) -> None:
    """Register every HTTP route of the gateway."""
    r = app.router
    r.add_post("/webhooks/rest/webhook", rest_webhook)
    r.add_post("/sessions", create_session)
    r.add_get("/conversations/{conversation_id}/history", history)
    r.add_get("/health", health)
    r.add_get("/metrics", metrics)
    r.add_get("/openapi.yaml", openapi)
    r.add_get("/docs", docs)
    r.add_get("/", index)
    if static_dir.is_dir():
        r.add_static("/static/", static_dir, show_index=False, follow_symlinks=False)
    else:
        r.add_get("/static/{tail:.*}", static_missing)
