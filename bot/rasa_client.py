"""Talks to Rasa's REST webhook and merges its split bot messages."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional

import aiohttp

log = logging.getLogger(__name__)

BotMessage = Dict[str, Any]


class UpstreamError(Exception):
    """Rasa could not be reached or answered badly; ``kind`` labels the metric."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def merge_custom(items: List[BotMessage]) -> List[BotMessage]:
    """Fold a custom-only item into the preceding text item of the same reply.

    Rasa's REST output sends ``utter_message(text=..., json_message=...)`` as two
    list items; the client should get one message with text, buttons and custom.
    """
    merged: List[BotMessage] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        custom_only = "custom" in item and not any(
            key in item for key in ("text", "image", "attachment", "buttons", "elements")
        )
        previous = merged[-1] if merged else None
        if (
            custom_only
            and previous is not None
            and "text" in previous
            and "custom" not in previous
            and previous.get("recipient_id") == item.get("recipient_id")
        ):
            previous["custom"] = item["custom"]
            continue
        merged.append(item)
    return merged


class RasaClient:
    """Forwards taxpayer messages to Rasa's REST channel."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: aiohttp.ClientTimeout) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/webhooks/rest/webhook"
        self._timeout = timeout

    async def send(
        self, sender: str, text: str, metadata: Optional[Dict[str, Any]] = None, input_channel: str = "rest"
    ) -> List[BotMessage]:
        """Post one message; return Rasa's reply with custom items merged."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}, "input_channel": input_channel}
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise UpstreamError("rasa_status", f"HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except asyncio.TimeoutError:
            raise UpstreamError("rasa_timeout", "no reply in time") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError("rasa_unreachable", type(exc).__name__) from None
        except ValueError:
            raise UpstreamError("rasa_bad_reply", "reply is not JSON") from None
        if not isinstance(data, list):
            raise UpstreamError("rasa_bad_reply", "reply is not a list")
        return merge_custom(data)
