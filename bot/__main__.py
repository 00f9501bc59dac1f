"""``python -m bot``: run the gateway with settings from the environment."""
from __future__ import annotations

import asyncio
import logging

from bot.app import create_app
from bot.privacy import MaskingFilter
from bot.server import serve
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
    # SIGTERM: stop accepting, close consoles and sockets (on_shutdown), then give requests 10 s;
    # a client gets HEADER_TIMEOUT seconds for a request's headers and BODY_TIMEOUT for its body
    asyncio.run(serve(create_app(settings), settings.host, settings.port, settings.header_timeout,
                      settings.body_timeout))


if __name__ == "__main__":
    main()
