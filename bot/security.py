"""Security headers on every response: CSP (own origin only), no framing, no referrer, no sniffing."""
from __future__ import annotations

import base64
import hashlib
from typing import Dict, Iterable

from aiohttp import web

#: The pages (bot/static) load scripts, styles and sockets from this origin only, with no inline code;
#: the favicons are ``data:`` URLs.
_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


def style_hash(css: str) -> str:
    """The CSP source allowing exactly this inline ``<style>`` element's text."""
    digest = hashlib.sha256(css.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(inline_styles: Iterable[str] = ()) -> str:
    """The gateway's Content-Security-Policy, optionally allowing the given inline styles by hash."""
    styles = " ".join(["'self'", *(style_hash(css) for css in inline_styles)])
    return "; ".join((*_DIRECTIVES, f"style-src {styles}"))


SECURITY_HEADERS: Dict[str, str] = {
    "Content-Security-Policy": content_security_policy(),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers a handler did not set itself (``on_response_prepare``)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_security_headers(app: web.Application) -> None:
    """Send the security headers on every response of ``app`` (errors, redirects and files included)."""
    app.on_response_prepare.append(add_security_headers)  # type: ignore[arg-type]  # aiosignal 1.4 typing
