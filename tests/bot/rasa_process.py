"""A fake Rasa worker in its own process (``python -m tests.bot.rasa_process PORT NAME``), to be stopped
with SIGSTOP like a hung worker: it answers ``/`` and tags each reply ``NAME|sender|message``."""
from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, List

from tests.bot.conftest import FakeRasa


async def serve(port: int, name: str) -> None:
    """Serve until killed."""
    fake = FakeRasa()
    fake.port, fake.url = port, f"http://127.0.0.1:{port}"

    def reply(sender: str, message: str) -> List[Dict[str, Any]]:
        return [{"recipient_id": sender, "text": f"{name}|{sender}|{message}"}]

    fake.reply = reply
    await fake.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
