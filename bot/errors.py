"""JSON error responses: ``{"error": {"code", "message"}}`` for every failure."""
from __future__ import annotations

import enum
import functools
import json
import logging
from http.cookies import CookieError
from typing import Awaitable, Callable, Dict, Optional

from aiohttp import web

log = logging.getLogger(__name__)

#: JSON encoder for responses: Chinese text stays readable (not \u-escaped).
dumps = functools.partial(json.dumps, ensure_ascii=False)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES: Dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the client should see, with an HTTP status and a stable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class ErrorKind(enum.IntEnum):
    """What kind of refusal a domain error is; its value is the HTTP status the middleware answers with."""

    INVALID = 400
    FORBIDDEN = 403
    NOT_FOUND = 404
    CONFLICT = 409
    UNAVAILABLE = 503


class DomainError(Exception):
    """A refused domain operation (handoff, tickets, ratings) with a stable code; no HTTP in the domain."""

    def __init__(self, kind: ErrorKind, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: Optional[Dict[str, str]] = None
) -> web.Response:
    """Build the JSON error body used everywhere."""
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers, dumps=dumps
    )


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def error_middleware(count: Callable[[str], None] = lambda code: None) -> Middleware:
    """The middleware turning ApiError, DomainError, HTTP errors and crashes into JSON error bodies.

    ``count`` is told each error's code (the gateway passes ``Metrics.error``).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await _answer_errors(request, handler, count)

    return middleware


async def _answer_errors(request: web.Request, handler: Handler, count: Callable[[str], None]) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        count(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except DomainError as exc:  # mapped to HTTP here, once
        count(exc.code)
        return error_response(int(exc.kind), exc.code, exc.message)
    except CookieError:  # a malformed Cookie header, found when a handler reads the cookies
        count("invalid_cookie")
        return error_response(400, "invalid_cookie", "the Cookie header is malformed")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        code = _CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else f"no route for {request.method} {request.path}"
        count(code)
        return error_response(exc.status, code, message, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        count("internal_error")
        return error_response(500, "internal_error", "internal server error")
