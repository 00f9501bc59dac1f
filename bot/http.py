"""Request helpers shared by every view module: the conversation bearer check and JSON bodies."""
from __future__ import annotations

import asyncio
import hmac
from typing import Any, Dict

from aiohttp import web

from bot.errors import ApiError
from bot.keys import SETTINGS, SIGNER, THROTTLE
from bot.ratelimit import Decision
from bot.validation import decode_json_body


def client_ip(request: web.Request) -> str:
    """The client's address; the last X-Forwarded-For hop only behind a trusted proxy."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"


def raise_if_limited(decision: Decision, what: str = "messages") -> None:
    """429 with Retry-After when ``decision`` refuses."""
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"too many {what}, please slow down",
                       {"Retry-After": decision.retry_after_header})


async def limit_writes(request: web.Request, conversation_id: str) -> None:
    """Count a ticket, rating or feedback against the address's and the conversation's limits (429 past them)."""
    throttle = request.app[THROTTLE]
    raise_if_limited(await throttle.check_ip(client_ip(request)), "requests")
    raise_if_limited(await throttle.check_write(conversation_id), "requests")


def conversation_owner(request: web.Request) -> str:
    """The conversation id derived from the bearer's session token, when the path names that conversation.

    The path's ``conversation_id`` may be the token itself or the id derived from it (the links in the
    gateway's replies carry the derived id); either way only the bearer token grants access. 401 without
    a bearer token, 403 when the token is not valid or belongs to another conversation.
    """
    in_path = request.match_info["conversation_id"].encode()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <session_id>'")
    signer = request.app[SIGNER]
    if not signer.is_valid(token):
        raise ApiError(403, "forbidden", "this session may not access that conversation")
    conversation_id = signer.conversation_id(token)
    named = hmac.compare_digest(token.encode(), in_path) | hmac.compare_digest(conversation_id.encode(), in_path)
    if not named:
        raise ApiError(403, "forbidden", "this session may not access that conversation")
    return conversation_id


async def read_body(request: web.Request) -> bytes:
    """The request's body, read within BODY_TIMEOUT seconds (408 ``body_timeout`` otherwise)."""
    try:
        return await asyncio.wait_for(request.read(), request.app[SETTINGS].body_timeout)
    except asyncio.TimeoutError:
        raise ApiError(408, "body_timeout", "the request body did not arrive in time") from None


async def read_json(request: web.Request) -> Any:
    """The request's body as checked JSON (see ``bot.validation.decode_json_body``)."""
    return decode_json_body(await read_body(request))


async def read_object(request: web.Request) -> Dict[str, Any]:
    """The request's JSON body, which must be an object (400 ``invalid_type`` otherwise)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    return data
