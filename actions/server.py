"""Starts the action server after building the knowledge index, so no request ever pays for it.

Run with ``python -m actions.server [--port 5055] [--host 127.0.0.1]`` (``make run`` does). It listens on
ACTION_SERVER_HOST (the loopback address by default) and, with ACTION_SERVER_TOKEN set, answers only
requests carrying ``Authorization: Bearer <token>`` (Rasa sends it from its endpoints file); ``/health``
stays open for probes. Without a token it refuses to listen on anything but a loopback address.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from rasa_sdk.constants import DEFAULT_SERVER_PORT
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from knowledge.env import Env, SettingsError
from knowledge.service import get_service

logger = logging.getLogger(__name__)
DEFAULT_HOST = "127.0.0.1"
OPEN_PATHS = frozenset({"/health"})


@dataclass(frozen=True)
class Options:
    """Where the action server listens, its secret and its log level."""

    host: str
    port: int
    token: Optional[str]
    level: str


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def options(environ: Optional[Mapping[str, str]] = None, argv: Optional[Sequence[str]] = None) -> Options:
    """The options from the environment and the command line (which wins); exits on a bad value."""
    read = Env(environ)
    parser = argparse.ArgumentParser(description="TaxGuide action server")
    try:
        port = read.integer("ACTION_SERVER_PORT", DEFAULT_SERVER_PORT, minimum=1, maximum=65535)
        host = read.text("ACTION_SERVER_HOST") or DEFAULT_HOST
        token = read.text("ACTION_SERVER_TOKEN")
        level = (read.text("LOG_LEVEL") or "INFO").upper()
    except SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default=host)
    args = parser.parse_args(argv)
    if not token and not is_loopback(args.host):
        parser.error(f"ACTION_SERVER_TOKEN must be set to listen on {args.host}: without it the action server "
                     "runs any action for anyone who reaches it")
    return Options(args.host, args.port, token, level)


def require_token(app: Sanic, token: str) -> None:
    """Answer 401 without ``Authorization: Bearer <token>`` and 403 with another token, except on /health."""
    expected = f"Bearer {token}".encode()

    async def check(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get("Authorization")
        if not given:
            return response.json({"error": "the action server needs its token (Authorization: Bearer)"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.encode(), expected):
            return response.json({"error": "wrong action server token"}, status=403)
        return None

    app.register_middleware(check, "request")


def create_server(token: Optional[str]) -> Sanic:
    """rasa-sdk's app serving the actions of the `actions` package, behind the token check when ``token``."""
    from rasa_sdk.endpoint import create_app  # Sanic's app loads only in the server process
    from rasa_sdk.plugin import plugin_manager

    app: Sanic = create_app("actions", cors_origins=None, auto_reload=False)  # Rasa calls it, not a browser
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    if token:
        require_token(app, token)
    else:
        logger.warning("ACTION_SERVER_TOKEN is not set: any local process may call the actions")
    return app


def serve(chosen: Options) -> None:
    """Serve the actions until stopped."""
    from rasa_sdk.utils import number_of_sanic_workers

    app = create_server(chosen.token)
    logger.info("Action server listening on http://%s:%d", chosen.host, chosen.port)
    app.run(chosen.host, chosen.port, workers=number_of_sanic_workers())


def main() -> None:
    """Builds the knowledge index, then serves the actions of the `actions` package."""
    chosen = options()
    logging.basicConfig(level=chosen.level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    get_service().start()
    serve(chosen)


if __name__ == "__main__":
    main()
