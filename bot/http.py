"""Request helpers shared by every view module: the conversation bearer check and JSON bodies."""
from __future__ import annotations

import hmac
from typing import Any, Dict

from aiohttp import web

from bot.errors import ApiError
from bot.keys import SIGNER
from bot.validation import decode_json_body


def conversation_owner(request: web.Request) -> str:
    """The path's ``conversation_id`` when the bearer holds exactly that signed session id.

    401 without a bearer token, 403 when the token is not valid for that conversation.
    """
    conversation_id = request.match_info["conversation_id"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <session_id>'")
    if not request.app[SIGNER].is_valid(token) or not hmac.compare_digest(token.encode(), conversation_id.encode()):
        raise ApiError(403, "forbidden", "this session may not access that conversation")
    return conversation_id


async def read_object(request: web.Request) -> Dict[str, Any]:
    """The request's JSON body, which must be an object (400 ``invalid_type`` otherwise)."""
    data = decode_json_body(await request.read())
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object")
    return data
