"""Starts the action server after building the knowledge index, so no request ever pays for it.

Run with ``python -m actions.server [--port 5055]`` (``make run`` does).
"""

from __future__ import annotations

import argparse
import logging

from rasa_sdk.constants import DEFAULT_SERVER_PORT

from knowledge.env import Env, SettingsError
from knowledge.service import get_service


def main() -> None:
    """Builds the knowledge index, then serves the actions of the `actions` package."""
    read = Env()
    parser = argparse.ArgumentParser(description="TaxGuide action server")
    try:
        port = read.integer("ACTION_SERVER_PORT", DEFAULT_SERVER_PORT, minimum=1, maximum=65535)
        level = (read.text("LOG_LEVEL") or "INFO").upper()
    except SettingsError as exc:
        parser.error(str(exc))
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    get_service().start()

    from rasa_sdk.endpoint import run  # Sanic and the endpoint load only in the server process

    run("actions", port=args.port, auto_reload=False)


if __name__ == "__main__":
    main()
