"""The staff access log: every transcript a console user opens and every ticket contact revealed.

Written before the data is answered, so a look that cannot be logged is not shown (the database error
becomes a 5xx). Read it as an admin: ``GET /agent/api/audit``.
"""
from __future__ import annotations

from typing import Optional

from aiohttp import web

from bot.keys import HANDOFF_REPO

#: Longest reason kept (``?reason=`` on the request that opens the data).
MAX_REASON_CHARS = 200


async def record_access(request: web.Request, action: str, conversation_id: Optional[str] = None,
                        ticket_id: Optional[int] = None) -> None:
    """Log that the signed-in user (``request["user"]``) sees ``action`` data through this request's route."""
    user = request["user"]
    resource = request.match_info.route.resource
    route = f"{request.method} {resource.canonical if resource is not None else request.path}"
    reason = request.query.get("reason", "").strip()[:MAX_REASON_CHARS] or None
    await request.app[HANDOFF_REPO].record_access(user["username"], user["role"], action, route,
                                                  conversation_id=conversation_id, ticket_id=ticket_id, reason=reason)
