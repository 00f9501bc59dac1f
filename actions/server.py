"""Starts the action server after building the knowledge index, so no request ever pays for it."""

from __future__ import annotations

import argparse
import logging
import os

from rasa_sdk.constants import DEFAULT_SERVER_PORT

from knowledge.service import get_service


def main() -> None:
    parser = argparse.ArgumentParser(description="TaxGuide action server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT", DEFAULT_SERVER_PORT)))
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    get_service().start()

    from rasa_sdk.endpoint import run

    run("actions", port=args.port, auto_reload=False)


if __name__ == "__main__":
    main()
