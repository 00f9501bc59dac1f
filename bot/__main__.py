"""``python -m bot``: run the gateway with settings from the environment."""
from __future__ import annotations

import logging

from aiohttp import web

from bot.app import create_app
from bot.privacy import MaskingFilter
from bot.settings import Settings


def configure_logging(level: str) -> None:
    """Log to stderr with personal data masked in every record."""
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main() -> None:
    """Run the gateway with settings from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    # SIGTERM: stop accepting, close consoles and sockets (on_shutdown), then give requests 10 s
    web.run_app(create_app(settings), host=settings.host, port=settings.port, shutdown_timeout=10.0)


if __name__ == "__main__":
    main()
